/*
 * pg_logical.c: change capture from a temporary pgoutput slot; see
 * pg_logical.h.
 *
 * Protocol references: PostgreSQL's "Streaming Replication Protocol" and
 * "Logical Replication Message Formats" (proto_version 1), and
 * src/bin/pg_basebackup/pg_recvlogical.c for the client side of CopyBoth.
 */
#include "pg/pg_logical.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/interrupt.h"
#include "core/log.h"
#include "pg/pg_exec.h"
#include "pg/pg_lock.h"

#define POLL_BUDGET_MS 1000        /* longest a poll keeps reading a steady stream */
#define FEEDBACK_INTERVAL_MS 10000 /* unrequested status updates, like pg_recvlogical */
#define SLOT_WAIT_LOG_MS 10000
#define CLOSE_DRAIN_MS 5000
#define MARKER_NUDGE_MS 20         /* marker not here yet: make the server flush WAL */
/* Seconds between the Unix epoch and the PostgreSQL epoch (2000-01-01). */
#define PG_EPOCH_OFFSET_S INT64_C(946684800)

struct pg_logical {
	PGconn *conn;          /* replication=database, in CopyBoth once open */
	char *slot;
	char *publication;
	char *table_q;         /* quoted schema.table, for messages */
	uint32_t relid;        /* the captured table */
	size_t n_key;
	char **key_cols;
	int *key_pos;          /* column number in the current 'R' message, -1 before */
	bool have_relation;    /* an 'R' message for relid arrived */
	shunt_buf *values;     /* one per key column: the key being extracted */
	bool in_xact;          /* between 'B' and 'C' */
	uint64_t received_lsn; /* the server's position from the last keepalive */
	uint64_t confirmed_lsn;
	uint64_t sent_lsn;     /* flush position of the last status update sent */
	int64_t last_feedback_ms;
	bool reply_requested;
	char *conninfo;        /* db's, for flush_wal(); may hold a password */
};

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------- checks */

/* What pg_logical_check learns that pg_logical_open needs too. */
typedef struct check_info {
	uint32_t relid;
	char dbname[256];
} check_info;

/* True when the list setting value names pgoutput: comma-separated,
 * whitespace around items ignored, double quotes stripped, exact match (as
 * the server compares; "PGOUTPUT" and "$libdir/pgoutput" do not count). */
static bool
plugin_list_has_pgoutput(const char *list)
{
	const char *p = list;

	while (*p != '\0') {
		char item[256];
		size_t n = 0;
		bool quoted = false;

		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
			p++;
		while (*p != '\0' && (quoted || *p != ',')) {
			if (*p == '"') {
				if (quoted && p[1] == '"') {
					if (n + 1 < sizeof(item))
						item[n++] = '"';
					p += 2;
					continue;
				}
				quoted = !quoted;
				p++;
				continue;
			}
			if (n + 1 < sizeof(item))
				item[n++] = *p;
			p++;
		}
		while (n > 0 && (item[n - 1] == ' ' || item[n - 1] == '\t'))
			n--;
		item[n] = '\0';
		if (strcmp(item, "pgoutput") == 0)
			return true;
		if (*p == ',')
			p++;
	}
	return false;
}

static long
int_at(const PGresult *res, int col)
{
	return strtol(PQgetvalue(res, 0, col), NULL, 10);
}

/* Server and role facts: wal_level, privileges, free slots and senders,
 * allowed plugins, CREATE on the database. */
static int
check_server(shunt_db *db, check_info *info, shunt_error *err)
{
	PGresult *res;
	const char *role;
	int rc = -1;

	res = pg_exec_params(db,
		"SELECT pg_catalog.current_setting('wal_level'), r.rolsuper, r.rolreplication, "
		"       current_user::text, "
		"       pg_catalog.current_setting('max_replication_slots')::int, "
		"       (SELECT pg_catalog.count(*) FROM pg_catalog.pg_replication_slots)::int, "
		"       pg_catalog.current_setting('max_wal_senders')::int, "
		"       (SELECT pg_catalog.count(*) FROM pg_catalog.pg_stat_replication)::int, "
		/* superuser-only reading: others learn it when the slot is created */
		"       CASE WHEN r.rolsuper OR pg_catalog.pg_has_role('pg_read_all_settings', 'USAGE') "
		"            THEN pg_catalog.current_setting('output_plugin_libraries', true) END, "
		"       pg_catalog.has_database_privilege(pg_catalog.current_database(), 'CREATE'), "
		"       pg_catalog.current_database()::text "
		"  FROM pg_catalog.pg_roles r WHERE r.rolname = current_user",
		0, NULL, err);
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1) {
		shunt_error_set(err, SHUNT_E_DB, "could not read the current role from pg_roles");
		goto done;
	}
	role = PQgetvalue(res, 0, 3);
	snprintf(info->dbname, sizeof(info->dbname), "%s", PQgetvalue(res, 0, 10));
	if (strcmp(PQgetvalue(res, 0, 0), "logical") != 0) {
		shunt_error_set(err, SHUNT_E_REFUSED, "triggerless capture needs wal_level = logical");
		shunt_error_detail(err, "The server runs with wal_level = %s.", PQgetvalue(res, 0, 0));
		shunt_error_hint(err, "Set wal_level = logical in postgresql.conf and restart the server, "
							  "or use trigger-based capture.");
		goto done;
	}
	if (strcmp(PQgetvalue(res, 0, 1), "t") != 0 && strcmp(PQgetvalue(res, 0, 2), "t") != 0) {
		shunt_error_set(err, SHUNT_E_REFUSED, "role \"%s\" may not read logical replication", role);
		shunt_error_detail(err, "Triggerless capture reads changes from a logical replication slot, "
								"which needs the REPLICATION attribute (or superuser).");
		shunt_error_hint(err, "As a superuser: ALTER ROLE \"%s\" REPLICATION; or use trigger-based "
							  "capture.", role);
		goto done;
	}
	if (int_at(res, 5) >= int_at(res, 4)) {
		shunt_error_set(err, SHUNT_E_REFUSED, "no free replication slot");
		shunt_error_detail(err, "max_replication_slots is %s and %s slots exist.",
						   PQgetvalue(res, 0, 4), PQgetvalue(res, 0, 5));
		shunt_error_hint(err, "Drop unused slots (pg_drop_replication_slot) or raise "
							  "max_replication_slots (needs a restart).");
		goto done;
	}
	if (int_at(res, 7) >= int_at(res, 6)) {
		shunt_error_set(err, SHUNT_E_REFUSED, "no free WAL sender");
		shunt_error_detail(err, "max_wal_senders is %s and %s WAL senders are running.",
						   PQgetvalue(res, 0, 6), PQgetvalue(res, 0, 7));
		shunt_error_hint(err, "Raise max_wal_senders (needs a restart) or stop an unused replication "
							  "client.");
		goto done;
	}
	if (!PQgetisnull(res, 0, 8) && !plugin_list_has_pgoutput(PQgetvalue(res, 0, 8))) {
		shunt_error_set(err, SHUNT_E_REFUSED, "output plugin \"pgoutput\" is not allowed on this server");
		shunt_error_detail(err, "output_plugin_libraries is '%s'.", PQgetvalue(res, 0, 8));
		shunt_error_hint(err, "Add pgoutput to output_plugin_libraries and reload the server "
							  "configuration, or use trigger-based capture.");
		goto done;
	}
	if (strcmp(PQgetvalue(res, 0, 9), "t") != 0) {
		shunt_error_set(err, SHUNT_E_REFUSED, "role \"%s\" may not create a publication in database \"%s\"",
						role, info->dbname);
		shunt_error_detail(err, "Triggerless capture selects the table with a publication, which needs "
								"the CREATE privilege on the database.");
		shunt_error_hint(err, "GRANT CREATE ON DATABASE \"%s\" TO \"%s\"; or use trigger-based capture.",
						 info->dbname, role);
		goto done;
	}
	rc = 0;
