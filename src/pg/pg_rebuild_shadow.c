/*
 * pg_rebuild_shadow.c: the shadow table and change capture of a rebuild;
 * see pg_rebuild_int.h.
 *
 * The shadow is CREATE TABLE (LIKE live INCLUDING ...) for columns,
 * defaults, identity, generated columns, CHECK and NOT NULL constraints,
 * storage, compression, comments and extended statistics; then --alter;
 * then what LIKE does not carry: storage parameters, ownership, grants,
 * policies, statistics targets, the table's own triggers (created disabled:
 * they must not fire for the copy) and its indexes, each under a parked
 * name because index names are unique per schema.  Only the key index is
 * built before the copy (captured changes are applied by key); the others
 * after it, which is faster than maintaining them row by row.
 *
 * Catalog text that becomes DDL (reloptions, policy expressions, grants) is
 * quoted by the server (format %I / %L) from catalog values; names shunt
 * chooses go through PQescapeIdentifier.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/model.h"
#include "pg/pg_exec.h"
#include "pg/pg_parse.h"
#include "pg/pg_rebuild_int.h"

/* Runs a query whose rows are statements (column 0) and runs each. */
static int
exec_generated(rebuild *rb, const char *query, int np, const char *const *params, shunt_error *err)
{
	PGresult *res = pg_exec_params(rb->db, query, np, params, err);
	int rc = 0;

	if (res == NULL)
		return -1;
	for (int i = 0; i < PQntuples(res) && rc == 0; i++)
		if (!PQgetisnull(res, i, 0))
			rc = rb_exec(rb, PQgetvalue(res, i, 0), err);
	PQclear(res);
	return rc;
}

static bool
is_true(const PGresult *res, int row, int col)
{
	return !PQgetisnull(res, row, col) && PQgetvalue(res, row, col)[0] == 't';
}

/* Refuses tables the rebuild cannot swap correctly. */
static int
check_table(rebuild *rb, const char *live, shunt_error *err)
{
	const char *params[1] = { live };
	PGresult *res;
	int rc = -1;

	res = pg_exec_params(rb->db,
		"SELECT c.relkind, c.relispartition, "
		"       EXISTS (SELECT 1 FROM pg_catalog.pg_inherits i WHERE i.inhrelid = c.oid OR i.inhparent = c.oid), "
		"       c.reloftype <> 0, "
		"       (SELECT pg_catalog.string_agg(DISTINCT m.oid::regclass::text, ', ') "
		"          FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_rewrite r ON r.oid = d.objid "
		"          JOIN pg_catalog.pg_class m ON m.oid = r.ev_class AND m.relkind = 'm' "
		"         WHERE d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.refobjid = c.oid), "
		"       (SELECT pg_catalog.string_agg(ci.relname, ', ') FROM pg_catalog.pg_index i "
		"          JOIN pg_catalog.pg_class ci ON ci.oid = i.indexrelid "
		"         WHERE i.indrelid = c.oid AND NOT i.indisvalid), "
		"       c.relrowsecurity AND c.relforcerowsecurity AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r "
		"         WHERE r.rolname = CURRENT_USER AND (r.rolsuper OR r.rolbypassrls)) "
		"  FROM pg_catalog.pg_class c WHERE c.oid = $1::regclass",
		1, params, err);
	if (res == NULL)
		return -1;
	if (PQgetvalue(res, 0, 0)[0] != 'r' || is_true(res, 0, 1) || is_true(res, 0, 2) || is_true(res, 0, 3)) {
		shunt_error_set(err, SHUNT_E_INPUT, "%s cannot be rebuilt: it is %s", live,
						PQgetvalue(res, 0, 0)[0] == 'p' ? "partitioned"
						: PQgetvalue(res, 0, 0)[0] != 'r' ? "not a table"
						: is_true(res, 0, 1)				 ? "a partition"
						: is_true(res, 0, 2)				 ? "part of an inheritance tree"
															 : "a typed table");
		shunt_error_hint(err, "Rebuild the partitions one by one; inheritance and typed tables are not "
							  "supported.");
		goto done;
	}
	if (!PQgetisnull(res, 0, 4)) {
		shunt_error_set(err, SHUNT_E_INPUT, "%s cannot be rebuilt: materialized views depend on it", live);
		shunt_error_detail(err, "Materialized views: %s.", PQgetvalue(res, 0, 4));
		shunt_error_hint(err, "Drop them first and create them again after the rebuild.");
		goto done;
	}
	if (!PQgetisnull(res, 0, 5)) {
		shunt_error_set(err, SHUNT_E_INPUT, "%s has invalid indexes: %s", live, PQgetvalue(res, 0, 5));
		shunt_error_detail(err, "An invalid index is what a failed CREATE INDEX CONCURRENTLY leaves; the rebuild "
								"would have to copy it as it is.");
		shunt_error_hint(err, "Drop or REINDEX them first.");
		goto done;
	}
	/* FORCE ROW LEVEL SECURITY applies the policies to the owner too: the
	 * copy and the verification would see the same filtered table, and
	 * the rows the policies hide would be left behind in the old table */
	if (is_true(res, 0, 6)) {
		shunt_error_set(err, SHUNT_E_REFUSED,
						"%s cannot be rebuilt by this role: FORCE ROW LEVEL SECURITY hides rows from it", live);
		shunt_error_detail(err, "The copy would see only the rows the policies show the role, and the others would "
								"be lost at the cut-over.");
		shunt_error_hint(err, "Run the rebuild as a role with BYPASSRLS (or a superuser).");
		goto done;
	}
	rc = 0;
done:
	PQclear(res);
	return rc;
}

