/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "store/msgindex.h"

#include <string.h>

#include "log.h"

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

/*
 * Removal marks the entry (a bit in dead) instead of moving the rest, so
 * that an EXPUNGE costs a binary search whatever the mailbox's size.
 * Entries marked stay in place, sorted, so lookups still work; they are
 * squeezed out when they become half of the array (amortised O(1) per
 * removal) or before positional access, whose callers walk the whole
 * index anyway (docs/DESIGN.md, "src/store/").
 */
struct msg_index {
	GArray *entries;	/* struct msg_entry, sorted by uid once
				 * finished */
	guint8 *dead;		/* a bit per entry: removed (or NULL) */
	guint ndead;
	GPtrArray *keyword_sets;	/* char ** (NULL-terminated); [0] is
					 * the empty set */
	GHashTable *keyword_ids;	/* joined set -> id + 1 */
	bool skip_logged;	/* odd flag items were reported */
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
	g_free((*index)->dead);
	g_ptr_array_free((*index)->keyword_sets, TRUE);
	g_hash_table_destroy((*index)->keyword_ids);
	g_free(*index);
	*index = NULL;
}

static bool is_dead(const struct msg_index *index, guint i)
{
	return index->dead && (index->dead[i / 8] & (1u << (i % 8)));
}

static void compact(struct msg_index *index)
{
	GArray *e = index->entries;
	guint out = 0;

	if (index->ndead == 0)
		return;
	for (guint i = 0; i < e->len; i++) {
		if (is_dead(index, i))
			continue;
		if (out != i)
			g_array_index(e, struct msg_entry, out) =
				g_array_index(e, struct msg_entry, i);
		out++;
	}
	g_array_set_size(e, out);
	g_clear_pointer(&index->dead, g_free);
	index->ndead = 0;
}

void msg_index_append(struct msg_index *index, const struct msg_entry *entry)
{
	/* the marks are by position */
	compact(index);
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

	compact(index);
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
	return index->entries->len - index->ndead;
}

const struct msg_entry *msg_index_at(struct msg_index *index, size_t i)
{
	compact(index);
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

size_t msg_index_lower_bound(struct msg_index *index, uint32_t uid)
{
	guint lo = 0, hi;

	compact(index);
	hi = index->entries->len;
	while (lo < hi) {
		guint mid = lo + (hi - lo) / 2;

		if (g_array_index(index->entries, struct msg_entry,
					mid).uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct msg_entry *msg_index_find(struct msg_index *index, uint32_t uid)
{
	guint pos;

	if (!index_search(index, uid, &pos) || is_dead(index, pos))
		return NULL;
	return &g_array_index(index->entries, struct msg_entry, pos);
}

bool msg_index_remove(struct msg_index *index, uint32_t uid)
{
	guint pos, len = index->entries->len;

	if (!index_search(index, uid, &pos) || is_dead(index, pos))
		return false;
	if (!index->dead)
		index->dead = g_new0(guint8, len / 8 + 1);
	index->dead[pos / 8] |= (guint8)(1u << (pos % 8));
	index->ndead++;
	if (index->ndead > len / 2)
		compact(index);
	return true;
}

static uint32_t intern_keywords(struct msg_index *index, GPtrArray *words)
{
	g_autofree char *joined = NULL;
	GString *key;
	gpointer id;

	if (words->len == 0)
		return 0;
	/* Length-prefixed, because a keyword may hold any byte but NUL:
	 * joined with spaces, ("a b") and ("a", "b") would be one set. */
	key = g_string_new(NULL);
	for (guint i = 0; i < words->len; i++) {
		const char *w = g_ptr_array_index(words, i);

		g_string_append_printf(key, "%zu:%s", strlen(w), w);
	}
	joined = g_string_free(key, FALSE);
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
		const struct imap_flag_list *list, uint8_t *flags_r,
		uint32_t *keywords_r)
{
	g_autoptr(GPtrArray) words = g_ptr_array_new();
	g_autoptr(GHashTable) seen = NULL;
	size_t skipped = list->skipped;
	uint8_t flags = 0;

	for (size_t n = 0; n < list->count; n++) {
		const char *text = list->names[n];
		bool system = false;

		if (g_ascii_strcasecmp(text, "\\Recent") == 0)
			continue;
		for (size_t i = 0; i < G_N_ELEMENTS(system_flags); i++) {
			if (g_ascii_strcasecmp(text, system_flags[i].name) == 0) {
				flags |= system_flags[i].bit;
				system = true;
			}
		}
		if (system)
			continue;
		/* A keyword listed twice is one keyword.  A hostile line may
		 * list a hundred thousand: past a few, look them up. */
		bool dup = false;

		if (!seen && words->len >= 8) {
			seen = g_hash_table_new(g_str_hash, g_str_equal);
			for (guint i = 0; i < words->len; i++)
				g_hash_table_add(seen,
						g_ptr_array_index(words, i));
		}
		if (seen) {
			dup = !g_hash_table_add(seen, (char *)text);
		} else {
			for (guint i = 0; i < words->len; i++)
				dup |= strcmp(g_ptr_array_index(words, i),
						text) == 0;
		}
		if (!dup)
			g_ptr_array_add(words, (char *)text);
	}
	if (skipped > 0 && !index->skip_logged) {
		/* once per index, not once per message */
		index->skip_logged = true;
		log_warning("ignoring %zu flag list item%s that cannot be a "
				"flag (a list, an empty string or one "
				"holding NUL)", skipped,
				skipped > 1 ? "s" : "");
	}
	*flags_r = flags;
	*keywords_r = intern_keywords(index, words);
	return true;
}

uint32_t msg_index_intern_keywords(struct msg_index *index,
		const char *const *words)
{
	GPtrArray *view = g_ptr_array_new();
	uint32_t id;

	for (size_t i = 0; words && words[i]; i++)
		g_ptr_array_add(view, (gpointer)words[i]);
	id = intern_keywords(index, view);
	g_ptr_array_unref(view);
	return id;
}

struct msg_index *msg_index_copy(struct msg_index *index)
{
	struct msg_index *copy = msg_index_new();

	/* Interned in the same order, each set gets the same id. */
	for (guint i = 1; i < index->keyword_sets->len; i++)
		msg_index_intern_keywords(copy, g_ptr_array_index(
					index->keyword_sets, i));
	compact(index);
	g_array_append_vals(copy->entries, index->entries->data,
			index->entries->len);
	copy->skip_logged = index->skip_logged;
	return copy;
}

const char *const *msg_index_keywords(const struct msg_index *index,
		uint32_t keywords)
{
	if (keywords >= index->keyword_sets->len)
		keywords = 0;
	return g_ptr_array_index(index->keyword_sets, keywords);
}

bool msg_keyword_listable(const char *keyword)
{
	for (const unsigned char *c = (const unsigned char *)keyword; *c;
			c++) {
		if (*c <= 0x20 || *c == 0x7f)
			return false;
	}
	return true;
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
		if (!msg_keyword_listable(*kw))
			continue;
		if (out->len)
			g_string_append_c(out, ' ');
		g_string_append(out, *kw);
	}
	return g_string_free(out, FALSE);
}

size_t msg_index_memory(const struct msg_index *index)
{
	return index->entries->len * sizeof(struct msg_entry) +
		(index->dead ? index->entries->len / 8 + 1 : 0) +
		index->keyword_sets->len * 64;
}
