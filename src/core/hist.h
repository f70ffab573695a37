/*
 * hist.h: a log-linear histogram of non-negative integers (latencies in
 * microseconds, batch durations, lock waits) in the manner of HdrHistogram.
 *
 * Values below 256 are kept exactly; above, each power of two is cut into
 * 128 equal buckets, so a bucket is never wider than 1/128 (0.78%) of its
 * lowest value and a percentile read back is within 1% of the true one.
 * The counts array grows to the largest value seen: about 1,400 buckets
 * (11 KiB) for values up to 100 s in microseconds, 3,300 up to an hour.
 *
 * Database-neutral and not thread-safe: a caller sharing one between
 * threads holds its own lock.  Depends on alloc.h only; never prints.
 */
#ifndef SHUNT_HIST_H
#define SHUNT_HIST_H

#include <stdint.h>
#include <stddef.h>

typedef struct shunt_hist {
	uint64_t *counts; /* counts[i]: values in bucket i; NULL while empty */
	size_t len;       /* buckets allocated */
	uint64_t total;   /* values recorded */
	int64_t min;      /* exact smallest value (0 while empty) */
	int64_t max;      /* exact largest value (0 while empty) */
	double sum;       /* for the mean; a double cannot overflow here */
} shunt_hist;

#define SHUNT_HIST_INIT { NULL, 0, 0, 0, 0, 0.0 }

/* Sub-bucket resolution: 2^7 buckets per power of two above 2^8. */
#define HIST_SUB_BITS 7

void hist_init(shunt_hist *h);
/* Frees the counts; h is empty (and reusable) afterwards. */
void hist_release(shunt_hist *h);

/* Records value once (n times); a negative value is recorded as 0. */
void hist_record(shunt_hist *h, int64_t value);
void hist_record_n(shunt_hist *h, int64_t value, uint64_t n);

/* Adds every value of src to dst; src is unchanged. */
void hist_merge(shunt_hist *dst, const shunt_hist *src);

/*
 * The value at percentile p (0 to 100) by nearest rank: the smallest
 * recorded value v such that at least p% of the values are <= v, reported
 * as the highest value of v's bucket (never below the truth) but clamped
 * to the exact min and max.  p <= 0 gives min, p >= 100 max; 0 when empty.
 */
int64_t hist_percentile(const shunt_hist *h, double p);

/* Mean of the recorded values, 0 when empty. */
double hist_mean(const shunt_hist *h);

/* Bucket arithmetic, exposed for the tests: the bucket of value, and the
 * lowest and highest values that fall into the same bucket as value. */
size_t hist_bucket_of(int64_t value);
int64_t hist_bucket_lowest(int64_t value);
int64_t hist_bucket_highest(int64_t value);

#endif
