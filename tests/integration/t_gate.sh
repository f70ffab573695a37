#!/usr/bin/env bash
# The contract gate of shunt complete: refused (exit 3) while registered
# live clients use the previous version, allowed once they are gone (left,
# or their session ended); a client of the new version does not block and
# keeps working through the contract; --dry-run and --force; and the
# pg_stat_statements check: readers of a renamed or dropped column, SELECT *
# of a table whose columns change and users of the dropped version schema
# block only while they keep running.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
source "$(dirname "$0")/../lib/follower.sh"

S=$SHUNT_BIN
follower_build

# A session registered through SQL only (as from another language), on
# version $2 of database $1, that stays until terminated; its pid in SQLPID.
sql_client_start() {
	PGDATABASE=$1 PGAPPNAME=$3 "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 \
		-c "SELECT shunt.use_version('$2')" -c "SELECT pg_sleep(120)" >/dev/null 2>&1 &
	SQLPID=$!
}
sql_client_end() {
	t_sql "$1" "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '$2'" >/dev/null
	wait "$SQLPID" || true
}

# --- registrations --------------------------------------------------------------
t_createdb gate
export PGDATABASE=gate
t_sql gate "CREATE TABLE events (id bigserial PRIMARY KEY, note text);
	CREATE TABLE items (id serial PRIMARY KEY, name text, price text);
	INSERT INTO items (name, price) SELECT 'item ' || g, g::text FROM generate_series(1, 100) g" >/dev/null
cat >"$T_TMP/01_title.yaml" <<'Y'
operations:
  - rename_column: {table: items, from: name, to: title}
Y
t_exit 0 "start succeeds" "$S" start "$T_TMP/01_title.yaml"
NEW=public_01_title

follower_start old "dbname=gate application_name=old-app" --pin public
follower_start new "dbname=gate application_name=new-app" --pin "$NEW"
t_sql_eventually gate "SELECT string_agg(application_name, ',' ORDER BY application_name)
	FROM shunt.live_clients('public')" "new-app,old-app" "an old and a new client are registered"
OLDPID=$(t_sql gate "SELECT pid FROM shunt.live_clients('public') WHERE application_name = 'old-app'")

t_exit 3 "complete is refused while an old client runs" "$S" complete
t_like "$T_ERR" 'complete of "01_title" refused: the previous version is still in use' "it says why"
t_like "$T_ERR" "a client still uses version \"public\": pid $OLDPID, application \"old-app\"" \
	"it names the old client"
t_unlike "$T_ERR" "new-app" "the new version's client does not block"
t_like "$T_ERR" "HINT: Move the clients to \"$NEW\"" "the hint says what to do"
t_sql_is gate "SELECT status FROM shunt.migrations WHERE name = '01_title'" active "the migration stays active"
t_sql_is gate "SELECT count(*) FROM information_schema.columns WHERE table_name = 'items' AND column_name = 'name'" \
	1 "nothing was contracted"
t_exit 0 "--dry-run complete succeeds" "$S" --dry-run complete
t_like "$T_ERR" "complete would be refused: a client still uses version \"public\"" \
	"--dry-run says what the gate would refuse"
t_like "$T_OUT" "RENAME COLUMN \"name\" TO \"title\"" "and prints the contract"

follower_stop old
t_is "${FOLLOWER_RC[old]}" 0 "the old client ran without a failure"
sql_client_start gate public psql-old
t_sql_eventually gate "SELECT count(*) FROM shunt.live_clients('public') WHERE application_name = 'psql-old'" 1 \
	"a client registered through SQL (use_version) counts too"
t_exit 3 "complete is refused while the SQL client's session lives" "$S" complete
t_like "$T_ERR" 'application "psql-old"' "it names the SQL client"
t_unlike "$T_ERR" "old-app" "the old client that left no longer blocks"
sql_client_end gate psql-old
t_sql_eventually gate "SELECT count(*) FROM shunt.live_clients('public') WHERE version = 'public'" 0 \
	"the terminated session stops counting"
t_sql_is gate "SELECT count(*) FROM shunt.clients WHERE application_name = 'psql-old'" 1 \
	"(its stale row is still there, and ignored)"
t_exit 0 "complete succeeds once no old client is left" "$S" complete
t_unlike "$T_ERR" "refused|warning" "nothing was refused or overridden"
t_sql_is gate "SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns
	WHERE table_schema = 'public' AND table_name = 'items'" "id,title,price" "the contract ran"
wait_lines "$T_TMP/new.out" "^iter=" "$(($(grep -c '^iter=' "$T_TMP/new.out") + 3))" || true
follower_stop new
t_is "${FOLLOWER_RC[new]}:$(grep -c FAILED "$T_TMP/new.out" || true)" "0:0" \
	"the new client kept working through the contract"

# --- --force ----------------------------------------------------------------------
cat >"$T_TMP/02_sku.yaml" <<'Y'
operations:
  - add_column:
      table: items
      column: {name: sku, type: text, nullable: true}
Y
t_exit 0 "start of a second migration" "$S" start "$T_TMP/02_sku.yaml"
sql_client_start gate "$NEW" psql-v1
t_sql_eventually gate "SELECT count(*) FROM shunt.live_clients('public') WHERE version = '$NEW'" 1 \
	"a client of the previous version schema is registered"
t_exit 3 "complete is refused" "$S" complete
t_like "$T_ERR" "a client still uses version \"$NEW\"" "it names the version in use"
t_exit 0 "complete --force succeeds" "$S" complete --force
t_like "$T_ERR" "warning: --force: completing although a client still uses version \"$NEW\".*psql-v1" \
	"--force says what it overrode"
