#!/usr/bin/env bash
# Triggerless change capture (src/pg/pg_logical.c) through its test driver
# tests/tools/logical_probe: inserts, updates (also of the primary key: old
# and new key), deletes from a concurrent writer all arrive, and keys of
# other tables do not; composite keys with hostile names; the cut-over
# marker waits for changes committed before it; feedback advances the slot's
# confirmed_flush_lsn; a killed capture leaves no slot (temporary) and
# cleanup removes its publication; TRUNCATE stops the capture; the checks
# refuse a role without REPLICATION and tables without a replica identity,
# and no publication is created then.  Captures run as a non-superuser
# with REPLICATION that owns the tables, in both runner modes.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"

TOOLS=${SHUNT_TOOLS:-$(cd "$(dirname "$0")/../.." && pwd)/build/tests/tools}
P=$TOOLS/logical_probe
if [[ ! -x $P ]]; then
	t_fail "logical_probe is built" "$P is missing: make build/tests/tools/logical_probe"
	t_done
fi

# Roles are cluster-wide and files run in parallel: names of this file only.
REP=t_logical_rep
NOREP=t_logical_norep
t_createdb logical
export PGDATABASE=logical
t_sql_super postgres "DO \$\$ BEGIN
	CREATE ROLE $REP LOGIN NOSUPERUSER REPLICATION;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END \$\$;
DO \$\$ BEGIN
	CREATE ROLE $NOREP LOGIN NOSUPERUSER NOREPLICATION;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END \$\$;" >/dev/null
t_sql_super logical "GRANT CREATE ON DATABASE logical TO $REP, $NOREP;
	GRANT CREATE, USAGE ON SCHEMA public TO $REP, $NOREP" >/dev/null
export PGUSER=$REP

# wait_file PATH [SECONDS]: until PATH exists (the probe's ready file).
wait_file() {
	local i
	for ((i = 0; i < ${2:-30} * 10; i++)); do
		[[ -e $1 ]] && return 0
		sleep 0.1
	done
	return 1
}

# start_probe NAME SCHEMA TABLE KEYS: a capture in the background; its
# control dir is $T_TMP/NAME (ready, pause, stop), stdout NAME/out, stderr
# NAME/err, pid in PROBE_PID.
start_probe() {
	local name=$1 dir=$T_TMP/$1
	rm -rf "$dir"
	mkdir -p "$dir"
	"$P" stream "$2" "$3" "$4" "slot_$name" "pub $name" "$dir" >"$dir/out" 2>"$dir/err" &
	PROBE_PID=$!
	if ! wait_file "$dir/ready"; then
		t_fail "capture $name starts" "$(cat "$dir/err")"
		return 1
	fi
}

# stop_probe NAME DESC: cut over (marker), wait for the probe and check that
# it exited 0.  Called directly: the probe is a child of this shell only.
stop_probe() {
	local rc=0
	touch "$T_TMP/$1/stop"
	wait "$PROBE_PID" || rc=$?
	T_ERR=$(cat "$T_TMP/$1/err")
	t_is "$rc" 0 "$2"
	T_ERR=
}

slots() { t_sql_super postgres "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'slot_$1'"; }
pubs() { t_sql logical "SELECT count(*) FROM pg_publication WHERE pubname = 'pub $1'"; }

# --- checks ------------------------------------------------------------------
t_sql logical "CREATE TABLE w (id bigint PRIMARY KEY, v int NOT NULL DEFAULT 0);
	CREATE TABLE o (id bigint PRIMARY KEY);
	CREATE TABLE touched (id bigint);
	CREATE SEQUENCE pkseq START 100000;
	CREATE TABLE nopk (a int, b text);
	CREATE TABLE nothing (id int PRIMARY KEY); ALTER TABLE nothing REPLICA IDENTITY NOTHING;
	CREATE TABLE byidx (id int NOT NULL, k text NOT NULL, v text);
	CREATE UNIQUE INDEX byidx_k ON byidx (k, id); ALTER TABLE byidx REPLICA IDENTITY USING INDEX byidx_k;
	CREATE TABLE full_ri (a int, b int, v text); ALTER TABLE full_ri REPLICA IDENTITY FULL" >/dev/null

t_diag "wal_level = logical on the test clusters; its refusal cannot be exercised here (needs a restart)"
t_exit 0 "check accepts a primary key equal to the key" "$P" check public w id
t_exit 0 "check accepts REPLICA IDENTITY USING INDEX on exactly the key columns, in any order" \
	"$P" check public byidx id,k
