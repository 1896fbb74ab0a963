/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Reading ahead, pipelined.  The batches a walk asks for stream on one
 * connection (FETCH_WALK_STREAMS): the next batch goes out while the
 * server still sends the last, so that it never waits for a command
 * between two batches, and the bodies come in the order the reader
 * wants them (docs/DESIGN.md, "Reading ahead").  The stream's job takes
 * the batches queued behind it until none is left: a batch is never
 * queued with no job to take it.
 */
#include "store/fetch-private.h"

#include <errno.h>

#include "imap/pool.h"
#include "log.h"

/* How long the stream waits for the server before it looks whether a
 * batch was queued meanwhile. */
#define STREAM_POLL_MS 10

/* A batch in flight on the stream's session. */
struct stream_item {
	struct fetch_stream *stream;
	struct fetch_batch *batch;
	struct imap_body_want *wants;	/* ascending, as the batch's slots */
	size_t count;
	int attempt;
	bool wrong_uid;
	struct imap_result result;
};

struct fetch_stream {
	struct store_mailbox *mb;
	uint32_t uidvalidity;
	struct imap_session *session;
	struct imap_body_fetcher *fetcher;
	GQueue items;		/* struct stream_item *, in flight */
	GQueue answered;	/* struct stream_item *, to look at */
	int errnum;		/* the session failed: the rest fail so */
};

static void stream_job(struct store_job *job);

void fetch_stream_submit(struct store_mailbox *mb, struct fetch_batch *batch)
{
	unsigned streams = fetch_walk_streams(
			store_account_config(mb->account)->connections);
	bool own_job;

	g_mutex_lock(&mb->lock);
	own_job = mb->ahead_jobs < streams;
	if (own_job)
		mb->ahead_jobs++;
	else
		g_queue_push_tail_link(&mb->ahead_queue, &batch->link);
	g_mutex_unlock(&mb->lock);
	if (own_job) {
		batch->job.run = stream_job;
		store_account_submit(mb->account, &batch->job);
	}
}

struct fetch_slot *fetch_stream_slot(struct fetch_stream *stream,
		uint32_t uid)
{
	for (GList *l = stream->items.head; l; l = l->next) {
		struct stream_item *item = l->data;
		struct fetch_slot *slot = fetch_batch_slot(item->batch, uid);

		if (slot)
			return slot;
	}
	return NULL;
}

static void batch_end_job(struct store_job *job)
{
	struct fetch_batch *batch = (struct fetch_batch *)(void *)job;

	fetch_batch_end(batch, batch->end_errnum);
}

/* A batch that failed as a whole ends on a thread of its own: its UIDs
 * somebody waits for are fetched again one by one, on sessions of their
 * own, which this stream must not wait for while it holds one. */
static void stream_fail(struct fetch_stream *st, struct fetch_batch *batch,
		int errnum)
{
	batch->end_errnum = errnum;
	batch->job.run = batch_end_job;
	store_account_submit(st->mb->account, &batch->job);
}

static void item_done(void *ctx, struct imap_body_want *wants, size_t count,
		bool wrong_uid, const struct imap_result *result)
{
	struct stream_item *item = ctx;

	(void)wants;
	(void)count;
	item->wrong_uid = wrong_uid;
	item->result = *result;
	g_queue_remove(&item->stream->items, item);
	g_queue_push_tail(&item->stream->answered, item);
}

static void item_send(struct fetch_stream *st, struct stream_item *item)
{
	struct imap_result result;

	g_queue_push_tail(&st->items, item);
	if (imap_body_fetcher_add(st->fetcher, item->wants, item->count,
				item_done, item, &result))
		return;
	g_queue_remove(&st->items, item);
	st->errnum = imap_result_errno(&result);
	log_warning("cannot fetch %s UID %u and more: %s", st->mb->raw_name,
			item->wants[0].uid, result.text);
	stream_fail(st, item->batch, st->errnum);
	g_free(item->wants);
	g_free(item);
}

static void stream_start(struct fetch_stream *st, struct fetch_batch *batch)
{
	struct stream_item *item;

	if (st->errnum) {
		stream_fail(st, batch, st->errnum);
		return;
	}
	if (batch->uidvalidity != st->uidvalidity) {
		/* The mailbox was made anew during the walk: this session's
		 * UIDs are not that batch's. */
		batch->job.run = fetch_batch_job;
		store_account_submit(st->mb->account, &batch->job);
		return;
	}
	item = g_new0(struct stream_item, 1);
	item->stream = st;
	item->batch = batch;
	item->count = batch->count;
	item->wants = g_new0(struct imap_body_want, batch->count);
	for (size_t i = 0; i < batch->count; i++)
		item->wants[i].uid = batch->slots[i].uid;
	item_send(st, item);
}

static void noop_done(void *ctx, const struct imap_result *result)
{
	/* What it was for, the server's news, has been applied. */
	(void)ctx;
	(void)result;
}

/* A batch whose commands are all answered: done, or the UIDs the server
 * did not send and somebody waits for are asked for once more, after a
 * NOOP (they may be new to this session), as fetch.c's batches do. */
