/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The session's command loop: sending commands (with literals) and reading
 * responses through the parser; session-untagged.c applies what they say.
 */
#include "imap/session-private.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "imap/crlf.h"
#include "log.h"

#define LOGOUT_TIMEOUT_MS 2000

G_DEFINE_QUARK(imap-session-error-quark, imap_session_error)

static enum imap_literal_action session_literal_begin(void *ctx,
		const struct imap_literal_info *info)
{
	return session_route_literal_begin(ctx, info);
}

static void session_literal_data(void *ctx, const void *data, size_t len)
{
	struct imap_session *session = ctx;
	const struct imap_command_handlers *owner = session->literal_owner;

	if (session->literal_streaming && owner->literal_data)
		owner->literal_data(owner->ctx, data, len);
}

static void session_literal_end(void *ctx)
{
	struct imap_session *session = ctx;
	const struct imap_command_handlers *owner = session->literal_owner;

	if (session->literal_streaming && owner->literal_end)
		owner->literal_end(owner->ctx);
	session->literal_streaming = false;
}

static const struct imap_parser_callbacks session_parser_callbacks = {
	.literal_begin = session_literal_begin,
	.literal_data = session_literal_data,
	.literal_end = session_literal_end,
};

struct imap_session *session_new(const struct imap_session_config *cfg,
		unsigned id, const struct imap_session_events *events)
{
	struct imap_session *session = g_new0(struct imap_session, 1);
	struct imap_parser_limits limits;

	session->id = id;
	session->cfg = cfg;
	session->timeout_ms = cfg->timeout_ms;
	if (events)
		session->events = *events;
	imap_parser_limits_default(&limits);
	session->parser = imap_parser_new(&limits, &session_parser_callbacks,
			session);
	session->input = g_malloc(SESSION_INPUT_SIZE);
	session->msgmap = msgmap_new();
	return session;
}

void session_free(struct imap_session *session)
{
	imap_transport_close(&session->transport);
	session_fail_pending(session);
	imap_parser_free(&session->parser);
	msgmap_free(&session->msgmap);
	g_free(session->selected.name);
	g_free(session->input);
	g_free(session);
}

void session_discard_input(struct imap_session *session)
{
	session->input_start = 0;
	session->input_end = 0;
	imap_parser_reset(session->parser);
}

void session_set_result(struct imap_result *result,
		enum imap_result_status status, const char *code,
		const char *fmt, ...)
{
	va_list ap;

	result->status = status;
	result->timed_out = false;
	g_strlcpy(result->code, code ? code : "", sizeof(result->code));
	result->code_args[0] = '\0';
	va_start(ap, fmt);
	g_vsnprintf(result->text, sizeof(result->text), fmt, ap);
	va_end(ap);
}

void session_kill(struct imap_session *session)
{
	session->dead = true;
	imap_transport_close(&session->transport);
	session_fail_pending(session);
}

unsigned imap_session_id(const struct imap_session *session)
{
	return session->id;
}

bool imap_session_is_dead(const struct imap_session *session)
{
	return session->dead;
}

uint32_t imap_session_capabilities(const struct imap_session *session)
{
	return session->capabilities;
}

uint32_t imap_session_enabled(const struct imap_session *session)
{
	return session->enabled;
}

uint64_t imap_session_appendlimit(const struct imap_session *session)
{
	return session->appendlimit;
}

const struct imap_selected *imap_session_selected(
		const struct imap_session *session)
{
	return &session->selected;
}

/* --- reading ------------------------------------------------------------ */

/*
 * How long the next read may wait: timeout_ms of silence, and no longer
 * than the rate floor allows.  A big body over a slow link takes as long
 * as it needs, but a server that trickles a byte now and then, never
 * silent for a whole timeout, cannot hold a request for ever.  0: the
 * budget is spent.
 */
static int session_read_budget_ms(struct imap_session *session)
{
	gint64 now = g_get_monotonic_time();
	gint64 end;

	if (session->timeout_ms < 0)
		return -1;
	if (session->command_start == 0)
		session->command_start = now;
	end = session->command_start +
		(gint64)session->timeout_ms * 1000 +
		(gint64)(session->command_received * G_USEC_PER_SEC /
			 IMAP_SESSION_RATE_FLOOR);
	if (now >= end)
		return 0;
	return (int)MIN((gint64)session->timeout_ms, (end - now + 999) / 1000);
}

