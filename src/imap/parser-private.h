/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Internals shared by parser.c (the state machine) and parser-args.c (the
 * per-response arena and the argument accessors).  Not for other modules.
 */
#ifndef IMAPFS_IMAP_PARSER_PRIVATE_H
#define IMAPFS_IMAP_PARSER_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct imap_arena_block;

/* A bump allocator; its memory lives until imap_arena_clear(). */
struct imap_arena {
	struct imap_arena_block *head;	/* owned; being filled */
};

/* Never fails (g_malloc); the result is aligned for any type. */
void *imap_arena_alloc(struct imap_arena *arena, size_t size);
/* Release everything; with keep, one block stays for reuse. */
void imap_arena_clear(struct imap_arena *arena, bool keep);

/* len > 0 decimal digits, no sign, value <= max. */
bool imap_parse_uint(const char *s, size_t len, uint64_t max,
		uint64_t *value_r);

#endif
