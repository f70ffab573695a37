/*
 * pg_state.c: the state schema; see pg_state.h.
 *
 * The DDL below is run with the state schema's quoted name substituted for
 * "@S@": the name went through PQescapeIdentifier, it is never user text
 * spliced raw.
 */
#include "pg/pg_state.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "pg/pg_api.h"
#include "pg/pg_exec.h"

/* Bump with every change to the DDL and add an upgrade step. */
#define STATE_FORMAT 1

static const char *const state_ddl[] = {
	"CREATE SCHEMA IF NOT EXISTS @S@",
	"CREATE TABLE IF NOT EXISTS @S@.format (version int NOT NULL)",
	"CREATE TABLE IF NOT EXISTS @S@.migrations ("
	"  id bigserial PRIMARY KEY,"
	"  schema text NOT NULL,"
	"  name text NOT NULL,"
	"  version_schema text NOT NULL,"
	"  previous_version_schema text,"
	"  parent text,"
	"  status text NOT NULL CHECK (status IN ('starting','active','completing','rolling_back','complete','rolled_back')),"
	"  content jsonb NOT NULL,"
	"  raw text,"
	"  file text,"
	"  plan jsonb,"
	"  step int NOT NULL DEFAULT 0,"
	"  created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),"
	"  started_at timestamptz,"
	"  completed_at timestamptz,"
	"  rolled_back_at timestamptz,"
	"  started_by text NOT NULL DEFAULT CURRENT_USER,"
	"  last_error text,"
	"  started_steps int NOT NULL DEFAULT 2147483647"
	")",
	/* One unfinished migration per application schema; the index is the
	 * guarantee, the check in start is only for a friendly message. */
	"CREATE UNIQUE INDEX IF NOT EXISTS migrations_one_active ON @S@.migrations (schema) "
	"  WHERE status IN ('starting','active','completing','rolling_back')",
	"CREATE UNIQUE INDEX IF NOT EXISTS migrations_name ON @S@.migrations (schema, name) "
	"  WHERE status <> 'rolled_back'",
	"CREATE TABLE IF NOT EXISTS @S@.backfills ("
	"  migration_id bigint NOT NULL REFERENCES @S@.migrations (id) ON DELETE CASCADE,"
	"  table_schema text NOT NULL,"
	"  table_name text NOT NULL,"
	"  key_columns text[] NOT NULL,"
	"  last_key text[],"
	"  high_key text[],"
	"  start_xid xid8,"
	"  rows_done bigint NOT NULL DEFAULT 0,"
	"  rows_total bigint,"
	"  batch_size int,"
	"  rows_per_second double precision,"
	"  status text NOT NULL DEFAULT 'running',"
	"  waiting_reason text,"
	"  started_at timestamptz NOT NULL DEFAULT pg_catalog.now(),"
	"  updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),"
	"  finished_at timestamptz,"
	"  revisit jsonb NOT NULL DEFAULT '[]',"
	"  PRIMARY KEY (migration_id, table_schema, table_name)"
	")",
	"CREATE TABLE IF NOT EXISTS @S@.control ("
	"  schema text PRIMARY KEY,"
	"  paused boolean NOT NULL DEFAULT false,"
	"  paused_by text,"
	"  paused_at timestamptz,"
	"  max_rows_per_second double precision,"
	"  batch_size int"
	")",
	"CREATE TABLE IF NOT EXISTS @S@.flags ("
	"  name text PRIMARY KEY,"
	"  value text NOT NULL,"
	"  updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),"
	"  updated_by text NOT NULL DEFAULT CURRENT_USER"
	")",
	"CREATE TABLE IF NOT EXISTS @S@.flag_history ("
	"  id bigserial PRIMARY KEY,"
	"  name text NOT NULL,"
	"  old_value text,"
	"  new_value text,"
	"  changed_at timestamptz NOT NULL DEFAULT pg_catalog.now(),"
	"  changed_by text NOT NULL DEFAULT CURRENT_USER"
	")",
	/* the contract gate's last look at pg_stat_statements (pg_gate.c) */
	"ALTER TABLE @S@.migrations ADD COLUMN IF NOT EXISTS gate_seen jsonb",
	/* online rebuilds (pg_rebuild.h): one open rebuild per table */
	"CREATE TABLE IF NOT EXISTS @S@.rebuilds ("
	"  id bigserial PRIMARY KEY,"
	"  table_schema text NOT NULL,"
	"  table_name text NOT NULL,"
	"  shadow_name text NOT NULL,"
	"  old_name text NOT NULL,"
	"  alter_sql text,"
	"  capture text NOT NULL DEFAULT 'trigger',"
	"  status text NOT NULL CHECK (status IN ('copying','copied','cutover','reverted','done','aborted')),"
	"  spec jsonb NOT NULL DEFAULT '{}',"
	"  copy_next_block bigint NOT NULL DEFAULT 0,"
	"  copy_end_block bigint,"
	"  copy_done boolean NOT NULL DEFAULT false,"
	"  rows_done bigint NOT NULL DEFAULT 0,"
	"  rows_total bigint,"
	"  size_before bigint,"
	"  size_after bigint,"
	"  lock_ms double precision,"
	"  waiting_reason text,"
	"  started_by text NOT NULL DEFAULT CURRENT_USER,"
	"  started_at timestamptz NOT NULL DEFAULT pg_catalog.now(),"
	"  updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),"
	"  cutover_at timestamptz,"
	"  finished_at timestamptz"
	")",
	"CREATE UNIQUE INDEX IF NOT EXISTS rebuilds_one_open ON @S@.rebuilds (table_schema, table_name) "
	"  WHERE status IN ('copying','copied','cutover','reverted')",
	NULL
};

