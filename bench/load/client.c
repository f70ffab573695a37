/*
 * client.c: one simulated application connection, in its own thread.
 *
 * A client takes the group's next intended start, sleeps until it, runs one
 * statement of the group's mix as one autocommit transaction through
 * PQexecParams (values always as parameters), and records the outcome.
 * A failed statement or a lost connection is recorded as an error with its
 * SQLSTATE and the client carries on, reconnecting when it must: the
 * errors are the point when the old application meets a renamed column.
 */
#include "load.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOAD_TEXTOID 25 /* pg_type.oid of text, stable since forever */

/* splitmix64: cheap, good enough, and one state per client means no lock */
static uint64_t
next_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

int
load_stmt_parse(load_stmt *st, char *errbuf, size_t errlen)
{
	bool used[LOAD_NPARAMS] = { false, false, false };
	const char *s = st->sql;
	int max = 0;

	/* Good enough for statement templates: skips '...', "..." and --
	 * comments; a $n inside a dollar-quoted body would be taken for a
	 * parameter, which a load template has no reason to contain. */
	while (*s) {
		if (*s == '\'' || *s == '"') {
			char q = *s++;

			while (*s && *s != q)
				s++;
			if (*s)
				s++;
			continue;
		}
		if (s[0] == '-' && s[1] == '-') {
			while (*s && *s != '\n')
				s++;
			continue;
		}
		if (*s == '$' && isdigit((unsigned char) s[1]) &&
			(s == st->sql || !(isalnum((unsigned char) s[-1]) || s[-1] == '_'))) {
			long n = 0;

			s++;
			while (isdigit((unsigned char) *s) && n < 1000)
				n = n * 10 + (*s++ - '0');
			if (n < 1 || n > LOAD_NPARAMS) {
				snprintf(errbuf, errlen,
					"parameter $%ld in \"%s\": only $1 (key), $2 (integer) and $3 (text) exist",
					n, st->sql);
				return -1;
			}
			used[n - 1] = true;
			if (n > max)
				max = (int) n;
			continue;
		}
		s++;
	}
	st->nparams = max;
	for (int i = 0; i < LOAD_NPARAMS; i++)
		st->types[i] = used[i] ? 0 : LOAD_TEXTOID;
	return 0;
}

static void
client_disconnect(load_client *c)
{
	pthread_mutex_lock(&c->mu);
	if (c->cancel) {
		PQfreeCancel(c->cancel);
		c->cancel = NULL;
	}
	pthread_mutex_unlock(&c->mu);
	if (c->conn) {
		PQfinish(c->conn);
		c->conn = NULL;
	}
}

/* The first line of s into out. */
static void
first_line(char *out, size_t outlen, const char *s)
{
	size_t n;

	snprintf(out, outlen, "%s", s ? s : "");
	n = strcspn(out, "\n");
	out[n] = '\0';
}

/*
 * Connects and sets the group's search_path (as a parameter of set_config,
 * never spliced).  0 on success; -1 with libpq's message in errbuf.
 */
static int
client_connect(load_client *c, char *errbuf, size_t errlen)
{
	load_group *g = c->group;
	char appname[LOAD_NAME_MAX + 16];
	const char *keys[] = { "dbname", "fallback_application_name", NULL };
	const char *vals[] = { c->run->conninfo, appname, NULL };
	PGconn *conn;
	PGcancel *cancel;

	/* recognisable in pg_stat_activity and in the server log (%a) */
	snprintf(appname, sizeof(appname), "shunt-load/%s", g->name);
	conn = PQconnectdbParams(keys, vals, 1);
	if (PQstatus(conn) != CONNECTION_OK) {
		first_line(errbuf, errlen, PQerrorMessage(conn));
		PQfinish(conn);
		return -1;
	}
	if (g->search_path) {
		const char *params[1] = { g->search_path };
		PGresult *res = PQexecParams(conn,
			"SELECT pg_catalog.set_config('search_path', $1, false)", 1, NULL, params,
			NULL, NULL, 0);

		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			first_line(errbuf, errlen, PQerrorMessage(conn));
			PQclear(res);
			PQfinish(conn);
			return -1;
		}
		PQclear(res);
	}
	cancel = PQgetCancel(conn);
	pthread_mutex_lock(&c->mu);
	c->cancel = cancel;
	c->cancelled = false;
	pthread_mutex_unlock(&c->mu);
	c->conn = conn;
	return 0;
}

