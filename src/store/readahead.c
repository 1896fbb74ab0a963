/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "store/readahead.h"

/* Reads this close (in index positions) to the furthest one of a walk
 * belong to it: parallel readers (rg) take neighbouring files in any
 * order. */
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

/* uid is beyond b in the walk's direction. */
static bool beyond(const struct readahead *ra, uint32_t uid, uint32_t b)
{
	return ra->direction > 0 ? uid > b : uid < b;
}

static int compare_uid(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

bool readahead_plan(struct readahead *ra, struct msg_index *index,
		uint32_t uidvalidity, uint32_t uid,
		const struct readahead_limits *limits,
		bool (*is_fetching)(void *ctx, uint32_t uid), void *ctx,
		GArray *uids)
{
	size_t count = msg_index_count(index);
	size_t pos = msg_index_lower_bound(index, uid);
	size_t taken = 0;
	ptrdiff_t i, step, start, trigger;
	uint64_t bytes = 0;

	if (pos >= count || msg_index_at(index, pos)->uid != uid)
		return false;	/* not listed (yet): no walk to follow */
	if (ra->uidvalidity != uidvalidity || !near(ra, pos)) {
		/* Perhaps the start of a walk: the next read near this one
		 * confirms it, and its direction. */
		reset(ra, uidvalidity, pos);
		return false;
	}
	if (ra->direction == 0) {
		if (pos == ra->last_pos)
			return false;
		ra->direction = pos > ra->last_pos ? 1 : -1;
		ra->window = limits->first_window;	/* a walk begins */
	} else if (ra->frontier && !beyond(ra, uid, ra->frontier) &&
			beyond(ra, ra->trigger_uid, uid)) {
		/* What is on its way lasts a while yet. */
		if (ra->direction > 0 ? pos > ra->last_pos :
				pos < ra->last_pos)
			ra->last_pos = pos;
		return false;
	}
	if (ra->direction > 0 ? pos > ra->last_pos : pos < ra->last_pos)
		ra->last_pos = pos;
	if (ra->in_flight >= limits->max_in_flight)
		return false;
	/* On from this read if it ran past what was asked for, else from
	 * where the last batch ended. */
	step = ra->direction;
	if (!ra->frontier || beyond(ra, uid, ra->frontier))
		i = (ptrdiff_t)pos + step;
	else if (step > 0)
		i = (ptrdiff_t)msg_index_lower_bound(index, ra->frontier + 1);
	else
		i = (ptrdiff_t)msg_index_lower_bound(index, ra->frontier) - 1;
	start = i;
	for (; i >= 0 && (size_t)i < count && taken < ra->window; i += step) {
		const struct msg_entry *e = msg_index_at(index, (size_t)i);

		/* A body too big to fetch ahead is left for its reader. */
		if (e->size <= limits->max_message &&
				!is_fetching(ctx, e->uid)) {
			if (bytes + e->size > limits->max_bytes)
				break;
			bytes += e->size;
			g_array_append_val(uids, e->uid);
		}
		taken++;
		ra->frontier = e->uid;
	}
	/* The next batch is asked for as soon as the reader reaches this
	 * one, so that a whole batch is always on its way ahead of it: a
	 * reader that waits for its bodies (a cold grep -r, faster than the
	 * download) would otherwise keep only one connection busy at a
	 * time, and fetched them a sixth slower at 10,000 messages
	 * (docs/DESIGN.md, "Reading ahead"). */
	trigger = start;
	if (trigger < 0)
		trigger = 0;
	if ((size_t)trigger >= count)
		trigger = (ptrdiff_t)count - 1;
	ra->trigger_uid = count ? msg_index_at(index, (size_t)trigger)->uid : 0;
	ra->window = MIN(ra->window * 2, limits->max_window);
	if (uids->len == 0)
		return false;
	if (step < 0)
		g_array_sort(uids, compare_uid);
	ra->in_flight++;
	return true;
}

void readahead_done(struct readahead *ra)
{
	if (ra->in_flight > 0)
		ra->in_flight--;
}
