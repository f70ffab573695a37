#!/usr/bin/env bash
# A catalogue of bad inputs: each gets a clear message naming the file, the
# operation and the field, a non-zero exit, and leaves the database exactly
# as it was (compared by a catalog snapshot, pg_dump -s, and the rows).
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"

S=$SHUNT_BIN
t_createdb bad
export PGDATABASE=bad
t_sql bad "CREATE TABLE t (id int PRIMARY KEY, name text NOT NULL, price text);
	INSERT INTO t VALUES (1, 'a', '1'), (2, 'b', '2')" >/dev/null
# the state schema exists, as it would after earlier migrations
"$S" -q init >/dev/null
ok_m=$T_TMP/ok.yaml
printf 'operations:\n  - add_column: {table: t, column: {name: note, type: text, nullable: true}}\n' >"$ok_m"

snapshot() {
	{
		pg_dump -s -d bad | grep -v '^\\restrict\|^\\unrestrict'
		t_sql bad "SELECT string_agg(id || name || coalesce(price, ''), ',' ORDER BY id) FROM t"
		t_sql bad "SELECT count(*) FROM shunt.migrations"
		t_sql bad "SELECT string_agg(nspname, ',' ORDER BY nspname) FROM pg_namespace"
	}
}
base=$(snapshot)

# bad CODE DESC REGEX FILE-CONTENT [file name]: the file is refused with
# exit CODE and an error matching REGEX, and nothing changes.
bad() {
	local code=$1 desc=$2 regex=$3 content=$4 name=${5:-m.yaml}
	printf '%s\n' "$content" >"$T_TMP/$name"
	t_exit "$code" "$desc: refused" "$S" start "$T_TMP/$name"
	t_like "$T_ERR" "$regex" "$desc: the message"
	t_is "$(snapshot)" "$base" "$desc: the database is exactly as before"
}

bad 1 "malformed YAML" "m.yaml:[0-9]+:[0-9]+: invalid YAML" $'operations:\n  - add_column:\n    table: "t'
bad 1 "malformed JSON" "m.json:1:[0-9]+: invalid JSON" '{"operations": [ {"add_column": }]}' m.json
bad 1 "unknown operation" 'operation 1 \(add_colum\)|unknown operation "add_colum"' \
	$'operations:\n  - add_colum: {table: t}'
bad 1 "unknown field" 'operation 1 \(add_column\): unknown field "column.nulable"' \
	$'operations:\n  - add_column: {table: t, column: {name: x, type: int, nulable: true}}'
bad 1 "wrong type" 'operation 1 \(add_column\): field "column.nullable" must be a boolean' \
	$'operations:\n  - add_column: {table: t, column: {name: x, type: int, nullable: "maybe"}}'
bad 1 "missing required field" 'operation 1 \(rename_column\): missing required field "to"' \
	$'operations:\n  - rename_column: {table: t, from: name}'
bad 1 "missing table" 'operation 1 \(add_column\): field "table": table "nope" does not exist' \
	$'operations:\n  - add_column: {table: nope, column: {name: x, type: int, nullable: true}}'
bad 1 "missing column" 'operation 2 \(alter_column\): field "column": column "nope" does not exist' \
	$'operations:\n  - add_column: {table: t, column: {name: x, type: int, nullable: true}}\n  - alter_column: {table: t, column: nope, type: bigint}'
bad 1 "an up with a syntax error" 'operation 1 \(alter_column\): field "up": invalid SQL expression in "up"' \
	$'operations:\n  - alter_column: {table: t, column: price, type: int, up: "CAST(price AS int", down: "price::text"}'
bad 1 "SQL smuggled into an expression" 'operation 1 \(alter_column\): field "up"' \
	$'operations:\n  - alter_column: {table: t, column: price, type: int, up: "1); DROP TABLE t; --", down: "price"}'
bad 1 "SQL smuggled into a type" 'operation 1 \(add_column\): field "column.type"' \
	$'operations:\n  - add_column: {table: t, column: {name: x, type: "int); DROP TABLE t; --", nullable: true}}'
bad 1 "an sql operation that does not parse" 'operation 1 \(sql\): field "up": invalid SQL at line 1' \
	$'operations:\n  - sql: {up: "CREATE TABL x (id int)"}'
bad 1 "a table that exists already" 'operation 1 \(create_table\): field "name": table "t" already exists' \
	$'operations:\n  - create_table: {name: t, columns: [{name: id, type: int, pk: true}]}'
bad 1 "a NOT NULL column without up or default" 'field "column.nullable": a NOT NULL column without a default needs "up"' \
	$'operations:\n  - add_column: {table: t, column: {name: x, type: int}}'
bad 1 "an empty file" "m.yaml: the file holds no YAML document" ''
t_exit 1 "a file that does not exist" "$S" start "$T_TMP/nope.yaml"
t_like "$T_ERR" 'nope.yaml' "the message names the file"
t_is "$(snapshot)" "$base" "a missing file changes nothing"

# a migration applied already
t_exit 0 "a good migration applies" "$S" start --complete "$ok_m"
base=$(snapshot)
t_exit 3 "applying it again is refused" "$S" start "$ok_m"
t_like "$T_ERR" 'migration "ok" was already applied' "the message says so"
t_is "$(snapshot)" "$base" "and nothing changes"

# a second, concurrent shunt
coproc HOLD { psql -XAtq -v ON_ERROR_STOP=1 bad; }
echo "SELECT 'held' FROM pg_advisory_lock(hashtext('shunt:shunt:public'));" >&"${HOLD[1]}"
read -r -t 10 line <&"${HOLD[0]}" || true
printf 'operations:\n  - add_column: {table: t, column: {name: note2, type: text, nullable: true}}\n' >"$T_TMP/two.yaml"
t_exit 3 "a start while another shunt works on the schema is refused" "$S" start "$T_TMP/two.yaml"
t_like "$T_ERR" "another shunt process is working on schema" "the message says so"
t_is "$(snapshot)" "$base" "and nothing changes"
{ echo '\q' >&"${HOLD[1]}"; } 2>/dev/null || true
wait "${HOLD_PID:-}" 2>/dev/null || true

t_done
