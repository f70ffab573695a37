/*
 * pg_rebuild_copy.c: the rebuild's copy, change apply and verification;
 * see pg_rebuild_int.h.
 *
 * Correctness rests on one rule: every write to the live table after
 * capture began leaves its key in the log (the trigger's insert commits
 * with the write), and applying a key makes the shadow row equal to the
 * live row as of that moment.  So the copy may see any version of a row:
 * if the row changed after the copy's snapshot, its key is in the log and
 * is applied later.  Applying twice, or before the copy reached the row,
 * is harmless.
 */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/backfill.h"
#include "core/fault.h"
#include "core/interrupt.h"
#include "core/log.h"
#include "pg/pg_exec.h"
#include "pg/pg_lock.h"
#include "pg/pg_rebuild_int.h"
#include "pg/pg_throttle.h"

static const char *
key_type(const rb_dir *d, size_t i, bool from)
{
	json_t *k = json_array_get(json_object_get(d->rb->spec, "key"), i);

	return json_string_value(json_object_get(k, from == d->forward ? "src_type" : "dst_type"));
}

static bool
is_int_type(const char *t)
{
	return strcmp(t, "smallint") == 0 || strcmp(t, "integer") == 0 || strcmp(t, "bigint") == 0;
}

/*
 * "t.k = CAST(k.k AS type)" for key column i: a logged key (in the source's
 * type) against the target table.  Between integer types the comparison
 * needs no cast (the cross-type operators use the index) and must not
 * have one: a reverse log can hold a bigint key the old int table cannot
 * store, and a cast would fail the whole apply long after that row is gone.
 */
static void
put_key_match(const rb_dir *d, shunt_buf *b, size_t i, const char *target, const char *logged)
{
	const char *name = rb_key_name(d->rb, i);

	buf_printf(b, "%s.", target);
	pg_put_ident(d->rb->db, b, name);
	if (is_int_type(key_type(d, i, false)) && is_int_type(key_type(d, i, true))) {
		buf_printf(b, " = %s.", logged);
		pg_put_ident(d->rb->db, b, name);
		return;
	}
	buf_printf(b, " = CAST(%s.", logged);
	pg_put_ident(d->rb->db, b, name);
	buf_printf(b, " AS %s)", key_type(d, i, false));
}

/* "a, b, c": the copied columns */
static void
put_columns(const rb_dir *d, shunt_buf *b)
{
	json_t *c;
	size_t i;

	json_array_foreach(json_object_get(d->rb->spec, "columns"), i, c) {
		buf_put(b, i ? ", " : "");
		pg_put_ident(d->rb->db, b, json_string_value(json_object_get(c, "name")));
	}
}

/* "x.a, CAST(x.b AS bigint), ...": the copied columns of from, as to's
 * types */
static void
put_select(const rb_dir *d, shunt_buf *b, const char *alias, bool cast)
{
	json_t *c;
	size_t i;

	json_array_foreach(json_object_get(d->rb->spec, "columns"), i, c) {
		const char *src = json_string_value(json_object_get(c, "src_type"));
		const char *dst = json_string_value(json_object_get(c, "dst_type"));
		bool differs = strcmp(src, dst) != 0;

		buf_put(b, i ? ", " : "");
		if (cast && differs)
			buf_put(b, "CAST(");
		buf_printf(b, "%s.", alias);
		pg_put_ident(d->rb->db, b, json_string_value(json_object_get(c, "name")));
		if (cast && differs)
			buf_printf(b, " AS %s)", d->forward ? dst : src);
	}
}

/* "(x.k1, x.k2)" */
static void
put_key(const rb_dir *d, shunt_buf *b, const char *alias)
{
	json_t *k;
	size_t i;

	buf_putc(b, '(');
	json_array_foreach(json_object_get(d->rb->spec, "key"), i, k) {
		buf_put(b, i ? ", " : "");
		if (alias)
			buf_printf(b, "%s.", alias);
		pg_put_ident(d->rb->db, b, json_string_value(json_object_get(k, "name")));
	}
	buf_putc(b, ')');
}

int
rb_log_count(rb_dir *d, long long *n, shunt_error *err)
{
	shunt_buf sql = SHUNT_BUF_INIT;
	char *v;

	buf_init(&sql);
	buf_printf(&sql, "SELECT pg_catalog.count(*) FROM %s", buf_str(&d->log_q));
	v = pg_query_value(d->rb->db, buf_str(&sql), 0, NULL, err);
	buf_release(&sql);
	if (v == NULL)
		return -1;
	*n = atoll(v);
	free(v);
	return 0;
}

