-- require-lock-timeout: reported once, at the first statement that locks
-- an existing table while no lock_timeout is in force.
-- shunt-lint: disable-file=prefer-robust-stmts

CREATE TABLE fresh (id bigint PRIMARY KEY);                     -- expect: none
CREATE INDEX fresh_idx ON fresh (id);                           -- expect: none
CREATE INDEX CONCURRENTLY users_a_idx ON users (a);             -- expect: none
ALTER TABLE users VALIDATE CONSTRAINT users_a_check;            -- expect: none
SET LOCAL lock_timeout = '1s';                                  -- expect: none
ALTER TABLE users ADD COLUMN a text;                            -- expect: require-lock-timeout
ALTER TABLE users ADD COLUMN b text;                            -- expect: none
SET lock_timeout = '2s';                                        -- expect: none
ALTER TABLE users ADD COLUMN c text;                            -- expect: none
