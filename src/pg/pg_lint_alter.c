/*
 * pg_lint_alter.c: lint checks of CREATE TABLE and ALTER TABLE: added
 * columns, type changes, NOT NULL, and constraints, with exact SQL for the
 * safe alternative.  See pg_lint.h; the driver is pg_lint.c, type and
 * default knowledge is pg_lint_types.c.  When the file does not declare a
 * column's current type, a type change is a warning naming the condition.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "pg/pg_lint_int.h"

/* ---- text helpers ---- */

/* Appends the type as written (from its location to where it ends). */
static void
put_type(lint_ctx *c, shunt_buf *b, json_t *tn, unsigned stop)
{
	size_t first = sqlf_tok_at(c->f, (size_t)sqlf_int(tn, "location", 0));

	sqlf_put_slice(b, c->f, first, sqlf_expr_end(c->f, first, c->s->tok_end, stop));
}

/* Appends the expression of a DEFAULT constraint as written. */
static void
put_default(lint_ctx *c, shunt_buf *b, json_t *con)
{
	size_t t = sqlf_tok_at(c->f, (size_t)sqlf_int(con, "location", 0));

	while (t < c->s->tok_end && !sqlf_tok_is(c->f, t, "DEFAULT"))
		t = sqlf_tok_next(c->f, t);
	t = sqlf_tok_next(c->f, t);
	sqlf_put_slice(b, c->f, t,
				   sqlf_expr_end(c->f, t, c->s->tok_end, SQLF_STOP_COLUMN_CONSTRAINT));
}

typedef struct alter_ctx {
	lint_ctx *c;
	json_t *rel;
	const char *table;
	bool created;
	size_t rel_first;	/* tokens of the table name */
	size_t rel_end;
	size_t cmd_first;	/* tokens of the current subcommand */
	size_t cmd_end;
	size_t off;			/* where findings on it point */
} alter_ctx;

static void
put_alter(alter_ctx *a, shunt_buf *b)
{
	buf_put(b, "ALTER TABLE ");
	sqlf_put_slice(b, a->c->f, a->rel_first, a->rel_end);
	buf_putc(b, ' ');
}

/* Joins the names of a String list with "_" (PostgreSQL's name addition). */
static void
join_names(shunt_buf *b, json_t *names)
{
	size_t i;
	json_t *n;

	json_array_foreach(names, i, n) {
		if (i > 0)
			buf_putc(b, '_');
		buf_put(b, sqlf_node_str(n) ? sqlf_node_str(n) : "");
	}
}

/* Appends PostgreSQL's name for table, name2 and label, numbered (label1,
 * label2...) past the names the file already uses, and records it. */
static void
choose_name(lint_ctx *c, shunt_buf *b, const char *table, const char *name2, const char *label)
{
	size_t at = b->len;

	sqlf_put_object_name(b, table, name2, label);
	for (int pass = 1; lint_strs_has(&c->names, b->data + at) && pass < 1000; pass++) {
		char mod[64];

		b->len = at;
		b->data[at] = '\0';
		snprintf(mod, sizeof(mod), "%s%d", label, pass);
		sqlf_put_object_name(b, table, name2, mod);
	}
	lint_strs_add(&c->names, b->data + at);
}

/* The single column a CHECK expression names, or NULL for none or many. */
static const char *
single_column(json_t *node, const char **found, bool *many)
{
	const char *key;
	json_t *val;
	size_t i;

	if (json_is_array(node)) {
		json_array_foreach(node, i, val) {
			single_column(val, found, many);
		}
	} else if (json_is_object(node)) {
		json_object_foreach(node, key, val) {
			json_t *fields = json_object_get(val, "fields");
			const char *name = sqlf_node_str(json_array_get(fields, json_array_size(fields) - 1));

			if (strcmp(key, "ColumnRef") == 0 && name != NULL) {
				if (*found != NULL && strcmp(*found, name) != 0)
					*many = true;
				*found = name;
			} else
				single_column(val, found, many);
		}
	}
	return *many ? NULL : *found;
}

