/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The spawn helper: what the child gets (descriptors, working directory,
 * process group, signals) and how failures before exec are reported.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "spawn.h"
#include "testutil.h"

static char *tmpdir;

/* Run command with stdin from /dev/null; returns its whole output and
 * sets *status_r to its wait status. */
static char *run(const char *command, const char *workdir, bool own_group,
		int *status_r)
{
	struct spawn_params p = {
		.command = command,
		.workdir = workdir,
		.own_group = own_group,
	};
	GString *out = g_string_new(NULL);
	GError *error = NULL;
	int pipefd[2];
	char buf[256];
	ssize_t n;
	pid_t pid;

	g_assert_cmpint(pipe2(pipefd, O_CLOEXEC), ==, 0);
	p.stdin_fd = spawn_fd_above_stdio(open("/dev/null",
					       O_RDONLY | O_CLOEXEC));
	p.stdout_fd = spawn_fd_above_stdio(pipefd[1]);
	pipefd[0] = spawn_fd_above_stdio(pipefd[0]);
	g_assert_cmpint(p.stdin_fd, >, 2);
	pid = spawn_shell(&p, &error);
	g_assert_no_error(error);
	g_assert_cmpint(pid, >, 0);
	close(p.stdin_fd);
	close(p.stdout_fd);
	while ((n = read(pipefd[0], buf, sizeof(buf))) > 0 ||
	       (n < 0 && errno == EINTR))
		if (n > 0)
			g_string_append_len(out, buf, n);
	close(pipefd[0]);
	g_assert_cmpint(waitpid(pid, status_r, 0), ==, pid);
	return g_string_free(out, FALSE);
}

static char *run_ok(const char *command, const char *workdir,
		bool own_group)
{
	int status;
	char *out = run(command, workdir, own_group, &status);

	g_assert_true(WIFEXITED(status));
	g_assert_cmpint(WEXITSTATUS(status), ==, 0);
	return out;
}

static void test_output_and_input(void)
{
	char *out = run_ok("echo hello; cat; echo done", NULL, false);

	/* stdin is what we gave (/dev/null: cat ends at once). */
	g_assert_cmpstr(out, ==, "hello\ndone\n");
	g_free(out);
}

static void test_fds(void)
{
	int fd = open("/dev/null", O_RDONLY);	/* no close-on-exec */
	char *out;

	g_assert_cmpint(fd, >=, 0);
	/* ls holds 3 for the listing; nothing else of ours is there. */
	out = run_ok("exec ls /proc/self/fd", NULL, false);
	g_assert_cmpstr(out, ==, "0\n1\n2\n3\n");
	g_free(out);
	close(fd);
}

static void test_workdir(void)
{
	char *sub = g_build_filename(tmpdir, "a dir", NULL);
	char *want, *out, *here, *missing;
	GError *error = NULL;
	struct spawn_params p = { .command = "true" };
	pid_t pid;

	g_assert_cmpint(g_mkdir(sub, 0700), ==, 0);
	out = run_ok("pwd -P", sub, false);
	here = realpath(sub, NULL);
	g_assert_nonnull(here);
	want = g_strconcat(here, "\n", NULL);
	g_assert_cmpstr(out, ==, want);
	free(here);
	g_free(out);
	g_free(want);

	/* NULL: where we are. */
	here = g_get_current_dir();
	out = run_ok("pwd", NULL, false);
	want = g_strconcat(here, "\n", NULL);
	g_assert_cmpstr(out, ==, want);
	g_free(out);
	g_free(want);
	g_free(here);

	/* Gone: reported as such, and no child is left to reap. */
	missing = g_build_filename(tmpdir, "missing", NULL);
	p.workdir = missing;
	p.stdin_fd = spawn_fd_above_stdio(open("/dev/null", O_RDONLY));
	p.stdout_fd = p.stdin_fd;
	pid = spawn_shell(&p, &error);
	g_assert_cmpint(pid, ==, -1);
	g_assert_error(error, SPAWN_ERROR, 0);
	g_assert_nonnull(strstr(error->message, missing));
	g_assert_nonnull(strstr(error->message, g_strerror(ENOENT)));
	g_clear_error(&error);
	g_assert_cmpint(waitpid(-1, NULL, WNOHANG), ==, -1);
	g_assert_cmpint(errno, ==, ECHILD);
	close(p.stdin_fd);

	g_rmdir(sub);
	g_free(sub);
	g_free(missing);
}

/* Field n (1-based, after the command name) of /proc/PID/stat as printed
 * by the command itself. */
static long stat_field(const char *stat, int n)
{
	const char *p = strrchr(stat, ')');
	char **f;
	long v;

	g_assert_nonnull(p);
	f = g_strsplit(p + 2, " ", -1);
	g_assert_cmpuint(g_strv_length(f), >, (guint)n);
	v = atol(f[n - 1]);
	g_strfreev(f);
	return v;
}

static void test_process_group(void)
{
	char *out;

	/* After ")": state ppid pgrp. */
	out = run_ok("exec cat /proc/self/stat", NULL, true);
	g_assert_cmpint(stat_field(out, 3), ==, atol(out));
	g_assert_cmpint(stat_field(out, 3), !=, getpgrp());
	g_free(out);

	out = run_ok("exec cat /proc/self/stat", NULL, false);
	g_assert_cmpint(stat_field(out, 3), ==, getpgrp());
	g_free(out);
}

static void test_signals(void)
{
	struct sigaction ign = { .sa_handler = SIG_IGN }, old;
	sigset_t block, saved;
	char *out, *p;

	/* Ignored and blocked here; neither in the command. */
	sigemptyset(&ign.sa_mask);
	g_assert_cmpint(sigaction(SIGPIPE, &ign, &old), ==, 0);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGUSR1);
	g_assert_cmpint(sigprocmask(SIG_BLOCK, &block, &saved), ==, 0);
	out = run_ok("exec grep -E '^Sig(Ign|Blk):' /proc/self/status",
		     NULL, false);
	sigprocmask(SIG_SETMASK, &saved, NULL);
	sigaction(SIGPIPE, &old, NULL);

	p = strstr(out, "SigBlk:");
	g_assert_nonnull(p);
	g_assert_cmpuint(g_ascii_strtoull(p + 7, NULL, 16), ==, 0);
	p = strstr(out, "SigIgn:");
	g_assert_nonnull(p);
	g_assert_cmpuint(g_ascii_strtoull(p + 7, NULL, 16) &
			 (1ULL << (SIGPIPE - 1)), ==, 0);
	g_free(out);
}

static void test_exit_status(void)
{
	int status;
	char *out = run("echo x; exit 3", NULL, false, &status);

	g_assert_cmpstr(out, ==, "x\n");
	g_assert_true(WIFEXITED(status));
	g_assert_cmpint(WEXITSTATUS(status), ==, 3);
	g_free(out);
}

int main(int argc, char **argv)
{
	GError *error = NULL;
	int rc;

	g_test_init(&argc, &argv, NULL);
	tmpdir = g_dir_make_tmp("test-spawn-XXXXXX", &error);
	g_assert_no_error(error);

	g_test_add_func("/spawn/output-and-input", test_output_and_input);
	g_test_add_func("/spawn/fds", test_fds);
	g_test_add_func("/spawn/workdir", test_workdir);
	g_test_add_func("/spawn/process-group", test_process_group);
	g_test_add_func("/spawn/signals", test_signals);
	g_test_add_func("/spawn/exit-status", test_exit_status);
	rc = g_test_run();

	g_rmdir(tmpdir);
	g_free(tmpdir);
	return rc;
}
