/*
 * interrupt.c: SIGINT/SIGTERM handling; see interrupt.h.
 *
 * The handler only stores the signal number, calls the backend's cancel
 * hook (async-signal-safe by contract) and writes one line with write(2);
 * everything else happens in the main flow when it polls
 * interrupt_requested().
 */
#include "core/interrupt.h"

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t received_signal;
static interrupt_cancel_fn volatile cancel_hook;
static int installed;

static void
say(const char *msg)
{
	size_t len = strlen(msg);
	ssize_t n = write(STDERR_FILENO, msg, len);

	(void) n;
}

static void
on_signal(int sig)
{
	int saved_errno = errno;
	interrupt_cancel_fn fn;

	if (received_signal != 0) {
		/* the second one: the user does not want to wait for the batch
		 * (the server rolls the open transaction back) */
		say("\nshunt: interrupted again, exiting at once\n");
		_exit(128 + sig);
	}
	received_signal = sig;
	say(sig == SIGTERM ? "\nshunt: terminating: cancelling the running statement, stopping at the "
						 "next safe point\n"
					   : "\nshunt: interrupted: cancelling the running statement, stopping at the "
						 "next safe point (again to exit at once)\n");
	fn = cancel_hook;
	if (fn != NULL)
		fn();
	errno = saved_errno;
}

void
interrupt_install(void)
{
	struct sigaction sa;

	if (installed)
		return;
	installed = 1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	/* no SA_RESTART: sleeps and waits return early with EINTR */
	sa.sa_flags = 0;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

bool
interrupt_requested(void)
{
	return received_signal != 0;
}

int
interrupt_signal(void)
{
	return (int) received_signal;
}

void
interrupt_set_cancel_hook(interrupt_cancel_fn fn)
{
	cancel_hook = fn;
}

bool
interrupt_sleep_ms(long ms)
{
	/* in slices, so that a signal that arrives just before nanosleep()
	 * starts delays the stop by at most one slice */
	while (ms > 0 && received_signal == 0) {
		long slice = ms < 100 ? ms : 100;
		struct timespec ts = { 0, slice * 1000000L };

		nanosleep(&ts, NULL);
		ms -= slice;
	}
	return received_signal != 0;
}

int
interrupt_error(shunt_error *err)
{
	int sig = (int) received_signal;

	return shunt_error_set(err, SHUNT_E_CANCELLED, "interrupted by %s",
						   sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "SIGINT" : "a signal");
}

void
interrupt_reset(void)
{
	received_signal = 0;
}
