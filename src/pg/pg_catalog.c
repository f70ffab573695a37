/*
 * pg_catalog.c: catalog queries; see pg_catalog.h.
 */
#include "pg/pg_catalog.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "pg/pg_exec.h"

int
pg_catalog_schema_exists(shunt_db *db, const char *schema, bool *exists, shunt_error *err)
{
	const char *params[1] = { schema };
	char *v = pg_query_value(db, "SELECT pg_catalog.count(*) FROM pg_catalog.pg_namespace WHERE nspname = $1",
							 1, params, err);

	if (v == NULL)
		return -1;
	*exists = strcmp(v, "0") != 0;
	free(v);
	return 0;
}

int
pg_catalog_read_model(shunt_db *db, const char *schema, model *m, shunt_error *err)
{
	const char *params[1] = { schema };
	PGresult *res;
	model_table *t = NULL;

	res = pg_exec_params(db,
		"SELECT c.relname, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), "
		"       a.attnotnull, pg_catalog.pg_get_expr(d.adbin, d.adrelid), "
		"       coalesce(a.attnum = ANY (i.indkey), false), a.attidentity <> '', a.attgenerated <> '' "
		"  FROM pg_catalog.pg_class c "
		"  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
		"  JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
		"  LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum "
		"  LEFT JOIN pg_catalog.pg_index i ON i.indrelid = c.oid AND i.indisprimary "
		" WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition "
		"   AND c.relname NOT LIKE '\\_shunt\\_%' AND a.attname NOT LIKE '\\_shunt\\_%' "
		" ORDER BY c.relname, a.attnum",
		1, params, err);
	if (res == NULL)
		return -1;
	for (int i = 0; i < PQntuples(res); i++) {
		const char *tname = PQgetvalue(res, i, 0);
		model_column *c;

		if (t == NULL || strcmp(t->phys, tname) != 0)
			t = model_add_table(m, tname, tname);
		c = model_add_column(t, PQgetvalue(res, i, 1), PQgetvalue(res, i, 1), PQgetvalue(res, i, 2));
		c->not_null = PQgetvalue(res, i, 3)[0] == 't';
		c->default_expr = pg_value_dup(res, i, 4);
		c->pk = PQgetvalue(res, i, 5)[0] == 't';
		c->identity = PQgetvalue(res, i, 6)[0] == 't';
		c->generated = PQgetvalue(res, i, 7)[0] == 't';
	}
	PQclear(res);
	return 0;
}

void
pg_dep_objects_free(pg_dep_object *objs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(objs[i].name);
		free(objs[i].definition);
		free(objs[i].index_name);
	}
	free(objs);
}

