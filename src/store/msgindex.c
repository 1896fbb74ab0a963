/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "store/msgindex.h"

#include <string.h>

static const struct {
	const char *name;
	uint8_t bit;
} system_flags[] = {
	{ "\\Answered", MSG_FLAG_ANSWERED },
	{ "\\Flagged", MSG_FLAG_FLAGGED },
	{ "\\Deleted", MSG_FLAG_DELETED },
	{ "\\Seen", MSG_FLAG_SEEN },
	{ "\\Draft", MSG_FLAG_DRAFT },
};

struct msg_index {
	GArray *entries;	/* struct msg_entry, sorted by uid once
				 * finished */
	GPtrArray *keyword_sets;	/* char ** (NULL-terminated); [0] is
					 * the empty set */
	GHashTable *keyword_ids;	/* joined set -> id + 1 */
};

struct msg_index *msg_index_new(void)
{
	struct msg_index *index = g_new0(struct msg_index, 1);

	index->entries = g_array_new(FALSE, FALSE, sizeof(struct msg_entry));
	index->keyword_sets = g_ptr_array_new_with_free_func(
			(GDestroyNotify)g_strfreev);
	g_ptr_array_add(index->keyword_sets, g_new0(char *, 1));
	index->keyword_ids = g_hash_table_new_full(g_str_hash, g_str_equal,
			g_free, NULL);
	return index;
}

void msg_index_free(struct msg_index **index)
{
	if (!*index)
		return;
	g_array_free((*index)->entries, TRUE);
	g_ptr_array_free((*index)->keyword_sets, TRUE);
	g_hash_table_destroy((*index)->keyword_ids);
	g_free(*index);
	*index = NULL;
}

void msg_index_append(struct msg_index *index, const struct msg_entry *entry)
{
	g_array_append_vals(index->entries, entry, 1);
}

static int compare_uid(gconstpointer a, gconstpointer b)
{
	uint32_t x = ((const struct msg_entry *)a)->uid;
	uint32_t y = ((const struct msg_entry *)b)->uid;

	return x < y ? -1 : x > y;
}

void msg_index_finish(struct msg_index *index)
{
	GArray *e = index->entries;
	guint out = 0;

	/* Stable, so that among duplicates the last one sent wins. */
	g_array_sort(e, compare_uid);
	for (guint i = 0; i < e->len; i++) {
		if (out > 0 && g_array_index(e, struct msg_entry, out - 1).uid ==
				g_array_index(e, struct msg_entry, i).uid)
			out--;
		g_array_index(e, struct msg_entry, out++) =
			g_array_index(e, struct msg_entry, i);
	}
	g_array_set_size(e, out);
}

size_t msg_index_count(const struct msg_index *index)
{
	return index->entries->len;
}

const struct msg_entry *msg_index_at(const struct msg_index *index, size_t i)
{
	if (i >= index->entries->len)
		return NULL;
	return &g_array_index(index->entries, struct msg_entry, i);
}

static bool index_search(const struct msg_index *index, uint32_t uid,
		guint *pos_r)
{
	guint lo = 0, hi = index->entries->len;

	while (lo < hi) {
		guint mid = lo + (hi - lo) / 2;
		uint32_t v = g_array_index(index->entries, struct msg_entry,
				mid).uid;

		if (v == uid) {
			*pos_r = mid;
			return true;
		}
		if (v < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	*pos_r = lo;
	return false;
}

struct msg_entry *msg_index_find(struct msg_index *index, uint32_t uid)
{
	guint pos;

	if (!index_search(index, uid, &pos))
		return NULL;
	return &g_array_index(index->entries, struct msg_entry, pos);
}

bool msg_index_remove(struct msg_index *index, uint32_t uid)
{
	guint pos;

	if (!index_search(index, uid, &pos))
		return false;
	g_array_remove_index(index->entries, pos);
	return true;
}

static uint32_t intern_keywords(struct msg_index *index, GPtrArray *words)
{
	g_autofree char *joined = NULL;
	gpointer id;

	if (words->len == 0)
		return 0;
	g_ptr_array_add(words, NULL);
	joined = g_strjoinv(" ", (char **)words->pdata);
	g_ptr_array_set_size(words, words->len - 1);
	id = g_hash_table_lookup(index->keyword_ids, joined);
	if (id)
		return GPOINTER_TO_UINT(id) - 1;
	char **set = g_new0(char *, words->len + 1);

	for (guint i = 0; i < words->len; i++)
		set[i] = g_strdup(g_ptr_array_index(words, i));
	g_ptr_array_add(index->keyword_sets, set);
	g_hash_table_insert(index->keyword_ids, g_steal_pointer(&joined),
			GUINT_TO_POINTER(index->keyword_sets->len));
	return index->keyword_sets->len - 1;
}

bool msg_index_parse_flags(struct msg_index *index,
		const struct imap_arg *items, uint8_t *flags_r,
		uint32_t *keywords_r)
{
	g_autoptr(GPtrArray) words = g_ptr_array_new();
	uint8_t flags = 0;

	for (const struct imap_arg *a = items; a->type != IMAP_ARG_EOL; a++) {
		const char *atom;
		bool system = false;

		if (!imap_arg_get_atom(a, &atom))
			return false;
		if (g_ascii_strcasecmp(atom, "\\Recent") == 0)
			continue;
		for (size_t i = 0; i < G_N_ELEMENTS(system_flags); i++) {
			if (g_ascii_strcasecmp(atom, system_flags[i].name) == 0) {
				flags |= system_flags[i].bit;
				system = true;
			}
		}
		if (system)
			continue;
		/* A keyword listed twice is one keyword. */
		bool dup = false;

		for (guint i = 0; i < words->len; i++)
			dup |= strcmp(g_ptr_array_index(words, i), atom) == 0;
		if (!dup)
			g_ptr_array_add(words, (char *)atom);
	}
	*flags_r = flags;
	*keywords_r = intern_keywords(index, words);
	return true;
}

const char *const *msg_index_keywords(const struct msg_index *index,
		uint32_t keywords)
{
	if (keywords >= index->keyword_sets->len)
		keywords = 0;
	return g_ptr_array_index(index->keyword_sets, keywords);
}

char *msg_index_format_flags(const struct msg_index *index,
		const struct msg_entry *entry)
{
	GString *out = g_string_new(NULL);

	for (size_t i = 0; i < G_N_ELEMENTS(system_flags); i++) {
		if (!(entry->flags & system_flags[i].bit))
			continue;
		if (out->len)
			g_string_append_c(out, ' ');
		g_string_append(out, system_flags[i].name);
	}
	for (const char *const *kw = msg_index_keywords(index,
				entry->keywords); *kw; kw++) {
		if (out->len)
			g_string_append_c(out, ' ');
		g_string_append(out, *kw);
	}
	return g_string_free(out, FALSE);
}

size_t msg_index_memory(const struct msg_index *index)
{
	return index->entries->len * sizeof(struct msg_entry) +
		index->keyword_sets->len * 64;
}
