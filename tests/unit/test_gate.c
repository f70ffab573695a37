/*
 * test_gate.c: the pure half of the contract gate (src/pg/pg_gate_sql.c):
 * what a contract removes, read from its statements, and which query texts
 * (as pg_stat_statements normalises them) use it.  No server needed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pg/pg_gate_sql.h"
#include "pg/pg_parse.h"

/* The contract of a migration that renames items.name to title, changes
 * the type of price (drop + rename of the duplicate), adds sku, drops the
 * table "old stuff", renames orders to purchases, and drops the previous
 * version schema. */
static const char *const contract[] = {
	"DROP SCHEMA IF EXISTS \"public_01_prev\" CASCADE",
	"DROP TRIGGER IF EXISTS \"_shunt_sync_items\" ON \"public\".\"items\"",
	"DROP TABLE IF EXISTS \"public\".\"old stuff\"",
	"ALTER TABLE \"public\".\"items\" DROP COLUMN IF EXISTS \"price\"",
	"ALTER TABLE \"public\".\"items\" RENAME COLUMN \"name\" TO \"title\"",
	"ALTER TABLE \"public\".\"items\" RENAME COLUMN \"_shunt_new_price\" TO \"price\"",
	"ALTER TABLE \"public\".\"items\" RENAME COLUMN \"_shunt_new_sku\" TO \"sku\"",
	"ALTER TABLE \"public\".\"orders\" RENAME TO \"purchases\"",
	"ALTER TABLE \"public\".\"items\" ALTER COLUMN \"price\" SET NOT NULL",
	"ALTER TABLE \"other\".\"items\" DROP COLUMN \"qty\"",
	"ALTER TABLE \"public\".\"plain\" ADD CONSTRAINT \"x\" CHECK (true)",
};

static void
load(gate_affected *a)
{
	shunt_error err;

	gate_affected_init(a, "public");
	for (size_t i = 0; i < sizeof(contract) / sizeof(contract[0]); i++) {
		shunt_error_clear(&err);
		if (gate_affected_add_sql(a, contract[i], &err) != 0)
			fail_msg("contract statement %zu: %s", i, err.message);
	}
	gate_affected_finish(a);
}

/* Checks query and returns its findings (malloc'd); *n gets the count. */
static char *
check(const gate_affected *a, const char *query, int *n)
{
	shunt_buf out = SHUNT_BUF_INIT;
	shunt_error err;

	buf_init(&out);
	shunt_error_clear(&err);
	*n = gate_query_check(a, query, &out, &err);
	if (*n < 0)
		fail_msg("query [%s] did not parse: %s", query, err.message);
	return buf_detach(&out);
}

static void
expect_safe(const gate_affected *a, const char *query)
{
	int n;
	char *out = check(a, query, &n);

	if (n != 0)
		fail_msg("expected [%s] to be safe, got:\n%s", query, out);
	free(out);
}

/* query must give exactly n findings, one of them containing want. */
static void
expect_finding(const gate_affected *a, const char *query, int n_want, const char *want)
{
	int n;
	char *out = check(a, query, &n);

	if (n != n_want || strstr(out, want) == NULL)
		fail_msg("query [%s]: expected %d finding(s) with [%s], got %d:\n%s", query, n_want, want, n, out);
	free(out);
}

