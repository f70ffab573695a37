/*
 * pg_migrate.c: start, complete, rollback; see pg_migrate.h.
 */
#include "pg/pg_migrate.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/fault.h"
#include "core/hooks.h"
#include "core/log.h"
#include "core/model.h"
#include "pg/pg_catalog.h"
#include "pg/pg_exec.h"
#include "pg/pg_gate.h"
#include "pg/pg_plan.h"
#include "pg/pg_run.h"
#include "pg/pg_state.h"

char *
pg_migrate_version_schema(const char *schema, const shunt_migration *mig)
{
	shunt_buf b = SHUNT_BUF_INIT;
	char *name;

	buf_init(&b);
	buf_printf(&b, "%s_%s", schema, mig->version_schema ? mig->version_schema : mig->name);
	name = model_generated_name("", buf_str(&b));
	buf_release(&b);
	return name;
}

static void
hook_env_init(hook_env *h, const char *name, const char *schema, const char *vs)
{
	memset(h, 0, sizeof(*h));
	h->migration = name;
	h->schema = schema;
	h->version_schema = vs;
	h->rows = -1;
}

/* The on-failure hook; its own failure is only logged. */
static void
hook_failure(const char *name, const char *schema, const char *vs, const shunt_error *e)
{
	hook_env h;
	shunt_error ignore;

	hook_env_init(&h, name, schema, vs);
	h.error = e->message;
	if (hooks_run(HOOK_ON_FAILURE, &h, &ignore) != 0)
		log_warning("%s", ignore.message);
}

static void
hook_after(const char *event, const char *name, const char *schema, const char *vs)
{
	hook_env h;
	shunt_error e;

	hook_env_init(&h, name, schema, vs);
	if (hooks_run(event, &h, &e) != 0)
		log_warning("%s", e.message);
}

static int
set_status(shunt_db *db, long long id, const char *status, const char *ts_column, shunt_error *err)
{
	shunt_buf sql = SHUNT_BUF_INIT;
	char idtext[32];
	const char *params[2] = { idtext, status };
	int rc;

	snprintf(idtext, sizeof(idtext), "%lld", id);
	buf_init(&sql);
	buf_printf(&sql, "UPDATE %s.migrations SET status = $2, step = 0, last_error = NULL", db->state_q);
	if (ts_column != NULL)
		buf_printf(&sql, ", %s = pg_catalog.now()", ts_column);
	buf_put(&sql, " WHERE id = $1::bigint");
	rc = pg_exec_command(db, buf_str(&sql), 2, params, err);
	buf_release(&sql);
	return rc;
}

static void
record_error(shunt_db *db, long long id, const shunt_error *e)
{
	shunt_buf sql = SHUNT_BUF_INIT;
	char idtext[32];
	const char *params[2] = { idtext, e->message };
	shunt_error ignore;

	snprintf(idtext, sizeof(idtext), "%lld", id);
	buf_init(&sql);
	buf_printf(&sql, "UPDATE %s.migrations SET last_error = $2 WHERE id = $1::bigint", db->state_q);
	pg_exec_command(db, buf_str(&sql), 2, params, &ignore);
	buf_release(&sql);
}

/*
 * A phase stopped by SIGINT/SIGTERM (core/interrupt.h) at a checkpoint:
 * the one line the user reads says what happened and how to go on.
 */
static void
cancelled_message(shunt_error *err, const char *phase, const char *name, const char *how)
{
	shunt_buf b = SHUNT_BUF_INIT;
	size_t len;

	buf_init(&b);
	buf_printf(&b, "%s: the %s of \"%s\" stopped at its last checkpoint; %s", err->message, phase, name, how);
	len = b.len < sizeof(err->message) - 1 ? b.len : sizeof(err->message) - 1;
	memcpy(err->message, buf_str(&b), len);
	err->message[len] = '\0';
	buf_release(&b);
}

/* Loads the stored plan of m. */
static int
load_plan(const pg_state_migration *m, plan *p, shunt_error *err)
{
	json_error_t je;
	json_t *j = json_loads(m->plan ? m->plan : "", 0, &je);
	int rc;

	if (j == NULL)
		return shunt_error_set(err, SHUNT_E_STATE, "the stored plan of migration \"%s\" is damaged", m->name);
	rc = plan_from_json(p, j, err);
	json_decref(j);
	return rc;
}

