#!/usr/bin/env bash
# Feature flags: shunt flag set/get/list/delete/history/watch, the SQL
# functions flag_set/flag_get/flag_delete they call, flag_history and the
# NOTIFY each change sends.  (Flags read through libshunt: t_switch.sh.)
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"

S=$SHUNT_BIN
t_createdb flag
export PGDATABASE=flag
NAME='Dark "Mode" ü'
VALUE="off'; DROP TABLE x; --"

# --- usage ----------------------------------------------------------------
t_exit 0 "help flag succeeds" "$S" help flag
t_like "$T_OUT" "shunt flag watch \[NAME\]" "help flag shows every subcommand"
t_exit 2 "flag without a subcommand is a usage error" "$S" flag
t_like "$T_ERR" "flag needs a subcommand" "it says a subcommand is missing"
t_exit 2 "an unknown subcommand is a usage error" "$S" flag frob
t_like "$T_ERR" 'unknown flag subcommand "frob"' "it names the subcommand"
t_exit 2 "set without a value is a usage error" "$S" flag set x
t_like "$T_ERR" "flag set takes a name and a value" "it says what set takes"
t_exit 2 "an empty name is a usage error" "$S" flag get ""
t_exit 2 "--count belongs to watch" "$S" flag get x --count 1
t_like "$T_ERR" "options of flag watch" "it says where --count belongs"

# --- set, get -------------------------------------------------------------
t_exit 0 "flag set on a fresh database installs the state schema" "$S" flag set "$NAME" on
t_like "$T_ERR" "flag \"$NAME\" set to \"on\" \(was not set\)" "it reports the change"
t_exit 0 "flag get succeeds" "$S" flag get "$NAME"
t_is "$T_OUT" "on" "flag get prints the value"
t_sql_is flag "SELECT shunt.flag_get('Dark \"Mode\" ü')" on "the SQL function reads the same flag"
t_exit 0 "a hostile value is stored as it is" "$S" flag set "$NAME" "$VALUE"
t_like "$T_ERR" "\(was \"on\"\)" "set reports the old value"
t_exit 0 "flag get reads it" "$S" flag get "$NAME"
t_is "$T_OUT" "$VALUE" "the value comes back byte for byte"
t_exit 0 "flag get --json" "$S" --json flag get "$NAME"
t_like "$T_OUT" '"value": "off'"'"'; DROP TABLE x; --"' "--json prints name and value"
t_exit 0 "setting the value a flag has succeeds" "$S" flag set "$NAME" "$VALUE"
t_like "$T_ERR" "already" "it says nothing changed"
t_sql_is flag "SELECT count(*) FROM shunt.flag_history WHERE name = 'Dark \"Mode\" ü'" 2 \
	"only real changes are recorded"
t_sql_is flag "SELECT coalesce(old_value, 'NULL') || ' > ' || new_value || ' by ' || changed_by
	FROM shunt.flag_history WHERE name = 'Dark \"Mode\" ü' ORDER BY id" \
	"NULL > on by $PGUSER
on > $VALUE by $PGUSER" "the history holds old and new values and the role"
t_exit 1 "get of a flag that is not set fails" "$S" flag get nosuch
t_like "$T_ERR" 'flag "nosuch" is not set' "it names the flag"
t_exit 1 "flag names starting with shunt. are refused" "$S" flag set shunt.current_version:public x
t_like "$T_ERR" "reserved for shunt" "it says why"
t_sql_is flag "SELECT count(*) FROM shunt.flags WHERE name LIKE 'shunt.%'" 0 "nothing was set"
t_exit 0 "--dry-run set succeeds" "$S" --dry-run flag set dry yes
t_like "$T_OUT" "SELECT \"shunt\".flag_set\('dry', 'yes'\);" "--dry-run prints the call"
t_sql_is flag "SELECT count(*) FROM shunt.flags WHERE name = 'dry'" 0 "--dry-run sets nothing"
# psql exits 3 when a script statement fails
t_exit 3 "the SQL function refuses an empty name" t_sql flag "SELECT shunt.flag_set('', 'x')"
t_like "$T_ERR" "a flag name must not be empty" "it says why"
t_exit 3 "the SQL function refuses a NULL value" t_sql flag "SELECT shunt.flag_set('n', NULL)"
t_like "$T_ERR" "must not be NULL" "it says why"

# --- list, history, delete -------------------------------------------------
t_exit 0 "flag set of a second flag" "$S" flag set beta 2
t_exit 0 "flag list succeeds" "$S" flag list
t_like "$T_OUT" "(^|
)beta +2 " "flag list shows a flag with its value"
t_like "$T_OUT" "(^|
)Dark \"Mode\" ü +off'; DROP TABLE x; -- " "flag list shows the other flag"
t_exit 0 "flag list --json succeeds" "$S" --json flag list
t_like "$T_OUT" '"name": "Dark \\"Mode\\" ü",
    "value": "off'"'"'; DROP TABLE x; --",' "--json lists names and values"
