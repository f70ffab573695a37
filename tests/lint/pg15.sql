-- The same statements as pg10.sql on PostgreSQL 15.
-- test-options: pg-version=15
-- shunt-lint: disable-file=require-lock-timeout,prefer-robust-stmts

ALTER TABLE users ADD COLUMN status text DEFAULT 'new';         -- expect: none
ALTER TABLE users ADD COLUMN seen timestamptz DEFAULT now();    -- expect: none
ALTER TABLE users ADD COLUMN flag boolean DEFAULT NULL;         -- expect: none
ALTER TABLE users ADD COLUMN note text;                         -- expect: none
-- since 12 a validated CHECK (col IS NOT NULL) makes SET NOT NULL skip the scan
ALTER TABLE users ADD CONSTRAINT users_name_nn CHECK (name IS NOT NULL) NOT VALID; -- expect: none
ALTER TABLE users VALIDATE CONSTRAINT users_name_nn;            -- expect: none
ALTER TABLE users ALTER COLUMN name SET NOT NULL;               -- expect: none
ALTER TABLE users DROP CONSTRAINT users_name_nn;                -- expect: none
-- without such a check it scans
ALTER TABLE users ALTER COLUMN email SET NOT NULL;              -- expect: adding-not-nullable-field
-- a check that is still NOT VALID proves nothing
ALTER TABLE users ADD CONSTRAINT users_org_nn CHECK (org_id IS NOT NULL) NOT VALID; -- expect: none
ALTER TABLE users ALTER COLUMN org_id SET NOT NULL;             -- expect: adding-not-nullable-field
REINDEX INDEX users_name_idx;                                   -- expect: require-concurrent-reindex
REINDEX INDEX CONCURRENTLY users_name_idx;                      -- expect: none
ALTER TABLE events DETACH PARTITION events_2020;                -- expect: require-concurrent-detach-partition
ALTER TABLE events DETACH PARTITION events_2021 CONCURRENTLY;   -- expect: none
BEGIN;                                                          -- expect: none
ALTER TYPE mood ADD VALUE 'meh';                                -- expect: none
COMMIT;                                                         -- expect: none
