/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Reading ahead: reads that are not a walk ask for nothing, walks up and
 * down the UIDs ask for every message after the reader once in batches
 * that double, sizes and bodies already on their way are left out, the
 * bound on batches in flight, readers that take neighbouring messages in
 * any order, a UIDVALIDITY change, and indexes with gaps.  Every read
 * checks what holds for any batch (ascending, listed, not the read's own
 * UID, within the limits).
 */
#include "store/readahead.h"

#include <string.h>

#include <glib.h>

#include "store/msgindex.h"
#include "testutil.h"

#define MAX_UID 1000

struct walk {
	struct readahead ra;
	struct msg_index *index;
	struct readahead_limits limits;
	uint32_t uidvalidity;
	bool (*cached)(uint32_t uid);	/* is_fetching's answer; NULL: none */
	bool done_at_once;	/* each batch ends before the next read */
	unsigned asked[MAX_UID + 1];	/* times each UID was in a batch */
	unsigned batches;
	GArray *batch;		/* the last read's */
};

static void walk_init(struct walk *w)
{
	memset(w, 0, sizeof(*w));
	w->index = msg_index_new();
	w->limits = (struct readahead_limits){
		.first_window = 8,
		.max_window = 64,
		.max_bytes = UINT64_MAX,
		.max_message = UINT32_MAX,
		.max_in_flight = 4,
	};
	w->uidvalidity = 7;
	w->done_at_once = true;
	w->batch = g_array_new(FALSE, FALSE, sizeof(uint32_t));
}

static void walk_add(struct walk *w, uint32_t uid, uint32_t size)
{
	struct msg_entry e = { .uid = uid, .size = size };

	g_assert_cmpuint(uid, <=, MAX_UID);
	msg_index_append(w->index, &e);
}

/* UIDs from..to in steps, all of one size. */
static void walk_fill(struct walk *w, uint32_t from, uint32_t to,
		uint32_t step, uint32_t size)
{
	for (uint32_t uid = from; uid <= to; uid += step)
		walk_add(w, uid, size);
	msg_index_finish(w->index);
}

static void walk_free(struct walk *w)
{
	msg_index_free(&w->index);
	g_array_free(w->batch, TRUE);
}

static bool is_fetching(void *ctx, uint32_t uid)
{
	struct walk *w = ctx;

	return w->cached && w->cached(uid);
}

/* What a read of uid asks for, checked against what holds for any
 * batch whatever the walk. */
static const GArray *walk_read(struct walk *w, uint32_t uid)
{
	uint64_t bytes = 0;
	bool ok;

	g_array_set_size(w->batch, 0);
	ok = readahead_plan(&w->ra, w->index, w->uidvalidity, uid,
			&w->limits, is_fetching, w, w->batch);
	g_assert_cmpint(ok, ==, w->batch->len > 0);
	for (guint i = 0; i < w->batch->len; i++) {
		uint32_t u = g_array_index(w->batch, uint32_t, i);
		const struct msg_entry *e = msg_index_find(w->index, u);

		if (i > 0)
			g_assert_cmpuint(u, >,
					g_array_index(w->batch, uint32_t,
						i - 1));
		g_assert_cmpuint(u, !=, uid);
		g_assert_nonnull(e);
		g_assert_cmpuint(e->size, <=, w->limits.max_message);
		g_assert_false(is_fetching(w, u));
		bytes += e->size;
		w->asked[u]++;
	}
	g_assert_cmpuint(bytes, <=, w->limits.max_bytes);
	if (ok) {
		w->batches++;
		if (w->done_at_once)
			readahead_done(&w->ra);
	}
	return w->batch;
}

/* "3-10,12": a batch as a failure message can show it. */
static char *format_uids(const GArray *uids)
{
	GString *s = g_string_new(NULL);
	guint i = 0;

	while (i < uids->len) {
		uint32_t first = g_array_index(uids, uint32_t, i);
		uint32_t last = first;

		while (++i < uids->len &&
				g_array_index(uids, uint32_t, i) == last + 1)
			last++;
		if (s->len)
			g_string_append_c(s, ',');
		if (last == first)
			g_string_append_printf(s, "%u", first);
		else
			g_string_append_printf(s, "%u-%u", first, last);
	}
	return g_string_free(s, FALSE);
}

