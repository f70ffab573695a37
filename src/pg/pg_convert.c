/*
 * pg_convert.c: plain SQL to a pgroll-format migration; see pg_convert.h.
 * This file holds the driver, the operation list, the statements other
 * than ALTER TABLE (pg_convert_alter.c) and CREATE TABLE / INDEX
 * (pg_convert_table.c), and the output.
 */
#include "pg/pg_convert.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/yaml_emit.h"
#include "pg/pg_convert_int.h"

/* Longest statement excerpt in a comment, in bytes. */
#define EXCERPT_MAX 72

static const char *
str(json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

/* ---- operations and messages ---- */

/* The index key of a created table (column NULL) or an added column. */
static void
index_key(shunt_buf *b, const char *table, const char *column)
{
	buf_reset(b);
	buf_put(b, column ? "c\001" : "t\001");
	buf_put(b, table);
	if (column) {
		buf_putc(b, '\001');
		buf_put(b, column);
	}
}


/* Appends the statement's first EXCERPT_MAX bytes as one line. */
static void
put_excerpt(conv_ctx *c, shunt_buf *b)
{
	char *text = conv_slice(c, c->s->tok_first, c->s->tok_end);
	size_t n = strlen(text);

	if (n > EXCERPT_MAX) {
		n = EXCERPT_MAX;
		while (n > 0 && ((unsigned char)text[n] & 0xc0) == 0x80)
			n--;
		buf_putn(b, text, n);
		buf_put(b, " ...");
	} else
		buf_put(b, text);
	free(text);
}

conv_op *
conv_add(conv_ctx *c, const char *kind, json_t *body)
{
	conv_op *op;

	if (c->n_ops == c->cap_ops) {
		c->cap_ops = c->cap_ops ? c->cap_ops * 2 : 16;
		c->ops = shunt_xrealloc(c->ops, c->cap_ops * sizeof(*c->ops));
	}
	op = &c->ops[c->n_ops++];
	op->op = json_object();
	op->line = c->line;
	json_object_set_new(op->op, kind, body);
	if (strcmp(kind, "create_table") == 0 || strcmp(kind, "add_column") == 0) {
		bool table = kind[0] == 'c' && kind[1] == 'r';
		shunt_buf k = SHUNT_BUF_INIT;

		buf_init(&k);
		index_key(&k, table ? str(body, "name") : str(body, "table"),
				  table ? NULL : str(json_object_get(body, "column"), "name"));
		json_object_set_new(c->index, buf_str(&k), json_integer((json_int_t)(c->n_ops - 1)));
		buf_release(&k);
	}
	buf_init(&op->comment);
	buf_printf(&op->comment, "line %zu: ", c->line);
	put_excerpt(c, &op->comment);
	return op;
}

void
conv_comment(conv_op *op, const char *fmt, ...)
{
	va_list ap;

	buf_putc(&op->comment, '\n');
	va_start(ap, fmt);
	buf_vprintf(&op->comment, fmt, ap);
	va_end(ap);
}

void
conv_msg(conv_ctx *c, pg_convert_level level, const char *fmt, ...)
{
	shunt_buf b = SHUNT_BUF_INIT;
	va_list ap;

	if (c->n_msgs == c->cap_msgs) {
		c->cap_msgs = c->cap_msgs ? c->cap_msgs * 2 : 8;
		c->msgs = shunt_xrealloc(c->msgs, c->cap_msgs * sizeof(*c->msgs));
	}
	buf_init(&b);
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	c->msgs[c->n_msgs].level = level;
	c->msgs[c->n_msgs].line = c->line;
	c->msgs[c->n_msgs].text = buf_detach(&b);
	c->n_msgs++;
}

static bool
name_used(const conv_ctx *c, const char *name)
{
	return json_object_get(c->names, name) != NULL;
}

void
conv_use_name(conv_ctx *c, const char *name)
{
	if (name != NULL)
		json_object_set_new(c->names, name, json_true());
}

/* The operation recorded under table[, column], or NULL. */
static json_t *
indexed_op(conv_ctx *c, const char *kind, const char *table, const char *column)
{
	shunt_buf k = SHUNT_BUF_INIT;
	json_t *i;

	buf_init(&k);
	index_key(&k, table, column);
	i = json_object_get(c->index, buf_str(&k));
	buf_release(&k);
	return json_is_integer(i) ? conv_op_body(c, (size_t)json_integer_value(i), kind) : NULL;
}

char *
conv_choose_name(conv_ctx *c, const char *table, json_t *cols, const char *label)
{
	char *name = conv_default_name(table, cols, label);

	for (int pass = 1; name_used(c, name) && pass < 1000; pass++) {
		char mod[64];

		free(name);
		snprintf(mod, sizeof(mod), "%s%d", label, pass);
		name = conv_default_name(table, cols, mod);
	}
	conv_use_name(c, name);
	return name;
}

json_t *
conv_op_body(const conv_ctx *c, size_t i, const char *kind)
{
	return json_object_get(c->ops[i].op, kind);
}

conv_op *
conv_op_of_body(conv_ctx *c, json_t *body)
{
	const char *kind;
	json_t *b;

	for (size_t i = 0; i < c->n_ops; i++)
		json_object_foreach(c->ops[i].op, kind, b) {
			if (b == body)
				return &c->ops[i];
		}
	return &c->ops[c->n_ops - 1];
}

json_t *
conv_created_table(conv_ctx *c, const char *name)
{
	return name ? indexed_op(c, "create_table", name, NULL) : NULL;
}

json_t *
conv_new_column(conv_ctx *c, const char *table, const char *column, json_t **add_op)
{
	json_t *t = conv_created_table(c, table), *col;
	size_t i;

	*add_op = NULL;
	json_array_foreach(json_object_get(t, "columns"), i, col) {
		if (strcmp(str(col, "name"), column) == 0)
			return col;
	}
	if ((*add_op = indexed_op(c, "add_column", table, column)) != NULL)
		return json_object_get(*add_op, "column");
	return NULL;
}

/* ---- text ---- */

char *
conv_slice(conv_ctx *c, size_t first, size_t end)
{
	return sqlf_slice(c->f, first, end);
}

char *
conv_paren_after(conv_ctx *c, size_t off, const char *word)
{
	const sqlf_file *f = c->f;
	size_t t = sqlf_tok_at(f, off), close;
	long depth = 0;

	/* the word at depth 0 (never past the end of an enclosing list) */
	for (; t < c->s->tok_end; t = sqlf_tok_next(f, t)) {
		if (depth == 0 && sqlf_tok_is(f, t, word))
			break;
		if (sqlf_tok_is(f, t, "("))
			depth++;
		else if (sqlf_tok_is(f, t, ")") && --depth < 0)
			return NULL;
	}
	/* then its "(" */
	for (; t < c->s->tok_end && !sqlf_tok_is(f, t, "("); t = sqlf_tok_next(f, t))
		if (sqlf_tok_is(f, t, ",") || sqlf_tok_is(f, t, ")"))
			return NULL;
	if (t >= c->s->tok_end)
		return NULL;
	close = sqlf_match_paren(f, t, c->s->tok_end);
	if (close >= c->s->tok_end)
		return NULL;
	return conv_slice(c, sqlf_tok_next(f, t), close);
}

char *
conv_type_text(conv_ctx *c, json_t *tn, unsigned stop)
{
	size_t first = sqlf_tok_at(c->f, (size_t)sqlf_int(tn, "location", 0));

	return conv_slice(c, first, sqlf_expr_end(c->f, first, c->s->tok_end, stop));
}

char *
conv_default_text(conv_ctx *c, json_t *con)
{
	size_t t = sqlf_tok_at(c->f, (size_t)sqlf_int(con, "location", 0));

	while (t < c->s->tok_end && !sqlf_tok_is(c->f, t, "DEFAULT"))
		t = sqlf_tok_next(c->f, t);
	t = sqlf_tok_next(c->f, t);
	return conv_slice(c, t, sqlf_expr_end(c->f, t, c->s->tok_end, SQLF_STOP_COLUMN_CONSTRAINT));
}

/* ---- other statements ---- */

void
conv_sql_for_statement(conv_ctx *c, const char *why)
{
	char *text = shunt_xstrndup(c->f->text + c->s->start, c->s->end - c->s->start);
	conv_op *op = conv_add(c, "sql", json_pack("{s:s}", "up", text));

	shunt_buf ex = SHUNT_BUF_INIT;

	conv_comment(op, "note: an sql operation: %s", why);
	buf_init(&ex);
	put_excerpt(c, &ex);
	conv_msg(c, PG_CONVERT_WARNING, "converted to an sql operation (%s): %s", why, buf_str(&ex));
	buf_release(&ex);
	free(text);
}

static bool
convert_rename(conv_ctx *c, json_t *st, const char **why)
{
	const char *type = str(st, "renameType");
	const char *table = str(json_object_get(st, "relation"), "relname");
	const char *sub = str(st, "subname"), *to = str(st, "newname");

	*why = "no shunt operation renames this kind of object";
	if (type == NULL || table == NULL || to == NULL)
		return false;
	if (strcmp(type, "OBJECT_COLUMN") == 0 && sub && strcmp(str(st, "relationType"), "OBJECT_TABLE") == 0)
		conv_add(c, "rename_column", json_pack("{s:s, s:s, s:s}", "table", table, "from", sub, "to", to));
	else if (strcmp(type, "OBJECT_TABLE") == 0)
		conv_add(c, "rename_table", json_pack("{s:s, s:s}", "from", table, "to", to));
	else if (strcmp(type, "OBJECT_TABCONSTRAINT") == 0 && sub)
		conv_add(c, "rename_constraint",
				 json_pack("{s:s, s:s, s:s}", "table", table, "from", sub, "to", to));
	else
		return false;
	return true;
}

static bool
convert_drop(conv_ctx *c, json_t *st, const char **why)
{
	const char *type = str(st, "removeType"), *behavior = str(st, "behavior");
	bool table = type && strcmp(type, "OBJECT_TABLE") == 0;
	size_t i;
	json_t *obj;

	if (!table && !(type && strcmp(type, "OBJECT_INDEX") == 0)) {
		*why = "only tables and indexes have drop operations";
		return false;
	}
	if (behavior && strcmp(behavior, "DROP_CASCADE") == 0) {
		*why = "CASCADE";
		return false;
	}
	json_array_foreach(json_object_get(st, "objects"), i, obj) {
		const char *name = sqlf_last_name(json_object_get(json_object_get(obj, "List"), "items"));

		if (name != NULL)
			conv_add(c, table ? "drop_table" : "drop_index", json_pack("{s:s}", "name", name));
	}
	return true;
}

static bool
convert_comment(conv_ctx *c, json_t *st, const char **why)
{
	const char *type = str(st, "objtype"), *text = str(st, "comment");
	json_t *items = json_object_get(json_object_get(json_object_get(st, "object"), "List"), "items");
	size_t n = json_array_size(items);
	const char *table, *col;
	json_t *newcol, *add, *body;

	*why = "only comments on columns and new tables have a field";
	if (type == NULL || n < 1)
		return false;
	if (strcmp(type, "OBJECT_TABLE") == 0) {
		json_t *t = conv_created_table(c, sqlf_last_name(items));

		if (t == NULL)
			return false;
		if (text)
			json_object_set_new(t, "comment", json_string(text));
		else
			json_object_del(t, "comment");
		return true;
	}
	if (strcmp(type, "OBJECT_COLUMN") != 0 || n < 2)
		return false;
	table = sqlf_node_str(json_array_get(items, n - 2));
	col = sqlf_node_str(json_array_get(items, n - 1));
	if ((newcol = conv_new_column(c, table, col, &add)) != NULL) {
		if (text)
			json_object_set_new(newcol, "comment", json_string(text));
		else
			json_object_del(newcol, "comment");
		return true;
	}
	conv_alter_op(c, table, col, &body);
	json_object_set_new(body, "comment", text ? json_string(text) : json_null());
	return true;
}

/* SET/RESET lock_timeout or statement_timeout, plain or through
 * set_config(): shunt sets its own. */
static bool
is_timeout_setting(const char *kind, json_t *st)
{
	const char *name = NULL;

	if (strcmp(kind, "VariableSetStmt") == 0)
		name = str(st, "name");
	else if (strcmp(kind, "SelectStmt") == 0 && json_array_size(json_object_get(st, "targetList")) == 1 &&
			 json_object_get(st, "fromClause") == NULL) {
		json_t *fc = json_object_get(json_object_get(json_object_get(json_array_get(
			json_object_get(st, "targetList"), 0), "ResTarget"), "val"), "FuncCall");
		const char *fn = sqlf_last_name(json_object_get(fc, "funcname"));

		if (fn && strcmp(fn, "set_config") == 0)
			name = sqlf_const_str(json_array_get(json_object_get(fc, "args"), 0));
	}
	return name && (strcmp(name, "lock_timeout") == 0 || strcmp(name, "statement_timeout") == 0);
}

static void
convert_statement(conv_ctx *c)
{
	const char *k = c->s->kind, *why = "no shunt operation does this";
	json_t *st = c->s->body;
	bool ok = false;

	if (k == NULL)
		return;
	if (strcmp(k, "TransactionStmt") == 0) {
		conv_msg(c, PG_CONVERT_NOTE, "transaction control dropped: shunt runs each step in its "
									 "own transaction");
		return;
	}
	if (is_timeout_setting(k, st)) {
		conv_msg(c, PG_CONVERT_NOTE, "timeout setting dropped: shunt sets lock_timeout itself "
									 "(--lock-timeout)");
		return;
	}
	if (strcmp(k, "AlterTableStmt") == 0) {
		conv_alter_table(c, st);
		return;
	}
	if (strcmp(k, "CreateStmt") == 0)
		ok = conv_create_table(c, st, &why);
	else if (strcmp(k, "IndexStmt") == 0)
		ok = conv_create_index(c, st, &why);
	else if (strcmp(k, "RenameStmt") == 0)
		ok = convert_rename(c, st, &why);
	else if (strcmp(k, "DropStmt") == 0)
		ok = convert_drop(c, st, &why);
	else if (strcmp(k, "CommentStmt") == 0)
		ok = convert_comment(c, st, &why);
	if (!ok)
		conv_sql_for_statement(c, why);
}

/* ---- the result ---- */

static size_t
count_todo(json_t *v)
{
	const char *key;
	json_t *x;
	size_t i, n = 0;

	if (json_is_string(v))
		return strcmp(json_string_value(v), PG_CONVERT_TODO_UP) == 0 ||
			   strcmp(json_string_value(v), PG_CONVERT_TODO_DOWN) == 0;
	if (json_is_array(v)) {
		json_array_foreach(v, i, x) {
			n += count_todo(x);
		}
	} else if (json_is_object(v)) {
		json_object_foreach(v, key, x) {
			n += count_todo(x);
		}
	}
	return n;
}

int
pg_convert(const char *sql, size_t len, const char *filename, pg_conversion *out, shunt_error *err)
{
	sqlf_file f;
	conv_ctx c;
	json_t *ops;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	memset(&c, 0, sizeof(c));
	if (sqlf_load(&f, filename, sql, len, err) != 0)
		goto done;
	if (f.syntax_error) {
		size_t line, col;

		sqlf_position(&f, f.error_offset, &line, &col);
		shunt_error_set(err, SHUNT_E_INPUT, "%s:%zu:%zu: %s", f.name, line, col, f.error_message);
		goto done;
	}
	c.f = &f;
	c.names = json_object();
	c.index = json_object();
	for (size_t i = 0; i < f.n_stmts; i++) {
		c.s = &f.stmts[i];
		c.line = sqlf_line(&f, c.s->start);
		convert_statement(&c);
	}
	ops = json_array();
	out->comments = shunt_xcalloc(c.n_ops + 1, sizeof(char *));
	for (size_t i = 0; i < c.n_ops; i++) {
		json_array_append_new(ops, c.ops[i].op);
		out->comments[i] = buf_detach(&c.ops[i].comment);
	}
	out->n_ops = c.n_ops;
	out->root = json_pack("{s:o}", "operations", ops);
	out->n_placeholders = count_todo(ops);
	out->msgs = c.msgs;
	out->n_msgs = c.n_msgs;
	c.msgs = NULL;
	c.n_msgs = 0;
	c.n_ops = 0;
	rc = 0;
done:
	for (size_t i = 0; i < c.n_ops; i++) {
		json_decref(c.ops[i].op);
		buf_release(&c.ops[i].comment);
	}
	free(c.ops);
	for (size_t i = 0; i < c.n_msgs; i++)
		free(c.msgs[i].text);
	free(c.msgs);
	json_decref(c.names);
	json_decref(c.index);
	sqlf_release(&f);
	return rc;
}

void
pg_conversion_release(pg_conversion *c)
{
	json_decref(c->root);
	for (size_t i = 0; c->comments && i < c->n_ops; i++)
		free(c->comments[i]);
	free(c->comments);
	for (size_t i = 0; i < c->n_msgs; i++)
		free(c->msgs[i].text);
	free(c->msgs);
	memset(c, 0, sizeof(*c));
}

static void
put_comment_lines(shunt_buf *b, const char *text, int indent)
{
	while (text && *text) {
		size_t n = strcspn(text, "\n");

		for (int i = 0; i < indent; i++)
			buf_putc(b, ' ');
		buf_put(b, "# ");
		buf_putn(b, text, n);
		buf_putc(b, '\n');
		text += n + (text[n] ? 1 : 0);
	}
}

char *
pg_conversion_yaml(const pg_conversion *c, const char *filename)
{
	shunt_buf b = SHUNT_BUF_INIT;
	json_t *ops = json_object_get(c->root, "operations"), *op;
	size_t i;

	buf_init(&b);
	buf_printf(&b, "# Converted by shunt convert from %s.\n", filename ? filename : "<stdin>");
	if (c->n_placeholders > 0)
		buf_printf(&b, "# %zu \"TODO\" value%s to fill in: see the comments below.\n",
				   c->n_placeholders, c->n_placeholders == 1 ? "" : "s");
	if (json_array_size(ops) == 0) {
		buf_put(&b, "operations: []\n");
		return buf_detach(&b);
	}
	buf_put(&b, "operations:\n");
	json_array_foreach(ops, i, op) {
		put_comment_lines(&b, c->comments[i], 2);
		yaml_emit_item(&b, op, 2);
	}
	return buf_detach(&b);
}

char *
pg_conversion_json(const pg_conversion *c)
{
	char *s = json_dumps(c->root, JSON_INDENT(2));
	char *copy = shunt_xstrdup(s ? s : "{}");

	free(s);
	return copy;
}

/* One detail line per placeholder: operation, field, what to write. */
static void
describe_placeholders(const pg_conversion *c, shunt_buf *b)
{
	json_t *ops = json_object_get(c->root, "operations"), *op, *body;
	size_t i;
	const char *kind;

	json_array_foreach(ops, i, op) {
		json_object_foreach(op, kind, body) {
			const char *t = str(body, "table") ? str(body, "table") : "";
			const char *col = str(body, "column") ? str(body, "column")
												  : str(json_object_get(body, "column"), "name");

			if (count_todo(json_object_get(body, "up")) > 0)
				buf_printf(b, "operation %zu (%s \"%s\".\"%s\"): up: the new value from the old row. ",
						   i + 1, kind, t, col ? col : "");
			if (count_todo(json_object_get(body, "down")) > 0)
				buf_printf(b, "operation %zu (%s \"%s\".\"%s\"): down: the old value from the new "
							  "row, e.g. CAST(%s AS <old type>). ",
						   i + 1, kind, t, col ? col : "", col ? col : "");
		}
	}
}

shunt_migration *
pg_convert_to_migration(const char *sql, const char *filename, shunt_error *err)
{
	pg_conversion conv;
	shunt_migration *m = NULL;
	char *json;

	if (pg_convert(sql, strlen(sql), filename, &conv, err) != 0)
		return NULL;
	if (conv.n_placeholders > 0) {
		shunt_buf d = SHUNT_BUF_INIT;

		buf_init(&d);
		describe_placeholders(&conv, &d);
		shunt_error_set(err, SHUNT_E_INPUT, "%s: %zu value%s that SQL does not say %s missing",
						filename ? filename : "<stdin>", conv.n_placeholders,
						conv.n_placeholders == 1 ? "" : "s", conv.n_placeholders == 1 ? "is" : "are");
		shunt_error_detail(err, "%s", buf_str(&d));
		shunt_error_hint(err, "Run \"shunt convert %s > FILE.yaml\", replace each \"TODO\" value, "
							  "and start FILE.yaml.",
						 filename ? filename : "-");
		buf_release(&d);
		pg_conversion_release(&conv);
		return NULL;
	}
	json = pg_conversion_json(&conv);
	m = migration_parse(json, strlen(json), filename, err);
	free(json);
	pg_conversion_release(&conv);
	return m;
}