/* One apply in the current transaction; see rb_apply. */
static int
apply_once(rb_dir *d, long limit, long long *applied, shunt_error *err)
{
	rebuild *rb = d->rb;
	size_t n = rb_nkey(rb);
	shunt_buf sql = SHUNT_BUF_INIT;
	const char **params = shunt_xcalloc(n + 1, sizeof(char *));
	char lim[32];
	PGresult *res = NULL;
	long long keys;
	int rc = -1;

	buf_init(&sql);
	/* the keys logged, oldest first, deleted from the log as they are
	 * taken (only committed entries are visible: a change still in
	 * flight stays for a later apply) */
	buf_printf(&sql, "WITH d AS (DELETE FROM %s WHERE ", buf_str(&d->log_q));
	if (limit > 0) {
		snprintf(lim, sizeof(lim), "%ld", limit);
		buf_printf(&sql, "_shunt_seq = ANY (ARRAY(SELECT _shunt_seq FROM %s ORDER BY _shunt_seq LIMIT $1)) ",
				   buf_str(&d->log_q));
	} else
		buf_put(&sql, "true ");
	buf_put(&sql, "RETURNING ");
	for (size_t i = 0; i < n; i++) {
		buf_put(&sql, i ? ", " : "");
		pg_put_ident(rb->db, &sql, rb_key_name(rb, i));
	}
	buf_put(&sql, "), k AS (SELECT DISTINCT * FROM d) SELECT (SELECT pg_catalog.count(*) FROM d), "
				  "(SELECT pg_catalog.count(*) FROM k)");
	for (size_t i = 0; i < n; i++) {
		buf_put(&sql, ", (SELECT pg_catalog.array_agg(k.");
		pg_put_ident(rb->db, &sql, rb_key_name(rb, i));
		buf_put(&sql, "::text ORDER BY ");
		put_key(d, &sql, "k");
		buf_put(&sql, ") FROM k)");
	}
	params[0] = lim;
	res = pg_exec_params(rb->db, buf_str(&sql), limit > 0 ? 1 : 0, params, err);
	if (res == NULL)
		goto done;
	*applied = atoll(PQgetvalue(res, 0, 0));
	keys = atoll(PQgetvalue(res, 0, 1));
	if (keys > 0) {
		/* the keys as a parameter, not a join with the log: joined, the
		 * planner (no statistics on the log) may hash the whole shadow
		 * for every apply, which made the copy slow down as it grew */
		for (size_t i = 0; i < n; i++)
			params[i] = PQgetvalue(res, 0, 2 + (int) i);
		buf_reset(&sql);
		buf_printf(&sql, "DELETE FROM %s t USING pg_catalog.unnest(", buf_str(&d->to_q));
		for (size_t i = 0; i < n; i++)
			buf_printf(&sql, "%s$%zu::%s[]", i ? ", " : "", i + 1, key_type(d, i, true));
		buf_put(&sql, ") AS k(");
		for (size_t i = 0; i < n; i++) {
			buf_put(&sql, i ? ", " : "");
			pg_put_ident(rb->db, &sql, rb_key_name(rb, i));
		}
		buf_put(&sql, ") WHERE ");
		for (size_t i = 0; i < n; i++) {
			buf_put(&sql, i ? " AND " : "");
			put_key_match(d, &sql, i, "t", "k");
		}
		if (pg_exec_command(rb->db, buf_str(&sql), (int) n, params, err) != 0)
			goto done;
		/* the current rows of those keys, as they are now */
		buf_reset(&sql);
		buf_printf(&sql, "INSERT INTO %s (", buf_str(&d->to_q));
		put_columns(d, &sql);
		buf_put(&sql, ") OVERRIDING SYSTEM VALUE SELECT ");
		put_select(d, &sql, "x", true);
		buf_printf(&sql, " FROM %s x WHERE ", buf_str(&d->from_q));
		put_key(d, &sql, "x");
		buf_put(&sql, " IN (SELECT * FROM pg_catalog.unnest(");
		for (size_t i = 0; i < n; i++)
			buf_printf(&sql, "%s$%zu::%s[]", i ? ", " : "", i + 1, key_type(d, i, true));
		buf_put(&sql, "))");
		if (pg_exec_command(rb->db, buf_str(&sql), (int) n, params, err) != 0)
			goto done;
	}
	rc = 0;
done:
	PQclear(res);
	buf_release(&sql);
	free(params);
	return rc;
}

