/*
 * pg_lint_int.h: what pg_lint.c (statements, transactions, settings) and
 * pg_lint_alter.c (ALTER TABLE, columns and types) share.  Not for other
 * modules: pg_lint.h is the interface.
 */
#ifndef SHUNT_PG_LINT_INT_H
#define SHUNT_PG_LINT_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "core/buf.h"
#include "pg/pg_lint.h"
#include "pg/pg_sqlfile.h"

/* A column type a file declares (CREATE TABLE, ADD COLUMN, TYPE),
 * normalised: "int4" for integer, typmods as numbers. */
typedef struct lint_coltype {
	char *table;
	char *column;
	char *base;
	long mods[2];
	int n_mods;
	bool array;
} lint_coltype;

/* A CHECK constraint the file adds. */
typedef struct lint_check {
	char *table;
	char *name;			/* NULL when unnamed */
	char *notnull_col;	/* set when the check is "col IS NOT NULL" */
	bool validated;
	long tx;			/* transaction of this file it was added NOT VALID
						 * in, -1 */
} lint_check;

struct lint_schema {
	lint_coltype *cols;
	size_t n_cols;
	size_t cap_cols;
	json_t *col_index;	/* "table\001column" -> index in cols */
	lint_check *checks;
	size_t n_checks;
	size_t cap_checks;
};

typedef struct lint_strs {
	char **v;
	size_t n;
	size_t cap;
} lint_strs;

typedef struct lint_ctx {
	const sqlf_file *f;
	const lint_opts *o;
	lint_result *out;
	bool file_off[LR__COUNT];
	bool *stmt_off;		/* n_stmts rows of LR__COUNT + 1 ("all") flags */
	long stmt;			/* statement being checked */
	const sqlf_stmt *s;
	/* transactions: tx counts BEGINs; 0 is the assumed outer one */
	bool in_tx;
	long tx;
	long tx_begin_stmt;
	bool tx_ddl;
	bool tx_dml;
	bool tx_mixed_reported;
	/* lock_timeout */
	bool lt_session;
	bool lt_local;
	bool lt_reported;
	/* what the file itself created or declared */
	lint_strs created;	/* tables */
	lint_strs indexes;	/* "index\ttable" of indexes the file creates */
	lint_strs names;	/* constraint and index names the file uses */
	lint_schema *schema; /* the caller's, or own_schema */
	lint_schema *own_schema;
} lint_ctx;

/* A column type, normalised: "int4" for integer, typmods as numbers. */
typedef struct lint_type {
	const char *base;	/* canonical name: "int4", "varchar", "serial" */
	long mods[2];
	int n_mods;
	bool array;
} lint_type;

typedef enum lint_type_change {
	TC_SAME,		/* nothing changes */
	TC_SAFE,		/* catalog-only */
	TC_REWRITE,
	TC_MAYBE,		/* catalog-only for some current types */
} lint_type_change;

typedef enum lint_volatility {
	VOL_NULL,		/* DEFAULT NULL */
	VOL_CONST,		/* immutable or stable: computed once by ALTER TABLE */
	VOL_UNKNOWN,	/* calls a function the linter does not know */
	VOL_VOLATILE,
} lint_volatility;

/* ---- pg_lint_types.c ---- */

/* Reads a TypeName node body; t->base points into the tree or static text. */
void lint_type_of(json_t *type_name, lint_type *t);

/* Whether t is serial, bigserial or smallserial. */
bool lint_is_serial(const lint_type *t);

/* The type the schema knows for table.column in *t (borrowed from the
 * schema); false when none is known. */
bool lint_known_type(const lint_ctx *c, const char *table, const char *column, lint_type *t);

/* Whether changing from o (NULL: unknown) to n rewrites the table;
 * using_other: a USING expression other than the column itself. */
lint_type_change lint_classify_change(const lint_type *o, const lint_type *n, bool using_other);

/* Appends t as SQL: "integer", "numeric(10,2)", "text[]". */
void lint_put_type(shunt_buf *b, const lint_type *t);

/* What the current type must be for a change to n to be catalog-only. */
const char *lint_catalog_only_from(const lint_type *n);

/* How a DEFAULT expression (raw_expr) behaves when ADD COLUMN fills it in. */
lint_volatility lint_classify_default(json_t *expr);

/* ---- pg_lint.c ---- */

/*
 * Adds a finding of rule id for the current statement at byte offset off,
 * unless the rule is off (options, file or statement directive).  Returns
 * the finding so that the caller can set its fix or lock, or NULL when it
 * was suppressed.
 */
lint_finding *lint_report(lint_ctx *c, lint_rule_id id, size_t off, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* The table of index name when the file created that index, else NULL. */
const char *lint_index_table(const lint_ctx *c, const char *index);

/* ---- pg_lint_stmt.c: one function per statement kind ---- */
void lint_create_index(lint_ctx *c, json_t *stmt);
void lint_drop(lint_ctx *c, json_t *stmt);
void lint_rename(lint_ctx *c, json_t *stmt);
void lint_reindex(lint_ctx *c, json_t *stmt);
void lint_vacuum(lint_ctx *c, json_t *stmt);
/* DROP DATABASE, CLUSTER, TRUNCATE, LOCK, REFRESH, ALTER TYPE, ALTER DOMAIN */
void lint_simple_statement(lint_ctx *c, const char *kind, json_t *stmt);

/* Whether the file created table name earlier (CREATE TABLE [AS]). */
bool lint_created(const lint_ctx *c, const char *name);

/* Remembers the declared type of table.column (replacing an older one). */
void lint_set_coltype(lint_ctx *c, const char *table, const char *column, json_t *type);

/* Checks a column type where it is declared (prefer-* and ban-char-field). */
void lint_check_type(lint_ctx *c, json_t *type_name, const char *column);

/* Checks one CREATE TABLE (CreateStmt body) and records what it declares. */
void lint_create_table(lint_ctx *c, json_t *stmt);

/* Checks one ALTER TABLE (AlterTableStmt body). */
void lint_alter_table(lint_ctx *c, json_t *stmt);

/* Whether statements outside a transaction should be re-runnable here. */
bool lint_want_robust(const lint_ctx *c);

/* Appends the text of the statement's tokens [first, end) to b. */
void lint_put_tokens(lint_ctx *c, shunt_buf *b, size_t first, size_t end);

/* Appends the statement's text with word inserted after token at. */
void lint_put_with_word(lint_ctx *c, shunt_buf *b, size_t at, const char *word);

/* strdup-style helpers for the lists above. */
void lint_strs_add(lint_strs *l, const char *s);
bool lint_strs_has(const lint_strs *l, const char *s);
void lint_strs_release(lint_strs *l);

#endif
