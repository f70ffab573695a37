/*
 * pg_rebuild_int.h: what the rebuild's files share (pg_rebuild.c runs the
 * steps, pg_rebuild_shadow.c builds the shadow, pg_rebuild_copy.c copies,
 * applies captured changes and verifies, pg_rebuild_swap.c swaps).
 *
 * The spec, computed once when the rebuild starts and stored with its state
 * (rebuilds.spec, jsonb), is what every later step works from:
 *   key:      [{name, src_type, dst_type}]  the copy's keyset, in order
 *   columns:  [{name, src_type, dst_type}]  copied columns (in both tables,
 *             not generated)
 *   indexes:  [{name, rb, old, create, constraint, key}]  every index of the
 *             table: its live name, its names while parked on the shadow
 *             (rb) and on the old table (old), the statements that build it
 *             on the shadow; key: built before the copy
 *   triggers: [{name, enabled}]  the table's own triggers and their state
 *   force_rls, replica_index (or null), type_changes: ["col: a -> b"]
 */
#ifndef SHUNT_PG_REBUILD_INT_H
#define SHUNT_PG_REBUILD_INT_H

#include <jansson.h>

#include "core/buf.h"
#include "pg/pg_rebuild.h"

struct pg_logical;

typedef struct rebuild {
	shunt_db *db;
	const pg_rebuild_opts *o;
	long long id;
	char id_text[32];
	char *status;
	char *schema;
	char *table;       /* the live name */
	char *rb_name;     /* the shadow's name before the cut-over */
	char *old_name;    /* the original's name after the cut-over */
	char *capture;     /* "trigger" or "logical" */
	json_t *spec;
	bool copy_done;
	long long next_block; /* the copy's position: heap blocks below are done */
	long long end_block;  /* the table's size when capture began */
	long long rows_done;
	long long rows_total;
	struct pg_logical *logical;
	shunt_db *marker_db;  /* logical capture: a second session for cut-over markers */
	char waiting[256];
	int64_t started_ms;
	int64_t last_report_ms;
	int batches;
} rebuild;

/* One direction of change propagation: rows of `from` copied or re-read
 * into `to`; changes of `from` recorded in `log`. */
typedef struct rb_dir {
	rebuild *rb;
	bool forward;      /* original -> rebuilt; false: rebuilt -> original */
	shunt_buf from_q;  /* quoted, qualified */
	shunt_buf to_q;
	shunt_buf log_q;
	bool record_hash;  /* verify: hash rows with hash_record_extended, not as text */
} rb_dir;

/* pg_rebuild.c */
int64_t rb_now_ms(void);
size_t rb_nkey(const rebuild *rb);
const char *rb_key_name(const rebuild *rb, size_t i);
/* "_shunt_rb_<id>_<what>" in the state schema, quoted and qualified */
void rb_state_object(const rebuild *rb, shunt_buf *b, const char *what);
void rb_dir_init(rb_dir *d, rebuild *rb, bool forward, const char *from_name, const char *to_name);
void rb_dir_release(rb_dir *d);
/* Runs sql, or prints it in dry-run mode; 0 or -1. */
int rb_exec(rebuild *rb, const char *sql, shunt_error *err);

/* pg_rebuild_shadow.c */
/* Reads the live table and builds rb->spec; checks what the rebuild cannot
 * handle (partitions, inheritance, materialized views, no key). */
int rb_shadow_spec(rebuild *rb, shunt_error *err);
/* Creates the shadow, its key index and settings, the capture function and
 * trigger, in the current transaction. */
int rb_shadow_create(rebuild *rb, shunt_error *err);
/* Builds the indexes deferred until after the copy (idempotent). */
int rb_shadow_finish(rebuild *rb, shunt_error *err);
/* The capture function + trigger on dir's from table, logging into its log. */
int rb_capture_install(rebuild *rb, const rb_dir *d, shunt_error *err);
int rb_capture_remove(rebuild *rb, const char *table_name, shunt_error *err);

/* pg_rebuild_copy.c */
/* Applies up to limit captured changes (0: all, for use under the lock):
 * each changed key's shadow row is deleted and the current row, if any,
 * copied again; *applied is the number of log entries consumed. */
int rb_apply(rb_dir *d, long limit, long long *applied, shunt_error *err);
/* Copies the heap blocks that existed when capture began, in ranges of
 * blocks (a TID range scan: sequential reads, one short snapshot per
 * batch), applying captured changes between batches.  A row the copy meets
 * that a change already put in the shadow is skipped (ON CONFLICT DO
 * NOTHING): the version the copy sees is never newer than the applied one
 * without a later log entry that applies it again. */
int rb_copy(rb_dir *d, shunt_error *err);
/* Applies captured changes until fewer than `below` remain. */
int rb_drain(rb_dir *d, long long below, shunt_error *err);
/* Compares original and shadow chunk by chunk; copies differing chunks
 * again; fails when a chunk keeps differing. */
int rb_verify(rb_dir *d, shunt_error *err);
/* The name of the logical capture's slot (malloc'd). */
char *rb_slot_name(rebuild *rb);

/* Pulls the changes the logical slot holds now into the log table,
 * waiting up to timeout_ms for the first (no-op for trigger capture). */
int rb_capture_poll(rebuild *rb, const rb_dir *d, int timeout_ms, shunt_error *err);
/* Pulls every change committed before now: writes a marker and reads up to
 * it, failing after wait_ms.  The walsender decodes all WAL, the copy's
 * own too, so after a copy the stream can be far behind: catch up with a
 * long wait outside any lock (RB_CATCH_UP_MS), then a short one under it
 * (RB_LOCKED_SYNC_MS). */
int rb_capture_sync(rebuild *rb, const rb_dir *d, int wait_ms, shunt_error *err);
#define RB_CATCH_UP_MS (30 * 60 * 1000)
#define RB_LOCKED_SYNC_MS 10000
#define RB_CHUNK_SYNC_MS 60000
/* Pending log entries. */
int rb_log_count(rb_dir *d, long long *n, shunt_error *err);

/* pg_rebuild_swap.c */
/* The cut-over (forward) or the revert: one transaction through the lock
 * module.  *lock_ms is how long the exclusive lock was held. */
int rb_swap(rebuild *rb, bool forward, double *lock_ms, shunt_error *err);

#endif
