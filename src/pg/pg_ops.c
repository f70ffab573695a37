/*
 * pg_ops.c: dispatch of operations and the helpers they share, among them
 * the column duplication that every backward-incompatible column change
 * uses.  See pg_ops.h.
 */
#include "pg/pg_ops.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "pg/pg_catalog.h"
#include "pg/pg_exec.h"
#include "pg/pg_parse.h"
#include "core/log.h"

typedef int (*op_fn)(planner *p, json_t *d);

static const op_fn op_table[OP__COUNT] = {
	[OP_CREATE_TABLE] = op_create_table,
	[OP_DROP_TABLE] = op_drop_table,
	[OP_RENAME_TABLE] = op_rename_table,
	[OP_ADD_COLUMN] = op_add_column,
	[OP_DROP_COLUMN] = op_drop_column,
	[OP_RENAME_COLUMN] = op_rename_column,
	[OP_ALTER_COLUMN] = op_alter_column,
	[OP_CREATE_INDEX] = op_create_index,
	[OP_DROP_INDEX] = op_drop_index,
	[OP_CREATE_CONSTRAINT] = op_create_constraint,
	[OP_DROP_CONSTRAINT] = op_drop_constraint,
	[OP_DROP_MULTICOLUMN_CONSTRAINT] = op_drop_multicolumn_constraint,
	[OP_RENAME_CONSTRAINT] = op_rename_constraint,
	[OP_SET_REPLICA_IDENTITY] = op_set_replica_identity,
	[OP_SQL] = op_sql,
	[OP_REBUILD_TABLE] = op_rebuild_table,
};

int
pg_ops_plan(planner *p, const shunt_op *op)
{
	if ((int) op->kind < 0 || op->kind >= OP__COUNT || op_table[op->kind] == NULL)
		return planner_error(p, NULL, "operation not supported");
	return op_table[op->kind](p, op->def);
}

model_table *
ops_table(planner *p, const char *field, const char *name)
{
	model_table *t = name ? model_find_table(&p->cur, name) : NULL;

	if (t == NULL && name != NULL && !p->model_only) {
		planner_error(p, field, "table \"%s\" does not exist in schema \"%s\"", name, p->schema);
		shunt_error_hint(p->op_err, "The name is the one the previous version uses; tables created "
									"by an earlier operation of this migration count too.");
	}
	return t;
}

model_column *
ops_column(planner *p, model_table *t, const char *field, const char *name)
{
	model_column *c = name ? model_find_column(t, name) : NULL;

	if (c == NULL && !p->model_only)
		planner_error(p, field, "column \"%s\" does not exist in table \"%s\"", name ? name : "",
					  t->name);
	return c;
}

int
ops_check_expr(planner *p, const char *field, const char *expr)
{
	shunt_error e;

	if (p->model_only || expr == NULL)
		return 0;
	if (pg_parse_check_expression(expr, field, &e) != 0)
		return planner_error(p, field, "%s", e.message[0] ? e.message : "invalid expression");
	return 0;
}

int
ops_check_type(planner *p, const char *field, const char *type)
{
	shunt_buf b = SHUNT_BUF_INIT;
	shunt_error e;
	size_t n = 0;
	int rc = 0;

	if (p->model_only)
		return 0;
	buf_init(&b);
	buf_put(&b, "SELECT NULL::");
	buf_put(&b, type);
	if (type[0] == '\0' || pg_parse_statements(buf_str(&b), &n, &e) != 0 || n != 1)
		rc = planner_error(p, field, "\"%s\" is not a valid type name", type);
	buf_release(&b);
	return rc;
}

int
ops_check_statement(planner *p, const char *field, const char *sql)
{
	shunt_error e;
	size_t n = 0;

	if (p->model_only)
		return 0;
	if (pg_parse_statements(sql, &n, &e) != 0)
		return planner_error(p, field, "the SQL it produces does not parse: %s", e.message);
	if (n != 1)
		return planner_error(p, field, "a value must not contain several SQL statements");
	return 0;
}

static char *
table_for(planner *p, const char *table)
{
	return table ? planner_table(p, table) : NULL;
}

