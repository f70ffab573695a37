/*
 * model.c: version models; see model.h.
 */
#include "core/model.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"

void
model_init(model *m, const char *schema)
{
	memset(m, 0, sizeof(*m));
	m->schema = shunt_xstrdup(schema);
}

static void
column_release(model_column *c)
{
	free(c->name);
	free(c->phys);
	free(c->type);
	free(c->default_expr);
}

static void
table_release(model_table *t)
{
	for (size_t i = 0; i < t->n_cols; i++)
		column_release(&t->cols[i]);
	free(t->cols);
	free(t->name);
	free(t->phys);
}

void
model_release(model *m)
{
	for (size_t i = 0; i < m->n_tables; i++)
		table_release(&m->tables[i]);
	free(m->tables);
	free(m->schema);
	memset(m, 0, sizeof(*m));
}

static char *
dup_or_null(const char *s)
{
	return s ? shunt_xstrdup(s) : NULL;
}

void
model_copy(model *dst, const model *src)
{
	model_init(dst, src->schema);
	for (size_t i = 0; i < src->n_tables; i++) {
		const model_table *st = &src->tables[i];
		model_table *dt = model_add_table(dst, st->name, st->phys);

		dt->created = st->created;
		for (size_t j = 0; j < st->n_cols; j++) {
			const model_column *sc = &st->cols[j];
			model_column *dc = model_add_column(dt, sc->name, sc->phys, sc->type);

			dc->not_null = sc->not_null;
			dc->default_expr = dup_or_null(sc->default_expr);
			dc->pk = sc->pk;
			dc->is_new = sc->is_new;
			dc->identity = sc->identity;
			dc->generated = sc->generated;
		}
	}
}

model_table *
model_find_table(model *m, const char *name)
{
	for (size_t i = 0; i < m->n_tables; i++)
		if (strcmp(m->tables[i].name, name) == 0)
			return &m->tables[i];
	return NULL;
}

model_table *
model_find_table_phys(model *m, const char *phys)
{
	for (size_t i = 0; i < m->n_tables; i++)
		if (strcmp(m->tables[i].phys, phys) == 0)
			return &m->tables[i];
	return NULL;
}

model_column *
model_find_column(model_table *t, const char *name)
{
	for (size_t i = 0; i < t->n_cols; i++)
		if (strcmp(t->cols[i].name, name) == 0)
			return &t->cols[i];
	return NULL;
}

model_column *
model_find_column_phys(model_table *t, const char *phys)
{
	for (size_t i = 0; i < t->n_cols; i++)
		if (strcmp(t->cols[i].phys, phys) == 0)
			return &t->cols[i];
	return NULL;
}

model_table *
model_add_table(model *m, const char *name, const char *phys)
{
	model_table *t;

	if (m->n_tables == m->cap_tables) {
		m->cap_tables = m->cap_tables ? m->cap_tables * 2 : 8;
		m->tables = shunt_xrealloc(m->tables, m->cap_tables * sizeof(*m->tables));
	}
	t = &m->tables[m->n_tables++];
	memset(t, 0, sizeof(*t));
	t->name = shunt_xstrdup(name);
	t->phys = shunt_xstrdup(phys);
	return t;
}

model_column *
model_add_column(model_table *t, const char *name, const char *phys, const char *type)
{
	model_column *c;

	if (t->n_cols == t->cap_cols) {
		t->cap_cols = t->cap_cols ? t->cap_cols * 2 : 8;
		t->cols = shunt_xrealloc(t->cols, t->cap_cols * sizeof(*t->cols));
	}
	c = &t->cols[t->n_cols++];
	memset(c, 0, sizeof(*c));
	c->name = shunt_xstrdup(name);
	c->phys = shunt_xstrdup(phys);
	c->type = shunt_xstrdup(type ? type : "");
	return c;
}

void
model_remove_table(model *m, const char *name)
{
	for (size_t i = 0; i < m->n_tables; i++) {
		if (strcmp(m->tables[i].name, name) == 0) {
			table_release(&m->tables[i]);
			memmove(&m->tables[i], &m->tables[i + 1], (m->n_tables - i - 1) * sizeof(*m->tables));
			m->n_tables--;
			return;
		}
	}
}

void
model_remove_column(model_table *t, const char *name)
{
	for (size_t i = 0; i < t->n_cols; i++) {
		if (strcmp(t->cols[i].name, name) == 0) {
			column_release(&t->cols[i]);
			memmove(&t->cols[i], &t->cols[i + 1], (t->n_cols - i - 1) * sizeof(*t->cols));
			t->n_cols--;
			return;
		}
	}
}

/* FNV-1a: stable across platforms and releases, which the names must be. */
static uint32_t
fnv1a(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++) {
		h ^= (unsigned char) *s;
		h *= 16777619u;
	}
	return h;
}

char *
model_generated_name(const char *prefix, const char *name)
{
	shunt_buf b = SHUNT_BUF_INIT;
	size_t plen = strlen(prefix);
	size_t nlen = strlen(name);
	size_t keep;

	buf_init(&b);
	if (plen + nlen <= MODEL_MAX_IDENT) {
		buf_put(&b, prefix);
		buf_put(&b, name);
		return buf_detach(&b);
	}
	keep = MODEL_MAX_IDENT > plen + 9 ? MODEL_MAX_IDENT - plen - 9 : 0;
	if (keep > nlen)
		keep = nlen;
	/* Do not cut a UTF-8 sequence: step back over continuation bytes. */
	while (keep > 0 && ((unsigned char) name[keep] & 0xC0) == 0x80)
		keep--;
	buf_put(&b, prefix);
	buf_putn(&b, name, keep);
	buf_printf(&b, "_%08x", fnv1a(name));
	return buf_detach(&b);
}
