/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Small bodies in pack files (src/store/cache-pack.c): round trips and
 * remounts, records torn or zeroed as by a power cut, a record changed
 * behind the cache's back, eviction by pack in LRU order, UIDVALIDITY
 * changes, a UID written twice, two caches on one directory, the
 * descriptors kept for many packs, concurrent writers, and the UID ->
 * record table.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "store/cache.h"
#include "store/cache-private.h"
#include "cache-helpers.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>

#define UV 7u

static struct body_cache *open_cache(const char *dir, uint64_t max_bytes)
{
	GError *error = NULL;
	struct body_cache *cache = body_cache_open(dir, "alice", max_bytes,
			&error);

	g_assert_no_error(error);
	g_assert_nonnull(cache);
	return cache;
}

static char *body_dir(struct body_cache *cache, uint32_t uidvalidity)
{
	return cache_body_dir_path(cache, "INBOX", uidvalidity);
}

/* The pack files of INBOX under uidvalidity, sorted by name. */
static GPtrArray *packs_in(struct body_cache *cache, uint32_t uidvalidity)
{
	char *dir = body_dir(cache, uidvalidity);
	GPtrArray *packs = g_ptr_array_new_with_free_func(g_free);
	GDir *d = g_dir_open(dir, 0, NULL);
	const char *name;

	while (d && (name = g_dir_read_name(d)) != NULL) {
		if (g_str_has_prefix(name, PACK_PREFIX))
			g_ptr_array_add(packs, g_build_filename(dir, name,
						NULL));
	}
	if (d)
		g_dir_close(d);
	g_ptr_array_sort(packs, (GCompareFunc)g_strcmp0);
	g_free(dir);
	return packs;
}

static void assert_bytes(int fd, uint64_t offset, const void *data,
		size_t len)
{
	unsigned char *buf = g_malloc(len + 1);
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, buf + done, len - done,
				(off_t)(offset + done));

		g_assert_cmpint(n, >, 0);
		done += (size_t)n;
	}
	g_assert_true(memcmp(buf, data, len) == 0);
	g_free(buf);
}

static void assert_hit(struct body_cache *cache, uint32_t uidvalidity,
		uint32_t uid, const void *data, size_t len)
{
	struct body_cache_key key = make_key("INBOX", uidvalidity, uid);
	struct body_cache_entry entry;
	uint64_t length = 0;

	g_assert_true(body_cache_peek_length(cache, &key, &length));
	g_assert_cmpuint(length, ==, len);
	g_assert_true(body_cache_lookup(cache, &key, &entry));
	g_assert_cmpuint(entry.length, ==, len);
	assert_bytes(entry.fd, entry.offset, data, len);
	close(entry.fd);
}

static void overwrite(const char *path, uint64_t offset, const void *data,
		size_t len)
{
	int fd = open(path, O_WRONLY);

	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(pwrite(fd, data, len, (off_t)offset), ==,
			(ssize_t)len);
	close(fd);
}

