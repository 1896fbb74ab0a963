/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One IMAP connection: greeting, STARTTLS, capabilities, authentication,
 * commands and their responses, and the state of the selected mailbox.
 *
 * A session is used by one thread at a time (the pool hands it out).  Every
 * wait is bounded by the configured timeout, which restarts whenever bytes
 * arrive, so a large body on a slow link is fine but a silent server is not.
 * When the connection breaks or the server sends something the parser
 * rejects, the session is dead: the command in flight fails with
 * IMAP_RESULT_SESSION and the pool opens a new connection next time.
 *
 * Untagged responses are routed by what they are, not by which command is in
 * flight: a command's handler sees the data it asked for, and changes to
 * the selected mailbox (EXISTS, EXPUNGE, FETCH FLAGS) that nobody asked for
 * go to the session's event handlers, whatever command they came with.
 */
#ifndef IMAPFS_IMAP_SESSION_H
#define IMAPFS_IMAP_SESSION_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "imap/command.h"
#include "imap/parser.h"
#include "imap/transport.h"

#define IMAP_SESSION_ERROR (imap_session_error_quark())
GQuark imap_session_error_quark(void);

enum imap_session_error {
	IMAP_SESSION_ERROR_GREETING,	/* BYE or garbage instead of OK */
	IMAP_SESSION_ERROR_NO_STARTTLS,
	IMAP_SESSION_ERROR_INSECURE,	/* would need cleartext credentials */
	IMAP_SESSION_ERROR_AUTH_FAILED,
	IMAP_SESSION_ERROR_NO_MECHANISM,
	IMAP_SESSION_ERROR_PROTOCOL,
	IMAP_SESSION_ERROR_NO_PASSWORD,
};

enum imap_security {
	IMAP_SECURITY_TLS,	/* imaps:// */
	IMAP_SECURITY_STARTTLS,	/* imap://, upgrade required */
	IMAP_SECURITY_NONE,	/* imap:// with -o plaintext, or a tunnel */
};

enum imap_auth_mechanism {
	IMAP_AUTH_AUTO,		/* AUTHENTICATE PLAIN if offered, else LOGIN */
	IMAP_AUTH_PLAIN,
	IMAP_AUTH_LOGIN,
};

/* Returns the password (borrowed: it must outlive the session) or NULL
 * with *error set. */
typedef const char *imap_password_fn(void *ctx, GError **error);

/*
 * Every wait for the server ends after timeout_ms of silence; besides, a
 * command's answer must come at IMAP_SESSION_RATE_FLOOR bytes per second
 * on average after the first timeout_ms (see imapfs(1), "timeout").
 */
#define IMAP_SESSION_RATE_FLOOR 1024

struct imap_session_config {
	enum imap_security security;
	char *host;		/* for TCP and certificate checks */
	uint16_t port;
	char *tunnel;		/* command, or NULL for TCP */
	char *workdir;		/* where the tunnel runs; NULL: our cwd */
	struct imap_tls_config tls;
	int timeout_ms;
	char *user;
	enum imap_auth_mechanism mechanism;
	imap_password_fn *password;
	void *password_ctx;
};

/* Capabilities that change what we send. */
enum imap_capability {
	IMAP_CAP_IMAP4REV1 = 1u << 0,
	IMAP_CAP_STARTTLS = 1u << 1,
	IMAP_CAP_LOGINDISABLED = 1u << 2,
	IMAP_CAP_AUTH_PLAIN = 1u << 3,
	IMAP_CAP_SASL_IR = 1u << 4,
	IMAP_CAP_LITERAL_PLUS = 1u << 5,
	IMAP_CAP_LITERAL_MINUS = 1u << 6,
	IMAP_CAP_ENABLE = 1u << 7,
	IMAP_CAP_CONDSTORE = 1u << 8,
	IMAP_CAP_QRESYNC = 1u << 9,
	IMAP_CAP_UIDPLUS = 1u << 10,
	IMAP_CAP_MOVE = 1u << 11,
	IMAP_CAP_IDLE = 1u << 12,
	IMAP_CAP_SPECIAL_USE = 1u << 13,
	IMAP_CAP_LIST_EXTENDED = 1u << 14,
	IMAP_CAP_UTF8_ACCEPT = 1u << 15,
	IMAP_CAP_NAMESPACE = 1u << 16,
	IMAP_CAP_OBJECTID = 1u << 17,
	IMAP_CAP_LIST_STATUS = 1u << 18,
	IMAP_CAP_ID = 1u << 19,
	IMAP_CAP_ESEARCH = 1u << 20,
};

