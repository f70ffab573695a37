#!/usr/bin/env bash
# The table, index, constraint and misc operations end to end, in pgroll's
# style: create_table (every column and table constraint feature),
# drop_table, rename_table, create_index (unique, method, predicate, storage
# parameters, opclass, collation, sort order), drop_index, create_constraint
# (unique, check, foreign_key, primary_key), drop_constraint,
# drop_multicolumn_constraint, rename_constraint, set_replica_identity and
# sql (up/down, onComplete).
#
# For each migration: the schema before it is dumped, the migration is
# started and rolled back (the dump and the data must come back unchanged),
# then started again and, while both versions are live, rows are written
# through the OLD version (search_path = the application schema, or the
# previous version schema) and the NEW one (search_path = the version
# schema), each read back through the other, and the constraints each side
# sees are probed.  Then complete, and the physical schema, the data, the
# absence of anything named _shunt_* and the dropping of the previous
# version schema are checked.  Further cases: an index created before a
# later operation changes its column, constraint options (INCLUDE, storage
# parameters, NO INHERIT), several statements in one sql operation, a start
# that fails half-way, and version_schema.  The last part repeats this with
# hostile names (quotes, parentheses, spaces, mixed case, non-ASCII,
# reserved words).  Each case is a function that stops at its first failed
# start.
set -euo pipefail
# shellcheck source=tests/lib/testlib.sh
source "$(dirname "$0")/../lib/testlib.sh"

DB=ops_tables
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

# relkind_of SCHEMA NAME: the relkind of SCHEMA.NAME, or "none".
relkind_of() {
	sq "SELECT coalesce((SELECT c.relkind::text FROM pg_catalog.pg_class c
		JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $(ql "$1") AND c.relname = $(ql "$2")), 'none')"
}
# con_names_is TABLE EXPECTED DESC: the table's constraint names, by name.
con_names_is() {
	t_sql_is "$DB" "SELECT string_agg(conname, ',' ORDER BY conname) FROM pg_catalog.pg_constraint
		WHERE conrelid = $(rel "$1")" "$2" "$3"
}

# ---------------------------------------------------------------------------
# the old version's schema, made without shunt

sq "CREATE TABLE sellers (name varchar(255), zip integer, description varchar(255), PRIMARY KEY (name, zip));
	INSERT INTO sellers VALUES ('alice', 1000, NULL), ('bob', 2000, 'b');
	CREATE TABLE fruits (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
		name varchar(255) NOT NULL UNIQUE, price numeric(10,2) NOT NULL, code text);
	INSERT INTO fruits (name, price, code)
		SELECT 'fruit' || i, i, 'c' || i FROM generate_series(1, 12) i;
	CREATE TABLE legacy (id int PRIMARY KEY, note text);
	INSERT INTO legacy VALUES (1, 'old'), (2, 'older');
	CREATE TABLE bookings (id int PRIMARY KEY, seller_name varchar(255), seller_zip integer, room text, nights int);
	INSERT INTO bookings VALUES (1, 'alice', 1000, 'r1', 2), (2, 'bob', 2000, 'r1', 3), (3, 'alice', 99, 'r2', -1);
	CREATE TABLE loose (code text NOT NULL UNIQUE, id int);
	INSERT INTO loose VALUES ('a', 1), ('b', 2);"

# ---------------------------------------------------------------------------
# create_table with every column and table constraint feature (pgroll's 01,
# 08, 12, 19, 25, 28, 34, 50, 51, 52)

