#!/usr/bin/env bash
# The column operations end to end, in pgroll's style: add_column,
# drop_column, rename_column and every kind of alter_column (type, nullable
# both ways, default set and dropped, unique, check, references, comment,
# several changes at once).
#
# For each migration: the schema before it is dumped, the migration is
# started and rolled back (the dump and the data must come back unchanged),
# then started again and, while both versions are live, rows are written
# through the OLD version (search_path = the application schema, or the
# previous version schema) and read through the NEW one (search_path = the
# version schema) to check `up`, written through the NEW version and read
# through the OLD one to check `down`, and the constraints each side sees
# are probed.  Then complete, and the physical schema, the data, the absence
# of anything named _shunt_* and the dropping of the previous version schema
# are checked.  Further cases: alter_column keeps what else the column has
# (its constraints and indexes, a deferrable unique constraint, a unique
# constraint that INCLUDEs it, a serial's sequence, an identity, a generated
# column reading it), a column split in two, a rename chain swapping two
# names, an up reading a column the same migration adds, and a rollback
# after both versions wrote.  The last part repeats this with hostile names
# (quotes, parentheses, spaces, mixed case, non-ASCII, reserved words, 63
# bytes).  Each case is a function that stops at its first failed start.
set -euo pipefail
# shellcheck source=tests/lib/testlib.sh
source "$(dirname "$0")/../lib/testlib.sh"

DB=ops_columns
t_createdb "$DB"
export PGDATABASE=$DB
# NOTICEs ("... does not exist, skipping") would only clutter the log.
export PGOPTIONS='-c client_min_messages=warning'

# ---------------------------------------------------------------------------
# helpers

# qi NAME / ql TEXT: NAME as a quoted SQL identifier, TEXT as a literal.
qi() {
	local s=${1//\"/\"\"}
	printf '"%s"' "$s"
}
ql() {
	local s=${1//\'/\'\'}
	printf "'%s'" "$s"
}

SCH=public # the application schema the migrations run on
MIG=       # the current migration: $T_TMP/$MIG.yaml
VS=        # its version schema
PREV=      # the version schema of the last completed migration in $SCH

# mig NAME: the migration NAME (YAML on stdin) becomes the current one.
mig() {
	MIG=$1
	VS="${SCH}_$1"
	cat >"$T_TMP/$1.yaml"
}

# shunt on $SCH.  A runaway shunt must fail its assertion, not take the
# machine's memory or the file's time with it: its address space is capped
# (except under AddressSanitizer, which reserves terabytes) and it has 60 s.
if grep -q __asan_init "$SHUNT_BIN" 2>/dev/null; then
	SHUNT_VMEM=unlimited
else
	SHUNT_VMEM=500000
fi
sh_() {
	(
		ulimit -v "$SHUNT_VMEM"
		exec timeout 60 "$SHUNT_BIN" --schema "$SCH" "$@"
	)
}
sq() { t_sql "$DB" "$1"; }
# SQL as a client of the old version (the application schema itself), of
# the new version (its version schema), or of a version schema named $1.
# shellcheck disable=SC2317 # called through t_ok and t_exit
old() { t_sql "$DB" "SET search_path TO $(qi "$SCH"); $1"; }
# shellcheck disable=SC2317
new() { t_sql "$DB" "SET search_path TO $(qi "$VS"); $1"; }
# shellcheck disable=SC2317
in_version() { t_sql "$DB" "SET search_path TO $(qi "$1"); $2"; }

old_is() { t_sql_is "$DB" "SET search_path TO $(qi "$SCH"); $1" "$2" "$MIG: old version: $3"; }
new_is() { t_sql_is "$DB" "SET search_path TO $(qi "$VS"); $1" "$2" "$MIG: new version: $3"; }
old_ok() { t_ok "$MIG: old version: $2" old "$1"; }
new_ok() { t_ok "$MIG: new version: $2" new "$1"; }
# old_err SQL REGEX DESC: the statement fails with an error matching REGEX.
old_err() {
	t_exit 3 "$MIG: old version: $3" old "$1"
	t_like "$T_ERR" "$2" "  ... with an error matching /$2/"
}
new_err() {
	t_exit 3 "$MIG: new version: $3" new "$1"
	t_like "$T_ERR" "$2" "  ... with an error matching /$2/"
}

# rel TABLE: the table of $SCH as a regclass literal.
rel() { printf '%s::regclass' "$(ql "$(qi "$SCH").$(qi "$1")")"; }

# cols_is TABLE EXPECTED: "name type[ not null][ default ...]" per column, by name.
cols_is() {
	t_sql_is "$DB" "SELECT string_agg(a.attname || ' ' || pg_catalog.format_type(a.atttypid, a.atttypmod)
			|| CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
			|| coalesce(' default ' || pg_catalog.pg_get_expr(d.adbin, d.adrelid), ''), E'\n' ORDER BY a.attname)
		FROM pg_catalog.pg_attribute a
		LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
		WHERE a.attrelid = $(rel "$1") AND a.attnum > 0 AND NOT a.attisdropped" \
		"$2" "$MIG: after complete, the columns of $1 are the final ones"
}
# cons_is TABLE EXPECTED: "name definition" per constraint, by name.
cons_is() {
	t_sql_is "$DB" "SELECT string_agg(conname || ' ' || pg_catalog.pg_get_constraintdef(oid), E'\n' ORDER BY conname)
		FROM pg_catalog.pg_constraint WHERE conrelid = $(rel "$1")" \
		"$2" "$MIG: after complete, the constraints of $1 are the final ones (validated)"
}
# idx_is TABLE EXPECTED: the definitions of the table's indexes, by name;
# all of them must be valid.
idx_is() {
	t_sql_is "$DB" "SELECT string_agg(pg_catalog.pg_get_indexdef(i.indexrelid)
			|| CASE WHEN i.indisvalid THEN '' ELSE ' INVALID' END, E'\n' ORDER BY c.relname)
		FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
		WHERE i.indrelid = $(rel "$1")" \
		"$2" "$MIG: after complete, the indexes of $1 are the final ones"
}
# comment_is TABLE COLUMN EXPECTED
comment_is() {
	t_sql_is "$DB" "SELECT coalesce(pg_catalog.col_description(a.attrelid, a.attnum), '<none>')
		FROM pg_catalog.pg_attribute a WHERE a.attrelid = $(rel "$1") AND a.attname = $(ql "$2")" \
		"$3" "$MIG: after complete, the comment of $1.$2"
}
# view_cols_is TABLE EXPECTED: the columns the new version's view exposes.
view_cols_is() {
	t_sql_is "$DB" "SELECT string_agg(column_name::text, ',' ORDER BY ordinal_position)
		FROM information_schema.columns WHERE table_schema = $(ql "$VS") AND table_name = $(ql "$1")" \
		"$2" "$MIG: the new version's view of $1 has the new version's columns"
}

schema_count() {
	sq "SELECT count(*) FROM pg_catalog.pg_namespace WHERE nspname = $(ql "$1")"
}

# Everything shunt makes is named _shunt_*: none of it may outlive complete
# or rollback (index attribute names excepted: an index keeps the name its
# column had when it was built).
LEFTOVERS="SELECT coalesce(string_agg(what, ', ' ORDER BY what), '') FROM (
	SELECT 'relation ' || c.oid::regclass::text AS what
	  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
	 WHERE c.relname LIKE '\\_shunt\\_%' AND n.nspname <> 'shunt'
	UNION ALL
	SELECT 'column ' || c.oid::regclass::text || '.' || quote_ident(a.attname)
	  FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
	  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
	 WHERE a.attname LIKE '\\_shunt\\_%' AND a.attnum > 0 AND NOT a.attisdropped
	   AND c.relkind <> 'i' AND n.nspname <> 'shunt'
	UNION ALL
	SELECT 'trigger ' || quote_ident(tgname) FROM pg_catalog.pg_trigger WHERE tgname LIKE '\\_shunt\\_%'
	UNION ALL
	SELECT 'function ' || oid::regprocedure::text FROM pg_catalog.pg_proc WHERE proname LIKE '\\_shunt\\_%'
	UNION ALL
	SELECT 'constraint ' || quote_ident(conname) FROM pg_catalog.pg_constraint WHERE conname LIKE '\\_shunt\\_%'
	UNION ALL
	SELECT 'schema ' || quote_ident(nspname) FROM pg_catalog.pg_namespace WHERE nspname LIKE '\\_shunt\\_%'
) x"
no_leftovers() {
	t_sql_is "$DB" "$LEFTOVERS" "" "$MIG: $1, nothing named _shunt_* is left"
}

