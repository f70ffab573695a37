/*
 * test_migration.c: loading and validating migration files (core/migration.c,
 * core/yaml_json.c).
 *
 * The compatibility corpus (pgroll's published examples) is found through
 * SHUNT_COMPAT_DIR, else "../shared/compat" relative to the current directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/migration.h"

/* Each example in .ledger order, with its operations' kinds. */
static const struct example {
	const char *file;
	const char *kinds;
} examples[] = {
	{ "01_create_tables.yaml", "create_table create_table create_table" },
	{ "02_create_another_table.yaml", "create_table" },
	{ "03_add_column.yaml", "add_column add_column add_column" },
	{ "04_rename_table.yaml", "rename_table" },
	{ "05_sql.yaml", "sql" },
	{ "06_add_column_to_sql_table.yaml", "add_column" },
	{ "07_drop_table.yaml", "drop_table" },
	{ "08_create_fruits_table.yaml", "create_table" },
	{ "09_drop_column.yaml", "drop_column" },
	{ "10_create_index.yaml", "create_index" },
	{ "11_drop_index.yaml", "drop_index" },
	{ "12_create_employees_table.yaml", "create_table" },
	{ "13_rename_column.yaml", "rename_column" },
	{ "14_add_reviews_table.yaml", "create_table" },
	{ "15_set_column_unique.yaml", "alter_column" },
	{ "16_set_nullable.yaml", "alter_column" },
	{ "17_add_rating_column.yaml", "add_column" },
	{ "18_change_column_type.yaml", "alter_column" },
	{ "19_create_orders_table.yaml", "create_table" },
	{ "20_create_posts_table.yaml", "create_table" },
	{ "21_add_foreign_key_constraint.yaml", "alter_column" },
	{ "22_add_check_constraint.yaml", "alter_column" },
	{ "23_drop_check_constraint.yaml", "drop_constraint" },
	{ "24_drop_foreign_key_constraint.yaml", "drop_constraint" },
	{ "25_add_table_with_check_constraint.yaml", "create_table" },
	{ "26_add_column_with_check_constraint.yaml", "add_column" },
	{ "27_drop_unique_constraint.yaml", "drop_constraint" },
	{ "28_different_defaults.yaml", "create_table" },
	{ "29_set_replica_identity.yaml", "set_replica_identity" },
	{ "30_add_column_simple_up.yaml", "add_column" },
	{ "31_unset_not_null.yaml", "alter_column" },
	{ "32_sql_on_complete.yaml", "sql" },
	{ "33_rename_check_constraint.yaml", "rename_constraint" },
	{ "34_create_events_table.yaml", "create_table" },
	{ "35_alter_column_multiple.yaml", "alter_column" },
	{ "36_set_comment_to_null.yaml", "alter_column" },
	{ "37_create_partial_index.yaml", "create_index" },
	{ "38_create_hash_index_with_fillfactor.yaml", "create_index" },
	{ "39_add_column_with_multiple_pk_in_table.yaml", "add_column" },
	{ "40_create_enum_type.yaml", "sql" },
	{ "41_add_enum_column.yaml", "add_column" },
	{ "42_create_unique_index.yaml", "create_index" },
	{ "43_create_tickets_table.yaml", "create_table" },
	{ "44_add_table_unique_constraint.yaml", "create_constraint" },
	{ "45_add_table_check_constraint.yaml", "create_constraint" },
	{ "46_alter_column_drop_default.yaml", "alter_column" },
	{ "47_add_table_foreign_key_constraint.yaml", "create_constraint" },
	{ "48_drop_tickets_check.yaml", "drop_multicolumn_constraint" },
	{ "49_unset_not_null_on_indexed_column.yaml", "alter_column" },
	{ "50_create_table_with_table_constraint.yaml", "create_table" },
	{ "51_create_table_with_table_foreign_key_constraint.yaml", "create_table" },
	{ "52_create_table_with_exclusion_constraint.yaml", "create_table" },
	{ "53_add_column_with_volatile_default.yaml", "add_column" },
	{ "54_create_index_with_opclass.yaml", "create_index" },
	{ "55_add_primary_key_constraint_to_table.yaml", "create_table create_constraint" },
	{ "56_with_version_schema.yaml", "create_table" },
};

