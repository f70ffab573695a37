/*
 * report.c: what shunt-load writes when the run ends, and its progress
 * lines while it runs.
 *
 *   PREFIX.seconds.csv  second,group,count,errors,p50_ms,p99_ms,max_ms
 *                       one row per second and group that had transactions
 *                       (by intended start); latencies of the successful
 *                       ones, empty when none succeeded
 *   PREFIX.phases.csv   phase,start_s,end_s
 *   PREFIX.summary.csv  phase,group,start_s,end_s,count,errors,unstarted,
 *                       tx_per_s,p50_ms,p99_ms,max_ms,sqlstates
 *                       one row per phase and group, then one per group
 *                       with the phase "(all)"; sqlstates "42703:512;..."
 *                       on the "(all)" rows
 *   stdout              the same summary as a table, and each group's
 *                       first errors with SQLSTATE and message
 *
 * Names are restricted to [A-Za-z0-9_.+-] (load_name_ok), so no field needs
 * CSV quoting.  Called after every client thread has ended: no locks.
 */
#include "load.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

#define ALL_PHASES "(all)"

static double
phase_end_s(const load_run *run, size_t i, int64_t elapsed_us)
{
	int64_t end = i + 1 < run->nphases ? run->phases[i + 1].start_us : elapsed_us;

	return (double) end / 1e6;
}

/* ",p50,p99,max" in ms, or ",,," when h is empty. */
static void
put_latencies(FILE *f, const shunt_hist *h)
{
	if (h->total == 0) {
		fputs(",,,", f);
		return;
	}
	fprintf(f, ",%.3f,%.3f,%.3f", (double) hist_percentile(h, 50) / 1000.0,
		(double) hist_percentile(h, 99) / 1000.0, (double) h->max / 1000.0);
}

static void
states_of(const load_group *g, shunt_buf *b)
{
	for (size_t i = 0; i < g->nstates; i++)
		buf_printf(b, "%s%s:%llu", i ? ";" : "", g->states[i].sqlstate,
			(unsigned long long) g->states[i].n);
}

/* The whole run of group g: its phases merged. */
static void
group_total(const load_group *g, load_cell *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < g->nphases; i++) {
		out->count += g->phases[i].count;
		out->errors += g->phases[i].errors;
		hist_merge(&out->lat, &g->phases[i].lat);
	}
}

static FILE *
open_out(const load_run *run, const char *suffix, shunt_buf *path)
{
	FILE *f;

	buf_reset(path);
	buf_printf(path, "%s%s", run->out, suffix);
	f = fopen(buf_str(path), "w");
	if (f == NULL)
		load_msg("cannot write \"%s\": %s", buf_str(path), strerror(errno));
	return f;
}

static int
close_out(FILE *f, const shunt_buf *path)
{
	if (ferror(f) | (fclose(f) != 0)) {
		load_msg("error writing \"%s\": %s", buf_str(path), strerror(errno));
		return -1;
	}
	return 0;
}

static int
write_seconds(load_run *run, shunt_buf *path)
{
	FILE *f = open_out(run, ".seconds.csv", path);
	size_t nsecs = 0;

	if (f == NULL)
		return -1;
	fputs("second,group,count,errors,p50_ms,p99_ms,max_ms\n", f);
	for (size_t gi = 0; gi < run->ngroups; gi++)
		if (run->groups[gi].nsecs > nsecs)
			nsecs = run->groups[gi].nsecs;
	for (size_t s = 0; s < nsecs; s++) {
		for (size_t gi = 0; gi < run->ngroups; gi++) {
			const load_group *g = &run->groups[gi];
			const load_cell *c;

			if (s >= g->nsecs || g->secs[s].count == 0)
				continue;
			c = &g->secs[s];
			fprintf(f, "%zu,%s,%llu,%llu", s, g->name, (unsigned long long) c->count,
				(unsigned long long) c->errors);
			put_latencies(f, &c->lat);
			fputc('\n', f);
		}
	}
	return close_out(f, path);
}

