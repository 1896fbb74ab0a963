/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The on-disk body cache: (account, mailbox, UIDVALIDITY, UID) -> the
 * message's bytes exactly as the server sent them for BODY.PEEK[].
 *
 * A cache directory belongs to one account; the account name is recorded in
 * it, and opening it for another account fails.  Bodies live under
 *   DIR/bodies/<mailbox>/<uidvalidity>/
 * as records in pack files if small (cache-pack.c), else in a file <uid>;
 * where <mailbox> is the mailbox identity (body_cache_identity(): its
 * MAILBOXID where the server has OBJECTID, else its raw server name) made
 * safe as one file name.
 *
 * Every body file starts with a fixed-size header that repeats its key, its
 * length and a checksum of the body; a file whose header does not match its
 * key, whose size is not header + length, or (checked once per file and
 * process) whose body does not match the checksum is never served (it is
 * removed and counts as a miss); so are records in packs.  A body becomes
 * visible only when complete, so neither a crash nor a dropped connection
 * nor a power cut can get a wrong body served.
 *
 * Thread-safe: any number of threads may look up, write and evict at once.
 */
#ifndef IMAPFS_STORE_CACHE_H
#define IMAPFS_STORE_CACHE_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#define BODY_CACHE_ERROR (body_cache_error_quark())
GQuark body_cache_error_quark(void);

enum body_cache_error {
	BODY_CACHE_ERROR_IO,
	BODY_CACHE_ERROR_ACCOUNT,	/* DIR belongs to another account */
	BODY_CACHE_ERROR_TOO_LARGE,	/* more than was announced */
	BODY_CACHE_ERROR_SHORT,		/* less than was announced */
};

/*
 * A mailbox's identity in the cache (g_free it): its MAILBOXID where the
 * server gave one (RFC 8474 §4: never the same for two mailboxes, kept
 * across a rename), else its raw server name (the same for a mailbox and
 * the one created, or renamed, under its name later).  The two kinds never
 * meet: a MAILBOXID becomes "id:" + MAILBOXID, and a name stays as it is
 * unless it starts with "id:" or "name:", which gets "name:" put in front.
 */
char *body_cache_identity(const char *raw_name, const char *mailboxid);

struct body_cache_key {
	const char *account;	/* the cache's own account, or NULL */
	const char *mailbox;	/* identity: body_cache_identity() */
	uint32_t uidvalidity;
	uint32_t uid;
};

/* A cached body: read `length` bytes from `fd` starting at `offset`.
 * The fd stays valid even if the file is evicted meanwhile. */
struct body_cache_entry {
	int fd;
	uint64_t offset;
	uint64_t length;
};

struct body_cache;

/*
 * Open (creating as needed, mode 0700) the cache in dir for account.
 * max_bytes bounds the bodies kept and being written (0: unbounded); the
 * least recently used go first.  A body longer than max_bytes / 2 is served
 * but never kept.  Stale temporary files of earlier runs are removed.
 */
struct body_cache *body_cache_open(const char *dir, const char *account,
		uint64_t max_bytes, GError **error);
void body_cache_close(struct body_cache **cache);

/* Where the body for key lives when it has a file of its own (whether or
 * not it is there; small bodies are packed); g_free it.  Different keys
 * always give different paths. */
char *body_cache_path(struct body_cache *cache,
		const struct body_cache_key *key);

/* A hit fills *entry (close entry->fd when done) and marks the body as
 * recently used.  A miss, or an invalid file (removed), returns false.
 * The first lookup of a file in this cache object reads its whole body to
 * check it; later ones do not. */
bool body_cache_lookup(struct body_cache *cache,
		const struct body_cache_key *key,
		struct body_cache_entry *entry);

/* The length of a cached body from the file's size alone (no header check,
 * no recency update): cheap enough for every stat().  The check happens
 * when the body is opened. */
bool body_cache_peek_length(struct body_cache *cache,
		const struct body_cache_key *key, uint64_t *length_r);

/*
 * Writing a body as it streams in.  The UID is not known when the bytes
 * start to arrive (a server may send BODY[] before UID), so it is given at
 * commit.  `length` is the exact number of bytes announced (the literal
 * size); commit fails unless exactly that many were written.
 */
struct body_cache_writer;

struct body_cache_writer *body_cache_writer_new(struct body_cache *cache,
		const char *mailbox, uint32_t uidvalidity, uint64_t length,
		GError **error);
/* Errors are sticky and reported by commit. */
void body_cache_writer_write(struct body_cache_writer *writer,
		const void *data, size_t len);
/* Finish, move into place under uid and fill *entry as a lookup would.
 * A body too large to keep (see body_cache_open) is not moved anywhere:
 * entry->fd is then its only way in, and it is gone once that is closed.
 * Frees the writer in every case. */
bool body_cache_writer_commit(struct body_cache_writer **writer,
		uint32_t uid, struct body_cache_entry *entry, GError **error);
/* Drop an unfinished body (connection lost, UID not one we asked for). */
void body_cache_writer_abort(struct body_cache_writer **writer);

/* Forget every UIDVALIDITY of mailbox other than keep (UIDVALIDITY changed:
 * the old UIDs mean other messages now). */
void body_cache_drop_stale(struct body_cache *cache, const char *mailbox,
		uint32_t keep_uidvalidity);

/* Bytes of body files currently kept, headers included (for status and
 * tests). */
uint64_t body_cache_size(struct body_cache *cache);

#endif
