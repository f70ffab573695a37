/*
 * pg_op_table.c: create_table, drop_table, rename_table.
 *
 * A new table is invisible to the old version (it has no view there), so it
 * is created at start with its final definition.  A dropped table stays in
 * place until complete (the old version still reads it); a renamed table
 * keeps its physical name until complete and the new version's view
 * carries the new name.
 */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "pg/pg_ops.h"

/* Renders one column definition of create_table / add_column (without the
 * primary key, which is a table constraint). */
int
op_put_column_def(planner *p, shunt_buf *b, json_t *col, const char *field, bool with_constraints);

int
op_put_column_def(planner *p, shunt_buf *b, json_t *col, const char *field, bool with_constraints)
{
	const char *name = json_str(col, "name");
	const char *type = json_str(col, "type");
	const char *dflt = json_str(col, "default");
	json_t *check = json_object_get(col, "check");
	json_t *refs = json_object_get(col, "references");
	json_t *gen = json_object_get(col, "generated");
	char f[128];

	snprintf(f, sizeof(f), "%s.type", field);
	if (ops_check_type(p, f, type) != 0)
		return -1;
	pg_put_ident(p->db, b, name);
	buf_putc(b, ' ');
	buf_put(b, type);
	if (dflt != NULL) {
		snprintf(f, sizeof(f), "%s.default", field);
		if (ops_check_expr(p, f, dflt) != 0)
			return -1;
		buf_put(b, " DEFAULT ");
		buf_put(b, dflt);
	}
	if (json_is_object(gen)) {
		json_t *ident = json_object_get(gen, "identity");
		const char *expr = json_str(gen, "expression");

		if (expr != NULL) {
			snprintf(f, sizeof(f), "%s.generated.expression", field);
			if (ops_check_expr(p, f, expr) != 0)
				return -1;
			buf_printf(b, " GENERATED ALWAYS AS (%s) STORED", expr);
		} else if (json_is_object(ident)) {
			const char *usv = json_str(ident, "user_specified_values");
			const char *seq = json_str(ident, "sequence_options");

			if (usv != NULL && strcasecmp(usv, "ALWAYS") != 0 && strcasecmp(usv, "BY DEFAULT") != 0)
				return planner_error(p, field, "generated.identity.user_specified_values must be "
											   "ALWAYS or BY DEFAULT");
			buf_printf(b, " GENERATED %s AS IDENTITY",
					   usv && strcasecmp(usv, "BY DEFAULT") == 0 ? "BY DEFAULT" : "ALWAYS");
			if (seq != NULL && seq[0] != '\0')
				buf_printf(b, " (%s)", seq);
		}
	}
	if (!with_constraints)
		return 0;
	if (!json_bool(col, "nullable", false) && !json_bool(col, "pk", false))
		buf_put(b, " NOT NULL");
	if (json_bool(col, "unique", false))
		buf_put(b, " UNIQUE");
	if (json_is_object(check)) {
		snprintf(f, sizeof(f), "%s.check.constraint", field);
		if (ops_check_expr(p, f, json_str(check, "constraint")) != 0)
			return -1;
		buf_put(b, " CONSTRAINT ");
		pg_put_ident(p->db, b, json_str(check, "name"));
		buf_printf(b, " CHECK (%s)", json_str(check, "constraint"));
		if (json_bool(check, "no_inherit", false))
			buf_put(b, " NO INHERIT");
	}
	if (json_is_object(refs)) {
		buf_put(b, " CONSTRAINT ");
		pg_put_ident(p->db, b, json_str(refs, "name"));
		snprintf(f, sizeof(f), "%s.references", field);
		if (ops_put_references(p, b, f, refs) != 0)
			return -1;
	}
	return 0;
}

static void
put_ident_list(planner *p, shunt_buf *b, json_t *arr)
{
	size_t i;
	json_t *v;

	buf_putc(b, '(');
	json_array_foreach(arr, i, v) {
		if (i > 0)
			buf_put(b, ", ");
		pg_put_ident(p->db, b, json_string_value(v));
	}
	buf_putc(b, ')');
}

