/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
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

static void log_emit(enum log_level level, const char *text)
{
	static const int syslog_priority[] = {
		[LOG_LEVEL_ERROR] = LOG_ERR,
		[LOG_LEVEL_WARNING] = LOG_WARNING,
		[LOG_LEVEL_INFO] = LOG_INFO,
		[LOG_LEVEL_DEBUG] = LOG_DEBUG,
	};

	if (log_to_syslog) {
		syslog(syslog_priority[level], "%s", text);
		return;
	}
	/* One fprintf per line keeps lines of different threads whole. */
	fprintf(stderr, "imapfs: %s\n", text);
}

static void log_vmsg(enum log_level level, const char *fmt, va_list ap)
	G_GNUC_PRINTF(2, 0);

static void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	char *text = g_strdup_vprintf(fmt, ap);

	log_emit(level, text);
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
	/* Control bytes would garble terminals and syslog. */
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];

		if (c == '\r' || c == '\n')
			continue;
		if (c < 0x20 || c == 0x7f)
			g_string_append_printf(line, "\\x%02x", c);
		else
			g_string_append_c(line, (char)c);
	}
	log_emit(LOG_LEVEL_INFO, line->str);
	g_string_free(line, TRUE);
}
