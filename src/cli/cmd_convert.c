/*
 * cmd_convert.c: shunt convert FILE.sql (see src/pg/pg_convert.h)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "pg/pg_convert.h"

const char cmd_convert_help[] =
	"Usage: shunt convert [--json] FILE.sql\n"
	"\n"
	"Prints the shunt migration (pgroll's format: YAML, or JSON with --json) that does\n"
	"what the plain SQL in FILE.sql (\"-\": standard input) does, for `shunt start`:\n"
	"  ALTER TABLE ... ADD COLUMN          add_column\n"
	"  ... DROP COLUMN                     drop_column\n"
	"  ... ALTER COLUMN TYPE               alter_column type, up = CAST(col AS type)\n"
	"                                      or the USING expression, down = TODO\n"
	"  ... SET / DROP NOT NULL             alter_column nullable (SET: up = TODO)\n"
	"  ... SET / DROP DEFAULT              alter_column default\n"
	"  ... ADD CONSTRAINT                  create_constraint (check, unique,\n"
	"                                      foreign_key, primary_key)\n"
	"  ... DROP / RENAME CONSTRAINT        drop_constraint, rename_constraint\n"
	"  ... RENAME COLUMN / RENAME TO       rename_column, rename_table\n"
	"  ... REPLICA IDENTITY                set_replica_identity\n"
	"  CREATE TABLE, DROP TABLE            create_table, drop_table\n"
	"  CREATE [UNIQUE] INDEX, DROP INDEX   create_index, drop_index\n"
	"  COMMENT ON COLUMN                   the column's comment\n"
	"Changes of a table or column the file itself creates are folded into its\n"
	"create_table or add_column, and several changes of one column into one\n"
	"alter_column.  SET lock_timeout / statement_timeout and BEGIN / COMMIT are\n"
	"dropped (shunt sets its own timeouts and transactions); anything else becomes an\n"
	"`sql` operation, with a warning.\n"
	"\n"
	"What SQL does not say is left as \"TODO: up\" or \"TODO: down\", with a comment\n"
	"saying what to write: the old value of a column whose type changes (down), and\n"
	"what NULLs become when a column becomes NOT NULL (up).  `shunt start FILE.sql`\n"
	"converts on the fly and refuses while such a value is missing.\n"
	"\n"
	"Notes and warnings go to standard error as FILE:LINE: warning: ...\n"
	"\n"
	"Examples:\n"
	"  shunt convert 0042_users.sql > migrations/0042_users.yaml\n"
	"  shunt convert --json - < change.sql\n";

int
cmd_convert(cli_ctx *ctx, shunt_error *err)
{
	const char *path = ctx->argc > 0 ? ctx->argv[0] : "-";
	const char *name = strcmp(path, "-") == 0 ? "<stdin>" : path;
	pg_conversion conv;
	size_t len = 0;
	char *text, *out;

	if (ctx->argc > 1)
		return shunt_error_set(err, SHUNT_E_USAGE, "convert takes one file");
	if ((text = cli_read_input(path, &len, err)) == NULL)
		return -1;
	if (pg_convert(text, len, name, &conv, err) != 0) {
		free(text);
		return -1;
	}
	free(text);
	for (size_t i = 0; i < conv.n_msgs && ctx->verbosity >= 0; i++)
		fprintf(stderr, "%s:%zu: %s: %s\n", name, conv.msgs[i].line,
				conv.msgs[i].level == PG_CONVERT_WARNING ? "warning" : "note", conv.msgs[i].text);
	out = ctx->json ? pg_conversion_json(&conv) : pg_conversion_yaml(&conv, name);
	fputs(out, stdout);
	if (ctx->json)
		putchar('\n');
	free(out);
	if (conv.n_placeholders > 0 && ctx->verbosity >= 0)
		fprintf(stderr, "shunt: convert: %zu \"TODO\" value%s to fill in before start\n",
				conv.n_placeholders, conv.n_placeholders == 1 ? "" : "s");
	pg_conversion_release(&conv);
	return 0;
}
