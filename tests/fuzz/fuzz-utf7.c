/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for modified UTF-7 and the name mapping.  Besides "never
 * crashes" it checks the properties the filesystem relies on:
 *
 *  - decode accepts only canonical input: encode(decode(x)) == x;
 *  - encode is undone by decode: decode(encode(x)) == x;
 *  - every raw part (without NUL) is shown as a usable file name that turns
 *    back into exactly the same bytes, in both charsets;
 *  - any file name that is accepted maps to a part that round-trips too;
 *  - a file name that can be one as it is (see imapfs(1), "Names": no '/',
 *    not "", ".", "..", "%" or a message file name, nothing that reads as
 *    an escape) is accepted, and its part is shown as exactly that name.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "imap/utf7.h"
#include "store/names.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool same(const char *s, const void *data, size_t size)
{
	return s != NULL && strlen(s) == size &&
		(size == 0 || memcmp(s, data, size) == 0);
}

static void check_utf7(const char *in, size_t size)
{
	char *dec, *enc;

	dec = imap_utf7_decode(in, size);
	if (dec != NULL) {
		if (!g_utf8_validate(dec, -1, NULL))
			abort();
		enc = imap_utf7_encode(dec, strlen(dec));
		if (!same(enc, in, size))
			abort();
		g_free(enc);
		g_free(dec);
	}

	enc = imap_utf7_encode(in, size);
	if (enc != NULL) {
		dec = imap_utf7_decode(enc, strlen(enc));
		if (!same(dec, in, size))
			abort();
		g_free(dec);
		g_free(enc);
	}
}

static void check_part(const char *raw, size_t size, bool has_nul,
		enum names_charset cs)
{
	char *d = names_part_to_display(raw, size, cs);
	char *back;
	uint32_t uid;

	if (d == NULL || !g_utf8_validate(d, -1, NULL) || d[0] == '\0' ||
	    strcmp(d, ".") == 0 || strcmp(d, "..") == 0 ||
	    strchr(d, '/') != NULL || names_parse_message_file(d, &uid))
		abort();
	back = names_display_to_part(d, cs);
	if (has_nul ? back != NULL : !same(back, raw, size))
		abort();
	g_free(back);
	g_free(d);
}

static bool is_upper_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

static bool shown_as_is(const char *name)
{
	const char *p;

	if (name[0] == '\0' || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0 || strcmp(name, "%") == 0 ||
	    strchr(name, '/') != NULL || names_parse_message_file(name, NULL) ||
	    !g_utf8_validate(name, -1, NULL))
		return false;
	for (p = strchr(name, '%'); p != NULL; p = strchr(p + 1, '%')) {
		if (is_upper_hex(p[1]) && is_upper_hex(p[2]))
			return false;
	}
	return true;
}

/* The input as a file name someone types: mkdir must create a part that is
 * itself shown and read back consistently, and a name that needs no escape
 * must create the part that is shown as that very name. */
static void check_display(const char *display, enum names_charset cs)
{
	char *raw = names_display_to_part(display, cs);
	char *d;

	if (raw != NULL) {
		check_part(raw, strlen(raw), false, cs);
		if (shown_as_is(display)) {
			d = names_part_to_display(raw, strlen(raw), cs);
			if (strcmp(d, display) != 0)
				abort();
			g_free(d);
		}
		g_free(raw);
	} else if (shown_as_is(display)) {
		abort();
	}
}

static void check_split(const char *s)
{
	char **v = names_split(s, '/');
	char *joined = g_strjoinv("/", v);

	if (strcmp(joined, s) != 0)
		abort();
	g_free(joined);
	g_strfreev(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	bool has_nul = size > 0 && memchr(data, '\0', size) != NULL;
	char *str;

	check_utf7(in, size);
	check_part(in, size, has_nul, NAMES_MUTF7);
	check_part(in, size, has_nul, NAMES_UTF8);

	str = g_strndup(in, size);
	check_display(str, NAMES_MUTF7);
	check_display(str, NAMES_UTF8);
	check_split(str);
	g_free(str);
	return 0;
}
