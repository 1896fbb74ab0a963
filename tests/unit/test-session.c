/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What a session learns about the selected mailbox, and how it answers
 * pipelined commands, against a scripted server (scripted.h). */
#include <stdio.h>
#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>

#include <errno.h>
#include <unistd.h>

#include "imap/mailops.h"
#include "imap/session.h"
#include "scripted.h"
#include "testutil.h"

#define CAPS_OBJECTID "IMAP4rev1 OBJECTID"
#define ID_EXAMPLE "F2212ea87-6097-4256-9d51-71338625"

/* One step of a conversation: a command (EXAMINE when `examine` names a
 * mailbox, else `command`), what the server answers before the tagged
 * line, the tagged line's status and text, and the MAILBOXID expected
 * afterwards. */
struct step {
	const char *examine;
	const char *command;
	const char *untagged;	/* complete lines, CRLF-terminated */
	const char *tagged;	/* "OK [READ-ONLY] done", ...; NULL: the
				 * mailbox is selected, nothing is sent */
	bool forget;		/* then imap_session_forget_selected() */
	const char *want;	/* expected selected.mailboxid */
};

static struct imap_session *open_raw(const char *script, int timeout_ms,
		struct imap_session_config *cfg)
{
	return scripted_open(script, timeout_ms, cfg, NULL);
}

static struct imap_session *open_scripted(const char *caps,
		const struct step *steps, size_t n,
		struct imap_session_config *cfg)
{
	GString *script = g_string_new(NULL);
	struct imap_session *session;
	unsigned tag = 0;

	g_string_append_printf(script, "* PREAUTH [CAPABILITY %s] hi\r\n",
			caps);
	for (size_t i = 0; i < n; i++) {
		if (!steps[i].tagged)
			continue;
		g_string_append(script, steps[i].untagged);
		g_string_append_printf(script, "a%u %s\r\n", ++tag,
				steps[i].tagged);
	}
	g_string_append_printf(script, "* BYE bye\r\na%u OK bye\r\n", ++tag);
	session = open_raw(script->str, 5000, cfg);
	g_string_free(script, TRUE);
	return session;
}

static void run_steps(const char *caps, const struct step *steps, size_t n)
{
	struct imap_session_config cfg;
	struct imap_session *session = open_scripted(caps, steps, n, &cfg);

	for (size_t i = 0; i < n; i++) {
		struct imap_result result;
		bool ok, want_ok;

		if (steps[i].examine)
			ok = imap_session_select(session, steps[i].examine,
					true, &result);
		else
			ok = imap_session_run(session,
					imap_command_new("%s",
						steps[i].command),
					NULL, &result);
		g_assert_false(imap_session_is_dead(session));
		want_ok = !steps[i].tagged ||
			g_str_has_prefix(steps[i].tagged, "OK");
		if (ok != want_ok)
			fail("step %zu: %s", i, result.text);
		if (steps[i].forget)
			imap_session_forget_selected(session);
		if (strcmp(imap_session_selected(session)->mailboxid,
					steps[i].want) != 0)
			fail("step %zu: MAILBOXID \"%s\", not \"%s\"", i,
					imap_session_selected(
						session)->mailboxid,
					steps[i].want);
	}
	imap_session_close(&session);
	g_free(cfg.tunnel);
}

#define UV "* OK [UIDVALIDITY 5] UIDs valid\r\n"
#define MBID(id) "* OK [MAILBOXID (" id ")] Ok\r\n"
#define EXAMINED "OK [READ-ONLY] Examine completed"

