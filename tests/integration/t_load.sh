#!/usr/bin/env bash
# shunt-load, the demo's and the benchmarks' traffic generator
# (bench/load): two groups at a low rate make exactly rate x duration
# transactions (open loop) without errors, each on its own search_path;
# a column renamed under the old group shows as errors with SQLSTATE 42703
# in the phase where it happened; the files of --out and the SVG of --plot
# are well-formed.
#
# shunt-load is not part of `make all`: this file builds it next to the
# shunt under test (build/ or build-san/) unless SHUNT_LOAD_BIN names one.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
if [[ -z ${SHUNT_LOAD_BIN:-} ]]; then
	make_args=()
	case $SHUNT_BIN in
	*/build-san/*) make_args=(SANITIZE="${SANITIZE:-address,undefined}") build=build-san ;;
	*) build=build ;;
	esac
	# MAKEFLAGS of an outer make (jobserver descriptors this shell may not
	# have) must not leak into ours.
	t_ok "shunt-load builds" env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
		make -C "$ROOT" --no-print-directory "${make_args[@]}" "$build/shunt-load"
	SHUNT_LOAD_BIN=$ROOT/$build/shunt-load
fi
L=$SHUNT_LOAD_BIN

t_createdb load
# The new version reads through a view in a schema with a hostile name,
# as it would through shunt's version schema: only its search_path finds it.
t_sql load 'CREATE TABLE users (id bigserial PRIMARY KEY, name text NOT NULL, age text);
	INSERT INTO users (name, age) SELECT $$user $$ || g, (18 + g % 60)::text FROM generate_series(1, 1000) g;
	CREATE SCHEMA "V2 ""q";
	CREATE VIEW "V2 ""q".users AS SELECT id, name AS full_name, age FROM public.users;
	ANALYZE users' >/dev/null

old_group=(--group old:2:50:public:80/20/0
	--read 'SELECT name, age FROM users WHERE id = $1'
	--update 'UPDATE users SET age = $2 WHERE id = $1')
new_group=(--group new:2:30:'"V2 ""q", public'
	--read 'SELECT full_name, age FROM users WHERE id = $1')

# summary_field PREFIX PHASE GROUP COLUMN: one field of PREFIX.summary.csv
summary_field() {
	awk -F, -v p="$2" -v g="$3" -v c="$4" '
		NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
		$1 == p && $2 == g { print $col[c] }' "$1.summary.csv"
}

# 1. clean traffic: counts follow the schedule, no errors
out=$T_TMP/clean
t_exit 0 "a 3 s run of two groups succeeds" \
	env PGDATABASE=load "$L" --duration 3s --keys 1000 --out "$out" "${old_group[@]}" "${new_group[@]}"
summary=$T_OUT
for f in seconds phases summary; do
	if [[ -s $out.$f.csv ]]; then
		t_pass "$f.csv is written"
	else
		t_fail "$f.csv is written"
	fi
done
t_is "$(head -n 1 "$out.seconds.csv")" "second,group,count,errors,p50_ms,p99_ms,max_ms" \
	"seconds.csv has its header"
t_like "$summary" $'\n'"\\(all\\) +old +3\\.0 +[0-9]+ +0 " "the summary on stdout has a row per group"
old_count=$(summary_field "$out" "(all)" old count)
new_count=$(summary_field "$out" "(all)" new count)
# Open loop: the count is the schedule's, whatever the latency; a slow
# machine only leaves a backlog at the very end.
t_ok "old made 50 tx/s x 3 s (got $old_count)" test "$old_count" -ge 140 -a "$old_count" -le 150
t_ok "new made 30 tx/s x 3 s (got $new_count)" test "$new_count" -ge 84 -a "$new_count" -le 90
t_is "$(summary_field "$out" "(all)" old errors)/$(summary_field "$out" "(all)" new errors)" "0/0" \
	"no errors in either group (so each search_path was set)"
t_is "$(awk -F, '$1 == 1 && $2 == "old" { print $3 }' "$out.seconds.csv")" 50 \
	"a whole second of the old group holds exactly its rate"
t_like "$(awk -F, '$1 == 1 && $2 == "old" { print $5 "|" $6 "|" $7 }' "$out.seconds.csv")" \
	'^[0-9]+\.[0-9]{3}\|[0-9]+\.[0-9]{3}\|[0-9]+\.[0-9]{3}$' "a second has p50, p99 and max in ms"
t_is "$(t_sql load "SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE application_name LIKE 'shunt-load/%'")" 0 \
	"every connection is closed at the end"

# 2. a naive rename under the old version: errors with SQLSTATE 42703
out=$T_TMP/rename
ctl=$T_TMP/ctl
mkfifo "$ctl"
PGDATABASE=load "$L" --duration 4s --keys 1000 --out "$out" --control "$ctl" --phase before \
	"${old_group[@]}" "${new_group[@]}" >"$T_TMP/rename.out" 2>"$T_TMP/rename.err" &
load_pid=$!
# The write blocks until shunt-load has connected and opened the FIFO; the
# timeout guards against one that died first.
sleep 1.5
t_ok "phase command accepted" timeout 20 bash -c 'echo "phase rename" >"$1"' _ "$ctl"
t_sql load 'ALTER TABLE users RENAME COLUMN name TO full_name' >/dev/null
rc=0
wait "$load_pid" || rc=$?
t_is "$rc" 0 "shunt-load exits 0 although its traffic failed"
summary=$(<"$T_TMP/rename.out")
load_err=$(<"$T_TMP/rename.err")
t_like "$(cat "$out.phases.csv")" $'^phase,start_s,end_s\nbefore,0\\.000,[0-9]\\.[0-9]{3}\nrename,[0-9]\\.[0-9]{3},4\\.000$' \
	"phases.csv has both phases"
t_is "$(summary_field "$out" before old errors)" 0 "no errors before the rename"
rename_errors=$(summary_field "$out" rename old errors)
t_ok "the old group's reads fail after the rename ($rename_errors errors)" test "$rename_errors" -gt 20
t_like "$(summary_field "$out" "(all)" old sqlstates)" '^42703:[0-9]+$' "with SQLSTATE 42703 only"
t_like "$summary" 'errors of group old: [0-9]+ \(by SQLSTATE 42703:[0-9]+\)' "the summary counts them by SQLSTATE"
t_like "$summary" 'rename +42703 +column "name" does not exist' "and shows the first ones with their message"
t_is "$(summary_field "$out" "(all)" new errors)" 0 "the new version, through its view, sees no error"
t_like "$load_err" 'phase rename' "the phase change is logged on stderr"

# 3. the picture
t_ok "--plot writes an SVG" "$L" --plot "$out" "$T_TMP/rename.svg" --title 'rename <under> load & "quotes"'
svg=$(<"$T_TMP/rename.svg")
t_like "$svg" '<svg xmlns="http://www.w3.org/2000/svg"' "it is SVG"
t_like "$svg" '>rename</text>' "with the phase names"
t_like "$svg" 'fill="#d62728"><title>second [0-9]+: [0-9]+ errors' "and red marks for the errors"
t_like "$svg" 'rename &lt;under&gt; load &amp; &quot;quotes&quot;' "the title is escaped"
t_ok "it is well-formed XML" python3 -c 'import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])' \
	"$T_TMP/rename.svg"

# 4. usage errors
t_exit 2 "no group is a usage error" "$L" --duration 1s
t_like "$T_ERR" 'no --group given' "and says so"
t_exit 2 "a parameter beyond \$3 is a usage error" "$L" --group g:1:1 --read 'SELECT $4'
t_like "$T_ERR" 'only \$1 \(key\), \$2 \(integer\) and \$3 \(text\)' "and names the parameters"
t_exit 2 "a statement before any --group is a usage error" "$L" --read 'SELECT 1'
t_exit 2 "a mix without its statement is a usage error" "$L" --group g:1:1::1/1/0 --read 'SELECT 1'
t_exit 1 "an unreachable database fails at once" "$L" --db 'dbname=load port=1' --duration 1s \
	--group g:1:1 --read 'SELECT 1'
t_like "$T_ERR" 'cannot connect' "and says why"

t_done
