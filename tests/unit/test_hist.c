/*
 * test_hist.c: unit tests of the log-linear histogram (core/hist.c).
 *
 * The promise under test: a percentile read back is never below the true
 * nearest-rank percentile and at most 1% above it, min and max are exact,
 * and values below 256 are exact.  Distributions are generated
 * deterministically (quantile functions, a fixed-seed PRNG) and the truth
 * is computed by sorting the same values.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include <cmocka.h>

#include "core/hist.h"

static const double pcts[] = { 0, 1, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.99, 100 };

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;

	return (x > y) - (x < y);
}

/* The nearest-rank percentile of sorted[0..n). */
static int64_t
exact_percentile(const int64_t *sorted, size_t n, double p)
{
	size_t rank;

	if (p <= 0)
		return sorted[0];
	rank = (size_t) ceil(p / 100.0 * (double) n - 1e-9);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return sorted[rank - 1];
}

/* Record vals into a histogram and check every percentile of pcts[]
 * against the sorted truth: truth <= got <= truth * 1.01. */
static void
check_against_truth(int64_t *vals, size_t n)
{
	shunt_hist h = SHUNT_HIST_INIT;

	for (size_t i = 0; i < n; i++)
		hist_record(&h, vals[i]);
	qsort(vals, n, sizeof(*vals), cmp_i64);
	assert_int_equal(h.total, n);
	assert_int_equal(h.min, vals[0]);
	assert_int_equal(h.max, vals[n - 1]);
	for (size_t i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++) {
		int64_t want = exact_percentile(vals, n, pcts[i]);
		int64_t got = hist_percentile(&h, pcts[i]);

		if (got < want || (double) got > (double) want * 1.01) {
			print_error("p%g: got %lld, want %lld (within 1%% above)\n", pcts[i],
				(long long) got, (long long) want);
			fail();
		}
	}
	hist_release(&h);
}

/* splitmix64: a fixed-seed generator, so runs are reproducible. */
static uint64_t
next_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

static double
unit_rand(uint64_t *s)
{
	/* (0, 1): never 0, so log() is finite */
	return ((double) (next_rand(s) >> 11) + 0.5) / 9007199254740992.0;
}

static void
test_small_values_are_exact(void **state)
{
	shunt_hist h = SHUNT_HIST_INIT;

	(void) state;
	for (int64_t v = 1; v <= 100; v++)
		hist_record(&h, v);
	assert_int_equal(hist_percentile(&h, 0), 1);
	assert_int_equal(hist_percentile(&h, 1), 1);
	assert_int_equal(hist_percentile(&h, 50), 50);
	assert_int_equal(hist_percentile(&h, 99), 99);
	assert_int_equal(hist_percentile(&h, 99.5), 100);
	assert_int_equal(hist_percentile(&h, 100), 100);
	assert_true(fabs(hist_mean(&h) - 50.5) < 1e-9);
	for (int64_t v = 0; v < 256; v++) {
		assert_int_equal(hist_bucket_lowest(v), v);
		assert_int_equal(hist_bucket_highest(v), v);
	}
	hist_release(&h);
}

static void
test_uniform(void **state)
{
	size_t n = 1000000;
	int64_t *vals = malloc(n * sizeof(*vals));

	(void) state;
	assert_non_null(vals);
	for (size_t i = 0; i < n; i++)
		vals[i] = (int64_t) i + 1;
	check_against_truth(vals, n);
	free(vals);
}

static void
test_exponential(void **state)
{
	/* quantiles of an exponential with mean 5 ms, in microseconds */
	size_t n = 200000;
	int64_t *vals = malloc(n * sizeof(*vals));

	(void) state;
	assert_non_null(vals);
	for (size_t i = 0; i < n; i++)
		vals[i] = (int64_t) llround(-5000.0 * log(1.0 - ((double) i + 0.5) / (double) n));
	check_against_truth(vals, n);
	free(vals);
}

static void
test_lognormal_random(void **state)
{
	/* median 2 ms, sigma 1.5: spans microseconds to seconds */
	size_t n = 300000;
	int64_t *vals = malloc(n * sizeof(*vals));
	uint64_t seed = 42;

	(void) state;
	assert_non_null(vals);
	for (size_t i = 0; i < n; i++) {
		double u1 = unit_rand(&seed), u2 = unit_rand(&seed);
		double z = sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);

		vals[i] = (int64_t) llround(2000.0 * exp(1.5 * z));
	}
	check_against_truth(vals, n);
	free(vals);
}

