/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Escaping what is logged: a table of what a hostile server might send
 * (terminal escape sequences, BEL, line ends, C1 controls in UTF-8, broken
 * UTF-8) and of text that must pass unchanged; every single byte; random
 * bytes, whose escaped form must be harmless and decode back to exactly
 * what went in; and the messages themselves, as they reach stderr.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "log.h"
#include "testutil.h"

#define S(x) (x), sizeof(x) - 1

struct escape_case {
	const char *in;
	size_t len;
	const char *out;
};

static const struct escape_case escape_cases[] = {
	{ S(""), "" },
	{ S("plain text [ALERT] 100%"), "plain text [ALERT] 100%" },
	/* terminal controls */
	{ S("\x1b[31mred\x1b[0m"), "\\x1b[31mred\\x1b[0m" },
	{ S("\x1b]0;owned\x07"), "\\x1b]0;owned\\x07" },
	{ S("\x1b[2J\x1b[H"), "\\x1b[2J\\x1b[H" },
	{ S("ding\a"), "ding\\x07" },
	{ S("a\rb"), "a\\x0db" },
	{ S("a\nb"), "a\\x0ab" },
	{ S("line\r\n"), "line\\x0d\\x0a" },
	{ S("a\tb"), "a\\x09b" },
	{ S("back\bspace"), "back\\x08space" },
	{ S("\x7f"), "\\x7f" },
	{ S("\x01\x1f"), "\\x01\\x1f" },
	{ S("a\0b"), "a\\x00b" },
	/* the escape character itself, so that "\x1b" in the text cannot
	 * pass for an escaped ESC */
	{ S("\\"), "\\\\" },
	{ S("\\x1b"), "\\\\x1b" },
	{ S("C:\\dir\\"), "C:\\\\dir\\\\" },
	/* C1 controls as UTF-8: CSI, OSC, NEL and the ends of the range */
	{ S("\xc2\x9b" "31m"), "\\xc2\\x9b31m" },
	{ S("\xc2\x9d" "0;t\xc2\x9c"), "\\xc2\\x9d0;t\\xc2\\x9c" },
	{ S("\xc2\x85"), "\\xc2\\x85" },
	{ S("\xc2\x80\xc2\x9f"), "\\xc2\\x80\\xc2\\x9f" },
	/* C1 controls as raw bytes (Latin-1 terminals) are not UTF-8 */
	{ S("\x9b" "31m"), "\\x9b31m" },
	{ S("\x85"), "\\x85" },
	/* not UTF-8: stray, truncated, overlong, surrogate, too large */
	{ S("\xff"), "\\xff" },
	{ S("\xfe\xff"), "\\xfe\\xff" },
	{ S("Entw\xfcrfe"), "Entw\\xfcrfe" },
	{ S("caf\xc3"), "caf\\xc3" },
	{ S("\xc3("), "\\xc3(" },
	{ S("\xe6\x97"), "\\xe6\\x97" },
	{ S("\xc0\xaf"), "\\xc0\\xaf" },
	{ S("\xc1\xbf"), "\\xc1\\xbf" },
	{ S("\xe0\x80\xaf"), "\\xe0\\x80\\xaf" },
	{ S("\xed\xa0\x80"), "\\xed\\xa0\\x80" },
	{ S("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80" },
	{ S("\xf5\x80\x80\x80"), "\\xf5\\x80\\x80\\x80" },
	{ S("\x80" "abc"), "\\x80abc" },
	/* valid UTF-8 passes as it is */
	{ S("caf\xc3\xa9"), "caf\xc3\xa9" },
	{ S("\xc2\xa0nbsp \xc2\xa9"), "\xc2\xa0nbsp \xc2\xa9" },
	{ S("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e"),
		"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e" },
	{ S("\xd0\x9f\xd1\x80\xd0\xb8"), "\xd0\x9f\xd1\x80\xd0\xb8" },
	{ S("\xf0\x9f\x93\xa7"), "\xf0\x9f\x93\xa7" },
	{ S("\xf4\x8f\xbf\xbf"), "\xf4\x8f\xbf\xbf" },
	{ S("\xef\xbf\xbd"), "\xef\xbf\xbd" },
	/* a valid character right after a broken one is kept */
	{ S("\xc3\xc3\xa9"), "\\xc3\xc3\xa9" },
};

static char *escape(const char *in, size_t len)
{
	GString *out = g_string_new(NULL);

	log_escape(out, in, len);
	return g_string_free(out, FALSE);
}

static void test_escape_table(void)
{
	for (size_t i = 0; i < G_N_ELEMENTS(escape_cases); i++) {
		const struct escape_case *c = &escape_cases[i];
		g_autofree char *got = escape(c->in, c->len);

		if (strcmp(got, c->out) != 0)
			fail("#%zu: \"%s\", want \"%s\"", i, got, c->out);
	}
}

/* Appends, leaving what out held before alone. */
static void test_escape_appends(void)
{
	GString *out = g_string_new("imapfs: ");

	log_escape(out, S("\x1b[1m"));
	g_assert_cmpstr(out->str, ==, "imapfs: \\x1b[1m");
	g_string_free(out, TRUE);
}

/* Nothing a terminal would act on: no C0, DEL or C1 control, and valid
 * UTF-8 throughout. */
static bool harmless(const char *s)
{
	const char *p;

	if (!g_utf8_validate(s, -1, NULL))
		return false;
	for (p = s; *p; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);

		if (c < 0x20 || (c >= 0x7f && c <= 0x9f))
			return false;
	}
	return true;
}