/* The indexes of the live table with the statements that rebuild each on
 * the shadow under its parked name. */
static int
spec_indexes(rebuild *rb, const char *live, const char *shadow_q, json_t *key, shunt_error *err)
{
	const char *params[1] = { live };
	json_t *arr = json_array();
	PGresult *res;
	bool key_found = false;
	int rc = -1;

	res = pg_exec_params(rb->db,
		"SELECT ci.relname, pg_catalog.pg_get_indexdef(i.indexrelid), con.conname IS NOT NULL, con.contype, "
		"       con.condeferrable, con.condeferred, pg_catalog.pg_get_constraintdef(con.oid), "
		"       i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL, "
		"       pg_catalog.array_to_json(ARRAY(SELECT a.attname FROM pg_catalog.unnest(i.indkey::int2[]) "
		"              WITH ORDINALITY k(n, o) "
		"              JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n "
		"             WHERE k.o <= i.indnkeyatts ORDER BY k.o))::text, "
		"       i.indisreplident, i.indisprimary "
		"  FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ci ON ci.oid = i.indexrelid "
		"  LEFT JOIN pg_catalog.pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid "
		"       AND con.contype IN ('p', 'u', 'x') "
		" WHERE i.indrelid = $1::regclass ORDER BY NOT i.indisprimary, ci.relname",
		1, params, err);
	if (res == NULL) {
		json_decref(arr);
		return -1;
	}
	for (int r = 0; r < PQntuples(res); r++) {
		const char *name = PQgetvalue(res, r, 0);
		char *rbn = model_generated_name("_shunt_rb_", name);
		char *old = model_generated_name("_shunt_old_", name);
		char *create = NULL;
		shunt_buf con = SHUNT_BUF_INIT;
		json_t *o = json_object();
		bool is_key = false;

		buf_init(&con);
		if (PQgetvalue(res, r, 3)[0] == 'x') {
			/* an exclusion constraint builds its own index */
			buf_put(&con, "ALTER TABLE ");
			buf_put(&con, shadow_q);
			buf_put(&con, " ADD CONSTRAINT ");
			pg_put_ident(rb->db, &con, rbn);
			buf_putc(&con, ' ');
			buf_put(&con, PQgetvalue(res, r, 6));
		} else {
			create = pg_parse_retarget(PQgetvalue(res, r, 1), false, rbn, shadow_q, err);
			if (create == NULL) {
				free(rbn);
				free(old);
				buf_release(&con);
				json_decref(o);
				goto done;
			}
			if (is_true(res, r, 2)) {
				bool pk = PQgetvalue(res, r, 3)[0] == 'p';

				buf_put(&con, "ALTER TABLE ");
				buf_put(&con, shadow_q);
				buf_put(&con, " ADD CONSTRAINT ");
				pg_put_ident(rb->db, &con, rbn);
				buf_put(&con, pk ? " PRIMARY KEY USING INDEX " : " UNIQUE USING INDEX ");
				pg_put_ident(rb->db, &con, rbn);
				if (is_true(res, r, 4))
					buf_put(&con, is_true(res, r, 5) ? " DEFERRABLE INITIALLY DEFERRED" : " DEFERRABLE");
			}
		}
		/* the key index: the first unique, plain index on exactly the key
		 * columns (the primary key sorts first) */
		if (!key_found && is_true(res, r, 7)) {
			json_t *names = json_loads(PQgetvalue(res, r, 8), 0, NULL);

			is_key = json_array_size(names) == json_array_size(key);
			for (size_t k = 0; is_key && k < json_array_size(key); k++)
				is_key = strcmp(json_string_value(json_array_get(names, k)),
								json_string_value(json_object_get(json_array_get(key, k), "name"))) == 0;
			key_found = is_key;
			json_decref(names);
		}
		json_object_set_new(o, "name", json_string(name));
		json_object_set_new(o, "rb", json_string(rbn));
		json_object_set_new(o, "old", json_string(old));
		json_object_set_new(o, "create", create ? json_string(create) : json_null());
		json_object_set_new(o, "constraint", con.len ? json_string(buf_str(&con)) : json_null());
		json_object_set_new(o, "key", json_boolean(is_key));
		json_array_append_new(arr, o);
		if (is_true(res, r, 9))
			json_object_set_new(rb->spec, "replica_index", json_string(rbn));
		free(rbn);
		free(old);
		free(create);
		buf_release(&con);
	}
	if (!key_found) {
		shunt_error_set(err, SHUNT_E_INTERNAL, "cannot find the key index of %s", live);
		goto done;
	}
	json_object_set(rb->spec, "indexes", arr);
	rc = 0;
done:
	json_decref(arr);
	PQclear(res);
	return rc;
}