static void test_round_trip(void)
{
	char *dir = make_test_dir();
	struct body_cache *cache = open_cache(dir, 0);
	unsigned char *big = make_bytes(4, PACK_BODY_MAX + 1);
	unsigned char *small[3];
	size_t sizes[3] = { 100, 5000, 0 };
	struct body_cache_entry entry;
	struct body_cache_key key = make_key("INBOX", UV, 9);
	uint64_t length, size;
	GPtrArray *packs;
	char *path;

	for (uint32_t i = 0; i < 3; i++) {
		small[i] = make_bytes(i, sizes[i]);
		commit_body(cache, "INBOX", UV, i + 1, small[i], sizes[i],
				&entry);
		/* Served from the pack, where it was put. */
		g_assert_cmpuint(entry.length, ==, sizes[i]);
		assert_bytes(entry.fd, entry.offset, small[i], sizes[i]);
		close(entry.fd);
	}
	commit_and_close(cache, "INBOX", UV, 4, big, PACK_BODY_MAX + 1);

	/* One pack for the three small ones; the large one alone. */
	packs = packs_in(cache, UV);
	g_assert_cmpuint(packs->len, ==, 1);
	g_ptr_array_free(packs, TRUE);
	path = body_cache_path(cache, &(struct body_cache_key){
			.mailbox = "INBOX", .uidvalidity = UV, .uid = 4 });
	g_assert_true(g_file_test(path, G_FILE_TEST_IS_REGULAR));
	g_free(path);
	g_assert_cmpuint(count_in(dir, "bodies"), ==, 2);
	size = body_cache_size(cache);
	g_assert_cmpuint(size, ==, bytes_in_bodies(dir));
	g_assert_cmpuint(size, ==, 4 * HEADER_SIZE + 5100 + PACK_BODY_MAX + 1);

	for (int mount = 0; mount < 2; mount++) {
		for (uint32_t i = 0; i < 3; i++)
			assert_hit(cache, UV, i + 1, small[i], sizes[i]);
		assert_hit(cache, UV, 4, big, PACK_BODY_MAX + 1);
		g_assert_false(body_cache_peek_length(cache, &key, &length));
		assert_miss(cache, "INBOX", UV, 9);
		assert_miss(cache, "INBOX", UV + 1, 1);
		assert_miss(cache, "Other", UV, 1);
		g_assert_cmpuint(body_cache_size(cache), ==, size);
		/* And again after a remount, from what is on disk. */
		body_cache_close(&cache);
		cache = open_cache(dir, 0);
	}

	body_cache_close(&cache);
	for (int i = 0; i < 3; i++)
		g_free(small[i]);
	g_free(big);
	remove_tree(dir);
	g_free(dir);
}

/* Three records of 2000 bytes: record n (from 0) starts at n * 2128. */
#define REC_BODY 2000u
#define REC_SIZE (HEADER_SIZE + REC_BODY)

static char *three_records(const char *dir, unsigned char *bodies[3])
{
	struct body_cache *cache = open_cache(dir, 0);
	GPtrArray *packs;
	char *pack;

	for (uint32_t i = 0; i < 3; i++) {
		bodies[i] = make_bytes(10 + i, REC_BODY);
		commit_and_close(cache, "INBOX", UV, i + 1, bodies[i],
				REC_BODY);
	}
	packs = packs_in(cache, UV);
	g_assert_cmpuint(packs->len, ==, 1);
	pack = g_strdup(g_ptr_array_index(packs, 0));
	g_ptr_array_free(packs, TRUE);
	body_cache_close(&cache);
	return pack;
}

static void three_records_free(char *dir, unsigned char *bodies[3],
		char *pack)
{
	for (int i = 0; i < 3; i++)
		g_free(bodies[i]);
	g_free(pack);
	remove_tree(dir);
	g_free(dir);
}

/*
 * Rename the other pack of the directory of pack (there are two) until a
 * directory read lists pack first (or, if not first, last): the order is
 * the file system's, by a hash of the names.
 */
static void pack_listed_first(const char *dir, const char *pack, bool first)
{
	struct body_cache *cache = open_cache(dir, 0);
	GPtrArray *packs = packs_in(cache, UV);
	char *other, *parent = g_path_get_dirname(pack);

	body_cache_close(&cache);
	g_assert_cmpuint(packs->len, ==, 2);
	other = g_strdup(g_ptr_array_index(packs, strcmp(
				g_ptr_array_index(packs, 0), pack) == 0));
	for (int attempt = 0; ; attempt++) {
		GDir *d = g_dir_open(parent, 0, NULL);
		const char *name;
		char *renamed;
		bool pack_first = false;

		g_assert_nonnull(d);
		while ((name = g_dir_read_name(d)) != NULL) {
			if (g_str_has_prefix(name, PACK_PREFIX)) {
				pack_first = g_str_has_suffix(pack, name);
				break;
			}
		}
		g_dir_close(d);
		if (pack_first == first)
			break;
		g_assert_cmpint(attempt, <, 200);
		renamed = g_strdup_printf("%s/" PACK_PREFIX "test-%d", parent,
				attempt);
		g_assert_cmpint(rename(other, renamed), ==, 0);
		g_free(other);
		other = renamed;
	}
	g_free(other);
	g_free(parent);
	g_ptr_array_free(packs, TRUE);
}