static shunt_migration *
load_content(const pg_state_migration *m, shunt_error *err)
{
	shunt_migration *mig = migration_parse(m->content, strlen(m->content), "stored.json", err);

	if (mig != NULL) {
		free(mig->name);
		mig->name = shunt_xstrdup(m->name);
	}
	return mig;
}

static int
prepare(shunt_db *db, const migrate_opts *o, pg_state_migration **active, bool *have_state,
		shunt_error *err)
{
	*active = NULL;
	if (pg_state_exists(db, have_state, err) != 0)
		return -1;
	if (!o->dry_run) {
		if (!*have_state && pg_state_init(db, err) != 0)
			return -1;
		*have_state = true;
		if (pg_state_lock(db, o->schema, err) != 0)
			return -1;
	}
	if (*have_state && pg_state_active(db, o->schema, active, err) != 0)
		return -1;
	return 0;
}

static int
insert_migration(shunt_db *db, const shunt_migration *mig, const migrate_opts *o, const char *vs,
				 const char *prev, const char *plan_text, long long *id, shunt_error *err)
{
	shunt_buf sql = SHUNT_BUF_INIT;
	char *content = json_dumps(mig->root, JSON_COMPACT | JSON_SORT_KEYS);
	const char *params[7] = { o->schema, mig->name, vs, prev, content, mig->content, plan_text };
	char *v;

	buf_init(&sql);
	buf_printf(&sql,
		"INSERT INTO %s.migrations (schema, name, version_schema, previous_version_schema, content, raw, "
		"  plan, status, started_at, file, parent) "
		"VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7::jsonb, 'starting', pg_catalog.now(), $8, "
		"  (SELECT name FROM %s.migrations WHERE schema = $1 AND status = 'complete' "
		"    ORDER BY completed_at DESC, id DESC LIMIT 1)) RETURNING id",
		db->state_q, db->state_q);
	{
		const char *p8[8] = { params[0], params[1], params[2], params[3], params[4], params[5], params[6],
							  mig->file };

		v = pg_query_value(db, buf_str(&sql), 8, p8, err);
	}
	free(content);
	buf_release(&sql);
	if (v == NULL) {
		if (strcmp(err->sqlstate, SHUNT_SQLSTATE_UNIQUE_VIOLATION) == 0) {
			shunt_error_set(err, SHUNT_E_REFUSED, "migration \"%s\" was already applied to schema \"%s\"",
							mig->name, o->schema);
			shunt_error_hint(err, "shunt history lists the applied migrations.");
		}
		return -1;
	}
	*id = atoll(v);
	free(v);
	return 0;
}

static void
init_ctx(run_ctx *ctx, shunt_db *db, const migrate_opts *o, long long id, const char *vs,
		 const shunt_migration *mig)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->db = db;
	ctx->migration_id = id;
	ctx->schema = o->schema;
	ctx->version_schema = vs;
	ctx->mig = mig;
	ctx->backfill = o->backfill;
	ctx->backfill.migration_id = id;
	ctx->started_steps = 2147483647;
}

/* Moves a migration to rolling_back, remembering how far its start got. */
static int
begin_rollback(shunt_db *db, long long id, shunt_error *err)
{
	shunt_buf sql = SHUNT_BUF_INIT;
	char idtext[32];
	const char *params[1] = { idtext };
	int rc;

	snprintf(idtext, sizeof(idtext), "%lld", id);
	buf_init(&sql);
	buf_printf(&sql,
		"UPDATE %s.migrations SET started_steps = CASE WHEN status = 'starting' THEN step "
		"ELSE 2147483647 END, status = 'rolling_back', step = 0 "
		"WHERE id = $1::bigint AND status <> 'rolling_back'", db->state_q);
	rc = pg_exec_command(db, buf_str(&sql), 1, params, err);
	buf_release(&sql);
	return rc;
}

static int
reload_started(shunt_db *db, const char *schema, int *started, shunt_error *err)
{
	pg_state_migration *m = NULL;

	if (pg_state_active(db, schema, &m, err) != 0)
		return -1;
	*started = m ? m->started_steps : 0;
	pg_state_migration_free(m);
	return 0;
}

static int
run_rollback(shunt_db *db, const migrate_opts *o, long long id, const char *vs,
			 const shunt_migration *mig, const plan *p, int from, int started_steps, shunt_error *err)
{
	run_ctx ctx;

	init_ctx(&ctx, db, o, id, vs, mig);
	ctx.started_steps = started_steps;
	if (pg_run_phase(&ctx, &p->rollback, "rollback", from, err) != 0)
		return -1;
	fault_point("rollback:before-done");
	return set_status(db, id, STATE_ROLLED_BACK, "rolled_back_at", err);
}