#define N_EXAMPLES (sizeof(examples) / sizeof(examples[0]))

static const char *
compat_dir(void)
{
	const char *dir = getenv("SHUNT_COMPAT_DIR");

	return dir && dir[0] ? dir : "../shared/compat";
}

/* Returns a malloc'd "<compat dir>/pgroll-examples/<file>". */
static char *
example_path(const char *file)
{
	shunt_buf b = SHUNT_BUF_INIT;

	buf_printf(&b, "%s/pgroll-examples/%s", compat_dir(), file);
	return buf_detach(&b);
}

static shunt_migration *
load_example(const char *file)
{
	shunt_error err;
	char *path = example_path(file);
	shunt_migration *m;

	shunt_error_clear(&err);
	m = migration_load_file(path, &err);
	if (m == NULL)
		fail_msg("%s: %s (hint: %s)", path, err.message, err.hint);
	free(path);
	return m;
}

static shunt_migration *
parse_ok(const char *filename, const char *text)
{
	shunt_error err;
	shunt_migration *m;

	shunt_error_clear(&err);
	m = migration_parse(text, strlen(text), filename, &err);
	if (m == NULL)
		fail_msg("unexpected error: %s (hint: %s)", err.message, err.hint);
	assert_int_equal(err.code, SHUNT_OK);
	return m;
}

/* The operations' kinds joined by spaces; caller frees. */
static char *
kinds_of(const shunt_migration *m)
{
	shunt_buf b = SHUNT_BUF_INIT;
	size_t i;

	buf_init(&b);
	for (i = 0; i < m->n_ops; i++)
		buf_printf(&b, "%s%s", i ? " " : "", m->ops[i].kind_name);
	return buf_detach(&b);
}

static void
assert_contains(const char *what, const char *haystack, const char *needle)
{
	if (needle != NULL && strstr(haystack, needle) == NULL)
		fail_msg("%s \"%s\" does not contain \"%s\"", what, haystack, needle);
}

/* ------------------------------------------------------ the corpus */

static void
test_ledger_matches_table(void **state)
{
	char *path = example_path(".ledger");
	FILE *fp = fopen(path, "r");
	char line[256];
	size_t n = 0;

	(void) state;
	if (fp == NULL)
		fail_msg("cannot open %s (set SHUNT_COMPAT_DIR)", path);
	while (fgets(line, sizeof(line), fp) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '\0')
			continue;
		assert_true(n < N_EXAMPLES);
		assert_string_equal(line, examples[n].file);
		n++;
	}
	fclose(fp);
	free(path);
	assert_int_equal(n, N_EXAMPLES);
}

static void
test_examples_parse(void **state)
{
	size_t i, j;

	(void) state;
	for (i = 0; i < N_EXAMPLES; i++) {
		shunt_migration *m = load_example(examples[i].file);
		char *kinds = kinds_of(m);
		char *expect_name = shunt_xstrdup(examples[i].file);

		*strrchr(expect_name, '.') = '\0';
		assert_string_equal(kinds, examples[i].kinds);
		assert_string_equal(m->name, expect_name);
		assert_string_equal(json_str(m->root, "name"), expect_name);
		assert_non_null(strstr(m->file, examples[i].file));
		assert_int_equal(m->content_len, strlen(m->content));
		assert_true(strncmp(m->content, "operations:", 11) == 0 ||
					strncmp(m->content, "version_schema:", 15) == 0);
		for (j = 0; j < m->n_ops; j++) {
			shunt_op_kind k;

			assert_int_equal(m->ops[j].index, j);
			assert_true(json_is_object(m->ops[j].def));
			assert_true(op_kind_from_name(m->ops[j].kind_name, &k));
			assert_int_equal(k, m->ops[j].kind);
			assert_string_equal(op_kind_name(m->ops[j].kind), m->ops[j].kind_name);
		}
		free(kinds);
		free(expect_name);
		migration_free(m);
	}
}

