/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "store/cancel.h"

void store_cancel_init(struct store_cancel *cancel)
{
	g_atomic_int_set(&cancel->fired, 0);
	g_mutex_init(&cancel->lock);
	cancel->wait_lock = NULL;
	cancel->wait_cond = NULL;
}

void store_cancel_clear(struct store_cancel *cancel)
{
	g_mutex_clear(&cancel->lock);
}

/* Lock order: cancel->lock, then the waited-on lock.  A waiter holds only
 * the latter while it waits, and takes cancel->lock only outside it. */
void store_cancel_fire(struct store_cancel *cancel)
{
	g_atomic_int_set(&cancel->fired, 1);
	g_mutex_lock(&cancel->lock);
	if (cancel->wait_lock) {
		g_mutex_lock(cancel->wait_lock);
		g_cond_broadcast(cancel->wait_cond);
		g_mutex_unlock(cancel->wait_lock);
	}
	g_mutex_unlock(&cancel->lock);
}

bool store_cancel_fired(struct store_cancel *cancel)
{
	return cancel && g_atomic_int_get(&cancel->fired);
}

void store_cancel_wait_begin(struct store_cancel *cancel, GMutex *lock,
		GCond *cond)
{
	if (!cancel)
		return;
	g_mutex_lock(&cancel->lock);
	cancel->wait_lock = lock;
	cancel->wait_cond = cond;
	g_mutex_unlock(&cancel->lock);
}

void store_cancel_wait_end(struct store_cancel *cancel)
{
	if (!cancel)
		return;
	g_mutex_lock(&cancel->lock);
	cancel->wait_lock = NULL;
	cancel->wait_cond = NULL;
	g_mutex_unlock(&cancel->lock);
}
