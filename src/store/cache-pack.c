/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Pack files: small bodies appended one after another to a few large
 * files instead of one file each.  Creating a file costs the kernel more
 * than writing a small body does (an inode allocated, a directory entry,
 * later a stat to learn it is there); a cold walk of a mailbox spent a
 * quarter of the daemon's CPU there (docs/DESIGN.md, "Cache").
 *
 * A record is a header exactly like a body file's (cache.c), then the
 * body, so a pack describes itself: reading the headers one after another
 * gives each record's UID and length.  Each process appends only to packs
 * it created (named by its PID and a random number, O_EXCL), so two
 * mounts of one account never write the same file; a record is written
 * whole with one pwrite() at an offset reserved for it, and entered in the
 * directory's record map only once written, so no reader sees it before.
 *
 * The record map of a body directory (cache-records.c) is built the first
 * time the directory is used, by reading the headers of its packs and the
 * names of its single files, and kept up to date by this process's own
 * commits and removals.  It answers "is UID cached, and how long is it?"
 * without a system call.  A record written by another process after that
 * is not seen, which costs one fetch, never a wrong byte.
 *
 * Nothing is synced.  A power cut can leave a record with a good header
 * and a zeroed or stale body; the first lookup of each record in a process
 * checks its body against the header's XXH64 (cache.c), as for files.  A
 * torn or zeroed header ends the scan of its pack: what follows is not
 * found and is fetched again.
 *
 * Space is given back by pack: eviction removes whole files, least
 * recently used first (a lookup sets its pack's mtime, once a minute at
 * most).  A record replaced (the same UID fetched again after a failed
 * check) stays as dead bytes until its pack goes.
 *
 * Locking: everything here is under cache->lock, except file I/O of a
 * record, which is done on a dup()ed descriptor once the lock is released.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "store/cache-private.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A pack is touched (its mtime set, for eviction's order) at most this
 * often by lookups. */
#define PACK_TOUCH_SECONDS 60
/* Descriptors kept open for reading packs: one a pack would run out of
 * them with many mailboxes.  Beyond, the oldest is closed and opened
 * again when next needed. */
#define PACK_FDS_MAX 64
/* Packs appended to at once, in as many directories; beyond, the oldest
 * is no longer appended to. */
#define PACK_WRITERS_MAX 16
/* Packs below this size are not worth their bookkeeping: a small bound
 * keeps bodies in files of their own, evicted one by one. */
#define PACK_SIZE_MIN (UINT64_C(1) << 20)

struct pack {
	char *path;		/* owned */
	int fd;			/* -1 until needed; read-write for ours */
	dev_t dev;
	ino_t ino;
	uint64_t end;		/* for ours: where the next record goes */
	time_t touched;		/* when its mtime was last set */
	bool ours;		/* created by this process, appended to */
	bool dead;		/* removed: its records are misses */
};

struct pack_dir {
	char *path;		/* owned: DIR/bodies/M/V */
	char *mailbox;		/* owned: the identity */
	uint32_t uidvalidity;
	char identity[IDENTITY_HEX + 1];
	GPtrArray *packs;	/* struct pack *; indices stay */
	struct record_map records;
	int writing;		/* index of the pack appended to, or -1 */
	bool dropped;		/* out of cache->dirs */
};

static void pack_free(void *p)
{
	struct pack *pack = p;

	if (pack->fd >= 0)
		close(pack->fd);
	g_free(pack->path);
	g_free(pack);
}

static void pack_dir_free(void *p)
{
	struct pack_dir *dir = p;

	g_ptr_array_free(dir->packs, TRUE);
	record_map_clear(&dir->records);
	g_free(dir->mailbox);
	g_free(dir->path);
	g_free(dir);
}

void cache_packs_init(struct body_cache *cache)
{
	cache->dirs = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
			pack_dir_free);
	cache->dropped_dirs = g_ptr_array_new_with_free_func(pack_dir_free);
	cache->pack_limit = cache->max_bytes ?
		MIN(cache->max_bytes / 16, PACK_SIZE_MAX) : PACK_SIZE_MAX;
	cache->pack_body_max = cache->pack_limit >= PACK_SIZE_MIN ?
		MIN(PACK_BODY_MAX, cache->pack_limit / 16) : 0;
}

