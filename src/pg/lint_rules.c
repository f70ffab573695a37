/*
 * lint_rules.c: the rules of `shunt lint` (see pg_lint.h) and the options
 * that switch them off.  Adding a rule: a value in lint_rule_id, a row
 * here, the check in pg_lint.c or pg_lint_alter.c, a corpus file statement
 * in tests/lint/, and a section in docs/lint.md.
 *
 * Texts: "why" says what a live system suffers; "fix" the safe way, in
 * general (findings carry exact SQL where the checker can write it).
 */
#include "pg/pg_lint.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/yaml_json.h"

#define AE "ACCESS EXCLUSIVE"
#define NONE ""

const lint_rule lint_rules[] = {
	{ LR_ADDING_FIELD_WITH_DEFAULT, "adding-field-with-default", LINT_ERROR, AE, true, false,
	  "ADD COLUMN with a volatile DEFAULT (any non-NULL DEFAULT before PostgreSQL 11)",
	  "The table is rewritten to store the default in every row, holding ACCESS EXCLUSIVE "
	  "for the whole rewrite: every read and write of the table waits.",
	  "Add the column without a default, set the default in a second statement (new rows "
	  "only), and fill existing rows in small batches; or use shunt's add_column with up.", false },
	{ LR_ADDING_SERIAL_FIELD, "adding-serial-field", LINT_ERROR, AE, true, false,
	  "ADD COLUMN of a serial type or GENERATED ... AS IDENTITY",
	  "Every existing row gets a value from the sequence, so the table is rewritten under "
	  "ACCESS EXCLUSIVE: every read and write waits until it is done.",
	  "Add a plain bigint column, create a sequence and SET DEFAULT nextval(...) on it, "
	  "then backfill existing rows in batches (shunt's add_column with up does this).", false },
	{ LR_ADDING_STORED_GENERATED_FIELD, "adding-stored-generated-field", LINT_ERROR, AE, true,
	  false, "ADD COLUMN ... GENERATED ALWAYS AS (...) STORED",
	  "The expression is computed and stored for every row: a table rewrite under ACCESS "
	  "EXCLUSIVE.",
	  "Add a plain column filled by a trigger and backfill it in batches (shunt's "
	  "add_column with up keeps it in sync), or compute the value in a view.", false },
	{ LR_ADDING_REQUIRED_FIELD, "adding-required-field", LINT_ERROR, AE, false, false,
	  "ADD COLUMN ... NOT NULL without a DEFAULT",
	  "On a table with rows the statement fails (the new column would be NULL); and the "
	  "running application, which does not know the column, cannot insert any more.",
	  "Give it a constant DEFAULT (catalog-only since PostgreSQL 11), or add it nullable, "
	  "backfill, then add NOT NULL safely; shunt's add_column with up does all of it.", false },
	{ LR_ADDING_NOT_NULLABLE_FIELD, "adding-not-nullable-field", LINT_ERROR, AE, false, true,
	  "ALTER COLUMN ... SET NOT NULL without a validated CHECK (col IS NOT NULL)",
	  "The whole table is scanned to prove there is no NULL while ACCESS EXCLUSIVE is held: "
	  "every read and write waits for the scan.",
	  "Since PostgreSQL 12: ADD CONSTRAINT ... CHECK (col IS NOT NULL) NOT VALID, VALIDATE "
	  "CONSTRAINT (no blocking lock), then SET NOT NULL skips the scan; drop the check "
	  "afterwards.  Or shunt's alter_column with nullable: false.", false },
	{ LR_CHANGING_COLUMN_TYPE, "changing-column-type", LINT_ERROR, AE, true, false,
	  "ALTER COLUMN ... TYPE that rewrites the table",
	  "The table and its indexes are rewritten under ACCESS EXCLUSIVE; and the running "
	  "application may fail on the new type.",
	  "Add a column of the new type, keep both in sync with a trigger, backfill in "
	  "batches, switch the application, drop the old column: shunt's alter_column with "
	  "type, up and down.", false },
	{ LR_CHANGING_COLUMN_TYPE_UNVERIFIED, "changing-column-type-unverified", LINT_WARNING, AE,
	  false, false,
	  "ALTER COLUMN ... TYPE whose current type the file does not show",
	  "Some changes are catalog-only (varchar(n) to a larger n or to text, numeric(p,s) "
	  "to a larger p, cidr to inet), any other rewrites the table under ACCESS EXCLUSIVE; "
	  "which one this is depends on the current type.",
	  "Check the current type (\\d table); if the change rewrites, use shunt's "
	  "alter_column with type, up and down.", true },
	{ LR_REQUIRE_CONCURRENT_INDEX_CREATION, "require-concurrent-index-creation", LINT_ERROR,
	  "SHARE", false, true, "CREATE INDEX without CONCURRENTLY on an existing table",
	  "The SHARE lock blocks every INSERT, UPDATE and DELETE on the table for the whole "
	  "index build, which reads the entire table.",
	  "CREATE INDEX CONCURRENTLY, outside a transaction block (an interrupted build leaves "
	  "an INVALID index: drop it and retry); or shunt's create_index.", false },
	{ LR_REQUIRE_CONCURRENT_INDEX_DELETION, "require-concurrent-index-deletion", LINT_ERROR, AE,
	  false, false, "DROP INDEX without CONCURRENTLY",
	  "DROP INDEX takes ACCESS EXCLUSIVE on the index's table: while it waits for running "
	  "queries, every new query on the table queues behind it.",
	  "DROP INDEX CONCURRENTLY, outside a transaction block; or shunt's drop_index.", false },
	{ LR_REQUIRE_CONCURRENT_REINDEX, "require-concurrent-reindex", LINT_ERROR, "SHARE", false,
	  true, "REINDEX without CONCURRENTLY",
	  "REINDEX blocks writes to the table (SHARE) and reads that use the index (ACCESS "
	  "EXCLUSIVE on it) while the index is rebuilt from the whole table.",
	  "REINDEX ... CONCURRENTLY (PostgreSQL 12+), outside a transaction block; before 12, "
	  "CREATE INDEX CONCURRENTLY a new index, DROP INDEX CONCURRENTLY the old one, and "
	  "rename the new one.", false },
	{ LR_CONSTRAINT_MISSING_NOT_VALID, "constraint-missing-not-valid", LINT_ERROR, AE, false,
	  true, "ADD CONSTRAINT ... CHECK without NOT VALID on an existing table",
	  "Every row is checked while ACCESS EXCLUSIVE is held: the table is unreadable and "
	  "unwritable for the whole scan.",
	  "ADD CONSTRAINT ... NOT VALID (instant; new writes are checked), then VALIDATE "
	  "CONSTRAINT in a separate transaction (SHARE UPDATE EXCLUSIVE: reads and writes go "
	  "on); or shunt's create_constraint.", false },
	{ LR_ADDING_FOREIGN_KEY_CONSTRAINT, "adding-foreign-key-constraint", LINT_ERROR,
	  "SHARE ROW EXCLUSIVE", false, true,
	  "a FOREIGN KEY added to an existing table without NOT VALID",
	  "Both tables are locked against writes (SHARE ROW EXCLUSIVE) while every row is "
	  "checked against the referenced table.",
	  "ADD CONSTRAINT ... FOREIGN KEY ... NOT VALID, then VALIDATE CONSTRAINT in a "
	  "separate transaction; or shunt's create_constraint.", false },
	{ LR_VALIDATE_IN_SAME_TRANSACTION, "validate-in-same-transaction", LINT_ERROR, AE, false,
	  true, "VALIDATE CONSTRAINT in the transaction that added the constraint NOT VALID",
	  "The ACCESS EXCLUSIVE lock taken by ADD CONSTRAINT is held until COMMIT, so the "
	  "validation scan runs under it: NOT VALID gained nothing.",
	  "COMMIT after ADD CONSTRAINT ... NOT VALID and validate in a new transaction.", false },
	{ LR_DISALLOWED_UNIQUE_CONSTRAINT, "disallowed-unique-constraint", LINT_ERROR, AE, false,
	  true, "a UNIQUE constraint added to an existing table without USING INDEX",
	  "The unique index is built while ACCESS EXCLUSIVE is held: no reads or writes for "
	  "the whole build.",
	  "CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT ... UNIQUE USING INDEX "
	  "(instant); or shunt's create_constraint.", false },
	{ LR_ADDING_PRIMARY_KEY_CONSTRAINT, "adding-primary-key-constraint", LINT_ERROR, AE, false,
	  true, "a PRIMARY KEY added to an existing table without USING INDEX",
	  "The index is built, and the columns are checked for NULLs, while ACCESS EXCLUSIVE is "
	  "held: no reads or writes meanwhile.",
	  "CREATE UNIQUE INDEX CONCURRENTLY, make the columns NOT NULL safely, then ADD "
	  "CONSTRAINT ... PRIMARY KEY USING INDEX.", false },
	{ LR_ADDING_EXCLUSION_CONSTRAINT, "adding-exclusion-constraint", LINT_ERROR, AE, false, true,
	  "ADD CONSTRAINT ... EXCLUDE on an existing table",
	  "The index is built and every row checked under ACCESS EXCLUSIVE; exclusion "
	  "constraints have no NOT VALID or USING INDEX form.",
	  "Create the constraint with the table (shunt's create_table), or rebuild the table "
	  "online; otherwise plan a maintenance window.", false },
	{ LR_RENAMING_COLUMN, "renaming-column", LINT_ERROR, AE, false, false,
	  "ALTER TABLE ... RENAME COLUMN",
	  "The running application still uses the old name: its queries fail from the moment "
	  "the rename commits until the new version is deployed.",
	  "shunt's rename_column: the new version sees the new name through a view while the "
	  "old one keeps the old name; the real rename happens at complete.", false },
	{ LR_RENAMING_TABLE, "renaming-table", LINT_ERROR, AE, false, false,
	  "ALTER TABLE ... RENAME TO",
	  "The running application still uses the old name: its queries fail until the new "
	  "version is deployed.",
	  "shunt's rename_table (a view gives the new version the new name), or a view with "
	  "the old name until no deployed version uses it.", false },
	{ LR_BAN_DROP_COLUMN, "ban-drop-column", LINT_ERROR, AE, false, false,
	  "ALTER TABLE ... DROP COLUMN",
	  "The running application may still read or write the column: its queries fail "
	  "(SELECT of the column, INSERT naming it) until it is redeployed.",
	  "First deploy a version that no longer uses the column, then drop it; shunt's "
	  "drop_column keeps it for the old version until complete.", false },
	{ LR_BAN_DROP_TABLE, "ban-drop-table", LINT_ERROR, AE, false, false, "DROP TABLE",
	  "The running application may still use the table; the data is gone for good.",
	  "Deploy a version that no longer uses the table first, keep a backup, then drop it "
	  "(shunt's drop_table drops it at complete).", false },
	{ LR_BAN_DROP_DATABASE, "ban-drop-database", LINT_ERROR, NONE, false, false,
	  "DROP DATABASE", "Everything in it is lost, for every application that uses it.",
	  "Do not drop databases from migrations.", false },
	{ LR_BAN_DROP_NOT_NULL, "ban-drop-not-null", LINT_WARNING, AE, false, false,
	  "ALTER COLUMN ... DROP NOT NULL",
	  "Once the new version writes NULLs, an application version that assumes the column "
	  "is never NULL may fail on them.",
	  "Make sure every deployed version handles NULL first; shunt's alter_column with "
	  "nullable: true gives the old version a value through down.", false },
	{ LR_REQUIRE_LOCK_TIMEOUT, "require-lock-timeout", LINT_WARNING, NONE, false, false,
	  "DDL on an existing table without SET lock_timeout before it",
	  "A DDL statement that waits for its lock (behind a long query or an idle transaction) "
	  "makes every later query on the table queue behind it: an outage without any error.",
	  "SET lock_timeout = '1s'; (and a statement_timeout) at the top of the file, and retry "
	  "the migration when it times out; shunt runs every step under --lock-timeout.", false },
	{ LR_BAN_VACUUM_FULL, "ban-vacuum-full", LINT_ERROR, AE, true, false, "VACUUM FULL",
	  "The table is rewritten under ACCESS EXCLUSIVE: no reads or writes until done.",
	  "Plain VACUUM; to give space back, pg_repack or pg_squeeze rebuild the table online.", false },
	{ LR_BAN_CLUSTER, "ban-cluster", LINT_ERROR, AE, true, false, "CLUSTER",
	  "The table is rewritten in index order under ACCESS EXCLUSIVE.",
	  "pg_repack --order-by rebuilds the table in order online.", false },
	{ LR_BAN_TRUNCATE, "ban-truncate", LINT_ERROR, AE, false, false, "TRUNCATE",
	  "ACCESS EXCLUSIVE on the table (and with CASCADE on every referencing table), and the "
	  "data is gone for every application version at once.",
	  "DELETE in batches, or first deploy a version that no longer uses the rows.", false },
	{ LR_BAN_LOCK_TABLE, "ban-lock-table", LINT_ERROR, AE, false, false,
	  "LOCK TABLE in SHARE mode or stronger",
	  "The explicit lock blocks writes (or with ACCESS EXCLUSIVE, the default, every query) "
	  "until the transaction ends; while it waits, everything queues behind it.",
	  "Let each statement take the lock it needs, under lock_timeout, in a short "
	  "transaction.", false },
	{ LR_MIXED_DDL_AND_DML, "mixed-ddl-and-dml", LINT_ERROR, AE, false, true,
	  "DDL and a whole-table UPDATE, DELETE or INSERT ... SELECT in one transaction",
	  "The DDL's lock is held until COMMIT, so it lasts as long as the data change: the "
	  "table is blocked for the whole backfill.",
	  "Commit the DDL first, then change the data in batches, each its own transaction "
	  "(shunt backfills with up in batches).", false },
	{ LR_UNBATCHED_BACKFILL, "unbatched-backfill", LINT_WARNING, "ROW EXCLUSIVE", false, true,
	  "UPDATE or DELETE of a whole table in one statement",
	  "Every row stays locked until the statement commits, so concurrent writes of any row "
	  "wait for the whole table; a long transaction also holds back VACUUM.",
	  "Update in batches by key range (WHERE id > $1 AND id <= $2), each its own "
	  "transaction; shunt's backfill does this.", false },
	{ LR_CONCURRENTLY_IN_TRANSACTION, "concurrently-in-transaction", LINT_ERROR, NONE, false,
	  false, "a CONCURRENTLY operation inside a transaction block",
	  "CREATE/DROP INDEX CONCURRENTLY, REINDEX CONCURRENTLY and DETACH PARTITION "
	  "CONCURRENTLY cannot run inside a transaction block: the migration fails.",
	  "Run the statement on its own, outside BEGIN ... COMMIT (and outside the migration "
	  "tool's transaction).", false },
	{ LR_TRANSACTION_NESTING, "transaction-nesting", LINT_WARNING, NONE, false, false,
	  "BEGIN inside a transaction, or COMMIT/ROLLBACK outside one",
	  "PostgreSQL has no nested transactions: the inner BEGIN is ignored and its COMMIT "
	  "commits the outer transaction early, so later statements run without it.",
	  "One BEGIN ... COMMIT per file, or none when the migration tool wraps the file "
	  "itself.", false },
	{ LR_BAN_UNCOMMITTED_TRANSACTION, "ban-uncommitted-transaction", LINT_WARNING, NONE, false,
	  false, "BEGIN without a COMMIT before the end of the file",
	  "The transaction and its locks stay open after the file ends (or are rolled back), "
	  "depending on the tool that runs it.",
	  "End the file with COMMIT.", false },
	{ LR_ADDING_ENUM_VALUE_IN_TRANSACTION, "adding-enum-value-in-transaction", LINT_ERROR, NONE,
	  false, false, "ALTER TYPE ... ADD VALUE in a transaction block before PostgreSQL 12",
	  "Before PostgreSQL 12 the statement fails inside a transaction block.",
	  "Run ALTER TYPE ... ADD VALUE on its own, outside BEGIN ... COMMIT.", false },
	{ LR_REWRITING_TABLE_OPTION, "rewriting-table-option", LINT_ERROR, AE, true, false,
	  "ALTER TABLE ... SET TABLESPACE, SET LOGGED/UNLOGGED or SET ACCESS METHOD",
	  "The table's data is copied or rewritten under ACCESS EXCLUSIVE: no reads or writes "
	  "until done.",
	  "Rebuild the table online (pg_repack supports --tablespace), or plan a maintenance "
	  "window.", false },
	{ LR_REQUIRE_CONCURRENT_DETACH_PARTITION, "require-concurrent-detach-partition", LINT_ERROR,
	  AE, false, false, "DETACH PARTITION without CONCURRENTLY (PostgreSQL 14+)",
	  "DETACH PARTITION takes ACCESS EXCLUSIVE on the partitioned table: queries on every "
	  "partition wait.",
	  "ALTER TABLE ... DETACH PARTITION ... CONCURRENTLY, outside a transaction block.", false },
	{ LR_REQUIRE_CONCURRENT_REFRESH, "require-concurrent-refresh", LINT_WARNING, AE, false, true,
	  "REFRESH MATERIALIZED VIEW without CONCURRENTLY",
	  "The view cannot be read while it is recomputed (ACCESS EXCLUSIVE).",
	  "REFRESH MATERIALIZED VIEW CONCURRENTLY (the view needs a unique index).", false },
	{ LR_BAN_ALTER_DOMAIN_WITH_ADD_CONSTRAINT, "ban-alter-domain-with-add-constraint",
	  LINT_ERROR, "SHARE", false, true, "ALTER DOMAIN ... ADD CONSTRAINT without NOT VALID",
	  "Every column of every table that uses the domain is checked, blocking writes to "
	  "those tables meanwhile.",
	  "ADD CONSTRAINT ... NOT VALID, then ALTER DOMAIN ... VALIDATE CONSTRAINT.", false },
	{ LR_PREFER_BIGINT_OVER_INT, "prefer-bigint-over-int", LINT_WARNING, NONE, false, false,
	  "an integer (int4, serial) column",
	  "32-bit keys and counters run out at 2^31; changing the type later rewrites the "
	  "table.",
	  "Use bigint (or bigserial / bigint GENERATED ... AS IDENTITY).", false },
	{ LR_PREFER_BIGINT_OVER_SMALLINT, "prefer-bigint-over-smallint", LINT_WARNING, NONE, false,
	  false, "a smallint (int2, smallserial) column",
	  "16-bit values run out at 32767; changing the type later rewrites the table.",
	  "Use bigint (or integer when the range is known to be small).", false },
	{ LR_PREFER_IDENTITY, "prefer-identity", LINT_WARNING, NONE, false, false,
	  "a serial, bigserial or smallserial column",
	  "Serial columns own a separate sequence with its own grants and dependencies, which "
	  "complicates permissions, dumps and type changes.",
	  "bigint GENERATED BY DEFAULT AS IDENTITY.", false },
	{ LR_PREFER_TEXT_FIELD, "prefer-text-field", LINT_WARNING, NONE, false, false,
	  "a varchar(n) column",
	  "Raising n later is catalog-only, but lowering it rewrites the table; the limit is "
	  "easier to change as a CHECK constraint.",
	  "text, with CHECK (length(col) <= n) added NOT VALID if a limit is needed.", false },
	{ LR_PREFER_TIMESTAMPTZ, "prefer-timestamptz", LINT_WARNING, NONE, false, false,
	  "a timestamp without time zone column",
	  "Values carry no time zone: sessions with another TimeZone setting read and write "
	  "different instants; changing the type later rewrites the table.",
	  "timestamptz (timestamp with time zone).", false },
	{ LR_BAN_CHAR_FIELD, "ban-char-field", LINT_WARNING, NONE, false, false,
	  "a char(n) column",
	  "char(n) pads with spaces, compares oddly and is no faster than text.",
	  "text (or varchar), with a CHECK constraint if the length matters.", false },
	{ LR_PREFER_JSONB, "prefer-jsonb", LINT_WARNING, NONE, false, false, "a json column",
	  "json has no equality operator, so SELECT DISTINCT, UNION and GROUP BY over the "
	  "table's rows fail; it is also reparsed on every access.",
	  "jsonb.", false },
	{ LR_PREFER_ROBUST_STMTS, "prefer-robust-stmts", LINT_WARNING, NONE, false, false,
	  "CREATE/ADD without IF NOT EXISTS or DROP without IF EXISTS outside a transaction",
	  "A file run outside a transaction that fails half-way cannot simply be run again: "
	  "the statements that succeeded fail the second time.",
	  "Use IF NOT EXISTS / IF EXISTS, or run the file in one transaction.", false },
	{ LR_SYNTAX_ERROR, "syntax-error", LINT_ERROR, NONE, false, false,
	  "text that PostgreSQL's parser rejects", "The migration fails at this statement.",
	  "Fix the SQL.", false },
	{ LR_INVALID_DIRECTIVE, "invalid-directive", LINT_WARNING, NONE, false, false,
	  "a shunt-lint comment that names no rule",
	  "The comment does not disable what it was meant to.",
	  "Use \"-- shunt-lint: disable=RULE[,RULE]\" with ids from `shunt help lint`.", false },
};

