/*
 * cmd_complete.c: shunt complete
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "pg/pg_migrate.h"

enum { OPT_FORCE = 1200 };

const struct option cmd_complete_options[] = {
	{ "force", no_argument, NULL, OPT_FORCE },
	{ NULL, 0, NULL, 0 },
};

static bool opt_force;

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
	"Complete is refused (exit 3) while the previous version is still in use:\n"
	"while registered clients (libshunt, or the SQL functions use_version/follow)\n"
	"with a live session use another version than the new one, and, when the\n"
	"pg_stat_statements extension is installed in the database, while it shows\n"
	"queries that read or write a column the contract drops or renames, use a table\n"
	"it drops or renames, or SELECT * from a table whose columns change, and that\n"
	"ran since the gate's previous look: each check records the counts, and `shunt\n"
	"switch` to the new version takes the first look (without one, every such query\n"
	"the statistics hold counts).  The error names what blocks.\n"
	"\n"
	"  --dry-run      print the SQL and what the gate finds, change nothing\n"
	"  --force        complete anyway, saying what the gate would have refused\n";

int
cmd_complete_option(cli_ctx *ctx, int id, const char *arg, shunt_error *err)
{
	(void) ctx;
	(void) arg;
	if (id == OPT_FORCE) {
		opt_force = true;
		return 0;
	}
	return shunt_error_set(err, SHUNT_E_INTERNAL, "unhandled option %d", id);
}

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
	cli_migrate_opts(ctx, &o);
	o.force = opt_force;
	rc = pg_migrate_complete(db, &o, err);
	pg_conn_free(db);
	return rc;
}
