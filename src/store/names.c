/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Mailbox names <-> directory names.
 *
 * A raw part is shown in one of two ways:
 *
 *  - decoded: when it is valid (canonical) modified UTF-7, or valid UTF-8
 *    after UTF8=ACCEPT, the text is shown with only '/' escaped, and '%'
 *    where it would read as an escape.  Both are printable ASCII, which
 *    either charset writes as itself, so the escape's raw byte is exactly
 *    what encoding the character gives;
 *  - raw: otherwise every byte outside printable ASCII, and '/' and '&', is
 *    escaped, and '%' as above, so that all text left between escapes is
 *    printable ASCII without '&' and encodes to itself.
 *
 * Either way, encoding the text between escapes and inserting the escaped
 * bytes as they are gives back the raw part.  Finally the names that must not
 * appear in a directory ("", ".", "..", "4711.eml") get one more escape.
 *
 * "%00" counts as an escape although no name can be created with the NUL it
 * stands for: a name holding NUL is shown with "%00", so the text "%00" must
 * be shown "%2500" to stay apart from it.
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

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;	/* lower case too: one spelling per escape */
}

/* Whether a '%' at s[0] reads as an escape: two upper-case hex digits
 * follow (a NUL at s[1] fails, so s[2] is never read past the end). */
static bool is_escape(const char *s)
{
	return s[0] == '%' && hex_value(s[1]) >= 0 && hex_value(s[2]) >= 0;
}

/* A '%' of the name is appended as itself and its position noted; whether
 * it has to be "%25" depends on what is shown after it. */
static void append_percent(GString *out, GArray *percents)
{
	gsize pos = out->len;

	g_array_append_val(percents, pos);
	g_string_append_c(out, '%');
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
	GArray *percents = g_array_new(FALSE, FALSE, sizeof(gsize));
	char *text = NULL;
	uint32_t uid;
	size_t i;

	if (raw_is_decodable(raw, len, charset, &text)) {
		const char *p;

		for (p = text; *p != '\0'; p++) {
			if (*p == '%')
				append_percent(out, percents);
			else if (*p == '/')
				append_escape(out, (unsigned char)*p);
			else
				g_string_append_c(out, *p);
		}
		g_free(text);
	} else {
		for (i = 0; i < len; i++) {
			unsigned char c = (unsigned char)raw[i];

			if (c == '%')
				append_percent(out, percents);
			else if (c >= 0x20 && c <= 0x7e &&
				 c != '/' && c != '&')
				g_string_append_c(out, (char)c);
			else
				append_escape(out, c);
		}
	}

	/*
	 * Only now is it known what follows each '%'.  Inserting "25" changes
	 * only what follows that '%', and a '%' with another among the two
	 * characters after it does not read as an escape either way, so each
	 * '%' is decided on its own; from the end keeps the positions valid.
	 */
	for (i = percents->len; i-- > 0;) {
		gsize pos = g_array_index(percents, gsize, i);

		if (is_escape(out->str + pos))
			g_string_insert(out, (gssize)pos + 1, "25");
	}
	g_array_free(percents, TRUE);

	if (out->len == 0 || strcmp(out->str, "%") == 0) {
		/* "%" is the mark of the empty part */
		g_string_assign(out, out->len == 0 ? "%" : "%25");
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
	const char *p, *q;

	if (display == NULL || display[0] == '\0' ||
	    strcmp(display, ".") == 0 || strcmp(display, "..") == 0 ||
	    strchr(display, '/') != NULL ||
	    !g_utf8_validate(display, -1, NULL))
		return NULL;
	if (strcmp(display, "%") == 0)
		return g_strdup("");

	/* Text runs from p to the next escape; a '%' that does not read as
	 * one is part of the text. */
	out = g_string_sized_new(strlen(display) + 1);
	p = q = display;
	while ((q = strchr(q, '%')) != NULL) {
		int byte;

		if (!is_escape(q)) {
			q++;
			continue;
		}
		byte = hex_value(q[1]) << 4 | hex_value(q[2]);
		if (byte == 0)
			goto fail;	/* no name can hold a NUL */
		if (!append_text(out, p, (size_t)(q - p), charset))
			goto fail;
		g_string_append_c(out, (char)byte);
		p = q = q + 3;
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
