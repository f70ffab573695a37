#!/usr/bin/env bash
# shunt lint and shunt convert from the command line.
#
# lint: exit codes (0 clean or warnings only, 1 an error-level finding, 2
# usage), the text format, --json (checked by the server's JSON parser),
# --disable, the .shunt-lint file and --config, inline and file-wide
# shunt-lint comments, --pg-version changing the answer, --assume-in-
# transaction, standard input, syntax errors, and what one file declares
# being known to the next.  (tests/unit/test_lint.c checks every rule on
# the corpus in tests/lint/.)
#
# convert: YAML that `shunt validate` accepts, --json, standard input,
# warnings, `shunt start FILE.sql` refusing while a TODO remains and
# running once none does, and round trips: for each tests/convert/NAME.sql
# the setup runs in two fresh databases, the plain SQL in the first and
# the converted migration (TODOs filled from the file's "-- fill:" lines)
# with `shunt start --complete` in the second, and the two schemas must be
# the same (columns, types, NOT NULL, defaults, identity, generated,
# comments, constraints, indexes, replica identity).
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"

S=$SHUNT_BIN
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# "&" in a ${var/pattern/replacement} must stay "&" (bash 5.2)
shopt -u patsub_replacement 2>/dev/null || true

t_createdb lint
export PGDATABASE=lint
export PGOPTIONS='-c client_min_messages=warning'
W=$T_TMP/work
mkdir -p "$W"

# json_len TEXT: the length of the JSON array TEXT, as the server parses it.
json_len() {
	"$PG_BINDIR/psql" -X -A -t -q -v ON_ERROR_STOP=1 -v j="$1" -f - \
		<<<"SELECT json_array_length(:'j'::json)"
}

# --- lint: exit codes and output -----------------------------------------
cat >"$W/bad.sql" <<'EOF'
SET lock_timeout = '1s';
CREATE INDEX users_name_idx ON users (name);
ALTER TABLE users ADD COLUMN n integer;
EOF
cat >"$W/warn.sql" <<'EOF'
SET lock_timeout = '1s';
ALTER TABLE users ADD COLUMN IF NOT EXISTS n integer;
EOF
cat >"$W/clean.sql" <<'EOF'
SET lock_timeout = '1s';
CREATE INDEX CONCURRENTLY IF NOT EXISTS users_name_idx ON users (name);
EOF
t_exit 1 "an error-level finding exits 1" "$S" lint "$W/bad.sql"
t_like "$T_OUT" "$W/bad.sql:2:1: error: require-concurrent-index-creation: CREATE INDEX \"users_name_idx\" on \"users\"" \
	"a finding is file:line:column: severity: rule: message"
t_like "$T_OUT" $'\n    lock: SHARE; scans the table \\(no rewrite\\)\n    why: The SHARE lock blocks every INSERT' \
	"indented lines give the lock, rewrite or scan, and why"
t_like "$T_OUT" "    fix: CREATE INDEX CONCURRENTLY users_name_idx ON users \(name\);" \
	"the fix is the exact statement"
t_like "$T_OUT" "bad.sql:3:32: warning: prefer-bigint-over-int" "warnings are listed too, at the type"
t_like "$T_ERR" "lint: 1 error, 3 warnings in 1 file" "stderr sums up"
t_exit 0 "warnings only exit 0" "$S" lint "$W/warn.sql"
t_like "$T_OUT" "warning: prefer-bigint-over-int" "the warning is printed"
t_exit 0 "a clean file exits 0" "$S" lint "$W/clean.sql"
t_is "$T_OUT" "" "a clean file prints nothing"
t_exit 1 "several files: the worst decides" "$S" lint "$W/clean.sql" "$W/bad.sql" "$W/warn.sql"
t_like "$T_ERR" "in 3 files" "all files were read"
t_exit 1 "a missing file fails" "$S" lint "$W/nope.sql"
t_like "$T_ERR" 'cannot open ".*nope.sql"' "it names the file"
t_exit 2 "an unknown option is a usage error" "$S" lint --frob "$W/bad.sql"
t_exit 2 "an unknown rule in --disable is a usage error" "$S" lint --disable=no-such-rule "$W/bad.sql"
t_like "$T_ERR" 'unknown lint rule "no-such-rule"' "it names the rule"
t_exit 2 "a bad --pg-version is a usage error" "$S" lint --pg-version=eleven "$W/bad.sql"
t_exit 0 "help lint" "$S" help lint
t_like "$T_OUT" "Usage: shunt lint" "help lint shows the usage"
t_like "$T_OUT" "disable-file=" "help lint documents the comments"
t_exit 0 "--list-rules" "$S" lint --list-rules
n_rules=$(grep -c . <<<"$T_OUT")
if ((n_rules >= 45)); then t_pass "--list-rules lists $n_rules rules"; else t_fail "--list-rules lists only $n_rules rules"; fi