done:
	PQclear(res);
	return rc;
}

/* Whether the column set cols (n rows of res, column 0) equals key_cols. */
static bool
same_columns(const PGresult *res, const char *const *key_cols, size_t n_key)
{
	if ((size_t) PQntuples(res) != n_key)
		return false;
	for (size_t i = 0; i < n_key; i++) {
		bool found = false;

		for (int r = 0; r < PQntuples(res); r++)
			if (strcmp(PQgetvalue(res, r, 0), key_cols[i]) == 0)
				found = true;
		if (!found)
			return false;
	}
	return true;
}

static void
list_columns(shunt_db *db, shunt_buf *b, const char *const *cols, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			buf_put(b, ", ");
		pg_put_ident(db, b, cols[i]);
	}
}

/* Replica identity versus key_cols; relident is pg_class.relreplident. */
static int
check_identity(shunt_db *db, const char *relid, char relident, const char *table_q,
			   const char *const *key_cols, size_t n_key, shunt_error *err)
{
	const char *params[2] = { relid, relident == 'i' ? "i" : "d" };
	shunt_buf have = SHUNT_BUF_INIT, want = SHUNT_BUF_INIT;
	PGresult *res = NULL;
	int rc = -1;

	buf_init(&have);
	buf_init(&want);
	list_columns(db, &want, key_cols, n_key);
	if (relident == 'n') {
		shunt_error_set(err, SHUNT_E_REFUSED, "table %s has REPLICA IDENTITY NOTHING", table_q);
		shunt_error_detail(err, "Triggerless capture publishes the table; with no replica identity its "
								"UPDATE and DELETE statements would fail, so no publication was created.");
		shunt_error_hint(err, "ALTER TABLE %s REPLICA IDENTITY DEFAULT (with a primary key on %s) or "
							  "REPLICA IDENTITY USING INDEX on a unique index of %s; or use "
							  "trigger-based capture.", table_q, buf_str(&want), buf_str(&want));
		goto done;
	}
	if (relident == 'f') {
		/* the old row carries every column, the key columns included */
		res = pg_exec_params(db,
			"SELECT a.attname FROM pg_catalog.pg_attribute a "
			" WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped",
			1, params, err);
		if (res == NULL)
			goto done;
		for (size_t i = 0; i < n_key; i++) {
			bool found = false;

			for (int r = 0; r < PQntuples(res); r++)
				if (strcmp(PQgetvalue(res, r, 0), key_cols[i]) == 0)
					found = true;
			if (!found) {
				shunt_error_set(err, SHUNT_E_INPUT, "table %s has no column \"%s\"", table_q, key_cols[i]);
				goto done;
			}
		}
		rc = 0;
		goto done;
	}
	res = pg_exec_params(db,
		"SELECT a.attname FROM pg_catalog.pg_index i "
		"  JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey) "
		" WHERE i.indrelid = $1::oid "
		"   AND CASE $2 WHEN 'i' THEN i.indisreplident ELSE i.indisprimary END",
		2, params, err);
	if (res == NULL)
		goto done;
	if (PQntuples(res) == 0) {
		shunt_error_set(err, SHUNT_E_REFUSED, "table %s has no primary key and no replica identity index",
						table_q);
		shunt_error_detail(err, "Triggerless capture publishes the table; without a replica identity its "
								"UPDATE and DELETE statements would fail, so no publication was created.");
		shunt_error_hint(err, "Add a primary key on %s, or ALTER TABLE %s REPLICA IDENTITY USING INDEX "
							  "on a unique index of %s; or use trigger-based capture.",
						 buf_str(&want), table_q, buf_str(&want));
		goto done;
	}
	if (!same_columns(res, key_cols, n_key)) {
		for (int r = 0; r < PQntuples(res); r++) {
			if (r > 0)
				buf_put(&have, ", ");
			pg_put_ident(db, &have, PQgetvalue(res, r, 0));
		}
		shunt_error_set(err, SHUNT_E_REFUSED, "the replica identity of table %s is not the key (%s)",
						table_q, buf_str(&want));
		shunt_error_detail(err, "The %s covers (%s); changes would carry those columns, not the key.",
						   relident == 'i' ? "replica identity index" : "primary key", buf_str(&have));
		shunt_error_hint(err, "Rebuild by the identity columns, or ALTER TABLE %s REPLICA IDENTITY USING "
							  "INDEX on a unique index of exactly (%s).", table_q, buf_str(&want));
		goto done;
	}
	rc = 0;
done:
	PQclear(res);
	buf_release(&have);
	buf_release(&want);
	return rc;
}

