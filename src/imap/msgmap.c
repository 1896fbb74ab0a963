/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The map is a rope: an ordered list of segments, each either a gap (a run
 * of sequence numbers whose UIDs we never learnt, stored as a length only)
 * or a block (up to BLOCK_MAX UIDs in an array, 0 for unknown ones).  The
 * segments are the nodes of a treap ordered by position, each knowing how
 * many sequence numbers its subtree covers, so that finding a number is a
 * descent and renumbering after an EXPUNGE is one subtraction per level
 * (docs/DESIGN.md, "src/imap/").
 *
 * So an EXISTS costs O(1) whatever the count (it only lengthens the last
 * gap), memory follows the UIDs learnt, and an EXPUNGE costs O(log n) plus
 * moving at most BLOCK_MAX UIDs inside its block.
 */
#include "imap/msgmap.h"

#include <glib.h>
#include <stdbool.h>
#include <string.h>

/* No real mailbox holds this many messages: a server that claims more is
 * broken or hostile, and nothing it says about sequence numbers is
 * believed until the next SELECT (UID FETCH responses carry their UID
 * anyway). */
#define MSGMAP_MAX_COUNT (16u * 1024 * 1024)

/* UIDs per block: the most an EXPUNGE moves. */
#define BLOCK_MAX 256u
/* A UID learnt this close after (or before) a block joins it, with
 * unknowns between, instead of starting a segment of its own, so that a
 * listing's FETCH responses fill blocks rather than one segment each. */
#define BLOCK_REACH 16u

struct seg {
	struct seg *parent, *left, *right;
	uint32_t prio;		/* treap heap order: parent's is higher */
	uint32_t len;		/* sequence numbers in this segment */
	uint32_t total;		/* ... in this whole subtree */
	uint32_t cap;		/* entries allocated in uids; 0: a gap */
	uint32_t *uids;		/* a block's UIDs, 0 where unknown */
};

struct msgmap {
	struct seg *root;
	uint32_t rng;		/* xorshift32 state for priorities */
	size_t segs;		/* segments allocated */
	size_t slots;		/* UID entries allocated in all blocks */
	bool overflow;
};

static uint32_t total(const struct seg *s)
{
	return s ? s->total : 0;
}

static void recompute(struct seg *s)
{
	s->total = s->len + total(s->left) + total(s->right);
}

static uint32_t next_prio(struct msgmap *map)
{
	uint32_t x = map->rng;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	map->rng = x;
	return x;
}

static struct seg *seg_new(struct msgmap *map, uint32_t len, bool block)
{
	struct seg *s = g_new0(struct seg, 1);

	s->prio = next_prio(map);
	s->len = len;
	s->total = len;
	if (block) {
		s->cap = 4;
		while (s->cap < len)
			s->cap *= 2;
		s->uids = g_new0(uint32_t, s->cap);
		map->slots += s->cap;
	}
	map->segs++;
	return s;
}

static void seg_free(struct msgmap *map, struct seg *s)
{
	map->slots -= s->cap;
	map->segs--;
	g_free(s->uids);
	g_free(s);
}

/* Room for n entries in a block; the new ones are unknown (0). */
static void block_reserve(struct msgmap *map, struct seg *s, uint32_t n)
{
	uint32_t cap = s->cap;

	if (n <= cap)
		return;
	while (cap < n)
		cap *= 2;
	s->uids = g_renew(uint32_t, s->uids, cap);
	memset(s->uids + s->cap, 0, (cap - s->cap) * sizeof(uint32_t));
	map->slots += cap - s->cap;
	s->cap = cap;
}

/* Give back most of a block that expunges have emptied. */
static void block_trim(struct msgmap *map, struct seg *s)
{
	uint32_t cap = s->cap;

	while (cap > 4 && s->len <= cap / 4)
		cap /= 2;
	if (cap == s->cap)
		return;
	s->uids = g_renew(uint32_t, s->uids, cap);
	map->slots -= s->cap - cap;
	s->cap = cap;
}

static void grow(struct seg *s, uint32_t n)
{
	s->len += n;
	for (; s; s = s->parent)
		s->total += n;
}

static void shrink(struct seg *s, uint32_t n)
{
	s->len -= n;
	for (; s; s = s->parent)
		s->total -= n;
}

