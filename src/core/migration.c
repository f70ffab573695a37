/*
 * migration.c: loading and validating migration files; see migration.h.
 *
 * pgroll's JSON Schema is encoded below as static tables: each object_def
 * lists its fields (name, type, required, nested definition, allowed values)
 * and a few cross-field rules (the schema's if/then, anyOf and oneOf).  The
 * validator walks a document against them; it recurses only along the tables,
 * never into data they do not describe, so hostile nesting cannot exhaust the
 * stack.  The first problem found is reported, in document order.
 */
#include "core/migration.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/yaml_json.h"

/* ---------------------------------------------------------------- tables */

typedef enum value_type {
	VT_STRING,
	VT_STRING_OR_NULL,
	VT_BOOL,
	VT_OBJECT,		/* an object described by field->object */
	VT_STRING_LIST,
	VT_OBJECT_LIST, /* a list of objects described by field->object */
	VT_STRING_MAP,	/* column name -> SQL expression */
	VT_OPERATIONS,	/* the migration's list of operations */
} value_type;

typedef struct object_def object_def;

typedef struct field_def {
	const char *name;
	value_type type;
	bool required;
	const object_def *object;	/* VT_OBJECT, VT_OBJECT_LIST */
	const char *const *values;	/* VT_STRING: allowed values, NULL-ended */
} field_def;

typedef enum rule_kind {
	RULE_END,
	RULE_WHEN,		/* when field == value: fields required, empty ones empty */
	RULE_ANY_OF,	/* at least one of fields present */
	RULE_NOT_BOTH,	/* not both of the two fields present */
} rule_kind;

typedef struct rule_def {
	rule_kind kind;
	const char *field;
	const char *value;
	const char *const *fields;
	const char *const *empty;	/* absent, "", false, {} or [] (schema "const") */
} rule_def;

struct object_def {
	const field_def *fields;	/* ends with a NULL name */
	const rule_def *rules;		/* NULL, or ends with RULE_END */
};

#define REQ true
#define OPT false
#define FIELD(name, type, req) { name, type, req, NULL, NULL }
#define NESTED(name, type, req, def) { name, type, req, &def, NULL }
#define ONE_OF(name, req, values) { name, VT_STRING, req, NULL, values }
#define FIELDS_END { NULL, VT_STRING, false, NULL, NULL }
#define NAMES(...) ((const char *const[]) { __VA_ARGS__, NULL })
#define WHEN(field, value, required, empty) \
	{ RULE_WHEN, field, value, required, empty }
#define RULES_END { RULE_END, NULL, NULL, NULL, NULL }

static const char *const fk_actions[] = {
	"NO ACTION", "RESTRICT", "CASCADE", "SET NULL", "SET DEFAULT", NULL
};
static const char *const fk_match_types[] = { "SIMPLE", "FULL", "PARTIAL", NULL };

/* CheckConstraint */
static const object_def check_def = { (const field_def[]) {
	FIELD("name", VT_STRING, REQ),
	FIELD("constraint", VT_STRING, REQ),
	FIELD("no_inherit", VT_BOOL, OPT),
	FIELDS_END }, NULL };

/* UniqueConstraint */
static const object_def unique_def = { (const field_def[]) {
	FIELD("name", VT_STRING, REQ),
	FIELDS_END }, NULL };

/* ForeignKeyReference (column level) */
static const object_def fk_ref_def = { (const field_def[]) {
	FIELD("name", VT_STRING, REQ),
	FIELD("table", VT_STRING, REQ),
	FIELD("column", VT_STRING, REQ),
	ONE_OF("on_delete", OPT, fk_actions),
	ONE_OF("on_update", OPT, fk_actions),
	ONE_OF("match_type", OPT, fk_match_types),
	FIELD("deferrable", VT_BOOL, OPT),
	FIELD("initially_deferred", VT_BOOL, OPT),
	FIELDS_END }, NULL };

/* TableForeignKeyReference */
static const object_def table_fk_ref_def = { (const field_def[]) {
	FIELD("table", VT_STRING, REQ),
	FIELD("columns", VT_STRING_LIST, REQ),
	ONE_OF("on_delete", OPT, fk_actions),
	ONE_OF("on_update", OPT, fk_actions),
	ONE_OF("match_type", OPT, fk_match_types),
	FIELD("on_delete_set_columns", VT_STRING_LIST, OPT),
	FIELDS_END }, NULL };

/* Column.generated.identity, Column.generated */
static const object_def identity_def = { (const field_def[]) {
	ONE_OF("user_specified_values", OPT, NAMES("ALWAYS", "BY DEFAULT")),
	FIELD("sequence_options", VT_STRING, OPT),
	FIELDS_END }, NULL };

static const object_def generated_def = { (const field_def[]) {
	FIELD("expression", VT_STRING, OPT),
	NESTED("identity", VT_OBJECT, OPT, identity_def),
	FIELDS_END }, NULL };

/* Column */
static const object_def column_def = { (const field_def[]) {
	FIELD("name", VT_STRING, REQ),
	FIELD("type", VT_STRING, REQ),
	FIELD("nullable", VT_BOOL, OPT),
	FIELD("pk", VT_BOOL, OPT),
	FIELD("unique", VT_BOOL, OPT),
	FIELD("default", VT_STRING, OPT),
	FIELD("comment", VT_STRING, OPT),
	NESTED("check", VT_OBJECT, OPT, check_def),
	NESTED("references", VT_OBJECT, OPT, fk_ref_def),
	NESTED("generated", VT_OBJECT, OPT, generated_def),
	FIELDS_END }, NULL };

