/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "scripted.h"

#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>

static char *tmpdir;

void scripted_init(const char *program)
{
	char *template = g_strdup_printf("imapfs-test-%s-XXXXXX", program);

	tmpdir = g_dir_make_tmp(template, NULL);
	g_assert_nonnull(tmpdir);
	g_free(template);
}

void scripted_cleanup(void)
{
	static const char *const names[] = { "script", "sent" };

	for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
		char *path = g_build_filename(tmpdir, names[i], NULL);

		g_unlink(path);
		g_free(path);
	}
	g_rmdir(tmpdir);
	g_clear_pointer(&tmpdir, g_free);
}

struct imap_session *scripted_open(const char *script, int timeout_ms,
		struct imap_session_config *cfg,
		const struct imap_session_events *events)
{
	char *path = g_build_filename(tmpdir, "script", NULL);
	char *sent = g_build_filename(tmpdir, "sent", NULL);
	char *quoted = g_shell_quote(path), *quoted_sent = g_shell_quote(sent);
	GError *error = NULL;
	struct imap_session *session;

	g_assert_true(g_file_set_contents(path, script, -1, NULL));
	/* Not a stale copy from the test before: scripted_sent() polls it. */
	g_unlink(sent);
	memset(cfg, 0, sizeof(*cfg));
	cfg->security = IMAP_SECURITY_NONE;
	cfg->tunnel = g_strdup_printf("cat %s && exec cat >%s", quoted,
			quoted_sent);
	cfg->timeout_ms = timeout_ms;
	session = imap_session_open(cfg, 1, events, &error);
	g_assert_no_error(error);
	g_assert_nonnull(session);
	g_free(quoted);
	g_free(quoted_sent);
	g_free(path);
	g_free(sent);
	return session;
}

char *scripted_sent(const char *until)
{
	char *path = g_build_filename(tmpdir, "sent", NULL);
	gint64 end = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
	char *text = NULL;

	for (;;) {
		g_free(text);
		text = NULL;
		if (g_file_get_contents(path, &text, NULL, NULL) &&
				strstr(text, until))
			break;
		if (g_get_monotonic_time() >= end)
			g_error("never sent \"%s\"; sent so far:\n%s", until,
					text ? text : "(nothing)");
		g_usleep(1000);
	}
	g_free(path);
	return text;
}
