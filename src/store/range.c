/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Ranges of bodies, fetched into memory for one reader (store/mailbox.h,
 * store_mailbox_range_start()).  The same rules as whole bodies: the bytes
 * count only in a FETCH response that names the UID asked for, with the
 * range asked for.
 */
#include "store/mailbox-private.h"

#include <errno.h>
#include <unistd.h>

#include "imap/fetchops.h"
#include "imap/pool.h"
#include "log.h"

struct range_job {
	struct store_job job;
	struct store_mailbox *mb;
	uint32_t uidvalidity;
	uint32_t uid;
	uint64_t offset;
	uint32_t len;
	struct store_range_wait *wait;	/* mailbox lock; NULL: cancelled */
	GString *bytes;
};

static bool range_begin(void *ctx, uint64_t size)
{
	struct range_job *r = ctx;

	g_string_truncate(r->bytes, 0);
	return size <= r->len;
}

static void range_data(void *ctx, const void *data, size_t len)
{
	struct range_job *r = ctx;

	g_string_append_len(r->bytes, data, (gssize)len);
}

static bool range_end(void *ctx, uint32_t uid, bool keep)
{
	struct range_job *r = ctx;

	(void)uid;
	if (!keep)
		g_string_truncate(r->bytes, 0);
	return keep;
}

/* The whole body may have come in first (the range waited for a
 * connection meanwhile): then it is read from there. */
static bool range_from_cache(struct range_job *r)
{
	struct body_cache_key key = {
		.mailbox = store_mailbox_cache_id(r->mb),
		.uidvalidity = r->uidvalidity,
		.uid = r->uid,
	};
	struct body_cache_entry entry;
	ssize_t n = 0;

	if (!body_cache_lookup(store_account_cache(r->mb->account), &key,
				&entry))
		return false;
	g_string_set_size(r->bytes, r->len);
	if (r->offset < entry.length)
		n = pread(entry.fd, r->bytes->str, MIN(r->len,
					entry.length - r->offset),
				(off_t)(entry.offset + r->offset));
	close(entry.fd);
	g_string_set_size(r->bytes, n > 0 ? (gsize)n : 0);
	return n >= 0;
}

static int range_fetch(struct range_job *r)
{
	const struct imap_body_sink sink = {
		range_begin, range_data, range_end, r,
	};
	struct imap_body_outcome outcome;
	struct imap_session *session;
	struct imap_result result;
	const char *cache_id;
	int errnum;

	if (range_from_cache(r))
		return 0;
	errnum = store_mailbox_fetch_session(r->mb, r->uidvalidity, &session,
			&cache_id);
	if (errnum)
		return errnum;
	if (!imap_fetch_body_range(session, r->uid, r->offset, r->len, &sink,
				&outcome, &result)) {
		errnum = imap_result_errno(&result);
		log_warning("cannot fetch %s UID %u: %s", r->mb->raw_name,
				r->uid, result.text);
	} else if (!outcome.kept) {
		/* No such message (any more), or a reply we cannot trust:
		 * the whole body's fetch, under way, says which. */
		errnum = outcome.wrong_uid || outcome.saw_uid ||
			outcome.sink_failed ? EIO : ENOENT;
	}
	imap_pool_release(store_account_pool(r->mb->account), session);
	return errnum;
}

static void range_job_run(struct store_job *job)
{
	struct range_job *r = (struct range_job *)(void *)job;
	struct store_range_wait *wait;
	int errnum;

	if (store_job_queued_too_long(r->mb->account, job))
		errnum = ETIMEDOUT;
	else
		errnum = range_fetch(r);
	g_mutex_lock(&r->mb->lock);
	wait = g_steal_pointer(&r->wait);
	g_mutex_unlock(&r->mb->lock);
	if (wait)
		wait->done(wait, errnum, r->bytes->str, errnum ? 0 :
				r->bytes->len);
	g_string_free(r->bytes, TRUE);
	g_free(r);
}

int store_mailbox_range_start(struct store_range_wait *wait,
		struct store_mailbox *mb, uint32_t uidvalidity, uint32_t uid,
		uint64_t offset, uint32_t len)
{
	struct range_job *r = g_new0(struct range_job, 1);

	r->job.run = range_job_run;
	r->mb = mb;
	r->uidvalidity = uidvalidity;
	r->uid = uid;
	r->offset = offset;
	r->len = len;
	r->wait = wait;
	r->bytes = g_string_sized_new(len);
	wait->mailbox = mb;
	wait->job = r;
	store_account_submit(mb->account, &r->job);
	return EINPROGRESS;
}

bool store_range_wait_cancel(struct store_range_wait *wait)
{
	struct store_mailbox *mb = wait->mailbox;
	bool detached = false;

	g_mutex_lock(&mb->lock);
	if (wait->job && wait->job->wait == wait) {
		wait->job->wait = NULL;
		detached = true;
	}
	g_mutex_unlock(&mb->lock);
	return detached;
}
