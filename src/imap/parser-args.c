/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The memory behind parsed responses, and the typed accessors that let the
 * session read them without trusting their shape.
 */
#include <string.h>

#include <glib.h>

#include "parser.h"
#include "parser-private.h"

#define ARENA_BLOCK	8192
#define ARENA_ALIGN	8	/* enough for struct imap_arg */

struct imap_arena_block {
	struct imap_arena_block *next;	/* owned */
	size_t size;
	size_t used;
	max_align_t data[];
};

void *imap_arena_alloc(struct imap_arena *a, size_t size)
{
	struct imap_arena_block *b = a->head;
	size_t bsize;
	void *ret;

	size = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	if (b == NULL || b->size - b->used < size) {
		bsize = size > ARENA_BLOCK / 4 ? size : ARENA_BLOCK;
		b = g_malloc(sizeof(*b) + bsize);
		b->size = bsize;
		b->used = 0;
		if (bsize != ARENA_BLOCK && a->head != NULL) {
			/* a big item gets a block of its own; small ones
			 * keep filling the current block */
			b->next = a->head->next;
			a->head->next = b;
		} else {
			b->next = a->head;
			a->head = b;
		}
	}
	ret = (char *)b->data + b->used;
	b->used += size;
	return ret;
}

void imap_arena_clear(struct imap_arena *a, bool keep)
{
	struct imap_arena_block *b, *next, *kept = NULL;

	for (b = a->head; b != NULL; b = next) {
		next = b->next;
		if (keep && kept == NULL && b->size == ARENA_BLOCK) {
			kept = b;
			kept->used = 0;
			kept->next = NULL;
		} else {
			g_free(b);
		}
	}
	a->head = kept;
}

bool imap_parse_uint(const char *s, size_t len, uint64_t max,
		uint64_t *value_r)
{
	uint64_t v = 0;
	size_t i;

	if (len == 0)
		return false;
	for (i = 0; i < len; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return false;
		d = (unsigned)(s[i] - '0');
		if (v > (max - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*value_r = v;
	return true;
}

bool imap_arg_is_eol(const struct imap_arg *arg)
{
	return arg->type == IMAP_ARG_EOL;
}

bool imap_arg_get_atom(const struct imap_arg *arg, const char **atom_r)
{
	if (arg->type != IMAP_ARG_ATOM)
		return false;
	*atom_r = arg->u.str.data;
	return true;
}

/* NIL counts as an atom here: an unquoted mailbox may be called NIL. */
bool imap_arg_get_astring(const struct imap_arg *arg, const char **str_r)
{
	switch (arg->type) {
	case IMAP_ARG_ATOM:
	case IMAP_ARG_NIL:
	case IMAP_ARG_STRING:
		break;
	case IMAP_ARG_LITERAL:
		if (strlen(arg->u.str.data) != arg->u.str.len)
			return false;
		break;
	default:
		return false;
	}
	*str_r = arg->u.str.data;
	return true;
}

bool imap_arg_get_nstring(const struct imap_arg *arg, const char **str_r)
{
	if (arg->type == IMAP_ARG_NIL) {
		*str_r = NULL;
		return true;
	}
	return imap_arg_get_astring(arg, str_r);
}

bool imap_arg_get_string_len(const struct imap_arg *arg, const char **data_r,
		size_t *len_r)
{
	if (arg->type != IMAP_ARG_STRING && arg->type != IMAP_ARG_LITERAL)
		return false;
	*data_r = arg->u.str.data;
	*len_r = arg->u.str.len;
	return true;
}

bool imap_arg_get_list(const struct imap_arg *arg,
		const struct imap_arg **items_r, size_t *count_r)
{
	if (arg->type != IMAP_ARG_LIST)
		return false;
	*items_r = arg->u.list.items;
	*count_r = arg->u.list.count;
	return true;
}

bool imap_arg_get_uint64(const struct imap_arg *arg, uint64_t *value_r)
{
	return arg->type == IMAP_ARG_ATOM &&
		imap_parse_uint(arg->u.str.data, arg->u.str.len, UINT64_MAX,
				value_r);
}

bool imap_arg_get_uint32(const struct imap_arg *arg, uint32_t *value_r)
{
	uint64_t v;

	if (arg->type != IMAP_ARG_ATOM ||
	    !imap_parse_uint(arg->u.str.data, arg->u.str.len, UINT32_MAX, &v))
		return false;
	*value_r = (uint32_t)v;
	return true;
}

bool imap_arg_atom_equals(const struct imap_arg *arg, const char *keyword)
{
	return arg->type == IMAP_ARG_ATOM &&
		g_ascii_strcasecmp(arg->u.str.data, keyword) == 0;
}

static void flag_list_alloc(struct imap_flag_list *list, size_t max)
{
	memset(list, 0, sizeof(*list));
	list->names = max <= IMAP_FLAG_LIST_INLINE ? list->inline_names :
		g_new(const char *, max + 1);
}

void imap_flag_list_init(struct imap_flag_list *list,
		const struct imap_arg *items)
{
	size_t max = 0;

	while (items[max].type != IMAP_ARG_EOL)
		max++;
	flag_list_alloc(list, max);
	for (const struct imap_arg *a = items; a->type != IMAP_ARG_EOL; a++) {
		const char *text;

		/* Servers and other clients set keywords that are no RFC
		 * 9051 atom (quoted, as literals, with brackets or control
		 * bytes): only what no C string can hold is left out. */
		if (imap_arg_get_astring(a, &text) && *text != '\0')
			list->names[list->count++] = text;
		else
			list->skipped++;
	}
	list->names[list->count] = NULL;
}

void imap_flag_list_init_names(struct imap_flag_list *list,
		const char *const *names, size_t count)
{
	flag_list_alloc(list, count);
	for (size_t i = 0; i < count; i++)
		if (names[i][0] != '\0')
			list->names[list->count++] = names[i];
		else
			list->skipped++;
	list->names[list->count] = NULL;
}

void imap_flag_list_clear(struct imap_flag_list *list)
{
	if (list->names != list->inline_names)
		g_free(list->names);
	list->names = NULL;
	list->count = 0;
}
