#!/usr/bin/env bash
# make demo: shunt's main job on a throwaway PostgreSQL, under live traffic,
# next to the same change made the naive way.
#
#  1. users(id, name, email, age text, created_at) of DEMO_ROWS rows, twice:
#     public.users for shunt and naive.users for plain ALTER TABLE;
#  2. old-version traffic (shunt-load group "old": point reads, updates and
#     inserts at DEMO_RATE tx/s, search_path = public);
#  3. shunt start of a migration that renames name to full_name, changes age
#     from text to integer and makes it NOT NULL (expand + batched backfill);
#  4. new-version traffic joins (group "new", search_path = the version
#     schema from `shunt latest`, then public);
#  5. the switch: the old group stops; shunt complete (contract);
#  6. the same change the naive way (RENAME COLUMN, ALTER TYPE ... USING,
#     SET NOT NULL) on naive.users under the same old-version traffic
#     (group "naive").
# A reporting query holds a read transaction open on the table for
# DEMO_BLOCKER_SECS (default 3, 0 = none) just before the first DDL of each
# side, as a long transaction of a live database does; it is what turns a
# naive ALTER into an outage (every query queues behind the ALTER's lock
# request), and shunt meets exactly the same one.
#
# Phases are marked through shunt-load's FIFO.  The report gives each
# phase's duration, errors, p99 and worst latency, shunt beside the naive
# way; the plot of latency over time goes to a results directory in /tmp
# whose path is printed (with DEMO_SAVE=1 also to bench/results/demo.svg).
# The cluster, the FIFO and the load generator go away on every exit path
# (DEMO_KEEP=1 keeps the cluster's data dir of a run that failed).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
SHUNT=$root/shunt
LOAD=$root/build/shunt-load
rows=${DEMO_ROWS:-300000}
rate=${DEMO_RATE:-200}
clients=${DEMO_CLIENTS:-4}
blocker=${DEMO_BLOCKER_SECS:-3}
check_number() { # NAME VALUE MIN
	if ! [[ $2 =~ ^[0-9]+$ ]] || (($2 < $3)); then
		echo "demo: $1 must be a whole number of at least $3" >&2
		exit 2
	fi
}
check_number DEMO_ROWS "$rows" 1000
check_number DEMO_RATE "$rate" 1
check_number DEMO_CLIENTS "$clients" 1
check_number DEMO_BLOCKER_SECS "$blocker" 0
if [[ ! -x $LOAD ]]; then
	make -s --no-print-directory build/shunt-load
fi

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# shellcheck source=tests/lib/cluster.sh
source "$root/tests/lib/cluster.sh"
load_pid=
blocker_pid=
# Runs first at exit, before the cluster stops: the load generator ends
# with its report (SIGTERM acts as "quit"), the reporting query is gone.
stop_children() {
	local p
	for p in $load_pid $blocker_pid; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in $load_pid $blocker_pid; do
		wait "$p" 2>/dev/null || true
	done
	load_pid="" blocker_pid=""
	if [[ -z $finished && -n $results ]]; then
		rm -rf -- "$results"
	fi
	# cluster.sh keeps a failed test's data dir for inspection; a demo
	# that was interrupted or failed leaves nothing behind unless asked.
	if [[ ${DEMO_KEEP:-0} != 1 ]]; then
		_CLUSTER_FAILED=
	fi
}
finished="" results=""
cluster_at_exit stop_children
# The results outlive a run that ends well (the path is printed at the
# end); the cluster, the FIFO and the raw files go with the cluster's
# temp dirs.
results=$(mktemp -d "${TMPDIR:-/tmp}/shunt-demo.XXXXXX")
cluster_start demo >/dev/null
work= # set by cluster_mktemp
cluster_mktemp work demo-work
chmod 0777 "$work"
export PGDATABASE=demo
createdb demo
# Every statement in the log would slow the server more than the traffic.
psql -XAtq -c "ALTER SYSTEM SET log_statement = 'ddl'" -c "SELECT pg_catalog.pg_reload_conf()" >/dev/null

