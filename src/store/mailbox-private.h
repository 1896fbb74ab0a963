/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef IMAPFS_STORE_MAILBOX_PRIVATE_H
#define IMAPFS_STORE_MAILBOX_PRIVATE_H

#include "imap/fetchops.h"
#include "store/mailbox.h"
#include "store/readahead.h"

/*
 * Lock order: the account's tree lock before a mailbox lock, and no lock
 * at all while a command runs on a session (a session's event handlers
 * take mailbox locks).
 */
struct listing_expunge {
	uint32_t uidvalidity;
	uint32_t uid;
};

struct store_mailbox {
	struct store_account *account;	/* borrowed */
	char *raw_name;			/* owned */
	/* Identity in the cache (body_cache_identity()), owned.  Read
	 * without the lock, so a listing that finds another mailbox under
	 * the name replaces it under the lock, atomically, and never frees
	 * it: every identity the mailbox had lives as long as the mailbox
	 * (retired_ids). */
	char *cache_id;
	GPtrArray *retired_ids;		/* owned: earlier cache_ids */

	GMutex lock;
	GCond changed;			/* listing or fetch finished */
	struct msg_index *index;	/* owned; NULL until first listed */
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t highestmodseq;		/* as of the listing's SELECT */
	char mailboxid[IMAP_OBJECTID_MAX + 1];	/* the listing's; "" */
	gint64 listed_at;		/* monotonic µs; 0: stale */
	bool listing;
	struct store_job list_job;	/* while listing */
	gint64 list_progress_at;	/* atomic; monotonic µs */
	unsigned list_generation;	/* listings finished */
	int list_errnum;		/* how the last one ended */
	/* News that came while a listing was in flight, which its answer
	 * may predate; mailbox_install() applies it to the new index. */
	GArray *listing_expunged;	/* struct listing_expunge, or NULL */
	bool listing_news;		/* the count changed meanwhile */
	bool listing_outdated;		/* we changed the mailbox meanwhile */
	bool listing_exists_seen;	/* an EXISTS came ... */
	uint32_t listing_exists;	/* ... with this count ... */
	uint32_t listing_exists_uidvalidity;	/* ... and UIDVALIDITY */
	GHashTable *fetching;		/* UID -> struct fetch_slot */
	struct readahead readahead;	/* how reads walk it (fetch.c) */
	/* Batches read ahead waiting for a connection's stream to take
	 * them, and the streams' jobs running or queued (fetch-stream.c). */
	GQueue ahead_queue;		/* struct fetch_batch */
	unsigned ahead_jobs;
	/* UIDs whose fetch failed lately (a ring): not fetched ahead, so a
	 * bad message fails its own reads, never a batch of good ones. */
	uint32_t fetch_failed[32];
	unsigned fetch_failed_next;
	gint64 last_flag_change_at;	/* atomic; monotonic µs (flags.c) */
	/* The listing kept on disk (store/indexdb.h). */
	bool disk_tried;		/* loaded, or found none */
	bool server_listed;		/* listed from the server since */
	GArray *unsaved;		/* UIDs changed since it was kept */
};

/* The entry of uid changed (its size was measured): keep it on disk with
 * the next listing, or at unmount.  Under the lock. */
void store_mailbox_unsaved_locked(struct store_mailbox *mb, uint32_t uid);

/* A session of the pool with the mailbox selected (EXAMINE, or SELECT
 * for a write: a session that has it selected read-write serves reads as
 * well, since reads only ever PEEK), or an errno;
 * what went wrong is logged as "cannot DOING MAILBOX: why".  With sync, it
 * is opened afresh even if the session had it selected.  Without, it is
 * the mailbox listed (its MAILBOXID is cache_id's), or ESTALE when another
 * one has taken the name since (the next access lists it again).
 * Give the session back with imap_pool_release(). */
int store_mailbox_session(struct store_mailbox *mb, const char *doing,
		bool sync, bool write, struct imap_session **session_r);

/* store_mailbox_session() for reading bodies under uidvalidity: selected
 * afresh if the session's view is older, ESTALE if the UIDs name other
 * messages now; *cache_id_r is where its bytes belong in the cache
 * (store_mailbox_session_cache_id()). */
int store_mailbox_fetch_session(struct store_mailbox *mb, uint32_t uidvalidity,
		struct imap_session **session_r, const char **cache_id_r);

/* We changed the mailbox on the server (appended, moved in, a flag
 * refused): list it again at its next use, and do not let a listing
 * already under way, whose answer may predate the change, pass for
 * fresh. */
void store_mailbox_invalidate(struct store_mailbox *mb);

/* The identity in the cache now (see cache_id): valid until the mailbox
 * is freed, with or without the lock. */
const char *store_mailbox_cache_id(struct store_mailbox *mb);

/* The identity under which bytes fetched on session (with mb selected)
 * belong in the cache: cache_id, when the session's view is of the
 * mailbox listed (by MAILBOXID), else NULL.  Valid until mb is freed. */
const char *store_mailbox_session_cache_id(struct store_mailbox *mb,
		const struct imap_session *session);

/* Make identity (owned) the mailbox's cache_id.  Under the lock. */
void store_mailbox_set_identity_locked(struct store_mailbox *mb,
		char *identity);

/* The listing kept on disk, if any, as the index until the server is
 * asked (which the caller does next): what a remount lists from.  Under
 * the lock. */
void store_mailbox_load_locked(struct store_mailbox *mb);

/* Write the index to disk: the UIDs in changed (consumed), or all of it
 * (NULL), with what was measured since.  No lock held. */
void store_mailbox_save(struct store_mailbox *mb, GArray *changed);

/*
 * A listing starts from the index the mailbox had (listed before, or kept
 * on disk), and when the server still has the same mailbox under the name
 * (UIDVALIDITY and MAILBOXID) it only catches up with what changed
 * (docs/DESIGN.md, "Listings on disk"); otherwise it lists every message.
 */
struct listing_base {
	struct msg_index *index;	/* a copy, or NULL */
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t highestmodseq;
	char *identity;
};

struct listing {
	struct msg_index *index;
	bool malformed;
	struct store_mailbox *mb;
	/* Catching up: summaries update index, and changed collects the
	 * UIDs updated, added or removed (to write to disk). */
	bool updating;
	GArray *changed;
	GArray *seen;			/* UIDs a flags pass named */
	GArray *vanished;		/* struct imap_uid_range */
};

/* VANISHED (EARLIER) ranges for listing (a struct listing *), applied once
 * the command ends (mailbox-catchup.c). */
void listing_vanished(void *ctx, const struct imap_uid_range *ranges,
		size_t count);

/* Bring base's index, copied into listing->index, up to date with the
 * mailbox selected on session (mailbox-catchup.c).  No lock held. */
bool listing_catch_up(struct listing *listing, struct imap_session *session,
		const struct listing_base *base,
		const struct imap_summary_handlers *handlers,
		struct imap_result *result);

#endif
