/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Mailbox names <-> directory names.
 *
 * A raw part is shown in one of two ways:
 *
 *  - decoded: when it is valid (canonical) modified UTF-7, or valid UTF-8
 *    after UTF8=ACCEPT, the text is shown with only '%' and '/' escaped.
 *    Both are printable ASCII, which either charset writes as itself, so
 *    the escape's raw byte is exactly what encoding the character gives;
 *  - raw: otherwise every byte outside printable ASCII, and '%', '/' and
 *    '&', is escaped, so that all text left between escapes is printable
 *    ASCII without '&' and encodes to itself.
 *
 * Either way, encoding the text between escapes and inserting the escaped
 * bytes as they are gives back the raw part.  Finally the names that must not
 * appear in a directory ("", ".", "..", "4711.eml") get one more escape.
 */
#include "store/names.h"

#include <string.h>

#include <glib.h>

#include "imap/utf7.h"

#define MESSAGE_SUFFIX ".eml"

static void append_escape(GString *out, unsigned char c)
{
	g_string_append_printf(out, "%%%02X", c);
}

static bool raw_is_decodable(const char *raw, size_t len,
		enum names_charset charset, char **text_r)
{
	if (charset == NAMES_MUTF7) {
		*text_r = imap_utf7_decode(raw, len);
		return *text_r != NULL;
	}
	/* g_utf8_validate_len() also rejects embedded NULs. */
	if (len > G_MAXSSIZE || !g_utf8_validate_len(raw, len, NULL))
		return false;
	*text_r = g_strndup(raw, len);
	return true;
}

char *names_part_to_display(const char *raw, size_t len,
		enum names_charset charset)
{
	GString *out = g_string_sized_new(len + 8);
	char *text = NULL;
	uint32_t uid;
	size_t i;

	if (raw_is_decodable(raw, len, charset, &text)) {
		const char *p;

		for (p = text; *p != '\0'; p++) {
			if (*p == '%' || *p == '/')
				append_escape(out, (unsigned char)*p);
			else
				g_string_append_c(out, *p);
		}
		g_free(text);
	} else {
		for (i = 0; i < len; i++) {
			unsigned char c = (unsigned char)raw[i];

			if (c >= 0x20 && c <= 0x7e &&
			    c != '%' && c != '/' && c != '&')
				g_string_append_c(out, (char)c);
			else
				append_escape(out, c);
		}
	}

	if (out->len == 0) {
		g_string_assign(out, "%");
	} else if (strcmp(out->str, ".") == 0) {
		g_string_assign(out, "%2E");
	} else if (strcmp(out->str, "..") == 0) {
		g_string_assign(out, "%2E%2E");
	} else if (names_parse_message_file(out->str, &uid)) {
		/* The last '.' of "4711.eml" becomes an escape. */
		g_string_truncate(out, out->len - strlen(MESSAGE_SUFFIX));
		g_string_append(out, "%2Eeml");
	}
	return g_string_free(out, FALSE);
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;	/* lower case too: one spelling per escape */
}

static bool append_text(GString *out, const char *text, size_t len,
		enum names_charset charset)
{
	char *enc;

	if (len == 0)
		return true;
	if (charset == NAMES_UTF8) {
		g_string_append_len(out, text, len);
		return true;
	}
	enc = imap_utf7_encode(text, len);
	if (enc == NULL)
		return false;
	g_string_append(out, enc);
	g_free(enc);
	return true;
}

char *names_display_to_part(const char *display, enum names_charset charset)
{
	GString *out;
	const char *p, *esc;

	if (display == NULL || display[0] == '\0' ||
	    strcmp(display, ".") == 0 || strcmp(display, "..") == 0 ||
	    strchr(display, '/') != NULL ||
	    !g_utf8_validate(display, -1, NULL))
		return NULL;
	if (strcmp(display, "%") == 0)
		return g_strdup("");

	out = g_string_sized_new(strlen(display) + 1);
	p = display;
	while ((esc = strchr(p, '%')) != NULL) {
		int hi, lo;

		if (!append_text(out, p, (size_t)(esc - p), charset))
			goto fail;
		/* a NUL at esc[1] fails here, so esc[2] is never past it */
		hi = hex_value(esc[1]);
		if (hi < 0)
			goto fail;
		lo = hex_value(esc[2]);
		if (lo < 0 || (hi == 0 && lo == 0))
			goto fail;
		g_string_append_c(out, (char)(hi << 4 | lo));
		p = esc + 3;
	}
	if (!append_text(out, p, strlen(p), charset))
		goto fail;
	return g_string_free(out, FALSE);

fail:
	g_string_free(out, TRUE);
	return NULL;
}

char **names_split(const char *raw, char delim)
{
	GPtrArray *parts = g_ptr_array_new();
	const char *p = raw, *q;

	if (delim != '\0') {
		while ((q = strchr(p, delim)) != NULL) {
			g_ptr_array_add(parts, g_strndup(p, (gsize)(q - p)));
			p = q + 1;
		}
	}
	g_ptr_array_add(parts, g_strdup(p));
	g_ptr_array_add(parts, NULL);
	return (char **)g_ptr_array_free(parts, FALSE);
}

bool names_parse_message_file(const char *name, uint32_t *uid_r)
{
	uint64_t v = 0;
	const char *p = name;

	if (*p < '1' || *p > '9')
		return false;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > UINT32_MAX)
			return false;
	}
	if (strcmp(p, MESSAGE_SUFFIX) != 0)
		return false;
	if (uid_r != NULL)
		*uid_r = (uint32_t)v;
	return true;
}

void names_format_message_file(uint32_t uid, char *buf)
{
	g_snprintf(buf, NAMES_MESSAGE_FILE_MAX, "%u" MESSAGE_SUFFIX,
			(unsigned)uid);
}
