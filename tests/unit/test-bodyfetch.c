/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The pipelined body fetcher (imap/bodyfetch.c) and the session's routing
 * of data responses among the commands in flight (session-pipeline.c),
 * against a scripted server (scripted.h).
 *
 * Pipelining is only worth having if the next batch is on the wire while
 * the server still answers the last one, and only safe if every body,
 * whichever command carried it, is kept for the UID its own response
 * names and for nothing else.  So each test checks what was sent before
 * anything was read, which body the sink kept under which UID, and what
 * each batch was told when its last answer came (or never came).
 */
#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "imap/fetchops.h"
#include "imap/session.h"
#include "imap/uidset.h"
#include "scripted.h"
#include "testutil.h"

#define GREETING "* PREAUTH [CAPABILITY IMAP4rev1] hi\r\n"
#define FETCH_CMD(tag, set) tag " UID FETCH " set " (UID BODY.PEEK[])\r\n"

/* "* seq FETCH (UID uid BODY[] {n}\r\ntext)\r\n" */
static void add_body(GString *script, unsigned seq, uint32_t uid,
		const char *text)
{
	g_string_append_printf(script, "* %u FETCH (UID %u BODY[] {%zu}\r\n"
			"%s)\r\n", seq, uid, strlen(text), text);
}

/* --- a sink and batches that remember what they were told --------------- */

struct sink {
	GString *body;		/* the body begun last */
	GString *kept;		/* "uid:bytes;" for each body kept */
	unsigned begins;
	unsigned drops;		/* end(0, false) */
	bool open;
	uint64_t size;		/* as begin announced it */
	/* Checked at the first begin, that is while the first answer is
	 * read: by then every command must be out. */
	const char *sent_before_first_body;
};

static bool sink_begin(void *ctx, uint64_t size)
{
	struct sink *s = ctx;

	/* The fetcher ends each body before it begins the next. */
	g_assert_false(s->open);
	if (s->begins++ == 0 && s->sent_before_first_body)
		g_free(scripted_sent(s->sent_before_first_body));
	g_string_truncate(s->body, 0);
	s->size = size;
	s->open = true;
	return true;
}

static void sink_data(void *ctx, const void *data, size_t len)
{
	struct sink *s = ctx;

	g_assert_true(s->open);
	g_string_append_len(s->body, data, (gssize)len);
}

static bool sink_end(void *ctx, uint32_t uid, bool keep)
{
	struct sink *s = ctx;

	g_assert_true(s->open);
	s->open = false;
	if (!keep) {
		g_assert_cmpuint(uid, ==, 0);
		s->drops++;
		return false;
	}
	/* Only a whole body may be kept. */
	g_assert_cmpuint(s->body->len, ==, s->size);
	g_string_append_printf(s->kept, "%u:%s;", uid, s->body->str);
	return true;
}

struct batch {
	const char *name;
	GString *order;		/* shared: "b1,b2," as batches end */
	struct imap_body_want *wants;
	size_t count;
	unsigned calls;
	bool wrong_uid;
	struct imap_result result;
	GString *kept;		/* "5+ 6-": kept or not, per want */
};

static void batch_done(void *ctx, struct imap_body_want *wants, size_t count,
		bool wrong_uid, const struct imap_result *result)
{
	struct batch *b = ctx;

	g_assert_true(wants == b->wants);
	g_assert_cmpuint(count, ==, b->count);
	b->calls++;
	g_string_append_printf(b->order, "%s,", b->name);
	b->wrong_uid = wrong_uid;
	b->result = *result;
	g_string_truncate(b->kept, 0);
	for (size_t i = 0; i < count; i++)
		g_string_append_printf(b->kept, "%s%u%c", i ? " " : "",
				wants[i].uid, wants[i].kept ? '+' : '-');
}

/* A session on a script, a sink, and the order batches end in. */
struct fixture {
	struct imap_session_config cfg;
	struct imap_session *session;
	struct sink sink;
	struct imap_body_sink ops;
	struct imap_body_fetcher *fetcher;
	GString *order;
};

