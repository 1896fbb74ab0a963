/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Removing, moving and appending messages, and what is done when the
 * connection breaks before the server has said how a change went
 * (docs/DESIGN.md, "Unknown outcomes"): the state is looked at on a new
 * connection, and the change is sent again only if it did not happen.
 */
#include "store/changes.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "imap/fetchops.h"
#include "imap/pool.h"
#include "log.h"
#include "store/mailbox-private.h"

static const char *const deleted_flag[] = { "\\Deleted", NULL };

/* The destination of a move, or of an APPEND, changed: it is listed
 * again at its next use. */
static void mailbox_grew(struct store_mailbox *mb)
{
	store_mailbox_invalidate(mb);
}

/* A read-write session on the message's mailbox, checked to be the one
 * the UID belongs to. */
static int message_session(struct store_mailbox *mb, uint32_t uidvalidity,
		const char *doing, struct imap_session **session_r)
{
	int errnum = store_mailbox_session(mb, doing, false, true, session_r);

	if (errnum)
		return errnum == ESTALE ? ENOENT : errnum;
	if (imap_session_selected(*session_r)->uidvalidity != uidvalidity) {
		imap_pool_release(store_account_pool(mb->account), *session_r);
		*session_r = NULL;
		return ENOENT;
	}
	if (imap_session_selected(*session_r)->read_only) {
		imap_pool_release(store_account_pool(mb->account), *session_r);
		*session_r = NULL;
		return EACCES;
	}
	return 0;
}

/* Whether the selected mailbox still holds uid: 1, 0, or -errno. */
static int uid_present(struct imap_session *session, uint32_t uid)
{
	GArray *found = g_array_new(FALSE, FALSE, sizeof(uint32_t));
	struct imap_result result;
	int present;

	if (imap_uid_present(session, &uid, 1, found, &result))
		present = found->len > 0;
	else
		present = -imap_result_errno(&result);
	g_array_unref(found);
	return present;
}

/*
 * \Deleted, then UID EXPUNGE of that UID alone: another client's \Deleted
 * messages stay.  A lost answer to either is checked on a new connection:
 * the STORE is sent again (the same either way), and the EXPUNGE only if
 * the message is still there.
 */
static int expunge_one(struct store_mailbox *mb, uint32_t uidvalidity,
		uint32_t uid)
{
	struct imap_pool *pool = store_account_pool(mb->account);
	struct imap_session *session;
	struct imap_result result;
	int errnum;

	for (int attempt = 0;; attempt++) {
		errnum = message_session(mb, uidvalidity, "remove from",
				&session);
		if (errnum)
			return errnum;
		if (!(imap_session_capabilities(session) & IMAP_CAP_UIDPLUS)) {
			/* Only a plain EXPUNGE is left, which would take
			 * every \Deleted message, not just this one. */
			log_warning("cannot remove from %s: the server has no "
					"UIDPLUS, and imapfs never expunges "
					"what it was not asked to",
					mb->raw_name);
			imap_pool_release(pool, session);
			return EPERM;
		}
		if (attempt > 0) {
			int present = uid_present(session, uid);

			if (present == 0) {
				imap_pool_release(pool, session);
				return 0;	/* it was done */
			}
			if (present < 0) {
				imap_pool_release(pool, session);
				return -present;
			}
		}
		if (imap_store_flags(session, &uid, 1, IMAP_FLAGS_ADD,
					deleted_flag, &result) &&
				imap_uid_expunge(session, &uid, 1, &result)) {
			imap_pool_release(pool, session);
			return 0;
		}
		imap_pool_release(pool, session);
		if (result.status != IMAP_RESULT_SESSION || attempt > 0)
			break;
		log_info("connection lost while removing UID %u of %s; "
				"checking what happened", uid, mb->raw_name);
	}
	log_warning("cannot remove UID %u of %s: %s", uid, mb->raw_name,
			result.text);
	return imap_result_errno(&result);
}

/* The mailbox with SPECIAL-USE \Trash (RFC 6154), or NULL. */
static struct store_mailbox *find_trash(struct store_account *account,
		struct store_node *node)
{
	GPtrArray *children = store_node_children(account, node);
	struct store_mailbox *found = NULL;

