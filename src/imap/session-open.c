/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Opening a session, in the order the protocol demands: connect, (TLS),
 * greeting, (STARTTLS, capabilities again), authentication, capabilities
 * again, ENABLE.  Each step either moves on or fails with one line that
 * tells the user what went wrong.
 */
#include "imap/session-private.h"

#include <string.h>

#include "log.h"

static bool fail_from_result(GError **error, const char *what,
		const struct imap_result *result)
{
	g_set_error(error, IMAP_SESSION_ERROR, IMAP_SESSION_ERROR_PROTOCOL,
			"%s: %s", what, result->text);
	return false;
}

static bool session_connect(struct imap_session *session, GError **error)
{
	const struct imap_session_config *cfg = session->cfg;

	if (cfg->tunnel)
		session->transport = imap_transport_spawn(cfg->tunnel,
				cfg->workdir, error);
	else
		session->transport = imap_transport_connect_tcp(cfg->host,
				cfg->port, cfg->timeout_ms, error);
	if (!session->transport)
		return false;
	if (cfg->security == IMAP_SECURITY_TLS && !cfg->tunnel)
		return imap_transport_start_tls(session->transport, cfg->host,
				&cfg->tls, cfg->timeout_ms, error);
	return true;
}

/* Returns the greeting's status (OK or PREAUTH), or NONE on failure. */
static enum imap_status session_greeting(struct imap_session *session,
		GError **error)
{
	struct imap_result result;
	const struct imap_response *r = session_read_response(session,
			&result);

	if (!r) {
		g_set_error(error, IMAP_SESSION_ERROR,
				IMAP_SESSION_ERROR_GREETING,
				"no greeting from server: %s", result.text);
		return IMAP_STATUS_NONE;
	}
	if (r->kind != IMAP_RESPONSE_UNTAGGED ||
			(r->status != IMAP_STATUS_OK &&
			 r->status != IMAP_STATUS_PREAUTH)) {
		g_set_error(error, IMAP_SESSION_ERROR,
				IMAP_SESSION_ERROR_GREETING,
				"server refused the connection%s%s",
				r->status == IMAP_STATUS_BYE ? ": " : "",
				r->status == IMAP_STATUS_BYE ? r->text : "");
		return IMAP_STATUS_NONE;
	}
	session_handle_untagged(session, r);
	return r->status;
}

static bool session_capability(struct imap_session *session, GError **error)
{
	struct imap_result result;

	if (session->capabilities_known)
		return true;
	if (!imap_session_run(session, imap_command_new("CAPABILITY"), NULL,
				&result))
		return fail_from_result(error, "CAPABILITY failed", &result);
	if (!session->capabilities_known) {
		g_set_error(error, IMAP_SESSION_ERROR,
				IMAP_SESSION_ERROR_PROTOCOL,
				"server sent no capabilities");
		return false;
	}
	return true;
}

static bool session_starttls(struct imap_session *session, GError **error)
{
	const struct imap_session_config *cfg = session->cfg;
	struct imap_result result;

	if (!session_capability(session, error))
		return false;
	if (!(session->capabilities & IMAP_CAP_STARTTLS)) {
		g_set_error(error, IMAP_SESSION_ERROR,
				IMAP_SESSION_ERROR_NO_STARTTLS,
				"%s does not offer STARTTLS; use imaps:// or, "
				"to send everything in clear text, "
				"-o plaintext", cfg->host);
		return false;
	}
	if (!imap_session_run(session, imap_command_new("STARTTLS"), NULL,
				&result))
		return fail_from_result(error, "STARTTLS failed", &result);
	/* Anything that arrived after the tagged OK was sent before the
	 * handshake by whoever sits on the wire: it must not be believed
	 * (CVE-2021-22947 and friends).  Nor may anything learnt from what
	 * came before it (RFC 3501 §6.2.1): capabilities, ENABLED, BYE. */
	session_discard_input(session);
	session_forget_learnt(session);
	if (!imap_transport_start_tls(session->transport, cfg->host,
				&cfg->tls, cfg->timeout_ms, error))
		return false;
	session->before_tls = false;
	return session_capability(session, error);
}

