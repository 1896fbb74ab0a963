/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A mailbox's message index: listing it from the server and keeping it up
 * to date with what the server tells us.
 */
#include "store/mailbox-private.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "imap/datetime.h"
#include "imap/fetchops.h"
#include "imap/pool.h"
#include "log.h"
#include "store/indexdb.h"

struct store_mailbox *store_mailbox_new(struct store_account *account,
		const char *raw_name)
{
	struct store_mailbox *mailbox = g_new0(struct store_mailbox, 1);

	mailbox->account = account;
	mailbox->raw_name = g_strdup(raw_name);
	/* Until a listing brings the MAILBOXID (where the server has
	 * OBJECTID), the name; nothing is fetched before that listing. */
	mailbox->cache_id = body_cache_identity(raw_name, NULL);
	mailbox->retired_ids = g_ptr_array_new_with_free_func(g_free);
	g_mutex_init(&mailbox->lock);
	g_cond_init(&mailbox->changed);
	mailbox->fetching = g_hash_table_new(g_direct_hash, g_direct_equal);
	return mailbox;
}

void store_mailbox_free(struct store_mailbox **mailbox)
{
	struct store_mailbox *mb = *mailbox;

	if (!mb)
		return;
	msg_index_free(&mb->index);
	g_clear_pointer(&mb->listing_expunged, g_array_unref);
	g_clear_pointer(&mb->unsaved, g_array_unref);
	g_hash_table_destroy(mb->fetching);
	g_mutex_clear(&mb->lock);
	g_cond_clear(&mb->changed);
	g_free(mb->raw_name);
	g_free(mb->cache_id);
	g_ptr_array_unref(mb->retired_ids);
	g_free(mb);
	*mailbox = NULL;
}

const char *store_mailbox_name(const struct store_mailbox *mailbox)
{
	return mailbox->raw_name;
}

const char *store_mailbox_cache_id(struct store_mailbox *mb)
{
	return __atomic_load_n(&mb->cache_id, __ATOMIC_ACQUIRE);
}

/* The identity in the cache of what a session has selected under the
 * mailbox's name (g_free it). */
static char *mailbox_identity(const struct store_mailbox *mb,
		const struct imap_selected *sel)
{
	return body_cache_identity(mb->raw_name, sel->mailboxid);
}

void store_mailbox_set_identity_locked(struct store_mailbox *mb,
		char *identity)
{
	/* Back to an earlier one (a server that sends MAILBOXID only now
	 * and then): reuse it, so that the retired ones stay few. */
	for (guint i = 0; i < mb->retired_ids->len; i++) {
		if (strcmp(g_ptr_array_index(mb->retired_ids, i),
					identity) == 0) {
			g_free(identity);
			identity = g_ptr_array_steal_index_fast(
					mb->retired_ids, i);
			break;
		}
	}
	g_ptr_array_add(mb->retired_ids, mb->cache_id);
	__atomic_store_n(&mb->cache_id, identity, __ATOMIC_RELEASE);
}

/*
 * cache_id if the session has selected the mailbox that the index
 * describes, else NULL.  With MAILBOXID, a session may still see one that
 * has since left the name (renamed away: RFC 8474 §4 keeps its
 * MAILBOXID), at an equal UIDVALIDITY, or the index may predate the one
 * now under the name.  Either way, bytes from that session must not be
 * cached under this identity: another mailbox's messages would be served
 * for these.  The check and the identity returned are one step under the
 * lock, so that a listing on another thread cannot move the identity in
 * between.
 */
const char *store_mailbox_session_cache_id(struct store_mailbox *mb,
		const struct imap_session *session)
{
	char *identity = mailbox_identity(mb, imap_session_selected(session));
	const char *same;

	g_mutex_lock(&mb->lock);
	same = strcmp(identity, mb->cache_id) == 0 ? mb->cache_id : NULL;
	g_mutex_unlock(&mb->lock);
	g_free(identity);
	return same;
}

/* --- listing ------------------------------------------------------------ */

/* The listing moved on: those waiting for it extend their deadline. */
static void listing_progress(struct store_mailbox *mb)
{
	__atomic_store_n(&mb->list_progress_at, g_get_monotonic_time(),
			__ATOMIC_RELAXED);
}

static void listing_moved(void *ctx)
{
	struct listing *listing = ctx;

	listing_progress(listing->mb);
}

static void listing_malformed(struct listing *listing)
{
	/* A listing with holes must not pass for a complete one: the
	 * messages missing would look expunged. */
	log_warning("mailbox listing: malformed FETCH response");
	listing->malformed = true;
}

