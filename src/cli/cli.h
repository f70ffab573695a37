/*
 * cli.h: what the subcommands share.
 *
 * Adding a command: one file src/cli/cmd_<name>.c with its function and
 * help text, one row in the commands[] table of main.c, one test file
 * tests/integration/t_<name>.sh, and a section in man/shunt.1.
 */
#ifndef SHUNT_CLI_H
#define SHUNT_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"
#include "pg/pg_backfill.h"
#include "pg/pg_conn.h"

#define EXIT_OK 0
#define EXIT_FAIL 1
#define EXIT_USAGE 2
#define EXIT_REFUSED 3
/* + the signal number: stopped by SIGINT (130) or SIGTERM (143) */
#define EXIT_SIGNAL_BASE 128

typedef struct cli_ctx {
	const char *command;
	const char *db_arg;
	const char *schema;
	const char *state_schema;
	int64_t lock_timeout_ms;
	int64_t lock_retry_ms;
	int64_t concurrent_timeout_ms;
	int kill_blockers;
	bool dry_run;
	bool json;
	int verbosity;            /* -1 quiet, 0 normal, 1+ verbose */
	pg_backfill_opts backfill;
	bool tune_rate_set;       /* --max-rows-per-second given (for tune) */
	bool tune_batch_set;      /* --batch-size given (for tune) */
	/* positional arguments after option parsing */
	int argc;
	char **argv;
} cli_ctx;

/* Command-specific option values, filled by the command's own table. */
typedef struct cli_command {
	const char *name;
	int (*fn)(cli_ctx *ctx, shunt_error *err);
	unsigned flags;
	const char *summary;      /* one line for shunt --help */
	const char *help;         /* full text for shunt help NAME */
	const struct option *options; /* extra long options, NULL-terminated */
	int (*on_option)(cli_ctx *ctx, int id, const char *arg, shunt_error *err);
} cli_command;

#define CMD_NEEDS_DB 1u

/* Fills o from the global options (schema, dry run, backfill settings). */
struct migrate_opts;
void cli_migrate_opts(const cli_ctx *ctx, struct migrate_opts *o);

/* Connects with the global options applied; NULL with err. */
shunt_db *cli_connect(cli_ctx *ctx, shunt_error *err);

/* Strict parsers for option values; -1 with a usage error naming opt. */
int cli_parse_duration_ms(const char *opt, const char *arg, int64_t *out, shunt_error *err);
int cli_parse_int(const char *opt, const char *arg, long min, long max, long *out, shunt_error *err);
int cli_parse_double(const char *opt, const char *arg, double min, double max, double *out,
					 shunt_error *err);
/* A size with an optional unit (kB, MB, GB, TB; no unit: bytes). */
int cli_parse_size(const char *opt, const char *arg, int64_t *out, shunt_error *err);

/* Commands */
int cmd_init(cli_ctx *ctx, shunt_error *err);
int cmd_start(cli_ctx *ctx, shunt_error *err);
int cmd_complete(cli_ctx *ctx, shunt_error *err);
int cmd_rollback(cli_ctx *ctx, shunt_error *err);
int cmd_migrate(cli_ctx *ctx, shunt_error *err);
int cmd_status(cli_ctx *ctx, shunt_error *err);
int cmd_latest(cli_ctx *ctx, shunt_error *err);
int cmd_history(cli_ctx *ctx, shunt_error *err);
int cmd_validate(cli_ctx *ctx, shunt_error *err);
int cmd_backfill(cli_ctx *ctx, shunt_error *err);
int cmd_pause(cli_ctx *ctx, shunt_error *err);
int cmd_resume(cli_ctx *ctx, shunt_error *err);
int cmd_tune(cli_ctx *ctx, shunt_error *err);

extern const char cmd_init_help[];
extern const char cmd_start_help[];
extern const char cmd_complete_help[];
extern const char cmd_rollback_help[];
extern const char cmd_migrate_help[];
extern const char cmd_status_help[];
extern const char cmd_latest_help[];
extern const char cmd_history_help[];
extern const char cmd_validate_help[];
extern const char cmd_backfill_help[];
extern const char cmd_pause_help[];
extern const char cmd_resume_help[];
extern const char cmd_tune_help[];

extern const struct option cmd_start_options[];
int cmd_start_option(cli_ctx *ctx, int id, const char *arg, shunt_error *err);
extern bool cli_opt_complete;    /* --complete of start and migrate */

/* lint and convert (cmd_lint.c, cmd_convert.c, cli_input.c) */
int cmd_lint(cli_ctx *ctx, shunt_error *err);
int cmd_convert(cli_ctx *ctx, shunt_error *err);
extern const char cmd_lint_help[];
extern const char cmd_convert_help[];
extern const struct option cmd_lint_options[];
int cmd_lint_option(cli_ctx *ctx, int id, const char *arg, shunt_error *err);
/* Reads path ("-": standard input) whole; malloc'd, NUL-terminated, length
 * in *len.  NULL with err (SHUNT_E_IO, or SHUNT_E_INPUT past 64 MB). */
char *cli_read_input(const char *path, size_t *len, shunt_error *err);

/* online rebuild (cmd_rebuild.c) */
int cmd_rebuild(cli_ctx *ctx, shunt_error *err);
int cmd_cutover(cli_ctx *ctx, shunt_error *err);
extern const char cmd_rebuild_help[];
extern const char cmd_cutover_help[];
extern const struct option cmd_rebuild_options[];
int cmd_rebuild_option(cli_ctx *ctx, int id, const char *arg, shunt_error *err);

/* flag, switch, complete --force (cmd_flag.c, cmd_switch.c, cmd_complete.c) */
int cmd_flag(cli_ctx *ctx, shunt_error *err);
int cmd_switch(cli_ctx *ctx, shunt_error *err);
extern const char cmd_flag_help[];
extern const char cmd_switch_help[];
extern const struct option cmd_flag_options[];
int cmd_flag_option(cli_ctx *ctx, int id, const char *arg, shunt_error *err);
extern const struct option cmd_complete_options[];
int cmd_complete_option(cli_ctx *ctx, int id, const char *arg, shunt_error *err);
/* For shunt status: adds "current_version" and "clients" (the live
 * registrations) of schema to out; prints them from out. */
struct json_t;
int cli_switch_status(shunt_db *db, const char *schema, struct json_t *out, shunt_error *err);
void cli_switch_status_print(struct json_t *out);

#endif
