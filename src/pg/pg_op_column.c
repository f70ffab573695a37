/*
 * pg_op_column.c: add_column, drop_column, rename_column, alter_column.
 *
 * A new column is added under a temporary name (the old version's clients
 * never see it, also those that read the table itself with SELECT *) and
 * renamed at complete.  A dropped column stays until complete, filled by
 * `down` for rows the new version writes.  A renamed column keeps its
 * physical name until complete; the new version's view carries the new
 * name.  Any other column change duplicates the column (pg_ops.c).
 */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "pg/pg_ops.h"
#include "pg/pg_parse.h"

int op_put_column_def(planner *p, shunt_buf *b, json_t *col, const char *field, bool with_constraints);

/* True when the expression has no function call or subquery, so that
 * ADD COLUMN ... DEFAULT is a catalog-only change (PostgreSQL 11+ stores a
 * non-volatile default without rewriting).  Conservative: anything with a
 * parenthesis outside a string literal counts as a call. */
static bool
default_is_constant(const char *expr)
{
	bool in_str = false;

	for (const char *c = expr; *c; c++) {
		if (*c == '\'')
			in_str = !in_str;
		else if (!in_str && (*c == '(' || *c == ';'))
			return false;
	}
	return true;
}

static int
add_to_existing_table(planner *p, model_table *t, json_t *col, const char *up)
{
	const char *name = json_str(col, "name");
	const char *dflt = json_str(col, "default");
	bool not_null = !json_bool(col, "nullable", false);
	json_t *check = json_object_get(col, "check");
	json_t *refs = json_object_get(col, "references");
	const char *comment = json_str(col, "comment");
	char *tmp = model_generated_name("_shunt_new_", name);
	bool fast_default = dflt != NULL && up == NULL && default_is_constant(dflt);
	shunt_buf b = SHUNT_BUF_INIT;
	plan_step *s;
	int rc = -1;

	buf_init(&b);
	buf_put(&b, "ALTER TABLE ");
	planner_put_table(p, &b, t->phys);
	buf_put(&b, " ADD COLUMN ");
	{
		json_t *copy = json_deep_copy(col);

		/* Added without its constraints; a constant default is part of the
		 * ADD (catalog-only since PostgreSQL 11), any other default is set
		 * afterwards and existing rows get it from the backfill. */
		json_object_set_new(copy, "name", json_string(tmp));
		if (!fast_default)
			json_object_del(copy, "default");
		rc = op_put_column_def(p, &b, copy, "column", false);
		json_decref(copy);
		if (rc != 0)
			goto done;
		rc = -1;
	}
	if (fast_default && not_null)
		buf_put(&b, " NOT NULL");
	if (ops_check_statement(p, "column", buf_str(&b)) != 0)
		goto done;
	ops_start_txn(p, "add column", t->phys, buf_str(&b));
	s = &p->start_ddl.steps[p->start_ddl.n - 1];
	if (dflt != NULL && !fast_default) {
		buf_reset(&b);
		buf_put(&b, "ALTER TABLE ");
		planner_put_table(p, &b, t->phys);
		buf_put(&b, " ALTER COLUMN ");
		pg_put_ident(p->db, &b, tmp);
		buf_put(&b, " SET DEFAULT ");
		buf_put(&b, dflt);
		if (ops_check_statement(p, "column.default", buf_str(&b)) != 0)
			goto done;
		plan_step_add_sql(s, buf_str(&b));
	}
	if (not_null && !fast_default) {
		if (up == NULL && dflt == NULL) {
			planner_error(p, "column.nullable", "a NOT NULL column without a default needs \"up\" "
												"to fill the existing rows");
			shunt_error_hint(p->op_err, "Add an up expression, a default, or nullable: true.");
			goto done;
		}
		ops_not_null_check(p, t->phys, tmp);
	}
	if (json_is_object(check)) {
		const char *from[1] = { name };
		const char *to[1] = { tmp };
		shunt_error e;
		char *expr;

		if (ops_check_expr(p, "column.check.constraint", json_str(check, "constraint")) != 0)
			goto done;
		expr = pg_parse_rename_columns(json_str(check, "constraint"), from, to, 1, &e);
		if (expr == NULL) {
			planner_error(p, "column.check.constraint", "%s", e.message);
			goto done;
		}
		buf_reset(&b);
		buf_put(&b, "ALTER TABLE ");
		planner_put_table(p, &b, t->phys);
		buf_put(&b, " ADD CONSTRAINT ");
		pg_put_ident(p->db, &b, json_str(check, "name"));
		buf_printf(&b, " CHECK (%s) NOT VALID", expr);
		free(expr);
		ops_start_check(p, "add the check constraint", t->phys, buf_str(&b));
		ops_complete_validate(p, t->phys, json_str(check, "name"));
	}
	if (json_is_object(refs)) {
		buf_reset(&b);
		buf_put(&b, "ALTER TABLE ");
		planner_put_table(p, &b, t->phys);
		buf_put(&b, " ADD CONSTRAINT ");
		pg_put_ident(p->db, &b, json_str(refs, "name"));
		buf_put(&b, " FOREIGN KEY (");
		pg_put_ident(p->db, &b, tmp);
		buf_putc(&b, ')');
		if (ops_put_references(p, &b, "column.references", refs) != 0)
			goto done;
		buf_put(&b, " NOT VALID");
		plan_step_add_sql(s, buf_str(&b));
		ops_complete_validate(p, t->phys, json_str(refs, "name"));
	}
	if (comment != NULL) {
		buf_reset(&b);
		buf_put(&b, "COMMENT ON COLUMN ");
		planner_put_table(p, &b, t->phys);
		buf_putc(&b, '.');
		pg_put_ident(p->db, &b, tmp);
		buf_put(&b, " IS ");
		pg_put_literal(p->db, &b, comment);
		plan_step_add_sql(s, buf_str(&b));
	}
	if (json_bool(col, "unique", false)) {
		char *idx = model_generated_name("_shunt_uq_", tmp);
		char *uname = model_generated_name("", name);
		shunt_buf c = SHUNT_BUF_INIT;
		shunt_buf un = SHUNT_BUF_INIT;

		buf_init(&c);
		buf_init(&un);
		buf_printf(&un, "%s_%s_key", t->name, name);
		free(uname);
		uname = buf_str(&un)[0] && un.len <= MODEL_MAX_IDENT ? buf_detach(&un) : model_generated_name("", buf_str(&un));
		buf_reset(&b);
		buf_put(&b, "CREATE UNIQUE INDEX CONCURRENTLY ");
		pg_put_ident(p->db, &b, idx);
		buf_put(&b, " ON ");
		planner_put_table(p, &b, t->phys);
		buf_put(&b, " (");
		pg_put_ident(p->db, &b, tmp);
		buf_putc(&b, ')');
		buf_put(&c, "DROP INDEX CONCURRENTLY IF EXISTS ");
		pg_put_qualified(p->db, &c, p->schema, idx);
		ops_start_concurrent(p, "build the unique index of the new column", buf_str(&b), buf_str(&c));
		planner_fixup(p, t->phys, NULL, "unique_using_index", uname, idx);
		free(idx);
		free(uname);
		buf_release(&c);
		buf_release(&un);
	}
	buf_reset(&b);
	buf_put(&b, "ALTER TABLE ");
	planner_put_table(p, &b, t->phys);
	buf_put(&b, " DROP COLUMN IF EXISTS ");
	pg_put_ident(p->db, &b, tmp);
	ops_rollback_txn(p, "drop the new column", t->phys, buf_str(&b));
	rc = 0;
done:
	buf_release(&b);
	free(tmp);
	return rc;
}

