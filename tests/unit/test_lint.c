/*
 * test_lint.c: `shunt lint` (src/pg/pg_lint.c and friends).  Every file of
 * the corpus in tests/lint/ is linted and each statement's findings are
 * compared exactly with its "-- expect:" annotation (tests/lint/README.md),
 * so a missed and an extra finding both fail.  Further tests cover what
 * the corpus cannot show: positions, fixes, syntax errors, options, and
 * knowledge carried from one file to the next.  No server needed.
 *
 * The corpus directory is $SHUNT_LINT_CORPUS, else tests/lint (make runs
 * the tests from the repository root).
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

#include "core/alloc.h"
#include "core/buf.h"
#include "pg/pg_lint.h"
#include "pg/pg_parse.h"
#include "pg/pg_sqlfile.h"

#define MAX_FILES 64

static const char *
corpus_dir(void)
{
	const char *d = getenv("SHUNT_LINT_CORPUS");

	return d && *d ? d : "tests/lint";
}

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

/* ---- expectations ---- */

typedef struct expect {
	bool seen;
	shunt_buf rules;	/* sorted, comma-separated */
} expect;

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorts a list of names and joins it with ","; "none" and empty are "". */
static void
join_sorted(shunt_buf *out, char **names, size_t n)
{
	qsort(names, n, sizeof(*names), str_cmp);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			buf_putc(out, ',');
		buf_put(out, names[i]);
	}
}

/* Reads "expect: a, b" (or "none") from text[0, len). */
static void
parse_expect(const char *text, size_t len, shunt_buf *out)
{
	char *copy = shunt_xstrndup(text, len), *p = copy, *names[64];
	size_t n = 0;

	while (*p) {
		size_t span;

		p += strspn(p, " ,\t");
		span = strcspn(p, " ,\t");
		if (span == 0)
			break;
		if (n < 64 && !(span == 4 && strncmp(p, "none", 4) == 0))
			names[n++] = shunt_xstrndup(p, span);
		p += span;
	}
	join_sorted(out, names, n);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(copy);
}

/* Options from "test-options: pg-version=N assume-in-transaction". */
static void
parse_options(const char *text, size_t len, lint_opts *o)
{
	char *copy = shunt_xstrndup(text, len);

	if (strstr(copy, "assume-in-transaction"))
		o->assume_in_transaction = true;
	if (strstr(copy, "pg-version="))
		o->pg_version = (int)strtol(strstr(copy, "pg-version=") + 11, NULL, 10);
	free(copy);
}

/* Lints one corpus file; returns the number of mismatching statements and
 * prints each. */
