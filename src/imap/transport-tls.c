/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * TLS over a transport's socket with GnuTLS: implicit TLS and STARTTLS are
 * the same handshake, started at a different moment.
 *
 * The socket stays non-blocking; GnuTLS returns GNUTLS_E_AGAIN and
 * gnutls_record_get_direction() tells whether to wait to read or to write.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <string.h>

#include <gnutls/gnutls.h>

#include "imap/transport-private.h"

static gpointer global_init(gpointer data)
{
	(void)data;
	return GINT_TO_POINTER(gnutls_global_init());
}

/* Explicit although the library constructor does it too: the call is
 * reference counted, and its failure is reported instead of ignored. */
static bool tls_global_init(GError **error)
{
	static GOnce once = G_ONCE_INIT;
	int rc = GPOINTER_TO_INT(g_once(&once, global_init, NULL));

	if (rc < 0) {
		g_set_error(error, IMAP_TRANSPORT_ERROR,
			    IMAP_TRANSPORT_ERROR_TLS,
			    "cannot initialise GnuTLS: %s",
			    gnutls_strerror(rc));
		return false;
	}
	return true;
}

static short tls_direction(gnutls_session_t session)
{
	return gnutls_record_get_direction(session) ? POLLOUT : POLLIN;
}

static bool load_credentials(gnutls_certificate_credentials_t creds,
		const struct imap_tls_config *tls, GError **error)
{
	int rc;

	if (tls->cafile) {
		rc = gnutls_certificate_set_x509_trust_file(creds, tls->cafile,
				GNUTLS_X509_FMT_PEM);
		if (rc <= 0) {
			g_set_error(error, IMAP_TRANSPORT_ERROR,
				    IMAP_TRANSPORT_ERROR_CONFIG,
				    "cannot load CA certificates from %s: %s",
				    tls->cafile,
				    rc == 0 ? "no certificate found"
					    : gnutls_strerror(rc));
			return false;
		}
	} else if (!tls->insecure) {
		/* Zero certificates is not an error here: verification
		 * then fails and says the issuer is unknown. */
		rc = gnutls_certificate_set_x509_system_trust(creds);
		if (rc < 0) {
			g_set_error(error, IMAP_TRANSPORT_ERROR,
				    IMAP_TRANSPORT_ERROR_CONFIG,
				    "cannot load the system's CA certificates: %s",
				    gnutls_strerror(rc));
			return false;
		}
	}

	if (tls->keyfile && !tls->certfile) {
		g_set_error(error, IMAP_TRANSPORT_ERROR,
			    IMAP_TRANSPORT_ERROR_CONFIG,
			    "a client key (%s) needs a client certificate",
			    tls->keyfile);
		return false;
	}
	if (tls->certfile) {
		const char *key = tls->keyfile ? tls->keyfile : tls->certfile;

		rc = gnutls_certificate_set_x509_key_file(creds,
				tls->certfile, key, GNUTLS_X509_FMT_PEM);
		if (rc < 0) {
			g_set_error(error, IMAP_TRANSPORT_ERROR,
				    IMAP_TRANSPORT_ERROR_CONFIG,
				    "cannot load client certificate %s with key %s: %s",
				    tls->certfile, key, gnutls_strerror(rc));
			return false;
		}
	}
	return true;
}

/* GnuTLS's description of a verification status, as one line. */
static char *verify_status_text(gnutls_session_t session)
{
	unsigned int status = gnutls_session_get_verify_cert_status(session);
	gnutls_datum_t out = { NULL, 0 };
	char *text;

	if (gnutls_certificate_verification_status_print(status,
			gnutls_certificate_type_get(session), &out, 0) < 0)
		return g_strdup_printf("verification status 0x%x", status);
	text = g_strdup((const char *)out.data);
	gnutls_free(out.data);
	g_strdelimit(text, "\r\n\t", ' ');
	return g_strstrip(text);
}

