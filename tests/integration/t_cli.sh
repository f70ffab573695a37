#!/usr/bin/env bash
# The command line: help, version, usage errors, connection errors, exit
# codes, --dry-run, the one-active-migration rule, the advisory lock
# between shunt processes, init, status, latest, history and migrate.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"

S=$SHUNT_BIN
t_createdb cli
export PGDATABASE=cli

# --- help and usage ------------------------------------------------------
t_exit 0 "--help succeeds" "$S" --help
t_like "$T_OUT" "Commands:" "--help lists the commands"
t_like "$T_OUT" "Exit codes: 0 success, 1 failure, 2 usage error, 3 refused" "--help documents exit codes"
t_exit 0 "help start succeeds" "$S" help start
t_like "$T_OUT" "Usage: shunt start FILE" "help start shows its usage"
t_exit 0 "start --help is the same" "$S" start --help
t_like "$T_OUT" "Usage: shunt start FILE" "start --help shows start's usage"
t_exit 0 "--version succeeds" "$S" --version
t_like "$T_OUT" "^shunt [0-9]+\.[0-9]+\.[0-9]+" "--version prints the version"
t_exit 2 "an unknown command is a usage error" "$S" frobnicate
t_like "$T_ERR" 'unknown command "frobnicate"' "it names the command"
t_exit 2 "an unknown option is a usage error" "$S" status --frob
t_like "$T_ERR" 'unknown option "--frob"' "it names the option"
t_exit 2 "no command is a usage error" "$S"
t_exit 2 "a bad duration is a usage error" "$S" --lock-timeout=5parsecs status
t_like "$T_ERR" 'invalid duration "5parsecs" for --lock-timeout' "it names the option and the value"
t_exit 2 "a missing file argument is a usage error" "$S" start
t_exit 2 "help for an unknown command is a usage error" "$S" help frobnicate

# --- connection errors ---------------------------------------------------
t_exit 1 "an unreachable server fails with exit 1" \
	"$S" --db postgres://nobody:s3cretpw@127.0.0.1:1/x status
t_like "$T_ERR" "could not connect to the database" "it says it cannot connect"
t_unlike "$T_ERR$T_OUT" "s3cretpw" "the password never appears"
t_exit 1 "SHUNT_DB is used" env SHUNT_DB=postgres://nobody:s3cretpw@127.0.0.1:1/x "$S" status
t_like "$T_ERR" "port 1 failed" "the server SHUNT_DB names was tried"
t_exit 1 "DATABASE_URL is used when SHUNT_DB is not set" \
	env -u SHUNT_DB DATABASE_URL=postgres://u:s3cretpw@127.0.0.1:2/x "$S" --json status
t_like "$T_ERR" "port 2 failed" "the server DATABASE_URL names was tried"
t_like "$T_OUT" '"error"' "--json reports the error as JSON"
t_unlike "$T_ERR$T_OUT" "s3cretpw" "the password never appears in JSON either"

# --- init, status before anything ----------------------------------------
t_exit 0 "status works before init" "$S" status
t_like "$T_OUT" "not initialized" "it says the state schema is missing"
t_exit 0 "init installs the state schema" "$S" init
t_exit 0 "init is idempotent" "$S" init
core_tables="tablename IN ('format', 'migrations', 'backfills', 'control', 'flags', 'flag_history')"
t_sql_is cli "SELECT count(*) FROM pg_tables WHERE schemaname = 'shunt' AND $core_tables" 6 \
	"the state schema has its tables"
t_exit 0 "init into another state schema" "$S" --state-schema 'Other "State"' init
t_sql_is cli "SELECT count(*) FROM pg_tables WHERE schemaname = 'Other \"State\"' AND $core_tables" 6 \
	"--state-schema is honoured, with a hostile name"

# --- a migration end to end ----------------------------------------------
t_sql cli "CREATE TABLE items (id serial PRIMARY KEY, name text, price text);
	INSERT INTO items (name, price) SELECT 'item ' || g, g::text FROM generate_series(1, 500) g" >/dev/null
cat >"$T_TMP/01_price.yaml" <<'Y'
operations:
  - alter_column:
      table: items
      column: price
      type: numeric(10,2)
      nullable: false
      up: coalesce(CAST(price AS numeric), 0)
      down: CAST(price AS text)
  - rename_column:
      table: items
      from: name
      to: title
Y
cat >"$T_TMP/02_sku.json" <<'J'
{"operations": [{"add_column": {"table": "items", "up": "'SKU-' || id",
  "column": {"name": "sku", "type": "text", "nullable": false}}}]}
