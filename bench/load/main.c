/*
 * main.c: shunt-load's command line, and the run from start to report.
 *
 * shunt-load simulates application instances of the old and of the new
 * schema version while a migration runs, and measures what they see: each
 * transaction's latency from its intended start (open loop) and its
 * outcome, per second, per phase and per group.  bench/load/README.md and
 * --help describe it; bench/plot/ draws its output as SVG (--plot).
 *
 * A separate program, not a shunt subcommand: it measures shunt from the
 * outside, as an application would, and links none of shunt's database
 * code.
 */
#include "load.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "plot/plot.h"

/* Time the clients get, once the run is over, to finish what they run
 * before their queries are cancelled: long enough for any healthy
 * statement, short enough not to hang on one stuck behind a lock. */
#define GRACE_US 2000000

static const char usage_text[] =
	"usage: shunt-load [--db CONNINFO] [options] GROUP...\n"
	"       shunt-load --plot PREFIX OUT.svg [--title TEXT]\n"
	"\n"
	"Simulates application instances on the old and the new schema version and\n"
	"measures the latency and errors they see, in open loop: every transaction has\n"
	"an intended start, and its latency counts from there, so a stall shows up as\n"
	"latency, never as fewer transactions.\n"
	"\n"
	"A GROUP is a set of clients (one thread and one connection each) that share a\n"
	"search_path and a mix of statements:\n"
	"  --group NAME:CLIENTS:RATE[:SEARCH_PATH[:MIX]]\n"
	"      NAME         1-63 of A-Z a-z 0-9 _ . + -\n"
	"      RATE         transactions per second of the whole group\n"
	"      SEARCH_PATH  set on each connection (empty: the server's default);\n"
	"                   the old version: the table's schema; the new version:\n"
	"                   the version schema, e.g. public_01_users,public\n"
	"      MIX          READ/UPDATE/INSERT weights, e.g. 80/20/0 (default: 1 for\n"
	"                   each statement given)\n"
	"  followed by the group's statements, each one autocommit transaction:\n"
	"  --read SQL      e.g. \"SELECT full_name, age FROM users WHERE id = $1\"\n"
	"  --update SQL    e.g. \"UPDATE users SET age = $2 WHERE id = $1\"\n"
	"  --insert SQL    e.g. \"INSERT INTO users (full_name, age) VALUES ($3, $2)\"\n"
	"  --stopped       the group starts stopped, until \"start NAME\"\n"
	"  Parameters, always sent as values (PQexecParams), never spliced:\n"
	"  $1 a random key in [1, --keys], $2 a random integer in --values, $3 a\n"
	"  random text 'load-<16 hex digits>'.\n"
	"\n"
	"Options:\n"
	"  --db CONNINFO      connection string or URI (default: the PG* variables)\n"
	"  --duration TIME    run time: 30s, 1.5s, 500ms, 2min, 1h; 0 runs until \"quit\",\n"
	"                     SIGINT or SIGTERM (default 30s)\n"
	"  --keys N           range of $1 (default 1000)\n"
	"  --values LO:HI     range of $2 (default 18:90)\n"
	"  --control PATH     read commands from the FIFO PATH (made if missing; make it\n"
	"                     yourself with mkfifo to avoid a race), or - for stdin\n"
	"  --phase NAME       name of the first phase (default start)\n"
	"  --out PREFIX       write PREFIX.seconds.csv, PREFIX.phases.csv and\n"
	"                     PREFIX.summary.csv\n"
	"  --progress TIME    print each group's last second to stderr every TIME\n"
	"  -q, --quiet        no messages for commands received\n"
	"  -h, --help         this text\n"
	"\n"
	"Commands, one per line on the control channel:\n"
	"  phase NAME    a new phase starts now (summaries and plot bands per phase);\n"
	"                the current phase's name again changes nothing\n"
	"  start GROUP   the group starts (its schedule begins now)\n"
	"  stop GROUP    the group stops after the transactions it runs\n"
	"  quit          end the run now\n"
	"  e.g.  mkfifo ctl; shunt-load --control ctl ... & echo \"phase alter\" >ctl\n"
	"\n"
	"Output: the summary per phase and group (count, errors, p50, p99, max) and each\n"
	"group's first 5 errors (SQLSTATE, message) on stdout; with --out:\n"
	"  PREFIX.seconds.csv  second,group,count,errors,p50_ms,p99_ms,max_ms\n"
	"  PREFIX.phases.csv   phase,start_s,end_s\n"
	"  PREFIX.summary.csv  phase,group,start_s,end_s,count,errors,unstarted,tx_per_s,\n"
	"                      p50_ms,p99_ms,max_ms,sqlstates\n"
	"Transactions count in the second and phase of their intended start; latencies\n"
	"are of the successful ones.  Client-side failures: 08001 (cannot connect),\n"
	"08006 (connection lost).\n"
	"\n"
	"--plot PREFIX OUT.svg draws p99 and max latency per second and group (log\n"
	"scale), the phases as bands and the errors as red marks.\n"
	"\n"
	"Exit status: 0 after a run (whatever errors the traffic met), 1 if it could\n"
	"not run or write its files, 2 for a usage error.\n";

