/*
 * pg_lint_types.c: what the linter knows about column types and default
 * expressions: type names normalised ("integer" is int4), the prefer-* and
 * ban-char-field rules where a type is declared, the declared types kept
 * in the lint_schema, whether ALTER COLUMN ... TYPE rewrites, and whether
 * a DEFAULT is volatile.  See pg_lint.h.
 *
 * Whether a type change rewrites follows PostgreSQL's rules
 * (ATColumnChangeRequiresRewrite with the length-coercion support
 * functions of varchar, numeric, varbit and the datetime types): only
 * binary-compatible changes that keep or relax the typmod are
 * catalog-only.
 */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "pg/pg_lint_int.h"

/* ---- types ---- */

static const char *const aliases[][2] = {
	{ "integer", "int4" }, { "int", "int4" }, { "bigint", "int8" }, { "smallint", "int2" },
	{ "serial4", "serial" }, { "serial8", "bigserial" }, { "serial2", "smallserial" },
	{ "decimal", "numeric" }, { "character varying", "varchar" }, { "float", "float8" },
	{ "bit varying", "varbit" }, { NULL, NULL },
};

void
lint_type_of(json_t *tn, lint_type *t)
{
	size_t i;
	json_t *m;

	memset(t, 0, sizeof(*t));
	t->base = sqlf_last_name(json_object_get(tn, "names"));
	if (t->base == NULL)
		t->base = "";
	for (i = 0; aliases[i][0]; i++)
		if (strcmp(t->base, aliases[i][0]) == 0)
			t->base = aliases[i][1];
	json_array_foreach(json_object_get(tn, "typmods"), i, m) {
		if (i < 2 && sqlf_const_int(m, &t->mods[i]))
			t->n_mods = (int)i + 1;
	}
	t->array = json_array_size(json_object_get(tn, "arrayBounds")) > 0;
}

static bool
is_one_of(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(s, *list) == 0)
			return true;
	return false;
}

static const char *const serial_types[] = { "serial", "bigserial", "smallserial", NULL };
static const char *const datetime_types[] = { "timestamp", "timestamptz", "time", "timetz",
											  "interval", NULL };
/* Types an existing column can change to without a rewrite from some other
 * type (or a smaller typmod of the same type). */
static const char *const relaxable_targets[] = { "varchar", "text", "numeric", "varbit", "inet",
												 "timestamp", "timestamptz", "time", "timetz",
												 "interval", NULL };

void
lint_check_type(lint_ctx *c, json_t *tn, const char *column)
{
	lint_type t;
	size_t off = (size_t)sqlf_int(tn, "location", (long)c->s->start);
	const char *col = column ? column : "?";

	if (tn == NULL)
		return;
	lint_type_of(tn, &t);
	if (strcmp(t.base, "int4") == 0 || strcmp(t.base, "serial") == 0)
		lint_report(c, LR_PREFER_BIGINT_OVER_INT, off, "column \"%s\" is a 32-bit integer", col);
	if (strcmp(t.base, "int2") == 0 || strcmp(t.base, "smallserial") == 0)
		lint_report(c, LR_PREFER_BIGINT_OVER_SMALLINT, off, "column \"%s\" is a 16-bit integer",
					col);
	if (is_one_of(t.base, serial_types))
		lint_report(c, LR_PREFER_IDENTITY, off, "column \"%s\" is a %s", col, t.base);
	if (strcmp(t.base, "varchar") == 0 && t.n_mods > 0)
		lint_report(c, LR_PREFER_TEXT_FIELD, off, "column \"%s\" is varchar(%ld)", col, t.mods[0]);
	if (strcmp(t.base, "bpchar") == 0)
		lint_report(c, LR_BAN_CHAR_FIELD, off, "column \"%s\" is char(n)", col);
	if (strcmp(t.base, "timestamp") == 0)
		lint_report(c, LR_PREFER_TIMESTAMPTZ, off, "column \"%s\" is timestamp without time zone",
					col);
	if (strcmp(t.base, "json") == 0)
		lint_report(c, LR_PREFER_JSONB, off, "column \"%s\" is json", col);
}

/* Index of table.column in the schema's cols, or -1. */
static long
col_find(const lint_schema *sc, const char *table, const char *column)
{
	shunt_buf k = SHUNT_BUF_INIT;
	json_t *i;

	buf_init(&k);
	buf_printf(&k, "%s\001%s", table, column);
	i = sc->col_index ? json_object_get(sc->col_index, buf_str(&k)) : NULL;
	buf_release(&k);
	return json_is_integer(i) ? (long)json_integer_value(i) : -1;
}

