/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the server says unasked, and what response codes carry: the one
 * place where capabilities, ENABLE results and the selected mailbox's state
 * (EXISTS, EXPUNGE, FETCH FLAGS, UIDVALIDITY, ...) are applied, whatever
 * command they arrive with.
 */
#include "imap/session-private.h"

#include <string.h>

#include "imap/uidset.h"
#include "log.h"

/* UIDs one VANISHED may name, expanded: 4 MB at most. */
#define VANISHED_MAX (1u << 20)

static const struct {
	const char *name;
	uint32_t bit;
} capability_names[] = {
	{ "IMAP4REV1", IMAP_CAP_IMAP4REV1 },
	{ "STARTTLS", IMAP_CAP_STARTTLS },
	{ "LOGINDISABLED", IMAP_CAP_LOGINDISABLED },
	{ "AUTH=PLAIN", IMAP_CAP_AUTH_PLAIN },
	{ "SASL-IR", IMAP_CAP_SASL_IR },
	{ "LITERAL+", IMAP_CAP_LITERAL_PLUS },
	{ "LITERAL-", IMAP_CAP_LITERAL_MINUS },
	{ "ENABLE", IMAP_CAP_ENABLE },
	{ "CONDSTORE", IMAP_CAP_CONDSTORE },
	{ "QRESYNC", IMAP_CAP_QRESYNC },
	{ "UIDPLUS", IMAP_CAP_UIDPLUS },
	{ "MOVE", IMAP_CAP_MOVE },
	{ "IDLE", IMAP_CAP_IDLE },
	{ "SPECIAL-USE", IMAP_CAP_SPECIAL_USE },
	{ "LIST-EXTENDED", IMAP_CAP_LIST_EXTENDED },
	{ "UTF8=ACCEPT", IMAP_CAP_UTF8_ACCEPT },
	{ "NAMESPACE", IMAP_CAP_NAMESPACE },
	{ "OBJECTID", IMAP_CAP_OBJECTID },
	{ "LIST-STATUS", IMAP_CAP_LIST_STATUS },
	{ "ID", IMAP_CAP_ID },
	{ "ESEARCH", IMAP_CAP_ESEARCH },
};

void session_parse_capabilities(struct imap_session *session,
		const struct imap_arg *args)
{
	uint32_t caps = 0;
	uint64_t appendlimit = 0;

	for (const struct imap_arg *arg = args; arg->type != IMAP_ARG_EOL;
			arg++) {
		const char *atom;

		for (size_t i = 0; i < G_N_ELEMENTS(capability_names); i++) {
			if (imap_arg_atom_equals(arg, capability_names[i].name))
				caps |= capability_names[i].bit;
		}
		/* "APPENDLIMIT=n", the same for every mailbox (RFC 7889
		 * §3); without "=n" it is per mailbox, and the server says
		 * TOOBIG when one is too big. */
		if (imap_arg_get_atom(arg, &atom) &&
				g_ascii_strncasecmp(atom, "APPENDLIMIT=", 12)
				== 0) {
			guint64 n;

			if (g_ascii_string_to_unsigned(atom + 12, 10, 1,
						G_MAXUINT64, &n, NULL))
				appendlimit = n;
		}
	}
	session->capabilities = caps;
	session->appendlimit = appendlimit;
	session->capabilities_known = true;
}

static void session_parse_enabled(struct imap_session *session,
		const struct imap_arg *args)
{
	for (const struct imap_arg *arg = args; arg->type != IMAP_ARG_EOL;
			arg++) {
		if (imap_arg_atom_equals(arg, "CONDSTORE"))
			session->enabled |= IMAP_ENABLED_CONDSTORE;
		else if (imap_arg_atom_equals(arg, "QRESYNC"))
			session->enabled |= IMAP_ENABLED_QRESYNC |
				IMAP_ENABLED_CONDSTORE;
		else if (imap_arg_atom_equals(arg, "UTF8=ACCEPT"))
			session->enabled |= IMAP_ENABLED_UTF8_ACCEPT;
	}
}

