/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Typed operations on a session: the store asks for "these flags on these
 * UIDs", "this file appended there", and gets numbers back, never IMAP
 * text (isync's driver.h is the model).  Each runs its commands to their
 * tagged completion and returns result->status == IMAP_RESULT_OK; the
 * result says why not.  Messages are named by UID only (RFC 3501 §6.4.8),
 * and long UID sets go in several commands of bounded length.
 *
 * Operations on messages need their mailbox selected, read-write for
 * changes (imap_session_select() with read_only false).
 */
#ifndef IMAPFS_IMAP_MAILOPS_H
#define IMAPFS_IMAP_MAILOPS_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "imap/session.h"

/* --- flags -------------------------------------------------------------- */

enum imap_flags_change {
	IMAP_FLAGS_ADD,		/* +FLAGS */
	IMAP_FLAGS_REMOVE,	/* -FLAGS */
	IMAP_FLAGS_REPLACE,	/* FLAGS */
};

/* A flag a client may name in STORE or APPEND: a system flag other than
 * \Recent (RFC 3501 §2.3.2), or a keyword that is an atom. */
bool imap_flag_is_valid(const char *flag);

/* UID STORE uids ±FLAGS.SILENT (flags): the new state is what was asked
 * for, so the server need not repeat it.  flags: NULL-terminated, each
 * imap_flag_is_valid(). */
bool imap_store_flags(struct imap_session *session, const uint32_t *uids,
		size_t count, enum imap_flags_change change,
		const char *const *flags, struct imap_result *result);

/* The same for one UID, pipelined (imap_session_send()): sent now, its
 * answer handed to done later.  The caller learns nothing more than that
 * the command left. */
bool imap_store_flags_send(struct imap_session *session, uint32_t uid,
		enum imap_flags_change change, const char *const *flags,
		imap_session_done_fn *done, void *ctx,
		struct imap_result *result);

/* --- removing, copying, moving ------------------------------------------ */

/* UID EXPUNGE (RFC 4315 §2.1): only these UIDs, and only those of them
 * marked \Deleted.  Needs IMAP_CAP_UIDPLUS. */
bool imap_uid_expunge(struct imap_session *session, const uint32_t *uids,
		size_t count, struct imap_result *result);

/* COPYUID (RFC 4315 §3): message source[i] is dest[i] in a mailbox of
 * UIDVALIDITY uidvalidity.  Arrays of uint32_t, owned; empty when the
 * server sent none. */
struct imap_copyuid {
	uint32_t uidvalidity;
	GArray *source;
	GArray *dest;
};

void imap_copyuid_init(struct imap_copyuid *copyuid);
void imap_copyuid_clear(struct imap_copyuid *copyuid);
/* The destination UID of source UID uid, or 0. */
uint32_t imap_copyuid_lookup(const struct imap_copyuid *copyuid,
		uint32_t uid);

/* UID COPY, or UID MOVE (RFC 6851, needs IMAP_CAP_MOVE), to mailbox (a
 * raw name).  copyuid may be NULL. */
bool imap_uid_copy(struct imap_session *session, const uint32_t *uids,
		size_t count, const char *mailbox, bool move,
		struct imap_copyuid *copyuid, struct imap_result *result);

/* UID SEARCH UID uids: which of them the selected mailbox holds, into
 * present (uint32_t, ascending). */
bool imap_uid_present(struct imap_session *session, const uint32_t *uids,
		size_t count, GArray *present, struct imap_result *result);

/* UID SEARCH UID min:* HEADER name value: the UIDs from min on of
 * messages with that header (present, uint32_t). */
bool imap_uid_search_header(struct imap_session *session, uint32_t min_uid,
		const char *name, const char *value, GArray *present,
		struct imap_result *result);

/* --- appending ---------------------------------------------------------- */

struct imap_appenduid {
	uint32_t uidvalidity;	/* 0: the server sent no APPENDUID */
	uint32_t uid;
};

/* APPEND the message in fd (read with pread from offset 0) to mailbox,
 * with flags (NULL-terminated, may be NULL) and line ends made CRLF.  A
 * message holding a NUL byte, which no literal may carry (RFC 3501 §4.3),
 * is refused before anything is sent: IMAP_RESULT_NO with code
 * IMAP_CODE_NUL_BYTE (EINVAL). */
#define IMAP_CODE_NUL_BYTE "X-IMAPFS-NUL"
bool imap_append(struct imap_session *session, const char *mailbox, int fd,
		const char *const *flags, struct imap_appenduid *appenduid,
		struct imap_result *result);

/* --- mailboxes ---------------------------------------------------------- */

bool imap_create(struct imap_session *session, const char *mailbox,
		struct imap_result *result);
bool imap_delete(struct imap_session *session, const char *mailbox,
		struct imap_result *result);
bool imap_rename(struct imap_session *session, const char *from,
		const char *to, struct imap_result *result);

struct imap_mailbox_status {
	uint32_t messages;
	uint32_t uidnext;
	uint32_t uidvalidity;
};

/* STATUS mailbox (MESSAGES UIDNEXT UIDVALIDITY); a field the server left
 * out is 0. */
bool imap_status(struct imap_session *session, const char *mailbox,
		struct imap_mailbox_status *status, struct imap_result *result);

/* LIST attributes the store acts on. */
enum imap_list_attr {
	IMAP_LIST_NOSELECT = 1u << 0,	/* \Noselect or \NonExistent */
	IMAP_LIST_NOINFERIORS = 1u << 1,
	IMAP_LIST_HASCHILDREN = 1u << 2,
};

struct imap_listed {
	const char *name;	/* raw; "INBOX" in any case becomes "INBOX" */
	char delimiter;		/* '\0': NIL, a flat namespace */
	unsigned attrs;		/* enum imap_list_attr */
	const char *specialuse;	/* "\\Sent \\Archive", or NULL */
};

typedef void imap_list_fn(void *ctx, const struct imap_listed *mailbox);

/* LIST "" pattern (a raw name; "*" and "%" are wildcards), with
 * SPECIAL-USE where the server can say it.  Malformed entries are logged
 * and skipped. */
bool imap_list(struct imap_session *session, const char *pattern,
		imap_list_fn *fn, void *ctx, struct imap_result *result);

#endif