/* Constraint.exclude, Constraint.index_parameters (and create_constraint's) */
static const object_def exclude_def = { (const field_def[]) {
	FIELD("index_method", VT_STRING, OPT),
	FIELD("elements", VT_STRING, OPT),
	FIELD("predicate", VT_STRING, OPT),
	FIELDS_END }, NULL };

static const object_def index_params_def = { (const field_def[]) {
	FIELD("tablespace", VT_STRING, OPT),
	FIELD("storage_parameters", VT_STRING, OPT),
	FIELD("include_columns", VT_STRING_LIST, OPT),
	FIELDS_END }, NULL };

/* Constraint (create_table's table-level constraints) */
static const object_def constraint_def = { (const field_def[]) {
	FIELD("name", VT_STRING, REQ),
	ONE_OF("type", REQ, NAMES("unique", "check", "primary_key", "foreign_key", "exclude")),
	FIELD("columns", VT_STRING_LIST, OPT),
	FIELD("check", VT_STRING, OPT),
	NESTED("references", VT_OBJECT, OPT, table_fk_ref_def),
	NESTED("exclude", VT_OBJECT, OPT, exclude_def),
	NESTED("index_parameters", VT_OBJECT, OPT, index_params_def),
	FIELD("deferrable", VT_BOOL, OPT),
	FIELD("initially_deferred", VT_BOOL, OPT),
	FIELD("nulls_not_distinct", VT_BOOL, OPT),
	FIELD("no_inherit", VT_BOOL, OPT),
	FIELDS_END }, (const rule_def[]) {
	WHEN("type", "unique", NAMES("columns"), NAMES("check", "no_inherit")),
	WHEN("type", "check", NAMES("check"),
		 NAMES("index_parameters", "deferrable", "initially_deferred",
			   "nulls_not_distinct")),
	WHEN("type", "primary_key", NAMES("columns"),
		 NAMES("check", "no_inherit", "nulls_not_distinct")),
	WHEN("type", "foreign_key", NAMES("columns", "references"),
		 NAMES("check", "index_parameters", "no_inherit", "nulls_not_distinct")),
	WHEN("type", "exclude", NAMES("exclude"),
		 NAMES("check", "no_inherit", "nulls_not_distinct", "columns")),
	RULES_END } };

/* IndexField and its opclass */
static const object_def opclass_def = { (const field_def[]) {
	FIELD("name", VT_STRING, OPT),
	FIELD("params", VT_STRING_LIST, OPT),
	FIELDS_END }, NULL };

static const object_def index_field_def = { (const field_def[]) {
	FIELD("column", VT_STRING, REQ),
	FIELD("collate", VT_STRING, OPT),
	ONE_OF("sort", OPT, NAMES("ASC", "DESC")),
	ONE_OF("nulls", OPT, NAMES("FIRST", "LAST")),
	NESTED("opclass", VT_OBJECT, OPT, opclass_def),
	FIELDS_END }, NULL };

/* ReplicaIdentity */
static const object_def replica_identity_def = { (const field_def[]) {
	FIELD("type", VT_STRING, REQ),
	FIELD("index", VT_STRING, REQ),
	FIELDS_END }, NULL };

/* The operations' bodies. */
static const object_def op_create_table = { (const field_def[]) {
	FIELD("name", VT_STRING, REQ),
	NESTED("columns", VT_OBJECT_LIST, REQ, column_def),
	NESTED("constraints", VT_OBJECT_LIST, OPT, constraint_def),
	FIELD("comment", VT_STRING, OPT),
	FIELDS_END }, NULL };

static const object_def op_drop_table = { (const field_def[]) {
	FIELD("name", VT_STRING, REQ),
	FIELDS_END }, NULL };

static const object_def op_rename_table = { (const field_def[]) {
	FIELD("from", VT_STRING, REQ),
	FIELD("to", VT_STRING, REQ),
	FIELDS_END }, NULL };

static const object_def op_add_column = { (const field_def[]) {
	FIELD("table", VT_STRING, REQ),
	NESTED("column", VT_OBJECT, REQ, column_def),
	FIELD("up", VT_STRING, OPT),
	FIELDS_END }, NULL };

static const object_def op_drop_column = { (const field_def[]) {
	FIELD("table", VT_STRING, REQ),
	FIELD("column", VT_STRING, REQ),
	FIELD("down", VT_STRING, OPT),
	FIELDS_END }, NULL };

static const object_def op_rename_column = { (const field_def[]) {
	FIELD("table", VT_STRING, REQ),
	FIELD("from", VT_STRING, REQ),
	FIELD("to", VT_STRING, REQ),
	FIELDS_END }, NULL };

static const object_def op_alter_column = { (const field_def[]) {
	FIELD("table", VT_STRING, REQ),
	FIELD("column", VT_STRING, REQ),
	/* shunt extension (pgroll before its rename_column): rename too */
	FIELD("name", VT_STRING, OPT),
	FIELD("type", VT_STRING, OPT),
	FIELD("nullable", VT_BOOL, OPT),
	FIELD("default", VT_STRING_OR_NULL, OPT),
	FIELD("comment", VT_STRING_OR_NULL, OPT),
	NESTED("unique", VT_OBJECT, OPT, unique_def),
	NESTED("check", VT_OBJECT, OPT, check_def),
	NESTED("references", VT_OBJECT, OPT, fk_ref_def),
	FIELD("up", VT_STRING, OPT),
	FIELD("down", VT_STRING, OPT),
	/* shunt extension: change the type by an online rebuild of the table
	 * (rebuild_table) instead of a duplicated column */
	FIELD("rebuild", VT_BOOL, OPT),
	FIELDS_END }, (const rule_def[]) {
	{ RULE_ANY_OF, NULL, NULL,
	  NAMES("name", "type", "nullable", "default", "comment", "unique", "check",
			"references"), NULL },
	RULES_END } };

