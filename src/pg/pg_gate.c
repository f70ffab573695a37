/*
 * pg_gate.c: the contract gate; see pg_gate.h.
 *
 * Blockers are collected as lines, each logged; the error names the first
 * and counts the rest, since a shunt_error holds only a few hundred bytes.
 */
#include "pg/pg_gate.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"
#include "pg/pg_api.h"
#include "pg/pg_exec.h"
#include "pg/pg_gate_sql.h"
#include "pg/pg_switch.h"

/* Longest query text quoted in a message. */
#define QUERY_SHOWN 160

typedef struct blockers {
	char **lines;
	size_t n;
} blockers;

static void blocker_add(blockers *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
blocker_add(blockers *b, const char *fmt, ...)
{
	shunt_buf line = SHUNT_BUF_INIT;
	va_list ap;

	buf_init(&line);
	va_start(ap, fmt);
	buf_vprintf(&line, fmt, ap);
	va_end(ap);
	b->lines = shunt_xrealloc(b->lines, (b->n + 1) * sizeof(char *));
	b->lines[b->n++] = buf_detach(&line);
}

static void
blockers_release(blockers *b)
{
	for (size_t i = 0; i < b->n; i++)
		free(b->lines[i]);
	free(b->lines);
}

/* ---- registrations ---- */

static int
check_clients(shunt_db *db, const char *app_schema, const char *new_version, blockers *b, shunt_error *err)
{
	PGresult *res = pg_switch_clients(db, app_schema, err);
	int own = PQbackendPID(db->conn);

	if (res == NULL)
		return -1;
	for (int i = 0; i < PQntuples(res); i++) {
		const char *version = PQgetvalue(res, i, 0);
		const char *pid = PQgetvalue(res, i, 1);
		const char *mode = PQgetvalue(res, i, 5);

		if (strcmp(version, new_version) == 0 ||
			(strcmp(mode, "session") == 0 && strtol(pid, NULL, 10) == own))
			continue;
		blocker_add(b, "a client still uses version \"%s\": pid %s, application \"%s\", %s@%s, %s mode, "
					   "last seen %.19s",
					version, pid, PQgetvalue(res, i, 2), PQgetvalue(res, i, 4), PQgetvalue(res, i, 3), mode,
					PQgetvalue(res, i, 6));
	}
	PQclear(res);
	return 0;
}

/* ---- pg_stat_statements ---- */

/* The quoted schema of pg_stat_statements in this database (malloc'd), or
 * NULL (err->code SHUNT_OK) when the extension is not installed. */
static char *
pgss_schema(shunt_db *db, shunt_error *err)
{
	return pg_query_value(db,
		"SELECT pg_catalog.quote_ident(n.nspname) FROM pg_catalog.pg_extension e "
		"  JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_stat_statements'",
		0, NULL, err);
}

/* What the stored contract removes: its statements, parsed. */
static void
load_affected(const plan *p, gate_affected *a)
{
	for (size_t i = 0; i < p->complete.n; i++) {
		const plan_step *s = &p->complete.steps[i];

		if (s->kind != STEP_TXN && s->kind != STEP_CONCURRENT)
			continue;
		for (size_t j = 0; j < s->n_sql; j++) {
			shunt_error e;

			if (gate_affected_add_sql(a, s->sql[j], &e) != 0)
				log_warning("the contract gate cannot read a statement of the contract: %s", e.message);
		}
	}
	gate_affected_finish(a);
}

/* Could text name anything affected?  A cheap case-insensitive test that
 * saves parsing most statements; names with a double quote (doubled in the
 * text) turn it off. */
static bool
may_mention(const gate_affected *a, const char *text)
{
	for (size_t i = 0; i < a->n_tables; i++) {
		if (strchr(a->tables[i].name, '"') != NULL || strcasestr(text, a->tables[i].name) != NULL)
			return true;
	}
	for (size_t i = 0; i < a->n_dropped_schemas; i++)
		if (strchr(a->dropped_schemas[i], '"') != NULL || strcasestr(text, a->dropped_schemas[i]) != NULL)
			return true;
	return false;
}

/* The query on one line, cut to QUERY_SHOWN bytes (at a UTF-8 boundary). */
static void
put_query(shunt_buf *b, const char *q)
{
	size_t n = 0;
	bool space = false;

	for (const unsigned char *p = (const unsigned char *) q; *p; p++) {
		if (isspace(*p)) {
			space = n > 0;
			continue;
		}
		if (n >= QUERY_SHOWN && (*p & 0xc0) != 0x80) {
			buf_put(b, "...");
			return;
		}
		if (space) {
			buf_putc(b, ' ');
			n++;
			space = false;
		}
		buf_putc(b, (char) *p);
		n++;
	}
}

/* Findings as one line: "a; b". */
static void
put_findings(shunt_buf *b, const char *lines)
{
	for (const char *p = lines; *p; p++) {
		if (*p == '\n') {
			if (p[1] != '\0')
				buf_put(b, "; ");
		} else
			buf_putc(b, *p);
	}
}

static int
check_statements(shunt_db *db, const char *pgss, const pg_state_migration *m, const plan *p, blockers *b,
				 shunt_error *err)
{
	gate_affected a;
	shunt_buf sql = SHUNT_BUF_INIT;
	char idtext[32];
	const char *params[1] = { idtext };
	PGresult *res = NULL;
	char *since = NULL;
	int hidden = 0, parse_failed = 0, stopped = 0;
	int rc = -1;

	gate_affected_init(&a, m->schema);
	load_affected(p, &a);
	if (gate_affected_empty(&a)) {
		log_debug("the contract removes nothing a query could name");
		rc = 0;
		goto done;
	}
	snprintf(idtext, sizeof(idtext), "%lld", m->id);
	buf_init(&sql);
	buf_printf(&sql,
		"SELECT CASE m.gate_seen->>'by' WHEN 'switch' THEN 'the switch at ' ELSE 'the last check at ' END "
		"       || pg_catalog.replace(pg_catalog.left(m.gate_seen->>'at', 19), 'T', ' ') "
		"  FROM %s.migrations m "
		" WHERE m.id = $1::bigint AND m.gate_seen IS NOT NULL", db->state_q);
	since = pg_query_value(db, buf_str(&sql), 1, params, err);
	if (since == NULL && err->code != SHUNT_OK)
		goto done;
	buf_reset(&sql);
	buf_printf(&sql,
		"SELECT pg_catalog.sum(s.calls)::bigint::text, pg_catalog.min(s.query), "
		"       (SELECT m.gate_seen->'calls'->>(s.userid::text || ':' || s.queryid::text) "
		"          FROM %s.migrations m WHERE m.id = $1::bigint) "
		"  FROM %s.pg_stat_statements s "
		" WHERE s.dbid = (SELECT d.oid FROM pg_catalog.pg_database d "
		"                  WHERE d.datname = pg_catalog.current_database()) "
		"   AND s.queryid IS NOT NULL "
		" GROUP BY s.userid, s.queryid ORDER BY 1 DESC",
		db->state_q, pgss);
	res = pg_exec_params(db, buf_str(&sql), 1, params, err);
	if (res == NULL) {
		/* installed but not loaded (shared_preload_libraries), say */
		log_warning("the contract gate cannot read pg_stat_statements: %s", err->message);
		shunt_error_clear(err);
		rc = 0;
		goto done;
	}
	for (int i = 0; i < PQntuples(res); i++) {
		const char *calls = PQgetvalue(res, i, 0);
		const char *query = PQgetvalue(res, i, 1);
		const char *before = PQgetisnull(res, i, 2) ? NULL : PQgetvalue(res, i, 2);
		shunt_buf found = SHUNT_BUF_INIT;
		shunt_buf line = SHUNT_BUF_INIT;
		shunt_error e;
		int n;

		if (PQgetisnull(res, i, 1) || strcmp(query, "<insufficient privilege>") == 0) {
			hidden++;
			continue;
		}
		if (!may_mention(&a, query))
			continue;
		buf_init(&found);
		n = gate_query_check(&a, query, &found, &e);
		if (n < 0)
			parse_failed++;
		if (n > 0) {
			buf_init(&line);
			if (before != NULL && strcmp(before, calls) == 0) {
				buf_put(&line, "a statement that would break did not run since ");
				buf_put(&line, since ? since : "the last check");
				buf_put(&line, ": ");
				put_query(&line, query);
				log_debug("%s", buf_str(&line));
				stopped++;
			} else {
				buf_printf(&line, "a statement that would break ran %s time%s", calls,
						   strcmp(calls, "1") == 0 ? "" : "s");
				if (before != NULL)
					buf_printf(&line, " (%lld since %s)", strtoll(calls, NULL, 10) - strtoll(before, NULL, 10),
							   since ? since : "the last check");
				else if (since != NULL)
					buf_printf(&line, " (first seen since %s)", since);
				buf_put(&line, ": \"");
				put_query(&line, query);
				buf_put(&line, "\" ");
				put_findings(&line, buf_str(&found));
				blocker_add(b, "%s", buf_str(&line));
			}
			buf_release(&line);
		}
		buf_release(&found);
	}
	if (stopped > 0)
		log_info("%d statement%s that would break did not run since %s (-vv lists them)", stopped,
				 stopped == 1 ? "" : "s", since ? since : "the last check");
	if (hidden > 0)
		log_warning("the contract gate cannot read the text of %d statements of other roles in "
					"pg_stat_statements; membership in pg_read_all_stats shows them",
					hidden);
	if (parse_failed > 0)
		log_debug("the contract gate could not parse %d statements", parse_failed);
	rc = 0;
done:
	PQclear(res);
	free(since);
	buf_release(&sql);
	gate_affected_release(&a);
	return rc;
}

int
pg_gate_snapshot(shunt_db *db, long long migration_id, const char *why, shunt_error *err)
{
	shunt_buf sql = SHUNT_BUF_INIT;
	char idtext[32];
	const char *params[2] = { idtext, why };
	char *pgss = pgss_schema(db, err);
	int rc;

	if (pgss == NULL)
		return err->code == SHUNT_OK ? 0 : -1;
	snprintf(idtext, sizeof(idtext), "%lld", migration_id);
	buf_init(&sql);
	buf_printf(&sql,
		"UPDATE %s.migrations SET gate_seen = pg_catalog.jsonb_build_object('at', pg_catalog.now(), "
		"  'by', $2::text, 'calls', (SELECT coalesce(pg_catalog.jsonb_object_agg(k, c), '{}') "
		"    FROM (SELECT s.userid::text || ':' || s.queryid::text AS k, pg_catalog.sum(s.calls) AS c "
		"            FROM %s.pg_stat_statements s "
		"           WHERE s.dbid = (SELECT d.oid FROM pg_catalog.pg_database d "
		"                            WHERE d.datname = pg_catalog.current_database()) "
		"             AND s.queryid IS NOT NULL GROUP BY s.userid, s.queryid) x)) "
		" WHERE id = $1::bigint",
		db->state_q, pgss);
	rc = pg_exec_command(db, buf_str(&sql), 2, params, err);
	buf_release(&sql);
	free(pgss);
	return rc;
}

int
pg_gate_check(shunt_db *db, const char *app_schema, const pg_state_migration *m, const plan *p, bool force,
			  shunt_error *err)
{
	blockers b = { NULL, 0 };
	char *pgss = NULL;
	int rc = -1;

	if (strcmp(m->status, STATE_ACTIVE) != 0) {
		log_debug("complete of \"%s\" already began: the contract gate passed then", m->name);
		return 0;
	}
	if (!db->dry_run && pg_api_ensure(db, err) != 0)
		return -1;
	if (check_clients(db, app_schema, m->version_schema, &b, err) != 0)
		goto done;
	pgss = pgss_schema(db, err);
	if (pgss == NULL && err->code != SHUNT_OK)
		goto done;
	if (pgss != NULL) {
		if (check_statements(db, pgss, m, p, &b, err) != 0)
			goto done;
		if (!db->dry_run && pg_gate_snapshot(db, m->id, "check", err) != 0)
			goto done;
	} else
		log_debug("pg_stat_statements is not installed: the contract gate checks registrations only");
	if (b.n == 0) {
		rc = 0;
		goto done;
	}
	for (size_t i = 0; i < b.n; i++) {
		if (force)
			log_warning("--force: completing although %s", b.lines[i]);
		else if (db->dry_run)
			log_warning("complete would be refused: %s", b.lines[i]);
		else
			log_warning("%s", b.lines[i]);
	}
	if (force || db->dry_run) {
		rc = 0;
		goto done;
	}
	shunt_error_set(err, SHUNT_E_REFUSED, "complete of \"%s\" refused: the previous version is still in use",
					m->name);
	shunt_error_detail(err, "%c%s.  %zu blocker%s in all, listed above.", toupper((unsigned char) b.lines[0][0]),
					   b.lines[0] + 1, b.n, b.n == 1 ? "" : "s");
	shunt_error_hint(err, "Move the clients to \"%s\" (shunt switch) or stop them, then run shunt complete "
						  "again; a statement blocks only if it ran since the previous check.  --force "
						  "completes anyway.",
					 m->version_schema);
done:
	free(pgss);
	blockers_release(&b);
	return rc;
}
