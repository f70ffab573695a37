-- --assume-in-transaction: the migration tool wraps the file in a
-- transaction, so CONCURRENTLY fails and BEGIN/COMMIT nest.
-- test-options: assume-in-transaction
-- shunt-lint: disable-file=require-lock-timeout

CREATE INDEX CONCURRENTLY users_a_idx ON users (a);             -- expect: concurrently-in-transaction
ALTER TABLE users ADD COLUMN b text;                            -- expect: none
UPDATE users SET b = 'x';                                       -- expect: mixed-ddl-and-dml, unbatched-backfill
BEGIN;                                                          -- expect: transaction-nesting
COMMIT;                                                         -- expect: transaction-nesting
ALTER TYPE mood ADD VALUE 'meh';                                -- expect: none
