/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What a mailbox's index says (lookups, directory listings, status), and
 * the news a session brings between listings.
 */
#include "store/mailbox-private.h"

#include <errno.h>
#include <string.h>

/* --- reading the index ---------------------------------------------------- */

int store_mailbox_message(struct store_mailbox *mb, uint32_t uid,
		struct store_message *msg)
{
	const struct msg_entry *entry;
	int errnum = ENOENT;

	memset(msg, 0, sizeof(*msg));
	g_mutex_lock(&mb->lock);
	if (mb->index && (entry = msg_index_find(mb->index, uid))) {
		msg->uidvalidity = mb->uidvalidity;
		msg->entry = *entry;
		msg->flags = msg_index_format_flags(mb->index, entry);
		msg->keywords = g_strdupv((char **)msg_index_keywords(
					mb->index, entry->keywords));
		errnum = 0;
	}
	g_mutex_unlock(&mb->lock);
	return errnum;
}

void store_message_clear(struct store_message *msg)
{
	g_clear_pointer(&msg->flags, g_free);
	g_clear_pointer(&msg->keywords, g_strfreev);
}

int store_mailbox_status(struct store_mailbox *mb,
		struct store_mailbox_status *status)
{
	memset(status, 0, sizeof(*status));
	g_mutex_lock(&mb->lock);
	if (!mb->index) {
		g_mutex_unlock(&mb->lock);
		return ENOENT;
	}
	status->uidvalidity = mb->uidvalidity;
	status->uidnext = mb->uidnext;
	status->highestmodseq = mb->highestmodseq;
	status->messages = (uint32_t)msg_index_count(mb->index);
	for (size_t i = 0; i < msg_index_count(mb->index); i++) {
		const struct msg_entry *e = msg_index_at(mb->index, i);

		if (!(e->flags & MSG_FLAG_SEEN))
			status->unseen++;
		/* UIDNEXT came with SELECT; mail may have arrived since. */
		if (e->uid >= status->uidnext)
			status->uidnext = e->uid + 1;
	}
	g_mutex_unlock(&mb->lock);
	return 0;
}

GArray *store_mailbox_snapshot(struct store_mailbox *mb,
		uint32_t *uidvalidity_r)
{
	GArray *copy = g_array_new(FALSE, FALSE, sizeof(struct msg_entry));

	g_mutex_lock(&mb->lock);
	*uidvalidity_r = mb->uidvalidity;
	if (mb->index && msg_index_count(mb->index) > 0)
		g_array_append_vals(copy, msg_index_at(mb->index, 0),
				(guint)msg_index_count(mb->index));
	g_mutex_unlock(&mb->lock);
	return copy;
}

size_t store_mailbox_neighbours(struct store_mailbox *mb,
		uint32_t uidvalidity, uint32_t uid, int direction,
		uint32_t *uids, size_t max)
{
	size_t n = 0, count, pos;

	g_mutex_lock(&mb->lock);
	if (!mb->index || mb->uidvalidity != uidvalidity)
		goto out;
	count = msg_index_count(mb->index);
	pos = msg_index_lower_bound(mb->index, uid);
	if (direction > 0) {
		if (pos < count && msg_index_at(mb->index, pos)->uid == uid)
			pos++;
		while (pos < count && n < max)
			uids[n++] = msg_index_at(mb->index, pos++)->uid;
	} else {
		while (pos > 0 && n < max)
			uids[n++] = msg_index_at(mb->index, --pos)->uid;
	}
out:
	g_mutex_unlock(&mb->lock);
	return n;
}

/* --- news from the server ------------------------------------------------- */

void store_mailbox_apply_flags(struct store_mailbox *mb, uint32_t uidvalidity,
		uint32_t uid, const struct imap_flag_list *flags, uint64_t modseq)
{
	struct msg_entry *entry;

	g_mutex_lock(&mb->lock);
	if (mb->index && mb->uidvalidity == uidvalidity &&
			(entry = msg_index_find(mb->index, uid))) {
		uint8_t f;
		uint32_t kw;

		if (msg_index_parse_flags(mb->index, flags, &f, &kw)) {
			entry->flags = f;
			entry->keywords = kw;
		}
		if (modseq > entry->modseq)
			entry->modseq = modseq;
	}
	g_mutex_unlock(&mb->lock);
}

void store_mailbox_apply_expunge(struct store_mailbox *mb,
		uint32_t uidvalidity, uint32_t uid)
{
	bool removed = false;

	g_mutex_lock(&mb->lock);
	if (mb->index && mb->uidvalidity == uidvalidity)
		removed = msg_index_remove(mb->index, uid);
	/* The listing under way may have had this message's FETCH
	 * already (see listing_news_apply). */
	if (mb->listing) {
		struct listing_expunge x = { uidvalidity, uid };

		if (!mb->listing_expunged)
			mb->listing_expunged = g_array_new(FALSE, FALSE,
					sizeof(x));
		g_array_append_val(mb->listing_expunged, x);
	}
	g_mutex_unlock(&mb->lock);
	if (removed)
		store_account_messages_gone(mb->account, mb->raw_name, &uid, 1);
}

void store_mailbox_apply_exists(struct store_mailbox *mb,
		uint32_t uidvalidity, uint32_t count)
{
	g_mutex_lock(&mb->lock);
	/* New mail (or a count we cannot explain): list again next time. */
	if (mb->index && (mb->uidvalidity != uidvalidity ||
				msg_index_count(mb->index) != count))
		mb->listed_at = 0;
	/* ... which the listing under way must not undo by installing an
	 * index that predates it (see listing_news_apply). */
	if (mb->listing) {
		mb->listing_exists_seen = true;
		mb->listing_exists = count;
		mb->listing_exists_uidvalidity = uidvalidity;
	}
	g_mutex_unlock(&mb->lock);
}
