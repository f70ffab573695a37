/*
 * fuzz_migration.c: libFuzzer target for the migration file parser (YAML
 * and JSON, strict validation).  Every input must either parse or fail with
 * an error, never crash, leak or trip a sanitizer.
 */
#include <stddef.h>
#include <stdint.h>

#include "core/migration.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	shunt_error err;
	shunt_migration *m;

	/* the first byte picks the format, as the file name would */
	if (size == 0)
		return 0;
	m = migration_parse((const char *) data + 1, size - 1, (data[0] & 1) ? "f.json" : "f.yaml", &err);
	migration_free(m);
	return 0;
}
