/*
 * pg_rebuild_swap.c: the cut-over and the revert; see pg_rebuild_int.h.
 *
 * One transaction through the lock module (lock_timeout per attempt,
 * retries with backoff, blockers named): lock both tables, apply the last
 * captured changes, then move everything that names the table rather than
 * its OID (views, foreign keys of other tables, sequence ownership and
 * values, publications, trigger states, forced row security) and swap the
 * names of the tables and their indexes.  Everything is read from the
 * catalog inside the transaction, under the lock, so what is moved is
 * what exists at that moment.  Foreign keys are re-created NOT VALID (no
 * scan under the lock) and validated after the commit.
 *
 * The swap is symmetric: the revert is the same transaction with the roles
 * exchanged, so both directions are tested by the same code.
 */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "pg/pg_exec.h"
#include "pg/pg_lock.h"
#include "pg/pg_rebuild_int.h"

typedef struct swap_ctx {
	rebuild *rb;
	bool forward;
	rb_dir drain;          /* live -> standby: the changes still to apply */
	const char *live_name;     /* the name both have in turn */
	const char *standby_name;  /* the standby's name before the swap */
	const char *parked_name;   /* the live table's name after it */
	const char *live_ix;       /* spec key of the live indexes' parked names */
	const char *standby_ix;    /* spec key of the standby indexes' current names */
	shunt_buf live_q, standby_q, parked_q;
	int64_t locked_at_ms;
	json_t *validate;          /* ["ALTER TABLE .. VALIDATE CONSTRAINT .."] */
} swap_ctx;

static int
run(swap_ctx *s, const char *sql, shunt_error *err)
{
	return pg_exec_command(s->rb->db, sql, 0, NULL, err);
}

/* Rows of column 0 of a result, run in order. */
static int
run_rows(swap_ctx *s, PGresult *res, int col, shunt_error *err)
{
	for (int i = 0; i < PQntuples(res); i++)
		if (!PQgetisnull(res, i, col) && run(s, PQgetvalue(res, i, col), err) != 0)
			return -1;
	return 0;
}

/* The live table must still have the indexes and triggers the shadow was
 * built with: one created since would be lost by the swap. */
static int
check_unchanged(swap_ctx *s, shunt_error *err)
{
	rebuild *rb = s->rb;
	char *names = json_dumps(json_object_get(rb->spec, "indexes"), JSON_COMPACT);
	const char *params[3] = { buf_str(&s->live_q), names, buf_str(&s->standby_q) };
	PGresult *res;
	int rc = -1;

	res = pg_exec_params(rb->db,
		"SELECT (SELECT pg_catalog.string_agg(c.relname, ', ') FROM pg_catalog.pg_index i "
		"          JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = $1::regclass "
		"           AND c.relname NOT IN (SELECT e->>'name' FROM pg_catalog.jsonb_array_elements($2::jsonb) e)), "
		"       (SELECT pg_catalog.string_agg(t.tgname, ', ') FROM pg_catalog.pg_trigger t "
		"         WHERE t.tgrelid = $1::regclass AND NOT t.tgisinternal AND t.tgname NOT LIKE '\\_shunt\\_%' "
		"           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger u WHERE u.tgrelid = $3::regclass "
		"                            AND u.tgname = t.tgname))",
		3, params, err);
	free(names);
	if (res == NULL)
		return -1;
	if (!PQgetisnull(res, 0, 0) || !PQgetisnull(res, 0, 1)) {
		shunt_error_set(err, SHUNT_E_STATE, "%s changed since the rebuild started", buf_str(&s->live_q));
		shunt_error_detail(err, "New indexes: %s.  New triggers: %s.",
						   PQgetisnull(res, 0, 0) ? "none" : PQgetvalue(res, 0, 0),
						   PQgetisnull(res, 0, 1) ? "none" : PQgetvalue(res, 0, 1));
		shunt_error_hint(err, "Abort the rebuild (--abort) and start it again.");
		goto done;
	}
	rc = 0;
done:
	PQclear(res);
	return rc;
}