static const object_def op_create_index = { (const field_def[]) {
	FIELD("name", VT_STRING, REQ),
	FIELD("table", VT_STRING, REQ),
	NESTED("columns", VT_OBJECT_LIST, REQ, index_field_def),
	ONE_OF("method", OPT, NAMES("btree", "hash", "gist", "spgist", "gin", "brin")),
	FIELD("unique", VT_BOOL, OPT),
	FIELD("predicate", VT_STRING, OPT),
	FIELD("storage_parameters", VT_STRING, OPT),
	FIELDS_END }, NULL };

static const object_def op_drop_index = { (const field_def[]) {
	FIELD("name", VT_STRING, REQ),
	FIELDS_END }, NULL };

/* The schema's "index_params" conditions name no real field: left out. */
static const object_def op_create_constraint = { (const field_def[]) {
	FIELD("name", VT_STRING, REQ),
	FIELD("table", VT_STRING, REQ),
	ONE_OF("type", REQ, NAMES("unique", "check", "foreign_key", "primary_key")),
	FIELD("columns", VT_STRING_LIST, OPT),
	FIELD("check", VT_STRING, OPT),
	NESTED("references", VT_OBJECT, OPT, table_fk_ref_def),
	FIELD("no_inherit", VT_BOOL, OPT),
	NESTED("index_parameters", VT_OBJECT, OPT, index_params_def),
	FIELD("up", VT_STRING_MAP, OPT),
	FIELD("down", VT_STRING_MAP, OPT),
	FIELDS_END }, (const rule_def[]) {
	WHEN("type", "foreign_key", NAMES("columns", "references"),
		 NAMES("check", "no_inherit")),
	WHEN("type", "check", NAMES("check"), NAMES("references")),
	WHEN("type", "primary_key", NAMES("columns"),
		 NAMES("check", "no_inherit", "references")),
	RULES_END } };

static const object_def op_drop_constraint = { (const field_def[]) {
	FIELD("table", VT_STRING, REQ),
	FIELD("name", VT_STRING, REQ),
	FIELD("up", VT_STRING, OPT),
	FIELD("down", VT_STRING, OPT),
	FIELDS_END }, NULL };

static const object_def op_drop_multicolumn_constraint = { (const field_def[]) {
	FIELD("table", VT_STRING, REQ),
	FIELD("name", VT_STRING, REQ),
	FIELD("up", VT_STRING_MAP, OPT),
	FIELD("down", VT_STRING_MAP, OPT),
	FIELDS_END }, NULL };

static const object_def op_rename_constraint = { (const field_def[]) {
	FIELD("table", VT_STRING, REQ),
	FIELD("from", VT_STRING, REQ),
	FIELD("to", VT_STRING, REQ),
	FIELDS_END }, NULL };

static const object_def op_set_replica_identity = { (const field_def[]) {
	FIELD("table", VT_STRING, REQ),
	NESTED("identity", VT_OBJECT, REQ, replica_identity_def),
	FIELDS_END }, NULL };

static const object_def op_sql = { (const field_def[]) {
	FIELD("up", VT_STRING, REQ),
	FIELD("down", VT_STRING, OPT),
	FIELD("onComplete", VT_BOOL, OPT),
	FIELDS_END }, (const rule_def[]) {
	{ RULE_NOT_BOTH, NULL, NULL, NAMES("down", "onComplete"), NULL },
	RULES_END } };

/* shunt extension: an online rebuild of a table (docs/rebuild.md) */
static const object_def op_rebuild_table = { (const field_def[]) {
	FIELD("table", VT_STRING, REQ),
	FIELD("alter", VT_STRING, OPT),
	FIELDS_END }, NULL };

/* The whole file. */
static const object_def migration_def = { (const field_def[]) {
	FIELD("name", VT_STRING, OPT),
	FIELD("version_schema", VT_STRING, OPT),
	FIELD("operations", VT_OPERATIONS, REQ),
	FIELDS_END }, NULL };

typedef struct op_kind_def {
	shunt_op_kind kind;
	const char *name;
	const object_def *body;
} op_kind_def;

/* One row per operation kind; names are what migration files spell. */
static const op_kind_def op_kinds[] = {
	{ OP_CREATE_TABLE, "create_table", &op_create_table },
	{ OP_DROP_TABLE, "drop_table", &op_drop_table },
	{ OP_RENAME_TABLE, "rename_table", &op_rename_table },
	{ OP_ADD_COLUMN, "add_column", &op_add_column },
	{ OP_DROP_COLUMN, "drop_column", &op_drop_column },
	{ OP_RENAME_COLUMN, "rename_column", &op_rename_column },
	{ OP_ALTER_COLUMN, "alter_column", &op_alter_column },
	{ OP_CREATE_INDEX, "create_index", &op_create_index },
	{ OP_DROP_INDEX, "drop_index", &op_drop_index },
	{ OP_CREATE_CONSTRAINT, "create_constraint", &op_create_constraint },
	{ OP_DROP_CONSTRAINT, "drop_constraint", &op_drop_constraint },
	{ OP_DROP_MULTICOLUMN_CONSTRAINT, "drop_multicolumn_constraint",
	  &op_drop_multicolumn_constraint },
	{ OP_RENAME_CONSTRAINT, "rename_constraint", &op_rename_constraint },
	{ OP_SET_REPLICA_IDENTITY, "set_replica_identity", &op_set_replica_identity },
	{ OP_SQL, "sql", &op_sql },
	{ OP_REBUILD_TABLE, "rebuild_table", &op_rebuild_table },
};