void
ops_start_txn(planner *p, const char *what, const char *table, const char *sql)
{
	char *rel = table_for(p, table);
	plan_step *s = plan_add_txn(&p->start_ddl, what, rel);

	plan_step_add_sql(s, sql);
	free(rel);
}

void
ops_start_check(planner *p, const char *what, const char *table, const char *sql)
{
	char *rel = table_for(p, table);
	plan_step *s = plan_add_txn(&p->start_checks, what, rel);

	plan_step_add_sql(s, sql);
	free(rel);
}

void
ops_not_null_check(planner *p, const char *table, const char *column)
{
	char *nn = model_generated_name("_shunt_nn_", column);
	shunt_buf b = SHUNT_BUF_INIT;

	/* NOT NULL is enforced for the new version by a NOT VALID check once
	 * the trigger fills the column; complete validates it (no lock that
	 * blocks writes) and then SET NOT NULL uses the validated check instead
	 * of a table scan. */
	buf_init(&b);
	buf_put(&b, "ALTER TABLE ");
	planner_put_table(p, &b, table);
	buf_put(&b, " ADD CONSTRAINT ");
	pg_put_ident(p->db, &b, nn);
	buf_put(&b, " CHECK (");
	pg_put_ident(p->db, &b, column);
	buf_put(&b, " IS NOT NULL) NOT VALID");
	ops_start_check(p, "enforce NOT NULL on the new column", table, buf_str(&b));
	ops_complete_validate(p, table, nn);
	planner_fixup(p, table, column, "set_not_null", NULL, NULL);
	planner_fixup(p, table, NULL, "drop_constraint", nn, NULL);
	buf_release(&b);
	free(nn);
}

void
ops_start_concurrent(planner *p, const char *what, const char *sql, const char *cleanup)
{
	plan_add_concurrent(&p->start_post, what, sql, cleanup);
}

void
ops_rollback_txn(planner *p, const char *what, const char *table, const char *sql)
{
	plan_phase one;
	char *rel = table_for(p, table);

	memset(&one, 0, sizeof(one));
	plan_step_add_sql(plan_add_txn(&one, what, rel), sql);
	plan_phase_prepend(&p->rollback_ops, &one);
	free(rel);
}

void
ops_rollback_concurrent(planner *p, const char *what, const char *sql)
{
	plan_phase one;

	memset(&one, 0, sizeof(one));
	plan_add_concurrent(&one, what, sql, NULL);
	plan_phase_prepend(&p->rollback_ops, &one);
}

void
ops_complete_validate(planner *p, const char *table, const char *constraint)
{
	shunt_buf b = SHUNT_BUF_INIT;
	shunt_buf w = SHUNT_BUF_INIT;

	buf_init(&b);
	buf_init(&w);
	buf_put(&b, "ALTER TABLE ");
	planner_put_table(p, &b, table);
	buf_put(&b, " VALIDATE CONSTRAINT ");
	pg_put_ident(p->db, &b, constraint);
	buf_printf(&w, "validate constraint %s", constraint);
	/* VALIDATE takes SHARE UPDATE EXCLUSIVE: no application query waits on
	 * it, but it waits for older transactions, so it runs outside the
	 * short-timeout transaction of the contract. */
	plan_add_concurrent(&p->complete_pre, buf_str(&w), buf_str(&b), NULL);
	buf_release(&b);
	buf_release(&w);
}

