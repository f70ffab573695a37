/*
 * fuzz_sql.c: libFuzzer target for the plain-SQL path: shunt lint and
 * shunt convert on arbitrary text.  Every input must lint and convert or
 * fail with an error; a conversion that succeeds must produce YAML and
 * JSON that the migration parser accepts.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/migration.h"
#include "pg/pg_convert.h"
#include "pg/pg_lint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	lint_opts o;
	lint_result r;
	lint_schema *schema = lint_schema_new();
	pg_conversion c;
	shunt_error err;

	lint_opts_init(&o);
	memset(&r, 0, sizeof(r));
	(void) pg_lint_text((const char *) data, size, "f.sql", &o, schema, &r, &err);
	lint_result_release(&r);
	lint_schema_free(schema);
	memset(&c, 0, sizeof(c));
	if (pg_convert((const char *) data, size, "f.sql", &c, &err) == 0) {
		char *yaml = pg_conversion_yaml(&c, "f.sql");
		char *json = pg_conversion_json(&c);

		if (yaml != NULL) {
			shunt_migration *m = migration_parse(yaml, strlen(yaml), "f.yaml", &err);

			/* placeholders may make a migration invalid; a crash may not */
			migration_free(m);
		}
		if (json != NULL)
			migration_free(migration_parse(json, strlen(json), "f.json", &err));
		free(yaml);
		free(json);
	}
	pg_conversion_release(&c);
	return 0;
}
