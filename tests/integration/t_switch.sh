#!/usr/bin/env bash
# shunt switch and the clients that follow it: the current version, an old-
# and a new-version client at once, a follower moved by a switch with no
# failed query, flags read through libshunt, the SQL functions for other
# languages, shunt status, and per-transaction versions through a real
# PgBouncer in transaction mode.  The clients are examples/follower.c.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
source "$(dirname "$0")/../lib/follower.sh"

S=$SHUNT_BIN
t_createdb switch
export PGDATABASE=switch
NEW=public_01_source
follower_build

# rows written through version V carry note "V #n": the sync trigger must
# have filled the new column as V's writes ("old-app" for the old version,
# the default "new-app" for the new one); prints the rows where it did not
wrong_rows() {
	t_sql switch "SELECT count(*) FROM events
		WHERE (split_part(note, ' #', 1) = 'public' AND _shunt_new_source IS DISTINCT FROM 'old-app')
		   OR (split_part(note, ' #', 1) = '$NEW' AND _shunt_new_source IS DISTINCT FROM 'new-app')"
}
# lines of a follower's output whose version= and server= differ (the
# server saw another version than the client believed it used)
mismatched() {
	awk '/^iter=/ && !/FAILED/ { split($2, a, "="); split($3, b, "="); if (a[2] != b[2]) n++ }
		END { print n + 0 }' "$1"
}
# lines on the old version after the first on the new one
went_back() {
	awk -v new="version=$NEW" '/^iter=/ && !/FAILED/ { if ($2 == new) seen = 1; else if (seen) n++ }
		END { print n + 0 }' "$1"
}

t_sql switch "CREATE TABLE events (id bigserial PRIMARY KEY, note text);
	INSERT INTO events (note) SELECT 'seed #' || g FROM generate_series(1, 50) g" >/dev/null

# --- before any migration ---------------------------------------------------
t_exit 0 "help switch succeeds" "$S" help switch
t_like "$T_OUT" "Usage: shunt switch \[VERSION\]" "help switch shows the usage"
t_exit 2 "switch takes one argument at most" "$S" switch a b
t_exit 0 "switch before any migration installs the state schema" "$S" switch
t_is "$T_OUT" "public" "the latest version is the application schema itself"
t_exit 0 "status succeeds" "$S" status
t_like "$T_OUT" "current version: +public \(switched .* by $PGUSER\)" "status shows the current version"
t_like "$T_OUT" "clients: +none registered" "and that no client is registered"

cat >"$T_TMP/01_source.yaml" <<'Y'
operations:
  - add_column:
      table: events
      up: "'old-app'"
      column: {name: source, type: text, nullable: false, default: "'new-app'"}
Y
t_exit 0 "start succeeds" "$S" start "$T_TMP/01_source.yaml"
t_exit 1 "switch to a schema that is no version fails" "$S" switch pg_catalog
t_like "$T_ERR" '"pg_catalog" is not a version of schema "public" that clients can use' "it says why"
t_like "$T_ERR" "The versions clients can use now: $NEW, public" "it lists the usable versions"
t_exit 0 "--dry-run switch succeeds" "$S" --dry-run switch
t_like "$T_OUT" "switch_version\('public', NULL\)" "--dry-run prints the call"
t_sql_is switch "SELECT shunt.current_version('public')" public "--dry-run switched nothing"

# --- an old- and a new-version client at once ---------------------------------
follower_start old "dbname=switch application_name=old-client" --pin public
follower_start new "dbname=switch application_name=new-client" --pin "$NEW"
wait_lines "$T_TMP/old.out" "^iter=" 5 && wait_lines "$T_TMP/new.out" "^iter=" 5 || true
t_sql_eventually switch "SELECT string_agg(version || ':' || application_name, ',' ORDER BY version)
	FROM shunt.live_clients('public')" "public:old-client,$NEW:new-client" \
	"both clients are registered with their versions"
t_exit 0 "status succeeds while both run" "$S" status
t_like "$T_OUT" "2 registered sessions" "status counts the sessions"
t_like "$T_OUT" "public +pid [0-9]+ +session +$PGUSER@local \(old-client\)" "status shows the old client"
t_like "$T_OUT" "$NEW +pid [0-9]+ +session +$PGUSER@local \(new-client\)" "status shows the new client"
t_exit 0 "status --json succeeds" "$S" --json status
t_like "$T_OUT" '"application_name": "new-client"' "status --json lists the clients"
follower_stop old
follower_stop new
t_is "${FOLLOWER_RC[old]}:${FOLLOWER_RC[new]}" "0:0" "both clients ran without a failure"
t_like "$(tail -n 1 "$T_TMP/old.out")" "^done: [0-9]+ transactions, 0 failed" "the old client says so"
t_is "$(grep -c "version=public server=public " "$T_TMP/old.out")" \
	"$(grep -c '^iter=' "$T_TMP/old.out")" "every old-client transaction ran on the old version"