#define N_OP_KINDS (sizeof(op_kinds) / sizeof(op_kinds[0]))

_Static_assert(N_OP_KINDS == OP__COUNT, "op_kinds[] needs one row per shunt_op_kind");

/* ------------------------------------------------------------ validation */

/* Longest piece of user text quoted back in a message. */
#define QUOTE_MAX 48
/* Longest name list a hint is built from. */
#define MAX_NAMES 32

_Static_assert(N_OP_KINDS <= MAX_NAMES, "MAX_NAMES too small for op_kinds[]");

typedef struct vctx {
	const char *file;
	size_t op_number;		/* 1-based; 0 outside the operations */
	const char *op_kind;	/* NULL until the kind is known */
	shunt_buf path;			/* field path inside the operation (or file) */
	shunt_error *err;
} vctx;

/* Sets err to "file: operation N (kind): message". Returns -1. */
static int
vfail(vctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
vfail(vctx *c, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c->op_number == 0)
		return shunt_error_set(c->err, SHUNT_E_INPUT, "%s: %s", c->file, msg);
	if (c->op_kind == NULL)
		return shunt_error_set(c->err, SHUNT_E_INPUT, "%s: operation %zu: %s",
							   c->file, c->op_number, msg);
	return shunt_error_set(c->err, SHUNT_E_INPUT, "%s: operation %zu (%s): %s",
						   c->file, c->op_number, c->op_kind, msg);
}

/*
 * Appends user text for a message: quotes, backslashes and control bytes
 * escaped, cut after QUOTE_MAX bytes (on a UTF-8 character boundary).
 */
static void
put_quoted(shunt_buf *b, const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		unsigned char ch = (unsigned char) s[i];

		if (i >= QUOTE_MAX && (ch & 0xC0) != 0x80) {
			buf_put(b, "...");
			return;
		}
		if (ch == '"' || ch == '\\' || ch == '\'') {
			buf_putc(b, '\\');
			buf_putc(b, (char) ch);
		}
		else if (ch < 0x20 || ch == 0x7f)
			buf_printf(b, "\\x%02x", ch);
		else
			buf_putc(b, (char) ch);
	}
}

static void
path_pop(vctx *c, size_t saved)
{
	c->path.len = saved;
	c->path.data[saved] = '\0';
}

/* Appends ".key" (or "['odd key']") to the path; returns the old length. */
static size_t
path_push_key(vctx *c, const char *key)
{
	size_t saved = c->path.len;
	bool plain = key[0] != '\0';
	const char *p;

	for (p = key; *p != '\0' && plain; p++)
		plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
				(*p >= '0' && *p <= '9') || *p == '_';
	if (plain && p - key <= QUOTE_MAX) {
		if (saved > 0)
			buf_putc(&c->path, '.');
		buf_put(&c->path, key);
	}
	else {
		buf_put(&c->path, "['");
		put_quoted(&c->path, key);
		buf_put(&c->path, "']");
	}
	return saved;
}

static size_t
path_push_index(vctx *c, size_t i)
{
	size_t saved = c->path.len;

	buf_printf(&c->path, "[%zu]", i);
	return saved;
}

/* "a string", "a list", ... for the value's JSON type. */
static const char *
type_phrase(const json_t *v)
{
	switch (json_typeof(v)) {
		case JSON_OBJECT:
			return "an object";
		case JSON_ARRAY:
			return "a list";
		case JSON_STRING:
			return "a string";
		case JSON_INTEGER:
		case JSON_REAL:
			return "a number";
		case JSON_TRUE:
		case JSON_FALSE:
			return "a boolean";
		default:
			return "null";
	}
}

static int
lower(char ch)
{
	return tolower((unsigned char) ch);
}

/*
 * Edit distance (optimal string alignment: insert, delete, substitute,
 * transpose adjacent), ignoring ASCII case, so "cascade" is 0 from "CASCADE".
 * Strings longer than QUOTE_MAX are never close to a name: returns SIZE_MAX.
 */
static size_t
edit_distance(const char *a, const char *b)
{
	size_t rows[3][QUOTE_MAX + 1];	/* row i lives in rows[i % 3] */
	size_t la = strlen(a), lb = strlen(b);
	size_t i, j;

	if (la > QUOTE_MAX || lb > QUOTE_MAX)
		return SIZE_MAX;
	for (j = 0; j <= lb; j++)
		rows[0][j] = j;
	for (i = 1; i <= la; i++) {
		size_t *prev2 = rows[(i + 1) % 3], *prev = rows[(i + 2) % 3];
		size_t *cur = rows[i % 3];

		cur[0] = i;
		for (j = 1; j <= lb; j++) {
			size_t best = prev[j - 1] + (lower(a[i - 1]) != lower(b[j - 1]));

			if (prev[j] + 1 < best)
				best = prev[j] + 1;
			if (cur[j - 1] + 1 < best)
				best = cur[j - 1] + 1;
			if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) &&
				lower(a[i - 2]) == lower(b[j - 1]) && prev2[j - 2] + 1 < best)
				best = prev2[j - 2] + 1;
			cur[j] = best;
		}
	}
	return rows[la % 3][lb];
}

