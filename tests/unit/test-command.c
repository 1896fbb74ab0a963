/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Building command lines: the quoting table (what may be a quoted string
 * and how it is escaped), then whole commands checked as the exact list
 * of parts, as the bytes they put on the wire and as the trace that the
 * session would show (secret parts redacted).
 */
#include <stdarg.h>
#include <string.h>

#include <glib.h>

#include "imap/command.h"
#include "testutil.h"

#define S(x) (x), sizeof(x) - 1

/* ---- imap_quote_string ---- */

struct quote_case {
	const char *in;
	size_t len;
	bool utf8;
	const char *out;	/* NULL: needs a literal */
};

static const struct quote_case quote_cases[] = {
	{ S("INBOX"), false, "\"INBOX\"" },
	{ S(""), false, "\"\"" },
	{ S("NIL"), false, "\"NIL\"" },
	{ S("a b"), false, "\"a b\"" },
	{ S("{5}"), false, "\"{5}\"" },
	{ S("a\"b"), false, "\"a\\\"b\"" },
	{ S("a\\b"), false, "\"a\\\\b\"" },
	{ S("\""), false, "\"\\\"\"" },
	{ S("\\"), false, "\"\\\\\"" },
	{ S("\\\""), false, "\"\\\\\\\"\"" },
	{ S("\"\"\"\""), false, "\"\\\"\\\"\\\"\\\"\"" },
	{ S("C:\\path\\"), false, "\"C:\\\\path\\\\\"" },
	{ S("(%*)[]"), false, "\"(%*)[]\"" },
	{ S("\t"), false, "\"\t\"" },
	{ S("\x01\x1f\x7f"), false, "\"\x01\x1f\x7f\"" },
	{ S("~{3}"), false, "\"~{3}\"" },
	{ S("a\rb"), false, NULL },
	{ S("a\nb"), false, NULL },
	{ S("\r\n"), false, NULL },
	{ S("\r"), false, NULL },
	{ S("\n"), false, NULL },
	{ S("line\r\n"), false, NULL },
	{ S("a\0b"), false, NULL },
	{ S("\0"), false, NULL },
	{ S("caf\xc3\xa9"), false, NULL },
	{ S("\x80"), false, NULL },
	{ S("\xff"), false, NULL },
	{ S("Entw\xfcrfe"), false, NULL },
	{ S("caf\xc3\xa9"), true, "\"caf\xc3\xa9\"" },
	{ S("\xe6\x97\xa5\"\\"), true, "\"\xe6\x97\xa5\\\"\\\\\"" },
	{ S("INBOX"), true, "\"INBOX\"" },
	{ S(""), true, "\"\"" },
	{ S("caf\xc3\xa9\r\n"), true, NULL },
	{ S("caf\xc3\xa9\n"), true, NULL },
	{ S("a\0b"), true, NULL },
};

static void test_quote_table(void)
{
	for (size_t i = 0; i < G_N_ELEMENTS(quote_cases); i++) {
		const struct quote_case *c = &quote_cases[i];
		GString *out = g_string_new("prefix:");
		bool ok = imap_quote_string(out, c->in, c->len, c->utf8);

		if (!c->out) {
			if (ok)
				fail("#%zu: quoted as %s", i, out->str);
			else if (strcmp(out->str, "prefix:") != 0)
				fail("#%zu: refused but wrote %s", i, out->str);
		} else if (!ok) {
			fail("#%zu: refused, want %s", i, c->out);
		} else if (strncmp(out->str, "prefix:", 7) != 0 ||
				out->len != 7 + strlen(c->out) ||
				strcmp(out->str + 7, c->out) != 0) {
			fail("#%zu: %s, want prefix:%s", i, out->str, c->out);
		}
		g_string_free(out, TRUE);
	}
}

