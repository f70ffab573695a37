#!/usr/bin/env bash
# Self-test of the test harness (tests/lib/cluster.sh, tests/lib/testlib.sh):
# every other integration file trusts that the cluster is configured as
# STYLE.md 8 says, that replicas really replay, and that a failed assertion
# really fails the file.  Each check here compares against the server, so a
# misconfigured harness makes this file fail.
set -euo pipefail
lib=$(cd "$(dirname "$0")/../lib" && pwd)
# shellcheck source=tests/lib/testlib.sh
source "$lib/testlib.sh"

# --- the cluster is the one the harness promises -------------------------
t_sql_is postgres "SELECT 1" 1 "the cluster answers"
t_sql_is postgres "SHOW wal_level" logical "wal_level is logical"
t_sql_is postgres "SHOW listen_addresses" "" "no TCP listener: it cannot collide with other clusters"
t_sql_is postgres "SHOW fsync" off "fsync is off"
t_sql_is postgres "SELECT current_setting('unix_socket_directories') = '$PGHOST'" t \
	"the socket is in the harness's private directory"
t_ok "the socket directory is private (0700)" \
	test "$(stat -c %a "$PGHOST")" = 700

# --- a fresh database ----------------------------------------------------
t_createdb harness
t_sql_is harness "SELECT count(*) FROM pg_catalog.pg_class c
	JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
	WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
	  AND n.nspname NOT LIKE 'pg\\_toast%'" 0 "a fresh database has no relations of its own"
if t_as_owner; then
	t_sql_is harness "SELECT current_user, r.rolsuper, d.datdba = r.oid
		FROM pg_catalog.pg_roles r, pg_catalog.pg_database d
		WHERE r.rolname = current_user AND d.datname = current_database()" \
		"shunt_owner|f|t" "as-owner mode: connected as the database's non-superuser owner"
else
	t_sql_is harness "SELECT current_user, rolsuper FROM pg_catalog.pg_roles
		WHERE rolname = current_user" "postgres|t" "default mode: connected as the superuser"
fi

# --- statements reach the server log with the application name -----------
PGAPPNAME=t_harness t_sql harness "SELECT 'harness log probe'" >/dev/null
t_like "$(grep -F 'harness log probe' "$CLUSTER_LOG" || true)" \
	"\] t_harness LOG:  statement: SELECT 'harness log probe'" \
	"log_statement=all logs statements, prefixed with the application name"

# --- pg_stat_statements --------------------------------------------------
t_sql_super harness "CREATE EXTENSION pg_stat_statements"
t_sql_is harness "SELECT count(*) > 0 FROM pg_stat_statements" t \
	"pg_stat_statements can be created and collects statements"

# --- a streaming replica replays what the primary writes -----------------
if ! cluster_replica_start harness_replica; then
	t_fail "a streaming replica of the cluster starts" "see the cluster: messages above"
	t_done
fi
t_pass "a streaming replica of the cluster starts"
t_sql harness "CREATE TABLE harness_probe (id int PRIMARY KEY, note text);
	INSERT INTO harness_probe VALUES (1, 'from the primary')"
PGHOST=$REPLICA_HOST PGPORT=$REPLICA_PORT t_sql_eventually harness \
	"SELECT note FROM harness_probe WHERE id = 1" "from the primary" \
	"the replica replays a row written on the primary within 5 s" 5
PGHOST=$REPLICA_HOST PGPORT=$REPLICA_PORT t_exit 3 "the replica refuses writes" \
	t_sql harness "INSERT INTO harness_probe VALUES (2, 'on the replica')"
t_like "$T_ERR" "read-only transaction" "  ... with a read-only error"
replica_data=$REPLICA_DATA
cluster_replica_stop
t_ok "the replica's postmaster is gone after cluster_replica_stop" \
	test ! -e "$replica_data/postmaster.pid"
t_sql_is postgres "SELECT count(*) FROM pg_catalog.pg_replication_slots
	WHERE slot_name LIKE 'shunt\_harness\_replica\_%'" 0 \
	"  ... and its replication slot is dropped, so the primary does not pin WAL"

# --- testlib itself: a failed assertion fails the file ---------------------
# A child file with one failing assertion and one that dies before t_done;
# if these did not come out as failures, no other file could fail either.
cat >"$T_TMP/failing.sh" <<'EOF'
set -euo pipefail
source "$1"
t_is one two "a deliberately failing assertion"
t_done
EOF
cat >"$T_TMP/dying.sh" <<'EOF'
set -euo pipefail
source "$1"
t_pass "one assertion"
false
t_done
EOF
# `env` so the variables reach only the child: as a prefix of t_exit,
# T_RESULTS would redirect this file's own counts too.
t_exit 1 "a file with a failed assertion exits 1" \
	env T_RESULTS="$T_TMP/failing.res" SHUNT_TEST_TMPDIR="$T_TMP" \
	bash "$T_TMP/failing.sh" "$lib/testlib.sh"
t_like "$T_OUT" "not ok 1 - a deliberately failing assertion" "  ... and reports it as not ok"
t_like "$T_OUT" "# failing.sh: 0 passed, 1 failed" "  ... and counts it"
t_is "$(<"$T_TMP/failing.res")" "passed=0 failed=1 done=1" "  ... and writes the counts to T_RESULTS"
t_exit 1 "a file that dies before t_done exits non-zero" \
	env T_RESULTS="$T_TMP/dying.res" SHUNT_TEST_TMPDIR="$T_TMP" \
	bash "$T_TMP/dying.sh" "$lib/testlib.sh"
t_is "$(<"$T_TMP/dying.res")" "passed=1 failed=0 done=0" "  ... and its results say it did not finish"
t_like "$T_ERR" "stopped at line 4: false" "  ... and says where it stopped"

t_done
