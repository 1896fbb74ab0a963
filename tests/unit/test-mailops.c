/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The pure parts of the typed operations: UID sets, CRLF, flag names. */
#include <glib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "imap/crlf.h"
#include "imap/mailops.h"
#include "imap/uidset.h"
#include "testutil.h"

static void test_uidset_format_ranges(void)
{
	static const uint32_t uids[] = { 1, 2, 3, 5, 7, 8, 4294967295u };
	GString *out = g_string_new(NULL);

	g_assert_cmpuint(imap_uidset_format(out, uids, G_N_ELEMENTS(uids),
				IMAP_UIDSET_MAX_TEXT), ==, G_N_ELEMENTS(uids));
	g_assert_cmpstr(out->str, ==, "1:3,5,7:8,4294967295");
	g_string_free(out, TRUE);
}

/* Every command stays short, and together they name every UID once. */
static void test_uidset_format_chunks(void)
{
	enum { N = 20000 };
	uint32_t *uids = g_new(uint32_t, N);
	GArray *back = g_array_new(FALSE, FALSE, sizeof(uint32_t));
	size_t done = 0, commands = 0;

	for (size_t i = 0; i < N; i++)
		uids[i] = (uint32_t)(i * 2 + 1);	/* no ranges */
	while (done < N) {
		GString *out = g_string_new(NULL);
		size_t n = imap_uidset_format(out, uids + done, N - done, 100);

		g_assert_cmpuint(n, >, 0);
		g_assert_cmpuint(out->len, <=, 100);
		g_assert_true(imap_uidset_parse(out->str, out->len, back, N));
		done += n;
		commands++;
		g_string_free(out, TRUE);
	}
	g_assert_cmpuint(commands, >, 1);
	g_assert_cmpuint(back->len, ==, N);
	g_assert_cmpmem(back->data, N * sizeof(uint32_t), uids,
			N * sizeof(uint32_t));
	g_array_unref(back);
	g_free(uids);
}

static void test_uidset_parse(void)
{
	static const struct {
		const char *text;
		bool ok;
		const char *expect;
	} cases[] = {
		{ "7", true, "7" },
		{ "1:3,9", true, "1 2 3 9" },
		{ "5:3", true, "3 4 5" },
		{ "", false, NULL },
		{ "0", false, NULL },
		{ "1:*", false, NULL },
		{ "1,,2", false, NULL },
		{ "1:", false, NULL },
		{ "4294967296", false, NULL },
		{ "01", false, NULL },
		{ "1:100000", false, NULL },	/* more than allowed */
		{ "1 2", false, NULL },
	};

	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		GArray *uids = g_array_new(FALSE, FALSE, sizeof(uint32_t));
		uint32_t keep = 42;
		bool ok;

		g_array_append_val(uids, keep);
		ok = imap_uidset_parse(cases[i].text, strlen(cases[i].text),
				uids, 1000);
		g_assert_cmpint(ok, ==, cases[i].ok);
		if (ok) {
			GString *got = g_string_new(NULL);

			for (guint j = 1; j < uids->len; j++)
				g_string_append_printf(got, "%s%u",
						j > 1 ? " " : "",
						g_array_index(uids, uint32_t, j));
			g_assert_cmpstr(got->str, ==, cases[i].expect);
			g_string_free(got, TRUE);
		} else {
			/* what was there before stays, nothing more */
			g_assert_cmpuint(uids->len, ==, 1);
		}
		g_array_unref(uids);
	}
}

/* Unexpanded: any size, in the order written, each first <= last. */
static void test_uidset_parse_ranges(void)
{
	static const struct {
		const char *text;
		bool ok;
		const char *expect;
	} cases[] = {
		{ "7", true, "7-7" },
		{ "5:3,9,1:4294967295", true, "3-5 9-9 1-4294967295" },
		{ "", false, NULL },
		{ "1:*", false, NULL },
		{ "1,,2", false, NULL },
		{ "0:3", false, NULL },
		{ "3,", false, NULL },
	};

	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		GArray *ranges = g_array_new(FALSE, FALSE,
				sizeof(struct imap_uid_range));
		struct imap_uid_range keep = { 42, 42 };
		bool ok;

		g_array_append_val(ranges, keep);
		ok = imap_uidset_parse_ranges(cases[i].text,
				strlen(cases[i].text), ranges);
		g_assert_cmpint(ok, ==, cases[i].ok);
		if (ok) {
			GString *got = g_string_new(NULL);

			for (guint j = 1; j < ranges->len; j++) {
				const struct imap_uid_range *r =
					&g_array_index(ranges,
						struct imap_uid_range, j);

				g_string_append_printf(got, "%s%u-%u",
						j > 1 ? " " : "", r->first,
						r->last);
			}
			g_assert_cmpstr(got->str, ==, cases[i].expect);
			g_string_free(got, TRUE);
		} else {
			g_assert_cmpuint(ranges->len, ==, 1);
		}
		g_array_unref(ranges);
	}
}

