/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * IMAP response parser (RFC 3501/9051), see parser.h.
 *
 * Input is cut into segments: the bytes up to a line end.  A segment either
 * ends the response or ends with a literal header "{n}", in which case the n
 * literal bytes follow and then the next segment.  Only the per-byte work
 * (line ends, NULs, the line limit, literal bytes) sees how the input was
 * chunked; a segment is tokenized in one go once its line end has arrived.
 * So one byte at a time gives exactly what one big buffer gives, and the
 * only tokenizer state kept between segments is the stack of open lists.
 *
 * This file holds that per-byte work (the feed loop, segments, literals),
 * the response header (tag, status, response code, name) and the life
 * cycle; the tokenizer and the stack of open lists are in parser-tokenize.c,
 * so that each half can be read without the other's details.
 *
 * Everything a response points to lives in an arena that is emptied when
 * the next response starts.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

#include <glib.h>

#include "parser.h"
#include "parser-private.h"

#define SEG_INITIAL	256
/* Buffers that grew past these are freed when the next response starts. */
#define SEG_KEEP	(64 * 1024)
#define ITEMS_KEEP	4096

static const char *const status_names[] = {
	[IMAP_STATUS_OK] = "OK",
	[IMAP_STATUS_NO] = "NO",
	[IMAP_STATUS_BAD] = "BAD",
	[IMAP_STATUS_PREAUTH] = "PREAUTH",
	[IMAP_STATUS_BYE] = "BYE",
};

/* ---- helpers shared with the tokenizer ---- */

char *parser_strndup(struct imap_parser *p, const char *s, size_t len,
		bool upper)
{
	char *d = imap_arena_alloc(&p->arena, len + 1);
	size_t i;

	for (i = 0; i < len; i++)
		d[i] = upper ? g_ascii_toupper(s[i]) : s[i];
	d[len] = '\0';
	return d;
}

int parser_fail(struct imap_parser *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	g_vsnprintf(p->error, sizeof(p->error), fmt, ap);
	va_end(ap);
	p->state = STATE_ERROR;
	return -1;
}

/* ---- status responses and the response header ---- */

static bool all_digits(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return len > 0;
}

/* OK/NO/BAD/PREAUTH/BYE followed by the end, a space or '['. */
static enum imap_status match_status(const char *s, size_t len,
		size_t *len_r)
{
	enum imap_status st;
	size_t n;

	for (st = IMAP_STATUS_OK; st <= IMAP_STATUS_BYE; st++) {
		n = strlen(status_names[st]);
		if (len >= n &&
		    g_ascii_strncasecmp(s, status_names[st], n) == 0 &&
		    (len == n || s[n] == ' ' || s[n] == '[')) {
			*len_r = n;
			return st;
		}
	}
	return IMAP_STATUS_NONE;
}

/* The ']' closing a response code whose arguments start at s.  Quoted
 * strings and nested brackets (REFERRAL imap://[::1]/) are skipped; if that
 * finds nothing, the first ']' will do. */
static const char *find_code_end(const char *s, const char *end)
{
	const char *q;
	size_t nest = 0;
	bool quoted = false;

	for (q = s; q < end; q++) {
		if (quoted) {
			if (*q == '\\' && q + 1 < end)
				q++;
			else if (*q == '"')
				quoted = false;
		} else if (*q == '"') {
			quoted = true;
		} else if (*q == '[') {
			nest++;
		} else if (*q == ']') {
			if (nest == 0)
				return q;
			nest--;
		}
	}
	return memchr(s, ']', end - s);
}

/* Arguments of a response code; empty unless they tokenize cleanly. */
static const struct imap_arg *code_args(struct imap_parser *p,
		const char *s, size_t len)
{
	if (parser_tokenize(p, s, len, false) == TOK_END && p->depth == 0)
		return parser_finish_top(p);
	/* not fatal: the response itself is fine */
	p->state = STATE_LINE;
	p->error[0] = '\0';
	parser_clear_levels(p);
	return p->empty_args;
}

