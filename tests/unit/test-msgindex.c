/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The per-mailbox message index: building in any order (sorted, duplicate
 * UIDs resolved to the last one sent), lookups and removal against a model,
 * flag lists as the parser delivers them from real FETCH lines, keyword
 * set interning, the flags attribute text and the memory accounting.
 */
#include <stdarg.h>
#include <string.h>
#include <time.h>

#include <glib.h>

#include "imap/parser.h"
#include "store/msgindex.h"
#include "testutil.h"

#define ALL_FLAGS (MSG_FLAG_ANSWERED | MSG_FLAG_FLAGGED | MSG_FLAG_DELETED | \
		MSG_FLAG_SEEN | MSG_FLAG_DRAFT)

/* ---- flag lists from the parser ---- */

/*
 * Parses "* 1 FETCH (UID 5 FLAGS <list>)" and returns the items of the
 * FLAGS list; they live as long as *parser_r (free it with
 * imap_parser_free).
 */
static const struct imap_arg *flag_items(const char *list,
		struct imap_parser **parser_r)
{
	char *line = g_strdup_printf("* 1 FETCH (UID 5 FLAGS %s)\r\n", list);
	struct imap_parser *p = imap_parser_new(NULL, NULL, NULL);
	const struct imap_response *r;
	const struct imap_arg *fetch, *items;
	size_t used, count;

	if (imap_parser_feed(p, line, strlen(line), &used) !=
			IMAP_PARSE_RESPONSE)
		g_error("%s: %s", line, imap_parser_error(p));
	g_assert_cmpuint(used, ==, strlen(line));
	r = imap_parser_response(p);
	g_assert_cmpstr(r->name, ==, "FETCH");
	g_assert_true(imap_arg_get_list(&r->args[0], &fetch, &count));
	g_assert_cmpuint(count, ==, 4);
	g_assert_true(imap_arg_atom_equals(&fetch[2], "FLAGS"));
	g_assert_true(imap_arg_get_list(&fetch[3], &items, &count));
	g_free(line);
	*parser_r = p;
	return items;
}

/* parse_flags on a list written as on the wire. */
static bool parse_list(struct msg_index *index, const char *list,
		uint8_t *flags_r, uint32_t *keywords_r)
{
	struct imap_parser *p;
	struct imap_flag_list flag_list;
	bool ok;

	imap_flag_list_init(&flag_list, flag_items(list, &p));
	ok = msg_index_parse_flags(index, &flag_list, flags_r, keywords_r);
	imap_flag_list_clear(&flag_list);
	imap_parser_free(&p);
	return ok;
}

static char *join_keywords(const struct msg_index *index, uint32_t id)
{
	const char *const *kw = msg_index_keywords(index, id);

	g_assert_nonnull(kw);
	return g_strjoinv("|", (char **)kw);
}

struct flags_case {
	const char *list;
	uint8_t flags;
	const char *keywords;	/* '|'-joined */
};

static const struct flags_case flags_cases[] = {
	{ "()", 0, "" },
	{ "(\\Seen)", MSG_FLAG_SEEN, "" },
	{ "(\\Answered)", MSG_FLAG_ANSWERED, "" },
	{ "(\\Flagged)", MSG_FLAG_FLAGGED, "" },
	{ "(\\Deleted)", MSG_FLAG_DELETED, "" },
	{ "(\\Draft)", MSG_FLAG_DRAFT, "" },
	{ "(\\Seen \\Answered \\Flagged \\Deleted \\Draft)", ALL_FLAGS, "" },
	{ "(\\Draft \\Deleted \\Flagged \\Answered \\Seen)", ALL_FLAGS, "" },
	/* system flags are case-insensitive */
	{ "(\\seen \\ANSWERED \\fLaGgEd \\deleted \\DRAFT)", ALL_FLAGS, "" },
	/* \Recent is dropped, whatever its case */
	{ "(\\Recent)", 0, "" },
	{ "(\\RECENT \\Seen)", MSG_FLAG_SEEN, "" },
	{ "(\\Seen $Forwarded \\Recent)", MSG_FLAG_SEEN, "$Forwarded" },
	{ "(\\Seen \\Seen \\SEEN)", MSG_FLAG_SEEN, "" },
	{ "($Forwarded)", 0, "$Forwarded" },
	/* keywords keep the server's order, once each */
	{ "($Junk \\Flagged NonJunk)", MSG_FLAG_FLAGGED, "$Junk|NonJunk" },
	{ "($a $b $a)", 0, "$a|$b" },
	{ "($a $a $a $a)", 0, "$a" },
	{ "($b $a)", 0, "$b|$a" },
	/* unknown backslash flags are kept as keywords */
	{ "(\\Foo)", 0, "\\Foo" },
	{ "(\\Seen \\Important \\Foo \\Important)", MSG_FLAG_SEEN,
		"\\Important|\\Foo" },
	/* a prefix or extension of a system flag is not that flag */
	{ "(\\See \\Seen2 Seen)", 0, "\\See|\\Seen2|Seen" },
	{ "(\\Recently)", 0, "\\Recently" },
};

