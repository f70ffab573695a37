/*
 * cmd_rebuild.c: shunt rebuild, shunt cutover
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/alloc.h"
#include "pg/pg_rebuild.h"

enum {
	OPT_ALTER = 1300,
	OPT_POSTPONE,
	OPT_ABORT,
	OPT_REVERT,
	OPT_DROP_OLD,
	OPT_NO_VERIFY,
	OPT_CAPTURE
};

const struct option cmd_rebuild_options[] = {
	{ "alter", required_argument, NULL, OPT_ALTER },
	{ "postpone-cutover", no_argument, NULL, OPT_POSTPONE },
	{ "abort", no_argument, NULL, OPT_ABORT },
	{ "revert", no_argument, NULL, OPT_REVERT },
	{ "drop-old", no_argument, NULL, OPT_DROP_OLD },
	{ "no-verify", no_argument, NULL, OPT_NO_VERIFY },
	{ "capture", required_argument, NULL, OPT_CAPTURE },
	{ NULL, 0, NULL, 0 },
};

static struct {
	const char *alter;
	bool postpone, abort, revert, drop_old, no_verify;
	pg_rebuild_capture capture;
} opt;

const char cmd_rebuild_help[] =
	"Usage: shunt rebuild TABLE [--alter CLAUSES] [--postpone-cutover] [OPTION]...\n"
	"       shunt rebuild TABLE --revert | --drop-old | --abort\n"
	"\n"
	"Rebuilds TABLE online (like pg_repack, pg-osc, gh-ost): a shadow table with\n"
	"the new definition is built next to it, filled by a copy in short batches\n"
	"while every change to TABLE is captured and applied, verified, and swapped\n"
	"in by a cut-over that holds the exclusive lock for milliseconds.  Without\n"
	"--alter it removes bloat (as pg_repack does) and reports the size before\n"
	"and after.  TABLE is in --schema (default public) or written schema.table.\n"
	"\n"
	"  --alter CLAUSES      what follows ALTER TABLE name, applied to the shadow:\n"
	"                       --alter \"ALTER COLUMN id TYPE bigint\"; several clauses\n"
	"                       separated by commas; values are converted by a cast\n"
	"  --postpone-cutover   stop when ready; `shunt cutover TABLE` swaps later\n"
	"                       (with logical capture the process stays and waits)\n"
	"  --capture MODE       trigger (default), logical (a replication slot read by\n"
	"                       shunt: no trigger cost for the application; needs\n"
	"                       wal_level=logical and the REPLICATION attribute) or\n"
	"                       auto (logical when possible)\n"
	"  --no-verify          skip the checksum comparison before the cut-over\n"
	"  --drop-old           with a rebuild: drop the old table right after the\n"
	"                       cut-over; alone: drop the table kept for --revert\n"
	"  --revert             swap the old table back in, with every write made\n"
	"                       since the cut-over\n"
	"  --abort              remove the shadow and the change capture of a rebuild\n"
	"                       that was not cut over\n"
	"  --dry-run            print the statements of the start, change nothing\n"
	"\n"
	"The copy uses the backfill options (--batch-size, --batch-time, default\n"
	"200 ms here, --max-rows-per-second, --max-replica-lag, --max-slot-lag,\n"
	"pause/resume/tune); the cut-over uses --lock-timeout and --lock-retry-total.\n"
	"Running the same command again continues an interrupted rebuild.  After the\n"
	"cut-over the old table stays, kept in sync in reverse, until --drop-old.\n"
	"A column type change breaks prepared statements of running sessions on the\n"
	"table; change types through a migration to spare running applications.\n"
	"See docs/rebuild.md.\n";

const char cmd_cutover_help[] =
	"Usage: shunt cutover TABLE\n"
	"\n"
	"Swaps in the shadow of a rebuild started with --postpone-cutover: one short\n"
	"transaction under --lock-timeout (retried) applies the last captured changes\n"
	"and swaps the names.  With logical capture it asks the waiting `shunt\n"
	"rebuild` process to do it.\n";

int
cmd_rebuild_option(cli_ctx *ctx, int id, const char *arg, shunt_error *err)
{
	(void) ctx;
	switch (id) {
	case OPT_ALTER:
		if (arg[0] == '\0')
			return shunt_error_set(err, SHUNT_E_USAGE, "--alter needs ALTER TABLE clauses");
		opt.alter = arg;
		return 0;
	case OPT_POSTPONE:
		opt.postpone = true;
		return 0;
	case OPT_ABORT:
		opt.abort = true;
		return 0;
	case OPT_REVERT:
		opt.revert = true;
		return 0;
	case OPT_DROP_OLD:
		opt.drop_old = true;
		return 0;
	case OPT_NO_VERIFY:
		opt.no_verify = true;
		return 0;
	case OPT_CAPTURE:
		if (strcmp(arg, "trigger") == 0)
			opt.capture = REBUILD_CAPTURE_TRIGGER;
		else if (strcmp(arg, "logical") == 0)
			opt.capture = REBUILD_CAPTURE_LOGICAL;
		else if (strcmp(arg, "auto") == 0)
			opt.capture = REBUILD_CAPTURE_AUTO;
		else
			return shunt_error_set(err, SHUNT_E_USAGE, "--capture must be trigger, logical or auto, not \"%s\"",
								   arg);
		return 0;
	}
	return shunt_error_set(err, SHUNT_E_INTERNAL, "unhandled option %d", id);
}

/* Splits TABLE into schema and table: "s.t" or "t" (in --schema). */
static void
table_arg(cli_ctx *ctx, const char *arg, char **schema, char **table)
{
	const char *dot = strchr(arg, '.');

	if (dot != NULL && dot != arg && dot[1] != '\0') {
		*schema = shunt_xstrndup(arg, (size_t) (dot - arg));
		*table = shunt_xstrdup(dot + 1);
	} else {
		*schema = shunt_xstrdup(ctx->schema);
		*table = shunt_xstrdup(arg);
	}
}

