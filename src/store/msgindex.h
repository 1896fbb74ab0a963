/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The compact per-mailbox message index: one fixed-size entry per message,
 * sorted by UID, with keyword sets interned so that the thousands of
 * messages sharing "$Forwarded" share one copy of it.
 */
#ifndef IMAPFS_STORE_MSGINDEX_H
#define IMAPFS_STORE_MSGINDEX_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap/parser.h"

/* Bit order follows the order flags are listed in (as Dovecot does). */
enum msg_flag {
	MSG_FLAG_ANSWERED = 1 << 0,
	MSG_FLAG_FLAGGED = 1 << 1,
	MSG_FLAG_DELETED = 1 << 2,
	MSG_FLAG_SEEN = 1 << 3,
	MSG_FLAG_DRAFT = 1 << 4,
};

struct msg_entry {
	uint32_t uid;
	uint32_t size;		/* RFC822.SIZE until the body is known */
	int64_t internaldate;	/* UTC epoch seconds */
	int16_t zone_minutes;	/* INTERNALDATE's zone */
	uint8_t flags;		/* enum msg_flag */
	uint8_t size_exact;	/* size measured from the bytes */
	uint32_t keywords;	/* keyword set id; 0: none */
	uint64_t modseq;	/* 0: unknown */
};

struct msg_index;

struct msg_index *msg_index_new(void);
void msg_index_free(struct msg_index **index);

/* Building: append in any order, then finish (sorts, drops duplicate
 * UIDs keeping the last seen). */
void msg_index_append(struct msg_index *index, const struct msg_entry *entry);
void msg_index_finish(struct msg_index *index);

/*
 * Removal is O(log n): it only marks the entry.  Positional access (at)
 * first squeezes out what was removed, O(n) once after removals, which is
 * what walking the index costs anyway; entries are then contiguous, so
 * at(index, 0) is an array of count entries.
 */
size_t msg_index_count(const struct msg_index *index);
const struct msg_entry *msg_index_at(struct msg_index *index, size_t i);
/* The position (for at) of the first entry whose UID is uid or above;
 * count when there is none. */
size_t msg_index_lower_bound(struct msg_index *index, uint32_t uid);
/* NULL for a UID not in the index or removed. */
struct msg_entry *msg_index_find(struct msg_index *index, uint32_t uid);
bool msg_index_remove(struct msg_index *index, uint32_t uid);

/*
 * Flags from an IMAP flag list ("(\Seen $Forwarded)"): system flags
 * into *flags_r, the rest into an interned keyword set.  \Recent is
 * dropped (it is not a flag anyone can set).  A keyword is kept with the
 * bytes the server sent, be it an atom, NIL, a quoted string or a literal;
 * items no keyword can be (lists, empty strings, NUL bytes) are skipped,
 * with one warning per index.  Always returns true: one odd flag must not
 * make a listing fail.
 */
bool msg_index_parse_flags(struct msg_index *index,
		const struct imap_flag_list *list, uint8_t *flags_r,
		uint32_t *keywords_r);

/* The set id of these keywords (NULL-terminated, as kept), interned. */
uint32_t msg_index_intern_keywords(struct msg_index *index,
		const char *const *words);

/* A copy with the same entries and keyword set ids. */
struct msg_index *msg_index_copy(struct msg_index *index);

/* NULL-terminated keywords of a set (empty vector for 0). */
const char *const *msg_index_keywords(const struct msg_index *index,
		uint32_t keywords);

/* Whether a keyword can stand in a space-separated list: no space, no
 * control byte (imapfs(1), "Extended attributes"). */
bool msg_keyword_listable(const char *keyword);

/* "\Answered \Seen $Forwarded": system flags first, then the listable
 * keywords in the order the server gave them.  g_free the result. */
char *msg_index_format_flags(const struct msg_index *index,
		const struct msg_entry *entry);

/* Memory held, for the RSS budget. */
size_t msg_index_memory(const struct msg_index *index);

#endif
