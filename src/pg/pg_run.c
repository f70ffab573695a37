/*
 * pg_run.c: phase execution; see pg_run.h.
 */
#include "pg/pg_run.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/hooks.h"
#include "core/fault.h"
#include "core/interrupt.h"
#include "core/log.h"
#include "pg/pg_catalog.h"
#include "pg/pg_exec.h"
#include "pg/pg_lock.h"
#include "pg/pg_rebuild.h"
#include "pg/pg_plan.h"
#include "pg/pg_state.h"

static char *
checkpoint_sql(shunt_db *db)
{
	shunt_buf b = SHUNT_BUF_INIT;

	buf_init(&b);
	buf_printf(&b, "UPDATE %s.migrations SET step = $2::int WHERE id = $1::bigint", db->state_q);
	return buf_detach(&b);
}

static int
checkpoint(run_ctx *ctx, int step, shunt_error *err)
{
	char id[32], st[16];
	const char *params[2] = { id, st };
	char *sql;
	int rc;

	if (ctx->migration_id == 0)
		return 0;
	snprintf(id, sizeof(id), "%lld", ctx->migration_id);
	snprintf(st, sizeof(st), "%d", step);
	sql = checkpoint_sql(ctx->db);
	rc = pg_exec_command(ctx->db, sql, 2, params, err);
	free(sql);
	return rc;
}

/* The views of the new version: the catalog as it is now, with the
 * migration's model changes replayed (tables created by sql operations
 * included). */
static int
views_sql(run_ctx *ctx, char ***sql, size_t *n, shunt_error *err)
{
	model m;
	int rc = -1;

	model_init(&m, ctx->schema);
	if (pg_catalog_read_model(ctx->db, ctx->schema, &m, err) != 0)
		goto done;
	if (pg_plan_apply_model(ctx->db, ctx->mig, &m, err) != 0)
		goto done;
	rc = pg_plan_views_sql(ctx->db, &m, ctx->version_schema, sql, n, err);
done:
	model_release(&m);
	return rc;
}

/* Rows the backfill of schema.table recorded as done (all runs), for the
 * after-backfill hook's SHUNT_ROWS; -1 when unknown. */
static long long
backfill_rows(run_ctx *ctx, const char *schema, const char *table)
{
	shunt_buf sql = SHUNT_BUF_INIT;
	char id[32];
	const char *params[3] = { id, schema, table };
	shunt_error ignore;
	char *v;
	long long rows;

	snprintf(id, sizeof(id), "%lld", ctx->migration_id);
	buf_init(&sql);
	buf_printf(&sql, "SELECT rows_done FROM %s.backfills WHERE migration_id = $1::bigint "
					 "AND table_schema = $2 AND table_name = $3", ctx->db->state_q);
	v = pg_query_value(ctx->db, buf_str(&sql), 3, params, &ignore);
	buf_release(&sql);
	/* no row: an empty table, nothing to do */
	rows = v ? strtoll(v, NULL, 10) : ignore.code == SHUNT_OK ? 0 : -1;
	free(v);
	return rows;
}

static void
free_sql(char **sql, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(sql[i]);
	free(sql);
}

/* The options of a rebuild step: trigger capture (the process ends after
 * the start, so no slot could be held) and the copy's options. */
static void
rebuild_opts(const run_ctx *ctx, const plan_step *s, pg_rebuild_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->schema = s->table_schema;
	o->table = s->table;
	o->alter = s->n_sql > 0 ? s->sql[0] : NULL;
	o->capture = REBUILD_CAPTURE_TRIGGER;
	o->in_migration = true;
	pg_rebuild_copy_opts(&o->copy, &ctx->backfill);
}