static int
exec_simple(shunt_db *db, const char *sql, shunt_error *err)
{
	return pg_exec_command(db, sql, 0, NULL, err);
}

int
rb_apply(rb_dir *d, long limit, long long *applied, shunt_error *err)
{
	rebuild *rb = d->rb;
	bool in_txn = PQtransactionStatus(rb->db->conn) != PQTRANS_IDLE;

	*applied = 0;
	if (in_txn)
		return apply_once(d, limit, applied, err);
	for (int attempt = 0;; attempt++) {
		shunt_error ignore;

		if (exec_simple(rb->db, "BEGIN", err) != 0)
			return -1;
		if (apply_once(d, limit, applied, err) == 0 && exec_simple(rb->db, "COMMIT", err) == 0)
			return 0;
		if (!pg_exec_connection_lost(rb->db))
			exec_simple(rb->db, "ROLLBACK", &ignore);
		/* a unique index other than the key can see a row of this batch
		 * collide with a stale row whose change is later in the log:
		 * apply the whole log at once, where the live table's own
		 * uniqueness holds */
		if (strcmp(err->sqlstate, "23505") == 0 && limit > 0 && attempt == 0) {
			limit = 0;
			continue;
		}
		if (shunt_error_is_retryable(err) && attempt < 5) {
			pg_lock_sleep_ms(50L << attempt);
			continue;
		}
		shunt_error_add_context(err, "while applying captured changes to %s", buf_str(&d->to_q));
		return -1;
	}
}

int
rb_drain(rb_dir *d, long long below, shunt_error *err)
{
	for (;;) {
		long long applied, pending;

		if (interrupt_requested())
			return interrupt_error(err);
		if (rb_capture_poll(d->rb, d, 0, err) != 0)
			return -1;
		if (rb_log_count(d, &pending, err) != 0)
			return -1;
		if (pending < below)
			return 0;
		if (rb_apply(d, 20000, &applied, err) != 0)
			return -1;
	}
}

static void
report(rebuild *rb, bool final)
{
	double secs = (double) (rb_now_ms() - rb->started_ms) / 1000.0;
	long long total = rb->end_block > 0 ? rb->end_block : 1;
	double pct = 100.0 * (double) rb->next_block / (double) total;
	double rate = secs > 0 ? (double) rb->rows_done / secs : 0;
	double eta = pct > 0 && pct < 100 ? secs * (100.0 - pct) / pct : 0;

	if (pct > 100)
		pct = 100;
	if (final) {
		if (rb->o->copy.progress_bar)
			fprintf(stderr, "\r\033[K");
		log_info("rebuild: copied %lld rows in %.1f s", rb->rows_done, secs);
		return;
	}
	if (rb->o->copy.progress_bar) {
		char bar[31];
		int filled = (int) (pct * 30 / 100);

		for (int i = 0; i < 30; i++)
			bar[i] = i < filled ? '#' : '.';
		bar[30] = '\0';
		fprintf(stderr, "\r\033[Kcopy [%s] %5.1f%% %lld rows %.0f rows/s ETA %.0fs%s%s", bar, pct,
				rb->rows_done, rate, eta, rb->waiting[0] ? " waiting: " : "", rb->waiting);
		fflush(stderr);
		return;
	}
	log_info("rebuild: copy %.0f%% (%lld rows, %.0f rows/s, ETA %.0f s)%s%s", pct, rb->rows_done, rate, eta,
			 rb->waiting[0] ? ", waiting: " : "", rb->waiting);
}

static void
on_wait(void *arg, const char *reason)
{
	rebuild *rb = arg;
	const char *params[2] = { rb->id_text, reason[0] ? reason : NULL };
	shunt_buf sql = SHUNT_BUF_INIT;
	shunt_error ignore;

	snprintf(rb->waiting, sizeof(rb->waiting), "%s", reason);
	if (reason[0])
		log_info("rebuild: waiting: %s", reason);
	buf_init(&sql);
	buf_printf(&sql, "UPDATE %s.rebuilds SET waiting_reason = $2, updated_at = pg_catalog.now() WHERE id = $1::bigint",
			   rb->db->state_q);
	pg_exec_command(rb->db, buf_str(&sql), 2, params, &ignore);
	buf_release(&sql);
}

