/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * IMAP response parser.  Every input is fed whole, one byte at a time and
 * (when short) split in two at every position; all ways must give the same
 * transcript: responses, where they end, literal callbacks and errors.
 * Responses are compared as a compact dump, so the tables read like the
 * wire:
 *
 *   * OK [CODE "raw" (args)] "text"     status response (text escaped)
 *   tag NO [CODE] "text"                tagged, code without arguments
 *   + "text"                            continuation
 *   * #12 FETCH (UID 4711 "str" NIL)    data response with its number
 *   {5}"hello"  ~{3}"a\x00b"            inline literal / literal8
 *   {5}STREAM                           streamed literal
 */
#include <inttypes.h>
#include <string.h>

#include <glib.h>

#include "imap/parser.h"

#define S(x) (x), sizeof(x) - 1

enum policy {
	POLICY_NONE,		/* NULL callbacks */
	POLICY_INLINE,		/* callbacks that keep everything inline */
	POLICY_STREAM_BODY,	/* stream literals whose key is BODY[...] */
	POLICY_STREAM_ALL,
	POLICY_REJECT,
};

struct ctx {
	enum policy policy;
	GString *log;		/* the transcript */
	GString *lit;		/* streamed literal in progress */
	bool streaming;
	const unsigned char *in_start, *in_end;
};

/* ---- dumping ---- */

static void escape(GString *out, const char *s, size_t len, bool quoted)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (quoted && (c == '"' || c == '\\'))
			g_string_append_printf(out, "\\%c", c);
		else if (c >= 0x20 && c < 0x7f)
			g_string_append_c(out, c);
		else
			g_string_append_printf(out, "\\x%02x", c);
	}
}

static void dump_args(GString *out, const struct imap_arg *args)
{
	const struct imap_arg *a;

	g_string_append_c(out, '(');
	for (a = args; a->type != IMAP_ARG_EOL; a++) {
		if (a != args)
			g_string_append_c(out, ' ');
		switch (a->type) {
		case IMAP_ARG_NIL:
		case IMAP_ARG_ATOM:
		case IMAP_ARG_STRING:
		case IMAP_ARG_LITERAL:
			g_assert_nonnull(a->u.str.data);
			g_assert_cmpint(a->u.str.data[a->u.str.len], ==, 0);
			if (a->type != IMAP_ARG_LITERAL)
				g_assert_cmpuint(strlen(a->u.str.data), ==,
						a->u.str.len);
			break;
		default:
			break;
		}
		if (a->binary)
			g_assert_true(a->type == IMAP_ARG_LITERAL ||
					a->type == IMAP_ARG_STREAMED);
		switch (a->type) {
		case IMAP_ARG_NIL:
			/* the original spelling, for get_astring() */
			g_assert_cmpint(g_ascii_strcasecmp(a->u.str.data,
					"NIL"), ==, 0);
			g_string_append(out, "NIL");
			break;
		case IMAP_ARG_ATOM:
			g_assert_cmpuint(a->u.str.len, >, 0);
			escape(out, a->u.str.data, a->u.str.len, false);
			break;
		case IMAP_ARG_STRING:
			g_string_append_c(out, '"');
			escape(out, a->u.str.data, a->u.str.len, true);
			g_string_append_c(out, '"');
			break;
		case IMAP_ARG_LITERAL:
			g_string_append_printf(out, "%s{%zu}\"",
					a->binary ? "~" : "", a->u.str.len);
			escape(out, a->u.str.data, a->u.str.len, true);
			g_string_append_c(out, '"');
			break;
		case IMAP_ARG_STREAMED:
			g_string_append_printf(out, "%s{%" PRIu64 "}STREAM",
					a->binary ? "~" : "",
					a->u.streamed_size);
			break;
		case IMAP_ARG_LIST:
			g_assert_true(a->u.list.items[a->u.list.count].type ==
					IMAP_ARG_EOL);
			dump_args(out, a->u.list.items);
			break;
		default:
			g_assert_not_reached();
		}
	}
	g_string_append_c(out, ')');
}

static const char *const status_names[] = {
	"", "OK", "NO", "BAD", "PREAUTH", "BYE",
};

/* Check the invariants parser.h promises, and dump the response. */
static void dump_response(GString *out, const struct imap_response *r)
{
	g_assert_nonnull(r->args);
	g_assert_nonnull(r->code_args);
	g_assert_nonnull(r->code_raw);
	g_assert_nonnull(r->text);
	if (r->code == NULL) {
		g_assert_cmpstr(r->code_raw, ==, "");
		g_assert_true(r->code_args->type == IMAP_ARG_EOL);
	}

	switch (r->kind) {
	case IMAP_RESPONSE_CONTINUATION:
		g_assert_null(r->tag);
		g_assert_null(r->name);
		g_assert_null(r->code);
		g_assert_false(r->has_number);
		g_assert_cmpint(r->status, ==, IMAP_STATUS_NONE);
		g_assert_true(r->args->type == IMAP_ARG_EOL);
		g_string_append(out, "+");
		break;
	case IMAP_RESPONSE_TAGGED:
		g_assert_nonnull(r->tag);
		g_assert_true(r->status == IMAP_STATUS_OK ||
				r->status == IMAP_STATUS_NO ||
				r->status == IMAP_STATUS_BAD);
		g_string_append(out, r->tag);
		break;
	case IMAP_RESPONSE_UNTAGGED:
		g_assert_null(r->tag);
		g_string_append(out, "*");
		break;
	default:
		g_assert_not_reached();
	}
	if (r->kind != IMAP_RESPONSE_CONTINUATION &&
	    r->status == IMAP_STATUS_NONE) {
		g_assert_nonnull(r->name);
		g_assert_null(r->code);
		g_assert_cmpstr(r->text, ==, "");
		if (r->has_number)
			g_string_append_printf(out, " #%" PRIu32, r->number);
		g_string_append_printf(out, " %s ", r->name);
		dump_args(out, r->args);
		return;
	}

	g_assert_null(r->name);
	g_assert_false(r->has_number);
	g_assert_true(r->args->type == IMAP_ARG_EOL);
	if (r->status != IMAP_STATUS_NONE)
		g_string_append_printf(out, " %s", status_names[r->status]);
	if (r->code != NULL) {
		g_string_append_printf(out, " [%s", r->code);
		if (*r->code_raw != '\0') {
			g_string_append(out, " \"");
			escape(out, r->code_raw, strlen(r->code_raw), true);
			g_string_append(out, "\" ");
			dump_args(out, r->code_args);
		} else {
			g_assert_true(r->code_args->type == IMAP_ARG_EOL);
		}
		g_string_append(out, "]");
	}
	g_string_append(out, " \"");
	escape(out, r->text, strlen(r->text), true);
	g_string_append(out, "\"");
}

/* ---- callbacks ---- */

static enum imap_literal_action cb_begin(void *c,
		const struct imap_literal_info *info)
{
	struct ctx *ctx = c;
	enum imap_literal_action action = IMAP_LITERAL_INLINE;

	g_assert_false(ctx->streaming);
	g_string_append_printf(ctx->log, "begin(%s", info->name);
	if (info->has_number)
		g_string_append_printf(ctx->log, " #%" PRIu32, info->number);
	g_string_append_printf(ctx->log, " key=%s depth=%u size=%" PRIu64 "%s)",
			info->key != NULL ? info->key : "NULL", info->depth,
			info->size, info->binary ? " binary" : "");
	switch (ctx->policy) {
	case POLICY_STREAM_BODY:
		if (info->key != NULL && g_str_has_prefix(info->key, "BODY["))
			action = IMAP_LITERAL_STREAM;
		break;
	case POLICY_STREAM_ALL:
		action = IMAP_LITERAL_STREAM;
		break;
	case POLICY_REJECT:
		action = IMAP_LITERAL_REJECT;
		break;
	default:
		break;
	}
	if (action == IMAP_LITERAL_STREAM) {
		ctx->streaming = true;
		g_string_truncate(ctx->lit, 0);
	}
	g_string_append(ctx->log, "\n");
	return action;
}

static void cb_data(void *c, const void *data, size_t len)
{
	struct ctx *ctx = c;
	const unsigned char *d = data;

	g_assert_true(ctx->streaming);
	g_assert_cmpuint(len, >, 0);
	/* straight from the caller's buffer, not a copy */
	g_assert_true(d >= ctx->in_start && d + len <= ctx->in_end);
	g_string_append_len(ctx->lit, data, len);
}

static void cb_end(void *c)
{
	struct ctx *ctx = c;

	g_assert_true(ctx->streaming);
	ctx->streaming = false;
	g_string_append(ctx->log, "end(\"");
	escape(ctx->log, ctx->lit->str, ctx->lit->len, true);
	g_string_append(ctx->log, "\")\n");
}

static const struct imap_parser_callbacks callbacks = {
	.literal_begin = cb_begin,
	.literal_data = cb_data,
	.literal_end = cb_end,
};

