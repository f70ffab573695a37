/*
 * pg_api.c: the state schema's SQL interface; see pg_api.h.
 *
 * The statements below are run with "@S@" replaced by the state schema's
 * quoted name (PQescapeIdentifier) and "@L@" by its name as a literal
 * (PQescapeLiteral, the NOTIFY channel); function bodies are dollar-quoted
 * with $shunt_api$, and a state schema whose name contains that tag is
 * refused rather than spliced.
 *
 * The functions are SECURITY INVOKER: they act with the caller's rights,
 * so an application role needs USAGE on the state schema and privileges on
 * its tables (docs/clients.md lists them).  They set no search_path of
 * their own (that would undo the set_config calls of use_version*); every
 * name in them is qualified.
 */
#include "pg/pg_api.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "pg/pg_exec.h"
#include "pg/pg_state.h"

#define TAG "$shunt_api$"

static const char *const api_ddl[] = {
	/* One row per application session that follows shunt (or pinned a
	 * version): who uses which version.  Session-mode rows live as long as
	 * their backend (pid + backend_start); transaction-mode rows (poolers,
	 * where backends are shared) as long as they are refreshed. */
	"CREATE TABLE IF NOT EXISTS @S@.clients ("
	"  client_id text NOT NULL,"
	"  schema text NOT NULL,"
	"  version text NOT NULL,"
	"  mode text NOT NULL DEFAULT 'session' CHECK (mode IN ('session', 'transaction')),"
	"  pid int NOT NULL,"
	"  backend_start timestamptz,"
	"  application_name text,"
	"  client_addr text,"
	"  role text NOT NULL DEFAULT CURRENT_USER,"
	"  registered_at timestamptz NOT NULL DEFAULT pg_catalog.now(),"
	"  last_seen timestamptz NOT NULL DEFAULT pg_catalog.now(),"
	"  PRIMARY KEY (client_id, schema)"
	")",

	"CREATE OR REPLACE FUNCTION @S@.api_version() RETURNS integer LANGUAGE sql IMMUTABLE AS "
	TAG " SELECT @V@ " TAG,

	/* The broadcast of a change.  NOTIFY payloads stop at 8000 bytes: a
	 * longer value is left out ("truncated": true) and listeners read it. */
	"CREATE OR REPLACE FUNCTION @S@._notify(p_name text, p_value text, p_op text) RETURNS void "
	"LANGUAGE plpgsql AS " TAG "\n"
	"DECLARE\n"
	"  v_payload text := pg_catalog.json_build_object('name', p_name, 'value', p_value, 'op', p_op)::text;\n"
	"BEGIN\n"
	"  IF pg_catalog.octet_length(v_payload) > 7900 THEN\n"
	"    v_payload := pg_catalog.json_build_object('name', pg_catalog.left(p_name, 1000), 'value', NULL,\n"
	"                   'op', p_op, 'truncated', true)::text;\n"
	"  END IF;\n"
	"  PERFORM pg_catalog.pg_notify(@L@, v_payload);\n"
	"END\n" TAG,

	/* Sets a flag; returns its old value (NULL if it was not set).  A set
	 * to the value it already has changes, records and sends nothing.  The
	 * advisory lock (two int keys: its own key space) orders concurrent
	 * changes of one flag so that each history row has the true old value. */
	"CREATE OR REPLACE FUNCTION @S@.flag_set(p_name text, p_value text) RETURNS text "
	"LANGUAGE plpgsql AS " TAG "\n"
	"DECLARE\n"
	"  v_old text;\n"
	"BEGIN\n"
	"  IF p_name IS NULL OR p_name = '' THEN\n"
	"    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'a flag name must not be empty';\n"
	"  END IF;\n"
	"  IF p_value IS NULL THEN\n"
	"    RAISE EXCEPTION USING ERRCODE = '22004',\n"
	"      MESSAGE = pg_catalog.format('the value of flag \"%s\" must not be NULL', p_name),\n"
	"      HINT = 'flag_delete() removes a flag.';\n"
	"  END IF;\n"
	"  PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext(@L@), pg_catalog.hashtext(p_name));\n"
	"  SELECT f.value INTO v_old FROM @S@.flags f WHERE f.name = p_name;\n"
	"  IF FOUND AND v_old = p_value THEN\n"
	"    RETURN v_old;\n"
	"  END IF;\n"
	"  INSERT INTO @S@.flags AS f (name, value) VALUES (p_name, p_value)\n"
	"    ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value, updated_at = pg_catalog.now(),\n"
	"      updated_by = CURRENT_USER;\n"
	"  INSERT INTO @S@.flag_history (name, old_value, new_value) VALUES (p_name, v_old, p_value);\n"
	"  PERFORM @S@._notify(p_name, p_value, 'set');\n"
	"  RETURN v_old;\n"
	"END\n" TAG,

	"CREATE OR REPLACE FUNCTION @S@.flag_get(p_name text) RETURNS text LANGUAGE sql STABLE AS " TAG
	" SELECT f.value FROM @S@.flags f WHERE f.name = p_name " TAG,

	/* Removes a flag; false when it was not set. */
	"CREATE OR REPLACE FUNCTION @S@.flag_delete(p_name text) RETURNS boolean "
	"LANGUAGE plpgsql AS " TAG "\n"
	"DECLARE\n"
	"  v_old text;\n"
	"BEGIN\n"
	"  PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext(@L@), pg_catalog.hashtext(p_name));\n"
	"  DELETE FROM @S@.flags f WHERE f.name = p_name RETURNING f.value INTO v_old;\n"
	"  IF NOT FOUND THEN\n"
	"    RETURN false;\n"
	"  END IF;\n"
	"  INSERT INTO @S@.flag_history (name, old_value, new_value) VALUES (p_name, v_old, NULL);\n"
	"  PERFORM @S@._notify(p_name, NULL, 'delete');\n"
	"  RETURN true;\n"
	"END\n" TAG,

	/* The version schema clients of p_schema should use: the one `shunt
	 * switch` chose while it exists, else the last completed migration's,
	 * else the application schema itself. */
	"CREATE OR REPLACE FUNCTION @S@.current_version(p_schema text DEFAULT 'public') RETURNS text "
	"LANGUAGE sql STABLE AS " TAG "\n"
	"SELECT coalesce(\n"
	"  (SELECT f.value FROM @S@.flags f\n"
	"    WHERE f.name = '" PG_API_CURRENT_FLAG "' || p_schema\n"
	"      AND EXISTS (SELECT 1 FROM pg_catalog.pg_namespace n WHERE n.nspname = f.value)),\n"
	"  (SELECT m.version_schema FROM @S@.migrations m\n"
	"    WHERE m.schema = p_schema AND m.status = 'complete'\n"
	"      AND EXISTS (SELECT 1 FROM pg_catalog.pg_namespace n WHERE n.nspname = m.version_schema)\n"
	"    ORDER BY m.completed_at DESC, m.id DESC LIMIT 1),\n"
	"  p_schema)\n" TAG,

	/* Makes p_version (NULL: the latest) the current version of p_schema.
	 * Allowed: the active migration's new version (once started), the
	 * version its old clients use, the last completed one. */
	"CREATE OR REPLACE FUNCTION @S@.switch_version(p_schema text, p_version text DEFAULT NULL, "
	"  OUT old_version text, OUT new_version text) "
	"LANGUAGE plpgsql AS " TAG "\n"
	"DECLARE\n"
	"  v_new text;\n"
	"  v_prev text;\n"
	"  v_status text;\n"
	"  v_latest text;\n"
	"  v_allowed text[] := '{}';\n"
	"BEGIN\n"
	"  IF p_schema IS NULL THEN\n"
	"    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'the application schema must not be NULL';\n"
	"  END IF;\n"
	"  PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext(@L@),\n"
	"    pg_catalog.hashtext('" PG_API_CURRENT_FLAG "' || p_schema));\n"
	"  SELECT m.version_schema, coalesce(m.previous_version_schema, p_schema), m.status\n"
	"    INTO v_new, v_prev, v_status\n"
	"    FROM @S@.migrations m WHERE m.schema = p_schema\n"
	"     AND m.status IN ('starting', 'active', 'completing', 'rolling_back');\n"
	"  SELECT m.version_schema INTO v_latest FROM @S@.migrations m\n"
	"   WHERE m.schema = p_schema AND m.status = 'complete'\n"
	"   ORDER BY m.completed_at DESC, m.id DESC LIMIT 1;\n"
	"  IF v_status IN ('active', 'completing') THEN\n"
	"    v_allowed := v_allowed || v_new;\n"
	"  END IF;\n"
	"  IF v_status IS NOT NULL AND NOT v_prev = ANY (v_allowed) THEN\n"
	"    v_allowed := v_allowed || v_prev;\n"
	"  END IF;\n"
	"  IF NOT coalesce(v_latest, p_schema) = ANY (v_allowed) THEN\n"
	"    v_allowed := v_allowed || coalesce(v_latest, p_schema);\n"
	"  END IF;\n"
	"  new_version := coalesce(p_version, v_allowed[1]);\n"
	"  IF NOT new_version = ANY (v_allowed) THEN\n"
	"    RAISE EXCEPTION USING ERRCODE = '22023',\n"
	"      MESSAGE = pg_catalog.format('\"%s\" is not a version of schema \"%s\" that clients can use',\n"
	"                                  new_version, p_schema),\n"
	"      DETAIL = pg_catalog.format('The versions clients can use now: %s.',\n"
	"                                 pg_catalog.array_to_string(v_allowed, ', ')),\n"
	"      HINT = 'A new version can be used once its start has finished.';\n"
	"  END IF;\n"
	"  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace n WHERE n.nspname = new_version) THEN\n"
	"    RAISE EXCEPTION USING ERRCODE = '3F000',\n"
	"      MESSAGE = pg_catalog.format('version schema \"%s\" does not exist', new_version);\n"
	"  END IF;\n"
	"  old_version := @S@.current_version(p_schema);\n"
	"  PERFORM @S@.flag_set('" PG_API_CURRENT_FLAG "' || p_schema, new_version);\n"
	"END\n" TAG,

	"CREATE OR REPLACE FUNCTION @S@._backend_client_id() RETURNS text LANGUAGE sql STABLE AS " TAG
	" SELECT 'backend:' || s.pid || ':' || (EXTRACT(epoch FROM s.backend_start) * 1000000)::bigint"
	"   FROM pg_catalog.pg_stat_get_activity(pg_catalog.pg_backend_pid()) s " TAG,

	/* Records that this session (session mode; the id defaults to one
	 * derived from the backend) or the client p_client_id (transaction
	 * mode, behind a pooler) uses p_version of p_schema.  A new row also
	 * clears registrations of sessions that are gone. */
	"CREATE OR REPLACE FUNCTION @S@.register_client(p_schema text, p_version text, "
	"  p_mode text DEFAULT 'session', p_client_id text DEFAULT NULL, p_application_name text DEFAULT NULL, "
	"  p_client_addr text DEFAULT NULL) RETURNS text "
	"LANGUAGE plpgsql AS " TAG "\n"
	"DECLARE\n"
	"  v_start timestamptz;\n"
	"  v_id text;\n"
	"  v_new boolean;\n"
	"BEGIN\n"
	"  IF p_mode IS NULL OR p_mode NOT IN ('session', 'transaction') THEN\n"
	"    RAISE EXCEPTION USING ERRCODE = '22023',\n"
	"      MESSAGE = pg_catalog.format('invalid client mode \"%s\": expected session or transaction', p_mode);\n"
	"  END IF;\n"
	"  IF p_schema IS NULL OR p_version IS NULL THEN\n"
	"    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'schema and version must not be NULL';\n"
	"  END IF;\n"
	"  SELECT s.backend_start INTO v_start\n"
	"    FROM pg_catalog.pg_stat_get_activity(pg_catalog.pg_backend_pid()) s;\n"
	"  v_id := coalesce(p_client_id, @S@._backend_client_id());\n"
	"  INSERT INTO @S@.clients AS c (client_id, schema, version, mode, pid, backend_start,\n"
	"      application_name, client_addr)\n"
	"    VALUES (v_id, p_schema, p_version, p_mode, pg_catalog.pg_backend_pid(), v_start,\n"
	"      coalesce(p_application_name, pg_catalog.current_setting('application_name')),\n"
	"      coalesce(p_client_addr, pg_catalog.host(pg_catalog.inet_client_addr()), 'local'))\n"
	"    ON CONFLICT (client_id, schema) DO UPDATE\n"
	"      SET version = EXCLUDED.version, mode = EXCLUDED.mode, pid = EXCLUDED.pid,\n"
	"          backend_start = EXCLUDED.backend_start, application_name = EXCLUDED.application_name,\n"
	"          client_addr = EXCLUDED.client_addr, role = CURRENT_USER, last_seen = pg_catalog.now()\n"
	"    RETURNING (c.xmax = 0) INTO v_new;\n"
	"  IF v_new THEN\n"
	"    DELETE FROM @S@.clients c\n"
	"     WHERE c.last_seen < pg_catalog.now() - interval '1 minute'\n"
	"       AND (c.mode = 'transaction' AND c.last_seen < pg_catalog.now() - interval '1 hour'\n"
	"         OR c.mode = 'session' AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a\n"
	"              WHERE a.pid = c.pid AND (a.backend_start IS NULL OR a.backend_start = c.backend_start)));\n"
	"  END IF;\n"
	"  RETURN v_id;\n"
	"END\n" TAG,

	/* Removes registrations: this session's (p_client_id NULL), of one
	 * schema or all.  Returns how many. */
	"CREATE OR REPLACE FUNCTION @S@.unregister_client(p_schema text DEFAULT NULL, "
	"  p_client_id text DEFAULT NULL) RETURNS integer "
	"LANGUAGE plpgsql AS " TAG "\n"
	"DECLARE\n"
	"  v_n integer;\n"
	"BEGIN\n"
	"  DELETE FROM @S@.clients c\n"
	"   WHERE c.client_id = coalesce(p_client_id, @S@._backend_client_id())\n"
	"     AND (p_schema IS NULL OR c.schema = p_schema);\n"
	"  GET DIAGNOSTICS v_n = ROW_COUNT;\n"
	"  RETURN v_n;\n"
	"END\n" TAG,

	/* Registrations of clients still there: a session-mode row while its
	 * backend runs (when another role's backend_start is hidden, the pid
	 * alone decides: better a false "in use" than a false "gone"), a
	 * transaction-mode row for 30 s after its last refresh. */
	"CREATE OR REPLACE FUNCTION @S@.live_clients(p_schema text DEFAULT NULL) "
	"RETURNS SETOF @S@.clients LANGUAGE sql STABLE AS " TAG "\n"
	"SELECT c.* FROM @S@.clients c\n"
	" WHERE (p_schema IS NULL OR c.schema = p_schema)\n"
	"   AND CASE c.mode\n"
	"       WHEN 'session' THEN EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a\n"
	"            WHERE a.pid = c.pid AND (a.backend_start IS NULL OR c.backend_start IS NULL\n"
	"                                     OR a.backend_start = c.backend_start))\n"
	"       ELSE c.last_seen > pg_catalog.now() - interval '30 seconds' END\n"
	" ORDER BY c.version, c.pid\n" TAG,

	/* Session mode: search_path = version, schema for the rest of the
	 * session, and a registration.  p_schema NULL: the schema whose
	 * migration made p_version (or p_version itself, for an application
	 * schema).  Returns the search_path set. */
	"CREATE OR REPLACE FUNCTION @S@.use_version(p_version text, p_schema text DEFAULT NULL) RETURNS text "
	"LANGUAGE plpgsql AS " TAG "\n"
	"DECLARE\n"
	"  v_schema text := p_schema;\n"
	"  v_path text;\n"
	"BEGIN\n"
	"  IF p_version IS NULL\n"
	"     OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace n WHERE n.nspname = p_version) THEN\n"
	"    RAISE EXCEPTION USING ERRCODE = '3F000',\n"
	"      MESSAGE = pg_catalog.format('version schema \"%s\" does not exist', p_version);\n"
	"  END IF;\n"
	"  IF v_schema IS NULL THEN\n"
	"    SELECT m.schema INTO v_schema FROM @S@.migrations m WHERE m.version_schema = p_version\n"
	"     ORDER BY m.id DESC LIMIT 1;\n"
	"    v_schema := coalesce(v_schema, p_version);\n"
	"  END IF;\n"
	"  v_path := CASE WHEN p_version = v_schema THEN pg_catalog.quote_ident(v_schema)\n"
	"                 ELSE pg_catalog.quote_ident(p_version) || ', ' || pg_catalog.quote_ident(v_schema) END;\n"
	"  PERFORM pg_catalog.set_config('search_path', v_path, false);\n"
	"  PERFORM @S@.register_client(v_schema, p_version, 'session');\n"
	"  RETURN v_path;\n"
	"END\n" TAG,

	/* Session mode, following: use_version(current_version(p_schema)).
	 * Returns the version. */
	"CREATE OR REPLACE FUNCTION @S@.follow(p_schema text DEFAULT 'public') RETURNS text "
	"LANGUAGE plpgsql AS " TAG "\n"
	"DECLARE\n"
	"  v text := @S@.current_version(p_schema);\n"
	"BEGIN\n"
	"  PERFORM @S@.use_version(v, p_schema);\n"
	"  RETURN v;\n"
	"END\n" TAG,

	/* Transaction mode (poolers): the equivalent of SET LOCAL search_path
	 * and SET LOCAL shunt.version for the current transaction only, to
	 * p_version or the current version.  With p_client_id, registers that
	 * client when its row is older than 5 s (inside this transaction).
	 * Outside a transaction block the settings end with the statement. */
	"CREATE OR REPLACE FUNCTION @S@.use_version_local(p_schema text DEFAULT 'public', "
	"  p_version text DEFAULT NULL, p_client_id text DEFAULT NULL) RETURNS text "
	"LANGUAGE plpgsql AS " TAG "\n"
	"DECLARE\n"
	"  v text := coalesce(p_version, @S@.current_version(p_schema));\n"
	"BEGIN\n"
	"  PERFORM pg_catalog.set_config('search_path',\n"
	"    CASE WHEN v = p_schema THEN pg_catalog.quote_ident(p_schema)\n"
	"         ELSE pg_catalog.quote_ident(v) || ', ' || pg_catalog.quote_ident(p_schema) END, true);\n"
	"  PERFORM pg_catalog.set_config('shunt.version', v, true);\n"
	"  IF p_client_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM @S@.clients c\n"
	"       WHERE c.client_id = p_client_id AND c.schema = p_schema AND c.version = v\n"
	"         AND c.last_seen > pg_catalog.now() - interval '5 seconds') THEN\n"
	"    PERFORM @S@.register_client(p_schema, v, 'transaction', p_client_id);\n"
	"  END IF;\n"
	"  RETURN v;\n"
	"END\n" TAG,
	NULL
};

