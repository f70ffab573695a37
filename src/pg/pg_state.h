/*
 * pg_state.h: shunt's state schema (default "shunt", --state-schema).
 *
 * The state schema is the only trace shunt leaves in a database: the
 * migration history with each migration's content and plan, the checkpoint
 * of the phase in progress, backfill positions and flags.  Everything is in
 * the database so that status, history, complete and rollback work from any
 * machine.  Concurrent shunt processes on one application schema are
 * serialised by a session-level advisory lock.
 */
#ifndef SHUNT_PG_STATE_H
#define SHUNT_PG_STATE_H

#include <stdbool.h>

#include "pg/pg_conn.h"

/* Statuses of a migration row. */
#define STATE_STARTING "starting"       /* start in progress or interrupted */
#define STATE_ACTIVE "active"           /* started: both versions live */
#define STATE_COMPLETING "completing"   /* complete in progress or interrupted */
#define STATE_ROLLING_BACK "rolling_back"
#define STATE_COMPLETE "complete"
#define STATE_ROLLED_BACK "rolled_back"

/* Installs or upgrades the state schema; idempotent, serialised by an
 * advisory lock.  Not run in dry-run mode by callers that only print. */
int pg_state_init(shunt_db *db, shunt_error *err);

/* True when the state schema is installed. */
int pg_state_exists(shunt_db *db, bool *exists, shunt_error *err);

/*
 * Takes the session-level advisory lock that serialises shunt processes
 * working on app_schema; fails at once (SHUNT_E_REFUSED) naming the holder
 * when another process has it.  Released when the session ends.
 */
int pg_state_lock(shunt_db *db, const char *app_schema, shunt_error *err);

/* The active (unfinished) migration of app_schema. */
typedef struct pg_state_migration {
	long long id;
	char *name;
	char *schema;
	char *version_schema;
	char *previous_version_schema; /* NULL for the first migration */
	char *status;
	char *content;   /* canonical JSON of the migration */
	char *plan;      /* JSON: {"start":[...],"complete":[...],"rollback":[...]} */
	int step;        /* steps of the current phase already done */
	char *started_at;
	int started_steps; /* start steps that ran, for a rollback (INT_MAX: all) */
} pg_state_migration;

void pg_state_migration_free(pg_state_migration *m);

/* Loads the active migration of app_schema into *out (NULL when none). */
int pg_state_active(shunt_db *db, const char *app_schema, pg_state_migration **out,
					shunt_error *err);

/* The version schema of the newest completed migration of app_schema
 * (malloc'd), or NULL when there is none. */
char *pg_state_latest_version(shunt_db *db, const char *app_schema, shunt_error *err);

/* True when a migration of that name was completed in app_schema. */
int pg_state_is_applied(shunt_db *db, const char *app_schema, const char *name, bool *applied,
						shunt_error *err);

/* Builds "<state schema>.<table>" quoted, malloc'd. */
char *pg_state_table(shunt_db *db, const char *table);

#endif
