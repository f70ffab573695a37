/*
 * backfill.h: batch sizing for the backfill and copy engines.
 *
 * Database-neutral: the sizer aims at a target batch duration, growing the
 * batch while batches finish fast and shrinking it when they are slow or
 * fail, so a batch never holds row locks for long whatever the row width,
 * trigger cost or machine load.  A fixed size (--batch-size) disables it.
 */
#ifndef SHUNT_BACKFILL_H
#define SHUNT_BACKFILL_H

#include <stdint.h>

typedef struct backfill_sizer {
	int fixed;          /* > 0: always this size */
	int current;
	int min;
	int max;
	int64_t target_ms;
} backfill_sizer;

void backfill_sizer_init(backfill_sizer *s, int fixed, int64_t target_ms);
/* The size of the next batch. */
int backfill_sizer_next(const backfill_sizer *s);
/* Feeds back how long a batch of `rows` took. */
void backfill_sizer_observe(backfill_sizer *s, int rows, int64_t elapsed_ms);
/* A batch failed (lock timeout, deadlock): halve. */
void backfill_sizer_failed(backfill_sizer *s);

#endif