int
pg_migrate_start(shunt_db *db, const shunt_migration *mig, const migrate_opts *o, shunt_error *err)
{
	pg_state_migration *active = NULL;
	bool have_state = false, exists = false;
	char *vs = NULL, *prev = NULL, *plan_text = NULL;
	long long id = 0;
	int from = 0;
	int started = 0;
	plan p;
	int rc = -1;

	plan_init(&p);
	if (prepare(db, o, &active, &have_state, err) != 0)
		goto done;
	vs = pg_migrate_version_schema(o->schema, mig);
	if (active != NULL) {
		if (strcmp(active->name, mig->name) != 0 || strcmp(active->status, STATE_STARTING) != 0) {
			shunt_error_set(err, SHUNT_E_REFUSED, "migration \"%s\" is %s in schema \"%s\"", active->name,
							strcmp(active->status, STATE_ACTIVE) == 0 ? "active" : active->status, o->schema);
			shunt_error_detail(err, "Only one migration can be active at a time.");
			shunt_error_hint(err, "Run shunt complete or shunt rollback first.");
			goto done;
		}
		/* the same start, interrupted: continue from its checkpoint */
		if (load_plan(active, &p, err) != 0)
			goto done;
		id = active->id;
		from = active->step;
		log_info("resuming the start of \"%s\" at step %d", mig->name, from + 1);
	} else {
		if (have_state) {
			bool applied = false;

			if (pg_state_is_applied(db, o->schema, mig->name, &applied, err) != 0)
				goto done;
			if (applied) {
				shunt_error_set(err, SHUNT_E_REFUSED, "migration \"%s\" was already applied to schema \"%s\"",
								mig->name, o->schema);
				shunt_error_hint(err, "shunt history lists the applied migrations.");
				goto done;
			}
		}
		if (pg_catalog_schema_exists(db, o->schema, &exists, err) != 0)
			goto done;
		if (!exists) {
			shunt_error_set(err, SHUNT_E_INPUT, "schema \"%s\" does not exist", o->schema);
			shunt_error_hint(err, "Create it first, or choose another with --schema.");
			goto done;
		}
		if (have_state) {
			shunt_error e2;

			prev = pg_state_latest_version(db, o->schema, &e2);
			if (prev != NULL) {
				bool prev_exists = false;

				if (pg_catalog_schema_exists(db, prev, &prev_exists, err) != 0)
					goto done;
				if (!prev_exists) {
					free(prev);
					prev = NULL;
				}
			}
		}
		if (pg_catalog_schema_exists(db, vs, &exists, err) != 0)
			goto done;
		if (exists) {
			shunt_error_set(err, SHUNT_E_REFUSED, "version schema \"%s\" already exists", vs);
			shunt_error_hint(err, "Rename the migration or set version_schema; drop the schema if it is "
								  "left over from elsewhere.");
			goto done;
		}
		if (pg_plan_migration(db, mig, o->schema, vs, prev, &p, err) != 0)
			goto done;
		if (o->dry_run) {
			run_ctx ctx;

			init_ctx(&ctx, db, o, 0, vs, mig);
			fprintf(o->out, "-- migration \"%s\" in schema \"%s\": new version schema \"%s\"\n\n", mig->name,
					o->schema, vs);
			pg_run_print_phase(&ctx, o->out, &p.start, "start");
			ctx.mig = NULL;
			pg_run_print_phase(&ctx, o->out, &p.complete, "complete");
			pg_run_print_phase(&ctx, o->out, &p.rollback, "rollback");
			rc = 0;
			goto done;
		}
		{
			json_t *pj = plan_to_json(&p);

			plan_text = json_dumps(pj, JSON_COMPACT);
			json_decref(pj);
		}
		{
			hook_env h;

			hook_env_init(&h, mig->name, o->schema, vs);
			if (hooks_run(HOOK_BEFORE_START, &h, err) != 0)
				goto done; /* nothing changed yet */
		}
		if (insert_migration(db, mig, o, vs, prev, plan_text, &id, err) != 0)
			goto done;
		fault_point("start:recorded");
	}
	if (o->dry_run) {
		shunt_error_set(err, SHUNT_E_REFUSED, "the start of \"%s\" was interrupted; --dry-run cannot show a "
											  "resumed start", mig->name);
		goto done;
	}
	{
		run_ctx ctx;

		init_ctx(&ctx, db, o, id, vs, mig);
		if (pg_run_phase(&ctx, &p.start, "start", from, err) != 0) {
			shunt_error saved;
			shunt_error e2;

			/* another shunt took the migration over after a lost
			 * connection: its state is not ours to record or undo */
			if (err->code == SHUNT_E_REFUSED)
				goto done;
			if (err->code == SHUNT_E_CANCELLED) {
				cancelled_message(err, "start", mig->name, "run shunt backfill to continue it");
				shunt_error_hint(err, "shunt backfill (or the same shunt start) continues from the checkpoint; "
									  "shunt rollback undoes the start.");
			}
			saved = *err;
			record_error(db, id, err);
			hook_failure(mig->name, o->schema, vs, &saved);
			if (saved.code == SHUNT_E_LOCK_TIMEOUT || saved.code == SHUNT_E_CONNECT ||
				saved.code == SHUNT_E_CANCELLED || saved.code == SHUNT_E_HOOK) {
				shunt_error_add_context(err, "the start is resumable: run the same command again, or "
											 "shunt rollback");
				goto done;
			}
			/* Anything else will fail again: undo what start made. */
			log_warning("start failed: %s; rolling back", saved.message);
			if (begin_rollback(db, id, &e2) != 0 || reload_started(db, o->schema, &started, &e2) != 0 ||
				run_rollback(db, o, id, vs, mig, &p, 0, started, &e2) != 0)
				log_error("rollback after the failed start failed too: %s", e2.message);
			*err = saved;
			goto done;
		}
	}
	fault_point("start:before-active");
	if (set_status(db, id, STATE_ACTIVE, NULL, err) != 0)
		goto done;
	log_info("migration \"%s\" started: new version schema \"%s\"", mig->name, vs);
	hook_after(HOOK_AFTER_START, mig->name, o->schema, vs);
	rc = 0;
done:
	free(plan_text);
	free(vs);
	free(prev);
	pg_state_migration_free(active);
	plan_release(&p);
	return rc;
}