/* The inverse of log_escape(), to show that the escape is unambiguous. */
static GString *unescape(const char *s)
{
	GString *out = g_string_new(NULL);

	while (*s) {
		if (s[0] == '\\' && s[1] == '\\') {
			g_string_append_c(out, '\\');
			s += 2;
		} else if (s[0] == '\\' && s[1] == 'x' &&
				g_ascii_isxdigit(s[2]) &&
				g_ascii_isxdigit(s[3])) {
			g_string_append_c(out, (char)(
					g_ascii_xdigit_value(s[2]) * 16 +
					g_ascii_xdigit_value(s[3])));
			s += 4;
		} else {
			g_assert_cmpint(s[0], !=, '\\');
			g_string_append_c(out, *s++);
		}
	}
	return out;
}

static void test_escape_every_byte(void)
{
	for (unsigned b = 0; b < 256; b++) {
		char c = (char)b;
		g_autofree char *got = escape(&c, 1);
		bool plain = b >= 0x20 && b < 0x7f && b != '\\';
		g_autofree char *want = plain ? g_strdup_printf("%c", c) :
			b == '\\' ? g_strdup("\\\\") :
			g_strdup_printf("\\x%02x", b);

		if (strcmp(got, want) != 0)
			fail("byte 0x%02x: \"%s\", want \"%s\"", b, got, want);
	}
}

/* Random bytes, biased towards the interesting ones: whatever comes in,
 * what goes out is harmless and decodes back to the input. */
static void test_escape_random(void)
{
	static const guchar pick[] = {
		0x00, 0x07, 0x0a, 0x0d, 0x1b, 0x5c, 0x7f, 0x80, 0x85, 0x9b,
		0x9f, 0xa0, 0xbf, 0xc0, 0xc2, 0xc3, 0xe0, 0xe6, 0xed, 0xef,
		0xf0, 0xf4, 0xf5, 0xff, '[', 'x', 'a',
	};
	GRand *rand = g_rand_new_with_seed(20240101);

	for (int round = 0; round < 20000; round++) {
		guchar buf[16];
		size_t len = (size_t)g_rand_int_range(rand, 0, sizeof(buf));
		g_autofree char *got = NULL;
		GString *back;

		for (size_t i = 0; i < len; i++)
			buf[i] = g_rand_boolean(rand) ?
				pick[g_rand_int_range(rand, 0,
						G_N_ELEMENTS(pick))] :
				(guchar)g_rand_int_range(rand, 0, 256);
		got = escape((const char *)buf, len);
		if (!harmless(got)) {
			fail("round %d: \"%s\" is not harmless", round, got);
			continue;
		}
		back = unescape(got);
		if (back->len != len || memcmp(back->str, buf, len) != 0)
			fail("round %d: \"%s\" does not decode back", round,
					got);
		g_string_free(back, TRUE);
	}
	g_rand_free(rand);
}

/*
 * What log_msg() and the trace write to stderr, read back from a file put
 * in its place: the server's text arrives escaped, whatever the level.
 */
static char *capture_stderr(void (*fn)(void))
{
	char path[] = "/tmp/test-log-XXXXXX";
	int fd = g_mkstemp(path);
	int saved = dup(STDERR_FILENO);
	char *text = NULL;

	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(saved, >=, 0);
	fflush(stderr);
	g_assert_cmpint(dup2(fd, STDERR_FILENO), ==, STDERR_FILENO);
	fn();
	fflush(stderr);
	g_assert_cmpint(dup2(saved, STDERR_FILENO), ==, STDERR_FILENO);
	close(saved);
	close(fd);
	g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
	unlink(path);
	return text;
}

static void emit_messages(void)
{
	log_set_verbosity(LOG_LEVEL_DEBUG, LOG_AREA_ALL);
	log_error("server alert: %s", "\x1b]0;owned\x07 \xc2\x9b" "2J");
	log_warning("login failed: %s", "bad\r\nimapfs: forged line");
	log_debug(LOG_AREA_IMAP, "text %s", "caf\xc3\xa9 \xff");
	log_set_trace(true);
	log_trace_line('S', 3, S("* OK [ALERT] \"\x1b[5m\\\" \x00\r\n"));
	log_set_trace(false);
	log_trace_line('S', 3, S("* not traced"));
	log_set_verbosity(LOG_LEVEL_WARNING, 0);
}

static void test_messages_escaped(void)
{
	g_autofree char *text = capture_stderr(emit_messages);

	g_assert_cmpstr(text, ==,
			"imapfs: server alert: \\x1b]0;owned\\x07 "
			"\\xc2\\x9b2J\n"
			"imapfs: login failed: bad\\x0d\\x0aimapfs: forged "
			"line\n"
			"imapfs: text caf\xc3\xa9 \\xff\n"
			"imapfs: [3] S: * OK [ALERT] \"\\x1b[5m\\\\\" "
			"\\x00\\x0d\\x0a\n");
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/log/escape/table", test_escape_table);
	g_test_add_func("/log/escape/appends", test_escape_appends);
	g_test_add_func("/log/escape/every-byte", test_escape_every_byte);
	g_test_add_func("/log/escape/random", test_escape_random);
	g_test_add_func("/log/messages-escaped", test_messages_escaped);
	return g_test_run();
}
