/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Flag changes: UID STORE on a read-write session, then the index is told
 * the result (the server was asked for .SILENT, so it does not repeat it).
 */
#include "store/changes.h"

#include <errno.h>
#include <string.h>

#include "imap/pool.h"
#include "log.h"
#include "store/mailbox-private.h"

bool store_flag_is_valid(const char *flag)
{
	return imap_flag_is_valid(flag);
}

static bool name_in(const char *name, const char *const *list)
{
	for (size_t i = 0; list && list[i]; i++) {
		/* Flags and keywords are case-insensitive (RFC 3501
		 * §2.3.2). */
		if (g_ascii_strcasecmp(name, list[i]) == 0)
			return true;
	}
	return false;
}

static const char *const system_names[] = {
	"\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft",
};
static const uint8_t system_bits[] = {
	MSG_FLAG_ANSWERED, MSG_FLAG_FLAGGED, MSG_FLAG_DELETED, MSG_FLAG_SEEN,
	MSG_FLAG_DRAFT,
};

/* The entry's flags after the change, as the server now has them.
 * Mailbox lock held. */
static void entry_apply(struct msg_index *index, struct msg_entry *entry,
		enum imap_flags_change change, const char *const *flags)
{
	GPtrArray *names = g_ptr_array_new();
	struct imap_flag_list list;
	uint8_t bits;
	uint32_t keywords;

	if (change != IMAP_FLAGS_REPLACE) {
		const char *const *kw = msg_index_keywords(index,
				entry->keywords);

		for (size_t i = 0; i < G_N_ELEMENTS(system_names); i++) {
			if (entry->flags & system_bits[i])
				g_ptr_array_add(names,
						(char *)system_names[i]);
		}
		for (; kw && *kw; kw++)
			g_ptr_array_add(names, (char *)*kw);
	}
	if (change == IMAP_FLAGS_REMOVE) {
		for (guint i = names->len; i-- > 0;) {
			if (name_in(g_ptr_array_index(names, i), flags))
				g_ptr_array_remove_index(names, i);
		}
	} else {
		for (size_t i = 0; flags && flags[i]; i++)
			g_ptr_array_add(names, (char *)flags[i]);
	}
	imap_flag_list_init_names(&list, (const char *const *)names->pdata,
			names->len);
	if (msg_index_parse_flags(index, &list, &bits, &keywords)) {
		entry->flags = bits;
		entry->keywords = keywords;
	}
	imap_flag_list_clear(&list);
	g_ptr_array_unref(names);
}

static void mailbox_apply_change(struct store_mailbox *mb,
		uint32_t uidvalidity, uint32_t uid,
		enum imap_flags_change change, const char *const *flags)
{
	struct msg_entry *entry;

	g_mutex_lock(&mb->lock);
	if (mb->index && mb->uidvalidity == uidvalidity &&
			(entry = msg_index_find(mb->index, uid)))
		entry_apply(mb->index, entry, change, flags);
	/* A listing under way may have read the flags before the change:
	 * what it installs is not to be trusted for long. */
	if (mb->listing)
		mb->listing_outdated = true;
	g_mutex_unlock(&mb->lock);
}

/*
 * How long a flag change waits for its answer before it lets the caller
 * go on: a fast server (a LAN) has answered by then, so a refusal is
 * reported and every other client sees the change when setfattr returns;
 * past it (a slow link) the caller goes on, and so do the changes after
 * it, without waiting while answers are owed, so that a loop over many
 * files costs no round trip per file.
 */
#define FLAGS_ANSWER_GRACE_MS 20

/* A change that comes this soon after the one before on the same mailbox
 * is part of a run of them (a loop over files): only then does it stop
 * waiting for its answer after the grace.  A change on its own always
 * waits, so that whatever the link and the server's load, the server has
 * made it when setfattr returns. */
#define FLAGS_RUN_GAP_US (1 * G_USEC_PER_SEC)

