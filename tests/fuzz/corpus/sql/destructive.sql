-- Renames, drops, rewrites and explicit locks.
-- shunt-lint: disable-file=require-lock-timeout,prefer-robust-stmts

ALTER TABLE users RENAME COLUMN name TO full_name;              -- expect: renaming-column
ALTER TABLE users RENAME TO customers;                          -- expect: renaming-table
ALTER TABLE customers DROP COLUMN nickname;                     -- expect: ban-drop-column
ALTER TABLE customers DROP COLUMN IF EXISTS legacy, DROP COLUMN old; -- expect: ban-drop-column, ban-drop-column
DROP TABLE sessions;                                            -- expect: ban-drop-table
DROP TABLE IF EXISTS a_table, b_table CASCADE;                  -- expect: ban-drop-table, ban-drop-table
DROP DATABASE production;                                       -- expect: ban-drop-database
TRUNCATE audit_log;                                             -- expect: ban-truncate
TRUNCATE TABLE a_log, b_log CASCADE;                            -- expect: ban-truncate
LOCK TABLE customers;                                           -- expect: ban-lock-table
LOCK TABLE customers IN SHARE MODE;                             -- expect: ban-lock-table
LOCK TABLE customers IN ROW EXCLUSIVE MODE;                     -- expect: none
LOCK TABLE customers IN ACCESS SHARE MODE;                      -- expect: none
VACUUM FULL customers;                                          -- expect: ban-vacuum-full
VACUUM (FULL, ANALYZE) customers;                               -- expect: ban-vacuum-full
VACUUM ANALYZE customers;                                       -- expect: none
CLUSTER customers USING customers_pkey;                         -- expect: ban-cluster
ALTER TABLE customers SET TABLESPACE fast_ssd;                  -- expect: rewriting-table-option
ALTER TABLE customers SET UNLOGGED;                             -- expect: rewriting-table-option
ALTER TABLE customers SET LOGGED;                               -- expect: rewriting-table-option
ALTER TABLE customers SET (fillfactor = 80);                    -- expect: none
REFRESH MATERIALIZED VIEW customer_stats;                       -- expect: require-concurrent-refresh
REFRESH MATERIALIZED VIEW CONCURRENTLY customer_stats;          -- expect: none
ALTER TABLE customers RENAME CONSTRAINT a TO b;                 -- expect: none
ALTER INDEX customers_pkey RENAME TO customers_pk;              -- expect: none
COMMENT ON COLUMN customers.full_name IS 'as printed';          -- expect: none

-- on a table the file creates, all of this is harmless
CREATE TABLE scratch (id bigint, v text);                       -- expect: none
ALTER TABLE scratch RENAME COLUMN v TO value;                   -- expect: none
ALTER TABLE scratch DROP COLUMN value;                          -- expect: none
TRUNCATE scratch;                                               -- expect: none
LOCK TABLE scratch;                                             -- expect: none
VACUUM FULL scratch;                                            -- expect: none
DROP TABLE scratch;                                             -- expect: none
