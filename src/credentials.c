/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Passwords from a file, a command or the terminal.
 *
 * Every buffer that may have held a secret is wiped with explicit_bzero()
 * before it is freed or goes out of scope, including partial reads.
 * Secrets never pass through GString or g_strdup_printf(), whose
 * reallocations would leave copies behind.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "credentials.h"
#include "spawn.h"

#define SECRET_MAX		4096		/* longest line we keep */
#define PASSCMD_OUTPUT_MAX	(64 * 1024)	/* beyond: kill it */

G_DEFINE_QUARK(credentials-error-quark, credentials_error)

void credentials_secret_free(char *secret)
{
	if (!secret)
		return;
	explicit_bzero(secret, strlen(secret));
	g_free(secret);
}

/*
 * The first line of buf[0..len) as a new secret: up to the first LF, minus
 * one CR before it.  Returns NULL with *empty set when that line is empty,
 * or with *has_nul set when it contains a NUL byte (which would silently
 * cut the password short).
 */
static char *first_line(const char *buf, size_t len, bool *empty,
		bool *has_nul)
{
	const char *nl = memchr(buf, '\n', len);
	char *secret;

	*empty = false;
	*has_nul = false;
	if (nl)
		len = (size_t)(nl - buf);
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	if (len == 0) {
		*empty = true;
		return NULL;
	}
	if (memchr(buf, '\0', len)) {
		*has_nul = true;
		return NULL;
	}
	secret = g_malloc(len + 1);
	memcpy(secret, buf, len);
	secret[len] = '\0';
	return secret;
}

static ssize_t read_retry(int fd, void *buf, size_t len)
{
	ssize_t n;

	do
		n = read(fd, buf, len);
	while (n < 0 && errno == EINTR);
	return n;
}

/* ---- passfile ----------------------------------------------------------- */

