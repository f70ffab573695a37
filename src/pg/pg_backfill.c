/*
 * pg_backfill.c: batched keyset backfill; see pg_backfill.h.
 */
#include "pg/pg_backfill.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "core/alloc.h"
#include "core/backfill.h"
#include "core/buf.h"
#include "core/fault.h"
#include "core/interrupt.h"
#include "core/log.h"
#include "pg/pg_exec.h"
#include "pg/pg_lock.h"
#include "pg/pg_state.h"
#include "pg/pg_throttle.h"

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
	const char *set_clause;
	char **cols;      /* key columns */
	char **types;     /* their types, format_type() text */
	size_t n;
	char **last;      /* last key done (valid when have_last) */
	char **high;      /* high-water mark */
	bool have_last;
	long long rows_done;
	long long rows_at_start; /* rows_done of earlier runs, for the rate */
	long long total;  /* estimated rows up to the high-water mark; 0: unknown */
	json_t *revisit;  /* [[lo...], [hi...]] ranges with rows skipped as locked */
	char waiting[256];
	shunt_buf tq;     /* quoted table */
	char id_text[32]; /* the migration id, as a parameter */
	int batches;      /* batches run by this process, for fault points */
	int64_t started_ms;
	int64_t last_report_ms;
} backfill_run;

/* Rows per second of this process's run (the rows of earlier, interrupted
 * runs do not count: they took no time here). */
static double
current_rate(const backfill_run *r)
{
	double secs = (double) (now_ms() - r->started_ms) / 1000.0;

	return secs > 0 ? (double) (r->rows_done - r->rows_at_start) / secs : 0.0;
}

static void
put_array(shunt_buf *b, int first, size_t n)
{
	buf_put(b, "ARRAY[");
	for (size_t i = 0; i < n; i++)
		buf_printf(b, "%s$%d", i ? ", " : "", first + (int) i);
	buf_put(b, "]::text[]");
}

static json_t *
key_json(char **key, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, key[i] ? json_string(key[i]) : json_null());
	return a;
}

/*
 * Checkpoint: the position after each batch, and the ranges still to
 * revisit, in the state schema, so that a killed backfill continues where
 * it stopped.  Not in the batch's own transaction: a batch applied but not
 * recorded is simply done again, which is harmless (it recomputes the new
 * columns from the current row).
 */
