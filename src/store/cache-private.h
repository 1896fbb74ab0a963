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
#define HEADER_MAGIC "imapfs-body 2\n"
#define IDENTITY_HEX 16		/* hex digits of the SHA-256 kept */
#define SUM_HEX 16		/* hex digits of the body's XXH64 */
#define MAILBOX_DIR_MAX 200	/* longest "n-" name; NAME_MAX is 255 */
#define TMP_MAX_AGE (60 * 60)	/* seconds before a temp file is stale */
#define ACCOUNT_FILE_MAX 4096

/* The longest header there can be must fit. */
#define HEADER_LONGEST HEADER_MAGIC \
	"uidvalidity 4294967295\n" \
	"uid 4294967295\n" \
	"length 9223372036854775807\n" \
	"identity 0123456789abcdef\n" \
	"xxh64 0123456789abcdef\n"
G_STATIC_ASSERT(sizeof(HEADER_LONGEST) - 1 <= HEADER_SIZE);

/* A body (plus header) must fit in an off_t; so its length has at most
 * the 19 digits HEADER_LONGEST allows for. */
#define BODY_LENGTH_MAX ((uint64_t)INT64_MAX - HEADER_SIZE)

/* Bodies verified or written by this process (see body_cache_lookup) are
 * remembered up to this many; beyond, the memory is started afresh, which
 * costs only a second verification. */
#define VERIFIED_MAX (1u << 20)

/* XXH64 of a body as it streams in (cache-sum.c). */
#define CACHE_SUM_STRIPE 32
struct cache_sum {
	uint64_t v[4];
	uint64_t total;
	unsigned char buf[CACHE_SUM_STRIPE];
	size_t buffered;
};

void cache_sum_init(struct cache_sum *sum);
void cache_sum_update(struct cache_sum *sum, const void *data, size_t len);
uint64_t cache_sum_final(const struct cache_sum *sum);

/*
 * The body files this process wrote or checked against their checksum:
 * verified_key(dev, ino) -> verified_check(size, sum) (cache-verified.c).
 * A file whose key is there with the check of its size and header sum
 * needs no reading.
 */
struct verified_slot {
	uint64_t key;		/* 0: empty */
	uint64_t check;
};

struct verified_map {
	struct verified_slot *slots;
	size_t capacity;	/* a power of two, or 0 */
	size_t count;
};

uint64_t verified_key(dev_t dev, ino_t ino);
uint64_t verified_check(uint64_t size, uint64_t sum);
bool verified_map_get(const struct verified_map *map, uint64_t key,
		uint64_t *check_r);
void verified_map_put(struct verified_map *map, uint64_t key,
		uint64_t check);
void verified_map_remove(struct verified_map *map, uint64_t key);
void verified_map_clear(struct verified_map *map);

/*
 * Small bodies are appended to pack files, one record (a header as above,
 * then the body) after another: DIR/bodies/M/V/pack-* (cache-pack.c).
 * Where each body of a directory is, is kept in memory: UID -> record.
 */
#define PACK_PREFIX "pack-"
#define PACK_SIZE_MAX (UINT64_C(64) << 20)
#define PACK_BODY_MAX (UINT64_C(64) << 10)
#define RECORD_SINGLE 0xfffeu	/* a file of its own, DIR/.../V/UID */
#define RECORD_NONE 0xffffu	/* not cached (any more) */

struct pack_record {
	uint32_t uid;		/* 0: empty slot */
	uint32_t offset;	/* of the record's header in its pack */
	uint32_t length;	/* of the body; for RECORD_SINGLE, UINT32_MAX
				 * when not known without a stat */
	uint16_t pack;		/* index in the directory's packs, or
				 * RECORD_SINGLE or RECORD_NONE */
	uint8_t verified;	/* its checksum was checked, or we wrote it */
	uint8_t spare;
};
G_STATIC_ASSERT(sizeof(struct pack_record) == 16);

struct record_map {
	struct pack_record *slots;
	size_t capacity;	/* a power of two, or 0 */
	size_t count;
};

struct pack_record *record_map_find(const struct record_map *map,
		uint32_t uid);
/* The slot of uid, a new one (pack RECORD_NONE) if it had none. */
struct pack_record *record_map_put(struct record_map *map, uint32_t uid);
void record_map_clear(struct record_map *map);

/* Pack files and the record maps (cache-pack.c). */
struct pack_hit {
	int fd;			/* for a packed record, when asked: a dup of
				 * its pack's descriptor; else -1 */
	uint64_t offset;	/* of the record's header */
	uint64_t length;	/* of the body */
	bool verified;
	bool touch;		/* set the pack's mtime: it is in use */
	char identity[IDENTITY_HEX + 1];	/* the header's */
};

void cache_packs_init(struct body_cache *cache);
void cache_packs_free(struct body_cache *cache);
/* Where uid's body is: the index of its pack (hit filled in), or
 * RECORD_SINGLE (its own file; hit->length may be UINT32_MAX), or
 * RECORD_NONE (not cached). */
uint16_t cache_pack_find(struct body_cache *cache, const char *mailbox,
		uint32_t uidvalidity, uint32_t uid, bool want_fd,
		struct pack_hit *hit);
/* The record found checked good (verified), or bad (a miss from now). */
void cache_pack_mark(struct body_cache *cache, const char *mailbox,
		uint32_t uidvalidity, uint32_t uid, uint16_t kind,
		uint64_t offset, bool good);