c_t01_create_tables() {
mig t01_create_tables <<'EOF'
operations:
  - create_table:
      name: customers
      comment: the customers
      columns:
        - name: id
          type: integer
          pk: true
        - name: name
          type: varchar(255)
          unique: true
          comment: the customer's name
        - name: credit_card
          type: text
          nullable: true
        - name: tier
          type: text
          default: "'basic'"
          check:
            name: tier_valid
            constraint: tier IN ('basic', 'gold')
        - name: created_at
          type: timestamptz
          default: now()
        - name: name_length
          type: integer
          nullable: true
          generated:
            expression: length(name)
  - create_table:
      name: orders
      columns:
        - name: id
          type: bigint
          pk: true
          generated:
            identity:
              user_specified_values: BY DEFAULT
        - name: customer_id
          type: integer
          references:
            name: fk_orders_customer
            table: customers
            column: id
            on_delete: CASCADE
            deferrable: true
            initially_deferred: true
        - name: quantity
          type: int
          check:
            name: quantity_positive
            constraint: quantity > 0
            no_inherit: true
      constraints:
        - name: orders_customer_order
          type: unique
          columns: [customer_id, id]
  - create_table:
      name: tickets
      columns:
        - name: seller_name
          type: varchar(255)
        - name: seller_zip
          type: integer
        - name: number
          type: serial
        - name: title
          type: text
        - name: phone
          type: text
          nullable: true
        - name: note
          type: text
          nullable: true
      constraints:
        - name: tickets_pk
          type: primary_key
          columns: [seller_name, seller_zip, number]
        - name: unique_phone
          type: unique
          columns: [phone]
          nulls_not_distinct: true
          index_parameters:
            include_columns: [title]
            storage_parameters: fillfactor=70
        - name: title_present
          type: check
          check: length(title) > 0
        - name: fk_seller
          type: foreign_key
          columns: [seller_name, seller_zip]
          references:
            table: sellers
            columns: [name, zip]
            on_delete: CASCADE
            on_update: CASCADE
            match_type: FULL
        - name: no_duplicate_notes
          type: exclude
          exclude:
            index_method: btree
            elements: note WITH =
            predicate: note IS NOT NULL
        - name: deferred_number
          type: unique
          columns: [number]
          deferrable: true
          initially_deferred: true
  - create_table:
      name: reviews
      columns:
        - name: id
          type: serial
          pk: true
        - name: customer_id
          type: integer
          nullable: true
        - name: order_id
          type: bigint
          nullable: true
      constraints:
        - name: fk_review_order
          type: foreign_key
          columns: [customer_id, order_id]
          references:
            table: orders
            columns: [customer_id, id]
            on_delete: SET NULL
            on_delete_set_columns: [order_id]
EOF
try_rollback "SELECT * FROM sellers ORDER BY 1, 2"
start || return 0
view_cols_is customers "id,name,credit_card,tier,created_at,name_length"
view_cols_is tickets "seller_name,seller_zip,number,title,phone,note"
new_ok "INSERT INTO customers (id, name) VALUES (1, 'ann'), (2, 'bert')" "insert into a new table"
new_is "SELECT id, name, tier, created_at IS NOT NULL, name_length FROM customers ORDER BY id" "1|ann|basic|t|3
2|bert|basic|t|4" "defaults and the generated column apply"
new_err "INSERT INTO customers (id, name) VALUES (3, 'ann')" "duplicate key value violates unique constraint" \
	"unique column"
new_err "INSERT INTO customers (id, name, tier) VALUES (3, 'cid', 'platinum')" 'violates check constraint "tier_valid"' \
	"column check"
new_err "INSERT INTO customers (id) VALUES (3)" 'null value in column "name"' "columns are NOT NULL unless nullable"
new_err "INSERT INTO customers (id, name) VALUES (NULL, 'cid')" 'null value in column "id"' "the primary key is NOT NULL"
new_ok "INSERT INTO orders (customer_id, quantity) VALUES (1, 5), (2, 1)" "insert with an identity key"
new_is "SELECT string_agg(id || ':' || customer_id, ',' ORDER BY id) FROM orders" "1:1,2:2" "the identity numbers rows"
new_ok "INSERT INTO orders (id, customer_id, quantity) VALUES (10, 1, 1)" "identity BY DEFAULT takes a given value"
new_err "INSERT INTO orders (customer_id, quantity) VALUES (1, 0)" 'violates check constraint "quantity_positive"' \
	"column check"
new_err "INSERT INTO orders (customer_id, quantity) VALUES (9, 1)" 'violates foreign key constraint "fk_orders_customer"' \
	"column foreign key"
t_ok "$MIG: new version: the deferred foreign key is checked at commit only" new \
	"BEGIN; INSERT INTO orders (id, customer_id, quantity) VALUES (11, 3, 1);
	INSERT INTO customers (id, name) VALUES (3, 'cid'); COMMIT"
new_ok "INSERT INTO tickets (seller_name, seller_zip, title, phone) VALUES ('alice', 1000, 't1', 'p1'),
	('bob', 2000, 't2', 'p2')" \
	"insert with a serial in the primary key"
new_is "SELECT string_agg(seller_name || ':' || number, ',' ORDER BY number) FROM tickets" "alice:1,bob:2" \
	"the serial numbers rows"
new_err "INSERT INTO tickets (seller_name, seller_zip, title) VALUES ('alice', 1, 't3')" \
	'violates foreign key constraint "fk_seller"' "multi-column foreign key"
new_err "INSERT INTO tickets (seller_name, seller_zip, title) VALUES ('alice', NULL, 't3')" \
	'violates foreign key constraint "fk_seller"|null value in column "seller_zip"' "MATCH FULL or NOT NULL"
new_err "INSERT INTO tickets (seller_name, seller_zip, title) VALUES ('alice', 1000, '')" \
	'violates check constraint "title_present"' "table check"
new_ok "INSERT INTO tickets (seller_name, seller_zip, title, note) VALUES ('alice', 1000, 't4', 'n')" "insert a note"
new_err "INSERT INTO tickets (seller_name, seller_zip, title, phone, note) VALUES ('bob', 2000, 't5', 'p5', 'n')" \
	'violates exclusion constraint "no_duplicate_notes"' "exclusion constraint"
new_err "INSERT INTO tickets (seller_name, seller_zip, title) VALUES ('bob', 2000, 't6')" \
	'duplicate key value violates unique constraint "unique_phone"' "unique NULLS NOT DISTINCT"
t_ok "$MIG: deleting a seller" sq "DELETE FROM sellers WHERE name = 'bob'"
new_is "SELECT string_agg(seller_name, ',' ORDER BY number) FROM tickets" "alice,alice" \
	"ON DELETE CASCADE removed the seller's tickets"
new_ok "INSERT INTO reviews (customer_id, order_id) VALUES (1, 1)" "insert"
t_ok "$MIG: deleting an order" sq "DELETE FROM orders WHERE id = 1"
new_is "SELECT coalesce(customer_id::text, '-') || ':' || coalesce(order_id::text, '-') FROM reviews" "1:-" \
	"ON DELETE SET NULL (order_id) cleared only order_id"
complete || return 0
cols_is customers "created_at timestamp with time zone not null default now()
credit_card text
id integer not null
name character varying(255) not null
name_length integer default length((name)::text)
tier text not null default 'basic'::text"
t_sql_is "$DB" "SELECT attgenerated::text FROM pg_attribute WHERE attrelid = 'customers'::regclass
	AND attname = 'name_length'" "s" "$MIG: after complete, name_length is a generated column"
cons_is customers "customers_name_key UNIQUE (name)
customers_pkey PRIMARY KEY (id)
tier_valid CHECK ((tier = ANY (ARRAY['basic'::text, 'gold'::text])))"
t_sql_is "$DB" "SELECT obj_description('customers'::regclass, 'pg_class')" "the customers" \
	"$MIG: after complete, the table comment"
comment_is customers name "the customer's name"
cols_is orders "customer_id integer not null
id bigint not null
quantity integer not null"
t_sql_is "$DB" "SELECT attidentity::text FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attname = 'id'" \
	"d" "$MIG: after complete, orders.id is an identity BY DEFAULT"
cons_is orders "fk_orders_customer FOREIGN KEY (customer_id) REFERENCES customers(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED
orders_customer_order UNIQUE (customer_id, id)
orders_pkey PRIMARY KEY (id)
quantity_positive CHECK ((quantity > 0)) NO INHERIT"
cons_is tickets "deferred_number UNIQUE (number) DEFERRABLE INITIALLY DEFERRED
fk_seller FOREIGN KEY (seller_name, seller_zip) REFERENCES sellers(name, zip) MATCH FULL ON UPDATE CASCADE ON DELETE CASCADE
no_duplicate_notes EXCLUDE USING btree (note WITH =) WHERE ((note IS NOT NULL))
tickets_pk PRIMARY KEY (seller_name, seller_zip, number)
title_present CHECK ((length(title) > 0))
unique_phone UNIQUE NULLS NOT DISTINCT (phone) INCLUDE (title)"
t_sql_is "$DB" "SELECT reloptions FROM pg_class WHERE oid = 'unique_phone'::regclass" "{fillfactor=70}" \
	"$MIG: after complete, the unique constraint's index has the storage parameters"
cols_is tickets "note text
number integer not null default nextval('tickets_number_seq'::regclass)
phone text
seller_name character varying(255) not null
seller_zip integer not null
title text not null"
cons_is reviews "fk_review_order FOREIGN KEY (customer_id, order_id) REFERENCES orders(customer_id, id) ON DELETE SET NULL (order_id)
reviews_pkey PRIMARY KEY (id)"
t_sql_is "$DB" "SELECT string_agg(id || ':' || name, ',' ORDER BY id) FROM customers" "1:ann,2:bert,3:cid" \
	"$MIG: after complete, the data is intact"
}
c_t01_create_tables