t_exit 0 "check accepts REPLICA IDENTITY FULL" "$P" check public full_ri a,b
t_exit 1 "check refuses a key that is not the primary key" "$P" check public w v
t_like "$T_ERR" 'replica identity of table "public"."w" is not the key' "  ... and says so"
t_exit 1 "check refuses a table without primary key or replica identity" "$P" check public nopk a
t_like "$T_ERR" 'no primary key and no replica identity index.*UPDATE and DELETE statements would fail.*hint: Add a primary key' \
	"  ... with detail and a hint"
t_exit 1 "check refuses REPLICA IDENTITY NOTHING" "$P" check public nothing id
t_like "$T_ERR" 'REPLICA IDENTITY NOTHING.*hint: ALTER TABLE "public"."nothing" REPLICA IDENTITY' "  ... naming the fix"
t_exit 1 "opening a capture on a table without replica identity fails" \
	"$P" stream public nopk a slot_nopk "pub nopk" "$T_TMP"
t_sql_is logical "SELECT count(*) FROM pg_publication" 0 "  ... and creates no publication"
t_exit 1 "check refuses a missing table" "$P" check public nosuch id
t_like "$T_ERR" '"public"."nosuch" does not exist' "  ... naming it"

t_sql_super logical "CREATE TABLE norep_t (id int PRIMARY KEY); ALTER TABLE norep_t OWNER TO $NOREP" >/dev/null
t_exit 1 "check refuses a role without REPLICATION" env PGUSER=$NOREP "$P" check public norep_t id
t_like "$T_ERR" "role \"$NOREP\" may not read logical replication.*hint: As a superuser: ALTER ROLE \"$NOREP\" REPLICATION" \
	"  ... with the ALTER ROLE to run"
t_exit 1 "opening a capture as that role fails" env PGUSER=$NOREP "$P" stream public norep_t id slot_norep "pub norep" "$T_TMP"
t_sql_is logical "SELECT count(*) FROM pg_publication" 0 "  ... before creating a publication"
t_exit 1 "check refuses a table the role does not own" "$P" check public norep_t id
t_like "$T_ERR" "does not own table \"public\".\"norep_t\".*hint: Run as the owner \"$NOREP\"" "  ... naming the owner"

# --- a concurrent writer: every key arrives, no other table's ----------------
# Every transaction records the keys it changed in w into touched (not
# published), and writes a key >= 1000000 into o (not captured).
cat >"$T_TMP/upsert.sql" <<'SQL'
\set id random(1, 3000)
BEGIN;
INSERT INTO w (id) VALUES (:id) ON CONFLICT (id) DO UPDATE SET v = w.v + 1;
INSERT INTO touched VALUES (:id);
INSERT INTO o VALUES (:id + 1000000) ON CONFLICT DO NOTHING;
END;
SQL
cat >"$T_TMP/delete.sql" <<'SQL'
\set id random(1, 3000)
WITH d AS (DELETE FROM w WHERE id = :id RETURNING id) INSERT INTO touched SELECT id FROM d;
SQL
cat >"$T_TMP/pkupdate.sql" <<'SQL'
\set id random(1, 3000)
WITH u AS (UPDATE w SET id = nextval('pkseq') WHERE id = :id RETURNING id)
INSERT INTO touched SELECT :id FROM u UNION ALL SELECT id FROM u;
SQL
cat >"$T_TMP/multi.sql" <<'SQL'
\set id random(1, 3000)
BEGIN;
UPDATE w SET v = v + 1 WHERE id BETWEEN :id AND :id + 3;
INSERT INTO touched SELECT id FROM w WHERE id BETWEEN :id AND :id + 3;
END;
SQL
t_sql logical "INSERT INTO w (id) SELECT g FROM generate_series(1, 3000, 2) g" >/dev/null

# polls that never wait (timeout 0), as a caller busy copying would make
LOGICAL_PROBE_POLL_MS=0 start_probe main public w id
t_sql_is logical "SELECT temporary, active FROM pg_replication_slots WHERE slot_name = 'slot_main'" "t|t" \
	"the capture holds a temporary, active slot"
t_sql_is logical "SELECT string_agg(c.relname, ',') FROM pg_publication_tables p JOIN pg_class c
	ON c.relname = p.tablename WHERE p.pubname = 'pub main'" w "its publication covers the table only"
lsn_start=$(t_sql logical "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'slot_main'")

pgbench -n -c 4 -j 2 -T 6 -f "$T_TMP/upsert.sql@6" -f "$T_TMP/delete.sql@2" -f "$T_TMP/pkupdate.sql@1" \
	-f "$T_TMP/multi.sql@1" logical >"$T_TMP/pgbench.out" 2>&1 || true
