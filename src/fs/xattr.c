/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Flags and metadata as extended attributes (imapfs(1), "Extended
 * attributes").  Every attribute of an inode is computed in one place,
 * attrs_collect(), so that getxattr, listxattr and getfattr -d can never
 * disagree.
 */
#include "fs/fs.h"

#include <errno.h>
#include <linux/limits.h>
#include <string.h>

#include <sys/xattr.h>

#include "fs/staged.h"
#include "imap/datetime.h"
#include "store/changes.h"
#include "store/mailbox.h"

#define XATTR_PREFIX "user.imap."
#define XATTR_KEYWORD_PREFIX XATTR_PREFIX "keyword."

static const struct {
	const char *name;
	uint8_t bit;
} flag_attrs[] = {
	{ XATTR_PREFIX "seen", MSG_FLAG_SEEN },
	{ XATTR_PREFIX "answered", MSG_FLAG_ANSWERED },
	{ XATTR_PREFIX "flagged", MSG_FLAG_FLAGGED },
	{ XATTR_PREFIX "deleted", MSG_FLAG_DELETED },
	{ XATTR_PREFIX "draft", MSG_FLAG_DRAFT },
};

/* Attributes that may be written: the flags. */
static bool is_flag_attr(const char *name)
{
	if (strcmp(name, XATTR_PREFIX "flags") == 0 ||
			g_str_has_prefix(name, XATTR_KEYWORD_PREFIX))
		return true;
	for (size_t i = 0; i < G_N_ELEMENTS(flag_attrs); i++) {
		if (strcmp(name, flag_attrs[i].name) == 0)
			return true;
	}
	return false;
}

struct attrs {
	GPtrArray *names;	/* char *, owned */
	GPtrArray *values;	/* char *, owned */
};

static void attrs_add(struct attrs *a, const char *name, char *value)
{
	g_ptr_array_add(a->names, g_strdup(name));
	g_ptr_array_add(a->values, value);
}

/*
 * A keyword is an attribute only if its name is one Linux can pass
 * (XATTR_NAME_MAX bytes, prefix included) and holds no control byte, which
 * would garble what getfattr and shells print.  Anything else the server
 * sends shows only in user.imap.flags, if there (imapfs(1), "Extended
 * attributes").
 */
static bool keyword_is_attr(const char *keyword)
{
	const unsigned char *c = (const unsigned char *)keyword;

	if (strlen(XATTR_KEYWORD_PREFIX) + strlen(keyword) > XATTR_NAME_MAX)
		return false;
	for (; *c; c++) {
		if (*c < 0x20 || *c == 0x7f)
			return false;
	}
	return true;
}

/* The flags as one value Linux can return (XATTR_SIZE_MAX): items are
 * space-free, so those that do not fit are simply left out. */
static char *flags_value(const char *flags)
{
	g_auto(GStrv) items = NULL;
	GString *out;

	if (strlen(flags) <= XATTR_SIZE_MAX)
		return g_strdup(flags);
	items = g_strsplit(flags, " ", -1);
	out = g_string_new(NULL);
	for (char **it = items; *it; it++) {
		size_t need = strlen(*it) + (out->len ? 1 : 0);

		if (out->len + need > XATTR_SIZE_MAX)
			continue;
		if (out->len)
			g_string_append_c(out, ' ');
		g_string_append(out, *it);
	}
	return g_string_free(out, FALSE);
}

/* Keep the list of names within what listxattr may return
 * (XATTR_LIST_MAX): keyword attributes go first, from the last. */
static void attrs_fit_list(struct attrs *a)
{
	size_t total = 0;

	for (guint i = 0; i < a->names->len; i++)
		total += strlen(g_ptr_array_index(a->names, i)) + 1;
	for (guint i = a->names->len; i-- > 0 && total > XATTR_LIST_MAX;) {
		const char *name = g_ptr_array_index(a->names, i);

		if (!g_str_has_prefix(name, XATTR_KEYWORD_PREFIX))
			continue;
		total -= strlen(name) + 1;
		g_ptr_array_remove_index(a->names, i);
		g_ptr_array_remove_index(a->values, i);
	}
}

/* The message file's entry in the index.  Flags change: like a lookup,
 * this answers from a listing at most -o refresh seconds old (a stale one
 * if the server is away). */
static int indexed_message(struct imapfs_fs *fs, struct fs_inode *inode,
		struct store_cancel *cancel, struct store_message *msg)
{
	int errnum = store_mailbox_ensure_listed(inode->mailbox,
			store_account_config(fs->account)->refresh_s, cancel);

	if (errnum)
		return errnum;
	errnum = store_mailbox_message(inode->mailbox, inode->uid, msg);
	if (errnum)
		return errnum;
	if (msg->uidvalidity != inode->uidvalidity) {
		store_message_clear(msg);
		return ENOENT;
	}
	return 0;
}

static int collect_message(struct imapfs_fs *fs, struct fs_inode *inode,
		struct store_cancel *cancel, struct attrs *a)
{
	struct store_message msg;
	char date[IMAP_RFC3339_MAX];
	int errnum;

	errnum = indexed_message(fs, inode, cancel, &msg);
	if (errnum)
		return errnum;
	attrs_add(a, XATTR_PREFIX "flags", flags_value(msg.flags));
	for (size_t i = 0; i < G_N_ELEMENTS(flag_attrs); i++) {
		if (msg.entry.flags & flag_attrs[i].bit)
			attrs_add(a, flag_attrs[i].name, g_strdup(""));
	}
	for (char **kw = msg.keywords; kw && *kw; kw++) {
		g_autofree char *name = NULL;

		if (!keyword_is_attr(*kw))
			continue;
		name = g_strconcat(XATTR_KEYWORD_PREFIX, *kw, NULL);
		attrs_add(a, name, g_strdup(""));
	}
	attrs_add(a, XATTR_PREFIX "uid", g_strdup_printf("%u", inode->uid));
	imap_format_rfc3339(msg.entry.internaldate, msg.entry.zone_minutes,
			date);
	attrs_add(a, XATTR_PREFIX "internaldate", g_strdup(date));
	if (msg.entry.modseq)
		attrs_add(a, XATTR_PREFIX "modseq", g_strdup_printf(
					"%" G_GUINT64_FORMAT, msg.entry.modseq));
	attrs_fit_list(a);
	store_message_clear(&msg);
	return 0;
}

static int collect_dir(struct imapfs_fs *fs, struct fs_inode *inode,
		struct store_cancel *cancel, struct attrs *a)
{
	struct store_node *node = inode->node;
	struct store_mailbox *mb;
	struct store_mailbox_status status;
	char *specialuse;
	int errnum;

	if (!node->raw_name)
		return 0;	/* the mount root */
	attrs_add(a, XATTR_PREFIX "name", g_strdup(node->raw_name));
	specialuse = store_node_specialuse(fs->account, node);
	if (specialuse)
		attrs_add(a, XATTR_PREFIX "specialuse", specialuse);
	mb = store_node_mailbox(fs->account, node);
	if (!mb)
		return 0;
	/* Counts come from the listing, so they agree with the files. */
	errnum = store_mailbox_ensure_listed(mb,
			store_account_config(fs->account)->refresh_s, cancel);
	if (errnum == ECANCELED)
		return errnum;
	if (errnum || store_mailbox_status(mb, &status))
		return 0;
	attrs_add(a, XATTR_PREFIX "uidvalidity",
			g_strdup_printf("%u", status.uidvalidity));
	attrs_add(a, XATTR_PREFIX "uidnext",
			g_strdup_printf("%u", status.uidnext));
	attrs_add(a, XATTR_PREFIX "messages",
			g_strdup_printf("%u", status.messages));
	attrs_add(a, XATTR_PREFIX "unseen",
			g_strdup_printf("%u", status.unseen));
	return 0;
}

static int attrs_collect(struct imapfs_fs *fs, struct fs_inode *inode,
		struct store_cancel *cancel, struct attrs *a)
{
	a->names = g_ptr_array_new_with_free_func(g_free);
	a->values = g_ptr_array_new_with_free_func(g_free);
	if (inode->kind == FS_INODE_MESSAGE)
		return collect_message(fs, inode, cancel, a);
	if (inode->kind == FS_INODE_STAGED)
		return 0;	/* no message yet */
	return collect_dir(fs, inode, cancel, a);
}

static void attrs_clear(struct attrs *a)
{
	g_ptr_array_unref(a->names);
	g_ptr_array_unref(a->values);
}

int fs_xattr_get(struct imapfs_fs *fs, struct fs_inode *inode,
		struct store_cancel *cancel, const char *name, GString *value)
{
	struct attrs a;
	int errnum;

	/* The namespaces ls -l asks every file about (security.selinux,
	 * system.posix_acl_access) do not exist here.  ENOTSUP says so for
	 * the whole file system, and ls(1) then stops asking for the rest
	 * of the listing; ENODATA would cost a request per file and name. */
	if (!g_str_has_prefix(name, "user."))
		return ENOTSUP;
	if (!g_str_has_prefix(name, XATTR_PREFIX))
		return ENODATA;
	errnum = attrs_collect(fs, inode, cancel, &a);
	if (errnum == 0) {
		errnum = ENODATA;
		for (guint i = 0; i < a.names->len; i++) {
			if (strcmp(g_ptr_array_index(a.names, i), name) == 0) {
				g_string_assign(value,
						g_ptr_array_index(a.values, i));
				errnum = 0;
				break;
			}
		}
	}
	attrs_clear(&a);
	return errnum;
}

int fs_xattr_list(struct imapfs_fs *fs, struct fs_inode *inode,
		struct store_cancel *cancel, GString *names)
{
	struct attrs a;
	int errnum = attrs_collect(fs, inode, cancel, &a);

	for (guint i = 0; errnum == 0 && i < a.names->len; i++) {
		const char *name = g_ptr_array_index(a.names, i);

		/* The list is NUL-separated and NUL-terminated. */
		g_string_append_len(names, name, (gssize)strlen(name) + 1);
	}
	attrs_clear(&a);
	return errnum;
}

/* --- changing flags ------------------------------------------------------ */

/* The IMAP flag an attribute stands for ("\\Seen", "$Label"), into buf;
 * NULL when it is no single flag.  EINVAL in *errnum_r for a keyword that
 * is no atom. */
static const char *attr_flag(const char *name, char *buf, size_t size,
		int *errnum_r)
{
	static const char *const system[] = {
		"\\Seen", "\\Answered", "\\Flagged", "\\Deleted",
		"\\Draft",
	};

	*errnum_r = 0;
	for (size_t i = 0; i < G_N_ELEMENTS(flag_attrs); i++) {
		if (strcmp(name, flag_attrs[i].name) == 0)
			return system[i];
	}
	if (g_str_has_prefix(name, XATTR_KEYWORD_PREFIX)) {
		const char *kw = name + strlen(XATTR_KEYWORD_PREFIX);

		if (kw[0] == '\\' || !store_flag_is_valid(kw)) {
			*errnum_r = EINVAL;
			return NULL;
		}
		g_strlcpy(buf, kw, size);
		return buf;
	}
	return NULL;
}

/* Whether the message has the flag now (as the index says). */
static int message_has_flag(struct imapfs_fs *fs, struct fs_inode *inode,
		struct store_cancel *cancel, const char *flag, bool *has_r)
{
	struct store_message msg;
	int errnum = indexed_message(fs, inode, cancel, &msg);

	if (errnum)
		return errnum;
	*has_r = false;
	if (flag[0] == '\\') {
		for (size_t i = 0; i < G_N_ELEMENTS(flag_attrs); i++) {
			if (g_ascii_strcasecmp(flag + 1, flag_attrs[i].name +
						strlen(XATTR_PREFIX)) == 0)
				*has_r = (msg.entry.flags &
						flag_attrs[i].bit) != 0;
		}
	} else {
		for (char **kw = msg.keywords; kw && *kw; kw++) {
			if (g_ascii_strcasecmp(*kw, flag) == 0)
				*has_r = true;
		}
	}
	store_message_clear(&msg);
	return 0;
}

/* "\\Seen  $Work" -> its flags, each checked; NULL (EINVAL) if one is
 * not a flag. */
static char **parse_flag_list(const char *value, size_t size)
{
	char *text = g_strndup(value, size);
	char **tokens = g_strsplit_set(text, " \t", -1);
	GPtrArray *flags = g_ptr_array_new_with_free_func(g_free);

	g_free(text);
	for (char **t = tokens; *t; t++) {
		if (!**t)
			continue;
		if (!store_flag_is_valid(*t)) {
			g_ptr_array_free(flags, TRUE);
			g_strfreev(tokens);
			return NULL;
		}
		g_ptr_array_add(flags, g_strdup(*t));
	}
	g_ptr_array_add(flags, NULL);
	g_strfreev(tokens);
	/* The strings go with the vector returned. */
	return (char **)g_ptr_array_free(flags, FALSE);
}

static bool is_xattr_name_ours(const char *name)
{
	return g_str_has_prefix(name, XATTR_PREFIX);
}

int fs_xattr_set(struct imapfs_fs *fs, struct fs_inode *inode,
		struct store_cancel *cancel, const char *name,
		const char *value, size_t size, int flags)
{
	char buf[XATTR_NAME_MAX + 1];
	const char *flag;
	int errnum;

	if (!is_xattr_name_ours(name))
		return ENOTSUP;
	if (inode->kind == FS_INODE_DIR || !is_flag_attr(name))
		return EPERM;	/* read-only by nature */
	if (strcmp(name, XATTR_PREFIX "flags") == 0) {
		char **list = parse_flag_list(value, size);

		if (!list)
			return EINVAL;
		if (inode->kind == FS_INODE_STAGED) {
			errnum = 0;
			for (size_t i = 0; i < G_N_ELEMENTS(flag_attrs); i++)
				fs_staged_set_flag(inode->staged,
						attr_flag(flag_attrs[i].name,
							buf, sizeof(buf),
							&errnum), false);
			for (char **f = list; !errnum && *f; f++)
				errnum = fs_staged_set_flag(inode->staged, *f,
						true);
		} else {
			errnum = store_mailbox_change_flags(inode->mailbox,
					inode->uidvalidity, inode->uid,
					IMAP_FLAGS_REPLACE,
					(const char *const *)list);
		}
		g_strfreev(list);
		return errnum;
	}
	flag = attr_flag(name, buf, sizeof(buf), &errnum);
	if (!flag)
		return errnum ? errnum : EPERM;
	/* A flag is there or not: the value says nothing. */
	if (size != 0)
		return EINVAL;
	if (inode->kind == FS_INODE_STAGED)
		return fs_staged_set_flag(inode->staged, flag, true);
	if (flags & (XATTR_CREATE | XATTR_REPLACE)) {
		bool has;

		errnum = message_has_flag(fs, inode, cancel, flag, &has);
		if (errnum)
			return errnum;
		if (has && (flags & XATTR_CREATE))
			return EEXIST;
		if (!has && (flags & XATTR_REPLACE))
			return ENODATA;
	}
	return store_mailbox_change_flags(inode->mailbox, inode->uidvalidity,
			inode->uid, IMAP_FLAGS_ADD,
			(const char *const[]){ flag, NULL });
}

int fs_xattr_remove(struct imapfs_fs *fs, struct fs_inode *inode,
		struct store_cancel *cancel, const char *name)
{
	char buf[XATTR_NAME_MAX + 1];
	const char *flag;
	bool has;
	int errnum;

	if (!is_xattr_name_ours(name))
		return ENOTSUP;
	if (inode->kind == FS_INODE_DIR || !is_flag_attr(name))
		return EPERM;
	if (strcmp(name, XATTR_PREFIX "flags") == 0) {
		if (inode->kind == FS_INODE_STAGED)
			return fs_xattr_set(fs, inode, cancel, name, "", 0, 0);
		return store_mailbox_change_flags(inode->mailbox,
				inode->uidvalidity, inode->uid,
				IMAP_FLAGS_REPLACE,
				(const char *const[]){ NULL });
	}
	flag = attr_flag(name, buf, sizeof(buf), &errnum);
	if (!flag)
		return errnum ? errnum : EPERM;
	if (inode->kind == FS_INODE_STAGED)
		return fs_staged_set_flag(inode->staged, flag, false);
	/* As on any filesystem: removing what is not there is ENODATA. */
	errnum = message_has_flag(fs, inode, cancel, flag, &has);
	if (errnum)
		return errnum;
	if (!has)
		return ENODATA;
	return store_mailbox_change_flags(inode->mailbox, inode->uidvalidity,
			inode->uid, IMAP_FLAGS_REMOVE,
			(const char *const[]){ flag, NULL });
}