/* Renames the tables and their indexes. */
static int
rename_all(swap_ctx *s, shunt_error *err)
{
	rebuild *rb = s->rb;
	shunt_buf sql = SHUNT_BUF_INIT;
	json_t *ix;
	size_t i;
	int rc = -1;

	buf_init(&sql);
	for (int side = 0; side < 2; side++) {
		/* side 0: the live table's indexes and itself move aside; side 1:
		 * the standby's take their names */
		json_array_foreach(json_object_get(rb->spec, "indexes"), i, ix) {
			const char *from = json_string_value(json_object_get(ix, side == 0 ? "name" : s->standby_ix));
			const char *to = json_string_value(json_object_get(ix, side == 0 ? s->live_ix : "name"));

			buf_reset(&sql);
			buf_put(&sql, "ALTER INDEX ");
			pg_put_qualified(rb->db, &sql, rb->schema, from);
			buf_put(&sql, " RENAME TO ");
			pg_put_ident(rb->db, &sql, to);
			if (run(s, buf_str(&sql), err) != 0)
				goto done;
		}
		buf_reset(&sql);
		buf_printf(&sql, "ALTER TABLE %s RENAME TO ", buf_str(side == 0 ? &s->live_q : &s->standby_q));
		pg_put_ident(rb->db, &sql, side == 0 ? s->parked_name : s->live_name);
		if (run(s, buf_str(&sql), err) != 0)
			goto done;
	}
	rc = 0;
done:
	buf_release(&sql);
	return rc;
}

