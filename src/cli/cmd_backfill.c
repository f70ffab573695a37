/*
 * cmd_backfill.c: shunt backfill
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/migration.h"
#include "pg/pg_migrate.h"

const char cmd_backfill_help[] =
	"Usage: shunt backfill [OPTION]...\n"
	"\n"
	"Continues the active migration's interrupted start (a crash, a kill, a lost\n"
	"connection, a lock that never came) from its last checkpoint: the backfill\n"
	"resumes after the last batch it recorded.  Running the original `shunt start\n"
	"FILE` again does the same.  The backfill options (--batch-size,\n"
	"--max-rows-per-second, --max-replica-lag, ...) apply.\n";

int
cmd_backfill(cli_ctx *ctx, shunt_error *err)
{
	shunt_db *db;
	migrate_opts o;
	int rc;

	if (ctx->argc != 0)
		return shunt_error_set(err, SHUNT_E_USAGE, "backfill takes no arguments");
	db = cli_connect(ctx, err);
	if (db == NULL)
		return -1;
	cli_migrate_opts(ctx, &o);
	rc = pg_migrate_resume(db, &o, err);
	pg_conn_free(db);
	return rc;
}
