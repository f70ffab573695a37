/*
 * pg_sqlfile.h: a whole SQL file as PostgreSQL's own parser sees it, for
 * `shunt lint` and `shunt convert`: the parse tree (libpg_query's JSON),
 * every token including comments, the extent of each statement, which
 * statement a comment belongs to, line/column positions, and slices of the
 * original text.
 *
 * Slices are rebuilt from tokens, so they are exact SQL: whatever lies
 * between two tokens (white space, comments) becomes one space, and a
 * trailing "-- comment" can never swallow text that follows the slice.
 *
 * Depends on core/ (alloc, buf, error), libpg_query and jansson; never on
 * libpq.  Never prints.
 */
#ifndef SHUNT_PG_SQLFILE_H
#define SHUNT_PG_SQLFILE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "core/buf.h"
#include "core/error.h"

/* pg_query.proto KeywordKind values. */
#define SQLF_KW_NONE 0
#define SQLF_KW_UNRESERVED 1
#define SQLF_KW_COL_NAME 2
#define SQLF_KW_TYPE_FUNC_NAME 3
#define SQLF_KW_RESERVED 4

typedef struct sqlf_token {
	size_t start;	/* byte offsets, end exclusive */
	size_t end;
	int kind;		/* pg_query.proto Token */
	int keyword;	/* SQLF_KW_* */
	bool comment;	/* "-- ..." or C-style comment */
} sqlf_token;

typedef struct sqlf_stmt {
	const char *kind;	/* node name, "AlterTableStmt"; borrowed from the tree */
	json_t *body;		/* the node's object; borrowed from the tree */
	size_t start;		/* byte offset of the first token */
	size_t end;			/* end of the last token, before any ';' */
	size_t tok_first;	/* toks index of the first token */
	size_t tok_end;		/* one past the last token (comments may lie inside) */
} sqlf_stmt;

typedef struct sqlf_file {
	char *name;			/* as given, "<stdin>" for NULL */
	char *text;			/* NUL-terminated copy */
	size_t len;
	json_t *root;		/* NULL after a syntax error */
	sqlf_token *toks;	/* every token, comments included, in order */
	size_t n_toks;
	sqlf_stmt *stmts;
	size_t n_stmts;
	size_t *line_starts; /* byte offset of each line's start */
	size_t n_lines;
	bool syntax_error;	/* the grammar or the scanner refused the text */
	char error_message[256];
	size_t error_offset; /* byte offset of the error */
} sqlf_file;

/*
 * Parses and scans text (len bytes; the text is copied).  Returns 0 with f
 * filled, also when the text is not valid SQL: then f->syntax_error is set
 * with a message and offset, and there are no statements.  Returns -1 with
 * err filled only for text with a NUL byte (SHUNT_E_INPUT) or an internal
 * failure.  Release f with sqlf_release() in every case.  Every libpg_query
 * result is freed before this returns.
 */
int sqlf_load(sqlf_file *f, const char *name, const char *text, size_t len,
			  shunt_error *err);

/* Frees what f holds; f may be zeroed or partly filled. */
void sqlf_release(sqlf_file *f);

/* 1-based line and column (in characters) of byte offset off. */
void sqlf_position(const sqlf_file *f, size_t off, size_t *line, size_t *column);

/* 1-based line of byte offset off. */
size_t sqlf_line(const sqlf_file *f, size_t off);

/*
 * The statement comment token tok belongs to, or -1: a comment inside a
 * statement, or after it on the line where it ends, belongs to it; any
 * other comment belongs to the next statement; comments after the last
 * statement belong to none.
 */
long sqlf_comment_stmt(const sqlf_file *f, size_t tok);

/* The text of comment token tok without its markers ("--", C-style
 * delimiters) and surrounding white space: a pointer into f->text and its
 * length in *len. */
const char *sqlf_comment_text(const sqlf_file *f, size_t tok, size_t *len);

/* Index of the first non-comment token that starts at or after off, or
 * f->n_toks. */
size_t sqlf_tok_at(const sqlf_file *f, size_t off);

/* Index of the next non-comment token after i (at most f->n_toks). */
size_t sqlf_tok_next(const sqlf_file *f, size_t i);

/* Whether token i (not a comment) is the keyword or punctuation word,
 * compared without case. */
bool sqlf_tok_is(const sqlf_file *f, size_t i, const char *word);

