/*
 * pg_lint.c: the linter's driver (see pg_lint.h): findings, shunt-lint
 * directives, transactions, lock_timeout, and every statement other than
 * CREATE/ALTER TABLE (those are in pg_lint_alter.c).
 *
 * The checker knows only what the file says.  A table the file creates is
 * new and empty, so locks, scans and rewrites on it are not flagged; a
 * column's current type is known only when the file declares it.
 */
#include "pg/pg_lint.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "pg/pg_lint_int.h"

#define DIRECTIVE "shunt-lint:"

/* ---- small lists ---- */

void
lint_strs_add(lint_strs *l, const char *s)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 8;
		l->v = shunt_xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n++] = shunt_xstrdup(s);
}

bool
lint_strs_has(const lint_strs *l, const char *s)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i], s) == 0)
			return true;
	return false;
}

void
lint_strs_release(lint_strs *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

bool
lint_created(const lint_ctx *c, const char *name)
{
	return name != NULL && lint_strs_has(&c->created, name);
}

/* ---- findings ---- */

lint_finding *
lint_report(lint_ctx *c, lint_rule_id id, size_t off, const char *fmt, ...)
{
	lint_finding *fd;
	shunt_buf msg = SHUNT_BUF_INIT;
	va_list ap;

	if (c->o->disabled[id] || c->file_off[id])
		return NULL;
	if (c->stmt >= 0 && c->stmt_off != NULL) {
		const bool *row = c->stmt_off + (size_t)c->stmt * (LR__COUNT + 1);

		if (row[id] || (row[LR__COUNT] && id != LR_SYNTAX_ERROR))
			return NULL;
	}
	if (c->out->n == c->out->cap) {
		c->out->cap = c->out->cap ? c->out->cap * 2 : 16;
		c->out->v = shunt_xrealloc(c->out->v, c->out->cap * sizeof(*c->out->v));
	}
	fd = &c->out->v[c->out->n++];
	memset(fd, 0, sizeof(*fd));
	fd->rule = &lint_rules[id];
	fd->stmt = c->stmt;
	sqlf_position(c->f, off, &fd->line, &fd->column);
	buf_init(&msg);
	va_start(ap, fmt);
	buf_vprintf(&msg, fmt, ap);
	va_end(ap);
	fd->message = buf_detach(&msg);
	return fd;
}

void
lint_result_release(lint_result *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->v[i].message);
		free(r->v[i].lock);
		free(r->v[i].fix);
	}
	free(r->v);
	memset(r, 0, sizeof(*r));
}

void
lint_put_tokens(lint_ctx *c, shunt_buf *b, size_t first, size_t end)
{
	sqlf_put_slice(b, c->f, first, end);
}

void
lint_put_with_word(lint_ctx *c, shunt_buf *b, size_t at, const char *word)
{
	size_t after = sqlf_tok_next(c->f, at);

	sqlf_put_slice(b, c->f, c->s->tok_first, after);
	buf_putc(b, ' ');
	buf_put(b, word);
	if (after < c->s->tok_end) {
		buf_putc(b, ' ');
		sqlf_put_slice(b, c->f, after, c->s->tok_end);
	}
	buf_putc(b, ';');
}

bool
lint_want_robust(const lint_ctx *c)
{
	return !c->in_tx && c->f->n_stmts > 1;
}

/* ---- directives ---- */

/* Applies "disable=a,b" or "disable-file=a,b" (text after the marker) to
 * row (LR__COUNT + 1 flags); false when it names no known rule. */
static bool
parse_directive(const char *p, size_t len, bool *row, bool *file, bool *is_file)
{
	const char *end = p + len;
	bool any = false;

	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if ((size_t)(end - p) >= 13 && strncmp(p, "disable-file=", 13) == 0) {
		*is_file = true;
		p += 13;
	} else if ((size_t)(end - p) >= 8 && strncmp(p, "disable=", 8) == 0) {
		*is_file = false;
		p += 8;
	} else
		return false;
	/* names separated by commas (white space around them allowed); the
	 * first name not followed by a comma ends the list, the rest of the
	 * comment is prose */
	while (p < end) {
		const char *e;
		char id[64];
		const lint_rule *r;
		size_t n;

		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		for (e = p; e < end && *e != ',' && *e != ' ' && *e != '\t' && *e != '\n'; e++)
			;
		n = (size_t)(e - p);
		if (n > 0) {
			if (n >= sizeof(id))
				return false;
			memcpy(id, p, n);
			id[n] = '\0';
			if (strcmp(id, "all") == 0) {
				if (*is_file)
					for (size_t i = 0; i < LR__COUNT; i++)
						file[i] = i != LR_SYNTAX_ERROR;
				else
					row[LR__COUNT] = true;
			} else if ((r = lint_rule_find(id)) == NULL)
				return false;
			else if (*is_file)
				file[r->id] = true;
			else
				row[r->id] = true;
			any = true;
		}
		while (e < end && (*e == ' ' || *e == '\t'))
			e++;
		if (e >= end || *e != ',')
			break;
		p = e + 1;
	}
	return any;
}