static void
test_affected(void **state)
{
	gate_affected a;
	const gate_table *items = NULL, *orders = NULL, *old = NULL;

	(void) state;
	load(&a);
	for (size_t i = 0; i < a.n_tables; i++) {
		if (strcmp(a.tables[i].name, "items") == 0)
			items = &a.tables[i];
		else if (strcmp(a.tables[i].name, "orders") == 0)
			orders = &a.tables[i];
		else if (strcmp(a.tables[i].name, "old stuff") == 0)
			old = &a.tables[i];
		else if (strcmp(a.tables[i].name, "plain") == 0)
			assert_false(a.tables[i].cols_change || a.tables[i].removed || a.tables[i].n_removed);
		else
			fail_msg("unexpected table %s", a.tables[i].name);
	}
	assert_non_null(items);
	assert_non_null(orders);
	assert_non_null(old);
	/* price is dropped but a new column takes its name: still there */
	assert_int_equal(items->n_removed, 1);
	assert_string_equal(items->removed_cols[0], "name");
	assert_true(items->cols_change);
	assert_false(items->removed);
	/* the names only the new version has */
	assert_int_equal(items->n_new_only, 2);
	assert_string_equal(items->new_only[0], "title");
	assert_string_equal(items->new_only[1], "sku");
	assert_true(orders->removed);
	assert_string_equal(orders->new_name, "purchases");
	assert_true(old->removed);
	assert_null(old->new_name);
	assert_int_equal(a.n_dropped_schemas, 1);
	assert_string_equal(a.dropped_schemas[0], "public_01_prev");
	assert_false(gate_affected_empty(&a));
	gate_affected_release(&a);
}

static void
test_swap_and_empty(void **state)
{
	gate_affected a;
	shunt_error err;
	static const char *const swap[] = {
		"ALTER TABLE \"public\".\"t\" RENAME COLUMN \"a\" TO \"_shunt_swap_0\"",
		"ALTER TABLE \"public\".\"t\" RENAME COLUMN \"b\" TO \"_shunt_swap_1\"",
		"ALTER TABLE \"public\".\"t\" RENAME COLUMN \"_shunt_swap_0\" TO \"b\"",
		"ALTER TABLE \"public\".\"t\" RENAME COLUMN \"_shunt_swap_1\" TO \"a\"",
	};

	(void) state;
	gate_affected_init(&a, "public");
	assert_true(gate_affected_empty(&a));
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(gate_affected_add_sql(&a, swap[i], &err), 0);
	gate_affected_finish(&a);
	assert_int_equal(a.n_tables, 1);
	assert_int_equal(a.tables[0].n_removed, 0);
	assert_true(a.tables[0].cols_change);
	expect_safe(&a, "SELECT a, b FROM t WHERE a = $1");
	expect_finding(&a, "SELECT * FROM t", 1, "selects * from \"t\"");
	assert_int_equal(gate_affected_add_sql(&a, "ALTER TABLE", &err), -1);
	assert_int_equal(err.code, SHUNT_E_INPUT);
	gate_affected_release(&a);

	/* validations and fixups only: nothing a query can notice */
	gate_affected_init(&a, "public");
	assert_int_equal(gate_affected_add_sql(&a, "ALTER TABLE \"public\".\"t\" VALIDATE CONSTRAINT \"c\"; "
											   "ALTER TABLE \"public\".\"t\" ALTER COLUMN \"x\" SET NOT NULL",
										   &err),
					 0);
	gate_affected_finish(&a);
	assert_true(gate_affected_empty(&a));
	gate_affected_release(&a);
}

