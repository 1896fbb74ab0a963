/* SPDX-License-Identifier: GPL-2.0-or-later */
/* INTERNALDATE ("17-Jul-1996 02:44:25 -0700") and RFC 3339 output. */
#ifndef IMAPFS_IMAP_DATETIME_H
#define IMAPFS_IMAP_DATETIME_H

#include <stdbool.h>
#include <stdint.h>

/* Seconds since the epoch (UTC) and the zone offset east of UTC in
 * minutes, as the server wrote it. */
bool imap_parse_internaldate(const char *text, int64_t *epoch_r,
		int *zone_minutes_r);

/* "1996-07-17T02:44:25-07:00" (the server's zone kept); buf >= IMAP_RFC3339_MAX. */
#define IMAP_RFC3339_MAX 64
void imap_format_rfc3339(int64_t epoch, int zone_minutes, char *buf);

#endif