static void test_power_cut(void)
{
	char *dir = make_test_dir();
	unsigned char *bodies[3];
	char *pack = three_records(dir, bodies);
	unsigned char *zeros = g_malloc0(REC_BODY);
	struct body_cache *cache;

	/* What a power cut can leave: the header right, the body zeroed. */
	overwrite(pack, REC_SIZE + HEADER_SIZE, zeros, REC_BODY);
	cache = open_cache(dir, 0);
	assert_hit(cache, UV, 1, bodies[0], REC_BODY);
	assert_miss(cache, "INBOX", UV, 2);
	assert_hit(cache, UV, 3, bodies[2], REC_BODY);
	/* Fetched again: kept, in a pack of this mount's. */
	commit_and_close(cache, "INBOX", UV, 2, bodies[1], REC_BODY);
	assert_hit(cache, UV, 2, bodies[1], REC_BODY);
	body_cache_close(&cache);

	/* Found again after a remount, whichever of the two packs the scan
	 * reads first: the bad record is not taken over the good one. */
	for (int first_is_old = 0; first_is_old < 2; first_is_old++) {
		pack_listed_first(dir, pack, first_is_old);
		cache = open_cache(dir, 0);
		for (uint32_t i = 0; i < 3; i++)
			assert_hit(cache, UV, i + 1, bodies[i], REC_BODY);
		body_cache_close(&cache);
	}

	g_free(zeros);
	three_records_free(dir, bodies, pack);
}

static void test_torn(void)
{
	char *dir = make_test_dir();
	unsigned char *bodies[3];
	char *pack = three_records(dir, bodies);
	unsigned char zeros[HEADER_SIZE] = { 0 };
	struct body_cache *cache;

	/* Cut short in the last record: the first two are whole. */
	g_assert_cmpint(truncate(pack, 3 * REC_SIZE - 1), ==, 0);
	cache = open_cache(dir, 0);
	assert_hit(cache, UV, 1, bodies[0], REC_BODY);
	assert_hit(cache, UV, 2, bodies[1], REC_BODY);
	assert_miss(cache, "INBOX", UV, 3);
	body_cache_close(&cache);

	/* A zeroed header ends the pack: nothing after it is trusted. */
	overwrite(pack, REC_SIZE, zeros, sizeof(zeros));
	cache = open_cache(dir, 0);
	assert_hit(cache, UV, 1, bodies[0], REC_BODY);
	assert_miss(cache, "INBOX", UV, 2);
	assert_miss(cache, "INBOX", UV, 3);
	body_cache_close(&cache);

	three_records_free(dir, bodies, pack);
}

/* A header changed while the cache is in use is seen at the next lookup,
 * even of a record verified already; its neighbours are unharmed. */
static void test_changed_behind(void)
{
	char *dir = make_test_dir();
	unsigned char *bodies[3];
	char *pack = three_records(dir, bodies);
	struct body_cache *cache = open_cache(dir, 0);
	const char other[] = "uid 9";

	for (uint32_t i = 0; i < 3; i++)
		assert_hit(cache, UV, i + 1, bodies[i], REC_BODY);
	/* "imapfs-body 2\nuidvalidity 7\n" is 28 bytes; then "uid 2". */
	overwrite(pack, REC_SIZE + 28, other, strlen(other));
	assert_miss(cache, "INBOX", UV, 2);
	assert_hit(cache, UV, 1, bodies[0], REC_BODY);
	assert_hit(cache, UV, 3, bodies[2], REC_BODY);
	/* Cut short behind its back: a miss, never a short body. */
	g_assert_cmpint(truncate(pack, 3 * REC_SIZE - 1), ==, 0);
	assert_miss(cache, "INBOX", UV, 3);
	body_cache_close(&cache);

	three_records_free(dir, bodies, pack);
}

static void set_mtime(const char *path, time_t when)
{
	struct timespec times[2] = { { .tv_sec = when }, { .tv_sec = when } };

	g_assert_cmpint(utimensat(AT_FDCWD, path, times, 0), ==, 0);
}

