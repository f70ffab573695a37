/*
 * pg_sqlfile.c: a whole SQL file through libpg_query; see pg_sqlfile.h.
 *
 * The parser gives statements and byte locations; the scanner gives every
 * token with its extent and keyword class, comments included.  Both results
 * are freed here, once each, before sqlf_load() returns; what is kept is a
 * jansson tree and a plain token array.
 *
 * XXX: the protobuf reading of the scanner output repeats the few lines of
 * pg_parse.c, which keeps its decoder static.
 */
#include "pg/pg_sqlfile.h"

#include <pg_query.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "pg/pg_parse.h"

#define PB_TOKEN_SQL_COMMENT 275
#define PB_TOKEN_C_COMMENT 276

/* ---- protobuf: ScanResult { repeated ScanToken tokens = 2; } ---- */

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

/* ScanToken: start = 1, end = 2, token = 4, keyword_kind = 5; zero values
 * are absent in proto3. */
static bool
pb_token(const uint8_t *p, const uint8_t *end, sqlf_token *t)
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
		switch (key >> 3) {
		case 1:
			t->start = (size_t)v;
			break;
		case 2:
			t->end = (size_t)v;
			break;
		case 4:
			t->kind = (int)v;
			break;
		case 5:
			t->keyword = (int)v;
			break;
		}
	}
	t->comment = t->kind == PB_TOKEN_SQL_COMMENT || t->kind == PB_TOKEN_C_COMMENT;
	return true;
}

static bool
pb_tokens(const uint8_t *p, const uint8_t *end, size_t text_len, sqlf_file *f)
{
	size_t cap = 0;
	uint64_t key, n;

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
		if (f->n_toks == cap) {
			cap = cap ? cap * 2 : 64;
			f->toks = shunt_xrealloc(f->toks, cap * sizeof(*f->toks));
		}
		if (!pb_token(p, p + n, &f->toks[f->n_toks]))
			return false;
		if (f->toks[f->n_toks].start > f->toks[f->n_toks].end ||
			f->toks[f->n_toks].end > text_len)
			return false;
		f->n_toks++;
		p += n;
	}
	return true;
}

/* ---- loading ---- */

/* Byte offset of the 1-based character position pos. */
static size_t
char_to_byte(const char *s, size_t len, int pos)
{
	size_t off = 0;

	for (int i = 1; i < pos && off < len; i++) {
		off++;
		while (off < len && ((unsigned char)s[off] & 0xc0) == 0x80)
			off++;
	}
	return off;
}

static void
set_syntax_error(sqlf_file *f, const PgQueryError *e)
{
	f->syntax_error = true;
	snprintf(f->error_message, sizeof(f->error_message), "%s",
			 e->message ? e->message : "syntax error");
	for (char *p = f->error_message; *p; p++)
		if ((unsigned char)*p < 0x20)
			*p = ' ';
	f->error_offset = e->cursorpos > 0 ? char_to_byte(f->text, f->len, e->cursorpos)
									   : 0;
}

static void
index_lines(sqlf_file *f)
{
	size_t cap = 16;

	f->line_starts = shunt_xmalloc(cap * sizeof(size_t));
	f->line_starts[0] = 0;
	f->n_lines = 1;
	for (size_t i = 0; i < f->len; i++) {
		if (f->text[i] != '\n')
			continue;
		if (f->n_lines == cap) {
			cap *= 2;
			f->line_starts = shunt_xrealloc(f->line_starts, cap * sizeof(size_t));
		}
		f->line_starts[f->n_lines++] = i + 1;
	}
}

static int
scan_text(sqlf_file *f, shunt_error *err)
{
	PgQueryScanResult r = pg_query_scan(f->text);
	int ret = 0;

	if (r.error != NULL)
		set_syntax_error(f, r.error);
	else if (!pb_tokens((const uint8_t *)r.pbuf.data,
						(const uint8_t *)r.pbuf.data + r.pbuf.len, f->len, f))
		ret = shunt_error_set(err, SHUNT_E_INTERNAL,
							  "cannot decode libpg_query scanner output");
	pg_query_free_scan_result(r);
	return ret;
}

