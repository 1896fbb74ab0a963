/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Mailbox name parts <-> directory names: table of raw parts and the names
 * they are shown as (both directions, both charsets), displays that must be
 * refused, the round-trip property on random parts, names that can be file
 * names as they are shown unchanged, splitting and message file names.
 */
#include <string.h>

#include <glib.h>

#include "store/names.h"

struct display_case {
	enum names_charset charset;
	const char *raw;
	size_t len;		/* 0: use strlen */
	const char *display;
};

static const struct display_case display_cases[] = {
	{ NAMES_MUTF7, "INBOX", 0, "INBOX" },
	{ NAMES_MUTF7, "Entw&APw-rfe", 0, "Entwürfe" },
	{ NAMES_MUTF7, "&ZeVnLIqe-", 0, "日本語" },
	{ NAMES_MUTF7, "Tom &- Jerry", 0, "Tom & Jerry" },
	{ NAMES_MUTF7, "&-", 0, "&" },
	{ NAMES_MUTF7, "Sent Items", 0, "Sent Items" },
	{ NAMES_MUTF7, " lead and trail ", 0, " lead and trail " },
	{ NAMES_MUTF7, "&2D3c5w- Mail", 0, "\U0001F4E7 Mail" },
	/* '%' is "%25" only where it would read as an escape */
	{ NAMES_MUTF7, "a%b", 0, "a%b" },
	{ NAMES_MUTF7, "100% done", 0, "100% done" },
	{ NAMES_MUTF7, "50%", 0, "50%" },
	{ NAMES_MUTF7, "%%", 0, "%%" },
	{ NAMES_MUTF7, "% ", 0, "% " },
	{ NAMES_MUTF7, "%2", 0, "%2" },
	{ NAMES_MUTF7, "%F", 0, "%F" },
	{ NAMES_MUTF7, "%FG", 0, "%FG" },
	{ NAMES_MUTF7, "%AOQ", 0, "%AOQ" },
	{ NAMES_MUTF7, "a%2f", 0, "a%2f" },		/* lower case */
	{ NAMES_MUTF7, "%ff", 0, "%ff" },
	{ NAMES_MUTF7, "%41", 0, "%2541" },
	{ NAMES_MUTF7, "%ABC", 0, "%25ABC" },
	{ NAMES_MUTF7, "%25", 0, "%2525" },
	{ NAMES_MUTF7, "%2E", 0, "%252E" },
	{ NAMES_MUTF7, "%00", 0, "%2500" },		/* apart from NUL */
	{ NAMES_MUTF7, "%%41", 0, "%%2541" },
	{ NAMES_MUTF7, "%4711.eml", 0, "%254711.eml" },
	{ NAMES_MUTF7, "4711.eml%", 0, "4711.eml%" },
	{ NAMES_MUTF7, "%.", 0, "%." },
	{ NAMES_MUTF7, "%", 0, "%25" },		/* "%" is "" */
	{ NAMES_MUTF7, "a%2Fb", 0, "a%252Fb" },
	/* a '%' before an escape is followed by '%': it stays */
	{ NAMES_MUTF7, "%/", 0, "%%2F" },
	{ NAMES_MUTF7, "%A/", 0, "%A%2F" },
	{ NAMES_MUTF7, "%/%41", 0, "%%2F%2541" },
	{ NAMES_MUTF7, "%/x", 0, "%%2Fx" },
	{ NAMES_MUTF7, "&AOQ", 0, "%26AOQ" },		/* unterminated */
	{ NAMES_MUTF7, "&AOQ-%41", 0, "ä%2541" },
	{ NAMES_MUTF7, "&AOQ-%&AOQ-", 0, "ä%ä" },
	{ NAMES_MUTF7, "%&AOQ-", 0, "%ä" },
	{ NAMES_MUTF7, "%&-", 0, "%&" },
	{ NAMES_MUTF7, "%&", 0, "%%26" },		/* unterminated */
	{ NAMES_MUTF7, "%\377", 0, "%%FF" },
	{ NAMES_MUTF7, "%41\377", 0, "%2541%FF" },
	{ NAMES_MUTF7, "\377%", 0, "%FF%" },
	{ NAMES_MUTF7, "a/b", 0, "a%2Fb" },	/* delimiter is '.' */
	{ NAMES_MUTF7, "/", 0, "%2F" },
	{ NAMES_MUTF7, "&ZeU-/&ZeU-", 0, "日%2F日" },
	{ NAMES_MUTF7, ".", 0, "%2E" },
	{ NAMES_MUTF7, "..", 0, "%2E%2E" },
	{ NAMES_MUTF7, "...", 0, "..." },
	{ NAMES_MUTF7, ".hidden", 0, ".hidden" },
	{ NAMES_MUTF7, "", 0, "%" },
	{ NAMES_MUTF7, "4711.eml", 0, "4711%2Eeml" },
	{ NAMES_MUTF7, "4294967295.eml", 0, "4294967295%2Eeml" },
	{ NAMES_MUTF7, "4294967296.eml", 0, "4294967296.eml" },
	{ NAMES_MUTF7, "0.eml", 0, "0.eml" },
	{ NAMES_MUTF7, "04711.eml", 0, "04711.eml" },
	{ NAMES_MUTF7, "4711.EML", 0, "4711.EML" },
	{ NAMES_MUTF7, "&Jjo!", 0, "%26Jjo!" },	/* unterminated run */
	{ NAMES_MUTF7, "&AOQ-&AOQ-", 0, "%26AOQ-%26AOQ-" },
	{ NAMES_MUTF7, "&AC8-", 0, "%26AC8-" },	/* '/' in base64 */
	{ NAMES_MUTF7, "&AAk-", 0, "\t" },		/* canonical tab */
	{ NAMES_MUTF7, "a\tb", 0, "a%09b" },		/* raw tab */
	{ NAMES_MUTF7, "Entw\303\274rfe", 0, "Entw%C3%BCrfe" },
	{ NAMES_MUTF7, "\377\376 junk\200", 0, "%FF%FE junk%80" },
	/* a NUL is shown, but no name can create it */
	{ NAMES_MUTF7, "a\000b", 3, "a%00b" },

	{ NAMES_UTF8, "INBOX", 0, "INBOX" },
	{ NAMES_UTF8, "Entwürfe", 0, "Entwürfe" },
	{ NAMES_UTF8, "Entw&APw-rfe", 0, "Entw&APw-rfe" },
	{ NAMES_UTF8, "日本語", 0, "日本語" },
	{ NAMES_UTF8, "Tom & Jerry", 0, "Tom & Jerry" },
	{ NAMES_UTF8, "Sent Items", 0, "Sent Items" },
	{ NAMES_UTF8, "\U0001F4E7 Mail", 0, "\U0001F4E7 Mail" },
	{ NAMES_UTF8, "a%b", 0, "a%b" },
	{ NAMES_UTF8, "100% done", 0, "100% done" },
	{ NAMES_UTF8, "50%", 0, "50%" },
	{ NAMES_UTF8, "%%", 0, "%%" },
	{ NAMES_UTF8, "a%2f", 0, "a%2f" },
	{ NAMES_UTF8, "%", 0, "%25" },
	{ NAMES_UTF8, "%41", 0, "%2541" },
	{ NAMES_UTF8, "%ä", 0, "%ä" },
	{ NAMES_UTF8, "%C3%A4", 0, "%25C3%25A4" },
	{ NAMES_UTF8, "%&", 0, "%&" },
	{ NAMES_UTF8, "%/", 0, "%%2F" },
	{ NAMES_UTF8, "\377%41", 0, "%FF%2541" },
	{ NAMES_UTF8, "a/b", 0, "a%2Fb" },
	{ NAMES_UTF8, "a\tb", 0, "a\tb" },
	{ NAMES_UTF8, ".", 0, "%2E" },
	{ NAMES_UTF8, "..", 0, "%2E%2E" },
	{ NAMES_UTF8, "", 0, "%" },
	{ NAMES_UTF8, "4711.eml", 0, "4711%2Eeml" },
	{ NAMES_UTF8, "&Jjo!", 0, "&Jjo!" },
	{ NAMES_UTF8, "Entw\374rfe", 0, "Entw%FCrfe" },	/* Latin-1 */
	{ NAMES_UTF8, "a&b/%\377", 0, "a%26b%2F%%FF" },
	{ NAMES_UTF8, "\300\257", 0, "%C0%AF" },	/* overlong '/' */
	{ NAMES_UTF8, "\355\240\200", 0, "%ED%A0%80" },	/* surrogate */
	{ NAMES_UTF8, "a\000b", 3, "a%00b" },
};

