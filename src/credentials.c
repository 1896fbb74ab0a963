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
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "credentials.h"

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

static int fd_above_stdio(int fd)
{
	int moved;

	if (fd < 0 || fd > STDERR_FILENO)
		return fd;
	moved = fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
	close(fd);
	return moved;
}

/*
 * Only async-signal-safe calls between fork() and exec.  The command stays
 * in our process group and session: pass(1) and gpg's pinentry may need
 * the terminal, and a ^C there should reach them too.
 */
static G_GNUC_NORETURN void passcmd_child(int null_fd, int out_fd,
		char **argv, int max_fd)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigset_t none;
	int i;

	if (dup2(null_fd, STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0)
		_exit(127);
	if (close_range(STDERR_FILENO + 1, ~0U, 0) < 0)
		for (i = STDERR_FILENO + 1; i < max_fd; i++)
			close(i);
	(void)sigaction(SIGPIPE, &dfl, NULL);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	execve("/bin/sh", argv, environ);
	_exit(127);
}

/* Reads the command's output until EOF, keeping the first SECRET_MAX
 * bytes.  Returns false if it printed more than PASSCMD_OUTPUT_MAX. */
static bool read_passcmd_output(int fd, char *buf, size_t *len_r,
		int *errno_r)
{
	char scratch[4096];
	size_t total = 0;
	size_t len = 0;
	ssize_t n;
	bool ok = true;

	*errno_r = 0;
	for (;;) {
		if (len < SECRET_MAX)
			n = read_retry(fd, buf + len, SECRET_MAX - len);
		else
			n = read_retry(fd, scratch, sizeof(scratch));
		if (n < 0) {
			*errno_r = errno;
			break;
		}
		if (n == 0)
			break;
		if (len < SECRET_MAX)
			len += (size_t)n;
		total += (size_t)n;
		if (total > PASSCMD_OUTPUT_MAX) {
			ok = false;
			break;
		}
	}
	explicit_bzero(scratch, sizeof(scratch));
	*len_r = len;
	return ok;
}

char *credentials_run_passcmd(const char *command, GError **error)
{
	static char arg0[] = "sh";
	static char arg1[] = "-c";
	char *argv[4] = { arg0, arg1, NULL, NULL };
	char buf[SECRET_MAX];
	char *secret = NULL;
	bool empty = false, has_nul = false;
	bool within_limit;
	int null_fd, pipefd[2];
	struct rlimit rl;
	int max_fd = 1024;
	size_t len = 0;
	int read_errno;
	int fork_errno;
	int status;
	pid_t pid;

	g_return_val_if_fail(command != NULL, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	null_fd = fd_above_stdio(open("/dev/null", O_RDONLY | O_CLOEXEC));
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
	pipefd[0] = fd_above_stdio(pipefd[0]);
	pipefd[1] = fd_above_stdio(pipefd[1]);
	if (pipefd[0] < 0 || pipefd[1] < 0) {
		g_set_error(error, CREDENTIALS_ERROR, CREDENTIALS_ERROR_COMMAND,
			    "cannot set up a pipe: %s", g_strerror(errno));
		pid = -1;
		goto close_fds;
	}

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		max_fd = (int)MIN(rl.rlim_cur, (rlim_t)INT_MAX);
	argv[2] = g_strdup(command);
	pid = fork();
	if (pid == 0)
		passcmd_child(null_fd, pipefd[1], argv, max_fd);
	fork_errno = errno;
	g_free(argv[2]);
	if (pid < 0)
		g_set_error(error, CREDENTIALS_ERROR, CREDENTIALS_ERROR_COMMAND,
			    "cannot start the password command: %s",
			    g_strerror(fork_errno));

close_fds:
	close(null_fd);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	if (pid < 0) {
		if (pipefd[0] >= 0)
			close(pipefd[0]);
		return NULL;
	}

	within_limit = read_passcmd_output(pipefd[0], buf, &len, &read_errno);
	if (!within_limit)
		(void)kill(pid, SIGKILL);
	close(pipefd[0]);
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			/* SIGCHLD ignored: the exit status is lost. */
			status = 0;
			break;
		}
	}

	if (!within_limit) {
		g_set_error(error, CREDENTIALS_ERROR, CREDENTIALS_ERROR_COMMAND,
			    "password command printed more than %d KiB",
			    PASSCMD_OUTPUT_MAX / 1024);
	} else if (read_errno != 0) {
		g_set_error(error, CREDENTIALS_ERROR, CREDENTIALS_ERROR_COMMAND,
			    "cannot read the password command's output: %s",
			    g_strerror(read_errno));
	} else if (WIFSIGNALED(status)) {
		g_set_error(error, CREDENTIALS_ERROR, CREDENTIALS_ERROR_COMMAND,
			    "password command killed by signal %d (%s)",
			    WTERMSIG(status), g_strsignal(WTERMSIG(status)));
	} else if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
		g_set_error(error, CREDENTIALS_ERROR, CREDENTIALS_ERROR_COMMAND,
			    "password command failed (exit status %d)",
			    WEXITSTATUS(status));
	} else if (len == 0) {
		g_set_error(error, CREDENTIALS_ERROR, CREDENTIALS_ERROR_COMMAND,
			    "password command printed nothing");
	} else if (len == SECRET_MAX && !memchr(buf, '\n', len)) {
		g_set_error(error, CREDENTIALS_ERROR, CREDENTIALS_ERROR_COMMAND,
			    "password command printed a line longer than %d bytes",
			    SECRET_MAX);
	} else {
		secret = first_line(buf, len, &empty, &has_nul);
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
