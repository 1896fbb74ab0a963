/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Message bodies, UID FETCH ... BODY.PEEK[] (which never sets \Seen),
 * streamed to a sink as they arrive.  A fetcher pipelines: the batches
 * added to it go out as commands at once, each answered in turn, and every
 * body goes to the one sink whatever command carried it, so that the next
 * batch is on its way while the server still sends the last one.
 */
#include "imap/fetchops.h"

#include <string.h>

#include "imap/uidset.h"
#include "log.h"

struct body_batch {
	struct imap_body_fetcher *fetcher;
	struct imap_body_want *wants;	/* ascending UIDs; the caller's */
	size_t count;
	unsigned commands_left;		/* sent and not answered */
	bool sending;			/* more commands may still go out */
	bool abandoned;			/* add() failed: nobody to tell */
	bool wrong_uid;
	struct imap_result result;	/* the first failure, else OK */
	imap_body_batch_done_fn *done;
	void *ctx;
};

struct imap_body_fetcher {
	struct imap_session *session;
	char *key;		/* "BODY[]", or "BODY[]<offset>" */
	uint64_t offset;
	uint32_t max_len;	/* 0: whole bodies */
	struct imap_body_sink sink;
	struct imap_command_handlers handlers;
	GQueue batches;		/* struct body_batch *, oldest first */
	bool open;		/* the sink has a body begun */
	bool refused;		/* the sink refused the body begun last */
};

/* The data item asked for: a body of another section or range is not
 * the one asked for (RFC 3501 §7.4.2: "BODY[]<origin>" for a range). */
static bool is_body_key(const struct imap_body_fetcher *f, const char *key)
{
	return key && g_ascii_strcasecmp(key, f->key) == 0;
}

