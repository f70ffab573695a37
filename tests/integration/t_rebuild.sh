#!/usr/bin/env bash
# Online table rebuild (shunt rebuild / shunt cutover, src/pg/pg_rebuild*.c):
# a concurrent pgbench writer (inserts, updates, primary-key updates,
# deletes, each mirrored into a second table in the same statement) runs
# through the copy, the cut-over and the revert, with trigger and with
# logical capture, and the table is compared with its mirror row by row;
# views, foreign keys both ways, the table's trigger, RLS policies, identity
# and serial columns, grants, comments and publications survive the swap;
# --postpone-cutover + `shunt cutover`; --abort leaves the catalog exactly
# as before (no shadow, triggers, functions, log, publication or slot); a
# kill -9 in mid-copy followed by a rerun; bad inputs change nothing;
# --dry-run; the prepared-statement warning; a bloat rebuild's sizes; a
# cut-over that cannot get its lock gives up without holding up readers; a
# shadow that keeps differing fails the verification (rows hashed by type
# and as text) and nothing is swapped.
# Logical capture runs as a non-superuser REPLICATION role owning the
# tables, in both runner modes.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"

S=$SHUNT_BIN
# Roles are cluster-wide and files run in parallel: names of this file only.
REP=t_rebuild_rep       # LOGIN REPLICATION, owns the tables of the logical part
READER=t_rebuild_reader # a grantee, a policy's role

BG=() # background processes started here, stopped at exit if still running
_rb_cleanup() {
	local p
	for p in "${BG[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
}
cluster_at_exit _rb_cleanup

t_createdb rebuild
t_createdb rebuild_lg
export PGDATABASE=rebuild
t_sql_super postgres "DO \$\$ BEGIN
	CREATE ROLE $REP LOGIN NOSUPERUSER REPLICATION;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END \$\$;
DO \$\$ BEGIN
	CREATE ROLE $READER NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END \$\$;" >/dev/null
t_sql_super rebuild_lg "GRANT CREATE ON DATABASE rebuild_lg TO $REP;
	GRANT CREATE, USAGE ON SCHEMA public TO $REP" >/dev/null

# --- helpers -----------------------------------------------------------------

# coltype DB TABLE COLUMN
coltype() {
	t_sql "$1" "SELECT pg_catalog.format_type(atttypid, atttypmod) FROM pg_attribute
		WHERE attrelid = '$2'::regclass AND attname = '$3'"
}

# status DB TABLE: the status of the table's latest rebuild
status() {
	t_sql "$1" "SELECT status FROM shunt.rebuilds WHERE table_name = '$2' ORDER BY id DESC LIMIT 1"
}

# catalog DB: every object a rebuild creates or changes, one a line, with
# OIDs and relfilenodes, so that "the same" means not even re-created
catalog() {
	t_sql_super "$1" "SELECT coalesce(string_agg(x, E'\n' ORDER BY x), '') FROM (
	SELECT 'rel ' || c.oid::regclass::text || ' ' || c.relkind::text || ' oid=' || c.oid || ' node=' || c.relfilenode
	       || ' acl=' || coalesce(c.relacl::text, '-') || ' opts=' || coalesce(c.reloptions::text, '-')
	       || ' rls=' || c.relrowsecurity AS x
	  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND n.nspname NOT LIKE 'pg\_%temp%'
	UNION ALL
	SELECT 'col ' || a.attrelid::regclass::text || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
	  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
	 WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'v', 'p')
	   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
	UNION ALL
	SELECT 'trigger ' || tgrelid::regclass::text || ' ' || tgname || ' ' || tgenabled::text FROM pg_trigger
	UNION ALL
	SELECT 'con ' || conrelid::regclass::text || ' ' || conname || ' ' || convalidated FROM pg_constraint
	 WHERE connamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
	UNION ALL
	SELECT 'func ' || p.oid::regprocedure::text FROM pg_proc p
	 WHERE pronamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
	UNION ALL
	SELECT 'policy ' || polrelid::regclass::text || ' ' || polname FROM pg_policy
	UNION ALL
	SELECT 'pub ' || pubname FROM pg_publication
	UNION ALL
	SELECT 'pubrel ' || pubname || ' ' || schemaname || '.' || tablename FROM pg_publication_tables
	UNION ALL
	SELECT 'slot ' || slot_name FROM pg_replication_slots WHERE database = current_database()) s"
}

# same_catalog BEFORE AFTER DESC: passes when nothing differs; shows the diff
same_catalog() {
	t_is "$(diff <(echo "$1") <(echo "$2") || true)" "" "$3"
}

# wait_pid, make_writer_table, start_writer, check_writer, mirror_diff
source "$(dirname "$0")/../lib/mirror_writer.sh"

# progress DB TABLE: "new keys issued, moved keys existing" (writer activity)
progress() {
	t_sql "$1" "SELECT (SELECT last_value FROM ${2}_ids) || ' ' ||
		(SELECT count(*) FROM ${2}_m WHERE id BETWEEN 1000001 AND 4999999)"
}