/*
 * Under a 16 MiB bound packs are 1 MiB.  Whole packs go, least recently
 * used first; a pack used since the last mount stays; a reader of an
 * evicted record keeps its bytes.
 */
#define EVICT_BOUND (UINT64_C(16) << 20)
#define EVICT_BODY 60000u
#define EVICT_FIRST 100u
#define EVICT_ALL 300u

/* The UID of a pack's first record. */
static uint32_t first_uid(const char *pack)
{
	char header[HEADER_SIZE + 1] = { 0 };
	unsigned int uid = 0;
	int fd = open(pack, O_RDONLY);

	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(pread(fd, header, HEADER_SIZE, 0), ==, HEADER_SIZE);
	close(fd);
	g_assert_cmpint(sscanf(strstr(header, "\nuid "), "\nuid %u", &uid),
			==, 1);
	return uid;
}

static void test_evict(void)
{
	char *dir = make_test_dir();
	struct body_cache *cache = open_cache(dir, EVICT_BOUND);
	unsigned char *body = make_bytes(1, EVICT_BODY);
	struct body_cache_key key = make_key("INBOX", UV, 2);
	struct body_cache_entry held;
	time_t hour_ago = time(NULL) - 3600;
	GPtrArray *packs;

	for (uint32_t uid = 1; uid <= EVICT_FIRST; uid++)
		commit_and_close(cache, "INBOX", UV, uid, body, EVICT_BODY);
	/* Held open from before (a lookup in this mount does not mark
	 * its pack used: it was just written). */
	g_assert_true(body_cache_lookup(cache, &key, &held));
	/* Used about an hour ago, in the order they were written. */
	packs = packs_in(cache, UV);
	g_assert_cmpuint(packs->len, >=, 5);
	for (guint i = 0; i < packs->len; i++) {
		const char *pack = g_ptr_array_index(packs, i);

		set_mtime(pack, hour_ago + first_uid(pack));
	}
	g_ptr_array_free(packs, TRUE);
	body_cache_close(&cache);

	cache = open_cache(dir, EVICT_BOUND);
	/* Mark the pack of UID 60 used. */
	assert_hit(cache, UV, 60, body, EVICT_BODY);
	for (uint32_t uid = EVICT_FIRST + 1; uid <= EVICT_ALL; uid++)
		commit_and_close(cache, "INBOX", UV, uid, body, EVICT_BODY);

	g_assert_cmpuint(bytes_in_bodies(dir), <=, EVICT_BOUND);
	g_assert_cmpuint(body_cache_size(cache), ==, bytes_in_bodies(dir));
	assert_miss(cache, "INBOX", UV, 1);
	assert_miss(cache, "INBOX", UV, 2);
	assert_hit(cache, UV, 60, body, EVICT_BODY);
	assert_hit(cache, UV, EVICT_ALL, body, EVICT_BODY);
	assert_bytes(held.fd, held.offset, body, EVICT_BODY);
	close(held.fd);
	body_cache_close(&cache);

	/* What is left is found again by the next mount, and only that. */
	cache = open_cache(dir, EVICT_BOUND);
	assert_miss(cache, "INBOX", UV, 1);
	assert_hit(cache, UV, 60, body, EVICT_BODY);
	assert_hit(cache, UV, EVICT_ALL, body, EVICT_BODY);
	body_cache_close(&cache);

	g_free(body);
	remove_tree(dir);
	g_free(dir);
}

static void test_drop_stale(void)
{
	char *dir = make_test_dir();
	struct body_cache *cache = open_cache(dir, 0);
	unsigned char *body = make_bytes(3, 700);
	char *old_dir;

	commit_and_close(cache, "INBOX", 1, 5, body, 700);
	commit_and_close(cache, "INBOX", 2, 5, body, 700);
	assert_hit(cache, 1, 5, body, 700);
	body_cache_drop_stale(cache, "INBOX", 2);
	assert_miss(cache, "INBOX", 1, 5);
	assert_hit(cache, 2, 5, body, 700);
	old_dir = body_dir(cache, 1);
	g_assert_false(g_file_test(old_dir, G_FILE_TEST_EXISTS));
	g_assert_cmpuint(body_cache_size(cache), ==, bytes_in_bodies(dir));
	/* The old UIDVALIDITY back (a server restored from backup). */
	commit_and_close(cache, "INBOX", 1, 5, body, 700);
	assert_hit(cache, 1, 5, body, 700);
	body_cache_close(&cache);

	g_free(old_dir);
	g_free(body);
	remove_tree(dir);
	g_free(dir);
}