/* s is what follows the status keyword. */
static int parse_status_rest(struct imap_parser *p, const char *s,
		size_t len)
{
	struct imap_response *r = &p->resp;
	const char *end;
	size_t i = 0, start;

	if (i < len && s[i] == ' ')
		i++;
	if (i < len && s[i] == '[') {
		start = ++i;
		while (i < len && s[i] != ' ' && s[i] != ']')
			i++;
		if (i == len)
			return parser_fail(p, "response code without ']'");
		r->code = parser_strndup(p, s + start, i - start, true);
		if (s[i] == ' ') {
			start = ++i;
			end = find_code_end(s + i, s + len);
			if (end == NULL)
				return parser_fail(p,
						"response code without ']'");
			i = end - s;
			r->code_raw = parser_strndup(p, s + start, i - start,
					false);
			r->code_args = code_args(p, r->code_raw, i - start);
		}
		i++;
		if (i < len && s[i] == ' ')
			i++;
	}
	r->text = parser_strndup(p, s + i, len - i, false);
	return 1;
}

/*
 * The start of the first segment.  Returns 1 when that completes the
 * response (status, continuation), 0 for a data response whose arguments
 * start at *pos_r, -1 on error.
 */
static int parse_header(struct imap_parser *p, const char *s, size_t len,
		size_t *pos_r)
{
	struct imap_response *r = &p->resp;
	uint64_t num;
	size_t i, n;

	if (len == 0)
		return parser_fail(p, "empty response line");
	if (s[0] == '+') {
		r->kind = IMAP_RESPONSE_CONTINUATION;
		i = len > 1 && s[1] == ' ' ? 2 : 1;
		r->text = parser_strndup(p, s + i, len - i, false);
		return 1;
	}
	if (s[0] != '*') {
		n = parser_atom_run(s, len);
		if (n == 0)
			return parser_fail(p, "malformed tag");
		r->kind = IMAP_RESPONSE_TAGGED;
		r->tag = parser_strndup(p, s, n, false);
		if (n == len || s[n] != ' ')
			return parser_fail(p, "tagged response without status");
		r->status = match_status(s + n + 1, len - n - 1, &i);
		if (r->status != IMAP_STATUS_OK &&
		    r->status != IMAP_STATUS_NO &&
		    r->status != IMAP_STATUS_BAD)
			return parser_fail(p,
					"tagged response with bad status");
		return parse_status_rest(p, s + n + 1 + i, len - n - 1 - i);
	}

	r->kind = IMAP_RESPONSE_UNTAGGED;
	if (len < 2 || s[1] != ' ')
		return parser_fail(p, "expected space after '*'");
	i = 2;
	r->status = match_status(s + i, len - i, &n);
	if (r->status != IMAP_STATUS_NONE)
		return parse_status_rest(p, s + i + n, len - i - n);
	n = parser_atom_run(s + i, len - i);
	if (all_digits(s + i, n)) {
		if (!imap_parse_uint(s + i, n, UINT32_MAX, &num))
			return parser_fail(p,
					"message number %.*s%s out of range",
					(int)MIN(n, 20), s + i,
					n > 20 ? "..." : "");
		r->has_number = true;
		r->number = (uint32_t)num;
		i += n;
		if (i == len || s[i] != ' ')
			return parser_fail(p, "missing response name");
		i++;
		n = parser_atom_run(s + i, len - i);
	}
	if (n == 0)
		return parser_fail(p, "missing response name");
	r->name = parser_strndup(p, s + i, n, true);
	*pos_r = i + n;
	return 0;
}

/* ---- literals ---- */

static void finish_literal(struct imap_parser *p)
{
	struct imap_arg arg = { .binary = p->lit_binary };

	if (p->lit_stream) {
		if (p->cb.literal_end != NULL)
			p->cb.literal_end(p->ctx);
		arg.type = IMAP_ARG_STREAMED;
		arg.u.streamed_size = p->lit_size;
	} else {
		p->lit_buf[p->lit_size] = '\0';
		arg.type = IMAP_ARG_LITERAL;
		arg.u.str.data = p->lit_buf;
		arg.u.str.len = (size_t)p->lit_size;
	}
	parser_push_arg(p, &arg);
	p->state = STATE_LINE;
}

