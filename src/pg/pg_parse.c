/*
 * pg_parse.c: libpg_query wrapper; see pg_parse.h.
 *
 * Two views of one text are combined.  The JSON parse tree says what each
 * construct is and where column references start (byte offsets); the
 * scanner's token list gives exact token extents, which the tree lacks for
 * index elements (IndexElem has no location in PostgreSQL 15).  Rewrites
 * are edits spliced into the original text, never a deparse.
 *
 * Every libpg_query result is freed here, once, by its pg_query_free_*
 * function, before the function that obtained it returns.
 */
#include "pg/pg_parse.h"

#include <assert.h>
#include <ctype.h>
#include <jansson.h>
#include <pg_query.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"

/* How an expression is embedded for checking; see pg_parse_check_expression. */
#define EXPR_PREFIX "SELECT ("
#define EXPR_SUFFIX "\n)"
#define EXPR_PREFIX_LEN (sizeof(EXPR_PREFIX) - 1)

/* Token kinds of pg_query.proto (enum Token) that are not tokens to us. */
#define PB_TOKEN_SQL_COMMENT 275
#define PB_TOKEN_C_COMMENT 276

/* A parser or scanner failure, copied out before its result is freed. */
typedef struct pg_fail {
	char message[256];
	int cursorpos; /* 1-based character, 0 if unknown */
} pg_fail;

typedef struct scan_token {
	size_t start; /* byte offsets, end exclusive */
	size_t end;
	int kind;
} scan_token;

typedef struct token_list {
	scan_token *v;
	size_t n;
	size_t cap;
} token_list;

typedef struct rename_map {
	const char *const *from;
	const char *const *to;
	size_t n;
} rename_map;

/* Replace text[start, end) by the quoted identifier map->to[idx]. */
typedef struct edit {
	size_t start;
	size_t end;
	size_t idx;
} edit;

typedef struct edit_list {
	edit *v;
	size_t n;
	size_t cap;
} edit_list;

/* ---- characters and positions ---- */

/* Bytes in the character at s, as PostgreSQL's pg_utf_mblen counts them
 * (libpg_query parses as UTF-8), never past the end of the text. */
static size_t
char_len(const char *s, size_t remaining)
{
	unsigned char c = (unsigned char)*s;
	size_t n = 1;

	if ((c & 0xe0) == 0xc0)
		n = 2;
	else if ((c & 0xf0) == 0xe0)
		n = 3;
	else if ((c & 0xf8) == 0xf0)
		n = 4;
	return n < remaining ? n : remaining;
}

/* Byte offset of 1-based character position pos (the parser's cursorpos). */
static size_t
char_to_byte(const char *s, size_t len, int pos)
{
	size_t off = 0;

	for (int i = 1; i < pos && off < len; i++)
		off += char_len(s + off, len - off);
	return off;
}

/* Number of characters in s[0, off). */
static size_t
count_chars(const char *s, size_t off)
{
	size_t n = 0;

	for (size_t i = 0; i < off; n++)
		i += char_len(s + i, off - i);
	return n;
}

/* Appends to a fixed array, truncating; filling an error never allocates. */
typedef struct fixed_buf {
	char *p;
	size_t cap;
	size_t len;
} fixed_buf;

static void
fixed_putn(fixed_buf *f, const char *s, size_t n)
{
	for (size_t i = 0; i < n && f->len + 1 < f->cap; i++) {
		unsigned char c = (unsigned char)s[i];

		/* keep the caret aligned and the detail free of control codes */
		f->p[f->len++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
	}
	f->p[f->len] = '\0';
}

/* Appends c as it is (fixed_putn turns control characters into spaces). */
static void
fixed_putc(fixed_buf *f, char c, size_t times)
{
	for (size_t i = 0; i < times && f->len + 1 < f->cap; i++)
		f->p[f->len++] = c;
	f->p[f->len] = '\0';
}

/*
 * Sets err->position and a psql-like context for byte offset off of text:
 * "LINE n: <line>" and a caret under the character at off.  Long lines are
 * cut to a window around off, marked with "...".
 */
static void
set_position(shunt_error *err, const char *text, size_t len, size_t off)
{
	char out[sizeof(err->detail)];
	char label[32];
	fixed_buf f = { out, sizeof(out), 0 };
	size_t line_no = 1, ls = 0, le, start, end, before, shown_before;
	bool cut_left = false, cut_right = false;

	if (err == NULL)
		return;
	if (off > len)
		off = len;
	for (size_t i = 0; i < off; i++)
		if (text[i] == '\n') {
			line_no++;
			ls = i + 1;
		}
	for (le = off; le < len && text[le] != '\n'; le++)
		;
	if (le > ls && text[le - 1] == '\r' && le - 1 >= off)
		le--;
	err->position = (int)(count_chars(text, off) + 1);

	/* at most 40 characters before the caret, about 60 in all */
	start = ls;
	before = count_chars(text + ls, off - ls);
	shown_before = before;
	if (before > 40) {
		for (size_t skip = before - 30; skip > 0; skip--)
			start += char_len(text + start, off - start);
		shown_before = 30;
		cut_left = true;
	}
	end = off;
	for (size_t k = shown_before; k < 60 && end < le; k++)
		end += char_len(text + end, le - end);
	cut_right = end < le;

	snprintf(label, sizeof(label), "LINE %zu: ", line_no);
	fixed_putn(&f, label, strlen(label));
	if (cut_left)
		fixed_putn(&f, "...", 3);
	fixed_putn(&f, text + start, end - start);
	if (cut_right)
		fixed_putn(&f, "...", 3);
	fixed_putc(&f, '\n', 1);
	fixed_putc(&f, ' ', strlen(label) + (cut_left ? 3 : 0) + shown_before);
	fixed_putc(&f, '^', 1);
	shunt_error_detail(err, "%s", out);
}

/* Copies a parser message (truncated, still raw: see one_line()). */
static void
copy_message(pg_fail *fail, const PgQueryError *e)
{
	snprintf(fail->message, sizeof(fail->message), "%s",
			 e->message ? e->message : "unknown error");
	fail->cursorpos = e->cursorpos;
}

/* Makes a message one line: the parser quotes input, newlines included. */
static void
one_line(char *msg)
{
	for (; *msg; msg++)
		if ((unsigned char)*msg < 0x20 || *msg == 0x7f)
			*msg = ' ';
}

/* ---- libpg_query calls ---- */

/* Reads a base-128 varint; false on truncated or overlong input. */
static bool
pb_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
	uint64_t v = 0;

	for (unsigned shift = 0; shift < 64 && *p < end; shift += 7) {
		uint8_t byte = *(*p)++;

		v |= (uint64_t)(byte & 0x7f) << shift;
		if ((byte & 0x80) == 0) {
			*out = v;
			return true;
		}
	}
	return false;
}

