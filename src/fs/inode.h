/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The inode table: FUSE inode numbers <-> store objects, with the kernel's
 * lookup counts.
 *
 * Inode numbers are derived from what they name (a mailbox's server name;
 * a message's mailbox, UIDVALIDITY and UID), so `st_ino` stays the same
 * across remounts.  A hash collision is detected and resolved by probing,
 * so two live objects never share a number.
 */
#ifndef IMAPFS_FS_INODE_H
#define IMAPFS_FS_INODE_H

#include <fuse_lowlevel.h>
#include <stdbool.h>
#include <stdint.h>

#include "store/account.h"

enum fs_inode_kind {
	FS_INODE_DIR,
	FS_INODE_MESSAGE,
	FS_INODE_STAGED,	/* a new file, appended when closed */
};

struct fs_staged;

struct fs_inode {
	fuse_ino_t ino;			/* immutable */
	enum fs_inode_kind kind;	/* immutable */
	struct store_node *node;	/* DIR, STAGED (its directory);
					 * borrowed from the account */
	struct fs_staged *staged;	/* STAGED; owned (fs_staged_free) */
	struct store_mailbox *mailbox;	/* MESSAGE; borrowed */
	uint32_t uidvalidity;		/* MESSAGE */
	uint32_t uid;			/* MESSAGE */
	int64_t mtime;			/* MESSAGE: INTERNALDATE */
	uint64_t size;			/* MESSAGE: under the table lock */
	bool size_exact;		/* MESSAGE: measured, not announced */
	uint64_t nlookup;		/* under the table lock */
	bool pushed;			/* MESSAGE: its bytes were handed to
					 * the kernel (fs/push.c); under the
					 * table lock */
	uint64_t serial;		/* STAGED: which new file */
	uint64_t identity;		/* hash of what it names (inode.c) */
};

struct fs_inodes;

struct fs_inodes *fs_inodes_new(struct store_node *root);
void fs_inodes_free(struct fs_inodes **inodes);

/* The inode for a number the kernel gave us, or NULL.  The kernel holds a
 * lookup on it for as long as a request refers to it, so it stays valid
 * for the length of the request. */
struct fs_inode *fs_inodes_get(struct fs_inodes *inodes, fuse_ino_t ino);

/* Find or create, and count one lookup.  A message's size is either
 * exact (measured from its bytes) or the server's RFC822.SIZE; an exact
 * size replaces an announced one, never the other way round. */
struct fs_inode *fs_inodes_ref_dir(struct fs_inodes *inodes,
		struct store_node *node);
struct fs_inode *fs_inodes_ref_message(struct fs_inodes *inodes,
		struct store_mailbox *mailbox, uint32_t uidvalidity,
		uint32_t uid, uint64_t size, bool size_exact, int64_t mtime);

/* A new file in a directory; takes staged.  Its number is never one of a
 * mailbox or message. */
struct fs_inode *fs_inodes_ref_staged(struct fs_inodes *inodes,
		struct store_node *dir, struct fs_staged *staged);
/* Defined by whoever stages files (fs/staged.c). */
void fs_staged_free(struct fs_staged *staged);

/* For handing a message's bytes to the kernel before it asks (fs/push.c):
 * the number of that message's inode if the kernel holds one whose bytes
 * were not handed over yet; else 0.  Then claim it: its number when it is
 * still so and its size is length (the kernel then holds the right size),
 * after which it counts as handed over; else 0. */
fuse_ino_t fs_inodes_push_candidate(struct fs_inodes *inodes,
		struct store_mailbox *mailbox, uint32_t uidvalidity,
		uint32_t uid);
fuse_ino_t fs_inodes_claim_push(struct fs_inodes *inodes,
		struct store_mailbox *mailbox, uint32_t uidvalidity,
		uint32_t uid, uint64_t length);

/* The number of the directory of a mailbox, if the kernel knows it now;
 * else 0. */
fuse_ino_t fs_inodes_find_dir(struct fs_inodes *inodes,
		const char *mailbox);

void fs_inodes_forget(struct fs_inodes *inodes, fuse_ino_t ino,
		uint64_t nlookup);

/* The size st_size shows; *exact (may be NULL) tells whether it was
 * measured.  set_size records a measured one. */
uint64_t fs_inode_size(struct fs_inodes *inodes, struct fs_inode *inode,
		bool *exact);
void fs_inode_set_size(struct fs_inodes *inodes, struct fs_inode *inode,
		uint64_t size);

/* The number an object gets unless it collides (for readdir's d_ino,
 * which needs no lookup). */
uint64_t fs_inode_dir_number(const struct store_node *node);
uint64_t fs_inode_message_number(struct store_mailbox *mailbox,
		uint32_t uidvalidity, uint32_t uid);

/* The stable number for a key (exposed for tests). */
uint64_t fs_inode_hash(const char *key, size_t len);

#endif