static int
check_file(const char *path)
{
	sqlf_file f;
	shunt_error err;
	lint_opts o;
	lint_result res = { NULL, 0, 0 };
	expect *ex;
	size_t len;
	char *text = read_all(path, &len);
	int bad = 0;

	shunt_error_clear(&err);
	lint_opts_init(&o);
	assert_int_equal(sqlf_load(&f, path, text, len, &err), 0);
	if (f.syntax_error)
		fail_msg("%s: corpus file does not parse: %s", path, f.error_message);
	ex = shunt_xcalloc(f.n_stmts + 1, sizeof(*ex));
	for (size_t t = 0; t < f.n_toks; t++) {
		size_t clen;
		const char *c, *at;
		long st;

		if (!f.toks[t].comment)
			continue;
		c = sqlf_comment_text(&f, t, &clen);
		if ((at = memmem(c, clen, "test-options:", 13)) != NULL)
			parse_options(at + 13, clen - (size_t)(at + 13 - c), &o);
		if ((at = memmem(c, clen, "expect:", 7)) == NULL)
			continue;
		st = sqlf_comment_stmt(&f, t);
		if (st < 0 || ex[st].seen) {
			size_t line, col;

			sqlf_position(&f, f.toks[t].start, &line, &col);
			print_error("%s:%zu: %s\n", path, line,
						st < 0 ? "expect: after the last statement" : "a second expect:");
			bad++;
			continue;
		}
		ex[st].seen = true;
		buf_init(&ex[st].rules);
		parse_expect(at + 7, clen - (size_t)(at + 7 - c), &ex[st].rules);
	}
	assert_int_equal(pg_lint_text(text, len, path, &o, NULL, &res, &err), 0);
	for (size_t i = 0; i < f.n_stmts; i++) {
		char *names[64];
		size_t n = 0, line, col;
		shunt_buf got = SHUNT_BUF_INIT;

		for (size_t k = 0; k < res.n; k++)
			if (res.v[k].stmt == (long)i && n < 64)
				names[n++] = (char *)res.v[k].rule->name;
		buf_init(&got);
		join_sorted(&got, names, n);
		sqlf_position(&f, f.stmts[i].start, &line, &col);
		if (!ex[i].seen) {
			print_error("%s:%zu: statement without an expect: comment (got: %s)\n", path, line,
						buf_str(&got)[0] ? buf_str(&got) : "none");
			bad++;
		} else if (strcmp(buf_str(&got), buf_str(&ex[i].rules)) != 0) {
			print_error("%s:%zu: expected [%s], got [%s]\n", path, line, buf_str(&ex[i].rules),
						buf_str(&got));
			for (size_t k = 0; k < res.n; k++)
				if (res.v[k].stmt == (long)i)
					print_error("    %zu:%zu %s: %s\n", res.v[k].line, res.v[k].column,
								res.v[k].rule->name, res.v[k].message);
			bad++;
		}
		buf_release(&got);
		buf_release(&ex[i].rules);
	}
	for (size_t k = 0; k < res.n; k++)
		if (res.v[k].stmt < 0) {
			print_error("%s:%zu: finding outside any statement: %s\n", path, res.v[k].line,
						res.v[k].rule->name);
			bad++;
		}
	free(ex);
	lint_result_release(&res);
	sqlf_release(&f);
	free(text);
	return bad;
}

static void
test_corpus_file(void **state)
{
	const char *path = *state;

	assert_int_equal(check_file(path), 0);
}

/* ---- the rest ---- */

/* Lints text and returns its findings (caller releases). */
static lint_result
lint(const char *text, const lint_opts *o, lint_schema *schema)
{
	lint_result res = { NULL, 0, 0 };
	lint_opts dflt;
	shunt_error err;

	shunt_error_clear(&err);
	lint_opts_init(&dflt);
	if (o == NULL) {
		o = &dflt;
		dflt.disabled[LR_REQUIRE_LOCK_TIMEOUT] = true;
		dflt.disabled[LR_PREFER_ROBUST_STMTS] = true;
	}
	if (pg_lint_text(text, strlen(text), "t.sql", o, schema, &res, &err) != 0)
		fail_msg("lint failed: %s", err.message);
	return res;
}

static const lint_finding *
only(const lint_result *r, lint_rule_id id)
{
	if (r->n != 1)
		fail_msg("expected 1 finding, got %zu (first: %s)", r->n,
				 r->n ? r->v[0].rule->name : "-");
	assert_string_equal(r->v[0].rule->name, lint_rules[id].name);
	return &r->v[0];
}