/* Each example dumped to JSON text parses to the same migration. */
static void
test_examples_as_json(void **state)
{
	size_t i, j;

	(void) state;
	for (i = 0; i < N_EXAMPLES; i++) {
		shunt_migration *y = load_example(examples[i].file);
		char *text = json_dumps(y->root, JSON_INDENT(2));
		shunt_migration *js, *sniffed;

		assert_non_null(text);
		js = parse_ok("converted.json", text);
		sniffed = parse_ok("no_extension", text);
		assert_true(json_equal(y->root, js->root));
		assert_true(json_equal(y->root, sniffed->root));
		assert_string_equal(js->name, y->name);
		assert_string_equal(sniffed->name, y->name);
		assert_int_equal(js->n_ops, y->n_ops);
		for (j = 0; j < y->n_ops; j++) {
			assert_int_equal(js->ops[j].kind, y->ops[j].kind);
			assert_true(json_equal(js->ops[j].def, y->ops[j].def));
		}
		if (y->version_schema)
			assert_string_equal(js->version_schema, y->version_schema);
		else
			assert_null(js->version_schema);
		free(text);
		migration_free(y);
		migration_free(js);
		migration_free(sniffed);
	}
}

/* Values the planner will read, checked in a few examples. */
static void
test_example_values(void **state)
{
	shunt_migration *m;
	json_t *col, *def;

	(void) state;
	m = load_example("01_create_tables.yaml");
	assert_string_equal(json_str(m->ops[0].def, "name"), "customers");
	col = json_array_get(json_arr(m->ops[0].def, "columns"), 0);
	assert_string_equal(json_str(col, "type"), "integer");
	assert_true(json_bool(col, "pk", false));
	assert_false(json_bool(col, "nullable", false));
	assert_true(json_bool(col, "unique", true));	/* absent: default */
	assert_false(json_has(col, "unique"));
	migration_free(m);

	m = load_example("03_add_column.yaml");
	assert_string_equal(json_str(m->ops[0].def, "up"), "UPPER(name)");
	assert_string_equal(json_str(json_obj(m->ops[1].def, "column"), "default"), "100");
	assert_false(json_bool(json_obj(m->ops[1].def, "column"), "nullable", true));
	migration_free(m);

	m = load_example("08_create_fruits_table.yaml");
	col = json_array_get(json_arr(m->ops[0].def, "columns"), 0);
	def = json_obj(json_obj(col, "generated"), "identity");
	assert_string_equal(json_str(def, "user_specified_values"), "BY DEFAULT");
	migration_free(m);

	m = load_example("09_drop_column.yaml");
	assert_string_equal(json_str(m->ops[0].def, "down"), "0");
	migration_free(m);

	m = load_example("28_different_defaults.yaml");
	col = json_array_get(json_arr(m->ops[0].def, "columns"), 1);
	assert_string_equal(json_str(col, "default"), "'unnamed'");
	migration_free(m);

	m = load_example("32_sql_on_complete.yaml");
	assert_true(json_bool(m->ops[0].def, "onComplete", false));
	assert_false(json_has(m->ops[0].def, "down"));
	migration_free(m);

	m = load_example("36_set_comment_to_null.yaml");
	assert_true(json_has(m->ops[0].def, "comment"));
	assert_true(json_is_null(json_object_get(m->ops[0].def, "comment")));
	assert_null(json_str(m->ops[0].def, "comment"));
	migration_free(m);

	m = load_example("45_add_table_check_constraint.yaml");
	def = json_obj(m->ops[0].def, "up");
	assert_int_equal(json_object_size(def), 2);
	assert_string_equal(json_str(def, "sellers_name"), "sellers_name");
	migration_free(m);

	m = load_example("56_with_version_schema.yaml");
	assert_string_equal(m->version_schema, "with_version_schema");
	migration_free(m);
}

/* ------------------------------------------------ scalars, names, files */

