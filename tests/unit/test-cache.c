/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The on-disk body cache: keying, round trips, failed and aborted writes,
 * files damaged behind the cache's back, remounts, UIDVALIDITY changes, the
 * LRU bound, stale temp files, bodies torn by a power cut, the checksum,
 * what the bound does to bodies being written, and concurrent use.  Each
 * test works in its own temporary directory.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "store/cache.h"
#include "store/cache-private.h"
#include "cache-helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>

#define HEADER_SIZE 128

/* Helpers */

/*
 * These cases are about bodies in files of their own, which is where every
 * body goes under a bound below 16 MiB (small ones go to pack files under
 * a larger bound, or none: test-cache-pack.c).  So "no bound" here is one
 * just under that, far above what any case writes.
 */
#define UNPACKED_BOUND (UINT64_C(15) << 20)

static struct body_cache *open_cache(const char *dir, const char *account,
		uint64_t max_bytes)
{
	GError *error = NULL;
	struct body_cache *cache;

	if (max_bytes == 0)
		max_bytes = UNPACKED_BOUND;
	cache = body_cache_open(dir, account, max_bytes, &error);
	g_assert_no_error(error);
	g_assert_nonnull(cache);
	return cache;
}

/* The entry gives exactly these bytes, and the file ends right after. */
static void assert_entry(const struct body_cache_entry *entry,
		const void *data, size_t len)
{
	unsigned char *buf = g_malloc(len + 1);
	size_t done = 0;
	ssize_t n;

	g_assert_cmpint(entry->fd, >=, 0);
	g_assert_cmpuint(entry->offset, ==, HEADER_SIZE);
	g_assert_cmpuint(entry->length, ==, len);
	while (done < len) {
		n = pread(entry->fd, buf + done, len - done,
				(off_t)(entry->offset + done));
		g_assert_cmpint(n, >, 0);
		done += (size_t)n;
	}
	g_assert_true(memcmp(buf, data, len) == 0);
	n = pread(entry->fd, buf, 1, (off_t)(entry->offset + len));
	g_assert_cmpint(n, ==, 0);
	g_free(buf);
}

static void assert_hit(struct body_cache *cache, const char *mailbox,
		uint32_t uidvalidity, uint32_t uid, const void *data,
		size_t len)
{
	struct body_cache_key key = make_key(mailbox, uidvalidity, uid);
	struct body_cache_entry entry;

	g_assert_true(body_cache_lookup(cache, &key, &entry));
	assert_entry(&entry, data, len);
	close(entry.fd);
}

static char *key_path(struct body_cache *cache, const char *mailbox,
		uint32_t uidvalidity, uint32_t uid)
{
	struct body_cache_key key = make_key(mailbox, uidvalidity, uid);

	return body_cache_path(cache, &key);
}

static void set_mtime(const char *path, time_t when)
{
	struct timespec times[2] = {
		{ .tv_sec = when },
		{ .tv_sec = when },
	};

	g_assert_cmpint(utimensat(AT_FDCWD, path, times,
				AT_SYMLINK_NOFOLLOW), ==, 0);
}

static void assert_mode(const char *path, mode_t mode)
{
	struct stat st;

	g_assert_cmpint(stat(path, &st), ==, 0);
	g_assert_cmpint(st.st_mode & 07777, ==, mode);
}

/* Keying */

static void test_keying(void)
{
	char *dir = make_test_dir();
	struct body_cache *cache = open_cache(dir, "alice", 0);
	char *bodies = g_build_filename(dir, "bodies", NULL);
	char long300[301], long300b[301], exact[199], over[200];
	const char *mailboxes[] = {
		"INBOX", "inbox", "Inbox", "a/b", "a%2Fb", "a%2fb", "a_2Fb",
		".", "..", "...", "", "/", "%", "n-", "n-INBOX", "h-",
		long300, long300b, exact, over,
		"caf\xc3\xa9", "caf\xc3\xa8", "\xff", "\x7f", " ", "a b",
		"A.B", "a.b", "-", "_",
	};
	const uint32_t numbers[] = { 0, 1, 11, 4294967295u };
	GHashTable *paths, *mdirs;
	size_t m, i, j;

	memset(long300, 'x', 300);
	long300[300] = '\0';
	memcpy(long300b, long300, sizeof(long300));
	long300b[299] = 'y';
	/* "n-" + 198 plain bytes: exactly at the limit; one more is over. */
	memset(exact, 'e', 198);
	exact[198] = '\0';
	memset(over, 'e', 199);
	over[199] = '\0';

	paths = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	mdirs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	for (m = 0; m < G_N_ELEMENTS(mailboxes); m++) {
		char *mdir = NULL;

		for (i = 0; i < G_N_ELEMENTS(numbers); i++) {
			for (j = 0; j < G_N_ELEMENTS(numbers); j++) {
				char *path = key_path(cache, mailboxes[m],
						numbers[i], numbers[j]);
				char *again = key_path(cache, mailboxes[m],
						numbers[i], numbers[j]);
				char **parts;

				g_assert_cmpstr(path, ==, again);
				g_free(again);

				/* DIR/bodies/<mailbox>/<uv>/<uid>, with
				 * every part a plain file name. */
				g_assert_true(g_str_has_prefix(path, bodies));
				g_assert_cmpint(path[strlen(bodies)], ==, '/');
				parts = g_strsplit(path + strlen(bodies) + 1,
						"/", -1);
				g_assert_cmpuint(g_strv_length(parts), ==, 3);
				for (guint k = 0; k < 3; k++) {
					g_assert_cmpstr(parts[k], !=, "");
					g_assert_cmpstr(parts[k], !=, ".");
					g_assert_cmpstr(parts[k], !=, "..");
					g_assert_cmpuint(strlen(parts[k]),
							<=, 255);
				}
				if (!mdir)
					mdir = g_strdup(parts[0]);
				else
					g_assert_cmpstr(mdir, ==, parts[0]);
				g_strfreev(parts);

				g_assert_false(g_hash_table_contains(paths,
							path));
				g_hash_table_add(paths, path);
			}
		}
		g_assert_false(g_hash_table_contains(mdirs, mdir));
		g_hash_table_add(mdirs, mdir);
	}

	/* Bodies written under each of them land where the path says,
	 * inside DIR/bodies, and are found again. */
	for (m = 0; m < G_N_ELEMENTS(mailboxes); m++) {
		char *path = key_path(cache, mailboxes[m], 7, 42);

		commit_and_close(cache, mailboxes[m], 7, 42, mailboxes[m],
				strlen(mailboxes[m]));
		g_assert_true(g_file_test(path, G_FILE_TEST_IS_REGULAR));
		g_free(path);
	}
	for (m = 0; m < G_N_ELEMENTS(mailboxes); m++)
		assert_hit(cache, mailboxes[m], 7, 42, mailboxes[m],
				strlen(mailboxes[m]));
	g_assert_cmpuint(count_files(bodies, NULL), ==,
			G_N_ELEMENTS(mailboxes));
	g_assert_cmpuint(count_files(dir, NULL), ==,
			G_N_ELEMENTS(mailboxes) + 1);

	g_hash_table_destroy(mdirs);
	g_hash_table_destroy(paths);
	g_free(bodies);
	body_cache_close(&cache);
	g_assert_null(cache);
	remove_tree(dir);
	g_free(dir);
}

/* A MAILBOXID and a raw name never give one identity, whatever the name
 * looks like, and a MAILBOXID's directory shows it. */
