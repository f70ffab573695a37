/*
 * cmd_switch.c: shunt switch [VERSION], and the part of shunt status that
 * shows the current version and who uses which version.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"
#include "core/buf.h"
#include "core/log.h"
#include "pg/pg_api.h"
#include "pg/pg_gate.h"
#include "pg/pg_state.h"
#include "pg/pg_switch.h"

const char cmd_switch_help[] =
	"Usage: shunt switch [VERSION]\n"
	"\n"
	"Makes VERSION (a version schema; default: the latest, that is the active\n"
	"migration's new version once its start has finished, else the last completed\n"
	"one's) the current version of the application schema (--schema).  Clients that\n"
	"follow shunt (libshunt, or the SQL function follow()) move to it at their next\n"
	"transaction boundary, all together, without a redeploy; the change is recorded\n"
	"in flag_history and sent with NOTIFY.  Switching back to the version the old\n"
	"clients use is allowed until complete.  Prints the new current version.\n"
	"\n"
	"  --dry-run      print the SQL, change nothing\n"
	"  --json         {\"schema\", \"old_version\", \"new_version\"}\n"
	"\n"
	"shunt status shows the current version and the sessions using each version.\n";

/* Clients now leave the previous version: the contract gate counts the
 * statements that run from here on (pg_gate.h).  Only a warning if not. */
static void
baseline(shunt_db *db, const char *schema, const char *new_version)
{
	pg_state_migration *m = NULL;
	shunt_error e;

	if (pg_state_active(db, schema, &m, &e) != 0 ||
		(m != NULL && strcmp(m->version_schema, new_version) == 0 &&
		 pg_gate_snapshot(db, m->id, "switch", &e) != 0))
		log_warning("cannot record the pg_stat_statements counts at the switch: %s", e.message);
	pg_state_migration_free(m);
}

int
cmd_switch(cli_ctx *ctx, shunt_error *err)
{
	shunt_db *db = NULL;
	const char *version = ctx->argc == 1 ? ctx->argv[0] : NULL;
	char *old_version = NULL, *new_version = NULL;
	int rc = -1;

	if (ctx->argc > 1)
		return shunt_error_set(err, SHUNT_E_USAGE, "switch takes at most one argument, the version schema");
	if (version != NULL && version[0] == '\0')
		return shunt_error_set(err, SHUNT_E_USAGE, "the version schema must not be empty");
	db = cli_connect(ctx, err);
	if (db == NULL)
		return -1;
	if (ctx->dry_run) {
		shunt_buf b = SHUNT_BUF_INIT;

		buf_init(&b);
		buf_printf(&b, "SELECT * FROM %s.switch_version(", db->state_q);
		pg_put_literal(db, &b, ctx->schema);
		buf_put(&b, ", ");
		if (version != NULL)
			pg_put_literal(db, &b, version);
		else
			buf_put(&b, "NULL");
		buf_put(&b, ");\n");
		fputs(buf_str(&b), stdout);
		buf_release(&b);
		rc = 0;
		goto done;
	}
	if (pg_api_ensure(db, err) != 0 ||
		pg_switch_version(db, ctx->schema, version, &old_version, &new_version, err) != 0)
		goto done;
	baseline(db, ctx->schema, new_version);
	if (ctx->json) {
		json_t *o = json_pack("{s:s, s:s?, s:s?}", "schema", ctx->schema, "old_version", old_version,
							  "new_version", new_version);

		json_dumpf(o, stdout, 0);
		putchar('\n');
		json_decref(o);
	} else
		printf("%s\n", new_version);
	if (old_version != NULL && strcmp(old_version, new_version) == 0)
		log_info("schema \"%s\" already uses version \"%s\"", ctx->schema, new_version);
	else
		log_info("switched schema \"%s\" from \"%s\" to \"%s\": clients that follow shunt move at their "
				 "next transaction", ctx->schema, old_version ? old_version : ctx->schema, new_version);
	rc = 0;
done:
	free(old_version);
	free(new_version);
	pg_conn_free(db);
	return rc;
}

/* A result as an array of objects, every value a string or null. */
static json_t *
rows_json(PGresult *res)
{
	json_t *arr = json_array();

	for (int i = 0; i < PQntuples(res); i++) {
		json_t *o = json_object();

		for (int j = 0; j < PQnfields(res); j++)
			json_object_set_new(o, PQfname(res, j),
								PQgetisnull(res, i, j) ? json_null() : json_string(PQgetvalue(res, i, j)));
		json_array_append_new(arr, o);
	}
	return arr;
}

int
cli_switch_status(shunt_db *db, const char *schema, struct json_t *out, shunt_error *err)
{
	char *version = NULL, *at = NULL, *by = NULL;
	PGresult *res;

	if (pg_switch_current(db, schema, &version, &at, &by, err) != 0)
		return -1;
	json_object_set_new(out, "current_version",
						json_pack("{s:s?, s:s?, s:s?, s:b}", "version", version, "switched_at", at,
								  "switched_by", by, "switched", at != NULL));
	free(version);
	free(at);
	free(by);
	res = pg_switch_clients(db, schema, err);
	if (res == NULL)
		return -1;
	json_object_set_new(out, "clients", rows_json(res));
	PQclear(res);
	return 0;
}

static const char *
field(json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v ? v : "";
}

void
cli_switch_status_print(struct json_t *out)
{
	json_t *cur = json_object_get(out, "current_version");
	json_t *clients = json_object_get(out, "clients");
	size_t i;
	json_t *c;

	if (json_is_object(cur)) {
		if (json_is_true(json_object_get(cur, "switched")))
			printf("current version:   %s (switched %.19s by %s)\n", field(cur, "version"),
				   field(cur, "switched_at"), field(cur, "switched_by"));
		else
			printf("current version:   %s (not switched: the latest completed version)\n",
				   field(cur, "version"));
	}
	if (!json_is_array(clients))
		return;
	if (json_array_size(clients) == 0) {
		printf("clients:           none registered\n");
		return;
	}
	printf("clients:           %zu registered session%s\n", json_array_size(clients),
		   json_array_size(clients) == 1 ? "" : "s");
	json_array_foreach(clients, i, c) {
		printf("  %-32s pid %-7s %-11s %s@%s (%s), last seen %.19s\n", field(c, "version"), field(c, "pid"),
			   field(c, "mode"), field(c, "role"), field(c, "client_addr"), field(c, "application_name"),
			   field(c, "last_seen"));
	}
}