int
op_add_column(planner *p, json_t *d)
{
	const char *table = json_str(d, "table");
	const char *up = json_str(d, "up");
	json_t *col = json_object_get(d, "column");
	const char *name = json_str(col, "name");
	const char *dflt = json_str(col, "default");
	model_table *t = ops_table(p, "table", table);
	model_table before;
	model_column *c;
	char *tmp;

	if (t == NULL)
		return p->model_only ? 0 : -1;
	if (model_find_column(t, name) != NULL && !p->model_only)
		return planner_error(p, "column.name", "column \"%s\" already exists in table \"%s\"", name,
							 table);
	if (json_bool(col, "pk", false) && !p->model_only)
		return planner_error(p, "column.pk", "add_column cannot add a primary key column; use "
											 "create_constraint with type primary_key");
	if (ops_check_expr(p, "up", up) != 0)
		return -1;
	memset(&before, 0, sizeof(before));
	before = *t; /* shallow: only read by planner_add_rule below, before t changes */
	if (t->created) {
		shunt_buf b = SHUNT_BUF_INIT;
		int rc;

		/* A table of this migration has no old readers: add it as is. */
		if (p->model_only && model_find_column(t, name) != NULL)
			return 0; /* replaying on the catalog after start */
		c = model_add_column(t, name, name, json_str(col, "type"));
		c->is_new = true;
		if (p->model_only)
			return 0;
		buf_init(&b);
		buf_put(&b, "ALTER TABLE ");
		planner_put_table(p, &b, t->phys);
		buf_put(&b, " ADD COLUMN ");
		rc = op_put_column_def(p, &b, col, "column", true);
		if (rc == 0)
			rc = ops_check_statement(p, "column", buf_str(&b));
		if (rc == 0)
			ops_start_txn(p, "add column", t->phys, buf_str(&b));
		buf_release(&b);
		return rc;
	}
	tmp = model_generated_name("_shunt_new_", name);
	if (up != NULL)
		planner_add_rule(p, t->phys, tmp, up, true, &before);
	else if (dflt != NULL && !default_is_constant(dflt))
		planner_add_rule(p, t->phys, tmp, dflt, true, &before);
	if (up != NULL || (dflt != NULL && !default_is_constant(dflt)))
		planner_need_backfill(p, t->phys);
	if (!p->model_only && add_to_existing_table(p, t, col, up) != 0) {
		free(tmp);
		return -1;
	}
	c = model_add_column(t, name, tmp, json_str(col, "type"));
	c->is_new = true;
	c->not_null = !json_bool(col, "nullable", false);
	free(tmp);
	return 0;
}

