/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Listings kept on disk: what is saved is what loads (every field, and
 * keywords holding odd bytes), a partial save writes and removes only the
 * UIDs named, mailboxes are kept apart and forgotten, a file that is not
 * ours is replaced instead of failing the mount, and a copy of an index
 * keeps its keyword set ids.
 */
#include "store/indexdb.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

static char *tmp_dir(void)
{
	GError *error = NULL;
	char *dir = g_dir_make_tmp("imapfs-indexdb-XXXXXX", &error);

	g_assert_no_error(error);
	return dir;
}

static void remove_dir(char *dir)
{
	const char *name;
	GDir *d = g_dir_open(dir, 0, NULL);

	while (d && (name = g_dir_read_name(d))) {
		char *p = g_build_filename(dir, name, NULL);

		g_unlink(p);
		g_free(p);
	}
	if (d)
		g_dir_close(d);
	g_rmdir(dir);
	g_free(dir);
}

static struct msg_entry entry(struct msg_index *index, uint32_t uid,
		const char *const *keywords)
{
	struct msg_entry e = {
		.uid = uid,
		.size = uid * 100 + 7,
		.size_exact = uid % 2,
		.internaldate = 1700000000 + uid,
		.zone_minutes = (int16_t)(uid % 3 == 0 ? -300 : 120),
		.flags = (uint8_t)(uid % 32),
		.modseq = 1000 + uid,
	};

	e.keywords = msg_index_intern_keywords(index, keywords);
	return e;
}

static struct msg_index *sample(uint32_t count)
{
	static const char *const odd[] = { "$Forwarded", "a\"b\\c",
		"\xc3\xa9t\xc3\xa9", NULL };
	static const char *const one[] = { "$Junk", NULL };
	struct msg_index *index = msg_index_new();

	for (uint32_t uid = 1; uid <= count; uid++) {
		struct msg_entry e = entry(index, uid * 3,
				uid % 5 == 0 ? odd : uid % 7 == 0 ? one : NULL);

		msg_index_append(index, &e);
	}
	msg_index_finish(index);
	return index;
}

static void assert_same(struct msg_index *a, struct msg_index *b)
{
	g_assert_cmpuint(msg_index_count(a), ==, msg_index_count(b));
	for (size_t i = 0; i < msg_index_count(a); i++) {
		const struct msg_entry *x = msg_index_at(a, i);
		const struct msg_entry *y = msg_index_at(b, i);
		const char *const *kx = msg_index_keywords(a, x->keywords);
		const char *const *ky = msg_index_keywords(b, y->keywords);

		g_assert_cmpuint(x->uid, ==, y->uid);
		g_assert_cmpuint(x->size, ==, y->size);
		g_assert_cmpuint(x->size_exact, ==, y->size_exact);
		g_assert_cmpint(x->internaldate, ==, y->internaldate);
		g_assert_cmpint(x->zone_minutes, ==, y->zone_minutes);
		g_assert_cmpuint(x->flags, ==, y->flags);
		g_assert_cmpuint(x->modseq, ==, y->modseq);
		g_assert_cmpuint(g_strv_length((char **)kx), ==,
				g_strv_length((char **)ky));
		for (size_t k = 0; kx[k]; k++)
			g_assert_cmpstr(kx[k], ==, ky[k]);
	}
}

static const struct index_db_mailbox header = {
	.uidvalidity = 4242, .uidnext = 301, .highestmodseq = 99999,
	.mailboxid = "F1234abc",
};

static void test_round_trip(void)
{
	char *dir = tmp_dir();
	char *path = g_build_filename(dir, "index.sqlite", NULL);
	struct index_db *db = index_db_open(path);
	struct msg_index *index = sample(100), *loaded;
	struct index_db_mailbox got;

	g_assert_nonnull(db);
	g_assert_false(index_db_load(db, "INBOX", &got, &loaded));
	index_db_save(db, "INBOX", &header, index, NULL, 0);
	index_db_close(&db);

	/* From another open, as a remount does. */
	db = index_db_open(path);
	g_assert_true(index_db_load(db, "INBOX", &got, &loaded));
	g_assert_cmpuint(got.uidvalidity, ==, header.uidvalidity);
	g_assert_cmpuint(got.uidnext, ==, header.uidnext);
	g_assert_cmpuint(got.highestmodseq, ==, header.highestmodseq);
	g_assert_cmpstr(got.mailboxid, ==, header.mailboxid);
	assert_same(index, loaded);
	msg_index_free(&loaded);
	g_assert_false(index_db_load(db, "Other", &got, &loaded));
	g_assert_null(loaded);
	msg_index_free(&loaded);

	/* A whole save replaces everything. */
	msg_index_free(&index);
	index = sample(10);
	index_db_save(db, "INBOX", &header, index, NULL, 0);
	g_assert_true(index_db_load(db, "INBOX", &got, &loaded));
	assert_same(index, loaded);
	msg_index_free(&loaded);
	msg_index_free(&index);
	index_db_close(&db);
	g_free(path);
	remove_dir(dir);
}

