# shellcheck shell=bash
# Throwaway PostgreSQL clusters for the integration tests (sourced, not run).
#
# Modelled on PostgreSQL's src/test/perl/PostgreSQL/Test/Cluster.pm: every
# server lives in a fresh temp dir, listens only on a unix socket in a private
# 0700 directory, is stopped with -m immediate by an exit trap on every exit
# path, and its data dir and log are kept on failure or SHUNT_TEST_NOCLEAN=1.
#
# Sourcing starts nothing and installs no trap: a test file run by
# tests/run-integration.sh sources this only to reach the runner's shared
# cluster (CLUSTER_* and PG* arrive in its environment) and perhaps to start
# a replica or a private cluster of its own.  A shell only ever stops the
# servers it started itself, so a test file can never stop the shared one.
# The EXIT/INT/TERM/HUP trap is installed by the first cluster_start,
# cluster_replica_start, cluster_mktemp or cluster_at_exit.
#
# Functions (all return non-zero with a message on stderr on failure):
#   cluster_start NAME        initdb + start a new primary; it becomes the
#                             current cluster: sets CLUSTER_NAME CLUSTER_DIR
#                             CLUSTER_DATA CLUSTER_LOG CLUSTER_HOST
#                             CLUSTER_PORT and exports them and PGHOST
#                             PGPORT PGUSER=postgres PGDATABASE=postgres
#   cluster_createdb NAME [OWNER]
#                             (re)create database NAME on the current cluster
#   cluster_replica_start [NAME]
#                             streaming replica of the current cluster, waits
#                             until the primary reports it streaming; sets
#                             REPLICA_DIR REPLICA_DATA REPLICA_LOG
#                             REPLICA_HOST REPLICA_PORT (exported)
#   cluster_replica_stop      stop that replica and drop its slot on the
#                             primary (its dir goes at exit)
#   cluster_restart           pg_ctl restart -m fast (own clusters only)
#   cluster_stop              stop every server this shell started and
#                             remove their dirs (or keep them, see below)
#   cluster_mktemp VAR NAME   a temp dir under SHUNT_TEST_TMPDIR, removed or
#                             kept together with the clusters
#   cluster_at_exit CMD...    run CMD at exit, before the servers stop
#   cluster_mark_failed       keep the dirs at exit even if the shell exits 0
#
# Environment: PG_BINDIR (else `pg_config --bindir`, else
# /usr/lib/postgresql/15/bin), SHUNT_TEST_TMPDIR (default /tmp),
# SHUNT_TEST_NOCLEAN=1 (keep everything).  PG_BINDIR is put first on PATH so
# psql, pgbench and pg_repack match the server.
#
# initdb and pg_ctl refuse to run as root, so when we are root the server
# runs as the OS user `postgres` (via runuser); otherwise as ourselves.  The
# bootstrap superuser is named postgres either way (initdb -U).

if [[ -n ${_CLUSTER_SH_LOADED:-} ]]; then
	return 0
fi
_CLUSTER_SH_LOADED=1

# Bookkeeping for what this shell started; deliberately not exported.
# Helpers that return a value through a nameref (local -n) give their own
# locals a prefix, because bash resolves the nameref in the callee's scope.
_CLUSTER_OWNED=()  # data dirs of running servers we started, oldest first
_CLUSTER_DIRS=()   # temp dirs to remove (or keep) at cleanup, oldest first
_CLUSTER_HOOKS=()  # commands for cluster_at_exit
_CLUSTER_PORTS=()  # ports handed out here, so primary and replica differ
declare -gA _CLUSTER_LOGS=() # data dir -> server log, for the "kept" message
_CLUSTER_REPLICA=     # data dir of the replica this shell started
_CLUSTER_REPLICA_SLOT=() # its primary's host, port and slot name
_CLUSTER_TRAPPED=
_CLUSTER_FAILED=
_CLUSTER_CLEANED=

