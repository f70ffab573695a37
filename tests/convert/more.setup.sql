CREATE TABLE tags (id bigint NOT NULL, name text, color text DEFAULT 'red', weight integer);
CREATE UNIQUE INDEX tags_id_idx ON tags (id);
INSERT INTO tags SELECT g, 'tag' || g, 'blue', g FROM generate_series(1, 30) g;
CREATE TABLE notes (id bigint PRIMARY KEY, body text NOT NULL, author text);
CREATE UNIQUE INDEX notes_body_idx ON notes (body);
