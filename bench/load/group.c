/*
 * group.c: a group's open-loop schedule, its start and stop, the phases, and
 * where each finished transaction is counted.
 *
 * The schedule belongs to the group, not to a client: intended start k is
 * t0 + k / rate, and whichever client is free takes the next k, as requests
 * reach an application's connection pool at their own pace however slow
 * the database is.  When every client is stuck behind a lock the intended
 * starts pile up, and each is measured from its intended start once a
 * client gets to it: a stall shows up as latency, not as a quiet gap
 * (coordinated omission, as wrk2 and HdrHistogram describe it).
 *
 * Intended starts are evenly spaced, not Poisson arrivals as in pgbench -R:
 * what we measure is the migration's effect, not the queueing of bursty
 * arrivals, and even spacing gives exactly rate transactions per second,
 * which tests can check.
 *
 * Transactions are counted under the second and the phase of their
 * intended start, so the count per second stays at the rate through a
 * stall, and the latency of a stall lands where the stall began.
 */
#include "load.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"

int64_t
load_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void
load_msg(const char *fmt, ...)
{
	va_list ap;

	/* one fprintf per line: threads print at the same time */
	char line[1024];

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "shunt-load: %s\n", line);
}

void
load_info(const load_run *run, const char *fmt, ...)
{
	va_list ap;
	char line[1024];

	if (run->quiet)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "shunt-load: %s\n", line);
}

bool
load_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > LOAD_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			    c == '_' || c == '.' || c == '+' || c == '-'))
			return false;
	}
	return true;
}

void
load_group_init(load_group *g)
{
	pthread_condattr_t ca;

	memset(g, 0, sizeof(*g));
	pthread_mutex_init(&g->mu, NULL);
	/* the clients sleep until an intended start on this condition: it
	 * must use the clock the schedule is written in */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&g->cond, &ca);
	pthread_condattr_destroy(&ca);
}

static void
cells_release(load_cell *cells, size_t n)
{
	for (size_t i = 0; i < n; i++)
		hist_release(&cells[i].lat);
	free(cells);
}

void
load_group_release(load_group *g)
{
	free(g->name);
	free(g->search_path);
	for (int k = 0; k < LOAD_NKINDS; k++)
		free(g->stmt[k].sql);
	cells_release(g->secs, g->nsecs);
	cells_release(g->phases, g->nphases);
	pthread_cond_destroy(&g->cond);
	pthread_mutex_destroy(&g->mu);
}

load_group *
load_group_find(load_run *run, const char *name)
{
	for (size_t i = 0; i < run->ngroups; i++)
		if (strcmp(run->groups[i].name, name) == 0)
			return &run->groups[i];
	return NULL;
}

bool
load_group_start(load_group *g, int64_t t0_us)
{
	pthread_mutex_lock(&g->mu);
	if (g->running) {
		pthread_mutex_unlock(&g->mu);
		return false;
	}
	g->running = true;
	g->gen++;
	g->t0_us = t0_us;
	g->next = 0;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->mu);
	return true;
}

bool
load_group_stop(load_group *g, int64_t now_us)
{
	pthread_mutex_lock(&g->mu);
	if (!g->running) {
		pthread_mutex_unlock(&g->mu);
		return false;
	}
	/* Intended starts already due that no client took: the backlog of a
	 * stall still going on.  They have no latency to record (it is still
	 * growing), so they are counted apart and the summary says so. */
	if (now_us > g->t0_us + 1000) {
		/* k is due when t0 + k / rate < now; the last millisecond is
		 * left out, as a free client takes a due start within it */
		uint64_t due = (uint64_t) ceil((double) (now_us - 1000 - g->t0_us) * g->rate / 1e6);

		if (due > g->next)
			g->unstarted += due - g->next;
	}
	g->running = false;
	g->gen++;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->mu);
	return true;
}

/* Make cells[0..need) exist, new ones zeroed (an all-zero hist is empty). */
static void
cells_ensure(load_cell **cells, size_t *n, size_t need)
{
	size_t cap;

	if (need <= *n)
		return;
	cap = *n ? *n : 64;
	while (cap < need)
		cap *= 2;
	*cells = shunt_xrealloc(*cells, cap * sizeof(**cells));
	memset(*cells + *n, 0, (cap - *n) * sizeof(**cells));
	*n = cap;
}

static void
count_state(load_group *g, const char *sqlstate)
{
	for (size_t i = 0; i < g->nstates; i++) {
		if (strcmp(g->states[i].sqlstate, sqlstate) == 0) {
			g->states[i].n++;
			return;
		}
	}
	/* XXX: a seventeenth distinct SQLSTATE is counted in errors but not
	 * by state; more kinds than that in one group is not a load test */
	if (g->nstates < LOAD_MAX_STATES) {
		snprintf(g->states[g->nstates].sqlstate, sizeof(g->states[0].sqlstate), "%s", sqlstate);
		g->states[g->nstates].n = 1;
		g->nstates++;
	}
}

void
load_group_record(load_run *run, load_group *g, int64_t intended_us, int64_t latency_us,
	const char *sqlstate, const char *message)
{
	int64_t t = intended_us - run->start_us;
	size_t phase = load_phase_at(run, t);
	size_t sec = t > 0 ? (size_t) (t / 1000000) : 0;
	load_cell *cs, *cp;

	pthread_mutex_lock(&g->mu);
	cells_ensure(&g->secs, &g->nsecs, sec + 1);
	cells_ensure(&g->phases, &g->nphases, phase + 1);
	cs = &g->secs[sec];
	cp = &g->phases[phase];
	cs->count++;
	cp->count++;
	if (sqlstate == NULL) {
		hist_record(&cs->lat, latency_us);
		hist_record(&cp->lat, latency_us);
	} else {
		cs->errors++;
		cp->errors++;
		count_state(g, sqlstate);
		if (g->nsamples < LOAD_ERR_SAMPLES) {
			load_err *e = &g->samples[g->nsamples++];
			size_t len;

			e->at_us = t;
			e->phase = phase;
			snprintf(e->sqlstate, sizeof(e->sqlstate), "%s", sqlstate);
			snprintf(e->message, sizeof(e->message), "%s", message ? message : "");
			/* libpq messages end in a newline and may hold more lines
			 * (DETAIL, LINE 1: ...): keep the first line only */
			len = strcspn(e->message, "\n");
			e->message[len] = '\0';
		}
	}
	pthread_mutex_unlock(&g->mu);
}

int
load_phase_mark(load_run *run, const char *name)
{
	load_phase *p;

	if (!load_name_ok(name))
		return -1;
	pthread_mutex_lock(&run->phase_mu);
	if (run->nphases > 0 && strcmp(run->phases[run->nphases - 1].name, name) == 0) {
		pthread_mutex_unlock(&run->phase_mu);
		return 0;
	}
	run->phases = shunt_xrealloc(run->phases, (run->nphases + 1) * sizeof(*run->phases));
	p = &run->phases[run->nphases];
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->start_us = run->nphases == 0 ? 0 : load_now_us() - run->start_us;
	run->nphases++;
	pthread_mutex_unlock(&run->phase_mu);
	return 1;
}

size_t
load_phase_at(load_run *run, int64_t t_us)
{
	size_t i;

	pthread_mutex_lock(&run->phase_mu);
	/* few phases, most lookups hit the last one: scan from the end */
	for (i = run->nphases; i > 1; i--)
		if (run->phases[i - 1].start_us <= t_us)
			break;
	pthread_mutex_unlock(&run->phase_mu);
	return i > 0 ? i - 1 : 0;
}