/* ---- ADD COLUMN ---- */

typedef struct coldef {
	json_t *def;		/* ColumnDef body */
	const char *name;
	json_t *type;
	json_t *dflt;		/* the DEFAULT constraint body */
	json_t *identity, *generated, *primary, *unique, *foreign, *check;
	bool notnull;
	bool serial;
} coldef;

static void
read_coldef(json_t *def, coldef *cd)
{
	size_t i;
	json_t *con;
	lint_type t;

	memset(cd, 0, sizeof(*cd));
	cd->def = def;
	cd->name = json_string_value(json_object_get(def, "colname"));
	cd->type = json_object_get(def, "typeName");
	lint_type_of(cd->type, &t);
	cd->serial = lint_is_serial(&t);
	json_array_foreach(json_object_get(def, "constraints"), i, con) {
		json_t *b = json_object_get(con, "Constraint");
		const char *ct = json_string_value(json_object_get(b, "contype"));

		if (ct == NULL)
			continue;
		if (strcmp(ct, "CONSTR_DEFAULT") == 0)
			cd->dflt = b;
		else if (strcmp(ct, "CONSTR_NOTNULL") == 0)
			cd->notnull = true;
		else if (strcmp(ct, "CONSTR_IDENTITY") == 0)
			cd->identity = b;
		else if (strcmp(ct, "CONSTR_GENERATED") == 0)
			cd->generated = b;
		else if (strcmp(ct, "CONSTR_PRIMARY") == 0)
			cd->primary = b;
		else if (strcmp(ct, "CONSTR_UNIQUE") == 0)
			cd->unique = b;
		else if (strcmp(ct, "CONSTR_FOREIGN") == 0)
			cd->foreign = b;
		else if (strcmp(ct, "CONSTR_CHECK") == 0)
			cd->check = b;
	}
}

static void
add_column_default(alter_ctx *a, const coldef *cd)
{
	lint_ctx *c = a->c;
	lint_volatility v = cd->dflt ? lint_classify_default(json_object_get(cd->dflt, "raw_expr")) : VOL_NULL;
	shunt_buf b = SHUNT_BUF_INIT;
	lint_finding *fd;

	if (v == VOL_NULL || (c->o->pg_version >= 11 && v == VOL_CONST))
		return;
	fd = lint_report(c, LR_ADDING_FIELD_WITH_DEFAULT, a->off,
					 c->o->pg_version < 11
						 ? "adding column \"%s\" with a DEFAULT rewrites \"%s\" before PostgreSQL 11"
					 : v == VOL_VOLATILE
						 ? "adding column \"%s\" with a volatile DEFAULT rewrites \"%s\""
						 : "adding column \"%s\" with a DEFAULT calling a function not known to be "
						   "immutable or stable may rewrite \"%s\"",
					 cd->name, a->table);
	if (fd == NULL)
		return;
	buf_init(&b);
	put_alter(a, &b);
	buf_put(&b, "ADD COLUMN ");
	sqlf_put_ident(&b, cd->name);
	buf_putc(&b, ' ');
	put_type(c, &b, cd->type, SQLF_STOP_COLUMN_CONSTRAINT);
	buf_put(&b, "; ");
	put_alter(a, &b);
	buf_put(&b, "ALTER COLUMN ");
	sqlf_put_ident(&b, cd->name);
	buf_put(&b, " SET DEFAULT ");
	put_default(c, &b, cd->dflt);
	buf_put(&b, "; then fill existing rows in batches (or shunt's add_column with up)");
	fd->fix = buf_detach(&b);
}

