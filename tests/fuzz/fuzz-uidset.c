/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for UID sets, which the server sends in COPYUID and
 * APPENDUID (RFC 4315 §3) and which decide under which UID a moved
 * message is shown.  Besides "never crashes":
 *
 *  - a parse yields at most the bound asked for, never a 0;
 *  - a failed parse leaves the array as it was;
 *  - what parses, written back as ranges (sorted), parses to the same
 *    set, in commands of bounded length.
 *  - the CRLF conversion of the same bytes is as long as measured, and
 *    has no bare LF.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "imap/crlf.h"
#include "imap/uidset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_COUNT 4096

static gint compare(gconstpointer a, gconstpointer b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void check_uidset(const char *text, size_t size)
{
	GArray *uids = g_array_new(FALSE, FALSE, sizeof(uint32_t));
	uint32_t keep = 7;

	g_array_append_val(uids, keep);
	if (!imap_uidset_parse(text, size, uids, MAX_COUNT)) {
		if (uids->len != 1 || g_array_index(uids, uint32_t, 0) != 7)
			abort();
		g_array_unref(uids);
		return;
	}
	if (uids->len - 1 > MAX_COUNT)
		abort();
	g_array_remove_index(uids, 0);
	g_array_sort(uids, compare);
	/* Ranges need distinct UIDs. */
	for (guint i = 1; i < uids->len;) {
		if (g_array_index(uids, uint32_t, i) ==
				g_array_index(uids, uint32_t, i - 1))
			g_array_remove_index(uids, i);
		else
			i++;
	}
	for (guint i = 0; i < uids->len; i++) {
		if (g_array_index(uids, uint32_t, i) == 0)
			abort();
	}
	{
		GArray *back = g_array_new(FALSE, FALSE, sizeof(uint32_t));
		size_t done = 0;

		while (done < uids->len) {
			GString *out = g_string_new(NULL);
			size_t n = imap_uidset_format(out,
					(uint32_t *)(void *)uids->data + done,
					uids->len - done, 64);

			if (n == 0 || (n > 1 && out->len > 64))
				abort();
			if (!imap_uidset_parse(out->str, out->len, back,
						MAX_COUNT))
				abort();
			done += n;
			g_string_free(out, TRUE);
		}
		if (back->len != uids->len || (uids->len && memcmp(back->data,
					uids->data, uids->len *
					sizeof(uint32_t)) != 0))
			abort();
		g_array_unref(back);
	}
	g_array_unref(uids);
}

static void check_crlf(const char *in, size_t size)
{
	struct imap_crlf measure = { 0 }, convert = { 0 };
	size_t extra = imap_crlf_extra(&measure, in, size);
	char *out = g_malloc(2 * size + 1);
	size_t n = imap_crlf_convert(&convert, in, size, out);

	if (n != size + extra)
		abort();
	for (size_t i = 0; i < n; i++) {
		if (out[i] == '\n' && (i == 0 || out[i - 1] != '\r'))
			abort();
	}
	g_free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_uidset((const char *)data, size);
	check_crlf((const char *)data, size);
	return 0;
}
