/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Byte streams to an IMAP server: TCP, a tunnel command, and TLS on top of
 * either (implicit TLS, or STARTTLS once the session asks for it).
 *
 * Every call that can wait takes a timeout in milliseconds and never blocks
 * longer than that without progress.  The transport keeps no plaintext read
 * buffer of its own: whatever the caller has read stays the caller's, which
 * is how the session can throw away everything received before a STARTTLS
 * handshake.
 */
#ifndef IMAPFS_IMAP_TRANSPORT_H
#define IMAPFS_IMAP_TRANSPORT_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define IMAP_TRANSPORT_ERROR (imap_transport_error_quark())
GQuark imap_transport_error_quark(void);

enum imap_transport_error {
	IMAP_TRANSPORT_ERROR_RESOLVE,	/* host name did not resolve */
	IMAP_TRANSPORT_ERROR_CONNECT,	/* refused, unreachable, ... */
	IMAP_TRANSPORT_ERROR_SPAWN,	/* tunnel command could not start */
	IMAP_TRANSPORT_ERROR_TIMEOUT,
	IMAP_TRANSPORT_ERROR_CLOSED,	/* peer closed while we wrote */
	IMAP_TRANSPORT_ERROR_IO,
	IMAP_TRANSPORT_ERROR_TLS,	/* handshake or record layer */
	IMAP_TRANSPORT_ERROR_CERTIFICATE, /* verification failed */
	IMAP_TRANSPORT_ERROR_CONFIG,	/* bad cafile, cert or key */
};

struct imap_tls_config {
	const char *cafile;	/* PEM bundle; NULL: the system trust store */
	const char *certfile;	/* client certificate (PEM), or NULL */
	const char *keyfile;	/* its key (PEM); NULL: in certfile */
	bool insecure;		/* skip certificate verification */
};

struct imap_transport;

/* Resolve host and connect to the first address that answers, within
 * timeout_ms in all. */
struct imap_transport *imap_transport_connect_tcp(const char *host,
		uint16_t port, int timeout_ms, GError **error);

/* Run "/bin/sh -c command" in workdir (NULL: ours), in a process group
 * of its own, with its stdin and stdout connected to the returned
 * transport; stderr is inherited. */
struct imap_transport *imap_transport_spawn(const char *command,
		const char *workdir, GError **error);

/*
 * TLS handshake over the connection (right after connect for imaps, after
 * the tagged OK of STARTTLS otherwise).  Verifies the certificate chain and
 * that it names `hostname` (a DNS name or an IP address literal) unless
 * tls->insecure.  The error message says why verification failed.
 */
bool imap_transport_start_tls(struct imap_transport *transport,
		const char *hostname, const struct imap_tls_config *tls,
		int timeout_ms, GError **error);

bool imap_transport_is_tls(const struct imap_transport *transport);

/*
 * Read up to len bytes.  Returns the number read (> 0), 0 at end of stream,
 * or -1 with *error set (timeout after timeout_ms without any byte, I/O or
 * TLS failure).
 */
ssize_t imap_transport_read(struct imap_transport *transport, void *buf,
		size_t len, int timeout_ms, GError **error);

/* Write all of buf.  The timeout applies to each wait for progress, so a
 * large body on a slow link does not time out while it moves. */
bool imap_transport_write_all(struct imap_transport *transport,
		const void *buf, size_t len, int timeout_ms, GError **error);

/* True when a read would not block: data (or TLS records) are buffered or
 * the peer closed.  Used to notice unsolicited data and dead sessions. */
bool imap_transport_readable(struct imap_transport *transport);
/* The same, waiting up to timeout_ms for it. */
bool imap_transport_wait_readable(struct imap_transport *transport,
		int timeout_ms);

/* Close; for a tunnel, also end the command's process group (SIGTERM,
 * then SIGKILL after a short bounded wait) and reap it, provided it is
 * still our unreaped child (see imap_pool_close_idle()).  Sets *transport
 * to NULL. */
void imap_transport_close(struct imap_transport **transport);

#endif
