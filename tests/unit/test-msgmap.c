/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Sequence numbers -> UIDs: scripted sequences of SELECT/EXISTS/FETCH/
 * EXPUNGE checked against the whole map after every step, a random
 * sequence checked against a plain model, the hostile counts that must
 * make the map give up, and the costs: memory that follows the UIDs learnt
 * rather than the count claimed, and expunges that do not move the rest.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <glib.h>

#include "imap/msgmap.h"
#include "testutil.h"

enum op_kind {
	OP_END,
	OP_RESET,	/* a = count */
	OP_COUNT,	/* a = count */
	OP_LEARN,	/* a = seq, b = uid */
	OP_EXPUNGE,	/* a = seq, b = expected result */
};

struct op {
	enum op_kind kind;
	uint32_t a, b;
	/* the map afterwards: UIDs of seq 1.., 0 for unknown; the map must
	 * answer 0 for every number after them */
	uint32_t want[12];
	unsigned nwant;
};

#define RESET(n, ...) { OP_RESET, n, 0, { __VA_ARGS__ }, \
	sizeof((uint32_t[]){ __VA_ARGS__ }) / sizeof(uint32_t) }
#define COUNT(n, ...) { OP_COUNT, n, 0, { __VA_ARGS__ }, \
	sizeof((uint32_t[]){ __VA_ARGS__ }) / sizeof(uint32_t) }
#define LEARN(s, u, ...) { OP_LEARN, s, u, { __VA_ARGS__ }, \
	sizeof((uint32_t[]){ __VA_ARGS__ }) / sizeof(uint32_t) }
#define EXPUNGE(s, r, ...) { OP_EXPUNGE, s, r, { __VA_ARGS__ }, \
	sizeof((uint32_t[]){ __VA_ARGS__ }) / sizeof(uint32_t) }
#define END { OP_END, 0, 0, { 0 }, 0 }

/* Maps with no known UID are written as one 0 (count unknowable here). */
static const struct op script_basic[] = {
	RESET(3, 0, 0, 0),
	LEARN(1, 10, 10, 0, 0),
	LEARN(2, 20, 10, 20, 0),
	LEARN(3, 30, 10, 20, 30),
	/* a FETCH may correct what we knew */
	LEARN(2, 21, 10, 21, 30),
	/* EXPUNGE renumbers the rest */
	EXPUNGE(2, 21, 10, 30),
	EXPUNGE(1, 10, 30),
	EXPUNGE(1, 30, 0),
	/* nothing left */
	EXPUNGE(1, 0, 0),
	END,
};

static const struct op script_unknown[] = {
	RESET(5, 0),
	LEARN(4, 44, 0, 0, 0, 44, 0),
	/* an unknown message leaving still renumbers */
	EXPUNGE(2, 0, 0, 0, 44, 0),
	EXPUNGE(4, 0, 0, 0, 44),
	EXPUNGE(3, 44, 0, 0),
	/* out of range: nothing changes */
	EXPUNGE(3, 0, 0, 0),
	EXPUNGE(0, 0, 0, 0),
	EXPUNGE(4294967295u, 0, 0, 0),
	LEARN(2, 22, 0, 22),
	END,
};

static const struct op script_exists[] = {
	RESET(2, 0),
	LEARN(1, 1, 1, 0),
	LEARN(2, 2, 1, 2),
	/* new mail */
	COUNT(4, 1, 2, 0, 0),
	LEARN(4, 9, 1, 2, 0, 9),
	/* an EXISTS equal to what we know changes nothing */
	COUNT(4, 1, 2, 0, 9),
	/* a FETCH beyond EXISTS implies a larger count */
	LEARN(7, 70, 1, 2, 0, 9, 0, 0, 70),
	EXPUNGE(7, 70, 1, 2, 0, 9, 0, 0),
	EXPUNGE(6, 0, 1, 2, 0, 9, 0),
	COUNT(6, 1, 2, 0, 9, 0, 0),
	/* shrinking drops what is past the end... */
	COUNT(2, 1, 2),
	/* ...and growing again does not bring it back */
	COUNT(4, 1, 2, 0, 0),
	/* seq 0 is never a message */
	LEARN(0, 5, 1, 2, 0, 0),
	COUNT(0, 0),
	LEARN(1, 3, 3),
	END,
};