/*
 * "MAILBOXID (objectid)" of the mailbox being selected (RFC 8474 §4.2).
 * The identifier will name a cache directory, so anything but the objectid
 * syntax (§7: 1 to 255 of ALPHA, DIGIT, "_", "-") is ignored, as is one
 * from a server that did not announce OBJECTID: the mailbox then has no
 * identifier but its name, as without the extension.
 */
static void session_parse_mailboxid(struct imap_session *session,
		const struct imap_arg *args)
{
	const struct imap_arg *items;
	const char *id = NULL;
	size_t count, len = 0;

	if (!session->selecting) {
		log_debug(LOG_AREA_IMAP, "connection %u: MAILBOXID outside "
				"SELECT/EXAMINE ignored", session->id);
		return;
	}
	if (!(session->capabilities & IMAP_CAP_OBJECTID)) {
		log_debug(LOG_AREA_IMAP, "connection %u: MAILBOXID without "
				"OBJECTID ignored", session->id);
		return;
	}
	/* An objectid is a bare atom; "NIL" is one too. */
	if (imap_arg_get_list(&args[0], &items, &count) && count == 1 &&
			args[1].type == IMAP_ARG_EOL &&
			(items[0].type == IMAP_ARG_ATOM ||
			 items[0].type == IMAP_ARG_NIL)) {
		id = items[0].u.str.data;
		len = items[0].u.str.len;
	}
	if (!id || len == 0 || len > IMAP_OBJECTID_MAX ||
			strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				"abcdefghijklmnopqrstuvwxyz0123456789_-") !=
			len) {
		log_debug(LOG_AREA_IMAP, "connection %u: malformed MAILBOXID "
				"ignored", session->id);
		return;
	}
	memcpy(session->selected.mailboxid, id, len + 1);
}

unsigned imap_system_flag(const char *name)
{
	static const struct {
		const char *name;
		unsigned bit;
	} system[] = {
		{ "\\Seen", IMAP_FLAG_SEEN },
		{ "\\Answered", IMAP_FLAG_ANSWERED },
		{ "\\Flagged", IMAP_FLAG_FLAGGED },
		{ "\\Deleted", IMAP_FLAG_DELETED },
		{ "\\Draft", IMAP_FLAG_DRAFT },
	};

	for (size_t i = 0; i < G_N_ELEMENTS(system); i++) {
		if (g_ascii_strcasecmp(name, system[i].name) == 0)
			return system[i].bit;
	}
	return 0;
}

/* "[PERMANENTFLAGS (\Seen \Deleted $Label \*)]" */
static void session_parse_permanentflags(struct imap_session *session,
		const struct imap_arg *args)
{
	struct imap_selected *sel = &session->selected;
	const struct imap_arg *items;
	size_t count, used = 0;

	if (!session->selecting || !imap_arg_get_list(&args[0], &items,
				&count))
		return;
	sel->permanent_known = true;
	sel->permanent_system = 0;
	sel->permanent_new_keywords = false;
	sel->permanent_overflow = false;
	sel->permanent_keywords[0] = '\0';
	for (size_t i = 0; i < count; i++) {
		const char *flag;
		size_t len;

		if (!imap_arg_get_atom(&items[i], &flag))
			continue;
		if (strcmp(flag, "\\*") == 0) {
			sel->permanent_new_keywords = true;
			continue;
		}
		if (flag[0] == '\\') {
			sel->permanent_system |= imap_system_flag(flag);
			continue;
		}
		len = strlen(flag);
		if (used + len + 2 > sizeof(sel->permanent_keywords)) {
			sel->permanent_overflow = true;
			continue;
		}
		memcpy(sel->permanent_keywords + used, flag, len);
		used += len;
		sel->permanent_keywords[used++] = ' ';
		sel->permanent_keywords[used] = '\0';
	}
}