# Where the PostgreSQL binaries are: STYLE.md 8 says PG_BINDIR, else
# pg_config --bindir.  On Debian pg_config comes from libpq-dev and may
# belong to a newer client-only version, so accept it only if it has initdb.
_cluster_find_bindir() {
	if [[ -n ${PG_BINDIR:-} ]]; then
		if [[ ! -x $PG_BINDIR/initdb ]]; then
			echo "cluster: PG_BINDIR=$PG_BINDIR has no initdb" >&2
			return 1
		fi
		return 0
	fi
	local dir
	dir=$(pg_config --bindir 2>/dev/null) || dir=
	if [[ -z $dir || ! -x $dir/initdb ]]; then
		dir=/usr/lib/postgresql/15/bin
	fi
	if [[ ! -x $dir/initdb ]]; then
		echo "cluster: no PostgreSQL server binaries found; set PG_BINDIR" >&2
		return 1
	fi
	PG_BINDIR=$dir
}

if _cluster_find_bindir; then
	export PG_BINDIR
	case ":$PATH:" in
	*":$PG_BINDIR:"*) ;;
	*) export PATH="$PG_BINDIR:$PATH" ;;
	esac
fi

if [[ $EUID -eq 0 ]]; then
	_CLUSTER_OSUSER=postgres
else
	_CLUSTER_OSUSER=$(id -un)
fi

# Run a server-side command as the server's OS user.  `cd /` because root's
# cwd (often /root, mode 0700) is unreadable for postgres and initdb/pg_ctl
# complain about it.
_cluster_srv() {
	if [[ $EUID -eq 0 ]]; then
		(cd / && runuser -u "$_CLUSTER_OSUSER" -- "$@")
	else
		"$@"
	fi
}

# Superuser psql against host/port $1/$2; SQL on stdin, psql variables
# allowed (-v), so names can be quoted with :"var" / :'var'.  NOTICEs such
# as "does not exist, skipping" would only clutter test logs.
_cluster_psql() {
	local host=$1 port=$2
	shift 2
	PGHOST=$host PGPORT=$port PGUSER=postgres PGDATABASE=postgres \
		PGOPTIONS='-c client_min_messages=warning' \
		"$PG_BINDIR/psql" -X -A -t -q -v ON_ERROR_STOP=1 "$@"
}

_cluster_preflight() {
	if [[ -z ${PG_BINDIR:-} ]]; then
		_cluster_find_bindir || return 1
	fi
	if [[ $EUID -eq 0 ]]; then
		if ! id -u "$_CLUSTER_OSUSER" >/dev/null 2>&1; then
			echo "cluster: running as root needs the OS user '$_CLUSTER_OSUSER' for the server (installed with postgresql-15)" >&2
			return 1
		fi
		if ! command -v runuser >/dev/null 2>&1; then
			echo "cluster: running as root needs runuser (util-linux)" >&2
			return 1
		fi
	fi
	_cluster_install_trap
}

# cluster_mktemp VAR NAME: make a temp dir under SHUNT_TEST_TMPDIR, store its
# path in VAR, and register it for removal (or keeping) at cleanup.  As root
# the dir is 0711: the server user must be able to pass through it to the
# cluster dirs inside, but not list it.
cluster_mktemp() {
	local -n _cm_out=$1
	local _cm_base=${SHUNT_TEST_TMPDIR:-/tmp} _cm_dir
	_cluster_install_trap
	mkdir -p "$_cm_base"
	_cm_dir=$(mktemp -d "$_cm_base/$2.XXXXXX") || return 1
	if [[ $EUID -eq 0 ]]; then
		chmod 0711 "$_cm_dir"
	fi
	_CLUSTER_DIRS+=("$_cm_dir")
	_cm_out=$_cm_dir
}

# A dir owned by the server user, mode 0700, registered for cleanup.
_cluster_server_dir() {
	local -n _sd_out=$1
	local _sd_dir
	cluster_mktemp _sd_dir "$2" || return 1
	chmod 0700 "$_sd_dir"
	if [[ $EUID -eq 0 ]]; then
		chown "$_CLUSTER_OSUSER:" "$_sd_dir"
		if ! _cluster_srv test -w "$_sd_dir"; then
			echo "cluster: the server user '$_CLUSTER_OSUSER' cannot reach $_sd_dir;" \
				"set SHUNT_TEST_TMPDIR to a directory it can traverse, such as /tmp" >&2
			return 1
		fi
	fi
	_sd_out=$_sd_dir
}

