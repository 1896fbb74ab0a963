/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Shared between the session's command loop and its login sequence. */
#ifndef IMAPFS_IMAP_SESSION_PRIVATE_H
#define IMAPFS_IMAP_SESSION_PRIVATE_H

#include "imap/msgmap.h"
#include "imap/session.h"

#define SESSION_INPUT_SIZE (64 * 1024)

struct imap_session {
	unsigned id;
	const struct imap_session_config *cfg;	/* borrowed */
	int timeout_ms;				/* for every wait */
	/* The rate floor: since `command_start`, the server has had
	 * timeout_ms plus one second per IMAP_SESSION_RATE_FLOOR bytes of
	 * the `command_received` it sent. */
	gint64 command_start;			/* monotonic µs */
	uint64_t command_received;
	struct imap_session_events events;
	struct imap_transport *transport;	/* owned */
	struct imap_parser *parser;		/* owned */

	uint8_t *input;				/* owned, SESSION_INPUT_SIZE */
	size_t input_start;
	size_t input_end;

	uint32_t capabilities;
	uint64_t appendlimit;			/* APPENDLIMIT=n; 0: none */
	bool capabilities_known;
	uint32_t enabled;

	unsigned tag_counter;
	/* Cleartext that a STARTTLS handshake is still to protect: nothing
	 * read now may count once it has happened. */
	bool before_tls;
	bool dead;
	bool bye;
	char bye_text[200];

	struct imap_selected selected;
	/* A SELECT or EXAMINE is in flight: the one command whose response
	 * codes describe the selected mailbox.  A MAILBOXID elsewhere (in
	 * CREATE's tagged OK, RFC 8474 §4.1) names another mailbox. */
	bool selecting;
	struct msgmap *msgmap;			/* owned */

	/* Commands sent without waiting for their answer (imap_session_send),
	 * oldest first: struct session_pending *. */
	GQueue pending;

	/* The command waited for (imap_session_run); NULL between them. */
	const struct imap_command_handlers *handlers;
	/* The command whose handlers took the literal being read, and so
	 * the response it is in (session_route_*); NULL when none did. */
	const struct imap_command_handlers *literal_owner;
	bool literal_streaming;	/* the current literal goes to its owner */
};

struct imap_session *session_new(const struct imap_session_config *cfg,
		unsigned id, const struct imap_session_events *events);
void session_free(struct imap_session *session);

/* A new command (or the greeting): the rate floor counts from now. */
void session_command_begin(struct imap_session *session);

/* Forget buffered input and parser state (after STARTTLS). */
void session_discard_input(struct imap_session *session);

/* Wait for the next complete response; NULL when the session died (then
 * result says why). */
const struct imap_response *session_read_response(
		struct imap_session *session, struct imap_result *result);

/* Apply an untagged response to the session's state and report it. */
void session_handle_untagged(struct imap_session *session,
		const struct imap_response *response);

void session_set_result(struct imap_result *result,
		enum imap_result_status status, const char *code,
		const char *fmt, ...) G_GNUC_PRINTF(4, 5);

void session_parse_capabilities(struct imap_session *session,
		const struct imap_arg *args);

/* Forget everything learnt from the server so far (capabilities, ENABLE
 * results, BYE, the selected mailbox): after a STARTTLS handshake, all of
 * it came in cleartext that anyone on the path could have written. */
void session_forget_learnt(struct imap_session *session);

/* State carried by a response code, tagged or untagged. */
void session_handle_code(struct imap_session *session,
		const struct imap_response *response);

/* The connection is gone: close it, and fail what waits for answers. */
void session_kill(struct imap_session *session);

/* Send cmd's parts under tag (session.c). */
bool session_send(struct imap_session *session, const char *tag,
		const struct imap_command *cmd, struct imap_result *result);

/* result from a tagged response. */
void session_result_from_tagged(const struct imap_response *r,
		struct imap_result *result);

/* Pipelining (session-pipeline.c): a tagged answer to a command sent
 * earlier, handed to its callback (true), or not one (false); and every
 * command still waiting told that its answer is lost. */
bool session_complete_pending(struct imap_session *session,
		const struct imap_response *r);
void session_fail_pending(struct imap_session *session);

/* Data responses go to the command they belong to, among every command in
 * flight (session-pipeline.c): a literal to the first, oldest first, that
 * streams it; a response to the command that took its literal, else to
 * each in turn until one claims it.  Returns whether one claimed it. */
enum imap_literal_action session_route_literal_begin(
		struct imap_session *session,
		const struct imap_literal_info *info);
bool session_route_untagged(struct imap_session *session,
		const struct imap_response *r);

/* The trace (session-trace.c): a response received, a line sent. */
void session_trace_response(struct imap_session *session,
		const struct imap_response *r);
void session_trace_sent(struct imap_session *session, const GString *shown);

#endif
