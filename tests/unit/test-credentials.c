/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Password sources: files (modes, line ends, empty, missing), commands
 * (first line, failures, silence, runaway output) and the terminal (no
 * terminal at all, a pseudo-terminal with echo off, and ^C while asking).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "credentials.h"

static char *tmpdir;

/* ---- passfile ----------------------------------------------------------- */

struct passfile_case {
	const char *name;
	const char *content;
	gssize len;		/* -1: strlen */
	mode_t mode;
	const char *secret;	/* NULL: an error is expected */
	int code;
	const char *in_message;	/* expected in the error message */
};

static const struct passfile_case passfile_cases[] = {
	{ "newline", "hunter2\n", -1, 0600, "hunter2", 0, NULL },
	{ "no-newline", "hunter2", -1, 0600, "hunter2", 0, NULL },
	{ "crlf", "hunter2\r\n", -1, 0600, "hunter2", 0, NULL },
	{ "two-lines", "first one\nsecond\n", -1, 0600, "first one", 0, NULL },
	{ "spaces-kept", " a b \n", -1, 0400, " a b ", 0, NULL },
	{ "mode-0644", "hunter2\n", -1, 0644, NULL, CREDENTIALS_ERROR_FILE,
	  "(mode 0644); chmod 600" },
	{ "mode-0640", "hunter2\n", -1, 0640, NULL, CREDENTIALS_ERROR_FILE,
	  "(mode 0640)" },
	{ "mode-0604", "hunter2\n", -1, 0604, NULL, CREDENTIALS_ERROR_FILE,
	  "accessible by others" },
	{ "empty", "", -1, 0600, NULL, CREDENTIALS_ERROR_EMPTY, "empty" },
	{ "empty-line", "\nsecond\n", -1, 0600, NULL, CREDENTIALS_ERROR_EMPTY,
	  "empty" },
	{ "only-cr", "\r\n", -1, 0600, NULL, CREDENTIALS_ERROR_EMPTY, NULL },
	{ "nul", "ab\0cd\n", 6, 0600, NULL, CREDENTIALS_ERROR_FILE, "NUL" },
};

static char *write_file(const char *name, const char *content, gssize len,
		mode_t mode)
{
	char *path = g_build_filename(tmpdir, name, NULL);
	GError *error = NULL;

	g_file_set_contents(path, content, len, &error);
	g_assert_no_error(error);
	g_assert_cmpint(chmod(path, mode), ==, 0);
	return path;
}

static void check_error(GError *error, int code, const char *in_message)
{
	g_assert_error(error, CREDENTIALS_ERROR, code);
	if (in_message && !strstr(error->message, in_message))
		g_error("message \"%s\" lacks \"%s\"", error->message,
			in_message);
}

static void test_passfile_table(void)
{
	size_t i;

	for (i = 0; i < G_N_ELEMENTS(passfile_cases); i++) {
		const struct passfile_case *c = &passfile_cases[i];
		GError *error = NULL;
		char *path, *secret;

		g_test_message("case %s", c->name);
		path = write_file(c->name, c->content, c->len, c->mode);
		secret = credentials_read_passfile(path, &error);
		if (c->secret) {
			g_assert_no_error(error);
			g_assert_cmpstr(secret, ==, c->secret);
		} else {
			g_assert_null(secret);
			check_error(error, c->code, c->in_message);
			/* Errors name the file, so the user knows which. */
			if (c->code == CREDENTIALS_ERROR_FILE)
				g_assert_nonnull(strstr(error->message, path));
			g_error_free(error);
		}
		credentials_secret_free(secret);
		g_unlink(path);
		g_free(path);
	}
}

static void test_passfile_missing(void)
{
	char *path = g_build_filename(tmpdir, "does-not-exist", NULL);
	GError *error = NULL;

	g_assert_null(credentials_read_passfile(path, &error));
	check_error(error, CREDENTIALS_ERROR_FILE, path);
	g_assert_nonnull(strstr(error->message, g_strerror(ENOENT)));
	g_error_free(error);
	g_free(path);
}

static void test_passfile_not_regular(void)
{
	GError *error = NULL;

	/* A directory, with a safe mode: still refused. */
	g_assert_cmpint(chmod(tmpdir, 0700), ==, 0);
	g_assert_null(credentials_read_passfile(tmpdir, &error));
	check_error(error, CREDENTIALS_ERROR_FILE, "not a regular file");
	g_error_free(error);
}

