/*
 * pg_migrate.h: the life cycle of a migration: start, complete, rollback.
 *
 * start plans the migration (pg_plan.h), records it with its plan in the
 * state schema, and runs the start phase; complete and rollback run the
 * phases stored at start.  Every phase is resumable: running the same
 * command again continues from the last checkpoint.  Nothing here prints
 * except through log.h and the dry-run output stream.
 */
#ifndef SHUNT_PG_MIGRATE_H
#define SHUNT_PG_MIGRATE_H

#include <stdio.h>

#include "core/migration.h"
#include "pg/pg_backfill.h"
#include "pg/pg_conn.h"

typedef struct migrate_opts {
	const char *schema;          /* application schema */
	bool dry_run;                /* print the plan to out, change nothing */
	bool force;                  /* complete: override the contract gate (pg_gate.h) */
	FILE *out;
	pg_backfill_opts backfill;
} migrate_opts;

/* The version schema name of migration mig in schema (malloc'd). */
char *pg_migrate_version_schema(const char *schema, const shunt_migration *mig);

int pg_migrate_start(shunt_db *db, const shunt_migration *mig, const migrate_opts *o, shunt_error *err);
int pg_migrate_complete(shunt_db *db, const migrate_opts *o, shunt_error *err);
/* Continues the active migration's interrupted start (status starting);
 * refuses otherwise. */
int pg_migrate_resume(shunt_db *db, const migrate_opts *o, shunt_error *err);

int pg_migrate_rollback(shunt_db *db, const migrate_opts *o, shunt_error *err);

#endif
