/*
 * pg_op_constraint.c: create_constraint, drop_constraint,
 * drop_multicolumn_constraint, rename_constraint.
 *
 * A constraint added to an existing table goes on duplicates of its
 * columns, so the old version is not bound by it and `up` can repair
 * existing values; checks and foreign keys are created NOT VALID and
 * validated at complete, unique and primary keys are built as unique
 * indexes CONCURRENTLY and attached at complete (ADD CONSTRAINT ... USING
 * INDEX).  Dropping a constraint duplicates its columns without it.
 */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "pg/pg_catalog.h"
#include "pg/pg_ops.h"
#include "pg/pg_parse.h"

int op_put_table_constraint(planner *p, shunt_buf *b, json_t *con, const char *field);

static const char *
map_str(json_t *map, const char *key)
{
	json_t *v = json_object_get(map, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* The constraint on a table created by this migration: added directly. */
static int
create_on_new_table(planner *p, model_table *t, json_t *d)
{
	shunt_buf b = SHUNT_BUF_INIT;
	int rc;

	buf_init(&b);
	buf_put(&b, "ALTER TABLE ");
	planner_put_table(p, &b, t->phys);
	buf_put(&b, " ADD ");
	rc = op_put_table_constraint(p, &b, d, "constraint");
	if (rc == 0)
		rc = ops_check_statement(p, "constraint", buf_str(&b));
	if (rc == 0)
		ops_start_txn(p, "add constraint", t->phys, buf_str(&b));
	buf_release(&b);
	return rc;
}

static void
put_phys_list(planner *p, shunt_buf *b, model_table *t, json_t *cols)
{
	size_t i;
	json_t *v;

	buf_putc(b, '(');
	json_array_foreach(cols, i, v) {
		model_column *c = model_find_column(t, json_string_value(v));

		if (i > 0)
			buf_put(b, ", ");
		pg_put_ident(p->db, b, c ? c->phys : json_string_value(v));
	}
	buf_putc(b, ')');
}

int
op_create_constraint(planner *p, json_t *d)
{
	const char *table = json_str(d, "table");
	const char *name = json_str(d, "name");
	const char *type = json_str(d, "type");
	json_t *cols = json_object_get(d, "columns");
	json_t *up = json_object_get(d, "up");
	json_t *down = json_object_get(d, "down");
	model_table *t = ops_table(p, "table", table);
	shunt_buf b = SHUNT_BUF_INIT;
	size_t i;
	json_t *v;
	int rc = -1;

	if (t == NULL)
		return p->model_only ? 0 : -1;
	if (strcmp(type, "check") != 0 && json_array_size(cols) == 0 && !p->model_only)
		return planner_error(p, "columns", "a %s constraint needs columns", type);
	json_array_foreach(cols, i, v) {
		char field[64];

		snprintf(field, sizeof(field), "columns[%zu]", i);
		if (ops_column(p, t, field, json_string_value(v)) == NULL)
			return p->model_only ? 0 : -1;
	}
	if (t->created)
		return p->model_only ? 0 : create_on_new_table(p, t, d);
	if (json_array_size(cols) == 0) {
		/* A check over no listed column has no column to duplicate: it
		 * would bind the old version at once, so it waits for complete,
		 * where it is added NOT VALID and validated before the contract. */
		const char *check = json_str(d, "check");
		plan_step *s;

		if (p->model_only)
			return 0;
		if (check == NULL)
			return planner_error(p, "check", "a check constraint needs \"check\"");
		if (ops_check_expr(p, "check", check) != 0)
			return -1;
		buf_init(&b);
		buf_put(&b, "ALTER TABLE ");
		planner_put_table(p, &b, t->phys);
		buf_put(&b, " ADD CONSTRAINT ");
		pg_put_ident(p->db, &b, name);
		buf_printf(&b, " CHECK (%s)%s NOT VALID", check, json_bool(d, "no_inherit", false) ? " NO INHERIT" : "");
		if (ops_check_statement(p, "check", buf_str(&b)) != 0) {
			buf_release(&b);
			return -1;
		}
		s = plan_add_txn(&p->complete_pre, "add check constraint", NULL);
		plan_step_add_sql(s, buf_str(&b));
		buf_release(&b);
		ops_complete_validate(p, t->phys, name);
		return 0;
	}

	/* duplicate every listed column */
	json_array_foreach(cols, i, v) {
		const char *col = json_string_value(v);
		model_column *c = model_find_column(t, col);
		ops_dup dup;
		char field[64];

		memset(&dup, 0, sizeof(dup));
		dup.not_null = strcmp(type, "primary_key") == 0 ? 1 : -1;
		dup.up = map_str(up, col);
		dup.down = map_str(down, col);
		snprintf(field, sizeof(field), "up.%s", col);
		if (ops_check_expr(p, field, dup.up) != 0)
			return -1;
		snprintf(field, sizeof(field), "down.%s", col);
		if (ops_check_expr(p, field, dup.down) != 0)
			return -1;
		if (ops_duplicate_column(p, t, c, &dup) == NULL)
			return -1;
	}
	if (p->model_only)
		return 0;

	buf_init(&b);
	if (strcmp(type, "unique") == 0 || strcmp(type, "primary_key") == 0) {
		char *idx = model_generated_name("_shunt_uq_", name);
		shunt_buf cl = SHUNT_BUF_INIT;
		json_t *ip = json_object_get(d, "index_parameters");

		buf_init(&cl);
		buf_put(&b, "CREATE UNIQUE INDEX CONCURRENTLY ");
		pg_put_ident(p->db, &b, idx);
		buf_put(&b, " ON ");
		planner_put_table(p, &b, t->phys);
		buf_putc(&b, ' ');
		put_phys_list(p, &b, t, cols);
		if (json_array_size(json_object_get(ip, "include_columns")) > 0) {
			buf_put(&b, " INCLUDE ");
			put_phys_list(p, &b, t, json_object_get(ip, "include_columns"));
		}
		if (json_bool(d, "nulls_not_distinct", false))
			buf_put(&b, " NULLS NOT DISTINCT");
		if (json_str(ip, "storage_parameters") && json_str(ip, "storage_parameters")[0])
			buf_printf(&b, " WITH (%s)", json_str(ip, "storage_parameters"));
		if (ops_check_statement(p, "index_parameters", buf_str(&b)) != 0) {
			free(idx);
			buf_release(&cl);
			goto done;
		}
		buf_put(&cl, "DROP INDEX CONCURRENTLY IF EXISTS ");
		pg_put_qualified(p->db, &cl, p->schema, idx);
		ops_start_concurrent(p, "build the constraint's unique index", buf_str(&b), buf_str(&cl));
		planner_fixup(p, t->phys, NULL,
					  strcmp(type, "unique") == 0 ? "unique_using_index" : "pk_using_index", name, idx);
		free(idx);
		buf_release(&cl);
	} else if (strcmp(type, "check") == 0) {
		const char **from = shunt_xcalloc(t->n_cols + 1, sizeof(char *));
		const char **to = shunt_xcalloc(t->n_cols + 1, sizeof(char *));
		const char *check = json_str(d, "check");
		shunt_error e;
		char *expr;

		if (check == NULL || ops_check_expr(p, "check", check) != 0) {
			if (check == NULL)
				planner_error(p, "check", "a check constraint needs \"check\"");
			free(from);
			free(to);
			goto done;
		}
		for (size_t k = 0; k < t->n_cols; k++) {
			from[k] = t->cols[k].name;
			to[k] = t->cols[k].phys;
		}
		expr = pg_parse_rename_columns(check, from, to, t->n_cols, &e);
		free(from);
		free(to);
		if (expr == NULL) {
			planner_error(p, "check", "%s", e.message);
			goto done;
		}
		buf_put(&b, "ALTER TABLE ");
		planner_put_table(p, &b, t->phys);
		buf_put(&b, " ADD CONSTRAINT ");
		pg_put_ident(p->db, &b, name);
		buf_printf(&b, " CHECK (%s)%s NOT VALID", expr, json_bool(d, "no_inherit", false) ? " NO INHERIT" : "");
		free(expr);
		if (ops_check_statement(p, "check", buf_str(&b)) != 0)
			goto done;
		ops_start_check(p, "add check constraint", t->phys, buf_str(&b));
		ops_complete_validate(p, t->phys, name);
	} else if (strcmp(type, "foreign_key") == 0) {
		buf_put(&b, "ALTER TABLE ");
		planner_put_table(p, &b, t->phys);
		buf_put(&b, " ADD CONSTRAINT ");
		pg_put_ident(p->db, &b, name);
		buf_put(&b, " FOREIGN KEY ");
		put_phys_list(p, &b, t, cols);
		if (ops_put_references(p, &b, "references", json_object_get(d, "references")) != 0)
			goto done;
		buf_put(&b, " NOT VALID");
		ops_start_txn(p, "add foreign key", t->phys, buf_str(&b));
		ops_complete_validate(p, t->phys, name);
	} else {
		planner_error(p, "type", "constraint type \"%s\" cannot be added to an existing table", type);
		goto done;
	}
	rc = 0;
done:
	buf_release(&b);
	return rc;
}

static int
drop_constraint_common(planner *p, json_t *d, bool multi)
{
	const char *table = json_str(d, "table");
	const char *name = json_str(d, "name");
	json_t *up_map = multi ? json_object_get(d, "up") : NULL;
	json_t *down_map = multi ? json_object_get(d, "down") : NULL;
	model_table *t = ops_table(p, "table", table);
	char kind = 0;
	char **cols = NULL;
	size_t n = 0;
	int rc = -1;

	if (t == NULL)
		return p->model_only ? 0 : -1;
	if (pg_catalog_constraint(p->db, p->schema, t->phys, name, &kind, &cols, &n, p->op_err) != 0)
		return -1;
	if (kind == 0 && !p->model_only) {
		planner_error(p, "name", "constraint \"%s\" does not exist on table \"%s\"", name, table);
		goto done;
	}
	if (!multi && n > 1 && !p->model_only) {
		planner_error(p, "name", "constraint \"%s\" covers %zu columns", name, n);
		shunt_error_hint(p->op_err, "Use drop_multicolumn_constraint with up and down for each column.");
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		model_column *c = model_find_column_phys(t, cols[i]);
		ops_dup dup;
		char field[80];

		if (c == NULL)
			continue; /* a column the new version no longer has */
		memset(&dup, 0, sizeof(dup));
		dup.not_null = kind == 'p' ? 0 : -1;
		dup.skip_constraint = name;
		dup.up = multi ? map_str(up_map, c->name) : json_str(d, "up");
		dup.down = multi ? map_str(down_map, c->name) : json_str(d, "down");
		snprintf(field, sizeof(field), multi ? "up.%s" : "up", c->name);
		if (ops_check_expr(p, field, dup.up) != 0)
			goto done;
		snprintf(field, sizeof(field), multi ? "down.%s" : "down", c->name);
		if (ops_check_expr(p, field, dup.down) != 0)
			goto done;
		if (ops_duplicate_column(p, t, c, &dup) == NULL)
			goto done;
	}
	if (n == 0 && !p->model_only)
		planner_fixup(p, t->phys, NULL, "drop_constraint", name, NULL);
	rc = 0;
done:
	for (size_t i = 0; i < n; i++)
		free(cols[i]);
	free(cols);
	return rc;
}

int
op_drop_constraint(planner *p, json_t *d)
{
	return drop_constraint_common(p, d, false);
}

int
op_drop_multicolumn_constraint(planner *p, json_t *d)
{
	return drop_constraint_common(p, d, true);
}

int
op_rename_constraint(planner *p, json_t *d)
{
	const char *table = json_str(d, "table");
	const char *from = json_str(d, "from");
	const char *to = json_str(d, "to");
	model_table *t = ops_table(p, "table", table);
	char kind = 0;
	char **cols = NULL;
	size_t n = 0;

	if (t == NULL)
		return p->model_only ? 0 : -1;
	if (p->model_only)
		return 0;
	if (pg_catalog_constraint(p->db, p->schema, t->phys, from, &kind, &cols, &n, p->op_err) != 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		free(cols[i]);
	free(cols);
	if (kind == 0)
		return planner_error(p, "from", "constraint \"%s\" does not exist on table \"%s\"", from, table);
	planner_fixup(p, t->phys, NULL, "rename_constraint", from, to);
	return 0;
}
