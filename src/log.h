/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Logging: levels as syslog has them, debug output per area, and the IMAP
 * trace.  Messages go to stderr in the foreground and to syslog once the
 * daemon has detached.  Callers never pass secrets: redaction happens where
 * the secret is known (the session), not here.  Every message is escaped
 * on its way out (log_escape()), because much of it is the server's text.
 */
#ifndef IMAPFS_LOG_H
#define IMAPFS_LOG_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>

enum log_level {
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARNING,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

enum log_area {
	LOG_AREA_IMAP = 1 << 0,
	LOG_AREA_STORE = 1 << 1,
	LOG_AREA_CACHE = 1 << 2,
	LOG_AREA_FUSE = 1 << 3,
	LOG_AREA_ALL = 0xff,
};

void log_set_verbosity(enum log_level max_level, unsigned debug_areas);
void log_set_trace(bool on);
bool log_trace_enabled(void);
void log_use_syslog(void);

void log_msg(enum log_level level, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
void log_debug_area(unsigned area, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
bool log_debug_enabled(unsigned area);

/* One line of the IMAP dialogue: direction 'C' (sent) or 'S' (received),
 * connection number, the text (already redacted by the caller, and raw:
 * it is escaped like any message). */
void log_trace_line(char direction, unsigned connection, const char *text,
		size_t len);

/*
 * Append text[0..len) to out made safe for a terminal and for syslog:
 * C0 controls (CR, LF, TAB, ESC, BEL, NUL ...), DEL, C1 controls (U+0080 to
 * U+009F, which UTF-8 terminals obey) and bytes that are not valid UTF-8
 * become \xNN, one per byte, and a backslash becomes \\ so that the
 * escape cannot be forged.  Valid UTF-8 passes unchanged.
 */
void log_escape(GString *out, const char *text, size_t len);

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_LEVEL_WARNING, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(area, ...)                                            \
	do {                                                            \
		if (log_debug_enabled(area))                            \
			log_debug_area(area, __VA_ARGS__);              \
	} while (0)

#endif
