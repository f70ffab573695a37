/*
 * pg_logical.h: triggerless change capture for the online table rebuild.
 *
 * The changed keys of one table are read from a temporary logical
 * replication slot with the built-in pgoutput plugin, over a second,
 * replication=database connection (libpq's CopyBoth protocol): a publication
 * FOR TABLE schema.table selects the table, the 'R' relation message maps key
 * column names to positions, and only key values are extracted (INSERT: the
 * new key; UPDATE: the new key and, when the key changed or the identity is
 * FULL, the old one; DELETE: the old key).  A TRUNCATE of the table is an
 * error.  A non-transactional logical decoding message (prefix "shunt")
 * is the cut-over marker: once it arrives, every change committed before it
 * was emitted has been delivered.
 *
 * The slot is TEMPORARY, so the server drops it when the replication
 * connection ends, also when the process is killed; the publication is an
 * ordinary catalog object and is dropped by pg_logical_close, or by
 * pg_logical_cleanup after a crash.
 *
 * The replication connection must be read regularly (pg_logical_poll, even
 * with timeout 0): the server ends a walsender whose client has not answered
 * for wal_sender_timeout (default 60 s), and the slot holds back WAL
 * recycling from the last confirmed position.
 *
 * Depends on libpq, pg_conn, pg_exec, pg_lock and core; never prints (it
 * logs at info level while slot creation waits for old transactions).
 */
#ifndef SHUNT_PG_LOGICAL_H
#define SHUNT_PG_LOGICAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "pg/pg_conn.h"

/* Prefix of the cut-over marker message (pg_logical_emit_message). */
#define PG_LOGICAL_MARKER_PREFIX "shunt"

typedef struct pg_logical pg_logical;

/*
 * Called for each changed key of the captured table, in commit order; key[i]
 * is the text value of key_cols[i] (never NULL; valid only during the call).
 * A key may be delivered more than once and for changes that are later
 * found to be no-ops: the consumer re-reads the row by key.  Return 0, or
 * -1 with err filled to stop.
 */
typedef int (*pg_logical_key_cb)(void *arg, const char *const *key, size_t n_key, shunt_error *err);

/*
 * Whether logical capture can work here for schema.table with these key
 * columns: wal_level = logical; the role is superuser or has REPLICATION; a
 * free replication slot and a free WAL sender; pgoutput allowed by
 * output_plugin_libraries (when the server has that setting); the role may
 * create the publication (CREATE on the database, owns the table); the table
 * is an ordinary permanent table; its replica identity covers key_cols
 * (DEFAULT with a primary key of exactly key_cols, USING INDEX on an index of
 * exactly key_cols, or FULL).  Read-only.  Returns 0, or -1 with err
 * (SHUNT_E_REFUSED: message, detail and a hint naming what to do;
 * SHUNT_E_DB/SHUNT_E_CONNECT when a query failed).
 */
int pg_logical_check(shunt_db *db, const char *schema, const char *table, const char *const *key_cols,
					 size_t n_key, shunt_error *err);

/*
 * Runs pg_logical_check, then (re)creates the publication `publication` FOR
 * TABLE schema.table through db (a short transaction under db's
 * lock_timeout with pg_lock's retries: CREATE PUBLICATION takes SHARE UPDATE
 * EXCLUSIVE on the table, which conflicts only with DDL, VACUUM and
 * ANALYZE), opens a replication connection with db->conninfo plus
 * replication=database, creates the TEMPORARY logical slot `slot` with
 * pgoutput and starts streaming from its consistent point.  Every change
 * committed after this returns is delivered.
 *
 * Slot creation waits until every transaction that has an xid and was
 * running when it started has ended (in any database of the cluster); the
 * wait is logged every 10 s with the oldest such sessions and bounded by
 * db->lock_retry_ms (then -1, SHUNT_E_LOCK_TIMEOUT, with those sessions in
 * the detail).  slot must be a valid slot name ([a-z0-9_], at most 63
 * bytes); publication must not contain a backslash.  Expects no open
 * transaction on db and leaves none.  On success *out is owned by the caller
 * (pg_logical_close); on failure nothing is left behind (the publication is
 * dropped again).  Returns 0 or -1 with err.
 */
int pg_logical_open(shunt_db *db, const char *schema, const char *table, const char *const *key_cols,
					size_t n_key, const char *slot, const char *publication, pg_logical **out,
					shunt_error *err);

/*
 * Reads what is available, waiting at most timeout_ms (0: do not wait) for
 * the first message, calling cb for each changed key of the table; stops
 * when nothing more is buffered or after about 1 s of reading (so a steady
 * stream cannot keep the caller here).  Then sends feedback confirming
 * everything processed (flush = end of the last commit handled, or the
 * server's position from a keepalive received outside a transaction) and
 * answers keepalives that request a reply.  Returns the number of keys
 * delivered (>= 0) or -1 with err (connection lost: SHUNT_E_CONNECT;
 * TRUNCATE of the table or its key columns dropped: SHUNT_E_REFUSED;
 * whatever cb returned).  After -1 the capture is unusable: close it.
 */
int pg_logical_poll(pg_logical *l, int timeout_ms, pg_logical_key_cb cb, void *arg, shunt_error *err);

/*
 * Emits a non-transactional logical decoding message through db
 * (pg_logical_emit_message(false, 'shunt', token)), which is decoded at once,
 * outside any transaction; meant to be called while holding the table's
 * exclusive lock inside a transaction.  Fills token (size >= 40) with a
 * unique random string.  Returns 0 or -1 with err.
 */
int pg_logical_emit_marker(shunt_db *db, char *token, size_t token_size, shunt_error *err);

/*
 * Reads the stream, calling cb for each change, until the marker with this
 * token arrives: every change committed before the marker was emitted has
 * then been delivered.  The marker may be transactional or not, emitted by
 * any session of the database: only prefix and token are compared.  While
 * it has not arrived, the server is made to flush its WAL about every
 * second (a short extra session commits under synchronous_commit = local),
 * since a walsender sends only flushed WAL.  Feedback is sent as in
 * pg_logical_poll.  Returns 0, or -1 with err (also when timeout_ms passes
 * first: SHUNT_E_DB, message "cut-over marker did not arrive ...").
 */
int pg_logical_wait_marker(pg_logical *l, const char *token, int timeout_ms, pg_logical_key_cb cb, void *arg,
						   shunt_error *err);

/* The LSN confirmed to the server so far, for reporting (0 before any). */
uint64_t pg_logical_confirmed_lsn(const pg_logical *l);

/*
 * Ends streaming, drops the temporary slot and closes the replication
 * connection, then drops the publication through db (NULL skips that; a
 * failure to drop it is logged as a warning and left for
 * pg_logical_cleanup).  Expects no open transaction on db.  Frees l; safe
 * with NULL.
 */
void pg_logical_close(pg_logical *l, shunt_db *db);

/*
 * Removes leftovers of a crashed run through db: the slot named slot if it
 * exists and is inactive (a temporary slot is gone once its session ended;
 * this covers a permanent one), and the publication.  Refuses
 * (SHUNT_E_REFUSED, nothing dropped) while the slot is active, i.e. another
 * run is still capturing.  Returns 0 or -1 with err.
 */
int pg_logical_cleanup(shunt_db *db, const char *slot, const char *publication, shunt_error *err);

#endif
