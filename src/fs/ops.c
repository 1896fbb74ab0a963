/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * FUSE low-level handlers.  Each one is thin: find the inode, ask the store,
 * turn the answer into exactly one reply.
 */
#include "fs/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "store/changes.h"
#include "store/mailbox.h"

/* Message files never change under their name, so the kernel may keep
 * their attributes and pages for as long as it likes. */
#define MESSAGE_TIMEOUT_S 86400.0
#define NEGATIVE_TIMEOUT_S 1.0

/*
 * Messages left a mailbox: the kernel keeps message names for a day, so it
 * must be told, or it would go on showing them (and, after a UIDVALIDITY
 * change, keep a name bound to the message that used to have that UID).
 * Queued for the notifier thread: this may run inside a request.
 */
static void fs_messages_gone(void *ctx, const char *mailbox,
		const uint32_t *uids, size_t count)
{
	struct imapfs_fs *fs = ctx;
	fuse_ino_t dir;

	if (!fs->notifier)
		return;		/* not mounted yet: nothing cached */
	dir = fs_inodes_find_dir(fs->inodes, mailbox);
	if (!dir)
		return;		/* the kernel holds nothing under it */
	for (size_t i = 0; i < count; i++) {
		char name[NAMES_MESSAGE_FILE_MAX];

		names_format_message_file(uids[i], name);
		fs_notify_inval_entry(fs->notifier, dir, name);
	}
}

static void answer_interrupted(gpointer data, gpointer user_data);

struct imapfs_fs *imapfs_fs_new(struct store_account *account)
{
	struct imapfs_fs *fs = g_new0(struct imapfs_fs, 1);
	const struct store_account_config *cfg =
		store_account_config(account);
	const struct store_observer observer = {
		.messages_gone = fs_messages_gone,
		.ctx = fs,
	};

	fs->account = account;
	fs->inodes = fs_inodes_new(store_account_root(account));
	fs->uid = getuid();
	fs->mounted_at = time(NULL);
	fs->gid = getgid();
	fs->dir_timeout = cfg->refresh_s;
	fs->message_timeout = MESSAGE_TIMEOUT_S;
	fs->negative_timeout = NEGATIVE_TIMEOUT_S;
	fs->interrupted = g_thread_pool_new(answer_interrupted, NULL, 1,
			FALSE, NULL);
	fs->aliases = fs_aliases_new();
	store_account_set_observer(account, &observer);
	return fs;
}

void imapfs_fs_quiesce(struct imapfs_fs *fs)
{
	store_account_quiesce(fs->account);
	if (fs->interrupted) {
		g_thread_pool_free(fs->interrupted, FALSE, TRUE);
		fs->interrupted = NULL;
	}
}

void imapfs_fs_free(struct imapfs_fs **fs)
{
	const struct store_observer none = { 0 };

	if (!*fs)
		return;
	/* The store outlives us (it still logs out), and must not call
	 * back into what is freed here. */
	store_account_set_observer((*fs)->account, &none);
	imapfs_fs_quiesce(*fs);
	fs_notifier_stop(&(*fs)->notifier);
	fs_inodes_free(&(*fs)->inodes);
	fs_aliases_free(&(*fs)->aliases);
	g_free(*fs);
	*fs = NULL;
}

