/*
 * pg_plan.c: the planner's framework: sync triggers, the contract
 * transaction derived from the final model, the version schema's views.
 * The operations themselves are in pg_ops.c.
 */
#include "pg/pg_plan.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"
#include "pg/pg_catalog.h"
#include "pg/pg_exec.h"
#include "pg/pg_ops.h"
#include "pg/pg_parse.h"

/* ---------- small helpers shared with pg_ops.c ---------- */

int
planner_error(planner *p, const char *field, const char *fmt, ...)
{
	char msg[200];
	shunt_error *err = p->op_err;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (p->op != NULL && field != NULL)
		shunt_error_set(err, SHUNT_E_INPUT, "%s: operation %zu (%s): field \"%s\": %s", p->mig->file,
						p->op->index + 1, p->op->kind_name, field, msg);
	else if (p->op != NULL)
		shunt_error_set(err, SHUNT_E_INPUT, "%s: operation %zu (%s): %s", p->mig->file,
						p->op->index + 1, p->op->kind_name, msg);
	else
		shunt_error_set(err, SHUNT_E_INPUT, "%s: %s", p->mig->file, msg);
	return -1;
}

char *
planner_name(planner *p, const char *prefix, const char *base)
{
	(void) p;
	return model_generated_name(prefix, base);
}

void
planner_put_table(planner *p, shunt_buf *b, const char *table)
{
	pg_put_qualified(p->db, b, p->schema, table);
}

char *
planner_table(planner *p, const char *table)
{
	shunt_buf b = SHUNT_BUF_INIT;

	buf_init(&b);
	planner_put_table(p, &b, table);
	return buf_detach(&b);
}

char *
planner_ident(planner *p, const char *name)
{
	return pg_ident(p->db, name);
}

/* Records that step s locks table (physical name), for naming
 * the sessions that block it. */
static void
step_locks(planner *p, plan_step *s, const char *table)
{
	char *rel = planner_table(p, table);

	for (size_t i = 0; i < s->n_relations; i++)
		if (strcmp(s->relations[i], rel) == 0) {
			free(rel);
			return;
		}
	s->relations = shunt_xrealloc(s->relations, (s->n_relations + 1) * sizeof(char *));
	s->relations[s->n_relations++] = rel;
}

static table_sync *
find_sync(planner *p, const char *table, bool create)
{
	for (size_t i = 0; i < p->n_syncs; i++)
		if (strcmp(p->syncs[i].table, table) == 0)
			return &p->syncs[i];
	if (!create)
		return NULL;
	p->syncs = shunt_xrealloc(p->syncs, (p->n_syncs + 1) * sizeof(*p->syncs));
	memset(&p->syncs[p->n_syncs], 0, sizeof(*p->syncs));
	p->syncs[p->n_syncs].table = shunt_xstrdup(table);
	return &p->syncs[p->n_syncs++];
}

void
planner_add_rule(planner *p, const char *table, const char *target, const char *expr, bool up,
				 const model_table *vars_from)
{
	table_sync *ts = find_sync(p, table, true);
	sync_rule *r;

	ts->rules = shunt_xrealloc(ts->rules, (ts->n_rules + 1) * sizeof(*ts->rules));
	r = &ts->rules[ts->n_rules++];
	memset(r, 0, sizeof(*r));
	r->target = shunt_xstrdup(target);
	/* "SELECT e" runs as e: see pg_parse_unwrap_select */
	r->expr = pg_parse_unwrap_select(expr);
	if (r->expr == NULL)
		r->expr = shunt_xstrdup(expr);
	r->up = up;
	r->n_vars = vars_from->n_cols;
	r->var_names = shunt_xcalloc(r->n_vars ? r->n_vars : 1, sizeof(char *));
	r->var_phys = shunt_xcalloc(r->n_vars ? r->n_vars : 1, sizeof(char *));
	for (size_t i = 0; i < r->n_vars; i++) {
		r->var_names[i] = shunt_xstrdup(vars_from->cols[i].name);
		r->var_phys[i] = shunt_xstrdup(vars_from->cols[i].phys);
	}
}

void
planner_need_backfill(planner *p, const char *table)
{
	find_sync(p, table, true)->backfill = true;
}

void
planner_complete_sql(planner *p, const char *sql)
{
	p->complete_sql = shunt_xrealloc(p->complete_sql, (p->n_complete_sql + 1) * sizeof(char *));
	p->complete_sql[p->n_complete_sql++] = shunt_xstrdup(sql);
}

