/*
 * yaml_json.c: one YAML document to a jansson tree; see yaml_json.h.
 *
 * Works on libyaml's event stream with an explicit stack, so hostile nesting
 * costs neither C stack nor more than YAML_JSON_MAX_DEPTH frames.  Anchors
 * and aliases are rejected rather than expanded.
 */
#include "core/yaml_json.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "core/alloc.h"

#define TAG_STR "tag:yaml.org,2002:str"
#define TAG_MAP "tag:yaml.org,2002:map"
#define TAG_SEQ "tag:yaml.org,2002:seq"

/* Longest piece of a user's key quoted back in a message. */
#define KEY_QUOTE_MAX 48

typedef struct frame {
	json_t *node;	/* object or array; owned by its parent or by root */
	char *key;		/* object: key read, value not yet; else NULL */
} frame;

typedef struct builder {
	const char *filename;
	const char *text;
	size_t len;
	shunt_error *err;
	json_t *root;	/* owned */
	frame stack[YAML_JSON_MAX_DEPTH];
	int depth;
	int documents;
} builder;

/*
 * Fills the error with a "file:line:column: " prefix; mark is libyaml's
 * (0-based).  Returns -1.
 */
static int
fail_at(builder *b, yaml_mark_t mark, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int
fail_at(builder *b, yaml_mark_t mark, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return shunt_error_set(b->err, SHUNT_E_INPUT, "%s:%zu:%zu: %s", b->filename,
						   mark.line + 1, mark.column + 1, msg);
}

/*
 * Writes s (n bytes) into out for quoting inside a message: control bytes
 * escaped, double quotes and backslashes escaped, long text cut with "...".
 */
static void
quote_text(char *out, size_t outsize, const char *s, size_t n)
{
	size_t o = 0;
	size_t i;

	for (i = 0; i < n && o + 8 < outsize; i++) {
		unsigned char c = (unsigned char) s[i];

		if (i >= KEY_QUOTE_MAX && (c & 0xC0) != 0x80) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char) c;
		}
		else if (c < 0x20 || c == 0x7f)
			o += (size_t) snprintf(out + o, outsize - o, "\\x%02x", c);
		else
			out[o++] = (char) c;
	}
	out[o] = '\0';
}

/*
 * Rejects node properties we do not support: anchors (and so aliases) and
 * tags other than the one expected for the node's kind.
 */
static int
check_properties(builder *b, yaml_mark_t mark, const yaml_char_t *anchor,
				 const yaml_char_t *tag, const char *allowed_tag)
{
	if (anchor != NULL)
		return fail_at(b, mark, "YAML anchors and aliases are not supported");
	if (tag != NULL && strcmp((const char *) tag, allowed_tag) != 0) {
		char quoted[128];

		quote_text(quoted, sizeof(quoted), (const char *) tag,
				   strlen((const char *) tag));
		return fail_at(b, mark, "unsupported YAML tag \"%s\"", quoted);
	}
	return 0;
}

/* True when s (n bytes) is one of the three spellings w1, w2, w3. */
static bool
is_word(const char *s, size_t n, const char *w1, const char *w2, const char *w3)
{
	return (n == strlen(w1) && memcmp(s, w1, n) == 0) ||
		   (n == strlen(w2) && memcmp(s, w2, n) == 0) ||
		   (n == strlen(w3) && memcmp(s, w3, n) == 0);
}

/* Converts a scalar event to a new JSON value; see the table in yaml_json.h. */
static json_t *
scalar_value(builder *b, const yaml_event_t *ev)
{
	const char *s = (const char *) ev->data.scalar.value;
	size_t n = ev->data.scalar.length;
	json_t *v;

	if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
		ev->data.scalar.tag == NULL) {
		if (n == 0 || is_word(s, n, "null", "Null", "NULL") ||
			(n == 1 && s[0] == '~'))
			return json_null();
		if (is_word(s, n, "true", "True", "TRUE"))
			return json_true();
		if (is_word(s, n, "false", "False", "FALSE"))
			return json_false();
	}
	v = json_stringn(s, n);
	if (v == NULL)
		fail_at(b, ev->start_mark, "string is not valid UTF-8");
	return v;
}

