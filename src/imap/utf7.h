/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Modified UTF-7 (RFC 3501 section 5.1.3), the charset of IMAP mailbox names
 * unless UTF8=ACCEPT is enabled.
 */
#ifndef IMAPFS_IMAP_UTF7_H
#define IMAPFS_IMAP_UTF7_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Decode len bytes of modified UTF-7 into a newly allocated (g_malloc)
 * NUL-terminated UTF-8 string.  Returns NULL unless the input is valid
 * *and canonical*, i.e. imap_utf7_encode() of the result gives back exactly
 * the input: only then can a name shown to the user be turned back into the
 * very same server name.
 */
char *imap_utf7_decode(const char *in, size_t len);

/*
 * Encode len bytes of UTF-8 into a newly allocated modified UTF-7 string.
 * Returns NULL when the input is not valid UTF-8 or contains U+0000.
 */
char *imap_utf7_encode(const char *in, size_t len);

#endif