int
ops_put_references(planner *p, shunt_buf *b, const char *field, json_t *ref)
{
	const char *table = json_str(ref, "table");
	const char *column = json_str(ref, "column");
	json_t *columns = json_object_get(ref, "columns");
	const char *match = json_str(ref, "match_type");
	const char *on_delete = json_str(ref, "on_delete");
	const char *on_update = json_str(ref, "on_update");
	json_t *set_cols = json_object_get(ref, "on_delete_set_columns");
	model_table *rt = model_find_table(&p->cur, table ? table : "");
	size_t i;
	json_t *v;

	buf_put(b, " REFERENCES ");
	/* The referenced table by the new version's name; physically it may
	 * still have its old name until complete. */
	planner_put_table(p, b, rt ? rt->phys : table);
	buf_put(b, " (");
	if (column != NULL) {
		model_column *rc = rt ? model_find_column(rt, column) : NULL;

		pg_put_ident(p->db, b, rc ? rc->phys : column);
	} else {
		json_array_foreach(columns, i, v) {
			model_column *rc = rt ? model_find_column(rt, json_string_value(v)) : NULL;

			if (i > 0)
				buf_put(b, ", ");
			pg_put_ident(p->db, b, rc ? rc->phys : json_string_value(v));
		}
	}
	buf_putc(b, ')');
	if (match != NULL) {
		if (strcmp(match, "SIMPLE") != 0 && strcmp(match, "FULL") != 0 && strcmp(match, "PARTIAL") != 0)
			return planner_error(p, field, "match_type must be SIMPLE, FULL or PARTIAL");
		buf_printf(b, " MATCH %s", match);
	}
	for (int k = 0; k < 2; k++) {
		const char *act = k == 0 ? on_delete : on_update;
		static const char *const ok[] = { "NO ACTION", "RESTRICT", "CASCADE", "SET NULL",
										  "SET DEFAULT", NULL };
		int j;

		if (act == NULL)
			continue;
		for (j = 0; ok[j]; j++)
			if (strcasecmp(act, ok[j]) == 0)
				break;
		if (ok[j] == NULL)
			return planner_error(p, field, "\"%s\" is not a foreign key action", act);
		buf_printf(b, " ON %s %s", k == 0 ? "DELETE" : "UPDATE", ok[j]);
		if (k == 0 && json_array_size(set_cols) > 0 &&
			(strcmp(ok[j], "SET NULL") == 0 || strcmp(ok[j], "SET DEFAULT") == 0)) {
			buf_put(b, " (");
			json_array_foreach(set_cols, i, v) {
				if (i > 0)
					buf_put(b, ", ");
				pg_put_ident(p->db, b, json_string_value(v));
			}
			buf_putc(b, ')');
		}
	}
	if (json_bool(ref, "deferrable", false))
		buf_put(b, " DEFERRABLE");
	if (json_bool(ref, "initially_deferred", false))
		buf_put(b, " INITIALLY DEFERRED");
	return 0;
}

/* ---------- column duplication ---------- */

/* Strips "CHECK " and trailing " NOT VALID"/" NO INHERIT" from a
 * pg_get_constraintdef() text, leaving the parenthesised expression. */
static char *
check_expression(const char *def, bool *no_inherit)
{
	const char *start = def;
	size_t len;
	char *e;

	if (strncmp(start, "CHECK ", 6) == 0)
		start += 6;
	e = shunt_xstrdup(start);
	len = strlen(e);
	*no_inherit = false;
	for (;;) {
		if (len >= 10 && strcmp(e + len - 10, " NOT VALID") == 0) {
			len -= 10;
			e[len] = '\0';
		} else if (len >= 11 && strcmp(e + len - 11, " NO INHERIT") == 0) {
			len -= 11;
			e[len] = '\0';
			*no_inherit = true;
		} else
			break;
	}
	return e;
}

/*
 * Renames column `from` to `to` in the first parenthesised identifier list
 * of a FOREIGN KEY definition: "FOREIGN KEY (a, b) REFERENCES ...".
 */
static char *
rename_fk_columns(shunt_db *db, const char *def, const char *from, const char *to)
{
	shunt_buf b = SHUNT_BUF_INIT;
	const char *p = strchr(def, '(');
	const char *end;

	buf_init(&b);
	if (p == NULL)
		return buf_detach(&b);
	buf_putn(&b, def, (size_t) (p - def) + 1);
	p++;
	for (;;) {
		shunt_buf name = SHUNT_BUF_INIT;

		buf_init(&name);
		while (*p == ' ')
			buf_putc(&b, *p++);
		if (*p == '"') {
			p++;
			while (*p) {
				if (p[0] == '"' && p[1] == '"') {
					buf_putc(&name, '"');
					p += 2;
				} else if (*p == '"') {
					p++;
					break;
				} else
					buf_putc(&name, *p++);
			}
		} else {
			while (*p && *p != ',' && *p != ')' && *p != ' ')
				buf_putc(&name, *p++);
		}
		pg_put_ident(db, &b, strcmp(buf_str(&name), from) == 0 ? to : buf_str(&name));
		buf_release(&name);
		if (*p != ',')
			break;
		buf_putc(&b, *p++);
	}
	end = p;
	buf_put(&b, end);
	return buf_detach(&b);
}