/* ---- running ---- */

/*
 * Feed in pieces of step bytes (step 0: two pieces split at cut) and
 * return the transcript: callback events, "dump@end-offset" per response,
 * then "NEED_MORE" or "ERROR@offset: message".
 */
static char *run(const void *input, size_t len,
		const struct imap_parser_limits *limits, enum policy policy,
		size_t step, size_t cut)
{
	const unsigned char *in = input;
	struct ctx ctx = {
		.policy = policy,
		.log = g_string_new(NULL),
		.lit = g_string_new(NULL),
		.in_start = in,
		.in_end = in + len,
	};
	struct imap_parser *p;
	enum imap_parse_result res = IMAP_PARSE_NEED_MORE;
	size_t pos = 0, end, used;

	p = imap_parser_new(limits, policy == POLICY_NONE ? NULL : &callbacks,
			&ctx);
	while (pos < len && res != IMAP_PARSE_ERROR) {
		end = step > 0 ? MIN(pos + step, len) : pos < cut ? cut : len;
		while (pos < end) {
			res = imap_parser_feed(p, in + pos, end - pos, &used);
			g_assert_cmpuint(used, <=, end - pos);
			pos += used;
			if (res == IMAP_PARSE_RESPONSE) {
				g_assert_false(ctx.streaming);
				dump_response(ctx.log, imap_parser_response(p));
				g_string_append_printf(ctx.log, "@%zu\n", pos);
				continue;
			}
			if (res == IMAP_PARSE_ERROR) {
				g_string_append_printf(ctx.log,
						"ERROR@%zu: %s\n", pos,
						imap_parser_error(p));
				break;
			}
			/* NEED_MORE takes everything */
			g_assert_cmpuint(pos, ==, end);
			g_assert_cmpstr(imap_parser_error(p), ==, "no error");
		}
	}
	if (res == IMAP_PARSE_NEED_MORE)
		g_string_append(ctx.log, "NEED_MORE\n");
	if (res == IMAP_PARSE_ERROR) {
		/* the error sticks */
		g_assert_cmpint(imap_parser_feed(p, "* OK\r\n", 6, &used), ==,
				IMAP_PARSE_ERROR);
		g_assert_cmpuint(used, ==, 0);
	}
	imap_parser_free(&p);
	g_assert_null(p);
	g_string_free(ctx.lit, TRUE);
	return g_string_free(ctx.log, FALSE);
}

/* The transcript, after checking that chunking does not change it. */
static char *check(const void *in, size_t len,
		const struct imap_parser_limits *limits, enum policy policy)
{
	char *whole = run(in, len, limits, policy, len, 0);
	char *other;
	size_t cut;

	other = run(in, len, limits, policy, 1, 0);
	g_assert_cmpstr(other, ==, whole);
	g_free(other);
	if (len <= 400) {
		for (cut = 1; cut < len; cut++) {
			other = run(in, len, limits, policy, 0, cut);
			g_assert_cmpstr(other, ==, whole);
			g_free(other);
		}
	}
	return whole;
}

/* One response that must take exactly the whole input; callback events
 * before it are not compared. */
static void check_one(const char *in, size_t len,
		const struct imap_parser_limits *limits, enum policy policy,
		const char *expect)
{
	char *got = check(in, len, limits, policy);
	char *want = g_strdup_printf("%s@%zu\n", expect, len);
	char **lines = g_strsplit(got, "\n", -1);
	guint i, n = g_strv_length(lines);

	g_assert_cmpuint(n, >=, 2);
	for (i = 0; i + 2 < n; i++)
		g_assert_true(g_str_has_prefix(lines[i], "begin(") ||
				g_str_has_prefix(lines[i], "end("));
	/* a shorter transcript is simply wrong: show it whole */
	g_assert_cmpstr(strlen(got) >= strlen(want) ?
			got + strlen(got) - strlen(want) : got, ==, want);
	g_strfreev(lines);
	g_free(got);
	g_free(want);
}

/* An error whose message contains msg, also one byte at a time. */
static void check_error(const char *in, size_t len,
		const struct imap_parser_limits *limits, enum policy policy,
		const char *msg)
{
	char *got = check(in, len, limits, policy);
	const char *e = strstr(got, "ERROR@");

	if (e == NULL || strstr(e, msg) == NULL)
		g_error("input \"%s\": expected error \"%s\", got:\n%s",
				g_strescape(in, NULL), msg, got);
	g_free(got);
}

/* ---- tables ---- */

struct good {
	const char *in;
	size_t len;
	const char *expect;
};

static const struct good status_responses[] = {
	{ S("* OK [CAPABILITY IMAP4rev1 SASL-IR ID ENABLE IDLE LITERAL+ "
	    "AUTH=PLAIN] Dovecot ready.\r\n"),
	  "* OK [CAPABILITY \"IMAP4rev1 SASL-IR ID ENABLE IDLE LITERAL+ "
	  "AUTH=PLAIN\" (IMAP4rev1 SASL-IR ID ENABLE IDLE LITERAL+ "
	  "AUTH=PLAIN)] \"Dovecot ready.\"" },
	{ S("* PREAUTH [CAPABILITY IMAP4rev2] Logged in as alice\r\n"),
	  "* PREAUTH [CAPABILITY \"IMAP4rev2\" (IMAP4rev2)] "
	  "\"Logged in as alice\"" },
	{ S("* BYE Autologout; idle for too long\r\n"),
	  "* BYE \"Autologout; idle for too long\"" },
	{ S("* bye\r\n"), "* BYE \"\"" },
	{ S("* Ok [alert] Mind the gap\r\n"),
	  "* OK [ALERT] \"Mind the gap\"" },
	{ S("* OK\r\n"), "* OK \"\"" },
	{ S("* OK \r\n"), "* OK \"\"" },
	{ S("* OK [ALERT]\r\n"), "* OK [ALERT] \"\"" },
	{ S("* OK [ALERT] \r\n"), "* OK [ALERT] \"\"" },
	{ S("* OK[ALERT]x\r\n"), "* OK [ALERT] \"x\"" },
	{ S("* NO [] odd\r\n"), "* NO [] \"odd\"" },
	{ S("* OK\n"), "* OK \"\"" },
	{ S("* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen "
	    "\\Draft $Forwarded \\*)] Flags permitted.\r\n"),
	  "* OK [PERMANENTFLAGS \"(\\\\Answered \\\\Flagged \\\\Deleted "
	  "\\\\Seen \\\\Draft $Forwarded \\\\*)\" ((\\Answered \\Flagged "
	  "\\Deleted \\Seen \\Draft $Forwarded \\*))] "
	  "\"Flags permitted.\"" },
	/* odd keywords in a response code still give its arguments */
	{ S("* OK [PERMANENTFLAGS (\\Seen [Gmail]/Important k\x01 \\*)] "
	    "Ok\r\n"),
	  "* OK [PERMANENTFLAGS \"(\\\\Seen [Gmail]/Important k\\x01 "
	  "\\\\*)\" ((\\Seen [Gmail]/Important k\\x01 \\*))] \"Ok\"" },
	{ S("* OK [PERMANENTFLAGS (\\Seen [Gmail \\*)] Ok\r\n"),
	  "* OK [PERMANENTFLAGS \"(\\\\Seen [Gmail \\\\*)\" "
	  "((\\Seen [Gmail \\*))] \"Ok\"" },
	{ S("* OK [UIDVALIDITY 3857529045] UIDs valid\r\n"),
	  "* OK [UIDVALIDITY \"3857529045\" (3857529045)] \"UIDs valid\"" },
	{ S("* OK [HIGHESTMODSEQ 715194045007] Highest\r\n"),
	  "* OK [HIGHESTMODSEQ \"715194045007\" (715194045007)] "
	  "\"Highest\"" },
	{ S("* OK [UIDNEXT 4392] Predicted next UID\r\n"),
	  "* OK [UIDNEXT \"4392\" (4392)] \"Predicted next UID\"" },
	/* the text is free-form: brackets, quotes, 8-bit, braces */
	{ S("* OK [ALERT] Quota at 95% [really] \"soon\" \xc3\xa4\xff {5}\r\n"),
	  "* OK [ALERT] \"Quota at 95% [really] \\\"soon\\\" "
	  "\\xc3\\xa4\\xff {5}\"" },
	{ S("* NO Mailbox \"x[y\" (unavailable\r\n"),
	  "* NO \"Mailbox \\\"x[y\\\" (unavailable\"" },
	{ S("* OK text with\ttab and ctrl \x01\r\n"),
	  "* OK \"text with\\x09tab and ctrl \\x01\"" },
	/* code arguments that do not tokenize are dropped, not fatal */
	{ S("* NO [BADCHARSET (UTF-8] Bad charset\r\n"),
	  "* NO [BADCHARSET \"(UTF-8\" ()] \"Bad charset\"" },
	{ S("* NO [X-FOO \"open] quote\r\n"),
	  "* NO [X-FOO \"\\\"open\" ()] \"quote\"" },
	{ S("* OK [X-LIT {5}] no literals in codes\r\n"),
	  "* OK [X-LIT \"{5}\" ()] \"no literals in codes\"" },
	{ S("* OK [X-CLOSE a)] unbalanced\r\n"),
	  "* OK [X-CLOSE \"a)\" ()] \"unbalanced\"" },
	/* ']' inside quotes or nested brackets does not end the code */
	{ S("* NO [REFERRAL imap://bob@[::1]/INBOX] Try there\r\n"),
	  "* NO [REFERRAL \"imap://bob@[::1]/INBOX\" "
	  "(imap://bob@[::1]/INBOX)] \"Try there\"" },
	{ S("* OK [METADATA \"a]b\" 7] x]\r\n"),
	  "* OK [METADATA \"\\\"a]b\\\" 7\" (\"a]b\" 7)] \"x]\"" },
	{ S("* OK [X-Q \"a\\\"]b\"] t\r\n"),
	  "* OK [X-Q \"\\\"a\\\\\\\"]b\\\"\" (\"a\\\"]b\")] \"t\"" },
	{ S("* OK [BADEVENT (MessageNew (MessageExpunge))] x\r\n"),
	  "* OK [BADEVENT \"(MessageNew (MessageExpunge))\" "
	  "((MessageNew (MessageExpunge)))] \"x\"" },
	{ S("* OK [ALERT]]] x\r\n"), "* OK [ALERT] \"]] x\"" },

	{ S("A1 OK LOGIN completed\r\n"), "A1 OK \"LOGIN completed\"" },
	{ S("a2 no [AUTHENTICATIONFAILED] Authentication failed.\r\n"),
	  "a2 NO [AUTHENTICATIONFAILED] \"Authentication failed.\"" },
	{ S("A3 BAD Error in IMAP command: Unknown command\r\n"),
	  "A3 BAD \"Error in IMAP command: Unknown command\"" },
	{ S("A4 OK [READ-ONLY] EXAMINE completed\r\n"),
	  "A4 OK [READ-ONLY] \"EXAMINE completed\"" },
	{ S("A5 OK\r\n"), "A5 OK \"\"" },
	{ S("A5 Bad\n"), "A5 BAD \"\"" },
	{ S("A6 OK [COPYUID 38505 304,319:320 3956:3958] Done\r\n"),
	  "A6 OK [COPYUID \"38505 304,319:320 3956:3958\" "
	  "(38505 304,319:320 3956:3958)] \"Done\"" },
	{ S("A7 OK [APPENDUID 38505 3955] APPEND completed\r\n"),
	  "A7 OK [APPENDUID \"38505 3955\" (38505 3955)] "
	  "\"APPEND completed\"" },
	{ S("x.y-1 NO [TRYCREATE] Mailbox doesn't exist: Foo\r\n"),
	  "x.y-1 NO [TRYCREATE] \"Mailbox doesn't exist: Foo\"" },

	{ S("+ go ahead\r\n"), "+ \"go ahead\"" },
	{ S("+\r\n"), "+ \"\"" },
	{ S("+ \r\n"), "+ \"\"" },
	{ S("+\n"), "+ \"\"" },
	{ S("+ YGgGCSqGSIb3EgECAgIAb1kwV6ADAgEFoQMCAQ+iSzBJoAMCAQGiQgRA\r\n"),
	  "+ \"YGgGCSqGSIb3EgECAgIAb1kwV6ADAgEFoQMCAQ+iSzBJoAMCAQGiQgRA\"" },
	{ S("+ [ALERT] left alone\r\n"), "+ \"[ALERT] left alone\"" },
	{ S("+ idling\r\n"), "+ \"idling\"" },
};

