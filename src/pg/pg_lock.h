/*
 * pg_lock.h: the one path every DDL statement takes.
 *
 * DDL that needs a strong table lock runs in a short transaction whose
 * statements are bounded by lock_timeout (--lock-timeout, default 500 ms), so
 * application queries never queue behind shunt's own lock wait for longer
 * than that.  A lock timeout, deadlock or serialisation failure rolls the
 * attempt back and retries after an exponential backoff with jitter, up to
 * db->lock_retry_ms in total (pg_repack's retry loop, without its growing
 * per-attempt timeout: the per-attempt bound is the promise made to the
 * application).  Between attempts the sessions holding locks on the target
 * tables are named; cancelling or terminating them is opt-in.
 */
#ifndef SHUNT_PG_LOCK_H
#define SHUNT_PG_LOCK_H

#include <stddef.h>

#include "pg/pg_conn.h"

typedef struct pg_lock_txn {
	const char *what;              /* for messages: "complete of 03_add_column" */
	const char *const *sql;        /* statements, run in order in one transaction */
	size_t n_sql;
	const char *checkpoint_sql;    /* optional, run last in the same transaction */
	int n_checkpoint_params;
	const char *const *checkpoint_params;
	const char *const *relations;  /* optional "schema.table" regclass texts (quoted) */
	size_t n_relations;
	/* optional, run after sql[] and before the checkpoint, in the same
	 * transaction: statements that depend on what the locked catalog says
	 * (the rebuild's cut-over); its failure rolls the attempt back */
	int (*body)(shunt_db *db, void *arg, shunt_error *err);
	void *body_arg;
} pg_lock_txn;

/*
 * Runs t under the lock module's retry loop.  Expects no open transaction;
 * leaves none.  Returns 0, or -1 with err (SHUNT_E_LOCK_TIMEOUT when the
 * retry budget ran out, with the blockers last seen in the detail).
 */
int pg_lock_run(shunt_db *db, const pg_lock_txn *t, shunt_error *err);

/*
 * Runs one statement that cannot run in a transaction block (CREATE INDEX
 * CONCURRENTLY, ...) or that waits on old snapshots rather than on the lock
 * queue (VALIDATE CONSTRAINT).  Its lock wait is bounded by
 * db->concurrent_timeout_ms (0: no bound); a retryable failure runs
 * cleanup_sql first (for example dropping the invalid index a failed
 * concurrent build leaves behind), then retries like pg_lock_run.
 */
int pg_lock_run_concurrent(shunt_db *db, const char *what, const char *sql,
						   const char *cleanup_sql, shunt_error *err);

/* Sleeps ms milliseconds; returns early (and true) when interrupted. */
int pg_lock_sleep_ms(long ms);

#endif