static void
add_column(alter_ctx *a, json_t *cmd)
{
	lint_ctx *c = a->c;
	coldef cd;

	read_coldef(json_object_get(json_object_get(cmd, "def"), "ColumnDef"), &cd);
	lint_check_type(c, cd.type, cd.name);
	lint_set_coltype(c, a->table, cd.name, cd.type);
	if (a->created)
		return;
	if (!json_is_true(json_object_get(cmd, "missing_ok")) && lint_want_robust(c))
		lint_report(c, LR_PREFER_ROBUST_STMTS, a->off,
					"ADD COLUMN without IF NOT EXISTS fails when the file is run again");
	if (cd.serial || cd.identity)
		lint_report(c, LR_ADDING_SERIAL_FIELD, a->off,
					"adding %s column \"%s\" rewrites \"%s\" to number every row",
					cd.serial ? "serial" : "identity", cd.name, a->table);
	if (cd.generated)
		lint_report(c, LR_ADDING_STORED_GENERATED_FIELD, a->off,
					"adding stored generated column \"%s\" rewrites \"%s\"", cd.name, a->table);
	if (!cd.serial && !cd.identity && !cd.generated)
		add_column_default(a, &cd);
	if ((cd.notnull || cd.primary) && !cd.serial && !cd.identity && !cd.generated &&
		(cd.dflt == NULL || lint_classify_default(json_object_get(cd.dflt, "raw_expr")) == VOL_NULL))
		lint_report(c, LR_ADDING_REQUIRED_FIELD, a->off,
					"column \"%s\" is NOT NULL without a DEFAULT: fails on a table with rows",
					cd.name);
	if (cd.primary)
		lint_report(c, LR_ADDING_PRIMARY_KEY_CONSTRAINT, a->off,
					"ADD COLUMN \"%s\" PRIMARY KEY builds the index under ACCESS EXCLUSIVE", cd.name);
	if (cd.unique)
		lint_report(c, LR_DISALLOWED_UNIQUE_CONSTRAINT, a->off,
					"ADD COLUMN \"%s\" UNIQUE builds the index under ACCESS EXCLUSIVE", cd.name);
	if (cd.foreign)
		lint_report(c, LR_ADDING_FOREIGN_KEY_CONSTRAINT, a->off,
					"ADD COLUMN \"%s\" REFERENCES \"%s\" locks both tables against writes", cd.name,
					json_string_value(json_object_get(json_object_get(cd.foreign, "pktable"),
													  "relname")));
	if (cd.check)
		lint_report(c, LR_CONSTRAINT_MISSING_NOT_VALID, a->off,
					"ADD COLUMN \"%s\" CHECK (...) checks every row under ACCESS EXCLUSIVE", cd.name);
}

/* ---- ALTER COLUMN ---- */

static void
alter_type(alter_ctx *a, json_t *cmd)
{
	lint_ctx *c = a->c;
	const char *col = json_string_value(json_object_get(cmd, "name"));
	json_t *def = json_object_get(json_object_get(cmd, "def"), "ColumnDef");
	json_t *tn = json_object_get(def, "typeName"), *using = json_object_get(def, "raw_default");
	const char *using_col = NULL;
	bool using_many = false, using_other, known;
	lint_type o, n;
	lint_type_change tc;
	shunt_buf b = SHUNT_BUF_INIT;
	lint_finding *fd = NULL;

	if (col == NULL || tn == NULL)
		return;
	lint_check_type(c, tn, col);
	/* USING col (the column itself) is no conversion */
	using_other = using != NULL &&
				  (sqlf_node_kind(using, NULL) == NULL ||
				   strcmp(sqlf_node_kind(using, NULL), "ColumnRef") != 0 ||
				   single_column(using, &using_col, &using_many) == NULL ||
				   strcmp(using_col, col) != 0);
	lint_type_of(tn, &n);
	known = lint_known_type(c, a->table, col, &o);
	tc = lint_classify_change(known ? &o : NULL, &n, using_other);
	if (a->created || tc == TC_SAME || tc == TC_SAFE) {
		lint_set_coltype(c, a->table, col, tn);
		return;
	}
	buf_init(&b);
	put_type(c, &b, tn, SQLF_STOP_USING | SQLF_STOP_COLLATE);
	if (tc == TC_MAYBE)
		fd = lint_report(c, LR_CHANGING_COLUMN_TYPE_UNVERIFIED, a->off,
						 "changing the type of \"%s\".\"%s\" to %s rewrites the table unless it "
						 "is %s now",
						 a->table, col, buf_str(&b), lint_catalog_only_from(&n));
	else {
		shunt_buf from = SHUNT_BUF_INIT;

		buf_init(&from);
		if (known) {
			buf_put(&from, " from ");
			lint_put_type(&from, &o);
		}
		fd = lint_report(c, LR_CHANGING_COLUMN_TYPE, a->off,
						 "changing the type of \"%s\".\"%s\"%s to %s rewrites the table%s",
						 a->table, col, buf_str(&from), buf_str(&b),
						 known && strcmp(o.base, "timestamp") == 0 &&
								 strcmp(n.base, "timestamptz") == 0
							 ? " (unless the session TimeZone is UTC, PostgreSQL 12+)"
						 : using_other ? " (USING converts every row)"
									   : "");
		buf_release(&from);
	}
	if (fd) {
		shunt_buf fix = SHUNT_BUF_INIT;

		buf_init(&fix);
		buf_printf(&fix, "shunt: - alter_column: {table: %s, column: %s, type: \"%s\", up: "
						 "\"CAST(%s AS %s)\", down: \"CAST(%s AS <old type>)\"}",
				   a->table, col, buf_str(&b), col, buf_str(&b), col);
		fd->fix = buf_detach(&fix);
	}
	buf_release(&b);
	lint_set_coltype(c, a->table, col, tn);
}