/* Append a whole record (header and body) for uid; *fd_r (a descriptor of
 * the pack) and *offset_r say where it went. */
bool cache_pack_append(struct body_cache *cache, const char *mailbox,
		uint32_t uidvalidity, uint32_t uid, const void *record,
		size_t size, int *fd_r, uint64_t *offset_r, GError **error);
/* uid's body was put in a file of its own. */
void cache_pack_note_single(struct body_cache *cache, const char *mailbox,
		uint32_t uidvalidity, uint32_t uid, uint64_t length);
/* The file at path (dev, ino) was removed. */
void cache_pack_file_gone(struct body_cache *cache, const char *path,
		dev_t dev, ino_t ino);
/* Forget every directory of mailbox but keep_uidvalidity's. */
void cache_pack_drop_stale(struct body_cache *cache, const char *mailbox,
		uint32_t keep_uidvalidity);

struct body_cache {
	char *dir;		/* owned */
	char *account;		/* owned */
	char *bodies;		/* owned: DIR/bodies */
	char *tmp;		/* owned: DIR/tmp */
	uint64_t max_bytes;	/* 0: unbounded */

	GMutex evict_lock;	/* one eviction at a time; before `lock` */
	GMutex lock;		/* protects total, pending, verified */
	uint64_t total;		/* bytes of files under bodies */
	uint64_t pending;	/* bytes announced by writers in DIR/tmp */
	struct verified_map verified;	/* bodies known good */
	/* atomic: bodies are written unnamed in their own directory and
	 * linked in (O_TMPFILE, /proc/self/fd); cleared when the file
	 * system cannot */
	gint link_unnamed;
	/* Under `lock`: the body directories this process has looked into,
	 * by path (struct pack_dir, cache-pack.c), and those dropped while
	 * a writer might still hold them. */
	GHashTable *dirs;
	GPtrArray *dropped_dirs;
	GQueue pack_fds;	/* packs holding a descriptor, other than
				 * those being appended to, oldest first */
	GQueue writing_dirs;	/* directories with a pack being appended
				 * to, oldest first */
	uint64_t pack_limit;	/* bytes per pack file */
	uint64_t pack_body_max;	/* longest body packed */
};

struct body_cache_writer {
	struct body_cache *cache;	/* borrowed */
	char *mailbox;			/* owned */
	uint32_t uidvalidity;
	uint64_t length;		/* announced */
	uint64_t written;		/* body bytes written so far */
	uint64_t reserved;		/* counted in cache->pending */
	struct cache_sum sum;		/* of the bytes written */
	bool transient;			/* too large to keep: unnamed */
	int fd;				/* owned: the temp file, read-write;
					 * -1 for a packed body */
	unsigned char *record;		/* owned: a packed body's record,
					 * header room first (cache-pack.c) */
	char *tmp_path;			/* owned; for an unnamed file only
					 * a name for messages */
	char *dir;			/* owned: the body's directory, where
					 * the unnamed file is linked in; NULL
					 * for a named temp file */
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
void cache_pending_sub(struct body_cache *cache, uint64_t n);
/* Forget that the file dev:ino was verified (it is being removed). */
void cache_forget_verified(struct body_cache *cache, dev_t dev, ino_t ino);

/* Walk a tree without following symlinks: add the size of every regular
 * file to *total and, if files is not NULL, append a struct cached_file. */
void cache_walk(const char *dir, GArray *files, uint64_t *total);
/* Remove a tree (or a file); returns the bytes of regular files removed. */
uint64_t cache_remove_tree(struct body_cache *cache, const char *path);
/* Evict down to 90% of the bound if the bodies kept and those being
 * written exceed it; keep may be NULL. */
void cache_evict(struct body_cache *cache, const struct stat *keep);
void cache_remove_stale_tmp(struct body_cache *cache);
bool cache_over_limit(struct body_cache *cache);

/* The directory name for a mailbox identity; g_free it. */
char *cache_mailbox_dir_name(const char *mailbox);

/* Shared by cache.c and cache-writer.c. */
bool cache_write_all(int fd, const void *buf, size_t len);
bool cache_pwrite_all(int fd, const void *buf, size_t len, off_t off);
void cache_set_io_error(GError **error, const char *what, const char *path,
		int errsv);
bool cache_make_dir(const char *path, GError **error);
char *cache_body_dir_path(struct body_cache *cache, const char *mailbox,
		uint32_t uidvalidity);
char *cache_body_file_path(const char *body_dir, uint32_t uid);
void cache_identity_hex(const char *account, const char *mailbox,
		char out[IDENTITY_HEX + 1]);
bool cache_check_header(const char buf[HEADER_SIZE], const char *identity,
		uint32_t uidvalidity, uint32_t uid, uint64_t *length_r,
		uint64_t *sum_r);
bool cache_sum_matches(int fd, uint64_t offset, uint64_t length,
		uint64_t sum);
size_t cache_format_header(char buf[HEADER_SIZE + 1], const char *identity,
		uint32_t uidvalidity, uint32_t uid, uint64_t length,
		uint64_t sum);
int cache_make_tmp_file(struct body_cache *cache, char **path_r,
		GError **error);
void cache_remember_verified_locked(struct body_cache *cache,
		const struct stat *st, uint64_t sum);

#endif
