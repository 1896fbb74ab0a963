/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

/* Written once at start-up, before any thread exists. */
static enum log_level log_max_level = LOG_LEVEL_WARNING;
static unsigned log_debug_areas;
static bool log_trace;
static bool log_to_syslog;

void log_set_verbosity(enum log_level max_level, unsigned debug_areas)
{
	log_max_level = max_level;
	log_debug_areas = debug_areas;
}

void log_set_trace(bool on)
{
	log_trace = on;
}

bool log_trace_enabled(void)
{
	return log_trace;
}

void log_use_syslog(void)
{
	openlog("imapfs", LOG_PID, LOG_DAEMON);
	log_to_syslog = true;
}

bool log_debug_enabled(unsigned area)
{
	return log_max_level >= LOG_LEVEL_DEBUG && (log_debug_areas & area);
}

/* The length of the valid UTF-8 sequence at p (at most len bytes), or 0.
 * g_utf8_validate_len() refuses overlong forms, surrogates and code points
 * above U+10FFFF, so what passes is one character a terminal will show as
 * such. */
static size_t utf8_sequence(const unsigned char *p, size_t len)
{
	size_t n;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4;
	else
		return 0;
	if (n > len || !g_utf8_validate_len((const char *)p, n, NULL))
		return 0;
	return n;
}

void log_escape(GString *out, const char *text, size_t len)
{
	const unsigned char *p = (const unsigned char *)text;
	size_t i = 0;

	while (i < len) {
		size_t n = 1;
		bool safe;

		if (p[i] < 0x80) {
			safe = p[i] >= 0x20 && p[i] != 0x7f;
		} else {
			n = utf8_sequence(p + i, len - i);
			/* U+0080..U+009F: terminals obey C1 controls (CSI
			 * is U+009B) in UTF-8 as they do ESC [. */
			safe = n > 0 && !(n == 2 && p[i] == 0xc2 &&
					p[i + 1] < 0xa0);
			if (n == 0)
				n = 1;
		}
		if (!safe) {
			for (size_t k = 0; k < n; k++)
				g_string_append_printf(out, "\\x%02x",
						p[i + k]);
		} else if (p[i] == '\\') {
			g_string_append(out, "\\\\");
		} else {
			g_string_append_len(out, text + i, (gssize)n);
		}
		i += n;
	}
}

/*
 * Everything logged passes through here, and much of it is the server's
 * text (alerts, NO and BYE texts, the trace): escaped, it cannot move the
 * cursor, retitle or reprogram the user's terminal, nor forge lines in
 * syslog.
 */
static void log_emit(enum log_level level, const char *text, size_t len)
{
	static const int syslog_priority[] = {
		[LOG_LEVEL_ERROR] = LOG_ERR,
		[LOG_LEVEL_WARNING] = LOG_WARNING,
		[LOG_LEVEL_INFO] = LOG_INFO,
		[LOG_LEVEL_DEBUG] = LOG_DEBUG,
	};
	GString *safe = g_string_sized_new(len + 16);

	log_escape(safe, text, len);
	if (log_to_syslog)
		syslog(syslog_priority[level], "%s", safe->str);
	else
		/* One fprintf per line keeps lines of different threads
		 * whole. */
		fprintf(stderr, "imapfs: %s\n", safe->str);
	g_string_free(safe, TRUE);
}

static void log_vmsg(enum log_level level, const char *fmt, va_list ap)
	G_GNUC_PRINTF(2, 0);

static void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	char *text = g_strdup_vprintf(fmt, ap);

	log_emit(level, text, strlen(text));
	g_free(text);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	if (level > log_max_level)
		return;
	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

void log_debug_area(unsigned area, const char *fmt, ...)
{
	va_list ap;

	if (!log_debug_enabled(area))
		return;
	va_start(ap, fmt);
	log_vmsg(LOG_LEVEL_DEBUG, fmt, ap);
	va_end(ap);
}

void log_trace_line(char direction, unsigned connection, const char *text,
		size_t len)
{
	GString *line;

	if (!log_trace)
		return;
	line = g_string_sized_new(len + 16);
	g_string_printf(line, "[%u] %c: ", connection, direction);
	/* Raw: log_emit() escapes, NULs included, as for any message. */
	g_string_append_len(line, text, (gssize)len);
	log_emit(LOG_LEVEL_INFO, line->str, line->len);
	g_string_free(line, TRUE);
}
