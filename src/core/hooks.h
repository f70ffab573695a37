/*
 * hooks.h: user executables run at phase boundaries (gh-ost's on-* hooks).
 *
 * With --hooks DIR (or $SHUNT_HOOKS), an executable file DIR/EVENT runs at
 * each event below, with the context in SHUNT_* environment variables.  A
 * before-* hook that exits non-zero stops that step cleanly before it
 * changes anything; the exit status of after-* and on-failure hooks is
 * logged only.  Hooks run directly (fork/exec, no shell), with stdin from
 * /dev/null; their output goes to shunt's stderr.  Missing files are
 * skipped.
 */
#ifndef SHUNT_HOOKS_H
#define SHUNT_HOOKS_H

#include "core/error.h"

/* Events, also the file names. */
#define HOOK_BEFORE_START "before-start"
#define HOOK_AFTER_START "after-start"
#define HOOK_BEFORE_BACKFILL "before-backfill"
#define HOOK_AFTER_BACKFILL "after-backfill"
#define HOOK_BEFORE_COMPLETE "before-complete"
#define HOOK_AFTER_COMPLETE "after-complete"
#define HOOK_BEFORE_ROLLBACK "before-rollback"
#define HOOK_AFTER_ROLLBACK "after-rollback"
#define HOOK_BEFORE_CUTOVER "before-cutover" /* online rebuild */
#define HOOK_AFTER_CUTOVER "after-cutover"
#define HOOK_ON_FAILURE "on-failure"

typedef struct hook_env {
	const char *migration;
	const char *schema;
	const char *version_schema;
	const char *table;      /* backfill events */
	const char *error;      /* on-failure */
	long long rows;         /* after-backfill: rows backfilled; -1 none */
} hook_env;

/* Sets the hook directory (NULL or "": no hooks). */
void hooks_set_dir(const char *dir);

/* Runs the hook for event if it exists; returns 0, or -1 with err
 * (SHUNT_E_HOOK) when it exists and fails.  Callers of after-* hooks
 * ignore the result. */
int hooks_run(const char *event, const hook_env *env, shunt_error *err);

#endif
