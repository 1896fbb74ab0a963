/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Modified UTF-7: tables of valid pairs (both directions), of inputs the
 * decoder must refuse (invalid or non-canonical) and of UTF-8 the encoder
 * must refuse, plus a random round trip.
 */
#include <string.h>

#include <glib.h>

#include "imap/utf7.h"

struct pair {
	const char *mutf7;
	const char *utf8;
};

static const struct pair valid[] = {
	{ "", "" },
	{ "INBOX", "INBOX" },
	{ "~peter/mail/&U,BTFw-/&ZeVnLIqe-", "~peter/mail/台北/日本語" },
	{ "&-", "&" },
	{ "&--", "&-" },
	{ "&-&-", "&&" },
	{ "Entw&APw-rfe", "Entwürfe" },
	{ "&ZeVnLIqe-", "日本語" },
	{ "&2D3c5w-", "\U0001F4E7" },		/* 📧, outside the BMP */
	{ "&2D3eAA-", "\U0001F600" },		/* 😀 */
	{ "Gr&APwA3w-e &2D3c5w- an alle", "Grüße \U0001F4E7 an alle" },
	{ "&AOQ-&-", "ä&" },
	{ "&-&AOQ-", "&ä" },
	{ "&AOQA5A-", "ää" },			/* 32 bits: 4 padding bits */
	{ "&AOQA5ADk-", "äää" },		/* 48 bits: no padding */
	{ "a&AAE-b", "a\001b" },		/* controls are encoded */
	{ "&AH8-", "\177" },
	{ "&AIA-", "\302\200" },		/* U+0080 */
	{ "&,,8-", "\357\277\277" },		/* U+FFFF */
	{ "&2,,f,w-", "\364\217\277\277" },	/* U+10FFFF */
	{ "Hi Mom -&Jjo--!", "Hi Mom -☺-!" },
	{ "A&ImIDkQ-.", "A≢Α." },
	{ " !\"#$%'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~",
	  " !\"#$%'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~" },
};

struct bytes {
	const char *data;
	size_t len;		/* 0: use strlen */
	const char *why;
};

static const struct bytes invalid_mutf7[] = {
	{ "&", 0, "lone &" },
	{ "a&", 0, "lone & at end" },
	{ "&AOQ", 0, "unterminated run" },
	{ "A&ImIDkQ.", 0, "run ended by '.' instead of '-'" },
	{ "&ImIDkQ", 0, "unterminated run" },
	{ "&AOQ-&AOQ-", 0, "adjacent runs" },
	{ "&AOQ-&AOQA5A-", 0, "adjacent runs" },
	{ "&AGE-", 0, "run encodes printable 'a'" },
	{ "&ACY-", 0, "run encodes '&'" },
	{ "&ACA-", 0, "run encodes ' '" },
	{ "&AH4-", 0, "run encodes '~'" },
	{ "&AOQAYQ-", 0, "run encodes 'a' after U+00E4" },
	{ "&AAA-", 0, "U+0000" },
	{ "&AOQAAA-", 0, "U+0000 after U+00E4" },
	{ "&2D0-", 0, "lone high surrogate" },
	{ "&3gA-", 0, "lone low surrogate" },
	{ "&3gDYPQ-", 0, "low surrogate before high" },
	{ "&2D3YPQ-", 0, "two high surrogates" },
	{ "&2D0-&3gA-", 0, "surrogate pair split over two runs" },
	{ "&2D3eAA", 0, "unterminated pair" },
	{ "&AOR-", 0, "non-zero padding bits" },
	{ "&AOT-", 0, "non-zero padding bits" },
	{ "&AOQA-", 0, "6 leftover bits" },
	{ "&AOQAA-", 0, "12 leftover bits (odd byte count)" },
	{ "&AA-", 0, "12 bits: no whole character" },
	{ "&A-", 0, "6 bits: no whole character" },
	{ "&AOQ=-", 0, "padding '='" },
	{ "&AOQ=", 0, "padding '=' unterminated" },
	{ "&U/BTFw-", 0, "'/' instead of ','" },
	{ "&AO Q-", 0, "space inside run" },
	{ "&AO&Q-", 0, "'&' inside run" },
	{ "\200", 0, "byte 0x80" },
	{ "\377", 0, "byte 0xff" },
	{ "Entw\303\274rfe", 0, "raw UTF-8" },
	{ "a\001b", 0, "control character" },
	{ "a\tb", 0, "tab" },
	{ "\177", 0, "DEL" },
	{ "a\000b", 3, "NUL" },
	{ "&AOQ-\000", 6, "trailing NUL" },
	{ "&AOQ\000-", 6, "NUL inside run" },
};

static const struct bytes invalid_utf8[] = {
	{ "\200", 0, "continuation byte alone" },
	{ "\377", 0, "byte 0xff" },
	{ "\303", 0, "truncated sequence" },
	{ "a\303(", 0, "bad continuation" },
	{ "\300\257", 0, "overlong '/'" },
	{ "\340\200\257", 0, "overlong '/' (3 bytes)" },
	{ "\355\240\275\355\270\200", 0, "CESU-8 surrogates" },
	{ "\364\220\200\200", 0, "beyond U+10FFFF" },
	{ "a\000b", 3, "NUL" },
	{ "\000", 1, "NUL alone" },
};

