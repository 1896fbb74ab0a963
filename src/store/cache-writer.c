/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Writing bodies into the cache as the bytes come, checked against the
 * length announced: a small body in memory, appended to a pack at commit
 * (cache-pack.c); a larger one to an unnamed file linked into place, or a
 * named temp file renamed (see cache.h and docs/DESIGN.md, "Cache").
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* O_TMPFILE */
#endif

#include "store/cache.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>

#include "store/cache-private.h"

/*
 * A temp file in DIR/tmp without a name, for a body that is not kept: it
 * goes when its last fd is closed, whatever happens to this process.
 */
static int make_unnamed_tmp_file(struct body_cache *cache, GError **error)
{
	char *path;
	int fd;

	fd = open(cache->tmp, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	/* Not every file system has O_TMPFILE: name it, then unname it. */
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
		cache_set_io_error(error, "cannot create a temporary file in",
				cache->tmp, errno);
		return -1;
	}
	fd = cache_make_tmp_file(cache, &path, error);
	if (fd < 0)
		return -1;
	if (unlink(path) < 0) {
		cache_set_io_error(error, "cannot remove", path, errno);
		close(fd);
		(void)unlink(path);
		g_free(path);
		return -1;
	}
	g_free(path);
	return fd;
}

/*
 * A body's file, unnamed, in the directory it will be linked into at
 * commit (O_TMPFILE): there is no name to create in DIR/tmp and rename
 * across directories, which locks both and made the writers of parallel
 * fetches wait for each other, and a crash leaves nothing behind.  -1
 * when the file system cannot (the caller then names a temp file).
 */
static int make_unnamed_body_file(struct body_cache *cache, const char *dir)
{
	int fd = -1;

	if (!g_atomic_int_get(&cache->link_unnamed))
		return -1;
	for (int attempt = 0; attempt < 2 && fd < 0; attempt++) {
		fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
		if (fd < 0 && errno == ENOENT && attempt == 0 &&
				!cache_make_dir(dir, NULL))
			break;
		if (fd < 0 && errno != ENOENT)
			break;
	}
	if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR ||
				errno == EINVAL))
		g_atomic_int_set(&cache->link_unnamed, 0);
	return fd;
}