static int
swap_body(shunt_db *db, void *arg, shunt_error *err)
{
	swap_ctx *s = arg;
	rebuild *rb = s->rb;
	const char *params[3] = { buf_str(&s->live_q), buf_str(&s->standby_q), NULL };
	PGresult *views = NULL, *fks = NULL, *pubs = NULL, *trig = NULL, *res;
	long long applied;
	int rc = -1;

	(void) db;
	s->locked_at_ms = rb_now_ms();
	json_array_clear(s->validate);
	/* every change made before the lock: from the slot (logical capture)
	 * up to a marker written now, then the whole log */
	if (rb_capture_sync(rb, &s->drain, RB_LOCKED_SYNC_MS, err) != 0)
		return -1;
	if (rb_apply(&s->drain, 0, &applied, err) != 0)
		return -1;
	if (applied > 0)
		log_debug("rebuild: applied %lld last changes under the lock", applied);
	if (check_unchanged(s, err) != 0)
		return -1;

	/* what follows the table by name, read before anything moves; views
	 * in dependency order (a view on a view comes later) */
	views = pg_exec_params(rb->db,
		"WITH RECURSIVE dep(oid, depth) AS ("
		"  SELECT r.ev_class, 1 FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_rewrite r ON r.oid = d.objid "
		"   WHERE d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.refclassid = 'pg_catalog.pg_class'::regclass "
		"     AND d.refobjid = $1::regclass AND r.ev_class <> $1::regclass "
		"  UNION "
		"  SELECT r.ev_class, dep.depth + 1 FROM dep JOIN pg_catalog.pg_depend d ON d.refobjid = dep.oid "
		"       AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.classid = 'pg_catalog.pg_rewrite'::regclass "
		"    JOIN pg_catalog.pg_rewrite r ON r.oid = d.objid "
		"   WHERE r.ev_class <> dep.oid AND dep.depth < 50), "
		"v AS (SELECT oid, max(depth) AS depth FROM dep GROUP BY oid) "
		"SELECT pg_catalog.format('DROP VIEW %s', c.oid::regclass), "
		"       pg_catalog.format('CREATE VIEW %s%s AS %s', c.oid::regclass, "
		"              ' WITH (' || pg_catalog.array_to_string(c.reloptions, ', ') || ')', "
		"              pg_catalog.rtrim(pg_catalog.pg_get_viewdef(c.oid), ';')) "
		"       || pg_catalog.format('; ALTER VIEW %s OWNER TO %I', c.oid::regclass, "
		"              pg_catalog.pg_get_userbyid(c.relowner)) "
		"       || coalesce((SELECT pg_catalog.string_agg(pg_catalog.format('; GRANT %s ON %s TO %s%s', "
		"              a.privilege_type, c.oid::regclass, CASE WHEN a.grantee = 0 THEN 'PUBLIC' "
		"              ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END, "
		"              CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END), '') "
		"            FROM pg_catalog.aclexplode(c.relacl) a WHERE a.grantee <> c.relowner), '') "
		"       || coalesce((SELECT pg_catalog.string_agg(CASE WHEN d.objsubid = 0 "
		"              THEN pg_catalog.format('; COMMENT ON VIEW %s IS %L', c.oid::regclass, d.description) "
		"              ELSE pg_catalog.format('; COMMENT ON COLUMN %s.%I IS %L', c.oid::regclass, "
		"                   (SELECT attname FROM pg_catalog.pg_attribute WHERE attrelid = c.oid AND attnum = d.objsubid), "
		"                   d.description) END, '') "
		"            FROM pg_catalog.pg_description d WHERE d.objoid = c.oid "
		"             AND d.classoid = 'pg_catalog.pg_class'::regclass), '') "
		"       || coalesce((SELECT pg_catalog.string_agg('; ' || pg_catalog.pg_get_triggerdef(t.oid), '') "
		"            FROM pg_catalog.pg_trigger t WHERE t.tgrelid = c.oid AND NOT t.tgisinternal), ''), "
		"       v.depth "
		"  FROM v JOIN pg_catalog.pg_class c ON c.oid = v.oid ORDER BY v.depth, c.oid",
		1, params, err);
	if (views == NULL)
		goto done;
	/* foreign keys of other tables that reference the live one, and the
	 * live table's own that the standby lacks; column 2: validate after */
	fks = pg_exec_params(rb->db,
		"SELECT pg_catalog.format('ALTER TABLE %s DROP CONSTRAINT %I', c.conrelid::regclass, c.conname), "
		"       pg_catalog.format('ALTER TABLE %s ADD CONSTRAINT %I %s%s', c.conrelid::regclass, c.conname, "
		"              pg_catalog.pg_get_constraintdef(c.oid), CASE WHEN c.convalidated THEN ' NOT VALID' ELSE '' END), "
		"       CASE WHEN c.convalidated THEN pg_catalog.format('ALTER TABLE %s VALIDATE CONSTRAINT %I', "
		"              c.conrelid::regclass, c.conname) END "
		"  FROM pg_catalog.pg_constraint c "
		" WHERE c.contype = 'f' AND c.confrelid = $1::regclass AND c.conrelid <> $1::regclass "
		"UNION ALL "
		"SELECT NULL, pg_catalog.format('ALTER TABLE %s ADD CONSTRAINT %I %s%s', $3::text, c.conname, "
		"              pg_catalog.pg_get_constraintdef(c.oid), CASE WHEN c.convalidated THEN ' NOT VALID' ELSE '' END), "
		"       CASE WHEN c.convalidated THEN pg_catalog.format('ALTER TABLE %s VALIDATE CONSTRAINT %I', "
		"              $3::text, c.conname) END "
		"  FROM pg_catalog.pg_constraint c "
		" WHERE c.contype = 'f' AND c.conrelid = $1::regclass "
		"   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint o WHERE o.conrelid = $2::regclass "
		"                    AND o.conname = c.conname)",
		3, (const char *const[]){ buf_str(&s->live_q), buf_str(&s->standby_q), buf_str(&s->live_q) }, err);
	if (fks == NULL)
		goto done;
	pubs = pg_exec_params(rb->db,
		"SELECT p.pubname FROM pg_catalog.pg_publication_rel r JOIN pg_catalog.pg_publication p ON p.oid = r.prpubid "
		" WHERE r.prrelid = $1::regclass AND p.pubname NOT LIKE '\\_shunt\\_%' ORDER BY 1",
		1, params, err);
	if (pubs == NULL)
		goto done;
	trig = pg_exec_params(rb->db,
		"SELECT t.tgname, t.tgenabled FROM pg_catalog.pg_trigger t "
		" WHERE t.tgrelid = $1::regclass AND NOT t.tgisinternal AND t.tgname NOT LIKE '\\_shunt\\_%'",
		1, params, err);
	if (trig == NULL)
		goto done;

	/* views go first (they hold the table by OID), then the foreign keys
	 * that point at it */
	for (int i = PQntuples(views) - 1; i >= 0; i--)
		if (run(s, PQgetvalue(views, i, 0), err) != 0)
			goto done;
	if (run_rows(s, fks, 0, err) != 0)
		goto done;
	/* sequences: a serial's sequence follows to the standby (it would be
	 * dropped with the old table otherwise); an identity column's own
	 * sequence continues where the live one stands */
	res = pg_exec_params(rb->db,
		"SELECT pg_catalog.format('ALTER SEQUENCE %s OWNED BY %s.%I', s.oid::regclass, $2::text, a.attname) "
		"  FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_class s ON s.oid = d.objid AND s.relkind = 'S' "
		"  JOIN pg_catalog.pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid "
		" WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.refclassid = 'pg_catalog.pg_class'::regclass "
		"   AND d.refobjid = $1::regclass AND d.deptype = 'a' "
		"   AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute b WHERE b.attrelid = $2::regclass "
		"               AND b.attname = a.attname AND NOT b.attisdropped)",
		2, params, err);
	if (res == NULL || run_rows(s, res, 0, err) != 0) {
		PQclear(res);
		goto done;
	}
	PQclear(res);
	res = pg_exec_params(rb->db,
		"SELECT pg_catalog.setval(pg_catalog.pg_get_serial_sequence($2::text, b.attname::text), "
		"       pg_catalog.nextval(pg_catalog.pg_get_serial_sequence($1::text, a.attname::text)), false) "
		"  FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_attribute b ON b.attrelid = $2::regclass "
		"       AND b.attname = a.attname AND NOT b.attisdropped AND b.attidentity <> '' "
		" WHERE a.attrelid = $1::regclass AND a.attidentity <> '' AND NOT a.attisdropped",
		2, params, err);
	if (res == NULL)
		goto done;
	PQclear(res);

	if (rename_all(s, err) != 0)
		goto done;

	/* after the renames live_q names the new live table */
	{
		shunt_buf sql = SHUNT_BUF_INIT;
		rb_dir back;

		buf_init(&sql);
		for (int i = 0; i < PQntuples(trig); i++) {
			const char *state = PQgetvalue(trig, i, 1);

			buf_reset(&sql);
			buf_printf(&sql, "ALTER TABLE %s %s TRIGGER ", buf_str(&s->live_q),
					   state[0] == 'D' ? "DISABLE" : state[0] == 'R' ? "ENABLE REPLICA"
												  : state[0] == 'A' ? "ENABLE ALWAYS" : "ENABLE");
			pg_put_ident(rb->db, &sql, PQgetvalue(trig, i, 0));
			buf_printf(&sql, "; ALTER TABLE %s DISABLE TRIGGER ", buf_str(&s->parked_q));
			pg_put_ident(rb->db, &sql, PQgetvalue(trig, i, 0));
			if (run(s, buf_str(&sql), err) != 0) {
				buf_release(&sql);
				goto done;
			}
		}
		buf_reset(&sql);
		if (json_is_true(json_object_get(rb->spec, "force_rls")))
			buf_printf(&sql, "ALTER TABLE %s FORCE ROW LEVEL SECURITY; ALTER TABLE %s NO FORCE ROW LEVEL SECURITY",
					   buf_str(&s->live_q), buf_str(&s->parked_q));
		if (sql.len && run(s, buf_str(&sql), err) != 0) {
			buf_release(&sql);
			goto done;
		}
		for (int i = 0; i < PQntuples(pubs); i++) {
			buf_reset(&sql);
			buf_put(&sql, "ALTER PUBLICATION ");
			pg_put_ident(rb->db, &sql, PQgetvalue(pubs, i, 0));
			buf_printf(&sql, " ADD TABLE %s; ALTER PUBLICATION ", buf_str(&s->live_q));
			pg_put_ident(rb->db, &sql, PQgetvalue(pubs, i, 0));
			buf_printf(&sql, " DROP TABLE %s", buf_str(&s->parked_q));
			if (run(s, buf_str(&sql), err) != 0) {
				buf_release(&sql);
				goto done;
			}
		}
		buf_release(&sql);
		/* capture: the table now parked stops recording; after a cut-over
		 * the new live one records for the reverse direction, so that the
		 * old table can be swapped back with every write made since */
		if (rb_capture_remove(rb, s->parked_name, err) != 0)
			goto done;
		if (s->forward) {
			rb_dir_init(&back, rb, false, rb->table, rb->old_name);
			rc = rb_capture_install(rb, &back, err);
			rb_dir_release(&back);
			if (rc != 0)
				goto done;
			rc = -1;
		}
	}
	for (int i = 0; i < PQntuples(views); i++)
		if (run(s, PQgetvalue(views, i, 1), err) != 0) {
			shunt_error_add_context(err, "while re-creating a view that depends on %s", buf_str(&s->live_q));
			goto done;
		}
	if (run_rows(s, fks, 1, err) != 0)
		goto done;
	for (int i = 0; i < PQntuples(fks); i++)
		if (!PQgetisnull(fks, i, 2))
			json_array_append_new(s->validate, json_string(PQgetvalue(fks, i, 2)));
	rc = 0;
done:
	PQclear(views);
	PQclear(fks);
	PQclear(pubs);
	PQclear(trig);
	return rc;
}