static int
run_step(run_ctx *ctx, const plan_step *s, int index, shunt_error *err)
{
	char id[32], st[16];
	const char *params[2] = { id, st };
	char *cp = checkpoint_sql(ctx->db);
	pg_lock_txn t;
	int rc = -1;

	snprintf(id, sizeof(id), "%lld", ctx->migration_id);
	snprintf(st, sizeof(st), "%d", index + 1);
	memset(&t, 0, sizeof(t));
	t.what = s->what;
	if (ctx->migration_id != 0) {
		t.checkpoint_sql = cp;
		t.n_checkpoint_params = 2;
		t.checkpoint_params = params;
	}
	switch (s->kind) {
	case STEP_TXN:
		t.sql = (const char *const *) s->sql;
		t.n_sql = s->n_sql;
		t.relations = (const char *const *) s->relations;
		t.n_relations = s->n_relations;
		rc = pg_lock_run(ctx->db, &t, err);
		break;
	case STEP_CONCURRENT:
		rc = pg_lock_run_concurrent(ctx->db, s->what, s->sql[0], s->cleanup, err);
		if (rc == 0)
			rc = checkpoint(ctx, index + 1, err);
		break;
	case STEP_BACKFILL: {
		hook_env h;

		memset(&h, 0, sizeof(h));
		h.migration = ctx->mig ? ctx->mig->name : NULL;
		h.schema = ctx->schema;
		h.version_schema = ctx->version_schema;
		h.table = s->table;
		h.rows = -1;
		rc = hooks_run(HOOK_BEFORE_BACKFILL, &h, err);
		if (rc == 0)
			rc = pg_backfill_table(ctx->db, s->table_schema, s->table, s->set_clause, &ctx->backfill, err);
		if (rc == 0)
			rc = checkpoint(ctx, index + 1, err);
		if (rc == 0) {
			shunt_error e;

			h.rows = backfill_rows(ctx, s->table_schema, s->table);
			if (hooks_run(HOOK_AFTER_BACKFILL, &h, &e) != 0)
				log_warning("%s", e.message);
		}
		break;
	}
	case STEP_REBUILD:
	case STEP_REBUILD_DROP_OLD:
	case STEP_REBUILD_UNDO: {
		pg_rebuild_opts o;

		rebuild_opts(ctx, s, &o);
		rc = s->kind == STEP_REBUILD		   ? pg_rebuild_run(ctx->db, &o, err)
			 : s->kind == STEP_REBUILD_DROP_OLD ? pg_rebuild_drop_old(ctx->db, &o, err)
												: pg_rebuild_undo(ctx->db, &o, err);
		if (rc == 0)
			rc = checkpoint(ctx, index + 1, err);
		break;
	}
	case STEP_VIEWS: {
		char **sql = NULL;
		size_t n = 0;

		if (views_sql(ctx, &sql, &n, err) != 0)
			break;
		t.sql = (const char *const *) sql;
		t.n_sql = n;
		rc = pg_lock_run(ctx->db, &t, err);
		free_sql(sql, n);
		break;
	}
	}
	free(cp);
	return rc;
}

/* A lost connection or a server going down (restart, failover), as
 * opposed to an error of the statement itself. */
static bool
connection_error(shunt_db *db, const shunt_error *err)
{
	return pg_exec_connection_lost(db) || err->code == SHUNT_E_CONNECT ||
		   strncmp(err->sqlstate, "08", 2) == 0 || strcmp(err->sqlstate, "57P01") == 0 ||
		   strcmp(err->sqlstate, "57P02") == 0 || strcmp(err->sqlstate, "57P03") == 0;
}

/*
 * Reconnects after a lost connection, for up to a minute (a server restart
 * or a failover), and takes back the advisory lock the old session held.
 * The migration's checkpoint, not this process's memory, says where to go
 * on.
 */
