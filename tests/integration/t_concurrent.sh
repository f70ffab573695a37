#!/usr/bin/env bash
# The product's promise: while a migration starts (DDL, trigger, backfill),
# runs with both versions live, and completes, application writers on the
# old and on the new version see no error, and no write is lost, duplicated
# or left stale.  Writers keep an invariant inside each row (name/title is
# 'n' || price), written through both versions' column names and types, so
# a stale backfill, a missed sync or a lost update shows up as a row that
# breaks it; inserts are counted per writer and compared with the rows.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"

S=$SHUNT_BIN
rows=${SHUNT_TEST_ROWS:-100000}
t_createdb conc
export PGDATABASE=conc
t_sql conc "CREATE TABLE items (id bigserial PRIMARY KEY, name text, price text, writer text);
	INSERT INTO items (name, price, writer) SELECT 'n' || g, g::text, 'seed' FROM generate_series(1, $rows) g;
	ANALYZE items" >/dev/null

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
Y

cat >"$T_TMP/old_update.sql" <<SQL
\set id random(1, $rows)
\set v random(1, 1000000000)
UPDATE items SET name = 'n' || :v, price = :v::text WHERE id = :id;
SQL
cat >"$T_TMP/old_insert.sql" <<'SQL'
\set v random(1, 1000000000)
INSERT INTO items (name, price, writer) VALUES ('n' || :v, :v::text, 'old');
SQL
cat >"$T_TMP/new_update.sql" <<SQL
\set id random(1, $rows)
\set v random(1, 1000000000)
UPDATE items SET title = 'n' || :v, price = :v WHERE id = :id;
SQL
cat >"$T_TMP/new_insert.sql" <<'SQL'
\set v random(1, 1000000000)
INSERT INTO items (title, price, writer) VALUES ('n' || :v, :v, 'new');
SQL

# pgbench writer: NAME SECONDS SEARCH_PATH SCRIPTS...; output in $T_TMP/NAME.out
writer() {
	local name=$1 secs=$2 sp=$3
	shift 3
	PGOPTIONS="-c search_path=$sp" pgbench -n -c 2 -j 2 -T "$secs" -R 300 "$@" conc \
		>"$T_TMP/$name.out" 2>&1
}
inserts_of() { # pgbench's per-script count of the insert script
	awk '/SQL script [0-9]+: .*insert/ {getline; getline; print $2; exit}' "$T_TMP/$1.out"
}
failed_of() {
	grep -E '^number of failed transactions' "$T_TMP/$1.out" | awk '{print $5}' | head -1
}

writer old 14 public -f "$T_TMP/old_update.sql@8" -f "$T_TMP/old_insert.sql@2" &
old_pid=$!
sleep 1
t_exit 0 "start succeeds under old-version write load" "$S" --batch-size 2000 start "$T_TMP/m.yaml"
vs=$("$S" latest)
t_is "$vs" public_m "the new version schema exists"

writer new 12 "$vs" -f "$T_TMP/new_update.sql@8" -f "$T_TMP/new_insert.sql@2" &
new_pid=$!
sleep 4
broken_old=$(t_sql conc "SELECT count(*) FROM public.items WHERE name IS DISTINCT FROM 'n' || price")
broken_new=$(t_sql conc "SELECT count(*) FROM $vs.items WHERE title IS DISTINCT FROM 'n' || price")
t_is "$broken_old" 0 "with both versions writing, every row is consistent as the old version sees it"
t_is "$broken_new" 0 "with both versions writing, every row is consistent as the new version sees it"

wait "$old_pid" || true
t_is "$(failed_of old)" 0 "the old-version writer saw no failed transaction"
t_like "$(cat "$T_TMP/old.out")" "number of transactions actually processed: [1-9]" "the old-version writer did work"

t_exit 0 "complete succeeds under new-version write load" "$S" complete
wait "$new_pid" || true
t_is "$(failed_of new)" 0 "the new-version writer saw no failed transaction, also across complete"
t_unlike "$(cat "$T_TMP/new.out")" "aborted|ERROR" "no new-version client was aborted"

t_sql_is conc "SELECT count(*) FROM public.items WHERE title IS DISTINCT FROM 'n' || price" 0 \
	"after complete every row holds the latest write of either version"
t_sql_is conc "SELECT data_type FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'items' AND column_name = 'price'" \
	bigint "price is bigint"
t_sql_is conc "SELECT count(*) FROM items WHERE writer = 'seed'" "$rows" "no seed row was lost or duplicated"
t_sql_is conc "SELECT count(*) FROM items WHERE writer = 'old'" "$(inserts_of old)" \
	"every old-version insert is there, once"
t_sql_is conc "SELECT count(*) FROM items WHERE writer = 'new'" "$(inserts_of new)" \
	"every new-version insert is there, once"

t_done