static void expect(struct walk *w, uint32_t uid, const char *want)
{
	g_autofree char *got = format_uids(walk_read(w, uid));

	if (strcmp(got, want) != 0)
		g_test_message("read of UID %u", uid);
	g_assert_cmpstr(got, ==, want);
}

/* UIDs from..to in steps, as format_uids() writes them. */
static char *every(uint32_t from, uint32_t to, uint32_t step)
{
	GArray *uids = g_array_new(FALSE, FALSE, sizeof(uint32_t));
	char *s;

	for (uint32_t uid = from; uid <= to; uid += step)
		g_array_append_val(uids, uid);
	s = format_uids(uids);
	g_array_free(uids, TRUE);
	return s;
}

/* Every UID from..to was asked once if wanted says so, else never. */
static void assert_asked(const struct walk *w, uint32_t from, uint32_t to,
		bool (*wanted)(uint32_t uid))
{
	for (uint32_t uid = from; uid <= to; uid++) {
		unsigned want = !wanted || wanted(uid) ? 1 : 0;

		if (w->asked[uid] != want)
			g_test_message("UID %u", uid);
		g_assert_cmpuint(w->asked[uid], ==, want);
	}
}

static void assert_asked_at_most_once(const struct walk *w)
{
	for (uint32_t uid = 0; uid <= MAX_UID; uid++) {
		if (w->asked[uid] > 1)
			g_test_message("UID %u", uid);
		g_assert_cmpuint(w->asked[uid], <=, 1);
	}
}

/* What a walk should have asked for (the reads that make it, 1 and 2 up
 * or 1000 and 999 down, are their readers' business). */
static bool from_3(uint32_t uid)
{
	return uid >= 3 && uid <= 1000;
}

static bool up_to_998(uint32_t uid)
{
	return uid >= 1 && uid <= 998;
}

static bool third(uint32_t uid)
{
	return uid % 3 == 0;
}

static bool not_third_from_3(uint32_t uid)
{
	return uid >= 3 && !third(uid);
}

static bool small_from_3(uint32_t uid)
{
	return uid >= 3 && uid % 7 != 0;
}

static bool even_from_6(uint32_t uid)
{
	return uid >= 6 && uid <= 400 && uid % 2 == 0;
}

/* ---- reads that are not a walk ---- */

static void test_single_reads(void)
{
	struct walk w;

	walk_init(&w);
	walk_fill(&w, 1, 1000, 1, 1000);
	/* a cat of one message downloads that message */
	expect(&w, 500, "");
	/* reading it again is no walk either */
	expect(&w, 500, "");
	/* nor are reads far away, up or down */
	expect(&w, 1, "");
	expect(&w, 66, "");		/* 65 positions on */
	expect(&w, 1, "");
	expect(&w, 900, "");
	expect(&w, 835, "");		/* 65 positions back */
	g_assert_cmpuint(w.batches, ==, 0);
	/* but the one after a far read makes a walk from there */
	expect(&w, 836, "837-844");
	walk_free(&w);

	/* 64 positions away is still near */
	walk_init(&w);
	walk_fill(&w, 1, 1000, 1, 1000);
	expect(&w, 1, "");
	expect(&w, 65, "66-73");
	walk_free(&w);

	walk_init(&w);
	walk_fill(&w, 1, 1000, 1, 1000);
	expect(&w, 1000, "");
	expect(&w, 936, "928-935");
	walk_free(&w);
}

/* ---- walks ---- */

