/*
 * load.h: shunt-load, the application-traffic simulator of the demo and the
 * benchmarks (bench/load/).  Groups of clients stand for application
 * instances of one schema version each (one search_path); every client is
 * a thread with its own libpq connection.
 *
 * Shared between the files of bench/load/ only.  Uses libpq and core/hist.h,
 * core/alloc.h, core/buf.h (database-neutral); nothing else of shunt, so the
 * measuring tool cannot be broken by the code it measures.
 */
#ifndef SHUNT_LOAD_H
#define SHUNT_LOAD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "core/hist.h"

enum { LOAD_READ, LOAD_UPDATE, LOAD_INSERT, LOAD_NKINDS };

#define LOAD_NPARAMS 3      /* $1 key, $2 integer, $3 text */
#define LOAD_ERR_SAMPLES 5  /* first errors kept per group, with message */
#define LOAD_MAX_STATES 16  /* distinct SQLSTATEs counted per group */
#define LOAD_NAME_MAX 63

/* Client-side outcomes that have no server SQLSTATE: class 08 as libpq's
 * own documentation uses it (connection exception). */
#define LOAD_SQLSTATE_CONNECT_FAILED "08001"
#define LOAD_SQLSTATE_CONNECTION_LOST "08006"

/* One statement template of a group. */
typedef struct load_stmt {
	char *sql;                  /* NULL: the group has none of this kind */
	unsigned weight;            /* share of the mix */
	int nparams;                /* highest $n the SQL uses, 0..3 */
	Oid types[LOAD_NPARAMS];    /* 0 (server infers) for a used $n; text
	                             * for a gap, which the server cannot infer */
} load_stmt;

/* What happened in one second, or one phase, to one group. */
typedef struct load_cell {
	shunt_hist lat;             /* latency of successful transactions, us */
	uint64_t count;             /* finished transactions, ok or failed */
	uint64_t errors;
} load_cell;

typedef struct load_err {
	int64_t at_us;              /* intended start, since the run's start */
	size_t phase;
	char sqlstate[6];
	char message[240];
} load_err;

typedef struct load_state_count {
	char sqlstate[6];
	uint64_t n;
} load_state_count;

typedef struct load_group {
	/* configuration, fixed before the clients start */
	char *name;
	int clients;
	double rate;                /* transactions per second, whole group */
	char *search_path;          /* NULL: the session's default */
	load_stmt stmt[LOAD_NKINDS];
	unsigned weight_total;
	bool start_stopped;

	pthread_mutex_t mu;
	pthread_cond_t cond;        /* start, stop, end of run */

	/* the schedule, under mu: intended start k is t0_us + k / rate */
	bool running;
	uint64_t gen;               /* bumped by each start and stop */
	int64_t t0_us;              /* monotonic clock */
	uint64_t next;              /* next k to hand out */

	/* results, under mu */
	load_cell *secs;            /* by second of the intended start */
	size_t nsecs;
	load_cell *phases;          /* by phase of the intended start */
	size_t nphases;
	uint64_t unstarted;         /* due, never started: every client busy */
	uint64_t unfinished;        /* cancelled when the run ended */
	load_err samples[LOAD_ERR_SAMPLES];
	size_t nsamples;
	load_state_count states[LOAD_MAX_STATES];
	size_t nstates;
} load_group;

typedef struct load_phase {
	char name[LOAD_NAME_MAX + 1];
	int64_t start_us;           /* since the run's start */
} load_phase;

typedef struct load_run load_run;

typedef struct load_client {
	load_run *run;
	load_group *group;
	int id;                     /* within the group, from 0 */
	pthread_t thread;
	PGconn *conn;
	uint64_t seed;
	int64_t backoff_ms;         /* after failed connection attempts */
	int64_t retry_at_us;        /* no attempt before this (monotonic) */

	pthread_mutex_t mu;         /* cancel, in_flight, cancelled */
	PGcancel *cancel;
	bool in_flight;
	bool cancelled;             /* by the end of the run, not an error */
} load_client;

struct load_run {
	/* configuration */
	const char *conninfo;
	int64_t duration_us;        /* 0: until quit, SIGINT or SIGTERM */
	int64_t keys;
	int64_t vmin, vmax;
	const char *control;        /* FIFO path, "-" for stdin, NULL */
	const char *out;            /* output prefix, NULL for none */
	int64_t progress_us;
	bool quiet;
	load_group *groups;
	size_t ngroups;

	/* runtime */
	int64_t start_us;           /* monotonic clock at the start */
	_Atomic int64_t end_us;     /* start + duration, or INT64_MAX until
	                             * quit or a signal sets it to then */
	atomic_bool stop;           /* the run is over: clients leave */
	atomic_bool quit;           /* "quit" came in on the control channel */
	atomic_int live_clients;
	atomic_int connected;       /* clients past their first connection try */
	int64_t drain_us;           /* from the end until the clients finished
	                             * what was due (GRACE_US at most) */
	load_client *clients;
	size_t nclients;

	pthread_mutex_t phase_mu;   /* phases; taken before a group's mu */
	load_phase *phases;
	size_t nphases;
};

/* Monotonic clock in microseconds. */
int64_t load_now_us(void);

/* Message on stderr prefixed "shunt-load: "; unless the run is quiet for
 * load_info. */
void load_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void load_info(const load_run *run, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* True if s is a usable group or phase name: 1 to 63 of [A-Za-z0-9_.+-],
 * which keeps the CSV files and the SVG free of quoting. */
bool load_name_ok(const char *s);

/* group.c: the schedule and the results of a group.  load_group_start
 * (schedule from t0_us on) and load_group_stop (counting the backlog due by
 * now_us) take the group's lock; they return false if the group already
 * was in that state. */
void load_group_init(load_group *g);
void load_group_release(load_group *g);
bool load_group_start(load_group *g, int64_t t0_us);
bool load_group_stop(load_group *g, int64_t now_us);
load_group *load_group_find(load_run *run, const char *name);
/* Records one finished transaction; sqlstate NULL for success. */
void load_group_record(load_run *run, load_group *g, int64_t intended_us,
	int64_t latency_us, const char *sqlstate, const char *message);
/* Appends a phase starting now: 1; 0 if it is the current phase already
 * (so a script may repeat it, e.g. as its first write to wait for the
 * start); -1 if the name is not usable. */
int load_phase_mark(load_run *run, const char *name);
/* Index of the phase in force at t_us since the start (phase_mu held or
 * not: it locks). */
size_t load_phase_at(load_run *run, int64_t t_us);

/* client.c: the body of a client thread (arg: load_client *), and the
 * cancel of its query in flight, from another thread. */
void *load_client_main(void *arg);
void load_client_cancel(load_client *c);
/* Scans sql for $1..$3 and fills nparams and types; -1 (with a message
 * in errbuf) for $0 or $4 and above. */
int load_stmt_parse(load_stmt *st, char *errbuf, size_t errlen);

/* control.c: the command channel (FIFO or stdin), in its own thread.
 * load_control_start returns -1 with a message printed if PATH is
 * unusable. */
int load_control_start(load_run *run, pthread_t *thread);

/* report.c: the files of --out and the summary on stdout.  Return -1
 * with a message printed on an I/O error. */
int load_report_files(load_run *run, int64_t elapsed_us);
void load_report_summary(load_run *run, int64_t elapsed_us);
void load_report_progress(load_run *run, int64_t now_us);

#endif