int
pg_catalog_column_deps(shunt_db *db, const char *schema, const char *table, const char *column,
					   pg_dep_object **out, size_t *n, shunt_error *err)
{
	const char *params[3] = { schema, table, column };
	PGresult *res;

	*out = NULL;
	*n = 0;
	/* Constraints first (with the index behind unique/pk/exclusion), then
	 * plain indexes that no constraint owns. */
	res = pg_exec_params(db,
		"WITH col AS ("
		"  SELECT c.oid AS relid, a.attnum FROM pg_catalog.pg_class c "
		"    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
		"    JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid "
		"   WHERE n.nspname = $1 AND c.relname = $2 AND a.attname = $3) "
		"SELECT con.conname, con.contype::text, pg_catalog.pg_get_constraintdef(con.oid), "
		"       ic.relname, pg_catalog.cardinality(con.conkey), con.convalidated "
		"  FROM pg_catalog.pg_constraint con JOIN col ON con.conrelid = col.relid "
		"  LEFT JOIN pg_catalog.pg_class ic ON ic.oid = con.conindid AND con.contype IN ('u','p','x') "
		" WHERE (col.attnum = ANY (con.conkey) "
		"        OR con.conindid <> 0 AND con.contype IN ('u', 'p', 'x') AND col.attnum = ANY "
		"           ((SELECT ix.indkey FROM pg_catalog.pg_index ix WHERE ix.indexrelid = con.conindid)::int2[])) "
		"   AND con.contype <> 'n' "
		"UNION ALL "
		"SELECT ic.relname, 'i', pg_catalog.pg_get_indexdef(ic.oid), ic.relname, "
		"       i.indnatts, i.indisvalid "
		"  FROM pg_catalog.pg_index i JOIN col ON i.indrelid = col.relid "
		"  JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid "
		" WHERE (col.attnum = ANY (i.indkey) "
		"        OR pg_catalog.pg_get_expr(i.indexprs, i.indrelid) ~ '.' AND "
		"           col.attnum IN (SELECT d.refobjsubid FROM pg_catalog.pg_depend d "
		"                           WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = i.indexrelid "
		"                             AND d.refobjid = col.relid)"
		"        OR col.attnum IN (SELECT d.refobjsubid FROM pg_catalog.pg_depend d "
		"                           WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = i.indexrelid "
		"                             AND d.refobjid = col.relid)) "
		"   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c2 WHERE c2.conindid = i.indexrelid "
		"                      AND c2.conrelid = i.indrelid) "
		" ORDER BY 2, 1",
		3, params, err);
	if (res == NULL)
		return -1;
	*n = (size_t) PQntuples(res);
	*out = shunt_xcalloc(*n ? *n : 1, sizeof(**out));
	for (size_t i = 0; i < *n; i++) {
		pg_dep_object *o = &(*out)[i];

		o->name = pg_value_dup(res, (int) i, 0);
		o->kind = PQgetvalue(res, (int) i, 1)[0];
		o->definition = pg_value_dup(res, (int) i, 2);
		o->index_name = pg_value_dup(res, (int) i, 3);
		o->n_columns = (int) strtol(PQgetvalue(res, (int) i, 4), NULL, 10);
		o->valid = PQgetvalue(res, (int) i, 5)[0] == 't';
	}
	PQclear(res);
	return 0;
}

char *
pg_catalog_referencing_fks(shunt_db *db, const char *schema, const char *table, const char *column,
						   shunt_error *err)
{
	const char *params[3] = { schema, table, column };

	return pg_query_value(db,
		"SELECT coalesce(pg_catalog.string_agg(con.conrelid::regclass::text || '.' || con.conname, ', '), '') "
		"  FROM pg_catalog.pg_constraint con "
		"  JOIN pg_catalog.pg_class c ON c.oid = con.confrelid "
		"  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
		"  JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attname = $3 "
		" WHERE con.contype = 'f' AND n.nspname = $1 AND c.relname = $2 AND a.attnum = ANY (con.confkey)",
		3, params, err);
}

int
pg_catalog_constraint(shunt_db *db, const char *schema, const char *table, const char *name,
					  char *kind, char ***columns, size_t *n, shunt_error *err)
{
	const char *params[3] = { schema, table, name };
	PGresult *res = pg_exec_params(db,
		"SELECT con.contype::text, a.attname "
		"  FROM pg_catalog.pg_constraint con "
		"  JOIN pg_catalog.pg_class c ON c.oid = con.conrelid "
		"  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
		"  LEFT JOIN LATERAL pg_catalog.unnest(con.conkey) WITH ORDINALITY k(attnum, ord) ON true "
		"  LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum "
		" WHERE n.nspname = $1 AND c.relname = $2 AND con.conname = $3 ORDER BY k.ord",
		3, params, err);

	*kind = 0;
	*columns = NULL;
	*n = 0;
	if (res == NULL)
		return -1;
	if (PQntuples(res) > 0)
		*kind = PQgetvalue(res, 0, 0)[0];
	*columns = shunt_xcalloc((size_t) PQntuples(res) + 1, sizeof(char *));
	for (int i = 0; i < PQntuples(res); i++)
		if (!PQgetisnull(res, i, 1))
			(*columns)[(*n)++] = shunt_xstrdup(PQgetvalue(res, i, 1));
	PQclear(res);
	return 0;
}

