/*
 * pg_convert_alter.c: ALTER TABLE for `shunt convert` (see pg_convert.h):
 * one operation per subcommand, changes of a new table or column folded
 * into its create_table or add_column, several changes of one column into
 * one alter_column, and an sql operation for a subcommand with no
 * operation of its own.
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

/* ---- placeholders ---- */

static void
todo_up(conv_op *op, json_t *body, const char *column, const char *what)
{
	const char *prev = str(body, "up");

	if (prev != NULL && strcmp(prev, PG_CONVERT_TODO_UP) != 0)
		conv_comment(op, "up was %s before the next change of \"%s\"", prev, column);
	json_object_set_new(body, "up", json_string(PG_CONVERT_TODO_UP));
	conv_comment(op, "TODO: up: %s; it runs for every existing row and every row the old "
					 "version writes (column \"%s\" names the old value)",
				 what, column);
}

/* ---- ALTER TABLE ---- */

typedef struct alter_ctx {
	conv_ctx *c;
	const char *table;
	size_t rel_first, rel_end;	/* tokens of the table name */
	size_t cmd_first, cmd_end;	/* tokens of the subcommand */
	bool spans;					/* cmd_first/cmd_end are known */
} alter_ctx;

/* The alter_column operation for table.column to add a change to: the last
 * one of this migration, unless a rename came after it. */
static conv_op *
alter_target(conv_ctx *c, const char *table, const char *column)
{
	for (size_t i = c->n_ops; i > 0; i--) {
		json_t *b = conv_op_body(c, i - 1, "alter_column");

		if (b && strcmp(str(b, "table"), table) == 0 && strcmp(str(b, "column"), column) == 0)
			return &c->ops[i - 1];
		if ((b = conv_op_body(c, i - 1, "rename_column")) != NULL && strcmp(str(b, "table"), table) == 0 &&
			(strcmp(str(b, "from"), column) == 0 || strcmp(str(b, "to"), column) == 0))
			return NULL;
		if ((b = conv_op_body(c, i - 1, "rename_table")) != NULL &&
			(strcmp(str(b, "from"), table) == 0 || strcmp(str(b, "to"), table) == 0))
			return NULL;
	}
	return NULL;
}

conv_op *
conv_alter_op(conv_ctx *c, const char *table, const char *column, json_t **body)
{
	conv_op *op = alter_target(c, table, column);

	if (op != NULL) {
		*body = json_object_get(op->op, "alter_column");
		if (op->line != c->line)
			conv_comment(op, "line %zu: also changes \"%s\" (one alter_column per column)",
						 c->line, column);
		return op;
	}
	*body = json_pack("{s:s, s:s}", "table", table, "column", column);
	return conv_add(c, "alter_column", *body);
}

static bool
cmd_add_column(alter_ctx *a, json_t *cmd, const char **why)
{
	conv_ctx *c = a->c;
	json_t *def = json_object_get(json_object_get(cmd, "def"), "ColumnDef");
	json_t *created = conv_created_table(c, a->table);
	json_t *col = conv_column(c, a->table, def, NULL, why), *body;
	conv_op *op;

	if (col == NULL)
		return false;
	if (created != NULL) {
		json_array_append_new(json_object_get(created, "columns"), col);
		return true;
	}
	if (json_is_true(json_object_get(col, "pk"))) {
		*why = "a PRIMARY KEY column (add_column cannot make one: add the column, then "
			   "create_constraint)";
		json_decref(col);
		return false;
	}
	/* an identity column is NOT NULL whatever the file says, and can take
	 * no "up" (GENERATED ALWAYS refuses the sync trigger's writes); shunt
	 * would ask for one for a NOT NULL column without a default */
	if (json_object_get(json_object_get(col, "generated"), "identity") != NULL)
		json_object_set_new(col, "nullable", json_true());
	body = json_pack("{s:s, s:o}", "table", a->table, "column", col);
	op = conv_add(c, "add_column", body);
	if (json_object_get(json_object_get(col, "generated"), "identity") != NULL)
		conv_comment(op, "note: nullable: true because PostgreSQL makes an identity column NOT "
						 "NULL itself");
	if (!json_is_true(json_object_get(col, "nullable")) && !json_object_get(col, "default") &&
		!json_object_get(col, "generated"))
		todo_up(op, body, str(col, "name"), "the value of the new NOT NULL column for existing rows");
	return true;
}

