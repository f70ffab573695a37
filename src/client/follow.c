/*
 * follow.c: following the current version and reading flags, for
 * applications (include/shunt.h).  Depends on libpq and libc only: no
 * shunt internals, no allocation that aborts, nothing printed.
 *
 * Everything it asks of the server goes through the state schema's SQL
 * functions (src/pg/pg_api.c), the same ones applications in other
 * languages call: current_version, use_version, register_client,
 * unregister_client; flags are read from the flags table.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shunt.h"

/* Registrations are refreshed at most this often (seconds); transaction-
 * mode rows count as live for 30 s after a refresh (live_clients()). */
#define REFRESH_S 5.0

typedef struct flag_entry {
	char *name;
	char *value;
} flag_entry;

struct shunt_client {
	PGconn *conn;                /* borrowed: must outlive the client */
	char *schema;
	char *state_schema;
	char *state_q;               /* quoted state schema, for SQL text */
	shunt_client_mode mode;
	char *pinned;                /* NULL: follow the current version */
	char *version;               /* in use; NULL before follow */
	char *client_id;             /* transaction mode: our registration */
	int backend_pid;             /* session mode: the session we set up */
	bool following;
	bool version_dirty;          /* a switch was announced, or the pin changed */
	bool flags_dirty;            /* a flag change was announced */
	double last_refresh;         /* monotonic seconds; 0: refresh at once */
	char *flags_mark;            /* max(flag_history.id) when flags were loaded */
	flag_entry *flags;
	size_t n_flags;
	PGnotify **foreign;          /* the application's own notifications */
	size_t n_foreign;
	size_t cap_foreign;
	char err[512];
};

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static char *
dup_str(const char *s)
{
	size_t n;
	char *d;

	if (s == NULL)
		return NULL;
	n = strlen(s) + 1;
	d = malloc(n);
	if (d != NULL)
		memcpy(d, s, n);
	return d;
}