/* Skips one field value of wire type wt. */
static bool
pb_skip(const uint8_t **p, const uint8_t *end, uint64_t wt)
{
	uint64_t n;

	switch (wt) {
	case 0:
		return pb_varint(p, end, &n);
	case 1:
		n = 8;
		break;
	case 2:
		if (!pb_varint(p, end, &n))
			return false;
		break;
	case 5:
		n = 4;
		break;
	default:
		return false;
	}
	if (n > (uint64_t)(end - *p))
		return false;
	*p += n;
	return true;
}

/* Decodes a ScanToken message: start = 1, end = 2, token = 4 (varints);
 * zero-valued fields are absent in proto3. */
static bool
pb_scan_token(const uint8_t *p, const uint8_t *end, scan_token *t)
{
	uint64_t key, v;

	memset(t, 0, sizeof(*t));
	while (p < end) {
		if (!pb_varint(&p, end, &key))
			return false;
		if ((key & 7) != 0) {
			if (!pb_skip(&p, end, key & 7))
				return false;
			continue;
		}
		if (!pb_varint(&p, end, &v))
			return false;
		if ((key >> 3) == 1)
			t->start = (size_t)v;
		else if ((key >> 3) == 2)
			t->end = (size_t)v;
		else if ((key >> 3) == 4)
			t->kind = (int)v;
	}
	return true;
}

/*
 * Decodes a ScanResult (tokens = field 2), dropping comments.  The generated
 * unpacker needs protobuf-c's header, which libpg-query-dev does not ship;
 * the two messages are small enough to read by hand.
 */
static bool
pb_scan_result(const uint8_t *p, const uint8_t *end, size_t text_len,
			   token_list *out)
{
	uint64_t key, n;
	scan_token t;

	while (p < end) {
		if (!pb_varint(&p, end, &key))
			return false;
		if (key != ((2 << 3) | 2)) {
			if (!pb_skip(&p, end, key & 7))
				return false;
			continue;
		}
		if (!pb_varint(&p, end, &n) || n > (uint64_t)(end - p))
			return false;
		if (!pb_scan_token(p, p + n, &t) || t.start > t.end || t.end > text_len)
			return false;
		p += n;
		if (t.kind == PB_TOKEN_SQL_COMMENT || t.kind == PB_TOKEN_C_COMMENT)
			continue;
		if (out->n == out->cap) {
			out->cap = out->cap ? out->cap * 2 : 32;
			out->v = shunt_xrealloc(out->v, out->cap * sizeof(*out->v));
		}
		out->v[out->n++] = t;
	}
	return true;
}

/* Tokenizes sql.  Returns 0, 1 with fail filled (scanner error such as an
 * unterminated string), or -1 with err filled. */
static int
scan_sql(const char *sql, token_list *out, pg_fail *fail, shunt_error *err)
{
	PgQueryScanResult r = pg_query_scan(sql);
	int ret = 0;

	if (r.error != NULL) {
		copy_message(fail, r.error);
		ret = 1;
	} else if (!pb_scan_result((const uint8_t *)r.pbuf.data,
							   (const uint8_t *)r.pbuf.data + r.pbuf.len,
							   strlen(sql), out)) {
		ret = shunt_error_set(err, SHUNT_E_INTERNAL,
							  "cannot decode libpg_query scanner output");
	}
	pg_query_free_scan_result(r);
	return ret;
}

/* Parses sql into its JSON tree (*root, owned by the caller).  Returns 0, 1
 * with fail filled (syntax error), or -1 with err filled. */