_Static_assert(sizeof(lint_rules) / sizeof(lint_rules[0]) == LR__COUNT,
			   "lint_rules[] needs one row per lint_rule_id");

const lint_rule *
lint_rule_find(const char *name)
{
	for (size_t i = 0; i < LR__COUNT; i++)
		if (strcmp(lint_rules[i].name, name) == 0)
			return &lint_rules[i];
	return NULL;
}

const char *
lint_severity_name(lint_severity s)
{
	return s == LINT_ERROR ? "error" : "warning";
}

void
lint_opts_init(lint_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->pg_version = 15;
}

/* Disables one rule named by name[0, len); -1 with err when unknown. */
static int
disable_one(lint_opts *o, const char *name, size_t len, const char *where,
			shunt_error *err)
{
	char id[64];
	const lint_rule *r;

	if (len == 0)
		return 0;
	if (len >= sizeof(id))
		len = sizeof(id) - 1;
	memcpy(id, name, len);
	id[len] = '\0';
	r = lint_rule_find(id);
	if (r == NULL) {
		shunt_error_set(err, SHUNT_E_USAGE, "%sunknown lint rule \"%s\"", where, id);
		shunt_error_hint(err, "\"shunt help lint\" lists the rules.");
		return -1;
	}
	o->disabled[r->id] = true;
	return 0;
}

