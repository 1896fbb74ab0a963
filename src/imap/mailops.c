/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "imap/mailops.h"

#include <errno.h>
#include <string.h>

#include "imap/crlf.h"
#include "imap/uidset.h"
#include "log.h"

static bool session_utf8(struct imap_session *session)
{
	return imap_session_enabled(session) & IMAP_ENABLED_UTF8_ACCEPT;
}

static void append_mailbox(struct imap_command *cmd,
		struct imap_session *session, const char *mailbox)
{
	imap_command_append_string(cmd, mailbox, strlen(mailbox),
			session_utf8(session), false);
}

/*
 * Run "<prefix> <uid set><suffix>" for all of uids, in as many commands as
 * the set needs; stops at the first that fails.  handlers may be NULL.
 */
static bool run_on_uids(struct imap_session *session, const char *prefix,
		const uint32_t *uids, size_t count,
		void (*finish)(struct imap_command *cmd, void *ctx),
		void *finish_ctx, const struct imap_command_handlers *handlers,
		struct imap_result *result)
{
	size_t done = 0;

	if (count == 0) {
		memset(result, 0, sizeof(*result));
		result->status = IMAP_RESULT_OK;
		return true;
	}
	while (done < count) {
		struct imap_command *cmd = imap_command_new("%s ", prefix);
		GString *set = g_string_new(NULL);

		done += imap_uidset_format(set, uids + done, count - done,
				IMAP_UIDSET_MAX_TEXT);
		imap_command_append(cmd, "%s", set->str);
		g_string_free(set, TRUE);
		if (finish)
			finish(cmd, finish_ctx);
		if (!imap_session_run(session, cmd, handlers, result))
			return false;
	}
	return true;
}

/* --- flags ---------------------------------------------------------------- */

bool imap_flag_is_valid(const char *flag)
{
	if (flag[0] == '\\')
		return imap_system_flag(flag) != 0;
	if (!*flag)
		return false;
	/* atom-char (RFC 3501 §9): no atom-specials, no "]" (resp-specials,
	 * which RFC 9051 keeps out of flag keywords too). */
	for (const unsigned char *c = (const unsigned char *)flag; *c; c++) {
		if (*c <= 0x20 || *c >= 0x7f || strchr("(){%*\"\\]", *c))
			return false;
	}
	return true;
}

/* Checked by the caller already; never let one break the line. */
static bool flags_valid(const char *const *flags, struct imap_result *result)
{
	for (size_t i = 0; flags && flags[i]; i++) {
		if (!imap_flag_is_valid(flags[i])) {
			memset(result, 0, sizeof(*result));
			result->status = IMAP_RESULT_BAD;
			g_strlcpy(result->code, "CLIENTBUG",
					sizeof(result->code));
			g_strlcpy(result->text, "invalid flag",
					sizeof(result->text));
			return false;
		}
	}
	return true;
}

struct flags_args {
	const char *const *flags;
	const char *op;
};

static void finish_flags(struct imap_command *cmd, void *ctx)
{
	const struct flags_args *args = ctx;

	imap_command_append(cmd, " %sFLAGS.SILENT (", args->op);
	for (size_t i = 0; args->flags && args->flags[i]; i++)
		imap_command_append(cmd, "%s%s", i ? " " : "",
				args->flags[i]);
	imap_command_append(cmd, ")");
}

bool imap_store_flags(struct imap_session *session, const uint32_t *uids,
		size_t count, enum imap_flags_change change,
		const char *const *flags, struct imap_result *result)
{
	struct flags_args args = {
		flags,
		change == IMAP_FLAGS_ADD ? "+" :
			change == IMAP_FLAGS_REMOVE ? "-" : "",
	};

	if (!flags_valid(flags, result))
		return false;
	return run_on_uids(session, "UID STORE", uids, count, finish_flags,
			&args, NULL, result);
}

