#!/usr/bin/env bash
# The backfill engine: composite keys, a table without a key, a kill in
# mid-backfill followed by a resume from the checkpoint, pause / resume /
# tune from another process, replica-lag throttling against a real
# streaming replica, rows locked by the application (skipped, then
# revisited), and hooks.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"

S=$SHUNT_BIN
t_createdb bf
export PGDATABASE=bf

add_col() { # FILE TABLE: add a NOT NULL column computed by up
	cat >"$1" <<Y
operations:
  - add_column:
      table: $2
      up: "'v' || a"
      column: {name: b, type: text, nullable: false}
Y
}
rows_done() { t_sql bf "SELECT coalesce(sum(rows_done), 0) FROM shunt.backfills"; }

# --- composite key ---------------------------------------------------------
t_sql bf "CREATE TABLE comp (k1 int, k2 text, a text, PRIMARY KEY (k1, k2));
	INSERT INTO comp SELECT g % 7, 'x' || g, g::text FROM generate_series(1, 3000) g" >/dev/null
add_col "$T_TMP/comp.yaml" comp
t_exit 0 "a table with a composite primary key is backfilled" "$S" --batch-size 100 start --complete "$T_TMP/comp.yaml"
t_sql_is bf "SELECT count(*) FROM comp WHERE b = 'v' || a" 3000 "every row of the composite-key table got its value"
# a batch's last key was once taken in text order ('999' after '1000'):
# batches overlapped and rows were counted twice
t_sql_is bf "SELECT rows_done FROM shunt.backfills b JOIN shunt.migrations m ON m.id = b.migration_id
	WHERE m.name = 'comp'" 3000 "the backfill counted each row once"

# --- unique NOT NULL index instead of a primary key ------------------------
t_sql bf "CREATE TABLE uq (id int NOT NULL, a text); CREATE UNIQUE INDEX uq_id ON uq (id);
	INSERT INTO uq SELECT g, g::text FROM generate_series(1, 500) g" >/dev/null
add_col "$T_TMP/uq.yaml" uq
t_exit 0 "a NOT NULL unique index serves as the key" "$S" start --complete "$T_TMP/uq.yaml"
t_sql_is bf "SELECT count(*) FROM uq WHERE b = 'v' || a" 500 "every row of the unique-key table got its value"

# --- no key at all -----------------------------------------------------------
t_sql bf "CREATE TABLE nokey (a text); INSERT INTO nokey SELECT g::text FROM generate_series(1, 10) g" >/dev/null
add_col "$T_TMP/nokey.yaml" nokey
before=$(t_sql bf "SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'nokey'::regclass AND attnum > 0")
t_exit 1 "a table without a key is refused" "$S" start "$T_TMP/nokey.yaml"
t_like "$T_ERR" 'has no primary key and no NOT NULL unique index' "the error says why"
t_like "$T_ERR" 'HINT: Add a primary key' "the hint says what to do"
t_is "$(t_sql bf "SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'nokey'::regclass AND attnum > 0 AND NOT attisdropped")" \
	"$before" "the table is left as it was"
t_sql_is bf "SELECT count(*) FROM pg_namespace WHERE nspname = 'public_nokey'" 0 "no version schema is left"

# --- kill in mid-backfill, then resume ---------------------------------------
t_sql bf "CREATE TABLE big (id bigint PRIMARY KEY, a text);
	INSERT INTO big SELECT g, g::text FROM generate_series(1, 20000) g" >/dev/null
add_col "$T_TMP/big.yaml" big
"$S" --batch-size 200 --max-rows-per-second 4000 start "$T_TMP/big.yaml" >"$T_TMP/kill.out" 2>&1 &
pid=$!
for _ in $(seq 50); do
	sleep 0.2
	[[ $(rows_done) -ge 2000 ]] && break