static void set_child(struct msgmap *map, struct seg *parent,
		struct seg *old, struct seg *new)
{
	if (!parent)
		map->root = new;
	else if (parent->left == old)
		parent->left = new;
	else
		parent->right = new;
	if (new)
		new->parent = parent;
}

/* s takes its parent's place; the order of the list does not change. */
static void rotate_up(struct msgmap *map, struct seg *s)
{
	struct seg *p = s->parent;
	struct seg *moved;

	set_child(map, p->parent, p, s);
	if (p->left == s) {
		moved = s->right;
		p->left = moved;
		s->right = p;
	} else {
		moved = s->left;
		p->right = moved;
		s->left = p;
	}
	if (moved)
		moved->parent = p;
	p->parent = s;
	recompute(p);
	recompute(s);
}

static struct seg *leftmost(struct seg *s)
{
	while (s && s->left)
		s = s->left;
	return s;
}

static struct seg *rightmost(struct seg *s)
{
	while (s && s->right)
		s = s->right;
	return s;
}

static struct seg *seg_prev(struct seg *s)
{
	if (s->left)
		return rightmost(s->left);
	while (s->parent && s->parent->left == s)
		s = s->parent;
	return s->parent;
}

static struct seg *seg_next(struct seg *s)
{
	if (s->right)
		return leftmost(s->right);
	while (s->parent && s->parent->right == s)
		s = s->parent;
	return s->parent;
}

/* Puts n (a single node) right after pos in the list, or first when pos
 * is NULL. */
static void insert_after(struct msgmap *map, struct seg *pos, struct seg *n)
{
	struct seg *at;

	if (!map->root) {
		map->root = n;
		return;
	}
	if (!pos) {
		at = leftmost(map->root);
		at->left = n;
	} else if (!pos->right) {
		at = pos;
		at->right = n;
	} else {
		at = leftmost(pos->right);
		at->left = n;
	}
	n->parent = at;
	for (struct seg *a = at; a; a = a->parent)
		a->total += n->len;
	while (n->parent && n->parent->prio < n->prio)
		rotate_up(map, n);
}

static void remove_seg(struct msgmap *map, struct seg *s)
{
	/* Rotate it down to a leaf, then cut it off. */
	while (s->left || s->right) {
		struct seg *c = !s->right ? s->left : !s->left ? s->right :
			s->left->prio > s->right->prio ? s->left : s->right;

		rotate_up(map, c);
	}
	for (struct seg *a = s->parent; a; a = a->parent)
		a->total -= s->len;
	set_child(map, s->parent, s, NULL);
	seg_free(map, s);
}

static void free_all(struct msgmap *map)
{
	struct seg *s = map->root;

	/* Post-order by parent pointers: no recursion, no stack. */
	while (s) {
		struct seg *p;

		if (s->left) {
			s = s->left;
			continue;
		}
		if (s->right) {
			s = s->right;
			continue;
		}
		p = s->parent;
		if (p && p->left == s)
			p->left = NULL;
		else if (p)
			p->right = NULL;
		seg_free(map, s);
		s = p;
	}
	map->root = NULL;
}

/* The segment holding seq (1 ≤ seq ≤ count), and seq's offset in it. */
static struct seg *find(const struct msgmap *map, uint32_t seq,
		uint32_t *off_r)
{
	struct seg *s = map->root;
	uint32_t k = seq - 1;

	while (s) {
		if (k < total(s->left)) {
			s = s->left;
			continue;
		}
		k -= total(s->left);
		if (k < s->len) {
			*off_r = k;
			return s;
		}
		k -= s->len;
		s = s->right;
	}
	g_assert_not_reached();
}

struct msgmap *msgmap_new(void)
{
	struct msgmap *map = g_new0(struct msgmap, 1);

	map->rng = g_random_int() | 1;
	return map;
}

void msgmap_free(struct msgmap **map)
{
	if (!*map)
		return;
	free_all(*map);
	g_free(*map);
	*map = NULL;
}

void msgmap_reset(struct msgmap *map, uint32_t count)
{
	free_all(map);
	map->overflow = false;
	msgmap_set_count(map, count);
}

uint32_t msgmap_count(const struct msgmap *map)
{
	return map->overflow ? 0 : total(map->root);
}

size_t msgmap_memory(const struct msgmap *map)
{
	return sizeof(*map) + map->segs * sizeof(struct seg) +
		map->slots * sizeof(uint32_t);
}