static const struct op script_reset[] = {
	RESET(3, 0),
	LEARN(1, 100, 100, 0, 0),
	LEARN(3, 300, 100, 0, 300),
	/* SELECT of another mailbox forgets everything */
	RESET(3, 0, 0, 0),
	LEARN(2, 7, 0, 7, 0),
	RESET(0, 0),
	EXPUNGE(1, 0, 0),
	LEARN(1, 1, 1),
	END,
};

static const struct op script_uids[] = {
	/* UIDs are whatever the server says, 4294967295 included */
	RESET(3, 0),
	LEARN(1, 4294967295u, 4294967295u, 0, 0),
	LEARN(2, 1, 4294967295u, 1, 0),
	/* learning 0 is "unknown" again */
	LEARN(1, 0, 0, 1, 0),
	EXPUNGE(2, 1, 0, 0),
	END,
};

static void check_map(const struct msgmap *map, const char *name, size_t step,
		const struct op *op)
{
	for (uint32_t seq = 1; seq <= 12; seq++) {
		uint32_t want = seq <= op->nwant ? op->want[seq - 1] : 0;
		uint32_t got = msgmap_uid(map, seq);

		if (got != want)
			fail("%s step %zu: seq %u -> %u, want %u", name, step,
					seq, got, want);
	}
	if (msgmap_uid(map, 0) != 0)
		fail("%s step %zu: seq 0 is known", name, step);
	if (msgmap_uid(map, UINT32_MAX) != 0)
		fail("%s step %zu: seq 4294967295 is known", name, step);
}

static void run_script(const char *name, const struct op *ops)
{
	struct msgmap *map = msgmap_new();

	for (size_t i = 0; ops[i].kind != OP_END; i++) {
		const struct op *op = &ops[i];
		uint32_t r;

		switch (op->kind) {
		case OP_RESET:
			msgmap_reset(map, op->a);
			break;
		case OP_COUNT:
			msgmap_set_count(map, op->a);
			break;
		case OP_LEARN:
			msgmap_learn(map, op->a, op->b);
			break;
		case OP_EXPUNGE:
			r = msgmap_expunge(map, op->a);
			if (r != op->b)
				fail("%s step %zu: expunge %u gave %u, want %u",
						name, i, op->a, r, op->b);
			break;
		case OP_END:
			break;
		}
		check_map(map, name, i, op);
	}
	msgmap_free(&map);
	g_assert_null(map);
}

static void test_scripts(void)
{
	run_script("basic", script_basic);
	run_script("unknown", script_unknown);
	run_script("exists", script_exists);
	run_script("reset", script_reset);
	run_script("uids", script_uids);
}

static void test_new_empty(void)
{
	struct msgmap *map = msgmap_new();

	for (uint32_t seq = 0; seq < 10; seq++)
		g_assert_cmpuint(msgmap_uid(map, seq), ==, 0);
	g_assert_cmpuint(msgmap_expunge(map, 1), ==, 0);
	msgmap_free(&map);
	msgmap_free(&map);	/* freeing NULL is fine */
}

/* Random operations against a plain array model. */
static void test_random_model(void)
{
	for (int round = 0; round < 50; round++) {
		struct msgmap *map = msgmap_new();
		GArray *model = g_array_new(FALSE, TRUE, sizeof(uint32_t));
		uint32_t count = (uint32_t)g_test_rand_int_range(0, 50);

		msgmap_reset(map, count);
		g_array_set_size(model, count);
		for (int step = 0; step < 2000; step++) {
			int what = g_test_rand_int_range(0, 10);
			uint32_t seq = (uint32_t)g_test_rand_int_range(0,
					(gint32)model->len + 3);

			if (what < 5) {
				uint32_t uid = g_test_rand_int();

				msgmap_learn(map, seq, uid);
				if (seq == 0)
					continue;
				if (seq > model->len)
					g_array_set_size(model, seq);
				g_array_index(model, uint32_t, seq - 1) = uid;
			} else if (what < 8) {
				uint32_t want = 0;

				if (seq >= 1 && seq <= model->len) {
					want = g_array_index(model, uint32_t,
							seq - 1);
					g_array_remove_index(model, seq - 1);
				}
				if (msgmap_expunge(map, seq) != want) {
					fail("round %d step %d: expunge %u",
							round, step, seq);
					break;
				}
			} else {
				uint32_t n = (uint32_t)g_test_rand_int_range(0,
						(gint32)model->len + 10);

				msgmap_set_count(map, n);
				/* growing adds unknown messages */
				g_array_set_size(model, n);
			}
			for (uint32_t s = 0; s <= model->len + 2; s++) {
				uint32_t want = s >= 1 && s <= model->len ?
					g_array_index(model, uint32_t, s - 1) :
					0;

				if (msgmap_uid(map, s) != want) {
					fail("round %d step %d: seq %u -> %u, "
							"want %u", round, step,
							s, msgmap_uid(map, s),
							want);
					step = 2000;
					break;
				}
			}
		}
		g_array_free(model, TRUE);
		msgmap_free(&map);
	}
}