/* Only the length given is read: the byte after it can be anything. */
static void test_quote_length(void)
{
	GString *out = g_string_new(NULL);

	g_assert_true(imap_quote_string(out, "ab\ncd", 2, false));
	g_assert_cmpstr(out->str, ==, "\"ab\"");
	g_string_truncate(out, 0);
	g_assert_true(imap_quote_string(out, "x\"\r\n", 2, false));
	g_assert_cmpstr(out->str, ==, "\"x\\\"\"");
	g_string_truncate(out, 0);
	g_assert_true(imap_quote_string(out, NULL, 0, false));
	g_assert_cmpstr(out->str, ==, "\"\"");
	g_string_free(out, TRUE);
}

/* Every single byte: exactly CR, LF, NUL and (without utf8) 8-bit need a
 * literal; exactly '"' and '\' are escaped. */
static void test_quote_every_byte(void)
{
	for (int utf8 = 0; utf8 <= 1; utf8++) {
		for (unsigned b = 0; b < 256; b++) {
			char c = (char)b;
			GString *out = g_string_new(NULL);
			bool ok = imap_quote_string(out, &c, 1, utf8);
			bool want_ok = b != 0 && b != '\r' && b != '\n' &&
				(utf8 || b < 0x80);

			if (ok != want_ok) {
				fail("byte 0x%02x utf8=%d: %s", b, utf8,
						ok ? "quoted" : "refused");
			} else if (ok) {
				bool esc = b == '"' || b == '\\';

				if (out->len != (esc ? 4u : 3u) ||
						out->str[0] != '"' ||
						out->str[out->len - 1] != '"' ||
						out->str[out->len - 2] != c ||
						(esc && out->str[1] != '\\'))
					fail("byte 0x%02x utf8=%d: quoted as "
							"%zu bytes", b, utf8,
							out->len);
			}
			g_string_free(out, TRUE);
		}
	}
}

/* ---- commands ---- */

/* An expected part: kind, secret, bytes. */
struct want_part {
	enum imap_command_part_kind kind;
	bool secret;
	const char *data;
	size_t len;		/* 0: strlen */
};

#define TEXT(s) { IMAP_PART_TEXT, false, (s), 0 }
#define SECRET_TEXT(s) { IMAP_PART_TEXT, true, (s), 0 }
#define LIT(s) { IMAP_PART_LITERAL, false, (s), sizeof(s) - 1 }
#define SECRET_LIT(s) { IMAP_PART_LITERAL, true, (s), sizeof(s) - 1 }

static void check_parts(const struct imap_command *cmd,
		const struct want_part *want, size_t n)
{
	size_t count = imap_command_part_count(cmd);

	if (count != n) {
		fail("%zu parts, want %zu", count, n);
		for (size_t i = 0; i < count; i++) {
			const struct imap_command_part *p =
				imap_command_part(cmd, i);

			g_test_message("  part %zu: %s%s \"%s\"", i,
					p->kind == IMAP_PART_TEXT ? "text" :
					"literal", p->secret ? " secret" : "",
					p->data->str);
		}
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const struct imap_command_part *p = imap_command_part(cmd, i);
		size_t len = want[i].len ? want[i].len : strlen(want[i].data);

		g_assert_nonnull(p);
		g_assert_nonnull(p->data);
		if (p->kind != want[i].kind)
			fail("part %zu: kind %d, want %d", i, p->kind,
					want[i].kind);
		if (p->secret != want[i].secret)
			fail("part %zu: secret %d, want %d", i, p->secret,
					want[i].secret);
		if (p->data->len != len ||
				memcmp(p->data->str, want[i].data, len) != 0)
			fail("part %zu: \"%s\" (%zu bytes), want \"%s\" "
					"(%zu bytes)", i, p->data->str,
					p->data->len, want[i].data, len);
	}
}

/*
 * What goes on the wire (a literal's bytes follow the CRLF that ends the
 * text announcing it), checking on the way that every literal is announced
 * by exactly "{len}" at the end of the text before it.
 */