/* Extensions switched on with ENABLE. */
enum imap_enabled {
	IMAP_ENABLED_CONDSTORE = 1u << 0,
	IMAP_ENABLED_UTF8_ACCEPT = 1u << 1,
	/* With it the server reports expunges as VANISHED (UIDs), never as
	 * EXPUNGE (RFC 7162 §3.2.10); it implies CONDSTORE. */
	IMAP_ENABLED_QRESYNC = 1u << 2,
};

/* How a command ended.  Statuses escalate: NO and BAD concern only the
 * command; SESSION means the connection is gone (or must be dropped). */
enum imap_result_status {
	IMAP_RESULT_OK,
	IMAP_RESULT_NO,
	IMAP_RESULT_BAD,
	IMAP_RESULT_SESSION,
};

struct imap_result {
	enum imap_result_status status;
	char code[32];		/* response code name ("TRYCREATE"), or "" */
	char code_args[256];	/* its arguments as sent ("38505 3955"
				 * for APPENDUID), or "" */
	bool timed_out;		/* SESSION because the server went silent */
	char text[256];		/* the server's text, or what went wrong */
};

/* The longest object identifier (RFC 8474 §7: 1*255 of ALPHA, DIGIT,
 * "_" and "-"). */
#define IMAP_OBJECTID_MAX 255

/* The flags IMAP names (RFC 3501 §2.3.2) that a client may set. */
enum imap_system_flag {
	IMAP_FLAG_SEEN = 1u << 0,
	IMAP_FLAG_ANSWERED = 1u << 1,
	IMAP_FLAG_FLAGGED = 1u << 2,
	IMAP_FLAG_DELETED = 1u << 3,
	IMAP_FLAG_DRAFT = 1u << 4,
};

/* Room for the keywords PERMANENTFLAGS lists one by one. */
#define IMAP_PERMANENT_KEYWORDS_MAX 1024

/* The selected mailbox as the server described it. */
struct imap_selected {
	char *name;		/* raw server name; NULL when none */
	bool read_only;
	uint32_t exists;
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t highestmodseq;	/* 0: unknown or NOMODSEQ */
	/* MAILBOXID (RFC 8474 §4.2), from servers with OBJECTID: unlike
	 * name and UIDVALIDITY, never the same for two mailboxes, and kept
	 * across a rename (§4).  Only ever holds what the objectid syntax
	 * allows (§7), so it is safe in a file name; "" when none.  An
	 * array, not a pointer, so that a copy of this struct owns it. */
	char mailboxid[IMAP_OBJECTID_MAX + 1];
	/* PERMANENTFLAGS (RFC 3501 §7.1): which flags may be changed.
	 * Without it, every flag may (permanent_known false). */
	bool permanent_known;
	unsigned permanent_system;	/* enum imap_system_flag */
	bool permanent_new_keywords;	/* "\*" */
	/* The keywords listed, each followed by a space, or (overflow) a
	 * list too long to keep: then every keyword counts as allowed, and
	 * the server has the last word. */
	bool permanent_overflow;
	char permanent_keywords[IMAP_PERMANENT_KEYWORDS_MAX];
};

/* Whether the selected mailbox lets flag ("\Seen", "$Label") be set. */
bool imap_selected_permits(const struct imap_selected *selected,
		const char *flag);

/* The system flag a name stands for ("\seen" too), or 0. */
unsigned imap_system_flag(const char *name);

/* Unsolicited changes to the selected mailbox. */
struct imap_session_events {
	/* A message's flags as the server reports them now. */
	void (*flags)(void *ctx, const char *mailbox, uint32_t uidvalidity,
			uint32_t uid, const struct imap_flag_list *flags,
			uint64_t modseq);
	/* A message left the mailbox (only when its UID is known). */
	void (*expunged)(void *ctx, const char *mailbox, uint32_t uidvalidity,
			uint32_t uid);
	/* The message count changed (new mail, or expunges). */
	void (*exists)(void *ctx, const char *mailbox, uint32_t uidvalidity,
			uint32_t count);
	void *ctx;
};

/* What a command wants to see while it runs. */
struct imap_command_handlers {
	/* Each untagged data response.  Return true when the response was
	 * this command's own data (a listing), so that it is not also
	 * reported as an unsolicited change. */
	bool (*untagged)(void *ctx, const struct imap_response *response);
	enum imap_literal_action (*literal_begin)(void *ctx,
			const struct imap_literal_info *info);
	void (*literal_data)(void *ctx, const void *data, size_t len);
	void (*literal_end)(void *ctx);
	/* A continuation request "+ text" beyond those for literals
	 * (AUTHENTICATE).  Return the line to send (without CRLF; freed by
	 * the session after wiping it), or NULL to cancel the command. */
	char *(*continuation)(void *ctx, const char *text);
	/* The tagged completion, before the result is filled from it: where
	 * APPENDUID and COPYUID (RFC 4315 §3) are read in full. */
	void (*tagged)(void *ctx, const struct imap_response *response);
	void *ctx;
};