static const struct good data_responses[] = {
	{ S("* 3 EXISTS\r\n"), "* #3 EXISTS ()" },
	{ S("* 0 RECENT\n"), "* #0 RECENT ()" },
	{ S("* 44 expunge\r\n"), "* #44 EXPUNGE ()" },
	{ S("* 4294967295 EXISTS\r\n"), "* #4294967295 EXISTS ()" },
	{ S("* 12 FETCH (UID 4711 FLAGS (\\Seen $Forwarded) RFC822.SIZE 2140 "
	    "INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" MODSEQ (12345))\r\n"),
	  "* #12 FETCH ((UID 4711 FLAGS (\\Seen $Forwarded) RFC822.SIZE 2140 "
	  "INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" MODSEQ (12345)))" },
	{ S("* 5 fetch (uid 1 flags ())\r\n"),
	  "* #5 FETCH ((uid 1 flags ()))" },
	{ S("* CAPABILITY IMAP4rev1 STARTTLS AUTH=GSSAPI LOGINDISABLED\r\n"),
	  "* CAPABILITY (IMAP4rev1 STARTTLS AUTH=GSSAPI LOGINDISABLED)" },
	{ S("* LIST (\\HasNoChildren) \"/\" INBOX\r\n"),
	  "* LIST ((\\HasNoChildren) \"/\" INBOX)" },
	{ S("* LIST (\\Noselect) NIL \"\"\r\n"),
	  "* LIST ((\\Noselect) NIL \"\")" },
	{ S("* LIST () \".\" \"Sent \\\"Items\\\" \\\\ x\"\r\n"),
	  "* LIST (() \".\" \"Sent \\\"Items\\\" \\\\ x\")" },
	{ S("* LIST () \"/\" \"[Gmail]/All Mail\"\r\n"),
	  "* LIST (() \"/\" \"[Gmail]/All Mail\")" },
	{ S("* LIST () \"/\" \"Entw\xc3\xbcrfe\"\r\n"),
	  "* LIST (() \"/\" \"Entw\\xc3\\xbcrfe\")" },
	{ S("* LIST () \"/\" nil\r\n"), "* LIST (() \"/\" NIL)" },
	{ S("* LIST () \"/\" \"NIL\"\r\n"), "* LIST (() \"/\" \"NIL\")" },
	{ S("* LIST () \"/\" NILS\r\n"), "* LIST (() \"/\" NILS)" },
	{ S("* LIST () \"/\" {8}\r\nfoo\r\nbar\r\n"),
	  "* LIST (() \"/\" {8}\"foo\\x0d\\x0abar\")" },
	{ S("* LSUB () \"/\" {0}\r\n\r\n"), "* LSUB (() \"/\" {0}\"\")" },
	{ S("* LIST () \"/\" Foo[bar\r\n"), "* LIST (() \"/\" Foo[bar)" },
	{ S("* X \"a\\b\\\\c\\\"\"\r\n"), "* X (\"ab\\\\c\\\"\")" },
	{ S("* STATUS \"INBOX\" (MESSAGES 231 UIDNEXT 44292 UIDVALIDITY 1 "
	    "HIGHESTMODSEQ 715194045007)\r\n"),
	  "* STATUS (\"INBOX\" (MESSAGES 231 UIDNEXT 44292 UIDVALIDITY 1 "
	  "HIGHESTMODSEQ 715194045007))" },
	{ S("* STATUS blurdybloop (MESSAGES 231 UIDNEXT 44292)\r\n"),
	  "* STATUS (blurdybloop (MESSAGES 231 UIDNEXT 44292))" },
	{ S("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"),
	  "* FLAGS ((\\Answered \\Flagged \\Deleted \\Seen \\Draft))" },
	{ S("* SEARCH 2 84 882\r\n"), "* SEARCH (2 84 882)" },
	{ S("* SEARCH\r\n"), "* SEARCH ()" },
	{ S("* SEARCH \r\n"), "* SEARCH ()" },
	{ S("* SEARCH  1   2 \r\n"), "* SEARCH (1 2)" },
	{ S("* ESEARCH (TAG \"A282\") UID MIN 2 COUNT 3 ALL 1:3,5\r\n"),
	  "* ESEARCH ((TAG \"A282\") UID MIN 2 COUNT 3 ALL 1:3,5)" },
	{ S("* ENABLED CONDSTORE QRESYNC\r\n"),
	  "* ENABLED (CONDSTORE QRESYNC)" },
	{ S("* NAMESPACE ((\"\" \"/\")) NIL ((\"Other Users/\" \"/\"))\r\n"),
	  "* NAMESPACE (((\"\" \"/\")) NIL ((\"Other Users/\" \"/\")))" },
	{ S("* ID (\"name\" \"Dovecot\")\r\n"),
	  "* ID ((\"name\" \"Dovecot\"))" },
	{ S("* ID NIL\r\n"), "* ID (NIL)" },
	{ S("* VANISHED (EARLIER) 41,43:116,118,120:211,214:540\r\n"),
	  "* VANISHED ((EARLIER) 41,43:116,118,120:211,214:540)" },
	{ S("* LIST(\\Noselect)\"/\"foo\r\n"),
	  "* LIST ((\\Noselect) \"/\" foo)" },
	{ S("* X a\"b\"(c)d\r\n"), "* X (a \"b\" (c) d)" },
	{ S("* X \xc3\xa4tom a{1}b ~x ~\r\n"),
	  "* X (\\xc3\\xa4tom a{1}b ~x ~)" },
	/* control bytes are atom bytes: keywords carry them now and then */
	{ S("* 1 FETCH (UID\x01 1)\r\n"), "* #1 FETCH ((UID\\x01 1))" },
	{ S("* SEARCH 1\x7f \x01\x1f\r\n"),
	  "* SEARCH (1\\x7f \\x01\\x1f)" },
	{ S("* SEARCH 1\t2\r\n"), "* SEARCH (1\\x092)" },
	/* keywords as servers and other clients set them: '[' and ']' are
	 * ordinary bytes outside a fetch item's section */
	{ S("* 1 FETCH (FLAGS (\\Seen [Gmail]/Important $label+foo "
	    "Label/Sub \\* [Gmail a[b x]y ] [) UID 1)\r\n"),
	  "* #1 FETCH ((FLAGS (\\Seen [Gmail]/Important $label+foo "
	  "Label/Sub \\* [Gmail a[b x]y ] [) UID 1))" },
	{ S("* FLAGS (\\Answered k\x01w [a b] \\*)\r\n"),
	  "* FLAGS ((\\Answered k\\x01w [a b] \\*))" },
	{ S("* X (a[b) c] (BODYX[d) e] ([x)\r\n"),
	  "* X ((a[b) c] (BODYX[d) e] ([x))" },
	{ S("* 1 FETCH (body.peek[1 (A)] NIL Binary.Size[2 (B)] 3)\r\n"),
	  "* #1 FETCH ((body.peek[1 (A)] NIL Binary.Size[2 (B)] 3))" },
	/* sections run through spaces and parens */
	{ S("* 1 FETCH (BODY[HEADER.FIELDS (DATE FROM)]<0> \"x\" BODY[] "
	    "\"\" BINARY[1] NIL BODY[1.2.MIME]<10.20> NIL)\r\n"),
	  "* #1 FETCH ((BODY[HEADER.FIELDS (DATE FROM)]<0> \"x\" BODY[] "
	  "\"\" BINARY[1] NIL BODY[1.2.MIME]<10.20> NIL))" },
	{ S("* 1 FETCH (BODY[HEADER.FIELDS (\"X-A\" [B])] NIL)\r\n"),
	  "* #1 FETCH ((BODY[HEADER.FIELDS (\"X-A\" [B])] NIL))" },
	{ S("* 2 FETCH (BODYSTRUCTURE (\"TEXT\" \"PLAIN\" (\"CHARSET\" "
	    "\"US-ASCII\") NIL NIL \"7BIT\" 3028 92))\r\n"),
	  "* #2 FETCH ((BODYSTRUCTURE (\"TEXT\" \"PLAIN\" (\"CHARSET\" "
	  "\"US-ASCII\") NIL NIL \"7BIT\" 3028 92)))" },
	/* literals: inline with NULL callbacks */
	{ S("* 12 FETCH (BODY[] {5}\r\nhello)\r\n"),
	  "* #12 FETCH ((BODY[] {5}\"hello\"))" },
	{ S("* 12 FETCH (BODY[] {5}\nhello UID 7)\n"),
	  "* #12 FETCH ((BODY[] {5}\"hello\" UID 7))" },
	{ S("* 1 FETCH (BODY[] {9}\r\na\r\nb\0\xff\xfe\r\n)\r\n"),
	  "* #1 FETCH ((BODY[] "
	  "{9}\"a\\x0d\\x0ab\\x00\\xff\\xfe\\x0d\\x0a\"))" },
	{ S("* 1 FETCH (BODY[] {0}\r\n)\r\n"),
	  "* #1 FETCH ((BODY[] {0}\"\"))" },
	{ S("* 1 FETCH (BINARY[] ~{4}\r\n\0\1\2\3)\r\n"),
	  "* #1 FETCH ((BINARY[] ~{4}\"\\x00\\x01\\x02\\x03\"))" },
	{ S("* 1 FETCH (ENVELOPE (\"date\" {7}\r\nsubj\"ct ((NIL NIL "
	    "{3}\r\nbob \"x\")) NIL) UID 9)\r\n"),
	  "* #1 FETCH ((ENVELOPE (\"date\" {7}\"subj\\\"ct\" ((NIL NIL "
	  "{3}\"bob\" \"x\")) NIL) UID 9))" },
	{ S("* 1 FETCH (BODY[1] {3}\r\n(((BODY[2] {3}\r\n)))UID 9)\r\n"),
	  "* #1 FETCH ((BODY[1] {3}\"(((\" BODY[2] {3}\")))\" UID 9))" },
};