static void
test_yaml_scalars(void **state)
{
	shunt_migration *m;
	json_t *col;

	(void) state;
	m = parse_ok("s.yaml",
				 "operations:\n"
				 "  - add_column:\n"
				 "      table: 42\n"
				 "      column: {name: \"true\", type: 1.50, default: 100, nullable: True}\n"
				 "  - alter_column: {table: t, column: c, default: ~, comment: }\n"
				 "  - alter_column: {table: t, column: c, default: '', comment: 'null'}\n");
	assert_string_equal(json_str(m->ops[0].def, "table"), "42");
	col = json_obj(m->ops[0].def, "column");
	assert_string_equal(json_str(col, "name"), "true");
	assert_string_equal(json_str(col, "type"), "1.50");
	assert_string_equal(json_str(col, "default"), "100");
	assert_true(json_bool(col, "nullable", false));
	assert_true(json_is_null(json_object_get(m->ops[1].def, "default")));
	assert_true(json_is_null(json_object_get(m->ops[1].def, "comment")));
	assert_string_equal(json_str(m->ops[2].def, "default"), "");
	assert_string_equal(json_str(m->ops[2].def, "comment"), "null");
	migration_free(m);

	/* explicit !!str keeps a boolean-looking word a string */
	m = parse_ok("s.yaml", "name: !!str true\noperations: !!seq []\n");
	assert_string_equal(m->name, "true");
	assert_int_equal(m->n_ops, 0);
	migration_free(m);
}

static void
test_names(void **state)
{
	shunt_migration *m;
	shunt_error err;

	(void) state;
	m = parse_ok("some/dir/03_add_column.yaml", "operations: []\n");
	assert_string_equal(m->name, "03_add_column");
	assert_string_equal(json_str(m->root, "name"), "03_add_column");
	assert_string_equal(m->file, "some/dir/03_add_column.yaml");
	assert_int_equal(m->n_ops, 0);
	assert_null(m->ops);
	assert_null(m->version_schema);
	migration_free(m);

	m = parse_ok("x.v2.yml", "operations: []\n");
	assert_string_equal(m->name, "x.v2");
	migration_free(m);

	m = parse_ok("dir/03_add_column.yaml",
				 "name: from_field\nversion_schema: vs1\noperations: []\n");
	assert_string_equal(m->name, "from_field");
	assert_string_equal(m->version_schema, "vs1");
	migration_free(m);

	m = parse_ok(NULL, "{\"name\": \"piped\", \"operations\": []}");
	assert_string_equal(m->name, "piped");
	assert_string_equal(m->file, "<stdin>");
	migration_free(m);

	shunt_error_clear(&err);
	assert_null(migration_parse("operations: []", 14, NULL, &err));
	assert_int_equal(err.code, SHUNT_E_INPUT);
	assert_string_equal(err.message,
						"<stdin>: a migration read from standard input needs a \"name\" field");
}

/* Writes text to a new temporary file; returns its malloc'd path. */
static char *
temp_file(const char *text)
{
	char tmpl[] = "/tmp/test_migration_XXXXXX";
	int fd = mkstemp(tmpl);
	size_t len = strlen(text);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t) len);
	close(fd);
	return shunt_xstrdup(tmpl);
}

static void
test_load_file(void **state)
{
	shunt_migration *m;
	shunt_error err;
	char *path;

	(void) state;
	shunt_error_clear(&err);
	assert_null(migration_load_file("/nonexistent/dir/01.yaml", &err));
	assert_int_equal(err.code, SHUNT_E_IO);
	assert_string_equal(err.message,
						"could not open migration file \"/nonexistent/dir/01.yaml\": No such file or directory");

	shunt_error_clear(&err);
	assert_null(migration_load_file("/", &err));
	assert_int_equal(err.code, SHUNT_E_IO);

	/* no extension, leading '{': JSON; the name comes from the base name */
	path = temp_file("  {\"operations\": [{\"drop_table\": {\"name\": \"t\"}}]}");
	m = migration_load_file(path, &err);
	assert_non_null(m);
	assert_string_equal(m->file, path);
	assert_string_equal(m->name, strrchr(path, '/') + 1);
	assert_int_equal(m->ops[0].kind, OP_DROP_TABLE);
	migration_free(m);
	unlink(path);
	free(path);

	/* "-" reads standard input */
	path = temp_file("name: from_stdin\noperations:\n  - drop_index: {name: i}\n");
	assert_non_null(freopen(path, "r", stdin));
	m = migration_load_file("-", &err);
	assert_non_null(m);
	assert_string_equal(m->file, "<stdin>");
	assert_string_equal(m->name, "from_stdin");
	assert_int_equal(m->ops[0].kind, OP_DROP_INDEX);
	migration_free(m);
	unlink(path);
	free(path);
}

