/*
 * plan.c: plan phases and their JSON form; see plan.h.
 */
#include "core/plan.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

static const char *const kind_names[] = { "txn", "concurrent", "backfill", "views", "rebuild",
										   "rebuild_drop_old", "rebuild_undo" };
#define N_KINDS (sizeof(kind_names) / sizeof(kind_names[0]))
_Static_assert(N_KINDS == STEP_REBUILD_UNDO + 1, "kind_names[] needs one name per plan_step_kind");

const char *
plan_step_kind_name(plan_step_kind k)
{
	return kind_names[k];
}

void
plan_init(plan *p)
{
	memset(p, 0, sizeof(*p));
}

static void
step_release(plan_step *s)
{
	free(s->what);
	for (size_t i = 0; i < s->n_sql; i++)
		free(s->sql[i]);
	free(s->sql);
	free(s->cleanup);
	for (size_t i = 0; i < s->n_relations; i++)
		free(s->relations[i]);
	free(s->relations);
	free(s->table_schema);
	free(s->table);
	free(s->set_clause);
}

void
plan_phase_release(plan_phase *ph)
{
	for (size_t i = 0; i < ph->n; i++)
		step_release(&ph->steps[i]);
	free(ph->steps);
	memset(ph, 0, sizeof(*ph));
}

void
plan_release(plan *p)
{
	plan_phase_release(&p->start);
	plan_phase_release(&p->complete);
	plan_phase_release(&p->rollback);
}

static plan_step *
add_step(plan_phase *ph, plan_step_kind kind, const char *what)
{
	plan_step *s;

	if (ph->n == ph->cap) {
		ph->cap = ph->cap ? ph->cap * 2 : 8;
		ph->steps = shunt_xrealloc(ph->steps, ph->cap * sizeof(*ph->steps));
	}
	s = &ph->steps[ph->n++];
	memset(s, 0, sizeof(*s));
	s->kind = kind;
	s->what = shunt_xstrdup(what);
	s->only_if_started = -1;
	return s;
}

static void
add_string(char ***arr, size_t *n, const char *s)
{
	*arr = shunt_xrealloc(*arr, (*n + 1) * sizeof(**arr));
	(*arr)[(*n)++] = shunt_xstrdup(s);
}

plan_step *
plan_add_txn(plan_phase *ph, const char *what, const char *relation)
{
	plan_step *s = add_step(ph, STEP_TXN, what);

	if (relation != NULL)
		add_string(&s->relations, &s->n_relations, relation);
	return s;
}

void
plan_step_add_sql(plan_step *s, const char *sql)
{
	add_string(&s->sql, &s->n_sql, sql);
}

plan_step *
plan_add_concurrent(plan_phase *ph, const char *what, const char *sql, const char *cleanup)
{
	plan_step *s = add_step(ph, STEP_CONCURRENT, what);

	plan_step_add_sql(s, sql);
	s->cleanup = cleanup ? shunt_xstrdup(cleanup) : NULL;
	return s;
}

plan_step *
plan_add_backfill(plan_phase *ph, const char *what, const char *schema, const char *table)
{
	plan_step *s = add_step(ph, STEP_BACKFILL, what);

	s->table_schema = shunt_xstrdup(schema);
	s->table = shunt_xstrdup(table);
	return s;
}

plan_step *
plan_add_views(plan_phase *ph, const char *what)
{
	return add_step(ph, STEP_VIEWS, what);
}

plan_step *
plan_add_rebuild(plan_phase *ph, plan_step_kind kind, const char *what, const char *schema, const char *table,
				 const char *alter)
{
	plan_step *s = add_step(ph, kind, what);

	s->table_schema = shunt_xstrdup(schema);
	s->table = shunt_xstrdup(table);
	if (alter != NULL)
		plan_step_add_sql(s, alter);
	return s;
}

void
plan_phase_prepend(plan_phase *dst, plan_phase *src)
{
	size_t total = dst->n + src->n;

	if (src->n == 0)
		return;
	if (total > dst->cap) {
		dst->cap = total;
		dst->steps = shunt_xrealloc(dst->steps, dst->cap * sizeof(*dst->steps));
	}
	memmove(dst->steps + src->n, dst->steps, dst->n * sizeof(*dst->steps));
	memcpy(dst->steps, src->steps, src->n * sizeof(*src->steps));
	dst->n = total;
	free(src->steps);
	memset(src, 0, sizeof(*src));
}

