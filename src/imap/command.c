/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "imap/command.h"

#include <stdarg.h>
#include <string.h>

struct imap_command {
	GArray *parts;		/* struct imap_command_part */
};

/*
 * Secret bytes must never be in a block that g_realloc() gives back to the
 * heap unwiped (the password stays in memory for the life of the mount, and
 * stray copies of it should not).  So a GString that receives them is made
 * with room for exactly what it will hold, or grows here: into a new block,
 * the old one wiped before it is freed.
 */
static GString *string_new_exact(size_t size)
{
	GString *s = g_string_sized_new(0);

	g_free(s->str);
	s->str = g_malloc(size + 1);
	s->str[0] = '\0';
	s->allocated_len = size + 1;
	return s;
}

static void string_reserve_wiped(GString *s, size_t extra)
{
	size_t need = s->len + extra + 1;
	size_t size;
	char *block;

	if (need <= s->allocated_len)
		return;
	size = MAX(need, s->allocated_len * 2);
	block = g_malloc(size);
	memcpy(block, s->str, s->len + 1);
	explicit_bzero(s->str, s->allocated_len);
	g_free(s->str);
	s->str = block;
	s->allocated_len = size;
}

static struct imap_command_part *command_last_part(struct imap_command *cmd)
{
	if (cmd->parts->len == 0)
		return NULL;
	return &g_array_index(cmd->parts, struct imap_command_part,
			cmd->parts->len - 1);
}

static struct imap_command_part *command_add_part(struct imap_command *cmd,
		enum imap_command_part_kind kind, GString *data, bool secret)
{
	struct imap_command_part part = {
		.kind = kind,
		.data = data,
		.secret = secret,
		.fd = -1,
	};

	g_array_append_val(cmd->parts, part);
	return command_last_part(cmd);
}

static GString *command_text(struct imap_command *cmd)
{
	struct imap_command_part *last = command_last_part(cmd);

	if (last && last->kind == IMAP_PART_TEXT && !last->secret)
		return last->data;
	return command_add_part(cmd, IMAP_PART_TEXT, g_string_new(NULL),
			false)->data;
}

/* A secret text part with room for size more bytes, sized before any
 * secret byte is written to it. */
static GString *command_secret_text(struct imap_command *cmd, size_t size)
{
	struct imap_command_part *last = command_last_part(cmd);

	if (last && last->kind == IMAP_PART_TEXT && last->secret) {
		string_reserve_wiped(last->data, size);
		return last->data;
	}
	return command_add_part(cmd, IMAP_PART_TEXT, string_new_exact(size),
			true)->data;
}

struct imap_command *imap_command_new(const char *fmt, ...)
{
	struct imap_command *cmd = g_new0(struct imap_command, 1);
	va_list ap;

	cmd->parts = g_array_new(FALSE, FALSE,
			sizeof(struct imap_command_part));
	va_start(ap, fmt);
	g_string_append_vprintf(command_text(cmd), fmt, ap);
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
			explicit_bzero(part->data->str, part->data->len);
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
	g_string_append_vprintf(command_text(cmd), fmt, ap);
	va_end(ap);
}

/* The length of str as a quoted string (RFC 9051 §4.3), or 0 when it needs
 * a literal. */
static size_t quoted_length(const char *str, size_t len, bool utf8)
{
	size_t quoted = len + 2;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)str[i];

		if (c == '\0' || c == '\r' || c == '\n')
			return 0;
		if (c >= 0x80 && !utf8)
			return 0;
		if (c == '"' || c == '\\')
			quoted++;
	}
	return quoted;
}

static void quote_into(GString *out, const char *str, size_t len)
{
	char *p = out->str + out->len;

	*p++ = '"';
	for (size_t i = 0; i < len; i++) {
		if (str[i] == '"' || str[i] == '\\')
			*p++ = '\\';
		*p++ = str[i];
	}
	*p++ = '"';
	*p = '\0';
	out->len = (gsize)(p - out->str);
}

bool imap_quote_string(GString *out, const char *str, size_t len, bool utf8)
{
	size_t quoted = quoted_length(str, len, utf8);

	if (quoted == 0)
		return false;
	string_reserve_wiped(out, quoted);
	quote_into(out, str, len);
	return true;
}

void imap_command_append_string(struct imap_command *cmd, const char *str,
		size_t len, bool utf8, bool secret)
{
	size_t quoted = quoted_length(str, len, utf8);
	GString *literal;
	char header[32];
	int hlen;

	g_string_append_c(command_text(cmd), ' ');
	if (quoted > 0) {
		if (secret)
			imap_quote_string(command_secret_text(cmd, quoted),
					str, len, utf8);
		else
			imap_quote_string(command_text(cmd), str, len, utf8);
		return;
	}
	/* The "{n}" header goes with the text before it; the session sends
	 * the literal's bytes once the server has said it may.  A secret's
	 * header is secret too: its length says much about a password. */
	hlen = g_snprintf(header, sizeof(header), "{%zu}", len);
	g_string_append_len(secret ? command_secret_text(cmd, (size_t)hlen) :
			command_text(cmd), header, hlen);
	literal = secret ? string_new_exact(len) : g_string_sized_new(len);
	if (len > 0)
		memcpy(literal->str, str, len);
	literal->str[len] = '\0';
	literal->len = len;
	command_add_part(cmd, IMAP_PART_LITERAL, literal, secret);
}

void imap_command_append_message(struct imap_command *cmd, int fd,
		uint64_t length)
{
	struct imap_command_part *part;

	g_string_append_printf(command_text(cmd), " {%" G_GUINT64_FORMAT "}",
			length);
	part = command_add_part(cmd, IMAP_PART_MESSAGE, g_string_new(NULL),
			false);
	part->fd = fd;
	part->length = length;
}

void imap_command_append_secret_atom(struct imap_command *cmd,
		const char *text)
{
	size_t len = strlen(text);

	g_string_append_c(command_text(cmd), ' ');
	g_string_append_len(command_secret_text(cmd, len), text, (gssize)len);
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

void imap_command_show_part(GString *shown, const struct imap_command *cmd,
		size_t i)
{
	const struct imap_command_part *part = imap_command_part(cmd, i);

	if (part->kind == IMAP_PART_MESSAGE)
		g_string_append_printf(shown, "<a message of %" G_GUINT64_FORMAT
				" bytes>", part->length);
	else if (part->kind == IMAP_PART_LITERAL && part->secret)
		g_string_append(shown, "<secret literal>");
	else if (part->kind == IMAP_PART_LITERAL)
		g_string_append_printf(shown, "<a literal of %zu bytes>",
				part->data->len);
	else if (part->secret)
		g_string_append(shown, "<redacted>");
	else
		g_string_append_len(shown, part->data->str,
				(gssize)part->data->len);
}
