/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The transport against a loopback server thread (plain TCP, implicit TLS
 * and STARTTLS, all GnuTLS on the server side) and against tunnel commands.
 * Certificates (a CA, a server certificate for localhost and 127.0.0.1, a
 * client certificate) are made at run time with openssl; without it the
 * TLS cases are skipped.
 *
 * SIGPIPE is left at its default on purpose: a write that raised it would
 * kill the test.  Every wait in the server thread is bounded, so a broken
 * transport makes a test fail, not hang.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <gnutls/gnutls.h>

#include "imap/transport.h"

#define SERVER_WAIT_MS	10000	/* longest wait of any server step */
#define IO_TIMEOUT_MS	5000	/* client calls that should succeed */

static char *tmpdir;
static char *ca_pem, *server_pem, *server_key, *client_pem, *client_key;
static bool have_certs;

/* ---- the server thread -------------------------------------------------- */

enum server_mode {
	MODE_ECHO,		/* echo until EOF */
	MODE_SILENT,		/* send nothing, wait for EOF */
	MODE_SEND_CLOSE,	/* send "bye\r\n" and close */
	MODE_CLOSE,		/* close right after accept */
	MODE_SINK,		/* read sink_bytes, answer "got N\n" */
	MODE_NO_READ,		/* read nothing until told to stop */
	MODE_SLOW_SINK,		/* as MODE_SINK, pausing between reads */
	MODE_RECORDS,		/* send sink_bytes of pattern_byte() in
				 * records of many sizes, then wait */
};

struct server {
	enum server_mode mode;
	bool tls;		/* TLS handshake before the mode runs */
	bool starttls;		/* greeting and STARTTLS before it */
	bool bye;		/* close_notify before closing */
	size_t sink_bytes;

	int listen_fd;
	uint16_t port;
	int stop[2];		/* a byte here ends any wait */
	GThread *thread;

	/* results, read after the join */
	bool handshake_ok;
	bool client_cert_ok;
	size_t sunk;
	gint all_sent;		/* MODE_RECORDS: set once all is sent */
};

struct conn {
	int fd;
	gnutls_session_t session;
};

static int make_listener(int family, uint16_t *port_r)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int one = 1;
	int fd;

	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_loopback;
		len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*a);
	}
	fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 8) < 0) {
		close(fd);
		return -1;
	}
	len = sizeof(ss);
	g_assert_cmpint(getsockname(fd, (struct sockaddr *)&ss, &len), ==, 0);
	*port_r = ntohs(family == AF_INET6
			? ((struct sockaddr_in6 *)&ss)->sin6_port
			: ((struct sockaddr_in *)&ss)->sin_port);
	return fd;
}

static ssize_t conn_read(struct conn *c, void *buf, size_t len)
{
	ssize_t n;

	if (!c->session)
		return recv(c->fd, buf, len, 0);
	do
		n = gnutls_record_recv(c->session, buf, len);
	while (n == GNUTLS_E_INTERRUPTED);
	return n == GNUTLS_E_PREMATURE_TERMINATION ? 0 : n;
}