t_like "$(cat "$T_TMP/pgbench.out")" "number of failed transactions: 0 " "the writer saw no error while captured"
t_like "$(cat "$T_TMP/pgbench.out")" "number of transactions actually processed: [1-9]" "the writer did work"
t_sql_is logical "SELECT count(*) > 0 FROM touched t WHERE t.id >= 100000" t "the writer changed primary keys"

# feedback: the last writer commit is confirmed while the capture runs
lsn_mark=$(t_sql logical "SELECT pg_current_wal_lsn()")
t_sql logical "UPDATE w SET v = v + 1 WHERE id = 1; INSERT INTO touched VALUES (1)" >/dev/null
t_sql_eventually logical "SELECT confirmed_flush_lsn >= '$lsn_mark'::pg_lsn AND confirmed_flush_lsn > '$lsn_start'::pg_lsn
	FROM pg_replication_slots WHERE slot_name = 'slot_main'" t \
	"feedback advances the slot's confirmed_flush_lsn past the last commit while running" 15

t_unlike "$(head -c 200 "$T_TMP/main/out")" '^$' "keys arrived through polls that never wait, before the cut-over"
stop_probe main "the cut-over ends the capture"
out=$(<"$T_TMP/main/out")
t_is "$(tail -n 1 <<<"$out")" MARKER "the marker is the last line"
sed '/^MARKER$/d' "$T_TMP/main/out" | sort -u >"$T_TMP/got"
t_sql logical "SELECT DISTINCT id FROM touched" | sort -u >"$T_TMP/want"
missing=$(comm -13 "$T_TMP/got" "$T_TMP/want" | head -5)
extra=$(comm -23 "$T_TMP/got" "$T_TMP/want" | head -5)
t_is "$missing" "" "every key the writer changed arrived (inserts, updates, old and new primary keys, deletes)"
t_is "$extra" "" "no key arrived that the writer did not change (none of table o)"
t_is "$(wc -l <"$T_TMP/want" | tr -d ' ')" "$(wc -l <"$T_TMP/got" | tr -d ' ')" "  ... $(wc -l <"$T_TMP/want" | tr -d ' ') keys"
t_is "$(slots main)" 0 "closing drops the slot"
t_is "$(pubs main)" 0 "closing drops the publication"

# --- the marker waits for changes committed before it --------------------------
start_probe marker public w id
touch "$T_TMP/marker/pause" # the probe stops reading: changes wait on the server
sleep 0.5                     # (after the poll under way, at most 200 ms)
t_sql logical "INSERT INTO w (id) SELECT g FROM generate_series(500001, 500200) g;
	DELETE FROM w WHERE id = 500007" >/dev/null
sleep 0.5
t_is "$(cat "$T_TMP/marker/out")" "" "while paused nothing was read"
stop_probe marker "the cut-over succeeds"
want=$( (seq 500001 500200; echo 500007; echo MARKER) | tr '\n' ' ')
t_is "$(tr '\n' ' ' <"$T_TMP/marker/out")" "$want" \
	"every change committed before the marker arrives before it, in commit order"

