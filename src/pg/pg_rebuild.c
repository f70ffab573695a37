/*
 * pg_rebuild.c: the steps of an online rebuild and its state; see
 * pg_rebuild.h.
 *
 *   start     one transaction: state row, shadow, key index, capture
 *             (the capture trigger's lock is the last thing taken, so
 *             application writes wait for it only until the commit)
 *   copying   heap blocks that existed at start, in batches, with captured
 *             changes applied in between
 *   copied    other indexes built, ANALYZE, verified; ready to swap
 *   cutover   swapped; the old table is kept in sync in reverse
 *   reverted  swapped back; the rebuilt table is kept, no longer in sync
 *   done / aborted
 *
 * A rebuild holds the same advisory lock as a migration of its schema, so
 * two shunt processes never work on one schema at once.
 */
#include "pg/pg_rebuild.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/fault.h"
#include "core/hooks.h"
#include "core/interrupt.h"
#include "core/log.h"
#include "core/model.h"
#include "pg/pg_exec.h"
#include "pg/pg_lock.h"
#include "pg/pg_logical.h"
#include "pg/pg_rebuild_int.h"
#include "pg/pg_state.h"

int64_t
rb_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

size_t
rb_nkey(const rebuild *rb)
{
	return json_array_size(json_object_get(rb->spec, "key"));
}

const char *
rb_key_name(const rebuild *rb, size_t i)
{
	return json_string_value(json_object_get(json_array_get(json_object_get(rb->spec, "key"), i), "name"));
}

void
rb_state_object(const rebuild *rb, shunt_buf *b, const char *what)
{
	char name[64];

	snprintf(name, sizeof(name), "_shunt_rb_%lld_%s", rb->id, what);
	pg_put_qualified(rb->db, b, rb->db->state_schema, name);
}

void
rb_dir_init(rb_dir *d, rebuild *rb, bool forward, const char *from_name, const char *to_name)
{
	d->rb = rb;
	d->forward = forward;
	d->record_hash = false;
	buf_init(&d->from_q);
	buf_init(&d->to_q);
	buf_init(&d->log_q);
	pg_put_qualified(rb->db, &d->from_q, rb->schema, from_name);
	pg_put_qualified(rb->db, &d->to_q, rb->schema, to_name);
	rb_state_object(rb, &d->log_q, forward ? "log" : "rlog");
}

void
rb_dir_release(rb_dir *d)
{
	buf_release(&d->from_q);
	buf_release(&d->to_q);
	buf_release(&d->log_q);
}

int
rb_exec(rebuild *rb, const char *sql, shunt_error *err)
{
	if (rb->o->dry_run) {
		printf("%s;\n", sql);
		return 0;
	}
	return pg_exec_command(rb->db, sql, 0, NULL, err);
}

static void
rebuild_release(rebuild *rb)
{
	if (rb->logical != NULL)
		pg_logical_close(rb->logical, rb->db);
	if (rb->marker_db != NULL)
		pg_conn_free(rb->marker_db);
	free(rb->status);
	free(rb->schema);
	free(rb->table);
	free(rb->rb_name);
	free(rb->old_name);
	free(rb->capture);
	json_decref(rb->spec);
	memset(rb, 0, sizeof(*rb));
}

static void
rebuild_init(rebuild *rb, shunt_db *db, const pg_rebuild_opts *o)
{
	memset(rb, 0, sizeof(*rb));
	rb->db = db;
	rb->o = o;
	rb->schema = shunt_xstrdup(o->schema);
	rb->table = shunt_xstrdup(o->table);
	rb->rb_name = model_generated_name("_shunt_rb_", o->table);
	rb->old_name = model_generated_name("_shunt_old_", o->table);
	rb->capture = shunt_xstrdup("trigger");
	rb->spec = json_object();
	rb->started_ms = rb->last_report_ms = rb_now_ms();
}

static void
set_id(rebuild *rb, long long id)
{
	rb->id = id;
	snprintf(rb->id_text, sizeof(rb->id_text), "%lld", id);
}

/* Loads the open rebuild of the table; *found false if there is none. */
static int
load(rebuild *rb, bool *found, shunt_error *err)
{
	shunt_buf sql = SHUNT_BUF_INIT;
	const char *params[2] = { rb->schema, rb->table };
	PGresult *res;

	*found = false;
	buf_init(&sql);
	buf_printf(&sql,
		"SELECT id, status, shadow_name, old_name, capture, spec::text, copy_done, copy_next_block, "
		"       coalesce(copy_end_block, 0), rows_done, alter_sql FROM %s.rebuilds "
		" WHERE table_schema = $1 AND table_name = $2 AND status IN ('copying','copied','cutover','reverted')",
		rb->db->state_q);
	res = pg_exec_params(rb->db, buf_str(&sql), 2, params, err);
	buf_release(&sql);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 1) {
		*found = true;
		set_id(rb, atoll(PQgetvalue(res, 0, 0)));
		free(rb->status);
		rb->status = shunt_xstrdup(PQgetvalue(res, 0, 1));
		free(rb->rb_name);
		rb->rb_name = shunt_xstrdup(PQgetvalue(res, 0, 2));
		free(rb->old_name);
		rb->old_name = shunt_xstrdup(PQgetvalue(res, 0, 3));
		free(rb->capture);
		rb->capture = shunt_xstrdup(PQgetvalue(res, 0, 4));
		json_decref(rb->spec);
		rb->spec = json_loads(PQgetvalue(res, 0, 5), 0, NULL);
		if (rb->spec == NULL)
			rb->spec = json_object();
		rb->copy_done = PQgetvalue(res, 0, 6)[0] == 't';
		rb->next_block = atoll(PQgetvalue(res, 0, 7));
		rb->end_block = atoll(PQgetvalue(res, 0, 8));
		rb->rows_done = atoll(PQgetvalue(res, 0, 9));
		if (rb->o->alter != NULL &&
			(PQgetisnull(res, 0, 10) || strcmp(PQgetvalue(res, 0, 10), rb->o->alter) != 0)) {
			shunt_error_set(err, SHUNT_E_STATE, "a rebuild of %s.%s with a different --alter is open", rb->schema,
							rb->table);
			shunt_error_detail(err, "Its --alter: %s.",
							   PQgetisnull(res, 0, 10) ? "(none)" : PQgetvalue(res, 0, 10));
			shunt_error_hint(err, "Run it without --alter to continue it, or end it with --abort.");
			PQclear(res);
			return -1;
		}
	}
	PQclear(res);
	return 0;
}

