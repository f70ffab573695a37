/*
 * buf.c: growable strings; see buf.h.
 */
#include "core/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

void
buf_init(shunt_buf *b)
{
	b->cap = 64;
	b->len = 0;
	b->data = shunt_xmalloc(b->cap);
	b->data[0] = '\0';
}

void
buf_release(shunt_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void
buf_reset(shunt_buf *b)
{
	if (b->data == NULL)
		buf_init(b);
	b->len = 0;
	b->data[0] = '\0';
}

static void
grow(shunt_buf *b, size_t extra)
{
	if (b->data == NULL)
		buf_init(b);
	if (b->len + extra + 1 <= b->cap)
		return;
	while (b->len + extra + 1 > b->cap)
		b->cap *= 2;
	b->data = shunt_xrealloc(b->data, b->cap);
}

void
buf_putn(shunt_buf *b, const char *s, size_t n)
{
	grow(b, n);
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
buf_put(shunt_buf *b, const char *s)
{
	buf_putn(b, s, strlen(s));
}

void
buf_putc(shunt_buf *b, char c)
{
	buf_putn(b, &c, 1);
}

void
buf_vprintf(shunt_buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;

	grow(b, 0);
	va_copy(ap2, ap);
	n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return;
	if ((size_t) n >= b->cap - b->len) {
		grow(b, (size_t) n);
		vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
	}
	b->len += (size_t) n;
}

void
buf_printf(shunt_buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(b, fmt, ap);
	va_end(ap);
}

char *
buf_detach(shunt_buf *b)
{
	char *s;

	if (b->data == NULL)
		buf_init(b);
	s = b->data;
	b->data = NULL;
	b->len = b->cap = 0;
	return s;
}

const char *
buf_str(const shunt_buf *b)
{
	return b->data ? b->data : "";
}