bool imap_selected_permits(const struct imap_selected *sel,
		const char *flag)
{
	const char *p;
	size_t len = strlen(flag);

	if (!sel->permanent_known)
		return true;
	if (flag[0] == '\\')
		return (sel->permanent_system & imap_system_flag(flag)) != 0;
	if (sel->permanent_new_keywords || sel->permanent_overflow)
		return true;
	/* Keywords are case-insensitive (RFC 3501 §2.3.2). */
	for (p = sel->permanent_keywords; *p;) {
		const char *end = strchr(p, ' ');

		if ((size_t)(end - p) == len &&
				g_ascii_strncasecmp(p, flag, len) == 0)
			return true;
		p = end + 1;
	}
	return false;
}

/* Response codes carry state wherever they appear (untagged OK, tagged
 * OK of SELECT or LOGIN). */
void session_handle_code(struct imap_session *session,
		const struct imap_response *r)
{
	const struct imap_arg *args = r->code_args;

	if (!r->code)
		return;
	if (strcmp(r->code, "CAPABILITY") == 0) {
		session_parse_capabilities(session, args);
	} else if (strcmp(r->code, "UIDVALIDITY") == 0) {
		imap_arg_get_uint32(&args[0], &session->selected.uidvalidity);
	} else if (strcmp(r->code, "UIDNEXT") == 0) {
		imap_arg_get_uint32(&args[0], &session->selected.uidnext);
	} else if (strcmp(r->code, "HIGHESTMODSEQ") == 0) {
		imap_arg_get_uint64(&args[0],
				&session->selected.highestmodseq);
	} else if (strcmp(r->code, "NOMODSEQ") == 0) {
		session->selected.highestmodseq = 0;
	} else if (strcmp(r->code, "MAILBOXID") == 0) {
		session_parse_mailboxid(session, args);
	} else if (strcmp(r->code, "PERMANENTFLAGS") == 0) {
		session_parse_permanentflags(session, args);
	} else if (strcmp(r->code, "READ-ONLY") == 0) {
		session->selected.read_only = true;
	} else if (strcmp(r->code, "READ-WRITE") == 0) {
		session->selected.read_only = false;
	} else if (strcmp(r->code, "ALERT") == 0) {
		/* RFC 3501 §7.1 wants alerts shown to the user, but not one
		 * that anybody on the path could have written. */
		if (session->before_tls)
			log_debug(LOG_AREA_IMAP, "connection %u: ignoring an "
					"alert sent before STARTTLS",
					session->id);
		else
			log_warning("server alert: %s", r->text);
	}
}

void session_forget_learnt(struct imap_session *session)
{
	session->capabilities = 0;
	session->appendlimit = 0;
	session->capabilities_known = false;
	session->enabled = 0;
	session->bye = false;
	session->bye_text[0] = '\0';
	g_clear_pointer(&session->selected.name, g_free);
	memset(&session->selected, 0, sizeof(session->selected));
	msgmap_reset(session->msgmap, 0);
}

static uint32_t fetch_uid(const struct imap_arg *items)
{
	uint32_t uid = 0;

	for (const struct imap_arg *a = items; a->type != IMAP_ARG_EOL &&
			a[1].type != IMAP_ARG_EOL; a += 2) {
		if (imap_arg_atom_equals(a, "UID") &&
				imap_arg_get_uint32(&a[1], &uid))
			return uid;
	}
	return 0;
}

static void session_report_fetch(struct imap_session *session,
		const struct imap_response *r, const struct imap_arg *items,
		uint32_t uid)
{
	const struct imap_arg *flags = NULL;
	uint64_t modseq = 0;

	for (const struct imap_arg *a = items; a->type != IMAP_ARG_EOL &&
			a[1].type != IMAP_ARG_EOL; a += 2) {
		const struct imap_arg *inner;
		size_t n;

		if (imap_arg_atom_equals(a, "FLAGS") &&
				a[1].type == IMAP_ARG_LIST)
			flags = &a[1];
		else if (imap_arg_atom_equals(a, "MODSEQ") &&
				imap_arg_get_list(&a[1], &inner, &n) && n == 1)
			imap_arg_get_uint64(&inner[0], &modseq);
	}
	if (uid == 0)
		uid = msgmap_uid(session->msgmap, r->number);
	if (flags && uid != 0 && session->selected.name &&
			session->events.flags) {
		struct imap_flag_list list;

		imap_flag_list_init(&list, flags->u.list.items);
		session->events.flags(session->events.ctx,
				session->selected.name,
				session->selected.uidvalidity, uid, &list,
				modseq);
		imap_flag_list_clear(&list);
	}
}