/* Table facts: exists, kind, persistence, owner, replica identity. */
static int
check_table(shunt_db *db, const char *schema, const char *table, const char *const *key_cols, size_t n_key,
			check_info *info, shunt_error *err)
{
	const char *params[2] = { schema, table };
	shunt_buf q = SHUNT_BUF_INIT;
	PGresult *res;
	int rc = -1;
	char kind, persistence;

	buf_init(&q);
	pg_put_qualified(db, &q, schema, table);
	res = pg_exec_params(db,
		"SELECT c.oid, c.relkind, c.relpersistence, c.relreplident, "
		"       pg_catalog.pg_has_role(c.relowner, 'USAGE'), pg_catalog.pg_get_userbyid(c.relowner)::text, "
		"       current_user::text "
		"  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
		" WHERE n.nspname = $1 AND c.relname = $2",
		2, params, err);
	if (res == NULL)
		goto done;
	if (PQntuples(res) != 1) {
		shunt_error_set(err, SHUNT_E_INPUT, "table %s does not exist", buf_str(&q));
		goto done;
	}
	kind = PQgetvalue(res, 0, 1)[0];
	persistence = PQgetvalue(res, 0, 2)[0];
	if (kind != 'r') {
		shunt_error_set(err, SHUNT_E_REFUSED, "%s is not an ordinary table", buf_str(&q));
		shunt_error_detail(err, kind == 'p' ? "Its changes are decoded per partition; triggerless capture "
											  "follows one table."
											: "Only ordinary tables can be published.");
		shunt_error_hint(err, "Use trigger-based capture.");
		goto done;
	}
	if (persistence != 'p') {
		shunt_error_set(err, SHUNT_E_REFUSED, "table %s is %s", buf_str(&q),
						persistence == 'u' ? "unlogged" : "temporary");
		shunt_error_detail(err, "Its changes are not written to the WAL, so logical decoding cannot see them.");
		shunt_error_hint(err, "Use trigger-based capture.");
		goto done;
	}
	if (strcmp(PQgetvalue(res, 0, 4), "t") != 0) {
		shunt_error_set(err, SHUNT_E_REFUSED, "role \"%s\" does not own table %s", PQgetvalue(res, 0, 6),
						buf_str(&q));
		shunt_error_detail(err, "Adding a table to a publication needs ownership of the table.");
		shunt_error_hint(err, "Run as the owner \"%s\" or a member of it; or use trigger-based capture.",
						 PQgetvalue(res, 0, 5));
		goto done;
	}
	info->relid = (uint32_t) strtoul(PQgetvalue(res, 0, 0), NULL, 10);
	rc = check_identity(db, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 3)[0], buf_str(&q), key_cols, n_key, err);
done:
	PQclear(res);
	buf_release(&q);
	return rc;
}

static int
check_keys(const char *const *key_cols, size_t n_key, shunt_error *err)
{
	if (n_key == 0)
		return shunt_error_set(err, SHUNT_E_INPUT, "triggerless capture needs at least one key column");
	for (size_t i = 0; i < n_key; i++)
		for (size_t j = 0; j < i; j++)
			if (strcmp(key_cols[i], key_cols[j]) == 0)
				return shunt_error_set(err, SHUNT_E_INPUT, "key column \"%s\" is named twice", key_cols[i]);
	return 0;
}

static int
check_all(shunt_db *db, const char *schema, const char *table, const char *const *key_cols, size_t n_key,
		  check_info *info, shunt_error *err)
{
	memset(info, 0, sizeof(*info));
	if (check_keys(key_cols, n_key, err) != 0)
		return -1;
	if (check_server(db, info, err) != 0)
		return -1;
	return check_table(db, schema, table, key_cols, n_key, info, err);
}

int
pg_logical_check(shunt_db *db, const char *schema, const char *table, const char *const *key_cols,
				 size_t n_key, shunt_error *err)
{
	check_info info;

	return check_all(db, schema, table, key_cols, n_key, &info, err);
}

/* ------------------------------------------------------ replication wire */

static void
put_u64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (unsigned char) (v & 0xff);
		v >>= 8;
	}
}

/* A cursor over one message; any read past the end sets bad. */
typedef struct rd {
	const unsigned char *p;
	size_t len;
	size_t off;
	bool bad;
} rd;

static uint64_t
rd_uint(rd *r, size_t n)
{
	uint64_t v = 0;

	if (r->len - r->off < n || r->off > r->len) {
		r->bad = true;
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		v = (v << 8) | r->p[r->off + i];
	r->off += n;
	return v;
}

/* A NUL-terminated string in the message; "" when malformed. */
static const char *
rd_str(rd *r)
{
	const char *s;
	const void *nul;

	if (r->off >= r->len) {
		r->bad = true;
		return "";
	}
	s = (const char *) r->p + r->off;
	nul = memchr(s, '\0', r->len - r->off);
	if (nul == NULL) {
		r->bad = true;
		return "";
	}
	r->off += (size_t) ((const char *) nul - s) + 1;
	return s;
}

static int
bad_message(shunt_error *err, char type)
{
	shunt_error_set(err, SHUNT_E_DB, "malformed logical replication message '%c'", type);
	shunt_error_hint(err, "This is probably a bug in shunt; use trigger-based capture meanwhile.");
	return -1;
}

static uint64_t
pg_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t) ((int64_t) ts.tv_sec - PG_EPOCH_OFFSET_S) * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

static void
conn_error(PGconn *conn, const char *what, shunt_error *err)
{
	const char *m = PQerrorMessage(conn);
	char line[256];
	size_t n;

	snprintf(line, sizeof(line), "%s", m && m[0] ? m : "connection lost");
	n = strlen(line);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == ' '))
		line[--n] = '\0';
	shunt_error_set(err, PQstatus(conn) == CONNECTION_BAD ? SHUNT_E_CONNECT : SHUNT_E_DB,
					"replication connection failed while %s", what);
	shunt_error_detail(err, "%s", line);
}

/* Standby status update ('r'): written, flushed and applied all at the
 * confirmed position; only flush matters for a logical slot. */
static int
send_feedback(pg_logical *l, shunt_error *err)
{
	unsigned char msg[1 + 8 * 4 + 1];

	msg[0] = 'r';
	put_u64(msg + 1, l->confirmed_lsn);
	put_u64(msg + 9, l->confirmed_lsn);
	put_u64(msg + 17, l->confirmed_lsn);
	put_u64(msg + 25, pg_now_us());
	msg[33] = 0;
	if (PQputCopyData(l->conn, (const char *) msg, (int) sizeof(msg)) <= 0 || PQflush(l->conn) != 0) {
		conn_error(l->conn, "sending feedback", err);
		return -1;
	}
	l->sent_lsn = l->confirmed_lsn;
	l->last_feedback_ms = now_ms();
	l->reply_requested = false;
	return 0;
}

static int
feedback_if_due(pg_logical *l, shunt_error *err)
{
	if (l->reply_requested || l->confirmed_lsn > l->sent_lsn ||
		now_ms() - l->last_feedback_ms >= FEEDBACK_INTERVAL_MS)
		return send_feedback(l, err);
	return 0;
}

/* ------------------------------------------------------- pgoutput decoding */