static void
test_accessors(void **state)
{
	json_t *o = json_pack("{s:s, s:b, s:n, s:i, s:{}, s:[]}", "s", "v", "b", 1, "n",
						  "i", 3, "o", "a");
	json_t *arr = json_array();

	(void) state;
	assert_string_equal(json_str(o, "s"), "v");
	assert_null(json_str(o, "b"));
	assert_null(json_str(o, "n"));
	assert_null(json_str(o, "missing"));
	assert_null(json_str(NULL, "s"));
	assert_null(json_str(arr, "s"));
	assert_true(json_bool(o, "b", false));
	assert_true(json_bool(o, "s", true));
	assert_false(json_bool(o, "missing", false));
	assert_false(json_bool(NULL, "b", false));
	assert_true(json_has(o, "n"));
	assert_false(json_has(o, "missing"));
	assert_false(json_has(NULL, "n"));
	assert_non_null(json_obj(o, "o"));
	assert_null(json_obj(o, "a"));
	assert_non_null(json_arr(o, "a"));
	assert_null(json_arr(o, "o"));
	json_decref(o);
	json_decref(arr);

	assert_string_equal(op_kind_name(OP_DROP_MULTICOLUMN_CONSTRAINT),
						"drop_multicolumn_constraint");
	assert_string_equal(op_kind_name(OP_SQL), "sql");
	assert_string_equal(op_kind_name(OP__COUNT), "unknown");
}

/* ------------------------------------------------------ bad inputs */