void
lint_set_coltype(lint_ctx *c, const char *table, const char *column, json_t *type)
{
	lint_schema *sc = c->schema;
	lint_coltype *ct;
	long at;
	lint_type t;

	if (table == NULL || column == NULL || type == NULL)
		return;
	lint_type_of(type, &t);
	if ((at = col_find(sc, table, column)) >= 0) {
		ct = &sc->cols[at];
		free(ct->base);
	} else {
		shunt_buf k = SHUNT_BUF_INIT;

		if (sc->n_cols == sc->cap_cols) {
			sc->cap_cols = sc->cap_cols ? sc->cap_cols * 2 : 16;
			sc->cols = shunt_xrealloc(sc->cols, sc->cap_cols * sizeof(*sc->cols));
		}
		if (sc->col_index == NULL)
			sc->col_index = json_object();
		buf_init(&k);
		buf_printf(&k, "%s\001%s", table, column);
		json_object_set_new(sc->col_index, buf_str(&k), json_integer((json_int_t)sc->n_cols));
		buf_release(&k);
		ct = &sc->cols[sc->n_cols++];
		ct->table = shunt_xstrdup(table);
		ct->column = shunt_xstrdup(column);
	}
	ct->base = shunt_xstrdup(t.base);
	ct->mods[0] = t.mods[0];
	ct->mods[1] = t.mods[1];
	ct->n_mods = t.n_mods;
	ct->array = t.array;
}

bool
lint_known_type(const lint_ctx *c, const char *table, const char *column, lint_type *t)
{
	const lint_schema *sc = c->schema;
	long at = col_find(sc, table, column);

	if (at < 0)
		return false;
	t->base = sc->cols[at].base;
	t->mods[0] = sc->cols[at].mods[0];
	t->mods[1] = sc->cols[at].mods[1];
	t->n_mods = sc->cols[at].n_mods;
	t->array = sc->cols[at].array;
	return true;
}

/* A typmod that keeps or relaxes the old one: absent (unlimited) or >=. */
static bool
relaxes(const lint_type *o, const lint_type *n, long old_default)
{
	long old = o->n_mods ? o->mods[0] : old_default;

	if (n->n_mods == 0)
		return true;
	return old >= 0 && n->mods[0] >= old;
}

lint_type_change
lint_classify_change(const lint_type *o, const lint_type *n, bool using_other)
{
	if (using_other)
		return TC_REWRITE;
	if (o == NULL)
		return !n->array && is_one_of(n->base, relaxable_targets) ? TC_MAYBE : TC_REWRITE;
	if (o->array != n->array)
		return TC_REWRITE;
	if (strcmp(o->base, n->base) == 0 && o->n_mods == n->n_mods &&
		(o->n_mods < 1 || o->mods[0] == n->mods[0]) && (o->n_mods < 2 || o->mods[1] == n->mods[1]))
		return TC_SAME;
	if (o->array)
		return TC_REWRITE;
	if (strcmp(o->base, "varchar") == 0 && strcmp(n->base, "varchar") == 0)
		return relaxes(o, n, -1) ? TC_SAFE : TC_REWRITE;
	if ((strcmp(o->base, "varchar") == 0 && strcmp(n->base, "text") == 0) ||
		(strcmp(o->base, "text") == 0 && strcmp(n->base, "varchar") == 0 && n->n_mods == 0) ||
		(strcmp(o->base, "cidr") == 0 && strcmp(n->base, "inet") == 0))
		return TC_SAFE;
	if (strcmp(o->base, "numeric") == 0 && strcmp(n->base, "numeric") == 0) {
		long oscale = o->n_mods > 1 ? o->mods[1] : 0, nscale = n->n_mods > 1 ? n->mods[1] : 0;

		if (n->n_mods == 0)
			return TC_SAFE;
		return o->n_mods > 0 && n->mods[0] >= o->mods[0] && nscale == oscale ? TC_SAFE
																			 : TC_REWRITE;
	}
	if (strcmp(o->base, "varbit") == 0 && strcmp(n->base, "varbit") == 0)
		return relaxes(o, n, -1) ? TC_SAFE : TC_REWRITE;
	if (strcmp(o->base, n->base) == 0 && is_one_of(o->base, datetime_types) &&
		strcmp(o->base, "interval") != 0)
		return relaxes(o, n, 6) ? TC_SAFE : TC_REWRITE;
	if (strcmp(o->base, "interval") == 0 && strcmp(n->base, "interval") == 0 && n->n_mods == 0)
		return TC_SAFE;
	return TC_REWRITE;
}

