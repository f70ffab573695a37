/*
 * cmd_complete.c: shunt complete
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "pg/pg_migrate.h"

const char cmd_complete_help[] =
	"Usage: shunt complete [OPTION]...\n"
	"\n"
	"Completes the active migration once no application instance uses the previous\n"
	"version any more.  It validates the constraints created NOT VALID, then in one\n"
	"short transaction (under --lock-timeout, retried) drops the previous version\n"
	"schema and the sync triggers, drops the tables and columns only the old version\n"
	"used, gives new columns and tables their final names and attaches unique and\n"
	"primary keys to their indexes.  Indexes removed by drop_index go last.\n"
	"What remains is a clean schema and the new version schema.  If complete is\n"
	"interrupted, running it again continues.\n"
	"\n"
	"  --dry-run      print the SQL, change nothing\n";

int
cmd_complete(cli_ctx *ctx, shunt_error *err)
{
	shunt_db *db;
	migrate_opts o;
	int rc;

	if (ctx->argc != 0)
		return shunt_error_set(err, SHUNT_E_USAGE, "complete takes no arguments");
	db = cli_connect(ctx, err);
	if (db == NULL)
		return -1;
	memset(&o, 0, sizeof(o));
	o.schema = ctx->schema;
	o.dry_run = ctx->dry_run;
	o.out = stdout;
	o.backfill = ctx->backfill;
	rc = pg_migrate_complete(db, &o, err);
	pg_conn_free(db);
	return rc;
}
