/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The inode table: lookup counting and forgetting, numbers that stay the
 * same from one mount (table) to the next and from one version to the next
 * (pinned FNV-1a values), distinct numbers for distinct objects, a real
 * 64-bit hash collision resolved by probing, a random ref/forget sequence
 * against a model, and concurrent lookups.
 */
#include <stdarg.h>
#include <string.h>

#include <glib.h>

#include "fs/inode.h"
#include "store/mailbox.h"
#include "testutil.h"

/* ---- a tree by hand ---- */

/* inode.c frees staged files through this; none are made here. */
void fs_staged_free(struct fs_staged *staged)
{
	(void)staged;
}

static struct store_node *node_new(struct store_node *parent,
		const char *raw_name)
{
	struct store_node *node = g_new0(struct store_node, 1);

	node->parent = parent;
	node->raw_name = g_strdup(raw_name);
	node->display = g_strdup(raw_name ? raw_name : "");
	node->children = g_ptr_array_new();
	return node;
}

static void node_free(struct store_node *node)
{
	g_free(node->raw_name);
	g_free(node->display);
	g_ptr_array_free(node->children, TRUE);
	g_free(node);
}

/* The number a key gets when nothing collides. */
static uint64_t key_hash(const char *key)
{
	uint64_t h = fs_inode_hash(key, strlen(key));

	return h;
}

/* A message's: its mailbox key's hash, high half, above its UID. */
static uint64_t message_key_number(const char *mailbox_key, uint32_t uid)
{
	return (key_hash(mailbox_key) & UINT64_C(0xffffffff00000000)) | uid;
}

static uint64_t dir_hash(const char *raw_name)
{
	char *key = g_strconcat("d:", raw_name, NULL);
	uint64_t h = key_hash(key);

	g_free(key);
	return h;
}

/* ---- the hash ---- */

static void test_hash_pinned(void)
{
	static const struct {
		const char *key;
		uint64_t hash;
	} cases[] = {
		/* FNV-1a 64 test vectors */
		{ "", 0xcbf29ce484222325ULL },
		{ "a", 0xaf63dc4c8601ec8cULL },
		{ "foobar", 0x85944171f73967e8ULL },
	};
	struct store_node *root = node_new(NULL, NULL);
	struct store_node *inbox = node_new(root, "INBOX");
	struct store_node *sent = node_new(inbox, "INBOX/Sent");
	struct store_mailbox *mb = store_mailbox_new(NULL, "INBOX");

	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++)
		g_assert_cmphex(fs_inode_hash(cases[i].key,
					strlen(cases[i].key)), ==,
				cases[i].hash);
	/* only len bytes count, NULs included */
	g_assert_cmphex(fs_inode_hash("ab", 1), ==, 0xaf63dc4c8601ec8cULL);
	g_assert_cmphex(fs_inode_hash("a\0b", 3), !=, fs_inode_hash("a", 1));

	/* what a mailbox and a message are numbered must not change from
	 * one version to the next: st_ino is stable across remounts and
	 * upgrades (messages were numbered otherwise before 0.2) */
	g_assert_cmphex(fs_inode_dir_number(inbox), ==, 0x0ec3952308e421d1ULL);
	g_assert_cmphex(fs_inode_dir_number(sent), ==, 0x4bf58d70221cc7a8ULL);
	g_assert_cmphex(fs_inode_message_number(mb, 1, 1), ==,
			0xf2d580d800000001ULL);
	g_assert_cmphex(fs_inode_message_number(mb, 1234567, 4711), ==,
			0xc4155cf200001267ULL);
	/* and a mailbox's messages are numbered in UID order, so that
	 * walks in inode order go in UID order (src/fs/inode.c) */
	for (uint32_t uid = 1; uid < 100000; uid += 997)
		g_assert_cmphex(fs_inode_message_number(mb, 1234567, uid), <,
				fs_inode_message_number(mb, 1234567,
					uid + 1));
	/* Hashed as printf writes the key, zero and the largest too. */
	for (size_t i = 0; i < 3; i++) {
		static const uint32_t values[][2] = {
			{ 0, 0 }, { UINT32_MAX, UINT32_MAX }, { 10, 1000000 },
		};
		char *key = g_strdup_printf("m:%zu:%s:%u",
				strlen(store_mailbox_name(mb)),
				store_mailbox_name(mb), values[i][0]);
		uint64_t want = message_key_number(key, values[i][1]);

		g_assert_cmphex(fs_inode_message_number(mb, values[i][0],
					values[i][1]), ==,
				want <= FUSE_ROOT_ID ? want + 2 : want);
		g_free(key);
	}
	g_assert_cmpuint(fs_inode_dir_number(root), ==, FUSE_ROOT_ID);

	store_mailbox_free(&mb);
	node_free(sent);
	node_free(inbox);
	node_free(root);
}