void session_command_begin(struct imap_session *session)
{
	session->command_start = g_get_monotonic_time();
	session->command_received = 0;
}

const struct imap_response *session_read_response(
		struct imap_session *session, struct imap_result *result)
{
	GError *error = NULL;

	/* A new response: nobody has taken a literal of it yet. */
	session->literal_owner = NULL;
	session->literal_streaming = false;
	if (session->dead) {
		session_set_result(result, IMAP_RESULT_SESSION, NULL,
				"connection is closed");
		return NULL;
	}
	for (;;) {
		int wait_ms;

		if (session->input_start < session->input_end) {
			size_t consumed = 0;
			enum imap_parse_result r = imap_parser_feed(
					session->parser,
					session->input + session->input_start,
					session->input_end - session->input_start,
					&consumed);

			session->input_start += consumed;
			if (r == IMAP_PARSE_RESPONSE) {
				const struct imap_response *resp =
					imap_parser_response(session->parser);

				session_trace_response(session, resp);
				return resp;
			}
			if (r == IMAP_PARSE_ERROR) {
				/* The caller says what failed, once. */
				session_set_result(result, IMAP_RESULT_SESSION,
						NULL, "bad response from server: %s",
						imap_parser_error(session->parser));
				session_kill(session);
				return NULL;
			}
		}
		session->input_start = 0;
		session->input_end = 0;
		wait_ms = session_read_budget_ms(session);
		if (wait_ms == 0) {
			session_set_result(result, IMAP_RESULT_SESSION, NULL,
					"server too slow: %" G_GUINT64_FORMAT
					" bytes in %" G_GINT64_FORMAT " s",
					session->command_received,
					(g_get_monotonic_time() -
					 session->command_start) /
					G_USEC_PER_SEC);
			result->timed_out = true;
			session_kill(session);
			return NULL;
		}
		ssize_t n = imap_transport_read(session->transport,
				session->input, SESSION_INPUT_SIZE,
				wait_ms, &error);
		if (n > 0) {
			session->input_end = (size_t)n;
			session->command_received += (uint64_t)n;
			continue;
		}
		if (n == 0) {
			if (session->bye)
				session_set_result(result, IMAP_RESULT_SESSION,
						NULL, "server closed the connection: %s",
						session->bye_text);
			else
				session_set_result(result, IMAP_RESULT_SESSION,
						NULL, "server closed the connection");
		} else {
			session_set_result(result, IMAP_RESULT_SESSION, NULL,
					"%s", error->message);
			result->timed_out = g_error_matches(error,
					IMAP_TRANSPORT_ERROR,
					IMAP_TRANSPORT_ERROR_TIMEOUT);
			g_clear_error(&error);
		}
		session_kill(session);
		return NULL;
	}
}

/* --- commands ------------------------------------------------------------ */

static bool session_write(struct imap_session *session, const char *data,
		size_t len, struct imap_result *result)
{
	GError *error = NULL;

	if (imap_transport_write_all(session->transport, data, len,
				session->timeout_ms, &error))
		return true;
	session_set_result(result, IMAP_RESULT_SESSION, NULL, "%s",
			error->message);
	result->timed_out = g_error_matches(error, IMAP_TRANSPORT_ERROR,
			IMAP_TRANSPORT_ERROR_TIMEOUT);
	g_clear_error(&error);
	session_kill(session);
	return false;
}

/*
 * A message from a file, as the literal announced: its line ends made
 * CRLF on the way, chunk by chunk, so that a big one never sits in memory.
 * Each chunk's write has the full timeout, so a slow upload is fine while
 * it moves; the answer's rate floor counts from its end.  A file that
 * changed size since it was measured cannot match the announced length:
 * the connection is dropped rather than send a wrong message.
 */