static void test_identity(void)
{
	static const char *const names[] = {
		"INBOX", "F1", "id:F1", "id:", "id", "ID:F1", "name:", "name",
		"name:id:F1", "name:name:", "n-id%3AF1", "",
	};
	static const char *const ids[] = { "F1", "INBOX", "name", "id", "-" };
	struct {
		const char *name, *id, *want;
	} cases[] = {
		{ "INBOX", NULL, "INBOX" },
		{ "INBOX", "", "INBOX" },
		{ "INBOX", "F1", "id:F1" },
		{ "Other", "F1", "id:F1" },	/* a rename keeps it */
		{ "id:F1", NULL, "name:id:F1" },
		{ "name:x", NULL, "name:name:x" },
		{ "ID:F1", NULL, "ID:F1" },	/* case counts */
		{ "idx", NULL, "idx" },
	};
	char *dir = make_test_dir();
	struct body_cache *cache = open_cache(dir, "alice", 0);
	GHashTable *seen = g_hash_table_new_full(g_str_hash, g_str_equal,
			g_free, NULL);
	char *bodies, *identity, *path, *want;

	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		char *got = body_cache_identity(cases[i].name, cases[i].id);

		g_assert_cmpstr(got, ==, cases[i].want);
		g_free(got);
	}
	for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
		char *got = body_cache_identity(names[i], NULL);

		g_assert_false(g_hash_table_contains(seen, got));
		g_hash_table_add(seen, got);
	}
	for (size_t i = 0; i < G_N_ELEMENTS(ids); i++) {
		char *got = body_cache_identity("INBOX", ids[i]);

		g_assert_false(g_hash_table_contains(seen, got));
		g_hash_table_add(seen, got);
	}

	bodies = g_build_filename(dir, "bodies", NULL);
	want = g_build_filename(bodies, "n-id%3AF2212ea87-6097-4256-9d51-"
			"71338625", "5", "1", NULL);
	identity = body_cache_identity("INBOX", "F2212ea87-6097-4256-9d51-"
			"71338625");
	path = key_path(cache, identity, 5, 1);
	g_assert_cmpstr(path, ==, want);
	g_free(path);
	g_free(identity);
	g_free(want);
	g_free(bodies);

	g_hash_table_destroy(seen);
	body_cache_close(&cache);
	remove_tree(dir);
	g_free(dir);
}

/* Round trips */

static void test_round_trip(void)
{
	static const unsigned char odd[] =
		"From: a@example.org\r\n\r\nNUL:\0 8-bit:\xff\xfe\x80\xc3\xa9"
		"\r\nlone LF\nlone CR\r.\r\n";
	static const size_t chunks[] = { 1, 7, 4093, 65537, 13, 0x10000 };
	const size_t big_len = 5 * 1024 * 1024 + 3;
	char *dir = make_test_dir();
	struct body_cache *cache = open_cache(dir, "alice", 0);
	struct body_cache_writer *writer;
	struct body_cache_entry entry;
	GError *error = NULL;
	unsigned char *big;
	char *path, *p;
	uint64_t expect;

	g_assert_cmpuint(body_cache_size(cache), ==, 0);

	commit_body(cache, "INBOX", 3857529045u, 4711, odd, sizeof(odd),
			&entry);
	assert_entry(&entry, odd, sizeof(odd));
	close(entry.fd);
	assert_hit(cache, "INBOX", 3857529045u, 4711, odd, sizeof(odd));

	/* Modes: directories 0700, files 0600. */
	path = key_path(cache, "INBOX", 3857529045u, 4711);
	assert_mode(path, 0600);
	p = g_path_get_dirname(path);
	assert_mode(p, 0700);
	g_free(p);
	g_free(path);
	path = g_build_filename(dir, "account", NULL);
	assert_mode(path, 0600);
	g_free(path);
	assert_mode(dir, 0700);

	/* An empty body. */
	commit_body(cache, "INBOX", 1, 1, "", 0, &entry);
	assert_entry(&entry, "", 0);
	close(entry.fd);
	assert_hit(cache, "INBOX", 1, 1, "", 0);

	/* 5 MB in odd-sized chunks. */
	big = make_bytes(5, big_len);
	writer = body_cache_writer_new(cache, "Archive", 9, big_len, &error);
	g_assert_no_error(error);
	write_chunked(writer, big, big_len, chunks, G_N_ELEMENTS(chunks));
	g_assert_true(body_cache_writer_commit(&writer, 77, &entry, &error));
	g_assert_no_error(error);
	assert_entry(&entry, big, big_len);
	close(entry.fd);
	assert_hit(cache, "Archive", 9, 77, big, big_len);

	/* Other keys are misses; a key of another account too. */
	assert_miss(cache, "INBOX", 3857529045u, 4712);
	assert_miss(cache, "INBOX", 3857529044u, 4711);
	assert_miss(cache, "inbox", 3857529045u, 4711);
	{
		struct body_cache_key key = make_key("INBOX", 3857529045u,
				4711);

		key.account = "bob";
		g_assert_false(body_cache_lookup(cache, &key, &entry));
		assert_hit(cache, "INBOX", 3857529045u, 4711, odd,
				sizeof(odd));
	}

	expect = 3 * HEADER_SIZE + sizeof(odd) + big_len;
	g_assert_cmpuint(body_cache_size(cache), ==, expect);
	g_assert_cmpuint(bytes_in_bodies(dir), ==, expect);
	g_assert_cmpuint(count_in(dir, "tmp"), ==, 0);

	/* Committing the same key again replaces it without counting
	 * twice. */
	commit_and_close(cache, "INBOX", 1, 1, "", 0);
	g_assert_cmpuint(body_cache_size(cache), ==, expect);

	g_free(big);
	body_cache_close(&cache);
	remove_tree(dir);
	g_free(dir);
}

/* Failed and aborted writes */

static void assert_nothing_left(const char *dir)
{
	g_assert_cmpuint(count_in(dir, "bodies"), ==, 0);
	g_assert_cmpuint(count_in(dir, "tmp"), ==, 0);
}