/*
 * Attaches a new node (reference stolen) to the innermost open container, or
 * makes it the root; containers are then pushed.
 */
static int
attach(builder *b, json_t *node, const yaml_event_t *ev)
{
	frame *top = b->depth > 0 ? &b->stack[b->depth - 1] : NULL;
	bool container = json_is_object(node) || json_is_array(node);

	if (top == NULL) {
		if (b->root != NULL) {
			json_decref(node);
			return fail_at(b, ev->start_mark, "unexpected second root node");
		}
		b->root = node;
	}
	else if (json_is_array(top->node)) {
		if (json_array_append_new(top->node, node) != 0)
			return fail_at(b, ev->start_mark, "could not store the value");
	}
	else {
		int rc = json_object_set_new(top->node, top->key, node);

		free(top->key);
		top->key = NULL;
		if (rc != 0)
			return fail_at(b, ev->start_mark,
						   "could not store the value (is the key valid UTF-8?)");
	}
	if (container) {
		if (b->depth >= YAML_JSON_MAX_DEPTH)
			return fail_at(b, ev->start_mark,
						   "nesting deeper than %d levels is not supported",
						   YAML_JSON_MAX_DEPTH);
		b->stack[b->depth].node = node;
		b->stack[b->depth].key = NULL;
		b->depth++;
	}
	return 0;
}

/*
 * Takes a scalar in key position: it must be unique in its mapping and free
 * of NUL bytes (C code downstream sees keys as C strings).
 */
static int
take_key(builder *b, frame *top, const yaml_event_t *ev)
{
	const char *s = (const char *) ev->data.scalar.value;
	size_t n = ev->data.scalar.length;
	char quoted[128];

	if (memchr(s, '\0', n) != NULL)
		return fail_at(b, ev->start_mark, "mapping key contains a NUL character");
	quote_text(quoted, sizeof(quoted), s, n);
	if (json_object_get(top->node, s) != NULL)
		return fail_at(b, ev->start_mark, "duplicate key \"%s\"", quoted);
	top->key = shunt_xstrndup(s, n);
	return 0;
}

static int
on_scalar(builder *b, const yaml_event_t *ev)
{
	frame *top = b->depth > 0 ? &b->stack[b->depth - 1] : NULL;
	json_t *v;

	if (check_properties(b, ev->start_mark, ev->data.scalar.anchor,
						 ev->data.scalar.tag, TAG_STR) != 0)
		return -1;
	if (top != NULL && json_is_object(top->node) && top->key == NULL)
		return take_key(b, top, ev);
	/* only a double-quoted "\0" gets here; C code sees values as C strings */
	if (memchr(ev->data.scalar.value, '\0', ev->data.scalar.length) != NULL)
		return fail_at(b, ev->start_mark, "string contains a NUL character");
	if ((v = scalar_value(b, ev)) == NULL)
		return -1;
	return attach(b, v, ev);
}

static int
on_container_start(builder *b, const yaml_event_t *ev, bool mapping)
{
	frame *top = b->depth > 0 ? &b->stack[b->depth - 1] : NULL;
	json_t *node;
	int rc;

	if (mapping)
		rc = check_properties(b, ev->start_mark, ev->data.mapping_start.anchor,
							  ev->data.mapping_start.tag, TAG_MAP);
	else
		rc = check_properties(b, ev->start_mark, ev->data.sequence_start.anchor,
							  ev->data.sequence_start.tag, TAG_SEQ);
	if (rc != 0)
		return -1;
	if (top != NULL && json_is_object(top->node) && top->key == NULL)
		return fail_at(b, ev->start_mark,
					   "mapping keys must be plain text, not a %s",
					   mapping ? "mapping" : "sequence");
	node = mapping ? json_object() : json_array();
	if (node == NULL)
		return fail_at(b, ev->start_mark, "out of memory");
	return attach(b, node, ev);
}

