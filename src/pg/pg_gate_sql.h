/*
 * pg_gate_sql.h: what a complete removes, and which query texts use it.
 *
 * The contract gate (pg_gate.h) refuses a complete while pg_stat_statements
 * shows queries that would break once the contract transaction commits.
 * This module is its pure half, no server needed: it reads the stored
 * contract statements to learn what complete drops and renames, and checks
 * one (normalised) query text against that, through libpg_query.
 *
 * What complete removes is taken from the SQL it will run, not from a model
 * diff: the plan stored at start is what complete executes, on any machine,
 * and its statements name physical tables and columns, which are the names
 * the old version uses (after the previous complete, physical names are
 * that version's names; for a schema's first migration the old version
 * reads the tables themselves).
 *
 * Depends on core/ (alloc, buf, error), libpg_query and jansson; never on
 * libpq.
 */
#ifndef SHUNT_PG_GATE_SQL_H
#define SHUNT_PG_GATE_SQL_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/error.h"

/* A table of the application schema that complete changes. */
typedef struct gate_table {
	char *name;            /* as the old version names it */
	char **removed_cols;   /* names the old version reads that stop existing */
	size_t n_removed;
	char **renamed_to;     /* final names given by RENAME COLUMN */
	size_t n_renamed_to;
	char **new_only;       /* of those, the names the old version does not have */
	size_t n_new_only;
	bool cols_change;      /* its column list changes: SELECT * sees other columns */
	bool removed;          /* dropped or renamed away */
	char *new_name;        /* RENAME TO target, else NULL */
} gate_table;

typedef struct gate_affected {
	char *schema;             /* the application schema */
	char **dropped_schemas;   /* DROP SCHEMA: the previous version schema */
	size_t n_dropped_schemas;
	gate_table *tables;
	size_t n_tables;
} gate_affected;

void gate_affected_init(gate_affected *a, const char *schema);
void gate_affected_release(gate_affected *a);

/*
 * Adds what the statements in sql (one or more; a contract step's text)
 * drop or rename: ALTER TABLE ... DROP COLUMN / ADD COLUMN / ALTER COLUMN
 * TYPE, RENAME COLUMN, RENAME TO, DROP TABLE, DROP SCHEMA.  Statements on
 * other schemas' tables and shunt's own "_shunt_" columns are ignored.
 * Returns 0, or -1 with err filled (SHUNT_E_INPUT) when sql does not parse.
 */
int gate_affected_add_sql(gate_affected *a, const char *sql, shunt_error *err);

/* Call once after the last gate_affected_add_sql: a name that is dropped or
 * renamed away but given to another column (a type change keeps its name,
 * a swap) does not stop existing. */
void gate_affected_finish(gate_affected *a);

/* True when complete removes nothing a query could name. */
bool gate_affected_empty(const gate_affected *a);

/*
 * Checks one query text (as pg_stat_statements shows it: $n placeholders
 * parse) for what the contract breaks: a column reference to a removed
 * column of an affected table in scope, `*` or `t.*` (outside EXISTS) and
 * INSERT without a column list on a table whose columns change, SET or
 * INSERT targets that are removed, and any use of a removed table or of a
 * dropped schema.  Only SELECT, INSERT, UPDATE, DELETE, MERGE and DECLARE
 * CURSOR are checked; utility statements (DDL, COPY) never count, nor do
 * statements naming shunt's own "_shunt_" objects (its backfill).
 *
 * Appends one line per distinct finding to out (each ending in "\n") and
 * returns how many there are (0: the query is safe), or -1 with err filled
 * (SHUNT_E_INPUT) when the text does not parse.
 *
 * A table named without a schema is taken to be the application schema's
 * (the name may resolve through either version's search_path); one named
 * with another schema, such as the new version schema, is not affected.
 * A statement that names a column of the table that only the new version
 * has (a rename's or a new column's final name) comes from the new
 * version: nothing about that table counts for it.  Otherwise the text
 * cannot say which version ran it: an unqualified `SELECT * FROM t` counts
 * even when the new version runs it.
 * XXX: scoping is approximate: an unqualified column counts against every
 * affected table the statement names, wherever it appears, so a column of
 * the same name in another table of the same statement also counts.
 */
int gate_query_check(const gate_affected *a, const char *query, shunt_buf *out, shunt_error *err);

#endif
