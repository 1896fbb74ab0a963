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

#define FNV_OFFSET 0xcbf29ce484222325ULL

static uint64_t fnv_update(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* FNV-1a, 64 bits: fixed forever, because inode numbers must not change
 * from one version of imapfs to the next. */
uint64_t fs_inode_hash(const char *key, size_t len)
{
	return fnv_update(FNV_OFFSET, key, len);
}

/*
 * An object's number comes from the hash of a key that names it: "d:" and
 * the mailbox's server name for a directory; for a message, the high 32
 * bits of the hash of "m:LEN:NAME:UIDVALIDITY" (the length makes it
 * unambiguous whatever bytes the name holds) above its UID.  The key is
 * hashed as it is written, never built: a message looked up costs no
 * string.
 *
 * So the messages of one mailbox are numbered in UID order.  Tools that
 * walk a large directory sort its entries by inode number (gnulib's fts,
 * under grep -r, find, du and rm -r, does beyond 10,000 entries); with
 * numbers that were whole hashes they walked a mailbox in random order,
 * which no reading ahead can follow, and every body was fetched alone.
 */
static uint64_t dir_hash(const char *raw_name)
{
	return fnv_update(fs_inode_hash("d:", 2), raw_name, strlen(raw_name));
}

/* v in decimal, as printf's %u writes it, hashed: every message looked
 * up is hashed, and printf was a few percent of a cold walk's CPU. */
static uint64_t fnv_update_decimal(uint64_t h, uint64_t v)
{
	char digits[20];
	size_t n = 0;

	do {
		digits[sizeof(digits) - ++n] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return fnv_update(h, digits + sizeof(digits) - n, n);
}

static uint64_t message_hash(struct store_mailbox *mailbox,
		uint32_t uidvalidity, uint32_t uid)
{
	const char *name = store_mailbox_name(mailbox);
	size_t len = strlen(name);
	uint64_t h = fnv_update(FNV_OFFSET, "m:", 2);

	h = fnv_update_decimal(h, len);
	h = fnv_update(h, ":", 1);
	h = fnv_update(h, name, len);
	h = fnv_update(h, ":", 1);
	h = fnv_update_decimal(h, uidvalidity);
	return (h & UINT64_C(0xffffffff00000000)) | uid;
}

/* 0 is "no inode" and 1 the root. */
static uint64_t number_of(uint64_t hash)
{
	return hash <= FUSE_ROOT_ID ? hash + 2 : hash;
}

static uint64_t identity_hash(const struct fs_inode *inode)
{
	switch (inode->kind) {
	case FS_INODE_DIR:
		return dir_hash(inode->node->raw_name);
	case FS_INODE_MESSAGE:
		return message_hash(inode->mailbox, inode->uidvalidity,
				inode->uid);
	case FS_INODE_STAGED:
		break;
	}
	return fnv_update(fs_inode_hash("s:", 2), &inode->serial,
			sizeof(inode->serial));
}

uint64_t fs_inode_dir_number(const struct store_node *node)
{
	if (!node->raw_name)
		return FUSE_ROOT_ID;
	return number_of(dir_hash(node->raw_name));
}

uint64_t fs_inode_message_number(struct store_mailbox *mailbox,
		uint32_t uidvalidity, uint32_t uid)
{
	return number_of(message_hash(mailbox, uidvalidity, uid));
}

/* The identity table: an inode is its own key, by what it names. */
static guint identity_table_hash(gconstpointer p)
{
	const struct fs_inode *inode = p;

	return (guint)(inode->identity ^ (inode->identity >> 32));
}

static gboolean identity_equal(gconstpointer pa, gconstpointer pb)
{
	const struct fs_inode *a = pa, *b = pb;

	if (a->kind != b->kind || a->identity != b->identity)
		return FALSE;
	switch (a->kind) {
	case FS_INODE_DIR:
		if (!a->node->raw_name || !b->node->raw_name)
			return a->node->raw_name == b->node->raw_name;
		return strcmp(a->node->raw_name, b->node->raw_name) == 0;
	case FS_INODE_MESSAGE:
		return a->uidvalidity == b->uidvalidity && a->uid == b->uid &&
			strcmp(store_mailbox_name(a->mailbox),
				store_mailbox_name(b->mailbox)) == 0;
	case FS_INODE_STAGED:
		return a->serial == b->serial;
	}
	return FALSE;
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
	g_free(inode);
}

struct fs_inodes *fs_inodes_new(struct store_node *root)
{
	struct fs_inodes *inodes = g_new0(struct fs_inodes, 1);

	g_mutex_init(&inodes->lock);
	inodes->by_ino = g_hash_table_new_full(ino_hash, ino_equal, NULL,
			inode_free);
	inodes->by_key = g_hash_table_new(identity_table_hash,
			identity_equal);
	inodes->root = g_new0(struct fs_inode, 1);
	inodes->root->ino = FUSE_ROOT_ID;
	inodes->root->kind = FS_INODE_DIR;
	inodes->root->node = root;
	inodes->root->identity = 0;
	inodes->root->nlookup = 1;	/* the kernel never forgets it */
	g_hash_table_insert(inodes->by_ino, &inodes->root->ino, inodes->root);
	g_hash_table_add(inodes->by_key, inodes->root);
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

/* Find the inode that names what probe names, or make one from probe
 * under a free number near its hash; count one lookup.  Lock held.  Only
 * a new inode costs an allocation. */
static struct fs_inode *inodes_ref(struct fs_inodes *inodes,
		const struct fs_inode *probe)
{
	struct fs_inode *inode = g_hash_table_lookup(inodes->by_key, probe);
	uint64_t ino;

	if (inode) {
		inode->nlookup++;
		return inode;
	}
	/* A taken number probes on (past 0 and 1 when it wraps). */
	ino = number_of(probe->identity);
	while (ino <= FUSE_ROOT_ID ||
			g_hash_table_contains(inodes->by_ino, &ino))
		ino++;
	inode = g_memdup2(probe, sizeof(*probe));
	inode->ino = ino;
	inode->nlookup = 1;
	g_hash_table_insert(inodes->by_ino, &inode->ino, inode);
	g_hash_table_add(inodes->by_key, inode);
	return inode;
}

struct fs_inode *fs_inodes_ref_dir(struct fs_inodes *inodes,
		struct store_node *node)
{
	struct fs_inode probe = {
		.kind = FS_INODE_DIR,
		.node = node,
	};
	struct fs_inode *inode;

	if (!node->raw_name) {
		g_mutex_lock(&inodes->lock);
		inodes->root->nlookup++;
		g_mutex_unlock(&inodes->lock);
		return inodes->root;
	}
	probe.identity = identity_hash(&probe);
	g_mutex_lock(&inodes->lock);
	inode = inodes_ref(inodes, &probe);
	g_mutex_unlock(&inodes->lock);
	return inode;
}

struct fs_inode *fs_inodes_ref_message(struct fs_inodes *inodes,
		struct store_mailbox *mailbox, uint32_t uidvalidity,
		uint32_t uid, uint64_t size, bool size_exact, int64_t mtime)
{
	struct fs_inode probe = {
		.kind = FS_INODE_MESSAGE,
		.mailbox = mailbox,
		.uidvalidity = uidvalidity,
		.uid = uid,
		.size = size,
		.size_exact = size_exact,
		.mtime = mtime,
	};
	struct fs_inode *inode;

	probe.identity = identity_hash(&probe);
	g_mutex_lock(&inodes->lock);
	inode = inodes_ref(inodes, &probe);
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
	struct fs_inode probe = {
		.kind = FS_INODE_STAGED,
		.node = dir,
		.staged = staged,
	};
	struct fs_inode *inode;

	g_mutex_lock(&inodes->lock);
	probe.serial = ++serial;
	probe.identity = identity_hash(&probe);
	inode = inodes_ref(inodes, &probe);
	g_mutex_unlock(&inodes->lock);
	return inode;
}

fuse_ino_t fs_inodes_find_dir(struct fs_inodes *inodes, const char *mailbox)
{
	struct store_node node = { .raw_name = (char *)mailbox };
	struct fs_inode probe = {
		.kind = FS_INODE_DIR,
		.node = &node,
	};
	struct fs_inode *inode;
	fuse_ino_t ino = 0;

	probe.identity = identity_hash(&probe);
	g_mutex_lock(&inodes->lock);
	inode = g_hash_table_lookup(inodes->by_key, &probe);
	if (inode)
		ino = inode->ino;
	g_mutex_unlock(&inodes->lock);
	return ino;
}

/* The message's inode if the kernel holds it and its bytes were not
 * handed over.  Lock held. */
static struct fs_inode *unpushed_locked(struct fs_inodes *inodes,
		struct store_mailbox *mailbox, uint32_t uidvalidity,
		uint32_t uid)
{
	struct fs_inode probe = {
		.kind = FS_INODE_MESSAGE,
		.mailbox = mailbox,
		.uidvalidity = uidvalidity,
		.uid = uid,
	};
	struct fs_inode *inode;

	probe.identity = identity_hash(&probe);
	inode = g_hash_table_lookup(inodes->by_key, &probe);
	return inode && !inode->pushed ? inode : NULL;
}

fuse_ino_t fs_inodes_push_candidate(struct fs_inodes *inodes,
		struct store_mailbox *mailbox, uint32_t uidvalidity,
		uint32_t uid)
{
	struct fs_inode *inode;
	fuse_ino_t ino;

	g_mutex_lock(&inodes->lock);
	inode = unpushed_locked(inodes, mailbox, uidvalidity, uid);
	ino = inode ? inode->ino : 0;
	g_mutex_unlock(&inodes->lock);
	return ino;
}

fuse_ino_t fs_inodes_claim_push(struct fs_inodes *inodes,
		struct store_mailbox *mailbox, uint32_t uidvalidity,
		uint32_t uid, uint64_t length)
{
	struct fs_inode *inode;
	fuse_ino_t ino = 0;

	g_mutex_lock(&inodes->lock);
	inode = unpushed_locked(inodes, mailbox, uidvalidity, uid);
	if (inode && inode->size == length) {
		inode->pushed = true;
		inode->size_exact = true;
		ino = inode->ino;
	}
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
			g_hash_table_remove(inodes->by_key, inode);
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