done
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
done_at_kill=$(rows_done)
t_ok "the backfill had recorded progress when it was killed ($done_at_kill rows)" test "$done_at_kill" -ge 2000
t_ok "and was not finished" test "$done_at_kill" -lt 20000
t_sql_is bf "SELECT status FROM shunt.migrations WHERE name = 'big'" starting "the migration is left starting"
t_exit 0 "status shows the interrupted start" "$S" status
t_like "$T_OUT" "big \(starting" "status names it as starting"
t_exit 0 "shunt backfill continues it" "$S" --batch-size 1000 backfill
t_like "$T_ERR" "resuming after [1-9][0-9]* rows" "it resumed from the checkpoint, not from the start"
t_sql_is bf "SELECT status FROM shunt.migrations WHERE name = 'big'" active "the migration is active"
t_sql_is bf "SELECT count(*) FROM big WHERE _shunt_new_b IS DISTINCT FROM 'v' || a" 0 "every row was backfilled"
t_exit 0 "complete after the resume" "$S" complete

# --- pause, resume and tune from another process ----------------------------
t_sql bf "CREATE TABLE slow (id bigint PRIMARY KEY, a text);
	INSERT INTO slow SELECT g, g::text FROM generate_series(1, 6000) g" >/dev/null
add_col "$T_TMP/slow.yaml" slow
"$S" --batch-size 100 --max-rows-per-second 500 start "$T_TMP/slow.yaml" >"$T_TMP/slow.out" 2>&1 &
pid=$!
sleep 2
t_exit 0 "pause succeeds" "$S" pause
sleep 1.5
p1=$(rows_done)
sleep 2
p2=$(rows_done)
t_is "$p2" "$p1" "no rows are backfilled while paused"
t_sql_is bf "SELECT waiting_reason LIKE 'paused by the operator%' FROM shunt.backfills b JOIN shunt.migrations m ON m.id = b.migration_id WHERE m.name = 'slow'" t \
	"the backfill records why it waits"
# progress: the table was never analysed (reltuples -1); the total was
# once taken as 0 and progress showed 100% from the first batch
t_exit 0 "status --json while paused" "$S" status --json
t_like "$T_OUT" '"table_name": "slow",[^}]*"rows_total": "6000",' \
	"status --json: the total of a never-analysed table is its row count, not the rows done"
t_like "$T_OUT" '"table_name": "slow",[^}]*"percent": "[0-9]{1,2}\.[0-9]",' "status --json: the percentage is below 100"
t_exit 0 "status while paused" "$S" status
t_like "$T_OUT" "backfill: +\"public\"\.\"slow\": [0-9]+ of ~6000 rows \([0-9.]+%\), [0-9]+ rows/s, running" \
	"status shows the backfill's rows, total, percentage and rate"
t_like "$T_OUT" "waiting: paused by the operator" "and why it waits"
t_exit 0 "resume succeeds" "$S" resume
t_exit 0 "tune removes the rate cap" "$S" tune --max-rows-per-second 0 --batch-size 2000
wait "$pid"
t_is "$?" 0 "the tuned backfill finished"
t_like "$(cat "$T_TMP/slow.out")" "waiting: paused by the operator" "the backfill said why it waited"
t_like "$(cat "$T_TMP/slow.out")" "continuing" "and when it continued"
t_like "$(cat "$T_TMP/slow.out")" "backfill \"public\".\"slow\": [0-9]+ of ~6000 rows \(([0-9]|[1-9][0-9])%\)" \
	"the progress line counts against the table's rows, below 100% while running"
t_like "$(cat "$T_TMP/slow.out")" "the table has no statistics; analysing it first" "the never-analysed table was analysed"
t_exit 0 "status after the backfill" "$S" status
t_like "$T_OUT" "\"public\"\.\"slow\": 6000 rows, done" "status shows the finished backfill"
t_sql_is bf "SELECT count(*) FROM slow WHERE _shunt_new_b IS DISTINCT FROM 'v' || a" 0 "every row was backfilled"
t_exit 0 "complete" "$S" complete
t_exit 2 "tune without a setting is a usage error" "$S" tune