/* ---- lookups ---- */

static void test_root(void)
{
	struct store_node *root = node_new(NULL, NULL);
	struct fs_inodes *inodes = fs_inodes_new(root);
	struct fs_inode *r = fs_inodes_get(inodes, FUSE_ROOT_ID);

	g_assert_nonnull(r);
	g_assert_cmpuint(r->ino, ==, FUSE_ROOT_ID);
	g_assert_cmpint(r->kind, ==, FS_INODE_DIR);
	g_assert_true(r->node == root);
	g_assert_null(fs_inodes_get(inodes, 0));
	g_assert_null(fs_inodes_get(inodes, 2));
	g_assert_true(fs_inodes_ref_dir(inodes, root) == r);
	g_assert_true(fs_inodes_ref_dir(inodes, root) == r);
	/* the root is never forgotten */
	fs_inodes_forget(inodes, FUSE_ROOT_ID, 1000);
	g_assert_true(fs_inodes_get(inodes, FUSE_ROOT_ID) == r);
	fs_inodes_free(&inodes);
	g_assert_null(inodes);
	fs_inodes_free(&inodes);	/* freeing NULL is fine */
	node_free(root);
}

static void test_ref_dir(void)
{
	struct store_node *root = node_new(NULL, NULL);
	struct store_node *a = node_new(root, "A");
	struct store_node *a_again = node_new(root, "A");
	struct store_node *b = node_new(root, "A/B");
	struct fs_inodes *inodes = fs_inodes_new(root);
	struct fs_inode *ia, *ib;

	ia = fs_inodes_ref_dir(inodes, a);
	g_assert_nonnull(ia);
	g_assert_cmpint(ia->kind, ==, FS_INODE_DIR);
	g_assert_true(ia->node == a);
	g_assert_cmpuint(ia->nlookup, ==, 1);
	g_assert_cmpuint(ia->ino, ==, fs_inode_dir_number(a));
	g_assert_cmpuint(ia->ino, ==, dir_hash("A"));
	g_assert_true(fs_inodes_ref_dir(inodes, a) == ia);
	g_assert_cmpuint(ia->nlookup, ==, 2);
	/* the number comes from the name, not from the node object */
	g_assert_true(fs_inodes_ref_dir(inodes, a_again) == ia);
	g_assert_cmpuint(ia->nlookup, ==, 3);
	g_assert_true(fs_inodes_get(inodes, ia->ino) == ia);

	ib = fs_inodes_ref_dir(inodes, b);
	g_assert_true(ib != ia);
	g_assert_cmpuint(ib->ino, !=, ia->ino);
	g_assert_cmpuint(ib->ino, ==, fs_inode_dir_number(b));

	/* forgetting counts down and removes at zero */
	fs_inodes_forget(inodes, ia->ino, 2);
	g_assert_true(fs_inodes_get(inodes, dir_hash("A")) == ia);
	g_assert_cmpuint(ia->nlookup, ==, 1);
	fs_inodes_forget(inodes, ia->ino, 1);
	g_assert_null(fs_inodes_get(inodes, dir_hash("A")));
	g_assert_true(fs_inodes_get(inodes, ib->ino) == ib);

	/* a forgotten directory comes back under the same number */
	ia = fs_inodes_ref_dir(inodes, a);
	g_assert_cmpuint(ia->ino, ==, dir_hash("A"));
	g_assert_cmpuint(ia->nlookup, ==, 1);

	/* forgetting more than was looked up removes it too */
	fs_inodes_forget(inodes, ib->ino, 1000);
	g_assert_null(fs_inodes_get(inodes, fs_inode_dir_number(b)));
	/* forgetting what is not there does nothing */
	fs_inodes_forget(inodes, fs_inode_dir_number(b), 1);
	fs_inodes_forget(inodes, 12345, 1);
	fs_inodes_forget(inodes, 0, 1);
	g_assert_true(fs_inodes_get(inodes, dir_hash("A")) == ia);

	fs_inodes_free(&inodes);
	node_free(b);
	node_free(a_again);
	node_free(a);
	node_free(root);
}

