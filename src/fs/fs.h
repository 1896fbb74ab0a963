/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The filesystem layer: FUSE low-level handlers that ask the store.
 */
#ifndef IMAPFS_FS_FS_H
#define IMAPFS_FS_FS_H

#include <fuse_lowlevel.h>
#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

#include "fs/inode.h"
#include "fs/notify.h"
#include "store/account.h"
#include "store/cancel.h"

struct imapfs_fs {
	struct store_account *account;	/* borrowed */
	struct fs_inodes *inodes;	/* owned */
	struct fs_notifier *notifier;	/* owned; started after mount */
	uid_t uid;
	gid_t gid;
	time_t mounted_at;		/* directories' times */
	double dir_timeout;		/* s: directories and their entries */
	double message_timeout;		/* s: message files never change */
	double negative_timeout;	/* s: "no such name" */
	GThreadPool *interrupted;	/* owned: answers interrupted opens */
};

struct imapfs_fs *imapfs_fs_new(struct store_account *account);
void imapfs_fs_free(struct imapfs_fs **fs);

/* After the loop has ended and before the session goes: wait until every
 * request still in the store's hands has been answered. */
void imapfs_fs_quiesce(struct imapfs_fs *fs);

extern const struct fuse_lowlevel_ops imapfs_fs_ops;

/* Extended attributes (xattr.c).  Returns 0 or an errno. */
int fs_xattr_get(struct imapfs_fs *fs, struct fs_inode *inode,
		struct store_cancel *cancel, const char *name, GString *value);
int fs_xattr_list(struct imapfs_fs *fs, struct fs_inode *inode,
		struct store_cancel *cancel, GString *names);
int fs_xattr_set_denied(struct fs_inode *inode, const char *name);

#endif
