#!/usr/bin/env bash
# rebuild_table and alter_column with rebuild: true, the migration
# operations (src/pg/pg_op_rebuild.c): under a
# mirrored concurrent writer (tests/lib/mirror_writer.sh) shunt start copies
# and cuts over (int key to bigint), both version schemas read the new
# table, shunt rollback swaps the old table back with every write made
# since, and a second start + complete leaves only the rebuilt table; the
# table equals the writer's mirror row by row after each step.  Bad files
# (another operation beside it, an invalid alter, a missing table) fail
# naming the file, operation and field, and change nothing.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"

S=$SHUNT_BIN
BG=()
_rbm_cleanup() {
	local p
	for p in "${BG[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
}
cluster_at_exit _rbm_cleanup
source "$(dirname "$0")/../lib/mirror_writer.sh"

t_createdb rebuild_mig
export PGDATABASE=rebuild_mig

coltype() {
	t_sql "$PGDATABASE" "SELECT format_type(atttypid, atttypmod) FROM pg_attribute
		WHERE attrelid = 'public.$1'::regclass AND attname = '$2'"
}
leftovers() {
	t_sql "$PGDATABASE" "SELECT count(*) FROM pg_class WHERE relname LIKE '\\_shunt\\_rb%' OR relname LIKE '\\_shunt\\_old%'"
}

make_writer_table "$PGDATABASE" acct 20000
t_sql "$PGDATABASE" "CREATE VIEW acct_big AS SELECT id, n FROM acct WHERE n > 500" >/dev/null
M=$T_TMP/m
mkdir -p "$M"
cat >"$M/01_acct_bigint.yaml" <<'YAML'
operations:
  - rebuild_table:
      table: acct
      alter: ALTER COLUMN id TYPE bigint
YAML

# --- bad files first: each fails, names file, operation and field, changes nothing
cat >"$M/bad_two.yaml" <<'YAML'
operations:
  - rebuild_table:
      table: acct
  - add_column:
      table: acct
      column: {name: x, type: int, nullable: true}
YAML
printf 'operations:\n  - rebuild_table:\n      table: acct\n      alter: DROP TABLE acct\n' >"$M/bad_alter.yaml"
printf 'operations:\n  - rebuild_table:\n      table: nope\n' >"$M/bad_table.yaml"
printf 'operations:\n  - rebuild_table:\n      alter: ALTER COLUMN id TYPE bigint\n' >"$M/bad_missing.yaml"
app_objects() {
	t_sql "$PGDATABASE" "SELECT string_agg(relname || ':' || relfilenode, ',' ORDER BY relname) FROM pg_class
		WHERE relnamespace = 'public'::regnamespace"
}
before=$(app_objects)
t_exit 1 "a rebuild_table beside another operation is refused" "$S" start "$M/bad_two.yaml"
t_like "$T_ERR" "bad_two.yaml: operation 1 \(rebuild_table\): a rebuild .* must be the only operation" \
	"  ... naming the file and the operation"
t_exit 1 "an invalid alter is refused" "$S" start "$M/bad_alter.yaml"
t_like "$T_ERR" "bad_alter.yaml: operation 1 \(rebuild_table\): field \"alter\"" "  ... naming the field"
t_exit 1 "a missing table is refused" "$S" start "$M/bad_table.yaml"
t_like "$T_ERR" "field \"table\": table \"nope\" does not exist" "  ... naming the field and the table"
t_exit 1 "a rebuild_table without table is refused offline" "$S" validate "$M/bad_missing.yaml"
t_like "$T_ERR" "bad_missing.yaml: operation 1 \(rebuild_table\)" "  ... naming the file and the operation"
t_is "$(app_objects)" "$before" "the bad files changed nothing in the application schema"
t_is "$(t_sql "$PGDATABASE" "SELECT count(*) FROM shunt.migrations WHERE status <> 'rolled_back'" 2>/dev/null || echo 0)" 0 \
	"  ... and left no migration behind"

# --- --dry-run names the step and changes nothing
t_exit 0 "start --dry-run" "$S" start --dry-run "$M/01_acct_bigint.yaml"
t_like "$T_OUT" "rebuild table \"acct\" online.*--alter ALTER COLUMN id TYPE bigint" "  ... shows the rebuild step"
t_is "$(coltype acct id)" integer "  ... and changes nothing"
# an alter over two lines stays inside the step's comment line: the dry-run's
# output can be fed to psql
printf 'operations:\n  - rebuild_table:\n      table: acct\n      alter: "ALTER COLUMN n TYPE bigint,\\n  ALTER COLUMN n SET STATISTICS 100"\n' \
	>"$M/two_lines.yaml"