void
planner_predrop_sql(planner *p, const char *sql)
{
	p->predrop_sql = shunt_xrealloc(p->predrop_sql, (p->n_predrop_sql + 1) * sizeof(char *));
	p->predrop_sql[p->n_predrop_sql++] = shunt_xstrdup(sql);
}

void
planner_fixup(planner *p, const char *table, const char *column, const char *kind, const char *arg1,
			  const char *arg2)
{
	final_fixup *f;

	p->fixups = shunt_xrealloc(p->fixups, (p->n_fixups + 1) * sizeof(*p->fixups));
	f = &p->fixups[p->n_fixups++];
	f->table = shunt_xstrdup(table);
	f->column = column ? shunt_xstrdup(column) : NULL;
	f->sql_fmt = shunt_xstrdup(kind);
	f->arg1 = arg1 ? shunt_xstrdup(arg1) : NULL;
	f->arg2 = arg2 ? shunt_xstrdup(arg2) : NULL;
}

static void
planner_release(planner *p)
{
	model_release(&p->old);
	model_release(&p->cur);
	plan_phase_release(&p->start_ddl);
	plan_phase_release(&p->start_checks);
	plan_phase_release(&p->start_post);
	plan_phase_release(&p->complete_pre);
	plan_phase_release(&p->complete_post);
	plan_phase_release(&p->rollback_ops);
	for (size_t i = 0; i < p->n_complete_sql; i++)
		free(p->complete_sql[i]);
	free(p->complete_sql);
	for (size_t i = 0; i < p->n_predrop_sql; i++)
		free(p->predrop_sql[i]);
	free(p->predrop_sql);
	for (size_t i = 0; i < p->n_fixups; i++) {
		free(p->fixups[i].table);
		free(p->fixups[i].column);
		free(p->fixups[i].sql_fmt);
		free(p->fixups[i].arg1);
		free(p->fixups[i].arg2);
	}
	free(p->fixups);
	for (size_t i = 0; i < p->n_syncs; i++) {
		table_sync *ts = &p->syncs[i];

		for (size_t j = 0; j < ts->n_rules; j++) {
			sync_rule *r = &ts->rules[j];

			for (size_t k = 0; k < r->n_vars; k++) {
				free(r->var_names[k]);
				free(r->var_phys[k]);
			}
			free(r->var_names);
			free(r->var_phys);
			free(r->target);
			free(r->expr);
		}
		free(ts->rules);
		free(ts->table);
	}
	free(p->syncs);
	for (size_t i = 0; i < p->n_index; i++) {
		free(p->index_sql[i]);
		free(p->index_table[i]);
		free(p->index_name[i]);
	}
	free(p->index_sql);
	free(p->index_table);
	free(p->index_name);
	for (size_t i = 0; i < p->n_dups; i++) {
		free(p->dups[i].table);
		free(p->dups[i].old_phys);
		free(p->dups[i].tmp);
		free(p->dups[i].skip);
	}
	free(p->dups);
	free(p->version_schema);
	free(p->previous_version_schema);
}

/* ---------- sync triggers ---------- */

/* Names that would shadow PL/pgSQL's own trigger variables. */
static bool
reserved_var(const char *name)
{
	static const char *const names[] = { "new", "old", "found", "tg_op", "tg_name", "tg_when",
										 "tg_level", "tg_relid", "tg_relname", "tg_table_name",
										 "tg_table_schema", "tg_nargs", "tg_argv", NULL };

	for (int i = 0; names[i]; i++)
		if (strcasecmp(name, names[i]) == 0)
			return true;
	return strncmp(name, "_shunt_", 7) == 0;
}

static void
put_rule(planner *p, shunt_buf *b, const char *table, const sync_rule *r)
{
	buf_put(b, "\t\tDECLARE\n");
	for (size_t i = 0; i < r->n_vars; i++) {
		if (reserved_var(r->var_names[i]))
			continue;
		buf_put(b, "\t\t\t");
		pg_put_ident(p->db, b, r->var_names[i]);
		buf_putc(b, ' ');
		pg_put_qualified(p->db, b, p->schema, table);
		buf_putc(b, '.');
		pg_put_ident(p->db, b, r->var_phys[i]);
		buf_put(b, "%TYPE := NEW.");
		pg_put_ident(p->db, b, r->var_phys[i]);
		buf_put(b, ";\n");
	}
	buf_put(b, "\t\tBEGIN\n\t\t\tNEW.");
	pg_put_ident(p->db, b, r->target);
	buf_put(b, " := (");
	buf_put(b, r->expr);
	buf_put(b, "\n\t\t\t);\n\t\tEND;\n");
}