t_is "$(mismatched "$T_TMP/new.out")" 0 "every new-client transaction ran on the new version"
t_is "$(wrong_rows)" 0 "the sync trigger saw which version wrote each row"
t_sql_is switch "SELECT count(DISTINCT split_part(note, ' #', 1)) FROM events WHERE note NOT LIKE 'seed%'" 2 \
	"both versions wrote rows"
t_sql_is switch "SELECT count(*) FROM shunt.clients" 0 "stopped clients unregister"

# --- a switch moves a follower, with no failed query ---------------------------
follower_start f "dbname=switch application_name=follower"
wait_lines "$T_TMP/f.out" "^iter=.*version=public " 5 || true
t_exit 0 "flag set while the follower runs" "$S" flag set greeting hello
t_exit 0 "switch succeeds" "$S" switch
t_is "$T_OUT" "$NEW" "switch prints the new current version"
t_like "$T_ERR" "switched schema \"public\" from \"public\" to \"$NEW\"" "it says what it switched"
wait_lines "$T_TMP/f.out" "^iter=.*version=$NEW " 10 || true
t_sql_eventually switch "SELECT version FROM shunt.live_clients('public')" "$NEW" \
	"the follower's registration moved to the new version"
follower_stop f
t_is "${FOLLOWER_RC[f]}" 0 "the follower exits 0"
t_is "$(grep -c FAILED "$T_TMP/f.out" || true)" 0 "no query of the follower failed"
t_like "$(sed -n 2p "$T_TMP/f.out")" "^iter=1 version=public server=public " "it began on the old version"
t_is "$(grep -c "version=$NEW server=$NEW .* switched$" "$T_TMP/f.out" || true)" 1 \
	"it moved to the new version once, at a transaction boundary"
t_is "$(went_back "$T_TMP/f.out")" 0 "it never went back"
t_is "$(mismatched "$T_TMP/f.out")" 0 "the server saw the version the follower used, in every transaction"
t_like "$(grep '^iter=' "$T_TMP/f.out" | tail -n 1)" "flag=hello" "the flag change reached the follower"
t_is "$(wrong_rows)" 0 "the sync trigger saw the version of every row the follower wrote"
t_sql_is switch "SELECT old_value || ' > ' || new_value FROM shunt.flag_history
	WHERE name = 'shunt.current_version:public' ORDER BY id DESC LIMIT 1" "public > $NEW" \
	"the switch is recorded in flag_history"
t_exit 0 "status after the switch" "$S" status
t_like "$T_OUT" "current version: +$NEW \(switched " "status shows the new current version"
t_exit 0 "status --json after the switch" "$S" --json status
t_like "$T_OUT" "\"current_version\": \{
 *\"version\": \"$NEW\"" "status --json has the current version"

# --- switching back, and what a LISTEN session receives ------------------------
out=$(t_sql switch "LISTEN shunt; SELECT new_version FROM shunt.switch_version('public', 'public');")
t_like "$out" 'payload "\{"name" : "shunt.current_version:public", "value" : "public", "op" : "set"\}"' \
	"a switch is broadcast like a flag change"
t_exit 0 "switch --json to the latest" "$S" --json switch
t_is "$T_OUT" "{\"schema\": \"public\", \"old_version\": \"public\", \"new_version\": \"$NEW\"}" \
	"switch --json reports both versions"
t_exit 0 "switching to the current version again succeeds" "$S" switch "$NEW"
t_like "$T_ERR" "already uses version" "it says nothing changed"

# --- the SQL functions other languages call ------------------------------------
t_sql_is switch "SELECT shunt.follow('public'); SHOW search_path;" "$NEW
$NEW, public" "follow() sets the session's search_path to the current version"
t_sql_is switch "SELECT shunt.use_version('public'); SELECT count(*) FROM shunt.live_clients('public');
	SELECT shunt.unregister_client('public'); SELECT count(*) FROM shunt.live_clients('public');" "public
1
1
0" "use_version() registers the session, unregister_client() removes it"
t_sql_is switch "BEGIN; SELECT shunt.use_version_local('public');
	SELECT current_setting('search_path') || ' / ' || current_setting('shunt.version'); COMMIT;
	SELECT current_setting('search_path') || ' / ' || coalesce(current_setting('shunt.version', true), '');" \
	"$NEW
$NEW, public / $NEW
\"\$user\", public / " "use_version_local() sets both for one transaction only"
t_exit 3 "use_version() of a schema that does not exist fails" \
	t_sql switch "SELECT shunt.use_version('nosuch')"
t_like "$T_ERR" 'version schema "nosuch" does not exist' "it says so"

# --- a crashed client: its registration is ignored -----------------------------
follower_start crash "dbname=switch application_name=crasher"
t_sql_eventually switch "SELECT count(*) FROM shunt.live_clients('public')" 1 "the client registers"
follower_kill crash
t_sql_eventually switch "SELECT count(*) FROM shunt.live_clients('public')" 0 \
	"a killed client's registration stops counting once its session is gone"
