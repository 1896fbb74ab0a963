/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A mailbox's listing kept on disk (store/indexdb.h): loaded at its first
 * use, written after each listing and at unmount (docs/DESIGN.md,
 * "Listings on disk").
 */
#include "store/mailbox-private.h"

#include <string.h>

#include "log.h"
#include "store/indexdb.h"

/* The mailbox's header as kept on disk.  Under the lock. */
static void mailbox_header_locked(const struct store_mailbox *mb,
		struct index_db_mailbox *header)
{
	memset(header, 0, sizeof(*header));
	header->uidvalidity = mb->uidvalidity;
	header->uidnext = mb->uidnext;
	header->highestmodseq = mb->highestmodseq;
	g_strlcpy(header->mailboxid, mb->mailboxid,
			sizeof(header->mailboxid));
}

void store_mailbox_save(struct store_mailbox *mb, GArray *changed)
{
	struct index_db *db = store_account_index_db(mb->account);
	struct index_db_mailbox header;
	struct msg_index *copy;

	if (!db) {
		g_clear_pointer(&changed, g_array_unref);
		return;
	}
	g_mutex_lock(&mb->lock);
	if (!mb->index || !mb->server_listed) {
		g_mutex_unlock(&mb->lock);
		g_clear_pointer(&changed, g_array_unref);
		return;
	}
	copy = msg_index_copy(mb->index);
	mailbox_header_locked(mb, &header);
	if (changed && mb->unsaved)
		g_array_append_vals(changed, mb->unsaved->data,
				mb->unsaved->len);
	g_clear_pointer(&mb->unsaved, g_array_unref);
	g_mutex_unlock(&mb->lock);
	index_db_save(db, mb->raw_name, &header, copy,
			changed ? (const uint32_t *)(void *)changed->data :
			NULL, changed ? changed->len : 0);
	msg_index_free(&copy);
	g_clear_pointer(&changed, g_array_unref);
}

void store_mailbox_persist(struct store_mailbox *mb)
{
	GArray *changed;

	g_mutex_lock(&mb->lock);
	if (!mb->unsaved || mb->unsaved->len == 0) {
		g_mutex_unlock(&mb->lock);
		return;
	}
	g_mutex_unlock(&mb->lock);
	changed = g_array_new(FALSE, FALSE, sizeof(uint32_t));
	store_mailbox_save(mb, changed);
}

void store_mailbox_unsaved_locked(struct store_mailbox *mb, uint32_t uid)
{
	if (!mb->unsaved)
		mb->unsaved = g_array_new(FALSE, FALSE, sizeof(uint32_t));
	g_array_append_val(mb->unsaved, uid);
}

void store_mailbox_load_locked(struct store_mailbox *mb)
{
	struct index_db *db = store_account_index_db(mb->account);
	struct index_db_mailbox header;
	struct msg_index *index;
	char *identity;

	if (!index_db_load(db, mb->raw_name, &header, &index))
		return;
	mb->index = index;
	mb->uidvalidity = header.uidvalidity;
	mb->uidnext = header.uidnext;
	mb->highestmodseq = header.highestmodseq;
	g_strlcpy(mb->mailboxid, header.mailboxid, sizeof(mb->mailboxid));
	identity = body_cache_identity(mb->raw_name, header.mailboxid);
	if (strcmp(identity, mb->cache_id) != 0)
		store_mailbox_set_identity_locked(mb, identity);
	else
		g_free(identity);
	mb->listed_at = 0;
	log_debug(LOG_AREA_STORE, "%s: %zu messages from the listing kept "
			"on disk", mb->raw_name, msg_index_count(index));
}
