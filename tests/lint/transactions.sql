-- Transaction blocks: nesting, DDL held open by data changes.
-- shunt-lint: disable-file=require-lock-timeout,prefer-robust-stmts

BEGIN;                                                          -- expect: none
ALTER TABLE users ADD COLUMN tier text;                         -- expect: none
UPDATE users SET tier = 'free';                                 -- expect: mixed-ddl-and-dml, unbatched-backfill
COMMIT;                                                         -- expect: none

-- the data change first, the DDL after: the same lock held too long
BEGIN;                                                          -- expect: none
INSERT INTO users_archive SELECT * FROM users WHERE closed;     -- expect: none
ALTER TABLE users DROP COLUMN closed;                           -- expect: mixed-ddl-and-dml, ban-drop-column
COMMIT;                                                         -- expect: none

-- small data changes next to DDL are fine
BEGIN;                                                          -- expect: none
ALTER TABLE users ADD COLUMN kind text;                         -- expect: none
UPDATE users SET kind = 'admin' WHERE id = 1;                   -- expect: none
INSERT INTO settings (k, v) VALUES ('kind', 'on');              -- expect: none
DELETE FROM settings WHERE k = 'old';                           -- expect: none
COMMIT;                                                         -- expect: none

-- a whole-table change outside a transaction with DDL: only the batch advice
UPDATE users SET kind = 'user';                                 -- expect: unbatched-backfill
DELETE FROM sessions;                                           -- expect: unbatched-backfill

-- nesting
BEGIN;                                                          -- expect: none
BEGIN;                                                          -- expect: transaction-nesting
COMMIT;                                                         -- expect: none
COMMIT;                                                         -- expect: transaction-nesting
ROLLBACK;                                                       -- expect: transaction-nesting

-- a new table filled from an old one: no lock anyone waits for
BEGIN;                                                          -- expect: none
CREATE TABLE users_copy (id bigint, name text);                 -- expect: none
INSERT INTO users_copy SELECT id, name FROM users;              -- expect: none
COMMIT;                                                         -- expect: none

START TRANSACTION;                                              -- expect: ban-uncommitted-transaction
ALTER TABLE users ADD COLUMN last text;                         -- expect: none
