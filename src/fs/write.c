/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Handlers that change things (imapfs(1), "Changing things"): each asks
 * the store, which talks to the server and applies its answer; the
 * kernel hears of names that changed meaning from the notifier thread,
 * never from inside a handler.
 */
#include "fs/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <linux/fs.h>
#include <sys/stat.h>

#include "log.h"
#include "store/changes.h"

static struct imapfs_fs *req_fs(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* The directory inode for a request, or an errno already replied. */
static struct fs_inode *req_dir(fuse_req_t req, fuse_ino_t ino)
{
	struct fs_inode *dir = fs_inodes_get(req_fs(req)->inodes, ino);

	if (!dir) {
		fuse_reply_err(req, ESTALE);
		return NULL;
	}
	if (dir->kind != FS_INODE_DIR) {
		fuse_reply_err(req, ENOTDIR);
		return NULL;
	}
	return dir;
}

/* --- directories ---------------------------------------------------------- */

void fs_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		mode_t mode)
{
	struct imapfs_fs *fs = req_fs(req);
	struct fs_inode *dir = req_dir(req, parent);
	struct fuse_entry_param e;
	struct store_node *child;
	uint32_t uid;
	int errnum;

	(void)mode;
	if (!dir)
		return;
	if (names_parse_message_file(name, &uid)) {
		/* "4711.eml" is a message's name, never a directory's. */
		fuse_reply_err(req, EINVAL);
		return;
	}
	errnum = store_node_create(fs->account, dir->node, name);
	if (errnum) {
		fuse_reply_err(req, errnum);
		return;
	}
	child = store_node_child(fs->account, dir->node, name);
	if (!child) {
		/* Created, but the server lists it under another name. */
		log_warning("created %s, but it does not list as such", name);
		fuse_reply_err(req, EIO);
		return;
	}
	fs_fill_entry(fs, fs_inodes_ref_dir(fs->inodes, child), &e);
	fuse_reply_entry(req, &e);
}

void fs_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct imapfs_fs *fs = req_fs(req);
	struct fs_inode *dir = req_dir(req, parent);
	struct store_node *child;

	if (!dir)
		return;
	child = store_node_child(fs->account, dir->node, name);
	if (!child) {
		uint32_t uid;

		fuse_reply_err(req, names_parse_message_file(name, &uid) ?
				ENOTDIR : ENOENT);
		return;
	}
	fuse_reply_err(req, store_node_delete(fs->account, child));
}

/* --- messages ------------------------------------------------------------- */

void fs_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct imapfs_fs *fs = req_fs(req);
	struct fs_inode *dir = req_dir(req, parent);
	struct store_mailbox *mb;
	uint32_t uidvalidity, uid;
	bool by_alias;
	int errnum;

	if (!dir)
		return;
	/* A name given is the message it was given to: that one goes. */
	errnum = fs_dir_message(fs, dir, name, &mb, &uidvalidity, &uid,
			&by_alias);
	if (errnum == ENOENT && store_node_child(fs->account, dir->node,
				name))
		errnum = EISDIR;
	if (errnum == 0)
		errnum = store_mailbox_remove(mb, uidvalidity, uid);
	if (errnum == 0)
		fs_alias_remove(fs->aliases, dir->node, name);
	fuse_reply_err(req, errnum);
}

/* The kernel moves its entry for the old name to the new one when we
 * say yes; but the new name means another message (its new UID), and may
 * have meant yet another before: both names are looked up afresh. */
static void forget_names(struct imapfs_fs *fs, fuse_ino_t parent,
		const char *name, fuse_ino_t newparent, const char *newname)
{
	if (!fs->notifier)
		return;
	fs_notify_inval_entry(fs->notifier, parent, name);
	fs_notify_inval_entry(fs->notifier, newparent, newname);
}

static int rename_message(struct imapfs_fs *fs, struct fs_inode *dir,
		const char *name, struct fs_inode *newdir, const char *newname)
{
	struct store_mailbox *mb, *dest;
	uint32_t uidvalidity, uid, new_uid;
	bool by_alias;
	int errnum = fs_dir_message(fs, dir, name, &mb, &uidvalidity, &uid,
			&by_alias);

	if (errnum)
		return errnum;
	dest = store_node_mailbox(fs->account, newdir->node);
	if (!dest)
		return EPERM;	/* \Noselect: holds no messages */
	if (dest == mb) {
		struct store_mailbox *other;
		uint32_t other_validity, other_uid;
		bool other_alias;

		/* A name given (rsync's temporary one) may become another,
		 * unless that one is a message's own; a message's own name
		 * is its UID and cannot change. */
		if (!by_alias || (fs_dir_message(fs, newdir, newname, &other,
						&other_validity, &other_uid,
						&other_alias) == 0 &&
					!other_alias))
			return EPERM;
		fs_alias_set(fs->aliases, newdir->node, newname, mb, uid);
		fs_alias_remove(fs->aliases, dir->node, name);
		return 0;
	}
	errnum = store_mailbox_move(mb, uidvalidity, uid, dest, &new_uid);
	if (errnum)
		return errnum;
	fs_alias_remove(fs->aliases, dir->node, name);
	if (new_uid)
		fs_alias_set(fs->aliases, newdir->node, newname, dest,
				new_uid);
	return 0;
}