/*
 * A flag change sent without waiting for its answer: the answer comes
 * whenever that session next reads.  A refusal (rare: the flags were
 * checked against PERMANENTFLAGS first) is logged and the mailbox listed
 * again, so that it shows the server's flags; a lost answer means the
 * change is sent again, waiting this time, from one of the account's
 * threads (it means the same however often it is sent).
 */
struct flags_sent {
	struct store_job job;		/* the retry */
	/* While the thread that sent it still waits for the answer (it has
	 * the session): the answer is left here for it. */
	bool waiting;
	bool answered;
	struct imap_result result;
	struct store_mailbox *mailbox;
	uint32_t uidvalidity;
	uint32_t uid;
	enum imap_flags_change change;
	char **flags;			/* owned */
};

static int change_flags(struct store_mailbox *mb, uint32_t uidvalidity,
		uint32_t uid, enum imap_flags_change change,
		const char *const *flags, bool wait);

static void flags_sent_free(struct flags_sent *sent)
{
	g_strfreev(sent->flags);
	g_free(sent);
}

static void flags_retry_job(struct store_job *job)
{
	struct flags_sent *sent = (struct flags_sent *)(void *)job;
	int errnum = change_flags(sent->mailbox, sent->uidvalidity,
			sent->uid, sent->change,
			(const char *const *)sent->flags, true);

	if (errnum)
		log_warning("cannot set flags of UID %u in %s: %s",
				sent->uid, sent->mailbox->raw_name,
				g_strerror(errnum));
	flags_sent_free(sent);
}

static void flags_sent_done(void *ctx, const struct imap_result *result)
{
	struct flags_sent *sent = ctx;
	struct store_mailbox *mb = sent->mailbox;

	if (sent->waiting) {
		sent->answered = true;
		sent->result = *result;
		return;
	}
	if (result->status == IMAP_RESULT_SESSION) {
		log_info("connection lost before the server confirmed flags "
				"of UID %u in %s; sending them again",
				sent->uid, mb->raw_name);
		sent->job.run = flags_retry_job;
		store_account_submit(mb->account, &sent->job);
		return;
	}
	if (result->status != IMAP_RESULT_OK) {
		log_warning("the server refused flags of UID %u in %s: %s",
				sent->uid, mb->raw_name, result->text);
		store_mailbox_invalidate(mb);
	}
	flags_sent_free(sent);
}