/* The name within edit distance 2 of typed (and closer than its length). */
static const char *
closest(const char *typed, const char *const *names, size_t n)
{
	const char *best = NULL;
	size_t best_d = 3;
	size_t len = strlen(typed);
	size_t i;

	for (i = 0; i < n; i++) {
		size_t d = edit_distance(typed, names[i]);

		if (d < best_d && (d < len || d == 0)) {
			best = names[i];
			best_d = d;
		}
	}
	return best;
}

/*
 * Sets the hint: 'did you mean "x"? <label>: a, b, c' (the first part only
 * when a name is close to typed; typed may be NULL).
 */
static void
hint_names(vctx *c, const char *typed, const char *label,
		   const char *const *names, size_t n)
{
	const char *near = typed ? closest(typed, names, n) : NULL;
	shunt_buf b = SHUNT_BUF_INIT;
	size_t i;

	if (near != NULL)
		buf_printf(&b, "did you mean \"%s\"? ", near);
	buf_printf(&b, "%s: ", label);
	for (i = 0; i < n; i++)
		buf_printf(&b, "%s%s", i > 0 ? ", " : "", names[i]);
	shunt_error_hint(c->err, "%s", buf_str(&b));
	buf_release(&b);
}

static size_t
field_names(const object_def *def, const char **names)
{
	size_t n = 0;
	const field_def *f;

	for (f = def->fields; f->name != NULL && n < MAX_NAMES; f++)
		names[n++] = f->name;
	return n;
}

static size_t
list_names(const char *const *list, const char **names)
{
	size_t n = 0;

	while (n < MAX_NAMES && list[n] != NULL) {
		names[n] = list[n];
		n++;
	}
	return n;
}

static const field_def *
find_field(const object_def *def, const char *name)
{
	const field_def *f;

	for (f = def->fields; f->name != NULL; f++)
		if (strcmp(f->name, name) == 0)
			return f;
	return NULL;
}

/* Type error at the current path; suggests quoting when that would cure it. */
static int
type_error(vctx *c, const char *want, const json_t *v)
{
	const char *path = buf_str(&c->path);

	if (path[0] != '\0')
		vfail(c, "field \"%s\" must be %s, not %s", path, want, type_phrase(v));
	else if (c->op_kind != NULL)
		vfail(c, "the operation must be %s, not %s", want, type_phrase(v));
	else
		vfail(c, "a migration must be %s, not %s", want, type_phrase(v));
	if (strcmp(want, "a boolean") == 0 && json_is_string(v))
		shunt_error_hint(c->err, "write true or false");
	else if (strncmp(want, "a string", 8) == 0 &&
			 (json_is_number(v) || json_is_boolean(v)))
		shunt_error_hint(c->err, "put the value in quotes");
	return -1;
}

static int validate_object(vctx *c, json_t *obj, const object_def *def);
static int validate_operations(vctx *c, json_t *ops);

static int
check_enum(vctx *c, const field_def *f, const json_t *v)
{
	const char *names[MAX_NAMES];
	const char *s = json_string_value(v);
	size_t n = list_names(f->values, names);
	shunt_buf q = SHUNT_BUF_INIT;
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(s, names[i]) == 0)
			return 0;
	put_quoted(&q, s);
	vfail(c, "field \"%s\" has invalid value \"%s\"", buf_str(&c->path), buf_str(&q));
	buf_release(&q);
	hint_names(c, s, "valid values", names, n);
	return -1;
}

/* Checks every element of a list against f (VT_*_LIST). */
static int
validate_list(vctx *c, const field_def *f, json_t *v)
{
	size_t i;
	json_t *item;

	json_array_foreach(v, i, item) {
		size_t saved = path_push_index(c, i);
		int rc = 0;

		if (f->type == VT_STRING_LIST && !json_is_string(item))
			rc = type_error(c, "a string", item);
		else if (f->type == VT_OBJECT_LIST && !json_is_object(item))
			rc = type_error(c, "an object", item);
		else if (f->type == VT_OBJECT_LIST)
			rc = validate_object(c, item, f->object);
		if (rc != 0)
			return -1;
		path_pop(c, saved);
	}
	return 0;
}

/* Checks a value against its field definition; the path names the field. */
static int
validate_value(vctx *c, const field_def *f, json_t *v)
{
	const char *key;
	json_t *item;

	switch (f->type) {
		case VT_STRING:
			if (!json_is_string(v))
				return type_error(c, "a string", v);
			return f->values ? check_enum(c, f, v) : 0;
		case VT_STRING_OR_NULL:
			if (!json_is_string(v) && !json_is_null(v))
				return type_error(c, "a string or null", v);
			return 0;
		case VT_BOOL:
			return json_is_boolean(v) ? 0 : type_error(c, "a boolean", v);
		case VT_OBJECT:
			if (!json_is_object(v))
				return type_error(c, "an object", v);
			return validate_object(c, v, f->object);
		case VT_STRING_LIST:
		case VT_OBJECT_LIST:
			if (!json_is_array(v))
				return type_error(c, "a list", v);
			return validate_list(c, f, v);
		case VT_STRING_MAP:
			if (!json_is_object(v)) {
				type_error(c, "an object", v);
				shunt_error_hint(c->err, "give one SQL expression per column, as column: expression");
				return -1;
			}
			json_object_foreach(v, key, item) {
				size_t saved = path_push_key(c, key);

				if (!json_is_string(item))
					return type_error(c, "a string", item);
				path_pop(c, saved);
			}
			return 0;
		case VT_OPERATIONS:
			if (!json_is_array(v))
				return type_error(c, "a list", v);
			return validate_operations(c, v);
	}
	return 0;
}

