-- Constraints on an existing table.  (shunt changes a column once per
-- migration, so each statement here touches another column; a rename or a
-- drop of a constraint on a column another operation duplicates is lost or
-- fails at complete.)
ALTER TABLE members ADD CONSTRAINT members_team_fk FOREIGN KEY (team_id) REFERENCES teams (id);
ALTER TABLE members ADD CONSTRAINT members_rank_max CHECK (rank < 1000);
ALTER TABLE members DROP CONSTRAINT members_login_len;
ALTER TABLE members RENAME CONSTRAINT old_name TO members_code_key;
ALTER TABLE members REPLICA IDENTITY FULL;