static int
parse_sql(const char *sql, json_t **root, pg_fail *fail, shunt_error *err)
{
	PgQueryParseResult r = pg_query_parse(sql);
	json_error_t jerr;
	int ret = 0;

	*root = NULL;
	if (r.error != NULL) {
		copy_message(fail, r.error);
		ret = 1;
	} else if ((*root = json_loads(r.parse_tree, 0, &jerr)) == NULL) {
		if (json_error_code(&jerr) == json_error_stack_overflow) {
			snprintf(fail->message, sizeof(fail->message), "nesting is too deep");
			fail->cursorpos = 0;
			ret = 1;
		} else {
			ret = shunt_error_set(err, SHUNT_E_INTERNAL,
								  "cannot read libpg_query parse tree: %s",
								  jerr.text);
		}
	}
	pg_query_free_parse_result(r);
	return ret;
}

/* The statement of kind ("SelectStmt") if root holds exactly one, of that
 * kind; else NULL. */
static json_t *
only_statement(json_t *root, const char *kind)
{
	json_t *stmts = json_object_get(root, "stmts");
	json_t *stmt;

	if (!json_is_array(stmts) || json_array_size(stmts) != 1)
		return NULL;
	stmt = json_object_get(json_array_get(stmts, 0), "stmt");
	if (!json_is_object(stmt) || json_object_size(stmt) != 1)
		return NULL;
	return json_object_get(stmt, kind);
}

static bool
json_str_is(json_t *v, const char *s)
{
	return json_is_string(v) && strcmp(json_string_value(v), s) == 0;
}

/* ---- tokens and identifiers ---- */

static bool
tok_is(const char *text, const scan_token *t, const char *word)
{
	size_t n = strlen(word);

	return t->end - t->start == n && strncasecmp(text + t->start, word, n) == 0;
}

static bool
ident_char(unsigned char c, bool first)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
		   c >= 0x80 || (!first && ((c >= '0' && c <= '9') || c == '$'));
}

/* End of the identifier token at text[pos]: a quoted "..."".." or an
 * unquoted one; pos itself if there is none. */
static size_t
ident_end(const char *text, size_t len, size_t pos)
{
	size_t i = pos;

	if (i < len && text[i] == '"') {
		for (i++; i < len; i++)
			if (text[i] == '"') {
				if (i + 1 < len && text[i + 1] == '"')
					i++;
				else
					return i + 1;
			}
		return pos;
	}
	if (i < len && ident_char((unsigned char)text[i], true))
		for (i++; i < len && ident_char((unsigned char)text[i], false); i++)
			;
	return i;
}

/* Whether token text tok[0, n) denotes the identifier name: quoted text
 * undoubled, unquoted text with ASCII letters folded to lower case as the
 * server folds them in a UTF-8 database. */
static bool
ident_denotes(const char *tok, size_t n, const char *name)
{
	size_t j = 0;

	if (n >= 2 && tok[0] == '"' && tok[n - 1] == '"') {
		for (size_t i = 1; i < n - 1; i++, j++) {
			if (name[j] != tok[i])
				return false;
			if (tok[i] == '"')
				i++; /* the doubled quote */
		}
		return name[j] == '\0';
	}
	if (n == 0 || !ident_char((unsigned char)tok[0], true))
		return false;
	for (size_t i = 0; i < n; i++, j++) {
		char c = tok[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (name[j] != c)
			return false;
	}
	return name[j] == '\0';
}

/* Index of the first from[i] equal to name, or map->n. */
static size_t
map_find(const rename_map *map, const char *name)
{
	size_t i;

	for (i = 0; i < map->n; i++)
		if (strcmp(map->from[i], name) == 0)
			break;
	return i;
}

static int
map_check(const rename_map *map, shunt_error *err)
{
	for (size_t i = 0; i < map->n; i++) {
		assert(map->from[i] != NULL && map->to[i] != NULL);
		if (map->to[i][0] == '\0')
			return shunt_error_set(err, SHUNT_E_INPUT,
								   "cannot rename column \"%s\" to an empty name",
								   map->from[i]);
	}
	return 0;
}

/* ---- edits ---- */

static void
edit_add(edit_list *l, size_t start, size_t end, size_t idx)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->v = shunt_xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n].start = start;
	l->v[l->n].end = end;
	l->v[l->n].idx = idx;
	l->n++;
}

static int
edit_cmp(const void *a, const void *b)
{
	const edit *x = a, *y = b;

	return (x->start > y->start) - (x->start < y->start);
}

/* Applies the edits to text; returns the malloc'd result or NULL (err). */
static char *
edits_apply(const char *text, edit_list *l, const rename_map *map,
			shunt_error *err)
{
	shunt_buf b = SHUNT_BUF_INIT;
	size_t at = 0;

	if (l->n > 0)
		qsort(l->v, l->n, sizeof(*l->v), edit_cmp);
	buf_init(&b);
	for (size_t i = 0; i < l->n; i++) {
		const edit *e = &l->v[i];

		if (i > 0 && e->start == l->v[i - 1].start)
			continue; /* one node reached twice */
		if (e->start < at) {
			buf_release(&b);
			shunt_error_set(err, SHUNT_E_INTERNAL,
							"overlapping identifier edits at byte %zu", e->start);
			return NULL;
		}
		buf_putn(&b, text + at, e->start - at);
		pg_quote_ident(&b, map->to[e->idx]);
		at = e->end;
	}
	buf_put(&b, text + at);
	return buf_detach(&b);
}

