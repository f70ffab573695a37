/*
 * pg_ops.h: planning each operation kind of a migration.
 *
 * Every operation, given the planner (pg_plan.h), checks its fields against
 * the current model, changes the model the way the new version will see
 * the schema, and (unless the planner only replays the model) adds its
 * start DDL, sync rules, backfill needs, post-backfill indexes, validations,
 * contract fixups and rollback steps.  One file per group of kinds:
 * pg_op_table.c, pg_op_column.c, pg_op_index.c, pg_op_constraint.c,
 * pg_op_misc.c; the shared helpers are in pg_ops.c.
 */
#ifndef SHUNT_PG_OPS_H
#define SHUNT_PG_OPS_H

#include "pg/pg_plan.h"

/* Plans one operation; 0 or -1 with p->op_err filled. */
int pg_ops_plan(planner *p, const shunt_op *op);

/* After the last operation: copies the indexes and constraints of every
 * duplicated column to its duplicate; 0 or -1. */
int pg_ops_finish(planner *p);

/* per kind */
int op_create_table(planner *p, json_t *d);
int op_drop_table(planner *p, json_t *d);
int op_rename_table(planner *p, json_t *d);
int op_add_column(planner *p, json_t *d);
int op_drop_column(planner *p, json_t *d);
int op_rename_column(planner *p, json_t *d);
int op_alter_column(planner *p, json_t *d);
int op_create_index(planner *p, json_t *d);
int op_drop_index(planner *p, json_t *d);
int op_create_constraint(planner *p, json_t *d);
int op_drop_constraint(planner *p, json_t *d);
int op_drop_multicolumn_constraint(planner *p, json_t *d);
int op_rename_constraint(planner *p, json_t *d);
int op_set_replica_identity(planner *p, json_t *d);
int op_sql(planner *p, json_t *d);
int op_rebuild_table(planner *p, json_t *d);
int op_alter_column_rebuild(planner *p, json_t *d);

/* --- shared helpers (pg_ops.c) --- */

/* The table / column by the name the version being planned uses; NULL with
 * an error naming the field when missing. */
model_table *ops_table(planner *p, const char *field, const char *name);
model_column *ops_column(planner *p, model_table *t, const char *field, const char *name);

/* Validates a user SQL expression (exactly one expression). */
int ops_check_expr(planner *p, const char *field, const char *expr);
/* Validates a user type name. */
int ops_check_type(planner *p, const char *field, const char *type);
/* Validates that generated SQL with user fragments is exactly one statement. */
int ops_check_statement(planner *p, const char *field, const char *sql);

/* Start DDL in its own short transaction under the lock module. */
void ops_start_txn(planner *p, const char *what, const char *table, const char *sql);
/* A constraint on a new column, added NOT VALID once the sync triggers
 * exist (a NOT VALID check applies to rows written from then on). */
void ops_start_check(planner *p, const char *what, const char *table, const char *sql);
/* NOT NULL for a new column: a NOT VALID check after the triggers,
 * validated at complete, then SET NOT NULL and the check dropped. */
void ops_not_null_check(planner *p, const char *table, const char *column);
/* A post-backfill concurrent statement (index build) with its cleanup. */
void ops_start_concurrent(planner *p, const char *what, const char *sql, const char *cleanup);
/* An undo step; the planner runs undo steps newest first. */
void ops_rollback_txn(planner *p, const char *what, const char *table, const char *sql);
void ops_rollback_concurrent(planner *p, const char *what, const char *sql);
/* A validation before the contract transaction. */
void ops_complete_validate(planner *p, const char *table, const char *constraint);

/* Foreign key clause "REFERENCES t (cols) MATCH .. ON DELETE .. ON UPDATE .."
 * from a ForeignKeyReference / TableForeignKeyReference object. */
int ops_put_references(planner *p, shunt_buf *b, const char *field, json_t *ref);

/* Duplicates physical column `col` of table t for a change that the old
 * version must not see (pgroll's "duplicate" strategy): adds the new
 * column with the given type/default/nullability, copies the old column's
 * other constraints and indexes (except `skip_constraint`), registers up
 * and down rules and the backfill, updates the model (the column now reads
 * the duplicate), and registers the contract fixups.  Returns the new
 * physical name (borrowed from the model) or NULL on error. */
typedef struct ops_dup {
	const char *type;            /* NULL: keep */
	bool set_default;            /* default changes (default_expr may be NULL = none) */
	const char *default_expr;
	int not_null;                /* -1 keep, 0 nullable, 1 not null */
	const char *up;              /* NULL: the column itself */
	const char *down;            /* NULL: the column itself */
	const char *skip_constraint; /* a constraint not to copy (drop_constraint) */
	const char *new_name;        /* rename as well, NULL: keep */
} ops_dup;

const char *ops_duplicate_column(planner *p, model_table *t, model_column *c, const ops_dup *d);

#endif