static void fx_open(struct fixture *fx, const char *script, int timeout_ms,
		const struct imap_session_events *events)
{
	memset(fx, 0, sizeof(*fx));
	fx->session = scripted_open(script, timeout_ms, &fx->cfg, events);
	fx->sink.body = g_string_new(NULL);
	fx->sink.kept = g_string_new(NULL);
	fx->ops = (struct imap_body_sink) {
		.begin = sink_begin,
		.data = sink_data,
		.end = sink_end,
		.ctx = &fx->sink,
	};
	fx->fetcher = imap_body_fetcher_new(fx->session, 0, 0, &fx->ops);
	fx->order = g_string_new(NULL);
}

static void fx_close(struct fixture *fx)
{
	imap_body_fetcher_free(&fx->fetcher);
	g_assert_null(fx->fetcher);
	imap_session_close(&fx->session);
	g_assert_false(fx->sink.open);
	g_string_free(fx->sink.body, TRUE);
	g_string_free(fx->sink.kept, TRUE);
	g_string_free(fx->order, TRUE);
	g_free(fx->cfg.tunnel);
}

static void batch_add_to(struct fixture *fx, struct imap_body_fetcher *f,
		struct batch *b, const char *name,
		struct imap_body_want *wants, size_t count)
{
	struct imap_result result;

	memset(b, 0, sizeof(*b));
	b->name = name;
	b->order = fx->order;
	b->wants = wants;
	b->count = count;
	b->kept = g_string_new(NULL);
	if (!imap_body_fetcher_add(f, wants, count, batch_done, b, &result))
		g_error("%s not sent: %s", name, result.text);
}

static void batch_add(struct fixture *fx, struct batch *b, const char *name,
		struct imap_body_want *wants, size_t count)
{
	batch_add_to(fx, fx->fetcher, b, name, wants, count);
}

static void batch_clear(struct batch *b)
{
	g_string_free(b->kept, TRUE);
}

/* Read until every batch is done: a fetcher that waits for an answer it
 * never asked for, or forgets one, must not loop for ever. */
static void pump(struct fixture *fx)
{
	for (unsigned i = 0; imap_body_fetcher_in_flight(fx->fetcher) > 0;
			i++) {
		struct imap_result result;

		if (i > 100000)
			g_error("%u batches never done",
					imap_body_fetcher_in_flight(
						fx->fetcher));
		if (!imap_session_read_one(fx->session, &result))
			g_error("session died: %s", result.text);
	}
}

static void assert_batch(const struct batch *b, enum imap_result_status st,
		bool wrong_uid, const char *kept)
{
	g_assert_cmpuint(b->calls, ==, 1);
	g_assert_cmpint(b->result.status, ==, st);
	g_assert_cmpint(b->wrong_uid, ==, wrong_uid);
	g_assert_cmpstr(b->kept->str, ==, kept);
}

/* --- the tests ------------------------------------------------------------ */

/* Two batches go out before either is answered; each is told of its own
 * bodies when its own tagged answer comes, in the order sent. */
static void test_two_batches(void)
{
	GString *script = g_string_new(GREETING);
	struct imap_body_want w1[] = { { .uid = 5 }, { .uid = 6 } };
	struct imap_body_want w2[] = { { .uid = 7 } };
	struct batch b1, b2;
	struct fixture fx;
	char *sent;

	add_body(script, 1, 5, "abc");
	add_body(script, 2, 6, "defg");
	g_string_append(script, "a1 OK fetched\r\n");
	add_body(script, 3, 7, "hi");
	g_string_append(script, "a2 OK fetched\r\n* BYE bye\r\na3 OK bye\r\n");
	fx_open(&fx, script->str, 5000, NULL);

	batch_add(&fx, &b1, "b1", w1, G_N_ELEMENTS(w1));
	batch_add(&fx, &b2, "b2", w2, G_N_ELEMENTS(w2));
	g_assert_cmpuint(imap_body_fetcher_in_flight(fx.fetcher), ==, 2);
	g_assert_cmpuint(imap_session_pending(fx.session), ==, 2);
	sent = scripted_sent(FETCH_CMD("a2", "7"));
	g_assert_nonnull(strstr(sent, FETCH_CMD("a1", "5:6")
				FETCH_CMD("a2", "7")));
	g_free(sent);
	/* Sent, and nothing read yet. */
	g_assert_cmpuint(fx.sink.begins, ==, 0);
	g_assert_cmpuint(b1.calls + b2.calls, ==, 0);

	pump(&fx);
	g_assert_cmpstr(fx.order->str, ==, "b1,b2,");
	assert_batch(&b1, IMAP_RESULT_OK, false, "5+ 6+");
	assert_batch(&b2, IMAP_RESULT_OK, false, "7+");
	g_assert_true(w1[0].saw_uid && w1[1].saw_uid && w2[0].saw_uid);
	g_assert_cmpstr(fx.sink.kept->str, ==, "5:abc;6:defg;7:hi;");
	g_assert_cmpuint(fx.sink.begins, ==, 3);
	g_assert_cmpuint(fx.sink.drops, ==, 0);
	g_assert_false(imap_session_is_dead(fx.session));

	batch_clear(&b1);
	batch_clear(&b2);
	fx_close(&fx);
	g_string_free(script, TRUE);
}