/* Reads every "shunt-lint:" comment of the file.  Problems become
 * invalid-directive findings after all directives are known. */
static void
read_directives(lint_ctx *c)
{
	const sqlf_file *f = c->f;
	size_t n_bad = 0, *bad = NULL;

	c->stmt_off = shunt_xcalloc(f->n_stmts ? f->n_stmts : 1, (LR__COUNT + 1) * sizeof(bool));
	for (size_t t = 0; t < f->n_toks; t++) {
		size_t len;
		const char *text;
		long st;
		bool scratch[LR__COUNT + 1], is_file = false, ok;

		if (!f->toks[t].comment)
			continue;
		text = sqlf_comment_text(f, t, &len);
		if (len < strlen(DIRECTIVE) || strncmp(text, DIRECTIVE, strlen(DIRECTIVE)) != 0)
			continue;
		text += strlen(DIRECTIVE);
		len -= strlen(DIRECTIVE);
		st = sqlf_comment_stmt(f, t);
		memset(scratch, 0, sizeof(scratch));
		ok = parse_directive(text, len,
							 st >= 0 ? c->stmt_off + (size_t)st * (LR__COUNT + 1) : scratch,
							 c->file_off, &is_file);
		if (!ok || (!is_file && st < 0)) {
			bad = shunt_xrealloc(bad, (n_bad + 1) * sizeof(*bad));
			bad[n_bad++] = t;
		}
	}
	for (size_t i = 0; i < n_bad; i++) {
		c->stmt = sqlf_comment_stmt(f, bad[i]);
		lint_report(c, LR_INVALID_DIRECTIVE, f->toks[bad[i]].start,
					"this shunt-lint comment %s",
					c->stmt < 0 ? "is after the last statement" : "names no known rule");
	}
	free(bad);
}

/* ---- settings and transactions ---- */

/* Whether a lock_timeout value means "no timeout". */
static bool
zero_timeout(json_t *arg)
{
	long v;
	const char *s = sqlf_const_str(arg);

	if (sqlf_const_int(arg, &v))
		return v == 0;
	if (s == NULL)
		return false;
	while (*s == '0')
		s++;
	return *s == '\0' || strcasecmp(s, "s") == 0 || strcasecmp(s, "ms") == 0 ||
		   strcasecmp(s, "min") == 0;
}

static void
set_lock_timeout(lint_ctx *c, bool on, bool local)
{
	if (local) {
		if (c->in_tx)
			c->lt_local = on;
		return;
	}
	c->lt_session = on;
	if (!on)
		c->lt_local = false;
}

static void
variable_set(lint_ctx *c, json_t *st)
{
	const char *name = json_string_value(json_object_get(st, "name"));
	const char *kind = json_string_value(json_object_get(st, "kind"));
	json_t *args = json_object_get(st, "args");
	bool local = json_is_true(json_object_get(st, "is_local"));

	if (name == NULL || strcmp(name, "lock_timeout") != 0 || kind == NULL)
		return;
	if (strcmp(kind, "VAR_SET_VALUE") == 0)
		set_lock_timeout(c, !zero_timeout(json_array_get(args, 0)), local);
	else if (strcmp(kind, "VAR_SET_DEFAULT") == 0 || strcmp(kind, "VAR_RESET") == 0)
		set_lock_timeout(c, false, local);
}

/* SELECT set_config('lock_timeout', value, is_local) as shunt itself does. */
static void
select_set_config(lint_ctx *c, json_t *st)
{
	size_t i;
	json_t *target;

	json_array_foreach(json_object_get(st, "targetList"), i, target) {
		json_t *fc = json_object_get(json_object_get(json_object_get(target, "ResTarget"),
													 "val"), "FuncCall");
		json_t *args = json_object_get(fc, "args");
		const char *fn = sqlf_last_name(json_object_get(fc, "funcname"));
		const char *setting = sqlf_const_str(json_array_get(args, 0));
		json_t *local = json_object_get(json_object_get(json_array_get(args, 2), "A_Const"),
										"boolval");

		if (fn == NULL || strcmp(fn, "set_config") != 0 || setting == NULL ||
			strcmp(setting, "lock_timeout") != 0)
			continue;
		set_lock_timeout(c, !zero_timeout(json_array_get(args, 1)),
						 json_is_true(json_object_get(local, "boolval")));
	}
}

