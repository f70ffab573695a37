#!/usr/bin/env bash
# Run the integration tests: tests/run-integration.sh [-j N] [--as-owner] [TEST...]
#
# Starts ONE throwaway cluster (tests/lib/cluster.sh) and runs each
# tests/integration/t_*.sh, or the TESTs named (t_x.sh, t_x or a path), as
# its own bash process, N at a time (default 2), each under a timeout.
# A file gets the shared cluster in PGHOST/PGPORT/CLUSTER_*, SHUNT_BIN,
# T_RESULTS (its counts file, see tests/lib/testlib.sh) and
# SHUNT_TEST_TMPDIR (its own scratch dir, for replicas and private clusters).
# Isolation comes from each file creating its own databases; a file that must
# restart a server starts a private cluster with cluster_start.
#
# One shared server instead of one per file (STYLE.md 8 suggests the latter)
# because initdb + start costs ~1 s per file on 2 cores and the files never
# share a database; cluster_start stays available where a file needs it.
#
# Prints "ok"/"FAIL" per file as it finishes (with its log when it fails)
# and exactly one closing line "integration: N passed, M failed", which CI
# reads.  A file that crashes or times out counts as one more failure.  Exits
# 1 if anything failed.  All servers are stopped on every exit path (the
# trap in cluster.sh); the run dir with logs and data dirs is removed on
# success and kept on failure or with SHUNT_TEST_NOCLEAN=1.
#
# Environment: SHUNT_BIN (default ./shunt), SHUNT_TOOLS (the test drivers of
# tests/tools, default build/tests/tools), SHUNT_TEST_AS_OWNER=1 (same as
# --as-owner: files connect as a non-superuser database owner),
# SHUNT_TEST_JOBS (default for -j, as make passes no flags),
# SHUNT_TEST_TIMEOUT (seconds per file, default 600), SHUNT_TEST_TMPDIR,
# SHUNT_TEST_NOCLEAN, PG_BINDIR.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# wait -n -p (which job finished) is bash 5.1; Debian 12 has 5.2.
if ((BASH_VERSINFO[0] * 100 + BASH_VERSINFO[1] < 501)); then
	echo "run-integration: needs bash 5.1 or later" >&2
	exit 2
fi

usage() {
	echo "usage: tests/run-integration.sh [-j N] [--as-owner] [TEST...]"
}

parallel=${SHUNT_TEST_JOBS:-2}
names=()
while (($#)); do
	case $1 in
	-j)
		parallel=${2:-}
		shift 2 || { usage >&2; exit 2; }
		;;
	-j*)
		parallel=${1#-j}
		shift
		;;
	--as-owner)
		export SHUNT_TEST_AS_OWNER=1
		shift
		;;
	-h | --help)
		usage
		exit 0
		;;
	--)
		shift
		names+=("$@")
		break
		;;
	-*)
		usage >&2
		exit 2
		;;
	*)
		names+=("$1")
		shift
		;;
	esac
done
if ! [[ $parallel =~ ^[1-9][0-9]*$ ]]; then
	echo "run-integration: -j needs a positive number, not '$parallel'" >&2
	exit 2
fi
timeout_s=${SHUNT_TEST_TIMEOUT:-600}