int
rb_copy(rb_dir *d, shunt_error *err)
{
	rebuild *rb = d->rb;
	const pg_backfill_opts *o = &rb->o->copy;
	shunt_buf sql = SHUNT_BUF_INIT, plain = SHUNT_BUF_INIT;
	long conflicts = 0;
	backfill_sizer sizer;
	pg_throttle th;
	double rows_per_block = 50;
	int64_t pass_start = rb_now_ms();
	long long pass_rows = 0;
	int rc = -1;
	char *est;

	buf_init(&sql);
	buf_init(&plain);
	{
		const char *p[1] = { buf_str(&d->from_q) };

		est = pg_query_value(rb->db,
			"SELECT CASE WHEN relpages > 0 AND reltuples > 0 THEN reltuples / relpages END "
			"  FROM pg_catalog.pg_class WHERE oid = $1::regclass", 1, p, err);
		if (est != NULL && atof(est) >= 1)
			rows_per_block = atof(est);
		free(est);
	}
	backfill_sizer_init(&sizer, o->batch_size, o->target_batch_ms);
	sizer.max = 200000;
	pg_throttle_init(&th, rb->db, rb->schema, buf_str(&d->from_q));
	th.max_replica_lag_ms = o->max_replica_lag_ms;
	th.max_slot_lag_bytes = o->max_slot_lag_bytes;
	/* the copy only reads the table and leaves it no dead rows: a vacuum
	 * of it (autovacuum's first pass on a fresh table takes seconds) is
	 * no reason to wait */
	th.vacuum_pause = false;
	if (rb->logical != NULL) {
		char *slot = rb_slot_name(rb);

		snprintf(th.own_slot, sizeof(th.own_slot), "%s", slot);
		free(slot);
	}

	/*
	 * $1, $2: the block range; $3: the next position; $4: the rebuild.
	 * Rows already in the shadow are skipped (a row updated during the
	 * copy can move to a later block, and applied changes insert rows
	 * ahead of the copy).  ON CONFLICT (key) DO NOTHING would do it with a
	 * speculative insertion per row (1M rows: 2.9 s against 1.3 s for a
	 * plain INSERT); an anti-join does it for an index probe.  The ON
	 * CONFLICT form stays as the fallback should a batch still meet a
	 * duplicate key.  The key only: a row another unique index (added by
	 * --alter) rejects must fail the copy, not vanish.
	 */
	for (int form = 0; form < 2; form++) {
		shunt_buf *b = form == 0 ? &plain : &sql;

		buf_printf(b, "WITH c AS (INSERT INTO %s (", buf_str(&d->to_q));
		put_columns(d, b);
		buf_put(b, ") OVERRIDING SYSTEM VALUE SELECT ");
		put_select(d, b, "x", true);
		buf_printf(b, " FROM %s x WHERE x.ctid >= pg_catalog.format('(%%s,0)', $1::bigint)::tid "
					  "AND x.ctid < pg_catalog.format('(%%s,0)', $2::bigint)::tid",
				   buf_str(&d->from_q));
		if (form == 0) {
			/* rows already there: nothing but this session writes the
			 * shadow, so the anti-join is exact; an index probe per row
			 * costs far less than a speculative insertion */
			buf_printf(b, " AND NOT EXISTS (SELECT 1 FROM %s s WHERE ", buf_str(&d->to_q));
			for (size_t i = 0; i < rb_nkey(rb); i++) {
				buf_put(b, i ? " AND " : "");
				put_key_match(d, b, i, "s", "x");
			}
			buf_putc(b, ')');
		}
		if (form == 1) {
			buf_put(b, " ON CONFLICT ");
			put_key(d, b, NULL);
			buf_put(b, " DO NOTHING");
		}
		buf_put(b, " RETURNING 1), ");
		buf_printf(b, "cp AS (UPDATE %s.rebuilds SET rows_done = rows_done + (SELECT pg_catalog.count(*) FROM c), "
					  "copy_next_block = $3::bigint, updated_at = pg_catalog.now() WHERE id = $4::bigint RETURNING 1) "
					  "SELECT (SELECT pg_catalog.count(*) FROM c), (SELECT pg_catalog.count(*) FROM cp)",
				   rb->db->state_q);
	}

	/* The anti-join must probe the shadow's key index row by row: once
	 * the source has statistics the planner prefers hashing the whole
	 * shadow for every batch, which makes the copy quadratic (1M rows:
	 * 6.4 s against 2.2 s).  For this session, during the copy only. */
	if (exec_simple(rb->db, "SET enable_hashjoin = off", err) != 0 ||
		exec_simple(rb->db, "SET enable_mergejoin = off", err) != 0)
		goto done;
	while (rb->next_block < rb->end_block) {
		char lo[32], hi[32];
		const char *params[4] = { lo, hi, hi, rb->id_text };
		long long applied, copied;
		long blocks;
		int64_t t0;
		double rate;
		PGresult *res;

		if (interrupt_requested()) {
			interrupt_error(err);
			goto done;
		}
		if (pg_throttle_wait(&th, on_wait, rb, err) != 0)
			goto done;
		sizer.fixed = th.tuned_batch_size > 0 ? th.tuned_batch_size : o->batch_size;
		if (o->batch_delay_ms > 0)
			pg_lock_sleep_ms((long) o->batch_delay_ms);
		rate = th.tuned_rows_per_second > 0 ? th.tuned_rows_per_second : o->max_rows_per_second;
		if (rate > 0) {
			double min_ms = 1000.0 * (double) pass_rows / rate;
			int64_t spent = rb_now_ms() - pass_start;

			if (min_ms > (double) spent)
				pg_lock_sleep_ms((long) (min_ms - (double) spent));
		}
		/* changes first, so the log stays short while the copy runs */
		if (rb_capture_poll(rb, d, 0, err) != 0 || rb_apply(d, 20000, &applied, err) != 0)
			goto done;

		blocks = (long) ((double) backfill_sizer_next(&sizer) / rows_per_block);
		if (blocks < 1)
			blocks = 1;
		if (rb->next_block + blocks > rb->end_block)
			blocks = (long) (rb->end_block - rb->next_block);
		snprintf(lo, sizeof(lo), "%lld", rb->next_block);
		snprintf(hi, sizeof(hi), "%lld", rb->next_block + blocks);
		t0 = rb_now_ms();
		res = pg_exec_params(rb->db, buf_str(&plain), 4, params, err);
		if (res == NULL && strcmp(err->sqlstate, "23505") == 0 && !pg_exec_connection_lost(rb->db)) {
			conflicts++;
			res = pg_exec_params(rb->db, buf_str(&sql), 4, params, err);
		}
		if (res == NULL) {
			shunt_error_add_context(err, "while copying blocks %s to %s of %s", lo, hi, buf_str(&d->from_q));
			goto done;
		}
		copied = atoll(PQgetvalue(res, 0, 0));
		PQclear(res);
		rb->next_block += blocks;
		rb->rows_done += copied;
		pass_rows += copied;
		/* sized in rows: a block holds rows_per_block on average */
		backfill_sizer_observe(&sizer, (int) ((double) blocks * rows_per_block), rb_now_ms() - t0);
		fault_point("rebuild:after-batch:%d", ++rb->batches);
		if (o->progress && rb_now_ms() - rb->last_report_ms >= (o->progress_bar ? 250 : 5000)) {
			report(rb, false);
			rb->last_report_ms = rb_now_ms();
		}
	}
	if (o->progress)
		report(rb, true);
	if (conflicts > 0)
		log_debug("rebuild: %ld copy batches met rows already there and ran again with ON CONFLICT", conflicts);
	rc = 0;
done:
	if (!pg_exec_connection_lost(rb->db)) {
		shunt_error ignore;

		exec_simple(rb->db, "RESET enable_hashjoin", &ignore);
		exec_simple(rb->db, "RESET enable_mergejoin", &ignore);
	}
	buf_release(&sql);
	buf_release(&plain);
	return rc;
}