static int
fill(cli_ctx *ctx, pg_rebuild_opts *o, char **schema, char **table, shunt_error *err)
{
	if (ctx->argc != 1)
		return shunt_error_set(err, SHUNT_E_USAGE, "%s takes one TABLE", ctx->command);
	table_arg(ctx, ctx->argv[0], schema, table);
	memset(o, 0, sizeof(*o));
	o->schema = *schema;
	o->table = *table;
	o->alter = opt.alter;
	o->postpone_cutover = opt.postpone;
	o->no_verify = opt.no_verify;
	o->drop_old = opt.drop_old;
	o->dry_run = ctx->dry_run;
	o->capture = opt.capture;
	pg_rebuild_copy_opts(&o->copy, &ctx->backfill);
	return 0;
}

int
cmd_rebuild(cli_ctx *ctx, shunt_error *err)
{
	pg_rebuild_opts o;
	char *schema = NULL, *table = NULL;
	shunt_db *db;
	int rc = -1, modes = (int) opt.abort + (int) opt.revert;

	if (fill(ctx, &o, &schema, &table, err) != 0)
		goto done;
	if (modes > 1 || ((opt.abort || opt.revert) && (opt.alter || opt.postpone || opt.drop_old))) {
		shunt_error_set(err, SHUNT_E_USAGE, "--abort and --revert go alone");
		goto done;
	}
	db = cli_connect(ctx, err);
	if (db == NULL)
		goto done;
	if (opt.abort)
		rc = pg_rebuild_abort(db, &o, err);
	else if (opt.revert)
		rc = pg_rebuild_revert(db, &o, err);
	else if (opt.drop_old && opt.alter == NULL && !opt.postpone) {
		/* alone: end a rebuild that was cut over, or start one that drops
		 * the old table at once */
		rc = pg_rebuild_drop_old(db, &o, err);
		if (rc != 0 && err->code == SHUNT_E_STATE && strstr(err->message, "no rebuild") != NULL) {
			shunt_error_clear(err);
			rc = pg_rebuild_run(db, &o, err);
		}
	} else
		rc = pg_rebuild_run(db, &o, err);
	pg_conn_free(db);
done:
	free(schema);
	free(table);
	return rc;
}

int
cmd_cutover(cli_ctx *ctx, shunt_error *err)
{
	pg_rebuild_opts o;
	char *schema = NULL, *table = NULL;
	shunt_db *db;
	int rc = -1;

	if (fill(ctx, &o, &schema, &table, err) != 0)
		goto done;
	db = cli_connect(ctx, err);
	if (db == NULL)
		goto done;
	rc = pg_rebuild_cutover(db, &o, err);
	pg_conn_free(db);
done:
	free(schema);
	free(table);
	return rc;
}