/* The UID may follow the body (RFC 3501 §7.4.2 fixes no order): the body
 * is held open until its response names it, then kept for that UID, in
 * whichever batch asked for it. */
static void test_uid_after_body(void)
{
	GString *script = g_string_new(GREETING);
	struct imap_body_want w1[] = { { .uid = 5 } };
	struct imap_body_want w2[] = { { .uid = 6 }, { .uid = 8 } };
	struct batch b1, b2;
	struct fixture fx;

	add_body(script, 1, 5, "abc");
	/* Answered ahead of its command's turn: the literal goes to the
	 * oldest command, which did not ask for UID 8, yet the body is
	 * kept for the batch that did. */
	g_string_append(script,
			"* 4 FETCH (BODY[] {2}\r\nxy UID 8 FLAGS ())\r\n"
			"a1 OK fetched\r\n"
			"* 2 FETCH (BODY[] {4}\r\ndefg UID 6)\r\n"
			"a2 OK fetched\r\n* BYE bye\r\na3 OK bye\r\n");
	fx_open(&fx, script->str, 5000, NULL);

	batch_add(&fx, &b1, "b1", w1, G_N_ELEMENTS(w1));
	batch_add(&fx, &b2, "b2", w2, G_N_ELEMENTS(w2));
	pump(&fx);
	g_assert_cmpstr(fx.order->str, ==, "b1,b2,");
	assert_batch(&b1, IMAP_RESULT_OK, false, "5+");
	assert_batch(&b2, IMAP_RESULT_OK, false, "6+ 8+");
	g_assert_cmpstr(fx.sink.kept->str, ==, "5:abc;8:xy;6:defg;");
	g_assert_cmpuint(fx.sink.drops, ==, 0);

	batch_clear(&b1);
	batch_clear(&b2);
	fx_close(&fx);
	g_string_free(script, TRUE);
}

/* A server may send FETCH data for any message (RFC 3501 §7.4.2): a body
 * under a UID nobody asked for is read and dropped, never kept for the
 * UID whose command happened to be answered, and every batch still in
 * flight learns that its command cannot be trusted with the UIDs it did
 * not get.  A batch already done is not told. */