# The schema as pg_dump sees it, without shunt's own state schema (and
# without pg_dump's per-run \restrict key).
snap() {
	"$PG_BINDIR/pg_dump" -s -N shunt "$DB" | grep -v -E '^\\(un)?restrict '
}
# same GOT WANT DESC: t_is that shows a diff instead of two dumps.
same() {
	if [[ $1 == "$2" ]]; then
		t_pass "$3"
	else
		t_fail "$3" "$(diff <(printf '%s\n' "$2") <(printf '%s\n' "$1") || true)"
	fi
}

# try_rollback DATA_SQL: start the current migration and roll it back; the
# schema must be byte-identical to before and DATA_SQL's result unchanged.
try_rollback() {
	local data=$1 before rows
	before=$(snap) || before="<pg_dump failed>"
	rows=$(sq "$data") || rows="<query failed>"
	t_ok "$MIG: start (to roll back)" sh_ start "$T_TMP/$MIG.yaml"
	# A start that fails rolls itself back: the checks below hold either way.
	if ((T_RC == 0)); then
		t_ok "$MIG: rollback" sh_ rollback
	fi
	same "$(snap)" "$before" "$MIG: rollback restores the schema exactly (pg_dump -s)"
	t_sql_is "$DB" "$data" "$rows" "$MIG: rollback keeps the data as it was"
	t_is "$(schema_count "$VS")" 0 "$MIG: rollback drops the version schema"
	no_leftovers "after rollback"
}

# start: start the current migration; returns non-zero when that failed, and
# the case stops there (its other checks would only repeat the failure).
start() {
	t_ok "$MIG: start" sh_ start "$T_TMP/$MIG.yaml"
	if ((T_RC != 0)); then
		return 1
	fi
	t_is "$(schema_count "$VS")" 1 "$MIG: start creates the version schema $VS"
}

complete() {
	t_ok "$MIG: complete" sh_ complete
	if ((T_RC != 0)); then
		# Roll back what cannot complete, so the next case starts clean
		# (the failure above is recorded either way).
		sh_ rollback >/dev/null 2>&1 || true
		return 1
	fi
	no_leftovers "after complete"
	if [[ -n $PREV ]]; then
		t_is "$(schema_count "$PREV")" 0 "$MIG: complete drops the previous version schema $PREV"
	fi
	t_is "$(schema_count "$VS")" 1 "$MIG: the version schema stays after complete"
	PREV=$VS
}

# ---------------------------------------------------------------------------
# the old version's schema, made without shunt

sq "CREATE TABLE teams (id int PRIMARY KEY, title text NOT NULL);
	INSERT INTO teams VALUES (1, 'red'), (2, 'blue');
	CREATE TABLE products (id int PRIMARY KEY, name text NOT NULL, price numeric(10,2) NOT NULL);
	CREATE INDEX products_name_idx ON products (name);
	INSERT INTO products VALUES (1, 'apple', 1.50), (2, 'pear', 2.00), (3, 'fig', 3.25);
	CREATE TABLE scores (id int PRIMARY KEY, product text NOT NULL, points text, rating text DEFAULT '0');
	CREATE INDEX scores_points_idx ON scores (points);
	COMMENT ON COLUMN scores.points IS 'points so far';
	INSERT INTO scores VALUES (1, 'apple', '4', '4'), (2, 'pear', '5', '5'), (3, 'fig', '1', '1');
	CREATE TABLE reviews (id int PRIMARY KEY, product text NOT NULL, review text);
	INSERT INTO reviews VALUES (1, 'apple', 'tasty'), (2, 'pear', NULL), (3, 'fig', 'odd');
	CREATE TABLE people (id int PRIMARY KEY, name text NOT NULL, city text DEFAULT 'nowhere',
		country text DEFAULT 'NL', note text);
	COMMENT ON COLUMN people.name IS 'to be removed';
	INSERT INTO people VALUES (1, 'ann', DEFAULT, DEFAULT, NULL), (2, 'ben', 'Paris', 'FR', 'x');
	CREATE TABLE users (id int PRIMARY KEY, name text);
	INSERT INTO users VALUES (1, 'u1'), (2, 'u2');
	CREATE TABLE posts (id int PRIMARY KEY, title text NOT NULL, user_id int);
	INSERT INTO posts VALUES (1, 'hello', 1), (2, 'hi', 2), (3, 'yo', NULL), (7, 'orphaned', 99);
	CREATE TABLE events (id serial PRIMARY KEY, name varchar(255) DEFAULT '<placeholder>');
	COMMENT ON COLUMN events.name IS 'the name of the event';
	INSERT INTO events (name) VALUES ('launch'), (NULL), ('ab');"

# ---------------------------------------------------------------------------
# add_column: every column feature, with and without up

c_01_add_columns() {
mig 01_add_columns <<'EOF'
operations:
  - add_column:
      table: products
      up: UPPER(name)
      column:
        name: description
        type: varchar(255)
        nullable: true
        comment: what it is
  - add_column:
      table: products
      column:
        name: stock
        type: int
        nullable: false
        default: "100"
  - add_column:
      table: products
      up: name || '-category'
      column:
        name: category
        type: varchar(255)
        nullable: false
  - add_column:
      table: products
      up: "'c' || id"
      column:
        name: code
        type: text
        nullable: true
        unique: true
  - add_column:
      table: products
      up: (price * 100)::int
      column:
        name: price_cents
        type: integer
        nullable: true
        check:
          name: price_cents_positive
          constraint: price_cents >= 0
  - add_column:
      table: products
      column:
        name: team_id
        type: integer
        nullable: true
        references:
          name: fk_products_team
          table: teams
          column: id
          on_delete: SET NULL
  - add_column:
      table: products
      column:
        name: added_at
        type: timestamptz
        default: now()
EOF
try_rollback "SELECT * FROM products ORDER BY id"
start || return 0
view_cols_is products "id,name,price,description,stock,category,code,price_cents,team_id,added_at"
P="SELECT id, name, price, description, stock, category, code, price_cents, team_id, added_at IS NOT NULL FROM products"
new_is "$P ORDER BY id" "1|apple|1.50|APPLE|100|apple-category|c1|150||t
2|pear|2.00|PEAR|100|pear-category|c2|200||t
3|fig|3.25|FIG|100|fig-category|c3|325||t" "existing rows are backfilled with up and the defaults"
old_err "SELECT description FROM products" 'column "description" does not exist' \
	"the new column is not visible under its name"
old_is "SELECT id, name, price FROM products ORDER BY id" "1|apple|1.50
2|pear|2.00
3|fig|3.25" "the old columns are unchanged"

old_ok "INSERT INTO products (id, name, price) VALUES (4, 'kiwi', 0.75)" "insert"
new_is "$P WHERE id = 4" "4|kiwi|0.75|KIWI|100|kiwi-category|c4|75||t" \
	"an old-version insert fills the new columns with up and the defaults"
old_ok "UPDATE products SET name = 'lime', price = 0.80 WHERE id = 4" "update"
new_is "$P WHERE id = 4" "4|lime|0.80|LIME|100|lime-category|c4|80||t" \
	"an old-version update recomputes the new columns with up"

new_ok "INSERT INTO products (id, name, price, description, stock, category, code, price_cents, team_id)
	VALUES (5, 'plum', 1.00, 'Purple', 7, 'stone', 'p5', 100, 2)" "insert with every column"
old_is "SELECT id, name, price FROM products WHERE id = 5" "5|plum|1.00" "sees the new version's insert"
new_is "$P WHERE id = 5" "5|plum|1.00|Purple|7|stone|p5|100|2|t" \
	"up does not overwrite what the new version wrote"
new_ok "UPDATE products SET description = 'Violet', name = 'prune' WHERE id = 5" "update"
old_is "SELECT name FROM products WHERE id = 5" "prune" "sees the new version's update"
new_is "SELECT description FROM products WHERE id = 5" "Violet" "its update is not redone by up"
new_ok "INSERT INTO products (id, name, price, category, code) VALUES (6, 'date', 1.10, 'dried', 'd6')" \
	"insert that leaves the defaulted columns out"
new_is "SELECT stock, added_at IS NOT NULL, description IS NULL FROM products WHERE id = 6" "100|t|t" \
	"the new columns' defaults apply to new-version inserts"
new_err "INSERT INTO products (id, name, price) VALUES (20, 'x', 1)" "violates (not-null|check) constraint" \
	"a NOT NULL new column without up is required from the new version"
new_err "INSERT INTO products (id, name, price, category, price_cents) VALUES (20, 'x', 1, 'c', -1)" \
	'violates check constraint "price_cents_positive"' "the new column's check is enforced"
new_err "INSERT INTO products (id, name, price, category, team_id) VALUES (20, 'x', 1, 'c', 99)" \
	'violates foreign key constraint "fk_products_team"' "the new column's foreign key is enforced"
new_err "INSERT INTO products (id, name, price, category, code) VALUES (20, 'x', 1, 'c', 'c1')" \
	"duplicate key value violates unique constraint" "the new column's uniqueness is enforced"
complete || return 0
cols_is products "added_at timestamp with time zone not null default now()
category character varying(255) not null
code text
description character varying(255)
id integer not null
name text not null
price numeric(10,2) not null
price_cents integer
stock integer not null default 100
team_id integer"
t_sql_is "$DB" "SELECT string_agg(conname || ' ' || pg_get_constraintdef(oid), E'\n' ORDER BY conname)
	FROM pg_constraint WHERE conrelid = 'products'::regclass AND contype <> 'u'" \
	"fk_products_team FOREIGN KEY (team_id) REFERENCES teams(id) ON DELETE SET NULL
price_cents_positive CHECK ((price_cents >= 0))
products_pkey PRIMARY KEY (id)" "$MIG: after complete, the check and foreign key are there, validated"
t_sql_is "$DB" "SELECT string_agg(pg_get_constraintdef(oid), ',') FROM pg_constraint
	WHERE conrelid = 'products'::regclass AND contype = 'u'" "UNIQUE (code)" \
	"$MIG: after complete, code has a unique constraint"
comment_is products description "what it is"
t_sql_is "$DB" "SELECT id, name, price, description, stock, category, code, price_cents, team_id
	FROM products ORDER BY id" "1|apple|1.50|APPLE|100|apple-category|c1|150|
2|pear|2.00|PEAR|100|pear-category|c2|200|
3|fig|3.25|FIG|100|fig-category|c3|325|
4|lime|0.80|LIME|100|lime-category|c4|80|
5|prune|1.00|Violet|7|stone|p5|100|2
6|date|1.10||100|dried|d6||" "$MIG: after complete, the data is intact"
new_is "SELECT count(*) FROM products" 6 "the version schema still works after complete"
}
c_01_add_columns

