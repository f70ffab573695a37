/*
 * pg_switch.h: the current version of an application schema, and the
 * application sessions that use each version.
 *
 * `shunt switch` makes a version schema the current one; clients that
 * follow shunt (libshunt, or the SQL functions of pg_api.h) move to it at
 * their next transaction boundary, all at once, without a redeploy.  The
 * current version is the flag "shunt.current_version:<schema>", so a switch
 * is recorded in flag_history and broadcast like any flag change.  Clients
 * register the version they use in the clients table; the contract gate
 * (pg_gate.h) and `shunt status` read it.
 */
#ifndef SHUNT_PG_SWITCH_H
#define SHUNT_PG_SWITCH_H

#include "pg/pg_conn.h"

/*
 * Makes version (NULL: the latest: the active migration's new version once
 * started, else the last completed one's) the current version of schema.
 * *old_version and *new_version get the versions before and after
 * (malloc'd).  A version clients cannot use is SHUNT_E_INPUT, naming those
 * they can.  Expects the API installed (pg_api_ensure).
 */
int pg_switch_version(shunt_db *db, const char *schema, const char *version, char **old_version,
					  char **new_version, shunt_error *err);

/*
 * The live registrations of schema's clients: columns version, pid,
 * application_name, client_addr, role, mode, last_seen, registered_at,
 * client_id, ordered by version and pid; the caller PQclear()s.  When the
 * state schema has no clients table yet, an empty result.
 */
PGresult *pg_switch_clients(shunt_db *db, const char *schema, shunt_error *err);

/*
 * The current version of schema and how it was chosen: *version (malloc'd),
 * *switched_at and *switched_by (malloc'd, NULL when no switch chose it and
 * it is the default).  Works without the API installed (then the default).
 */
int pg_switch_current(shunt_db *db, const char *schema, char **version, char **switched_at,
					  char **switched_by, shunt_error *err);

#endif