/* True for an absent value or one equal to the schema's "const" empty value. */
static bool
is_empty_value(const json_t *v)
{
	return v == NULL || json_is_false(v) ||
		   (json_is_string(v) && json_string_length(v) == 0) ||
		   (json_is_object(v) && json_object_size(v) == 0) ||
		   (json_is_array(v) && json_array_size(v) == 0);
}

/* Message for a field named by a rule, at the current path. */
static const char *
rule_path(vctx *c, shunt_buf *b, const char *field)
{
	size_t saved = path_push_key(c, field);

	buf_reset(b);
	buf_put(b, buf_str(&c->path));
	path_pop(c, saved);
	return buf_str(b);
}

static int
check_rule(vctx *c, const json_t *obj, const rule_def *r)
{
	shunt_buf p = SHUNT_BUF_INIT;
	const char *const *f;
	const char *names[MAX_NAMES];
	size_t n;
	int rc = 0;

	if (r->kind == RULE_WHEN) {
		const char *value = json_str(obj, r->field);

		if (value == NULL || strcmp(value, r->value) != 0)
			return 0;
		for (f = r->fields; rc == 0 && f != NULL && *f != NULL; f++)
			if (!json_has(obj, *f))
				rc = vfail(c, "missing required field \"%s\" (required when \"%s\" is \"%s\")",
						   rule_path(c, &p, *f), r->field, r->value);
		for (f = r->empty; rc == 0 && f != NULL && *f != NULL; f++) {
			const json_t *v = json_object_get(obj, *f);

			if (is_empty_value(v))
				continue;
			rc = vfail(c, "field \"%s\" %s when \"%s\" is \"%s\"",
					   rule_path(c, &p, *f),
					   json_is_boolean(v) ? "must be false" : "is not allowed",
					   r->field, r->value);
		}
	}
	else if (r->kind == RULE_ANY_OF) {
		for (f = r->fields; *f != NULL; f++)
			if (json_has(obj, *f))
				break;
		if (*f == NULL) {
			n = list_names(r->fields, names);
			rc = vfail(c, "nothing to change%s%s%s", c->path.len ? " in \"" : "",
					   buf_str(&c->path), c->path.len ? "\"" : "");
			hint_names(c, NULL, "set at least one of", names, n);
		}
	}
	else if (r->kind == RULE_NOT_BOTH) {
		if (json_has(obj, r->fields[0]) && json_has(obj, r->fields[1]))
			rc = vfail(c, "fields \"%s\" and \"%s\" cannot be used together",
					   r->fields[0], r->fields[1]);
	}
	buf_release(&p);
	return rc;
}

/*
 * Checks obj against def: unknown fields first (a misspelt required field is
 * better reported as the typo), then missing ones, then each value in
 * document order, then the cross-field rules.
 */
static int
validate_object(vctx *c, json_t *obj, const object_def *def)
{
	const char *names[MAX_NAMES];
	const field_def *f;
	const rule_def *r;
	const char *key;
	json_t *v;
	size_t saved;

	json_object_foreach(obj, key, v) {
		if (find_field(def, key) != NULL)
			continue;
		saved = path_push_key(c, key);
		vfail(c, "unknown field \"%s\"", buf_str(&c->path));
		path_pop(c, saved);
		hint_names(c, key, "valid fields here", names, field_names(def, names));
		return -1;
	}
	for (f = def->fields; f->name != NULL; f++) {
		if (!f->required || json_has(obj, f->name))
			continue;
		saved = path_push_key(c, f->name);
		vfail(c, "missing required field \"%s\"", buf_str(&c->path));
		path_pop(c, saved);
		return -1;
	}
	json_object_foreach(obj, key, v) {
		saved = path_push_key(c, key);
		if (validate_value(c, find_field(def, key), v) != 0)
			return -1;
		path_pop(c, saved);
	}
	for (r = def->rules; r != NULL && r->kind != RULE_END; r++)
		if (check_rule(c, obj, r) != 0)
			return -1;
	return 0;
}

static const op_kind_def *
find_op_kind(const char *name)
{
	size_t i;

	for (i = 0; i < N_OP_KINDS; i++)
		if (strcmp(op_kinds[i].name, name) == 0)
			return &op_kinds[i];
	return NULL;
}

/* Reports an item of "operations" that is not an object with one key. */
static int
bad_operation_item(vctx *c, json_t *item)
{
	shunt_buf q = SHUNT_BUF_INIT;
	const char *key, *first = NULL;
	json_t *value, *first_value = NULL;
	size_t i = 0;

	if (!json_is_object(item))
		return vfail(c, "expected an object with one key, the operation kind, not %s",
					 type_phrase(item));
	if (json_object_size(item) == 0)
		return vfail(c, "expected one key, the operation kind, found none");
	json_object_foreach(item, key, value) {
		if (i++ == 3)
			break;
		if (first == NULL) {
			first = key;
			first_value = value;
		}
		buf_put(&q, i > 1 ? ", \"" : "\"");
		put_quoted(&q, key);
		buf_put(&q, "\"");
	}
	vfail(c, "expected one key, the operation kind, found %zu: %s%s",
		  json_object_size(item), buf_str(&q), i > 3 ? ", ..." : "");
	buf_release(&q);
	/* "- add_column:" with its fields not indented below it */
	if (find_op_kind(first) != NULL && json_is_null(first_value))
		shunt_error_hint(c->err, "indent the fields of \"%s\" further than its name", first);
	else
		shunt_error_hint(c->err, "start each operation as its own list item, with \"- \"");
	return -1;
}

