/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Shared by the cache's file format (cache.c) and its space keeping
 * (cache-space.c).  See the top of cache.c for the layout. */
#ifndef IMAPFS_STORE_CACHE_PRIVATE_H
#define IMAPFS_STORE_CACHE_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include <glib.h>

#include "store/cache.h"

#define HEADER_SIZE 128
#define HEADER_MAGIC "imapfs-body 1\n"
#define IDENTITY_HEX 32		/* hex digits of the SHA-256 kept */
#define MAILBOX_DIR_MAX 200	/* longest "n-" name; NAME_MAX is 255 */
#define TMP_MAX_AGE (60 * 60)	/* seconds before a temp file is stale */
#define ACCOUNT_FILE_MAX 4096

/* The longest header there can be must fit. */
#define HEADER_LONGEST HEADER_MAGIC \
	"uidvalidity 4294967295\n" \
	"uid 4294967295\n" \
	"length 18446744073709551615\n" \
	"identity 0123456789abcdef0123456789abcdef\n"
G_STATIC_ASSERT(sizeof(HEADER_LONGEST) - 1 <= HEADER_SIZE);

/* A body (plus header) must fit in an off_t. */
#define BODY_LENGTH_MAX ((uint64_t)INT64_MAX - HEADER_SIZE)

struct body_cache {
	char *dir;		/* owned */
	char *account;		/* owned */
	char *bodies;		/* owned: DIR/bodies */
	char *tmp;		/* owned: DIR/tmp */
	uint64_t max_bytes;	/* 0: unbounded */

	GMutex evict_lock;	/* one eviction at a time; before `lock` */
	GMutex lock;		/* protects total */
	uint64_t total;		/* bytes of files under bodies */
};

struct body_cache_writer {
	struct body_cache *cache;	/* borrowed */
	char *mailbox;			/* owned */
	uint32_t uidvalidity;
	uint64_t length;		/* announced */
	uint64_t written;		/* body bytes written so far */
	int fd;				/* owned: the temp file, read-write */
	char *tmp_path;			/* owned */
	GError *error;			/* owned: the first error, sticky */
};

/* A file found by walking DIR/bodies. */
struct cached_file {
	char *path;		/* owned */
	uint64_t size;
	struct timespec mtime;
	dev_t dev;
	ino_t ino;
};

uint64_t cache_add_sat(uint64_t a, uint64_t b);
uint64_t cache_sub_sat(uint64_t a, uint64_t b);
void cache_total_sub(struct body_cache *cache, uint64_t n);

/* Walk a tree without following symlinks: add the size of every regular
 * file to *total and, if files is not NULL, append a struct cached_file. */
void cache_walk(const char *dir, GArray *files, uint64_t *total);
/* Remove a tree (or a file); returns the bytes of regular files removed. */
uint64_t cache_remove_tree(const char *path);
/* Evict down to 90% of the bound if it is exceeded; keep may be NULL. */
void cache_evict(struct body_cache *cache, const struct stat *keep);
void cache_remove_stale_tmp(struct body_cache *cache);
bool cache_over_limit(struct body_cache *cache);

/* The directory name for a mailbox identity; g_free it. */
char *cache_mailbox_dir_name(const char *mailbox);

#endif
