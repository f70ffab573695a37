/*
 * log.c: leveled messages; see log.h.
 */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>

static shunt_log_level current_level = SHUNT_LOG_INFO;
static shunt_log_sink current_sink = NULL;

void
shunt_log_set_level(shunt_log_level level)
{
	current_level = level;
}

shunt_log_level
shunt_log_get_level(void)
{
	return current_level;
}

void
shunt_log_set_sink(shunt_log_sink sink)
{
	current_sink = sink;
}

void
shunt_log(shunt_log_level level, const char *fmt, ...)
{
	static const char *const prefix[] = { "debug: ", "", "warning: ", "error: " };
	char line[4096];
	va_list ap;

	if (level < current_level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (current_sink != NULL) {
		current_sink(level, line);
		return;
	}
	fprintf(stderr, "shunt: %s%s\n", prefix[level < SHUNT_LOG_SILENT ? level : 0], line);
}