/* Replaces @S@ with the quoted state schema. */
static char *
expand(shunt_db *db, const char *sql)
{
	shunt_buf b = SHUNT_BUF_INIT;
	const char *p = sql;
	const char *hit;

	buf_init(&b);
	while ((hit = strstr(p, "@S@")) != NULL) {
		buf_putn(&b, p, (size_t) (hit - p));
		buf_put(&b, db->state_q);
		p = hit + 3;
	}
	buf_put(&b, p);
	return buf_detach(&b);
}

char *
pg_state_table(shunt_db *db, const char *table)
{
	shunt_buf b = SHUNT_BUF_INIT;

	buf_init(&b);
	pg_put_qualified(db, &b, db->state_schema, table);
	return buf_detach(&b);
}

int
pg_state_exists(shunt_db *db, bool *exists, shunt_error *err)
{
	const char *params[1] = { db->state_schema };
	PGresult *res = pg_exec_params(db,
		"SELECT pg_catalog.to_regclass(pg_catalog.quote_ident($1) || '.migrations') IS NOT NULL",
		1, params, err);

	if (res == NULL)
		return -1;
	*exists = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return 0;
}

int
pg_state_init(shunt_db *db, shunt_error *err)
{
	int rc = -1;
	char ver[16];
	const char *params[1] = { ver };

	/* A transaction-level advisory lock serialises concurrent inits; the
	 * DDL is idempotent so the loser just finds everything in place. */
	if (pg_exec_command(db, "BEGIN", 0, NULL, err) != 0)
		return -1;
	if (pg_exec_command(db, "SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('shunt:init'))",
						0, NULL, err) != 0)
		goto done;
	for (int i = 0; state_ddl[i] != NULL; i++) {
		char *sql = expand(db, state_ddl[i]);
		int r = pg_exec_command(db, sql, 0, NULL, err);

		free(sql);
		if (r != 0) {
			shunt_error_add_context(err, "while installing the state schema \"%s\"", db->state_schema);
			goto done;
		}
	}
	/* the functions flags, switch and clients use (pg_api.h) */
	if (pg_api_install(db, err) != 0)
		goto done;
	snprintf(ver, sizeof(ver), "%d", STATE_FORMAT);
	{
		char *sql = expand(db, "INSERT INTO @S@.format (version) SELECT $1::int "
							   "WHERE NOT EXISTS (SELECT 1 FROM @S@.format)");
		int r = pg_exec_command(db, sql, 1, params, err);

		free(sql);
		if (r != 0)
			goto done;
	}
	if (pg_exec_command(db, "COMMIT", 0, NULL, err) != 0)
		return -1;
	return 0;
done:
	{
		shunt_error ignore;
		pg_exec_command(db, "ROLLBACK", 0, NULL, &ignore);
	}
	return rc;
}