# ---------------------------------------------------------------------------
# drop_column with a down that reads another column; the old version also
# through the previous version schema, and through shunt.version

c_02_drop_column() {
mig 02_drop_column <<'EOF'
operations:
  - drop_column:
      table: products
      column: price
      down: coalesce(price_cents, 0) / 100.0
EOF
try_rollback "SELECT * FROM products ORDER BY id"
start || return 0
view_cols_is products "id,name,description,stock,category,code,price_cents,team_id,added_at"
new_err "SELECT price FROM products" 'column "price" does not exist' "the dropped column is gone"
old_is "SELECT price FROM products WHERE id = 1" "1.50" "the dropped column is still there"
new_ok "INSERT INTO products (id, name, category, price_cents) VALUES (7, 'mango', 'tropical', 425)" "insert"
old_is "SELECT price FROM products WHERE id = 7" "4.25" "down fills the dropped column on insert"
new_ok "UPDATE products SET price_cents = 500 WHERE id = 7" "update"
old_is "SELECT price FROM products WHERE id = 7" "5.00" "down recomputes the dropped column on update"
new_ok "INSERT INTO products (id, name, category) VALUES (8, 'papaya', 'tropical')" "insert without price_cents"
old_is "SELECT price FROM products WHERE id = 8" "0.00" "down sees the NULL and gives 0"
t_ok "$MIG: old version (previous version schema $PREV): insert" in_version "$PREV" \
	"INSERT INTO products (id, name, price, category) VALUES (9, 'quince', 2.22, 'x')"
t_sql_is "$DB" "SELECT price FROM products WHERE id = 9" "2.22" \
	"$MIG: an old-version write through the previous version schema is not run through down"
new_is "SELECT name, category FROM products WHERE id = 9" "quince|x" "sees the old version's insert"
old_ok "INSERT INTO products (id, name, price, category) VALUES (10, 'guava', 3.33, 'y')" "insert"
t_sql_is "$DB" "SELECT price FROM products WHERE id = 10" "3.33" \
	"$MIG: an old-version write through the application schema is not run through down"
t_ok "$MIG: new version via SET LOCAL shunt.version (search_path public): insert" \
	sq "BEGIN; SET LOCAL shunt.version = $(ql "$VS");
	INSERT INTO $(qi "$VS").products (id, name, category, price_cents) VALUES (11, 'lemon', 'c', 150); COMMIT"
t_sql_is "$DB" "SELECT price FROM products WHERE id = 11" "1.50" \
	"$MIG: the trigger honours shunt.version: down fills the dropped column"
complete || return 0
cols_is products "added_at timestamp with time zone not null default now()
category character varying(255) not null
code text
description character varying(255)
id integer not null
name text not null
price_cents integer
stock integer not null default 100
team_id integer"
t_sql_is "$DB" "SELECT string_agg(id || ':' || name, ',' ORDER BY id) FROM products" \
	"1:apple,2:pear,3:fig,4:lime,5:prune,6:date,7:mango,8:papaya,9:quince,10:guava,11:lemon" \
	"$MIG: after complete, the data is intact"
}
c_02_drop_column

# ---------------------------------------------------------------------------
# rename_column, one of them indexed and NOT NULL

c_03_rename_columns() {
mig 03_rename_columns <<'EOF'
operations:
  - rename_column:
      table: products
      from: description
      to: summary
  - rename_column:
      table: products
      from: name
      to: title
EOF
try_rollback "SELECT * FROM products ORDER BY id"
start || return 0
view_cols_is products "id,title,summary,stock,category,code,price_cents,team_id,added_at"
new_err "SELECT name FROM products" 'column "name" does not exist' "the old name is gone"
old_is "SELECT name, description FROM products WHERE id = 1" "apple|APPLE" "reads the old names"
new_is "SELECT title, summary FROM products WHERE id = 1" "apple|APPLE" "reads the new names"
old_ok "INSERT INTO products (id, name, description, category) VALUES (12, 'nut', 'old desc', 'c')" "insert"
new_is "SELECT title, summary FROM products WHERE id = 12" "nut|old desc" "sees the old version's insert"
new_ok "INSERT INTO products (id, title, summary, category) VALUES (13, 'olive', 'new desc', 'c')" "insert"
old_is "SELECT name, description FROM products WHERE id = 13" "olive|new desc" "sees the new version's insert"
new_ok "UPDATE products SET title = 'OLIVE' WHERE id = 13" "update"
old_is "SELECT name FROM products WHERE id = 13" "OLIVE" "sees the new version's update"
new_err "INSERT INTO products (id, title, category) VALUES (20, NULL, 'c')" 'null value in column' \
	"the renamed column is still NOT NULL"
complete || return 0
cols_is products "added_at timestamp with time zone not null default now()
category character varying(255) not null
code text
id integer not null
price_cents integer
stock integer not null default 100
summary character varying(255)
team_id integer
title text not null"
t_sql_is "$DB" "SELECT pg_get_indexdef('products_name_idx'::regclass)" \
	"CREATE INDEX products_name_idx ON public.products USING btree (title)" \
	"$MIG: after complete, the index follows the renamed column"
comment_is products summary "what it is"
t_sql_is "$DB" "SELECT title, summary FROM products WHERE id IN (1, 12, 13) ORDER BY id" "apple|APPLE
nut|old desc
OLIVE|new desc" "$MIG: after complete, the data is intact"
}
c_03_rename_columns

# ---------------------------------------------------------------------------
# alter_column type (pgroll's 17/18: a text column with a default becomes integer)

c_04_change_type() {
mig 04_change_type <<'EOF'
operations:
  - alter_column:
      table: scores
      column: points
      type: integer
      up: CAST(points AS integer)
      down: CAST(points AS text)
EOF
try_rollback "SELECT * FROM scores ORDER BY id"
start || return 0
new_is "SELECT id, points, pg_typeof(points) FROM scores ORDER BY id" "1|4|integer
2|5|integer
3|1|integer" "existing rows are converted by up"
old_is "SELECT pg_typeof(points) FROM scores WHERE id = 1" "text" "keeps the old type"
old_ok "INSERT INTO scores (id, product, points) VALUES (4, 'kiwi', '3')" "insert"
new_is "SELECT points FROM scores WHERE id = 4" "3" "up converts an old-version insert"
old_ok "UPDATE scores SET points = '8' WHERE id = 4" "update"
new_is "SELECT points FROM scores WHERE id = 4" "8" "up converts an old-version update"
old_err "INSERT INTO scores (id, product, points) VALUES (20, 'x', 'abc')" "invalid input syntax for type integer" \
	"a value up cannot convert is refused"
new_ok "INSERT INTO scores (id, product, points) VALUES (5, 'plum', 7)" "insert"
old_is "SELECT points FROM scores WHERE id = 5" "7" "down converts a new-version insert"
new_ok "UPDATE scores SET points = 9 WHERE id = 5" "update"
old_is "SELECT points FROM scores WHERE id = 5" "9" "down converts a new-version update"
new_err "INSERT INTO scores (id, product, points) VALUES (20, 'x', 'abc')" "invalid input syntax for type integer" \
	"the new type is enforced"
complete || return 0
cols_is scores "id integer not null
points integer
product text not null
rating text default '0'::text"
idx_is scores "CREATE UNIQUE INDEX scores_pkey ON public.scores USING btree (id)
CREATE INDEX scores_points_idx ON public.scores USING btree (points)"
comment_is scores points "points so far"
t_sql_is "$DB" "SELECT string_agg(id || ':' || points, ',' ORDER BY id) FROM scores" "1:4,2:5,3:1,4:8,5:9" \
	"$MIG: after complete, the data is intact"
}
c_04_change_type

