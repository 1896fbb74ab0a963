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
	struct imap_command_handlers handlers;	/* all NULL: none */
	imap_session_done_fn *done;
	void *ctx;
};

static bool same_handlers(const struct imap_command_handlers *a,
		const struct imap_command_handlers *b)
{
	return a->untagged == b->untagged && a->ctx == b->ctx;
}

/* Whether a command before l has the same handlers as l's. */
static bool offered_before(struct imap_session *session, GList *l)
{
	const struct session_pending *p = l->data;

	if (!p->handlers.untagged)
		return false;
	for (GList *k = session->pending.head; k != l; k = k->next)
		if (same_handlers(&((struct session_pending *)
						k->data)->handlers,
					&p->handlers))
			return true;
	return false;
}

static bool handlers_offer_untagged(const struct imap_command_handlers *h,
		const struct imap_response *r)
{
	return h && h->untagged && h->untagged(h->ctx, r);
}

enum imap_literal_action session_route_literal_begin(
		struct imap_session *session,
		const struct imap_literal_info *info)
{
	session->literal_owner = NULL;
	session->literal_streaming = false;
	/* The server answers pipelined commands in the order sent, so the
	 * oldest command that wants such a literal is the one it is for;
	 * the response's UID, checked when it is complete, has the last
	 * word (imap/fetchops.c). */
	for (GList *l = session->pending.head; l; l = l->next) {
		struct session_pending *p = l->data;

		if (p->handlers.literal_begin &&
				p->handlers.literal_begin(p->handlers.ctx,
					info) == IMAP_LITERAL_STREAM) {
			session->literal_owner = &p->handlers;
			break;
		}
	}
	if (!session->literal_owner && session->handlers &&
			session->handlers->literal_begin &&
			session->handlers->literal_begin(session->handlers->ctx,
				info) == IMAP_LITERAL_STREAM)
		session->literal_owner = session->handlers;
	session->literal_streaming = session->literal_owner != NULL;
	return session->literal_streaming ? IMAP_LITERAL_STREAM :
		IMAP_LITERAL_INLINE;
}

bool session_route_untagged(struct imap_session *session,
		const struct imap_response *r)
{
	const struct imap_command_handlers *owner = session->literal_owner;

	/* Its literal went to one command: so does the rest of it. */
	session->literal_owner = NULL;
	if (owner)
		return handlers_offer_untagged(owner, r);
	for (GList *l = session->pending.head; l; l = l->next) {
		struct session_pending *p = l->data;

		/* Several commands of one operation share their handlers:
		 * each response is theirs to see once. */
		if (offered_before(session, l))
			continue;
		if (handlers_offer_untagged(&p->handlers, r))
			return true;
	}
	return handlers_offer_untagged(session->handlers, r);
}

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
		if (p->handlers.tagged)
			p->handlers.tagged(p->handlers.ctx, r);
		session_result_from_tagged(r, &result);
		p->done(p->ctx, &result);
		g_free(p);
		return true;
	}
	return false;
}

/* Read one response and hand it to whom it belongs: false when the
 * session died or said something that fits no command. */
static bool session_read_one(struct imap_session *session,
		struct imap_result *result)
{
	const struct imap_response *r = session_read_response(session, result);

	if (!r)
		return false;	/* session_kill() answered them */
	if (r->kind == IMAP_RESPONSE_UNTAGGED) {
		session_handle_untagged(session, r);
		return true;
	}
	if (r->kind == IMAP_RESPONSE_TAGGED &&
			session_complete_pending(session, r))
		return true;
	session_set_result(result, IMAP_RESULT_SESSION, NULL,
			"unexpected response while waiting for %u answers",
			g_queue_get_length(&session->pending));
	session_kill(session);
	return false;
}

/* Read until at most max sent commands wait for their answer. */
static bool session_drain_to(struct imap_session *session, unsigned max,
		struct imap_result *result)
{
	session_command_begin(session);
	while (g_queue_get_length(&session->pending) > max)
		if (!session_read_one(session, result))
			return false;
	session_set_result(result, IMAP_RESULT_OK, NULL, "drained");
	return true;
}

bool imap_session_send_with(struct imap_session *session,
		struct imap_command *cmd,
		const struct imap_command_handlers *handlers,
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
	if (handlers)
		p->handlers = *handlers;
	p->done = done;
	p->ctx = ctx;
	g_queue_push_tail(&session->pending, p);
	session_set_result(result, IMAP_RESULT_OK, NULL, "sent");
	return true;
}

bool imap_session_send(struct imap_session *session, struct imap_command *cmd,
		imap_session_done_fn *done, void *ctx,
		struct imap_result *result)
{
	return imap_session_send_with(session, cmd, NULL, done, ctx, result);
}

bool imap_session_read_one(struct imap_session *session,
		struct imap_result *result)
{
	if (g_queue_get_length(&session->pending) == 0) {
		session_set_result(result, IMAP_RESULT_OK, NULL,
				"nothing in flight");
		return true;
	}
	session_command_begin(session);
	if (!session_read_one(session, result))
		return false;
	session_set_result(result, IMAP_RESULT_OK, NULL, "read");
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

bool imap_session_wait_input(struct imap_session *session, int ms)
{
	if (session->dead || session->input_start < session->input_end)
		return true;
	return imap_transport_wait_readable(session->transport, ms);
}

bool imap_session_drain(struct imap_session *session,
		struct imap_result *result)
{
	return session_drain_to(session, 0, result);
}