static GString *wire(const struct imap_command *cmd)
{
	GString *out = g_string_new("a1 ");
	size_t n = imap_command_part_count(cmd);

	for (size_t i = 0; i < n; i++) {
		const struct imap_command_part *p = imap_command_part(cmd, i);

		if (p->kind == IMAP_PART_LITERAL) {
			char *header = g_strdup_printf("{%zu}", p->data->len);

			if (!g_str_has_suffix(out->str, header))
				fail("literal %zu (%zu bytes) not announced: "
						"\"%s\"", i, p->data->len,
						out->str);
			g_free(header);
			g_string_append(out, "\r\n");
		}
		g_string_append_len(out, p->data->str, (gssize)p->data->len);
	}
	g_string_append(out, "\r\n");
	return out;
}

/* What the session's trace shows, all lines of it run together. */
static GString *trace(const struct imap_command *cmd)
{
	GString *out = g_string_new(NULL);
	size_t n = imap_command_part_count(cmd);

	for (size_t i = 0; i < n; i++)
		imap_command_show_part(out, cmd, i);
	return out;
}

static void check_wire(const struct imap_command *cmd, const char *want,
		size_t len)
{
	GString *w = wire(cmd);

	if (w->len != len || memcmp(w->str, want, len) != 0)
		fail("wire \"%s\" (%zu bytes), want \"%s\" (%zu bytes)",
				w->str, w->len, want, len);
	g_string_free(w, TRUE);
}

/* No byte sequence of the secret shows in a part that is not secret. */
static void check_secret_hidden(const struct imap_command *cmd,
		const char *secret)
{
	size_t n = imap_command_part_count(cmd);

	for (size_t i = 0; i < n; i++) {
		const struct imap_command_part *p = imap_command_part(cmd, i);

		if (!p->secret && strstr(p->data->str, secret))
			fail("part %zu (\"%s\") shows the secret", i,
					p->data->str);
	}
}

static void test_new(void)
{
	struct imap_command *cmd = imap_command_new("UID FETCH %u:* %s",
			4711u, "(UID FLAGS)");
	const struct want_part want[] = {
		TEXT("UID FETCH 4711:* (UID FLAGS)"),
	};

	check_parts(cmd, want, G_N_ELEMENTS(want));
	check_wire(cmd, S("a1 UID FETCH 4711:* (UID FLAGS)\r\n"));
	imap_command_free(&cmd);
	g_assert_null(cmd);
	imap_command_free(&cmd);	/* freeing NULL is fine */

	cmd = imap_command_new("%s", "100%");
	check_wire(cmd, S("a1 100%\r\n"));
	imap_command_free(&cmd);
}

static void test_append_merges(void)
{
	struct imap_command *cmd = imap_command_new("LIST");
	const struct want_part want[] = {
		TEXT("LIST \"\" \"*\" RETURN (SPECIAL-USE)"),
	};

	imap_command_append_string(cmd, S(""), false, false);
	imap_command_append_string(cmd, S("*"), false, false);
	imap_command_append(cmd, " RETURN (%s)", "SPECIAL-USE");
	check_parts(cmd, want, G_N_ELEMENTS(want));
	imap_command_free(&cmd);
}

static void test_append_string_quoted(void)
{
	static const struct {
		const char *in;
		size_t len;
		bool utf8;
		const char *line;
	} cases[] = {
		{ S("INBOX"), false, "SELECT \"INBOX\"" },
		{ S(""), false, "SELECT \"\"" },
		{ S("NIL"), false, "SELECT \"NIL\"" },
		{ S("a\"b\\c"), false, "SELECT \"a\\\"b\\\\c\"" },
		{ S("Entw\xc3\xbcrfe"), true, "SELECT \"Entw\xc3\xbcrfe\"" },
	};

	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		struct imap_command *cmd = imap_command_new("SELECT");
		const struct want_part want[] = { TEXT(cases[i].line) };

		imap_command_append_string(cmd, cases[i].in, cases[i].len,
				cases[i].utf8, false);
		check_parts(cmd, want, 1);
		imap_command_free(&cmd);
	}
}

