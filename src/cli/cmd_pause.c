/*
 * cmd_pause.c: shunt pause, shunt resume, shunt tune
 *
 * They write the control row of the application schema in the state
 * schema; a running backfill reads it twice a second, so these work from
 * any terminal on any machine that can reach the database.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "pg/pg_state.h"
#include "pg/pg_throttle.h"

const char cmd_pause_help[] =
	"Usage: shunt pause\n"
	"\n"
	"Pauses the backfill running on the application schema (--schema) at its next\n"
	"batch, from any machine.  It waits, holding no lock and no transaction, and says\n"
	"why it waits, until `shunt resume`.  The state is in the database, so a\n"
	"backfill started later on the same schema waits too.\n";

const char cmd_resume_help[] =
	"Usage: shunt resume\n"
	"\n"
	"Lets a paused backfill continue.\n";

const char cmd_tune_help[] =
	"Usage: shunt tune [--max-rows-per-second=N] [--batch-size=N]\n"
	"\n"
	"Changes the rate cap or the batch size of the backfill running on the schema,\n"
	"within a second, without restarting it.  0 removes the setting (back to the\n"
	"running command's own options: adaptive batches, no rate cap).\n";

static int
control(cli_ctx *ctx, int pause, double rate, int batch, shunt_error *err)
{
	shunt_db *db = cli_connect(ctx, err);
	int rc;

	if (db == NULL)
		return -1;
	if (ctx->dry_run) {
		printf("-- would set the control row of schema \"%s\"\n", ctx->schema);
		pg_conn_free(db);
		return 0;
	}
	rc = pg_state_init(db, err);
	if (rc == 0)
		rc = pg_throttle_control(db, ctx->schema, pause, rate, batch, err);
	pg_conn_free(db);
	return rc;
}

int
cmd_pause(cli_ctx *ctx, shunt_error *err)
{
	if (ctx->argc != 0)
		return shunt_error_set(err, SHUNT_E_USAGE, "pause takes no arguments");
	if (control(ctx, 1, -1, -1, err) != 0)
		return -1;
	printf("paused: backfills on schema \"%s\" wait from their next batch\n", ctx->schema);
	return 0;
}

int
cmd_resume(cli_ctx *ctx, shunt_error *err)
{
	if (ctx->argc != 0)
		return shunt_error_set(err, SHUNT_E_USAGE, "resume takes no arguments");
	if (control(ctx, 0, -1, -1, err) != 0)
		return -1;
	printf("resumed: backfills on schema \"%s\" continue\n", ctx->schema);
	return 0;
}

int
cmd_tune(cli_ctx *ctx, shunt_error *err)
{
	double rate = ctx->tune_rate_set ? ctx->backfill.max_rows_per_second : -1;
	int batch = ctx->tune_batch_set ? ctx->backfill.batch_size : -1;

	if (ctx->argc != 0)
		return shunt_error_set(err, SHUNT_E_USAGE, "tune takes no arguments");
	if (rate < 0 && batch < 0)
		return shunt_error_set(err, SHUNT_E_USAGE, "tune needs --max-rows-per-second or --batch-size");
	if (control(ctx, -1, rate, batch, err) != 0)
		return -1;
	printf("tuned: backfills on schema \"%s\" use the new settings within a second\n", ctx->schema);
	return 0;
}