static lint_check *
find_check(lint_ctx *c, const char *table, const char *name)
{
	lint_schema *sc = c->schema;

	for (size_t i = sc->n_checks; i > 0; i--)
		if (sc->checks[i - 1].name && strcmp(sc->checks[i - 1].table, table) == 0 &&
			strcmp(sc->checks[i - 1].name, name) == 0)
			return &sc->checks[i - 1];
	return NULL;
}

static void
set_not_null(alter_ctx *a, json_t *cmd)
{
	lint_ctx *c = a->c;
	const char *col = json_string_value(json_object_get(cmd, "name"));
	shunt_buf b = SHUNT_BUF_INIT, name = SHUNT_BUF_INIT;
	lint_finding *fd;

	if (col == NULL || a->created)
		return;
	if (c->o->pg_version >= 12)
		for (size_t i = 0; i < c->schema->n_checks; i++) {
			const lint_check *k = &c->schema->checks[i];

			if (k->validated && k->notnull_col && strcmp(k->table, a->table) == 0 &&
				strcmp(k->notnull_col, col) == 0)
				return;
		}
	fd = lint_report(c, LR_ADDING_NOT_NULLABLE_FIELD, a->off,
					 "SET NOT NULL on \"%s\".\"%s\" scans the whole table under ACCESS EXCLUSIVE",
					 a->table, col);
	if (fd == NULL)
		return;
	if (c->o->pg_version < 12) {
		fd->fix = shunt_xstrdup("before PostgreSQL 12 SET NOT NULL always scans: keep a "
								"validated CHECK (col IS NOT NULL) NOT VALID constraint instead, "
								"or use shunt's alter_column with nullable: false");
		return;
	}
	buf_init(&b);
	buf_init(&name);
	choose_name(c, &name, a->table, col, "not_null");
	put_alter(a, &b);
	buf_put(&b, "ADD CONSTRAINT ");
	sqlf_put_ident(&b, buf_str(&name));
	buf_put(&b, " CHECK (");
	sqlf_put_ident(&b, col);
	buf_put(&b, " IS NOT NULL) NOT VALID; ");
	put_alter(a, &b);
	buf_put(&b, "VALIDATE CONSTRAINT ");
	sqlf_put_ident(&b, buf_str(&name));
	buf_put(&b, "; ");
	put_alter(a, &b);
	buf_put(&b, "ALTER COLUMN ");
	sqlf_put_ident(&b, col);
	buf_put(&b, " SET NOT NULL; ");
	put_alter(a, &b);
	buf_put(&b, "DROP CONSTRAINT ");
	sqlf_put_ident(&b, buf_str(&name));
	buf_putc(&b, ';');
	fd->fix = buf_detach(&b);
	buf_release(&name);
}

