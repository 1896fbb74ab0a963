/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Modified UTF-7 (RFC 3501 section 5.1.3).
 *
 * Printable US-ASCII other than '&' stands for itself, "&-" is '&', and every
 * other character goes into "&" BASE64(UTF-16BE) "-" with ',' for '/' and
 * no '=' padding.  The decoder accepts only the canonical form (what
 * imap_utf7_encode() produces), because a mailbox name has to be turned
 * back into exactly the bytes the server sent.
 */
#include "imap/utf7.h"

#include <string.h>

#include <glib.h>

static const char b64_chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == ',')
		return 63;
	return -1;
}

/* Characters that modified UTF-7 writes as themselves (plus '&' as "&-"). */
static bool is_direct(gunichar c)
{
	return c >= 0x20 && c <= 0x7e;
}

/* Bits of a base64 run still to be written out. */
struct b64_state {
	guint32 bits;
	unsigned nbits;
};

static void b64_put16(GString *out, struct b64_state *st, unsigned unit)
{
	st->bits = (st->bits << 16) | (unit & 0xffff);
	st->nbits += 16;
	while (st->nbits >= 6) {
		st->nbits -= 6;
		g_string_append_c(out,
				b64_chars[(st->bits >> st->nbits) & 0x3f]);
	}
	/* Keep only the bits not yet written so the shift cannot overflow. */
	st->bits &= (1u << st->nbits) - 1;
}

/* Pad the last group with zero bits and close the run. */
static void b64_finish(GString *out, struct b64_state *st)
{
	unsigned pad;

	if (st->nbits > 0) {
		pad = 6 - st->nbits;
		g_string_append_c(out, b64_chars[(st->bits << pad) & 0x3f]);
	}
	g_string_append_c(out, '-');
	st->bits = 0;
	st->nbits = 0;
}

char *imap_utf7_encode(const char *in, size_t len)
{
	GString *out;
	struct b64_state st = { 0, 0 };
	bool in_run = false;
	const char *p, *end;

	if (len > G_MAXSSIZE || !g_utf8_validate_len(in, len, NULL))
		return NULL;	/* also catches embedded NULs */

	out = g_string_sized_new(len + 1);
	end = in + len;
	for (p = in; p < end; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);

		if (is_direct(c)) {
			if (in_run) {
				b64_finish(out, &st);
				in_run = false;
			}
			if (c == '&')
				g_string_append(out, "&-");
			else
				g_string_append_c(out, (char)c);
			continue;
		}
		if (!in_run) {
			g_string_append_c(out, '&');
			in_run = true;
		}
		if (c >= 0x10000) {
			c -= 0x10000;
			b64_put16(out, &st, 0xd800 | (c >> 10));
			b64_put16(out, &st, 0xdc00 | (c & 0x3ff));
		} else {
			b64_put16(out, &st, c);
		}
	}
	if (in_run)
		b64_finish(out, &st);
	return g_string_free(out, FALSE);
}

/*
 * Decode one base64 run starting just after '&'; *pos is advanced past the
 * closing '-'.  Rejects what no encoder can produce; the caller's re-encode
 * check catches the remaining non-canonical forms.
 */
static bool decode_run(const char *in, size_t len, size_t *pos, GString *out)
{
	guint32 bits = 0;
	unsigned nbits = 0;
	unsigned high = 0;	/* pending high surrogate, 0 if none */
	size_t i = *pos;
	bool any = false;

	for (;; i++) {
		unsigned unit;
		int v;

		if (i >= len)
			return false;	/* unterminated */
		if (in[i] == '-')
			break;
		v = b64_value((unsigned char)in[i]);
		if (v < 0)
			return false;
		bits = ((bits << 6) | (unsigned)v) & 0x3fffff;
		nbits += 6;
		if (nbits < 16)
			continue;
		nbits -= 16;
		unit = (bits >> nbits) & 0xffff;
		bits &= (1u << nbits) - 1;
		any = true;

		if (high) {
			if (unit < 0xdc00 || unit > 0xdfff)
				return false;
			g_string_append_unichar(out, 0x10000 +
					((high - 0xd800) << 10) +
					(unit - 0xdc00));
			high = 0;
		} else if (unit >= 0xd800 && unit <= 0xdbff) {
			high = unit;
		} else if (unit >= 0xdc00 && unit <= 0xdfff) {
			return false;	/* low surrogate first */
		} else if (unit == 0 || is_direct(unit)) {
			return false;
		} else {
			g_string_append_unichar(out, unit);
		}
	}
	/* An empty run is only valid as "&-", handled by the caller;
	 * leftovers must be the zero padding of the last group. */
	if (!any || high || nbits >= 6 || bits != 0)
		return false;
	*pos = i + 1;
	return true;
}

char *imap_utf7_decode(const char *in, size_t len)
{
	GString *out;
	size_t i = 0;
	char *res, *check;

	if (len > G_MAXSSIZE)
		return NULL;
	out = g_string_sized_new(len + 1);
	while (i < len) {
		unsigned char c = (unsigned char)in[i];

		if (!is_direct(c))
			goto fail;
		if (c != '&') {
			g_string_append_c(out, (char)c);
			i++;
			continue;
		}
		i++;
		if (i < len && in[i] == '-') {
			g_string_append_c(out, '&');
			i++;
			continue;
		}
		if (!decode_run(in, len, &i, out))
			goto fail;
	}
	res = g_string_free(out, FALSE);

	/* Only the canonical form maps back to the same bytes, e.g. two
	 * adjacent runs ("&AOQ-&AOQ-") decode fine but encode as one. */
	check = imap_utf7_encode(res, strlen(res));
	if (check == NULL || strlen(check) != len ||
	    (len > 0 && memcmp(check, in, len) != 0)) {
		g_free(check);
		g_free(res);
		return NULL;
	}
	g_free(check);
	return res;

fail:
	g_string_free(out, TRUE);
	return NULL;
}
