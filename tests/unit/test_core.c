/*
 * test_core.c: unit tests of the database-neutral core: generated names,
 * the plan's JSON round trip, the backfill's batch sizer, errors, strings
 * and the version model.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/backfill.h"
#include "core/buf.h"
#include "core/error.h"
#include "core/model.h"
#include "core/plan.h"

static void
test_generated_name_short(void **state)
{
	char *n = model_generated_name("_shunt_new_", "price");

	(void) state;
	assert_string_equal(n, "_shunt_new_price");
	free(n);
}

static void
test_generated_name_long_is_bounded_and_distinct(void **state)
{
	/* 63 bytes, the longest identifier PostgreSQL keeps */
	const char *a = "a_very_long_column_name_that_fills_all_sixty_three_bytes_xxxxx1";
	const char *b = "a_very_long_column_name_that_fills_all_sixty_three_bytes_xxxxx2";
	char *na = model_generated_name("_shunt_new_", a);
	char *nb = model_generated_name("_shunt_new_", b);

	(void) state;
	assert_int_equal(strlen(a), 63);
	assert_true(strlen(na) <= 63);
	assert_true(strlen(nb) <= 63);
	assert_string_not_equal(na, nb);
	assert_memory_equal(na, "_shunt_new_a_very_long", 22);
	free(na);
	free(nb);
}

static void
test_generated_name_keeps_utf8_whole(void **state)
{
	/* 30 two-byte letters: a cut must not split one */
	char name[61];
	char *n;

	(void) state;
	for (int i = 0; i < 30; i++) {
		name[2 * i] = (char) 0xC3;
		name[2 * i + 1] = (char) 0x9C; /* Ü */
	}
	name[60] = '\0';
	n = model_generated_name("_shunt_new_", name);
	assert_true(strlen(n) <= 63);
	for (size_t i = 11; n[i] && n[i] != '_'; i++) {
		/* every lead byte is followed by its continuation byte */
		if ((unsigned char) n[i] == 0xC3)
			assert_int_equal((unsigned char) n[i + 1], 0x9C);
	}
	assert_int_not_equal((unsigned char) n[strlen(n) - 10], 0xC3);
	free(n);
}

static void
test_generated_name_is_stable(void **state)
{
	/* names are stored in plans and recomputed later: never change them
	 * (FNV-1a of the name, computed independently) */
	char *n = model_generated_name("_shunt_sync_", "x123456789012345678901234567890123456789012345678901234567890");

	(void) state;
	assert_string_equal(n, "_shunt_sync_x12345678901234567890123456789012345678901_4d965ddf");
	free(n);
}

static void
test_plan_json_round_trip(void **state)
{
	plan p, q;
	plan_step *s;
	json_t *j;
	char *a, *b;
	shunt_error err;

	(void) state;
	plan_init(&p);
	s = plan_add_txn(&p.start, "add column", "\"public\".\"t\"");
	plan_step_add_sql(s, "ALTER TABLE \"public\".\"t\" ADD COLUMN \"x\" int");
	plan_step_add_sql(s, "COMMENT ON COLUMN \"public\".\"t\".\"x\" IS 'it''s'");
	plan_add_concurrent(&p.start, "index", "CREATE INDEX CONCURRENTLY i ON t (x)", "DROP INDEX CONCURRENTLY IF EXISTS i");
	s = plan_add_backfill(&p.start, "backfill", "public", "t");
	s->set_clause = strdup("x");
	plan_add_views(&p.start, "views");
	s = plan_add_txn(&p.rollback, "undo", NULL);
	plan_step_add_sql(s, "DROP TABLE x");
	s->only_if_started = 2;

	j = plan_to_json(&p);
	a = json_dumps(j, JSON_SORT_KEYS);
	assert_int_equal(plan_from_json(&q, j, &err), 0);
	json_decref(j);
	j = plan_to_json(&q);
	b = json_dumps(j, JSON_SORT_KEYS);
	json_decref(j);
	assert_string_equal(a, b);
	assert_int_equal(q.start.n, 4);
	assert_int_equal(q.start.steps[0].n_sql, 2);
	assert_int_equal(q.start.steps[1].kind, STEP_CONCURRENT);
	assert_string_equal(q.start.steps[1].cleanup, "DROP INDEX CONCURRENTLY IF EXISTS i");
	assert_string_equal(q.start.steps[2].set_clause, "x");
	assert_int_equal(q.rollback.steps[0].only_if_started, 2);
	assert_int_equal(q.start.steps[0].only_if_started, -1);
	free(a);
	free(b);
	plan_release(&p);
	plan_release(&q);
}

static void
test_plan_from_damaged_json(void **state)
{
	plan q;
	shunt_error err;
	json_t *j = json_loads("{\"start\": [{\"kind\": \"nope\", \"what\": \"x\"}], \"complete\": [], \"rollback\": []}", 0, NULL);

	(void) state;
	assert_int_equal(plan_from_json(&q, j, &err), -1);
	assert_int_equal(err.code, SHUNT_E_STATE);
	assert_non_null(strstr(err.message, "damaged"));
	json_decref(j);
}

static void
test_phase_prepend_keeps_order(void **state)
{
	plan_phase a, b;

	(void) state;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	plan_add_txn(&a, "3", NULL);
	plan_add_txn(&b, "1", NULL);
	plan_add_txn(&b, "2", NULL);
	plan_phase_prepend(&a, &b);
	assert_int_equal(a.n, 3);
	assert_string_equal(a.steps[0].what, "1");
	assert_string_equal(a.steps[1].what, "2");
	assert_string_equal(a.steps[2].what, "3");
	assert_int_equal(b.n, 0);
	plan_phase_release(&a);
}

