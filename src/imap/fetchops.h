/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Typed FETCH operations: a mailbox's listing (a summary per message) and
 * one message's body, streamed to a sink.  The FETCH responses are read
 * here and nowhere else, so that the store never walks response items.
 */
#ifndef IMAPFS_IMAP_FETCHOPS_H
#define IMAPFS_IMAP_FETCHOPS_H

#include <stdbool.h>
#include <stdint.h>

#include "imap/session.h"
#include "imap/uidset.h"

/* One message of a listing, as the server sent it: the store checks and
 * converts what it keeps. */
struct imap_summary {
	uint32_t uid;			/* 0 when not a valid UID */
	bool size_valid;
	uint32_t size;			/* RFC822.SIZE */
	const char *internaldate;	/* as sent, or NULL */
	const struct imap_flag_list *flags;	/* the FLAGS list, or NULL
						 * when absent or not a list */
	uint64_t modseq;		/* 0: none */
};

struct imap_summary_handlers {
	/* Each FETCH response with UID and RFC822.SIZE: the listing's own
	 * (others are flag news, which go to the session's events). */
	void (*summary)(void *ctx, const struct imap_summary *summary);
	/* Any FETCH response at all: the listing is moving. */
	void (*progress)(void *ctx);
	/* imap_fetch_summaries_vanished() only: UIDs expunged since, some
	 * perhaps never listed (struct imap_uid_range, imap/uidset.h). */
	void (*vanished)(void *ctx, const struct imap_uid_range *ranges,
			size_t count);
	void *ctx;
};

/* UID FETCH uid_set (UID FLAGS RFC822.SIZE INTERNALDATE [MODSEQ]);
 * uid_set is a set as imap/uidset.h writes it, or "1:*". */
bool imap_fetch_summaries(struct imap_session *session, const char *uid_set,
		bool modseq, const struct imap_summary_handlers *handlers,
		struct imap_result *result);

/* The same, for the messages changed or added since a MODSEQ
 * (CHANGEDSINCE, RFC 7162 §3.1.4; 0: all), with their MODSEQ: how a
 * listing kept from before catches up. */
bool imap_fetch_summaries_since(struct imap_session *session,
		const char *uid_set, bool modseq, uint64_t changed_since,
		const struct imap_summary_handlers *handlers,
		struct imap_result *result);

/* The same over every UID, with the UIDs expunged since that MODSEQ
 * (UID FETCH 1:4294967295 (...) (CHANGEDSINCE m VANISHED), RFC 7162
 * §3.2.6) reported to handlers->vanished: a listing kept from before
 * learns what left without asking for every message's flags.  Only with
 * QRESYNC enabled. */
bool imap_fetch_summaries_vanished(struct imap_session *session,
		uint64_t changed_since,
		const struct imap_summary_handlers *handlers,
		struct imap_result *result);
/* UID FETCH uid_set (UID FLAGS [MODSEQ]): each message's flags, with no
 * size or date (size_valid false, internaldate NULL), and so which UIDs
 * are still there.  A flag change another client makes meanwhile is
 * reported here too, which is as good. */
bool imap_fetch_flags(struct imap_session *session, const char *uid_set,
		bool modseq, const struct imap_summary_handlers *handlers,
		struct imap_result *result);

/* Where bodies go as they arrive, one after another. */
struct imap_body_sink {
	/* A body of size bytes begins (its UID may only come after it);
	 * false drops its bytes (they are still read, never kept in
	 * memory). */
	bool (*begin)(void *ctx, uint64_t size);
	void (*data)(void *ctx, const void *data, size_t len);
	/* The body begun last ends, its FETCH response complete: keep it
	 * as the body of uid (true: that UID was asked for and this is its
	 * first body) or drop it (uid is then 0).  Returns whether it was
	 * kept. */
	bool (*end)(void *ctx, uint32_t uid, bool keep);
	void *ctx;
};

