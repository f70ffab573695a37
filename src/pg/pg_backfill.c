/*
 * pg_backfill.c: batched keyset backfill; see pg_backfill.h.
 */
#include "pg/pg_backfill.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/backfill.h"
#include "core/buf.h"
#include "core/log.h"
#include "pg/pg_exec.h"
#include "pg/pg_lock.h"
#include "pg/pg_state.h"

int
pg_backfill_key(shunt_db *db, const char *schema, const char *table, char ***cols, char ***types,
				size_t *n, shunt_error *err)
{
	const char *params[2] = { schema, table };
	PGresult *res;

	*cols = NULL;
	*types = NULL;
	*n = 0;
	/* The primary key first, else the unique, non-partial, expression-free
	 * index with the fewest columns whose columns are all NOT NULL. */
	res = pg_exec_params(db,
		"WITH idx AS ("
		"  SELECT i.indexrelid, i.indkey, i.indisprimary, i.indnkeyatts "
		"    FROM pg_catalog.pg_index i "
		"    JOIN pg_catalog.pg_class c ON c.oid = i.indrelid "
		"    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
		"   WHERE n.nspname = $1 AND c.relname = $2 AND i.indisunique AND i.indisvalid "
		"     AND i.indpred IS NULL AND i.indexprs IS NULL "
		"     AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a "
		"                      WHERE a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey::int2[]) "
		"                        AND NOT a.attnotnull) "
		"   ORDER BY i.indisprimary DESC, i.indnkeyatts, i.indexrelid LIMIT 1) "
		"SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod) "
		"  FROM idx, pg_catalog.unnest(idx.indkey::int2[]) WITH ORDINALITY k(attnum, ord) "
		"  JOIN pg_catalog.pg_attribute a ON a.attnum = k.attnum "
		" WHERE a.attrelid = (SELECT indrelid FROM pg_catalog.pg_index WHERE indexrelid = idx.indexrelid) "
		"   AND k.ord <= idx.indnkeyatts "
		" ORDER BY k.ord",
		2, params, err);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		shunt_error_set(err, SHUNT_E_INPUT, "table \"%s\".\"%s\" has no primary key and no NOT NULL unique index",
						schema, table);
		shunt_error_detail(err, "The backfill walks the table in key order, in small batches, and needs "
								"a key that identifies each row.");
		shunt_error_hint(err, "Add a primary key (create_constraint type primary_key), or a unique index "
							  "on NOT NULL columns, in an earlier migration.");
		return -1;
	}
	*n = (size_t) PQntuples(res);
	*cols = shunt_xcalloc(*n, sizeof(char *));
	*types = shunt_xcalloc(*n, sizeof(char *));
	for (size_t i = 0; i < *n; i++) {
		(*cols)[i] = shunt_xstrdup(PQgetvalue(res, (int) i, 0));
		(*types)[i] = shunt_xstrdup(PQgetvalue(res, (int) i, 1));
	}
	PQclear(res);
	return 0;
}

static void
free_strings(char **a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(a[i]);
	free(a);
}

/* "(k1, k2)" */
static void
put_key_tuple(shunt_db *db, shunt_buf *b, const char *alias, char **cols, size_t n)
{
	buf_putc(b, '(');
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			buf_put(b, ", ");
		if (alias) {
			buf_put(b, alias);
			buf_putc(b, '.');
		}
		pg_put_ident(db, b, cols[i]);
	}
	buf_putc(b, ')');
}