static int
save_checkpoint(backfill_run *r, const char *status, shunt_error *err)
{
	shunt_buf sql = SHUNT_BUF_INIT;
	const char **params = shunt_xcalloc(2 * r->n + 9, sizeof(char *));
	char id[32], done[32], total[32], rate[32];
	char *revisit = json_dumps(r->revisit, JSON_COMPACT);
	int np = 0, rc;

	if (r->opts->migration_id == 0) {
		free(params);
		free(revisit);
		return 0;
	}
	snprintf(id, sizeof(id), "%lld", r->opts->migration_id);
	snprintf(done, sizeof(done), "%lld", r->rows_done);
	/* done: the exact count; running: the estimate, which may be below
	 * the rows done (never shown as 100%), or NULL when unknown */
	snprintf(total, sizeof(total), "%lld", strcmp(status, "done") == 0 ? r->rows_done : r->total);
	snprintf(rate, sizeof(rate), "%.1f", current_rate(r));
	params[np++] = id;
	params[np++] = r->schema;
	params[np++] = r->table;
	params[np++] = done;
	params[np++] = strcmp(status, "done") == 0 || r->total > 0 ? total : NULL;
	params[np++] = status;
	params[np++] = revisit;
	params[np++] = r->waiting[0] ? r->waiting : NULL;
	params[np++] = rate;
	buf_init(&sql);
	buf_printf(&sql,
		"INSERT INTO %s.backfills AS b (migration_id, table_schema, table_name, key_columns, rows_done, "
		"  rows_total, status, revisit, waiting_reason, rows_per_second, high_key, last_key) VALUES ("
		"  $1::bigint, $2, $3, ARRAY[]::text[], $4::bigint, $5::bigint, $6, $7::jsonb, $8, $9::float8, ",
		r->db->state_q);
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
				  "revisit = EXCLUDED.revisit, waiting_reason = EXCLUDED.waiting_reason, "
				  "rows_per_second = EXCLUDED.rows_per_second, "
				  "updated_at = pg_catalog.now(), "
				  "finished_at = CASE WHEN EXCLUDED.status = 'done' THEN pg_catalog.now() END");
	rc = pg_exec_command(r->db, buf_str(&sql), np, params, err);
	buf_release(&sql);
	free(params);
	free(revisit);
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
		"SELECT b.status, b.rows_done, h.k, l.k, b.revisit::text, b.rows_total FROM %s.backfills b "
		"  CROSS JOIN LATERAL pg_catalog.unnest(b.high_key) WITH ORDINALITY h(k, i) "
		"  LEFT JOIN LATERAL pg_catalog.unnest(b.last_key) WITH ORDINALITY l(k, i) ON l.i = h.i "
		" WHERE b.migration_id = $1::bigint AND b.table_schema = $2 AND b.table_name = $3 ORDER BY h.i",
		r->db->state_q);
	res = pg_exec_params(r->db, buf_str(&sql), 3, params, err);
	buf_release(&sql);
	if (res == NULL)
		return -1;
	if ((size_t) PQntuples(res) == r->n) {
		json_t *rv = json_loads(PQgetvalue(res, 0, 4), 0, NULL);

		*found = true;
		*finished = strcmp(PQgetvalue(res, 0, 0), "done") == 0;
		r->rows_done = r->rows_at_start = atoll(PQgetvalue(res, 0, 1));
		r->total = PQgetisnull(res, 0, 5) ? 0 : atoll(PQgetvalue(res, 0, 5));
		r->have_last = !PQgetisnull(res, 0, 3);
		for (size_t i = 0; i < r->n; i++) {
			r->high[i] = pg_value_dup(res, (int) i, 2);
			r->last[i] = pg_value_dup(res, (int) i, 3);
		}
		if (json_is_array(rv)) {
			json_decref(r->revisit);
			r->revisit = rv;
		} else
			json_decref(rv);
	}
	PQclear(res);
	return 0;
}

/*
 * The number of rows to backfill, for progress: what the planner would
 * estimate, reltuples scaled to the table's current size (statistics
 * taken when the table was smaller would otherwise claim 100% early).
 * Without statistics (reltuples -1: never analysed or vacuumed), a small
 * table is counted; a large one stays unknown (0) rather than guessed.
 */
static int
estimate_total(backfill_run *r, shunt_error *err)
{
	const char *p1[1] = { buf_str(&r->tq) };
	char *est;

	est = pg_query_value(r->db,
		"SELECT CASE WHEN c.reltuples < 0 THEN -1 "
		"            WHEN c.relpages = 0 THEN c.reltuples "
		"            ELSE c.reltuples / c.relpages * pg_catalog.ceil(pg_catalog.pg_relation_size(c.oid) "
		"                 / pg_catalog.current_setting('block_size')::float8) END::bigint "
		"  FROM pg_catalog.pg_class c WHERE c.oid = pg_catalog.to_regclass($1)", 1, p1, err);
	if (est == NULL && err->code != SHUNT_OK)
		return -1;
	r->total = est ? atoll(est) : -1;
	free(est);
	if (r->total < 0) {
		shunt_buf sql = SHUNT_BUF_INIT;

		/* a sequential count of up to 16 MB: milliseconds */
		buf_init(&sql);
		buf_printf(&sql, "SELECT CASE WHEN pg_catalog.pg_relation_size($1::regclass) <= 16777216 "
						 "THEN (SELECT pg_catalog.count(*) FROM %s) END", buf_str(&r->tq));
		est = pg_query_value(r->db, buf_str(&sql), 1, p1, err);
		buf_release(&sql);
		if (est == NULL && err->code != SHUNT_OK)
			return -1;
		r->total = est ? atoll(est) : 0;
		free(est);
	}
	return 0;
}