static void test_parse_flags_table(void)
{
	struct msg_index *index = msg_index_new();

	for (size_t i = 0; i < G_N_ELEMENTS(flags_cases); i++) {
		const struct flags_case *c = &flags_cases[i];
		uint8_t flags = 0xff;
		uint32_t id = 0xdeadbeef;
		char *kw;

		if (!parse_list(index, c->list, &flags, &id)) {
			fail("#%zu %s: refused", i, c->list);
			continue;
		}
		kw = join_keywords(index, id);
		if (flags != c->flags || strcmp(kw, c->keywords) != 0)
			fail("#%zu %s: flags 0x%x keywords \"%s\", want 0x%x "
					"\"%s\"", i, c->list, flags, kw,
					c->flags, c->keywords);
		if ((id == 0) != (c->keywords[0] == '\0'))
			fail("#%zu %s: keyword set id %u", i, c->list, id);
		g_free(kw);
	}
	msg_index_free(&index);
	g_assert_null(index);
}

/* One odd flag must not make the listing of a mailbox fail: every item
 * whose bytes a C string can hold is kept as sent, the rest is skipped. */
static const struct flags_case odd_cases[] = {
	/* labels of Gmail and of mail-sorting services */
	{ "([Gmail]/Important $label+foo Label/Sub)", 0,
		"[Gmail]/Important|$label+foo|Label/Sub" },
	{ "([Gmail a[b x]y ] [)", 0, "[Gmail|a[b|x]y|]|[" },
	{ "(\\* \\Seen)", MSG_FLAG_SEEN, "\\*" },
	/* control bytes */
	{ "(k\x01w \\Seen\x7f)", 0, "k\x01w|\\Seen\x7f" },
	/* quoted strings and literals instead of atoms */
	{ "(\"\\\\Seen\" \"$Forwarded\")", MSG_FLAG_SEEN, "$Forwarded" },
	{ "(\\Seen {9}\r\n$Recorded)", MSG_FLAG_SEEN, "$Recorded" },
	{ "(~{2}\r\nab {6}\r\n\\Draft)", MSG_FLAG_DRAFT, "ab" },
	{ "(\"two words\" two words)", 0, "two words|two|words" },
	{ "({3}\r\na\nb)", 0, "a\nb" },
	/* NIL spelt any way is a keyword of that name */
	{ "(NIL nil \\Seen)", MSG_FLAG_SEEN, "NIL|nil" },
	/* what no keyword can be is skipped */
	{ "(\\Seen ($Forwarded) ())", MSG_FLAG_SEEN, "" },
	{ "((\\Seen) $a)", 0, "$a" },
	{ "(\"\" $a {0}\r\n)", 0, "$a" },
	/* More items than a list holds without the heap. */
	{ "(\\Seen $k0 $k1 $k2 $k3 $k4 $k5 $k6 $k7 $k8 $k9 $k10 $k11 $k12 "
	  "$k13 $k14 $k15 $k16 $k17 $k18 $k19)", MSG_FLAG_SEEN,
	  "$k0|$k1|$k2|$k3|$k4|$k5|$k6|$k7|$k8|$k9|$k10|$k11|$k12|"
	  "$k13|$k14|$k15|$k16|$k17|$k18|$k19" },
	/* \Recent and system flags in odd case */
	{ "(\\rEcEnT \\sEEN \"\\\\RECENT\")", MSG_FLAG_SEEN, "" },
	/* duplicates, also past the point where they are hashed */
	{ "($1 $2 $3 $4 $5 $6 $7 $8 $9 $1 $10 $9 $10)", 0,
		"$1|$2|$3|$4|$5|$6|$7|$8|$9|$10" },
};

