/*
 * pg_rebuild_logical.c: logical-decoding capture for the rebuild.
 *
 * The slot (pg_logical.h) delivers the keys of the live table's changes;
 * they are written into the same log table the capture trigger would fill,
 * so applying, verifying and the cut-over do not care which capture runs.
 * The application's writes pay nothing: shunt's own connection does the
 * log inserts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/model.h"
#include "pg/pg_exec.h"
#include "pg/pg_logical.h"
#include "pg/pg_rebuild_int.h"

/* Keys collected from one poll, column by column, flushed with one INSERT. */
typedef struct key_batch {
	size_t n_key;
	shunt_buf *arrays;  /* one Postgres array literal per key column */
	size_t rows;
} key_batch;

static void
array_put(shunt_buf *b, const char *v)
{
	buf_put(b, b->len > 1 ? ",\"" : "\"");
	for (const char *p = v; *p; p++) {
		if (*p == '"' || *p == '\\')
			buf_putc(b, '\\');
		buf_putc(b, *p);
	}
	buf_putc(b, '"');
}

static int
collect(void *arg, const char *const *key, size_t n_key, shunt_error *err)
{
	key_batch *kb = arg;

	if (n_key != kb->n_key)
		return shunt_error_set(err, SHUNT_E_INTERNAL, "the slot delivered %zu key values, expected %zu", n_key,
							   kb->n_key);
	for (size_t i = 0; i < n_key; i++)
		array_put(&kb->arrays[i], key[i]);
	kb->rows++;
	return 0;
}

static int
flush(rebuild *rb, const rb_dir *d, key_batch *kb, shunt_error *err)
{
	shunt_buf sql = SHUNT_BUF_INIT;
	const char **params;
	json_t *key = json_object_get(rb->spec, "key");
	int rc;

	if (kb->rows == 0)
		return 0;
	params = shunt_xcalloc(kb->n_key, sizeof(char *));
	buf_init(&sql);
	buf_printf(&sql, "INSERT INTO %s (", buf_str(&d->log_q));
	for (size_t i = 0; i < kb->n_key; i++) {
		buf_put(&sql, i ? ", " : "");
		pg_put_ident(rb->db, &sql, rb_key_name(rb, i));
	}
	buf_put(&sql, ") SELECT * FROM pg_catalog.unnest(");
	for (size_t i = 0; i < kb->n_key; i++) {
		json_t *k = json_array_get(key, i);

		buf_putc(&kb->arrays[i], '}');
		params[i] = buf_str(&kb->arrays[i]);
		buf_printf(&sql, "%s$%zu::%s[]", i ? ", " : "", i + 1,
				   json_string_value(json_object_get(k, d->forward ? "src_type" : "dst_type")));
	}
	buf_putc(&sql, ')');
	rc = pg_exec_command(rb->db, buf_str(&sql), (int) kb->n_key, params, err);
	buf_release(&sql);
	free(params);
	for (size_t i = 0; i < kb->n_key; i++) {
		buf_reset(&kb->arrays[i]);
		buf_putc(&kb->arrays[i], '{');
	}
	kb->rows = 0;
	return rc;
}

/*
 * The marker is a transactional message written by a second session in
 * its own transaction: its commit flushes the WAL (synchronous_commit =
 * local) (PostgreSQL 15's
 * walsender sends only flushed WAL, and a non-transactional message from
 * the locking transaction would wait unflushed for that transaction's
 * commit), and every change to the table committed before the lock was
 * taken precedes that commit in the stream.
 */
static int
emit_marker(rebuild *rb, char *token, size_t size, shunt_error *err)
{
	const char *params[2];

	if (rb->marker_db == NULL) {
		rb->marker_db = pg_conn_open(rb->db->conninfo, rb->db->state_schema, err);
		if (rb->marker_db == NULL)
			return -1;
		/* the commit must flush the WAL even where the server or role
		 * defaults to synchronous_commit = off: the walsender sends only
		 * flushed WAL, and the WAL writer may take 200 ms or more */
		if (pg_exec_command(rb->marker_db, "SET synchronous_commit = local", 0, NULL, err) != 0)
			return -1;
	}
	snprintf(token, size, "%s-%lld-%lld", PG_LOGICAL_MARKER_PREFIX, rb->id, (long long) rb_now_ms());
	params[0] = PG_LOGICAL_MARKER_PREFIX;
	params[1] = token;
	return pg_exec_command(rb->marker_db, "SELECT pg_catalog.pg_logical_emit_message(true, $1, $2)", 2, params,
						   err);
}

/* Reads changes into the log: with a token, up to that marker (within
 * wait_ms), else what the stream holds now. */
static int
capture_read(rebuild *rb, const rb_dir *d, int timeout_ms, bool to_marker, shunt_error *err)
{
	key_batch kb;
	int rc = 0;

	if (rb->logical == NULL || !d->forward)
		return 0;
	kb.n_key = rb_nkey(rb);
	kb.rows = 0;
	kb.arrays = shunt_xcalloc(kb.n_key, sizeof(shunt_buf));
	for (size_t i = 0; i < kb.n_key; i++) {
		buf_init(&kb.arrays[i]);
		buf_putc(&kb.arrays[i], '{');
	}
	if (to_marker) {
		/* everything up to a marker committed now */
		char token[64];

		rc = emit_marker(rb, token, sizeof(token), err);
		if (rc == 0)
			rc = pg_logical_wait_marker(rb->logical, token, timeout_ms, collect, &kb, err);
		if (rc == 0)
			rc = flush(rb, d, &kb, err);
	} else {
		/* what is there now, in rounds of at most a few thousand keys */
		for (;;) {
			int got = pg_logical_poll(rb->logical, timeout_ms, collect, &kb, err);

			if (got < 0) {
				rc = -1;
				break;
			}
			if (flush(rb, d, &kb, err) != 0) {
				rc = -1;
				break;
			}
			if (got == 0)
				break;
			timeout_ms = 0;
		}
	}
	for (size_t i = 0; i < kb.n_key; i++)
		buf_release(&kb.arrays[i]);
	free(kb.arrays);
	if (rc != 0)
		shunt_error_add_context(err, "while reading changes from the replication slot");
	return rc;
}

int
rb_capture_poll(rebuild *rb, const rb_dir *d, int timeout_ms, shunt_error *err)
{
	return capture_read(rb, d, timeout_ms, false, err);
}

int
rb_capture_sync(rebuild *rb, const rb_dir *d, int wait_ms, shunt_error *err)
{
	return capture_read(rb, d, wait_ms, true, err);
}
