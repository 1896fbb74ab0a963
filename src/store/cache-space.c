/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Keeping the cache within its bound: the running total of bytes kept and
 * being written, walks of the tree, least-recently-used eviction, and
 * removal of what is stale (old temp files, bodies of a UIDVALIDITY that is
 * gone).
 */
#include "store/cache-private.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

uint64_t cache_add_sat(uint64_t a, uint64_t b)
{
	return b > UINT64_MAX - a ? UINT64_MAX : a + b;
}

uint64_t cache_sub_sat(uint64_t a, uint64_t b)
{
	return b > a ? 0 : a - b;
}

void cache_total_sub(struct body_cache *cache, uint64_t n)
{
	g_mutex_lock(&cache->lock);
	cache->total = cache_sub_sat(cache->total, n);
	g_mutex_unlock(&cache->lock);
}

void cache_pending_sub(struct body_cache *cache, uint64_t n)
{
	g_mutex_lock(&cache->lock);
	cache->pending = cache_sub_sat(cache->pending, n);
	g_mutex_unlock(&cache->lock);
}

void cache_forget_verified(struct body_cache *cache, dev_t dev, ino_t ino)
{
	g_mutex_lock(&cache->lock);
	verified_map_remove(&cache->verified, verified_key(dev, ino));
	g_mutex_unlock(&cache->lock);
}

/*
 * Walk a tree without following symlinks: add the size of every regular
 * file to *total and, if files is not NULL, append it there.
 */
void cache_walk(const char *dir, GArray *files, uint64_t *total)
{
	GDir *d = g_dir_open(dir, 0, NULL);
	const char *name;

	if (!d)
		return;
	while ((name = g_dir_read_name(d)) != NULL) {
		char *path = g_build_filename(dir, name, NULL);
		struct stat st;

		if (lstat(path, &st) == 0) {
			if (S_ISDIR(st.st_mode)) {
				cache_walk(path, files, total);
			} else if (S_ISREG(st.st_mode)) {
				*total = cache_add_sat(*total, (uint64_t)st.st_size);
				if (files) {
					struct cached_file f = {
						.path = path,
						.size = (uint64_t)st.st_size,
						.mtime = st.st_mtim,
						.dev = st.st_dev,
						.ino = st.st_ino,
					};

					g_array_append_val(files, f);
					path = NULL;
				}
			}
		}
		g_free(path);
	}
	g_dir_close(d);
}

/* Remove a tree (or a file); returns the bytes of regular files removed. */
uint64_t cache_remove_tree(struct body_cache *cache, const char *path)
{
	struct stat st;
	uint64_t removed = 0;

	if (lstat(path, &st) < 0)
		return 0;
	if (S_ISDIR(st.st_mode)) {
		GDir *d = g_dir_open(path, 0, NULL);
		const char *name;

		if (d) {
			while ((name = g_dir_read_name(d)) != NULL) {
				char *sub = g_build_filename(path, name, NULL);

				removed = cache_add_sat(removed,
						cache_remove_tree(cache, sub));
				g_free(sub);
			}
			g_dir_close(d);
		}
		/* May fail if a commit just put a file here: it stays. */
		(void)rmdir(path);
	} else if (unlink(path) == 0 && S_ISREG(st.st_mode)) {
		cache_forget_verified(cache, st.st_dev, st.st_ino);
		cache_pack_file_gone(cache, path, st.st_dev, st.st_ino);
		removed = (uint64_t)st.st_size;
	}
	return removed;
}

static void clear_cached_file(void *p)
{
	struct cached_file *f = p;

	g_free(f->path);
}

static int compare_cached_file(const void *a, const void *b)
{
	const struct cached_file *fa = a, *fb = b;

	if (fa->mtime.tv_sec != fb->mtime.tv_sec)
		return fa->mtime.tv_sec < fb->mtime.tv_sec ? -1 : 1;
	if (fa->mtime.tv_nsec != fb->mtime.tv_nsec)
		return fa->mtime.tv_nsec < fb->mtime.tv_nsec ? -1 : 1;
	return strcmp(fa->path, fb->path);
}

static uint64_t pending_bytes(struct body_cache *cache)
{
	uint64_t pending;

	g_mutex_lock(&cache->lock);
	pending = cache->pending;
	g_mutex_unlock(&cache->lock);
	return pending;
}

/*
 * Bodies being written count as if they were kept already: they will be in
 * a moment, and the disk holds them meanwhile.  Bodies too large to keep
 * (see body_cache_writer_new) are not counted at all, so they never cost
 * another body its place.
 */
bool cache_over_limit(struct body_cache *cache)
{
	uint64_t used;

	if (cache->max_bytes == 0)
		return false;
	g_mutex_lock(&cache->lock);
	used = cache_add_sat(cache->total, cache->pending);
	g_mutex_unlock(&cache->lock);
	return used > cache->max_bytes;
}

