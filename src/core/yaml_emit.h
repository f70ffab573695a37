/*
 * yaml_emit.h: writes a jansson value as block-style YAML that
 * core/yaml_json.c reads back to the same value.  For files people edit
 * (`shunt convert`): strings stay plain where that is unambiguous and are
 * double-quoted otherwise, so "true", "null", "10" or "a: b" remain strings.
 *
 * Depends on jansson and core/buf.h; never prints.
 */
#ifndef SHUNT_YAML_EMIT_H
#define SHUNT_YAML_EMIT_H

#include <jansson.h>

#include "core/buf.h"

/* Appends the mapping obj at indent spaces, one "key: value" per line. */
void yaml_emit_mapping(shunt_buf *b, const json_t *obj, int indent);

/* Appends v as one sequence item: "- " at indent, v after it. */
void yaml_emit_item(shunt_buf *b, const json_t *v, int indent);

/* Appends a scalar (string, boolean, number or null) as YAML. */
void yaml_emit_scalar(shunt_buf *b, const json_t *v);

#endif