static int
write_phases(load_run *run, int64_t elapsed_us, shunt_buf *path)
{
	FILE *f = open_out(run, ".phases.csv", path);

	if (f == NULL)
		return -1;
	fputs("phase,start_s,end_s\n", f);
	for (size_t i = 0; i < run->nphases; i++)
		fprintf(f, "%s,%.3f,%.3f\n", run->phases[i].name,
			(double) run->phases[i].start_us / 1e6, phase_end_s(run, i, elapsed_us));
	return close_out(f, path);
}

static void
summary_row(FILE *f, const char *phase, const load_group *g, double start_s, double end_s,
	const load_cell *c, uint64_t unstarted, const char *states)
{
	double secs = end_s - start_s;

	fprintf(f, "%s,%s,%.3f,%.3f,%llu,%llu,%llu,%.1f", phase, g->name, start_s, end_s,
		(unsigned long long) c->count, (unsigned long long) c->errors,
		(unsigned long long) unstarted, secs > 0 ? (double) c->count / secs : 0.0);
	put_latencies(f, &c->lat);
	fprintf(f, ",%s\n", states);
}

static int
write_summary(load_run *run, int64_t elapsed_us, shunt_buf *path)
{
	FILE *f = open_out(run, ".summary.csv", path);
	shunt_buf states = SHUNT_BUF_INIT;

	if (f == NULL)
		return -1;
	fputs("phase,group,start_s,end_s,count,errors,unstarted,tx_per_s,p50_ms,p99_ms,max_ms,"
	      "sqlstates\n",
		f);
	for (size_t i = 0; i < run->nphases; i++) {
		for (size_t gi = 0; gi < run->ngroups; gi++) {
			const load_group *g = &run->groups[gi];

			if (i >= g->nphases || g->phases[i].count == 0)
				continue;
			summary_row(f, run->phases[i].name, g, (double) run->phases[i].start_us / 1e6,
				phase_end_s(run, i, elapsed_us), &g->phases[i], 0, "");
		}
	}
	for (size_t gi = 0; gi < run->ngroups; gi++) {
		const load_group *g = &run->groups[gi];
		load_cell all;

		group_total(g, &all);
		buf_reset(&states);
		states_of(g, &states);
		summary_row(f, ALL_PHASES, g, 0.0, (double) elapsed_us / 1e6, &all, g->unstarted,
			buf_str(&states));
		hist_release(&all.lat);
	}
	buf_release(&states);
	return close_out(f, path);
}

int
load_report_files(load_run *run, int64_t elapsed_us)
{
	shunt_buf path = SHUNT_BUF_INIT;
	int rc = 0;

	if (write_seconds(run, &path) != 0 || write_phases(run, elapsed_us, &path) != 0 ||
		write_summary(run, elapsed_us, &path) != 0)
		rc = -1;
	buf_release(&path);
	return rc;
}

static void
print_row(int pw, int gw, const char *phase, const char *group, double secs, const load_cell *c)
{
	printf("%-*s  %-*s %7.1f %8llu %7llu %8.1f", pw, phase, gw, group, secs,
		(unsigned long long) c->count, (unsigned long long) c->errors,
		secs > 0 ? (double) c->count / secs : 0.0);
	if (c->lat.total)
		printf(" %9.3f %9.3f %9.3f\n", (double) hist_percentile(&c->lat, 50) / 1000.0,
			(double) hist_percentile(&c->lat, 99) / 1000.0, (double) c->lat.max / 1000.0);
	else
		printf(" %9s %9s %9s\n", "-", "-", "-");
}

static void
print_errors(const load_run *run, const load_group *g, uint64_t errors)
{
	shunt_buf states = SHUNT_BUF_INIT;

	states_of(g, &states);
	printf("\nerrors of group %s: %llu (by SQLSTATE %s); the first %zu:\n", g->name,
		(unsigned long long) errors, buf_str(&states), g->nsamples);
	buf_release(&states);
	for (size_t i = 0; i < g->nsamples; i++) {
		const load_err *e = &g->samples[i];

		printf("  %8.3f s  %-*s  %s  %s\n", (double) e->at_us / 1e6, 12,
			e->phase < run->nphases ? run->phases[e->phase].name : "?", e->sqlstate,
			e->message);
	}
}