int
op_drop_column(planner *p, json_t *d)
{
	const char *table = json_str(d, "table");
	const char *column = json_str(d, "column");
	const char *down = json_str(d, "down");
	model_table *t = ops_table(p, "table", table);
	model_column *c;
	char *phys;

	if (t == NULL)
		return p->model_only ? 0 : -1;
	c = ops_column(p, t, "column", column);
	if (c == NULL)
		return p->model_only ? 0 : -1;
	if (ops_check_expr(p, "down", down) != 0)
		return -1;
	phys = shunt_xstrdup(c->phys);
	model_remove_column(t, column);
	/* New-version writes fill the column the old version still reads. */
	if (down != NULL)
		planner_add_rule(p, t->phys, phys, down, false, t);
	free(phys);
	return 0;
}

int
op_rename_column(planner *p, json_t *d)
{
	const char *table = json_str(d, "table");
	const char *from = json_str(d, "from");
	const char *to = json_str(d, "to");
	model_table *t = ops_table(p, "table", table);
	model_column *c;

	if (t == NULL)
		return p->model_only ? 0 : -1;
	c = ops_column(p, t, "from", from);
	if (c == NULL)
		return p->model_only ? 0 : -1;
	if (model_find_column(t, to) != NULL && !p->model_only)
		return planner_error(p, "to", "column \"%s\" already exists in table \"%s\"", to, table);
	free(c->name);
	c->name = shunt_xstrdup(to);
	return 0;
}