static void test_unasked_uid(void)
{
	GString *script = g_string_new(GREETING);
	struct imap_body_want w1[] = { { .uid = 5 } };
	struct imap_body_want w2[] = { { .uid = 6 } };
	struct imap_body_want w3[] = { { .uid = 7 } };
	struct batch b1, b2, b3;
	struct fixture fx;

	add_body(script, 1, 5, "abc");
	g_string_append(script, "a1 OK fetched\r\n");
	add_body(script, 9, 99, "zzz");
	add_body(script, 2, 6, "def");
	g_string_append(script, "a2 OK fetched\r\n");
	add_body(script, 3, 7, "ghi");
	g_string_append(script, "a3 OK fetched\r\n* BYE bye\r\na4 OK bye\r\n");
	fx_open(&fx, script->str, 5000, NULL);

	batch_add(&fx, &b1, "b1", w1, G_N_ELEMENTS(w1));
	batch_add(&fx, &b2, "b2", w2, G_N_ELEMENTS(w2));
	batch_add(&fx, &b3, "b3", w3, G_N_ELEMENTS(w3));
	pump(&fx);
	g_assert_cmpstr(fx.order->str, ==, "b1,b2,b3,");
	assert_batch(&b1, IMAP_RESULT_OK, false, "5+");
	assert_batch(&b2, IMAP_RESULT_OK, true, "6+");
	assert_batch(&b3, IMAP_RESULT_OK, true, "7+");
	g_assert_cmpstr(fx.sink.kept->str, ==, "5:abc;6:def;7:ghi;");
	g_assert_cmpuint(fx.sink.begins, ==, 4);
	g_assert_cmpuint(fx.sink.drops, ==, 1);

	batch_clear(&b1);
	batch_clear(&b2);
	batch_clear(&b3);
	fx_close(&fx);
	g_string_free(script, TRUE);
}

static void record_flags(void *ctx, const char *mailbox, uint32_t uidvalidity,
		uint32_t uid, const struct imap_flag_list *flags,
		uint64_t modseq)
{
	GString *log = ctx;

	g_string_append_printf(log, "%s/%u/%u:", mailbox, uidvalidity, uid);
	for (size_t i = 0; i < flags->count; i++)
		g_string_append_printf(log, "%s%s", i == 0 ? "" : " ",
				flags->names[i]);
	g_string_append_printf(log, "/%" G_GUINT64_FORMAT ";", modseq);
}

/* A flag change another client made arrives as a FETCH without a body,
 * between the bodies, while batches are in flight: it is news for the
 * session's events (the cache's flags), not a body, empty or otherwise,
 * for the sink.  Without a UID the session knows the message from the
 * sequence number an earlier response tied to it. */
static void test_flags_between_bodies(void)
{
	GString *script = g_string_new(GREETING);
	GString *flags = g_string_new(NULL);
	const struct imap_session_events events = {
		.flags = record_flags,
		.ctx = flags,
	};
	struct imap_body_want w1[] = { { .uid = 5 } };
	struct imap_body_want w2[] = { { .uid = 6 }, { .uid = 7 } };
	struct imap_result result;
	struct batch b1, b2;
	struct fixture fx;

	/* Flag news is only told about the selected mailbox. */
	g_string_append(script, "* 3 EXISTS\r\n"
			"* OK [UIDVALIDITY 42] UIDs valid\r\n"
			"a1 OK [READ-ONLY] examined\r\n");
	add_body(script, 1, 5, "abc");
	g_string_append(script, "* 2 FETCH (UID 6 FLAGS (\\Seen))\r\n"
			"* 1 FETCH (FLAGS (\\Flagged $Work))\r\n"
			"a2 OK fetched\r\n");
	add_body(script, 2, 6, "def");
	/* The message is there, its body is not (say, gone meanwhile). */
	g_string_append(script, "* 3 FETCH (UID 7 FLAGS ())\r\n"
			"a3 OK fetched\r\n* BYE bye\r\na4 OK bye\r\n");
	fx_open(&fx, script->str, 5000, &events);
	if (!imap_session_select(fx.session, "Box", true, &result))
		g_error("EXAMINE: %s", result.text);

	batch_add(&fx, &b1, "b1", w1, G_N_ELEMENTS(w1));
	batch_add(&fx, &b2, "b2", w2, G_N_ELEMENTS(w2));
	pump(&fx);
	assert_batch(&b1, IMAP_RESULT_OK, false, "5+");
	assert_batch(&b2, IMAP_RESULT_OK, false, "6+ 7-");
	/* What tells the store that 7 is there without a body, rather
	 * than not answered. */
	g_assert_true(w2[1].saw_uid);
	g_assert_cmpstr(fx.sink.kept->str, ==, "5:abc;6:def;");
	g_assert_cmpuint(fx.sink.begins, ==, 2);
	g_assert_cmpuint(fx.sink.drops, ==, 0);
	g_assert_cmpstr(flags->str, ==, "Box/42/6:\\Seen/0;"
			"Box/42/5:\\Flagged $Work/0;Box/42/7:/0;");

	batch_clear(&b1);
	batch_clear(&b2);
	fx_close(&fx);
	g_string_free(flags, TRUE);
	g_string_free(script, TRUE);
}

