/*
 * pg_rebuild.h: online table rebuild (the pg_repack / pg-osc / gh-ost class).
 *
 * A shadow table with the new definition is created next to the live one;
 * change capture starts in the same transaction (a trigger that records
 * changed keys in a log table, or a logical replication slot read by shunt
 * that fills the same log); the rows are copied in key order in short
 * batches, sharing the backfill engine's sizing, throttling, pausing and
 * progress; captured changes are applied by key, re-reading the current
 * row, so applying one twice is harmless; secondary indexes are built after
 * the copy; the copy is verified chunk by chunk; the cut-over is one short
 * transaction through the lock module that applies the last changes, swaps
 * the names and moves everything that follows a table by name (sequences,
 * views, foreign keys, publications, triggers' states).  The old table is
 * kept, kept in sync in reverse, until --drop-old, so --revert can swap back
 * without losing a write.
 *
 * State lives in the state schema's rebuilds table (one open rebuild per
 * table); every step is resumable by running the command again.
 */
#ifndef SHUNT_PG_REBUILD_H
#define SHUNT_PG_REBUILD_H

#include <stdbool.h>

#include "pg/pg_backfill.h"
#include "pg/pg_conn.h"

typedef enum pg_rebuild_capture {
	REBUILD_CAPTURE_TRIGGER = 0,
	REBUILD_CAPTURE_LOGICAL,
	REBUILD_CAPTURE_AUTO
} pg_rebuild_capture;

typedef struct pg_rebuild_opts {
	const char *schema;
	const char *table;
	const char *alter;         /* ALTER TABLE clauses for the new definition, or NULL */
	bool postpone_cutover;     /* stop before the cut-over (shunt cutover does it) */
	bool no_verify;            /* skip the checksum comparison before the cut-over */
	bool drop_old;             /* drop the old table right after the cut-over */
	bool dry_run;              /* print the statements, change nothing */
	bool in_migration;         /* a step of a migration (rebuild_table): that migration is the
	                              active one of the schema, and holds its lock */
	pg_rebuild_capture capture;
	pg_backfill_opts copy;     /* batch size and time, rate, throttles, progress */
} pg_rebuild_opts;

/* Starts a rebuild of o->schema.o->table, or continues the open one, up to
 * the cut-over (unless postponed).  0, or -1 with err. */
/*
 * The copy's options from the backfill's (the command line's): the same,
 * except that the default --batch-time becomes PG_REBUILD_BATCH_MS, since
 * the copy holds no row lock an application could wait for.
 */
#define PG_REBUILD_BATCH_MS 200
void pg_rebuild_copy_opts(pg_backfill_opts *copy, const pg_backfill_opts *from);

int pg_rebuild_run(shunt_db *db, const pg_rebuild_opts *o, shunt_error *err);

/* The cut-over of a rebuild that was postponed (or interrupted after the
 * copy).  0, or -1 with err. */
int pg_rebuild_cutover(shunt_db *db, const pg_rebuild_opts *o, shunt_error *err);

/* Swaps the old table back in after a cut-over, with the writes made since. */
int pg_rebuild_revert(shunt_db *db, const pg_rebuild_opts *o, shunt_error *err);

/* Drops the table that is no longer live and ends change capture. */
int pg_rebuild_drop_old(shunt_db *db, const pg_rebuild_opts *o, shunt_error *err);

/* Removes everything a rebuild that was not cut over made. */
int pg_rebuild_abort(shunt_db *db, const pg_rebuild_opts *o, shunt_error *err);

/*
 * Undoes whatever a rebuild of o->table got to, for a migration's
 * rollback: after the cut-over, --revert then --drop-old; after a revert,
 * --drop-old; before the cut-over, --abort; with no open rebuild, nothing.
 */
int pg_rebuild_undo(shunt_db *db, const pg_rebuild_opts *o, shunt_error *err);

#endif