void
load_client_cancel(load_client *c)
{
	char errbuf[256];

	pthread_mutex_lock(&c->mu);
	if (c->in_flight && c->cancel) {
		c->cancelled = true;
		/* PQcancel is safe from any thread; a failure only means the
		 * query finished meanwhile or the server is gone */
		(void) PQcancel(c->cancel, errbuf, sizeof(errbuf));
	}
	pthread_mutex_unlock(&c->mu);
}

static int
pick_kind(load_client *c)
{
	load_group *g = c->group;
	uint64_t r = next_rand(&c->seed) % g->weight_total;

	for (int k = 0; k < LOAD_NKINDS; k++) {
		if (r < g->stmt[k].weight)
			return k;
		r -= g->stmt[k].weight;
	}
	return LOAD_NKINDS - 1; /* not reached: weights add up to the total */
}

/* True once the run is over for a client waiting at now: stopped
 * outright, or past the end (which "quit" and signals move to now). */
static bool
run_over(load_run *run, int64_t now)
{
	return atomic_load(&run->stop) || now >= atomic_load(&run->end_us);
}

/*
 * Wait for the group's next intended start and claim it.  Returns false
 * when the run is over for this client: every intended start before the
 * end has been handed out (so the ones due are drained, not dropped) or
 * the run was stopped outright.  Otherwise *intended is the start to run
 * now.
 */
static bool
claim_next(load_client *c, int64_t *intended)
{
	load_group *g = c->group;
	load_run *run = c->run;

	pthread_mutex_lock(&g->mu);
	for (;;) {
		uint64_t gen, k;
		int64_t t;

		while (!g->running && !run_over(run, load_now_us()))
			pthread_cond_wait(&g->cond, &g->mu);
		if (!g->running || atomic_load(&run->stop))
			break;
		gen = g->gen;
		k = g->next++;
		t = g->t0_us + (int64_t) ((double) k * 1e6 / g->rate);
		for (;;) {
			struct timespec ts;

			/* every later k is later still: this client is done */
			if (t >= atomic_load(&run->end_us) || atomic_load(&run->stop))
				goto over;
			if (load_now_us() >= t || g->gen != gen)
				break;
			ts.tv_sec = (time_t) (t / 1000000);
			ts.tv_nsec = (long) (t % 1000000) * 1000;
			(void) pthread_cond_timedwait(&g->cond, &g->mu, &ts);
		}
		if (g->gen != gen)
			continue; /* stopped (or restarted) while we waited: not due */
		pthread_mutex_unlock(&g->mu);
		*intended = t;
		return true;
	}
over:
	pthread_mutex_unlock(&g->mu);
	return false;
}

/* A connection attempt failed at now: wait 50 ms, doubling to 1 s. */
static void
backoff(load_client *c, int64_t now)
{
	c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : 50;
	if (c->backoff_ms > 1000)
		c->backoff_ms = 1000;
	c->retry_at_us = now + c->backoff_ms * 1000;
}

