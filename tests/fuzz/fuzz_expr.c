/*
 * fuzz_expr.c: libFuzzer target for the libpg_query wrapper: expression
 * validation and the column renames that move check constraints and index
 * definitions to new columns.  A rename of an accepted expression must
 * itself be accepted.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pg/pg_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *from[2] = { "a", "price" };
	const char *to[2] = { "_shunt_new_a", "Q\"x" };
	char *text = malloc(size + 1);
	shunt_error err;
	size_t n;

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (pg_parse_check_expression(text, "up", &err) == 0) {
		char *r = pg_parse_rename_columns(text, from, to, 2, &err);

		if (r != NULL && pg_parse_check_expression(r, "up", &err) != 0)
			abort(); /* a rename broke a valid expression */
		free(r);
	}
	free(pg_parse_rename_index_columns(text, from, to, 2, &err));
	(void) pg_parse_statements(text, &n, &err);
	free(text);
	return 0;
}