# ---------------------------------------------------------------------------
# alter_column type of a column whose default the new type does not take as
# is (pgroll's 17 then 18: a text column with DEFAULT '0' becomes integer)

c_04b_type_with_default() {
mig 04b_type_with_default <<'EOF'
operations:
  - alter_column:
      table: scores
      column: rating
      type: integer
      up: CAST(rating AS integer)
      down: CAST(rating AS text)
EOF
try_rollback "SELECT * FROM scores ORDER BY id"
start || return 0
new_is "SELECT string_agg(id || ':' || rating || ':' || pg_typeof(rating), ',' ORDER BY id) FROM scores" \
	"1:4:integer,2:5:integer,3:1:integer,4:0:integer,5:0:integer" "existing rows are converted by up"
old_ok "INSERT INTO scores (id, product) VALUES (6, 'lime')" "insert with the old default"
new_is "SELECT rating FROM scores WHERE id = 6" "0" "up converts the old default"
new_ok "INSERT INTO scores (id, product, rating) VALUES (7, 'nut', 3)" "insert"
old_is "SELECT rating FROM scores WHERE id = 7" "3" "down converts a new-version insert"
complete || return 0
t_sql_is "$DB" "SELECT format_type(atttypid, atttypmod) FROM pg_attribute
	WHERE attrelid = 'scores'::regclass AND attname = 'rating'" "integer" \
	"$MIG: after complete, rating is an integer"
t_sql_is "$DB" "SELECT string_agg(id || ':' || rating, ',' ORDER BY id) FROM scores" "1:4,2:5,3:1,4:0,5:0,6:0,7:3" \
	"$MIG: after complete, the data is intact"
}
c_04b_type_with_default

# ---------------------------------------------------------------------------
# alter_column nullable: false (pgroll's 16, with its "SELECT CASE" up)

c_05_set_not_null() {
mig 05_set_not_null <<'EOF'
operations:
  - alter_column:
      table: reviews
      column: review
      nullable: false
      up: SELECT CASE WHEN review IS NULL THEN product || ' is good' ELSE review END
      down: review
EOF
try_rollback "SELECT * FROM reviews ORDER BY id"
start || return 0
new_is "SELECT id, review FROM reviews WHERE id <= 2 ORDER BY id" "1|tasty
2|pear is good" "existing NULLs are replaced by up"
old_is "SELECT review IS NULL FROM reviews WHERE id = 2" "t" "still sees the NULL"
old_ok "INSERT INTO reviews (id, product, review) VALUES (6, 'lime', NULL)" "a NULL is accepted"
new_is "SELECT review FROM reviews WHERE id = 6" "lime is good" "up replaces the old version's NULL"
new_ok "INSERT INTO reviews (id, product, review) VALUES (7, 'mango', 'sweet')" "insert"
old_is "SELECT review FROM reviews WHERE id = 7" "sweet" "down copies the new version's value"
new_err "INSERT INTO reviews (id, product, review) VALUES (20, 'nut', NULL)" "violates (not-null|check) constraint" \
	"a NULL is refused"
new_err "UPDATE reviews SET review = NULL WHERE id = 1" "violates (not-null|check) constraint" \
	"an update to NULL is refused"
old_ok "UPDATE reviews SET review = NULL WHERE id = 1" "an update to NULL is accepted"
new_is "SELECT review FROM reviews WHERE id = 1" "apple is good" "up replaces it"
complete || return 0
t_sql_is "$DB" "SELECT attnotnull FROM pg_attribute WHERE attrelid = 'reviews'::regclass AND attname = 'review'" \
	t "$MIG: after complete, review is NOT NULL"
t_sql_is "$DB" "SELECT string_agg(id || ':' || review, ',' ORDER BY id) FROM reviews" \
	"1:apple is good,2:pear is good,3:odd,6:lime is good,7:sweet" \
	"$MIG: after complete, the data is intact"
}
c_05_set_not_null

# ---------------------------------------------------------------------------
# alter_column nullable: true (pgroll's 31)

c_06_drop_not_null() {
mig 06_drop_not_null <<'EOF'
operations:
  - alter_column:
      table: reviews
      column: product
      nullable: true
      up: product
      down: SELECT CASE WHEN product IS NULL THEN 'unknown' ELSE product END
EOF
try_rollback "SELECT * FROM reviews ORDER BY id"
start || return 0
new_ok "INSERT INTO reviews (id, product, review) VALUES (8, NULL, 'anon')" "a NULL is accepted"
new_is "SELECT product IS NULL FROM reviews WHERE id = 8" "t" "keeps its NULL"
old_is "SELECT product FROM reviews WHERE id = 8" "unknown" "down replaces the new version's NULL"
old_err "INSERT INTO reviews (id, product, review) VALUES (20, NULL, 'x')" 'null value in column "product"' \
	"the old column is still NOT NULL"
old_ok "INSERT INTO reviews (id, product, review) VALUES (9, 'date', 'y')" "insert"
new_is "SELECT product FROM reviews WHERE id = 9" "date" "up copies the old version's value"
complete || return 0
t_sql_is "$DB" "SELECT attnotnull FROM pg_attribute WHERE attrelid = 'reviews'::regclass AND attname = 'product'" \
	f "$MIG: after complete, product is nullable"
t_sql_is "$DB" "SELECT string_agg(id || ':' || coalesce(product, '<null>'), ',' ORDER BY id) FROM reviews" \
	"1:apple,2:pear,3:fig,6:lime,7:mango,8:<null>,9:date" "$MIG: after complete, the data is intact"
}
c_06_drop_not_null

# ---------------------------------------------------------------------------
# alter_column default: changed, dropped (pgroll's 46), set where none was

c_07_defaults() {
mig 07_defaults <<'EOF'
operations:
  - alter_column:
      table: people
      column: city
      default: "'somewhere'"
      up: city
      down: city
  - alter_column:
      table: people
      column: country
      default: null
      up: country
      down: country
  - alter_column:
      table: people
      column: note
      default: "'n/a'"
EOF
try_rollback "SELECT * FROM people ORDER BY id"
start || return 0
new_ok "INSERT INTO people (id, name) VALUES (3, 'cat')" "insert without the defaulted columns"
new_is "SELECT city, coalesce(country, '<null>'), note FROM people WHERE id = 3" "somewhere|<null>|n/a" \
	"gets the new defaults"
old_is "SELECT city, coalesce(country, '<null>'), note FROM people WHERE id = 3" "somewhere|<null>|n/a" \
	"sees the new version's values through down"
old_ok "INSERT INTO people (id, name) VALUES (4, 'dan')" "insert without the defaulted columns"
old_is "SELECT city, country, coalesce(note, '<null>') FROM people WHERE id = 4" "nowhere|NL|<null>" \
	"gets the old defaults"
new_is "SELECT city, country, coalesce(note, '<null>') FROM people WHERE id = 4" "nowhere|NL|<null>" \
	"sees the old version's values through up"
complete || return 0
cols_is people "city text default 'somewhere'::text
country text
id integer not null
name text not null
note text default 'n/a'::text"
t_sql_is "$DB" "SELECT string_agg(concat_ws(':', id, name, city, country, note), ',' ORDER BY id) FROM people" \
	"1:ann:nowhere:NL,2:ben:Paris:FR:x,3:cat:somewhere:n/a,4:dan:nowhere:NL" "$MIG: after complete, the data is intact"
}
c_07_defaults

# ---------------------------------------------------------------------------
# alter_column unique (pgroll's 15, with a deterministic up)