static int
reconnect(run_ctx *ctx, shunt_error *err)
{
	for (int attempt = 1; attempt <= 60; attempt++) {
		shunt_error e;

		log_warning("the connection was lost (%s); reconnecting (attempt %d)", err->message, attempt);
		if (interrupt_sleep_ms(1000))
			return interrupt_error(err);
		if (pg_conn_reset(ctx->db, &e) != 0)
			continue;
		if (pg_state_lock(ctx->db, ctx->schema, &e) != 0) {
			/* Another shunt took over (someone ran shunt backfill while
			 * this one was cut off): do not race it, and do not touch the
			 * migration's state, which is now its to change.  The caller
			 * sees SHUNT_E_REFUSED (no step of a phase fails with it
			 * otherwise) and must not roll back or record anything. */
			*err = e;
			if (e.code == SHUNT_E_REFUSED) {
				char detail[sizeof(e.detail)];

				snprintf(detail, sizeof(detail), "%s", e.detail);
				shunt_error_set(err, SHUNT_E_REFUSED,
								"another shunt process took over the migration of schema \"%s\" while the "
								"connection was lost", ctx->schema);
				shunt_error_detail(err, "%s%sThis process stopped without changing the migration's state.",
								   detail, detail[0] ? " " : "");
				shunt_error_hint(err, "Let the other process finish; shunt status shows its progress.");
			}
			return -1;
		}
		log_info("reconnected");
		return 0;
	}
	shunt_error_add_context(err, "could not reconnect for 60 s; run the command again to resume");
	return -1;
}

/* The phase's checkpoint: steps recorded as done, or -1 with err. */
static int
steps_done(run_ctx *ctx, shunt_error *err)
{
	shunt_buf sql = SHUNT_BUF_INIT;
	char id[32];
	const char *params[1] = { id };
	char *v;
	int n;

	if (ctx->migration_id == 0)
		return -1;
	snprintf(id, sizeof(id), "%lld", ctx->migration_id);
	buf_init(&sql);
	buf_printf(&sql, "SELECT step FROM %s.migrations WHERE id = $1::bigint", ctx->db->state_q);
	v = pg_query_value(ctx->db, buf_str(&sql), 1, params, err);
	buf_release(&sql);
	if (v == NULL)
		return -1;
	n = (int) strtol(v, NULL, 10);
	free(v);
	return n;
}

/* Sets the session's search_path; user fragments in DDL (type names,
 * defaults, check expressions) resolve as they would in a session on the
 * application schema.  shunt's own SQL is schema-qualified either way. */
static int
set_search_path(run_ctx *ctx, const char *schema, shunt_error *err)
{
	char *q = schema ? pg_ident(ctx->db, schema) : NULL;
	const char *params[1] = { q ? q : "" };
	int rc = pg_exec_command(ctx->db, "SELECT pg_catalog.set_config('search_path', $1, false)", 1,
							 params, err);

	free(q);
	return rc;
}

int
pg_run_phase(run_ctx *ctx, const plan_phase *ph, const char *phase, int from, shunt_error *err)
{
	shunt_error ignore;

	if (set_search_path(ctx, ctx->schema, err) != 0)
		return -1;
	for (size_t i = (size_t) (from > 0 ? from : 0); i < ph->n; i++) {
		const plan_step *s = &ph->steps[i];

		if (s->only_if_started >= 0 && s->only_if_started >= ctx->started_steps) {
			log_info("%s: step %zu/%zu: %s: skipped, start did not get that far", phase, i + 1, ph->n,
					 s->what);
			if (checkpoint(ctx, (int) i + 1, err) != 0)
				return -1;
			continue;
		}
		/* between steps: everything before is checkpointed */
		if (interrupt_requested()) {
			interrupt_error(err);
			shunt_error_add_context(err, "before %s step %zu: %s", phase, i + 1, s->what);
			if (!pg_exec_connection_lost(ctx->db))
				set_search_path(ctx, NULL, &ignore);
			return -1;
		}
		log_info("%s: step %zu/%zu: %s", phase, i + 1, ph->n, s->what);
		fault_point("%s:before-step:%zu", phase, i + 1);
		if (run_step(ctx, s, (int) i, err) != 0) {
			int done;

			if (connection_error(ctx->db, err) && reconnect(ctx, err) == 0 &&
				set_search_path(ctx, ctx->schema, err) == 0 && (done = steps_done(ctx, err)) >= 0) {
				/* The step may have committed before the connection went:
				 * its checkpoint says.  Either way it is safe to go on. */
				if (done > (int) i)
					log_info("%s: step %zu was done before the connection was lost", phase, i + 1);
				i = (size_t) done - 1; /* the loop's i++ makes it `done` */
				continue;
			}
			shunt_error_add_context(err, "in %s step %zu: %s", phase, i + 1, s->what);
			if (!pg_exec_connection_lost(ctx->db))
				set_search_path(ctx, NULL, &ignore);
			return -1;
		}
		fault_point("%s:after-step:%zu", phase, i + 1);
	}
	return set_search_path(ctx, NULL, err);
}