/* A summary of a message the index has: only its flags change
 * (RFC 3501 §2.3: the rest of a message never does). */
static void listing_update(struct listing *listing, struct msg_entry *entry,
		const struct imap_summary *s)
{
	uint8_t flags;
	uint32_t keywords;

	if (!s->flags || !msg_index_parse_flags(listing->index, s->flags,
				&flags, &keywords)) {
		listing_malformed(listing);
		return;
	}
	if (entry->flags != flags || entry->keywords != keywords ||
			s->modseq > entry->modseq) {
		entry->flags = flags;
		entry->keywords = keywords;
		if (s->modseq > entry->modseq)
			entry->modseq = s->modseq;
		g_array_append_val(listing->changed, entry->uid);
	}
}

static void listing_summary(void *ctx, const struct imap_summary *s)
{
	struct listing *listing = ctx;
	struct msg_entry entry = { 0 };
	int zone = 0;

	if (listing->updating && s->uid != 0) {
		struct msg_entry *known = msg_index_find(listing->index,
				s->uid);

		if (listing->seen)
			g_array_append_val(listing->seen, s->uid);
		if (known) {
			listing_update(listing, known, s);
			return;
		}
		/* New since the flags pass began: the next listing. */
		if (!s->size_valid && listing->seen)
			return;
	}
	if (s->uid == 0 || !s->size_valid || !s->internaldate ||
			!imap_parse_internaldate(s->internaldate,
				&entry.internaldate, &zone) ||
			!s->flags || !msg_index_parse_flags(listing->index,
				s->flags, &entry.flags, &entry.keywords)) {
		listing_malformed(listing);
		return;
	}
	entry.uid = s->uid;
	entry.size = s->size;
	entry.modseq = s->modseq;
	entry.zone_minutes = (int16_t)zone;
	msg_index_append(listing->index, &entry);
	if (listing->changed)
		g_array_append_val(listing->changed, entry.uid);
}

int store_mailbox_session(struct store_mailbox *mb, const char *doing,
		bool sync, bool write, struct imap_session **session_r)
{
	struct imap_pool *pool = store_account_pool(mb->account);
	struct imap_result result;
	GError *error = NULL;

	*session_r = imap_pool_acquire(pool, mb->raw_name, &error);
	if (!*session_r) {
		int errnum = g_error_matches(error, IMAP_TRANSPORT_ERROR,
				IMAP_TRANSPORT_ERROR_TIMEOUT) ? ETIMEDOUT : EIO;

		log_warning("cannot %s %s: %s", doing, mb->raw_name,
				error->message);
		g_error_free(error);
		return errnum;
	}
	/* A session keeps its own view of a selected mailbox until the
	 * server tells it what changed, which FETCH need not do, and a view
	 * of a mailbox deleted and created again may never catch up: for a
	 * listing, the mailbox is opened afresh. */
	if (sync)
		imap_session_forget_selected(*session_r);
	if (!imap_session_select(*session_r, mb->raw_name, !write, &result))
		goto failed;
	/* A listing learns the identity; anything else must be talking to
	 * the mailbox listed.  An older view is opened afresh; when the
	 * mailbox under the name has changed since the listing, nothing is
	 * fetched until it is listed again. */
	if (!sync && !store_mailbox_session_cache_id(mb, *session_r)) {
		imap_session_forget_selected(*session_r);
		if (!imap_session_select(*session_r, mb->raw_name, !write,
					&result))
			goto failed;
		if (!store_mailbox_session_cache_id(mb, *session_r)) {
			log_info("%s: another mailbox under this name since "
					"it was listed; listing it again",
					mb->raw_name);
			g_mutex_lock(&mb->lock);
			mb->listed_at = 0;
			g_mutex_unlock(&mb->lock);
			imap_pool_release(pool, *session_r);
			*session_r = NULL;
			return ESTALE;
		}
	}
	return 0;
failed:
	log_warning("cannot %s %s: %s", doing, mb->raw_name, result.text);
	imap_pool_release(pool, *session_r);
	*session_r = NULL;
	return imap_result_errno(&result);
}

/* Ask the server for the index: caught up from base when base is of the
 * same mailbox, else whole.  *changed_r: the UIDs that changed, or NULL
 * for all.  No lock held. */
static int mailbox_list_from_server(struct store_mailbox *mb,
		struct listing_base *base, struct msg_index **index_r,
		struct imap_selected *selected_r, GArray **changed_r)
{
	struct imap_pool *pool = store_account_pool(mb->account);
	struct listing listing = { .mb = mb };
	const struct imap_summary_handlers handlers = {
		.summary = listing_summary,
		.progress = listing_moved,
		.vanished = listing_vanished,
		.ctx = &listing,
	};
	struct imap_session *session;
	struct imap_result result;
	const struct imap_selected *sel;
	uint64_t highestmodseq;
	uint32_t exists;
	int errnum;