/* Handles one event; returns 1 at the end of the stream, 0 to go on, -1. */
static int
on_event(builder *b, const yaml_event_t *ev)
{
	switch (ev->type) {
		case YAML_STREAM_END_EVENT:
			return 1;
		case YAML_DOCUMENT_START_EVENT:
			if (++b->documents > 1)
				return fail_at(b, ev->start_mark,
							   "a migration file must hold exactly one YAML document, found a second one");
			return 0;
		case YAML_ALIAS_EVENT:
			return fail_at(b, ev->start_mark,
						   "YAML anchors and aliases are not supported");
		case YAML_SCALAR_EVENT:
			return on_scalar(b, ev);
		case YAML_MAPPING_START_EVENT:
			return on_container_start(b, ev, true);
		case YAML_SEQUENCE_START_EVENT:
			return on_container_start(b, ev, false);
		case YAML_MAPPING_END_EVENT:
		case YAML_SEQUENCE_END_EVENT:
			if (b->depth > 0) {
				b->depth--;
				free(b->stack[b->depth].key);
				b->stack[b->depth].key = NULL;
			}
			return 0;
		default:
			return 0;
	}
}

/* Turns libyaml's parser error into ours. */
static void
parser_failed(builder *b, const yaml_parser_t *p)
{
	const char *problem = p->problem ? p->problem : "unknown error";
	yaml_mark_t mark = p->problem_mark;

	if (p->error == YAML_MEMORY_ERROR) {
		shunt_error_set(b->err, SHUNT_E_INPUT, "%s: out of memory parsing YAML",
						b->filename);
		return;
	}
	if (p->error == YAML_READER_ERROR) {
		size_t i;

		/* reader errors carry only a byte offset */
		mark.line = 0;
		mark.column = 0;
		for (i = 0; i < p->problem_offset && i < b->len; i++) {
			if (b->text[i] == '\n') {
				mark.line++;
				mark.column = 0;
			}
			else
				mark.column++;
		}
	}
	fail_at(b, mark, "invalid YAML: %s", problem);
	if (p->context != NULL)
		shunt_error_detail(b->err, "The error was found %s started at line %zu, column %zu.",
						   p->context, p->context_mark.line + 1,
						   p->context_mark.column + 1);
}

json_t *
yaml_json_parse(const char *text, size_t len, const char *filename,
				shunt_error *err)
{
	yaml_parser_t parser;
	builder b;
	json_t *result = NULL;
	int i;

	memset(&b, 0, sizeof(b));
	b.filename = filename ? filename : "<input>";
	b.text = text;
	b.len = len;
	b.err = err;

	if (!yaml_parser_initialize(&parser)) {
		shunt_error_set(err, SHUNT_E_INPUT, "%s: out of memory parsing YAML",
						b.filename);
		return NULL;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *) text, len);

	for (;;) {
		yaml_event_t ev;
		int rc;

		if (!yaml_parser_parse(&parser, &ev)) {
			parser_failed(&b, &parser);
			goto done;
		}
		rc = on_event(&b, &ev);
		yaml_event_delete(&ev);
		if (rc < 0)
			goto done;
		if (rc > 0)
			break;
	}
	if (b.root == NULL) {
		shunt_error_set(err, SHUNT_E_INPUT, "%s: the file holds no YAML document",
						b.filename);
		goto done;
	}
	result = b.root;
	b.root = NULL;

done:
	for (i = 0; i < YAML_JSON_MAX_DEPTH; i++)
		free(b.stack[i].key);
	json_decref(b.root);
	yaml_parser_delete(&parser);
	return result;
}
