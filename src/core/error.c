/*
 * error.c: filling shunt_error; see error.h.  Never allocates.
 */
#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/interrupt.h"

void
shunt_error_clear(shunt_error *err)
{
	if (err == NULL)
		return;
	memset(err, 0, sizeof(*err));
}

int
shunt_error_set(shunt_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return -1;
	shunt_error_clear(err);
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return -1;
}

void
shunt_error_detail(shunt_error *err, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(err->detail, sizeof(err->detail), fmt, ap);
	va_end(ap);
}

void
shunt_error_hint(shunt_error *err, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(err->hint, sizeof(err->hint), fmt, ap);
	va_end(ap);
}

void
shunt_error_add_context(shunt_error *err, const char *fmt, ...)
{
	char line[256];
	size_t used;
	va_list ap;

	if (err == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	used = strlen(err->context);
	if (used > 0 && used + 1 < sizeof(err->context)) {
		err->context[used++] = '\n';
		err->context[used] = '\0';
	}
	if (used < sizeof(err->context))
		snprintf(err->context + used, sizeof(err->context) - used, "%s", line);
}

bool
shunt_error_is_retryable(const shunt_error *err)
{
	/* the user asked to stop: no retry loop may go on */
	if (err->code == SHUNT_E_CANCELLED || interrupt_requested())
		return false;
	return strcmp(err->sqlstate, SHUNT_SQLSTATE_LOCK_NOT_AVAILABLE) == 0 ||
		   strcmp(err->sqlstate, SHUNT_SQLSTATE_DEADLOCK) == 0 ||
		   strcmp(err->sqlstate, SHUNT_SQLSTATE_SERIALIZATION) == 0;
}