# --- rows held by the application are skipped, then revisited ----------------
t_sql bf "CREATE TABLE held (id bigint PRIMARY KEY, a text);
	INSERT INTO held SELECT g, g::text FROM generate_series(1, 3000) g" >/dev/null
add_col "$T_TMP/held.yaml" held
# The row is locked once the backfill runs (the DDL before it needs the
# table lock, which an open transaction on the table would hold up).
"$S" --batch-size 100 --max-rows-per-second 1500 start "$T_TMP/held.yaml" >"$T_TMP/held.out" 2>&1 &
pid=$!
t_sql_eventually bf "SELECT count(*) > 0 FROM shunt.backfills b JOIN shunt.migrations m ON m.id = b.migration_id
	WHERE m.name = 'held'" t "the backfill of held runs"
coproc HOLD { psql -XAtq -v ON_ERROR_STOP=1 bf; }
echo "BEGIN; SELECT 'locked' FROM held WHERE id = 2900 FOR UPDATE;" >&"${HOLD[1]}"
read -r -t 10 line <&"${HOLD[0]}" || true
t_is "$line" locked "an application transaction holds row 2900"
t_sql_eventually bf "SELECT rows_done FROM shunt.backfills b JOIN shunt.migrations m ON m.id = b.migration_id
	WHERE m.name = 'held'" 2999 "the backfill went past the locked row" 20
t_sql_is bf "SELECT string_agg(id::text, ',') FROM held WHERE _shunt_new_b IS NULL" 2900 \
	"every row but the locked one is done, and the backfill did not wait for it"
sleep 1
echo "COMMIT;" >&"${HOLD[1]}"
echo '\q' >&"${HOLD[1]}"
wait "${HOLD_PID:-}" 2>/dev/null || true
wait "$pid"
t_is "$?" 0 "the backfill finished once the row was released"
t_sql_is bf "SELECT count(*) FROM held WHERE _shunt_new_b IS DISTINCT FROM 'v' || a" 0 "the skipped row was revisited"
t_exit 0 "complete" "$S" complete

# --- a crash right after a batch that skipped rows keeps the range ---------------
# (the batch size tuned above stays for the schema: back to the command's)
t_exit 0 "tune back to the command line's batch size" "$S" tune --batch-size 0
# The range to revisit is recorded by the batch's own statement: a crash
# right after that batch (the fault point) once lost it, and the row the
# application held never got its value.
t_sql bf "CREATE TABLE held2 (id bigint PRIMARY KEY, a text);
	INSERT INTO held2 SELECT g, g::text FROM generate_series(1, 3000) g" >/dev/null
add_col "$T_TMP/held2.yaml" held2
env SHUNT_FAULT=backfill:after-batch:29 "$S" --batch-size 100 --max-rows-per-second 600 start "$T_TMP/held2.yaml" \
	>"$T_TMP/held2.out" 2>&1 &
pid=$!
t_sql_eventually bf "SELECT count(*) > 0 FROM shunt.backfills WHERE table_name = 'held2'" t "the backfill of held2 runs"
coproc HOLD2 { psql -XAtq -v ON_ERROR_STOP=1 bf; }
echo "BEGIN; SELECT 'locked' FROM held2 WHERE id = 2850 FOR UPDATE;" >&"${HOLD2[1]}"
read -r -t 10 line <&"${HOLD2[0]}" || true
t_is "$line" locked "an application transaction holds row 2850 (batch 29)"
rc=0
wait "$pid" || rc=$?
t_is "$rc" 137 "shunt died right after batch 29"
t_sql_is bf "SELECT revisit FROM shunt.backfills WHERE table_name = 'held2'" '[[["2800"], ["2900"]]]' \
	"the range with the held row was recorded with the batch"
echo "COMMIT;" >&"${HOLD2[1]}"
echo '\q' >&"${HOLD2[1]}"
wait "${HOLD2_PID:-}" 2>/dev/null || true
t_exit 0 "shunt backfill resumes" "$S" backfill
t_sql_is bf "SELECT count(*) FROM held2 WHERE _shunt_new_b IS DISTINCT FROM 'v' || a" 0 "the held row was revisited after the crash"
t_exit 0 "complete" "$S" complete