c_08_set_unique() {
mig 08_set_unique <<'EOF'
operations:
  - alter_column:
      table: reviews
      column: review
      unique:
        name: reviews_review_unique
      up: review || '-' || id
      down: review
EOF
try_rollback "SELECT * FROM reviews ORDER BY id"
start || return 0
new_is "SELECT review FROM reviews WHERE id = 3" "odd-3" "existing rows are made unique by up"
old_ok "INSERT INTO reviews (id, product, review) VALUES (10, 'kiwi', 'odd')" "a duplicate is accepted"
new_is "SELECT review FROM reviews WHERE id = 10" "odd-10" "up makes the old version's duplicate unique"
new_ok "INSERT INTO reviews (id, product, review) VALUES (11, 'fig', 'fresh')" "insert"
old_is "SELECT review FROM reviews WHERE id = 11" "fresh" "down copies the new version's value"
new_err "INSERT INTO reviews (id, product, review) VALUES (20, 'fig', 'fresh')" \
	"duplicate key value violates unique constraint" "a duplicate is refused"
new_err "UPDATE reviews SET review = 'odd-10' WHERE id = 1" "duplicate key value violates unique constraint" \
	"an update to a duplicate is refused"
complete || return 0
cons_is reviews "reviews_pkey PRIMARY KEY (id)
reviews_review_unique UNIQUE (review)"
t_sql_is "$DB" "SELECT attnotnull FROM pg_attribute WHERE attrelid = 'reviews'::regclass AND attname = 'review'" \
	t "$MIG: after complete, review is still NOT NULL (from 05)"
t_sql_is "$DB" "SELECT string_agg(id || ':' || review, ',' ORDER BY id) FROM reviews WHERE id IN (3, 10, 11)" \
	"3:odd-3,10:odd-10,11:fresh" "$MIG: after complete, the data is intact"
}
c_08_set_unique

# ---------------------------------------------------------------------------
# alter_column check (pgroll's 22)

c_09_set_check() {
mig 09_set_check <<'EOF'
operations:
  - alter_column:
      table: posts
      column: title
      check:
        name: title_length
        constraint: length(title) > 3
      up: SELECT CASE WHEN length(title) <= 3 THEN LPAD(title, 4, '-') ELSE title END
      down: title
EOF
try_rollback "SELECT * FROM posts ORDER BY id"
start || return 0
new_is "SELECT string_agg(title, ',' ORDER BY id) FROM posts" "hello,--hi,--yo,orphaned" \
	"existing rows are fixed by up"
old_is "SELECT string_agg(title, ',' ORDER BY id) FROM posts" "hello,hi,yo,orphaned" "keeps the old values"
old_ok "INSERT INTO posts (id, title) VALUES (4, 'ab')" "a violating value is accepted"
new_is "SELECT title FROM posts WHERE id = 4" "--ab" "up fixes the old version's value"
new_ok "INSERT INTO posts (id, title, user_id) VALUES (5, 'long title', 1)" "insert"
old_is "SELECT title FROM posts WHERE id = 5" "long title" "down copies the new version's value"
new_err "INSERT INTO posts (id, title) VALUES (20, 'ab')" 'violates check constraint "title_length"' \
	"a violating value is refused"
complete || return 0
cons_is posts "posts_pkey PRIMARY KEY (id)
title_length CHECK ((length(title) > 3))"
t_sql_is "$DB" "SELECT attnotnull FROM pg_attribute WHERE attrelid = 'posts'::regclass AND attname = 'title'" \
	t "$MIG: after complete, title is still NOT NULL"
t_sql_is "$DB" "SELECT string_agg(id || ':' || title, ',' ORDER BY id) FROM posts" \
	"1:hello,2:--hi,3:--yo,4:--ab,5:long title,7:orphaned" "$MIG: after complete, the data is intact"
}
c_09_set_check

# ---------------------------------------------------------------------------
# alter_column references (pgroll's 21)

c_10_set_fk() {
mig 10_set_fk <<'EOF'
operations:
  - alter_column:
      table: posts
      column: user_id
      references:
        name: fk_posts_user
        table: users
        column: id
        on_delete: CASCADE
      up: SELECT CASE WHEN EXISTS (SELECT 1 FROM users WHERE users.id = user_id) THEN user_id ELSE NULL END
      down: user_id
EOF
try_rollback "SELECT * FROM posts ORDER BY id"
start || return 0
new_is "SELECT string_agg(id || ':' || coalesce(user_id::text, '-'), ',' ORDER BY id) FROM posts" \
	"1:1,2:2,3:-,4:-,5:1,7:-" "a dangling reference is replaced by up"
old_is "SELECT user_id FROM posts WHERE id = 7" "99" "keeps the dangling reference"
old_ok "INSERT INTO posts (id, title, user_id) VALUES (8, 'old orphan', 42)" "a dangling reference is accepted"
new_is "SELECT user_id IS NULL FROM posts WHERE id = 8" "t" "up replaces it by NULL"
new_ok "INSERT INTO posts (id, title, user_id) VALUES (9, 'new post', 2)" "insert"
old_is "SELECT user_id FROM posts WHERE id = 9" "2" "down copies the new version's value"
new_err "INSERT INTO posts (id, title, user_id) VALUES (20, 'bad one', 42)" 'violates foreign key constraint "fk_posts_user"' \
	"a dangling reference is refused"
complete || return 0
cons_is posts "fk_posts_user FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE
posts_pkey PRIMARY KEY (id)
title_length CHECK ((length(title) > 3))"
t_ok "$MIG: after complete, deleting a user" sq "DELETE FROM users WHERE id = 2"
t_sql_is "$DB" "SELECT string_agg(id::text, ',' ORDER BY id) FROM posts" "1,3,4,5,7,8" \
	"$MIG: after complete, ON DELETE CASCADE removes that user's posts"
}
c_10_set_fk

# ---------------------------------------------------------------------------
# alter_column comment: set, and set to null (pgroll's 36)

c_11_comments() {
mig 11_comments <<'EOF'
operations:
  - alter_column:
      table: posts
      column: title
      comment: the title
  - alter_column:
      table: people
      column: name
      comment: null
      up: name
      down: name
EOF
try_rollback "SELECT * FROM people ORDER BY id"
start || return 0
new_is "SELECT count(*) FROM posts" "6" "reads the table"
complete || return 0
comment_is posts title "the title"
comment_is people name "<none>"
t_sql_is "$DB" "SELECT string_agg(id || ':' || name, ',' ORDER BY id) FROM people" "1:ann,2:ben,3:cat,4:dan" \
	"$MIG: after complete, the data is intact"
}
c_11_comments

# ---------------------------------------------------------------------------
# alter_column with everything at once (pgroll's 35): rename, type, default,
# NOT NULL, comment, unique and check

c_12_alter_multiple() {
mig 12_alter_multiple <<'EOF'
operations:
  - alter_column:
      table: events
      column: name
      name: event_name
      type: text
      default: "'unknown event'"
      nullable: false
      comment: the full name of the event
      unique:
        name: events_event_name_unique
      check:
        name: event_name_length
        constraint: length(name) > 3
      up: SELECT CASE WHEN name IS NULL OR LENGTH(name) <= 3 THEN 'placeholder-' || id ELSE name END
      down: event_name
EOF
try_rollback "SELECT * FROM events ORDER BY id"
start || return 0
view_cols_is events "id,event_name"
new_is "SELECT id, event_name, pg_typeof(event_name) FROM events ORDER BY id" "1|launch|text
2|placeholder-2|text
3|placeholder-3|text" "existing rows are converted by up"
old_is "SELECT id, coalesce(name, '<null>'), pg_typeof(name) FROM events ORDER BY id" "1|launch|character varying
2|<null>|character varying
3|ab|character varying" "keeps the old values and type"
old_ok "INSERT INTO events (id, name) VALUES (4, NULL)" "a NULL is accepted"
new_is "SELECT event_name FROM events WHERE id = 4" "placeholder-4" "up replaces it"
old_ok "INSERT INTO events (id) VALUES (5)" "insert with the old default"
new_is "SELECT event_name FROM events WHERE id = 5" "<placeholder>" "up copies the old default"
new_ok "INSERT INTO events (id) VALUES (6)" "insert with the new default"
new_is "SELECT event_name FROM events WHERE id = 6" "unknown event" "gets the new default"
old_is "SELECT name FROM events WHERE id = 6" "unknown event" "down copies it"
new_ok "UPDATE events SET event_name = 'renamed event' WHERE id = 1" "update"
old_is "SELECT name FROM events WHERE id = 1" "renamed event" "down copies the update"
new_err "INSERT INTO events (id) VALUES (7)" "duplicate key value violates unique constraint" \
	"a second default value is a duplicate"
new_err "INSERT INTO events (id, event_name) VALUES (8, 'abc')" 'violates check constraint "event_name_length"' \
	"a short name is refused"
new_err "INSERT INTO events (id, event_name) VALUES (9, NULL)" "violates (not-null|check) constraint" \
	"a NULL is refused"
complete || return 0
cols_is events "event_name text not null default 'unknown event'::text
id integer not null default nextval('events_id_seq'::regclass)"
cons_is events "event_name_length CHECK ((length(event_name) > 3))
events_event_name_unique UNIQUE (event_name)
events_pkey PRIMARY KEY (id)"
comment_is events event_name "the full name of the event"
t_sql_is "$DB" "SELECT string_agg(id || ':' || event_name, ',' ORDER BY id) FROM events" \
	"1:renamed event,2:placeholder-2,3:placeholder-3,4:placeholder-4,5:<placeholder>,6:unknown event" \
	"$MIG: after complete, the data is intact"
}
c_12_alter_multiple

