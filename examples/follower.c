/*
 * follower.c: an application that follows shunt's current version, with
 * libshunt (include/shunt.h).
 *
 * It connects, follows the current version of the application schema,
 * and runs a loop of small transactions: each starts with
 * shunt_client_begin(), inserts a row into a table and counts the rows, and
 * prints which version it ran on, what the server saw, and a flag.  Run
 * `shunt switch` while it runs and it moves to the new version at the next
 * transaction, with no failed query.
 *
 *   make -C examples                        # needs `make` at the top first
 *   cc -Iinclude -I$(pg_config --includedir) examples/follower.c \
 *      build/libshunt.a -lpq -o follower    # the same by hand
 *   cc examples/follower.c $(pkg-config --cflags --libs shunt) -lpq   # installed
 *
 *   ./follower [OPTION]... CONNINFO
 *     --schema=NAME         application schema (default public)
 *     --state-schema=NAME   shunt's state schema (default shunt)
 *     --transaction-mode    per-transaction version (for PgBouncer in
 *                           transaction mode), instead of the session's
 *     --pin=VERSION         stay on VERSION instead of following
 *     --table=NAME          the table written (default events; it needs a
 *                           text column "note" and a generated key "id")
 *     --flag=NAME           the flag printed (default greeting)
 *     --iterations=N        stop after N transactions (default 0: until
 *                           SIGINT or SIGTERM)
 *     --interval-ms=N       pause between transactions (default 100)
 *
 * Each row's note is "<version> #<iteration>".  Each transaction prints one
 * line:
 *   iter=3 version=public_01_add_source server=public_01_add_source id=42 rows=42 flag=hello
 * ("switched" is appended when the version changed at that transaction, and
 * server= is the version the sync trigger sees: shunt.version if set, else
 * the first schema of the search_path).  A failure prints "iter=N FAILED:
 * message".  The last line is "done: N transactions, F failed"; the exit
 * status is 1 if any failed.
 */
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "shunt.h"

static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
	(void) sig;
	stop = 1;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (!stop && nanosleep(&ts, &ts) != 0)
		;
}

static long
number(const char *opt, const char *arg)
{
	char *end;
	long v = strtol(arg, &end, 10);

	if (*arg == '\0' || *end != '\0' || v < 0) {
		fprintf(stderr, "follower: invalid value \"%s\" for --%s\n", arg, opt);
		exit(2);
	}
	return v;
}

/* One transaction; returns 0, or -1 with the message in err. */
static int
one_transaction(PGconn *conn, shunt_client *client, const char *table_q, long iter, const char *flag,
				char *err, size_t errlen)
{
	char note[160];
	const char *params[1] = { note };
	char sql[512];
	PGresult *ins = NULL, *cnt = NULL, *seen = NULL, *res;
	int r = shunt_client_begin(client);
	int rc = -1;

	if (r < 0) {
		snprintf(err, errlen, "%s", shunt_client_error(client));
		return -1;
	}
	/* the row says which version wrote it, for checking the sync trigger */
	snprintf(note, sizeof(note), "%s #%ld", shunt_client_version(client), iter);
	snprintf(sql, sizeof(sql), "INSERT INTO %s (note) VALUES ($1) RETURNING id", table_q);
	ins = PQexecParams(conn, sql, 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(ins) != PGRES_TUPLES_OK)
		goto fail;
	snprintf(sql, sizeof(sql), "SELECT pg_catalog.count(*) FROM %s", table_q);
	cnt = PQexec(conn, sql);
	if (PQresultStatus(cnt) != PGRES_TUPLES_OK)
		goto fail;
	seen = PQexec(conn, "SELECT coalesce(nullif(pg_catalog.current_setting('shunt.version', true), ''), "
						"(pg_catalog.current_schemas(false))[1])");
	if (PQresultStatus(seen) != PGRES_TUPLES_OK)
		goto fail;
	res = PQexec(conn, "COMMIT");
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		snprintf(err, errlen, "%s", PQresultErrorMessage(res));
		PQclear(res);
		goto done;
	}
	PQclear(res);
	printf("iter=%ld version=%s server=%s id=%s rows=%s flag=%s%s\n", iter, shunt_client_version(client),
		   PQgetvalue(seen, 0, 0), PQgetvalue(ins, 0, 0), PQgetvalue(cnt, 0, 0),
		   shunt_client_flag(client, flag, "-"), r == 1 ? " switched" : "");
	rc = 0;
	goto done;
