CREATE TABLE users (id bigint PRIMARY KEY, name varchar(50) NOT NULL, age text, email text,
	legacy text, score integer DEFAULT 0, note text);
INSERT INTO users SELECT g, 'user ' || g, (20 + g % 50)::text, 'u' || g || '@example.com', 'x', g, NULL
	FROM generate_series(1, 200) g;
CREATE TABLE orgs (id bigint PRIMARY KEY, name text);
INSERT INTO orgs VALUES (1, 'one'), (2, 'two');