/*
 * Verification: chunks of keys (CHUNK rows of the shadow), compared by row
 * count and a sum of row hashes, both sides in one REPEATABLE READ
 * snapshot, leaving out keys with a change still in the log (the shadow
 * has not caught up with them yet, by design).  The original's rows are
 * cast to the new types first, so equal rows print equal text.
 */
#define VERIFY_CHUNK 20000
#define VERIFY_TRIES 3

static void
checksum_sql(const rb_dir *d, shunt_buf *b, bool from, bool has_lo, bool has_hi)
{
	rebuild *rb = d->rb;
	size_t n = rb_nkey(rb);
	const char *alias = "x";

	buf_put(b, d->record_hash ? "SELECT pg_catalog.count(*), coalesce(pg_catalog.sum(pg_catalog.hash_record_extended(ROW("
							  : "SELECT pg_catalog.count(*), coalesce(pg_catalog.sum(pg_catalog.hashtextextended(ROW(");
	if (from)
		put_select(d, b, alias, true);
	else
		put_select(d, b, alias, false);
	buf_printf(b, ")%s, 0)), 0) FROM %s x WHERE NOT EXISTS (SELECT 1 FROM %s l WHERE ", d->record_hash ? "" : "::text",
			   buf_str(from ? &d->from_q : &d->to_q), buf_str(&d->log_q));
	for (size_t i = 0; i < n; i++) {
		buf_put(b, i ? " AND l." : "l.");
		pg_put_ident(rb->db, b, rb_key_name(rb, i));
		buf_put(b, " = x.");
		pg_put_ident(rb->db, b, rb_key_name(rb, i));
	}
	buf_putc(b, ')');
	for (int side = 0; side < 2; side++) {
		if ((side == 0 && !has_lo) || (side == 1 && !has_hi))
			continue;
		buf_put(b, " AND ");
		put_key(d, b, "x");
		buf_put(b, side == 0 ? " > (" : " <= (");
		for (size_t i = 0; i < n; i++)
			buf_printf(b, "%s$%zu::%s", i ? ", " : "", (side && has_lo ? n : 0) + i + 1,
					   key_type(d, i, false));
		buf_putc(b, ')');
	}
}

