/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "imap/crlf.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

size_t imap_crlf_convert(struct imap_crlf *state, const char *in, size_t len,
		char *out)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		if (in[i] == '\n' && !state->after_cr)
			out[n++] = '\r';
		out[n++] = in[i];
		state->after_cr = in[i] == '\r';
	}
	return n;
}

size_t imap_crlf_extra(struct imap_crlf *state, const char *in, size_t len)
{
	size_t extra = 0;

	for (size_t i = 0; i < len; i++) {
		if (in[i] == '\n' && !state->after_cr)
			extra++;
		state->after_cr = in[i] == '\r';
	}
	return extra;
}

bool imap_crlf_measure_fd(int fd, uint64_t *length_r, bool *has_nul_r)
{
	struct imap_crlf state = { 0 };
	char buf[64 * 1024];
	uint64_t length = 0;
	off_t pos = 0;

	*has_nul_r = false;
	for (;;) {
		ssize_t n = pread(fd, buf, sizeof(buf), pos);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return false;
		if (n == 0)
			break;
		if (memchr(buf, '\0', (size_t)n))
			*has_nul_r = true;
		length += (uint64_t)n +
			imap_crlf_extra(&state, buf, (size_t)n);
		pos += n;
	}
	*length_r = length;
	return true;
}
