/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Telling the kernel that what it caches is out of date.  The kernel may
 * call back into us (or wait for a lock a handler holds) while it processes
 * a notification, so notifications are never sent from a request handler:
 * handlers queue them and this worker thread sends them.
 */
#ifndef IMAPFS_FS_NOTIFY_H
#define IMAPFS_FS_NOTIFY_H

#include <fuse_lowlevel.h>

struct fs_notifier;

struct fs_notifier *fs_notifier_start(struct fuse_session *session);
/* Sends what is queued, then stops the thread; what is queued later is
 * not sent.  Safe while requests still come (fs/shutdown.h). */
void fs_notifier_halt(struct fs_notifier *notifier);
/* Halts it if it is not yet, and frees it: once no request comes. */
void fs_notifier_stop(struct fs_notifier **notifier);

/* Attributes (size) and cached data of ino are stale. */
void fs_notify_inval_inode(struct fs_notifier *notifier, fuse_ino_t ino);
/* Only the attributes (the size) of ino are stale, said now, from the
 * calling thread: unlike the rest, the kernel takes no lock for it that a
 * request may hold (it bumps the inode's attribute version and nothing
 * else, fuse_reverse_inval_inode with a negative offset), so a handler may
 * send it before its own reply, and whatever the kernel does after that
 * reply asks for the size again.  Not held back by the test delay. */
void fs_notify_inval_attr_now(struct fs_notifier *notifier, fuse_ino_t ino);
/* The name in directory parent is stale. */
void fs_notify_inval_entry(struct fs_notifier *notifier, fuse_ino_t parent,
		const char *name);

#endif
