/*
 * pg_flag.h: feature flags in the state schema, through its SQL functions
 * (pg_api.h), and waiting for their change notifications.
 *
 * Each change is one transaction on the server: the flags row, a
 * flag_history row and a NOTIFY on the channel named like the state schema.
 * These functions expect the API installed (pg_api_ensure) and never run in
 * a transaction of their own.
 */
#ifndef SHUNT_PG_FLAG_H
#define SHUNT_PG_FLAG_H

#include <stdbool.h>
#include <stdint.h>

#include "pg/pg_conn.h"

/* Sets flag name to value; *old_value gets the value it had (malloc'd, NULL
 * when it was not set). */
int pg_flag_set(shunt_db *db, const char *name, const char *value, char **old_value, shunt_error *err);

/* *value gets the flag's value (malloc'd), NULL when it is not set. */
int pg_flag_get(shunt_db *db, const char *name, char **value, shunt_error *err);

/* Deletes a flag; *existed says whether it was set. */
int pg_flag_delete(shunt_db *db, const char *name, bool *existed, shunt_error *err);

/* Columns name, value, updated_at, updated_by, ordered by name.  The caller
 * PQclear()s; NULL with err. */
PGresult *pg_flag_list(shunt_db *db, shunt_error *err);

/* Columns id, name, old_value, new_value, changed_at, changed_by of one flag
 * (name NULL: all), oldest first. */
PGresult *pg_flag_history(shunt_db *db, const char *name, shunt_error *err);

/* LISTEN on the state schema's channel. */
int pg_flag_listen(shunt_db *db, shunt_error *err);

/*
 * Waits up to timeout_ms (negative: no limit) for a notification on the
 * state schema's channel.  Returns 1 with *payload (malloc'd JSON text), 0
 * when the time ran out or a signal interrupted the wait, -1 with err when
 * the connection failed.
 */
int pg_flag_wait(shunt_db *db, int64_t timeout_ms, char **payload, shunt_error *err);

#endif
