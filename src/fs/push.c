/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "fs/push.h"

#include <errno.h>
#include <glib.h>
#include <stdbool.h>
#include <unistd.h>

#include "log.h"

/* Reads at most this many UIDs apart are one walk (a directory read in
 * its order, or backwards: grep -r, rg, tar); the reads that reach us
 * are a batch apart once pages are handed over. */
#define WALK_REACH 256u
/* Messages handed over in one go, and the bytes they may take. */
#define PUSH_BATCH 64u
#define PUSH_BYTES (8u << 20)
/* How far ahead of the last read that reached us the pages may go: a
 * reader of handed-over pages sends nothing, so batches follow each other
 * until this far, and start again from its next read. */
#define PUSH_AHEAD 512u
/* Bigger bodies are read the usual way: handing one over copies it
 * through our memory. */
#define PUSH_MESSAGE_MAX (1u << 20)
/* A pusher this far behind drops new work rather than queue it. */
#define PUSH_QUEUE_MAX 4
/* Messages handed over at once, half of them by a helper thread when
 * there is one: one thread cannot keep up with grep (about 30 µs a
 * message against 10, docs/DESIGN.md). */
#define PUSH_CHUNK 8u

struct walk {
	uint32_t uidvalidity;
	uint32_t last_uid;	/* read last */
	int direction;		/* 1 up the UIDs, -1 down, 0 unknown */
	uint32_t frontier;	/* handed over (or tried) furthest; 0: none */
	bool pending;		/* a job for it is queued or running */
};

struct push_job {
	struct store_mailbox *mailbox;	/* NULL: stop */
	uint32_t uidvalidity;
	uint32_t from;
	int direction;
};

struct fs_pusher {
	struct fuse_session *session;
	struct fs_inodes *inodes;
	GAsyncQueue *queue;
	GThread *thread;
	GMutex lock;
	GHashTable *walks;	/* store_mailbox * -> struct walk */
	GThreadPool *helper;	/* one thread: every other message; or
				 * NULL */
	bool halted;		/* under lock: nothing more is handed over */
};

/* Up to PUSH_CHUNK messages, the helper's share and ours. */
struct push_chunk {
	struct fs_pusher *pusher;
	const struct push_job *job;
	const uint32_t *uids;
	size_t count;
	int64_t took[PUSH_CHUNK];
	GMutex lock;
	GCond cond;
	bool helped;
};

/* How far past uid the pages handed over reach in direction. */
static uint32_t ahead_of(const struct walk *walk, uint32_t uid)
{
	if (!walk->frontier)
		return 0;
	if (walk->direction > 0)
		return walk->frontier > uid ? walk->frontier - uid : 0;
	return walk->frontier < uid ? uid - walk->frontier : 0;
}

static bool reader_passed(struct fs_pusher *pusher,
		const struct push_job *job, uint32_t uid)
{
	struct walk *walk;
	bool passed;

	g_mutex_lock(&pusher->lock);
	walk = g_hash_table_lookup(pusher->walks, job->mailbox);
	passed = walk && walk->direction == job->direction &&
		(job->direction > 0 ? walk->last_uid >= uid :
		 walk->last_uid <= uid);
	g_mutex_unlock(&pusher->lock);
	return passed;
}

/* Hands uid over if it is worth it: returns the bytes it took, 0 when it
 * was not worth it, -1 when its body is not cached (yet: the walk stops
 * there, and goes on from there with the reader's next read). */
static int64_t push_one(struct fs_pusher *pusher,
		const struct push_job *job, uint32_t uid)
{
	struct body_cache_entry body;
	struct fuse_bufvec buf;
	uint64_t length;
	fuse_ino_t ino;
	int rc;

	if (!fs_inodes_push_candidate(pusher->inodes, job->mailbox,
				job->uidvalidity, uid))
		return 0;
	/* The length first: opening a body checks all of it. */
	if (!store_mailbox_cached_size(job->mailbox, job->uidvalidity, uid,
				&length))
		return -1;
	if (length > PUSH_MESSAGE_MAX)
		return 0;
	if (!store_mailbox_cached_body(job->mailbox, job->uidvalidity, uid,
				&body))
		return -1;
	ino = fs_inodes_claim_push(pusher->inodes, job->mailbox,
			job->uidvalidity, uid, body.length);
	if (ino) {
		buf = (struct fuse_bufvec)FUSE_BUFVEC_INIT(body.length);
		buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
		buf.buf[0].fd = body.fd;
		buf.buf[0].pos = (off_t)body.offset;
		rc = fuse_lowlevel_notify_store(pusher->session, ino, 0, &buf,
				0);
		/* ENOENT: the kernel let the inode go meanwhile. */
		if (rc != 0 && rc != -ENOENT)
			log_debug(LOG_AREA_FUSE, "UID %u: handing the "
					"kernel its pages failed: %s", uid,
					g_strerror(-rc));
	}
	close(body.fd);
	return ino ? (int64_t)body.length : 0;
}