static void test_wrong_length(void)
{
	char *dir = make_test_dir();
	struct body_cache *cache = open_cache(dir, "alice", 0);
	struct body_cache_writer *writer;
	struct body_cache_entry entry;
	GError *error = NULL;

	/* Fewer bytes than announced. */
	writer = body_cache_writer_new(cache, "INBOX", 1, 10, &error);
	g_assert_no_error(error);
	body_cache_writer_write(writer, "12345", 5);
	g_assert_false(body_cache_writer_commit(&writer, 1, &entry, &error));
	g_assert_error(error, BODY_CACHE_ERROR, BODY_CACHE_ERROR_SHORT);
	g_assert_null(writer);
	g_assert_cmpint(entry.fd, ==, -1);
	g_clear_error(&error);
	assert_nothing_left(dir);
	assert_miss(cache, "INBOX", 1, 1);

	/* Nothing at all. */
	writer = body_cache_writer_new(cache, "INBOX", 1, 1, &error);
	g_assert_no_error(error);
	g_assert_false(body_cache_writer_commit(&writer, 1, &entry, &error));
	g_assert_error(error, BODY_CACHE_ERROR, BODY_CACHE_ERROR_SHORT);
	g_clear_error(&error);
	assert_nothing_left(dir);

	/* More, in one write beyond the end... */
	writer = body_cache_writer_new(cache, "INBOX", 1, 10, &error);
	g_assert_no_error(error);
	body_cache_writer_write(writer, "123456", 6);
	body_cache_writer_write(writer, "78901", 5);
	g_assert_false(body_cache_writer_commit(&writer, 1, &entry, &error));
	g_assert_error(error, BODY_CACHE_ERROR, BODY_CACHE_ERROR_TOO_LARGE);
	g_clear_error(&error);
	assert_nothing_left(dir);

	/* ...or after exactly the right amount; the error is sticky even
	 * if nothing more comes. */
	writer = body_cache_writer_new(cache, "INBOX", 1, 10, &error);
	g_assert_no_error(error);
	body_cache_writer_write(writer, "1234567890", 10);
	body_cache_writer_write(writer, "x", 1);
	body_cache_writer_write(writer, "", 0);
	g_assert_false(body_cache_writer_commit(&writer, 1, &entry, &error));
	g_assert_error(error, BODY_CACHE_ERROR, BODY_CACHE_ERROR_TOO_LARGE);
	g_clear_error(&error);
	assert_nothing_left(dir);
	assert_miss(cache, "INBOX", 1, 1);

	/* An announced length that cannot be stored at all. */
	writer = body_cache_writer_new(cache, "INBOX", 1, UINT64_MAX, &error);
	g_assert_null(writer);
	g_assert_error(error, BODY_CACHE_ERROR, BODY_CACHE_ERROR_TOO_LARGE);
	g_clear_error(&error);

	/* Abort, with and without data. */
	writer = body_cache_writer_new(cache, "INBOX", 1, 10, &error);
	g_assert_no_error(error);
	body_cache_writer_write(writer, "12345", 5);
	/* Written unnamed in its own directory: nothing to see yet. */
	g_assert_nonnull(writer->dir);
	g_assert_cmpuint(count_in(dir, "tmp"), ==, 0);
	g_assert_cmpuint(count_in(dir, "bodies"), ==, 0);
	body_cache_writer_abort(&writer);
	g_assert_null(writer);
	assert_nothing_left(dir);
	writer = body_cache_writer_new(cache, "INBOX", 1, 0, &error);
	g_assert_no_error(error);
	body_cache_writer_abort(&writer);
	assert_nothing_left(dir);

	g_assert_cmpuint(body_cache_size(cache), ==, 0);
	body_cache_close(&cache);
	remove_tree(dir);
	g_free(dir);
}

/* Where a body cannot be written unnamed (no O_TMPFILE, no /proc), it is
 * written under a name in tmp/ and renamed into place: the same entry,
 * the same lookup afterwards, nothing left in tmp/. */
static void test_named_fallback(void)
{
	char *dir = make_test_dir();
	struct body_cache *cache = open_cache(dir, "alice", 0);
	struct body_cache_writer *writer;
	struct body_cache_entry entry;
	GError *error = NULL;

	g_atomic_int_set(&cache->link_unnamed, 0);
	writer = body_cache_writer_new(cache, "INBOX", 1, 5, &error);
	g_assert_no_error(error);
	g_assert_null(writer->dir);
	body_cache_writer_write(writer, "hello", 5);
	g_assert_cmpuint(count_in(dir, "tmp"), ==, 1);
	g_assert_true(body_cache_writer_commit(&writer, 7, &entry, &error));
	g_assert_no_error(error);
	assert_entry(&entry, "hello", 5);
	close(entry.fd);
	g_assert_cmpuint(count_in(dir, "tmp"), ==, 0);
	assert_hit(cache, "INBOX", 1, 7, "hello", 5);
	g_assert_cmpuint(body_cache_size(cache), ==, HEADER_SIZE + 5);
	body_cache_close(&cache);
	remove_tree(dir);
	g_free(dir);
}

/* A body written again under its key replaces the file (an unnamed one
 * is linked in after the old one goes), counted once. */
static void test_written_twice(void)
{
	char *dir = make_test_dir();
	struct body_cache *cache = open_cache(dir, "alice", 0);

	commit_and_close(cache, "INBOX", 1, 7, "hello", 5);
	commit_and_close(cache, "INBOX", 1, 7, "hello", 5);
	assert_hit(cache, "INBOX", 1, 7, "hello", 5);
	g_assert_cmpuint(count_in(dir, "bodies"), ==, 1);
	g_assert_cmpuint(body_cache_size(cache), ==, HEADER_SIZE + 5);
	body_cache_close(&cache);
	remove_tree(dir);
	g_free(dir);
}

/* Files damaged behind the cache's back */

enum damage {
	DAMAGE_OTHER_UID,
	DAMAGE_OTHER_UIDVALIDITY,
	DAMAGE_OTHER_MAILBOX,
	DAMAGE_OTHER_ACCOUNT,
	DAMAGE_TRUNCATED,
	DAMAGE_TRUNCATED_TO_HEADER,
	DAMAGE_EMPTY,
	DAMAGE_APPENDED,
	DAMAGE_ZEROED,
	DAMAGE_HEADER_BYTE,
	DAMAGE_SYMLINK,
};

static void copy_file(const char *from, const char *to)
{
	char *contents;
	gsize len;
	GError *error = NULL;

	g_assert_true(g_file_get_contents(from, &contents, &len, &error));
	g_assert_no_error(error);
	g_assert_true(g_file_set_contents(to, contents, (gssize)len, &error));
	g_assert_no_error(error);
	g_free(contents);
}

static void damage(const char *dir, struct body_cache *cache,
		const char *path, enum damage how)
{
	char *other = NULL, *contents;
	gsize len;
	GError *error = NULL;
	int fd;

	switch (how) {
	case DAMAGE_OTHER_UID:
		/* Same length, so only the header tells. */
		commit_and_close(cache, "INBOX", 5, 2, "body of 1", 9);
		other = key_path(cache, "INBOX", 5, 2);
		break;
	case DAMAGE_OTHER_UIDVALIDITY:
		commit_and_close(cache, "INBOX", 6, 1, "body of 1", 9);
		other = key_path(cache, "INBOX", 6, 1);
		break;
	case DAMAGE_OTHER_MAILBOX:
		commit_and_close(cache, "Sent", 5, 1, "body of 1", 9);
		other = key_path(cache, "Sent", 5, 1);
		break;
	case DAMAGE_OTHER_ACCOUNT: {
		char *odir = g_build_filename(dir, "other", NULL);
		struct body_cache *ocache = open_cache(odir, "bob", 0);

		commit_and_close(ocache, "INBOX", 5, 1, "body of 1", 9);
		other = key_path(ocache, "INBOX", 5, 1);
		copy_file(other, path);
		body_cache_close(&ocache);
		g_free(other);
		other = NULL;
		remove_tree(odir);
		g_free(odir);
		break;
	}
	case DAMAGE_TRUNCATED:
		g_assert_cmpint(truncate(path, HEADER_SIZE + 8), ==, 0);
		break;
	case DAMAGE_TRUNCATED_TO_HEADER:
		g_assert_cmpint(truncate(path, HEADER_SIZE - 1), ==, 0);
		break;
	case DAMAGE_EMPTY:
		g_assert_cmpint(truncate(path, 0), ==, 0);
		break;
	case DAMAGE_APPENDED:
		fd = open(path, O_WRONLY | O_APPEND);
		g_assert_cmpint(fd, >=, 0);
		g_assert_cmpint(write(fd, "\r\n", 2), ==, 2);
		close(fd);
		break;
	case DAMAGE_ZEROED:
		contents = g_malloc0(HEADER_SIZE + 9);
		g_assert_true(g_file_set_contents(path, contents,
					HEADER_SIZE + 9, &error));
		g_assert_no_error(error);
		g_free(contents);
		break;
	case DAMAGE_HEADER_BYTE:
		g_assert_true(g_file_get_contents(path, &contents, &len,
					&error));
		g_assert_no_error(error);
		contents[HEADER_SIZE - 1] = ' ';
		g_assert_true(g_file_set_contents(path, contents,
					(gssize)len, &error));
		g_assert_no_error(error);
		g_free(contents);
		break;
	case DAMAGE_SYMLINK:
		commit_and_close(cache, "INBOX", 5, 3, "body of 1", 9);
		other = key_path(cache, "INBOX", 5, 3);
		g_assert_cmpint(unlink(path), ==, 0);
		g_assert_cmpint(symlink(other, path), ==, 0);
		g_free(other);
		other = NULL;
		break;
	}
	if (other) {
		copy_file(other, path);
		g_free(other);
	}
}