/*
 * "* VANISHED uid-set" without EARLIER: these messages were expunged just
 * now, and each was still counted (RFC 7162 §3.2.10).  Their sequence
 * numbers are not given, so the map forgets what it knew rather than
 * guess (a FETCH under QRESYNC carries its UID anyway).  A set too big to
 * expand is not believed message by message: the count drops by nothing
 * and the next listing finds out.
 */
static void session_vanished_now(struct imap_session *session,
		const struct imap_arg *args)
{
	const struct imap_selected *sel = &session->selected;
	g_autoptr(GArray) uids = g_array_new(FALSE, FALSE, sizeof(uint32_t));
	const char *set;

	if (!imap_arg_get_atom(&args[0], &set) ||
			!imap_uidset_parse(set, strlen(set), uids,
				MIN(sel->exists, VANISHED_MAX))) {
		log_debug(LOG_AREA_IMAP, "connection %u: VANISHED not "
				"understood, or naming more messages than "
				"there are", session->id);
		return;
	}
	session->selected.exists -= MIN(sel->exists, uids->len);
	msgmap_reset(session->msgmap, sel->exists);
	for (guint i = 0; i < uids->len; i++) {
		if (sel->name && session->events.expunged)
			session->events.expunged(session->events.ctx,
					sel->name, sel->uidvalidity,
					g_array_index(uids, uint32_t, i));
	}
}

void session_handle_untagged(struct imap_session *session,
		const struct imap_response *r)
{
	const struct imap_selected *sel = &session->selected;
	bool claimed = false;

	if (r->status != IMAP_STATUS_NONE) {
		session_handle_code(session, r);
		/* An untagged OK may carry the command's own result: MOVE
		 * sends COPYUID so (RFC 6851 §4.3). */
		if (r->code)
			session_route_untagged(session, r);
		if (r->status == IMAP_STATUS_BYE) {
			session->bye = true;
			g_strlcpy(session->bye_text, r->text,
					sizeof(session->bye_text));
		}
		return;
	}
	if (strcmp(r->name, "CAPABILITY") == 0) {
		session_parse_capabilities(session, r->args);
		return;
	}
	if (strcmp(r->name, "ENABLED") == 0) {
		session_parse_enabled(session, r->args);
		return;
	}
	if (r->has_number && strcmp(r->name, "EXISTS") == 0) {
		session->selected.exists = r->number;
		msgmap_set_count(session->msgmap, r->number);
		if (sel->name && session->events.exists)
			session->events.exists(session->events.ctx, sel->name,
					sel->uidvalidity, r->number);
		return;
	}
	if (r->has_number && strcmp(r->name, "EXPUNGE") == 0) {
		uint32_t uid = msgmap_expunge(session->msgmap, r->number);

		if (session->selected.exists > 0)
			session->selected.exists--;
		if (uid != 0 && sel->name && session->events.expunged)
			session->events.expunged(session->events.ctx,
					sel->name, sel->uidvalidity, uid);
		return;
	}

	if (strcmp(r->name, "VANISHED") == 0 &&
			!imap_arg_is_eol(r->args) &&
			r->args[0].type != IMAP_ARG_LIST) {
		session_vanished_now(session, r->args);
		return;
	}

	/* VANISHED (EARLIER) answers the command that asked for it. */
	claimed = session_route_untagged(session, r);

	if (r->has_number && strcmp(r->name, "FETCH") == 0) {
		const struct imap_arg *items;
		size_t count;
		uint32_t uid;

		if (!imap_arg_get_list(&r->args[0], &items, &count))
			return;
		uid = fetch_uid(items);
		if (uid != 0)
			msgmap_learn(session->msgmap, r->number, uid);
		if (!claimed)
			session_report_fetch(session, r, items, uid);
	}
}