static void test_append_string_literal(void)
{
	struct imap_command *cmd = imap_command_new("SELECT");
	const struct want_part want[] = {
		TEXT("SELECT {4}"),
		LIT("a\r\nb"),
		TEXT(" (CONDSTORE)"),
	};

	imap_command_append_string(cmd, S("a\r\nb"), false, false);
	imap_command_append(cmd, " (CONDSTORE)");
	check_parts(cmd, want, G_N_ELEMENTS(want));
	check_wire(cmd, S("a1 SELECT {4}\r\na\r\nb (CONDSTORE)\r\n"));
	imap_command_free(&cmd);
}

/* Bytes go into the literal as they are, NULs and quotes included. */
static void test_append_string_literal_bytes(void)
{
	static const struct {
		const char *in;
		size_t len;
		bool utf8;
		const char *header;
	} cases[] = {
		{ S("a\0b"), false, "X {3}" },
		{ S("a\0b"), true, "X {3}" },
		{ S("\""), false, NULL },
		{ S("\"\\\n"), false, "X {3}" },
		{ S("Entw\xc3\xbcrfe"), false, "X {9}" },
		{ S("\xff"), false, "X {1}" },
		{ S("\r"), true, "X {1}" },
		{ S("\n"), true, "X {1}" },
	};

	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		struct imap_command *cmd = imap_command_new("X");
		const struct imap_command_part *p;

		imap_command_append_string(cmd, cases[i].in, cases[i].len,
				cases[i].utf8, false);
		if (!cases[i].header) {
			g_assert_cmpuint(imap_command_part_count(cmd), ==, 1);
			imap_command_free(&cmd);
			continue;
		}
		g_assert_cmpuint(imap_command_part_count(cmd), ==, 2);
		p = imap_command_part(cmd, 0);
		g_assert_cmpint(p->kind, ==, IMAP_PART_TEXT);
		g_assert_cmpstr(p->data->str, ==, cases[i].header);
		p = imap_command_part(cmd, 1);
		g_assert_cmpint(p->kind, ==, IMAP_PART_LITERAL);
		g_assert_false(p->secret);
		g_assert_cmpuint(p->data->len, ==, cases[i].len);
		g_assert_cmpmem(p->data->str, p->data->len, cases[i].in,
				cases[i].len);
		imap_command_free(&cmd);
	}
}

static void test_two_literals(void)
{
	struct imap_command *cmd = imap_command_new("RENAME");
	const struct want_part want[] = {
		TEXT("RENAME {5}"),
		LIT("a\nb\xff!"),
		TEXT(" {2}"),
		LIT("\r\n"),
		TEXT(" \"x\""),
	};

	imap_command_append_string(cmd, S("a\nb\xff!"), true, false);
	imap_command_append_string(cmd, S("\r\n"), true, false);
	imap_command_append_string(cmd, S("x"), true, false);
	check_parts(cmd, want, G_N_ELEMENTS(want));
	check_wire(cmd, S("a1 RENAME {5}\r\na\nb\xff! {2}\r\n\r\n \"x\"\r\n"));
	imap_command_free(&cmd);
}

/* A big string stays one quoted string; one LF anywhere makes it a
 * literal of exactly its length. */