int
lint_opts_disable_list(lint_opts *o, const char *list, shunt_error *err)
{
	const char *p = list;

	while (*p) {
		const char *e = p + strcspn(p, ",");
		const char *s = p, *t = e;

		while (s < t && (*s == ' ' || *s == '\t'))
			s++;
		while (t > s && (t[-1] == ' ' || t[-1] == '\t'))
			t--;
		if (disable_one(o, s, (size_t)(t - s), "", err) != 0)
			return -1;
		p = *e ? e + 1 : e;
	}
	return 0;
}

/* Reads path into a malloc'd, NUL-terminated buffer. */
static char *
read_file(const char *path, size_t *len, shunt_error *err)
{
	FILE *fp = fopen(path, "rb");
	shunt_buf b = SHUNT_BUF_INIT;
	char chunk[4096];
	size_t n;

	if (fp == NULL) {
		shunt_error_set(err, SHUNT_E_IO, "cannot open \"%s\": %s", path, strerror(errno));
		return NULL;
	}
	buf_init(&b);
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		buf_putn(&b, chunk, n);
	if (ferror(fp)) {
		shunt_error_set(err, SHUNT_E_IO, "cannot read \"%s\": %s", path, strerror(errno));
		fclose(fp);
		buf_release(&b);
		return NULL;
	}
	fclose(fp);
	*len = b.len;
	return buf_detach(&b);
}