static bool
cmd_alter_type(alter_ctx *a, json_t *cmd, const char **why)
{
	conv_ctx *c = a->c;
	const char *col = str(cmd, "name");
	json_t *def = json_object_get(json_object_get(cmd, "def"), "ColumnDef");
	json_t *tn = json_object_get(def, "typeName"), *newcol, *add, *body;
	char *type;
	shunt_buf up = SHUNT_BUF_INIT;
	conv_op *op;

	if (col == NULL || tn == NULL || json_object_get(def, "collClause")) {
		*why = "ALTER COLUMN ... TYPE ... COLLATE";
		return false;
	}
	type = conv_type_text(c, tn, SQLF_STOP_USING | SQLF_STOP_COLLATE);
	if ((newcol = conv_new_column(c, a->table, col, &add)) != NULL) {
		json_object_set_new(newcol, "type", json_string(type));
		if (json_object_get(def, "raw_default"))
			conv_msg(c, PG_CONVERT_WARNING, "USING dropped: column \"%s\" is new in this migration",
					 col);
		free(type);
		return true;
	}
	buf_init(&up);
	if (json_object_get(def, "raw_default")) {
		size_t t = a->cmd_first;

		while (t < a->cmd_end && !sqlf_tok_is(c->f, t, "USING"))
			t = sqlf_tok_next(c->f, t);
		sqlf_put_slice(&up, c->f, sqlf_tok_next(c->f, t), a->cmd_end);
	} else {
		buf_put(&up, "CAST(");
		sqlf_put_ident(&up, col);
		buf_printf(&up, " AS %s)", type);
	}
	op = conv_alter_op(c, a->table, col, &body);
	json_object_set_new(body, "type", json_string(type));
	if (json_object_get(body, "up") != NULL)
		todo_up(op, body, col, "one expression for all the changes of this column");
	else
		json_object_set_new(body, "up", json_string(buf_str(&up)));
	json_object_set_new(body, "down", json_string(PG_CONVERT_TODO_DOWN));
	conv_comment(op, "TODO: down: the old value of \"%s\" from the new one, for rows the new "
					 "version writes; for example CAST(%s AS <its current type>)",
				 col, col);
	conv_msg(c, PG_CONVERT_WARNING, "alter_column \"%s\".\"%s\": \"down\" cannot be derived "
									"without the current type: fill in the TODO",
			 a->table, col);
	buf_release(&up);
	free(type);
	return true;
}

static bool
cmd_nullable(alter_ctx *a, json_t *cmd, bool nullable)
{
	conv_ctx *c = a->c;
	const char *col = str(cmd, "name");
	json_t *newcol, *add, *body;
	conv_op *op;

	if ((newcol = conv_new_column(c, a->table, col, &add)) != NULL) {
		if (nullable)
			json_object_set_new(newcol, "nullable", json_true());
		else
			json_object_del(newcol, "nullable");
		if (!nullable && add != NULL && !json_object_get(add, "up") &&
			!json_object_get(newcol, "default"))
			todo_up(conv_op_of_body(c, add), add, col,
					"the value of the new NOT NULL column for existing rows");
		return true;
	}
	op = conv_alter_op(c, a->table, col, &body);
	json_object_set_new(body, "nullable", nullable ? json_true() : json_false());
	if (!nullable)
		todo_up(op, body, col,
				json_object_get(body, "up") ? "the new value, NULLs mapped to a value too"
											: "the value NULLs become, e.g. coalesce(col, <value>)");
	return true;
}

