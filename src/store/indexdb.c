/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "store/indexdb.h"

#include <glib.h>
#include <sqlite3.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/* Bumped when the schema changes: a file of another version is
 * replaced, since all it holds can be listed again. */
#define SCHEMA_VERSION 1

static const char schema[] =
	"PRAGMA journal_mode=WAL;"
	"PRAGMA synchronous=NORMAL;"
	"CREATE TABLE IF NOT EXISTS mailboxes ("
	" id INTEGER PRIMARY KEY,"
	" name BLOB NOT NULL UNIQUE,"
	" uidvalidity INTEGER NOT NULL,"
	" uidnext INTEGER NOT NULL,"
	" highestmodseq INTEGER NOT NULL,"
	" mailboxid TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS messages ("
	" mailbox INTEGER NOT NULL,"
	" uid INTEGER NOT NULL,"
	" size INTEGER NOT NULL,"
	" size_exact INTEGER NOT NULL,"
	" internaldate INTEGER NOT NULL,"
	" zone INTEGER NOT NULL,"
	" flags INTEGER NOT NULL,"
	" keywords BLOB,"
	" modseq INTEGER NOT NULL,"
	" PRIMARY KEY (mailbox, uid)) WITHOUT ROWID;";

struct index_db {
	sqlite3 *db;
	char *path;
	GMutex lock;		/* one transaction at a time */
};

static void db_warn(struct index_db *d, const char *doing)
{
	log_warning("listing file %s: cannot %s: %s", d->path, doing,
			sqlite3_errmsg(d->db));
}

static bool db_exec(struct index_db *d, const char *sql, const char *doing)
{
	if (sqlite3_exec(d->db, sql, NULL, NULL, NULL) == SQLITE_OK)
		return true;
	db_warn(d, doing);
	return false;
}

static int db_version(sqlite3 *db)
{
	sqlite3_stmt *st;
	int version = -1;

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st,
				NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return version;
}

/* Open path as our database, or false. */
static bool db_try_open(struct index_db *d)
{
	int version;

	if (sqlite3_open_v2(d->path, &d->db, SQLITE_OPEN_READWRITE |
				SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
				NULL) != SQLITE_OK)
		return false;
	/* Another mount of the same cache may be writing. */
	sqlite3_busy_timeout(d->db, 2000);
	version = db_version(d->db);
	if (version != 0 && version != SCHEMA_VERSION)
		return false;
	if (sqlite3_exec(d->db, schema, NULL, NULL, NULL) != SQLITE_OK)
		return false;
	return version == SCHEMA_VERSION || sqlite3_exec(d->db,
			"PRAGMA user_version=" G_STRINGIFY(SCHEMA_VERSION),
			NULL, NULL, NULL) == SQLITE_OK;
}

static void remove_files(const char *path)
{
	static const char *const suffixes[] = { "", "-wal", "-shm",
		"-journal" };

	for (size_t i = 0; i < G_N_ELEMENTS(suffixes); i++) {
		char *p = g_strconcat(path, suffixes[i], NULL);

		(void)unlink(p);
		g_free(p);
	}
}

struct index_db *index_db_open(const char *path)
{
	struct index_db *d = g_new0(struct index_db, 1);

	d->path = g_strdup(path);
	g_mutex_init(&d->lock);
	if (!db_try_open(d)) {
		/* Damaged, or of another version: it only ever held what
		 * the server can tell again. */
		log_info("listing file %s: %s; starting a new one", path,
				d->db ? sqlite3_errmsg(d->db) : "cannot open");
		sqlite3_close(d->db);
		d->db = NULL;
		remove_files(path);
		if (!db_try_open(d)) {
			log_warning("listing file %s: %s; listings are not "
					"kept across mounts", path, d->db ?
					sqlite3_errmsg(d->db) : "cannot open");
			index_db_close(&d);
		}
	}
	return d;
}

void index_db_close(struct index_db **db)
{
	struct index_db *d = *db;

	if (!d)
		return;
	sqlite3_close(d->db);
	g_mutex_clear(&d->lock);
	g_free(d->path);
	g_free(d);
	*db = NULL;
}

/* --- loading -------------------------------------------------------------- */

/* Keywords are kept NUL-separated: a keyword may hold any byte but NUL
 * (msgindex.h). */
static uint32_t load_keywords(struct msg_index *index, const char *blob,
		int len)
{
	GPtrArray *words;
	uint32_t id;

	if (!blob || len <= 0)
		return 0;
	words = g_ptr_array_new_with_free_func(g_free);
	for (int i = 0; i < len;) {
		const char *end = memchr(blob + i, '\0', (size_t)(len - i));
		int n = end ? (int)(end - (blob + i)) : len - i;

		if (n > 0)
			g_ptr_array_add(words, g_strndup(blob + i, (gsize)n));
		i += n + 1;
	}
	g_ptr_array_add(words, NULL);
	id = msg_index_intern_keywords(index,
			(const char *const *)words->pdata);
	g_ptr_array_unref(words);
	return id;
}

