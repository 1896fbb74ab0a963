/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Changing mail: flags, removing, moving and appending messages, and
 * creating, deleting and renaming mailboxes (imapfs(1), "Changing
 * things").  Each call blocks the calling thread until the server has
 * answered (every wait bounded by the timeout), applies the answer to the
 * store's state and tells the observer what names went away.  Failure is
 * a positive errno.
 *
 * When the connection breaks after a command was sent and before its
 * answer came, the outcome is unknown.  Each change then finds out on a
 * new connection what happened before it reports or tries again, so that
 * nothing is lost or stored twice (docs/DESIGN.md, "Unknown outcomes").
 */
#ifndef IMAPFS_STORE_CHANGES_H
#define IMAPFS_STORE_CHANGES_H

#include <stdbool.h>
#include <stdint.h>

#include "imap/mailops.h"
#include "store/account.h"
#include "store/mailbox.h"

/* A flag as a user may name it: imap_flag_is_valid(). */
bool store_flag_is_valid(const char *flag);

/*
 * Add, remove or replace flags (NULL-terminated) of one message.  EINVAL:
 * a flag is malformed; EPERM: the mailbox does not let one be set
 * (PERMANENTFLAGS); EACCES: the mailbox is read-only on the server;
 * ENOENT: the message is gone.
 */
int store_mailbox_change_flags(struct store_mailbox *mailbox,
		uint32_t uidvalidity, uint32_t uid,
		enum imap_flags_change change, const char *const *flags);

/* -o seen: set \Seen on a message that was read, on the account's
 * threads; failures are logged. */
void store_mailbox_mark_seen(struct store_mailbox *mailbox,
		uint32_t uidvalidity, uint32_t uid);

/*
 * Remove one message: \Deleted and UID EXPUNGE of that UID alone, or with
 * -o delete=trash a move to the \Trash mailbox.  EPERM without UIDPLUS
 * (nothing else is ever expunged, so nothing is done at all).
 */
int store_mailbox_remove(struct store_mailbox *mailbox, uint32_t uidvalidity,
		uint32_t uid);

/*
 * Move one message to dest: UID MOVE, or UID COPY + \Deleted + UID
 * EXPUNGE.  *new_uid_r is its UID in dest, or 0 when the server did not
 * say (dest is listed again at its next use).  EPERM: the copy was made
 * but the server cannot expunge the original without UIDPLUS.
 */
int store_mailbox_move(struct store_mailbox *mailbox, uint32_t uidvalidity,
		uint32_t uid, struct store_mailbox *dest, uint32_t *new_uid_r);

/*
 * Append the message in fd (its line ends made CRLF) with flags
 * (NULL-terminated, may be NULL).  *uid_r is its UID, or 0 when the
 * server did not say.  EDQUOT: over quota; EFBIG: too big; ENOENT: the
 * mailbox is gone; EINVAL: the file holds a NUL byte.
 */
int store_mailbox_append(struct store_mailbox *mailbox, int fd,
		const char *const *flags, uint32_t *uid_r);

/*
 * Mailboxes.  create: the child of parent called display (a file name,
 * names.h), then listed; EEXIST, EINVAL (no such name can be made), EPERM
 * (parent takes no children).  delete: only an empty mailbox without
 * children, as the server sees it now: ENOTEMPTY otherwise; EPERM for
 * INBOX.  rename: node to newparent/newdisplay, its children with it;
 * EEXIST, EPERM for INBOX.
 */
int store_node_create(struct store_account *account,
		struct store_node *parent, const char *display);
int store_node_delete(struct store_account *account,
		struct store_node *node);
int store_node_rename(struct store_account *account, struct store_node *node,
		struct store_node *newparent, const char *newdisplay);

#endif