/* Copies one index or constraint to the duplicated columns. */
static int
copy_one(planner *p, const char *table, const pg_dep_object *o, const char **from, const char **to,
		 size_t n_map, shunt_buf *bp, shunt_error *e)
{
	char *copy_name;
	copy_name = model_generated_name("_shunt_", o->name);
	buf_reset(bp);
		switch (o->kind) {
		case 'c': {
			bool no_inherit;
			char *expr = check_expression(o->definition, &no_inherit);
			char *renamed = pg_parse_rename_columns(expr, from, to, n_map, e);

			free(expr);
			if (renamed == NULL) {
				free(copy_name);
				planner_error(p, NULL, "cannot move check constraint \"%s\": %s", o->name, e->message);
				return -1;
			}
			buf_put(bp, "ALTER TABLE ");
			planner_put_table(p, bp, table);
			buf_put(bp, " ADD CONSTRAINT ");
			pg_put_ident(p->db, bp, copy_name);
			buf_printf(bp, " CHECK %s%s NOT VALID", renamed, no_inherit ? " NO INHERIT" : "");
			free(renamed);
			ops_start_check(p, "copy check constraint to the new column", table, buf_str(bp));
			ops_complete_validate(p, table, copy_name);
			planner_fixup(p, table, NULL, "rename_constraint", copy_name, o->name);
			break;
		}
		case 'f': {
			char *renamed = shunt_xstrdup(o->definition);
			size_t len;

			for (size_t k = 0; k < n_map; k++) {
				char *r2 = rename_fk_columns(p->db, renamed, from[k], to[k]);

				free(renamed);
				renamed = r2;
			}
			len = strlen(renamed);

			if (len > 10 && strcmp(renamed + len - 10, " NOT VALID") == 0)
				renamed[len - 10] = '\0';
			buf_put(bp, "ALTER TABLE ");
			planner_put_table(p, bp, table);
			buf_put(bp, " ADD CONSTRAINT ");
			pg_put_ident(p->db, bp, copy_name);
			buf_printf(bp, " %s NOT VALID", renamed);
			free(renamed);
			ops_start_txn(p, "copy foreign key to the new column", table, buf_str(bp));
			ops_complete_validate(p, table, copy_name);
			planner_fixup(p, table, NULL, "rename_constraint", copy_name, o->name);
			break;
		}
		case 'u':
		case 'i': {
			char *indexdef = NULL;
			char *renamed;
			char *named;
			shunt_buf cleanup = SHUNT_BUF_INIT;
			const char *params[2] = { p->schema, o->index_name };

			indexdef = pg_query_value(p->db,
				"SELECT pg_catalog.pg_get_indexdef(c.oid) FROM pg_catalog.pg_class c "
				"  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
				" WHERE n.nspname = $1 AND c.relname = $2", 2, params, p->op_err);
			if (indexdef == NULL) {
				free(copy_name);
				return -1;
			}
			renamed = pg_parse_rename_index_columns(indexdef, from, to, n_map, e);
			free(indexdef);
			named = renamed ? pg_parse_set_index_name(renamed, copy_name, true, e) : NULL;
			free(renamed);
			if (named == NULL) {
				free(copy_name);
				planner_error(p, NULL, "cannot copy index \"%s\": %s", o->index_name, e->message);
				return -1;
			}
			buf_init(&cleanup);
			buf_put(&cleanup, "DROP INDEX CONCURRENTLY IF EXISTS ");
			pg_put_qualified(p->db, &cleanup, p->schema, copy_name);
			ops_start_concurrent(p, "copy index to the new column", named, buf_str(&cleanup));
			buf_release(&cleanup);
			free(named);
			if (o->kind == 'u') {
				/* Attached as a constraint at once (a brief lock, like any
				 * ADD CONSTRAINT): a deferrable one must be deferrable
				 * for the new version too; complete renames it. */
				plan_step *s = plan_add_txn(&p->start_post, "attach the copied unique constraint", NULL);
				shunt_buf a = SHUNT_BUF_INIT;

				buf_init(&a);
				buf_put(&a, "ALTER TABLE ");
				planner_put_table(p, &a, table);
				buf_put(&a, " ADD CONSTRAINT ");
				pg_put_ident(p->db, &a, copy_name);
				buf_put(&a, " UNIQUE USING INDEX ");
				pg_put_ident(p->db, &a, copy_name);
				if (strstr(o->definition, " DEFERRABLE") != NULL)
					buf_put(&a, " DEFERRABLE");
				if (strstr(o->definition, " INITIALLY DEFERRED") != NULL)
					buf_put(&a, " INITIALLY DEFERRED");
				plan_step_add_sql(s, buf_str(&a));
				s->relations = shunt_xcalloc(1, sizeof(char *));
				s->relations[0] = planner_table(p, table);
				s->n_relations = 1;
				buf_release(&a);
				planner_fixup(p, table, NULL, "rename_constraint", copy_name, o->name);
			} else
				planner_fixup(p, table, NULL, "rename_index", copy_name, o->name);
			break;
		}
		case 'p':
			free(copy_name);
			planner_error(p, NULL, "primary key \"%s\" of \"%s\" covers a column this migration changes",
						  o->name, table);
			shunt_error_hint(p->op_err, "Changing a primary key column needs an online table "
										"rebuild, which shunt does not offer yet.");
			return -1;
		default:
			free(copy_name);
			planner_error(p, NULL, "constraint \"%s\" of \"%s\" is of a kind shunt cannot move to a new "
						  "column yet", o->name, table);
			return -1;
		}
	free(copy_name);
	return 0;
}

