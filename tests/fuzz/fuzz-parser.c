/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for the IMAP response parser.  The first input byte
 * picks a split position; the rest is server output.  It is fed three ways
 * (whole, split in two there, one byte at a time) through parsers that
 * stream literals whose key starts with BODY[ and keep the others inline.
 * Every argument of every response is walked with all the accessors, and
 * the three transcripts (responses, streamed bytes, errors, consumed
 * offsets) must be identical.  Besides "never crashes" this checks the
 * promises of parser.h: NUL-terminated strings, EOL-terminated lists,
 * streamed chunks pointing into the input, literal_end once per streamed
 * literal.
 *
 * The limits are small so that the fuzzer reaches them with short inputs.
 *
 * Build and run from the top of the source tree (needs clang and
 * libclang-rt-dev; CORPUS_DIR may start empty and collects what it finds;
 * a crash leaves crash-* files that reproduce with ./fuzz-parser FILE):
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Isrc \
 *       src/imap/parser.c src/imap/parser-tokenize.c \
 *       src/imap/parser-args.c tests/fuzz/fuzz-parser.c \
 *       $(pkg-config --cflags --libs glib-2.0) -o fuzz-parser
 *   mkdir -p CORPUS_DIR && ./fuzz-parser -max_total_time=60 CORPUS_DIR
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "imap/parser.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_ctx {
	GString *log;
	const uint8_t *in_start, *in_end;
	bool streaming;
	uint64_t streamed;	/* bytes of the current streamed literal */
	uint64_t expected;
	uint32_t hash;
};

static void check(bool cond)
{
	if (!cond)
		abort();
}

static void hash_bytes(uint32_t *h, const void *data, size_t len)
{
	const uint8_t *d = data;
	size_t i;

	for (i = 0; i < len; i++)
		*h = (*h ^ d[i]) * 16777619u;	/* FNV-1a */
}

static enum imap_literal_action fuzz_begin(void *c,
		const struct imap_literal_info *info)
{
	struct fuzz_ctx *ctx = c;
	bool stream;

	check(!ctx->streaming);
	check(info->key == NULL || strlen(info->key) > 0);
	stream = info->key != NULL && strncmp(info->key, "BODY[", 5) == 0;
	g_string_append_printf(ctx->log, "begin %s %s %u %" PRIu64 " %d %d\n",
			info->name != NULL ? info->name : "-",
			info->key != NULL ? info->key : "-", info->depth,
			info->size, info->binary, stream);
	if (stream) {
		ctx->streaming = true;
		ctx->streamed = 0;
		ctx->expected = info->size;
		ctx->hash = 2166136261u;
		return IMAP_LITERAL_STREAM;
	}
	return IMAP_LITERAL_INLINE;
}

static void fuzz_data(void *c, const void *data, size_t len)
{
	struct fuzz_ctx *ctx = c;
	const uint8_t *d = data;

	check(ctx->streaming);
	check(len > 0);
	check(d >= ctx->in_start && len <= (size_t)(ctx->in_end - d));
	ctx->streamed += len;
	check(ctx->streamed <= ctx->expected);
	hash_bytes(&ctx->hash, data, len);
}

static void fuzz_end(void *c)
{
	struct fuzz_ctx *ctx = c;

	check(ctx->streaming);
	check(ctx->streamed == ctx->expected);
	ctx->streaming = false;
	g_string_append_printf(ctx->log, "end %08x\n", ctx->hash);
}

static const struct imap_parser_callbacks fuzz_callbacks = {
	.literal_begin = fuzz_begin,
	.literal_data = fuzz_data,
	.literal_end = fuzz_end,
};

static void walk_args(GString *log, const struct imap_arg *args,
		unsigned depth);