static char *convert_all(const char *in, size_t len, size_t chunk,
		size_t *out_len)
{
	struct imap_crlf state = { 0 };
	char *out = g_malloc(2 * len + 1);
	size_t n = 0;

	for (size_t i = 0; i < len; i += chunk)
		n += imap_crlf_convert(&state, in + i, MIN(chunk, len - i),
				out + n);
	*out_len = n;
	out[n] = '\0';
	return out;
}

static void test_crlf_convert(void)
{
	static const struct {
		const char *in;
		const char *out;
	} cases[] = {
		{ "a\nb\n", "a\r\nb\r\n" },
		{ "a\r\nb\r\n", "a\r\nb\r\n" },
		{ "a\rb", "a\rb" },
		{ "\n\n", "\r\n\r\n" },
		{ "\r\r\n", "\r\r\n" },
		{ "", "" },
	};

	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		/* The same whatever the chunks, a CR at a chunk's end too. */
		for (size_t chunk = 1; chunk <= 4; chunk++) {
			size_t n;
			char *got = convert_all(cases[i].in,
					strlen(cases[i].in), chunk, &n);
			struct imap_crlf state = { 0 };

			g_assert_cmpstr(got, ==, cases[i].out);
			g_assert_cmpuint(strlen(cases[i].in) +
					imap_crlf_extra(&state, cases[i].in,
						strlen(cases[i].in)), ==, n);
			g_free(got);
		}
	}
}

static void test_crlf_measure_fd(void)
{
	char path[] = "/tmp/test-mailops-XXXXXX";
	int fd = mkstemp(path);
	uint64_t length;
	bool nul;

	g_assert_cmpint(fd, >=, 0);
	unlink(path);
	g_assert_cmpint(write(fd, "a\nb\r\nc\n", 7), ==, 7);
	g_assert_true(imap_crlf_measure_fd(fd, &length, &nul));
	g_assert_cmpuint(length, ==, 9);
	g_assert_false(nul);
	g_assert_cmpint(write(fd, "\0", 1), ==, 1);
	g_assert_true(imap_crlf_measure_fd(fd, &length, &nul));
	g_assert_true(nul);
	close(fd);
}

static void test_flag_valid(void)
{
	static const char *const good[] = {
		"\\Seen", "\\answered", "\\Flagged", "\\Deleted", "\\Draft",
		"$Label1", "Junk", "NonJunk", "$Forwarded", "a.b-c_d",
	};
	static const char *const bad[] = {
		"\\Recent", "\\Bogus", "\\*", "", "a b", "(x", "x)", "{3}",
		"%", "a*", "q\"", "back\\slash", "br]", "\x01", "\xc3\xa9",
	};

	for (size_t i = 0; i < G_N_ELEMENTS(good); i++)
		g_assert_true(imap_flag_is_valid(good[i]));
	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++)
		g_assert_false(imap_flag_is_valid(bad[i]));
}

static void test_permits(void)
{
	struct imap_selected sel;

	memset(&sel, 0, sizeof(sel));
	/* No PERMANENTFLAGS: everything may be tried. */
	g_assert_true(imap_selected_permits(&sel, "\\Seen"));
	g_assert_true(imap_selected_permits(&sel, "$X"));
	sel.permanent_known = true;
	sel.permanent_system = IMAP_FLAG_SEEN | IMAP_FLAG_DELETED;
	g_strlcpy(sel.permanent_keywords, "$Junk Work ",
			sizeof(sel.permanent_keywords));
	g_assert_true(imap_selected_permits(&sel, "\\seen"));
	g_assert_false(imap_selected_permits(&sel, "\\Flagged"));
	g_assert_true(imap_selected_permits(&sel, "$junk"));
	g_assert_true(imap_selected_permits(&sel, "Work"));
	g_assert_false(imap_selected_permits(&sel, "Wor"));
	g_assert_false(imap_selected_permits(&sel, "$Other"));
	sel.permanent_new_keywords = true;
	g_assert_true(imap_selected_permits(&sel, "$Other"));
	g_assert_false(imap_selected_permits(&sel, "\\Draft"));
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/uidset/format-ranges", test_uidset_format_ranges);
	g_test_add_func("/uidset/format-chunks", test_uidset_format_chunks);
	g_test_add_func("/uidset/parse-ranges", test_uidset_parse_ranges);
	g_test_add_func("/uidset/parse", test_uidset_parse);
	g_test_add_func("/crlf/convert", test_crlf_convert);
	g_test_add_func("/crlf/measure-fd", test_crlf_measure_fd);
	g_test_add_func("/flags/valid", test_flag_valid);
	g_test_add_func("/flags/permits", test_permits);
	return g_test_run();
}