/* 'R': remember where the key columns are in this table's tuples. */
static int
on_relation(pg_logical *l, rd *r, shunt_error *err)
{
	uint32_t relid = (uint32_t) rd_uint(r, 4);
	int ncols;

	rd_str(r); /* namespace */
	rd_str(r); /* name */
	rd_uint(r, 1); /* replica identity */
	ncols = (int) rd_uint(r, 2);
	if (r->bad)
		return bad_message(err, 'R');
	if (relid != l->relid)
		return 0;
	for (size_t k = 0; k < l->n_key; k++)
		l->key_pos[k] = -1;
	for (int c = 0; c < ncols; c++) {
		const char *name;

		rd_uint(r, 1); /* flags */
		name = rd_str(r);
		rd_uint(r, 4); /* type */
		rd_uint(r, 4); /* typmod */
		if (r->bad)
			return bad_message(err, 'R');
		for (size_t k = 0; k < l->n_key; k++)
			if (strcmp(name, l->key_cols[k]) == 0)
				l->key_pos[k] = c;
	}
	for (size_t k = 0; k < l->n_key; k++) {
		if (l->key_pos[k] < 0) {
			shunt_error_set(err, SHUNT_E_REFUSED, "key column \"%s\" is no longer in table %s", l->key_cols[k],
							l->table_q);
			shunt_error_detail(err, "The table's definition changed while its changes were captured.");
			return -1;
		}
	}
	l->have_relation = true;
	return 0;
}

/* Reads one TupleData into l->values and hands the key to cb. */
static int
on_tuple(pg_logical *l, rd *r, char type, const char *which, pg_logical_key_cb cb, void *arg, int *n_keys,
		 shunt_error *err)
{
	int ncols = (int) rd_uint(r, 2);
	size_t found = 0;
	const char **key;
	int rc;

	if (!l->have_relation) {
		shunt_error_set(err, SHUNT_E_DB, "a change of table %s arrived before its relation message", l->table_q);
		return -1;
	}
	for (int c = 0; c < ncols && !r->bad; c++) {
		char kind = (char) rd_uint(r, 1);
		size_t k;

		for (k = 0; k < l->n_key; k++)
			if (l->key_pos[k] == c)
				break;
		if (kind == 't' || kind == 'b') {
			uint32_t len = (uint32_t) rd_uint(r, 4);

			if (r->bad || r->len - r->off < len)
				return bad_message(err, type);
			if (k < l->n_key) {
				if (kind == 'b' || memchr(r->p + r->off, '\0', len) != NULL) {
					shunt_error_set(err, SHUNT_E_DB, "key column \"%s\" arrived in binary form", l->key_cols[k]);
					return -1;
				}
				buf_reset(&l->values[k]);
				buf_putn(&l->values[k], (const char *) r->p + r->off, len);
				found++;
			}
			r->off += len;
		} else if (kind == 'n' || kind == 'u') {
			if (k < l->n_key) {
				shunt_error_set(err, SHUNT_E_DB, "key column \"%s\" of table %s arrived %s in the %s row",
								l->key_cols[k], l->table_q, kind == 'n' ? "as NULL" : "as an unchanged TOAST value",
								which);
				shunt_error_detail(err, "Only non-null, non-TOASTed keys can be followed by triggerless capture.");
				return -1;
			}
		} else
			return bad_message(err, type);
	}
	if (r->bad)
		return bad_message(err, type);
	if (found != l->n_key) {
		shunt_error_set(err, SHUNT_E_DB, "the %s row of a change of table %s lacks key columns", which, l->table_q);
		return -1;
	}
	key = shunt_xcalloc(l->n_key, sizeof(*key));
	for (size_t k = 0; k < l->n_key; k++)
		key[k] = buf_str(&l->values[k]);
	rc = cb(arg, key, l->n_key, err);
	free(key);
	if (rc != 0)
		return -1;
	(*n_keys)++;
	return 0;
}

/* 'I', 'U', 'D': the keys of one row change. */
static int
on_change(pg_logical *l, rd *r, char type, pg_logical_key_cb cb, void *arg, int *n_keys, shunt_error *err)
{
	uint32_t relid = (uint32_t) rd_uint(r, 4);
	char sub = (char) rd_uint(r, 1);

	if (r->bad)
		return bad_message(err, type);
	if (relid != l->relid)
		return 0;
	if (type == 'I') {
		if (sub != 'N')
			return bad_message(err, type);
		return on_tuple(l, r, type, "new", cb, arg, n_keys, err);
	}
	if (type == 'D') {
		if (sub != 'K' && sub != 'O')
			return bad_message(err, type);
		return on_tuple(l, r, type, "old", cb, arg, n_keys, err);
	}
	/* 'U': an old key ('K', key changed) or old row ('O', identity FULL)
	 * may come first, then the new row */
	if (sub == 'K' || sub == 'O') {
		if (on_tuple(l, r, type, "old", cb, arg, n_keys, err) != 0)
			return -1;
		sub = (char) rd_uint(r, 1);
	}
	if (r->bad || sub != 'N')
		return bad_message(err, type);
	return on_tuple(l, r, type, "new", cb, arg, n_keys, err);
}

/* 'T': the rebuild cannot follow a truncate of its table. */
static int
on_truncate(pg_logical *l, rd *r, shunt_error *err)
{
	uint32_t n = (uint32_t) rd_uint(r, 4);

	rd_uint(r, 1); /* options */
	for (uint32_t i = 0; i < n && !r->bad; i++) {
		if ((uint32_t) rd_uint(r, 4) == l->relid && !r->bad) {
			shunt_error_set(err, SHUNT_E_REFUSED, "table %s was truncated while its changes were captured",
							l->table_q);
			shunt_error_detail(err, "The rebuild copies and follows rows by key; a TRUNCATE removes rows "
									"without naming them.");
			shunt_error_hint(err, "Start the rebuild again.");
			return -1;
		}
	}
	if (r->bad)
		return bad_message(err, 'T');
	return 0;
}

/* 'M': a logical decoding message; sets *marker when it is ours. */
static int
on_message(rd *r, const char *token, bool *marker, shunt_error *err)
{
	const char *prefix;
	uint32_t len;

	rd_uint(r, 1); /* flags: transactional */
	rd_uint(r, 8); /* lsn */
	prefix = rd_str(r);
	len = (uint32_t) rd_uint(r, 4);
	if (r->bad || r->len - r->off < len)
		return bad_message(err, 'M');
	if (token != NULL && strcmp(prefix, PG_LOGICAL_MARKER_PREFIX) == 0 && len == strlen(token) &&
		memcmp(r->p + r->off, token, len) == 0)
		*marker = true;
	return 0;
}

