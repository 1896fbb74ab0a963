/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Helpers shared by the unit test programs. */
#ifndef IMAPFS_TESTUTIL_H
#define IMAPFS_TESTUTIL_H

#include <glib.h>

/* Report one bad row of a table and let the other rows run. */
void fail(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

#endif
