/*
 * pg_parse.h: what shunt knows about SQL text without a server, through
 * libpg_query (PostgreSQL 15's own scanner and grammar).
 *
 * It validates user SQL fragments (backfill expressions, CHECK expressions,
 * index predicates, column defaults) before they are spliced into generated
 * statements, rewrites column references when an operation moves an
 * expression or index from an old column to a new one, and quotes
 * identifiers for offline rendering.  Rewrites splice into the original text
 * instead of deparsing, so everything not renamed stays byte for byte.
 *
 * Depends on core/ (alloc, buf, error), libpg_query and jansson; never on
 * libpq.  libpg_query keeps one memory context per thread, so these
 * functions may run in several threads at once.
 */
#ifndef SHUNT_PG_PARSE_H
#define SHUNT_PG_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/error.h"

/* Longest identifier the server keeps (NAMEDATALEN - 1 in a default
 * build); longer ones are truncated with only a NOTICE. */
#define PG_PARSE_MAX_IDENT_LEN 63

/*
 * Returns 0 if expr is exactly one SQL value expression, such as
 * "UPPER(name)", "(random()*1000)::int" or a scalar subquery written as
 * "SELECT CASE WHEN ... END".  shunt embeds such text as "(" expr "\n)"
 * (the newline keeps a trailing "-- comment" from swallowing the
 * parenthesis); this checks that doing so yields one expression and nothing
 * else: balanced parentheses that never close the wrapper, no second
 * statement, no alias, FROM or INTO, no $n parameters (they would bind to
 * shunt's own parameters) and no data-modifying statements.
 *
 * Otherwise returns -1 and fills err with SHUNT_E_INPUT, a message naming
 * the field (`invalid SQL expression in "up": syntax error at or near
 * "FROM"`), err->position (1-based character in expr) and a psql-like
 * "LINE n: ..." line with a caret in err->detail.  what may be NULL.
 *
 * XXX: function calls are not restricted: an expression may still call a
 * function with side effects.  The migration file is trusted to that
 * extent; this guards against malformed and spliced-in text.
 *
 * libpg_query lexes with standard_conforming_strings on.  A session that
 * runs checked text must have it on as well: with it off the server reads
 * 'a\' -- '); DROP TABLE t; --' as a string followed by a second statement,
 * where this check saw one string and a comment.
 */
int pg_parse_check_expression(const char *expr, const char *what,
							  shunt_error *err);

/*
 * Returns a copy of expr (which must pass pg_parse_check_expression) in
 * which every unqualified, single-field column reference to a column named
 * from[i] is replaced by the quoted identifier to[i]; all renames apply to
 * the original text at once, so swapping two names works.  Names compare
 * exactly, after the parser's folding: from[i] is the column's real name
 * ("Name" matches "Name" but not Name, which folds to name).  String
 * literals, comments, function and type names and qualified references
 * (t.col) are left alone.  The result is malloc'd and owned by the caller;
 * NULL with err filled (SHUNT_E_INPUT) if expr is not an expression, a
 * to[i] is empty, or a matching reference is written in a form this does
 * not rewrite (U&"..." identifiers).
 *
 * XXX: scoping is ignored: an unqualified reference inside a subquery is
 * renamed even when it names a column of a table in the subquery's own
 * FROM list.  Qualify such references in the subquery.
 */
char *pg_parse_rename_columns(const char *expr, const char *const *from,
							  const char *const *to, size_t n,
							  shunt_error *err);

/*
 * Returns a copy of indexdef, one CREATE INDEX statement as
 * pg_get_indexdef() prints it, with the key columns, INCLUDE columns and
 * the column references in index expressions and the WHERE predicate that
 * name from[i] replaced by the quoted identifier to[i].  The index name,
 * table, access method, opclasses (and their options), collations and
 * function names are untouched even when spelled like a renamed column.
 * Same name matching and XXX as pg_parse_rename_columns().  malloc'd, owned
 * by the caller; NULL with err filled (SHUNT_E_INPUT for text that is not
 * one CREATE INDEX statement).
 */
char *pg_parse_rename_index_columns(const char *indexdef,
									const char *const *from,
									const char *const *to, size_t n,
									shunt_error *err);

/*
 * Returns a copy of indexdef (one CREATE INDEX statement) whose head is
 * rewritten as "CREATE [UNIQUE] INDEX [CONCURRENTLY] [IF NOT EXISTS]
 * "newname" ON ...": the old name (quoted or not, or missing) is replaced
 * and CONCURRENTLY is added or removed as asked; text from ON on is kept
 * as it was.  newname must be 1 to PG_PARSE_MAX_IDENT_LEN bytes, so that
 * the server cannot silently truncate it into a name shunt did not record.
 * malloc'd, owned by the caller; NULL with err filled (SHUNT_E_INPUT).
 */
char *pg_parse_set_index_name(const char *indexdef, const char *newname,
							  bool concurrently, shunt_error *err);

/*
 * When expr is a query of the form "SELECT e" (one unnamed target, no FROM,
 * WHERE or anything else), returns a malloc'd copy of e's text; else NULL.
 * An up/down expression written "SELECT CASE ... END" (as pgroll's examples
 * do) becomes a subquery in the sync trigger, which PL/pgSQL runs through
 * the executor per row; the bare expression takes its fast path (the
 * assignment is itself evaluated as SELECT e, so the result is the same).
 */
char *pg_parse_unwrap_select(const char *expr);

/*
 * Returns a copy of def, one CREATE INDEX (trigger false) or CREATE TRIGGER
 * statement as pg_get_indexdef / pg_get_triggerdef print it, with the
 * object's name replaced by newname (quoted) and the table after ON by
 * new_relation (SQL text, already quoted): the online rebuild recreates a
 * table's indexes and triggers on its shadow.  malloc'd, or NULL with err.
 */
char *pg_parse_retarget(const char *def, bool trigger, const char *newname,
						const char *new_relation, shunt_error *err);

/*
 * Checks that clauses (what follows "ALTER TABLE name" in --alter) make one
 * ALTER TABLE statement on relation (quoted SQL text) and returns that
 * statement, malloc'd; NULL with err (SHUNT_E_INPUT) otherwise, also for a
 * type change with USING, which the rebuild's cast-based copy cannot follow.
 */
char *pg_parse_alter_table(const char *clauses, const char *relation,
						   shunt_error *err);

/*
 * Parses arbitrary SQL (zero or more statements).  Returns 0 and stores the
 * number of statements (0 for empty or comment-only text) in *n_statements,
 * or -1 with err filled: SHUNT_E_INPUT, message `invalid SQL at line L,
 * column C: <parser message>`, err->position (1-based character) and a
 * caret line in err->detail.  Only the grammar is checked, not whether
 * objects exist.
 */
int pg_parse_statements(const char *sql, size_t *n_statements,
						shunt_error *err);

/*
 * Appends name to b as a double-quoted identifier, always quoted, embedded
 * double quotes doubled: the same text PQescapeIdentifier() returns for
 * valid UTF-8.  The one quoting function for offline rendering.
 */
void pg_quote_ident(shunt_buf *b, const char *name);

/*
 * Frees libpg_query's memory for the calling thread (libpg_query frees it
 * itself when a thread exits).  Optional; for clean valgrind runs call it
 * once before the main thread exits.  Later calls to this module start over.
 */
void pg_parse_cleanup(void);

#endif