/*
 * Adds an edit for every single-field ColumnRef below node that names a
 * from[i].  Locations in the tree are offsets into the parsed string, which
 * holds text at offset base.
 */
static int
collect_colrefs(json_t *node, const char *text, size_t len, size_t base,
				const rename_map *map, edit_list *out, shunt_error *err)
{
	const char *key;
	json_t *val, *fields, *sval, *loc;
	size_t i, idx, pos, end;

	if (json_is_array(node)) {
		json_array_foreach(node, i, val)
			if (collect_colrefs(val, text, len, base, map, out, err) < 0)
				return -1;
		return 0;
	}
	if (!json_is_object(node))
		return 0;
	json_object_foreach(node, key, val) {
		if (strcmp(key, "ColumnRef") != 0) {
			if (collect_colrefs(val, text, len, base, map, out, err) < 0)
				return -1;
			continue;
		}
		fields = json_object_get(val, "fields");
		if (json_array_size(fields) != 1)
			continue; /* qualified (t.col) or t.* */
		sval = json_object_get(json_object_get(json_array_get(fields, 0), "String"),
							   "sval");
		if (!json_is_string(sval) ||
			(idx = map_find(map, json_string_value(sval))) == map->n)
			continue;
		loc = json_object_get(val, "location");
		if (!json_is_integer(loc) || json_integer_value(loc) < (json_int_t)base ||
			(size_t)json_integer_value(loc) - base >= len)
			return shunt_error_set(err, SHUNT_E_INTERNAL,
								   "column reference \"%s\" has no usable location",
								   json_string_value(sval));
		pos = (size_t)json_integer_value(loc) - base;
		end = ident_end(text, len, pos);
		if (!ident_denotes(text + pos, end - pos, json_string_value(sval))) {
			shunt_error_set(err, SHUNT_E_INPUT,
							"cannot rename reference to column \"%s\": unsupported identifier syntax",
							json_string_value(sval));
			shunt_error_hint(err, "Write the column name plainly or in double quotes.");
			set_position(err, text, len, pos);
			return -1;
		}
		edit_add(out, pos, end, idx);
	}
	return 0;
}

/* ---- expressions ---- */

/* Fills err for a problem with an expression, at byte off of expr (or no
 * position if off is SIZE_MAX).  Returns -1. */
static int
expr_error(shunt_error *err, const char *what, const char *expr, size_t off,
		   const char *problem)
{
	if (what != NULL)
		shunt_error_set(err, SHUNT_E_INPUT, "invalid SQL expression in \"%s\": %s",
						what, problem);
	else
		shunt_error_set(err, SHUNT_E_INPUT, "invalid SQL expression: %s", problem);
	if (off != SIZE_MAX)
		set_position(err, expr, strlen(expr), off);
	return -1;
}

/* Same for a parser failure on the wrapped text.  The wrapper is ours, so
 * keep it out of what the user reads. */
static int
expr_fail(shunt_error *err, const char *what, const char *expr,
		  const char *wrapped, pg_fail *fail)
{
	static const char near[] = "syntax error at or near ";
	static const char tail[] = EXPR_SUFFIX "\"";
	size_t off = SIZE_MAX, len = strlen(expr), mlen = strlen(fail->message);

	/* unterminated "'abc\n)" */
	if (mlen >= sizeof(tail) - 1 &&
		strcmp(fail->message + mlen - (sizeof(tail) - 1), tail) == 0)
		memcpy(fail->message + mlen - (sizeof(tail) - 1), "\"", 2);
	if (fail->cursorpos > 0) {
		off = char_to_byte(wrapped, strlen(wrapped), fail->cursorpos);
		off = off < EXPR_PREFIX_LEN ? 0 : off - EXPR_PREFIX_LEN;
		/* near our closing parenthesis: the expression ended too soon */
		if (off >= len) {
			off = len;
			if (strncmp(fail->message, near, sizeof(near) - 1) == 0)
				snprintf(fail->message, sizeof(fail->message),
						 "syntax error at end of expression");
		}
	}
	one_line(fail->message);
	return expr_error(err, what, expr, off, fail->message);
}

/* Node kinds an embedded expression must not contain, and why. */
static const struct {
	const char *key;
	const char *problem;
} forbidden_nodes[] = {
	{ "InsertStmt", "data-modifying statements are not allowed" },
	{ "UpdateStmt", "data-modifying statements are not allowed" },
	{ "DeleteStmt", "data-modifying statements are not allowed" },
	{ "MergeStmt", "data-modifying statements are not allowed" },
	{ "intoClause", "SELECT INTO is not allowed" },
	{ "ParamRef", "parameters such as $1 are not allowed" },
};

/* The problem of the first forbidden node below node, or NULL. */
static const char *
find_forbidden(json_t *node)
{
	const char *key, *problem;
	json_t *val;
	size_t i;

	if (json_is_array(node)) {
		json_array_foreach(node, i, val)
			if ((problem = find_forbidden(val)) != NULL)
				return problem;
		return NULL;
	}
	if (!json_is_object(node))
		return NULL;
	json_object_foreach(node, key, val) {
		for (i = 0; i < sizeof(forbidden_nodes) / sizeof(forbidden_nodes[0]); i++)
			if (strcmp(key, forbidden_nodes[i].key) == 0)
				return forbidden_nodes[i].problem;
		if ((problem = find_forbidden(val)) != NULL)
			return problem;
	}
	return NULL;
}

