/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Internals shared by parser.c (the state machine: segments, literals,
 * response headers), parser-tokenize.c (the tokenizer and the stack of open
 * lists it fills) and parser-args.c (the per-response arena and the
 * argument accessors).  Not for other modules.
 */
#ifndef IMAPFS_IMAP_PARSER_PRIVATE_H
#define IMAPFS_IMAP_PARSER_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <glib.h>

#include "parser.h"

struct imap_arena_block;

/* A bump allocator; its memory lives until imap_arena_clear(). */
struct imap_arena {
	struct imap_arena_block *head;	/* owned; being filled */
};

/* Never fails (g_malloc); the result is aligned for any type. */
void *imap_arena_alloc(struct imap_arena *arena, size_t size);
/* Release everything; with keep, one block stays for reuse. */
void imap_arena_clear(struct imap_arena *arena, bool keep);

/* len > 0 decimal digits, no sign, value <= max. */
bool imap_parse_uint(const char *s, size_t len, uint64_t max,
		uint64_t *value_r);

enum parser_state {
	STATE_LINE,		/* collecting a segment */
	STATE_LITERAL,		/* reading literal bytes */
	STATE_DONE,		/* resp is complete */
	STATE_ERROR,		/* fatal until reset */
};

/* The items of one open list; levels[0] holds the top-level arguments. */
struct arg_level {
	struct imap_arg *items;		/* owned */
	size_t count;
	size_t alloc;
};

struct imap_parser {
	struct imap_parser_limits limits;
	struct imap_parser_callbacks cb;
	void *ctx;			/* borrowed */

	enum parser_state state;
	bool cr_pending;
	bool header_done;		/* first segment parsed */

	char *seg;			/* owned; segment without line end */
	size_t seg_len;
	size_t seg_alloc;
	size_t line_total;		/* non-literal bytes so far */
	uint64_t inline_total;		/* inline literal bytes */

	struct arg_level *levels;	/* owned */
	size_t levels_alloc;
	unsigned depth;

	uint64_t lit_size;
	uint64_t lit_left;
	bool lit_binary;
	bool lit_stream;
	char *lit_buf;			/* inline literal, in the arena */

	struct imap_arena arena;
	struct imap_response resp;
	struct imap_arg empty_args[1];
	char error[160];
};

/* parser.c */

/* Record the error and enter STATE_ERROR; always returns -1. */
int parser_fail(struct imap_parser *p, const char *fmt, ...)
	G_GNUC_PRINTF(2, 3);
/* A NUL-terminated copy in the arena, optionally upper-cased. */
char *parser_strndup(struct imap_parser *p, const char *s, size_t len,
		bool upper);

/* parser-tokenize.c */

enum tok_result {
	TOK_END,
	TOK_LITERAL,
	TOK_FAIL,
};

/* Tokenize a segment into the open lists.  Returns TOK_LITERAL when it
 * ends with a literal header (p->lit_size and lit_binary are set). */
enum tok_result parser_tokenize(struct imap_parser *p, const char *s,
		size_t len, bool allow_literal);
/* Append to the innermost open list. */
void parser_push_arg(struct imap_parser *p, const struct imap_arg *arg);
/* The top-level arguments, EOL-terminated; valid until the next response
 * starts. */
const struct imap_arg *parser_finish_top(struct imap_parser *p);
/* Empty every level and close all lists; the arrays stay allocated. */
void parser_clear_levels(struct imap_parser *p);
/* Length of the run of atom bytes at the start of s. */
size_t parser_atom_run(const char *s, size_t len);

#endif
