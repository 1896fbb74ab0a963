/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A caller's way out of a wait in the store: whoever is waiting (for a
 * listing another thread asked for, say) gives up with ECANCELED as soon
 * as the cancel is fired, from any thread.  The filesystem fires it when
 * the kernel interrupts a request (Ctrl-C on a reader).
 */
#ifndef IMAPFS_STORE_CANCEL_H
#define IMAPFS_STORE_CANCEL_H

#include <glib.h>
#include <stdbool.h>

struct store_cancel {
	gint fired;			/* atomic */
	GMutex lock;			/* guards the two below */
	GMutex *wait_lock;		/* the wait in progress, if any */
	GCond *wait_cond;
};

void store_cancel_init(struct store_cancel *cancel);
void store_cancel_clear(struct store_cancel *cancel);

/* Wake the wait in progress, and make every later one end at once. */
void store_cancel_fire(struct store_cancel *cancel);
bool store_cancel_fired(struct store_cancel *cancel);

/*
 * Around a wait on (lock, cond): call begin before taking lock, and end
 * after letting it go.  In between, whoever waits must check
 * store_cancel_fired() under lock before each g_cond_wait*(); fire()
 * broadcasts cond under lock, so the wake-up cannot be missed.  cancel may
 * be NULL (then these do nothing).
 */
void store_cancel_wait_begin(struct store_cancel *cancel, GMutex *lock,
		GCond *cond);
void store_cancel_wait_end(struct store_cancel *cancel);

#endif