/* ---- constraints ---- */


static void
record_check(lint_ctx *c, const char *table, json_t *con, bool validated)
{
	json_t *nt = json_object_get(json_object_get(con, "raw_expr"), "NullTest");
	json_t *fields = json_object_get(json_object_get(json_object_get(nt, "arg"), "ColumnRef"),
									 "fields");
	const char *name = json_string_value(json_object_get(con, "conname"));
	const char *type = json_string_value(json_object_get(nt, "nulltesttype"));
	lint_schema *sc = c->schema;
	lint_check *k;

	if (sc->n_checks == sc->cap_checks) {
		sc->cap_checks = sc->cap_checks ? sc->cap_checks * 2 : 8;
		sc->checks = shunt_xrealloc(sc->checks, sc->cap_checks * sizeof(*sc->checks));
	}
	k = &sc->checks[sc->n_checks++];
	memset(k, 0, sizeof(*k));
	k->table = shunt_xstrdup(table);
	k->name = name ? shunt_xstrdup(name) : NULL;
	if (type && strcmp(type, "IS_NOT_NULL") == 0 && json_array_size(fields) == 1 &&
		sqlf_node_str(json_array_get(fields, 0)))
		k->notnull_col = shunt_xstrdup(sqlf_node_str(json_array_get(fields, 0)));
	k->validated = validated;
	k->tx = validated || !c->in_tx ? -1 : c->tx;
}

/* "ALTER TABLE t ADD [CONSTRAINT name] ... NOT VALID; ALTER TABLE t
 * VALIDATE CONSTRAINT name;" from the constraint as written. */
static char *
not_valid_fix(alter_ctx *a, json_t *con, const char *label, json_t *cols)
{
	lint_ctx *c = a->c;
	const char *conname = json_string_value(json_object_get(con, "conname"));
	size_t t = sqlf_tok_at(c->f, (size_t)sqlf_int(con, "location", 0));
	shunt_buf b = SHUNT_BUF_INIT, name = SHUNT_BUF_INIT;

	buf_init(&b);
	buf_init(&name);
	if (conname)
		buf_put(&name, conname);
	else if (cols != NULL && json_array_size(cols) > 0) {
		shunt_buf add = SHUNT_BUF_INIT;

		buf_init(&add);
		join_names(&add, cols);
		choose_name(c, &name, a->table, buf_str(&add), label);
		buf_release(&add);
	} else {
		const char *one = NULL;
		bool many = false;

		choose_name(c, &name, a->table,
					single_column(json_object_get(con, "raw_expr"), &one, &many), label);
	}
	put_alter(a, &b);
	buf_put(&b, "ADD ");
	if (!conname) {
		buf_put(&b, "CONSTRAINT ");
		sqlf_put_ident(&b, buf_str(&name));
		buf_putc(&b, ' ');
	}
	sqlf_put_slice(&b, c->f, t, a->cmd_end);
	buf_put(&b, " NOT VALID; ");
	put_alter(a, &b);
	buf_put(&b, "VALIDATE CONSTRAINT ");
	sqlf_put_ident(&b, buf_str(&name));
	buf_put(&b, ";  -- in a separate transaction");
	buf_release(&name);
	return buf_detach(&b);
}