/* Writes text into a "--" comment line: a line break in it (a quoted
 * identifier or an --alter clause may hold one) would end the comment, and
 * the rest would run as SQL where the output is fed to psql. */
static void
put_comment(FILE *out, const char *text)
{
	for (const char *p = text; *p; p++)
		fputc(*p == '\n' || *p == '\r' ? ' ' : *p, out);
}

void
pg_run_print_phase(run_ctx *ctx, FILE *out, const plan_phase *ph, const char *phase)
{
	fprintf(out, "-- %s: %zu step%s\n", phase, ph->n, ph->n == 1 ? "" : "s");
	for (size_t i = 0; i < ph->n; i++) {
		const plan_step *s = &ph->steps[i];

		fprintf(out, "\n-- step %zu: ", i + 1);
		put_comment(out, s->what);
		switch (s->kind) {
		case STEP_TXN:
			fprintf(out, " (one transaction, lock_timeout %lld ms, retried)\nBEGIN;\n",
					(long long) ctx->db->lock_timeout_ms);
			for (size_t j = 0; j < s->n_sql; j++)
				fprintf(out, "%s;\n", s->sql[j]);
			fprintf(out, "COMMIT;\n");
			break;
		case STEP_CONCURRENT:
			fprintf(out, " (outside a transaction)\n%s;\n", s->sql[0]);
			break;
		case STEP_BACKFILL: {
			shunt_error err;
			char *sql = pg_backfill_batch_sql(ctx->db, s->table_schema, s->table, s->set_clause, &err);

			fprintf(out, " (batches in key order up to the largest key at start, each its own "
						 "transaction; $1 = last key done, $2 = largest key, $3 = batch size; the "
						 "first batch has no lower bound)\n");
			if (sql != NULL)
				fprintf(out, "%s;\n", sql);
			else
				fprintf(out, "-- cannot backfill: %s\n", err.message);
			free(sql);
			break;
		}
		case STEP_REBUILD:
			fputs(" (shunt rebuild ", out);
			put_comment(out, s->table);
			if (s->n_sql) {
				fputs(" --alter ", out);
				put_comment(out, s->sql[0]);
			}
			fputs(": shadow table, change capture trigger, batched copy, verification, cut-over in one "
				  "short transaction; see docs/rebuild.md)\n", out);
			break;
		case STEP_REBUILD_DROP_OLD:
		case STEP_REBUILD_UNDO:
			fputs(" (shunt rebuild ", out);
			put_comment(out, s->table);
			fputs(s->kind == STEP_REBUILD_DROP_OLD ? " --drop-old)\n"
												   : " --revert then --drop-old after a cut-over, else --abort)\n",
				  out);
			break;
		case STEP_VIEWS: {
			char **sql = NULL;
			size_t n = 0;
			shunt_error err;

			fprintf(out, " (one transaction; views as the catalog will be after the steps above)\n");
			if (ctx->mig != NULL && views_sql(ctx, &sql, &n, &err) == 0) {
				for (size_t j = 0; j < n; j++)
					fprintf(out, "%s;\n", sql[j]);
				free_sql(sql, n);
			} else if (ctx->mig != NULL)
				fprintf(out, "-- cannot show the views: %s\n", err.message);
			break;
		}
		}
	}
	fprintf(out, "\n");
}