static void
transaction(lint_ctx *c, json_t *st)
{
	const char *kind = json_string_value(json_object_get(st, "kind"));

	if (kind == NULL)
		return;
	if (strcmp(kind, "TRANS_STMT_BEGIN") == 0 || strcmp(kind, "TRANS_STMT_START") == 0) {
		if (c->in_tx) {
			lint_report(c, LR_TRANSACTION_NESTING, c->s->start,
						"BEGIN inside a transaction%s",
						c->o->assume_in_transaction ? " (the file is assumed to run in one)" : "");
			return;
		}
		c->in_tx = true;
		c->tx++;
		c->tx_begin_stmt = c->stmt;
		c->tx_ddl = c->tx_dml = c->tx_mixed_reported = false;
	} else if (strcmp(kind, "TRANS_STMT_COMMIT") == 0 ||
			   strcmp(kind, "TRANS_STMT_ROLLBACK") == 0 ||
			   strcmp(kind, "TRANS_STMT_PREPARE") == 0) {
		if (!c->in_tx || c->o->assume_in_transaction) {
			lint_report(c, LR_TRANSACTION_NESTING, c->s->start, "%s %s",
						strcmp(kind, "TRANS_STMT_ROLLBACK") == 0 ? "ROLLBACK" : "COMMIT",
						c->o->assume_in_transaction
							? "ends the transaction the file is assumed to run in"
							: "without a transaction in progress");
			if (c->o->assume_in_transaction)
				return;
		}
		c->in_tx = false;
		c->lt_local = false;
		c->tx_begin_stmt = -1;
	}
}

/* ---- which statements lock existing tables ---- */

/* The table name of a RangeVar body, or NULL. */
static const char *
rv_name(json_t *rv)
{
	return json_string_value(json_object_get(rv, "relname"));
}

const char *
lint_index_table(const lint_ctx *c, const char *index)
{
	size_t n = strlen(index);

	for (size_t i = 0; i < c->indexes.n; i++)
		if (strncmp(c->indexes.v[i], index, n) == 0 && c->indexes.v[i][n] == '\t')
			return c->indexes.v[i] + n + 1;
	return NULL;
}

/* Whether an ALTER TABLE takes a lock that blocks the application: all but
 * VALIDATE CONSTRAINT and DETACH ... CONCURRENTLY do. */
static bool
alter_blocks(json_t *st)
{
	size_t i;
	json_t *cmd;

	json_array_foreach(json_object_get(st, "cmds"), i, cmd) {
		json_t *b = json_object_get(cmd, "AlterTableCmd");
		const char *sub = json_string_value(json_object_get(b, "subtype"));
		json_t *pc = json_object_get(json_object_get(b, "def"), "PartitionCmd");

		if (sub == NULL)
			return true;
		if (strcmp(sub, "AT_ValidateConstraint") == 0)
			continue;
		if (strcmp(sub, "AT_DetachPartition") == 0 && json_is_true(json_object_get(pc, "concurrent")))
			continue;
		return true;
	}
	return false;
}

/* A name for the existing table a statement locks against the application
 * (anything from SHARE up), or NULL. */