/* Checks one item of "operations": { kind: body }. */
static int
validate_operation(vctx *c, json_t *item)
{
	const char *names[MAX_NAMES];
	const op_kind_def *k;
	const char *key, *near;
	shunt_buf q = SHUNT_BUF_INIT;
	json_t *body;
	size_t i;

	if (!json_is_object(item) || json_object_size(item) != 1)
		return bad_operation_item(c, item);
	key = json_object_iter_key(json_object_iter(item));
	body = json_object_iter_value(json_object_iter(item));
	if ((k = find_op_kind(key)) == NULL) {
		put_quoted(&q, key);
		vfail(c, "unknown operation \"%s\"", buf_str(&q));
		for (i = 0; i < N_OP_KINDS; i++)
			names[i] = op_kinds[i].name;
		if ((near = closest(key, names, N_OP_KINDS)) != NULL)
			shunt_error_hint(c->err, "did you mean \"%s\"?", near);
		buf_reset(&q);
		buf_put(&q, "Valid operations are: ");
		for (i = 0; i < N_OP_KINDS; i++)
			buf_printf(&q, "%s%s", i > 0 ? ", " : "", names[i]);
		shunt_error_detail(c->err, "%s.", buf_str(&q));
		buf_release(&q);
		return -1;
	}
	c->op_kind = k->name;
	if (!json_is_object(body)) {
		type_error(c, "an object", body);
		if (json_is_null(body))
			shunt_error_hint(c->err, "give the operation's fields, indented below \"%s:\"",
							 k->name);
		return -1;
	}
	return validate_object(c, body, k->body);
}

/*
 * Checks each operation.  Paths in messages restart inside each operation
 * ("column.name", not "operations[1].add_column.column.name"), so the outer
 * path is set aside meanwhile.
 */
static int
validate_operations(vctx *c, json_t *ops)
{
	shunt_buf outer = c->path;
	json_t *item;
	size_t i;
	int rc = 0;

	buf_init(&c->path);
	json_array_foreach(ops, i, item) {
		c->op_number = i + 1;
		c->op_kind = NULL;
		path_pop(c, 0);
		if ((rc = validate_operation(c, item)) != 0)
			break;
	}
	if (rc == 0) {
		c->op_number = 0;
		c->op_kind = NULL;
	}
	buf_release(&c->path);
	c->path = outer;
	return rc;
}

/* ----------------------------------------------------------------- model */

static bool
has_suffix(const char *s, const char *suffix)
{
	size_t ls = strlen(s), lx = strlen(suffix);

	return ls >= lx && strcasecmp(s + ls - lx, suffix) == 0;
}

/* Whether to read text as JSON: by extension, else a leading '{'. */
static bool
looks_like_json(const char *text, size_t len, const char *filename)
{
	size_t i = 0;

	if (has_suffix(filename, ".json"))
		return true;
	if (has_suffix(filename, ".yaml") || has_suffix(filename, ".yml"))
		return false;
	if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
		i = 3;
	while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r' ||
					   text[i] == '\n'))
		i++;
	return i < len && text[i] == '{';
}

static json_t *
parse_json(const char *text, size_t len, const char *filename, shunt_error *err)
{
	json_error_t jerr;
	json_t *root;

	if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
		text += 3;
		len -= 3;
	}
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		/* jansson reports column 0 at the end of the input */
		if (jerr.line > 0)
			shunt_error_set(err, SHUNT_E_INPUT, "%s:%d:%d: invalid JSON: %s",
							filename, jerr.line, jerr.column > 0 ? jerr.column : 1,
							jerr.text);
		else
			shunt_error_set(err, SHUNT_E_INPUT, "%s: invalid JSON: %s",
							filename, jerr.text);
	}
	return root;
}

/* The file's base name without its extension: "dir/03_x.yaml" -> "03_x". */
static char *
name_from_file(const char *filename)
{
	const char *base = strrchr(filename, '/');
	const char *dot;

	base = base ? base + 1 : filename;
	dot = strrchr(base, '.');
	return shunt_xstrndup(base, dot ? (size_t) (dot - base) : strlen(base));
}

/* Sets the migration's name; checks it is usable as a name. */
static int
set_name(shunt_migration *m, bool from_stdin, shunt_error *err)
{
	const char *given = json_str(m->root, "name");
	const unsigned char *p;

	if (given == NULL && from_stdin) {
		shunt_error_set(err, SHUNT_E_INPUT,
						"%s: a migration read from standard input needs a \"name\" field",
						m->file);
		return -1;
	}
	m->name = given ? shunt_xstrdup(given) : name_from_file(m->file);
	for (p = (const unsigned char *) m->name; *p != '\0'; p++)
		if (*p == '/' || *p < 0x20 || *p == 0x7f)
			break;
	if (m->name[0] == '\0' || *p != '\0') {
		shunt_buf q = SHUNT_BUF_INIT;

		put_quoted(&q, m->name);
		shunt_error_set(err, SHUNT_E_INPUT, "%s: invalid migration name \"%s\"%s",
						m->file, buf_str(&q),
						m->name[0] == '\0' ? ": it is empty" :
						*p == '/' ? ": it contains \"/\"" :
						": it contains a control character");
		buf_release(&q);
		if (given == NULL)
			shunt_error_hint(err, "the name comes from the file name; set a \"name\" field or rename the file");
		return -1;
	}
	if (given == NULL &&
		json_object_set_new(m->root, "name", json_string(m->name)) != 0) {
		shunt_error_set(err, SHUNT_E_INPUT, "%s: the file name is not valid UTF-8",
						m->file);
		shunt_error_hint(err, "set a \"name\" field");
		return -1;
	}
	return 0;
}