bool imap_store_flags_send(struct imap_session *session, uint32_t uid,
		enum imap_flags_change change, const char *const *flags,
		imap_session_done_fn *done, void *ctx,
		struct imap_result *result)
{
	struct flags_args args = {
		flags,
		change == IMAP_FLAGS_ADD ? "+" :
			change == IMAP_FLAGS_REMOVE ? "-" : "",
	};
	struct imap_command *cmd;

	if (!flags_valid(flags, result))
		return false;
	cmd = imap_command_new("UID STORE %u", uid);
	finish_flags(cmd, &args);
	return imap_session_send(session, cmd, done, ctx, result);
}

/* --- removing, copying, moving -------------------------------------------- */

bool imap_uid_expunge(struct imap_session *session, const uint32_t *uids,
		size_t count, struct imap_result *result)
{
	return run_on_uids(session, "UID EXPUNGE", uids, count, NULL, NULL,
			NULL, result);
}

void imap_copyuid_init(struct imap_copyuid *copyuid)
{
	copyuid->uidvalidity = 0;
	copyuid->source = g_array_new(FALSE, FALSE, sizeof(uint32_t));
	copyuid->dest = g_array_new(FALSE, FALSE, sizeof(uint32_t));
}

void imap_copyuid_clear(struct imap_copyuid *copyuid)
{
	g_clear_pointer(&copyuid->source, g_array_unref);
	g_clear_pointer(&copyuid->dest, g_array_unref);
}

uint32_t imap_copyuid_lookup(const struct imap_copyuid *copyuid,
		uint32_t uid)
{
	for (guint i = 0; i < copyuid->source->len; i++) {
		if (g_array_index(copyuid->source, uint32_t, i) == uid)
			return g_array_index(copyuid->dest, uint32_t, i);
	}
	return 0;
}

struct copy_state {
	struct imap_copyuid *copyuid;
	size_t asked;		/* UIDs in this command */
};

/* "[COPYUID uidvalidity source-set dest-set]": each set may be long, so
 * the arguments are read as parsed, not from a cut copy of the text. */
static void copy_code(struct copy_state *state, const struct imap_response *r)
{
	struct imap_copyuid *c = state->copyuid;
	const char *src, *dst;
	uint32_t uidvalidity;
	guint s0 = c->source->len, d0 = c->dest->len;

	if (!r->code || strcmp(r->code, "COPYUID") != 0)
		return;
	if (!imap_arg_get_uint32(&r->code_args[0], &uidvalidity) ||
			!imap_arg_get_atom(&r->code_args[1], &src) ||
			!imap_arg_get_atom(&r->code_args[2], &dst) ||
			!imap_uidset_parse(src, strlen(src), c->source,
				state->asked) ||
			!imap_uidset_parse(dst, strlen(dst), c->dest,
				state->asked) ||
			c->source->len - s0 != c->dest->len - d0) {
		log_warning("ignoring a malformed COPYUID");
		g_array_set_size(c->source, s0);
		g_array_set_size(c->dest, d0);
		return;
	}
	c->uidvalidity = uidvalidity;
}

static bool copy_untagged(void *ctx, const struct imap_response *r)
{
	if (r->status == IMAP_STATUS_OK)
		copy_code(ctx, r);
	return false;
}

static void copy_tagged(void *ctx, const struct imap_response *r)
{
	if (r->status == IMAP_STATUS_OK)
		copy_code(ctx, r);
}

struct copy_args {
	struct imap_session *session;
	const char *mailbox;
};

static void finish_copy(struct imap_command *cmd, void *ctx)
{
	const struct copy_args *args = ctx;

	append_mailbox(cmd, args->session, args->mailbox);
}

bool imap_uid_copy(struct imap_session *session, const uint32_t *uids,
		size_t count, const char *mailbox, bool move,
		struct imap_copyuid *copyuid, struct imap_result *result)
{
	struct copy_args args = { session, mailbox };
	size_t done = 0;