/* One pgoutput message (the payload of an XLogData). */
static int
on_pgoutput(pg_logical *l, const unsigned char *p, size_t len, const char *token, bool *marker,
			pg_logical_key_cb cb, void *arg, int *n_keys, shunt_error *err)
{
	rd r = { p, len, 1, false };
	char type;

	if (len == 0)
		return bad_message(err, '?');
	type = (char) p[0];
	switch (type) {
	case 'B':
		l->in_xact = true;
		return 0;
	case 'C':
		rd_uint(&r, 1); /* flags */
		rd_uint(&r, 8); /* commit lsn */
		{
			uint64_t end = rd_uint(&r, 8);

			if (r.bad)
				return bad_message(err, type);
			/* every change of the transaction went to cb: processed */
			if (end > l->confirmed_lsn)
				l->confirmed_lsn = end;
		}
		l->in_xact = false;
		return 0;
	case 'R':
		return on_relation(l, &r, err);
	case 'I':
	case 'U':
	case 'D':
		return on_change(l, &r, type, cb, arg, n_keys, err);
	case 'T':
		return on_truncate(l, &r, err);
	case 'M':
		return on_message(&r, token, marker, err);
	case 'O': /* origin */
	case 'Y': /* type */
		return 0;
	default:
		shunt_error_set(err, SHUNT_E_DB, "unexpected logical replication message '%c'", type);
		return -1;
	}
}

/* One CopyData message from the server: XLogData or keepalive. */
static int
on_copydata(pg_logical *l, const unsigned char *p, size_t len, const char *token, bool *marker,
			pg_logical_key_cb cb, void *arg, int *n_keys, shunt_error *err)
{
	rd r = { p, len, 1, false };

	if (len > 0 && p[0] == 'k') {
		uint64_t wal_end = rd_uint(&r, 8);

		rd_uint(&r, 8); /* send time */
		if (rd_uint(&r, 1) != 0)
			l->reply_requested = true;
		if (r.bad)
			return bad_message(err, 'k');
		l->received_lsn = wal_end;
		/* Outside a transaction everything the server has read up to
		 * wal_end and that committed was sent and processed: confirming it
		 * lets the server recycle WAL even when the table is idle (PG15
		 * sends nothing for transactions that do not touch it). */
		if (!l->in_xact && wal_end > l->confirmed_lsn)
			l->confirmed_lsn = wal_end;
		return 0;
	}
	if (len > 0 && p[0] == 'w') {
		if (len < 25)
			return bad_message(err, 'w');
		return on_pgoutput(l, p + 25, len - 25, token, marker, cb, arg, n_keys, err);
	}
	shunt_error_set(err, SHUNT_E_DB, "unexpected replication message '%c'", len > 0 ? (char) p[0] : '?');
	return -1;
}

/* Waits until the socket is readable or ms pass; 0, or -1 on error. */
static int
wait_socket(PGconn *conn, int64_t ms, bool for_write)
{
	struct pollfd pfd = { PQsocket(conn), (short) (for_write ? POLLOUT : POLLIN), 0 };
	int rc;

	if (pfd.fd < 0)
		return -1;
	rc = poll(&pfd, 1, (int) (ms < 0 ? 0 : ms));
	if (rc < 0 && errno != EINTR)
		return -1;
	return 0;
}

/*
 * Makes the server flush its WAL.  A non-transactional message is written
 * but not flushed (pg_logical_emit_message has no flush argument before
 * PostgreSQL 17), and a walsender sends only flushed WAL: on a quiet server
 * the marker would wait for the WAL writer, seconds when it hibernates,
 * while the rebuild holds its exclusive lock.  The emitting session cannot
 * commit yet, so a short second session commits a transaction with an xid
 * under synchronous_commit = local, which flushes all WAL before its commit
 * record, the marker included.  Best effort: a failure only means waiting.
 */
static void
flush_wal(pg_logical *l)
{
	const char *keywords[] = { "dbname", "fallback_application_name", NULL };
	const char *values[] = { l->conninfo, "shunt", NULL };
	PGconn *conn = PQconnectdbParams(keywords, values, 1);
	PGresult *res;

	if (conn == NULL || PQstatus(conn) != CONNECTION_OK) {
		log_debug("could not connect to flush WAL for the cut-over marker");
		PQfinish(conn);
		return;
	}
	res = PQexec(conn, "SELECT pg_catalog.set_config('synchronous_commit', 'local', false); "
					   "SELECT pg_catalog.txid_current()");
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		log_debug("could not flush WAL for the cut-over marker: %s", PQerrorMessage(conn));
	PQclear(res);
	PQfinish(conn);
}

/*
 * The read loop of poll and wait_marker.  With token == NULL: waits up to
 * timeout_ms for the first message and returns when nothing more is
 * buffered or the budget is spent.  With a token: reads until that marker
 * arrives or timeout_ms passes (an error).
 */
static int
read_stream(pg_logical *l, int timeout_ms, const char *token, pg_logical_key_cb cb, void *arg, shunt_error *err)
{
	int64_t start = now_ms();
	int64_t deadline = start + (timeout_ms > 0 ? timeout_ms : 0);
	int64_t first = -1, nudged = 0;
	bool marker = false;
	bool consumed = false; /* read the socket since the last empty buffer */
	int n_keys = 0;

	if (l == NULL || l->conn == NULL)
		return shunt_error_set(err, SHUNT_E_INTERNAL, "the change capture is not open");
	for (;;) {
		char *buf = NULL;
		int n = PQgetCopyData(l->conn, &buf, 1);

		if (n > 0) {
			int rc = on_copydata(l, (const unsigned char *) buf, (size_t) n, token, &marker, cb, arg, &n_keys, err);

			PQfreemem(buf);
			if (rc != 0)
				return -1;
			consumed = false;
			if (first < 0)
				first = now_ms();
			if (l->reply_requested && send_feedback(l, err) != 0)
				return -1;
			if (marker)
				break;
			if (token == NULL && now_ms() - first >= POLL_BUDGET_MS)
				break;
			continue;
		}
		if (n == -2 || n == -1) {
			PGresult *res = PQgetResult(l->conn);

			if (res != NULL && PQresultStatus(res) == PGRES_FATAL_ERROR)
				pg_exec_fill_error(&(shunt_db){ .conn = l->conn }, res, err);
			else
				conn_error(l->conn, "reading changes", err);
			PQclear(res);
			if (err->code == SHUNT_E_DB && err->sqlstate[0] == '\0')
				err->code = SHUNT_E_CONNECT;
			shunt_error_add_context(err, "while reading changes of table %s from slot \"%s\"", l->table_q,
									l->slot);
			return -1;
		}
		/* nothing buffered in libpq: take what the socket holds, then
		 * decide whether anything is available */
		if (!consumed) {
			if (PQconsumeInput(l->conn) == 0) {
				conn_error(l->conn, "reading changes", err);
				return -1;
			}
			consumed = true;
			continue;
		}
		if (token == NULL && first >= 0)
			break;
		if (interrupt_requested()) {
			feedback_if_due(l, &(shunt_error){ 0 });
			return interrupt_error(err);
		}
		if (now_ms() >= deadline) {
			if (token == NULL)
				break;
			if (feedback_if_due(l, err) != 0)
				return -1;
			shunt_error_set(err, SHUNT_E_DB, "cut-over marker did not arrive within %d ms", timeout_ms);
			shunt_error_detail(err, "Changes of table %s were read up to %X/%X; the server may be "
									"busy decoding a large transaction.", l->table_q,
							   (unsigned int) (l->confirmed_lsn >> 32), (unsigned int) l->confirmed_lsn);
			return -1;
		}
		if (feedback_if_due(l, err) != 0)
			return -1;
		if (token != NULL && now_ms() - start >= MARKER_NUDGE_MS && now_ms() - nudged >= 1000) {
			flush_wal(l);
			nudged = now_ms();
		}
		{
			int64_t wait = deadline - now_ms();

			if (token != NULL && nudged == 0 && wait > MARKER_NUDGE_MS)
				wait = MARKER_NUDGE_MS;
			if (wait > 1000)
				wait = 1000; /* wake up for periodic feedback */
			if (wait_socket(l->conn, wait, false) != 0) {
				conn_error(l->conn, "waiting for changes", err);
				return -1;
			}
			consumed = false;
		}
	}
	if (feedback_if_due(l, err) != 0)
		return -1;
	return n_keys;
}