int
rb_swap(rebuild *rb, bool forward, double *lock_ms, shunt_error *err)
{
	swap_ctx s;
	pg_lock_txn t;
	shunt_buf lock = SHUNT_BUF_INIT, cp = SHUNT_BUF_INIT;
	const char *sql[1];
	const char *rels[2];
	const char *cp_params[2] = { rb->id_text, forward ? "cutover" : "reverted" };
	json_t *v;
	size_t i;
	int rc;

	memset(&s, 0, sizeof(s));
	s.rb = rb;
	s.forward = forward;
	s.live_name = rb->table;
	s.standby_name = forward ? rb->rb_name : rb->old_name;
	s.parked_name = forward ? rb->old_name : rb->rb_name;
	s.live_ix = forward ? "old" : "rb";
	s.standby_ix = forward ? "rb" : "old";
	s.validate = json_array();
	buf_init(&s.live_q);
	buf_init(&s.standby_q);
	buf_init(&s.parked_q);
	pg_put_qualified(rb->db, &s.live_q, rb->schema, s.live_name);
	pg_put_qualified(rb->db, &s.standby_q, rb->schema, s.standby_name);
	pg_put_qualified(rb->db, &s.parked_q, rb->schema, s.parked_name);
	rb_dir_init(&s.drain, rb, forward, s.live_name, s.standby_name);
	buf_init(&lock);
	buf_printf(&lock, "LOCK TABLE %s, %s IN ACCESS EXCLUSIVE MODE", buf_str(&s.live_q), buf_str(&s.standby_q));
	sql[0] = buf_str(&lock);
	rels[0] = buf_str(&s.live_q);
	rels[1] = buf_str(&s.standby_q);
	buf_init(&cp);
	buf_printf(&cp, "UPDATE %s.rebuilds SET status = $2, updated_at = pg_catalog.now(), "
					"cutover_at = CASE WHEN $2 = 'cutover' THEN pg_catalog.now() ELSE cutover_at END "
					"WHERE id = $1::bigint", rb->db->state_q);
	memset(&t, 0, sizeof(t));
	t.what = forward ? "the cut-over" : "the revert";
	t.sql = sql;
	t.n_sql = 1;
	t.relations = rels;
	t.n_relations = 2;
	t.body = swap_body;
	t.body_arg = &s;
	t.checkpoint_sql = buf_str(&cp);
	t.n_checkpoint_params = 2;
	t.checkpoint_params = cp_params;
	rc = pg_lock_run(rb->db, &t, err);
	*lock_ms = rc == 0 ? (double) (rb_now_ms() - s.locked_at_ms) : 0;
	if (rc == 0) {
		/* foreign keys were re-created NOT VALID: validating scans, but
		 * takes only a SHARE UPDATE EXCLUSIVE lock */
		json_array_foreach(s.validate, i, v) {
			shunt_error verr;

			if (pg_lock_run_concurrent(rb->db, "validating a foreign key", json_string_value(v), NULL, &verr) != 0)
				log_warning("rebuild: %s failed: %s; the constraint stays NOT VALID (still enforced for new "
							"rows); validate it later", json_string_value(v), verr.message);
		}
	}
	json_decref(s.validate);
	rb_dir_release(&s.drain);
	buf_release(&s.live_q);
	buf_release(&s.standby_q);
	buf_release(&s.parked_q);
	buf_release(&lock);
	buf_release(&cp);
	return rc;
}