/* Enough UIDs, none next to another, that their set is split into several
 * commands (IMAP_UIDSET_MAX_TEXT): all go out before the first answer is
 * read, together they name every UID once, and every body is kept. */
#define LONG_COUNT 1400

static void test_long_set(void)
{
	struct imap_body_want *wants = g_new0(struct imap_body_want,
			LONG_COUNT);
	uint32_t *uids = g_new(uint32_t, LONG_COUNT);
	GString *script = g_string_new(GREETING);
	GString *expect = g_string_new(NULL);
	GString *set = g_string_new(NULL);
	GArray *named = g_array_new(FALSE, FALSE, sizeof(uint32_t));
	struct imap_result result;
	struct fixture fx;
	unsigned commands = 0;
	char *last, *sent;
	const char *p;
	bool wrong_uid = true;

	for (size_t i = 0; i < LONG_COUNT; i++) {
		uids[i] = 10000 + 3 * (uint32_t)i;
		wants[i].uid = uids[i];
		g_string_append_printf(expect, "%u:%u;", uids[i], uids[i]);
	}
	/* Each command's bodies, then its tagged answer, as a server
	 * answering in order would. */
	for (size_t done = 0; done < LONG_COUNT;) {
		size_t n;

		g_string_truncate(set, 0);
		n = imap_uidset_format(set, uids + done, LONG_COUNT - done,
				IMAP_UIDSET_MAX_TEXT);
		for (size_t i = done; i < done + n; i++) {
			char text[16];

			g_snprintf(text, sizeof(text), "%u", uids[i]);
			add_body(script, (unsigned)i + 1, uids[i], text);
		}
		g_string_append_printf(script, "a%u OK fetched\r\n",
				++commands);
		done += n;
	}
	g_assert_cmpuint(commands, >=, 3);
	g_string_append_printf(script, "* BYE bye\r\na%u OK bye\r\n",
			commands + 1);
	fx_open(&fx, script->str, 5000, NULL);
	/* set holds the last command's UIDs. */
	last = g_strdup_printf(FETCH_CMD("a%u", "%s"), commands, set->str);
	fx.sink.sent_before_first_body = last;

	if (!imap_fetch_bodies(fx.session, wants, LONG_COUNT, &fx.ops,
				&wrong_uid, &result))
		g_error("%s", result.text);
	g_assert_false(wrong_uid);
	g_assert_cmpuint(fx.sink.begins, ==, LONG_COUNT);
	g_assert_cmpstr(fx.sink.kept->str, ==, expect->str);
	for (size_t i = 0; i < LONG_COUNT; i++) {
		if (!wants[i].kept || !wants[i].saw_uid)
			fail("UID %u: kept %d, saw_uid %d", wants[i].uid,
					wants[i].kept, wants[i].saw_uid);
	}

	/* The commands, one line each, name every UID once and in order. */
	sent = scripted_sent(last);
	p = sent;
	for (unsigned i = 1; i <= commands; i++) {
		char *head = g_strdup_printf("a%u UID FETCH ", i);
		const char *end;

		g_assert_true(g_str_has_prefix(p, head));
		p += strlen(head);
		end = strstr(p, " (UID BODY.PEEK[])\r\n");
		g_assert_nonnull(end);
		g_assert_cmpuint(end - p, <=, IMAP_UIDSET_MAX_TEXT);
		g_assert_true(imap_uidset_parse(p, (size_t)(end - p), named,
					LONG_COUNT));
		p = end + strlen(" (UID BODY.PEEK[])\r\n");
		g_free(head);
	}
	g_assert_cmpuint(named->len, ==, LONG_COUNT);
	g_assert_cmpmem(named->data, LONG_COUNT * sizeof(uint32_t), uids,
			LONG_COUNT * sizeof(uint32_t));
	g_free(sent);

	fx_close(&fx);
	g_free(last);
	g_array_unref(named);
	g_string_free(set, TRUE);
	g_string_free(expect, TRUE);
	g_string_free(script, TRUE);
	g_free(uids);
	g_free(wants);
}