static void
put_index_parameters(planner *p, shunt_buf *b, json_t *ip)
{
	json_t *inc = json_object_get(ip, "include_columns");
	const char *sp = json_str(ip, "storage_parameters");
	const char *ts = json_str(ip, "tablespace");

	if (json_array_size(inc) > 0) {
		buf_put(b, " INCLUDE ");
		put_ident_list(p, b, inc);
	}
	if (sp != NULL && sp[0] != '\0')
		buf_printf(b, " WITH (%s)", sp);
	if (ts != NULL && ts[0] != '\0') {
		buf_put(b, " USING INDEX TABLESPACE ");
		pg_put_ident(p->db, b, ts);
	}
}

/* A table constraint of create_table's "constraints" list. */
int op_put_table_constraint(planner *p, shunt_buf *b, json_t *con, const char *field);

int
op_put_table_constraint(planner *p, shunt_buf *b, json_t *con, const char *field)
{
	const char *type = json_str(con, "type");
	json_t *cols = json_object_get(con, "columns");
	char f[128];

	buf_put(b, "CONSTRAINT ");
	pg_put_ident(p->db, b, json_str(con, "name"));
	if (strcmp(type, "primary_key") == 0 || strcmp(type, "unique") == 0) {
		buf_put(b, strcmp(type, "unique") == 0 ? " UNIQUE " : " PRIMARY KEY ");
		if (strcmp(type, "unique") == 0 && json_bool(con, "nulls_not_distinct", false))
			buf_put(b, "NULLS NOT DISTINCT ");
		put_ident_list(p, b, cols);
		put_index_parameters(p, b, json_object_get(con, "index_parameters"));
	} else if (strcmp(type, "check") == 0) {
		snprintf(f, sizeof(f), "%s.check", field);
		if (ops_check_expr(p, f, json_str(con, "check")) != 0)
			return -1;
		buf_printf(b, " CHECK (%s)", json_str(con, "check"));
		if (json_bool(con, "no_inherit", false))
			buf_put(b, " NO INHERIT");
	} else if (strcmp(type, "foreign_key") == 0) {
		buf_put(b, " FOREIGN KEY ");
		put_ident_list(p, b, cols);
		snprintf(f, sizeof(f), "%s.references", field);
		if (ops_put_references(p, b, f, json_object_get(con, "references")) != 0)
			return -1;
	} else if (strcmp(type, "exclude") == 0) {
		json_t *ex = json_object_get(con, "exclude");
		const char *method = json_str(ex, "index_method");
		const char *elements = json_str(ex, "elements");
		const char *pred = json_str(ex, "predicate");

		if (elements == NULL)
			return planner_error(p, field, "exclude.elements is required");
		buf_put(b, " EXCLUDE");
		if (method != NULL) {
			buf_put(b, " USING ");
			pg_put_ident(p->db, b, method);
		}
		buf_printf(b, " (%s)", elements);
		put_index_parameters(p, b, json_object_get(con, "index_parameters"));
		if (pred != NULL) {
			snprintf(f, sizeof(f), "%s.exclude.predicate", field);
			if (ops_check_expr(p, f, pred) != 0)
				return -1;
			buf_printf(b, " WHERE (%s)", pred);
		}
	} else
		return planner_error(p, field, "unknown constraint type \"%s\"", type);
	if (json_bool(con, "deferrable", false))
		buf_put(b, " DEFERRABLE");
	if (json_bool(con, "initially_deferred", false))
		buf_put(b, " INITIALLY DEFERRED");
	return 0;
}

