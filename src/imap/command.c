/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "imap/command.h"

#include <stdarg.h>
#include <string.h>

struct imap_command {
	GArray *parts;		/* struct imap_command_part */
};

static struct imap_command_part *command_text_part(struct imap_command *cmd,
		bool secret)
{
	struct imap_command_part *last = NULL;
	struct imap_command_part part;

	if (cmd->parts->len > 0)
		last = &g_array_index(cmd->parts, struct imap_command_part,
				cmd->parts->len - 1);
	if (last && last->kind == IMAP_PART_TEXT && last->secret == secret)
		return last;
	part.kind = IMAP_PART_TEXT;
	part.data = g_string_new(NULL);
	part.secret = secret;
	g_array_append_val(cmd->parts, part);
	return &g_array_index(cmd->parts, struct imap_command_part,
			cmd->parts->len - 1);
}

struct imap_command *imap_command_new(const char *fmt, ...)
{
	struct imap_command *cmd = g_new0(struct imap_command, 1);
	va_list ap;

	cmd->parts = g_array_new(FALSE, FALSE,
			sizeof(struct imap_command_part));
	va_start(ap, fmt);
	g_string_append_vprintf(command_text_part(cmd, false)->data, fmt, ap);
	va_end(ap);
	return cmd;
}

void imap_command_free(struct imap_command **cmd)
{
	if (!*cmd)
		return;
	for (guint i = 0; i < (*cmd)->parts->len; i++) {
		struct imap_command_part *part = &g_array_index(
				(*cmd)->parts, struct imap_command_part, i);

		if (part->secret)
			memset(part->data->str, 0, part->data->len);
		g_string_free(part->data, TRUE);
	}
	g_array_free((*cmd)->parts, TRUE);
	g_free(*cmd);
	*cmd = NULL;
}

void imap_command_append(struct imap_command *cmd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	g_string_append_vprintf(command_text_part(cmd, false)->data, fmt, ap);
	va_end(ap);
}

bool imap_quote_string(GString *out, const char *str, size_t len, bool utf8)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)str[i];

		if (c == '\0' || c == '\r' || c == '\n')
			return false;
		if (c >= 0x80 && !utf8)
			return false;
	}
	g_string_append_c(out, '"');
	for (size_t i = 0; i < len; i++) {
		if (str[i] == '"' || str[i] == '\\')
			g_string_append_c(out, '\\');
		g_string_append_c(out, str[i]);
	}
	g_string_append_c(out, '"');
	return true;
}

void imap_command_append_string(struct imap_command *cmd, const char *str,
		size_t len, bool utf8, bool secret)
{
	struct imap_command_part *text;
	struct imap_command_part part;

	g_string_append_c(command_text_part(cmd, false)->data, ' ');
	text = command_text_part(cmd, secret);
	if (imap_quote_string(text->data, str, len, utf8))
		return;
	/* The "{n}" header goes with the text before it; the session sends
	 * the literal's bytes once the server has said it may. */
	g_string_append_printf(command_text_part(cmd, false)->data,
			"{%zu}", len);
	part.kind = IMAP_PART_LITERAL;
	part.data = g_string_new_len(str, (gssize)len);
	part.secret = secret;
	g_array_append_val(cmd->parts, part);
}

void imap_command_append_secret_atom(struct imap_command *cmd,
		const char *text)
{
	g_string_append_c(command_text_part(cmd, false)->data, ' ');
	g_string_append(command_text_part(cmd, true)->data, text);
}

size_t imap_command_part_count(const struct imap_command *cmd)
{
	return cmd->parts->len;
}

const struct imap_command_part *imap_command_part(
		const struct imap_command *cmd, size_t i)
{
	return &g_array_index(cmd->parts, struct imap_command_part, i);
}
