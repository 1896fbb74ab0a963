/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * New files, and the names users gave them.
 *
 * A file created in a mailbox directory is staged in an unnamed file in
 * the cache directory (never in memory), and appended to the mailbox when
 * it is closed with bytes written (imapfs(1), "Copying messages in").
 * Afterwards the message is <UID>.eml like any other; the name it was
 * created under (or the name a message was moved to) stays an alias of
 * it for lookups, so that what a program does next with the name it chose
 * (rsync renames its temporary file, cp -a sets times) still finds it.
 * Aliases are never listed, so a directory shows each message once.
 */
#ifndef IMAPFS_FS_STAGED_H
#define IMAPFS_FS_STAGED_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "store/account.h"
#include "store/mailbox.h"

struct fs_staged;

/* An empty staging file for a message to mailbox; NULL, errno set. */
struct fs_staged *fs_staged_new(const char *cache_dir,
		struct store_mailbox *mailbox);
void fs_staged_free(struct fs_staged *staged);

int fs_staged_fd(struct fs_staged *staged);
uint64_t fs_staged_size(struct fs_staged *staged);

/* Write a FUSE buffer at offset (spliced from the kernel's pipe where it
 * can be, so that the bytes need not pass through our memory): 0 and
 * *written_r, or an errno; EPERM once appended (messages do not change). */
struct fuse_bufvec;
int fs_staged_write_buf(struct fs_staged *staged, struct fuse_bufvec *buf,
		off_t offset, size_t *written_r);
int fs_staged_truncate(struct fs_staged *staged, uint64_t size);

/* Flags to append with (set on the new file before it is closed). */
int fs_staged_set_flag(struct fs_staged *staged, const char *flag,
		bool on);

/*
 * Append what was written, unless nothing was or it is appended already:
 * 0, or the errno to report from close().  *uid_r is the new UID (0:
 * unknown, or nothing appended now).
 */
int fs_staged_commit(struct fs_staged *staged, uint32_t *uid_r);

/* The name it was created under, for the alias made when it is
 * appended. */
void fs_staged_set_name(struct fs_staged *staged, struct store_node *dir,
		const char *name);
bool fs_staged_name(struct fs_staged *staged, struct store_node **dir_r,
		const char **name_r);
struct store_mailbox *fs_staged_mailbox(struct fs_staged *staged);

/* --- names given ------------------------------------------------------- */

struct fs_aliases;

struct fs_aliases *fs_aliases_new(void);
void fs_aliases_free(struct fs_aliases **aliases);

/* name in directory dir now means message uid of mailbox. */
void fs_alias_set(struct fs_aliases *aliases, struct store_node *dir,
		const char *name, struct store_mailbox *mailbox, uint32_t uid);
bool fs_alias_get(struct fs_aliases *aliases, struct store_node *dir,
		const char *name, struct store_mailbox **mailbox_r,
		uint32_t *uid_r);
void fs_alias_remove(struct fs_aliases *aliases, struct store_node *dir,
		const char *name);

#endif
