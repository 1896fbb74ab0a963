/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Byte streams to an IMAP server: TCP and tunnel commands, and the plain
 * reads and writes on them.  TLS lives in transport-tls.c.
 *
 * Every descriptor is non-blocking and close-on-exec; every wait is a
 * poll() bounded by a deadline on the monotonic clock.  Nothing here logs:
 * failures are reported through GError and the session decides what to say.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "imap/transport.h"
#include "imap/transport-private.h"
#include "spawn.h"

/* How long close() lets a tunnel command react to SIGTERM before SIGKILL. */
#define TUNNEL_TERM_WAIT_US	(2 * G_USEC_PER_SEC)
#define TUNNEL_TERM_POLL_US	(10 * 1000)

G_DEFINE_QUARK(imap-transport-error-quark, imap_transport_error)

gint64 imap_transport_deadline(int timeout_ms)
{
	if (timeout_ms < 0)
		return -1;
	return g_get_monotonic_time() + (gint64)timeout_ms * 1000;
}

/* Round up, so that a deadline a few microseconds away is not turned into
 * a busy loop of poll(..., 0). */
static int remaining_ms(gint64 deadline)
{
	gint64 left;

	if (deadline < 0)
		return -1;
	left = deadline - g_get_monotonic_time();
	if (left <= 0)
		return 0;
	return (int)MIN((left + 999) / 1000, (gint64)INT_MAX);
}

bool imap_transport_wait(struct imap_transport *t, short events,
		gint64 deadline, const char *doing, GError **error)
{
	struct pollfd pfd = { .fd = t->fd, .events = events };
	int n;

	for (;;) {
		n = poll(&pfd, 1, remaining_ms(deadline));
		if (n > 0)
			return true;
		if (n == 0) {
			g_set_error(error, IMAP_TRANSPORT_ERROR,
				    IMAP_TRANSPORT_ERROR_TIMEOUT,
				    "timed out %s %s", doing, t->peer);
			return false;
		}
		if (errno != EINTR) {
			g_set_error(error, IMAP_TRANSPORT_ERROR,
				    IMAP_TRANSPORT_ERROR_IO,
				    "poll failed %s %s: %s", doing, t->peer,
				    g_strerror(errno));
			return false;
		}
	}
}

static bool set_nonblocking(int fd)
{
	int flags = fcntl(fd, F_GETFL);

	return flags >= 0 && fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0;
}

static struct imap_transport *transport_new(int fd, pid_t pid, char *peer)
{
	struct imap_transport *t = g_new0(struct imap_transport, 1);

	t->fd = fd;
	t->pid = pid;
	t->peer = peer;
	return t;
}

/* ---- TCP ---------------------------------------------------------------- */

/*
 * getaddrinfo() has no timeout of its own (the resolver's can add up to
 * half a minute or more), so it runs in a thread that we stop waiting for
 * at the deadline.  The job is reference counted: whoever finishes last,
 * the resolver thread or the caller, frees it.
 */
struct resolve_job {
	gint refs;
	GMutex lock;
	GCond cond;
	bool done;		/* under lock */
	char *host;		/* owned */
	char service[8];
	int rc;
	int saved_errno;
	struct addrinfo *result;	/* owned until taken */
};

static int resolve_now(const char *host, const char *service,
		struct addrinfo **result, int *saved_errno)
{
	const struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
		/* No AI_ADDRCONFIG: it hides loopback addresses on hosts
		 * whose only interface is lo. */
	};
	int rc;

	rc = getaddrinfo(host, service, &hints, result);
	*saved_errno = errno;
	return rc;
}

static void resolve_job_unref(struct resolve_job *job)
{
	if (!g_atomic_int_dec_and_test(&job->refs))
		return;
	if (job->result)
		freeaddrinfo(job->result);
	g_mutex_clear(&job->lock);
	g_cond_clear(&job->cond);
	g_free(job->host);
	g_free(job);
}

static gpointer resolve_thread(gpointer data)
{
	struct resolve_job *job = data;
	struct addrinfo *result = NULL;
	int saved_errno;
	int rc;

	rc = resolve_now(job->host, job->service, &result, &saved_errno);
	g_mutex_lock(&job->lock);
	job->rc = rc;
	job->saved_errno = saved_errno;
	job->result = result;
	job->done = true;
	g_cond_signal(&job->cond);
	g_mutex_unlock(&job->lock);
	resolve_job_unref(job);
	return NULL;
}