static int
set_status(rebuild *rb, const char *status, shunt_error *err)
{
	shunt_buf sql = SHUNT_BUF_INIT;
	const char *params[2] = { rb->id_text, status };
	int rc;

	buf_init(&sql);
	buf_printf(&sql, "UPDATE %s.rebuilds SET status = $2, updated_at = pg_catalog.now(), "
					 "copy_done = copy_done OR $2 <> 'copying', "
					 "finished_at = CASE WHEN $2 IN ('done', 'aborted') THEN pg_catalog.now() END "
					 "WHERE id = $1::bigint",
			   rb->db->state_q);
	rc = pg_exec_command(rb->db, buf_str(&sql), 2, params, err);
	buf_release(&sql);
	if (rc == 0) {
		free(rb->status);
		rb->status = shunt_xstrdup(status);
	}
	return rc;
}

char *
rb_slot_name(rebuild *rb)
{
	char *oid = pg_query_value(rb->db, "SELECT oid FROM pg_catalog.pg_database WHERE datname = "
									   "pg_catalog.current_database()", 0, NULL, NULL);
	char buf[64];

	snprintf(buf, sizeof(buf), "shunt_rb_%s_%lld", oid ? oid : "0", rb->id);
	free(oid);
	return shunt_xstrdup(buf);
}

static char *
publication_name(rebuild *rb)
{
	char prefix[48];

	snprintf(prefix, sizeof(prefix), "_shunt_rb_%lld_", rb->id);
	return model_generated_name(prefix, rb->db->state_schema);
}

/* Opens the slot and publication of logical capture. */
static int
open_logical(rebuild *rb, shunt_error *err)
{
	size_t n = rb_nkey(rb);
	const char **keys = shunt_xcalloc(n, sizeof(char *));
	char *slot = rb_slot_name(rb), *pub = publication_name(rb);
	int rc;

	for (size_t i = 0; i < n; i++)
		keys[i] = rb_key_name(rb, i);
	rc = pg_logical_cleanup(rb->db, slot, pub, err);
	if (rc == 0)
		rc = pg_logical_open(rb->db, rb->schema, rb->table, keys, n, slot, pub, &rb->logical, err);
	free(keys);
	free(slot);
	free(pub);
	return rc;
}

static int
drop_logical(rebuild *rb, shunt_error *err)
{
	char *slot, *pub;
	int rc;

	if (rb->logical != NULL) {
		pg_logical_close(rb->logical, rb->db);
		rb->logical = NULL;
	}
	if (strcmp(rb->capture, "logical") != 0)
		return 0;
	slot = rb_slot_name(rb);
	pub = publication_name(rb);
	rc = pg_logical_cleanup(rb->db, slot, pub, err);
	free(slot);
	free(pub);
	return rc;
}

