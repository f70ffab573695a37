/*
 * pg_lock.c: lock_timeout, retry, backoff and jitter; see pg_lock.h.
 */
#include "pg/pg_lock.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"
#include "pg/pg_exec.h"

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
pg_lock_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0) {
		if (errno != EINTR)
			return 0;
		return 1;
	}
	return 0;
}

/* Backoff for attempt n (1-based): 50 ms doubling to 5 s, times 0.5..1.5. */
static long
backoff_ms(int attempt)
{
	long base = 50;

	for (int i = 1; i < attempt && base < 5000; i++)
		base *= 2;
	if (base > 5000)
		base = 5000;
	return base / 2 + (long) (rand() % (base + 1));
}

static void
set_timeout(shunt_db *db, const char *name, int64_t ms, bool local, shunt_error *err)
{
	char value[32];
	const char *params[2];

	snprintf(value, sizeof(value), "%lld", (long long) ms);
	params[0] = name;
	params[1] = value;
	pg_exec_command(db, local ? "SELECT pg_catalog.set_config($1, $2, true)"
							  : "SELECT pg_catalog.set_config($1, $2, false)",
					2, params, err);
}

/*
 * Describes the sessions that hold locks on the target relations into b;
 * with kill_blockers, cancels (1) or terminates (2) them.
 */
static void
describe_blockers(shunt_db *db, const pg_lock_txn *t, shunt_buf *b)
{
	shunt_buf arr = SHUNT_BUF_INIT;
	const char *params[2];
	PGresult *res;
	shunt_error err;

	buf_reset(b);
	if (t == NULL || t->n_relations == 0)
		return;
	buf_init(&arr);
	buf_putc(&arr, '{');
	for (size_t i = 0; i < t->n_relations; i++) {
		if (i > 0)
			buf_putc(&arr, ',');
		buf_putc(&arr, '"');
		for (const char *p = t->relations[i]; *p; p++) {
			if (*p == '"' || *p == '\\')
				buf_putc(&arr, '\\');
			buf_putc(&arr, *p);
		}
		buf_putc(&arr, '"');
	}
	buf_putc(&arr, '}');
	params[0] = buf_str(&arr);
	params[1] = db->kill_blockers == 2 ? "terminate" : db->kill_blockers == 1 ? "cancel" : "none";
	res = pg_exec_params(db,
		"SELECT DISTINCT a.pid, coalesce(a.usename::text, ''), coalesce(a.application_name, ''), "
		"       coalesce(a.state, ''), "
		"       coalesce(extract(epoch FROM pg_catalog.now() - a.xact_start)::int, 0), "
		"       coalesce(pg_catalog.left(pg_catalog.regexp_replace(a.query, '\\s+', ' ', 'g'), 60), ''), "
		"       CASE $2 WHEN 'terminate' THEN pg_catalog.pg_terminate_backend(a.pid) "
		"               WHEN 'cancel' THEN pg_catalog.pg_cancel_backend(a.pid) END "
		"  FROM pg_catalog.pg_locks l "
		"  JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid "
		" WHERE l.relation = ANY (SELECT pg_catalog.to_regclass(r)::oid FROM pg_catalog.unnest($1::text[]) r) "
		"   AND l.pid <> pg_catalog.pg_backend_pid() AND l.granted",
		2, params, &err);
	buf_release(&arr);
	if (res == NULL)
		return;
	for (int i = 0; i < PQntuples(res); i++)
		buf_printf(b, "%spid %s (user %s, application \"%s\", %s, transaction open %ss: %s)%s",
				   i ? "; " : "", PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
				   PQgetvalue(res, i, 2), PQgetvalue(res, i, 3), PQgetvalue(res, i, 4),
				   PQgetvalue(res, i, 5),
				   db->kill_blockers == 2 ? " terminated" : db->kill_blockers == 1 ? " cancelled" : "");
	PQclear(res);
}