/* The connection goes silent halfway through a body, two batches in
 * flight: both learn that the session is gone, the body cut short is
 * dropped (a truncated message must never reach the cache), the one
 * before it stays kept, and the fetcher can be freed at once. */
static void test_lost(void)
{
	GString *script = g_string_new(GREETING);
	struct imap_body_want w1[] = { { .uid = 5 }, { .uid = 6 } };
	struct imap_body_want w2[] = { { .uid = 7 } };
	struct imap_body_want w3[] = { { .uid = 8 } };
	struct imap_result result;
	struct batch b1, b2, b3;
	struct fixture fx;
	unsigned reads = 0;

	add_body(script, 1, 5, "abc");
	g_string_append(script, "* 2 FETCH (UID 6 BODY[] {10}\r\nhalf");
	fx_open(&fx, script->str, 300, NULL);

	batch_add(&fx, &b1, "b1", w1, G_N_ELEMENTS(w1));
	batch_add(&fx, &b2, "b2", w2, G_N_ELEMENTS(w2));
	while (imap_session_read_one(fx.session, &result))
		g_assert_cmpuint(++reads, <, 10);
	g_assert_cmpint(result.status, ==, IMAP_RESULT_SESSION);
	g_assert_true(imap_session_is_dead(fx.session));
	g_assert_cmpuint(imap_body_fetcher_in_flight(fx.fetcher), ==, 0);
	g_assert_cmpstr(fx.order->str, ==, "b1,b2,");
	assert_batch(&b1, IMAP_RESULT_SESSION, false, "5+ 6-");
	assert_batch(&b2, IMAP_RESULT_SESSION, false, "7-");
	g_assert_cmpstr(fx.sink.kept->str, ==, "5:abc;");
	g_assert_cmpuint(fx.sink.begins, ==, 2);
	g_assert_cmpuint(fx.sink.drops, ==, 1);
	g_assert_false(fx.sink.open);

	/* Nothing goes out on a dead session, and nobody is told later. */
	memset(&b3, 0, sizeof(b3));
	b3.kept = g_string_new(NULL);
	g_assert_false(imap_body_fetcher_add(fx.fetcher, w3,
				G_N_ELEMENTS(w3), batch_done, &b3, &result));
	g_assert_cmpint(result.status, ==, IMAP_RESULT_SESSION);
	g_assert_cmpuint(imap_body_fetcher_in_flight(fx.fetcher), ==, 0);
	g_assert_cmpuint(b3.calls, ==, 0);

	batch_clear(&b1);
	batch_clear(&b2);
	batch_clear(&b3);
	fx_close(&fx);
	g_string_free(script, TRUE);
}

static bool count_untagged(void *ctx, const struct imap_response *r)
{
	(void)r;
	++*(unsigned *)ctx;
	return false;
}

static enum imap_literal_action count_literal(void *ctx,
		const struct imap_literal_info *info)
{
	(void)info;
	++*(unsigned *)ctx;
	return IMAP_LITERAL_INLINE;
}

/* A command run meanwhile waits for its own answer, and the reads it does
 * move the fetcher on: the bodies that come before its tagged answer go
 * to the sink, not to the command waited for, and the batch is told, even
 * when that answer comes first and the batch is still owed more. */
