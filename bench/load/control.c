/*
 * control.c: the command channel of shunt-load, so that a shell script can
 * mark phases and start and stop groups while the load runs:
 *
 *   mkfifo "$ctl"; shunt-load --control "$ctl" ... &
 *   echo "phase backfill" >"$ctl"
 *   echo "start new" >"$ctl"; echo "stop old" >"$ctl"; echo quit >"$ctl"
 *
 * One command per line: phase NAME, start GROUP, stop GROUP, quit; blank
 * lines and lines starting with # are ignored.  A command takes effect when
 * its line is read, within 100 ms (in practice a millisecond).
 *
 * A FIFO rather than stdin or signals: every `echo >FIFO` of the script is a
 * complete message, and signals carry no name.  The FIFO is opened read-write
 * (Linux defines this for FIFOs; POSIX leaves it open) so that our own
 * writer end keeps it from ever reaching end-of-file between two writers.
 * With --control - the commands come from stdin instead, whose end just
 * ends the commands.
 */
#include "load.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"

typedef struct control_ctx {
	load_run *run;
	int fd;
	char *created;   /* the FIFO we made, removed at the end; or NULL */
} control_ctx;

static double
since_start_s(const load_run *run)
{
	return (double) (load_now_us() - run->start_us) / 1e6;
}

static void
handle_line(load_run *run, char *line)
{
	char *arg, *end;
	load_group *g;

	while (*line == ' ' || *line == '\t')
		line++;
	end = line + strlen(line);
	while (end > line && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
		*--end = '\0';
	if (*line == '\0' || *line == '#')
		return;
	arg = strchr(line, ' ');
	if (arg) {
		*arg++ = '\0';
		while (*arg == ' ')
			arg++;
	} else {
		arg = end; /* "" */
	}

	if (strcmp(line, "phase") == 0) {
		int rc = load_phase_mark(run, arg);

		if (rc > 0)
			load_info(run, "%.3f s: phase %s", since_start_s(run), arg);
		else if (rc == 0)
			load_info(run, "%.3f s: phase %s goes on", since_start_s(run), arg);
		else
			load_msg("invalid phase name \"%s\": use 1 to %d of A-Z a-z 0-9 _ . + -", arg,
				LOAD_NAME_MAX);
	} else if (strcmp(line, "start") == 0 || strcmp(line, "stop") == 0) {
		g = load_group_find(run, arg);
		if (g == NULL)
			load_msg("%s: no group \"%s\"", line, arg);
		else if (line[2] == 'a' ? load_group_start(g, load_now_us())
		                        : load_group_stop(g, load_now_us()))
			load_info(run, "%.3f s: %s %s", since_start_s(run), line, arg);
		else
			load_msg("%s %s: the group is already %s", line, arg,
				line[2] == 'a' ? "running" : "stopped");
	} else if (strcmp(line, "quit") == 0) {
		load_info(run, "%.3f s: quit", since_start_s(run));
		atomic_store(&run->quit, true);
	} else {
		load_msg("unknown command \"%s\" (phase NAME, start GROUP, stop GROUP, quit)", line);
	}
}

static void *
control_main(void *arg)
{
	control_ctx *ctx = arg;
	load_run *run = ctx->run;
	char buf[4096];
	size_t len = 0;

	while (!atomic_load(&run->stop)) {
		struct pollfd pfd = { .fd = ctx->fd, .events = POLLIN, .revents = 0 };
		ssize_t n;
		char *nl, *p;

		/* the timeout only bounds how late we notice the end of the run */
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		n = read(ctx->fd, buf + len, sizeof(buf) - 1 - len);
		if (n == 0)
			break; /* stdin closed */
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			load_msg("reading commands: %s", strerror(errno));
			break;
		}
		len += (size_t) n;
		buf[len] = '\0';
		p = buf;
		while ((nl = strchr(p, '\n')) != NULL) {
			*nl = '\0';
			handle_line(run, p);
			p = nl + 1;
		}
		len -= (size_t) (p - buf);
		memmove(buf, p, len);
		if (len == sizeof(buf) - 1) {
			load_msg("command line longer than %zu bytes ignored", len);
			len = 0;
		}
	}
	if (ctx->fd != STDIN_FILENO)
		close(ctx->fd);
	if (ctx->created) {
		unlink(ctx->created);
		free(ctx->created);
	}
	free(ctx);
	return NULL;
}

int
load_control_start(load_run *run, pthread_t *thread)
{
	control_ctx *ctx = shunt_xcalloc(1, sizeof(*ctx));
	struct stat st;

	ctx->run = run;
	if (strcmp(run->control, "-") == 0) {
		ctx->fd = STDIN_FILENO;
	} else {
		if (stat(run->control, &st) != 0) {
			if (errno != ENOENT || mkfifo(run->control, 0600) != 0) {
				load_msg("cannot create FIFO \"%s\": %s", run->control, strerror(errno));
				free(ctx);
				return -1;
			}
			ctx->created = shunt_xstrdup(run->control);
		} else if (!S_ISFIFO(st.st_mode)) {
			load_msg("\"%s\" is not a FIFO (make it with mkfifo)", run->control);
			free(ctx);
			return -1;
		}
		ctx->fd = open(run->control, O_RDWR | O_CLOEXEC);
		if (ctx->fd < 0) {
			load_msg("cannot open FIFO \"%s\": %s", run->control, strerror(errno));
			if (ctx->created) {
				unlink(ctx->created);
				free(ctx->created);
			}
			free(ctx);
			return -1;
		}
	}
	if (pthread_create(thread, NULL, control_main, ctx) != 0) {
		load_msg("cannot start the control thread");
		if (ctx->fd != STDIN_FILENO)
			close(ctx->fd);
		if (ctx->created)
			unlink(ctx->created);
		free(ctx->created);
		free(ctx);
		return -1;
	}
	return 0;
}