static void test_damaged(void)
{
	static const enum damage cases[] = {
		DAMAGE_OTHER_UID, DAMAGE_OTHER_UIDVALIDITY,
		DAMAGE_OTHER_MAILBOX, DAMAGE_OTHER_ACCOUNT,
		DAMAGE_TRUNCATED, DAMAGE_TRUNCATED_TO_HEADER, DAMAGE_EMPTY,
		DAMAGE_APPENDED, DAMAGE_ZEROED, DAMAGE_HEADER_BYTE,
		DAMAGE_SYMLINK,
	};
	char *dir = make_test_dir();
	struct body_cache *cache = open_cache(dir, "alice", 0);
	char *path = key_path(cache, "INBOX", 5, 1);
	size_t i;

	for (i = 0; i < G_N_ELEMENTS(cases); i++) {
		struct stat st;

		commit_and_close(cache, "INBOX", 5, 1, "body of 1", 9);
		assert_hit(cache, "INBOX", 5, 1, "body of 1", 9);
		damage(dir, cache, path, cases[i]);
		g_assert_cmpint(lstat(path, &st), ==, 0);
		assert_miss(cache, "INBOX", 5, 1);
		g_assert_cmpint(lstat(path, &st), ==, -1);
		g_assert_cmpint(errno, ==, ENOENT);
		/* The file copied from stays valid where it is. */
		if (cases[i] == DAMAGE_OTHER_UID)
			assert_hit(cache, "INBOX", 5, 2, "body of 1", 9);
	}

	/* A damaged file is not removed for a lookup of another
	 * account's key. */
	commit_and_close(cache, "INBOX", 5, 1, "body of 1", 9);
	g_assert_cmpint(truncate(path, 0), ==, 0);
	{
		struct body_cache_key key = make_key("INBOX", 5, 1);
		struct body_cache_entry entry;

		key.account = "bob";
		g_assert_false(body_cache_lookup(cache, &key, &entry));
		g_assert_true(g_file_test(path, G_FILE_TEST_EXISTS));
	}

	g_free(path);
	body_cache_close(&cache);
	remove_tree(dir);
	g_free(dir);
}

/* Remount, and another account */

static void test_reopen(void)
{
	char *dir = make_test_dir();
	struct body_cache *cache = open_cache(dir, "alice", 0);
	GError *error = NULL;
	char *path, *contents;
	uint64_t size;

	commit_and_close(cache, "INBOX", 1, 2, "kept across mounts", 18);
	size = body_cache_size(cache);
	g_assert_cmpuint(size, ==, HEADER_SIZE + 18);
	body_cache_close(&cache);

	cache = open_cache(dir, "alice", 0);
	assert_hit(cache, "INBOX", 1, 2, "kept across mounts", 18);
	g_assert_cmpuint(body_cache_size(cache), ==, size);
	body_cache_close(&cache);

	path = g_build_filename(dir, "account", NULL);
	g_assert_true(g_file_get_contents(path, &contents, NULL, &error));
	g_assert_no_error(error);
	g_assert_cmpstr(contents, ==, "alice\n");
	g_free(contents);

	cache = body_cache_open(dir, "bob", 0, &error);
	g_assert_null(cache);
	g_assert_error(error, BODY_CACHE_ERROR, BODY_CACHE_ERROR_ACCOUNT);
	g_assert_nonnull(strstr(error->message, dir));
	g_assert_nonnull(strstr(error->message,
				"belongs to account alice, not bob"));
	g_clear_error(&error);

	/* A prefix of the name is another name too. */
	cache = body_cache_open(dir, "alic", 0, &error);
	g_assert_null(cache);
	g_assert_error(error, BODY_CACHE_ERROR, BODY_CACHE_ERROR_ACCOUNT);
	g_clear_error(&error);

	/* And the body is still there for alice. */
	cache = open_cache(dir, "alice", 0);
	assert_hit(cache, "INBOX", 1, 2, "kept across mounts", 18);
	body_cache_close(&cache);

	g_free(path);
	remove_tree(dir);
	g_free(dir);
}

/* UIDVALIDITY changes */

static void test_drop_stale(void)
{
	char *dir = make_test_dir();
	struct body_cache *cache = open_cache(dir, "alice", 0);
	char *path, *uvdir;
	uint32_t uv;

	for (uv = 1; uv <= 3; uv++) {
		commit_and_close(cache, "INBOX", uv, 1, "one", 3);
		commit_and_close(cache, "INBOX", uv, 2, "two", 3);
	}
	commit_and_close(cache, "Other", 1, 1, "other", 5);
	g_assert_cmpuint(body_cache_size(cache), ==, 7 * HEADER_SIZE + 23);

	body_cache_drop_stale(cache, "INBOX", 2);
	assert_miss(cache, "INBOX", 1, 1);
	assert_miss(cache, "INBOX", 1, 2);
	assert_miss(cache, "INBOX", 3, 1);
	assert_miss(cache, "INBOX", 3, 2);
	assert_hit(cache, "INBOX", 2, 1, "one", 3);
	assert_hit(cache, "INBOX", 2, 2, "two", 3);
	assert_hit(cache, "Other", 1, 1, "other", 5);
	g_assert_cmpuint(body_cache_size(cache), ==, 3 * HEADER_SIZE + 11);
	g_assert_cmpuint(bytes_in_bodies(dir), ==, 3 * HEADER_SIZE + 11);

	path = key_path(cache, "INBOX", 1, 1);
	uvdir = g_path_get_dirname(path);
	g_assert_false(g_file_test(uvdir, G_FILE_TEST_EXISTS));
	g_free(uvdir);
	g_free(path);

	/* A mailbox never cached, and keeping what is the only one. */
	body_cache_drop_stale(cache, "Nowhere", 1);
	body_cache_drop_stale(cache, "Other", 1);
	assert_hit(cache, "Other", 1, 1, "other", 5);

	/* Writing under the dropped UIDVALIDITY again still works. */
	commit_and_close(cache, "INBOX", 1, 1, "again", 5);
	assert_hit(cache, "INBOX", 1, 1, "again", 5);

	body_cache_close(&cache);
	remove_tree(dir);
	g_free(dir);
}

/* The LRU bound */

#define LRU_BODY 1000
#define LRU_FILE (HEADER_SIZE + LRU_BODY)