static void test_parse_flags_odd(void)
{
	struct msg_index *index = msg_index_new();

	for (size_t i = 0; i < G_N_ELEMENTS(odd_cases); i++) {
		const struct flags_case *c = &odd_cases[i];
		uint8_t flags = 0xff;
		uint32_t id = 0xdeadbeef;
		char *kw;

		if (!parse_list(index, c->list, &flags, &id)) {
			fail("#%zu %s: refused", i, c->list);
			continue;
		}
		kw = join_keywords(index, id);
		if (flags != c->flags || strcmp(kw, c->keywords) != 0)
			fail("#%zu %s: flags 0x%x keywords \"%s\", want 0x%x "
					"\"%s\"", i, c->list, flags, kw,
					c->flags, c->keywords);
		g_free(kw);
	}
	msg_index_free(&index);
}

/* A literal holding NUL is no keyword (no C string holds it); the
 * parser's arrays are built by hand, as no wire text can be a C string. */
static void test_parse_flags_nul(void)
{
	static const char nul[] = "a\0b";
	const struct imap_arg items[] = {
		{ .type = IMAP_ARG_LITERAL, .u.str = { nul, 3 } },
		{ .type = IMAP_ARG_ATOM, .u.str = { "$a", 2 } },
		{ .type = IMAP_ARG_EOL },
	};
	struct msg_index *index = msg_index_new();
	struct imap_flag_list list;
	uint8_t flags = 0xff;
	uint32_t id;

	imap_flag_list_init(&list, items);
	g_assert_cmpuint(list.count, ==, 1);
	g_assert_cmpuint(list.skipped, ==, 1);
	g_assert_true(msg_index_parse_flags(index, &list, &flags, &id));
	imap_flag_list_clear(&list);
	g_assert_cmpuint(flags, ==, 0);
	g_assert_cmpstr(msg_index_keywords(index, id)[0], ==, "$a");
	g_assert_null(msg_index_keywords(index, id)[1]);
	msg_index_free(&index);
}

/* A keyword of kilobytes is kept whole. */
static void test_parse_flags_long(void)
{
	struct msg_index *index = msg_index_new();
	char *big = g_strnfill(4096, 'k');
	char *list = g_strdup_printf("(\\Seen %s $a)", big);
	const char *const *kw;
	uint8_t flags;
	uint32_t id;

	g_assert_true(parse_list(index, list, &flags, &id));
	g_assert_cmpuint(flags, ==, MSG_FLAG_SEEN);
	kw = msg_index_keywords(index, id);
	g_assert_cmpstr(kw[0], ==, big);
	g_assert_cmpstr(kw[1], ==, "$a");
	g_assert_null(kw[2]);
	g_free(list);
	g_free(big);
	msg_index_free(&index);
}

static void test_keyword_interning(void)
{
	struct msg_index *index = msg_index_new();
	uint8_t flags;
	uint32_t ab, ab2, ab3, ba, ba2, a, none;

	g_assert_true(parse_list(index, "($a $b)", &flags, &ab));
	g_assert_true(parse_list(index, "(\\Seen $a \\Recent $b)", &flags,
				&ab2));
	g_assert_true(parse_list(index, "($a $b $a $b)", &flags, &ab3));
	g_assert_true(parse_list(index, "($b $a)", &flags, &ba));
	g_assert_true(parse_list(index, "($b \\Draft $a)", &flags, &ba2));
	g_assert_true(parse_list(index, "($a)", &flags, &a));
	g_assert_true(parse_list(index, "(\\Seen)", &flags, &none));
	g_assert_cmpuint(ab, !=, 0);
	/* the same set is the same id, whatever system flags come along */
	g_assert_cmpuint(ab2, ==, ab);
	g_assert_cmpuint(ab3, ==, ab);
	/* another order is another (stable) id that lists that order */
	g_assert_cmpuint(ba, !=, 0);
	g_assert_cmpuint(ba2, ==, ba);
	g_assert_cmpuint(a, !=, ab);
	g_assert_cmpuint(a, !=, ba);
	g_assert_cmpuint(a, !=, 0);
	g_assert_cmpuint(none, ==, 0);
	g_assert_cmpstr(msg_index_keywords(index, ab)[0], ==, "$a");
	g_assert_cmpstr(msg_index_keywords(index, ab)[1], ==, "$b");
	g_assert_null(msg_index_keywords(index, ab)[2]);
	g_assert_cmpstr(msg_index_keywords(index, ba)[0], ==, "$b");
	g_assert_cmpstr(msg_index_keywords(index, ba)[1], ==, "$a");
	g_assert_null(msg_index_keywords(index, ba)[2]);
	/* 0 and ids never given are the empty set */
	g_assert_null(msg_index_keywords(index, 0)[0]);
	g_assert_null(msg_index_keywords(index, 1000)[0]);
	g_assert_null(msg_index_keywords(index, UINT32_MAX)[0]);
	msg_index_free(&index);
}