static void test_table(const struct good *table, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		check_one(table[i].in, table[i].len, NULL, POLICY_NONE,
				table[i].expect);
		/* callbacks that inline change nothing but the log */
		g_free(check(table[i].in, table[i].len, NULL, POLICY_INLINE));
	}
}

static void test_status(void)
{
	test_table(status_responses, G_N_ELEMENTS(status_responses));
}

static void test_data(void)
{
	test_table(data_responses, G_N_ELEMENTS(data_responses));
}

struct bad {
	const char *in;
	size_t len;
	const char *msg;
};

static const struct bad malformed[] = {
	{ S("* 1 FETCH (UID 1\r\n"), "list not closed" },
	{ S("* 1 FETCH (UID 1 FLAGS (\\Seen)\r\n"), "list not closed" },
	/* an unmatched section swallows the rest of the line */
	{ S("* 1 FETCH (BODY[1 (A) UID 1)\r\n"), "list not closed" },
	{ S("* 1 FETCH UID 1)\r\n"), "unbalanced ')'" },
	{ S("* LIST ()) \"/\" x\r\n"), "unbalanced ')'" },
	{ S("* OK [ALERT\r\n"), "without ']'" },
	{ S("* OK [CODE arg and text\r\n"), "without ']'" },
	{ S("* OK [\r\n"), "without ']'" },
	{ S("A1 NO [CODE\r\n"), "without ']'" },
	{ S("* OK foo\rbar\r\n"), "CR not followed by LF" },
	{ S("* OK foo\r\r\n"), "CR not followed by LF" },
	{ S("* 1 FETCH (BODY[] {3}\r\nabc\r)\r\n"), "CR not followed by LF" },
	{ S("* OK fo\0o\r\n"), "NUL byte" },
	{ S("* SEARCH 1\0\r\n"), "NUL byte" },
	{ S("\0"), "NUL byte" },
	{ S("A1 FOO bar\r\n"), "bad status" },
	{ S("A1 PREAUTH hi\r\n"), "bad status" },
	{ S("A1 BYE\r\n"), "bad status" },
	{ S("A1 OKAY\r\n"), "bad status" },
	{ S("A1 \r\n"), "bad status" },
	{ S("A1\r\n"), "without status" },
	{ S("(A1) OK\r\n"), "malformed tag" },
	{ S("\"A1\" OK\r\n"), "malformed tag" },
	{ S("* LIST () \"/\" \"INBOX\r\n"), "quoted string not closed" },
	{ S("* LIST () \"/\" \"INBOX\\\"\r\n"), "quoted string not closed" },
	{ S("* LIST () \"/\" \"IN\\\r\n"), "quoted string not closed" },
	{ S("* LIST () \"/\" {12\r\n"), "malformed literal header" },
	{ S("* LIST () \"/\" {}\r\n"), "malformed literal header" },
	{ S("* LIST () \"/\" {-1}\r\n"), "malformed literal header" },
	{ S("* LIST () \"/\" {1 }\r\n"), "malformed literal header" },
	{ S("* LIST () \"/\" {5+}\r\n"), "malformed literal header" },
	{ S("* LIST () \"/\" ~{x}\r\n"), "malformed literal header" },
	{ S("* LIST () \"/\" {5}x\r\n"), "not at end of line" },
	{ S("* LIST () \"/\" {5} \r\n"), "not at end of line" },
	{ S("\r\n"), "empty response line" },
	{ S("\n"), "empty response line" },
	{ S("*\r\n"), "expected space after '*'" },
	{ S("*OK\r\n"), "expected space after '*'" },
	{ S("* \r\n"), "missing response name" },
	{ S("* (x)\r\n"), "missing response name" },
	{ S("* 3\r\n"), "missing response name" },
	{ S("* 3 \r\n"), "missing response name" },
	{ S("* 4294967296 EXISTS\r\n"), "out of range" },
	{ S("* 99999999999999999999999999 EXISTS\r\n"), "out of range" },
	{ S("* 1 FETCH (BODY[] {18446744073709551616}\r\n"),
	  "does not fit in 64 bits" },
	{ S("* 1 FETCH (BODY[] {99999999999999999999999999999999}\r\n"),
	  "does not fit in 64 bits" },
	{ S("* 1 FETCH (BODY[] {18446744073709551615}\r\n"),
	  "literal of 18446744073709551615 bytes exceeds limit" },
	{ S("* 1 FETCH (BODY[] {9999999999}\r\n"),
	  "literal of 9999999999 bytes exceeds limit" },
};

