#!/usr/bin/env bash
# Lock safety: while a long transaction holds a lock on the target table,
# shunt's DDL must never make application queries wait longer than its
# lock timeout plus a small margin; shunt keeps retrying and succeeds once
# the transaction ends, or gives up after --lock-retry-total with a clear
# message, naming the blocker, in a state that a re-run resumes.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"

S=$SHUNT_BIN
t_createdb locks
export PGDATABASE=locks
t_sql locks "CREATE TABLE items (id bigserial PRIMARY KEY, name text NOT NULL, price text);
	INSERT INTO items (name, price) SELECT 'item ' || g, g::text FROM generate_series(1, 1000) g" >/dev/null
cat >"$T_TMP/m.yaml" <<'Y'
operations:
  - alter_column:
      table: items
      column: price
      type: bigint
      up: CAST(price AS bigint)
      down: CAST(price AS text)
Y

hold_lock() { # a long transaction that read the table: it holds ACCESS SHARE
	coproc HOLD { psql -XAtq -v ON_ERROR_STOP=1 locks; }
	echo "BEGIN; SELECT 'holding' FROM items LIMIT 1;" >&"${HOLD[1]}"
	read -r -t 10 line <&"${HOLD[0]}" || true
	t_is "$line" holding "a long transaction holds a lock on the table"
}
release_lock() {
	echo "COMMIT;" >&"${HOLD[1]}"
	echo '\q' >&"${HOLD[1]}"
	wait "${HOLD_PID:-}" 2>/dev/null || true
}

# Application queries every 50 ms for SECS seconds; prints the slowest in ms.
probe() {
	local secs=$1
	for _ in $(seq $((secs * 20))); do
		psql -XAtq -c '\timing on' -c "UPDATE items SET name = name WHERE id = 7" 2>&1 |
			sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p'
		sleep 0.05
	done | sort -n | tail -1
}

# --- shunt waits politely, then succeeds ------------------------------------
hold_lock
"$S" --lock-timeout 200ms --lock-retry-total 60s start "$T_TMP/m.yaml" >"$T_TMP/start.out" 2>&1 &
pid=$!
worst=$(probe 3)
t_ok "application queries never waited longer than lock_timeout + 300 ms (worst ${worst} ms)" \
	awk -v w="$worst" 'BEGIN { exit !(w < 500) }'
t_like "$(cat "$T_TMP/start.out")" "lock not available \(attempt [0-9]+, 55P03\), held by pid [0-9]+" \
	"shunt says it is retrying and names the blocking session"
t_ok "shunt is still retrying while the transaction is open" kill -0 "$pid"
release_lock
wait "$pid"
t_is "$?" 0 "shunt succeeds once the transaction ends"
t_sql_is locks "SELECT status FROM shunt.migrations" active "the migration is active"
t_exit 0 "rollback" "$S" rollback

# --- shunt gives up after its retry budget, resumably -----------------------------
hold_lock
t_exit 1 "shunt gives up after --lock-retry-total" "$S" --lock-timeout 100ms --lock-retry-total 2s start "$T_TMP/m.yaml"
t_like "$T_ERR" "gave up acquiring locks for .* after [0-9]+ attempts" "the message says it gave up"
t_like "$T_ERR" "Blocked by pid [0-9]+" "and names the blocker"
t_like "$T_ERR" "run the same command again" "and how to resume"
t_sql_is locks "SELECT status FROM shunt.migrations WHERE name = 'm' ORDER BY id DESC LIMIT 1" starting \
	"the start is left resumable"
release_lock
t_exit 0 "the same command resumes and finishes" "$S" start "$T_TMP/m.yaml"
t_sql_is locks "SELECT status FROM shunt.migrations WHERE name = 'm' ORDER BY id DESC LIMIT 1" active \
	"the migration is active"

# --- --kill-blockers cancels the blocker (opt-in) -------------------------------
t_exit 0 "rollback" "$S" rollback
hold_lock
t_exit 0 "with --kill-blockers=terminate shunt ends the blocker and proceeds" \
	"$S" --lock-timeout 100ms --kill-blockers terminate start "$T_TMP/m.yaml"
t_like "$T_ERR" "terminated" "it says it terminated the blocker"
# psql outlives its terminated session until its input ends
{ echo '\q' >&"${HOLD[1]}"; } 2>/dev/null || true
wait "${HOLD_PID:-}" 2>/dev/null || true
t_exit 0 "complete" "$S" complete

t_done
