/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "fs/staged.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fuse_lowlevel.h>

#include "imap/mailops.h"
#include "log.h"
#include "store/changes.h"

struct fs_staged {
	GMutex lock;
	int fd;
	uint64_t size;
	struct store_mailbox *mailbox;	/* borrowed */
	GPtrArray *flags;		/* char *, owned, NULL-terminated */
	bool dirty;			/* written since appended */
	bool appended;
	struct store_node *dir;		/* borrowed; NULL until named */
	char *name;			/* owned */
};

/* Unnamed where the filesystem allows it, so that nothing is left behind
 * by a crash; else named and unlinked at once. */
static int staging_fd(const char *cache_dir)
{
	char *path;
	int fd;

#ifdef O_TMPFILE
	fd = open(cache_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
#endif
	path = g_build_filename(cache_dir, "staging-XXXXXX", NULL);
	fd = g_mkstemp_full(path, O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		unlink(path);
	g_free(path);
	return fd;
}

struct fs_staged *fs_staged_new(const char *cache_dir,
		struct store_mailbox *mailbox)
{
	struct fs_staged *staged;
	int fd = staging_fd(cache_dir);

	if (fd < 0) {
		log_warning("cannot stage a new message in %s: %s", cache_dir,
				g_strerror(errno));
		return NULL;
	}
	staged = g_new0(struct fs_staged, 1);
	g_mutex_init(&staged->lock);
	staged->fd = fd;
	staged->mailbox = mailbox;
	staged->flags = g_ptr_array_new_with_free_func(g_free);
	g_ptr_array_add(staged->flags, NULL);
	return staged;
}

void fs_staged_free(struct fs_staged *staged)
{
	close(staged->fd);
	g_free(staged->name);
	g_ptr_array_unref(staged->flags);
	g_mutex_clear(&staged->lock);
	g_free(staged);
}

void fs_staged_set_name(struct fs_staged *staged, struct store_node *dir,
		const char *name)
{
	g_mutex_lock(&staged->lock);
	staged->dir = dir;
	g_free(staged->name);
	staged->name = g_strdup(name);
	g_mutex_unlock(&staged->lock);
}

/* name_r stays valid while the staged file lives. */
bool fs_staged_name(struct fs_staged *staged, struct store_node **dir_r,
		const char **name_r)
{
	bool named;

	g_mutex_lock(&staged->lock);
	named = staged->dir != NULL;
	*dir_r = staged->dir;
	*name_r = staged->name;
	g_mutex_unlock(&staged->lock);
	return named;
}

struct store_mailbox *fs_staged_mailbox(struct fs_staged *staged)
{
	return staged->mailbox;
}

int fs_staged_fd(struct fs_staged *staged)
{
	return staged->fd;
}

uint64_t fs_staged_size(struct fs_staged *staged)
{
	uint64_t size;

	g_mutex_lock(&staged->lock);
	size = staged->size;
	g_mutex_unlock(&staged->lock);
	return size;
}

int fs_staged_write_buf(struct fs_staged *staged, struct fuse_bufvec *buf,
		off_t offset, size_t *written_r)
{
	size_t len = fuse_buf_size(buf);
	struct fuse_bufvec out = FUSE_BUFVEC_INIT(len);
	ssize_t n;
	int errnum = 0;

	*written_r = 0;
	out.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	out.buf[0].fd = staged->fd;
	out.buf[0].pos = offset;
	g_mutex_lock(&staged->lock);
	if (staged->appended) {
		errnum = EPERM;
		goto out;
	}
	n = fuse_buf_copy(&out, buf, FUSE_BUF_SPLICE_NONBLOCK);
	if (n < 0) {
		errnum = (int)-n;
		goto out;
	}
	*written_r = (size_t)n;
	staged->dirty = true;
	if ((uint64_t)offset + (uint64_t)n > staged->size)
		staged->size = (uint64_t)offset + (uint64_t)n;
out:
	g_mutex_unlock(&staged->lock);
	return errnum;
}

int fs_staged_truncate(struct fs_staged *staged, uint64_t size)
{
	int errnum = 0;

	g_mutex_lock(&staged->lock);
	if (staged->appended)
		errnum = size == staged->size ? 0 : EPERM;
	else if (ftruncate(staged->fd, (off_t)size) != 0)
		errnum = errno;
	else {
		staged->size = size;
		staged->dirty = true;
	}
	g_mutex_unlock(&staged->lock);
	return errnum;
}

int fs_staged_set_flag(struct fs_staged *staged, const char *flag, bool on)
{
	int errnum = 0;

	if (!store_flag_is_valid(flag))
		return EINVAL;
	g_mutex_lock(&staged->lock);
	if (staged->appended) {
		errnum = EPERM;
		goto out;
	}
	for (guint i = 0; i + 1 < staged->flags->len; i++) {
		if (g_ascii_strcasecmp(g_ptr_array_index(staged->flags, i),
					flag) == 0) {
			if (!on)
				g_ptr_array_remove_index(staged->flags, i);
			goto out;
		}
	}
	if (on)
		g_ptr_array_insert(staged->flags, (gint)staged->flags->len - 1,
				g_strdup(flag));
out:
	g_mutex_unlock(&staged->lock);
	return errnum;
}

int fs_staged_commit(struct fs_staged *staged, uint32_t *uid_r)
{
	int errnum = 0;

	*uid_r = 0;
	g_mutex_lock(&staged->lock);
	/* An empty file is no message: touch, or a shell that opened the
	 * file and closed its own copy before the program wrote. */
	if (staged->appended || !staged->dirty || staged->size == 0)
		goto out;
	errnum = store_mailbox_append(staged->mailbox, staged->fd,
			(const char *const *)staged->flags->pdata, uid_r);
	if (errnum == 0) {
		staged->appended = true;
		staged->dirty = false;
	}
out:
	g_mutex_unlock(&staged->lock);
	return errnum;
}

/* --- names given ------------------------------------------------------- */

/* Enough for what programs do right after creating or moving; the oldest
 * go first. */
#define ALIASES_MAX 4096

struct alias {
	char *key;			/* owned; also the queue's */
	struct store_mailbox *mailbox;	/* borrowed */
	uint32_t uid;
};

struct fs_aliases {
	GMutex lock;
	GHashTable *by_key;		/* key -> struct alias (owned) */
	GQueue order;			/* keys, oldest first (borrowed) */
};

static void alias_free(gpointer p)
{
	struct alias *a = p;

	g_free(a->key);
	g_free(a);
}

struct fs_aliases *fs_aliases_new(void)
{
	struct fs_aliases *aliases = g_new0(struct fs_aliases, 1);

	g_mutex_init(&aliases->lock);
	aliases->by_key = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
			alias_free);
	g_queue_init(&aliases->order);
	return aliases;
}

void fs_aliases_free(struct fs_aliases **aliases)
{
	if (!*aliases)
		return;
	g_queue_clear(&(*aliases)->order);
	g_hash_table_destroy((*aliases)->by_key);
	g_mutex_clear(&(*aliases)->lock);
	g_free(*aliases);
	*aliases = NULL;
}

static char *alias_key(struct store_node *dir, const char *name)
{
	return g_strdup_printf("%p/%s", (void *)dir, name);
}

void fs_alias_remove(struct fs_aliases *aliases, struct store_node *dir,
		const char *name)
{
	char *key = alias_key(dir, name);
	struct alias *a;

	g_mutex_lock(&aliases->lock);
	a = g_hash_table_lookup(aliases->by_key, key);
	if (a) {
		g_queue_remove(&aliases->order, a->key);
		g_hash_table_remove(aliases->by_key, key);
	}
	g_mutex_unlock(&aliases->lock);
	g_free(key);
}

void fs_alias_set(struct fs_aliases *aliases, struct store_node *dir,
		const char *name, struct store_mailbox *mailbox, uint32_t uid)
{
	struct alias *a = g_new0(struct alias, 1);

	fs_alias_remove(aliases, dir, name);
	a->key = alias_key(dir, name);
	a->mailbox = mailbox;
	a->uid = uid;
	g_mutex_lock(&aliases->lock);
	while (g_queue_get_length(&aliases->order) >= ALIASES_MAX)
		g_hash_table_remove(aliases->by_key,
				g_queue_pop_head(&aliases->order));
	g_hash_table_insert(aliases->by_key, a->key, a);
	g_queue_push_tail(&aliases->order, a->key);
	g_mutex_unlock(&aliases->lock);
}

bool fs_alias_get(struct fs_aliases *aliases, struct store_node *dir,
		const char *name, struct store_mailbox **mailbox_r,
		uint32_t *uid_r)
{
	char *key = alias_key(dir, name);
	struct alias *a;

	g_mutex_lock(&aliases->lock);
	a = g_hash_table_lookup(aliases->by_key, key);
	if (a) {
		*mailbox_r = a->mailbox;
		*uid_r = a->uid;
	}
	g_mutex_unlock(&aliases->lock);
	g_free(key);
	return a != NULL;
}