/* Keywords may hold spaces: one "a b" is not the pair "a", "b". */
static void test_keyword_interning_spaces(void)
{
	struct msg_index *index = msg_index_new();
	uint8_t flags;
	uint32_t one, two, one2;

	g_assert_true(parse_list(index, "(\"a b\")", &flags, &one));
	g_assert_true(parse_list(index, "(a b)", &flags, &two));
	g_assert_true(parse_list(index, "({3}\r\na b)", &flags, &one2));
	g_assert_cmpuint(one, !=, two);
	g_assert_cmpuint(one2, ==, one);
	g_assert_cmpstr(msg_index_keywords(index, one)[0], ==, "a b");
	g_assert_null(msg_index_keywords(index, one)[1]);
	g_assert_cmpstr(msg_index_keywords(index, two)[0], ==, "a");
	g_assert_cmpstr(msg_index_keywords(index, two)[1], ==, "b");
	msg_index_free(&index);
}

/* Keywords are copied: they outlive the parser's buffers, and a vector
 * handed out stays valid while many more sets are interned. */
static void test_keyword_lifetime(void)
{
	struct msg_index *index = msg_index_new();
	const char *const *first;
	uint32_t id, first_id;
	uint8_t flags;
	GHashTable *ids = g_hash_table_new(g_direct_hash, g_direct_equal);

	g_assert_true(parse_list(index, "($Forwarded Work)", &flags,
				&first_id));
	first = msg_index_keywords(index, first_id);
	for (int i = 0; i < 2000; i++) {
		char *list = g_strdup_printf("(\\Seen kw%d $x%d)", i, i % 7);
		char *want = g_strdup_printf("kw%d|$x%d", i, i % 7);
		char *got;

		g_assert_true(parse_list(index, list, &flags, &id));
		g_assert_false(g_hash_table_contains(ids,
					GUINT_TO_POINTER(id)));
		g_hash_table_add(ids, GUINT_TO_POINTER(id));
		g_assert_cmpuint(id, !=, first_id);
		got = join_keywords(index, id);
		g_assert_cmpstr(got, ==, want);
		g_free(got);
		g_free(want);
		g_free(list);
	}
	g_assert_cmpstr(first[0], ==, "$Forwarded");
	g_assert_cmpstr(first[1], ==, "Work");
	g_assert_null(first[2]);
	/* and the same sets again give the same ids */
	for (int i = 0; i < 2000; i += 97) {
		char *list = g_strdup_printf("(kw%d $x%d)", i, i % 7);

		g_assert_true(parse_list(index, list, &flags, &id));
		g_assert_true(g_hash_table_contains(ids,
					GUINT_TO_POINTER(id)));
		g_free(list);
	}
	g_hash_table_destroy(ids);
	msg_index_free(&index);
}

/* ---- building, lookups ---- */

static struct msg_entry entry(uint32_t uid, uint32_t size)
{
	struct msg_entry e;

	memset(&e, 0, sizeof(e));
	e.uid = uid;
	e.size = size;
	e.internaldate = (int64_t)uid * 1000 - 5;
	e.zone_minutes = (int16_t)(uid % 100 - 50);
	e.flags = (uint8_t)(size & ALL_FLAGS);
	e.size_exact = (uint8_t)(size & 1);
	e.keywords = size % 3;
	e.modseq = (uint64_t)size << 33;
	return e;
}

static void check_entry(const struct msg_entry *got, uint32_t uid,
		uint32_t size)
{
	struct msg_entry want = entry(uid, size);

	g_assert_nonnull(got);
	g_assert_cmpuint(got->uid, ==, want.uid);
	g_assert_cmpuint(got->size, ==, want.size);
	g_assert_cmpint(got->internaldate, ==, want.internaldate);
	g_assert_cmpint(got->zone_minutes, ==, want.zone_minutes);
	g_assert_cmpuint(got->flags, ==, want.flags);
	g_assert_cmpuint(got->size_exact, ==, want.size_exact);
	g_assert_cmpuint(got->keywords, ==, want.keywords);
	g_assert_cmpuint(got->modseq, ==, want.modseq);
}

