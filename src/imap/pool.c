/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "imap/pool.h"

#include <string.h>

#include "log.h"

#define POOL_BACKOFF_MIN_US (1 * G_USEC_PER_SEC)
#define POOL_BACKOFF_MAX_US (60 * G_USEC_PER_SEC)

struct imap_pool {
	const struct imap_session_config *cfg;
	const struct imap_session_events *events;
	unsigned max_sessions;

	GMutex lock;
	GCond freed;
	GPtrArray *idle;	/* struct imap_session *, owned */
	unsigned total;		/* idle + in use + being opened */
	gint waiting;		/* atomic: threads waiting for one */
	unsigned next_id;
	uint32_t capabilities;
	uint32_t enabled;

	/* After a failed connect, no new attempt before retry_at. */
	gint64 retry_at;
	gint64 backoff_us;
	GError *last_error;
};

struct imap_pool *imap_pool_new(const struct imap_session_config *cfg,
		const struct imap_session_events *events, unsigned max_sessions)
{
	struct imap_pool *pool = g_new0(struct imap_pool, 1);

	pool->cfg = cfg;
	pool->events = events;
	pool->max_sessions = max_sessions ? max_sessions : 1;
	g_mutex_init(&pool->lock);
	g_cond_init(&pool->freed);
	pool->idle = g_ptr_array_new();
	return pool;
}

void imap_pool_free(struct imap_pool **pool)
{
	struct imap_pool *p = *pool;

	if (!p)
		return;
	for (guint i = 0; i < p->idle->len; i++) {
		struct imap_session *s = g_ptr_array_index(p->idle, i);

		imap_session_close(&s);
	}
	g_ptr_array_free(p->idle, TRUE);
	g_clear_error(&p->last_error);
	g_mutex_clear(&p->lock);
	g_cond_clear(&p->freed);
	g_free(p);
	*pool = NULL;
}

/* Take an idle session, preferring one with the mailbox selected.  Called
 * with the lock held. */
static struct imap_session *pool_take_idle(struct imap_pool *pool,
		const char *mailbox)
{
	guint best = 0;

	if (pool->idle->len == 0)
		return NULL;
	for (guint i = 0; mailbox && i < pool->idle->len; i++) {
		const struct imap_selected *sel = imap_session_selected(
				g_ptr_array_index(pool->idle, i));

		if (sel->name && strcmp(sel->name, mailbox) == 0) {
			best = i;
			break;
		}
	}
	return g_ptr_array_steal_index_fast(pool->idle, best);
}

static struct imap_session *pool_open(struct imap_pool *pool, GError **error)
{
	struct imap_session *session;
	GError *local = NULL;
	unsigned id;

	g_mutex_lock(&pool->lock);
	id = ++pool->next_id;
	g_mutex_unlock(&pool->lock);

	session = imap_session_open(pool->cfg, id, pool->events, &local);

	g_mutex_lock(&pool->lock);
	if (session) {
		pool->backoff_us = 0;
		pool->retry_at = 0;
		pool->capabilities = imap_session_capabilities(session);
		pool->enabled = imap_session_enabled(session);
		g_clear_error(&pool->last_error);
	} else {
		pool->backoff_us = pool->backoff_us ?
			MIN(pool->backoff_us * 2, POOL_BACKOFF_MAX_US) :
			POOL_BACKOFF_MIN_US;
		pool->retry_at = g_get_monotonic_time() + pool->backoff_us;
		g_clear_error(&pool->last_error);
		pool->last_error = g_error_copy(local);
		pool->total--;
		g_cond_broadcast(&pool->freed);
		log_debug(LOG_AREA_IMAP, "connection %u failed: %s", id,
				local->message);
		g_propagate_error(error, local);
	}
	g_mutex_unlock(&pool->lock);
	return session;
}

struct imap_session *imap_pool_acquire(struct imap_pool *pool,
		const char *mailbox, GError **error)
{
	gint64 deadline = g_get_monotonic_time() +
		(gint64)pool->cfg->timeout_ms * 1000;
	struct imap_session *session;

	g_mutex_lock(&pool->lock);
	for (;;) {
		session = pool_take_idle(pool, mailbox);
		if (session) {
			g_mutex_unlock(&pool->lock);
			/* Sitting idle, it may have been logged out or have
			 * news for us; a dead one is replaced. */
			if (imap_session_poll(session))
				return session;
			imap_session_close(&session);
			g_mutex_lock(&pool->lock);
			pool->total--;
			continue;
		}
		if (pool->total < pool->max_sessions) {
			if (pool->last_error &&
					g_get_monotonic_time() < pool->retry_at) {
				g_propagate_error(error,
						g_error_copy(pool->last_error));
				g_mutex_unlock(&pool->lock);
				return NULL;
			}
			pool->total++;
			g_mutex_unlock(&pool->lock);
			return pool_open(pool, error);
		}
		g_atomic_int_inc(&pool->waiting);
		if (!g_cond_wait_until(&pool->freed, &pool->lock, deadline)) {
			g_atomic_int_dec_and_test(&pool->waiting);
			g_mutex_unlock(&pool->lock);
			g_set_error(error, IMAP_TRANSPORT_ERROR,
					IMAP_TRANSPORT_ERROR_TIMEOUT,
					"all %u connections stayed busy",
					pool->max_sessions);
			return NULL;
		}
		g_atomic_int_dec_and_test(&pool->waiting);
	}
}

bool imap_pool_contended(struct imap_pool *pool)
{
	return g_atomic_int_get(&pool->waiting) > 0;
}

void imap_pool_release(struct imap_pool *pool, struct imap_session *session)
{
	if (!session)
		return;
	if (imap_session_is_dead(session)) {
		imap_session_close(&session);
		g_mutex_lock(&pool->lock);
		pool->total--;
	} else {
		g_mutex_lock(&pool->lock);
		g_ptr_array_add(pool->idle, session);
	}
	g_cond_signal(&pool->freed);
	g_mutex_unlock(&pool->lock);
}

void imap_pool_close_idle(struct imap_pool *pool)
{
	GPtrArray *idle;

	g_mutex_lock(&pool->lock);
	idle = pool->idle;
	pool->idle = g_ptr_array_new();
	pool->total -= idle->len;
	/* Their slots are free for a thread waiting for one. */
	g_cond_broadcast(&pool->freed);
	g_mutex_unlock(&pool->lock);

	/* Without the lock: LOGOUT waits for the server. */
	for (guint i = 0; i < idle->len; i++) {
		struct imap_session *s = g_ptr_array_index(idle, i);

		imap_session_close(&s);
	}
	g_ptr_array_free(idle, TRUE);
}

uint32_t imap_pool_capabilities(struct imap_pool *pool)
{
	uint32_t caps;

	g_mutex_lock(&pool->lock);
	caps = pool->capabilities;
	g_mutex_unlock(&pool->lock);
	return caps;
}

uint32_t imap_pool_enabled(struct imap_pool *pool)
{
	uint32_t enabled;

	g_mutex_lock(&pool->lock);
	enabled = pool->enabled;
	g_mutex_unlock(&pool->lock);
	return enabled;
}