/*
 * If the bodies kept and being written exceed the bound, remove the least
 * recently used until they take at most 90% of it, so that not every
 * commit has to walk the tree.  keep (may be NULL) is the file just
 * committed, which always stays (it is at most half the bound).  Readers
 * holding an fd of a removed file keep reading it.
 */
void cache_evict(struct body_cache *cache, const struct stat *keep)
{
	GArray *files;
	uint64_t total = 0, target, pending;
	guint i;

	g_mutex_lock(&cache->evict_lock);
	if (!cache_over_limit(cache)) {
		/* Someone else evicted while we waited. */
		g_mutex_unlock(&cache->evict_lock);
		return;
	}

	files = g_array_new(FALSE, FALSE, sizeof(struct cached_file));
	g_array_set_clear_func(files, clear_cached_file);
	cache_walk(cache->bodies, files, &total);
	g_array_sort(files, compare_cached_file);

	target = cache->max_bytes - cache->max_bytes / 10;
	pending = pending_bytes(cache);
	target = cache_sub_sat(target, pending);
	for (i = 0; i < files->len && total > target; i++) {
		struct cached_file *f = &g_array_index(files,
				struct cached_file, i);
		struct stat st;

		if (keep && f->dev == keep->st_dev && f->ino == keep->st_ino)
			continue;
		if (lstat(f->path, &st) < 0) {
			if (errno == ENOENT)
				total = cache_sub_sat(total, f->size);
			continue;
		}
		/* Replaced since the walk: that one is new, leave it. */
		if (st.st_dev != f->dev || st.st_ino != f->ino)
			continue;
		if (unlink(f->path) == 0 || errno == ENOENT) {
			cache_forget_verified(cache, f->dev, f->ino);
			cache_pack_file_gone(cache, f->path, f->dev, f->ino);
			total = cache_sub_sat(total, f->size);
		}
	}
	g_array_free(files, TRUE);

	/*
	 * The walk is the truth; commits that raced with it may be missed or
	 * counted twice, which the next walk corrects.
	 */
	g_mutex_lock(&cache->lock);
	cache->total = total;
	g_mutex_unlock(&cache->lock);
	g_mutex_unlock(&cache->evict_lock);
}

/*
 * Temp files left by a crash are removed once they are an hour old; younger
 * ones may belong to another mount of the same account writing right now.
 */
void cache_remove_stale_tmp(struct body_cache *cache)
{
	GDir *d = g_dir_open(cache->tmp, 0, NULL);
	time_t now = time(NULL);
	const char *name;

	if (!d)
		return;
	while ((name = g_dir_read_name(d)) != NULL) {
		char *path = g_build_filename(cache->tmp, name, NULL);
		struct stat st;

		if (lstat(path, &st) == 0 && !S_ISDIR(st.st_mode) &&
				st.st_mtime < now - TMP_MAX_AGE)
			(void)unlink(path);
		g_free(path);
	}
	g_dir_close(d);
}

/*
 * Only frees space: a body under another UIDVALIDITY is never served for
 * this one anyway, since the UIDVALIDITY is part of its path and header.
 * So failures are ignored; what is left is removed by a later call or
 * evicted.
 */
void body_cache_drop_stale(struct body_cache *cache, const char *mailbox,
		uint32_t keep_uidvalidity)
{
	char *mdir_name, *mdir;
	char keep[16];
	uint64_t removed = 0;
	const char *name;
	GDir *d;

	g_return_if_fail(cache != NULL);
	g_return_if_fail(mailbox != NULL);

	cache_pack_drop_stale(cache, mailbox, keep_uidvalidity);
	mdir_name = cache_mailbox_dir_name(mailbox);
	mdir = g_build_filename(cache->bodies, mdir_name, NULL);
	g_free(mdir_name);
	snprintf(keep, sizeof(keep), "%" PRIu32, keep_uidvalidity);

	d = g_dir_open(mdir, 0, NULL);
	if (d) {
		while ((name = g_dir_read_name(d)) != NULL) {
			char *path;

			if (strcmp(name, keep) == 0)
				continue;
			path = g_build_filename(mdir, name, NULL);
			removed = cache_add_sat(removed,
					cache_remove_tree(cache, path));
			g_free(path);
		}
		g_dir_close(d);
	}
	g_free(mdir);
	cache_total_sub(cache, removed);
}

uint64_t body_cache_size(struct body_cache *cache)
{
	uint64_t total;

	g_return_val_if_fail(cache != NULL, 0);

	g_mutex_lock(&cache->lock);
	total = cache->total;
	g_mutex_unlock(&cache->lock);
	return total;
}