static void item_settle(struct fetch_stream *st, struct stream_item *item)
{
	struct fetch_batch *batch = item->batch;
	struct imap_result result;
	size_t again = 0;

	if (item->result.status != IMAP_RESULT_OK) {
		log_warning("cannot fetch %s UID %u%s: %s", st->mb->raw_name,
				item->wants[0].uid,
				item->count > 1 ? " and more" : "",
				item->result.text);
		stream_fail(st, batch, imap_result_errno(&item->result));
		goto free;
	}
	for (size_t i = 0; i < item->count; i++) {
		struct imap_body_want *want = &item->wants[i];
		struct fetch_slot *slot = fetch_batch_slot(batch, want->uid);

		if (want->kept)
			continue;
		if (want->sink_failed || want->saw_uid || item->wrong_uid)
			slot->errnum = EIO;
		else if (item->attempt == 0 && fetch_slot_waited_for(slot))
			item->wants[again++].uid = want->uid;
		else
			slot->errnum = ENOENT;
	}
	if (again > 0 && !st->errnum) {
		item->count = again;
		item->attempt++;
		item->wrong_uid = false;
		if (imap_session_send(st->session, imap_command_new("NOOP"),
					noop_done, NULL, &result)) {
			item_send(st, item);
			return;
		}
		st->errnum = imap_result_errno(&result);
	}
	fetch_batch_end(batch, 0);
free:
	g_free(item->wants);
	g_free(item);
}

/* The next batch queued behind this mailbox's streams, or NULL; none
 * while somebody else waits for a connection, which a walk must not keep
 * from them for as long as it lasts. */
static struct fetch_batch *take_queued(struct store_mailbox *mb)
{
	GList *link;

	if (imap_pool_contended(store_account_pool(mb->account)))
		return NULL;
	g_mutex_lock(&mb->lock);
	link = g_queue_pop_head_link(&mb->ahead_queue);
	g_mutex_unlock(&mb->lock);
	return link ? link->data : NULL;
}

/* True when the stream ends, with nothing in flight: nothing is queued,
 * or the rest goes to a job of its own, behind whoever waits for a
 * connection (false: take what is queued). */
static bool stream_may_end(struct store_mailbox *mb)
{
	struct fetch_batch *next = NULL;
	bool end = true;

	g_mutex_lock(&mb->lock);
	if (g_queue_is_empty(&mb->ahead_queue))
		mb->ahead_jobs--;
	else if (imap_pool_contended(store_account_pool(mb->account)))
		next = g_queue_pop_head_link(&mb->ahead_queue)->data;
	else
		end = false;
	g_mutex_unlock(&mb->lock);
	if (next) {
		next->job.run = stream_job;
		store_account_submit(mb->account, &next->job);
	}
	return end;
}

static void stream_job(struct store_job *job)
{
	struct fetch_batch *first = (struct fetch_batch *)(void *)job;
	struct store_mailbox *mb = first->mb;
	struct fetch_stream st = {
		.mb = mb,
		.uidvalidity = first->uidvalidity,
	};
	struct batch_sink sink = {
		.stream = &st,
		.mb = mb,
		.uidvalidity = first->uidvalidity,
		.cache = store_account_cache(mb->account),
	};
	const struct imap_body_sink body_sink = fetch_body_sink(&sink);
	struct fetch_batch *batch = first;
	int timeout_ms = store_account_config(mb->account)->session.timeout_ms;
	int idle_ms = 0;

	g_queue_init(&st.items);
	g_queue_init(&st.answered);
	if (store_job_queued_too_long(mb->account, job)) {
		log_warning("cannot fetch %s UID %u: every connection stayed "
				"busy", mb->raw_name, first->slots[0].uid);
		st.errnum = ETIMEDOUT;
	} else {
		st.errnum = store_mailbox_fetch_session(mb, st.uidvalidity,
				&st.session, &sink.cache_id);
	}
	if (!st.errnum)
		st.fetcher = imap_body_fetcher_new(st.session, 0, 0,
				&body_sink);
	for (;;) {
		struct imap_result result;
		struct stream_item *item;

		while ((item = g_queue_pop_head(&st.answered)))
			item_settle(&st, item);
		/* Keep FETCH_PIPELINE_DEPTH batches on their way. */
		while (batch || (g_queue_get_length(&st.items) <
					FETCH_PIPELINE_DEPTH &&
					(batch = take_queued(mb)))) {
			stream_start(&st, batch);
			batch = NULL;
		}
		if (!g_queue_is_empty(&st.answered))
			continue;	/* a failed send answered some */
		if (g_queue_is_empty(&st.items)) {
			if (stream_may_end(mb))
				break;
			continue;
		}
		/* While there is room for another batch, wait for the
		 * server only a little at a time: a batch queued meanwhile
		 * goes out at once, not after the next answer. */
		if (g_queue_get_length(&st.items) < FETCH_PIPELINE_DEPTH &&
				idle_ms < timeout_ms &&
				!imap_session_wait_input(st.session,
					STREAM_POLL_MS)) {
			idle_ms += STREAM_POLL_MS;
			continue;
		}
		idle_ms = 0;
		/* On failure every batch in flight has been told. */
		if (!imap_session_read_one(st.session, &result) &&
				!st.errnum)
			st.errnum = imap_result_errno(&result);
	}
	imap_body_fetcher_free(&st.fetcher);
	body_cache_writer_abort(&sink.writer);
	if (st.session)
		imap_pool_release(store_account_pool(mb->account),
				st.session);
}