static int begin_literal(struct imap_parser *p)
{
	const struct imap_parser_limits *lim = &p->limits;
	const struct arg_level *l = &p->levels[p->depth];
	const struct imap_arg *prev = l->count > 0 ? &l->items[l->count - 1]
		: NULL;
	struct imap_literal_info info = {
		.kind = p->resp.kind,
		.has_number = p->resp.has_number,
		.number = p->resp.number,
		.name = p->resp.name,
		.depth = p->depth,
		.size = p->lit_size,
		.binary = p->lit_binary,
	};
	enum imap_literal_action action = IMAP_LITERAL_INLINE;
	uint64_t size = p->lit_size;

	if (prev != NULL && prev->type == IMAP_ARG_ATOM)
		info.key = parser_strndup(p, prev->u.str.data, prev->u.str.len,
				true);
	if (p->cb.literal_begin != NULL)
		action = p->cb.literal_begin(p->ctx, &info);

	switch (action) {
	case IMAP_LITERAL_STREAM:
		if (size > lim->max_streamed_literal)
			return parser_fail(p, "literal of %" PRIu64
					" bytes exceeds limit %" PRIu64,
					size, lim->max_streamed_literal);
		p->lit_stream = true;
		break;
	case IMAP_LITERAL_INLINE:
		if (size > lim->max_inline_literal || size >= SIZE_MAX / 2)
			return parser_fail(p, "literal of %" PRIu64
					" bytes exceeds limit %" PRIu64,
					size, lim->max_inline_literal);
		if (size > lim->max_inline_total - p->inline_total)
			return parser_fail(p, "literals of one response exceed "
					"limit %" PRIu64 " bytes",
					lim->max_inline_total);
		p->inline_total += size;
		p->lit_stream = false;
		p->lit_buf = imap_arena_alloc(&p->arena, (size_t)size + 1);
		break;
	default:
		return parser_fail(p, "literal of %" PRIu64 " bytes rejected",
				size);
	}
	p->lit_left = size;
	if (size == 0)
		finish_literal(p);
	else
		p->state = STATE_LITERAL;
	return 0;
}

static size_t literal_bytes(struct imap_parser *p, const unsigned char *in,
		size_t len)
{
	size_t n = len < p->lit_left ? len : (size_t)p->lit_left;

	if (!p->lit_stream)
		memcpy(p->lit_buf + (p->lit_size - p->lit_left), in, n);
	else if (p->cb.literal_data != NULL)
		p->cb.literal_data(p->ctx, in, n);
	p->lit_left -= n;
	if (p->lit_left == 0)
		finish_literal(p);
	return n;
}

/* ---- segments and the feed loop ---- */

/* Returns 1 when the response is complete, 0 to go on, -1 on error. */
static int end_segment(struct imap_parser *p)
{
	size_t start = 0;
	int ret;

	if (!p->header_done) {
		p->header_done = true;
		ret = parse_header(p, p->seg, p->seg_len, &start);
		if (ret != 0)
			return ret;
	}
	switch (parser_tokenize(p, p->seg + start, p->seg_len - start, true)) {
	case TOK_END:
		if (p->depth > 0)
			return parser_fail(p,
					"list not closed at end of response");
		p->resp.args = parser_finish_top(p);
		return 1;
	case TOK_LITERAL:
		p->seg_len = 0;
		return begin_literal(p);
	default:
		return -1;
	}
}

static void seg_append(struct imap_parser *p, const unsigned char *in,
		size_t n)
{
	if (n > p->seg_alloc - p->seg_len) {
		while (n > p->seg_alloc - p->seg_len)
			p->seg_alloc *= 2;
		p->seg = g_realloc(p->seg, p->seg_alloc);
	}
	memcpy(p->seg + p->seg_len, in, n);
	p->seg_len += n;
}

/* Collect line bytes from in[*pos_r].  Returns 1 after a line end, 0 when
 * the input is used up, -1 on error (*pos_r at the offending byte). */
static int line_bytes(struct imap_parser *p, const unsigned char *in,
		size_t len, size_t *pos_r)
{
	size_t pos = *pos_r, run = 0, room;
	unsigned char c;

	room = p->limits.max_line - p->line_total;
	if (!p->cr_pending) {
		while (pos + run < len && (c = in[pos + run]) != '\r' &&
		       c != '\n' && c != '\0')
			run++;
		if (run > room) {
			*pos_r = pos + room;
			return parser_fail(p, "response longer than %zu bytes",
					p->limits.max_line);
		}
		seg_append(p, in + pos, run);
		p->line_total += run;
		room -= run;
		*pos_r = pos += run;
		if (pos == len)
			return 0;
	}
	c = in[pos];
	if (p->cr_pending && c != '\n')
		return parser_fail(p, "CR not followed by LF");
	if (c == '\0')
		return parser_fail(p, "NUL byte in response line");
	if (room == 0)
		return parser_fail(p, "response longer than %zu bytes",
				p->limits.max_line);
	p->line_total++;
	*pos_r = pos + 1;
	p->cr_pending = c == '\r';
	return c == '\n' ? 1 : 0;
}