static void test_ref_message(void)
{
	struct store_node *root = node_new(NULL, NULL);
	struct store_mailbox *inbox = store_mailbox_new(NULL, "INBOX");
	struct store_mailbox *inbox2 = store_mailbox_new(NULL, "INBOX");
	struct fs_inodes *inodes = fs_inodes_new(root);
	struct fs_inode *m, *again;

	bool exact = true;

	m = fs_inodes_ref_message(inodes, inbox, 7, 4711, 1234, false,
			837596665);
	g_assert_nonnull(m);
	g_assert_cmpint(m->kind, ==, FS_INODE_MESSAGE);
	g_assert_true(m->mailbox == inbox);
	g_assert_cmpuint(m->uidvalidity, ==, 7);
	g_assert_cmpuint(m->uid, ==, 4711);
	g_assert_cmpuint(m->size, ==, 1234);
	g_assert_cmpint(m->mtime, ==, 837596665);
	g_assert_cmpuint(m->nlookup, ==, 1);
	g_assert_cmpuint(m->ino, ==, fs_inode_message_number(inbox, 7, 4711));
	/* Numbers are the hash of the key "m:LEN:NAME:UIDVALIDITY", high
	 * half, above the UID. */
	g_assert_cmpuint(m->ino, ==, message_key_number("m:5:INBOX:7", 4711));
	g_assert_cmpuint(fs_inode_size(inodes, m, &exact), ==, 1234);
	g_assert_false(exact);

	/* the same message again: same inode, one more lookup, and what it
	 * knew (a measured size) is kept over an announced one */
	fs_inode_set_size(inodes, m, 1300);
	again = fs_inodes_ref_message(inodes, inbox, 7, 4711, 1234, false,
			837596665);
	g_assert_true(again == m);
	g_assert_cmpuint(m->nlookup, ==, 2);
	g_assert_cmpuint(fs_inode_size(inodes, m, &exact), ==, 1300);
	g_assert_true(exact);
	/* identity is the mailbox's name, not the object */
	g_assert_true(fs_inodes_ref_message(inodes, inbox2, 7, 4711, 1, false,
				1) == m);
	g_assert_cmpuint(m->nlookup, ==, 3);
	g_assert_cmpuint(fs_inode_size(inodes, m, NULL), ==, 1300);

	fs_inodes_forget(inodes, m->ino, 3);

	/* a measured size found later (say, in the cache) replaces an
	 * announced one */
	m = fs_inodes_ref_message(inodes, inbox, 7, 4712, 10, false, 1);
	g_assert_true(fs_inodes_ref_message(inodes, inbox, 7, 4712, 12, true,
				1) == m);
	g_assert_cmpuint(fs_inode_size(inodes, m, &exact), ==, 12);
	g_assert_true(exact);
	fs_inodes_forget(inodes, m->ino, 2);
	g_assert_null(fs_inodes_get(inodes,
				fs_inode_message_number(inbox, 7, 4711)));
	fs_inodes_free(&inodes);
	store_mailbox_free(&inbox2);
	store_mailbox_free(&inbox);
	node_free(root);
}

/* ---- numbers ---- */

static const char *const mailbox_names[] = {
	"INBOX", "INBOX/Sent", "Archive", "a:1", "a", "a:1:2", "",
	"Entw&APw-rfe", "with space", "m:5:INBOX",
};

/* Every directory and message in a few mailboxes, UIDVALIDITYs and UIDs:
 * all numbers distinct and never 0 or 1; a second table ("after a
 * remount"), filled in another order, gives each the same number. */