void cache_packs_free(struct body_cache *cache)
{
	g_queue_clear(&cache->pack_fds);
	g_queue_clear(&cache->writing_dirs);
	g_clear_pointer(&cache->dirs, g_hash_table_destroy);
	if (cache->dropped_dirs)
		g_ptr_array_free(cache->dropped_dirs, TRUE);
	cache->dropped_dirs = NULL;
}

/* A UID as a file name: decimal, no leading zero, not 0. */
static bool uid_name(const char *name, uint32_t *uid_r)
{
	uint64_t uid = 0;
	const char *p;

	if (name[0] < '1' || name[0] > '9')
		return false;
	for (p = name; *p; p++) {
		if (!g_ascii_isdigit(*p) || p - name >= 10)
			return false;
		uid = uid * 10 + (uint64_t)(*p - '0');
	}
	if (uid > UINT32_MAX)
		return false;
	*uid_r = (uint32_t)uid;
	return true;
}

/* The UID a record header names, for cache_check_header() to check the
 * rest of it against. */
static bool header_uid(const char buf[HEADER_SIZE], uint32_t uidvalidity,
		uint32_t *uid_r)
{
	char expect[64];
	int n = snprintf(expect, sizeof(expect), HEADER_MAGIC
			"uidvalidity %" PRIu32 "\nuid ", uidvalidity);
	char digits[16];
	size_t i;

	if (memcmp(buf, expect, (size_t)n) != 0)
		return false;
	for (i = 0; i < 11 && g_ascii_isdigit(buf[(size_t)n + i]); i++)
		digits[i] = buf[(size_t)n + i];
	if (buf[(size_t)n + i] != '\n')
		return false;
	digits[i] = '\0';
	return uid_name(digits, uid_r);
}

/* Add the records of the pack at index to the map, reading each header
 * in turn; the first that is not whole and right ends the pack. */
static void scan_pack(struct pack_dir *dir, uint16_t index, int fd,
		uint64_t size)
{
	char header[HEADER_SIZE];
	uint64_t offset = 0, length, sum;
	uint32_t uid;

	while (offset + HEADER_SIZE <= size && offset <= UINT32_MAX) {
		struct pack_record *rec;

		if (pread(fd, header, HEADER_SIZE, (off_t)offset) !=
				HEADER_SIZE ||
				!header_uid(header, dir->uidvalidity, &uid) ||
				!cache_check_header(header, dir->identity,
					dir->uidvalidity, uid, &length,
					&sum) ||
				length > UINT32_MAX - 1 ||
				size - offset - HEADER_SIZE < length)
			break;
		rec = record_map_put(&dir->records, uid);
		if (rec->pack == RECORD_NONE || rec->pack == RECORD_SINGLE) {
			rec->verified = 0;
		} else if (cache_sum_matches(fd, offset + HEADER_SIZE,
					length, sum)) {
			/* The UID has a record already: it was fetched
			 * again, as the first failed its check.  Which came
			 * first the names of the packs do not say, so this
			 * one takes the place only if it is good. */
			rec->verified = 1;
		} else {
			offset += HEADER_SIZE + length;
			continue;
		}
		rec->pack = index;
		rec->offset = (uint32_t)offset;
		rec->length = (uint32_t)length;
		offset += HEADER_SIZE + length;
	}
}

static void load_pack(struct pack_dir *dir, const char *name)
{
	struct pack *pack;
	struct stat st;
	char *path;
	int fd;

	if (dir->packs->len >= RECORD_SINGLE)
		return;
	path = g_build_filename(dir->path, name, NULL);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		g_free(path);
		return;
	}
	pack = g_new0(struct pack, 1);
	pack->path = path;
	pack->fd = -1;	/* opened again when a record is read */
	pack->dev = st.st_dev;
	pack->ino = st.st_ino;
	pack->end = (uint64_t)st.st_size;
	pack->touched = st.st_mtime;
	g_ptr_array_add(dir->packs, pack);
	scan_pack(dir, (uint16_t)(dir->packs->len - 1), fd,
			(uint64_t)st.st_size);
	close(fd);
}