static void test_forward_walk(void)
{
	struct walk w;
	/* the batch after 3-10 */
	uint32_t start = 11, trigger = 3;
	unsigned window = 16, reads = 2;

	walk_init(&w);
	walk_fill(&w, 1, 1000, 1, 1000);
	expect(&w, 1, "");
	expect(&w, 2, "3-10");
	for (uint32_t uid = 3; uid <= 1000; uid++) {
		const GArray *b = walk_read(&w, uid);
		unsigned want = start <= 1000 ? MIN(window, 1001 - start) : 0;

		reads++;
		if (b->len == 0) {
			if (uid == trigger && want)
				g_test_message("read of UID %u", uid);
			g_assert_true(uid != trigger || !want);
			continue;
		}
		/* the reader has reached the last batch asked for, and the
		 * next one goes on from where that ends */
		g_assert_cmpuint(uid, ==, trigger);
		g_assert_cmpuint(b->len, ==, want);
		g_assert_cmpuint(g_array_index(b, uint32_t, 0), ==, start);
		g_assert_cmpuint(g_array_index(b, uint32_t, b->len - 1), ==,
				start + want - 1);
		trigger = start;
		start += want;
		window = MIN(window * 2, w.limits.max_window);
	}
	/* one batch per doubling, then one per max_window, for 998 UIDs */
	g_assert_cmpuint(w.batches, ==, 18);
	g_assert_cmpuint(w.batches * 50, <, reads);
	assert_asked(&w, 0, MAX_UID, from_3);
	walk_free(&w);
}

/* rg lists a directory backwards. */
static void test_backward_walk(void)
{
	struct walk w;
	/* the batch after 991-998 */
	uint32_t top = 990, trigger = 998;
	unsigned window = 16;

	walk_init(&w);
	walk_fill(&w, 1, 1000, 1, 1000);
	expect(&w, 1000, "");
	expect(&w, 999, "991-998");
	for (uint32_t uid = 998; uid >= 1; uid--) {
		const GArray *b = walk_read(&w, uid);
		unsigned want = MIN(window, top);

		if (b->len == 0) {
			if (uid == trigger && want)
				g_test_message("read of UID %u", uid);
			g_assert_true(uid != trigger || !want);
			continue;
		}
		g_assert_cmpuint(uid, ==, trigger);
		g_assert_cmpuint(b->len, ==, want);
		g_assert_cmpuint(g_array_index(b, uint32_t, 0), ==,
				top - want + 1);
		g_assert_cmpuint(g_array_index(b, uint32_t, b->len - 1), ==,
				top);
		trigger = top;
		top -= want;
		window = MIN(window * 2, w.limits.max_window);
	}
	g_assert_cmpuint(w.batches, ==, 18);
	assert_asked(&w, 0, MAX_UID, up_to_998);
	walk_free(&w);
}

/* ---- what is left out of a batch ---- */

static uint32_t odd_size(uint32_t uid)
{
	return uid % 7 == 0 ? 5000 : 100 + uid % 3 * 50;
}

static void test_sizes(void)
{
	struct walk w;

	walk_init(&w);
	w.limits.max_message = 4096;
	w.limits.max_bytes = 800;
	for (uint32_t uid = 1; uid <= 200; uid++)
		walk_add(&w, uid, odd_size(uid));
	msg_index_finish(w.index);
	expect(&w, 1, "");
	/* 7 is too big; 9 would make 850 bytes */
	expect(&w, 2, "3-6,8");
	/* 15 makes exactly 800 */
	expect(&w, 3, "9-13,15");
	expect(&w, 4, "");
	expect(&w, 5, "");
	for (uint32_t uid = 7; uid <= 200; uid++)
		walk_read(&w, uid);
	assert_asked(&w, 0, 200, small_from_3);
	walk_free(&w);

	/* max_message is the largest body fetched ahead */
	walk_init(&w);
	w.limits.max_message = 4096;
	for (uint32_t uid = 1; uid <= 20; uid++)
		walk_add(&w, uid, uid == 3 ? 4096 : uid == 4 ? 4097 : 100);
	msg_index_finish(w.index);
	expect(&w, 1, "");
	expect(&w, 2, "3,5-10");
	walk_free(&w);

	/*
	 * A body small enough to fetch ahead but too big for a batch ends
	 * the batch before it, and is left for its reader: the walk goes
	 * on after it.
	 */
	walk_init(&w);
	w.limits.max_message = 4096;
	w.limits.max_bytes = 1000;
	for (uint32_t uid = 1; uid <= 30; uid++)
		walk_add(&w, uid, uid == 6 ? 2000 : 100);
	msg_index_finish(w.index);
	expect(&w, 1, "");
	expect(&w, 2, "3-5");
	expect(&w, 3, "");
	expect(&w, 4, "");
	expect(&w, 5, "");
	expect(&w, 6, "7-16");
	g_assert_cmpuint(w.asked[6], ==, 0);
	walk_free(&w);
}

