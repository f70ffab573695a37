/*
 * pg_op_rebuild.c: rebuild_table and alter_column with rebuild: true,
 * shunt extensions to the migration format that run an online rebuild
 * (pg_rebuild.h) as a migration:
 *
 *   start     copy, verify and cut over (the new table is live for both
 *             versions; the old one is kept, synced in reverse)
 *   complete  drop the old table
 *   rollback  swap the old table back with every write made since (or,
 *             before the cut-over, remove the shadow), then drop the other
 *
 * The rebuild is a whole-table swap, so it must be the migration's only
 * operation: the column duplication and sync triggers of the other
 * operations would be copied along or left pointing at the old table.
 */
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "pg/pg_ops.h"
#include "pg/pg_parse.h"

static int plan_rebuild(planner *p, const char *table, const char *alter, const char *alter_field);

int
op_rebuild_table(planner *p, json_t *d)
{
	return plan_rebuild(p, json_str(d, "table"), json_str(d, "alter"), "alter");
}

/*
 * alter_column with rebuild: true: the type change as a rebuild_table with
 * "ALTER COLUMN c TYPE t".  Only the type: the other changes have their
 * own expand/contract paths, and the copy converts by a cast, so up and
 * down have no place.
 */
int
op_alter_column_rebuild(planner *p, json_t *d)
{
	static const char *const others[] = { "name", "nullable", "default", "comment", "unique", "check",
										  "references", "up", "down" };
	const char *type = json_str(d, "type");
	shunt_buf alter = SHUNT_BUF_INIT;
	int rc;

	if (p->model_only)
		return 0;
	if (type == NULL)
		return planner_error(p, "rebuild", "rebuild: true needs type: it changes a column's type by rebuilding "
										   "the table");
	{
		model_table *t = ops_table(p, "table", json_str(d, "table"));

		if (t == NULL || ops_column(p, t, "column", json_str(d, "column")) == NULL)
			return -1;
		if (ops_check_type(p, "type", type) != 0)
			return -1;
	}
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
		if (json_object_get(d, others[i]) != NULL)
			return planner_error(p, others[i], "with rebuild: true only type may change (the copy converts by a "
											   "cast; up and down have no place); use a separate alter_column "
											   "without rebuild for the rest");
	buf_init(&alter);
	buf_put(&alter, "ALTER COLUMN ");
	pg_put_ident(p->db, &alter, json_str(d, "column"));
	buf_put(&alter, " TYPE ");
	buf_put(&alter, type);
	rc = plan_rebuild(p, json_str(d, "table"), buf_str(&alter), "type");
	buf_release(&alter);
	return rc;
}

static int
plan_rebuild(planner *p, const char *table, const char *alter, const char *alter_field)
{
	model_table *t;
	shunt_buf what = SHUNT_BUF_INIT;
	shunt_error e;

	if (p->model_only)
		return 0;
	if (p->mig->n_ops != 1)
		return planner_error(p, NULL, "a rebuild (rebuild_table, or alter_column with rebuild: true) must be the "
									  "only operation of its migration (this one has %zu)", p->mig->n_ops);
	t = ops_table(p, "table", table);
	if (t == NULL)
		return -1;
	if (alter != NULL) {
		char *checked = pg_parse_alter_table(alter, "t", &e);

		if (checked == NULL)
			return planner_error(p, alter_field, "%s", e.message);
		free(checked);
	}
	buf_init(&what);
	buf_put(&what, "rebuild table ");
	pg_put_ident(p->db, &what, t->phys);
	buf_put(&what, alter != NULL ? " online with the new definition, and cut over" : " online (bloat), and cut over");
	plan_add_rebuild(&p->start_ddl, STEP_REBUILD, buf_str(&what), p->schema, t->phys, alter);
	buf_reset(&what);
	buf_put(&what, "drop the table the rebuild of ");
	pg_put_ident(p->db, &what, t->phys);
	buf_put(&what, " kept for a revert");
	plan_add_rebuild(&p->complete_post, STEP_REBUILD_DROP_OLD, buf_str(&what), p->schema, t->phys, NULL);
	buf_reset(&what);
	buf_put(&what, "undo the rebuild of ");
	pg_put_ident(p->db, &what, t->phys);
	buf_put(&what, " (revert after its cut-over, else abort), then drop the other table");
	plan_add_rebuild(&p->rollback_ops, STEP_REBUILD_UNDO, buf_str(&what), p->schema, t->phys, NULL);
	buf_release(&what);
	return 0;
}