static void test_written_twice(void)
{
	char *dir = make_test_dir();
	struct body_cache *cache = open_cache(dir, 0);
	unsigned char *body = make_bytes(5, 300);

	commit_and_close(cache, "INBOX", UV, 5, body, 300);
	commit_and_close(cache, "INBOX", UV, 5, body, 300);
	assert_hit(cache, UV, 5, body, 300);
	g_assert_cmpuint(body_cache_size(cache), ==, 2 * (HEADER_SIZE + 300));
	body_cache_close(&cache);
	cache = open_cache(dir, 0);
	assert_hit(cache, UV, 5, body, 300);
	body_cache_close(&cache);

	g_free(body);
	remove_tree(dir);
	g_free(dir);
}

/* Each cache appends to packs of its own; one that has looked at the
 * directory already does not see the other's records (a fetch more),
 * and the next mount sees both. */
static void test_two_caches(void)
{
	char *dir = make_test_dir();
	struct body_cache *a = open_cache(dir, 0), *b = open_cache(dir, 0);
	unsigned char *one = make_bytes(6, 400), *two = make_bytes(7, 500);
	GPtrArray *packs;

	assert_miss(b, "INBOX", UV, 1);
	commit_and_close(a, "INBOX", UV, 1, one, 400);
	commit_and_close(b, "INBOX", UV, 2, two, 500);
	assert_miss(b, "INBOX", UV, 1);
	packs = packs_in(a, UV);
	g_assert_cmpuint(packs->len, ==, 2);
	g_ptr_array_free(packs, TRUE);
	body_cache_close(&a);
	body_cache_close(&b);

	a = open_cache(dir, 0);
	assert_hit(a, UV, 1, one, 400);
	assert_hit(a, UV, 2, two, 500);
	body_cache_close(&a);

	g_free(one);
	g_free(two);
	remove_tree(dir);
	g_free(dir);
}

static unsigned open_fds(void)
{
	GDir *d = g_dir_open("/proc/self/fd", 0, NULL);
	unsigned n = 0;

	g_assert_nonnull(d);
	while (g_dir_read_name(d))
		n++;
	g_dir_close(d);
	return n;
}

/* A pack per mailbox, 200 mailboxes: the descriptors kept for reading
 * them stay bounded, and what was closed is opened again. */
static void test_many_packs(void)
{
	char *dir = make_test_dir();
	struct body_cache *cache = open_cache(dir, 0);
	unsigned char *body = make_bytes(9, 600);
	unsigned before = open_fds();
	char name[32];

	/* Appended to in turn: 16 packs at most are kept open for that. */
	for (int i = 0; i < 200; i++) {
		g_snprintf(name, sizeof(name), "box%d", i);
		commit_and_close(cache, name, UV, 1, body, 600);
		commit_and_close(cache, name, UV, 2, body, 600);
	}
	g_assert_cmpuint(open_fds(), <=, before + 16 + 64);
	body_cache_close(&cache);

	cache = open_cache(dir, 0);
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 200; i++) {
			struct body_cache_key key;
			struct body_cache_entry entry;

			g_snprintf(name, sizeof(name), "box%d", i);
			key = make_key(name, UV, 1);
			g_assert_true(body_cache_lookup(cache, &key, &entry));
			assert_bytes(entry.fd, entry.offset, body, 600);
			close(entry.fd);
		}
		g_assert_cmpuint(open_fds(), <=, before + 64);
	}
	body_cache_close(&cache);
	g_assert_cmpuint(open_fds(), <=, before);

	g_free(body);
	remove_tree(dir);
	g_free(dir);
}

#define THREADS 4
#define PER_THREAD 150u

struct worker {
	struct body_cache *cache;
	uint32_t first;
};

static size_t thread_body_size(uint32_t uid)
{
	return 50 + (uid * 7919u) % 9000u;
}