/* Compares one chunk; *same is the result. */
static int
compare_chunk(rb_dir *d, char **lo, char **hi, bool sync, bool *same, shunt_error *err)
{
	rebuild *rb = d->rb;
	size_t n = rb_nkey(rb);
	shunt_buf a = SHUNT_BUF_INIT, b = SHUNT_BUF_INIT;
	const char **params = shunt_xcalloc(2 * n, sizeof(char *));
	PGresult *ra = NULL, *rbres = NULL;
	int np = 0, rc = -1;
	shunt_error ignore;

	buf_init(&a);
	buf_init(&b);
	if (lo)
		for (size_t i = 0; i < n; i++)
			params[np++] = lo[i];
	if (hi)
		for (size_t i = 0; i < n; i++)
			params[np++] = hi[i];
	checksum_sql(d, &a, true, lo != NULL, hi != NULL);
	checksum_sql(d, &b, false, lo != NULL, hi != NULL);
	if (exec_simple(rb->db, "BEGIN ISOLATION LEVEL REPEATABLE READ", err) != 0)
		goto done;
	/* Logical capture: a change committed before this snapshot may not
	 * have been decoded yet, so its key is not in the log and the chunk
	 * would differ forever under steady writes.  Fix the snapshot, then
	 * read the stream up to a marker committed after it, inserting the
	 * keys in this transaction, where the checksums see them.  Only when
	 * a first look differed (sync): a chunk that matches is verified
	 * whatever the log holds, and a marker costs a round through the
	 * walsender. */
	if (sync && rb->logical != NULL && d->forward &&
		(exec_simple(rb->db, "SELECT 1", err) != 0 || rb_capture_sync(rb, d, RB_CHUNK_SYNC_MS, err) != 0)) {
		exec_simple(rb->db, "ROLLBACK", &ignore);
		goto done;
	}
	ra = pg_exec_params(rb->db, buf_str(&a), np, params, err);
	if (ra != NULL)
		rbres = pg_exec_params(rb->db, buf_str(&b), np, params, err);
	exec_simple(rb->db, "COMMIT", &ignore);
	if (ra == NULL || rbres == NULL)
		goto done;
	*same = strcmp(PQgetvalue(ra, 0, 0), PQgetvalue(rbres, 0, 0)) == 0 &&
			strcmp(PQgetvalue(ra, 0, 1), PQgetvalue(rbres, 0, 1)) == 0;
	/* a first look that differs is routine under writes: changes land
	 * between the drain and the snapshot */
	if (!*same && sync)
		log_info("rebuild: verify: a chunk differs (%s rows in the original, %s in the shadow)",
				 PQgetvalue(ra, 0, 0), PQgetvalue(rbres, 0, 0));
	else if (!*same)
		log_debug("rebuild: verify: a chunk differs at first look; looking again");
	rc = 0;
done:
	PQclear(ra);
	PQclear(rbres);
	buf_release(&a);
	buf_release(&b);
	free(params);
	return rc;
}

/* Copies one chunk again: delete the shadow's rows, insert the current
 * ones, in one transaction. */