t_exit 0 "flag delete succeeds" "$S" flag delete "$NAME"
t_exit 1 "the deleted flag is gone" "$S" flag get "$NAME"
t_exit 1 "deleting it again fails" "$S" flag delete "$NAME"
t_like "$T_ERR" "is not set" "it says the flag is not set"
t_sql_is flag "SELECT old_value || ' > ' || coalesce(new_value, 'NULL') FROM shunt.flag_history
	WHERE name = 'Dark \"Mode\" ü' ORDER BY id DESC LIMIT 1" "$VALUE > NULL" "the delete is recorded"
t_exit 0 "flag history NAME succeeds" "$S" flag history "$NAME"
t_like "$T_OUT" "\(not set\) -> on .*on -> off.*-> \(deleted\)" "history shows the changes in order"
t_exit 0 "flag history --json succeeds" "$S" --json flag history beta
t_like "$T_OUT" '"new_value": "2"' "--json history has the values"
t_unlike "$T_OUT" "Dark" "history NAME shows only that flag"

# --- NOTIFY ----------------------------------------------------------------
# psql prints a notification for its own session after the statement.
out=$(t_sql flag "LISTEN shunt; SELECT shunt.flag_set('n1', 'v1'); SELECT shunt.flag_delete('n1');")
t_like "$out" 'payload "\{"name" : "n1", "value" : "v1", "op" : "set"\}"' "a set sends name, value and op"
t_like "$out" 'payload "\{"name" : "n1", "value" : null, "op" : "delete"\}"' "a delete sends op delete"
out=$(t_sql flag "LISTEN shunt; BEGIN; SELECT shunt.flag_set('n2', 'v1'); ROLLBACK;")
t_unlike "$out" "Asynchronous" "a rolled back change sends nothing"
t_sql_is flag "SELECT count(*) FROM shunt.flag_history WHERE name = 'n2'" 0 "and records nothing"

# --- watch -----------------------------------------------------------------
# Starts `shunt flag watch ARGS...` in the background (stdout $T_TMP/w.out,
# stderr $T_TMP/w.err) and waits until it listens.
watch_start() {
	rm -f "$T_TMP/w.out" "$T_TMP/w.err" # not the last watch's "watching"
	"$S" flag watch "$@" >"$T_TMP/w.out" 2>"$T_TMP/w.err" &
	watch_pid=$!
	for _ in $(seq 100); do
		grep -q "watching" "$T_TMP/w.err" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}
watch_end() {
	if wait "$watch_pid"; then watch_rc=0; else watch_rc=$?; fi
}

watch_start --count 3 --timeout 20s
"$S" -q flag set w1 a
"$S" -q flag set w1 'b c'
"$S" -q flag delete w1
watch_end
t_is "$watch_rc" 0 "watch --count 3 ends by itself"
t_is "$(cat "$T_TMP/w.out")" "w1 set a
w1 set b c
w1 deleted" "watch prints each change as it arrives"

watch_start only --count 1 --timeout 20s --json
"$S" -q flag set other x
"$S" -q flag set only y
watch_end
t_is "$(cat "$T_TMP/w.out")" '{"name" : "only", "value" : "y", "op" : "set"}' \
	"watch NAME shows only that flag; --json prints the payload"

big=$(printf 'x%.0s' $(seq 9000))
watch_start big --count 1 --timeout 20s
"$S" -q flag set big "$big"
watch_end
t_is "$(cat "$T_TMP/w.out")" "big set $big" "a value too long for NOTIFY is read from the table"
t_sql_is flag "SELECT count(*) FROM shunt.flag_history WHERE name = 'big' AND length(new_value) = 9000" 1 \
	"and recorded whole"

watch_start
kill -INT "$watch_pid"
watch_end
t_is "$watch_rc" 0 "watch stops cleanly when interrupted"
watch_start --timeout 300ms
watch_end
t_is "$watch_rc:$(cat "$T_TMP/w.out")" "0:" "watch --timeout stops after that long"

# --- concurrent changes --------------------------------------------------
# Each history row's old value is the previous row's new value: changes of
# one flag are serialised.
pids=()
for i in $(seq 12); do
	t_sql flag "SELECT shunt.flag_set('race', 'v$i')" >/dev/null &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
t_sql_is flag "SELECT count(*) FROM shunt.flag_history WHERE name = 'race'" 12 "every concurrent set is recorded"
t_sql_is flag "SELECT count(*) FROM (SELECT old_value, lag(new_value) OVER (ORDER BY id) AS prev
	FROM shunt.flag_history WHERE name = 'race') h WHERE old_value IS DISTINCT FROM prev" 0 \
	"concurrent sets form one chain of old and new values"

# --- another state schema ------------------------------------------------
ST='Other "State"'
t_exit 0 "flags in another state schema" "$S" --state-schema "$ST" flag set s1 v
t_sql_is flag "SELECT \"Other \"\"State\"\"\".flag_get('s1')" v "the functions live in that schema"
out=$(t_sql flag "LISTEN \"Other \"\"State\"\"\"; SELECT \"Other \"\"State\"\"\".flag_set('s1', 'w');")
t_like "$out" "Asynchronous notification \"Other \"State\"\" with payload" \
	"its notifications use a channel named like it"
t_exit 1 "the default state schema does not see it" "$S" flag get s1

t_done
