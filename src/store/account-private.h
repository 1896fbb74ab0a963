/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What the store's own modules need of the account beyond account.h. */
#ifndef IMAPFS_STORE_ACCOUNT_PRIVATE_H
#define IMAPFS_STORE_ACCOUNT_PRIVATE_H

#include "store/account.h"

/* LIST the tree now, on this thread (after a change to it). */
bool store_account_list_now(struct store_account *account, GError **error);

/* The delimiter of node's children's names, under the tree lock. */
char store_account_node_delimiter(struct store_account *account,
		struct store_node *node);

#endif
