/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "testutil.h"

#include <stdarg.h>

void fail(const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	g_test_message("%s", msg);
	g_test_fail();
	g_free(msg);
}
