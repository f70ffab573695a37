/*
 * migration.h: a migration file, loaded and strictly validated.
 *
 * The format is pgroll's (https://github.com/xataio/pgroll, schema.json):
 *
 *   name: 03_add_column            # optional, else the file's base name
 *   version_schema: my_schema      # optional
 *   operations:
 *     - add_column: { table: products, column: { name: stock, type: int } }
 *
 * in YAML or JSON.  Validation follows pgroll's JSON Schema field by field
 * (allowed and required fields, types, enums, per-type rules of constraints),
 * with one leniency: "up" and "down" backfill expressions are optional
 * everywhere (pgroll's published examples omit them where they are listed as
 * required).  The "up" of a "sql" operation is the statement itself and stays
 * required.  Once migration_parse() succeeds, every shunt_op's def has the
 * shape its kind demands, so planners read it with the json_* accessors below
 * without re-checking types.
 *
 * Database-neutral: depends on jansson, core/error.h and core/yaml_json.h.
 * Never prints.
 */
#ifndef SHUNT_MIGRATION_H
#define SHUNT_MIGRATION_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "core/error.h"

/*
 * Operation kinds.  Adding one: a value here, and one row in op_kinds[] in
 * migration.c naming it and its body's field table.
 */
typedef enum shunt_op_kind {
	OP_CREATE_TABLE,
	OP_DROP_TABLE,
	OP_RENAME_TABLE,
	OP_ADD_COLUMN,
	OP_DROP_COLUMN,
	OP_RENAME_COLUMN,
	OP_ALTER_COLUMN,
	OP_CREATE_INDEX,
	OP_DROP_INDEX,
	OP_CREATE_CONSTRAINT,
	OP_DROP_CONSTRAINT,
	OP_DROP_MULTICOLUMN_CONSTRAINT,
	OP_RENAME_CONSTRAINT,
	OP_SET_REPLICA_IDENTITY,
	OP_SQL,
	OP_REBUILD_TABLE, /* shunt extension: online rebuild (docs/rebuild.md) */
	OP__COUNT
} shunt_op_kind;

typedef struct shunt_op {
	shunt_op_kind kind;
	const char *kind_name;	/* "add_column"; static storage */
	size_t index;			/* 0-based position in "operations" */
	json_t *def;			/* the operation's body object, validated;
							 * borrowed from the migration's root */
} shunt_op;

typedef struct shunt_migration {
	char *name;				/* "name" field, else the file's base name */
	char *version_schema;	/* NULL when absent */
	char *file;				/* path as given, or "<stdin>" */
	char *content;			/* the file's raw text, NUL-terminated */
	size_t content_len;		/* its length in bytes */
	json_t *root;			/* canonical JSON of the whole migration; its
							 * "name" is always set (to name above) */
	size_t n_ops;
	shunt_op *ops;			/* n_ops entries; NULL when n_ops is 0 */
} shunt_migration;

/* Longest migration file migration_load_file() reads. */
#define MIGRATION_MAX_FILE_SIZE ((size_t) 64 * 1024 * 1024)

/*
 * Parses and validates a migration held in memory (len bytes, need not be
 * NUL-terminated; the text is copied).  filename decides the format by its
 * extension (.yaml/.yml: YAML, .json: JSON; otherwise JSON if the first
 * non-blank character is '{', else YAML), gives the default name, and prefixes
 * every error message; NULL means "<stdin>".  Returns a migration the caller
 * frees with migration_free(), or NULL with err filled (SHUNT_E_INPUT).
 */
shunt_migration *migration_parse(const char *text, size_t len,
								 const char *filename, shunt_error *err);

/*
 * Reads path ("-" means standard input, named "<stdin>") and parses it as
 * migration_parse() does.  Returns NULL with err filled: SHUNT_E_IO when the
 * file cannot be read, SHUNT_E_INPUT when it is not a valid migration.
 */
shunt_migration *migration_load_file(const char *path, shunt_error *err);

/* Frees m and everything it owns; NULL is allowed. */
void migration_free(shunt_migration *m);

/* "add_column" for OP_ADD_COLUMN; "unknown" for values out of range. */
const char *op_kind_name(shunt_op_kind kind);

/*
 * Looks up an operation kind by its name; returns false when name is none.
 */
bool op_kind_from_name(const char *name, shunt_op_kind *kind);

/*
 * Typed accessors on a validated object (a shunt_op's def or a part of it).
 * obj may be NULL.  Results are borrowed from obj.
 *
 * json_str: the string value, or NULL when absent, null or not a string.
 * json_bool: the boolean value, or dflt when absent or not a boolean.
 * json_has: true when the field is present, even if its value is null
 *           (alter_column's "default: null" means "drop the default").
 * json_obj: the object value, or NULL when absent or not an object.
 * json_arr: the array value, or NULL when absent or not an array.
 */
const char *json_str(const json_t *obj, const char *field);
bool json_bool(const json_t *obj, const char *field, bool dflt);
bool json_has(const json_t *obj, const char *field);
json_t *json_obj(const json_t *obj, const char *field);
json_t *json_arr(const json_t *obj, const char *field);

#endif
