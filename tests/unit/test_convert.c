/*
 * test_convert.c: `shunt convert` (src/pg/pg_convert.c) and the YAML
 * writer it uses (src/core/yaml_emit.c).  Every file of tests/convert/ and
 * tests/lint/ is converted, and the result must be a valid migration both
 * as YAML and as JSON, the two reading back to the same value.  Further
 * tests check the operations of single statements exactly.  No server.
 *
 * Directories: $SHUNT_CONVERT_CORPUS and $SHUNT_LINT_CORPUS, else
 * tests/convert and tests/lint (make runs tests from the repository root).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>

#include "core/buf.h"
#include "core/migration.h"
#include "core/yaml_emit.h"
#include "core/yaml_json.h"
#include "pg/pg_convert.h"
#include "pg/pg_parse.h"

static char *
read_all(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	shunt_buf b = SHUNT_BUF_INIT;
	char chunk[4096];
	size_t n;

	if (fp == NULL)
		fail_msg("cannot open %s", path);
	buf_init(&b);
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		buf_putn(&b, chunk, n);
	fclose(fp);
	*len = b.len;
	return buf_detach(&b);
}

/* Converts text and checks that the YAML and the JSON output both parse as
 * migrations to the same operations.  Returns the number of operations. */
static size_t
check_roundtrip(const char *name, const char *text, size_t len)
{
	pg_conversion conv;
	shunt_error err;
	shunt_migration *my, *mj;
	char *yaml, *js;
	size_t n;

	shunt_error_clear(&err);
	if (pg_convert(text, len, name, &conv, &err) != 0)
		fail_msg("%s: convert failed: %s", name, err.message);
	yaml = pg_conversion_yaml(&conv, name);
	js = pg_conversion_json(&conv);
	my = migration_parse(yaml, strlen(yaml), "converted.yaml", &err);
	if (my == NULL)
		fail_msg("%s: the YAML is not a valid migration: %s\n%s", name, err.message, yaml);
	mj = migration_parse(js, strlen(js), "converted.json", &err);
	if (mj == NULL)
		fail_msg("%s: the JSON is not a valid migration: %s\n%s", name, err.message, js);
	if (!json_equal(json_object_get(my->root, "operations"), json_object_get(mj->root, "operations")))
		fail_msg("%s: YAML and JSON differ\n%s\n%s", name, yaml, js);
	assert_int_equal(my->n_ops, conv.n_ops);
	n = conv.n_ops;
	migration_free(my);
	migration_free(mj);
	free(yaml);
	free(js);
	pg_conversion_release(&conv);
	return n;
}

static size_t
check_dir(const char *dir, size_t *n_files)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t ops = 0;

	if (d == NULL)
		fail_msg("cannot open %s", dir);
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name), tlen;
		shunt_buf p = SHUNT_BUF_INIT;
		char *text;

		if (len < 5 || strcmp(e->d_name + len - 4, ".sql") != 0 || strstr(e->d_name, ".setup."))
			continue;
		buf_init(&p);
		buf_printf(&p, "%s/%s", dir, e->d_name);
		text = read_all(buf_str(&p), &tlen);
		ops += check_roundtrip(buf_str(&p), text, tlen);
		(*n_files)++;
		free(text);
		buf_release(&p);
	}
	closedir(d);
	return ops;
}

static const char *
env_or(const char *var, const char *dflt)
{
	const char *v = getenv(var);

	return v && *v ? v : dflt;
}

static void
test_corpus(void **state)
{
	size_t files = 0, ops;

	(void)state;
	ops = check_dir(env_or("SHUNT_CONVERT_CORPUS", "tests/convert"), &files);
	ops += check_dir(env_or("SHUNT_LINT_CORPUS", "tests/lint"), &files);
	assert_true(files >= 13);
	assert_true(ops >= 150);
}

/* ---- single statements ---- */