# writer_section DB TABLE CAPTURE: the rebuild, the revert and --drop-old
# under the writer, compared with the mirror after each
writer_section() {
	local db=$1 t=$2 cap=$3 p0 p1 alive
	make_writer_table "$db" "$t" 30000
	start_writer "$db" "$t" 30000 16
	sleep 1
	p0=$(progress "$db" "$t")
	t_exit 0 "$cap: rebuild with --alter under the writer succeeds" \
		"$S" rebuild "$t" --capture "$cap" --alter "ALTER COLUMN id TYPE bigint" --max-rows-per-second 8000
	alive=$(kill -0 "$WRITER" 2>/dev/null && echo running || echo stopped)
	t_like "$T_ERR" "capturing changes with $([[ $cap == logical ]] && echo 'a logical replication slot' || echo 'a trigger')" \
		"$cap: the rebuild used $cap capture"
	p1=$(progress "$db" "$t")
	t_is "$alive" running "$cap: the writer was still running when the cut-over finished"
	t_ok "$cap: the writer inserted and moved keys while the rebuild ran ($p0 -> $p1)" \
		test "${p1% *}" -gt "${p0% *}" -a "${p1#* }" -gt "${p0#* }"
	t_is "$(coltype "$db" "$t" id)" bigint "$cap: id is bigint after the cut-over"
	t_is "$(mirror_diff "$db" "$t")" "0 0" "$cap: after the cut-over the table equals the writer's mirror, row by row"
	t_is "$(status "$db" "$t")" cutover "$cap: the rebuild is recorded as cut over"
	sleep 1
	t_exit 0 "$cap: --revert under the writer succeeds" "$S" rebuild "$t" --revert
	alive=$(kill -0 "$WRITER" 2>/dev/null && echo running || echo stopped)
	t_is "$alive" running "$cap: the writer was still running when the revert finished"
	t_is "$(coltype "$db" "$t" id)" integer "$cap: id is integer again after the revert"
	t_is "$(mirror_diff "$db" "$t")" "0 0" "$cap: after the revert the table equals the mirror (writes made since the cut-over kept)"
	check_writer "$t" "$cap"
	t_is "$(mirror_diff "$db" "$t")" "0 0" "$cap: after the writer stopped the table equals the mirror"
	t_sql_is "$db" "SELECT count(*) = (SELECT count(*) FROM ${t}_m) AND count(*) > 25000 FROM $t" t \
		"$cap: the row counts agree (and are not trivially small)"
	t_exit 0 "$cap: --drop-old after the revert succeeds" "$S" rebuild "$t" --drop-old
	t_sql_is "$db" "SELECT count(*) FROM pg_class WHERE relname IN ('_shunt_rb_$t', '_shunt_old_$t')" 0 \
		"$cap: --drop-old removed the table that is not live"
	t_sql_is "$db" "SELECT count(*) FROM pg_trigger WHERE tgrelid = '$t'::regclass AND tgname LIKE '\\_shunt%'" 0 \
		"$cap: no capture trigger is left on the table"
	t_is "$(status "$db" "$t")" aborted "$cap: the reverted rebuild is recorded as abandoned"
	t_is "$(mirror_diff "$db" "$t")" "0 0" "$cap: the table still equals the mirror"
}

