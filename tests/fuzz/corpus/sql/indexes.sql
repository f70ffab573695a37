-- Index builds and drops.
-- shunt-lint: disable-file=require-lock-timeout,prefer-robust-stmts

CREATE INDEX users_name_idx ON users (name);                    -- expect: require-concurrent-index-creation
CREATE UNIQUE INDEX users_email_idx ON users USING btree (lower(email)) WHERE deleted_at IS NULL; -- expect: require-concurrent-index-creation
CREATE INDEX ON users (created_at);                             -- expect: require-concurrent-index-creation
CREATE INDEX CONCURRENTLY users_org_idx ON users (org_id);      -- expect: none
CREATE INDEX CONCURRENTLY IF NOT EXISTS users_team_idx ON users (team_id); -- expect: none
DROP INDEX users_old_idx;                                       -- expect: require-concurrent-index-deletion
DROP INDEX IF EXISTS users_old_idx, users_older_idx;            -- expect: require-concurrent-index-deletion, require-concurrent-index-deletion
DROP INDEX CONCURRENTLY users_old_idx;                          -- expect: none
REINDEX TABLE users;                                            -- expect: require-concurrent-reindex
REINDEX (VERBOSE) INDEX users_name_idx;                         -- expect: require-concurrent-reindex
REINDEX TABLE CONCURRENTLY users;                               -- expect: none

-- a new table is empty: a plain CREATE INDEX is fine
CREATE TABLE things (id bigint PRIMARY KEY, name text);         -- expect: none
CREATE INDEX things_name_idx ON things (name);                  -- expect: none
DROP INDEX things_name_idx;                                     -- expect: none

-- CONCURRENTLY cannot run in a transaction block
BEGIN;                                                          -- expect: none
CREATE INDEX CONCURRENTLY users_x_idx ON users (x);             -- expect: concurrently-in-transaction
DROP INDEX CONCURRENTLY users_y_idx;                            -- expect: concurrently-in-transaction
REINDEX INDEX CONCURRENTLY users_name_idx;                      -- expect: concurrently-in-transaction
ALTER TABLE events DETACH PARTITION events_2019 CONCURRENTLY;   -- expect: concurrently-in-transaction
COMMIT;                                                         -- expect: none