enum {
	OPT_DB = 256,
	OPT_DURATION,
	OPT_KEYS,
	OPT_VALUES,
	OPT_CONTROL,
	OPT_PHASE,
	OPT_OUT,
	OPT_PROGRESS,
	OPT_GROUP,
	OPT_READ,
	OPT_UPDATE,
	OPT_INSERT,
	OPT_STOPPED,
};

static const struct option long_options[] = {
	{ "db", required_argument, NULL, OPT_DB },
	{ "duration", required_argument, NULL, OPT_DURATION },
	{ "keys", required_argument, NULL, OPT_KEYS },
	{ "values", required_argument, NULL, OPT_VALUES },
	{ "control", required_argument, NULL, OPT_CONTROL },
	{ "phase", required_argument, NULL, OPT_PHASE },
	{ "out", required_argument, NULL, OPT_OUT },
	{ "progress", required_argument, NULL, OPT_PROGRESS },
	{ "group", required_argument, NULL, OPT_GROUP },
	{ "read", required_argument, NULL, OPT_READ },
	{ "update", required_argument, NULL, OPT_UPDATE },
	{ "insert", required_argument, NULL, OPT_INSERT },
	{ "stopped", no_argument, NULL, OPT_STOPPED },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

typedef struct load_opts {
	const char *phase;
	bool mix_given[64]; /* per group index: MIX was in the spec */
} load_opts;

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints a usage error and the hint; returns -1. */
static int
usage_error(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "shunt-load: %s\nTry \"shunt-load --help\" for more information.\n", msg);
	return -1;
}

/* A whole string as an integer in [min, max]. */
static int
parse_i64(const char *opt, const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end != '\0' || v < min || v > max)
		return usage_error("invalid value \"%s\" for %s", s, opt);
	*out = v;
	return 0;
}

/* A whole string as a finite number in (0, max]. */
static int
parse_rate(const char *s, double max, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end != '\0' || !isfinite(v) || v <= 0 || v > max)
		return usage_error("invalid rate \"%s\" (transactions per second, up to 1000000)", s);
	*out = v;
	return 0;
}

/* "30s", "1.5s", "500ms", "2min", "1h", or a bare number of seconds. */
static int
parse_duration(const char *opt, const char *s, int64_t *out_us)
{
	static const struct { const char *unit; double us; } units[] = {
		{ "", 1e6 }, { "s", 1e6 }, { "ms", 1e3 }, { "min", 60e6 }, { "h", 3600e6 },
	};
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || !isfinite(v) || v < 0 || s[0] == '-' || s[0] == '+')
		return usage_error("invalid duration \"%s\" for %s", s, opt);
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].unit) == 0) {
			double us = v * units[i].us;

			if (us > 365.0 * 86400e6)
				return usage_error("duration \"%s\" for %s is over a year", s, opt);
			*out_us = (int64_t) us;
			return 0;
		}
	}
	return usage_error("invalid unit in duration \"%s\" for %s (use ms, s, min or h)", s, opt);
}