static void test_mailboxid(void)
{
	char longest[IMAP_OBJECTID_MAX + 1], too_long[IMAP_OBJECTID_MAX + 2];
	char *mbid_longest, *mbid_too_long;

	memset(longest, 'x', IMAP_OBJECTID_MAX);
	longest[IMAP_OBJECTID_MAX] = '\0';
	memset(too_long, 'y', IMAP_OBJECTID_MAX + 1);
	too_long[IMAP_OBJECTID_MAX + 1] = '\0';
	mbid_longest = g_strdup_printf(MBID("%s"), longest);
	mbid_too_long = g_strdup_printf(MBID("%s"), too_long);
	{
		const struct step steps[] = {
			{ "A", NULL, MBID(ID_EXAMPLE) UV, EXAMINED, false,
				ID_EXAMPLE },
			/* CREATE's MAILBOXID names the new mailbox (RFC
			 * 8474 §4.1), as does any outside SELECT. */
			{ NULL, "CREATE B", MBID("Funsolicited"),
				"OK [MAILBOXID (Fcreated)] Completed", false,
				ID_EXAMPLE },
			/* Another mailbox without one: none. */
			{ "B", NULL, UV, EXAMINED, false, "" },
			{ "C", NULL, mbid_longest, EXAMINED, false, longest },
			{ "D", NULL, mbid_too_long, EXAMINED, false, "" },
			{ "E", NULL, MBID("a/b") UV, EXAMINED, false, "" },
			{ "F", NULL, MBID("a.b"), EXAMINED, false, "" },
			{ "G", NULL, MBID("") UV, EXAMINED, false, "" },
			{ "H", NULL, MBID("F1 F2"), EXAMINED, false, "" },
			{ "I", NULL, "* OK [MAILBOXID \"F1\"] Ok\r\n",
				EXAMINED, false, "" },
			{ "J", NULL, "* OK [MAILBOXID F1] Ok\r\n", EXAMINED,
				false, "" },
			{ "K", NULL, "* OK [MAILBOXID ((F1))] Ok\r\n",
				EXAMINED, false, "" },
			{ "L", NULL, MBID("\"F1\""), EXAMINED, false, "" },
			/* The objectid syntax allows this one. */
			{ "M", NULL, MBID("NIL"), EXAMINED, false, "NIL" },
			{ "N", NULL, MBID("F_n-1"), EXAMINED, true, "" },
			/* A failed EXAMINE leaves nothing selected. */
			{ "O", NULL, MBID("Fo"), "NO [NONEXISTENT] no", false,
				"" },
			{ "A", NULL, MBID(ID_EXAMPLE), EXAMINED, false,
				ID_EXAMPLE },
			/* Already selected: nothing sent, nothing lost. */
			{ "A", NULL, "", NULL, false, ID_EXAMPLE },
		};

		run_steps(CAPS_OBJECTID, steps, G_N_ELEMENTS(steps));
	}
	g_free(mbid_longest);
	g_free(mbid_too_long);
}

/* A server that did not announce OBJECTID has no MAILBOXID to give. */
static void test_mailboxid_without_objectid(void)
{
	const struct step steps[] = {
		{ "A", NULL, MBID(ID_EXAMPLE) UV, EXAMINED, false, "" },
	};

	run_steps("IMAP4rev1", steps, G_N_ELEMENTS(steps));
}

/* --- pipelining and the typed operations' answers ----------------------- */

struct answers {
	GString *log;		/* "OK,NO CANNOT,SESSION," in order */
};

static void note_answer(void *ctx, const struct imap_result *result)
{
	struct answers *a = ctx;
	static const char *const names[] = { "OK", "NO", "BAD", "SESSION" };

	g_string_append(a->log, names[result->status]);
	if (*result->code)
		g_string_append_printf(a->log, " %s", result->code);
	g_string_append_c(a->log, ',');
}

/* Answers to commands sent without waiting come out of order, between
 * untagged data, and each reaches its own callback. */
static void test_pipelined(void)
{
	struct imap_session_config cfg;
	struct imap_session *session = open_raw(
			"* PREAUTH [CAPABILITY IMAP4rev1] hi\r\n"
			"* 1 FETCH (UID 7 MODSEQ (3))\r\n"
			"a2 NO [CANNOT] not that one\r\n"
			"a1 OK stored\r\n"
			"a3 OK noop\r\n"
			"* BYE bye\r\na4 OK bye\r\n", 5000, &cfg);
	struct answers a = { g_string_new(NULL) };
	struct imap_result result;
	char *sent;

	g_assert_true(imap_session_send(session, imap_command_new(
				"UID STORE 7 +FLAGS.SILENT (\\Seen)"),
				note_answer, &a, &result));
	g_assert_true(imap_session_send(session, imap_command_new(
				"UID STORE 8 +FLAGS.SILENT (\\Seen)"),
				note_answer, &a, &result));
	g_assert_cmpuint(imap_session_pending(session), ==, 2);
	g_assert_true(imap_session_run(session, imap_command_new("NOOP"),
				NULL, &result));
	g_assert_cmpuint(imap_session_pending(session), ==, 0);
	g_assert_cmpstr(a.log->str, ==, "NO CANNOT,OK,");
	sent = scripted_sent("a3 NOOP\r\n");
	g_assert_nonnull(strstr(sent, "a1 UID STORE 7 +FLAGS.SILENT (\\Seen)"
				"\r\na2 UID STORE 8"));
	g_free(sent);
	imap_session_close(&session);
	g_string_free(a.log, TRUE);
	g_free(cfg.tunnel);
}

