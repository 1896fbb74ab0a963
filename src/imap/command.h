/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Building IMAP command lines.
 *
 * A command is a sequence of text and literals.  Strings are quoted when
 * they can be and sent as literals when they cannot (CR, LF, NUL, or 8-bit
 * bytes without UTF8=ACCEPT), so that no server-supplied or user-supplied
 * text can ever break out of its argument.  Parts that carry secrets are
 * marked so that the trace shows "<redacted>" instead; a secret literal's
 * "{n}" header is such a part too, since the length of a password is
 * itself worth hiding.  Secret parts are allocated at their final size
 * before a secret byte is written, so that no reallocation leaves a copy
 * behind, and wiped when the command is freed.
 */
#ifndef IMAPFS_IMAP_COMMAND_H
#define IMAPFS_IMAP_COMMAND_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct imap_command;

enum imap_command_part_kind {
	IMAP_PART_TEXT,
	IMAP_PART_LITERAL,
	/* A message streamed from a file as a synchronising literal, with
	 * its line ends made CRLF (imap/crlf.h): never held in memory. */
	IMAP_PART_MESSAGE,
};

struct imap_command_part {
	enum imap_command_part_kind kind;
	GString *data;		/* TEXT, LITERAL; empty for MESSAGE */
	bool secret;
	int fd;			/* MESSAGE: borrowed, read with pread */
	uint64_t length;	/* MESSAGE: after CRLF normalisation */
};

/* Starts with the verb and any plain atoms ("UID FETCH 1:* (UID FLAGS)");
 * printf-style.  Never put unchecked text in the format's arguments: use
 * the append functions below. */
struct imap_command *imap_command_new(const char *fmt, ...)
	G_GNUC_PRINTF(1, 2);
void imap_command_free(struct imap_command **cmd);

void imap_command_append(struct imap_command *cmd, const char *fmt, ...)
	G_GNUC_PRINTF(2, 3);
/* " " + the string as a quoted string or a literal (never an atom, so an
 * empty string or "NIL" stays a string).  utf8 allows 8-bit bytes in a
 * quoted string (UTF8=ACCEPT). */
void imap_command_append_string(struct imap_command *cmd, const char *str,
		size_t len, bool utf8, bool secret);

/* " {length}" and, once the server is ready for it, the message in fd
 * (borrowed: it must stay open until the command has run), converted to
 * CRLF line ends; length is imap_crlf_measure_fd()'s. */
void imap_command_append_message(struct imap_command *cmd, int fd,
		uint64_t length);

/* " " + text that is itself valid on the wire (a base64 SASL response)
 * and must not show in traces. */
void imap_command_append_secret_atom(struct imap_command *cmd,
		const char *text);

size_t imap_command_part_count(const struct imap_command *cmd);
const struct imap_command_part *imap_command_part(
		const struct imap_command *cmd, size_t i);

/* What part i looks like in the trace: secret text as "<redacted>", a
 * literal as "<a literal of N bytes>" or (secret) "<secret literal>", which
 * says nothing of its length; other text as it is. */
void imap_command_show_part(GString *shown, const struct imap_command *cmd,
		size_t i);

/* Append a quoted string for str to out, or return false when str needs a
 * literal.  When out has to grow, its old block is wiped before it is
 * freed, so that out may hold secrets.  Exposed for unit tests. */
bool imap_quote_string(GString *out, const char *str, size_t len, bool utf8);

#endif
