/*
 * shunt.h: the application side of shunt.
 *
 * An application that follows shunt's versions calls these on its own
 * PGconn.  They read shunt's state schema, register the session there and
 * set session or transaction settings; they never change the application's
 * schema.  Thread safety: as libpq's, one PGconn per thread.  Link with
 * -lshunt -lpq (pkg-config shunt).
 */
#ifndef SHUNT_H
#define SHUNT_H

#include <stddef.h>

#include <libpq-fe.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library's version, "MAJOR.MINOR.PATCH". */
const char *shunt_version(void);

/*
 * Looks up the newest version schema of application schema `schema`
 * (NULL: "public") in shunt's state schema `state_schema` (NULL: "shunt"):
 * the active migration's if one is active, else the last completed one's.
 * Copies it into out (size outlen).  Returns 0, 1 when no migration has
 * run yet (out is then the application schema itself), or -1 with a
 * message in errbuf.
 */
int shunt_latest_version(PGconn *conn, const char *schema, const char *state_schema, char *out,
						 size_t outlen, char *errbuf, size_t errlen);

/*
 * Makes the session use a version schema: sets search_path to the version
 * schema followed by "$user" and public.  Returns 0 or -1 with errbuf.
 */
int shunt_use_version(PGconn *conn, const char *version_schema, char *errbuf, size_t errlen);

/* ---- following the current version; feature flags ----
 *
 * `shunt switch` makes a version schema the current one.  A client made
 * with shunt_client_new() and started with shunt_client_follow() moves to
 * it at a transaction boundary: the application starts each transaction
 * with shunt_client_begin() instead of BEGIN.  The client registers the
 * version it uses in the state schema, so that `shunt status` shows who
 * uses which version and `shunt complete` waits until no live client uses
 * the previous one.  Flags are read from a local copy that the state
 * schema's notifications keep fresh.  The state schema needs shunt's SQL
 * functions (any shunt command installs them, `shunt init` for one) and
 * the application role USAGE on it and the privileges docs/clients.md
 * lists.
 *
 * Errors: functions returning int return -1 and shunt_client_error() tells
 * why.  A client belongs to one connection and one thread; free it before
 * PQfinish().
 */

typedef struct shunt_client shunt_client;

typedef enum shunt_client_mode {
	/* search_path for the whole session, changed between transactions when
	 * a switch is announced (LISTEN); the default */
	SHUNT_CLIENT_SESSION = 0,
	/* nothing kept in the session: each transaction reads the current
	 * version and sets search_path and shunt.version for itself only (SET
	 * LOCAL); for poolers in transaction mode (PgBouncer), and for
	 * applications whose session has a search_path of its own, which comes
	 * back after each transaction */
	SHUNT_CLIENT_TRANSACTION = 1,
} shunt_client_mode;

/*
 * A client for application schema `schema` (NULL: "public") whose state is
 * in `state_schema` (NULL: "shunt"), working on conn, which must outlive
 * it.  Sends nothing.  NULL when out of memory.
 */
shunt_client *shunt_client_new(PGconn *conn, const char *schema, const char *state_schema);

/* Chooses the mode (before shunt_client_follow). */
int shunt_client_set_mode(shunt_client *client, shunt_client_mode mode);

/*
 * Pins the client to version schema `version` instead of following the
 * current version (NULL: follow again); takes effect at the next
 * shunt_client_begin (or follow).  For an old application version that must
 * stay where it is while newer ones follow.
 */
int shunt_client_pin(shunt_client *client, const char *version);

/*
 * Starts following: session mode LISTENs on the state schema's channel,
 * sets search_path to "<version>, <schema>" and registers the session;
 * transaction mode registers the client under a generated id.  Loads the
 * flags.  Call outside a transaction.
 */
int shunt_client_follow(shunt_client *client);

/*
 * Starts a transaction (sends BEGIN; the application ends it with COMMIT or
 * ROLLBACK), on the current version.  Session mode first reads the
 * notifications that arrived (PQconsumeInput/PQnotifies) and, if the
 * current version changed, sets search_path before BEGIN; transaction mode
 * sends BEGIN and sets search_path and shunt.version for this transaction
 * only, in one round trip.  Refreshes the registration every few seconds.
 * Returns 1 when this transaction uses another version than the previous
 * one, 0 when the same, -1 on error (no transaction is then open).
 */
int shunt_client_begin(shunt_client *client);

/* The version schema in use (the application schema itself before the
 * first migration); NULL before follow. */
const char *shunt_client_version(const shunt_client *client);

/*
 * The value of flag `name`, or default_value when it is not set.  Session
 * mode applies notifications that arrived when called between transactions;
 * transaction mode reloads the flags in shunt_client_begin when one changed.
 * The pointer is valid until the next call on this client.
 */
const char *shunt_client_flag(shunt_client *client, const char *name, const char *default_value);

/*
 * Notifications of the application's own channels that the client read
 * while looking for its own: returns the next one (free it with
 * PQfreemem) or NULL.  An application that LISTENs on the same connection
 * calls this besides PQnotifies.
 */
PGnotify *shunt_client_notifies(shunt_client *client);

/* Why the last call failed ("" if it did not). */
const char *shunt_client_error(const shunt_client *client);

/*
 * Unregisters (when the connection is usable and idle: a crashed client's
 * registration is ignored once its session is gone) and frees the client;
 * the connection stays open.  NULL is allowed.
 */
void shunt_client_free(shunt_client *client);

#ifdef __cplusplus
}
#endif

#endif
