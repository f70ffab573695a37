/*
 * cmd_rollback.c: shunt rollback
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "pg/pg_migrate.h"

const char cmd_rollback_help[] =
	"Usage: shunt rollback [OPTION]...\n"
	"\n"
	"Undoes the active migration's start: drops the new version schema, the sync\n"
	"triggers and everything start created (new tables, new columns, new indexes),\n"
	"newest first.  The old version never stopped working and loses no data.  Works\n"
	"from any point of an interrupted start, and is itself safe to run again.  It is\n"
	"refused once complete has dropped the previous version.\n"
	"\n"
	"  --dry-run      print the SQL, change nothing\n";

int
cmd_rollback(cli_ctx *ctx, shunt_error *err)
{
	shunt_db *db;
	migrate_opts o;
	int rc;

	if (ctx->argc != 0)
		return shunt_error_set(err, SHUNT_E_USAGE, "rollback takes no arguments");
	db = cli_connect(ctx, err);
	if (db == NULL)
		return -1;
	cli_migrate_opts(ctx, &o);
	rc = pg_migrate_rollback(db, &o, err);
	pg_conn_free(db);
	return rc;
}
