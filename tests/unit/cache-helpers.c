/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Helpers shared by the body cache's tests. */
#include "cache-helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>

char *make_test_dir(void)
{
	GError *error = NULL;
	char *dir = g_dir_make_tmp("test-cache-XXXXXX", &error);

	g_assert_no_error(error);
	g_assert_nonnull(dir);
	return dir;
}

void remove_tree(const char *path)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return;
	if (S_ISDIR(st.st_mode)) {
		GDir *d = g_dir_open(path, 0, NULL);
		const char *name;

		g_assert_nonnull(d);
		while ((name = g_dir_read_name(d)) != NULL) {
			char *sub = g_build_filename(path, name, NULL);

			remove_tree(sub);
			g_free(sub);
		}
		g_dir_close(d);
		g_assert_cmpint(rmdir(path), ==, 0);
	} else {
		g_assert_cmpint(unlink(path), ==, 0);
	}
}

/* Regular files below path, and their total size. */
unsigned int count_files(const char *path, uint64_t *bytes)
{
	unsigned int n = 0;
	struct stat st;

	if (lstat(path, &st) < 0)
		return 0;
	if (S_ISREG(st.st_mode)) {
		if (bytes)
			*bytes += (uint64_t)st.st_size;
		return 1;
	}
	if (S_ISDIR(st.st_mode)) {
		GDir *d = g_dir_open(path, 0, NULL);
		const char *name;

		g_assert_nonnull(d);
		while ((name = g_dir_read_name(d)) != NULL) {
			char *sub = g_build_filename(path, name, NULL);

			n += count_files(sub, bytes);
			g_free(sub);
		}
		g_dir_close(d);
	}
	return n;
}

unsigned int count_in(const char *dir, const char *sub)
{
	char *path = g_build_filename(dir, sub, NULL);
	unsigned int n = count_files(path, NULL);

	g_free(path);
	return n;
}

uint64_t bytes_in_bodies(const char *dir)
{
	char *path = g_build_filename(dir, "bodies", NULL);
	uint64_t bytes = 0;

	count_files(path, &bytes);
	g_free(path);
	return bytes;
}

struct body_cache_key make_key(const char *mailbox,
		uint32_t uidvalidity, uint32_t uid)
{
	struct body_cache_key key = {
		.account = "alice",
		.mailbox = mailbox,
		.uidvalidity = uidvalidity,
		.uid = uid,
	};

	return key;
}

/* Write data in chunks of the given sizes (cycled; NULL: all at once). */
void write_chunked(struct body_cache_writer *writer,
		const unsigned char *data, size_t len, const size_t *chunks,
		size_t nchunks)
{
	size_t done = 0, i = 0;

	while (done < len) {
		size_t n = chunks ? chunks[i++ % nchunks] : len;

		if (n > len - done)
			n = len - done;
		body_cache_writer_write(writer, data + done, n);
		done += n;
	}
}

void commit_body(struct body_cache *cache, const char *mailbox,
		uint32_t uidvalidity, uint32_t uid, const void *data,
		size_t len, struct body_cache_entry *entry)
{
	GError *error = NULL;
	struct body_cache_writer *writer;
	bool ok;

	writer = body_cache_writer_new(cache, mailbox, uidvalidity, len,
			&error);
	g_assert_no_error(error);
	g_assert_nonnull(writer);
	write_chunked(writer, data, len, NULL, 0);
	ok = body_cache_writer_commit(&writer, uid, entry, &error);
	g_assert_no_error(error);
	g_assert_true(ok);
	g_assert_null(writer);
}

void commit_and_close(struct body_cache *cache, const char *mailbox,
		uint32_t uidvalidity, uint32_t uid, const void *data,
		size_t len)
{
	struct body_cache_entry entry;

	commit_body(cache, mailbox, uidvalidity, uid, data, len, &entry);
	close(entry.fd);
}

void assert_miss(struct body_cache *cache, const char *mailbox,
		uint32_t uidvalidity, uint32_t uid)
{
	struct body_cache_key key = make_key(mailbox, uidvalidity, uid);
	struct body_cache_entry entry;

	g_assert_false(body_cache_lookup(cache, &key, &entry));
	g_assert_cmpint(entry.fd, ==, -1);
}

/* Deterministic pseudo-random bytes. */
unsigned char *make_bytes(uint32_t seed, size_t len)
{
	unsigned char *p = g_malloc(len ? len : 1);
	uint32_t x = seed * 2654435761u + 1;
	size_t i;

	for (i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (unsigned char)x;
	}
	return p;
}