/* AUTHENTICATE PLAIN without SASL-IR: the payload goes in reply to "+". */
struct plain_exchange {
	const char *payload;
	bool sent;
};

static char *plain_continuation(void *ctx, const char *text)
{
	struct plain_exchange *ex = ctx;

	(void)text;
	if (ex->sent)
		return NULL;
	ex->sent = true;
	return g_strdup(ex->payload);
}

static char *plain_payload(const char *user, const char *password)
{
	size_t ulen = strlen(user), plen = strlen(password);
	size_t len = ulen + plen + 2;
	guchar *raw = g_malloc(len);
	/* Sized once, as g_base64_encode() does; but its state holds
	 * password bytes too, and here it is ours to wipe. */
	char *encoded = g_malloc((len / 3 + 1) * 4 + 1);
	gint state = 0, save = 0;
	gsize n;

	/* authzid (empty) NUL authcid NUL passwd */
	raw[0] = '\0';
	memcpy(raw + 1, user, ulen);
	raw[1 + ulen] = '\0';
	memcpy(raw + 2 + ulen, password, plen);
	n = g_base64_encode_step(raw, len, FALSE, encoded, &state, &save);
	n += g_base64_encode_close(FALSE, encoded + n, &state, &save);
	encoded[n] = '\0';
	explicit_bzero(&save, sizeof(save));
	explicit_bzero(raw, len);
	g_free(raw);
	return encoded;
}

static bool session_authenticate(struct imap_session *session,
		GError **error)
{
	const struct imap_session_config *cfg = session->cfg;
	enum imap_auth_mechanism mech = cfg->mechanism;
	struct imap_command *cmd;
	struct imap_result result;
	struct plain_exchange exchange = { 0 };
	struct imap_command_handlers handlers = {
		.continuation = plain_continuation,
		.ctx = &exchange,
	};
	const char *password;
	char *payload = NULL;
	bool ok;

	if (!session_capability(session, error))
		return false;
	/* Defence in depth: the connection steps above already refuse this
	 * case, but credentials must never depend on them alone. */
	if (cfg->security != IMAP_SECURITY_NONE && !cfg->tunnel &&
			!imap_transport_is_tls(session->transport)) {
		g_set_error(error, IMAP_SESSION_ERROR,
				IMAP_SESSION_ERROR_INSECURE,
				"refusing to send credentials without TLS");
		return false;
	}
	if (mech == IMAP_AUTH_AUTO)
		mech = (session->capabilities & IMAP_CAP_AUTH_PLAIN) ?
			IMAP_AUTH_PLAIN : IMAP_AUTH_LOGIN;
	if (mech == IMAP_AUTH_PLAIN &&
			!(session->capabilities & IMAP_CAP_AUTH_PLAIN)) {
		g_set_error(error, IMAP_SESSION_ERROR,
				IMAP_SESSION_ERROR_NO_MECHANISM,
				"server does not offer AUTHENTICATE PLAIN");
		return false;
	}
	if (mech == IMAP_AUTH_LOGIN &&
			(session->capabilities & IMAP_CAP_LOGINDISABLED)) {
		g_set_error(error, IMAP_SESSION_ERROR,
				IMAP_SESSION_ERROR_NO_MECHANISM,
				"server disabled LOGIN and offers no "
				"mechanism imapfs supports");
		return false;
	}
	if (!cfg->user || !*cfg->user) {
		g_set_error(error, IMAP_SESSION_ERROR,
				IMAP_SESSION_ERROR_NO_PASSWORD,
				"no user name: give USER@ in the URL or -o user=");
		return false;
	}
	password = cfg->password(cfg->password_ctx, error);
	if (!password)
		return false;

	if (mech == IMAP_AUTH_PLAIN) {
		payload = plain_payload(cfg->user, password);
		cmd = imap_command_new("AUTHENTICATE PLAIN");
		if (session->capabilities & IMAP_CAP_SASL_IR)
			imap_command_append_secret_atom(cmd, payload);
		else
			exchange.payload = payload;
	} else {
		cmd = imap_command_new("LOGIN");
		imap_command_append_string(cmd, cfg->user, strlen(cfg->user),
				false, false);
		imap_command_append_string(cmd, password, strlen(password),
				false, true);
	}
	/* Capabilities may change once we are in; the tagged OK often
	 * carries the new list. */
	session->capabilities_known = false;
	ok = imap_session_run(session, cmd, &handlers, &result);
	if (payload) {
		explicit_bzero(payload, strlen(payload));
		g_free(payload);
	}
	if (!ok) {
		if (result.status == IMAP_RESULT_SESSION)
			return fail_from_result(error, "login failed", &result);
		g_set_error(error, IMAP_SESSION_ERROR,
				IMAP_SESSION_ERROR_AUTH_FAILED,
				"authentication failed for %s: %s", cfg->user,
				result.text);
		return false;
	}
	return session_capability(session, error);
}