# ---------------------------------------------------------------------------
# drop_table (pgroll's 07)

c_t02_drop_table() {
mig t02_drop_table <<'EOF'
operations:
  - drop_table:
      name: legacy
EOF
try_rollback "SELECT * FROM legacy ORDER BY id"
start || return 0
new_err "SELECT * FROM legacy" 'relation "legacy" does not exist' "the dropped table is gone"
old_is "SELECT string_agg(note, ',' ORDER BY id) FROM legacy" "old,older" "still reads the table"
old_ok "INSERT INTO legacy VALUES (3, 'oldest')" "still writes the table"
t_ok "$MIG: old version (previous version schema $PREV): still reads the table" in_version "$PREV" \
	"SELECT count(*) FROM legacy"
complete || return 0
t_is "$(relkind_of "$SCH" legacy)" "none" "$MIG: after complete, the table is dropped"
}
c_t02_drop_table

# ---------------------------------------------------------------------------
# rename_table (pgroll's 04) of a referenced table, with a column added to it
# by its new name in the same migration

c_t03_rename_table() {
mig t03_rename_table <<'EOF'
operations:
  - rename_table:
      from: customers
      to: clients
  - add_column:
      table: clients
      up: tier = 'gold'
      column:
        name: vip
        type: boolean
        default: "false"
EOF
try_rollback "SELECT * FROM customers ORDER BY id"
start || return 0
new_err "SELECT * FROM customers" 'relation "customers" does not exist' "the old name is gone"
new_is "SELECT string_agg(id || ':' || name || ':' || vip, ',' ORDER BY id) FROM clients" \
	"1:ann:false,2:bert:false,3:cid:false" "reads the table by its new name"
old_ok "INSERT INTO customers (id, name, tier) VALUES (4, 'dora', 'gold')" "insert by the old name"
new_is "SELECT name, vip FROM clients WHERE id = 4" "dora|t" "sees it, with up applied"
new_ok "INSERT INTO clients (id, name, vip) VALUES (5, 'emil', true)" "insert by the new name"
old_is "SELECT name, tier FROM customers WHERE id = 5" "emil|basic" "sees it"
new_ok "INSERT INTO orders (customer_id, quantity) VALUES (5, 2)" "a foreign key to the renamed table"
new_err "INSERT INTO orders (customer_id, quantity) VALUES (99, 2)" 'violates foreign key constraint' \
	"the foreign key to the renamed table still holds"
complete || return 0
t_is "$(relkind_of "$SCH" customers),$(relkind_of "$SCH" clients)" "none,r" \
	"$MIG: after complete, the table has its new name"
cols_is clients "created_at timestamp with time zone not null default now()
credit_card text
id integer not null
name character varying(255) not null
name_length integer default length((name)::text)
tier text not null default 'basic'::text
vip boolean not null default false"
t_sql_is "$DB" "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'fk_orders_customer'" \
	"FOREIGN KEY (customer_id) REFERENCES clients(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED" \
	"$MIG: after complete, the foreign key references the renamed table"
t_sql_is "$DB" "SELECT string_agg(id || ':' || name || ':' || vip, ',' ORDER BY id) FROM clients" \
	"1:ann:false,2:bert:false,3:cid:false,4:dora:true,5:emil:true" "$MIG: after complete, the data is intact"
}
c_t03_rename_table

# ---------------------------------------------------------------------------
# create_index: plain, partial, hash with storage parameters, unique,
# opclass, several columns with collation and sort order, and one on a
# column added by the same migration (pgroll's 10, 37, 38, 42, 54)

