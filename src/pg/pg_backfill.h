/*
 * pg_backfill.h: filling new columns of existing rows in small batches.
 *
 * Keyset pagination over the primary key (or a NOT NULL unique index), from
 * the smallest key up to the largest key that existed when the backfill
 * began (rows inserted later are handled by the sync trigger).  Each batch
 * is one short statement in its own transaction: an UPDATE of the batch's
 * rows that fires the sync trigger, which computes every `up` rule from
 * the row as it is now, so an application write is never overwritten with
 * a stale value.  The position is checkpointed in the state schema with
 * each batch; running again continues from it.
 */
#ifndef SHUNT_PG_BACKFILL_H
#define SHUNT_PG_BACKFILL_H

#include "pg/pg_conn.h"

/* The default --batch-time: a batch holds row locks an application may
 * wait for, so it stays short. */
#define PG_BACKFILL_BATCH_MS 20

typedef struct pg_backfill_opts {
	long long migration_id;
	int batch_size;          /* 0: adaptive */
	int64_t target_batch_ms; /* adaptive target, default PG_BACKFILL_BATCH_MS */
	double max_rows_per_second; /* 0: unlimited */
	int64_t batch_delay_ms;
	bool progress;           /* report progress on stderr */
	bool progress_bar;       /* stderr is a terminal: redraw one line */
	int64_t max_replica_lag_ms;   /* 0: ignore replicas */
	int64_t max_slot_lag_bytes;   /* 0: ignore slots */
	bool no_vacuum_pause;
} pg_backfill_opts;

/* Backfills schema.table; each batch assigns set_column to itself (NULL:
 * the first key column) to fire the sync trigger.  With a migration id the
 * position is checkpointed in the state schema and a second call resumes
 * (or returns at once when the first finished).  0 or -1 with err. */
int pg_backfill_table(shunt_db *db, const char *schema, const char *table, const char *set_column,
					  const pg_backfill_opts *opts, shunt_error *err);

/* The statement of one batch, as --dry-run shows it: $1.. are the last key
 * done, then the high-water mark, then the batch size.  malloc'd, or NULL
 * with err (no usable key). */
char *pg_backfill_batch_sql(shunt_db *db, const char *schema, const char *table,
							const char *set_column, shunt_error *err);

/* Finds the key columns of a table: the primary key, else a NOT NULL unique
 * index.  *cols and *types are malloc'd arrays of *n malloc'd strings. */
int pg_backfill_key(shunt_db *db, const char *schema, const char *table, char ***cols,
					char ***types, size_t *n, shunt_error *err);

#endif