/* Replaces @S@, @L@ and @V@ (see the top of the file). */
static char *
expand(shunt_db *db, const char *sql, const char *literal)
{
	shunt_buf b = SHUNT_BUF_INIT;
	const char *p = sql;

	buf_init(&b);
	while (*p) {
		if (strncmp(p, "@S@", 3) == 0)
			buf_put(&b, db->state_q);
		else if (strncmp(p, "@L@", 3) == 0)
			buf_put(&b, literal);
		else if (strncmp(p, "@V@", 3) == 0)
			buf_printf(&b, "%d", PG_API_VERSION);
		else {
			buf_putc(&b, *p++);
			continue;
		}
		p += 3;
	}
	return buf_detach(&b);
}

int
pg_api_install(shunt_db *db, shunt_error *err)
{
	shunt_buf lit = SHUNT_BUF_INIT;
	int rc = 0;

	buf_init(&lit);
	pg_put_literal(db, &lit, db->state_schema);
	if (strstr(db->state_q, TAG) != NULL || strstr(buf_str(&lit), TAG) != NULL) {
		buf_release(&lit);
		return shunt_error_set(err, SHUNT_E_INPUT, "the state schema name must not contain \"%s\"", TAG);
	}
	for (int i = 0; api_ddl[i] != NULL && rc == 0; i++) {
		char *sql = expand(db, api_ddl[i], buf_str(&lit));

		rc = pg_exec_command(db, sql, 0, NULL, err);
		free(sql);
	}
	buf_release(&lit);
	if (rc != 0)
		shunt_error_add_context(err, "while installing the functions of the state schema \"%s\"",
								db->state_schema);
	return rc;
}

int
pg_api_ensure(shunt_db *db, shunt_error *err)
{
	const char *params[1] = { db->state_schema };
	bool have = false;
	char *v;
	long version = 0;

	if (pg_state_exists(db, &have, err) != 0)
		return -1;
	if (have) {
		v = pg_query_value(db,
						   "SELECT pg_catalog.to_regprocedure(pg_catalog.quote_ident($1) || '.api_version()') "
						   "IS NOT NULL",
						   1, params, err);
		if (v == NULL)
			return -1;
		if (strcmp(v, "t") == 0) {
			shunt_buf sql = SHUNT_BUF_INIT;

			free(v);
			buf_init(&sql);
			buf_printf(&sql, "SELECT %s.api_version()", db->state_q);
			v = pg_query_value(db, buf_str(&sql), 0, NULL, err);
			buf_release(&sql);
			if (v == NULL)
				return -1;
			version = strtol(v, NULL, 10);
		}
		free(v);
	}
	if (have && version >= PG_API_VERSION)
		return 0;
	return pg_state_init(db, err);
}