/*
 * Copies the indexes and constraints on the duplicated columns of table
 * (entries dups[0..n) of one table) to the duplicates, each object once
 * with every duplicated column it covers renamed.
 */
static int
copy_dependents(planner *p, const char *table, dup_entry *dups, size_t n_dups)
{
	const char **from = shunt_xcalloc(n_dups, sizeof(char *));
	const char **to = shunt_xcalloc(n_dups, sizeof(char *));
	char **done_names = NULL;
	size_t n_done = 0;
	shunt_buf b = SHUNT_BUF_INIT;
	shunt_error e;
	int rc = -1;

	for (size_t k = 0; k < n_dups; k++) {
		from[k] = dups[k].old_phys;
		to[k] = dups[k].tmp;
	}
	buf_init(&b);
	for (size_t k = 0; k < n_dups; k++) {
		pg_dep_object *deps = NULL;
		size_t n = 0;

		if (pg_catalog_column_deps(p->db, p->schema, table, dups[k].old_phys, &deps, &n, p->op_err) != 0)
			goto done;
		for (size_t i = 0; i < n; i++) {
			pg_dep_object *o = &deps[i];
			bool seen = false;

			for (size_t j = 0; j < n_done && !seen; j++)
				seen = strcmp(done_names[j], o->name) == 0;
			for (size_t j = 0; j < n_dups && !seen; j++)
				seen = dups[j].skip != NULL && strcmp(dups[j].skip, o->name) == 0;
			if (seen)
				continue;
			done_names = shunt_xrealloc(done_names, (n_done + 1) * sizeof(char *));
			done_names[n_done++] = shunt_xstrdup(o->name);
			if (copy_one(p, table, o, from, to, n_dups, &b, &e) != 0) {
				pg_dep_objects_free(deps, n);
				goto done;
			}
		}
		pg_dep_objects_free(deps, n);
	}
	rc = 0;
done:
	for (size_t j = 0; j < n_done; j++)
		free(done_names[j]);
	free(done_names);
	free(from);
	free(to);
	buf_release(&b);
	return rc;
}

/* The indexes of create_index operations, on the columns as they are
 * at the end of the migration. */