	*changed_r = NULL;
	/* News that came before the EXAMINE below is in its answer; what
	 * comes from now on is recorded for mailbox_install(). */
	g_mutex_lock(&mb->lock);
	g_clear_pointer(&mb->listing_expunged, g_array_unref);
	mb->listing_news = false;
	mb->listing_outdated = false;
	mb->listing_exists_seen = false;
	g_mutex_unlock(&mb->lock);

	errnum = store_mailbox_session(mb, "list", true, false,
			&session);
	if (errnum)
		return errnum;
	listing_progress(mb);
	sel = imap_session_selected(session);
	if (sel->uidvalidity == 0) {
		log_warning("cannot list %s: server sent no UIDVALIDITY",
				mb->raw_name);
		errnum = EIO;
		goto out;
	}
	/* What the listing reflects: a change made while it runs has a
	 * higher MODSEQ, so the next one asks for it again. */
	highestmodseq = sel->highestmodseq;
	exists = sel->exists;
	if (base->index && sel->uidvalidity == base->uidvalidity) {
		char *identity = mailbox_identity(mb, sel);

		if (strcmp(identity, base->identity) == 0) {
			listing.index = g_steal_pointer(&base->index);
			listing.updating = true;
			listing.changed = g_array_new(FALSE, FALSE,
					sizeof(uint32_t));
		}
		g_free(identity);
	}
	if (listing.updating) {
		if (!listing_catch_up(&listing, session, base, &handlers,
					&result))
			goto failed;
	} else {
		listing.index = msg_index_new();
		if (exists > 0 && !imap_fetch_summaries(session, "1:*",
					imap_session_enabled(session) &
					IMAP_ENABLED_CONDSTORE, &handlers,
					&result))
			goto failed;
	}
	/* Half an index would show messages as missing. */
	if (listing.malformed) {
		errnum = EIO;
		goto out;
	}
	/* An EXPUNGE of a message whose FETCH had not come yet names no
	 * UID, but it changes the count. */
	if (imap_session_selected(session)->exists != exists) {
		g_mutex_lock(&mb->lock);
		mb->listing_news = true;
		g_mutex_unlock(&mb->lock);
	}
	*selected_r = *imap_session_selected(session);
	selected_r->name = NULL;
	selected_r->highestmodseq = highestmodseq;
	msg_index_finish(listing.index);
	*index_r = g_steal_pointer(&listing.index);
	*changed_r = g_steal_pointer(&listing.changed);
	goto out;
failed:
	log_warning("cannot list %s: %s", mb->raw_name, result.text);
	errnum = imap_result_errno(&result);
out:
	imap_pool_release(pool, session);
	msg_index_free(&listing.index);
	g_clear_pointer(&listing.changed, g_array_unref);
	return errnum;
}

/* UIDs of old that are not in new (both sorted): the messages that left,
 * or, across a UIDVALIDITY change, every old one. */
static GArray *uids_gone(struct msg_index *old, uint32_t old_uidvalidity,
		struct msg_index *new, uint32_t new_uidvalidity)
{
	GArray *gone = g_array_new(FALSE, FALSE, sizeof(uint32_t));
	size_t j = 0, n = new ? msg_index_count(new) : 0;

	if (!old)
		return gone;
	for (size_t i = 0; i < msg_index_count(old); i++) {
		uint32_t uid = msg_index_at(old, i)->uid;

		if (old_uidvalidity == new_uidvalidity) {
			while (j < n && msg_index_at(new, j)->uid < uid)
				j++;
			if (j < n && msg_index_at(new, j)->uid == uid)
				continue;
		}
		g_array_append_val(gone, uid);
	}
	return gone;
}

/*
 * What the server said while the listing was under way, which its answer
 * may predate: an EXPUNGE may come in the middle of a UID FETCH (RFC 3501
 * §7.4.1) after that message's FETCH, and an EXISTS may announce mail the
 * FETCH did not include.  UIDs are never reused under one UIDVALIDITY
 * (RFC 3501 §2.3.1.1), so removing the expunged ones is right whichever
 * came first.  A count that still disagrees with the index after such news
 * means something was missed: the index is marked stale, to be listed
 * again at the next access.  Without news, a disagreement is the server's
 * own (an EXISTS its FETCH does not bear out), which listing again would
 * not mend, so it is not a reason to list on every access.
 */
