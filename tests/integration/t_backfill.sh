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
t_exit 0 "resume succeeds" "$S" resume
t_exit 0 "tune removes the rate cap" "$S" tune --max-rows-per-second 0 --batch-size 2000
wait "$pid"
t_is "$?" 0 "the tuned backfill finished"
t_like "$(cat "$T_TMP/slow.out")" "waiting: paused by the operator" "the backfill said why it waited"
t_like "$(cat "$T_TMP/slow.out")" "continuing" "and when it continued"
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

# --- hooks --------------------------------------------------------------------
mkdir -p "$T_TMP/hooks"
cat >"$T_TMP/hooks/before-start" <<'H'
#!/bin/sh
[ -e "$(dirname "$0")/deny" ] && { echo "change freeze" >&2; exit 3; }
exit 0
H
cat >"$T_TMP/hooks/after-backfill" <<'H'
#!/bin/sh
echo "$SHUNT_EVENT $SHUNT_MIGRATION $SHUNT_SCHEMA $SHUNT_TABLE" >>"$(dirname "$0")/log"
H
chmod +x "$T_TMP/hooks/before-start" "$T_TMP/hooks/after-backfill"
touch "$T_TMP/hooks/deny"
t_sql bf "CREATE TABLE hk (id int PRIMARY KEY, a text); INSERT INTO hk VALUES (1, 'x')" >/dev/null
add_col "$T_TMP/hk.yaml" hk
t_exit 1 "a failing before-start hook stops start" "$S" --hooks "$T_TMP/hooks" start "$T_TMP/hk.yaml"
t_like "$T_ERR" "hook .*before-start failed \(exit status 3\)" "the error names the hook and its status"
t_sql_is bf "SELECT count(*) FROM shunt.migrations WHERE name = 'hk'" 0 "nothing was recorded"
t_sql_is bf "SELECT count(*) FROM pg_attribute WHERE attrelid = 'hk'::regclass AND attname LIKE '\\_shunt%'" 0 \
	"nothing was changed"
rm "$T_TMP/hooks/deny"
t_exit 0 "with the hook passing, start succeeds" env SHUNT_HOOKS="$T_TMP/hooks" "$S" start --complete "$T_TMP/hk.yaml"
t_is "$(cat "$T_TMP/hooks/log")" "after-backfill hk public hk" "after-backfill got its context in the environment"

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
