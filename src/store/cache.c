/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The on-disk body cache.
 *
 * Layout of a cache directory:
 *
 *   DIR/account		the account name and a newline
 *   DIR/tmp/			bodies being written, and the account file
 *				while it is being created
 *   DIR/bodies/M/V/U		the body of UID U (decimal) under UIDVALIDITY V
 *				(decimal) in the mailbox whose identity M names
 *   DIR/bodies/M/V/pack-*	small bodies of that mailbox, one record
 *				after another (cache-pack.c)
 *
 * M is "n-" followed by the identity with every byte outside [A-Za-z0-9._-]
 * written as %XX (upper-case hex), which is reversible and so can never give
 * two identities one directory, and is never "." or "..".  When that would
 * be longer than MAILBOX_DIR_MAX, M is "h-" and the SHA-256 of the identity
 * in hex instead.  The prefixes keep the two forms apart.  The identity is
 * "id:" and the MAILBOXID where the server has one, else the raw name (see
 * body_cache_identity()), so a MAILBOXID's M is "n-id%3A" and the
 * MAILBOXID, unless hashed.
 *
 * A body file is a HEADER_SIZE-byte plain ASCII header followed by the body:
 *
 *   imapfs-body 2
 *   uidvalidity 3857529045
 *   uid 4711
 *   length 2140
 *   identity <first 64 bits of SHA-256(account NUL mailbox), hex>
 *   xxh64 <XXH64 of the body, 16 hex digits>
 *
 * padded with '\n'.  A lookup accepts a file only if its header is exactly
 * the one its key and announced length give and the file's size is the
 * header plus that length, so a file moved, copied, cut short or extended
 * behind our back is never served.  Files of an older format are misses,
 * removed like any other invalid file and fetched again.
 *
 * Nothing is ever fsync()ed: after a power cut a body file may hold zeroed
 * or stale blocks under a good header and size.  So the first lookup of a
 * file in this process reads the body and checks it against its XXH64
 * before serving it; files this process verified or wrote itself are
 * remembered by device, inode, size and checksum (`verified`), so later
 * opens cost nothing more.  One pass over each body per mount is much
 * cheaper than one fsync per body while the cache fills (docs/DESIGN.md,
 * "Cache").
 *
 * A body whose announced length exceeds half of the bound is never kept:
 * it is written to an unnamed file in DIR/tmp that lives as long as its
 * readers' fds, so one large message cannot push out the rest of the
 * cache.  Bodies being written count toward the bound as soon as their
 * writer exists.
 *
 * Recency for the LRU bound is the file's mtime: a hit sets it to now.  The
 * bytes kept are the sizes of the files under DIR/bodies (headers included,
 * as they take disk space too).  The running total is kept in memory; it is
 * computed by walking the tree at open and again at every eviction, which
 * also corrects any drift (from races between threads, or from another
 * process using the same directory).
 *
 * Locking: `lock` protects `total`, `pending` and `verified`; `evict_lock`
 * lets one thread evict at a time and is always taken before `lock`.
 * Everything else in the cache is fixed at open.  The file system does the
 * rest: a body appears at its path only whole, by linkat() of an unnamed
 * file or rename() (cache-writer.c), and an open fd keeps a removed file
 * readable.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* mkostemp(), O_TMPFILE */
#endif

#include "store/cache.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>

#include "store/cache-private.h"

G_DEFINE_QUARK(body-cache-error-quark, body_cache_error)

bool cache_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return false;
		}
		p += n;
		len -= (size_t)n;
	}
	return true;
}

bool cache_pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return false;
		}
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return true;
}

/* Bytes read, short only at end of file; -1 on error. */
static ssize_t pread_all(int fd, void *buf, size_t len, off_t off)
{
	char *p = buf;
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, p + done, len - done, off + (off_t)done);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

void cache_set_io_error(GError **error, const char *what, const char *path,
		int errsv)
{
	g_set_error(error, BODY_CACHE_ERROR, BODY_CACHE_ERROR_IO,
			"%s %s: %s", what, path, g_strerror(errsv));
}

