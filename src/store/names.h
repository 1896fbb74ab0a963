/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Mailbox names <-> directory names.
 *
 * The server's raw name is the ground truth.  It is split on the hierarchy
 * delimiter, and each part is shown as a file name that is valid UTF-8,
 * never contains '/', is never "." or "..", never looks like a message file
 * ("4711.eml"), and can be turned back into exactly the same raw bytes.
 *
 * An escape is '%' and two upper-case hex digits ("%2F"); it stands for one
 * raw byte of the server name, inserted as it is, not encoded.  A '%' not
 * followed by two such digits is text, like everything else between escapes,
 * which is encoded (modified UTF-7, or UTF-8 after UTF8=ACCEPT) to give the
 * raw bytes.  So a '%' of the name is shown as "%25" only where what is shown
 * after it would make it read as an escape ("%41" is shown "%2541", "100%"
 * and "a%2f" as they are).  "%00" would stand for NUL, which no name can
 * hold, so it is never accepted.  An empty part is shown as "%", and a part
 * that is just "%" as "%25".
 */
#ifndef IMAPFS_STORE_NAMES_H
#define IMAPFS_STORE_NAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum names_charset {
	NAMES_MUTF7,	/* RFC 3501 modified UTF-7 */
	NAMES_UTF8,	/* UTF8=ACCEPT enabled */
};

/* Raw part (no delimiter inside) -> file name; g_malloc'd, never NULL. */
char *names_part_to_display(const char *raw, size_t len,
		enum names_charset charset);

/* File name -> raw part; g_malloc'd, or NULL if the name is not a valid
 * shown name ("%00", '/', "", "." or "..", invalid UTF-8, or text that
 * cannot be encoded).  Some names that are never shown are accepted too:
 * "%41" gives "A" (shown "A"), "a%25b" gives "a%b" (shown "a%b"). */
char *names_display_to_part(const char *display, enum names_charset charset);

/* Split a raw mailbox name on delim ('\0': a flat namespace, one part).
 * Returns a NULL-terminated g_strfreev()-able vector. */
char **names_split(const char *raw, char delim);

/* "4711.eml" -> true and *uid_r = 4711 (no sign, no leading zero, 1 to
 * 4294967295). */
bool names_parse_message_file(const char *name, uint32_t *uid_r);

/* 4711 -> "4711.eml" into buf (at least NAMES_MESSAGE_FILE_MAX bytes). */
#define NAMES_MESSAGE_FILE_MAX 16
void names_format_message_file(uint32_t uid, char *buf);

#endif
