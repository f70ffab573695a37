-- Column types: the prefer-* rules where a type is declared, and which
-- ALTER COLUMN ... TYPE changes rewrite the table.
-- shunt-lint: disable-file=require-lock-timeout,prefer-robust-stmts

CREATE TABLE accounts (                                         -- expect: prefer-bigint-over-int, prefer-bigint-over-int, prefer-bigint-over-smallint, prefer-identity, prefer-text-field, prefer-timestamptz, ban-char-field, prefer-jsonb
	id serial PRIMARY KEY,
	n integer,
	s smallint,
	name varchar(20),
	at timestamp,
	code char(3),
	doc json,
	ok_big bigint,
	ok_text text,
	ok_tz timestamptz,
	ok_vc varchar,
	ok_id bigint GENERATED ALWAYS AS IDENTITY,
	ok_arr text[]
);
-- the table is new: changing its types locks nothing anyone waits for
ALTER TABLE accounts ALTER COLUMN n TYPE bigint;                -- expect: none

-- Columns added to an existing table: their types are known from here on.
ALTER TABLE users ADD COLUMN name varchar(20);                  -- expect: prefer-text-field
ALTER TABLE users ADD COLUMN body text;                         -- expect: none
ALTER TABLE users ADD COLUMN price numeric(10,2);               -- expect: none
ALTER TABLE users ADD COLUMN net cidr;                          -- expect: none
ALTER TABLE users ADD COLUMN at timestamptz(3);                 -- expect: none
ALTER TABLE users ADD COLUMN bits varbit(8);                    -- expect: none
ALTER TABLE users ADD COLUMN n integer;                         -- expect: prefer-bigint-over-int
ALTER TABLE users ADD COLUMN t timestamp;                       -- expect: prefer-timestamptz
ALTER TABLE users ADD COLUMN label varchar;                     -- expect: none

-- catalog-only changes: no finding
ALTER TABLE users ALTER COLUMN name TYPE varchar(50);           -- expect: prefer-text-field
ALTER TABLE users ALTER COLUMN name TYPE varchar(50);           -- expect: prefer-text-field
ALTER TABLE users ALTER COLUMN name TYPE varchar;               -- expect: none
ALTER TABLE users ALTER COLUMN name TYPE text;                  -- expect: none
ALTER TABLE users ALTER COLUMN body TYPE varchar;               -- expect: none
ALTER TABLE users ALTER COLUMN label TYPE text;                 -- expect: none
ALTER TABLE users ALTER COLUMN price TYPE numeric(12,2);        -- expect: none
ALTER TABLE users ALTER COLUMN price TYPE decimal(14,2);        -- expect: none
ALTER TABLE users ALTER COLUMN price TYPE numeric;              -- expect: none
ALTER TABLE users ALTER COLUMN net TYPE inet;                   -- expect: none
ALTER TABLE users ALTER COLUMN at TYPE timestamptz(6);          -- expect: none
ALTER TABLE users ALTER COLUMN at TYPE timestamp with time zone; -- expect: none
ALTER TABLE users ALTER COLUMN bits TYPE varbit(16);            -- expect: none
ALTER TABLE users ALTER COLUMN bits TYPE bit varying;           -- expect: none
ALTER TABLE users ALTER COLUMN body TYPE varchar USING body;    -- expect: none

-- changes that rewrite
ALTER TABLE users ALTER COLUMN n TYPE bigint;                   -- expect: changing-column-type
ALTER TABLE users ALTER COLUMN body TYPE varchar(10);           -- expect: changing-column-type, prefer-text-field
ALTER TABLE users ALTER COLUMN t TYPE timestamptz;              -- expect: changing-column-type
ALTER TABLE users ADD COLUMN p2 numeric(10,2);                  -- expect: none
ALTER TABLE users ALTER COLUMN p2 TYPE numeric(10,3);           -- expect: changing-column-type
ALTER TABLE users ADD COLUMN p3 numeric(10,2);                  -- expect: none
ALTER TABLE users ALTER COLUMN p3 TYPE numeric(8,2);            -- expect: changing-column-type
ALTER TABLE users ADD COLUMN p4 numeric;                        -- expect: none
ALTER TABLE users ALTER COLUMN p4 TYPE numeric(10,2);           -- expect: changing-column-type
ALTER TABLE users ADD COLUMN v2 varchar(30);                    -- expect: prefer-text-field
ALTER TABLE users ALTER COLUMN v2 TYPE varchar(10);             -- expect: changing-column-type, prefer-text-field
ALTER TABLE users ALTER COLUMN v2 TYPE text USING trim(v2);     -- expect: changing-column-type
ALTER TABLE users ADD COLUMN c2 char(5);                        -- expect: ban-char-field
ALTER TABLE users ALTER COLUMN c2 TYPE char(10);                -- expect: changing-column-type, ban-char-field

-- the current type is not in the file
ALTER TABLE orders ALTER COLUMN amount TYPE bigint;             -- expect: changing-column-type
ALTER TABLE orders ALTER COLUMN note TYPE text;                 -- expect: changing-column-type-unverified
ALTER TABLE orders ALTER COLUMN note2 TYPE varchar(200);        -- expect: changing-column-type-unverified, prefer-text-field
ALTER TABLE orders ALTER COLUMN total TYPE numeric(12,2);       -- expect: changing-column-type-unverified
ALTER TABLE orders ALTER COLUMN ip TYPE inet;                   -- expect: changing-column-type-unverified
ALTER TABLE orders ALTER COLUMN note3 TYPE text USING note3::text; -- expect: changing-column-type
ALTER TABLE orders ALTER COLUMN amount2 TYPE integer;           -- expect: changing-column-type, prefer-bigint-over-int