static void test_partial(void)
{
	char *dir = tmp_dir();
	char *path = g_build_filename(dir, "index.sqlite", NULL);
	struct index_db *db = index_db_open(path);
	struct msg_index *index = sample(50), *loaded, *other = sample(5);
	struct index_db_mailbox got, h2 = header;
	struct msg_entry *e, added;
	uint32_t uids[3];

	index_db_save(db, "A", &header, index, NULL, 0);
	index_db_save(db, "B", &header, other, NULL, 0);
	/* One changed, one removed, one added; and a change not named,
	 * which must not be written. */
	e = msg_index_find(index, 30);
	e->flags = 0x1f;
	e->size_exact = 1;
	msg_index_remove(index, 60);
	added = entry(index, 1000, NULL);
	msg_index_append(index, &added);
	msg_index_finish(index);
	msg_index_find(index, 90)->flags = 0;
	uids[0] = 30;
	uids[1] = 60;
	uids[2] = 1000;
	h2.highestmodseq = 123456;
	index_db_save(db, "A", &h2, index, uids, 3);

	g_assert_true(index_db_load(db, "A", &got, &loaded));
	g_assert_cmpuint(got.highestmodseq, ==, 123456);
	g_assert_cmpuint(msg_index_count(loaded), ==, 50);
	g_assert_cmpuint(msg_index_find(loaded, 30)->flags, ==, 0x1f);
	g_assert_null(msg_index_find(loaded, 60));
	g_assert_nonnull(msg_index_find(loaded, 1000));
	g_assert_cmpuint(msg_index_find(loaded, 90)->flags, ==, 90 % 32);
	msg_index_free(&loaded);

	/* B is untouched, and forgetting A leaves B. */
	index_db_forget(db, "A");
	g_assert_false(index_db_load(db, "A", &got, &loaded));
	g_assert_true(index_db_load(db, "B", &got, &loaded));
	assert_same(other, loaded);
	msg_index_free(&loaded);
	msg_index_free(&index);
	msg_index_free(&other);
	index_db_close(&db);
	g_free(path);
	remove_dir(dir);
}

static void test_not_ours(void)
{
	static const char *const contents[] = {
		"", "garbage, not a database at all\n",
		"SQLite format 3\0garbage pages follow",
	};

	for (size_t i = 0; i < G_N_ELEMENTS(contents); i++) {
		char *dir = tmp_dir();
		char *path = g_build_filename(dir, "index.sqlite", NULL);
		struct msg_index *index = sample(3), *loaded;
		struct index_db_mailbox got;
		struct index_db *db;

		g_assert_true(g_file_set_contents(path, contents[i],
					i == 2 ? 36 : -1, NULL));
		db = index_db_open(path);
		if (!db) {
			fail("contents %zu: not replaced", i);
		} else {
			g_assert_false(index_db_load(db, "INBOX", &got,
						&loaded));
			index_db_save(db, "INBOX", &header, index, NULL, 0);
			g_assert_true(index_db_load(db, "INBOX", &got,
						&loaded));
			assert_same(index, loaded);
			msg_index_free(&loaded);
		}
		index_db_close(&db);
		msg_index_free(&index);
		g_free(path);
		remove_dir(dir);
	}
}

static void test_copy(void)
{
	struct msg_index *index = sample(40), *copy;

	msg_index_remove(index, 9);
	copy = msg_index_copy(index);
	assert_same(index, copy);
	msg_index_free(&copy);
	msg_index_free(&index);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/indexdb/round-trip", test_round_trip);
	g_test_add_func("/indexdb/partial", test_partial);
	g_test_add_func("/indexdb/not-ours", test_not_ours);
	g_test_add_func("/indexdb/copy", test_copy);
	return g_test_run();
}