static int
recopy_chunk(rb_dir *d, char **lo, char **hi, shunt_error *err)
{
	rebuild *rb = d->rb;
	size_t n = rb_nkey(rb);
	shunt_buf del = SHUNT_BUF_INIT, ins = SHUNT_BUF_INIT;
	const char **params = shunt_xcalloc(2 * n, sizeof(char *));
	int rc = -1;

	buf_init(&del);
	buf_init(&ins);
	for (size_t i = 0; i < n; i++) {
		params[i] = lo ? lo[i] : NULL;
		params[n + i] = hi ? hi[i] : NULL;
	}
	/* an absent bound is a NULL parameter: "key > NULL" would be NULL, so
	 * the bound is written as (NOT $set OR key > bound) via coalesce */
	buf_printf(&del, "DELETE FROM %s x WHERE coalesce(", buf_str(&d->to_q));
	put_key(d, &del, "x");
	buf_put(&del, " > (");
	for (size_t i = 0; i < n; i++)
		buf_printf(&del, "%s$%zu::%s", i ? ", " : "", i + 1, key_type(d, i, false));
	buf_put(&del, "), true) AND coalesce(");
	put_key(d, &del, "x");
	buf_put(&del, " <= (");
	for (size_t i = 0; i < n; i++)
		buf_printf(&del, "%s$%zu::%s", i ? ", " : "", n + i + 1, key_type(d, i, false));
	buf_put(&del, "), true)");
	buf_printf(&ins, "INSERT INTO %s (", buf_str(&d->to_q));
	put_columns(d, &ins);
	buf_put(&ins, ") OVERRIDING SYSTEM VALUE SELECT ");
	put_select(d, &ins, "x", true);
	buf_printf(&ins, " FROM %s x WHERE coalesce(", buf_str(&d->from_q));
	put_key(d, &ins, "x");
	buf_put(&ins, " > (");
	for (size_t i = 0; i < n; i++)
		buf_printf(&ins, "%s$%zu::%s", i ? ", " : "", i + 1, key_type(d, i, false));
	buf_put(&ins, "), true) AND coalesce(");
	put_key(d, &ins, "x");
	buf_put(&ins, " <= (");
	for (size_t i = 0; i < n; i++)
		buf_printf(&ins, "%s$%zu::%s", i ? ", " : "", n + i + 1, key_type(d, i, false));
	buf_put(&ins, "), true)");
	if (exec_simple(rb->db, "BEGIN", err) == 0 &&
		pg_exec_command(rb->db, buf_str(&del), 2 * (int) n, params, err) == 0 &&
		pg_exec_command(rb->db, buf_str(&ins), 2 * (int) n, params, err) == 0 &&
		exec_simple(rb->db, "COMMIT", err) == 0)
		rc = 0;
	else if (!pg_exec_connection_lost(rb->db)) {
		shunt_error ignore;

		exec_simple(rb->db, "ROLLBACK", &ignore);
	}
	buf_release(&del);
	buf_release(&ins);
	free(params);
	return rc;
}

