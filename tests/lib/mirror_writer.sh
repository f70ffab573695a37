# shellcheck shell=bash
# mirror_writer.sh: a concurrent writer whose every change is mirrored, in
# the same statement, into a second table, so a test can compare a table
# that went through an online rebuild with what the writer wrote, row by
# row.  Sourced by integration tests after testlib.sh; start_writer appends
# the writer's pid to the caller's BG array (stopped at exit by the caller).

# wait_pid PID SECONDS: wait for a background process, at most SECONDS
# (then TERM it); its exit code in WAIT_RC (124 when it had to be stopped)
wait_pid() {
	local pid=$1 secs=${2:-60} i
	WAIT_RC=0
	for ((i = 0; i < secs * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		WAIT_RC=124
		return 0
	fi
	wait "$pid" || WAIT_RC=$?
}

# make_writer_table DB TABLE ROWS: TABLE (int key, payload, n, an index),
# its mirror TABLE_m with the same rows, and TABLE_ids for new keys
make_writer_table() {
	t_sql "$1" "CREATE TABLE $2 (id int PRIMARY KEY, payload text NOT NULL, n int NOT NULL);
		CREATE INDEX ${2}_n ON $2 (n);
		CREATE TABLE ${2}_m (id int PRIMARY KEY, payload text NOT NULL, n int NOT NULL);
		CREATE SEQUENCE ${2}_ids START 5000001;
		INSERT INTO $2 SELECT g, md5(g::text), g % 1000 FROM generate_series(1, $3) g;
		INSERT INTO ${2}_m SELECT * FROM $2;
		ANALYZE $2" >/dev/null
}

# start_writer DB TABLE KEYS SECONDS: pgbench in the background; every
# statement changes TABLE and writes the very rows it changed (RETURNING)
# into TABLE_m in the same statement, so the two are equal in every
# snapshot.  Keys 1..KEYS are updated, moved (id + 1000000) and deleted;
# new keys (5000001...) are inserted and updated, moved keys deleted.
start_writer() {
	local db=$1 t=$2 keys=$3 secs=$4 dir=$T_TMP/writer_$2
	mkdir -p "$dir"
	cat >"$dir/ins.sql" <<-SQL
		\set n random(0, 999)
		WITH i AS (INSERT INTO $t (id, payload, n) VALUES (nextval('${t}_ids'), md5(random()::text), :n) RETURNING id, payload, n) INSERT INTO ${t}_m SELECT id, payload, n FROM i;
	SQL
	cat >"$dir/upd.sql" <<-SQL
		\set id random(1, $keys)
		\set n random(0, 999)
		WITH u AS (UPDATE $t SET n = :n, payload = payload || 'u' WHERE id = :id RETURNING id, payload, n) UPDATE ${t}_m m SET payload = u.payload, n = u.n FROM u WHERE m.id = u.id;
	SQL
	cat >"$dir/updnew.sql" <<-SQL
		\set id random(5000001, 5001500)
		WITH u AS (UPDATE $t SET n = n + 1, payload = payload || 'v' WHERE id = :id RETURNING id, payload, n) UPDATE ${t}_m m SET payload = u.payload, n = u.n FROM u WHERE m.id = u.id;
	SQL
	cat >"$dir/pk.sql" <<-SQL
		\set id random(1, $keys)
		WITH u AS (UPDATE $t SET id = id + 1000000 WHERE id = :id RETURNING id) UPDATE ${t}_m m SET id = u.id FROM u WHERE m.id = u.id - 1000000;
	SQL
	cat >"$dir/del.sql" <<-SQL
		\set id random(1, $keys)
		WITH d AS (DELETE FROM $t WHERE id = :id RETURNING id) DELETE FROM ${t}_m m USING d WHERE m.id = d.id;
	SQL
	cat >"$dir/delmoved.sql" <<-SQL
		\set id random(1000001, 1000000 + $keys)
		WITH d AS (DELETE FROM $t WHERE id = :id RETURNING id) DELETE FROM ${t}_m m USING d WHERE m.id = d.id;
	SQL
	pgbench -n -c 4 -j 2 -R 300 -T "$secs" -f "$dir/ins.sql@3" -f "$dir/upd.sql@3" -f "$dir/updnew.sql@2" \
		-f "$dir/pk.sql@2" -f "$dir/del.sql@1" -f "$dir/delmoved.sql@1" "$db" >"$dir/pgbench.out" 2>&1 &
	WRITER=$!
	BG+=("$WRITER")
}

# check_writer TABLE LABEL: wait for the writer; it must have done work and
# seen no error at all (pgbench aborts a client on any error)
check_writer() {
	local out
	wait_pid "$WRITER" 120
	out=$(<"$T_TMP/writer_$1/pgbench.out")
	t_is "$WAIT_RC" 0 "$2: the writer (pgbench) exits 0"
	t_like "$out" "number of failed transactions: 0 " "$2: no writer transaction failed"
	t_unlike "$out" "aborted|ERROR" "$2: no writer client was aborted by an error"
	t_like "$out" "number of transactions actually processed: [1-9]" "$2: the writer did work"
}

# mirror_diff DB TABLE: "rows only in TABLE, rows only in the mirror", one snapshot
mirror_diff() {
	t_sql "$1" "SELECT (SELECT count(*) FROM (SELECT id, payload, n FROM $2 EXCEPT SELECT id, payload, n FROM ${2}_m) a)
		|| ' ' || (SELECT count(*) FROM (SELECT id, payload, n FROM ${2}_m EXCEPT SELECT id, payload, n FROM $2) b)"
}