static int change_flags(struct store_mailbox *mb, uint32_t uidvalidity,
		uint32_t uid, enum imap_flags_change change,
		const char *const *flags, bool wait)
{
	struct imap_pool *pool = store_account_pool(mb->account);
	struct imap_result result;

	for (size_t i = 0; flags && flags[i]; i++) {
		if (!imap_flag_is_valid(flags[i]))
			return EINVAL;
	}
	/* A STORE of flags means the same however often it is sent, so one
	 * whose answer was lost with the connection is simply sent again. */
	for (int attempt = 0;; attempt++) {
		struct imap_session *session;
		const struct imap_selected *sel;
		struct flags_sent *sent = NULL;
		bool ok, burst;
		int errnum = store_mailbox_session(mb, "set flags in", false,
				true, &session);

		if (errnum)
			return errnum == ESTALE ? ENOENT : errnum;
		sel = imap_session_selected(session);
		if (sel->uidvalidity != uidvalidity) {
			imap_pool_release(pool, session);
			return ENOENT;
		}
		if (sel->read_only) {
			imap_pool_release(pool, session);
			return EACCES;
		}
		for (size_t i = 0; flags && flags[i]; i++) {
			if (!imap_selected_permits(sel, flags[i])) {
				log_info("%s: the server does not let %s be "
						"set", mb->raw_name, flags[i]);
				imap_pool_release(pool, session);
				return EPERM;
			}
		}
		/* Sent again after a lost answer: this time it waits, so
		 * that the caller hears how it went. */
		if (wait || attempt > 0) {
			ok = imap_store_flags(session, &uid, 1, change, flags,
					&result);
		} else {
			sent = g_new0(struct flags_sent, 1);
			sent->mailbox = mb;
			sent->uidvalidity = uidvalidity;
			sent->uid = uid;
			sent->change = change;
			sent->flags = g_strdupv((char **)flags);
			sent->waiting = true;
			/* Answers still owed: the server is behind a burst of
			 * changes, and this one joins the queue at once. */
			burst = imap_session_pending(session) > 0;
			ok = imap_store_flags_send(session, uid, change, flags,
					flags_sent_done, sent, &result);
			if (ok && !burst)
				imap_session_settle(session,
						FLAGS_ANSWER_GRACE_MS);
			if (!ok) {
				flags_sent_free(sent);
			} else if (sent->answered) {
				/* Answered in time: as if waited for. */
				result = sent->result;
				ok = result.status == IMAP_RESULT_OK;
				flags_sent_free(sent);
			} else {
				sent->waiting = false;
			}
		}
		imap_pool_release(pool, session);
		if (ok) {
			mailbox_apply_change(mb, uidvalidity, uid, change,
					flags);
			return 0;
		}
		if (result.status != IMAP_RESULT_SESSION || attempt > 0) {
			log_warning("cannot set flags in %s: %s", mb->raw_name,
					result.text);
			return imap_result_errno(&result);
		}
		log_info("connection lost while setting flags in %s; sending "
				"them again", mb->raw_name);
	}
}

/* See FLAGS_ANSWER_GRACE_MS, FLAGS_RUN_GAP_US and docs/DESIGN.md,
 * "Changing things". */
int store_mailbox_change_flags(struct store_mailbox *mb,
		uint32_t uidvalidity, uint32_t uid,
		enum imap_flags_change change, const char *const *flags)
{
	gint64 now = g_get_monotonic_time();
	gint64 last = __atomic_exchange_n(&mb->last_flag_change_at, now,
			__ATOMIC_RELAXED);
	bool in_run = last != 0 && now - last < FLAGS_RUN_GAP_US;
	int errnum = change_flags(mb, uidvalidity, uid, change, flags,
			!in_run);

	/* The run goes on from when this one ended. */
	__atomic_store_n(&mb->last_flag_change_at, g_get_monotonic_time(),
			__ATOMIC_RELAXED);
	return errnum;
}

/* --- -o seen ------------------------------------------------------------ */

struct seen_job {
	struct store_job job;
	struct store_mailbox *mailbox;
	uint32_t uidvalidity;
	uint32_t uid;
};

static void seen_job_run(struct store_job *job)
{
	struct seen_job *s = (struct seen_job *)(void *)job;
	static const char *const seen[] = { "\\Seen", NULL };
	int errnum = change_flags(s->mailbox, s->uidvalidity, s->uid,
			IMAP_FLAGS_ADD, seen, true);

	if (errnum)
		log_warning("cannot mark UID %u of %s seen: %s", s->uid,
				store_mailbox_name(s->mailbox),
				g_strerror(errnum));
	g_free(s);
}

void store_mailbox_mark_seen(struct store_mailbox *mb, uint32_t uidvalidity,
		uint32_t uid)
{
	struct store_message msg;
	struct seen_job *s;
	bool seen;

	if (store_mailbox_message(mb, uid, &msg) != 0)
		return;
	seen = msg.uidvalidity == uidvalidity &&
		(msg.entry.flags & MSG_FLAG_SEEN);
	store_message_clear(&msg);
	if (seen)
		return;
	s = g_new0(struct seen_job, 1);
	s->job.run = seen_job_run;
	s->mailbox = mb;
	s->uidvalidity = uidvalidity;
	s->uid = uid;
	store_account_submit(mb->account, &s->job);
}