static bool
str_eq(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static int fail(shunt_client *c, const PGresult *res, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Records an error (with the server's message when res or the connection
 * has one); returns -1. */
static int
fail(shunt_client *c, const PGresult *res, const char *fmt, ...)
{
	const char *server = res ? PQresultErrorMessage(res) : NULL;
	va_list ap;
	size_t n;

	if (server == NULL || server[0] == '\0')
		server = c->conn ? PQerrorMessage(c->conn) : "";
	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	n = strlen(c->err);
	if (server[0] != '\0' && n + 3 < sizeof(c->err))
		snprintf(c->err + n, sizeof(c->err) - n, ": %s", server);
	n = strlen(c->err);
	while (n > 0 && c->err[n - 1] == '\n')
		c->err[--n] = '\0';
	return -1;
}

/* "SELECT <state>.<rest>" with the quoted state schema; NULL if OOM. */
static char *
state_sql(const shunt_client *c, const char *fmt)
{
	size_t n = strlen(fmt) + 4 * strlen(c->state_q) + 1;
	char *s = malloc(n);

	if (s != NULL)
		snprintf(s, n, fmt, c->state_q, c->state_q, c->state_q, c->state_q);
	return s;
}

/* Runs sql (text with %s for the state schema) with params; returns the
 * result (caller PQclear()s) or NULL with the error recorded. */
static PGresult *
run(shunt_client *c, const char *fmt, int n, const char *const *params, const char *what)
{
	char *sql = state_sql(c, fmt);
	PGresult *res;
	ExecStatusType st;

	if (sql == NULL) {
		snprintf(c->err, sizeof(c->err), "out of memory");
		return NULL;
	}
	res = PQexecParams(c->conn, sql, n, NULL, params, NULL, NULL, 0);
	free(sql);
	st = PQresultStatus(res);
	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
		return res;
	fail(c, res, "cannot %s", what);
	PQclear(res);
	return NULL;
}

/* ---- flags ---- */

static void
flags_clear(shunt_client *c)
{
	for (size_t i = 0; i < c->n_flags; i++) {
		free(c->flags[i].name);
		free(c->flags[i].value);
	}
	free(c->flags);
	c->flags = NULL;
	c->n_flags = 0;
}

/* Reads every flag, and the newest history id (the mark transaction mode
 * compares). */
static int
load_flags(shunt_client *c)
{
	PGresult *res = run(c,
						"SELECT f.name, f.value, h.m FROM (SELECT pg_catalog.max(id)::text AS m "
						"  FROM %s.flag_history) h LEFT JOIN %s.flags f ON true",
						0, NULL, "read the flags");
	int n;

	if (res == NULL)
		return -1;
	flags_clear(c);
	n = PQntuples(res);
	c->flags = calloc((size_t) n + 1, sizeof(flag_entry));
	if (c->flags == NULL) {
		PQclear(res);
		snprintf(c->err, sizeof(c->err), "out of memory");
		return -1;
	}
	for (int i = 0; i < n; i++) {
		if (PQgetisnull(res, i, 0))
			continue;
		c->flags[c->n_flags].name = dup_str(PQgetvalue(res, i, 0));
		c->flags[c->n_flags].value = dup_str(PQgetvalue(res, i, 1));
		if (c->flags[c->n_flags].name == NULL || c->flags[c->n_flags].value == NULL) {
			free(c->flags[c->n_flags].name);
			free(c->flags[c->n_flags].value);
			continue;
		}
		c->n_flags++;
	}
	free(c->flags_mark);
	c->flags_mark = n > 0 && !PQgetisnull(res, 0, 2) ? dup_str(PQgetvalue(res, 0, 2)) : NULL;
	c->flags_dirty = false;
	PQclear(res);
	return 0;
}

/* ---- notifications ---- */

static void
keep_foreign(shunt_client *c, PGnotify *n)
{
	if (c->n_foreign == c->cap_foreign) {
		size_t cap = c->cap_foreign ? c->cap_foreign * 2 : 8;
		PGnotify **v = realloc(c->foreign, cap * sizeof(*v));

		if (v == NULL) {
			PQfreemem(n); /* lost; better than aborting the application */
			return;
		}
		c->foreign = v;
		c->cap_foreign = cap;
	}
	c->foreign[c->n_foreign++] = n;
}

/* Reads what arrived without waiting; marks flags (and, for a change of a
 * current version, the version) to reload.  Session mode only. */
static int
drain(shunt_client *c)
{
	PGnotify *n;

	if (!PQconsumeInput(c->conn))
		return fail(c, NULL, "cannot read notifications");
	while ((n = PQnotifies(c->conn)) != NULL) {
		if (strcmp(n->relname, c->state_schema) != 0) {
			keep_foreign(c, n);
			continue;
		}
		c->flags_dirty = true;
		if (strstr(n->extra, "\"shunt.current_version:") != NULL)
			c->version_dirty = true;
		PQfreemem(n);
	}
	return 0;
}

/* ---- versions and registration ---- */

/* The version to use now: the pin, or the current version. */
static char *
target_version(shunt_client *c)
{
	const char *params[1] = { c->schema };
	PGresult *res;
	char *v;

	if (c->pinned != NULL)
		return dup_str(c->pinned);
	res = run(c, "SELECT %s.current_version($1)", 1, params, "read the current version");
	if (res == NULL)
		return NULL;
	v = dup_str(PQgetvalue(res, 0, 0));
	PQclear(res);
	if (v == NULL)
		snprintf(c->err, sizeof(c->err), "out of memory");
	return v;
}

/* Session mode: search_path to v and the registration, in one call. */
static int
use_version(shunt_client *c, const char *v)
{
	const char *params[2] = { v, c->schema };
	PGresult *res = run(c, "SELECT %s.use_version($1, $2)", 2, params, "switch the session's version");

	if (res == NULL)
		return -1;
	PQclear(res);
	c->last_refresh = now_s();
	return 0;
}

static int
register_client(shunt_client *c)
{
	const char *app = PQparameterStatus(c->conn, "application_name");
	const char *params[5] = { c->schema, c->version,
							  c->mode == SHUNT_CLIENT_TRANSACTION ? "transaction" : "session", c->client_id,
							  app && app[0] ? app : NULL };
	PGresult *res = run(c, "SELECT %s.register_client($1, $2, $3, $4, $5)", 5, params, "register the client");

	if (res == NULL)
		return -1;
	PQclear(res);
	c->last_refresh = now_s();
	return 0;
}

static bool
set_version(shunt_client *c, char *v)
{
	bool changed = !str_eq(c->version, v);

	free(c->version);
	c->version = v;
	return changed;
}

/* An id for transaction mode, where the backend does not identify us. */
static char *
make_client_id(void)
{
	char host[256] = "";
	char id[400];
	struct timespec ts;
	unsigned long r;

	if (gethostname(host, sizeof(host) - 1) != 0)
		snprintf(host, sizeof(host), "unknown");
	clock_gettime(CLOCK_REALTIME, &ts);
	r = (unsigned long) ts.tv_nsec ^ ((unsigned long) ts.tv_sec << 20) ^ (unsigned long) (size_t) &ts;
	snprintf(id, sizeof(id), "%s:%ld:%08lx", host, (long) getpid(), r & 0xffffffffUL);
	return dup_str(id);
}

/* ---- the API ---- */

shunt_client *
shunt_client_new(PGconn *conn, const char *schema, const char *state_schema)
{
	shunt_client *c;
	char *q;

	if (conn == NULL)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->conn = conn;
	c->schema = dup_str(schema ? schema : "public");
	c->state_schema = dup_str(state_schema ? state_schema : "shunt");
	q = c->state_schema ? PQescapeIdentifier(conn, c->state_schema, strlen(c->state_schema)) : NULL;
	c->state_q = dup_str(q);
	PQfreemem(q);
	if (c->schema == NULL || c->state_schema == NULL || c->state_q == NULL) {
		shunt_client_free(c);
		return NULL;
	}
	return c;
}

int
shunt_client_set_mode(shunt_client *c, shunt_client_mode mode)
{
	if (c->following) {
		snprintf(c->err, sizeof(c->err), "the mode can only be set before shunt_client_follow");
		return -1;
	}
	if (mode != SHUNT_CLIENT_SESSION && mode != SHUNT_CLIENT_TRANSACTION) {
		snprintf(c->err, sizeof(c->err), "invalid mode %d", (int) mode);
		return -1;
	}
	c->mode = mode;
	return 0;
}

int
shunt_client_pin(shunt_client *c, const char *version)
{
	char *p = NULL;

	if (version != NULL && (p = dup_str(version)) == NULL) {
		snprintf(c->err, sizeof(c->err), "out of memory");
		return -1;
	}
	free(c->pinned);
	c->pinned = p;
	c->version_dirty = true;
	return 0;
}

int
shunt_client_follow(shunt_client *c)
{
	char *v;

	c->err[0] = '\0';
	if (PQtransactionStatus(c->conn) != PQTRANS_IDLE) {
		snprintf(c->err, sizeof(c->err), "shunt_client_follow must be called outside a transaction");
		return -1;
	}
	if (c->mode == SHUNT_CLIENT_SESSION) {
		PGresult *res = run(c, "LISTEN %s", 0, NULL, "listen for switches and flag changes");

		if (res == NULL)
			return -1;
		PQclear(res);
	} else if (c->client_id == NULL && (c->client_id = make_client_id()) == NULL) {
		snprintf(c->err, sizeof(c->err), "out of memory");
		return -1;
	}
	v = target_version(c);
	if (v == NULL)
		return -1;
	set_version(c, v);
	if (c->mode == SHUNT_CLIENT_SESSION ? use_version(c, c->version) != 0 : register_client(c) != 0)
		return -1;
	if (load_flags(c) != 0)
		return -1;
	c->backend_pid = PQbackendPID(c->conn);
	c->version_dirty = false;
	c->following = true;
	return 0;
}

static int
begin_session(shunt_client *c)
{
	bool changed = false;
	PGresult *res;

	if (PQbackendPID(c->conn) != c->backend_pid) {
		/* a new session (PQreset): LISTEN and search_path are gone */
		char *old = dup_str(c->version);

		c->following = false;
		if (shunt_client_follow(c) != 0) {
			free(old);
			return -1;
		}
		changed = !str_eq(old, c->version);
		free(old);
	}
	if (drain(c) != 0)
		return -1;
	if (c->flags_dirty && load_flags(c) != 0)
		return -1;
	if (c->version_dirty) {
		char *v = target_version(c);

		if (v == NULL)
			return -1;
		if (!str_eq(v, c->version)) {
			if (use_version(c, v) != 0) {
				free(v);
				return -1;
			}
			changed = set_version(c, v) || changed;
		} else
			free(v);
		c->version_dirty = false;
	}
	if (now_s() - c->last_refresh >= REFRESH_S && register_client(c) != 0)
		return -1;
	res = PQexec(c->conn, "BEGIN");
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		fail(c, res, "cannot begin a transaction");
		PQclear(res);
		return -1;
	}
	PQclear(res);
	return changed ? 1 : 0;
}

/* Transaction mode: one round trip, BEGIN and the equivalent of
 * SET LOCAL search_path = "<version>", "<schema>"; SET LOCAL shunt.version
 * (set_config(..., true)), reading the version in the same transaction. */
static int
begin_transaction(shunt_client *c)
{
	char *schema_lit = PQescapeLiteral(c->conn, c->schema, strlen(c->schema));
	char *pin_lit = c->pinned ? PQescapeLiteral(c->conn, c->pinned, strlen(c->pinned)) : NULL;
	char *sql = NULL;
	PGresult *res = NULL;
	size_t n;
	bool changed;
	char *v;
	int rc = -1;

	if (schema_lit == NULL || (c->pinned != NULL && pin_lit == NULL)) {
		fail(c, NULL, "cannot quote a name");
		goto done;
	}
	if (now_s() - c->last_refresh >= REFRESH_S && register_client(c) != 0)
		goto done;
	n = 1024 + 3 * strlen(c->state_q) + 2 * strlen(schema_lit) + (pin_lit ? strlen(pin_lit) : 0);
	sql = malloc(n);
	if (sql == NULL) {
		snprintf(c->err, sizeof(c->err), "out of memory");
		goto done;
	}
	if (pin_lit != NULL)
		snprintf(sql, n, "BEGIN; SELECT x.v, (SELECT pg_catalog.max(h.id)::text FROM %s.flag_history h), "
						 "pg_catalog.set_config('search_path', CASE WHEN x.v = x.s THEN pg_catalog.quote_ident(x.s) "
						 "  ELSE pg_catalog.quote_ident(x.v) || ', ' || pg_catalog.quote_ident(x.s) END, true), "
						 "pg_catalog.set_config('shunt.version', x.v, true) "
						 "FROM (SELECT %s::text AS v, %s::text AS s) x",
				 c->state_q, pin_lit, schema_lit);
	else
		snprintf(sql, n, "BEGIN; SELECT x.v, (SELECT pg_catalog.max(h.id)::text FROM %s.flag_history h), "
						 "pg_catalog.set_config('search_path', CASE WHEN x.v = x.s THEN pg_catalog.quote_ident(x.s) "
						 "  ELSE pg_catalog.quote_ident(x.v) || ', ' || pg_catalog.quote_ident(x.s) END, true), "
						 "pg_catalog.set_config('shunt.version', x.v, true) "
						 "FROM (SELECT %s.current_version(%s) AS v, %s::text AS s) x",
				 c->state_q, c->state_q, schema_lit, schema_lit);
	res = PQexec(c->conn, sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		fail(c, res, "cannot begin a transaction on the current version");
		if (PQtransactionStatus(c->conn) != PQTRANS_IDLE)
			PQclear(PQexec(c->conn, "ROLLBACK"));
		goto done;
	}
	v = dup_str(PQgetvalue(res, 0, 0));
	if (v == NULL) {
		snprintf(c->err, sizeof(c->err), "out of memory");
		PQclear(PQexec(c->conn, "ROLLBACK"));
		goto done;
	}
	changed = set_version(c, v);
	if (changed)
		c->last_refresh = 0; /* record the move at the next boundary */
	if (!str_eq(c->flags_mark, PQgetisnull(res, 0, 1) ? NULL : PQgetvalue(res, 0, 1)) && load_flags(c) != 0) {
		PQclear(PQexec(c->conn, "ROLLBACK"));
		goto done;
	}
	rc = changed ? 1 : 0;
done:
	PQclear(res);
	free(sql);
	PQfreemem(schema_lit);
	PQfreemem(pin_lit);
	return rc;
}

int
shunt_client_begin(shunt_client *c)
{
	c->err[0] = '\0';
	if (!c->following) {
		snprintf(c->err, sizeof(c->err), "shunt_client_follow has not succeeded");
		return -1;
	}
	if (PQtransactionStatus(c->conn) != PQTRANS_IDLE) {
		snprintf(c->err, sizeof(c->err), "shunt_client_begin must be called between transactions");
		return -1;
	}
	return c->mode == SHUNT_CLIENT_SESSION ? begin_session(c) : begin_transaction(c);
}

const char *
shunt_client_version(const shunt_client *c)
{
	return c->version;
}

const char *
shunt_client_flag(shunt_client *c, const char *name, const char *default_value)
{
	if (c->following && c->mode == SHUNT_CLIENT_SESSION && PQtransactionStatus(c->conn) == PQTRANS_IDLE &&
		drain(c) == 0 && c->flags_dirty)
		(void) load_flags(c); /* on failure the old values stay, the error is kept */
	for (size_t i = 0; i < c->n_flags; i++)
		if (strcmp(c->flags[i].name, name) == 0)
			return c->flags[i].value;
	return default_value;
}

PGnotify *
shunt_client_notifies(shunt_client *c)
{
	PGnotify *n;

	if (c->n_foreign == 0)
		return NULL;
	n = c->foreign[0];
	memmove(c->foreign, c->foreign + 1, (c->n_foreign - 1) * sizeof(*c->foreign));
	c->n_foreign--;
	return n;
}

const char *
shunt_client_error(const shunt_client *c)
{
	return c->err;
}

void
shunt_client_free(shunt_client *c)
{
	if (c == NULL)
		return;
	if (c->following && c->conn != NULL && PQstatus(c->conn) == CONNECTION_OK &&
		PQtransactionStatus(c->conn) == PQTRANS_IDLE) {
		const char *params[2] = { c->schema, c->client_id };
		PGresult *res = run(c, "SELECT %s.unregister_client($1, $2)", 2, params, "unregister");

		PQclear(res);
		if (c->mode == SHUNT_CLIENT_SESSION) {
			res = run(c, "UNLISTEN %s", 0, NULL, "stop listening");
			PQclear(res);
		}
	}
	for (size_t i = 0; i < c->n_foreign; i++)
		PQfreemem(c->foreign[i]);
	free(c->foreign);
	flags_clear(c);
	free(c->flags_mark);
	free(c->schema);
	free(c->state_schema);
	free(c->state_q);
	free(c->pinned);
	free(c->version);
	free(c->client_id);
	free(c);
}
