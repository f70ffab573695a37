/*
 * pg_conn.c: connecting and quoting; see pg_conn.h.
 */
#include "pg/pg_conn.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"
#include "pg/pg_exec.h"

const char *
pg_conn_resolve(const char *db_arg)
{
	const char *v;

	if (db_arg != NULL && db_arg[0] != '\0')
		return db_arg;
	v = getenv("SHUNT_DB");
	if (v != NULL && v[0] != '\0')
		return v;
	v = getenv("DATABASE_URL");
	if (v != NULL && v[0] != '\0')
		return v;
	return "";
}

/* First line of libpq's connection error, without the trailing newline. */
static void
connect_error(PGconn *conn, shunt_error *err)
{
	const char *msg = conn ? PQerrorMessage(conn) : "out of memory";
	char line[512];
	size_t n;

	snprintf(line, sizeof(line), "%s", msg);
	n = strlen(line);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == ' '))
		line[--n] = '\0';
	shunt_error_set(err, SHUNT_E_CONNECT, "could not connect to the database");
	shunt_error_detail(err, "%s", line);
	shunt_error_hint(err, "Give the database with --db (a postgres:// URL or a conninfo string), "
						  "or set SHUNT_DB, DATABASE_URL or the PG* environment variables.");
}

/* Server notices ("schema ... does not exist, skipping") are debug output:
 * shunt says itself what it does. */
static void
notice_to_log(void *arg, const char *message)
{
	size_t len = strlen(message);

	(void) arg;
	while (len > 0 && message[len - 1] == '\n')
		len--;
	log_debug("server: %.*s", (int) len, message);
}

static int
session_setup(shunt_db *db, shunt_error *err)
{
	PGresult *res;

	PQsetNoticeProcessor(db->conn, notice_to_log, NULL);
	/* the signal handler may only call PQcancel(): the cancel object (the
	 * backend's pid and key) is made now, not when the signal comes */
	pg_exec_forget_cancel(db);
	db->cancel = PQgetCancel(db->conn);

	db->server_version = PQserverVersion(db->conn);
	/* Every statement shunt sends is schema-qualified; an empty search_path
	 * makes sure no user object can capture an unqualified name. */
	res = pg_exec_params(db, "SELECT pg_catalog.set_config('search_path', '', false)", 0, NULL, err);
	if (res == NULL)
		return -1;
	PQclear(res);
	/* libpg_query validates user expressions as the SQL standard reads
	 * strings; the session must read them the same way. */
	res = pg_exec_params(db, "SELECT pg_catalog.set_config('standard_conforming_strings', 'on', false)", 0,
						 NULL, err);
	if (res == NULL)
		return -1;
	PQclear(res);
	return 0;
}

shunt_db *
pg_conn_open(const char *db_arg, const char *state_schema, shunt_error *err)
{
	const char *keywords[] = { "dbname", "fallback_application_name", NULL };
	const char *values[] = { NULL, "shunt", NULL };
	shunt_db *db = shunt_xcalloc(1, sizeof(*db));

	db->conninfo = shunt_xstrdup(pg_conn_resolve(db_arg));
	db->sql_out = stdout;
	db->lock_timeout_ms = 500;
	db->lock_retry_ms = 10 * 60 * 1000;
	db->concurrent_timeout_ms = 0;
	db->state_schema = shunt_xstrdup(state_schema ? state_schema : "shunt");
	values[0] = db->conninfo;
	db->conn = PQconnectdbParams(keywords, values, 1);
	if (db->conn == NULL || PQstatus(db->conn) != CONNECTION_OK) {
		connect_error(db->conn, err);
		pg_conn_free(db);
		return NULL;
	}
	db->state_q = pg_ident(db, db->state_schema);
	if (session_setup(db, err) != 0) {
		pg_conn_free(db);
		return NULL;
	}
	return db;
}

int
pg_conn_reset(shunt_db *db, shunt_error *err)
{
	PQreset(db->conn);
	if (PQstatus(db->conn) != CONNECTION_OK) {
		connect_error(db->conn, err);
		return -1;
	}
	return session_setup(db, err);
}

void
pg_conn_free(shunt_db *db)
{
	if (db == NULL)
		return;
	if (db->conn != NULL && PQstatus(db->conn) == CONNECTION_OK) {
		/* The server releases a session's advisory locks when its backend
		 * exits, a moment after the client has gone: release them now, so
		 * the next shunt command never finds its own predecessor's lock. */
		PGresult *res = PQexec(db->conn, "SELECT pg_catalog.pg_advisory_unlock_all()");

		PQclear(res);
	}
	pg_exec_forget_cancel(db);
	if (db->conn != NULL)
		PQfinish(db->conn);
	free(db->conninfo);
	free(db->state_schema);
	free(db->state_q);
	free(db);
}

char *
pg_ident(shunt_db *db, const char *name)
{
	shunt_buf b = SHUNT_BUF_INIT;

	pg_put_ident(db, &b, name);
	return buf_detach(&b);
}

void
pg_put_ident(shunt_db *db, shunt_buf *b, const char *name)
{
	char *q = db && db->conn ? PQescapeIdentifier(db->conn, name, strlen(name)) : NULL;

	if (q != NULL) {
		buf_put(b, q);
		PQfreemem(q);
		return;
	}
	/* No connection (or invalid encoding): the same rule libpq applies. */
	buf_putc(b, '"');
	for (const char *p = name; *p; p++) {
		if (*p == '"')
			buf_putc(b, '"');
		buf_putc(b, *p);
	}
	buf_putc(b, '"');
}

void
pg_put_qualified(shunt_db *db, shunt_buf *b, const char *schema, const char *name)
{
	pg_put_ident(db, b, schema);
	buf_putc(b, '.');
	pg_put_ident(db, b, name);
}

void
pg_put_literal(shunt_db *db, shunt_buf *b, const char *value)
{
	char *q = db && db->conn ? PQescapeLiteral(db->conn, value, strlen(value)) : NULL;

	if (q != NULL) {
		buf_put(b, q);
		PQfreemem(q);
		return;
	}
	buf_putc(b, '\'');
	for (const char *p = value; *p; p++) {
		if (*p == '\'')
			buf_putc(b, '\'');
		buf_putc(b, *p);
	}
	buf_putc(b, '\'');
}

char *
pg_conn_redact(const char *conninfo)
{
	PQconninfoOption *opts;
	shunt_buf b = SHUNT_BUF_INIT;
	char *errmsg = NULL;

	opts = PQconninfoParse(conninfo, &errmsg);
	if (opts == NULL) {
		PQfreemem(errmsg);
		return shunt_xstrdup("(unparsable connection string)");
	}
	buf_init(&b);
	for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
		if (o->val == NULL || o->val[0] == '\0')
			continue;
		if (b.len > 0)
			buf_putc(&b, ' ');
		if (strcmp(o->keyword, "password") == 0)
			buf_printf(&b, "%s=********", o->keyword);
		else
			buf_printf(&b, "%s=%s", o->keyword, o->val);
	}
	PQconninfoFree(opts);
	return buf_detach(&b);
}
