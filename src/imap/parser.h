/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * IMAP response parser: bytes in, responses out, no I/O.
 *
 * The parser is resumable: it keeps all of its state in the parser object, so
 * input may arrive in pieces of any size (down to one byte).  It treats the
 * server as hostile: every line, list depth and literal is bounded, and any
 * violation is a fatal error for the stream (the caller must drop the
 * connection, because there is no reliable way to resynchronise).
 *
 * Literals are either kept in memory (small ones: mailbox names, LOGIN
 * replies) or streamed to the caller in chunks as they arrive (message
 * bodies), so that a 50 MB message never sits in a heap buffer.
 */
#ifndef IMAPFS_IMAP_PARSER_H
#define IMAPFS_IMAP_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum imap_arg_type {
	IMAP_ARG_EOL = 0,	/* end sentinel of every argument array */
	IMAP_ARG_NIL,
	IMAP_ARG_ATOM,		/* includes flags (\Seen) and BODY[...]<n> */
	IMAP_ARG_STRING,	/* quoted string, escapes removed */
	IMAP_ARG_LITERAL,	/* literal kept in memory */
	IMAP_ARG_LIST,
	IMAP_ARG_STREAMED,	/* literal handed to the literal callbacks */
};

struct imap_arg {
	enum imap_arg_type type;
	/* literal8 (~{n}): may hold any byte */
	bool binary;
	union {
		/* ATOM, STRING, LITERAL: data[len] == '\0'; data may hold NULs
		 * only for literals (check len against strlen) */
		struct {
			const char *data;
			size_t len;
		} str;
		/* items[count].type == IMAP_ARG_EOL */
		struct {
			const struct imap_arg *items;
			size_t count;
		} list;
		uint64_t streamed_size;
	} u;
};

enum imap_response_kind {
	IMAP_RESPONSE_UNTAGGED,
	IMAP_RESPONSE_TAGGED,
	IMAP_RESPONSE_CONTINUATION,
};

enum imap_status {
	IMAP_STATUS_NONE = 0,	/* a data response: see name/args */
	IMAP_STATUS_OK,
	IMAP_STATUS_NO,
	IMAP_STATUS_BAD,
	IMAP_STATUS_PREAUTH,
	IMAP_STATUS_BYE,
};

/*
 * One complete response.  All pointers are owned by the parser and stay
 * valid until the next call of imap_parser_feed() or imap_parser_reset().
 */
struct imap_response {
	enum imap_response_kind kind;
	const char *tag;		/* TAGGED only */
	enum imap_status status;	/* TAGGED always; UNTAGGED status
					 * responses (OK/NO/BAD/PREAUTH/BYE) */
	bool has_number;		/* "* 23 EXISTS", "* 5 FETCH (...)" */
	uint32_t number;
	const char *name;		/* data responses: upper-cased keyword
					 * ("EXISTS", "FETCH", "LIST", ...);
					 * NULL for status and continuation */
	const struct imap_arg *args;	/* data responses: EOL-terminated;
					 * otherwise an empty array */
	const char *code;		/* "[UIDVALIDITY 3]" -> "UIDVALIDITY"
					 * (upper-cased); NULL when absent */
	const struct imap_arg *code_args; /* EOL-terminated, never NULL;
					   * empty if the code had no
					   * arguments or they did not
					   * tokenize */
	const char *code_raw;		/* bytes between the code name and
					 * ']' (without the separating
					 * space), or "" */
	const char *text;		/* status and continuation responses:
					 * the human-readable rest of the
					 * line (may be ""); else "" */
};

struct imap_parser_limits {
	size_t max_line;		/* non-literal bytes of one response */
	unsigned max_depth;		/* parenthesised list nesting */
	uint64_t max_inline_literal;	/* one literal kept in memory */
	uint64_t max_inline_total;	/* all inline literals of a response */
	uint64_t max_streamed_literal;	/* one streamed literal */
};

/* Defaults that are generous for real servers and small for an attacker. */
void imap_parser_limits_default(struct imap_parser_limits *limits);

/* What the parser knows when it meets a literal header "{n}". */
struct imap_literal_info {
	enum imap_response_kind kind;
	bool has_number;
	uint32_t number;
	const char *name;	/* keyword of the response so far, or NULL */
	const char *key;	/* the atom just before the literal in the same
				 * list, upper-cased (e.g. "BODY[]"), or NULL */
	unsigned depth;		/* list depth of the literal */
	uint64_t size;
	bool binary;		/* ~{n} */
};

