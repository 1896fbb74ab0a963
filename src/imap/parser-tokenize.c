/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The tokenizer of the IMAP response parser, and the stack of open lists it
 * fills: a complete segment (see parser.c) in, atoms, strings and lists out.
 * It sees a segment only once it is whole, so it keeps no state between
 * segments except that stack; parser.c does everything that depends on how
 * the input was chunked.
 */
#include <string.h>

#include <glib.h>

#include "parser.h"
#include "parser-private.h"

/* ---- atoms ---- */

/*
 * Bytes that may appear in an atom outside a section; '{' and '~{' are
 * literal headers only at the start of a token.  This is far more than
 * RFC 9051's ATOM-CHAR: servers and other clients put control bytes, '['
 * and ']' into keywords, and one such keyword must not cost the whole
 * response (imapfs(1), "Extended attributes").  Only what delimits tokens
 * is excluded; NUL, CR and LF never reach the tokenizer.
 */
static bool is_atom_char(unsigned char c)
{
	return c != ' ' && c != '(' && c != ')' && c != '"' && c != '\0' &&
		c != '\r' && c != '\n';
}

size_t parser_atom_run(const char *s, size_t len)
{
	size_t n = 0;

	while (n < len && is_atom_char((unsigned char)s[n]))
		n++;
	return n;
}

/* ---- argument stack ---- */

void parser_push_arg(struct imap_parser *p, const struct imap_arg *arg)
{
	struct arg_level *l = &p->levels[p->depth];

	/* always leave room for the EOL that parser_finish_top() adds */
	if (l->count + 1 >= l->alloc) {
		l->alloc = l->alloc != 0 ? l->alloc * 2 : 8;
		l->items = g_renew(struct imap_arg, l->items, l->alloc);
	}
	l->items[l->count++] = *arg;
}

/* Move the items of the innermost list into the arena as an EOL-terminated
 * array: its level is reused by the next list. */
static const struct imap_arg *finish_list(struct imap_parser *p,
		size_t *count_r)
{
	struct arg_level *l = &p->levels[p->depth];
	struct imap_arg *items;

	*count_r = l->count;
	if (l->count == 0)
		return p->empty_args;	/* "()()()..." costs no memory */
	items = imap_arena_alloc(&p->arena, (l->count + 1) * sizeof(*items));
	memcpy(items, l->items, l->count * sizeof(*items));
	memset(&items[l->count], 0, sizeof(*items));
	l->count = 0;
	return items;
}

/* The top level needs no copy: its array is reused only when the next
 * response starts, which is when its pointers may go stale anyway. */
const struct imap_arg *parser_finish_top(struct imap_parser *p)
{
	struct arg_level *l = &p->levels[0];

	if (l->count == 0)
		return p->empty_args;
	memset(&l->items[l->count], 0, sizeof(*l->items));
	return l->items;
}

static int open_list(struct imap_parser *p)
{
	size_t old;

	if (p->depth >= p->limits.max_depth)
		return parser_fail(p, "lists nested deeper than %u",
				p->limits.max_depth);
	p->depth++;
	if (p->depth >= p->levels_alloc) {
		old = p->levels_alloc;
		p->levels_alloc *= 2;
		p->levels = g_renew(struct arg_level, p->levels,
				p->levels_alloc);
		memset(&p->levels[old], 0,
				(p->levels_alloc - old) * sizeof(*p->levels));
	}
	p->levels[p->depth].count = 0;
	return 0;
}

static int close_list(struct imap_parser *p)
{
	struct imap_arg arg = { .type = IMAP_ARG_LIST };

	if (p->depth == 0)
		return parser_fail(p, "unbalanced ')'");
	arg.u.list.items = finish_list(p, &arg.u.list.count);
	p->depth--;
	parser_push_arg(p, &arg);
	return 0;
}

void parser_clear_levels(struct imap_parser *p)
{
	size_t i;

	for (i = 0; i < p->levels_alloc; i++)
		p->levels[i].count = 0;
	p->depth = 0;
}

/* ---- tokenizer ---- */

/*
 * Fetch items whose section may hold spaces and parentheses (RFC 9051
 * section 7.5.2: BODY[HEADER.FIELDS (DATE FROM)]<0>).  Anywhere else '['
 * is an ordinary byte, so that a keyword like "[Gmail" or "a[b" cannot
 * swallow the rest of the line.
 */
static bool is_section_key(const char *s, size_t len)
{
	static const char *const keys[] = {
		"BODY", "BODY.PEEK", "BINARY", "BINARY.PEEK", "BINARY.SIZE",
	};

	for (size_t i = 0; i < G_N_ELEMENTS(keys); i++) {
		if (len == strlen(keys[i]) &&
		    g_ascii_strncasecmp(s, keys[i], len) == 0)
			return true;
	}
	return false;
}