# --- a revisit that cannot get its rows stops resumable -------------------------
t_sql bf "CREATE TABLE held3 (id bigint PRIMARY KEY, a text);
	INSERT INTO held3 SELECT g, g::text FROM generate_series(1, 3000) g" >/dev/null
add_col "$T_TMP/held3.yaml" held3
"$S" --batch-size 100 --max-rows-per-second 1500 --lock-timeout 100ms --lock-retry-total 2s start "$T_TMP/held3.yaml" \
	>"$T_TMP/held3.out" 2>&1 &
pid=$!
t_sql_eventually bf "SELECT count(*) > 0 FROM shunt.backfills WHERE table_name = 'held3'" t "the backfill of held3 runs"
coproc HOLD3 { psql -XAtq -v ON_ERROR_STOP=1 bf; }
echo "BEGIN; SELECT 'locked' FROM held3 WHERE id = 2900 FOR UPDATE;" >&"${HOLD3[1]}"
read -r -t 10 line <&"${HOLD3[0]}" || true
t_is "$line" locked "an application transaction holds row 2900 and keeps it"
rc=0
wait "$pid" || rc=$?
t_is "$rc" 1 "start gives up after --lock-retry-total (exit 1)"
out=$(cat "$T_TMP/held3.out")
t_like "$out" "backfill of \"public\".\"held3\" gave up: a batch could not lock its rows" "the error says why"
t_like "$out" "run shunt backfill to continue" "and how to resume"
t_unlike "$out" "rolling back" "the start is not rolled back"
t_sql_is bf "SELECT status FROM shunt.migrations WHERE name = 'held3'" starting "the migration stays starting"
t_sql_is bf "SELECT rows_done FROM shunt.backfills WHERE table_name = 'held3'" 2999 "with its checkpoint"
echo "COMMIT;" >&"${HOLD3[1]}"
echo '\q' >&"${HOLD3[1]}"
wait "${HOLD3_PID:-}" 2>/dev/null || true
t_exit 0 "shunt backfill finishes it once the row is free" "$S" backfill
t_sql_is bf "SELECT count(*) FROM held3 WHERE _shunt_new_b IS DISTINCT FROM 'v' || a" 0 "every row was backfilled"
t_exit 0 "complete" "$S" complete

# --- an inactive replication slot does not hold the backfill ---------------------
t_sql_super bf "SELECT 1 FROM pg_create_physical_replication_slot('bf_abandoned', true)" >/dev/null
t_sql bf "CREATE TABLE walgen AS SELECT g, repeat('x', 200) AS x FROM generate_series(1, 20000) g;
	CREATE TABLE sl (id bigint PRIMARY KEY, a text);
	INSERT INTO sl SELECT g, g::text FROM generate_series(1, 1000) g" >/dev/null
t_sql_is bf "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn) > 1048576 AND NOT active
	FROM pg_replication_slots WHERE slot_name = 'bf_abandoned'" t "an inactive slot retains more than 1MB of WAL"
add_col "$T_TMP/sl.yaml" sl
t_exit 0 "the backfill does not wait for an inactive slot" timeout 30 "$S" --max-slot-lag 1MB start "$T_TMP/sl.yaml"
t_like "$T_ERR" "warning: inactive replication slots retain more WAL than --max-slot-lag: \"bf_abandoned\" \([0-9]+ MB\)" \
	"it warns, naming the slot"
t_is "$(grep -c 'inactive replication slots' <<<"$T_ERR")" 1 "once"
t_sql_super bf "SELECT pg_drop_replication_slot('bf_abandoned')" >/dev/null
t_sql_is bf "SELECT count(*) FROM sl WHERE _shunt_new_b IS DISTINCT FROM 'v' || a" 0 "every row was backfilled"
t_exit 0 "complete" "$S" complete

