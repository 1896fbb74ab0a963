/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "fs/inode.h"

#include <string.h>

#include "store/mailbox.h"

struct fs_inodes {
	GMutex lock;
	GHashTable *by_ino;	/* fuse_ino_t* -> fs_inode (owned) */
	GHashTable *by_key;	/* key -> fs_inode (borrowed) */
	struct fs_inode *root;
};

/* FNV-1a, 64 bits: fixed forever, because inode numbers must not change
 * from one version of imapfs to the next. */
uint64_t fs_inode_hash(const char *key, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)key[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static char *dir_key(const struct store_node *node)
{
	return g_strconcat("d:", node->raw_name, NULL);
}

/* The length prefix makes the key unambiguous whatever bytes the mailbox
 * name holds. */
static char *message_key(struct store_mailbox *mailbox, uint32_t uidvalidity,
		uint32_t uid)
{
	return g_strdup_printf("m:%zu:%s:%u:%u",
			strlen(store_mailbox_name(mailbox)),
			store_mailbox_name(mailbox), uidvalidity, uid);
}

/* 0 is "no inode" and 1 the root. */
static uint64_t first_number(const char *key, size_t len)
{
	uint64_t ino = fs_inode_hash(key, len);

	return ino <= FUSE_ROOT_ID ? ino + 2 : ino;
}

static uint64_t key_number(char *key)
{
	uint64_t ino = first_number(key, strlen(key));

	g_free(key);
	return ino;
}

uint64_t fs_inode_dir_number(const struct store_node *node)
{
	if (!node->raw_name)
		return FUSE_ROOT_ID;
	return key_number(dir_key(node));
}

uint64_t fs_inode_message_number(struct store_mailbox *mailbox,
		uint32_t uidvalidity, uint32_t uid)
{
	return key_number(message_key(mailbox, uidvalidity, uid));
}

static guint ino_hash(gconstpointer p)
{
	uint64_t v = *(const uint64_t *)p;

	return (guint)(v ^ (v >> 32));
}

static gboolean ino_equal(gconstpointer a, gconstpointer b)
{
	return *(const uint64_t *)a == *(const uint64_t *)b;
}

static void inode_free(gpointer p)
{
	struct fs_inode *inode = p;

	if (inode->staged)
		fs_staged_free(inode->staged);

	g_free(inode->key);
	g_free(inode);
}

struct fs_inodes *fs_inodes_new(struct store_node *root)
{
	struct fs_inodes *inodes = g_new0(struct fs_inodes, 1);

	g_mutex_init(&inodes->lock);
	inodes->by_ino = g_hash_table_new_full(ino_hash, ino_equal, NULL,
			inode_free);
	inodes->by_key = g_hash_table_new(g_str_hash, g_str_equal);
	inodes->root = g_new0(struct fs_inode, 1);
	inodes->root->ino = FUSE_ROOT_ID;
	inodes->root->kind = FS_INODE_DIR;
	inodes->root->node = root;
	inodes->root->key = g_strdup("/");
	inodes->root->nlookup = 1;	/* the kernel never forgets it */
	g_hash_table_insert(inodes->by_ino, &inodes->root->ino, inodes->root);
	g_hash_table_insert(inodes->by_key, inodes->root->key, inodes->root);
	return inodes;
}

void fs_inodes_free(struct fs_inodes **inodes)
{
	if (!*inodes)
		return;
	g_hash_table_destroy((*inodes)->by_key);
	g_hash_table_destroy((*inodes)->by_ino);
	g_mutex_clear(&(*inodes)->lock);
	g_free(*inodes);
	*inodes = NULL;
}

struct fs_inode *fs_inodes_get(struct fs_inodes *inodes, fuse_ino_t ino)
{
	uint64_t key = ino;
	struct fs_inode *inode;

	g_mutex_lock(&inodes->lock);
	inode = g_hash_table_lookup(inodes->by_ino, &key);
	g_mutex_unlock(&inodes->lock);
	return inode;
}

/* Find by key or insert `fresh` under a free number near its hash.  Lock
 * held.  Returns the inode to use; `fresh` is consumed either way. */
static struct fs_inode *inodes_insert(struct fs_inodes *inodes,
		struct fs_inode *fresh, size_t key_len)
{
	struct fs_inode *existing = g_hash_table_lookup(inodes->by_key,
			fresh->key);
	uint64_t ino;

	if (existing) {
		inode_free(fresh);
		existing->nlookup++;
		return existing;
	}
	/* A taken number probes on (past 0 and 1 when it wraps). */
	ino = first_number(fresh->key, key_len);
	while (ino <= FUSE_ROOT_ID ||
			g_hash_table_contains(inodes->by_ino, &ino))
		ino++;
	fresh->ino = ino;
	fresh->nlookup = 1;
	g_hash_table_insert(inodes->by_ino, &fresh->ino, fresh);
	g_hash_table_insert(inodes->by_key, fresh->key, fresh);
	return fresh;
}

struct fs_inode *fs_inodes_ref_dir(struct fs_inodes *inodes,
		struct store_node *node)
{
	struct fs_inode *fresh, *inode;
	size_t len;

	if (!node->raw_name) {
		g_mutex_lock(&inodes->lock);
		inodes->root->nlookup++;
		g_mutex_unlock(&inodes->lock);
		return inodes->root;
	}
	fresh = g_new0(struct fs_inode, 1);
	fresh->kind = FS_INODE_DIR;
	fresh->node = node;
	fresh->key = dir_key(node);
	len = strlen(fresh->key);
	g_mutex_lock(&inodes->lock);
	inode = inodes_insert(inodes, fresh, len);
	g_mutex_unlock(&inodes->lock);
	return inode;
}

struct fs_inode *fs_inodes_ref_message(struct fs_inodes *inodes,
		struct store_mailbox *mailbox, uint32_t uidvalidity,
		uint32_t uid, uint64_t size, bool size_exact, int64_t mtime)
{
	struct fs_inode *fresh = g_new0(struct fs_inode, 1), *inode;
	size_t len;

	fresh->kind = FS_INODE_MESSAGE;
	fresh->mailbox = mailbox;
	fresh->uidvalidity = uidvalidity;
	fresh->uid = uid;
	fresh->size = size;
	fresh->size_exact = size_exact;
	fresh->mtime = mtime;
	fresh->key = message_key(mailbox, uidvalidity, uid);
	len = strlen(fresh->key);
	g_mutex_lock(&inodes->lock);
	inode = inodes_insert(inodes, fresh, len);
	if (size_exact && !inode->size_exact) {
		inode->size = size;
		inode->size_exact = true;
	}
	g_mutex_unlock(&inodes->lock);
	return inode;
}

struct fs_inode *fs_inodes_ref_staged(struct fs_inodes *inodes,
		struct store_node *dir, struct fs_staged *staged)
{
	static uint64_t serial;
	struct fs_inode *fresh = g_new0(struct fs_inode, 1), *inode;
	size_t len;

	fresh->kind = FS_INODE_STAGED;
	fresh->node = dir;
	fresh->staged = staged;
	g_mutex_lock(&inodes->lock);
	fresh->key = g_strdup_printf("s:%" G_GUINT64_FORMAT, ++serial);
	len = strlen(fresh->key);
	inode = inodes_insert(inodes, fresh, len);
	g_mutex_unlock(&inodes->lock);
	return inode;
}

fuse_ino_t fs_inodes_find_dir(struct fs_inodes *inodes, const char *mailbox)
{
	g_autofree char *key = g_strconcat("d:", mailbox, NULL);
	struct fs_inode *inode;
	fuse_ino_t ino = 0;

	g_mutex_lock(&inodes->lock);
	inode = g_hash_table_lookup(inodes->by_key, key);
	if (inode)
		ino = inode->ino;
	g_mutex_unlock(&inodes->lock);
	return ino;
}

void fs_inodes_forget(struct fs_inodes *inodes, fuse_ino_t ino,
		uint64_t nlookup)
{
	uint64_t key = ino;
	struct fs_inode *inode;

	if (ino == FUSE_ROOT_ID)
		return;
	g_mutex_lock(&inodes->lock);
	inode = g_hash_table_lookup(inodes->by_ino, &key);
	if (inode) {
		inode->nlookup = nlookup >= inode->nlookup ? 0 :
			inode->nlookup - nlookup;
		if (inode->nlookup == 0) {
			g_hash_table_remove(inodes->by_key, inode->key);
			g_hash_table_remove(inodes->by_ino, &key);
		}
	}
	g_mutex_unlock(&inodes->lock);
}

uint64_t fs_inode_size(struct fs_inodes *inodes, struct fs_inode *inode,
		bool *exact)
{
	uint64_t size;

	g_mutex_lock(&inodes->lock);
	size = inode->size;
	if (exact)
		*exact = inode->size_exact;
	g_mutex_unlock(&inodes->lock);
	return size;
}

void fs_inode_set_size(struct fs_inodes *inodes, struct fs_inode *inode,
		uint64_t size)
{
	g_mutex_lock(&inodes->lock);
	inode->size = size;
	inode->size_exact = true;
	g_mutex_unlock(&inodes->lock);
}