char *credentials_read_passfile(const char *path, GError **error)
{
	/* One byte more than we keep, to tell "exactly 4 KiB" from "more". */
	char buf[SECRET_MAX + 1];
	char *secret = NULL;
	bool empty = false, has_nul = false;
	const char *nl;
	struct stat st;
	size_t len = 0;
	ssize_t n;
	int fd;

	g_return_val_if_fail(path != NULL, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	/* Symlinks are fine (password stores use them); what counts is the
	 * file actually opened, hence fstat() rather than stat(). */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		g_set_error(error, CREDENTIALS_ERROR, CREDENTIALS_ERROR_FILE,
			    "cannot open password file %s: %s", path,
			    g_strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0) {
		g_set_error(error, CREDENTIALS_ERROR, CREDENTIALS_ERROR_FILE,
			    "cannot stat password file %s: %s", path,
			    g_strerror(errno));
		goto out;
	}
	/* Not a FIFO or a device, which could block the mount for ever. */
	if (!S_ISREG(st.st_mode)) {
		g_set_error(error, CREDENTIALS_ERROR, CREDENTIALS_ERROR_FILE,
			    "password file %s is not a regular file", path);
		goto out;
	}
	if (st.st_mode & 077) {
		g_set_error(error, CREDENTIALS_ERROR, CREDENTIALS_ERROR_FILE,
			    "password file %s is accessible by others (mode %04o); chmod 600 it",
			    path, (unsigned int)(st.st_mode & 07777));
		goto out;
	}

	while (len < sizeof(buf)) {
		n = read_retry(fd, buf + len, sizeof(buf) - len);
		if (n < 0) {
			g_set_error(error, CREDENTIALS_ERROR,
				    CREDENTIALS_ERROR_FILE,
				    "cannot read password file %s: %s", path,
				    g_strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	nl = memchr(buf, '\n', len);
	if ((nl ? (size_t)(nl - buf) : len) > SECRET_MAX) {
		g_set_error(error, CREDENTIALS_ERROR, CREDENTIALS_ERROR_FILE,
			    "the first line of password file %s is longer than %d bytes",
			    path, SECRET_MAX);
		goto out;
	}
	secret = first_line(buf, len, &empty, &has_nul);
	if (empty)
		g_set_error(error, CREDENTIALS_ERROR, CREDENTIALS_ERROR_EMPTY,
			    "password file %s is empty", path);
	else if (has_nul)
		g_set_error(error, CREDENTIALS_ERROR, CREDENTIALS_ERROR_FILE,
			    "password file %s contains a NUL byte", path);

out:
	explicit_bzero(buf, sizeof(buf));
	close(fd);
	return secret;
}

/* ---- passcmd ------------------------------------------------------------ */

/* How often we look whether the command has exited while its output is
 * quiet (there is no portable way to poll() for that). */
#define PASSCMD_CHECK_MS	20

struct passcmd_run {
	pid_t pid;
	int fd;			/* our end of its stdout, non-blocking */
	gint64 deadline;	/* monotonic, µs */
	char *buf;		/* SECRET_MAX bytes */
	size_t len;		/* kept in buf */
	size_t total;		/* printed in all */
	bool eof;
	bool exited;		/* reaped; status holds how it ended */
	int status;
	int read_errno;
};

static int ms_until(gint64 deadline)
{
	gint64 left = deadline - g_get_monotonic_time();

	if (left <= 0)
		return 0;
	return (int)MIN((left + 999) / 1000, (gint64)INT_MAX);
}

/* Reap the command if it has exited; true once it has. */
static bool passcmd_check_exit(struct passcmd_run *run)
{
	pid_t r;

	if (run->exited)
		return true;
	do
		r = waitpid(run->pid, &run->status, WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r == run->pid || (r < 0 && errno == ECHILD)) {
		/* ECHILD: SIGCHLD ignored, so the exit status is lost. */
		if (r < 0)
			run->status = 0;
		run->exited = true;
	}
	return run->exited;
}

/* Read what is there now, up to end of file, an error, or more than
 * PASSCMD_OUTPUT_MAX in all. */
static void passcmd_read_some(struct passcmd_run *run)
{
	char scratch[4096];
	ssize_t n;

	for (;;) {
		if (run->len < SECRET_MAX)
			n = read(run->fd, run->buf + run->len,
				 SECRET_MAX - run->len);
		else
			n = read(run->fd, scratch, sizeof(scratch));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0) {
			run->read_errno = errno;
			break;
		}
		if (n == 0) {
			run->eof = true;
			break;
		}
		if (run->len < SECRET_MAX)
			run->len += (size_t)n;
		run->total += (size_t)n;
		if (run->total > PASSCMD_OUTPUT_MAX)
			break;
	}
	explicit_bzero(scratch, sizeof(scratch));
}

/*
 * Collect the output until the command has exited and its output has
 * ended, or until the deadline.  Once the command itself has exited,
 * whatever it wrote is in the pipe: what is not readable at once would
 * come from a background process it left behind holding the pipe, which
 * we do not wait for.  Returns false at the deadline.
 */
static bool passcmd_collect(struct passcmd_run *run)
{
	struct pollfd pfd = { .fd = run->fd, .events = POLLIN };
	int n, wait_ms;

	for (;;) {
		bool exited = passcmd_check_exit(run);

		if (!run->eof) {
			/* After the exit: only what is readable now. */
			wait_ms = exited ? 0 : MIN(ms_until(run->deadline),
						   PASSCMD_CHECK_MS);
			n = poll(&pfd, 1, wait_ms);
			if (n < 0 && errno != EINTR) {
				run->read_errno = errno;
				return true;
			}
			if (n > 0) {
				passcmd_read_some(run);
				if (run->read_errno ||
				    run->total > PASSCMD_OUTPUT_MAX)
					return true;
			} else if (n == 0 && exited) {
				return true;
			}
		} else if (exited) {
			return true;
		} else {
			/* Output closed, the command still running. */
			(void)poll(NULL, 0, MIN(ms_until(run->deadline),
						 PASSCMD_CHECK_MS));
		}
		if (!run->exited && g_get_monotonic_time() >= run->deadline)
			return passcmd_check_exit(run);
	}
}

static void passcmd_kill(struct passcmd_run *run)
{
	/* Not reaped yet, so the pid is still the command's. */
	if (run->exited)
		return;
	(void)kill(run->pid, SIGKILL);
	while (waitpid(run->pid, &run->status, 0) < 0 && errno == EINTR)
		;
	run->exited = true;
}

static void set_timeout_error(GError **error, int timeout_ms)
{
	if (timeout_ms % 1000 == 0)
		g_set_error(error, CREDENTIALS_ERROR, CREDENTIALS_ERROR_COMMAND,
			    "password command did not finish within %d s; "
			    "killed it", timeout_ms / 1000);
	else
		g_set_error(error, CREDENTIALS_ERROR, CREDENTIALS_ERROR_COMMAND,
			    "password command did not finish within %d ms; "
			    "killed it", timeout_ms);
}

char *credentials_run_passcmd(const char *command, const char *workdir,
		int timeout_ms, GError **error)
{
	struct spawn_params params = {
		.command = command,
		.workdir = workdir,
		/* Our process group and session: pass(1) and gpg's pinentry
		 * may need the terminal, and a ^C there should reach them
		 * too. */
		.own_group = false,
	};
	char buf[SECRET_MAX];
	struct passcmd_run run = { .buf = buf, .fd = -1 };
	char *secret = NULL;
	bool empty = false, has_nul = false;
	bool in_time;
	GError *local = NULL;
	int null_fd, pipefd[2];

	g_return_val_if_fail(command != NULL, NULL);
	g_return_val_if_fail(timeout_ms > 0, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	null_fd = spawn_fd_above_stdio(open("/dev/null",
					    O_RDONLY | O_CLOEXEC));
	if (null_fd < 0) {
		g_set_error(error, CREDENTIALS_ERROR, CREDENTIALS_ERROR_COMMAND,
			    "cannot open /dev/null: %s", g_strerror(errno));
		return NULL;
	}
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		g_set_error(error, CREDENTIALS_ERROR, CREDENTIALS_ERROR_COMMAND,
			    "cannot create a pipe: %s", g_strerror(errno));
		close(null_fd);
		return NULL;
	}
	pipefd[0] = spawn_fd_above_stdio(pipefd[0]);
	pipefd[1] = spawn_fd_above_stdio(pipefd[1]);
	if (pipefd[0] < 0 || pipefd[1] < 0 ||
	    fcntl(pipefd[0], F_SETFL, O_NONBLOCK) < 0) {
		g_set_error(error, CREDENTIALS_ERROR, CREDENTIALS_ERROR_COMMAND,
			    "cannot set up a pipe: %s", g_strerror(errno));
		run.pid = -1;
		goto close_fds;
	}

	params.stdin_fd = null_fd;
	params.stdout_fd = pipefd[1];
	run.deadline = g_get_monotonic_time() +
		       (gint64)timeout_ms * 1000;
	run.pid = spawn_shell(&params, &local);
	if (run.pid < 0) {
		g_set_error(error, CREDENTIALS_ERROR, CREDENTIALS_ERROR_COMMAND,
			    "cannot start the password command: %s",
			    local->message);
		g_error_free(local);
	}

close_fds:
	close(null_fd);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	if (run.pid < 0) {
		if (pipefd[0] >= 0)
			close(pipefd[0]);
		return NULL;
	}

	run.fd = pipefd[0];
	in_time = passcmd_collect(&run);
	close(run.fd);
	/* Still running only when we gave up on it. */
	passcmd_kill(&run);

	if (!in_time) {
		set_timeout_error(error, timeout_ms);
	} else if (run.total > PASSCMD_OUTPUT_MAX) {
		g_set_error(error, CREDENTIALS_ERROR, CREDENTIALS_ERROR_COMMAND,
			    "password command printed more than %d KiB",
			    PASSCMD_OUTPUT_MAX / 1024);
	} else if (run.read_errno != 0) {
		g_set_error(error, CREDENTIALS_ERROR, CREDENTIALS_ERROR_COMMAND,
			    "cannot read the password command's output: %s",
			    g_strerror(run.read_errno));
	} else if (WIFSIGNALED(run.status)) {
		g_set_error(error, CREDENTIALS_ERROR, CREDENTIALS_ERROR_COMMAND,
			    "password command killed by signal %d (%s)",
			    WTERMSIG(run.status),
			    g_strsignal(WTERMSIG(run.status)));
	} else if (WIFEXITED(run.status) && WEXITSTATUS(run.status) != 0) {
		g_set_error(error, CREDENTIALS_ERROR, CREDENTIALS_ERROR_COMMAND,
			    "password command failed (exit status %d)",
			    WEXITSTATUS(run.status));
	} else if (run.len == 0) {
		g_set_error(error, CREDENTIALS_ERROR, CREDENTIALS_ERROR_COMMAND,
			    "password command printed nothing");
	} else if (run.len == SECRET_MAX && !memchr(buf, '\n', run.len)) {
		g_set_error(error, CREDENTIALS_ERROR, CREDENTIALS_ERROR_COMMAND,
			    "password command printed a line longer than %d bytes",
			    SECRET_MAX);
	} else {
		secret = first_line(buf, run.len, &empty, &has_nul);
		if (empty)
			g_set_error(error, CREDENTIALS_ERROR,
				    CREDENTIALS_ERROR_EMPTY,
				    "password command printed an empty line");
		else if (has_nul)
			g_set_error(error, CREDENTIALS_ERROR,
				    CREDENTIALS_ERROR_COMMAND,
				    "password command printed a NUL byte");
	}
	explicit_bzero(buf, sizeof(buf));
	return secret;
}

/* ---- prompt ------------------------------------------------------------- */

/*
 * While echo is off, SIGINT and friends are caught so that the terminal is
 * restored before they take effect: the handler only notes the signal,
 * read() returns EINTR (no SA_RESTART), and the signal is raised again
 * once the old handlers are back.  The handlers are process-wide, hence
 * one prompt at a time.
 */
static const int prompt_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
static volatile sig_atomic_t prompt_caught;
static GMutex prompt_lock;

static void prompt_on_signal(int sig)
{
	prompt_caught = sig;
}

static bool write_tty(int fd, const char *s)
{
	size_t len = strlen(s);
	ssize_t n;

	while (len > 0) {
		n = write(fd, s, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		s += n;
		len -= (size_t)n;
	}
	return true;
}

/* One line from the terminal into buf; returns its length (without the
 * line end), or -1 with errno set.  Stops early on a caught signal. */
static ssize_t read_tty_line(int fd, char *buf, size_t size)
{
	size_t len = 0;
	ssize_t n;
	char *nl;

	while (len < size && !prompt_caught) {
		n = read(fd, buf + len, size - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)		/* ^D */
			break;
		nl = memchr(buf + len, '\n', (size_t)n);
		len += (size_t)n;
		if (nl)
			return nl - buf;
	}
	return (ssize_t)len;
}

char *credentials_prompt(const char *prompt, GError **error)
{
	struct sigaction old[G_N_ELEMENTS(prompt_signals)];
	struct sigaction catcher = { .sa_handler = prompt_on_signal };
	struct termios saved, noecho;
	char buf[SECRET_MAX];
	char *secret = NULL;
	bool empty = false, has_nul = false;
	int caught;
	ssize_t len;
	size_t i;
	int fd;

	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	if (!prompt)
		prompt = "Password: ";
	fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		if (errno == ENXIO || errno == ENOENT || errno == ENODEV)
			g_set_error(error, CREDENTIALS_ERROR,
				    CREDENTIALS_ERROR_NO_TERMINAL,
				    "no terminal to ask for the password; use -o passfile=FILE or -o passcmd=CMD");
		else
			g_set_error(error, CREDENTIALS_ERROR,
				    CREDENTIALS_ERROR_NO_TERMINAL,
				    "cannot open the terminal to ask for the password: %s",
				    g_strerror(errno));
		return NULL;
	}
	if (tcgetattr(fd, &saved) < 0) {
		g_set_error(error, CREDENTIALS_ERROR,
			    CREDENTIALS_ERROR_NO_TERMINAL,
			    "cannot use the terminal to ask for the password: %s",
			    g_strerror(errno));
		close(fd);
		return NULL;
	}

	g_mutex_lock(&prompt_lock);
	prompt_caught = 0;
	sigemptyset(&catcher.sa_mask);
	for (i = 0; i < G_N_ELEMENTS(prompt_signals); i++)
		(void)sigaction(prompt_signals[i], &catcher, &old[i]);

	noecho = saved;
	noecho.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
	/* Echo goes off before the prompt appears, so that nothing typed
	 * after seeing it is shown; TCSAFLUSH drops earlier typeahead. */
	if (tcsetattr(fd, TCSAFLUSH, &noecho) < 0 || !write_tty(fd, prompt))
		len = -1;
	else
		len = read_tty_line(fd, buf, sizeof(buf));
	if (len < 0)
		g_set_error(error, CREDENTIALS_ERROR,
			    CREDENTIALS_ERROR_NO_TERMINAL,
			    "cannot read the password from the terminal: %s",
			    g_strerror(errno));

	(void)tcsetattr(fd, TCSAFLUSH, &saved);
	/* The user's Enter was not echoed. */
	(void)write_tty(fd, "\n");
	close(fd);
	for (i = 0; i < G_N_ELEMENTS(prompt_signals); i++)
		(void)sigaction(prompt_signals[i], &old[i], NULL);
	caught = prompt_caught;
	g_mutex_unlock(&prompt_lock);

	if (caught) {
		if (error && *error)
			g_clear_error(error);
		g_set_error(error, CREDENTIALS_ERROR,
			    CREDENTIALS_ERROR_EMPTY,
			    "password prompt interrupted by signal %d", caught);
		/* Now with the terminal restored: usually ends us. */
		(void)raise(caught);
	} else if (len >= 0) {
		secret = len > 0 ? first_line(buf, (size_t)len, &empty,
					      &has_nul)
				 : NULL;
		if (len == 0 || empty)
			g_set_error(error, CREDENTIALS_ERROR,
				    CREDENTIALS_ERROR_EMPTY,
				    "no password entered");
		else if (has_nul)
			g_set_error(error, CREDENTIALS_ERROR,
				    CREDENTIALS_ERROR_EMPTY,
				    "the password entered contains a NUL byte");
	}
	explicit_bzero(buf, sizeof(buf));
	return secret;
}
