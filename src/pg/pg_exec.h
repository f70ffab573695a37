/*
 * pg_exec.h: sending statements and turning server errors into shunt_error.
 *
 * Values always travel as parameters ($1..$n); the error is filled from
 * PQresultErrorField (SQLSTATE, primary, detail, hint, context, position),
 * never by parsing message text.
 */
#ifndef SHUNT_PG_EXEC_H
#define SHUNT_PG_EXEC_H

#include "pg/pg_conn.h"

/*
 * Executes sql with text parameters, also in dry-run mode (reads and shunt's
 * own bookkeeping).  Returns the result (caller PQclear()s) or NULL with err
 * filled.  With db->echo the statement is printed to stderr first.
 *
 * While it runs, SIGINT/SIGTERM (core/interrupt.h) cancel it on the server;
 * a statement cancelled that way fails with SHUNT_E_CANCELLED (SQLSTATE
 * 57014 kept), while a 57014 of a statement_timeout stays SHUNT_E_DB.
 */
PGresult *pg_exec_params(shunt_db *db, const char *sql, int nparams,
						 const char *const *params, shunt_error *err);

/* pg_exec_params for statements whose result is not needed; 0 or -1. */
int pg_exec_command(shunt_db *db, const char *sql, int nparams,
					const char *const *params, shunt_error *err);

/* Fills err from a failed result (or the connection's state when res is NULL). */
void pg_exec_fill_error(shunt_db *db, const PGresult *res, shunt_error *err);

/* Returns a malloc'd copy of a result value, NULL when SQL NULL. */
char *pg_value_dup(const PGresult *res, int row, int col);

/* Runs a single-value query; returns malloc'd text or NULL (SQL NULL or error:
 * err->code tells). */
char *pg_query_value(shunt_db *db, const char *sql, int nparams,
					 const char *const *params, shunt_error *err);

/* Drops db's cancel object (before the connection is closed or reset);
 * makes sure the signal handler no longer uses it. */
void pg_exec_forget_cancel(shunt_db *db);

/* True when the connection was lost (server restart, network). */
bool pg_exec_connection_lost(shunt_db *db);

#endif