c_t04_create_index() {
mig t04_create_index <<'EOF'
operations:
  - create_index:
      name: idx_fruits_name
      table: fruits
      columns:
        - column: name
  - create_index:
      name: idx_fruits_id_gt_10
      table: fruits
      columns:
        - column: id
      predicate: id > 10
  - create_index:
      name: idx_fruits_name_hash
      table: fruits
      columns:
        - column: name
      method: hash
      storage_parameters: fillfactor = 70
  - create_index:
      name: idx_fruits_unique_code
      table: fruits
      columns:
        - column: code
      unique: true
  - create_index:
      name: idx_fruits_custom_opclass
      table: fruits
      columns:
        - column: id
          opclass:
            name: int8_ops
  - create_index:
      name: idx_fruits_multi
      table: fruits
      columns:
        - column: code
          collate: C
          sort: DESC
          nulls: LAST
        - column: name
          opclass:
            name: varchar_pattern_ops
  - create_index:
      name: idx_fruits_brin
      table: fruits
      method: brin
      columns:
        - column: id
  - add_column:
      table: fruits
      up: upper(code)
      column:
        name: sku
        type: text
        nullable: true
  - create_index:
      name: idx_fruits_sku
      table: fruits
      columns:
        - column: sku
      predicate: sku <> ''
EOF
try_rollback "SELECT * FROM fruits ORDER BY id"
start || return 0
t_sql_is "$DB" "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
	WHERE c.relname LIKE 'idx\\_fruits\\_%' AND i.indisvalid" 8 "$MIG: start builds the indexes, valid"
new_err "INSERT INTO fruits (name, price, code) VALUES ('x', 1, 'c1')" "duplicate key value violates unique constraint \"idx_fruits_unique_code\"" \
	"the unique index is enforced"
old_err "INSERT INTO fruits (name, price, code) VALUES ('x', 1, 'c1')" "duplicate key value violates unique constraint \"idx_fruits_unique_code\"" \
	"the unique index is enforced (it is on the table)"
old_ok "INSERT INTO fruits (name, price, code) VALUES ('fruit13', 13, 'c13')" "insert"
new_is "SELECT sku FROM fruits WHERE name = 'fruit13'" "C13" "up fills the new column"
complete || return 0
idx_is fruits "CREATE UNIQUE INDEX fruits_name_key ON public.fruits USING btree (name)
CREATE UNIQUE INDEX fruits_pkey ON public.fruits USING btree (id)
CREATE INDEX idx_fruits_brin ON public.fruits USING brin (id)
CREATE INDEX idx_fruits_custom_opclass ON public.fruits USING btree (id)
CREATE INDEX idx_fruits_id_gt_10 ON public.fruits USING btree (id) WHERE (id > 10)
CREATE INDEX idx_fruits_multi ON public.fruits USING btree (code COLLATE \"C\" DESC NULLS LAST, name varchar_pattern_ops)
CREATE INDEX idx_fruits_name ON public.fruits USING btree (name)
CREATE INDEX idx_fruits_name_hash ON public.fruits USING hash (name) WITH (fillfactor='70')
CREATE INDEX idx_fruits_sku ON public.fruits USING btree (sku) WHERE (sku <> ''::text)
CREATE UNIQUE INDEX idx_fruits_unique_code ON public.fruits USING btree (code)"
t_sql_is "$DB" "SELECT count(*), count(sku) FROM fruits" "13|13" "$MIG: after complete, the data is intact"
}
c_t04_create_index

# ---------------------------------------------------------------------------
# create_index on a column that a later operation of the same migration
# changes: the index must survive complete (on the new column)

c_t04b_index_then_alter() {
mig t04b_index_then_alter <<'EOF'
operations:
  - create_index:
      name: idx_fruits_price
      table: fruits
      columns:
        - column: price
  - alter_column:
      table: fruits
      column: price
      check:
        name: price_positive
        constraint: price > 0
      up: greatest(price, 0.01)
      down: price
EOF
try_rollback "SELECT * FROM fruits ORDER BY id"
start || return 0
old_ok "INSERT INTO fruits (name, price, code) VALUES ('fruit15', 0, 'c15')" "a violating value is accepted"
new_is "SELECT price FROM fruits WHERE name = 'fruit15'" "0.01" "up fixes it"
complete || return 0
t_sql_is "$DB" "SELECT pg_get_indexdef(c.oid) FROM pg_class c WHERE c.relname = 'idx_fruits_price'" \
	"CREATE INDEX idx_fruits_price ON public.fruits USING btree (price)" \
	"$MIG: after complete, the index the migration created is there"
t_sql_is "$DB" "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'price_positive'" \
	"CHECK ((price > (0)::numeric))" "$MIG: after complete, the check is there"
}
c_t04b_index_then_alter

# ---------------------------------------------------------------------------
# drop_index (pgroll's 11): the old version keeps the index until complete

c_t05_drop_index() {
mig t05_drop_index <<'EOF'
operations:
  - drop_index:
      name: idx_fruits_name
  - drop_index:
      name: idx_fruits_unique_code
EOF
try_rollback "SELECT * FROM fruits ORDER BY id"
start || return 0
t_is "$(relkind_of "$SCH" idx_fruits_name)" "i" "$MIG: the index stays while the old version runs"
complete || return 0
t_is "$(relkind_of "$SCH" idx_fruits_name),$(relkind_of "$SCH" idx_fruits_unique_code)" "none,none" \
	"$MIG: after complete, the indexes are dropped"
t_ok "$MIG: after complete, the unique index no longer binds" \
	sq "INSERT INTO fruits (name, price, code) VALUES ('fruit14', 14, 'c1')"
}
c_t05_drop_index

# ---------------------------------------------------------------------------
# create_constraint unique, check and foreign key on an existing table
# (pgroll's 44, 45, 47), primary key on an existing table without one, and
# primary key on a table of the same migration (pgroll's 55)

c_t06_create_constraints() {
mig t06_create_constraints <<'EOF'
operations:
  - create_constraint:
      type: unique
      table: bookings
      name: unique_room
      columns: [room]
      up:
        room: room || '-' || id
      down:
        room: room
  - create_constraint:
      type: check
      table: bookings
      name: check_nights
      columns: [nights]
      check: nights > 0
      up:
        nights: greatest(nights, 1)
      down:
        nights: nights
  - create_constraint:
      type: foreign_key
      table: bookings
      name: fk_booking_seller
      columns: [seller_name, seller_zip]
      references:
        table: sellers
        columns: [name, zip]
      up:
        seller_name: (SELECT s.name FROM sellers s WHERE s.name = seller_name AND s.zip = seller_zip)
        seller_zip: (SELECT s.zip FROM sellers s WHERE s.name = seller_name AND s.zip = seller_zip)
      down:
        seller_name: seller_name
        seller_zip: seller_zip
  - create_constraint:
      type: primary_key
      table: loose
      name: loose_pkey
      columns: [id]
      up:
        id: coalesce(id, 0)
      down:
        id: id
  - create_table:
      name: tasks
      columns:
        - name: id
          type: serial
        - name: title
          type: varchar(255)
  - create_constraint:
      name: tasks_pkey
      table: tasks
      columns: [id]
      type: primary_key
      up:
        id: id
      down:
        id: id
EOF
try_rollback "SELECT b.*, l.* FROM bookings b FULL JOIN loose l ON l.id = b.id ORDER BY b.id, l.code"
start || return 0
t_is "$(relkind_of "$PREV" tasks)" "none" "$MIG: the previous version schema has no view of the new table"
new_is "SELECT string_agg(concat_ws(':', id, seller_name, seller_zip, room, nights), ',' ORDER BY id) FROM bookings" \
	"1:alice:1000:r1-1:2,2:r1-2:3,3:r2-3:1" "existing rows are fixed by up"
old_is "SELECT string_agg(concat_ws(':', id, seller_name, seller_zip, room, nights), ',' ORDER BY id) FROM bookings" \
	"1:alice:1000:r1:2,2:bob:2000:r1:3,3:alice:99:r2:-1" "keeps the old values"
old_ok "INSERT INTO bookings (id, seller_name, seller_zip, room, nights) VALUES (4, 'alice', 5, 'r2', 0)" \
	"violating values are accepted"
new_is "SELECT concat_ws(':', seller_name, seller_zip, room, nights) FROM bookings WHERE id = 4" "r2-4:1" \
	"up fixes them"
new_ok "INSERT INTO bookings (id, seller_name, seller_zip, room, nights) VALUES (5, 'alice', 1000, 'r9', 4)" "insert"
old_is "SELECT concat_ws(':', seller_name, seller_zip, room, nights) FROM bookings WHERE id = 5" "alice:1000:r9:4" \
	"down copies the new version's values"
new_err "INSERT INTO bookings (id, room) VALUES (20, 'r9')" "duplicate key value violates unique constraint" \
	"the unique constraint is enforced"
new_err "INSERT INTO bookings (id, nights) VALUES (20, 0)" 'violates check constraint "check_nights"' \
	"the check constraint is enforced"
new_err "INSERT INTO bookings (id, seller_name, seller_zip) VALUES (20, 'alice', 5)" \
	'violates foreign key constraint "fk_booking_seller"' "the foreign key is enforced"
new_err "INSERT INTO loose (code, id) VALUES ('c', 1)" "duplicate key value violates unique constraint" \
	"the primary key's uniqueness is enforced"
new_err "INSERT INTO loose (code, id) VALUES ('c', NULL)" "violates (not-null|check) constraint" \
	"the primary key's NOT NULL is enforced"
old_ok "INSERT INTO loose (code, id) VALUES ('c', NULL)" "a NULL key is accepted"
new_is "SELECT id FROM loose WHERE code = 'c'" "0" "up replaces it"
new_ok "INSERT INTO tasks (title) VALUES ('write tests')" "insert into the new table"
complete || return 0
cons_is bookings "bookings_pkey PRIMARY KEY (id)
check_nights CHECK ((nights > 0))
fk_booking_seller FOREIGN KEY (seller_name, seller_zip) REFERENCES sellers(name, zip)
unique_room UNIQUE (room)"
cols_is bookings "id integer not null
nights integer
room text
seller_name character varying(255)
seller_zip integer"
cons_is loose "loose_code_key UNIQUE (code)
loose_pkey PRIMARY KEY (id)"
cols_is loose "code text not null
id integer not null"
cons_is tasks "tasks_pkey PRIMARY KEY (id)"
t_sql_is "$DB" "SELECT string_agg(concat_ws(':', id, seller_name, seller_zip, room, nights), ',' ORDER BY id) FROM bookings" \
	"1:alice:1000:r1-1:2,2:r1-2:3,3:r2-3:1,4:r2-4:1,5:alice:1000:r9:4" "$MIG: after complete, the data is intact"
t_sql_is "$DB" "SELECT string_agg(code || ':' || id, ',' ORDER BY code) FROM loose" "a:1,b:2,c:0" \
	"$MIG: after complete, the data is intact (loose)"
}
c_t06_create_constraints

# ---------------------------------------------------------------------------
# create_constraint unique with INCLUDE and storage parameters, whose up makes existing duplicates unique; check NO INHERIT

c_t06b_constraint_options() {
mig t06b_constraint_options <<'EOF'
operations:
  - create_constraint:
      type: unique
      table: fruits
      name: fruits_code_unique
      columns: [code]
      index_parameters:
        include_columns: [name]
        storage_parameters: fillfactor=80
      up:
        code: code || '-' || id
      down:
        code: code
  - create_constraint:
      type: check
      table: fruits
      name: price_cap
      columns: [price]
      check: price < 1000
      no_inherit: true
      up:
        price: least(price, 999)
      down:
        price: price
EOF
try_rollback "SELECT * FROM fruits ORDER BY id"
start || return 0
new_is "SELECT count(DISTINCT code) = count(*) FROM fruits" "t" "up makes the existing codes unique"
old_ok "INSERT INTO fruits (name, price, code) VALUES ('fruit16', 5000, 'c1')" "a duplicate and a violating price are accepted"
new_is "SELECT code ~ '^c1-[0-9]+\$', price FROM fruits WHERE name = 'fruit16'" "t|999.00" "up fixes both"
new_err "INSERT INTO fruits (name, price, code) VALUES ('fruit18', 1, 'c2-2')" \
	'duplicate key value violates unique constraint' "a duplicate code is refused"
new_err "INSERT INTO fruits (name, price, code) VALUES ('fruit18', 1000, 'x')" 'violates check constraint "price_cap"' \
	"the check is enforced"
complete || return 0
t_sql_is "$DB" "SELECT string_agg(conname || ' ' || pg_get_constraintdef(oid), E'\n' ORDER BY conname)
	FROM pg_constraint WHERE conrelid = 'fruits'::regclass AND conname IN ('fruits_code_unique', 'price_cap', 'price_positive')" \
	"fruits_code_unique UNIQUE (code) INCLUDE (name)
price_cap CHECK ((price < (1000)::numeric)) NO INHERIT
price_positive CHECK ((price > (0)::numeric))" "$MIG: after complete, the constraints are there"
t_sql_is "$DB" "SELECT reloptions FROM pg_class WHERE oid = 'fruits_code_unique'::regclass" "{fillfactor=80}" \
	"$MIG: after complete, the unique constraint's index has the storage parameters"
t_sql_is "$DB" "SELECT count(*) FROM pg_index WHERE indexrelid = 'idx_fruits_multi'::regclass AND indisvalid" 1 \
	"$MIG: after complete, the other index on code is still there"
}
c_t06b_constraint_options

# ---------------------------------------------------------------------------
# drop_constraint (pgroll's 23, 27) and drop_multicolumn_constraint
# (pgroll's 48): the new version is free of them at once, the old version
# stays bound and down keeps its values valid

c_t07_drop_constraints() {
mig t07_drop_constraints <<'EOF'
operations:
  - drop_constraint:
      table: bookings
      name: check_nights
      up: nights
      down: greatest(nights, 1)
  - drop_constraint:
      table: bookings
      name: unique_room
      up: room
      down: room || '-' || id
  - drop_multicolumn_constraint:
      table: bookings
      name: fk_booking_seller
      up:
        seller_name: seller_name
        seller_zip: seller_zip
      down:
        seller_name: (SELECT s.name FROM sellers s WHERE s.name = seller_name AND s.zip = seller_zip)
        seller_zip: (SELECT s.zip FROM sellers s WHERE s.name = seller_name AND s.zip = seller_zip)
EOF
try_rollback "SELECT * FROM bookings ORDER BY id"
start || return 0
new_ok "INSERT INTO bookings (id, seller_name, seller_zip, room, nights) VALUES (6, 'zed', 9, 'r9', 0)" \
	"values the dropped constraints refused are accepted"
new_is "SELECT concat_ws(':', seller_name, seller_zip, room, nights) FROM bookings WHERE id = 6" "zed:9:r9:0" \
	"keeps them"
old_is "SELECT concat_ws(':', seller_name, seller_zip, room, nights) FROM bookings WHERE id = 6" "r9-6:1" \
	"down keeps the old columns valid"
old_err "INSERT INTO bookings (id, seller_name, seller_zip, room, nights) VALUES (20, 'alice', 1000, 'r20', 0)" 'violates check constraint "check_nights"' \
	"is still bound by the check"
old_err "INSERT INTO bookings (id, seller_name, seller_zip, room, nights) VALUES (20, 'alice', 1000, 'r9', 1)" "duplicate key value violates unique constraint" \
	"is still bound by the unique constraint"
old_err "INSERT INTO bookings (id, seller_name, seller_zip, room, nights) VALUES (20, 'zed', 9, 'r20', 1)" 'violates foreign key constraint "fk_booking_seller"' \
	"is still bound by the foreign key"
complete || return 0
cons_is bookings "bookings_pkey PRIMARY KEY (id)"
t_sql_is "$DB" "SELECT string_agg(concat_ws(':', id, seller_name, seller_zip, room, nights), ',' ORDER BY id) FROM bookings" \
	"1:alice:1000:r1-1:2,2:r1-2:3,3:r2-3:1,4:r2-4:1,5:alice:1000:r9:4,6:zed:9:r9:0" \
	"$MIG: after complete, the data is intact"
}
c_t07_drop_constraints

# ---------------------------------------------------------------------------
# rename_constraint (pgroll's 33): a check and a unique constraint (whose
# index is renamed along)

c_t08_rename_constraint() {
mig t08_rename_constraint <<'EOF'
operations:
  - rename_constraint:
      table: tickets
      from: title_present
      to: title_must_be_present
  - rename_constraint:
      table: tickets
      from: unique_phone
      to: tickets_phone_unique
EOF
try_rollback "SELECT * FROM tickets ORDER BY number"
start || return 0
new_err "INSERT INTO tickets (seller_name, seller_zip, title) VALUES ('alice', 1000, '')" \
	"violates check constraint" "the check still holds"
complete || return 0
con_names_is tickets "deferred_number,fk_seller,no_duplicate_notes,tickets_phone_unique,tickets_pk,title_must_be_present" \
	"$MIG: after complete, the constraints have their new names"
t_is "$(relkind_of "$SCH" tickets_phone_unique)" "i" "$MIG: after complete, the unique constraint's index is renamed too"
}
c_t08_rename_constraint

# ---------------------------------------------------------------------------
# set_replica_identity (pgroll's 29): full, and using an index

c_t09_replica_identity() {
mig t09_replica_identity <<'EOF'
operations:
  - set_replica_identity:
      table: sellers
      identity:
        type: full
        index: ""
  - set_replica_identity:
      table: fruits
      identity:
        type: index
        index: fruits_name_key
EOF
try_rollback "SELECT * FROM sellers ORDER BY 1, 2"
start || return 0
complete || return 0
t_sql_is "$DB" "SELECT string_agg(relname || ':' || relreplident::text, ',' ORDER BY relname) FROM pg_class
	WHERE oid IN ('sellers'::regclass, 'fruits'::regclass)" "fruits:i,sellers:f" \
	"$MIG: after complete, the replica identities are set"
t_sql_is "$DB" "SELECT indexrelid::regclass::text FROM pg_index WHERE indisreplident" "fruits_name_key" \
	"$MIG: after complete, the identity index is fruits_name_key"
}
c_t09_replica_identity

# ---------------------------------------------------------------------------
# sql: up with down (pgroll's 05, 40), and onComplete (pgroll's 32); then a
# column of the type the sql created (pgroll's 41)

c_t10_sql() {
mig t10_sql <<'EOF'
operations:
  - sql:
      up: CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)
      down: DROP TABLE users
  - sql:
      up: CREATE TYPE fruit_size AS ENUM ('small', 'medium', 'large');
      down: DROP TYPE fruit_size
  - sql:
      up: ALTER TABLE users ADD COLUMN birth_date timestamp
      onComplete: true
EOF
try_rollback "SELECT * FROM sellers ORDER BY 1, 2"
start || return 0
t_is "$(relkind_of "$SCH" users)" "r" "$MIG: up ran at start"
new_ok "INSERT INTO users VALUES (1, 'ann')" "the new version sees the table up created"
t_sql_is "$DB" "SELECT count(*) FROM pg_attribute WHERE attrelid = 'users'::regclass AND attname = 'birth_date'" \
	0 "$MIG: onComplete did not run at start"
complete || return 0
t_sql_is "$DB" "SELECT format_type(atttypid, atttypmod) FROM pg_attribute
	WHERE attrelid = 'users'::regclass AND attname = 'birth_date'" "timestamp without time zone" \
	"$MIG: onComplete ran at complete"
t_sql_is "$DB" "SELECT * FROM users" "1|ann|" "$MIG: after complete, the data is intact"
}
c_t10_sql