static void handshake_error(gnutls_session_t session, const char *hostname,
		int rc, GError **error)
{
	char *why;

	if (rc == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR) {
		why = verify_status_text(session);
		g_set_error(error, IMAP_TRANSPORT_ERROR,
			    IMAP_TRANSPORT_ERROR_CERTIFICATE,
			    "certificate of %s not trusted: %s", hostname, why);
		g_free(why);
	} else if (rc == GNUTLS_E_FATAL_ALERT_RECEIVED) {
		g_set_error(error, IMAP_TRANSPORT_ERROR,
			    IMAP_TRANSPORT_ERROR_TLS,
			    "TLS handshake with %s failed: %s (%s)", hostname,
			    gnutls_strerror(rc),
			    gnutls_alert_get_name(gnutls_alert_get(session)));
	} else {
		g_set_error(error, IMAP_TRANSPORT_ERROR,
			    IMAP_TRANSPORT_ERROR_TLS,
			    "TLS handshake with %s failed: %s", hostname,
			    gnutls_strerror(rc));
	}
}

static bool expired(gint64 deadline)
{
	return deadline >= 0 && g_get_monotonic_time() >= deadline;
}

static void timed_out(struct imap_transport *t, const char *doing,
		GError **error)
{
	g_set_error(error, IMAP_TRANSPORT_ERROR, IMAP_TRANSPORT_ERROR_TIMEOUT,
		    "timed out %s %s", doing, t->peer);
}

bool imap_transport_start_tls(struct imap_transport *transport,
		const char *hostname, const struct imap_tls_config *tls,
		int timeout_ms, GError **error)
{
	gint64 deadline = imap_transport_deadline(timeout_ms);
	gnutls_certificate_credentials_t creds = NULL;
	gnutls_session_t session = NULL;
	char *name;
	int rc;

	g_return_val_if_fail(transport != NULL, false);
	g_return_val_if_fail(hostname != NULL && tls != NULL, false);
	g_return_val_if_fail(error == NULL || *error == NULL, false);

	if (transport->tls) {
		g_set_error(error, IMAP_TRANSPORT_ERROR,
			    IMAP_TRANSPORT_ERROR_TLS,
			    "TLS is already active with %s", transport->peer);
		return false;
	}
	if (!tls_global_init(error))
		return false;

	name = g_strdup(hostname);
	rc = gnutls_certificate_allocate_credentials(&creds);
	if (rc < 0)
		goto gnutls_failed;
	if (!load_credentials(creds, tls, error))
		goto fail;
	rc = gnutls_init(&session, GNUTLS_CLIENT | GNUTLS_NO_SIGNAL);
	if (rc < 0)
		goto gnutls_failed;
	rc = gnutls_set_default_priority(session);
	if (rc < 0)
		goto gnutls_failed;
	rc = gnutls_credentials_set(session, GNUTLS_CRD_CERTIFICATE, creds);
	if (rc < 0)
		goto gnutls_failed;
	/* RFC 6066 forbids IP addresses in SNI. */
	if (!g_hostname_is_ip_address(name)) {
		rc = gnutls_server_name_set(session, GNUTLS_NAME_DNS, name,
					    strlen(name));
		if (rc < 0)
			goto gnutls_failed;
	}
	/* Checks the chain and the name (DNS name or IP address) during the
	 * handshake, which then fails before any byte of ours is sent. */
	if (!tls->insecure)
		gnutls_session_set_verify_cert(session, name, 0);
	gnutls_transport_set_int(session, transport->fd);

	for (;;) {
		rc = gnutls_handshake(session);
		if (rc == GNUTLS_E_SUCCESS)
			break;
		if (rc == GNUTLS_E_AGAIN) {
			if (!imap_transport_wait(transport,
					tls_direction(session), deadline,
					"in the TLS handshake with", error))
				goto fail;
		} else if (rc == GNUTLS_E_INTERRUPTED ||
			   !gnutls_error_is_fatal(rc)) {
			/* A warning alert: go on, but not for ever. */
			if (expired(deadline)) {
				timed_out(transport,
					  "in the TLS handshake with", error);
				goto fail;
			}
		} else {
			handshake_error(session, name, rc, error);
			goto fail;
		}
	}

	transport->tls = session;
	transport->creds = creds;
	transport->tls_hostname = name;
	return true;

gnutls_failed:
	g_set_error(error, IMAP_TRANSPORT_ERROR, IMAP_TRANSPORT_ERROR_TLS,
		    "cannot set up TLS for %s: %s", name, gnutls_strerror(rc));
fail:
	if (session)
		gnutls_deinit(session);
	if (creds)
		gnutls_certificate_free_credentials(creds);
	g_free(name);
	return false;
}

