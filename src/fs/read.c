/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Opening and reading message files: from the cache, or once the store's
 * threads have fetched the body; and the new files being written
 * (fs/staged.h).
 *
 * An open of a message learns its exact length before it returns (the
 * body is fetched, or found in the cache), and says NOFLUSH: close() of a
 * message costs the reader no round trip, and the kernel may cache an
 * announced size like any other attribute, since no read can happen
 * before an open has corrected it (docs/DESIGN.md, "Message sizes").
 * The one exception is the start of a big message, served before its body
 * is whole: that open reads past the page cache.  Under -o ro there are
 * no opens (fs.h, without_open): the first READ measures instead.
 */
#include "fs/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "log.h"
#include "store/changes.h"
#include "store/mailbox.h"

enum body_purpose {
	BODY_FOR_OPEN,
	BODY_FOR_READ,
	BODY_FOR_GETATTR,
	BODY_FOR_RANGE,		/* a READ served before its body is whole */
};

/* A message at least this big (by its listed size) is not waited for
 * whole by a read of its start: head -c 1000 of 50 MB takes a round
 * trip, not the whole download. */
#define RANGE_MIN (1u << 20)

/*
 * A request whose body is not cached is answered from one of the store's
 * threads when the fetch ends, or with EINTR when the kernel interrupts
 * it first: the request holds no thread while it waits, so cached reads
 * keep going however many fetches are in flight (docs/DESIGN.md,
 * "Threads").
 */
struct body_request {
	struct store_body_wait wait;
	struct store_range_wait range;	/* RANGE */
	struct imapfs_fs *fs;
	fuse_req_t req;
	fuse_ino_t ino;
	struct fs_inode *inode;		/* the kernel holds it meanwhile */
	enum body_purpose purpose;
	struct fuse_file_info fi;	/* OPEN */
	size_t size;			/* READ */
	off_t off;			/* READ */
};

/* splice only from libfuse's own threads: it gives each thread that
 * splices a pipe, which it frees at exit for its threads alone. */
static void reply_data(fuse_req_t req, int fd, uint64_t base,
		uint64_t length, size_t size, off_t off, bool splice)
{
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(0);

	if (off < 0 || (uint64_t)off >= length) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	buf.buf[0].size = MIN((uint64_t)size, length - (uint64_t)off);
	buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	buf.buf[0].fd = fd;
	buf.buf[0].pos = (off_t)(base + (uint64_t)off);
	fuse_reply_data(req, &buf, splice ? FUSE_BUF_SPLICE_MOVE :
			FUSE_BUF_NO_SPLICE);
}

enum length_news {
	LENGTH_AS_ANNOUNCED,
	LENGTH_TOLD,		/* differs; the kernel has been told */
	LENGTH_SHORTER_UNTOLD,	/* shorter; tell after the short READ */
};

/*
 * The bytes are known: their length becomes the file's size.  RFC822.SIZE
 * can be wrong (RFC 3501 §2.3.4 makes it a property of the message, but
 * servers compute it before conversions): the bytes win, and the kernel,
 * which may hold the old size, is told before this request is answered,
 * so that the fstat() or read() after an open asks for the new one; its
 * pages follow later, from the notifier.
 *
 * A READ's reply (for_read) is different.  When the body ends short of
 * the size the kernel holds, the kernel shrinks the size itself as it
 * takes the reply, and zero-fills the pages beyond, but only when nothing
 * changed the inode's attributes since it sent the READ; telling it first
 * would leave those zeros inside the old size, for this very read to
 * return: the caller tells it after the reply.  When the body is longer,
 * the size is invalidated before the reply, so that the reader's next
 * read() past the old end asks for it, but the pages are not: the new
 * size drops them anyway, and a notification racing with that GETATTR
 * would make the kernel discard its answer and end the file early.
 * A GETATTR's reply carries the size itself, and a notification before
 * it would have the kernel discard it just the same: nothing is said.
 */