static char *
trigger_function_name(const char *table)
{
	return model_generated_name("_shunt_sync_", table);
}

/*
 * The trigger function decides which version wrote the row: the session
 * setting shunt.version when set (per transaction, works through poolers),
 * else the first schema of the effective search_path.  Rows written by the
 * new version run the down rules (newest operation first), all other writes
 * (old version, the app schema itself, the backfill) run the up rules.
 */
static int
emit_trigger(planner *p, table_sync *ts, shunt_error *err)
{
	char *fname = trigger_function_name(ts->table);
	char *tag = NULL;
	shunt_buf b = SHUNT_BUF_INIT;
	shunt_buf fq = SHUNT_BUF_INIT;
	shunt_buf tq = SHUNT_BUF_INIT;
	plan_step *s;
	int rc = -1;

	buf_init(&b);
	buf_init(&fq);
	buf_init(&tq);
	pg_put_qualified(p->db, &fq, p->schema, fname);
	planner_put_table(p, &tq, ts->table);

	/* The body is dollar-quoted; the tag must not occur in user expressions. */
	tag = shunt_xstrdup("$shunt_sync$");
	for (size_t i = 0; i < ts->n_rules; i++)
		if (strstr(ts->rules[i].expr, "$shunt_sync$") != NULL) {
			shunt_error_set(err, SHUNT_E_INPUT, "%s: an up/down expression contains \"$shunt_sync$\"",
							p->mig->file);
			goto done;
		}

	buf_printf(&b, "CREATE OR REPLACE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql AS %s\n", buf_str(&fq), tag);
	buf_put(&b, "#variable_conflict use_variable\n");
	buf_put(&b, "DECLARE\n\t_shunt_new_version boolean := coalesce(\n"
				"\t\tnullif(pg_catalog.current_setting('shunt.version', true), '') = ");
	pg_put_literal(p->db, &b, p->version_schema);
	buf_put(&b, ",\n\t\t(pg_catalog.current_schemas(false))[1] = ");
	pg_put_literal(p->db, &b, p->version_schema);
	buf_put(&b, ", false);\nBEGIN\n\tIF _shunt_new_version THEN\n");
	for (size_t i = ts->n_rules; i-- > 0;)
		if (!ts->rules[i].up)
			put_rule(p, &b, ts->table, &ts->rules[i]);
	buf_put(&b, "\t\tNULL;\n\tELSE\n");
	for (size_t i = 0; i < ts->n_rules; i++)
		if (ts->rules[i].up)
			put_rule(p, &b, ts->table, &ts->rules[i]);
	buf_put(&b, "\t\tNULL;\n\tEND IF;\n\tRETURN NEW;\nEND\n");
	buf_put(&b, tag);

	s = plan_add_txn(&p->out->start, "create sync trigger", NULL);
	step_locks(p, s, ts->table);
	{
		char *what = NULL;
		shunt_buf w = SHUNT_BUF_INIT;

		buf_init(&w);
		buf_printf(&w, "create the sync trigger of %s", buf_str(&tq));
		what = buf_detach(&w);
		free(s->what);
		s->what = what;
	}
	plan_step_add_sql(s, buf_str(&b));
	buf_reset(&b);
	buf_put(&b, "CREATE TRIGGER ");
	pg_put_ident(p->db, &b, fname);
	/* The WHEN clause is evaluated without calling PL/pgSQL: the backfill's
	 * own session computes the new columns in its UPDATE and skips the
	 * trigger entirely (see backfill_set_clause). */
	buf_printf(&b, " BEFORE INSERT OR UPDATE ON %s FOR EACH ROW WHEN "
				   "(pg_catalog.current_setting('shunt.backfill', true) IS DISTINCT FROM 'on') "
				   "EXECUTE FUNCTION %s()", buf_str(&tq), buf_str(&fq));
	plan_step_add_sql(s, buf_str(&b));

	/* Complete and rollback both drop it. */
	buf_reset(&b);
	buf_put(&b, "DROP TRIGGER IF EXISTS ");
	pg_put_ident(p->db, &b, fname);
	buf_printf(&b, " ON %s", buf_str(&tq));
	planner_complete_sql(p, buf_str(&b));
	s = plan_add_txn(&p->out->rollback, "drop the sync trigger", NULL);
	step_locks(p, s, ts->table);
	plan_step_add_sql(s, buf_str(&b));
	buf_reset(&b);
	buf_printf(&b, "DROP FUNCTION IF EXISTS %s()", buf_str(&fq));
	planner_complete_sql(p, buf_str(&b));
	plan_step_add_sql(s, buf_str(&b));
	rc = 0;
done:
	free(tag);
	free(fname);
	buf_release(&b);
	buf_release(&fq);
	buf_release(&tq);
	return rc;
}