	if (count == 0)
		return run_on_uids(session, "", uids, 0, NULL, NULL, NULL,
				result);
	/* One command per chunk, so that each COPYUID is read against
	 * the UIDs it answers. */
	while (done < count) {
		GString *probe = g_string_new(NULL);
		size_t n = imap_uidset_format(probe, uids + done, count - done,
				IMAP_UIDSET_MAX_TEXT);
		struct copy_state state = { copyuid, n };
		struct imap_command_handlers handlers = {
			.untagged = copy_untagged,
			.tagged = copy_tagged,
			.ctx = &state,
		};

		g_string_free(probe, TRUE);
		if (!run_on_uids(session, move ? "UID MOVE" : "UID COPY",
					uids + done, n, finish_copy, &args,
					copyuid ? &handlers : NULL, result))
			return false;
		done += n;
	}
	return true;
}

struct search_state {
	GArray *found;
};

static bool search_untagged(void *ctx, const struct imap_response *r)
{
	struct search_state *state = ctx;

	if (!r->name || strcmp(r->name, "SEARCH") != 0)
		return false;
	for (const struct imap_arg *a = r->args; a->type != IMAP_ARG_EOL;
			a++) {
		uint32_t uid;

		if (imap_arg_get_uint32(a, &uid) && uid != 0)
			g_array_append_val(state->found, uid);
	}
	return true;
}