static struct addrinfo *resolve(const char *host, uint16_t port,
		gint64 deadline, GError **error)
{
	struct addrinfo *result = NULL;
	struct resolve_job *job;
	GThread *thread;
	char service[8];
	int saved_errno = 0;
	int rc = 0;

	g_snprintf(service, sizeof(service), "%u", (unsigned)port);
	if (deadline < 0 || g_hostname_is_ip_address(host)) {
		rc = resolve_now(host, service, &result, &saved_errno);
		goto out;
	}

	job = g_new0(struct resolve_job, 1);
	job->refs = 2;
	g_mutex_init(&job->lock);
	g_cond_init(&job->cond);
	job->host = g_strdup(host);
	memcpy(job->service, service, sizeof(service));
	thread = g_thread_try_new("resolve", resolve_thread, job, NULL);
	if (!thread) {
		job->refs = 1;
		resolve_job_unref(job);
		rc = resolve_now(host, service, &result, &saved_errno);
		goto out;
	}
	g_thread_unref(thread);

	g_mutex_lock(&job->lock);
	while (!job->done)
		if (!g_cond_wait_until(&job->cond, &job->lock, deadline))
			break;
	if (job->done) {
		rc = job->rc;
		saved_errno = job->saved_errno;
		result = job->result;
		job->result = NULL;
	}
	g_mutex_unlock(&job->lock);
	resolve_job_unref(job);
	if (!result && rc == 0) {
		g_set_error(error, IMAP_TRANSPORT_ERROR,
			    IMAP_TRANSPORT_ERROR_TIMEOUT,
			    "timed out resolving %s", host);
		return NULL;
	}

out:
	if (rc != 0) {
		g_set_error(error, IMAP_TRANSPORT_ERROR,
			    IMAP_TRANSPORT_ERROR_RESOLVE,
			    "cannot resolve %s: %s", host,
			    rc == EAI_SYSTEM ? g_strerror(saved_errno)
					     : gai_strerror(rc));
		return NULL;
	}
	if (!result) {
		g_set_error(error, IMAP_TRANSPORT_ERROR,
			    IMAP_TRANSPORT_ERROR_RESOLVE,
			    "cannot resolve %s: no address", host);
		return NULL;
	}
	return result;
}

/* Returns a connected socket, or -1 with *err_r set to an errno value. */
static int connect_one(const struct addrinfo *ai, gint64 deadline,
		int *err_r)
{
	struct pollfd pfd;
	socklen_t len;
	int one = 1;
	int soerr;
	int fd;
	int n;

	fd = socket(ai->ai_family,
		    ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    ai->ai_protocol);
	if (fd < 0) {
		*err_r = errno;
		return -1;
	}
	/* EINTR leaves the connection going on asynchronously, as
	 * EINPROGRESS does. */
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		if (errno != EINPROGRESS && errno != EINTR) {
			*err_r = errno;
			goto fail;
		}
		pfd.fd = fd;
		pfd.events = POLLOUT;
		do
			n = poll(&pfd, 1, remaining_ms(deadline));
		while (n < 0 && errno == EINTR);
		if (n <= 0) {
			*err_r = n == 0 ? ETIMEDOUT : errno;
			goto fail;
		}
		len = sizeof(soerr);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0) {
			*err_r = errno;
			goto fail;
		}
		if (soerr != 0) {
			*err_r = soerr;
			goto fail;
		}
	}
	/* Commands are small and wait for their answer: no Nagle delay. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;

fail:
	close(fd);
	return -1;
}

struct imap_transport *imap_transport_connect_tcp(const char *host,
		uint16_t port, int timeout_ms, GError **error)
{
	gint64 deadline = imap_transport_deadline(timeout_ms);
	struct addrinfo *list, *ai;
	unsigned int left = 0;
	int err = ECONNREFUSED;
	char *peer;
	int fd = -1;

	g_return_val_if_fail(host != NULL, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	if (strchr(host, ':'))
		peer = g_strdup_printf("[%s]:%u", host, (unsigned)port);
	else
		peer = g_strdup_printf("%s:%u", host, (unsigned)port);

	list = resolve(host, port, deadline, error);
	if (!list) {
		g_free(peer);
		return NULL;
	}
	for (ai = list; ai; ai = ai->ai_next)
		left++;

	/*
	 * Addresses are tried in order.  Each gets an equal share of the
	 * time still left, so that one black-holed address (typically IPv6
	 * without a route) cannot use up the whole timeout while the next
	 * one would answer at once.
	 */
	for (ai = list; ai && fd < 0; ai = ai->ai_next, left--) {
		gint64 until = deadline;
		gint64 now = g_get_monotonic_time();

		if (deadline >= 0) {
			if (now >= deadline) {
				err = ETIMEDOUT;
				break;
			}
			until = now + (deadline - now) / left;
		}
		fd = connect_one(ai, until, &err);
	}
	freeaddrinfo(list);

	if (fd < 0) {
		bool expired = deadline >= 0 &&
			       g_get_monotonic_time() >= deadline;

		g_set_error(error, IMAP_TRANSPORT_ERROR,
			    expired ? IMAP_TRANSPORT_ERROR_TIMEOUT
				    : IMAP_TRANSPORT_ERROR_CONNECT,
			    "cannot connect to %s: %s", peer, g_strerror(err));
		g_free(peer);
		return NULL;
	}
	return transport_new(fd, 0, peer);
}

