/*
 * pg_throttle.c: operator control, replica lag, slot lag and vacuum; see
 * pg_throttle.h.
 */
#include "pg/pg_throttle.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/interrupt.h"
#include "core/log.h"
#include "pg/pg_exec.h"
#include "pg/pg_lock.h"

#define CHECK_INTERVAL_MS 500

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
pg_throttle_init(pg_throttle *t, shunt_db *db, const char *app_schema, const char *table_q)
{
	memset(t, 0, sizeof(*t));
	t->db = db;
	t->app_schema = app_schema;
	t->table_q = table_q;
	t->vacuum_pause = true;
	t->max_vacuum_wait_ms = 10 * 60 * 1000;
}

static uint64_t
parse_lsn(const char *s)
{
	unsigned int hi = 0, lo = 0;

	if (s == NULL || sscanf(s, "%X/%X", &hi, &lo) != 2)
		return 0;
	return ((uint64_t) hi << 32) | lo;
}

/* The time the slowest replica is behind: now minus the time of the oldest
 * sample of our own WAL position that it has not replayed yet. */
static int64_t
replica_lag_ms(pg_throttle *t, uint64_t current, uint64_t min_replay, int64_t now)
{
	int64_t oldest = now;

	if (t->n_samples == 0 || (t->samples[(t->next_sample + THROTTLE_SAMPLES - 1) % THROTTLE_SAMPLES].lsn != current)) {
		t->samples[t->next_sample].t_ms = now;
		t->samples[t->next_sample].lsn = current;
		t->next_sample = (t->next_sample + 1) % THROTTLE_SAMPLES;
		if (t->n_samples < THROTTLE_SAMPLES)
			t->n_samples++;
	}
	if (min_replay >= current)
		return 0;
	for (int i = 0; i < t->n_samples; i++) {
		int idx = (t->next_sample - t->n_samples + i + THROTTLE_SAMPLES) % THROTTLE_SAMPLES;

		/* the first sample beyond what the replica replayed */
		if (t->samples[idx].lsn > min_replay) {
			/* the WAL between the previous sample and this one was written
			 * after the previous sample's time */
			int prev = (idx + THROTTLE_SAMPLES - 1) % THROTTLE_SAMPLES;

			oldest = i > 0 ? t->samples[prev].t_ms : t->samples[idx].t_ms;
			break;
		}
	}
	return now - oldest;
}

/* One look at every signal; fills reason ("" when nothing says wait). */
static int
check(pg_throttle *t, char *reason, size_t size, shunt_error *err)
{
	char max_slot[32];
	const char *params[4] = { t->app_schema, t->table_q, max_slot, t->own_slot };
	shunt_buf sql = SHUNT_BUF_INIT;
	PGresult *res;
	int64_t now = now_ms();
	int rc = -1;

	reason[0] = '\0';
	snprintf(max_slot, sizeof(max_slot), "%lld", (long long) t->max_slot_lag_bytes);
	buf_init(&sql);
	/* one round trip for everything */
	buf_printf(&sql,
		"SELECT (SELECT coalesce(paused_by, '?') || ' since ' || "
		"               coalesce(pg_catalog.to_char(paused_at, 'HH24:MI:SS'), '?') "
		"          FROM %s.control WHERE schema = $1 AND paused), "
		"       (SELECT max_rows_per_second FROM %s.control WHERE schema = $1), "
		"       (SELECT batch_size FROM %s.control WHERE schema = $1), "
		"       CASE WHEN pg_catalog.pg_is_in_recovery() THEN NULL ELSE pg_catalog.pg_current_wal_lsn()::text END, "
		"       (SELECT min(replay_lsn)::text FROM pg_catalog.pg_stat_replication WHERE replay_lsn IS NOT NULL), "
		"       (SELECT pg_catalog.count(*) FROM pg_catalog.pg_stat_replication), "
		"       (SELECT max(pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), restart_lsn))::bigint "
		"          FROM pg_catalog.pg_replication_slots WHERE restart_lsn IS NOT NULL AND active "
		"           AND slot_name <> $4), "
		"       (SELECT slot_name FROM pg_catalog.pg_replication_slots WHERE restart_lsn IS NOT NULL AND active "
		"           AND slot_name <> $4 ORDER BY restart_lsn LIMIT 1), "
		"       (SELECT pg_catalog.count(*) FROM pg_catalog.pg_stat_progress_vacuum "
		"         WHERE relid = pg_catalog.to_regclass($2)), "
		"       (SELECT pg_catalog.string_agg(pg_catalog.format('\"%%s\" (%%s MB)', slot_name, "
		"               pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), restart_lsn)::bigint / 1048576), "
		"               ', ' ORDER BY slot_name) "
		"          FROM pg_catalog.pg_replication_slots WHERE restart_lsn IS NOT NULL AND NOT active "
		"           AND $3::bigint > 0 "
		"           AND pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), restart_lsn) > $3::bigint) ",
		t->db->state_q, t->db->state_q, t->db->state_q);
	res = pg_exec_params(t->db, buf_str(&sql), 4, params, err);
	buf_release(&sql);
	if (res == NULL)
		return -1;
	t->tuned_rows_per_second = PQgetisnull(res, 0, 1) ? 0 : strtod(PQgetvalue(res, 0, 1), NULL);
	t->tuned_batch_size = PQgetisnull(res, 0, 2) ? 0 : (int) strtol(PQgetvalue(res, 0, 2), NULL, 10);
	if (!PQgetisnull(res, 0, 0)) {
		snprintf(reason, size, "paused by the operator %s (shunt resume continues)", PQgetvalue(res, 0, 0));
		rc = 0;
		goto done;
	}
	if (t->max_replica_lag_ms > 0 && !PQgetisnull(res, 0, 3) && !PQgetisnull(res, 0, 4)) {
		int64_t lag = replica_lag_ms(t, parse_lsn(PQgetvalue(res, 0, 3)), parse_lsn(PQgetvalue(res, 0, 4)), now);

		if (lag > t->max_replica_lag_ms) {
			snprintf(reason, size, "a replica is %.1f s behind (--max-replica-lag %.1f s)", (double) lag / 1000.0,
					 (double) t->max_replica_lag_ms / 1000.0);
			rc = 0;
			goto done;
		}
	}
	/* An inactive slot (no consumer connected) only counts once its
	 * consumer is back: an abandoned one would stop the backfill for good.
	 * Said once, since it retains WAL whatever the backfill does. */
	if (!PQgetisnull(res, 0, 9) && !t->warned_inactive_slots) {
		log_warning("inactive replication slots retain more WAL than --max-slot-lag: %s; the backfill does "
					"not wait for them (drop a slot that is no longer used)", PQgetvalue(res, 0, 9));
		t->warned_inactive_slots = true;
	}
	if (t->max_slot_lag_bytes > 0 && !PQgetisnull(res, 0, 6)) {
		long long retained = atoll(PQgetvalue(res, 0, 6));

		if (retained > t->max_slot_lag_bytes) {
			snprintf(reason, size, "replication slot \"%s\" retains %lld MB of WAL (--max-slot-lag %lld MB)",
					 PQgetvalue(res, 0, 7), retained / (1024 * 1024),
					 (long long) (t->max_slot_lag_bytes / (1024 * 1024)));
			rc = 0;
			goto done;
		}
	}
	if (t->vacuum_pause && atoll(PQgetvalue(res, 0, 8)) > 0) {
		if (t->vacuum_since_ms == 0)
			t->vacuum_since_ms = now;
		if (now - t->vacuum_since_ms < t->max_vacuum_wait_ms) {
			snprintf(reason, size, "a vacuum is working on %s", t->table_q);
			rc = 0;
			goto done;
		}
	} else
		t->vacuum_since_ms = 0;
	rc = 0;
done:
	PQclear(res);
	return rc;
}

