/*
 * cmd_status.c: shunt status [--json], shunt latest, shunt history
 *
 * All three read only the state schema, so they work from any machine and
 * while another shunt process runs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"
#include "core/buf.h"
#include "pg/pg_exec.h"
#include "pg/pg_state.h"

const char cmd_status_help[] =
	"Usage: shunt status [--json]\n"
	"\n"
	"Shows the active migration of the schema (name, phase, step, when it started),\n"
	"the progress of its backfills, the version schemas in use, and the latest\n"
	"completed migration; the current version (shunt switch) and the registered\n"
	"client sessions using each version.  Exit code 0 also when nothing is active.\n";

const char cmd_latest_help[] =
	"Usage: shunt latest\n"
	"\n"
	"Prints the newest version schema of the application schema: the active\n"
	"migration's if one is active, else the last completed one's.  New application\n"
	"instances put it first in their search_path, before the application schema\n"
	"(for its functions and types):\n"
	"  PGOPTIONS=\"-c search_path=$(shunt latest),public\" ./app\n";

const char cmd_history_help[] =
	"Usage: shunt history [--json]\n"
	"\n"
	"Lists the migrations of the application schema in the order they were\n"
	"started: name, status, version schema, start and end times.\n";

static json_t *
result_rows(PGresult *res)
{
	json_t *arr = json_array();

	for (int i = 0; i < PQntuples(res); i++) {
		json_t *o = json_object();

		for (int j = 0; j < PQnfields(res); j++) {
			if (PQgetisnull(res, i, j))
				json_object_set_new(o, PQfname(res, j), json_null());
			else
				json_object_set_new(o, PQfname(res, j), json_string(PQgetvalue(res, i, j)));
		}
		json_array_append_new(arr, o);
	}
	return arr;
}

static int
with_state(cli_ctx *ctx, shunt_db **db, bool *have, shunt_error *err)
{
	*db = cli_connect(ctx, err);
	if (*db == NULL)
		return -1;
	return pg_state_exists(*db, have, err);
}

static const char *
field(json_t *o, const char *name)
{
	const char *v = json_string_value(json_object_get(o, name));

	return v ? v : "";
}

/* One line per backfill, from the same rows --json prints:
 *   backfill:          "public"."items": 63200 of ~200000 rows (31.6%), 2100 rows/s, running
 *                      waiting: a replica is 12.4 s behind (--max-replica-lag 5.0 s) */
static void
print_backfills(json_t *rows)
{
	size_t i;
	json_t *b;

	json_array_foreach(rows, i, b) {
		shunt_buf line = SHUNT_BUF_INIT;
		bool done = strcmp(field(b, "status"), "done") == 0;

		buf_init(&line);
		buf_printf(&line, "\"%s\".\"%s\": %s", field(b, "table_schema"), field(b, "table_name"),
				   field(b, "rows_done"));
		if (done)
			buf_put(&line, " rows, done");
		else {
			if (json_is_string(json_object_get(b, "rows_total")) && json_is_string(json_object_get(b, "percent")))
				buf_printf(&line, " of ~%s rows (%s%%)", field(b, "rows_total"), field(b, "percent"));
			else
				buf_put(&line, " rows (total unknown)");
			if (json_is_string(json_object_get(b, "rows_per_second")))
				buf_printf(&line, ", %s rows/s", field(b, "rows_per_second"));
			buf_printf(&line, ", %s", field(b, "status"));
		}
		printf("%-19s%s\n", i == 0 ? "backfill:" : "", buf_str(&line));
		if (!done && json_is_string(json_object_get(b, "waiting_reason")))
			printf("%-19swaiting: %s\n", "", field(b, "waiting_reason"));
		buf_release(&line);
	}
}

