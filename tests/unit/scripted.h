/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A scripted IMAP server for session tests: a tunnel command that prints
 * the whole conversation at once (PREAUTH, so that no command comes
 * before ours) and then copies what the session sends to a file, until
 * the session hangs up.  Commands are tagged a1, a2, ... in order, so the
 * script needs to read nothing; the session takes each answer from what
 * is buffered when it gets there.
 */
#ifndef IMAPFS_TEST_SCRIPTED_H
#define IMAPFS_TEST_SCRIPTED_H

#include "imap/session.h"

/* Before the tests, and after them (removes what they left). */
void scripted_init(const char *program);
void scripted_cleanup(void);

/* A session whose server prints script; free cfg->tunnel after closing. */
struct imap_session *scripted_open(const char *script, int timeout_ms,
		struct imap_session_config *cfg,
		const struct imap_session_events *events);

/* What the session sent, once the server has copied up to `until` (the
 * copy runs beside us: waits for it, up to 5 s, then fails the test). */
char *scripted_sent(const char *until);

#endif