static gpointer work(gpointer p)
{
	struct worker *w = p;

	for (uint32_t uid = w->first; uid < w->first + PER_THREAD; uid++) {
		size_t len = thread_body_size(uid);
		unsigned char *body = make_bytes(uid, len);

		commit_and_close(w->cache, "INBOX", UV, uid, body, len);
		g_free(body);
		if (uid > w->first) {
			uint32_t back = w->first + (uid * 31u) %
				(uid - w->first);

			len = thread_body_size(back);
			body = make_bytes(back, len);
			assert_hit(w->cache, UV, back, body, len);
			g_free(body);
		}
	}
	return NULL;
}

static void test_threads(void)
{
	char *dir = make_test_dir();
	struct body_cache *cache = open_cache(dir, 0);
	struct worker workers[THREADS];
	GThread *threads[THREADS];

	for (int i = 0; i < THREADS; i++) {
		workers[i] = (struct worker){ cache, 1 + (uint32_t)i *
			PER_THREAD };
		threads[i] = g_thread_new("writer", work, &workers[i]);
	}
	for (int i = 0; i < THREADS; i++)
		g_thread_join(threads[i]);
	g_assert_cmpuint(body_cache_size(cache), ==, bytes_in_bodies(dir));

	for (int mount = 0; mount < 2; mount++) {
		for (uint32_t uid = 1; uid <= THREADS * PER_THREAD; uid++) {
			size_t len = thread_body_size(uid);
			unsigned char *body = make_bytes(uid, len);

			assert_hit(cache, UV, uid, body, len);
			g_free(body);
		}
		body_cache_close(&cache);
		cache = open_cache(dir, 0);
	}
	body_cache_close(&cache);
	remove_tree(dir);
	g_free(dir);
}

static void test_records(void)
{
	struct record_map map = { 0 };
	const uint32_t n = 100000;

	g_assert_null(record_map_find(&map, 1));
	for (uint32_t uid = 1; uid <= n; uid++) {
		struct pack_record *rec = record_map_put(&map, uid * 3);

		g_assert_cmpuint(rec->pack, ==, RECORD_NONE);
		rec->pack = (uint16_t)(uid % 7);
		rec->offset = uid;
	}
	record_map_put(&map, UINT32_MAX)->offset = 42;
	g_assert_cmpuint(map.count, ==, n + 1);
	/* 16 bytes a slot, at most 8/7 slots a record, times 2 at growth. */
	g_assert_cmpuint(map.capacity, <=, 2 * 8 * (n + 1) / 7 + 256);
	for (uint32_t uid = 1; uid <= n; uid++) {
		struct pack_record *rec = record_map_find(&map, uid * 3);

		g_assert_nonnull(rec);
		g_assert_cmpuint(rec->offset, ==, uid);
		g_assert_cmpuint(rec->pack, ==, uid % 7);
		g_assert_null(record_map_find(&map, uid * 3 + 1));
	}
	g_assert_cmpuint(record_map_find(&map, UINT32_MAX)->offset, ==, 42);
	g_assert_null(record_map_find(&map, 0));
	/* Put again: the same slot, kept as it was. */
	g_assert_cmpuint(record_map_put(&map, 6)->offset, ==, 2);
	g_assert_cmpuint(map.count, ==, n + 1);
	record_map_clear(&map);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/cache-pack/round-trip", test_round_trip);
	g_test_add_func("/cache-pack/power-cut", test_power_cut);
	g_test_add_func("/cache-pack/torn", test_torn);
	g_test_add_func("/cache-pack/changed-behind", test_changed_behind);
	g_test_add_func("/cache-pack/evict", test_evict);
	g_test_add_func("/cache-pack/drop-stale", test_drop_stale);
	g_test_add_func("/cache-pack/written-twice", test_written_twice);
	g_test_add_func("/cache-pack/two-caches", test_two_caches);
	g_test_add_func("/cache-pack/many-packs", test_many_packs);
	g_test_add_func("/cache-pack/threads", test_threads);
	g_test_add_func("/cache-pack/records", test_records);
	return g_test_run();
}