/*
 * Without statistics on the key the planner guesses that a key range holds
 * 0.5% of the table, and plans a batch's `keys` as a bitmap scan of the
 * whole rest of the table plus a top-N sort instead of an index scan that
 * stops after the batch's rows: every batch reads everything after it
 * (about 4x slower on 300000 rows, quadratic in the table's size).  A table
 * never analysed (no pg_stats row for the first key column: autovacuum
 * has not come by yet after a bulk load) is analysed first.  ANALYZE reads
 * a sample of at most 300 x default_statistics_target rows and takes a
 * SHARE UPDATE EXCLUSIVE lock, which blocks no reads or writes, only other
 * vacuums, analyses and DDL; the session's lock_timeout bounds its wait.
 * If it cannot run (rights, lock) the backfill goes on, slower.
 */
static int
ensure_statistics(backfill_run *r, shunt_error *err)
{
	const char *params[4] = { r->schema, r->table, r->cols[0], buf_str(&r->tq) };
	shunt_buf sql = SHUNT_BUF_INIT;
	shunt_error e;
	char *none;
	int rc;

	none = pg_query_value(r->db,
		"SELECT c.reltuples < 0 OR NOT EXISTS (SELECT FROM pg_catalog.pg_stats s "
		"         WHERE s.schemaname = $1 AND s.tablename = $2 AND s.attname = $3) "
		"  FROM pg_catalog.pg_class c WHERE c.oid = pg_catalog.to_regclass($4)", 4, params, err);
	if (none == NULL)
		return err->code != SHUNT_OK ? -1 : 0;
	rc = strcmp(none, "t") == 0;
	free(none);
	if (!rc)
		return 0;
	log_info("backfill %s: the table has no statistics; analysing it first", buf_str(&r->tq));
	buf_init(&sql);
	buf_printf(&sql, "ANALYZE %s", buf_str(&r->tq));
	rc = pg_exec_command(r->db, buf_str(&sql), 0, NULL, &e);
	buf_release(&sql);
	if (rc != 0) {
		if (e.code == SHUNT_E_CANCELLED || pg_exec_connection_lost(r->db)) {
			*err = e;
			return -1;
		}
		log_warning("backfill %s: could not analyse the table (%s); its batches may be slow",
					buf_str(&r->tq), e.message);
	}
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
	if (*empty)
		return 0;
	return estimate_total(r, err);
}

/*
 * One batch: the next keys after the last one (params $1..$n) up to an
 * upper bound ($n+1..$2n; the first batch of a pass has no lower bound and
 * starts at $1), at most $LIMIT of them; the rows among them that no
 * application transaction holds are locked (SKIP LOCKED: the backfill never
 * makes an application wait on it, nor waits itself) and updated, found
 * again by ctid rather than by three lookups of the key index.  A row
 * updated by the application in between has a new ctid: it is skipped like
 * a locked one.  In the same statement, so in the same transaction, the
 * position is checkpointed ($LIMIT+1..+3: migration id, schema, table;
 * $LIMIT+4: the current rate, for shunt status), and so is the range of a
 * batch that skipped rows: appended to the revisit list, it commits with
 * the position that walked past it, or not at all.  The result: rows
 * updated, keys seen, and the last key seen.  With skip_locked false (the
 * revisit pass) locked rows are waited for, under lock_timeout.
 */
