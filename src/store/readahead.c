/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "store/readahead.h"

/* Reads this close (in index positions) to the last one belong to the
 * same walk: parallel readers (rg) take neighbouring files in any order. */
#define WALK_SLACK 64

static void reset(struct readahead *ra, uint32_t uidvalidity, size_t pos)
{
	unsigned in_flight = ra->in_flight;

	*ra = (struct readahead){ 0 };
	ra->uidvalidity = uidvalidity;
	ra->last_pos = pos;
	ra->in_flight = in_flight;
}

static bool near(const struct readahead *ra, size_t pos)
{
	return pos + WALK_SLACK >= ra->last_pos &&
		pos <= ra->last_pos + WALK_SLACK;
}

bool readahead_plan(struct readahead *ra, struct msg_index *index,
		uint32_t uidvalidity, uint32_t uid,
		const struct readahead_limits *limits,
		bool (*is_fetching)(void *ctx, uint32_t uid), void *ctx,
		GArray *uids)
{
	size_t count = msg_index_count(index);
	size_t pos = msg_index_lower_bound(index, uid);
	size_t start, taken = 0, half;
	uint64_t bytes = 0;

	if (pos >= count || msg_index_at(index, pos)->uid != uid)
		return false;	/* not listed (yet): no walk to follow */
	if (ra->uidvalidity != uidvalidity || !near(ra, pos)) {
		/* Perhaps the start of a walk: the next read near this one
		 * confirms it. */
		reset(ra, uidvalidity, pos);
		return false;
	}
	if (pos > ra->last_pos)
		ra->last_pos = pos;
	if (ra->window == 0)
		ra->window = limits->first_window;	/* a walk begins */
	else if (uid < ra->trigger_uid && uid <= ra->asked_up_to)
		return false;	/* what is on its way lasts a while yet */
	if (ra->in_flight >= limits->max_in_flight)
		return false;
	/* From this read on if it ran past what was asked for, else from
	 * where the last batch ended. */
	start = uid > ra->asked_up_to ? pos + 1 :
		msg_index_lower_bound(index, ra->asked_up_to + 1);
	for (size_t i = start; i < count && taken < ra->window; i++) {
		const struct msg_entry *e = msg_index_at(index, i);

		/* A body too big to fetch ahead is left for its reader. */
		if (e->size <= limits->max_message &&
				!is_fetching(ctx, e->uid)) {
			if (bytes + e->size > limits->max_bytes)
				break;
			bytes += e->size;
			g_array_append_val(uids, e->uid);
		}
		taken++;
		ra->asked_up_to = e->uid;
	}
	/* The next batch is asked for when the reader is half way through
	 * this one, so that it arrives before it is needed. */
	half = start + taken / 2;
	ra->trigger_uid = half < count ? msg_index_at(index, half)->uid :
		UINT32_MAX;
	ra->window = MIN(ra->window * 2, limits->max_window);
	if (uids->len == 0)
		return false;
	ra->in_flight++;
	return true;
}

void readahead_done(struct readahead *ra)
{
	if (ra->in_flight > 0)
		ra->in_flight--;
}