/* Resident memory in kB (VmRSS). */
static long rss_kb(void)
{
	char *status = NULL;
	long kb = -1;
	const char *p;

	if (!g_file_get_contents("/proc/self/status", &status, NULL, NULL))
		return -1;
	p = strstr(status, "VmRSS:");
	if (p)
		sscanf(p + 6, "%ld", &kb);
	g_free(status);
	return kb;
}

static void check_gave_up(struct msgmap *map)
{
	static const uint32_t seqs[] = {
		0, 1, 2, 1000, 16u * 1024 * 1024, 16u * 1024 * 1024 + 1,
		UINT32_MAX - 1, UINT32_MAX,
	};

	for (size_t i = 0; i < G_N_ELEMENTS(seqs); i++)
		g_assert_cmpuint(msgmap_uid(map, seqs[i]), ==, 0);
	msgmap_learn(map, 1, 11);
	msgmap_learn(map, UINT32_MAX, 12);
	g_assert_cmpuint(msgmap_uid(map, 1), ==, 0);
	g_assert_cmpuint(msgmap_uid(map, UINT32_MAX), ==, 0);
	g_assert_cmpuint(msgmap_expunge(map, 1), ==, 0);
	g_assert_cmpuint(msgmap_expunge(map, UINT32_MAX), ==, 0);
	/* a smaller EXISTS does not make half-knowledge look whole */
	msgmap_set_count(map, 3);
	msgmap_learn(map, 2, 22);
	g_assert_cmpuint(msgmap_uid(map, 2), ==, 0);
}

/*
 * "* 4294967295 EXISTS" and "* 4294967295 FETCH (UID 1)": the map gives up
 * (everything unknown) without touching gigabytes; a new SELECT starts
 * over.
 */
static void test_hostile_count(void)
{
	static const uint32_t counts[] = {
		16u * 1024 * 1024 + 1, 100u * 1000 * 1000, 0x40000000u,
		0x80000000u, UINT32_MAX,
	};
	long before = rss_kb();

	for (size_t i = 0; i < G_N_ELEMENTS(counts); i++) {
		struct msgmap *map = msgmap_new();

		/* by SELECT */
		msgmap_reset(map, counts[i]);
		check_gave_up(map);
		msgmap_reset(map, 2);
		msgmap_learn(map, 2, 5);
		g_assert_cmpuint(msgmap_uid(map, 2), ==, 5);

		/* by EXISTS, after something was known */
		msgmap_reset(map, 3);
		msgmap_learn(map, 1, 7);
		msgmap_set_count(map, counts[i]);
		check_gave_up(map);

		/* by FETCH */
		msgmap_reset(map, 3);
		msgmap_learn(map, 1, 7);
		msgmap_learn(map, counts[i], 99);
		check_gave_up(map);
		msgmap_reset(map, 1);
		msgmap_learn(map, 1, 8);
		g_assert_cmpuint(msgmap_uid(map, 1), ==, 8);
		msgmap_free(&map);
	}
	/* 16M entries would be 64 MB; the smallest count above is past the
	 * cap, so nothing near that may have been touched */
	if (before > 0)
		g_assert_cmpint(rss_kb() - before, <, 32 * 1024);
}

/* Up to the cap the map still works, and a count costs nothing by
 * itself. */
static void test_count_at_cap(void)
{
	const uint32_t cap = 16u * 1024 * 1024;
	struct msgmap *map = msgmap_new();

	msgmap_reset(map, 0);
	msgmap_learn(map, cap, 4242);
	g_assert_cmpuint(msgmap_count(map), ==, cap);
	g_assert_cmpuint(msgmap_memory(map), <, 1024);
	g_assert_cmpuint(msgmap_uid(map, cap), ==, 4242);
	g_assert_cmpuint(msgmap_uid(map, cap - 1), ==, 0);
	g_assert_cmpuint(msgmap_uid(map, cap + 1), ==, 0);
	g_assert_cmpuint(msgmap_expunge(map, 1), ==, 0);
	g_assert_cmpuint(msgmap_uid(map, cap - 1), ==, 4242);
	msgmap_set_count(map, 1);
	g_assert_cmpuint(msgmap_uid(map, 1), ==, 0);
	g_assert_cmpuint(msgmap_uid(map, cap - 1), ==, 0);
	msgmap_free(&map);
}

