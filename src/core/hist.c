/*
 * hist.c: the log-linear histogram of hist.h.
 *
 * Bucket of v: with e = max(0, floor(log2 v) - 7), the index is
 * e * 128 + (v >> e).  For v < 256 that is v itself; above, v >> e lies in
 * [128, 256), so each power of two gets 128 buckets of width 2^e, and the
 * indexes of consecutive powers follow each other without a gap.  This is
 * HdrHistogram's layout with two significant digits, without its
 * configurable range: counts grow on demand instead.
 */
#include "core/hist.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

#define SUB_COUNT ((uint64_t) 1 << HIST_SUB_BITS) /* 128 */

static int
msb64(uint64_t v)
{
	/* v > 0 here; __builtin_clzll(0) is undefined */
	return 63 - __builtin_clzll(v);
}

static int
shift_of(uint64_t v)
{
	int e;

	if (v < 2 * SUB_COUNT)
		return 0;
	e = msb64(v) - HIST_SUB_BITS;
	return e;
}

size_t
hist_bucket_of(int64_t value)
{
	uint64_t v = value < 0 ? 0 : (uint64_t) value;
	int e = shift_of(v);

	return (size_t) e * SUB_COUNT + (size_t) (v >> e);
}

/* Lowest value of bucket i, and its width. */
static void
bucket_range(size_t i, uint64_t *lowest, uint64_t *width)
{
	uint64_t e, m;

	if (i < 2 * SUB_COUNT) {
		*lowest = i;
		*width = 1;
		return;
	}
	e = i / SUB_COUNT - 1;
	m = i - e * SUB_COUNT;
	*lowest = m << e;
	*width = (uint64_t) 1 << e;
}

int64_t
hist_bucket_lowest(int64_t value)
{
	uint64_t lo, w;

	bucket_range(hist_bucket_of(value), &lo, &w);
	return (int64_t) lo;
}

int64_t
hist_bucket_highest(int64_t value)
{
	uint64_t lo, w;

	bucket_range(hist_bucket_of(value), &lo, &w);
	return (int64_t) (lo + (w - 1));
}

void
hist_init(shunt_hist *h)
{
	memset(h, 0, sizeof(*h));
}

void
hist_release(shunt_hist *h)
{
	free(h->counts);
	hist_init(h);
}

/* Make room for bucket i; grows geometrically so a rising series of
 * values costs O(log) reallocations. */
static void
ensure(shunt_hist *h, size_t i)
{
	size_t n;

	if (i < h->len)
		return;
	n = h->len ? h->len : 2 * SUB_COUNT;
	while (n <= i)
		n += n / 2;
	h->counts = shunt_xrealloc(h->counts, n * sizeof(*h->counts));
	memset(h->counts + h->len, 0, (n - h->len) * sizeof(*h->counts));
	h->len = n;
}

void
hist_record_n(shunt_hist *h, int64_t value, uint64_t n)
{
	size_t i;

	if (n == 0)
		return;
	if (value < 0)
		value = 0;
	i = hist_bucket_of(value);
	ensure(h, i);
	h->counts[i] += n;
	if (h->total == 0 || value < h->min)
		h->min = value;
	if (h->total == 0 || value > h->max)
		h->max = value;
	h->total += n;
	h->sum += (double) value * (double) n;
}

void
hist_record(shunt_hist *h, int64_t value)
{
	hist_record_n(h, value, 1);
}

void
hist_merge(shunt_hist *dst, const shunt_hist *src)
{
	if (src->total == 0)
		return;
	ensure(dst, src->len - 1);
	for (size_t i = 0; i < src->len; i++)
		dst->counts[i] += src->counts[i];
	if (dst->total == 0 || src->min < dst->min)
		dst->min = src->min;
	if (dst->total == 0 || src->max > dst->max)
		dst->max = src->max;
	dst->total += src->total;
	dst->sum += src->sum;
}

int64_t
hist_percentile(const shunt_hist *h, double p)
{
	uint64_t rank, cum = 0;

	if (h->total == 0)
		return 0;
	if (!(p > 0.0))
		return h->min;
	if (p >= 100.0)
		return h->max;
	/* nearest rank: ceil(p/100 * N), computed so that 50% of 4 is 2, not
	 * 3 from a rounding error in the product */
	rank = (uint64_t) ceil(p / 100.0 * (double) h->total - 1e-9);
	if (rank < 1)
		rank = 1;
	for (size_t i = 0; i < h->len; i++) {
		cum += h->counts[i];
		if (cum >= rank) {
			uint64_t lo, w;
			int64_t v;

			bucket_range(i, &lo, &w);
			v = (int64_t) (lo + (w - 1));
			if (v > h->max)
				v = h->max;
			if (v < h->min)
				v = h->min;
			return v;
		}
	}
	return h->max;
}

double
hist_mean(const shunt_hist *h)
{
	return h->total ? h->sum / (double) h->total : 0.0;
}
