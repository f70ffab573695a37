/*
 * pg_conn.h: the database session shunt works through.
 *
 * Connection resolution (first that is set): --db, $SHUNT_DB, $DATABASE_URL,
 * then libpq's own environment and defaults, so PGHOST, PGSERVICE,
 * PGPASSFILE and sslmode all work.  The session gets an empty search_path
 * (every SQL shunt sends is schema-qualified) and application_name "shunt",
 * so its backends are recognisable in pg_stat_activity.
 */
#ifndef SHUNT_PG_CONN_H
#define SHUNT_PG_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <libpq-fe.h>

#include "core/error.h"

typedef struct shunt_db {
	PGconn *conn;
	char *conninfo;        /* as resolved; may hold a password: never print */
	bool dry_run;          /* commands are printed to sql_out, not sent */
	FILE *sql_out;         /* dry-run and -v statement echo */
	bool echo;             /* -v: echo every statement to stderr */
	int64_t lock_timeout_ms;  /* per attempt, --lock-timeout */
	int64_t lock_retry_ms;    /* give up retrying after this long in total */
	int64_t concurrent_timeout_ms; /* CREATE INDEX CONCURRENTLY, VALIDATE */
	int kill_blockers;     /* 0 no, 1 cancel, 2 terminate (opt-in) */
	char *state_schema;    /* unquoted */
	char *state_q;         /* quoted state schema, for SQL text */
	int server_version;    /* PQserverVersion */
	PGcancel *cancel;      /* prepared at connect time: PQcancel() from the
						    * SIGINT/SIGTERM handler (core/interrupt.h) */
} shunt_db;

/*
 * Resolves the connection string from the precedence above; returns a
 * pointer into the environment or the argument (never NULL; "" means libpq
 * defaults).
 */
const char *pg_conn_resolve(const char *db_arg);

/*
 * Connects and prepares the session.  Returns a new shunt_db owned by the
 * caller (pg_conn_free), or NULL with err filled.  The password is never
 * part of err.
 */
shunt_db *pg_conn_open(const char *db_arg, const char *state_schema, shunt_error *err);

/* Re-establishes a lost connection (server restart); 0 or -1.  The
 * session is set up again and its cancel object renewed. */
int pg_conn_reset(shunt_db *db, shunt_error *err);

void pg_conn_free(shunt_db *db);

/* Quotes an identifier with PQescapeIdentifier; returns malloc'd text. */
char *pg_ident(shunt_db *db, const char *name);

/* Appends a quoted identifier / literal to b. */
struct shunt_buf;
void pg_put_ident(shunt_db *db, struct shunt_buf *b, const char *name);
void pg_put_qualified(shunt_db *db, struct shunt_buf *b, const char *schema, const char *name);
void pg_put_literal(shunt_db *db, struct shunt_buf *b, const char *value);

/* Removes a password from a conninfo string or URL for display. */
char *pg_conn_redact(const char *conninfo);

#endif