/* ---------- the backfill's assignments ---------- */

/*
 * The SET list of the backfill's batch UPDATE: every up rule's target
 * assigned its expression, with the version's column names rewritten to
 * the physical columns, so existing rows get their new values at the cost
 * of an UPDATE and no PL/pgSQL call per row.  An UPDATE's assignments all
 * see the row as it was, so when a rule reads a column another up rule
 * computes (two changes in one migration that build on each other), the
 * list is instead a no-op assignment prefixed "@": the batch then fires the
 * trigger, which runs the rules in order.  UPDATE re-evaluates the
 * assignments on the newest row version when it waits for a concurrent
 * writer, so neither way overwrites an application write with a stale
 * value.
 */
static char *
backfill_set_clause(planner *p, const table_sync *ts)
{
	shunt_buf b = SHUNT_BUF_INIT;
	const char **targets = shunt_xcalloc(ts->n_rules + 1, sizeof(char *));
	const char *first = NULL;
	size_t n_targets = 0;
	bool chained = false;

	for (size_t i = 0; i < ts->n_rules; i++)
		if (ts->rules[i].up) {
			targets[n_targets++] = ts->rules[i].target;
			if (first == NULL)
				first = ts->rules[i].target;
		}
	buf_init(&b);
	for (size_t i = 0; i < ts->n_rules && !chained; i++) {
		const sync_rule *r = &ts->rules[i];
		const char **from = shunt_xcalloc(r->n_vars + 1, sizeof(char *));
		const char **to = shunt_xcalloc(r->n_vars + 1, sizeof(char *));
		const char **probe_from = shunt_xcalloc(r->n_vars + 1, sizeof(char *));
		const char **probe_to = shunt_xcalloc(r->n_vars + 1, sizeof(char *));
		size_t n_probe = 0;
		char *renamed, *probed;
		shunt_error e;

		if (!r->up) {
			free(from);
			free(to);
			free(probe_from);
			free(probe_to);
			continue;
		}
		for (size_t k = 0; k < r->n_vars; k++) {
			from[k] = r->var_names[k];
			to[k] = r->var_phys[k];
			for (size_t t = 0; t < n_targets; t++)
				if (strcmp(r->var_phys[k], targets[t]) == 0) {
					probe_from[n_probe] = r->var_names[k];
					probe_to[n_probe++] = "_shunt_probe_";
				}
		}
		probed = n_probe ? pg_parse_rename_columns(r->expr, probe_from, probe_to, n_probe, &e) : NULL;
		if (probed == NULL && n_probe > 0)
			chained = true;
		else if (probed != NULL && strcmp(probed, r->expr) != 0)
			chained = true; /* reads another rule's result */
		renamed = chained ? NULL : pg_parse_rename_columns(r->expr, from, to, r->n_vars, &e);
		if (renamed == NULL)
			chained = true;
		else {
			buf_put(&b, b.len ? ", " : "");
			pg_put_ident(p->db, &b, r->target);
			buf_printf(&b, " = (%s\n)", renamed);
		}
		free(renamed);
		free(probed);
		free(from);
		free(to);
		free(probe_from);
		free(probe_to);
	}
	if (chained || b.len == 0) {
		buf_reset(&b);
		buf_putc(&b, '@');
		if (first != NULL)
			pg_put_ident(p->db, &b, first);
	}
	free(targets);
	return buf_detach(&b);
}

/* ---------- the new version's views ---------- */

/* Appends sql to a growable statement array. */
static void
push_sql(char ***sql, size_t *n, size_t *cap, char *stmt)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		*sql = shunt_xrealloc(*sql, *cap * sizeof(char *));
	}
	(*sql)[(*n)++] = stmt;
}

/*
 * GRANT statements that give the roles which may use the application
 * schema the same on the version schema, and each view the privileges of
 * its table: the views are security_invoker, so a role needs both, and an
 * application role that could read the table can read it through the view.
 */
