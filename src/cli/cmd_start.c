/*
 * cmd_start.c: shunt start FILE [--complete]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/migration.h"
#include "pg/pg_convert.h"
#include "pg/pg_migrate.h"

enum { OPT_COMPLETE = 1000 };

bool cli_opt_complete = false;

const struct option cmd_start_options[] = {
	{ "complete", no_argument, NULL, OPT_COMPLETE },
	{ NULL, 0, NULL, 0 },
};

const char cmd_start_help[] =
	"Usage: shunt start FILE [--complete] [OPTION]...\n"
	"\n"
	"Starts the migration in FILE (pgroll's format, YAML or JSON; \"-\" reads standard\n"
	"input; FILE.sql is plain SQL, converted first as `shunt convert` does).  Start\n"
	"expands the schema without breaking the application version that runs now:\n"
	"  - new tables and columns are created (columns under a temporary name);\n"
	"  - a column whose change the old version must not see (type, NOT NULL, check,\n"
	"    unique, foreign key, default) is duplicated, and a trigger keeps both copies\n"
	"    equal: old-version writes fill the new copy with `up`, new-version writes\n"
	"    fill the old copy with `down`;\n"
	"  - existing rows are backfilled in small batches, each its own transaction;\n"
	"  - constraints are created NOT VALID and indexes CONCURRENTLY;\n"
	"  - a version schema, named SCHEMA_NAME after the application schema and the\n"
	"    migration's name (or its version_schema field), is created with one view\n"
	"    per table exposing the new version's columns under their new names.\n"
	"New application instances set search_path to that schema (`shunt latest`); old\n"
	"ones keep theirs.  Every DDL step runs under --lock-timeout and is retried.\n"
	"If start fails it is rolled back, except when it gave up waiting for a lock or\n"
	"lost the connection: then running the same command again resumes it.\n"
	"\n"
	"Options:\n"
	"  --complete     complete the migration right after starting it\n"
	"  --dry-run      print the SQL of start, complete and rollback; change nothing\n"
	"\n"
	"Examples:\n"
	"  shunt start migrations/03_add_column.yaml\n"
	"  shunt --dry-run start 03_add_column.yaml\n";

int
cmd_start_option(cli_ctx *ctx, int id, const char *arg, shunt_error *err)
{
	(void) ctx;
	(void) arg;
	if (id == OPT_COMPLETE) {
		cli_opt_complete = true;
		return 0;
	}
	return shunt_error_set(err, SHUNT_E_INTERNAL, "unhandled option %d", id);
}

/* A migration file, or plain SQL (FILE.sql) converted as `shunt convert`
 * does; the conversion refuses while a TODO placeholder would remain. */
static shunt_migration *
load_migration(const char *path, shunt_error *err)
{
	size_t n = strlen(path), len;
	shunt_migration *m;
	char *sql;

	if (n < 4 || strcmp(path + n - 4, ".sql") != 0)
		return migration_load_file(path, err);
	if ((sql = cli_read_input(path, &len, err)) == NULL)
		return NULL;
	if (strlen(sql) != len) {
		free(sql);
		shunt_error_set(err, SHUNT_E_INPUT, "%s: contains a NUL byte", path);
		return NULL;
	}
	m = pg_convert_to_migration(sql, path, err);
	free(sql);
	return m;
}

int
cmd_start(cli_ctx *ctx, shunt_error *err)
{
	shunt_migration *mig = NULL;
	shunt_db *db = NULL;
	migrate_opts o;
	int rc = -1;

	if (ctx->argc != 1)
		return shunt_error_set(err, SHUNT_E_USAGE, "start needs exactly one migration file");
	mig = load_migration(ctx->argv[0], err);
	if (mig == NULL)
		return -1;
	db = cli_connect(ctx, err);
	if (db == NULL)
		goto done;
	cli_migrate_opts(ctx, &o);
	if (pg_migrate_start(db, mig, &o, err) != 0)
		goto done;
	if (cli_opt_complete && !ctx->dry_run && pg_migrate_complete(db, &o, err) != 0)
		goto done;
	rc = 0;
done:
	pg_conn_free(db);
	migration_free(mig);
	return rc;
}