static void
test_stall_in_the_tail(void **state)
{
	/* what a blocked ALTER TABLE looks like: 99% fast, 1% stuck for 2 s */
	shunt_hist h = SHUNT_HIST_INIT;

	(void) state;
	hist_record_n(&h, 1000, 9900);
	hist_record_n(&h, 2000000, 100);
	assert_int_equal(h.total, 10000);
	assert_in_range(hist_percentile(&h, 50), 1000, 1010);
	assert_in_range(hist_percentile(&h, 99), 1000, 1010);
	assert_in_range(hist_percentile(&h, 99.01), 2000000, 2020000);
	assert_int_equal(hist_percentile(&h, 100), 2000000);
	assert_int_equal(h.max, 2000000);
	hist_release(&h);
}

static void
test_bucket_bounds(void **state)
{
	size_t prev = 0;

	(void) state;
	/* every value up to 2^20, then powers of two and their neighbours */
	for (int64_t v = 0; v < (1 << 20); v++) {
		size_t b = hist_bucket_of(v);
		int64_t lo = hist_bucket_lowest(v), hi = hist_bucket_highest(v);

		assert_true(lo <= v && v <= hi);
		assert_true(b == prev || b == prev + 1);
		if (v >= 256)
			assert_true((double) (hi - lo + 1) <= (double) lo / 128.0);
		prev = b;
	}
	for (int k = 8; k < 63; k++) {
		int64_t p = (int64_t) 1 << k;
		int64_t vs[] = { p - 1, p, p + 1 };

		for (size_t i = 0; i < 3; i++) {
			int64_t lo = hist_bucket_lowest(vs[i]), hi = hist_bucket_highest(vs[i]);

			assert_true(lo <= vs[i] && vs[i] <= hi);
			assert_true((double) (hi - lo + 1) <= (double) lo / 128.0);
		}
		assert_int_equal(hist_bucket_lowest(p), p);
		assert_int_equal(hist_bucket_of(p), hist_bucket_of(p - 1) + 1);
	}
	assert_int_equal(hist_bucket_highest(INT64_MAX), INT64_MAX);
}

static void
test_extremes(void **state)
{
	shunt_hist h = SHUNT_HIST_INIT;

	(void) state;
	assert_int_equal(hist_percentile(&h, 50), 0);
	assert_true(hist_mean(&h) == 0.0);
	hist_record(&h, -5); /* a clock step back must not corrupt anything */
	assert_int_equal(h.min, 0);
	hist_record(&h, INT64_MAX);
	hist_record(&h, (int64_t) 3600 * 1000000); /* an hour in microseconds */
	assert_int_equal(h.total, 3);
	assert_int_equal(hist_percentile(&h, 100), INT64_MAX);
	assert_int_equal(hist_percentile(&h, 0), 0);
	assert_in_range(hist_percentile(&h, 50), 3600000000LL, 3636000000LL);
	hist_record_n(&h, 7, 0); /* no-op */
	assert_int_equal(h.total, 3);
	hist_release(&h);
	assert_null(h.counts);
	assert_int_equal(h.total, 0);
}

static void
test_merge_equals_recording_all(void **state)
{
	shunt_hist a = SHUNT_HIST_INIT, b = SHUNT_HIST_INIT, all = SHUNT_HIST_INIT;
	shunt_hist empty = SHUNT_HIST_INIT;
	uint64_t seed = 7;

	(void) state;
	for (int i = 0; i < 50000; i++) {
		int64_t v = (int64_t) (next_rand(&seed) % 5000000);

		hist_record(i % 3 ? &a : &b, v);
		hist_record(&all, v);
	}
	hist_merge(&a, &b);
	hist_merge(&a, &empty);
	hist_merge(&empty, &b); /* into an empty one: takes min and max */
	assert_int_equal(empty.min, b.min);
	assert_int_equal(empty.max, b.max);
	assert_int_equal(a.total, all.total);
	assert_int_equal(a.min, all.min);
	assert_int_equal(a.max, all.max);
	for (size_t i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++)
		assert_int_equal(hist_percentile(&a, pcts[i]), hist_percentile(&all, pcts[i]));
	hist_release(&a);
	hist_release(&b);
	hist_release(&all);
	hist_release(&empty);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_small_values_are_exact),
		cmocka_unit_test(test_uniform),
		cmocka_unit_test(test_exponential),
		cmocka_unit_test(test_lognormal_random),
		cmocka_unit_test(test_stall_in_the_tail),
		cmocka_unit_test(test_bucket_bounds),
		cmocka_unit_test(test_extremes),
		cmocka_unit_test(test_merge_equals_recording_all),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
