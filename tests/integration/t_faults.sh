#!/usr/bin/env bash
# Crash anywhere, lose nothing.  For every fault point a migration reaches
# (docs/faults.md), with an application writing through the old version:
# kill shunt there (SIGKILL, via SHUNT_FAULT), then resume it to the end, or
# roll it back, and check the schema, the data against an oracle (every
# write the application made is there), and that nothing of shunt is left.
# Also: a server restart in mid-backfill, and the list of fault points in
# docs/faults.md against the code.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"

S=$SHUNT_BIN
root=$(cd "$(dirname "$0")/../.." && pwd)

# --- the documented list matches the code ----------------------------------
doc=$(sed -n '/^```faults$/,/^```$/p' "$root/docs/faults.md" | grep -v '^```' | sort)
code=$(grep -rhoE 'fault_point\("[^"]+"' "$root/src" | sed -E 's/fault_point\("//; s/"$//' |
	sed -E 's/%s/<phase>/g; s/%zu|%d/<n>/g' | sort -u)
t_is "$code" "$doc" "docs/faults.md lists exactly the fault points of the code"

# --- the migration and its data ---------------------------------------------
t_createdb faults_base
t_sql faults_base "CREATE TABLE items (id bigserial PRIMARY KEY, name text NOT NULL, price text);
	INSERT INTO items (name, price) SELECT 'item ' || g, g::text FROM generate_series(1, 2000) g" >/dev/null
cat >"$T_TMP/m.yaml" <<'Y'
operations:
  - rename_column: {table: items, from: name, to: title}
  - alter_column:
      table: items
      column: price
      type: bigint
      nullable: false
      up: coalesce(CAST(price AS bigint), 0)
      down: CAST(price AS text)
  - add_column:
      table: items
      up: "'sku-' || id"
      column: {name: sku, type: text, nullable: false}
  - create_index: {name: items_sku, table: items, columns: [{column: sku}]}
Y
opts=(--batch-size 500)
checksum_sql="SELECT md5(string_agg(id || ':' || name || ':' || price, ',' ORDER BY id)) FROM items WHERE id <= 2000"
base_sum=$(t_sql faults_base "$checksum_sql")

leftovers() {
	t_sql "$1" "SELECT coalesce(string_agg(x, ', '), '') FROM (
	  SELECT c.relname::text AS x FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	    WHERE c.relname LIKE '\\_shunt\\_%' AND n.nspname <> 'shunt'
	  UNION ALL SELECT attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
	    WHERE a.attname LIKE '\\_shunt\\_%' AND NOT a.attisdropped AND c.relkind IN ('r', 'v')
	  UNION ALL SELECT tgname FROM pg_trigger WHERE tgname LIKE '\\_shunt\\_%'
	  UNION ALL SELECT proname FROM pg_proc WHERE proname LIKE '\\_shunt\\_%'
	  UNION ALL SELECT conname FROM pg_constraint WHERE conname LIKE '\\_shunt\\_%') s"
}
schema_of() {
	t_sql "$1" "SELECT string_agg(table_schema || '.' || table_name || '.' || column_name || ':' || data_type
	  || ':' || is_nullable, ',' ORDER BY table_schema, table_name, column_name)
	  FROM information_schema.columns WHERE table_schema NOT IN ('pg_catalog', 'information_schema', 'shunt')"
}
fresh() { # DB: a copy of the base database
	t_sql_super postgres "DROP DATABASE IF EXISTS $1" >/dev/null
	t_sql_super postgres "CREATE DATABASE $1 TEMPLATE faults_base$(t_as_owner && echo " OWNER $T_OWNER_ROLE")" >/dev/null
}
writer() { # DB LOG: inserts through the old version, logging each committed one
	local i=0
	while [[ ! -e $T_TMP/stop ]]; do
		i=$((i + 1))
		if psql -XAtq -v ON_ERROR_STOP=1 -d "$1" -c "INSERT INTO items (name, price) VALUES ('w$i', '$i')" \
			>/dev/null 2>&1; then
			echo "$i" >>"$2"
		fi
		sleep 0.01
	done
}

# The points: a full run with SHUNT_FAULT=list.
fresh faults_list
SHUNT_FAULT=list "$S" --db dbname=faults_list "${opts[@]}" start --complete "$T_TMP/m.yaml" 2>"$T_TMP/list.err" || true
mapfile -t points < <(sed -n 's/^shunt: fault point: //p' "$T_TMP/list.err")
final_schema=$(schema_of faults_list)
fresh faults_list
"$S" -q --db dbname=faults_list start "$T_TMP/m.yaml" 2>/dev/null || true
SHUNT_FAULT=list "$S" --db dbname=faults_list rollback 2>"$T_TMP/list2.err" || true
mapfile -t rb_points < <(sed -n 's/^shunt: fault point: //p' "$T_TMP/list2.err")
t_ok "a migration reaches fault points in start, backfill and complete (${#points[@]})" \
	test "${#points[@]}" -ge 15
t_ok "and in rollback (${#rb_points[@]})" test "${#rb_points[@]}" -ge 3

failures=0
check() { # DESC GOT EXPECTED
	if [[ $2 != "$3" ]]; then
		t_fail "$1" "got: $2"$'\n'"expected: $3"
		failures=$((failures + 1))
	fi
}

