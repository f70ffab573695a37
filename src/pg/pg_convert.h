/*
 * pg_convert.h: `shunt convert`, a plain SQL migration turned into an
 * equivalent migration in pgroll's format (core/migration.h), read with
 * PostgreSQL's own parser (libpg_query).
 *
 * Statements with an operation of their own become that operation
 * (ALTER TABLE's subcommands one each: add_column, alter_column,
 * create_constraint, ...; CREATE TABLE, CREATE INDEX, DROP, RENAME).
 * Changes to a table or column the same file creates are folded into the
 * create_table or add_column, and several changes of one column into one
 * alter_column, since shunt changes a column once per migration.  SET
 * lock_timeout / statement_timeout and BEGIN / COMMIT are dropped (shunt
 * manages locks and transactions); anything else becomes an "sql"
 * operation.  Expressions and types are sliced from the original text, so
 * they stay as written.
 *
 * What SQL does not say is left as a placeholder string, PG_CONVERT_TODO_UP
 * or PG_CONVERT_TODO_DOWN, with a comment saying what to write: the old
 * value of a column whose type changes ("down"), and the value NULLs
 * become when a column becomes NOT NULL ("up").
 *
 * Depends on core/ and pg_sqlfile; never on libpq; never prints.
 */
#ifndef SHUNT_PG_CONVERT_H
#define SHUNT_PG_CONVERT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "core/error.h"
#include "core/migration.h"

#define PG_CONVERT_TODO_UP "TODO: up"
#define PG_CONVERT_TODO_DOWN "TODO: down"

typedef enum pg_convert_level {
	PG_CONVERT_NOTE,	/* dropped on purpose (SET lock_timeout, BEGIN) */
	PG_CONVERT_WARNING,	/* needs a look: sql operation, placeholder, lost detail */
} pg_convert_level;

typedef struct pg_convert_msg {
	pg_convert_level level;
	size_t line;		/* of the statement in the SQL file */
	char *text;
} pg_convert_msg;

typedef struct pg_conversion {
	json_t *root;		/* {"operations": [...]}; owned */
	char **comments;	/* per operation: YAML comment lines ("\n"-separated) */
	size_t n_ops;
	pg_convert_msg *msgs;
	size_t n_msgs;
	size_t n_placeholders; /* TODO strings left in root */
} pg_conversion;

/*
 * Converts sql (len bytes) named filename (for messages; NULL is
 * "<stdin>").  Returns 0 with out filled (release it with
 * pg_conversion_release()), or -1 with err: SHUNT_E_INPUT for text that
 * does not parse (message "FILE:LINE:COLUMN: ...").
 */
int pg_convert(const char *sql, size_t len, const char *filename, pg_conversion *out,
			   shunt_error *err);

void pg_conversion_release(pg_conversion *c);

/* The migration as YAML with the comments, or as JSON (indented); malloc'd. */
char *pg_conversion_yaml(const pg_conversion *c, const char *filename);
char *pg_conversion_json(const pg_conversion *c);

/*
 * Converts sql and parses the result as a migration (migration_parse(),
 * name from filename as for any migration file).  Refuses with
 * SHUNT_E_INPUT while a placeholder remains: the message says how many,
 * the detail lists each (operation, field, what to write), the hint how to
 * convert to a file and fill them in.  The caller frees the result with
 * migration_free().
 */
shunt_migration *pg_convert_to_migration(const char *sql, const char *filename,
										 shunt_error *err);

#endif
