/*
 * cmd_migrate.c: shunt migrate DIR [--complete]
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/migration.h"
#include "pg/pg_migrate.h"
#include "pg/pg_state.h"

const char cmd_migrate_help[] =
	"Usage: shunt migrate DIR [--complete] [OPTION]...\n"
	"\n"
	"Applies the migrations in DIR that the schema has not seen yet, in the order of\n"
	"DIR/.ledger when it exists (one file name per line), else in file-name order\n"
	"(*.yaml, *.yml, *.json).  Every migration but the last is started and completed;\n"
	"the last is only started, so old and new application versions can run side by\n"
	"side, unless --complete is given.  An active migration that is the next one in\n"
	"DIR is completed first; any other active migration stops the command.\n"
	"\n"
	"  --complete     complete the last migration too\n"
	"  --dry-run      print the plan of the first pending migration\n";

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

static bool
is_migration_file(const char *name)
{
	size_t n = strlen(name);

	if (name[0] == '.')
		return false;
	return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) || (n > 4 && strcmp(name + n - 4, ".yml") == 0) ||
		   (n > 5 && strcmp(name + n - 5, ".json") == 0);
}

/* The files of dir in apply order; malloc'd array of malloc'd paths. */
static int
list_files(const char *dir, char ***files, size_t *n, shunt_error *err)
{
	shunt_buf path = SHUNT_BUF_INIT;
	FILE *ledger;
	char line[4096];

	*files = NULL;
	*n = 0;
	buf_init(&path);
	buf_printf(&path, "%s/.ledger", dir);
	ledger = fopen(buf_str(&path), "r");
	if (ledger != NULL) {
		while (fgets(line, sizeof(line), ledger) != NULL) {
			size_t len = strcspn(line, "\r\n");

			line[len] = '\0';
			if (len == 0 || line[0] == '#')
				continue;
			*files = shunt_xrealloc(*files, (*n + 1) * sizeof(char *));
			buf_reset(&path);
			buf_printf(&path, "%s/%s", dir, line);
			(*files)[(*n)++] = shunt_xstrdup(buf_str(&path));
		}
		fclose(ledger);
	} else {
		DIR *d = opendir(dir);
		struct dirent *e;

		if (d == NULL) {
			buf_release(&path);
			shunt_error_set(err, SHUNT_E_IO, "cannot read directory \"%s\": %s", dir, strerror(errno));
			return -1;
		}
		while ((e = readdir(d)) != NULL) {
			if (!is_migration_file(e->d_name))
				continue;
			*files = shunt_xrealloc(*files, (*n + 1) * sizeof(char *));
			buf_reset(&path);
			buf_printf(&path, "%s/%s", dir, e->d_name);
			(*files)[(*n)++] = shunt_xstrdup(buf_str(&path));
		}
		closedir(d);
		if (*n > 1)
			qsort(*files, *n, sizeof(char *), cmp_str);
	}
	buf_release(&path);
	return 0;
}

int
cmd_migrate(cli_ctx *ctx, shunt_error *err)
{
	char **files = NULL;
	size_t n = 0;
	shunt_migration **migs = NULL;
	shunt_db *db = NULL;
	pg_state_migration *active = NULL;
	migrate_opts o;
	size_t pending = 0, applied_now = 0;
	bool have = false;
	int rc = -1;

	if (ctx->argc != 1)
		return shunt_error_set(err, SHUNT_E_USAGE, "migrate needs exactly one directory");
	if (list_files(ctx->argv[0], &files, &n, err) != 0)
		return -1;
	/* Load and validate every file before touching the database. */
	migs = shunt_xcalloc(n ? n : 1, sizeof(*migs));
	for (size_t i = 0; i < n; i++) {
		migs[i] = migration_load_file(files[i], err);
		if (migs[i] == NULL)
			goto done;
	}
	db = cli_connect(ctx, err);
	if (db == NULL)
		goto done;
	cli_migrate_opts(ctx, &o);
	if (pg_state_exists(db, &have, err) != 0)
		goto done;
	if (have && pg_state_active(db, ctx->schema, &active, err) != 0)
		goto done;
	for (size_t i = 0; i < n; i++) {
		bool applied = false;
		bool last;

		if (have && pg_state_is_applied(db, ctx->schema, migs[i]->name, &applied, err) != 0)
			goto done;
		/* is there another pending one after this? */
		last = true;
		for (size_t j = i + 1; j < n && last; j++) {
			bool a2 = false;

			if (have && pg_state_is_applied(db, ctx->schema, migs[j]->name, &a2, err) != 0)
				goto done;
			if (!a2)
				last = false;
		}
		if (active != NULL && strcmp(active->name, migs[i]->name) == 0) {
			if (last && !cli_opt_complete) {
				/* the last one stays active, as after the run that started it */
				pg_state_migration_free(active);
				active = NULL;
				continue;
			}
			if (ctx->dry_run) {
				rc = pg_migrate_complete(db, &o, err);
				goto done;
			}
			log_info("completing the active migration \"%s\"", active->name);
			if (pg_migrate_complete(db, &o, err) != 0)
				goto done;
			pg_state_migration_free(active);
			active = NULL;
			continue;
		}
		if (applied)
			continue;
		if (active != NULL) {
			shunt_error_set(err, SHUNT_E_REFUSED, "migration \"%s\" is active in schema \"%s\"", active->name,
							ctx->schema);
			shunt_error_hint(err, "Complete or roll it back first.");
			goto done;
		}
		pending++;
		if (ctx->dry_run) {
			rc = pg_migrate_start(db, migs[i], &o, err);
			goto done;
		}
		log_info("applying %s", files[i]);
		if (pg_migrate_start(db, migs[i], &o, err) != 0)
			goto done;
		have = true;
		if ((!last || cli_opt_complete) && pg_migrate_complete(db, &o, err) != 0)
			goto done;
		applied_now++;
	}
	if (ctx->json)
		printf("{\"applied\": %zu}\n", applied_now);
	else
		log_info("%zu migration%s applied", applied_now, applied_now == 1 ? "" : "s");
	rc = 0;
done:
	(void) pending;
	pg_state_migration_free(active);
	pg_conn_free(db);
	for (size_t i = 0; i < n; i++) {
		migration_free(migs ? migs[i] : NULL);
		free(files[i]);
	}
	free(migs);
	free(files);
	return rc;
}