static int
grant_sql(shunt_db *db, const char *app_schema, const char *version_schema, const char *view,
		  const char *table, char ***sql, size_t *n, size_t *cap, shunt_error *err)
{
	const char *params[2] = { app_schema, table };
	PGresult *res;

	if (table == NULL)
		res = pg_exec_params(db,
			"SELECT DISTINCT CASE WHEN a.grantee = 0 THEN '' ELSE a.grantee::regrole::text END, 'USAGE' "
			"  FROM pg_catalog.pg_namespace n, pg_catalog.aclexplode(n.nspacl) a "
			" WHERE n.nspname = $1 AND a.privilege_type = 'USAGE' AND a.grantee <> n.nspowner",
			1, params, err);
	else
		res = pg_exec_params(db,
			"SELECT DISTINCT CASE WHEN a.grantee = 0 THEN '' ELSE a.grantee::regrole::text END, a.privilege_type "
			"  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace, "
			"       pg_catalog.aclexplode(c.relacl) a "
			" WHERE n.nspname = $1 AND c.relname = $2 AND a.grantee <> c.relowner "
			"   AND a.privilege_type IN ('SELECT', 'INSERT', 'UPDATE', 'DELETE')",
			2, params, err);
	if (res == NULL)
		return -1;
	for (int i = 0; i < PQntuples(res); i++) {
		shunt_buf b = SHUNT_BUF_INIT;
		const char *role = PQgetvalue(res, i, 0);

		buf_init(&b);
		/* privilege_type comes from aclexplode: one of the fixed words above */
		buf_printf(&b, "GRANT %s ON ", PQgetvalue(res, i, 1));
		if (view == NULL) {
			buf_put(&b, "SCHEMA ");
			pg_put_ident(db, &b, version_schema);
		} else
			pg_put_qualified(db, &b, version_schema, view);
		buf_put(&b, " TO ");
		/* regrole output is already a quoted identifier */
		buf_put(&b, role[0] ? role : "PUBLIC");
		push_sql(sql, n, cap, buf_detach(&b));
	}
	PQclear(res);
	return 0;
}

int
pg_plan_views_sql(shunt_db *db, const model *m, const char *version_schema, char ***sql, size_t *n,
				  shunt_error *err)
{
	shunt_buf b = SHUNT_BUF_INIT;
	size_t cap = 0;

	*sql = NULL;
	*n = 0;
	buf_init(&b);
	buf_put(&b, "DROP SCHEMA IF EXISTS ");
	pg_put_ident(db, &b, version_schema);
	buf_put(&b, " CASCADE");
	push_sql(sql, n, &cap, buf_detach(&b));
	buf_init(&b);
	buf_put(&b, "CREATE SCHEMA ");
	pg_put_ident(db, &b, version_schema);
	push_sql(sql, n, &cap, buf_detach(&b));
	if (grant_sql(db, m->schema, version_schema, NULL, NULL, sql, n, &cap, err) != 0)
		return -1;
	for (size_t i = 0; i < m->n_tables; i++) {
		const model_table *t = &m->tables[i];

		buf_init(&b);
		buf_put(&b, "CREATE VIEW ");
		pg_put_qualified(db, &b, version_schema, t->name);
		/* security_invoker: row-level security and privileges are checked
		 * for the querying role, as if it read the table itself. */
		buf_put(&b, " WITH (security_invoker = true) AS SELECT ");
		for (size_t j = 0; j < t->n_cols; j++) {
			if (j > 0)
				buf_put(&b, ", ");
			pg_put_ident(db, &b, t->cols[j].phys);
			buf_put(&b, " AS ");
			pg_put_ident(db, &b, t->cols[j].name);
		}
		if (t->n_cols == 0)
			buf_put(&b, "NULL::pg_catalog.text AS \"?column?\" WHERE false");
		buf_put(&b, " FROM ");
		pg_put_qualified(db, &b, m->schema, t->phys);
		push_sql(sql, n, &cap, buf_detach(&b));
		if (grant_sql(db, m->schema, version_schema, t->name, t->phys, sql, n, &cap, err) != 0)
			return -1;
	}
	return 0;
}

/* ---------- the contract transaction, derived from the final model ---------- */

static const char *
final_column_name(planner *p, const char *table_phys, const char *col_phys)
{
	model_table *t = model_find_table_phys(&p->cur, table_phys);
	model_column *c = t ? model_find_column_phys(t, col_phys) : NULL;

	return c ? c->name : col_phys;
}