static void
test_positions_and_fixes(void **state)
{
	lint_result r;
	const lint_finding *fd;

	(void)state;
	r = lint("SELECT 1;\n\nALTER TABLE \"Users\"\n  ADD COLUMN a text,\n  ALTER COLUMN \"Näme\" "
			 "SET NOT NULL;\n", NULL, NULL);
	fd = only(&r, LR_ADDING_NOT_NULLABLE_FIELD);
	assert_int_equal(fd->line, 5);
	assert_int_equal(fd->column, 3);
	assert_int_equal(fd->stmt, 1);
	assert_string_equal(fd->fix,
						"ALTER TABLE \"Users\" ADD CONSTRAINT \"Users_Näme_not_null\" CHECK (\"Näme\" "
						"IS NOT NULL) NOT VALID; ALTER TABLE \"Users\" VALIDATE CONSTRAINT "
						"\"Users_Näme_not_null\"; ALTER TABLE \"Users\" ALTER COLUMN \"Näme\" SET NOT "
						"NULL; ALTER TABLE \"Users\" DROP CONSTRAINT \"Users_Näme_not_null\";");
	lint_result_release(&r);

	r = lint("create index /* c */ i on s.t using btree (a, (lower(b))) where c > 0", NULL, NULL);
	fd = only(&r, LR_REQUIRE_CONCURRENT_INDEX_CREATION);
	assert_string_equal(fd->fix, "create index CONCURRENTLY i on s.t using btree (a, (lower(b))) "
								 "where c > 0;  -- outside a transaction block");
	lint_result_release(&r);

	r = lint("ALTER TABLE t ADD CHECK (x > 0 AND x < 10)", NULL, NULL);
	fd = only(&r, LR_CONSTRAINT_MISSING_NOT_VALID);
	assert_string_equal(fd->fix, "ALTER TABLE t ADD CONSTRAINT t_x_check CHECK (x > 0 AND x < 10) "
								 "NOT VALID; ALTER TABLE t VALIDATE CONSTRAINT t_x_check;  -- in a "
								 "separate transaction");
	lint_result_release(&r);

	r = lint("ALTER TABLE t ADD FOREIGN KEY (a, b) REFERENCES u ON DELETE CASCADE", NULL, NULL);
	fd = only(&r, LR_ADDING_FOREIGN_KEY_CONSTRAINT);
	assert_string_equal(fd->fix, "ALTER TABLE t ADD CONSTRAINT t_a_b_fkey FOREIGN KEY (a, b) "
								 "REFERENCES u ON DELETE CASCADE NOT VALID; ALTER TABLE t VALIDATE "
								 "CONSTRAINT t_a_b_fkey;  -- in a separate transaction");
	lint_result_release(&r);

	r = lint("ALTER TABLE t ADD PRIMARY KEY (id)", NULL, NULL);
	fd = only(&r, LR_ADDING_PRIMARY_KEY_CONSTRAINT);
	assert_string_equal(fd->fix, "CREATE UNIQUE INDEX CONCURRENTLY t_pkey ON t (id); ALTER TABLE t "
								 "ADD CONSTRAINT t_pkey PRIMARY KEY USING INDEX t_pkey;");
	lint_result_release(&r);

	r = lint("REINDEX (VERBOSE) TABLE t", NULL, NULL);
	fd = only(&r, LR_REQUIRE_CONCURRENT_REINDEX);
	assert_string_equal(fd->fix, "REINDEX (VERBOSE) TABLE CONCURRENTLY t;  -- outside a "
								 "transaction block");
	lint_result_release(&r);

	r = lint("ALTER TABLE t ADD COLUMN \"select\" uuid DEFAULT uuid_generate_v4() NOT NULL", NULL,
			 NULL);
	fd = only(&r, LR_ADDING_FIELD_WITH_DEFAULT);
	assert_string_equal(fd->fix, "ALTER TABLE t ADD COLUMN \"select\" uuid; ALTER TABLE t ALTER "
								 "COLUMN \"select\" SET DEFAULT uuid_generate_v4(); then fill "
								 "existing rows in batches (or shunt's add_column with up)");
	lint_result_release(&r);
}

static void
test_syntax_error(void **state)
{
	lint_result r;
	const lint_finding *fd;

	(void)state;
	r = lint("ALTER TABLE t ADD COLUMN a text;\nALTER TABLE t DROP COLUM b;\n", NULL, NULL);
	fd = only(&r, LR_SYNTAX_ERROR);
	assert_int_equal(fd->line, 2);
	assert_int_equal(fd->column, 26); /* COLUM is read as the column's name */
	assert_string_equal(fd->message, "syntax error at or near \"b\"");
	lint_result_release(&r);

	r = lint("SELECT 'unterminated", NULL, NULL);
	only(&r, LR_SYNTAX_ERROR);
	lint_result_release(&r);

	/* comments only, and nothing at all, are no statements and no problem */
	r = lint("-- nothing\n/* at all */\n", NULL, NULL);
	assert_int_equal(r.n, 0);
	lint_result_release(&r);
	r = lint("", NULL, NULL);
	assert_int_equal(r.n, 0);
	lint_result_release(&r);
}