static void test_big_string(void)
{
	size_t len = 100 * 1024;
	char *s = g_malloc(len);
	struct imap_command *cmd;
	const struct imap_command_part *p;

	memset(s, 'x', len);
	cmd = imap_command_new("X");
	imap_command_append_string(cmd, s, len, false, false);
	g_assert_cmpuint(imap_command_part_count(cmd), ==, 1);
	g_assert_cmpuint(imap_command_part(cmd, 0)->data->len, ==,
			len + 4);
	imap_command_free(&cmd);

	s[len - 1] = '\n';
	cmd = imap_command_new("X");
	imap_command_append_string(cmd, s, len, false, false);
	g_assert_cmpuint(imap_command_part_count(cmd), ==, 2);
	g_assert_cmpstr(imap_command_part(cmd, 0)->data->str, ==,
			"X {102400}");
	p = imap_command_part(cmd, 1);
	g_assert_cmpuint(p->data->len, ==, len);
	g_assert_cmpmem(p->data->str, p->data->len, s, len);
	imap_command_free(&cmd);
	g_free(s);
}

static void test_secret_quoted(void)
{
	struct imap_command *cmd = imap_command_new("LOGIN");
	const struct want_part want[] = {
		TEXT("LOGIN \"alice\" "),
		SECRET_TEXT("\"pa\\\"ss\""),
		TEXT(" X"),
	};
	GString *t;

	imap_command_append_string(cmd, S("alice"), false, false);
	imap_command_append_string(cmd, S("pa\"ss"), false, true);
	imap_command_append(cmd, " X");
	check_parts(cmd, want, G_N_ELEMENTS(want));
	check_wire(cmd, S("a1 LOGIN \"alice\" \"pa\\\"ss\" X\r\n"));
	t = trace(cmd);
	g_assert_cmpstr(t->str, ==, "LOGIN \"alice\" <redacted> X");
	g_string_free(t, TRUE);
	imap_command_free(&cmd);
}

/* A secret sent as a literal: the literal and its "{n}" header are
 * secret, and nothing of the secret is outside a secret part. */
static void test_secret_literal(void)
{
	static const char pw[] = "p\xc3\xa4ss\nword";
	struct imap_command *cmd = imap_command_new("LOGIN");
	GString *t;
	size_t n;
	const struct imap_command_part *last;

	imap_command_append_string(cmd, S("alice"), false, false);
	imap_command_append_string(cmd, S(pw), false, true);
	check_wire(cmd, S("a1 LOGIN \"alice\" {10}\r\np\xc3\xa4ss\nword\r\n"));
	check_secret_hidden(cmd, "ss");
	n = imap_command_part_count(cmd);
	g_assert_cmpuint(n, >=, 2);
	last = imap_command_part(cmd, n - 1);
	g_assert_cmpint(last->kind, ==, IMAP_PART_LITERAL);
	g_assert_true(last->secret);
	g_assert_cmpmem(last->data->str, last->data->len, pw, sizeof(pw) - 1);
	/* the header is secret too: a trace does not tell the length */
	t = trace(cmd);
	g_assert_cmpstr(t->str, ==,
			"LOGIN \"alice\" <redacted><secret literal>");
	g_string_free(t, TRUE);
	imap_command_free(&cmd);
}

static void test_secret_literal_then_more(void)
{
	struct imap_command *cmd = imap_command_new("LOGIN");
	size_t n;

	imap_command_append_string(cmd, S("al\nice"), false, false);
	imap_command_append_string(cmd, S("s\re\ncret"), false, true);
	imap_command_append(cmd, " (X)");
	check_wire(cmd, S("a1 LOGIN {6}\r\nal\nice {8}\r\ns\re\ncret (X)\r\n"));
	check_secret_hidden(cmd, "cret");
	n = imap_command_part_count(cmd);
	g_assert_false(imap_command_part(cmd, 1)->secret);	/* user */
	g_assert_true(imap_command_part(cmd, n - 2)->secret);
	g_assert_cmpint(imap_command_part(cmd, n - 2)->kind, ==,
			IMAP_PART_LITERAL);
	g_assert_cmpstr(imap_command_part(cmd, n - 1)->data->str, ==, " (X)");
	g_assert_false(imap_command_part(cmd, n - 1)->secret);
	imap_command_free(&cmd);
}