/* Whether sel is "SELECT <one unnamed target>" with nothing else. */
static bool
is_single_target(json_t *sel)
{
	const char *key;
	json_t *val, *tl, *rt;

	json_object_foreach(sel, key, val) {
		if (strcmp(key, "targetList") == 0 ||
			(strcmp(key, "limitOption") == 0 &&
			 json_str_is(val, "LIMIT_OPTION_DEFAULT")) ||
			(strcmp(key, "op") == 0 && json_str_is(val, "SETOP_NONE")))
			continue;
		return false;
	}
	tl = json_object_get(sel, "targetList");
	if (json_array_size(tl) != 1)
		return false;
	rt = json_object_get(json_array_get(tl, 0), "ResTarget");
	if (!json_is_object(rt) || json_object_get(rt, "val") == NULL)
		return false;
	json_object_foreach(rt, key, val)
		if (strcmp(key, "val") != 0 && strcmp(key, "location") != 0)
			return false; /* an alias or indirection */
	return true;
}

/* Checks tokens of the wrapped text: something inside the wrapper, and no
 * parenthesis closing it early or left open. */
static int
check_expr_tokens(const char *expr, const char *what, const token_list *toks,
				  shunt_error *err)
{
	size_t len = strlen(expr), depth = 1, last_open = 0;
	bool any = false;

	for (size_t i = 0; i < toks->n; i++) {
		const scan_token *t = &toks->v[i];
		char c;

		if (t->start < EXPR_PREFIX_LEN || t->start >= EXPR_PREFIX_LEN + len)
			continue;
		any = true;
		if (t->end - t->start != 1)
			continue;
		c = expr[t->start - EXPR_PREFIX_LEN];
		if (c == '(') {
			if (depth++ == 1)
				last_open = t->start - EXPR_PREFIX_LEN;
		} else if (c == ')' && --depth == 0) {
			return expr_error(err, what, expr, t->start - EXPR_PREFIX_LEN,
							  "unbalanced parentheses");
		}
	}
	if (!any)
		return expr_error(err, what, expr, SIZE_MAX, "expression is empty");
	if (depth != 1)
		return expr_error(err, what, expr, last_open, "unbalanced parentheses");
	return 0;
}

/* The work of pg_parse_check_expression(); on success *root_out (if not
 * NULL) receives the tree of EXPR_PREFIX expr EXPR_SUFFIX. */
static int
parse_expression(const char *expr, const char *what, json_t **root_out,
				 shunt_error *err)
{
	shunt_buf wrapped = SHUNT_BUF_INIT;
	token_list toks = { NULL, 0, 0 };
	json_t *root = NULL, *sel;
	const char *problem;
	pg_fail fail = { "", 0 };
	int ret = -1, r;

	buf_init(&wrapped);
	buf_put(&wrapped, EXPR_PREFIX);
	buf_put(&wrapped, expr);
	buf_put(&wrapped, EXPR_SUFFIX);

	if ((r = scan_sql(buf_str(&wrapped), &toks, &fail, err)) != 0) {
		if (r > 0)
			expr_fail(err, what, expr, buf_str(&wrapped), &fail);
		goto done;
	}
	if (check_expr_tokens(expr, what, &toks, err) < 0)
		goto done;
	if ((r = parse_sql(buf_str(&wrapped), &root, &fail, err)) != 0) {
		if (r > 0)
			expr_fail(err, what, expr, buf_str(&wrapped), &fail);
		goto done;
	}
	sel = only_statement(root, "SelectStmt");
	if (sel == NULL || !is_single_target(sel)) {
		expr_error(err, what, expr, SIZE_MAX, "not a single expression");
		shunt_error_hint(err, "Write one value expression such as UPPER(name), "
							  "or a scalar query starting with SELECT.");
		goto done;
	}
	if ((problem = find_forbidden(root)) != NULL) {
		expr_error(err, what, expr, SIZE_MAX, problem);
		goto done;
	}
	ret = 0;
	if (root_out != NULL) {
		*root_out = root;
		root = NULL;
	}
done:
	json_decref(root);
	free(toks.v);
	buf_release(&wrapped);
	return ret;
}

int
pg_parse_check_expression(const char *expr, const char *what, shunt_error *err)
{
	return parse_expression(expr, what, NULL, err);
}

char *
pg_parse_rename_columns(const char *expr, const char *const *from,
						const char *const *to, size_t n, shunt_error *err)
{
	rename_map map = { from, to, n };
	edit_list edits = { NULL, 0, 0 };
	json_t *root = NULL;
	char *res = NULL;

	if (map_check(&map, err) < 0 || parse_expression(expr, NULL, &root, err) < 0)
		return NULL;
	if (collect_colrefs(root, expr, strlen(expr), EXPR_PREFIX_LEN, &map, &edits,
						err) == 0)
		res = edits_apply(expr, &edits, &map, err);
	free(edits.v);
	json_decref(root);
	return res;
}

/* ---- statements and index definitions ---- */

/* Fills err for a parser failure on a whole text ("SQL", "index
 * definition"): message with line and column, caret detail.  Returns -1. */