/* Chooses trigger or logical capture (--capture). */
static int
choose_capture(rebuild *rb, shunt_error *err)
{
	size_t n = rb_nkey(rb);
	const char **keys;
	shunt_error why;
	int rc;

	free(rb->capture);
	rb->capture = shunt_xstrdup("trigger");
	if (rb->o->capture == REBUILD_CAPTURE_TRIGGER)
		return 0;
	keys = shunt_xcalloc(n, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		keys[i] = rb_key_name(rb, i);
	shunt_error_clear(&why);
	rc = pg_logical_check(rb->db, rb->schema, rb->table, keys, n, &why);
	free(keys);
	if (rc == 0) {
		free(rb->capture);
		rb->capture = shunt_xstrdup("logical");
		return 0;
	}
	if (rb->o->capture == REBUILD_CAPTURE_LOGICAL) {
		*err = why;
		shunt_error_add_context(err, "--capture=logical");
		return -1;
	}
	log_info("rebuild: capturing changes with a trigger: logical capture is not available (%s)", why.message);
	return 0;
}

typedef struct create_ctx {
	rebuild *rb;
} create_ctx;

/* The start transaction's body; see the file comment. */
static int
create_body(shunt_db *db, void *arg, shunt_error *err)
{
	create_ctx *c = arg;
	rebuild *rb = c->rb;
	shunt_buf sql = SHUNT_BUF_INIT, live = SHUNT_BUF_INIT;
	const char *params[8];
	char *spec = NULL, *v;
	rb_dir d;
	int rc = -1;

	buf_init(&sql);
	buf_init(&live);
	pg_put_qualified(db, &live, rb->schema, rb->table);
	buf_printf(&sql,
		"INSERT INTO %s.rebuilds (id, table_schema, table_name, shadow_name, old_name, alter_sql, capture, status, "
		"  size_before) VALUES ($8::bigint, $1, $2, $3, $4, $5, $6, 'copying', "
		"  pg_catalog.pg_total_relation_size($7::regclass)) RETURNING id",
		db->state_q);
	params[0] = rb->schema;
	params[1] = rb->table;
	params[2] = rb->rb_name;
	params[3] = rb->old_name;
	params[4] = rb->o->alter;
	params[5] = rb->capture;
	params[6] = buf_str(&live);
	params[7] = rb->id_text;
	v = pg_query_value(db, buf_str(&sql), 8, params, err);
	if (v == NULL)
		goto done;
	set_id(rb, atoll(v));
	free(v);
	if (rb_shadow_create(rb, err) != 0)
		goto done;
	rb_dir_init(&d, rb, true, rb->table, rb->rb_name);
	rc = rb_capture_install(rb, &d, err);
	rb_dir_release(&d);
	if (rc != 0)
		goto done;
	rc = -1;
	/* the copy's end: every row that exists now lies below it, and every
	 * write from here on is captured (the trigger's lock is held until
	 * the commit; a slot was opened before) */
	spec = json_dumps(rb->spec, JSON_COMPACT);
	buf_reset(&sql);
	buf_printf(&sql,
		"UPDATE %s.rebuilds SET spec = $2::jsonb, "
		"  copy_end_block = pg_catalog.pg_relation_size($3::regclass) / pg_catalog.current_setting('block_size')::bigint, "
		"  rows_total = (SELECT GREATEST(reltuples, 0)::bigint FROM pg_catalog.pg_class WHERE oid = $3::regclass) "
		"WHERE id = $1::bigint RETURNING copy_end_block",
		db->state_q);
	params[0] = rb->id_text;
	params[1] = spec;
	params[2] = buf_str(&live);
	v = pg_query_value(db, buf_str(&sql), 3, params, err);
	if (v == NULL)
		goto done;
	rb->end_block = atoll(v);
	rb->next_block = 0;
	free(v);
	rc = 0;
done:
	free(spec);
	buf_release(&sql);
	buf_release(&live);
	return rc;
}

static int
start_new(rebuild *rb, shunt_error *err)
{
	pg_lock_txn t;
	create_ctx c = { rb };
	shunt_buf live = SHUNT_BUF_INIT;
	const char *rels[1];
	int rc;

	if (rb_shadow_spec(rb, err) != 0 || choose_capture(rb, err) != 0)
		return -1;
	if (rb->o->dry_run) {
		rb_dir d;

		printf("-- rebuild of %s.%s: the start transaction (the state row aside)\n", rb->schema, rb->table);
		fflush(stdout);
		rb->id = 0;
		rc = rb_shadow_create(rb, err);
		rb_dir_init(&d, rb, true, rb->table, rb->rb_name);
		if (rc == 0)
			rc = rb_capture_install(rb, &d, err);
		rb_dir_release(&d);
		if (rc == 0)
			printf("-- then: copy in block ranges, build the other indexes, ANALYZE, verify, cut over "
				   "(LOCK TABLE ... IN ACCESS EXCLUSIVE MODE, apply the last changes, swap names)\n");
		return rc;
	}
	buf_init(&live);
	pg_put_qualified(rb->db, &live, rb->schema, rb->table);
	rels[0] = buf_str(&live);
	memset(&t, 0, sizeof(t));
	t.what = "the rebuild's start";
	t.relations = rels;
	t.n_relations = 1;
	t.body = create_body;
	t.body_arg = &c;
	{
		/* the id first: it names the log, and the slot, which logical
		 * capture opens before the start so that its changes begin
		 * before the copy's end is fixed */
		shunt_buf seq = SHUNT_BUF_INIT;
		const char *params[1];
		char *v;

		buf_init(&seq);
		buf_printf(&seq, "%s.rebuilds", rb->db->state_q);
		params[0] = buf_str(&seq);
		v = pg_query_value(rb->db, "SELECT pg_catalog.nextval(pg_catalog.pg_get_serial_sequence($1, 'id'))", 1,
						   params, err);
		buf_release(&seq);
		if (v == NULL) {
			buf_release(&live);
			return -1;
		}
		set_id(rb, atoll(v));
		free(v);
		if (strcmp(rb->capture, "logical") == 0 && open_logical(rb, err) != 0) {
			buf_release(&live);
			return -1;
		}
	}
	rc = pg_lock_run(rb->db, &t, err);
	buf_release(&live);
	if (rc != 0) {
		drop_logical(rb, &(shunt_error){ 0 });
		return -1;
	}
	free(rb->status);
	rb->status = shunt_xstrdup("copying");
	log_info("rebuild %s.%s: shadow %s created, capturing changes with %s", rb->schema, rb->table, rb->rb_name,
			 strcmp(rb->capture, "logical") == 0 ? "a logical replication slot" : "a trigger");
	return 0;
}

/* Restarts the copy of a logical-capture rebuild whose slot went away with
 * the process that held it: the changes made in between are unknown. */
static int
restart_logical(rebuild *rb, shunt_error *err)
{
	shunt_buf sql = SHUNT_BUF_INIT, shadow = SHUNT_BUF_INIT, log = SHUNT_BUF_INIT, live = SHUNT_BUF_INIT;
	const char *params[2];
	char *v;
	int rc = -1;

	log_info("rebuild: the replication slot of the interrupted run is gone with it; copying again");
	if (open_logical(rb, err) != 0)
		return -1;
	buf_init(&sql);
	buf_init(&shadow);
	buf_init(&log);
	buf_init(&live);
	pg_put_qualified(rb->db, &shadow, rb->schema, rb->rb_name);
	pg_put_qualified(rb->db, &live, rb->schema, rb->table);
	rb_state_object(rb, &log, "log");
	buf_printf(&sql, "TRUNCATE %s, %s", buf_str(&shadow), buf_str(&log));
	if (pg_exec_command(rb->db, buf_str(&sql), 0, NULL, err) != 0)
		goto done;
	buf_reset(&sql);
	buf_printf(&sql,
		"UPDATE %s.rebuilds SET status = 'copying', copy_done = false, copy_next_block = 0, rows_done = 0, "
		"  copy_end_block = pg_catalog.pg_relation_size($2::regclass) / pg_catalog.current_setting('block_size')::bigint "
		"WHERE id = $1::bigint RETURNING copy_end_block",
		rb->db->state_q);
	params[0] = rb->id_text;
	params[1] = buf_str(&live);
	v = pg_query_value(rb->db, buf_str(&sql), 2, params, err);
	if (v == NULL)
		goto done;
	rb->end_block = atoll(v);
	rb->next_block = 0;
	rb->rows_done = 0;
	rb->copy_done = false;
	free(v);
	free(rb->status);
	rb->status = shunt_xstrdup("copying");
	rc = 0;
done:
	buf_release(&sql);
	buf_release(&shadow);
	buf_release(&log);
	buf_release(&live);
	return rc;
}

static int
analyze_shadow(rebuild *rb, shunt_error *err)
{
	shunt_buf sql = SHUNT_BUF_INIT;
	int rc;

	buf_init(&sql);
	buf_put(&sql, "ANALYZE ");
	pg_put_qualified(rb->db, &sql, rb->schema, rb->rb_name);
	rc = pg_exec_command(rb->db, buf_str(&sql), 0, NULL, err);
	buf_release(&sql);
	return rc;
}

/* Copy, indexes, statistics, verification: from copying to copied. */
static int
prepare(rebuild *rb, shunt_error *err)
{
	rb_dir d;
	int rc = -1;

	rb_dir_init(&d, rb, true, rb->table, rb->rb_name);
	if (strcmp(rb->status, "copying") == 0) {
		if (rb->next_block > 0)
			log_info("rebuild: resuming the copy at block %lld of %lld (%lld rows done)", rb->next_block,
					 rb->end_block, rb->rows_done);
		if (rb_copy(&d, err) != 0)
			goto done;
		fault_point("rebuild:after-copy");
		if (rb_shadow_finish(rb, err) != 0)
			goto done;
		if (rb_drain(&d, 1000, err) != 0 || analyze_shadow(rb, err) != 0)
			goto done;
		if (!rb->o->no_verify && rb_verify(&d, err) != 0)
			goto done;
		if (set_status(rb, "copied", err) != 0)
			goto done;
	}
	rc = 0;
done:
	rb_dir_release(&d);
	return rc;
}

/* Waits while an anti-wraparound autovacuum works on the table: it does
 * not give way to a lock request, so the cut-over could only time out. */
static int
wait_wraparound_vacuum(rebuild *rb, shunt_error *err)
{
	shunt_buf live = SHUNT_BUF_INIT;
	const char *params[1];
	bool said = false;
	int rc = 0;

	buf_init(&live);
	pg_put_qualified(rb->db, &live, rb->schema, rb->table);
	params[0] = buf_str(&live);
	for (;;) {
		char *v = pg_query_value(rb->db,
			"SELECT pg_catalog.count(*) FROM pg_catalog.pg_stat_progress_vacuum p "
			"  JOIN pg_catalog.pg_stat_activity a ON a.pid = p.pid "
			" WHERE p.relid = $1::regclass AND a.query LIKE '%to prevent wraparound%'",
			1, params, err);

		if (v == NULL) {
			rc = -1;
			break;
		}
		if (strcmp(v, "0") == 0) {
			free(v);
			break;
		}
		free(v);
		if (!said)
			log_info("rebuild: waiting for an anti-wraparound autovacuum of %s to finish before the cut-over",
					 buf_str(&live));
		said = true;
		if (interrupt_sleep_ms(1000)) {
			rc = interrupt_error(err);
			break;
		}
	}
	buf_release(&live);
	return rc;
}

static int
record_cutover(rebuild *rb, double lock_ms, shunt_error *err)
{
	shunt_buf sql = SHUNT_BUF_INIT, live = SHUNT_BUF_INIT;
	char ms[32];
	const char *params[3] = { rb->id_text, ms, NULL };
	PGresult *res;
	int rc = -1;

	buf_init(&sql);
	buf_init(&live);
	pg_put_qualified(rb->db, &live, rb->schema, rb->table);
	params[2] = buf_str(&live);
	snprintf(ms, sizeof(ms), "%.1f", lock_ms);
	buf_printf(&sql, "UPDATE %s.rebuilds SET lock_ms = $2::double precision, "
					 "size_after = pg_catalog.pg_total_relation_size($3::regclass) WHERE id = $1::bigint "
					 "RETURNING pg_catalog.pg_size_pretty(size_before), pg_catalog.pg_size_pretty(size_after)",
			   rb->db->state_q);
	res = pg_exec_params(rb->db, buf_str(&sql), 3, params, err);
	if (res != NULL) {
		log_info("rebuild %s: cut over; the exclusive lock was held %.1f ms; size %s before, %s after",
				 buf_str(&live), lock_ms, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
		PQclear(res);
		rc = 0;
	}
	buf_release(&sql);
	buf_release(&live);
	return rc;
}

static int drop_old(rebuild *rb, shunt_error *err);

static int
cutover(rebuild *rb, shunt_error *err)
{
	json_t *changes = json_object_get(rb->spec, "type_changes");
	hook_env env = { 0 };
	rb_dir d;
	double lock_ms = 0;
	int rc;

	env.schema = rb->schema;
	env.table = rb->table;
	env.rows = rb->rows_done;
	if (json_array_size(changes) > 0) {
		json_t *c;
		size_t i;

		json_array_foreach(changes, i, c)
			log_warning("rebuild: column type changes at the cut-over: %s", json_string_value(c));
		if (rb->o->in_migration)
			log_warning("rebuild: sessions holding prepared statements on %s.%s (through either version "
						"schema: rebuild_table swaps the table under both) will get \"cached plan must not "
						"change result type\" until they prepare them again; alter_column with type, up and "
						"down keeps the old type for old clients", rb->schema, rb->table);
		else
			log_warning("rebuild: sessions holding prepared statements on %s.%s will get \"cached plan must not "
						"change result type\" until they prepare them again; to spare running applications, "
						"change types through a migration (old clients keep the old type through their "
						"version schema)", rb->schema, rb->table);
	}
	if (hooks_run(HOOK_BEFORE_CUTOVER, &env, err) != 0)
		return -1;
	if (wait_wraparound_vacuum(rb, err) != 0)
		return -1;
	/* keep the log short so the work done under the lock is small */
	rb_dir_init(&d, rb, true, rb->table, rb->rb_name);
	/* logical capture: catch the stream up with the WAL first (the
	 * walsender decodes all of it, the copy's own writes too), so the wait
	 * for the marker under the lock is short */
	rc = rb_capture_sync(rb, &d, RB_CATCH_UP_MS, err);
	if (rc == 0)
		rc = rb_drain(&d, 200, err);
	rb_dir_release(&d);
	if (rc != 0)
		return -1;
	fault_point("rebuild:before-cutover");
	if (rb_swap(rb, true, &lock_ms, err) != 0) {
		shunt_error_add_context(err, "while cutting over %s.%s", rb->schema, rb->table);
		return -1;
	}
	free(rb->status);
	rb->status = shunt_xstrdup("cutover");
	fault_point("rebuild:after-cutover");
	/* capture after the cut-over is the reverse trigger; the slot ends */
	drop_logical(rb, &(shunt_error){ 0 });
	if (record_cutover(rb, lock_ms, err) != 0)
		return -1;
	hooks_run(HOOK_AFTER_CUTOVER, &env, &(shunt_error){ 0 });
	if (rb->o->drop_old)
		return drop_old(rb, err);
	log_info("rebuild: the old table is kept as %s.%s, kept in sync; `shunt rebuild %s --revert` swaps it back, "
			 "`--drop-old` drops it", rb->schema, rb->old_name, rb->table);
	return 0;
}

/* The state schema and the advisory lock of the table's schema. */
static int
begin(shunt_db *db, const pg_rebuild_opts *o, rebuild *rb, bool *found, shunt_error *err)
{
	pg_state_migration *m = NULL;
	bool have = false;

	rebuild_init(rb, db, o);
	*found = false;
	if (o->dry_run) {
		if (pg_state_exists(db, &have, err) != 0)
			return -1;
		return have ? load(rb, found, err) : 0;
	}
	if (pg_state_init(db, err) != 0 || pg_state_lock(db, o->schema, err) != 0)
		return -1;
	if (pg_state_active(db, o->schema, &m, err) != 0)
		return -1;
	if (m != NULL && !o->in_migration) {
		shunt_error_set(err, SHUNT_E_STATE, "migration %s is active on schema \"%s\"", m->name, o->schema);
		shunt_error_hint(err, "Complete or roll it back before rebuilding a table of this schema.");
		pg_state_migration_free(m);
		return -1;
	}
	pg_state_migration_free(m);
	return load(rb, found, err);
}

static int
need_open(rebuild *rb, bool found, const char *what, shunt_error *err)
{
	if (found)
		return 0;
	shunt_error_set(err, SHUNT_E_STATE, "no rebuild of %s.%s is open", rb->schema, rb->table);
	shunt_error_hint(err, "%s needs a rebuild started with `shunt rebuild %s`.", what, rb->table);
	return -1;
}

int
pg_rebuild_run(shunt_db *db, const pg_rebuild_opts *o, shunt_error *err)
{
	rebuild rb;
	bool found;
	int rc = -1;

	if (begin(db, o, &rb, &found, err) != 0)
		goto done;
	if (!found) {
		if (start_new(&rb, err) != 0)
			goto done;
		if (o->dry_run) {
			rc = 0;
			goto done;
		}
		fault_point("rebuild:after-start");
	} else if (o->dry_run) {
		printf("-- a rebuild of %s.%s is open (%s); running the command continues it\n", o->schema, o->table,
			   rb.status);
		rc = 0;
		goto done;
	} else if (strcmp(rb.status, "cutover") == 0 || strcmp(rb.status, "reverted") == 0) {
		shunt_error_set(err, SHUNT_E_STATE, "the rebuild of %s.%s was already %s", o->schema, o->table,
						strcmp(rb.status, "cutover") == 0 ? "cut over" : "reverted");
		shunt_error_hint(err, "`shunt rebuild %s --drop-old` ends it%s.", o->table,
						 strcmp(rb.status, "cutover") == 0 ? "; --revert swaps the old table back" : "");
		goto done;
	} else {
		log_info("rebuild %s.%s: continuing (%s)", o->schema, o->table, rb.status);
		if (strcmp(rb.capture, "logical") == 0 && restart_logical(&rb, err) != 0)
			goto done;
	}
	if (prepare(&rb, err) != 0)
		goto done;
	if (o->postpone_cutover && strcmp(rb.capture, "logical") != 0) {
		log_info("rebuild %s.%s: ready; the cut-over is postponed: run `shunt cutover %s` (changes are captured "
				 "until then)", o->schema, o->table, o->table);
		rc = 0;
		goto done;
	}
	if (o->postpone_cutover) {
		/* the slot lives with this process: keep applying until told */
		shunt_buf sql = SHUNT_BUF_INIT;
		const char *params[1] = { rb.id_text };
		rb_dir d;

		log_info("rebuild %s.%s: ready; waiting for `shunt cutover %s` (logical capture keeps this process "
				 "running)", o->schema, o->table, o->table);
		buf_init(&sql);
		buf_printf(&sql, "SELECT waiting_reason = 'cutover requested' FROM %s.rebuilds WHERE id = $1::bigint",
				   db->state_q);
		rb_dir_init(&d, &rb, true, rb.table, rb.rb_name);
		{
			/* a request left by a `shunt cutover` that an earlier run of
			 * this command never served is not for this run */
			shunt_buf clear = SHUNT_BUF_INIT;

			buf_init(&clear);
			buf_printf(&clear, "UPDATE %s.rebuilds SET waiting_reason = NULL WHERE id = $1::bigint "
							   "AND waiting_reason = 'cutover requested'", db->state_q);
			pg_exec_command(db, buf_str(&clear), 1, params, err);
			buf_release(&clear);
		}
		for (;;) {
			char *v;

			if (err->code != SHUNT_OK)
				break;

			if (rb_drain(&d, 1, err) != 0)
				break;
			v = pg_query_value(db, buf_str(&sql), 1, params, err);
			if (v == NULL && err->code != SHUNT_OK)
				break;
			if (v != NULL && strcmp(v, "t") == 0) {
				free(v);
				break;
			}
			free(v);
			if (interrupt_sleep_ms(500)) {
				interrupt_error(err);
				break;
			}
		}
		rb_dir_release(&d);
		buf_release(&sql);
		if (err->code != SHUNT_OK)
			goto done;
	}
	rc = cutover(&rb, err);
done:
	/* a rebuild that failed before its cut-over leaves the shadow and
	 * the capture (a trigger on the live table) in place: say how to go
	 * on or clean up */
	if (rc != 0 && !o->dry_run && rb.id > 0 && rb.status != NULL && strcmp(rb.status, "cutover") != 0 &&
		strcmp(rb.status, "reverted") != 0 && err->hint[0] == '\0' && err->code != SHUNT_E_REFUSED)
		shunt_error_hint(err, "The shadow and the change capture stay in place: fix the cause and run the same "
							  "command again to continue, or run `shunt rebuild %s --abort` to remove them.",
						 o->table);
	if (rc != 0 && found)
		shunt_error_add_context(err, "rebuild of %s.%s", o->schema, o->table);
	rebuild_release(&rb);
	return rc;
}

/* Whether the rebuild's slot is held by a live process ("t"), idle ("f")
 * or gone (NULL): the waiting `shunt rebuild` is the slot's holder. */
static char *
slot_state(rebuild *rb, shunt_error *err)
{
	char *slot = rb_slot_name(rb);
	const char *params[1] = { slot };
	char *v = pg_query_value(rb->db, "SELECT CASE WHEN active THEN 't' ELSE 'f' END FROM pg_catalog.pg_replication_slots "
							 "WHERE slot_name = $1",
							 1, params, err);

	free(slot);
	return v;
}

/*
 * With logical capture only the `shunt rebuild --postpone-cutover` process
 * that holds the slot knows every change, so `shunt cutover` asks it and
 * waits for the outcome; with nobody holding the slot there is nobody to
 * ask.
 */
static int
request_logical_cutover(rebuild *rb, shunt_error *err)
{
	shunt_buf sql = SHUNT_BUF_INIT;
	const char *params[1] = { rb->id_text };
	char *active = slot_state(rb, err);
	int rc = -1;

	if (active == NULL && err->code != SHUNT_OK)
		return -1;
	if (active == NULL || strcmp(active, "t") != 0) {
		free(active);
		shunt_error_set(err, SHUNT_E_STATE, "no `shunt rebuild %s --postpone-cutover` process is waiting: the "
											"logical capture's replication slot is %s", rb->table,
						active == NULL ? "gone" : "not in use");
		shunt_error_detail(err, "With logical capture the process that reads the slot does the cut-over; changes "
								"made since it stopped are unknown, so the shadow cannot be swapped in.");
		shunt_error_hint(err, "Run `shunt rebuild %s --capture logical --postpone-cutover` again (it copies anew "
							  "from a new slot and waits), or without --postpone-cutover to swap when ready; "
							  "`--abort` removes the shadow.", rb->table);
		return -1;
	}
	free(active);
	buf_init(&sql);
	buf_printf(&sql, "UPDATE %s.rebuilds SET waiting_reason = 'cutover requested' WHERE id = $1::bigint",
			   rb->db->state_q);
	if (pg_exec_command(rb->db, buf_str(&sql), 1, params, err) != 0)
		goto done;
	log_info("cut-over requested; the `shunt rebuild` process that holds the replication slot does it");
	buf_reset(&sql);
	buf_printf(&sql, "SELECT status || coalesce('/' || lock_ms::text, '') FROM %s.rebuilds WHERE id = $1::bigint",
			   rb->db->state_q);
	for (;;) {
		char *st = pg_query_value(rb->db, buf_str(&sql), 1, params, err);

		if (st == NULL)
			goto done;
		if (strncmp(st, "cutover", 7) == 0) {
			log_info("rebuild %s.%s: cut over by the waiting process (exclusive lock held %s ms)", rb->schema,
					 rb->table, st[7] == '/' ? st + 8 : "?");
			free(st);
			rc = 0;
			goto done;
		}
		free(st);
		active = slot_state(rb, err);
		if (active == NULL && err->code != SHUNT_OK)
			goto done;
		if (active == NULL || strcmp(active, "t") != 0) {
			free(active);
			shunt_error_set(err, SHUNT_E_STATE, "the `shunt rebuild %s` process ended without cutting over",
							rb->table);
			shunt_error_hint(err, "Its output says why (a cut-over that kept timing out, a signal); run it again.");
			goto done;
		}
		free(active);
		if (interrupt_sleep_ms(200)) {
			interrupt_error(err);
			goto done;
		}
	}
done:
	buf_release(&sql);
	return rc;
}

int
pg_rebuild_cutover(shunt_db *db, const pg_rebuild_opts *o, shunt_error *err)
{
	rebuild rb;
	bool found;
	int rc = -1;

	if (o->dry_run)
		return shunt_error_set(err, SHUNT_E_USAGE, "cutover has no --dry-run");
	if (strlen(o->table) == 0)
		return shunt_error_set(err, SHUNT_E_USAGE, "cutover needs a table");
	rebuild_init(&rb, db, o);
	if (pg_state_init(db, err) != 0 || load(&rb, &found, err) != 0 || need_open(&rb, found, "cutover", err) != 0)
		goto done;
	if (strcmp(rb.status, "copied") != 0) {
		shunt_error_set(err, SHUNT_E_STATE, "the rebuild of %s.%s is %s, not ready for a cut-over", o->schema,
						o->table, rb.status);
		shunt_error_hint(err, "%s", strcmp(rb.status, "copying") == 0
										? "Run `shunt rebuild TABLE --postpone-cutover` to finish the copy first."
										: "It was cut over already.");
		goto done;
	}
	if (strcmp(rb.capture, "logical") == 0) {
		rc = request_logical_cutover(&rb, err);
		goto done;
	}
	if (pg_state_lock(db, o->schema, err) != 0)
		goto done;
	rc = cutover(&rb, err);
done:
	rebuild_release(&rb);
	return rc;
}

int
pg_rebuild_revert(shunt_db *db, const pg_rebuild_opts *o, shunt_error *err)
{
	rebuild rb;
	bool found;
	double lock_ms = 0;
	rb_dir d;
	int rc = -1;

	if (begin(db, o, &rb, &found, err) != 0 || need_open(&rb, found, "--revert", err) != 0)
		goto done;
	if (strcmp(rb.status, "cutover") != 0) {
		shunt_error_set(err, SHUNT_E_STATE, "the rebuild of %s.%s is %s: only a cut-over can be reverted",
						o->schema, o->table, rb.status);
		shunt_error_hint(err, "Before the cut-over, --abort removes the shadow.");
		goto done;
	}
	if (o->dry_run) {
		printf("-- revert: apply %s's changes to %s.%s, then swap the names back under ACCESS EXCLUSIVE\n",
			   o->table, o->schema, rb.old_name);
		rc = 0;
		goto done;
	}
	rb_dir_init(&d, &rb, false, rb.table, rb.old_name);
	rc = rb_drain(&d, 200, err);
	rb_dir_release(&d);
	if (rc != 0 || rb_swap(&rb, false, &lock_ms, err) != 0) {
		shunt_error_add_context(err, "while reverting %s.%s: every row written since the cut-over must fit the "
								"old definition", o->schema, o->table);
		rc = -1;
		goto done;
	}
	log_info("rebuild %s.%s: reverted; the exclusive lock was held %.1f ms; the rebuilt table is kept as %s "
			 "(no longer in sync): --drop-old drops it",
			 o->schema, o->table, lock_ms, rb.rb_name);
	rc = 0;
done:
	rebuild_release(&rb);
	return rc;
}

/* Drops the state-schema objects of a rebuild (logs, capture functions). */
static int
drop_state_objects(rebuild *rb, shunt_error *err)
{
	shunt_buf sql = SHUNT_BUF_INIT;
	int rc;

	buf_init(&sql);
	buf_put(&sql, "DROP TABLE IF EXISTS ");
	rb_state_object(rb, &sql, "log");
	buf_put(&sql, ", ");
	rb_state_object(rb, &sql, "rlog");
	buf_put(&sql, "; DROP FUNCTION IF EXISTS ");
	rb_state_object(rb, &sql, "capture");
	buf_put(&sql, "(), ");
	rb_state_object(rb, &sql, "rcapture");
	buf_put(&sql, "(), ");
	rb_state_object(rb, &sql, "notruncate");
	buf_put(&sql, "()");
	rc = rb_exec(rb, buf_str(&sql), err);
	buf_release(&sql);
	return rc;
}

/* Drops the standby table (and the capture on the live one) in one short
 * transaction through the lock module. */
static int
drop_standby(rebuild *rb, const char *standby, const char *final_status, shunt_error *err)
{
	shunt_buf drop = SHUNT_BUF_INIT, trig = SHUNT_BUF_INIT, live = SHUNT_BUF_INIT, cp = SHUNT_BUF_INIT;
	const char *sql[2];
	const char *rels[1];
	const char *params[2] = { rb->id_text, final_status };
	pg_lock_txn t;
	int rc;

	buf_init(&drop);
	buf_init(&trig);
	buf_init(&live);
	buf_init(&cp);
	pg_put_qualified(rb->db, &live, rb->schema, rb->table);
	buf_printf(&trig, "DROP TRIGGER IF EXISTS _shunt_rb_capture ON %s; "
					  "DROP TRIGGER IF EXISTS _shunt_rb_notruncate ON %s", buf_str(&live), buf_str(&live));
	buf_put(&drop, "DROP TABLE IF EXISTS ");
	pg_put_qualified(rb->db, &drop, rb->schema, standby);
	buf_printf(&cp, "UPDATE %s.rebuilds SET status = $2, finished_at = pg_catalog.now(), updated_at = pg_catalog.now() "
					"WHERE id = $1::bigint", rb->db->state_q);
	sql[0] = buf_str(&trig);
	sql[1] = buf_str(&drop);
	rels[0] = buf_str(&live);
	if (rb->o->dry_run) {
		printf("%s;\n%s;\n", sql[0], sql[1]);
		rc = drop_state_objects(rb, err);
		goto done;
	}
	memset(&t, 0, sizeof(t));
	t.what = "dropping the rebuild's table";
	t.sql = sql;
	t.n_sql = 2;
	t.relations = rels;
	t.n_relations = 1;
	t.checkpoint_sql = buf_str(&cp);
	t.n_checkpoint_params = 2;
	t.checkpoint_params = params;
	rc = pg_lock_run(rb->db, &t, err);
	if (rc == 0)
		rc = drop_state_objects(rb, err);
	if (rc == 0)
		rc = drop_logical(rb, err);
done:
	buf_release(&drop);
	buf_release(&trig);
	buf_release(&live);
	buf_release(&cp);
	return rc;
}

static int
drop_old(rebuild *rb, shunt_error *err)
{
	bool reverted = strcmp(rb->status, "reverted") == 0;
	const char *standby = reverted ? rb->rb_name : rb->old_name;

	if (drop_standby(rb, standby, reverted ? "aborted" : "done", err) != 0)
		return -1;
	log_info("rebuild %s.%s: dropped %s; the rebuild is %s", rb->schema, rb->table, standby,
			 reverted ? "abandoned" : "done");
	return 0;
}

int
pg_rebuild_drop_old(shunt_db *db, const pg_rebuild_opts *o, shunt_error *err)
{
	rebuild rb;
	bool found;
	int rc = -1;

	if (begin(db, o, &rb, &found, err) != 0 || need_open(&rb, found, "--drop-old", err) != 0)
		goto done;
	if (strcmp(rb.status, "cutover") != 0 && strcmp(rb.status, "reverted") != 0) {
		shunt_error_set(err, SHUNT_E_STATE, "the rebuild of %s.%s is %s: there is no old table yet", o->schema,
						o->table, rb.status);
		shunt_error_hint(err, "--abort removes a rebuild that was not cut over.");
		goto done;
	}
	rc = drop_old(&rb, err);
done:
	rebuild_release(&rb);
	return rc;
}

int
pg_rebuild_abort(shunt_db *db, const pg_rebuild_opts *o, shunt_error *err)
{
	rebuild rb;
	bool found;
	int rc = -1;

	if (begin(db, o, &rb, &found, err) != 0 || need_open(&rb, found, "--abort", err) != 0)
		goto done;
	if (strcmp(rb.status, "copying") != 0 && strcmp(rb.status, "copied") != 0) {
		shunt_error_set(err, SHUNT_E_STATE, "the rebuild of %s.%s was %s", o->schema, o->table,
						strcmp(rb.status, "cutover") == 0 ? "cut over already" : "reverted");
		shunt_error_hint(err, "%s", strcmp(rb.status, "cutover") == 0
										? "--revert swaps the old table back; --drop-old then drops the rebuilt one."
										: "--drop-old drops the rebuilt table.");
		goto done;
	}
	if (drop_standby(&rb, rb.rb_name, "aborted", err) != 0)
		goto done;
	log_info("rebuild %s.%s: aborted; the shadow table and the change capture are gone", o->schema, o->table);
	rc = 0;
done:
	rebuild_release(&rb);
	return rc;
}

int
pg_rebuild_undo(shunt_db *db, const pg_rebuild_opts *o, shunt_error *err)
{
	rebuild rb;
	bool found;
	char *status = NULL;
	int rc = -1;

	if (begin(db, o, &rb, &found, err) != 0)
		goto done;
	if (!found) {
		rc = 0;
		goto done;
	}
	status = shunt_xstrdup(rb.status);
	rebuild_release(&rb);
	memset(&rb, 0, sizeof(rb));
	if (strcmp(status, "cutover") == 0)
		rc = pg_rebuild_revert(db, o, err) == 0 ? pg_rebuild_drop_old(db, o, err) : -1;
	else if (strcmp(status, "reverted") == 0)
		rc = pg_rebuild_drop_old(db, o, err);
	else
		rc = pg_rebuild_abort(db, o, err);
	free(status);
	return rc;
done:
	rebuild_release(&rb);
	return rc;
}

void
pg_rebuild_copy_opts(pg_backfill_opts *copy, const pg_backfill_opts *from)
{
	*copy = *from;
	if (copy->target_batch_ms == PG_BACKFILL_BATCH_MS)
		copy->target_batch_ms = PG_REBUILD_BATCH_MS;
}
