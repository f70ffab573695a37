/*
 * pg_exec.c: statement execution and error mapping; see pg_exec.h.
 */
#include "pg/pg_exec.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/interrupt.h"
#include "core/log.h"

/* The cancel object of the connection whose statement is running, for the
 * signal handler; NULL between statements.  No threads: one at a time. */
static PGcancel *volatile running_cancel;

/* The interrupt hook: runs in the signal handler, so it only calls
 * PQcancel(), which libpq documents as safe there. */
static void
cancel_running(void)
{
	char errbuf[256];
	PGcancel *c = running_cancel;

	if (c != NULL)
		(void) PQcancel(c, errbuf, (int) sizeof(errbuf));
}

void
pg_exec_forget_cancel(shunt_db *db)
{
	if (db->cancel == NULL)
		return;
	if (running_cancel == db->cancel)
		running_cancel = NULL;
	PQfreeCancel(db->cancel);
	db->cancel = NULL;
}

static void
copy_field(char *dst, size_t size, const PGresult *res, int field)
{
	const char *v = PQresultErrorField(res, field);

	snprintf(dst, size, "%s", v ? v : "");
}

void
pg_exec_fill_error(shunt_db *db, const PGresult *res, shunt_error *err)
{
	const char *pos;

	if (res == NULL || PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) == NULL) {
		const char *m = PQerrorMessage(db->conn);
		char line[256];
		size_t n;

		snprintf(line, sizeof(line), "%s", m && m[0] ? m : "unknown error");
		n = strlen(line);
		while (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		shunt_error_set(err, PQstatus(db->conn) == CONNECTION_BAD ? SHUNT_E_CONNECT : SHUNT_E_DB,
						"%s", line);
		return;
	}
	shunt_error_clear(err);
	err->code = SHUNT_E_DB;
	copy_field(err->sqlstate, sizeof(err->sqlstate), res, PG_DIAG_SQLSTATE);
	copy_field(err->message, sizeof(err->message), res, PG_DIAG_MESSAGE_PRIMARY);
	copy_field(err->detail, sizeof(err->detail), res, PG_DIAG_MESSAGE_DETAIL);
	copy_field(err->hint, sizeof(err->hint), res, PG_DIAG_MESSAGE_HINT);
	pos = PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION);
	err->position = pos ? (int) strtol(pos, NULL, 10) : 0;
	if (strcmp(err->sqlstate, SHUNT_SQLSTATE_LOCK_NOT_AVAILABLE) == 0)
		err->code = SHUNT_E_LOCK_TIMEOUT;
	/* cancelled by our own signal handler, not by a statement_timeout
	 * (which the retry logic may treat as transient) */
	if (strcmp(err->sqlstate, SHUNT_SQLSTATE_QUERY_CANCELED) == 0 && interrupt_requested()) {
		char sqlstate[6];

		memcpy(sqlstate, err->sqlstate, sizeof(sqlstate));
		interrupt_error(err);
		memcpy(err->sqlstate, sqlstate, sizeof(sqlstate));
	}
}

PGresult *
pg_exec_params(shunt_db *db, const char *sql, int nparams,
			   const char *const *params, shunt_error *err)
{
	PGresult *res;
	ExecStatusType st;

	if (db->echo)
		shunt_log(SHUNT_LOG_INFO, "sql: %s", sql);
	/* Without parameters the simple query protocol runs the text as is,
	 * several statements included (a user's sql operation); with them the
	 * extended protocol keeps values out of the SQL text. */
	interrupt_set_cancel_hook(cancel_running);
	running_cancel = db->cancel;
	/* XXX: a signal between here and the server starting the statement
	 * cancels nothing (the backend is idle); the loops poll
	 * interrupt_requested() between statements, so only that one
	 * statement runs to its end. */
	if (nparams == 0)
		res = PQexec(db->conn, sql);
	else
		res = PQexecParams(db->conn, sql, nparams, NULL, params, NULL, NULL, 0);
	running_cancel = NULL;
	st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return res;
	pg_exec_fill_error(db, res, err);
	PQclear(res);
	return NULL;
}

int
pg_exec_command(shunt_db *db, const char *sql, int nparams,
				const char *const *params, shunt_error *err)
{
	PGresult *res = pg_exec_params(db, sql, nparams, params, err);

	if (res == NULL)
		return -1;
	PQclear(res);
	return 0;
}

char *
pg_value_dup(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return NULL;
	return shunt_xstrdup(PQgetvalue(res, row, col));
}

char *
pg_query_value(shunt_db *db, const char *sql, int nparams,
			   const char *const *params, shunt_error *err)
{
	PGresult *res = pg_exec_params(db, sql, nparams, params, err);
	char *v = NULL;

	if (res == NULL)
		return NULL;
	if (err)
		err->code = SHUNT_OK;
	if (PQntuples(res) > 0 && PQnfields(res) > 0)
		v = pg_value_dup(res, 0, 0);
	PQclear(res);
	return v;
}

bool
pg_exec_connection_lost(shunt_db *db)
{
	return PQstatus(db->conn) == CONNECTION_BAD;
}