struct body_cache_writer *body_cache_writer_new(struct body_cache *cache,
		const char *mailbox, uint32_t uidvalidity, uint64_t length,
		GError **error)
{
	static const char zeros[HEADER_SIZE];
	struct body_cache_writer *writer;
	char *tmp_path = NULL, *dir = NULL;
	bool transient;
	int fd;

	g_return_val_if_fail(cache != NULL, NULL);
	g_return_val_if_fail(mailbox != NULL, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	if (length > BODY_LENGTH_MAX) {
		g_set_error(error, BODY_CACHE_ERROR,
				BODY_CACHE_ERROR_TOO_LARGE,
				"a body of %" PRIu64 " bytes cannot be cached",
				length);
		return NULL;
	}

	/* Keeping it would take more than half of the bound, and so push
	 * out much of the rest: it is served once from an unnamed file (see
	 * the top of this file). */
	transient = cache->max_bytes != 0 && length > cache->max_bytes / 2;
	if (!transient && cache->pack_body_max &&
			length <= cache->pack_body_max) {
		/* Small: kept in memory and appended to a pack whole at
		 * commit, so that no reader or later scan meets half a
		 * record. */
		writer = g_new0(struct body_cache_writer, 1);
		writer->record = g_malloc(HEADER_SIZE + length);
		writer->fd = -1;
		writer->tmp_path = g_strdup("a pack record");
		goto made;
	}
	if (transient) {
		fd = make_unnamed_tmp_file(cache, error);
		if (fd >= 0)
			tmp_path = g_strdup_printf("an unnamed file in %s",
					cache->tmp);
	} else {
		dir = cache_body_dir_path(cache, mailbox, uidvalidity);
		fd = make_unnamed_body_file(cache, dir);
		if (fd >= 0)
			tmp_path = g_strdup_printf("an unnamed file in %s",
					dir);
		else
			g_clear_pointer(&dir, g_free);
		if (fd < 0)
			fd = cache_make_tmp_file(cache, &tmp_path, error);
	}
	if (fd < 0)
		return NULL;
	/* Room for the header, written at commit when the UID is known;
	 * a transient body has the room too, so that every entry has the
	 * same layout. */
	if (!cache_write_all(fd, zeros, sizeof(zeros))) {
		cache_set_io_error(error, "cannot write", tmp_path, errno);
		close(fd);
		if (!transient && !dir)
			(void)unlink(tmp_path);
		g_free(tmp_path);
		g_free(dir);
		return NULL;
	}

	writer = g_new0(struct body_cache_writer, 1);
	writer->fd = fd;
	writer->tmp_path = tmp_path;
	writer->dir = dir;
made:
	writer->cache = cache;
	writer->mailbox = g_strdup(mailbox);
	writer->uidvalidity = uidvalidity;
	writer->length = length;
	writer->transient = transient;
	cache_sum_init(&writer->sum);

	if (!transient) {
		/* Counted from now on, and room made before the bytes come:
		 * the disk holds them from the start, not from the commit. */
		writer->reserved = HEADER_SIZE + length;
		g_mutex_lock(&cache->lock);
		cache->pending = cache_add_sat(cache->pending,
				writer->reserved);
		g_mutex_unlock(&cache->lock);
		if (cache_over_limit(cache))
			cache_evict(cache, NULL);
	}
	return writer;
}

void body_cache_writer_write(struct body_cache_writer *writer,
		const void *data, size_t len)
{
	g_return_if_fail(writer != NULL);
	g_return_if_fail(data != NULL || len == 0);

	if (writer->error || len == 0)
		return;
	if (len > writer->length - writer->written) {
		g_set_error(&writer->error, BODY_CACHE_ERROR,
				BODY_CACHE_ERROR_TOO_LARGE,
				"more than the announced %" PRIu64
				" bytes for %s", writer->length,
				writer->tmp_path);
		return;
	}
	if (writer->record)
		memcpy(writer->record + HEADER_SIZE + writer->written, data,
				len);
	else if (!cache_write_all(writer->fd, data, len)) {
		cache_set_io_error(&writer->error, "cannot write",
				writer->tmp_path, errno);
		return;
	}
	if (!writer->transient)
		cache_sum_update(&writer->sum, data, len);
	writer->written += len;
}

static void writer_free(struct body_cache_writer *writer)
{
	if (writer->reserved)
		cache_pending_sub(writer->cache, writer->reserved);
	if (writer->fd >= 0)
		close(writer->fd);
	/* A record's tmp_path only names it for messages. */
	if (writer->tmp_path && !writer->transient && !writer->dir &&
			!writer->record)
		(void)unlink(writer->tmp_path);
	g_clear_error(&writer->error);
	g_free(writer->record);
	g_free(writer->tmp_path);
	g_free(writer->dir);
	g_free(writer->mailbox);
	g_free(writer);
}

/*
 * Move the temp file to path, creating its directory when the rename says
 * it is missing: it almost never is, and asking first cost a stat and a
 * mkdir for every body.  A concurrent body_cache_drop_stale() may remove
 * the directory between the mkdir and the rename, so that is tried again
 * a few times.
 */
static bool move_into_place(const char *tmp_path, const char *dir,
		const char *path, GError **error)
{
	int attempt;

	for (attempt = 0; ; attempt++) {
		if (rename(tmp_path, path) == 0)
			return true;
		if (errno != ENOENT || attempt == 3)
			break;
		if (!cache_make_dir(dir, error))
			return false;
	}
	g_set_error(error, BODY_CACHE_ERROR, BODY_CACHE_ERROR_IO,
			"cannot rename %s to %s: %s", tmp_path, path,
			g_strerror(errno));
	return false;
}

/*
 * Give the unnamed file fd its name path, in dir.  A file already there
 * has the same key, so the same bytes: it is unlinked (and uncounted)
 * first, as often as other writers of the key put theirs back meanwhile.
 * As with move_into_place(), a directory removed meanwhile is made anew.
 */
static bool link_into_place(struct body_cache *cache, int fd, const char *dir,
		const char *path, GError **error)
{
	char source[32];
	struct stat old;

	g_snprintf(source, sizeof(source), "/proc/self/fd/%d", fd);
	for (int attempt = 0; attempt < 8; attempt++) {
		if (linkat(AT_FDCWD, source, AT_FDCWD, path,
					AT_SYMLINK_FOLLOW) == 0)
			return true;
		if (errno == EEXIST) {
			if (lstat(path, &old) == 0 && S_ISREG(old.st_mode) &&
					unlink(path) == 0) {
				cache_forget_verified(cache, old.st_dev,
						old.st_ino);
				g_mutex_lock(&cache->lock);
				cache->total = cache_sub_sat(cache->total,
						(uint64_t)old.st_size);
				g_mutex_unlock(&cache->lock);
			}
			continue;	/* or another writer's went already */
		}
		if (errno != ENOENT || !cache_make_dir(dir, error))
			break;
	}
	if (error && !*error)
		g_set_error(error, BODY_CACHE_ERROR, BODY_CACHE_ERROR_IO,
				"cannot link %s to %s: %s", source, path,
				g_strerror(errno));
	return false;
}

/* A small body: its record appended to a pack (cache-pack.c). */
static bool commit_packed(struct body_cache_writer *writer, uint32_t uid,
		const char header[HEADER_SIZE], struct body_cache_entry *entry,
		GError **error)
{
	struct body_cache *cache = writer->cache;
	size_t size = HEADER_SIZE + (size_t)writer->length;
	uint64_t offset;
	int fd;

	memcpy(writer->record, header, HEADER_SIZE);
	if (!cache_pack_append(cache, writer->mailbox, writer->uidvalidity,
				uid, writer->record, size, &fd, &offset,
				error)) {
		writer_free(writer);
		return false;
	}
	g_mutex_lock(&cache->lock);
	cache->total = cache_add_sat(cache->total, size);
	cache->pending = cache_sub_sat(cache->pending, writer->reserved);
	writer->reserved = 0;
	g_mutex_unlock(&cache->lock);

	entry->fd = fd;
	entry->offset = offset + HEADER_SIZE;
	entry->length = writer->length;
	writer_free(writer);
	if (cache_over_limit(cache))
		cache_evict(cache, NULL);
	return true;
}

bool body_cache_writer_commit(struct body_cache_writer **writerp,
		uint32_t uid, struct body_cache_entry *entry, GError **error)
{
	struct body_cache_writer *writer;
	struct body_cache *cache;
	char identity[IDENTITY_HEX + 1];
	char header[HEADER_SIZE + 1];
	char *dir = NULL, *path = NULL;
	struct stat old = { 0 }, st;
	uint64_t sum;
	bool replaced;
	int fd = -1;

	g_return_val_if_fail(writerp != NULL && *writerp != NULL, false);
	g_return_val_if_fail(entry != NULL, false);
	g_return_val_if_fail(error == NULL || *error == NULL, false);

	writer = *writerp;
	*writerp = NULL;
	cache = writer->cache;
	entry->fd = -1;
	entry->offset = 0;
	entry->length = 0;

	if (writer->error) {
		g_propagate_error(error, writer->error);
		writer->error = NULL;
		goto fail;
	}
	if (writer->written != writer->length) {
		g_set_error(error, BODY_CACHE_ERROR, BODY_CACHE_ERROR_SHORT,
				"%" PRIu64 " of the announced %" PRIu64
				" bytes written to %s", writer->written,
				writer->length, writer->tmp_path);
		goto fail;
	}

	if (writer->transient) {
		/* Served through this fd alone; nothing is kept, so nothing
		 * is counted and nothing evicted. */
		entry->fd = writer->fd;
		entry->offset = HEADER_SIZE;
		entry->length = writer->length;
		writer->fd = -1;
		writer_free(writer);
		return true;
	}

	cache_identity_hex(cache->account, writer->mailbox, identity);
	sum = cache_sum_final(&writer->sum);
	cache_format_header(header, identity, writer->uidvalidity, uid,
			writer->length, sum);
	if (writer->record)
		return commit_packed(writer, uid, header, entry, error);
	if (!cache_pwrite_all(writer->fd, header, HEADER_SIZE, 0)) {
		cache_set_io_error(error, "cannot write", writer->tmp_path, errno);
		goto fail;
	}
	/*
	 * No fsync(): this is a cache, and one fsync per body would make
	 * filling it many times slower.  Whatever a power cut leaves here
	 * (nothing, a short file, zeroed or stale blocks) fails the header,
	 * size or checksum check of body_cache_lookup() in the next mount,
	 * and the body is fetched again.
	 */
	if (writer->dir) {
		/* Unnamed: its fd, already open, is the one served. */
		if (fstat(writer->fd, &st) < 0) {
			cache_set_io_error(error, "cannot write",
					writer->tmp_path, errno);
			goto fail;
		}
		path = cache_body_file_path(writer->dir, uid);
		if (!link_into_place(cache, writer->fd, writer->dir, path,
					error))
			goto fail;
		replaced = false;	/* counted out as it went */
		fd = writer->fd;
		writer->fd = -1;
		goto placed;
	}
	if (close(writer->fd) < 0) {
		writer->fd = -1;
		cache_set_io_error(error, "cannot write", writer->tmp_path, errno);
		goto fail;
	}
	writer->fd = -1;

	/* Opened before the rename, so that nothing done to the path once
	 * the body is visible (eviction, drop_stale) can take it from us. */
	fd = open(writer->tmp_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		cache_set_io_error(error, "cannot open", writer->tmp_path, errno);
		goto fail;
	}

	dir = cache_body_dir_path(cache, writer->mailbox, writer->uidvalidity);
	path = cache_body_file_path(dir, uid);
	/* Same key, same bytes: an existing file is simply replaced. */
	replaced = lstat(path, &old) == 0 && S_ISREG(old.st_mode);
	if (!move_into_place(writer->tmp_path, dir, path, error))
		goto fail;
	g_clear_pointer(&writer->tmp_path, g_free);
placed:
	cache_pack_note_single(cache, writer->mailbox, writer->uidvalidity,
			uid, writer->length);
	if (replaced)
		cache_forget_verified(cache, old.st_dev, old.st_ino);
	g_mutex_lock(&cache->lock);
	if (replaced)
		cache->total = cache_sub_sat(cache->total, (uint64_t)old.st_size);
	cache->total = cache_add_sat(cache->total, (uint64_t)st.st_size);
	cache->pending = cache_sub_sat(cache->pending, writer->reserved);
	writer->reserved = 0;
	/* Its bytes are the ones just summed: no need to read them back. */
	cache_remember_verified_locked(cache, &st, sum);
	g_mutex_unlock(&cache->lock);

	entry->fd = fd;
	entry->offset = HEADER_SIZE;
	entry->length = writer->length;
	g_free(path);
	g_free(dir);
	writer_free(writer);

	if (cache_over_limit(cache))
		cache_evict(cache, &st);
	return true;

fail:
	if (fd >= 0)
		close(fd);
	g_free(path);
	g_free(dir);
	writer_free(writer);
	return false;
}

void body_cache_writer_abort(struct body_cache_writer **writerp)
{
	if (!writerp || !*writerp)
		return;
	writer_free(*writerp);
	*writerp = NULL;
}

