-- shunt-lint comments switch rules off for one statement or the file.
-- shunt-lint: disable-file=require-lock-timeout, prefer-robust-stmts

-- shunt-lint: disable=ban-drop-column
ALTER TABLE users DROP COLUMN a;                                -- expect: none
ALTER TABLE users DROP COLUMN b; -- shunt-lint: disable=ban-drop-column expect: none
ALTER TABLE users
	-- shunt-lint: disable=ban-drop-column (inside the statement)
	DROP COLUMN c;                                              -- expect: none
/* shunt-lint: disable=all */
ALTER TABLE users DROP COLUMN d, ALTER COLUMN e SET NOT NULL;   -- expect: none
-- a directive for another rule does not help
-- shunt-lint: disable=renaming-column
ALTER TABLE users DROP COLUMN f;                                -- expect: ban-drop-column
ALTER TABLE users DROP COLUMN g;                                -- expect: ban-drop-column
-- a directive applies to one statement only: the one above did not leak here
-- shunt-lint: disable=no-such-rule
ALTER TABLE users ADD COLUMN h text;                            -- expect: invalid-directive
-- shunt-lint: disable-file=ban-truncate
TRUNCATE users;                                                 -- expect: none
