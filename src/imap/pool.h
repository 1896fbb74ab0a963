/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A bounded pool of sessions to one account, so that a slow fetch in one
 * mailbox does not hold up a listing in another.
 *
 * Sessions are opened on demand up to the limit and handed to one thread at
 * a time.  A dead session is dropped when it comes back; a failed connect
 * starts a backoff during which callers fail at once instead of waiting on a
 * server that is away (cached reads keep working meanwhile).
 */
#ifndef IMAPFS_IMAP_POOL_H
#define IMAPFS_IMAP_POOL_H

#include <glib.h>

#include "imap/session.h"

struct imap_pool;

/* cfg and events are borrowed and must outlive the pool. */
struct imap_pool *imap_pool_new(const struct imap_session_config *cfg,
		const struct imap_session_events *events, unsigned max_sessions);
void imap_pool_free(struct imap_pool **pool);

/*
 * A session for the caller's exclusive use, preferably one that has
 * `mailbox` selected already (NULL: any).  Waits at most the configured
 * timeout for one to come free.  On failure *error says why (the last
 * connection error while backing off).
 */
struct imap_session *imap_pool_acquire(struct imap_pool *pool,
		const char *mailbox, GError **error);
void imap_pool_release(struct imap_pool *pool, struct imap_session *session);
/* Somebody waits for a session to come free: one held for long work (a
 * walk's stream of bodies) should be given back soon. */
bool imap_pool_contended(struct imap_pool *pool);

/*
 * Log out and close every idle session now (for a tunnel, ending and
 * reaping its command); the next acquire opens a new one.  Before the
 * daemon detaches: fuse_daemonize() forks, and the process that opened the
 * sessions exits, so their tunnel commands would no longer be our children
 * (neither reaped nor safely signalled by us).
 */
void imap_pool_close_idle(struct imap_pool *pool);

/* Capabilities of the most recent healthy session (0 before any). */
uint32_t imap_pool_capabilities(struct imap_pool *pool);
uint32_t imap_pool_enabled(struct imap_pool *pool);

#endif
