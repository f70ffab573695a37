-- Constraints added to existing tables, and to a table the file creates.
-- shunt-lint: disable-file=require-lock-timeout,prefer-robust-stmts

ALTER TABLE users ADD CONSTRAINT users_age_check CHECK (age > 0); -- expect: constraint-missing-not-valid
ALTER TABLE users ADD CHECK (age < 200);                        -- expect: constraint-missing-not-valid
ALTER TABLE users ADD CONSTRAINT users_age_pos CHECK (age > 0) NOT VALID; -- expect: none
ALTER TABLE users VALIDATE CONSTRAINT users_age_pos;            -- expect: none
ALTER TABLE users ADD CONSTRAINT users_org_fk FOREIGN KEY (org_id) REFERENCES orgs (id); -- expect: adding-foreign-key-constraint
ALTER TABLE users ADD FOREIGN KEY (team_id) REFERENCES teams;   -- expect: adding-foreign-key-constraint
ALTER TABLE users ADD CONSTRAINT users_org_fk2 FOREIGN KEY (org_id) REFERENCES orgs (id) NOT VALID; -- expect: none
ALTER TABLE users VALIDATE CONSTRAINT users_org_fk2;            -- expect: none
ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email); -- expect: disallowed-unique-constraint
ALTER TABLE users ADD UNIQUE (email, org_id);                   -- expect: disallowed-unique-constraint
CREATE UNIQUE INDEX CONCURRENTLY users_email_idx ON users (email); -- expect: none
ALTER TABLE users ADD CONSTRAINT users_email_key2 UNIQUE USING INDEX users_email_idx; -- expect: none
ALTER TABLE users ADD PRIMARY KEY (id);                         -- expect: adding-primary-key-constraint
ALTER TABLE users ADD CONSTRAINT users_pkey PRIMARY KEY USING INDEX users_id_idx; -- expect: none
ALTER TABLE rooms ADD CONSTRAINT no_overlap EXCLUDE USING gist (during WITH &&); -- expect: adding-exclusion-constraint
ALTER TABLE users DROP CONSTRAINT users_age_check;              -- expect: none
ALTER TABLE users RENAME CONSTRAINT users_age_pos TO users_age_positive; -- expect: none
ALTER TABLE users ALTER COLUMN nickname DROP NOT NULL;          -- expect: ban-drop-not-null
ALTER TABLE users ALTER COLUMN nickname SET DEFAULT 'anon';     -- expect: none
ALTER TABLE users ALTER COLUMN nickname DROP DEFAULT;           -- expect: none

-- validating in the transaction that added the constraint gains nothing
BEGIN;                                                          -- expect: none
ALTER TABLE users ADD CONSTRAINT users_score_pos CHECK (score >= 0) NOT VALID; -- expect: none
ALTER TABLE users VALIDATE CONSTRAINT users_score_pos;          -- expect: validate-in-same-transaction
COMMIT;                                                         -- expect: none
-- a separate transaction is the point
BEGIN;                                                          -- expect: none
ALTER TABLE users ADD CONSTRAINT users_rank_pos CHECK (rank >= 0) NOT VALID; -- expect: none
COMMIT;                                                         -- expect: none
ALTER TABLE users VALIDATE CONSTRAINT users_rank_pos;           -- expect: none

-- domains
ALTER DOMAIN positive ADD CONSTRAINT positive_check CHECK (VALUE > 0); -- expect: ban-alter-domain-with-add-constraint
ALTER DOMAIN positive ADD CONSTRAINT positive_check2 CHECK (VALUE > 0) NOT VALID; -- expect: none

-- a new table: constraints are checked on no rows
CREATE TABLE teams2 (id bigint PRIMARY KEY, name text);        -- expect: none
ALTER TABLE teams2 ADD CONSTRAINT teams2_name_key UNIQUE (name); -- expect: none
ALTER TABLE teams2 ADD CHECK (name <> '');                      -- expect: none
ALTER TABLE teams2 ADD FOREIGN KEY (id) REFERENCES users (id);  -- expect: none
ALTER TABLE teams2 ALTER COLUMN name SET NOT NULL;              -- expect: none