static bool conn_write(struct conn *c, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	while (len > 0) {
		if (c->session)
			n = gnutls_record_send(c->session, p, len);
		else
			n = send(c->fd, p, len, MSG_NOSIGNAL);
		if (n == GNUTLS_E_INTERRUPTED)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/* Wait for the client's fd (if fd >= 0) or the stop pipe. */
static bool server_wait(struct server *s, int fd)
{
	struct pollfd pfd[2] = {
		{ .fd = s->stop[0], .events = POLLIN },
		{ .fd = fd, .events = POLLIN },
	};

	return poll(pfd, fd >= 0 ? 2 : 1, SERVER_WAIT_MS) > 0 &&
	       !pfd[0].revents;
}

static bool server_starttls(struct conn *c)
{
	char line[64];
	size_t len = 0;

	if (!conn_write(c, "* OK hello\r\n", 12))
		return false;
	while (len < sizeof(line) - 1) {
		if (conn_read(c, line + len, 1) != 1)
			return false;
		len++;
		line[len] = '\0';
		if (g_str_has_suffix(line, "\r\n"))
			break;
	}
	return strcmp(line, "STARTTLS\r\n") == 0 &&
	       conn_write(c, "ok\r\n", 4);
}

static bool server_handshake(struct server *s, struct conn *c,
		gnutls_certificate_credentials_t creds)
{
	unsigned int status;
	int rc;

	g_assert_cmpint(gnutls_init(&c->session, GNUTLS_SERVER |
				    GNUTLS_NO_SIGNAL), ==, 0);
	g_assert_cmpint(gnutls_set_default_priority(c->session), ==, 0);
	g_assert_cmpint(gnutls_credentials_set(c->session,
			GNUTLS_CRD_CERTIFICATE, creds), ==, 0);
	gnutls_certificate_server_set_request(c->session, GNUTLS_CERT_REQUEST);
	gnutls_handshake_set_timeout(c->session, SERVER_WAIT_MS);
	gnutls_transport_set_int(c->session, c->fd);
	do
		rc = gnutls_handshake(c->session);
	while (rc < 0 && !gnutls_error_is_fatal(rc));
	if (rc < 0)
		return false;
	s->client_cert_ok =
		gnutls_certificate_get_peers(c->session, &status) != NULL &&
		gnutls_certificate_verify_peers2(c->session, &status) == 0 &&
		status == 0;
	return true;
}

static char pattern_byte(size_t i)
{
	return (char)('a' + (i * 7 + i / 251) % 26);
}

/* One gnutls_record_send() is one record: sizes from a byte to a full
 * record, so that records end anywhere in a receive. */
static void send_records(struct server *s, struct conn *c)
{
	static const size_t sizes[] = { 1, 5, 300, 16384, 2, 4000, 9, 1000 };
	char buf[16384];
	size_t sent = 0, k = 0;

	while (sent < s->sink_bytes) {
		size_t len = sizes[k++ % G_N_ELEMENTS(sizes)];

		len = MIN(len, s->sink_bytes - sent);
		for (size_t i = 0; i < len; i++)
			buf[i] = pattern_byte(sent + i);
		if (!conn_write(c, buf, len))
			return;
		sent += len;
	}
	g_atomic_int_set(&s->all_sent, 1);
	server_wait(s, -1);
}

static void server_run_mode(struct server *s, struct conn *c)
{
	char buf[16384];
	ssize_t n;

	switch (s->mode) {
	case MODE_ECHO:
		while ((n = conn_read(c, buf, sizeof(buf))) > 0)
			if (!conn_write(c, buf, (size_t)n))
				break;
		break;
	case MODE_SILENT:
		while (server_wait(s, c->fd) &&
		       conn_read(c, buf, sizeof(buf)) > 0)
			;
		break;
	case MODE_SEND_CLOSE:
		conn_write(c, "bye\r\n", 5);
		break;
	case MODE_CLOSE:
		break;
	case MODE_SINK:
	case MODE_SLOW_SINK:
		while (s->sunk < s->sink_bytes &&
		       (n = conn_read(c, buf, sizeof(buf))) > 0) {
			s->sunk += (size_t)n;
			/* about 50 ms per 512 KiB */
			if (s->mode == MODE_SLOW_SINK)
				g_usleep((gulong)n * 50000 / (512 * 1024));
		}
		n = g_snprintf(buf, sizeof(buf), "got %zu\n", s->sunk);
		conn_write(c, buf, (size_t)n);
		while (server_wait(s, c->fd) &&
		       conn_read(c, buf, sizeof(buf)) > 0)
			;
		break;
	case MODE_NO_READ:
		server_wait(s, -1);
		break;
	case MODE_RECORDS:
		send_records(s, c);
		break;
	}
}

static gpointer server_main(gpointer data)
{
	struct server *s = data;
	gnutls_certificate_credentials_t creds = NULL;
	struct timeval tv = { SERVER_WAIT_MS / 1000, 0 };
	struct conn c = { -1, NULL };

	if (!server_wait(s, s->listen_fd))
		return NULL;
	c.fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (c.fd < 0)
		return NULL;
	setsockopt(c.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (s->starttls && !server_starttls(&c))
		goto out;
	if (s->tls) {
		g_assert_cmpint(gnutls_certificate_allocate_credentials(&creds),
				==, 0);
		g_assert_cmpint(gnutls_certificate_set_x509_key_file(creds,
				server_pem, server_key, GNUTLS_X509_FMT_PEM),
				==, 0);
		g_assert_cmpint(gnutls_certificate_set_x509_trust_file(creds,
				ca_pem, GNUTLS_X509_FMT_PEM), ==, 1);
		if (!server_handshake(s, &c, creds))
			goto out;
		s->handshake_ok = true;
	}
	server_run_mode(s, &c);
out:
	if (c.session) {
		if (s->bye)
			gnutls_bye(c.session, GNUTLS_SHUT_WR);
		gnutls_deinit(c.session);
	}
	if (creds)
		gnutls_certificate_free_credentials(creds);
	close(c.fd);
	return NULL;
}

static struct server *server_start(enum server_mode mode, bool tls)
{
	struct server *s = g_new0(struct server, 1);

	s->mode = mode;
	s->tls = tls;
	s->listen_fd = make_listener(AF_INET, &s->port);
	g_assert_cmpint(s->listen_fd, >=, 0);
	g_assert_cmpint(pipe2(s->stop, O_CLOEXEC), ==, 0);
	return s;
}

/* Separate from server_start() so a test can set more fields first. */
static void server_go(struct server *s)
{
	s->thread = g_thread_new("server", server_main, s);
}

static void server_join(struct server *s)
{
	g_assert_cmpint(write(s->stop[1], "x", 1), ==, 1);
	g_thread_join(s->thread);
	close(s->stop[0]);
	close(s->stop[1]);
	close(s->listen_fd);
}

static struct imap_transport *connect_to(struct server *s)
{
	struct imap_transport *t;
	GError *error = NULL;

	t = imap_transport_connect_tcp("127.0.0.1", s->port, IO_TIMEOUT_MS,
				       &error);
	g_assert_no_error(error);
	g_assert_nonnull(t);
	return t;
}

/* ---- helpers ------------------------------------------------------------ */

static void read_exact(struct imap_transport *t, const char *want)
{
	size_t len = strlen(want), got = 0;
	char buf[256];
	GError *error = NULL;
	ssize_t n;

	g_assert_cmpuint(len, <, sizeof(buf));
	while (got < len) {
		n = imap_transport_read(t, buf + got, len - got, IO_TIMEOUT_MS,
					&error);
		g_assert_no_error(error);
		g_assert_cmpint(n, >, 0);
		got += (size_t)n;
	}
	buf[got] = '\0';
	g_assert_cmpstr(buf, ==, want);
}

static void write_str(struct imap_transport *t, const char *s)
{
	GError *error = NULL;

	g_assert_true(imap_transport_write_all(t, s, strlen(s),
					       IO_TIMEOUT_MS, &error));
	g_assert_no_error(error);
}

static void expect_eof(struct imap_transport *t)
{
	GError *error = NULL;
	char c;

	g_assert_cmpint(imap_transport_read(t, &c, 1, IO_TIMEOUT_MS, &error),
			==, 0);
	g_assert_no_error(error);
}

/* Up to 5 s for data (or EOF) to become readable. */
static bool wait_readable(struct imap_transport *t)
{
	gint64 until = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;

	while (!imap_transport_readable(t))
		if (g_get_monotonic_time() > until)
			return false;
		else
			g_usleep(1000);
	return true;
}

static gint64 elapsed_ms(gint64 start)
{
	return (g_get_monotonic_time() - start) / 1000;
}

static void assert_one_line(const GError *error)
{
	g_assert_null(strchr(error->message, '\n'));
	g_assert_null(strchr(error->message, '\r'));
}

/* ---- TCP ---------------------------------------------------------------- */

static void test_tcp_echo(void)
{
	struct server *s = server_start(MODE_ECHO, false);
	struct imap_transport *t;

	server_go(s);
	t = connect_to(s);
	g_assert_false(imap_transport_is_tls(t));
	g_assert_false(imap_transport_readable(t));
	write_str(t, "a1 NOOP\r\n");
	g_assert_true(wait_readable(t));
	read_exact(t, "a1 NOOP\r\n");
	imap_transport_close(&t);
	g_assert_null(t);
	imap_transport_close(&t);	/* NULL is fine */
	server_join(s);
	g_free(s);
}

static void test_tcp_hostname(void)
{
	struct server *s = server_start(MODE_ECHO, false);
	struct imap_transport *t;
	GError *error = NULL;

	/* localhost may also resolve to ::1, where nothing listens: the
	 * next address must be tried. */
	server_go(s);
	t = imap_transport_connect_tcp("localhost", s->port, IO_TIMEOUT_MS,
				       &error);
	g_assert_no_error(error);
	write_str(t, "x\n");
	read_exact(t, "x\n");
	imap_transport_close(&t);
	server_join(s);
	g_free(s);
}

static void test_tcp_ipv6(void)
{
	struct imap_transport *t;
	GError *error = NULL;
	uint16_t port;
	int fd;

	fd = make_listener(AF_INET6, &port);
	if (fd < 0) {
		g_test_skip("no IPv6 loopback");
		return;
	}
	t = imap_transport_connect_tcp("::1", port, IO_TIMEOUT_MS, &error);
	g_assert_no_error(error);
	imap_transport_close(&t);
	close(fd);

	/* Refused now; the message puts the address in brackets. */
	g_assert_null(imap_transport_connect_tcp("::1", port, IO_TIMEOUT_MS,
						 &error));
	g_assert_error(error, IMAP_TRANSPORT_ERROR,
		       IMAP_TRANSPORT_ERROR_CONNECT);
	g_assert_nonnull(strstr(error->message, "[::1]:"));
	g_error_free(error);
}

static void test_tcp_read_timeout(void)
{
	struct server *s = server_start(MODE_SILENT, false);
	struct imap_transport *t;
	GError *error = NULL;
	gint64 start, ms;
	char buf[16];

	server_go(s);
	t = connect_to(s);
	start = g_get_monotonic_time();
	g_assert_cmpint(imap_transport_read(t, buf, sizeof(buf), 300, &error),
			==, -1);
	ms = elapsed_ms(start);
	g_assert_error(error, IMAP_TRANSPORT_ERROR,
		       IMAP_TRANSPORT_ERROR_TIMEOUT);
	g_assert_nonnull(strstr(error->message, "127.0.0.1:"));
	g_clear_error(&error);
	g_assert_cmpint(ms, >=, 290);
	g_assert_cmpint(ms, <, 600);

	/* A zero timeout does not wait at all. */
	start = g_get_monotonic_time();
	g_assert_cmpint(imap_transport_read(t, buf, sizeof(buf), 0, &error),
			==, -1);
	g_assert_error(error, IMAP_TRANSPORT_ERROR,
		       IMAP_TRANSPORT_ERROR_TIMEOUT);
	g_clear_error(&error);
	g_assert_cmpint(elapsed_ms(start), <, 100);

	imap_transport_close(&t);
	server_join(s);
	g_free(s);
}

static void test_tcp_eof(void)
{
	struct server *s = server_start(MODE_SEND_CLOSE, false);
	struct imap_transport *t;

	server_go(s);
	t = connect_to(s);
	read_exact(t, "bye\r\n");
	g_assert_true(wait_readable(t));	/* EOF counts as readable */
	expect_eof(t);
	expect_eof(t);
	imap_transport_close(&t);
	server_join(s);
	g_free(s);
}

static void test_tcp_write_closed(void)
{
	struct server *s = server_start(MODE_CLOSE, false);
	struct imap_transport *t;
	GError *error = NULL;
	char buf[1024] = { 0 };
	int i;

	server_go(s);
	t = connect_to(s);
	g_assert_true(wait_readable(t));
	/* The first writes may still be accepted locally; the peer's reset
	 * then makes one fail, as CLOSED and without SIGPIPE. */
	for (i = 0; i < 100; i++) {
		if (!imap_transport_write_all(t, buf, sizeof(buf),
					      IO_TIMEOUT_MS, &error))
			break;
		g_usleep(10000);
	}
	g_assert_error(error, IMAP_TRANSPORT_ERROR,
		       IMAP_TRANSPORT_ERROR_CLOSED);
	g_error_free(error);
	imap_transport_close(&t);
	server_join(s);
	g_free(s);
}

/* Many megabytes through a socket whose buffers fill up at once: the
 * write loop has to wait for POLLOUT many times. */
static void sink_test(bool tls)
{
	const size_t size = 8 * 1024 * 1024;
	struct server *s = server_start(MODE_SINK, tls);
	const struct imap_tls_config config = { .cafile = ca_pem };
	struct imap_transport *t;
	GError *error = NULL;
	char *big, *want;

	s->sink_bytes = size;
	server_go(s);
	t = connect_to(s);
	if (tls) {
		g_assert_true(imap_transport_start_tls(t, "localhost", &config,
						       IO_TIMEOUT_MS, &error));
		g_assert_no_error(error);
	}
	big = g_malloc(size);
	memset(big, 'm', size);
	g_assert_true(imap_transport_write_all(t, big, size, IO_TIMEOUT_MS,
					       &error));
	g_assert_no_error(error);
	want = g_strdup_printf("got %zu\n", size);
	read_exact(t, want);
	imap_transport_close(&t);
	server_join(s);
	g_assert_cmpuint(s->sunk, ==, size);
	g_free(want);
	g_free(big);
	g_free(s);
}

static void test_tcp_write_large(void)
{
	sink_test(false);
}

/* Slower in all than the timeout, but never stalled that long: the
 * timeout restarts with each bit of progress. */
static void test_tcp_write_slow(void)
{
	const size_t size = 16 * 1024 * 1024;
	struct server *s = server_start(MODE_SLOW_SINK, false);
	struct imap_transport *t;
	GError *error = NULL;
	gint64 start;
	char *big;

	s->sink_bytes = size;
	server_go(s);
	t = connect_to(s);
	big = g_malloc0(size);
	start = g_get_monotonic_time();
	g_assert_true(imap_transport_write_all(t, big, size, 400, &error));
	g_assert_no_error(error);
	g_test_message("took %d ms", (int)elapsed_ms(start));
	g_assert_cmpint(elapsed_ms(start), >, 400);
	read_exact(t, "got 16777216\n");
	imap_transport_close(&t);
	server_join(s);
	g_free(big);
	g_free(s);
}

static void test_tcp_write_timeout(void)
{
	const size_t size = 64 * 1024 * 1024;
	struct server *s = server_start(MODE_NO_READ, false);
	struct imap_transport *t;
	GError *error = NULL;
	gint64 start;
	char *big;

	server_go(s);
	t = connect_to(s);
	big = g_malloc0(size);
	start = g_get_monotonic_time();
	g_assert_false(imap_transport_write_all(t, big, size, 300, &error));
	g_assert_error(error, IMAP_TRANSPORT_ERROR,
		       IMAP_TRANSPORT_ERROR_TIMEOUT);
	g_error_free(error);
	g_assert_cmpint(elapsed_ms(start), >=, 290);
	g_assert_cmpint(elapsed_ms(start), <, 3000);
	imap_transport_close(&t);
	server_join(s);
	g_free(big);
	g_free(s);
}

static void test_tcp_refused(void)
{
	struct imap_transport *t;
	GError *error = NULL;
	uint16_t port;
	char *want;
	int fd;

	/* A port that was just free; nothing listens there now. */
	fd = make_listener(AF_INET, &port);
	g_assert_cmpint(fd, >=, 0);
	close(fd);

	t = imap_transport_connect_tcp("127.0.0.1", port, IO_TIMEOUT_MS,
				       &error);
	g_assert_null(t);
	g_assert_error(error, IMAP_TRANSPORT_ERROR,
		       IMAP_TRANSPORT_ERROR_CONNECT);
	want = g_strdup_printf("cannot connect to 127.0.0.1:%u: %s",
			       (unsigned)port, g_strerror(ECONNREFUSED));
	g_assert_cmpstr(error->message, ==, want);
	g_free(want);
	g_error_free(error);
}

static void test_tcp_resolve(void)
{
	GError *error = NULL;

	g_assert_null(imap_transport_connect_tcp("nonexistent.invalid", 143,
						 IO_TIMEOUT_MS, &error));
	g_assert_error(error, IMAP_TRANSPORT_ERROR,
		       IMAP_TRANSPORT_ERROR_RESOLVE);
	g_assert_nonnull(strstr(error->message, "nonexistent.invalid"));
	assert_one_line(error);
	g_error_free(error);
}

/* ---- tunnel ------------------------------------------------------------- */

static struct imap_transport *spawn(const char *command)
{
	struct imap_transport *t;
	GError *error = NULL;

	t = imap_transport_spawn(command, NULL, &error);
	g_assert_no_error(error);
	g_assert_nonnull(t);
	return t;
}

/* One line from the tunnel, without its "\n". */
static char *read_line(struct imap_transport *t)
{
	GString *line = g_string_new(NULL);
	GError *error = NULL;
	char c;

	for (;;) {
		g_assert_cmpint(imap_transport_read(t, &c, 1, IO_TIMEOUT_MS,
						    &error), ==, 1);
		g_assert_no_error(error);
		if (c == '\n')
			break;
		g_string_append_c(line, c);
	}
	return g_string_free(line, FALSE);
}

static void test_tunnel_cat(void)
{
	struct imap_transport *t = spawn("cat");

	g_assert_false(imap_transport_is_tls(t));
	write_str(t, "a1 LOGOUT\r\n");
	read_exact(t, "a1 LOGOUT\r\n");
	imap_transport_close(&t);
	g_assert_null(t);
}

static void test_tunnel_echo(void)
{
	struct imap_transport *t = spawn("echo hi");

	read_exact(t, "hi\n");
	expect_eof(t);
	imap_transport_close(&t);
}

/* Waits up to 3 s for the process to be in one of the given states
 * (as in /proc/PID/stat); a process that no longer exists counts as
 * state 'X'. */
static bool process_state(const char *pid, const char *states)
{
	gint64 until = g_get_monotonic_time() + 3 * G_USEC_PER_SEC;
	char *path = g_strdup_printf("/proc/%s/stat", pid);
	char *stat = NULL;
	bool found = false;
	char state;

	while (!found && g_get_monotonic_time() < until) {
		if (!g_file_get_contents(path, &stat, NULL, NULL)) {
			state = 'X';
		} else {
			const char *end = strrchr(stat, ')');

			state = end && end[1] == ' ' ? end[2] : '?';
			g_free(stat);
		}
		found = strchr(states, state) != NULL;
		if (!found)
			g_usleep(10000);
	}
	g_free(path);
	return found;
}

/* Gone: reaped, or a zombie of some other parent. */
static bool process_gone(const char *pid)
{
	return process_state(pid, "XZ");
}

static void test_tunnel_kill(void)
{
	struct imap_transport *t;
	char *pid, *bg;
	gint64 start;

	t = spawn("echo $$; exec sleep 100");
	pid = read_line(t);
	start = g_get_monotonic_time();
	imap_transport_close(&t);
	g_assert_cmpint(elapsed_ms(start), <, 1000);
	g_assert_true(process_gone(pid));
	g_free(pid);

	/* Everything in the command's process group goes, not just sh. */
	t = spawn("sleep 100 & echo $!; sleep 100");
	bg = read_line(t);
	start = g_get_monotonic_time();
	imap_transport_close(&t);
	g_assert_cmpint(elapsed_ms(start), <, 1000);
	g_assert_true(process_gone(bg));
	g_free(bg);

	/* A stopped command that handles SIGTERM (as ssh does) ends as
	 * quickly: the handler only runs once the command is continued. */
	t = spawn("trap 'exit 0' TERM; echo $$; kill -STOP $$; sleep 100");
	pid = read_line(t);
	g_assert_true(process_state(pid, "T"));
	start = g_get_monotonic_time();
	imap_transport_close(&t);
	g_assert_cmpint(elapsed_ms(start), <, 1000);
	g_assert_true(process_gone(pid));
	g_free(pid);
}

static void test_tunnel_term_ignored(void)
{
	struct imap_transport *t;
	gint64 start, ms;
	char *pid;

	/* SIGTERM ignored: SIGKILL follows after the bounded wait. */
	t = spawn("trap '' TERM; echo $$; while :; do sleep 1; done");
	pid = read_line(t);
	start = g_get_monotonic_time();
	imap_transport_close(&t);
	ms = elapsed_ms(start);
	g_assert_cmpint(ms, >=, 1500);
	g_assert_cmpint(ms, <, 4000);
	g_assert_true(process_gone(pid));
	g_free(pid);
}

static void test_tunnel_read_timeout(void)
{
	struct imap_transport *t = spawn("exec sleep 100");
	GError *error = NULL;
	gint64 start;
	char c;

	start = g_get_monotonic_time();
	g_assert_cmpint(imap_transport_read(t, &c, 1, 200, &error), ==, -1);
	g_assert_error(error, IMAP_TRANSPORT_ERROR,
		       IMAP_TRANSPORT_ERROR_TIMEOUT);
	g_error_free(error);
	g_assert_cmpint(elapsed_ms(start), <, 400);
	imap_transport_close(&t);
}

static void test_tunnel_exit(void)
{
	struct imap_transport *t = spawn("exit 7");
	GError *error = NULL;
	bool ok;
	int i;

	expect_eof(t);
	/* Writing to a command that is gone fails without SIGPIPE. */
	for (i = 0, ok = true; ok && i < 100; i++)
		ok = imap_transport_write_all(t, "x", 1, IO_TIMEOUT_MS,
					      &error);
	g_assert_false(ok);
	g_assert_error(error, IMAP_TRANSPORT_ERROR,
		       IMAP_TRANSPORT_ERROR_CLOSED);
	g_error_free(error);
	imap_transport_close(&t);
}

static void test_tunnel_environment(void)
{
	struct sigaction ign = { .sa_handler = SIG_IGN }, old;
	struct imap_transport *t;
	unsigned long long mask;
	char *line, *end;
	int fd;

	/* Only 0, 1 and 2 reach the command (ls holds 3 for the listing),
	 * even from a descriptor without close-on-exec. */
	fd = open("/dev/null", O_RDONLY);
	g_assert_cmpint(fd, >=, 0);
	t = spawn("exec ls /proc/self/fd");
	read_exact(t, "0\n1\n2\n3\n");
	expect_eof(t);
	imap_transport_close(&t);
	close(fd);

	/* SIGPIPE back at its default although we ignore it. */
	sigemptyset(&ign.sa_mask);
	g_assert_cmpint(sigaction(SIGPIPE, &ign, &old), ==, 0);
	t = spawn("exec grep '^SigIgn:' /proc/self/status");
	line = read_line(t);
	imap_transport_close(&t);
	sigaction(SIGPIPE, &old, NULL);
	g_assert_true(g_str_has_prefix(line, "SigIgn:"));
	mask = g_ascii_strtoull(line + 7, &end, 16);
	g_assert_cmpuint(mask & (1ULL << (SIGPIPE - 1)), ==, 0);
	g_free(line);

	/* A process group of its own, led by the command. */
	t = spawn("exec cat /proc/self/stat");
	line = read_line(t);
	imap_transport_close(&t);
	{
		char **f = g_strsplit(strrchr(line, ')') + 2, " ", 4);
		char **pid = g_strsplit(line, " ", 2);

		/* after ")": state ppid pgrp */
		g_assert_cmpstr(f[2], ==, pid[0]);
		g_assert_cmpint(atoi(pid[0]), !=, getpgrp());
		g_strfreev(f);
		g_strfreev(pid);
	}
	g_free(line);
}

static void test_tunnel_workdir(void)
{
	char *sub = g_build_filename(tmpdir, "tunnel dir", NULL);
	char *missing = g_build_filename(tmpdir, "missing", NULL);
	struct imap_transport *t;
	GError *error = NULL;
	char *line, *want;

	g_assert_cmpint(g_mkdir(sub, 0700), ==, 0);
	t = imap_transport_spawn("pwd -P", sub, &error);
	g_assert_no_error(error);
	line = read_line(t);
	imap_transport_close(&t);
	want = realpath(sub, NULL);
	g_assert_cmpstr(line, ==, want);
	free(want);
	g_free(line);

	g_assert_null(imap_transport_spawn("cat", missing, &error));
	g_assert_error(error, IMAP_TRANSPORT_ERROR,
		       IMAP_TRANSPORT_ERROR_SPAWN);
	g_assert_nonnull(strstr(error->message, "cannot change to directory"));
	g_assert_nonnull(strstr(error->message, missing));
	assert_one_line(error);
	g_error_free(error);

	g_rmdir(sub);
	g_free(sub);
	g_free(missing);
}

/*
 * As after fuse_daemonize(): a process that inherited the transport but
 * is not the command's parent closes it.  It must not signal a pid that
 * is not its own child (by then it may name another process).
 */
static void test_tunnel_close_not_our_child(void)
{
	struct imap_transport *t = spawn("echo $$; exec cat");
	char *pid = read_line(t);
	char *line;
	int status;
	pid_t other;

	other = fork();
	g_assert_cmpint(other, >=, 0);
	if (other == 0) {
		imap_transport_close(&t);
		_exit(0);
	}
	g_assert_cmpint(waitpid(other, &status, 0), ==, other);
	g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* Not killed: it still answers (a killed one would give EOF). */
	write_str(t, "still there\n");
	line = read_line(t);
	g_assert_cmpstr(line, ==, "still there");
	g_free(line);
	/* Its parent ends it. */
	imap_transport_close(&t);
	g_assert_true(process_gone(pid));
	g_free(pid);
}

/* ---- TLS ---------------------------------------------------------------- */

static bool need_certs(void)
{
	if (!have_certs)
		g_test_skip("openssl not available to make certificates");
	return have_certs;
}

static struct imap_transport *tls_connect(struct server *s,
		const char *hostname, const struct imap_tls_config *config,
		GError **error)
{
	struct imap_transport *t = connect_to(s);

	if (!imap_transport_start_tls(t, hostname, config, IO_TIMEOUT_MS,
				      error))
		imap_transport_close(&t);
	return t;
}

static void tls_echo_with(const char *hostname,
		const struct imap_tls_config *config, bool want_client_cert)
{
	struct server *s = server_start(MODE_ECHO, true);
	struct imap_transport *t;
	GError *error = NULL;

	server_go(s);
	t = tls_connect(s, hostname, config, &error);
	g_assert_no_error(error);
	g_assert_true(imap_transport_is_tls(t));
	write_str(t, "a1 CAPABILITY\r\n");
	read_exact(t, "a1 CAPABILITY\r\n");
	imap_transport_close(&t);
	server_join(s);
	g_assert_true(s->handshake_ok);
	g_assert_cmpint(s->client_cert_ok, ==, want_client_cert);
	g_free(s);
}

static void test_tls_cafile(void)
{
	const struct imap_tls_config config = { .cafile = ca_pem };

	if (!need_certs())
		return;
	tls_echo_with("localhost", &config, false);
	tls_echo_with("127.0.0.1", &config, false);
}

static void test_tls_insecure(void)
{
	const struct imap_tls_config config = { .insecure = true };

	if (!need_certs())
		return;
	tls_echo_with("localhost", &config, false);
	tls_echo_with("example.com", &config, false);
}

static void test_tls_client_cert(void)
{
	const struct imap_tls_config separate = {
		.cafile = ca_pem, .certfile = client_pem, .keyfile = client_key,
	};
	char *both_path = g_build_filename(tmpdir, "client-both.pem", NULL);
	struct imap_tls_config both = { .cafile = ca_pem };
	char *cert, *key, *all;

	if (!need_certs())
		goto out;
	tls_echo_with("localhost", &separate, true);

	/* Certificate and key in one file, keyfile NULL. */
	g_assert_true(g_file_get_contents(client_pem, &cert, NULL, NULL));
	g_assert_true(g_file_get_contents(client_key, &key, NULL, NULL));
	all = g_strconcat(cert, key, NULL);
	g_assert_true(g_file_set_contents(both_path, all, -1, NULL));
	both.certfile = both_path;
	tls_echo_with("localhost", &both, true);
	g_free(all);
	g_free(cert);
	g_free(key);
out:
	g_free(both_path);
}

static void expect_certificate_error(const char *hostname,
		const struct imap_tls_config *config, const char *in_message)
{
	struct server *s = server_start(MODE_ECHO, true);
	struct imap_transport *t;
	GError *error = NULL;

	server_go(s);
	t = tls_connect(s, hostname, config, &error);
	g_assert_null(t);
	g_assert_error(error, IMAP_TRANSPORT_ERROR,
		       IMAP_TRANSPORT_ERROR_CERTIFICATE);
	g_test_message("%s", error->message);
	g_assert_true(g_str_has_prefix(error->message, "certificate of "));
	g_assert_nonnull(strstr(error->message, hostname));
	g_assert_nonnull(strstr(error->message, "not trusted"));
	g_assert_nonnull(strstr(error->message, in_message));
	assert_one_line(error);
	g_error_free(error);
	server_join(s);
	g_assert_false(s->handshake_ok);
	g_free(s);
}

static void test_tls_system_trust(void)
{
	const struct imap_tls_config config = { NULL, NULL, NULL, false };

	if (!need_certs())
		return;
	expect_certificate_error("localhost", &config, "issuer is unknown");
}

static void test_tls_wrong_name(void)
{
	const struct imap_tls_config config = { .cafile = ca_pem };

	if (!need_certs())
		return;
	expect_certificate_error("example.com", &config, "does not match");
	expect_certificate_error("127.0.0.2", &config, "does not match");
}

static void expect_config_error(const struct imap_tls_config *config,
		const char *in_message)
{
	struct server *s = server_start(MODE_ECHO, true);
	struct imap_transport *t;
	GError *error = NULL;

	/* The server never sees a handshake; join ends its wait. */
	server_go(s);
	t = connect_to(s);
	g_assert_false(imap_transport_start_tls(t, "localhost", config,
						IO_TIMEOUT_MS, &error));
	g_assert_error(error, IMAP_TRANSPORT_ERROR,
		       IMAP_TRANSPORT_ERROR_CONFIG);
	g_test_message("%s", error->message);
	g_assert_nonnull(strstr(error->message, in_message));
	g_error_free(error);
	g_assert_false(imap_transport_is_tls(t));
	imap_transport_close(&t);
	server_join(s);
	g_free(s);
}

static void test_tls_bad_config(void)
{
	char *missing = g_build_filename(tmpdir, "missing.pem", NULL);
	char *junk = g_build_filename(tmpdir, "junk.pem", NULL);
	struct imap_tls_config config;

	if (!need_certs())
		goto out;
	g_assert_true(g_file_set_contents(junk, "not a certificate\n", -1,
					  NULL));

	config = (struct imap_tls_config){ .cafile = missing };
	expect_config_error(&config, missing);
	config = (struct imap_tls_config){ .cafile = junk };
	expect_config_error(&config, junk);
	config = (struct imap_tls_config){ .cafile = ca_pem,
					   .certfile = missing };
	expect_config_error(&config, missing);
	/* A certificate whose key is not in the same file. */
	config = (struct imap_tls_config){ .cafile = ca_pem,
					   .certfile = client_pem };
	expect_config_error(&config, client_pem);
	config = (struct imap_tls_config){ .cafile = ca_pem,
					   .keyfile = client_key };
	expect_config_error(&config, client_key);
out:
	g_free(missing);
	g_free(junk);
}

static void test_tls_starttls(void)
{
	const struct imap_tls_config config = { .cafile = ca_pem };
	struct server *s;
	struct imap_transport *t;
	GError *error = NULL;

	if (!need_certs())
		return;
	s = server_start(MODE_ECHO, true);
	s->starttls = true;
	server_go(s);
	t = connect_to(s);
	read_exact(t, "* OK hello\r\n");
	write_str(t, "STARTTLS\r\n");
	read_exact(t, "ok\r\n");
	g_assert_false(imap_transport_is_tls(t));
	g_assert_true(imap_transport_start_tls(t, "localhost", &config,
					       IO_TIMEOUT_MS, &error));
	g_assert_no_error(error);
	g_assert_true(imap_transport_is_tls(t));

	/* Twice is a mistake, reported rather than done. */
	g_assert_false(imap_transport_start_tls(t, "localhost", &config,
						IO_TIMEOUT_MS, &error));
	g_assert_error(error, IMAP_TRANSPORT_ERROR, IMAP_TRANSPORT_ERROR_TLS);
	g_clear_error(&error);

	/* Buffered TLS data counts as readable although the socket is
	 * drained: one record of three bytes, read one byte at a time. */
	write_str(t, "abc");
	g_assert_true(wait_readable(t));
	read_exact(t, "a");
	g_assert_true(imap_transport_readable(t));
	read_exact(t, "bc");
	g_assert_false(imap_transport_readable(t));
	imap_transport_close(&t);
	server_join(s);
	g_assert_true(s->handshake_ok);
	g_free(s);
}

/*
 * Records of all sizes, all of them received before the first read (so
 * several come in one receive), read a few bytes at a time: every byte
 * arrives in order, and the transport is readable while any is left,
 * although the socket itself has nothing more to give.
 */
static void test_tls_small_records(void)
{
	const struct imap_tls_config config = { .cafile = ca_pem };
	const size_t total = 40000;
	struct server *s;
	struct imap_transport *t;
	GError *error = NULL;
	gint64 until;
	size_t got = 0;
	char buf[7];

	if (!need_certs())
		return;
	s = server_start(MODE_RECORDS, true);
	s->sink_bytes = total;
	server_go(s);
	t = tls_connect(s, "localhost", &config, &error);
	g_assert_no_error(error);
	until = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
	while (!g_atomic_int_get(&s->all_sent) &&
	       g_get_monotonic_time() < until)
		g_usleep(1000);
	g_assert_true(g_atomic_int_get(&s->all_sent));
	while (got < total) {
		ssize_t n;

		/* Waits for what Nagle's algorithm holds back; what is
		 * buffered must not wait for the socket. */
		g_assert_true(imap_transport_wait_readable(t, 2000));
		n = imap_transport_read(t, buf, MIN(sizeof(buf), total - got),
					IO_TIMEOUT_MS, &error);
		g_assert_no_error(error);
		g_assert_cmpint(n, >, 0);
		for (ssize_t i = 0; i < n; i++)
			g_assert_cmpint(buf[i], ==, pattern_byte(got + (size_t)i));
		got += (size_t)n;
	}
	g_assert_false(imap_transport_readable(t));
	imap_transport_close(&t);
	server_join(s);
	g_free(s);
}

static void tls_eof_with(bool bye)
{
	const struct imap_tls_config config = { .cafile = ca_pem };
	struct server *s = server_start(MODE_SEND_CLOSE, true);
	struct imap_transport *t;
	GError *error = NULL;

	s->bye = bye;
	server_go(s);
	t = tls_connect(s, "localhost", &config, &error);
	g_assert_no_error(error);
	read_exact(t, "bye\r\n");
	expect_eof(t);
	imap_transport_close(&t);
	server_join(s);
	g_free(s);
}

static void test_tls_eof(void)
{
	if (!need_certs())
		return;
	tls_eof_with(true);	/* close_notify */
	tls_eof_with(false);	/* just a TCP close */
}

static void test_tls_read_timeout(void)
{
	const struct imap_tls_config config = { .cafile = ca_pem };
	struct server *s;
	struct imap_transport *t;
	GError *error = NULL;
	gint64 start;
	char buf[16];

	if (!need_certs())
		return;
	s = server_start(MODE_SILENT, true);
	server_go(s);
	t = tls_connect(s, "localhost", &config, &error);
	g_assert_no_error(error);
	start = g_get_monotonic_time();
	g_assert_cmpint(imap_transport_read(t, buf, sizeof(buf), 300, &error),
			==, -1);
	g_assert_error(error, IMAP_TRANSPORT_ERROR,
		       IMAP_TRANSPORT_ERROR_TIMEOUT);
	g_error_free(error);
	g_assert_cmpint(elapsed_ms(start), >=, 290);
	g_assert_cmpint(elapsed_ms(start), <, 600);
	imap_transport_close(&t);
	server_join(s);
	g_free(s);
}

static void test_tls_handshake_timeout(void)
{
	const struct imap_tls_config config = { .cafile = ca_pem };
	struct server *s;
	struct imap_transport *t;
	GError *error = NULL;
	gint64 start;

	if (!need_certs())
		return;
	/* A server that never answers the ClientHello. */
	s = server_start(MODE_SILENT, false);
	server_go(s);
	t = connect_to(s);
	start = g_get_monotonic_time();
	g_assert_false(imap_transport_start_tls(t, "localhost", &config, 300,
						&error));
	g_assert_error(error, IMAP_TRANSPORT_ERROR,
		       IMAP_TRANSPORT_ERROR_TIMEOUT);
	g_error_free(error);
	g_assert_cmpint(elapsed_ms(start), <, 600);
	imap_transport_close(&t);
	server_join(s);
	g_free(s);
}

static void test_tls_not_tls(void)
{
	const struct imap_tls_config config = { .cafile = ca_pem };
	struct server *s;
	struct imap_transport *t;
	GError *error = NULL;

	if (!need_certs())
		return;
	/* A plaintext greeting where a ServerHello should be. */
	s = server_start(MODE_SEND_CLOSE, false);
	server_go(s);
	t = connect_to(s);
	g_assert_false(imap_transport_start_tls(t, "localhost", &config,
						IO_TIMEOUT_MS, &error));
	g_assert_error(error, IMAP_TRANSPORT_ERROR, IMAP_TRANSPORT_ERROR_TLS);
	g_test_message("%s", error->message);
	assert_one_line(error);
	g_error_free(error);
	imap_transport_close(&t);
	server_join(s);
	g_free(s);
}

static void test_tls_write_closed(void)
{
	const struct imap_tls_config config = { .cafile = ca_pem };
	struct server *s;
	struct imap_transport *t;
	GError *error = NULL;
	char buf[1024] = { 0 };
	int i;

	if (!need_certs())
		return;
	/* Handshake, then a TCP close without close_notify. */
	s = server_start(MODE_CLOSE, true);
	server_go(s);
	t = tls_connect(s, "localhost", &config, &error);
	g_assert_no_error(error);
	g_assert_true(wait_readable(t));
	for (i = 0; i < 100; i++) {
		if (!imap_transport_write_all(t, buf, sizeof(buf),
					      IO_TIMEOUT_MS, &error))
			break;
		g_usleep(10000);
	}
	g_assert_error(error, IMAP_TRANSPORT_ERROR,
		       IMAP_TRANSPORT_ERROR_CLOSED);
	g_error_free(error);
	imap_transport_close(&t);
	server_join(s);
	g_free(s);
}

static void test_tls_write_large(void)
{
	if (!need_certs())
		return;
	sink_test(true);
}

static const char relay_py[] =
	"import os, select, socket, sys\n"
	"s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))\n"
	"fds = [0, s.fileno()]\n"
	"while True:\n"
	"    r = select.select(fds, [], [], 10)[0]\n"
	"    if not r:\n"
	"        break\n"
	"    if 0 in r:\n"
	"        d = os.read(0, 65536)\n"
	"        if not d:\n"
	"            break\n"
	"        s.sendall(d)\n"
	"    if s.fileno() in r:\n"
	"        d = s.recv(65536)\n"
	"        if not d:\n"
	"            break\n"
	"        os.write(1, d)\n";

static void test_tls_over_tunnel(void)
{
	const struct imap_tls_config config = { .cafile = ca_pem };
	char *python = g_find_program_in_path("python3");
	char *script, *command;
	struct server *s;
	struct imap_transport *t;
	GError *error = NULL;

	if (!need_certs())
		goto out;
	if (!python) {
		g_test_skip("no python3 for the relay");
		goto out;
	}
	script = g_build_filename(tmpdir, "relay.py", NULL);
	g_assert_true(g_file_set_contents(script, relay_py, -1, NULL));
	s = server_start(MODE_ECHO, true);
	server_go(s);
	command = g_strdup_printf("exec '%s' '%s' %u", python, script,
				  (unsigned)s->port);
	t = spawn(command);
	g_assert_true(imap_transport_start_tls(t, "localhost", &config,
					       IO_TIMEOUT_MS, &error));
	g_assert_no_error(error);
	write_str(t, "a1 NOOP\r\n");
	read_exact(t, "a1 NOOP\r\n");
	imap_transport_close(&t);
	server_join(s);
	g_assert_true(s->handshake_ok);
	g_free(s);
	g_free(command);
	g_free(script);
out:
	g_free(python);
}

/* ---- set-up ------------------------------------------------------------- */

static const char make_certs_sh[] =
	"set -e\n"
	"exec 2>openssl.log\n"
	"ec='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes'\n"
	"openssl req -x509 $ec -keyout ca.key -out ca.pem -days 2 "
	"-subj '/CN=imapfs test CA' "
	"-addext basicConstraints=critical,CA:TRUE "
	"-addext keyUsage=critical,keyCertSign,cRLSign\n"
	"printf '%s\\n' 'subjectAltName=DNS:localhost,IP:127.0.0.1' "
	"basicConstraints=CA:FALSE extendedKeyUsage=serverAuth >server.ext\n"
	"printf '%s\\n' basicConstraints=CA:FALSE "
	"extendedKeyUsage=clientAuth >client.ext\n"
	"for who in server client; do\n"
	"  openssl req $ec -keyout $who.key -out $who.csr -subj /CN=$who\n"
	"  openssl x509 -req -in $who.csr -CA ca.pem -CAkey ca.key "
	"-CAcreateserial -days 2 -extfile $who.ext -out $who.pem\n"
	"done\n";

static void make_certs(void)
{
	static char sh[] = "/bin/sh", dash_c[] = "-c";
	char *argv[] = { sh, dash_c, NULL, NULL };
	GError *error = NULL;
	char *openssl;
	int status;

	ca_pem = g_build_filename(tmpdir, "ca.pem", NULL);
	server_pem = g_build_filename(tmpdir, "server.pem", NULL);
	server_key = g_build_filename(tmpdir, "server.key", NULL);
	client_pem = g_build_filename(tmpdir, "client.pem", NULL);
	client_key = g_build_filename(tmpdir, "client.key", NULL);

	openssl = g_find_program_in_path("openssl");
	if (!openssl)
		return;
	g_free(openssl);
	argv[2] = g_strdup(make_certs_sh);
	if (!g_spawn_sync(tmpdir, argv, NULL, G_SPAWN_DEFAULT, NULL, NULL,
			  NULL, NULL, &status, &error) ||
	    !g_spawn_check_wait_status(status, &error)) {
		g_printerr("cannot make test certificates (see %s): %s\n",
			   tmpdir, error->message);
		exit(1);
	}
	g_free(argv[2]);
	have_certs = true;
}

static void remove_tree(const char *dir)
{
	GDir *d = g_dir_open(dir, 0, NULL);
	const char *name;

	if (!d)
		return;
	while ((name = g_dir_read_name(d))) {
		char *path = g_build_filename(dir, name, NULL);

		g_unlink(path);
		g_free(path);
	}
	g_dir_close(d);
	g_rmdir(dir);
}

int main(int argc, char **argv)
{
	GError *error = NULL;
	int rc;

	g_test_init(&argc, &argv, NULL);
	tmpdir = g_dir_make_tmp("test-transport-XXXXXX", &error);
	g_assert_no_error(error);
	make_certs();

	g_test_add_func("/transport/tcp/echo", test_tcp_echo);
	g_test_add_func("/transport/tcp/hostname", test_tcp_hostname);
	g_test_add_func("/transport/tcp/ipv6", test_tcp_ipv6);
	g_test_add_func("/transport/tcp/read-timeout", test_tcp_read_timeout);
	g_test_add_func("/transport/tcp/eof", test_tcp_eof);
	g_test_add_func("/transport/tcp/write-closed", test_tcp_write_closed);
	g_test_add_func("/transport/tcp/write-large", test_tcp_write_large);
	g_test_add_func("/transport/tcp/write-slow", test_tcp_write_slow);
	g_test_add_func("/transport/tcp/write-timeout",
			test_tcp_write_timeout);
	g_test_add_func("/transport/tcp/refused", test_tcp_refused);
	g_test_add_func("/transport/tcp/resolve", test_tcp_resolve);
	g_test_add_func("/transport/tunnel/cat", test_tunnel_cat);
	g_test_add_func("/transport/tunnel/echo", test_tunnel_echo);
	g_test_add_func("/transport/tunnel/kill", test_tunnel_kill);
	g_test_add_func("/transport/tunnel/term-ignored",
			test_tunnel_term_ignored);
	g_test_add_func("/transport/tunnel/read-timeout",
			test_tunnel_read_timeout);
	g_test_add_func("/transport/tunnel/exit", test_tunnel_exit);
	g_test_add_func("/transport/tunnel/environment",
			test_tunnel_environment);
	g_test_add_func("/transport/tunnel/workdir", test_tunnel_workdir);
	g_test_add_func("/transport/tunnel/close-not-our-child",
			test_tunnel_close_not_our_child);
	g_test_add_func("/transport/tls/cafile", test_tls_cafile);
	g_test_add_func("/transport/tls/insecure", test_tls_insecure);
	g_test_add_func("/transport/tls/client-cert", test_tls_client_cert);
	g_test_add_func("/transport/tls/system-trust", test_tls_system_trust);
	g_test_add_func("/transport/tls/wrong-name", test_tls_wrong_name);
	g_test_add_func("/transport/tls/bad-config", test_tls_bad_config);
	g_test_add_func("/transport/tls/starttls", test_tls_starttls);
	g_test_add_func("/transport/tls/eof", test_tls_eof);
	g_test_add_func("/transport/tls/small-records",
			test_tls_small_records);
	g_test_add_func("/transport/tls/read-timeout", test_tls_read_timeout);
	g_test_add_func("/transport/tls/handshake-timeout",
			test_tls_handshake_timeout);
	g_test_add_func("/transport/tls/not-tls", test_tls_not_tls);
	g_test_add_func("/transport/tls/write-closed", test_tls_write_closed);
	g_test_add_func("/transport/tls/write-large", test_tls_write_large);
	g_test_add_func("/transport/tls/over-tunnel", test_tls_over_tunnel);
	rc = g_test_run();

	remove_tree(tmpdir);
	g_free(tmpdir);
	g_free(ca_pem);
	g_free(server_pem);
	g_free(server_key);
	g_free(client_pem);
	g_free(client_key);
	return rc;
}
