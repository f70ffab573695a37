/*
 * model.h: the schema a version of the application sees.
 *
 * A model is a list of tables, each a list of columns, where every name is
 * the one the application version uses and every "phys" is the physical
 * table or column that holds the data.  The model of the previous version is
 * read from the catalog; applying a migration's operations to it gives the
 * new version's model, from which the new version schema's views are built
 * and the contract phase is derived (drop what no longer is referenced,
 * rename what is named differently).  Database-neutral: never includes
 * libpq-fe.h.
 */
#ifndef SHUNT_MODEL_H
#define SHUNT_MODEL_H

#include <stdbool.h>
#include <stddef.h>

typedef struct model_column {
	char *name;        /* as the version sees it */
	char *phys;        /* physical column */
	char *type;        /* format_type() text */
	bool not_null;
	char *default_expr; /* NULL when none */
	bool pk;
	bool is_new;       /* created by the migration being planned */
	bool identity;
	bool generated;
} model_column;

typedef struct model_table {
	char *name;        /* as the version sees it */
	char *phys;        /* physical table */
	model_column *cols;
	size_t n_cols;
	size_t cap_cols;
	bool created;      /* created by the migration being planned */
} model_table;

typedef struct model {
	char *schema;      /* the application schema */
	model_table *tables;
	size_t n_tables;
	size_t cap_tables;
} model;

void model_init(model *m, const char *schema);
void model_release(model *m);
/* Deep copy into dst (initialised by this call). */
void model_copy(model *dst, const model *src);

model_table *model_find_table(model *m, const char *name);
model_table *model_find_table_phys(model *m, const char *phys);
model_column *model_find_column(model_table *t, const char *name);
model_column *model_find_column_phys(model_table *t, const char *phys);

model_table *model_add_table(model *m, const char *name, const char *phys);
model_column *model_add_column(model_table *t, const char *name, const char *phys, const char *type);
void model_remove_table(model *m, const char *name);
void model_remove_column(model_table *t, const char *name);

/* Generated names for shunt's own objects: prefix + name when that fits in
 * 63 bytes, else prefix + a UTF-8-safe truncation of name + "_" + 8 hex
 * digits of a hash of the whole name, so distinct names stay distinct.
 * Returns malloc'd text. */
char *model_generated_name(const char *prefix, const char *name);

#define MODEL_MAX_IDENT 63

#endif
