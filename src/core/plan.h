/*
 * plan.h: a migration's phases as lists of steps.
 *
 * Planning turns a migration into three phases: start (expand: new columns,
 * triggers, backfill, new version schema), complete (contract: validate,
 * drop the old, rename the new) and rollback (remove everything start
 * made).  All three are computed before anything runs, stored with the
 * migration in the state schema, and executed step by step with a
 * checkpoint after each, so an interrupted phase continues where it
 * stopped and --dry-run prints exactly what would run.  Every rollback step
 * is idempotent (IF EXISTS), so rollback works from any point of start.
 * Database-neutral: steps hold SQL text, nothing here talks to a server.
 */
#ifndef SHUNT_PLAN_H
#define SHUNT_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "core/error.h"

typedef enum plan_step_kind {
	STEP_TXN,        /* statements in one short transaction under the lock module */
	STEP_CONCURRENT, /* one statement outside a transaction (CREATE INDEX CONCURRENTLY) */
	STEP_BACKFILL,   /* batched backfill of one table */
	STEP_VIEWS,      /* (re)create the new version schema's views, from the catalog */
	STEP_REBUILD,    /* online rebuild of table, cut over (sql[0]: ALTER TABLE clauses, optional) */
	STEP_REBUILD_DROP_OLD, /* drop the table a rebuild left for its revert */
	STEP_REBUILD_UNDO,     /* revert (after a cut-over) or abort a rebuild, then drop */
} plan_step_kind;

typedef struct plan_step {
	plan_step_kind kind;
	char *what;          /* one line for humans: "add column \"x\" to \"t\"" */
	char **sql;          /* TXN: statements; CONCURRENT: sql[0] */
	size_t n_sql;
	char *cleanup;       /* CONCURRENT: run before a retry (drop the invalid index) */
	char **relations;    /* quoted relation names the step locks, for naming blockers */
	size_t n_relations;
	char *table_schema;  /* BACKFILL */
	char *table;         /* BACKFILL: physical table */
	char *set_clause;    /* BACKFILL: assignments, e.g. "x" = "x"; NULL: fire the triggers */
	int only_if_started; /* rollback: run only if start step N (0-based) ran; -1 always */
} plan_step;

typedef struct plan_phase {
	plan_step *steps;
	size_t n;
	size_t cap;
} plan_phase;

typedef struct plan {
	plan_phase start;
	plan_phase complete;
	plan_phase rollback;
} plan;

void plan_init(plan *p);
void plan_release(plan *p);
void plan_phase_release(plan_phase *ph);

/* Appends a step and returns it (owned by the phase); the strings given
 * are copied. */
plan_step *plan_add_txn(plan_phase *ph, const char *what, const char *relation);
void plan_step_add_sql(plan_step *s, const char *sql);
plan_step *plan_add_concurrent(plan_phase *ph, const char *what, const char *sql,
							   const char *cleanup);
plan_step *plan_add_backfill(plan_phase *ph, const char *what, const char *schema,
							 const char *table);
plan_step *plan_add_views(plan_phase *ph, const char *what);
/* STEP_REBUILD, STEP_REBUILD_DROP_OLD or STEP_REBUILD_UNDO of schema.table;
 * alter (may be NULL) only for STEP_REBUILD. */
plan_step *plan_add_rebuild(plan_phase *ph, plan_step_kind kind, const char *what, const char *schema,
							const char *table, const char *alter);

/* Moves every step of src to the front of dst (in src's order); src is left empty. */
void plan_phase_prepend(plan_phase *dst, plan_phase *src);
/* Moves every step of src to the end of dst; src is left empty. */
void plan_phase_append(plan_phase *dst, plan_phase *src);

/* JSON round trip for storage in the state schema. */
json_t *plan_to_json(const plan *p);
int plan_from_json(plan *p, json_t *j, shunt_error *err);

const char *plan_step_kind_name(plan_step_kind k);

#endif