fail:
	snprintf(err, errlen, "%s", PQerrorMessage(conn));
	PQclear(PQexec(conn, "ROLLBACK"));
done:
	PQclear(ins);
	PQclear(cnt);
	PQclear(seen);
	return rc;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "schema", required_argument, NULL, 's' },	  { "state-schema", required_argument, NULL, 'S' },
		{ "transaction-mode", no_argument, NULL, 't' }, { "pin", required_argument, NULL, 'p' },
		{ "table", required_argument, NULL, 'T' },	  { "flag", required_argument, NULL, 'f' },
		{ "iterations", required_argument, NULL, 'n' }, { "interval-ms", required_argument, NULL, 'i' },
		{ NULL, 0, NULL, 0 },
	};
	const char *schema = "public", *state = "shunt", *pin = NULL, *table = "events", *flag = "greeting";
	bool transaction_mode = false;
	long iterations = 0, interval = 100, done = 0, failed = 0;
	struct sigaction sa;
	shunt_client *client;
	PGconn *conn;
	char *table_q;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's': schema = optarg; break;
		case 'S': state = optarg; break;
		case 't': transaction_mode = true; break;
		case 'p': pin = optarg; break;
		case 'T': table = optarg; break;
		case 'f': flag = optarg; break;
		case 'n': iterations = number("iterations", optarg); break;
		case 'i': interval = number("interval-ms", optarg); break;
		default:
			fprintf(stderr, "usage: follower [OPTION]... CONNINFO (see examples/follower.c)\n");
			return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: follower [OPTION]... CONNINFO\n");
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);

	conn = PQconnectdb(argv[optind]);
	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "follower: cannot connect: %s", PQerrorMessage(conn));
		PQfinish(conn);
		return 1;
	}
	table_q = PQescapeIdentifier(conn, table, strlen(table));
	client = shunt_client_new(conn, schema, state);
	if (client == NULL || table_q == NULL) {
		fprintf(stderr, "follower: out of memory\n");
		return 1;
	}
	if ((transaction_mode && shunt_client_set_mode(client, SHUNT_CLIENT_TRANSACTION) != 0) ||
		(pin != NULL && shunt_client_pin(client, pin) != 0) || shunt_client_follow(client) != 0) {
		fprintf(stderr, "follower: %s\n", shunt_client_error(client));
		shunt_client_free(client);
		PQfreemem(table_q);
		PQfinish(conn);
		return 1;
	}
	printf("following schema %s: version %s (%s mode%s)\n", schema, shunt_client_version(client),
		   transaction_mode ? "transaction" : "session", pin ? ", pinned" : "");
	while (!stop && (iterations == 0 || done < iterations)) {
		char err[512];

		done++;
		if (one_transaction(conn, client, table_q, done, flag, err, sizeof(err)) != 0) {
			size_t n = strlen(err);

			while (n > 0 && err[n - 1] == '\n')
				err[--n] = '\0';
			for (char *p = err; *p; p++)
				if (*p == '\n')
					*p = ' ';
			printf("iter=%ld FAILED: %s\n", done, err);
			failed++;
		}
		if (interval > 0)
			sleep_ms(interval);
	}
	printf("done: %ld transactions, %ld failed\n", done, failed);
	shunt_client_free(client);
	PQfreemem(table_q);
	PQfinish(conn);
	return failed ? 1 : 0;
}
