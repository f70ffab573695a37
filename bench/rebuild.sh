#!/usr/bin/env bash
# Online table rebuild: `shunt rebuild --alter`, pg_repack and a plain ALTER
# TABLE, in one run, on a throwaway cluster, each on a fresh database cloned
# from the same template (so the tables are identical, page for page):
#
#   items(id int primary key, k int not null, payload text not null,
#         updated_at timestamptz not null)  + index items_k on (k)
#   BENCH_ROWS rows (default 1,000,000), payload 100 bytes
#
# Part 1, under a steady application load (shunt-load, open loop,
# BENCH_RATE tx/s from BENCH_CLIENTS connections, 80% point reads by id,
# 20% point updates of k and updated_at by id), each scenario 5 s before,
# the operation, 5 s after:
#   1. baseline: nothing (BENCH_BASELINE_SECS);
#   2. shunt rebuild items --alter "ALTER COLUMN id TYPE bigint";
#   3. pg_repack --table public.items --no-order (Debian's
#      postgresql-NN-repack, installed with apt-get when missing and we are
#      root); pg_repack cannot change a type: it is the peer for what an
#      online rewrite of the table costs;
#   4. ALTER TABLE items ALTER COLUMN id TYPE bigint.
# How long ACCESS EXCLUSIVE on the table was held: shunt reports it
# (shunt.rebuilds.lock_ms); for ALTER TABLE it is the statement's time; for
# every scenario a sampler (a procedure committing every iteration, so no
# snapshot is held) also records every ~5 ms which backend holds
# AccessExclusiveLock on the table, the estimate for pg_repack.
#
# Part 2 (issue 6): the application's write throughput and p99 with no
# rebuild, during a rebuild with --capture trigger and with --capture
# logical: pgbench, BENCH_WRITE_CLIENTS connections, unthrottled point
# UPDATEs for BENCH_WRITE_SECS s, the rebuild starting 2 s in; the figures
# are over the part of the rebuild that ran under the load.  A capture mode
# that fails is reported and skipped.  BENCH_CAPTURES (default "trigger
# logical") picks the modes; BENCH_WRITE_SECS=0 skips part 2.
#
# Writes bench/results/rebuild.md, bench/results/rebuild-NAME.svg and raw
# files under bench/results/raw/ (not committed).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
SHUNT=$root/shunt
LOAD=$root/build/shunt-load
rows=${BENCH_ROWS:-1000000}
rate=${BENCH_RATE:-500}
clients=${BENCH_CLIENTS:-4}
baseline_secs=${BENCH_BASELINE_SECS:-10}
write_secs=${BENCH_WRITE_SECS:-20}
write_clients=${BENCH_WRITE_CLIENTS:-4}
op_timeout=${BENCH_OP_TIMEOUT:-600}
captures=${BENCH_CAPTURES:-trigger logical}
alter_clause="ALTER COLUMN id TYPE bigint"
results=$root/bench/results
out=$results/rebuild.md
raw=$results/raw
for v in rows rate clients baseline_secs write_clients op_timeout; do
	if ! [[ ${!v} =~ ^[1-9][0-9]*$ ]]; then
		echo "rebuild: BENCH_${v^^} must be a positive whole number" >&2
		exit 2
	fi
done
if ! [[ $write_secs =~ ^[0-9]+$ ]]; then
	echo "rebuild: BENCH_WRITE_SECS must be a whole number (0 skips the write-throughput part)" >&2
	exit 2
fi
if ((rows > 2000000000)); then
	echo "rebuild: BENCH_ROWS must fit the int key" >&2
	exit 2
fi
for m in $captures; do
	case $m in
	trigger | logical | auto) ;;
	*)
		echo "rebuild: BENCH_CAPTURES: unknown capture mode $m" >&2
		exit 2
		;;
	esac
done
if [[ ! -x $LOAD ]]; then
	make -s --no-print-directory build/shunt-load
fi
if [[ ! -x $SHUNT ]]; then
	make -s --no-print-directory all
fi
mkdir -p "$raw"

# shellcheck source=tests/lib/cluster.sh
source "$root/tests/lib/cluster.sh"

