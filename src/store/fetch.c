/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Message bodies: served from the cache, or fetched with BODY.PEEK[] (which
 * never sets \Seen) and streamed from the socket straight into a cache file.
 * The bytes are believed only when the FETCH that carried them names the
 * UID we asked for; anything else is thrown away.
 */
#include "store/mailbox-private.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "imap/fetchops.h"
#include "imap/pool.h"
#include "log.h"

/* The cache file a body goes to as it arrives (imap_body_sink). */
struct body_fetch {
	struct body_cache *cache;
	const char *cache_id;
	uint32_t uidvalidity;
	uint32_t uid;

	struct body_cache_writer *writer;	/* of the body begun last */
	struct body_cache_entry entry;		/* the one kept */
};

static bool sink_begin(void *ctx, uint64_t size)
{
	struct body_fetch *fetch = ctx;
	GError *error = NULL;

	body_cache_writer_abort(&fetch->writer);
	fetch->writer = body_cache_writer_new(fetch->cache, fetch->cache_id,
			fetch->uidvalidity, size, &error);
	if (!fetch->writer) {
		log_warning("cannot cache a body: %s", error->message);
		g_error_free(error);
		return false;
	}
	return true;
}

static void sink_data(void *ctx, const void *data, size_t len)
{
	struct body_fetch *fetch = ctx;

	if (fetch->writer)
		body_cache_writer_write(fetch->writer, data, len);
}

static bool sink_end(void *ctx, bool keep)
{
	struct body_fetch *fetch = ctx;
	GError *error = NULL;

	if (!keep) {
		body_cache_writer_abort(&fetch->writer);
		return false;
	}
	if (!body_cache_writer_commit(&fetch->writer, fetch->uid,
				&fetch->entry, &error)) {
		log_warning("cannot cache UID %u: %s", fetch->uid,
				error->message);
		g_error_free(error);
		return false;
	}
	return true;
}

/* One round trip to the server.  No lock held. */
static int fetch_from_server(struct store_mailbox *mb, uint32_t uidvalidity,
		uint32_t uid, struct body_cache_entry *entry)
{
	struct imap_pool *pool = store_account_pool(mb->account);
	struct body_fetch fetch = {
		.cache = store_account_cache(mb->account),
		.uidvalidity = uidvalidity,
		.uid = uid,
		.entry = { .fd = -1 },
	};
	const struct imap_body_sink sink = {
		.begin = sink_begin,
		.data = sink_data,
		.end = sink_end,
		.ctx = &fetch,
	};
	struct imap_body_outcome outcome;
	struct imap_session *session;
	struct imap_result result;
	int errnum;

	errnum = store_mailbox_session(mb, "fetch from", false, false,
			&session);
	if (errnum)
		return errnum;
	if (imap_session_selected(session)->uidvalidity != uidvalidity) {
		/* This session's view may be the older one (the mailbox was
		 * created again since it was selected): look afresh. */
		imap_session_forget_selected(session);
		if (!imap_session_select(session, mb->raw_name, true,
					&result)) {
			errnum = imap_result_errno(&result);
			goto out;
		}
	}
	if (imap_session_selected(session)->uidvalidity != uidvalidity) {
		/* The UIDs we know name other messages now. */
		errnum = ESTALE;
		goto out;
	}
	/* The identity of the mailbox this session has selected, taken now:
	 * a listing on another thread may have moved the name's identity
	 * since, and these bytes belong to this one. */
	fetch.cache_id = store_mailbox_session_cache_id(mb, session);
	if (!fetch.cache_id) {
		errnum = ESTALE;
		goto out;
	}
	for (int attempt = 0; attempt < 2; attempt++) {
		if (!imap_fetch_body(session, uid, &sink, &outcome, &result)) {
			errnum = imap_result_errno(&result);
			log_warning("cannot fetch %s UID %u: %s",
					mb->raw_name, uid, result.text);
			break;
		}
		if (outcome.kept) {
			*entry = fetch.entry;
			fetch.entry.fd = -1;
			errnum = 0;
			break;
		}
		if (outcome.wrong_uid || outcome.sink_failed ||
				outcome.saw_uid) {
			errnum = EIO;
			break;
		}
		/* OK with no data: the message is gone, or new and not yet
		 * known to this session (another one listed it).  NOOP lets
		 * the server tell us, then ask once more. */
		errnum = ENOENT;
		if (attempt == 0 && !imap_noop(session, &result)) {
			errnum = imap_result_errno(&result);
			break;
		}
	}
out:
	body_cache_writer_abort(&fetch.writer);
	if (fetch.entry.fd >= 0)
		close(fetch.entry.fd);
	imap_pool_release(pool, session);
	return errnum;
}

static void mailbox_learn_size(struct store_mailbox *mb, uint32_t uidvalidity,
		uint32_t uid, uint64_t length)
{
	struct msg_entry *e;

	g_mutex_lock(&mb->lock);
	if (mb->index && mb->uidvalidity == uidvalidity &&
			(e = msg_index_find(mb->index, uid)) &&
			length <= UINT32_MAX) {
		e->size = (uint32_t)length;
		e->size_exact = 1;
	}
	g_mutex_unlock(&mb->lock);
}

/* One fetch in flight per UID; everyone who asks for the body meanwhile
 * takes its outcome, so that a failure costs every reader one timeout,
 * not one each, and a body too big for the cache is fetched once for all
 * of them.  It runs on the account's threads, for as long as it takes
 * (every wait in it is bounded), whether or not anybody still waits. */
struct fetch_slot {
	struct store_job job;
	struct store_mailbox *mb;
	uint32_t uidvalidity;
	uint32_t uid;
	GPtrArray *waiters;	/* struct store_body_wait *; mailbox lock */
};