static void test_is_fetching(void)
{
	struct walk w;

	walk_init(&w);
	w.cached = third;
	walk_fill(&w, 1, 300, 1, 1000);
	expect(&w, 1, "");
	/* skipped UIDs count toward the window: 3..10 */
	expect(&w, 2, "4-5,7-8,10");
	expect(&w, 3, "11,13-14,16-17,19-20,22-23,25-26");
	for (uint32_t uid = 4; uid <= 10; uid++)
		expect(&w, uid, "");
	for (uint32_t uid = 8; uid <= 300; uid++)
		walk_read(&w, uid);
	assert_asked(&w, 0, 300, not_third_from_3);
	walk_free(&w);
}

/* ---- batches in flight ---- */

static void test_in_flight(void)
{
	struct walk w;

	walk_init(&w);
	w.limits.max_in_flight = 1;
	w.done_at_once = false;
	walk_fill(&w, 1, 1000, 1, 1000);
	expect(&w, 1, "");
	expect(&w, 2, "3-10");
	/* the trigger, and past it, while 3-10 is still on its way */
	for (uint32_t uid = 3; uid <= 8; uid++)
		expect(&w, uid, "");
	readahead_done(&w.ra);
	expect(&w, 9, "11-26");

	/* the reader runs past the batch while it is on its way; once it
	 * ends, the walk goes on from the reader, not from 27 */
	for (uint32_t uid = 10; uid <= 27; uid++)
		expect(&w, uid, "");
	readahead_done(&w.ra);
	expect(&w, 28, "29-60");

	/* more ends than batches do not let more batches fly */
	readahead_done(&w.ra);
	readahead_done(&w.ra);
	expect(&w, 29, "61-124");
	for (uint32_t uid = 30; uid <= 100; uid++)
		expect(&w, uid, "");
	g_assert_cmpuint(w.batches, ==, 4);
	assert_asked_at_most_once(&w);
	walk_free(&w);
}

/* ---- readers taking neighbouring messages in any order ---- */

static void read_in_order(struct walk *w, const uint32_t *order, size_t n)
{
	unsigned empty = 0, asked = 0;

	for (size_t i = 0; i < n; i++)
		if (walk_read(w, order[i])->len == 0)
			empty++;
	for (uint32_t uid = 0; uid <= MAX_UID; uid++)
		asked += w->asked[uid];
	g_test_message("%u batches, %u UIDs asked, %u of %zu reads ask "
			"nothing", w->batches, asked, empty, n);
	assert_asked_at_most_once(w);
	g_assert_cmpuint(w->batches, >=, 10);
	g_assert_cmpuint(empty, >, n * 9 / 10);
}

static void test_interleaved(void)
{
	uint32_t order[MAX_UID];
	size_t n = 0;
	GRand *rand;
	struct walk w;

	/* 1, 3, 2, 5, 4, ..., 999, 998, 1000 */
	walk_init(&w);
	walk_fill(&w, 1, 1000, 1, 1000);
	order[n++] = 1;
	for (uint32_t uid = 3; uid <= 999; uid += 2) {
		order[n++] = uid;
		order[n++] = uid - 1;
	}
	order[n++] = 1000;
	g_assert_cmpuint(n, ==, 1000);
	read_in_order(&w, order, n);
	walk_free(&w);

	/* the same, down the UIDs: 1000, 998, 999, 996, 997, ... */
	walk_init(&w);
	walk_fill(&w, 1, 1000, 1, 1000);
	n = 0;
	order[n++] = 1000;
	for (uint32_t uid = 998; uid >= 2; uid -= 2) {
		order[n++] = uid;
		order[n++] = uid + 1;
	}
	order[n++] = 1;
	g_assert_cmpuint(n, ==, 1000);
	read_in_order(&w, order, n);
	walk_free(&w);

	/* eight readers taking the next eight messages in any order */
	rand = g_rand_new_with_seed(20240601);
	for (int dir = 0; dir < 2; dir++) {
		walk_init(&w);
		walk_fill(&w, 1, 1000, 1, 1000);
		for (n = 0; n < 1000; n++)
			order[n] = dir ? 1000 - (uint32_t)n : (uint32_t)n + 1;
		for (size_t b = 0; b < 1000; b += 8) {
			for (size_t i = 7; i > 0; i--) {
				size_t j = (size_t)g_rand_int_range(rand, 0,
						(gint32)i + 1);
				uint32_t t = order[b + i];

				order[b + i] = order[b + j];
				order[b + j] = t;
			}
		}
		read_in_order(&w, order, n);
		walk_free(&w);
	}
	g_rand_free(rand);
}

