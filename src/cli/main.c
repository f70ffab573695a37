/*
 * main.c: the shunt command: global options, the command table, help, and
 * the one place where errors become messages and exit codes.
 *
 * Exit codes: 0 success, 1 failure, 2 usage error, 3 refused by a safety
 * gate (another migration active, a concurrent shunt, ...), 128 + signal
 * number when SIGINT (130) or SIGTERM (143) stopped it at a checkpoint.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/buf.h"
#include "core/hooks.h"
#include "core/interrupt.h"
#include "core/log.h"
#include "pg/pg_migrate.h"

/* Long-only option ids start at 256 (see STYLE.md). */
enum {
	OPT_DB = 256,
	OPT_SCHEMA,
	OPT_STATE_SCHEMA,
	OPT_LOCK_TIMEOUT,
	OPT_LOCK_RETRY_TOTAL,
	OPT_CONCURRENT_TIMEOUT,
	OPT_KILL_BLOCKERS,
	OPT_DRY_RUN,
	OPT_JSON,
	OPT_BATCH_SIZE,
	OPT_BATCH_TIME,
	OPT_MAX_RATE,
	OPT_BATCH_DELAY,
	OPT_VERSION,
	OPT_HELP,
	OPT_HOOKS,
	OPT_MAX_REPLICA_LAG,
	OPT_MAX_SLOT_LAG,
	OPT_NO_VACUUM_PAUSE,
};

