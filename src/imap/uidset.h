/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * UID sets on the wire (RFC 3501 §9 sequence-set, UIDs only): written as
 * ranges, in commands of bounded length, and read from COPYUID and
 * APPENDUID (RFC 4315 §3) in full.  Pure: text in, numbers out.
 */
#ifndef IMAPFS_IMAP_UIDSET_H
#define IMAPFS_IMAP_UIDSET_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Command lines stay well under the 8 KB some servers allow. */
#define IMAP_UIDSET_MAX_TEXT 4000

/*
 * Append uids (ascending, no repeats, none 0) to out as ranges ("1:3,7"),
 * as many as fit in max_text bytes, at least one.  Returns how many were
 * written; a caller with more sends them in another command.
 */
size_t imap_uidset_format(GString *out, const uint32_t *uids, size_t count,
		size_t max_text);

/*
 * "1:3,7" -> 1 2 3 7 appended to uids (uint32_t), in the order written (a
 * range "5:3" means 3 4 5, RFC 3501 §9; COPYUID pairs the two sets in that
 * order, RFC 4315 §3).  false, uids as they were, when the text is not a
 * set of UIDs, holds "*", or would give more than max_count numbers.
 */
bool imap_uidset_parse(const char *text, size_t len, GArray *uids,
		size_t max_count);

/* A range of UIDs, first <= last. */
struct imap_uid_range {
	uint32_t first, last;
};

/*
 * "1:3,7" -> {1, 3} {7, 7} appended to ranges (struct imap_uid_range), in
 * the order written, unexpanded: for sets that may name far more UIDs
 * than exist (VANISHED (EARLIER), RFC 7162 §3.2.10).  false, ranges as
 * they were, under the same conditions as imap_uidset_parse().
 */
bool imap_uidset_parse_ranges(const char *text, size_t len, GArray *ranges);

#endif