/* ---- the mailbox changes ---- */

static void test_uidvalidity(void)
{
	struct walk w;

	walk_init(&w);
	walk_fill(&w, 1, 100, 1, 1000);
	expect(&w, 1, "");
	expect(&w, 2, "3-10");
	/* the UIDs are other messages now: what was asked says nothing */
	w.uidvalidity = 8;
	expect(&w, 3, "");
	expect(&w, 4, "5-12");
	walk_free(&w);
}

static void test_gaps(void)
{
	g_autofree char *first = every(6, 20, 2);
	g_autofree char *second = every(22, 52, 2);
	struct walk w;

	walk_init(&w);
	walk_fill(&w, 2, 400, 2, 1000);
	expect(&w, 2, "");
	expect(&w, 4, first);
	/* not listed (expunged, or not seen yet): no walk to follow */
	expect(&w, 13, "");
	expect(&w, 401, "");
	expect(&w, 0, "");
	/* and the walk goes on as if they had not been read */
	expect(&w, 6, second);
	for (uint32_t uid = 8; uid <= 12; uid += 2)
		expect(&w, uid, "");
	for (uint32_t uid = 16; uid <= 400; uid += 2)
		walk_read(&w, uid);
	assert_asked(&w, 0, MAX_UID, even_from_6);
	walk_free(&w);

	walk_init(&w);
	msg_index_finish(w.index);
	expect(&w, 1, "");
	expect(&w, 2, "");
	walk_free(&w);
}

/*
 * A read a few dozen positions behind a walk (a slow parallel reader) is
 * still part of it (docs/DESIGN.md, "Reading ahead"): the walk goes on,
 * and asks nothing twice.
 */
static void test_step_back(void)
{
	g_autofree char *got = NULL;
	struct walk w;

	walk_init(&w);
	walk_fill(&w, 1, 1000, 1, 1000);
	/* asks 3-10, 11-26, 27-58 and 59-122; the next trigger is 59 */
	for (uint32_t uid = 1; uid <= 50; uid++)
		walk_read(&w, uid);
	g_assert_cmpuint(w.batches, ==, 4);
	/* 40 positions back: near, the walk goes on */
	got = format_uids(walk_read(&w, 10));
	if (strcmp(got, "") != 0)
		fail("read of UID 10 after 1..50: asked %s, want nothing",
				got);
	g_free(got);
	/* on its way already, and short of the trigger */
	got = format_uids(walk_read(&w, 51));
	if (strcmp(got, "") != 0)
		fail("read of UID 51 after 1..50, 10: asked %s again, "
				"want nothing", got);
	walk_free(&w);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/readahead/single-reads", test_single_reads);
	g_test_add_func("/readahead/walk/forward", test_forward_walk);
	g_test_add_func("/readahead/walk/backward", test_backward_walk);
	g_test_add_func("/readahead/left-out/sizes", test_sizes);
	g_test_add_func("/readahead/left-out/is-fetching", test_is_fetching);
	g_test_add_func("/readahead/in-flight", test_in_flight);
	g_test_add_func("/readahead/walk/interleaved", test_interleaved);
	g_test_add_func("/readahead/uidvalidity", test_uidvalidity);
	g_test_add_func("/readahead/gaps", test_gaps);
	g_test_add_func("/readahead/walk/step-back", test_step_back);
	return g_test_run();
}