static const char *charset_name(enum names_charset cs)
{
	return cs == NAMES_MUTF7 ? "mutf7" : "utf8";
}

static void test_display(void)
{
	size_t i;

	for (i = 0; i < G_N_ELEMENTS(display_cases); i++) {
		const struct display_case *c = &display_cases[i];
		size_t len = c->len != 0 ? c->len : strlen(c->raw);
		char *d = names_part_to_display(c->raw, len, c->charset);

		if (strcmp(d, c->display) != 0)
			g_error("#%zu (%s): shown as \"%s\", want \"%s\"", i,
					charset_name(c->charset), d,
					c->display);
		g_free(d);
	}
}

static void test_display_back(void)
{
	size_t i;

	for (i = 0; i < G_N_ELEMENTS(display_cases); i++) {
		const struct display_case *c = &display_cases[i];
		char *raw = names_display_to_part(c->display, c->charset);

		if (c->len != 0 && memchr(c->raw, '\0', c->len) != NULL) {
			/* a NUL cannot be sent, so it cannot be created */
			g_assert_null(raw);
			continue;
		}
		if (raw == NULL || strcmp(raw, c->raw) != 0)
			g_error("#%zu (%s): \"%s\" gives \"%s\", want \"%s\"",
					i, charset_name(c->charset),
					c->display, raw ? raw : "(null)",
					c->raw);
		g_free(raw);
	}
}