static const char *
locked_table(lint_ctx *c)
{
	const char *k = c->s->kind;
	json_t *st = c->s->body, *rv = json_object_get(st, "relation");
	const char *name = NULL;

	if (strcmp(k, "AlterTableStmt") == 0)
		name = alter_blocks(st) ? rv_name(rv) : NULL;
	else if (strcmp(k, "IndexStmt") == 0 || strcmp(k, "ReindexStmt") == 0 ||
			 strcmp(k, "RefreshMatViewStmt") == 0) {
		bool conc = json_is_true(json_object_get(st, "concurrent"));
		size_t i;
		json_t *p;

		/* REINDEX (CONCURRENTLY) and REINDEX ... CONCURRENTLY */
		json_array_foreach(json_object_get(st, "params"), i, p) {
			const char *d = json_string_value(
				json_object_get(json_object_get(p, "DefElem"), "defname"));

			conc = conc || (d && strcmp(d, "concurrently") == 0);
		}
		name = conc ? NULL : rv_name(rv);
	} else if (strcmp(k, "RenameStmt") == 0 || strcmp(k, "ClusterStmt") == 0 ||
			   strcmp(k, "CreateTrigStmt") == 0)
		name = rv_name(rv);
	else if (strcmp(k, "TruncateStmt") == 0 ||
			 (strcmp(k, "LockStmt") == 0 && sqlf_int(st, "mode", 8) >= 5)) {
		json_t *r = json_object_get(json_array_get(json_object_get(st, "relations"), 0),
									"RangeVar");

		name = rv_name(r);
	} else if (strcmp(k, "DropStmt") == 0) {
		const char *type = json_string_value(json_object_get(st, "removeType"));
		json_t *items = json_object_get(json_object_get(
			json_array_get(json_object_get(st, "objects"), 0), "List"), "items");
		const char *obj = sqlf_last_name(items);

		if (type == NULL || obj == NULL || json_is_true(json_object_get(st, "concurrent")))
			return NULL;
		if (strcmp(type, "OBJECT_TABLE") == 0)
			name = obj;
		else if (strcmp(type, "OBJECT_INDEX") == 0)
			name = lint_index_table(c, obj) ? lint_index_table(c, obj) : obj;
	} else if (strcmp(k, "VacuumStmt") == 0) {
		size_t i;
		json_t *o;

		json_array_foreach(json_object_get(st, "options"), i, o) {
			const char *d = json_string_value(json_object_get(
				json_object_get(o, "DefElem"), "defname"));

			if (d && strcmp(d, "full") == 0)
				name = rv_name(json_object_get(json_object_get(
					json_array_get(json_object_get(st, "rels"), 0), "VacuumRelation"),
					"relation"));
		}
	}
	return name != NULL && !lint_created(c, name) ? name : NULL;
}

/* DML that touches a whole table: UPDATE/DELETE without WHERE, INSERT ...
 * SELECT ... FROM.  Sets *table. */
static bool
large_dml(const lint_ctx *c, const char **table)
{
	const char *k = c->s->kind;
	json_t *st = c->s->body;

	*table = rv_name(json_object_get(st, "relation"));
	if (strcmp(k, "UpdateStmt") == 0 || strcmp(k, "DeleteStmt") == 0)
		return json_object_get(st, "whereClause") == NULL;
	if (strcmp(k, "InsertStmt") == 0) {
		json_t *sel = json_object_get(json_object_get(st, "selectStmt"), "SelectStmt");

		return json_array_size(json_object_get(sel, "fromClause")) > 0 ||
			   json_object_get(sel, "larg") != NULL;
	}
	return false;
}

/* Rules that look at the statement's place in the file: lock_timeout and
 * DDL mixed with large DML in one transaction. */
static void
check_context(lint_ctx *c)
{
	const char *locked = locked_table(c), *dml_table = NULL;
	bool dml = large_dml(c, &dml_table);

	if (locked != NULL && !c->lt_session && !(c->lt_local && c->in_tx) && !c->lt_reported) {
		lint_finding *fd = lint_report(c, LR_REQUIRE_LOCK_TIMEOUT, c->s->start,
									   "no lock_timeout is set before this statement locks \"%s\"",
									   locked);

		c->lt_reported = true;
		if (fd)
			fd->fix = shunt_xstrdup("SET lock_timeout = '1s'; at the top of the file "
									"(retry the migration when it times out)");
	}
	if (dml && dml_table != NULL && !lint_created(c, dml_table) &&
		(strcmp(c->s->kind, "UpdateStmt") == 0 || strcmp(c->s->kind, "DeleteStmt") == 0))
		lint_report(c, LR_UNBATCHED_BACKFILL, c->s->start,
					"%s of every row of \"%s\" in one statement",
					strcmp(c->s->kind, "UpdateStmt") == 0 ? "UPDATE" : "DELETE", dml_table);
	if (!c->in_tx)
		return;
	if (locked != NULL)
		c->tx_ddl = true;
	if (dml && dml_table != NULL)
		c->tx_dml = true;
	if ((locked != NULL || dml) && c->tx_ddl && c->tx_dml && !c->tx_mixed_reported) {
		c->tx_mixed_reported = true;
		lint_report(c, LR_MIXED_DDL_AND_DML, c->s->start,
					"DDL and a whole-table data change in the same transaction");
	}
}

