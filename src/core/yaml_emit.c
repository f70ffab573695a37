/*
 * yaml_emit.c: jansson value to YAML text; see yaml_emit.h.
 */
#include "core/yaml_emit.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

static void
pad(shunt_buf *b, int n)
{
	for (int i = 0; i < n; i++)
		buf_putc(b, ' ');
}

/* Whether s can be written without quotes and read back as the same
 * string: an identifier that is no YAML keyword (booleans, null). */
static bool
plain_ok(const char *s)
{
	static const char *const words[] = { "true", "false", "null", "yes", "no", "on", "off",
										 "y", "n", NULL };

	if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
			  *p == '_'))
			return false;
	for (size_t i = 0; words[i]; i++)
		if (strcasecmp(s, words[i]) == 0)
			return false;
	return true;
}

static void
put_string(shunt_buf *b, const char *s)
{
	if (plain_ok(s)) {
		buf_put(b, s);
		return;
	}
	buf_putc(b, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"':
			buf_put(b, "\\\"");
			break;
		case '\\':
			buf_put(b, "\\\\");
			break;
		case '\n':
			buf_put(b, "\\n");
			break;
		case '\t':
			buf_put(b, "\\t");
			break;
		case '\r':
			buf_put(b, "\\r");
			break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				buf_printf(b, "\\x%02x", *p);
			else
				buf_putc(b, (char)*p);
		}
	}
	buf_putc(b, '"');
}

void
yaml_emit_scalar(shunt_buf *b, const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_STRING:
		put_string(b, json_string_value(v));
		break;
	case JSON_TRUE:
		buf_put(b, "true");
		break;
	case JSON_FALSE:
		buf_put(b, "false");
		break;
	case JSON_INTEGER:
		buf_printf(b, "\"%" JSON_INTEGER_FORMAT "\"", json_integer_value(v));
		break;
	case JSON_REAL:
		buf_printf(b, "\"%.17g\"", json_real_value(v));
		break;
	default:
		buf_put(b, "null");
	}
}

static bool
is_empty_container(const json_t *v)
{
	return (json_is_object(v) && json_object_size(v) == 0) ||
		   (json_is_array(v) && json_array_size(v) == 0);
}

/* Appends the value of a key (after "key:") or of an item (after "- "). */
static void
put_value(shunt_buf *b, const json_t *v, int indent)
{
	size_t i;
	json_t *item;

	if (is_empty_container(v)) {
		buf_put(b, json_is_object(v) ? " {}\n" : " []\n");
	} else if (json_is_object(v)) {
		buf_putc(b, '\n');
		yaml_emit_mapping(b, v, indent + 2);
	} else if (json_is_array(v)) {
		buf_putc(b, '\n');
		json_array_foreach(v, i, item) {
			yaml_emit_item(b, item, indent + 2);
		}
	} else {
		buf_putc(b, ' ');
		yaml_emit_scalar(b, v);
		buf_putc(b, '\n');
	}
}

/* The mapping's lines; the first one's indentation is already written
 * when first_done. */
static void
put_mapping(shunt_buf *b, const json_t *obj, int indent, bool first_done)
{
	const char *key;
	json_t *val;
	bool first = true;

	json_object_foreach((json_t *)obj, key, val) {
		if (!(first && first_done))
			pad(b, indent);
		first = false;
		put_string(b, key);
		buf_putc(b, ':');
		put_value(b, val, indent);
	}
}

void
yaml_emit_mapping(shunt_buf *b, const json_t *obj, int indent)
{
	put_mapping(b, obj, indent, false);
}

void
yaml_emit_item(shunt_buf *b, const json_t *v, int indent)
{
	pad(b, indent);
	buf_putc(b, '-');
	if (json_is_object(v) && json_object_size(v) > 0) {
		buf_putc(b, ' ');
		put_mapping(b, v, indent + 2, true);
	} else
		put_value(b, v, indent);
}
