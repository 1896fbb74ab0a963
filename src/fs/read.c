/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Opening and reading message files: from the cache, or once the store's
 * threads have fetched the body; and the new files being written
 * (fs/staged.h).
 */
#include "fs/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "log.h"
#include "store/changes.h"
#include "store/mailbox.h"

/*
 * An open whose body is not cached is answered from one of the store's
 * threads when the fetch ends, or with EINTR when the kernel interrupts
 * it first: the request holds no thread while it waits, so cached reads
 * keep going however many fetches are in flight (docs/DESIGN.md,
 * "Threads").
 */
struct open_request {
	struct store_body_wait wait;
	struct imapfs_fs *fs;
	fuse_req_t req;
	fuse_ino_t ino;
	struct fs_inode *inode;		/* the kernel holds it while open */
	struct fuse_file_info fi;
};

static void open_reply(struct open_request *o, int errnum,
		struct body_cache_entry *body)
{
	struct imapfs_fs *fs = o->fs;
	struct fs_inode *inode = o->inode;
	struct file_handle *fh;
	uint64_t announced;
	bool exact;

	/* From here on the interrupt callback does not run. */
	fuse_req_interrupt_func(o->req, NULL, NULL);
	if (errnum) {
		/* Another UIDVALIDITY: the message this name meant is gone. */
		fuse_reply_err(o->req, errnum == ESTALE ? ENOENT :
				errnum == ECANCELED ? EINTR : errnum);
		g_free(o);
		return;
	}
	fh = g_new0(struct file_handle, 1);
	fh->body = *body;
	o->fi.fh = (uint64_t)(uintptr_t)fh;
	announced = fs_inode_size(fs->inodes, inode, &exact);
	if (!exact)
		fs_inode_set_size(fs->inodes, inode, body->length);
	if (body->length != announced) {
		/* RFC822.SIZE was wrong (RFC 3501 §2.3.4 makes it a
		 * property of the message, but servers compute it before
		 * conversions): the bytes win.  The kernel may still hold
		 * the old size, so this open bypasses its page cache and the
		 * attributes are invalidated.  An open that wins the race
		 * against that notification is still safe: an announced size
		 * was never cached (fill_attr), so the kernel asks for the
		 * new one before it clips a read. */
		log_debug(LOG_AREA_FUSE, "UID %u: %" G_GUINT64_FORMAT
				" bytes, not %" G_GUINT64_FORMAT, inode->uid,
				body->length, announced);
		fs_notify_inval_inode(fs->notifier, o->ino);
		o->fi.direct_io = 1;
	} else {
		o->fi.keep_cache = 1;
	}
	/* Nothing to do at close (flush is for new files, write.c): the
	 * kernel need not ask, once per close of every message read. */
	o->fi.noflush = 1;
	if (fuse_reply_open(o->req, &o->fi) == -ENOENT) {
		close(fh->body.fd);
		g_free(fh);
	}
	g_free(o);
}

static void open_fetched(struct store_body_wait *wait, int errnum,
		struct body_cache_entry *body)
{
	open_reply(wait->ctx, errnum, body);
}

/* Called by libfuse with the request's lock held, so it only detaches the
 * open from the fetch and leaves the answer to another thread. */
static void open_interrupted(fuse_req_t req, void *data)
{
	struct open_request *o = data;

	(void)req;
	if (store_body_wait_cancel(&o->wait))
		g_thread_pool_push(o->fs->interrupted, o, NULL);
}

void fs_answer_interrupted(gpointer data, gpointer user_data)
{
	(void)user_data;
	open_reply(data, ECANCELED, NULL);
}

void fs_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct imapfs_fs *fs = fuse_req_userdata(req);
	struct fs_inode *inode = fs_inodes_get(fs->inodes, ino);
	struct body_cache_entry body;
	struct open_request *o;
	int errnum;

	if (!inode) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	if (inode->kind == FS_INODE_DIR) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	if (inode->kind == FS_INODE_STAGED) {
		/* The new file, opened again before it is appended. */
		struct file_handle *fh = g_new0(struct file_handle, 1);

		fh->staged = inode->staged;
		fi->direct_io = 1;
		fi->fh = (uint64_t)(uintptr_t)fh;
		if (fuse_reply_open(req, fi) == -ENOENT)
			g_free(fh);
		return;
	}
	/* IMAP messages are immutable (RFC 3501 §2.3). */
	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	o = g_new0(struct open_request, 1);
	o->fs = fs;
	o->req = req;
	o->ino = ino;
	o->inode = inode;
	o->fi = *fi;
	if (store_account_config(fs->account)->mark_seen)
		store_mailbox_mark_seen(inode->mailbox, inode->uidvalidity,
				inode->uid);
	store_body_wait_init(&o->wait, inode->mailbox, open_fetched, o);
	/* Before the fetch can start (and end, and answer). */
	fuse_req_interrupt_func(req, open_interrupted, o);
	errnum = store_mailbox_body_start(&o->wait, inode->uidvalidity,
			inode->uid, &body);
	if (errnum != EINPROGRESS)
		open_reply(o, errnum, &body);
}

void fs_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		struct fuse_file_info *fi)
{
	struct file_handle *fh = (struct file_handle *)(uintptr_t)fi->fh;
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(0);
	uint64_t length = fh->staged ? fs_staged_size(fh->staged) :
		fh->body.length;
	int fd = fh->staged ? fs_staged_fd(fh->staged) : fh->body.fd;
	uint64_t base = fh->staged ? 0 : fh->body.offset;

	(void)ino;
	if (off < 0 || (uint64_t)off >= length) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	buf.buf[0].size = MIN((uint64_t)size, length - (uint64_t)off);
	buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	buf.buf[0].fd = fd;
	buf.buf[0].pos = (off_t)(base + (uint64_t)off);
	fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

void fs_op_release(fuse_req_t req, fuse_ino_t ino,
		struct fuse_file_info *fi)
{
	struct file_handle *fh = (struct file_handle *)(uintptr_t)fi->fh;

	(void)ino;
	if (!fh->staged)
		close(fh->body.fd);
	g_free(fh);
	fuse_reply_err(req, 0);
}