static int
sql_fail(shunt_error *err, const char *label, const char *sql, pg_fail *fail)
{
	size_t len = strlen(sql), off, line = 1, ls = 0;

	one_line(fail->message);
	if (fail->cursorpos <= 0)
		return shunt_error_set(err, SHUNT_E_INPUT, "invalid %s: %s", label,
							   fail->message);
	off = char_to_byte(sql, len, fail->cursorpos);
	for (size_t i = 0; i < off; i++)
		if (sql[i] == '\n') {
			line++;
			ls = i + 1;
		}
	shunt_error_set(err, SHUNT_E_INPUT, "invalid %s at line %zu, column %zu: %s",
					label, line, count_chars(sql + ls, off - ls) + 1,
					fail->message);
	set_position(err, sql, len, off);
	return -1;
}

int
pg_parse_statements(const char *sql, size_t *n_statements, shunt_error *err)
{
	PgQuerySplitResult r = pg_query_split_with_parser(sql);
	pg_fail fail = { "", 0 };
	int ret = 0;

	if (r.error != NULL) {
		copy_message(&fail, r.error);
		ret = sql_fail(err, "SQL", sql, &fail);
	} else {
		*n_statements = (size_t)r.n_stmts;
	}
	pg_query_free_split_result(r);
	return ret;
}

/* Parses and scans one CREATE INDEX statement; returns its IndexStmt (owned
 * by *root) or NULL with err filled. */
static json_t *
parse_index(const char *def, json_t **root, token_list *toks, shunt_error *err)
{
	json_t *stmt;
	pg_fail fail = { "", 0 };
	int r;

	if ((r = parse_sql(def, root, &fail, err)) != 0) {
		if (r > 0)
			sql_fail(err, "index definition", def, &fail);
		return NULL;
	}
	if ((stmt = only_statement(*root, "IndexStmt")) == NULL) {
		shunt_error_set(err, SHUNT_E_INPUT,
						"invalid index definition: not one CREATE INDEX statement");
		return NULL;
	}
	if ((r = scan_sql(def, toks, &fail, err)) != 0) {
		if (r > 0)
			sql_fail(err, "index definition", def, &fail);
		return NULL;
	}
	return stmt;
}

/*
 * Walks the parenthesised list of index elements opening at token *at and
 * adds edits for the plain column elements (IndexElem "name") that are
 * renamed.  Such an element starts with its column name (grammar: ColId
 * opt_collate opt_qualified_name ...), so the first token of each
 * comma-separated element at depth 1 is the name.  On return *at is the
 * index of the token after the closing parenthesis.
 */
static int
rename_elems(const char *def, const token_list *toks, size_t *at, json_t *elems,
			 const rename_map *map, edit_list *out, shunt_error *err)
{
	size_t depth = 0, k = 0, t = *at;
	bool first = false;

	if (t >= toks->n || !tok_is(def, &toks->v[t], "("))
		return shunt_error_set(err, SHUNT_E_INTERNAL,
							   "index definition has an unexpected column list");
	for (; t < toks->n; t++) {
		const scan_token *tok = &toks->v[t];

		if (depth == 1 && first) {
			json_t *name = json_object_get(
				json_object_get(json_array_get(elems, k), "IndexElem"), "name");
			size_t idx;

			first = false;
			if (k >= json_array_size(elems))
				break;
			if (json_is_string(name)) {
				if (!ident_denotes(def + tok->start, tok->end - tok->start,
								   json_string_value(name)))
					return shunt_error_set(err, SHUNT_E_INTERNAL,
										   "cannot locate index column \"%s\" in index definition",
										   json_string_value(name));
				idx = map_find(map, json_string_value(name));
				if (idx < map->n)
					edit_add(out, tok->start, tok->end, idx);
			}
		}
		if (tok_is(def, tok, "(")) {
			if (++depth == 1)
				first = true;
		} else if (tok_is(def, tok, ")")) {
			if (depth == 0 || --depth == 0)
				break;
		} else if (depth == 1 && tok_is(def, tok, ",")) {
			k++;
			first = true;
		}
	}
	if (t >= toks->n || depth != 0 || k + 1 != json_array_size(elems))
		return shunt_error_set(err, SHUNT_E_INTERNAL,
							   "index definition has an unexpected column list");
	*at = t + 1;
	return 0;
}

char *
pg_parse_rename_index_columns(const char *indexdef, const char *const *from,
							  const char *const *to, size_t n, shunt_error *err)
{
	rename_map map = { from, to, n };
	edit_list edits = { NULL, 0, 0 };
	token_list toks = { NULL, 0, 0 };
	json_t *root = NULL, *stmt, *loc, *incl;
	char *res = NULL;
	size_t at = 0;

	if (map_check(&map, err) < 0)
		return NULL;
	if ((stmt = parse_index(indexdef, &root, &toks, err)) == NULL)
		goto done;
	/* expressions and predicate */
	if (collect_colrefs(stmt, indexdef, strlen(indexdef), 0, &map, &edits, err) < 0)
		goto done;
	/* the key list is the first "(" after the table name */
	loc = json_object_get(json_object_get(stmt, "relation"), "location");
	while (at < toks.n && (!json_is_integer(loc) ||
						   toks.v[at].start < (size_t)json_integer_value(loc) ||
						   !tok_is(indexdef, &toks.v[at], "(")))
		at++;
	if (rename_elems(indexdef, &toks, &at, json_object_get(stmt, "indexParams"),
					 &map, &edits, err) < 0)
		goto done;
	incl = json_object_get(stmt, "indexIncludingParams");
	if (at < toks.n && tok_is(indexdef, &toks.v[at], "INCLUDE")) {
		at++;
		if (rename_elems(indexdef, &toks, &at, incl, &map, &edits, err) < 0)
			goto done;
	} else if (json_array_size(incl) > 0) {
		shunt_error_set(err, SHUNT_E_INTERNAL,
						"index definition has an unexpected INCLUDE list");
		goto done;
	}
	res = edits_apply(indexdef, &edits, &map, err);
done:
	free(edits.v);
	free(toks.v);
	json_decref(root);
	return res;
}