static void
batch_sql(backfill_run *r, shunt_buf *sql, bool skip_locked)
{
	size_t n = r->n;
	int first_high = r->have_last ? (int) n + 1 : 1;
	int limit = first_high + (int) n;
	bool trigger_mode = r->set_clause == NULL || r->set_clause[0] == '@';

	buf_reset(sql);
	buf_put(sql, "WITH keys AS (SELECT ");
	for (size_t i = 0; i < n; i++) {
		pg_put_ident(r->db, sql, r->cols[i]);
		buf_printf(sql, " AS _shunt_k%zu, ", i + 1);
	}
	buf_printf(sql, "ctid AS _shunt_ctid FROM %s WHERE ", buf_str(&r->tq));
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
	buf_printf(sql, " LIMIT $%d), ", limit);
	buf_printf(sql, "locked AS (SELECT t.ctid AS _shunt_ctid FROM %s t "
					"WHERE t.ctid = ANY (ARRAY(SELECT _shunt_ctid FROM keys)) FOR UPDATE OF t%s), ",
			   buf_str(&r->tq), skip_locked ? " SKIP LOCKED" : "");
	buf_printf(sql, "upd AS (UPDATE %s t SET ", buf_str(&r->tq));
	if (trigger_mode) {
		/* assign a column to itself to fire the sync trigger; not the key,
		 * which may be GENERATED ALWAYS */
		const char *col = r->set_clause ? r->set_clause + 1 : NULL;

		if (col != NULL && col[0] != '\0')
			buf_printf(sql, "%s = t.%s", col, col);
		else {
			pg_put_ident(r->db, sql, r->cols[0]);
			buf_put(sql, " = t.");
			pg_put_ident(r->db, sql, r->cols[0]);
		}
	} else
		buf_put(sql, r->set_clause);
	buf_put(sql, " WHERE t.ctid = ANY (ARRAY(SELECT _shunt_ctid FROM locked)) RETURNING 1), ");
	/* the last key of the batch, as text; qualified: an unqualified ORDER
	 * BY name would mean the text output column, and text order puts 999
	 * after 1000 */
	buf_put(sql, "last AS (SELECT ");
	for (size_t i = 0; i < n; i++)
		buf_printf(sql, "%sk._shunt_k%zu::text AS k%zu", i ? ", " : "", i + 1, i + 1);
	buf_put(sql, " FROM keys k ORDER BY ");
	for (size_t j = 0; j < n; j++)
		buf_printf(sql, "%sk._shunt_k%zu DESC", j ? ", " : "", j + 1);
	buf_put(sql, " LIMIT 1), ");
	buf_printf(sql, "cp AS (UPDATE %s.backfills SET rows_done = rows_done + (SELECT pg_catalog.count(*) FROM upd), "
					"last_key = (SELECT ARRAY[", r->db->state_q);
	for (size_t i = 0; i < n; i++)
		buf_printf(sql, "%sk%zu", i ? ", " : "", i + 1);
	buf_printf(sql, "] FROM last), updated_at = pg_catalog.now(), rows_per_second = $%d::float8", limit + 4);
	if (skip_locked) {
		/* [previous last key or null, this batch's last key], as
		 * run_pass appends it to r->revisit */
		buf_put(sql, ", revisit = CASE WHEN (SELECT pg_catalog.count(*) FROM upd) < "
					 "(SELECT pg_catalog.count(*) FROM keys) THEN revisit || pg_catalog.jsonb_build_array("
					 "pg_catalog.jsonb_build_array(");
		if (r->have_last) {
			buf_put(sql, "pg_catalog.to_jsonb(ARRAY[");
			for (size_t i = 0; i < n; i++)
				buf_printf(sql, "%s$%zu::%s::text", i ? ", " : "", i + 1, r->types[i]);
			buf_put(sql, "])");
		} else
			buf_put(sql, "NULL::jsonb");
		buf_put(sql, ", (SELECT pg_catalog.to_jsonb(ARRAY[");
		for (size_t i = 0; i < n; i++)
			buf_printf(sql, "%sk%zu", i ? ", " : "", i + 1);
		buf_put(sql, "]) FROM last))) ELSE revisit END");
	}
	buf_printf(sql, " WHERE migration_id = $%d::bigint AND table_schema = $%d AND table_name = $%d "
					"AND EXISTS (SELECT FROM last) RETURNING 1) ",
			   limit + 1, limit + 2, limit + 3);
	buf_put(sql, "SELECT (SELECT pg_catalog.count(*) FROM upd), (SELECT pg_catalog.count(*) FROM keys)");
	for (size_t i = 0; i < n; i++)
		buf_printf(sql, ", (SELECT k%zu FROM last)", i + 1);
	buf_put(sql, ", (SELECT pg_catalog.count(*) FROM cp)");
}

