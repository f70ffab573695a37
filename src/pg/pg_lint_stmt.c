/*
 * pg_lint_stmt.c: lint checks of the statements other than CREATE TABLE
 * and ALTER TABLE: CREATE/DROP INDEX, REINDEX, DROP, RENAME, TRUNCATE,
 * LOCK, VACUUM, CLUSTER, REFRESH, ALTER TYPE, ALTER DOMAIN.  See
 * pg_lint.h; the driver is pg_lint.c.
 */
#include <string.h>

#include "core/alloc.h"
#include "pg/pg_lint_int.h"

static const char *
rv_name(json_t *rv)
{
	return json_string_value(json_object_get(rv, "relname"));
}

/* ---- other statements ---- */

static void
concurrently_in_tx(lint_ctx *c, const char *what)
{
	if (c->in_tx)
		lint_report(c, LR_CONCURRENTLY_IN_TRANSACTION, c->s->start,
					"%s cannot run inside a transaction block", what);
}

void
lint_create_index(lint_ctx *c, json_t *st)
{
	const char *table = rv_name(json_object_get(st, "relation"));
	const char *name = json_string_value(json_object_get(st, "idxname"));
	bool conc = json_is_true(json_object_get(st, "concurrent"));
	shunt_buf b = SHUNT_BUF_INIT;
	lint_finding *fd;

	if (name != NULL && table != NULL) {
		buf_init(&b);
		buf_printf(&b, "%s\t%s", name, table);
		lint_strs_add(&c->indexes, buf_str(&b));
		buf_release(&b);
	}
	if (name != NULL)
		lint_strs_add(&c->names, name);
	if (conc)
		concurrently_in_tx(c, "CREATE INDEX CONCURRENTLY");
	if (!conc && !lint_created(c, table)) {
		fd = lint_report(c, LR_REQUIRE_CONCURRENT_INDEX_CREATION, c->s->start,
						 "CREATE INDEX%s%s%s on \"%s\" blocks writes while it is built",
						 name ? " \"" : "", name ? name : "", name ? "\"" : "",
						 table ? table : "?");
		if (fd) {
			size_t at = c->s->tok_first;

			while (at < c->s->tok_end && !sqlf_tok_is(c->f, at, "INDEX"))
				at = sqlf_tok_next(c->f, at);
			buf_init(&b);
			lint_put_with_word(c, &b, at, "CONCURRENTLY");
			buf_put(&b, "  -- outside a transaction block");
			fd->fix = buf_detach(&b);
		}
	}
	if (!json_is_true(json_object_get(st, "if_not_exists")) && lint_want_robust(c) &&
		!lint_created(c, table))
		lint_report(c, LR_PREFER_ROBUST_STMTS, c->s->start,
					"CREATE INDEX without IF NOT EXISTS fails when the file is run again");
}

void
lint_drop(lint_ctx *c, json_t *st)
{
	const char *type = json_string_value(json_object_get(st, "removeType"));
	bool conc = json_is_true(json_object_get(st, "concurrent"));
	bool robust = json_is_true(json_object_get(st, "missing_ok"));
	size_t i;
	json_t *obj;

	if (type == NULL)
		return;
	if (conc)
		concurrently_in_tx(c, "DROP INDEX CONCURRENTLY");
	json_array_foreach(json_object_get(st, "objects"), i, obj) {
		const char *name = sqlf_last_name(json_object_get(json_object_get(obj, "List"), "items"));

		if (name == NULL)
			continue;
		if (strcmp(type, "OBJECT_TABLE") == 0 && !lint_created(c, name))
			lint_report(c, LR_BAN_DROP_TABLE, c->s->start, "DROP TABLE \"%s\"", name);
		if (strcmp(type, "OBJECT_INDEX") == 0 && !conc && !lint_created(c, lint_index_table(c, name))) {
			lint_finding *fd = lint_report(c, LR_REQUIRE_CONCURRENT_INDEX_DELETION, c->s->start,
										   "DROP INDEX \"%s\" without CONCURRENTLY", name);

			if (fd) {
				shunt_buf b = SHUNT_BUF_INIT;
				size_t at = c->s->tok_first;

				while (at < c->s->tok_end && !sqlf_tok_is(c->f, at, "INDEX"))
					at = sqlf_tok_next(c->f, at);
				buf_init(&b);
				lint_put_with_word(c, &b, at, "CONCURRENTLY");
				buf_put(&b, "  -- outside a transaction block");
				fd->fix = buf_detach(&b);
			}
		}
	}
	if (!robust && lint_want_robust(c) &&
		(strcmp(type, "OBJECT_TABLE") == 0 || strcmp(type, "OBJECT_INDEX") == 0))
		lint_report(c, LR_PREFER_ROBUST_STMTS, c->s->start,
					"DROP without IF EXISTS fails when the file is run again");
}

