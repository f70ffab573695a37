-- lock_timeout = 0 means no timeout at all.
-- shunt-lint: disable-file=prefer-robust-stmts
SET lock_timeout = 0;                                           -- expect: none
ALTER TABLE users RENAME COLUMN a TO b;                         -- expect: require-lock-timeout, renaming-column