bool cache_make_dir(const char *path, GError **error)
{
	if (g_mkdir_with_parents(path, 0700) < 0) {
		cache_set_io_error(error, "cannot create directory", path, errno);
		return false;
	}
	return true;
}

static bool plain_byte(unsigned char c)
{
	return g_ascii_isalnum(c) || c == '.' || c == '_' || c == '-';
}

char *body_cache_identity(const char *raw_name, const char *mailboxid)
{
	g_return_val_if_fail(raw_name != NULL, NULL);

	if (mailboxid && *mailboxid)
		return g_strconcat("id:", mailboxid, NULL);
	if (g_str_has_prefix(raw_name, "id:") ||
			g_str_has_prefix(raw_name, "name:"))
		return g_strconcat("name:", raw_name, NULL);
	return g_strdup(raw_name);
}

/* The mailbox identity as one file name (see the top of this file). */
char *cache_mailbox_dir_name(const char *mailbox)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p = (const unsigned char *)mailbox;
	GString *name = g_string_sized_new(MAILBOX_DIR_MAX + 4);
	char *sum, *hashed;

	g_string_append(name, "n-");
	for (; *p != '\0' && name->len <= MAILBOX_DIR_MAX; p++) {
		if (plain_byte(*p)) {
			g_string_append_c(name, (char)*p);
		} else {
			g_string_append_c(name, '%');
			g_string_append_c(name, hex[*p >> 4]);
			g_string_append_c(name, hex[*p & 0xf]);
		}
	}
	if (*p == '\0' && name->len <= MAILBOX_DIR_MAX)
		return g_string_free(name, FALSE);

	g_string_free(name, TRUE);
	sum = g_compute_checksum_for_string(G_CHECKSUM_SHA256, mailbox, -1);
	hashed = g_strconcat("h-", sum, NULL);
	g_free(sum);
	return hashed;
}

char *cache_body_dir_path(struct body_cache *cache, const char *mailbox,
		uint32_t uidvalidity)
{
	char *mdir = cache_mailbox_dir_name(mailbox);
	char uv[16];
	char *path;

	snprintf(uv, sizeof(uv), "%" PRIu32, uidvalidity);
	path = g_build_filename(cache->bodies, mdir, uv, NULL);
	g_free(mdir);
	return path;
}

char *cache_body_file_path(const char *body_dir, uint32_t uid)
{
	char name[16];

	snprintf(name, sizeof(name), "%" PRIu32, uid);
	return g_build_filename(body_dir, name, NULL);
}

/*
 * The header names the mailbox and the account by a hash, as the names
 * themselves can be long; 64 bits of SHA-256 are plenty to tell apart the
 * few files that could ever be found at one path.  account cannot contain
 * NUL, so the NUL separates the two unambiguously.
 */
void cache_identity_hex(const char *account, const char *mailbox,
		char out[IDENTITY_HEX + 1])
{
	GChecksum *sum = g_checksum_new(G_CHECKSUM_SHA256);

	g_checksum_update(sum, (const guchar *)account, strlen(account));
	g_checksum_update(sum, (const guchar *)"", 1);
	g_checksum_update(sum, (const guchar *)mailbox, strlen(mailbox));
	memcpy(out, g_checksum_get_string(sum), IDENTITY_HEX);
	out[IDENTITY_HEX] = '\0';
	g_checksum_free(sum);
}

/* Returns where the checksum's digits start. */
size_t cache_format_header(char buf[HEADER_SIZE + 1], const char *identity,
		uint32_t uidvalidity, uint32_t uid, uint64_t length,
		uint64_t sum)
{
	int n;

	/* Never truncated: see HEADER_LONGEST. */
	n = snprintf(buf, HEADER_SIZE + 1, HEADER_MAGIC
			"uidvalidity %" PRIu32 "\n"
			"uid %" PRIu32 "\n"
			"length %" PRIu64 "\n"
			"identity %s\n"
			"xxh64 %016" PRIx64 "\n",
			uidvalidity, uid, length, identity, sum);
	memset(buf + n, '\n', HEADER_SIZE - (size_t)n);
	buf[HEADER_SIZE] = '\0';
	return (size_t)n - SUM_HEX - 1;
}