static const struct bad_case {
	const char *file;
	const char *text;
	const char *message;	/* exact */
	const char *hint;		/* fragment, or NULL */
} bad_cases[] = {
	/* unknown field, with its path, a did-you-mean and the valid fields */
	{ "03_add_column.yaml",
	  "operations:\n"
	  "  - drop_table: {name: t}\n"
	  "  - add_column:\n"
	  "      table: products\n"
	  "      column: {name: stock, type: int, nulable: false}\n",
	  "03_add_column.yaml: operation 2 (add_column): unknown field \"column.nulable\"",
	  "did you mean \"nullable\"? valid fields here: name, type, nullable, pk, unique, "
	  "default, comment, check, references, generated" },
	{ "m.yaml", "operations:\n  - create_table:\n      name: t\n      columns:\n"
	  "        - {name: a, type: int}\n        - {name: b, type: int, colour: red}\n",
	  "m.yaml: operation 1 (create_table): unknown field \"columns[1].colour\"",
	  "valid fields here: name, type," },
	{ "m.yaml", "operatons: []\n", "m.yaml: unknown field \"operatons\"",
	  "did you mean \"operations\"?" },
	{ "m.yaml", "operations: []\n\"we\\x01ird\": 1\n",
	  "m.yaml: unknown field \"['we\\x01ird']\"", "valid fields here: name, version_schema, operations" },
	/* wrong types */
	{ "m.yaml", "operations:\n  - add_column:\n      table: t\n"
	  "      column: {name: a, type: int, nullable: yes}\n",
	  "m.yaml: operation 1 (add_column): field \"column.nullable\" must be a boolean, not a string",
	  "write true or false" },
	{ "m.json", "{\"operations\": [{\"add_column\": {\"table\": \"t\", \"column\": "
	  "{\"name\": \"a\", \"type\": \"int\", \"default\": 100}}}]}",
	  "m.json: operation 1 (add_column): field \"column.default\" must be a string, not a number",
	  "put the value in quotes" },
	{ "m.yaml", "operations:\n  - create_table: {name: t, columns: {name: a}}\n",
	  "m.yaml: operation 1 (create_table): field \"columns\" must be a list, not an object", NULL },
	{ "m.yaml", "operations:\n  - create_index: {name: i, table: t, columns: [a]}\n",
	  "m.yaml: operation 1 (create_index): field \"columns[0]\" must be an object, not a string", NULL },
	{ "m.yaml", "operations:\n  - create_constraint: {name: c, table: t, type: unique, columns: [a, [b]]}\n",
	  "m.yaml: operation 1 (create_constraint): field \"columns[1]\" must be a string, not a list", NULL },
	{ "m.yaml", "operations:\n  - alter_column: {table: t, column: c, default: [x]}\n",
	  "m.yaml: operation 1 (alter_column): field \"default\" must be a string or null, not a list", NULL },
	{ "m.yaml", "operations:\n  - add_column: {table: t, column: {name: a, type: int, default: }}\n",
	  "m.yaml: operation 1 (add_column): field \"column.default\" must be a string, not null", NULL },
	{ "m.yaml", "operations:\n  - create_constraint: {name: c, table: t, type: check, check: x, up: x}\n",
	  "m.yaml: operation 1 (create_constraint): field \"up\" must be an object, not a string",
	  "one SQL expression per column" },
	{ "m.yaml", "operations:\n  - drop_multicolumn_constraint: {name: c, table: t, down: {a: [1]}}\n",
	  "m.yaml: operation 1 (drop_multicolumn_constraint): field \"down.a\" must be a string, not a list", NULL },
	{ "m.yaml", "name: [a]\noperations: []\n", "m.yaml: field \"name\" must be a string, not a list", NULL },
	/* enums */
	{ "m.yaml", "operations:\n  - create_index: {name: i, table: t, columns: [{column: a}], method: bree}\n",
	  "m.yaml: operation 1 (create_index): field \"method\" has invalid value \"bree\"",
	  "did you mean \"btree\"? valid values: btree, hash, gist, spgist, gin, brin" },
	{ "m.yaml", "operations:\n  - create_index: {name: i, table: t, columns: [{column: a, nulls: first}]}\n",
	  "m.yaml: operation 1 (create_index): field \"columns[0].nulls\" has invalid value \"first\"",
	  "did you mean \"FIRST\"?" },
	{ "m.yaml", "operations:\n  - alter_column:\n      table: t\n      column: c\n"
	  "      references: {name: f, table: u, column: id, on_delete: DROP}\n",
	  "m.yaml: operation 1 (alter_column): field \"references.on_delete\" has invalid value \"DROP\"",
	  "valid values: NO ACTION, RESTRICT, CASCADE, SET NULL, SET DEFAULT" },
	{ "m.yaml", "operations:\n  - create_constraint: {name: c, table: t, type: exclude}\n",
	  "m.yaml: operation 1 (create_constraint): field \"type\" has invalid value \"exclude\"",
	  "valid values: unique, check, foreign_key, primary_key" },
	/* missing required fields */
	{ "m.yaml", "operations:\n  - add_column: {column: {name: a, type: int}}\n",
	  "m.yaml: operation 1 (add_column): missing required field \"table\"", NULL },
	{ "m.yaml", "operations:\n  - set_replica_identity: {table: t, identity: {type: full}}\n",
	  "m.yaml: operation 1 (set_replica_identity): missing required field \"identity.index\"", NULL },
	{ "m.yaml", "name: x\n", "m.yaml: missing required field \"operations\"", NULL },
	{ "m.yaml", "operations:\n  - sql: {down: x}\n",
	  "m.yaml: operation 1 (sql): missing required field \"up\"", NULL },
	/* cross-field rules */
	{ "m.yaml", "operations:\n  - create_table:\n      name: t\n      columns: []\n"
	  "      constraints: [{name: u, type: unique}]\n",
	  "m.yaml: operation 1 (create_table): missing required field \"constraints[0].columns\" "
	  "(required when \"type\" is \"unique\")", NULL },
	{ "m.yaml", "operations:\n  - create_table:\n      name: t\n      columns: []\n"
	  "      constraints: [{name: k, type: check, check: a > 0, deferrable: true}]\n",
	  "m.yaml: operation 1 (create_table): field \"constraints[0].deferrable\" must be false "
	  "when \"type\" is \"check\"", NULL },
	{ "m.yaml", "operations:\n  - create_table:\n      name: t\n      columns: []\n"
	  "      constraints: [{name: x, type: exclude, exclude: {elements: a WITH =}, columns: [a]}]\n",
	  "m.yaml: operation 1 (create_table): field \"constraints[0].columns\" is not allowed "
	  "when \"type\" is \"exclude\"", NULL },
	{ "m.yaml", "operations:\n  - create_constraint: {name: c, table: t, type: foreign_key, columns: [a]}\n",
	  "m.yaml: operation 1 (create_constraint): missing required field \"references\" "
	  "(required when \"type\" is \"foreign_key\")", NULL },
	{ "m.yaml", "operations:\n  - alter_column: {table: t, column: c, up: c}\n",
	  "m.yaml: operation 1 (alter_column): nothing to change",
	  "set at least one of: name, type, nullable, default, comment, unique, check, references" },
	{ "m.yaml", "operations:\n  - sql: {up: x, down: y, onComplete: true}\n",
	  "m.yaml: operation 1 (sql): fields \"down\" and \"onComplete\" cannot be used together", NULL },
	/* operations and operation items */
	{ "m.yaml", "operations: {drop_table: {name: t}}\n",
	  "m.yaml: field \"operations\" must be a list, not an object", NULL },
	{ "m.yaml", "operations:\n", "m.yaml: field \"operations\" must be a list, not null", NULL },
	{ "m.yaml", "operations:\n  - add_colum: {table: t}\n",
	  "m.yaml: operation 1: unknown operation \"add_colum\"", "did you mean \"add_column\"?" },
	{ "m.yaml", "operations:\n  - drop_table: {name: a}\n    rename_table: {from: a, to: b}\n",
	  "m.yaml: operation 1: expected one key, the operation kind, found 2: \"drop_table\", "
	  "\"rename_table\"", "own list item" },
	{ "m.yaml", "operations:\n  - drop_table: {name: a}\n  - {}\n",
	  "m.yaml: operation 2: expected one key, the operation kind, found none", NULL },
	{ "m.yaml", "operations:\n  - drop_table\n",
	  "m.yaml: operation 1: expected an object with one key, the operation kind, not a string", NULL },
	{ "m.yaml", "operations:\n  - drop_table:\n",
	  "m.yaml: operation 1 (drop_table): the operation must be an object, not null",
	  "give the operation's fields, indented below \"drop_table:\"" },
	{ "m.yaml", "operations:\n  - add_column:\n    table: t\n",
	  "m.yaml: operation 1: expected one key, the operation kind, found 2: \"add_column\", \"table\"",
	  "indent the fields of \"add_column\" further than its name" },
	{ "m.yaml", "operations:\n  - {a: 1, b: 2, c: 3, d: 4}\n",
	  "m.yaml: operation 1: expected one key, the operation kind, found 4: \"a\", \"b\", \"c\", ...",
	  NULL },
	{ "m.yaml", "- operations: []\n", "m.yaml: a migration must be an object, not a list", NULL },
	/* YAML-level problems */
	{ "m.yaml", "operations:\n  - drop_table:\n      name: a\n      name: b\n",
	  "m.yaml:4:7: duplicate key \"name\"", NULL },
	{ "m.yaml", "operations:\n  - add_column:\n      table: t\n     column: u\n",
	  "m.yaml:4:6: invalid YAML: did not find expected key", NULL },
	{ "m.yaml", "operations: [\n", "m.yaml:2:1: invalid YAML: did not find expected node content", NULL },
	{ "m.yaml", "operations: []\n---\noperations: []\n",
	  "m.yaml:2:1: a migration file must hold exactly one YAML document, found a second one", NULL },
	{ "m.yaml", "name: &n x\noperations: []\n",
	  "m.yaml:1:7: YAML anchors and aliases are not supported", NULL },
	{ "m.yaml", "? [a]\n: b\noperations: []\n",
	  "m.yaml:1:3: mapping keys must be plain text, not a sequence", NULL },
	{ "m.yaml", "name: !!int 3\noperations: []\n",
	  "m.yaml:1:7: unsupported YAML tag \"tag:yaml.org,2002:int\"", NULL },
	{ "m.yaml", "name: \"a\\0b\"\noperations: []\n", "m.yaml:1:7: string contains a NUL character", NULL },
	{ "m.yaml", "", "m.yaml: the file holds no YAML document", NULL },
	{ "m.yaml", "name: \"\\xff\xc3\"\n", "m.yaml:1:13: invalid YAML: invalid trailing UTF-8 octet", NULL },
	/* JSON-level problems */
	{ "m.json", "{\"operations\": [\n  {\"drop_table\": {\"name\": \"x\",}}\n]}",
	  "m.json:2:31: invalid JSON: string or '}' expected near '}'", NULL },
	{ "m.json", "{\"operations\": [],\n \"name\": \"a\", \"name\": \"b\"}",
	  "m.json:2:20: invalid JSON: duplicate object key near '\"name\"'", NULL },
	{ "m", "{\"operations\": []", "m:1:17: invalid JSON: '}' expected near end of file", NULL },
	/* names */
	{ "m.yaml", "name: a/b\noperations: []\n", "m.yaml: invalid migration name \"a/b\": it contains \"/\"", NULL },
	{ "m.yaml", "name: \"a\\tb\"\noperations: []\n",
	  "m.yaml: invalid migration name \"a\\x09b\": it contains a control character", NULL },
	{ "m.yaml", "name: ''\noperations: []\n", "m.yaml: invalid migration name \"\": it is empty", NULL },
	{ "dir/.yaml", "operations: []\n", "dir/.yaml: invalid migration name \"\": it is empty",
	  "set a \"name\" field" },
};