# Set VAR to a port no TCP socket listens on.  Our servers listen on no TCP port
# at all (listen_addresses=''), and each has its own socket dir, so a clash
# could not break them; a free port still matters because it names the socket
# file and seeds the SysV key, and keeps the numbers honest should a test
# ever turn TCP on.  /proc/net/tcp is read instead of ss, which may be
# missing, and the Debian cluster's 5432 is excluded by the range.
_cluster_free_port() {
	local -n _fp_out=$1
	local _fp_taken=" ${_CLUSTER_PORTS[*]} " _fp_st _fp_addr _fp_port _fp_i
	while read -r _ _fp_addr _ _fp_st _; do
		if [[ $_fp_st == 0A ]]; then
			_fp_taken+="$((16#${_fp_addr##*:})) "
		fi
	done < <(cat /proc/net/tcp /proc/net/tcp6 2>/dev/null)
	for ((_fp_i = 0; _fp_i < 200; _fp_i++)); do
		_fp_port=$((20000 + RANDOM % 30000))
		if [[ $_fp_taken != *" $_fp_port "* ]]; then
			_CLUSTER_PORTS+=("$_fp_port")
			_fp_out=$_fp_port
			return 0
		fi
	done
	echo "cluster: no free port found" >&2
	return 1
}

# A value for a single-quoted postgresql.conf string.
_cluster_conf_quote() {
	printf "'%s'" "${1//\'/\'\'}"
}

# Start the server in data dir $1 logging to $2, wait until it accepts
# connections; on failure show the end of the log.
_cluster_pg_ctl_start() {
	local data=$1 log=$2
	if ! _cluster_srv "$PG_BINDIR/pg_ctl" -D "$data" -l "$log" -w -t 60 -s start; then
		echo "cluster: server in $data did not start; end of $log:" >&2
		tail -n 30 "$log" >&2 || true
		return 1
	fi
}