static void test_malformed(void)
{
	size_t i;

	for (i = 0; i < G_N_ELEMENTS(malformed); i++) {
		check_error(malformed[i].in, malformed[i].len, NULL,
				POLICY_NONE, malformed[i].msg);
		check_error(malformed[i].in, malformed[i].len, NULL,
				POLICY_STREAM_ALL, malformed[i].msg);
	}
}

/* The line ends are accepted in any mix, and the input may end anywhere
 * in a response without an error. */
static void test_incomplete(void)
{
	static const char *const partial[] = {
		"*", "* ", "* OK", "* OK\r", "A1 OK [ALERT", "+",
		"* 1 FETCH (BODY[] {5}\r\nhel", "* 1 FETCH (BODY[] {5}",
		"* 1 FETCH (BODY[] {5}\r", "* 1 FETCH (BODY[] {5}\r\nhello",
		"* LIST () \"/\" \"unterminated",
	};
	size_t i;
	char *got;

	for (i = 0; i < G_N_ELEMENTS(partial); i++) {
		got = check(partial[i], strlen(partial[i]), NULL,
				POLICY_STREAM_ALL);
		g_assert_true(g_str_has_suffix(got, "NEED_MORE\n"));
		g_assert_null(strstr(got, "ERROR"));
		g_free(got);
	}
}

/* ---- literals through the callbacks ---- */

static void test_stream_body(void)
{
	static const char in[] =
		"* 12 FETCH (UID 4711 BODY[] {11}\r\nab\r\ncd\0\xff\xfe\r\n"
		" FLAGS (\\Seen))\r\n";
	char *got = check(in, sizeof(in) - 1, NULL, POLICY_STREAM_BODY);

	g_assert_cmpstr(got, ==,
		"begin(FETCH #12 key=BODY[] depth=1 size=11)\n"
		"end(\"ab\\x0d\\x0acd\\x00\\xff\\xfe\\x0d\\x0a\")\n"
		"* #12 FETCH ((UID 4711 BODY[] {11}STREAM FLAGS (\\Seen)))"
		"@62\n");
	g_free(got);
}

/* BODY[] before UID, lower case key, several literals of which only the
 * BODY[ ones stream, a zero-size one among them. */
static void test_stream_mixed(void)
{
	static const char in[] =
		"* 3 FETCH (body[] {4}\r\nbody UID 9 BODY[HEADER] {0}\r\n"
		" ENVELOPE (NIL {4}\r\nsubj) BODY[1]<0> {2}\r\nhi "
		"BINARY[1] ~{3}\r\n\0\1\2 X-KEY {1}\r\nk)\r\n";
	char *got = check(in, sizeof(in) - 1, NULL, POLICY_STREAM_BODY);

	g_assert_cmpstr(got, ==,
		"begin(FETCH #3 key=BODY[] depth=1 size=4)\n"
		"end(\"body\")\n"
		"begin(FETCH #3 key=BODY[HEADER] depth=1 size=0)\n"
		"end(\"\")\n"
		"begin(FETCH #3 key=NULL depth=2 size=4)\n"
		"begin(FETCH #3 key=BODY[1]<0> depth=1 size=2)\n"
		"end(\"hi\")\n"
		"begin(FETCH #3 key=BINARY[1] depth=1 size=3 binary)\n"
		"begin(FETCH #3 key=X-KEY depth=1 size=1)\n"
		"* #3 FETCH ((body[] {4}STREAM UID 9 BODY[HEADER] {0}STREAM "
		"ENVELOPE (NIL {4}\"subj\") BODY[1]<0> {2}STREAM "
		"BINARY[1] ~{3}\"\\x00\\x01\\x02\" X-KEY {1}\"k\"))@132\n");
	g_free(got);
}

static void test_stream_all(void)
{
	static const char in[] =
		"* LIST () \"/\" {3}\r\nbox\r\n"
		"* 1 FETCH (BINARY[] ~{2}\r\n\0\0)\r\n"
		"* X {1}\r\n\0\r\n";
	char *got = check(in, sizeof(in) - 1, NULL, POLICY_STREAM_ALL);

	g_assert_cmpstr(got, ==,
		"begin(LIST key=NULL depth=0 size=3)\n"
		"end(\"box\")\n"
		"* LIST (() \"/\" {3}STREAM)@24\n"
		"begin(FETCH #1 key=BINARY[] depth=1 size=2 binary)\n"
		"end(\"\\x00\\x00\")\n"
		"* #1 FETCH ((BINARY[] ~{2}STREAM))@55\n"
		"begin(X key=NULL depth=0 size=1)\n"
		"end(\"\\x00\")\n"
		"* X ({1}STREAM)@67\n");
	g_free(got);
}

/* A big literal, streamed or inline, with the input in large pieces. */
static void test_stream_large(void)
{
	GString *in = g_string_new("* 1 FETCH (BODY[] {1000000}\r\n");
	GString *want = g_string_new(NULL);
	size_t i, hdr = in->len;
	char *got;

	for (i = 0; i < 1000000; i++)
		g_string_append_c(in, (char)(i * 7 + (i >> 8)));
	g_string_append(in, " UID 1)\r\n");

	g_string_append(want, "begin(FETCH #1 key=BODY[] depth=1 "
			"size=1000000)\nend(\"");
	escape(want, in->str + hdr, 1000000, true);
	g_string_append(want, "\")\n* #1 FETCH "
			"((BODY[] {1000000}STREAM UID 1))@1000038\n");
	got = run(in->str, in->len, NULL, POLICY_STREAM_BODY, in->len, 0);
	g_assert_true(strcmp(got, want->str) == 0);
	g_free(got);
	got = run(in->str, in->len, NULL, POLICY_STREAM_BODY, 1, 0);
	g_assert_true(strcmp(got, want->str) == 0);
	g_free(got);
	got = run(in->str, in->len, NULL, POLICY_STREAM_BODY, 4096, 0);
	g_assert_true(strcmp(got, want->str) == 0);
	g_free(got);

	g_string_assign(want, "* #1 FETCH ((BODY[] {1000000}\"");
	escape(want, in->str + hdr, 1000000, true);
	g_string_append(want, "\" UID 1))@1000038\n");
	got = run(in->str, in->len, NULL, POLICY_NONE, 1000, 0);
	g_assert_true(strcmp(got, want->str) == 0);
	g_free(got);
	got = check(in->str, in->len, NULL, POLICY_NONE);
	g_assert_true(strcmp(got, want->str) == 0);
	g_free(got);
	g_string_free(want, TRUE);
	g_string_free(in, TRUE);
}

static void test_reject(void)
{
	check_error(S("* LIST () \"/\" {3}\r\nbox\r\n"), NULL, POLICY_REJECT,
			"literal of 3 bytes rejected");
}

/* The exact bytes and calls, checked directly rather than via the log. */
struct chunks {
	GString *data;
	unsigned begins, datas, ends;
	enum imap_literal_action action;
};

static enum imap_literal_action chunks_begin(void *c,
		const struct imap_literal_info *info)
{
	struct chunks *ch = c;

	g_assert_cmpstr(info->key, ==, "BODY[]");
	g_assert_cmpstr(info->name, ==, "FETCH");
	g_assert_true(info->kind == IMAP_RESPONSE_UNTAGGED);
	g_assert_true(info->has_number);
	g_assert_cmpuint(info->number, ==, 7);
	g_assert_cmpuint(info->depth, ==, 1);
	g_assert_false(info->binary);
	ch->begins++;
	return ch->action;
}

static void chunks_data(void *c, const void *data, size_t len)
{
	struct chunks *ch = c;

	ch->datas++;
	g_string_append_len(ch->data, data, len);
}

static void chunks_end(void *c)
{
	struct chunks *ch = c;

	ch->ends++;
}