static enum length_news learn_length(struct imapfs_fs *fs, fuse_ino_t ino,
		struct fs_inode *inode, uint64_t length,
		enum body_purpose purpose)
{
	uint64_t announced;
	bool exact;

	announced = fs_inode_size(fs->inodes, inode, &exact);
	if (!exact)
		fs_inode_set_size(fs->inodes, inode, length);
	if (length == announced)
		return LENGTH_AS_ANNOUNCED;
	log_debug(LOG_AREA_FUSE, "UID %u: %" G_GUINT64_FORMAT " bytes, not %"
			G_GUINT64_FORMAT, inode->uid, length, announced);
	if (purpose == BODY_FOR_GETATTR)
		return LENGTH_TOLD;
	if (purpose == BODY_FOR_READ && length < announced)
		return LENGTH_SHORTER_UNTOLD;
	if (fs->notifier) {
		fs_notify_inval_attr_now(fs->notifier, ino);
		if (purpose == BODY_FOR_OPEN)
			fs_notify_inval_inode(fs->notifier, ino);
	}
	return LENGTH_TOLD;
}

void fs_handle_free(gpointer p)
{
	struct file_handle *fh = p;

	close(fh->body.fd);
	g_free(fh);
}

static void handle_forget(struct imapfs_fs *fs, struct file_handle *fh)
{
	g_mutex_lock(&fs->handles_lock);
	g_hash_table_remove(fs->handles, fh);
	g_mutex_unlock(&fs->handles_lock);
}

static void reply_open(struct body_request *o, struct body_cache_entry *body)
{
	struct file_handle *fh = g_new0(struct file_handle, 1);

	fh->body = *body;
	g_mutex_lock(&o->fs->handles_lock);
	g_hash_table_add(o->fs->handles, fh);
	g_mutex_unlock(&o->fs->handles_lock);
	o->fi.fh = (uint64_t)(uintptr_t)fh;
	/* A size found wrong: this open bypasses the page cache, which may
	 * hold pages cut at the old size. */
	if (learn_length(o->fs, o->ino, o->inode, body->length,
				BODY_FOR_OPEN) ==
			LENGTH_AS_ANNOUNCED)
		o->fi.keep_cache = 1;
	else
		o->fi.direct_io = 1;
	/* Nothing to do at close (flush is for new files, write.c): the
	 * kernel need not ask, once per close of every message read.
	 * RELEASE still comes, but close() does not wait for it. */
	o->fi.noflush = 1;
	if (fuse_reply_open(o->req, &o->fi) == -ENOENT)
		handle_forget(o->fs, fh);
}

static void reply_read(struct body_request *r, struct fs_body *body,
		bool splice)
{
	reply_data(r->req, body->entry.fd, body->entry.offset,
			body->entry.length, r->size, r->off, splice);
}

static void reply_getattr(struct body_request *g)
{
	struct stat st;
	double timeout = fs_fill_attr(g->fs, g->inode, &st);

	fuse_reply_attr(g->req, &st, timeout);
}

/* async: on one of the store's threads, not libfuse's. */
static void body_reply(struct body_request *r, int errnum,
		struct body_cache_entry *entry, bool async)
{
	struct imapfs_fs *fs = r->fs;
	enum length_news news;
	struct fs_body *body;

	/* From here on the interrupt callback does not run. */
	fuse_req_interrupt_func(r->req, NULL, NULL);
	if (errnum) {
		/* Another UIDVALIDITY: the message this name meant is gone. */
		fuse_reply_err(r->req, errnum == ESTALE ? ENOENT :
				errnum == ECANCELED ? EINTR : errnum);
		g_free(r);
		return;
	}
	if (r->purpose == BODY_FOR_OPEN) {
		reply_open(r, entry);
		g_free(r);
		return;
	}
	news = learn_length(fs, r->ino, r->inode, entry->length, r->purpose);
	body = fs_bodies_add(fs->bodies, r->ino, r->inode->uidvalidity,
			r->inode->uid, entry);
	if (r->purpose == BODY_FOR_READ)
		reply_read(r, body, !async);
	else
		reply_getattr(r);
	/* Should the kernel not have shrunk it (its attributes changed
	 * meanwhile), the next stat or read asks for the size again. */
	if (news == LENGTH_SHORTER_UNTOLD && fs->notifier)
		fs_notify_inval_inode(fs->notifier, r->ino);
	fs_bodies_put(fs->bodies, body);
	g_free(r);
}

