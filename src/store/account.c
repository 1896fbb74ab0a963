/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The account: connection pool, body cache and mailbox tree, and the
 * routing of unsolicited server news to the mailbox it concerns.
 */
#include "store/account.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "imap/mailops.h"
#include "imap/pool.h"
#include "log.h"
#include "store/account-private.h"
#include "store/indexdb.h"
#include "store/mailbox.h"

struct store_account {
	struct store_account_config cfg;	/* borrowed strings */
	struct body_cache *cache;
	struct index_db *index_db;	/* NULL: listings not kept */
	struct imap_pool *pool;
	struct imap_session_events events;
	struct store_observer observer;

	GMutex tree_lock;
	struct store_node *root;
	GHashTable *mailboxes;		/* raw name -> store_mailbox,
					 * borrowed from the nodes */
	gint64 tree_listed_at;
	bool tree_listing;
	struct store_job tree_job;	/* while tree_listing */
	unsigned tree_generation;	/* listings finished */
	GCond tree_changed;		/* one did */

	/* Where listings and fetches run: the threads that asked only wait
	 * for them (and may stop waiting), so a request can be interrupted
	 * and a body can be fetched while its reader is gone. */
	GThreadPool *workers;
	GMutex jobs_lock;
	GCond jobs_done;
	unsigned jobs;			/* queued or running */
};

static void worker_run(gpointer data, gpointer user_data)
{
	struct store_account *account = user_data;
	struct store_job *job = data;

	job->run(job);		/* which may free job */
	g_mutex_lock(&account->jobs_lock);
	if (--account->jobs == 0)
		g_cond_broadcast(&account->jobs_done);
	g_mutex_unlock(&account->jobs_lock);
}

static struct store_node *node_new(struct store_node *parent,
		const char *display, const char *raw_name)
{
	struct store_node *node = g_new0(struct store_node, 1);

	node->display = g_strdup(display);
	node->raw_name = g_strdup(raw_name);
	node->parent = parent;
	node->children = g_ptr_array_new();
	if (parent)
		g_ptr_array_add(parent->children, node);
	return node;
}

static void node_persist(struct store_node *node)
{
	for (guint i = 0; node->children && i < node->children->len; i++)
		node_persist(g_ptr_array_index(node->children, i));
	if (node->mailbox)
		store_mailbox_persist(node->mailbox);
}

static void node_free(struct store_node *node)
{
	for (guint i = 0; i < node->children->len; i++)
		node_free(g_ptr_array_index(node->children, i));
	g_ptr_array_free(node->children, TRUE);
	store_mailbox_free(&node->mailbox);
	g_free(node->display);
	g_free(node->raw_name);
	g_free(node->specialuse);
	g_free(node);
}

/* --- events: one path for all unsolicited news --------------------------- */

static struct store_mailbox *account_mailbox(struct store_account *account,
		const char *raw_name)
{
	struct store_mailbox *mb;

	g_mutex_lock(&account->tree_lock);
	mb = g_hash_table_lookup(account->mailboxes, raw_name);
	g_mutex_unlock(&account->tree_lock);
	return mb;
}

static void event_flags(void *ctx, const char *mailbox, uint32_t uidvalidity,
		uint32_t uid, const struct imap_flag_list *flags, uint64_t modseq)
{
	struct store_mailbox *mb = account_mailbox(ctx, mailbox);

	if (mb)
		store_mailbox_apply_flags(mb, uidvalidity, uid, flags, modseq);
}

static void event_expunged(void *ctx, const char *mailbox,
		uint32_t uidvalidity, uint32_t uid)
{
	struct store_mailbox *mb = account_mailbox(ctx, mailbox);

	if (mb)
		store_mailbox_apply_expunge(mb, uidvalidity, uid);
}

static void event_exists(void *ctx, const char *mailbox, uint32_t uidvalidity,
		uint32_t count)
{
	struct store_mailbox *mb = account_mailbox(ctx, mailbox);

	if (mb)
		store_mailbox_apply_exists(mb, uidvalidity, count);
}

/* --- life cycle ------------------------------------------------------------ */

