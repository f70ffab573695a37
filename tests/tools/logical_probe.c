/*
 * logical_probe.c: drives src/pg/pg_logical for tests/integration/t_logical.sh.
 *
 *   logical_probe check SCHEMA TABLE KEYS
 *   logical_probe stream SCHEMA TABLE KEYS SLOT PUBLICATION DIR
 *   logical_probe cleanup SLOT PUBLICATION
 *
 * KEYS is a comma-separated list of key columns.  The connection comes from
 * the PG* environment.  stream opens the capture, creates DIR/ready, and
 * prints each changed key as one line (values tab-separated) while it polls.
 * While DIR/pause exists it stops reading (changes pile up on the server).
 * When DIR/stop appears it locks the table (ACCESS EXCLUSIVE, in a
 * transaction), emits the cut-over marker, reads until the marker arrives,
 * prints "MARKER", commits, closes the capture and exits 0.  Errors go to
 * stderr as "error: ..." with detail and hint lines; exit status 1 (2 for
 * usage).  LOGICAL_PROBE_POLL_MS is the poll timeout (default 200; with 0
 * the probe sleeps 20 ms between empty polls).  LOGICAL_PROBE_WAIT_MS bounds the wait of slot creation for open
 * transactions (db->lock_retry_ms).  Test tool only: it prints and exits,
 * which library code never does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/error.h"
#include "pg/pg_conn.h"
#include "pg/pg_exec.h"
#include "pg/pg_logical.h"

static int
fail(const shunt_error *err)
{
	fprintf(stderr, "error: %s\n", err->message);
	if (err->detail[0])
		fprintf(stderr, "detail: %s\n", err->detail);
	if (err->hint[0])
		fprintf(stderr, "hint: %s\n", err->hint);
	if (err->context[0])
		fprintf(stderr, "context: %s\n", err->context);
	return 1;
}

/* Splits s at commas into *out (malloc'd array of malloc'd strings). */
static size_t
split_keys(const char *s, char ***out)
{
	size_t n = 1, i = 0;
	const char *p;

	for (p = s; *p; p++)
		if (*p == ',')
			n++;
	*out = shunt_xcalloc(n, sizeof(**out));
	for (p = s;; p++) {
		const char *e = strchr(p, ',');

		if (e == NULL) {
			(*out)[i++] = shunt_xstrdup(p);
			break;
		}
		(*out)[i++] = shunt_xstrndup(p, (size_t) (e - p));
		p = e;
	}
	return n;
}

static void
free_keys(char **keys, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
}

static int
print_key(void *arg, const char *const *key, size_t n_key, shunt_error *err)
{
	(void) arg;
	(void) err;
	for (size_t i = 0; i < n_key; i++)
		printf("%s%s", i ? "\t" : "", key[i]);
	putchar('\n');
	fflush(stdout);
	return 0;
}

static int
exists(const char *dir, const char *name)
{
	shunt_buf p = SHUNT_BUF_INIT;
	int r;

	buf_init(&p);
	buf_printf(&p, "%s/%s", dir, name);
	r = access(buf_str(&p), F_OK) == 0;
	buf_release(&p);
	return r;
}

static void
touch(const char *dir, const char *name)
{
	shunt_buf p = SHUNT_BUF_INIT;
	FILE *f;

	buf_init(&p);
	buf_printf(&p, "%s/%s", dir, name);
	f = fopen(buf_str(&p), "w");
	if (f)
		fclose(f);
	buf_release(&p);
}

/* Lock, marker, read to the marker, commit: what the rebuild's cut-over does. */
static int
cut_over(shunt_db *db, pg_logical *l, const char *schema, const char *table, shunt_error *err)
{
	shunt_buf sql = SHUNT_BUF_INIT;
	char token[64];
	int rc = -1;

	buf_init(&sql);
	buf_put(&sql, "LOCK TABLE ");
	pg_put_qualified(db, &sql, schema, table);
	buf_put(&sql, " IN ACCESS EXCLUSIVE MODE");
	if (pg_exec_command(db, "BEGIN", 0, NULL, err) != 0)
		goto done;
	if (pg_exec_command(db, buf_str(&sql), 0, NULL, err) != 0 ||
		pg_logical_emit_marker(db, token, sizeof(token), err) != 0 ||
		pg_logical_wait_marker(l, token, 30000, print_key, NULL, err) < 0) {
		shunt_error ignore;

		pg_exec_command(db, "ROLLBACK", 0, NULL, &ignore);
		goto done;
	}
	printf("MARKER\n");
	fflush(stdout);
	rc = pg_exec_command(db, "COMMIT", 0, NULL, err);
done:
	buf_release(&sql);
	return rc;
}

static int
stream(shunt_db *db, char **argv, shunt_error *err)
{
	char **keys;
	size_t n = split_keys(argv[2], &keys);
	pg_logical *l = NULL;
	const char *env = getenv("LOGICAL_PROBE_POLL_MS");
	int poll_ms = env ? (int) strtol(env, NULL, 10) : 200;
	int rc = 1, n_read;

	if (pg_logical_open(db, argv[0], argv[1], (const char *const *) keys, n, argv[3], argv[4], &l, err) != 0) {
		rc = fail(err);
		goto done;
	}
	fprintf(stderr, "capture open at %016llX\n", (unsigned long long) pg_logical_confirmed_lsn(l));
	touch(argv[5], "ready");
	for (;;) {
		if (exists(argv[5], "stop")) {
			if (cut_over(db, l, argv[0], argv[1], err) != 0)
				rc = fail(err);
			else
				rc = 0;
			break;
		}
		if (exists(argv[5], "pause")) {
			usleep(50 * 1000);
			continue;
		}
		n_read = pg_logical_poll(l, poll_ms, print_key, NULL, err);
		if (n_read < 0) {
			rc = fail(err);
			break;
		}
		if (n_read == 0 && poll_ms == 0)
			usleep(20 * 1000); /* what a caller doing other work in between looks like */
	}
	pg_logical_close(l, db);
done:
	free_keys(keys, n);
	return rc;
}

int
main(int argc, char **argv)
{
	shunt_error err;
	shunt_db *db;
	int rc = 2;

	shunt_error_clear(&err);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2)
		goto usage;
	db = pg_conn_open(NULL, NULL, &err);
	if (db == NULL)
		return fail(&err);
	if (getenv("LOGICAL_PROBE_WAIT_MS") != NULL)
		db->lock_retry_ms = strtoll(getenv("LOGICAL_PROBE_WAIT_MS"), NULL, 10);
	if (strcmp(argv[1], "check") == 0 && argc == 5) {
		char **keys;
		size_t n = split_keys(argv[4], &keys);

		rc = pg_logical_check(db, argv[2], argv[3], (const char *const *) keys, n, &err) == 0 ? 0 : fail(&err);
		if (rc == 0)
			printf("ok\n");
		free_keys(keys, n);
	} else if (strcmp(argv[1], "stream") == 0 && argc == 8)
		rc = stream(db, argv + 2, &err);
	else if (strcmp(argv[1], "cleanup") == 0 && argc == 4)
		rc = pg_logical_cleanup(db, argv[2], argv[3], &err) == 0 ? 0 : fail(&err);
	pg_conn_free(db);
	if (rc != 2)
		return rc;
usage:
	fprintf(stderr, "usage: logical_probe check SCHEMA TABLE KEYS\n"
					"       logical_probe stream SCHEMA TABLE KEYS SLOT PUBLICATION DIR\n"
					"       logical_probe cleanup SLOT PUBLICATION\n");
	return 2;
}
