/*
 * backfill.c: adaptive batch sizing; see backfill.h.
 */
#include "core/backfill.h"

void
backfill_sizer_init(backfill_sizer *s, int fixed, int64_t target_ms)
{
	s->fixed = fixed > 0 ? fixed : 0;
	s->min = 100;
	s->max = 50000;
	s->current = s->fixed ? s->fixed : 1000;
	s->target_ms = target_ms > 0 ? target_ms : 100;
}

int
backfill_sizer_next(const backfill_sizer *s)
{
	return s->fixed ? s->fixed : s->current;
}

void
backfill_sizer_observe(backfill_sizer *s, int rows, int64_t elapsed_ms)
{
	double scale;
	double next;

	if (s->fixed || rows <= 0)
		return;
	if (elapsed_ms < 1)
		elapsed_ms = 1;
	/* Move toward the size that would have taken target_ms, but at most
	 * doubling or halving per batch so one noisy sample does not swing it. */
	scale = (double) s->target_ms / (double) elapsed_ms;
	if (scale > 2.0)
		scale = 2.0;
	if (scale < 0.5)
		scale = 0.5;
	next = (double) rows * scale;
	if (next < s->min)
		next = s->min;
	if (next > s->max)
		next = s->max;
	s->current = (int) next;
}

void
backfill_sizer_failed(backfill_sizer *s)
{
	if (s->fixed)
		return;
	s->current /= 2;
	if (s->current < s->min)
		s->current = s->min;
}