# --- --json ------------------------------------------------------------------
t_exit 1 "--json exits 1 too" "$S" lint --json "$W/bad.sql"
t_is "$(json_len "$T_OUT")" 4 "--json prints one valid array of the 4 findings"
t_like "$T_OUT" '"rule": "require-concurrent-index-creation"' "--json names the rule"
t_like "$T_OUT" '"lock": "SHARE",' "--json has the lock"
t_like "$T_OUT" '"rewrite": false,' "--json has rewrite"
t_like "$T_OUT" '"scan": true,' "--json has scan"
for key in file line column severity message why fix; do
	t_like "$T_OUT" "\"$key\": " "--json has $key"
done
t_unlike "$T_OUT" '"error":' "the exit status does not add an error object to stdout"
t_exit 0 "--json of a clean file" "$S" lint --json "$W/clean.sql"
t_is "$(json_len "$T_OUT")" 0 "an empty array"

# --- switching rules off ---------------------------------------------------
t_exit 0 "--disable switches rules off" "$S" lint --disable require-concurrent-index-creation "$W/bad.sql"
t_unlike "$T_OUT" "require-concurrent-index-creation" "the rule is gone"
t_exit 0 "--disable takes a list and repeats" "$S" lint --disable=prefer-bigint-over-int,prefer-robust-stmts \
	--disable require-concurrent-index-creation "$W/bad.sql"
t_is "$T_OUT" "" "nothing is left"
mkdir -p "$W/proj"
cp "$W/bad.sql" "$W/proj/"
printf '# lint settings\ndisable:\n  - require-concurrent-index-creation\n' >"$W/proj/.shunt-lint"
t_exit 0 "./.shunt-lint is read" bash -c "cd '$W/proj' && '$S' lint bad.sql"
t_unlike "$T_OUT" "require-concurrent-index-creation" "the config file switched the rule off"
t_exit 1 "--config replaces ./.shunt-lint" bash -c "cd '$W/proj' && '$S' lint --config /dev/null bad.sql"
printf 'disable: [prefer-robust-stmts, prefer-bigint-over-int, require-concurrent-index-creation]\n' >"$W/other.yaml"
t_exit 0 "--config FILE" "$S" lint --config "$W/other.yaml" "$W/bad.sql"
t_is "$T_OUT" "" "the file's rules are off"
printf 'disable: [nope]\n' >"$W/broken.yaml"
t_exit 2 "a config file naming an unknown rule is a usage error" "$S" lint --config "$W/broken.yaml" "$W/bad.sql"
t_like "$T_ERR" "broken.yaml: unknown lint rule \"nope\"" "it names the file and the rule"
cat >"$W/inline.sql" <<'EOF'
-- shunt-lint: disable-file=require-lock-timeout
ALTER TABLE users DROP COLUMN a; -- shunt-lint: disable=ban-drop-column (deployed in 1.4)
-- shunt-lint: disable=renaming-column
ALTER TABLE users RENAME COLUMN b TO c;
ALTER TABLE users DROP COLUMN d;
EOF
t_exit 1 "inline comments switch rules off per statement" "$S" lint "$W/inline.sql"
t_is "$(grep -c ': error: ' <<<"$T_OUT")" 1 "only the statement without a comment is reported"
t_like "$T_OUT" "inline.sql:5:19: error: ban-drop-column" "and it is the last one"

# --- --pg-version and --assume-in-transaction ------------------------------
printf "SET lock_timeout = '1s';\nALTER TABLE users ADD COLUMN IF NOT EXISTS plan text DEFAULT 'free';\n" >"$W/default.sql"
t_exit 0 "a constant default is fine on 15" "$S" lint "$W/default.sql"
t_exit 0 "and on 11" "$S" lint --pg-version 11 "$W/default.sql"
t_exit 1 "but rewrites the table on 10" "$S" lint --pg-version 10 "$W/default.sql"
t_like "$T_OUT" "adding-field-with-default: .*before PostgreSQL 11" "the message says why"
printf "SET lock_timeout = '1s';\nREINDEX INDEX users_name_idx;\n" >"$W/reindex.sql"
t_exit 1 "REINDEX on 15" "$S" lint "$W/reindex.sql"
t_like "$T_OUT" "fix: REINDEX INDEX CONCURRENTLY users_name_idx;" "suggests REINDEX CONCURRENTLY"
t_exit 1 "REINDEX on 11" "$S" lint --pg-version=11 "$W/reindex.sql"
t_like "$T_OUT" "fix: before PostgreSQL 12" "suggests the manual swap instead"
t_exit 1 "--assume-in-transaction: CONCURRENTLY fails" "$S" lint --assume-in-transaction "$W/clean.sql"
t_like "$T_OUT" "concurrently-in-transaction" "it says so"