static void test_run_meanwhile(void)
{
	GString *script = g_string_new(GREETING);
	struct imap_body_want w1[] = { { .uid = 5 } };
	struct imap_body_want w2[] = { { .uid = 6 }, { .uid = 7 } };
	unsigned offered = 0;
	const struct imap_command_handlers noop = {
		.untagged = count_untagged,
		.literal_begin = count_literal,
		.ctx = &offered,
	};
	struct imap_result result;
	struct batch b1, b2;
	struct fixture fx;
	char *sent;

	add_body(script, 1, 5, "abc");
	g_string_append(script, "a1 OK fetched\r\na2 OK noop\r\n");
	add_body(script, 2, 6, "def");
	g_string_append(script, "a4 OK noop\r\n");
	add_body(script, 3, 7, "ghi");
	g_string_append(script, "a3 OK fetched\r\n* BYE bye\r\na5 OK bye\r\n");
	fx_open(&fx, script->str, 5000, NULL);

	batch_add(&fx, &b1, "b1", w1, G_N_ELEMENTS(w1));
	if (!imap_session_run(fx.session, imap_command_new("NOOP"), &noop,
				&result))
		g_error("NOOP: %s", result.text);
	g_assert_cmpstr(result.text, ==, "noop");
	assert_batch(&b1, IMAP_RESULT_OK, false, "5+");
	g_assert_cmpuint(imap_body_fetcher_in_flight(fx.fetcher), ==, 0);
	g_assert_cmpstr(fx.sink.kept->str, ==, "5:abc;");

	batch_add(&fx, &b2, "b2", w2, G_N_ELEMENTS(w2));
	if (!imap_session_run(fx.session, imap_command_new("NOOP"), &noop,
				&result))
		g_error("NOOP: %s", result.text);
	g_assert_cmpuint(b2.calls, ==, 0);
	g_assert_cmpuint(imap_body_fetcher_in_flight(fx.fetcher), ==, 1);
	g_assert_cmpstr(fx.sink.kept->str, ==, "5:abc;6:def;");
	g_assert_cmpuint(offered, ==, 0);
	pump(&fx);
	assert_batch(&b2, IMAP_RESULT_OK, false, "6+ 7+");
	g_assert_cmpstr(fx.sink.kept->str, ==, "5:abc;6:def;7:ghi;");
	g_assert_cmpuint(fx.sink.drops, ==, 0);
	sent = scripted_sent("a4 NOOP\r\n");
	g_assert_nonnull(strstr(sent, FETCH_CMD("a1", "5") "a2 NOOP\r\n"
				FETCH_CMD("a3", "6:7") "a4 NOOP\r\n"));
	g_free(sent);

	batch_clear(&b1);
	batch_clear(&b2);
	fx_close(&fx);
	g_string_free(script, TRUE);
}

/* One UID, waited for: another UID's body first is not taken for it. */
static void test_fetch_body(void)
{
	GString *script = g_string_new(GREETING);
	struct imap_body_outcome outcome;
	struct imap_result result;
	struct fixture fx;
	char *sent;

	add_body(script, 4, 9, "nine");
	add_body(script, 1, 5, "five");
	g_string_append(script, "a1 OK fetched\r\n* BYE bye\r\na2 OK bye\r\n");
	fx_open(&fx, script->str, 5000, NULL);

	if (!imap_fetch_body(fx.session, 5, &fx.ops, &outcome, &result))
		g_error("%s", result.text);
	g_assert_true(outcome.kept);
	g_assert_true(outcome.saw_uid);
	g_assert_true(outcome.wrong_uid);
	g_assert_false(outcome.sink_failed);
	g_assert_cmpstr(fx.sink.kept->str, ==, "5:five;");
	g_assert_cmpuint(fx.sink.drops, ==, 1);
	sent = scripted_sent(FETCH_CMD("a1", "5"));
	g_free(sent);

	fx_close(&fx);
	g_string_free(script, TRUE);
}

/* Small bodies may come as quoted strings, which no literal callback
 * sees: with two batches in flight the response is offered to each
 * command in turn, and still makes exactly one body. */
