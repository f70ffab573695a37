/*
 * pg_op_misc.c: sql and set_replica_identity.
 *
 * An sql operation is the user's own SQL, run as given: at start (undone by
 * its `down` at rollback), or at complete with onComplete.  It is parsed
 * first so that a syntax error stops the migration before anything runs.
 */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "pg/pg_catalog.h"
#include "pg/pg_ops.h"
#include "pg/pg_parse.h"

static int
check_sql(planner *p, const char *field, const char *sql)
{
	shunt_error e;
	size_t n = 0;

	if (pg_parse_statements(sql, &n, &e) != 0)
		return planner_error(p, field, "%s", e.message);
	return 0;
}

/* SELECT set_config('search_path', <schema>, true): local to the step's
 * transaction.  Returns malloc'd text. */
static char *
search_path_sql(planner *p)
{
	shunt_buf b = SHUNT_BUF_INIT;
	shunt_buf q = SHUNT_BUF_INIT;

	buf_init(&b);
	buf_init(&q);
	pg_put_ident(p->db, &q, p->schema);
	buf_put(&b, "SELECT pg_catalog.set_config('search_path', ");
	pg_put_literal(p->db, &b, buf_str(&q));
	buf_put(&b, ", true)");
	buf_release(&q);
	return buf_detach(&b);
}

int
op_sql(planner *p, json_t *d)
{
	const char *up = json_str(d, "up");
	const char *down = json_str(d, "down");
	bool on_complete = json_bool(d, "onComplete", false);
	char *sp;

	if (p->model_only)
		return 0;
	if (check_sql(p, "up", up) != 0 || (down != NULL && check_sql(p, "down", down) != 0))
		return -1;
	sp = search_path_sql(p);
	if (on_complete) {
		if (down != NULL) {
			free(sp);
			return planner_error(p, "down", "an onComplete sql operation cannot have down");
		}
		planner_fixup(p, "", NULL, "raw", sp, NULL);
		planner_fixup(p, "", NULL, "raw", up, NULL);
		free(sp);
		return 0;
	}
	/* User SQL names objects unqualified, as it would in a psql session
	 * on the application schema. */
	ops_start_txn(p, "run sql", NULL, sp);
	plan_step_add_sql(&p->start_ddl.steps[p->start_ddl.n - 1], up);
	if (down != NULL) {
		ops_rollback_txn(p, "run sql down", NULL, sp);
		plan_step_add_sql(&p->rollback_ops.steps[0], down);
		/* down undoes up: only when up ran */
		p->rollback_ops.steps[0].only_if_started = (int) p->start_ddl.n - 1;
	}
	free(sp);
	return 0;
}

int
op_set_replica_identity(planner *p, json_t *d)
{
	const char *table = json_str(d, "table");
	json_t *ident = json_object_get(d, "identity");
	const char *type = json_str(ident, "type");
	const char *index = json_str(ident, "index");
	model_table *t = ops_table(p, "table", table);
	shunt_buf b = SHUNT_BUF_INIT;
	char cur = 0;
	char *cur_index = NULL;

	if (t == NULL)
		return p->model_only ? 0 : -1;
	if (p->model_only)
		return 0;
	if (type == NULL)
		type = index && index[0] ? "index" : "default";
	if (pg_catalog_replica_identity(p->db, p->schema, t->phys, &cur, &cur_index, p->op_err) != 0)
		return -1;
	buf_init(&b);
	buf_put(&b, "ALTER TABLE ");
	planner_put_table(p, &b, t->phys);
	if (strcasecmp(type, "index") == 0) {
		if (index == NULL || index[0] == '\0') {
			free(cur_index);
			buf_release(&b);
			return planner_error(p, "identity.index", "type index needs an index name");
		}
		buf_put(&b, " REPLICA IDENTITY USING INDEX ");
		pg_put_ident(p->db, &b, index);
	} else if (strcasecmp(type, "full") == 0)
		buf_put(&b, " REPLICA IDENTITY FULL");
	else if (strcasecmp(type, "nothing") == 0)
		buf_put(&b, " REPLICA IDENTITY NOTHING");
	else if (strcasecmp(type, "default") == 0)
		buf_put(&b, " REPLICA IDENTITY DEFAULT");
	else {
		free(cur_index);
		buf_release(&b);
		return planner_error(p, "identity.type", "\"%s\" is not one of nothing, default, index, full",
							 type);
	}
	ops_start_txn(p, "set replica identity", t->phys, buf_str(&b));
	/* rollback restores what the catalog says now */
	buf_reset(&b);
	buf_put(&b, "ALTER TABLE ");
	planner_put_table(p, &b, t->phys);
	if (cur == 'i' && cur_index != NULL) {
		buf_put(&b, " REPLICA IDENTITY USING INDEX ");
		pg_put_ident(p->db, &b, cur_index);
	} else
		buf_put(&b, cur == 'f' ? " REPLICA IDENTITY FULL" : cur == 'n' ? " REPLICA IDENTITY NOTHING"
																	   : " REPLICA IDENTITY DEFAULT");
	ops_rollback_txn(p, "restore the replica identity", t->phys, buf_str(&b));
	free(cur_index);
	buf_release(&b);
	return 0;
}