int
pg_throttle_wait(pg_throttle *t, void (*report)(void *arg, const char *reason), void *arg,
				 shunt_error *err)
{
	char reason[256];
	int64_t last_log = 0;

	if (now_ms() - t->last_check_ms < CHECK_INTERVAL_MS)
		return 0;
	for (;;) {
		t->last_check_ms = now_ms();
		if (check(t, reason, sizeof(reason), err) != 0)
			return -1;
		if (strcmp(reason, t->last_reason) != 0) {
			if (reason[0] != '\0')
				log_info("waiting: %s", reason);
			else
				log_info("continuing");
			if (report)
				report(arg, reason);
			snprintf(t->last_reason, sizeof(t->last_reason), "%s", reason);
			last_log = now_ms();
		} else if (reason[0] != '\0' && now_ms() - last_log > 10000) {
			log_info("still waiting: %s", reason);
			last_log = now_ms();
		}
		if (reason[0] == '\0')
			return 0;
		/* waiting holds nothing: a signal can stop it at once */
		if (interrupt_sleep_ms(CHECK_INTERVAL_MS))
			return interrupt_error(err);
	}
}

int
pg_throttle_control(shunt_db *db, const char *app_schema, int pause, double rate, int batch,
					shunt_error *err)
{
	shunt_buf ins = SHUNT_BUF_INIT, upd = SHUNT_BUF_INIT;
	char p[8], r[64], bs[32];
	const char *params[4] = { app_schema, p, r, bs };
	int rc;

	snprintf(p, sizeof(p), "%d", pause);
	snprintf(r, sizeof(r), "%.17g", rate);
	snprintf(bs, sizeof(bs), "%d", batch);
	buf_init(&ins);
	buf_init(&upd);
	buf_printf(&ins, "INSERT INTO %s.control AS c (schema) VALUES ($1) ON CONFLICT (schema) DO NOTHING",
			   db->state_q);
	/* pause: 1 pause, 0 resume, -1 unchanged; rate/batch: < 0 unchanged, 0 clear */
	buf_printf(&upd,
		"UPDATE %s.control SET "
		"  paused = CASE $2::int WHEN 1 THEN true WHEN 0 THEN false ELSE paused END, "
		"  paused_by = CASE $2::int WHEN 1 THEN CURRENT_USER || '@' || "
		"      coalesce(pg_catalog.inet_client_addr()::text, 'local') WHEN 0 THEN NULL ELSE paused_by END, "
		"  paused_at = CASE $2::int WHEN 1 THEN pg_catalog.now() WHEN 0 THEN NULL ELSE paused_at END, "
		"  max_rows_per_second = CASE WHEN $3::float8 < 0 THEN max_rows_per_second "
		"      WHEN $3::float8 = 0 THEN NULL ELSE $3::float8 END, "
		"  batch_size = CASE WHEN $4::int < 0 THEN batch_size WHEN $4::int = 0 THEN NULL ELSE $4::int END "
		"WHERE schema = $1",
		db->state_q);
	/* two statements, each with its parameters, in one transaction */
	rc = pg_exec_command(db, "BEGIN", 0, NULL, err);
	if (rc == 0)
		rc = pg_exec_command(db, buf_str(&ins), 1, params, err);
	if (rc == 0)
		rc = pg_exec_command(db, buf_str(&upd), 4, params, err);
	if (rc == 0)
		rc = pg_exec_command(db, "COMMIT", 0, NULL, err);
	else {
		shunt_error ignore;

		pg_exec_command(db, "ROLLBACK", 0, NULL, &ignore);
	}
	buf_release(&ins);
	buf_release(&upd);
	return rc;
}
