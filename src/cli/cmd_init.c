/*
 * cmd_init.c: shunt init
 */
#include <stdio.h>

#include <jansson.h>

#include "cli/cli.h"
#include "pg/pg_state.h"

const char cmd_init_help[] =
	"Usage: shunt init [--state-schema=NAME]\n"
	"\n"
	"Installs shunt's state schema (default \"shunt\"): the migration history with\n"
	"each migration's content and plan, the checkpoint of a phase in progress,\n"
	"backfill positions, and feature flags.  Idempotent and safe to run from several\n"
	"machines at once (serialised by an advisory lock).  Other commands run it when\n"
	"needed, so calling it is optional.  Needs CREATE on the database, no superuser.\n";

int
cmd_init(cli_ctx *ctx, shunt_error *err)
{
	shunt_db *db;
	int rc;

	if (ctx->argc != 0)
		return shunt_error_set(err, SHUNT_E_USAGE, "init takes no arguments");
	db = cli_connect(ctx, err);
	if (db == NULL)
		return -1;
	if (ctx->dry_run) {
		printf("-- shunt init would create schema \"%s\" and its tables if missing\n", ctx->state_schema);
		pg_conn_free(db);
		return 0;
	}
	rc = pg_state_init(db, err);
	if (rc == 0 && !ctx->json)
		printf("state schema \"%s\" is ready\n", ctx->state_schema);
	else if (rc == 0) {
		json_t *o = json_pack("{s:s, s:b}", "state_schema", ctx->state_schema, "ready", 1);

		json_dumpf(o, stdout, JSON_SORT_KEYS);
		putchar('\n');
		json_decref(o);
	}
	pg_conn_free(db);
	return rc;
}