# kill_resume_section DB TABLE CAPTURE: kill -9 in mid-copy, then the same command again
kill_resume_section() {
	local db=$1 t=$2 cap=$3 pid done_at i
	make_writer_table "$db" "$t" 60000
	start_writer "$db" "$t" 60000 10
	"$S" rebuild "$t" --capture "$cap" --alter "ALTER COLUMN id TYPE bigint" --batch-size 500 \
		--max-rows-per-second 5000 >"$T_TMP/$t.kill.out" 2>&1 &
	pid=$!
	BG+=("$pid")
	done_at=0
	for ((i = 0; i < 100; i++)); do
		sleep 0.1
		done_at=$(t_sql "$db" "SELECT coalesce(max(rows_done), 0) FROM shunt.rebuilds
			WHERE table_name = '$t' AND status = 'copying'" 2>/dev/null) || done_at=0
		((done_at >= 5000)) && break
	done
	if [[ $cap == logical ]]; then
		t_sql_is "$db" "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'shunt\\_rb\\_%'
			AND database = current_database() AND active AND temporary" 1 "$cap: the copy holds an active temporary slot"
	fi
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null || true
	done_at=$(t_sql "$db" "SELECT rows_done FROM shunt.rebuilds WHERE table_name = '$t' ORDER BY id DESC LIMIT 1")
	t_ok "$cap: the copy was killed in mid-copy ($done_at of 60000 rows)" test "$done_at" -ge 5000 -a "$done_at" -lt 60000
	t_is "$(status "$db" "$t")" copying "$cap: the killed rebuild is left copying"
	if [[ $cap == logical ]]; then
		t_sql_eventually "$db" "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'shunt\\_rb\\_%'
			AND database = current_database()" 0 "$cap: no replication slot is left after kill -9"
	fi
	sleep 1 # writes while nothing runs
	t_exit 0 "$cap: the same command again completes the rebuild" \
		"$S" rebuild "$t" --capture "$cap" --alter "ALTER COLUMN id TYPE bigint"
	if [[ $cap == logical ]]; then
		t_like "$T_ERR" "slot of the interrupted run is gone with it; copying again" "$cap: it copied again from a new slot"
	else
		t_like "$T_ERR" "resuming the copy at block [1-9]" "$cap: it resumed the copy from its checkpoint"
	fi
	t_is "$(coltype "$db" "$t" id)" bigint "$cap: the resumed rebuild cut over"
	t_is "$(mirror_diff "$db" "$t")" "0 0" "$cap: after the resumed rebuild the table equals the mirror"
	check_writer "$t" "$cap kill/resume"
	t_is "$(mirror_diff "$db" "$t")" "0 0" "$cap: after the writer stopped the resumed table equals the mirror"
	t_exit 0 "$cap: --drop-old after the resumed rebuild" "$S" rebuild "$t" --drop-old
	t_sql_is "$db" "SELECT (SELECT count(*) FROM pg_publication WHERE pubname LIKE '\\_shunt%')
		+ (SELECT count(*) FROM pg_replication_slots WHERE database = current_database())" 0 \
		"$cap: no publication or slot of the rebuild is left"
}

# === 6. bad inputs change nothing; --dry-run ==================================
t_exit 0 "shunt init" "$S" init
t_sql rebuild "CREATE TABLE bad (id int PRIMARY KEY, v text); INSERT INTO bad SELECT g, 'v' FROM generate_series(1, 100) g;
	CREATE VIEW bad_v AS SELECT * FROM bad;
	CREATE TABLE nopk (a int, b text); INSERT INTO nopk VALUES (1, 'x');
	CREATE TABLE parted (id int PRIMARY KEY) PARTITION BY RANGE (id);
	CREATE TABLE parted_1 PARTITION OF parted FOR VALUES FROM (0) TO (100);
	CREATE TABLE mv_base (id int PRIMARY KEY); CREATE MATERIALIZED VIEW mv AS SELECT * FROM mv_base" >/dev/null
before=$(catalog rebuild)
t_exit 1 "a table that does not exist is refused" "$S" rebuild nosuch
t_like "$T_ERR" 'nosuch.* does not exist' "  ... naming it"
t_exit 1 "a table without a primary key or NOT NULL unique index is refused" "$S" rebuild nopk
t_like "$T_ERR" 'has no primary key and no NOT NULL unique index.*HINT: Add a primary key' "  ... saying why and what to do"
t_exit 1 "a partitioned table is refused" "$S" rebuild parted
t_like "$T_ERR" 'cannot be rebuilt: it is partitioned' "  ... saying so"
t_exit 1 "a partition is refused" "$S" rebuild parted_1
t_like "$T_ERR" 'cannot be rebuilt: it is a partition' "  ... saying so"
t_exit 1 "a table with a materialized view on it is refused" "$S" rebuild mv_base
t_like "$T_ERR" 'materialized views depend on it' "  ... saying so"
t_exit 1 "--alter \"DROP TABLE x\" is refused" "$S" rebuild bad --alter "DROP TABLE x"
t_like "$T_ERR" 'invalid --alter' "  ... as an invalid --alter"
t_exit 1 "--alter on a column that does not exist fails" "$S" rebuild bad --alter "ALTER COLUMN nope TYPE int"
t_like "$T_ERR" 'column "nope" .*does not exist' "  ... naming the column"
t_exit 1 "--alter with a syntax error is refused" "$S" rebuild bad --alter "ALTER COLUMN id TYPE bigint,"
t_like "$T_ERR" 'invalid --alter.*syntax error' "  ... showing the syntax error"
t_exit 1 "--alter smuggling a second statement is refused" "$S" rebuild bad --alter "ADD COLUMN z int; DROP TABLE bad"
t_like "$T_ERR" 'must be the clauses of one ALTER TABLE' "  ... saying so"
t_exit 1 "--alter with TYPE ... USING is refused" "$S" rebuild bad --alter "ALTER COLUMN id TYPE bigint USING id + 1"
t_like "$T_ERR" 'USING is not supported' "  ... saying so"
t_exit 1 "--alter dropping the key column is refused" "$S" rebuild bad --alter "DROP COLUMN id"
t_like "$T_ERR" 'removes the key column "id"' "  ... naming it"
t_exit 2 "--capture=bogus is a usage error" "$S" rebuild bad --capture=bogus
t_like "$T_ERR" '--capture must be trigger, logical or auto, not "bogus"' "  ... naming the choices"
t_exit 2 "an empty --alter is a usage error" "$S" rebuild bad --alter ""
t_exit 2 "--revert with --alter is a usage error" "$S" rebuild bad --revert --alter "ALTER COLUMN id TYPE bigint"
t_exit 2 "rebuild without a table is a usage error" "$S" rebuild
t_exit 1 "--revert without an open rebuild fails" "$S" rebuild bad --revert
t_like "$T_ERR" 'no rebuild of public.bad is open' "  ... saying so"
t_exit 1 "cutover without an open rebuild fails" "$S" cutover bad
t_like "$T_ERR" 'no rebuild of public.bad is open' "  ... saying so"
t_exit 0 "--dry-run succeeds" "$S" rebuild bad --alter "ALTER COLUMN id TYPE bigint" --dry-run
t_like "$T_OUT" 'CREATE TABLE "public"."_shunt_rb_bad" \(LIKE "public"."bad"' "--dry-run prints the shadow's CREATE TABLE"
t_like "$T_OUT" 'ALTER TABLE "public"."_shunt_rb_bad" ALTER COLUMN id TYPE bigint' "  ... the --alter applied to the shadow"
t_like "$T_OUT" 'CREATE TRIGGER _shunt_rb_capture AFTER INSERT OR UPDATE OR DELETE ON "public"."bad"' "  ... and the capture trigger"
after=$(catalog rebuild)
same_catalog "$before" "$after" "bad inputs and --dry-run left the catalog exactly as it was"
t_sql_is rebuild "SELECT count(*) FROM shunt.rebuilds" 0 "  ... and recorded no rebuild"
t_sql_is rebuild "SELECT count(*) FROM bad" 100 "  ... and the table's rows are untouched"

# === 2. dependent objects survive the cut-over =================================
t_sql rebuild "CREATE TABLE d_grp (id int PRIMARY KEY); INSERT INTO d_grp VALUES (1), (2);
	CREATE TABLE d (id int GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, ticket serial NOT NULL,
		payload text NOT NULL, n int NOT NULL CHECK (n >= 0), grp int NOT NULL REFERENCES d_grp (id));
	CREATE INDEX d_n ON d (n);
	CREATE UNIQUE INDEX d_payload ON d (payload);
	COMMENT ON TABLE d IS 'the d table';
	COMMENT ON COLUMN d.payload IS 'what it carries';
	GRANT SELECT, INSERT ON d TO $READER;
	GRANT UPDATE (payload) ON d TO $READER;
	ALTER TABLE d ENABLE ROW LEVEL SECURITY;
	CREATE POLICY d_small ON d FOR SELECT TO $READER USING (n < 50);
	CREATE TABLE d_audit (d_id bigint, op text);
	CREATE FUNCTION d_audit_fn() RETURNS trigger LANGUAGE plpgsql AS \$\$
		BEGIN INSERT INTO d_audit VALUES (NEW.id, TG_OP); RETURN NEW; END \$\$;
	CREATE TRIGGER d_audit_trg AFTER INSERT ON d FOR EACH ROW EXECUTE FUNCTION d_audit_fn();
	INSERT INTO d (payload, n, grp) SELECT 'p' || g, g % 100, 1 + g % 2 FROM generate_series(1, 5000) g;
	CREATE TABLE d_child (cid int PRIMARY KEY, d_id int NOT NULL REFERENCES d (id));
	INSERT INTO d_child SELECT g, g FROM generate_series(1, 100) g;
	CREATE VIEW d_view AS SELECT id, payload FROM d WHERE n < 10;
	GRANT SELECT ON d_view TO $READER;
	COMMENT ON VIEW d_view IS 'small ones';
	CREATE VIEW d_view2 AS SELECT count(*) AS c FROM d_view;
	CREATE PUBLICATION t_rebuild_pub FOR TABLE d;
	TRUNCATE d_audit" >/dev/null
grants_sql="SELECT string_agg(x, ',' ORDER BY x) FROM (
	SELECT a.grantee::regrole::text || ':' || a.privilege_type || ':' || a.is_grantable AS x
	  FROM pg_class c, aclexplode(c.relacl) a WHERE c.oid = 'd'::regclass
	UNION ALL SELECT at.attname || '/' || a.grantee::regrole::text || ':' || a.privilege_type
	  FROM pg_attribute at, aclexplode(at.attacl) a WHERE at.attrelid = 'd'::regclass) s"