files=()
if ((${#names[@]} == 0)); then
	shopt -s nullglob
	files=("$ROOT"/tests/integration/t_*.sh)
	shopt -u nullglob
else
	for name in "${names[@]}"; do
		for candidate in "$name" "$ROOT/tests/integration/$name" "$ROOT/tests/integration/$name.sh"; do
			if [[ -f $candidate ]]; then
				candidate=$(cd "$(dirname "$candidate")" && pwd)/$(basename "$candidate")
				# Logs and results are keyed by file name: run each once.
				if [[ " ${files[*]} " != *" $candidate "* ]]; then
					files+=("$candidate")
				fi
				continue 2
			fi
		done
		echo "run-integration: no test file '$name' in tests/integration" >&2
		exit 2
	done
fi

# shellcheck source=tests/lib/cluster.sh
source "$ROOT/tests/lib/cluster.sh"

export SHUNT_BIN=${SHUNT_BIN:-$ROOT/shunt}
export SHUNT_TOOLS=${SHUNT_TOOLS:-$ROOT/build/tests/tools}
if [[ ! -x $SHUNT_BIN ]]; then
	echo "# note: SHUNT_BIN=$SHUNT_BIN is not executable; files that run shunt will fail"
fi

run_dir=
cluster_mktemp run_dir shunt-test
mkdir "$run_dir/logs" "$run_dir/results" "$run_dir/tmp"
# The shared cluster lives inside the run dir too, so one rm (or one "kept"
# message) covers everything.
SHUNT_TEST_TMPDIR=$run_dir cluster_start shared
mode=superuser
if [[ ${SHUNT_TEST_AS_OWNER:-0} == 1 ]]; then
	mode="database owner"
fi
echo "# integration: ${#files[@]} file(s), $parallel at a time, as $mode; server log $CLUSTER_LOG"

total_passed=0
total_failed=0
declare -A job_name=() job_start=()

# Start one file in the background.  `timeout` gives each file its own
# process group, so a terminal ^C reaches only this runner, whose trap then
# sends TERM (forwarded by timeout to the whole group) and waits for the
# files' own traps to stop their replicas.
launch() {
	local file=$1 name
	name=$(basename "$file")
	mkdir "$run_dir/tmp/$name"
	if [[ $EUID -eq 0 ]]; then
		chmod 0711 "$run_dir/tmp/$name" # the server user must reach replica dirs inside
	fi
	T_RESULTS="$run_dir/results/$name" SHUNT_TEST_TMPDIR="$run_dir/tmp/$name" \
		timeout -k 15 "$timeout_s" bash "$file" </dev/null >"$run_dir/logs/$name.log" 2>&1 &
	job_name[$!]=$name
	job_start[$!]=${EPOCHREALTIME/./}
}

# Wait for any one file to finish, print its line, add up its counts.
reap() {
	local pid rc=0 name log res p=0 f=0 d=0 ms status note=
	wait -n -p pid || rc=$?
	name=${job_name[$pid]}
	unset "job_name[$pid]"
	ms=$(((${EPOCHREALTIME/./} - ${job_start[$pid]}) / 1000))
	unset "job_start[$pid]"
	log=$run_dir/logs/$name.log
	res=$run_dir/results/$name
	if [[ -f $res ]]; then
		read -r p f d <<<"$(sed -E 's/(passed|failed|done)=//g' "$res")"
	fi
	if ((rc == 0 && d == 1 && f == 0)); then
		status=ok
	elif ((d == 1 && f > 0)); then
		status=FAIL
	else
		status=FAIL
		f=$((f + 1))
		if ((rc == 124 || rc == 137)); then
			note=" (timed out after ${timeout_s}s)"
		else
			note=" (stopped before t_done, exit $rc)"
		fi
	fi
	total_passed=$((total_passed + p))
	total_failed=$((total_failed + f))
	printf '%-4s %-36s %3d passed, %d failed %6d.%03ds%s\n' \
		"$status" "$name" "$p" "$f" $((ms / 1000)) $((ms % 1000)) "$note"
	if [[ $status != ok ]]; then
		sed 's/^/    /' "$log" | tail -n 150
	fi
}

for file in "${files[@]}"; do
	while ((${#job_name[@]} >= parallel)); do
		reap
	done
	launch "$file"
done
while ((${#job_name[@]} > 0)); do
	reap
done

# Stop and clean up before the closing line, so that line is the last one.
if ((total_failed > 0)); then
	cluster_mark_failed
fi
cluster_stop
if [[ -d $run_dir ]]; then
	echo "# kept $run_dir (per-file logs in logs/)" >&2
fi
echo "integration: $total_passed passed, $total_failed failed"
if ((total_failed > 0)); then
	exit 1
fi