static bool load_header(struct index_db *d, const char *mailbox,
		struct index_db_mailbox *header, sqlite3_int64 *id_r)
{
	sqlite3_stmt *st;
	bool found = false;

	if (sqlite3_prepare_v2(d->db, "SELECT id, uidvalidity, uidnext, "
				"highestmodseq, mailboxid FROM mailboxes "
				"WHERE name = ?", -1, &st, NULL) != SQLITE_OK) {
		db_warn(d, "read");
		return false;
	}
	sqlite3_bind_blob(st, 1, mailbox, (int)strlen(mailbox),
			SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		const unsigned char *id = sqlite3_column_text(st, 4);

		*id_r = sqlite3_column_int64(st, 0);
		header->uidvalidity = (uint32_t)sqlite3_column_int64(st, 1);
		header->uidnext = (uint32_t)sqlite3_column_int64(st, 2);
		header->highestmodseq = (uint64_t)sqlite3_column_int64(st, 3);
		g_strlcpy(header->mailboxid, id ? (const char *)id : "",
				sizeof(header->mailboxid));
		found = header->uidvalidity != 0;
	}
	sqlite3_finalize(st);
	return found;
}

bool index_db_load(struct index_db *d, const char *mailbox,
		struct index_db_mailbox *header, struct msg_index **index_r)
{
	sqlite3_stmt *st = NULL;
	sqlite3_int64 id;
	struct msg_index *index;
	int rc;

	*index_r = NULL;
	memset(header, 0, sizeof(*header));
	if (!d)
		return false;
	g_mutex_lock(&d->lock);
	if (!load_header(d, mailbox, header, &id))
		goto fail;
	if (sqlite3_prepare_v2(d->db, "SELECT uid, size, size_exact, "
				"internaldate, zone, flags, keywords, modseq "
				"FROM messages WHERE mailbox = ? ORDER BY uid",
				-1, &st, NULL) != SQLITE_OK) {
		db_warn(d, "read");
		goto fail;
	}
	sqlite3_bind_int64(st, 1, id);
	index = msg_index_new();
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct msg_entry e = {
			.uid = (uint32_t)sqlite3_column_int64(st, 0),
			.size = (uint32_t)sqlite3_column_int64(st, 1),
			.size_exact = sqlite3_column_int(st, 2) != 0,
			.internaldate = sqlite3_column_int64(st, 3),
			.zone_minutes = (int16_t)sqlite3_column_int(st, 4),
			.flags = (uint8_t)sqlite3_column_int(st, 5),
			.modseq = (uint64_t)sqlite3_column_int64(st, 7),
		};

		e.keywords = load_keywords(index,
				sqlite3_column_blob(st, 6),
				sqlite3_column_bytes(st, 6));
		if (e.uid != 0)
			msg_index_append(index, &e);
	}
	if (rc != SQLITE_DONE) {
		db_warn(d, "read");
		msg_index_free(&index);
		goto fail;
	}
	sqlite3_finalize(st);
	g_mutex_unlock(&d->lock);
	msg_index_finish(index);
	*index_r = index;
	return true;
fail:
	sqlite3_finalize(st);
	g_mutex_unlock(&d->lock);
	memset(header, 0, sizeof(*header));
	return false;
}

/* --- saving --------------------------------------------------------------- */

static bool save_header(struct index_db *d, const char *mailbox,
		const struct index_db_mailbox *header, sqlite3_int64 *id_r)
{
	sqlite3_stmt *st;
	bool ok;

	if (sqlite3_prepare_v2(d->db, "INSERT INTO mailboxes (name, "
				"uidvalidity, uidnext, highestmodseq, "
				"mailboxid) VALUES (?1, ?2, ?3, ?4, ?5) "
				"ON CONFLICT (name) DO UPDATE SET "
				"uidvalidity = ?2, uidnext = ?3, "
				"highestmodseq = ?4, mailboxid = ?5 "
				"RETURNING id", -1, &st, NULL) != SQLITE_OK)
		return false;
	sqlite3_bind_blob(st, 1, mailbox, (int)strlen(mailbox),
			SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, header->uidvalidity);
	sqlite3_bind_int64(st, 3, header->uidnext);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)header->highestmodseq);
	sqlite3_bind_text(st, 5, header->mailboxid, -1, SQLITE_STATIC);
	ok = sqlite3_step(st) == SQLITE_ROW;
	if (ok)
		*id_r = sqlite3_column_int64(st, 0);
	ok = sqlite3_finalize(st) == SQLITE_OK && ok;
	return ok;
}

