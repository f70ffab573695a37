/*
 * pg_lint.h: `shunt lint`, offline checks of plain SQL migration files for
 * statements that hurt a live PostgreSQL: locks that queue every query,
 * table rewrites and scans under such locks, changes that break the
 * application version still running, and transaction mistakes.
 *
 * The rules are a table (lint_rules.c): an id, a severity, the lock the
 * statement takes, whether it rewrites or scans the table, why that hurts,
 * and the safe alternative.  The checker (pg_lint.c, pg_lint_alter.c) walks
 * the statements of one file in order with PostgreSQL's own parser
 * (libpg_query), keeping what the file itself tells: tables it creates,
 * column types it declares, the transaction block it is in, whether
 * lock_timeout is set.  Nothing needs a server.
 *
 * Depends on core/ and pg_sqlfile; never on libpq; never prints.
 */
#ifndef SHUNT_PG_LINT_H
#define SHUNT_PG_LINT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"

typedef enum lint_severity {
	LINT_WARNING,
	LINT_ERROR,
} lint_severity;

/* One value per rule; the order is that of lint_rules[] in lint_rules.c. */
typedef enum lint_rule_id {
	LR_ADDING_FIELD_WITH_DEFAULT,
	LR_ADDING_SERIAL_FIELD,
	LR_ADDING_STORED_GENERATED_FIELD,
	LR_ADDING_REQUIRED_FIELD,
	LR_ADDING_NOT_NULLABLE_FIELD,
	LR_CHANGING_COLUMN_TYPE,
	LR_CHANGING_COLUMN_TYPE_UNVERIFIED,
	LR_REQUIRE_CONCURRENT_INDEX_CREATION,
	LR_REQUIRE_CONCURRENT_INDEX_DELETION,
	LR_REQUIRE_CONCURRENT_REINDEX,
	LR_CONSTRAINT_MISSING_NOT_VALID,
	LR_ADDING_FOREIGN_KEY_CONSTRAINT,
	LR_VALIDATE_IN_SAME_TRANSACTION,
	LR_DISALLOWED_UNIQUE_CONSTRAINT,
	LR_ADDING_PRIMARY_KEY_CONSTRAINT,
	LR_ADDING_EXCLUSION_CONSTRAINT,
	LR_RENAMING_COLUMN,
	LR_RENAMING_TABLE,
	LR_BAN_DROP_COLUMN,
	LR_BAN_DROP_TABLE,
	LR_BAN_DROP_DATABASE,
	LR_BAN_DROP_NOT_NULL,
	LR_REQUIRE_LOCK_TIMEOUT,
	LR_BAN_VACUUM_FULL,
	LR_BAN_CLUSTER,
	LR_BAN_TRUNCATE,
	LR_BAN_LOCK_TABLE,
	LR_MIXED_DDL_AND_DML,
	LR_UNBATCHED_BACKFILL,
	LR_CONCURRENTLY_IN_TRANSACTION,
	LR_TRANSACTION_NESTING,
	LR_BAN_UNCOMMITTED_TRANSACTION,
	LR_ADDING_ENUM_VALUE_IN_TRANSACTION,
	LR_REWRITING_TABLE_OPTION,
	LR_REQUIRE_CONCURRENT_DETACH_PARTITION,
	LR_REQUIRE_CONCURRENT_REFRESH,
	LR_BAN_ALTER_DOMAIN_WITH_ADD_CONSTRAINT,
	LR_PREFER_BIGINT_OVER_INT,
	LR_PREFER_BIGINT_OVER_SMALLINT,
	LR_PREFER_IDENTITY,
	LR_PREFER_TEXT_FIELD,
	LR_PREFER_TIMESTAMPTZ,
	LR_BAN_CHAR_FIELD,
	LR_PREFER_JSONB,
	LR_PREFER_ROBUST_STMTS,
	LR_SYNTAX_ERROR,
	LR_INVALID_DIRECTIVE,
	LR__COUNT
} lint_rule_id;

