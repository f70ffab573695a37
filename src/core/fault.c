/*
 * fault.c: fault points; see fault.h.
 */
#include "core/fault.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void
fault_point(const char *fmt, ...)
{
	const char *want = getenv("SHUNT_FAULT");
	char name[128];
	va_list ap;

	if (want == NULL || want[0] == '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	if (strcmp(want, "list") == 0) {
		fprintf(stderr, "shunt: fault point: %s\n", name);
		return;
	}
	if (strcmp(want, name) == 0) {
		fprintf(stderr, "shunt: fault point %s: killing myself\n", name);
		fflush(stderr);
		kill(getpid(), SIGKILL);
		_exit(137); /* not reached */
	}
}