char *
pg_parse_set_index_name(const char *indexdef, const char *newname,
						bool concurrently, shunt_error *err)
{
	token_list toks = { NULL, 0, 0 };
	shunt_buf b = SHUNT_BUF_INIT;
	json_t *root = NULL, *stmt;
	char *res = NULL;
	size_t t = 0;

	if (newname[0] == '\0' || strlen(newname) > PG_PARSE_MAX_IDENT_LEN) {
		shunt_error_set(err, SHUNT_E_INPUT,
						"invalid index name \"%s\": must be 1 to %d bytes long",
						newname, PG_PARSE_MAX_IDENT_LEN);
		return NULL;
	}
	if ((stmt = parse_index(indexdef, &root, &toks, err)) == NULL)
		goto done;
	/* CREATE [UNIQUE] INDEX [CONCURRENTLY] [IF NOT EXISTS] [name] ON: the
	 * name cannot be an unquoted ON (reserved), so the first ON ends it */
	while (t < toks.n && !tok_is(indexdef, &toks.v[t], "INDEX"))
		t++;
	while (t < toks.n && !tok_is(indexdef, &toks.v[t], "ON"))
		t++;
	if (t == toks.n) {
		shunt_error_set(err, SHUNT_E_INTERNAL,
						"cannot find the index name in index definition");
		goto done;
	}
	buf_init(&b);
	buf_put(&b, "CREATE ");
	if (json_is_true(json_object_get(stmt, "unique")))
		buf_put(&b, "UNIQUE ");
	buf_put(&b, "INDEX ");
	if (concurrently)
		buf_put(&b, "CONCURRENTLY ");
	if (json_is_true(json_object_get(stmt, "if_not_exists")))
		buf_put(&b, "IF NOT EXISTS ");
	pg_quote_ident(&b, newname);
	buf_putc(&b, ' ');
	buf_put(&b, indexdef + toks.v[t].start);
	res = buf_detach(&b);
done:
	buf_release(&b);
	free(toks.v);
	json_decref(root);
	return res;
}

/* Index of the first token at or after t that is word; toks->n if none. */
static size_t
tok_find(const char *text, const token_list *toks, size_t t, const char *word)
{
	while (t < toks->n && !tok_is(text, &toks->v[t], word))
		t++;
	return t;
}

char *
pg_parse_unwrap_select(const char *expr)
{
	json_t *root = NULL, *sel, *targets, *rt, *raw;
	pg_fail fail = { "", 0 };
	shunt_error ignore;
	const char *key;
	json_t *v;
	size_t start, end;
	char *res = NULL;

	if (parse_sql(expr, &root, &fail, &ignore) != 0 || (sel = only_statement(root, "SelectStmt")) == NULL)
		goto done;
	/* nothing but the target list (and the defaults the parser writes) */
	json_object_foreach(sel, key, v) {
		if (strcmp(key, "targetList") == 0 || (strcmp(key, "limitOption") == 0 && json_str_is(v, "LIMIT_OPTION_DEFAULT")) ||
			(strcmp(key, "op") == 0 && json_str_is(v, "SETOP_NONE")))
			continue;
		goto done;
	}
	targets = json_object_get(sel, "targetList");
	if (!json_is_array(targets) || json_array_size(targets) != 1)
		goto done;
	rt = json_object_get(json_array_get(targets, 0), "ResTarget");
	if (!json_is_object(rt) || json_object_get(rt, "name") != NULL || json_object_get(rt, "indirection") != NULL ||
		!json_is_integer(json_object_get(rt, "location")))
		goto done;
	start = (size_t) json_integer_value(json_object_get(rt, "location"));
	raw = json_array_get(json_object_get(root, "stmts"), 0);
	end = json_is_integer(json_object_get(raw, "stmt_len")) && json_integer_value(json_object_get(raw, "stmt_len")) > 0
			  ? (size_t) json_integer_value(json_object_get(raw, "stmt_len"))
			  : strlen(expr);
	if (end > strlen(expr))
		end = strlen(expr);
	while (end > start && (isspace((unsigned char) expr[end - 1]) || expr[end - 1] == ';'))
		end--;
	if (start >= end)
		goto done;
	res = shunt_xstrndup(expr + start, end - start);
done:
	json_decref(root);
	return res;
}