static void test_build(void)
{
	static const uint32_t uids[] = { 5, 3, 9, 1, 3, 7, 5, 4294967295u, 5 };
	static const struct {
		uint32_t uid, size;
	} want[] = {
		{ 1, 3 }, { 3, 4 }, { 5, 8 }, { 7, 5 }, { 9, 2 },
		{ 4294967295u, 7 },
	};
	struct msg_index *index = msg_index_new();

	g_assert_cmpuint(msg_index_count(index), ==, 0);
	g_assert_null(msg_index_at(index, 0));
	msg_index_finish(index);
	g_assert_cmpuint(msg_index_count(index), ==, 0);
	g_assert_null(msg_index_find(index, 1));
	g_assert_false(msg_index_remove(index, 1));

	/* size = position appended, so "last wins" is visible */
	for (size_t i = 0; i < G_N_ELEMENTS(uids); i++) {
		struct msg_entry e = entry(uids[i], (uint32_t)i);

		msg_index_append(index, &e);
	}
	msg_index_finish(index);
	g_assert_cmpuint(msg_index_count(index), ==, G_N_ELEMENTS(want));
	for (size_t i = 0; i < G_N_ELEMENTS(want); i++)
		check_entry(msg_index_at(index, i), want[i].uid, want[i].size);
	g_assert_null(msg_index_at(index, G_N_ELEMENTS(want)));
	g_assert_null(msg_index_at(index, (size_t)-1));

	/* finishing again changes nothing */
	msg_index_finish(index);
	g_assert_cmpuint(msg_index_count(index), ==, G_N_ELEMENTS(want));
	for (size_t i = 0; i < G_N_ELEMENTS(want); i++)
		check_entry(msg_index_at(index, i), want[i].uid, want[i].size);
	msg_index_free(&index);
}

static void test_build_one_uid_many_times(void)
{
	struct msg_index *index = msg_index_new();

	for (uint32_t i = 0; i < 1000; i++) {
		struct msg_entry e = entry(42, i);

		msg_index_append(index, &e);
	}
	msg_index_finish(index);
	g_assert_cmpuint(msg_index_count(index), ==, 1);
	check_entry(msg_index_at(index, 0), 42, 999);
	msg_index_free(&index);
}

/* Random appends against a model (uid -> last size), then finds and
 * removes. */
static void test_build_random(void)
{
	for (int round = 0; round < 20; round++) {
		struct msg_index *index = msg_index_new();
		GHashTable *model = g_hash_table_new(g_direct_hash,
				g_direct_equal);
		GList *keys, *l;
		uint32_t range = (uint32_t)g_test_rand_int_range(1, 3000);
		size_t n = (size_t)g_test_rand_int_range(0, 5000), i = 0;

		for (uint32_t k = 0; k < n; k++) {
			uint32_t uid = (uint32_t)g_test_rand_int_range(1,
					(gint32)range + 1);
			struct msg_entry e = entry(uid, k);

			msg_index_append(index, &e);
			g_hash_table_insert(model, GUINT_TO_POINTER(uid),
					GUINT_TO_POINTER(k));
		}
		msg_index_finish(index);
		g_assert_cmpuint(msg_index_count(index), ==,
				g_hash_table_size(model));
		/* sorted, strictly increasing, each the model's last */
		for (i = 0; i < msg_index_count(index); i++) {
			const struct msg_entry *e = msg_index_at(index, i);

			if (i > 0)
				g_assert_cmpuint(
						msg_index_at(index, i - 1)->uid,
						<, e->uid);
			g_assert_true(g_hash_table_contains(model,
						GUINT_TO_POINTER(e->uid)));
			check_entry(e, e->uid, GPOINTER_TO_UINT(
					g_hash_table_lookup(model,
						GUINT_TO_POINTER(e->uid))));
		}
		/* find every uid in and around the range */
		for (uint32_t uid = 0; uid <= range + 1; uid++) {
			struct msg_entry *e = msg_index_find(index, uid);
			bool in = g_hash_table_contains(model,
					GUINT_TO_POINTER(uid));

			if (!in) {
				g_assert_null(e);
				continue;
			}
			check_entry(e, uid, GPOINTER_TO_UINT(
					g_hash_table_lookup(model,
						GUINT_TO_POINTER(uid))));
		}
		/* remove about half, in random order */
		keys = g_hash_table_get_keys(model);
		for (l = keys; l; l = l->next) {
			uint32_t uid = GPOINTER_TO_UINT(l->data);

			if (g_test_rand_bit())
				continue;
			g_assert_true(msg_index_remove(index, uid));
			g_assert_false(msg_index_remove(index, uid));
			g_hash_table_remove(model, l->data);
		}
		g_list_free(keys);
		g_assert_cmpuint(msg_index_count(index), ==,
				g_hash_table_size(model));
		for (uint32_t uid = 0; uid <= range + 1; uid++) {
			bool in = g_hash_table_contains(model,
					GUINT_TO_POINTER(uid));

			g_assert_true((msg_index_find(index, uid) != NULL) ==
					in);
		}
		for (i = 1; i < msg_index_count(index); i++)
			g_assert_cmpuint(msg_index_at(index, i - 1)->uid, <,
					msg_index_at(index, i)->uid);
		g_hash_table_destroy(model);
		msg_index_free(&index);
	}
}

