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
/* Bodies kept open for reads without an open (fs/bodies.h): more than
 * the files a few parallel readers have in hand at once. */
#define BODIES_KEPT 64

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

static void dir_handle_free(gpointer data);

struct imapfs_fs *imapfs_fs_new(struct store_account *account,
		bool read_only)
{
	struct imapfs_fs *fs = g_new0(struct imapfs_fs, 1);
	const struct store_account_config *cfg =
		store_account_config(account);
	const struct store_observer observer = {
		.messages_gone = fs_messages_gone,
		.ctx = fs,
	};

	fs->account = account;
	/* Opens are where -o seen marks messages; ro turns seen off
	 * (options.c), and the two must never meet. */
	fs->without_open = read_only && !cfg->mark_seen;
	fs->inodes = fs_inodes_new(store_account_root(account));
	fs->uid = getuid();
	fs->mounted_at = time(NULL);
	fs->gid = getgid();
	fs->dir_timeout = cfg->refresh_s;
	fs->message_timeout = MESSAGE_TIMEOUT_S;
	fs->negative_timeout = NEGATIVE_TIMEOUT_S;
	fs->interrupted = g_thread_pool_new(fs_answer_interrupted, NULL, 1,
			FALSE, NULL);
	fs->aliases = fs_aliases_new();
	fs->bodies = fs_bodies_new(BODIES_KEPT);
	g_mutex_init(&fs->handles_lock);
	fs->handles = g_hash_table_new_full(NULL, NULL, fs_handle_free,
			NULL);
	fs->dir_handles = g_hash_table_new_full(NULL, NULL, dir_handle_free,
			NULL);
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

void imapfs_fs_halt_writers(void *data)
{
	struct imapfs_fs *fs = data;

	fs_pusher_halt(fs->pusher);
	fs_notifier_halt(fs->notifier);
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
	fs_pusher_stop(&(*fs)->pusher);
	fs_notifier_stop(&(*fs)->notifier);
	fs_inodes_free(&(*fs)->inodes);
	fs_aliases_free(&(*fs)->aliases);
	fs_bodies_free(&(*fs)->bodies);
	g_hash_table_destroy((*fs)->handles);
	g_hash_table_destroy((*fs)->dir_handles);
	g_mutex_clear(&(*fs)->handles_lock);
	g_free(*fs);
	*fs = NULL;
}

static struct imapfs_fs *req_fs(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* --- attributes ------------------------------------------------------------ */

/* Fills *st and returns how long the kernel may keep it.  A message's
 * announced size (RFC822.SIZE) is kept as long as a measured one: the
 * kernel clips page-cache reads at the size it holds, but every read
 * follows an open, and an open measures the size and tells the kernel
 * when it was wrong before it returns (read.c; docs/DESIGN.md, "Message
 * sizes").  Without opens (-o ro), the first read measures it instead,
 * and the kernel is told before that read is answered. */
double fs_fill_attr(struct imapfs_fs *fs, struct fs_inode *inode,
		struct stat *st)
{
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
	st->st_size = (off_t)fs_inode_size(fs->inodes, inode, NULL);
	st->st_blocks = (st->st_size + 511) / 512;
	st->st_mtim.tv_sec = inode->mtime;
	st->st_atim = st->st_mtim;
	st->st_ctim = st->st_mtim;
	return fs->message_timeout;
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

/*
 * The message a name in a mailbox directory means: the UID it names
 * ("4711.eml"), when the mailbox has that UID; else the message a
 * program gave the name to (an alias, staged.h).  A real message always
 * wins, and an alias may even look like a UID's name: a UID that the
 * mailbox does not have now is below UIDNEXT or will be given to another
 * message, which then takes the name back.  0 and *msg (clear it), or an
 * errno.
 */
static int find_message(struct imapfs_fs *fs, struct fs_inode *dir,
		const char *name, struct store_cancel *cancel,
		struct store_mailbox **mb_r, struct store_message *msg,
		bool *by_alias_r)
{
	int refresh_s = store_account_config(fs->account)->refresh_s;
	struct store_mailbox *mb;
	uint32_t uid;
	int errnum = dir_mailbox(fs, dir, &mb);

	*by_alias_r = false;
	if (errnum)
		return errnum;
	if (!mb)
		return ENOENT;
	if (names_parse_message_file(name, &uid)) {
		errnum = store_mailbox_ensure_listed(mb, refresh_s, cancel);
		if (errnum)
			return errnum;
		if (store_mailbox_message(mb, uid, msg) == 0) {
			*mb_r = mb;
			return 0;
		}
	}
	if (!fs_alias_get(fs->aliases, dir->node, name, mb_r, &uid) ||
			uid == 0)
		return ENOENT;
	errnum = store_mailbox_ensure_listed(*mb_r, refresh_s, cancel);
	if (errnum)
		return errnum;
	errnum = store_mailbox_message(*mb_r, uid, msg);
	*by_alias_r = errnum == 0;
	return errnum;
}

static int do_lookup(struct imapfs_fs *fs, struct fs_inode *dir,
		const char *name, struct store_cancel *cancel,
		struct fuse_entry_param *e)
{
	struct store_mailbox *msg_mb;
	struct store_node *child;
	struct store_message msg;
	bool by_alias;
	int errnum;

	if (dir->kind != FS_INODE_DIR)
		return ENOTDIR;
	child = store_node_child(fs->account, dir->node, name);
	if (child) {
		fs_fill_entry(fs, fs_inodes_ref_dir(fs->inodes, child), e);
		return 0;
	}
	errnum = find_message(fs, dir, name, cancel, &msg_mb, &msg,
			&by_alias);
	if (errnum)
		return errnum;
	fs_fill_entry(fs, ref_message(fs, msg_mb, msg.uidvalidity,
				&msg.entry), e);
	store_message_clear(&msg);
	return 0;
}

int fs_dir_message(struct imapfs_fs *fs, struct fs_inode *dir,
		const char *name, struct store_mailbox **mailbox_r,
		uint32_t *uidvalidity_r, uint32_t *uid_r, bool *by_alias_r)
{
	struct store_message msg;
	int errnum = find_message(fs, dir, name, NULL, mailbox_r, &msg,
			by_alias_r);

	if (errnum)
		return errnum;
	*uidvalidity_r = msg.uidvalidity;
	*uid_r = msg.entry.uid;
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
	bool exact;

	if (!inode) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	if (fi && inode->kind == FS_INODE_MESSAGE &&
			(fs_inode_size(fs->inodes, inode, &exact), !exact)) {
		fs_getattr_of_reader(req, ino, inode);
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

static void dir_handle_free(gpointer data)
{
	struct dir_handle *dh = data;

	g_ptr_array_unref(dh->children);
	g_array_unref(dh->messages);
	g_free(dh);
}

/* Released, or never given out (then no RELEASEDIR comes). */
static void forget_dir_handle(struct imapfs_fs *fs, struct dir_handle *dh)
{
	g_mutex_lock(&fs->handles_lock);
	g_hash_table_remove(fs->dir_handles, dh);
	g_mutex_unlock(&fs->handles_lock);
}

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
	g_mutex_lock(&fs->handles_lock);
	g_hash_table_add(fs->dir_handles, dh);
	g_mutex_unlock(&fs->handles_lock);
	if (fuse_reply_open(req, fi) == -ENOENT)	/* interrupted */
		forget_dir_handle(fs, dh);
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
	(void)ino;
	forget_dir_handle(req_fs(req),
			(struct dir_handle *)(uintptr_t)fi->fh);
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
	/* Always READDIRPLUS, not only when the kernel guesses that stat
	 * will follow: a walk (grep -r, rg, tar) then gets each message's
	 * entry with a few hundred others instead of a LOOKUP each. */
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE;
	/* New messages go from the kernel's pipe into their staging file
	 * (write_buf) without passing through our memory. */
	if (conn->capable & FUSE_CAP_SPLICE_READ)
		conn->want |= FUSE_CAP_SPLICE_READ;
	/* Message files are immutable: nothing for the kernel to
	 * invalidate on an mtime change. */
	conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
	/* An O_TRUNC comes as a SETATTR of the size, which a message
	 * refuses, not folded into an OPEN. */
	conn->want &= ~FUSE_CAP_ATOMIC_O_TRUNC;
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
	.open = fs_op_open,
	.read = fs_op_read,
	.release = fs_op_release,
	.statfs = op_statfs,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.setxattr = op_setxattr,
	.removexattr = op_removexattr,
};
