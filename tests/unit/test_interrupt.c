/*
 * test_interrupt.c: unit tests of SIGINT/SIGTERM handling (core/interrupt.c)
 * and of what an interrupt means for the retry decision (core/error.c).
 *
 * The signals are raised in this process: the handler must record the
 * first one, call the backend's cancel hook once, end sleeps early, and
 * make every retry loop stop.  The second-signal path (_exit) is covered
 * by tests/integration/t_backfill_signals.sh.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/error.h"
#include "core/interrupt.h"

static int cancels;

static void
count_cancel(void)
{
	cancels++;
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
setup(void **state)
{
	(void) state;
	interrupt_install();
	interrupt_reset();
	interrupt_set_cancel_hook(count_cancel);
	cancels = 0;
	return 0;
}

static void
test_nothing_received(void **state)
{
	shunt_error err;

	(void) state;
	assert_false(interrupt_requested());
	assert_int_equal(interrupt_signal(), 0);
	shunt_error_clear(&err);
	strcpy(err.sqlstate, SHUNT_SQLSTATE_LOCK_NOT_AVAILABLE);
	assert_true(shunt_error_is_retryable(&err));
	/* a full sleep */
	assert_false(interrupt_sleep_ms(30));
}

static void
test_sigint_recorded_and_cancels(void **state)
{
	(void) state;
	raise(SIGINT);
	assert_true(interrupt_requested());
	assert_int_equal(interrupt_signal(), SIGINT);
	assert_int_equal(cancels, 1);
}

static void
test_sigterm_recorded(void **state)
{
	shunt_error err;

	(void) state;
	raise(SIGTERM);
	assert_int_equal(interrupt_signal(), SIGTERM);
	assert_int_equal(interrupt_error(&err), -1);
	assert_int_equal(err.code, SHUNT_E_CANCELLED);
	assert_string_equal(err.message, "interrupted by SIGTERM");
}

static void
test_sleep_returns_at_once(void **state)
{
	int64_t t0;

	(void) state;
	raise(SIGINT);
	t0 = now_ms();
	assert_true(interrupt_sleep_ms(5000));
	assert_true(now_ms() - t0 < 1000);
}

static void
test_no_retry_once_interrupted(void **state)
{
	shunt_error err;

	(void) state;
	shunt_error_clear(&err);
	strcpy(err.sqlstate, SHUNT_SQLSTATE_DEADLOCK);
	assert_true(shunt_error_is_retryable(&err));
	raise(SIGINT);
	/* a lock error that the cancel caused, or that came just after it */
	assert_false(shunt_error_is_retryable(&err));
	shunt_error_clear(&err);
	err.code = SHUNT_E_CANCELLED;
	strcpy(err.sqlstate, SHUNT_SQLSTATE_QUERY_CANCELED);
	assert_false(shunt_error_is_retryable(&err));
}

static void
test_no_hook(void **state)
{
	(void) state;
	interrupt_set_cancel_hook(NULL);
	raise(SIGINT);
	assert_true(interrupt_requested());
	assert_int_equal(cancels, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_nothing_received, setup),
		cmocka_unit_test_setup(test_sigint_recorded_and_cancels, setup),
		cmocka_unit_test_setup(test_sigterm_recorded, setup),
		cmocka_unit_test_setup(test_sleep_returns_at_once, setup),
		cmocka_unit_test_setup(test_no_retry_once_interrupted, setup),
		cmocka_unit_test_setup(test_no_hook, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