static void test_stream_chunks(void)
{
	static const struct imap_parser_callbacks cb = {
		chunks_begin, chunks_data, chunks_end,
	};
	static const char in[] =
		"* 7 FETCH (BODY[] {6}\r\na\r\n\0\xff" "b)\r\n";
	static const size_t steps[] = { 1, 2, 3, 5, sizeof(in) - 1 };
	struct chunks ch = { .data = g_string_new(NULL) };
	const struct imap_response *r;
	struct imap_parser *p;
	size_t i, pos, used;
	enum imap_parse_result res = IMAP_PARSE_NEED_MORE;
	uint64_t size = 0;

	for (i = 0; i < G_N_ELEMENTS(steps); i++) {
		ch.begins = ch.datas = ch.ends = 0;
		ch.action = IMAP_LITERAL_STREAM;
		g_string_truncate(ch.data, 0);
		p = imap_parser_new(NULL, &cb, &ch);
		for (pos = 0; pos < sizeof(in) - 1; pos += used) {
			res = imap_parser_feed(p, in + pos,
					MIN(steps[i], sizeof(in) - 1 - pos),
					&used);
			g_assert_cmpint(res, !=, IMAP_PARSE_ERROR);
		}
		g_assert_cmpint(res, ==, IMAP_PARSE_RESPONSE);
		g_assert_cmpuint(ch.begins, ==, 1);
		g_assert_cmpuint(ch.ends, ==, 1);
		g_assert_cmpuint(ch.datas, >=, 1);
		g_assert_cmpuint(ch.datas, <=, 6);
		g_assert_cmpuint(ch.data->len, ==, 6);
		g_assert_cmpmem(ch.data->str, 6, "a\r\n\0\xff" "b", 6);
		r = imap_parser_response(p);
		g_assert_cmpuint(r->args[0].u.list.count, ==, 2);
		g_assert_true(r->args[0].u.list.items[1].type ==
				IMAP_ARG_STREAMED);
		size = r->args[0].u.list.items[1].u.streamed_size;
		g_assert_cmpuint(size, ==, 6);
		imap_parser_free(&p);
	}
	g_string_free(ch.data, TRUE);
}

/* ---- limits ---- */

static char *repeat(const char *head, char c, size_t n, const char *tail)
{
	GString *s = g_string_new(head);
	size_t i;

	for (i = 0; i < n; i++)
		g_string_append_c(s, c);
	g_string_append(s, tail);
	return g_string_free(s, FALSE);
}

static void test_limit_line(void)
{
	struct imap_parser_limits lim;
	char *in, *got;

	imap_parser_limits_default(&lim);
	lim.max_line = 40;
	/* exactly 40 bytes including CRLF */
	in = repeat("* OK ", 'x', 33, "\r\n");
	g_assert_cmpuint(strlen(in), ==, 40);
	got = check(in, strlen(in), &lim, POLICY_NONE);
	g_assert_true(g_str_has_suffix(got, "@40\n"));
	g_free(got);
	g_free(in);
	in = repeat("* OK ", 'x', 34, "\r\n");
	check_error(in, strlen(in), &lim, POLICY_NONE,
			"ERROR@40: response longer than 40 bytes");
	g_free(in);
	/* the error comes at the limit, not at the line end */
	in = repeat("* OK ", 'x', 100, "");
	check_error(in, strlen(in), &lim, POLICY_NONE,
			"ERROR@40: response longer than 40 bytes");
	g_free(in);

	/* literal bytes do not count, the rest of the response does */
	in = g_strdup("* 1 FETCH (BODY[] {3}\r\nabc UID 12345678)\r\n");
	lim.max_line = strlen(in) - 3;
	g_free(check(in, strlen(in), &lim, POLICY_NONE));
	check_one(in, strlen(in), &lim, POLICY_STREAM_ALL,
			"* #1 FETCH ((BODY[] {3}STREAM UID 12345678))");
	lim.max_line--;
	check_error(in, strlen(in), &lim, POLICY_STREAM_ALL,
			"response longer than");
	g_free(in);

	/* the default: 1 MiB */
	imap_parser_limits_default(&lim);
	in = repeat("* SEARCH", ' ', 1024 * 1024 - 10, "\r\n");
	got = run(in, strlen(in), NULL, POLICY_NONE, strlen(in), 0);
	g_assert_cmpstr(got, ==, "* SEARCH ()@1048576\n");
	g_free(got);
	g_free(in);
	in = repeat("* SEARCH", ' ', 1024 * 1024 - 9, "\r\n");
	got = run(in, strlen(in), NULL, POLICY_NONE, strlen(in), 0);
	g_assert_cmpstr(got, ==,
		"ERROR@1048576: response longer than 1048576 bytes\n");
	g_free(got);
	g_free(in);
}

static void test_limit_depth(void)
{
	struct imap_parser_limits lim;
	char *open, *close, *in, *want;

	imap_parser_limits_default(&lim);
	g_assert_cmpuint(lim.max_depth, ==, 32);
	open = repeat("", '(', 32, "");
	close = repeat("", ')', 32, "");
	in = g_strconcat("* X ", open, close, "\r\n", NULL);
	want = g_strconcat("* X (", open, close, ")", NULL);
	check_one(in, strlen(in), NULL, POLICY_NONE, want);
	g_free(in);
	g_free(want);
	/* a literal at the deepest level */
	in = g_strconcat("* X ", open, "{1}\r\nz", close, "\r\n", NULL);
	want = g_strconcat("* X (", open, "{1}\"z\"", close, ")", NULL);
	check_one(in, strlen(in), NULL, POLICY_NONE, want);
	g_free(in);
	g_free(want);
	in = g_strconcat("* X (", open, close, ")\r\n", NULL);
	check_error(in, strlen(in), NULL, POLICY_NONE,
			"lists nested deeper than 32");
	g_free(in);
	g_free(open);
	g_free(close);

	lim.max_depth = 2;
	check_one(S("* X ((a)) (b)\r\n"), &lim, POLICY_NONE,
			"* X (((a)) (b))");
	check_error(S("* X (((a)))\r\n"), &lim, POLICY_NONE,
			"lists nested deeper than 2");
	/* too deep inside a response code only empties the arguments */
	check_one(S("* OK [X (((a)))] t\r\n"), &lim, POLICY_NONE,
			"* OK [X \"(((a)))\" ()] \"t\"");
	lim.max_depth = 0;
	check_one(S("* X a\r\n"), &lim, POLICY_NONE, "* X (a)");
	check_error(S("* X ()\r\n"), &lim, POLICY_NONE,
			"lists nested deeper than 0");
}

static void test_limit_literals(void)
{
	struct imap_parser_limits lim;

	imap_parser_limits_default(&lim);
	g_assert_cmpuint(lim.max_line, ==, 1024 * 1024);
	g_assert_cmpuint(lim.max_inline_literal, ==, 1024 * 1024);
	g_assert_cmpuint(lim.max_inline_total, ==, 8 * 1024 * 1024);
	g_assert_cmpuint(lim.max_streamed_literal, ==, 0xFFFFFFFFu);

	check_error(S("* 1 FETCH (BODY[] {9999999999}\r\n"), NULL, POLICY_NONE,
			"ERROR@32: literal of 9999999999 bytes exceeds limit "
			"1048576");
	lim.max_inline_literal = 10;
	check_one(S("* X {10}\r\n0123456789\r\n"), &lim, POLICY_NONE,
			"* X ({10}\"0123456789\")");
	check_error(S("* X {11}\r\n01234567890\r\n"), &lim, POLICY_NONE,
			"ERROR@10: literal of 11 bytes exceeds limit 10");
	check_error(S("* X ~{11}\r\n01234567890\r\n"), &lim, POLICY_INLINE,
			"literal of 11 bytes exceeds limit 10");
	/* the limit for inline literals does not apply to streamed ones */
	check_one(S("* X BODY[] {11}\r\n01234567890\r\n"), &lim,
			POLICY_STREAM_BODY, "* X (BODY[] {11}STREAM)");

	imap_parser_limits_default(&lim);
	lim.max_inline_total = 10;
	check_one(S("* X {5}\r\n01234 {5}\r\n56789\r\n"), &lim, POLICY_NONE,
			"* X ({5}\"01234\" {5}\"56789\")");
	check_error(S("* X {5}\r\n01234 {6}\r\n567890\r\n"), &lim,
			POLICY_NONE,
			"literals of one response exceed limit 10");
	/* streamed literals do not count, and the next response starts
	 * from zero */
	check_one(S("* X {5}\r\n01234 BODY[] {6}\r\n567890 {5}\r\nabcde\r\n"),
			&lim, POLICY_STREAM_BODY,
			"* X ({5}\"01234\" BODY[] {6}STREAM {5}\"abcde\")");
	g_free(check(S("* X {10}\r\n0123456789\r\n* X {10}\r\n0123456789\r\n"),
			&lim, POLICY_NONE));

	imap_parser_limits_default(&lim);
	lim.max_streamed_literal = 100;
	g_free(check(S("* X BODY[] {100}\r\n"), &lim, POLICY_STREAM_BODY));
	check_error(S("* X BODY[] {101}\r\n"), &lim, POLICY_STREAM_BODY,
			"literal of 101 bytes exceeds limit 100");
	imap_parser_limits_default(&lim);
	check_error(S("* X BODY[] {4294967296}\r\n"), &lim,
			POLICY_STREAM_BODY,
			"literal of 4294967296 bytes exceeds limit 4294967295");
	check_error(S("* X BODY[] "
			"{00000000000000000000000000004294967296}\r\n"),
			&lim, POLICY_STREAM_BODY,
			"literal of 4294967296 bytes exceeds limit 4294967295");
	g_free(check(S("* X BODY[] {4294967295}\r\nabc"), &lim,
			POLICY_STREAM_BODY));
}

