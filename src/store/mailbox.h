/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One selectable mailbox: its UIDVALIDITY, its message index, and the
 * operations that fill it from the server.
 */
#ifndef IMAPFS_STORE_MAILBOX_H
#define IMAPFS_STORE_MAILBOX_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "store/account.h"
#include "store/cache.h"
#include "store/cancel.h"
#include "store/msgindex.h"

/* A message as the filesystem needs it, copied out of the index. */
struct store_message {
	uint32_t uidvalidity;
	struct msg_entry entry;
	char *flags;		/* owned: "\Seen $Forwarded" */
	char **keywords;	/* owned, NULL-terminated */
};

struct store_mailbox_status {
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint32_t messages;
	uint32_t unseen;
	uint64_t highestmodseq;
};

struct store_mailbox *store_mailbox_new(struct store_account *account,
		const char *raw_name);
void store_mailbox_free(struct store_mailbox **mailbox);

/* Write to disk what the listing learned since it was kept (at unmount). */
void store_mailbox_persist(struct store_mailbox *mailbox);

const char *store_mailbox_name(const struct store_mailbox *mailbox);

/*
 * Make sure the index is at most max_age_s old (0: list now; -1: any age,
 * just listed once), asking the server if needed.  When the server cannot
 * be reached and an older index exists, that index is kept and 0 returned
 * (cached reads keep working while the server is away).  The listing runs
 * on the account's threads; this one waits until it ends, until it has
 * made no progress for a while (ETIMEDOUT), or until cancel (may be NULL)
 * fires (ECANCELED).  A listing given up on still completes.
 */
int store_mailbox_ensure_listed(struct store_mailbox *mailbox, int max_age_s,
		struct store_cancel *cancel);

/* 0 and *msg filled (store_message_clear it), or ENOENT. */
int store_mailbox_message(struct store_mailbox *mailbox, uint32_t uid,
		struct store_message *msg);
void store_message_clear(struct store_message *msg);

int store_mailbox_status(struct store_mailbox *mailbox,
		struct store_mailbox_status *status);

/* Copy of the current entries (for a directory listing) and the
 * UIDVALIDITY they belong to; g_array_unref it. */
GArray *store_mailbox_snapshot(struct store_mailbox *mailbox,
		uint32_t *uidvalidity_r);

/*
 * The body of a message: from the cache, or fetched into it on the
 * account's threads.  Concurrent requests for the same message share one
 * fetch.  On success the index learns the exact size.
 *
 * Init a wait, then start it: 0 with *entry filled (it was cached), or
 * EINPROGRESS, after which done() is called exactly once from another
 * thread, with the entry (its descriptor the callee's) or an errno
 * (ENOENT: no such message; ESTALE: UIDVALIDITY changed, or another
 * mailbox, by MAILBOXID, took the name; EIO/ETIMEDOUT: the server failed
 * us) -- unless store_body_wait_cancel() returns true
 * first, after which the store never touches the wait again.  Any other
 * return is a failure now (ECANCELED: cancelled before it started).
 * cancel may be called from any thread, before or after start, and
 * returns false if done() has been or is being called.
 */
struct store_body_wait;
typedef void (*store_body_done_fn)(struct store_body_wait *wait,
		int errnum, struct body_cache_entry *entry);

struct store_body_wait {
	store_body_done_fn done;
	void *ctx;
	/* private */
	struct store_mailbox *mailbox;
	struct fetch_slot *slot;
	int state;
};

void store_body_wait_init(struct store_body_wait *wait,
		struct store_mailbox *mailbox, store_body_done_fn done,
		void *ctx);
int store_mailbox_body_start(struct store_body_wait *wait,
		uint32_t uidvalidity, uint32_t uid,
		struct body_cache_entry *entry);
bool store_body_wait_cancel(struct store_body_wait *wait);

/* Start fetching a body into the cache unless it is on its way: for a
 * reader who is served its first bytes by a range meanwhile. */
void store_mailbox_body_prefetch(struct store_mailbox *mailbox,
		uint32_t uidvalidity, uint32_t uid);

/*
 * len bytes of a body from offset (BODY.PEEK[]<offset.len>), into memory,
 * without waiting for the rest of the body: the first bytes of a big
 * message are served while the whole of it streams into the cache.
 * Returns EINPROGRESS, after which done is called once, from one of the
 * store's threads, with the bytes (fewer at the body's end) or an errno
 * -- unless store_range_wait_cancel() returns true first.
 */
struct store_range_wait;
typedef void (*store_range_done_fn)(struct store_range_wait *wait,
		int errnum, const void *data, size_t len);

struct store_range_wait {
	store_range_done_fn done;
	void *ctx;
	/* private */
	struct store_mailbox *mailbox;
	struct range_job *job;
};

int store_mailbox_range_start(struct store_range_wait *wait,
		struct store_mailbox *mailbox, uint32_t uidvalidity,
		uint32_t uid, uint64_t offset, uint32_t len);
bool store_range_wait_cancel(struct store_range_wait *wait);

/* Up to max UIDs listed after uid (direction > 0) or before it (< 0), in
 * that direction, nearest first, while the index is of uidvalidity. */
size_t store_mailbox_neighbours(struct store_mailbox *mailbox,
		uint32_t uidvalidity, uint32_t uid, int direction,
		uint32_t *uids, size_t max);

/* The body if it is cached (nothing fetched for it): *entry as
 * store_mailbox_body_start() fills it (close entry->fd), else false.  It
 * counts as read, for reading ahead. */
bool store_mailbox_cached_body(struct store_mailbox *mailbox,
		uint32_t uidvalidity, uint32_t uid,
		struct body_cache_entry *entry);

/* The exact size if the body is cached (no network), else false. */
bool store_mailbox_cached_size(struct store_mailbox *mailbox,
		uint32_t uidvalidity, uint32_t uid, uint64_t *size_r);

/* Unsolicited news from a session that has this mailbox selected. */
void store_mailbox_apply_flags(struct store_mailbox *mailbox,
		uint32_t uidvalidity, uint32_t uid,
		const struct imap_flag_list *flags, uint64_t modseq);
void store_mailbox_apply_expunge(struct store_mailbox *mailbox,
		uint32_t uidvalidity, uint32_t uid);
void store_mailbox_apply_exists(struct store_mailbox *mailbox,
		uint32_t uidvalidity, uint32_t count);

#endif