static bool
cmd_default(alter_ctx *a, json_t *cmd, const char **why)
{
	conv_ctx *c = a->c;
	const char *col = str(cmd, "name");
	json_t *newcol, *add, *body;
	json_t *value = json_null();

	if (json_object_get(cmd, "def") != NULL) {
		size_t t = a->cmd_first;
		char *text;

		if (!a->spans) {
			*why = "a SET DEFAULT that cannot be located";
			return false;
		}
		while (t < a->cmd_end && !sqlf_tok_is(c->f, t, "DEFAULT"))
			t = sqlf_tok_next(c->f, t);
		text = conv_slice(c, sqlf_tok_next(c->f, t), a->cmd_end);
		value = json_string(text);
		free(text);
	}
	if ((newcol = conv_new_column(c, a->table, col, &add)) != NULL) {
		if (json_is_null(value))
			json_object_del(newcol, "default");
		else
			json_object_set(newcol, "default", value);
		json_decref(value);
		return true;
	}
	conv_alter_op(c, a->table, col, &body);
	json_object_set_new(body, "default", value);
	return true;
}

/*
 * A one-column unique, check or foreign key on a column that an
 * alter_column of this migration already changes goes into that
 * alter_column (shunt duplicates a column once per migration).  Takes x
 * (a create_constraint body) when it returns true.
 */
static bool
fold_into_alter(conv_ctx *c, const char *table, json_t *x)
{
	json_t *cols = json_object_get(x, "columns"), *body, *ref;
	const char *type = str(x, "type"), *col = json_string_value(json_array_get(cols, 0));
	conv_op *op;

	if (json_array_size(cols) != 1 || (op = alter_target(c, table, col)) == NULL)
		return false;
	body = json_object_get(op->op, "alter_column");
	if (strcmp(type, "unique") == 0 && !json_object_get(body, "unique") &&
		!json_object_get(x, "index_parameters"))
		json_object_set_new(body, "unique", json_pack("{s:O}", "name", json_object_get(x, "name")));
	else if (strcmp(type, "check") == 0 && !json_object_get(body, "check"))
		json_object_set_new(body, "check", json_pack("{s:O, s:O}", "name", json_object_get(x, "name"),
													 "constraint", json_object_get(x, "check")));
	else if (strcmp(type, "foreign_key") == 0 && !json_object_get(body, "references") &&
			 json_array_size(json_object_get(json_object_get(x, "references"), "columns")) == 1) {
		json_t *r = json_object_get(x, "references");
		const char *k;
		json_t *v;

		ref = json_pack("{s:O, s:O, s:O}", "name", json_object_get(x, "name"), "table",
						json_object_get(r, "table"), "column",
						json_array_get(json_object_get(r, "columns"), 0));
		json_object_foreach(r, k, v) {
			if (strcmp(k, "on_delete") == 0 || strcmp(k, "on_update") == 0 ||
				strcmp(k, "match_type") == 0)
				json_object_set(ref, k, v);
		}
		json_object_set_new(body, "references", ref);
	} else
		return false;
	if (op->line != c->line)
		conv_comment(op, "line %zu: also adds constraint \"%s\"", c->line, str(x, "name"));
	json_decref(x);
	return true;
}

static bool
cmd_add_constraint(alter_ctx *a, json_t *cmd, const char **why)
{
	conv_ctx *c = a->c;
	json_t *con = json_object_get(json_object_get(cmd, "def"), "Constraint");
	json_t *created = conv_created_table(c, a->table), *x;
	conv_op *op;

	if (created != NULL) {
		if ((x = conv_table_constraint(c, a->table, con, why)) == NULL)
			return false;
		if (json_object_get(created, "constraints") == NULL)
			json_object_set_new(created, "constraints", json_array());
		json_array_append_new(json_object_get(created, "constraints"), x);
		return true;
	}
	if ((x = conv_create_constraint(c, a->table, con, why)) == NULL)
		return false;
	if (fold_into_alter(c, a->table, x))
		return true;
	op = conv_add(c, "create_constraint", x);
	if (json_is_true(json_object_get(con, "skip_validation")))
		conv_comment(op, "note: NOT VALID dropped: shunt creates the constraint NOT VALID and "
						 "validates it at complete");
	if (json_object_get(x, "columns") != NULL)
		conv_comment(op, "note: the columns are duplicated; add up (and down) per column to "
						 "repair values the constraint would reject");
	return true;
}