static void body_fetched(struct store_body_wait *wait, int errnum,
		struct body_cache_entry *body)
{
	body_reply(wait->ctx, errnum, body, true);
}

/* Called by libfuse with the request's lock held, so it only detaches the
 * request from the fetch and leaves the answer to another thread. */
static void body_interrupted(fuse_req_t req, void *data)
{
	struct body_request *r = data;
	bool detached = r->purpose == BODY_FOR_RANGE ?
		store_range_wait_cancel(&r->range) :
		store_body_wait_cancel(&r->wait);

	(void)req;
	if (detached)
		g_thread_pool_push(r->fs->interrupted, r, NULL);
}

static void range_fetched(struct store_range_wait *wait, int errnum,
		const void *data, size_t len)
{
	struct body_request *r = wait->ctx;

	fuse_req_interrupt_func(r->req, NULL, NULL);
	if (errnum)
		fuse_reply_err(r->req, errnum == ESTALE ? ENOENT : errnum);
	else
		fuse_reply_buf(r->req, data, MIN(len, r->size));
	g_free(r);
}

void fs_answer_interrupted(gpointer data, gpointer user_data)
{
	(void)user_data;
	body_reply(data, ECANCELED, NULL, true);
}

static struct body_request *body_request_new(struct imapfs_fs *fs,
		fuse_req_t req, fuse_ino_t ino, struct fs_inode *inode,
		enum body_purpose purpose)
{
	struct body_request *r = g_new0(struct body_request, 1);

	r->fs = fs;
	r->req = req;
	r->ino = ino;
	r->inode = inode;
	r->purpose = purpose;
	return r;
}

/* Answers r now, or from the fetch when it ends. */
static void body_request_start(struct body_request *r)
{
	struct body_cache_entry body;
	int errnum;

	store_body_wait_init(&r->wait, r->inode->mailbox, body_fetched, r);
	/* Before the fetch can start (and end, and answer). */
	fuse_req_interrupt_func(r->req, body_interrupted, r);
	errnum = store_mailbox_body_start(&r->wait, r->inode->uidvalidity,
			r->inode->uid, &body);
	if (errnum != EINPROGRESS)
		body_reply(r, errnum, &body, false);
}

static bool start_of_big_message(struct imapfs_fs *fs, struct fs_inode *inode)
{
	uint64_t length;
	bool exact;

	return fs_inode_size(fs->inodes, inode, &exact) >= RANGE_MIN &&
		!store_mailbox_cached_size(inode->mailbox, inode->uidvalidity,
				inode->uid, &length);
}