/* "CREATE UNIQUE INDEX CONCURRENTLY ...; ALTER TABLE ... USING INDEX". */
static char *
using_index_fix(alter_ctx *a, json_t *con, bool primary)
{
	const char *conname = json_string_value(json_object_get(con, "conname"));
	json_t *keys = json_object_get(con, "keys");
	shunt_buf b = SHUNT_BUF_INIT, name = SHUNT_BUF_INIT, add = SHUNT_BUF_INIT;
	size_t i;
	json_t *k;

	buf_init(&b);
	buf_init(&name);
	buf_init(&add);
	if (conname)
		buf_put(&name, conname);
	else {
		join_names(&add, keys);
		choose_name(a->c, &name, a->table, primary ? NULL : buf_str(&add),
					primary ? "pkey" : "key");
	}
	buf_put(&b, "CREATE UNIQUE INDEX CONCURRENTLY ");
	sqlf_put_ident(&b, buf_str(&name));
	buf_put(&b, " ON ");
	sqlf_put_slice(&b, a->c->f, a->rel_first, a->rel_end);
	buf_put(&b, " (");
	json_array_foreach(keys, i, k) {
		if (i > 0)
			buf_put(&b, ", ");
		sqlf_put_ident(&b, sqlf_node_str(k) ? sqlf_node_str(k) : "");
	}
	buf_put(&b, "); ");
	put_alter(a, &b);
	buf_put(&b, "ADD CONSTRAINT ");
	sqlf_put_ident(&b, buf_str(&name));
	buf_put(&b, primary ? " PRIMARY KEY USING INDEX " : " UNIQUE USING INDEX ");
	sqlf_put_ident(&b, buf_str(&name));
	buf_putc(&b, ';');
	buf_release(&name);
	buf_release(&add);
	return buf_detach(&b);
}

static void
add_constraint(alter_ctx *a, json_t *con)
{
	lint_ctx *c = a->c;
	const char *ct = json_string_value(json_object_get(con, "contype"));
	const char *name = json_string_value(json_object_get(con, "conname"));
	bool not_valid = json_is_true(json_object_get(con, "skip_validation"));
	bool using_index = json_object_get(con, "indexname") != NULL;
	lint_finding *fd = NULL;

	if (ct == NULL)
		return;
	if (name != NULL)
		lint_strs_add(&c->names, name);
	if (strcmp(ct, "CONSTR_CHECK") == 0)
		record_check(c, a->table, con, !not_valid);
	if (a->created)
		return;
	if (strcmp(ct, "CONSTR_CHECK") == 0 && !not_valid) {
		fd = lint_report(c, LR_CONSTRAINT_MISSING_NOT_VALID, a->off,
						 "CHECK constraint%s%s%s on \"%s\" is validated under ACCESS EXCLUSIVE",
						 name ? " \"" : "", name ? name : "", name ? "\"" : "", a->table);
		if (fd)
			fd->fix = not_valid_fix(a, con, "check", NULL);
	} else if (strcmp(ct, "CONSTR_FOREIGN") == 0 && !not_valid) {
		fd = lint_report(c, LR_ADDING_FOREIGN_KEY_CONSTRAINT, a->off,
						 "FOREIGN KEY%s%s%s on \"%s\" is validated while both tables are locked",
						 name ? " \"" : "", name ? name : "", name ? "\"" : "", a->table);
		if (fd)
			fd->fix = not_valid_fix(a, con, "fkey", json_object_get(con, "fk_attrs"));
	} else if (strcmp(ct, "CONSTR_UNIQUE") == 0 && !using_index) {
		fd = lint_report(c, LR_DISALLOWED_UNIQUE_CONSTRAINT, a->off,
						 "UNIQUE constraint on \"%s\" builds its index under ACCESS EXCLUSIVE",
						 a->table);
		if (fd)
			fd->fix = using_index_fix(a, con, false);
	} else if (strcmp(ct, "CONSTR_PRIMARY") == 0 && !using_index) {
		fd = lint_report(c, LR_ADDING_PRIMARY_KEY_CONSTRAINT, a->off,
						 "PRIMARY KEY on \"%s\" builds its index under ACCESS EXCLUSIVE", a->table);
		if (fd)
			fd->fix = using_index_fix(a, con, true);
	} else if (strcmp(ct, "CONSTR_EXCLUSION") == 0)
		lint_report(c, LR_ADDING_EXCLUSION_CONSTRAINT, a->off,
					"EXCLUDE constraint on \"%s\" is built and checked under ACCESS EXCLUSIVE",
					a->table);
}