void
lint_rename(lint_ctx *c, json_t *st)
{
	const char *type = json_string_value(json_object_get(st, "renameType"));
	const char *table = rv_name(json_object_get(st, "relation"));
	const char *sub = json_string_value(json_object_get(st, "subname"));
	const char *to = json_string_value(json_object_get(st, "newname"));
	shunt_buf b = SHUNT_BUF_INIT;
	lint_finding *fd = NULL;

	if (type == NULL || table == NULL || to == NULL || lint_created(c, table))
		return;
	if (strcmp(type, "OBJECT_COLUMN") == 0 && sub != NULL) {
		fd = lint_report(c, LR_RENAMING_COLUMN, c->s->start,
						 "renaming column \"%s\" of \"%s\" to \"%s\" breaks the running application",
						 sub, table, to);
		if (fd) {
			buf_init(&b);
			buf_printf(&b, "shunt: - rename_column: {table: %s, from: %s, to: %s}", table, sub, to);
		}
	} else if (strcmp(type, "OBJECT_TABLE") == 0) {
		fd = lint_report(c, LR_RENAMING_TABLE, c->s->start,
						 "renaming table \"%s\" to \"%s\" breaks the running application", table, to);
		if (fd) {
			buf_init(&b);
			buf_printf(&b, "shunt: - rename_table: {from: %s, to: %s}", table, to);
		}
	}
	if (fd)
		fd->fix = buf_detach(&b);
}

void
lint_reindex(lint_ctx *c, json_t *st)
{
	json_t *rv = json_object_get(st, "relation");
	const char *name = rv_name(rv);
	bool conc = false;
	size_t i;
	json_t *p;
	lint_finding *fd;

	json_array_foreach(json_object_get(st, "params"), i, p) {
		const char *d = json_string_value(json_object_get(json_object_get(p, "DefElem"), "defname"));

		if (d && strcmp(d, "concurrently") == 0)
			conc = true;
	}
	if (conc) {
		concurrently_in_tx(c, "REINDEX CONCURRENTLY");
		return;
	}
	if (name != NULL && lint_created(c, name))
		return;
	fd = lint_report(c, LR_REQUIRE_CONCURRENT_REINDEX, c->s->start,
					 "REINDEX%s%s%s without CONCURRENTLY blocks writes while it runs",
					 name ? " \"" : "", name ? name : "", name ? "\"" : "");
	if (fd && c->o->pg_version >= 12) {
		shunt_buf b = SHUNT_BUF_INIT;
		size_t at = c->s->tok_first;

		/* REINDEX [(options)] INDEX|TABLE|SCHEMA|DATABASE|SYSTEM: after the kind */
		while (at < c->s->tok_end &&
			   !(sqlf_tok_is(c->f, at, "INDEX") || sqlf_tok_is(c->f, at, "TABLE") ||
				 sqlf_tok_is(c->f, at, "SCHEMA") || sqlf_tok_is(c->f, at, "DATABASE") ||
				 sqlf_tok_is(c->f, at, "SYSTEM")))
			at = sqlf_tok_next(c->f, at);
		buf_init(&b);
		lint_put_with_word(c, &b, at, "CONCURRENTLY");
		buf_put(&b, "  -- outside a transaction block");
		fd->fix = buf_detach(&b);
	} else if (fd)
		fd->fix = shunt_xstrdup("before PostgreSQL 12: CREATE INDEX CONCURRENTLY a copy of "
								"the index, DROP INDEX CONCURRENTLY the old one, ALTER INDEX "
								"... RENAME the copy");
}

