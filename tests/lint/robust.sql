-- prefer-robust-stmts: outside a transaction, a file that fails half-way
-- must be re-runnable.
-- shunt-lint: disable-file=require-lock-timeout

CREATE TABLE t1 (id bigint);                                    -- expect: prefer-robust-stmts
CREATE TABLE IF NOT EXISTS t2 (id bigint);                      -- expect: none
ALTER TABLE t1 ADD COLUMN a text;                               -- expect: none
CREATE INDEX CONCURRENTLY users_a_idx ON users (a);             -- expect: prefer-robust-stmts
CREATE INDEX CONCURRENTLY IF NOT EXISTS users_b_idx ON users (b); -- expect: none
ALTER TABLE users ADD COLUMN c text;                            -- expect: prefer-robust-stmts
ALTER TABLE users ADD COLUMN IF NOT EXISTS d text;              -- expect: none
ALTER TABLE users DROP CONSTRAINT users_c_check;                -- expect: prefer-robust-stmts
ALTER TABLE users DROP CONSTRAINT IF EXISTS users_d_check;      -- expect: none
DROP INDEX CONCURRENTLY users_old_idx;                          -- expect: prefer-robust-stmts
DROP INDEX CONCURRENTLY IF EXISTS users_older_idx;              -- expect: none
-- inside a transaction a failure undoes everything: nothing to re-run
BEGIN;                                                          -- expect: none
ALTER TABLE users ADD COLUMN e text;                            -- expect: none
CREATE TABLE t3 (id bigint);                                    -- expect: none
COMMIT;                                                         -- expect: none
