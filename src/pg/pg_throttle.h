/*
 * pg_throttle.h: when the backfill (and later the rebuild's copy) must wait.
 *
 * Before each batch the engine asks the throttle, which at most twice a
 * second looks at:
 *   - the operator: `shunt pause` / `shunt resume` / `shunt tune`, state in
 *     the state schema's control table, so any terminal on any machine can
 *     steer a running job;
 *   - replicas: the time each streaming replica is behind, estimated from
 *     the primary's WAL positions sampled here (pg_stat_replication's
 *     replay_lag stops moving while replay is stuck), against
 *     --max-replica-lag;
 *   - replication slots: WAL an active slot retains, against
 *     --max-slot-lag (inactive ones, which may be abandoned, are named in
 *     a warning once but never make the job wait);
 *   - vacuum: a (auto)vacuum working on the table itself; the backfill
 *     makes dead tuples and should let it finish rather than race it.
 * It blocks while any of them says so and reports why, on stderr and in the
 * backfills row that `shunt status` shows.
 */
#ifndef SHUNT_PG_THROTTLE_H
#define SHUNT_PG_THROTTLE_H

#include <stdbool.h>
#include <stdint.h>

#include "pg/pg_conn.h"

#define THROTTLE_SAMPLES 256

typedef struct pg_throttle {
	shunt_db *db;
	const char *app_schema;       /* key of the control row */
	const char *table_q;          /* quoted table, for the vacuum check */
	int64_t max_replica_lag_ms;   /* 0: ignore replicas */
	int64_t max_slot_lag_bytes;   /* 0: ignore slots */
	bool vacuum_pause;
	int64_t max_vacuum_wait_ms;   /* stop waiting for one vacuum after this long */
	/* set by the operator with shunt tune; 0: as on the command line */
	double tuned_rows_per_second;
	int tuned_batch_size;
	/* internal */
	int64_t last_check_ms;
	int64_t vacuum_since_ms;
	struct {
		int64_t t_ms;
		uint64_t lsn;
	} samples[THROTTLE_SAMPLES];
	int n_samples;
	int next_sample;
	char last_reason[256];
	bool warned_inactive_slots;
	/* a slot the job itself reads (the rebuild's logical capture): its lag
	 * is the job's own to catch up, never a reason to wait */
	char own_slot[64];
} pg_throttle;

void pg_throttle_init(pg_throttle *t, shunt_db *db, const char *app_schema, const char *table_q);

/*
 * Returns once nothing asks the job to wait; *reason_out (may be NULL) is
 * set to a description of the last wait, "" if none.  Calls report(arg,
 * reason) when a wait begins, changes or ends (reason "") so the caller can
 * record it.  0, or -1 with err on a database error or when SIGINT/SIGTERM
 * arrived (SHUNT_E_CANCELLED, see core/interrupt.h).
 */
int pg_throttle_wait(pg_throttle *t, void (*report)(void *arg, const char *reason), void *arg,
					 shunt_error *err);

/* Sets the operator's pause flag or tuning for app_schema (shunt pause,
 * resume, tune).  rate < 0 / batch < 0 leave that value unchanged; 0 clears it. */
int pg_throttle_control(shunt_db *db, const char *app_schema, int pause, double rate, int batch,
						shunt_error *err);

#endif