/* "($first::type1, $first+1::type2)" */
static void
put_param_tuple(shunt_buf *b, char **types, size_t n, int first)
{
	buf_putc(b, '(');
	for (size_t i = 0; i < n; i++)
		buf_printf(b, "%s$%d::%s", i ? ", " : "", first + (int) i, types[i]);
	buf_putc(b, ')');
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What one backfill works with; see pg_backfill_table. */
typedef struct backfill_run {
	shunt_db *db;
	const pg_backfill_opts *opts;
	const char *schema;
	const char *table;
	char **cols;      /* key columns */
	char **types;     /* their types, format_type() text */
	size_t n;
	char **last;      /* last key done; NULL entries before the first batch */
	char **high;      /* high-water mark */
	bool have_last;
	long long rows_done;
	long long total;
	shunt_buf tq;     /* quoted table */
} backfill_run;

static void
put_array(shunt_buf *b, int first, size_t n)
{
	buf_put(b, "ARRAY[");
	for (size_t i = 0; i < n; i++)
		buf_printf(b, "%s$%d", i ? ", " : "", first + (int) i);
	buf_put(b, "]::text[]");
}

/*
 * Checkpoint: the position after each batch, in the state schema, so that a
 * killed backfill continues where it stopped.  Not in the batch's own
 * transaction: a batch applied but not recorded is simply done again, which
 * the trigger makes harmless (it recomputes from the current row).
 */
static int
save_checkpoint(backfill_run *r, const char *status, shunt_error *err)
{
	shunt_buf sql = SHUNT_BUF_INIT;
	const char **params = shunt_xcalloc(2 * r->n + 6, sizeof(char *));
	char id[32], done[32], total[32];
	int np = 0, rc;

	if (r->opts->migration_id == 0 || r->db->dry_run) {
		free(params);
		return 0;
	}
	snprintf(id, sizeof(id), "%lld", r->opts->migration_id);
	snprintf(done, sizeof(done), "%lld", r->rows_done);
	snprintf(total, sizeof(total), "%lld", r->total > r->rows_done ? r->total : r->rows_done);
	params[np++] = id;
	params[np++] = r->schema;
	params[np++] = r->table;
	params[np++] = done;
	params[np++] = total;
	params[np++] = status;
	buf_init(&sql);
	buf_printf(&sql,
		"INSERT INTO %s.backfills AS b (migration_id, table_schema, table_name, key_columns, rows_done, "
		"  rows_total, status, high_key, last_key) VALUES ($1::bigint, $2, $3, ARRAY[]::text[], "
		"  $4::bigint, $5::bigint, $6, ", r->db->state_q);
	put_array(&sql, np + 1, r->n);
	for (size_t i = 0; i < r->n; i++)
		params[np++] = r->high[i];
	buf_put(&sql, ", ");
	if (r->have_last) {
		put_array(&sql, np + 1, r->n);
		for (size_t i = 0; i < r->n; i++)
			params[np++] = r->last[i];
	} else
		buf_put(&sql, "NULL");
	buf_put(&sql, ") ON CONFLICT (migration_id, table_schema, table_name) DO UPDATE SET "
				  "rows_done = EXCLUDED.rows_done, rows_total = EXCLUDED.rows_total, "
				  "status = EXCLUDED.status, last_key = EXCLUDED.last_key, high_key = EXCLUDED.high_key, "
				  "updated_at = pg_catalog.now(), "
				  "finished_at = CASE WHEN EXCLUDED.status = 'done' THEN pg_catalog.now() END");
	rc = pg_exec_command(r->db, buf_str(&sql), np, params, err);
	buf_release(&sql);
	free(params);
	return rc;
}

/* Loads a checkpoint of an earlier, interrupted run; *found false if none.
 * *finished is true when that run completed. */
static int
load_checkpoint(backfill_run *r, bool *found, bool *finished, shunt_error *err)
{
	shunt_buf sql = SHUNT_BUF_INIT;
	char id[32];
	const char *params[3] = { id, r->schema, r->table };
	PGresult *res;

	*found = *finished = false;
	if (r->opts->migration_id == 0)
		return 0;
	snprintf(id, sizeof(id), "%lld", r->opts->migration_id);
	buf_init(&sql);
	buf_printf(&sql,
		"SELECT b.status, b.rows_done, h.k, l.k FROM %s.backfills b "
		"  CROSS JOIN LATERAL pg_catalog.unnest(b.high_key) WITH ORDINALITY h(k, i) "
		"  LEFT JOIN LATERAL pg_catalog.unnest(b.last_key) WITH ORDINALITY l(k, i) ON l.i = h.i "
		" WHERE b.migration_id = $1::bigint AND b.table_schema = $2 AND b.table_name = $3 ORDER BY h.i",
		r->db->state_q);
	res = pg_exec_params(r->db, buf_str(&sql), 3, params, err);
	buf_release(&sql);
	if (res == NULL)
		return -1;
	if ((size_t) PQntuples(res) == r->n) {
		*found = true;
		*finished = strcmp(PQgetvalue(res, 0, 0), "done") == 0;
		r->rows_done = atoll(PQgetvalue(res, 0, 1));
		r->have_last = !PQgetisnull(res, 0, 3);
		for (size_t i = 0; i < r->n; i++) {
			r->high[i] = pg_value_dup(res, (int) i, 2);
			r->last[i] = pg_value_dup(res, (int) i, 3);
		}
	}
	PQclear(res);
	return 0;
}

/* The high-water mark: the largest key now.  Rows above it were inserted
 * after the sync trigger existed and never need the backfill.  Sets
 * *empty for an empty table. */
static int
read_high_water(backfill_run *r, bool *empty, shunt_error *err)
{
	shunt_buf sql = SHUNT_BUF_INIT;
	PGresult *res;
	char *est;
	const char *p1[1];

	buf_init(&sql);
	buf_put(&sql, "SELECT ");
	for (size_t i = 0; i < r->n; i++) {
		buf_put(&sql, i ? ", t." : "t.");
		pg_put_ident(r->db, &sql, r->cols[i]);
		buf_put(&sql, "::text");
	}
	/* ORDER BY the table's columns, not the text output columns of the
	 * same names (text order would put 999 after 5000) */
	buf_printf(&sql, " FROM %s t ORDER BY ", buf_str(&r->tq));
	for (size_t i = 0; i < r->n; i++) {
		buf_put(&sql, i ? ", t." : "t.");
		pg_put_ident(r->db, &sql, r->cols[i]);
		buf_put(&sql, " DESC");
	}
	buf_put(&sql, " LIMIT 1");
	res = pg_exec_params(r->db, buf_str(&sql), 0, NULL, err);
	buf_release(&sql);
	if (res == NULL)
		return -1;
	*empty = PQntuples(res) == 0;
	for (size_t i = 0; i < r->n && !*empty; i++)
		r->high[i] = pg_value_dup(res, 0, (int) i);
	PQclear(res);
	p1[0] = buf_str(&r->tq);
	est = pg_query_value(r->db, "SELECT pg_catalog.greatest(reltuples, 0)::bigint FROM pg_catalog.pg_class "
								"WHERE oid = pg_catalog.to_regclass($1)", 1, p1, err);
	r->total = est ? atoll(est) : 0;
	free(est);
	return 0;
}

/*
 * One batch: the next keys after the last one, up to the high-water mark,
 * then an UPDATE of exactly those rows that fires the sync trigger.  The
 * SET assigns set_column to itself (the trigger recomputes it); the key is
 * not assigned because it may be GENERATED ALWAYS.  Returns the rows
 * updated and the batch's last key in its result.
 */
static void
batch_sql(backfill_run *r, shunt_buf *sql, const char *set_column)
{
	size_t n = r->n;
	int first_high = r->have_last ? (int) n + 1 : 1;

	buf_reset(sql);
	buf_put(sql, "WITH batch AS (SELECT ");
	for (size_t i = 0; i < n; i++) {
		buf_put(sql, i ? ", " : "");
		pg_put_ident(r->db, sql, r->cols[i]);
	}
	buf_printf(sql, " FROM %s WHERE ", buf_str(&r->tq));
	if (r->have_last) {
		put_key_tuple(r->db, sql, NULL, r->cols, n);
		buf_put(sql, " > ");
		put_param_tuple(sql, r->types, n, 1);
		buf_put(sql, " AND ");
	}
	put_key_tuple(r->db, sql, NULL, r->cols, n);
	buf_put(sql, " <= ");
	put_param_tuple(sql, r->types, n, first_high);
	buf_put(sql, " ORDER BY ");
	for (size_t i = 0; i < n; i++) {
		buf_put(sql, i ? ", " : "");
		pg_put_ident(r->db, sql, r->cols[i]);
	}
	buf_printf(sql, " LIMIT $%d), upd AS (UPDATE %s t SET ", first_high + (int) n, buf_str(&r->tq));
	pg_put_ident(r->db, sql, set_column ? set_column : r->cols[0]);
	buf_put(sql, " = t.");
	pg_put_ident(r->db, sql, set_column ? set_column : r->cols[0]);
	buf_put(sql, " FROM batch WHERE ");
	put_key_tuple(r->db, sql, "t", r->cols, n);
	buf_put(sql, " = ");
	put_key_tuple(r->db, sql, "batch", r->cols, n);
	buf_put(sql, " RETURNING 1) SELECT (SELECT pg_catalog.count(*) FROM upd)");
	for (size_t i = 0; i < n; i++) {
		buf_put(sql, ", (SELECT batch.");
		pg_put_ident(r->db, sql, r->cols[i]);
		/* qualified: the output column of the same name is text */
		buf_put(sql, "::text FROM batch ORDER BY ");
		for (size_t j = 0; j < n; j++) {
			buf_put(sql, j ? ", batch." : "batch.");
			pg_put_ident(r->db, sql, r->cols[j]);
			buf_put(sql, " DESC");
		}
		buf_put(sql, " LIMIT 1)");
	}
}

static int
set_session(shunt_db *db, const char *name, const char *value, shunt_error *err)
{
	const char *params[2] = { name, value };

	return pg_exec_command(db, "SELECT pg_catalog.set_config($1, $2, false)", 2, params, err);
}

static void
report(backfill_run *r, int64_t started, bool final)
{
	double secs = (double) (now_ms() - started) / 1000.0;
	long long total = r->total > r->rows_done ? r->total : r->rows_done;

	if (final)
		log_info("backfill %s: %lld rows in %.1f s", buf_str(&r->tq), r->rows_done, secs);
	else
		log_info("backfill %s: %lld of ~%lld rows (%.0f%%), %.0f rows/s", buf_str(&r->tq), r->rows_done,
				 total, total ? 100.0 * (double) r->rows_done / (double) total : 100.0,
				 secs > 0 ? (double) r->rows_done / secs : 0.0);
}

static int
run_batches(backfill_run *r, const char *set_column, shunt_error *err)
{
	const pg_backfill_opts *opts = r->opts;
	shunt_buf sql = SHUNT_BUF_INIT;
	const char **params = shunt_xcalloc(2 * r->n + 1, sizeof(char *));
	backfill_sizer sizer;
	int64_t started = now_ms(), last_report = now_ms(), failing_since = 0;
	long long done_at_start = r->rows_done;
	int rc = -1;

	buf_init(&sql);
	backfill_sizer_init(&sizer, opts->batch_size, opts->target_batch_ms);
	for (;;) {
		int batch = backfill_sizer_next(&sizer);
		char limit[32];
		int np = 0;
		int64_t t0;
		PGresult *res;

		batch_sql(r, &sql, set_column);
		if (r->have_last)
			for (size_t i = 0; i < r->n; i++)
				params[np++] = r->last[i];
		for (size_t i = 0; i < r->n; i++)
			params[np++] = r->high[i];
		snprintf(limit, sizeof(limit), "%d", batch);
		params[np++] = limit;

		t0 = now_ms();
		res = pg_exec_params(r->db, buf_str(&sql), np, params, err);
		if (res == NULL) {
			/* An application transaction holds rows of the batch longer
			 * than lock_timeout: retry smaller, within the retry budget. */
			if (!shunt_error_is_retryable(err))
				goto done;
			if (failing_since == 0)
				failing_since = t0;
			if (now_ms() - failing_since > r->db->lock_retry_ms) {
				shunt_error_add_context(err, "a batch could not lock its rows for %lld ms",
										(long long) (now_ms() - failing_since));
				goto done;
			}
			backfill_sizer_failed(&sizer);
			pg_lock_sleep_ms(100);
			continue;
		}
		failing_since = 0;
		if (PQgetisnull(res, 0, 1)) {
			PQclear(res);
			break; /* no keys left below the high-water mark */
		}
		r->rows_done += atoll(PQgetvalue(res, 0, 0));
		for (size_t i = 0; i < r->n; i++) {
			free(r->last[i]);
			r->last[i] = pg_value_dup(res, 0, 1 + (int) i);
		}
		r->have_last = true;
		PQclear(res);
		backfill_sizer_observe(&sizer, batch, now_ms() - t0);
		if (save_checkpoint(r, "running", err) != 0)
			goto done;
		if (opts->progress && now_ms() - last_report >= 2000) {
			report(r, started, false);
			last_report = now_ms();
		}
		if (opts->batch_delay_ms > 0)
			pg_lock_sleep_ms((long) opts->batch_delay_ms);
		if (opts->max_rows_per_second > 0) {
			double min_ms = 1000.0 * (double) (r->rows_done - done_at_start) / opts->max_rows_per_second;
			int64_t spent = now_ms() - started;

			if (min_ms > (double) spent)
				pg_lock_sleep_ms((long) (min_ms - (double) spent));
		}
	}
	if (opts->progress)
		report(r, started, true);
	rc = save_checkpoint(r, "done", err);
done:
	buf_release(&sql);
	free(params);
	return rc;
}

int
pg_backfill_table(shunt_db *db, const char *schema, const char *table, const char *set_column,
				  const pg_backfill_opts *opts, shunt_error *err)
{
	backfill_run r;
	bool found = false, finished = false, empty = false;
	char lt[32];
	char *sp = NULL;
	int rc = -1;

	memset(&r, 0, sizeof(r));
	r.db = db;
	r.opts = opts;
	r.schema = schema;
	r.table = table;
	if (pg_backfill_key(db, schema, table, &r.cols, &r.types, &r.n, err) != 0)
		return -1;
	buf_init(&r.tq);
	pg_put_qualified(db, &r.tq, schema, table);
	r.last = shunt_xcalloc(r.n, sizeof(char *));
	r.high = shunt_xcalloc(r.n, sizeof(char *));

	if (load_checkpoint(&r, &found, &finished, err) != 0)
		goto done;
	if (finished) {
		log_info("backfill %s: already done (%lld rows)", buf_str(&r.tq), r.rows_done);
		rc = 0;
		goto done;
	}
	if (found)
		log_info("backfill %s: resuming after %lld rows", buf_str(&r.tq), r.rows_done);
	else {
		if (read_high_water(&r, &empty, err) != 0)
			goto done;
		if (empty) {
			rc = 0;
			goto done;
		}
	}
	/* Row locks held by the application are waited for at most
	 * lock_timeout per batch; the sync trigger's up expressions name tables
	 * unqualified, as an old-version client on the application schema
	 * would. */
	snprintf(lt, sizeof(lt), "%lld", (long long) db->lock_timeout_ms);
	sp = pg_ident(db, schema);
	if (set_session(db, "lock_timeout", lt, err) != 0 || set_session(db, "search_path", sp, err) != 0)
		goto done;
	rc = run_batches(&r, set_column, err);
	if (!pg_exec_connection_lost(db)) {
		shunt_error ignore;

		set_session(db, "lock_timeout", "0", &ignore);
		set_session(db, "search_path", "", &ignore);
	}
done:
	if (rc != 0)
		shunt_error_add_context(err, "while backfilling %s", buf_str(&r.tq));
	free(sp);
	free_strings(r.last, r.n);
	free_strings(r.high, r.n);
	free_strings(r.cols, r.n);
	free_strings(r.types, r.n);
	buf_release(&r.tq);
	return rc;
}

char *
pg_backfill_batch_sql(shunt_db *db, const char *schema, const char *table, const char *set_column,
					  shunt_error *err)
{
	backfill_run r;
	shunt_buf sql = SHUNT_BUF_INIT;

	memset(&r, 0, sizeof(r));
	r.db = db;
	if (pg_backfill_key(db, schema, table, &r.cols, &r.types, &r.n, err) != 0)
		return NULL;
	buf_init(&r.tq);
	pg_put_qualified(db, &r.tq, schema, table);
	r.have_last = true;
	buf_init(&sql);
	batch_sql(&r, &sql, set_column);
	free_strings(r.cols, r.n);
	free_strings(r.types, r.n);
	buf_release(&r.tq);
	return buf_detach(&sql);
}
