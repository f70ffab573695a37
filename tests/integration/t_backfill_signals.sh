#!/usr/bin/env bash
# Stopping a backfill from outside: SIGINT and SIGTERM (the running
# statement is cancelled, the checkpoint kept, a one-line message says how
# to go on, exit 128 + signal, `shunt backfill` finishes), a second SIGINT
# (exit at once), and a reconnect after a lost connection that finds
# another shunt holding the schema's lock (stop, state left alone, no
# rollback).
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"

S=$SHUNT_BIN
t_createdb bfsig
export PGDATABASE=bfsig

add_col() { # FILE TABLE [UP]: add a NOT NULL column computed by up
	cat >"$1" <<Y
operations:
  - add_column:
      table: $2
      up: "${3:-'v' || a}"
      column: {name: b, type: text, nullable: false}
Y
}
rows_done() { # TABLE
	t_sql bfsig "SELECT coalesce(sum(rows_done), 0) FROM shunt.backfills WHERE table_name = '$1'"
}
# wait_rows TABLE N: until the backfill of TABLE recorded N rows (10 s)
wait_rows() {
	for _ in $(seq 100); do
		[[ $(rows_done "$1" 2>/dev/null || echo 0) -ge $2 ]] && return 0
		sleep 0.1
	done
	return 1
}

# --- SIGINT between batches ----------------------------------------------------
t_sql bfsig "CREATE TABLE si (id bigint PRIMARY KEY, a text);
	INSERT INTO si SELECT g, g::text FROM generate_series(1, 20000) g" >/dev/null
add_col "$T_TMP/si.yaml" si
"$S" --batch-size 200 --max-rows-per-second 2000 start "$T_TMP/si.yaml" >"$T_TMP/si.out" 2>"$T_TMP/si.err" &
pid=$!
wait_rows si 1000 || true
kill -INT "$pid"
rc=0
wait "$pid" || rc=$?
t_is "$rc" 130 "SIGINT ends start with exit code 130"
err=$(cat "$T_TMP/si.err")
t_like "$err" "error: interrupted by SIGINT: the start of \"si\" stopped at its last checkpoint; run shunt backfill to continue it" \
	"one line says what happened and how to go on"
t_sql_is bfsig "SELECT status FROM shunt.migrations WHERE name = 'si'" starting "the migration stays starting, not rolled back"
done_at_int=$(rows_done si)
t_ok "the checkpoint is kept ($done_at_int rows)" test "$done_at_int" -ge 1000 -a "$done_at_int" -lt 20000
t_sql_is bfsig "SELECT count(*) FROM si WHERE _shunt_new_b IS NOT NULL" "$done_at_int" \
	"the checkpoint counts exactly the rows that were backfilled"
t_exit 0 "shunt backfill finishes it" "$S" backfill
t_like "$T_ERR" "resuming after $done_at_int rows" "from the checkpoint"
t_sql_is bfsig "SELECT count(*) FROM si WHERE _shunt_new_b IS DISTINCT FROM 'v' || a" 0 "every row was backfilled"
t_exit 0 "complete" "$S" complete

# --- SIGTERM in the middle of a long batch statement ------------------------------
# Each row sleeps 5 ms: one batch of 2000 rows takes 10 s, unless the
# signal handler cancels it on the server.
t_sql bfsig "CREATE TABLE st (id bigint PRIMARY KEY, a text);
	INSERT INTO st SELECT g, g::text FROM generate_series(1, 3000) g" >/dev/null
add_col "$T_TMP/st.yaml" st "'v' || a || pg_catalog.left(pg_catalog.pg_sleep(0.005)::text, 0)"
"$S" --batch-size 2000 start "$T_TMP/st.yaml" >"$T_TMP/st.out" 2>"$T_TMP/st.err" &
pid=$!
t_sql_eventually bfsig "SELECT count(*) FROM pg_stat_activity WHERE datname = 'bfsig' AND application_name = 'shunt'
	AND query LIKE 'WITH keys AS%' AND state = 'active'" 1 "a batch statement runs"
sleep 0.5
t0=$(date +%s%N)
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
t_is "$rc" 143 "SIGTERM ends start with exit code 143"
t_ok "the running statement was cancelled, not waited for (${ms} ms)" test "$ms" -lt 4000
t_like "$(cat "$T_TMP/st.err")" "interrupted by SIGTERM: .*run shunt backfill to continue it" "the message says how to go on"
t_sql_is bfsig "SELECT rows_done FROM shunt.backfills WHERE table_name = 'st'" 0 "the cancelled batch left nothing done"
t_sql_is bfsig "SELECT count(*) FROM st WHERE _shunt_new_b IS NOT NULL" 0 "and changed no row"
t_sql_is bfsig "SELECT count(*) FROM pg_stat_activity WHERE datname = 'bfsig' AND application_name = 'shunt'
	AND state = 'active'" 0 \
	"no statement of it runs on"