t_sql_is gate "SELECT status FROM shunt.migrations WHERE name = '02_sku'" complete "the migration is complete"
sql_client_end gate psql-v1
t_exit 2 "--force is an option of complete only" "$S" status --force

# --- pg_stat_statements ------------------------------------------------------
t_createdb gatess
export PGDATABASE=gatess
t_sql_super gatess "CREATE EXTENSION pg_stat_statements" >/dev/null
t_sql gatess "CREATE TABLE items (id serial PRIMARY KEY, name text, price text, note text);
	CREATE TABLE other (id int PRIMARY KEY, name text);
	INSERT INTO items (name, price) SELECT 'item ' || g, g::text FROM generate_series(1, 100) g" >/dev/null
cat >"$T_TMP/01_items.yaml" <<'Y'
operations:
  - rename_column: {table: items, from: name, to: title}
  - alter_column:
      table: items
      column: price
      type: integer
      up: CAST(price AS integer)
      down: CAST(price AS text)
Y
t_exit 0 "start succeeds" "$S" start "$T_TMP/01_items.yaml"
NEW=public_01_items
t_sql_super gatess "SELECT pg_stat_statements_reset()" >/dev/null
# the old version's queries (search_path: the tables), and harmless ones
t_sql gatess "SELECT name FROM items WHERE id = 1;
	SELECT * FROM items WHERE id = 2;
	SELECT id, price, note FROM items WHERE id = 3;
	SELECT count(*) FROM items;
	SELECT * FROM other WHERE id = 4;
	SELECT name FROM other WHERE id = 5;
	UPDATE items SET note = 'x' WHERE id = 6;" >/dev/null
t_sql gatess "SET search_path = $NEW; SELECT title, price FROM items WHERE id = 7; SELECT * FROM items WHERE title = 'x'" \
	>/dev/null || true

t_exit 3 "complete is refused while pg_stat_statements shows old-version statements" "$S" complete
t_like "$T_ERR" 'ran 1 time: "SELECT name FROM items WHERE id = \$1" reads column "name" of "items", which complete drops or renames' \
	"it finds the reader of the renamed column"
t_like "$T_ERR" 'ran 1 time: "SELECT \* FROM items WHERE id = \$1" selects \* from "items", whose columns complete changes' \
	"it finds the SELECT * of the changed table"
t_like "$T_ERR" '2 blockers in all' "and nothing else"
t_unlike "$T_ERR" "SELECT id, price|count\(\*\)|FROM other|SET note|SELECT title" \
	"statements that name what stays, other tables and the new names do not block"

t_sql gatess "SELECT name FROM items WHERE id = 8" >/dev/null
t_exit 3 "complete is refused again while the old reader keeps running" "$S" complete
t_like "$T_ERR" 'ran 2 times \(1 since the last check at [0-9-]+ [0-9:]+\): "SELECT name FROM items' \
	"it counts the calls since its previous check"
t_like "$T_ERR" '1 blocker in all' "the SELECT * that did not run again no longer blocks"
t_like "$T_ERR" '1 statement that would break did not run since the last check at [0-9-]+ [0-9:]+' \
	"it says how many statements stopped"
t_exit 0 "-vv --dry-run complete succeeds" "$S" -v -v --dry-run complete
t_like "$T_ERR" 'did not run since the last check at [0-9-]+ [0-9:]+: SELECT \* FROM items WHERE id = \$1' \
	"-vv names the statement that stopped"
t_sql gatess "SELECT name FROM items WHERE id = 10" >/dev/null

t_sql gatess "SELECT name FROM items WHERE id = 9" >/dev/null
t_exit 0 "--dry-run complete succeeds" "$S" --dry-run complete
t_like "$T_ERR" 'complete would be refused: a statement that would break ran 4 times' "--dry-run shows the blocker"
t_exit 3 "--dry-run did not record its look: complete is still refused" "$S" complete
t_exit 0 "complete succeeds once the old statements stopped" "$S" complete
t_sql_is gatess "SELECT string_agg(column_name || ':' || data_type, ',' ORDER BY ordinal_position)
	FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'items'" \
	"id:integer,title:text,note:text,price:integer" "the contract ran"

# a switch starts the count: statements before it do not block
cat >"$T_TMP/02_drop.yaml" <<'Y'
operations:
  - drop_column: {table: items, column: note}
Y
t_exit 0 "start of a second migration" "$S" start "$T_TMP/02_drop.yaml"
t_sql gatess "SET search_path = $NEW; SELECT note FROM items WHERE id = 1;
	SELECT id FROM $NEW.items WHERE id = 2" >/dev/null
t_exit 0 "switch to the new version" "$S" switch
t_sql gatess "SET search_path = $NEW; SELECT note FROM items WHERE id = 3" >/dev/null
t_exit 3 "complete is refused: the old reader ran after the switch" "$S" complete
t_like "$T_ERR" 'ran 2 times \(1 since the switch at [0-9-]+ [0-9:]+\): "SELECT note FROM items WHERE id = \$1" reads column "note"' \
	"it counts only the calls since the switch"
t_unlike "$T_ERR" "ran [0-9]+ times?[^:]*: \"SELECT id FROM $NEW.items" \
	"a statement that ran only before the switch does not block"
t_sql gatess "SELECT id FROM $NEW.items WHERE id = 4" >/dev/null
t_exit 3 "a statement naming the previous version schema blocks" "$S" complete
t_like "$T_ERR" "uses schema \"$NEW\", which complete drops" "it names the schema"
t_sql gatess "SELECT id FROM $NEW.items WHERE id = 5" >/dev/null
t_exit 0 "complete --force overrides a pg_stat_statements finding" "$S" complete --force
t_like "$T_ERR" "--force: completing although a statement that would break" "it says what it overrode"

t_done