# --- hooks --------------------------------------------------------------------
mkdir -p "$T_TMP/hooks"
cat >"$T_TMP/hooks/before-start" <<'H'
#!/bin/sh
[ -e "$(dirname "$0")/deny" ] && { echo "change freeze" >&2; exit 3; }
exit 0
H
cat >"$T_TMP/hooks/after-backfill" <<'H'
#!/bin/sh
echo "$SHUNT_EVENT $SHUNT_MIGRATION $SHUNT_SCHEMA $SHUNT_TABLE rows=$SHUNT_ROWS" >>"$(dirname "$0")/log"
H
chmod +x "$T_TMP/hooks/before-start" "$T_TMP/hooks/after-backfill"
touch "$T_TMP/hooks/deny"
t_sql bf "CREATE TABLE hk (id int PRIMARY KEY, a text); INSERT INTO hk SELECT g, g::text FROM generate_series(1, 250) g" >/dev/null
add_col "$T_TMP/hk.yaml" hk
t_exit 1 "a failing before-start hook stops start" "$S" --hooks "$T_TMP/hooks" start "$T_TMP/hk.yaml"
t_like "$T_ERR" "hook .*before-start failed \(exit status 3\)" "the error names the hook and its status"
t_sql_is bf "SELECT count(*) FROM shunt.migrations WHERE name = 'hk'" 0 "nothing was recorded"
t_sql_is bf "SELECT count(*) FROM pg_attribute WHERE attrelid = 'hk'::regclass AND attname LIKE '\\_shunt%'" 0 \
	"nothing was changed"
rm "$T_TMP/hooks/deny"
t_exit 0 "with the hook passing, start succeeds" env SHUNT_HOOKS="$T_TMP/hooks" "$S" start --complete "$T_TMP/hk.yaml"
t_is "$(cat "$T_TMP/hooks/log")" "after-backfill hk public hk rows=250" \
	"after-backfill got its context in the environment, SHUNT_ROWS included"

# --- replica lag ------------------------------------------------------------------
# Replication and vacuum progress are visible to pg_read_all_stats members
# only; docs/concepts.md lists it among the privileges shunt needs for them.
if t_as_owner; then
	t_sql_super postgres "GRANT pg_read_all_stats TO $T_OWNER_ROLE" >/dev/null
fi
cluster_replica_start bfrep
t_sql bf "CREATE TABLE lag (id bigint PRIMARY KEY, a text);
	INSERT INTO lag SELECT g, g::text FROM generate_series(1, 4000) g" >/dev/null
t_sql_eventually bf "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'" 1 "the replica streams"
add_col "$T_TMP/lag.yaml" lag
PGHOST=$REPLICA_HOST PGPORT=$REPLICA_PORT t_sql_super bf "SELECT pg_wal_replay_pause()" >/dev/null
PGHOST=$REPLICA_HOST PGPORT=$REPLICA_PORT t_sql_eventually bf "SELECT pg_get_wal_replay_pause_state()" paused \
	"replay on the replica is paused"
"$S" --batch-size 100 --max-rows-per-second 1000 --max-replica-lag 1s start "$T_TMP/lag.yaml" >"$T_TMP/lag.out" 2>&1 &
pid=$!
waited=no
for _ in $(seq 40); do
	sleep 0.25
	if grep -q "waiting: a replica is" "$T_TMP/lag.out"; then
		waited=yes
		break
	fi
done
t_is "$waited" yes "the backfill waits while the replica does not replay"
p1=$(rows_done)
sleep 1.5
t_is "$(rows_done)" "$p1" "and backfills nothing meanwhile"
PGHOST=$REPLICA_HOST PGPORT=$REPLICA_PORT t_sql_super bf "SELECT pg_wal_replay_resume()" >/dev/null
wait "$pid"
t_is "$?" 0 "the backfill finished once the replica caught up"
t_sql_is bf "SELECT count(*) FROM lag WHERE _shunt_new_b IS DISTINCT FROM 'v' || a" 0 "every row was backfilled"
t_exit 0 "complete" "$S" complete
cluster_replica_stop

t_done
