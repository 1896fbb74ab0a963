/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "imap/fetchops.h"

#include <string.h>

#include "imap/uidset.h"
#include "log.h"

/* --- listings ------------------------------------------------------------- */

struct summaries {
	const struct imap_summary_handlers *handlers;
	bool flags_only;	/* (UID FLAGS): no RFC822.SIZE to expect */
};

/* "* VANISHED (EARLIER) uid-set": the session passes only those on. */
static bool summary_vanished(struct summaries *s,
		const struct imap_response *r)
{
	g_autoptr(GArray) ranges = NULL;
	const struct imap_arg *tag;
	const char *set;
	size_t n;

	if (!s->handlers->vanished ||
			!imap_arg_get_list(&r->args[0], &tag, &n) || n != 1 ||
			!imap_arg_atom_equals(&tag[0], "EARLIER") ||
			!imap_arg_get_atom(&r->args[1], &set))
		return false;
	ranges = g_array_new(FALSE, FALSE, sizeof(struct imap_uid_range));
	if (!imap_uidset_parse_ranges(set, strlen(set), ranges))
		return false;
	s->handlers->vanished(s->handlers->ctx,
			(const struct imap_uid_range *)(void *)ranges->data,
			ranges->len);
	return true;
}

static bool summary_untagged(void *ctx, const struct imap_response *r)
{
	struct summaries *s = ctx;
	const struct imap_arg *items;
	struct imap_summary summary = { 0 };
	const struct imap_arg *flags = NULL;
	struct imap_flag_list list;
	bool have_uid = false, have_size = false, have_flags = false;
	size_t count;

	if (r->name && strcmp(r->name, "VANISHED") == 0)
		return summary_vanished(s, r);
	if (!r->name || strcmp(r->name, "FETCH") != 0 ||
			!imap_arg_get_list(&r->args[0], &items, &count))
		return false;
	if (s->handlers->progress)
		s->handlers->progress(s->handlers->ctx);
	for (size_t i = 0; i + 1 < count; i += 2) {
		const struct imap_arg *key = &items[i], *value = &items[i + 1];
		const struct imap_arg *inner;
		size_t n;

		if (imap_arg_atom_equals(key, "UID")) {
			have_uid = true;
			if (!imap_arg_get_uint32(value, &summary.uid))
				summary.uid = 0;
		} else if (imap_arg_atom_equals(key, "RFC822.SIZE")) {
			have_size = true;
			summary.size_valid = imap_arg_get_uint32(value,
					&summary.size);
		} else if (imap_arg_atom_equals(key, "INTERNALDATE")) {
			imap_arg_get_astring(value, &summary.internaldate);
		} else if (imap_arg_atom_equals(key, "FLAGS")) {
			have_flags = true;
			if (value->type == IMAP_ARG_LIST)
				flags = value->u.list.items;
		} else if (imap_arg_atom_equals(key, "MODSEQ") &&
				imap_arg_get_list(value, &inner, &n) &&
				n == 1) {
			imap_arg_get_uint64(&inner[0], &summary.modseq);
		}
	}
	/* An unsolicited flag change that happens to arrive now is not part
	 * of the listing; the session reports it as such. */
	if (!have_uid || !(s->flags_only ? have_flags : have_size))
		return false;
	if (flags) {
		imap_flag_list_init(&list, flags);
		summary.flags = &list;
	}
	s->handlers->summary(s->handlers->ctx, &summary);
	if (flags)
		imap_flag_list_clear(&list);
	return true;
}

bool imap_fetch_summaries(struct imap_session *session, const char *uid_set,
		bool modseq, const struct imap_summary_handlers *handlers,
		struct imap_result *result)
{
	return imap_fetch_summaries_since(session, uid_set, modseq, 0,
			handlers, result);
}

static bool uid_set_valid(const char *uid_set)
{
	/* digits, ':', ',' and '*' only (imap/uidset.h) */
	return *uid_set && strspn(uid_set, "0123456789:,*") ==
		strlen(uid_set);
}

/* Runs command (consumed), its FETCH responses read as summaries. */
static bool run_summaries(struct imap_session *session,
		struct imap_command *command, bool flags_only,
		const struct imap_summary_handlers *handlers,
		struct imap_result *result)
{
	struct summaries s = { handlers, flags_only };
	struct imap_command_handlers h = {
		.untagged = summary_untagged,
		.ctx = &s,
	};

	return imap_session_run(session, command, &h, result);
}

bool imap_fetch_summaries_since(struct imap_session *session,
		const char *uid_set, bool modseq, uint64_t changed_since,
		const struct imap_summary_handlers *handlers,
		struct imap_result *result)
{
	char since[48] = "";

	g_return_val_if_fail(uid_set_valid(uid_set), false);
	/* CHANGEDSINCE implies MODSEQ in the answers (RFC 7162 §3.1.4.1) */
	if (changed_since)
		g_snprintf(since, sizeof(since), " (CHANGEDSINCE %"
				G_GUINT64_FORMAT ")", changed_since);
	return run_summaries(session, imap_command_new(
				"UID FETCH %s (UID FLAGS RFC822.SIZE "
				"INTERNALDATE%s)%s", uid_set,
				modseq || changed_since ? " MODSEQ" : "",
				since), false, handlers, result);
}

bool imap_fetch_summaries_vanished(struct imap_session *session,
		uint64_t changed_since,
		const struct imap_summary_handlers *handlers,
		struct imap_result *result)
{
	g_return_val_if_fail(changed_since > 0 &&
			(imap_session_enabled(session) & IMAP_ENABLED_QRESYNC),
			false);
	/* "*" is the largest UID in use, which a mailbox emptied since
	 * has none of: the UIDs that vanished would fall outside it. */
	return run_summaries(session, imap_command_new(
				"UID FETCH 1:4294967295 (UID FLAGS RFC822.SIZE "
				"INTERNALDATE MODSEQ) (CHANGEDSINCE %"
				G_GUINT64_FORMAT " VANISHED)", changed_since),
			false, handlers, result);
}

bool imap_fetch_flags(struct imap_session *session, const char *uid_set,
		bool modseq, const struct imap_summary_handlers *handlers,
		struct imap_result *result)
{
	g_return_val_if_fail(uid_set_valid(uid_set), false);
	return run_summaries(session, imap_command_new(
				"UID FETCH %s (UID FLAGS%s)", uid_set,
				modseq ? " MODSEQ" : ""), true, handlers, result);
}

bool imap_noop(struct imap_session *session, struct imap_result *result)
{
	return imap_session_run(session, imap_command_new("NOOP"), NULL,
			result);
}