	for (guint i = 0; !found && i < children->len; i++) {
		struct store_node *child = g_ptr_array_index(children, i);
		char *use = store_node_specialuse(account, child);
		struct store_mailbox *mb = store_node_mailbox(account, child);

		if (use && mb && strstr(use, "\\Trash"))
			found = mb;
		g_free(use);
		if (!found)
			found = find_trash(account, child);
	}
	g_ptr_array_unref(children);
	return found;
}

int store_mailbox_remove(struct store_mailbox *mb, uint32_t uidvalidity,
		uint32_t uid)
{
	const struct store_account_config *cfg =
		store_account_config(mb->account);
	int errnum;

	if (cfg->delete_to_trash) {
		struct store_mailbox *trash = find_trash(mb->account,
				store_account_root(mb->account));
		uint32_t new_uid;

		if (!trash) {
			log_warning("cannot move to the trash: no mailbox "
					"has SPECIAL-USE \\Trash");
			return EPERM;
		}
		/* In the trash already: out for good. */
		if (trash != mb)
			return store_mailbox_move(mb, uidvalidity, uid, trash,
					&new_uid);
	}
	errnum = expunge_one(mb, uidvalidity, uid);
	if (errnum == 0)
		store_mailbox_apply_expunge(mb, uidvalidity, uid);
	return errnum;
}

/* --- finding a message again ------------------------------------------ */

/* How much of a message is read for its Message-ID: its header, in
 * practice. */
#define HEADER_PREFIX (16 * 1024)

/* The Message-ID in the header at the start of a message (RFC 5322
 * §3.6.4), or NULL: what identifies it on the server when an APPEND's or
 * a COPY's answer was lost. */
static char *message_id(const char *buf, size_t len)
{
	char *text = g_strndup(buf, len);
	char *line, *end, *id = NULL;

	for (line = text; *line && *line != '\r' && *line != '\n';) {
		end = strchr(line, '\n');
		if (g_ascii_strncasecmp(line, "Message-ID:", 11) == 0) {
			char *lt = strchr(line + 11, '<');
			char *gt = lt ? strchr(lt, '>') : NULL;

			if (gt && (!end || gt < end) && gt - lt < 990)
				id = g_strndup(lt, (gsize)(gt - lt + 1));
			break;
		}
		if (!end)
			break;
		line = end + 1;
	}
	g_free(text);
	return id;
}

static char *file_message_id(int fd)
{
	char buf[HEADER_PREFIX];
	ssize_t n = pread(fd, buf, sizeof(buf), 0);

	return n > 0 ? message_id(buf, (size_t)n) : NULL;
}

/* The start of a message on the server, into a string (imap_body_sink). */
static bool prefix_begin(void *ctx, uint64_t size)
{
	g_string_truncate(ctx, 0);
	return size <= HEADER_PREFIX;
}

static void prefix_data(void *ctx, const void *data, size_t len)
{
	g_string_append_len(ctx, data, (gssize)len);
}

static bool prefix_end(void *ctx, uint32_t uid, bool keep)
{
	(void)uid;
	if (!keep)
		g_string_truncate(ctx, 0);
	return keep;
}

/* The Message-ID of a message of the selected mailbox, or NULL. */
static char *server_message_id(struct imap_session *session, uint32_t uid)
{
	GString *start = g_string_new(NULL);
	const struct imap_body_sink sink = {
		prefix_begin, prefix_data, prefix_end, start,
	};
	struct imap_body_outcome outcome;
	struct imap_result result;
	char *id = NULL;

	if (imap_fetch_body_start(session, uid, HEADER_PREFIX, &sink,
				&outcome, &result) && outcome.kept)
		id = message_id(start->str, start->len);
	g_string_free(start, TRUE);
	return id;
}

/* --- moving --------------------------------------------------------------- */

/* UID MOVE (RFC 6851).  The answer lost: moved if the source no longer
 * has it (UIDs are never reused), else sent again. */