/* Fills one statement from a RawStmt of the tree. */
static void
fill_stmt(sqlf_file *f, json_t *raw, sqlf_stmt *s)
{
	size_t from = (size_t)sqlf_int(raw, "stmt_location", 0);
	size_t len = (size_t)sqlf_int(raw, "stmt_len", 0);
	size_t to = len > 0 && from + len <= f->len ? from + len : f->len;
	size_t last = f->n_toks;

	s->kind = sqlf_node_kind(json_object_get(raw, "stmt"), &s->body);
	s->tok_first = sqlf_tok_at(f, from);
	for (size_t i = s->tok_first; i < f->n_toks && f->toks[i].end <= to; i++)
		if (!f->toks[i].comment && !sqlf_tok_is(f, i, ";"))
			last = i;
	if (s->tok_first >= f->n_toks || last == f->n_toks || last < s->tok_first) {
		s->tok_end = s->tok_first;
		s->start = s->end = from;
		return;
	}
	s->tok_end = last + 1;
	s->start = f->toks[s->tok_first].start;
	s->end = f->toks[last].end;
}

static int
parse_text(sqlf_file *f, shunt_error *err)
{
	PgQueryParseResult r = pg_query_parse(f->text);
	json_error_t jerr;
	json_t *stmts;
	int ret = 0;

	if (r.error != NULL) {
		set_syntax_error(f, r.error);
		goto done;
	}
	f->root = json_loads(r.parse_tree, 0, &jerr);
	if (f->root == NULL) {
		if (json_error_code(&jerr) == json_error_stack_overflow) {
			f->syntax_error = true;
			snprintf(f->error_message, sizeof(f->error_message),
					 "nesting is too deep");
		} else
			ret = shunt_error_set(err, SHUNT_E_INTERNAL,
								  "cannot read libpg_query parse tree: %s", jerr.text);
		goto done;
	}
	stmts = json_object_get(f->root, "stmts");
	f->n_stmts = json_array_size(stmts);
	f->stmts = shunt_xcalloc(f->n_stmts ? f->n_stmts : 1, sizeof(*f->stmts));
	for (size_t i = 0; i < f->n_stmts; i++)
		fill_stmt(f, json_array_get(stmts, i), &f->stmts[i]);
done:
	pg_query_free_parse_result(r);
	return ret;
}

int
sqlf_load(sqlf_file *f, const char *name, const char *text, size_t len,
		  shunt_error *err)
{
	memset(f, 0, sizeof(*f));
	f->name = shunt_xstrdup(name ? name : "<stdin>");
	/* a copy of all len bytes: a NUL inside is refused below, after which
	 * f->len must still describe the buffer */
	f->text = shunt_xmalloc(len + 1);
	memcpy(f->text, text, len);
	f->text[len] = '\0';
	f->len = len;
	index_lines(f);
	if (memchr(text, '\0', len) != NULL)
		return shunt_error_set(err, SHUNT_E_INPUT, "%s: contains a NUL byte",
							   f->name);
	if (scan_text(f, err) != 0)
		return -1;
	if (f->syntax_error)
		return 0;
	return parse_text(f, err);
}

void
sqlf_release(sqlf_file *f)
{
	free(f->name);
	free(f->text);
	json_decref(f->root);
	free(f->toks);
	free(f->stmts);
	free(f->line_starts);
	memset(f, 0, sizeof(*f));
}

/* ---- positions and comments ---- */

size_t
sqlf_line(const sqlf_file *f, size_t off)
{
	size_t lo = 0, hi = f->n_lines;

	/* the last line start <= off */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (f->line_starts[mid] <= off)
			lo = mid;
		else
			hi = mid;
	}
	return lo + 1;
}

void
sqlf_position(const sqlf_file *f, size_t off, size_t *line, size_t *column)
{
	size_t l = sqlf_line(f, off), col = 1;

	if (off > f->len)
		off = f->len;
	for (size_t i = f->line_starts[l - 1]; i < off; i++)
		if (((unsigned char)f->text[i] & 0xc0) != 0x80)
			col++;
	*line = l;
	*column = col;
}