/* Converts sql and compares the operations with the JSON text want. */
static void
expect_ops(const char *sql, const char *want)
{
	pg_conversion conv;
	shunt_error err;
	json_error_t jerr;
	json_t *w = json_loads(want, 0, &jerr);
	char *got;

	if (w == NULL)
		fail_msg("bad expectation: %s", jerr.text);
	shunt_error_clear(&err);
	if (pg_convert(sql, strlen(sql), "t.sql", &conv, &err) != 0)
		fail_msg("convert failed: %s", err.message);
	got = json_dumps(json_object_get(conv.root, "operations"), JSON_COMPACT);
	if (!json_equal(json_object_get(conv.root, "operations"), w))
		fail_msg("for [%s]\n got: %s\nwant: %s", sql, got, want);
	free(got);
	json_decref(w);
	pg_conversion_release(&conv);
}

static void
test_alter_table(void **state)
{
	(void)state;
	expect_ops("ALTER TABLE t ADD COLUMN \"Mixed Case\" numeric(10, 2) DEFAULT 0 NOT NULL",
			   "[{\"add_column\": {\"table\": \"t\", \"column\": {\"name\": \"Mixed Case\", "
			   "\"type\": \"numeric(10, 2)\", \"default\": \"0\"}}}]");
	expect_ops("ALTER TABLE t ADD COLUMN c text NOT NULL",
			   "[{\"add_column\": {\"table\": \"t\", \"column\": {\"name\": \"c\", \"type\": "
			   "\"text\"}, \"up\": \"TODO: up\"}}]");
	expect_ops("ALTER TABLE t ALTER COLUMN c TYPE bigint",
			   "[{\"alter_column\": {\"table\": \"t\", \"column\": \"c\", \"type\": \"bigint\", "
			   "\"up\": \"CAST(c AS bigint)\", \"down\": \"TODO: down\"}}]");
	expect_ops("ALTER TABLE t ALTER COLUMN \"select\" SET DATA TYPE int USING \"select\"::int + 1",
			   "[{\"alter_column\": {\"table\": \"t\", \"column\": \"select\", \"type\": \"int\", "
			   "\"up\": \"\\\"select\\\"::int + 1\", \"down\": \"TODO: down\"}}]");
	expect_ops("ALTER TABLE t ALTER COLUMN c SET NOT NULL, ALTER COLUMN d DROP NOT NULL, "
			   "ALTER COLUMN e SET DEFAULT now() - interval '1 day', ALTER COLUMN f DROP DEFAULT",
			   "[{\"alter_column\": {\"table\": \"t\", \"column\": \"c\", \"nullable\": false, "
			   "\"up\": \"TODO: up\"}}, {\"alter_column\": {\"table\": \"t\", \"column\": \"d\", "
			   "\"nullable\": true}}, {\"alter_column\": {\"table\": \"t\", \"column\": \"e\", "
			   "\"default\": \"now() - interval '1 day'\"}}, {\"alter_column\": {\"table\": \"t\", "
			   "\"column\": \"f\", \"default\": null}}]");
	expect_ops("ALTER TABLE t DROP COLUMN c, DROP COLUMN IF EXISTS d",
			   "[{\"drop_column\": {\"table\": \"t\", \"column\": \"c\"}}, "
			   "{\"drop_column\": {\"table\": \"t\", \"column\": \"d\"}}]");
	expect_ops("ALTER TABLE t RENAME COLUMN a TO b",
			   "[{\"rename_column\": {\"table\": \"t\", \"from\": \"a\", \"to\": \"b\"}}]");
	expect_ops("ALTER TABLE t RENAME TO u; ALTER TABLE u RENAME CONSTRAINT a TO b",
			   "[{\"rename_table\": {\"from\": \"t\", \"to\": \"u\"}}, {\"rename_constraint\": "
			   "{\"table\": \"u\", \"from\": \"a\", \"to\": \"b\"}}]");
	expect_ops("ALTER TABLE t ADD CHECK (a > b), ADD CONSTRAINT t_fk FOREIGN KEY (x, y) "
			   "REFERENCES u (p, q) MATCH FULL ON UPDATE CASCADE, ADD UNIQUE (a) INCLUDE (b), "
			   "ADD PRIMARY KEY (id), DROP CONSTRAINT t_old",
			   "[{\"create_constraint\": {\"name\": \"t_check\", \"table\": \"t\", \"type\": "
			   "\"check\", \"check\": \"a > b\", \"columns\": [\"a\", \"b\"]}}, "
			   "{\"create_constraint\": {\"name\": \"t_fk\", \"table\": \"t\", \"type\": "
			   "\"foreign_key\", \"columns\": [\"x\", \"y\"], \"references\": {\"table\": \"u\", "
			   "\"columns\": [\"p\", \"q\"], \"on_update\": \"CASCADE\", \"match_type\": \"FULL\"}}}, "
			   "{\"create_constraint\": {\"name\": \"t_a_key\", \"table\": \"t\", \"type\": "
			   "\"unique\", \"columns\": [\"a\"], \"index_parameters\": {\"include_columns\": "
			   "[\"b\"]}}}, {\"create_constraint\": {\"name\": \"t_pkey\", \"table\": \"t\", "
			   "\"type\": \"primary_key\", \"columns\": [\"id\"]}}, {\"drop_constraint\": "
			   "{\"table\": \"t\", \"name\": \"t_old\"}}]");
	expect_ops("ALTER TABLE t REPLICA IDENTITY USING INDEX t_key, REPLICA IDENTITY NOTHING",
			   "[{\"set_replica_identity\": {\"table\": \"t\", \"identity\": {\"type\": "
			   "\"index\", \"index\": \"t_key\"}}}, {\"set_replica_identity\": {\"table\": "
			   "\"t\", \"identity\": {\"type\": \"nothing\", \"index\": \"\"}}}]");
	/* one alter_column per column; a one-column constraint goes into it */
	expect_ops("ALTER TABLE t ALTER COLUMN c TYPE text, ALTER COLUMN c SET DEFAULT 'x';\n"
			   "ALTER TABLE t ADD CONSTRAINT t_c_key UNIQUE (c)",
			   "[{\"alter_column\": {\"table\": \"t\", \"column\": \"c\", \"type\": \"text\", "
			   "\"up\": \"CAST(c AS text)\", \"down\": \"TODO: down\", \"default\": \"'x'\", "
			   "\"unique\": {\"name\": \"t_c_key\"}}}]");
}