int
rb_shadow_spec(rebuild *rb, shunt_error *err)
{
	shunt_buf live = SHUNT_BUF_INIT, shadow = SHUNT_BUF_INIT;
	char **cols = NULL, **types = NULL;
	size_t n = 0;
	json_t *key = json_array(), *trig = json_array();
	const char *params[1];
	PGresult *res;
	int rc = -1;

	buf_init(&live);
	buf_init(&shadow);
	pg_put_qualified(rb->db, &live, rb->schema, rb->table);
	pg_put_qualified(rb->db, &shadow, rb->schema, rb->rb_name);
	params[0] = buf_str(&live);
	if (check_table(rb, buf_str(&live), err) != 0)
		goto done;
	if (pg_backfill_key(rb->db, rb->schema, rb->table, &cols, &types, &n, err) != 0) {
		shunt_error_detail(err, "The rebuild copies the table in key order and applies captured changes "
								"by key.");
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *o = json_object();

		json_object_set_new(o, "name", json_string(cols[i]));
		json_object_set_new(o, "src_type", json_string(types[i]));
		json_array_append_new(key, o);
	}
	json_object_set(rb->spec, "key", key);
	if (spec_indexes(rb, buf_str(&live), buf_str(&shadow), key, err) != 0)
		goto done;
	res = pg_exec_params(rb->db,
		"SELECT t.tgname, t.tgenabled FROM pg_catalog.pg_trigger t "
		" WHERE t.tgrelid = $1::regclass AND NOT t.tgisinternal AND t.tgname NOT LIKE '\\_shunt\\_%' "
		" ORDER BY t.tgname",
		1, params, err);
	if (res == NULL)
		goto done;
	for (int r = 0; r < PQntuples(res); r++) {
		json_t *o = json_object();

		json_object_set_new(o, "name", json_string(PQgetvalue(res, r, 0)));
		json_object_set_new(o, "enabled", json_string(PQgetvalue(res, r, 1)));
		json_array_append_new(trig, o);
	}
	PQclear(res);
	json_object_set(rb->spec, "triggers", trig);
	rc = 0;
done:
	for (size_t i = 0; i < n; i++) {
		free(cols[i]);
		free(types[i]);
	}
	free(cols);
	free(types);
	json_decref(key);
	json_decref(trig);
	buf_release(&live);
	buf_release(&shadow);
	return rc;
}

/* Columns in both tables (by name) with their types; the key's types on the
 * shadow side; the type changes, for the cut-over's warning. */