# --- standard input, syntax errors, several files ---------------------------
t_exit 1 "standard input with -" bash -c "'$S' lint - < '$W/bad.sql'"
t_like "$T_OUT" "^<stdin>:2:1: error: require-concurrent-index-creation" "named <stdin>"
t_exit 1 "standard input without a file" bash -c "'$S' lint < '$W/bad.sql'"
t_like "$T_OUT" "^<stdin>:2:1:" "also named <stdin>"
printf 'ALTER TABLE users ADD COLUMN a text;\nALTER TABLE users ALTER COLUMN a SET DATA TYP text;\n' >"$W/syntax.sql"
t_exit 1 "a syntax error is an error" "$S" lint "$W/syntax.sql"
t_like "$T_OUT" "syntax.sql:2:43: error: syntax-error: syntax error at or near \"TYP\"" "with its position"
printf "SET lock_timeout = '1s';\nCREATE TABLE IF NOT EXISTS t (id bigint PRIMARY KEY, v varchar(10));\n" >"$W/01.sql"
printf "SET lock_timeout = '1s';\nALTER TABLE t ALTER COLUMN v TYPE varchar(20);\n" >"$W/02.sql"
t_exit 0 "a later file knows the types an earlier one declared" "$S" lint --disable prefer-text-field "$W/01.sql" "$W/02.sql"
t_unlike "$T_OUT" "changing-column-type" "widening varchar(10) is catalog-only"
t_exit 0 "alone, the second file cannot tell" "$S" lint --disable prefer-text-field "$W/02.sql"
t_like "$T_OUT" "changing-column-type-unverified" "it warns"

# --- convert ----------------------------------------------------------------
cat >"$W/conv.sql" <<'EOF'
SET lock_timeout = '1s';
BEGIN;
ALTER TABLE users ADD COLUMN plan text DEFAULT 'free' NOT NULL;
ALTER TABLE users ALTER COLUMN age TYPE integer USING age::integer;
ALTER TABLE users SET (fillfactor = 80);
COMMIT;
EOF
t_exit 0 "convert succeeds" "$S" convert "$W/conv.sql"
printf '%s\n' "$T_OUT" >"$W/conv.yaml"
t_like "$T_OUT" $'  - add_column:\n      table: users\n      column:\n        name: plan' "YAML add_column"
t_like "$T_OUT" 'up: "age::integer"' "USING becomes up"
t_like "$T_OUT" 'down: "TODO: down"' "down is a placeholder"
t_like "$T_OUT" "# TODO: down: the old value of \"age\"" "explained in a comment"
t_like "$T_OUT" 'up: "ALTER TABLE users SET \(fillfactor = 80\)"' "the rest becomes sql"
t_like "$T_ERR" "conv.sql:4: warning: alter_column \"users\".\"age\": \"down\" cannot be derived" "warns about down"
t_like "$T_ERR" "conv.sql:5: warning: converted to an sql operation" "warns about sql"
t_like "$T_ERR" "conv.sql:1: note: timeout setting dropped" "notes the dropped SET"
t_like "$T_ERR" "conv.sql:2: note: transaction control dropped" "notes the dropped BEGIN"
t_exit 0 "the YAML is a valid migration" "$S" validate "$W/conv.yaml"
t_like "$T_OUT" "3 operations" "with the three operations"
t_exit 0 "convert --json" "$S" convert --json "$W/conv.sql"
printf '%s\n' "$T_OUT" >"$W/conv.json"
t_exit 0 "the JSON is a valid migration" "$S" validate "$W/conv.json"
t_exit 0 "convert reads standard input" bash -c "'$S' convert - < '$W/conv.sql'"
t_like "$T_OUT" "add_column" "from stdin"
t_exit 1 "convert of invalid SQL fails" bash -c "printf 'ALTER TABLE t ADD COLUMN;' | '$S' convert"
t_like "$T_ERR" "<stdin>:1:25: syntax error" "with the position"
t_exit 0 "help convert" "$S" help convert
t_like "$T_OUT" "Usage: shunt convert" "help convert shows the usage"

# --- start FILE.sql -------------------------------------------------------------
t_sql lint "CREATE TABLE users (id bigint PRIMARY KEY, age text, name text);
	INSERT INTO users SELECT g, g::text, 'n' || g FROM generate_series(1, 100) g" >/dev/null