crash_then() { # POINT MODE(resume|rollback)
	local p=$1 mode=$2 db=faults_x log=$T_TMP/writes
	fresh $db
	: >"$log"
	rm -f "$T_TMP/stop"
	local before
	before=$(schema_of $db)
	writer $db "$log" &
	local wpid=$!
	local phase=start
	[[ $p == complete:* ]] && phase=complete
	if [[ $phase == complete ]]; then
		"$S" -q --db dbname=$db "${opts[@]}" start "$T_TMP/m.yaml" 2>"$T_TMP/err" ||
			{ check "$p: start before the crash in complete" "$(cat "$T_TMP/err")" ""; }
		touch "$T_TMP/stop" # the old version is switched off before complete
		wait $wpid || true
		SHUNT_FAULT=$p "$S" -q --db dbname=$db complete >/dev/null 2>&1 || true
	else
		SHUNT_FAULT=$p "$S" -q --db dbname=$db "${opts[@]}" start --complete "$T_TMP/m.yaml" >/dev/null 2>&1 || true
		touch "$T_TMP/stop"
		wait $wpid || true
	fi
	local status
	status=$(t_sql $db "SELECT coalesce((SELECT status FROM shunt.migrations), 'none')")
	if [[ $mode == resume ]]; then
		case $status in
		starting) "$S" -q --db dbname=$db "${opts[@]}" start --complete "$T_TMP/m.yaml" 2>"$T_TMP/err" || true ;;
		active | completing) "$S" -q --db dbname=$db complete 2>"$T_TMP/err" || true ;;
		esac
		check "$p, resumed: the migration completes" "$(t_sql $db "SELECT status FROM shunt.migrations")" complete
		check "$p, resumed: the final schema" "$(schema_of $db)" "$final_schema"
		check "$p, resumed: the original rows are intact" \
			"$(t_sql $db "SELECT md5(string_agg(id || ':' || title || ':' || price, ',' ORDER BY id)) FROM items WHERE id <= 2000")" \
			"$base_sum"
		check "$p, resumed: every row has its new values" \
			"$(t_sql $db "SELECT count(*) FROM items WHERE sku IS DISTINCT FROM 'sku-' || id OR price IS NULL")" 0
	else
		"$S" -q --db dbname=$db rollback 2>"$T_TMP/err" || true
		check "$p, rolled back: the migration is rolled back" \
			"$(t_sql $db "SELECT coalesce((SELECT status FROM shunt.migrations), 'none')")" \
			"$([[ $status == none ]] && echo none || echo rolled_back)"
		check "$p, rolled back: the schema is as before" "$(schema_of $db)" "$before"
		check "$p, rolled back: the original rows are intact" "$(t_sql $db "$checksum_sql")" "$base_sum"
	fi
	local want got
	want=$(wc -l <"$log")
	got=$(t_sql $db "SELECT count(*) FROM items WHERE id > 2000")
	check "$p, $mode: every committed application write is there ($want)" "$got" "$want"
	check "$p, $mode: nothing of shunt is left" "$(leftovers $db)" ""
}

for p in "${points[@]}"; do
	crash_then "$p" resume
	[[ $p == complete:* ]] || crash_then "$p" rollback
done
for p in "${rb_points[@]}"; do
	# crash in the rollback itself, then roll back again
	fresh faults_rb
	"$S" -q --db dbname=faults_rb "${opts[@]}" start "$T_TMP/m.yaml" 2>/dev/null || true
	before=$(schema_of faults_base)
	SHUNT_FAULT=$p "$S" -q --db dbname=faults_rb rollback >/dev/null 2>&1 || true
	"$S" -q --db dbname=faults_rb rollback 2>"$T_TMP/err" || true
	check "$p: a second rollback finishes" "$(t_sql faults_rb "SELECT status FROM shunt.migrations")" rolled_back
	check "$p: the schema is as before" "$(schema_of faults_rb)" "$before"
	check "$p: nothing of shunt is left" "$(leftovers faults_rb)" ""
done
t_diag "fault points: ${points[*]} | ${rb_points[*]}"
if ((failures == 0)); then
	t_pass "every fault point: resume and rollback leave the right schema, all data and no trace (${#points[@]} + ${#rb_points[@]} points)"
fi

# --- a server restart in mid-backfill --------------------------------------------
cluster_start faults_own >/dev/null
t_createdb faults_restart
t_sql faults_restart "CREATE TABLE items (id bigserial PRIMARY KEY, name text NOT NULL, price text);
	INSERT INTO items (name, price) SELECT 'item ' || g, g::text FROM generate_series(1, 20000) g" >/dev/null
"$S" --db dbname=faults_restart --batch-size 200 --max-rows-per-second 5000 start "$T_TMP/m.yaml" \
	>"$T_TMP/restart.out" 2>&1 &
pid=$!
t_sql_eventually faults_restart "SELECT coalesce(sum(rows_done), 0) > 2000 FROM shunt.backfills" t \
	"the backfill is under way"
cluster_restart
wait $pid
t_is "$?" 0 "start survives a server restart in mid-backfill"
t_like "$(cat "$T_TMP/restart.out")" "reconnected" "it reconnected"
t_sql_is faults_restart "SELECT status FROM shunt.migrations" active "the migration is active"
t_sql_is faults_restart "SELECT count(*) FROM items WHERE _shunt_new_sku IS DISTINCT FROM 'sku-' || id" 0 \
	"every row was backfilled"

t_done