static bool
cmd_drop_constraint(alter_ctx *a, json_t *cmd, const char **why)
{
	conv_ctx *c = a->c;
	const char *name = str(cmd, "name");
	json_t *created = conv_created_table(c, a->table), *x;
	size_t i;

	if (str(cmd, "behavior") && strcmp(str(cmd, "behavior"), "DROP_CASCADE") == 0) {
		*why = "CASCADE";
		return false;
	}
	if (created != NULL) {
		json_array_foreach(json_object_get(created, "constraints"), i, x) {
			if (strcmp(str(x, "name"), name) == 0) {
				json_array_remove(json_object_get(created, "constraints"), i);
				return true;
			}
		}
		*why = "dropping a column constraint of a table this migration creates";
		return false;
	}
	for (i = c->n_ops; i > 0; i--) {
		json_t *b = conv_op_body(c, i - 1, "create_constraint");

		if (b && strcmp(str(b, "table"), a->table) == 0 && strcmp(str(b, "name"), name) == 0 &&
			json_array_size(json_object_get(b, "columns")) > 1) {
			conv_add(c, "drop_multicolumn_constraint",
					 json_pack("{s:s, s:s}", "table", a->table, "name", name));
			return true;
		}
	}
	conv_add(c, "drop_constraint", json_pack("{s:s, s:s}", "table", a->table, "name", name));
	return true;
}

static bool
cmd_validate(alter_ctx *a, json_t *cmd, const char **why)
{
	conv_ctx *c = a->c;
	const char *name = str(cmd, "name");

	for (size_t i = c->n_ops; i > 0; i--) {
		json_t *b = conv_op_body(c, i - 1, "create_constraint");

		if (b && strcmp(str(b, "table"), a->table) == 0 && strcmp(str(b, "name"), name) == 0) {
			conv_msg(c, PG_CONVERT_NOTE, "VALIDATE CONSTRAINT \"%s\" dropped: shunt validates it "
										 "at complete", name);
			return true;
		}
	}
	*why = "VALIDATE CONSTRAINT of a constraint this migration does not create";
	return false;
}

static bool
cmd_replica_identity(alter_ctx *a, json_t *cmd)
{
	json_t *ri = json_object_get(json_object_get(cmd, "def"), "ReplicaIdentityStmt");
	const char *t = str(ri, "identity_type"), *type;

	switch (t ? t[0] : 'd') {
	case 'n':
		type = "nothing";
		break;
	case 'f':
		type = "full";
		break;
	case 'i':
		type = "index";
		break;
	default:
		type = "default";
	}
	conv_add(a->c, "set_replica_identity",
			 json_pack("{s:s, s:{s:s, s:s}}", "table", a->table, "identity", "type", type, "index",
					   str(ri, "name") ? str(ri, "name") : ""));
	return true;
}