static void test_passfile_symlink(void)
{
	char *target = write_file("target", "via-link\n", -1, 0600);
	char *link = g_build_filename(tmpdir, "link", NULL);
	GError *error = NULL;
	char *secret;

	/* The link's own mode (0777) does not matter, the file's does. */
	g_assert_cmpint(symlink(target, link), ==, 0);
	secret = credentials_read_passfile(link, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(secret, ==, "via-link");
	credentials_secret_free(secret);

	g_assert_cmpint(chmod(target, 0644), ==, 0);
	g_assert_null(credentials_read_passfile(link, &error));
	check_error(error, CREDENTIALS_ERROR_FILE, "(mode 0644)");
	g_error_free(error);

	g_unlink(link);
	g_unlink(target);
	g_free(link);
	g_free(target);
}

static void test_passfile_long(void)
{
	GError *error = NULL;
	char *content, *path, *secret;

	/* 4096 bytes is the longest accepted line ... */
	content = g_strnfill(4096, 'x');
	path = write_file("long", content, -1, 0600);
	secret = credentials_read_passfile(path, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(secret, ==, content);
	credentials_secret_free(secret);
	g_unlink(path);
	g_free(content);
	g_free(path);

	/* ... with its line end too ... */
	content = g_strnfill(4097, 'x');
	content[4096] = '\n';
	path = write_file("long-nl", content, -1, 0600);
	secret = credentials_read_passfile(path, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(strlen(secret), ==, 4096);
	credentials_secret_free(secret);
	g_unlink(path);
	g_free(content);
	g_free(path);

	/* ... and one byte more is refused rather than cut short. */
	content = g_strnfill(5000, 'x');
	path = write_file("too-long", content, -1, 0600);
	g_assert_null(credentials_read_passfile(path, &error));
	check_error(error, CREDENTIALS_ERROR_FILE, "longer than");
	g_error_free(error);
	g_unlink(path);
	g_free(content);
	g_free(path);
}

/* ---- passcmd ------------------------------------------------------------ */

struct passcmd_case {
	const char *command;
	const char *secret;	/* NULL: an error is expected */
	int code;
	const char *in_message;
};

static const struct passcmd_case passcmd_cases[] = {
	{ "printf 'sec ret\\nsecond\\n'", "sec ret", 0, NULL },
	{ "printf 'no-newline'", "no-newline", 0, NULL },
	{ "printf 'crlf\\r\\n'", "crlf", 0, NULL },
	{ "echo out; echo err >&2", "out", 0, NULL },
	{ "exit 3", NULL, CREDENTIALS_ERROR_COMMAND,
	  "password command failed (exit status 3)" },
	{ "echo printed-but-failed; exit 1", NULL, CREDENTIALS_ERROR_COMMAND,
	  "exit status 1" },
	{ "true", NULL, CREDENTIALS_ERROR_COMMAND, "printed nothing" },
	{ "echo", NULL, CREDENTIALS_ERROR_EMPTY, "empty line" },
	/* stdin is /dev/null: cat sees EOF at once instead of hanging. */
	{ "cat", NULL, CREDENTIALS_ERROR_COMMAND, "printed nothing" },
	{ "kill -TERM $$", NULL, CREDENTIALS_ERROR_COMMAND, "signal 15" },
	{ "/nonexistent/command", NULL, CREDENTIALS_ERROR_COMMAND,
	  "exit status 127" },
	/* Never ends by itself: killed after 64 KiB. */
	{ "yes", NULL, CREDENTIALS_ERROR_COMMAND, "more than 64 KiB" },
};

/* Long enough never to be reached by a command that works. */
#define PASSCMD_TIMEOUT_MS	(10 * 1000)

static char *run_passcmd(const char *command, GError **error)
{
	return credentials_run_passcmd(command, NULL, PASSCMD_TIMEOUT_MS,
				       error);
}

static gint64 elapsed_ms(gint64 start)
{
	return (g_get_monotonic_time() - start) / 1000;
}

static void test_passcmd_table(void)
{
	size_t i;

	for (i = 0; i < G_N_ELEMENTS(passcmd_cases); i++) {
		const struct passcmd_case *c = &passcmd_cases[i];
		GError *error = NULL;
		char *secret;

		g_test_message("command %s", c->command);
		secret = run_passcmd(c->command, &error);
		if (c->secret) {
			g_assert_no_error(error);
			g_assert_cmpstr(secret, ==, c->secret);
		} else {
			g_assert_null(secret);
			check_error(error, c->code, c->in_message);
			g_error_free(error);
		}
		credentials_secret_free(secret);
	}
}

static void test_passcmd_fds(void)
{
	GError *error = NULL;
	char *secret;
	int fd;

	/* A descriptor of ours without close-on-exec must not leak into the
	 * command; "ls" itself holds one for the directory. */
	fd = open("/dev/null", O_RDONLY);
	g_assert_cmpint(fd, >=, 0);
	secret = run_passcmd("exec ls /proc/self/fd | tr '\\n' ' '", &error);
	g_assert_no_error(error);
	g_assert_cmpstr(secret, ==, "0 1 2 3 ");
	credentials_secret_free(secret);
	close(fd);
}

/* True when the process is gone within 3 s (reaped, or a zombie of some
 * other parent). */
static bool process_gone(pid_t pid)
{
	gint64 until = g_get_monotonic_time() + 3 * G_USEC_PER_SEC;
	char *path = g_strdup_printf("/proc/%d/stat", (int)pid);
	bool gone = false;
	char *stat;

	while (!gone && g_get_monotonic_time() < until) {
		if (!g_file_get_contents(path, &stat, NULL, NULL)) {
			gone = true;
		} else {
			const char *end = strrchr(stat, ')');

			gone = end && end[1] == ' ' && end[2] == 'Z';
			g_free(stat);
		}
		if (!gone)
			g_usleep(10000);
	}
	g_free(path);
	return gone;
}

/* The pid a command wrote to tmpdir/name (then removed). */
static pid_t read_pid_file(const char *name)
{
	char *path = g_build_filename(tmpdir, name, NULL);
	char *text = NULL;
	pid_t pid;

	g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
	pid = (pid_t)atoi(text);
	g_assert_cmpint(pid, >, 1);
	g_unlink(path);
	g_free(path);
	g_free(text);
	return pid;
}

static void test_passcmd_background_child(void)
{
	/* Each leaves a sleep holding the output pipe open; its stderr
	 * goes elsewhere so that it holds nothing of the test runner's. */
	static const char *const commands[] = {
		"sleep 30 2>/dev/null & echo $! >@; echo pw-bg",
		"echo pw-bg; sleep 30 2>/dev/null & echo $! >@",
		"(sleep 30 2>/dev/null & echo $! >@); echo pw-bg",
	};

	for (size_t i = 0; i < G_N_ELEMENTS(commands); i++) {
		char *path = g_build_filename(tmpdir, "bg-pid", NULL);
		char **parts = g_strsplit(commands[i], "@", -1);
		char *command = g_strjoinv(path, parts);
		GError *error = NULL;
		char *secret;
		gint64 start;
		pid_t bg;

		g_test_message("command %s", command);
		start = g_get_monotonic_time();
		secret = run_passcmd(command, &error);
		g_assert_no_error(error);
		g_assert_cmpstr(secret, ==, "pw-bg");
		/* Not the sleep's 30 s, nor the 10 s bound. */
		g_assert_cmpint(elapsed_ms(start), <, 2000);
		credentials_secret_free(secret);
		bg = read_pid_file("bg-pid");
		kill(bg, SIGKILL);
		g_strfreev(parts);
		g_free(command);
		g_free(path);
	}
}

static void test_passcmd_deadline(void)
{
	char *path = g_build_filename(tmpdir, "pid", NULL);
	char *command;
	GError *error = NULL;
	gint64 start, ms;
	pid_t pid;

	/* Never prints, never ends (as a pinentry nobody answers). */
	command = g_strdup_printf("echo $$ >%s; exec sleep 30", path);
	start = g_get_monotonic_time();
	g_assert_null(credentials_run_passcmd(command, NULL, 300, &error));
	ms = elapsed_ms(start);
	g_assert_cmpint(ms, >=, 300);
	g_assert_cmpint(ms, <, 2000);
	check_error(error, CREDENTIALS_ERROR_COMMAND,
		    "password command did not finish within 300 ms");
	g_assert_null(strchr(error->message, '\n'));
	g_clear_error(&error);
	/* Killed and reaped, not left behind. */
	pid = read_pid_file("pid");
	g_assert_true(process_gone(pid));
	g_free(command);

	/* Output closed, but still running: the bound holds as well. */
	command = g_strdup("echo pw; exec >&-; exec sleep 30");
	start = g_get_monotonic_time();
	g_assert_null(credentials_run_passcmd(command, NULL, 1000, &error));
	g_assert_cmpint(elapsed_ms(start), <, 3000);
	check_error(error, CREDENTIALS_ERROR_COMMAND, "within 1 s");
	g_clear_error(&error);
	g_free(command);
	g_free(path);
}

static void test_passcmd_workdir(void)
{
	char *sub = g_build_filename(tmpdir, "work dir", NULL);
	char *missing = g_build_filename(tmpdir, "missing", NULL);
	char *want, *secret;
	GError *error = NULL;

	g_assert_cmpint(g_mkdir(sub, 0700), ==, 0);
	secret = credentials_run_passcmd("pwd -P", sub, PASSCMD_TIMEOUT_MS,
					 &error);
	g_assert_no_error(error);
	want = realpath(sub, NULL);
	g_assert_cmpstr(secret, ==, want);
	credentials_secret_free(secret);
	free(want);

	/* A working directory that is gone: said as such, not as "exit
	 * status 127". */
	g_assert_null(credentials_run_passcmd("echo pw", missing,
					      PASSCMD_TIMEOUT_MS, &error));
	check_error(error, CREDENTIALS_ERROR_COMMAND, "cannot change to");
	g_assert_nonnull(strstr(error->message, missing));
	g_clear_error(&error);

	g_rmdir(sub);
	g_free(sub);
	g_free(missing);
}

static void test_secret_free_null(void)
{
	credentials_secret_free(NULL);
	credentials_secret_free(g_strdup(""));
}

/* ---- prompt ------------------------------------------------------------- */

/* Wait for a forked child, for at most 10 s; returns its wait status. */
static int wait_child(pid_t pid)
{
	gint64 until = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
	int status;
	pid_t r;

	while ((r = waitpid(pid, &status, WNOHANG)) == 0 &&
	       g_get_monotonic_time() < until)
		g_usleep(10000);
	if (r == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		g_error("child %d did not finish in time", (int)pid);
	}
	g_assert_cmpint(r, ==, pid);
	return status;
}

static void test_prompt_no_terminal(void)
{
	int status;
	pid_t pid;

	pid = fork();
	g_assert_cmpint(pid, >=, 0);
	if (pid == 0) {
		GError *error = NULL;
		char *secret;

		/* A new session has no controlling terminal. */
		if (setsid() < 0)
			_exit(2);
		secret = credentials_prompt("Password: ", &error);
		if (secret || !g_error_matches(error, CREDENTIALS_ERROR,
				CREDENTIALS_ERROR_NO_TERMINAL))
			_exit(3);
		if (!strstr(error->message, "passfile") ||
		    !strstr(error->message, "passcmd"))
			_exit(4);
		g_error_free(error);
		_exit(0);
	}
	status = wait_child(pid);
	g_assert_true(WIFEXITED(status));
	g_assert_cmpint(WEXITSTATUS(status), ==, 0);
}

/* A child in its own session with a pseudo-terminal as its controlling
 * terminal; *master_r is our side. */
static pid_t fork_on_pty(int *master_r, int *slave_r)
{
	char name[128];
	int master;
	pid_t pid;

	master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	g_assert_cmpint(master, >=, 0);
	g_assert_cmpint(grantpt(master), ==, 0);
	g_assert_cmpint(unlockpt(master), ==, 0);
	g_assert_cmpint(ptsname_r(master, name, sizeof(name)), ==, 0);

	pid = fork();
	g_assert_cmpint(pid, >=, 0);
	if (pid == 0) {
		close(master);
		if (setsid() < 0)
			_exit(2);
		/* Opened without O_NOCTTY by a session leader: it becomes
		 * our controlling terminal. */
		*slave_r = open(name, O_RDWR);
		if (*slave_r < 0)
			_exit(2);
		*master_r = -1;
		return 0;
	}
	*master_r = master;
	return pid;
}

/* Read from the master into out until it contains `want` (or, with want
 * NULL, until the slave side is gone); at most 10 s. */
static void read_master(int master, GString *out, const char *want)
{
	gint64 until = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
	struct pollfd pfd = { .fd = master, .events = POLLIN };
	char buf[256];
	ssize_t n;

	while (!want || !strstr(out->str, want)) {
		g_assert_cmpint(g_get_monotonic_time(), <, until);
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		n = read(master, buf, sizeof(buf));
		if (n <= 0) {
			/* EIO: every slave descriptor is closed. */
			g_assert_null(want);
			return;
		}
		g_string_append_len(out, buf, n);
	}
}

static bool echo_is_on(int fd)
{
	struct termios t;

	return tcgetattr(fd, &t) == 0 && (t.c_lflag & ECHO);
}

static void test_prompt_pty(void)
{
	GString *out;
	int master, slave;
	int status;
	pid_t pid;

	pid = fork_on_pty(&master, &slave);
	if (pid == 0) {
		GError *error = NULL;
		char *secret;

		if (!echo_is_on(slave))
			_exit(5);
		secret = credentials_prompt("Secret please: ", &error);
		if (!secret || strcmp(secret, "hunter2 x") != 0)
			_exit(3);
		credentials_secret_free(secret);
		/* Echo is back on afterwards. */
		_exit(echo_is_on(slave) ? 0 : 4);
	}
	/* Allocated after the fork, which the child leaves by _exit(). */
	out = g_string_new(NULL);
	read_master(master, out, "Secret please: ");
	g_assert_cmpint(write(master, "hunter2 x\n", 10), ==, 10);
	read_master(master, out, NULL);
	status = wait_child(pid);
	g_assert_true(WIFEXITED(status));
	g_assert_cmpint(WEXITSTATUS(status), ==, 0);
	/* Not echoed; the line end is ours, after the prompt. */
	g_assert_null(strstr(out->str, "hunter2"));
	g_assert_cmpstr(out->str, ==, "Secret please: \r\n");
	close(master);
	g_string_free(out, TRUE);
}

static volatile sig_atomic_t got_sigint;

static void on_sigint(int sig)
{
	(void)sig;
	got_sigint = 1;
}

static void test_prompt_interrupted(void)
{
	GString *out;
	int master, slave;
	int status;
	pid_t pid;

	pid = fork_on_pty(&master, &slave);
	if (pid == 0) {
		struct sigaction sa = { .sa_handler = on_sigint }, now;
		GError *error = NULL;
		char *secret;

		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, NULL);
		secret = credentials_prompt(NULL, &error);
		if (secret || !error)
			_exit(3);
		/* The terminal was restored, then our own handler ran. */
		if (!echo_is_on(slave))
			_exit(4);
		if (!got_sigint)
			_exit(5);
		sigaction(SIGINT, NULL, &now);
		_exit(now.sa_handler == on_sigint ? 0 : 6);
	}
	/* Allocated after the fork, which the child leaves by _exit(). */
	out = g_string_new(NULL);
	read_master(master, out, "Password: ");
	g_assert_cmpint(kill(pid, SIGINT), ==, 0);
	status = wait_child(pid);
	g_assert_true(WIFEXITED(status));
	g_assert_cmpint(WEXITSTATUS(status), ==, 0);
	close(master);
	g_string_free(out, TRUE);
}

int main(int argc, char **argv)
{
	GError *error = NULL;
	int rc;

	g_test_init(&argc, &argv, NULL);
	tmpdir = g_dir_make_tmp("test-credentials-XXXXXX", &error);
	g_assert_no_error(error);

	g_test_add_func("/credentials/passfile/table", test_passfile_table);
	g_test_add_func("/credentials/passfile/missing",
			test_passfile_missing);
	g_test_add_func("/credentials/passfile/not-regular",
			test_passfile_not_regular);
	g_test_add_func("/credentials/passfile/symlink",
			test_passfile_symlink);
	g_test_add_func("/credentials/passfile/long", test_passfile_long);
	g_test_add_func("/credentials/passcmd/table", test_passcmd_table);
	g_test_add_func("/credentials/passcmd/fds", test_passcmd_fds);
	g_test_add_func("/credentials/passcmd/background-child",
			test_passcmd_background_child);
	g_test_add_func("/credentials/passcmd/deadline",
			test_passcmd_deadline);
	g_test_add_func("/credentials/passcmd/workdir", test_passcmd_workdir);
	g_test_add_func("/credentials/secret-free-null",
			test_secret_free_null);
	g_test_add_func("/credentials/prompt/no-terminal",
			test_prompt_no_terminal);
	g_test_add_func("/credentials/prompt/pty", test_prompt_pty);
	g_test_add_func("/credentials/prompt/interrupted",
			test_prompt_interrupted);
	rc = g_test_run();

	g_rmdir(tmpdir);
	g_free(tmpdir);
	return rc;
}