/*
 * Check a header read from a file against the key; on success return the
 * body length and checksum it announces.  The header must be byte for byte
 * the one we would write, so leading zeros, other padding, upper-case hex
 * and the like are refused.
 */
bool cache_check_header(const char buf[HEADER_SIZE], const char *identity,
		uint32_t uidvalidity, uint32_t uid, uint64_t *length_r,
		uint64_t *sum_r)
{
	char expect[HEADER_SIZE + 1];
	uint64_t length = 0, sum = 0;
	size_t i, start;
	int n;

	n = snprintf(expect, sizeof(expect), HEADER_MAGIC
			"uidvalidity %" PRIu32 "\n"
			"uid %" PRIu32 "\n"
			"length ",
			uidvalidity, uid);
	start = (size_t)n;
	if (memcmp(buf, expect, start) != 0)
		return false;

	for (i = start; i < HEADER_SIZE && g_ascii_isdigit(buf[i]); i++) {
		unsigned int d = (unsigned int)(buf[i] - '0');

		if (length > (UINT64_MAX - d) / 10)
			return false;
		length = length * 10 + d;
	}
	if (i == start || length > BODY_LENGTH_MAX)
		return false;

	start = cache_format_header(expect, identity, uidvalidity, uid, length, 0);
	if (memcmp(buf, expect, start) != 0)
		return false;
	for (i = start; i < start + SUM_HEX; i++) {
		int d = g_ascii_xdigit_value(buf[i]);

		if (d < 0)
			return false;
		sum = sum << 4 | (uint64_t)d;
	}

	cache_format_header(expect, identity, uidvalidity, uid, length, sum);
	if (memcmp(buf, expect, HEADER_SIZE) != 0)
		return false;
	*length_r = length;
	*sum_r = sum;
	return true;
}

/*
 * Remove an invalid file found at path, unless it was replaced meanwhile
 * (a concurrent commit of the same key may just have put a good one there).
 * opened: what we found, or NULL when we could not open it.
 */
static void remove_invalid(struct body_cache *cache, const char *path,
		const struct stat *opened)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return;
	if (opened && (st.st_dev != opened->st_dev ||
			st.st_ino != opened->st_ino))
		return;
	if (S_ISDIR(st.st_mode))
		return;
	if (unlink(path) == 0 && S_ISREG(st.st_mode)) {
		cache_forget_verified(cache, st.st_dev, st.st_ino);
		cache_pack_file_gone(cache, path, st.st_dev, st.st_ino);
		cache_total_sub(cache, (uint64_t)st.st_size);
	}
}

/* A temp file in DIR/tmp; its name says which process made it. */
int cache_make_tmp_file(struct body_cache *cache, char **path_r,
		GError **error)
{
	char *path;
	int fd;

	path = g_strdup_printf("%s/%ld-%08" PRIx32 "%08" PRIx32 "-XXXXXX",
			cache->tmp, (long)getpid(), g_random_int(),
			g_random_int());
	/* mkostemp() creates the file with mode 0600. */
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0) {
		cache_set_io_error(error, "cannot create a temporary file in",
				cache->tmp, errno);
		g_free(path);
		return -1;
	}
	*path_r = path;
	return fd;
}

/* The file st, holding a body with checksum sum, is known to be good.
 * Called with cache->lock held. */
void cache_remember_verified_locked(struct body_cache *cache,
		const struct stat *st, uint64_t sum)
{
	if (cache->verified.count >= VERIFIED_MAX)
		verified_map_clear(&cache->verified);
	verified_map_put(&cache->verified, verified_key(st->st_dev,
				st->st_ino),
			verified_check((uint64_t)st->st_size, sum));
}

/* Whether the length bytes at offset in fd have the checksum sum. */
bool cache_sum_matches(int fd, uint64_t offset, uint64_t length,
		uint64_t sum)
{
	enum { CHUNK = 256 * 1024 };
	struct cache_sum running;
	uint64_t done = 0;
	unsigned char *buf;

	/* The bytes read now fill the page cache the reader is about to
	 * read from, so this pass is mostly not an extra one. */
	buf = g_malloc(MIN((uint64_t)CHUNK, MAX(length, 1)));
	cache_sum_init(&running);
	while (done < length) {
		size_t want = (size_t)MIN((uint64_t)CHUNK, length - done);
		ssize_t n = pread_all(fd, buf, want,
				(off_t)(offset + done));

		if (n != (ssize_t)want)
			break;
		cache_sum_update(&running, buf, want);
		done += want;
	}
	g_free(buf);
	return done == length && cache_sum_final(&running) == sum;
}