/* Checks the parsed document against the tables. */
static int
validate_root(shunt_migration *m, shunt_error *err)
{
	vctx c;
	int rc;

	memset(&c, 0, sizeof(c));
	c.file = m->file;
	c.err = err;
	buf_init(&c.path);
	if (!json_is_object(m->root))
		rc = type_error(&c, "an object", m->root);
	else
		rc = validate_object(&c, m->root, &migration_def);
	buf_release(&c.path);
	return rc;
}

shunt_migration *
migration_parse(const char *text, size_t len, const char *filename,
				shunt_error *err)
{
	shunt_migration *m = shunt_xcalloc(1, sizeof(*m));
	bool from_stdin = filename == NULL || strcmp(filename, "<stdin>") == 0;
	json_t *ops, *item;
	size_t i;

	m->file = shunt_xstrdup(filename ? filename : "<stdin>");
	m->content = shunt_xmalloc(len + 1);
	if (len > 0)
		memcpy(m->content, text, len);
	m->content[len] = '\0';
	m->content_len = len;

	if (looks_like_json(m->content, len, m->file))
		m->root = parse_json(m->content, len, m->file, err);
	else
		m->root = yaml_json_parse(m->content, len, m->file, err);
	if (m->root == NULL)
		goto fail;

	if (validate_root(m, err) != 0)
		goto fail;
	if (set_name(m, from_stdin, err) != 0)
		goto fail;
	if (json_str(m->root, "version_schema") != NULL)
		m->version_schema = shunt_xstrdup(json_str(m->root, "version_schema"));
	ops = json_object_get(m->root, "operations");
	m->n_ops = json_array_size(ops);
	if (m->n_ops > 0)
		m->ops = shunt_xcalloc(m->n_ops, sizeof(shunt_op));
	json_array_foreach(ops, i, item) {
		const char *kind = json_object_iter_key(json_object_iter(item));
		const op_kind_def *k = find_op_kind(kind);

		m->ops[i].kind = k->kind;
		m->ops[i].kind_name = k->name;
		m->ops[i].index = i;
		m->ops[i].def = json_object_iter_value(json_object_iter(item));
	}
	return m;

fail:
	migration_free(m);
	return NULL;
}

shunt_migration *
migration_load_file(const char *path, shunt_error *err)
{
	bool from_stdin = strcmp(path, "-") == 0;
	const char *name = from_stdin ? "<stdin>" : path;
	shunt_buf text = SHUNT_BUF_INIT;
	shunt_migration *m = NULL;
	char chunk[8192];
	size_t n;
	FILE *fp;

	fp = from_stdin ? stdin : fopen(path, "rb");
	if (fp == NULL) {
		shunt_error_set(err, SHUNT_E_IO, "could not open migration file \"%s\": %s",
						path, strerror(errno));
		return NULL;
	}
	buf_init(&text);
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
		if (text.len + n > MIGRATION_MAX_FILE_SIZE) {
			shunt_error_set(err, SHUNT_E_INPUT, "%s: migration file is larger than %zu MB",
							name, MIGRATION_MAX_FILE_SIZE / (1024 * 1024));
			goto done;
		}
		buf_putn(&text, chunk, n);
	}
	if (ferror(fp)) {
		shunt_error_set(err, SHUNT_E_IO, "could not read migration file \"%s\": %s",
						name, strerror(errno));
		goto done;
	}
	m = migration_parse(text.data, text.len, name, err);

done:
	if (!from_stdin)
		fclose(fp);
	buf_release(&text);
	return m;
}

void
migration_free(shunt_migration *m)
{
	if (m == NULL)
		return;
	free(m->name);
	free(m->version_schema);
	free(m->file);
	free(m->content);
	free(m->ops);
	json_decref(m->root);
	free(m);
}

const char *
op_kind_name(shunt_op_kind kind)
{
	size_t i;

	for (i = 0; i < N_OP_KINDS; i++)
		if (op_kinds[i].kind == kind)
			return op_kinds[i].name;
	return "unknown";
}

bool
op_kind_from_name(const char *name, shunt_op_kind *kind)
{
	const op_kind_def *k = find_op_kind(name);

	if (k != NULL)
		*kind = k->kind;
	return k != NULL;
}

/* ------------------------------------------------------------- accessors */

const char *
json_str(const json_t *obj, const char *field)
{
	json_t *v = json_is_object(obj) ? json_object_get(obj, field) : NULL;

	return json_is_string(v) ? json_string_value(v) : NULL;
}

bool
json_bool(const json_t *obj, const char *field, bool dflt)
{
	json_t *v = json_is_object(obj) ? json_object_get(obj, field) : NULL;

	return json_is_boolean(v) ? json_is_true(v) : dflt;
}

bool
json_has(const json_t *obj, const char *field)
{
	return json_is_object(obj) && json_object_get(obj, field) != NULL;
}

json_t *
json_obj(const json_t *obj, const char *field)
{
	json_t *v = json_is_object(obj) ? json_object_get(obj, field) : NULL;

	return json_is_object(v) ? v : NULL;
}

json_t *
json_arr(const json_t *obj, const char *field)
{
	json_t *v = json_is_object(obj) ? json_object_get(obj, field) : NULL;

	return json_is_array(v) ? v : NULL;
}
