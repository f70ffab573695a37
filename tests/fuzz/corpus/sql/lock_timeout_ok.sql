-- lock_timeout set before the first DDL, by SET or by set_config().
-- shunt-lint: disable-file=prefer-robust-stmts

SET statement_timeout = '5min';                                 -- expect: none
SELECT set_config('lock_timeout', '1s', false);                 -- expect: none
ALTER TABLE users ADD COLUMN a text;                            -- expect: none
RESET lock_timeout;                                             -- expect: none
-- RESET switched it off again
DROP INDEX CONCURRENTLY users_b_idx;                            -- expect: none
ALTER TABLE users ADD COLUMN b text;                            -- expect: require-lock-timeout
BEGIN;                                                          -- expect: none
SET LOCAL lock_timeout TO '1s';                                 -- expect: none
ALTER TABLE users ADD COLUMN c text;                            -- expect: none
COMMIT;                                                         -- expect: none
