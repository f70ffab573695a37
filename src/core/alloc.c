/*
 * alloc.c: allocation wrappers; see alloc.h.
 */
#include "core/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
default_oom(size_t size)
{
	fprintf(stderr, "shunt: out of memory (allocating %zu bytes)\n", size);
	abort();
}

static shunt_oom_handler oom_handler = default_oom;

void
shunt_set_oom_handler(shunt_oom_handler handler)
{
	oom_handler = handler ? handler : default_oom;
}

void *
shunt_xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);

	if (p == NULL)
		oom_handler(size);
	return p;
}

void *
shunt_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
		oom_handler(n * size);
	return p;
}

void *
shunt_xrealloc(void *ptr, size_t size)
{
	void *p = realloc(ptr, size ? size : 1);

	if (p == NULL)
		oom_handler(size);
	return p;
}

char *
shunt_xstrdup(const char *s)
{
	return shunt_xstrndup(s, strlen(s));
}

char *
shunt_xstrndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *p = shunt_xmalloc(len + 1);

	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}
