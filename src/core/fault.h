/*
 * fault.h: named fault points for crash testing.
 *
 * With SHUNT_FAULT=NAME in the environment, the process kills itself with
 * SIGKILL when it reaches the fault point NAME, as if the machine had died
 * there: no cleanup, no rollback, connections dropped mid-transaction.
 * SHUNT_FAULT=list prints every point reached to stderr instead
 * ("shunt: fault point: NAME"), so a test can enumerate them.  The points
 * are documented in docs/faults.md; a test checks that list against the
 * code.  Without SHUNT_FAULT the check is one getenv() per point.
 */
#ifndef SHUNT_FAULT_H
#define SHUNT_FAULT_H

/* Reaches the fault point named by fmt (printf-style). */
void fault_point(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