# Set VAR to a new private socket dir inside cluster dir $2 for port $3.
_cluster_new_socket_dir() {
	local -n _ns_out=$1
	local _ns_sock=$2/sock
	# Socket paths must fit sun_path: 107 bytes plus the NUL, of which
	# "/.s.PGSQL." and the port take ~15.
	if ((${#_ns_sock} + 10 + ${#3} > 107)); then
		echo "cluster: socket path $_ns_sock is too long; use a shorter SHUNT_TEST_TMPDIR" >&2
		return 1
	fi
	_cluster_srv mkdir -m 0700 "$_ns_sock" || return 1
	_ns_out=$_ns_sock
}

cluster_start() {
	local name=${1:?usage: cluster_start NAME}
	_cluster_preflight || return 1
	local dir data log sock port
	_cluster_server_dir dir "$name" || return 1
	data=$dir/data
	# Beside the data dir, not in it: pg_basebackup would copy a log inside
	# data/ into every replica, which would then append to the primary's.
	log=$dir/server.log
	_cluster_free_port port || return 1
	_cluster_new_socket_dir sock "$dir" "$port" || return 1

	if ! _cluster_srv "$PG_BINDIR/initdb" -D "$data" -A trust -N --no-instructions \
		-E UTF8 --locale=C -U postgres >"$dir/initdb.log" 2>&1; then
		echo "cluster: initdb failed for $name:" >&2
		cat "$dir/initdb.log" >&2
		return 1
	fi

	# Durability is irrelevant for a throwaway cluster and costs most of the
	# run time; logical WAL, senders and slots let tests use replicas and
	# logical decoding; log_statement=all with %a lets tests assert what
	# shunt sent (PostgreSQL's issues_sql_like); 200 connections leave room
	# for parallel test files with concurrent writers.
	cat >>"$data/postgresql.conf" <<-EOF

		# tests/lib/cluster.sh
		port = $port
		listen_addresses = ''
		unix_socket_directories = $(_cluster_conf_quote "$sock")
		fsync = off
		synchronous_commit = off
		full_page_writes = off
		wal_level = logical
		max_wal_senders = 10
		max_replication_slots = 10
		max_connections = 200
		shared_preload_libraries = 'pg_stat_statements'
		log_statement = 'all'
		log_line_prefix = '%m [%p] %a '
		logging_collector = off
		lc_messages = 'C'
		cluster_name = $(_cluster_conf_quote "$name")
	EOF

	_cluster_pg_ctl_start "$data" "$log" || return 1
	_CLUSTER_OWNED+=("$data")
	_CLUSTER_LOGS[$data]=$log

	export CLUSTER_NAME=$name CLUSTER_DIR=$dir CLUSTER_DATA=$data CLUSTER_LOG=$log
	export CLUSTER_HOST=$sock CLUSTER_PORT=$port
	export PGHOST=$sock PGPORT=$port PGUSER=postgres PGDATABASE=postgres
}

# cluster_createdb NAME [OWNER]: drop NAME if it exists (WITH (FORCE), so a
# rerun after a crash is not blocked by leftover sessions) and create it
# afresh on the current cluster, owned by OWNER if given.
cluster_createdb() {
	local db=${1:?usage: cluster_createdb NAME [OWNER]} owner=${2:-}
	local sql='DROP DATABASE IF EXISTS :"db" WITH (FORCE);'
	if [[ -n $owner ]]; then
		sql+=$'\nCREATE DATABASE :"db" OWNER :"owner";'
	else
		sql+=$'\nCREATE DATABASE :"db";'
	fi
	_cluster_psql "$CLUSTER_HOST" "$CLUSTER_PORT" -v db="$db" -v owner="$owner" <<<"$sql"
}

# Wait until the primary at $1/$2 reports application_name $3 streaming.
_cluster_wait_streaming() {
	local host=$1 port=$2 app=$3 i state
	local sql="SELECT state FROM pg_catalog.pg_stat_replication WHERE application_name = :'app';"
	for ((i = 0; i < 300; i++)); do
		state=$(_cluster_psql "$host" "$port" -v app="$app" <<<"$sql") || state=
		if [[ $state == streaming ]]; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

cluster_replica_start() {
	local name=${1:-replica}
	if [[ -z ${CLUSTER_HOST:-} ]]; then
		echo "cluster: cluster_replica_start needs a running cluster (cluster_start)" >&2
		return 1
	fi
	if [[ -n $_CLUSTER_REPLICA ]]; then
		echo "cluster: this shell already runs a replica in $_CLUSTER_REPLICA" >&2
		return 1
	fi
	_cluster_preflight || return 1
	local dir data log sock port slot
	_cluster_server_dir dir "$name" || return 1
	data=$dir/data
	log=$dir/server.log
	_cluster_free_port port || return 1
	_cluster_new_socket_dir sock "$dir" "$port" || return 1
	# Slot and application name in one, unique per replica, so parallel
	# files' replicas of the shared primary each find their own row in
	# pg_stat_replication; slot names allow only [a-z0-9_].
	slot=${name,,}
	slot="shunt_${slot//[^a-z0-9_]/_}_$port"

	# -C -S: a physical slot keeps the primary from recycling WAL between
	# the end of the backup and the replica's first connection (seen: with
	# two files backing up at once, "requested WAL segment ... has already
	# been removed" and a replica that never streams).  -R writes
	# primary_conninfo and primary_slot_name; -c fast skips waiting for a
	# spread checkpoint; -N because nothing here must survive a crash.
	if ! _cluster_srv "$PG_BINDIR/pg_basebackup" -D "$data" -R -X stream -c fast -N \
		-C -S "$slot" \
		-d "host=$CLUSTER_HOST port=$CLUSTER_PORT user=postgres application_name=$slot" \
		>"$dir/basebackup.log" 2>&1; then
		echo "cluster: pg_basebackup failed:" >&2
		cat "$dir/basebackup.log" >&2
		_cluster_drop_slot "$CLUSTER_HOST" "$CLUSTER_PORT" "$slot"
		return 1
	fi
	_CLUSTER_REPLICA=$data
	_CLUSTER_REPLICA_SLOT=("$CLUSTER_HOST" "$CLUSTER_PORT" "$slot")
	# The copied postgresql.conf points at the primary's port and socket dir;
	# later lines win.
	cat >>"$data/postgresql.conf" <<-EOF

		# tests/lib/cluster.sh: replica
		port = $port
		unix_socket_directories = $(_cluster_conf_quote "$sock")
		hot_standby = on
		cluster_name = $(_cluster_conf_quote "$name")
	EOF

	_cluster_pg_ctl_start "$data" "$log" || return 1
	_CLUSTER_OWNED+=("$data")
	_CLUSTER_LOGS[$data]=$log
	export REPLICA_DIR=$dir REPLICA_DATA=$data REPLICA_LOG=$log
	export REPLICA_HOST=$sock REPLICA_PORT=$port

	if ! _cluster_wait_streaming "$CLUSTER_HOST" "$CLUSTER_PORT" "$slot"; then
		echo "cluster: replica $name is not streaming after 30s; end of $log:" >&2
		tail -n 30 "$log" >&2 || true
		return 1
	fi
}

# Drop slot $3 on the primary at $1/$2 if it exists.  Right after its
# replica stops the walsender may still hold it ("is active for PID"), so
# retry for a few seconds.  A slot left behind would pin WAL and use up
# max_replication_slots on the shared cluster.
_cluster_drop_slot() {
	local host=$1 port=$2 slot=$3 i
	local sql="SELECT pg_catalog.pg_drop_replication_slot(slot_name)
		FROM pg_catalog.pg_replication_slots WHERE slot_name = :'slot';"
	for ((i = 0; i < 50; i++)); do
		if _cluster_psql "$host" "$port" -v slot="$slot" <<<"$sql" >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
	done
	echo "cluster: could not drop replication slot $slot" >&2
	return 1
}

# Stop the server in data dir $1 immediately and make sure neither it nor
# its children survive, even if pg_ctl fails.
_cluster_kill_server() {
	local data=$1 pid
	if [[ ! -f $data/postmaster.pid ]]; then
		return 0
	fi
	_cluster_srv "$PG_BINDIR/pg_ctl" -D "$data" -m immediate -w -t 30 -s stop >/dev/null 2>&1 || true
	pid=$(head -n 1 "$data/postmaster.pid" 2>/dev/null) || pid=
	# Only a process that really is this data dir's postmaster: the pid file
	# may be stale and its pid reused.
	if [[ $pid =~ ^[0-9]+$ ]] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$data"; then
		pkill -KILL -P "$pid" 2>/dev/null || true
		kill -KILL "$pid" 2>/dev/null || true
	fi
}

_cluster_forget() {
	local data=$1 d keep=()
	for d in "${_CLUSTER_OWNED[@]}"; do
		if [[ $d != "$data" ]]; then
			keep+=("$d")
		fi
	done
	_CLUSTER_OWNED=("${keep[@]}")
}

# Ownership is tracked in _CLUSTER_REPLICA, not REPLICA_DATA: the latter is
# exported, and a child shell must never stop its parent's replica.
cluster_replica_stop() {
	if [[ -z $_CLUSTER_REPLICA ]]; then
		return 0
	fi
	_cluster_kill_server "$_CLUSTER_REPLICA"
	_cluster_forget "$_CLUSTER_REPLICA"
	_cluster_drop_slot "${_CLUSTER_REPLICA_SLOT[@]}" || true
	_CLUSTER_REPLICA=
	_CLUSTER_REPLICA_SLOT=()
	unset REPLICA_DIR REPLICA_DATA REPLICA_LOG REPLICA_HOST REPLICA_PORT
}

cluster_restart() {
	local data=${CLUSTER_DATA:-} d owned=
	for d in "${_CLUSTER_OWNED[@]}"; do
		if [[ $d == "$data" ]]; then
			owned=1
		fi
	done
	if [[ -z $owned ]]; then
		echo "cluster: cluster_restart: this shell did not start the current cluster" \
			"(the runner's is shared by parallel test files); start a private one with cluster_start" >&2
		return 1
	fi
	if ! _cluster_srv "$PG_BINDIR/pg_ctl" -D "$data" -l "$CLUSTER_LOG" -m fast -w -t 60 -s restart; then
		echo "cluster: restart failed; end of $CLUSTER_LOG:" >&2
		tail -n 30 "$CLUSTER_LOG" >&2 || true
		return 1
	fi
}

cluster_mark_failed() {
	_CLUSTER_FAILED=1
}

cluster_at_exit() {
	_cluster_install_trap
	_CLUSTER_HOOKS+=("$(printf '%q ' "$@")")
}

# Stop every server this shell started (replicas first: newest first), then
# any postmaster still running from a registered dir (a child shell's that
# was killed before its own trap ran), then remove the dirs or say where they
# are kept.
cluster_stop() {
	local i data pidfile
	cluster_replica_stop
	for ((i = ${#_CLUSTER_OWNED[@]} - 1; i >= 0; i--)); do
		_cluster_kill_server "${_CLUSTER_OWNED[i]}"
	done
	_CLUSTER_OWNED=()
	for ((i = ${#_CLUSTER_DIRS[@]} - 1; i >= 0; i--)); do
		[[ -d ${_CLUSTER_DIRS[i]} ]] || continue
		while IFS= read -r pidfile; do
			_cluster_kill_server "${pidfile%/postmaster.pid}"
		done < <(find "${_CLUSTER_DIRS[i]}" -maxdepth 6 -name postmaster.pid 2>/dev/null)
	done

	if [[ -n $_CLUSTER_FAILED || ${SHUNT_TEST_NOCLEAN:-0} == 1 ]]; then
		for data in "${!_CLUSTER_LOGS[@]}"; do
			if [[ -d $data ]]; then
				echo "cluster: kept data dir $data, server log ${_CLUSTER_LOGS[$data]}" >&2
			fi
		done
	else
		for ((i = ${#_CLUSTER_DIRS[@]} - 1; i >= 0; i--)); do
			rm -rf -- "${_CLUSTER_DIRS[i]}"
		done
		_CLUSTER_DIRS=()
	fi
	_CLUSTER_LOGS=()
}

# The one cleanup path for EXIT, INT, TERM and HUP.  Runs once; errors
# inside must not stop it, whatever `set -e` the caller has.
_cluster_cleanup() {
	local rc=$1 hook pids pid i
	if [[ -n $_CLUSTER_CLEANED ]]; then
		return 0
	fi
	_CLUSTER_CLEANED=1
	# Best effort from here on: no errexit, and no ERR trap a test library
	# may have set reporting every kill of an already gone process.
	set +e
	trap - ERR
	if [[ $rc -ne 0 ]]; then
		_CLUSTER_FAILED=1
	fi
	for hook in "${_CLUSTER_HOOKS[@]}"; do
		eval "$hook"
	done
	# Background jobs (test files under the runner, concurrent writers in a
	# test) must finish, and run their own traps, before the servers go.
	pids=$(jobs -pr)
	if [[ -n $pids ]]; then
		# shellcheck disable=SC2086 # one pid per word
		kill -TERM $pids 2>/dev/null
		for ((i = 0; i < 150; i++)); do
			pids=$(jobs -pr)
			[[ -z $pids ]] && break
			sleep 0.1
		done
		# shellcheck disable=SC2086
		[[ -n $pids ]] && kill -KILL $pids 2>/dev/null
		wait 2>/dev/null
	fi
	cluster_stop
}

_cluster_on_signal() {
	local sig=$1 code=$2
	echo "cluster: caught SIG$sig, stopping servers" >&2
	_cluster_cleanup "$code"
	trap - EXIT
	exit "$code"
}

_cluster_install_trap() {
	if [[ -n $_CLUSTER_TRAPPED ]]; then
		return 0
	fi
	_CLUSTER_TRAPPED=1
	trap '_cluster_cleanup $?' EXIT
	trap '_cluster_on_signal INT 130' INT
	trap '_cluster_on_signal TERM 143' TERM
	trap '_cluster_on_signal HUP 129' HUP
}