/* One line per open online rebuild, from the rows --json prints. */
static void
print_rebuilds(json_t *rows)
{
	size_t i;
	json_t *r;

	json_array_foreach(rows, i, r) {
		const char *st = field(r, "status");

		printf("rebuild:           %s.%s (%s capture", field(r, "table_schema"), field(r, "table_name"),
			   field(r, "capture"));
		if (json_is_string(json_object_get(r, "alter_sql")))
			printf(", alter: %s", field(r, "alter_sql"));
		printf(")\n%-19s", "");
		if (strcmp(st, "copying") == 0) {
			printf("copying: %s rows", field(r, "rows_done"));
			if (json_is_string(json_object_get(r, "percent")))
				printf(" of about %s (%s%%)", field(r, "rows_total"), field(r, "percent"));
			printf("; running, or interrupted: the same shunt rebuild continues it\n");
		} else if (strcmp(st, "copied") == 0)
			printf("copied, waiting for the cut-over: shunt cutover %s (or --abort)\n", field(r, "table_name"));
		else if (strcmp(st, "cutover") == 0)
			printf("cut over (exclusive lock held %s ms); old table kept in sync: --revert or --drop-old\n",
				   field(r, "lock_ms"));
		else
			printf("reverted: the rebuilt table is kept; --drop-old drops it\n");
		if (json_is_string(json_object_get(r, "waiting_reason")))
			printf("%-19swaiting: %s\n", "", field(r, "waiting_reason"));
	}
}