struct imap_session;

/* Connect, secure, authenticate.  On failure, *error says what failed in
 * a way that can be shown to the user as one line. */
struct imap_session *imap_session_open(const struct imap_session_config *cfg,
		unsigned connection_id, const struct imap_session_events *events,
		GError **error);
/* LOGOUT (briefly, when the session is healthy) and close. */
void imap_session_close(struct imap_session **session);

unsigned imap_session_id(const struct imap_session *session);
bool imap_session_is_dead(const struct imap_session *session);
uint32_t imap_session_capabilities(const struct imap_session *session);
uint32_t imap_session_enabled(const struct imap_session *session);
/* The largest message APPEND takes (APPENDLIMIT=n, RFC 7889), or 0. */
uint64_t imap_session_appendlimit(const struct imap_session *session);
const struct imap_selected *imap_session_selected(
		const struct imap_session *session);

/*
 * Run one command to its tagged completion.  Takes ownership of cmd.
 * handlers may be NULL.  Returns result->status == IMAP_RESULT_OK.
 */
bool imap_session_run(struct imap_session *session, struct imap_command *cmd,
		const struct imap_command_handlers *handlers,
		struct imap_result *result);

/*
 * Pipelining: send a command and go on without waiting for its answer,
 * which is read whenever the session next reads (another command's wait,
 * a poll, a drain) and handed to done(ctx, result) then -- or, if the
 * connection dies first, with IMAP_RESULT_SESSION.  done must not use the
 * session.  For commands without synchronising literals only.  At most
 * IMAP_SESSION_PIPELINE_MAX are in flight: beyond that, send waits for
 * the oldest.  Returns false (result set, done never called) when the
 * command could not be sent.  Takes ownership of cmd.
 */
#define IMAP_SESSION_PIPELINE_MAX 64
typedef void imap_session_done_fn(void *ctx, const struct imap_result *result);

bool imap_session_send(struct imap_session *session, struct imap_command *cmd,
		imap_session_done_fn *done, void *ctx,
		struct imap_result *result);
/* The same for a command with data of its own: its handlers (copied; the
 * ctx they point to must outlive the answer) see the data responses that
 * belong to it, among all the commands in flight.  A literal goes to the
 * oldest command whose literal_begin streams it, and the rest of its
 * response to the same command; any other data response is offered to
 * each command, oldest first and the one waited for last, until an
 * untagged handler claims it.  tagged is called before done. */
bool imap_session_send_with(struct imap_session *session,
		struct imap_command *cmd,
		const struct imap_command_handlers *handlers,
		imap_session_done_fn *done, void *ctx,
		struct imap_result *result);
/* Read one response, waiting for it (bounded by the timeout), and hand it
 * to the command it belongs to; true at once when nothing is in flight.
 * False when the session died: every command in flight has then been
 * told. */
bool imap_session_read_one(struct imap_session *session,
		struct imap_result *result);
/* True when a response has begun to come (or the session is dead, which
 * a read reports), waiting at most ms for it: a caller that may have more
 * to send need not block in imap_session_read_one() meanwhile. */
bool imap_session_wait_input(struct imap_session *session, int ms);
/* How many sent commands still wait for their answer. */
unsigned imap_session_pending(const struct imap_session *session);
/* Read answers that come within budget_ms, until none is outstanding:
 * true when none is (then every done() has been called). */
bool imap_session_settle(struct imap_session *session, int budget_ms);
/* Read until every sent command has its answer; false if the session
 * died meanwhile (their done() has been called all the same). */
bool imap_session_drain(struct imap_session *session,
		struct imap_result *result);

/*
 * EXAMINE (read_only) or SELECT a mailbox unless it is already selected in
 * that mode.  On success imap_session_selected() describes it.
 */
bool imap_session_select(struct imap_session *session, const char *mailbox,
		bool read_only, struct imap_result *result);

/* Forget which mailbox is selected, so that the next
 * imap_session_select() opens it afresh: the way to learn its current
 * UIDVALIDITY, or that it is gone, when another client may have deleted
 * and created it again meanwhile. */
void imap_session_forget_selected(struct imap_session *session);

/* Read and handle whatever the server sent unasked while the session sat
 * idle, without waiting.  Returns false if the session turned out dead. */
bool imap_session_poll(struct imap_session *session);

/* Map a failed result to an errno, in one place (table of response codes,
 * few exceptions). */
int imap_result_errno(const struct imap_result *result);

#endif