static gint compare_uid(gconstpointer a, gconstpointer b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

bool imap_uid_present(struct imap_session *session, const uint32_t *uids,
		size_t count, GArray *present, struct imap_result *result)
{
	struct search_state state = { present };
	struct imap_command_handlers handlers = {
		.untagged = search_untagged,
		.ctx = &state,
	};
	bool ok = run_on_uids(session, "UID SEARCH UID", uids, count, NULL,
			NULL, &handlers, result);

	g_array_sort(present, compare_uid);
	return ok;
}

bool imap_uid_search_header(struct imap_session *session, uint32_t min_uid,
		const char *name, const char *value, GArray *present,
		struct imap_result *result)
{
	struct search_state state = { present };
	struct imap_command_handlers handlers = {
		.untagged = search_untagged,
		.ctx = &state,
	};
	struct imap_command *cmd = imap_command_new(
			"UID SEARCH UID %u:* HEADER", MAX(min_uid, 1u));
	bool ok;

	imap_command_append_string(cmd, name, strlen(name), false, false);
	imap_command_append_string(cmd, value, strlen(value),
			session_utf8(session), false);
	ok = imap_session_run(session, cmd, &handlers, result);
	g_array_sort(present, compare_uid);
	return ok;
}

/* --- appending ------------------------------------------------------------ */

static void append_tagged(void *ctx, const struct imap_response *r)
{
	struct imap_appenduid *appenduid = ctx;
	uint32_t uidvalidity, uid;

	if (r->status != IMAP_STATUS_OK || !r->code ||
			strcmp(r->code, "APPENDUID") != 0)
		return;
	/* One message, so one UID (a set only for MULTIAPPEND). */
	if (imap_arg_get_uint32(&r->code_args[0], &uidvalidity) &&
			imap_arg_get_uint32(&r->code_args[1], &uid) &&
			uidvalidity != 0 && uid != 0) {
		appenduid->uidvalidity = uidvalidity;
		appenduid->uid = uid;
	} else {
		log_warning("ignoring a malformed APPENDUID");
	}
}

bool imap_append(struct imap_session *session, const char *mailbox, int fd,
		const char *const *flags, struct imap_appenduid *appenduid,
		struct imap_result *result)
{
	struct imap_command_handlers handlers = {
		.tagged = append_tagged,
		.ctx = appenduid,
	};
	struct imap_command *cmd;
	uint64_t length;
	bool nul;

	memset(appenduid, 0, sizeof(*appenduid));
	memset(result, 0, sizeof(*result));
	if (!imap_crlf_measure_fd(fd, &length, &nul)) {
		result->status = IMAP_RESULT_NO;
		g_snprintf(result->text, sizeof(result->text),
				"cannot read the message: %s",
				g_strerror(errno));
		return false;
	}
	if (imap_session_appendlimit(session) &&
			length > imap_session_appendlimit(session)) {
		/* Refused before a byte of it is sent. */
		result->status = IMAP_RESULT_NO;
		g_strlcpy(result->code, "TOOBIG", sizeof(result->code));
		g_snprintf(result->text, sizeof(result->text),
				"the message is larger than the server's "
				"APPENDLIMIT of %" G_GUINT64_FORMAT " bytes",
				imap_session_appendlimit(session));
		return false;
	}
	if (nul) {
		result->status = IMAP_RESULT_NO;
		g_strlcpy(result->code, IMAP_CODE_NUL_BYTE,
				sizeof(result->code));
		g_strlcpy(result->text, "the message holds a NUL byte",
				sizeof(result->text));
		return false;
	}
	cmd = imap_command_new("APPEND");
	append_mailbox(cmd, session, mailbox);
	if (flags && flags[0]) {
		imap_command_append(cmd, " (");
		for (size_t i = 0; flags[i]; i++) {
			if (imap_flag_is_valid(flags[i]))
				imap_command_append(cmd, "%s%s",
						i ? " " : "", flags[i]);
		}
		imap_command_append(cmd, ")");
	}
	imap_command_append_message(cmd, fd, length);
	return imap_session_run(session, cmd, &handlers, result);
}

/* --- mailboxes ------------------------------------------------------------ */

static bool run_on_mailbox(struct imap_session *session, const char *verb,
		const char *mailbox, const char *second,
		struct imap_result *result)
{
	struct imap_command *cmd = imap_command_new("%s", verb);

	append_mailbox(cmd, session, mailbox);
	if (second)
		append_mailbox(cmd, session, second);
	return imap_session_run(session, cmd, NULL, result);
}

bool imap_create(struct imap_session *session, const char *mailbox,
		struct imap_result *result)
{
	return run_on_mailbox(session, "CREATE", mailbox, NULL, result);
}

bool imap_delete(struct imap_session *session, const char *mailbox,
		struct imap_result *result)
{
	return run_on_mailbox(session, "DELETE", mailbox, NULL, result);
}

bool imap_rename(struct imap_session *session, const char *from,
		const char *to, struct imap_result *result)
{
	return run_on_mailbox(session, "RENAME", from, to, result);
}

struct status_state {
	const char *mailbox;
	struct imap_mailbox_status *status;
	bool answered;
};

static bool status_untagged(void *ctx, const struct imap_response *r)
{
	struct status_state *state = ctx;
	const struct imap_arg *items;
	const char *name;
	size_t count;

	if (!r->name || strcmp(r->name, "STATUS") != 0 ||
			!imap_arg_get_astring(&r->args[0], &name) ||
			!imap_arg_get_list(&r->args[1], &items, &count))
		return false;
	if (strcmp(name, state->mailbox) != 0 &&
			!(g_ascii_strcasecmp(name, "INBOX") == 0 &&
			  g_ascii_strcasecmp(state->mailbox, "INBOX") == 0))
		return false;
	state->answered = true;
	for (size_t i = 0; i + 1 < count; i += 2) {
		if (imap_arg_atom_equals(&items[i], "MESSAGES"))
			imap_arg_get_uint32(&items[i + 1],
					&state->status->messages);
		else if (imap_arg_atom_equals(&items[i], "UIDNEXT"))
			imap_arg_get_uint32(&items[i + 1],
					&state->status->uidnext);
		else if (imap_arg_atom_equals(&items[i], "UIDVALIDITY"))
			imap_arg_get_uint32(&items[i + 1],
					&state->status->uidvalidity);
	}
	return true;
}

bool imap_status(struct imap_session *session, const char *mailbox,
		struct imap_mailbox_status *status, struct imap_result *result)
{
	struct status_state state = { mailbox, status, false };
	struct imap_command_handlers handlers = {
		.untagged = status_untagged,
		.ctx = &state,
	};
	const struct imap_selected *sel = imap_session_selected(session);
	struct imap_command *cmd;

	memset(status, 0, sizeof(*status));
	/* On the selected mailbox STATUS may answer from the session's own
	 * view, which has not caught up with other clients (RFC 3501
	 * §6.3.10; Dovecot does so): NOOP brings it up to date first. */
	if (sel->name && strcmp(sel->name, mailbox) == 0 &&
			!imap_session_run(session, imap_command_new("NOOP"),
				NULL, result))
		return false;
	cmd = imap_command_new("STATUS");
	append_mailbox(cmd, session, mailbox);
	imap_command_append(cmd, " (MESSAGES UIDNEXT UIDVALIDITY)");
	if (!imap_session_run(session, cmd, &handlers, result))
		return false;
	if (!state.answered) {
		/* Counts nobody gave must not pass for zeros. */
		memset(result, 0, sizeof(*result));
		result->status = IMAP_RESULT_NO;
		g_strlcpy(result->text, "no STATUS in the answer",
				sizeof(result->text));
		return false;
	}
	return true;
}

static const char *const special_uses[] = {
	"\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Important",
	"\\Junk", "\\Sent", "\\Trash",
};

struct list_state {
	imap_list_fn *fn;
	void *ctx;
};

static bool list_untagged(void *ctx, const struct imap_response *r)
{
	struct list_state *state = ctx;
	const struct imap_arg *attrs;
	size_t nattrs;
	const char *delim, *name;
	struct imap_listed m = { 0 };
	GString *specialuse;

	if (!r->name || strcmp(r->name, "LIST") != 0)
		return false;
	if (!imap_arg_get_list(&r->args[0], &attrs, &nattrs) ||
			!imap_arg_get_nstring(&r->args[1], &delim) ||
			!imap_arg_get_astring(&r->args[2], &name)) {
		log_warning("ignoring a malformed LIST response");
		return true;
	}
	if (delim && strlen(delim) != 1) {
		log_warning("ignoring %s: odd hierarchy delimiter", name);
		return true;
	}
	/* INBOX is case-insensitive (RFC 3501 §5.1); everything else is
	 * exact. */
	m.name = g_ascii_strcasecmp(name, "INBOX") == 0 ? "INBOX" : name;
	m.delimiter = delim ? delim[0] : '\0';
	specialuse = g_string_new(NULL);
	for (size_t i = 0; i < nattrs; i++) {
		if (imap_arg_atom_equals(&attrs[i], "\\Noselect") ||
				imap_arg_atom_equals(&attrs[i], "\\NonExistent"))
			m.attrs |= IMAP_LIST_NOSELECT;
		else if (imap_arg_atom_equals(&attrs[i], "\\NoInferiors"))
			m.attrs |= IMAP_LIST_NOINFERIORS;
		else if (imap_arg_atom_equals(&attrs[i], "\\HasChildren"))
			m.attrs |= IMAP_LIST_HASCHILDREN;
		for (size_t j = 0; j < G_N_ELEMENTS(special_uses); j++) {
			if (!imap_arg_atom_equals(&attrs[i], special_uses[j]))
				continue;
			if (specialuse->len)
				g_string_append_c(specialuse, ' ');
			g_string_append(specialuse, special_uses[j]);
		}
	}
	m.specialuse = specialuse->len ? specialuse->str : NULL;
	state->fn(state->ctx, &m);
	g_string_free(specialuse, TRUE);
	return true;
}

bool imap_list(struct imap_session *session, const char *pattern,
		imap_list_fn *fn, void *ctx, struct imap_result *result)
{
	uint32_t caps = imap_session_capabilities(session);
	struct list_state state = { fn, ctx };
	struct imap_command_handlers handlers = {
		.untagged = list_untagged,
		.ctx = &state,
	};
	struct imap_command *cmd = imap_command_new("LIST \"\"");

	append_mailbox(cmd, session, pattern);
	if ((caps & IMAP_CAP_SPECIAL_USE) && (caps & IMAP_CAP_LIST_EXTENDED))
		imap_command_append(cmd, " RETURN (SPECIAL-USE)");
	return imap_session_run(session, cmd, &handlers, result);
}