static int
set_session(shunt_db *db, const char *name, const char *value, shunt_error *err)
{
	const char *params[2] = { name, value };

	return pg_exec_command(db, "SELECT pg_catalog.set_config($1, $2, false)", 2, params, err);
}

/*
 * Progress while running never claims 100%: the total is an estimate, and
 * when the rows done pass it (or it is unknown) the percentage stops at
 * 99.9 (or is left out) until the last batch.
 */
static void
report(backfill_run *r, bool final)
{
	double secs = (double) (now_ms() - r->started_ms) / 1000.0;
	double rate = current_rate(r);
	bool known = r->total > 0;
	long long total = r->total > r->rows_done ? r->total : r->rows_done;
	double pct = known ? 100.0 * (double) r->rows_done / (double) total : 0.0;

	if (final) {
		if (r->opts->progress_bar)
			fprintf(stderr, "\r\033[K");
		log_info("backfill %s: %lld rows in %.1f s", buf_str(&r->tq), r->rows_done - r->rows_at_start, secs);
		return;
	}
	if (pct > 99.9)
		pct = 99.9;
	if (r->opts->progress_bar) {
		char bar[31];
		int filled = (int) (pct * 30 / 100);
		double eta = rate > 0 && total > r->rows_done ? (double) (total - r->rows_done) / rate : 0;

		for (int i = 0; i < 30; i++)
			bar[i] = i < filled ? '#' : '.';
		bar[30] = '\0';
		if (known)
			fprintf(stderr, "\r\033[Kbackfill [%s] %5.1f%% %lld/~%lld rows %.0f rows/s ETA %.0fs%s%s", bar,
					pct, r->rows_done, total, rate, eta, r->waiting[0] ? " waiting: " : "", r->waiting);
		else
			fprintf(stderr, "\r\033[Kbackfill %lld rows (total unknown) %.0f rows/s%s%s", r->rows_done, rate,
					r->waiting[0] ? " waiting: " : "", r->waiting);
		fflush(stderr);
		return;
	}
	if (known)
		log_info("backfill %s: %lld of ~%lld rows (%.0f%%), %.0f rows/s%s%s", buf_str(&r->tq), r->rows_done,
				 total, pct < 99.0 ? pct : 99.0, rate, r->waiting[0] ? ", waiting: " : "", r->waiting);
	else
		log_info("backfill %s: %lld rows (total unknown), %.0f rows/s%s%s", buf_str(&r->tq), r->rows_done, rate,
				 r->waiting[0] ? ", waiting: " : "", r->waiting);
}

static void
on_wait(void *arg, const char *reason)
{
	backfill_run *r = arg;
	shunt_error ignore;

	snprintf(r->waiting, sizeof(r->waiting), "%s", reason);
	save_checkpoint(r, "running", &ignore);
}

/* Paces the job: throttle signals, --batch-delay and the row rate cap
 * (the operator's shunt tune wins over the command line). */
static int
pace(backfill_run *r, pg_throttle *th, backfill_sizer *sizer, int64_t pass_start, long long pass_rows,
	 shunt_error *err)
{
	const pg_backfill_opts *opts = r->opts;
	double rate;

	if (pg_throttle_wait(th, on_wait, r, err) != 0)
		return -1;
	if (th->tuned_batch_size > 0)
		sizer->fixed = th->tuned_batch_size;
	else
		sizer->fixed = opts->batch_size;
	if (opts->batch_delay_ms > 0)
		interrupt_sleep_ms((long) opts->batch_delay_ms);
	rate = th->tuned_rows_per_second > 0 ? th->tuned_rows_per_second : opts->max_rows_per_second;
	if (rate > 0) {
		double min_ms = 1000.0 * (double) pass_rows / rate;
		int64_t spent = now_ms() - pass_start;

		if (min_ms > (double) spent)
			interrupt_sleep_ms((long) (min_ms - (double) spent));
	}
	/* a batch boundary: the checkpoint is what the last batch committed */
	if (interrupt_requested())
		return interrupt_error(err);
	return 0;
}

