# shellcheck shell=bash
# Assertions for the integration test files (sourced, not run).
#
#   #!/usr/bin/env bash
#   set -euo pipefail
#   source "$(dirname "$0")/../lib/testlib.sh"
#   t_createdb mydb
#   t_exit 0 "apply succeeds" "$SHUNT_BIN" apply ...
#   t_is "$(t_sql mydb 'SELECT count(*) FROM t')" 10 "rows survive"
#   t_done
#
# Output is TAP-ish ("ok N - desc", "not ok N - desc" plus "#" detail lines)
# and ends with "# FILE: N passed, M failed" from t_done.  After every
# assertion the counts are written to $T_RESULTS (when set) as
# "passed=N failed=M done=0|1", so tests/run-integration.sh can sum them and
# tell a file that died half-way (done=0) from one that finished.
#
# Run by the runner, the file gets the shared cluster through PGHOST/PGPORT
# and CLUSTER_*; run on its own (bash tests/integration/t_x.sh) it starts a
# private cluster here, so every file also works standalone.
#
# The cleanup trap comes from cluster.sh; a test that needs its own cleanup
# registers it with cluster_at_exit rather than replacing the EXIT trap.
#
# Two things to know: t_ok and t_exit run CMD inside $(...), so a CMD that
# changes shell state (cluster_replica_start, t_createdb, cd, variables)
# loses it: call those directly.  A VAR=value prefix on an assertion applies
# to everything the assertion does (its psql, its bookkeeping); for CMD alone
# write `t_exit 0 desc env VAR=value cmd`.

if [[ -n ${_T_LOADED:-} ]]; then
	return 0
fi
_T_LOADED=1

# shellcheck source=tests/lib/cluster.sh
source "$(dirname "${BASH_SOURCE[0]}")/cluster.sh"

T_FILE=$(basename "$0")
T_OUT=
T_ERR=
T_RC=0
T_SUPERUSER=postgres
T_OWNER_ROLE=shunt_owner
_T_PASSED=0
_T_FAILED=0
_T_DONE=0

if [[ -z ${SHUNT_BIN:-} ]]; then
	SHUNT_BIN=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/shunt
fi
export SHUNT_BIN

# Private scratch space (captured stderr, files a test writes); it goes or
# stays together with the clusters.
cluster_mktemp T_TMP "${T_FILE%.sh}"

if [[ -z ${CLUSTER_HOST:-} ]]; then
	cluster_start "${T_FILE%.sh}"
fi

_t_record() {
	if [[ -n ${T_RESULTS:-} ]]; then
		printf 'passed=%d failed=%d done=%d\n' "$_T_PASSED" "$_T_FAILED" "$_T_DONE" >"$T_RESULTS"
	fi
}

# Print $2 (possibly many lines) under the label $1, each line as a comment.
_t_show() {
	local label=$1 line
	printf '#   %s\n' "$label"
	while IFS= read -r line; do
		printf '#     %s\n' "$line"
	done <<<"$2"
}

_t_pass() {
	_T_PASSED=$((_T_PASSED + 1))
	printf 'ok %d - %s\n' "$((_T_PASSED + _T_FAILED))" "$1"
	_t_record
}