static void test_find_remove(void)
{
	static const uint32_t uids[] = { 2, 4, 6, 8, 10 };
	struct msg_index *index = msg_index_new();
	struct msg_entry *e;

	for (size_t i = 0; i < G_N_ELEMENTS(uids); i++) {
		struct msg_entry m = entry(uids[i], uids[i] * 10);

		msg_index_append(index, &m);
	}
	msg_index_finish(index);
	for (uint32_t uid = 0; uid <= 12; uid++) {
		e = msg_index_find(index, uid);
		if (uid % 2 || uid == 0 || uid == 12)
			g_assert_null(e);
		else
			check_entry(e, uid, uid * 10);
	}
	g_assert_null(msg_index_find(index, UINT32_MAX));

	/* find gives the entry itself, to update in place */
	e = msg_index_find(index, 6);
	e->flags = MSG_FLAG_SEEN;
	e->modseq = 77;
	g_assert_cmpuint(msg_index_at(index, 2)->flags, ==, MSG_FLAG_SEEN);
	g_assert_cmpuint(msg_index_at(index, 2)->modseq, ==, 77);

	/* middle, first, last, absent */
	g_assert_true(msg_index_remove(index, 6));
	g_assert_false(msg_index_remove(index, 6));
	g_assert_null(msg_index_find(index, 6));
	g_assert_true(msg_index_remove(index, 2));
	g_assert_true(msg_index_remove(index, 10));
	g_assert_false(msg_index_remove(index, 5));
	g_assert_false(msg_index_remove(index, 0));
	g_assert_false(msg_index_remove(index, 11));
	g_assert_cmpuint(msg_index_count(index), ==, 2);
	check_entry(msg_index_at(index, 0), 4, 40);
	check_entry(msg_index_at(index, 1), 8, 80);
	g_assert_true(msg_index_remove(index, 4));
	g_assert_true(msg_index_remove(index, 8));
	g_assert_cmpuint(msg_index_count(index), ==, 0);
	g_assert_null(msg_index_find(index, 8));
	msg_index_free(&index);
	msg_index_free(&index);		/* freeing NULL is fine */
}

/*
 * Emptying a large Trash: "* 1 EXPUNGE" for each message, the lowest UID
 * first, with the mailbox lock held for each.  An index that moves the
 * rest of its array for each takes many minutes for this (the test
 * runner's timeout fails it); marking and compacting now and then takes a
 * fraction of a second.
 */
static void test_remove_front_fast(void)
{
	const uint32_t n = 1000000;
	struct msg_index *index = msg_index_new();
	clock_t start = clock();

	for (uint32_t uid = 1; uid <= n; uid++) {
		struct msg_entry e = entry(uid, uid);

		msg_index_append(index, &e);
	}
	msg_index_finish(index);
	for (uint32_t uid = 1; uid <= n; uid++) {
		if (!msg_index_remove(index, uid)) {
			fail("removing %u failed", uid);
			break;
		}
		if (msg_index_find(index, uid) ||
				msg_index_count(index) != n - uid) {
			fail("%u is still there", uid);
			break;
		}
		if (uid < n && !msg_index_find(index, uid + 1)) {
			fail("%u went with %u", uid + 1, uid);
			break;
		}
		/* now and then a listing of what is left */
		if (uid % 200000 == 0 && uid < n)
			check_entry(msg_index_at(index, 0), uid + 1, uid + 1);
	}
	g_assert_cmpuint(msg_index_count(index), ==, 0);
	g_assert_null(msg_index_at(index, 0));
	/* CPU time, so that a loaded machine does not matter; generous:
	 * this is about a second even under ASan */
	g_assert_cmpfloat((double)(clock() - start) / CLOCKS_PER_SEC, <,
			20.0);
	msg_index_free(&index);
}

/*
 * Removals, lookups and positional access interleaved at random against a
 * sorted array: removed entries are never found again, the others always,
 * and at() always sees exactly what is left, in order and contiguous.
 */