/*
 * The retry budget of a batch ran out on lock timeouts, deadlocks or
 * serialisation failures (an application transaction holding a row of a
 * revisit range for minutes): a lock problem, not a broken migration.  The
 * error says so (SHUNT_E_LOCK_TIMEOUT keeps the start resumable instead of
 * rolling it back) and how to go on; the server's SQLSTATE is kept.
 */
static void
give_up(backfill_run *r, shunt_error *err, int64_t failing_ms)
{
	char sqlstate[6], server[256];

	memcpy(sqlstate, err->sqlstate, sizeof(sqlstate));
	snprintf(server, sizeof(server), "%s", err->message);
	shunt_error_set(err, SHUNT_E_LOCK_TIMEOUT, "backfill of %s gave up: a batch could not lock its rows for %lld ms",
					buf_str(&r->tq), (long long) failing_ms);
	memcpy(err->sqlstate, sqlstate, sizeof(sqlstate));
	shunt_error_detail(err, "The last attempt failed with: %s. The checkpoint is kept: %lld rows are done.",
					   server, r->rows_done);
	shunt_error_hint(err, "Once the transactions holding those rows end, run shunt backfill to continue "
						  "(or raise --lock-retry-total); shunt rollback undoes the start.");
}

/*
 * One pass of batches from the current position up to bound[] (the
 * high-water mark, or a revisit range's end).  With skip_locked, a batch
 * that skipped rows adds its key range to r->revisit.
 */
static int
run_pass(backfill_run *r, char **bound, bool skip_locked, pg_throttle *th, shunt_error *err)
{
	shunt_buf sql = SHUNT_BUF_INIT;
	const char **params = shunt_xcalloc(2 * r->n + 5, sizeof(char *));
	backfill_sizer sizer;
	int64_t pass_start = now_ms(), failing_since = 0;
	long long pass_rows = 0;
	int rc = -1;

	buf_init(&sql);
	backfill_sizer_init(&sizer, r->opts->batch_size, r->opts->target_batch_ms);
	for (;;) {
		int batch, np = 0;
		char limit[32], rate[32];
		int64_t t0;
		PGresult *res;
		long long updated, seen;

		if (pace(r, th, &sizer, pass_start, pass_rows, err) != 0)
			goto done;
		batch = backfill_sizer_next(&sizer);
		batch_sql(r, &sql, skip_locked);
		if (r->have_last)
			for (size_t i = 0; i < r->n; i++)
				params[np++] = r->last[i];
		for (size_t i = 0; i < r->n; i++)
			params[np++] = bound[i];
		snprintf(limit, sizeof(limit), "%d", batch);
		params[np++] = limit;
		params[np++] = r->id_text;
		params[np++] = r->schema;
		params[np++] = r->table;
		snprintf(rate, sizeof(rate), "%.1f", current_rate(r));
		params[np++] = rate;

		t0 = now_ms();
		res = pg_exec_params(r->db, buf_str(&sql), np, params, err);
		if (res == NULL) {
			/* lock timeout (revisit pass), deadlock, serialisation: retry
			 * smaller, within the retry budget */
			if (!shunt_error_is_retryable(err))
				goto done;
			if (failing_since == 0)
				failing_since = t0;
			if (now_ms() - failing_since > r->db->lock_retry_ms) {
				give_up(r, err, now_ms() - failing_since);
				goto done;
			}
			backfill_sizer_failed(&sizer);
			interrupt_sleep_ms(100);
			continue;
		}
		failing_since = 0;
		updated = atoll(PQgetvalue(res, 0, 0));
		seen = atoll(PQgetvalue(res, 0, 1));
		if (seen == 0) {
			PQclear(res);
			break; /* no keys left below the bound */
		}
		if (skip_locked && updated < seen) {
			/* rows held by the application: come back for this range; the
			 * batch's statement has added it to the stored list too */
			json_t *range = json_array();
			char **hi = shunt_xcalloc(r->n, sizeof(char *));

			for (size_t i = 0; i < r->n; i++)
				hi[i] = PQgetvalue(res, 0, 2 + (int) i);
			json_array_append_new(range, r->have_last ? key_json(r->last, r->n) : json_null());
			json_array_append_new(range, key_json(hi, r->n));
			json_array_append_new(r->revisit, range);
			free(hi);
		}
		for (size_t i = 0; i < r->n; i++) {
			free(r->last[i]);
			r->last[i] = pg_value_dup(res, 0, 2 + (int) i);
		}
		r->have_last = true;
		PQclear(res);
		r->rows_done += updated;
		pass_rows += updated;
		fault_point("backfill:after-batch:%d", ++r->batches);
		backfill_sizer_observe(&sizer, batch, now_ms() - t0);
		if (r->opts->progress && now_ms() - r->last_report_ms >= (r->opts->progress_bar ? 250 : 5000)) {
			report(r, false);
			r->last_report_ms = now_ms();
		}
	}
	rc = 0;
done:
	buf_release(&sql);
	free(params);
	return rc;
}