# several statements in one sql operation
c_t10b_sql_statements() {
mig t10b_sql_statements <<'EOF'
operations:
  - sql:
      up: CREATE TABLE colours (id int PRIMARY KEY, name text); INSERT INTO colours VALUES (1, 'red'), (2, 'green')
      down: DELETE FROM colours; DROP TABLE colours
EOF
try_rollback "SELECT * FROM sellers ORDER BY 1, 2"
start || return 0
new_is "SELECT string_agg(name, ',' ORDER BY id) FROM colours" "red,green" "both statements of up ran"
complete || return 0
t_sql_is "$DB" "SELECT count(*) FROM colours" 2 "$MIG: after complete, the data is intact"
}
c_t10b_sql_statements

c_t11_enum_column() {
mig t11_enum_column <<'EOF'
operations:
  - add_column:
      table: fruits
      column:
        name: size
        type: fruit_size
        default: "'small'"
EOF
try_rollback "SELECT * FROM fruits ORDER BY id"
start || return 0
new_is "SELECT DISTINCT size FROM fruits" "small" "existing rows get the default"
new_err "INSERT INTO fruits (name, price, size) VALUES ('x', 1, 'huge')" "invalid input value for enum" \
	"the enum is enforced"
complete || return 0
t_sql_is "$DB" "SELECT format_type(atttypid, atttypmod) || ':' || attnotnull FROM pg_attribute
	WHERE attrelid = 'fruits'::regclass AND attname = 'size'" "fruit_size:true" "$MIG: after complete, the column is there"
}
c_t11_enum_column

