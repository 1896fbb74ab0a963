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
				summary.flags = value->u.list.items;
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
	s->handlers->summary(s->handlers->ctx, &summary);
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

/* --- bodies --------------------------------------------------------------- */

struct body_fetch {
	const char *key;		/* "BODY[]", or "BODY[]<offset>" */
	struct imap_body_want *wants;	/* ascending UIDs */
	size_t count;
	const struct imap_body_sink *sink;
	bool *wrong_uid;
	bool open;		/* the sink has a body begun */
	bool refused;		/* the sink refused the body begun last */
};

/* The data item asked for: a body of another section or range is not
 * the one asked for (RFC 3501 §7.4.2: "BODY[]<origin>" for a range). */
static bool is_body_key(const struct body_fetch *f, const char *key)
{
	return key && g_ascii_strcasecmp(key, f->key) == 0;
}

static struct imap_body_want *find_want(struct body_fetch *f, uint32_t uid)
{
	size_t lo = 0, hi = f->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (f->wants[mid].uid == uid)
			return &f->wants[mid];
		if (f->wants[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static void body_drop(struct body_fetch *f)
{
	if (f->open)
		f->sink->end(f->sink->ctx, 0, false);
	f->open = false;
}

static void body_begin(struct body_fetch *f, uint64_t size)
{
	body_drop(f);
	f->open = f->sink->begin(f->sink->ctx, size);
	f->refused = !f->open;
}

static enum imap_literal_action body_literal_begin(void *ctx,
		const struct imap_literal_info *info)
{
	struct body_fetch *f = ctx;

	if (info->kind != IMAP_RESPONSE_UNTAGGED || !info->name ||
			strcmp(info->name, "FETCH") != 0 ||
			!is_body_key(f, info->key))
		return IMAP_LITERAL_INLINE;
	body_begin(f, info->size);
	/* Streamed even when the sink said no: the bytes must leave the
	 * socket, and must not pile up in memory. */
	return IMAP_LITERAL_STREAM;
}

static void body_literal_data(void *ctx, const void *data, size_t len)
{
	struct body_fetch *f = ctx;

	if (f->open)
		f->sink->data(f->sink->ctx, data, len);
}

static void body_literal_end(void *ctx)
{
	(void)ctx;
}

static bool body_untagged(void *ctx, const struct imap_response *r)
{
	struct body_fetch *f = ctx;
	const struct imap_arg *items, *body = NULL;
	struct imap_body_want *want;
	uint32_t uid = 0;
	size_t count;

	if (!r->name || strcmp(r->name, "FETCH") != 0 ||
			!imap_arg_get_list(&r->args[0], &items, &count))
		return false;
	for (size_t i = 0; i + 1 < count; i += 2) {
		const char *key;

		if (imap_arg_atom_equals(&items[i], "UID"))
			imap_arg_get_uint32(&items[i + 1], &uid);
		else if (imap_arg_get_atom(&items[i], &key) &&
				is_body_key(f, key))
			body = &items[i + 1];
	}
	want = uid ? find_want(f, uid) : NULL;
	if (want)
		want->saw_uid = true;
	if (!body) {
		body_drop(f);
		return false;	/* a flag update: the session reports it */
	}
	if (!want) {
		if (uid != 0)
			log_warning("server sent the body of UID %u, which "
					"was not asked for; ignored", uid);
		*f->wrong_uid = true;
		body_drop(f);
		return false;
	}
	if (body->type == IMAP_ARG_STRING || body->type == IMAP_ARG_LITERAL) {
		/* Small bodies may come as a quoted string. */
		body_begin(f, body->u.str.len);
		if (f->open)
			f->sink->data(f->sink->ctx, body->u.str.data,
					body->u.str.len);
	}
	if (!f->open) {
		if (f->refused)
			want->sink_failed = true;
		return false;
	}
	f->open = false;
	if (want->kept) {
		/* Two bodies for one UID in one command: keep the first. */
		f->sink->end(f->sink->ctx, 0, false);
	} else if (f->sink->end(f->sink->ctx, uid, true)) {
		want->kept = true;
	} else {
		want->sink_failed = true;
	}
	return false;
}

/* max_len 0: whole bodies; else max_len bytes from offset. */
static bool fetch_bodies(struct imap_session *session,
		struct imap_body_want *wants, size_t count, uint64_t offset,
		uint32_t max_len, const struct imap_body_sink *sink,
		bool *wrong_uid, struct imap_result *result)
{
	char *key = max_len ? g_strdup_printf("BODY[]<%" G_GUINT64_FORMAT ">",
			offset) : g_strdup("BODY[]");
	struct body_fetch f = {
		key, wants, count, sink, wrong_uid, false, false,
	};
	struct imap_command_handlers h = {
		.untagged = body_untagged,
		.literal_begin = body_literal_begin,
		.literal_data = body_literal_data,
		.literal_end = body_literal_end,
		.ctx = &f,
	};
	uint32_t *uids = g_new(uint32_t, count);
	GString *set = g_string_new(NULL);
	bool ok = true;

	*wrong_uid = false;
	for (size_t i = 0; i < count; i++) {
		wants[i].kept = wants[i].saw_uid = false;
		wants[i].sink_failed = false;
		uids[i] = wants[i].uid;
	}
	for (size_t done = 0; ok && done < count;) {
		g_string_truncate(set, 0);
		done += imap_uidset_format(set, uids + done, count - done,
				IMAP_UIDSET_MAX_TEXT);
		ok = imap_session_run(session, max_len ? imap_command_new(
					"UID FETCH %s (UID BODY.PEEK[]<%"
					G_GUINT64_FORMAT ".%u>)", set->str,
					offset, max_len) : imap_command_new(
					"UID FETCH %s (UID BODY.PEEK[])",
					set->str), &h, result);
		/* A body begun in a response that never ended (the
		 * connection broke) is not kept. */
		body_drop(&f);
	}
	g_string_free(set, TRUE);
	g_free(uids);
	g_free(key);
	return ok;
}

bool imap_fetch_bodies(struct imap_session *session,
		struct imap_body_want *wants, size_t count,
		const struct imap_body_sink *sink, bool *wrong_uid,
		struct imap_result *result)
{
	return fetch_bodies(session, wants, count, 0, 0, sink, wrong_uid,
			result);
}

static bool fetch_one(struct imap_session *session, uint32_t uid,
		uint64_t offset, uint32_t max_len,
		const struct imap_body_sink *sink,
		struct imap_body_outcome *outcome, struct imap_result *result)
{
	struct imap_body_want want = { .uid = uid };
	bool ok;

	ok = fetch_bodies(session, &want, 1, offset, max_len, sink,
			&outcome->wrong_uid, result);
	outcome->kept = want.kept;
	outcome->saw_uid = want.saw_uid;
	outcome->sink_failed = want.sink_failed;
	return ok;
}

bool imap_fetch_body(struct imap_session *session, uint32_t uid,
		const struct imap_body_sink *sink,
		struct imap_body_outcome *outcome, struct imap_result *result)
{
	return fetch_one(session, uid, 0, 0, sink, outcome, result);
}

bool imap_fetch_body_start(struct imap_session *session, uint32_t uid,
		uint32_t max_len, const struct imap_body_sink *sink,
		struct imap_body_outcome *outcome, struct imap_result *result)
{
	return fetch_one(session, uid, 0, max_len ? max_len : 1, sink,
			outcome, result);
}

bool imap_fetch_body_range(struct imap_session *session, uint32_t uid,
		uint64_t offset, uint32_t max_len,
		const struct imap_body_sink *sink,
		struct imap_body_outcome *outcome, struct imap_result *result)
{
	return fetch_one(session, uid, offset, max_len ? max_len : 1, sink,
			outcome, result);
}

bool imap_noop(struct imap_session *session, struct imap_result *result)
{
	return imap_session_run(session, imap_command_new("NOOP"), NULL,
			result);
}
