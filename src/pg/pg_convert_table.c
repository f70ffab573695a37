/*
 * pg_convert_table.c: columns, constraints, CREATE TABLE and CREATE INDEX
 * in pgroll's format, for `shunt convert` (see pg_convert.h).
 *
 * Names PostgreSQL chooses itself (t_col_check, t_a_b_key, t_pkey,
 * t_col_idx) are written out, because pgroll's format names every
 * constraint; the same rules (makeObjectName) give the same names, except
 * when PostgreSQL would add a digit to avoid an existing name.
 */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "pg/pg_convert_int.h"

static const char *
str(json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

/* A String list as a JSON array of names. */
static json_t *
names_array(json_t *list)
{
	json_t *arr = json_array(), *n;
	size_t i;

	json_array_foreach(list, i, n) {
		if (sqlf_node_str(n))
			json_array_append_new(arr, json_string(sqlf_node_str(n)));
	}
	return arr;
}

static const char *
fk_action(const char *code)
{
	switch (code ? code[0] : 'a') {
	case 'r':
		return "RESTRICT";
	case 'c':
		return "CASCADE";
	case 'n':
		return "SET NULL";
	case 'd':
		return "SET DEFAULT";
	default:
		return "NO ACTION";
	}
}

/* on_delete, on_update and match_type when they are not the defaults. */
static void
put_fk_actions(json_t *ref, json_t *con)
{
	const char *del = fk_action(str(con, "fk_del_action"));
	const char *upd = fk_action(str(con, "fk_upd_action"));
	const char *match = str(con, "fk_matchtype");

	if (strcmp(del, "NO ACTION") != 0)
		json_object_set_new(ref, "on_delete", json_string(del));
	if (strcmp(upd, "NO ACTION") != 0)
		json_object_set_new(ref, "on_update", json_string(upd));
	if (match && match[0] == 'f')
		json_object_set_new(ref, "match_type", json_string("FULL"));
	else if (match && match[0] == 'p')
		json_object_set_new(ref, "match_type", json_string("PARTIAL"));
}

char *
conv_default_name(const char *table, json_t *cols, const char *label)
{
	shunt_buf b = SHUNT_BUF_INIT, add = SHUNT_BUF_INIT;
	size_t i;
	json_t *c;

	buf_init(&b);
	buf_init(&add);
	json_array_foreach(cols, i, c) {
		if (i > 0)
			buf_putc(&add, '_');
		buf_put(&add, json_is_string(c) ? json_string_value(c) : "");
	}
	sqlf_put_object_name(&b, table, add.len ? buf_str(&add) : NULL, label);
	buf_release(&add);
	return buf_detach(&b);
}

static void
collect_columns(json_t *node, json_t *out)
{
	const char *key;
	json_t *val;
	size_t i;

	if (json_is_array(node)) {
		json_array_foreach(node, i, val) {
			collect_columns(val, out);
		}
		return;
	}
	if (!json_is_object(node))
		return;
	json_object_foreach(node, key, val) {
		json_t *fields = json_object_get(val, "fields");
		const char *name = sqlf_node_str(json_array_get(fields, json_array_size(fields) - 1));
		bool seen = false;
		json_t *x;

		if (strcmp(key, "ColumnRef") != 0 || name == NULL) {
			collect_columns(val, out);
			continue;
		}
		json_array_foreach(out, i, x) {
			if (strcmp(json_string_value(x), name) == 0)
				seen = true;
		}
		if (!seen)
			json_array_append_new(out, json_string(name));
	}
}

json_t *
conv_expr_columns(json_t *expr)
{
	json_t *out = json_array();

	collect_columns(expr, out);
	return out;
}

/* Name of a CHECK: given, or table_col_check when it names one column. */
static char *
check_name(conv_ctx *c, const char *table, json_t *con)
{
	json_t *cols;
	char *name;

	if (str(con, "conname")) {
		conv_use_name(c, str(con, "conname"));
		return shunt_xstrdup(str(con, "conname"));
	}
	cols = conv_expr_columns(json_object_get(con, "raw_expr"));
	if (json_array_size(cols) != 1)
		json_array_clear(cols);
	name = conv_choose_name(c, table, cols, "check");
	json_decref(cols);
	return name;
}

/* ---- columns ---- */

static json_t *
column_references(conv_ctx *c, const char *table, const char *col, json_t *con, const char **why)
{
	json_t *pk = json_object_get(con, "pk_attrs");
	json_t *ref, *one;
	char *name;

	if (json_array_size(pk) != 1) {
		*why = "REFERENCES without the referenced column";
		return NULL;
	}
	ref = json_object();
	if (str(con, "conname")) {
		conv_use_name(c, str(con, "conname"));
		json_object_set_new(ref, "name", json_string(str(con, "conname")));
	} else {
		one = json_pack("[s]", col);
		name = conv_choose_name(c, table, one, "fkey");
		json_object_set_new(ref, "name", json_string(name));
		free(name);
		json_decref(one);
	}
	json_object_set_new(ref, "table", json_string(str(json_object_get(con, "pktable"), "relname")));
	json_object_set_new(ref, "column", json_string(sqlf_node_str(json_array_get(pk, 0))));
	put_fk_actions(ref, con);
	if (json_is_true(json_object_get(con, "deferrable")))
		json_object_set_new(ref, "deferrable", json_true());
	if (json_is_true(json_object_get(con, "initdeferred")))
		json_object_set_new(ref, "initially_deferred", json_true());
	return ref;
}

static json_t *
column_generated(conv_ctx *c, json_t *con, bool identity)
{
	json_t *gen = json_object();
	size_t off = (size_t)sqlf_int(con, "location", 0);

	if (identity) {
		json_t *id = json_object();
		const char *when = str(con, "generated_when");
		char *opts = json_array_size(json_object_get(con, "options")) > 0
						 ? conv_paren_after(c, off, "IDENTITY")
						 : NULL;

		json_object_set_new(id, "user_specified_values",
							json_string(when && when[0] == 'd' ? "BY DEFAULT" : "ALWAYS"));
		if (opts)
			json_object_set_new(id, "sequence_options", json_string(opts));
		free(opts);
		json_object_set_new(gen, "identity", id);
	} else {
		char *expr = conv_paren_after(c, off, "AS");

		json_object_set_new(gen, "expression", json_string(expr ? expr : ""));
		free(expr);
	}
	return gen;
}

/* A column PRIMARY KEY or UNIQUE: "pk" / "unique" when it has the name
 * PostgreSQL would give it, else a table constraint in extra. */
static bool
column_key(conv_ctx *c, const char *table, const char *name, json_t *con, json_t *col,
		   json_t *extra, const char **why)
{
	bool pk = strcmp(str(con, "contype"), "CONSTR_PRIMARY") == 0, ok = true;
	const char *conname = str(con, "conname");
	json_t *one = json_pack("[s]", name);
	char *dflt = conv_default_name(table, pk ? NULL : one, pk ? "pkey" : "key");

	if (json_array_size(json_object_get(con, "including")) > 0 ||
		json_object_get(con, "options") || str(con, "indexspace") ||
		json_is_true(json_object_get(con, "nulls_not_distinct"))) {
		*why = "index options on a column constraint";
		ok = false;
	} else if (conname == NULL || strcmp(conname, dflt) == 0) {
		json_object_set_new(col, pk ? "pk" : "unique", json_true());
		conv_use_name(c, dflt);
	} else if (extra != NULL) {
		conv_use_name(c, conname);
		json_array_append_new(extra, json_pack("{s:s, s:s, s:O}", "name", conname, "type",
											   pk ? "primary_key" : "unique", "columns", one));
	} else {
		*why = "a named PRIMARY KEY or UNIQUE column constraint";
		ok = false;
	}
	free(dflt);
	json_decref(one);
	return ok;
}

/* One column constraint into col (or extra); false with *why. */
static bool
column_constraint(conv_ctx *c, const char *table, const char *name, json_t *con, json_t *col,
				  json_t *extra, bool *not_null, const char **why)
{
	const char *ct = str(con, "contype");

	if (ct == NULL)
		return true;
	if (strcmp(ct, "CONSTR_NOTNULL") == 0 || strcmp(ct, "CONSTR_IDENTITY") == 0)
		*not_null = true;
	if (strcmp(ct, "CONSTR_NULL") == 0 || strcmp(ct, "CONSTR_NOTNULL") == 0)
		return true;
	if (json_is_true(json_object_get(con, "deferrable")) && strcmp(ct, "CONSTR_FOREIGN") != 0) {
		*why = "a DEFERRABLE column constraint";
		return false;
	}
	if (strcmp(ct, "CONSTR_DEFAULT") == 0) {
		char *d = conv_default_text(c, con);

		json_object_set_new(col, "default", json_string(d));
		free(d);
	} else if (strcmp(ct, "CONSTR_IDENTITY") == 0 || strcmp(ct, "CONSTR_GENERATED") == 0) {
		json_object_set_new(col, "generated",
							column_generated(c, con, strcmp(ct, "CONSTR_IDENTITY") == 0));
	} else if (strcmp(ct, "CONSTR_PRIMARY") == 0 || strcmp(ct, "CONSTR_UNIQUE") == 0) {
		if (strcmp(ct, "CONSTR_PRIMARY") == 0)
			*not_null = true;
		return column_key(c, table, name, con, col, extra, why);
	} else if (strcmp(ct, "CONSTR_CHECK") == 0) {
		char *cname, *expr;

		if (json_object_get(col, "check") != NULL) {
			*why = "two CHECK constraints on one column";
			return false;
		}
		cname = check_name(c, table, con);
		expr = conv_paren_after(c, (size_t)sqlf_int(con, "location", 0), "CHECK");
		json_object_set_new(col, "check", json_pack("{s:s, s:s}", "name", cname, "constraint",
													expr ? expr : ""));
		if (json_is_true(json_object_get(con, "is_no_inherit")))
			json_object_set_new(json_object_get(col, "check"), "no_inherit", json_true());
		free(cname);
		free(expr);
	} else if (strcmp(ct, "CONSTR_FOREIGN") == 0) {
		json_t *ref;

		if (json_object_get(col, "references") != NULL) {
			*why = "two REFERENCES on one column";
			return false;
		}
		if ((ref = column_references(c, table, name, con, why)) == NULL)
			return false;
		json_object_set_new(col, "references", ref);
	} else {
		*why = "a column constraint of this kind";
		return false;
	}
	return true;
}

json_t *
conv_column(conv_ctx *c, const char *table, json_t *coldef, json_t *extra, const char **why)
{
	const char *name = str(coldef, "colname");
	json_t *tn = json_object_get(coldef, "typeName"), *col, *con;
	const char *base = sqlf_last_name(json_object_get(tn, "names"));
	bool not_null = false;
	char *type;
	size_t i;

	if (name == NULL || tn == NULL) {
		*why = "a column without a name or type";
		return NULL;
	}
	if (json_object_get(coldef, "collClause") || str(coldef, "storage") ||
		str(coldef, "compression")) {
		*why = "COLLATE, STORAGE or COMPRESSION on a column";
		return NULL;
	}
	type = conv_type_text(c, tn, SQLF_STOP_COLUMN_CONSTRAINT);
	col = json_pack("{s:s, s:s}", "name", name, "type", type);
	free(type);
	/* serial types are NOT NULL */
	if (base && (strcmp(base, "serial") == 0 || strcmp(base, "bigserial") == 0 ||
				 strcmp(base, "smallserial") == 0 || strncmp(base, "serial", 6) == 0))
		not_null = true;
	json_array_foreach(json_object_get(coldef, "constraints"), i, con) {
		if (!column_constraint(c, table, name, json_object_get(con, "Constraint"), col, extra,
							   &not_null, why)) {
			json_decref(col);
			return NULL;
		}
	}
	if (!not_null && !json_is_true(json_object_get(col, "pk")))
		json_object_set_new(col, "nullable", json_true());
	return col;
}

/* ---- table constraints ---- */

/* The index_parameters of a UNIQUE / PRIMARY KEY constraint, or NULL. */
static json_t *
index_parameters(conv_ctx *c, json_t *con, const char **why)
{
	json_t *ip = json_object();

	if (str(con, "indexspace")) {
		*why = "USING INDEX TABLESPACE";
		json_decref(ip);
		return NULL;
	}
	if (json_array_size(json_object_get(con, "including")) > 0)
		json_object_set_new(ip, "include_columns", names_array(json_object_get(con, "including")));
	if (json_array_size(json_object_get(con, "options")) > 0) {
		char *sp = conv_paren_after(c, (size_t)sqlf_int(con, "location", 0), "WITH");

		json_object_set_new(ip, "storage_parameters", json_string(sp ? sp : ""));
		free(sp);
	}
	return ip;
}

static json_t *
table_references(json_t *con, const char **why)
{
	json_t *ref;

	if (json_array_size(json_object_get(con, "pk_attrs")) == 0) {
		*why = "REFERENCES without the referenced columns";
		return NULL;
	}
	ref = json_pack("{s:s, s:o}", "table", str(json_object_get(con, "pktable"), "relname"),
					"columns", names_array(json_object_get(con, "pk_attrs")));
	put_fk_actions(ref, con);
	if (json_array_size(json_object_get(con, "fk_del_set_cols")) > 0)
		json_object_set_new(ref, "on_delete_set_columns",
							names_array(json_object_get(con, "fk_del_set_cols")));
	return ref;
}

/* The "exclude" object of an EXCLUDE constraint; *name gets its name
 * (malloc'd). */
static json_t *
exclusion_fields(conv_ctx *c, const char *table, json_t *con, char **name)
{
	size_t off = (size_t)sqlf_int(con, "location", 0);
	const char *method = str(con, "access_method");
	json_t *ex = json_object(), *first = json_array();
	size_t i;
	json_t *pair;
	char *elements, *pred;

	/* the default name uses the element columns */
	json_array_foreach(json_object_get(con, "exclusions"), i, pair) {
		json_t *elem = json_object_get(json_array_get(json_object_get(
			json_object_get(pair, "List"), "items"), 0), "IndexElem");

		json_array_append_new(first, json_string(str(elem, "name") ? str(elem, "name") : "expr"));
	}
	*name = str(con, "conname") ? shunt_xstrdup(str(con, "conname"))
								: conv_choose_name(c, table, first, "excl");
	json_decref(first);
	elements = conv_paren_after(c, off, "EXCLUDE");
	if (method)
		json_object_set_new(ex, "index_method", json_string(method));
	json_object_set_new(ex, "elements", json_string(elements ? elements : ""));
	free(elements);
	if (json_object_get(con, "where_clause")) {
		size_t t = sqlf_tok_at(c->f, off);

		while (t < c->s->tok_end && !sqlf_tok_is(c->f, t, "WHERE"))
			t = sqlf_tok_next(c->f, t);
		pred = t < c->s->tok_end ? conv_paren_after(c, c->f->toks[t].start, "WHERE") : NULL;
		json_object_set_new(ex, "predicate", json_string(pred ? pred : ""));
		free(pred);
	}
	return ex;
}

/* name, type, columns and the type's own fields, shared by create_table's
 * constraints and create_constraint. */
static json_t *
constraint_common(conv_ctx *c, const char *table, json_t *con, const char **why)
{
	const char *ct = str(con, "contype");
	json_t *out = json_object(), *cols = NULL, *ref, *ip;
	char *name = NULL, *expr;

	if (ct == NULL || str(con, "indexname")) {
		*why = ct ? "ADD CONSTRAINT ... USING INDEX" : "an unknown constraint";
		goto fail;
	}
	if (strcmp(ct, "CONSTR_CHECK") == 0) {
		name = check_name(c, table, con);
		expr = conv_paren_after(c, (size_t)sqlf_int(con, "location", 0), "CHECK");
		json_object_set_new(out, "name", json_string(name));
		conv_use_name(c, name);
		json_object_set_new(out, "type", json_string("check"));
		json_object_set_new(out, "check", json_string(expr ? expr : ""));
		free(expr);
		if (json_is_true(json_object_get(con, "is_no_inherit")))
			json_object_set_new(out, "no_inherit", json_true());
		free(name);
		return out;
	}
	if (strcmp(ct, "CONSTR_PRIMARY") == 0 || strcmp(ct, "CONSTR_UNIQUE") == 0) {
		bool pk = strcmp(ct, "CONSTR_PRIMARY") == 0;

		cols = names_array(json_object_get(con, "keys"));
		name = str(con, "conname") ? shunt_xstrdup(str(con, "conname"))
								   : conv_choose_name(c, table, pk ? NULL : cols, pk ? "pkey" : "key");
		json_object_set_new(out, "name", json_string(name));
		conv_use_name(c, name);
		json_object_set_new(out, "type", json_string(pk ? "primary_key" : "unique"));
		json_object_set_new(out, "columns", cols);
		if ((ip = index_parameters(c, con, why)) == NULL)
			goto fail;
		if (json_object_size(ip) > 0)
			json_object_set_new(out, "index_parameters", ip);
		else
			json_decref(ip);
		if (json_is_true(json_object_get(con, "nulls_not_distinct")))
			json_object_set_new(out, "nulls_not_distinct", json_true());
	} else if (strcmp(ct, "CONSTR_FOREIGN") == 0) {
		cols = names_array(json_object_get(con, "fk_attrs"));
		name = str(con, "conname") ? shunt_xstrdup(str(con, "conname"))
								   : conv_choose_name(c, table, cols, "fkey");
		json_object_set_new(out, "name", json_string(name));
		conv_use_name(c, name);
		json_object_set_new(out, "type", json_string("foreign_key"));
		json_object_set_new(out, "columns", cols);
		if ((ref = table_references(con, why)) == NULL)
			goto fail;
		json_object_set_new(out, "references", ref);
	} else if (strcmp(ct, "CONSTR_EXCLUSION") == 0) {
		json_t *ex = exclusion_fields(c, table, con, &name);

		json_object_set_new(out, "name", json_string(name));
		conv_use_name(c, name);
		json_object_set_new(out, "type", json_string("exclude"));
		json_object_set_new(out, "exclude", ex);
		if ((ip = index_parameters(c, con, why)) == NULL)
			goto fail;
		if (json_object_size(ip) > 0)
			json_object_set_new(out, "index_parameters", ip);
		else
			json_decref(ip);
	} else {
		*why = "a constraint of this kind";
		goto fail;
	}
	free(name);
	return out;
fail:
	free(name);
	json_decref(out);
	return NULL;
}

json_t *
conv_table_constraint(conv_ctx *c, const char *table, json_t *con, const char **why)
{
	json_t *out = constraint_common(c, table, con, why);

	if (out == NULL)
		return NULL;
	if (json_is_true(json_object_get(con, "deferrable")))
		json_object_set_new(out, "deferrable", json_true());
	if (json_is_true(json_object_get(con, "initdeferred")))
		json_object_set_new(out, "initially_deferred", json_true());
	return out;
}

json_t *
conv_create_constraint(conv_ctx *c, const char *table, json_t *con, const char **why)
{
	const char *ct = str(con, "contype");
	json_t *common, *out, *v;
	const char *key;

	if (ct && strcmp(ct, "CONSTR_EXCLUSION") == 0) {
		*why = "create_constraint has no exclusion constraints";
		return NULL;
	}
	if (json_is_true(json_object_get(con, "deferrable")) ||
		json_is_true(json_object_get(con, "nulls_not_distinct"))) {
		*why = "DEFERRABLE or NULLS NOT DISTINCT (create_constraint has no such field)";
		return NULL;
	}
	if ((common = constraint_common(c, table, con, why)) == NULL)
		return NULL;
	out = json_object();
	json_object_set(out, "name", json_object_get(common, "name"));
	json_object_set_new(out, "table", json_string(table));
	json_object_foreach(common, key, v) {
		if (strcmp(key, "name") != 0)
			json_object_set(out, key, v);
	}
	if (strcmp(ct, "CONSTR_CHECK") == 0) {
		json_t *cols = conv_expr_columns(json_object_get(con, "raw_expr"));

		if (json_array_size(cols) > 0)
			json_object_set(out, "columns", cols);
		json_decref(cols);
	}
	json_decref(common);
	return out;
}

/* ---- CREATE TABLE ---- */

bool
conv_create_table(conv_ctx *c, json_t *st, const char **why)
{
	json_t *rel = json_object_get(st, "relation"), *elt, *cols, *cons, *body;
	const char *table = str(rel, "relname"), *persist = str(rel, "relpersistence");
	const char *oncommit = str(st, "oncommit");
	size_t i;
	conv_op *op;

	if (table == NULL || (persist && strcmp(persist, "p") != 0)) {
		*why = "a TEMPORARY or UNLOGGED table";
		return false;
	}
	if (json_object_get(st, "inhRelations") || json_object_get(st, "partspec") ||
		json_object_get(st, "partbound") || json_object_get(st, "ofTypename")) {
		*why = "INHERITS, PARTITION BY, PARTITION OF or OF type";
		return false;
	}
	if (json_object_get(st, "options") || str(st, "tablespacename") || str(st, "accessMethod") ||
		(oncommit && strcmp(oncommit, "ONCOMMIT_NOOP") != 0)) {
		*why = "WITH (...), TABLESPACE, USING or ON COMMIT";
		return false;
	}
	cols = json_array();
	cons = json_array();
	json_array_foreach(json_object_get(st, "tableElts"), i, elt) {
		json_t *def = json_object_get(elt, "ColumnDef");
		json_t *con = json_object_get(elt, "Constraint");
		json_t *x;

		if (def != NULL)
			x = conv_column(c, table, def, cons, why);
		else if (con != NULL)
			x = conv_table_constraint(c, table, con, why);
		else {
			*why = "LIKE";
			x = NULL;
		}
		if (x == NULL) {
			json_decref(cols);
			json_decref(cons);
			return false;
		}
		json_array_append_new(def ? cols : cons, x);
	}
	if (json_array_size(cols) == 0) {
		*why = "a table without columns";
		json_decref(cols);
		json_decref(cons);
		return false;
	}
	conv_use_name(c, table);
	body = json_pack("{s:s, s:o}", "name", table, "columns", cols);
	if (json_array_size(cons) > 0)
		json_object_set_new(body, "constraints", cons);
	else
		json_decref(cons);
	op = conv_add(c, "create_table", body);
	if (str(rel, "schemaname"))
		conv_comment(op, "note: schema \"%s\" dropped: shunt works in its --schema",
					 str(rel, "schemaname"));
	if (json_is_true(json_object_get(st, "if_not_exists")))
		conv_msg(c, PG_CONVERT_WARNING, "IF NOT EXISTS dropped: create_table fails if \"%s\" exists",
				 table);
	return true;
}

/* ---- CREATE INDEX ---- */

static json_t *
index_column(json_t *elem, const char **why)
{
	const char *name = str(elem, "name");
	const char *ord = str(elem, "ordering"), *nulls = str(elem, "nulls_ordering");
	json_t *col;

	if (name == NULL) {
		*why = "an expression index (create_index takes column names)";
		return NULL;
	}
	if (json_array_size(json_object_get(elem, "opclassopts")) > 0) {
		*why = "operator class parameters";
		return NULL;
	}
	col = json_pack("{s:s}", "column", name);
	if (json_array_size(json_object_get(elem, "collation")) > 0)
		json_object_set_new(col, "collate",
							json_string(sqlf_last_name(json_object_get(elem, "collation"))));
	if (ord && strcmp(ord, "SORTBY_DESC") == 0)
		json_object_set_new(col, "sort", json_string("DESC"));
	else if (ord && strcmp(ord, "SORTBY_ASC") == 0)
		json_object_set_new(col, "sort", json_string("ASC"));
	if (nulls && strcmp(nulls, "SORTBY_NULLS_FIRST") == 0)
		json_object_set_new(col, "nulls", json_string("FIRST"));
	else if (nulls && strcmp(nulls, "SORTBY_NULLS_LAST") == 0)
		json_object_set_new(col, "nulls", json_string("LAST"));
	if (json_array_size(json_object_get(elem, "opclass")) > 0)
		json_object_set_new(col, "opclass",
							json_pack("{s:s}", "name",
									  sqlf_last_name(json_object_get(elem, "opclass"))));
	return col;
}

bool
conv_create_index(conv_ctx *c, json_t *st, const char **why)
{
	static const char *const methods[] = { "btree", "hash", "gist", "spgist", "gin", "brin", NULL };
	json_t *rel = json_object_get(st, "relation"), *elems = json_array(), *names = json_array();
	json_t *elem, *body;
	const char *table = str(rel, "relname"), *method = str(st, "accessMethod");
	const char *idx = str(st, "idxname");
	bool known = false;
	size_t i;
	char *name;

	for (i = 0; methods[i] && method; i++)
		known = known || strcmp(methods[i], method) == 0;
	if (table == NULL || !known || json_array_size(json_object_get(st, "indexIncludingParams")) ||
		str(st, "tableSpace") || json_is_true(json_object_get(st, "nulls_not_distinct")) ||
		!json_is_true(json_object_get(rel, "inh"))) {
		*why = "INCLUDE, TABLESPACE, NULLS NOT DISTINCT, ONLY or an unknown access method";
		goto fail;
	}
	json_array_foreach(json_object_get(st, "indexParams"), i, elem) {
		json_t *col = index_column(json_object_get(elem, "IndexElem"), why);

		if (col == NULL)
			goto fail;
		json_array_append(names, json_object_get(col, "column"));
		json_array_append_new(elems, col);
	}
	name = idx ? shunt_xstrdup(idx) : conv_choose_name(c, table, names, "idx");
	conv_use_name(c, name);
	body = json_pack("{s:s, s:s, s:O}", "name", name, "table", table, "columns", elems);
	free(name);
	if (strcmp(method, "btree") != 0)
		json_object_set_new(body, "method", json_string(method));
	if (json_is_true(json_object_get(st, "unique")))
		json_object_set_new(body, "unique", json_true());
	if (json_object_get(st, "whereClause")) {
		size_t t = sqlf_tok_at(c->f, (size_t)sqlf_int(rel, "location", 0)), depth = 0;

		for (; t < c->s->tok_end; t = sqlf_tok_next(c->f, t)) {
			if (sqlf_tok_is(c->f, t, "("))
				depth++;
			else if (sqlf_tok_is(c->f, t, ")"))
				depth--;
			else if (depth == 0 && sqlf_tok_is(c->f, t, "WHERE"))
				break;
		}
		name = conv_slice(c, sqlf_tok_next(c->f, t), c->s->tok_end);
		json_object_set_new(body, "predicate", json_string(name));
		free(name);
	}
	if (json_array_size(json_object_get(st, "options")) > 0) {
		/* WITH (...) after the column list */
		size_t t = sqlf_tok_at(c->f, (size_t)sqlf_int(rel, "location", 0));

		t = sqlf_skip_name(c->f, t);
		while (t < c->s->tok_end && !sqlf_tok_is(c->f, t, "("))
			t = sqlf_tok_next(c->f, t);
		t = sqlf_match_paren(c->f, t, c->s->tok_end);
		name = t < c->s->tok_end ? conv_paren_after(c, c->f->toks[t].end, "WITH") : NULL;
		if (name == NULL) {
			*why = "WITH options that cannot be located";
			json_decref(body);
			goto fail;
		}
		json_object_set_new(body, "storage_parameters", json_string(name));
		free(name);
	}
	conv_add(c, "create_index", body);
	if (json_is_true(json_object_get(st, "if_not_exists")))
		conv_msg(c, PG_CONVERT_WARNING, "IF NOT EXISTS dropped: create_index fails if the index exists");
	json_decref(elems);
	json_decref(names);
	return true;
fail:
	json_decref(elems);
	json_decref(names);
	return false;
}
