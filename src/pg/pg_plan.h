/*
 * pg_plan.h: turning a migration into PostgreSQL plan phases.
 *
 * The planner reads the catalog (the previous version's model), applies the
 * migration's operations one by one (src/pg/pg_ops.c), and from the result
 * derives the three phases of core/plan.h:
 *
 *   start:    per-operation DDL (new tables, duplicated columns with their
 *             constraints NOT VALID, ...), one sync trigger per table that
 *             keeps old and new columns equal in both directions, a batched
 *             backfill, indexes built CONCURRENTLY, and the new version
 *             schema of views;
 *   complete: validate constraints, then in one short transaction drop the
 *             previous version schema and the triggers, drop every physical
 *             table and column the new version no longer references, rename
 *             what the new version names differently, attach constraints to
 *             their indexes;
 *   rollback: drop the new version schema, the triggers, and what start
 *             created, in reverse order, each step idempotent.
 */
#ifndef SHUNT_PG_PLAN_H
#define SHUNT_PG_PLAN_H

#include "core/buf.h"
#include "core/migration.h"
#include "core/model.h"
#include "core/plan.h"
#include "pg/pg_conn.h"

/* A rule of a table's sync trigger: on a write by one version, compute a
 * physical column of the other version from an expression over the writing
 * version's columns. */
typedef struct sync_rule {
	char *target;      /* physical column assigned */
	char *expr;        /* user expression (validated) */
	bool up;           /* true: on old-version writes; false: on new-version writes */
	char **var_names;  /* variables the expression may use ... */
	char **var_phys;   /* ... and the physical columns they hold */
	size_t n_vars;
} sync_rule;

typedef struct table_sync {
	char *table;       /* physical table */
	sync_rule *rules;
	size_t n_rules;
	bool backfill;     /* existing rows need the up rules applied */
} table_sync;

/* Work left for the contract phase, keyed by physical names and resolved to
 * the final names only when the plan is finished. */
typedef struct final_fixup {
	char *table;         /* physical table */
	char *column;        /* physical column, or NULL for table-level fixups */
	char *sql_fmt;       /* kind of fixup, see pg_plan.c */
	char *arg1;
	char *arg2;
} final_fixup;

/* A column duplicated by this migration; its indexes and constraints are
 * copied once all operations are planned, so that an index over several
 * duplicated columns is copied once with all of them renamed. */
typedef struct dup_entry {
	char *table;       /* physical table */
	char *old_phys;
	char *tmp;
	char *skip;        /* a constraint not to copy, or NULL */
} dup_entry;

typedef struct planner {
	shunt_db *db;
	const shunt_migration *mig;
	const shunt_op *op;              /* the operation being planned */
	const char *schema;              /* application schema */
	char *version_schema;            /* the new version's schema */
	char *previous_version_schema;   /* NULL: old clients use the app schema */
	model old;                       /* the previous version, from the catalog */
	model cur;                       /* old with the operations so far applied */
	plan *out;
	plan_phase start_ddl;            /* per operation, before the triggers */
	plan_phase start_checks;         /* constraints on new columns: after the triggers fill them */
	plan_phase start_post;           /* after the backfill: concurrent indexes */
	plan_phase complete_pre;         /* validations */
	plan_phase complete_post;        /* after the contract transaction */
	plan_phase rollback_ops;         /* undo of start_ddl/start_post, newest first */
	char **complete_sql;             /* extra statements of the contract txn */
	size_t n_complete_sql;
	char **predrop_sql;              /* contract statements before the drops */
	size_t n_predrop_sql;
	final_fixup *fixups;
	size_t n_fixups;
	table_sync *syncs;
	size_t n_syncs;
	dup_entry *dups;
	size_t n_dups;
	/* create_index statements (without CONCURRENTLY), built when all
	 * operations are planned: a later operation may move their columns */
	char **index_sql;
	char **index_table;
	char **index_name;
	size_t n_index;
	unsigned name_seq;               /* for generated names */
	bool model_only;                 /* apply model changes, emit no SQL */
	shunt_error *op_err;             /* where operations report */
} planner;

/*
 * Plans migration mig for application schema `schema`.  previous_version is
 * the version schema old clients use (NULL when none).  Fills out (initialised
 * here) or returns -1 with err naming the file, operation and field.
 */
int pg_plan_migration(shunt_db *db, const shunt_migration *mig, const char *schema,
					  const char *version_schema, const char *previous_version, plan *out,
					  shunt_error *err);

/* Builds the statements that (re)create the version schema and its views for
 * the model m (used by the STEP_VIEWS step at run time). */
int pg_plan_views_sql(shunt_db *db, const model *m, const char *version_schema, char ***sql,
					  size_t *n, shunt_error *err);

/* Applies the model changes of mig's operations to m (no SQL); used at run
 * time to rebuild the new version's model from the catalog. */
int pg_plan_apply_model(shunt_db *db, const shunt_migration *mig, model *m, shunt_error *err);

/* --- helpers for pg_ops.c --- */
void planner_add_rule(planner *p, const char *table, const char *target, const char *expr, bool up,
					  const model_table *vars_from);
void planner_need_backfill(planner *p, const char *table);
void planner_complete_sql(planner *p, const char *sql);
/* A contract statement that must run before old tables and columns are
 * dropped (physical names as at start). */
void planner_predrop_sql(planner *p, const char *sql);
void planner_fixup(planner *p, const char *table, const char *column, const char *kind,
				   const char *arg1, const char *arg2);
/* Sets err to "<file>: operation N (kind): <message>"; returns -1. */
int planner_error(planner *p, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A fresh generated name: prefix + base, unique within this plan. */
char *planner_name(planner *p, const char *prefix, const char *base);
/* "schema"."table" with the application schema. */
void planner_put_table(planner *p, shunt_buf *b, const char *table);
char *planner_table(planner *p, const char *table);
char *planner_ident(planner *p, const char *name);

#endif