static void
free_key(char **k, size_t n)
{
	if (k == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(k[i]);
	free(k);
}

/* The key CHUNK rows after lo in the shadow; NULL (and *end) past the end. */
static int
chunk_end(rb_dir *d, char **lo, char ***hi, shunt_error *err)
{
	rebuild *rb = d->rb;
	size_t n = rb_nkey(rb);
	shunt_buf sql = SHUNT_BUF_INIT;
	const char **params = shunt_xcalloc(n + 1, sizeof(char *));
	char off[32];
	PGresult *res;

	buf_init(&sql);
	buf_put(&sql, "SELECT ");
	for (size_t i = 0; i < n; i++) {
		buf_put(&sql, i ? ", x." : "x.");
		pg_put_ident(rb->db, &sql, rb_key_name(rb, i));
		buf_put(&sql, "::text");
	}
	buf_printf(&sql, " FROM %s x", buf_str(&d->to_q));
	if (lo) {
		buf_put(&sql, " WHERE ");
		put_key(d, &sql, "x");
		buf_put(&sql, " > (");
		for (size_t i = 0; i < n; i++) {
			buf_printf(&sql, "%s$%zu::%s", i ? ", " : "", i + 2, key_type(d, i, false));
			params[i + 1] = lo[i];
		}
		buf_putc(&sql, ')');
	}
	buf_put(&sql, " ORDER BY ");
	for (size_t i = 0; i < n; i++) {
		buf_put(&sql, i ? ", x." : "x.");
		pg_put_ident(rb->db, &sql, rb_key_name(rb, i));
	}
	snprintf(off, sizeof(off), "%d", VERIFY_CHUNK - 1);
	params[0] = off;
	buf_put(&sql, " OFFSET $1::bigint LIMIT 1");
	res = pg_exec_params(rb->db, buf_str(&sql), lo ? (int) n + 1 : 1, params, err);
	buf_release(&sql);
	free(params);
	if (res == NULL)
		return -1;
	*hi = NULL;
	if (PQntuples(res) == 1) {
		*hi = shunt_xcalloc(n, sizeof(char *));
		for (size_t i = 0; i < n; i++)
			(*hi)[i] = pg_value_dup(res, 0, (int) i);
	}
	PQclear(res);
	return 0;
}

/*
 * Rows are hashed with hash_record_extended, the types' own hash functions
 * (about half the cost of hashing their text: 1M rows, 0.21 s against
 * 0.45 s), when every column type has one; a type without (json, point,
 * ...) fails on the first row, so one row of the shadow decides, and its
 * text is hashed otherwise.  Equal under the type's equality is what the
 * cast copy promises.
 */
static int
choose_row_hash(rb_dir *d, shunt_error *err)
{
	shunt_buf sql = SHUNT_BUF_INIT;
	PGresult *res;
	shunt_error probe;

	d->record_hash = false;
	buf_init(&sql);
	buf_put(&sql, "SELECT pg_catalog.hash_record_extended(ROW(");
	put_select(d, &sql, "x", false);
	buf_printf(&sql, "), 0) FROM %s x LIMIT 1", buf_str(&d->to_q));
	res = pg_exec_params(d->rb->db, buf_str(&sql), 0, NULL, &probe);
	buf_release(&sql);
	if (res != NULL) {
		d->record_hash = PQntuples(res) == 1;
		PQclear(res);
	} else if (pg_exec_connection_lost(d->rb->db)) {
		*err = probe;
		return -1;
	}
	log_debug("rebuild: verify hashes rows %s", d->record_hash ? "by type" : "as text");
	return 0;
}

int
rb_verify(rb_dir *d, shunt_error *err)
{
	rebuild *rb = d->rb;
	size_t n = rb_nkey(rb);
	char **lo = NULL, **hi = NULL;
	long chunks = 0, recopied = 0;
	int rc = -1;

	log_info("rebuild: verifying %s against %s", buf_str(&d->to_q), buf_str(&d->from_q));
	if (choose_row_hash(d, err) != 0)
		goto done;
	/* logical capture: the stream first catches up with the copy's WAL,
	 * outside the chunks' snapshots */
	if (rb->logical != NULL && d->forward) {
		int64_t t0 = rb_now_ms();

		if (rb_capture_sync(rb, d, RB_CATCH_UP_MS, err) != 0)
			goto done;
		if (rb_now_ms() - t0 > 1000)
			log_info("rebuild: the change stream caught up in %.1f s", (double) (rb_now_ms() - t0) / 1000.0);
	}
	for (;;) {
		bool same = false;

		if (interrupt_requested()) {
			interrupt_error(err);
			goto done;
		}
		if (chunk_end(d, lo, &hi, err) != 0)
			goto done;
		for (int attempt = 0; attempt < VERIFY_TRIES; attempt++) {
			if (rb_drain(d, 1, err) != 0 || compare_chunk(d, lo, hi, attempt > 0, &same, err) != 0)
				goto done;
			if (same)
				break;
			if (attempt == VERIFY_TRIES - 1)
				break;
			/* a change can land between the drain and the snapshot:
			 * look again before copying the chunk anew */
			if (attempt == 1) {
				recopied++;
				if (recopy_chunk(d, lo, hi, err) != 0)
					goto done;
			}
		}
		if (!same) {
			shunt_error_set(err, SHUNT_E_STATE, "verification failed: a chunk of %s keeps differing from %s",
							buf_str(&d->to_q), buf_str(&d->from_q));
			shunt_error_detail(err, "The chunk after key %s differed %d times, also after it was copied again. "
									"Nothing was swapped; the original table is untouched.",
							   lo ? lo[0] : "(start)", VERIFY_TRIES);
			shunt_error_hint(err, "Report this as a bug with the table's definition; `shunt rebuild TABLE "
								  "--abort` removes the shadow.");
			goto done;
		}
		chunks++;
		free_key(lo, n);
		lo = hi;
		hi = NULL;
		if (lo == NULL)
			break;
	}
	log_info("rebuild: verified %ld chunks%s", chunks, recopied ? " (some copied again)" : "");
	rc = 0;
done:
	free_key(lo, n);
	free_key(hi, n);
	return rc;
}