# --- composite key, hostile names, identity index --------------------------------
sch='Sch "e(m)a'
tbl='Mïxed "tab" le'
t_sql logical "CREATE SCHEMA \"Sch \"\"e(m)a\";
	CREATE TABLE \"Sch \"\"e(m)a\".\"Mïxed \"\"tab\"\" le\" (\"K 1\" text, \"select\" int, v text,
		PRIMARY KEY (\"select\", \"K 1\"))" >/dev/null
start_probe comp "$sch" "$tbl" 'K 1,select'
t_sql logical "SET search_path = \"Sch \"\"e(m)a\";
	INSERT INTO \"Mïxed \"\"tab\"\" le\" VALUES ('a''b ä', 1, 'x'), ('c', 2, 'y');
	UPDATE \"Mïxed \"\"tab\"\" le\" SET v = 'z' WHERE \"select\" = 1;
	UPDATE \"Mïxed \"\"tab\"\" le\" SET \"K 1\" = 'd' WHERE \"select\" = 2;
	DELETE FROM \"Mïxed \"\"tab\"\" le\" WHERE \"select\" = 1" >/dev/null
stop_probe comp "the cut-over of the composite-key capture succeeds"
t_is "$(cat "$T_TMP/comp/out")" "$(printf "a'b ä\t1\nc\t2\na'b ä\t1\nc\t2\nd\t2\na'b ä\t1\nMARKER")" \
	"composite keys arrive in key-column order, old and new on a key change, under hostile names"

start_probe idx public byidx id,k
t_sql logical "INSERT INTO byidx VALUES (1, 'a', 'x'); UPDATE byidx SET v = 'y';
	UPDATE byidx SET k = 'b'; DELETE FROM byidx" >/dev/null
stop_probe idx "the cut-over of the identity-index capture succeeds"
t_is "$(tr '\n' ' ' <"$T_TMP/idx/out")" "$(printf '1\ta 1\ta 1\ta 1\tb 1\tb MARKER ')" \
	"REPLICA IDENTITY USING INDEX: the index columns are the key"

start_probe full public full_ri a,b
t_sql logical "INSERT INTO full_ri VALUES (1, 2, 'x'); UPDATE full_ri SET b = 3; DELETE FROM full_ri" >/dev/null
stop_probe full "the cut-over of the REPLICA IDENTITY FULL capture succeeds"
t_is "$(tr '\n' ' ' <"$T_TMP/full/out")" "$(printf '1\t2 1\t2 1\t3 1\t3 MARKER ')" \
	"REPLICA IDENTITY FULL: the key comes from the old row"

# --- a killed capture leaves no slot; cleanup removes the publication ------------
start_probe killed public w id
t_is "$(slots killed)" 1 "a running capture has its slot"
running_pid=$PROBE_PID
start_probe killed2 public w id
kill -KILL "$PROBE_PID"
wait "$PROBE_PID" 2>/dev/null || true
t_sql_eventually logical "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'slot_killed2'" 0 \
	"after SIGKILL the server drops the temporary slot"
t_is "$(pubs killed2)" 1 "the publication of the killed capture is left"
t_exit 0 "cleanup succeeds after the crash" "$P" cleanup slot_killed2 "pub killed2"
t_is "$(pubs killed2)" 0 "cleanup removed the leftover publication"
t_exit 1 "cleanup refuses while the capture still runs" "$P" cleanup slot_killed "pub killed"
t_like "$T_ERR" 'replication slot "slot_killed" is in use by process' "  ... saying why"
t_is "$(pubs killed)" 1 "  ... and keeps its publication"
t_sql_super logical "SELECT pg_create_logical_replication_slot('slot_left', 'pgoutput')" >/dev/null
t_sql logical "CREATE PUBLICATION \"pub left\" FOR TABLE o" >/dev/null
t_exit 0 "cleanup of a leftover permanent slot succeeds" "$P" cleanup slot_left "pub left"
t_is "$(slots left)$(pubs left)" 00 "  ... and drops the slot and the publication"
PROBE_PID=$running_pid
stop_probe killed "the capture that kept running ends normally"
t_is "$(slots killed)$(pubs killed)" 00 "  ... dropping its slot and publication"

# --- slot creation waits for open transactions, within a bound --------------------
t_sql logical "BEGIN; SELECT txid_current(); SELECT pg_sleep(20); COMMIT" >/dev/null 2>&1 &
holder=$!
t_sql_eventually logical "SELECT count(*) FROM pg_stat_activity WHERE backend_xid IS NOT NULL
	AND query LIKE '%pg_sleep(20)%'" 1 "a transaction with an xid is open"
t_exit 1 "opening a capture gives up when an open transaction outlasts the wait" \
	env LOGICAL_PROBE_WAIT_MS=1500 "$P" stream public w id slot_wait "pub wait" "$T_TMP"
t_like "$T_ERR" 'gave up creating replication slot "slot_wait".*still open: pid [0-9]+ \(database logical' \
	"  ... naming the session it waited for"
t_sql_eventually logical "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'slot_wait'" 0 \
	"  ... leaving no slot"
t_is "$(pubs wait)" 0 "  ... and no publication"
kill "$holder" 2>/dev/null || true
wait "$holder" 2>/dev/null || true
t_sql_super postgres "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(20)%'
	AND pid <> pg_backend_pid()" >/dev/null

# --- TRUNCATE stops the capture ---------------------------------------------------
start_probe trunc public o id
t_sql logical "INSERT INTO o VALUES (1); TRUNCATE o" >/dev/null
rc=0
for ((i = 0; i < 100; i++)); do
	if ! kill -0 "$PROBE_PID" 2>/dev/null; then
		break
	fi
	sleep 0.1
done
wait "$PROBE_PID" || rc=$?
t_is "$rc" 1 "a TRUNCATE of the table ends the capture with an error"
t_like "$(cat "$T_TMP/trunc/err")" 'table "public"."o" was truncated while its changes were captured' "  ... naming it"
t_is "$(cat "$T_TMP/trunc/out")" 1 "  ... after delivering the changes before it"
t_sql_eventually logical "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'slot_trunc'" 0 \
	"  ... and drops its slot"
t_is "$(pubs trunc)" 0 "  ... and its publication"

t_done