static void load_dir(struct pack_dir *dir)
{
	GDir *d = g_dir_open(dir->path, 0, NULL);
	const char *name;
	uint32_t uid;

	if (!d)
		return;
	while ((name = g_dir_read_name(d)) != NULL) {
		if (g_str_has_prefix(name, PACK_PREFIX)) {
			load_pack(dir, name);
		} else if (uid_name(name, &uid)) {
			struct pack_record *rec =
				record_map_put(&dir->records, uid);

			/* A record packed says its length; keep it. */
			if (rec->pack == RECORD_NONE) {
				rec->pack = RECORD_SINGLE;
				rec->length = UINT32_MAX;
			}
		}
	}
	g_dir_close(d);
}

/* The directory of mailbox and uidvalidity, loaded; cache->lock held. */
static struct pack_dir *get_dir(struct body_cache *cache,
		const char *mailbox, uint32_t uidvalidity)
{
	char *path = cache_body_dir_path(cache, mailbox, uidvalidity);
	struct pack_dir *dir = g_hash_table_lookup(cache->dirs, path);

	if (dir) {
		g_free(path);
		return dir;
	}
	dir = g_new0(struct pack_dir, 1);
	dir->path = path;
	dir->mailbox = g_strdup(mailbox);
	dir->uidvalidity = uidvalidity;
	cache_identity_hex(cache->account, mailbox, dir->identity);
	dir->packs = g_ptr_array_new_with_free_func(pack_free);
	dir->writing = -1;
	load_dir(dir);
	g_hash_table_insert(cache->dirs, dir->path, dir);
	return dir;
}

/* pack's descriptor (open, for reading only from now on) counts toward
 * PACK_FDS_MAX; the oldest beyond it is closed. */
static void pack_fd_kept(struct body_cache *cache, struct pack *pack)
{
	g_queue_push_tail(&cache->pack_fds, pack);
	while (cache->pack_fds.length > PACK_FDS_MAX) {
		struct pack *old = g_queue_pop_head(&cache->pack_fds);

		if (old->fd >= 0)
			close(old->fd);
		old->fd = -1;
	}
}

static void pack_kill(struct body_cache *cache, struct pack_dir *dir,
		struct pack *pack)
{
	g_queue_remove(&cache->pack_fds, pack);
	pack->dead = true;
	if (pack->fd >= 0)
		close(pack->fd);
	pack->fd = -1;
	if (dir->writing >= 0 && g_ptr_array_index(dir->packs,
				(guint)dir->writing) == pack) {
		dir->writing = -1;
		g_queue_remove(&cache->writing_dirs, dir);
	}
}

/* The pack's descriptor, opened again if it was closed; -1 (and the pack
 * dead) if its file is gone or is another file now. */
static int pack_fd(struct body_cache *cache, struct pack_dir *dir,
		struct pack *pack)
{
	struct stat st;
	int fd;

	if (pack->fd >= 0 || pack->dead)
		return pack->fd;
	fd = open(pack->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_dev != pack->dev ||
			st.st_ino != pack->ino) {
		if (fd >= 0)
			close(fd);
		if (fd >= 0 || errno == ENOENT)
			pack_kill(cache, dir, pack);
		return -1;
	}
	/* Reads of it must block like any file's. */
	(void)fcntl(fd, F_SETFL, 0);
	pack->fd = fd;
	pack_fd_kept(cache, pack);
	return fd;
}

uint16_t cache_pack_find(struct body_cache *cache, const char *mailbox,
		uint32_t uidvalidity, uint32_t uid, bool want_fd,
		struct pack_hit *hit)
{
	struct pack_dir *dir;
	struct pack_record *rec;
	struct pack *pack;
	uint16_t kind = RECORD_NONE;
	time_t now;