# ---------------------------------------------------------------------------
# alter_column on columns with constraints and indexes of their own: each is
# copied to the new column (enforced for the new version at once) and has
# its own name again after complete

c_13_dependents() {
sq "CREATE TABLE accounts (id int PRIMARY KEY, email varchar(100) NOT NULL UNIQUE, team_id int REFERENCES teams (id),
		CONSTRAINT email_has_at CHECK (email LIKE '%@%'),
		CONSTRAINT id_or_email CHECK (id > 0 OR email <> ''));
	CREATE INDEX accounts_lower_email ON accounts (lower(email));
	CREATE INDEX accounts_org ON accounts (id) WHERE email LIKE '%.org';
	INSERT INTO accounts VALUES (1, 'a@x.org', 1), (2, 'b@y.com', 2), (3, 'c@z.org', NULL);"
mig 13_dependents <<'EOF'
operations:
  - alter_column:
      table: accounts
      column: email
      type: text
      up: email
      down: email
  - alter_column:
      table: accounts
      column: team_id
      type: bigint
      up: team_id
      down: team_id
EOF
try_rollback "SELECT * FROM accounts ORDER BY id"
start || return 0
new_is "SELECT string_agg(id || ':' || email || ':' || pg_typeof(email) || ':' || coalesce(team_id::text, '-')
	|| ':' || pg_typeof(team_id), ',' ORDER BY id) FROM accounts" \
	"1:a@x.org:text:1:bigint,2:b@y.com:text:2:bigint,3:c@z.org:text:-:bigint" "existing rows are copied"
new_err "INSERT INTO accounts (id, email) VALUES (20, 'a@x.org')" "duplicate key value violates unique constraint" \
	"the unique constraint is copied to the new column"
new_err "INSERT INTO accounts (id, email) VALUES (20, 'no-at')" "violates check constraint" \
	"the check constraint is copied to the new column"
new_err "INSERT INTO accounts (id, email) VALUES (-20, '')" "violates check constraint" \
	"the check constraint over two columns is copied"
new_err "INSERT INTO accounts (id, email, team_id) VALUES (20, 'd@w.org', 99)" "violates foreign key constraint" \
	"the foreign key is copied to the new column"
old_err "INSERT INTO accounts (id, email) VALUES (20, 'b@y.com')" "duplicate key value violates unique constraint" \
	"the old column keeps its unique constraint"
old_ok "INSERT INTO accounts (id, email, team_id) VALUES (4, 'd@w.org', 2)" "insert"
new_is "SELECT email, team_id FROM accounts WHERE id = 4" "d@w.org|2" "sees the old version's insert"
new_ok "INSERT INTO accounts (id, email, team_id) VALUES (5, 'e@v.org', 1)" "insert"
old_is "SELECT email, team_id FROM accounts WHERE id = 5" "e@v.org|1" "sees the new version's insert"
complete || return 0
cols_is accounts "email text not null
id integer not null
team_id bigint"
cons_is accounts "accounts_email_key UNIQUE (email)
accounts_pkey PRIMARY KEY (id)
accounts_team_id_fkey FOREIGN KEY (team_id) REFERENCES teams(id)
email_has_at CHECK ((email ~~ '%@%'::text))
id_or_email CHECK (((id > 0) OR (email <> ''::text)))"
idx_is accounts "CREATE UNIQUE INDEX accounts_email_key ON public.accounts USING btree (email)
CREATE INDEX accounts_lower_email ON public.accounts USING btree (lower(email))
CREATE INDEX accounts_org ON public.accounts USING btree (id) WHERE (email ~~ '%.org'::text)
CREATE UNIQUE INDEX accounts_pkey ON public.accounts USING btree (id)"
t_sql_is "$DB" "SELECT string_agg(id || ':' || email || ':' || coalesce(team_id::text, '-'), ',' ORDER BY id)
	FROM accounts" "1:a@x.org:1,2:b@y.com:2,3:c@z.org:-,4:d@w.org:2,5:e@v.org:1" \
	"$MIG: after complete, the data is intact"
}
c_13_dependents

# ---------------------------------------------------------------------------
# splitting a column: two add_column with up from a column that a
# drop_column of the same migration removes, its down joining them again;
# and a generated column

c_14_split_column() {
sq "CREATE TABLE persons (id int PRIMARY KEY, full_name text NOT NULL);
	INSERT INTO persons VALUES (1, 'Ada Lovelace'), (2, 'Alan Turing');"
mig 14_split_column <<'EOF'
operations:
  - add_column:
      table: persons
      up: split_part(full_name, ' ', 1)
      column:
        name: first_name
        type: text
  - add_column:
      table: persons
      up: split_part(full_name, ' ', 2)
      column:
        name: last_name
        type: text
  - add_column:
      table: persons
      column:
        name: id_x2
        type: integer
        nullable: true
        generated:
          expression: id * 2
  - drop_column:
      table: persons
      column: full_name
      down: first_name || ' ' || last_name
EOF
try_rollback "SELECT * FROM persons ORDER BY id"
start || return 0
view_cols_is persons "id,first_name,last_name,id_x2"
new_is "SELECT string_agg(concat_ws(':', id, first_name, last_name, id_x2), ',' ORDER BY id) FROM persons" \
	"1:Ada:Lovelace:2,2:Alan:Turing:4" "existing rows are split by up"
old_ok "INSERT INTO persons (id, full_name) VALUES (3, 'Grace Hopper')" "insert"
new_is "SELECT concat_ws(':', first_name, last_name, id_x2) FROM persons WHERE id = 3" "Grace:Hopper:6" \
	"up splits the old version's insert"
old_ok "UPDATE persons SET full_name = 'Alan Mathison' WHERE id = 2" "update"
new_is "SELECT concat_ws(':', first_name, last_name) FROM persons WHERE id = 2" "Alan:Mathison" \
	"up splits the old version's update"
new_ok "INSERT INTO persons (id, first_name, last_name) VALUES (4, 'Edsger', 'Dijkstra')" "insert"
old_is "SELECT full_name FROM persons WHERE id = 4" "Edsger Dijkstra" "down joins the new version's insert"
new_ok "UPDATE persons SET last_name = 'D.' WHERE id = 4" "update"
old_is "SELECT full_name FROM persons WHERE id = 4" "Edsger D." "down joins the new version's update"
new_is "SELECT first_name FROM persons WHERE id = 4" "Edsger" "up does not rewrite the new version's columns"
complete || return 0
t_sql_is "$DB" "SELECT string_agg(attname || ':' || format_type(atttypid, atttypmod) || ':' || attnotnull
	|| ':' || attgenerated::text, ',' ORDER BY attname) FROM pg_attribute
	WHERE attrelid = 'persons'::regclass AND attnum > 0 AND NOT attisdropped" \
	"first_name:text:true:,id:integer:true:,id_x2:integer:false:s,last_name:text:true:" \
	"$MIG: after complete, the columns of persons are the final ones"
t_sql_is "$DB" "SELECT string_agg(concat_ws(':', id, first_name, last_name, id_x2), ',' ORDER BY id) FROM persons" \
	"1:Ada:Lovelace:2,2:Alan:Mathison:4,3:Grace:Hopper:6,4:Edsger:D.:8" "$MIG: after complete, the data is intact"
}
c_14_split_column

# ---------------------------------------------------------------------------
# rename_column chain that swaps two names

c_15_swap_columns() {
sq "CREATE TABLE pairs (id int PRIMARY KEY, a text, b text NOT NULL);
	INSERT INTO pairs VALUES (1, 'x', 'y');"
mig 15_swap_columns <<'EOF'
operations:
  - rename_column:
      table: pairs
      from: a
      to: c
  - rename_column:
      table: pairs
      from: b
      to: a
  - rename_column:
      table: pairs
      from: c
      to: b
EOF
try_rollback "SELECT * FROM pairs ORDER BY id"
start || return 0
new_is "SELECT a, b FROM pairs" "y|x" "sees the columns swapped"
old_is "SELECT a, b FROM pairs" "x|y" "sees them as they were"
new_ok "INSERT INTO pairs (id, a, b) VALUES (2, 'new a', 'new b')" "insert"
old_is "SELECT a, b FROM pairs WHERE id = 2" "new b|new a" "sees the new version's insert"
complete || return 0
cols_is pairs "a text not null
b text
id integer not null"
t_sql_is "$DB" "SELECT string_agg(id || ':' || a || ':' || b, ',' ORDER BY id) FROM pairs" "1:y:x,2:new a:new b" \
	"$MIG: after complete, the data is intact"
}
c_15_swap_columns