/* Token index of the first token after the statement's last one if it is
 * ";" and otherwise of the statement's last token. */
size_t sqlf_stmt_terminator(const sqlf_file *f, const sqlf_stmt *s);

/* Stop conditions of sqlf_expr_end(). */
#define SQLF_STOP_COLUMN_CONSTRAINT 1u /* NOT, NULL, CHECK, DEFAULT, ... */
#define SQLF_STOP_USING 2u             /* USING (ALTER COLUMN ... TYPE t USING) */
#define SQLF_STOP_COLLATE 4u           /* COLLATE */
#define SQLF_STOP_INDEX_TAIL 8u        /* INCLUDE, WITH, TABLESPACE, WHERE */

/*
 * End (exclusive token index) of the expression or type name that starts at
 * token first and may extend up to token limit: the first token, at nesting
 * depth 0 and after the first token, that is ",", ")", ";", or a word that
 * the stop flags name.  Parentheses, brackets and CASE ... END nest.
 */
size_t sqlf_expr_end(const sqlf_file *f, size_t first, size_t limit,
					 unsigned stop);

/* Token index of the ")" that closes the "(" at token open, or limit. */
size_t sqlf_match_paren(const sqlf_file *f, size_t open, size_t limit);

/*
 * The text of tokens [first, end) as one line of SQL: comments and runs of
 * white space between tokens become one space.  malloc'd, owned by the
 * caller; "" for an empty range.
 */
char *sqlf_slice(const sqlf_file *f, size_t first, size_t end);

/* Appends the same text as sqlf_slice() to b. */
void sqlf_put_slice(shunt_buf *b, const sqlf_file *f, size_t first, size_t end);

/*
 * Appends name to b as an SQL identifier: bare when the server would read
 * it back unchanged (lower case letters, digits, "_" and "$", and not a
 * reserved word), else double-quoted with quotes doubled.
 */
void sqlf_put_ident(shunt_buf *b, const char *name);

/* One past the last token of the possibly qualified name (a.b.c) that
 * starts at token i; i when there is no name there. */
size_t sqlf_skip_name(const sqlf_file *f, size_t i);

/*
 * Splits tokens [first, limit) at commas outside parentheses, brackets and
 * CASE ... END.  Stores up to max spans (start, exclusive end) and returns
 * how many there are, which may be more than max.
 */
size_t sqlf_split_commas(const sqlf_file *f, size_t first, size_t limit,
						 size_t *starts, size_t *ends, size_t max);

/*
 * The token spans of the n subcommands of ALTER TABLE statement s (whose
 * relation is the RangeVar body rel): false when its text does not split
 * into exactly n of them.
 */
bool sqlf_alter_cmd_spans(const sqlf_file *f, const sqlf_stmt *s, json_t *rel,
						  size_t n, size_t *starts, size_t *ends);

/*
 * Appends the name PostgreSQL gives an object it names itself
 * (makeObjectName): name1, then "_" name2 if not NULL, then "_" label,
 * the longer of name1 and name2 shortened until the whole fits in 63 bytes.
 */
void sqlf_put_object_name(shunt_buf *b, const char *name1, const char *name2,
						  const char *label);

/* Appends a string literal: 'text' with quotes doubled. */
void sqlf_put_literal(shunt_buf *b, const char *text);

/* The single key of a node object {"Kind": {...}} and its value; NULL when
 * node is not such an object. */
const char *sqlf_node_kind(json_t *node, json_t **body);

/* The "sval" of a {"String": {"sval": ...}} node, else NULL. */
const char *sqlf_node_str(json_t *node);

/* The last name of a name list ([{"String": ...}, ...]): "int4" for
 * pg_catalog.int4.  NULL for an empty or odd list. */
const char *sqlf_last_name(json_t *names);

/* An integer member of obj, or dflt when absent or not an integer. */
long sqlf_int(json_t *obj, const char *key, long dflt);

/*
 * The value of an integer constant node ({"A_Const": {"ival": {"ival": 3}}}
 * or {"Integer": {"ival": 3}}); libpg_query leaves zero out ({"ival": {}}).
 * Returns false for any other node.
 */
bool sqlf_const_int(json_t *node, long *out);

/* The text of a string constant node ({"A_Const": {"sval": ...}} or
 * {"String": ...}), else NULL. */
const char *sqlf_const_str(json_t *node);

#endif
