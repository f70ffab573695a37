/*
 * cmd_lint.c: shunt lint [FILE.sql]... (see src/pg/pg_lint.h, docs/lint.md)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/cli.h"
#include "pg/pg_lint.h"

enum {
	OPT_DISABLE = 1100,
	OPT_CONFIG,
	OPT_PG_VERSION,
	OPT_ASSUME_TX,
	OPT_LIST_RULES,
};

#define DEFAULT_CONFIG ".shunt-lint"

const struct option cmd_lint_options[] = {
	{ "disable", required_argument, NULL, OPT_DISABLE },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "pg-version", required_argument, NULL, OPT_PG_VERSION },
	{ "assume-in-transaction", no_argument, NULL, OPT_ASSUME_TX },
	{ "list-rules", no_argument, NULL, OPT_LIST_RULES },
	{ NULL, 0, NULL, 0 },
};

const char cmd_lint_help[] =
	"Usage: shunt lint [OPTION]... [FILE.sql]...\n"
	"\n"
	"Checks plain SQL migrations, offline, for statements that hurt a live database:\n"
	"locks that make every query on a table wait (and how long), table rewrites and\n"
	"full scans under such locks, changes that break the application version still\n"
	"running (renames, drops, NOT NULL), and transaction mistakes (CONCURRENTLY in a\n"
	"transaction block, DDL held open by a long data change, no lock_timeout).\n"
	"SQL is read with PostgreSQL's own parser.  No FILE, or \"-\", reads standard input.\n"
	"\n"
	"Each finding prints as\n"
	"  FILE:LINE:COLUMN: error|warning: RULE: what is wrong\n"
	"      lock: the lock taken; whether the table is rewritten or scanned\n"
	"      why:  what a live system suffers\n"
	"      fix:  the safe alternative (exact SQL or the shunt operation where possible)\n"
	"--json prints one array of findings instead (file, line, column, rule,\n"
	"severity, lock, rewrite, scan, message, why, fix).\n"
	"\n"
	"Options:\n"
	"  --disable=RULE[,RULE]     switch rules off (repeatable)\n"
	"  --config=FILE             read options from FILE instead of ./.shunt-lint\n"
	"  --pg-version=N            target PostgreSQL major version (default 15); changes\n"
	"                            answers that depend on it (DEFAULT rewrites before 11,\n"
	"                            CHECK-backed SET NOT NULL and REINDEX CONCURRENTLY\n"
	"                            since 12, DETACH PARTITION CONCURRENTLY since 14)\n"
	"  --assume-in-transaction   the file runs in one transaction (as most migration\n"
	"                            tools run it)\n"
	"  --list-rules              print every rule and exit\n"
	"  --json                    machine-readable output\n"
	"\n"
	"Configuration file (.shunt-lint in the current directory, or --config), YAML:\n"
	"  disable:\n"
	"    - prefer-robust-stmts\n"
	"    - require-lock-timeout\n"
	"  pg-version: 13\n"
	"  assume-in-transaction: true\n"
	"Command-line options apply on top of it.\n"
	"\n"
	"In the SQL, a comment in a statement or right before it (or after it on its\n"
	"last line) switches rules off for that statement, or for the whole file:\n"
	"  -- shunt-lint: disable=ban-drop-column,renaming-column\n"
	"  -- shunt-lint: disable-file=prefer-text-field\n"
	"(\"all\" names every rule).\n"
	"\n"
	"Exit status: 0 when no error-level finding, 1 otherwise, 2 for a usage error.\n"
	"\n"
	"Examples:\n"
	"  shunt lint migrations/*.sql\n"
	"  shunt lint --pg-version=11 --disable=prefer-robust-stmts 0042_users.sql\n"
	"  git diff --name-only -- '*.sql' | xargs shunt lint --json\n";

static const char *opt_disable[32];
static size_t n_opt_disable;
static const char *opt_config;
static long opt_pg_version;
static bool opt_assume_tx;
static bool opt_list_rules;

int
cmd_lint_option(cli_ctx *ctx, int id, const char *arg, shunt_error *err)
{
	(void)ctx;
	switch (id) {
	case OPT_DISABLE:
		if (n_opt_disable == sizeof(opt_disable) / sizeof(opt_disable[0]))
			return shunt_error_set(err, SHUNT_E_USAGE, "too many --disable options");
		opt_disable[n_opt_disable++] = arg;
		return 0;
	case OPT_CONFIG:
		opt_config = arg;
		return 0;
	case OPT_PG_VERSION:
		return cli_parse_int("--pg-version", arg, 9, 99, &opt_pg_version, err);
	case OPT_ASSUME_TX:
		opt_assume_tx = true;
		return 0;
	case OPT_LIST_RULES:
		opt_list_rules = true;
		return 0;
	}
	return shunt_error_set(err, SHUNT_E_INTERNAL, "unhandled option %d", id);
}

/* Config file first, then the command line on top of it. */
static int
build_opts(lint_opts *o, shunt_error *err)
{
	lint_opts_init(o);
	if (opt_config != NULL) {
		if (lint_opts_load_config(o, opt_config, err) != 0)
			return -1;
	} else if (access(DEFAULT_CONFIG, F_OK) == 0 &&
			   lint_opts_load_config(o, DEFAULT_CONFIG, err) != 0)
		return -1;
	for (size_t i = 0; i < n_opt_disable; i++)
		if (lint_opts_disable_list(o, opt_disable[i], err) != 0)
			return -1;
	if (opt_pg_version > 0)
		o->pg_version = (int)opt_pg_version;
	if (opt_assume_tx)
		o->assume_in_transaction = true;
	return 0;
}