/*
 * Whether the body of the open file st (header already checked) really has
 * the checksum its header gives.  Only the first time in this process is
 * it read: see the top of this file.
 */
static bool body_intact(struct body_cache *cache, int fd,
		const struct stat *st, uint64_t length, uint64_t sum)
{
	uint64_t known;
	bool ok;

	g_mutex_lock(&cache->lock);
	ok = verified_map_get(&cache->verified, verified_key(st->st_dev,
				st->st_ino), &known) &&
		known == verified_check((uint64_t)st->st_size, sum);
	g_mutex_unlock(&cache->lock);
	if (ok)
		return true;
	if (!cache_sum_matches(fd, HEADER_SIZE, length, sum))
		return false;

	g_mutex_lock(&cache->lock);
	cache_remember_verified_locked(cache, st, sum);
	g_mutex_unlock(&cache->lock);
	return true;
}

/*
 * 0: the account file names account; 1: there is no account file;
 * -1: error set (another account, or unreadable).
 */
static int check_account(struct body_cache *cache, const char *path,
		GError **error)
{
	char *contents = NULL;
	gsize len = 0;
	size_t alen = strlen(cache->account);
	GError *err = NULL;
	char *shown, *nl;
	struct stat st;

	if (stat(path, &st) < 0) {
		if (errno == ENOENT)
			return 1;
		cache_set_io_error(error, "cannot read", path, errno);
		return -1;
	}
	/* Whatever is much longer than an account name is not ours. */
	if (st.st_size <= ACCOUNT_FILE_MAX) {
		if (!g_file_get_contents(path, &contents, &len, &err)) {
			g_set_error(error, BODY_CACHE_ERROR,
					BODY_CACHE_ERROR_IO, "%s",
					err->message);
			g_error_free(err);
			return -1;
		}
		if (len == alen + 1 && contents[alen] == '\n' &&
				memcmp(contents, cache->account, alen) == 0) {
			g_free(contents);
			return 0;
		}
	} else {
		contents = g_strdup("(unreadable)");
	}

	nl = strchr(contents, '\n');
	if (nl)
		*nl = '\0';
	shown = g_utf8_make_valid(contents, -1);
	g_set_error(error, BODY_CACHE_ERROR, BODY_CACHE_ERROR_ACCOUNT,
			"cache directory %s belongs to account %s, not %s",
			cache->dir, shown, cache->account);
	g_free(shown);
	g_free(contents);
	return -1;
}

/*
 * Claim the directory for the account, or check that it is ours.  The file
 * is written aside and hard-linked into place, which fails if it exists:
 * two mounts starting at once never see a half-written name, and the
 * loser checks the winner's.
 */
static bool claim_account(struct body_cache *cache, GError **error)
{
	char *path = g_build_filename(cache->dir, "account", NULL);
	char *tmp_path = NULL, *line = NULL;
	bool ok = false;
	int fd = -1, r;

	r = check_account(cache, path, error);
	if (r <= 0) {
		ok = r == 0;
		goto out;
	}

	if (!cache_make_dir(cache->tmp, error))
		goto out;
	fd = cache_make_tmp_file(cache, &tmp_path, error);
	if (fd < 0)
		goto out;
	line = g_strconcat(cache->account, "\n", NULL);
	/* Synced, unlike bodies: it is written once per directory, and an
	 * account file left empty by a power cut would refuse every later
	 * mount instead of costing one fetch. */
	if (!cache_write_all(fd, line, strlen(line)) || fsync(fd) < 0) {
		cache_set_io_error(error, "cannot write", tmp_path, errno);
		goto out;
	}
	if (close(fd) < 0) {
		fd = -1;
		cache_set_io_error(error, "cannot write", tmp_path, errno);
		goto out;
	}
	fd = -1;
	if (link(tmp_path, path) < 0) {
		if (errno != EEXIST) {
			cache_set_io_error(error, "cannot create", path, errno);
			goto out;
		}
		r = check_account(cache, path, error);
		ok = r == 0;
		if (r > 0)
			cache_set_io_error(error, "cannot create", path, ENOENT);
		goto out;
	}
	ok = true;
out:
	if (fd >= 0)
		close(fd);
	if (tmp_path)
		(void)unlink(tmp_path);
	g_free(tmp_path);
	g_free(line);
	g_free(path);
	return ok;
}