struct part_case {
	const char *display;
	const char *mutf7;	/* NULL: refused */
	const char *utf8;	/* NULL: refused */
};

static const struct part_case part_cases[] = {
	{ "%", "", "" },
	{ "%25", "%", "%" },
	{ "%41", "A", "A" },			/* accepted, shown as "A" */
	{ "a%25b", "a%b", "a%b" },		/* accepted, shown as "a%b" */
	{ "%2500", "%00", "%00" },
	{ "%%41", "%A", "%A" },			/* shown as "%A" */
	{ "100% done", "100% done", "100% done" },
	{ "50%", "50%", "50%" },
	{ "%%", "%%", "%%" },
	{ "a%", "a%", "a%" },
	{ "%2", "%2", "%2" },
	{ "%0", "%0", "%0" },
	{ "%%25", "%%", "%%" },
	{ "%zz", "%zz", "%zz" },
	{ "%2f", "%2f", "%2f" },		/* lower case: no escape */
	{ "%a0", "%a0", "%a0" },
	{ "%G0", "%G0", "%G0" },
	{ "% 1", "% 1", "% 1" },
	{ "%%2F", "%/", "%/" },
	{ "ä%ä", "&AOQ-%&AOQ-", "ä%ä" },
	{ "%&", "%&-", "%&" },
	{ "%26", "&", "&" },
	{ "%26-", "&-", "&-" },
	{ "&", "&-", "&" },
	{ "日%2Fx", "&ZeU-/x", "日/x" },
	{ "ä%2Eä", "&AOQ-.&AOQ-", "ä.ä" },
	/* escapes are raw bytes, not encoded */
	{ "%C3%A4", "\303\244", "\303\244" },
	{ "%2E", ".", "." },
	{ "%2E%2E", "..", ".." },
	{ "4711%2Eeml", "4711.eml", "4711.eml" },
	{ "4711.eml", "4711.eml", "4711.eml" },	/* callers check first */
	{ "\t", "&AAk-", "\t" },
	{ "", NULL, NULL },
	{ ".", NULL, NULL },
	{ "..", NULL, NULL },
	{ "a/b", NULL, NULL },
	{ "/", NULL, NULL },
	{ "%2F/", NULL, NULL },
	{ "%00", NULL, NULL },			/* no name holds a NUL */
	{ "a%00b", NULL, NULL },
	{ "%000", NULL, NULL },
	{ "%%00", NULL, NULL },
	{ "%2500%00", NULL, NULL },
	{ "\377", NULL, NULL },			/* not UTF-8 */
	{ "Entw\374rfe", NULL, NULL },
};