static void test_lru(void)
{
	char *dir = make_test_dir();
	/* Room for four files; evicting goes down to 90% of that. */
	const uint64_t max = 4 * LRU_FILE + 100;
	struct body_cache *cache = open_cache(dir, "alice", max);
	unsigned char *bodies[6];
	struct body_cache_entry held;
	struct body_cache_key key;
	time_t now = time(NULL);
	unsigned char buf[LRU_BODY];
	uint32_t uid;
	char *path;

	for (uid = 1; uid <= 5; uid++)
		bodies[uid] = make_bytes(uid, LRU_BODY);

	commit_and_close(cache, "INBOX", 1, 1, bodies[1], LRU_BODY);
	/* Keep the fd of 2 from its commit: it must outlive eviction. */
	commit_body(cache, "INBOX", 1, 2, bodies[2], LRU_BODY, &held);
	commit_and_close(cache, "INBOX", 1, 3, bodies[3], LRU_BODY);

	/* Oldest first: 1, 2, 3 (explicit, as mtimes may tie). */
	for (uid = 1; uid <= 3; uid++) {
		path = key_path(cache, "INBOX", 1, uid);
		set_mtime(path, now - 400 + 100 * (time_t)uid);
		g_free(path);
	}

	/* Using 1 makes it the most recent. */
	assert_hit(cache, "INBOX", 1, 1, bodies[1], LRU_BODY);

	commit_and_close(cache, "INBOX", 1, 4, bodies[4], LRU_BODY);
	g_assert_cmpuint(body_cache_size(cache), ==, 4 * LRU_FILE);
	commit_and_close(cache, "INBOX", 1, 5, bodies[5], LRU_BODY);

	/* Over the bound: 2 and 3 went, down to 90%. */
	g_assert_cmpuint(body_cache_size(cache), <=, max - max / 10);
	g_assert_cmpuint(body_cache_size(cache), ==, 3 * LRU_FILE);
	g_assert_cmpuint(bytes_in_bodies(dir), ==, 3 * LRU_FILE);
	assert_hit(cache, "INBOX", 1, 1, bodies[1], LRU_BODY);
	assert_miss(cache, "INBOX", 1, 2);
	assert_miss(cache, "INBOX", 1, 3);
	assert_hit(cache, "INBOX", 1, 4, bodies[4], LRU_BODY);
	assert_hit(cache, "INBOX", 1, 5, bodies[5], LRU_BODY);

	/* The fd held across the eviction still reads the body. */
	assert_entry(&held, bodies[2], LRU_BODY);
	close(held.fd);

	/* A body larger than the whole bound is served, but not kept, and
	 * costs no other body its place. */
	{
		unsigned char *huge = make_bytes(9, (size_t)max);
		struct body_cache_entry entry;

		commit_body(cache, "INBOX", 1, 9, huge, (size_t)max, &entry);
		assert_entry(&entry, huge, (size_t)max);
		close(entry.fd);
		assert_miss(cache, "INBOX", 1, 9);
		assert_hit(cache, "INBOX", 1, 1, bodies[1], LRU_BODY);
		assert_hit(cache, "INBOX", 1, 4, bodies[4], LRU_BODY);
		assert_hit(cache, "INBOX", 1, 5, bodies[5], LRU_BODY);
		g_assert_cmpuint(body_cache_size(cache), ==, 3 * LRU_FILE);
		g_free(huge);
	}

	/* Reopening with a lower bound evicts at once. */
	commit_and_close(cache, "INBOX", 1, 2, bodies[2], LRU_BODY);
	commit_and_close(cache, "INBOX", 1, 3, bodies[3], LRU_BODY);
	body_cache_close(&cache);
	cache = open_cache(dir, "alice", 2 * LRU_FILE);
	g_assert_cmpuint(body_cache_size(cache), <=, 2 * LRU_FILE);
	g_assert_cmpuint(body_cache_size(cache), ==, bytes_in_bodies(dir));
	key = make_key("INBOX", 1, 3);
	g_assert_true(body_cache_lookup(cache, &key, &held));
	g_assert_cmpint(pread(held.fd, buf, LRU_BODY, HEADER_SIZE), ==,
			LRU_BODY);
	g_assert_true(memcmp(buf, bodies[3], LRU_BODY) == 0);
	close(held.fd);

	for (uid = 1; uid <= 5; uid++)
		g_free(bodies[uid]);
	body_cache_close(&cache);
	remove_tree(dir);
	g_free(dir);
}

/* Stale temporary files */

static void test_stale_tmp(void)
{
	char *dir = make_test_dir();
	struct body_cache *cache = open_cache(dir, "alice", 0);
	char *old_file, *young_file, *future_file;
	GError *error = NULL;
	time_t now = time(NULL);

	body_cache_close(&cache);

	old_file = g_build_filename(dir, "tmp", "123-old-XXXXXX", NULL);
	young_file = g_build_filename(dir, "tmp", "456-young-XXXXXX", NULL);
	future_file = g_build_filename(dir, "tmp", "789-future", NULL);
	g_assert_true(g_file_set_contents(old_file, "x", 1, &error));
	g_assert_true(g_file_set_contents(young_file, "y", 1, &error));
	g_assert_true(g_file_set_contents(future_file, "z", 1, &error));
	g_assert_no_error(error);
	set_mtime(old_file, now - 2 * 60 * 60);
	set_mtime(young_file, now - 10 * 60);
	set_mtime(future_file, now + 60 * 60);

	cache = open_cache(dir, "alice", 0);
	g_assert_false(g_file_test(old_file, G_FILE_TEST_EXISTS));
	g_assert_true(g_file_test(young_file, G_FILE_TEST_EXISTS));
	g_assert_true(g_file_test(future_file, G_FILE_TEST_EXISTS));
	/* Temp files are not bodies. */
	g_assert_cmpuint(body_cache_size(cache), ==, 0);
	body_cache_close(&cache);

	g_free(old_file);
	g_free(young_file);
	g_free(future_file);
	remove_tree(dir);
	g_free(dir);
}

/* Power cuts: bodies are checked against their checksum */

enum tear {
	TEAR_ZEROED,		/* every data block zeroed */
	TEAR_ONE_BLOCK,		/* one block in the middle zeroed */
	TEAR_STALE_BLOCK,	/* one block holds another file's bytes */
	TEAR_LAST_BYTE,		/* the last byte only */
	TEAR_SUM,		/* the checksum in the header itself */
};

#define TEAR_BODY (5 * 4096 + 123)

/* Change the bytes of path in place: same inode, same size, same header
 * (except for TEAR_SUM), as a crash can leave them. */
static void tear(const char *path, enum tear how)
{
	unsigned char *junk = g_malloc0(TEAR_BODY);
	off_t off = HEADER_SIZE;
	size_t len = TEAR_BODY;
	char header[HEADER_SIZE + 1] = "";
	char *sum;
	int fd;

	fd = open(path, O_RDWR);
	g_assert_cmpint(fd, >=, 0);
	switch (how) {
	case TEAR_ZEROED:
		break;
	case TEAR_ONE_BLOCK:
		off = HEADER_SIZE + 2 * 4096;
		len = 4096;
		break;
	case TEAR_STALE_BLOCK:
		g_free(junk);
		junk = make_bytes(77, 4096);
		off = 4096;
		len = 4096;
		break;
	case TEAR_LAST_BYTE:
		g_assert_cmpint(pread(fd, junk, 1,
					HEADER_SIZE + TEAR_BODY - 1), ==, 1);
		junk[0] ^= 1;
		off = HEADER_SIZE + TEAR_BODY - 1;
		len = 1;
		break;
	case TEAR_SUM:
		g_assert_cmpint(pread(fd, header, HEADER_SIZE, 0), ==,
				HEADER_SIZE);
		sum = strstr(header, "\nxxh64 ");
		g_assert_nonnull(sum);
		sum[7] = sum[7] == '0' ? '1' : '0';
		memcpy(junk, header, HEADER_SIZE);
		off = 0;
		len = HEADER_SIZE;
		break;
	}
	g_assert_cmpint(pwrite(fd, junk, len, off), ==, (ssize_t)len);
	close(fd);
	g_free(junk);
}