	hit->fd = -1;
	hit->touch = false;
	g_mutex_lock(&cache->lock);
	dir = get_dir(cache, mailbox, uidvalidity);
	memcpy(hit->identity, dir->identity, sizeof(hit->identity));
	rec = record_map_find(&dir->records, uid);
	if (!rec || rec->pack == RECORD_NONE)
		goto out;
	hit->offset = rec->offset;
	hit->length = rec->length;
	hit->verified = rec->verified;
	if (rec->pack == RECORD_SINGLE) {
		kind = RECORD_SINGLE;
		goto out;
	}
	pack = g_ptr_array_index(dir->packs, rec->pack);
	if (pack->dead)
		goto out;
	if (want_fd) {
		int fd = pack_fd(cache, dir, pack);

		if (fd < 0)
			goto out;
		hit->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		if (hit->fd < 0)
			goto out;
		now = time(NULL);
		if (pack->touched < now - PACK_TOUCH_SECONDS) {
			pack->touched = now;
			hit->touch = true;
		}
	}
	kind = rec->pack;
out:
	g_mutex_unlock(&cache->lock);
	return kind;
}

void cache_pack_mark(struct body_cache *cache, const char *mailbox,
		uint32_t uidvalidity, uint32_t uid, uint16_t kind,
		uint64_t offset, bool good)
{
	struct pack_dir *dir;
	struct pack_record *rec;

	g_mutex_lock(&cache->lock);
	dir = get_dir(cache, mailbox, uidvalidity);
	rec = record_map_find(&dir->records, uid);
	/* Unless another record of the UID took its place meanwhile. */
	if (rec && rec->pack == kind &&
			(kind == RECORD_SINGLE || rec->offset == offset)) {
		if (good)
			rec->verified = 1;
		else
			rec->pack = RECORD_NONE;
	}
	g_mutex_unlock(&cache->lock);
}

void cache_pack_note_single(struct body_cache *cache, const char *mailbox,
		uint32_t uidvalidity, uint32_t uid, uint64_t length)
{
	struct pack_record *rec;

	g_mutex_lock(&cache->lock);
	rec = record_map_put(&get_dir(cache, mailbox, uidvalidity)->records,
			uid);
	rec->pack = RECORD_SINGLE;
	rec->length = length < UINT32_MAX ? (uint32_t)length : UINT32_MAX;
	rec->verified = 0;
	g_mutex_unlock(&cache->lock);
}

/* No more records go to the pack dir appended to: its descriptor is
 * kept like any reader's from now on.  cache->lock held. */
static void stop_writing(struct body_cache *cache, struct pack_dir *dir)
{
	struct pack *pack;

	if (dir->writing < 0)
		return;
	pack = g_ptr_array_index(dir->packs, (guint)dir->writing);
	dir->writing = -1;
	g_queue_remove(&cache->writing_dirs, dir);
	if (!pack->dead && pack->fd >= 0)
		pack_fd_kept(cache, pack);
}

/* A new pack of ours in dir; cache->lock held. */
static struct pack *new_pack(struct body_cache *cache, struct pack_dir *dir,
		GError **error)
{
	struct pack *pack;
	struct stat st;
	char *path = NULL;
	int fd = -1;

	if (dir->packs->len >= RECORD_SINGLE) {
		g_set_error(error, BODY_CACHE_ERROR, BODY_CACHE_ERROR_IO,
				"too many pack files in %s", dir->path);
		return NULL;
	}
	for (int attempt = 0; attempt < 8 && fd < 0; attempt++) {
		g_free(path);
		path = g_strdup_printf("%s/" PACK_PREFIX "%ld-%08" PRIx32
				"%08" PRIx32, dir->path, (long)getpid(),
				g_random_int(), g_random_int());
		fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0 && errno == ENOENT && !cache_make_dir(dir->path,
					error))
			break;
		if (fd < 0 && errno != ENOENT && errno != EEXIST)
			break;
	}
	if (fd < 0 || fstat(fd, &st) < 0) {
		if (error && !*error)
			cache_set_io_error(error, "cannot create", path,
					errno);
		if (fd >= 0) {
			close(fd);
			(void)unlink(path);
		}
		g_free(path);
		return NULL;
	}
	pack = g_new0(struct pack, 1);
	pack->path = path;
	pack->fd = fd;
	pack->dev = st.st_dev;
	pack->ino = st.st_ino;
	pack->touched = time(NULL);
	pack->ours = true;
	g_ptr_array_add(dir->packs, pack);
	dir->writing = (int)dir->packs->len - 1;
	g_queue_remove(&cache->writing_dirs, dir);
	g_queue_push_tail(&cache->writing_dirs, dir);
	while (cache->writing_dirs.length > PACK_WRITERS_MAX)
		stop_writing(cache, g_queue_peek_head(&cache->writing_dirs));
	return pack;
}

