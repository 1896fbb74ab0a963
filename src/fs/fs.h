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

#include "fs/bodies.h"
#include "fs/inode.h"
#include "fs/notify.h"
#include "fs/push.h"
#include "fs/staged.h"
#include "store/account.h"
#include "store/cancel.h"

struct imapfs_fs {
	struct store_account *account;	/* borrowed */
	struct fs_inodes *inodes;	/* owned */
	struct fs_notifier *notifier;	/* owned; started after mount */
	struct fs_pusher *pusher;	/* owned; started after mount */
	uid_t uid;
	gid_t gid;
	time_t mounted_at;		/* directories' times */
	double dir_timeout;		/* s: directories and their entries */
	double message_timeout;		/* s: message files never change */
	double negative_timeout;	/* s: "no such name" */
	GThreadPool *interrupted;	/* owned: answers interrupted opens */
	struct fs_aliases *aliases;	/* owned: names given (staged.h) */
	struct fs_bodies *bodies;	/* owned: read without an open */
	/* The file handles given out and not released yet (owned), freed
	 * at the end: RELEASE is sent after close() returns, and an
	 * unmount can drop one still queued; a loop ended by a signal
	 * leaves those of files still open.  The same for directories. */
	GMutex handles_lock;
	GHashTable *handles;
	GHashTable *dir_handles;
	/* -o ro: nothing new can be written, so no close() needs an
	 * answer, and messages are read without OPEN, FLUSH or RELEASE
	 * (docs/DESIGN.md, "Read-only mounts"). */
	bool without_open;
};

struct imapfs_fs *imapfs_fs_new(struct store_account *account,
		bool read_only);
void imapfs_fs_free(struct imapfs_fs **fs);

/* After the loop has ended and before the session goes: wait until every
 * request still in the store's hands has been answered. */
void imapfs_fs_quiesce(struct imapfs_fs *fs);

/* Before the loop ends on a signal, while requests are still answered:
 * stop the threads that write to /dev/fuse on their own (fs/shutdown.h).
 * Takes a struct imapfs_fs *, as a callback. */
void imapfs_fs_halt_writers(void *fs);

extern const struct fuse_lowlevel_ops imapfs_fs_ops;

/* Extended attributes (xattr.c).  Returns 0 or an errno. */
int fs_xattr_get(struct imapfs_fs *fs, struct fs_inode *inode,
		struct store_cancel *cancel, const char *name, GString *value);
int fs_xattr_list(struct imapfs_fs *fs, struct fs_inode *inode,
		struct store_cancel *cancel, GString *names);
int fs_xattr_set(struct imapfs_fs *fs, struct fs_inode *inode,
		struct store_cancel *cancel, const char *name,
		const char *value, size_t size, int flags);
int fs_xattr_remove(struct imapfs_fs *fs, struct fs_inode *inode,
		struct store_cancel *cancel, const char *name);

/* Opening and reading (read.c); fs_answer_interrupted() answers, on
 * fs->interrupted, an open that the kernel interrupted. */
void fs_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		struct fuse_file_info *fi);
void fs_op_release(fuse_req_t req, fuse_ino_t ino,
		struct fuse_file_info *fi);
void fs_answer_interrupted(gpointer data, gpointer user_data);
/* GETATTR on behalf of an open file (fstat, or the kernel checking the
 * size before a read) of a message whose size is only announced: fetch
 * the body first, so that a reader never sees a size the bytes belie. */
void fs_getattr_of_reader(fuse_req_t req, fuse_ino_t ino,
		struct fs_inode *inode);

/* Changing things (write.c): the handlers, and what they share with the
 * rest of ops.c. */
void fs_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		mode_t mode);
void fs_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		fuse_ino_t newparent, const char *newname, unsigned int flags);
void fs_op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		mode_t mode, struct fuse_file_info *fi);
void fs_op_write_buf(fuse_req_t req, fuse_ino_t ino,
		struct fuse_bufvec *buf, off_t off, struct fuse_file_info *fi);
void fs_op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		int to_set, struct fuse_file_info *fi);

/* A message opened with -o seen, the one case where opens are heard
 * (read.c).  Files the kernel opened without us, and new files, have no
 * handle: fi->fh is 0. */
struct file_handle {
	struct body_cache_entry body;
};

void fs_handle_free(gpointer fh);

void fs_fill_entry(struct imapfs_fs *fs, struct fs_inode *inode,
		struct fuse_entry_param *e);
double fs_fill_attr(struct imapfs_fs *fs, struct fs_inode *inode,
		struct stat *st);
/* A message in a directory by file name ("4711.eml") or by a name given
 * (fs/staged.h; then *by_alias_r): 0, ENOENT, ENOTDIR. */
int fs_dir_message(struct imapfs_fs *fs, struct fs_inode *dir,
		const char *name, struct store_mailbox **mailbox_r,
		uint32_t *uidvalidity_r, uint32_t *uid_r, bool *by_alias_r);
int fs_reply_errno(int errnum);

#endif