static int
spec_columns(rebuild *rb, const char *live, const char *shadow, shunt_error *err)
{
	const char *params[2] = { live, shadow };
	json_t *cols = json_array(), *changes = json_array();
	json_t *key = json_object_get(rb->spec, "key");
	PGresult *res;

	res = pg_exec_params(rb->db,
		"SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), "
		"       pg_catalog.format_type(b.atttypid, b.atttypmod) "
		"  FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_attribute b "
		"    ON b.attrelid = $2::regclass AND b.attname = a.attname AND NOT b.attisdropped AND b.attgenerated = '' "
		" WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' "
		" ORDER BY b.attnum",
		2, params, err);
	if (res == NULL) {
		json_decref(cols);
		json_decref(changes);
		return -1;
	}
	for (int r = 0; r < PQntuples(res); r++) {
		json_t *o = json_object();
		const char *name = PQgetvalue(res, r, 0);

		json_object_set_new(o, "name", json_string(name));
		json_object_set_new(o, "src_type", json_string(PQgetvalue(res, r, 1)));
		json_object_set_new(o, "dst_type", json_string(PQgetvalue(res, r, 2)));
		json_array_append_new(cols, o);
		if (strcmp(PQgetvalue(res, r, 1), PQgetvalue(res, r, 2)) != 0) {
			shunt_buf c = SHUNT_BUF_INIT;

			buf_init(&c);
			buf_printf(&c, "%s: %s -> %s", name, PQgetvalue(res, r, 1), PQgetvalue(res, r, 2));
			json_array_append_new(changes, json_string(buf_str(&c)));
			buf_release(&c);
		}
		for (size_t k = 0; k < json_array_size(key); k++) {
			json_t *ko = json_array_get(key, k);

			if (strcmp(json_string_value(json_object_get(ko, "name")), name) == 0)
				json_object_set_new(ko, "dst_type", json_string(PQgetvalue(res, r, 2)));
		}
	}
	PQclear(res);
	for (size_t k = 0; k < json_array_size(key); k++)
		if (json_object_get(json_array_get(key, k), "dst_type") == NULL) {
			json_decref(cols);
			json_decref(changes);
			return shunt_error_set(err, SHUNT_E_INPUT, "--alter removes the key column \"%s\"",
								   json_string_value(json_object_get(json_array_get(key, k), "name")));
		}
	json_object_set_new(rb->spec, "columns", cols);
	json_object_set_new(rb->spec, "type_changes", changes);
	return 0;
}

/* Creates one index of the spec on the shadow unless it exists. */
static int
create_index(rebuild *rb, json_t *ix, shunt_error *err)
{
	const char *create = json_string_value(json_object_get(ix, "create"));
	const char *con = json_string_value(json_object_get(ix, "constraint"));
	const char *rbn = json_string_value(json_object_get(ix, "rb"));
	shunt_buf q = SHUNT_BUF_INIT;
	const char *params[1];
	char *exists;
	int rc;

	buf_init(&q);
	pg_put_qualified(rb->db, &q, rb->schema, rbn);
	params[0] = buf_str(&q);
	exists = pg_query_value(rb->db, "SELECT pg_catalog.to_regclass($1) IS NOT NULL", 1, params, err);
	buf_release(&q);
	if (exists == NULL)
		return -1;
	rc = 0;
	if (strcmp(exists, "t") != 0 || rb->o->dry_run) {
		log_info("rebuild: building index %s on the shadow",
				 json_string_value(json_object_get(ix, "name")));
		if (create != NULL)
			rc = rb_exec(rb, create, err);
		if (rc == 0 && con != NULL)
			rc = rb_exec(rb, con, err);
		if (rc != 0)
			shunt_error_add_context(err, "while building index \"%s\" on the shadow table",
									json_string_value(json_object_get(ix, "name")));
	}
	free(exists);
	return rc;
}

