#!/usr/bin/env bash
# Application impact of one schema change, four ways, in one run, on a
# throwaway cluster, each on a fresh database with the same table:
#
#   users(id bigserial primary key, name text not null, email text,
#         age text, created_at timestamptz) of BENCH_ROWS rows
#
#  1. baseline: nothing changes (BENCH_BASELINE_SECS);
#  2. shunt: start + complete of the demo's migration (rename name to
#     full_name, age text -> integer NOT NULL); the old version's traffic
#     runs during start, then the new version's (search_path = the version
#     schema) replaces it, and complete runs under the new version;
#  3. naive: the same change as three plain ALTER TABLE statements (RENAME
#     COLUMN, ALTER TYPE ... USING, SET NOT NULL) under the old version's
#     traffic, then the new version replaces it at once;
#  4. pg_repack --table --no-order (Debian's postgresql-15-repack): an online
#     rebuild of the table under the old version's traffic.  pg_repack cannot
#     rename or retype a column; it is the peer for what an online rewrite of
#     the whole table costs the application.
#
# Traffic is shunt-load's (bench/load): BENCH_RATE tx/s from BENCH_CLIENTS
# connections, 80% point reads, 15% point updates, 5% inserts, latency from
# each transaction's intended start (open loop).  Each scenario: 5 s before,
# the change, 5 s after.  Writes bench/results/impact.md, one SVG per
# scenario (bench/results/impact-NAME.svg) and the raw CSV files under
# bench/results/raw/ (not committed).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
SHUNT=$root/shunt
LOAD=$root/build/shunt-load
rows=${BENCH_ROWS:-1000000}
rate=${BENCH_RATE:-500}
clients=${BENCH_CLIENTS:-4}
baseline_secs=${BENCH_BASELINE_SECS:-10}
results=$root/bench/results
out=$results/impact.md
raw=$results/raw
for v in rows rate clients baseline_secs; do
	if ! [[ ${!v} =~ ^[1-9][0-9]*$ ]]; then
		echo "impact: BENCH_${v^^} must be a positive whole number" >&2
		exit 2
	fi
done
if [[ ! -x $LOAD ]]; then
	make -s --no-print-directory build/shunt-load
fi
mkdir -p "$raw"

# shellcheck source=tests/lib/cluster.sh
source "$root/tests/lib/cluster.sh"
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
cluster_mktemp work impact
chmod 0777 "$work"
# Logging every statement would slow the server more than the traffic.
psql -XAtq -d postgres -c "ALTER SYSTEM SET log_statement = 'ddl'" \
	-c "SELECT pg_catalog.pg_reload_conf()" >/dev/null

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
commas() { echo "$1" | sed -e ':a' -e 's/\B[0-9]\{3\}\>/,&/' -e 'ta'; }
say() { printf '\n== impact: %s\n' "$*" >&2; }

cat >"$work/01_users.yaml" <<'Y'
operations:
  - rename_column: {table: users, from: name, to: full_name}
  - alter_column:
      table: users
      column: age
      type: integer
      nullable: false
      up: coalesce(CAST(age AS integer), 0)
      down: CAST(age AS text)
Y

# make_db DB: a fresh database with the table, vacuumed and analysed, and
# a checkpoint, so that no scenario pays for the one before it.
make_db() {
	cluster_createdb "$1"
	PGDATABASE=$1 psql -XAtq -v ON_ERROR_STOP=1 \
		-c "CREATE TABLE users (id bigserial PRIMARY KEY, name text NOT NULL, email text,
			age text, created_at timestamptz NOT NULL DEFAULT now())" \
		-c "INSERT INTO users (name, email, age, created_at)
			SELECT 'user ' || g, 'user' || g || '@example.com',
				CASE WHEN g % 50 <> 0 THEN (18 + g % 60)::text END,
				now() - g * interval '1 minute'
			FROM generate_series(1, $rows) g" \
		-c "VACUUM ANALYZE users" -c "CHECKPOINT"
}

# shellcheck disable=SC2016 # $1..$3 are shunt-load's parameters
old_sql=(--read 'SELECT name, email, age FROM users WHERE id = $1'
	--update 'UPDATE users SET age = $2 WHERE id = $1'
	--insert 'INSERT INTO users (name, email, age) VALUES ($3, $3, $2)')
# shellcheck disable=SC2016
new_sql=(--read 'SELECT full_name, email, age FROM users WHERE id = $1'
	--update 'UPDATE users SET age = $2 WHERE id = $1'
	--insert 'INSERT INTO users (full_name, email, age) VALUES ($3, $3, $2)')

