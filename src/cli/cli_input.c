/*
 * cli_input.c: reading a whole input file or standard input, for commands
 * that take SQL text (lint, convert).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/buf.h"

/* Longest input read: the same limit as migration files. */
#define CLI_MAX_INPUT ((size_t)64 * 1024 * 1024)

char *
cli_read_input(const char *path, size_t *len, shunt_error *err)
{
	bool std = strcmp(path, "-") == 0;
	FILE *fp = std ? stdin : fopen(path, "rb");
	shunt_buf b = SHUNT_BUF_INIT;
	char chunk[8192];
	size_t n;

	if (fp == NULL) {
		shunt_error_set(err, SHUNT_E_IO, "cannot open \"%s\": %s", path, strerror(errno));
		return NULL;
	}
	buf_init(&b);
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
		buf_putn(&b, chunk, n);
		if (b.len > CLI_MAX_INPUT) {
			shunt_error_set(err, SHUNT_E_INPUT, "\"%s\" is larger than %zu MB", path,
							CLI_MAX_INPUT / (1024 * 1024));
			goto fail;
		}
	}
	if (ferror(fp)) {
		shunt_error_set(err, SHUNT_E_IO, "cannot read \"%s\": %s", path, strerror(errno));
		goto fail;
	}
	if (!std)
		fclose(fp);
	*len = b.len;
	return buf_detach(&b);
fail:
	if (!std)
		fclose(fp);
	buf_release(&b);
	return NULL;
}
