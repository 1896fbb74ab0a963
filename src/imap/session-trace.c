/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The IMAP trace (-o trace): what was sent and received, one line each,
 * with literals shown by size only and nothing that could carry a secret.
 */
#include "imap/session-private.h"

#include "log.h"

static void trace_args(GString *out, const struct imap_arg *args,
		unsigned depth)
{
	for (const struct imap_arg *arg = args; arg->type != IMAP_ARG_EOL;
			arg++) {
		if (arg != args)
			g_string_append_c(out, ' ');
		switch (arg->type) {
		case IMAP_ARG_NIL:
			g_string_append(out, "NIL");
			break;
		case IMAP_ARG_ATOM:
			g_string_append_len(out, arg->u.str.data,
					(gssize)arg->u.str.len);
			break;
		case IMAP_ARG_STRING:
			g_string_append_c(out, '"');
			g_string_append_len(out, arg->u.str.data,
					(gssize)arg->u.str.len);
			g_string_append_c(out, '"');
			break;
		case IMAP_ARG_LITERAL:
			/* Literals may be anything, bodies included. */
			g_string_append_printf(out, "{%zu}", arg->u.str.len);
			break;
		case IMAP_ARG_STREAMED:
			g_string_append_printf(out, "{%" G_GUINT64_FORMAT
					" bytes elided}", arg->u.streamed_size);
			break;
		case IMAP_ARG_LIST:
			g_string_append_c(out, '(');
			if (depth < 8)
				trace_args(out, arg->u.list.items, depth + 1);
			else
				g_string_append(out, "...");
			g_string_append_c(out, ')');
			break;
		case IMAP_ARG_EOL:
			break;
		}
	}
}

static const char *status_name(enum imap_status status)
{
	switch (status) {
	case IMAP_STATUS_OK:
		return "OK";
	case IMAP_STATUS_NO:
		return "NO";
	case IMAP_STATUS_BAD:
		return "BAD";
	case IMAP_STATUS_PREAUTH:
		return "PREAUTH";
	case IMAP_STATUS_BYE:
		return "BYE";
	case IMAP_STATUS_NONE:
		break;
	}
	return "";
}

void session_trace_response(struct imap_session *session,
		const struct imap_response *r)
{
	GString *line;

	if (!log_trace_enabled())
		return;
	line = g_string_new(NULL);
	if (r->kind == IMAP_RESPONSE_CONTINUATION) {
		/* During AUTHENTICATE a challenge may echo credentials. */
		g_string_append(line, "+ <elided>");
	} else {
		g_string_append(line, r->kind == IMAP_RESPONSE_TAGGED ?
				r->tag : "*");
		if (r->has_number)
			g_string_append_printf(line, " %u", r->number);
		if (r->name) {
			g_string_append_printf(line, " %s", r->name);
			if (r->args[0].type != IMAP_ARG_EOL) {
				g_string_append_c(line, ' ');
				trace_args(line, r->args, 0);
			}
		} else {
			g_string_append_printf(line, " %s",
					status_name(r->status));
			if (r->code)
				g_string_append_printf(line, " [%s%s%s]",
						r->code, *r->code_raw ? " " : "",
						r->code_raw);
			if (*r->text)
				g_string_append_printf(line, " %s", r->text);
		}
	}
	log_trace_line('S', session->id, line->str, line->len);
	g_string_free(line, TRUE);
}

void session_trace_sent(struct imap_session *session, const GString *shown)
{
	if (log_trace_enabled())
		log_trace_line('C', session->id, shown->str, shown->len);
}