/* A body asked for: the UID in, what became of it out. */
struct imap_body_want {
	uint32_t uid;
	bool kept;		/* its body is in the sink */
	bool saw_uid;		/* a FETCH response named the UID */
	bool sink_failed;	/* the sink refused its body */
};

/*
 * UID FETCH set (UID BODY.PEEK[]) for every want (ascending UIDs, no
 * repeats), in as many commands as the set's length needs: never sets
 * \Seen.  A body is kept only when its FETCH response names a UID asked
 * for (RFC 3501 §7.4.2 lets a server send FETCH data for any message,
 * asked for or not); the UID may come before or after the body in the
 * response, so each body goes to the sink as it arrives and is kept or
 * dropped the moment its own response is complete, not when the command
 * ends.  *wrong_uid tells that a body came for a UID not asked for.
 */
bool imap_fetch_bodies(struct imap_session *session,
		struct imap_body_want *wants, size_t count,
		const struct imap_body_sink *sink, bool *wrong_uid,
		struct imap_result *result);

struct imap_body_outcome {
	bool kept;		/* the body of the UID asked for is in the sink */
	bool saw_uid;		/* a FETCH response named the UID */
	bool wrong_uid;		/* one carried another UID's body */
	bool sink_failed;	/* begin or end refused a body to keep */
};

/*
 * The same, pipelined: a fetcher sends each batch added to it at once,
 * whatever is still in flight on the session, and every body, whichever
 * command carried it, goes to the one sink (whole bodies when max_len is
 * 0, else max_len bytes from offset).  The session's reads
 * (imap_session_read_one(), or any command run on it meanwhile) move the
 * batches on; when the last answer of a batch has come, done is called
 * with its wants' outcomes filled in (wants are the caller's, kept until
 * then) and with wrong_uid and the first failure, if any, as
 * imap_fetch_bodies() gives them.  add returns false when the batch could
 * not be sent: done is then never called for it.
 */
struct imap_body_fetcher;

typedef void imap_body_batch_done_fn(void *ctx, struct imap_body_want *wants,
		size_t count, bool wrong_uid, const struct imap_result *result);

struct imap_body_fetcher *imap_body_fetcher_new(struct imap_session *session,
		uint64_t offset, uint32_t max_len,
		const struct imap_body_sink *sink);
bool imap_body_fetcher_add(struct imap_body_fetcher *fetcher,
		struct imap_body_want *wants, size_t count,
		imap_body_batch_done_fn *done, void *ctx,
		struct imap_result *result);
/* Batches added and not yet done. */
unsigned imap_body_fetcher_in_flight(const struct imap_body_fetcher *fetcher);
/* Only once every batch is done (or the session died, which answers
 * them all). */
void imap_body_fetcher_free(struct imap_body_fetcher **fetcher);

/* The same for one UID. */
bool imap_fetch_body(struct imap_session *session, uint32_t uid,
		const struct imap_body_sink *sink,
		struct imap_body_outcome *outcome, struct imap_result *result);

/* The same for the first max_len bytes only (BODY.PEEK[]<0.max_len>):
 * enough of a message for its header. */
bool imap_fetch_body_start(struct imap_session *session, uint32_t uid,
		uint32_t max_len, const struct imap_body_sink *sink,
		struct imap_body_outcome *outcome, struct imap_result *result);

/* The same for max_len bytes from offset (BODY.PEEK[]<offset.max_len>,
 * RFC 3501 §6.4.5): fewer when the body ends first, none past its end. */
bool imap_fetch_body_range(struct imap_session *session, uint32_t uid,
		uint64_t offset, uint32_t max_len,
		const struct imap_body_sink *sink,
		struct imap_body_outcome *outcome, struct imap_result *result);

/* NOOP: lets the server tell what changed (RFC 3501 §6.1.2). */
bool imap_noop(struct imap_session *session, struct imap_result *result);

#endif
