/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "fs/bodies.h"

#include <glib.h>
#include <unistd.h>

struct fs_bodies {
	GMutex lock;
	GPtrArray *kept;	/* struct fs_body *, at most capacity */
	unsigned capacity;
	uint64_t clock;
};

struct fs_bodies *fs_bodies_new(unsigned capacity)
{
	struct fs_bodies *b = g_new0(struct fs_bodies, 1);

	g_mutex_init(&b->lock);
	b->kept = g_ptr_array_new();
	b->capacity = MAX(capacity, 1u);
	return b;
}

static void body_unref_locked(struct fs_body *body)
{
	if (--body->refs > 0)
		return;
	close(body->entry.fd);
	g_free(body);
}

void fs_bodies_free(struct fs_bodies **bodiesp)
{
	struct fs_bodies *b = *bodiesp;

	if (!b)
		return;
	for (guint i = 0; i < b->kept->len; i++)
		body_unref_locked(g_ptr_array_index(b->kept, i));
	g_ptr_array_unref(b->kept);
	g_mutex_clear(&b->lock);
	g_free(b);
	*bodiesp = NULL;
}

/* A few dozen entries: a scan costs less than keeping a second index. */
static int find_locked(struct fs_bodies *b, fuse_ino_t ino,
		uint32_t uidvalidity, uint32_t uid)
{
	for (guint i = 0; i < b->kept->len; i++) {
		struct fs_body *body = g_ptr_array_index(b->kept, i);

		if (body->ino == ino && body->uidvalidity == uidvalidity &&
				body->uid == uid)
			return (int)i;
	}
	return -1;
}

struct fs_body *fs_bodies_get(struct fs_bodies *b, fuse_ino_t ino,
		uint32_t uidvalidity, uint32_t uid)
{
	struct fs_body *body = NULL;
	int i;

	g_mutex_lock(&b->lock);
	i = find_locked(b, ino, uidvalidity, uid);
	if (i >= 0) {
		body = g_ptr_array_index(b->kept, i);
		body->refs++;
		body->used = ++b->clock;
	}
	g_mutex_unlock(&b->lock);
	return body;
}

struct fs_body *fs_bodies_add(struct fs_bodies *b, fuse_ino_t ino,
		uint32_t uidvalidity, uint32_t uid,
		const struct body_cache_entry *entry)
{
	struct fs_body *body = g_new0(struct fs_body, 1);
	int i;

	body->ino = ino;
	body->uidvalidity = uidvalidity;
	body->uid = uid;
	body->entry = *entry;
	body->refs = 2;		/* the table's and the caller's */
	g_mutex_lock(&b->lock);
	body->used = ++b->clock;
	/* Two readers fetched the same body at once: the newer one wins. */
	i = find_locked(b, ino, uidvalidity, uid);
	if (i < 0 && b->kept->len >= b->capacity) {
		i = 0;
		for (guint j = 1; j < b->kept->len; j++) {
			const struct fs_body *o = g_ptr_array_index(b->kept, j);
			const struct fs_body *lru =
				g_ptr_array_index(b->kept, i);

			if (o->used < lru->used)
				i = (int)j;
		}
	}
	if (i >= 0) {
		body_unref_locked(g_ptr_array_index(b->kept, i));
		b->kept->pdata[i] = body;
	} else {
		g_ptr_array_add(b->kept, body);
	}
	g_mutex_unlock(&b->lock);
	return body;
}

void fs_bodies_put(struct fs_bodies *b, struct fs_body *body)
{
	if (!body)
		return;
	g_mutex_lock(&b->lock);
	body_unref_locked(body);
	g_mutex_unlock(&b->lock);
}
