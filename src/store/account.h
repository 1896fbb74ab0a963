/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The mail store of one account: its mailbox tree, each mailbox's message
 * index, the body cache, and the connection pool they are filled from.
 *
 * This layer owns all mailbox state and applies every answer of the server
 * to it; it knows nothing about FUSE.  Functions that may talk to the
 * server either block the calling thread (every wait bounded, see
 * docs/DESIGN.md "Deadlines") or run on the account's own threads and
 * report back through a callback; failure is a positive errno.
 */
#ifndef IMAPFS_STORE_ACCOUNT_H
#define IMAPFS_STORE_ACCOUNT_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "imap/session.h"
#include "store/cache.h"
#include "store/cancel.h"
#include "store/msgindex.h"
#include "store/names.h"

struct store_account_config {
	char *name;		/* names the account and its cache */
	struct imap_session_config session;
	char *cache_dir;
	uint64_t cache_max;	/* bytes; 0: unbounded */
	unsigned connections;
	int refresh_s;		/* how stale a listing may get */
	bool delete_to_trash;	/* -o delete=trash */
	bool mark_seen;		/* -o seen: reading sets \Seen */
};

struct store_mailbox;

/* LIST attributes we act on. */
enum store_node_attr {
	STORE_NODE_NOSELECT = 1 << 0,	/* \Noselect or \NonExistent */
	STORE_NODE_NOINFERIORS = 1 << 1,
	STORE_NODE_IMPLIED = 1 << 2,	/* not listed; a parent of one */
};

/*
 * A directory of the tree.  Nodes are created under the account's tree
 * lock and never freed before the account, so a pointer to one stays valid
 * for the life of the mount; a node whose mailbox vanished is marked gone.
 * display, raw_name and parent never change; the other fields change only
 * under the tree lock (use the accessors below).
 */
struct store_node {
	char *display;			/* owned: file name; "" for root */
	char *raw_name;			/* owned: full server name; NULL
					 * for the root */
	struct store_node *parent;	/* borrowed */
	GPtrArray *children;		/* struct store_node *, owned */
	struct store_mailbox *mailbox;	/* owned; NULL if not selectable */
	unsigned attrs;			/* enum store_node_attr */
	char delimiter;			/* of its children's names; '\0':
					 * none can have children */
	char *specialuse;		/* owned: "\Sent" ...; or NULL */
	bool gone;
};

/*
 * Whoever shows the store to users (the filesystem) hears here that names
 * stopped meaning what they meant: messages left a mailbox (expunged, or
 * its UIDVALIDITY changed, which takes every old UID with it).  Called
 * from the thread that learned it, with no store lock held; it must not
 * block on the server.
 */
struct store_observer {
	void (*messages_gone)(void *ctx, const char *mailbox,
			const uint32_t *uids, size_t count);
	void *ctx;
};

struct store_account;

/* Work that talks to the server, run on one of the account's threads. */
struct store_job {
	void (*run)(struct store_job *job);
	gint64 queued_at;	/* monotonic µs; set by submit */
};

/* Queue a job; it runs once, and must not be freed before it has run.
 * store_account_free() waits for every job queued. */
void store_account_submit(struct store_account *account,
		struct store_job *job);

/* True when the job sat in the queue for longer than the timeout: every
 * worker was busy that long, so it fails now rather than start a wait for
 * a connection on top of it. */
bool store_job_queued_too_long(const struct store_account *account,
		const struct store_job *job);

/* Wait until no job is queued or running.  Every job ends in bounded
 * time, so this does too. */
void store_account_quiesce(struct store_account *account);

/* Opens the cache; does not connect yet. */
struct store_account *store_account_new(
		const struct store_account_config *cfg, GError **error);
void store_account_free(struct store_account **account);

/* First connection and LIST.  On failure *error is one line for the user. */
bool store_account_connect(struct store_account *account, GError **error);
/* Close the connections not in use; later requests open new ones.  Before
 * detaching, so that every tunnel the daemon uses is its own child. */
void store_account_disconnect(struct store_account *account);

/* Set once, before the first connection. */
void store_account_set_observer(struct store_account *account,
		const struct store_observer *observer);
/* Tell the observer (if any) that these UIDs of mailbox are gone. */
void store_account_messages_gone(struct store_account *account,
		const char *mailbox, const uint32_t *uids, size_t count);

const struct store_account_config *store_account_config(
		const struct store_account *account);
struct body_cache *store_account_cache(struct store_account *account);
/* Where listings are kept across mounts, or NULL. */
struct index_db *store_account_index_db(struct store_account *account);
struct imap_pool *store_account_pool(struct store_account *account);

struct store_node *store_account_root(struct store_account *account);

/* Re-LIST when the tree is older than refresh, on the account's threads,
 * and wait for it (errors and a listing that takes too long keep the old
 * tree).  0, or ECANCELED when cancel (may be NULL) fired. */
int store_account_refresh_tree(struct store_account *account,
		struct store_cancel *cancel);

/* What may change on a refresh is read under the tree lock. */
char *store_node_specialuse(struct store_account *account,
		struct store_node *node);
unsigned store_node_attrs(struct store_account *account,
		struct store_node *node);
struct store_mailbox *store_node_mailbox(struct store_account *account,
		struct store_node *node);

/* Child directory by file name, or NULL. */
struct store_node *store_node_child(struct store_account *account,
		struct store_node *node, const char *display);
/* How many child directories there are now (for st_nlink). */
unsigned store_node_child_count(struct store_account *account,
		struct store_node *node);
/* Snapshot of the current children (g_ptr_array_unref it). */
GPtrArray *store_node_children(struct store_account *account,
		struct store_node *node);

#endif
