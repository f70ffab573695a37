/*
 * shunt.h: the application side of shunt.
 *
 * An application that follows shunt's versions calls these on its own
 * PGconn.  They only read shunt's state schema and set session settings;
 * they never change the schema.  Thread safety: as libpq's, one PGconn per
 * thread.  Link with -lshunt -lpq (pkg-config shunt).
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

#ifdef __cplusplus
}
#endif

#endif
