/*
 * pg_run.h: executing (or printing) a plan phase step by step.
 *
 * Each step is checkpointed in the state schema: a transaction step writes
 * its checkpoint inside its own transaction, so a crash leaves the step
 * either done and recorded or not done at all; other steps record it right
 * after they finish and are safe to repeat.  --dry-run prints the phase
 * through the same code path instead of sending it.
 */
#ifndef SHUNT_PG_RUN_H
#define SHUNT_PG_RUN_H

#include <stdio.h>

#include "core/migration.h"
#include "core/plan.h"
#include "pg/pg_backfill.h"
#include "pg/pg_conn.h"

typedef struct run_ctx {
	shunt_db *db;
	long long migration_id;          /* for checkpoints; 0: none */
	const char *schema;
	const char *version_schema;
	const shunt_migration *mig;      /* for the views step */
	pg_backfill_opts backfill;
	int started_steps;               /* rollback: start steps that ran */
} run_ctx;

/* Runs ph from step `from` (0-based); returns 0, or -1 with err and the
 * failing step's description in err's context. */
int pg_run_phase(run_ctx *ctx, const plan_phase *ph, const char *phase, int from, shunt_error *err);

/* Prints ph as SQL (for --dry-run and `shunt plan`). */
void pg_run_print_phase(run_ctx *ctx, FILE *out, const plan_phase *ph, const char *phase);

#endif
