/*
 * yaml_json.h: turn one YAML document into a jansson tree.
 *
 * Migration files may be written in YAML or JSON; the rest of shunt sees only
 * JSON values.  The mapping of YAML scalars is deliberately small (YAML 1.2
 * core schema for booleans and null, everything else a string):
 *
 *   quoted scalar ('x', "x")                  string
 *   plain true/True/TRUE, false/False/FALSE   boolean
 *   plain null/Null/NULL, ~, or empty         null
 *   any other plain scalar (100, 1.5, yes)    string holding the text as written
 *
 * so `default: 100` and `default: "100"` give the same string.  The explicit
 * tags !!str, !!map and !!seq are honoured; other tags are rejected.
 *
 * Rejected with SHUNT_E_INPUT and a "file:line:column:" prefix: syntax errors,
 * duplicate mapping keys, non-scalar mapping keys, anchors and aliases (no
 * migration needs them, and refusing them rules out "billion laughs" inputs),
 * strings containing NUL, nesting deeper than YAML_JSON_MAX_DEPTH, and more
 * than one document per file.
 *
 * Depends on libyaml, jansson and core/error.h; never prints.
 */
#ifndef SHUNT_YAML_JSON_H
#define SHUNT_YAML_JSON_H

#include <stddef.h>

#include <jansson.h>

#include "core/error.h"

/* Deepest nesting of mappings and sequences accepted. */
#define YAML_JSON_MAX_DEPTH 64

/*
 * Parses the YAML text (len bytes, need not be NUL-terminated) and returns
 * its single document as a new reference the caller must json_decref().
 * filename is used in messages only.  A stream without any document (an
 * empty file, or only comments) is an error too.  On error returns NULL with
 * err filled.
 */
json_t *yaml_json_parse(const char *text, size_t len, const char *filename,
						shunt_error *err);

#endif