static void
test_columns(void **state)
{
	gate_affected a;

	(void) state;
	load(&a);
	expect_finding(&a, "SELECT name FROM items WHERE id = $1", 1,
				   "reads column \"name\" of \"items\", which complete drops or renames");
	expect_finding(&a, "SELECT i.name FROM items i", 1, "reads column \"name\"");
	expect_finding(&a, "SELECT items.name FROM public.items", 1, "reads column \"name\"");
	expect_finding(&a, "SELECT public.items.name FROM public.items", 1, "reads column \"name\"");
	expect_finding(&a, "SELECT id FROM items WHERE upper(name) LIKE $1 ORDER BY name", 1, "\"name\"");
	expect_finding(&a, "UPDATE items SET name = $1 WHERE id = $2", 1, "writes column \"name\" of \"items\"");
	expect_finding(&a, "INSERT INTO items (id, name) VALUES ($1, $2)", 1, "writes column \"name\"");
	expect_finding(&a, "INSERT INTO items (id, price) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET name = $3",
				   1, "writes column \"name\"");
	expect_finding(&a, "DELETE FROM items WHERE name = $1", 1, "reads column \"name\"");
	expect_finding(&a, "WITH c AS (SELECT name FROM items) SELECT count(*) FROM c", 1, "\"name\"");
	/* the new version's names, another schema's table, a qualifier that
	 * is another table */
	expect_safe(&a, "SELECT id, title, price, sku FROM items WHERE id = $1");
	expect_safe(&a, "SELECT name FROM public_02_new.items");
	expect_safe(&a, "SELECT name FROM other.items");
	expect_safe(&a, "SELECT t.name FROM teams t JOIN items i ON i.id = t.item_id");
	expect_safe(&a, "SELECT count(*) FROM items");
	expect_safe(&a, "UPDATE items SET title = $1, price = $2 WHERE id = $3");
	/* a column of the same name in another table of the statement still
	 * counts (see the XXX in pg_gate_sql.h) */
	expect_finding(&a, "SELECT name FROM teams JOIN items USING (id)", 1, "reads column \"name\"");
	gate_affected_release(&a);
}

static void
test_star(void **state)
{
	gate_affected a;

	(void) state;
	load(&a);
	expect_finding(&a, "SELECT * FROM items", 1, "selects * from \"items\", whose columns complete changes");
	expect_finding(&a, "SELECT i.* FROM items i JOIN plain p ON p.id = i.id", 1, "selects i.* from \"items\"");
	expect_finding(&a, "INSERT INTO items VALUES ($1, $2, $3)", 1,
				   "inserts without a column list into \"items\"");
	expect_finding(&a, "INSERT INTO items (id, price) VALUES ($1, $2) RETURNING *", 1, "selects * from \"items\"");
	expect_finding(&a, "SELECT * FROM \"public\".items WHERE name = $1", 2, "reads column \"name\"");
	/* a table whose columns stay, EXISTS, count(*), a CTE of the same name */
	expect_safe(&a, "SELECT * FROM plain");
	expect_safe(&a, "SELECT p.* FROM plain p JOIN items i ON i.id = p.id");
	expect_safe(&a, "SELECT id FROM plain p WHERE EXISTS (SELECT * FROM items i WHERE i.id = p.id)");
	expect_safe(&a, "WITH items AS (SELECT 1 AS id) SELECT * FROM items");
	expect_safe(&a, "INSERT INTO items DEFAULT VALUES");
	gate_affected_release(&a);
}

/* A statement that names what only the new version has is the new
 * version's: its SELECT * and old names do not count. */
static void
test_new_version(void **state)
{
	gate_affected a;

	(void) state;
	load(&a);
	expect_safe(&a, "SELECT * FROM items WHERE title = $1");
	expect_safe(&a, "SELECT * FROM items WHERE sku = $1 ORDER BY id");
	expect_safe(&a, "SELECT i.* FROM items i JOIN plain p ON p.id = i.id WHERE i.title = $1");
	expect_safe(&a, "INSERT INTO items (title, price) VALUES ($1, $2) RETURNING *");
	expect_safe(&a, "UPDATE items SET sku = $1 WHERE id = $2 RETURNING *");
	/* price keeps its name: no proof of either version */
	expect_finding(&a, "SELECT * FROM items WHERE price = $1", 1, "selects * from \"items\"");
	/* unqualified with two relations: title could be the other table's */
	expect_finding(&a, "SELECT * FROM items JOIN plain USING (id) WHERE title = $1", 1, "selects * from \"items\"");
	/* qualified with another relation: not items' column */
	expect_finding(&a, "SELECT i.* FROM items i JOIN plain p ON p.id = i.id WHERE p.title = $1", 1,
				   "selects i.* from \"items\"");
	gate_affected_release(&a);
}