t_sql_is switch "SELECT count(*) FROM shunt.clients WHERE application_name = 'crasher'" 1 \
	"(its row is still there)"

# --- PgBouncer in transaction mode ----------------------------------------------
PGBOUNCER=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
if [[ ! -x $PGBOUNCER ]]; then
	t_diag "SKIP the PgBouncer tests: no pgbouncer binary (Debian package pgbouncer)"
	t_done
fi
_cluster_server_dir pgb pgbouncer
_cluster_free_port pgb_port
cat >"$pgb/pgbouncer.ini" <<EOF
[databases]
* = host=$PGHOST port=$PGPORT
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $pgb_port
unix_socket_dir =
auth_type = trust
auth_file = $pgb/userlist.txt
pool_mode = transaction
default_pool_size = 1
max_client_conn = 50
logfile = $pgb/pgbouncer.log
pidfile = $pgb/pgbouncer.pid
EOF
printf '"%s" ""\n' postgres "$T_OWNER_ROLE" >"$pgb/userlist.txt"
[[ $EUID -eq 0 ]] && chown -R "$_CLUSTER_OSUSER:" "$pgb"
pgb_stop() {
	if [[ -s $pgb/pgbouncer.pid ]]; then
		kill "$(cat "$pgb/pgbouncer.pid")" 2>/dev/null || true
	fi
}
cluster_at_exit pgb_stop
_cluster_srv "$PGBOUNCER" -d "$pgb/pgbouncer.ini"
BOUNCER="host=127.0.0.1 port=$pgb_port dbname=switch user=$PGUSER"
for _ in $(seq 100); do
	psql -X "$BOUNCER" -Atc "SELECT 1" >/dev/null 2>&1 && break
	sleep 0.1
done
t_is "$(psql -X "$BOUNCER" -Atc "SELECT 1" 2>&1)" "1" "PgBouncer accepts connections"

t_exit 0 "switch back to the old version" "$S" switch public
follower_start txnew "$BOUNCER application_name=tx-new" --transaction-mode
follower_start txold "$BOUNCER application_name=tx-old" --transaction-mode --pin public
wait_lines "$T_TMP/txnew.out" "^iter=.*version=public " 5 || true
wait_lines "$T_TMP/txold.out" "^iter=" 5 || true
t_sql_eventually switch "SELECT count(DISTINCT pid) || ':' || count(*) FROM shunt.live_clients('public')
	WHERE mode = 'transaction'" "1:2" "both pooled clients are registered, sharing one server session"
t_exit 0 "flag set while the pooled clients run" "$S" flag set greeting pooled
t_exit 0 "switch while the pooled clients run" "$S" switch
wait_lines "$T_TMP/txnew.out" "^iter=.*version=$NEW .*flag=pooled" 5 || true
follower_stop txnew
follower_stop txold
t_is "${FOLLOWER_RC[txnew]}:${FOLLOWER_RC[txold]}" "0:0" "both pooled clients exit 0"
t_is "$(grep -c FAILED "$T_TMP/txnew.out" "$T_TMP/txold.out" | awk -F: '{ s += $2 } END { print s }')" 0 \
	"no query failed through the pooler"
t_is "$(grep -c "version=$NEW server=$NEW .* switched$" "$T_TMP/txnew.out" || true)" 1 \
	"the following client moved to the new version at one transaction"
t_is "$(went_back "$T_TMP/txnew.out")" 0 "and stayed there"
t_is "$(mismatched "$T_TMP/txnew.out"):$(mismatched "$T_TMP/txold.out")" "0:0" \
	"every transaction ran on its own client's version, on a shared server session"
t_is "$(grep -c "version=public server=public " "$T_TMP/txold.out")" \
	"$(grep -c '^iter=' "$T_TMP/txold.out")" "the pinned client stayed on the old version"
t_like "$(grep '^iter=' "$T_TMP/txnew.out" | tail -n 1)" "flag=pooled" \
	"the flag change reached the pooled client"
t_is "$(wrong_rows)" 0 "the sync trigger saw the version of every pooled write"
t_sql_is switch "SELECT count(*) FROM events WHERE note LIKE '% #%' AND note NOT LIKE 'seed%'
	AND split_part(note, ' #', 1) NOT IN ('public', '$NEW')" 0 "(every row names a version)"
out=$(psql -X "$BOUNCER" -Atq -v ON_ERROR_STOP=1 -f - <<<"BEGIN; SELECT shunt.use_version_local('public');
	SELECT current_setting('search_path'); COMMIT; SELECT current_setting('search_path');")
t_is "$out" "$NEW
$NEW, public
\"\$user\", public" "use_version_local() through the pooler leaves nothing in the server session"

t_done
