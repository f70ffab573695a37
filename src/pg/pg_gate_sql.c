/*
 * pg_gate_sql.c: what a complete removes and which queries use it; see
 * pg_gate_sql.h.
 *
 * Both halves walk libpg_query's JSON parse tree.  A RangeVar appears in
 * two shapes there: wrapped ({"RangeVar": {...}}) in FROM lists and bare as
 * the "relation" of INSERT, UPDATE, DELETE and ALTER TABLE; any object with
 * a "relname" string is taken as one.
 */
#include "pg/pg_gate_sql.h"

#include <jansson.h>
#include <pg_query.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

#define SHUNT_PREFIX "_shunt_"

/* ---- small helpers ---- */

static bool
strv_has(char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

static void
strv_add(char ***v, size_t *n, const char *s)
{
	if (strv_has(*v, *n, s))
		return;
	*v = shunt_xrealloc(*v, (*n + 1) * sizeof(char *));
	(*v)[(*n)++] = shunt_xstrdup(s);
}

static void
strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static bool
is_shunt_name(const char *s)
{
	return strncmp(s, SHUNT_PREFIX, strlen(SHUNT_PREFIX)) == 0;
}

static const char *
jstr(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static bool
jstr_is(json_t *obj, const char *key, const char *want)
{
	const char *v = jstr(obj, key);

	return v != NULL && strcmp(v, want) == 0;
}

/* The sval of a {"String": {"sval": ...}} node, else NULL. */
static const char *
string_node(json_t *node)
{
	json_t *s = json_object_get(node, "String");

	return s ? jstr(s, "sval") : NULL;
}

/* Parses sql into its JSON tree (*root, owned by the caller). */
static int
parse_tree(const char *sql, json_t **root, shunt_error *err)
{
	PgQueryParseResult r = pg_query_parse(sql);
	json_error_t je;
	int rc = 0;

	*root = NULL;
	if (r.error != NULL)
		rc = shunt_error_set(err, SHUNT_E_INPUT, "cannot parse the statement: %s", r.error->message);
	else if ((*root = json_loads(r.parse_tree, 0, &je)) == NULL)
		rc = shunt_error_set(err, SHUNT_E_INPUT, "cannot read the parse tree: %s", je.text);
	pg_query_free_parse_result(r);
	return rc;
}

/* ---- what complete removes ---- */

void
gate_affected_init(gate_affected *a, const char *schema)
{
	memset(a, 0, sizeof(*a));
	a->schema = shunt_xstrdup(schema);
}

void
gate_affected_release(gate_affected *a)
{
	for (size_t i = 0; i < a->n_tables; i++) {
		gate_table *t = &a->tables[i];

		free(t->name);
		free(t->new_name);
		strv_free(t->removed_cols, t->n_removed);
		strv_free(t->renamed_to, t->n_renamed_to);
		strv_free(t->new_only, t->n_new_only);
	}
	free(a->tables);
	strv_free(a->dropped_schemas, a->n_dropped_schemas);
	free(a->schema);
	memset(a, 0, sizeof(*a));
}

static gate_table *
find_table(const gate_affected *a, const char *name)
{
	for (size_t i = 0; i < a->n_tables; i++)
		if (strcmp(a->tables[i].name, name) == 0)
			return &a->tables[i];
	return NULL;
}

static gate_table *
get_table(gate_affected *a, const char *name)
{
	gate_table *t = find_table(a, name);

	if (t != NULL)
		return t;
	a->tables = shunt_xrealloc(a->tables, (a->n_tables + 1) * sizeof(gate_table));
	t = &a->tables[a->n_tables++];
	memset(t, 0, sizeof(*t));
	t->name = shunt_xstrdup(name);
	return t;
}

/* The table a statement's bare RangeVar names, when it is one of the
 * application schema's (unqualified counts as the application schema). */
static gate_table *
relation_table(gate_affected *a, json_t *rel)
{
	const char *schema = jstr(rel, "schemaname");
	const char *name = jstr(rel, "relname");

	if (name == NULL || (schema != NULL && strcmp(schema, a->schema) != 0))
		return NULL;
	return get_table(a, name);
}

static void
add_alter(gate_affected *a, json_t *st)
{
	gate_table *t = relation_table(a, json_object_get(st, "relation"));
	json_t *cmds = json_object_get(st, "cmds");
	size_t i;
	json_t *c;

	if (t == NULL)
		return;
	json_array_foreach(cmds, i, c) {
		json_t *cmd = json_object_get(c, "AlterTableCmd");
		const char *name = cmd ? jstr(cmd, "name") : NULL;

		if (cmd == NULL)
			continue;
		if (jstr_is(cmd, "subtype", "AT_DropColumn")) {
			if (name != NULL && !is_shunt_name(name))
				strv_add(&t->removed_cols, &t->n_removed, name);
			t->cols_change = true;
		} else if (jstr_is(cmd, "subtype", "AT_AddColumn") || jstr_is(cmd, "subtype", "AT_AlterColumnType"))
			t->cols_change = true;
	}
}

static void
add_rename(gate_affected *a, json_t *st)
{
	const char *from = jstr(st, "subname");
	const char *to = jstr(st, "newname");
	gate_table *t;

	if (to == NULL)
		return;
	if (jstr_is(st, "renameType", "OBJECT_COLUMN")) {
		t = relation_table(a, json_object_get(st, "relation"));
		if (t == NULL || from == NULL)
			return;
		if (!is_shunt_name(from))
			strv_add(&t->removed_cols, &t->n_removed, from);
		if (!is_shunt_name(to))
			strv_add(&t->renamed_to, &t->n_renamed_to, to);
		t->cols_change = true;
	} else if (jstr_is(st, "renameType", "OBJECT_TABLE")) {
		t = relation_table(a, json_object_get(st, "relation"));
		if (t == NULL || is_shunt_name(t->name))
			return;
		t->removed = true;
		free(t->new_name);
		t->new_name = shunt_xstrdup(to);
	}
}

static void
add_drop(gate_affected *a, json_t *st)
{
	json_t *objects = json_object_get(st, "objects");
	size_t i;
	json_t *o;

	if (jstr_is(st, "removeType", "OBJECT_SCHEMA")) {
		json_array_foreach(objects, i, o) {
			const char *s = string_node(o);

			if (s != NULL)
				strv_add(&a->dropped_schemas, &a->n_dropped_schemas, s);
		}
		return;
	}
	if (!jstr_is(st, "removeType", "OBJECT_TABLE"))
		return;
	json_array_foreach(objects, i, o) {
		json_t *items = json_object_get(json_object_get(o, "List"), "items");
		size_t n = json_array_size(items);
		const char *name = n ? string_node(json_array_get(items, n - 1)) : NULL;
		const char *schema = n >= 2 ? string_node(json_array_get(items, n - 2)) : NULL;

		if (name == NULL || is_shunt_name(name) || (schema != NULL && strcmp(schema, a->schema) != 0))
			continue;
		get_table(a, name)->removed = true;
	}
}

int
gate_affected_add_sql(gate_affected *a, const char *sql, shunt_error *err)
{
	json_t *root;
	json_t *stmts;
	size_t i;
	json_t *s;

	if (parse_tree(sql, &root, err) != 0)
		return -1;
	stmts = json_object_get(root, "stmts");
	json_array_foreach(stmts, i, s) {
		json_t *stmt = json_object_get(s, "stmt");
		json_t *v;

		if ((v = json_object_get(stmt, "AlterTableStmt")) != NULL)
			add_alter(a, v);
		else if ((v = json_object_get(stmt, "RenameStmt")) != NULL)
			add_rename(a, v);
		else if ((v = json_object_get(stmt, "DropStmt")) != NULL)
			add_drop(a, v);
	}
	json_decref(root);
	return 0;
}

void
gate_affected_finish(gate_affected *a)
{
	for (size_t i = 0; i < a->n_tables; i++) {
		gate_table *t = &a->tables[i];
		size_t keep = 0;

		for (size_t j = 0; j < t->n_renamed_to; j++)
			if (!strv_has(t->removed_cols, t->n_removed, t->renamed_to[j]))
				strv_add(&t->new_only, &t->n_new_only, t->renamed_to[j]);
		for (size_t j = 0; j < t->n_removed; j++) {
			if (strv_has(t->renamed_to, t->n_renamed_to, t->removed_cols[j]))
				free(t->removed_cols[j]);
			else
				t->removed_cols[keep++] = t->removed_cols[j];
		}
		t->n_removed = keep;
	}
	/* a table renamed onto the name of one renamed or dropped away */
	for (size_t i = 0; i < a->n_tables; i++) {
		gate_table *t = &a->tables[i];

		if (!t->removed)
			continue;
		for (size_t j = 0; j < a->n_tables; j++) {
			if (a->tables[j].new_name != NULL && strcmp(a->tables[j].new_name, t->name) == 0) {
				t->removed = false;
				t->cols_change = true;
			}
		}
	}
}

bool
gate_affected_empty(const gate_affected *a)
{
	if (a->n_dropped_schemas > 0)
		return false;
	for (size_t i = 0; i < a->n_tables; i++)
		if (a->tables[i].n_removed > 0 || a->tables[i].cols_change || a->tables[i].removed)
			return false;
	return true;
}

/* ---- checking a query ---- */

/* A relation the statement names. */
typedef struct rel_ref {
	json_t *node;            /* the RangeVar body, to find it again */
	const char *schema;      /* NULL when unqualified */
	const char *name;
	const char *alias;       /* NULL when none */
	const gate_table *t;     /* the affected table it may be, else NULL */
	bool is_new;             /* the statement names a column only the new version has */
} rel_ref;

typedef struct qctx {
	const gate_affected *a;
	rel_ref *rels;
	size_t n_rels;
	const char **ctes;
	size_t n_ctes;
	bool marking;            /* first pass: find relations the new version names */
	char **seen;             /* findings so far, to report each once */
	size_t n_seen;
	shunt_buf *out;
} qctx;

static void finding(qctx *q, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
finding(qctx *q, const char *fmt, ...)
{
	shunt_buf b = SHUNT_BUF_INIT;
	va_list ap;

	buf_init(&b);
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	if (!strv_has(q->seen, q->n_seen, buf_str(&b))) {
		strv_add(&q->seen, &q->n_seen, buf_str(&b));
		buf_put(q->out, buf_str(&b));
		buf_putc(q->out, '\n');
	}
	buf_release(&b);
}

static void
collect(qctx *q, json_t *node)
{
	const char *key;
	json_t *v;
	size_t i;

	if (json_is_array(node)) {
		json_array_foreach(node, i, v) {
			collect(q, v);
		}
		return;
	}
	if (!json_is_object(node))
		return;
	if (jstr(node, "relname") != NULL) {
		q->rels = shunt_xrealloc(q->rels, (q->n_rels + 1) * sizeof(rel_ref));
		q->rels[q->n_rels].node = node;
		q->rels[q->n_rels].schema = jstr(node, "schemaname");
		q->rels[q->n_rels].name = jstr(node, "relname");
		q->rels[q->n_rels].alias = jstr(json_object_get(node, "alias"), "aliasname");
		q->rels[q->n_rels].t = NULL;
		q->rels[q->n_rels].is_new = false;
		q->n_rels++;
	}
	if ((v = json_object_get(node, "CommonTableExpr")) != NULL && jstr(v, "ctename") != NULL) {
		q->ctes = shunt_xrealloc(q->ctes, (q->n_ctes + 1) * sizeof(char *));
		q->ctes[q->n_ctes++] = jstr(v, "ctename");
	}
	json_object_foreach(node, key, v) {
		collect(q, v);
	}
}

static bool
is_cte(const qctx *q, const char *name)
{
	for (size_t i = 0; i < q->n_ctes; i++)
		if (strcmp(q->ctes[i], name) == 0)
			return true;
	return false;
}

/* Decides which relations are affected and reports removed tables and uses
 * of dropped schemas. */
static void
resolve(qctx *q)
{
	const gate_affected *a = q->a;

	for (size_t i = 0; i < q->n_rels; i++) {
		rel_ref *r = &q->rels[i];
		bool dropped = r->schema != NULL && strv_has(a->dropped_schemas, a->n_dropped_schemas, r->schema);

		if (r->schema == NULL && is_cte(q, r->name))
			continue;
		if (dropped)
			finding(q, "uses schema \"%s\", which complete drops", r->schema);
		if (r->schema != NULL && !dropped && strcmp(r->schema, a->schema) != 0)
			continue;
		r->t = find_table(a, r->name);
		if (r->t != NULL && r->t->removed) {
			if (r->t->new_name != NULL)
				finding(q, "uses table \"%s\", which complete renames to \"%s\"", r->name, r->t->new_name);
			else
				finding(q, "uses table \"%s\", which complete drops", r->name);
		}
	}
}

static rel_ref *
rel_of_node(qctx *q, json_t *node)
{
	for (size_t i = 0; i < q->n_rels; i++)
		if (q->rels[i].node == node)
			return &q->rels[i];
	return NULL;
}

/* Relations of the statement, not counting CTE references. */
static size_t
real_rels(const qctx *q)
{
	size_t n = 0;

	for (size_t i = 0; i < q->n_rels; i++)
		if (q->rels[i].schema != NULL || !is_cte(q, q->rels[i].name))
			n++;
	return n;
}

/* A column of r used by the statement: in the marking pass, a name only
 * the new version has marks r (sure only when qualified or when r is the
 * statement's only relation); in the checking pass, a removed name counts
 * unless r was marked. */
static void
check_column(qctx *q, rel_ref *r, const char *col, bool qualified, const char *verb)
{
	const gate_table *t = r->t;

	if (q->marking) {
		if ((qualified || real_rels(q) == 1) && strv_has(t->new_only, t->n_new_only, col))
			r->is_new = true;
		return;
	}
	if (!r->is_new && strv_has(t->removed_cols, t->n_removed, col))
		finding(q, "%s column \"%s\" of \"%s\", which complete drops or renames", verb, col, t->name);
}

/* what: "selects * from", "inserts without a column list into" */
static void
check_star(qctx *q, const rel_ref *r, const char *what)
{
	if (!q->marking && !r->is_new && r->t->cols_change && !r->t->removed)
		finding(q, "%s \"%s\", whose columns complete changes", what, r->t->name);
}

/* Does relation r answer to the qualifier of a column reference? */
static bool
rel_matches(const rel_ref *r, const char *schema, const char *qual)
{
	if (qual == NULL)
		return true;
	if (r->alias != NULL)
		return schema == NULL && strcmp(r->alias, qual) == 0;
	if (strcmp(r->name, qual) != 0)
		return false;
	return schema == NULL || (r->schema != NULL && strcmp(r->schema, schema) == 0);
}

static void
check_colref(qctx *q, json_t *ref, bool no_star)
{
	json_t *fields = json_object_get(ref, "fields");
	size_t n = json_array_size(fields);
	json_t *last;
	bool star;
	const char *col, *qual = NULL, *schema = NULL;

	if (n == 0)
		return;
	last = json_array_get(fields, n - 1);
	star = json_object_get(last, "A_Star") != NULL;
	col = star ? NULL : string_node(last);
	if (!star && col == NULL)
		return;
	if (n >= 2)
		qual = string_node(json_array_get(fields, n - 2));
	if (n >= 3)
		schema = string_node(json_array_get(fields, n - 3));
	if (n >= 2 && qual == NULL)
		return;
	for (size_t i = 0; i < q->n_rels; i++) {
		rel_ref *r = &q->rels[i];

		if (r->t == NULL || !rel_matches(r, schema, qual))
			continue;
		if (star) {
			shunt_buf what = SHUNT_BUF_INIT;

			buf_init(&what);
			if (qual != NULL)
				buf_printf(&what, "selects %s.* from", qual);
			else
				buf_put(&what, "selects * from");
			if (!no_star)
				check_star(q, r, buf_str(&what));
			buf_release(&what);
		} else
			check_column(q, r, col, qual != NULL, "reads");
	}
}

/* The names of ResTargets in list (INSERT columns, UPDATE SET targets). */
static void
check_targets(qctx *q, rel_ref *r, json_t *list)
{
	size_t i;
	json_t *v;

	json_array_foreach(list, i, v) {
		const char *name = jstr(json_object_get(v, "ResTarget"), "name");

		if (name != NULL)
			check_column(q, r, name, true, "writes");
	}
}

static void walk(qctx *q, json_t *node, bool no_star);

static void
walk_insert(qctx *q, json_t *ins)
{
	rel_ref *r = rel_of_node(q, json_object_get(ins, "relation"));
	json_t *cols = json_object_get(ins, "cols");

	if (r != NULL && r->t != NULL) {
		if (json_array_size(cols) == 0 && json_object_get(ins, "selectStmt") != NULL)
			check_star(q, r, "inserts without a column list into");
		check_targets(q, r, cols);
		check_targets(q, r, json_object_get(json_object_get(ins, "onConflictClause"), "targetList"));
	}
}

static void
walk_object(qctx *q, json_t *node, bool no_star)
{
	const char *key;
	json_t *v;

	json_object_foreach(node, key, v) {
		if (strcmp(key, "ColumnRef") == 0) {
			check_colref(q, v, no_star);
			continue;
		}
		if (strcmp(key, "SubLink") == 0 && jstr_is(v, "subLinkType", "EXISTS_SUBLINK")) {
			json_t *sel = json_object_get(json_object_get(v, "subselect"), "SelectStmt");
			const char *k2;
			json_t *v2;

			/* EXISTS (SELECT * ...) reads no column */
			json_object_foreach(sel, k2, v2) {
				walk(q, v2, strcmp(k2, "targetList") == 0);
			}
			walk(q, json_object_get(v, "testexpr"), false);
			continue;
		}
		if (strcmp(key, "InsertStmt") == 0)
			walk_insert(q, v);
		if (strcmp(key, "UpdateStmt") == 0) {
			rel_ref *r = rel_of_node(q, json_object_get(v, "relation"));

			if (r != NULL && r->t != NULL)
				check_targets(q, r, json_object_get(v, "targetList"));
		}
		walk(q, v, strcmp(key, "SelectStmt") == 0 ? false : no_star);
	}
}

static void
walk(qctx *q, json_t *node, bool no_star)
{
	size_t i;
	json_t *v;

	if (json_is_array(node)) {
		json_array_foreach(node, i, v) {
			walk(q, v, no_star);
		}
	} else if (json_is_object(node))
		walk_object(q, node, no_star);
}

static bool
checked_kind(json_t *stmt)
{
	static const char *const kinds[] = { "SelectStmt", "InsertStmt", "UpdateStmt", "DeleteStmt",
										 "MergeStmt", "DeclareCursorStmt" };

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (json_object_get(stmt, kinds[i]) != NULL)
			return true;
	return false;
}

int
gate_query_check(const gate_affected *a, const char *query, shunt_buf *out, shunt_error *err)
{
	json_t *root;
	json_t *stmts;
	size_t i;
	json_t *s;
	int count;
	qctx q;

	/* shunt's own statements (the backfill) name its "_shunt_" objects,
	 * which applications never do */
	if (strstr(query, SHUNT_PREFIX) != NULL)
		return 0;
	if (parse_tree(query, &root, err) != 0)
		return -1;
	memset(&q, 0, sizeof(q));
	q.a = a;
	q.out = out;
	stmts = json_object_get(root, "stmts");
	json_array_foreach(stmts, i, s) {
		json_t *stmt = json_object_get(s, "stmt");

		if (!checked_kind(stmt))
			continue;
		q.n_rels = 0;
		q.n_ctes = 0;
		collect(&q, stmt);
		resolve(&q);
		q.marking = true;
		walk(&q, stmt, false);
		q.marking = false;
		walk(&q, stmt, false);
	}
	count = (int) q.n_seen;
	strv_free(q.seen, q.n_seen);
	free(q.rels);
	free(q.ctes);
	json_decref(root);
	return count;
}