static bool listing_news_apply(struct store_mailbox *mb,
		struct msg_index *index, const struct imap_selected *sel)
{
	bool news = mb->listing_news;
	size_t count;

	if (mb->listing_expunged) {
		for (guint i = 0; i < mb->listing_expunged->len; i++) {
			const struct listing_expunge *x = &g_array_index(
					mb->listing_expunged,
					struct listing_expunge, i);

			if (x->uidvalidity == sel->uidvalidity)
				msg_index_remove(index, x->uid);
		}
		news = true;
		g_clear_pointer(&mb->listing_expunged, g_array_unref);
	}
	count = msg_index_count(index);
	if (mb->listing_exists_seen && (mb->listing_exists != count ||
				mb->listing_exists_uidvalidity !=
				sel->uidvalidity))
		return false;
	return !news || sel->exists == count;
}

/* Returns the UIDs that are gone (g_array_unref it). */
static GArray *mailbox_install(struct store_mailbox *mb,
		struct msg_index *index, const struct imap_selected *sel)
{
	struct body_cache *cache = store_account_cache(mb->account);
	/* The first listing from the server in this process: an index kept
	 * on disk says nothing of what the cache holds. */
	bool first = !mb->server_listed;
	bool fresh = listing_news_apply(mb, index, sel) &&
		!mb->listing_outdated;
	char *identity = mailbox_identity(mb, sel);
	bool moved = strcmp(identity, mb->cache_id) != 0;
	/* Another mailbox under the name: none of the old UIDs are its. */
	GArray *gone = uids_gone(mb->index, mb->uidvalidity, index,
			moved ? 0 : sel->uidvalidity);

	if (moved) {
		char *by_name = body_cache_identity(mb->raw_name, NULL);

		if (!first && *sel->mailboxid)
			log_info("%s: another mailbox under this name "
					"(MAILBOXID %s); cached bodies of the "
					"old one are not used for it",
					mb->raw_name, sel->mailboxid);
		else if (!first)
			log_info("%s: no MAILBOXID any more; cached bodies "
					"are looked up by name", mb->raw_name);
		/* Bodies kept under the name date from before the server
		 * had OBJECTID, and no mailbox looks there while it has:
		 * all go (0 is no UIDVALIDITY).  Those under an older
		 * MAILBOXID stay: that mailbox may live on under another
		 * name, where it finds them. */
		if (*sel->mailboxid && strcmp(mb->cache_id, by_name) == 0)
			body_cache_drop_stale(cache, by_name, 0);
		g_free(by_name);
		store_mailbox_set_identity_locked(mb, identity);
	} else {
		g_free(identity);
	}
	if (mb->uidvalidity != 0 && mb->uidvalidity != sel->uidvalidity)
		log_info("%s: UIDVALIDITY changed from %u to %u; its cache "
				"is discarded", mb->raw_name, mb->uidvalidity,
				sel->uidvalidity);
	/* Under one identity, UIDs of another UIDVALIDITY are other
	 * messages (RFC 3501 §2.3.1.1), whoever cached them. */
	if (first || moved || mb->uidvalidity != sel->uidvalidity)
		body_cache_drop_stale(cache, mb->cache_id, sel->uidvalidity);
	msg_index_free(&mb->index);
	mb->index = index;
	mb->uidvalidity = sel->uidvalidity;
	mb->uidnext = sel->uidnext;
	mb->highestmodseq = sel->highestmodseq;
	g_strlcpy(mb->mailboxid, sel->mailboxid, sizeof(mb->mailboxid));
	mb->server_listed = true;
	mb->listed_at = fresh ? g_get_monotonic_time() : 0;
	if (!fresh)
		log_debug(LOG_AREA_STORE, "%s: changed while listed; listing "
				"again at next access", mb->raw_name);
	mb->listing_news = false;
	mb->listing_outdated = false;
	mb->listing_exists_seen = false;
	return gone;
}

/* What a listing of mb starts from (see struct listing_base).  Under the
 * lock. */
static void listing_base_locked(struct store_mailbox *mb,
		struct listing_base *base)
{
	memset(base, 0, sizeof(*base));
	if (!mb->index || mb->uidvalidity == 0)
		return;
	base->index = msg_index_copy(mb->index);
	base->uidvalidity = mb->uidvalidity;
	base->uidnext = mb->uidnext;
	base->highestmodseq = mb->highestmodseq;
	base->identity = g_strdup(mb->cache_id);
}

/* Runs on one of the account's threads: one listing per mailbox at a
 * time, installed for everyone, whether or not anybody still waits. */
