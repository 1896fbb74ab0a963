/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "imap/uidset.h"

#include <string.h>

size_t imap_uidset_format(GString *out, const uint32_t *uids, size_t count,
		size_t max_text)
{
	size_t start = out->len, i = 0;

	while (i < count) {
		size_t j = i, mark = out->len;

		while (j + 1 < count && uids[j + 1] == uids[j] + 1)
			j++;
		if (out->len > start)
			g_string_append_c(out, ',');
		if (j == i)
			g_string_append_printf(out, "%u", uids[i]);
		else
			g_string_append_printf(out, "%u:%u", uids[i], uids[j]);
		if (out->len - start > max_text && i > 0) {
			g_string_truncate(out, mark);
			break;
		}
		i = j + 1;
	}
	return i;
}

static bool parse_number(const char **p, const char *end, uint32_t *n)
{
	uint64_t v = 0;
	const char *s = *p;

	if (s == end || *s < '1' || *s > '9')
		return false;
	for (; s < end && *s >= '0' && *s <= '9'; s++) {
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > UINT32_MAX)
			return false;
	}
	*n = (uint32_t)v;
	*p = s;
	return true;
}

bool imap_uidset_parse_ranges(const char *text, size_t len, GArray *ranges)
{
	const char *p = text, *end = text + len;
	guint before = ranges->len;

	if (len == 0)
		return false;
	for (;;) {
		struct imap_uid_range r;

		if (!parse_number(&p, end, &r.first))
			goto bad;
		r.last = r.first;
		if (p < end && *p == ':') {
			p++;
			if (!parse_number(&p, end, &r.last))
				goto bad;
		}
		if (r.first > r.last) {
			uint32_t t = r.first;

			r.first = r.last;
			r.last = t;
		}
		g_array_append_val(ranges, r);
		if (p == end)
			return true;
		if (*p != ',')
			goto bad;
		p++;
	}
bad:
	g_array_set_size(ranges, before);
	return false;
}

bool imap_uidset_parse(const char *text, size_t len, GArray *uids,
		size_t max_count)
{
	g_autoptr(GArray) ranges = g_array_new(FALSE, FALSE,
			sizeof(struct imap_uid_range));
	uint64_t total = 0;

	if (!imap_uidset_parse_ranges(text, len, ranges))
		return false;
	for (guint i = 0; i < ranges->len; i++) {
		const struct imap_uid_range *r =
			&g_array_index(ranges, struct imap_uid_range, i);

		total += (uint64_t)r->last - r->first + 1;
	}
	if (total > max_count)
		return false;
	for (guint i = 0; i < ranges->len; i++) {
		const struct imap_uid_range *r =
			&g_array_index(ranges, struct imap_uid_range, i);

		for (uint64_t u = r->first; u <= r->last; u++) {
			uint32_t v = (uint32_t)u;

			g_array_append_val(uids, v);
		}
	}
	return true;
}
