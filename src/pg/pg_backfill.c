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

int
pg_backfill_table(shunt_db *db, const char *schema, const char *table, const pg_backfill_opts *opts,
				  shunt_error *err)
{
	char **cols = NULL, **types = NULL;
	size_t n = 0;
	shunt_buf tq = SHUNT_BUF_INIT;
	shunt_buf sql = SHUNT_BUF_INIT;
	shunt_buf high_sql = SHUNT_BUF_INIT;
	char **last = NULL, **high = NULL;
	const char **params = NULL;
	backfill_sizer sizer;
	long long rows_done = 0, total = 0;
	int64_t started = now_ms(), last_report = 0;
	int rc = -1;

	if (pg_backfill_key(db, schema, table, &cols, &types, &n, err) != 0)
		return -1;
	buf_init(&tq);
	buf_init(&sql);
	buf_init(&high_sql);
	pg_put_qualified(db, &tq, schema, table);
	last = shunt_xcalloc(n, sizeof(char *));
	high = shunt_xcalloc(n, sizeof(char *));
	params = shunt_xcalloc(2 * n + 1, sizeof(char *));
	backfill_sizer_init(&sizer, opts->batch_size, opts->target_batch_ms);
	{
		/* Row locks held by the application are waited for at most this
		 * long; a batch that times out is retried smaller. */
		char v[32];
		const char *p2[1] = { v };

		snprintf(v, sizeof(v), "%lld", (long long) db->lock_timeout_ms);
		if (pg_exec_command(db, "SELECT pg_catalog.set_config('lock_timeout', $1, false)", 1, p2, err) != 0)
			goto done;
	}
	{
		/* The sync trigger's up expressions name tables unqualified, as an
		 * old-version client on the application schema would. */
		char *q = pg_ident(db, schema);
		const char *p3[1] = { q };
		int r = pg_exec_command(db, "SELECT pg_catalog.set_config('search_path', $1, false)", 1, p3, err);

		free(q);
		if (r != 0)
			goto done;
	}

	/* The high-water mark: the largest key now.  Rows above it are newer
	 * than the sync trigger and never need the backfill. */
	buf_put(&high_sql, "SELECT ");
	for (size_t i = 0; i < n; i++) {
		buf_put(&high_sql, i ? ", " : "");
		pg_put_ident(db, &high_sql, cols[i]);
		buf_put(&high_sql, "::text");
	}
	/* ORDER BY the table's columns, not the text output columns of the
	 * same names (text order would put 999 after 5000) */
	buf_printf(&high_sql, " FROM %s t ORDER BY ", buf_str(&tq));
	for (size_t i = 0; i < n; i++) {
		buf_put(&high_sql, i ? ", t." : "t.");
		pg_put_ident(db, &high_sql, cols[i]);
		buf_put(&high_sql, " DESC");
	}
	buf_put(&high_sql, " LIMIT 1");
	{
		PGresult *res = pg_exec_params(db, buf_str(&high_sql), 0, NULL, err);

		if (res == NULL)
			goto done;
		if (PQntuples(res) == 0) {
			PQclear(res);
			rc = 0; /* empty table */
			goto done;
		}
		for (size_t i = 0; i < n; i++)
			high[i] = pg_value_dup(res, 0, (int) i);
		PQclear(res);
	}
	{
		const char *p1[1] = { buf_str(&tq) };
		char *est = pg_query_value(db, "SELECT pg_catalog.greatest(reltuples, 0)::bigint FROM pg_catalog.pg_class "
									   "WHERE oid = pg_catalog.to_regclass($1)", 1, p1, err);

		total = est ? atoll(est) : 0;
		free(est);
	}

	/* One batch: the next keys up to the high-water mark, then an UPDATE of
	 * exactly those rows that fires the sync trigger.  Rows an application
	 * transaction holds locked are not waited for long: the statement runs
	 * under lock_timeout and a timed-out batch is retried. */
	for (bool first = true;; first = false) {
		int64_t t0;
		PGresult *res;
		int batch = backfill_sizer_next(&sizer);
		char limit[32];
		int np = 0;
		long long updated;

		buf_reset(&sql);
		buf_put(&sql, "WITH batch AS (SELECT ");
		for (size_t i = 0; i < n; i++) {
			buf_put(&sql, i ? ", " : "");
			pg_put_ident(db, &sql, cols[i]);
		}
		buf_printf(&sql, " FROM %s WHERE ", buf_str(&tq));
		if (!first) {
			put_key_tuple(db, &sql, NULL, cols, n);
			buf_put(&sql, " > ");
			put_param_tuple(&sql, types, n, 1);
			buf_put(&sql, " AND ");
		}
		put_key_tuple(db, &sql, NULL, cols, n);
		buf_put(&sql, " <= ");
		put_param_tuple(&sql, types, n, first ? 1 : (int) n + 1);
		buf_put(&sql, " ORDER BY ");
		for (size_t i = 0; i < n; i++) {
			buf_put(&sql, i ? ", " : "");
			pg_put_ident(db, &sql, cols[i]);
		}
		buf_printf(&sql, " LIMIT $%d), upd AS (UPDATE %s t SET ", (first ? 1 : (int) n + 1) + (int) n,
				   buf_str(&tq));
		pg_put_ident(db, &sql, cols[0]);
		buf_put(&sql, " = t.");
		pg_put_ident(db, &sql, cols[0]);
		buf_put(&sql, " FROM batch WHERE ");
		put_key_tuple(db, &sql, "t", cols, n);
		buf_put(&sql, " = ");
		put_key_tuple(db, &sql, "batch", cols, n);
		buf_put(&sql, " RETURNING 1) SELECT (SELECT pg_catalog.count(*) FROM upd)");
		for (size_t i = 0; i < n; i++) {
			buf_put(&sql, ", (SELECT ");
			pg_put_ident(db, &sql, cols[i]);
			/* qualified: the output column of the same name is text */
			buf_put(&sql, "::text FROM batch ORDER BY ");
			for (size_t j = 0; j < n; j++) {
				buf_put(&sql, j ? ", batch." : "batch.");
				pg_put_ident(db, &sql, cols[j]);
				buf_put(&sql, " DESC");
			}
			buf_put(&sql, " LIMIT 1)");
		}
		np = 0;
		if (!first)
			for (size_t i = 0; i < n; i++)
				params[np++] = last[i];
		for (size_t i = 0; i < n; i++)
			params[np++] = high[i];
		snprintf(limit, sizeof(limit), "%d", batch);
		params[np++] = limit;

		t0 = now_ms();
		res = pg_exec_params(db, buf_str(&sql), np, params, err);
		if (res == NULL) {
			if (shunt_error_is_retryable(err)) {
				backfill_sizer_failed(&sizer);
				pg_lock_sleep_ms(100);
				continue;
			}
			shunt_error_add_context(err, "while backfilling %s", buf_str(&tq));
			goto done;
		}
		updated = atoll(PQgetvalue(res, 0, 0));
		if (PQgetisnull(res, 0, 1)) {
			PQclear(res);
			break; /* no keys left below the high-water mark */
		}
		for (size_t i = 0; i < n; i++) {
			free(last[i]);
			last[i] = pg_value_dup(res, 0, 1 + (int) i);
		}
		PQclear(res);
		rows_done += updated;
		backfill_sizer_observe(&sizer, batch, now_ms() - t0);
		if (opts->progress && now_ms() - last_report > 2000) {
			double secs = (double) (now_ms() - started) / 1000.0;

			log_info("backfill %s: %lld of ~%lld rows, %.0f rows/s", buf_str(&tq), rows_done,
					 total > rows_done ? total : rows_done, secs > 0 ? rows_done / secs : 0.0);
			last_report = now_ms();
		}
		if (opts->batch_delay_ms > 0)
			pg_lock_sleep_ms((long) opts->batch_delay_ms);
		if (opts->max_rows_per_second > 0) {
			double min_ms = 1000.0 * (double) rows_done / opts->max_rows_per_second;
			int64_t spent = now_ms() - started;

			if (min_ms > (double) spent)
				pg_lock_sleep_ms((long) (min_ms - (double) spent));
		}
	}
	pg_exec_command(db, "SELECT pg_catalog.set_config('lock_timeout', '0', false)", 0, NULL, err);
	pg_exec_command(db, "SELECT pg_catalog.set_config('search_path', '', false)", 0, NULL, err);
	if (opts->progress)
		log_info("backfill %s: %lld rows in %.1f s", buf_str(&tq), rows_done,
				 (double) (now_ms() - started) / 1000.0);
	rc = 0;
done:
	if (last)
		free_strings(last, n);
	if (high)
		free_strings(high, n);
	free(params);
	free_strings(cols, n);
	free_strings(types, n);
	buf_release(&tq);
	buf_release(&sql);
	buf_release(&high_sql);
	return rc;
}