/* ---- tunnel ------------------------------------------------------------- */

struct imap_transport *imap_transport_spawn(const char *command,
		const char *workdir, GError **error)
{
	struct spawn_params params = {
		.command = command,
		.workdir = workdir,
		/* Our own process group: a ^C on the terminal is for imapfs,
		 * which then ends the tunnel in order.  No setsid(): the
		 * command stays in our session, so its stderr still reaches
		 * the terminal (but, as a background group, it cannot read
		 * from it). */
		.own_group = true,
	};
	GError *local = NULL;
	int sv[2];
	pid_t pid;

	g_return_val_if_fail(command != NULL, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		g_set_error(error, IMAP_TRANSPORT_ERROR,
			    IMAP_TRANSPORT_ERROR_SPAWN,
			    "cannot create a socket pair for the tunnel: %s",
			    g_strerror(errno));
		return NULL;
	}
	sv[0] = spawn_fd_above_stdio(sv[0]);
	sv[1] = spawn_fd_above_stdio(sv[1]);
	if (sv[0] < 0 || sv[1] < 0 || !set_nonblocking(sv[0])) {
		int err = errno;

		if (sv[0] >= 0)
			close(sv[0]);
		if (sv[1] >= 0)
			close(sv[1]);
		g_set_error(error, IMAP_TRANSPORT_ERROR,
			    IMAP_TRANSPORT_ERROR_SPAWN,
			    "cannot set up the tunnel's socket: %s",
			    g_strerror(err));
		return NULL;
	}

	params.stdin_fd = sv[1];
	params.stdout_fd = sv[1];
	pid = spawn_shell(&params, &local);
	close(sv[1]);
	if (pid < 0) {
		close(sv[0]);
		g_set_error(error, IMAP_TRANSPORT_ERROR,
			    IMAP_TRANSPORT_ERROR_SPAWN,
			    "cannot start the tunnel command: %s",
			    local->message);
		g_error_free(local);
		return NULL;
	}
	return transport_new(sv[0], pid, g_strdup("the tunnel command"));
}

/* True once the child is gone (reaped here, or by someone ignoring
 * SIGCHLD, which makes waitpid() fail with ECHILD). */
static bool reap(pid_t pid, int flags)
{
	pid_t r;

	do
		r = waitpid(pid, NULL, flags);
	while (r < 0 && errno == EINTR);
	return r == pid || (r < 0 && errno == ECHILD);
}

static void signal_tunnel(pid_t pid, int sig)
{
	/* The whole group, so that "a | b" and commands that fork do not
	 * outlive us; the group exists as long as pid is not reaped. */
	if (kill(-pid, sig) < 0)
		(void)kill(pid, sig);
}

/*
 * True while pid is our child and not reaped yet (running, or a zombie):
 * only then does the pid, and the process group it leads, still name the
 * process we started rather than whatever got the number since.  A child
 * of a process that has since exited (a tunnel started before the daemon
 * detached would be one, which is why main.c closes those first) is not.
 */
static bool still_our_child(pid_t pid)
{
	siginfo_t info;
	int r;

	do {
		memset(&info, 0, sizeof(info));
		r = waitid(P_PID, (id_t)pid, &info,
			   WEXITED | WNOHANG | WNOWAIT);
	} while (r < 0 && errno == EINTR);
	return r == 0;
}

static void end_tunnel(pid_t pid)
{
	gint64 until;

	if (!still_our_child(pid))
		return;
	signal_tunnel(pid, SIGTERM);
	/* A stopped command (say, ssh reading the terminal from a
	 * background group) would only see SIGTERM once continued. */
	signal_tunnel(pid, SIGCONT);
	until = g_get_monotonic_time() + TUNNEL_TERM_WAIT_US;
	do {
		if (reap(pid, WNOHANG))
			return;
		g_usleep(TUNNEL_TERM_POLL_US);
	} while (g_get_monotonic_time() < until);
	signal_tunnel(pid, SIGKILL);
	(void)reap(pid, 0);
}

