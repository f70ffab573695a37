-- create_constraint unique and primary_key, DROP DEFAULT, replica identity
-- by index, a new table with a named column PRIMARY KEY and an identity.
ALTER TABLE tags ADD CONSTRAINT tags_name_key UNIQUE (name);
ALTER TABLE tags ADD PRIMARY KEY (id);
ALTER TABLE tags ALTER COLUMN color DROP DEFAULT;
ALTER TABLE notes REPLICA IDENTITY USING INDEX notes_body_idx;
ALTER TABLE notes ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY;
CREATE TABLE labels (
	id integer CONSTRAINT labels_pk PRIMARY KEY,
	note_id bigint CONSTRAINT labels_note_fk REFERENCES notes (id) ON UPDATE CASCADE,
	title text CONSTRAINT labels_title_key UNIQUE,
	size smallint CHECK (size BETWEEN 1 AND 10) DEFAULT 5,
	full_title text GENERATED ALWAYS AS (upper(title)) STORED
);
ALTER TABLE labels ALTER COLUMN size SET NOT NULL;