enum {
	BODY_WAIT_NEW,
	BODY_WAIT_ATTACHED,
	BODY_WAIT_CANCELLED,
	BODY_WAIT_DONE,
};

/* Everyone waiting gets the body on a descriptor of their own, made
 * before anyone is told (one of them may close the original at once). */
static void fetch_deliver(GPtrArray *waiters, int errnum,
		struct body_cache_entry *entry)
{
	int *fds = g_new(int, waiters->len);

	for (guint i = 0; i < waiters->len; i++)
		fds[i] = errnum ? -1 : i == 0 ? entry->fd : dup(entry->fd);
	for (guint i = 0; i < waiters->len; i++) {
		struct store_body_wait *w = g_ptr_array_index(waiters, i);
		struct body_cache_entry mine = *entry;

		mine.fd = fds[i];
		if (errnum)
			w->done(w, errnum, NULL);
		else if (mine.fd < 0)
			w->done(w, EIO, NULL);
		else
			w->done(w, 0, &mine);
	}
	if (waiters->len == 0 && errnum == 0)
		close(entry->fd);
	g_free(fds);
}

static void fetch_job(struct store_job *job)
{
	struct fetch_slot *slot = (struct fetch_slot *)(void *)job;
	struct store_mailbox *mb = slot->mb;
	struct body_cache_entry entry = { .fd = -1 };
	GPtrArray *waiters;
	int errnum;

	if (store_job_queued_too_long(mb->account, job)) {
		log_warning("cannot fetch %s UID %u: every connection stayed "
				"busy", mb->raw_name, slot->uid);
		errnum = ETIMEDOUT;
	} else {
		errnum = fetch_from_server(mb, slot->uidvalidity, slot->uid,
				&entry);
	}

	g_mutex_lock(&mb->lock);
	g_hash_table_remove(mb->fetching, GUINT_TO_POINTER(slot->uid));
	waiters = g_steal_pointer(&slot->waiters);
	for (guint i = 0; i < waiters->len; i++) {
		struct store_body_wait *w = g_ptr_array_index(waiters, i);

		w->state = BODY_WAIT_DONE;
	}
	if (errnum == ESTALE)
		mb->listed_at = 0;
	g_mutex_unlock(&mb->lock);
	if (errnum == 0)
		mailbox_learn_size(mb, slot->uidvalidity, slot->uid,
				entry.length);
	fetch_deliver(waiters, errnum, &entry);
	g_ptr_array_unref(waiters);
	g_free(slot);
}

void store_body_wait_init(struct store_body_wait *wait,
		struct store_mailbox *mailbox, store_body_done_fn done,
		void *ctx)
{
	memset(wait, 0, sizeof(*wait));
	wait->mailbox = mailbox;
	wait->done = done;
	wait->ctx = ctx;
	wait->state = BODY_WAIT_NEW;
}

int store_mailbox_body_start(struct store_body_wait *wait,
		uint32_t uidvalidity, uint32_t uid,
		struct body_cache_entry *entry)
{
	struct store_mailbox *mb = wait->mailbox;
	struct body_cache *cache = store_account_cache(mb->account);
	struct body_cache_key key = {
		.mailbox = store_mailbox_cache_id(mb),
		.uidvalidity = uidvalidity,
		.uid = uid,
	};
	struct fetch_slot *slot;

	if (body_cache_lookup(cache, &key, entry)) {
		mailbox_learn_size(mb, uidvalidity, uid, entry->length);
		return 0;
	}
	g_mutex_lock(&mb->lock);
	if (wait->state == BODY_WAIT_CANCELLED) {
		g_mutex_unlock(&mb->lock);
		return ECANCELED;
	}
	slot = g_hash_table_lookup(mb->fetching, GUINT_TO_POINTER(uid));
	if (slot && slot->uidvalidity != uidvalidity) {
		/* The UIDVALIDITY changed under one of the two: both mean
		 * the same number, not the same message. */
		g_mutex_unlock(&mb->lock);
		return ESTALE;
	}
	if (!slot) {
		slot = g_new0(struct fetch_slot, 1);
		slot->job.run = fetch_job;
		slot->mb = mb;
		slot->uidvalidity = uidvalidity;
		slot->uid = uid;
		slot->waiters = g_ptr_array_new();
		g_hash_table_insert(mb->fetching, GUINT_TO_POINTER(uid),
				slot);
		store_account_submit(mb->account, &slot->job);
	}
	g_ptr_array_add(slot->waiters, wait);
	wait->slot = slot;
	wait->state = BODY_WAIT_ATTACHED;
	g_mutex_unlock(&mb->lock);
	return EINPROGRESS;
}

bool store_body_wait_cancel(struct store_body_wait *wait)
{
	struct store_mailbox *mb = wait->mailbox;
	bool detached = false;

	g_mutex_lock(&mb->lock);
	switch (wait->state) {
	case BODY_WAIT_NEW:
		wait->state = BODY_WAIT_CANCELLED;
		break;
	case BODY_WAIT_ATTACHED:
		g_ptr_array_remove_fast(wait->slot->waiters, wait);
		wait->state = BODY_WAIT_CANCELLED;
		detached = true;
		break;
	default:
		break;
	}
	g_mutex_unlock(&mb->lock);
	return detached;
}

bool store_mailbox_cached_size(struct store_mailbox *mb, uint32_t uidvalidity,
		uint32_t uid, uint64_t *size_r)
{
	struct body_cache_key key = {
		.mailbox = store_mailbox_cache_id(mb),
		.uidvalidity = uidvalidity,
		.uid = uid,
	};

	return body_cache_peek_length(store_account_cache(mb->account), &key,
			size_r);
}
