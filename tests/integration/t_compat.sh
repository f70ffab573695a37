#!/usr/bin/env bash
# pgroll's published example migrations (../shared/compat/pgroll-examples),
# applied the way pgroll's own CI applies them: in .ledger order, each
# started and completed, once with the tables in public and once in a
# non-public schema with a hostile name; then each started and rolled back
# on top of its predecessors, which must leave the schema exactly as it was.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"

compat=${SHUNT_COMPAT_DIR:-$(cd "$(dirname "$0")/../../.." && pwd)/shared/compat}/pgroll-examples
if [[ ! -f $compat/.ledger ]]; then
	t_fail "the compat corpus is at $compat" "set SHUNT_COMPAT_DIR to shared/compat"
	t_done
fi
mapfile -t ledger < <(grep -v '^\s*$' "$compat/.ledger")
t_is "${#ledger[@]}" 56 "the ledger lists the 56 examples"

# Leftovers of shunt in a schema: anything named _shunt_* but the state schema.
leftovers() {
	t_sql "$1" "SELECT
	  (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	    WHERE c.relname LIKE '\\_shunt\\_%' AND n.nspname <> 'shunt')
	+ (SELECT count(*) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
	    WHERE a.attname LIKE '\\_shunt\\_%' AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v'))
	+ (SELECT count(*) FROM pg_trigger WHERE tgname LIKE '\\_shunt\\_%')
	+ (SELECT count(*) FROM pg_proc WHERE proname LIKE '\\_shunt\\_%')
	+ (SELECT count(*) FROM pg_constraint WHERE conname LIKE '\\_shunt\\_%')"
}

# A snapshot of the schema: every table, column, constraint and index.
snapshot() {
	local db=$1 schema=$2
	t_sql "$db" "SELECT string_agg(x, E'\\n' ORDER BY x) FROM (
	  SELECT 'col ' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
	         || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
	         || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '') AS x
	    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
	    LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
	   WHERE n.nspname = '$schema' AND c.relkind IN ('r', 'p')
	  UNION ALL
	  SELECT 'con ' || conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid)
	    FROM pg_constraint WHERE connamespace = '\"$schema\"'::regnamespace
	  UNION ALL
	  SELECT 'idx ' || indexdef FROM pg_indexes WHERE schemaname = '$schema'
	  UNION ALL
	  SELECT 'ns ' || nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%'
	     AND nspname NOT IN ('information_schema', 'shunt')) s"
}

apply_all() {
	local db=$1 schema=$2 f failed=0
	for f in "${ledger[@]}"; do
		if ! "$SHUNT_BIN" -q --db "dbname=$db" --schema "$schema" start --complete "$compat/$f" \
			>"$T_TMP/out" 2>"$T_TMP/err"; then
			t_fail "$f applies in schema $schema" "$(cat "$T_TMP/err")"
			failed=1
		fi
	done
	return $failed
}

# --- in public ---------------------------------------------------------
t_createdb compat_public
if apply_all compat_public public; then
	t_pass "all 56 migrations start and complete in public"
fi
t_sql_is compat_public "SELECT count(*) FROM shunt.migrations WHERE status = 'complete'" 56 \
	"the history records 56 completed migrations"
t_is "$(leftovers compat_public)" 0 "nothing of shunt is left but its state schema"
t_is "$("$SHUNT_BIN" --db dbname=compat_public latest)" public_with_version_schema \
	"latest is the version_schema of the last migration"
t_sql_is compat_public "SELECT string_agg(nspname, ',' ORDER BY nspname) FROM pg_namespace
	WHERE nspname LIKE 'public\\_%'" public_with_version_schema "only the latest version schema remains"
t_sql_is compat_public "SELECT string_agg(column_name || ':' || data_type || ':' || is_nullable, ',' ORDER BY ordinal_position)
	FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'reviews'" \
	"id:integer:NO,username:text:NO,product:text:NO,rating:integer:NO,review:text:NO" \
	"reviews ends with the columns, types and nullability the examples ask for (changed columns move last)"
t_sql_is compat_public "SELECT count(*) FROM pg_constraint WHERE conname IN
	('fk_users_id', 'event_name_length', 'unique_zip_name', 'fk_sellers', 'name_length_check', 'tasks_pkey')" 6 \
	"constraints created by the examples carry their final names"
t_sql_is compat_public "SELECT count(*) FROM pg_constraint WHERE conname = 'check_zip_name'" 0 \
	"the constraint dropped by 48 is gone"

# --- in a non-public schema with a hostile name ------------------------
schema='My "App" Ü'
t_createdb compat_schema
t_sql compat_schema "CREATE SCHEMA \"My \"\"App\"\" Ü\"" >/dev/null
if apply_all compat_schema "$schema"; then
	t_pass "all 56 migrations start and complete in schema $schema"
fi
t_sql_is compat_schema "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'" 0 \
	"nothing was created in public"
t_sql_is compat_schema "SELECT count(*) FROM pg_tables WHERE schemaname = '$schema'" \
	"$(t_sql compat_public "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")" \
	"the schema has as many tables as public had"
t_is "$(leftovers compat_schema)" 0 "nothing of shunt is left in the non-public run"

# --- each example started and rolled back on top of its predecessors ---
t_createdb compat_rollback
rb_failed=0
for f in "${ledger[@]}"; do
	before=$(snapshot compat_rollback public)
	if ! "$SHUNT_BIN" -q --db dbname=compat_rollback start "$compat/$f" 2>"$T_TMP/err"; then
		t_fail "$f starts" "$(cat "$T_TMP/err")"
		rb_failed=1
		break
	fi
	# An sql operation without down cannot be undone by anyone: its rollback
	# leaves its effect, as pgroll's does, so those examples are completed.
	if grep -q '^  - sql:' "$compat/$f" && ! grep -q 'down:' "$compat/$f"; then
		"$SHUNT_BIN" -q --db dbname=compat_rollback complete 2>"$T_TMP/err" ||
			{ t_fail "$f completes" "$(cat "$T_TMP/err")"; rb_failed=1; break; }
		continue
	fi
	if ! "$SHUNT_BIN" -q --db dbname=compat_rollback rollback 2>"$T_TMP/err"; then
		t_fail "$f rolls back" "$(cat "$T_TMP/err")"
		rb_failed=1
		break
	fi
	after=$(snapshot compat_rollback public)
	if [[ $before != "$after" ]]; then
		t_fail "rolling back $f restores the schema" "$(diff <(echo "$before") <(echo "$after") | head -20)"
		rb_failed=1
	fi
	"$SHUNT_BIN" -q --db dbname=compat_rollback start --complete "$compat/$f" 2>"$T_TMP/err" ||
		{ t_fail "$f applies after its rollback" "$(cat "$T_TMP/err")"; rb_failed=1; break; }
done
if ((rb_failed == 0)); then
	t_pass "every example rolls back to the exact previous schema and applies again"
fi
t_is "$(leftovers compat_rollback)" 0 "nothing of shunt is left after the rollbacks"

t_done