static void walk_arg(GString *log, const struct imap_arg *arg,
		unsigned depth)
{
	const struct imap_arg *items;
	const char *s, *atom;
	size_t len, count;
	uint32_t u32;
	uint64_t u64;
	uint32_t h = 2166136261u;

	g_string_append_printf(log, " %d%s", arg->type,
			arg->binary ? "b" : "");
	if (imap_arg_get_atom(arg, &atom)) {
		check(arg->type == IMAP_ARG_ATOM);
		check(strlen(atom) == arg->u.str.len && arg->u.str.len > 0);
		check(imap_arg_atom_equals(arg, atom));
		g_string_append_printf(log, "a%s", atom);
	}
	if (imap_arg_get_astring(arg, &s)) {
		check(s != NULL && strlen(s) == arg->u.str.len);
		g_string_append_printf(log, "s%zu", strlen(s));
	}
	if (imap_arg_get_nstring(arg, &s))
		g_string_append_printf(log, "n%d", s == NULL);
	if (imap_arg_get_string_len(arg, &s, &len)) {
		check(s[len] == '\0');
		hash_bytes(&h, s, len);
		g_string_append_printf(log, "l%zu:%08x", len, h);
	}
	if (imap_arg_get_uint32(arg, &u32)) {
		check(imap_arg_get_uint64(arg, &u64) && u64 == u32);
		g_string_append_printf(log, "u%" PRIu32, u32);
	}
	if (imap_arg_get_uint64(arg, &u64))
		g_string_append_printf(log, "U%" PRIu64, u64);
	if (imap_arg_atom_equals(arg, "NIL"))
		abort();	/* NIL has its own type */
	if (arg->type == IMAP_ARG_STREAMED)
		g_string_append_printf(log, "S%" PRIu64, arg->u.streamed_size);
	if (imap_arg_get_list(arg, &items, &count)) {
		check(depth < 64);
		check(items[count].type == IMAP_ARG_EOL);
		g_string_append_printf(log, "(%zu", count);
		walk_args(log, items, depth + 1);
		g_string_append_c(log, ')');
	}
}

static void walk_args(GString *log, const struct imap_arg *args,
		unsigned depth)
{
	const struct imap_arg *a;

	for (a = args; !imap_arg_is_eol(a); a++)
		walk_arg(log, a, depth);
}

static void log_response(GString *log, const struct imap_response *r)
{
	check(r->args != NULL && r->code_args != NULL);
	check(r->code_raw != NULL && r->text != NULL);
	check((r->tag != NULL) == (r->kind == IMAP_RESPONSE_TAGGED));
	check(r->code != NULL || *r->code_raw == '\0');
	g_string_append_printf(log, "resp %d %s %d %d:%" PRIu32 " %s [%s|%s]",
			r->kind, r->tag != NULL ? r->tag : "-", r->status,
			r->has_number, r->number,
			r->name != NULL ? r->name : "-",
			r->code != NULL ? r->code : "-", r->code_raw);
	walk_args(log, r->code_args, 0);
	g_string_append_printf(log, " |%s|", r->text);
	walk_args(log, r->args, 0);
	g_string_append_c(log, '\n');
}

/* Feed data in pieces ending at cut and then every step bytes. */
static char *run(const uint8_t *data, size_t size, size_t cut, size_t step)
{
	static const struct imap_parser_limits limits = {
		.max_line = 2048,
		.max_depth = 8,
		.max_inline_literal = 512,
		.max_inline_total = 1024,
		.max_streamed_literal = 4096,
	};
	struct fuzz_ctx ctx = {
		.log = g_string_new(NULL),
		.in_start = data,
		.in_end = data + size,
	};
	struct imap_parser *p = imap_parser_new(&limits, &fuzz_callbacks,
			&ctx);
	enum imap_parse_result res = IMAP_PARSE_NEED_MORE;
	size_t pos = 0, end, used;

	while (pos < size && res != IMAP_PARSE_ERROR) {
		end = pos < cut ? cut : MIN(pos + step, size);
		while (pos < end) {
			res = imap_parser_feed(p, data + pos, end - pos, &used);
			check(used <= end - pos);
			pos += used;
			if (res == IMAP_PARSE_ERROR) {
				check(strlen(imap_parser_error(p)) > 0);
				g_string_append_printf(ctx.log,
						"error@%zu %s\n", pos,
						imap_parser_error(p));
				break;
			}
			if (res == IMAP_PARSE_NEED_MORE) {
				check(pos == end);
				continue;
			}
			check(!ctx.streaming);
			g_string_append_printf(ctx.log, "@%zu ", pos);
			log_response(ctx.log, imap_parser_response(p));
		}
	}
	if (res == IMAP_PARSE_ERROR) {
		check(imap_parser_feed(p, "* OK\r\n", 6, &used) ==
				IMAP_PARSE_ERROR && used == 0);
		/* a reset makes the parser usable again */
		imap_parser_reset(p);
		check(imap_parser_feed(p, "* OK\r\n", 6, &used) ==
				IMAP_PARSE_RESPONSE && used == 6);
	}
	imap_parser_free(&p);
	return g_string_free(ctx.log, FALSE);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *whole, *split, *bytes;
	size_t cut;

	if (size < 1)
		return 0;
	cut = (size_t)data[0] * (size - 1) / 255;
	data++;
	size--;

	whole = run(data, size, 0, size);
	split = run(data, size, cut, size);
	bytes = run(data, size, 0, 1);
	check(strcmp(whole, split) == 0);
	check(strcmp(whole, bytes) == 0);
	g_free(whole);
	g_free(split);
	g_free(bytes);
	return 0;
}