struct store_account *store_account_new(
		const struct store_account_config *cfg, GError **error)
{
	struct store_account *account = g_new0(struct store_account, 1);

	account->cfg = *cfg;
	account->cache = body_cache_open(cfg->cache_dir, cfg->name,
			cfg->cache_max, error);
	if (!account->cache) {
		g_free(account);
		return NULL;
	}
	{
		char *path = g_build_filename(cfg->cache_dir, "index.sqlite",
				NULL);

		account->index_db = index_db_open(path);
		g_free(path);
	}
	account->events = (struct imap_session_events) {
		.flags = event_flags,
		.expunged = event_expunged,
		.exists = event_exists,
		.ctx = account,
	};
	account->pool = imap_pool_new(&account->cfg.session, &account->events,
			cfg->connections);
	g_mutex_init(&account->tree_lock);
	g_cond_init(&account->tree_changed);
	account->root = node_new(NULL, "", NULL);
	account->root->attrs = STORE_NODE_NOSELECT;
	account->mailboxes = g_hash_table_new(g_str_hash, g_str_equal);
	/* Every job takes a connection from the pool, waiting for one with a
	 * deadline; more threads than connections let the surplus wait there
	 * rather than unbounded in this queue. */
	g_mutex_init(&account->jobs_lock);
	g_cond_init(&account->jobs_done);
	account->workers = g_thread_pool_new(worker_run, account,
			(gint)(2 * MAX(cfg->connections, 1u) + 4), FALSE, NULL);
	return account;
}

void store_account_submit(struct store_account *account,
		struct store_job *job)
{
	job->queued_at = g_get_monotonic_time();
	g_mutex_lock(&account->jobs_lock);
	account->jobs++;
	g_mutex_unlock(&account->jobs_lock);
	g_thread_pool_push(account->workers, job, NULL);
}

bool store_job_queued_too_long(const struct store_account *account,
		const struct store_job *job)
{
	return g_get_monotonic_time() - job->queued_at >
		(gint64)account->cfg.session.timeout_ms * 1000;
}

void store_account_quiesce(struct store_account *account)
{
	g_mutex_lock(&account->jobs_lock);
	while (account->jobs > 0)
		g_cond_wait(&account->jobs_done, &account->jobs_lock);
	g_mutex_unlock(&account->jobs_lock);
}

void store_account_free(struct store_account **account)
{
	struct store_account *a = *account;

	if (!a)
		return;
	/* Flag changes still waiting for their answers get them now (a
	 * lost one is sent again by a job), then jobs still queued or
	 * running finish: they hold mailboxes. */
	imap_pool_close_idle(a->pool);
	g_thread_pool_free(a->workers, FALSE, TRUE);
	g_mutex_clear(&a->jobs_lock);
	g_cond_clear(&a->jobs_done);
	imap_pool_free(&a->pool);
	g_hash_table_destroy(a->mailboxes);
	/* What listings learned since they were kept (sizes measured). */
	node_persist(a->root);
	node_free(a->root);
	index_db_close(&a->index_db);
	g_mutex_clear(&a->tree_lock);
	g_cond_clear(&a->tree_changed);
	body_cache_close(&a->cache);
	g_free(a);
	*account = NULL;
}

void store_account_set_observer(struct store_account *account,
		const struct store_observer *observer)
{
	account->observer = *observer;
}

void store_account_messages_gone(struct store_account *account,
		const char *mailbox, const uint32_t *uids, size_t count)
{
	if (count > 0 && account->observer.messages_gone)
		account->observer.messages_gone(account->observer.ctx, mailbox,
				uids, count);
}

const struct store_account_config *store_account_config(
		const struct store_account *account)
{
	return &account->cfg;
}

struct index_db *store_account_index_db(struct store_account *account)
{
	return account->index_db;
}

struct body_cache *store_account_cache(struct store_account *account)
{
	return account->cache;
}

struct imap_pool *store_account_pool(struct store_account *account)
{
	return account->pool;
}

struct store_node *store_account_root(struct store_account *account)
{
	return account->root;
}

/* --- the tree ------------------------------------------------------------ */

struct listed_mailbox {
	char *raw_name;
	char delimiter;
	unsigned attrs;
	char *specialuse;
};

static void listed_mailbox_free(gpointer p)
{
	struct listed_mailbox *m = p;

	g_free(m->raw_name);
	g_free(m->specialuse);
	g_free(m);
}