bool cache_pack_append(struct body_cache *cache, const char *mailbox,
		uint32_t uidvalidity, uint32_t uid, const void *record,
		size_t size, int *fd_r, uint64_t *offset_r, GError **error)
{
	struct pack_dir *dir;
	struct pack *pack = NULL;
	uint64_t offset;
	uint16_t index;
	int fd;

	*fd_r = -1;
	g_mutex_lock(&cache->lock);
	dir = get_dir(cache, mailbox, uidvalidity);
	if (dir->writing >= 0) {
		pack = g_ptr_array_index(dir->packs, (guint)dir->writing);
		if (pack->dead || pack->end + size > cache->pack_limit) {
			stop_writing(cache, dir);
			pack = NULL;
		}
	}
	if (!pack)
		pack = new_pack(cache, dir, error);
	if (!pack) {
		g_mutex_unlock(&cache->lock);
		return false;
	}
	index = (uint16_t)dir->writing;
	offset = pack->end;
	pack->end += size;
	fd = fcntl(pack->fd, F_DUPFD_CLOEXEC, 0);
	g_mutex_unlock(&cache->lock);

	if (fd < 0 || !cache_pwrite_all(fd, record, size, (off_t)offset)) {
		cache_set_io_error(error, "cannot write", pack->path, errno);
		if (fd >= 0)
			close(fd);
		/* What follows a hole would not be found again: the next
		 * record goes to a new pack. */
		g_mutex_lock(&cache->lock);
		if (dir->writing == index)
			stop_writing(cache, dir);
		g_mutex_unlock(&cache->lock);
		return false;
	}

	g_mutex_lock(&cache->lock);
	/* Evicted or dropped meanwhile: served through fd, not kept. */
	if (!pack->dead && !dir->dropped) {
		struct pack_record *rec = record_map_put(&dir->records, uid);

		rec->pack = index;
		rec->offset = (uint32_t)offset;
		rec->length = (uint32_t)(size - HEADER_SIZE);
		rec->verified = 1;
	}
	g_mutex_unlock(&cache->lock);
	*fd_r = fd;
	*offset_r = offset;
	return true;
}

void cache_pack_file_gone(struct body_cache *cache, const char *path,
		dev_t dev, ino_t ino)
{
	char *parent = g_path_get_dirname(path);
	char *name = g_path_get_basename(path);
	struct pack_dir *dir;
	uint32_t uid;

	g_mutex_lock(&cache->lock);
	dir = g_hash_table_lookup(cache->dirs, parent);
	if (dir && g_str_has_prefix(name, PACK_PREFIX)) {
		for (guint i = 0; i < dir->packs->len; i++) {
			struct pack *pack = g_ptr_array_index(dir->packs, i);

			if (pack->dev == dev && pack->ino == ino)
				pack_kill(cache, dir, pack);
		}
	} else if (dir && uid_name(name, &uid)) {
		struct pack_record *rec = record_map_find(&dir->records, uid);

		if (rec && rec->pack == RECORD_SINGLE)
			rec->pack = RECORD_NONE;
	}
	g_mutex_unlock(&cache->lock);
	g_free(name);
	g_free(parent);
}

void cache_pack_drop_stale(struct body_cache *cache, const char *mailbox,
		uint32_t keep_uidvalidity)
{
	GHashTableIter iter;
	gpointer value;

	g_mutex_lock(&cache->lock);
	g_hash_table_iter_init(&iter, cache->dirs);
	while (g_hash_table_iter_next(&iter, NULL, &value)) {
		struct pack_dir *dir = value;

		if (dir->uidvalidity == keep_uidvalidity ||
				strcmp(dir->mailbox, mailbox) != 0)
			continue;
		for (guint i = 0; i < dir->packs->len; i++)
			pack_kill(cache, dir,
					g_ptr_array_index(dir->packs, i));
		dir->dropped = true;
		/* A writer may hold it until its commit; freed at close. */
		g_hash_table_iter_steal(&iter);
		g_ptr_array_add(cache->dropped_dirs, dir);
	}
	g_mutex_unlock(&cache->lock);
}