grants_before=$(t_sql rebuild "$grants_sql")
max_before=$(t_sql rebuild "SELECT max(id) FROM d")
ticket_before=$(t_sql rebuild "SELECT max(ticket) FROM d")
oid_before=$(t_sql rebuild "SELECT 'd'::regclass::oid")
t_exit 0 "rebuild of a table with views, foreign keys, a trigger, RLS, identity, serial, grants" \
	"$S" rebuild d --alter "ALTER COLUMN id TYPE bigint"
t_sql_is rebuild "SELECT 'd'::regclass::oid <> $oid_before AND '_shunt_old_d'::regclass::oid = $oid_before" t \
	"the name d is now the new table, the old one is kept as _shunt_old_d"
t_is "$(coltype rebuild d id)" bigint "d.id is bigint"
t_sql_is rebuild "SELECT (SELECT count(*) FROM d_view) = (SELECT count(*) FROM d WHERE n < 10) AND (SELECT c FROM d_view2) > 0" t \
	"the view and the view on it still work"
t_sql_is rebuild "SELECT string_agg(DISTINCT d.refobjid::regclass::text, ',') FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid
	WHERE r.ev_class = 'd_view'::regclass AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> 'd_view'::regclass" d \
	"the view reads the new table"
t_is "$(coltype rebuild d_view id)" bigint "the view's id column follows the new type"
t_sql_is rebuild "SELECT has_table_privilege('$READER', 'd_view', 'SELECT'), obj_description('d_view'::regclass, 'pg_class')" "t|small ones" \
	"the view's grant and comment are kept"
t_sql_is rebuild "SELECT confrelid::regclass::text || ' ' || convalidated FROM pg_constraint WHERE conname = 'd_child_d_id_fkey'" "d true" \
	"the foreign key of d_child references the new table and is validated"
t_exit 3 "  ... and enforces: a child row without parent is refused" t_sql rebuild "INSERT INTO d_child VALUES (1000, 999999)"
t_like "$T_ERR" 'violates foreign key constraint "d_child_d_id_fkey"' "  ... by that constraint"
t_exit 3 "  ... and a referenced parent cannot be deleted" t_sql rebuild "DELETE FROM d WHERE id = 5"
t_sql_is rebuild "SELECT confrelid::regclass::text || ' ' || convalidated FROM pg_constraint
	WHERE conrelid = 'd'::regclass AND contype = 'f'" "d_grp true" "the table's own foreign key is on the new table, validated"
t_exit 3 "  ... and enforces" t_sql rebuild "INSERT INTO d (payload, n, grp) VALUES ('nogrp', 1, 99)"
t_exit 3 "the CHECK constraint is kept and enforced" t_sql rebuild "INSERT INTO d (payload, n, grp) VALUES ('neg', -1, 1)"
t_sql_is rebuild "SELECT string_agg(c.relname, ',' ORDER BY c.relname) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
	WHERE i.indrelid = 'd'::regclass" "d_n,d_payload,d_pkey" "the new table's indexes carry the old names"
new_row=$(t_sql rebuild "INSERT INTO d (payload, n, grp) VALUES ('after cut-over', 1, 1) RETURNING id || ' ' || ticket")
t_ok "an insert gets a fresh identity value and a fresh serial value ($new_row; before: $max_before $ticket_before)" \
	test "${new_row% *}" -gt "$max_before" -a "${new_row#* }" -gt "$ticket_before"
t_sql_is rebuild "SELECT count(*) FROM d_audit WHERE d_id = ${new_row% *} AND op = 'INSERT'" 1 \
	"the table's trigger fires after the cut-over, once"
t_sql_is rebuild "SELECT relrowsecurity FROM pg_class WHERE oid = 'd'::regclass" t "row-level security is enabled on the new table"
t_sql_is rebuild "SELECT policyname || ' ' || cmd || ' ' || roles::text || ' ' || qual FROM pg_policies WHERE tablename = 'd'" \
	"d_small SELECT {$READER} (n < 50)" "the RLS policy is on the new table"
t_is "$(t_sql rebuild "$grants_sql")" "$grants_before" "table and column grants are the same as before"
t_sql_is rebuild "SELECT obj_description('d'::regclass, 'pg_class') || ' / ' || col_description('d'::regclass, 3)" \
	"the d table / what it carries" "the table and column comments are kept"