static void
validate_constraint(alter_ctx *a, json_t *cmd)
{
	lint_ctx *c = a->c;
	const char *name = json_string_value(json_object_get(cmd, "name"));
	lint_check *k = name ? find_check(c, a->table, name) : NULL;

	if (k == NULL)
		return;
	if (c->in_tx && k->tx == c->tx && !a->created)
		lint_report(c, LR_VALIDATE_IN_SAME_TRANSACTION, a->off,
					"constraint \"%s\" is validated in the transaction that added it", name);
	k->validated = true;
}

/* ---- the statements ---- */

static void
alter_cmd(alter_ctx *a, json_t *cmd)
{
	lint_ctx *c = a->c;
	const char *sub = json_string_value(json_object_get(cmd, "subtype"));
	const char *name = json_string_value(json_object_get(cmd, "name"));
	json_t *def = json_object_get(cmd, "def");
	bool robust = json_is_true(json_object_get(cmd, "missing_ok"));

	if (sub == NULL)
		return;
	if (strcmp(sub, "AT_AddColumn") == 0)
		add_column(a, cmd);
	else if (strcmp(sub, "AT_AlterColumnType") == 0)
		alter_type(a, cmd);
	else if (strcmp(sub, "AT_SetNotNull") == 0)
		set_not_null(a, cmd);
	else if (strcmp(sub, "AT_AddConstraint") == 0)
		add_constraint(a, json_object_get(def, "Constraint"));
	else if (strcmp(sub, "AT_ValidateConstraint") == 0)
		validate_constraint(a, cmd);
	else if (a->created)
		return;
	else if (strcmp(sub, "AT_DropColumn") == 0) {
		lint_finding *fd = lint_report(c, LR_BAN_DROP_COLUMN, a->off,
									   "dropping column \"%s\" of \"%s\" breaks the running "
									   "application if it still uses it",
									   name ? name : "?", a->table);

		if (fd) {
			shunt_buf b = SHUNT_BUF_INIT;

			buf_init(&b);
			buf_printf(&b, "shunt: - drop_column: {table: %s, column: %s}", a->table,
					   name ? name : "?");
			fd->fix = buf_detach(&b);
		}
		if (!robust && lint_want_robust(c))
			lint_report(c, LR_PREFER_ROBUST_STMTS, a->off,
						"DROP COLUMN without IF EXISTS fails when the file is run again");
	} else if (strcmp(sub, "AT_DropNotNull") == 0)
		lint_report(c, LR_BAN_DROP_NOT_NULL, a->off,
					"DROP NOT NULL on \"%s\".\"%s\": older application versions may not expect "
					"NULLs", a->table, name ? name : "?");
	else if (strcmp(sub, "AT_DropConstraint") == 0 && !robust && lint_want_robust(c))
		lint_report(c, LR_PREFER_ROBUST_STMTS, a->off,
					"DROP CONSTRAINT without IF EXISTS fails when the file is run again");
	else if (strcmp(sub, "AT_DetachPartition") == 0) {
		json_t *pc = json_object_get(def, "PartitionCmd");

		if (json_is_true(json_object_get(pc, "concurrent"))) {
			if (c->in_tx)
				lint_report(c, LR_CONCURRENTLY_IN_TRANSACTION, a->off,
							"DETACH PARTITION CONCURRENTLY cannot run inside a transaction block");
		} else if (c->o->pg_version >= 14) {
			lint_finding *fd = lint_report(c, LR_REQUIRE_CONCURRENT_DETACH_PARTITION, a->off,
										   "DETACH PARTITION without CONCURRENTLY locks \"%s\"",
										   a->table);

			if (fd) {
				shunt_buf b = SHUNT_BUF_INIT;

				buf_init(&b);
				lint_put_tokens(c, &b, c->s->tok_first, c->s->tok_end);
				buf_put(&b, " CONCURRENTLY;  -- outside a transaction block");
				fd->fix = buf_detach(&b);
			}
		}
	} else if (strcmp(sub, "AT_SetTableSpace") == 0 || strcmp(sub, "AT_SetLogged") == 0 ||
			   strcmp(sub, "AT_SetUnLogged") == 0 || strcmp(sub, "AT_SetAccessMethod") == 0)
		lint_report(c, LR_REWRITING_TABLE_OPTION, a->off, "%s rewrites \"%s\"",
					strcmp(sub, "AT_SetTableSpace") == 0	? "SET TABLESPACE"
					: strcmp(sub, "AT_SetLogged") == 0		? "SET LOGGED"
					: strcmp(sub, "AT_SetUnLogged") == 0	? "SET UNLOGGED"
															: "SET ACCESS METHOD",
					a->table);
}