void
plan_phase_append(plan_phase *dst, plan_phase *src)
{
	size_t total = dst->n + src->n;

	if (src->n == 0)
		return;
	if (total > dst->cap) {
		dst->cap = total;
		dst->steps = shunt_xrealloc(dst->steps, dst->cap * sizeof(*dst->steps));
	}
	memcpy(dst->steps + dst->n, src->steps, src->n * sizeof(*src->steps));
	dst->n = total;
	free(src->steps);
	memset(src, 0, sizeof(*src));
}

static json_t *
strings_to_json(char **arr, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(arr[i]));
	return a;
}

static void
set_opt(json_t *o, const char *key, const char *value)
{
	if (value != NULL)
		json_object_set_new(o, key, json_string(value));
}

static json_t *
phase_to_json(const plan_phase *ph)
{
	json_t *a = json_array();

	for (size_t i = 0; i < ph->n; i++) {
		const plan_step *s = &ph->steps[i];
		json_t *o = json_object();

		json_object_set_new(o, "kind", json_string(kind_names[s->kind]));
		json_object_set_new(o, "what", json_string(s->what));
		if (s->n_sql)
			json_object_set_new(o, "sql", strings_to_json(s->sql, s->n_sql));
		if (s->n_relations)
			json_object_set_new(o, "relations", strings_to_json(s->relations, s->n_relations));
		set_opt(o, "cleanup", s->cleanup);
		set_opt(o, "table_schema", s->table_schema);
		set_opt(o, "table", s->table);
		set_opt(o, "set_clause", s->set_clause);
		if (s->only_if_started >= 0)
			json_object_set_new(o, "only_if_started", json_integer(s->only_if_started));
		json_array_append_new(a, o);
	}
	return a;
}

json_t *
plan_to_json(const plan *p)
{
	json_t *o = json_object();

	json_object_set_new(o, "start", phase_to_json(&p->start));
	json_object_set_new(o, "complete", phase_to_json(&p->complete));
	json_object_set_new(o, "rollback", phase_to_json(&p->rollback));
	return o;
}

static char *
opt_str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? shunt_xstrdup(json_string_value(v)) : NULL;
}

static void
strings_from_json(json_t *a, char ***arr, size_t *n)
{
	size_t i;
	json_t *v;

	json_array_foreach(a, i, v) {
		if (json_is_string(v))
			add_string(arr, n, json_string_value(v));
	}
}

static int
phase_from_json(plan_phase *ph, json_t *a, shunt_error *err)
{
	size_t i;
	json_t *o;

	if (!json_is_array(a))
		return shunt_error_set(err, SHUNT_E_STATE, "stored plan is damaged: phase is not a list");
	json_array_foreach(a, i, o) {
		const char *kind = json_string_value(json_object_get(o, "kind"));
		const char *what = json_string_value(json_object_get(o, "what"));
		plan_step *s;
		int k;

		for (k = 0; k < (int) N_KINDS; k++)
			if (kind && strcmp(kind, kind_names[k]) == 0)
				break;
		if (k == (int) N_KINDS || what == NULL)
			return shunt_error_set(err, SHUNT_E_STATE, "stored plan is damaged: step %zu", i + 1);
		s = add_step(ph, (plan_step_kind) k, what);
		strings_from_json(json_object_get(o, "sql"), &s->sql, &s->n_sql);
		strings_from_json(json_object_get(o, "relations"), &s->relations, &s->n_relations);
		s->cleanup = opt_str(o, "cleanup");
		s->table_schema = opt_str(o, "table_schema");
		s->table = opt_str(o, "table");
		s->set_clause = opt_str(o, "set_clause");
		if (json_is_integer(json_object_get(o, "only_if_started")))
			s->only_if_started = (int) json_integer_value(json_object_get(o, "only_if_started"));
	}
	return 0;
}

int
plan_from_json(plan *p, json_t *j, shunt_error *err)
{
	plan_init(p);
	if (!json_is_object(j) || phase_from_json(&p->start, json_object_get(j, "start"), err) != 0 ||
		phase_from_json(&p->complete, json_object_get(j, "complete"), err) != 0 ||
		phase_from_json(&p->rollback, json_object_get(j, "rollback"), err) != 0) {
		if (err && err->code == SHUNT_OK)
			shunt_error_set(err, SHUNT_E_STATE, "stored plan is damaged");
		plan_release(p);
		return -1;
	}
	return 0;
}
