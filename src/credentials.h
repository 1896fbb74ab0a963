/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Where passwords come from: a file, a command, or the terminal.
 *
 * Secrets are plain NUL-terminated strings allocated by these functions;
 * release them with credentials_secret_free(), which wipes them first.
 * Nothing here logs a secret or puts it in a child's argv or environment.
 */
#ifndef IMAPFS_CREDENTIALS_H
#define IMAPFS_CREDENTIALS_H

#include <glib.h>

#define CREDENTIALS_ERROR (credentials_error_quark())
GQuark credentials_error_quark(void);

enum credentials_error {
	CREDENTIALS_ERROR_FILE,		/* unreadable, or too open */
	CREDENTIALS_ERROR_COMMAND,	/* failed, or printed nothing */
	CREDENTIALS_ERROR_NO_TERMINAL,
	CREDENTIALS_ERROR_EMPTY,
};

/* First line of path, without its line end.  Refused when the file is
 * accessible to group or others (mode & 077), as ssh does for keys. */
char *credentials_read_passfile(const char *path, GError **error);

/* How long a password command may take: it may run pinentry and wait for
 * the user to type. */
#define CREDENTIALS_PASSCMD_TIMEOUT_MS	(120 * 1000)

/*
 * Run "/bin/sh -c command" in workdir (NULL: ours), with /dev/null as its
 * stdin, in our process group (so pinentry can still use the terminal),
 * and take the first line of its standard output.  Fails if the command
 * exits non-zero or prints no line, prints more than 64 KiB, or has not
 * finished within timeout_ms (it is then killed).  Once the command has
 * exited, only what it wrote counts: a background process it left holding
 * its output is not waited for.
 */
char *credentials_run_passcmd(const char *command, const char *workdir,
		int timeout_ms, GError **error);

/* Ask on the controlling terminal (/dev/tty) with echo off. */
char *credentials_prompt(const char *prompt, GError **error);

void credentials_secret_free(char *secret);

#endif