static int
run_attempt(shunt_db *db, const pg_lock_txn *t, shunt_error *err)
{
	if (pg_exec_command(db, "BEGIN", 0, NULL, err) != 0)
		return -1;
	set_timeout(db, "lock_timeout", db->lock_timeout_ms, true, err);
	for (size_t i = 0; i < t->n_sql; i++) {
		if (pg_exec_command(db, t->sql[i], 0, NULL, err) != 0)
			goto fail;
	}
	if (t->body != NULL && t->body(db, t->body_arg, err) != 0)
		goto fail;
	if (t->checkpoint_sql != NULL &&
		pg_exec_command(db, t->checkpoint_sql, t->n_checkpoint_params, t->checkpoint_params, err) != 0)
		goto fail;
	if (pg_exec_command(db, "COMMIT", 0, NULL, err) != 0)
		return -1;
	return 0;
fail:
	if (!pg_exec_connection_lost(db)) {
		shunt_error ignore;
		pg_exec_command(db, "ROLLBACK", 0, NULL, &ignore);
	}
	return -1;
}

/* The retry loop shared by both entry points. */
static int
retry_loop(shunt_db *db, const pg_lock_txn *t, const char *concurrent_sql,
		   const char *cleanup_sql, shunt_error *err)
{
	int64_t start = now_ms();
	shunt_buf blockers = SHUNT_BUF_INIT;
	const char *what = t ? t->what : "statement";
	int attempt = 0;
	int rc;

	buf_init(&blockers);
	/* A build interrupted before (a crash, a resumed phase) leaves an
	 * invalid index of the same name behind: clear it first. */
	if (concurrent_sql != NULL && cleanup_sql != NULL) {
		shunt_error ignore;

		pg_exec_command(db, cleanup_sql, 0, NULL, &ignore);
	}
	for (;;) {
		attempt++;
		if (concurrent_sql != NULL) {
			set_timeout(db, "lock_timeout", db->concurrent_timeout_ms, false, err);
			rc = pg_exec_command(db, concurrent_sql, 0, NULL, err);
			set_timeout(db, "lock_timeout", 0, false, &(shunt_error){ 0 });
		} else
			rc = run_attempt(db, t, err);
		if (rc == 0)
			break;
		if (!shunt_error_is_retryable(err) || pg_exec_connection_lost(db))
			break;
		describe_blockers(db, t, &blockers);
		if (now_ms() - start >= db->lock_retry_ms) {
			char sqlstate[6];

			memcpy(sqlstate, err->sqlstate, sizeof(sqlstate));
			shunt_error_set(err, SHUNT_E_LOCK_TIMEOUT,
							"gave up acquiring locks for %s after %d attempts in %lld ms", what,
							attempt, (long long) (now_ms() - start));
			memcpy(err->sqlstate, sqlstate, sizeof(sqlstate));
			if (blockers.len > 0)
				shunt_error_detail(err, "Blocked by %s.", buf_str(&blockers));
			shunt_error_hint(err, "Nothing was changed by the last attempt; run the command again once "
								  "the blocking transactions end, raise --lock-retry-total, or use "
								  "--kill-blockers=cancel.");
			break;
		}
		if (cleanup_sql != NULL) {
			shunt_error ignore;
			pg_exec_command(db, cleanup_sql, 0, NULL, &ignore);
		}
		log_info("%s: lock not available (attempt %d, %s)%s%s; retrying", what, attempt,
				 err->sqlstate, blockers.len ? ", held by " : "", buf_str(&blockers));
		{
			/* never sleep past the budget: the last attempt comes at
			 * its end, and --lock-retry-total means what it says */
			long sleep = backoff_ms(attempt);
			int64_t left = db->lock_retry_ms - (now_ms() - start);

			pg_lock_sleep_ms(left < sleep ? (left > 10 ? (long) left : 10) : sleep);
		}
	}
	buf_release(&blockers);
	return rc == 0 ? 0 : -1;
}

int
pg_lock_run(shunt_db *db, const pg_lock_txn *t, shunt_error *err)
{
	return retry_loop(db, t, NULL, NULL, err);
}

int
pg_lock_run_concurrent(shunt_db *db, const char *what, const char *sql,
					   const char *cleanup_sql, shunt_error *err)
{
	pg_lock_txn t = { 0 };

	t.what = what;
	return retry_loop(db, &t, sql, cleanup_sql, err);
}