static bool
alter_cmd(alter_ctx *a, json_t *cmd, const char **why)
{
	conv_ctx *c = a->c;
	const char *sub = str(cmd, "subtype"), *col = str(cmd, "name");
	bool cascade = str(cmd, "behavior") && strcmp(str(cmd, "behavior"), "DROP_CASCADE") == 0;
	json_t *newcol, *add;

	*why = "no shunt operation does this";
	if (sub == NULL)
		return false;
	if (strcmp(sub, "AT_AddColumn") == 0)
		return cmd_add_column(a, cmd, why);
	if (strcmp(sub, "AT_AlterColumnType") == 0)
		return cmd_alter_type(a, cmd, why);
	if (strcmp(sub, "AT_SetNotNull") == 0 || strcmp(sub, "AT_DropNotNull") == 0)
		return cmd_nullable(a, cmd, strcmp(sub, "AT_DropNotNull") == 0);
	if (strcmp(sub, "AT_ColumnDefault") == 0)
		return cmd_default(a, cmd, why);
	if (strcmp(sub, "AT_AddConstraint") == 0)
		return cmd_add_constraint(a, cmd, why);
	if (strcmp(sub, "AT_DropConstraint") == 0)
		return cmd_drop_constraint(a, cmd, why);
	if (strcmp(sub, "AT_ValidateConstraint") == 0)
		return cmd_validate(a, cmd, why);
	if (strcmp(sub, "AT_ReplicaIdentity") == 0)
		return cmd_replica_identity(a, cmd);
	if (strcmp(sub, "AT_DropColumn") == 0 && col != NULL) {
		if (cascade) {
			*why = "DROP COLUMN ... CASCADE";
			return false;
		}
		if ((newcol = conv_new_column(c, a->table, col, &add)) != NULL && add == NULL) {
			json_t *cols = json_object_get(conv_created_table(c, a->table), "columns"), *x;
			size_t i;

			json_array_foreach(cols, i, x) {
				if (x == newcol) {
					json_array_remove(cols, i);
					break;
				}
			}
			return true;
		}
		conv_add(c, "drop_column", json_pack("{s:s, s:s}", "table", a->table, "column", col));
		return true;
	}
	return false;
}

/* "ALTER TABLE <table> <subcommand>" for an sql operation. */
static void
sql_for_cmd(alter_ctx *a, const char *why)
{
	conv_ctx *c = a->c;
	shunt_buf b = SHUNT_BUF_INIT;
	conv_op *op;

	buf_init(&b);
	buf_put(&b, "ALTER TABLE ");
	sqlf_put_slice(&b, c->f, a->rel_first, a->rel_end);
	buf_putc(&b, ' ');
	sqlf_put_slice(&b, c->f, a->cmd_first, a->cmd_end);
	op = conv_add(c, "sql", json_pack("{s:s}", "up", buf_str(&b)));
	conv_comment(op, "note: an sql operation: %s", why);
	conv_msg(c, PG_CONVERT_WARNING, "converted to an sql operation (%s): %s", why, buf_str(&b));
	buf_release(&b);
}

void
conv_alter_table(conv_ctx *c, json_t *st)
{
	json_t *rel = json_object_get(st, "relation"), *cmds = json_object_get(st, "cmds"), *cmd;
	size_t n = json_array_size(cmds), i;
	size_t *starts = shunt_xcalloc(n + 1, sizeof(size_t));
	size_t *ends = shunt_xcalloc(n + 1, sizeof(size_t));
	const char *objtype = str(st, "objtype");
	alter_ctx a;

	memset(&a, 0, sizeof(a));
	a.c = c;
	a.table = str(rel, "relname");
	if (a.table == NULL || objtype == NULL || strcmp(objtype, "OBJECT_TABLE") != 0) {
		conv_sql_for_statement(c, "only ALTER TABLE has operations");
		goto done;
	}
	if (str(rel, "schemaname"))
		conv_msg(c, PG_CONVERT_WARNING, "schema \"%s\" dropped: shunt works in its --schema",
				 str(rel, "schemaname"));
	a.rel_first = sqlf_tok_at(c->f, (size_t)sqlf_int(rel, "location", 0));
	a.rel_end = sqlf_skip_name(c->f, a.rel_first);
	a.spans = sqlf_alter_cmd_spans(c->f, c->s, rel, n, starts, ends);
	json_array_foreach(cmds, i, cmd) {
		const char *why = NULL;

		a.cmd_first = a.spans ? starts[i] : c->s->tok_first;
		a.cmd_end = a.spans ? ends[i] : c->s->tok_end;
		if (alter_cmd(&a, json_object_get(cmd, "AlterTableCmd"), &why))
			continue;
		if (a.spans)
			sql_for_cmd(&a, why);
		else {
			conv_sql_for_statement(c, why);
			break;
		}
	}
done:
	free(starts);
	free(ends);
}