int
rb_shadow_create(rebuild *rb, shunt_error *err)
{
	shunt_buf live = SHUNT_BUF_INIT, shadow = SHUNT_BUF_INIT, sql = SHUNT_BUF_INIT;
	const char *params[2];
	PGresult *res;
	json_t *ix;
	size_t i;
	int rc = -1;

	buf_init(&live);
	buf_init(&shadow);
	buf_init(&sql);
	pg_put_qualified(rb->db, &live, rb->schema, rb->table);
	pg_put_qualified(rb->db, &shadow, rb->schema, rb->rb_name);
	params[0] = buf_str(&live);
	params[1] = buf_str(&shadow);

	/* the table: LIKE carries columns, defaults, identity, generated
	 * columns, CHECK / NOT NULL, storage, compression, comments, extended
	 * statistics; persistence, storage parameters and tablespace follow */
	res = pg_exec_params(rb->db,
		"SELECT pg_catalog.format('CREATE %sTABLE %s (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
		"  INCLUDING GENERATED INCLUDING IDENTITY INCLUDING STORAGE INCLUDING COMPRESSION "
		"  INCLUDING COMMENTS INCLUDING STATISTICS)%s%s', "
		"  CASE c.relpersistence WHEN 'u' THEN 'UNLOGGED ' ELSE '' END, $2::text, $1::text, "
		"  ' WITH (' || (SELECT pg_catalog.string_agg(pg_catalog.format('%I = %L', "
		"        pg_catalog.split_part(o, '=', 1), pg_catalog.substr(o, pg_catalog.strpos(o, '=') + 1)), ', ') "
		"      FROM pg_catalog.unnest(c.reloptions) o) || ')', "
		"  ' TABLESPACE ' || pg_catalog.quote_ident(ts.spcname)), "
		"  (SELECT pg_catalog.string_agg(pg_catalog.format('%I.%I = %L', 'toast', "
		"        pg_catalog.split_part(o, '=', 1), pg_catalog.substr(o, pg_catalog.strpos(o, '=') + 1)), ', ') "
		"     FROM pg_catalog.pg_class t, pg_catalog.unnest(t.reloptions) o WHERE t.oid = c.reltoastrelid), "
		"  c.relrowsecurity, c.relforcerowsecurity, c.relreplident, "
		"  pg_catalog.pg_get_userbyid(c.relowner) <> CURRENT_USER, pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(c.relowner)) "
		"  FROM pg_catalog.pg_class c LEFT JOIN pg_catalog.pg_tablespace ts ON ts.oid = c.reltablespace "
		" WHERE c.oid = $1::regclass",
		2, params, err);
	if (res == NULL)
		goto done;
	buf_put(&sql, PQgetvalue(res, 0, 0));
	if (rb_exec(rb, buf_str(&sql), err) != 0) {
		PQclear(res);
		goto done;
	}
	if (!PQgetisnull(res, 0, 1)) {
		buf_reset(&sql);
		buf_printf(&sql, "ALTER TABLE %s SET (%s)", buf_str(&shadow), PQgetvalue(res, 0, 1));
		if (rb_exec(rb, buf_str(&sql), err) != 0) {
			PQclear(res);
			goto done;
		}
	}
	json_object_set_new(rb->spec, "force_rls", json_boolean(is_true(res, 0, 3)));
	buf_reset(&sql);
	if (is_true(res, 0, 2))
		buf_printf(&sql, "ALTER TABLE %s ENABLE ROW LEVEL SECURITY", buf_str(&shadow));
	if (sql.len && rb_exec(rb, buf_str(&sql), err) != 0) {
		PQclear(res);
		goto done;
	}
	buf_reset(&sql);
	if (PQgetvalue(res, 0, 4)[0] == 'f' || PQgetvalue(res, 0, 4)[0] == 'n')
		buf_printf(&sql, "ALTER TABLE %s REPLICA IDENTITY %s", buf_str(&shadow),
				   PQgetvalue(res, 0, 4)[0] == 'f' ? "FULL" : "NOTHING");
	if (sql.len && rb_exec(rb, buf_str(&sql), err) != 0) {
		PQclear(res);
		goto done;
	}
	buf_reset(&sql);
	if (is_true(res, 0, 5))
		buf_printf(&sql, "ALTER TABLE %s OWNER TO %s", buf_str(&shadow), PQgetvalue(res, 0, 6));
	PQclear(res);
	if (sql.len && rb_exec(rb, buf_str(&sql), err) != 0)
		goto done;

	/* the new definition */
	if (rb->o->alter != NULL) {
		char *alter = pg_parse_alter_table(rb->o->alter, buf_str(&shadow), err);

		if (alter == NULL)
			goto done;
		rc = rb_exec(rb, alter, err);
		free(alter);
		if (rc != 0) {
			shunt_error_add_context(err, "while applying --alter to the shadow table");
			goto done;
		}
		rc = -1;
	}
	if (!rb->o->dry_run && spec_columns(rb, buf_str(&live), buf_str(&shadow), err) != 0)
		goto done;

	/* grants (table and column), policies, the table comment, statistics
	 * targets and column options */
	if (rb->o->dry_run)
		printf("-- then the table's grants, policies, comment, statistics targets and column options\n");
	else if (exec_generated(rb,
		"SELECT pg_catalog.format('GRANT %s ON %s TO %s%s', a.privilege_type, $2::text, "
		"       CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END, "
		"       CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END) "
		"  FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) a "
		" WHERE c.oid = $1::regclass AND a.grantee <> c.relowner "
		"UNION ALL "
		"SELECT pg_catalog.format('GRANT %s (%I) ON %s TO %s%s', a.privilege_type, at.attname, $2::text, "
		"       CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END, "
		"       CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END) "
		"  FROM pg_catalog.pg_attribute at, pg_catalog.aclexplode(at.attacl) a "
		" WHERE at.attrelid = $1::regclass AND at.attnum > 0 AND NOT at.attisdropped "
		"   AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute b WHERE b.attrelid = $2::regclass "
		"               AND b.attname = at.attname AND NOT b.attisdropped) "
		"UNION ALL "
		"SELECT pg_catalog.format('CREATE POLICY %I ON %s AS %s FOR %s TO %s%s%s', p.polname, $2::text, "
		"       CASE WHEN p.polpermissive THEN 'PERMISSIVE' ELSE 'RESTRICTIVE' END, "
		"       CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE' "
		"                     WHEN 'd' THEN 'DELETE' ELSE 'ALL' END, "
		"       (SELECT pg_catalog.string_agg(CASE WHEN r = 0 THEN 'PUBLIC' "
		"               ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(r)) END, ', ') "
		"          FROM pg_catalog.unnest(p.polroles) r), "
		"       ' USING (' || pg_catalog.pg_get_expr(p.polqual, p.polrelid) || ')', "
		"       ' WITH CHECK (' || pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid) || ')') "
		"  FROM pg_catalog.pg_policy p WHERE p.polrelid = $1::regclass "
		"UNION ALL "
		"SELECT pg_catalog.format('COMMENT ON TABLE %s IS %L', $2::text, d.description) "
		"  FROM pg_catalog.pg_description d "
		" WHERE d.objoid = $1::regclass AND d.classoid = 'pg_catalog.pg_class'::regclass AND d.objsubid = 0 "
		"UNION ALL "
		"SELECT pg_catalog.format('ALTER TABLE %s ALTER COLUMN %I SET STATISTICS %s', $2::text, a.attname, a.attstattarget) "
		"  FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_attribute b ON b.attrelid = $2::regclass "
		"       AND b.attname = a.attname AND NOT b.attisdropped "
		" WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped AND a.attstattarget >= 0 "
		"UNION ALL "
		"SELECT pg_catalog.format('ALTER TABLE %s ALTER COLUMN %I SET (%s)', $2::text, a.attname, "
		"       (SELECT pg_catalog.string_agg(pg_catalog.format('%I = %L', pg_catalog.split_part(o, '=', 1), "
		"               pg_catalog.substr(o, pg_catalog.strpos(o, '=') + 1)), ', ') FROM pg_catalog.unnest(a.attoptions) o)) "
		"  FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_attribute b ON b.attrelid = $2::regclass "
		"       AND b.attname = a.attname AND NOT b.attisdropped "
		" WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped AND a.attoptions IS NOT NULL "
		/* LIKE copies an identity sequence's MAXVALUE explicitly, so a
		 * type change by --alter (int to bigint) keeps the old type's
		 * limit, the one the rebuild was meant to lift; a plain ALTER
		 * TABLE raises a limit that was the old type's default */
		"UNION ALL "
		"SELECT pg_catalog.format('ALTER TABLE %s ALTER COLUMN %I SET MAXVALUE %s', $2::text, b.attname, "
		"       CASE ns.seqtypid WHEN 'pg_catalog.int2'::regtype THEN 32767 WHEN 'pg_catalog.int4'::regtype "
		"            THEN 2147483647 ELSE 9223372036854775807 END) "
		"  FROM pg_catalog.pg_attribute b "
		"  JOIN pg_catalog.pg_sequence ns "
		"    ON ns.seqrelid = pg_catalog.pg_get_serial_sequence($2::text, b.attname::text)::regclass "
		"  JOIN pg_catalog.pg_sequence os "
		"    ON os.seqrelid = pg_catalog.pg_get_serial_sequence($1::text, b.attname::text)::regclass "
		" WHERE b.attrelid = $2::regclass AND b.attnum > 0 AND NOT b.attisdropped AND b.attidentity <> '' "
		"   AND ns.seqtypid <> os.seqtypid AND os.seqincrement > 0 "
		"   AND os.seqmax = CASE os.seqtypid WHEN 'pg_catalog.int2'::regtype THEN 32767 "
		"                   WHEN 'pg_catalog.int4'::regtype THEN 2147483647 ELSE 9223372036854775807 END",
		2, params, err) != 0)
		goto done;

	/* the table's own triggers, disabled until the cut-over */
	res = pg_exec_params(rb->db,
		"SELECT t.tgname, pg_catalog.pg_get_triggerdef(t.oid) FROM pg_catalog.pg_trigger t "
		" WHERE t.tgrelid = $1::regclass AND NOT t.tgisinternal AND t.tgname NOT LIKE '\\_shunt\\_%' "
		" ORDER BY t.tgname",
		1, params, err);
	if (res == NULL)
		goto done;
	for (int r = 0; r < PQntuples(res); r++) {
		char *def = pg_parse_retarget(PQgetvalue(res, r, 1), true, PQgetvalue(res, r, 0), buf_str(&shadow), err);

		if (def == NULL || rb_exec(rb, def, err) != 0) {
			free(def);
			PQclear(res);
			goto done;
		}
		free(def);
		buf_reset(&sql);
		buf_printf(&sql, "ALTER TABLE %s DISABLE TRIGGER ", buf_str(&shadow));
		pg_put_ident(rb->db, &sql, PQgetvalue(res, r, 0));
		if (rb_exec(rb, buf_str(&sql), err) != 0) {
			PQclear(res);
			goto done;
		}
	}
	PQclear(res);

	/* the key index, which applying changes by key needs during the copy */
	json_array_foreach(json_object_get(rb->spec, "indexes"), i, ix)
		if (json_is_true(json_object_get(ix, "key")) && create_index(rb, ix, err) != 0)
			goto done;
	rc = 0;
done:
	buf_release(&live);
	buf_release(&shadow);
	buf_release(&sql);
	return rc;
}

