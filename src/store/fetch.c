/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Message bodies: served from the cache, or fetched with BODY.PEEK[] (which
 * never sets \Seen) and streamed from the socket straight into cache
 * files, in batches when reads walk the mailbox (store/readahead.h).  The
 * bytes are believed only when the FETCH response that carried them names
 * a UID asked for; anything else is thrown away.  Each body is handed to
 * whoever waits for it as soon as its own response is complete.
 */
#include "store/fetch-private.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "imap/fetchops.h"
#include "imap/pool.h"
#include "log.h"

/* How far reads walking a mailbox are fetched ahead. */
#define READAHEAD_FIRST 8
#define READAHEAD_MAX 512
#define READAHEAD_BYTES (16u << 20)
#define READAHEAD_MESSAGE_MAX (4u << 20)

enum {
	BODY_WAIT_NEW,
	BODY_WAIT_ATTACHED,
	BODY_WAIT_CANCELLED,
	BODY_WAIT_DONE,
};

static void mailbox_learn_size_locked(struct store_mailbox *mb,
		uint32_t uidvalidity, uint32_t uid, uint64_t length)
{
	struct msg_entry *e;

	if (mb->index && mb->uidvalidity == uidvalidity &&
			(e = msg_index_find(mb->index, uid)) &&
			length <= UINT32_MAX && !e->size_exact) {
		e->size = (uint32_t)length;
		e->size_exact = 1;
		store_mailbox_unsaved_locked(mb, uid);
	}
}

static void remember_failure_locked(struct store_mailbox *mb, uint32_t uid)
{
	mb->fetch_failed[mb->fetch_failed_next] = uid;
	mb->fetch_failed_next = (mb->fetch_failed_next + 1) %
		G_N_ELEMENTS(mb->fetch_failed);
}

static bool failed_lately_locked(const struct store_mailbox *mb,
		uint32_t uid)
{
	for (size_t i = 0; i < G_N_ELEMENTS(mb->fetch_failed); i++)
		if (mb->fetch_failed[i] == uid)
			return true;
	return false;
}

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

/* The outcome of one UID: to everyone waiting for it, and it is no
 * longer in flight.  entry's fd is given away. */
static void fetch_slot_answer(struct fetch_slot *slot, int errnum,
		struct body_cache_entry *entry)
{
	struct fetch_batch *batch = slot->batch;
	struct store_mailbox *mb = batch->mb;
	struct body_cache_entry none = { .fd = -1 };
	GPtrArray *waiters;

	g_mutex_lock(&mb->lock);
	if (g_hash_table_lookup(mb->fetching, GUINT_TO_POINTER(slot->uid)) ==
			slot)
		g_hash_table_remove(mb->fetching, GUINT_TO_POINTER(slot->uid));
	waiters = g_steal_pointer(&slot->waiters);
	for (guint i = 0; i < waiters->len; i++) {
		struct store_body_wait *w = g_ptr_array_index(waiters, i);

		w->state = BODY_WAIT_DONE;
	}
	if (errnum == ESTALE)
		mb->listed_at = 0;
	if (errnum == 0)
		mailbox_learn_size_locked(mb, batch->uidvalidity, slot->uid,
				entry->length);
	else if (errnum != ENOENT && errnum != ESTALE)
		remember_failure_locked(mb, slot->uid);
	g_mutex_unlock(&mb->lock);
	fetch_deliver(waiters, errnum, errnum ? &none : entry);
	g_ptr_array_unref(waiters);
}

