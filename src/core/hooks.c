/*
 * hooks.c: running user hooks; see hooks.h.
 */
#include "core/hooks.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"

extern char **environ;

static char *hook_dir = NULL;

void
hooks_set_dir(const char *dir)
{
	free(hook_dir);
	hook_dir = dir && dir[0] ? shunt_xstrdup(dir) : NULL;
}

/* NAME=value, malloc'd */
static char *
env_entry(const char *name, const char *value)
{
	shunt_buf b = SHUNT_BUF_INIT;

	buf_init(&b);
	buf_printf(&b, "%s=%s", name, value ? value : "");
	return buf_detach(&b);
}

int
hooks_run(const char *event, const hook_env *env, shunt_error *err)
{
	shunt_buf path = SHUNT_BUF_INIT;
	struct stat st;
	char **envp = NULL;
	size_t n_env = 0, n_extra = 0;
	char *extra[8];
	char rows[32];
	pid_t pid;
	int status = 0;
	int rc = 0;

	if (hook_dir == NULL)
		return 0;
	buf_init(&path);
	buf_printf(&path, "%s/%s", hook_dir, event);
	if (stat(buf_str(&path), &st) != 0 || !S_ISREG(st.st_mode)) {
		buf_release(&path);
		return 0;
	}
	snprintf(rows, sizeof(rows), "%lld", env->rows);
	extra[n_extra++] = env_entry("SHUNT_EVENT", event);
	extra[n_extra++] = env_entry("SHUNT_MIGRATION", env->migration);
	extra[n_extra++] = env_entry("SHUNT_SCHEMA", env->schema);
	extra[n_extra++] = env_entry("SHUNT_VERSION_SCHEMA", env->version_schema);
	extra[n_extra++] = env_entry("SHUNT_TABLE", env->table);
	extra[n_extra++] = env_entry("SHUNT_ERROR", env->error);
	extra[n_extra++] = env_entry("SHUNT_ROWS", env->rows >= 0 ? rows : "");
	while (environ[n_env] != NULL)
		n_env++;
	envp = shunt_xcalloc(n_env + n_extra + 1, sizeof(char *));
	{
		size_t k = 0;

		/* shunt's own variables win over inherited ones of the same name */
		for (size_t i = 0; i < n_env; i++)
			if (strncmp(environ[i], "SHUNT_", 6) != 0 || strncmp(environ[i], "SHUNT_HOOKS=", 12) == 0 ||
				strncmp(environ[i], "SHUNT_DB=", 9) == 0)
				envp[k++] = environ[i];
		for (size_t i = 0; i < n_extra; i++)
			envp[k++] = extra[i];
		envp[k] = NULL;
	}
	log_info("hook %s: running %s", event, buf_str(&path));
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid == 0) {
		char *argv[2] = { path.data, NULL };
		int devnull = open("/dev/null", O_RDONLY);

		if (devnull >= 0)
			dup2(devnull, STDIN_FILENO);
		/* stdout of a hook is not shunt's primary output */
		dup2(STDERR_FILENO, STDOUT_FILENO);
		execve(path.data, argv, envp);
		fprintf(stderr, "shunt: cannot run hook %s: %s\n", path.data, strerror(errno));
		_exit(127);
	}
	if (pid < 0) {
		rc = shunt_error_set(err, SHUNT_E_HOOK, "cannot run hook %s: %s", buf_str(&path), strerror(errno));
		goto done;
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		rc = shunt_error_set(err, SHUNT_E_HOOK, "hook %s failed (%s %d)", buf_str(&path),
							 WIFEXITED(status) ? "exit status" : "signal",
							 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
		shunt_error_hint(err, "A failing before-hook stops the step before it changes anything.");
	}
done:
	for (size_t i = 0; i < n_extra; i++)
		free(extra[i]);
	free(envp);
	buf_release(&path);
	return rc;
}