static void
test_fallbacks(void **state)
{
	(void)state;
	/* unsupported subcommands become sql of their own; the rest converts */
	expect_ops("ALTER TABLE ONLY t ALTER COLUMN a SET STATISTICS 100, ADD COLUMN b int",
			   "[{\"sql\": {\"up\": \"ALTER TABLE t ALTER COLUMN a SET STATISTICS 100\"}}, "
			   "{\"add_column\": {\"table\": \"t\", \"column\": {\"name\": \"b\", \"type\": "
			   "\"int\", \"nullable\": true}}}]");
	expect_ops("CREATE INDEX i ON t ((lower(a)))",
			   "[{\"sql\": {\"up\": \"CREATE INDEX i ON t ((lower(a)))\"}}]");
	expect_ops("DROP TABLE a CASCADE", "[{\"sql\": {\"up\": \"DROP TABLE a CASCADE\"}}]");
	expect_ops("CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1; $$",
			   "[{\"sql\": {\"up\": \"CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ "
			   "SELECT 1; $$\"}}]");
	/* dropped on purpose */
	expect_ops("SET lock_timeout = '1s'; SET LOCAL statement_timeout TO 0; BEGIN; "
			   "SELECT set_config('lock_timeout', '2s', false); COMMIT",
			   "[]");
}