# _t_fail DESC [LABEL VALUE]...: report a failure with labelled values and,
# if the last captured command wrote to stderr, that too.
_t_fail() {
	_T_FAILED=$((_T_FAILED + 1))
	printf 'not ok %d - %s\n' "$((_T_PASSED + _T_FAILED))" "$1"
	shift
	while (($# >= 2)); do
		_t_show "$1" "$2"
		shift 2
	done
	if [[ -n $T_ERR ]]; then
		_t_show "stderr of the last command:" "$T_ERR"
	fi
	cluster_mark_failed
	_t_record
}

# Run "$@", leaving stdout in T_OUT, stderr in T_ERR and the exit code in
# T_RC (trailing newlines stripped, as with $(...)).  The command runs in an
# `if`, so `set -e` does not apply inside a shell function given here.
_t_run() {
	local errfile=$T_TMP/stderr
	if T_OUT=$("$@" 2>"$errfile"); then
		T_RC=0
	else
		T_RC=$?
	fi
	T_ERR=$(<"$errfile")
}

# t_ok DESC CMD...: passes if CMD exits 0.  Sets T_OUT, T_ERR, T_RC.
t_ok() {
	local desc=$1
	shift
	_t_run "$@"
	if ((T_RC == 0)); then
		_t_pass "$desc"
	else
		_t_fail "$desc" "command:" "$*" "expected exit code:" 0 "got exit code:" "$T_RC" \
			"stdout:" "$T_OUT"
	fi
}

# t_exit CODE DESC CMD...: passes if CMD exits with CODE.  Sets T_OUT, T_ERR,
# T_RC for further checks (t_like "$T_ERR" ...).
t_exit() {
	local want=$1 desc=$2
	shift 2
	_t_run "$@"
	if ((T_RC == want)); then
		_t_pass "$desc"
	else
		_t_fail "$desc" "command:" "$*" "expected exit code:" "$want" "got exit code:" "$T_RC" \
			"stdout:" "$T_OUT"
	fi
}

# t_is GOT EXPECTED DESC: exact string equality.
t_is() {
	if [[ $1 == "$2" ]]; then
		_t_pass "$3"
	else
		_t_fail "$3" "got:" "'$1'" "expected:" "'$2'"
	fi
}

# t_like GOT REGEX DESC: GOT matches the extended regex (bash =~, unanchored;
# `.` also matches newlines).
t_like() {
	if [[ $1 =~ $2 ]]; then
		_t_pass "$3"
	else
		_t_fail "$3" "got:" "'$1'" "expected to match:" "$2"
	fi
}

# t_unlike GOT REGEX DESC: GOT does not match the regex.
t_unlike() {
	if [[ $1 =~ $2 ]]; then
		_t_fail "$3" "got:" "'$1'" "expected not to match:" "$2"
	else
		_t_pass "$3"
	fi
}

# t_pass DESC / t_fail DESC [DETAIL]: for checks the above do not cover.
t_pass() {
	_t_pass "$1"
}

t_fail() {
	_t_fail "$1" "detail:" "${2:-}"
}

# t_diag MSG: a comment line in the output.
t_diag() {
	printf '# %s\n' "$*"
}

# t_sql DB SQL: run SQL in database DB as $PGUSER on $PGHOST/$PGPORT and
# print the result unaligned, tuples only (psql -XAtq, ON_ERROR_STOP).  The
# SQL goes in on stdin, so several statements run as in a script (not as one
# implicit transaction, as -c would) and psql variables work.  DB goes in as
# PGDATABASE because -d would treat a name with '=' as a connection string.
# Returns psql's exit code: under `set -e`, `x=$(t_sql ...)` stops the file.
# Point it elsewhere with a prefix: PGHOST=$REPLICA_HOST PGPORT=$REPLICA_PORT t_sql ...
t_sql() {
	PGDATABASE=$1 "$PG_BINDIR/psql" -X -A -t -q -v ON_ERROR_STOP=1 -f - <<<"$2"
}

# t_sql_super DB SQL: t_sql as the superuser, for setup a database owner may
# not do (CREATE EXTENSION of untrusted extensions, reading the server log).
t_sql_super() {
	PGUSER=$T_SUPERUSER t_sql "$@"
}

# t_sql_is DB SQL EXPECTED DESC: the result of SQL equals EXPECTED; an SQL
# error is a failure with psql's message, not the end of the file.
t_sql_is() {
	_t_run t_sql "$1" "$2"
	if ((T_RC != 0)); then
		_t_fail "$4" "sql:" "$2" "psql exit code:" "$T_RC"
	else
		t_is "$T_OUT" "$3" "$4"
	fi
}

# t_sql_eventually DB SQL EXPECTED DESC [SECONDS]: like t_sql_is, but polls
# every 0.1 s for up to SECONDS (default 10) until the result equals
# EXPECTED; for replication, background workers and concurrent writers.
t_sql_eventually() {
	local db=$1 sql=$2 want=$3 desc=$4 secs=${5:-10} i
	for ((i = 0; i < secs * 10; i++)); do
		_t_run t_sql "$db" "$sql"
		if ((T_RC == 0)) && [[ $T_OUT == "$want" ]]; then
			_t_pass "$desc"
			return 0
		fi
		sleep 0.1
	done
	_t_fail "$desc" "sql:" "$sql" "last result after ${secs}s:" "'$T_OUT'" "expected:" "'$want'"
}

# True when the run asks tests to connect as a database owner, not the
# superuser (SHUNT_TEST_AS_OWNER=1, run-integration.sh --as-owner).
t_as_owner() {
	[[ ${SHUNT_TEST_AS_OWNER:-0} == 1 ]]
}

# t_createdb NAME: a fresh, empty database NAME on the current cluster.  In
# as-owner mode it belongs to the role shunt_owner (LOGIN NOSUPERUSER,
# created if missing) and PGUSER becomes that role for the rest of the file,
# so shunt and t_sql run with an owner's rights only.  Call it directly, not
# in $(...), or the PGUSER change is lost.
t_createdb() {
	local db=${1:?usage: t_createdb NAME}
	if t_as_owner; then
		# Parallel files may race to create the role: the loser gets
		# duplicate_object or, inside the catalog, unique_violation.
		PGUSER=$T_SUPERUSER t_sql postgres "DO \$\$ BEGIN
			CREATE ROLE $T_OWNER_ROLE LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
		EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
		END \$\$;" || return 1
		cluster_createdb "$db" "$T_OWNER_ROLE" || return 1
		export PGUSER=$T_OWNER_ROLE
	else
		cluster_createdb "$db" || return 1
	fi
}

# t_done: print the closing line, record the counts, and exit 1 if anything
# failed or nothing was checked at all (an empty file is a broken file).
t_done() {
	_T_DONE=1
	if ((_T_PASSED + _T_FAILED == 0)); then
		_t_fail "$T_FILE ran no assertions"
	fi
	_t_record
	printf '# %s: %d passed, %d failed\n' "$T_FILE" "$_T_PASSED" "$_T_FAILED"
	if ((_T_FAILED > 0)); then
		exit 1
	fi
	exit 0
}

# A file that stops before t_done (set -e, a crash, a signal) says where:
# the line in the test file (the outermost frame) and the command that
# failed, which may be inside a helper.  errtrace (-E) so the trap also sees
# failures inside functions such as t_sql; only the top-level shell reports,
# or a failure inside $(...) would be reported twice.
_t_on_err() {
	local line=${BASH_LINENO[${#BASH_LINENO[@]} - 2]} src
	if ((BASH_SUBSHELL == 0)); then
		src=$(sed -n "${line}{s/^[[:space:]]*//;p}" "$0" 2>/dev/null) || src=
		printf '# %s: stopped at line %s: %s\n#   failed: %s\n' "$T_FILE" "$line" "$src" "$1" >&2
	fi
}
set -E
trap '_t_on_err "$BASH_COMMAND"' ERR

_t_at_exit() {
	if ((_T_DONE == 0)); then
		printf '# %s: stopped before t_done after %d passed, %d failed\n' \
			"$T_FILE" "$_T_PASSED" "$_T_FAILED" >&2
	fi
}
cluster_at_exit _t_at_exit
