/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Shared between the fetches of bodies (fetch.c) and their pipelined
 * stream through a walk (fetch-stream.c). */
#ifndef IMAPFS_STORE_FETCH_PRIVATE_H
#define IMAPFS_STORE_FETCH_PRIVATE_H

#include "store/mailbox-private.h"

/*
 * One fetch in flight per UID; everyone who asks for the body meanwhile
 * takes its outcome, so that a failure costs every reader one timeout,
 * not one each, and a body too big for the cache is fetched once for all
 * of them.  A batch of them runs as one job on the account's threads, for
 * as long as it takes (every wait in it is bounded), whether or not
 * anybody still waits.
 */
struct fetch_batch;

struct fetch_slot {
	struct fetch_batch *batch;
	uint32_t uid;
	GPtrArray *waiters;	/* struct store_body_wait *; mailbox lock;
				 * NULL once answered */
	int errnum;		/* the job's: why it has no body */
};

struct fetch_batch {
	struct store_job job;
	GList link;		/* in mb->ahead_queue */
	struct store_mailbox *mb;
	uint32_t uidvalidity;
	bool readahead;		/* counted in mb->readahead.in_flight */
	size_t count;
	struct fetch_slot *slots;	/* ascending UIDs */
	int end_errnum;		/* why it failed, for fetch_batch_end() */
};

/* Batches read ahead on one connection at once, the one streaming and
 * the next already asked for (fetch-stream.c). */
#define FETCH_PIPELINE_DEPTH 2
/* Connections one mailbox's read-ahead streams on at once.  More was
 * slower on two CPUs: bodies out of the reader's order, and more threads
 * and server processes taking turns (docs/DESIGN.md, "Reading ahead"). */
#define FETCH_WALK_STREAMS 1u

static inline unsigned fetch_walk_streams(unsigned connections)
{
	return MIN(MAX(connections, 1u), FETCH_WALK_STREAMS);
}

/* The cache file a body goes to as it arrives (imap_body_sink): bodies
 * of one batch, or of every batch a stream has in flight. */
struct batch_sink {
	struct fetch_batch *batch;	/* NULL: the stream's */
	struct fetch_stream *stream;
	struct store_mailbox *mb;
	uint32_t uidvalidity;
	struct body_cache *cache;
	const char *cache_id;
	struct body_cache_writer *writer;	/* of the body begun last */
};

/* Where imap/fetchops.h streams bodies for sink's batch or stream. */
struct imap_body_sink fetch_body_sink(struct batch_sink *sink);

struct fetch_slot *fetch_batch_slot(struct fetch_batch *batch, uint32_t uid);
/* Does anybody wait for the body (takes the mailbox lock). */
bool fetch_slot_waited_for(struct fetch_slot *slot);

/* The end of a batch: if errnum says it failed as a whole, the UIDs
 * somebody waits for are fetched again one by one, each on a session of
 * its own; then every UID not answered yet is answered, with errnum, or
 * the errno its slot got, or ENOENT.  No session held by the caller. */
void fetch_batch_end(struct fetch_batch *batch, int errnum);
/* A batch's job: run it on its own (fetch.c). */
void fetch_batch_job(struct store_job *job);

/* The pipelined stream (fetch-stream.c): a batch read ahead, placed on
 * a connection of its own or behind one already in flight; and its job. */
void fetch_stream_submit(struct store_mailbox *mb, struct fetch_batch *batch);
/* The slot for uid among the batches a stream has in flight. */
struct fetch_slot *fetch_stream_slot(struct fetch_stream *stream,
		uint32_t uid);

#endif
