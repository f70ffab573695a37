/*
 * pg_gate.h: the contract gate: complete waits until the previous version
 * is no longer in use.
 *
 * The contract transaction drops the previous version schema, old columns
 * and tables, and renames what the new version names differently: every
 * application instance still on the previous version breaks at its commit.
 * Before it, the gate looks for such instances in two places:
 *
 *  - registrations (pg_api.h): live sessions of clients that follow shunt
 *    or pinned a version, using another version than the new one;
 *  - pg_stat_statements, when the extension is installed in the database:
 *    statements that use what the contract removes (pg_gate_sql.h), and
 *    that ran since the last look: the gate keeps the call counts it saw
 *    (on the migration's row, column gate_seen), and `shunt switch` to the
 *    new version takes the first such look.  Without a previous look every
 *    such statement in the statistics counts.
 *
 * Either refuses complete (SHUNT_E_REFUSED, exit 3) naming what blocks,
 * unless forced.  Nothing here changes the schema.
 */
#ifndef SHUNT_PG_GATE_H
#define SHUNT_PG_GATE_H

#include <stdbool.h>

#include "core/plan.h"
#include "pg/pg_conn.h"
#include "pg/pg_state.h"

/*
 * Checks whether migration m of app_schema may be completed, p being its
 * stored plan.  Returns 0 when nothing blocks, when m's complete already
 * began (status completing: it passed the gate then, and may be past the
 * point of no return), or when force is set (each blocker is then logged as
 * a warning saying it was overridden); in dry-run mode it logs what it
 * would refuse and returns 0.  Otherwise -1 with err: SHUNT_E_REFUSED
 * naming the first blocker (all are logged as warnings), or a database
 * error.  Records the pg_stat_statements counts it saw, except in dry-run
 * mode.  Runs outside a transaction; takes no lock.
 */
int pg_gate_check(shunt_db *db, const char *app_schema, const pg_state_migration *m, const plan *p,
				  bool force, shunt_error *err);

/*
 * Records the current pg_stat_statements call counts of this database as
 * the gate's last look for migration_id (why: "switch" or "check"), so that
 * the next check counts only statements that ran since.  Does nothing when
 * the extension is not installed or not loaded.
 */
int pg_gate_snapshot(shunt_db *db, long long migration_id, const char *why, shunt_error *err);

#endif