long
sqlf_comment_stmt(const sqlf_file *f, size_t tok)
{
	size_t c = f->toks[tok].start, j = 0, hi = f->n_stmts;

	/* j: the first statement that starts after the comment */
	while (j < hi) {
		size_t mid = j + (hi - j) / 2;

		if (f->stmts[mid].start <= c)
			j = mid + 1;
		else
			hi = mid;
	}
	if (j > 0) {
		const sqlf_stmt *prev = &f->stmts[j - 1];
		size_t term = sqlf_stmt_terminator(f, prev);
		size_t term_off = term < f->n_toks ? f->toks[term].start : prev->end;

		if (c < prev->end || sqlf_line(f, c) == sqlf_line(f, term_off))
			return (long)(j - 1);
	}
	return j < f->n_stmts ? (long)j : -1;
}

const char *
sqlf_comment_text(const sqlf_file *f, size_t tok, size_t *len)
{
	const char *s = f->text + f->toks[tok].start;
	const char *e = f->text + f->toks[tok].end;

	if (e - s >= 2 && s[0] == '-' && s[1] == '-')
		s += 2;
	else if (e - s >= 4 && s[0] == '/' && s[1] == '*') {
		s += 2;
		e -= 2;
	}
	while (s < e && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n'))
		s++;
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
		e--;
	*len = (size_t)(e - s);
	return s;
}

/* ---- tokens ---- */

size_t
sqlf_tok_at(const sqlf_file *f, size_t off)
{
	size_t lo = 0, hi = f->n_toks;

	/* tokens are in text order: the first one starting at or after off */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (f->toks[mid].start < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	while (lo < f->n_toks && f->toks[lo].comment)
		lo++;
	return lo;
}

size_t
sqlf_tok_next(const sqlf_file *f, size_t i)
{
	if (i < f->n_toks)
		i++;
	while (i < f->n_toks && f->toks[i].comment)
		i++;
	return i;
}

bool
sqlf_tok_is(const sqlf_file *f, size_t i, const char *word)
{
	size_t n = strlen(word);

	return i < f->n_toks && !f->toks[i].comment &&
		   f->toks[i].end - f->toks[i].start == n &&
		   strncasecmp(f->text + f->toks[i].start, word, n) == 0;
}

size_t
sqlf_stmt_terminator(const sqlf_file *f, const sqlf_stmt *s)
{
	size_t next;

	if (s->tok_end == s->tok_first)
		return s->tok_first;
	next = sqlf_tok_next(f, s->tok_end - 1);
	return sqlf_tok_is(f, next, ";") ? next : s->tok_end - 1;
}

static bool
is_stop_word(const sqlf_file *f, size_t i, unsigned stop)
{
	static const char *const column_words[] = {
		"CONSTRAINT", "NOT", "NULL", "CHECK", "DEFAULT", "PRIMARY", "UNIQUE",
		"REFERENCES", "GENERATED", "COLLATE", "DEFERRABLE", "INITIALLY",
		"STORAGE", "COMPRESSION", NULL
	};
	static const char *const index_words[] = {
		"INCLUDE", "WITH", "TABLESPACE", "WHERE", NULL
	};

	if ((stop & SQLF_STOP_COLUMN_CONSTRAINT) != 0)
		for (const char *const *w = column_words; *w; w++)
			if (sqlf_tok_is(f, i, *w))
				return true;
	if ((stop & SQLF_STOP_INDEX_TAIL) != 0)
		for (const char *const *w = index_words; *w; w++)
			if (sqlf_tok_is(f, i, *w))
				return true;
	if ((stop & SQLF_STOP_USING) != 0 && sqlf_tok_is(f, i, "USING"))
		return true;
	if ((stop & SQLF_STOP_COLLATE) != 0 && sqlf_tok_is(f, i, "COLLATE"))
		return true;
	return false;
}

size_t
sqlf_expr_end(const sqlf_file *f, size_t first, size_t limit, unsigned stop)
{
	size_t depth = 0, i;

	if (limit > f->n_toks)
		limit = f->n_toks;
	for (i = first; i < limit; i = sqlf_tok_next(f, i)) {
		if (f->toks[i].comment)
			continue;
		if (sqlf_tok_is(f, i, "(") || sqlf_tok_is(f, i, "[") || sqlf_tok_is(f, i, "CASE")) {
			depth++;
			continue;
		}
		if (sqlf_tok_is(f, i, ")") || sqlf_tok_is(f, i, "]") || sqlf_tok_is(f, i, "END")) {
			if (depth == 0)
				return i;
			depth--;
			continue;
		}
		if (depth > 0 || i == first)
			continue;
		if (sqlf_tok_is(f, i, ",") || sqlf_tok_is(f, i, ";") || is_stop_word(f, i, stop))
			return i;
	}
	return i < limit ? i : limit;
}

size_t
sqlf_match_paren(const sqlf_file *f, size_t open, size_t limit)
{
	size_t depth = 0;

	if (limit > f->n_toks)
		limit = f->n_toks;
	for (size_t i = open; i < limit; i = sqlf_tok_next(f, i)) {
		if (sqlf_tok_is(f, i, "("))
			depth++;
		else if (sqlf_tok_is(f, i, ")") && --depth == 0)
			return i;
	}
	return limit;
}

void
sqlf_put_slice(shunt_buf *b, const sqlf_file *f, size_t first, size_t end)
{
	bool any = false;
	size_t prev_end = 0;

	if (end > f->n_toks)
		end = f->n_toks;
	for (size_t i = first; i < end; i++) {
		const sqlf_token *t = &f->toks[i];

		if (t->comment)
			continue;
		if (any && t->start > prev_end)
			buf_putc(b, ' ');
		buf_putn(b, f->text + t->start, t->end - t->start);
		prev_end = t->end;
		any = true;
	}
}

char *
sqlf_slice(const sqlf_file *f, size_t first, size_t end)
{
	shunt_buf b = SHUNT_BUF_INIT;

	buf_init(&b);
	sqlf_put_slice(&b, f, first, end);
	return buf_detach(&b);
}

/* Whether the scanner reads name as one identifier token that is not a
 * reserved word: then it may stand unquoted. */
static bool
bare_ident(const char *name)
{
	PgQueryScanResult r;
	sqlf_file tmp;
	bool ok;

	if (name[0] == '\0' || (name[0] >= '0' && name[0] <= '9') || name[0] == '$')
		return false;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' ||
			  *p == '$'))
			return false;
	memset(&tmp, 0, sizeof(tmp));
	r = pg_query_scan(name);
	ok = r.error == NULL &&
		 pb_tokens((const uint8_t *)r.pbuf.data,
				   (const uint8_t *)r.pbuf.data + r.pbuf.len, strlen(name), &tmp) &&
		 tmp.n_toks == 1 && tmp.toks[0].keyword != SQLF_KW_RESERVED &&
		 tmp.toks[0].keyword != SQLF_KW_TYPE_FUNC_NAME;
	pg_query_free_scan_result(r);
	free(tmp.toks);
	return ok;
}