int
pg_state_lock(shunt_db *db, const char *app_schema, shunt_error *err)
{
	shunt_buf key = SHUNT_BUF_INIT;
	const char *params[1];
	PGresult *res;
	int rc = -1;

	buf_init(&key);
	buf_printf(&key, "shunt:%s:%s", db->state_schema, app_schema);
	params[0] = buf_str(&key);
	res = pg_exec_params(db, "SELECT pg_catalog.pg_try_advisory_lock(pg_catalog.hashtext($1))", 1,
						 params, err);
	if (res == NULL)
		goto done;
	if (strcmp(PQgetvalue(res, 0, 0), "t") == 0) {
		rc = 0;
		goto done;
	}
	PQclear(res);
	res = pg_exec_params(db,
		"SELECT a.pid, coalesce(a.client_addr::text, 'local'), coalesce(a.usename::text, ''), "
		"       coalesce(pg_catalog.to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS'), '') "
		"  FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid "
		" WHERE l.locktype = 'advisory' AND l.granted "
		"   AND l.objid = (pg_catalog.hashtext($1)::bigint & 4294967295)::oid LIMIT 1",
		1, params, err);
	shunt_error_set(err, SHUNT_E_REFUSED, "another shunt process is working on schema \"%s\"",
					app_schema);
	if (res != NULL && PQntuples(res) > 0)
		shunt_error_detail(err, "Backend pid %s (client %s, user %s, connected since %s) holds the lock.",
						   PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2),
						   PQgetvalue(res, 0, 3));
	shunt_error_hint(err, "Wait for it to finish; only one shunt command may change a schema at a time.");
done:
	PQclear(res);
	buf_release(&key);
	return rc;
}

void
pg_state_migration_free(pg_state_migration *m)
{
	if (m == NULL)
		return;
	free(m->name);
	free(m->schema);
	free(m->version_schema);
	free(m->previous_version_schema);
	free(m->status);
	free(m->content);
	free(m->plan);
	free(m->started_at);
	free(m);
}

int
pg_state_active(shunt_db *db, const char *app_schema, pg_state_migration **out, shunt_error *err)
{
	char *sql = expand(db,
		"SELECT id, name, schema, version_schema, previous_version_schema, status, content::text, "
		"       plan::text, step, started_at::text, started_steps "
		"  FROM @S@.migrations WHERE schema = $1 "
		"   AND status IN ('starting','active','completing','rolling_back')");
	const char *params[1] = { app_schema };
	PGresult *res = pg_exec_params(db, sql, 1, params, err);
	pg_state_migration *m;

	free(sql);
	*out = NULL;
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return 0;
	}
	m = shunt_xcalloc(1, sizeof(*m));
	m->id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	m->name = pg_value_dup(res, 0, 1);
	m->schema = pg_value_dup(res, 0, 2);
	m->version_schema = pg_value_dup(res, 0, 3);
	m->previous_version_schema = pg_value_dup(res, 0, 4);
	m->status = pg_value_dup(res, 0, 5);
	m->content = pg_value_dup(res, 0, 6);
	m->plan = pg_value_dup(res, 0, 7);
	m->step = (int) strtol(PQgetvalue(res, 0, 8), NULL, 10);
	m->started_at = pg_value_dup(res, 0, 9);
	m->started_steps = (int) strtol(PQgetvalue(res, 0, 10), NULL, 10);
	PQclear(res);
	*out = m;
	return 0;
}

char *
pg_state_latest_version(shunt_db *db, const char *app_schema, shunt_error *err)
{
	char *sql = expand(db,
		"SELECT version_schema FROM @S@.migrations WHERE schema = $1 AND status = 'complete' "
		" ORDER BY completed_at DESC, id DESC LIMIT 1");
	const char *params[1] = { app_schema };
	char *v = pg_query_value(db, sql, 1, params, err);

	free(sql);
	return v;
}

int
pg_state_is_applied(shunt_db *db, const char *app_schema, const char *name, bool *applied,
					shunt_error *err)
{
	char *sql = expand(db, "SELECT pg_catalog.count(*) FROM @S@.migrations "
						   " WHERE schema = $1 AND name = $2 AND status <> 'rolled_back'");
	const char *params[2] = { app_schema, name };
	char *v = pg_query_value(db, sql, 2, params, err);

	free(sql);
	if (v == NULL)
		return -1;
	*applied = strcmp(v, "0") != 0;
	free(v);
	return 0;
}