static size_t bytes_len(const struct bytes *b)
{
	return b->len != 0 ? b->len : strlen(b->data);
}

static void test_valid_decode(void)
{
	size_t i;

	for (i = 0; i < G_N_ELEMENTS(valid); i++) {
		char *s = imap_utf7_decode(valid[i].mutf7,
				strlen(valid[i].mutf7));

		g_assert_nonnull(s);
		g_assert_cmpstr(s, ==, valid[i].utf8);
		g_free(s);
	}
}

static void test_valid_encode(void)
{
	size_t i;

	for (i = 0; i < G_N_ELEMENTS(valid); i++) {
		char *s = imap_utf7_encode(valid[i].utf8,
				strlen(valid[i].utf8));

		g_assert_nonnull(s);
		g_assert_cmpstr(s, ==, valid[i].mutf7);
		g_free(s);
	}
}

/* Only len bytes are looked at: no NUL needed, nothing read past len. */
static void test_length_bound(void)
{
	char *s;

	s = imap_utf7_decode("&ZeVnLIqe-garbage\200", 10);
	g_assert_cmpstr(s, ==, "日本語");
	g_free(s);
	s = imap_utf7_decode("&ZeVnLIqe-", 9);
	g_assert_null(s);
	s = imap_utf7_encode("日本語\377", 9);
	g_assert_cmpstr(s, ==, "&ZeVnLIqe-");
	g_free(s);
	s = imap_utf7_encode("日本語", 8);	/* cuts a character */
	g_assert_null(s);
}

static void test_invalid_decode(void)
{
	size_t i;

	for (i = 0; i < G_N_ELEMENTS(invalid_mutf7); i++) {
		const struct bytes *b = &invalid_mutf7[i];
		char *s = imap_utf7_decode(b->data, bytes_len(b));

		if (s != NULL)
			g_error("decoded invalid input #%zu (%s) to \"%s\"",
					i, b->why, s);
	}
}

static void test_invalid_encode(void)
{
	size_t i;

	for (i = 0; i < G_N_ELEMENTS(invalid_utf8); i++) {
		const struct bytes *b = &invalid_utf8[i];
		char *s = imap_utf7_encode(b->data, bytes_len(b));

		if (s != NULL)
			g_error("encoded invalid UTF-8 #%zu (%s) to \"%s\"",
					i, b->why, s);
	}
}

/* Code points weighted towards the interesting classes. */
static gunichar random_char(void)
{
	gunichar c;

	switch (g_test_rand_int_range(0, 8)) {
	case 0:
		return '&';
	case 1:
		return '-';
	case 2:
		return (gunichar)g_test_rand_int_range(0x20, 0x7f);
	case 3:
		return (gunichar)g_test_rand_int_range(1, 0x20);
	case 4:
		return (gunichar)g_test_rand_int_range(0x7f, 0x800);
	case 5:
		return (gunichar)g_test_rand_int_range(0x10000, 0x110000);
	default:
		do {
			c = (gunichar)g_test_rand_int_range(0x800, 0x10000);
		} while (c >= 0xd800 && c <= 0xdfff);
		return c;
	}
}

static void test_random_round_trip(void)
{
	unsigned iter;

	for (iter = 0; iter < 20000; iter++) {
		GString *in = g_string_new(NULL);
		int n = g_test_rand_int_range(0, 24);
		char *enc, *dec;
		const char *p;

		while (n-- > 0)
			g_string_append_unichar(in, random_char());
		enc = imap_utf7_encode(in->str, in->len);
		g_assert_nonnull(enc);
		for (p = enc; *p != '\0'; p++)
			g_assert_true(*p >= 0x20 && *p <= 0x7e);
		dec = imap_utf7_decode(enc, strlen(enc));
		g_assert_nonnull(dec);
		g_assert_cmpstr(dec, ==, in->str);
		g_free(dec);
		g_free(enc);
		g_string_free(in, TRUE);
	}
}

/* Random printable strings: decode either fails or is canonical. */
static void test_random_decode(void)
{
	static const char alphabet[] =
		"&&&---AAAOQ5Dk2D3ec+,/=a .";
	unsigned iter;

	for (iter = 0; iter < 20000; iter++) {
		char buf[16];
		int n = g_test_rand_int_range(0, (int)sizeof(buf));
		int i;
		char *dec, *enc;

		for (i = 0; i < n; i++)
			buf[i] = alphabet[g_test_rand_int_range(0,
					(int)sizeof(alphabet) - 1)];
		dec = imap_utf7_decode(buf, (size_t)n);
		if (dec == NULL)
			continue;
		g_assert_true(g_utf8_validate(dec, -1, NULL));
		enc = imap_utf7_encode(dec, strlen(dec));
		g_assert_nonnull(enc);
		g_assert_cmpmem(enc, strlen(enc), buf, (size_t)n);
		g_free(enc);
		g_free(dec);
	}
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/utf7/valid/decode", test_valid_decode);
	g_test_add_func("/utf7/valid/encode", test_valid_encode);
	g_test_add_func("/utf7/length-bound", test_length_bound);
	g_test_add_func("/utf7/invalid/decode", test_invalid_decode);
	g_test_add_func("/utf7/invalid/encode", test_invalid_encode);
	g_test_add_func("/utf7/random/round-trip", test_random_round_trip);
	g_test_add_func("/utf7/random/decode", test_random_decode);
	return g_test_run();
}