static int
require_active(shunt_db *db, const migrate_opts *o, pg_state_migration **active, shunt_error *err)
{
	bool have_state = false;

	if (prepare(db, o, active, &have_state, err) != 0)
		return -1;
	if (*active == NULL) {
		shunt_error_set(err, SHUNT_E_STATE, "no migration is active in schema \"%s\"", o->schema);
		shunt_error_hint(err, "shunt status shows the state; shunt start FILE begins a migration.");
		return -1;
	}
	return 0;
}

int
pg_migrate_complete(shunt_db *db, const migrate_opts *o, shunt_error *err)
{
	pg_state_migration *m = NULL;
	shunt_migration *mig = NULL;
	plan p;
	run_ctx ctx;
	int from = 0;
	int rc = -1;

	plan_init(&p);
	if (require_active(db, o, &m, err) != 0)
		goto done;
	if (strcmp(m->status, STATE_ACTIVE) != 0 && strcmp(m->status, STATE_COMPLETING) != 0) {
		shunt_error_set(err, SHUNT_E_STATE, "migration \"%s\" is %s, not active", m->name, m->status);
		shunt_error_hint(err, strcmp(m->status, STATE_STARTING) == 0
								  ? "Its start was interrupted: run shunt start again to finish it, or shunt rollback."
								  : "Run shunt rollback again to finish the rollback.");
		goto done;
	}
	if (load_plan(m, &p, err) != 0 || (mig = load_content(m, err)) == NULL)
		goto done;
	/* refuses while the previous version is still in use (pg_gate.h) */
	if (pg_gate_check(db, o->schema, m, &p, o->force, err) != 0)
		goto done;
	init_ctx(&ctx, db, o, m->id, m->version_schema, mig);
	if (o->dry_run) {
		pg_run_print_phase(&ctx, o->out, &p.complete, "complete");
		rc = 0;
		goto done;
	}
	{
		hook_env h;

		hook_env_init(&h, m->name, o->schema, m->version_schema);
		if (hooks_run(HOOK_BEFORE_COMPLETE, &h, err) != 0)
			goto done;
	}
	if (strcmp(m->status, STATE_ACTIVE) == 0) {
		if (set_status(db, m->id, STATE_COMPLETING, NULL, err) != 0)
			goto done;
	} else
		from = m->step;
	if (pg_run_phase(&ctx, &p.complete, "complete", from, err) != 0) {
		if (err->code == SHUNT_E_REFUSED)
			goto done; /* taken over after a lost connection */
		if (err->code == SHUNT_E_CANCELLED)
			cancelled_message(err, "complete", m->name, "run shunt complete again to continue it");
		record_error(db, m->id, err);
		hook_failure(m->name, o->schema, m->version_schema, err);
		shunt_error_add_context(err, "complete is resumable: run shunt complete again");
		goto done;
	}
	fault_point("complete:before-done");
	if (set_status(db, m->id, STATE_COMPLETE, "completed_at", err) != 0)
		goto done;
	log_info("migration \"%s\" complete: version schema \"%s\"", m->name, m->version_schema);
	hook_after(HOOK_AFTER_COMPLETE, m->name, o->schema, m->version_schema);
	rc = 0;
done:
	migration_free(mig);
	pg_state_migration_free(m);
	plan_release(&p);
	return rc;
}