static void test_power_cut(void)
{
	static const enum tear cases[] = {
		TEAR_ZEROED, TEAR_ONE_BLOCK, TEAR_STALE_BLOCK, TEAR_LAST_BYTE,
		TEAR_SUM,
	};
	char *dir = make_test_dir();
	unsigned char *body = make_bytes(5, TEAR_BODY);
	size_t i;

	for (i = 0; i < G_N_ELEMENTS(cases); i++) {
		struct body_cache *cache = open_cache(dir, "alice", 0);
		struct body_cache_key key = make_key("INBOX", 1, 7);
		struct body_cache_entry entry;
		char *path = key_path(cache, "INBOX", 1, 7);
		struct stat before, after;

		commit_and_close(cache, "INBOX", 1, 7, body, TEAR_BODY);
		g_assert_cmpint(stat(path, &before), ==, 0);
		tear(path, cases[i]);
		g_assert_cmpint(stat(path, &after), ==, 0);
		g_assert_cmpint(after.st_ino, ==, before.st_ino);
		g_assert_cmpint(after.st_size, ==, before.st_size);

		/* The process that wrote the body does not read it back
		 * (a power cut would have ended it anyway): it still takes
		 * it for good.  Not so for the checksum in the header, which
		 * is read every time. */
		if (cases[i] != TEAR_SUM) {
			g_assert_true(body_cache_lookup(cache, &key, &entry));
			g_assert_cmpuint(entry.length, ==, TEAR_BODY);
			close(entry.fd);
		} else {
			assert_miss(cache, "INBOX", 1, 7);
		}
		body_cache_close(&cache);

		/* Remounted: never served, removed, counted out. */
		cache = open_cache(dir, "alice", 0);
		assert_miss(cache, "INBOX", 1, 7);
		g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
		g_assert_cmpuint(body_cache_size(cache), ==, 0);

		/* And fetched again, it is served. */
		commit_and_close(cache, "INBOX", 1, 7, body, TEAR_BODY);
		body_cache_close(&cache);
		cache = open_cache(dir, "alice", 0);
		assert_hit(cache, "INBOX", 1, 7, body, TEAR_BODY);
		g_assert_cmpint(unlink(path), ==, 0);
		body_cache_close(&cache);
		g_free(path);
	}

	g_free(body);
	remove_tree(dir);
	g_free(dir);
}

/* A body is read to be checked once per cache object, not at every open. */
static void test_verified_once(void)
{
	char *dir = make_test_dir();
	struct body_cache *writer = open_cache(dir, "alice", 0);
	struct body_cache *reader, *later;
	unsigned char *body = make_bytes(6, TEAR_BODY);
	struct body_cache_key key = make_key("INBOX", 1, 8);
	struct body_cache_entry entry;
	char *path = key_path(writer, "INBOX", 1, 8);

	commit_and_close(writer, "INBOX", 1, 8, body, TEAR_BODY);
	body_cache_close(&writer);

	reader = open_cache(dir, "alice", 0);
	assert_hit(reader, "INBOX", 1, 8, body, TEAR_BODY);
	/* Damage now can only be behind our back (it cannot come from a
	 * crash this process survived); it shows that the first check is
	 * remembered rather than repeated. */
	tear(path, TEAR_ZEROED);
	g_assert_true(body_cache_lookup(reader, &key, &entry));
	close(entry.fd);

	later = open_cache(dir, "alice", 0);
	assert_miss(later, "INBOX", 1, 8);
	g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
	body_cache_close(&later);
	body_cache_close(&reader);

	g_free(path);
	g_free(body);
	remove_tree(dir);
	g_free(dir);
}

/* The checksum is XXH64 (cache-sum.c), whatever the pieces the body
 * arrives in. */
static void test_checksum(void)
{
	static const char text[] = "Nobody inspects the spammish repetition";
	static const size_t chunks[] = { 1, 3, 31, 32, 33, 100 };
	char *dir = make_test_dir();
	struct body_cache *cache = open_cache(dir, "alice", 0);
	unsigned char *big = make_bytes(7, 100000);
	char *path, *contents, *first = NULL;
	GError *error = NULL;
	size_t i;

	commit_and_close(cache, "INBOX", 1, 1, text, sizeof(text) - 1);
	commit_and_close(cache, "INBOX", 1, 2, "", 0);
	path = key_path(cache, "INBOX", 1, 1);
	g_assert_true(g_file_get_contents(path, &contents, NULL, &error));
	g_assert_no_error(error);
	g_assert_nonnull(strstr(contents, "\nxxh64 fbcea83c8a378bf1\n"));
	g_free(contents);
	g_free(path);
	path = key_path(cache, "INBOX", 1, 2);
	g_assert_true(g_file_get_contents(path, &contents, NULL, &error));
	g_assert_no_error(error);
	g_assert_nonnull(strstr(contents, "\nxxh64 ef46db3751d8e999\n"));
	g_free(contents);
	g_free(path);

	path = key_path(cache, "INBOX", 1, 3);
	for (i = 0; i < G_N_ELEMENTS(chunks); i++) {
		struct body_cache_writer *writer;
		struct body_cache_entry entry;

		writer = body_cache_writer_new(cache, "INBOX", 1, 100000,
				&error);
		g_assert_no_error(error);
		write_chunked(writer, big, 100000, &chunks[i], 1);
		g_assert_true(body_cache_writer_commit(&writer, 3, &entry,
					&error));
		g_assert_no_error(error);
		close(entry.fd);
		g_assert_true(g_file_get_contents(path, &contents, NULL,
					&error));
		g_assert_no_error(error);
		contents[HEADER_SIZE] = '\0';
		if (first)
			g_assert_cmpstr(contents, ==, first);
		g_free(first);
		first = contents;
	}
	body_cache_close(&cache);
	cache = open_cache(dir, "alice", 0);
	assert_hit(cache, "INBOX", 1, 3, big, 100000);

	g_free(first);
	g_free(path);
	g_free(big);
	body_cache_close(&cache);
	remove_tree(dir);
	g_free(dir);
}