/* An answer that never comes is a lost one, not a silent success. */
static void test_pipelined_lost(void)
{
	struct imap_session_config cfg;
	struct imap_session *session = open_raw(
			"* PREAUTH [CAPABILITY IMAP4rev1] hi\r\n", 300, &cfg);
	struct answers a = { g_string_new(NULL) };
	struct imap_result result;

	g_assert_true(imap_session_send(session, imap_command_new(
				"UID STORE 7 +FLAGS.SILENT (\\Seen)"),
				note_answer, &a, &result));
	/* Nothing within the grace: still owed. */
	g_assert_false(imap_session_settle(session, 10));
	g_assert_cmpstr(a.log->str, ==, "");
	g_assert_false(imap_session_drain(session, &result));
	g_assert_cmpstr(a.log->str, ==, "SESSION,");
	g_assert_true(imap_session_is_dead(session));
	imap_session_close(&session);
	g_string_free(a.log, TRUE);
	g_free(cfg.tunnel);
}

/* APPEND streams the file with CRLF line ends as a synchronising
 * literal, and APPENDUID comes back. */
static void test_append(void)
{
	struct imap_session_config cfg;
	struct imap_session *session = open_raw(
			"* PREAUTH [CAPABILITY IMAP4rev1 UIDPLUS] hi\r\n"
			"+ go ahead\r\n"
			"a1 OK [APPENDUID 38505 3955] appended\r\n"
			"a2 NO [OVERQUOTA] full\r\n"
			"* BYE bye\r\na3 OK bye\r\n", 5000, &cfg);
	char path[] = "/tmp/test-session-append-XXXXXX";
	int fd = g_mkstemp(path);
	static const char *const flags[] = { "\\Seen", "$Work", NULL };
	struct imap_appenduid au;
	struct imap_result result;
	char *sent;

	g_assert_cmpint(fd, >=, 0);
	g_unlink(path);
	g_assert_cmpint(write(fd, "Subject: x\n\nbody\r\nend\n", 22), ==,
			22);
	if (!imap_append(session, "INBOX", fd, flags, &au, &result))
		g_error("%s", result.text);
	g_assert_cmpuint(au.uidvalidity, ==, 38505);
	g_assert_cmpuint(au.uid, ==, 3955);
	/* A refusal says why, in the errno it maps to. */
	g_assert_false(imap_append(session, "INBOX", fd, NULL, &au, &result));
	g_assert_cmpint(imap_result_errno(&result), ==, EDQUOT);
	g_assert_cmpuint(au.uid, ==, 0);
	/* NUL cannot travel in a literal: refused before anything is sent. */
	g_assert_cmpint(write(fd, "\0", 1), ==, 1);
	g_assert_false(imap_append(session, "INBOX", fd, NULL, &au, &result));
	g_assert_cmpint(imap_result_errno(&result), ==, EINVAL);
	close(fd);
	sent = scripted_sent("a2 APPEND \"INBOX\" {25}\r\n");
	g_assert_nonnull(strstr(sent, "a1 APPEND \"INBOX\" (\\Seen $Work) "
				"{25}\r\nSubject: x\r\n\r\nbody\r\nend\r\n"
				"\r\na2 APPEND"));
	g_assert_null(strstr(sent, "a3 APPEND"));
	g_free(sent);
	imap_session_close(&session);
	g_free(cfg.tunnel);
}

/* Over the server's APPENDLIMIT (RFC 7889): EFBIG, and nothing sent. */
static void test_append_limit(void)
{
	struct imap_session_config cfg;
	struct imap_session *session = open_raw(
			"* PREAUTH [CAPABILITY IMAP4rev1 APPENDLIMIT=24] hi\r\n"
			"a1 OK noop\r\n"
			"* BYE bye\r\na2 OK bye\r\n", 5000, &cfg);
	char path[] = "/tmp/test-session-limit-XXXXXX";
	int fd = g_mkstemp(path);
	struct imap_appenduid au;
	struct imap_result result;
	char *sent;

	g_assert_cmpint(fd, >=, 0);
	g_unlink(path);
	/* 22 bytes in the file, 25 once its line ends are CRLF. */
	g_assert_cmpint(write(fd, "Subject: x\n\nbody\r\nend\n", 22), ==,
			22);
	g_assert_cmpuint(imap_session_appendlimit(session), ==, 24);
	g_assert_false(imap_append(session, "INBOX", fd, NULL, &au, &result));
	g_assert_cmpint(imap_result_errno(&result), ==, EFBIG);
	close(fd);
	g_assert_true(imap_session_run(session, imap_command_new("NOOP"),
				NULL, &result));
	sent = scripted_sent("a1 NOOP\r\n");
	g_assert_null(strstr(sent, "APPEND"));
	g_free(sent);
	imap_session_close(&session);
	g_free(cfg.tunnel);
}

/* MOVE's COPYUID comes in an untagged OK (RFC 6851 §4.3), and a long one
 * is read in full, not cut where the text of a result is. */