void fs_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	struct imapfs_fs *fs = req_fs(req);
	struct fs_inode *dir = req_dir(req, parent);
	struct fs_inode *newdir;
	struct store_node *child;
	int errnum;

	if (!dir)
		return;
	newdir = req_dir(req, newparent);
	if (!newdir)
		return;
	if (flags & RENAME_EXCHANGE) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (flags & RENAME_NOREPLACE) {
		struct store_mailbox *mb;
		uint32_t uidvalidity, uid;
		bool by_alias;

		if (store_node_child(fs->account, newdir->node, newname) ||
				fs_dir_message(fs, newdir, newname, &mb,
					&uidvalidity, &uid, &by_alias) == 0) {
			fuse_reply_err(req, EEXIST);
			return;
		}
	}
	child = store_node_child(fs->account, dir->node, name);
	if (child) {
		errnum = store_node_rename(fs->account, child, newdir->node,
				newname);
	} else {
		errnum = rename_message(fs, dir, name, newdir, newname);
	}
	fuse_reply_err(req, errnum);
	if (errnum == 0)
		forget_names(fs, parent, name, newparent, newname);
}

/* --- new files ------------------------------------------------------------ */

void fs_op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		mode_t mode, struct fuse_file_info *fi)
{
	struct imapfs_fs *fs = req_fs(req);
	struct fs_inode *dir = req_dir(req, parent);
	struct store_mailbox *mb;
	struct fs_staged *staged;
	struct fs_inode *inode;
	struct fuse_entry_param e;

	(void)mode;
	if (!dir)
		return;
	mb = store_node_mailbox(fs->account, dir->node);
	if (!mb) {
		fuse_reply_err(req, EPERM);	/* no messages here */
		return;
	}
	staged = fs_staged_new(store_account_config(fs->account)->cache_dir,
			mb);
	if (!staged) {
		fuse_reply_err(req, EIO);
		return;
	}
	inode = fs_inodes_ref_staged(fs->inodes, dir->node, staged);
	/* No handle: the new file is found by its inode, which the kernel
	 * holds while it is open, whichever descriptor writes to it. */
	fi->fh = 0;
	fi->direct_io = 1;
	fs_fill_entry(fs, inode, &e);
	fs_alias_remove(fs->aliases, dir->node, name);
	/* The name it was created under, for the alias made once it is
	 * appended (see flush): set before the reply, after which its
	 * writes and close may come at once, on other threads. */
	fs_staged_set_name(staged, dir->node, name);
	if (fuse_reply_create(req, &e, fi) == -ENOENT)
		fs_inodes_forget(fs->inodes, inode->ino, 1);
}

/* The new file written through ino, or NULL for a message.  New files
 * have no handle (see create), only their inode. */
static struct fs_staged *handle_staged(fuse_req_t req, fuse_ino_t ino,
		struct fuse_file_info *fi)
{
	struct fs_inode *inode;

	(void)fi;
	inode = fs_inodes_get(req_fs(req)->inodes, ino);
	return inode && inode->kind == FS_INODE_STAGED ? inode->staged :
		NULL;
}

void fs_op_write_buf(fuse_req_t req, fuse_ino_t ino,
		struct fuse_bufvec *buf, off_t off, struct fuse_file_info *fi)
{
	struct fs_staged *staged = handle_staged(req, ino, fi);
	size_t written;
	int errnum;

	if (!staged) {
		/* A message: never opened for writing (read.c). */
		fuse_reply_err(req, EPERM);
		return;
	}
	errnum = fs_staged_write_buf(staged, buf, off, &written);
	if (errnum)
		fuse_reply_err(req, errnum);
	else
		fuse_reply_write(req, written);
}

/* Each close(): the place to append, since close() reports what flush
 * answers and release comes too late to be heard. */
void fs_op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct imapfs_fs *fs = req_fs(req);
	struct fs_staged *staged = handle_staged(req, ino, fi);
	struct store_node *dir;
	const char *name;
	uint32_t uid;
	int errnum;

	if (!staged) {
		/* Read-only: no close needs an answer, so the kernel may
		 * stop asking (fs.h, without_open); otherwise new files
		 * are appended here, so every close must still ask. */
		fuse_reply_err(req, fs->without_open ? ENOSYS : 0);
		return;
	}
	errnum = fs_staged_commit(staged, &uid);
	if (errnum == 0 && uid != 0 && fs_staged_name(staged, &dir, &name))
		fs_alias_set(fs->aliases, dir, name,
				fs_staged_mailbox(staged), uid);
	fuse_reply_err(req, errnum);
}

void fs_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		int to_set, struct fuse_file_info *fi)
{
	struct imapfs_fs *fs = req_fs(req);
	struct fs_inode *inode = fs_inodes_get(fs->inodes, ino);
	struct stat st;
	double timeout;
	int errnum = 0;

	(void)fi;
	if (!inode) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		if (inode->kind == FS_INODE_STAGED)
			errnum = fs_staged_truncate(inode->staged,
					(uint64_t)attr->st_size);
		else if (inode->kind == FS_INODE_DIR)
			errnum = EISDIR;
		else
			errnum = EPERM;	/* messages do not change */
	}
	if (errnum == 0 && (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)))
		errnum = EPERM;
	/* Modes and times are not kept: what cp -p and rsync set after
	 * copying is accepted and has no effect (imapfs(1)). */
	if (errnum) {
		fuse_reply_err(req, errnum);
		return;
	}
	timeout = fs_fill_attr(fs, inode, &st);
	fuse_reply_attr(req, &st, timeout);
}