/* Files of the first format have no checksum: misses, to be replaced. */
static void test_format_1(void)
{
	char *dir = make_test_dir();
	struct body_cache *cache = open_cache(dir, "alice", 0);
	char *path = key_path(cache, "INBOX", 3, 4);
	char *bodydir = g_path_get_dirname(path);
	char header[HEADER_SIZE + 1];
	GChecksum *sum = g_checksum_new(G_CHECKSUM_SHA256);
	GString *file = g_string_new(NULL);
	GError *error = NULL;
	int n;

	g_checksum_update(sum, (const guchar *)"alice", 6);	/* with NUL */
	g_checksum_update(sum, (const guchar *)"INBOX", 5);
	n = snprintf(header, sizeof(header), "imapfs-body 1\n"
			"uidvalidity 3\nuid 4\nlength 9\nidentity %.32s\n",
			g_checksum_get_string(sum));
	memset(header + n, '\n', HEADER_SIZE - (size_t)n);
	g_string_append_len(file, header, HEADER_SIZE);
	g_string_append(file, "old body!");
	g_assert_cmpint(g_mkdir_with_parents(bodydir, 0700), ==, 0);
	g_assert_true(g_file_set_contents(path, file->str,
				(gssize)file->len, &error));
	g_assert_no_error(error);
	body_cache_close(&cache);

	cache = open_cache(dir, "alice", 0);
	g_assert_cmpuint(body_cache_size(cache), ==, HEADER_SIZE + 9);
	assert_miss(cache, "INBOX", 3, 4);
	g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
	g_assert_cmpuint(body_cache_size(cache), ==, 0);
	commit_and_close(cache, "INBOX", 3, 4, "new body!", 9);
	assert_hit(cache, "INBOX", 3, 4, "new body!", 9);

	g_string_free(file, TRUE);
	g_checksum_free(sum);
	g_free(bodydir);
	g_free(path);
	body_cache_close(&cache);
	remove_tree(dir);
	g_free(dir);
}

/* cache_max bounds what is written */

#define MIB (1024 * 1024)
#define SMALL_BODY (100 * 1024)
#define SMALLS 5

static uint64_t bytes_on_disk(const char *dir)
{
	char *tmp = g_build_filename(dir, "tmp", NULL);
	uint64_t bytes = bytes_in_bodies(dir);

	count_files(tmp, &bytes);
	g_free(tmp);
	return bytes;
}

static void commit_smalls(struct body_cache *cache, unsigned char **smalls)
{
	uint32_t uid;

	for (uid = 1; uid <= SMALLS; uid++) {
		smalls[uid - 1] = make_bytes(uid, SMALL_BODY);
		commit_and_close(cache, "INBOX", 1, uid, smalls[uid - 1],
				SMALL_BODY);
	}
}

/* A body over half the bound is served once and pushes nothing out. */
static void test_too_large(void)
{
	char *dir = make_test_dir();
	struct body_cache *cache = open_cache(dir, "alice", MIB);
	unsigned char *smalls[SMALLS], *large;
	struct body_cache_writer *writer;
	struct body_cache_entry entry;
	const size_t large_len = 900 * 1024;
	GError *error = NULL;
	uint64_t kept;
	uint32_t uid;
	char *path;

	commit_smalls(cache, smalls);
	kept = body_cache_size(cache);
	g_assert_cmpuint(kept, ==, SMALLS * (HEADER_SIZE + SMALL_BODY));

	large = make_bytes(99, large_len);
	writer = body_cache_writer_new(cache, "INBOX", 1, large_len, &error);
	g_assert_no_error(error);
	write_chunked(writer, large, large_len, NULL, 0);
	/* Not even its temp file has a name. */
	g_assert_cmpuint(count_in(dir, "tmp"), ==, 0);
	g_assert_true(body_cache_writer_commit(&writer, 9, &entry, &error));
	g_assert_no_error(error);
	assert_entry(&entry, large, large_len);

	/* Not kept, not counted, and nothing else went for it. */
	path = key_path(cache, "INBOX", 1, 9);
	g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
	assert_miss(cache, "INBOX", 1, 9);
	g_assert_cmpuint(body_cache_size(cache), ==, kept);
	g_assert_cmpuint(bytes_on_disk(dir), ==, kept);
	for (uid = 1; uid <= SMALLS; uid++)
		assert_hit(cache, "INBOX", 1, uid, smalls[uid - 1],
				SMALL_BODY);
	/* The fd still reads it after all that. */
	assert_entry(&entry, large, large_len);
	close(entry.fd);
	g_assert_cmpuint(count_in(dir, "tmp"), ==, 0);

	/* Failures and aborts of such a body leave nothing either. */
	writer = body_cache_writer_new(cache, "INBOX", 1, large_len, &error);
	g_assert_no_error(error);
	write_chunked(writer, large, 1000, NULL, 0);
	g_assert_false(body_cache_writer_commit(&writer, 9, &entry, &error));
	g_assert_error(error, BODY_CACHE_ERROR, BODY_CACHE_ERROR_SHORT);
	g_clear_error(&error);
	writer = body_cache_writer_new(cache, "INBOX", 1, large_len, &error);
	g_assert_no_error(error);
	body_cache_writer_abort(&writer);
	g_assert_cmpuint(bytes_on_disk(dir), ==, kept);

	/* Unbounded, the same body is kept. */
	body_cache_close(&cache);
	cache = open_cache(dir, "alice", 0);
	commit_and_close(cache, "INBOX", 1, 9, large, large_len);
	assert_hit(cache, "INBOX", 1, 9, large, large_len);

	for (uid = 1; uid <= SMALLS; uid++)
		g_free(smalls[uid - 1]);
	g_free(large);
	g_free(path);
	body_cache_close(&cache);
	remove_tree(dir);
	g_free(dir);
}

/* Bodies being written count toward the bound from their first byte. */
static void test_pending_counted(void)
{
	char *dir = make_test_dir();
	struct body_cache *cache = open_cache(dir, "alice", MIB);
	unsigned char *smalls[SMALLS], *a, *b;
	struct body_cache_writer *wa, *wb, *wc;
	struct body_cache_entry entry;
	const size_t alen = 450 * 1024, blen = 300 * 1024;
	GError *error = NULL;
	uint32_t uid;
	int i;

	commit_smalls(cache, smalls);
	a = make_bytes(101, alen);
	b = make_bytes(102, blen);

	/* Kept, plus both in flight, would be 1.2 MiB. */
	wa = body_cache_writer_new(cache, "INBOX", 1, alen, &error);
	g_assert_no_error(error);
	write_chunked(wa, a, alen, NULL, 0);
	wb = body_cache_writer_new(cache, "INBOX", 1, blen, &error);
	g_assert_no_error(error);
	write_chunked(wb, b, blen, NULL, 0);
	/* Unnamed, so counted by what the writers announced. */
	g_assert_nonnull(wa->dir);
	g_assert_nonnull(wb->dir);
	g_assert_cmpuint(bytes_on_disk(dir) + cache->pending, <=, MIB);

	g_assert_true(body_cache_writer_commit(&wa, 20, &entry, &error));
	g_assert_no_error(error);
	close(entry.fd);
	g_assert_true(body_cache_writer_commit(&wb, 21, &entry, &error));
	g_assert_no_error(error);
	close(entry.fd);
	g_assert_cmpuint(bytes_on_disk(dir), <=, MIB);
	g_assert_cmpuint(body_cache_size(cache), ==, bytes_in_bodies(dir));

	/* Writers that end without a body give their room back: several
	 * of them come and go, and nothing more is evicted. */
	for (i = 0; i < 4; i++) {
		wc = body_cache_writer_new(cache, "INBOX", 1, 10, &error);
		g_assert_no_error(error);
		body_cache_writer_abort(&wc);
		wc = body_cache_writer_new(cache, "INBOX", 1, 10, &error);
		g_assert_no_error(error);
		g_assert_false(body_cache_writer_commit(&wc, 22, &entry,
					&error));
		g_clear_error(&error);
	}
	commit_and_close(cache, "INBOX", 1, 23, "x", 1);
	assert_hit(cache, "INBOX", 1, 20, a, alen);
	assert_hit(cache, "INBOX", 1, 21, b, blen);
	g_assert_cmpuint(body_cache_size(cache), ==, bytes_in_bodies(dir));

	for (uid = 1; uid <= SMALLS; uid++)
		g_free(smalls[uid - 1]);
	g_free(a);
	g_free(b);
	body_cache_close(&cache);
	remove_tree(dir);
	g_free(dir);
}