static void test_numbers_distinct_and_stable(void)
{
	enum { NMB = G_N_ELEMENTS(mailbox_names), NUID = 300 };
	static const uint32_t uidvalidities[] = { 1, 2, 1700000000u,
		UINT32_MAX };
	struct store_node *root = node_new(NULL, NULL);
	struct store_node *dirs[NMB];
	struct store_mailbox *mbs[NMB];
	struct fs_inodes *inodes = fs_inodes_new(root);
	GHashTable *seen = g_hash_table_new_full(g_int64_hash, g_int64_equal,
			g_free, g_free);
	GHashTable *numbers = g_hash_table_new_full(g_str_hash, g_str_equal,
			g_free, g_free);

	for (size_t i = 0; i < NMB; i++) {
		dirs[i] = node_new(root, mailbox_names[i]);
		mbs[i] = store_mailbox_new(NULL, mailbox_names[i]);
	}
	for (size_t i = 0; i < NMB; i++) {
		struct fs_inode *d = fs_inodes_ref_dir(inodes, dirs[i]);
		char *what = g_strdup_printf("d %s", mailbox_names[i]);

		g_assert_cmpuint(d->ino, ==, fs_inode_dir_number(dirs[i]));
		g_hash_table_insert(seen, g_memdup2(&d->ino, 8),
				g_strdup(what));
		g_hash_table_insert(numbers, what, g_memdup2(&d->ino, 8));
		for (size_t v = 0; v < G_N_ELEMENTS(uidvalidities); v++) {
			for (uint32_t uid = 1; uid <= NUID; uid++) {
				struct fs_inode *m = fs_inodes_ref_message(
						inodes, mbs[i],
						uidvalidities[v], uid, 0,
						false, 0);

				what = g_strdup_printf("m %s %u %u",
						mailbox_names[i],
						uidvalidities[v], uid);
				if (m->ino <= FUSE_ROOT_ID)
					fail("%s: number %" G_GUINT64_FORMAT,
							what, (guint64)m->ino);
				if (m->ino != fs_inode_message_number(mbs[i],
							uidvalidities[v], uid))
					fail("%s: number is not the "
							"predicted one", what);
				if (g_hash_table_contains(seen, &m->ino))
					fail("%s: same number as %s", what,
							(char *)
							g_hash_table_lookup(
							seen, &m->ino));
				g_hash_table_insert(seen,
						g_memdup2(&m->ino, 8),
						g_strdup(what));
				g_hash_table_insert(numbers, what,
						g_memdup2(&m->ino, 8));
			}
		}
	}
	g_assert_cmpuint(g_hash_table_size(seen), ==,
			NMB * (1 + G_N_ELEMENTS(uidvalidities) * NUID));
	fs_inodes_free(&inodes);

	/* remount: new table, reverse order, new mailbox objects */
	inodes = fs_inodes_new(root);
	for (size_t i = 0; i < NMB; i++) {
		store_mailbox_free(&mbs[i]);
		mbs[i] = store_mailbox_new(NULL, mailbox_names[i]);
	}
	for (size_t k = NMB; k-- > 0;) {
		for (size_t v = G_N_ELEMENTS(uidvalidities); v-- > 0;) {
			for (uint32_t uid = NUID; uid >= 1; uid--) {
				struct fs_inode *m = fs_inodes_ref_message(
						inodes, mbs[k],
						uidvalidities[v], uid, 0,
						false, 0);
				char *what = g_strdup_printf("m %s %u %u",
						mailbox_names[k],
						uidvalidities[v], uid);
				guint64 *before = g_hash_table_lookup(numbers,
						what);

				g_assert_nonnull(before);
				if (*before != m->ino)
					fail("%s: %" G_GUINT64_FORMAT " after "
							"remount, was %"
							G_GUINT64_FORMAT, what,
							(guint64)m->ino,
							*before);
				g_free(what);
			}
		}
		{
			struct fs_inode *d = fs_inodes_ref_dir(inodes, dirs[k]);
			char *what = g_strdup_printf("d %s", mailbox_names[k]);
			guint64 *before = g_hash_table_lookup(numbers, what);

			g_assert_nonnull(before);
			g_assert_cmpuint(*before, ==, d->ino);
			g_free(what);
		}
	}
	fs_inodes_free(&inodes);
	for (size_t i = 0; i < NMB; i++) {
		store_mailbox_free(&mbs[i]);
		node_free(dirs[i]);
	}
	g_hash_table_destroy(numbers);
	g_hash_table_destroy(seen);
	node_free(root);
}

/*
 * Two mailbox names whose directory keys have the same 64-bit FNV-1a hash
 * (found offline with Pollard's rho over 16 hex digits; a birthday search
 * takes minutes, not the second or two a test may take, so the pair is
 * written down here and checked below).
 */
