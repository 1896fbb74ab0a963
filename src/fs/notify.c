/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "fs/notify.h"

#include <errno.h>
#include <glib.h>
#include <string.h>

#include "log.h"

enum notice_kind {
	NOTICE_INODE,
	NOTICE_ENTRY,
	NOTICE_STOP,
};

struct notice {
	enum notice_kind kind;
	fuse_ino_t ino;
	char *name;
};

struct fs_notifier {
	struct fuse_session *session;
	GAsyncQueue *queue;
	GThread *thread;
	gint64 delay_us;
	GMutex lock;
	GCond stopping_cond;
	bool stopping;
	bool halted;		/* the thread is gone */
};

/* Hold a notice back for delay_us, or until the notifier stops. */
static void notice_delay(struct fs_notifier *notifier)
{
	gint64 until = g_get_monotonic_time() + notifier->delay_us;

	g_mutex_lock(&notifier->lock);
	while (!notifier->stopping &&
			g_cond_wait_until(&notifier->stopping_cond,
				&notifier->lock, until))
		;
	g_mutex_unlock(&notifier->lock);
}

static void notice_send(struct fs_notifier *notifier,
		const struct notice *notice)
{
	int rc = 0;

	switch (notice->kind) {
	case NOTICE_INODE:
		rc = fuse_lowlevel_notify_inval_inode(notifier->session,
				notice->ino, 0, 0);
		break;
	case NOTICE_ENTRY:
		rc = fuse_lowlevel_notify_inval_entry(notifier->session,
				notice->ino, notice->name,
				strlen(notice->name));
		break;
	case NOTICE_STOP:
		break;
	}
	/* ENOENT: the kernel had already forgotten it, which is fine. */
	if (rc != 0 && rc != -ENOENT)
		log_debug(LOG_AREA_FUSE, "notification failed: %s",
				g_strerror(-rc));
}

void fs_notify_inval_attr_now(struct fs_notifier *notifier, fuse_ino_t ino)
{
	int rc = fuse_lowlevel_notify_inval_inode(notifier->session, ino,
			-1, 0);

	if (rc != 0 && rc != -ENOENT)
		log_debug(LOG_AREA_FUSE, "notification failed: %s",
				g_strerror(-rc));
}

static gpointer notifier_main(gpointer data)
{
	struct fs_notifier *notifier = data;

	for (;;) {
		struct notice *notice = g_async_queue_pop(notifier->queue);
		bool stop = notice->kind == NOTICE_STOP;

		if (notifier->delay_us && !stop)
			notice_delay(notifier);
		notice_send(notifier, notice);
		g_free(notice->name);
		g_free(notice);
		if (stop)
			return NULL;
	}
}

struct fs_notifier *fs_notifier_start(struct fuse_session *session)
{
	struct fs_notifier *notifier = g_new0(struct fs_notifier, 1);

	const char *delay = g_getenv("IMAPFS_TEST_NOTIFY_DELAY_MS");

	notifier->session = session;
	/* For tests only: holding notifications back makes the races they
	 * close deterministic (docs/DESIGN.md, "Tests"). */
	if (delay)
		notifier->delay_us = (gint64)g_ascii_strtoull(delay, NULL,
				10) * 1000;
	g_mutex_init(&notifier->lock);
	g_cond_init(&notifier->stopping_cond);
	notifier->queue = g_async_queue_new();
	notifier->thread = g_thread_new("imapfs-notify", notifier_main,
			notifier);
	return notifier;
}

static void notifier_push(struct fs_notifier *notifier,
		enum notice_kind kind, fuse_ino_t ino, const char *name)
{
	struct notice *notice = g_new0(struct notice, 1);

	notice->kind = kind;
	notice->ino = ino;
	notice->name = g_strdup(name);
	g_async_queue_push(notifier->queue, notice);
}

void fs_notifier_halt(struct fs_notifier *notifier)
{
	bool halted;

	if (!notifier)
		return;
	g_mutex_lock(&notifier->lock);
	halted = notifier->halted;
	notifier->halted = true;
	notifier->stopping = true;
	g_cond_signal(&notifier->stopping_cond);
	g_mutex_unlock(&notifier->lock);
	if (halted)
		return;
	notifier_push(notifier, NOTICE_STOP, 0, NULL);
	g_thread_join(notifier->thread);
	notifier->thread = NULL;
}

void fs_notifier_stop(struct fs_notifier **notifier)
{
	struct notice *notice;

	if (!*notifier)
		return;
	fs_notifier_halt(*notifier);
	/* Queued after the halt: nobody sends them now. */
	while ((notice = g_async_queue_try_pop((*notifier)->queue))) {
		g_free(notice->name);
		g_free(notice);
	}
	g_mutex_clear(&(*notifier)->lock);
	g_cond_clear(&(*notifier)->stopping_cond);
	g_async_queue_unref((*notifier)->queue);
	g_free(*notifier);
	*notifier = NULL;
}

void fs_notify_inval_inode(struct fs_notifier *notifier, fuse_ino_t ino)
{
	if (notifier)
		notifier_push(notifier, NOTICE_INODE, ino, NULL);
}

void fs_notify_inval_entry(struct fs_notifier *notifier, fuse_ino_t parent,
		const char *name)
{
	if (notifier)
		notifier_push(notifier, NOTICE_ENTRY, parent, name);
}
