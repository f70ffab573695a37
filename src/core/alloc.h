/*
 * alloc.h: allocation that never returns NULL.
 *
 * On out-of-memory the handler set with shunt_set_oom_handler() runs; the
 * default prints a message and aborts.  Callers therefore never check for
 * NULL (like PostgreSQL's pg_malloc and Redis' zmalloc).  Depends on libc only.
 */
#ifndef SHUNT_ALLOC_H
#define SHUNT_ALLOC_H

#include <stddef.h>

typedef void (*shunt_oom_handler)(size_t size);

void shunt_set_oom_handler(shunt_oom_handler handler);
void *shunt_xmalloc(size_t size);
void *shunt_xcalloc(size_t n, size_t size);
void *shunt_xrealloc(void *ptr, size_t size);
char *shunt_xstrdup(const char *s);
char *shunt_xstrndup(const char *s, size_t n);

#endif
