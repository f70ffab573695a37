/*
 * fuzz_gate.c: libFuzzer target for the contract gate's statement check
 * (src/pg/pg_gate_sql.c): any text, as pg_stat_statements could hold it,
 * against a fixed contract; and any text as a contract statement.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pg/pg_gate_sql.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char contract[] =
	"DROP SCHEMA IF EXISTS \"public_01\" CASCADE; "
	"ALTER TABLE \"public\".\"items\" DROP COLUMN IF EXISTS \"price\"; "
	"ALTER TABLE \"public\".\"items\" RENAME COLUMN \"name\" TO \"title\"; "
	"ALTER TABLE \"public\".\"items\" RENAME COLUMN \"_shunt_new_price\" TO \"price\"; "
	"ALTER TABLE \"public\".\"orders\" RENAME TO \"purchases\"; "
	"DROP TABLE IF EXISTS \"public\".\"old\"";

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	gate_affected a;
	shunt_buf out = SHUNT_BUF_INIT;
	shunt_error err;

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	gate_affected_init(&a, "public");
	if (gate_affected_add_sql(&a, contract, &err) != 0)
		abort();
	(void) gate_affected_add_sql(&a, text, &err);
	gate_affected_finish(&a);
	buf_init(&out);
	if (gate_query_check(&a, text, &out, &err) > 0 && out.len == 0)
		abort(); /* a finding must say what it is */
	buf_release(&out);
	gate_affected_release(&a);
	free(text);
	return 0;
}