/* On the helper thread: the odd positions of the chunk. */
static void helper_run(gpointer data, gpointer user_data)
{
	struct push_chunk *chunk = data;

	(void)user_data;
	for (size_t k = 1; k < chunk->count; k += 2)
		chunk->took[k] = push_one(chunk->pusher, chunk->job,
				chunk->uids[k]);
	g_mutex_lock(&chunk->lock);
	chunk->helped = true;
	g_cond_signal(&chunk->cond);
	g_mutex_unlock(&chunk->lock);
}

static void push_chunk(struct push_chunk *chunk)
{
	size_t step = chunk->pusher->helper ? 2 : 1;

	chunk->helped = step == 1 || chunk->count < 2;
	if (!chunk->helped)
		g_thread_pool_push(chunk->pusher->helper, chunk, NULL);
	for (size_t k = 0; k < chunk->count; k += step) {
		chunk->took[k] = push_one(chunk->pusher, chunk->job,
				chunk->uids[k]);
		/* Not cached yet: the walk stops here, and asking about the
		 * ones after it (a stat each) would be wasted. */
		if (chunk->took[k] < 0) {
			for (k += step; k < chunk->count; k += step)
				chunk->took[k] = -1;
			break;
		}
	}
	g_mutex_lock(&chunk->lock);
	while (!chunk->helped)
		g_cond_wait(&chunk->cond, &chunk->lock);
	g_mutex_unlock(&chunk->lock);
}

static void push_run(struct fs_pusher *pusher, const struct push_job *job)
{
	uint32_t uids[PUSH_BATCH];
	struct push_job *next = NULL;
	struct push_chunk chunk = { .pusher = pusher, .job = job };
	uint64_t bytes = 0, pushed = 0;
	size_t n, i = 0;
	bool stopped = false;
	struct walk *walk;

	g_mutex_init(&chunk.lock);
	g_cond_init(&chunk.cond);
	n = store_mailbox_neighbours(job->mailbox, job->uidvalidity,
			job->from, job->direction, uids, PUSH_BATCH);
	while (i < n && bytes < PUSH_BYTES && !stopped) {
		/* A reader that overtook us has read these already. */
		if (reader_passed(pusher, job, uids[i]))
			break;
		chunk.uids = uids + i;
		chunk.count = MIN(PUSH_CHUNK, n - i);
		push_chunk(&chunk);
		for (size_t k = 0; k < chunk.count; k++) {
			/* Not cached yet: the walk goes on from here. */
			if (chunk.took[k] < 0) {
				stopped = true;
				break;
			}
			bytes += (uint64_t)chunk.took[k];
			pushed += chunk.took[k] > 0;
			i++;
		}
	}
	g_mutex_clear(&chunk.lock);
	g_cond_clear(&chunk.cond);
	if (pushed)
		log_debug(LOG_AREA_FUSE, "%s: pages of %" G_GUINT64_FORMAT
				" messages handed to the kernel",
				store_mailbox_name(job->mailbox), pushed);
	g_mutex_lock(&pusher->lock);
	walk = g_hash_table_lookup(pusher->walks, job->mailbox);
	if (walk) {
		walk->pending = false;
		if (i > 0 && walk->uidvalidity == job->uidvalidity &&
				walk->direction == job->direction) {
			walk->frontier = uids[i - 1];
			if (i == n && n == PUSH_BATCH &&
					ahead_of(walk, walk->last_uid) <
					PUSH_AHEAD) {
				next = g_memdup2(job, sizeof(*job));
				/* Ahead of the reader, wherever it is. */
				next->from = ahead_of(walk, walk->last_uid) ?
					walk->frontier : walk->last_uid;
				walk->pending = true;
			}
		}
	}
	g_mutex_unlock(&pusher->lock);
	if (next)
		g_async_queue_push(pusher->queue, next);
}