static void
check_statement(lint_ctx *c)
{
	const char *k = c->s->kind;
	json_t *st = c->s->body;

	if (k == NULL)
		return;
	check_context(c);
	if (strcmp(k, "VariableSetStmt") == 0)
		variable_set(c, st);
	else if (strcmp(k, "SelectStmt") == 0)
		select_set_config(c, st);
	else if (strcmp(k, "TransactionStmt") == 0)
		transaction(c, st);
	else if (strcmp(k, "CreateStmt") == 0)
		lint_create_table(c, st);
	else if (strcmp(k, "CreateTableAsStmt") == 0) {
		const char *t = rv_name(json_object_get(json_object_get(json_object_get(st, "into"),
																"IntoClause"), "rel"));

		if (t)
			lint_strs_add(&c->created, t);
	} else if (strcmp(k, "AlterTableStmt") == 0)
		lint_alter_table(c, st);
	else if (strcmp(k, "IndexStmt") == 0)
		lint_create_index(c, st);
	else if (strcmp(k, "DropStmt") == 0)
		lint_drop(c, st);
	else if (strcmp(k, "RenameStmt") == 0)
		lint_rename(c, st);
	else if (strcmp(k, "ReindexStmt") == 0)
		lint_reindex(c, st);
	else if (strcmp(k, "VacuumStmt") == 0)
		lint_vacuum(c, st);
	else
		lint_simple_statement(c, k, st);
}

/* ---- driver ---- */

static int
finding_cmp(const void *a, const void *b)
{
	const lint_finding *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->column != y->column)
		return x->column < y->column ? -1 : 1;
	return x->rule->id < y->rule->id ? -1 : x->rule->id > y->rule->id;
}

lint_schema *
lint_schema_new(void)
{
	return shunt_xcalloc(1, sizeof(lint_schema));
}

void
lint_schema_free(lint_schema *sc)
{
	if (sc == NULL)
		return;
	for (size_t i = 0; i < sc->n_cols; i++) {
		free(sc->cols[i].table);
		free(sc->cols[i].column);
		free(sc->cols[i].base);
	}
	free(sc->cols);
	json_decref(sc->col_index);
	for (size_t i = 0; i < sc->n_checks; i++) {
		free(sc->checks[i].table);
		free(sc->checks[i].name);
		free(sc->checks[i].notnull_col);
	}
	free(sc->checks);
	free(sc);
}

static void
ctx_release(lint_ctx *c)
{
	free(c->stmt_off);
	lint_strs_release(&c->created);
	lint_strs_release(&c->indexes);
	lint_strs_release(&c->names);
	/* transactions end with the file */
	for (size_t i = 0; c->schema && i < c->schema->n_checks; i++)
		c->schema->checks[i].tx = -1;
	lint_schema_free(c->own_schema);
}

int
pg_lint_text(const char *text, size_t len, const char *filename, const lint_opts *o,
			 lint_schema *schema, lint_result *out, shunt_error *err)
{
	sqlf_file f;
	lint_ctx c;
	size_t first_new = out->n;
	int rc = -1;

	memset(&c, 0, sizeof(c));
	if (schema == NULL)
		schema = c.own_schema = lint_schema_new();
	c.schema = schema;
	if (sqlf_load(&f, filename, text, len, err) != 0)
		goto done;
	c.f = &f;
	c.o = o;
	c.out = out;
	c.tx_begin_stmt = -1;
	c.in_tx = o->assume_in_transaction;
	c.stmt = -1;
	if (f.syntax_error) {
		lint_report(&c, LR_SYNTAX_ERROR, f.error_offset, "%s", f.error_message);
		rc = 0;
		goto done;
	}
	read_directives(&c);
	for (size_t i = 0; i < f.n_stmts; i++) {
		c.stmt = (long)i;
		c.s = &f.stmts[i];
		check_statement(&c);
	}
	if (c.in_tx && c.tx_begin_stmt >= 0) {
		c.stmt = c.tx_begin_stmt;
		c.s = &f.stmts[c.tx_begin_stmt];
		lint_report(&c, LR_BAN_UNCOMMITTED_TRANSACTION, c.s->start,
					"this transaction is not committed before the end of the file");
	}
	if (out->n > first_new)
		qsort(out->v + first_new, out->n - first_new, sizeof(*out->v), finding_cmp);
	rc = 0;
done:
	ctx_release(&c);
	sqlf_release(&f);
	return rc;
}