static void check_part(const char *display, enum names_charset cs,
		const char *want)
{
	char *raw = names_display_to_part(display, cs);

	if (want == NULL && raw != NULL)
		g_error("\"%s\" (%s) accepted as \"%s\"", display,
				charset_name(cs), raw);
	if (want != NULL && (raw == NULL || strcmp(raw, want) != 0))
		g_error("\"%s\" (%s) gives \"%s\", want \"%s\"", display,
				charset_name(cs), raw ? raw : "(null)", want);
	g_free(raw);
}

static void test_part(void)
{
	size_t i;

	for (i = 0; i < G_N_ELEMENTS(part_cases); i++) {
		check_part(part_cases[i].display, NAMES_MUTF7,
				part_cases[i].mutf7);
		check_part(part_cases[i].display, NAMES_UTF8,
				part_cases[i].utf8);
	}
}

/* Pieces that make random parts likely to hit every path. */
static const char *const tokens[] = {
	"&", "-", "%", "/", ".", "..", "A", "a", "0", "1", "4711", ".eml",
	" ", "&-", "&AOQ-", "&AOQA5A-", "&2D3c5w-", "&ZeVnLIqe-", "&2D0-",
	"&AGE-", "&AAk-", "&AAA-", "&U,BTFw-", "&AOR-", "AOQ", "2D3", ",", "+",
	"=", "%25", "%2F", "%2E", "ä", "日", "\U0001F4E7", "\t", "\177",
	"\303", "\244", "\200", "\377", "\355\240\200",
	"%41", "%00", "%2", "%%", "F", "f", "AB", "eml", "%2f", "100% ",
};

static GString *random_part(void)
{
	GString *s = g_string_new(NULL);
	int n = g_test_rand_int_range(0, 8);

	if (g_test_rand_int_range(0, 4) == 0) {
		/* plain random bytes, no NUL */
		n = g_test_rand_int_range(0, 12);
		while (n-- > 0)
			g_string_append_c(s,
				(char)g_test_rand_int_range(1, 256));
		return s;
	}
	while (n-- > 0)
		g_string_append(s, tokens[g_test_rand_int_range(0,
					G_N_ELEMENTS(tokens))]);
	return s;
}

static void check_round_trip(const char *raw, size_t len,
		enum names_charset cs)
{
	char *d = names_part_to_display(raw, len, cs);
	char *back;
	uint32_t uid;

	/* what the filesystem may show */
	g_assert_true(g_utf8_validate(d, -1, NULL));
	g_assert_cmpstr(d, !=, "");
	g_assert_cmpstr(d, !=, ".");
	g_assert_cmpstr(d, !=, "..");
	g_assert_null(strchr(d, '/'));
	g_assert_false(names_parse_message_file(d, &uid));

	back = names_display_to_part(d, cs);
	if (back == NULL || strlen(back) != len || memcmp(back, raw, len) != 0)
		g_error("round trip (%s) of \"%.*s\" via \"%s\" gave \"%s\"",
				charset_name(cs), (int)len, raw, d,
				back ? back : "(null)");
	g_free(back);
	g_free(d);
}

static void test_round_trip_random(gconstpointer data)
{
	enum names_charset cs = (enum names_charset)GPOINTER_TO_INT(data);
	unsigned i;

	for (i = 0; i < 10000; i++) {
		GString *s = random_part();

		check_round_trip(s->str, s->len, cs);
		g_string_free(s, TRUE);
	}
}