int
pg_catalog_replica_identity(shunt_db *db, const char *schema, const char *table, char *ident,
							char **index, shunt_error *err)
{
	const char *params[2] = { schema, table };
	PGresult *res = pg_exec_params(db,
		"SELECT c.relreplident::text, "
		"       (SELECT ic.relname FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid "
		"         WHERE i.indrelid = c.oid AND i.indisreplident) "
		"  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
		" WHERE n.nspname = $1 AND c.relname = $2",
		2, params, err);

	*ident = 0;
	*index = NULL;
	if (res == NULL)
		return -1;
	if (PQntuples(res) > 0) {
		*ident = PQgetvalue(res, 0, 0)[0];
		*index = pg_value_dup(res, 0, 1);
	}
	PQclear(res);
	return 0;
}

int
pg_catalog_index_exists(shunt_db *db, const char *schema, const char *name, bool *exists,
						char **constraint, shunt_error *err)
{
	const char *params[2] = { schema, name };
	char *v = pg_query_value(db,
		"SELECT coalesce((SELECT con.conname FROM pg_catalog.pg_constraint con WHERE con.conindid = c.oid "
		"                  AND con.contype IN ('p', 'u', 'x') LIMIT 1), '') "
		"  FROM pg_catalog.pg_class c "
		"  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
		" WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('i', 'I')",
		2, params, err);

	*exists = false;
	if (constraint != NULL)
		*constraint = NULL;
	if (v == NULL)
		return err->code == SHUNT_OK ? 0 : -1;
	*exists = true;
	if (constraint != NULL && v[0] != '\0')
		*constraint = v;
	else
		free(v);
	return 0;
}

char *
pg_catalog_column_dependents(shunt_db *db, const char *schema, const char *table, const char *column,
							 const char *skip_schema, shunt_error *err)
{
	const char *params[4] = { schema, table, column, skip_schema ? skip_schema : "" };

	return pg_query_value(db,
		"WITH col AS ("
		"  SELECT c.oid AS relid, a.attnum FROM pg_catalog.pg_class c "
		"    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
		"    JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid "
		"   WHERE n.nspname = $1 AND c.relname = $2 AND a.attname = $3) "
		"SELECT coalesce(pg_catalog.string_agg(DISTINCT x, ', '), '') FROM ("
		"  SELECT 'generated column ' || pg_catalog.quote_ident(g.attname) AS x "
		"    FROM col JOIN pg_catalog.pg_attrdef d ON d.adrelid = col.relid "
		"    JOIN pg_catalog.pg_attribute g ON g.attrelid = d.adrelid AND g.attnum = d.adnum "
		"    JOIN pg_catalog.pg_depend dep ON dep.classid = 'pg_catalog.pg_attrdef'::regclass "
		"         AND dep.objid = d.oid AND dep.refobjid = col.relid AND dep.refobjsubid = col.attnum "
		"   WHERE g.attgenerated <> '' AND g.attnum <> col.attnum "
		"  UNION ALL "
		"  SELECT 'view ' || v.oid::regclass::text "
		"    FROM col JOIN pg_catalog.pg_depend dep ON dep.classid = 'pg_catalog.pg_rewrite'::regclass "
		"         AND dep.refobjid = col.relid AND dep.refobjsubid = col.attnum "
		"    JOIN pg_catalog.pg_rewrite r ON r.oid = dep.objid "
		"    JOIN pg_catalog.pg_class v ON v.oid = r.ev_class AND v.oid <> col.relid "
		"    JOIN pg_catalog.pg_namespace vn ON vn.oid = v.relnamespace "
		"   WHERE vn.nspname <> $4) s",
		4, params, err);
}

char *
pg_catalog_owned_sequence(shunt_db *db, const char *schema, const char *table, const char *column,
						  shunt_error *err)
{
	const char *params[3] = { schema, table, column };

	return pg_query_value(db,
		"SELECT pg_catalog.pg_get_serial_sequence("
		"  pg_catalog.quote_ident($1) || '.' || pg_catalog.quote_ident($2), $3)",
		3, params, err);
}