void
load_report_summary(load_run *run, int64_t elapsed_us)
{
	int pw = (int) strlen(ALL_PHASES), gw = 5;

	for (size_t i = 0; i < run->nphases; i++)
		if ((int) strlen(run->phases[i].name) > pw)
			pw = (int) strlen(run->phases[i].name);
	for (size_t gi = 0; gi < run->ngroups; gi++)
		if ((int) strlen(run->groups[gi].name) > gw)
			gw = (int) strlen(run->groups[gi].name);

	printf("shunt-load: %.1f s, %zu group(s), %zu phase(s); latency from the intended start "
	       "(open loop)\n\n",
		(double) elapsed_us / 1e6, run->ngroups, run->nphases);
	printf("%-*s  %-*s %7s %8s %7s %8s %9s %9s %9s\n", pw, "phase", gw, "group", "secs", "count",
		"errors", "tx/s", "p50 ms", "p99 ms", "max ms");
	for (size_t i = 0; i < run->nphases; i++) {
		double secs = phase_end_s(run, i, elapsed_us) - (double) run->phases[i].start_us / 1e6;

		for (size_t gi = 0; gi < run->ngroups; gi++) {
			const load_group *g = &run->groups[gi];

			if (i < g->nphases && g->phases[i].count > 0)
				print_row(pw, gw, run->phases[i].name, g->name, secs, &g->phases[i]);
		}
	}
	for (size_t gi = 0; gi < run->ngroups; gi++) {
		const load_group *g = &run->groups[gi];
		load_cell all;

		group_total(g, &all);
		print_row(pw, gw, ALL_PHASES, g->name, (double) elapsed_us / 1e6, &all);
		hist_release(&all.lat);
	}
	if (run->drain_us > 100000)
		printf("\nthe clients took %.1f s after the end to run what was due before it: "
		       "the database could not keep up with the rate\n",
			(double) run->drain_us / 1e6);
	for (size_t gi = 0; gi < run->ngroups; gi++) {
		const load_group *g = &run->groups[gi];
		load_cell all;

		group_total(g, &all);
		if (all.errors)
			print_errors(run, g, all.errors);
		hist_release(&all.lat);
		if (g->unstarted)
			printf("\ngroup %s: %llu transaction(s) were due but never started (every client "
			       "was busy when the group or the run stopped): the worst latency is "
			       "understated\n",
				g->name, (unsigned long long) g->unstarted);
		if (g->unfinished)
			printf("\ngroup %s: %llu transaction(s) still running at the end were cancelled "
			       "and are not counted\n",
				g->name, (unsigned long long) g->unfinished);
	}
	fflush(stdout);
}

void
load_report_progress(load_run *run, int64_t now_us)
{
	int64_t t = now_us - run->start_us;
	size_t sec, phase;
	shunt_buf line = SHUNT_BUF_INIT;

	/* the last whole second; transactions of it still running are missing */
	if (t < 1000000)
		return;
	sec = (size_t) (t / 1000000) - 1;
	phase = load_phase_at(run, (int64_t) (sec + 1) * 1000000 - 1); /* at its end */
	pthread_mutex_lock(&run->phase_mu);
	buf_printf(&line, "%zu s [%s]", sec, run->phases[phase].name);
	pthread_mutex_unlock(&run->phase_mu);
	for (size_t gi = 0; gi < run->ngroups; gi++) {
		load_group *g = &run->groups[gi];

		pthread_mutex_lock(&g->mu);
		if (sec < g->nsecs && g->secs[sec].count > 0) {
			const load_cell *c = &g->secs[sec];

			buf_printf(&line, "  %s: %llu tx, %llu err, p99 %.2f ms, max %.2f ms", g->name,
				(unsigned long long) c->count, (unsigned long long) c->errors,
				(double) hist_percentile(&c->lat, 99) / 1000.0, (double) c->lat.max / 1000.0);
		} else {
			buf_printf(&line, "  %s: -", g->name);
		}
		pthread_mutex_unlock(&g->mu);
	}
	load_msg("%s", buf_str(&line));
	buf_release(&line);
}