t_sql_is bfsig "SELECT status FROM shunt.migrations WHERE name = 'st'" starting "the migration stays starting"
t_exit 0 "shunt backfill finishes it" "$S" --batch-size 1000 backfill
t_sql_is bfsig "SELECT count(*) FROM st WHERE _shunt_new_b IS DISTINCT FROM 'v' || a" 0 "every row was backfilled"
t_exit 0 "complete" "$S" complete

# --- SIGINT while paused, then a second SIGINT ----------------------------------
t_sql bfsig "CREATE TABLE sp (id bigint PRIMARY KEY, a text);
	INSERT INTO sp SELECT g, g::text FROM generate_series(1, 2000) g" >/dev/null
add_col "$T_TMP/sp.yaml" sp
t_exit 0 "pause" "$S" pause
"$S" start "$T_TMP/sp.yaml" >"$T_TMP/sp.out" 2>"$T_TMP/sp.err" &
pid=$!
t_sql_eventually bfsig "SELECT waiting_reason LIKE 'paused by the operator%' FROM shunt.backfills WHERE table_name = 'sp'" t \
	"the backfill waits while paused"
kill -INT "$pid"
rc=0
wait "$pid" || rc=$?
t_is "$rc" 130 "SIGINT stops a paused backfill too"
t_exit 0 "resume" "$S" resume
# A second SIGINT ends the process at once: here while a before-backfill
# hook runs (shunt waits for a hook whatever the signal).
mkdir -p "$T_TMP/hooks"
printf '#!/bin/sh\necho $$ >"$(dirname "$0")/pid"\nexec sleep 10\n' >"$T_TMP/hooks/before-backfill"
chmod +x "$T_TMP/hooks/before-backfill"
"$S" --hooks "$T_TMP/hooks" backfill >"$T_TMP/sp2.out" 2>"$T_TMP/sp2.err" &
pid=$!
for _ in $(seq 50); do
	grep -q "hook before-backfill: running" "$T_TMP/sp2.err" && break
	sleep 0.1
done
kill -INT "$pid"
sleep 0.5
t_ok "after one SIGINT it waits for the hook" kill -0 "$pid"
t0=$(date +%s%N)
kill -INT "$pid"
rc=0
wait "$pid" || rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
t_is "$rc" 130 "a second SIGINT exits at once (130)"
t_ok "without waiting for the hook (${ms} ms)" test "$ms" -lt 3000
kill "$(cat "$T_TMP/hooks/pid")" 2>/dev/null || true
rm "$T_TMP/hooks/before-backfill"
t_exit 0 "shunt backfill finishes it" "$S" backfill
t_sql_is bfsig "SELECT count(*) FROM sp WHERE _shunt_new_b IS DISTINCT FROM 'v' || a" 0 "every row was backfilled"
t_exit 0 "complete" "$S" complete

# --- a reconnect that finds another shunt holding the lock -----------------------
# The connection is lost (its backend terminated, as in a failover) while
# another session waits for the schema's advisory lock, as a `shunt
# backfill` started meanwhile would: that session has the lock when shunt
# reconnects a second later.
t_sql bfsig "CREATE TABLE rr (id bigint PRIMARY KEY, a text);
	INSERT INTO rr SELECT g, g::text FROM generate_series(1, 20000) g" >/dev/null
add_col "$T_TMP/rr.yaml" rr
"$S" --batch-size 200 --max-rows-per-second 2000 start "$T_TMP/rr.yaml" >"$T_TMP/rr.out" 2>&1 &
pid=$!
wait_rows rr 1000 || true
coproc HOLDER { psql -XAtq -v ON_ERROR_STOP=1 bfsig; }
echo "SELECT 'locked' FROM pg_advisory_lock(hashtext('shunt:shunt:public'));" >&"${HOLDER[1]}"
t_sql_eventually bfsig "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted" 1 	"another session waits for the schema's lock"
t_sql bfsig "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
	WHERE datname = 'bfsig' AND application_name = 'shunt'" >/dev/null
read -r -t 10 line <&"${HOLDER[0]}" || true
t_is "$line" locked "the other session got the lock"
rc=0
wait "$pid" || rc=$?
t_is "$rc" 3 "start stops, refused (exit 3)"
t_like "$(cat "$T_TMP/rr.out")" "another shunt process took over the migration of schema \"public\"" \
	"the error says another shunt has the migration"
t_unlike "$(cat "$T_TMP/rr.out")" "rolling back" "it does not roll back"
t_sql_is bfsig "SELECT status, last_error IS NULL FROM shunt.migrations WHERE name = 'rr'" "starting|t" \
	"the migration's state is left alone"
t_sql_is bfsig "SELECT count(*) FROM pg_attribute WHERE attrelid = 'rr'::regclass AND attname = '_shunt_new_b'" 1 \
	"what start made is still there"
echo '\q' >&"${HOLDER[1]}"
wait "${HOLDER_PID:-}" 2>/dev/null || true
t_exit 0 "once the other process is gone, shunt backfill finishes it" "$S" backfill
t_sql_is bfsig "SELECT count(*) FROM rr WHERE _shunt_new_b IS DISTINCT FROM 'v' || a" 0 "every row was backfilled"
t_exit 0 "complete" "$S" complete

t_done