/* ---- sequences of responses, reset ---- */

static void test_sequence(void)
{
	static const char in[] =
		"* OK [CAPABILITY IMAP4rev1] hi\r\n"
		"* 2 FETCH (BODY[] {3}\r\nabc)\r\n"
		"+ more\r\n"
		"* 1 EXPUNGE\n"
		"A1 OK done\r\n"
		"* 5 EX";
	struct imap_parser *p = imap_parser_new(NULL, NULL, NULL);
	const struct imap_response *r;
	static const size_t ends[] = { 32, 61, 69, 81, 93 };
	size_t pos = 0, used, i;
	char *got;

	for (i = 0; i < G_N_ELEMENTS(ends); i++) {
		g_assert_cmpint(imap_parser_feed(p, in + pos,
				sizeof(in) - 1 - pos, &used), ==,
				IMAP_PARSE_RESPONSE);
		pos += used;
		g_assert_cmpuint(pos, ==, ends[i]);
	}
	r = imap_parser_response(p);
	g_assert_cmpstr(r->tag, ==, "A1");
	/* an empty feed leaves the response alone */
	g_assert_cmpint(imap_parser_feed(p, "", 0, &used), ==,
			IMAP_PARSE_NEED_MORE);
	g_assert_cmpuint(used, ==, 0);
	g_assert_cmpstr(imap_parser_response(p)->tag, ==, "A1");
	g_assert_cmpint(imap_parser_feed(p, in + pos, sizeof(in) - 1 - pos,
			&used), ==, IMAP_PARSE_NEED_MORE);
	g_assert_cmpuint(used, ==, sizeof(in) - 1 - pos);
	g_assert_cmpint(imap_parser_feed(p, "ISTS\r\n", 6, &used), ==,
			IMAP_PARSE_RESPONSE);
	g_assert_cmpuint(used, ==, 6);
	r = imap_parser_response(p);
	g_assert_cmpstr(r->name, ==, "EXISTS");
	g_assert_cmpuint(r->number, ==, 5);
	imap_parser_free(&p);
	imap_parser_free(&p);

	got = check(in, sizeof(in) - 1, NULL, POLICY_STREAM_ALL);
	g_assert_cmpstr(got, ==,
		"* OK [CAPABILITY \"IMAP4rev1\" (IMAP4rev1)] \"hi\"@32\n"
		"begin(FETCH #2 key=BODY[] depth=1 size=3)\n"
		"end(\"abc\")\n"
		"* #2 FETCH ((BODY[] {3}STREAM))@61\n"
		"+ \"more\"@69\n"
		"* #1 EXPUNGE ()@81\n"
		"A1 OK \"done\"@93\n"
		"NEED_MORE\n");
	g_free(got);
	/* an error after good responses */
	got = check(S("* 1 EXISTS\r\n* 2 EXISTS\r\n* 3 EXISTS\r\r"), NULL,
			POLICY_NONE);
	g_assert_cmpstr(got, ==,
		"* #1 EXISTS ()@12\n"
		"* #2 EXISTS ()@24\n"
		"ERROR@35: CR not followed by LF\n");
	g_free(got);
}

static void test_reset(void)
{
	static const char *const halves[] = {
		"* 1 FETCH (BODY[] {10}\r\nabc",	/* mid literal */
		"* 1 FETCH (BODY[] {10}\r",		/* mid line end */
		"* 1 FETCH (FLAGS (\\Seen",		/* mid list */
		"* OK [CAPABILITY IMAP4rev1",		/* mid code */
		"* 1 FETCH (\0",			/* error */
		"",
	};
	static const char fresh[] = "* OK [STARTTLS] ready\r\n";
	struct ctx ctx = { .log = g_string_new(NULL),
			   .lit = g_string_new(NULL),
			   .policy = POLICY_STREAM_BODY };
	struct imap_parser *p = imap_parser_new(NULL, &callbacks, &ctx);
	const struct imap_response *r;
	size_t i, used;

	for (i = 0; i < G_N_ELEMENTS(halves); i++) {
		ctx.in_start = (const unsigned char *)halves[i];
		ctx.in_end = ctx.in_start + strlen(halves[i]) + 1;
		/* the NUL of the error case is part of the input */
		g_assert_cmpint(imap_parser_feed(p, halves[i],
				strlen(halves[i]) + (i == 4), &used), ==,
				i == 4 ? IMAP_PARSE_ERROR :
				IMAP_PARSE_NEED_MORE);
		imap_parser_reset(p);
		ctx.streaming = false;
		g_assert_cmpstr(imap_parser_error(p), ==, "no error");
		g_assert_cmpint(imap_parser_feed(p, fresh, sizeof(fresh) - 1,
				&used), ==, IMAP_PARSE_RESPONSE);
		g_assert_cmpuint(used, ==, sizeof(fresh) - 1);
		r = imap_parser_response(p);
		g_assert_cmpint(r->status, ==, IMAP_STATUS_OK);
		g_assert_cmpstr(r->code, ==, "STARTTLS");
		g_assert_cmpstr(r->text, ==, "ready");
		g_assert_null(r->name);
		g_assert_true(imap_arg_is_eol(r->args));
		/* and reset right after a response */
		imap_parser_reset(p);
	}
	imap_parser_free(&p);
	g_string_free(ctx.log, TRUE);
	g_string_free(ctx.lit, TRUE);
}

/* Many responses in a row reuse their memory (run under ASan/valgrind for
 * the real check) and keep earlier pointers valid until the next feed. */
/* Keywords full of unmatched '[' cost time linear in the line, and each
 * stays one atom of its own. */
static void test_brackets_linear(void)
{
	struct imap_parser *p = imap_parser_new(NULL, NULL, NULL);
	GString *in = g_string_new("* 1 FETCH (FLAGS (");
	const struct imap_response *r;
	const struct imap_arg *flags;
	size_t used, count;
	unsigned i, n = 200000;

	for (i = 0; i < n; i++)
		g_string_append(in, i % 2 ? "a[ " : "[[ ");
	g_string_append(in, ") UID 1)\r\n");
	g_assert_cmpuint(in->len, <, 1024 * 1024);
	g_assert_cmpint(imap_parser_feed(p, in->str, in->len, &used), ==,
			IMAP_PARSE_RESPONSE);
	g_assert_cmpuint(used, ==, in->len);
	r = imap_parser_response(p);
	g_assert_cmpuint(r->args[0].u.list.count, ==, 4);
	g_assert_true(imap_arg_get_list(&r->args[0].u.list.items[1], &flags,
			&count));
	g_assert_cmpuint(count, ==, n);
	g_assert_cmpstr(flags[n - 1].u.str.data, ==, "a[");
	imap_parser_free(&p);
	g_string_free(in, TRUE);
}

static void test_many(void)
{
	struct imap_parser *p = imap_parser_new(NULL, NULL, NULL);
	GString *in = g_string_new(NULL);
	const struct imap_response *r;
	size_t pos = 0, used;
	unsigned i;

	for (i = 0; i < 2000; i++)
		g_string_append_printf(in, "* %u FETCH (UID %u BODY[] {%u}\r\n"
				"%.*s FLAGS (\\Seen))\r\n", i + 1, i * 3,
				i % 50 + 1, (int)(i % 50 + 1),
				"0123456789012345678901234567890123456789"
				"0123456789");
	for (i = 0; i < 2000; i++) {
		g_assert_cmpint(imap_parser_feed(p, in->str + pos,
				in->len - pos, &used), ==,
				IMAP_PARSE_RESPONSE);
		pos += used;
		r = imap_parser_response(p);
		g_assert_cmpuint(r->number, ==, i + 1);
		g_assert_cmpuint(r->args[0].u.list.count, ==, 6);
		g_assert_cmpuint(r->args[0].u.list.items[3].u.str.len, ==,
				i % 50 + 1);
	}
	g_assert_cmpuint(pos, ==, in->len);
	imap_parser_free(&p);
	/* and the same one byte at a time */
	g_free(check(in->str, in->len, NULL, POLICY_STREAM_BODY));
	g_string_free(in, TRUE);
}

/* A huge response and then a small one on the same parser: the buffers
 * that grew are given back and everything still works. */