/* Run one transaction due at intended and record it. */
static void
run_one(load_client *c, int64_t intended)
{
	load_run *run = c->run;
	load_group *g = c->group;
	load_stmt *st;
	char p1[24], p2[24], p3[40], errbuf[256];
	const char *vals[LOAD_NPARAMS] = { p1, p2, p3 };
	int64_t span = run->vmax - run->vmin + 1;
	PGresult *res;
	ExecStatusType status;
	bool cancelled;

	if (c->conn == NULL) {
		int64_t now = load_now_us();

		/* While backing off, transactions fail at once: the
		 * application's requests fail, and the server is not hammered
		 * with connection attempts. */
		if (now < c->retry_at_us) {
			load_group_record(run, g, intended, now - intended, LOAD_SQLSTATE_CONNECT_FAILED,
				"no connection (waiting to reconnect)");
			return;
		}
		if (client_connect(c, errbuf, sizeof(errbuf)) != 0) {
			load_group_record(run, g, intended, load_now_us() - intended,
				LOAD_SQLSTATE_CONNECT_FAILED, errbuf);
			backoff(c, now);
			return;
		}
		c->backoff_ms = 0;
	}

	st = &g->stmt[pick_kind(c)];
	snprintf(p1, sizeof(p1), "%lld",
		(long long) (1 + (int64_t) (next_rand(&c->seed) % (uint64_t) run->keys)));
	snprintf(p2, sizeof(p2), "%lld",
		(long long) (run->vmin + (int64_t) (next_rand(&c->seed) % (uint64_t) span)));
	snprintf(p3, sizeof(p3), "load-%016llx", (unsigned long long) next_rand(&c->seed));

	pthread_mutex_lock(&c->mu);
	c->in_flight = true;
	pthread_mutex_unlock(&c->mu);
	res = PQexecParams(c->conn, st->sql, st->nparams, st->types, vals, NULL, NULL, 0);
	pthread_mutex_lock(&c->mu);
	c->in_flight = false;
	cancelled = c->cancelled;
	c->cancelled = false;
	pthread_mutex_unlock(&c->mu);

	status = PQresultStatus(res);
	if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK) {
		load_group_record(run, g, intended, load_now_us() - intended, NULL, NULL);
	} else if (cancelled && atomic_load(&run->stop)) {
		/* cut off by the end of the run, not failed by the database */
		pthread_mutex_lock(&g->mu);
		g->unfinished++;
		pthread_mutex_unlock(&g->mu);
	} else {
		const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
		const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

		if (msg == NULL) {
			/* no fields: libpq's own text, severity first */
			msg = PQerrorMessage(c->conn);
			if (strncmp(msg, "FATAL:  ", 8) == 0 || strncmp(msg, "ERROR:  ", 8) == 0)
				msg += 8;
		}
		if (state == NULL) {
			/* no server error: libpq lost the connection, or a status
			 * such as PGRES_COPY_IN from a template that has no
			 * business here */
			state = PQstatus(c->conn) == CONNECTION_BAD ? LOAD_SQLSTATE_CONNECTION_LOST
			                                             : "XX000";
		}
		load_group_record(run, g, intended, load_now_us() - intended, state, msg);
	}
	PQclear(res);
	if (PQstatus(c->conn) == CONNECTION_BAD)
		client_disconnect(c); /* reconnect on the next transaction */
}

/*
 * Prepare each statement of the group once, as the unnamed statement, and
 * say which fail: a typo in a template would otherwise only show as a run
 * full of errors.  A warning, not a failure: a group may be meant to fail
 * (the old version after a naive rename) or wait for a schema to exist.
 */
static void
check_statements(load_client *c)
{
	static const char *const kind_name[LOAD_NKINDS] = { "read", "update", "insert" };
	load_group *g = c->group;

	for (int k = 0; k < LOAD_NKINDS; k++) {
		load_stmt *st = &g->stmt[k];
		PGresult *res;

		if (st->sql == NULL)
			continue;
		res = PQprepare(c->conn, "", st->sql, st->nparams, st->types);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
			const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

			load_msg("warning: group %s: the %s statement fails now: %s %s", g->name,
				kind_name[k], state ? state : "", msg ? msg : PQerrorMessage(c->conn));
		}
		PQclear(res);
	}
}

void *
load_client_main(void *arg)
{
	load_client *c = arg;
	char errbuf[256];
	int64_t intended;

	/* Connect up front, like an application instance that starts before
	 * it gets traffic: a group started later by "start NAME" does not pay
	 * for connecting in its first transactions.  A failure here is no
	 * transaction's error; the first transaction tries again. */
	if (client_connect(c, errbuf, sizeof(errbuf)) != 0) {
		if (c->id == 0)
			load_msg("group %s: cannot connect yet: %s", c->group->name, errbuf);
	} else if (c->id == 0 && !c->group->start_stopped) {
		check_statements(c);
	}
	atomic_fetch_add(&c->run->connected, 1);
	while (claim_next(c, &intended))
		run_one(c, intended);
	client_disconnect(c);
	atomic_fetch_sub(&c->run->live_clients, 1);
	return NULL;
}
