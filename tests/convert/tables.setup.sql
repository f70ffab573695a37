CREATE TABLE customers (id bigint PRIMARY KEY, email text NOT NULL);
CREATE TABLE legacy_log (id bigint PRIMARY KEY, line text);
CREATE TABLE products (id bigint PRIMARY KEY, sku text, price numeric);
INSERT INTO products SELECT g, 'sku' || g, g FROM generate_series(1, 20) g;
CREATE INDEX products_old_idx ON products (price);
