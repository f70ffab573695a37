-- Answers that depend on the server version: PostgreSQL 10.
-- test-options: pg-version=10
-- shunt-lint: disable-file=require-lock-timeout,prefer-robust-stmts

-- before 11 any non-NULL default rewrites the table
ALTER TABLE users ADD COLUMN status text DEFAULT 'new';         -- expect: adding-field-with-default
ALTER TABLE users ADD COLUMN seen timestamptz DEFAULT now();    -- expect: adding-field-with-default
ALTER TABLE users ADD COLUMN flag boolean DEFAULT NULL;         -- expect: none
ALTER TABLE users ADD COLUMN note text;                         -- expect: none
-- before 12 a validated CHECK does not spare SET NOT NULL its scan
ALTER TABLE users ADD CONSTRAINT users_name_nn CHECK (name IS NOT NULL) NOT VALID; -- expect: none
ALTER TABLE users VALIDATE CONSTRAINT users_name_nn;            -- expect: none
ALTER TABLE users ALTER COLUMN name SET NOT NULL;               -- expect: adding-not-nullable-field
-- REINDEX is flagged either way (the fix differs)
REINDEX INDEX users_name_idx;                                   -- expect: require-concurrent-reindex
-- DETACH PARTITION CONCURRENTLY does not exist before 14: nothing to suggest
ALTER TABLE events DETACH PARTITION events_2020;                -- expect: none
-- ALTER TYPE ... ADD VALUE fails in a transaction block before 12
BEGIN;                                                          -- expect: none
ALTER TYPE mood ADD VALUE 'meh';                                -- expect: adding-enum-value-in-transaction
COMMIT;                                                         -- expect: none
ALTER TYPE mood ADD VALUE 'wow';                                -- expect: none