static void
lock_line(const lint_finding *fd, FILE *out)
{
	const lint_rule *r = fd->rule;
	const char *lock = fd->lock ? fd->lock : r->lock;

	fprintf(out, "    lock: %s; %s\n", lock[0] ? lock : "none",
			r->rewrite		   ? "rewrites the table"
			: r->maybe_rewrite ? "may rewrite the table"
			: r->scan		   ? "scans the table (no rewrite)"
							   : "no rewrite, no scan");
}

static void
print_text(const char *file, const lint_finding *fd)
{
	printf("%s:%zu:%zu: %s: %s: %s\n", file, fd->line, fd->column,
		   lint_severity_name(fd->rule->severity), fd->rule->name, fd->message);
	lock_line(fd, stdout);
	printf("    why: %s\n", fd->rule->why);
	printf("    fix: %s\n", fd->fix ? fd->fix : fd->rule->fix);
}

static json_t *
finding_json(const char *file, const lint_finding *fd)
{
	const char *lock = fd->lock ? fd->lock : fd->rule->lock;

	return json_pack("{s:s, s:I, s:I, s:s, s:s, s:o, s:o, s:b, s:s, s:s, s:s}", "file", file,
					 "line", (json_int_t)fd->line, "column", (json_int_t)fd->column, "rule",
					 fd->rule->name, "severity", lint_severity_name(fd->rule->severity), "lock",
					 lock[0] ? json_string(lock) : json_null(), "rewrite",
					 fd->rule->maybe_rewrite ? json_null() : json_boolean(fd->rule->rewrite),
					 "scan", fd->rule->scan, "message", fd->message, "why", fd->rule->why, "fix",
					 fd->fix ? fd->fix : fd->rule->fix);
}

static void
list_rules(bool as_json)
{
	json_t *arr = as_json ? json_array() : NULL;

	for (size_t i = 0; i < LR__COUNT; i++) {
		const lint_rule *r = &lint_rules[i];

		if (as_json)
			json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s}", "rule", r->name,
												 "severity", lint_severity_name(r->severity),
												 "summary", r->summary, "fix", r->fix));
		else
			printf("%-38s %-7s  %s\n", r->name, lint_severity_name(r->severity), r->summary);
	}
	if (as_json) {
		json_dumpf(arr, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(arr);
	}
}

/* Lints one input; appends to arr (JSON) or prints.  Counts by severity. */
static int
lint_one(cli_ctx *ctx, const char *path, const lint_opts *o, lint_schema *schema, json_t *arr,
		 size_t *n_err, size_t *n_warn, shunt_error *err)
{
	const char *name = strcmp(path, "-") == 0 ? "<stdin>" : path;
	lint_result res = { NULL, 0, 0 };
	size_t len = 0;
	char *text = cli_read_input(path, &len, err);

	if (text == NULL)
		return -1;
	if (pg_lint_text(text, len, name, o, schema, &res, err) != 0) {
		free(text);
		return -1;
	}
	free(text);
	for (size_t i = 0; i < res.n; i++) {
		if (res.v[i].rule->severity == LINT_ERROR)
			(*n_err)++;
		else
			(*n_warn)++;
		if (ctx->json)
			json_array_append_new(arr, finding_json(name, &res.v[i]));
		else
			print_text(name, &res.v[i]);
	}
	lint_result_release(&res);
	return 0;
}

int
cmd_lint(cli_ctx *ctx, shunt_error *err)
{
	lint_opts o;
	lint_schema *schema = NULL;
	json_t *arr = NULL;
	size_t n_err = 0, n_warn = 0;
	int n_files = ctx->argc > 0 ? ctx->argc : 1;
	int rc = -1;

	if (opt_list_rules) {
		list_rules(ctx->json);
		return 0;
	}
	if (build_opts(&o, err) != 0)
		return -1;
	if (ctx->json)
		arr = json_array();
	schema = lint_schema_new();
	for (int i = 0; i < n_files; i++)
		if (lint_one(ctx, ctx->argc > 0 ? ctx->argv[i] : "-", &o, schema, arr, &n_err, &n_warn,
					 err) != 0)
			goto done;
	if (ctx->json) {
		json_dumpf(arr, stdout, JSON_INDENT(2));
		putchar('\n');
	}
	fflush(stdout);
	rc = 0;
	if (n_err > 0) {
		/* exit status 1 through main's error path; in JSON mode that path
		 * would print an error object after the array, so the array stays
		 * the only thing on stdout */
		ctx->json = false;
		rc = shunt_error_set(err, SHUNT_E_INPUT, "lint: %zu error%s, %zu warning%s in %d file%s",
							 n_err, n_err == 1 ? "" : "s", n_warn, n_warn == 1 ? "" : "s",
							 n_files, n_files == 1 ? "" : "s");
	} else if (ctx->verbosity >= 0 && n_warn > 0)
		fprintf(stderr, "shunt: lint: 0 errors, %zu warning%s in %d file%s\n", n_warn,
				n_warn == 1 ? "" : "s", n_files, n_files == 1 ? "" : "s");
done:
	lint_schema_free(schema);
	json_decref(arr);
	return rc;
}