struct fetch_slot *fetch_batch_slot(struct fetch_batch *batch, uint32_t uid)
{
	size_t lo = 0, hi = batch->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (batch->slots[mid].uid == uid)
			return &batch->slots[mid];
		if (batch->slots[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static bool fetch_sink_begin(void *ctx, uint64_t size)
{
	struct batch_sink *sink = ctx;
	GError *error = NULL;

	body_cache_writer_abort(&sink->writer);
	sink->writer = body_cache_writer_new(sink->cache, sink->cache_id,
			sink->uidvalidity, size, &error);
	if (!sink->writer) {
		log_warning("cannot cache a body: %s", error->message);
		g_error_free(error);
		return false;
	}
	return true;
}

static void fetch_sink_data(void *ctx, const void *data, size_t len)
{
	struct batch_sink *sink = ctx;

	if (sink->writer)
		body_cache_writer_write(sink->writer, data, len);
}

static bool fetch_sink_end(void *ctx, uint32_t uid, bool keep)
{
	struct batch_sink *sink = ctx;
	struct body_cache_entry entry = { .fd = -1 };
	struct fetch_slot *slot;
	GError *error = NULL;

	slot = !keep ? NULL : sink->batch ? fetch_batch_slot(sink->batch, uid) :
		fetch_stream_slot(sink->stream, uid);
	if (!slot || !slot->waiters) {
		body_cache_writer_abort(&sink->writer);
		return false;
	}
	if (!body_cache_writer_commit(&sink->writer, uid, &entry, &error)) {
		log_warning("cannot cache UID %u: %s", uid, error->message);
		g_error_free(error);
		return false;
	}
	fetch_slot_answer(slot, 0, &entry);
	return true;
}

struct imap_body_sink fetch_body_sink(struct batch_sink *sink)
{
	return (struct imap_body_sink) {
		.begin = fetch_sink_begin,
		.data = fetch_sink_data,
		.end = fetch_sink_end,
		.ctx = sink,
	};
}

bool fetch_slot_waited_for(struct fetch_slot *slot)
{
	struct store_mailbox *mb = slot->batch->mb;
	bool waited;

	g_mutex_lock(&mb->lock);
	waited = slot->waiters && slot->waiters->len > 0;
	g_mutex_unlock(&mb->lock);
	return waited;
}

int store_mailbox_fetch_session(struct store_mailbox *mb, uint32_t uidvalidity,
		struct imap_session **session_r, const char **cache_id_r)
{
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
			goto fail;
		}
	}
	if (imap_session_selected(session)->uidvalidity != uidvalidity) {
		/* The UIDs we know name other messages now. */
		errnum = ESTALE;
		goto fail;
	}
	/* The identity of the mailbox this session has selected, taken now:
	 * a listing on another thread may have moved the name's identity
	 * since, and these bytes belong to this one. */
	*cache_id_r = store_mailbox_session_cache_id(mb, session);
	if (!*cache_id_r) {
		errnum = ESTALE;
		goto fail;
	}
	*session_r = session;
	return 0;
fail:
	imap_pool_release(store_account_pool(mb->account), session);
	return errnum;
}

/*
 * Fetch the bodies of slots (of batch, ascending) on one session,
 * answering each as it comes.  The UIDs still unanswered at the end get an errno in their slot:
 * ENOENT for a message the server did not send (it is gone, or new and
 * not yet known to this session: a NOOP lets the server tell us, and the
 * ones somebody waits for are asked once more), EIO for one the server
 * sent wrongly.  Returns the errno for them all when the session failed.
 * No lock held.
 */
static int batch_fetch(struct fetch_batch *batch, struct fetch_slot **slots,
		size_t count)
{
	struct store_mailbox *mb = batch->mb;
	struct imap_pool *pool = store_account_pool(mb->account);
	struct batch_sink sink = {
		.batch = batch,
		.mb = mb,
		.uidvalidity = batch->uidvalidity,
		.cache = store_account_cache(mb->account),
	};
	const struct imap_body_sink body_sink = fetch_body_sink(&sink);
	struct imap_body_want *wants = g_new0(struct imap_body_want, count);
	struct imap_session *session;
	struct imap_result result;
	size_t n = 0;
	bool wrong_uid;
	int errnum;

	errnum = store_mailbox_fetch_session(mb, batch->uidvalidity, &session,
			&sink.cache_id);
	if (errnum) {
		g_free(wants);
		return errnum;
	}
	for (size_t i = 0; i < count; i++)
		wants[n++].uid = slots[i]->uid;
	for (int attempt = 0; n > 0; attempt++) {
		size_t again = 0;

		if (!imap_fetch_bodies(session, wants, n, &body_sink,
					&wrong_uid, &result)) {
			errnum = imap_result_errno(&result);
			log_warning("cannot fetch %s UID %u%s: %s",
					mb->raw_name, wants[0].uid,
					n > 1 ? " and more" : "", result.text);
			break;
		}
		for (size_t i = 0; i < n; i++) {
			struct fetch_slot *slot = fetch_batch_slot(batch,
					wants[i].uid);

			if (wants[i].kept)
				continue;
			if (wants[i].sink_failed || wants[i].saw_uid ||
					wrong_uid)
				slot->errnum = EIO;
			else if (attempt == 0 && fetch_slot_waited_for(slot))
				wants[again++].uid = wants[i].uid;
			else
				slot->errnum = ENOENT;
		}
		n = again;
		if (n > 0 && !imap_noop(session, &result)) {
			errnum = imap_result_errno(&result);
			break;
		}
	}
	body_cache_writer_abort(&sink.writer);
	imap_pool_release(pool, session);
	g_free(wants);
	return errnum;
}

void fetch_batch_end(struct fetch_batch *batch, int errnum)
{
	struct store_mailbox *mb = batch->mb;

	if (errnum && errnum != ESTALE && batch->count > 1) {
		/* One bad message (or a connection lost) must not fail
		 * the reads of the others: those somebody waits for are
		 * fetched again, each on its own. */
		for (size_t i = 0; i < batch->count; i++) {
			struct fetch_slot *slot = &batch->slots[i];
			int one;

			if (!slot->waiters || !fetch_slot_waited_for(slot))
				continue;
			one = batch_fetch(batch, &slot, 1);
			if (slot->waiters)
				fetch_slot_answer(slot, one ? one : slot->errnum ?
						slot->errnum : ENOENT, NULL);
		}
	}
	for (size_t i = 0; i < batch->count; i++) {
		struct fetch_slot *slot = &batch->slots[i];

		/* Only this thread answers, so no lock is needed to see
		 * whether it did. */
		if (slot->waiters)
			fetch_slot_answer(slot, errnum ? errnum :
					slot->errnum ? slot->errnum : ENOENT,
					NULL);
	}
	if (batch->readahead) {
		g_mutex_lock(&mb->lock);
		readahead_done(&mb->readahead);
		g_mutex_unlock(&mb->lock);
	}
	g_free(batch->slots);
	g_free(batch);
}

void fetch_batch_job(struct store_job *job)
{
	struct fetch_batch *batch = (struct fetch_batch *)(void *)job;
	struct store_mailbox *mb = batch->mb;
	struct fetch_slot **slots = g_new(struct fetch_slot *, batch->count);
	int errnum;

	for (size_t i = 0; i < batch->count; i++)
		slots[i] = &batch->slots[i];
	if (store_job_queued_too_long(mb->account, job)) {
		log_warning("cannot fetch %s UID %u: every connection stayed "
				"busy", mb->raw_name, batch->slots[0].uid);
		errnum = ETIMEDOUT;
	} else {
		errnum = batch_fetch(batch, slots, batch->count);
	}
	g_free(slots);
	fetch_batch_end(batch, errnum);
}

/* Under the mailbox lock: a batch for uids, each now in flight. */
static struct fetch_batch *batch_new_locked(struct store_mailbox *mb,
		uint32_t uidvalidity, const GArray *uids, bool readahead)
{
	struct fetch_batch *batch = g_new0(struct fetch_batch, 1);

	batch->job.run = fetch_batch_job;
	batch->link.data = batch;
	batch->mb = mb;
	batch->uidvalidity = uidvalidity;
	batch->readahead = readahead;
	batch->count = uids->len;
	batch->slots = g_new0(struct fetch_slot, uids->len);
	for (guint i = 0; i < uids->len; i++) {
		struct fetch_slot *slot = &batch->slots[i];

		slot->batch = batch;
		slot->uid = g_array_index(uids, uint32_t, i);
		slot->waiters = g_ptr_array_new();
		g_hash_table_insert(mb->fetching,
				GUINT_TO_POINTER(slot->uid), slot);
	}
	return batch;
}

struct plan_ctx {
	struct store_mailbox *mb;
	struct body_cache *cache;
	struct body_cache_key key;
};

static bool fetching_or_cached(void *ctx, uint32_t uid)
{
	struct plan_ctx *p = ctx;
	uint64_t length;

	if (g_hash_table_contains(p->mb->fetching, GUINT_TO_POINTER(uid)) ||
			failed_lately_locked(p->mb, uid))
		return true;
	p->key.uid = uid;
	return body_cache_peek_length(p->cache, &p->key, &length);
}

/* Under the mailbox lock: the batch to fetch ahead of a read of uid, to
 * submit once the lock is released, or NULL. */
static struct fetch_batch *plan_locked(struct store_mailbox *mb,
		uint32_t uidvalidity, uint32_t uid)
{
	const struct store_account_config *cfg =
		store_account_config(mb->account);
	struct readahead_limits limits = {
		.first_window = READAHEAD_FIRST,
		.max_window = READAHEAD_MAX,
		.max_bytes = READAHEAD_BYTES,
		.max_message = READAHEAD_MESSAGE_MAX,
		.max_in_flight = fetch_walk_streams(cfg->connections) *
			FETCH_PIPELINE_DEPTH,
	};
	struct plan_ctx p = {
		.mb = mb,
		.cache = store_account_cache(mb->account),
		.key = {
			.mailbox = store_mailbox_cache_id(mb),
			.uidvalidity = uidvalidity,
		},
	};
	struct fetch_batch *batch = NULL;
	GArray *uids;

	if (!mb->index || mb->uidvalidity != uidvalidity)
		return NULL;
	/* Fetched ahead, a batch must not push out of a small cache what
	 * its reader has not read yet. */
	if (cfg->cache_max)
		limits.max_bytes = MIN(limits.max_bytes, cfg->cache_max /
				(4 * FETCH_PIPELINE_DEPTH));
	uids = g_array_new(FALSE, FALSE, sizeof(uint32_t));
	if (readahead_plan(&mb->readahead, mb->index, uidvalidity, uid,
				&limits, fetching_or_cached, &p, uids))
		batch = batch_new_locked(mb, uidvalidity, uids, true);
	g_array_unref(uids);
	return batch;
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

bool store_mailbox_cached_body(struct store_mailbox *mb, uint32_t uidvalidity,
		uint32_t uid, struct body_cache_entry *entry)
{
	struct body_cache_key key = {
		.mailbox = store_mailbox_cache_id(mb),
		.uidvalidity = uidvalidity,
		.uid = uid,
	};

	struct fetch_batch *ahead;

	if (!body_cache_lookup(store_account_cache(mb->account), &key, entry))
		return false;
	/* A read, or a body handed to a reader before it asks: reading
	 * ahead goes on from here either way, or it would start afresh
	 * behind. */
	g_mutex_lock(&mb->lock);
	mailbox_learn_size_locked(mb, uidvalidity, uid, entry->length);
	ahead = plan_locked(mb, uidvalidity, uid);
	g_mutex_unlock(&mb->lock);
	if (ahead)
		fetch_stream_submit(mb, ahead);
	return true;
}

int store_mailbox_body_start(struct store_body_wait *wait,
		uint32_t uidvalidity, uint32_t uid,
		struct body_cache_entry *entry)
{
	struct store_mailbox *mb = wait->mailbox;
	struct fetch_batch *ahead, *own = NULL;
	struct fetch_slot *slot;

	if (store_mailbox_cached_body(mb, uidvalidity, uid, entry))
		return 0;
	g_mutex_lock(&mb->lock);
	if (wait->state == BODY_WAIT_CANCELLED) {
		g_mutex_unlock(&mb->lock);
		return ECANCELED;
	}
	slot = g_hash_table_lookup(mb->fetching, GUINT_TO_POINTER(uid));
	if (slot && slot->batch->uidvalidity != uidvalidity) {
		/* The UIDVALIDITY changed under one of the two: both mean
		 * the same number, not the same message. */
		g_mutex_unlock(&mb->lock);
		return ESTALE;
	}
	if (!slot) {
		GArray *one = g_array_new(FALSE, FALSE, sizeof(uint32_t));

		g_array_append_val(one, uid);
		own = batch_new_locked(mb, uidvalidity, one, false);
		slot = &own->slots[0];
		g_array_unref(one);
	}
	ahead = plan_locked(mb, uidvalidity, uid);
	g_ptr_array_add(slot->waiters, wait);
	wait->slot = slot;
	wait->state = BODY_WAIT_ATTACHED;
	g_mutex_unlock(&mb->lock);
	/* Its own first: it is the one somebody waits for. */
	if (own)
		store_account_submit(mb->account, &own->job);
	if (ahead)
		fetch_stream_submit(mb, ahead);
	return EINPROGRESS;
}

void store_mailbox_body_prefetch(struct store_mailbox *mb,
		uint32_t uidvalidity, uint32_t uid)
{
	struct fetch_batch *own = NULL;

	g_mutex_lock(&mb->lock);
	if (!g_hash_table_contains(mb->fetching, GUINT_TO_POINTER(uid))) {
		GArray *one = g_array_new(FALSE, FALSE, sizeof(uint32_t));

		g_array_append_val(one, uid);
		own = batch_new_locked(mb, uidvalidity, one, false);
		g_array_unref(one);
	}
	g_mutex_unlock(&mb->lock);
	if (own)
		store_account_submit(mb->account, &own->job);
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
