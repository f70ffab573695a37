/*
 * cmd_flag.c: shunt flag set|get|list|delete|history|watch
 *
 * Feature flags live in the state schema; every change goes through its
 * SQL functions (pg_api.h), so applications in any language see the same
 * flags, history and notifications as this command.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli/cli.h"
#include "core/buf.h"
#include "core/log.h"
#include "pg/pg_api.h"
#include "pg/pg_exec.h"
#include "pg/pg_flag.h"

enum { OPT_FLAG_COUNT = 1100, OPT_FLAG_TIMEOUT };

const struct option cmd_flag_options[] = {
	{ "count", required_argument, NULL, OPT_FLAG_COUNT },
	{ "timeout", required_argument, NULL, OPT_FLAG_TIMEOUT },
	{ NULL, 0, NULL, 0 },
};

const char cmd_flag_help[] =
	"Usage: shunt flag set NAME VALUE\n"
	"       shunt flag get NAME\n"
	"       shunt flag list [--json]\n"
	"       shunt flag delete NAME\n"
	"       shunt flag history [NAME] [--json]\n"
	"       shunt flag watch [NAME] [--count=N] [--timeout=DURATION] [--json]\n"
	"\n"
	"Feature flags, kept in the state schema (--state-schema) and shared by every\n"
	"application schema of the database.  Each change is one transaction: the\n"
	"flag, a row in flag_history (when, old and new value, by which role) and a\n"
	"NOTIFY on the channel named like the state schema, with the payload\n"
	"{\"name\": ..., \"value\": ..., \"op\": \"set\" | \"delete\"}.  Applications read\n"
	"flags with libshunt (shunt_client_flag, a cache that the notifications keep\n"
	"fresh) or in SQL with <state schema>.flag_get(name).\n"
	"\n"
	"  set NAME VALUE  set a flag; setting the value it has changes nothing\n"
	"  get NAME        print its value; exit 1 when it is not set\n"
	"  list            every flag with its value and last change\n"
	"  delete NAME     remove a flag; exit 1 when it is not set\n"
	"  history [NAME]  the recorded changes, oldest first\n"
	"  watch [NAME]    print each change (of NAME only, if given) as it arrives, until\n"
	"                  interrupted: \"NAME set VALUE\" or \"NAME deleted\" (--json: the\n"
	"                  notification's payload)\n"
	"    --count=N           stop after N changes\n"
	"    --timeout=DURATION  stop after this long\n"
	"\n"
	"Names starting with \"shunt.\" are shunt's own: shunt.current_version:<schema>\n"
	"is the current version that `shunt switch` sets.  set refuses them.\n";

static long opt_count = -1;
static int64_t opt_timeout_ms = -1;
static volatile sig_atomic_t interrupted;

int
cmd_flag_option(cli_ctx *ctx, int id, const char *arg, shunt_error *err)
{
	(void) ctx;
	if (id == OPT_FLAG_COUNT)
		return cli_parse_int("--count", arg, 1, 1000000000L, &opt_count, err);
	if (id == OPT_FLAG_TIMEOUT)
		return cli_parse_duration_ms("--timeout", arg, &opt_timeout_ms, err);
	return shunt_error_set(err, SHUNT_E_INTERNAL, "unhandled option %d", id);
}

static void
on_signal(int sig)
{
	(void) sig;
	interrupted = 1;
}

static json_t *
rows_json(PGresult *res)
{
	json_t *arr = json_array();

	for (int i = 0; i < PQntuples(res); i++) {
		json_t *o = json_object();

		for (int j = 0; j < PQnfields(res); j++)
			json_object_set_new(o, PQfname(res, j),
								PQgetisnull(res, i, j) ? json_null() : json_string(PQgetvalue(res, i, j)));
		json_array_append_new(arr, o);
	}
	return arr;
}

static void
print_json(json_t *j)
{
	json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	putchar('\n');
}

static int
flag_set(cli_ctx *ctx, shunt_db *db, const char *name, const char *value, shunt_error *err)
{
	char *old = NULL;

	if (strncmp(name, "shunt.", 6) == 0) {
		shunt_error_set(err, SHUNT_E_INPUT, "flag names starting with \"shunt.\" are reserved for shunt");
		shunt_error_hint(err, "shunt switch changes the current version.");
		return -1;
	}
	if (ctx->dry_run) {
		shunt_buf b = SHUNT_BUF_INIT;

		buf_init(&b);
		buf_printf(&b, "SELECT %s.flag_set(", db->state_q);
		pg_put_literal(db, &b, name);
		buf_put(&b, ", ");
		pg_put_literal(db, &b, value);
		buf_put(&b, ");\n");
		fputs(buf_str(&b), stdout);
		buf_release(&b);
		return 0;
	}
	if (pg_flag_set(db, name, value, &old, err) != 0)
		return -1;
	if (old != NULL && strcmp(old, value) == 0)
		log_info("flag \"%s\" is already \"%s\"", name, value);
	else if (old != NULL)
		log_info("flag \"%s\" set to \"%s\" (was \"%s\")", name, value, old);
	else
		log_info("flag \"%s\" set to \"%s\" (was not set)", name, value);
	free(old);
	return 0;
}

static int
flag_get(cli_ctx *ctx, shunt_db *db, const char *name, shunt_error *err)
{
	char *value = NULL;

	if (pg_flag_get(db, name, &value, err) != 0)
		return -1;
	if (value == NULL)
		return shunt_error_set(err, SHUNT_E_STATE, "flag \"%s\" is not set", name);
	if (ctx->json) {
		json_t *o = json_pack("{s:s, s:s}", "name", name, "value", value);

		json_dumpf(o, stdout, 0);
		putchar('\n');
		json_decref(o);
	} else
		printf("%s\n", value);
	free(value);
	return 0;
}

static int
flag_delete(cli_ctx *ctx, shunt_db *db, const char *name, shunt_error *err)
{
	bool existed = false;

	if (ctx->dry_run) {
		shunt_buf b = SHUNT_BUF_INIT;

		buf_init(&b);
		buf_printf(&b, "SELECT %s.flag_delete(", db->state_q);
		pg_put_literal(db, &b, name);
		buf_put(&b, ");\n");
		fputs(buf_str(&b), stdout);
		buf_release(&b);
		return 0;
	}
	if (pg_flag_delete(db, name, &existed, err) != 0)
		return -1;
	if (!existed)
		return shunt_error_set(err, SHUNT_E_STATE, "flag \"%s\" is not set", name);
	log_info("flag \"%s\" deleted", name);
	return 0;
}

static int
flag_list(cli_ctx *ctx, shunt_db *db, const char *name, bool history, shunt_error *err)
{
	PGresult *res = history ? pg_flag_history(db, name, err) : pg_flag_list(db, err);

	if (res == NULL)
		return -1;
	if (ctx->json) {
		json_t *rows = rows_json(res);

		print_json(rows);
		json_decref(rows);
	} else if (history) {
		for (int i = 0; i < PQntuples(res); i++)
			printf("%.19s  %-24s %s -> %s  by %s\n", PQgetvalue(res, i, 4), PQgetvalue(res, i, 1),
				   PQgetisnull(res, i, 2) ? "(not set)" : PQgetvalue(res, i, 2),
				   PQgetisnull(res, i, 3) ? "(deleted)" : PQgetvalue(res, i, 3), PQgetvalue(res, i, 5));
	} else {
		for (int i = 0; i < PQntuples(res); i++)
			printf("%-32s %-24s %.19s  %s\n", PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
				   PQgetvalue(res, i, 2), PQgetvalue(res, i, 3));
	}
	PQclear(res);
	return 0;
}

/* Prints one notification; returns 1 when it counted (matches name). */
static int
print_change(cli_ctx *ctx, shunt_db *db, const char *name, const char *payload)
{
	json_error_t je;
	json_t *j = json_loads(payload, 0, &je);
	const char *n = j ? json_string_value(json_object_get(j, "name")) : NULL;
	const char *op = j ? json_string_value(json_object_get(j, "op")) : NULL;
	json_t *value = j ? json_object_get(j, "value") : NULL;
	char *fetched = NULL;
	shunt_error e;

	if (n == NULL || op == NULL || (name != NULL && strcmp(n, name) != 0)) {
		json_decref(j);
		return 0;
	}
	if (ctx->json)
		printf("%s\n", payload);
	else if (strcmp(op, "delete") == 0)
		printf("%s deleted\n", n);
	else if (json_is_string(value))
		printf("%s set %s\n", n, json_string_value(value));
	else {
		/* too long for a notification: read it */
		if (pg_flag_get(db, n, &fetched, &e) != 0)
			log_warning("cannot read flag \"%s\": %s", n, e.message);
		printf("%s set %s\n", n, fetched ? fetched : "");
		free(fetched);
	}
	fflush(stdout);
	json_decref(j);
	return 1;
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
flag_watch(cli_ctx *ctx, shunt_db *db, const char *name, shunt_error *err)
{
	struct sigaction sa;
	long seen = 0;
	int64_t deadline = opt_timeout_ms >= 0 ? now_ms() + opt_timeout_ms : -1;
	int rc = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART: the wait returns at once */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (pg_flag_listen(db, err) != 0)
		return -1;
	log_info("watching %s%s%s of state schema \"%s\" (Ctrl-C stops)", name ? "flag \"" : "flags",
			 name ? name : "", name ? "\"" : "", db->state_schema);
	while (!interrupted && (opt_count < 0 || seen < opt_count)) {
		char *payload = NULL;
		int64_t left = deadline >= 0 ? deadline - now_ms() : -1;
		int r;

		if (deadline >= 0 && left <= 0)
			break;
		r = pg_flag_wait(db, deadline >= 0 ? left : -1, &payload, err);
		if (r < 0) {
			rc = -1;
			break;
		}
		if (r == 1)
			seen += print_change(ctx, db, name, payload);
		free(payload);
	}
	return rc;
}

int
cmd_flag(cli_ctx *ctx, shunt_error *err)
{
	static const struct {
		const char *name;
		int min, max;
	} subs[] = { { "set", 2, 2 }, { "get", 1, 1 }, { "list", 0, 0 }, { "delete", 1, 1 },
				 { "history", 0, 1 }, { "watch", 0, 1 } };
	const char *sub = ctx->argc > 0 ? ctx->argv[0] : NULL;
	int nargs = ctx->argc - 1;
	size_t i;
	shunt_db *db;
	int rc;

	if (sub == NULL)
		return shunt_error_set(err, SHUNT_E_USAGE, "flag needs a subcommand: set, get, list, delete, history "
												   "or watch");
	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		if (strcmp(subs[i].name, sub) == 0)
			break;
	if (i == sizeof(subs) / sizeof(subs[0]))
		return shunt_error_set(err, SHUNT_E_USAGE, "unknown flag subcommand \"%s\"", sub);
	if (nargs < subs[i].min || nargs > subs[i].max)
		return shunt_error_set(err, SHUNT_E_USAGE, "flag %s takes %s", sub,
							   strcmp(sub, "set") == 0	  ? "a name and a value"
							   : subs[i].min == 1		  ? "one name"
							   : subs[i].max == 1		  ? "at most one name"
														  : "no arguments");
	if (nargs >= 1 && ctx->argv[1][0] == '\0')
		return shunt_error_set(err, SHUNT_E_USAGE, "a flag name must not be empty");
	if ((opt_count >= 0 || opt_timeout_ms >= 0) && strcmp(sub, "watch") != 0)
		return shunt_error_set(err, SHUNT_E_USAGE, "--count and --timeout are options of flag watch");
	db = cli_connect(ctx, err);
	if (db == NULL)
		return -1;
	/* reads need the functions too; a dry run changes nothing */
	if (!ctx->dry_run && pg_api_ensure(db, err) != 0) {
		pg_conn_free(db);
		return -1;
	}
	if (strcmp(sub, "set") == 0)
		rc = flag_set(ctx, db, ctx->argv[1], ctx->argv[2], err);
	else if (strcmp(sub, "get") == 0)
		rc = flag_get(ctx, db, ctx->argv[1], err);
	else if (strcmp(sub, "delete") == 0)
		rc = flag_delete(ctx, db, ctx->argv[1], err);
	else if (strcmp(sub, "watch") == 0)
		rc = flag_watch(ctx, db, nargs ? ctx->argv[1] : NULL, err);
	else
		rc = flag_list(ctx, db, nargs ? ctx->argv[1] : NULL, strcmp(sub, "history") == 0, err);
	pg_conn_free(db);
	return rc;
}