t_exit 1 "start refuses SQL that leaves a TODO" "$S" start "$W/conv.sql"
t_like "$T_ERR" "conv.sql: 1 value that SQL does not say is missing" "it says what is missing"
t_like "$T_ERR" "operation 2 \(alter_column \"users\".\"age\"\): down" "which operation and field"
t_like "$T_ERR" "HINT: Run \"shunt convert .*conv.sql > FILE.yaml\"" "and how to fill it in"
t_sql_is lint "SELECT count(*) FROM information_schema.columns WHERE table_name = 'users'" 3 \
	"nothing was changed"
cat >"$W/04_plan.sql" <<'EOF'
SET lock_timeout = '1s';
ALTER TABLE users ADD COLUMN plan text DEFAULT 'free' NOT NULL;
CREATE INDEX users_name_idx ON users (name);
EOF
t_exit 0 "start FILE.sql converts and runs it" "$S" start --complete "$W/04_plan.sql"
t_sql_is lint "SELECT count(*) FROM users WHERE plan = 'free'" 100 "the column is there for every row"
t_sql_is lint "SELECT indexdef FROM pg_indexes WHERE indexname = 'users_name_idx'" \
	"CREATE INDEX users_name_idx ON public.users USING btree (name)" "the index is there"
t_sql_is lint "SELECT name FROM shunt.migrations ORDER BY id DESC LIMIT 1" 04_plan \
	"the migration is named after the file"

# --- round trips -----------------------------------------------------------------
# snapshot DB: the application schema, one line per fact, sorted.
snapshot() {
	t_sql "$1" "SELECT string_agg(x, E'\n' ORDER BY x) FROM (
	SELECT 'col ' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
		|| CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
		|| coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '')
		|| coalesce(' identity ' || nullif(a.attidentity::text, ''), '')
		|| coalesce(' generated ' || nullif(a.attgenerated::text, ''), '')
		|| coalesce(' comment ' || col_description(c.oid, a.attnum), '')
	FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
	LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
	WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r' AND a.attnum > 0
		AND NOT a.attisdropped
	UNION ALL
	SELECT 'con ' || c.relname || '.' || co.conname || ' ' || pg_get_constraintdef(co.oid)
		|| CASE WHEN co.convalidated THEN '' ELSE ' (not validated)' END
	FROM pg_constraint co JOIN pg_class c ON c.oid = co.conrelid
	WHERE c.relnamespace = 'public'::regnamespace
	UNION ALL
	SELECT 'idx ' || indexname || ' ' || indexdef FROM pg_indexes WHERE schemaname = 'public'
	UNION ALL
	SELECT 'tbl ' || relname || ' replica identity ' || relreplident::text
		|| coalesce(' comment ' || obj_description(oid, 'pg_class'), '')
	FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r') s(x)"
}

# json_str TEXT: TEXT as a JSON string literal.
json_str() {
	local s=$1
	s=${s//\\/\\\\}
	s=${s//\"/\\\"}
	printf '"%s"' "$s"
}

# roundtrip NAME: tests/convert/NAME.sql applied as SQL and as converted.
roundtrip() {
	local name=$1 dir=$ROOT/tests/convert kind expr json
	local a=rt_${name}_sql b=rt_${name}_shunt
	t_createdb "$a"
	t_createdb "$b"
	t_sql "$a" "$(<"$dir/$name.setup.sql")" >/dev/null
	t_sql "$b" "$(<"$dir/$name.setup.sql")" >/dev/null
	t_ok "$name: the plain SQL runs" t_sql "$a" "$(<"$dir/$name.sql")"
	t_exit 0 "$name: convert succeeds" "$S" convert --json "$dir/$name.sql"
	json=$T_OUT
	while read -r kind expr; do
		json=${json/\"TODO: $kind\"/$(json_str "$expr")}
	done < <(sed -n 's/^-- fill: \(up\|down\) = \(.*\)$/\1 \2/p' "$dir/$name.sql")
	t_unlike "$json" "TODO:" "$name: every TODO is filled"
	mkdir -p "$W/rt"
	printf '%s\n' "$json" >"$W/rt/$name.json"
	t_exit 0 "$name: shunt start --complete runs the converted migration" \
		env PGDATABASE="$b" "$S" start --complete "$W/rt/$name.json"
	t_is "$(snapshot "$b")" "$(snapshot "$a")" "$name: both databases end with the same schema"
}

for f in "$ROOT"/tests/convert/*.setup.sql; do
	name=$(basename "$f" .setup.sql)
	roundtrip "$name"
done

t_done