/*
 * An atom.  A section (see is_section_key()) runs through spaces and
 * parentheses to its matching ']', so BODY[HEADER.FIELDS (DATE FROM)]<0>
 * is one atom; an unmatched one ends with the segment, which keeps the
 * work linear in the length of the line.
 */
static void read_atom(struct imap_parser *p, const char *s, size_t len,
		size_t *pos)
{
	struct imap_arg arg = { .type = IMAP_ARG_ATOM };
	size_t start = *pos, i, brackets = 0;

	for (i = start; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (brackets > 0) {
			if (c == '[')
				brackets++;
			else if (c == ']')
				brackets--;
		} else if (!is_atom_char(c)) {
			break;
		} else if (c == '[' && is_section_key(s + start, i - start)) {
			brackets++;
		}
	}
	if (i - start == 3 && g_ascii_strncasecmp(s + start, "NIL", 3) == 0)
		arg.type = IMAP_ARG_NIL;
	arg.u.str.data = parser_strndup(p, s + start, i - start, false);
	arg.u.str.len = i - start;
	parser_push_arg(p, &arg);
	*pos = i;
}

/* A quoted string starting at s[*pos] == '"'.  Besides \\ and \" any
 * backslash simply takes the next byte literally. */
static int read_quoted(struct imap_parser *p, const char *s, size_t len,
		size_t *pos)
{
	struct imap_arg arg = { .type = IMAP_ARG_STRING };
	size_t i, n = 0;
	char *d;

	/* measure first, so that many strings on a long line cost only
	 * their own size */
	for (i = *pos + 1; i < len && s[i] != '"'; i++, n++) {
		if (s[i] == '\\' && ++i == len)
			break;
	}
	if (i >= len)
		return parser_fail(p,
				"quoted string not closed before line end");
	d = imap_arena_alloc(&p->arena, n + 1);
	arg.u.str.data = d;
	arg.u.str.len = n;
	for (i = *pos + 1; s[i] != '"'; i++) {
		if (s[i] == '\\')
			i++;
		*d++ = s[i];
	}
	*d = '\0';
	*pos = i + 1;
	parser_push_arg(p, &arg);
	return 0;
}

/* s points just after '{'; the header must end the segment. */
static enum tok_result literal_header(struct imap_parser *p, const char *s,
		size_t len, bool binary, bool allowed)
{
	size_t n = 0;

	while (n < len && s[n] >= '0' && s[n] <= '9')
		n++;
	if (n == 0 || n == len || s[n] != '}') {
		parser_fail(p, "malformed literal header");
		return TOK_FAIL;
	}
	if (n + 1 != len) {
		parser_fail(p, "literal header not at end of line");
		return TOK_FAIL;
	}
	if (!allowed) {
		parser_fail(p, "literal not allowed here");
		return TOK_FAIL;
	}
	if (!imap_parse_uint(s, n, UINT64_MAX, &p->lit_size)) {
		parser_fail(p, "literal size %.*s%s does not fit in 64 bits",
				(int)MIN(n, 40), s, n > 40 ? "..." : "");
		return TOK_FAIL;
	}
	p->lit_binary = binary;
	return TOK_LITERAL;
}

/* Tokenize a segment into the open lists.  Returns TOK_LITERAL when it
 * ends with a literal header (p->lit_size and lit_binary are set). */
enum tok_result parser_tokenize(struct imap_parser *p, const char *s,
		size_t len, bool allow_literal)
{
	size_t i = 0;
	int ret = 0;

	while (i < len && ret == 0) {
		unsigned char c = (unsigned char)s[i];

		if (c == '{')
			return literal_header(p, s + i + 1, len - i - 1,
					false, allow_literal);
		if (c == '~' && i + 1 < len && s[i + 1] == '{')
			return literal_header(p, s + i + 2, len - i - 2,
					true, allow_literal);
		switch (c) {
		case ' ':
			i++;
			break;
		case '(':
			ret = open_list(p);
			i++;
			break;
		case ')':
			ret = close_list(p);
			i++;
			break;
		case '"':
			ret = read_quoted(p, s, len, &i);
			break;
		default:
			if (!is_atom_char(c))
				ret = parser_fail(p, "unexpected byte 0x%02x",
						c);
			else
				read_atom(p, s, len, &i);
			break;
		}
	}
	return ret == 0 ? TOK_END : TOK_FAIL;
}