static int move_native(struct store_mailbox *mb, uint32_t uidvalidity,
		uint32_t uid, struct store_mailbox *dest, uint32_t *new_uid_r)
{
	struct imap_pool *pool = store_account_pool(mb->account);
	struct imap_result result;

	for (int attempt = 0;; attempt++) {
		struct imap_session *session;
		struct imap_copyuid copyuid;
		int errnum = message_session(mb, uidvalidity, "move from",
				&session);
		bool ok;

		if (errnum)
			return errnum;
		if (attempt > 0) {
			int present = uid_present(session, uid);

			if (present <= 0) {
				imap_pool_release(pool, session);
				return -present;	/* 0: it was moved */
			}
		}
		imap_copyuid_init(&copyuid);
		ok = imap_uid_copy(session, &uid, 1, dest->raw_name, true,
				&copyuid, &result);
		imap_pool_release(pool, session);
		if (ok) {
			*new_uid_r = imap_copyuid_lookup(&copyuid, uid);
			imap_copyuid_clear(&copyuid);
			return 0;
		}
		imap_copyuid_clear(&copyuid);
		if (result.status != IMAP_RESULT_SESSION || attempt > 0)
			break;
		log_info("connection lost while moving UID %u of %s; checking "
				"what happened", uid, mb->raw_name);
	}
	log_warning("cannot move UID %u of %s to %s: %s", uid, mb->raw_name,
			dest->raw_name, result.text);
	return imap_result_errno(&result);
}

static int append_landed(struct store_mailbox *mb, uint32_t uidnext,
		const char *id, uint32_t *uid_r);

/*
 * UID COPY, then \Deleted and UID EXPUNGE of the original, which is
 * touched only once the copy is known to be made: the message is never
 * absent from both mailboxes.  A COPY whose answer was lost is looked for
 * in dest by Message-ID among the UIDs from dest's UIDNEXT before it, and
 * sent again only if it is not there; without a Message-ID, EIO with the
 * original untouched.
 */
static int move_emulated(struct store_mailbox *mb, uint32_t uidvalidity,
		uint32_t uid, struct store_mailbox *dest, uint32_t *new_uid_r)
{
	struct imap_pool *pool = store_account_pool(mb->account);
	struct imap_result result;
	char *id = NULL;
	int errnum = 0;

	*new_uid_r = 0;
	for (int attempt = 0;; attempt++) {
		struct imap_mailbox_status status;
		struct imap_session *session;
		struct imap_copyuid copyuid;
		bool ok;

		errnum = message_session(mb, uidvalidity, "move from",
				&session);
		if (errnum)
			goto out;
		if (!(imap_session_capabilities(session) & IMAP_CAP_UIDPLUS)) {
			log_warning("cannot move from %s: the server has "
					"neither MOVE nor UIDPLUS",
					mb->raw_name);
			imap_pool_release(pool, session);
			errnum = EPERM;
			goto out;
		}
		if (!id)
			id = server_message_id(session, uid);
		if (!imap_status(session, dest->raw_name, &status, &result)) {
			imap_pool_release(pool, session);
			errnum = imap_result_errno(&result);
			goto out;
		}
		imap_copyuid_init(&copyuid);
		ok = imap_uid_copy(session, &uid, 1, dest->raw_name, false,
				&copyuid, &result);
		imap_pool_release(pool, session);
		if (ok)
			*new_uid_r = imap_copyuid_lookup(&copyuid, uid);
		imap_copyuid_clear(&copyuid);
		if (ok)
			break;
		if (result.status != IMAP_RESULT_SESSION || attempt > 0) {
			log_warning("cannot copy UID %u of %s to %s: %s", uid,
					mb->raw_name, dest->raw_name,
					result.text);
			errnum = imap_result_errno(&result);
			goto out;
		}
		log_info("connection lost while copying UID %u of %s; "
				"checking whether the copy was made", uid,
				mb->raw_name);
		int landed = append_landed(dest, status.uidnext, id,
				new_uid_r);

		if (landed > 0)
			break;
		if (landed < 0) {
			errnum = -landed;
			goto out;
		}
	}
	errnum = expunge_one(mb, uidvalidity, uid);
out:
	g_free(id);
	return errnum;
}

int store_mailbox_move(struct store_mailbox *mb, uint32_t uidvalidity,
		uint32_t uid, struct store_mailbox *dest, uint32_t *new_uid_r)
{
	struct imap_pool *pool = store_account_pool(mb->account);
	struct imap_session *session;
	bool native;
	int errnum;

	*new_uid_r = 0;
	if (dest == mb)
		return EINVAL;
	errnum = message_session(mb, uidvalidity, "move from", &session);
	if (errnum)
		return errnum;
	native = imap_session_capabilities(session) & IMAP_CAP_MOVE;
	imap_pool_release(pool, session);
	errnum = native ? move_native(mb, uidvalidity, uid, dest, new_uid_r) :
		move_emulated(mb, uidvalidity, uid, dest, new_uid_r);
	if (errnum == 0) {
		store_mailbox_apply_expunge(mb, uidvalidity, uid);
		mailbox_grew(dest);
	}
	return errnum;
}