void msgmap_set_count(struct msgmap *map, uint32_t count)
{
	uint32_t now = total(map->root);

	if (map->overflow)
		return;
	if (count > MSGMAP_MAX_COUNT) {
		map->overflow = true;
		free_all(map);
		return;
	}
	if (count > now) {
		struct seg *last = rightmost(map->root);

		if (last && !last->cap)
			grow(last, count - now);
		else
			insert_after(map, last, seg_new(map, count - now,
						false));
	}
	/* Each segment cut off here was made by a learn or an EXISTS, so
	 * shrinking costs what those did. */
	while (now > count) {
		struct seg *last = rightmost(map->root);
		uint32_t cut = MIN(last->len, now - count);

		if (cut == last->len) {
			remove_seg(map, last);
		} else {
			shrink(last, cut);
			if (last->cap)
				block_trim(map, last);
		}
		now -= cut;
	}
}

/* seq lies in the gap g at offset off: record uid there. */
static void learn_in_gap(struct msgmap *map, struct seg *g, uint32_t off,
		uint32_t uid)
{
	uint32_t after = g->len - off - 1;
	struct seg *p = seg_prev(g), *n = seg_next(g), *b;

	if (p && p->cap && off <= BLOCK_REACH &&
			p->len + off + 1 <= BLOCK_MAX) {
		/* extend the block before: off unknowns, then uid */
		block_reserve(map, p, p->len + off + 1);
		memset(p->uids + p->len, 0, off * sizeof(uint32_t));
		p->uids[p->len + off] = uid;
		shrink(g, off + 1);
		grow(p, off + 1);
	} else if (n && n->cap && after <= BLOCK_REACH &&
			n->len + after + 1 <= BLOCK_MAX) {
		/* extend the block after at its front */
		block_reserve(map, n, n->len + after + 1);
		memmove(n->uids + after + 1, n->uids,
				n->len * sizeof(uint32_t));
		n->uids[0] = uid;
		memset(n->uids + 1, 0, after * sizeof(uint32_t));
		shrink(g, after + 1);
		grow(n, after + 1);
	} else {
		/* the gap splits: off unknowns, uid, after unknowns */
		b = seg_new(map, 1, true);
		b->uids[0] = uid;
		shrink(g, after + 1);
		insert_after(map, g, b);
		if (after > 0)
			insert_after(map, b, seg_new(map, after, false));
	}
	if (g->len == 0)
		remove_seg(map, g);
}

void msgmap_learn(struct msgmap *map, uint32_t seq, uint32_t uid)
{
	struct seg *s;
	uint32_t off;

	if (map->overflow || seq == 0)
		return;
	/* A FETCH for a number beyond EXISTS means an EXISTS we have not
	 * seen yet is implied. */
	if (seq > total(map->root))
		msgmap_set_count(map, seq);
	if (map->overflow)
		return;
	s = find(map, seq, &off);
	if (s->cap)
		s->uids[off] = uid;
	else if (uid != 0)
		learn_in_gap(map, s, off, uid);
}

uint32_t msgmap_uid(const struct msgmap *map, uint32_t seq)
{
	struct seg *s;
	uint32_t off;

	if (map->overflow || seq == 0 || seq > total(map->root))
		return 0;
	s = find(map, seq, &off);
	return s->cap ? s->uids[off] : 0;
}

uint32_t msgmap_expunge(struct msgmap *map, uint32_t seq)
{
	struct seg *s, *p, *n;
	uint32_t off, uid = 0;

	if (map->overflow || seq == 0 || seq > total(map->root))
		return 0;
	s = find(map, seq, &off);
	if (s->cap) {
		uid = s->uids[off];
		memmove(s->uids + off, s->uids + off + 1,
				(s->len - off - 1) * sizeof(uint32_t));
	}
	shrink(s, 1);
	if (s->cap)
		block_trim(map, s);
	if (s->len > 0)
		return uid;
	p = seg_prev(s);
	n = seg_next(s);
	remove_seg(map, s);
	/* Two gaps meeting become one, so that segments stay as few as
	 * the UIDs known. */
	if (p && n && !p->cap && !n->cap) {
		uint32_t len = n->len;

		remove_seg(map, n);
		grow(p, len);
	}
	return uid;
}
