/*
 * log.h: leveled messages to stderr (like PostgreSQL's common/logging.h).
 * stdout is reserved for a command's primary output.  The embedding
 * application can replace the sink with shunt_log_set_sink().
 */
#ifndef SHUNT_LOG_H
#define SHUNT_LOG_H

typedef enum shunt_log_level {
	SHUNT_LOG_DEBUG = 0,
	SHUNT_LOG_INFO,
	SHUNT_LOG_WARNING,
	SHUNT_LOG_ERROR,
	SHUNT_LOG_SILENT,
} shunt_log_level;

typedef void (*shunt_log_sink)(shunt_log_level level, const char *line);

void shunt_log_set_level(shunt_log_level level);
shunt_log_level shunt_log_get_level(void);
void shunt_log_set_sink(shunt_log_sink sink);
void shunt_log(shunt_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_debug(...) shunt_log(SHUNT_LOG_DEBUG, __VA_ARGS__)
#define log_info(...) shunt_log(SHUNT_LOG_INFO, __VA_ARGS__)
#define log_warning(...) shunt_log(SHUNT_LOG_WARNING, __VA_ARGS__)
#define log_error(...) shunt_log(SHUNT_LOG_ERROR, __VA_ARGS__)

#endif