/* --- appending ------------------------------------------------------------ */

/*
 * After a lost answer: whether the message arrived, by its Message-ID
 * among the UIDs from uidnext on.  1 (and *uid_r), 0, or -errno; with no
 * Message-ID, any new message counts as unknown (-EIO), so that it is
 * never sent twice.
 */
static int append_landed(struct store_mailbox *mb, uint32_t uidnext,
		const char *id, uint32_t *uid_r)
{
	struct imap_pool *pool = store_account_pool(mb->account);
	struct imap_session *session;
	struct imap_result result;
	GArray *found;
	int errnum = store_mailbox_session(mb, "check", true, false, &session);
	int landed;

	if (errnum)
		return -errnum;
	if (imap_session_selected(session)->uidnext <= uidnext) {
		imap_pool_release(pool, session);
		return 0;		/* nothing came in */
	}
	if (!id) {
		log_warning("%s: cannot tell whether the message was stored "
				"(it has no Message-ID)", mb->raw_name);
		imap_pool_release(pool, session);
		return -EIO;
	}
	found = g_array_new(FALSE, FALSE, sizeof(uint32_t));
	if (imap_uid_search_header(session, uidnext, "Message-ID", id, found,
				&result)) {
		/* "n:*" also names the last message when all are below n
		 * (RFC 3501 §9): only the new ones count. */
		landed = 0;
		for (guint i = 0; i < found->len && !landed; i++) {
			if (g_array_index(found, uint32_t, i) >= uidnext) {
				*uid_r = g_array_index(found, uint32_t, i);
				landed = 1;
			}
		}
	} else {
		landed = -imap_result_errno(&result);
	}
	g_array_unref(found);
	imap_pool_release(pool, session);
	return landed;
}

int store_mailbox_append(struct store_mailbox *mb, int fd,
		const char *const *flags, uint32_t *uid_r)
{
	struct imap_pool *pool = store_account_pool(mb->account);
	struct imap_result result;
	char *id = file_message_id(fd);
	int errnum = 0;

	*uid_r = 0;
	for (int attempt = 0;; attempt++) {
		struct imap_mailbox_status status;
		struct imap_appenduid appenduid;
		struct imap_session *session;
		GError *error = NULL;
		bool ok;

		session = imap_pool_acquire(pool, NULL, &error);
		if (!session) {
			log_warning("cannot append to %s: %s", mb->raw_name,
					error->message);
			g_error_free(error);
			errnum = EIO;
			break;
		}
		/* Where new messages start now: what to look at if the
		 * answer is lost (RFC 3501 §2.3.1.1: UIDs only grow). */
		if (!imap_status(session, mb->raw_name, &status, &result)) {
			imap_pool_release(pool, session);
			if (result.status == IMAP_RESULT_SESSION &&
					attempt == 0)
				continue;
			log_warning("cannot append to %s: %s", mb->raw_name,
					result.text);
			errnum = imap_result_errno(&result);
			break;
		}
		ok = imap_append(session, mb->raw_name, fd, flags, &appenduid,
				&result);
		imap_pool_release(pool, session);
		if (ok) {
			if (appenduid.uidvalidity == status.uidvalidity ||
					status.uidvalidity == 0)
				*uid_r = appenduid.uid;
			break;
		}
		if (result.status != IMAP_RESULT_SESSION || attempt > 0) {
			log_warning("cannot append to %s: %s", mb->raw_name,
					result.text);
			errnum = imap_result_errno(&result);
			break;
		}
		log_info("connection lost while appending to %s; checking "
				"whether the message arrived", mb->raw_name);
		int landed = append_landed(mb, status.uidnext, id, uid_r);

		if (landed > 0)
			break;
		if (landed < 0) {
			errnum = -landed;
			break;
		}
	}
	g_free(id);
	if (errnum == 0)
		mailbox_grew(mb);
	return errnum;
}
