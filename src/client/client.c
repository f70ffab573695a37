/*
 * client.c: the application-side library (include/shunt.h).  Depends on
 * libpq only, so applications link it without shunt's internals.
 */
#include <stdio.h>
#include <string.h>

#include "shunt.h"

const char *
shunt_version(void)
{
	return SHUNT_VERSION;
}

static void
set_err(char *errbuf, size_t errlen, const char *msg, PGconn *conn)
{
	if (errbuf == NULL || errlen == 0)
		return;
	snprintf(errbuf, errlen, "%s%s%s", msg, conn ? ": " : "", conn ? PQerrorMessage(conn) : "");
}

int
shunt_latest_version(PGconn *conn, const char *schema, const char *state_schema, char *out,
					 size_t outlen, char *errbuf, size_t errlen)
{
	const char *params[2];
	char *q;
	char sql[512];
	PGresult *res;
	int rc = -1;

	if (schema == NULL)
		schema = "public";
	if (state_schema == NULL)
		state_schema = "shunt";
	q = PQescapeIdentifier(conn, state_schema, strlen(state_schema));
	if (q == NULL) {
		set_err(errbuf, errlen, "cannot quote the state schema name", conn);
		return -1;
	}
	snprintf(sql, sizeof(sql),
			 "SELECT version_schema FROM %s.migrations WHERE schema = $1 "
			 "   AND status IN ('active', 'completing', 'complete') "
			 " ORDER BY (status <> 'complete') DESC, completed_at DESC NULLS FIRST, id DESC LIMIT 1",
			 q);
	PQfreemem(q);
	params[0] = schema;
	params[1] = NULL;
	res = PQexecParams(conn, sql, 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

		/* no state schema yet: no migration has run */
		if (state != NULL && strcmp(state, "42P01") == 0) {
			snprintf(out, outlen, "%s", schema);
			rc = 1;
		} else
			set_err(errbuf, errlen, "cannot read shunt's state", conn);
		PQclear(res);
		return rc;
	}
	if (PQntuples(res) == 0) {
		snprintf(out, outlen, "%s", schema);
		rc = 1;
	} else {
		snprintf(out, outlen, "%s", PQgetvalue(res, 0, 0));
		rc = 0;
	}
	PQclear(res);
	return rc;
}

int
shunt_use_version(PGconn *conn, const char *version_schema, char *errbuf, size_t errlen)
{
	char *q = PQescapeIdentifier(conn, version_schema, strlen(version_schema));
	char value[512];
	const char *params[1] = { value };
	PGresult *res;
	int rc = 0;

	if (q == NULL) {
		set_err(errbuf, errlen, "cannot quote the version schema name", conn);
		return -1;
	}
	snprintf(value, sizeof(value), "%s, \"$user\", public", q);
	PQfreemem(q);
	res = PQexecParams(conn, "SELECT pg_catalog.set_config('search_path', $1, false)", 1, NULL, params,
					   NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		set_err(errbuf, errlen, "cannot set search_path", conn);
		rc = -1;
	}
	PQclear(res);
	return rc;
}
