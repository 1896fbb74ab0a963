/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Reading ahead through a mailbox: when reads walk a folder in UID order
 * (grep -r, rg, tar, rsync, notmuch new all read a directory in the order
 * it lists), the next bodies are fetched before they are asked for, in
 * batches that grow while the walk goes on.  A read that is not part of a
 * walk fetches its own body and nothing else.  Pure bookkeeping over the
 * mailbox's index: no I/O (docs/DESIGN.md, "Reading ahead").
 */
#ifndef IMAPFS_STORE_READAHEAD_H
#define IMAPFS_STORE_READAHEAD_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/msgindex.h"

struct readahead {
	uint32_t uidvalidity;
	size_t last_pos;	/* index position read furthest in the
				 * walk's direction */
	int direction;		/* of the walk: 1 up the UIDs, -1 down
				 * (rg lists a directory backwards), 0 not
				 * known yet */
	uint32_t frontier;	/* UID fetched ahead furthest; 0: none */
	uint32_t trigger_uid;	/* reaching it asks for the next batch */
	unsigned window;	/* messages in the next batch */
	unsigned in_flight;	/* batches fetching ahead */
};

struct readahead_limits {
	unsigned first_window;	/* messages in a walk's first batch */
	unsigned max_window;	/* messages in a batch at most */
	uint64_t max_bytes;	/* of a batch, by the sizes listed */
	uint64_t max_message;	/* larger bodies are not fetched ahead */
	unsigned max_in_flight;	/* batches of one mailbox at once */
};

/*
 * A read of uid in a mailbox whose index is index (under UIDVALIDITY
 * uidvalidity).  Fills uids (uint32_t, empty on entry) with what to fetch
 * ahead of it: nothing, or a batch of UIDs after it.  The read's own body,
 * if it must be fetched, is the caller's business, and is fetched on its
 * own: a bad message ahead must not fail the read of a good one.
 * is_fetching(uid) tells the UIDs already on their way or cached, which
 * are left out.  Returns true when uids is a batch (the caller then
 * reports its end with readahead_done()).
 */
bool readahead_plan(struct readahead *ra, struct msg_index *index,
		uint32_t uidvalidity, uint32_t uid,
		const struct readahead_limits *limits,
		bool (*is_fetching)(void *ctx, uint32_t uid), void *ctx,
		GArray *uids);

void readahead_done(struct readahead *ra);

#endif
