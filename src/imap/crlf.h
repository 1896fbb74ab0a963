/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Line ends for APPEND: a message goes to the server with CRLF line ends
 * (RFC 5322 §2.3, RFC 3501 §6.3.11), whatever the file it comes from has.
 * A bare LF becomes CRLF; CRLF and a bare CR stay as they are, so a file
 * that already has CRLF line ends is sent byte for byte.  The literal's
 * length is announced before its bytes, so it is measured first, after
 * normalising (the conversion below gives exactly that many bytes).
 */
#ifndef IMAPFS_IMAP_CRLF_H
#define IMAPFS_IMAP_CRLF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct imap_crlf {
	bool after_cr;		/* the last byte seen was CR */
};

/* out must have room for 2 * len bytes; returns how many it got. */
size_t imap_crlf_convert(struct imap_crlf *state, const char *in, size_t len,
		char *out);

/* How many bytes the conversion of in adds (one per bare LF). */
size_t imap_crlf_extra(struct imap_crlf *state, const char *in, size_t len);

/* The length of the whole of fd, converted, and whether it holds a NUL
 * (which a literal cannot carry, RFC 3501 §4.3).  false with errno set
 * when reading fails. */
bool imap_crlf_measure_fd(int fd, uint64_t *length_r, bool *has_nul_r);

#endif