static int
finish_indexes(planner *p)
{
	for (size_t i = 0; i < p->n_index; i++) {
		const char **from = shunt_xcalloc(p->n_dups + 1, sizeof(char *));
		const char **to = shunt_xcalloc(p->n_dups + 1, sizeof(char *));
		size_t n = 0;
		char *renamed, *named = NULL;
		shunt_buf cl = SHUNT_BUF_INIT;
		shunt_error e;

		for (size_t k = 0; k < p->n_dups; k++)
			if (strcmp(p->dups[k].table, p->index_table[i]) == 0) {
				from[n] = p->dups[k].old_phys;
				to[n++] = p->dups[k].tmp;
			}
		renamed = n ? pg_parse_rename_index_columns(p->index_sql[i], from, to, n, &e)
					: shunt_xstrdup(p->index_sql[i]);
		if (renamed != NULL)
			named = pg_parse_set_index_name(renamed, p->index_name[i], true, &e);
		free(renamed);
		free(from);
		free(to);
		if (named == NULL)
			return planner_error(p, NULL, "cannot build index \"%s\": %s", p->index_name[i], e.message);
		buf_init(&cl);
		buf_put(&cl, "DROP INDEX CONCURRENTLY IF EXISTS ");
		pg_put_qualified(p->db, &cl, p->schema, p->index_name[i]);
		ops_start_concurrent(p, "create index", named, buf_str(&cl));
		buf_release(&cl);
		free(named);
	}
	return 0;
}

int
pg_ops_finish(planner *p)
{
	bool *handled = shunt_xcalloc(p->n_dups + 1, sizeof(bool));
	int rc = finish_indexes(p);

	for (size_t i = 0; i < p->n_dups && rc == 0; i++) {
		dup_entry *group;

		size_t n = 0;

		if (handled[i])
			continue;
		group = shunt_xcalloc(p->n_dups, sizeof(*group));
		for (size_t j = i; j < p->n_dups; j++)
			if (!handled[j] && strcmp(p->dups[j].table, p->dups[i].table) == 0) {
				group[n++] = p->dups[j];
				handled[j] = true;
			}
		p->op = NULL;
		rc = copy_dependents(p, p->dups[i].table, group, n);
		free(group);
	}
	free(handled);
	return rc;
}

/* A snapshot of a table's version-visible columns, for sync rule variables. */
static void
snapshot_table(model_table *dst, const model_table *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->name = shunt_xstrdup(src->name);
	dst->phys = shunt_xstrdup(src->phys);
	for (size_t i = 0; i < src->n_cols; i++)
		model_add_column(dst, src->cols[i].name, src->cols[i].phys, src->cols[i].type);
}

static void
snapshot_release(model_table *t)
{
	model dummy;

	memset(&dummy, 0, sizeof(dummy));
	dummy.tables = t;
	dummy.n_tables = 1;
	dummy.schema = NULL;
	/* model_release frees the table's contents and the array pointer, so
	 * hand it a heap copy */
	dummy.tables = shunt_xmalloc(sizeof(*t));
	*dummy.tables = *t;
	model_release(&dummy);
}

