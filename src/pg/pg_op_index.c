/*
 * pg_op_index.c: create_index, drop_index.
 *
 * Indexes are built with CREATE INDEX CONCURRENTLY after the backfill (so a
 * unique index sees the final values and the build takes no lock that
 * blocks writes); a failed build leaves an invalid index behind, which the
 * retry drops first.  drop_index waits for complete: the old version may
 * rely on the index's performance or uniqueness until then.
 */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "pg/pg_catalog.h"
#include "pg/pg_ops.h"
#include "pg/pg_parse.h"

int
op_create_index(planner *p, json_t *d)
{
	const char *name = json_str(d, "name");
	const char *table = json_str(d, "table");
	const char *method = json_str(d, "method");
	const char *predicate = json_str(d, "predicate");
	const char *storage = json_str(d, "storage_parameters");
	json_t *cols = json_object_get(d, "columns");
	model_table *t = ops_table(p, "table", table);
	shunt_buf b = SHUNT_BUF_INIT;
	shunt_buf cl = SHUNT_BUF_INIT;
	const char **from = NULL;
	const char **to = NULL;
	size_t i;
	json_t *col;
	int rc = -1;

	if (t == NULL)
		return p->model_only ? 0 : -1;
	if (p->model_only)
		return 0;
	if (json_array_size(cols) == 0)
		return planner_error(p, "columns", "an index needs at least one column");
	buf_init(&b);
	buf_init(&cl);
	buf_printf(&b, "CREATE %sINDEX ", json_bool(d, "unique", false) ? "UNIQUE " : "");
	pg_put_ident(p->db, &b, name);
	buf_put(&b, " ON ");
	planner_put_table(p, &b, t->phys);
	if (method != NULL)
		buf_printf(&b, " USING %s", method);
	buf_put(&b, " (");
	json_array_foreach(cols, i, col) {
		char field[64];
		model_column *c;
		json_t *opclass = json_object_get(col, "opclass");
		const char *collate = json_str(col, "collate");
		const char *sort = json_str(col, "sort");
		const char *nulls = json_str(col, "nulls");

		snprintf(field, sizeof(field), "columns[%zu].column", i);
		c = ops_column(p, t, field, json_str(col, "column"));
		if (c == NULL)
			goto done;
		if (i > 0)
			buf_put(&b, ", ");
		pg_put_ident(p->db, &b, c->phys);
		if (collate != NULL && collate[0]) {
			buf_put(&b, " COLLATE ");
			pg_put_ident(p->db, &b, collate);
		}
		if (json_is_object(opclass) && json_str(opclass, "name") != NULL) {
			json_t *params = json_object_get(opclass, "params");
			size_t k;
			json_t *v;

			buf_putc(&b, ' ');
			pg_put_ident(p->db, &b, json_str(opclass, "name"));
			if (json_array_size(params) > 0) {
				buf_put(&b, " (");
				json_array_foreach(params, k, v) {
					buf_put(&b, k ? ", " : "");
					buf_put(&b, json_string_value(v));
				}
				buf_putc(&b, ')');
			}
		}
		if (sort != NULL && sort[0])
			buf_printf(&b, " %s", sort);
		if (nulls != NULL && nulls[0])
			buf_printf(&b, " NULLS %s", nulls);
	}
	buf_putc(&b, ')');
	if (storage != NULL && storage[0])
		buf_printf(&b, " WITH (%s)", storage);
	if (predicate != NULL) {
		char *renamed;
		shunt_error e;

		if (ops_check_expr(p, "predicate", predicate) != 0)
			goto done;
		/* The predicate names the version's columns; the index is on the
		 * physical ones. */
		from = shunt_xcalloc(t->n_cols + 1, sizeof(char *));
		to = shunt_xcalloc(t->n_cols + 1, sizeof(char *));
		for (size_t k = 0; k < t->n_cols; k++) {
			from[k] = t->cols[k].name;
			to[k] = t->cols[k].phys;
		}
		renamed = pg_parse_rename_columns(predicate, from, to, t->n_cols, &e);
		if (renamed == NULL) {
			planner_error(p, "predicate", "%s", e.message);
			goto done;
		}
		buf_printf(&b, " WHERE (%s)", renamed);
		free(renamed);
	}
	if (ops_check_statement(p, "columns", buf_str(&b)) != 0)
		goto done;
	buf_put(&cl, "DROP INDEX CONCURRENTLY IF EXISTS ");
	pg_put_qualified(p->db, &cl, p->schema, name);
	/* built by pg_ops_finish, once later operations have moved columns */
	p->index_sql = shunt_xrealloc(p->index_sql, (p->n_index + 1) * sizeof(char *));
	p->index_table = shunt_xrealloc(p->index_table, (p->n_index + 1) * sizeof(char *));
	p->index_name = shunt_xrealloc(p->index_name, (p->n_index + 1) * sizeof(char *));
	p->index_sql[p->n_index] = shunt_xstrdup(buf_str(&b));
	p->index_table[p->n_index] = shunt_xstrdup(t->phys);
	p->index_name[p->n_index++] = shunt_xstrdup(name);
	ops_rollback_concurrent(p, "drop the new index", buf_str(&cl));
	rc = 0;
done:
	free(from);
	free(to);
	buf_release(&b);
	buf_release(&cl);
	return rc;
}

int
op_drop_index(planner *p, json_t *d)
{
	const char *name = json_str(d, "name");
	shunt_buf b = SHUNT_BUF_INIT;
	char *constraint = NULL;
	bool exists;

	if (p->model_only)
		return 0;
	if (pg_catalog_index_exists(p->db, p->schema, name, &exists, &constraint, p->op_err) != 0)
		return -1;
	if (!exists)
		return planner_error(p, "name", "index \"%s\" does not exist in schema \"%s\"", name, p->schema);
	if (constraint != NULL) {
		/* PostgreSQL refuses to drop it; found at complete, that would be
		 * past the point where rollback is possible. */
		planner_error(p, "name", "index \"%s\" implements constraint \"%s\"", name, constraint);
		shunt_error_hint(p->op_err, "Use drop_constraint to remove the constraint and its index.");
		free(constraint);
		return -1;
	}
	buf_init(&b);
	buf_put(&b, "DROP INDEX CONCURRENTLY IF EXISTS ");
	pg_put_qualified(p->db, &b, p->schema, name);
	plan_add_concurrent(&p->complete_post, "drop index", buf_str(&b), NULL);
	buf_release(&b);
	return 0;
}