# ---------------------------------------------------------------------------
# a start that fails half-way (a unique index over duplicates) undoes itself
# and leaves nothing behind, not even the invalid index

c_t13_failed_start() {
sq "CREATE TABLE dupes (id int PRIMARY KEY, v int); INSERT INTO dupes VALUES (1, 7), (2, 7);"
mig t13_failed_start <<'EOF'
operations:
  - create_table:
      name: t13_table
      columns:
        - name: id
          type: integer
          pk: true
  - create_index:
      name: idx_dupes_v
      table: dupes
      unique: true
      columns:
        - column: v
EOF
local before
before=$(snap) || before="<pg_dump failed>"
t_exit 1 "$MIG: start fails" sh_ start "$T_TMP/$MIG.yaml"
t_like "$T_ERR" "could not create unique index" "  ... on the duplicates"
same "$(snap)" "$before" "$MIG: the failed start leaves the schema as it was (pg_dump -s)"
no_leftovers "after the failed start"
t_is "$(relkind_of "$SCH" idx_dupes_v),$(relkind_of "$SCH" t13_table),$(schema_count "$VS")" "none,none,0" \
	"$MIG: neither the index, the table nor the version schema is left"
cat >"$T_TMP/t13b_after_failure.yaml" <<'EOF'
operations:
  - create_index:
      name: idx_dupes_v
      table: dupes
      columns:
        - column: v
EOF
t_ok "$MIG: a migration can start after the failed one" sh_ start "$T_TMP/t13b_after_failure.yaml"
t_ok "$MIG: ... and be rolled back" sh_ rollback
}