/* Copies a JSON key array into a malloc'd array of malloc'd strings. */
static char **
key_from_json(json_t *a, size_t n)
{
	char **k = shunt_xcalloc(n, sizeof(char *));

	for (size_t i = 0; i < n; i++) {
		const char *v = json_string_value(json_array_get(a, i));

		k[i] = v ? shunt_xstrdup(v) : NULL;
	}
	return k;
}

/* Revisits the ranges where the main pass skipped locked rows, waiting for
 * the locks this time (under lock_timeout, retried). */
static int
run_revisits(backfill_run *r, pg_throttle *th, shunt_error *err)
{
	while (json_array_size(r->revisit) > 0) {
		json_t *range = json_array_get(r->revisit, 0);
		json_t *lo = json_array_get(range, 0);
		char **hi = key_from_json(json_array_get(range, 1), r->n);
		int rc;

		free_strings(r->last, r->n);
		if (json_is_array(lo)) {
			r->last = key_from_json(lo, r->n);
			r->have_last = true;
		} else {
			r->last = shunt_xcalloc(r->n, sizeof(char *));
			r->have_last = false;
		}
		log_debug("backfill %s: revisiting a range with rows that were locked", buf_str(&r->tq));
		rc = run_pass(r, hi, false, th, err);
		free_strings(hi, r->n);
		if (rc != 0)
			return -1;
		json_array_remove(r->revisit, 0);
		if (save_checkpoint(r, "running", err) != 0)
			return -1;
	}
	return 0;
}

