/*
 * cmd_validate.c: shunt validate FILE...
 */
#include <stdio.h>

#include <jansson.h>

#include "cli/cli.h"
#include "core/migration.h"

const char cmd_validate_help[] =
	"Usage: shunt validate FILE...\n"
	"\n"
	"Parses and validates migration files without a database: syntax, every\n"
	"operation's fields and types.  Prints one line per valid file; the first error\n"
	"names the file, the operation and the field.  Checks that need the schema\n"
	"(tables and columns exist, expressions parse) happen in start --dry-run.\n";

int
cmd_validate(cli_ctx *ctx, shunt_error *err)
{
	if (ctx->argc == 0)
		return shunt_error_set(err, SHUNT_E_USAGE, "validate needs at least one file");
	for (int i = 0; i < ctx->argc; i++) {
		shunt_migration *m = migration_load_file(ctx->argv[i], err);

		if (m == NULL)
			return -1;
		if (!ctx->json)
			printf("%s: ok: migration \"%s\", %zu operation%s\n", ctx->argv[i], m->name, m->n_ops,
				   m->n_ops == 1 ? "" : "s");
		else {
			json_t *o = json_pack("{s:s, s:s, s:I}", "file", ctx->argv[i], "name", m->name, "operations",
								  (json_int_t) m->n_ops);

			json_dumpf(o, stdout, JSON_COMPACT);
			putchar('\n');
			json_decref(o);
		}
		migration_free(m);
	}
	return 0;
}