static bool put_entry(sqlite3_stmt *put, sqlite3_int64 id,
		struct msg_index *index, const struct msg_entry *e)
{
	const char *const *words = msg_index_keywords(index, e->keywords);
	GString *blob = g_string_new(NULL);
	bool ok;

	for (size_t i = 0; words[i]; i++)
		g_string_append_len(blob, words[i],
				(gssize)strlen(words[i]) + (words[i + 1] ?
					1 : 0));
	sqlite3_reset(put);
	sqlite3_bind_int64(put, 1, id);
	sqlite3_bind_int64(put, 2, e->uid);
	sqlite3_bind_int64(put, 3, e->size);
	sqlite3_bind_int(put, 4, e->size_exact);
	sqlite3_bind_int64(put, 5, e->internaldate);
	sqlite3_bind_int(put, 6, e->zone_minutes);
	sqlite3_bind_int(put, 7, e->flags);
	if (blob->len)
		sqlite3_bind_blob(put, 8, blob->str, (int)blob->len,
				SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(put, 8);
	sqlite3_bind_int64(put, 9, (sqlite3_int64)e->modseq);
	ok = sqlite3_step(put) == SQLITE_DONE;
	g_string_free(blob, TRUE);
	return ok;
}

static bool drop_entry(sqlite3_stmt *drop, sqlite3_int64 id, uint32_t uid)
{
	sqlite3_reset(drop);
	sqlite3_bind_int64(drop, 1, id);
	sqlite3_bind_int64(drop, 2, uid);
	return sqlite3_step(drop) == SQLITE_DONE;
}

static bool save_entries(struct index_db *d, sqlite3_int64 id,
		struct msg_index *index, const uint32_t *uids, size_t count)
{
	sqlite3_stmt *put = NULL, *drop = NULL;
	bool ok = sqlite3_prepare_v2(d->db, "INSERT OR REPLACE INTO messages "
			"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)", -1, &put,
			NULL) == SQLITE_OK &&
		sqlite3_prepare_v2(d->db, "DELETE FROM messages WHERE "
			"mailbox = ?1 AND uid = ?2", -1, &drop,
			NULL) == SQLITE_OK;

	if (ok && !uids) {
		sqlite3_stmt *all;

		ok = sqlite3_prepare_v2(d->db, "DELETE FROM messages WHERE "
				"mailbox = ?", -1, &all, NULL) == SQLITE_OK;
		if (ok) {
			sqlite3_bind_int64(all, 1, id);
			ok = sqlite3_step(all) == SQLITE_DONE;
			sqlite3_finalize(all);
		}
		for (size_t i = 0; ok && i < msg_index_count(index); i++)
			ok = put_entry(put, id, index,
					msg_index_at(index, i));
	}
	for (size_t i = 0; ok && uids && i < count; i++) {
		const struct msg_entry *e = msg_index_find(index, uids[i]);

		ok = e ? put_entry(put, id, index, e) :
			drop_entry(drop, id, uids[i]);
	}
	sqlite3_finalize(put);
	sqlite3_finalize(drop);
	return ok;
}

void index_db_save(struct index_db *d, const char *mailbox,
		const struct index_db_mailbox *header, struct msg_index *index,
		const uint32_t *uids, size_t count)
{
	sqlite3_int64 id;

	if (!d)
		return;
	g_mutex_lock(&d->lock);
	if (!db_exec(d, "BEGIN IMMEDIATE", "write"))
		goto out;
	if (save_header(d, mailbox, header, &id) &&
			save_entries(d, id, index, uids, count)) {
		db_exec(d, "COMMIT", "write");
	} else {
		db_warn(d, "write");
		(void)sqlite3_exec(d->db, "ROLLBACK", NULL, NULL, NULL);
	}
out:
	g_mutex_unlock(&d->lock);
}

void index_db_forget(struct index_db *d, const char *mailbox)
{
	sqlite3_stmt *st;

	if (!d)
		return;
	g_mutex_lock(&d->lock);
	if (sqlite3_prepare_v2(d->db, "DELETE FROM messages WHERE mailbox IN "
				"(SELECT id FROM mailboxes WHERE name = ?1);"
				, -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_blob(st, 1, mailbox, (int)strlen(mailbox),
				SQLITE_STATIC);
		(void)sqlite3_step(st);
		sqlite3_finalize(st);
	}
	if (sqlite3_prepare_v2(d->db, "DELETE FROM mailboxes WHERE name = ?1",
				-1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_blob(st, 1, mailbox, (int)strlen(mailbox),
				SQLITE_STATIC);
		(void)sqlite3_step(st);
		sqlite3_finalize(st);
	}
	g_mutex_unlock(&d->lock);
}