#define N_BAD (sizeof(bad_cases) / sizeof(bad_cases[0]))

static void
test_bad_inputs(void **state)
{
	size_t i;

	(void) state;
	for (i = 0; i < N_BAD; i++) {
		const struct bad_case *b = &bad_cases[i];
		shunt_error err;
		shunt_migration *m;

		shunt_error_clear(&err);
		m = migration_parse(b->text, strlen(b->text), b->file, &err);
		if (m != NULL)
			fail_msg("case %zu: accepted:\n%s", i, b->text);
		assert_int_equal(err.code, SHUNT_E_INPUT);
		if (strcmp(err.message, b->message) != 0)
			fail_msg("case %zu:\n got  %s\n want %s", i, err.message, b->message);
		assert_contains("hint", err.hint, b->hint);
	}
}

/* The unknown-operation error lists the valid kinds in its detail. */
static void
test_unknown_operation_detail(void **state)
{
	const char *text = "operations:\n  - frobnicate: {}\n";
	shunt_error err;

	(void) state;
	shunt_error_clear(&err);
	assert_null(migration_parse(text, strlen(text), "m.yaml", &err));
	assert_string_equal(err.message, "m.yaml: operation 1: unknown operation \"frobnicate\"");
	assert_string_equal(err.hint, "");
	assert_contains("detail", err.detail,
					"Valid operations are: create_table, drop_table, rename_table, add_column");
	assert_contains("detail", err.detail, "set_replica_identity, sql, rebuild_table.");
}