/* Appends a normalised type as SQL: "integer", "numeric(10,2)", "text[]". */
void
lint_put_type(shunt_buf *b, const lint_type *t)
{
	static const char *const names[][2] = {
		{ "int4", "integer" }, { "int8", "bigint" }, { "int2", "smallint" }, { "bpchar", "char" },
		{ "float8", "double precision" }, { "float4", "real" }, { "bool", "boolean" },
		{ NULL, NULL },
	};
	const char *name = t->base;

	for (size_t i = 0; names[i][0]; i++)
		if (strcmp(name, names[i][0]) == 0)
			name = names[i][1];
	buf_put(b, name);
	if (t->n_mods == 1)
		buf_printf(b, "(%ld)", t->mods[0]);
	else if (t->n_mods == 2)
		buf_printf(b, "(%ld,%ld)", t->mods[0], t->mods[1]);
	if (t->array)
		buf_put(b, "[]");
}

/* What the current type must be for a change to n to be catalog-only. */
const char *
lint_catalog_only_from(const lint_type *n)
{
	if (strcmp(n->base, "varchar") == 0)
		return n->n_mods ? "a varchar with a smaller or equal limit" : "varchar or text";
	if (strcmp(n->base, "text") == 0)
		return "varchar";
	if (strcmp(n->base, "numeric") == 0)
		return n->n_mods ? "numeric with a smaller or equal precision and the same scale"
						 : "numeric with a precision";
	if (strcmp(n->base, "varbit") == 0)
		return "a varbit with a smaller or equal limit";
	if (strcmp(n->base, "inet") == 0)
		return "cidr";
	return "the same type with a smaller or equal precision";
}

/* ---- defaults ---- */

static const char *const volatile_funcs[] = {
	"random", "random_normal", "gen_random_uuid", "gen_random_bytes", "uuid_generate_v1",
	"uuid_generate_v1mc", "uuid_generate_v4", "uuidv4", "uuidv7", "clock_timestamp",
	"timeofday", "nextval", "setval", "currval", "lastval", NULL
};

static const char *const stable_funcs[] = {
	"now", "transaction_timestamp", "statement_timestamp", "current_setting", "lower",
	"upper", "length", "concat", "concat_ws", "abs", "round", "trunc", "floor", "ceil",
	"to_char", "to_date", "to_timestamp", "to_number", "make_date", "make_time",
	"make_timestamp", "make_timestamptz", "make_interval", "date_trunc", "date_part",
	"extract", "timezone", "jsonb_build_object", "jsonb_build_array", "json_build_object",
	"json_build_array", "md5", "btrim", "ltrim", "rtrim", "replace", "substr", "substring",
	"left", "right", "repeat", "format", "array_fill", "to_jsonb", "to_json", "int4range",
	"int8range", "numrange", "tstzrange", "daterange", "current_database", "current_schema",
	"pg_catalog", NULL
};

static lint_volatility
worse(lint_volatility a, lint_volatility b)
{
	return a > b ? a : b;
}

static lint_volatility
classify_node(json_t *node)
{
	const char *key;
	json_t *val;
	size_t i;
	lint_volatility v = VOL_CONST;

	if (json_is_array(node)) {
		json_array_foreach(node, i, val) {
			v = worse(v, classify_node(val));
		}
		return v;
	}
	if (!json_is_object(node))
		return v;
	json_object_foreach(node, key, val) {
		if (strcmp(key, "FuncCall") == 0) {
			const char *fn = sqlf_last_name(json_object_get(val, "funcname"));

			if (fn == NULL || is_one_of(fn, volatile_funcs))
				return VOL_VOLATILE;
			if (!is_one_of(fn, stable_funcs))
				v = worse(v, VOL_UNKNOWN);
			v = worse(v, classify_node(json_object_get(val, "args")));
		} else if (strcmp(key, "SubLink") == 0 || strcmp(key, "ColumnRef") == 0)
			v = worse(v, VOL_UNKNOWN);
		else
			v = worse(v, classify_node(val));
	}
	return v;
}

lint_volatility
lint_classify_default(json_t *expr)
{
	json_t *body;
	const char *kind = sqlf_node_kind(expr, &body);

	if (kind != NULL && strcmp(kind, "TypeCast") == 0)
		kind = sqlf_node_kind(json_object_get(body, "arg"), &body);
	if (kind != NULL && strcmp(kind, "A_Const") == 0 && json_is_true(json_object_get(body, "isnull")))
		return VOL_NULL;
	return classify_node(expr);
}

bool
lint_is_serial(const lint_type *t)
{
	return is_one_of(t->base, serial_types);
}