t_sql_is rebuild "SELECT string_agg(schemaname || '.' || tablename, ',') FROM pg_publication_tables WHERE pubname = 't_rebuild_pub'" \
	public.d "the publication now holds the new table (only)"
t_exit 0 "--drop-old after the cut-over" "$S" rebuild d --drop-old
t_sql_is rebuild "SELECT to_regclass('_shunt_old_d') IS NULL" t "the old table is gone"
t_sql_is rebuild "WITH i AS (INSERT INTO d (payload, n, grp) VALUES ('after drop', 1, 1) RETURNING ticket)
	SELECT (SELECT count(*) FROM d_view) > 0, (SELECT ticket > $ticket_before FROM i)" "t|t" \
	"after --drop-old the view works and the serial's sequence still serves inserts"
# int -> bigint is done to get past the int range: a plain ALTER TABLE
# extends the identity sequence to bigint's maximum
t_sql_is rebuild "SELECT max_value FROM pg_sequences
	WHERE schemaname || '.' || sequencename = pg_get_serial_sequence('d', 'id')" 9223372036854775807 \
	"the identity sequence of the now bigint id goes to bigint's maximum, as with ALTER TABLE"
t_sql_is rebuild "SELECT setval(pg_get_serial_sequence('d', 'id'), 2147483647) > 0;
	INSERT INTO d (payload, n, grp) VALUES ('past int', 1, 1) RETURNING id" "t
2147483648" \
	"  ... so an insert gets an id past the int range"

# === 3. --postpone-cutover, then shunt cutover; revert limits ===================
t_sql rebuild "CREATE TABLE p (id int PRIMARY KEY, v text NOT NULL);
	INSERT INTO p SELECT g, 'v' || g FROM generate_series(1, 5000) g" >/dev/null
t_exit 0 "rebuild --postpone-cutover succeeds" "$S" rebuild p --postpone-cutover --alter "ALTER COLUMN id TYPE bigint"
# shellcheck disable=SC2016 # backquotes in the expected text
t_like "$T_ERR" 'the cut-over is postponed: run `shunt cutover p`' "  ... and says how to cut over"
t_is "$(status rebuild p)" copied "  ... the rebuild waits, copied"
t_is "$(coltype rebuild p id)" integer "  ... the live table is not swapped yet"
t_sql rebuild "INSERT INTO p VALUES (6001, 'new'), (6002, 'new2');
	UPDATE p SET v = 'changed' WHERE id BETWEEN 10 AND 20;
	UPDATE p SET id = id + 100000 WHERE id = 30;
	DELETE FROM p WHERE id BETWEEN 40 AND 49" >/dev/null
t_exit 3 "TRUNCATE is refused while the rebuild is open" t_sql rebuild "TRUNCATE p"
t_like "$T_ERR" 'is being rebuilt by shunt: TRUNCATE is refused' "  ... saying why"
p_sum=$(t_sql rebuild "SELECT count(*) || ' ' || md5(string_agg(id || ':' || v, ',' ORDER BY id)) FROM p")
t_exit 0 "shunt cutover swaps it in" "$S" cutover p
t_is "$(coltype rebuild p id)" bigint "  ... id is bigint"
t_is "$(t_sql rebuild "SELECT count(*) || ' ' || md5(string_agg(id || ':' || v, ',' ORDER BY id)) FROM p")" "$p_sum" \
	"the rows after the cut-over are those before it, writes made in between included"
t_sql_is rebuild "SELECT status, lock_ms > 0 FROM shunt.rebuilds WHERE table_name = 'p'" "cutover|t" \
	"the cut-over and the exclusive lock's duration are recorded"
t_exit 1 "a second cutover is refused" "$S" cutover p
t_like "$T_ERR" 'is cutover, not ready for a cut-over.*cut over already' "  ... saying it was cut over"
t_sql rebuild "INSERT INTO p VALUES (3000000000, 'too big for int')" >/dev/null
t_exit 1 "--revert fails when a row no longer fits the old type" "$S" rebuild p --revert
t_like "$T_ERR" 'must fit the old definition' "  ... saying why"
t_is "$(coltype rebuild p id)" bigint "  ... leaving the rebuilt table live"
t_sql_is rebuild "SELECT (SELECT status FROM shunt.rebuilds WHERE table_name = 'p'), (SELECT count(*) FROM p WHERE id = 3000000000)" \
	"cutover|1" "  ... with the row and the state as they were"
t_sql rebuild "DELETE FROM p WHERE id = 3000000000" >/dev/null
t_exit 0 "once the row is gone the revert succeeds" "$S" rebuild p --revert
t_is "$(t_sql rebuild "SELECT count(*) || ' ' || md5(string_agg(id || ':' || v, ',' ORDER BY id)) FROM p")" "$p_sum" \
	"  ... with the same rows"
t_exit 0 "--drop-old ends it" "$S" rebuild p --drop-old

# === 4. --abort leaves the catalog as before ================================
t_sql rebuild "CREATE TABLE ab (id int PRIMARY KEY, v text, n int);
	CREATE INDEX ab_n ON ab (n);
	INSERT INTO ab SELECT g, 'v', g FROM generate_series(1, 3000) g;
	CREATE VIEW ab_v AS SELECT * FROM ab;
	CREATE TABLE ab_child (id int PRIMARY KEY, ab_id int REFERENCES ab (id));
	CREATE FUNCTION ab_fn() RETURNS trigger LANGUAGE plpgsql AS \$\$ BEGIN RETURN NEW; END \$\$;
	CREATE TRIGGER ab_trg BEFORE UPDATE ON ab FOR EACH ROW EXECUTE FUNCTION ab_fn()" >/dev/null