/* Deep nesting is refused without exhausting the stack. */
static void
test_deep_nesting(void **state)
{
	shunt_buf b = SHUNT_BUF_INIT;
	shunt_error err;
	int i;

	(void) state;
	buf_put(&b, "operations: ");
	for (i = 0; i < 5000; i++)
		buf_putc(&b, '[');
	shunt_error_clear(&err);
	assert_null(migration_parse(b.data, b.len, "deep.yaml", &err));
	assert_contains("message", err.message, "nesting deeper than 64 levels");

	buf_reset(&b);
	buf_put(&b, "{\"operations\": [");
	for (i = 0; i < 1000; i++)
		buf_put(&b, "{\"sql\": ");
	shunt_error_clear(&err);
	assert_null(migration_parse(b.data, b.len, "deep.json", &err));
	assert_int_equal(err.code, SHUNT_E_INPUT);
	assert_contains("message", err.message, "deep.json:1:");
	buf_release(&b);
}

/* Input that is not NUL-terminated is read only up to len. */
static void
test_length_bounded(void **state)
{
	const char text[] = "operations: []\nname: xyz";
	shunt_migration *m;
	shunt_error err;

	(void) state;
	shunt_error_clear(&err);
	m = migration_parse(text, strlen(text) - 1, "m.yaml", &err);
	assert_non_null(m);
	assert_string_equal(m->name, "xy");
	assert_string_equal(m->content, "operations: []\nname: xy");
	migration_free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ledger_matches_table),
		cmocka_unit_test(test_examples_parse),
		cmocka_unit_test(test_examples_as_json),
		cmocka_unit_test(test_example_values),
		cmocka_unit_test(test_yaml_scalars),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_accessors),
		cmocka_unit_test(test_bad_inputs),
		cmocka_unit_test(test_unknown_operation_detail),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_length_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