static void test_big_then_small(void)
{
	GString *in = g_string_new("* SEARCH");
	GString *want = g_string_new("* SEARCH (");
	char *got;
	unsigned i;

	for (i = 1; i <= 20000; i++) {
		g_string_append_printf(in, " %u", i);
		g_string_append_printf(want, "%s%u", i > 1 ? " " : "", i);
	}
	g_string_append_printf(want, ")@%zu\n", in->len + 2);
	g_string_append(in, "\r\n* 1 FETCH (FLAGS (\\Seen))\r\n");
	g_string_append_printf(want, "* #1 FETCH ((FLAGS (\\Seen)))@%zu\n",
			in->len);
	got = check(in->str, in->len, NULL, POLICY_NONE);
	g_assert_cmpstr(got, ==, want->str);
	g_free(got);
	g_string_free(in, TRUE);
	g_string_free(want, TRUE);
}

/* ---- accessors ---- */

static void test_accessors(void)
{
	static const char in[] =
		"* X 0 4294967295 4294967296 18446744073709551615 "
		"18446744073709551616 +1 -1 \"\" \"12\" 1a 007 NIL "
		"\"str\" {3}\r\na\0b {3}\r\nabc (l 1) Atom ~{2}\r\nhi "
		"BODY[] {2}\r\nzz\r\n";
	static const struct imap_parser_callbacks cb = {
		.literal_begin = cb_begin,
		.literal_data = cb_data,
		.literal_end = cb_end,
	};
	struct ctx ctx = {
		.policy = POLICY_STREAM_BODY,
		.log = g_string_new(NULL),
		.lit = g_string_new(NULL),
		.in_start = (const unsigned char *)in,
		.in_end = (const unsigned char *)in + sizeof(in),
	};
	struct imap_parser *p = imap_parser_new(NULL, &cb, &ctx);
	const struct imap_arg *a, *items;
	const char *s;
	size_t used, len, count;
	uint32_t u32;
	uint64_t u64;

	g_free(check(in, sizeof(in) - 1, NULL, POLICY_STREAM_BODY));
	g_assert_cmpint(imap_parser_feed(p, in, sizeof(in) - 1, &used), ==,
			IMAP_PARSE_RESPONSE);
	g_assert_cmpuint(used, ==, sizeof(in) - 1);
	a = imap_parser_response(p)->args;

	/* 0 */
	g_assert_true(imap_arg_get_uint32(&a[0], &u32));
	g_assert_cmpuint(u32, ==, 0);
	g_assert_true(imap_arg_get_uint64(&a[0], &u64));
	g_assert_cmpuint(u64, ==, 0);
	/* 4294967295 */
	g_assert_true(imap_arg_get_uint32(&a[1], &u32));
	g_assert_cmpuint(u32, ==, UINT32_MAX);
	/* 4294967296 */
	u32 = 17;
	g_assert_false(imap_arg_get_uint32(&a[2], &u32));
	g_assert_cmpuint(u32, ==, 17);
	g_assert_true(imap_arg_get_uint64(&a[2], &u64));
	g_assert_cmpuint(u64, ==, 4294967296ull);
	/* 18446744073709551615 */
	g_assert_true(imap_arg_get_uint64(&a[3], &u64));
	g_assert_cmpuint(u64, ==, UINT64_MAX);
	g_assert_false(imap_arg_get_uint32(&a[3], &u32));
	/* 18446744073709551616 */
	g_assert_false(imap_arg_get_uint64(&a[4], &u64));
	/* +1 -1 "" "12" 1a */
	for (count = 5; count <= 9; count++) {
		g_assert_false(imap_arg_get_uint32(&a[count], &u32));
		g_assert_false(imap_arg_get_uint64(&a[count], &u64));
	}
	/* 007 */
	g_assert_true(imap_arg_get_uint32(&a[10], &u32));
	g_assert_cmpuint(u32, ==, 7);

	/* "" */
	g_assert_true(imap_arg_get_astring(&a[7], &s));
	g_assert_cmpstr(s, ==, "");
	g_assert_false(imap_arg_get_atom(&a[7], &s));
	g_assert_true(imap_arg_get_string_len(&a[7], &s, &len));
	g_assert_cmpuint(len, ==, 0);
	/* NIL */
	g_assert_true(a[11].type == IMAP_ARG_NIL);
	g_assert_false(imap_arg_get_atom(&a[11], &s));
	g_assert_false(imap_arg_atom_equals(&a[11], "NIL"));
	g_assert_true(imap_arg_get_astring(&a[11], &s));
	g_assert_cmpstr(s, ==, "NIL");
	s = "x";
	g_assert_true(imap_arg_get_nstring(&a[11], &s));
	g_assert_null(s);
	g_assert_false(imap_arg_get_string_len(&a[11], &s, &len));
	g_assert_false(imap_arg_get_uint32(&a[11], &u32));
	/* "str" */
	g_assert_true(imap_arg_get_nstring(&a[12], &s));
	g_assert_cmpstr(s, ==, "str");
	g_assert_false(imap_arg_atom_equals(&a[12], "str"));
	/* {3} a\0b */
	g_assert_false(imap_arg_get_astring(&a[13], &s));
	g_assert_false(imap_arg_get_nstring(&a[13], &s));
	g_assert_true(imap_arg_get_string_len(&a[13], &s, &len));
	g_assert_cmpmem(s, len, "a\0b", 3);
	/* {3} abc */
	g_assert_true(imap_arg_get_astring(&a[14], &s));
	g_assert_cmpstr(s, ==, "abc");
	g_assert_false(imap_arg_get_atom(&a[14], &s));
	/* (l 1) */
	g_assert_true(imap_arg_get_list(&a[15], &items, &count));
	g_assert_cmpuint(count, ==, 2);
	g_assert_true(imap_arg_atom_equals(&items[0], "L"));
	g_assert_true(imap_arg_get_uint32(&items[1], &u32));
	g_assert_cmpuint(u32, ==, 1);
	g_assert_true(imap_arg_is_eol(&items[2]));
	g_assert_false(imap_arg_get_astring(&a[15], &s));
	g_assert_false(imap_arg_get_list(&a[16], &items, &count));
	/* Atom */
	g_assert_true(imap_arg_atom_equals(&a[16], "ATOM"));
	g_assert_true(imap_arg_atom_equals(&a[16], "atom"));
	g_assert_false(imap_arg_atom_equals(&a[16], "ATO"));
	g_assert_false(imap_arg_atom_equals(&a[16], "ATOMS"));
	g_assert_true(imap_arg_get_atom(&a[16], &s));
	g_assert_cmpstr(s, ==, "Atom");
	g_assert_false(imap_arg_get_string_len(&a[16], &s, &len));
	/* ~{2} hi */
	g_assert_true(a[17].binary);
	g_assert_true(imap_arg_get_astring(&a[17], &s));
	g_assert_cmpstr(s, ==, "hi");
	/* BODY[] {2}STREAM */
	g_assert_true(imap_arg_get_atom(&a[18], &s));
	g_assert_cmpstr(s, ==, "BODY[]");
	g_assert_true(a[19].type == IMAP_ARG_STREAMED);
	g_assert_cmpuint(a[19].u.streamed_size, ==, 2);
	g_assert_false(imap_arg_get_astring(&a[19], &s));
	g_assert_false(imap_arg_get_nstring(&a[19], &s));
	g_assert_false(imap_arg_get_string_len(&a[19], &s, &len));
	g_assert_false(imap_arg_get_atom(&a[19], &s));
	g_assert_false(imap_arg_get_uint64(&a[19], &u64));
	/* EOL */
	g_assert_true(imap_arg_is_eol(&a[20]));
	g_assert_false(imap_arg_is_eol(&a[19]));
	g_assert_false(imap_arg_get_astring(&a[20], &s));
	g_assert_false(imap_arg_get_nstring(&a[20], &s));
	g_assert_false(imap_arg_atom_equals(&a[20], ""));

	imap_parser_free(&p);
	g_string_free(ctx.log, TRUE);
	g_string_free(ctx.lit, TRUE);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/parser/status", test_status);
	g_test_add_func("/parser/data", test_data);
	g_test_add_func("/parser/malformed", test_malformed);
	g_test_add_func("/parser/incomplete", test_incomplete);
	g_test_add_func("/parser/stream/body", test_stream_body);
	g_test_add_func("/parser/stream/mixed", test_stream_mixed);
	g_test_add_func("/parser/stream/all", test_stream_all);
	g_test_add_func("/parser/stream/large", test_stream_large);
	g_test_add_func("/parser/stream/chunks", test_stream_chunks);
	g_test_add_func("/parser/stream/reject", test_reject);
	g_test_add_func("/parser/limit/line", test_limit_line);
	g_test_add_func("/parser/limit/depth", test_limit_depth);
	g_test_add_func("/parser/limit/literals", test_limit_literals);
	g_test_add_func("/parser/sequence", test_sequence);
	g_test_add_func("/parser/reset", test_reset);
	g_test_add_func("/parser/many", test_many);
	g_test_add_func("/parser/brackets-linear", test_brackets_linear);
	g_test_add_func("/parser/big-then-small", test_big_then_small);
	g_test_add_func("/parser/accessors", test_accessors);
	return g_test_run();
}