static bool session_write_message(struct imap_session *session,
		const struct imap_command_part *part, struct imap_result *result)
{
	enum { CHUNK = 64 * 1024 };
	struct imap_crlf crlf = { 0 };
	char *in = g_malloc(CHUNK), *out = g_malloc(2 * CHUNK);
	uint64_t sent = 0;
	off_t pos = 0;
	bool ok = false;

	for (;;) {
		ssize_t n = pread(part->fd, in, CHUNK, pos);
		size_t len;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			session_set_result(result, IMAP_RESULT_SESSION, NULL,
					"cannot read the message: %s",
					g_strerror(errno));
			session_kill(session);
			goto out;
		}
		if (n == 0)
			break;
		pos += n;
		len = imap_crlf_convert(&crlf, in, (size_t)n, out);
		if (sent + len > part->length)
			break;
		if (!session_write(session, out, len, result))
			goto out;
		sent += len;
	}
	if (sent != part->length) {
		session_set_result(result, IMAP_RESULT_SESSION, NULL,
				"the message changed while it was sent");
		session_kill(session);
		goto out;
	}
	session_command_begin(session);
	ok = true;
out:
	g_free(in);
	g_free(out);
	return ok;
}

/* Handle responses until the command's tagged completion (true), or until a
 * continuation request when want_continuation (true, *continuation set). */
static bool session_wait(struct imap_session *session, const char *tag,
		bool want_continuation, const struct imap_response **final,
		struct imap_result *result)
{
	for (;;) {
		const struct imap_response *r =
			session_read_response(session, result);

		if (!r)
			return false;
		switch (r->kind) {
		case IMAP_RESPONSE_UNTAGGED:
			session_handle_untagged(session, r);
			break;
		case IMAP_RESPONSE_CONTINUATION:
			if (want_continuation) {
				*final = r;
				return true;
			}
			session_set_result(result, IMAP_RESULT_SESSION, NULL,
					"unexpected continuation request");
			session_kill(session);
			return false;
		case IMAP_RESPONSE_TAGGED:
			if (strcmp(r->tag, tag) != 0 &&
					session_complete_pending(session, r))
				break;
			if (strcmp(r->tag, tag) != 0) {
				session_set_result(result, IMAP_RESULT_SESSION,
						NULL, "response for unknown tag %s",
						r->tag);
				session_kill(session);
				return false;
			}
			session_handle_code(session, r);
			*final = r;
			return true;
		}
	}
}

void session_result_from_tagged(const struct imap_response *r,
		struct imap_result *result)
{
	enum imap_result_status status = IMAP_RESULT_BAD;

	if (r->status == IMAP_STATUS_OK)
		status = IMAP_RESULT_OK;
	else if (r->status == IMAP_STATUS_NO)
		status = IMAP_RESULT_NO;
	session_set_result(result, status, r->code, "%s", r->text);
	/* APPENDUID and COPYUID belong to the command whose completion
	 * carries them; they are read from here, never from elsewhere. */
	g_strlcpy(result->code_args, r->code_raw, sizeof(result->code_args));
}

/*
 * Literals go without waiting where the server allows it (RFC 7888:
 * LITERAL+; LITERAL- up to 4096 bytes), except large ones: a server that
 * refuses the command should not make us upload a whole body first.
 */
#define LITERAL_NONSYNC_MAX (100 * 1024)
#define LITERAL_MINUS_MAX 4096

static bool literal_nonsync(const struct imap_session *session, size_t len)
{
	if ((session->capabilities & IMAP_CAP_LITERAL_PLUS) &&
			len <= LITERAL_NONSYNC_MAX)
		return true;
	return (session->capabilities & IMAP_CAP_LITERAL_MINUS) &&
		len <= LITERAL_MINUS_MAX;
}

/* Send the command's parts, pausing for the server's go-ahead before each
 * synchronising literal.  Returns false with result set if the command
 * ended (rejected, or the connection failed) before it was all sent. */