enum imap_literal_action {
	IMAP_LITERAL_INLINE,	/* keep in memory (bounded by the limits) */
	IMAP_LITERAL_STREAM,	/* deliver through literal_data */
	IMAP_LITERAL_REJECT,	/* fatal parse error */
};

struct imap_parser_callbacks {
	/* NULL means: inline everything within the limits. */
	enum imap_literal_action (*literal_begin)(void *ctx,
			const struct imap_literal_info *info);
	/* Chunks point into the caller's input buffer; called zero or more
	 * times, then literal_end exactly once (also for size 0). */
	void (*literal_data)(void *ctx, const void *data, size_t len);
	void (*literal_end)(void *ctx);
};

enum imap_parse_result {
	IMAP_PARSE_NEED_MORE,	/* all input consumed, response incomplete */
	IMAP_PARSE_RESPONSE,	/* a response is complete */
	IMAP_PARSE_ERROR,	/* fatal; see imap_parser_error() */
};

struct imap_parser;

struct imap_parser *imap_parser_new(const struct imap_parser_limits *limits,
		const struct imap_parser_callbacks *callbacks, void *ctx);
void imap_parser_free(struct imap_parser **parser);

/* Forget everything, including a half-parsed response (used after
 * STARTTLS, where nothing received before the handshake may be trusted). */
void imap_parser_reset(struct imap_parser *parser);

/*
 * Consume input.  Stops right after the end of one complete response
 * (returns IMAP_PARSE_RESPONSE), when the input is used up
 * (IMAP_PARSE_NEED_MORE) or at the first error (IMAP_PARSE_ERROR).
 * *consumed is set to the number of bytes used in every case.  After an
 * error the parser stays in the error state until reset.
 */
enum imap_parse_result imap_parser_feed(struct imap_parser *parser,
		const void *data, size_t len, size_t *consumed);

/* The response completed by the last feed that returned
 * IMAP_PARSE_RESPONSE. */
const struct imap_response *imap_parser_response(
		const struct imap_parser *parser);

/* A one-line description of the last error, for logs; never NULL. */
const char *imap_parser_error(const struct imap_parser *parser);

/*
 * A FLAGS list (RFC 3501 §7.4.2) as C strings: every item that can name a
 * flag, as the server wrote it (atom, NIL, quoted string or literal), in
 * names[0..count), NULL after them; skipped counts the items no flag can
 * be (lists, empty strings, literals holding NUL).  The names point into
 * the response, which must outlive the list.
 */
#define IMAP_FLAG_LIST_INLINE 16
struct imap_flag_list {
	const char **names;
	size_t count;
	size_t skipped;
	const char *inline_names[IMAP_FLAG_LIST_INLINE + 1];
};

/* From the items of a list argument; clear it after use. */
void imap_flag_list_init(struct imap_flag_list *list,
		const struct imap_arg *items);
/* From names already C strings (NULL-terminated; none skipped). */
void imap_flag_list_init_names(struct imap_flag_list *list,
		const char *const *names, size_t count);
void imap_flag_list_clear(struct imap_flag_list *list);

/* Typed accessors.  Each returns false when the argument has another type
 * or does not fit; the result must be checked. */
bool imap_arg_is_eol(const struct imap_arg *arg);
bool imap_arg_get_atom(const struct imap_arg *arg, const char **atom_r);
/* atom, quoted string or NUL-free literal */
bool imap_arg_get_astring(const struct imap_arg *arg, const char **str_r);
/* as astring, or NIL (then *str_r = NULL) */
bool imap_arg_get_nstring(const struct imap_arg *arg, const char **str_r);
/* quoted string or literal (not atom); bytes may include NUL */
bool imap_arg_get_string_len(const struct imap_arg *arg, const char **data_r,
		size_t *len_r);
bool imap_arg_get_list(const struct imap_arg *arg,
		const struct imap_arg **items_r, size_t *count_r);
/* atom of decimal digits only, no sign, no overflow */
bool imap_arg_get_uint32(const struct imap_arg *arg, uint32_t *value_r);
bool imap_arg_get_uint64(const struct imap_arg *arg, uint64_t *value_r);
/* atom equal to the given keyword, ASCII case-insensitive */
bool imap_arg_atom_equals(const struct imap_arg *arg, const char *keyword);

#endif