# ---------------------------------------------------------------------------
# rollback after both versions wrote: the rows the new version wrote stay,
# with their old-version values from down, and the schema is as before

c_16_rollback_after_writes() {
sq "CREATE TABLE notes (id int PRIMARY KEY, body text NOT NULL);
	INSERT INTO notes VALUES (1, 'one'), (2, 'two');"
mig 16_rollback_after_writes <<'EOF'
operations:
  - alter_column:
      table: notes
      column: body
      name: content
      type: varchar(20)
      up: upper(body)
      down: lower(content)
EOF
local before
before=$(snap) || before="<pg_dump failed>"
start || return 0
new_is "SELECT string_agg(id || ':' || content, ',' ORDER BY id) FROM notes" "1:ONE,2:TWO" \
	"existing rows are converted by up"
new_ok "INSERT INTO notes (id, content) VALUES (3, 'FROM NEW')" "insert"
new_ok "UPDATE notes SET content = 'CHANGED' WHERE id = 1" "update"
old_ok "INSERT INTO notes (id, body) VALUES (4, 'from old')" "insert"
t_ok "$MIG: rollback after writes" sh_ rollback
same "$(snap)" "$before" "$MIG: rollback after writes restores the schema exactly (pg_dump -s)"
t_sql_is "$DB" "SELECT string_agg(id || ':' || body, ',' ORDER BY id) FROM notes" "1:changed,2:two,3:from new,4:from old" \
	"$MIG: rollback keeps what both versions wrote, the new version's writes through down"
no_leftovers "after rollback"
}
c_16_rollback_after_writes

# ---------------------------------------------------------------------------
# alter_column must keep what else the column has: a deferrable unique
# constraint, a unique constraint that only INCLUDEs it, the sequence of a
# serial, an identity, a generated column that reads it.  One migration
# each, so that each failure stands alone.

c_17a_deferrable_unique() {
sq "CREATE TABLE slots (id int PRIMARY KEY, pos int, CONSTRAINT pos_unique UNIQUE (pos) DEFERRABLE INITIALLY DEFERRED);
	INSERT INTO slots VALUES (1, 1), (2, 2);"
mig 17a_deferrable_unique <<'EOF'
operations:
  - alter_column:
      table: slots
      column: pos
      type: bigint
EOF
try_rollback "SELECT * FROM slots ORDER BY id"
start || return 0
t_ok "$MIG: new version: the copied unique constraint is still checked at commit only" new \
	"BEGIN; UPDATE slots SET pos = 2 WHERE id = 1; UPDATE slots SET pos = 1 WHERE id = 2; COMMIT"
complete || return 0
cons_is slots "pos_unique UNIQUE (pos) DEFERRABLE INITIALLY DEFERRED
slots_pkey PRIMARY KEY (id)"
}
c_17a_deferrable_unique

c_17b_unique_including() {
sq "CREATE TABLE phones (id int PRIMARY KEY, title text, phone text,
		CONSTRAINT phone_unique UNIQUE (phone) INCLUDE (title));
	INSERT INTO phones VALUES (1, 'a', 'p1'), (2, 'b', 'p2');"
mig 17b_unique_including <<'EOF'
operations:
  - alter_column:
      table: phones
      column: title
      type: varchar(100)
EOF
try_rollback "SELECT * FROM phones ORDER BY id"
start || return 0
complete || return 0
cons_is phones "phone_unique UNIQUE (phone) INCLUDE (title)
phones_pkey PRIMARY KEY (id)"
}
c_17b_unique_including

c_17c_serial() {
sq "CREATE TABLE tallies (id int PRIMARY KEY, n serial);
	INSERT INTO tallies (id) VALUES (1), (2);"
mig 17c_serial <<'EOF'
operations:
  - alter_column:
      table: tallies
      column: n
      type: bigint
EOF
try_rollback "SELECT * FROM tallies ORDER BY id"
start || return 0
new_ok "INSERT INTO tallies (id) VALUES (3)" "insert without the serial column"
new_is "SELECT n > 2 FROM tallies WHERE id = 3" "t" "the serial's sequence numbers it"
complete || return 0
cols_is tallies "id integer not null
n bigint not null default nextval('tallies_n_seq'::regclass)"
t_ok "$MIG: after complete, insert without the serial column" sq "INSERT INTO tallies (id) VALUES (4)"
t_sql_is "$DB" "SELECT count(DISTINCT n), min(n), bool_and(n > 2) FILTER (WHERE id > 2) FROM tallies" "4|1|t" \
	"$MIG: after complete, the sequence goes on"
}
c_17c_serial

c_17d_identity() {
sq "CREATE TABLE tickets (id int PRIMARY KEY, no int GENERATED BY DEFAULT AS IDENTITY);
	INSERT INTO tickets (id) VALUES (1), (2);"
mig 17d_identity <<'EOF'
operations:
  - alter_column:
      table: tickets
      column: no
      type: bigint
EOF
# A copy of an identity column would need its own sequence kept in step
# with the old one: start refuses, naming the column, and changes nothing.
before=$(sq "SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'tickets'::regclass AND attnum > 0 AND NOT attisdropped")
t_exit 1 "$MIG: start refuses to copy an identity column" sh_ start "$T_TMP/$MIG.yaml"
t_like "$T_ERR" 'column "no" is an identity column' "$MIG: the refusal names the column"
t_is "$(sq "SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'tickets'::regclass AND attnum > 0 AND NOT attisdropped")" \
	"$before" "$MIG: the table is untouched"
}
c_17d_identity

c_17e_generated_dependent() {
sq "CREATE TABLE labels (id int PRIMARY KEY, title text, title_len int GENERATED ALWAYS AS (length(title)) STORED);
	INSERT INTO labels (id, title) VALUES (1, 'a'), (2, 'bb');"
mig 17e_generated_dependent <<'EOF'
operations:
  - alter_column:
      table: labels
      column: title
      type: varchar(100)
EOF
# Either start refuses the change up front, or it must be able to complete:
# a migration that starts but cannot complete strands both versions.
if sh_ start "$T_TMP/$MIG.yaml" 2>"$T_TMP/17e.err"; then
	t_pass "$MIG: start"
else
	t_like "$(<"$T_TMP/17e.err")" "title_len" "$MIG: start refuses, naming the generated column"
	return 0
fi
t_ok "$MIG: complete" sh_ complete
if ((T_RC != 0)); then
	# leave the schema to the next migration
	t_ok "$MIG: rollback of the migration that could not complete" sh_ rollback
	return 0
fi
t_sql_is "$DB" "SELECT string_agg(id || ':' || title || ':' || title_len, ',' ORDER BY id) FROM labels" "1:a:1,2:bb:2" \
	"$MIG: after complete, the generated column still computes from the column"
t_ok "$MIG: after complete, insert" sq "INSERT INTO labels (id, title) VALUES (3, 'ccc')"
t_sql_is "$DB" "SELECT title_len FROM labels WHERE id = 3" "3" "$MIG: after complete, the generated column follows"
}
c_17e_generated_dependent

# ---------------------------------------------------------------------------
# an up that reads a column another operation of the same migration adds
# (its up runs first), in the backfill and for old-version writes

c_18_chained_up() {
sq "CREATE TABLE words (id int PRIMARY KEY, word text NOT NULL);
	INSERT INTO words VALUES (1, 'ab'), (2, 'cde');"
mig 18_chained_up <<'EOF'
operations:
  - add_column:
      table: words
      up: upper(word)
      column:
        name: shout
        type: text
  - add_column:
      table: words
      up: shout || '!'
      column:
        name: exclaim
        type: text
EOF
try_rollback "SELECT * FROM words ORDER BY id"
start || return 0
new_is "SELECT string_agg(id || ':' || shout || ':' || exclaim, ',' ORDER BY id) FROM words" "1:AB:AB!,2:CDE:CDE!" \
	"the backfill runs the ups in order"
old_ok "INSERT INTO words (id, word) VALUES (3, 'fg')" "insert"
new_is "SELECT shout || ':' || exclaim FROM words WHERE id = 3" "FG:FG!" "the trigger runs the ups in order"
complete || return 0
t_sql_is "$DB" "SELECT string_agg(id || ':' || word || ':' || shout || ':' || exclaim, ',' ORDER BY id) FROM words" \
	"1:ab:AB:AB!,2:cde:CDE:CDE!,3:fg:FG:FG!" "$MIG: after complete, the data is intact"
}
c_18_chained_up

