CREATE TABLE teams (id bigint PRIMARY KEY, name text);
INSERT INTO teams VALUES (1, 'a'), (2, 'b');
CREATE TABLE members (id bigint PRIMARY KEY, team_id bigint, login text, rank integer, code text,
	CONSTRAINT members_rank_check CHECK (rank > 0), CONSTRAINT old_name UNIQUE (code),
	CONSTRAINT members_login_len CHECK (length(login) < 50));
INSERT INTO members SELECT g, 1 + g % 2, 'm' || g, g, 'c' || g FROM generate_series(1, 50) g;
