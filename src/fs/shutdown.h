/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The end of the request loop on SIGHUP, SIGINT or SIGTERM, in two steps.
 *
 * The pusher and the notifier write to /dev/fuse from threads of their own,
 * and the kernel can make such a write wait for a page that a READ keeps
 * locked until it is answered.  libfuse's own handlers end the loop at
 * once: a READ still queued is then never answered, and the write waits
 * for ever, in the kernel, where not even SIGKILL ends it (the mount and
 * its readers hang with it).  Here a signal only wakes a thread, which
 * first calls the caller's step (stopping those writers) while requests
 * are still answered, and then ends the loop (docs/DESIGN.md, "Stopping").
 */
#ifndef IMAPFS_FS_SHUTDOWN_H
#define IMAPFS_FS_SHUTDOWN_H

#include <fuse_lowlevel.h>

struct fs_shutdown;

/* Takes SIGHUP, SIGINT and SIGTERM over from whatever handles them
 * (SIGPIPE is left as it is): on the first of them, before_exit(data)
 * runs on a thread of its own, then se's loop ends.  Call it from the
 * thread that runs the loop, after any fork().  NULL if it could not be
 * set up, with the handlers left as they were. */
struct fs_shutdown *fs_shutdown_start(struct fuse_session *se,
		void (*before_exit)(void *data), void *data);

/* After the loop: puts the handlers back, waits for the thread.  Returns
 * the signal that ended the loop, or 0. */
int fs_shutdown_finish(struct fs_shutdown **shutdown);

#endif