static int
parse_mix(load_group *g, const char *s)
{
	int64_t w[LOAD_NKINDS];
	char tmp[64];
	char *p = tmp, *slash;

	if (strlen(s) >= sizeof(tmp))
		return usage_error("invalid mix \"%s\" of group %s", s, g->name);
	snprintf(tmp, sizeof(tmp), "%s", s);
	for (int k = 0; k < LOAD_NKINDS; k++) {
		slash = strchr(p, '/');
		if ((slash == NULL) != (k == LOAD_NKINDS - 1))
			return usage_error("invalid mix \"%s\" of group %s: want READ/UPDATE/INSERT, "
			                   "e.g. 80/20/0",
				s, g->name);
		if (slash)
			*slash = '\0';
		if (parse_i64("the mix", p, 0, 1000000, &w[k]) != 0)
			return -1;
		g->stmt[k].weight = (unsigned) w[k];
		p = slash ? slash + 1 : p;
	}
	return 0;
}

/* NAME:CLIENTS:RATE[:SEARCH_PATH[:MIX]] into a new group at the end of run->groups. */
static int
parse_group(load_run *run, load_opts *o, const char *spec)
{
	char *copy = shunt_xstrdup(spec), *f[5] = { NULL }, *p = copy;
	int nf = 0, rc = -1;
	int64_t clients;
	load_group *g;

	while (nf < 5) {
		f[nf++] = p;
		p = strchr(p, ':');
		if (p == NULL)
			break;
		*p++ = '\0';
	}
	if (p != NULL || nf < 3) {
		usage_error("invalid group \"%s\": want NAME:CLIENTS:RATE[:SEARCH_PATH[:MIX]]%s",
			spec, p ? " (a search_path cannot contain ':')" : "");
		goto done;
	}
	if (!load_name_ok(f[0])) {
		usage_error("invalid group name \"%s\": use 1 to 63 of A-Z a-z 0-9 _ . + -", f[0]);
		goto done;
	}
	if (load_group_find(run, f[0])) {
		usage_error("group \"%s\" given twice", f[0]);
		goto done;
	}
	if (run->ngroups >= sizeof(o->mix_given) / sizeof(o->mix_given[0])) {
		usage_error("too many groups (at most 64)");
		goto done;
	}
	if (parse_i64("the clients of a group", f[1], 1, 1000, &clients) != 0)
		goto done;
	run->groups = shunt_xrealloc(run->groups, (run->ngroups + 1) * sizeof(*run->groups));
	g = &run->groups[run->ngroups++];
	load_group_init(g);
	g->name = shunt_xstrdup(f[0]);
	g->clients = (int) clients;
	if (parse_rate(f[2], 1e6, &g->rate) != 0)
		goto done;
	if (nf >= 4 && f[3][0] != '\0')
		g->search_path = shunt_xstrdup(f[3]);
	if (nf == 5) {
		if (parse_mix(g, f[4]) != 0)
			goto done;
		o->mix_given[run->ngroups - 1] = true;
	}
	rc = 0;
done:
	free(copy);
	return rc;
}

static int
set_stmt(load_run *run, const char *opt, int kind, const char *sql)
{
	load_group *g;

	if (run->ngroups == 0)
		return usage_error("%s must follow the --group it belongs to", opt);
	g = &run->groups[run->ngroups - 1];
	if (g->stmt[kind].sql)
		return usage_error("%s given twice for group %s", opt, g->name);
	g->stmt[kind].sql = shunt_xstrdup(sql);
	return 0;
}