static void mailbox_list_job(struct store_job *job)
{
	struct store_mailbox *mb = (struct store_mailbox *)(void *)
		((char *)job - offsetof(struct store_mailbox, list_job));
	struct msg_index *index = NULL;
	struct imap_selected sel = { 0 };
	struct listing_base base;
	GArray *gone = NULL, *changed = NULL;
	int errnum;

	g_mutex_lock(&mb->lock);
	listing_base_locked(mb, &base);
	g_mutex_unlock(&mb->lock);
	if (store_job_queued_too_long(mb->account, job)) {
		log_warning("cannot list %s: every connection stayed busy",
				mb->raw_name);
		errnum = ETIMEDOUT;
	} else {
		errnum = mailbox_list_from_server(mb, &base, &index, &sel,
				&changed);
	}
	msg_index_free(&base.index);
	g_free(base.identity);

	g_mutex_lock(&mb->lock);
	mb->listing = false;
	mb->list_generation++;
	mb->list_errnum = errnum;
	if (errnum == 0) {
		gone = mailbox_install(mb, index, &sel);
	} else if (errnum == ENOENT) {
		/* The server says the mailbox is no more: so are its
		 * messages. */
		gone = uids_gone(mb->index, mb->uidvalidity, NULL, 0);
		msg_index_free(&mb->index);
		mb->uidvalidity = 0;
		mb->listed_at = 0;
	}
	g_cond_broadcast(&mb->changed);
	g_mutex_unlock(&mb->lock);
	if (gone) {
		store_account_messages_gone(mb->account, mb->raw_name,
				(const uint32_t *)(void *)gone->data, gone->len);
		g_array_unref(gone);
	}
	/* After the waiters are answered: they need not wait for the
	 * disk. */
	if (errnum == 0)
		store_mailbox_save(mb, changed);
	else if (errnum == ENOENT)
		index_db_forget(store_account_index_db(mb->account),
				mb->raw_name);
	else
		g_clear_pointer(&changed, g_array_unref);
}

/* How long a waiter gives a listing that shows no progress: it may have
 * to wait for a connection, open one (connect, TLS, login) and EXAMINE,
 * each step bounded by the timeout. */
#define LIST_WAIT_TIMEOUTS 5

int store_mailbox_ensure_listed(struct store_mailbox *mb, int max_age_s,
		struct store_cancel *cancel)
{
	gint64 patience = (gint64)LIST_WAIT_TIMEOUTS *
		store_account_config(mb->account)->session.timeout_ms * 1000;
	unsigned generation;
	int errnum;

	g_mutex_lock(&mb->lock);
	if (!mb->index && !mb->disk_tried) {
		mb->disk_tried = true;
		store_mailbox_load_locked(mb);
	}
	/* A listing from disk is not one "listed once": the server has not
	 * been asked yet. */
	if (mb->index && ((max_age_s < 0 && mb->server_listed) ||
				(mb->listed_at != 0 &&
			g_get_monotonic_time() - mb->listed_at <=
			(gint64)max_age_s * G_USEC_PER_SEC))) {
		g_mutex_unlock(&mb->lock);
		return 0;
	}
	if (!mb->listing) {
		mb->listing = true;
		listing_progress(mb);
		mb->list_job.run = mailbox_list_job;
		store_account_submit(mb->account, &mb->list_job);
	}
	generation = mb->list_generation;
	g_mutex_unlock(&mb->lock);

	/* Whoever started it, this thread only waits: with a deadline that
	 * moves with the listing's progress, and a way out. */
	store_cancel_wait_begin(cancel, &mb->lock, &mb->changed);
	g_mutex_lock(&mb->lock);
	while (mb->list_generation == generation) {
		gint64 deadline = __atomic_load_n(&mb->list_progress_at,
				__ATOMIC_RELAXED) + patience;

		if (store_cancel_fired(cancel)) {
			errnum = ECANCELED;
			goto out;
		}
		if (g_get_monotonic_time() >= deadline) {
			log_warning("cannot list %s: no progress for %d s",
					mb->raw_name, (int)(patience /
						G_USEC_PER_SEC));
			errnum = ETIMEDOUT;
			goto out;
		}
		g_cond_wait_until(&mb->changed, &mb->lock, deadline);
	}
	/* A failed listing leaves the old index: stale beats nothing while
	 * the server is away. */
	errnum = mb->index ? 0 : mb->list_errnum;
out:
	g_mutex_unlock(&mb->lock);
	store_cancel_wait_end(cancel);
	return errnum;
}

void store_mailbox_invalidate(struct store_mailbox *mb)
{
	g_mutex_lock(&mb->lock);
	mb->listed_at = 0;
	if (mb->listing)
		mb->listing_outdated = true;
	g_mutex_unlock(&mb->lock);
}