static const struct option global_options[] = {
	{ "db", required_argument, NULL, OPT_DB },
	{ "schema", required_argument, NULL, OPT_SCHEMA },
	{ "state-schema", required_argument, NULL, OPT_STATE_SCHEMA },
	{ "lock-timeout", required_argument, NULL, OPT_LOCK_TIMEOUT },
	{ "lock-retry-total", required_argument, NULL, OPT_LOCK_RETRY_TOTAL },
	{ "concurrent-timeout", required_argument, NULL, OPT_CONCURRENT_TIMEOUT },
	{ "kill-blockers", required_argument, NULL, OPT_KILL_BLOCKERS },
	{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "batch-size", required_argument, NULL, OPT_BATCH_SIZE },
	{ "batch-time", required_argument, NULL, OPT_BATCH_TIME },
	{ "max-rows-per-second", required_argument, NULL, OPT_MAX_RATE },
	{ "batch-delay", required_argument, NULL, OPT_BATCH_DELAY },
	{ "max-replica-lag", required_argument, NULL, OPT_MAX_REPLICA_LAG },
	{ "max-slot-lag", required_argument, NULL, OPT_MAX_SLOT_LAG },
	{ "no-vacuum-pause", no_argument, NULL, OPT_NO_VACUUM_PAUSE },
	{ "hooks", required_argument, NULL, OPT_HOOKS },
	{ "verbose", no_argument, NULL, 'v' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

static const cli_command commands[] = {
	{ "init", cmd_init, CMD_NEEDS_DB, "install the state schema", cmd_init_help, NULL, NULL },
	{ "start", cmd_start, CMD_NEEDS_DB, "start a migration: expand, backfill, new version schema",
	  cmd_start_help, cmd_start_options, cmd_start_option },
	{ "complete", cmd_complete, CMD_NEEDS_DB, "complete the active migration: contract",
	  cmd_complete_help, cmd_complete_options, cmd_complete_option },
	{ "rollback", cmd_rollback, CMD_NEEDS_DB, "undo the active migration's start", cmd_rollback_help,
	  NULL, NULL },
	{ "migrate", cmd_migrate, CMD_NEEDS_DB, "apply the migrations of a directory not yet applied",
	  cmd_migrate_help, cmd_start_options, cmd_start_option },
	{ "status", cmd_status, CMD_NEEDS_DB, "show the active migration and its progress", cmd_status_help,
	  NULL, NULL },
	{ "latest", cmd_latest, CMD_NEEDS_DB, "print the latest version schema (for search_path)",
	  cmd_latest_help, NULL, NULL },
	{ "history", cmd_history, CMD_NEEDS_DB, "list the migrations applied to the schema", cmd_history_help,
	  NULL, NULL },
	{ "backfill", cmd_backfill, CMD_NEEDS_DB, "continue an interrupted start from its checkpoint",
	  cmd_backfill_help, NULL, NULL },
	{ "pause", cmd_pause, CMD_NEEDS_DB, "pause the running backfill (from anywhere)", cmd_pause_help, NULL,
	  NULL },
	{ "resume", cmd_resume, CMD_NEEDS_DB, "resume a paused backfill", cmd_resume_help, NULL, NULL },
	{ "tune", cmd_tune, CMD_NEEDS_DB, "change the rate or batch size of a running backfill", cmd_tune_help,
	  NULL, NULL },
	{ "switch", cmd_switch, CMD_NEEDS_DB, "make a version the current one for clients that follow shunt",
	  cmd_switch_help, NULL, NULL },
	{ "flag", cmd_flag, CMD_NEEDS_DB, "set, get, list, delete or watch feature flags", cmd_flag_help,
	  cmd_flag_options, cmd_flag_option },
	{ "rebuild", cmd_rebuild, CMD_NEEDS_DB, "rebuild a table online: new definition, bloat, millisecond cut-over",
	  cmd_rebuild_help, cmd_rebuild_options, cmd_rebuild_option },
	{ "cutover", cmd_cutover, CMD_NEEDS_DB, "swap in a rebuild started with --postpone-cutover", cmd_cutover_help,
	  cmd_rebuild_options, cmd_rebuild_option },
	{ "validate", cmd_validate, 0, "check migration files without a database", cmd_validate_help, NULL,
	  NULL },
	{ "lint", cmd_lint, 0, "check plain SQL migrations for locks, rewrites and breakage",
	  cmd_lint_help, cmd_lint_options, cmd_lint_option },
	{ "convert", cmd_convert, 0, "convert a plain SQL migration to a shunt (pgroll) migration",
	  cmd_convert_help, NULL, NULL },
	{ NULL, NULL, 0, NULL, NULL, NULL, NULL },
};

static const char global_help[] =
	"shunt: zero-downtime PostgreSQL schema migrations (expand/contract).\n"
	"\n"
	"Usage: shunt [OPTION]... COMMAND [ARG]...\n"
	"\n"
	"A migration runs in two phases.  `start` expands the schema next to the old one\n"
	"(new columns, sync triggers that keep old and new columns equal both ways, a\n"
	"batched backfill) and creates a version schema of views for the new application\n"
	"version, while the old version keeps working.  `complete` contracts: it drops what\n"
	"only the old version used and gives new columns their final names.  `rollback`\n"
	"undoes `start` at any point.  Applications choose a version with search_path\n"
	"(`shunt latest` prints the newest).\n"
	"\n"
	"Commands:\n"
	"%s"
	"\n"
	"Global options (accepted before or after the command):\n"
	"  --db=URL|CONNINFO        database; default $SHUNT_DB, then $DATABASE_URL, then\n"
	"                           libpq's environment (PGHOST, PGSERVICE, PGPASSFILE...)\n"
	"  --schema=NAME            application schema (default public)\n"
	"  --state-schema=NAME      where shunt keeps its state (default shunt)\n"
	"  --lock-timeout=DURATION  longest any application query waits behind shunt's\n"
	"                           lock request, per attempt (default 500ms)\n"
	"  --lock-retry-total=DUR   keep retrying a DDL step this long (default 10min)\n"
	"  --concurrent-timeout=DUR lock wait of CREATE INDEX CONCURRENTLY and VALIDATE\n"
	"                           (default 0 = none; they block no application query)\n"
	"  --kill-blockers=MODE     none (default), cancel or terminate the sessions that\n"
	"                           keep a DDL step from getting its lock\n"
	"  --dry-run                print the exact SQL of each phase, change nothing\n"
	"  --json                   machine-readable output\n"
	"  --batch-size=N           backfill rows per batch (default adaptive)\n"
	"  --batch-time=DURATION    adaptive batches aim at this duration (default 20ms;\n"
	"                           rows an application waits for are locked no longer)\n"
	"  --max-rows-per-second=N  cap the backfill rate\n"
	"  --batch-delay=DURATION   pause between backfill batches\n"
	"  --max-replica-lag=DUR    wait while a streaming replica is further behind\n"
	"  --max-slot-lag=SIZE      wait while a replication slot retains more WAL\n"
	"                           (e.g. 512MB, 4GB; default no limit)\n"
	"  --no-vacuum-pause        do not wait while a vacuum works on the table\n"
	"  --hooks=DIR              run DIR/before-start, after-backfill, on-failure...\n"
	"                           at phase boundaries (default $SHUNT_HOOKS)\n"
	"  -v, --verbose            show every SQL statement sent\n"
	"  -q, --quiet              only errors on stderr\n"
	"  --version, --help\n"
	"\n"
	"Exit codes: 0 success, 1 failure, 2 usage error, 3 refused by a safety check,\n"
	"130 / 143 stopped by SIGINT (Ctrl-C) / SIGTERM at a checkpoint (run it again).\n"
	"`shunt help COMMAND` explains a command; `man shunt` has the rest.\n";

static void
print_global_help(FILE *out)
{
	shunt_buf b = SHUNT_BUF_INIT;

	buf_init(&b);
	for (const cli_command *c = commands; c->name; c++)
		buf_printf(&b, "  %-10s %s\n", c->name, c->summary);
	fprintf(out, global_help, buf_str(&b));
	buf_release(&b);
}

static const cli_command *
find_command(const char *name)
{
	for (const cli_command *c = commands; c->name; c++)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

static bool
global_takes_arg(const char *arg)
{
	for (const struct option *o = global_options; o->name; o++) {
		size_t len = strlen(o->name);

		if (strncmp(arg + 2, o->name, len) == 0 && arg[2 + len] == '\0')
			return o->has_arg == required_argument;
	}
	return false;
}

static void
json_string_out(FILE *out, const char *s)
{
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(out, "\\u%04x", *p);
		else
			fputc(*p, out);
	}
	fputc('"', out);
}

static void
report_error(const cli_ctx *ctx, const shunt_error *err)
{
	if (ctx->json) {
		printf("{\"error\": {\"message\": ");
		json_string_out(stdout, err->message);
		printf(", \"sqlstate\": ");
		json_string_out(stdout, err->sqlstate);
		printf(", \"detail\": ");
		json_string_out(stdout, err->detail);
		printf(", \"hint\": ");
		json_string_out(stdout, err->hint);
		printf(", \"context\": ");
		json_string_out(stdout, err->context);
		printf("}}\n");
	}
	fprintf(stderr, "shunt: error: %s\n", err->message[0] ? err->message : "unknown error");
	if (err->detail[0])
		fprintf(stderr, "DETAIL: %s\n", err->detail);
	if (err->hint[0])
		fprintf(stderr, "HINT: %s\n", err->hint);
	if (err->sqlstate[0] && shunt_log_get_level() <= SHUNT_LOG_INFO)
		fprintf(stderr, "SQLSTATE: %s%s\n", err->sqlstate,
				err->position ? "" : "");
	if (err->context[0]) {
		const char *p = err->context;

		while (*p) {
			const char *nl = strchr(p, '\n');
			size_t len = nl ? (size_t) (nl - p) : strlen(p);

			fprintf(stderr, "CONTEXT: %.*s\n", (int) len, p);
			p += len + (nl ? 1 : 0);
		}
	}
}

static int
exit_code(const shunt_error *err)
{
	switch (err->code) {
	case SHUNT_OK:
		return EXIT_OK;
	case SHUNT_E_USAGE:
		return EXIT_USAGE;
	case SHUNT_E_REFUSED:
		return EXIT_REFUSED;
	case SHUNT_E_CANCELLED:
		return EXIT_SIGNAL_BASE + (interrupt_signal() ? interrupt_signal() : SIGINT);
	default:
		return EXIT_FAIL;
	}
}

static int
apply_global(cli_ctx *ctx, int id, const char *arg, shunt_error *err)
{
	long n;
	double d;

	switch (id) {
	case OPT_DB:
		ctx->db_arg = arg;
		return 0;
	case OPT_SCHEMA:
		ctx->schema = arg;
		return 0;
	case OPT_STATE_SCHEMA:
		ctx->state_schema = arg;
		return 0;
	case OPT_LOCK_TIMEOUT:
		if (cli_parse_duration_ms("--lock-timeout", arg, &ctx->lock_timeout_ms, err) != 0)
			return -1;
		if (ctx->lock_timeout_ms < 1)
			return shunt_error_set(err, SHUNT_E_USAGE, "--lock-timeout must be at least 1ms");
		return 0;
	case OPT_LOCK_RETRY_TOTAL:
		return cli_parse_duration_ms("--lock-retry-total", arg, &ctx->lock_retry_ms, err);
	case OPT_CONCURRENT_TIMEOUT:
		return cli_parse_duration_ms("--concurrent-timeout", arg, &ctx->concurrent_timeout_ms, err);
	case OPT_KILL_BLOCKERS:
		if (strcmp(arg, "none") == 0)
			ctx->kill_blockers = 0;
		else if (strcmp(arg, "cancel") == 0)
			ctx->kill_blockers = 1;
		else if (strcmp(arg, "terminate") == 0)
			ctx->kill_blockers = 2;
		else
			return shunt_error_set(err, SHUNT_E_USAGE,
								   "invalid value \"%s\" for --kill-blockers: expected none, cancel or terminate", arg);
		return 0;
	case OPT_DRY_RUN:
		ctx->dry_run = true;
		return 0;
	case OPT_JSON:
		ctx->json = true;
		return 0;
	case OPT_BATCH_SIZE:
		if (cli_parse_int("--batch-size", arg, 0, 10000000, &n, err) != 0)
			return -1;
		ctx->backfill.batch_size = (int) n;
		ctx->tune_batch_set = true;
		return 0;
	case OPT_BATCH_TIME:
		return cli_parse_duration_ms("--batch-time", arg, &ctx->backfill.target_batch_ms, err);
	case OPT_MAX_RATE:
		if (cli_parse_double("--max-rows-per-second", arg, 0, 1e12, &d, err) != 0)
			return -1;
		ctx->backfill.max_rows_per_second = d;
		ctx->tune_rate_set = true;
		return 0;
	case OPT_BATCH_DELAY:
		return cli_parse_duration_ms("--batch-delay", arg, &ctx->backfill.batch_delay_ms, err);
	case OPT_MAX_REPLICA_LAG:
		return cli_parse_duration_ms("--max-replica-lag", arg, &ctx->backfill.max_replica_lag_ms, err);
	case OPT_MAX_SLOT_LAG:
		return cli_parse_size("--max-slot-lag", arg, &ctx->backfill.max_slot_lag_bytes, err);
	case OPT_NO_VACUUM_PAUSE:
		ctx->backfill.no_vacuum_pause = true;
		return 0;
	case OPT_HOOKS:
		hooks_set_dir(arg);
		return 0;
	case 'v':
		ctx->verbosity++;
		return 0;
	case 'q':
		ctx->verbosity = -1;
		return 0;
	}
	return shunt_error_set(err, SHUNT_E_INTERNAL, "unhandled option %d", id);
}

void
cli_migrate_opts(const cli_ctx *ctx, migrate_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->schema = ctx->schema;
	o->dry_run = ctx->dry_run;
	o->out = stdout;
	o->backfill = ctx->backfill;
}

shunt_db *
cli_connect(cli_ctx *ctx, shunt_error *err)
{
	shunt_db *db = pg_conn_open(ctx->db_arg, ctx->state_schema, err);

	if (db == NULL)
		return NULL;
	db->lock_timeout_ms = ctx->lock_timeout_ms;
	db->lock_retry_ms = ctx->lock_retry_ms;
	db->concurrent_timeout_ms = ctx->concurrent_timeout_ms;
	db->kill_blockers = ctx->kill_blockers;
	db->dry_run = ctx->dry_run;
	db->echo = ctx->verbosity > 0;
	return db;
}

static struct option *
merge_options(const struct option *extra)
{
	size_t n = 0, m = 0;
	struct option *all;

	while (global_options[n].name)
		n++;
	while (extra && extra[m].name)
		m++;
	all = calloc(n + m + 1, sizeof(*all));
	if (all == NULL)
		abort();
	memcpy(all, global_options, n * sizeof(*all));
	if (m)
		memcpy(all + n, extra, m * sizeof(*all));
	return all;
}

int
main(int argc, char **argv)
{
	cli_ctx ctx;
	shunt_error err;
	const cli_command *cmd = NULL;
	const char *cmd_name = NULL;
	struct option *opts;
	bool help = false;
	int rc;

	memset(&ctx, 0, sizeof(ctx));
	shunt_error_clear(&err);
	ctx.schema = "public";
	ctx.state_schema = "shunt";
	ctx.lock_timeout_ms = 500;
	ctx.lock_retry_ms = 10 * 60 * 1000;
	ctx.backfill.target_batch_ms = PG_BACKFILL_BATCH_MS;
	ctx.backfill.progress = true;
	srand((unsigned) time(NULL) ^ (unsigned) getpid());
	hooks_set_dir(getenv("SHUNT_HOOKS"));
	interrupt_install();

	/* find the command: the first argument that is not an option or an
	 * option's value */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (argv[i][0] == '-') {
			if (argv[i][1] == '-' && strchr(argv[i], '=') == NULL && global_takes_arg(argv[i]))
				i++;
			continue;
		}
		cmd_name = argv[i];
		break;
	}
	if (cmd_name != NULL && strcmp(cmd_name, "help") == 0) {
		const char *topic = NULL;

		for (int i = 1; i < argc; i++) {
			if (argv[i][0] == '-') {
				if (argv[i][1] == '-' && strchr(argv[i], '=') == NULL && global_takes_arg(argv[i]))
					i++;
				continue;
			}
			if (argv[i] != cmd_name) {
				topic = argv[i];
				break;
			}
		}
		if (topic == NULL) {
			print_global_help(stdout);
			return EXIT_OK;
		}
		cmd = find_command(topic);
		if (cmd == NULL) {
			fprintf(stderr, "shunt: unknown command \"%s\"\nTry \"shunt --help\".\n", topic);
			return EXIT_USAGE;
		}
		fputs(cmd->help, stdout);
		return EXIT_OK;
	}
	if (cmd_name != NULL) {
		cmd = find_command(cmd_name);
		if (cmd == NULL) {
			fprintf(stderr, "shunt: unknown command \"%s\"\nTry \"shunt --help\" for the list of commands.\n",
					cmd_name);
			return EXIT_USAGE;
		}
	}
	opts = merge_options(cmd ? cmd->options : NULL);
	opterr = 0;
	for (;;) {
		int longindex = 0;
		int c = getopt_long(argc, argv, ":vq", opts, &longindex);

		if (c == -1)
			break;
		if (c == '?' || c == ':') {
			const char *bad = argv[optind - 1];

			if (c == ':')
				fprintf(stderr, "shunt: option \"%s\" needs a value\n", bad);
			else
				fprintf(stderr, "shunt: unknown option \"%s\"%s%s\n", bad, cmd ? " for command " : "",
						cmd ? cmd->name : "");
			if (cmd)
				fprintf(stderr, "Try \"shunt help %s\".\n", cmd->name);
			else
				fprintf(stderr, "Try \"shunt --help\".\n");
			free(opts);
			return EXIT_USAGE;
		}
		if (c == OPT_HELP) {
			help = true;
			continue;
		}
		if (c == OPT_VERSION) {
			printf("shunt %s\n", SHUNT_VERSION);
			free(opts);
			return EXIT_OK;
		}
		if (c >= 1000 && cmd && cmd->on_option) {
			if (cmd->on_option(&ctx, c, optarg, &err) != 0)
				goto fail;
			continue;
		}
		if (apply_global(&ctx, c, optarg, &err) != 0)
			goto fail;
	}
	free(opts);
	opts = NULL;
	if (help) {
		if (cmd)
			fputs(cmd->help, stdout);
		else
			print_global_help(stdout);
		return EXIT_OK;
	}
	if (cmd == NULL) {
		fprintf(stderr, "shunt: no command given\nTry \"shunt --help\".\n");
		return EXIT_USAGE;
	}
	/* positional arguments: everything left except the command itself */
	ctx.argv = calloc((size_t) argc, sizeof(char *));
	if (ctx.argv == NULL)
		abort();
	for (int i = optind; i < argc; i++)
		if (argv[i] != cmd_name)
			ctx.argv[ctx.argc++] = argv[i];
	ctx.command = cmd->name;
	if (ctx.verbosity < 0)
		shunt_log_set_level(SHUNT_LOG_ERROR);
	else if (ctx.verbosity > 1)
		shunt_log_set_level(SHUNT_LOG_DEBUG);
	ctx.backfill.progress = ctx.verbosity >= 0;
	/* a terminal gets a progress bar redrawn in place; logs get lines */
	ctx.backfill.progress_bar = ctx.backfill.progress && isatty(STDERR_FILENO) && ctx.verbosity == 0;
	rc = cmd->fn(&ctx, &err);
	free(ctx.argv);
	if (rc == 0)
		return EXIT_OK;
	if (err.code == SHUNT_OK)
		err.code = SHUNT_E_INTERNAL;
	report_error(&ctx, &err);
	if (err.code == SHUNT_E_USAGE)
		fprintf(stderr, "Try \"shunt help %s\".\n", cmd->name);
	return exit_code(&err);
fail:
	free(opts);
	report_error(&ctx, &err);
	return exit_code(&err);
}