before=$(catalog rebuild)
t_exit 0 "a postponed rebuild to abort" "$S" rebuild ab --postpone-cutover --alter "ALTER COLUMN id TYPE bigint"
t_unlike "$(diff <(echo "$before") <(catalog rebuild) || true)" '^$' "  ... created objects (shadow, capture trigger, log)"
t_sql rebuild "UPDATE ab SET v = 'w' WHERE id < 100" >/dev/null
t_exit 0 "--abort succeeds" "$S" rebuild ab --abort
same_catalog "$before" "$(catalog rebuild)" \
	"after --abort the catalog is as before: no shadow, no _shunt_rb_ trigger, function or log, same OIDs"
t_is "$(status rebuild ab)" aborted "  ... and the rebuild is recorded as aborted"
t_sql_is rebuild "SELECT count(*) FILTER (WHERE v = 'w') FROM ab" 99 "  ... the writes made meanwhile are in the table"
t_exit 1 "--abort of a rebuild that is no longer open fails" "$S" rebuild ab --abort

# === 7. prepared statements and the type-change warning ======================
t_sql rebuild "CREATE TABLE ps (id int PRIMARY KEY, v text); INSERT INTO ps SELECT g, 'v' || g FROM generate_series(1, 1000) g" >/dev/null
coproc PS { psql -XAtq rebuild 2>&1; }
# shellcheck disable=SC2016 # $1 is the statement's parameter
echo 'PREPARE q AS SELECT id, v FROM ps WHERE id = $1; EXECUTE q(7);' >&"${PS[1]}"
line=
read -r -t 10 line <&"${PS[0]}" || true
t_is "$line" "7|v7" "a session prepared a statement on the table"
t_exit 0 "a type-changing rebuild with that session open" "$S" rebuild ps --alter "ALTER COLUMN id TYPE bigint"
t_like "$T_ERR" 'warning: rebuild: column type changes at the cut-over: id: integer -> bigint.*prepared statements on public.ps.*cached plan must not change result type.*cut over;' \
	"shunt warned about the type change and prepared statements before the cut-over"
echo 'EXECUTE q(7);' >&"${PS[1]}"
line=
read -r -t 10 line <&"${PS[0]}" || true
t_like "$line" 'cached plan must not change result type' "  ... and the warning is true: the prepared statement fails once"
echo '\q' >&"${PS[1]}"
wait "${PS_PID:-}" 2>/dev/null || true
t_exit 0 "--drop-old" "$S" rebuild ps --drop-old

# === 8. bloat rebuild (no --alter) ==========================================
t_sql rebuild "CREATE TABLE bl (id int PRIMARY KEY, pad text) WITH (autovacuum_enabled = false, fillfactor = 90);
	INSERT INTO bl SELECT g, repeat('x', 200) FROM generate_series(1, 20000) g;
	DELETE FROM bl WHERE id % 10 <> 0" >/dev/null
size_before=$(t_sql rebuild "SELECT pg_total_relation_size('bl')")
bl_sum=$(t_sql rebuild "SELECT count(*) || ' ' || md5(string_agg(id || pad, ',' ORDER BY id)) FROM bl")
t_exit 0 "a bloat rebuild with --drop-old" "$S" rebuild bl --drop-old
t_like "$T_ERR" 'cut over; the exclusive lock was held [0-9.]+ ms; size [0-9]+ [kM]B before, [0-9]+ [kM]B after' \
	"it reports the size before and after"
t_unlike "$T_ERR" 'prepared statements' "  ... and gives no type-change warning"
size_after=$(t_sql rebuild "SELECT pg_total_relation_size('bl')")
t_ok "the table shrank ($size_before -> $size_after bytes)" test "$((size_after * 3))" -lt "$size_before"
t_sql_is rebuild "SELECT size_before = $size_before AND size_after = $size_after FROM shunt.rebuilds WHERE table_name = 'bl'" t \
	"  ... as recorded in the state"
t_is "$(t_sql rebuild "SELECT count(*) || ' ' || md5(string_agg(id || pad, ',' ORDER BY id)) FROM bl")" "$bl_sum" "  ... with the same rows"
t_sql_is rebuild "SELECT reloptions::text FROM pg_class WHERE oid = 'bl'::regclass" "{autovacuum_enabled=false,fillfactor=90}" \
	"  ... and the same storage parameters"
t_sql_is rebuild "SELECT to_regclass('_shunt_old_bl') IS NULL, (SELECT status FROM shunt.rebuilds WHERE table_name = 'bl')" "t|done" \
	"--drop-old with the rebuild dropped the old table at once"

# === 9. lock safety: a cut-over that cannot get its lock ========================
t_sql rebuild "CREATE TABLE lk (id int PRIMARY KEY, v text); INSERT INTO lk SELECT g, 'v' FROM generate_series(1, 5000) g" >/dev/null
t_exit 0 "a postponed rebuild of lk" "$S" rebuild lk --postpone-cutover --alter "ALTER COLUMN id TYPE bigint"
coproc BLOCK { psql -XAtq rebuild 2>&1; }
echo "BEGIN; LOCK TABLE lk IN SHARE MODE; SELECT pg_backend_pid();" >&"${BLOCK[1]}"
blocker=
read -r -t 10 blocker <&"${BLOCK[0]}" || true
t_like "$blocker" '^[0-9]+$' "an application transaction holds a SHARE lock on lk"
t0=${EPOCHREALTIME/./}
"$S" cutover lk --lock-timeout 100ms --lock-retry-total 2s >"$T_TMP/lk.out" 2>"$T_TMP/lk.err" &
cut=$!
BG+=("$cut")
sleep 0.3
reads=0
reads_ok=0
while kill -0 "$cut" 2>/dev/null && ((reads < 30)); do
	reads=$((reads + 1))
	if t_sql rebuild "SET statement_timeout = '1s'; SELECT count(*) FROM lk" >/dev/null 2>&1; then
		reads_ok=$((reads_ok + 1))
	fi
	sleep 0.1