char *
pg_parse_retarget(const char *def, bool trigger, const char *newname, const char *new_relation,
				  shunt_error *err)
{
	token_list toks = { NULL, 0, 0 };
	shunt_buf b = SHUNT_BUF_INIT;
	json_t *root = NULL;
	pg_fail fail = { "", 0 };
	const char *what = trigger ? "trigger definition" : "index definition";
	size_t name_at, on_at, rel_first, rel_last;
	char *res = NULL;
	int r;

	if (newname[0] == '\0' || strlen(newname) > PG_PARSE_MAX_IDENT_LEN) {
		shunt_error_set(err, SHUNT_E_INPUT, "invalid name \"%s\": must be 1 to %d bytes long", newname,
						PG_PARSE_MAX_IDENT_LEN);
		return NULL;
	}
	if ((r = parse_sql(def, &root, &fail, err)) != 0) {
		if (r > 0)
			sql_fail(err, what, def, &fail);
		goto done;
	}
	if (only_statement(root, trigger ? "CreateTrigStmt" : "IndexStmt") == NULL) {
		shunt_error_set(err, SHUNT_E_INPUT, "invalid %s: not one CREATE %s statement", what,
						trigger ? "TRIGGER" : "INDEX");
		goto done;
	}
	if ((r = scan_sql(def, &toks, &fail, err)) != 0) {
		if (r > 0)
			sql_fail(err, what, def, &fail);
		goto done;
	}
	/* CREATE [UNIQUE] INDEX name ON [ONLY] rel ... / CREATE [CONSTRAINT]
	 * TRIGGER name {BEFORE|AFTER|INSTEAD OF} events ON rel ...: ON is
	 * reserved, so the first ON after the name starts the relation (a
	 * column named on in UPDATE OF is printed quoted) */
	name_at = tok_find(def, &toks, 0, trigger ? "TRIGGER" : "INDEX") + 1;
	on_at = tok_find(def, &toks, name_at + 1, "ON");
	rel_first = on_at + 1;
	if (rel_first < toks.n && tok_is(def, &toks.v[rel_first], "ONLY"))
		rel_first++;
	rel_last = rel_first;
	while (rel_last + 2 < toks.n && tok_is(def, &toks.v[rel_last + 1], "."))
		rel_last += 2;
	if (name_at >= toks.n || rel_last >= toks.n) {
		shunt_error_set(err, SHUNT_E_INTERNAL, "cannot find the name and table in %s", what);
		goto done;
	}
	buf_init(&b);
	buf_putn(&b, def, toks.v[name_at].start);
	pg_quote_ident(&b, newname);
	buf_putn(&b, def + toks.v[name_at].end, toks.v[rel_first].start - toks.v[name_at].end);
	buf_put(&b, new_relation);
	buf_put(&b, def + toks.v[rel_last].end);
	res = buf_detach(&b);
done:
	buf_release(&b);
	free(toks.v);
	json_decref(root);
	return res;
}

char *
pg_parse_alter_table(const char *clauses, const char *relation, shunt_error *err)
{
	shunt_buf b = SHUNT_BUF_INIT;
	json_t *root = NULL, *stmt, *cmds, *cmd;
	pg_fail fail = { "", 0 };
	char *res = NULL;
	size_t i;
	int r;

	buf_init(&b);
	buf_put(&b, "ALTER TABLE ");
	buf_put(&b, relation);
	buf_putc(&b, ' ');
	buf_put(&b, clauses);
	if ((r = parse_sql(buf_str(&b), &root, &fail, err)) != 0) {
		if (r > 0)
			sql_fail(err, "--alter", buf_str(&b), &fail);
		goto done;
	}
	stmt = only_statement(root, "AlterTableStmt");
	if (stmt == NULL || !json_str_is(json_object_get(stmt, "objtype"), "OBJECT_TABLE")) {
		shunt_error_set(err, SHUNT_E_INPUT, "--alter must be the clauses of one ALTER TABLE statement");
		shunt_error_detail(err, "It is run as: %s", buf_str(&b));
		shunt_error_hint(err, "Give only what follows ALTER TABLE name, for example --alter \"ALTER COLUMN id "
							  "TYPE bigint, SET (fillfactor = 90)\".  Renames and SET SCHEMA are separate "
							  "statements and cannot be part of a rebuild.");
		goto done;
	}
	cmds = json_object_get(stmt, "cmds");
	json_array_foreach(cmds, i, cmd) {
		json_t *c = json_object_get(cmd, "AlterTableCmd");
		json_t *def = json_object_get(json_object_get(c, "def"), "ColumnDef");

		if (json_str_is(json_object_get(c, "subtype"), "AT_AlterColumnType") &&
			json_object_get(def, "raw_default") != NULL) {
			shunt_error_set(err, SHUNT_E_INPUT, "--alter: ALTER COLUMN ... TYPE ... USING is not supported "
												"by the rebuild");
			shunt_error_detail(err, "The copy converts each value with a cast to the new type.");
			shunt_error_hint(err, "Drop the USING clause when a cast does the conversion, or add a new "
								  "column with a migration (alter_column with up/down) instead.");
			goto done;
		}
	}
	res = buf_detach(&b);
done:
	buf_release(&b);
	json_decref(root);
	return res;
}

void
pg_quote_ident(shunt_buf *b, const char *name)
{
	const char *p;

	buf_putc(b, '"');
	while ((p = strchr(name, '"')) != NULL) {
		buf_putn(b, name, (size_t)(p - name) + 1);
		buf_putc(b, '"');
		name = p + 1;
	}
	buf_put(b, name);
	buf_putc(b, '"');
}

void
pg_parse_cleanup(void)
{
	pg_query_exit();
}