int
pg_migrate_rollback(shunt_db *db, const migrate_opts *o, shunt_error *err)
{
	pg_state_migration *m = NULL;
	shunt_migration *mig = NULL;
	plan p;
	int from = 0;
	int started = 0;
	int rc = -1;

	plan_init(&p);
	if (require_active(db, o, &m, err) != 0)
		goto done;
	if (load_plan(m, &p, err) != 0 || (mig = load_content(m, err)) == NULL)
		goto done;
	if (strcmp(m->status, STATE_COMPLETING) == 0) {
		/* Validations are harmless; once the contract transaction has
		 * committed the old version is gone and only complete can finish. */
		size_t contract = 0;

		while (contract < p.complete.n && p.complete.steps[contract].kind != STEP_TXN)
			contract++;
		if ((size_t) m->step > contract) {
			shunt_error_set(err, SHUNT_E_REFUSED, "migration \"%s\" is past the point of no return", m->name);
			shunt_error_detail(err, "Its complete already dropped the previous version.");
			shunt_error_hint(err, "Run shunt complete to finish it.");
			goto done;
		}
	}
	if (o->dry_run) {
		run_ctx ctx;

		init_ctx(&ctx, db, o, m->id, m->version_schema, mig);
		pg_run_print_phase(&ctx, o->out, &p.rollback, "rollback");
		rc = 0;
		goto done;
	}
	{
		hook_env h;

		hook_env_init(&h, m->name, o->schema, m->version_schema);
		if (hooks_run(HOOK_BEFORE_ROLLBACK, &h, err) != 0)
			goto done;
	}
	if (strcmp(m->status, STATE_ROLLING_BACK) == 0)
		from = m->step;
	else if (begin_rollback(db, m->id, err) != 0 || reload_started(db, o->schema, &started, err) != 0)
		goto done;
	else
		m->started_steps = started;
	if (run_rollback(db, o, m->id, m->version_schema, mig, &p, from, m->started_steps, err) != 0) {
		if (err->code == SHUNT_E_REFUSED)
			goto done; /* taken over after a lost connection */
		if (err->code == SHUNT_E_CANCELLED)
			cancelled_message(err, "rollback", m->name, "run shunt rollback again to continue it");
		record_error(db, m->id, err);
		hook_failure(m->name, o->schema, m->version_schema, err);
		shunt_error_add_context(err, "rollback is resumable: run shunt rollback again");
		goto done;
	}
	log_info("migration \"%s\" rolled back", m->name);
	hook_after(HOOK_AFTER_ROLLBACK, m->name, o->schema, m->version_schema);
	rc = 0;
done:
	migration_free(mig);
	pg_state_migration_free(m);
	plan_release(&p);
	return rc;
}

int
pg_migrate_resume(shunt_db *db, const migrate_opts *o, shunt_error *err)
{
	pg_state_migration *m = NULL;
	shunt_migration *mig = NULL;
	int rc = -1;

	if (require_active(db, o, &m, err) != 0)
		goto done;
	if (strcmp(m->status, STATE_STARTING) != 0) {
		shunt_error_set(err, SHUNT_E_STATE, "migration \"%s\" is %s: there is no interrupted start to continue",
						m->name, m->status);
		if (strcmp(m->status, STATE_ACTIVE) == 0)
			shunt_error_hint(err, "Its start and backfill are done; shunt complete contracts it.");
		goto done;
	}
	mig = load_content(m, err);
	if (mig == NULL)
		goto done;
	rc = pg_migrate_start(db, mig, o, err);
done:
	migration_free(mig);
	pg_state_migration_free(m);
	return rc;
}