static void begin_response(struct imap_parser *p)
{
	size_t i;

	imap_arena_clear(&p->arena, true);
	if (p->seg_alloc > SEG_KEEP) {
		p->seg_alloc = SEG_INITIAL;
		p->seg = g_realloc(p->seg, p->seg_alloc);
	}
	for (i = 0; i < p->levels_alloc; i++) {
		if (p->levels[i].alloc > ITEMS_KEEP) {
			g_free(p->levels[i].items);
			p->levels[i].items = NULL;
			p->levels[i].alloc = 0;
		}
	}
	parser_clear_levels(p);
	p->state = STATE_LINE;
	p->cr_pending = false;
	p->header_done = false;
	p->seg_len = 0;
	p->line_total = 0;
	p->inline_total = 0;
	p->lit_size = p->lit_left = 0;
	p->lit_stream = p->lit_binary = false;
	p->lit_buf = NULL;
	p->error[0] = '\0';
	memset(&p->resp, 0, sizeof(p->resp));
	p->resp.args = p->empty_args;
	p->resp.code_args = p->empty_args;
	p->resp.code_raw = "";
	p->resp.text = "";
}

enum imap_parse_result imap_parser_feed(struct imap_parser *p,
		const void *data, size_t len, size_t *consumed)
{
	const unsigned char *in = data;
	size_t pos = 0;
	int ret;

	*consumed = 0;
	if (p->state == STATE_ERROR)
		return IMAP_PARSE_ERROR;
	if (len == 0)
		return IMAP_PARSE_NEED_MORE;
	if (p->state == STATE_DONE)
		begin_response(p);

	while (pos < len) {
		if (p->state == STATE_LITERAL) {
			pos += literal_bytes(p, in + pos, len - pos);
			continue;
		}
		ret = line_bytes(p, in, len, &pos);
		if (ret == 1) {
			ret = end_segment(p);
			p->seg_len = 0;
		}
		if (ret < 0) {
			*consumed = pos;
			return IMAP_PARSE_ERROR;
		}
		if (ret == 1) {
			p->state = STATE_DONE;
			*consumed = pos;
			return IMAP_PARSE_RESPONSE;
		}
	}
	*consumed = pos;
	return IMAP_PARSE_NEED_MORE;
}

/* ---- life cycle ---- */

void imap_parser_limits_default(struct imap_parser_limits *limits)
{
	limits->max_line = 1024 * 1024;
	limits->max_depth = 32;
	limits->max_inline_literal = 1024 * 1024;
	limits->max_inline_total = 8 * 1024 * 1024;
	limits->max_streamed_literal = 0xFFFFFFFFu;
}

struct imap_parser *imap_parser_new(const struct imap_parser_limits *limits,
		const struct imap_parser_callbacks *callbacks, void *ctx)
{
	struct imap_parser *p = g_new0(struct imap_parser, 1);

	if (limits != NULL)
		p->limits = *limits;
	else
		imap_parser_limits_default(&p->limits);
	if (callbacks != NULL)
		p->cb = *callbacks;
	p->ctx = ctx;
	p->seg_alloc = SEG_INITIAL;
	p->seg = g_malloc(p->seg_alloc);
	p->levels_alloc = 4;
	p->levels = g_new0(struct arg_level, p->levels_alloc);
	begin_response(p);
	return p;
}

void imap_parser_free(struct imap_parser **parser)
{
	struct imap_parser *p = *parser;
	size_t i;

	if (p == NULL)
		return;
	*parser = NULL;
	imap_arena_clear(&p->arena, false);
	for (i = 0; i < p->levels_alloc; i++)
		g_free(p->levels[i].items);
	g_free(p->levels);
	g_free(p->seg);
	g_free(p);
}

void imap_parser_reset(struct imap_parser *parser)
{
	begin_response(parser);
}

const struct imap_response *imap_parser_response(
		const struct imap_parser *parser)
{
	return &parser->resp;
}

const char *imap_parser_error(const struct imap_parser *parser)
{
	return parser->state == STATE_ERROR ? parser->error : "no error";
}