/* One mailbox from LIST, kept until the tree is rebuilt. */
static void list_collect(void *ctx, const struct imap_listed *l)
{
	GPtrArray *listed = ctx;
	struct listed_mailbox *m = g_new0(struct listed_mailbox, 1);

	m->raw_name = g_strdup(l->name);
	m->delimiter = l->delimiter;
	if (l->attrs & IMAP_LIST_NOSELECT)
		m->attrs |= STORE_NODE_NOSELECT;
	if (l->attrs & IMAP_LIST_NOINFERIORS)
		m->attrs |= STORE_NODE_NOINFERIORS;
	m->specialuse = g_strdup(l->specialuse);
	g_ptr_array_add(listed, m);
}

static struct store_node *find_child(struct store_node *node,
		const char *display)
{
	for (guint i = 0; i < node->children->len; i++) {
		struct store_node *child = g_ptr_array_index(node->children, i);

		if (strcmp(child->display, display) == 0)
			return child;
	}
	return NULL;
}

static void mark_gone(struct store_node *node)
{
	for (guint i = 0; i < node->children->len; i++) {
		struct store_node *child = g_ptr_array_index(node->children, i);

		child->gone = true;
		mark_gone(child);
	}
}

/* Put one listed mailbox into the tree.  Tree lock held. */
static void tree_add(struct store_account *account,
		const struct listed_mailbox *m, enum names_charset charset)
{
	char **parts = names_split(m->raw_name, m->delimiter);
	struct store_node *node = account->root;
	GString *raw = g_string_new(NULL);
	guint n = g_strv_length(parts);

	for (guint i = 0; i < n; i++) {
		char *display = names_part_to_display(parts[i],
				strlen(parts[i]), charset);
		struct store_node *child = find_child(node, display);

		if (i > 0)
			g_string_append_c(raw, m->delimiter);
		g_string_append(raw, parts[i]);
		if (!child) {
			child = node_new(node, display, raw->str);
			child->attrs = STORE_NODE_IMPLIED | STORE_NODE_NOSELECT;
		}
		if (i + 1 < n)
			child->delimiter = m->delimiter;
		child->gone = false;
		g_free(display);
		node = child;
	}
	node->attrs = m->attrs;
	node->delimiter = m->delimiter;
	g_free(node->specialuse);
	node->specialuse = g_strdup(m->specialuse);
	if (!(m->attrs & STORE_NODE_NOSELECT) && !node->mailbox) {
		node->mailbox = store_mailbox_new(account, m->raw_name);
		g_hash_table_insert(account->mailboxes,
				(char *)store_mailbox_name(node->mailbox),
				node->mailbox);
	}
	g_string_free(raw, TRUE);
	g_strfreev(parts);
}

/* LIST everything.  No lock held while the command runs. */
static bool account_list(struct store_account *account, GError **error)
{
	GPtrArray *listed = g_ptr_array_new_with_free_func(
			listed_mailbox_free);
	struct imap_session *session;
	struct imap_result result;
	enum names_charset charset;
	bool ok;

	session = imap_pool_acquire(account->pool, NULL, error);
	if (!session) {
		g_ptr_array_unref(listed);
		return false;
	}
	charset = (imap_session_enabled(session) & IMAP_ENABLED_UTF8_ACCEPT) ?
		NAMES_UTF8 : NAMES_MUTF7;
	ok = imap_list(session, "*", list_collect, listed, &result);
	imap_pool_release(account->pool, session);
	if (!ok) {
		g_set_error(error, IMAP_SESSION_ERROR,
				IMAP_SESSION_ERROR_PROTOCOL,
				"cannot list mailboxes: %s", result.text);
		g_ptr_array_unref(listed);
		return false;
	}

	g_mutex_lock(&account->tree_lock);
	mark_gone(account->root);
	for (guint i = 0; i < listed->len; i++)
		tree_add(account, g_ptr_array_index(listed, i), charset);
	account->tree_listed_at = g_get_monotonic_time();
	g_mutex_unlock(&account->tree_lock);
	g_ptr_array_unref(listed);
	return true;
}

bool store_account_list_now(struct store_account *account, GError **error)
{
	return account_list(account, error);
}

char store_account_node_delimiter(struct store_account *account,
		struct store_node *node)
{
	char delimiter;

	g_mutex_lock(&account->tree_lock);
	delimiter = node->delimiter;
	g_mutex_unlock(&account->tree_lock);
	return delimiter;
}

bool store_account_connect(struct store_account *account, GError **error)
{
	return account_list(account, error);
}

void store_account_disconnect(struct store_account *account)
{
	imap_pool_close_idle(account->pool);
}

