/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Helpers shared by the body cache's tests (test-cache.c, test-cache-pack.c). */
#ifndef IMAPFS_CACHE_HELPERS_H
#define IMAPFS_CACHE_HELPERS_H

#include <stddef.h>
#include <stdint.h>

#include "store/cache.h"

char *make_test_dir(void);
void remove_tree(const char *path);
/* Regular files below path, and their total size. */
unsigned int count_files(const char *path, uint64_t *bytes);
unsigned int count_in(const char *dir, const char *sub);
uint64_t bytes_in_bodies(const char *dir);
/* A key of account "alice". */
struct body_cache_key make_key(const char *mailbox, uint32_t uidvalidity,
		uint32_t uid);
/* Write data in chunks of the given sizes (cycled; NULL: all at once). */
void write_chunked(struct body_cache_writer *writer,
		const unsigned char *data, size_t len, const size_t *chunks,
		size_t nchunks);
void commit_body(struct body_cache *cache, const char *mailbox,
		uint32_t uidvalidity, uint32_t uid, const void *data,
		size_t len, struct body_cache_entry *entry);
void commit_and_close(struct body_cache *cache, const char *mailbox,
		uint32_t uidvalidity, uint32_t uid, const void *data,
		size_t len);
void assert_miss(struct body_cache *cache, const char *mailbox,
		uint32_t uidvalidity, uint32_t uid);
/* Deterministic pseudo-random bytes; g_free them. */
unsigned char *make_bytes(uint32_t seed, size_t len);

#endif