static const char *
final_table_name(planner *p, const char *table_phys)
{
	model_table *t = model_find_table_phys(&p->cur, table_phys);

	return t ? t->name : table_phys;
}

static void
emit_contract(planner *p)
{
	plan_step *s;
	shunt_buf b = SHUNT_BUF_INIT;

	buf_init(&b);
	s = plan_add_txn(&p->out->complete, "drop the old version and rename to the final names", NULL);
	if (p->previous_version_schema != NULL) {
		buf_put(&b, "DROP SCHEMA IF EXISTS ");
		pg_put_ident(p->db, &b, p->previous_version_schema);
		buf_put(&b, " CASCADE");
		plan_step_add_sql(s, buf_str(&b));
	}
	/* Triggers and functions first: their bodies name the old columns. */
	for (size_t i = 0; i < p->n_syncs; i++)
		if (p->syncs[i].n_rules > 0)
			step_locks(p, s, p->syncs[i].table);
	for (size_t i = 0; i < p->n_complete_sql; i++)
		if (strncmp(p->complete_sql[i], "DROP TRIGGER", 12) == 0 ||
			strncmp(p->complete_sql[i], "DROP FUNCTION", 13) == 0)
			plan_step_add_sql(s, p->complete_sql[i]);

	for (size_t i = 0; i < p->n_predrop_sql; i++)
		plan_step_add_sql(s, p->predrop_sql[i]);
	/* Tables of the old version that the new one no longer has. */
	for (size_t i = 0; i < p->old.n_tables; i++) {
		model_table *ot = &p->old.tables[i];

		if (model_find_table_phys(&p->cur, ot->phys) != NULL)
			continue;
		buf_reset(&b);
		buf_put(&b, "DROP TABLE IF EXISTS ");
		planner_put_table(p, &b, ot->phys);
		plan_step_add_sql(s, buf_str(&b));
		step_locks(p, s, ot->phys);
	}
	/* Columns of surviving tables that the new version no longer reads. */
	for (size_t i = 0; i < p->old.n_tables; i++) {
		model_table *ot = &p->old.tables[i];
		model_table *nt = model_find_table_phys(&p->cur, ot->phys);

		if (nt == NULL)
			continue;
		for (size_t j = 0; j < ot->n_cols; j++) {
			if (model_find_column_phys(nt, ot->cols[j].phys) != NULL)
				continue;
			buf_reset(&b);
			buf_put(&b, "ALTER TABLE ");
			planner_put_table(p, &b, ot->phys);
			buf_put(&b, " DROP COLUMN IF EXISTS ");
			pg_put_ident(p->db, &b, ot->cols[j].phys);
			plan_step_add_sql(s, buf_str(&b));
			step_locks(p, s, ot->phys);
		}
	}
	/* Column renames.  When a target name is still held by another column
	 * of the table (a swap: a -> b, b -> a), every renamed column of that
	 * table first moves to a temporary name, then to its final one. */
	for (size_t i = 0; i < p->cur.n_tables; i++) {
		model_table *t = &p->cur.tables[i];
		bool conflict = false;

		for (size_t j = 0; j < t->n_cols && !conflict; j++) {
			model_column *c = &t->cols[j];
			model_column *holder;

			if (strcmp(c->phys, c->name) == 0)
				continue;
			holder = model_find_column_phys(t, c->name);
			conflict = holder != NULL && holder != c;
		}
		char **tmp = shunt_xcalloc(t->n_cols + 1, sizeof(char *));

		for (int pass = conflict ? 0 : 1; pass < 2; pass++) {
			for (size_t j = 0; j < t->n_cols; j++) {
				model_column *c = &t->cols[j];
				char num[32];

				if (strcmp(c->phys, c->name) == 0)
					continue;
				buf_reset(&b);
				buf_put(&b, "ALTER TABLE ");
				planner_put_table(p, &b, t->phys);
				buf_put(&b, " RENAME COLUMN ");
				pg_put_ident(p->db, &b, tmp[j] ? tmp[j] : c->phys);
				buf_put(&b, " TO ");
				step_locks(p, s, t->phys);
				if (pass == 0) {
					snprintf(num, sizeof(num), "%zu", j);
					tmp[j] = model_generated_name("_shunt_swap_", num);
					pg_put_ident(p->db, &b, tmp[j]);
				} else
					pg_put_ident(p->db, &b, c->name);
				plan_step_add_sql(s, buf_str(&b));
			}
		}
		for (size_t j = 0; j < t->n_cols; j++)
			free(tmp[j]);
		free(tmp);
	}
	/* Table renames. */
	for (size_t i = 0; i < p->cur.n_tables; i++) {
		model_table *t = &p->cur.tables[i];

		if (strcmp(t->phys, t->name) == 0)
			continue;
		buf_reset(&b);
		buf_put(&b, "ALTER TABLE ");
		planner_put_table(p, &b, t->phys);
		buf_put(&b, " RENAME TO ");
		pg_put_ident(p->db, &b, t->name);
		plan_step_add_sql(s, buf_str(&b));
		step_locks(p, s, t->phys);
	}
	/* Fixups, by final names. */
	for (size_t i = 0; i < p->n_fixups; i++) {
		final_fixup *f = &p->fixups[i];
		const char *tname = final_table_name(p, f->table);
		const char *cname = f->column ? final_column_name(p, f->table, f->column) : NULL;

		if (f->table[0] != '\0' && model_find_table_phys(&p->cur, f->table) != NULL)
			step_locks(p, s, f->table);

		buf_reset(&b);
		buf_put(&b, "ALTER TABLE ");
		planner_put_table(p, &b, tname);
		if (strcmp(f->sql_fmt, "set_not_null") == 0) {
			buf_put(&b, " ALTER COLUMN ");
			pg_put_ident(p->db, &b, cname);
			buf_put(&b, " SET NOT NULL");
		} else if (strcmp(f->sql_fmt, "drop_not_null") == 0) {
			buf_put(&b, " ALTER COLUMN ");
			pg_put_ident(p->db, &b, cname);
			buf_put(&b, " DROP NOT NULL");
		} else if (strcmp(f->sql_fmt, "drop_constraint") == 0) {
			buf_put(&b, " DROP CONSTRAINT IF EXISTS ");
			pg_put_ident(p->db, &b, f->arg1);
		} else if (strcmp(f->sql_fmt, "unique_using_index") == 0 ||
				   strcmp(f->sql_fmt, "pk_using_index") == 0) {
			buf_put(&b, " ADD CONSTRAINT ");
			pg_put_ident(p->db, &b, f->arg1);
			buf_put(&b, strcmp(f->sql_fmt, "pk_using_index") == 0 ? " PRIMARY KEY" : " UNIQUE");
			buf_put(&b, " USING INDEX ");
			pg_put_ident(p->db, &b, f->arg2);
		} else if (strcmp(f->sql_fmt, "rename_constraint") == 0) {
			buf_put(&b, " RENAME CONSTRAINT ");
			pg_put_ident(p->db, &b, f->arg1);
			buf_put(&b, " TO ");
			pg_put_ident(p->db, &b, f->arg2);
		} else if (strcmp(f->sql_fmt, "rename_index") == 0) {
			buf_reset(&b);
			buf_put(&b, "ALTER INDEX ");
			pg_put_qualified(p->db, &b, p->schema, f->arg1);
			buf_put(&b, " RENAME TO ");
			pg_put_ident(p->db, &b, f->arg2);
		} else if (strcmp(f->sql_fmt, "comment") == 0) {
			buf_reset(&b);
			buf_put(&b, "COMMENT ON COLUMN ");
			planner_put_table(p, &b, tname);
			buf_putc(&b, '.');
			pg_put_ident(p->db, &b, cname);
			buf_put(&b, " IS ");
			if (f->arg1)
				pg_put_literal(p->db, &b, f->arg1);
			else
				buf_put(&b, "NULL");
		} else if (strcmp(f->sql_fmt, "set_default") == 0 || strcmp(f->sql_fmt, "drop_default") == 0) {
			buf_put(&b, " ALTER COLUMN ");
			pg_put_ident(p->db, &b, cname);
			if (f->arg1) {
				buf_put(&b, " SET DEFAULT ");
				buf_put(&b, f->arg1);
			} else
				buf_put(&b, " DROP DEFAULT");
		} else if (strcmp(f->sql_fmt, "raw") == 0) {
			buf_reset(&b);
			buf_put(&b, f->arg1);
		} else
			continue;
		plan_step_add_sql(s, buf_str(&b));
	}
	/* Everything else of the contract (sql onComplete, ...), in order. */
	for (size_t i = 0; i < p->n_complete_sql; i++)
		if (strncmp(p->complete_sql[i], "DROP TRIGGER", 12) != 0 &&
			strncmp(p->complete_sql[i], "DROP FUNCTION", 13) != 0)
			plan_step_add_sql(s, p->complete_sql[i]);
	if (s->n_sql == 0)
		plan_step_add_sql(s, "SELECT 1");
	buf_release(&b);
}

