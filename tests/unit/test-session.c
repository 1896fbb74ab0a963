/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What a session learns about the selected mailbox, against a scripted
 * server: a tunnel command that prints the whole conversation at once
 * (PREAUTH, so that no command comes before ours) and then reads until
 * the session hangs up.  Commands are tagged a1, a2, ... in order, so the
 * script needs to read nothing; the session takes each answer from what
 * is buffered when it gets there.
 */
#include <stdio.h>
#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "imap/session.h"
#include "testutil.h"

#define CAPS_OBJECTID "IMAP4rev1 OBJECTID"
#define ID_EXAMPLE "F2212ea87-6097-4256-9d51-71338625"

static char *tmpdir;

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

static struct imap_session *open_scripted(const char *caps,
		const struct step *steps, size_t n,
		struct imap_session_config *cfg)
{
	GString *script = g_string_new(NULL);
	char *path, *quoted;
	GError *error = NULL;
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
	path = g_build_filename(tmpdir, "script", NULL);
	g_assert_true(g_file_set_contents(path, script->str,
				(gssize)script->len, NULL));
	quoted = g_shell_quote(path);

	memset(cfg, 0, sizeof(*cfg));
	cfg->security = IMAP_SECURITY_NONE;
	cfg->tunnel = g_strdup_printf("cat %s && exec cat >/dev/null",
			quoted);
	cfg->timeout_ms = 5000;
	session = imap_session_open(cfg, 1, NULL, &error);
	g_assert_no_error(error);
	g_assert_nonnull(session);
	g_free(quoted);
	g_free(path);
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

int main(int argc, char **argv)
{
	int rc;

	g_test_init(&argc, &argv, NULL);
	tmpdir = g_dir_make_tmp("imapfs-test-session-XXXXXX", NULL);
	g_assert_nonnull(tmpdir);
	g_test_add_func("/session/mailboxid", test_mailboxid);
	g_test_add_func("/session/mailboxid-without-objectid",
			test_mailboxid_without_objectid);
	rc = g_test_run();
	{
		char *path = g_build_filename(tmpdir, "script", NULL);

		g_unlink(path);
		g_free(path);
	}
	g_rmdir(tmpdir);
	g_free(tmpdir);
	return rc;
}