int
cmd_status(cli_ctx *ctx, shunt_error *err)
{
	shunt_db *db = NULL;
	bool have = false;
	json_t *out = json_object();
	PGresult *res = NULL;
	char *rebuilds = NULL;
	shunt_buf sql = SHUNT_BUF_INIT;
	const char *params[1] = { ctx->schema };
	int rc = -1;

	if (ctx->argc != 0) {
		shunt_error_set(err, SHUNT_E_USAGE, "status takes no arguments");
		goto done;
	}
	if (with_state(ctx, &db, &have, err) != 0)
		goto done;
	json_object_set_new(out, "schema", json_string(ctx->schema));
	json_object_set_new(out, "state_schema", json_string(ctx->state_schema));
	json_object_set_new(out, "initialized", json_boolean(have));
	if (have) {
		buf_init(&sql);
		buf_printf(&sql,
			"SELECT name, status, version_schema, previous_version_schema, step, "
			"       started_at::text AS started_at, started_by, last_error, "
			"       jsonb_array_length(plan->(CASE status WHEN 'completing' THEN 'complete' "
			"           WHEN 'rolling_back' THEN 'rollback' ELSE 'start' END))::text AS steps "
			"  FROM %s.migrations WHERE schema = $1 "
			"   AND status IN ('starting','active','completing','rolling_back')", db->state_q);
		res = pg_exec_params(db, buf_str(&sql), 1, params, err);
		if (res == NULL)
			goto done;
		{
			json_t *rows = result_rows(res);

			json_object_set(out, "active", json_array_size(rows) ? json_array_get(rows, 0) : json_null());
			json_decref(rows);
		}
		PQclear(res);
		buf_reset(&sql);
		buf_printf(&sql,
			"SELECT b.table_schema, b.table_name, b.rows_done::text AS rows_done, "
			"       b.rows_total::text AS rows_total, "
			/* never 100 before the end: the total is an estimate */
			"       (CASE WHEN b.status = 'done' THEN 100 WHEN b.rows_total > 0 "
			"        THEN least(round(100.0 * b.rows_done / b.rows_total, 1), 99.9) END)::text AS percent, "
			"       round(b.rows_per_second::numeric)::text AS rows_per_second, "
			"       b.status, b.waiting_reason, b.updated_at::text AS updated_at "
			"  FROM %s.backfills b JOIN %s.migrations m ON m.id = b.migration_id "
			" WHERE m.schema = $1 AND m.status IN ('starting','active') "
			" ORDER BY b.started_at, b.table_schema, b.table_name", db->state_q, db->state_q);
		res = pg_exec_params(db, buf_str(&sql), 1, params, err);
		if (res == NULL)
			goto done;
		json_object_set_new(out, "backfills", result_rows(res));
		PQclear(res);
		buf_reset(&sql);
		buf_printf(&sql,
			"SELECT name, version_schema, completed_at::text AS completed_at FROM %s.migrations "
			" WHERE schema = $1 AND status = 'complete' ORDER BY completed_at DESC, id DESC LIMIT 1",
			db->state_q);
		res = pg_exec_params(db, buf_str(&sql), 1, params, err);
		if (res == NULL)
			goto done;
		{
			json_t *rows = result_rows(res);

			json_object_set(out, "latest_complete", json_array_size(rows) ? json_array_get(rows, 0) : json_null());
			json_decref(rows);
		}
		PQclear(res);
		res = NULL;
		/* open online rebuilds (pg_rebuild.h), of any schema: a state
		 * schema made before rebuilds existed has no table yet */
		buf_reset(&sql);
		buf_printf(&sql,
			"SELECT r.table_schema, r.table_name, r.status, r.capture, r.alter_sql, "
			"       r.rows_done::text AS rows_done, r.rows_total::text AS rows_total, "
			"       (CASE WHEN r.copy_done THEN 100 WHEN r.rows_total > 0 "
			"        THEN least(round(100.0 * r.rows_done / r.rows_total, 1), 99.9) END)::text AS percent, "
			"       r.lock_ms::text AS lock_ms, r.waiting_reason, r.started_at::text AS started_at, "
			"       r.updated_at::text AS updated_at "
			"  FROM %s.rebuilds r WHERE r.status IN ('copying','copied','cutover','reverted') ORDER BY r.id",
			db->state_q);
		rebuilds = pg_query_value(db, "SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
									  "ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = 'rebuilds'",
								  1, (const char *[]){ ctx->state_schema }, err);
		if (rebuilds != NULL) {
			res = pg_exec_params(db, buf_str(&sql), 0, NULL, err);
			if (res == NULL)
				goto done;
			json_object_set_new(out, "rebuilds", result_rows(res));
			PQclear(res);
			res = NULL;
		} else if (err->code != SHUNT_OK)
			goto done;
		else
			json_object_set_new(out, "rebuilds", json_array());
		/* current_version, clients: see cmd_switch.c */
		if (cli_switch_status(db, ctx->schema, out, err) != 0)
			goto done;
	}
	if (ctx->json) {
		json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		putchar('\n');
	} else {
		json_t *a = json_object_get(out, "active");
		json_t *l = json_object_get(out, "latest_complete");

		printf("schema:            %s\n", ctx->schema);
		if (!have) {
			printf("state:             not initialized (no migration has run)\n");
		} else if (json_is_object(a)) {
			const char *st = json_string_value(json_object_get(a, "status"));

			if (strcmp(st, "active") == 0)
				printf("active migration:  %s (started: both versions live; next: complete or rollback)\n",
					   json_string_value(json_object_get(a, "name")));
			else
				printf("active migration:  %s (%s, interrupted or running: %s of %s steps done)\n",
					   json_string_value(json_object_get(a, "name")), st,
					   json_string_value(json_object_get(a, "step")), json_string_value(json_object_get(a, "steps")));
			printf("new version:       %s\n", json_string_value(json_object_get(a, "version_schema")));
			printf("previous version:  %s\n", json_is_string(json_object_get(a, "previous_version_schema"))
													 ? json_string_value(json_object_get(a, "previous_version_schema"))
													 : ctx->schema);
			printf("started:           %s by %s\n", json_string_value(json_object_get(a, "started_at")),
				   json_string_value(json_object_get(a, "started_by")));
			if (json_is_string(json_object_get(a, "last_error")))
				printf("last error:        %s\n", json_string_value(json_object_get(a, "last_error")));
			print_backfills(json_object_get(out, "backfills"));
		} else
			printf("active migration:  none\n");
		if (have && json_is_object(l))
			printf("latest complete:   %s (version schema %s, %s)\n", json_string_value(json_object_get(l, "name")),
				   json_string_value(json_object_get(l, "version_schema")),
				   json_string_value(json_object_get(l, "completed_at")));
		if (have)
			print_rebuilds(json_object_get(out, "rebuilds"));
		if (have)
			cli_switch_status_print(out);
	}
	rc = 0;
done:
	PQclear(res);
	free(rebuilds);
	buf_release(&sql);
	json_decref(out);
	pg_conn_free(db);
	return rc;
}