static void
test_versions(void **state)
{
	lint_opts o;
	lint_result r;
	const char *sql = "ALTER TABLE t ADD COLUMN a int8 DEFAULT 0";

	(void)state;
	lint_opts_init(&o);
	o.disabled[LR_REQUIRE_LOCK_TIMEOUT] = true;
	r = lint(sql, &o, NULL);
	assert_int_equal(r.n, 0);
	lint_result_release(&r);
	o.pg_version = 10;
	r = lint(sql, &o, NULL);
	only(&r, LR_ADDING_FIELD_WITH_DEFAULT);
	lint_result_release(&r);
	o.pg_version = 11;
	r = lint(sql, &o, NULL);
	assert_int_equal(r.n, 0);
	lint_result_release(&r);
	/* REINDEX before 12: the fix is the manual swap */
	o.pg_version = 11;
	r = lint("REINDEX INDEX i", &o, NULL);
	assert_non_null(strstr(only(&r, LR_REQUIRE_CONCURRENT_REINDEX)->fix, "before PostgreSQL 12"));
	lint_result_release(&r);
}

/* Types and validated checks declared by one file are known to the next. */
static void
test_schema_across_files(void **state)
{
	lint_schema *sc = lint_schema_new();
	lint_result r;

	(void)state;
	r = lint("CREATE TABLE t (v varchar(10), n int8, ok text);\n"
			 "ALTER TABLE t ADD CONSTRAINT t_ok_nn CHECK (ok IS NOT NULL) NOT VALID;",
			 NULL, sc);
	only(&r, LR_PREFER_TEXT_FIELD);
	lint_result_release(&r);
	/* the table is not new in the second file */
	r = lint("ALTER TABLE t ALTER COLUMN v TYPE varchar(20), ALTER COLUMN ok SET NOT NULL;", NULL,
			 sc);
	assert_int_equal(r.n, 2);
	assert_string_equal(r.v[0].rule->name, "prefer-text-field");
	assert_string_equal(r.v[1].rule->name, "adding-not-nullable-field");
	lint_result_release(&r);
	r = lint("ALTER TABLE t VALIDATE CONSTRAINT t_ok_nn;", NULL, sc);
	assert_int_equal(r.n, 0);
	lint_result_release(&r);
	r = lint("ALTER TABLE t ALTER COLUMN ok SET NOT NULL, ALTER COLUMN v TYPE text, "
			 "ALTER COLUMN n TYPE int4;", NULL, sc);
	assert_int_equal(r.n, 2);
	assert_string_equal(r.v[0].rule->name, "changing-column-type");
	assert_string_equal(r.v[1].rule->name, "prefer-bigint-over-int");
	lint_result_release(&r);
	lint_schema_free(sc);
}

static void
test_options(void **state)
{
	lint_opts o;
	shunt_error err;
	char path[] = "/tmp/shunt-lint-test-XXXXXX";
	int fd;
	FILE *fp;

	(void)state;
	lint_opts_init(&o);
	shunt_error_clear(&err);
	assert_int_equal(lint_opts_disable_list(&o, " ban-drop-table , renaming-column,", &err), 0);
	assert_true(o.disabled[LR_BAN_DROP_TABLE]);
	assert_true(o.disabled[LR_RENAMING_COLUMN]);
	assert_false(o.disabled[LR_BAN_DROP_COLUMN]);
	assert_int_equal(lint_opts_disable_list(&o, "ban-drop-tables", &err), -1);
	assert_int_equal(err.code, SHUNT_E_USAGE);
	assert_string_equal(err.message, "unknown lint rule \"ban-drop-tables\"");

	fd = mkstemp(path);
	assert_true(fd >= 0);
	fp = fdopen(fd, "w");
	fputs("# shunt lint settings\ndisable:\n  - ban-truncate\n  - prefer-jsonb\n"
		  "pg-version: 11\nassume-in-transaction: true\n", fp);
	fclose(fp);
	lint_opts_init(&o);
	assert_int_equal(lint_opts_load_config(&o, path, &err), 0);
	assert_true(o.disabled[LR_BAN_TRUNCATE]);
	assert_true(o.disabled[LR_PREFER_JSONB]);
	assert_int_equal(o.pg_version, 11);
	assert_true(o.assume_in_transaction);
	fp = fopen(path, "w");
	fputs("disable: [no-such-rule]\n", fp);
	fclose(fp);
	assert_int_equal(lint_opts_load_config(&o, path, &err), -1);
	assert_int_equal(err.code, SHUNT_E_USAGE);
	assert_non_null(strstr(err.message, "unknown lint rule \"no-such-rule\""));
	fp = fopen(path, "w");
	fputs("# only a comment\n\n", fp);
	fclose(fp);
	assert_int_equal(lint_opts_load_config(&o, path, &err), 0);
	fp = fopen(path, "w");
	fputs("disabled: [ban-truncate]\n", fp);
	fclose(fp);
	assert_int_equal(lint_opts_load_config(&o, path, &err), -1);
	assert_non_null(strstr(err.message, "unknown key \"disabled\""));
	remove(path);
	assert_int_equal(lint_opts_load_config(&o, path, &err), -1);
	assert_int_equal(err.code, SHUNT_E_IO);
}