static struct imap_body_want *batch_find_want(struct body_batch *batch,
		uint32_t uid)
{
	size_t lo = 0, hi = batch->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (batch->wants[mid].uid == uid)
			return &batch->wants[mid];
		if (batch->wants[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static struct imap_body_want *find_want(struct imap_body_fetcher *f,
		uint32_t uid)
{
	for (GList *l = f->batches.head; l; l = l->next) {
		struct imap_body_want *want = batch_find_want(l->data, uid);

		if (want)
			return want;
	}
	return NULL;
}

static void body_drop(struct imap_body_fetcher *f)
{
	if (f->open)
		f->sink.end(f->sink.ctx, 0, false);
	f->open = false;
}

static void body_begin(struct imap_body_fetcher *f, uint64_t size)
{
	body_drop(f);
	f->open = f->sink.begin(f->sink.ctx, size);
	f->refused = !f->open;
}

static enum imap_literal_action body_literal_begin(void *ctx,
		const struct imap_literal_info *info)
{
	struct imap_body_fetcher *f = ctx;

	if (info->kind != IMAP_RESPONSE_UNTAGGED || !info->name ||
			strcmp(info->name, "FETCH") != 0 ||
			!is_body_key(f, info->key))
		return IMAP_LITERAL_INLINE;
	body_begin(f, info->size);
	/* Streamed even when the sink said no: the bytes must leave the
	 * socket, and must not pile up in memory. */
	return IMAP_LITERAL_STREAM;
}

static void body_literal_data(void *ctx, const void *data, size_t len)
{
	struct imap_body_fetcher *f = ctx;

	if (f->open)
		f->sink.data(f->sink.ctx, data, len);
}

static void body_literal_end(void *ctx)
{
	(void)ctx;
}

/* A body came under a UID nobody asked for: whichever command it answers
 * cannot be trusted with the ones it did not keep. */
static void mark_wrong_uid(struct imap_body_fetcher *f)
{
	for (GList *l = f->batches.head; l; l = l->next)
		((struct body_batch *)l->data)->wrong_uid = true;
}

/* A FETCH response: a body of a UID asked for goes to the sink's end.
 * Returns whether the response was nothing but such a body, so that no
 * other command takes it too; one that also carries FLAGS is left for the
 * session to report the change. */
static bool body_untagged(void *ctx, const struct imap_response *r)
{
	struct imap_body_fetcher *f = ctx;
	const struct imap_arg *items, *body = NULL;
	struct imap_body_want *want;
	uint32_t uid = 0;
	bool flags = false;
	size_t count;

	if (!r->name || strcmp(r->name, "FETCH") != 0 ||
			!imap_arg_get_list(&r->args[0], &items, &count))
		return false;
	for (size_t i = 0; i + 1 < count; i += 2) {
		const char *key;

		if (imap_arg_atom_equals(&items[i], "UID"))
			imap_arg_get_uint32(&items[i + 1], &uid);
		else if (imap_arg_atom_equals(&items[i], "FLAGS"))
			flags = true;
		else if (imap_arg_get_atom(&items[i], &key) &&
				is_body_key(f, key))
			body = &items[i + 1];
	}
	want = uid ? find_want(f, uid) : NULL;
	if (want)
		want->saw_uid = true;
	if (!body) {
		body_drop(f);
		return false;	/* a flag update: the session reports it */
	}
	if (!want) {
		if (uid != 0)
			log_warning("server sent the body of UID %u, which "
					"was not asked for; ignored", uid);
		mark_wrong_uid(f);
		body_drop(f);
		return !flags;
	}
	if (body->type == IMAP_ARG_STRING || body->type == IMAP_ARG_LITERAL) {
		/* Small bodies may come as a quoted string. */
		body_begin(f, body->u.str.len);
		if (f->open)
			f->sink.data(f->sink.ctx, body->u.str.data,
					body->u.str.len);
	}
	if (!f->open) {
		if (f->refused)
			want->sink_failed = true;
		return !flags;
	}
	f->open = false;
	if (want->kept) {
		/* Two bodies for one UID: keep the first. */
		f->sink.end(f->sink.ctx, 0, false);
	} else if (f->sink.end(f->sink.ctx, uid, true)) {
		want->kept = true;
	} else {
		want->sink_failed = true;
	}
	return !flags;
}

static void batch_finish(struct body_batch *batch)
{
	struct imap_body_fetcher *f = batch->fetcher;

	g_queue_remove(&f->batches, batch);
	if (!batch->abandoned)
		batch->done(batch->ctx, batch->wants, batch->count,
				batch->wrong_uid, &batch->result);
	g_free(batch);
}

static void command_done(void *ctx, const struct imap_result *result)
{
	struct body_batch *batch = ctx;

	/* A body begun in a response that never ended (the connection
	 * broke) is not kept. */
	if (result->status == IMAP_RESULT_SESSION)
		body_drop(batch->fetcher);
	if (result->status != IMAP_RESULT_OK &&
			batch->result.status == IMAP_RESULT_OK)
		batch->result = *result;
	if (--batch->commands_left == 0 && !batch->sending)
		batch_finish(batch);
}

struct imap_body_fetcher *imap_body_fetcher_new(struct imap_session *session,
		uint64_t offset, uint32_t max_len,
		const struct imap_body_sink *sink)
{
	struct imap_body_fetcher *f = g_new0(struct imap_body_fetcher, 1);

	f->session = session;
	f->offset = offset;
	f->max_len = max_len;
	f->key = max_len ? g_strdup_printf("BODY[]<%" G_GUINT64_FORMAT ">",
			offset) : g_strdup("BODY[]");
	f->sink = *sink;
	f->handlers = (struct imap_command_handlers) {
		.untagged = body_untagged,
		.literal_begin = body_literal_begin,
		.literal_data = body_literal_data,
		.literal_end = body_literal_end,
		.ctx = f,
	};
	g_queue_init(&f->batches);
	return f;
}

bool imap_body_fetcher_add(struct imap_body_fetcher *f,
		struct imap_body_want *wants, size_t count,
		imap_body_batch_done_fn *done, void *ctx,
		struct imap_result *result)
{
	struct body_batch *batch = g_new0(struct body_batch, 1);
	uint32_t *uids = g_new(uint32_t, count);
	GString *set = g_string_new(NULL);
	bool ok = true;

	batch->fetcher = f;
	batch->wants = wants;
	batch->count = count;
	batch->sending = true;
	batch->done = done;
	batch->ctx = ctx;
	batch->result.status = IMAP_RESULT_OK;
	for (size_t i = 0; i < count; i++) {
		wants[i].kept = wants[i].saw_uid = false;
		wants[i].sink_failed = false;
		uids[i] = wants[i].uid;
	}
	g_queue_push_tail(&f->batches, batch);
	/* A long set goes out as several commands, one after another
	 * without waiting (RFC 3501 §5.5). */
	for (size_t sent = 0; ok && sent < count;) {
		struct imap_command *cmd;

		g_string_truncate(set, 0);
		sent += imap_uidset_format(set, uids + sent, count - sent,
				IMAP_UIDSET_MAX_TEXT);
		cmd = f->max_len ? imap_command_new(
				"UID FETCH %s (UID BODY.PEEK[]<%"
				G_GUINT64_FORMAT ".%u>)", set->str,
				f->offset, f->max_len) : imap_command_new(
				"UID FETCH %s (UID BODY.PEEK[])", set->str);
		batch->commands_left++;
		ok = imap_session_send_with(f->session, cmd, &f->handlers,
				command_done, batch, result);
		if (!ok)
			batch->commands_left--;
	}
	g_string_free(set, TRUE);
	g_free(uids);
	batch->sending = false;
	if (!ok) {
		/* Whatever of it went out failed with the session. */
		batch->abandoned = true;
		if (batch->commands_left == 0)
			batch_finish(batch);
		return false;
	}
	if (count == 0)
		batch_finish(batch);
	return true;
}

unsigned imap_body_fetcher_in_flight(const struct imap_body_fetcher *f)
{
	return g_queue_get_length((GQueue *)&f->batches);
}

void imap_body_fetcher_free(struct imap_body_fetcher **fetcher)
{
	struct imap_body_fetcher *f = *fetcher;

	if (!f)
		return;
	/* Only a dead session leaves batches unanswered, and it has
	 * answered them all. */
	g_warn_if_fail(g_queue_is_empty(&f->batches));
	body_drop(f);
	g_free(f->key);
	g_free(f);
	*fetcher = NULL;
}

/* --- one batch, waited for ------------------------------------------------ */

struct batch_outcome {
	bool done;
	bool wrong_uid;
	struct imap_result result;
};

static void outcome_done(void *ctx, struct imap_body_want *wants,
		size_t count, bool wrong_uid, const struct imap_result *result)
{
	struct batch_outcome *o = ctx;

	(void)wants;
	(void)count;
	o->done = true;
	o->wrong_uid = wrong_uid;
	o->result = *result;
}

/* max_len 0: whole bodies; else max_len bytes from offset. */
static bool fetch_bodies(struct imap_session *session,
		struct imap_body_want *wants, size_t count, uint64_t offset,
		uint32_t max_len, const struct imap_body_sink *sink,
		bool *wrong_uid, struct imap_result *result)
{
	struct imap_body_fetcher *f =
		imap_body_fetcher_new(session, offset, max_len, sink);
	struct batch_outcome o = { 0 };
	bool ok;

	ok = imap_body_fetcher_add(f, wants, count, outcome_done, &o, result);
	while (ok && !o.done)
		ok = imap_session_read_one(session, result);
	if (o.done)
		*result = o.result;
	*wrong_uid = o.wrong_uid;
	imap_body_fetcher_free(&f);
	return o.done && result->status == IMAP_RESULT_OK;
}
bool imap_fetch_bodies(struct imap_session *session,
		struct imap_body_want *wants, size_t count,
		const struct imap_body_sink *sink, bool *wrong_uid,
		struct imap_result *result)
{
	return fetch_bodies(session, wants, count, 0, 0, sink, wrong_uid,
			result);
}

static bool fetch_one(struct imap_session *session, uint32_t uid,
		uint64_t offset, uint32_t max_len,
		const struct imap_body_sink *sink,
		struct imap_body_outcome *outcome, struct imap_result *result)
{
	struct imap_body_want want = { .uid = uid };
	bool ok;

	ok = fetch_bodies(session, &want, 1, offset, max_len, sink,
			&outcome->wrong_uid, result);
	outcome->kept = want.kept;
	outcome->saw_uid = want.saw_uid;
	outcome->sink_failed = want.sink_failed;
	return ok;
}

bool imap_fetch_body(struct imap_session *session, uint32_t uid,
		const struct imap_body_sink *sink,
		struct imap_body_outcome *outcome, struct imap_result *result)
{
	return fetch_one(session, uid, 0, 0, sink, outcome, result);
}

bool imap_fetch_body_start(struct imap_session *session, uint32_t uid,
		uint32_t max_len, const struct imap_body_sink *sink,
		struct imap_body_outcome *outcome, struct imap_result *result)
{
	return fetch_one(session, uid, 0, max_len ? max_len : 1, sink,
			outcome, result);
}

bool imap_fetch_body_range(struct imap_session *session, uint32_t uid,
		uint64_t offset, uint32_t max_len,
		const struct imap_body_sink *sink,
		struct imap_body_outcome *outcome, struct imap_result *result)
{
	return fetch_one(session, uid, offset, max_len ? max_len : 1, sink,
			outcome, result);
}