# load_start DB NEW_SEARCH_PATH: shunt-load on DB, group old running and
# group new (on NEW_SEARCH_PATH) stopped, phase "before".
load_start() {
	ctl=$work/$1.ctl
	mkfifo "$ctl"
	PGDATABASE=$1 "$LOAD" --duration 0 --keys "$rows" --out "$raw/impact-$1" --control "$ctl" -q \
		--phase before \
		--group "old:$clients:$rate:public:80/15/5" "${old_sql[@]}" \
		--group "new:$clients:$rate:$2:80/15/5" --stopped "${new_sql[@]}" \
		>"$raw/impact-$1.txt" 2>"$work/$1.load.err" &
	load_pid=$!
	ctl "phase before"
}
ctl() {
	# shellcheck disable=SC2016 # expanded by sh -c
	if ! timeout --foreground 10 sh -c 'echo "$2" >"$1"' _ "$ctl" "$1"; then
		echo "impact: the load generator does not answer; its messages:" >&2
		cat "$work"/*.load.err >&2
		exit 1
	fi
}
# load_end DB TITLE: 5 s after the change, then the files and the plot.
load_end() {
	ctl "phase after"
	sleep 5
	ctl quit
	wait "$load_pid"
	load_pid=
	"$LOAD" --plot "$raw/impact-$1" "$results/impact-$1.svg" --title "$2"
}
declare -A wall

scenario_baseline() {
	say "baseline: no change for $baseline_secs s"
	make_db baseline
	load_start baseline public
	sleep 5
	ctl "phase change"
	sleep "$baseline_secs"
	wall[baseline]=$baseline_secs
	load_end baseline "baseline: no change ($rows rows, $rate tx/s)"
}

scenario_shunt() {
	local t0 t1 t2 t3
	say "shunt start + complete"
	make_db shunt
	load_start shunt public_01_users,public
	sleep 5
	export PGDATABASE=shunt
	ctl "phase start"
	t0=$(now)
	"$SHUNT" start "$work/01_users.yaml"
	t1=$(now)
	# the new version replaces the old one at once
	ctl "phase complete"
	ctl "start new"
	ctl "stop old"
	t2=$(now)
	"$SHUNT" complete
	t3=$(now)
	unset PGDATABASE
	wall[shunt_start]=$(secs "$t0" "$t1")
	wall[shunt_complete]=$(secs "$t2" "$t3")
	wall[shunt]=$(awk -v a="${wall[shunt_start]}" -v b="${wall[shunt_complete]}" 'BEGIN { printf "%.2f", a + b }')
	load_end shunt "shunt start + complete ($rows rows, $rate tx/s)"
}

scenario_naive() {
	local t0 t1 s
	say "naive ALTER TABLE"
	make_db naive
	load_start naive public
	sleep 5
	ctl "phase change"
	t0=$(now)
	for s in "ALTER TABLE users RENAME COLUMN name TO full_name" \
		"ALTER TABLE users ALTER COLUMN age TYPE integer USING coalesce(age::integer, 0)" \
		"ALTER TABLE users ALTER COLUMN age SET NOT NULL"; do
		PGDATABASE=naive psql -XAtq -v ON_ERROR_STOP=1 -c "$s"
	done
	t1=$(now)
	# the new version replaces the old one as soon as the ALTERs are done
	ctl "start new"
	ctl "stop old"
	wall[naive]=$(secs "$t0" "$t1")
	load_end naive "naive ALTER TABLE ($rows rows, $rate tx/s)"
}

# pg_repack: sets repack_skip to why it cannot run, or runs it.
repack_skip=
scenario_repack() {
	local t0 t1 bin
	say "pg_repack --table"
	bin=$(command -v pg_repack || true)
	if [[ -z $bin && -x $PG_BINDIR/pg_repack ]]; then
		bin=$PG_BINDIR/pg_repack
	fi
	if [[ -z $bin ]]; then
		repack_skip="not run: no pg_repack binary (Debian package postgresql-15-repack)"
		return 0
	fi
	make_db repack
	if ! PGDATABASE=repack psql -XAtq -c "CREATE EXTENSION pg_repack" 2>"$work/repack-ext.err"; then
		repack_skip="not run: CREATE EXTENSION pg_repack failed: $(head -n 1 "$work/repack-ext.err")"
		return 0
	fi
	load_start repack public
	sleep 5
	ctl "phase change"
	t0=$(now)
	if ! "$bin" --table public.users --no-order --dbname repack >"$work/repack.out" 2>&1; then
		t1=$(now)
		repack_skip="failed after $(secs "$t0" "$t1") s: $(grep -m 1 -i error "$work/repack.out" || tail -n 1 "$work/repack.out")"
	fi
	t1=$(now)
	wall[repack]=$(secs "$t0" "$t1")
	load_end repack "pg_repack --table --no-order ($rows rows, $rate tx/s)"
}

scenario_baseline
scenario_shunt
scenario_naive
scenario_repack

# --- the tables -------------------------------------------------------------
# One line per scenario and phase: the groups of a phase merged (counts
# added; for latency the worse group's figure, since shunt-load's
# percentiles cannot be merged from its summary).
merged() {
	local db
	for db in baseline shunt naive repack; do
		[[ -f $raw/impact-$db.summary.csv ]] || continue
		awk -F, -v db="$db" 'NR > 1 && $1 != "(all)" {
			k = $1
			if (!(k in n)) order[++np] = k
			secs[k] = $4 - $3; n[k] += $5; e[k] += $6
			if ($9 + 0 > p50[k]) p50[k] = $9 + 0
			if ($10 + 0 > p99[k]) p99[k] = $10 + 0
			if ($11 + 0 > mx[k]) mx[k] = $11 + 0
		}
		END { for (i = 1; i <= np; i++) { k = order[i]
			printf "%s,%s,%.2f,%d,%d,%.3f,%.3f,%.3f\n", db, k, secs[k], n[k], e[k], p50[k], p99[k], mx[k] } }' \
			"$raw/impact-$db.summary.csv"
	done
}
merged >"$raw/impact-merged.csv"

machine="$(nproc) cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr), PostgreSQL $(psql -XAtq -d postgres -c 'SHOW server_version')"
repack_version=$( (pg_repack --version 2>/dev/null || true) | head -n 1)
{
	echo "## Application impact of one schema change: shunt, plain ALTER TABLE, pg_repack"
	echo
	echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $machine${repack_version:+, $repack_version}."
	echo "Generated by \`make bench\` (bench/impact.sh). One run, the four scenarios one after the"
	echo "other on the same throwaway cluster (fsync off), each on a fresh database holding the same"
	echo "table of $(commas "$rows") rows: \`users(id bigserial primary key, name text not null, email text,"
	echo "age text, created_at timestamptz)\`."
	echo
	echo "The change: rename \`name\` to \`full_name\`, \`age\` from text to integer, \`age\` NOT NULL."
	echo "Traffic: $rate tx/s from $clients connections (shunt-load, open loop: latency counts from each"
	echo "transaction's intended start, so waiting behind a lock counts), 80% point reads, 15% point"
	echo "updates, 5% inserts, of the old version (\`name\`, age as text) until the change is done, then"
	echo "of the new version (\`full_name\`, age as integer; for shunt through its version schema)."
	echo "No long transaction runs (\`make demo\` adds one): these are the changes' own costs."
	echo
	echo "| scenario | wall time (s) | tx | errors | p50 (ms) | p99 (ms) | max (ms) | p99 vs baseline | max vs baseline |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
	awk -F, -v w_base="${wall[baseline]}" -v w_ss="${wall[shunt_start]}" -v w_sc="${wall[shunt_complete]}" \
		-v w_naive="${wall[naive]}" -v w_repack="${wall[repack]:-}" -v repack_skip="$repack_skip" '
		{ k = $1 "/" $2; n[k] = $4; e[k] = $5; p50[k] = $6; p99[k] = $7; mx[k] = $8; have[k] = 1 }
		function ratio(a, b) { return b > 0 ? sprintf("%.1fx", a / b) : "-" }
		function row(label, wall, cnt, err, a, b, c) {
			printf "| %s | %s | %d | %d | %.2f | %.2f | %.2f | %s | %s |\n", label, wall, cnt, err,
				a, b, c, ratio(b, p99[base]), ratio(c, mx[base])
		}
		function one(label, wall, k) {
			if (!(k in have)) { printf "| %s | not run | | | | | | | |\n", label; return }
			row(label, wall, n[k], e[k], p50[k], p99[k], mx[k])
		}
		END {
			base = "baseline/change"
			one("baseline: no change", w_base, base)
			one("shunt start (expand + backfill; old version)", w_ss, "shunt/start")
			one("shunt complete (contract; new version)", w_sc, "shunt/complete")
			s = "shunt/start"; c = "shunt/complete"
			if ((s in have) && (c in have))
				row("**shunt, start + complete**", sprintf("%.2f", w_ss + w_sc), n[s] + n[c], e[s] + e[c],
					p50[s] > p50[c] ? p50[s] : p50[c], p99[s] > p99[c] ? p99[s] : p99[c],
					mx[s] > mx[c] ? mx[s] : mx[c])
			one("**naive ALTER TABLE** (3 statements)", w_naive, "naive/change")
			if (repack_skip != "" && !("repack/change" in have))
				printf "| **pg_repack --table** | %s | | | | | | | |\n", repack_skip
			else
				one("**pg_repack --table --no-order**" (repack_skip != "" ? " (" repack_skip ")" : ""), w_repack, "repack/change")
		}' "$raw/impact-merged.csv"
	echo
	echo "Each row covers the change only (the 5 s before and after are below). Where two versions'"
	echo "traffic shares a phase (the switch at the start of shunt complete), counts are added and"
	echo "latencies are the worse group's; the shunt row takes the worse of its two phases."
	echo
	echo "### shunt against its peers, same run"
	echo
	awk -F, -v w_ss="${wall[shunt_start]}" -v w_sc="${wall[shunt_complete]}" -v w_naive="${wall[naive]}" \
		-v w_repack="${wall[repack]:-}" -v repack_skip="$repack_skip" '
		{ k = $1 "/" $2; e[k] = $5; p99[k] = $7; mx[k] = $8; have[k] = 1 }
		function ratio(a, b,   r) {
			if (b <= 0) return "-"
			r = a / b
			return r >= 0.1 ? sprintf("%.2fx", r) : sprintf("%.2gx", r)
		}
		function max2(a, b) { return a > b ? a : b }
		END {
			rp = ("repack/change" in have) && repack_skip == ""
			s_p99 = max2(p99["shunt/start"], p99["shunt/complete"])
			s_max = max2(mx["shunt/start"], mx["shunt/complete"])
			s_err = e["shunt/start"] + e["shunt/complete"]
			s_wall = w_ss + w_sc
			print "| measure | shunt | naive ALTER TABLE | pg_repack | shunt / naive | shunt / pg_repack |"
			print "|---|---:|---:|---:|---:|---:|"
			printf "| wall time (s) | %.2f | %.2f | %s | %s | %s |\n", s_wall, w_naive,
				rp ? w_repack : "-", ratio(s_wall, w_naive), rp ? ratio(s_wall, w_repack) : "-"
			printf "| application errors | %d | %d | %s | - | - |\n", s_err, e["naive/change"],
				rp ? e["repack/change"] : "-"
			printf "| p99 (ms) | %.2f | %.2f | %s | %s | %s |\n", s_p99, p99["naive/change"],
				rp ? sprintf("%.2f", p99["repack/change"]) : "-", ratio(s_p99, p99["naive/change"]),
				rp ? ratio(s_p99, p99["repack/change"]) : "-"
			printf "| max (ms) | %.2f | %.2f | %s | %s | %s |\n", s_max, mx["naive/change"],
				rp ? sprintf("%.2f", mx["repack/change"]) : "-", ratio(s_max, mx["naive/change"]),
				rp ? ratio(s_max, mx["repack/change"]) : "-"
		}' "$raw/impact-merged.csv"
	echo
	echo "A p99 is over its own window's transactions, and shunt's window is the longest; the"
	echo "worst latency (max) does not depend on the window."
	echo "shunt takes longer than the other two: it copies the column in small batches, each its own"
	echo "short transaction, beside the traffic, where ALTER TABLE rewrites the table in one go while"
	echo "the application waits. pg_repack makes no schema change at all (it cannot rename or retype);"
	echo "it rebuilds the same table online."
	echo
	echo "### Every phase"
	echo
	echo "| scenario | phase | secs | tx | errors | p50 (ms) | p99 (ms) | max (ms) |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|"
	awk -F, '{ printf "| %s | %s | %.1f | %d | %d | %.2f | %.2f | %.2f |\n", $1, $2, $3, $4, $5, $6, $7, $8 }' \
		"$raw/impact-merged.csv"
	echo
	echo "### Latency over time"
	echo
	echo "p99 (solid) and max (dashed) per second, log scale; phases as bands; errors as red bars."
	echo
	for db in baseline shunt naive repack; do
		if [[ -f $results/impact-$db.svg ]]; then
			echo "![$db](impact-$db.svg)"
			echo
		fi
	done
	# the first errors of each scenario, as shunt-load reported them
	for db in baseline shunt naive repack; do
		if grep -q '^errors of group' "$raw/impact-$db.txt" 2>/dev/null; then
			echo "Errors in scenario $db (shunt-load's report):"
			echo
			echo '```'
			sed -n '/^errors of group/,/^$/p' "$raw/impact-$db.txt"
			echo '```'
			echo
		fi
	done
} >"$out"
cat "$out"