int
pg_backfill_table(shunt_db *db, const char *schema, const char *table, const char *set_clause,
				  const pg_backfill_opts *opts, shunt_error *err)
{
	backfill_run r;
	pg_throttle th;
	bool found = false, finished = false, empty = false;
	bool direct = set_clause != NULL && set_clause[0] != '@';
	bool session_set = false;
	char lt[32];
	char *sp = NULL, *old_sp = NULL;
	int rc = -1;

	memset(&r, 0, sizeof(r));
	r.db = db;
	r.opts = opts;
	r.schema = schema;
	r.table = table;
	r.set_clause = set_clause;
	r.revisit = json_array();
	r.started_ms = r.last_report_ms = now_ms();
	snprintf(r.id_text, sizeof(r.id_text), "%lld", opts->migration_id);
	if (pg_backfill_key(db, schema, table, &r.cols, &r.types, &r.n, err) != 0) {
		json_decref(r.revisit);
		return -1;
	}
	buf_init(&r.tq);
	pg_put_qualified(db, &r.tq, schema, table);
	r.last = shunt_xcalloc(r.n, sizeof(char *));
	r.high = shunt_xcalloc(r.n, sizeof(char *));
	pg_throttle_init(&th, db, schema, buf_str(&r.tq));
	th.max_replica_lag_ms = opts->max_replica_lag_ms;
	th.max_slot_lag_bytes = opts->max_slot_lag_bytes;
	th.vacuum_pause = !opts->no_vacuum_pause;

	if (load_checkpoint(&r, &found, &finished, err) != 0)
		goto done;
	if (finished) {
		log_info("backfill %s: already done (%lld rows)", buf_str(&r.tq), r.rows_done);
		rc = 0;
		goto done;
	}
	/* lock_timeout bounds a revisit batch's wait for application row
	 * locks (and the ANALYZE's wait); up expressions name tables
	 * unqualified, as an old-version client on the application schema
	 * would; shunt.backfill tells the sync trigger that this session
	 * computes the new columns itself.  Reset at the end, also on errors:
	 * the phase's next steps run on this session. */
	snprintf(lt, sizeof(lt), "%lld", (long long) db->lock_timeout_ms);
	sp = pg_ident(db, schema);
	old_sp = pg_query_value(db, "SELECT pg_catalog.current_setting('search_path')", 0, NULL, err);
	if (old_sp == NULL)
		goto done;
	session_set = true;
	if (set_session(db, "lock_timeout", lt, err) != 0 || set_session(db, "search_path", sp, err) != 0 ||
		set_session(db, "shunt.backfill", direct ? "on" : "off", err) != 0)
		goto done;
	if (ensure_statistics(&r, err) != 0)
		goto done;
	if (found) {
		log_info("backfill %s: resuming after %lld rows", buf_str(&r.tq), r.rows_done);
		/* an estimate stored by a version that wrote rows done instead,
		 * or none: estimate again */
		if (r.total <= r.rows_done && estimate_total(&r, err) != 0)
			goto done;
	} else {
		if (read_high_water(&r, &empty, err) != 0)
			goto done;
		if (empty) {
			rc = 0;
			goto done;
		}
	}
	/* the checkpoint row exists before the first batch updates it */
	if (opts->migration_id == 0 || save_checkpoint(&r, "running", err) != 0) {
		if (opts->migration_id == 0)
			shunt_error_set(err, SHUNT_E_INTERNAL, "a backfill needs a migration to checkpoint in");
		goto done;
	}
	rc = run_pass(&r, r.high, true, &th, err);
	if (rc == 0)
		rc = run_revisits(&r, &th, err);
	if (rc == 0) {
		if (opts->progress)
			report(&r, true);
		rc = save_checkpoint(&r, "done", err);
	} else if (opts->progress_bar)
		fprintf(stderr, "\r\033[K");
done:
	if (session_set && !pg_exec_connection_lost(db)) {
		shunt_error ignore;

		set_session(db, "lock_timeout", "0", &ignore);
		/* as the phase had it: its later steps (index builds with user
		 * expressions) resolve names on the application schema too */
		set_session(db, "search_path", old_sp, &ignore);
		set_session(db, "shunt.backfill", "off", &ignore);
	}
	if (rc != 0)
		shunt_error_add_context(err, "while backfilling %s", buf_str(&r.tq));
	free(sp);
	free(old_sp);
	free_strings(r.last, r.n);
	free_strings(r.high, r.n);
	free_strings(r.cols, r.n);
	free_strings(r.types, r.n);
	json_decref(r.revisit);
	buf_release(&r.tq);
	return rc;
}

char *
pg_backfill_batch_sql(shunt_db *db, const char *schema, const char *table, const char *set_clause,
					  shunt_error *err)
{
	backfill_run r;
	shunt_buf sql = SHUNT_BUF_INIT;

	memset(&r, 0, sizeof(r));
	r.db = db;
	r.set_clause = set_clause;
	if (pg_backfill_key(db, schema, table, &r.cols, &r.types, &r.n, err) != 0)
		return NULL;
	buf_init(&r.tq);
	pg_put_qualified(db, &r.tq, schema, table);
	r.have_last = true;
	buf_init(&sql);
	batch_sql(&r, &sql, true);
	free_strings(r.cols, r.n);
	free_strings(r.types, r.n);
	buf_release(&r.tq);
	return buf_detach(&sql);
}
