/*
 * pg_api.h: the SQL interface shunt installs in its state schema, for
 * applications in any language and for shunt itself.
 *
 * Flags, the current version of each application schema and the
 * registrations of application sessions live in the state schema; every
 * change goes through PL/pgSQL functions there, so that the command line,
 * libshunt and an application that only speaks SQL get the same behaviour:
 *
 *   flag_set(name, value) -> old value   flag_get(name)   flag_delete(name)
 *   current_version(schema)               switch_version(schema, version)
 *   use_version(version [, schema])       follow(schema)
 *   use_version_local(schema [, version [, client_id]])
 *   register_client(...)  unregister_client(...)  live_clients(schema)
 *
 * A flag change is one transaction: the row in flags, a row in
 * flag_history (old and new value, when, by which role) and a NOTIFY on
 * the channel named like the state schema with a JSON payload
 * {"name": ..., "value": ..., "op": "set" | "delete"}.  The current version
 * of schema S is the flag "shunt.current_version:S".  docs/clients.md
 * describes the functions for application authors.
 */
#ifndef SHUNT_PG_API_H
#define SHUNT_PG_API_H

#include "pg/pg_conn.h"

/* Bump when a function changes; pg_api_ensure reinstalls older ones. */
#define PG_API_VERSION 1

/* The flag holding the current version of an application schema is this
 * prefix followed by the schema name. */
#define PG_API_CURRENT_FLAG "shunt.current_version:"

/*
 * Creates the clients table and (re)creates the functions in the state
 * schema.  Idempotent.  Expects to run inside pg_state_init's transaction
 * (which holds the init advisory lock); the state schema must exist.
 */
int pg_api_install(shunt_db *db, shunt_error *err);

/*
 * Makes sure the state schema and the current version of its functions
 * exist, running pg_state_init when either is missing or older.  For the
 * commands that use the functions (flag, switch); not in dry-run mode.
 */
int pg_api_ensure(shunt_db *db, shunt_error *err);

#endif