say "two identical tables of $rows users: public.users for shunt, naive.users for plain ALTER TABLE"
# The naive table lives in its own schema: shunt's version schema has a
# view of every table of public, and a view would block the naive ALTER.
psql -XAtq -c "CREATE SCHEMA naive"
for t in public.users naive.users; do
	psql -XAtq -v ON_ERROR_STOP=1 \
		-c "CREATE TABLE $t (id bigserial PRIMARY KEY, name text NOT NULL, email text,
			age text, created_at timestamptz NOT NULL DEFAULT now())" \
		-c "INSERT INTO $t (name, email, age, created_at)
			SELECT 'user ' || g, 'user' || g || '@example.com',
				CASE WHEN g % 50 <> 0 THEN (18 + g % 60)::text END,
				now() - g * interval '1 minute'
			FROM generate_series(1, $rows) g" \
		-c "VACUUM ANALYZE $t"
done
psql -Xq -c '\d public.users' | sed 's/^/    /'

m=$work/01_users.yaml
cat >"$m" <<'Y'
operations:
  - rename_column: {table: users, from: name, to: full_name}
  - alter_column:
      table: users
      column: age
      type: integer
      nullable: false
      up: coalesce(CAST(age AS integer), 0)   # old-version writes -> new column
      down: CAST(age AS text)                  # new-version writes -> old column
Y
echo "the migration, $(basename "$m"):"
sed 's/^/    /' "$m"

# --- traffic ------------------------------------------------------------------
# Every group: 80% point reads, 15% point updates, 5% inserts; the old
# version's statements name the column "name" and write age as text, the
# new version's name "full_name" and write an integer.  shunt-load's
# groups are fixed at launch, before the version schema exists: its name
# follows from the migration's (public_01_users), a search_path may name a
# schema that does not exist yet, and the script checks it against
# `shunt latest` before the new group starts.
vs=public_01_users
# shellcheck disable=SC2016 # $1..$3 are shunt-load's parameters
old_sql=(--read 'SELECT name, email, age FROM users WHERE id = $1'
	--update 'UPDATE users SET age = $2 WHERE id = $1'
	--insert 'INSERT INTO users (name, email, age) VALUES ($3, $3, $2)')
# shellcheck disable=SC2016
new_sql=(--read 'SELECT full_name, email, age FROM users WHERE id = $1'
	--update 'UPDATE users SET age = $2 WHERE id = $1'
	--insert 'INSERT INTO users (full_name, email, age) VALUES ($3, $3, $2)')
ctl=$work/ctl
mkfifo "$ctl"
"$LOAD" --duration 0 --keys "$rows" --out "$work/load" --control "$ctl" -q \
	--phase baseline \
	--group "old:$clients:$rate:public:80/15/5" "${old_sql[@]}" \
	--group "new:$clients:$rate:$vs,public:80/15/5" --stopped "${new_sql[@]}" \
	--group "naive:$clients:$rate:naive:80/15/5" --stopped "${old_sql[@]}" \
	>"$work/load.txt" 2>"$work/load.err" &
load_pid=$!
# ctl COMMAND: one command to shunt-load.  A write blocks while nobody
# reads the FIFO, so a shunt-load that is gone shows as a timeout.
ctl() {
	local rc=0
	# --foreground: in our process group, so that a Ctrl-C reaches it
	# shellcheck disable=SC2016 # expanded by sh -c
	timeout --foreground 10 sh -c 'echo "$2" >"$1"' _ "$ctl" "$1" || rc=$?
	case $rc in
	0) ;;
	124)
		echo "demo: the load generator does not answer; its messages:" >&2
		cat "$work/load.err" >&2
		exit 1
		;;
	*) exit "$rc" ;; # interrupted
	esac
}