/* Concurrent use */

#define THREADS 4
#define ROUNDS 300

struct thread_arg {
	struct body_cache *cache;
	unsigned int id;
	unsigned int hits, commits;
};

/* The bytes of a key depend only on the key, as with a real server. */
static unsigned char *thread_body(const char *mailbox, uint32_t uid,
		size_t *len_r)
{
	uint32_t seed = g_str_hash(mailbox) * 31 + uid;

	*len_r = 1 + (seed % 7) * 1531 + uid * 17;
	return make_bytes(seed, *len_r);
}

static gpointer thread_main(gpointer data)
{
	static const size_t chunks[] = { 3, 512, 97, 4096 };
	struct thread_arg *arg = data;
	char own[16];
	unsigned int i;

	snprintf(own, sizeof(own), "own-%u", arg->id);
	for (i = 0; i < ROUNDS; i++) {
		const char *mailbox = i % 2 ? "shared" : own;
		uint32_t uid = 1 + (i * 7 + arg->id) % 11;
		struct body_cache_key key = make_key(mailbox, 1, uid);
		struct body_cache_entry entry;
		struct body_cache_writer *writer;
		GError *error = NULL;
		unsigned char *body;
		size_t len;

		bool hit;

		body = thread_body(mailbox, uid, &len);
		hit = body_cache_lookup(arg->cache, &key, &entry);
		if (hit) {
			assert_entry(&entry, body, len);
			close(entry.fd);
			arg->hits++;
		}
		/* Commit anyway every few rounds, so that identical keys
		 * are replaced while others read them. */
		if (!hit || i % 3 == 0) {
			writer = body_cache_writer_new(arg->cache, mailbox, 1,
					len, &error);
			g_assert_no_error(error);
			write_chunked(writer, body, len, chunks,
					G_N_ELEMENTS(chunks));
			g_assert_true(body_cache_writer_commit(&writer, uid,
						&entry, &error));
			g_assert_no_error(error);
			assert_entry(&entry, body, len);
			close(entry.fd);
			arg->commits++;
		}
		if (i % 50 == 0)
			body_cache_drop_stale(arg->cache, mailbox, 1);
		g_free(body);
	}
	return NULL;
}

static void run_threads(uint64_t max_bytes)
{
	char *dir = make_test_dir();
	struct body_cache *cache = open_cache(dir, "alice", max_bytes);
	struct thread_arg args[THREADS];
	GThread *threads[THREADS];
	unsigned int i, hits = 0;

	for (i = 0; i < THREADS; i++) {
		args[i] = (struct thread_arg){ .cache = cache, .id = i };
		threads[i] = g_thread_new("cache", thread_main, &args[i]);
	}
	for (i = 0; i < THREADS; i++) {
		g_thread_join(threads[i]);
		hits += args[i].hits;
	}
	g_assert_cmpuint(hits, >, 0);
	g_assert_cmpuint(count_in(dir, "tmp"), ==, 0);
	body_cache_close(&cache);

	/* What is left is valid, and a fresh count is exact. */
	cache = open_cache(dir, "alice", max_bytes);
	g_assert_cmpuint(body_cache_size(cache), ==, bytes_in_bodies(dir));
	if (max_bytes)
		g_assert_cmpuint(body_cache_size(cache), <=, max_bytes);
	body_cache_close(&cache);

	remove_tree(dir);
	g_free(dir);
}

static void test_threads(void)
{
	run_threads(0);
}

static void test_threads_evicting(void)
{
	/* About a quarter of all keys fit: evictions run all the time. */
	run_threads(60000);
}

/* The map of verified files against a GHashTable doing the same, through
 * enough puts and removals to grow it and to shift runs back: keys are
 * drawn from a small range so that runs collide. */
static void test_verified_map(void)
{
	struct verified_map map = { 0 };
	GHashTable *ref = g_hash_table_new_full(g_int64_hash, g_int64_equal,
			g_free, g_free);
	GRand *rand = g_rand_new_with_seed(7);

	for (int step = 0; step < 200000; step++) {
		uint64_t key = verified_key(1, g_rand_int_range(rand, 0, 5000));
		uint64_t check = g_rand_int(rand), got;
		gint64 *k = g_new(gint64, 1);

		*k = (gint64)key;
		if (g_rand_int_range(rand, 0, 3) == 0) {
			verified_map_remove(&map, key);
			g_hash_table_remove(ref, k);
			g_free(k);
		} else {
			gint64 *v = g_new(gint64, 1);

			*v = (gint64)check;
			verified_map_put(&map, key, check);
			g_hash_table_replace(ref, k, v);
		}
		if (step % 1000 == 0) {
			GHashTableIter it;
			gpointer rk, rv;

			g_assert_cmpuint(map.count, ==, g_hash_table_size(ref));
			g_hash_table_iter_init(&it, ref);
			while (g_hash_table_iter_next(&it, &rk, &rv)) {
				g_assert_true(verified_map_get(&map,
						(uint64_t)*(gint64 *)rk, &got));
				g_assert_cmpuint(got, ==,
						(uint64_t)*(gint64 *)rv);
			}
		}
	}
	for (uint64_t ino = 0; ino < 5000; ino++) {
		uint64_t got;
		gint64 k = (gint64)verified_key(1, (ino_t)ino);

		g_assert_cmpint(verified_map_get(&map, (uint64_t)k, &got), ==,
				g_hash_table_contains(ref, &k));
	}
	verified_map_clear(&map);
	g_assert_false(verified_map_get(&map, 1, &(uint64_t){ 0 }));
	g_rand_free(rand);
	g_hash_table_unref(ref);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/cache/keying", test_keying);
	g_test_add_func("/cache/identity", test_identity);
	g_test_add_func("/cache/round-trip", test_round_trip);
	g_test_add_func("/cache/wrong-length", test_wrong_length);
	g_test_add_func("/cache/named-fallback", test_named_fallback);
	g_test_add_func("/cache/written-twice", test_written_twice);
	g_test_add_func("/cache/damaged", test_damaged);
	g_test_add_func("/cache/reopen", test_reopen);
	g_test_add_func("/cache/drop-stale", test_drop_stale);
	g_test_add_func("/cache/lru", test_lru);
	g_test_add_func("/cache/stale-tmp", test_stale_tmp);
	g_test_add_func("/cache/power-cut", test_power_cut);
	g_test_add_func("/cache/verified-once", test_verified_once);
	g_test_add_func("/cache/checksum", test_checksum);
	g_test_add_func("/cache/format-1", test_format_1);
	g_test_add_func("/cache/too-large", test_too_large);
	g_test_add_func("/cache/pending-counted", test_pending_counted);
	g_test_add_func("/cache/threads", test_threads);
	g_test_add_func("/cache/threads-evicting", test_threads_evicting);
	g_test_add_func("/cache/verified-map", test_verified_map);
	return g_test_run();
}
