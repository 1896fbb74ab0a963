/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fork() and exec of "/bin/sh -c COMMAND", for the password command and
 * the tunnel.  What goes wrong in the child before exec travels back over
 * a close-on-exec pipe: end of file there means exec succeeded.
 */
#define _GNU_SOURCE
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

G_DEFINE_QUARK(imapfs-spawn-error-quark, spawn_error)

enum spawn_stage {
	STAGE_GROUP,
	STAGE_DUP,
	STAGE_CHDIR,
	STAGE_EXEC,
};

struct spawn_report {
	int stage;
	int err;
};

int spawn_fd_above_stdio(int fd)
{
	int moved;

	if (fd < 0 || fd > STDERR_FILENO)
		return fd;
	moved = fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
	close(fd);
	return moved;
}

static G_GNUC_NORETURN void child_fail(int report_fd, int stage)
{
	struct spawn_report r = { .stage = stage, .err = errno };

	/* Nothing to be done if this fails: the parent then sees exit
	 * status 127. */
	(void)!write(report_fd, &r, sizeof(r));
	_exit(127);
}

/* Close every descriptor above 2 except keep (close-on-exec, so it goes at
 * exec), including those of ours without close-on-exec. */
static void child_close_fds(int keep, int max_fd)
{
	if ((keep == STDERR_FILENO + 1 ||
	     close_range(STDERR_FILENO + 1, (unsigned)keep - 1, 0) == 0) &&
	    close_range((unsigned)keep + 1, ~0U, 0) == 0)
		return;
	for (int i = STDERR_FILENO + 1; i < max_fd; i++)
		if (i != keep)
			close(i);
}

static G_GNUC_NORETURN void child(const struct spawn_params *p,
		char **argv, int report_fd, int max_fd)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigset_t none;

	if (p->own_group && setpgid(0, 0) < 0)
		child_fail(report_fd, STAGE_GROUP);
	if (dup2(p->stdin_fd, STDIN_FILENO) < 0 ||
	    dup2(p->stdout_fd, STDOUT_FILENO) < 0)
		child_fail(report_fd, STAGE_DUP);
	if (p->workdir && chdir(p->workdir) < 0)
		child_fail(report_fd, STAGE_CHDIR);
	child_close_fds(report_fd, max_fd);
	/* FUSE daemons ignore SIGPIPE, and ignored signals survive exec;
	 * a blocked mask does too. */
	(void)sigaction(SIGPIPE, &dfl, NULL);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	execve("/bin/sh", argv, environ);
	child_fail(report_fd, STAGE_EXEC);
}

static ssize_t read_retry(int fd, void *buf, size_t len)
{
	ssize_t n;

	do
		n = read(fd, buf, len);
	while (n < 0 && errno == EINTR);
	return n;
}

static void reap(pid_t pid)
{
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

pid_t spawn_shell(const struct spawn_params *p, GError **error)
{
	static char arg0[] = "sh";
	static char arg1[] = "-c";
	char *argv[4] = { arg0, arg1, NULL, NULL };
	struct spawn_report report;
	struct rlimit rl;
	int max_fd = 1024;
	int report_pipe[2];
	int fork_errno;
	ssize_t n;
	pid_t pid;

	g_return_val_if_fail(p != NULL && p->command != NULL, -1);
	g_return_val_if_fail(p->stdin_fd > STDERR_FILENO &&
			     p->stdout_fd > STDERR_FILENO, -1);
	g_return_val_if_fail(error == NULL || *error == NULL, -1);

	if (pipe2(report_pipe, O_CLOEXEC) < 0) {
		g_set_error(error, SPAWN_ERROR, 0, "cannot create a pipe: %s",
			    g_strerror(errno));
		return -1;
	}
	report_pipe[0] = spawn_fd_above_stdio(report_pipe[0]);
	report_pipe[1] = spawn_fd_above_stdio(report_pipe[1]);
	if (report_pipe[0] < 0 || report_pipe[1] < 0) {
		int err = errno;

		if (report_pipe[0] >= 0)
			close(report_pipe[0]);
		if (report_pipe[1] >= 0)
			close(report_pipe[1]);
		g_set_error(error, SPAWN_ERROR, 0, "cannot set up a pipe: %s",
			    g_strerror(err));
		return -1;
	}

	/* Everything the child needs is prepared before fork(). */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		max_fd = (int)MIN(rl.rlim_cur, (rlim_t)INT_MAX);
	argv[2] = g_strdup(p->command);

	pid = fork();
	if (pid == 0)
		child(p, argv, report_pipe[1], max_fd);
	fork_errno = errno;
	g_free(argv[2]);
	close(report_pipe[1]);
	if (pid < 0) {
		close(report_pipe[0]);
		g_set_error(error, SPAWN_ERROR, 0, "fork failed: %s",
			    g_strerror(fork_errno));
		return -1;
	}
	/* Also from this side, so that the group exists as soon as we
	 * return and a signal to it right away finds it; EACCES once the
	 * child has exec'd is harmless. */
	if (p->own_group)
		(void)setpgid(pid, pid);

	/* Returns at exec (the pipe closes) or at the child's report. */
	n = read_retry(report_pipe[0], &report, sizeof(report));
	close(report_pipe[0]);
	if (n != (ssize_t)sizeof(report))
		return pid;

	reap(pid);
	switch (report.stage) {
	case STAGE_CHDIR:
		g_set_error(error, SPAWN_ERROR, 0,
			    "cannot change to directory %s: %s", p->workdir,
			    g_strerror(report.err));
		break;
	case STAGE_EXEC:
		g_set_error(error, SPAWN_ERROR, 0, "cannot run /bin/sh: %s",
			    g_strerror(report.err));
		break;
	default:
		g_set_error(error, SPAWN_ERROR, 0,
			    "cannot set up the child process: %s",
			    g_strerror(report.err));
		break;
	}
	return -1;
}