/* ---------- the whole plan ---------- */

static int
plan_ops(planner *p, shunt_error *err)
{
	for (size_t i = 0; i < p->mig->n_ops; i++) {
		p->op = &p->mig->ops[i];
		if (pg_ops_plan(p, p->op) != 0)
			return -1;
	}
	p->op = NULL;
	(void) err;
	if (!p->model_only)
		return pg_ops_finish(p);
	return 0;
}

int
pg_plan_apply_model(shunt_db *db, const shunt_migration *mig, model *m, shunt_error *err)
{
	planner p;
	plan dummy;
	int rc;

	memset(&p, 0, sizeof(p));
	plan_init(&dummy);
	p.db = db;
	p.mig = mig;
	p.schema = m->schema;
	p.out = &dummy;
	p.op_err = err;
	p.model_only = true;
	model_copy(&p.old, m);
	model_copy(&p.cur, m);
	p.version_schema = shunt_xstrdup("");
	rc = plan_ops(&p, err);
	if (rc == 0) {
		model_release(m);
		model_copy(m, &p.cur);
	}
	plan_release(&dummy);
	planner_release(&p);
	return rc;
}

int
pg_plan_migration(shunt_db *db, const shunt_migration *mig, const char *schema,
				  const char *version_schema, const char *previous_version, plan *out,
				  shunt_error *err)
{
	planner p;
	plan_step *s;
	shunt_buf b = SHUNT_BUF_INIT;
	int rc = -1;

	memset(&p, 0, sizeof(p));
	plan_init(out);
	p.db = db;
	p.mig = mig;
	p.schema = schema;
	p.out = out;
	p.op_err = err;
	p.version_schema = shunt_xstrdup(version_schema);
	p.previous_version_schema = previous_version ? shunt_xstrdup(previous_version) : NULL;
	model_init(&p.old, schema);
	if (pg_catalog_read_model(db, schema, &p.old, err) != 0)
		goto done;
	model_copy(&p.cur, &p.old);

	if (plan_ops(&p, err) != 0)
		goto done;

	/* start: operations' DDL, triggers, backfills, concurrent indexes, views */
	plan_phase_append(&out->start, &p.start_ddl);
	for (size_t i = 0; i < p.n_syncs; i++)
		if (p.syncs[i].n_rules > 0 && emit_trigger(&p, &p.syncs[i], err) != 0)
			goto done;
	/* A NOT VALID constraint still applies to every row written from now
	 * on: NOT NULL on a new column may only exist once the trigger fills it
	 * for the old version's writes. */
	plan_phase_append(&out->start, &p.start_checks);
	for (size_t i = 0; i < p.n_syncs; i++) {
		if (!p.syncs[i].backfill)
			continue;
		buf_init(&b);
		buf_printf(&b, "backfill ");
		planner_put_table(&p, &b, p.syncs[i].table);
		s = plan_add_backfill(&out->start, buf_str(&b), schema, p.syncs[i].table);
		buf_release(&b);
		s->set_clause = backfill_set_clause(&p, &p.syncs[i]);
	}
	plan_phase_append(&out->start, &p.start_post);
	buf_init(&b);
	buf_put(&b, "create the version schema ");
	pg_put_ident(db, &b, version_schema);
	plan_add_views(&out->start, buf_str(&b));
	buf_release(&b);

	/* complete */
	plan_phase_append(&out->complete, &p.complete_pre);
	emit_contract(&p);
	plan_phase_append(&out->complete, &p.complete_post);

	/* rollback: the version schema first (it depends on everything), then
	 * the triggers (emitted above), then each operation's undo. */
	{
		plan_phase head;

		memset(&head, 0, sizeof(head));
		buf_init(&b);
		buf_put(&b, "DROP SCHEMA IF EXISTS ");
		pg_put_ident(db, &b, version_schema);
		buf_put(&b, " CASCADE");
		s = plan_add_txn(&head, "drop the new version schema", NULL);
		plan_step_add_sql(s, buf_str(&b));
		buf_release(&b);
		plan_phase_prepend(&out->rollback, &head);
	}
	plan_phase_append(&out->rollback, &p.rollback_ops);
	rc = 0;
done:
	planner_release(&p);
	if (rc != 0)
		plan_release(out);
	return rc;
}