static void test_secret_atom(void)
{
	struct imap_command *cmd = imap_command_new("AUTHENTICATE PLAIN");
	const struct want_part want[] = {
		TEXT("AUTHENTICATE PLAIN "),
		SECRET_TEXT("AGFsaWNlAHNlY3JldA=="),
	};
	const struct want_part want2[] = {
		TEXT("AUTHENTICATE PLAIN "),
		SECRET_TEXT("AGFsaWNlAHNlY3JldA=="),
		TEXT(" "),
		SECRET_TEXT("b3RoZXI="),
		TEXT(" tail"),
	};
	GString *t;

	imap_command_append_secret_atom(cmd, "AGFsaWNlAHNlY3JldA==");
	check_parts(cmd, want, G_N_ELEMENTS(want));
	check_wire(cmd, S("a1 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n"));
	imap_command_append_secret_atom(cmd, "b3RoZXI=");
	imap_command_append(cmd, " tail");
	check_parts(cmd, want2, G_N_ELEMENTS(want2));
	t = trace(cmd);
	g_assert_cmpstr(t->str, ==,
			"AUTHENTICATE PLAIN <redacted> <redacted> tail");
	g_string_free(t, TRUE);
	imap_command_free(&cmd);
}

/* A secret atom right after a secret quoted string: each is its own
 * redacted part with the separating space in the clear. */
static void test_secret_mixed(void)
{
	struct imap_command *cmd = imap_command_new("X");
	const struct want_part want[] = {
		TEXT("X "),
		SECRET_TEXT("\"one\""),
		TEXT(" "),
		SECRET_TEXT("two"),
	};

	imap_command_append_string(cmd, S("one"), false, true);
	imap_command_append_secret_atom(cmd, "two");
	check_parts(cmd, want, G_N_ELEMENTS(want));
	imap_command_free(&cmd);
}

/*
 * Whatever the secret, the trace shows one of two fixed texts: nothing in
 * it depends on the secret's bytes or length (no "{23}", no "23 bytes").
 */
static void test_secret_length_hidden(void)
{
	static const struct {
		const char *pw;
		size_t len;
		bool literal;
	} cases[] = {
		{ S("s3cr3t-\"pass\\word\"-23"), false },
		{ S("p\xc3\xa4ssw\xc3\xb6rd-of-23-bytes"), true },
		{ S("pass\nword-of-23-bytes"), true },
		{ S("short"), false },
		{ S("\xc3\xa4"), true },
	};

	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		struct imap_command *cmd = imap_command_new("LOGIN");
		const char *want = cases[i].literal ?
			"LOGIN \"alice\" <redacted><secret literal>" :
			"LOGIN \"alice\" <redacted>";
		GString *t;

		imap_command_append_string(cmd, S("alice"), false, false);
		imap_command_append_string(cmd, cases[i].pw, cases[i].len,
				false, true);
		t = trace(cmd);
		if (strcmp(t->str, want) != 0)
			fail("#%zu: trace \"%s\", want \"%s\"", i, t->str,
					want);
		g_string_free(t, TRUE);
		imap_command_free(&cmd);
	}
}

/*
 * Every part that holds a secret is allocated at its final size before a
 * byte of the secret is written: one that grew by reallocation would have
 * left pieces of the secret in the blocks it gave up.  GString rounds what
 * it allocates itself up to a power of two, so a part that grew (or was
 * sized by GString) shows allocated_len != len + 1.
 */