# report_query TABLE: a reporting transaction reads TABLE and stays open
# for $blocker s, holding ACCESS SHARE on it until it ends; returns once
# the lock is held.
report_query() {
	[[ $blocker -gt 0 ]] || return 0
	PGAPPNAME=demo-report psql -XAtq -c "BEGIN" \
		-c "SELECT count(*), max(created_at) FROM $1" -c "SELECT pg_catalog.pg_sleep($blocker)" \
		-c "COMMIT" >/dev/null &
	blocker_pid=$!
	for ((i = 0; i < 200; i++)); do
		if [[ $(psql -XAtq -c "SELECT count(*) FROM pg_catalog.pg_locks l
				JOIN pg_catalog.pg_stat_activity a USING (pid)
				WHERE a.application_name = 'demo-report'
				  AND l.relation = '$1'::regclass AND l.granted") -gt 0 ]]; then
			return 0
		fi
		sleep 0.02
	done
	echo "demo: the reporting query did not get its lock" >&2
	exit 1
}

# shunt's own hooks (--hooks) mark the backfill as a phase of its own.
mkdir "$work/hooks"
for h in before-backfill:backfill after-backfill:version_schema; do
	cat >"$work/hooks/${h%%:*}" <<-EOF
		#!/bin/sh
		# shunt runs this at ${h%%:*}: the demo marks a phase in shunt-load
		timeout --foreground 10 sh -c 'echo "phase ${h#*:}" >"\$1"' _ "\$DEMO_CTL"
	EOF
	chmod +x "$work/hooks/${h%%:*}"
done
export DEMO_CTL=$ctl

say "old-version traffic: $rate tx/s from $clients clients, search_path = public"
ctl "phase baseline" # returns once the clients are connected and the clock runs
sleep 5

say "shunt start: expand and backfill while the old version runs"
if [[ $blocker -gt 0 ]]; then
	echo "(a reporting query has had a read transaction open on public.users for the next $blocker s)"
fi
ctl "phase expand"
report_query public.users
t0=$(now)
"$SHUNT" --hooks "$work/hooks" start "$m"
t1=$(now)
shunt_start_s=$(secs "$t0" "$t1")
wait "$blocker_pid" 2>/dev/null || true
blocker_pid=
latest=$("$SHUNT" latest)
if [[ $latest != "$vs" ]]; then
	echo "demo: shunt latest says \"$latest\", expected \"$vs\"" >&2
	exit 1
fi

say "new-version traffic joins: search_path = $latest, public"
ctl "phase both_versions"
ctl "start new"
sleep 5

say "switch: the old version stops; shunt complete"
ctl "stop old"
ctl "phase shunt_complete"
t0=$(now)
"$SHUNT" complete
t1=$(now)
shunt_complete_s=$(secs "$t0" "$t1")
ctl "phase new_only"
sleep 3

say "the naive way: plain ALTER TABLE on naive.users under the same old-version traffic"
ctl "phase naive_baseline"
ctl "start naive"
ctl "stop new"
sleep 4
ctl "phase naive_alter"
if [[ $blocker -gt 0 ]]; then
	echo "(the same reporting query, on naive.users, for $blocker s)"
fi
report_query naive.users
naive_sql=("ALTER TABLE naive.users RENAME COLUMN name TO full_name"
	"ALTER TABLE naive.users ALTER COLUMN age TYPE integer USING coalesce(age::integer, 0)"
	"ALTER TABLE naive.users ALTER COLUMN age SET NOT NULL")
t0=$(now)
for s in "${naive_sql[@]}"; do
	echo "    $s;"
	psql -XAtq -v ON_ERROR_STOP=1 -c "$s"
done
t1=$(now)
naive_s=$(secs "$t0" "$t1")
wait "$blocker_pid" 2>/dev/null || true
blocker_pid=
ctl "phase naive_after"
sleep 4
ctl quit
wait "$load_pid"
load_pid=

# --- report -------------------------------------------------------------------
cp "$work/load.summary.csv" "$work/load.seconds.csv" "$work/load.phases.csv" "$work/load.txt" "$results/"
"$LOAD" --plot "$work/load" "$results/demo.svg" \
	--title "shunt demo: $rows rows, $rate tx/s per version; shunt, then plain ALTER TABLE"

{
	echo "Traffic: $rate tx/s per application version (80% point reads, 15% updates, 5% inserts),"
	echo "$clients connections each, latency counted from each transaction's intended start (open"
	echo "loop), so time spent queued behind a lock counts."
	if [[ $blocker -gt 0 ]]; then
		echo "A reporting query holds a read transaction open on the table for $blocker s just before the"
		echo "first DDL of each side (shunt start; the naive RENAME), as a long transaction of a live"
		echo "database does. Without it the naive ALTER still stalls every query for the table rewrite"
		echo "(DEMO_BLOCKER_SECS=0 shows that alone)."
	fi
	echo
	awk -F, -v s_start="$shunt_start_s" -v s_complete="$shunt_complete_s" -v naive="$naive_s" \
		-v first_err="$(awk '/^errors of group naive/ { getline; sub(/^ +[0-9.]+ s +[a-z_]+ +[0-9A-Z]+ +/, ""); print; exit }' "$work/load.txt")" '
		NR == 1 { next }
		$1 == "(all)" { states[$2] = $12; next }
		{
			key = $1 "/" $2
			secs[key] = $4 - $3; count[key] = $5; errs[key] = $6
			p99[key] = $10; mx[key] = $11
		}
		function row(label, phase, group,   k) {
			k = phase "/" group
			if (!(k in count))
				return
			printf "  %-36s %-6s %6.1f %7d %7d %9.1f %9.1f\n", label, group, secs[k], count[k],
				errs[k], p99[k], mx[k]
			side_err[side] += errs[k]
			if (p99[k] + 0 > side_p99[side]) side_p99[side] = p99[k] + 0
			if (mx[k] + 0 > side_max[side]) side_max[side] = mx[k] + 0
		}
		END {
			printf "  %-36s %-6s %6s %7s %7s %9s %9s\n", "phase", "group", "secs", "tx", "errors",
				"p99 ms", "max ms"
			print "shunt"
			side = "shunt"
			row("baseline (old version only)", "baseline", "old")
			row("shunt start: expand (DDL)", "expand", "old")
			row("shunt start: backfill", "backfill", "old")
			row("shunt start: version schema", "version_schema", "old")
			row("both versions live", "both_versions", "old")
			row("", "both_versions", "new")
			row("shunt complete: contract", "shunt_complete", "new")
			row("after (new version only)", "new_only", "new")
			print "naive ALTER TABLE"
			side = "naive"
			row("baseline (old version only)", "naive_baseline", "naive")
			row("RENAME, ALTER TYPE, SET NOT NULL", "naive_alter", "naive")
			row("after (old version still running)", "naive_after", "naive")
			print ""
			printf "%-28s %-36s %s\n", "side by side", "shunt", "naive ALTER TABLE"
			printf "%-28s %-36s %s\n", "wall time of the change",
				sprintf("%s s (start) + %s s (complete)", s_start, s_complete), naive " s"
			printf "%-28s %-36d %d\n", "application errors", side_err["shunt"], side_err["naive"]
			printf "%-28s %-36s %s\n", "p99 latency, worst phase",
				sprintf("%.1f ms", side_p99["shunt"]), sprintf("%.1f ms", side_p99["naive"])
			printf "%-28s %-36s %s\n", "worst latency",
				sprintf("%.1f ms", side_max["shunt"]), sprintf("%.1f ms", side_max["naive"])
			if (states["naive"] != "")
				printf "\nthe naive side'"'"'s errors by SQLSTATE: %s, e.g. \047%s\047\n", states["naive"], first_err
			if (states["old"] states["new"] != "")
				printf "shunt'"'"'s side had errors by SQLSTATE: old %s, new %s\n", states["old"], states["new"]
		}' "$work/load.summary.csv"
	echo
	naive_after=$(awk -F, '$1 == "naive_after" { printf "%.0f", $3 - $2 }' "$work/load.phases.csv")
	echo "With shunt neither version ever fails, and no query waits behind shunt's lock requests for"
	echo "more than --lock-timeout (500 ms) per attempt: a step that cannot get its lock gives up,"
	if [[ $blocker -gt 0 ]]; then
		echo "lets the queued queries through and tries again (the expand phase above, behind the"
		echo "reporting query)."
	else
		echo "lets the queued queries through and tries again."
	fi
	echo "The naive ALTER TABLE waits for its lock with no limit while every query queues behind it,"
	echo "then rewrites the table holding that lock; its RENAME breaks the old version until the new"
	echo "one is deployed (here: the ${naive_after} s to the end of the run)."
} >"$results/report.txt"

say "report"
cat "$results/report.txt"
echo
echo "plot of latency over time: $results/demo.svg"
echo "raw data (per-second CSV, shunt-load's own summary): $results/"
finished=1
if [[ ${DEMO_SAVE:-0} == 1 ]]; then
	cp "$results/demo.svg" "$root/bench/results/demo.svg"
	cp "$results/report.txt" "$root/bench/results/demo.txt"
	echo "saved: bench/results/demo.svg, bench/results/demo.txt"
fi