static void test_quoted_body_pipelined(void)
{
	GString *script = g_string_new(GREETING);
	struct imap_body_want w1[] = { { .uid = 5 } };
	struct imap_body_want w2[] = { { .uid = 6 } };
	struct batch b1, b2;
	struct fixture fx;

	g_string_append(script, "* 1 FETCH (UID 5 BODY[] \"abc\")\r\n"
			"a1 OK fetched\r\n"
			"* 2 FETCH (UID 6 BODY[] \"def\")\r\n"
			"a2 OK fetched\r\n* BYE bye\r\na3 OK bye\r\n");
	fx_open(&fx, script->str, 5000, NULL);

	batch_add(&fx, &b1, "b1", w1, G_N_ELEMENTS(w1));
	batch_add(&fx, &b2, "b2", w2, G_N_ELEMENTS(w2));
	pump(&fx);
	assert_batch(&b1, IMAP_RESULT_OK, false, "5+");
	assert_batch(&b2, IMAP_RESULT_OK, false, "6+");
	g_assert_cmpstr(fx.sink.kept->str, ==, "5:abc;6:def;");
	g_assert_cmpuint(fx.sink.begins, ==, 2);
	g_assert_cmpuint(fx.sink.drops, ==, 0);

	batch_clear(&b1);
	batch_clear(&b2);
	fx_close(&fx);
	g_string_free(script, TRUE);
}

/* Two fetchers on one session, their commands interleaved (a1 and a3 for
 * one, a2 for the other), answered in order: a small body sent as a
 * quoted string answers a2 only, and the other fetcher, whose a3 is still
 * in flight, has no reason to doubt its server. */
static void test_two_fetchers_quoted(void)
{
	GString *script = g_string_new(GREETING);
	struct imap_body_want wa1[] = { { .uid = 5 } };
	struct imap_body_want wb[] = { { .uid = 6 } };
	struct imap_body_want wa3[] = { { .uid = 7 } };
	struct imap_body_fetcher *other;
	struct batch a1, b, a3;
	struct fixture fx;

	add_body(script, 1, 5, "abc");
	g_string_append(script, "a1 OK fetched\r\n"
			"* 2 FETCH (UID 6 BODY[] \"def\")\r\n"
			"a2 OK fetched\r\n");
	add_body(script, 3, 7, "ghi");
	g_string_append(script, "a3 OK fetched\r\n* BYE bye\r\na4 OK bye\r\n");
	fx_open(&fx, script->str, 5000, NULL);
	other = imap_body_fetcher_new(fx.session, 0, 0, &fx.ops);

	batch_add(&fx, &a1, "a1", wa1, G_N_ELEMENTS(wa1));
	batch_add_to(&fx, other, &b, "b", wb, G_N_ELEMENTS(wb));
	batch_add(&fx, &a3, "a3", wa3, G_N_ELEMENTS(wa3));
	pump(&fx);
	g_assert_cmpstr(fx.order->str, ==, "a1,b,a3,");
	g_assert_cmpuint(imap_body_fetcher_in_flight(other), ==, 0);
	assert_batch(&a1, IMAP_RESULT_OK, false, "5+");
	assert_batch(&b, IMAP_RESULT_OK, false, "6+");
	assert_batch(&a3, IMAP_RESULT_OK, false, "7+");
	g_assert_cmpstr(fx.sink.kept->str, ==, "5:abc;6:def;7:ghi;");

	batch_clear(&a1);
	batch_clear(&b);
	batch_clear(&a3);
	imap_body_fetcher_free(&other);
	fx_close(&fx);
	g_string_free(script, TRUE);
}

int main(int argc, char **argv)
{
	int rc;

	g_test_init(&argc, &argv, NULL);
	scripted_init("bodyfetch");
	g_test_add_func("/bodyfetch/two-batches", test_two_batches);
	g_test_add_func("/bodyfetch/uid-after-body", test_uid_after_body);
	g_test_add_func("/bodyfetch/unasked-uid", test_unasked_uid);
	g_test_add_func("/bodyfetch/flags-between-bodies",
			test_flags_between_bodies);
	g_test_add_func("/bodyfetch/long-set", test_long_set);
	g_test_add_func("/bodyfetch/lost", test_lost);
	g_test_add_func("/bodyfetch/run-meanwhile", test_run_meanwhile);
	g_test_add_func("/bodyfetch/fetch-body", test_fetch_body);
	g_test_add_func("/bodyfetch/quoted-body-pipelined",
			test_quoted_body_pipelined);
	g_test_add_func("/bodyfetch/two-fetchers-quoted",
			test_two_fetchers_quoted);
	rc = g_test_run();
	scripted_cleanup();
	return rc;
}