typedef struct lint_rule {
	lint_rule_id id;
	const char *name;		/* "require-concurrent-index-creation" */
	lint_severity severity;
	const char *lock;		/* lock on the table, "" when none matters */
	bool rewrite;			/* rewrites the whole table */
	bool scan;				/* reads the whole table under the lock */
	const char *summary;	/* what is flagged, one line */
	const char *why;		/* why it hurts a live system */
	const char *fix;		/* the safe alternative, in general */
	bool maybe_rewrite;		/* rewrites or not depending on what the file
							 * does not show (rewrite is then false) */
} lint_rule;

/* The rule table, LR__COUNT entries indexed by lint_rule_id. */
extern const lint_rule lint_rules[];

/* The rule named name, or NULL. */
const lint_rule *lint_rule_find(const char *name);

/* "error" or "warning". */
const char *lint_severity_name(lint_severity s);

typedef struct lint_opts {
	int pg_version;				/* major version of the target server (>= 9) */
	bool assume_in_transaction;	/* the file runs inside one transaction,
								 * as migration frameworks run it */
	bool disabled[LR__COUNT];	/* rules switched off */
} lint_opts;

/* Fills o with the defaults: PostgreSQL 15, no transaction, all rules on. */
void lint_opts_init(lint_opts *o);

/*
 * Disables the rules of a comma-separated list ("a,b"); white space around
 * names is ignored.  -1 with err (SHUNT_E_USAGE) naming an unknown rule.
 */
int lint_opts_disable_list(lint_opts *o, const char *list, shunt_error *err);

/*
 * Reads a configuration file (YAML; see docs/lint.md):
 *
 *   disable:            # rule ids, a list or one id
 *     - prefer-robust-stmts
 *   pg-version: 12      # optional
 *   assume-in-transaction: true   # optional
 *
 * and applies it to o.  -1 with err (SHUNT_E_USAGE for a bad file or an
 * unknown rule, SHUNT_E_IO when it cannot be read).
 */
int lint_opts_load_config(lint_opts *o, const char *path, shunt_error *err);

typedef struct lint_finding {
	const lint_rule *rule;
	size_t line;		/* 1-based */
	size_t column;		/* 1-based, in characters */
	long stmt;			/* index of the statement in the file, -1 for none */
	char *message;		/* what is wrong here, one line */
	char *lock;			/* lock taken here, NULL: rule->lock */
	char *fix;			/* the safe alternative for this statement, NULL:
						 * rule->fix */
} lint_finding;

/*
 * What the files linted so far declared: column types and CHECK (col IS NOT
 * NULL) constraints.  Files linted with the same schema, in migration
 * order, see what earlier files declared: an ALTER COLUMN ... TYPE in the
 * fifth file knows the type the first one created.  (Tables a file creates
 * count as new and empty only within that file.)
 */
typedef struct lint_schema lint_schema;

/* An empty schema, freed with lint_schema_free(). */
lint_schema *lint_schema_new(void);
void lint_schema_free(lint_schema *schema);

typedef struct lint_result {
	lint_finding *v;
	size_t n;
	size_t cap;
} lint_result;

/*
 * Lints one file's text (len bytes) named filename (for nothing but
 * messages here).  Appends its findings, in statement order, to out, whose
 * contents the caller releases with lint_result_release().  Text that does
 * not parse gives one syntax-error finding.  Rules disabled in o, by a
 * "-- shunt-lint: disable-file=RULE[,RULE]" comment anywhere in the file or
 * a "-- shunt-lint: disable=RULE[,RULE]" comment in or right before a
 * statement ("all" for every rule) produce nothing.  Returns 0, or -1 with
 * err for text with a NUL byte or an internal failure.  schema, if not
 * NULL, is read and extended (see lint_schema); NULL lints the file alone.
 */
int pg_lint_text(const char *text, size_t len, const char *filename,
				 const lint_opts *o, lint_schema *schema, lint_result *out,
				 shunt_error *err);

/* Frees the findings in r and empties it. */
void lint_result_release(lint_result *r);

#endif