static void test_remove_random(void)
{
	for (int round = 0; round < 30; round++) {
		struct msg_index *index = msg_index_new();
		GArray *model = g_array_new(FALSE, FALSE, sizeof(uint32_t));
		uint32_t n = (uint32_t)g_test_rand_int_range(0, 3000);
		uint32_t range = n * 3 + 1;
		size_t built;
		bool ok = true;

		for (uint32_t uid = 1; uid <= range; uid++) {
			struct msg_entry e = entry(uid, uid + 7);

			if (g_test_rand_int_range(0, 3))
				continue;
			msg_index_append(index, &e);
			g_array_append_val(model, uid);
		}
		msg_index_finish(index);
		built = msg_index_memory(index);
		for (int step = 0; step < 4000 && ok; step++) {
			int what = g_test_rand_int_range(0, 10);
			uint32_t uid = (uint32_t)g_test_rand_int_range(0,
					(gint32)range + 2);
			guint pos = 0;
			bool in = false;

			for (pos = 0; pos < model->len; pos++) {
				uint32_t m = g_array_index(model, uint32_t,
						pos);

				if (m >= uid) {
					in = m == uid;
					break;
				}
			}
			if (what < 5) {
				if (msg_index_remove(index, uid) != in) {
					fail("round %d step %d: remove %u",
							round, step, uid);
					ok = false;
				}
				if (in)
					g_array_remove_index(model, pos);
			} else if (what < 9) {
				const struct msg_entry *e =
					msg_index_find(index, uid);

				if ((e != NULL) != in ||
						(e && e->size != uid + 7)) {
					fail("round %d step %d: find %u",
							round, step, uid);
					ok = false;
				}
			} else if (model->len > 0) {
				size_t i = (size_t)g_test_rand_int_range(0,
						(gint32)model->len);
				const struct msg_entry *first =
					msg_index_at(index, 0);

				/* contiguous: at(0) is an array of count */
				if (first + i != msg_index_at(index, i) ||
						first[i].uid != g_array_index(
							model, uint32_t, i)) {
					fail("round %d step %d: at %zu",
							round, step, i);
					ok = false;
				}
			}
			if (msg_index_count(index) != model->len) {
				fail("round %d step %d: count %zu, want %u",
						round, step,
						msg_index_count(index),
						model->len);
				ok = false;
			}
			/* removing never costs more than it frees */
			if (msg_index_memory(index) > built + built / 8 + 1) {
				fail("round %d step %d: memory grew", round,
						step);
				ok = false;
			}
		}
		g_array_free(model, TRUE);
		msg_index_free(&index);
	}
}

/* ---- the flags attribute ---- */

static void test_format_flags(void)
{
	static const struct {
		uint8_t flags;
		const char *list;	/* for the keywords; NULL: id 0 */
		const char *want;
	} cases[] = {
		{ 0, NULL, "" },
		{ 0, "()", "" },
		{ MSG_FLAG_SEEN, NULL, "\\Seen" },
		{ MSG_FLAG_SEEN | MSG_FLAG_ANSWERED, NULL,
			"\\Answered \\Seen" },
		{ ALL_FLAGS, NULL,
			"\\Answered \\Flagged \\Deleted \\Seen \\Draft" },
		{ MSG_FLAG_DRAFT | MSG_FLAG_FLAGGED, NULL,
			"\\Flagged \\Draft" },
		{ 0, "($Forwarded)", "$Forwarded" },
		{ 0, "($b $a)", "$b $a" },
		{ MSG_FLAG_DELETED, "(Work $Junk)", "\\Deleted Work $Junk" },
		{ ALL_FLAGS, "($a \\Foo)",
			"\\Answered \\Flagged \\Deleted \\Seen \\Draft $a "
			"\\Foo" },
		/* keywords with a space or control byte are left out */
		{ MSG_FLAG_SEEN, "(\"two words\" $a k\x01w k\x7f [G]/I)",
			"\\Seen $a [G]/I" },
		{ 0, "(\"x y\")", "" },
		/* bits that are no flag show nothing */
		{ 0xe0, NULL, "" },
		{ 0xe0 | MSG_FLAG_SEEN, NULL, "\\Seen" },
	};
	struct msg_index *index = msg_index_new();

	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		struct msg_entry e = entry(1, 0);
		uint8_t ignored;
		char *s;

		e.flags = cases[i].flags;
		e.keywords = 0;
		if (cases[i].list)
			g_assert_true(parse_list(index, cases[i].list,
						&ignored, &e.keywords));
		s = msg_index_format_flags(index, &e);
		if (strcmp(s, cases[i].want) != 0)
			fail("#%zu: \"%s\", want \"%s\"", i, s,
					cases[i].want);
		g_free(s);
	}

	/* an id that was never given shows no keywords */
	{
		struct msg_entry e = entry(1, 0);
		char *s;

		e.flags = MSG_FLAG_SEEN;
		e.keywords = 12345;
		s = msg_index_format_flags(index, &e);
		g_assert_cmpstr(s, ==, "\\Seen");
		g_free(s);
	}
	msg_index_free(&index);
}