# ---------------------------------------------------------------------------
# hostile names: schema and table with a quote, a parenthesis, spaces, mixed
# case and non-ASCII; columns named by reserved words and the like

SCH='Sch "q(uot ü'
PREV=
T='Order "need"q(uot Ö'
TQ="$(qi "$SCH").$(qi "$T")"
L=long_$(printf 'x%.0s' {1..58}) # 63 bytes: the longest name there is
sq "CREATE SCHEMA $(qi "$SCH");
	CREATE TABLE $TQ (\"ID\" int PRIMARY KEY, \"select\" text NOT NULL, \"user\" text,
		\"Grüße \"\"x(\" int, \"Drop \"\"me\" text, $L int);
	INSERT INTO $TQ VALUES (1, 'a', 'u1', 10, 'd1', 1), (2, 'bb', NULL, 20, 'd2', 2);"

c_h01_columns() {
mig h01_columns <<'EOF'
operations:
  - add_column:
      table: 'Order "need"q(uot Ö'
      up: 'upper("select") || ''!'''
      column:
        name: 'Név "q('
        type: text
        nullable: false
        unique: true
        comment: 'kommentár "q'''
        check:
          name: 'chk "név(ü'
          constraint: 'length("Név ""q(") > 1'
  - alter_column:
      table: 'Order "need"q(uot Ö'
      column: 'Grüße "x('
      name: 'Größe "y('
      type: bigint
      nullable: false
      up: 'coalesce("Grüße ""x(", 0) * 10'
      down: '"Größe ""y(" / 10'
  - alter_column:
      table: 'Order "need"q(uot Ö'
      column: select
      check:
        name: 'select "len('
        constraint: 'length("select") < 10'
      up: 'left("select", 9)'
      down: '"select"'
  - rename_column:
      table: 'Order "need"q(uot Ö'
      from: user
      to: Select
  - drop_column:
      table: 'Order "need"q(uot Ö'
      column: 'Drop "me'
      down: '''dropped'''
EOF
try_rollback "SELECT * FROM $TQ ORDER BY 1"
start || return 0
view_cols_is "$T" "ID,select,Select,Größe \"y(,$L,Név \"q("
HN="\"ID\", \"select\", \"Select\", \"Größe \"\"y(\", \"Név \"\"q(\""
HO="\"ID\", \"select\", \"user\", \"Grüße \"\"x(\", \"Drop \"\"me\""
new_is "SELECT $HN FROM $(qi "$T") ORDER BY 1" "1|a|u1|100|A!
2|bb||200|BB!" "existing rows are backfilled through up"
old_ok "INSERT INTO $(qi "$T") ($HO) VALUES (3, 'ccc', 'u3', 30, 'd3')" "insert"
new_is "SELECT $HN FROM $(qi "$T") WHERE \"ID\" = 3" "3|ccc|u3|300|CCC!" "up fills the new columns"
old_ok "INSERT INTO $(qi "$T") ($HO) VALUES (4, 'abcdefghijkl', NULL, NULL, NULL)" \
	"a value the new check refuses is accepted"
new_is "SELECT $HN FROM $(qi "$T") WHERE \"ID\" = 4" "4|abcdefghi||0|ABCDEFGHIJKL!" "up fixes it"
new_ok "INSERT INTO $(qi "$T") ($HN) VALUES (5, 'dd', 'u5', 400, 'new')" "insert"
old_is "SELECT $HO FROM $(qi "$T") WHERE \"ID\" = 5" "5|dd|u5|40|dropped" "down fills the old columns"
new_ok "UPDATE $(qi "$T") SET \"Größe \"\"y(\" = 70, \"Select\" = 'u55' WHERE \"ID\" = 5" "update"
old_is "SELECT \"Grüße \"\"x(\", \"user\" FROM $(qi "$T") WHERE \"ID\" = 5" "7|u55" "down follows the update"
new_err "INSERT INTO $(qi "$T") ($HN) VALUES (20, 'e', NULL, 1, 'x')" 'violates check constraint "chk "név\(ü"' \
	"the new column's check is enforced"
new_err "INSERT INTO $(qi "$T") ($HN) VALUES (20, 'abcdefghijkl', NULL, 1, 'xy')" \
	'violates check constraint "select "len\("' "the altered column's check is enforced"
new_err "INSERT INTO $(qi "$T") ($HN) VALUES (20, 'e', NULL, NULL, 'xy')" "violates (not-null|check) constraint" \
	"the altered column's NOT NULL is enforced"
new_err "INSERT INTO $(qi "$T") ($HN) VALUES (20, 'e', NULL, 1, 'new')" \
	"duplicate key value violates unique constraint" "the new column's uniqueness is enforced"
complete || return 0
cols_is "$T" "Größe \"y( bigint not null
ID integer not null
Név \"q( text not null
Select text
$L integer
select text not null"
t_sql_is "$DB" "SELECT string_agg(conname || ' ' || pg_get_constraintdef(oid), E'\n' ORDER BY conname)
	FROM pg_constraint WHERE conrelid = $(rel "$T") AND contype <> 'u'" \
	"Order \"need\"q(uot Ö_pkey PRIMARY KEY (\"ID\")
chk \"név(ü CHECK ((length(\"Név \"\"q(\") > 1))
select \"len( CHECK ((length(\"select\") < 10))" "$MIG: after complete, the checks are there, validated"
t_sql_is "$DB" "SELECT string_agg(pg_get_constraintdef(oid), ',') FROM pg_constraint
	WHERE conrelid = $(rel "$T") AND contype = 'u'" 'UNIQUE ("Név ""q(")' \
	"$MIG: after complete, the new column has a unique constraint"
comment_is "$T" 'Név "q(' "kommentár \"q'"
t_sql_is "$DB" "SELECT $HN FROM $TQ ORDER BY 1" "1|a|u1|100|A!
2|bb||200|BB!
3|ccc|u3|300|CCC!
4|abcdefghi||0|ABCDEFGHIJKL!
5|dd|u55|70|new" "$MIG: after complete, the data is intact"
}
c_h01_columns

c_h02_not_null() {
mig h02_not_null <<EOF
operations:
  - alter_column:
      table: 'Order "need"q(uot Ö'
      column: $L
      type: bigint
  - alter_column:
      table: 'Order "need"q(uot Ö'
      column: Select
      nullable: false
      default: '''nobody'''
      up: 'coalesce("Select", ''nobody'')'
      down: '"Select"'
EOF
try_rollback "SELECT * FROM $TQ ORDER BY 1"
start || return 0
new_is "SELECT \"Select\" FROM $(qi "$T") WHERE \"ID\" = 2" "nobody" "existing NULLs are replaced by up"
new_is "SELECT $L, pg_typeof($L) FROM $(qi "$T") WHERE \"ID\" = 2" "2|bigint" \
	"the column with a 63-byte name is converted"
t_ok "$MIG: old version (previous version schema): insert" in_version "$PREV" \
	"INSERT INTO $(qi "$T") ($HN, $L) VALUES (6, 'ff', NULL, 6, 'n6', 66)"
new_is "SELECT $L FROM $(qi "$T") WHERE \"ID\" = 6" "66" "up fills the column with a 63-byte name"
new_is "SELECT \"Select\" FROM $(qi "$T") WHERE \"ID\" = 6" "nobody" "up replaces the old version's NULL"
new_ok "INSERT INTO $(qi "$T") (\"ID\", \"select\", \"Größe \"\"y(\", \"Név \"\"q(\") VALUES (7, 'gg', 7, 'n7')" \
	"insert with the new default"
t_sql_is "$DB" "SET search_path TO $(qi "$PREV"); SELECT \"Select\" FROM $(qi "$T") WHERE \"ID\" = 7" "nobody" \
	"$MIG: old version (previous version schema): down copies the new default"
new_err "INSERT INTO $(qi "$T") ($HN) VALUES (20, 'e', NULL, 1, 'n20')" "violates (not-null|check) constraint" \
	"a NULL is refused"
complete || return 0
cols_is "$T" "Größe \"y( bigint not null
ID integer not null
Név \"q( text not null
Select text not null default 'nobody'::text
$L bigint
select text not null"
t_sql_is "$DB" "SELECT string_agg(\"ID\" || ':' || \"Select\", ',' ORDER BY 1) FROM $TQ" \
	"1:u1,2:nobody,3:u3,4:nobody,5:u55,6:nobody,7:nobody" "$MIG: after complete, the data is intact"
}
c_h02_not_null

t_done
