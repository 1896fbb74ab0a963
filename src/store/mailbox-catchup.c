/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A listing kept from before catching up with the server: CONDSTORE's
 * changes since, QRESYNC's expunges, or a flags pass (docs/DESIGN.md,
 * "Listings on disk").
 */
#include "store/mailbox-private.h"

#include <stdlib.h>

static int uid_compare(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* UID FETCH set (UID FLAGS): new flags, and the messages below limit the
 * answer does not name are gone. */
static bool listing_flags_pass(struct listing *listing,
		struct imap_session *session, const char *set, uint32_t limit,
		const struct imap_summary_handlers *handlers,
		struct imap_result *result)
{
	bool condstore = imap_session_enabled(session) &
		IMAP_ENABLED_CONDSTORE;
	GArray *gone;

	listing->seen = g_array_new(FALSE, FALSE, sizeof(uint32_t));
	if (!imap_fetch_flags(session, set, condstore, handlers, result)) {
		g_clear_pointer(&listing->seen, g_array_unref);
		return false;
	}
	qsort(listing->seen->data, listing->seen->len, sizeof(uint32_t),
			uid_compare);
	gone = g_array_new(FALSE, FALSE, sizeof(uint32_t));
	for (size_t i = 0; i < msg_index_count(listing->index); i++) {
		uint32_t uid = msg_index_at(listing->index, i)->uid;

		if (uid < limit && !bsearch(&uid, listing->seen->data,
					listing->seen->len, sizeof(uint32_t),
					uid_compare))
			g_array_append_val(gone, uid);
	}
	for (guint i = 0; i < gone->len; i++)
		msg_index_remove(listing->index,
				g_array_index(gone, uint32_t, i));
	g_array_append_vals(listing->changed, gone->data, gone->len);
	g_array_unref(gone);
	g_clear_pointer(&listing->seen, g_array_unref);
	return true;
}

/* VANISHED (EARLIER): kept until the command ends, when the index is
 * whole again (listing_remove_vanished). */
void listing_vanished(void *ctx, const struct imap_uid_range *ranges,
		size_t count)
{
	struct listing *listing = ctx;

	if (!listing->vanished)
		listing->vanished = g_array_new(FALSE, FALSE,
				sizeof(struct imap_uid_range));
	g_array_append_vals(listing->vanished, ranges, (guint)count);
}

/* The ranges may name UIDs never listed, and any number of them: the
 * index is searched by range, nothing expanded. */
static void listing_remove_vanished(struct listing *listing)
{
	GArray *gone;

	if (!listing->vanished)
		return;
	msg_index_finish(listing->index);
	gone = g_array_new(FALSE, FALSE, sizeof(uint32_t));
	for (guint r = 0; r < listing->vanished->len; r++) {
		const struct imap_uid_range *range = &g_array_index(
				listing->vanished, struct imap_uid_range, r);

		for (size_t i = msg_index_lower_bound(listing->index,
					range->first);
				i < msg_index_count(listing->index) &&
				msg_index_at(listing->index, i)->uid <=
				range->last; i++)
			g_array_append_val(gone,
					msg_index_at(listing->index, i)->uid);
	}
	for (guint i = 0; i < gone->len; i++) {
		if (msg_index_remove(listing->index,
					g_array_index(gone, uint32_t, i)))
			g_array_append_val(listing->changed,
					g_array_index(gone, uint32_t, i));
	}
	g_array_unref(gone);
	g_clear_pointer(&listing->vanished, g_array_unref);
}

/*
 * Bring base's index up to date with the mailbox selected on session:
 * with CONDSTORE, nothing when HIGHESTMODSEQ, UIDNEXT and EXISTS are as
 * they were, else the changes since (RFC 7162 §3.1.4), with QRESYNC the
 * UIDs expunged since too (§3.2.6), and without it the UIDs left only
 * when the count says some went; without CONDSTORE, the messages from
 * the old UIDNEXT on and a flags pass over the rest.
 */
bool listing_catch_up(struct listing *listing,
		struct imap_session *session, const struct listing_base *base,
		const struct imap_summary_handlers *handlers,
		struct imap_result *result)
{
	const struct imap_selected *sel = imap_session_selected(session);
	bool condstore = imap_session_enabled(session) &
		IMAP_ENABLED_CONDSTORE;
	bool qresync = imap_session_enabled(session) & IMAP_ENABLED_QRESYNC;
	uint32_t exists = sel->exists;
	size_t count = msg_index_count(listing->index);
	uint32_t next = base->uidnext;
	bool passed = false;

	if (count > 0 && msg_index_at(listing->index, count - 1)->uid >= next)
		next = msg_index_at(listing->index, count - 1)->uid + 1;
	if (condstore && base->highestmodseq && sel->highestmodseq) {
		bool changed = sel->highestmodseq != base->highestmodseq ||
			sel->uidnext != base->uidnext || exists != count;

		/* Even into an empty mailbox: the UIDs that left. */
		if (changed && qresync) {
			bool ok = imap_fetch_summaries_vanished(session,
					base->highestmodseq, handlers, result);

			listing_remove_vanished(listing);
			if (!ok)
				return false;
		} else if (changed && exists > 0 &&
				!imap_fetch_summaries_since(session, "1:*", true,
					base->highestmodseq, handlers, result)) {
			return false;
		}
	} else {
		char set[32];

		if (exists > 0 && (sel->uidnext == 0 || sel->uidnext > next)) {
			g_snprintf(set, sizeof(set), "%u:*", next);
			if (!imap_fetch_summaries(session, set, condstore,
						handlers, result))
				return false;
		}
		if (next > 1 && exists > 0) {
			g_snprintf(set, sizeof(set), "1:%u", next - 1);
			if (!listing_flags_pass(listing, session, set, next,
						handlers, result))
				return false;
			passed = true;
		}
	}
	msg_index_finish(listing->index);
	if (!passed && msg_index_count(listing->index) !=
			imap_session_selected(session)->exists) {
		if (imap_session_selected(session)->exists == 0) {
			/* Empty now: every message went. */
			while (msg_index_count(listing->index) > 0) {
				uint32_t uid = msg_index_at(listing->index,
						0)->uid;

				msg_index_remove(listing->index, uid);
				g_array_append_val(listing->changed, uid);
			}
			return true;
		}
		if (!listing_flags_pass(listing, session, "1:*", UINT32_MAX,
					handlers, result))
			return false;
		msg_index_finish(listing->index);
	}
	return true;
}