void
sqlf_put_ident(shunt_buf *b, const char *name)
{
	if (bare_ident(name))
		buf_put(b, name);
	else
		pg_quote_ident(b, name);
}

size_t
sqlf_skip_name(const sqlf_file *f, size_t i)
{
	const sqlf_token *t;

	if (i >= f->n_toks || f->toks[i].comment)
		return i;
	t = &f->toks[i];
	if (t->kind == 40 || t->kind == 41 || t->kind == 44 || t->kind == 59)
		return i;
	for (;;) {
		size_t next = sqlf_tok_next(f, i);

		if (!sqlf_tok_is(f, next, "."))
			return next;
		i = sqlf_tok_next(f, next);
		if (i >= f->n_toks)
			return i;
	}
}

size_t
sqlf_split_commas(const sqlf_file *f, size_t first, size_t limit, size_t *starts,
				  size_t *ends, size_t max)
{
	size_t n = 0, at = first, depth = 0, i;

	if (limit > f->n_toks)
		limit = f->n_toks;
	while (at < limit && f->toks[at].comment)
		at++;
	if (at >= limit)
		return 0;
	for (i = at; i < limit; i = sqlf_tok_next(f, i)) {
		if (sqlf_tok_is(f, i, "(") || sqlf_tok_is(f, i, "[") || sqlf_tok_is(f, i, "CASE"))
			depth++;
		else if ((sqlf_tok_is(f, i, ")") || sqlf_tok_is(f, i, "]") ||
				  sqlf_tok_is(f, i, "END")) && depth > 0)
			depth--;
		else if (depth == 0 && sqlf_tok_is(f, i, ",")) {
			if (n < max) {
				starts[n] = at;
				ends[n] = i;
			}
			n++;
			at = sqlf_tok_next(f, i);
		}
	}
	if (n < max) {
		starts[n] = at;
		ends[n] = limit;
	}
	return n + 1;
}

