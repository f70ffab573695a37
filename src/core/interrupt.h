/*
 * interrupt.h: SIGINT/SIGTERM handling for long-running commands.
 *
 * interrupt_install() (called once from main) installs handlers that record
 * the signal and, if a backend registered a cancel hook, ask the server to
 * cancel the statement that is running.  Long loops (backfill, copy) poll
 * interrupt_requested() at their safe points (batch boundaries) and stop
 * there with SHUNT_E_CANCELLED, keeping their checkpoint.  A second signal
 * ends the process at once (exit status 128 + signal number).
 *
 * Database-neutral: the backend registers its cancel request through
 * interrupt_set_cancel_hook(); core never includes libpq-fe.h.  Depends on
 * libc only.
 */
#ifndef SHUNT_INTERRUPT_H
#define SHUNT_INTERRUPT_H

#include <stdbool.h>

#include "core/error.h"

/* Installs the SIGINT and SIGTERM handlers (without SA_RESTART, so a sleep
 * or a blocking read returns early with EINTR).  Idempotent. */
void interrupt_install(void);

/* True once SIGINT or SIGTERM has been received. */
bool interrupt_requested(void);

/* The signal number received first (SIGINT or SIGTERM), 0 if none. */
int interrupt_signal(void);

/* Called from the signal handler after the signal is recorded, so it must be
 * async-signal-safe (PQcancel() is).  The backend sets it to cancel whatever
 * statement is running; NULL removes it.  Only one hook is kept. */
typedef void (*interrupt_cancel_fn)(void);
void interrupt_set_cancel_hook(interrupt_cancel_fn fn);

/* Sleeps ms milliseconds or until a signal arrives, whichever is first.
 * Returns true when interrupted (interrupt_requested() is then true). */
bool interrupt_sleep_ms(long ms);

/* Fills err with SHUNT_E_CANCELLED, "interrupted by SIGINT" (or SIGTERM),
 * and returns -1; for the loops that stop at a safe point. */
int interrupt_error(shunt_error *err);

/* For tests only: forgets a received signal. */
void interrupt_reset(void);

#endif