/* Whether a file holds nothing but blank lines and "#" comments (which the
 * YAML reader refuses as a stream without a document). */
static bool
only_comments(const char *text)
{
	for (const char *p = text; *p; p++) {
		if (*p == '#')
			p += strcspn(p, "\n");
		else if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
			return false;
		if (*p == '\0')
			break;
	}
	return true;
}

static int
config_fail(shunt_error *err, const char *path, const char *what)
{
	return shunt_error_set(err, SHUNT_E_USAGE, "%s: %s", path, what);
}

static int
config_apply(lint_opts *o, const char *path, json_t *root, shunt_error *err)
{
	char where[300];
	const char *key;
	json_t *val, *item;
	size_t i;

	if (!json_is_object(root))
		return config_fail(err, path, "expected a mapping (disable:, pg-version:)");
	snprintf(where, sizeof(where), "%s: ", path);
	json_object_foreach(root, key, val) {
		if (strcmp(key, "disable") == 0) {
			if (json_is_string(val)) {
				if (disable_one(o, json_string_value(val), strlen(json_string_value(val)),
								where, err) != 0)
					return -1;
				continue;
			}
			if (!json_is_array(val))
				return config_fail(err, path, "\"disable\" must be a list of rule ids");
			json_array_foreach(val, i, item) {
				if (!json_is_string(item))
					return config_fail(err, path, "\"disable\" must be a list of rule ids");
				if (disable_one(o, json_string_value(item), strlen(json_string_value(item)),
								where, err) != 0)
					return -1;
			}
		} else if (strcmp(key, "pg-version") == 0) {
			char *end;
			long v;

			errno = 0;
			v = json_is_string(val) ? strtol(json_string_value(val), &end, 10) : -1;
			if (!json_is_string(val) || errno != 0 || *end != '\0' || v < 9 || v > 99)
				return config_fail(err, path, "\"pg-version\" must be a major version, 9 to 99");
			o->pg_version = (int)v;
		} else if (strcmp(key, "assume-in-transaction") == 0) {
			if (!json_is_boolean(val))
				return config_fail(err, path, "\"assume-in-transaction\" must be true or false");
			o->assume_in_transaction = json_is_true(val);
		} else {
			shunt_error_set(err, SHUNT_E_USAGE, "%s: unknown key \"%s\"", path, key);
			shunt_error_hint(err, "Known keys: disable, pg-version, assume-in-transaction.");
			return -1;
		}
	}
	return 0;
}

int
lint_opts_load_config(lint_opts *o, const char *path, shunt_error *err)
{
	size_t len = 0;
	char *text = read_file(path, &len, err);
	json_t *root;
	int rc;

	if (text == NULL)
		return -1;
	if (only_comments(text)) {
		free(text);
		return 0;
	}
	root = yaml_json_parse(text, len, path, err);
	free(text);
	if (root == NULL) {
		err->code = SHUNT_E_USAGE;
		return -1;
	}
	rc = config_apply(o, path, root, err);
	json_decref(root);
	return rc;
}