done
wait_pid "$cut" 60
secs=$(((${EPOCHREALTIME/./} - t0) / 1000000))
T_ERR=$(<"$T_TMP/lk.err")
t_is "$WAIT_RC" 1 "the cut-over gives up while the lock is held"
t_like "$T_ERR" "lock not available \(attempt 1.*attempt 2.*gave up acquiring locks for the cut-over.*Blocked by pid $blocker " \
	"  ... after retrying, naming the blocking session"
t_ok "  ... within a bound ($secs s for --lock-retry-total 2s)" test "$secs" -lt 15
t_ok "application reads on lk went through while the cut-over retried ($reads_ok of $reads within 1 s each)" \
	test "$reads" -ge 3 -a "$reads_ok" -eq "$reads"
T_ERR=
t_is "$(coltype rebuild lk id)" integer "  ... and nothing was swapped"
t_is "$(status rebuild lk)" copied "  ... the rebuild still waits for its cut-over"
echo "COMMIT;" >&"${BLOCK[1]}"
echo '\q' >&"${BLOCK[1]}"
wait "${BLOCK_PID:-}" 2>/dev/null || true
t_exit 0 "once the blocker ended the cut-over succeeds" "$S" cutover lk --lock-timeout 100ms
t_is "$(coltype rebuild lk id)" bigint "  ... id is bigint"

# === 1. and 5. with trigger capture ===========================================
writer_section rebuild w trigger
kill_resume_section rebuild k trigger

# === logical capture: as a non-superuser REPLICATION role owning the tables ====
export PGUSER=$REP PGDATABASE=rebuild_lg
writer_section rebuild_lg w logical
kill_resume_section rebuild_lg k logical

# --- --capture logical with a bad --alter leaves no publication or slot
t_sql rebuild_lg "CREATE TABLE lb (id int PRIMARY KEY, v text); INSERT INTO lb VALUES (1, 'a')" >/dev/null
before=$(catalog rebuild_lg)
t_exit 1 "logical: a failing --alter fails the start" "$S" rebuild lb --capture logical --alter "ALTER COLUMN nope TYPE int"
same_catalog "$before" "$(catalog rebuild_lg)" "logical: ... and leaves no publication, slot or shadow"

# --- postponed logical rebuild: the process waits, shunt cutover asks it
t_sql rebuild_lg "CREATE TABLE lp (id int PRIMARY KEY, v text NOT NULL);
	INSERT INTO lp SELECT g, 'v' || g FROM generate_series(1, 5000) g" >/dev/null
"$S" rebuild lp --capture logical --postpone-cutover --alter "ALTER COLUMN id TYPE bigint" >"$T_TMP/lp.out" 2>&1 &
lp=$!
BG+=("$lp")
t_sql_eventually rebuild_lg "SELECT status FROM shunt.rebuilds WHERE table_name = 'lp'" copied \
	"logical --postpone-cutover: the rebuild becomes ready" 30
t_ok "  ... and its process keeps running" kill -0 "$lp"
t_is "$(coltype rebuild_lg lp id)" integer "  ... without swapping"
t_sql rebuild_lg "INSERT INTO lp VALUES (7001, 'new'); UPDATE lp SET v = 'changed' WHERE id < 20;
	UPDATE lp SET id = id + 100000 WHERE id = 25; DELETE FROM lp WHERE id BETWEEN 30 AND 39" >/dev/null
lp_sum=$(t_sql rebuild_lg "SELECT count(*) || ' ' || md5(string_agg(id || ':' || v, ',' ORDER BY id)) FROM lp")
t_exit 0 "logical: shunt cutover asks the waiting process" "$S" cutover lp
wait_pid "$lp" 60
t_is "$WAIT_RC" 0 "  ... which cuts over and exits 0"
t_is "$(coltype rebuild_lg lp id)" bigint "  ... id is bigint"
t_is "$(t_sql rebuild_lg "SELECT count(*) || ' ' || md5(string_agg(id || ':' || v, ',' ORDER BY id)) FROM lp")" "$lp_sum" \
	"logical: the rows after the cut-over include the writes made while it waited"
t_sql_is rebuild_lg "SELECT (SELECT count(*) FROM pg_publication WHERE pubname LIKE '\\_shunt%')
	+ (SELECT count(*) FROM pg_replication_slots WHERE database = current_database())" 0 \
	"logical: no publication or slot is left after the cut-over"
t_exit 0 "logical: --drop-old" "$S" rebuild lp --drop-old

# --- abort of a postponed logical rebuild
t_sql rebuild_lg "CREATE TABLE la (id int PRIMARY KEY, v text); INSERT INTO la SELECT g, 'v' FROM generate_series(1, 3000) g;
	CREATE VIEW la_v AS SELECT * FROM la" >/dev/null
before=$(catalog rebuild_lg)
"$S" rebuild la --capture logical --postpone-cutover --alter "ALTER COLUMN id TYPE bigint" >"$T_TMP/la.out" 2>&1 &
la=$!
BG+=("$la")
t_sql_eventually rebuild_lg "SELECT status FROM shunt.rebuilds WHERE table_name = 'la'" copied \
	"logical abort: the postponed rebuild is ready" 30
t_sql_is rebuild_lg "SELECT count(*) FROM pg_replication_slots WHERE database = current_database() AND active" 1 \
	"  ... holding an active slot"
t_exit 3 "--abort is refused while the rebuild's process runs" "$S" rebuild la --abort
t_like "$T_ERR" 'another shunt process is working on schema "public"' "  ... saying why"
kill -INT "$la"
wait_pid "$la" 30
t_is "$WAIT_RC" 130 "the waiting process stops on SIGINT"
t_exit 0 "--abort then succeeds" "$S" rebuild la --abort
same_catalog "$before" "$(catalog rebuild_lg)" \
	"logical: after --abort the catalog is as before: no shadow, log, publication or slot"