static void
test_sizer_grows_and_shrinks(void **state)
{
	backfill_sizer s;

	(void) state;
	backfill_sizer_init(&s, 0, 100);
	assert_int_equal(backfill_sizer_next(&s), 1000);
	backfill_sizer_observe(&s, 1000, 10);   /* 10x too fast: at most doubles */
	assert_int_equal(backfill_sizer_next(&s), 2000);
	backfill_sizer_observe(&s, 2000, 100);  /* on target: stays */
	assert_int_equal(backfill_sizer_next(&s), 2000);
	backfill_sizer_observe(&s, 2000, 1000); /* 10x too slow: at most halves */
	assert_int_equal(backfill_sizer_next(&s), 1000);
	backfill_sizer_failed(&s);
	assert_int_equal(backfill_sizer_next(&s), 500);
	for (int i = 0; i < 20; i++)
		backfill_sizer_failed(&s);
	assert_int_equal(backfill_sizer_next(&s), 100); /* floor */
	for (int i = 0; i < 30; i++)
		backfill_sizer_observe(&s, backfill_sizer_next(&s), 1);
	assert_int_equal(backfill_sizer_next(&s), 50000); /* ceiling */
}

static void
test_sizer_fixed(void **state)
{
	backfill_sizer s;

	(void) state;
	backfill_sizer_init(&s, 250, 100);
	backfill_sizer_observe(&s, 250, 1);
	backfill_sizer_failed(&s);
	assert_int_equal(backfill_sizer_next(&s), 250);
}

static void
test_error_context_and_retryable(void **state)
{
	shunt_error e;

	(void) state;
	assert_int_equal(shunt_error_set(&e, SHUNT_E_DB, "boom %d", 1), -1);
	assert_string_equal(e.message, "boom 1");
	shunt_error_add_context(&e, "while a");
	shunt_error_add_context(&e, "while %s", "b");
	assert_string_equal(e.context, "while a\nwhile b");
	assert_false(shunt_error_is_retryable(&e));
	memcpy(e.sqlstate, "55P03", 6);
	assert_true(shunt_error_is_retryable(&e));
	memcpy(e.sqlstate, "40P01", 6);
	assert_true(shunt_error_is_retryable(&e));
	memcpy(e.sqlstate, "23505", 6);
	assert_false(shunt_error_is_retryable(&e));
}

static void
test_error_truncates_safely(void **state)
{
	shunt_error e;
	char big[2000];

	(void) state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	shunt_error_set(&e, SHUNT_E_DB, "%s", big);
	assert_int_equal(strlen(e.message), sizeof(e.message) - 1);
	for (int i = 0; i < 10; i++)
		shunt_error_add_context(&e, "%s", big);
	assert_true(strlen(e.context) < sizeof(e.context));
}

static void
test_buf(void **state)
{
	shunt_buf b = SHUNT_BUF_INIT;
	char *s;

	(void) state;
	assert_string_equal(buf_str(&b), "");
	for (int i = 0; i < 1000; i++)
		buf_printf(&b, "%d,", i);
	assert_int_equal(b.len, strlen(buf_str(&b)));
	assert_memory_equal(buf_str(&b), "0,1,2,", 6);
	buf_reset(&b);
	buf_putn(&b, "abc", 2);
	buf_putc(&b, 'z');
	s = buf_detach(&b);
	assert_string_equal(s, "abz");
	assert_null(b.data);
	free(s);
}

static void
test_model_copy_and_lookup(void **state)
{
	model m, c;
	model_table *t;
	model_column *col;

	(void) state;
	model_init(&m, "app");
	t = model_add_table(&m, "users", "users");
	col = model_add_column(t, "full_name", "name", "text");
	col->not_null = true;
	model_add_column(t, "age", "_shunt_new_age", "integer");
	model_copy(&c, &m);
	model_release(&m);
	t = model_find_table(&c, "users");
	assert_non_null(t);
	assert_non_null(model_find_column(t, "full_name"));
	assert_true(model_find_column(t, "full_name")->not_null);
	assert_string_equal(model_find_column_phys(t, "_shunt_new_age")->name, "age");
	model_remove_column(t, "full_name");
	assert_null(model_find_column(t, "full_name"));
	assert_int_equal(t->n_cols, 1);
	model_remove_table(&c, "users");
	assert_null(model_find_table(&c, "users"));
	model_release(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_generated_name_short),
		cmocka_unit_test(test_generated_name_long_is_bounded_and_distinct),
		cmocka_unit_test(test_generated_name_keeps_utf8_whole),
		cmocka_unit_test(test_generated_name_is_stable),
		cmocka_unit_test(test_plan_json_round_trip),
		cmocka_unit_test(test_plan_from_damaged_json),
		cmocka_unit_test(test_phase_prepend_keeps_order),
		cmocka_unit_test(test_sizer_grows_and_shrinks),
		cmocka_unit_test(test_sizer_fixed),
		cmocka_unit_test(test_error_context_and_retryable),
		cmocka_unit_test(test_error_truncates_safely),
		cmocka_unit_test(test_buf),
		cmocka_unit_test(test_model_copy_and_lookup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
