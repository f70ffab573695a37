/*
 * pg_flag.c: feature flags; see pg_flag.h.
 */
#include "pg/pg_flag.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "pg/pg_exec.h"

/* "SELECT <state>.fn(args)" with the quoted state schema. */
static char *
call_sql(shunt_db *db, const char *fmt)
{
	shunt_buf b = SHUNT_BUF_INIT;

	buf_init(&b);
	buf_printf(&b, fmt, db->state_q);
	return buf_detach(&b);
}

int
pg_flag_set(shunt_db *db, const char *name, const char *value, char **old_value, shunt_error *err)
{
	char *sql = call_sql(db, "SELECT %s.flag_set($1, $2)");
	const char *params[2] = { name, value };
	PGresult *res = pg_exec_params(db, sql, 2, params, err);

	free(sql);
	*old_value = NULL;
	if (res == NULL) {
		shunt_error_add_context(err, "while setting flag \"%s\"", name);
		return -1;
	}
	*old_value = pg_value_dup(res, 0, 0);
	PQclear(res);
	return 0;
}

int
pg_flag_get(shunt_db *db, const char *name, char **value, shunt_error *err)
{
	char *sql = call_sql(db, "SELECT %s.flag_get($1)");
	const char *params[1] = { name };
	PGresult *res = pg_exec_params(db, sql, 1, params, err);

	free(sql);
	*value = NULL;
	if (res == NULL)
		return -1;
	*value = pg_value_dup(res, 0, 0);
	PQclear(res);
	return 0;
}

int
pg_flag_delete(shunt_db *db, const char *name, bool *existed, shunt_error *err)
{
	char *sql = call_sql(db, "SELECT %s.flag_delete($1)");
	const char *params[1] = { name };
	PGresult *res = pg_exec_params(db, sql, 1, params, err);

	free(sql);
	*existed = false;
	if (res == NULL) {
		shunt_error_add_context(err, "while deleting flag \"%s\"", name);
		return -1;
	}
	*existed = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return 0;
}

PGresult *
pg_flag_list(shunt_db *db, shunt_error *err)
{
	char *sql = call_sql(db, "SELECT name, value, updated_at::text AS updated_at, updated_by "
							 "  FROM %s.flags ORDER BY name");
	PGresult *res = pg_exec_params(db, sql, 0, NULL, err);

	free(sql);
	return res;
}

PGresult *
pg_flag_history(shunt_db *db, const char *name, shunt_error *err)
{
	char *sql = call_sql(db, "SELECT id::text AS id, name, old_value, new_value, "
							 "       changed_at::text AS changed_at, changed_by "
							 "  FROM %s.flag_history WHERE $1::text IS NULL OR name = $1 ORDER BY id");
	const char *params[1] = { name };
	PGresult *res = pg_exec_params(db, sql, 1, params, err);

	free(sql);
	return res;
}

int
pg_flag_listen(shunt_db *db, shunt_error *err)
{
	shunt_buf b = SHUNT_BUF_INIT;
	int rc;

	buf_init(&b);
	buf_put(&b, "LISTEN ");
	pg_put_ident(db, &b, db->state_schema);
	rc = pg_exec_command(db, buf_str(&b), 0, NULL, err);
	buf_release(&b);
	return rc;
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The next queued notification of our channel, if any (others are dropped:
 * this session listens on nothing else). */
static char *
next_payload(shunt_db *db)
{
	PGnotify *n;

	while ((n = PQnotifies(db->conn)) != NULL) {
		char *payload = NULL;

		if (strcmp(n->relname, db->state_schema) == 0)
			payload = shunt_xstrdup(n->extra);
		PQfreemem(n);
		if (payload != NULL)
			return payload;
	}
	return NULL;
}

int
pg_flag_wait(shunt_db *db, int64_t timeout_ms, char **payload, shunt_error *err)
{
	int64_t deadline = timeout_ms >= 0 ? now_ms() + timeout_ms : -1;

	*payload = NULL;
	for (;;) {
		struct pollfd pfd;
		int wait_ms = -1;
		int r;

		if ((*payload = next_payload(db)) != NULL)
			return 1;
		if (deadline >= 0) {
			int64_t left = deadline - now_ms();

			if (left <= 0)
				return 0;
			wait_ms = left > 60000 ? 60000 : (int) left;
		}
		pfd.fd = PQsocket(db->conn);
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (pfd.fd < 0)
			return shunt_error_set(err, SHUNT_E_CONNECT, "the connection to the database was lost");
		r = poll(&pfd, 1, wait_ms);
		if (r < 0 && errno == EINTR)
			return 0;
		if (r < 0)
			return shunt_error_set(err, SHUNT_E_IO, "cannot wait for notifications: %s", strerror(errno));
		if (r > 0 && !PQconsumeInput(db->conn)) {
			pg_exec_fill_error(db, NULL, err);
			return -1;
		}
	}
}
