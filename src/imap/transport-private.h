/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Shared between transport.c (sockets, tunnel, plain I/O) and
 * transport-tls.c (GnuTLS).  Not for use outside the transport.
 */
#ifndef IMAPFS_IMAP_TRANSPORT_PRIVATE_H
#define IMAPFS_IMAP_TRANSPORT_PRIVATE_H

#include <gnutls/gnutls.h>

#include "imap/transport.h"

struct imap_transport {
	int fd;			/* owned; non-blocking, close-on-exec */
	pid_t pid;		/* tunnel command, or 0 */
	char *peer;		/* owned; for messages */
	char *tls_hostname;	/* owned; GnuTLS keeps a pointer to it */
	gnutls_session_t tls;	/* owned, or NULL before the handshake */
	gnutls_certificate_credentials_t creds;	/* owned, or NULL */
};

/* Monotonic time (µs) timeout_ms from now; -1 (no deadline) if negative. */
gint64 imap_transport_deadline(int timeout_ms);

/* poll() the socket for events until the deadline.  On timeout the error
 * says "timed out <doing> <peer>". */
bool imap_transport_wait(struct imap_transport *t, short events,
		gint64 deadline, const char *doing, GError **error);

ssize_t imap_transport_tls_read(struct imap_transport *t, void *buf,
		size_t len, gint64 deadline, GError **error);
bool imap_transport_tls_write_all(struct imap_transport *t, const char *p,
		size_t len, int timeout_ms, GError **error);
bool imap_transport_tls_pending(struct imap_transport *t);
/* Send close_notify if it goes out at once, and free the TLS state. */
void imap_transport_tls_free(struct imap_transport *t);

#endif
