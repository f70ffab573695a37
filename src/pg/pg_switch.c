/*
 * pg_switch.c: the current version and the clients using each version;
 * see pg_switch.h.
 */
#include "pg/pg_switch.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "pg/pg_api.h"
#include "pg/pg_exec.h"

int
pg_switch_version(shunt_db *db, const char *schema, const char *version, char **old_version,
				  char **new_version, shunt_error *err)
{
	shunt_buf sql = SHUNT_BUF_INIT;
	const char *params[2] = { schema, version };
	PGresult *res;

	*old_version = *new_version = NULL;
	buf_init(&sql);
	buf_printf(&sql, "SELECT old_version, new_version FROM %s.switch_version($1, $2)", db->state_q);
	res = pg_exec_params(db, buf_str(&sql), 2, params, err);
	buf_release(&sql);
	if (res == NULL) {
		/* the function's own refusals: not a usable version, no schema */
		if (strcmp(err->sqlstate, "22023") == 0 || strcmp(err->sqlstate, "3F000") == 0)
			err->code = SHUNT_E_INPUT;
		return -1;
	}
	*old_version = pg_value_dup(res, 0, 0);
	*new_version = pg_value_dup(res, 0, 1);
	PQclear(res);
	return 0;
}

/* True when the state schema has table (a state schema from before the
 * table existed may be read by status). */
static int
have_table(shunt_db *db, const char *table, bool *have, shunt_error *err)
{
	const char *params[2] = { db->state_schema, table };
	char *v = pg_query_value(db,
		"SELECT pg_catalog.to_regclass(pg_catalog.quote_ident($1) || '.' || pg_catalog.quote_ident($2)) "
		"IS NOT NULL", 2, params, err);

	if (v == NULL)
		return -1;
	*have = strcmp(v, "t") == 0;
	free(v);
	return 0;
}

PGresult *
pg_switch_clients(shunt_db *db, const char *schema, shunt_error *err)
{
	shunt_buf sql = SHUNT_BUF_INIT;
	const char *params[1] = { schema };
	bool have = false;
	PGresult *res;

	if (have_table(db, "clients", &have, err) != 0)
		return NULL;
	buf_init(&sql);
	if (have)
		buf_printf(&sql,
			"SELECT version, pid::text AS pid, application_name, client_addr, role, mode, "
			"       last_seen::text AS last_seen, registered_at::text AS registered_at, client_id "
			"  FROM %s.live_clients($1) ORDER BY version, pid, client_id", db->state_q);
	else
		buf_put(&sql, "SELECT NULL::text AS version, NULL::text AS pid, NULL::text AS application_name, "
					  "NULL::text AS client_addr, NULL::text AS role, NULL::text AS mode, "
					  "NULL::text AS last_seen, NULL::text AS registered_at, NULL::text AS client_id "
					  "WHERE $1::text IS NULL AND false");
	res = pg_exec_params(db, buf_str(&sql), 1, params, err);
	buf_release(&sql);
	return res;
}

int
pg_switch_current(shunt_db *db, const char *schema, char **version, char **switched_at,
				  char **switched_by, shunt_error *err)
{
	shunt_buf sql = SHUNT_BUF_INIT;
	shunt_buf flag = SHUNT_BUF_INIT;
	const char *params[2];
	PGresult *res;

	*version = *switched_at = *switched_by = NULL;
	buf_init(&flag);
	buf_printf(&flag, "%s%s", PG_API_CURRENT_FLAG, schema);
	params[0] = schema;
	params[1] = buf_str(&flag);
	buf_init(&sql);
	/* The same choice as the SQL function current_version(), spelled out
	 * so that status also reads a state schema without the functions. */
	buf_printf(&sql,
		"SELECT coalesce(f.value, d.v), f.updated_at::text, f.updated_by "
		"  FROM (SELECT coalesce((SELECT m.version_schema FROM %s.migrations m "
		"          WHERE m.schema = $1 AND m.status = 'complete' "
		"            AND EXISTS (SELECT 1 FROM pg_catalog.pg_namespace n WHERE n.nspname = m.version_schema) "
		"          ORDER BY m.completed_at DESC, m.id DESC LIMIT 1), $1) AS v) d "
		"  LEFT JOIN %s.flags f ON f.name = $2 "
		"   AND EXISTS (SELECT 1 FROM pg_catalog.pg_namespace n WHERE n.nspname = f.value)",
		db->state_q, db->state_q);
	res = pg_exec_params(db, buf_str(&sql), 2, params, err);
	buf_release(&sql);
	buf_release(&flag);
	if (res == NULL)
		return -1;
	*version = pg_value_dup(res, 0, 0);
	*switched_at = pg_value_dup(res, 0, 1);
	*switched_by = pg_value_dup(res, 0, 2);
	PQclear(res);
	return 0;
}