static gpointer pusher_main(gpointer data)
{
	struct fs_pusher *pusher = data;

	for (;;) {
		struct push_job *job = g_async_queue_pop(pusher->queue);

		if (!job->mailbox) {
			g_free(job);
			return NULL;
		}
		push_run(pusher, job);
		g_free(job);
	}
}

struct fs_pusher *fs_pusher_start(struct fuse_session *session,
		struct fs_inodes *inodes, bool helper)
{
	struct fs_pusher *pusher = g_new0(struct fs_pusher, 1);

	pusher->session = session;
	pusher->inodes = inodes;
	g_mutex_init(&pusher->lock);
	pusher->walks = g_hash_table_new_full(NULL, NULL, NULL, g_free);
	pusher->queue = g_async_queue_new_full(g_free);
	if (helper)
		pusher->helper = g_thread_pool_new(helper_run, NULL, 1, TRUE,
				NULL);
	pusher->thread = g_thread_new("imapfs-push", pusher_main, pusher);
	return pusher;
}

void fs_pusher_halt(struct fs_pusher *pusher)
{
	struct push_job *job;
	bool halted;

	if (!pusher)
		return;
	g_mutex_lock(&pusher->lock);
	halted = pusher->halted;
	pusher->halted = true;
	g_mutex_unlock(&pusher->lock);
	if (halted)
		return;
	/* What is queued is not needed any more. */
	while ((job = g_async_queue_try_pop(pusher->queue)))
		g_free(job);
	g_async_queue_push(pusher->queue, g_new0(struct push_job, 1));
	g_thread_join(pusher->thread);
	pusher->thread = NULL;
	/* Idle: the pusher waits for each chunk it gives it. */
	if (pusher->helper)
		g_thread_pool_free(pusher->helper, FALSE, TRUE);
	pusher->helper = NULL;
}

void fs_pusher_stop(struct fs_pusher **pusher)
{
	if (!*pusher)
		return;
	fs_pusher_halt(*pusher);
	g_async_queue_unref((*pusher)->queue);
	g_hash_table_unref((*pusher)->walks);
	g_mutex_clear(&(*pusher)->lock);
	g_free(*pusher);
	*pusher = NULL;
}

void fs_push_after(struct fs_pusher *pusher, struct store_mailbox *mailbox,
		uint32_t uidvalidity, uint32_t uid)
{
	struct push_job *job = NULL;
	struct walk *walk;
	uint32_t distance;
	int direction;

	if (!pusher)
		return;
	g_mutex_lock(&pusher->lock);
	if (pusher->halted)
		goto out;
	walk = g_hash_table_lookup(pusher->walks, mailbox);
	if (!walk) {
		walk = g_new0(struct walk, 1);
		g_hash_table_insert(pusher->walks, mailbox, walk);
	}
	if (walk->uidvalidity != uidvalidity || walk->last_uid == 0 ||
			walk->last_uid == uid) {
		if (walk->uidvalidity != uidvalidity || walk->last_uid == 0)
			*walk = (struct walk){ .uidvalidity = uidvalidity };
		walk->last_uid = uid;
		goto out;
	}
	direction = uid > walk->last_uid ? 1 : -1;
	distance = direction > 0 ? uid - walk->last_uid :
		walk->last_uid - uid;
	walk->last_uid = uid;
	if (distance > WALK_REACH) {
		/* A jump: a walk starts afresh, if one follows. */
		walk->direction = 0;
		walk->frontier = 0;
		goto out;
	}
	if (direction != walk->direction) {
		walk->direction = direction;
		walk->frontier = 0;
	}
	if (walk->pending ||
			(walk->frontier && ahead_of(walk, uid) >= PUSH_BATCH) ||
			g_async_queue_length(pusher->queue) >= PUSH_QUEUE_MAX)
		goto out;
	job = g_new0(struct push_job, 1);
	job->mailbox = mailbox;
	job->uidvalidity = uidvalidity;
	job->from = walk->frontier && ahead_of(walk, uid) ? walk->frontier :
		uid;
	job->direction = direction;
	walk->pending = true;
out:
	g_mutex_unlock(&pusher->lock);
	if (job)
		g_async_queue_push(pusher->queue, job);
}