static bool session_enable(struct imap_session *session, GError **error)
{
	GString *what = g_string_new(NULL);
	struct imap_result result;
	bool ok = true;

	if (!(session->capabilities & IMAP_CAP_ENABLE))
		goto out;
	if (session->capabilities & IMAP_CAP_CONDSTORE)
		g_string_append(what, " CONDSTORE");
	/* Listings then learn expunges by UID (imap/fetchops.h). */
	if (session->capabilities & IMAP_CAP_QRESYNC)
		g_string_append(what, " QRESYNC");
	if (session->capabilities & IMAP_CAP_UTF8_ACCEPT)
		g_string_append(what, " UTF8=ACCEPT");
	if (what->len == 0)
		goto out;
	/* A refusal is not fatal: we simply do without. */
	if (!imap_session_run(session, imap_command_new("ENABLE%s",
					what->str), NULL, &result) &&
			result.status == IMAP_RESULT_SESSION)
		ok = fail_from_result(error, "ENABLE failed", &result);
out:
	g_string_free(what, TRUE);
	return ok;
}

struct imap_session *imap_session_open(const struct imap_session_config *cfg,
		unsigned connection_id, const struct imap_session_events *events,
		GError **error)
{
	struct imap_session *session = session_new(cfg, connection_id, events);
	enum imap_status greeting;

	if (!session_connect(session, error))
		goto fail;
	greeting = session_greeting(session, error);
	if (greeting == IMAP_STATUS_NONE)
		goto fail;
	if (cfg->security == IMAP_SECURITY_STARTTLS && !cfg->tunnel) {
		session->before_tls = true;
		if (greeting == IMAP_STATUS_PREAUTH) {
			/* Already logged in, in clear text: STARTTLS is no
			 * longer allowed, so everything would go unprotected
			 * (CVE-2020-14093). */
			g_set_error(error, IMAP_SESSION_ERROR,
					IMAP_SESSION_ERROR_INSECURE,
					"%s greeted with PREAUTH on an "
					"unencrypted connection, so STARTTLS "
					"is impossible; use imaps:// or "
					"-o plaintext", cfg->host);
			goto fail;
		}
		if (!session_starttls(session, error))
			goto fail;
	}
	if (greeting == IMAP_STATUS_PREAUTH) {
		if (!session_capability(session, error))
			goto fail;
	} else if (!session_authenticate(session, error)) {
		goto fail;
	}
	if (!session_enable(session, error))
		goto fail;
	log_debug(LOG_AREA_IMAP, "connection %u ready (capabilities 0x%x)",
			connection_id, session->capabilities);
	return session;
fail:
	session_free(session);
	return NULL;
}