# pg_repack must match the server's major version: bench scripts install
# what they need (as root, with apt-get), else the scenario is skipped.
pg_major=$("$PG_BINDIR/postgres" --version | awk '{ split($3, v, "."); print v[1] }')
repack_bin() {
	if [[ -x $PG_BINDIR/pg_repack ]]; then
		echo "$PG_BINDIR/pg_repack"
	else
		command -v pg_repack || true
	fi
}
repack_ext=$("$PG_BINDIR/pg_config" --sharedir 2>/dev/null || echo "/usr/share/postgresql/$pg_major")/extension/pg_repack.control
if [[ -z $(repack_bin) || ! -f $repack_ext ]] && [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null; then
	echo "rebuild: installing postgresql-$pg_major-repack" >&2
	if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q "postgresql-$pg_major-repack" >&2; then
		apt-get update -q >&2 || true
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q "postgresql-$pg_major-repack" >&2 || true
	fi
fi

load_pid=
stop_load() {
	if [[ -n $load_pid ]]; then
		kill -TERM "$load_pid" 2>/dev/null || true
		wait "$load_pid" 2>/dev/null || true
		load_pid=
	fi
}
cluster_at_exit stop_load
cluster_start bench >/dev/null
work= # set by cluster_mktemp
cluster_mktemp work rebuild
chmod 0777 "$work"
psql -XAtq -d postgres -c "ALTER SYSTEM SET log_statement = 'ddl'" \
	-c "SELECT pg_catalog.pg_reload_conf()" >/dev/null

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
commas() { echo "$1" | sed -e ':a' -e 's/\B[0-9]\{3\}\>/,&/' -e 'ta'; }
say() { printf '\n== rebuild: %s\n' "$*" >&2; }
q() { psql -XAtq -v ON_ERROR_STOP=1 "$@"; }

# --- the template database --------------------------------------------------
# The table, vacuumed and analysed, and the lock sampler.  Every scenario's
# database is a file copy of it, so the tables are the same page for page.
say "template: $(commas "$rows") rows"
t0=$(now)
cluster_createdb tmpl
# shellcheck disable=SC2016 # $$ is PL/pgSQL quoting
PGDATABASE=tmpl q <<SQL
CREATE TABLE items (id int PRIMARY KEY, k int NOT NULL, payload text NOT NULL,
	updated_at timestamptz NOT NULL DEFAULT now());
INSERT INTO items (id, k, payload, updated_at)
	SELECT g, (g::bigint * 7919 % 1000003)::int,
		md5(g::text) || md5((g + 1)::text) || repeat('x', 36),
		now() - g * interval '1 second'
	FROM generate_series(1, $rows) g;
CREATE INDEX items_k ON items (k);
-- The sampler: every ~5 ms, which backends hold AccessExclusiveLock on the
-- table.  One transaction per iteration, so it never holds a snapshot
-- (pg_repack waits for the transactions older than its own).
CREATE TABLE bench_lock_samples (tick int, at timestamptz, pid int, app text);
CREATE TABLE bench_lock_runs (started timestamptz, ended timestamptz, ticks int);
CREATE TABLE bench_lock_stop (stop bool);
CREATE PROCEDURE bench_sample_locks(rel oid) LANGUAGE plpgsql AS \$\$
DECLARE
	t0 timestamptz := clock_timestamp();
	i int := 0;
BEGIN
	LOOP
		i := i + 1;
		INSERT INTO bench_lock_samples
			SELECT i, clock_timestamp(), l.pid,
				(SELECT a.application_name FROM pg_catalog.pg_stat_activity a WHERE a.pid = l.pid)
			FROM pg_catalog.pg_locks l
			WHERE l.locktype = 'relation' AND l.relation = rel
				AND l.mode = 'AccessExclusiveLock' AND l.granted
				AND l.pid <> pg_catalog.pg_backend_pid();
		EXIT WHEN EXISTS (SELECT FROM bench_lock_stop);
		COMMIT;
		PERFORM pg_catalog.pg_sleep(0.005);
	END LOOP;
	INSERT INTO bench_lock_runs VALUES (t0, clock_timestamp(), i);
END
\$\$;
SQL
PGDATABASE=tmpl q -c "VACUUM ANALYZE items"
table_size=$(PGDATABASE=tmpl q -c "SELECT pg_catalog.pg_size_pretty(pg_catalog.pg_total_relation_size('items'))")
payload_len=$(PGDATABASE=tmpl q -c "SELECT round(avg(octet_length(payload))) FROM items")
q -d postgres -c "CHECKPOINT"
echo "rebuild: template ready in $(secs "$t0" "$(now)") s ($table_size)" >&2

make_db() {
	PGOPTIONS="-c client_min_messages=warning" q -d postgres -c "DROP DATABASE IF EXISTS \"$1\" WITH (FORCE)" \
		-c "CREATE DATABASE \"$1\" TEMPLATE tmpl STRATEGY FILE_COPY"
}

sampler_pid=
sampler_start() { # DB
	PGDATABASE=$1 psql -XAtq -v ON_ERROR_STOP=1 -c "CALL bench_sample_locks('items'::regclass)" \
		>"$work/$1.sampler.out" 2>&1 &
	sampler_pid=$!
	sleep 0.2
}
sampler_stop() { # DB
	PGDATABASE=$1 q -c "INSERT INTO bench_lock_stop VALUES (true)"
	wait "$sampler_pid" || echo "rebuild: the lock sampler failed: $(cat "$work/$1.sampler.out")" >&2
	sampler_pid=
	# holds (runs of consecutive samples per backend), the longest run's
	# span between its first and last sample, its samples, the mean
	# interval between samples (ms), the backends' application names
	PGDATABASE=$1 q -F, <<-'SQL' >"$raw/rebuild-$1.locks.csv"
		WITH r AS (
			SELECT pid, app, tick, at, tick - row_number() OVER (PARTITION BY pid ORDER BY tick) AS grp
			FROM bench_lock_samples),
		runs AS (
			SELECT pid, count(*) AS n, extract(epoch FROM max(at) - min(at)) * 1000 AS span_ms
			FROM r GROUP BY pid, grp)
		SELECT (SELECT count(*) FROM runs),
			coalesce((SELECT round(span_ms::numeric, 1) FROM runs ORDER BY span_ms DESC, n DESC LIMIT 1), 0),
			coalesce((SELECT n FROM runs ORDER BY span_ms DESC, n DESC LIMIT 1), 0),
			(SELECT round((extract(epoch FROM ended - started) * 1000 / greatest(ticks, 1))::numeric, 2)
				FROM bench_lock_runs),
			coalesce((SELECT string_agg(DISTINCT coalesce(nullif(app, ''), 'pid ' || pid), ' ') FROM r), '')
	SQL
}

# --- part 1: under the application's load -----------------------------------
# shellcheck disable=SC2016 # $1, $2 are shunt-load's parameters
app_sql=(--read 'SELECT payload FROM items WHERE id = $1'
	--update 'UPDATE items SET k = $2, updated_at = now() WHERE id = $1')

load_start() { # DB
	ctl=$work/$1.ctl
	mkfifo "$ctl"
	PGDATABASE=$1 "$LOAD" --duration 0 --keys "$rows" --values 1:1000000 --out "$raw/rebuild-$1" \
		--control "$ctl" -q --phase before \
		--group "app:$clients:$rate:public:80/20/0" "${app_sql[@]}" \
		>"$raw/rebuild-$1.txt" 2>"$work/$1.load.err" &
	load_pid=$!
	ctl "phase before"
}
ctl() {
	# shellcheck disable=SC2016 # expanded by sh -c
	if ! timeout --foreground 10 sh -c 'echo "$2" >"$1"' _ "$ctl" "$1"; then
		echo "rebuild: the load generator does not answer; its messages:" >&2
		cat "$work"/*.load.err >&2
		exit 1
	fi
}
load_end() { # DB TITLE
	ctl "phase after"
	sleep 5
	ctl quit
	wait "$load_pid"
	load_pid=
	"$LOAD" --plot "$raw/rebuild-$1" "$results/rebuild-$1.svg" --title "$2"
}

# stamp T0: each line prefixed with the seconds since T0, to stdout and stderr
stamp() {
	local l
	while IFS= read -r l; do
		printf '%6ss  %s\n' "$(secs "$1" "$(now)")" "$l" | tee -a /dev/stderr
	done
}
# run_logged LOG CMD...: CMD's output time-stamped into LOG; its status in
# the global rc
run_logged() {
	local log=$1 t
	shift
	t=$(now)
	(
		r=0
		timeout "$op_timeout" "$@" 2>&1 || r=$?
		echo "$r" >"$log.rc"
	) | stamp "$t" >"$log"
	rc=$(cat "$log.rc")
}

declare -A wall fail lock_ms
rc=0

scenario_baseline() {
	say "baseline: no operation for $baseline_secs s"
	make_db baseline
	load_start baseline
	sleep 5
	ctl "phase operation"
	sampler_start baseline
	sleep "$baseline_secs"
	sampler_stop baseline
	wall[baseline]=$baseline_secs
	load_end baseline "baseline: no operation ($(commas "$rows") rows, $rate tx/s)"
}

scenario_shunt() {
	local t0 t1
	say "shunt rebuild items --alter \"$alter_clause\""
	make_db shunt
	load_start shunt
	sleep 5
	ctl "phase operation"
	sampler_start shunt
	t0=$(now)
	PGDATABASE=shunt run_logged "$raw/rebuild-shunt.log" "$SHUNT" rebuild items --alter "$alter_clause"
	t1=$(now)
	sampler_stop shunt
	wall[shunt]=$(secs "$t0" "$t1")
	if [[ $rc != 0 ]]; then
		fail[shunt]="failed (exit $rc): $(grep -m 1 -i 'error' "$raw/rebuild-shunt.log" | cut -c 10- || tail -n 1 "$raw/rebuild-shunt.log")"
	fi
	lock_ms[shunt]=$(PGDATABASE=shunt q -c "SELECT lock_ms FROM shunt.rebuilds
		WHERE table_name = 'items' ORDER BY id DESC LIMIT 1" 2>/dev/null || true)
	load_end shunt "shunt rebuild --alter ($(commas "$rows") rows, $rate tx/s)"
	# the old table is kept for --revert until --drop-old: drop it (after
	# the measured window)
	PGDATABASE=shunt "$SHUNT" rebuild items --drop-old >/dev/null 2>&1 || true
}

scenario_repack() {
	local t0 t1 bin
	say "pg_repack --table public.items --no-order"
	bin=$(repack_bin)
	if [[ -z $bin ]]; then
		fail[repack]="not run: no pg_repack binary (Debian package postgresql-$pg_major-repack)"
		return 0
	fi
	make_db repack
	if ! PGDATABASE=repack q -c "CREATE EXTENSION pg_repack" 2>"$work/repack-ext.err"; then
		fail[repack]="not run: CREATE EXTENSION pg_repack failed: $(head -n 1 "$work/repack-ext.err")"
		return 0
	fi
	load_start repack
	sleep 5
	ctl "phase operation"
	sampler_start repack
	t0=$(now)
	run_logged "$raw/rebuild-repack.log" "$bin" --table public.items --no-order --dbname repack
	t1=$(now)
	sampler_stop repack
	wall[repack]=$(secs "$t0" "$t1")
	if [[ $rc != 0 ]]; then
		fail[repack]="failed (exit $rc): $(grep -m 1 -i error "$raw/rebuild-repack.log" | cut -c 10- || tail -n 1 "$raw/rebuild-repack.log")"
	fi
	load_end repack "pg_repack --table --no-order ($(commas "$rows") rows, $rate tx/s)"
}

scenario_alter() {
	local t0 t1
	say "ALTER TABLE items $alter_clause"
	make_db alter
	load_start alter
	sleep 5
	ctl "phase operation"
	sampler_start alter
	t0=$(now)
	# \timing: the statement's own time, without psql's start and connection
	PGDATABASE=alter run_logged "$raw/rebuild-alter.log" psql -XAtq -v ON_ERROR_STOP=1 \
		-c '\timing on' -c "ALTER TABLE items $alter_clause"
	t1=$(now)
	sampler_stop alter
	wall[alter]=$(secs "$t0" "$t1")
	if [[ $rc != 0 ]]; then
		fail[alter]="failed (exit $rc): $(grep -m 1 -i error "$raw/rebuild-alter.log" | cut -c 10-)"
	fi
	lock_ms[alter]=$(awk '/Time: / { for (i = 1; i < NF; i++) if ($i == "Time:") { printf "%.1f", $(i + 1); exit } }' \
		"$raw/rebuild-alter.log")
	load_end alter "ALTER TABLE ... TYPE bigint ($(commas "$rows") rows, $rate tx/s)"
}

run_t0=$(date -u '+%Y-%m-%d %H:%M UTC')
scenario_baseline
scenario_shunt
scenario_repack
scenario_alter

# --- part 2: write throughput during a rebuild, by capture mode -------------
declare -A w_note w_wall w_lock
w_modes=()
if ((write_secs > 0)); then
	cat >"$work/upd.sql" <<-EOF
		\set id random(1, $rows)
		\set k random(1, 1000000)
		UPDATE items SET k = :k, updated_at = now() WHERE id = :id;
	EOF
	chmod 0644 "$work/upd.sql"
	# write_run NAME [CAPTURE]: pgbench for write_secs, the rebuild (if a
	# capture mode is given) from 2 s in; the window the figures cover is
	# written to $raw/rebuild-w-NAME.window
	write_run() {
		local name=$1 mode=${2:-} db=w_$1 pg t_pg t0 t1
		say "write throughput: ${mode:+rebuild --capture $mode, }$write_clients pgbench clients, $write_secs s"
		make_db "$db"
		rm -f "$raw/rebuild-w-$name".pgbench.*
		t_pg=$(now)
		(cd "$work" && exec pgbench -n -c "$write_clients" -j 2 -T "$write_secs" -f upd.sql \
			-l --log-prefix="$raw/rebuild-w-$name.pgbench" "$db" >"$work/$db.pgbench.out" 2>&1) &
		pg=$!
		sleep 2
		t0=$(now)
		if [[ -n $mode ]]; then
			PGDATABASE=$db run_logged "$raw/rebuild-w-$name.log" "$SHUNT" rebuild items \
				--alter "$alter_clause" --capture "$mode"
			t1=$(now)
			w_wall[$name]=$(secs "$t0" "$t1")
			w_lock[$name]=$(PGDATABASE=$db q -c "SELECT lock_ms FROM shunt.rebuilds
				WHERE table_name = 'items' ORDER BY id DESC LIMIT 1" 2>/dev/null || true)
			if [[ $rc != 0 ]]; then
				w_note[$name]="failed (exit $rc): $(grep -m 1 -i 'error' "$raw/rebuild-w-$name.log" | cut -c 10- || tail -n 1 "$raw/rebuild-w-$name.log")"
			fi
		else
			t1=$(awk -v a="$t_pg" -v s="$write_secs" 'BEGIN { printf "%.6f", a + s }')
		fi
		wait "$pg" || w_note[$name]="${w_note[$name]:+${w_note[$name]}; }pgbench failed: $(tail -n 1 "$work/$db.pgbench.out")"
		echo "$t0 $t1" >"$raw/rebuild-w-$name.window"
		w_modes+=("$name")
	}
	write_run none
	for m in $captures; do
		write_run "$m" "$m"
	done
fi

# --- the results ------------------------------------------------------------
# one line per scenario and phase: db,phase,secs,count,errors,p50,p99,max
for db in baseline shunt repack alter; do
	[[ -f $raw/rebuild-$db.summary.csv ]] || continue
	awk -F, -v db="$db" 'NR > 1 && $2 == "app" {
		printf "%s,%s,%.2f,%d,%d,%.3f,%.3f,%.3f\n", db, $1, $4 - $3, $5, $6, $9, $10, $11 }' \
		"$raw/rebuild-$db.summary.csv"
done >"$raw/rebuild-merged.csv"
get() { # DB PHASE FIELD(4 count 5 errors 6 p50 7 p99 8 max)
	awk -F, -v db="$1" -v ph="$2" -v f="$3" '$1 == db && $2 == ph { print $f; found = 1 } END { if (!found) print "" }' \
		"$raw/rebuild-merged.csv"
}
# lock: "sampler text" for a scenario
sampled() {
	local f=$raw/rebuild-$1.locks.csv holds span n iv apps
	[[ -s $f ]] || {
		echo "-"
		return
	}
	IFS=, read -r holds span n iv apps <"$f"
	if [[ $holds == 0 ]]; then
		echo "not seen (every ${iv} ms)"
	elif [[ $n == 1 ]]; then
		echo "seen in 1 sample, i.e. < ~$(awk -v i="$iv" 'BEGIN { printf "%.0f", 2 * i }') ms ($holds hold(s), every ${iv} ms, ${apps})"
	else
		echo "$span ms between first and last of $n samples ($holds hold(s), every ${iv} ms, ${apps})"
	fi
}
sampled_span() { # the longest hold's span in ms, or empty
	local f=$raw/rebuild-$1.locks.csv holds span n iv apps
	[[ -s $f ]] || return 0
	IFS=, read -r holds span n iv apps <"$f"
	if [[ $holds != 0 ]]; then
		awk -v s="$span" -v i="$iv" -v n="$n" 'BEGIN { printf "%.1f", n == 1 ? 2 * i : s + 2 * i }'
	fi
}
rat() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b <= 0) print "-"; else printf "%.2fx", a / b }'; }
fmt() { awk -v a="$1" 'BEGIN { if (a == "") print "-"; else printf "%.2f", a }'; }

machine="$(nproc) cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr), PostgreSQL $(q -d postgres -c 'SHOW server_version')"
repack_version=$( ("$(repack_bin)" --version 2>/dev/null || true) | head -n 1)
b_p99=$(get baseline operation 7)
b_max=$(get baseline operation 8)
row() { # LABEL DB WALL LOCK HOW
	local db=$2
	if [[ -z $(get "$db" operation 4) ]]; then
		echo "| $1 | ${fail[$db]:-not run} | | | | | | | | | |"
		return
	fi
	echo "| $1 | ${3:--} | $(get "$db" operation 4) | $(get "$db" operation 5) | $(fmt "$(get "$db" operation 6)") | $(fmt "$(get "$db" operation 7)") | $(fmt "$(get "$db" operation 8)") | $(rat "$(get "$db" operation 7)" "$b_p99") | $(rat "$(get "$db" operation 8)" "$b_max") | ${4:--} | $5 |"
}
met() { # VALUE OP LIMIT -> met / missed
	awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN {
		if (v == "" || l == "") { print "not measured"; exit }
		ok = op == "<=" ? v + 0 <= l + 0 : v + 0 < l + 0
		print ok ? "**met**" : "**missed**" }'
}
s_p99=$(get shunt operation 7)
p99_limit=$(awk -v b="$b_p99" 'BEGIN { if (b != "") printf "%.3f", 2 * b }')
{
	echo "## Online table rebuild: shunt rebuild, pg_repack, plain ALTER TABLE"
	echo
	echo "$run_t0, $machine${repack_version:+, $repack_version}."
	echo "Generated by \`make bench\` (bench/rebuild.sh). One run, the scenarios one after the other on"
	echo "the same throwaway cluster (fsync off), each on a fresh database copied from one template"
	echo "(\`CREATE DATABASE ... TEMPLATE\`, so the tables are identical page for page): \`items(id int"
	echo "primary key, k int not null, payload text not null, updated_at timestamptz not null)\` with a"
	echo "secondary index on \`k\`, $(commas "$rows") rows, a ${payload_len}-byte payload, $table_size with its indexes."
	echo
	echo "The operation: \`$alter_clause\` (the int primary key becomes bigint), by \`shunt rebuild items"
	echo "--alter \"$alter_clause\"\` (trigger capture, the default) and by a plain \`ALTER TABLE\`;"
	echo "\`pg_repack --table public.items --no-order\` rebuilds the same table online without the type"
	echo "change (pg_repack cannot change a type): it is the peer for what an online rewrite costs."
	echo "Traffic: $rate tx/s from $clients connections (shunt-load, open loop: latency counts from each"
	echo "transaction's intended start, so waiting behind a lock counts), 80% point reads by \`id\`, 20%"
	echo "point updates of \`k\` and \`updated_at\` by \`id\`, unnamed statements (\`PQexecParams\`: no"
	echo "prepared statement breaks when the type changes). Each scenario: 5 s before, the operation, 5 s after."
	echo
	echo "| scenario | wall time (s) | tx | errors | p50 (ms) | p99 (ms) | max (ms) | p99 vs baseline | max vs baseline | ACCESS EXCLUSIVE held (ms) | how the lock time was measured |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
	row "baseline: no operation" baseline "${wall[baseline]}" "" "lock sampler: $(sampled baseline)"
	row "**shunt rebuild --alter**${fail[shunt]:+ (${fail[shunt]})}" shunt "${wall[shunt]:-}" "${lock_ms[shunt]:-}" \
		"shunt's own figure (shunt.rebuilds.lock_ms); lock sampler: $(sampled shunt)"
	row "**pg_repack --table --no-order**${fail[repack]:+ (${fail[repack]})}" repack "${wall[repack]:-}" \
		"$(sampled_span repack)" "estimate: longest hold seen by the lock sampler plus two sampling intervals; sampler: $(sampled repack)"
	row "**ALTER TABLE ... TYPE bigint**${fail[alter]:+ (${fail[alter]})}" alter "${wall[alter]:-}" "${lock_ms[alter]:-}" \
		"the statement's time (psql's \`\\timing\`); lock sampler: $(sampled alter)"
	echo
	echo "Each row covers the operation only (the 5 s before and after are below). The lock sampler"
	echo "is a procedure in the database that every ~5 ms records the backends holding"
	echo "AccessExclusiveLock on the table (one transaction per sample, so it holds no snapshot"
	echo "pg_repack would wait for); it ran in every scenario, the baseline included, and costs the"
	echo "application alike everywhere. A hold shorter than the interval can fall between samples."
	echo
	echo "### Targets"
	echo
	echo "| target | measured | |"
	echo "|---|---|---|"
	if [[ -n ${wall[repack]:-} && -z ${fail[repack]:-} ]]; then
		echo "| shunt's wall time at most pg_repack's | ${wall[shunt]:--} s vs ${wall[repack]} s ($(rat "${wall[shunt]:-}" "${wall[repack]}")) | $(met "${wall[shunt]:-}" "<=" "${wall[repack]}") |"
	else
		echo "| shunt's wall time at most pg_repack's | ${wall[shunt]:--} s; pg_repack ${fail[repack]:-not run} | not measured |"
	fi
	echo "| application p99 during shunt's rebuild at most 2x baseline | $(fmt "$s_p99") ms vs baseline $(fmt "$b_p99") ms ($(rat "$s_p99" "$b_p99")) | $(met "$s_p99" "<=" "$p99_limit") |"
	echo "| ACCESS EXCLUSIVE held under 50 ms (shunt's lock_ms) | ${lock_ms[shunt]:--} ms | $(met "${lock_ms[shunt]:-}" "<" 50) |"
	echo
	echo "### Every phase"
	echo
	echo "| scenario | phase | secs | tx | errors | p50 (ms) | p99 (ms) | max (ms) |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|"
	awk -F, '{ printf "| %s | %s | %.1f | %d | %d | %.2f | %.2f | %.2f |\n", $1, $2, $3, $4, $5, $6, $7, $8 }' \
		"$raw/rebuild-merged.csv"
	echo
	if [[ -s $raw/rebuild-shunt.log ]]; then
		echo "### shunt rebuild's own log (seconds since it started)"
		echo
		echo '```'
		cat "$raw/rebuild-shunt.log"
		echo '```'
		echo
	fi
	if [[ -s $raw/rebuild-repack.log ]]; then
		echo "pg_repack's output:"
		echo
		echo '```'
		cat "$raw/rebuild-repack.log"
		echo '```'
		echo
	fi
	echo "### Latency over time"
	echo
	echo "p99 (solid) and max (dashed) per second, log scale; phases as bands; errors as red bars."
	echo
	for db in baseline shunt repack alter; do
		if [[ -f $raw/rebuild-$db.seconds.csv && -f $results/rebuild-$db.svg ]]; then
			echo "![$db](rebuild-$db.svg)"
			echo
		fi
	done
	for db in baseline shunt repack alter; do
		if grep -q '^errors of group' "$raw/rebuild-$db.txt" 2>/dev/null; then
			echo "Errors in scenario $db (shunt-load's report):"
			echo
			echo '```'
			sed -n '/^errors of group/,/^$/p' "$raw/rebuild-$db.txt"
			echo '```'
			echo
		fi
	done
	if ((${#w_modes[@]} > 0)); then
		echo "### Write throughput during a rebuild, by change capture"
		echo
		echo "pgbench, $write_clients connections (-j 2), unthrottled point UPDATEs (\`UPDATE items SET k = :k,"
		echo "updated_at = now() WHERE id = :id\`, random id) for $write_secs s on a fresh copy of the table;"
		echo "\`shunt rebuild items --alter \"$alter_clause\" --capture MODE\` starts 2 s in. Throughput and"
		echo "latency are over the updates that completed while the rebuild ran and pgbench did (for no"
		echo "rebuild: from 2 s to the end); latency is per update (closed loop). A rebuild that outlasts"
		echo "the load finishes unloaded: \"under load\" says how much of it ran under the load."
		echo
		echo "| rebuild | window (s) | rebuild wall (s) | under load | updates/s | vs no rebuild | p50 (ms) | p99 (ms) | p99 vs no rebuild | lock_ms |"
		echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
		base_tps=
		base_p99=
		for name in "${w_modes[@]}"; do
			read -r t0 t1 <"$raw/rebuild-w-$name.window"
			label="--capture $name"
			[[ $name == none ]] && label="no rebuild"
			if [[ -n ${w_note[$name]:-} ]]; then
				echo "| $label | skipped: ${w_note[$name]//|/\\|} | ${w_wall[$name]:-} | | | | | | | |"
				continue
			fi
			# pgbench's log: client tx latency_us script epoch_s epoch_us
			stats=$(cat "$raw/rebuild-w-$name".pgbench.* 2>/dev/null | awk -v a="$t0" -v b="$t1" '
				{ t = $5 + $6 / 1e6; if (t > last) last = t
				  if (t >= a && t <= b) print $3 }
				END { printf "last %.6f\n", last > "/dev/stderr" }' 2>"$work/w-$name.last" | sort -n | awk '
				{ v[NR] = $1 }
				END { if (NR == 0) { print "0 0 0"; exit }
					i50 = int(NR * 0.5 + 0.5); if (i50 < 1) i50 = 1
					i99 = int(NR * 0.99 + 0.5); if (i99 < 1) i99 = 1
					printf "%d %.3f %.3f\n", NR, v[i50] / 1000, v[i99] / 1000 }')
			read -r n p50 p99 <<<"$stats"
			last=$(awk '{ print $2 }' "$work/w-$name.last")
			end=$(awk -v b="$t1" -v l="$last" 'BEGIN { e = (l != "" && l < b) ? l : b; printf "%.6f", e }')
			win=$(secs "$t0" "$end")
			tps=$(awk -v n="$n" -v w="$win" 'BEGIN { t = w > 0 ? n / w : 0; printf "%.0f", t }')
			under="-"
			if [[ $name != none ]]; then
				under=$(awk -v w="$win" -v r="${w_wall[$name]}" 'BEGIN { u = r > 0 ? 100 * w / r : 0; if (u > 100) u = 100; printf "%.0f%%", u }')
			else
				base_tps=$tps
				base_p99=$p99
			fi
			echo "| $label | $win | ${w_wall[$name]:--} | $under | $tps | $(rat "$tps" "$base_tps") | $p50 | $p99 | $(rat "$p99" "$base_p99") | ${w_lock[$name]:--} |"
		done
		echo
		for name in "${w_modes[@]}"; do
			[[ $name == none || ! -s $raw/rebuild-w-$name.log ]] && continue
			echo "shunt's log, \`--capture $name\` under the write load (seconds since it started):"
			echo
			echo '```'
			cat "$raw/rebuild-w-$name.log"
			echo '```'
			echo
		done
	fi
} >"$out"
cat "$out"