#define COLLIDE_A "db52ee6ffc9d565a"
#define COLLIDE_B "d113e24d781f8d6b"
#define COLLIDE_HASH 0xd94c6191b59d581bULL

static void test_collision(void)
{
	struct store_node *root = node_new(NULL, NULL);
	struct store_node *a = node_new(root, COLLIDE_A);
	struct store_node *b = node_new(root, COLLIDE_B);
	struct fs_inodes *inodes;
	struct fs_inode *ia, *ib;

	/* the pair does collide */
	g_assert_cmphex(dir_hash(COLLIDE_A), ==, COLLIDE_HASH);
	g_assert_cmphex(dir_hash(COLLIDE_B), ==, COLLIDE_HASH);
	g_assert_cmphex(fs_inode_dir_number(a), ==, COLLIDE_HASH);
	g_assert_cmphex(fs_inode_dir_number(b), ==, COLLIDE_HASH);

	inodes = fs_inodes_new(root);
	ia = fs_inodes_ref_dir(inodes, a);
	ib = fs_inodes_ref_dir(inodes, b);
	g_assert_cmphex(ia->ino, ==, COLLIDE_HASH);
	g_assert_cmphex(ib->ino, !=, ia->ino);
	g_assert_cmphex(ib->ino, >, FUSE_ROOT_ID);
	g_assert_cmphex(ib->ino, ==, COLLIDE_HASH + 1);	/* probed */
	g_assert_true(ia->node == a);
	g_assert_true(ib->node == b);
	g_assert_true(fs_inodes_get(inodes, ia->ino) == ia);
	g_assert_true(fs_inodes_get(inodes, ib->ino) == ib);

	/* each is still found by its own key */
	g_assert_true(fs_inodes_ref_dir(inodes, a) == ia);
	g_assert_true(fs_inodes_ref_dir(inodes, b) == ib);
	g_assert_cmpuint(ia->nlookup, ==, 2);
	g_assert_cmpuint(ib->nlookup, ==, 2);

	/* forgetting one leaves the other alone */
	fs_inodes_forget(inodes, COLLIDE_HASH, 2);
	g_assert_null(fs_inodes_get(inodes, COLLIDE_HASH));
	g_assert_true(fs_inodes_get(inodes, COLLIDE_HASH + 1) == ib);
	g_assert_true(fs_inodes_ref_dir(inodes, b) == ib);
	g_assert_cmpuint(ib->nlookup, ==, 3);
	/* and the freed number is the first one's again */
	ia = fs_inodes_ref_dir(inodes, a);
	g_assert_cmphex(ia->ino, ==, COLLIDE_HASH);
	g_assert_true(ia->node == a);
	fs_inodes_free(&inodes);

	/* whoever comes first gets the hash */
	inodes = fs_inodes_new(root);
	ib = fs_inodes_ref_dir(inodes, b);
	ia = fs_inodes_ref_dir(inodes, a);
	g_assert_cmphex(ib->ino, ==, COLLIDE_HASH);
	g_assert_cmphex(ia->ino, ==, COLLIDE_HASH + 1);
	g_assert_true(fs_inodes_get(inodes, COLLIDE_HASH)->node == b);
	g_assert_true(fs_inodes_get(inodes, COLLIDE_HASH + 1)->node == a);
	fs_inodes_free(&inodes);

	node_free(b);
	node_free(a);
	node_free(root);
}

