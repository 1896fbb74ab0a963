/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Bodies the kernel reads without having opened the file.  Once the kernel
 * stops sending OPEN (it does after the first one answered ENOSYS, see
 * read.c), a READ is all we hear, and several READs of one file would each
 * look the body up again; a big body that the cache does not keep would
 * even be fetched again for each.  So the last few bodies read stay open
 * here, least recently used first out.
 */
#ifndef IMAPFS_FS_BODIES_H
#define IMAPFS_FS_BODIES_H

#include <fuse_lowlevel.h>
#include <stdint.h>

#include "store/cache.h"

struct fs_bodies;

/* The body of a message, as long as a reference is held. */
struct fs_body {
	fuse_ino_t ino;
	uint32_t uidvalidity;
	uint32_t uid;
	struct body_cache_entry entry;	/* fd owned */
	int refs;			/* under the table's lock */
	uint64_t used;			/* under the table's lock */
};

struct fs_bodies *fs_bodies_new(unsigned capacity);
void fs_bodies_free(struct fs_bodies **bodies);

/* A reference to the body kept for that message, or NULL. */
struct fs_body *fs_bodies_get(struct fs_bodies *bodies, fuse_ino_t ino,
		uint32_t uidvalidity, uint32_t uid);

/* Keep *entry (its fd now belongs to the table) and return a reference to
 * it.  The least recently used body makes room; its fd is closed once its
 * last reader is done. */
struct fs_body *fs_bodies_add(struct fs_bodies *bodies, fuse_ino_t ino,
		uint32_t uidvalidity, uint32_t uid,
		const struct body_cache_entry *entry);

void fs_bodies_put(struct fs_bodies *bodies, struct fs_body *body);

#endif