static void
test_create(void **state)
{
	(void)state;
	expect_ops("CREATE TABLE s.t (id bigserial PRIMARY KEY, a text NOT NULL DEFAULT '', "
			   "b int CONSTRAINT b_pos CHECK (b > 0) REFERENCES u (id) ON DELETE SET NULL, "
			   "c tstzrange, d int GENERATED ALWAYS AS (b * 2) STORED, "
			   "CONSTRAINT t_ex EXCLUDE USING gist (c WITH &&) WHERE (b > 0), "
			   "UNIQUE (a, b) WITH (fillfactor = 90))",
			   "[{\"create_table\": {\"name\": \"t\", \"columns\": ["
			   "{\"name\": \"id\", \"type\": \"bigserial\", \"pk\": true}, "
			   "{\"name\": \"a\", \"type\": \"text\", \"default\": \"''\"}, "
			   "{\"name\": \"b\", \"type\": \"int\", \"check\": {\"name\": \"b_pos\", "
			   "\"constraint\": \"b > 0\"}, \"references\": {\"name\": \"t_b_fkey\", "
			   "\"table\": \"u\", \"column\": \"id\", \"on_delete\": \"SET NULL\"}, "
			   "\"nullable\": true}, "
			   "{\"name\": \"c\", \"type\": \"tstzrange\", \"nullable\": true}, "
			   "{\"name\": \"d\", \"type\": \"int\", \"generated\": {\"expression\": \"b * 2\"}, "
			   "\"nullable\": true}], \"constraints\": ["
			   "{\"name\": \"t_ex\", \"type\": \"exclude\", \"exclude\": {\"index_method\": "
			   "\"gist\", \"elements\": \"c WITH &&\", \"predicate\": \"b > 0\"}}, "
			   "{\"name\": \"t_a_b_key\", \"type\": \"unique\", \"columns\": [\"a\", \"b\"], "
			   "\"index_parameters\": {\"storage_parameters\": \"fillfactor = 90\"}}]}}]");
	/* changes of a table the file creates are folded into create_table */
	expect_ops("CREATE TABLE t (id int8 PRIMARY KEY, a varchar(5));\n"
			   "ALTER TABLE t ALTER COLUMN a TYPE text, ALTER COLUMN a SET NOT NULL, "
			   "ADD COLUMN b int DEFAULT 1, ADD CONSTRAINT t_a_key UNIQUE (a);\n"
			   "COMMENT ON COLUMN t.a IS 'the a'; COMMENT ON TABLE t IS 'a table'",
			   "[{\"create_table\": {\"name\": \"t\", \"columns\": ["
			   "{\"name\": \"id\", \"type\": \"int8\", \"pk\": true}, "
			   "{\"name\": \"a\", \"type\": \"text\", \"comment\": \"the a\"}, "
			   "{\"name\": \"b\", \"type\": \"int\", \"default\": \"1\", \"nullable\": true}], "
			   "\"constraints\": [{\"name\": \"t_a_key\", \"type\": \"unique\", \"columns\": "
			   "[\"a\"]}], \"comment\": \"a table\"}}]");
	expect_ops("CREATE UNIQUE INDEX CONCURRENTLY ON t USING gin (a jsonb_path_ops, b COLLATE \"C\" "
			   "ASC NULLS FIRST) WITH (fastupdate = off) WHERE a IS NOT NULL; DROP INDEX i1, i2",
			   "[{\"create_index\": {\"name\": \"t_a_b_idx\", \"table\": \"t\", \"columns\": ["
			   "{\"column\": \"a\", \"opclass\": {\"name\": \"jsonb_path_ops\"}}, "
			   "{\"column\": \"b\", \"collate\": \"C\", \"sort\": \"ASC\", \"nulls\": \"FIRST\"}], "
			   "\"method\": \"gin\", \"unique\": true, \"predicate\": \"a IS NOT NULL\", "
			   "\"storage_parameters\": \"fastupdate = off\"}}, "
			   "{\"drop_index\": {\"name\": \"i1\"}}, {\"drop_index\": {\"name\": \"i2\"}}]");
}