/* ---- reads and writes --------------------------------------------------- */

static ssize_t plain_read(struct imap_transport *t, void *buf, size_t len,
		gint64 deadline, GError **error)
{
	ssize_t n;

	for (;;) {
		n = recv(t->fd, buf, len, 0);
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			g_set_error(error, IMAP_TRANSPORT_ERROR,
				    IMAP_TRANSPORT_ERROR_IO,
				    "cannot read from %s: %s", t->peer,
				    g_strerror(errno));
			return -1;
		}
		if (!imap_transport_wait(t, POLLIN, deadline, "reading from",
					 error))
			return -1;
	}
}

static bool plain_write_all(struct imap_transport *t, const char *p,
		size_t len, int timeout_ms, GError **error)
{
	gint64 deadline = imap_transport_deadline(timeout_ms);
	ssize_t n;

	while (len > 0) {
		/* MSG_NOSIGNAL: a vanished peer is an error, not SIGPIPE. */
		n = send(t->fd, p, len, MSG_NOSIGNAL);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			deadline = imap_transport_deadline(timeout_ms);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) {
			g_set_error(error, IMAP_TRANSPORT_ERROR,
				    IMAP_TRANSPORT_ERROR_CLOSED,
				    "%s closed the connection", t->peer);
			return false;
		}
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			g_set_error(error, IMAP_TRANSPORT_ERROR,
				    IMAP_TRANSPORT_ERROR_IO,
				    "cannot write to %s: %s", t->peer,
				    g_strerror(errno));
			return false;
		}
		if (!imap_transport_wait(t, POLLOUT, deadline, "writing to",
					 error))
			return false;
	}
	return true;
}

ssize_t imap_transport_read(struct imap_transport *transport, void *buf,
		size_t len, int timeout_ms, GError **error)
{
	gint64 deadline = imap_transport_deadline(timeout_ms);

	g_return_val_if_fail(transport != NULL, -1);
	g_return_val_if_fail(buf != NULL && len > 0, -1);
	g_return_val_if_fail(error == NULL || *error == NULL, -1);

	len = MIN(len, (size_t)SSIZE_MAX);
	if (transport->tls)
		return imap_transport_tls_read(transport, buf, len, deadline,
					       error);
	return plain_read(transport, buf, len, deadline, error);
}

bool imap_transport_write_all(struct imap_transport *transport,
		const void *buf, size_t len, int timeout_ms, GError **error)
{
	g_return_val_if_fail(transport != NULL, false);
	g_return_val_if_fail(buf != NULL || len == 0, false);
	g_return_val_if_fail(error == NULL || *error == NULL, false);

	if (transport->tls)
		return imap_transport_tls_write_all(transport, buf, len,
						    timeout_ms, error);
	return plain_write_all(transport, buf, len, timeout_ms, error);
}

bool imap_transport_wait_readable(struct imap_transport *transport,
		int timeout_ms)
{
	gint64 end = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
	struct pollfd pfd;
	int n;

	g_return_val_if_fail(transport != NULL, false);

	if (imap_transport_tls_pending(transport))
		return true;
	pfd.fd = transport->fd;
	pfd.events = POLLIN;
	for (;;) {
		gint64 left = (end - g_get_monotonic_time() + 999) / 1000;

		n = poll(&pfd, 1, (int)MAX(left, 0));
		if (n >= 0 || errno != EINTR)
			break;
	}
	return n > 0 && (pfd.revents & (POLLIN | POLLHUP | POLLERR));
}

bool imap_transport_readable(struct imap_transport *transport)
{
	return imap_transport_wait_readable(transport, 0);
}

bool imap_transport_is_tls(const struct imap_transport *transport)
{
	g_return_val_if_fail(transport != NULL, false);

	return transport->tls != NULL;
}

void imap_transport_close(struct imap_transport **transport)
{
	struct imap_transport *t;

	g_return_if_fail(transport != NULL);

	t = *transport;
	if (!t)
		return;
	*transport = NULL;
	imap_transport_tls_free(t);
	close(t->fd);
	/* After close(): a command that exits on EOF may already be on its
	 * way out when SIGTERM arrives. */
	if (t->pid > 0)
		end_tunnel(t->pid);
	g_free(t->peer);
	g_free(t);
}