int
rb_shadow_finish(rebuild *rb, shunt_error *err)
{
	json_t *ix;
	size_t i;
	const char *ri = json_string_value(json_object_get(rb->spec, "replica_index"));

	json_array_foreach(json_object_get(rb->spec, "indexes"), i, ix)
		if (!json_is_true(json_object_get(ix, "key")) && create_index(rb, ix, err) != 0)
			return -1;
	if (ri != NULL) {
		shunt_buf sql = SHUNT_BUF_INIT;
		int rc;

		buf_init(&sql);
		buf_put(&sql, "ALTER TABLE ");
		pg_put_qualified(rb->db, &sql, rb->schema, rb->rb_name);
		buf_put(&sql, " REPLICA IDENTITY USING INDEX ");
		pg_put_ident(rb->db, &sql, ri);
		rc = rb_exec(rb, buf_str(&sql), err);
		buf_release(&sql);
		if (rc != 0)
			return -1;
	}
	return 0;
}

/* The capture trigger's name; one per table, so a table being swapped in
 * and out carries at most one. */
#define CAPTURE_TRIGGER "_shunt_rb_capture"
#define TRUNCATE_TRIGGER "_shunt_rb_notruncate"

int
rb_capture_install(rebuild *rb, const rb_dir *d, shunt_error *err)
{
	shunt_buf sql = SHUNT_BUF_INIT, fn = SHUNT_BUF_INIT, keys_new = SHUNT_BUF_INIT, keys_old = SHUNT_BUF_INIT,
			  cols = SHUNT_BUF_INIT;
	json_t *key = json_object_get(rb->spec, "key");
	const char *tag = "$shunt_capture$";
	int rc = -1;

	buf_init(&sql);
	buf_init(&fn);
	buf_init(&keys_new);
	buf_init(&keys_old);
	buf_init(&cols);
	for (size_t i = 0; i < json_array_size(key); i++) {
		json_t *k = json_array_get(key, i);
		const char *name = json_string_value(json_object_get(k, "name"));

		buf_put(&cols, i ? ", " : "");
		pg_put_ident(rb->db, &cols, name);
		buf_put(&keys_new, i ? ", NEW." : "NEW.");
		pg_put_ident(rb->db, &keys_new, name);
		buf_put(&keys_old, i ? ", OLD." : "OLD.");
		pg_put_ident(rb->db, &keys_old, name);
	}
	if (strstr(buf_str(&cols), tag) != NULL) {
		shunt_error_set(err, SHUNT_E_INPUT, "a key column name contains %s", tag);
		goto done;
	}
	/* the log: changed keys, in the order the changes were made */
	buf_printf(&sql, "CREATE TABLE IF NOT EXISTS %s (_shunt_seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
			   buf_str(&d->log_q));
	for (size_t i = 0; i < json_array_size(key); i++) {
		json_t *k = json_array_get(key, i);

		buf_put(&sql, ", ");
		pg_put_ident(rb->db, &sql, json_string_value(json_object_get(k, "name")));
		buf_printf(&sql, " %s NOT NULL",
				   json_string_value(json_object_get(k, d->forward ? "src_type" : "dst_type")));
	}
	buf_putc(&sql, ')');
	if (rb_exec(rb, buf_str(&sql), err) != 0)
		goto done;
	/* a TRUNCATE would empty the table without a key to log: refused
	 * while the rebuild runs (and while the old table is kept in sync) */
	rb_state_object(rb, &fn, "notruncate");
	buf_reset(&sql);
	buf_printf(&sql,
		"CREATE OR REPLACE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql SET search_path = '' AS %s\nBEGIN\n"
		"\tRAISE EXCEPTION 'table %% is being rebuilt by shunt: TRUNCATE is refused until the rebuild ends', "
		"TG_TABLE_NAME USING HINT = 'Abort the rebuild (shunt rebuild TABLE --abort) or end it (--drop-old) first.';"
		"\nEND\n%s",
		buf_str(&fn), tag, tag);
	if (rb_exec(rb, buf_str(&sql), err) != 0)
		goto done;
	buf_reset(&sql);
	buf_printf(&sql, "CREATE TRIGGER %s BEFORE TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION %s()",
			   TRUNCATE_TRIGGER, buf_str(&d->from_q), buf_str(&fn));
	if (rb_exec(rb, buf_str(&sql), err) != 0)
		goto done;
	buf_reset(&fn);
	if (d->forward && strcmp(rb->capture, "trigger") != 0) {
		rc = 0; /* logical capture fills the log from the slot; the
				 * reverse sync after the cut-over is always the trigger */
		goto done;
	}
	/* SECURITY DEFINER: application roles write the table but need no
	 * privilege on the state schema */
	rb_state_object(rb, &fn, d->forward ? "capture" : "rcapture");
	buf_reset(&sql);
	buf_printf(&sql,
		"CREATE OR REPLACE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER "
		"SET search_path = '' AS %s\nBEGIN\n"
		"\tIF TG_OP <> 'DELETE' THEN\n\t\tINSERT INTO %s (%s) VALUES (%s);\n\tEND IF;\n"
		"\tIF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND (%s) IS DISTINCT FROM (%s)) THEN\n"
		"\t\tINSERT INTO %s (%s) VALUES (%s);\n\tEND IF;\n"
		"\tRETURN NULL;\nEND\n%s",
		buf_str(&fn), tag, buf_str(&d->log_q), buf_str(&cols), buf_str(&keys_new), buf_str(&keys_old),
		buf_str(&keys_new), buf_str(&d->log_q), buf_str(&cols), buf_str(&keys_old), tag);
	if (rb_exec(rb, buf_str(&sql), err) != 0)
		goto done;
	buf_reset(&sql);
	buf_printf(&sql, "CREATE TRIGGER %s AFTER INSERT OR UPDATE OR DELETE ON %s FOR EACH ROW EXECUTE FUNCTION %s()",
			   CAPTURE_TRIGGER, buf_str(&d->from_q), buf_str(&fn));
	/* the trigger must fire for replication-role sessions too (a logical
	 * replica applying into this table) */
	if (rb_exec(rb, buf_str(&sql), err) != 0)
		goto done;
	buf_reset(&sql);
	buf_printf(&sql, "ALTER TABLE %s ENABLE ALWAYS TRIGGER %s", buf_str(&d->from_q), CAPTURE_TRIGGER);
	rc = rb_exec(rb, buf_str(&sql), err);
done:
	buf_release(&sql);
	buf_release(&fn);
	buf_release(&keys_new);
	buf_release(&keys_old);
	buf_release(&cols);
	return rc;
}

int
rb_capture_remove(rebuild *rb, const char *table_name, shunt_error *err)
{
	shunt_buf sql = SHUNT_BUF_INIT, t = SHUNT_BUF_INIT;
	const char *params[1];
	char *exists;
	int rc = 0;

	buf_init(&sql);
	buf_init(&t);
	pg_put_qualified(rb->db, &t, rb->schema, table_name);
	params[0] = buf_str(&t);
	exists = pg_query_value(rb->db, "SELECT pg_catalog.to_regclass($1) IS NOT NULL", 1, params, err);
	if (exists != NULL && strcmp(exists, "t") == 0) {
		buf_printf(&sql, "DROP TRIGGER IF EXISTS %s ON %s; DROP TRIGGER IF EXISTS %s ON %s", CAPTURE_TRIGGER,
				   buf_str(&t), TRUNCATE_TRIGGER, buf_str(&t));
		rc = rb_exec(rb, buf_str(&sql), err);
	} else if (exists == NULL)
		rc = -1;
	free(exists);
	buf_release(&sql);
	buf_release(&t);
	return rc;
}
