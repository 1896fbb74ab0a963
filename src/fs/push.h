/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Handing the kernel the bytes of the next messages of a walk before it
 * asks for them (FUSE_NOTIFY_STORE), so that grep -r after a remount, or
 * through bodies read ahead, costs no READ per file: the pages are in the
 * kernel's cache when the reader opens the file (docs/DESIGN.md, "Handing
 * pages to the kernel").  Only cached bodies are handed over, only to
 * inodes the kernel holds, only when the size it holds is the body's
 * length, and each inode once; a thread of its own does it, so that no
 * request waits while the kernel takes the pages.
 */
#ifndef IMAPFS_FS_PUSH_H
#define IMAPFS_FS_PUSH_H

#include <fuse_lowlevel.h>
#include <stdbool.h>
#include <stdint.h>

#include "fs/inode.h"
#include "store/mailbox.h"

struct fs_pusher;

/* helper: hand half of the pages over from a second thread.  That pays
 * when nothing else keeps the daemon busy (-o ro: no OPEN per file), and
 * costs a writable mount's OPENs more than it saves. */
struct fs_pusher *fs_pusher_start(struct fuse_session *session,
		struct fs_inodes *inodes, bool helper);
/* Drops what is queued, waits for the thread; from then on nothing is
 * handed over.  Safe while requests still come (fs/shutdown.h). */
void fs_pusher_halt(struct fs_pusher *pusher);
/* Halts it if it is not yet, and frees it: once no request comes. */
void fs_pusher_stop(struct fs_pusher **pusher);

/* A reader reached uid in mailbox: when its reads make a walk, the next
 * messages in the walk's direction are handed over, on the pusher's
 * thread.  Cheap; pusher may be NULL. */
void fs_push_after(struct fs_pusher *pusher, struct store_mailbox *mailbox,
		uint32_t uidvalidity, uint32_t uid);

#endif