const char *
ops_duplicate_column(planner *p, model_table *t, model_column *c, const ops_dup *d)
{
	char *tmp = NULL;
	char *old_phys = shunt_xstrdup(c->phys);
	const char *final_name = d->new_name ? d->new_name : c->name;
	bool not_null = d->not_null < 0 ? c->not_null : d->not_null == 1;
	const char *default_expr = d->set_default ? d->default_expr : c->default_expr;
	const char *type = d->type ? d->type : c->type;
	model_table before, after;
	shunt_buf b = SHUNT_BUF_INIT;
	shunt_buf q = SHUNT_BUF_INIT;
	const char *result = NULL;
	char *comment = NULL;
	char *cast_default = NULL;

	if (c->is_new) {
		if (t->created) {
			planner_error(p, NULL, "table \"%s\" is created by this migration", t->name);
			shunt_error_hint(p->op_err, "Give the column its final definition in create_table.");
		} else {
			planner_error(p, NULL, "column \"%s\" was already changed by an earlier operation of this "
								   "migration", c->name);
			shunt_error_hint(p->op_err, "Combine the changes into one alter_column operation.");
		}
		goto done;
	}
	if (c->pk && !p->model_only) {
		planner_error(p, NULL, "column \"%s\" is part of the primary key of \"%s\"", c->name, t->name);
		shunt_error_hint(p->op_err, "Changing a primary key column needs an online table rebuild, "
									"which shunt does not offer yet.");
		goto done;
	}
	if (!p->model_only && !t->created) {
		char *fks = pg_catalog_referencing_fks(p->db, p->schema, t->phys, old_phys, p->op_err);

		if (fks == NULL)
			goto done;
		if (fks[0] != '\0') {
			planner_error(p, NULL, "column \"%s\" is referenced by foreign keys (%s)", c->name, fks);
			shunt_error_hint(p->op_err, "Changing a referenced column needs an online table rebuild, "
										"which shunt does not offer yet.");
			free(fks);
			goto done;
		}
		free(fks);
		fks = pg_catalog_column_dependents(p->db, p->schema, t->phys, old_phys, p->previous_version_schema,
										   p->op_err);
		if (fks == NULL)
			goto done;
		if (fks[0] != '\0') {
			/* complete could not drop the old column */
			planner_error(p, NULL, "column \"%s\" is used by %s", c->name, fks);
			shunt_error_hint(p->op_err, "Drop or change those first (an sql operation in an earlier "
										"migration), or change the column with an online rebuild.");
			free(fks);
			goto done;
		}
		free(fks);
	}
	if (c->identity && !p->model_only) {
		planner_error(p, NULL, "column \"%s\" is an identity column", c->name);
		shunt_error_hint(p->op_err, "A copy would need its own sequence in step with the old one; change "
									"an identity column with an online table rebuild.");
		goto done;
	}
	if (!p->model_only && type != c->type && default_expr != NULL && !d->set_default) {
		/* The old default under the new type: kept, cast, when the cast
		 * exists (EXPLAIN checks it without evaluating nextval() and
		 * friends); else the new column has none and start says so. */
		shunt_buf probe = SHUNT_BUF_INIT;
		shunt_error e;
		PGresult *res;

		buf_init(&probe);
		buf_printf(&probe, "EXPLAIN (COSTS OFF) SELECT (%s)::%s", default_expr, type);
		res = ops_check_statement(p, "type", buf_str(&probe)) == 0
				  ? pg_exec_params(p->db, buf_str(&probe), 0, NULL, &e)
				  : NULL;
		buf_reset(&probe);
		if (res != NULL) {
			buf_printf(&probe, "(%s)::%s", default_expr, type);
			cast_default = buf_detach(&probe);
			default_expr = cast_default;
		} else {
			log_warning("%s: operation %zu: the default of \"%s\" (%s) does not convert to %s; the new "
						"column has no default (set one with \"default\")",
						p->mig->file, p->op ? p->op->index + 1 : 0, c->name, default_expr, type);
			default_expr = NULL;
		}
		PQclear(res);
		buf_release(&probe);
	}
	tmp = model_generated_name("_shunt_new_", old_phys);
	snapshot_table(&before, t);
	if (!p->model_only && !t->created) {
		/* A serial column's sequence moves to the new column before complete
		 * drops the old one (which would drop an owned sequence). */
		char *seq = pg_catalog_owned_sequence(p->db, p->schema, t->phys, old_phys, p->op_err);

		if (seq != NULL) {
			shunt_buf sq = SHUNT_BUF_INIT;

			buf_init(&sq);
			buf_printf(&sq, "ALTER SEQUENCE %s OWNED BY ", seq);
			planner_put_table(p, &sq, t->phys);
			buf_putc(&sq, '.');
			pg_put_ident(p->db, &sq, tmp);
			planner_predrop_sql(p, buf_str(&sq));
			buf_release(&sq);
			free(seq);
		}
	}

	/* the model: the new version reads the duplicate */
	free(c->phys);
	c->phys = shunt_xstrdup(tmp);
	if (type != c->type) {
		char *nt = shunt_xstrdup(type);

		free(c->type);
		c->type = nt;
	}
	if (default_expr != c->default_expr) {
		char *nd = default_expr ? shunt_xstrdup(default_expr) : NULL;

		free(c->default_expr);
		c->default_expr = nd;
	}
	c->not_null = not_null;
	c->is_new = true;
	if (d->new_name) {
		free(c->name);
		c->name = shunt_xstrdup(d->new_name);
	}
	snapshot_table(&after, t);
	result = c->phys;
	if (p->model_only)
		goto rules;

	buf_init(&b);
	/* Added without default or NOT NULL, so no table rewrite and no scan
	 * under the ACCESS EXCLUSIVE lock: a catalog-only change. */
	buf_put(&b, "ALTER TABLE ");
	planner_put_table(p, &b, t->phys);
	buf_put(&b, " ADD COLUMN ");
	pg_put_ident(p->db, &b, tmp);
	buf_putc(&b, ' ');
	buf_put(&b, type);
	if (ops_check_statement(p, "type", buf_str(&b)) != 0) {
		result = NULL;
		goto out;
	}
	ops_start_txn(p, "add the new column", t->phys, buf_str(&b));
	if (default_expr != NULL) {
		buf_reset(&b);
		buf_put(&b, "ALTER TABLE ");
		planner_put_table(p, &b, t->phys);
		buf_put(&b, " ALTER COLUMN ");
		pg_put_ident(p->db, &b, tmp);
		buf_put(&b, " SET DEFAULT ");
		buf_put(&b, default_expr);
		if (ops_check_statement(p, "default", buf_str(&b)) != 0) {
			result = NULL;
			goto out;
		}
		plan_step_add_sql(&p->start_ddl.steps[p->start_ddl.n - 1], buf_str(&b));
	}
	{
		const char *params[3] = { p->schema, t->phys, old_phys };

		comment = pg_query_value(p->db,
			"SELECT pg_catalog.col_description(c.oid, a.attnum) FROM pg_catalog.pg_class c "
			"  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
			"  JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attname = $3 "
			" WHERE n.nspname = $1 AND c.relname = $2", 3, params, p->op_err);
		if (comment != NULL) {
			buf_reset(&b);
			buf_put(&b, "COMMENT ON COLUMN ");
			planner_put_table(p, &b, t->phys);
			buf_putc(&b, '.');
			pg_put_ident(p->db, &b, tmp);
			buf_put(&b, " IS ");
			pg_put_literal(p->db, &b, comment);
			plan_step_add_sql(&p->start_ddl.steps[p->start_ddl.n - 1], buf_str(&b));
		}
	}
	if (not_null)
		ops_not_null_check(p, t->phys, tmp);
	if (!t->created) {
		dup_entry *de;

		p->dups = shunt_xrealloc(p->dups, (p->n_dups + 1) * sizeof(*p->dups));
		de = &p->dups[p->n_dups++];
		de->table = shunt_xstrdup(t->phys);
		de->old_phys = shunt_xstrdup(old_phys);
		de->tmp = shunt_xstrdup(tmp);
		de->skip = d->skip_constraint ? shunt_xstrdup(d->skip_constraint) : NULL;
	}
	buf_reset(&b);
	buf_put(&b, "ALTER TABLE ");
	planner_put_table(p, &b, t->phys);
	buf_put(&b, " DROP COLUMN IF EXISTS ");
	pg_put_ident(p->db, &b, tmp);
	ops_rollback_txn(p, "drop the new column", t->phys, buf_str(&b));

rules:
	/* up: old-version writes fill the new column; down: the reverse */
	buf_reset(&q);
	if (d->up == NULL)
		pg_put_ident(p->db, &q, before.cols[c - t->cols].name);
	planner_add_rule(p, t->phys, tmp, d->up ? d->up : buf_str(&q), true, &before);
	buf_reset(&q);
	if (d->down == NULL)
		pg_put_ident(p->db, &q, final_name);
	planner_add_rule(p, t->phys, old_phys, d->down ? d->down : buf_str(&q), false, &after);
	planner_need_backfill(p, t->phys);
out:
	snapshot_release(&before);
	snapshot_release(&after);
done:
	free(comment);
	free(cast_default);
	buf_release(&b);
	buf_release(&q);
	free(tmp);
	free(old_phys);
	return result;
}