/* Every rule has text, a unique name, and its own row. */
static void
test_rule_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < LR__COUNT; i++) {
		const lint_rule *r = &lint_rules[i];

		assert_int_equal(r->id, i);
		assert_ptr_equal(lint_rule_find(r->name), r);
		assert_true(strlen(r->summary) > 0 && strlen(r->why) > 0 && strlen(r->fix) > 0);
		assert_non_null(r->lock);
	}
	assert_null(lint_rule_find("nope"));
}

static void
test_nul_byte(void **state)
{
	lint_opts o;
	lint_result r = { NULL, 0, 0 };
	shunt_error err;

	(void)state;
	lint_opts_init(&o);
	shunt_error_clear(&err);
	assert_int_equal(pg_lint_text("SELECT 1;\0DROP TABLE x", 22, "x.sql", &o, NULL, &r, &err), -1);
	assert_int_equal(err.code, SHUNT_E_INPUT);
	assert_int_equal(r.n, 0);
}

static int
teardown(void **state)
{
	(void)state;
	pg_parse_cleanup();
	return 0;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(((const struct CMUnitTest *)a)->name, ((const struct CMUnitTest *)b)->name);
}

int
main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_positions_and_fixes), cmocka_unit_test(test_syntax_error),
		cmocka_unit_test(test_versions),			cmocka_unit_test(test_schema_across_files),
		cmocka_unit_test(test_options),				cmocka_unit_test(test_rule_table),
		cmocka_unit_test(test_nul_byte),
	};
	struct CMUnitTest tests[MAX_FILES + sizeof(fixed) / sizeof(fixed[0])];
	char *paths[MAX_FILES];
	size_t n = 0, n_files = 0;
	DIR *d = opendir(corpus_dir());
	struct dirent *e;
	int rc;

	if (d == NULL) {
		fprintf(stderr, "test_lint: cannot open the corpus directory %s\n", corpus_dir());
		return 1;
	}
	while ((e = readdir(d)) != NULL && n_files < MAX_FILES) {
		size_t len = strlen(e->d_name);
		shunt_buf p = SHUNT_BUF_INIT;

		if (len < 5 || strcmp(e->d_name + len - 4, ".sql") != 0)
			continue;
		buf_init(&p);
		buf_printf(&p, "%s/%s", corpus_dir(), e->d_name);
		paths[n_files] = buf_detach(&p);
		memset(&tests[n_files], 0, sizeof(tests[0]));
		tests[n_files].name = paths[n_files];
		tests[n_files].test_func = test_corpus_file;
		tests[n_files].initial_state = paths[n_files];
		n_files++;
	}
	closedir(d);
	qsort(tests, n_files, sizeof(tests[0]), name_cmp);
	n = n_files;
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		tests[n++] = fixed[i];
	if (n_files < 10) {
		fprintf(stderr, "test_lint: only %zu corpus files in %s\n", n_files, corpus_dir());
		return 1;
	}
	rc = _cmocka_run_group_tests("test_lint", tests, n, NULL, teardown);
	for (size_t i = 0; i < n_files; i++)
		free(paths[i]);
	return rc;
}