void
lint_simple_statement(lint_ctx *c, const char *k, json_t *st)
{
	json_t *rels = json_object_get(st, "relations");
	const char *first = rv_name(json_object_get(json_array_get(rels, 0), "RangeVar"));

	if (strcmp(k, "DropdbStmt") == 0)
		lint_report(c, LR_BAN_DROP_DATABASE, c->s->start, "DROP DATABASE \"%s\"",
					json_string_value(json_object_get(st, "dbname")));
	else if (strcmp(k, "ClusterStmt") == 0) {
		const char *t = rv_name(json_object_get(st, "relation"));

		if (!lint_created(c, t))
			lint_report(c, LR_BAN_CLUSTER, c->s->start, "CLUSTER%s%s%s rewrites the table",
						t ? " \"" : "", t ? t : "", t ? "\"" : "");
	} else if (strcmp(k, "TruncateStmt") == 0 && !lint_created(c, first))
		lint_report(c, LR_BAN_TRUNCATE, c->s->start, "TRUNCATE \"%s\"%s", first ? first : "?",
					json_array_size(rels) > 1 ? " and other tables" : "");
	else if (strcmp(k, "LockStmt") == 0 && sqlf_int(st, "mode", 8) >= 5 && !lint_created(c, first)) {
		static const char *const modes[] = { "", "ACCESS SHARE", "ROW SHARE", "ROW EXCLUSIVE",
											 "SHARE UPDATE EXCLUSIVE", "SHARE",
											 "SHARE ROW EXCLUSIVE", "EXCLUSIVE", "ACCESS EXCLUSIVE" };
		long m = sqlf_int(st, "mode", 8);
		lint_finding *fd = lint_report(c, LR_BAN_LOCK_TABLE, c->s->start,
									   "LOCK TABLE \"%s\" IN %s MODE", first ? first : "?",
									   m <= 8 ? modes[m] : "?");

		if (fd && m <= 8)
			fd->lock = shunt_xstrdup(modes[m]);
	} else if (strcmp(k, "RefreshMatViewStmt") == 0 &&
			   !json_is_true(json_object_get(st, "concurrent")))
		lint_report(c, LR_REQUIRE_CONCURRENT_REFRESH, c->s->start,
					"REFRESH MATERIALIZED VIEW \"%s\" blocks reads of the view",
					rv_name(json_object_get(st, "relation")));
	else if (strcmp(k, "AlterEnumStmt") == 0 && json_object_get(st, "newVal") != NULL &&
			 json_object_get(st, "oldVal") == NULL && c->in_tx && c->o->pg_version < 12)
		lint_report(c, LR_ADDING_ENUM_VALUE_IN_TRANSACTION, c->s->start,
					"ALTER TYPE ... ADD VALUE cannot run inside a transaction block before "
					"PostgreSQL 12");
	else if (strcmp(k, "AlterDomainStmt") == 0) {
		const char *sub = json_string_value(json_object_get(st, "subtype"));
		json_t *con = json_object_get(json_object_get(st, "def"), "Constraint");

		if (sub && strcmp(sub, "C") == 0 && con &&
			!json_is_true(json_object_get(con, "skip_validation")))
			lint_report(c, LR_BAN_ALTER_DOMAIN_WITH_ADD_CONSTRAINT, c->s->start,
						"ALTER DOMAIN \"%s\" ADD CONSTRAINT checks every column of the domain",
						sqlf_last_name(json_object_get(st, "typeName")));
	}
}

void
lint_vacuum(lint_ctx *c, json_t *st)
{
	size_t i;
	json_t *o;

	json_array_foreach(json_object_get(st, "options"), i, o) {
		const char *d = json_string_value(json_object_get(json_object_get(o, "DefElem"), "defname"));
		const char *t = rv_name(json_object_get(json_object_get(
			json_array_get(json_object_get(st, "rels"), 0), "VacuumRelation"), "relation"));

		if (d && strcmp(d, "full") == 0 && !lint_created(c, t))
			lint_report(c, LR_BAN_VACUUM_FULL, c->s->start, "VACUUM FULL%s%s%s rewrites %s",
						t ? " \"" : "", t ? t : "", t ? "\"" : "",
						t ? "the table" : "every table");
	}
}