int
pg_logical_poll(pg_logical *l, int timeout_ms, pg_logical_key_cb cb, void *arg, shunt_error *err)
{
	return read_stream(l, timeout_ms, NULL, cb, arg, err);
}

int
pg_logical_wait_marker(pg_logical *l, const char *token, int timeout_ms, pg_logical_key_cb cb, void *arg,
					   shunt_error *err)
{
	return read_stream(l, timeout_ms, token, cb, arg, err) < 0 ? -1 : 0;
}

uint64_t
pg_logical_confirmed_lsn(const pg_logical *l)
{
	return l ? l->confirmed_lsn : 0;
}

int
pg_logical_emit_marker(shunt_db *db, char *token, size_t token_size, shunt_error *err)
{
	unsigned char rnd[16];
	const char *params[2];
	size_t n;

	if (token_size < 40)
		return shunt_error_set(err, SHUNT_E_INTERNAL, "marker token buffer too small");
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t) sizeof(rnd)) {
		/* still unique enough within one process: time and pid */
		uint64_t t = pg_now_us() ^ ((uint64_t) getpid() << 40);

		for (size_t i = 0; i < sizeof(rnd); i++)
			rnd[i] = (unsigned char) (t >> ((i % 8) * 8)) ^ (unsigned char) i;
	}
	n = (size_t) snprintf(token, token_size, "%s-", PG_LOGICAL_MARKER_PREFIX);
	for (size_t i = 0; i < sizeof(rnd); i++)
		n += (size_t) snprintf(token + n, token_size - n, "%02x", rnd[i]);
	params[0] = PG_LOGICAL_MARKER_PREFIX;
	params[1] = token;
	return pg_exec_command(db, "SELECT pg_catalog.pg_logical_emit_message(false, $1, $2)", 2, params, err);
}

/* --------------------------------------------------------- open and close */

static bool
valid_slot_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 63)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

static int
check_names(const char *slot, const char *publication, shunt_error *err)
{
	if (!valid_slot_name(slot)) {
		shunt_error_set(err, SHUNT_E_INPUT, "invalid replication slot name \"%s\"", slot);
		shunt_error_detail(err, "Slot names use lower case letters, digits and underscores, at most 63 bytes.");
		return -1;
	}
	/* the replication grammar takes only plain '...' literals; PQescapeLiteral
	 * writes E'...' for a backslash */
	if (publication[0] == '\0' || strlen(publication) > 63 || strchr(publication, '\\') != NULL)
		return shunt_error_set(err, SHUNT_E_INPUT, "invalid publication name \"%s\"", publication);
	return 0;
}

static int
run_ddl(shunt_db *db, const char *what, const char *const *sql, size_t n_sql, const char *relation,
		shunt_error *err)
{
	pg_lock_txn t;

	memset(&t, 0, sizeof(t));
	t.what = what;
	t.sql = sql;
	t.n_sql = n_sql;
	t.relations = relation ? &relation : NULL;
	t.n_relations = relation ? 1 : 0;
	return pg_lock_run(db, &t, err);
}

/* DROP PUBLICATION IF EXISTS, then (create) CREATE PUBLICATION ... FOR TABLE. */
static int
publication_ddl(shunt_db *db, const char *publication, const char *schema, const char *table, bool create,
				shunt_error *err)
{
	shunt_buf drop = SHUNT_BUF_INIT, make = SHUNT_BUF_INIT, rel = SHUNT_BUF_INIT;
	const char *sql[2];
	int rc;

	buf_init(&drop);
	buf_init(&make);
	buf_init(&rel);
	buf_put(&drop, "DROP PUBLICATION IF EXISTS ");
	pg_put_ident(db, &drop, publication);
	sql[0] = buf_str(&drop);
	if (create) {
		pg_put_qualified(db, &rel, schema, table);
		buf_put(&make, "CREATE PUBLICATION ");
		pg_put_ident(db, &make, publication);
		buf_printf(&make, " FOR TABLE %s", buf_str(&rel));
		sql[1] = buf_str(&make);
	}
	rc = run_ddl(db, create ? "creating the capture publication" : "dropping the capture publication", sql,
				 create ? 2 : 1, create ? buf_str(&rel) : NULL, err);
	buf_release(&drop);
	buf_release(&make);
	buf_release(&rel);
	return rc;
}

/* Time left of a budget of ms from start, at most 1 s (to log and check
 * for interrupts). */
static int64_t
remaining_ms(int64_t start, int64_t ms)
{
	int64_t left = start + ms - now_ms();

	return left < 0 ? 0 : left > 1000 ? 1000 : left;
}