static void
test_placeholders(void **state)
{
	shunt_error err;
	shunt_migration *m;

	(void)state;
	shunt_error_clear(&err);
	m = pg_convert_to_migration("ALTER TABLE t ALTER COLUMN c TYPE int8", "dir/03_c.sql", &err);
	assert_null(m);
	assert_int_equal(err.code, SHUNT_E_INPUT);
	assert_string_equal(err.message, "dir/03_c.sql: 1 value that SQL does not say is missing");
	assert_non_null(strstr(err.detail, "operation 1 (alter_column \"t\".\"c\"): down"));
	assert_non_null(strstr(err.hint, "shunt convert dir/03_c.sql"));

	m = pg_convert_to_migration("SET lock_timeout = '1s';\nALTER TABLE t ADD COLUMN c text;\n"
								"CREATE INDEX i ON t (c);",
								"dir/03_c.sql", &err);
	if (m == NULL)
		fail_msg("%s", err.message);
	assert_string_equal(m->name, "03_c");
	assert_int_equal(m->n_ops, 2);
	assert_int_equal(m->ops[0].kind, OP_ADD_COLUMN);
	assert_int_equal(m->ops[1].kind, OP_CREATE_INDEX);
	migration_free(m);

	m = pg_convert_to_migration("ALTER TABLE t ADD COLUMN", "x.sql", &err);
	assert_null(m);
	assert_string_equal(err.message, "x.sql:1:25: syntax error at end of input");
}

/* Strings that YAML would read as something else stay strings. */
static void
test_yaml_emit(void **state)
{
	static const char *const strings[] = {
		"true", "False", "null", "~", "yes", "no", "10", "1.5", "", " x", "x ", "a: b",
		"- x", "# c", "'q'", "\"dq\"", "back\\slash", "line\nbreak", "tab\there", "ü ñ €",
		"{a}", "[b]", "x #y", "@at", "`tick`", "%pct", "!bang", "&amp", "*star", "|pipe",
		">gt", "?q", "CAST(a AS integer)", "\x01", NULL
	};
	json_t *doc = json_object(), *arr = json_array(), *back;
	shunt_buf b = SHUNT_BUF_INIT;
	shunt_error err;

	(void)state;
	for (size_t i = 0; strings[i]; i++)
		json_array_append_new(arr, json_string(strings[i]));
	json_object_set_new(doc, "strings", arr);
	json_object_set_new(doc, "odd key: #1", json_string("v"));
	json_object_set_new(doc, "empty", json_object());
	json_object_set_new(doc, "none", json_array());
	json_object_set_new(doc, "null", json_null());
	json_object_set_new(doc, "nested", json_pack("[{s:[s,{s:b}]}, [s]]", "a", "b", "c", 1, "d"));
	buf_init(&b);
	yaml_emit_mapping(&b, doc, 0);
	shunt_error_clear(&err);
	back = yaml_json_parse(b.data, b.len, "emit.yaml", &err);
	if (back == NULL)
		fail_msg("%s\n%s", err.message, buf_str(&b));
	if (!json_equal(doc, back))
		fail_msg("round trip differs:\n%s", buf_str(&b));
	json_decref(back);
	json_decref(doc);
	buf_release(&b);
}

static int
teardown(void **state)
{
	(void)state;
	pg_parse_cleanup();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_corpus),		  cmocka_unit_test(test_alter_table),
		cmocka_unit_test(test_fallbacks),	  cmocka_unit_test(test_create),
		cmocka_unit_test(test_placeholders),  cmocka_unit_test(test_yaml_emit),
	};

	return cmocka_run_group_tests(tests, NULL, teardown);
}