void
lint_alter_table(lint_ctx *c, json_t *st)
{
	json_t *cmds = json_object_get(st, "cmds"), *cmd;
	const char *objtype = json_string_value(json_object_get(st, "objtype"));
	size_t n = json_array_size(cmds), i;
	size_t *starts = shunt_xcalloc(n + 1, sizeof(size_t));
	size_t *ends = shunt_xcalloc(n + 1, sizeof(size_t));
	alter_ctx a;
	bool spans;

	memset(&a, 0, sizeof(a));
	a.c = c;
	a.rel = json_object_get(st, "relation");
	a.table = json_string_value(json_object_get(a.rel, "relname"));
	if (a.table == NULL || objtype == NULL || strcmp(objtype, "OBJECT_TABLE") != 0)
		goto done;
	a.created = lint_created(c, a.table);
	a.rel_first = sqlf_tok_at(c->f, (size_t)sqlf_int(a.rel, "location", 0));
	a.rel_end = sqlf_skip_name(c->f, a.rel_first);
	spans = sqlf_alter_cmd_spans(c->f, c->s, a.rel, n, starts, ends);
	json_array_foreach(cmds, i, cmd) {
		a.cmd_first = spans ? starts[i] : c->s->tok_first;
		a.cmd_end = spans ? ends[i] : c->s->tok_end;
		a.off = a.cmd_first < c->f->n_toks ? c->f->toks[a.cmd_first].start : c->s->start;
		alter_cmd(&a, json_object_get(cmd, "AlterTableCmd"));
	}
done:
	free(starts);
	free(ends);
}

void
lint_create_table(lint_ctx *c, json_t *st)
{
	json_t *rel = json_object_get(st, "relation"), *elt;
	const char *table = json_string_value(json_object_get(rel, "relname"));
	size_t i;

	if (table == NULL)
		return;
	if (!json_is_true(json_object_get(st, "if_not_exists")) && lint_want_robust(c) &&
		!lint_created(c, table))
		lint_report(c, LR_PREFER_ROBUST_STMTS, c->s->start,
					"CREATE TABLE without IF NOT EXISTS fails when the file is run again");
	lint_strs_add(&c->created, table);
	json_array_foreach(json_object_get(st, "tableElts"), i, elt) {
		json_t *def = json_object_get(elt, "ColumnDef");
		json_t *con = json_object_get(elt, "Constraint"), *cc;
		const char *col = json_string_value(json_object_get(def, "colname"));
		size_t j;

		if (con != NULL && json_string_value(json_object_get(con, "contype")) &&
			strcmp(json_string_value(json_object_get(con, "contype")), "CONSTR_CHECK") == 0)
			record_check(c, table, con, true);
		if (def == NULL)
			continue;
		lint_check_type(c, json_object_get(def, "typeName"), col);
		lint_set_coltype(c, table, col, json_object_get(def, "typeName"));
		json_array_foreach(json_object_get(def, "constraints"), j, cc) {
			json_t *b = json_object_get(cc, "Constraint");
			const char *ct = json_string_value(json_object_get(b, "contype"));

			if (ct && strcmp(ct, "CONSTR_CHECK") == 0)
				record_check(c, table, b, true);
		}
	}
}