bool session_send(struct imap_session *session, const char *tag,
		const struct imap_command *cmd, struct imap_result *result)
{
	size_t n = imap_command_part_count(cmd);
	/* Tag, space and final CRLF; "+" and CRLF per literal. */
	size_t full = strlen(tag) + 3;
	g_autoptr(GString) line = NULL;
	g_autoptr(GString) shown = g_string_new(tag);
	bool ok = false;

	for (size_t i = 0; i < n; i++) {
		const struct imap_command_part *part =
			imap_command_part(cmd, i);

		if (part->kind == IMAP_PART_TEXT)
			full += part->data->len;
		else if (part->kind == IMAP_PART_LITERAL &&
				literal_nonsync(session, part->data->len))
			full += 3 + part->data->len;
		else
			full += 3;	/* the bytes are sent on their own */
	}
	/* The line holds secrets: sized for all of the command at once, it
	 * never grows, so g_realloc() leaves no copy of them behind. */
	line = g_string_sized_new(full);
	g_string_append(line, tag);
	g_string_append_c(line, ' ');
	g_string_append_c(shown, ' ');
	for (size_t i = 0; i < n; i++) {
		const struct imap_command_part *part =
			imap_command_part(cmd, i);
		const struct imap_response *r;

		if (part->kind == IMAP_PART_TEXT) {
			g_string_append_len(line, part->data->str,
					(gssize)part->data->len);
			imap_command_show_part(shown, cmd, i);
			continue;
		}
		if (part->kind == IMAP_PART_LITERAL &&
				literal_nonsync(session, part->data->len)) {
			/* "{n}" -> "{n+}": the bytes follow without a wait.
			 * A secret literal's header shows as "<redacted>". */
			g_string_insert_c(line, (gssize)line->len - 1, '+');
			if (i == 0 || !imap_command_part(cmd, i - 1)->secret)
				g_string_insert_c(shown,
						(gssize)shown->len - 1, '+');
			g_string_append(line, "\r\n");
			session_trace_sent(session, shown);
			g_string_append_len(line, part->data->str,
					(gssize)part->data->len);
		} else {
			g_string_append(line, "\r\n");
			session_trace_sent(session, shown);
			if (!session_write(session, line->str, line->len,
						result))
				goto out;
			if (!session_wait(session, tag, true, &r, result))
				goto out;
			if (r->kind == IMAP_RESPONSE_TAGGED) {
				session_result_from_tagged(r, result);
				goto out;
			}
			if (part->kind == IMAP_PART_MESSAGE ?
					!session_write_message(session, part,
						result) :
					!session_write(session, part->data->str,
						part->data->len, result))
				goto out;
			explicit_bzero(line->str, line->len);
			g_string_truncate(line, 0);
		}
		g_string_truncate(shown, 0);
		imap_command_show_part(shown, cmd, i);
	}
	g_string_append(line, "\r\n");
	session_trace_sent(session, shown);
	ok = session_write(session, line->str, line->len, result);
out:
	explicit_bzero(line->str, line->len);
	return ok;
}

bool imap_session_run(struct imap_session *session, struct imap_command *cmd,
		const struct imap_command_handlers *handlers,
		struct imap_result *result)
{
	char tag[16];
	const struct imap_response *r;
	bool done = false;

	if (session->dead) {
		session_set_result(result, IMAP_RESULT_SESSION, NULL,
				"connection is closed");
		imap_command_free(&cmd);
		return false;
	}
	g_snprintf(tag, sizeof(tag), "a%u", ++session->tag_counter);
	session->handlers = handlers;
	session_command_begin(session);
	if (!session_send(session, tag, cmd, result))
		goto out;
	while (!done) {
		/* Only AUTHENTICATE asks for more once the command is sent. */
		if (!session_wait(session, tag, handlers &&
					handlers->continuation, &r, result))
			goto out;
		if (r->kind == IMAP_RESPONSE_TAGGED) {
			if (handlers && handlers->tagged)
				handlers->tagged(handlers->ctx, r);
			session_result_from_tagged(r, result);
			done = true;
		} else {
			char *reply = handlers->continuation(handlers->ctx,
					r->text);
			g_autoptr(GString) shown = NULL;

			/* "*" cancels an AUTHENTICATE exchange. */
			shown = g_string_new(reply ? "<redacted>" : "*");
			if (!reply)
				reply = g_strdup("*");
			log_trace_line('C', session->id, shown->str,
					shown->len);
			size_t len = strlen(reply);
			char *wire = g_strconcat(reply, "\r\n", NULL);
			bool sent = session_write(session, wire, len + 2,
					result);

			memset(wire, 0, len + 2);
			memset(reply, 0, len);
			g_free(wire);
			g_free(reply);
			if (!sent)
				goto out;
		}
	}
out:
	session->handlers = NULL;
	imap_command_free(&cmd);
	return result->status == IMAP_RESULT_OK;
}