static void test_move_copyuid(void)
{
	struct imap_session_config cfg;
	GString *script = g_string_new(
			"* PREAUTH [CAPABILITY IMAP4rev1 UIDPLUS MOVE] hi\r\n"
			"* OK [COPYUID 99 ");
	GArray *uids = g_array_new(FALSE, FALSE, sizeof(uint32_t));
	struct imap_session *session;
	struct imap_copyuid cu;
	struct imap_result result;

	/* 300 UIDs, none next to another: a long set. */
	for (uint32_t i = 0; i < 300; i++) {
		uint32_t uid = 10 + 2 * i;

		g_array_append_val(uids, uid);
		g_string_append_printf(script, "%s%u", i ? "," : "", uid);
	}
	g_string_append(script, " 1001:1300] moved\r\n"
			"a1 OK done\r\n* BYE bye\r\na2 OK bye\r\n");
	session = open_raw(script->str, 5000, &cfg);
	imap_copyuid_init(&cu);
	g_assert_true(imap_uid_copy(session, (uint32_t *)(void *)uids->data,
				uids->len, "Archive", true, &cu, &result));
	g_assert_cmpuint(cu.uidvalidity, ==, 99);
	g_assert_cmpuint(cu.source->len, ==, 300);
	g_assert_cmpuint(imap_copyuid_lookup(&cu, 10), ==, 1001);
	g_assert_cmpuint(imap_copyuid_lookup(&cu, 10 + 2 * 299), ==, 1300);
	g_assert_cmpuint(imap_copyuid_lookup(&cu, 11), ==, 0);
	imap_copyuid_clear(&cu);
	g_free(scripted_sent(" \"Archive\"\r\n"));
	imap_session_close(&session);
	g_array_unref(uids);
	g_string_free(script, TRUE);
	g_free(cfg.tunnel);
}

static void record_expunged(void *ctx, const char *mailbox,
		uint32_t uidvalidity, uint32_t uid)
{
	(void)mailbox;
	(void)uidvalidity;
	g_array_append_val((GArray *)ctx, uid);
}

/* With QRESYNC the server reports expunges by UID (RFC 7162 §3.2.10):
 * VANISHED counts like EXPUNGE, VANISHED (EARLIER) only answers a
 * command, and neither is believed beyond the messages there are. */
static void test_vanished(void)
{
	struct imap_session_config cfg;
	GArray *gone = g_array_new(FALSE, FALSE, sizeof(uint32_t));
	const struct imap_session_events events = {
		.expunged = record_expunged,
		.ctx = gone,
	};
	struct imap_session *session = scripted_open(
			"* PREAUTH [CAPABILITY IMAP4rev1] hi\r\n"
			"* 6 EXISTS\r\n" UV
			"a1 OK [READ-ONLY] Examine completed\r\n"
			"* VANISHED 3,5:6\r\n"
			"* VANISHED (EARLIER) 1:2000\r\n"
			"a2 OK noop\r\n"
			"* VANISHED 1:1000000\r\n"
			"a3 OK noop\r\n"
			"* BYE bye\r\na4 OK bye\r\n", 5000, &cfg, &events);
	struct imap_result result;

	g_assert_true(imap_session_select(session, "Box", true, &result));
	g_assert_cmpuint(imap_session_selected(session)->exists, ==, 6);
	g_assert_true(imap_session_run(session, imap_command_new("NOOP"),
				NULL, &result));
	g_assert_cmpuint(imap_session_selected(session)->exists, ==, 3);
	g_assert_cmpuint(gone->len, ==, 3);
	g_assert_cmpuint(g_array_index(gone, uint32_t, 0), ==, 3);
	g_assert_cmpuint(g_array_index(gone, uint32_t, 2), ==, 6);
	/* More than there are: not believed, one by one or in the count. */
	g_assert_true(imap_session_run(session, imap_command_new("NOOP"),
				NULL, &result));
	g_assert_cmpuint(imap_session_selected(session)->exists, ==, 3);
	g_assert_cmpuint(gone->len, ==, 3);
	g_assert_false(imap_session_is_dead(session));
	imap_session_close(&session);
	g_array_unref(gone);
	g_free(cfg.tunnel);
}

int main(int argc, char **argv)
{
	int rc;

	g_test_init(&argc, &argv, NULL);
	scripted_init("session");
	g_test_add_func("/session/mailboxid", test_mailboxid);
	g_test_add_func("/session/mailboxid-without-objectid",
			test_mailboxid_without_objectid);
	g_test_add_func("/session/pipelined", test_pipelined);
	g_test_add_func("/session/pipelined-lost", test_pipelined_lost);
	g_test_add_func("/session/append", test_append);
	g_test_add_func("/session/append-limit", test_append_limit);
	g_test_add_func("/session/move-copyuid", test_move_copyuid);
	g_test_add_func("/session/vanished", test_vanished);
	rc = g_test_run();
	scripted_cleanup();
	return rc;
}