c_t13_failed_start

# ---------------------------------------------------------------------------
# version_schema names the version schema (pgroll's 56)

c_t12_version_schema() {
mig t12_version_schema <<'EOF'
version_schema: with_version_schema
operations:
  - create_table:
      name: products
      columns:
        - name: id
          type: serial
          pk: true
        - name: name
          type: varchar(255)
          unique: true
EOF
VS="${SCH}_with_version_schema"
try_rollback "SELECT * FROM sellers ORDER BY 1, 2"
start || return 0
t_is "$(schema_count "${SCH}_t12_version_schema")" 0 "$MIG: no version schema is named after the migration"
new_ok "INSERT INTO products (name) VALUES ('p1')" "insert"
complete || return 0
t_sql_is "$DB" "SELECT string_agg(id || ':' || name, ',') FROM products" "1:p1" "$MIG: after complete, the data is intact"
}
c_t12_version_schema

# ---------------------------------------------------------------------------
# hostile names

SCH='Tab "sch(ém" Mixed'
PREV=
sq "CREATE SCHEMA $(qi "$SCH")"
TA='Ta "b(le Ö'
TR='Ref "t(ü'
TN='order "Ren(ü'
TD='Drop "me('

c_h01_create() {
mig h01_create <<'EOF'
operations:
  - create_table:
      name: 'Ref "t(ü'
      comment: 'réf "q'''
      columns:
        - name: Key
          type: integer
          pk: true
  - create_table:
      name: 'Ta "b(le Ö'
      columns:
        - name: ID
          type: integer
          pk: true
        - name: select
          type: text
          unique: true
          comment: 'sél "q'''
        - name: 'Grüße "x('
          type: integer
          default: "1"
          check:
            name: 'chk "g('
            constraint: '"Grüße ""x(" > 0'
        - name: 'Ref "id'
          type: integer
          nullable: true
          references:
            name: 'fk "ref(ü'
            table: 'Ref "t(ü'
            column: Key
      constraints:
        - name: 'uq "two('
          type: unique
          columns: [select, 'Grüße "x(']
  - create_table:
      name: 'Drop "me('
      columns:
        - name: id
          type: integer
          pk: true
EOF
try_rollback "SELECT count(*) FROM pg_class"
start || return 0
new_ok "INSERT INTO $(qi "$TR") VALUES (1), (2)" "insert"
new_ok "INSERT INTO $(qi "$TA") (\"ID\", \"select\", \"Ref \"\"id\") VALUES (1, 'a', 1), (2, 'b', NULL)" "insert"
new_err "INSERT INTO $(qi "$TA") (\"ID\", \"select\", \"Grüße \"\"x(\") VALUES (3, 'c', 0)" \
	'violates check constraint "chk "g\("' "the check with a hostile name holds"
new_err "INSERT INTO $(qi "$TA") (\"ID\", \"select\", \"Ref \"\"id\") VALUES (3, 'c', 9)" \
	'violates foreign key constraint "fk "ref\(ü"' "the foreign key with a hostile name holds"
new_err "INSERT INTO $(qi "$TA") (\"ID\", \"select\") VALUES (3, 'a')" "duplicate key value violates unique constraint" \
	"the unique column holds"
complete || return 0
cons_is "$TA" "${TA}_pkey PRIMARY KEY (\"ID\")
${TA}_select_key UNIQUE (\"select\")
chk \"g( CHECK ((\"Grüße \"\"x(\" > 0))
fk \"ref(ü FOREIGN KEY (\"Ref \"\"id\") REFERENCES $(qi "$SCH").$(qi "$TR")(\"Key\")
uq \"two( UNIQUE (\"select\", \"Grüße \"\"x(\")"
comment_is "$TA" select "sél \"q'"
t_sql_is "$DB" "SELECT obj_description($(rel "$TR"), 'pg_class')" "réf \"q'" "$MIG: after complete, the table comment"
}
c_h01_create

c_h02_alter() {
mig h02_alter <<'EOF'
operations:
  - rename_table:
      from: 'Ta "b(le Ö'
      to: 'order "Ren(ü'
  - create_constraint:
      type: check
      table: 'order "Ren(ü'
      name: 'small "g('
      columns: ['Grüße "x(']
      check: '"Grüße ""x(" < 100'
      up:
        'Grüße "x(': 'least("Grüße ""x(", 99)'
      down:
        'Grüße "x(': '"Grüße ""x("'
  - create_index:
      name: 'idx "sel(ü'
      table: 'order "Ren(ü'
      columns:
        - column: select
        - column: 'Grüße "x('
      predicate: '"Grüße ""x(" > 0'
  - drop_table:
      name: 'Drop "me('
EOF
try_rollback "SELECT * FROM $(qi "$SCH").$(qi "$TA") ORDER BY 1"
start || return 0
new_is "SELECT string_agg(\"ID\" || ':' || \"select\", ',' ORDER BY 1) FROM $(qi "$TN")" "1:a,2:b" \
	"reads the table by its new name"
new_err "SELECT * FROM $(qi "$TD")" "does not exist" "the dropped table is gone"
t_ok "$MIG: old version (previous version schema): insert" in_version "$PREV" \
	"INSERT INTO $(qi "$TA") (\"ID\", \"select\", \"Grüße \"\"x(\") VALUES (3, 'c', 500)"
new_is "SELECT \"Grüße \"\"x(\" FROM $(qi "$TN") WHERE \"ID\" = 3" "99" "up fixes the old version's value"
new_err "INSERT INTO $(qi "$TN") (\"ID\", \"select\", \"Grüße \"\"x(\") VALUES (4, 'd', 500)" \
	'violates check constraint "small "g\("' "the new check holds"
new_ok "INSERT INTO $(qi "$TN") (\"ID\", \"select\", \"Grüße \"\"x(\") VALUES (4, 'd', 50)" "insert"
t_sql_is "$DB" "SET search_path TO $(qi "$PREV"); SELECT \"Grüße \"\"x(\" FROM $(qi "$TA") WHERE \"ID\" = 4" "50" \
	"$MIG: old version (previous version schema): sees the new version's insert"
complete || return 0
t_is "$(relkind_of "$SCH" "$TA"),$(relkind_of "$SCH" "$TN"),$(relkind_of "$SCH" "$TD")" "none,r,none" \
	"$MIG: after complete, the table is renamed and the other dropped"
idx_is "$TN" "CREATE UNIQUE INDEX $(qi "${TA}_pkey") ON $(qi "$SCH").\"order \"\"Ren(ü\" USING btree (\"ID\")
CREATE UNIQUE INDEX $(qi "${TA}_select_key") ON $(qi "$SCH").\"order \"\"Ren(ü\" USING btree (\"select\")
CREATE INDEX \"idx \"\"sel(ü\" ON $(qi "$SCH").\"order \"\"Ren(ü\" USING btree (\"select\", \"Grüße \"\"x(\") WHERE (\"Grüße \"\"x(\" > 0)
CREATE UNIQUE INDEX \"uq \"\"two(\" ON $(qi "$SCH").\"order \"\"Ren(ü\" USING btree (\"select\", \"Grüße \"\"x(\")"
t_sql_is "$DB" "SELECT string_agg(\"ID\" || ':' || \"select\" || ':' || \"Grüße \"\"x(\", ',' ORDER BY 1)
	FROM $(qi "$SCH").$(qi "$TN")" "1:a:1,2:b:1,3:c:99,4:d:50" "$MIG: after complete, the data is intact"
}
c_h02_alter

c_h03_misc() {
mig h03_misc <<'EOF'
operations:
  - drop_index:
      name: 'idx "sel(ü'
  - rename_constraint:
      table: 'order "Ren(ü'
      from: 'chk "g('
      to: 'chk2 "g(ü'
  - set_replica_identity:
      table: 'order "Ren(ü'
      identity:
        type: index
        index: 'uq "two('
  - sql:
      up: 'CREATE TABLE "Made ""by(sql" (id int PRIMARY KEY)'
      down: 'DROP TABLE "Made ""by(sql"'
  - sql:
      up: 'COMMENT ON TABLE "order ""Ren(ü" IS ''done "q'''
      onComplete: true
EOF
try_rollback "SELECT * FROM $(qi "$SCH").$(qi "$TN") ORDER BY 1"
start || return 0
t_is "$(relkind_of "$SCH" 'Made "by(sql')" "r" "$MIG: the sql up ran in the application schema"
t_is "$(relkind_of "$SCH" 'idx "sel(ü')" "i" "$MIG: the dropped index stays until complete"
complete || return 0
t_is "$(relkind_of "$SCH" 'idx "sel(ü')" "none" "$MIG: after complete, the index is dropped"
con_names_is "$TN" "${TA}_pkey,${TA}_select_key,chk2 \"g(ü,fk \"ref(ü,small \"g(,uq \"two(" \
	"$MIG: after complete, the constraint has its new name"
t_sql_is "$DB" "SELECT relreplident::text || ':' || (SELECT indexrelid::regclass::text FROM pg_index
	WHERE indrelid = c.oid AND indisreplident) FROM pg_class c WHERE c.oid = $(rel "$TN")" \
	"i:$(qi "$SCH").\"uq \"\"two(\"" "$MIG: after complete, the replica identity uses the index"
t_sql_is "$DB" "SELECT obj_description($(rel "$TN"), 'pg_class')" "done \"q" "$MIG: the onComplete sql ran"
}
c_h03_misc

t_done