static struct imapfs_fs *req_fs(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* --- attributes ------------------------------------------------------------ */

/* Fills *st and returns how long the kernel may keep it.  A message's
 * size stays uncached until measured: the kernel clips page-cache reads at
 * the size it holds and asks again only once that has expired, so a stale
 * RFC822.SIZE kept for a day would cut reads short (docs/DESIGN.md,
 * "Message sizes"). */
double fs_fill_attr(struct imapfs_fs *fs, struct fs_inode *inode,
		struct stat *st)
{
	bool size_exact;

	memset(st, 0, sizeof(*st));
	st->st_ino = inode->ino;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_blksize = 4096;
	if (inode->kind == FS_INODE_DIR) {
		st->st_mode = S_IFDIR | 0755;
		/* As on disk: ".", the entry in the parent, and each
		 * child's "..", which tools like find rely on. */
		st->st_nlink = 2 + store_node_child_count(fs->account,
				inode->node);
		st->st_mtim.tv_sec = fs->mounted_at;
		st->st_atim = st->st_mtim;
		st->st_ctim = st->st_mtim;
		return fs->dir_timeout;
	}
	st->st_nlink = 1;
	if (inode->kind == FS_INODE_STAGED) {
		/* Being written: changes with every write. */
		st->st_mode = S_IFREG | 0644;
		st->st_size = (off_t)fs_staged_size(inode->staged);
		st->st_blocks = (st->st_size + 511) / 512;
		st->st_mtim.tv_sec = time(NULL);
		st->st_atim = st->st_mtim;
		st->st_ctim = st->st_mtim;
		return 0;
	}
	/* Messages never change (imapfs(1), "Changing things"). */
	st->st_mode = S_IFREG | 0444;
	st->st_size = (off_t)fs_inode_size(fs->inodes, inode, &size_exact);
	st->st_blocks = (st->st_size + 511) / 512;
	st->st_mtim.tv_sec = inode->mtime;
	st->st_atim = st->st_mtim;
	st->st_ctim = st->st_mtim;
	return size_exact ? fs->message_timeout : 0;
}

void fs_fill_entry(struct imapfs_fs *fs, struct fs_inode *inode,
		struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = inode->ino;
	e->generation = inode->kind == FS_INODE_MESSAGE ?
		inode->uidvalidity : 0;
	e->attr_timeout = fs_fill_attr(fs, inode, &e->attr);
	/* A new file's name is looked up again once it is appended, and
	 * then means the message (fs/staged.h). */
	e->entry_timeout = inode->kind == FS_INODE_MESSAGE ?
		fs->message_timeout : inode->kind == FS_INODE_STAGED ? 0 :
		fs->dir_timeout;
}

/* The size st_size must report: the exact length once the bytes are known
 * (fetched now or cached from before), RFC822.SIZE until then. */
static uint64_t message_size(struct store_mailbox *mb, uint32_t uidvalidity,
		const struct msg_entry *entry, bool *exact)
{
	uint64_t size;

	*exact = true;
	if (entry->size_exact)
		return entry->size;
	if (store_mailbox_cached_size(mb, uidvalidity, entry->uid, &size))
		return size;
	*exact = false;
	return entry->size;
}

static struct fs_inode *ref_message(struct imapfs_fs *fs,
		struct store_mailbox *mb, uint32_t uidvalidity,
		const struct msg_entry *entry)
{
	bool exact;
	uint64_t size = message_size(mb, uidvalidity, entry, &exact);

	return fs_inodes_ref_message(fs->inodes, mb, uidvalidity, entry->uid,
			size, exact, entry->internaldate);
}

static int dir_mailbox(struct imapfs_fs *fs, struct fs_inode *dir,
		struct store_mailbox **mb_r)
{
	*mb_r = NULL;
	if (dir->kind != FS_INODE_DIR)
		return ENOTDIR;
	*mb_r = store_node_mailbox(fs->account, dir->node);
	return 0;
}

/* --- interrupts ------------------------------------------------------------ */

/* A request that waits in the store gives up when the kernel interrupts
 * it (a signal to the process that made it); libfuse calls this with the
 * request's lock held, from the thread that read the INTERRUPT. */
static void cancel_on_interrupt(fuse_req_t req, void *data)
{
	(void)req;
	store_cancel_fire(data);
}

static void req_cancel_begin(fuse_req_t req, struct store_cancel *cancel)
{
	store_cancel_init(cancel);
	fuse_req_interrupt_func(req, cancel_on_interrupt, cancel);
}

/* Before the reply: afterwards the request is gone. */
static void req_cancel_end(fuse_req_t req, struct store_cancel *cancel)
{
	fuse_req_interrupt_func(req, NULL, NULL);
	store_cancel_clear(cancel);
}

int fs_reply_errno(int errnum)
{
	return errnum == ECANCELED ? EINTR : errnum;
}

/* --- lookup and attributes ------------------------------------------------- */

/* A message's name: its UID's file name, or one given to it (an alias
 * keeps a name a program chose for a new or moved message, staged.h). */
static bool message_name(struct imapfs_fs *fs, struct fs_inode *dir,
		struct store_mailbox *mb, const char *name,
		struct store_mailbox **mb_r, uint32_t *uid_r)
{
	*mb_r = mb;
	if (names_parse_message_file(name, uid_r))
		return true;
	return fs_alias_get(fs->aliases, dir->node, name, mb_r, uid_r) &&
		*uid_r != 0;
}

static int do_lookup(struct imapfs_fs *fs, struct fs_inode *dir,
		const char *name, struct store_cancel *cancel,
		struct fuse_entry_param *e)
{
	struct store_mailbox *mb, *msg_mb;
	struct store_node *child;
	struct store_message msg;
	uint32_t uid;
	int errnum = dir_mailbox(fs, dir, &mb);

	if (errnum)
		return errnum;
	if (mb && message_name(fs, dir, mb, name, &msg_mb, &uid)) {
		const struct store_account_config *cfg =
			store_account_config(fs->account);

		errnum = store_mailbox_ensure_listed(msg_mb, cfg->refresh_s,
				cancel);
		if (errnum)
			return errnum;
		errnum = store_mailbox_message(msg_mb, uid, &msg);
		if (errnum)
			return errnum;
		fs_fill_entry(fs, ref_message(fs, msg_mb, msg.uidvalidity,
					&msg.entry), e);
		store_message_clear(&msg);
		return 0;
	}
	child = store_node_child(fs->account, dir->node, name);
	if (!child)
		return ENOENT;
	fs_fill_entry(fs, fs_inodes_ref_dir(fs->inodes, child), e);
	return 0;
}

int fs_dir_message(struct imapfs_fs *fs, struct fs_inode *dir,
		const char *name, struct store_mailbox **mailbox_r,
		uint32_t *uidvalidity_r, uint32_t *uid_r)
{
	struct store_mailbox *mb;
	struct store_message msg;
	int errnum = dir_mailbox(fs, dir, &mb);

	if (errnum)
		return errnum;
	if (!mb || !message_name(fs, dir, mb, name, mailbox_r, uid_r))
		return ENOENT;
	errnum = store_mailbox_ensure_listed(*mailbox_r,
			store_account_config(fs->account)->refresh_s, NULL);
	if (errnum)
		return errnum;
	errnum = store_mailbox_message(*mailbox_r, *uid_r, &msg);
	if (errnum)
		return errnum;
	*uidvalidity_r = msg.uidvalidity;
	store_message_clear(&msg);
	return 0;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct imapfs_fs *fs = req_fs(req);
	struct fs_inode *dir = fs_inodes_get(fs->inodes, parent);
	struct fuse_entry_param e;
	struct store_cancel cancel;
	int errnum;

	if (!dir) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	req_cancel_begin(req, &cancel);
	errnum = do_lookup(fs, dir, name, &cancel, &e);
	req_cancel_end(req, &cancel);
	if (errnum == ENOENT) {
		/* A cached "no such name", briefly: new mail may take it. */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = fs->negative_timeout;
		fuse_reply_entry(req, &e);
		return;
	}
	if (errnum)
		fuse_reply_err(req, fs_reply_errno(errnum));
	else
		fuse_reply_entry(req, &e);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	fs_inodes_forget(req_fs(req)->inodes, ino, nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count,
		struct fuse_forget_data *forgets)
{
	struct imapfs_fs *fs = req_fs(req);

	for (size_t i = 0; i < count; i++)
		fs_inodes_forget(fs->inodes, forgets[i].ino,
				forgets[i].nlookup);
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino,
		struct fuse_file_info *fi)
{
	struct imapfs_fs *fs = req_fs(req);
	struct fs_inode *inode = fs_inodes_get(fs->inodes, ino);
	struct stat st;
	double timeout;

	(void)fi;
	if (!inode) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	timeout = fs_fill_attr(fs, inode, &st);
	fuse_reply_attr(req, &st, timeout);
}

/* --- directories ------------------------------------------------------------ */

/* What a directory held when it was opened, so that offsets stay
 * meaningful across readdir calls. */
struct dir_handle {
	GPtrArray *children;		/* struct store_node * */
	GArray *messages;		/* struct msg_entry */
	struct store_mailbox *mailbox;	/* NULL if not selectable */
	uint32_t uidvalidity;
};

static void op_opendir(fuse_req_t req, fuse_ino_t ino,
		struct fuse_file_info *fi)
{
	struct imapfs_fs *fs = req_fs(req);
	const struct store_account_config *cfg =
		store_account_config(fs->account);
	struct fs_inode *inode = fs_inodes_get(fs->inodes, ino);
	struct store_cancel cancel;
	struct dir_handle *dh;
	struct store_mailbox *mb;
	int errnum;

	if (!inode) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	errnum = dir_mailbox(fs, inode, &mb);
	if (errnum) {
		fuse_reply_err(req, errnum);
		return;
	}
	req_cancel_begin(req, &cancel);
	errnum = store_account_refresh_tree(fs->account, &cancel);
	if (errnum == 0 && mb)
		errnum = store_mailbox_ensure_listed(mb, cfg->refresh_s,
				&cancel);
	req_cancel_end(req, &cancel);
	if (errnum) {
		fuse_reply_err(req, fs_reply_errno(errnum));
		return;
	}
	dh = g_new0(struct dir_handle, 1);
	dh->children = store_node_children(fs->account, inode->node);
	dh->mailbox = mb;
	if (mb)
		dh->messages = store_mailbox_snapshot(mb, &dh->uidvalidity);
	else
		dh->messages = g_array_new(FALSE, FALSE,
				sizeof(struct msg_entry));
	fi->fh = (uint64_t)(uintptr_t)dh;
	if (fuse_reply_open(req, fi) == -ENOENT) {
		/* Interrupted: releasedir will not come. */
		g_ptr_array_unref(dh->children);
		g_array_unref(dh->messages);
		g_free(dh);
	}
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
		off_t offset, struct fuse_file_info *fi, bool plus)
{
	struct imapfs_fs *fs = req_fs(req);
	struct dir_handle *dh = (struct dir_handle *)(uintptr_t)fi->fh;
	struct fs_inode *self = fs_inodes_get(fs->inodes, ino);
	size_t nchildren = dh->children->len;
	size_t total = 2 + nchildren + dh->messages->len;
	char *buf = g_malloc(size);
	size_t used = 0;

	for (size_t i = (size_t)MAX(offset, 0); i < total; i++) {
		char name_buf[NAMES_MESSAGE_FILE_MAX];
		struct fuse_entry_param e;
		struct fs_inode *inode = NULL;
		const char *name;
		size_t need;

		memset(&e, 0, sizeof(e));
		if (i < 2) {
			name = i == 0 ? "." : "..";
			/* Dot entries carry no lookup (ino 0 in plus mode). */
			e.attr.st_mode = S_IFDIR;
			e.attr.st_ino = i == 0 && self ? self->ino :
				fs_inode_dir_number(self && self->node->parent ?
						self->node->parent : self->node);
		} else if (i < 2 + nchildren) {
			struct store_node *child = g_ptr_array_index(
					dh->children, i - 2);

			name = child->display;
			if (plus) {
				inode = fs_inodes_ref_dir(fs->inodes, child);
				fs_fill_entry(fs, inode, &e);
			} else {
				e.attr.st_mode = S_IFDIR;
				e.attr.st_ino = fs_inode_dir_number(child);
			}
		} else {
			const struct msg_entry *entry = &g_array_index(
					dh->messages, struct msg_entry,
					i - 2 - nchildren);

			names_format_message_file(entry->uid, name_buf);
			name = name_buf;
			if (plus) {
				inode = ref_message(fs, dh->mailbox,
						dh->uidvalidity, entry);
				fs_fill_entry(fs, inode, &e);
			} else {
				e.attr.st_mode = S_IFREG;
				e.attr.st_ino = fs_inode_message_number(
						dh->mailbox, dh->uidvalidity,
						entry->uid);
			}
		}
		if (plus)
			need = fuse_add_direntry_plus(req, buf + used,
					size - used, name, &e, (off_t)i + 1);
		else
			need = fuse_add_direntry(req, buf + used, size - used,
					name, &e.attr, (off_t)i + 1);
		if (need > size - used) {
			/* Did not fit: the kernel will not count it. */
			if (inode)
				fs_inodes_forget(fs->inodes, inode->ino, 1);
			break;
		}
		used += need;
	}
	fuse_reply_buf(req, buf, used);
	g_free(buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
		off_t offset, struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, offset, fi, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
		off_t offset, struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, offset, fi, true);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino,
		struct fuse_file_info *fi)
{
	struct dir_handle *dh = (struct dir_handle *)(uintptr_t)fi->fh;

	(void)ino;
	g_ptr_array_unref(dh->children);
	g_array_unref(dh->messages);
	g_free(dh);
	fuse_reply_err(req, 0);
}

/* --- files ---------------------------------------------------------------- */

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

static void answer_interrupted(gpointer data, gpointer user_data)
{
	(void)user_data;
	open_reply(data, ECANCELED, NULL);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct imapfs_fs *fs = req_fs(req);
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

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
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

static void op_release(fuse_req_t req, fuse_ino_t ino,
		struct fuse_file_info *fi)
{
	struct file_handle *fh = (struct file_handle *)(uintptr_t)fi->fh;

	(void)ino;
	if (!fh->staged)
		close(fh->body.fd);
	g_free(fh);
	fuse_reply_err(req, 0);
}

/* --- extended attributes -------------------------------------------------- */

static void reply_xattr_value(fuse_req_t req, size_t size, GString *value)
{
	/* The size probe: 0 asks how big; too small is ERANGE. */
	if (size == 0)
		fuse_reply_xattr(req, value->len);
	else if (size < value->len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, value->str, value->len);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		size_t size)
{
	struct imapfs_fs *fs = req_fs(req);
	struct fs_inode *inode = fs_inodes_get(fs->inodes, ino);
	g_autoptr(GString) value = g_string_new(NULL);
	struct store_cancel cancel;
	int errnum;

	if (!inode) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	req_cancel_begin(req, &cancel);
	errnum = fs_xattr_get(fs, inode, &cancel, name, value);
	req_cancel_end(req, &cancel);
	if (errnum)
		fuse_reply_err(req, fs_reply_errno(errnum));
	else
		reply_xattr_value(req, size, value);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct imapfs_fs *fs = req_fs(req);
	struct fs_inode *inode = fs_inodes_get(fs->inodes, ino);
	g_autoptr(GString) names = g_string_new(NULL);
	struct store_cancel cancel;
	int errnum;

	if (!inode) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	req_cancel_begin(req, &cancel);
	errnum = fs_xattr_list(fs, inode, &cancel, names);
	req_cancel_end(req, &cancel);
	if (errnum)
		fuse_reply_err(req, fs_reply_errno(errnum));
	else
		reply_xattr_value(req, size, names);
}

/* setxattr, or removexattr when remove. */
static void change_xattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		const char *value, size_t size, int flags, bool remove)
{
	struct imapfs_fs *fs = req_fs(req);
	struct fs_inode *inode = fs_inodes_get(fs->inodes, ino);
	struct store_cancel cancel;
	int errnum;

	if (!inode) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	req_cancel_begin(req, &cancel);
	errnum = remove ? fs_xattr_remove(fs, inode, &cancel, name) :
		fs_xattr_set(fs, inode, &cancel, name, value, size, flags);
	req_cancel_end(req, &cancel);
	fuse_reply_err(req, fs_reply_errno(errnum));
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		const char *value, size_t size, int flags)
{
	change_xattr(req, ino, name, value, size, flags, false);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	change_xattr(req, ino, name, NULL, 0, 0, true);
}

/* --- the rest ------------------------------------------------------------- */

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs st;

	(void)ino;
	memset(&st, 0, sizeof(st));
	st.f_bsize = 4096;
	st.f_frsize = 4096;
	st.f_namemax = 255;
	fuse_reply_statfs(req, &st);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE;
	/* New messages go from the kernel's pipe into their staging file
	 * (write_buf) without passing through our memory. */
	if (conn->capable & FUSE_CAP_SPLICE_READ)
		conn->want |= FUSE_CAP_SPLICE_READ;
	/* Message files are immutable: nothing for the kernel to
	 * invalidate on an mtime change. */
	conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
}

/* Device nodes, symbolic and hard links have no meaning in a mailbox. */
static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		mode_t mode, dev_t rdev)
{
	(void)parent;
	(void)name;
	(void)rdev;
	(void)mode;
	/* New files come through create, which the kernel always uses
	 * since we have it. */
	fuse_reply_err(req, EPERM);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		const char *name)
{
	(void)link;
	(void)parent;
	(void)name;
	fuse_reply_err(req, EPERM);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		const char *newname)
{
	(void)ino;
	(void)newparent;
	(void)newname;
	fuse_reply_err(req, EPERM);
}

const struct fuse_lowlevel_ops imapfs_fs_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = fs_op_setattr,
	.mknod = op_mknod,
	.mkdir = fs_op_mkdir,
	.unlink = fs_op_unlink,
	.rmdir = fs_op_rmdir,
	.symlink = op_symlink,
	.rename = fs_op_rename,
	.link = op_link,
	.create = fs_op_create,
	.write_buf = fs_op_write_buf,
	.flush = fs_op_flush,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.releasedir = op_releasedir,
	.open = op_open,
	.read = op_read,
	.release = op_release,
	.statfs = op_statfs,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.setxattr = op_setxattr,
	.removexattr = op_removexattr,
};