static void test_secret_sized_exactly(void)
{
	static const size_t lengths[] = { 1, 5, 23, 63, 64, 100, 300, 4096 };

	for (size_t i = 0; i < G_N_ELEMENTS(lengths); i++) {
		for (int form = 0; form < 3; form++) {
			size_t len = lengths[i];
			char *pw = g_malloc(len);
			struct imap_command *cmd = imap_command_new("LOGIN");

			/* quoted with escapes, a literal, a SASL atom */
			for (size_t k = 0; k < len; k++)
				pw[k] = "ab\"\\cd"[k % 6];
			if (form == 1)
				pw[len / 2] = '\n';
			imap_command_append_string(cmd, S("alice"), false,
					false);
			if (form == 2) {
				char *atom = g_strndup(pw, len);

				g_strdelimit(atom, "\"\\", 'x');
				imap_command_append_secret_atom(cmd, atom);
				g_free(atom);
			} else {
				imap_command_append_string(cmd, pw, len,
						false, true);
			}
			for (size_t k = 0; k < imap_command_part_count(cmd);
					k++) {
				const struct imap_command_part *p =
					imap_command_part(cmd, k);

				if (p->secret && p->data->allocated_len !=
						p->data->len + 1)
					fail("len %zu form %d part %zu: %zu "
							"bytes allocated for "
							"%zu", len, form, k,
							p->data->allocated_len,
							p->data->len);
			}
			imap_command_free(&cmd);
			g_free(pw);
		}
	}
}

/* imap_quote_string() into a string that has to grow keeps what was there
 * and adds exactly the quoted form. */
static void test_quote_grows(void)
{
	GString *out = g_string_new("x");
	GString *want = g_string_new("x");

	for (int i = 0; i < 200; i++) {
		g_assert_true(imap_quote_string(out, S("a\"b\\c"), false));
		g_string_append(want, "\"a\\\"b\\\\c\"");
		g_assert_cmpuint(out->len, <, out->allocated_len);
	}
	g_assert_cmpstr(out->str, ==, want->str);
	g_string_free(out, TRUE);
	g_string_free(want, TRUE);
}

static void test_part_stability(void)
{
	struct imap_command *cmd = imap_command_new("A");
	const struct imap_command_part *first;

	imap_command_append_string(cmd, S("\n"), false, false);
	first = imap_command_part(cmd, 1);
	g_assert_cmpint(first->kind, ==, IMAP_PART_LITERAL);
	/* many more parts: earlier ones keep their contents */
	for (int i = 0; i < 200; i++)
		imap_command_append_string(cmd, S("\n"), false, i % 2);
	g_assert_cmpuint(imap_command_part_count(cmd), >=, 402);
	g_assert_cmpstr(imap_command_part(cmd, 0)->data->str, ==, "A {1}");
	g_assert_cmpmem(imap_command_part(cmd, 1)->data->str,
			imap_command_part(cmd, 1)->data->len, "\n", 1);
	imap_command_free(&cmd);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/command/quote/table", test_quote_table);
	g_test_add_func("/command/quote/length", test_quote_length);
	g_test_add_func("/command/quote/every-byte", test_quote_every_byte);
	g_test_add_func("/command/new", test_new);
	g_test_add_func("/command/append/merges", test_append_merges);
	g_test_add_func("/command/append-string/quoted",
			test_append_string_quoted);
	g_test_add_func("/command/append-string/literal",
			test_append_string_literal);
	g_test_add_func("/command/append-string/literal-bytes",
			test_append_string_literal_bytes);
	g_test_add_func("/command/append-string/two-literals",
			test_two_literals);
	g_test_add_func("/command/append-string/big", test_big_string);
	g_test_add_func("/command/secret/quoted", test_secret_quoted);
	g_test_add_func("/command/secret/literal", test_secret_literal);
	g_test_add_func("/command/secret/literal-then-more",
			test_secret_literal_then_more);
	g_test_add_func("/command/secret/atom", test_secret_atom);
	g_test_add_func("/command/secret/mixed", test_secret_mixed);
	g_test_add_func("/command/secret/length-hidden",
			test_secret_length_hidden);
	g_test_add_func("/command/secret/sized-exactly",
			test_secret_sized_exactly);
	g_test_add_func("/command/quote/grows", test_quote_grows);
	g_test_add_func("/command/parts/stable", test_part_stability);
	return g_test_run();
}