static void tree_list_job(struct store_job *job)
{
	struct store_account *account = (struct store_account *)(void *)
		((char *)job - offsetof(struct store_account, tree_job));
	GError *error = NULL;

	if (store_job_queued_too_long(account, job))
		log_warning("cannot list mailboxes: every connection stayed "
				"busy");
	else if (!account_list(account, &error)) {
		log_warning("%s", error->message);
		g_error_free(error);
	}
	g_mutex_lock(&account->tree_lock);
	account->tree_listing = false;
	account->tree_generation++;
	g_cond_broadcast(&account->tree_changed);
	g_mutex_unlock(&account->tree_lock);
}

/* As for a mailbox's listing (mailbox.c): the LIST may wait for a
 * connection and open one first. */
#define TREE_WAIT_TIMEOUTS 5

int store_account_refresh_tree(struct store_account *account,
		struct store_cancel *cancel)
{
	gint64 max_age = (gint64)account->cfg.refresh_s * G_USEC_PER_SEC;
	gint64 deadline = g_get_monotonic_time() + (gint64)TREE_WAIT_TIMEOUTS *
		account->cfg.session.timeout_ms * 1000;
	unsigned generation;
	int errnum = 0;

	g_mutex_lock(&account->tree_lock);
	if (account->tree_listing ||
			g_get_monotonic_time() - account->tree_listed_at <=
			max_age) {
		/* Fresh, or being listed by someone else: the tree as it
		 * is will do. */
		g_mutex_unlock(&account->tree_lock);
		return 0;
	}
	account->tree_listing = true;
	account->tree_job.run = tree_list_job;
	store_account_submit(account, &account->tree_job);
	generation = account->tree_generation;
	g_mutex_unlock(&account->tree_lock);

	store_cancel_wait_begin(cancel, &account->tree_lock,
			&account->tree_changed);
	g_mutex_lock(&account->tree_lock);
	while (account->tree_generation == generation) {
		if (store_cancel_fired(cancel)) {
			errnum = ECANCELED;
			break;
		}
		if (!g_cond_wait_until(&account->tree_changed,
					&account->tree_lock, deadline) &&
				account->tree_generation == generation) {
			log_warning("cannot list mailboxes: no answer in "
					"time; showing the tree as it was");
			break;
		}
	}
	g_mutex_unlock(&account->tree_lock);
	store_cancel_wait_end(cancel);
	return errnum;
}

struct store_node *store_node_child(struct store_account *account,
		struct store_node *node, const char *display)
{
	struct store_node *child;

	g_mutex_lock(&account->tree_lock);
	child = find_child(node, display);
	if (child && child->gone)
		child = NULL;
	g_mutex_unlock(&account->tree_lock);
	return child;
}

unsigned store_node_child_count(struct store_account *account,
		struct store_node *node)
{
	unsigned count = 0;

	g_mutex_lock(&account->tree_lock);
	for (guint i = 0; i < node->children->len; i++)
		count += !((struct store_node *)g_ptr_array_index(
					node->children, i))->gone;
	g_mutex_unlock(&account->tree_lock);
	return count;
}

GPtrArray *store_node_children(struct store_account *account,
		struct store_node *node)
{
	GPtrArray *children = g_ptr_array_new();

	g_mutex_lock(&account->tree_lock);
	for (guint i = 0; i < node->children->len; i++) {
		struct store_node *child = g_ptr_array_index(node->children, i);

		if (!child->gone)
			g_ptr_array_add(children, child);
	}
	g_mutex_unlock(&account->tree_lock);
	return children;
}

char *store_node_specialuse(struct store_account *account,
		struct store_node *node)
{
	char *copy;

	g_mutex_lock(&account->tree_lock);
	copy = g_strdup(node->specialuse);
	g_mutex_unlock(&account->tree_lock);
	return copy;
}

unsigned store_node_attrs(struct store_account *account,
		struct store_node *node)
{
	unsigned attrs;

	g_mutex_lock(&account->tree_lock);
	attrs = node->attrs;
	g_mutex_unlock(&account->tree_lock);
	return attrs;
}

struct store_mailbox *store_node_mailbox(struct store_account *account,
		struct store_node *node)
{
	struct store_mailbox *mb;

	g_mutex_lock(&account->tree_lock);
	mb = node->mailbox;
	g_mutex_unlock(&account->tree_lock);
	return mb;
}
