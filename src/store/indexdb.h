/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Mailbox listings kept on disk with the cache, so that a remount lists
 * from disk and asks the server only what changed (docs/DESIGN.md,
 * "Listings on disk").  An SQLite file: crash-safe without code of ours,
 * and a few changed rows are written without rewriting the rest.
 */
#ifndef IMAPFS_STORE_INDEXDB_H
#define IMAPFS_STORE_INDEXDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap/session.h"
#include "store/msgindex.h"

struct index_db;

/* What a listing knew of its mailbox besides the messages. */
struct index_db_mailbox {
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t highestmodseq;		/* as of the listing's SELECT */
	char mailboxid[IMAP_OBJECTID_MAX + 1];	/* "" when none */
};

/* Opens or creates the file; NULL (logged) when it cannot be used, and
 * the mount then lists from the server alone.  A file that is not a
 * database of ours is replaced. */
struct index_db *index_db_open(const char *path);
void index_db_close(struct index_db **db);

/* The listing kept for a mailbox (raw server name): a finished index,
 * or false when there is none or it cannot be read. */
bool index_db_load(struct index_db *db, const char *mailbox,
		struct index_db_mailbox *header, struct msg_index **index_r);

/* Keep index as the mailbox's listing: the whole of it (uids NULL), or
 * only the entries of these UIDs, each written as index has it, or
 * removed when index does not.  One transaction: a crash keeps the old
 * listing or the new, never half. */
void index_db_save(struct index_db *db, const char *mailbox,
		const struct index_db_mailbox *header, struct msg_index *index,
		const uint32_t *uids, size_t count);

/* The mailbox is no more. */
void index_db_forget(struct index_db *db, const char *mailbox);

#endif
