/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Starting a shell command as a child process, the one way imapfs does it
 * (the password command and the tunnel): "/bin/sh -c COMMAND" with the
 * given standard input and output, our standard error, no other
 * descriptor, SIGPIPE at its default and no signal blocked.
 *
 * Only async-signal-safe calls run between fork() and exec, since the
 * caller may have other threads (one of which may hold the malloc lock).
 */
#ifndef IMAPFS_SPAWN_H
#define IMAPFS_SPAWN_H

#include <glib.h>
#include <stdbool.h>
#include <sys/types.h>

#define SPAWN_ERROR (spawn_error_quark())
GQuark spawn_error_quark(void);

struct spawn_params {
	const char *command;	/* given to /bin/sh -c */
	int stdin_fd;		/* the child's 0; must be above 2 */
	int stdout_fd;		/* the child's 1; must be above 2 */
	const char *workdir;	/* where it runs; NULL: where we are */
	/* A process group of its own, led by the child (so that the whole
	 * group can be signalled); else it stays in ours. */
	bool own_group;
};

/*
 * Start the command.  Returns its pid, or -1 with *error set to one line
 * saying what failed (fork, the working directory, exec).  Failures in the
 * child before exec are reported here rather than as exit status 127.
 * The caller reaps the child.
 */
pid_t spawn_shell(const struct spawn_params *params, GError **error);

/*
 * fd itself if it is above 2, else a close-on-exec duplicate above 2 (and
 * fd is closed); -1 on failure.  A descriptor that becomes a child's 0 or
 * 1 must not itself be 0, 1 or 2: if imapfs runs with a standard stream
 * closed, a new descriptor can land there and be clobbered by the child's
 * dup2() calls.
 */
int spawn_fd_above_stdio(int fd);

#endif