int
cmd_latest(cli_ctx *ctx, shunt_error *err)
{
	shunt_db *db = NULL;
	bool have = false;
	shunt_buf sql = SHUNT_BUF_INIT;
	const char *params[1] = { ctx->schema };
	char *v = NULL;
	int rc = -1;

	if (ctx->argc != 0)
		return shunt_error_set(err, SHUNT_E_USAGE, "latest takes no arguments");
	if (with_state(ctx, &db, &have, err) != 0)
		goto done;
	if (have) {
		buf_init(&sql);
		buf_printf(&sql,
			"SELECT version_schema FROM %s.migrations WHERE schema = $1 "
			"   AND status IN ('active', 'completing', 'complete') "
			" ORDER BY (status <> 'complete') DESC, completed_at DESC NULLS FIRST, id DESC LIMIT 1",
			db->state_q);
		v = pg_query_value(db, buf_str(&sql), 1, params, err);
		if (v == NULL && err->code != SHUNT_OK)
			goto done;
	}
	if (v == NULL) {
		shunt_error_set(err, SHUNT_E_STATE, "no migration has been applied to schema \"%s\"", ctx->schema);
		shunt_error_hint(err, "Until the first migration, applications use the schema itself.");
		goto done;
	}
	if (ctx->json) {
		json_t *o = json_pack("{s:s, s:s}", "schema", ctx->schema, "version_schema", v);

		json_dumpf(o, stdout, 0);
		putchar('\n');
		json_decref(o);
	} else
		printf("%s\n", v);
	rc = 0;
done:
	free(v);
	buf_release(&sql);
	pg_conn_free(db);
	return rc;
}

int
cmd_history(cli_ctx *ctx, shunt_error *err)
{
	shunt_db *db = NULL;
	bool have = false;
	shunt_buf sql = SHUNT_BUF_INIT;
	const char *params[1] = { ctx->schema };
	PGresult *res = NULL;
	int rc = -1;

	if (ctx->argc != 0)
		return shunt_error_set(err, SHUNT_E_USAGE, "history takes no arguments");
	if (with_state(ctx, &db, &have, err) != 0)
		goto done;
	if (have) {
		buf_init(&sql);
		buf_printf(&sql,
			"SELECT name, status, version_schema, started_at::text AS started_at, "
			"       coalesce(completed_at, rolled_back_at)::text AS finished_at, started_by "
			"  FROM %s.migrations WHERE schema = $1 ORDER BY id", db->state_q);
		res = pg_exec_params(db, buf_str(&sql), 1, params, err);
		if (res == NULL)
			goto done;
	}
	if (ctx->json) {
		json_t *rows = res ? result_rows(res) : json_array();

		json_dumpf(rows, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		putchar('\n');
		json_decref(rows);
	} else if (res != NULL) {
		printf("%-32s %-12s %-32s %-19s %s\n", "name", "status", "version schema", "started", "finished");
		for (int i = 0; i < PQntuples(res); i++)
			printf("%-32s %-12s %-32s %-19.19s %.19s\n", PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
				   PQgetvalue(res, i, 2), PQgetvalue(res, i, 3), PQgetvalue(res, i, 4));
	}
	rc = 0;
done:
	PQclear(res);
	buf_release(&sql);
	pg_conn_free(db);
	return rc;
}