bool imap_session_select(struct imap_session *session, const char *mailbox,
		bool read_only, struct imap_result *result)
{
	struct imap_command *cmd;
	bool utf8 = session->enabled & IMAP_ENABLED_UTF8_ACCEPT;
	bool ok;

	if (session->selected.name &&
			strcmp(session->selected.name, mailbox) == 0 &&
			(session->selected.read_only == read_only ||
			 !session->selected.read_only)) {
		session_set_result(result, IMAP_RESULT_OK, NULL, "selected");
		return true;
	}
	/* Whatever happens now, the old mailbox is no longer selected, and
	 * responses to come describe the new one. */
	g_clear_pointer(&session->selected.name, g_free);
	memset(&session->selected, 0, sizeof(session->selected));
	msgmap_reset(session->msgmap, 0);

	session->selected.read_only = read_only;
	cmd = imap_command_new(read_only ? "EXAMINE" : "SELECT");
	imap_command_append_string(cmd, mailbox, strlen(mailbox), utf8,
			false);
	session->selecting = true;
	ok = imap_session_run(session, cmd, NULL, result);
	session->selecting = false;
	if (!ok) {
		/* Nothing is selected (RFC 3501 §6.3.1), so nothing it said
		 * describes a selected mailbox. */
		session->selected.mailboxid[0] = '\0';
		return false;
	}
	session->selected.name = g_strdup(mailbox);
	msgmap_set_count(session->msgmap, session->selected.exists);
	return true;
}

void imap_session_forget_selected(struct imap_session *session)
{
	g_clear_pointer(&session->selected.name, g_free);
	session->selected.mailboxid[0] = '\0';
}

bool imap_session_poll(struct imap_session *session)
{
	struct imap_result result;

	if (session->dead)
		return false;
	/* Complete responses already buffered, then whatever the socket has:
	 * a response that has started is read to its end (bounded by the
	 * timeout, as always). */
	while (session->input_start < session->input_end ||
			imap_transport_readable(session->transport)) {
		const struct imap_response *r =
			session_read_response(session, &result);

		if (!r)
			return false;
		if (r->kind == IMAP_RESPONSE_TAGGED &&
				session_complete_pending(session, r))
			continue;
		if (r->kind != IMAP_RESPONSE_UNTAGGED) {
			log_warning("connection %u: unexpected response "
					"while idle", session->id);
			session_kill(session);
			return false;
		}
		session_handle_untagged(session, r);
		if (session->bye) {
			session_kill(session);
			return false;
		}
	}
	return true;
}

void imap_session_close(struct imap_session **session)
{
	struct imap_session *s = *session;

	if (!s)
		return;
	if (!s->dead && !s->bye) {
		struct imap_result result;

		/* Courtesy only: a silent server must not hold up unmount
		 * for long. */
		s->timeout_ms = MIN(s->timeout_ms, LOGOUT_TIMEOUT_MS);
		imap_session_run(s, imap_command_new("LOGOUT"), NULL, &result);
	}
	session_free(s);
	*session = NULL;
}

/* --- errors ------------------------------------------------------------ */

int imap_result_errno(const struct imap_result *result)
{
	static const struct {
		const char *code;
		int errnum;
	} codes[] = {
		{ "NONEXISTENT", ENOENT },
		{ "TRYCREATE", ENOENT },
		{ "EXPUNGEISSUED", ENOENT },
		{ "ALREADYEXISTS", EEXIST },
		{ "NOPERM", EACCES },
		{ "AUTHORIZATIONFAILED", EACCES },
		{ "AUTHENTICATIONFAILED", EACCES },
		{ "OVERQUOTA", EDQUOT },
		{ "LIMIT", EFBIG },
		{ "TOOBIG", EFBIG },
		{ "INUSE", EAGAIN },
		{ "UNAVAILABLE", EAGAIN },
		{ "THROTTLED", EAGAIN },
		{ "CANNOT", EPERM },
		{ "SERVERBUG", EIO },
		{ "CLIENTBUG", EIO },
		{ "CORRUPTION", EIO },
		{ "X-IMAPFS-NUL", EINVAL },	/* imap_append() */
	};

	switch (result->status) {
	case IMAP_RESULT_OK:
		return 0;
	case IMAP_RESULT_SESSION:
		return result->timed_out ? ETIMEDOUT : EIO;
	case IMAP_RESULT_BAD:
		return EIO;
	case IMAP_RESULT_NO:
		break;
	}
	for (size_t i = 0; i < G_N_ELEMENTS(codes); i++) {
		if (strcmp(result->code, codes[i].code) == 0)
			return codes[i].errnum;
	}
	return EIO;
}