/*
 * "* 16777216 EXISTS" (as a SELECT's answer or unsolicited) and a FETCH
 * at the far end: the map holds a few hundred bytes, not 64 MiB, and
 * still renumbers right.
 */
static void test_huge_count_is_cheap(void)
{
	const uint32_t big = 16u * 1024 * 1024;
	struct msgmap *map = msgmap_new();

	msgmap_reset(map, big);
	g_assert_cmpuint(msgmap_count(map), ==, big);
	g_assert_cmpuint(msgmap_memory(map), <, 1024);
	msgmap_reset(map, 3);
	msgmap_learn(map, 1, 11);
	msgmap_learn(map, 3, 33);
	msgmap_set_count(map, big);
	msgmap_learn(map, big, 99);
	msgmap_learn(map, big / 2, 55);
	g_assert_cmpuint(msgmap_memory(map), <, 1024);
	g_assert_cmpuint(msgmap_uid(map, 3), ==, 33);
	g_assert_cmpuint(msgmap_uid(map, big / 2), ==, 55);
	g_assert_cmpuint(msgmap_uid(map, big), ==, 99);
	/* an unknown message leaving renumbers everything after it */
	g_assert_cmpuint(msgmap_expunge(map, 2), ==, 0);
	g_assert_cmpuint(msgmap_uid(map, 2), ==, 33);
	g_assert_cmpuint(msgmap_uid(map, big / 2 - 1), ==, 55);
	g_assert_cmpuint(msgmap_uid(map, big - 1), ==, 99);
	g_assert_cmpuint(msgmap_uid(map, big), ==, 0);
	g_assert_cmpuint(msgmap_expunge(map, big - 1), ==, 99);
	g_assert_cmpuint(msgmap_count(map), ==, big - 2);
	/* the same count again (a NOOP's EXISTS) costs nothing either */
	for (int i = 0; i < 1000; i++)
		msgmap_set_count(map, big - 2);
	g_assert_cmpuint(msgmap_memory(map), <, 1024);
	msgmap_free(&map);
}

/*
 * Emptying a large Trash: every message known, then "* 1 EXPUNGE" for
 * each.  A map that moves everything after the expunged number takes
 * minutes for this (and the test runner's timeout fails it); renumbering
 * in O(log n) takes well under a second.
 */
static void test_expunge_front_fast(void)
{
	const uint32_t n = 4000000;
	struct msgmap *map = msgmap_new();
	clock_t start = clock();
	size_t full;

	msgmap_reset(map, n);
	for (uint32_t seq = 1; seq <= n; seq++)
		msgmap_learn(map, seq, seq * 2);
	full = msgmap_memory(map);
	/* about 4 bytes a UID, and never a multiple of it */
	g_assert_cmpuint(full, <, (size_t)n * 6);
	for (uint32_t i = 1; i <= n; i++) {
		uint32_t uid = msgmap_expunge(map, 1);

		if (uid != i * 2) {
			fail("expunge %u gave UID %u, want %u", i, uid, i * 2);
			break;
		}
		if (i % 4096 == 0 && msgmap_uid(map, n - i) != n * 2) {
			fail("after %u expunges, the last is %u", i,
					msgmap_uid(map, n - i));
			break;
		}
	}
	g_assert_cmpuint(msgmap_count(map), ==, 0);
	g_assert_cmpuint(msgmap_memory(map), <, 1024);
	/* CPU time, so that a loaded machine does not matter; generous:
	 * this is about a second even under ASan */
	g_assert_cmpfloat((double)(clock() - start) / CLOCKS_PER_SEC, <,
			20.0);

	/* and from the back, and the middle */
	msgmap_reset(map, 0);
	for (uint32_t seq = 1; seq <= 100000; seq++)
		msgmap_learn(map, seq, seq);
	for (uint32_t left = 100000; left > 0; left--) {
		uint32_t seq = left % 2 ? left : (left + 1) / 2;
		uint32_t want = msgmap_uid(map, seq);

		g_assert_cmpuint(msgmap_expunge(map, seq), ==, want);
		g_assert_cmpuint(want, !=, 0);
	}
	g_assert_cmpuint(msgmap_memory(map), <, 1024);
	msgmap_free(&map);
}

