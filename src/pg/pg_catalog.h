/*
 * pg_catalog.h: reading what the planner needs from the system catalogs.
 * All queries are schema-qualified and parameterised; nothing here changes
 * the database.
 */
#ifndef SHUNT_PG_CATALOG_H
#define SHUNT_PG_CATALOG_H

#include "core/model.h"
#include "pg/pg_conn.h"

/*
 * Reads the tables (ordinary and partitioned) of schema into m (initialised
 * by the caller), with their columns in attnum order.  Objects whose names
 * start with "_shunt_" are shunt's own and left out.
 */
int pg_catalog_read_model(shunt_db *db, const char *schema, model *m, shunt_error *err);

/* True when the schema exists. */
int pg_catalog_schema_exists(shunt_db *db, const char *schema, bool *exists, shunt_error *err);

/* An index or constraint that involves a column, as the catalog defines it. */
typedef struct pg_dep_object {
	char *name;
	char kind;          /* 'i' index (not a constraint), 'u' unique, 'p' pk, 'c' check, 'f' fk, 'x' exclusion */
	char *definition;   /* pg_get_indexdef / pg_get_constraintdef */
	char *index_name;   /* for u/p/x: the index behind it */
	int n_columns;      /* how many columns it covers */
	bool valid;
} pg_dep_object;

/* Indexes and constraints on table.column (physical names); *out is a
 * malloc'd array of *n entries, freed with pg_dep_objects_free. */
int pg_catalog_column_deps(shunt_db *db, const char *schema, const char *table,
						   const char *column, pg_dep_object **out, size_t *n,
						   shunt_error *err);
void pg_dep_objects_free(pg_dep_object *objs, size_t n);

/* Names foreign keys of other tables that reference table.column (for
 * refusing changes shunt cannot make online yet); malloc'd, "" when none. */
char *pg_catalog_referencing_fks(shunt_db *db, const char *schema, const char *table,
								 const char *column, shunt_error *err);

/* Names the objects that would keep table.column from being dropped at
 * complete and that shunt does not move: generated columns computed from
 * it and views (other than those in version schema skip_schema) reading
 * it.  malloc'd, "" when none. */
char *pg_catalog_column_dependents(shunt_db *db, const char *schema, const char *table,
								   const char *column, const char *skip_schema, shunt_error *err);

/* The sequence a serial column's default uses and the column owns
 * (quoted, schema-qualified), or NULL. */
char *pg_catalog_owned_sequence(shunt_db *db, const char *schema, const char *table,
								const char *column, shunt_error *err);

/* Looks up a constraint of table by name: its kind ('c','u','f','p','x')
 * and the physical columns it covers (malloc'd array). kind 0 if missing. */
int pg_catalog_constraint(shunt_db *db, const char *schema, const char *table,
						  const char *name, char *kind, char ***columns, size_t *n,
						  shunt_error *err);

/* The table's replica identity ('d','n','f','i') and index name if 'i'. */
int pg_catalog_replica_identity(shunt_db *db, const char *schema, const char *table,
								char *ident, char **index, shunt_error *err);

/* True when an index (any table) of that name exists in schema; when it
 * implements a constraint and constraint is not NULL, *constraint gets the
 * constraint's name (malloc'd), else NULL. */
int pg_catalog_index_exists(shunt_db *db, const char *schema, const char *name, bool *exists,
							char **constraint, shunt_error *err);

#endif
