/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "imap/msgmap.h"

#include <glib.h>
#include <stdbool.h>
#include <string.h>

/* A hostile EXISTS must not make us allocate gigabytes: past this many
 * messages the map gives up and answers "unknown" (UID FETCH responses
 * carry their UID anyway). */
#define MSGMAP_MAX_COUNT (16u * 1024 * 1024)

struct msgmap {
	GArray *uids;		/* uint32_t; index seq - 1 */
	bool overflow;
};

struct msgmap *msgmap_new(void)
{
	struct msgmap *map = g_new0(struct msgmap, 1);

	map->uids = g_array_new(FALSE, TRUE, sizeof(uint32_t));
	return map;
}

void msgmap_free(struct msgmap **map)
{
	if (!*map)
		return;
	g_array_free((*map)->uids, TRUE);
	g_free(*map);
	*map = NULL;
}

void msgmap_reset(struct msgmap *map, uint32_t count)
{
	g_array_set_size(map->uids, 0);
	map->overflow = false;
	msgmap_set_count(map, count);
}

void msgmap_set_count(struct msgmap *map, uint32_t count)
{
	guint old = map->uids->len;

	if (map->overflow)
		return;
	if (count > MSGMAP_MAX_COUNT) {
		map->overflow = true;
		g_array_set_size(map->uids, 0);
		return;
	}
	g_array_set_size(map->uids, count);
	if (count > old)
		memset(&g_array_index(map->uids, uint32_t, old), 0,
				(count - old) * sizeof(uint32_t));
}

void msgmap_learn(struct msgmap *map, uint32_t seq, uint32_t uid)
{
	if (map->overflow || seq == 0)
		return;
	/* A FETCH for a number beyond EXISTS means an EXISTS we have not
	 * seen yet is implied. */
	if (seq > map->uids->len)
		msgmap_set_count(map, seq);
	if (map->overflow)
		return;
	g_array_index(map->uids, uint32_t, seq - 1) = uid;
}

uint32_t msgmap_uid(const struct msgmap *map, uint32_t seq)
{
	if (map->overflow || seq == 0 || seq > map->uids->len)
		return 0;
	return g_array_index(map->uids, uint32_t, seq - 1);
}

uint32_t msgmap_expunge(struct msgmap *map, uint32_t seq)
{
	uint32_t uid;

	if (map->overflow || seq == 0 || seq > map->uids->len)
		return 0;
	uid = g_array_index(map->uids, uint32_t, seq - 1);
	g_array_remove_index(map->uids, seq - 1);
	return uid;
}
