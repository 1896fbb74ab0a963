/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Message sequence numbers -> UIDs for the selected mailbox of one session.
 *
 * Commands built from cached state only ever use UIDs; this map exists to
 * make sense of what the server reports by sequence number ("* 3 EXPUNGE",
 * "* 7 FETCH (FLAGS ...)").  Knowledge may be partial: a sequence number
 * whose UID was never seen maps to 0.
 *
 * Costs follow what the server told us, not what it claims: memory grows
 * with the UIDs learnt (an EXISTS of any size is O(1)), and a lookup,
 * FETCH or EXPUNGE takes O(log n).
 */
#ifndef IMAPFS_IMAP_MSGMAP_H
#define IMAPFS_IMAP_MSGMAP_H

#include <stddef.h>
#include <stdint.h>

struct msgmap;

struct msgmap *msgmap_new(void);
void msgmap_free(struct msgmap **map);

/* A newly selected mailbox with count messages, none known yet. */
void msgmap_reset(struct msgmap *map, uint32_t count);
/* "* count EXISTS" */
void msgmap_set_count(struct msgmap *map, uint32_t count);
/* A FETCH told us that seq holds uid. */
void msgmap_learn(struct msgmap *map, uint32_t seq, uint32_t uid);
/* 0 when unknown or out of range. */
uint32_t msgmap_uid(const struct msgmap *map, uint32_t seq);
/* "* seq EXPUNGE": renumbers the rest; returns the UID that left, or 0. */
uint32_t msgmap_expunge(struct msgmap *map, uint32_t seq);

/* The message count the map believes (0 after it gave up on a count past
 * what any mailbox holds). */
uint32_t msgmap_count(const struct msgmap *map);
/* Bytes held, for tests of the bound. */
size_t msgmap_memory(const struct msgmap *map);

#endif