/* Every part of up to two bytes, in both charsets. */
static void test_round_trip_short(void)
{
	char buf[2];
	int a, b;

	for (a = 1; a < 256; a++) {
		buf[0] = (char)a;
		check_round_trip(buf, 1, NAMES_MUTF7);
		check_round_trip(buf, 1, NAMES_UTF8);
		for (b = 1; b < 256; b++) {
			buf[1] = (char)b;
			check_round_trip(buf, 2, NAMES_MUTF7);
			check_round_trip(buf, 2, NAMES_UTF8);
		}
	}
	check_round_trip("", 0, NAMES_MUTF7);
	check_round_trip("", 0, NAMES_UTF8);
}

/* Pieces of file names someone might type. */
static const char *const display_tokens[] = {
	"%", "%", "%%", "%25", "%41", "%2F", "%2E", "%00", "%2f", "%a", "%G",
	"A", "F", "0", "2", "4711", ".", ".eml", "eml", "&", "&-", "&AOQ-", "-",
	" ", "\t", "ä", "日", "\U0001F4E7", "100% done", "50%", "+", ",",
};

static GString *random_display(void)
{
	GString *s = g_string_new(NULL);
	int n = g_test_rand_int_range(1, 7);

	while (n-- > 0)
		g_string_append(s, display_tokens[g_test_rand_int_range(0,
					G_N_ELEMENTS(display_tokens))]);
	return s;
}

static bool has_escape(const char *s)
{
	for (s = strchr(s, '%'); s != NULL; s = strchr(s + 1, '%')) {
		if (g_ascii_isxdigit(s[1]) && !g_ascii_islower(s[1]) &&
		    g_ascii_isxdigit(s[2]) && !g_ascii_islower(s[2]))
			return true;
	}
	return false;
}

/*
 * The contract of imapfs(1), "Names": a name that can be a file name as it
 * is (not "", ".", "..", a message file name, or the mark "%" of the empty
 * part, and holding no '/' and nothing that reads as an escape) stands for
 * the server name that is shown as exactly that name.  Any other name that
 * is accepted stands for a part that is shown and read back consistently.
 */
static void test_display_random(gconstpointer data)
{
	enum names_charset cs = (enum names_charset)GPOINTER_TO_INT(data);
	unsigned i, unchanged = 0;

	for (i = 0; i < 10000; i++) {
		GString *s = random_display();
		char *raw = names_display_to_part(s->str, cs);
		bool plain = strcmp(s->str, "%") != 0 &&
			strcmp(s->str, ".") != 0 &&
			strcmp(s->str, "..") != 0 &&
			!names_parse_message_file(s->str, NULL) &&
			!has_escape(s->str);

		if (plain) {
			char *d = raw ? names_part_to_display(raw,
					strlen(raw), cs) : NULL;

			if (d == NULL || strcmp(d, s->str) != 0)
				g_error("\"%s\" (%s) is \"%s\", shown \"%s\"",
						s->str, charset_name(cs),
						raw ? raw : "(null)",
						d ? d : "(null)");
			g_free(d);
			unchanged++;
		}
		if (raw != NULL)
			check_round_trip(raw, strlen(raw), cs);
		g_free(raw);
		g_string_free(s, TRUE);
	}
	/* the tokens must make both kinds likely */
	g_assert_cmpuint(unchanged, >, 1000);
	g_assert_cmpuint(unchanged, <, 9000);
}

struct split_case {
	const char *raw;
	char delim;
	const char *parts[5];
};

static const struct split_case split_cases[] = {
	{ "a/b/c", '/', { "a", "b", "c", NULL } },
	{ "a//b", '/', { "a", "", "b", NULL } },
	{ "/a/", '/', { "", "a", "", NULL } },
	{ "/", '/', { "", "", NULL } },
	{ "", '/', { "", NULL } },
	{ "INBOX", '.', { "INBOX", NULL } },
	{ "INBOX.Sent/2024", '.', { "INBOX", "Sent/2024", NULL } },
	{ "INBOX.Sent/2024", '/', { "INBOX.Sent", "2024", NULL } },
	{ "INBOX.Sent/2024", '\0', { "INBOX.Sent/2024", NULL } },
	{ "", '\0', { "", NULL } },
};