static void
test_tables_and_schemas(void **state)
{
	gate_affected a;

	(void) state;
	load(&a);
	expect_finding(&a, "SELECT id FROM orders WHERE id = $1", 1,
				   "uses table \"orders\", which complete renames to \"purchases\"");
	expect_finding(&a, "SELECT count(*) FROM \"old stuff\"", 1, "uses table \"old stuff\", which complete drops");
	expect_finding(&a, "SELECT id FROM public_01_prev.plain", 1,
				   "uses schema \"public_01_prev\", which complete drops");
	expect_finding(&a, "SELECT name FROM public_01_prev.items", 2, "reads column \"name\"");
	expect_safe(&a, "SELECT id FROM purchases");
	expect_safe(&a, "SELECT id FROM other.orders");
	gate_affected_release(&a);
}

static void
test_utility_and_errors(void **state)
{
	gate_affected a;
	shunt_buf out = SHUNT_BUF_INIT;
	shunt_error err;
	int n;

	(void) state;
	load(&a);
	/* DDL, COPY and other utility statements never count */
	expect_safe(&a, "CREATE VIEW v AS SELECT name FROM items");
	expect_safe(&a, "COPY items (name) TO STDOUT");
	expect_safe(&a, "ALTER TABLE items DROP COLUMN name");
	expect_safe(&a, "SET search_path = public");
	/* shunt's own backfill reads old columns; it names _shunt_ objects */
	expect_safe(&a, "WITH keys AS (SELECT \"id\" AS _shunt_k1 FROM \"public\".\"items\") "
					"UPDATE \"public\".\"items\" t SET \"_shunt_new_title\" = (\"name\")");
	/* a cursor's query does */
	expect_finding(&a, "DECLARE c CURSOR FOR SELECT name FROM items", 1, "reads column \"name\"");
	/* two statements: each finding once */
	expect_finding(&a, "SELECT name FROM items; SELECT name FROM items", 1, "reads column \"name\"");
	buf_init(&out);
	shunt_error_clear(&err);
	n = gate_query_check(&a, "SELECT FROM WHERE (", &out, &err);
	assert_int_equal(n, -1);
	assert_int_equal(err.code, SHUNT_E_INPUT);
	assert_non_null(strstr(err.message, "syntax error"));
	buf_release(&out);
	gate_affected_release(&a);
}

static void
test_hostile_names(void **state)
{
	gate_affected a;
	shunt_error err;

	(void) state;
	gate_affected_init(&a, "My \"Schema\"");
	assert_int_equal(gate_affected_add_sql(&a,
										   "ALTER TABLE \"My \"\"Schema\"\"\".\"need\"\"q(uot\" "
										   "DROP COLUMN IF EXISTS \"Ünïcode col\"",
										   &err),
					 0);
	gate_affected_finish(&a);
	expect_finding(&a, "SELECT \"Ünïcode col\" FROM \"need\"\"q(uot\"", 1, "reads column \"Ünïcode col\"");
	expect_finding(&a, "SELECT * FROM \"My \"\"Schema\"\"\".\"need\"\"q(uot\"", 1, "selects * from");
	/* folding: unquoted names are lower case */
	expect_safe(&a, "SELECT ÜNÏCODE_COL FROM \"need\"\"q(uot\"");
	expect_safe(&a, "SELECT * FROM \"My Schema\".\"need\"\"q(uot\"");
	gate_affected_release(&a);
}

static int
teardown(void **state)
{
	(void) state;
	pg_parse_cleanup();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_affected),
		cmocka_unit_test(test_swap_and_empty),
		cmocka_unit_test(test_columns),
		cmocka_unit_test(test_star),
		cmocka_unit_test(test_new_version),
		cmocka_unit_test(test_tables_and_schemas),
		cmocka_unit_test(test_utility_and_errors),
		cmocka_unit_test(test_hostile_names),
	};

	return cmocka_run_group_tests(tests, NULL, teardown);
}