/* All checks that span options, in one place. */
static int
check_options(load_run *run, load_opts *o)
{
	static const char *const kind_opt[LOAD_NKINDS] = { "--read", "--update", "--insert" };
	char errbuf[512];

	if (run->ngroups == 0)
		return usage_error("no --group given");
	if (!load_name_ok(o->phase))
		return usage_error("invalid phase name \"%s\"", o->phase);
	for (size_t gi = 0; gi < run->ngroups; gi++) {
		load_group *g = &run->groups[gi];

		g->weight_total = 0;
		for (int k = 0; k < LOAD_NKINDS; k++) {
			load_stmt *st = &g->stmt[k];

			if (!o->mix_given[gi])
				st->weight = st->sql ? 1 : 0;
			if (st->weight > 0 && st->sql == NULL)
				return usage_error("group %s: the mix gives %s a weight but there is no %s",
					g->name, kind_opt[k] + 2, kind_opt[k]);
			if (st->sql && load_stmt_parse(st, errbuf, sizeof(errbuf)) != 0)
				return usage_error("group %s: %s", g->name, errbuf);
			g->weight_total += st->weight;
		}
		if (g->weight_total == 0)
			return usage_error("group %s has nothing to run: give --read, --update or --insert "
			                   "after its --group",
				g->name);
	}
	return 0;
}

static int
parse_args(load_run *run, load_opts *o, int argc, char **argv)
{
	int c;
	int64_t lo, hi;

	/* "+": options in the order given, since --read and friends belong
	 * to the --group before them */
	opterr = 0; /* our own messages, with the hint */
	while ((c = getopt_long(argc, argv, "+:qh", long_options, NULL)) != -1) {
		int rc = 0;

		switch (c) {
		case OPT_DB: run->conninfo = optarg; break;
		case OPT_DURATION: rc = parse_duration("--duration", optarg, &run->duration_us); break;
		case OPT_KEYS: rc = parse_i64("--keys", optarg, 1, INT64_C(1) << 62, &run->keys); break;
		case OPT_VALUES: {
			const char *colon = strchr(optarg, ':');
			char lo_s[32];

			if (colon == NULL || (size_t) (colon - optarg) >= sizeof(lo_s))
				return usage_error("invalid --values \"%s\": want LO:HI", optarg);
			snprintf(lo_s, sizeof(lo_s), "%.*s", (int) (colon - optarg), optarg);
			if (parse_i64("--values", lo_s, INT64_MIN / 4, INT64_MAX / 4, &lo) != 0 ||
				parse_i64("--values", colon + 1, INT64_MIN / 4, INT64_MAX / 4, &hi) != 0)
				return -1;
			if (hi < lo)
				return usage_error("invalid --values \"%s\": HI is below LO", optarg);
			run->vmin = lo;
			run->vmax = hi;
			break;
		}
		case OPT_CONTROL: run->control = optarg; break;
		case OPT_PHASE: o->phase = optarg; break;
		case OPT_OUT: run->out = optarg; break;
		case OPT_PROGRESS: rc = parse_duration("--progress", optarg, &run->progress_us); break;
		case OPT_GROUP: rc = parse_group(run, o, optarg); break;
		case OPT_READ: rc = set_stmt(run, "--read", LOAD_READ, optarg); break;
		case OPT_UPDATE: rc = set_stmt(run, "--update", LOAD_UPDATE, optarg); break;
		case OPT_INSERT: rc = set_stmt(run, "--insert", LOAD_INSERT, optarg); break;
		case OPT_STOPPED:
			if (run->ngroups == 0)
				return usage_error("--stopped must follow the --group it belongs to");
			run->groups[run->ngroups - 1].start_stopped = true;
			break;
		case 'q': run->quiet = true; break;
		case 'h': fputs(usage_text, stdout); exit(0);
		case ':': return usage_error("option \"%s\" needs a value", argv[optind - 1]);
		default: return usage_error("invalid option \"%s\"", argv[optind - 1]);
		}
		if (rc != 0)
			return -1;
	}
	if (optind < argc)
		return usage_error("unexpected argument \"%s\"", argv[optind]);
	return check_options(run, o);
}