/* Random refs and forgets against a model of lookup counts. */
static void test_random_model(void)
{
	enum { NKEYS = 200 };
	struct store_node *root = node_new(NULL, NULL);
	struct store_node *dirs[NKEYS];
	struct store_mailbox *mb = store_mailbox_new(NULL, "Box");
	struct fs_inodes *inodes = fs_inodes_new(root);
	uint64_t count[2 * NKEYS] = { 0 };
	uint64_t number[2 * NKEYS];

	for (int i = 0; i < NKEYS; i++) {
		char *name = g_strdup_printf("dir%d", i);

		dirs[i] = node_new(root, name);
		number[i] = fs_inode_dir_number(dirs[i]);
		number[NKEYS + i] = fs_inode_message_number(mb, 9,
				(uint32_t)i + 1);
		g_free(name);
	}
	for (int step = 0; step < 20000; step++) {
		int k = g_test_rand_int_range(0, 2 * NKEYS);
		struct fs_inode *inode;

		if (g_test_rand_int_range(0, 3) > 0) {
			inode = k < NKEYS ?
				fs_inodes_ref_dir(inodes, dirs[k]) :
				fs_inodes_ref_message(inodes, mb, 9,
						(uint32_t)(k - NKEYS) + 1,
						0, false, 0);
			count[k]++;
			g_assert_cmpuint(inode->ino, ==, number[k]);
			g_assert_cmpuint(inode->nlookup, ==, count[k]);
		} else {
			uint64_t n = (uint64_t)g_test_rand_int_range(1, 4);

			fs_inodes_forget(inodes, number[k], n);
			count[k] = n >= count[k] ? 0 : count[k] - n;
		}
		inode = fs_inodes_get(inodes, number[k]);
		if ((inode != NULL) != (count[k] > 0)) {
			fail("step %d key %d: %s with %" G_GUINT64_FORMAT
					" lookups", step, k,
					inode ? "present" : "absent",
					(guint64)count[k]);
			break;
		}
	}
	/* the kernel forgets everything at unmount */
	for (int k = 0; k < 2 * NKEYS; k++) {
		fs_inodes_forget(inodes, number[k], count[k]);
		g_assert_null(fs_inodes_get(inodes, number[k]));
	}
	g_assert_nonnull(fs_inodes_get(inodes, FUSE_ROOT_ID));
	fs_inodes_free(&inodes);
	for (int i = 0; i < NKEYS; i++)
		node_free(dirs[i]);
	store_mailbox_free(&mb);
	node_free(root);
}

/* ---- threads ---- */

struct worker {
	struct fs_inodes *inodes;
	struct store_mailbox *mb;
	uint64_t *numbers;	/* per UID; checked by every thread */
	bool bad;
};

enum { THREADS = 4, THREAD_UIDS = 500, THREAD_ROUNDS = 10 };

static gpointer worker_run(gpointer data)
{
	struct worker *w = data;

	for (int r = 0; r < THREAD_ROUNDS; r++) {
		for (uint32_t uid = 1; uid <= THREAD_UIDS; uid++) {
			struct fs_inode *m = fs_inodes_ref_message(w->inodes,
					w->mb, 1, uid, uid, false, 0);

			if (m->ino != w->numbers[uid] ||
					fs_inodes_get(w->inodes, m->ino) != m)
				w->bad = true;
		}
	}
	return NULL;
}

static void test_threads(void)
{
	struct store_node *root = node_new(NULL, NULL);
	struct store_mailbox *mb = store_mailbox_new(NULL, "INBOX");
	struct fs_inodes *inodes = fs_inodes_new(root);
	uint64_t numbers[THREAD_UIDS + 1];
	struct worker workers[THREADS];
	GThread *threads[THREADS];

	for (uint32_t uid = 1; uid <= THREAD_UIDS; uid++)
		numbers[uid] = fs_inode_message_number(mb, 1, uid);
	for (int t = 0; t < THREADS; t++) {
		workers[t] = (struct worker){ inodes, mb, numbers, false };
		threads[t] = g_thread_new("ref", worker_run, &workers[t]);
	}
	for (int t = 0; t < THREADS; t++) {
		g_thread_join(threads[t]);
		g_assert_false(workers[t].bad);
	}
	for (uint32_t uid = 1; uid <= THREAD_UIDS; uid++) {
		struct fs_inode *m = fs_inodes_get(inodes, numbers[uid]);

		g_assert_nonnull(m);
		g_assert_cmpuint(m->nlookup, ==, THREADS * THREAD_ROUNDS);
	}
	fs_inodes_free(&inodes);
	store_mailbox_free(&mb);
	node_free(root);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/inode/hash/pinned", test_hash_pinned);
	g_test_add_func("/inode/root", test_root);
	g_test_add_func("/inode/ref/dir", test_ref_dir);
	g_test_add_func("/inode/ref/message", test_ref_message);
	g_test_add_func("/inode/numbers/distinct-and-stable",
			test_numbers_distinct_and_stable);
	g_test_add_func("/inode/numbers/collision", test_collision);
	g_test_add_func("/inode/random", test_random_model);
	g_test_add_func("/inode/threads", test_threads);
	return g_test_run();
}