bool
sqlf_alter_cmd_spans(const sqlf_file *f, const sqlf_stmt *s, json_t *rel, size_t n,
					 size_t *starts, size_t *ends)
{
	size_t i = sqlf_tok_at(f, (size_t)sqlf_int(rel, "location", -1));

	if (i >= s->tok_end)
		return false;
	if (sqlf_tok_is(f, i, "ONLY"))
		i = sqlf_tok_next(f, i);
	i = sqlf_skip_name(f, i);
	if (sqlf_tok_is(f, i, "*"))
		i = sqlf_tok_next(f, i);
	return sqlf_split_commas(f, i, s->tok_end, starts, ends, n) == n;
}

/* Bytes of s[0, n) cut back to a whole UTF-8 character. */
static size_t
clip_utf8(const char *s, size_t n)
{
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return n;
}

void
sqlf_put_object_name(shunt_buf *b, const char *name1, const char *name2,
					 const char *label)
{
	size_t n1 = strlen(name1), n2 = name2 ? strlen(name2) : 0;
	size_t overhead = (name2 ? 1 : 0) + (label ? strlen(label) + 1 : 0);
	size_t avail = PG_PARSE_MAX_IDENT_LEN - overhead;

	while (n1 + n2 > avail) {
		if (n1 > n2)
			n1--;
		else
			n2--;
	}
	buf_putn(b, name1, clip_utf8(name1, n1));
	if (name2) {
		buf_putc(b, '_');
		buf_putn(b, name2, clip_utf8(name2, n2));
	}
	if (label) {
		buf_putc(b, '_');
		buf_put(b, label);
	}
}

void
sqlf_put_literal(shunt_buf *b, const char *text)
{
	buf_putc(b, '\'');
	for (; *text; text++) {
		if (*text == '\'')
			buf_putc(b, '\'');
		buf_putc(b, *text);
	}
	buf_putc(b, '\'');
}

/* ---- tree helpers ---- */

const char *
sqlf_node_kind(json_t *node, json_t **body)
{
	const char *key;
	json_t *val;

	if (body)
		*body = NULL;
	if (!json_is_object(node) || json_object_size(node) != 1)
		return NULL;
	json_object_foreach(node, key, val) {
		if (body)
			*body = val;
		return key;
	}
	return NULL;
}

const char *
sqlf_node_str(json_t *node)
{
	json_t *s = json_object_get(json_object_get(node, "String"), "sval");

	return json_is_string(s) ? json_string_value(s) : NULL;
}

const char *
sqlf_last_name(json_t *names)
{
	size_t n = json_array_size(names);

	return n ? sqlf_node_str(json_array_get(names, n - 1)) : NULL;
}

long
sqlf_int(json_t *obj, const char *key, long dflt)
{
	json_t *v = json_object_get(obj, key);

	return json_is_integer(v) ? (long)json_integer_value(v) : dflt;
}

bool
sqlf_const_int(json_t *node, long *out)
{
	json_t *body, *ival;
	const char *kind = sqlf_node_kind(node, &body);

	if (kind == NULL)
		return false;
	if (strcmp(kind, "A_Const") == 0) {
		ival = json_object_get(body, "ival");
		if (!json_is_object(ival))
			return false;
		*out = sqlf_int(ival, "ival", 0);
		return true;
	}
	if (strcmp(kind, "Integer") == 0) {
		*out = sqlf_int(body, "ival", 0);
		return true;
	}
	return false;
}

const char *
sqlf_const_str(json_t *node)
{
	json_t *body, *s;
	const char *kind = sqlf_node_kind(node, &body);

	if (kind == NULL)
		return NULL;
	if (strcmp(kind, "A_Const") == 0)
		s = json_object_get(json_object_get(body, "sval"), "sval");
	else if (strcmp(kind, "String") == 0)
		s = json_object_get(body, "sval");
	else
		return NULL;
	if (s == NULL && json_is_object(json_object_get(body, "sval")))
		return "";	/* the empty string is left out like a zero */
	return json_is_string(s) ? json_string_value(s) : NULL;
}