int
op_alter_column(planner *p, json_t *d)
{
	const char *table = json_str(d, "table");
	const char *column = json_str(d, "column");
	const char *new_name = json_str(d, "name");
	const char *type = json_str(d, "type");
	const char *up = json_str(d, "up");
	const char *down = json_str(d, "down");
	json_t *unique = json_object_get(d, "unique");
	json_t *check = json_object_get(d, "check");
	json_t *refs = json_object_get(d, "references");
	bool has_nullable = json_has(d, "nullable");
	bool has_default = json_has(d, "default");
	bool has_comment = json_has(d, "comment");
	model_table *t = ops_table(p, "table", table);
	model_column *c;
	ops_dup dup;
	const char *tmp;
	shunt_buf b = SHUNT_BUF_INIT;
	plan_step *s;
	int rc = -1;

	if (json_bool(d, "rebuild", false))
		return op_alter_column_rebuild(p, d);

	if (t == NULL)
		return p->model_only ? 0 : -1;
	c = ops_column(p, t, "column", column);
	if (c == NULL)
		return p->model_only ? 0 : -1;
	if (ops_check_expr(p, "up", up) != 0 || ops_check_expr(p, "down", down) != 0)
		return -1;
	if (type != NULL && ops_check_type(p, "type", type) != 0)
		return -1;
	if (new_name != NULL && strcmp(new_name, column) != 0 && model_find_column(t, new_name) &&
		!p->model_only)
		return planner_error(p, "name", "column \"%s\" already exists in table \"%s\"", new_name, table);

	/* Renames and comments alone change nothing the old version sees. */
	if (type == NULL && !has_nullable && !has_default && unique == NULL && check == NULL &&
		refs == NULL) {
		if (has_comment && !p->model_only)
			planner_fixup(p, t->phys, c->phys, "comment", json_str(d, "comment"), NULL);
		if (new_name != NULL) {
			free(c->name);
			c->name = shunt_xstrdup(new_name);
		}
		return 0;
	}

	memset(&dup, 0, sizeof(dup));
	dup.type = type;
	dup.set_default = has_default;
	dup.default_expr = json_str(d, "default");
	dup.not_null = has_nullable ? !json_bool(d, "nullable", true) : -1;
	dup.up = up;
	dup.down = down;
	dup.new_name = new_name;
	if (dup.default_expr != NULL && ops_check_expr(p, "default", dup.default_expr) != 0)
		return -1;
	tmp = ops_duplicate_column(p, t, c, &dup);
	if (tmp == NULL)
		return -1;
	if (p->model_only)
		return 0;

	buf_init(&b);
	s = &p->start_ddl.steps[p->start_ddl.n - 1];
	if (has_comment)
		planner_fixup(p, t->phys, tmp, "comment", json_str(d, "comment"), NULL);
	if (json_is_object(check)) {
		const char *from[1] = { column };
		const char *to[1] = { tmp };
		shunt_error e;
		char *expr;

		if (ops_check_expr(p, "check.constraint", json_str(check, "constraint")) != 0)
			goto done;
		expr = pg_parse_rename_columns(json_str(check, "constraint"), from, to, 1, &e);
		if (expr == NULL) {
			planner_error(p, "check.constraint", "%s", e.message);
			goto done;
		}
		buf_reset(&b);
		buf_put(&b, "ALTER TABLE ");
		planner_put_table(p, &b, t->phys);
		buf_put(&b, " ADD CONSTRAINT ");
		pg_put_ident(p->db, &b, json_str(check, "name"));
		buf_printf(&b, " CHECK (%s) NOT VALID", expr);
		free(expr);
		if (ops_check_statement(p, "check.constraint", buf_str(&b)) != 0)
			goto done;
		ops_start_check(p, "add the check constraint", t->phys, buf_str(&b));
		ops_complete_validate(p, t->phys, json_str(check, "name"));
	}
	if (json_is_object(refs)) {
		buf_reset(&b);
		buf_put(&b, "ALTER TABLE ");
		planner_put_table(p, &b, t->phys);
		buf_put(&b, " ADD CONSTRAINT ");
		pg_put_ident(p->db, &b, json_str(refs, "name"));
		buf_put(&b, " FOREIGN KEY (");
		pg_put_ident(p->db, &b, tmp);
		buf_putc(&b, ')');
		if (ops_put_references(p, &b, "references", refs) != 0)
			goto done;
		buf_put(&b, " NOT VALID");
		plan_step_add_sql(s, buf_str(&b));
		ops_complete_validate(p, t->phys, json_str(refs, "name"));
	}
	if (json_is_object(unique)) {
		const char *uname = json_str(unique, "name");
		char *idx = model_generated_name("_shunt_uq_", uname);
		shunt_buf cl = SHUNT_BUF_INIT;

		buf_init(&cl);
		buf_reset(&b);
		buf_put(&b, "CREATE UNIQUE INDEX CONCURRENTLY ");
		pg_put_ident(p->db, &b, idx);
		buf_put(&b, " ON ");
		planner_put_table(p, &b, t->phys);
		buf_put(&b, " (");
		pg_put_ident(p->db, &b, tmp);
		buf_putc(&b, ')');
		buf_put(&cl, "DROP INDEX CONCURRENTLY IF EXISTS ");
		pg_put_qualified(p->db, &cl, p->schema, idx);
		ops_start_concurrent(p, "build the unique index", buf_str(&b), buf_str(&cl));
		planner_fixup(p, t->phys, NULL, "unique_using_index", uname, idx);
		buf_release(&cl);
		free(idx);
	}
	rc = 0;
done:
	buf_release(&b);
	return rc;
}