static void test_split(void)
{
	size_t i, j;

	for (i = 0; i < G_N_ELEMENTS(split_cases); i++) {
		const struct split_case *c = &split_cases[i];
		char **v = names_split(c->raw, c->delim);

		for (j = 0; c->parts[j] != NULL; j++)
			g_assert_cmpstr(v[j], ==, c->parts[j]);
		g_assert_null(v[j]);
		g_strfreev(v);
	}
}

struct msgfile_case {
	const char *name;
	bool ok;
	uint32_t uid;
};

static const struct msgfile_case msgfile_cases[] = {
	{ "4711.eml", true, 4711 },
	{ "1.eml", true, 1 },
	{ "10.eml", true, 10 },
	{ "4294967295.eml", true, 4294967295u },
	{ "0.eml", false, 0 },
	{ "00.eml", false, 0 },
	{ "04711.eml", false, 0 },
	{ "+1.eml", false, 0 },
	{ "-1.eml", false, 0 },
	{ " 1.eml", false, 0 },
	{ "4294967296.eml", false, 0 },
	{ "42949672950.eml", false, 0 },
	{ "99999999999999999999999.eml", false, 0 },
	{ "1.EML", false, 0 },
	{ "1.Eml", false, 0 },
	{ "1.eml~", false, 0 },
	{ "1.eml ", false, 0 },
	{ "1.eml.eml", false, 0 },
	{ "1..eml", false, 0 },
	{ "12a.eml", false, 0 },
	{ "1eml", false, 0 },
	{ "1.em", false, 0 },
	{ "1", false, 0 },
	{ ".eml", false, 0 },
	{ "eml", false, 0 },
	{ "", false, 0 },
	{ "4711%2Eeml", false, 0 },
};

static void test_message_file(void)
{
	size_t i;

	for (i = 0; i < G_N_ELEMENTS(msgfile_cases); i++) {
		const struct msgfile_case *c = &msgfile_cases[i];
		uint32_t uid = 12345;
		bool ok = names_parse_message_file(c->name, &uid);

		if (ok != c->ok)
			g_error("\"%s\": %s, want %s", c->name,
					ok ? "accepted" : "refused",
					c->ok ? "accepted" : "refused");
		if (ok)
			g_assert_cmpuint(uid, ==, c->uid);
		else
			g_assert_cmpuint(uid, ==, 12345);	/* untouched */
	}
}

static void test_format_message_file(void)
{
	static const uint32_t uids[] = { 1, 9, 10, 4711, 4294967295u };
	char buf[NAMES_MESSAGE_FILE_MAX];
	size_t i;
	uint32_t uid;

	names_format_message_file(4711, buf);
	g_assert_cmpstr(buf, ==, "4711.eml");
	names_format_message_file(4294967295u, buf);
	g_assert_cmpstr(buf, ==, "4294967295.eml");
	for (i = 0; i < G_N_ELEMENTS(uids); i++) {
		names_format_message_file(uids[i], buf);
		g_assert_true(names_parse_message_file(buf, &uid));
		g_assert_cmpuint(uid, ==, uids[i]);
	}
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/names/display", test_display);
	g_test_add_func("/names/display-back", test_display_back);
	g_test_add_func("/names/part", test_part);
	g_test_add_data_func("/names/round-trip/random/mutf7",
			GINT_TO_POINTER(NAMES_MUTF7), test_round_trip_random);
	g_test_add_data_func("/names/round-trip/random/utf8",
			GINT_TO_POINTER(NAMES_UTF8), test_round_trip_random);
	g_test_add_func("/names/round-trip/short", test_round_trip_short);
	g_test_add_data_func("/names/display-random/mutf7",
			GINT_TO_POINTER(NAMES_MUTF7), test_display_random);
	g_test_add_data_func("/names/display-random/utf8",
			GINT_TO_POINTER(NAMES_UTF8), test_display_random);
	g_test_add_func("/names/split", test_split);
	g_test_add_func("/names/message-file/parse", test_message_file);
	g_test_add_func("/names/message-file/format",
			test_format_message_file);
	return g_test_run();
}