/*
 * Larger random runs than test_random_model, so that blocks fill, split
 * and empty, sparse UIDs sit far apart in long gaps, and counts jump: each
 * step is checked at the numbers it touched and around them, and the whole
 * map against the model every so often.  Memory must follow the UIDs
 * learnt, never the count.
 */
static void check_all(const struct msgmap *map, const GArray *model,
		int round, int step, bool *ok)
{
	if (msgmap_count(map) != model->len) {
		fail("round %d step %d: count %u, want %u", round, step,
				msgmap_count(map), model->len);
		*ok = false;
		return;
	}
	for (uint32_t s = 1; s <= model->len; s++) {
		uint32_t want = g_array_index(model, uint32_t, s - 1);

		if (msgmap_uid(map, s) != want) {
			fail("round %d step %d: seq %u -> %u, want %u", round,
					step, s, msgmap_uid(map, s), want);
			*ok = false;
			return;
		}
	}
}

static void test_random_large(void)
{
	for (int round = 0; round < 20; round++) {
		struct msgmap *map = msgmap_new();
		GArray *model = g_array_new(FALSE, TRUE, sizeof(uint32_t));
		uint32_t count = (uint32_t)g_test_rand_int_range(0, 5000);
		/* how the round learns: densely (a listing), in sparse
		 * runs, or anywhere */
		int style = round % 3;
		size_t learnt = 0;
		bool ok = true;

		msgmap_reset(map, count);
		g_array_set_size(model, count);
		for (int step = 0; step < 6000 && ok; step++) {
			int what = g_test_rand_int_range(0, 100);
			gint32 len = (gint32)model->len;
			uint32_t seq;

			if (what < 55) {
				uint32_t uid = (uint32_t)g_test_rand_int();

				if (style == 0)
					seq = (uint32_t)(step % (len + 1)) + 1;
				else if (style == 1)
					seq = (uint32_t)g_test_rand_int_range(
							0, len / 40 + 2) * 40 +
						(uint32_t)(step % 3);
				else
					seq = (uint32_t)g_test_rand_int_range(
							0, len + 20);
				msgmap_learn(map, seq, uid);
				if (seq == 0)
					continue;
				learnt++;
				if (seq > model->len)
					g_array_set_size(model, seq);
				g_array_index(model, uint32_t, seq - 1) = uid;
			} else if (what < 95) {
				uint32_t want = 0;

				seq = (uint32_t)g_test_rand_int_range(0,
						len + 2);
				if (seq >= 1 && seq <= model->len) {
					want = g_array_index(model, uint32_t,
							seq - 1);
					g_array_remove_index(model, seq - 1);
				}
				if (msgmap_expunge(map, seq) != want) {
					fail("round %d step %d: expunge %u",
							round, step, seq);
					ok = false;
				}
			} else {
				uint32_t n = (uint32_t)g_test_rand_int_range(
						len / 2, len + 3000);

				msgmap_set_count(map, n);
				g_array_set_size(model, n);
			}
			if (step % 500 == 0)
				check_all(map, model, round, step, &ok);
			/* a node and a few entries per UID ever learnt (or
			 * per EXISTS), whatever the count */
			if (msgmap_memory(map) > 1024 + (learnt + step) * 160) {
				fail("round %d step %d: %zu bytes for %zu "
						"UIDs", round, step,
						msgmap_memory(map), learnt);
				ok = false;
			}
		}
		check_all(map, model, round, -1, &ok);
		g_array_free(model, TRUE);
		msgmap_free(&map);
	}
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/msgmap/new", test_new_empty);
	g_test_add_func("/msgmap/scripts", test_scripts);
	g_test_add_func("/msgmap/random", test_random_model);
	g_test_add_func("/msgmap/hostile-count", test_hostile_count);
	g_test_add_func("/msgmap/count-at-cap", test_count_at_cap);
	g_test_add_func("/msgmap/huge-count-is-cheap",
			test_huge_count_is_cheap);
	g_test_add_func("/msgmap/expunge-front-fast",
			test_expunge_front_fast);
	g_test_add_func("/msgmap/random-large", test_random_large);
	return g_test_run();
}
