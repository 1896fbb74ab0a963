/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Commands sent without waiting for their answer (imap_session_send()):
 * each tagged answer is matched to its command by tag whenever the
 * session next reads, and handed to the command's callback.
 */
#include "imap/session-private.h"

#include <string.h>

struct session_pending {
	char tag[16];
	imap_session_done_fn *done;
	void *ctx;
};

/* Every command still waiting for its answer has lost it. */
void session_fail_pending(struct imap_session *session)
{
	struct session_pending *p;

	while ((p = g_queue_pop_head(&session->pending))) {
		struct imap_result result;

		session_set_result(&result, IMAP_RESULT_SESSION, NULL,
				"connection lost before the answer came");
		p->done(p->ctx, &result);
		g_free(p);
	}
}

/* A tagged answer to a command sent earlier: true if it was one. */
bool session_complete_pending(struct imap_session *session,
		const struct imap_response *r)
{
	for (GList *l = session->pending.head; l; l = l->next) {
		struct session_pending *p = l->data;
		struct imap_result result;

		if (strcmp(p->tag, r->tag) != 0)
			continue;
		g_queue_delete_link(&session->pending, l);
		session_handle_code(session, r);
		session_result_from_tagged(r, &result);
		p->done(p->ctx, &result);
		g_free(p);
		return true;
	}
	return false;
}

/* Read until at most max sent commands wait for their answer. */
static bool session_drain_to(struct imap_session *session, unsigned max,
		struct imap_result *result)
{
	session_command_begin(session);
	while (g_queue_get_length(&session->pending) > max) {
		const struct imap_response *r =
			session_read_response(session, result);

		if (!r)
			return false;	/* session_kill() answered them */
		if (r->kind == IMAP_RESPONSE_UNTAGGED) {
			session_handle_untagged(session, r);
			continue;
		}
		if (r->kind == IMAP_RESPONSE_TAGGED &&
				session_complete_pending(session, r))
			continue;
		session_set_result(result, IMAP_RESULT_SESSION, NULL,
				"unexpected response while waiting for %u "
				"answers", g_queue_get_length(
					&session->pending));
		session_kill(session);
		return false;
	}
	session_set_result(result, IMAP_RESULT_OK, NULL, "drained");
	return true;
}

bool imap_session_send(struct imap_session *session, struct imap_command *cmd,
		imap_session_done_fn *done, void *ctx,
		struct imap_result *result)
{
	struct session_pending *p;
	char tag[16];

	if (session->dead) {
		session_set_result(result, IMAP_RESULT_SESSION, NULL,
				"connection is closed");
		imap_command_free(&cmd);
		return false;
	}
	if (!session_drain_to(session, IMAP_SESSION_PIPELINE_MAX - 1,
				result)) {
		imap_command_free(&cmd);
		return false;
	}
	g_snprintf(tag, sizeof(tag), "a%u", ++session->tag_counter);
	session_command_begin(session);
	if (!session_send(session, tag, cmd, result)) {
		imap_command_free(&cmd);
		return false;
	}
	imap_command_free(&cmd);
	p = g_new0(struct session_pending, 1);
	g_strlcpy(p->tag, tag, sizeof(p->tag));
	p->done = done;
	p->ctx = ctx;
	g_queue_push_tail(&session->pending, p);
	session_set_result(result, IMAP_RESULT_OK, NULL, "sent");
	return true;
}

unsigned imap_session_pending(const struct imap_session *session)
{
	return g_queue_get_length((GQueue *)&session->pending);
}

bool imap_session_settle(struct imap_session *session, int budget_ms)
{
	gint64 end = g_get_monotonic_time() + (gint64)budget_ms * 1000;
	struct imap_result result;

	while (g_queue_get_length(&session->pending) > 0 && !session->dead) {
		gint64 left = (end - g_get_monotonic_time()) / 1000;

		/* Only what is there or comes in time; a response that has
		 * begun is read to its end (bounded by the timeout). */
		if (session->input_start >= session->input_end &&
				!imap_transport_wait_readable(
					session->transport,
					(int)MAX(left, 0)))
			break;
		if (!session_drain_to(session, g_queue_get_length(
					&session->pending) - 1, &result))
			break;
	}
	return g_queue_get_length(&session->pending) == 0;
}

bool imap_session_drain(struct imap_session *session,
		struct imap_result *result)
{
	return session_drain_to(session, 0, result);
}