/* Sessions whose transactions a slot creation waits for, oldest first. */
static void
describe_old_xacts(shunt_db *db, shunt_buf *b)
{
	shunt_error ignore;
	PGresult *res = pg_exec_params(db,
		"SELECT a.pid, coalesce(a.datname::text, ''), coalesce(a.usename::text, ''), "
		"       coalesce(extract(epoch FROM pg_catalog.now() - a.xact_start)::int, 0), "
		"       coalesce(pg_catalog.left(pg_catalog.regexp_replace(a.query, '\\s+', ' ', 'g'), 60), '') "
		"  FROM pg_catalog.pg_stat_activity a "
		" WHERE (a.backend_xid IS NOT NULL OR a.backend_xmin IS NOT NULL) "
		"   AND a.backend_type = 'client backend' AND a.pid <> pg_catalog.pg_backend_pid() "
		" ORDER BY a.xact_start LIMIT 3",
		0, NULL, &ignore);

	buf_reset(b);
	if (res == NULL)
		return;
	for (int i = 0; i < PQntuples(res); i++)
		buf_printf(b, "%spid %s (database %s, user %s, transaction open %ss: %s)", i ? "; " : "",
				   PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), PQgetvalue(res, i, 2), PQgetvalue(res, i, 3),
				   PQgetvalue(res, i, 4));
	PQclear(res);
}

/*
 * CREATE_REPLICATION_SLOT, which waits for the transactions running when it
 * started; returns the result (caller PQclear()s) or NULL with err.
 */
static PGresult *
create_slot(shunt_db *db, pg_logical *l, const char *sql, shunt_error *err)
{
	int64_t start = now_ms(), last_log = start;
	shunt_buf who = SHUNT_BUF_INIT;
	PGresult *res = NULL, *r;

	buf_init(&who);
	if (!PQsendQuery(l->conn, sql)) {
		conn_error(l->conn, "creating the replication slot", err);
		goto done;
	}
	while (PQisBusy(l->conn)) {
		bool interrupted = interrupt_requested();

		if (interrupted || now_ms() - start >= db->lock_retry_ms) {
			PGcancel *c = PQgetCancel(l->conn);
			char ebuf[256];

			describe_old_xacts(db, &who);
			if (c != NULL) {
				PQcancel(c, ebuf, sizeof(ebuf));
				PQfreeCancel(c);
			}
			while ((r = PQgetResult(l->conn)) != NULL)
				PQclear(r);
			if (interrupted) {
				interrupt_error(err);
				goto done;
			}
			shunt_error_set(err, SHUNT_E_LOCK_TIMEOUT,
							"gave up creating replication slot \"%s\" after %lld ms", l->slot,
							(long long) (now_ms() - start));
			shunt_error_detail(err, "A logical slot becomes usable only once every transaction running when "
									"it was created has ended%s%s.", who.len ? "; still open: " : "",
							   buf_str(&who));
			shunt_error_hint(err, "Run again once those transactions end, or raise --lock-retry-total.");
			goto done;
		}
		if (now_ms() - last_log >= SLOT_WAIT_LOG_MS) {
			describe_old_xacts(db, &who);
			log_info("creating replication slot \"%s\": waiting for open transactions to end%s%s", l->slot,
					 who.len ? ": " : "", buf_str(&who));
			last_log = now_ms();
		}
		if (wait_socket(l->conn, remaining_ms(start, db->lock_retry_ms), false) != 0 ||
			PQconsumeInput(l->conn) == 0) {
			conn_error(l->conn, "creating the replication slot", err);
			goto done;
		}
	}
	res = PQgetResult(l->conn);
	while ((r = PQgetResult(l->conn)) != NULL)
		PQclear(r);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 || PQnfields(res) < 2) {
		pg_exec_fill_error(&(shunt_db){ .conn = l->conn }, res, err);
		PQclear(res);
		res = NULL;
	}
done:
	buf_release(&who);
	return res;
}

/* Connects with db's parameters plus replication=database. */
static int
connect_replication(shunt_db *db, pg_logical *l, const char *dbname, shunt_error *err)
{
	const char *keywords[] = { "dbname", "replication", "fallback_application_name", NULL };
	const char *values[] = { db->conninfo, "database", "shunt", NULL };
	PGresult *res;
	int rc = -1;

	l->conn = PQconnectdbParams(keywords, values, 1);
	if (l->conn == NULL || PQstatus(l->conn) != CONNECTION_OK) {
		conn_error(l->conn, "connecting", err);
		shunt_error_hint(err, "Logical replication connections need the REPLICATION attribute, a free WAL "
							  "sender and a pg_hba.conf entry for the database.");
		return -1;
	}
	/* the same database as db, or the publication would not be found */
	res = PQexec(l->conn, "IDENTIFY_SYSTEM");
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 || PQnfields(res) < 4) {
		pg_exec_fill_error(&(shunt_db){ .conn = l->conn }, res, err);
		goto done;
	}
	if (PQgetisnull(res, 0, 3) || strcmp(PQgetvalue(res, 0, 3), dbname) != 0) {
		shunt_error_set(err, SHUNT_E_CONNECT, "the replication connection reached database \"%s\", not \"%s\"",
						PQgetisnull(res, 0, 3) ? "" : PQgetvalue(res, 0, 3), dbname);
		goto done;
	}
	rc = 0;
done:
	PQclear(res);
	return rc;
}

static int
start_streaming(shunt_db *db, pg_logical *l, shunt_error *err)
{
	shunt_buf sql = SHUNT_BUF_INIT, pubs = SHUNT_BUF_INIT;
	char *slot_q = NULL, *pubs_lit = NULL;
	PGresult *res = NULL;
	unsigned int hi = 0, lo = 0;
	int rc = -1;

	buf_init(&sql);
	buf_init(&pubs);
	slot_q = PQescapeIdentifier(l->conn, l->slot, strlen(l->slot));
	/* publication_names is a list of identifiers inside a string literal */
	pg_put_ident(db, &pubs, l->publication);
	pubs_lit = PQescapeLiteral(l->conn, buf_str(&pubs), pubs.len);
	if (slot_q == NULL || pubs_lit == NULL) {
		conn_error(l->conn, "quoting names", err);
		goto done;
	}
	/* the pre-15 option syntax: accepted from PostgreSQL 10 on */
	buf_printf(&sql, "CREATE_REPLICATION_SLOT %s TEMPORARY LOGICAL pgoutput NOEXPORT_SNAPSHOT", slot_q);
	res = create_slot(db, l, buf_str(&sql), err);
	if (res == NULL)
		goto done;
	if (sscanf(PQgetvalue(res, 0, 1), "%X/%X", &hi, &lo) != 2) {
		shunt_error_set(err, SHUNT_E_DB, "unexpected consistent point \"%s\"", PQgetvalue(res, 0, 1));
		goto done;
	}
	PQclear(res);
	res = NULL;
	buf_reset(&sql);
	buf_printf(&sql,
			   "START_REPLICATION SLOT %s LOGICAL %X/%X (proto_version '1', publication_names %s, "
			   "messages 'true')",
			   slot_q, hi, lo, pubs_lit);
	res = PQexec(l->conn, buf_str(&sql));
	if (PQresultStatus(res) != PGRES_COPY_BOTH) {
		pg_exec_fill_error(&(shunt_db){ .conn = l->conn }, res, err);
		goto done;
	}
	l->confirmed_lsn = ((uint64_t) hi << 32) | lo;
	l->sent_lsn = 0;
	rc = 0;
done:
	PQclear(res);
	PQfreemem(slot_q);
	PQfreemem(pubs_lit);
	buf_release(&sql);
	buf_release(&pubs);
	return rc;
}