int
op_create_table(planner *p, json_t *d)
{
	const char *name = json_str(d, "name");
	const char *comment = json_str(d, "comment");
	json_t *cols = json_object_get(d, "columns");
	json_t *cons = json_object_get(d, "constraints");
	shunt_buf b = SHUNT_BUF_INIT;
	shunt_buf pk = SHUNT_BUF_INIT;
	model_table *t;
	size_t i;
	json_t *col;
	int rc = -1;

	if (p->model_only && (t = model_find_table(&p->cur, name)) != NULL) {
		/* replaying on the catalog after start: the table is there */
		t->created = true;
		return 0;
	}
	if (model_find_table(&p->cur, name) != NULL)
		return planner_error(p, "name", "table \"%s\" already exists in schema \"%s\"", name, p->schema);
	if (strncmp(name, "_shunt_", 7) == 0)
		return planner_error(p, "name", "names starting with \"_shunt_\" are reserved for shunt");
	t = model_add_table(&p->cur, name, name);
	t->created = true;
	json_array_foreach(cols, i, col) {
		model_column *c = model_add_column(t, json_str(col, "name"), json_str(col, "name"),
										   json_str(col, "type"));

		c->is_new = true;
		c->pk = json_bool(col, "pk", false);
		c->not_null = c->pk || !json_bool(col, "nullable", false);
	}
	if (p->model_only)
		return 0;

	buf_init(&b);
	buf_init(&pk);
	buf_put(&b, "CREATE TABLE ");
	planner_put_table(p, &b, name);
	buf_put(&b, " (");
	json_array_foreach(cols, i, col) {
		char field[64];

		snprintf(field, sizeof(field), "columns[%zu]", i);
		if (i > 0)
			buf_put(&b, ", ");
		if (op_put_column_def(p, &b, col, field, true) != 0)
			goto done;
		if (json_bool(col, "pk", false)) {
			buf_put(&pk, pk.len ? ", " : "");
			pg_put_ident(p->db, &pk, json_str(col, "name"));
		}
	}
	if (pk.len > 0)
		buf_printf(&b, ", PRIMARY KEY (%s)", buf_str(&pk));
	json_array_foreach(cons, i, col) {
		char field[64];

		snprintf(field, sizeof(field), "constraints[%zu]", i);
		buf_put(&b, ", ");
		if (op_put_table_constraint(p, &b, col, field) != 0)
			goto done;
	}
	buf_putc(&b, ')');
	if (ops_check_statement(p, "columns", buf_str(&b)) != 0)
		goto done;
	ops_start_txn(p, "create table", NULL, buf_str(&b));
	if (comment != NULL) {
		buf_reset(&b);
		buf_put(&b, "COMMENT ON TABLE ");
		planner_put_table(p, &b, name);
		buf_put(&b, " IS ");
		pg_put_literal(p->db, &b, comment);
		plan_step_add_sql(&p->start_ddl.steps[p->start_ddl.n - 1], buf_str(&b));
	}
	json_array_foreach(cols, i, col) {
		const char *cc = json_str(col, "comment");

		if (cc == NULL)
			continue;
		buf_reset(&b);
		buf_put(&b, "COMMENT ON COLUMN ");
		planner_put_table(p, &b, name);
		buf_putc(&b, '.');
		pg_put_ident(p->db, &b, json_str(col, "name"));
		buf_put(&b, " IS ");
		pg_put_literal(p->db, &b, cc);
		plan_step_add_sql(&p->start_ddl.steps[p->start_ddl.n - 1], buf_str(&b));
	}
	buf_reset(&b);
	buf_put(&b, "DROP TABLE IF EXISTS ");
	planner_put_table(p, &b, name);
	ops_rollback_txn(p, "drop the new table", NULL, buf_str(&b));
	rc = 0;
done:
	buf_release(&b);
	buf_release(&pk);
	return rc;
}

int
op_drop_table(planner *p, json_t *d)
{
	const char *name = json_str(d, "name");
	model_table *t = ops_table(p, "name", name);

	if (t == NULL)
		return p->model_only ? 0 : -1;
	if (t->created && !p->model_only)
		return planner_error(p, "name", "table \"%s\" was created by this migration", name);
	/* The contract drops it: it is in the old model and not in the new. */
	model_remove_table(&p->cur, name);
	return 0;
}

int
op_rename_table(planner *p, json_t *d)
{
	const char *from = json_str(d, "from");
	const char *to = json_str(d, "to");
	model_table *t = ops_table(p, "from", from);

	if (t == NULL)
		return p->model_only ? 0 : -1;
	if (model_find_table(&p->cur, to) != NULL && !p->model_only)
		return planner_error(p, "to", "table \"%s\" already exists", to);
	if (model_find_table_phys(&p->old, to) != NULL && !p->model_only &&
		strcmp(t->phys, to) != 0)
		return planner_error(p, "to", "table \"%s\" still exists physically until complete", to);
	free(t->name);
	t->name = shunt_xstrdup(to);
	return 0;
}
