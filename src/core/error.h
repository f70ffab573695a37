/*
 * error.h: the one error structure of shunt.
 *
 * A failing function fills a caller-provided shunt_error and returns -1 (or
 * NULL); callers add context on the way up; only src/cli reports it and maps
 * it to an exit code.  Filling an error never allocates.  Depends on libc.
 */
#ifndef SHUNT_ERROR_H
#define SHUNT_ERROR_H

#include <stdbool.h>

typedef enum shunt_error_code {
	SHUNT_OK = 0,
	SHUNT_E_INTERNAL,     /* a bug in shunt */
	SHUNT_E_USAGE,        /* bad command line */
	SHUNT_E_INPUT,        /* bad migration file or argument value */
	SHUNT_E_IO,           /* file system */
	SHUNT_E_CONNECT,      /* cannot connect to the database */
	SHUNT_E_DB,           /* the server reported an error */
	SHUNT_E_LOCK_TIMEOUT, /* gave up acquiring a lock after all retries */
	SHUNT_E_STATE,        /* the migration state forbids this (none active...) */
	SHUNT_E_REFUSED,      /* a safety gate refused */
	SHUNT_E_HOOK,         /* a user hook failed */
	SHUNT_E_CANCELLED,    /* interrupted by a signal */
} shunt_error_code;

typedef struct shunt_error {
	int code;           /* shunt_error_code */
	char sqlstate[6];   /* "" unless the server sent one */
	char message[256];  /* primary: one line, lower case, no final period */
	char detail[512];   /* optional facts, full sentences */
	char hint[256];     /* optional: what the user can do */
	char context[512];  /* where: innermost first, one line each */
	int position;       /* 1-based character position in the statement, 0 if none */
} shunt_error;

/* Resets err to "no error". */
void shunt_error_clear(shunt_error *err);

/* Sets code and message (printf-style); clears the other fields. Returns -1. */
int shunt_error_set(shunt_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

void shunt_error_detail(shunt_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void shunt_error_hint(shunt_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Appends a line of context ("while ..."); keeps what was there. */
void shunt_error_add_context(shunt_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* True when the error is a transient lock or serialisation failure that a
 * retry with backoff may cure (55P03, 40P01, 40001); never once SIGINT or
 * SIGTERM was received (core/interrupt.h): an interrupted command stops. */
bool shunt_error_is_retryable(const shunt_error *err);

/* Named SQLSTATEs shunt decides on. */
#define SHUNT_SQLSTATE_LOCK_NOT_AVAILABLE "55P03"
#define SHUNT_SQLSTATE_DEADLOCK "40P01"
#define SHUNT_SQLSTATE_SERIALIZATION "40001"
#define SHUNT_SQLSTATE_QUERY_CANCELED "57014"
#define SHUNT_SQLSTATE_UNIQUE_VIOLATION "23505"
#define SHUNT_SQLSTATE_ADMIN_SHUTDOWN "57P01"
#define SHUNT_SQLSTATE_UNDEFINED_TABLE "42P01"
#define SHUNT_SQLSTATE_UNDEFINED_OBJECT "42704"

#endif