t_exit 0 "start --dry-run with a two-line alter" "$S" start --dry-run "$M/two_lines.yaml"
t_unlike "$T_OUT" $'\n *ALTER COLUMN n SET STATISTICS' "  ... prints no line of it outside a comment"
t_like "$T_OUT" "-- step 1: .*bigint, +ALTER COLUMN n SET STATISTICS 100" "  ... and keeps it whole in the comment"

# --- start under the writer: cut over at start
start_writer "$PGDATABASE" acct 20000 30
sleep 2
t_exit 0 "start: the rebuild_table migration copies and cuts over" "$S" start "$M/01_acct_bigint.yaml"
t_like "$T_ERR" "cut over; the exclusive lock was held" "  ... reporting the lock time"
t_like "$T_ERR" "through either version schema" "  ... warning that both versions see the new type"
t_is "$(coltype acct id)" bigint "after start, acct.id is bigint"
t_is "$(t_sql "$PGDATABASE" "SELECT format_type(atttypid, atttypmod) FROM pg_attribute
	WHERE attrelid = 'public_01_acct_bigint.acct'::regclass AND attname = 'id'")" bigint \
	"  ... and the new version schema's view shows it"
t_is "$(t_sql "$PGDATABASE" "SELECT count(*) > 0 FROM acct_big")" t "  ... a view on the table still reads it"
t_is "$(mirror_diff "$PGDATABASE" acct)" "0 0" "after start the table equals the writer's mirror"
sleep 2

# --- rollback under the writer: the old table back, with the writes made since
t_exit 0 "rollback swaps the old table back" "$S" rollback
t_is "$(coltype acct id)" integer "after rollback, acct.id is integer again"
t_is "$(mirror_diff "$PGDATABASE" acct)" "0 0" "after rollback the table equals the mirror (writes since the cut-over kept)"
t_is "$(leftovers)" 0 "  ... and no shadow or old table is left"

# --- start again, then complete
t_exit 0 "start again" "$S" start "$M/01_acct_bigint.yaml"
sleep 2
t_exit 0 "complete drops the old table" "$S" complete
t_is "$(coltype acct id)" bigint "after complete, acct.id is bigint"
t_is "$(leftovers)" 0 "  ... and no shadow or old table is left"
t_is "$(t_sql "$PGDATABASE" "SELECT count(*) FROM shunt.rebuilds WHERE status IN ('copying','copied','cutover','reverted')")" 0 \
	"  ... and no rebuild is open"
check_writer acct "rebuild_table"
t_is "$(mirror_diff "$PGDATABASE" acct)" "0 0" "after the writer stopped the table equals the mirror"
# --- alter_column with rebuild: true: the same, for one type change
t_sql "$PGDATABASE" "CREATE TABLE acct2 (id int PRIMARY KEY, v text NOT NULL);
	INSERT INTO acct2 SELECT g, 'v' || g FROM generate_series(1, 3000) g" >/dev/null
printf 'operations:\n  - alter_column:\n      table: acct2\n      column: id\n      type: bigint\n      rebuild: true\n' \
	>"$M/02_acct2_bigint.yaml"
printf 'operations:\n  - alter_column:\n      table: acct2\n      column: id\n      type: bigint\n      up: id\n      rebuild: true\n' \
	>"$M/bad_up.yaml"
t_exit 1 "alter_column with rebuild: true refuses up/down" "$S" start "$M/bad_up.yaml"
t_like "$T_ERR" "bad_up.yaml: operation 1 \(alter_column\): field \"up\": with rebuild: true only type may change" \
	"  ... naming the file, operation and field"
t_exit 0 "start: alter_column with rebuild: true" "$S" start "$M/02_acct2_bigint.yaml"
t_is "$(coltype acct2 id)" bigint "  ... acct2.id is bigint"
t_exit 0 "  ... complete" "$S" complete
t_is "$(leftovers)" 0 "  ... and no shadow or old table is left"
t_is "$(t_sql "$PGDATABASE" "SELECT count(*) FROM acct2")" 3000 "  ... with every row"
t_done
