/*
 * buf.h: a growable, always NUL-terminated string (like PQExpBuffer, sds and
 * git's strbuf).  SQL text and messages are built with it; never sprintf.
 * Depends on alloc.h only.
 */
#ifndef SHUNT_BUF_H
#define SHUNT_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct shunt_buf {
	char *data;   /* always NUL-terminated once initialised */
	size_t len;
	size_t cap;
} shunt_buf;

#define SHUNT_BUF_INIT { NULL, 0, 0 }

void buf_init(shunt_buf *b);
void buf_release(shunt_buf *b);
void buf_reset(shunt_buf *b);
void buf_put(shunt_buf *b, const char *s);
void buf_putn(shunt_buf *b, const char *s, size_t n);
void buf_putc(shunt_buf *b, char c);
void buf_printf(shunt_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void buf_vprintf(shunt_buf *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
/* Returns the contents as a malloc'd string owned by the caller; b is reset. */
char *buf_detach(shunt_buf *b);
/* Contents, never NULL ("" for an empty buffer). */
const char *buf_str(const shunt_buf *b);

#endif
