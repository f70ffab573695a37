-- Column changes on an existing table with rows.
SET lock_timeout = '2s';
ALTER TABLE users ADD COLUMN plan text DEFAULT 'free' NOT NULL;
ALTER TABLE users ADD COLUMN org_id bigint REFERENCES orgs (id) ON DELETE SET NULL;
ALTER TABLE users ADD COLUMN nick text CHECK (length(nick) < 30);
ALTER TABLE users ADD COLUMN ref text UNIQUE;
ALTER TABLE users ALTER COLUMN name TYPE text;
-- fill: down = CAST(name AS varchar(50))
ALTER TABLE users ALTER COLUMN age TYPE integer USING age::integer;
-- fill: down = CAST(age AS text)
ALTER TABLE users ALTER COLUMN email SET NOT NULL;
-- fill: up = coalesce(email, 'none')
ALTER TABLE users ALTER COLUMN score SET DEFAULT 10, ALTER COLUMN note SET DEFAULT 'n/a';
ALTER TABLE users ALTER COLUMN name DROP NOT NULL;
ALTER TABLE users DROP COLUMN legacy;
COMMENT ON COLUMN users.plan IS 'billing plan';