static void
logical_free(pg_logical *l)
{
	if (l->conn != NULL)
		PQfinish(l->conn);
	for (size_t k = 0; k < l->n_key; k++) {
		free(l->key_cols[k]);
		buf_release(&l->values[k]);
	}
	free(l->key_cols);
	free(l->key_pos);
	free(l->values);
	free(l->slot);
	free(l->publication);
	free(l->table_q);
	free(l->conninfo);
	free(l);
}

int
pg_logical_open(shunt_db *db, const char *schema, const char *table, const char *const *key_cols,
				size_t n_key, const char *slot, const char *publication, pg_logical **out, shunt_error *err)
{
	check_info info;
	pg_logical *l = NULL;
	shunt_buf q = SHUNT_BUF_INIT;
	bool published = false;

	*out = NULL;
	if (db->dry_run)
		return shunt_error_set(err, SHUNT_E_USAGE, "triggerless capture cannot run in dry-run mode");
	if (check_names(slot, publication, err) != 0)
		return -1;
	if (check_all(db, schema, table, key_cols, n_key, &info, err) != 0)
		goto fail;
	if (publication_ddl(db, publication, schema, table, true, err) != 0)
		goto fail;
	published = true;

	l = shunt_xcalloc(1, sizeof(*l));
	l->slot = shunt_xstrdup(slot);
	l->publication = shunt_xstrdup(publication);
	l->conninfo = shunt_xstrdup(db->conninfo);
	buf_init(&q);
	pg_put_qualified(db, &q, schema, table);
	l->table_q = buf_detach(&q);
	l->relid = info.relid;
	l->n_key = n_key;
	l->key_cols = shunt_xcalloc(n_key, sizeof(*l->key_cols));
	l->key_pos = shunt_xcalloc(n_key, sizeof(*l->key_pos));
	l->values = shunt_xcalloc(n_key, sizeof(*l->values));
	for (size_t k = 0; k < n_key; k++) {
		l->key_cols[k] = shunt_xstrdup(key_cols[k]);
		l->key_pos[k] = -1;
		buf_init(&l->values[k]);
	}
	l->last_feedback_ms = now_ms();
	if (connect_replication(db, l, info.dbname, err) != 0)
		goto fail;
	if (start_streaming(db, l, err) != 0)
		goto fail;
	*out = l;
	return 0;
fail:
	if (l != NULL)
		logical_free(l); /* the temporary slot goes with the connection */
	if (published) {
		shunt_error ignore;

		publication_ddl(db, publication, schema, table, false, &ignore);
	}
	shunt_error_add_context(err, "while starting triggerless capture of %s.%s", schema, table);
	return -1;
}

/* Ends COPY BOTH and drops the slot at once, so it is gone when close
 * returns (otherwise it goes a moment after the connection). */
static void
end_streaming(pg_logical *l)
{
	int64_t deadline = now_ms() + CLOSE_DRAIN_MS;
	PGresult *res;
	char *slot_q;
	shunt_buf sql = SHUNT_BUF_INIT;

	if (PQstatus(l->conn) != CONNECTION_OK || PQputCopyEnd(l->conn, NULL) <= 0 || PQflush(l->conn) != 0)
		return;
	for (;;) {
		char *buf = NULL;
		int n = PQgetCopyData(l->conn, &buf, 1);

		if (n > 0) {
			PQfreemem(buf);
			continue;
		}
		if (n < 0)
			break;
		if (now_ms() >= deadline || wait_socket(l->conn, deadline - now_ms(), false) != 0 ||
			PQconsumeInput(l->conn) == 0)
			return;
	}
	while (PQisBusy(l->conn)) {
		if (now_ms() >= deadline || wait_socket(l->conn, deadline - now_ms(), false) != 0 ||
			PQconsumeInput(l->conn) == 0)
			return;
	}
	while ((res = PQgetResult(l->conn)) != NULL)
		PQclear(res);
	slot_q = PQescapeIdentifier(l->conn, l->slot, strlen(l->slot));
	if (slot_q == NULL)
		return;
	buf_init(&sql);
	buf_printf(&sql, "DROP_REPLICATION_SLOT %s", slot_q);
	PQfreemem(slot_q);
	res = PQexec(l->conn, buf_str(&sql));
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		log_debug("could not drop replication slot \"%s\" at once; it goes with the connection", l->slot);
	PQclear(res);
	buf_release(&sql);
}

void
pg_logical_close(pg_logical *l, shunt_db *db)
{
	if (l == NULL)
		return;
	if (l->conn != NULL)
		end_streaming(l);
	if (db != NULL) {
		shunt_error err;

		if (publication_ddl(db, l->publication, NULL, NULL, false, &err) != 0)
			log_warning("could not drop publication \"%s\": %s (shunt cleanup removes it)", l->publication,
						err.message);
	}
	logical_free(l);
}

int
pg_logical_cleanup(shunt_db *db, const char *slot, const char *publication, shunt_error *err)
{
	const char *params[1] = { slot };
	PGresult *res;

	if (check_names(slot, publication, err) != 0)
		return -1;
	/* Dropping only an inactive slot: an active one belongs to a running
	 * capture, whose publication must stay too. */
	res = pg_exec_params(db,
		"SELECT s.active, s.active_pid FROM pg_catalog.pg_replication_slots s WHERE s.slot_name = $1",
		1, params, err);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "f") == 0) {
		/* fails if a capture took the slot meanwhile: then nothing is dropped */
		PQclear(res);
		if (pg_exec_command(db, "SELECT pg_catalog.pg_drop_replication_slot($1)", 1, params, err) != 0)
			return -1;
		return publication_ddl(db, publication, NULL, NULL, false, err);
	}
	if (PQntuples(res) == 1) {
		shunt_error_set(err, SHUNT_E_REFUSED, "replication slot \"%s\" is in use by process %s", slot,
						PQgetvalue(res, 0, 1));
		shunt_error_detail(err, "Another capture is still running; its publication \"%s\" was kept.",
						   publication);
		shunt_error_hint(err, "Stop that run first, or wait for it to end.");
		PQclear(res);
		return -1;
	}
	PQclear(res);
	return publication_ddl(db, publication, NULL, NULL, false, err);
}