/* Fail fast on a wrong conninfo instead of running 30 s of errors. */
static int
check_connection(const load_run *run)
{
	const char *keys[] = { "dbname", "fallback_application_name", NULL };
	const char *vals[] = { run->conninfo, "shunt-load", NULL };
	PGconn *conn = PQconnectdbParams(keys, vals, 1);
	int rc = 0;

	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "shunt-load: cannot connect: %s", PQerrorMessage(conn));
		rc = -1;
	}
	PQfinish(conn);
	return rc;
}

static int
start_clients(load_run *run)
{
	size_t n = 0;
	uint64_t seed = (uint64_t) time(NULL) ^ ((uint64_t) load_now_us() << 20);

	for (size_t gi = 0; gi < run->ngroups; gi++)
		run->nclients += (size_t) run->groups[gi].clients;
	run->clients = shunt_xcalloc(run->nclients, sizeof(*run->clients));
	for (size_t gi = 0; gi < run->ngroups; gi++) {
		for (int i = 0; i < run->groups[gi].clients; i++) {
			load_client *c = &run->clients[n++];

			c->run = run;
			c->group = &run->groups[gi];
			c->id = i;
			c->seed = seed + n * 0x9E3779B97F4A7C15ULL;
			pthread_mutex_init(&c->mu, NULL);
		}
	}
	atomic_store(&run->live_clients, (int) run->nclients);
	for (size_t i = 0; i < run->nclients; i++) {
		if (pthread_create(&run->clients[i].thread, NULL, load_client_main, &run->clients[i]) !=
			0) {
			/* the threads already started leave at the stop */
			load_msg("cannot start client thread %zu", i);
			atomic_fetch_sub(&run->live_clients, (int) (run->nclients - i));
			run->nclients = i;
			return -1;
		}
	}
	return 0;
}

/* Wait until every client has tried its first connection, 30 s at most
 * (a connect_timeout in the conninfo bounds each attempt). */
static void
wait_connected(load_run *run)
{
	int64_t give_up = load_now_us() + 30 * INT64_C(1000000);

	while (atomic_load(&run->connected) < (int) run->nclients && load_now_us() < give_up) {
		struct timespec ts = { 0, 5 * 1000 * 1000 };

		nanosleep(&ts, NULL);
	}
}

/* Wait for the end: duration, quit command or signal.  Returns the end
 * time (monotonic). */
static int64_t
wait_for_end(load_run *run, const sigset_t *sigs)
{
	int64_t end = atomic_load(&run->end_us);
	int64_t next_progress = run->progress_us ? run->start_us + run->progress_us : INT64_MAX;

	for (;;) {
		/* wake every 50 ms for quit and progress, and right at the end */
		int64_t now = load_now_us(), wait = end - now < 50000 ? end - now : 50000;
		struct timespec ts = { 0, (long) (wait > 0 ? wait : 0) * 1000 };
		int sig = sigtimedwait(sigs, NULL, &ts);

		now = load_now_us();
		if (sig > 0) {
			load_info(run, "%.3f s: %s, stopping", (double) (now - run->start_us) / 1e6,
				strsignal(sig));
			return now;
		}
		if (now >= end)
			return end;
		if (atomic_load(&run->quit))
			return now;
		if (now >= next_progress) {
			load_report_progress(run, now);
			next_progress += run->progress_us;
		}
	}
}

/* Under each group's lock, or a client between its check of the state
 * and its wait would miss the wakeup. */
static void
wake_all(load_run *run)
{
	for (size_t gi = 0; gi < run->ngroups; gi++) {
		pthread_mutex_lock(&run->groups[gi].mu);
		pthread_cond_broadcast(&run->groups[gi].cond);
		pthread_mutex_unlock(&run->groups[gi].mu);
	}
}

static void
wait_clients(load_run *run, int64_t until)
{
	while (atomic_load(&run->live_clients) > 0 && load_now_us() < until) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };

		nanosleep(&ts, NULL);
	}
}

/*
 * The end of the run at end: the clients first drain what was due before
 * it (a transaction held up by a lock still counts, with its latency),
 * for GRACE_US at most; then what was due but never started is counted
 * as such, the rest stop, and queries still running are cancelled.
 */
