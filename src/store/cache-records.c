/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Where each body of one cache directory is: UID -> (pack, offset,
 * length), kept compact as the verified map is (cache-verified.c).  At
 * 100,000 bodies the table is 2 MiB: 16-byte slots, open addressing with
 * linear probing, grown at seven eighths full.  Nothing is ever removed: a
 * body that goes is marked RECORD_NONE in place, and a UID comes back to
 * its own slot, so there are no tombstones and no runs to repair.
 */
#include "store/cache-private.h"

#include <string.h>

#define RECORDS_FIRST_CAPACITY 256u

/* UIDs are small and mostly consecutive; Fibonacci hashing spreads them
 * over the whole table. */
static size_t home_of(const struct record_map *map, uint32_t uid)
{
	return (size_t)(((uint64_t)uid * UINT64_C(0x9e3779b97f4a7c15)) >> 32) &
		(map->capacity - 1);
}

struct pack_record *record_map_find(const struct record_map *map,
		uint32_t uid)
{
	if (map->capacity == 0 || uid == 0)
		return NULL;
	for (size_t i = home_of(map, uid); map->slots[i].uid != 0;
			i = (i + 1) & (map->capacity - 1)) {
		if (map->slots[i].uid == uid)
			return &map->slots[i];
	}
	return NULL;
}

static struct pack_record *insert_new(struct record_map *map, uint32_t uid)
{
	size_t i = home_of(map, uid);

	while (map->slots[i].uid != 0)
		i = (i + 1) & (map->capacity - 1);
	map->slots[i].uid = uid;
	map->count++;
	return &map->slots[i];
}

static void grow(struct record_map *map)
{
	struct pack_record *old = map->slots;
	size_t old_capacity = map->capacity;

	map->capacity = old_capacity ? old_capacity * 2 :
		RECORDS_FIRST_CAPACITY;
	map->slots = g_new0(struct pack_record, map->capacity);
	map->count = 0;
	for (size_t i = 0; i < old_capacity; i++) {
		if (old[i].uid != 0)
			*insert_new(map, old[i].uid) = old[i];
	}
	g_free(old);
}

struct pack_record *record_map_put(struct record_map *map, uint32_t uid)
{
	struct pack_record *slot;

	g_return_val_if_fail(uid != 0, NULL);

	slot = record_map_find(map, uid);
	if (slot)
		return slot;
	if ((map->count + 1) * 8 > map->capacity * 7)
		grow(map);
	slot = insert_new(map, uid);
	slot->pack = RECORD_NONE;
	return slot;
}

void record_map_clear(struct record_map *map)
{
	g_free(map->slots);
	memset(map, 0, sizeof(*map));
}