struct body_cache *body_cache_open(const char *dir, const char *account,
		uint64_t max_bytes, GError **error)
{
	struct body_cache *cache;
	uint64_t total = 0;

	g_return_val_if_fail(dir != NULL, NULL);
	g_return_val_if_fail(account != NULL, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	if (!cache_make_dir(dir, error))
		return NULL;

	cache = g_new0(struct body_cache, 1);
	cache->dir = g_strdup(dir);
	cache->account = g_strdup(account);
	cache->bodies = g_build_filename(dir, "bodies", NULL);
	cache->tmp = g_build_filename(dir, "tmp", NULL);
	/* linkat() of an unnamed file needs its /proc/self/fd link (or a
	 * capability the daemon should not need). */
	cache->link_unnamed = access("/proc/self/fd", X_OK) == 0;
	cache->max_bytes = max_bytes;
	g_mutex_init(&cache->evict_lock);
	g_mutex_init(&cache->lock);
	/* cache->verified starts empty (g_new0). */
	cache_packs_init(cache);

	if (!claim_account(cache, error) ||
			!cache_make_dir(cache->tmp, error) ||
			!cache_make_dir(cache->bodies, error)) {
		body_cache_close(&cache);
		return NULL;
	}

	cache_remove_stale_tmp(cache);
	cache_walk(cache->bodies, NULL, &total);
	cache->total = total;
	/* The bound may have been lowered since the last mount. */
	if (cache_over_limit(cache))
		cache_evict(cache, NULL);
	return cache;
}

void body_cache_close(struct body_cache **cachep)
{
	struct body_cache *cache;

	if (!cachep || !*cachep)
		return;
	cache = *cachep;
	*cachep = NULL;
	verified_map_clear(&cache->verified);
	cache_packs_free(cache);
	g_mutex_clear(&cache->lock);
	g_mutex_clear(&cache->evict_lock);
	g_free(cache->tmp);
	g_free(cache->bodies);
	g_free(cache->account);
	g_free(cache->dir);
	g_free(cache);
}

/*
 * key->account is not part of the path: the directory belongs to one
 * account (body_cache_open checks that), and body_cache_lookup treats a key
 * of any other account as a miss.
 */
char *body_cache_path(struct body_cache *cache,
		const struct body_cache_key *key)
{
	char *dir, *path;

	g_return_val_if_fail(cache != NULL, NULL);
	g_return_val_if_fail(key != NULL && key->mailbox != NULL, NULL);

	dir = cache_body_dir_path(cache, key->mailbox, key->uidvalidity);
	path = cache_body_file_path(dir, key->uid);
	g_free(dir);
	return path;
}

/*
 * A record in a pack (cache-pack.c): its header is checked on every
 * lookup, as a file's is, and its body against the checksum the first
 * time in this process.
 */
static bool lookup_packed(struct body_cache *cache,
		const struct body_cache_key *key, uint16_t kind,
		struct pack_hit *hit, struct body_cache_entry *entry)
{
	struct timespec now[2] = {
		{ .tv_nsec = UTIME_NOW },
		{ .tv_nsec = UTIME_NOW },
	};
	char header[HEADER_SIZE];
	uint64_t length, sum;
	struct stat st;
	bool ok;

	ok = pread_all(hit->fd, header, HEADER_SIZE, (off_t)hit->offset) ==
			HEADER_SIZE &&
		cache_check_header(header, hit->identity, key->uidvalidity,
				key->uid, &length, &sum) &&
		length == hit->length &&
		fstat(hit->fd, &st) == 0 &&
		(uint64_t)st.st_size >= hit->offset + HEADER_SIZE + length &&
		(hit->verified || cache_sum_matches(hit->fd,
				hit->offset + HEADER_SIZE, length, sum));
	if (!ok || !hit->verified)
		cache_pack_mark(cache, key->mailbox, key->uidvalidity,
				key->uid, kind, hit->offset, ok);
	if (!ok) {
		close(hit->fd);
		return false;
	}
	if (hit->touch)
		(void)futimens(hit->fd, now);
	entry->fd = hit->fd;
	entry->offset = hit->offset + HEADER_SIZE;
	entry->length = length;
	return true;
}

bool body_cache_lookup(struct body_cache *cache,
		const struct body_cache_key *key,
		struct body_cache_entry *entry)
{
	struct pack_hit hit;
	uint16_t kind;
	char header[HEADER_SIZE];
	struct timespec now[2] = {
		{ .tv_nsec = UTIME_NOW },
		{ .tv_nsec = UTIME_NOW },
	};
	uint64_t length, sum;
	struct stat st;
	char *path;
	int fd, flags;

	g_return_val_if_fail(cache != NULL, false);
	g_return_val_if_fail(key != NULL && key->mailbox != NULL, false);
	g_return_val_if_fail(entry != NULL, false);

	entry->fd = -1;
	entry->offset = 0;
	entry->length = 0;

	/* Not our account: nothing here is for this key, and nothing here
	 * may be removed on its behalf. */
	if (key->account && strcmp(key->account, cache->account) != 0)
		return false;

	kind = cache_pack_find(cache, key->mailbox, key->uidvalidity,
			key->uid, true, &hit);
	if (kind == RECORD_NONE)
		return false;
	if (kind != RECORD_SINGLE)
		return lookup_packed(cache, key, kind, &hit, entry);

	path = body_cache_path(cache, key);
	/* O_NONBLOCK: something that is not a regular file (a FIFO) must
	 * not hang us; it is refused below. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ELOOP)
			remove_invalid(cache, path, NULL);
		else if (errno == ENOENT)
			cache_pack_mark(cache, key->mailbox, key->uidvalidity,
					key->uid, RECORD_SINGLE, 0, false);
		g_free(path);
		return false;
	}
	if (fstat(fd, &st) < 0) {
		close(fd);
		g_free(path);
		return false;
	}

	if (!S_ISREG(st.st_mode) ||
			pread_all(fd, header, HEADER_SIZE, 0) != HEADER_SIZE ||
			!cache_check_header(header, hit.identity,
				key->uidvalidity,
				key->uid, &length, &sum) ||
			(uint64_t)st.st_size != HEADER_SIZE + length ||
			!body_intact(cache, fd, &st, length, sum)) {
		close(fd);
		remove_invalid(cache, path, &st);
		g_free(path);
		return false;
	}
	g_free(path);

	flags = fcntl(fd, F_GETFL);
	if (flags >= 0)
		(void)fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
	/* Mark as recently used, to the minute (eviction needs no finer
	 * order, and each mark writes the inode); if that fails the body
	 * is merely evicted sooner than it should be. */
	if (st.st_mtime < time(NULL) - 60)
		(void)futimens(fd, now);

	entry->fd = fd;
	entry->offset = HEADER_SIZE;
	entry->length = length;
	return true;
}

bool body_cache_peek_length(struct body_cache *cache,
		const struct body_cache_key *key, uint64_t *length_r)
{
	struct pack_hit hit;
	struct stat st;
	uint16_t kind;
	char *path;
	bool ok;

	if (key->account && strcmp(key->account, cache->account) != 0)
		return false;
	kind = cache_pack_find(cache, key->mailbox, key->uidvalidity,
			key->uid, false, &hit);
	if (kind == RECORD_NONE)
		return false;
	if (kind != RECORD_SINGLE) {
		*length_r = hit.length;
		return true;
	}
	path = body_cache_path(cache, key);
	ok = lstat(path, &st) == 0 && S_ISREG(st.st_mode) &&
		(uint64_t)st.st_size >= HEADER_SIZE;
	g_free(path);
	if (ok)
		*length_r = (uint64_t)st.st_size - HEADER_SIZE;
	return ok;
}