static void
stop_clients(load_run *run, int64_t end)
{
	atomic_store(&run->end_us, end);
	wake_all(run);
	wait_clients(run, load_now_us() + GRACE_US);
	run->drain_us = load_now_us() - end;
	for (size_t gi = 0; gi < run->ngroups; gi++)
		(void) load_group_stop(&run->groups[gi], end);
	atomic_store(&run->stop, true);
	wake_all(run);
	if (atomic_load(&run->live_clients) > 0) {
		load_msg("cancelling the queries still running %.0f s after the end", GRACE_US / 1e6);
		for (size_t i = 0; i < run->nclients; i++)
			load_client_cancel(&run->clients[i]);
	}
	for (size_t i = 0; i < run->nclients; i++) {
		pthread_join(run->clients[i].thread, NULL);
		pthread_mutex_destroy(&run->clients[i].mu);
	}
}

static int
plot_main(int argc, char **argv)
{
	const char *title = NULL;

	if (argc == 6 && strcmp(argv[4], "--title") == 0)
		title = argv[5];
	else if (argc != 4)
		return usage_error("usage: shunt-load --plot PREFIX OUT.svg [--title TEXT]");
	return plot_svg(argv[2], argv[3], title) == 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
	load_run run;
	load_opts opts = { .phase = "start" };
	sigset_t sigs;
	pthread_t control;
	int64_t end;
	int rc = 0;

	if (argc >= 2 && strcmp(argv[1], "--plot") == 0) {
		rc = plot_main(argc, argv);
		return rc < 0 ? 2 : rc;
	}

	memset(&run, 0, sizeof(run));
	run.conninfo = "";
	run.duration_us = 30 * INT64_C(1000000);
	run.keys = 1000;
	run.vmin = 18;
	run.vmax = 90;
	/* no end before the clock starts: clients wait for their group */
	atomic_store(&run.end_us, INT64_MAX);
	pthread_mutex_init(&run.phase_mu, NULL);
	if (parse_args(&run, &opts, argc, argv) != 0) {
		rc = 2;
		goto done;
	}
	if (!PQisthreadsafe()) {
		load_msg("this libpq is not thread-safe");
		rc = 1;
		goto done;
	}
	if (check_connection(&run) != 0) {
		rc = 1;
		goto done;
	}

	/* Signals go to the main thread's sigtimedwait only: blocked here,
	 * before any thread starts, every thread inherits the mask. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* Connect every client before the clock starts, as application
	 * instances are up before they get traffic: the first second must not
	 * measure connection set-up. */
	if (start_clients(&run) != 0) {
		rc = 1;
		end = run.start_us = load_now_us();
	} else {
		wait_connected(&run);
		run.start_us = load_now_us();
		atomic_store(&run.end_us,
			run.duration_us ? run.start_us + run.duration_us : INT64_MAX);
		(void) load_phase_mark(&run, opts.phase);
		for (size_t gi = 0; gi < run.ngroups; gi++)
			if (!run.groups[gi].start_stopped)
				(void) load_group_start(&run.groups[gi], run.start_us);
		/* opened only now: a script's first `echo >FIFO` blocks until
		 * the clients are connected and the clock runs */
		if (run.control && load_control_start(&run, &control) != 0) {
			rc = 1;
			run.control = NULL;
			end = load_now_us();
		} else {
			end = wait_for_end(&run, &sigs);
		}
	}
	stop_clients(&run, end);
	if (run.control)
		pthread_join(control, NULL);

	if (run.out && load_report_files(&run, end - run.start_us) != 0)
		rc = 1;
	load_report_summary(&run, end - run.start_us);

done:
	for (size_t gi = 0; gi < run.ngroups; gi++)
		load_group_release(&run.groups[gi]);
	free(run.groups);
	free(run.clients);
	free(run.phases);
	pthread_mutex_destroy(&run.phase_mu);
	return rc;
}