J
snap() { t_sql cli "SELECT string_agg(table_name || '.' || column_name || ':' || data_type, ',' ORDER BY 1)
	FROM information_schema.columns WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"; }
before=$(snap)
t_exit 0 "--dry-run start succeeds" "$S" --dry-run start "$T_TMP/01_price.yaml"
t_like "$T_OUT" "ALTER TABLE \"public\".\"items\" ADD COLUMN \"_shunt_new_price\" numeric\(10,2\)" \
	"--dry-run prints the exact DDL"
t_like "$T_OUT" "-- complete:" "--dry-run prints the complete phase"
t_like "$T_OUT" "-- rollback:" "--dry-run prints the rollback phase"
# A NOT VALID check applies to every row written after it exists: the NOT
# NULL check on the new column must wait for the trigger that fills it,
# or old-version writes in between fail (found by the load generator).
trig=$(grep -n "CREATE TRIGGER" <<<"$T_OUT" | head -1 | cut -d: -f1)
nn=$(grep -n "IS NOT NULL) NOT VALID" <<<"$T_OUT" | head -1 | cut -d: -f1)
t_ok "the NOT NULL check on the new column comes after the sync trigger ($trig < $nn)" test "${trig:-0}" -lt "${nn:-0}"
t_is "$(snap)" "$before" "--dry-run changed nothing"
t_sql_is cli "SELECT count(*) FROM shunt.migrations" 0 "--dry-run recorded nothing"

t_exit 0 "start succeeds" "$S" start "$T_TMP/01_price.yaml"
t_exit 0 "status succeeds" "$S" status
t_like "$T_OUT" "active migration:  01_price" "status names the active migration"
t_exit 0 "status --json succeeds" "$S" status --json
t_like "$T_OUT" '"name": "01_price"' "status --json names the active migration"
t_exit 0 "latest succeeds" "$S" latest
t_is "$T_OUT" public_01_price "latest prints the new version schema"
t_exit 3 "a second start is refused with exit 3" "$S" start "$T_TMP/02_sku.json"
t_like "$T_ERR" 'migration "01_price" is active' "the refusal names the active migration"
t_sql_is cli "SET search_path = public_01_price; SELECT title || '=' || price FROM items WHERE id = 7" \
	"item 7=7.00" "the new version reads renamed and converted columns"
t_sql_is cli "SELECT name || '=' || price FROM items WHERE id = 7" "item 7=7" \
	"the old version still reads its own columns"

# Two shunt processes on one schema: the second is refused while the first
# holds the advisory lock (simulated by a session that holds it).
key="shunt:shunt:public"
coproc HOLD { psql -XAtq -v ON_ERROR_STOP=1 cli; }
echo "SELECT 'held' FROM pg_advisory_lock(hashtext('$key'));" >&"${HOLD[1]}"
read -r -t 10 line <&"${HOLD[0]}" || true
t_is "$line" held "a session holds shunt's advisory lock"
t_exit 3 "a concurrent complete is refused with exit 3" "$S" complete
t_like "$T_ERR" "another shunt process is working on schema \"public\"" "it says another shunt runs"
t_like "$T_ERR" "Backend pid [0-9]+" "it names the holder"
echo '\q' >&"${HOLD[1]}"
wait "${HOLD_PID:-}" 2>/dev/null || true

t_exit 0 "complete succeeds" "$S" complete
t_sql_is cli "SELECT string_agg(column_name || ':' || data_type || ':' || is_nullable, ',' ORDER BY ordinal_position)
	FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'items'" \
	"id:integer:NO,title:text:YES,price:numeric:NO" "complete leaves the final columns"
t_exit 1 "complete with nothing active fails" "$S" complete
t_like "$T_ERR" "no migration is active" "it says nothing is active"
t_exit 3 "starting an applied migration again is refused" "$S" start "$T_TMP/01_price.yaml"
t_like "$T_ERR" "already applied" "it says it was applied"

# --- migrate: a directory, ledger order, last one left active -----------
mkdir -p "$T_TMP/dir"
cp "$T_TMP/01_price.yaml" "$T_TMP/02_sku.json" "$T_TMP/dir/"
cat >"$T_TMP/dir/03_idx.yaml" <<'Y'
operations:
  - create_index: {name: items_sku_idx, table: items, columns: [{column: sku}]}
Y
printf '01_price.yaml\n02_sku.json\n03_idx.yaml\n' >"$T_TMP/dir/.ledger"
t_exit 0 "migrate applies the pending migrations" "$S" migrate "$T_TMP/dir"
t_sql_is cli "SELECT name || ':' || status FROM shunt.migrations ORDER BY id" \
	"$(printf '01_price:complete\n02_sku:complete\n03_idx:active')" \
	"migrate skipped the applied one, completed 02 and left the last one active"
t_sql_is cli "SELECT count(*) FROM items WHERE sku = 'SKU-' || id" 500 "the backfill filled sku for every row"
t_exit 0 "migrate --complete completes the active last one" "$S" migrate --complete "$T_TMP/dir"
t_sql_is cli "SELECT status FROM shunt.migrations WHERE name = '03_idx'" complete "03 is complete"
t_exit 0 "history succeeds" "$S" history
t_like "$T_OUT" "02_sku +complete" "history lists the migrations"
t_exit 0 "validate checks files offline" "$S" validate "$T_TMP/dir/01_price.yaml" "$T_TMP/dir/02_sku.json"
printf 'operations:\n  - add_column: {table: t, column: {name: x, type: int, nulable: true}}\n' >"$T_TMP/bad.yaml"
t_exit 1 "an invalid file fails validation" "$S" validate "$T_TMP/bad.yaml"
t_like "$T_ERR" 'bad.yaml: operation 1 \(add_column\): unknown field "column.nulable"' \
	"the error names the file, the operation and the field"
t_like "$T_ERR" 'did you mean "nullable"' "it suggests the right field"

t_done
