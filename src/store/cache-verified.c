/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The files this process has verified (or written), kept compact: at
 * 100,000 bodies a table of small allocations took 7 MB, a third of the
 * daemon's memory.  Open addressing with linear probing over 16-byte
 * slots, grown at seven eighths full (a miss then scans a few hundred
 * bytes, nothing beside reading a file); removal shifts the run back, so
 * no tombstones accumulate.
 */
#include "store/cache-private.h"

#include <string.h>

#define VERIFIED_FIRST_CAPACITY 1024u

/* A 64-bit mix (splitmix64's finaliser): the slot keys are the files'
 * identities, not hashes of them, so the mix spreads them. */
static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= UINT64_C(0xbf58476d1ce4e5b9);
	x ^= x >> 27;
	x *= UINT64_C(0x94d049bb133111eb);
	x ^= x >> 31;
	return x;
}

uint64_t verified_key(dev_t dev, ino_t ino)
{
	uint64_t key = mix64((uint64_t)ino ^ mix64((uint64_t)dev));

	return key ? key : 1;	/* 0 marks an empty slot */
}

uint64_t verified_check(uint64_t size, uint64_t sum)
{
	return mix64(size ^ mix64(sum));
}

void verified_map_clear(struct verified_map *map)
{
	g_free(map->slots);
	memset(map, 0, sizeof(*map));
}

static size_t home_of(const struct verified_map *map, uint64_t key)
{
	return (size_t)(mix64(key) & (map->capacity - 1));
}

static struct verified_slot *find(const struct verified_map *map,
		uint64_t key)
{
	size_t i;

	if (map->capacity == 0)
		return NULL;
	for (i = home_of(map, key); map->slots[i].key != 0;
			i = (i + 1) & (map->capacity - 1)) {
		if (map->slots[i].key == key)
			return &map->slots[i];
	}
	return NULL;
}

bool verified_map_get(const struct verified_map *map, uint64_t key,
		uint64_t *check_r)
{
	const struct verified_slot *slot = find(map, key);

	if (!slot)
		return false;
	*check_r = slot->check;
	return true;
}

static void insert_new(struct verified_map *map, uint64_t key,
		uint64_t check)
{
	size_t i = home_of(map, key);

	while (map->slots[i].key != 0)
		i = (i + 1) & (map->capacity - 1);
	map->slots[i].key = key;
	map->slots[i].check = check;
	map->count++;
}

static void grow(struct verified_map *map)
{
	struct verified_slot *old = map->slots;
	size_t old_capacity = map->capacity;

	map->capacity = old_capacity ? old_capacity * 2 :
		VERIFIED_FIRST_CAPACITY;
	map->slots = g_new0(struct verified_slot, map->capacity);
	map->count = 0;
	for (size_t i = 0; i < old_capacity; i++) {
		if (old[i].key != 0)
			insert_new(map, old[i].key, old[i].check);
	}
	g_free(old);
}

void verified_map_put(struct verified_map *map, uint64_t key,
		uint64_t check)
{
	struct verified_slot *slot = find(map, key);

	if (slot) {
		slot->check = check;
		return;
	}
	if ((map->count + 1) * 8 > map->capacity * 7)
		grow(map);
	insert_new(map, key, check);
}

void verified_map_remove(struct verified_map *map, uint64_t key)
{
	struct verified_slot *slot = find(map, key);
	size_t hole, i;

	if (!slot)
		return;
	hole = (size_t)(slot - map->slots);
	map->slots[hole].key = 0;
	map->count--;
	/* Move back each later entry of the run that may sit in the hole:
	 * one whose home is not cyclically within (hole, i]. */
	for (i = (hole + 1) & (map->capacity - 1); map->slots[i].key != 0;
			i = (i + 1) & (map->capacity - 1)) {
		size_t home = home_of(map, map->slots[i].key);
		bool stays = hole <= i ? (home > hole && home <= i) :
			(home > hole || home <= i);

		if (stays)
			continue;
		map->slots[hole] = map->slots[i];
		map->slots[i].key = 0;
		hole = i;
	}
}
