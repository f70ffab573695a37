/*
 * pg_convert_int.h: what pg_convert.c (the driver, ALTER TABLE and the
 * other statements) and pg_convert_table.c (columns, constraints, CREATE
 * TABLE and CREATE INDEX) share.  pg_convert.h is the interface.
 */
#ifndef SHUNT_PG_CONVERT_INT_H
#define SHUNT_PG_CONVERT_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "core/buf.h"
#include "pg/pg_convert.h"
#include "pg/pg_sqlfile.h"

typedef struct conv_op {
	json_t *op;			/* {"kind": {...}}; owned */
	size_t line;		/* of the statement it comes from */
	shunt_buf comment;	/* YAML comment lines, "\n"-separated */
} conv_op;

typedef struct conv_ctx {
	const sqlf_file *f;
	const sqlf_stmt *s;	/* statement being converted */
	size_t line;		/* its line */
	conv_op *ops;
	size_t n_ops;
	size_t cap_ops;
	pg_convert_msg *msgs;
	size_t n_msgs;
	size_t cap_msgs;
	json_t *names;		/* set of relation and constraint names it uses */
	json_t *index;		/* "t\001TABLE" and "c\001TABLE\001COLUMN" to the
						 * create_table / add_column operation's index */
} conv_ctx;

/* Appends an operation of kind with body (the reference is stolen), with
 * a comment naming the statement it comes from. */
conv_op *conv_add(conv_ctx *c, const char *kind, json_t *body);

/* Appends a line to the operation's YAML comment. */
void conv_comment(conv_op *op, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A message about the current statement for standard error. */
void conv_msg(conv_ctx *c, pg_convert_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The body of operation i when it is of kind, else NULL. */
json_t *conv_op_body(const conv_ctx *c, size_t i, const char *kind);

/* The operation whose body is body (the last one when none is). */
conv_op *conv_op_of_body(conv_ctx *c, json_t *body);

/* The alter_column of table.column to add a change to (merged into the
 * last one of the migration unless a rename came between), its body in
 * *body. */
conv_op *conv_alter_op(conv_ctx *c, const char *table, const char *column, json_t **body);

/* ALTER TABLE (pg_convert_alter.c). */
void conv_alter_table(conv_ctx *c, json_t *stmt);

/* The current statement as an sql operation, with a warning saying why. */
void conv_sql_for_statement(conv_ctx *c, const char *why);

/* The body of the create_table operation of table name, or NULL. */
json_t *conv_created_table(conv_ctx *c, const char *name);

/* The column object of table.column when this migration creates it (in a
 * create_table or an add_column), or NULL.  *add_op is set to the
 * add_column operation's body when it comes from one, else NULL. */
json_t *conv_new_column(conv_ctx *c, const char *table, const char *column, json_t **add_op);

/* The text of tokens [first, end) as one line of SQL (malloc'd). */
char *conv_slice(conv_ctx *c, size_t first, size_t end);

/* The text inside the parentheses that follow the first token word at or
 * after byte offset off in the statement ("CHECK", "AS", "WITH"), or NULL. */
char *conv_paren_after(conv_ctx *c, size_t off, const char *word);

/* The type name as written, starting at the TypeName's location and ending
 * where stop (SQLF_STOP_*) says. */
char *conv_type_text(conv_ctx *c, json_t *type_name, unsigned stop);

/* The default expression of a DEFAULT constraint as written. */
char *conv_default_text(conv_ctx *c, json_t *con);

/* The name PostgreSQL would give: table, the names of cols joined with "_"
 * (or one column, or none), and label.  cols may be NULL.  malloc'd. */
char *conv_default_name(const char *table, json_t *cols, const char *label);

/*
 * The same, but not one the migration already uses: then, as PostgreSQL
 * does, label gets a number (t_a_idx1, t_a_idx2).  The name is recorded
 * as used.  XXX: names of objects that exist in the database are unknown
 * here, so a clash with one of those is not avoided.
 */
char *conv_choose_name(conv_ctx *c, const char *table, json_t *cols, const char *label);

/* Records a name the migration uses (a table, index or constraint). */
void conv_use_name(conv_ctx *c, const char *name);

/* The distinct columns an expression names, in order (a new array). */
json_t *conv_expr_columns(json_t *expr);

/*
 * Builds the pgroll column object of a ColumnDef (borrowed) of table.
 * Named PRIMARY KEY / UNIQUE column constraints whose name is not the one
 * PostgreSQL would choose are appended to extra (table constraints) when
 * extra is not NULL.  Returns NULL with *why set for what the format
 * cannot say.
 */
json_t *conv_column(conv_ctx *c, const char *table, json_t *coldef, json_t *extra,
					const char **why);

/* A create_table "constraints" entry for a table Constraint, or NULL
 * with *why. */
json_t *conv_table_constraint(conv_ctx *c, const char *table, json_t *con, const char **why);

/* A create_constraint body for an ALTER TABLE ... ADD Constraint, or NULL
 * with *why. */
json_t *conv_create_constraint(conv_ctx *c, const char *table, json_t *con, const char **why);

/* CREATE TABLE and CREATE INDEX: false with *why when the statement needs
 * an sql operation instead. */
bool conv_create_table(conv_ctx *c, json_t *st, const char **why);
bool conv_create_index(conv_ctx *c, json_t *st, const char **why);

#endif