void fs_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct imapfs_fs *fs = fuse_req_userdata(req);
	struct fs_inode *inode = fs_inodes_get(fs->inodes, ino);
	bool mark_seen;
	struct body_request *o;

	if (!inode) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	if (inode->kind == FS_INODE_DIR) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	if (inode->kind == FS_INODE_STAGED) {
		/* The new file, opened again before it is appended: found
		 * by its inode, like every new file (write.c, create). */
		fi->direct_io = 1;
		fi->fh = 0;
		fuse_reply_open(req, fi);
		return;
	}
	if (fs->without_open) {
		/* From now on the kernel opens every file itself, keeps
		 * its pages and sends neither FLUSH nor RELEASE. */
		fuse_reply_err(req, ENOSYS);
		return;
	}
	/* IMAP messages are immutable (RFC 3501 §2.3). */
	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	fs_push_after(fs->pusher, inode->mailbox, inode->uidvalidity,
			inode->uid);
	mark_seen = store_account_config(fs->account)->mark_seen;
	if (mark_seen)
		store_mailbox_mark_seen(inode->mailbox, inode->uidvalidity,
				inode->uid);
	if (start_of_big_message(fs, inode)) {
		/* Not waited for whole: its reads go past the page cache,
		 * which a wrong announced size would clip, and the size is
		 * asked for again, so that fstat() waits for the exact one
		 * (fs_getattr_of_reader) while head -c does not. */
		if (fs->notifier)
			fs_notify_inval_attr_now(fs->notifier, ino);
		fi->fh = 0;
		fi->direct_io = 1;
		fi->noflush = 1;
		fuse_reply_open(req, fi);
		return;
	}
	o = body_request_new(fs, req, ino, inode, BODY_FOR_OPEN);
	o->fi = *fi;
	body_request_start(o);
}

void fs_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		struct fuse_file_info *fi)
{
	struct imapfs_fs *fs = fuse_req_userdata(req);
	struct file_handle *fh = (struct file_handle *)(uintptr_t)fi->fh;
	struct fs_inode *inode;
	struct fs_body *body;
	struct body_request *r;

	if (fh) {
		reply_data(req, fh->body.fd, fh->body.offset,
				fh->body.length, size, off, true);
		return;
	}
	/* The start of a big message (see open), or a new file. */
	inode = fs_inodes_get(fs->inodes, ino);
	if (!inode) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	if (inode->kind == FS_INODE_STAGED) {
		reply_data(req, fs_staged_fd(inode->staged), 0,
				fs_staged_size(inode->staged), size, off, true);
		return;
	}
	if (inode->kind != FS_INODE_MESSAGE) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	fs_push_after(fs->pusher, inode->mailbox, inode->uidvalidity,
			inode->uid);
	body = fs_bodies_get(fs->bodies, ino, inode->uidvalidity, inode->uid);
	if (body) {
		reply_data(req, body->entry.fd, body->entry.offset,
				body->entry.length, size, off, true);
		fs_bodies_put(fs->bodies, body);
		return;
	}
	if (off == 0 && start_of_big_message(fs, inode)) {
		struct store_mailbox *mb = inode->mailbox;
		uint32_t uidvalidity = inode->uidvalidity, uid = inode->uid;

		/* Its first bytes now, the whole of it into the cache; the
		 * first bytes first, so that they get the connection that
		 * has the mailbox selected, and the whole body the one
		 * opened next (the inode may be gone once they are
		 * answered). */
		r = body_request_new(fs, req, ino, inode, BODY_FOR_RANGE);
		r->size = size;
		r->range.done = range_fetched;
		r->range.ctx = r;
		fuse_req_interrupt_func(req, body_interrupted, r);
		store_mailbox_range_start(&r->range, mb, uidvalidity, uid, 0,
				(uint32_t)MIN(size, UINT32_MAX));
		store_mailbox_body_prefetch(mb, uidvalidity, uid);
		return;
	}
	r = body_request_new(fs, req, ino, inode, BODY_FOR_READ);
	r->size = size;
	r->off = off;
	body_request_start(r);
}

void fs_getattr_of_reader(fuse_req_t req, fuse_ino_t ino,
		struct fs_inode *inode)
{
	struct imapfs_fs *fs = fuse_req_userdata(req);

	body_request_start(body_request_new(fs, req, ino, inode,
				BODY_FOR_GETATTR));
}

void fs_op_release(fuse_req_t req, fuse_ino_t ino,
		struct fuse_file_info *fi)
{
	struct file_handle *fh = (struct file_handle *)(uintptr_t)fi->fh;

	(void)ino;
	if (fh)
		handle_forget(fuse_req_userdata(req), fh);
	fuse_reply_err(req, 0);
}