# --- FORCE ROW LEVEL SECURITY: the owner's copy must not see a filtered table
t_sql rebuild_lg "CREATE TABLE fr (id int PRIMARY KEY, tenant int NOT NULL, v text);
	INSERT INTO fr SELECT g, g % 4, 'v' || g FROM generate_series(1, 1000) g;
	ALTER TABLE fr ENABLE ROW LEVEL SECURITY; ALTER TABLE fr FORCE ROW LEVEL SECURITY;
	CREATE POLICY fr_tenant ON fr USING (tenant = current_setting('app.tenant', true)::int)" >/dev/null
"$S" rebuild fr --alter "ALTER COLUMN id TYPE bigint" >/dev/null 2>"$T_TMP/fr.err" || true
T_ERR=$(<"$T_TMP/fr.err")
t_is "$(t_sql_super rebuild_lg "SELECT count(*) FROM fr")" 1000 \
	"a rebuild of a FORCE ROW LEVEL SECURITY table by its (non-superuser) owner loses no row"
t_like "$T_ERR" "FORCE ROW LEVEL SECURITY.*BYPASSRLS" "  ... it is refused, naming FORCE ROW LEVEL SECURITY and BYPASSRLS"
T_ERR=

# --- a cut-over request with no process waiting
t_sql rebuild_lg "CREATE TABLE lq (id int PRIMARY KEY, v text); INSERT INTO lq SELECT g, 'v' FROM generate_series(1, 3000) g" >/dev/null
"$S" rebuild lq --capture logical --postpone-cutover --alter "ALTER COLUMN id TYPE bigint" >"$T_TMP/lq.out" 2>&1 &
lq=$!
BG+=("$lq")
t_sql_eventually rebuild_lg "SELECT status FROM shunt.rebuilds WHERE table_name = 'lq'" copied \
	"logical: a postponed rebuild of lq is ready" 30
kill -INT "$lq"
wait_pid "$lq" 30
t_sql_eventually rebuild_lg "SELECT count(*) FROM pg_replication_slots WHERE database = current_database()" 0 \
	"  ... its process was stopped and its slot is gone"
rc=0
"$S" cutover lq >/dev/null 2>"$T_TMP/lq.cut.err" || rc=$?
T_ERR=$(<"$T_TMP/lq.cut.err")
t_ok "shunt cutover with no process holding the slot fails, or cuts over itself (exit $rc, id $(coltype rebuild_lg lq id))" \
	test "$rc" -ne 0 -o "$(coltype rebuild_lg lq id)" = bigint
T_ERR=
if [[ $(coltype rebuild_lg lq id) == integer ]]; then
	"$S" rebuild lq --capture logical --postpone-cutover --alter "ALTER COLUMN id TYPE bigint" >"$T_TMP/lq2.out" 2>&1 &
	lq=$!
	BG+=("$lq")
	for ((i = 0; i < 300; i++)); do
		grep -qE 'ready; waiting|cut over;' "$T_TMP/lq2.out" && break
		kill -0 "$lq" 2>/dev/null || break
		sleep 0.1
	done
	t_like "$(<"$T_TMP/lq2.out")" 'ready; waiting|cut over;' "logical: the rerun of lq gets ready"
	sleep 2
	t_is "$(status rebuild_lg lq) $(coltype rebuild_lg lq id)" "copied integer" \
		"a rerun with --postpone-cutover waits for a new cutover request (no stale request is taken)"
	if kill -0 "$lq" 2>/dev/null; then
		"$S" cutover lq >/dev/null 2>&1 || true
	fi
	wait_pid "$lq" 60
fi

# --- verification: a shadow that keeps differing stops the rebuild, nothing swapped.
# A trigger on the shadow (created while the copy runs) alters every row the copy
# and the re-copy write.  Once with hashable column types (rows hashed by type)
# and once with a json column (rows hashed as text).
for vt in vt_hash vt_text; do
	if [[ $vt == vt_hash ]]; then
		t_sql rebuild_lg "CREATE TABLE $vt (id int PRIMARY KEY, v text NOT NULL)" >/dev/null
	else
		t_sql rebuild_lg "CREATE TABLE $vt (id int PRIMARY KEY, v text NOT NULL, j json)" >/dev/null
	fi
	t_sql rebuild_lg "INSERT INTO $vt (id, v) SELECT g, 'v' || g FROM generate_series(1, 6000) g;
		CREATE FUNCTION ${vt}_tamper() RETURNS trigger LANGUAGE plpgsql AS
		\$\$ BEGIN NEW.v := 'tampered'; RETURN NEW; END \$\$" >/dev/null
	"$S" rebuild $vt --alter "ALTER COLUMN id TYPE bigint" --batch-size 200 --max-rows-per-second 3000 \
		>"$T_TMP/$vt.out" 2>&1 &
	vp=$!
	BG+=("$vp")
	t_sql_eventually rebuild_lg "SELECT to_regclass('_shunt_rb_$vt') IS NOT NULL" t "$vt: the shadow exists while the copy runs" 20
	t_sql rebuild_lg "CREATE TRIGGER tamper BEFORE INSERT ON _shunt_rb_$vt FOR EACH ROW EXECUTE FUNCTION ${vt}_tamper()" >/dev/null
	wait_pid "$vp" 120
	T_ERR=$(<"$T_TMP/$vt.out")
	t_is "$WAIT_RC" 1 "$vt: a shadow that keeps differing fails the rebuild (exit 1)"
	t_like "$T_ERR" "verification failed: a chunk of .* keeps differing" "  ... saying the verification failed"
	t_is "$(coltype rebuild_lg $vt id)" integer "  ... and nothing was swapped"
	t_is "$(t_sql rebuild_lg "SELECT count(*) FROM $vt WHERE v = 'tampered'")" 0 "  ... the live table is untouched"
	t_exit 0 "  ... --abort removes the shadow" "$S" rebuild $vt --abort
	T_ERR=
done

t_done