ssize_t imap_transport_tls_read(struct imap_transport *t, void *buf,
		size_t len, gint64 deadline, GError **error)
{
	ssize_t n;

	for (;;) {
		/* Called before any poll(): GnuTLS may hold a decrypted
		 * record that the socket no longer shows as readable. */
		n = gnutls_record_recv(t->tls, buf, len);
		if (n > 0)
			return n;
		/* No close_notify is common among IMAP servers that just
		 * hang up after BYE: treat it as the end of the stream. */
		if (n == 0 || n == GNUTLS_E_PREMATURE_TERMINATION)
			return 0;
		if (n == GNUTLS_E_AGAIN) {
			if (!imap_transport_wait(t, tls_direction(t->tls),
					deadline, "reading from", error))
				return -1;
			continue;
		}
		if (n == GNUTLS_E_PULL_ERROR) {
			g_set_error(error, IMAP_TRANSPORT_ERROR,
				    IMAP_TRANSPORT_ERROR_IO,
				    "cannot read from %s: %s", t->peer,
				    g_strerror(errno));
			return -1;
		}
		/* Interruptions, warning alerts and a TLS 1.2 renegotiation
		 * request (which we decline by ignoring it) all consume
		 * input, so retrying makes progress. */
		if (n == GNUTLS_E_INTERRUPTED ||
		    !gnutls_error_is_fatal((int)n)) {
			if (expired(deadline)) {
				timed_out(t, "reading from", error);
				return -1;
			}
			continue;
		}
		g_set_error(error, IMAP_TRANSPORT_ERROR,
			    IMAP_TRANSPORT_ERROR_TLS,
			    "TLS error reading from %s: %s", t->peer,
			    gnutls_strerror((int)n));
		return -1;
	}
}

bool imap_transport_tls_write_all(struct imap_transport *t, const char *p,
		size_t len, int timeout_ms, GError **error)
{
	gint64 deadline = imap_transport_deadline(timeout_ms);
	ssize_t n;

	while (len > 0) {
		/* After GNUTLS_E_AGAIN the same call must be repeated with
		 * the same arguments: p and len only move on success. */
		n = gnutls_record_send(t->tls, p, len);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			deadline = imap_transport_deadline(timeout_ms);
			continue;
		}
		if (n == GNUTLS_E_AGAIN) {
			if (!imap_transport_wait(t, tls_direction(t->tls),
					deadline, "writing to", error))
				return false;
			continue;
		}
		if (n == GNUTLS_E_INTERRUPTED)
			continue;
		if (n == GNUTLS_E_PUSH_ERROR) {
			int err = errno;

			if (err == EPIPE || err == ECONNRESET)
				g_set_error(error, IMAP_TRANSPORT_ERROR,
					    IMAP_TRANSPORT_ERROR_CLOSED,
					    "%s closed the connection",
					    t->peer);
			else
				g_set_error(error, IMAP_TRANSPORT_ERROR,
					    IMAP_TRANSPORT_ERROR_IO,
					    "cannot write to %s: %s", t->peer,
					    g_strerror(err));
			return false;
		}
		g_set_error(error, IMAP_TRANSPORT_ERROR,
			    IMAP_TRANSPORT_ERROR_TLS,
			    "TLS error writing to %s: %s", t->peer,
			    gnutls_strerror((int)n));
		return false;
	}
	return true;
}

bool imap_transport_tls_pending(struct imap_transport *t)
{
	return t->tls && gnutls_record_check_pending(t->tls) > 0;
}

void imap_transport_tls_free(struct imap_transport *t)
{
	if (t->tls) {
		/* One try: the socket is non-blocking, and a peer that does
		 * not take the alert right away does not get to delay us. */
		(void)gnutls_bye(t->tls, GNUTLS_SHUT_WR);
		gnutls_deinit(t->tls);
		t->tls = NULL;
	}
	if (t->creds) {
		gnutls_certificate_free_credentials(t->creds);
		t->creds = NULL;
	}
	g_free(t->tls_hostname);
	t->tls_hostname = NULL;
}