/* What a FETCH says comes out as the attribute, and the attribute read
 * back as a flag list is the same flags. */
static void test_format_parse_round_trip(void)
{
	static const struct {
		const char *list;
		const char *want;
	} cases[] = {
		{ "(\\Seen $Forwarded \\Recent)", "\\Seen $Forwarded" },
		{ "($Forwarded \\Recent \\Seen \\answered)",
			"\\Answered \\Seen $Forwarded" },
		{ "(\\Recent)", "" },
		{ "(\\DRAFT \\deleted $MDNSent $MDNSent NonJunk)",
			"\\Deleted \\Draft $MDNSent NonJunk" },
	};
	struct msg_index *index = msg_index_new();

	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		struct msg_entry e = entry(1, 0), again = entry(1, 0);
		char *s, *list, *s2;

		g_assert_true(parse_list(index, cases[i].list, &e.flags,
					&e.keywords));
		s = msg_index_format_flags(index, &e);
		g_assert_cmpstr(s, ==, cases[i].want);
		list = g_strdup_printf("(%s)", s);
		g_assert_true(parse_list(index, list, &again.flags,
					&again.keywords));
		g_assert_cmpuint(again.flags, ==, e.flags);
		g_assert_cmpuint(again.keywords, ==, e.keywords);
		s2 = msg_index_format_flags(index, &again);
		g_assert_cmpstr(s2, ==, s);
		g_free(s2);
		g_free(list);
		g_free(s);
	}
	msg_index_free(&index);
}

/* ---- memory ---- */

static void test_memory(void)
{
	const size_t n = 100000;
	struct msg_index *index = msg_index_new();
	size_t empty = msg_index_memory(index), full, with_sets;
	uint8_t flags;
	uint32_t id;

	/* newest first, as a server may send them */
	for (size_t i = 0; i < n; i++) {
		struct msg_entry e = entry((uint32_t)(n - i), (uint32_t)i);

		msg_index_append(index, &e);
	}
	msg_index_finish(index);
	g_assert_cmpuint(msg_index_count(index), ==, n);
	g_assert_cmpuint(msg_index_at(index, 0)->uid, ==, 1);
	g_assert_cmpuint(msg_index_at(index, n - 1)->uid, ==, n);
	full = msg_index_memory(index);
	g_test_message("%zu entries: %zu bytes (%.1f per entry)", n, full,
			(double)full / (double)n);
	g_assert_cmpuint(full, <, 40 * n);
	/* it does count the entries */
	g_assert_cmpuint(full, >=, empty + n * sizeof(struct msg_entry));

	/* interned sets are accounted too; a set seen again costs nothing */
	g_assert_true(parse_list(index, "($Forwarded $Junk)", &flags, &id));
	with_sets = msg_index_memory(index);
	g_assert_cmpuint(with_sets, >, full);
	g_assert_true(parse_list(index, "($Forwarded $Junk)", &flags, &id));
	g_assert_cmpuint(msg_index_memory(index), ==, with_sets);
	msg_index_free(&index);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/msgindex/build/table", test_build);
	g_test_add_func("/msgindex/build/one-uid",
			test_build_one_uid_many_times);
	g_test_add_func("/msgindex/build/random", test_build_random);
	g_test_add_func("/msgindex/find-remove", test_find_remove);
	g_test_add_func("/msgindex/remove-front-fast", test_remove_front_fast);
	g_test_add_func("/msgindex/remove-random", test_remove_random);
	g_test_add_func("/msgindex/flags/parse", test_parse_flags_table);
	g_test_add_func("/msgindex/flags/odd", test_parse_flags_odd);
	g_test_add_func("/msgindex/flags/long", test_parse_flags_long);
	g_test_add_func("/msgindex/flags/nul", test_parse_flags_nul);
	g_test_add_func("/msgindex/keywords/interning",
			test_keyword_interning);
	g_test_add_func("/msgindex/keywords/interning-spaces",
			test_keyword_interning_spaces);
	g_test_add_func("/msgindex/keywords/lifetime", test_keyword_lifetime);
	g_test_add_func("/msgindex/flags/format", test_format_flags);
	g_test_add_func("/msgindex/flags/round-trip",
			test_format_parse_round_trip);
	g_test_add_func("/msgindex/memory", test_memory);
	return g_test_run();
}
