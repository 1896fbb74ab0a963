/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Creating, deleting and renaming mailboxes.  The tree is listed again
 * after each change, so that it shows the server's view (attributes,
 * delimiters, children that moved with a rename), not our guess of it.
 */
#include "store/changes.h"

#include <errno.h>
#include <string.h>

#include "imap/pool.h"
#include "log.h"
#include "store/account-private.h"

static bool is_inbox(const struct store_node *node)
{
	return node->raw_name && g_ascii_strcasecmp(node->raw_name,
			"INBOX") == 0;
}

/* The raw name that display would have under parent, or NULL with
 * *errnum_r set. */
static char *child_raw_name(struct store_account *account,
		struct imap_session *session, struct store_node *parent,
		const char *display, int *errnum_r)
{
	enum names_charset charset = (imap_session_enabled(session) &
			IMAP_ENABLED_UTF8_ACCEPT) ? NAMES_UTF8 : NAMES_MUTF7;
	unsigned attrs = parent->raw_name ?
		store_node_attrs(account, parent) : 0;
	char delimiter = parent->raw_name ?
		store_account_node_delimiter(account, parent) : '\0';
	char *part = names_display_to_part(display, charset);
	char *raw;

	if (!part) {
		*errnum_r = EINVAL;
		return NULL;
	}
	if (parent->raw_name && (delimiter == '\0' ||
				(attrs & STORE_NODE_NOINFERIORS))) {
		/* A flat namespace, or \NoInferiors (RFC 3501 §7.2.2). */
		g_free(part);
		*errnum_r = EPERM;
		return NULL;
	}
	if (parent->raw_name && strchr(part, delimiter)) {
		/* It would be a path, not one name. */
		g_free(part);
		*errnum_r = EINVAL;
		return NULL;
	}
	raw = parent->raw_name ? g_strdup_printf("%s%c%s", parent->raw_name,
			delimiter, part) : g_strdup(part);
	g_free(part);
	return raw;
}

struct exists_check {
	const char *name;
	bool found;
	bool children;
};

static void note_listed(void *ctx, const struct imap_listed *l)
{
	struct exists_check *check = ctx;

	if (strcmp(l->name, check->name) == 0)
		check->found = true;
	else
		check->children = true;
}

/* Whether the server lists name now: 1, 0, or -errno. */
static int listed(struct imap_session *session, const char *name)
{
	struct exists_check check = { name, false, false };
	struct imap_result result;

	if (!imap_list(session, name, note_listed, &check, &result))
		return -imap_result_errno(&result);
	return check.found;
}

static struct imap_session *acquire(struct store_account *account,
		const char *doing, int *errnum_r)
{
	GError *error = NULL;
	struct imap_session *session = imap_pool_acquire(
			store_account_pool(account), NULL, &error);

	if (!session) {
		log_warning("cannot %s: %s", doing, error->message);
		*errnum_r = g_error_matches(error, IMAP_TRANSPORT_ERROR,
				IMAP_TRANSPORT_ERROR_TIMEOUT) ? ETIMEDOUT : EIO;
		g_error_free(error);
	}
	return session;
}

/* The tree after a change; a failure to list is logged and the change
 * stands (the next refresh shows it). */
static void relist(struct store_account *account)
{
	GError *error = NULL;

	if (!store_account_list_now(account, &error)) {
		log_warning("%s", error->message);
		g_error_free(error);
	}
}

/*
 * Run a mailbox command; when its answer is lost, look on a new
 * connection whether `check` is listed now (want: 1 for CREATE and the
 * new name of RENAME, 0 for DELETE) before sending it again.
 */
static int run_checked(struct store_account *account, const char *doing,
		bool (*op)(struct imap_session *, const char *, const char *,
			struct imap_result *),
		const char *a, const char *b, const char *check, int want)
{
	struct imap_pool *pool = store_account_pool(account);
	struct imap_result result;
	int errnum = 0;

	for (int attempt = 0;; attempt++) {
		struct imap_session *session = acquire(account, doing,
				&errnum);
		bool ok;

		if (!session)
			return errnum;
		if (attempt > 0) {
			int now = listed(session, check);

			if (now < 0 || now == want) {
				imap_pool_release(pool, session);
				return now < 0 ? -now : 0;
			}
		}
		ok = op(session, a, b, &result);
		imap_pool_release(pool, session);
		if (ok)
			return 0;
		if (result.status != IMAP_RESULT_SESSION || attempt > 0)
			break;
		log_info("connection lost while asked to %s %s; checking "
				"what happened", doing, a);
	}
	log_warning("cannot %s %s: %s", doing, a, result.text);
	return imap_result_errno(&result);
}

static bool op_create(struct imap_session *s, const char *a, const char *b,
		struct imap_result *r)
{
	(void)b;
	return imap_create(s, a, r);
}

static bool op_delete(struct imap_session *s, const char *a, const char *b,
		struct imap_result *r)
{
	(void)b;
	return imap_delete(s, a, r);
}

static bool op_rename(struct imap_session *s, const char *a, const char *b,
		struct imap_result *r)
{
	return imap_rename(s, a, b, r);
}

int store_node_create(struct store_account *account,
		struct store_node *parent, const char *display)
{
	struct imap_session *session;
	char *raw;
	int errnum = 0;

	if (store_node_child(account, parent, display))
		return EEXIST;
	session = acquire(account, "create a mailbox", &errnum);
	if (!session)
		return errnum;
	raw = child_raw_name(account, session, parent, display, &errnum);
	imap_pool_release(store_account_pool(account), session);
	if (!raw)
		return errnum;
	errnum = run_checked(account, "create", op_create, raw, NULL, raw, 1);
	if (errnum == 0)
		relist(account);
	g_free(raw);
	return errnum;
}

int store_node_delete(struct store_account *account, struct store_node *node)
{
	struct imap_pool *pool = store_account_pool(account);
	struct store_mailbox *mb = store_node_mailbox(account, node);
	char delimiter = store_account_node_delimiter(account, node);
	struct imap_session *session;
	struct imap_result result;
	int errnum = 0;

	if (!node->raw_name || is_inbox(node))
		return EPERM;
	/* Checked on the server, not in our tree, which may be old: a
	 * mailbox with children or messages is never deleted (DELETE would
	 * take the messages with it, RFC 3501 §6.3.4). */
	session = acquire(account, "delete a mailbox", &errnum);
	if (!session)
		return errnum;
	if (delimiter) {
		char *pattern = g_strdup_printf("%s%c%%", node->raw_name,
				delimiter);
		struct exists_check check = { node->raw_name, false, false };
		bool ok = imap_list(session, pattern, note_listed, &check,
				&result);

		g_free(pattern);
		if (!ok) {
			errnum = imap_result_errno(&result);
			goto out;
		}
		if (check.children || check.found) {
			errnum = ENOTEMPTY;
			goto out;
		}
	}
	if (mb) {
		struct imap_mailbox_status status;

		if (!imap_status(session, node->raw_name, &status, &result)) {
			errnum = imap_result_errno(&result);
			goto out;
		}
		if (status.messages > 0) {
			errnum = ENOTEMPTY;
			goto out;
		}
	}
	imap_pool_release(pool, session);
	session = NULL;
	errnum = run_checked(account, "delete", op_delete, node->raw_name,
			NULL, node->raw_name, 0);
	/* Not there to delete (a \Noselect parent that was only implied):
	 * gone all the same. */
	if (errnum == ENOENT)
		errnum = 0;
	if (errnum == 0)
		relist(account);
out:
	if (session)
		imap_pool_release(pool, session);
	return errnum;
}

int store_node_rename(struct store_account *account, struct store_node *node,
		struct store_node *newparent, const char *newdisplay)
{
	struct imap_session *session;
	char *raw;
	int errnum = 0;

	if (!node->raw_name || is_inbox(node))
		return EPERM;
	if (store_node_child(account, newparent, newdisplay))
		return EEXIST;
	for (struct store_node *p = newparent; p; p = p->parent) {
		if (p == node)
			return EINVAL;	/* into itself */
	}
	session = acquire(account, "rename a mailbox", &errnum);
	if (!session)
		return errnum;
	raw = child_raw_name(account, session, newparent, newdisplay,
			&errnum);
	imap_pool_release(store_account_pool(account), session);
	if (!raw)
		return errnum;
	errnum = run_checked(account, "rename", op_rename, node->raw_name, raw,
			raw, 1);
	if (errnum == 0)
		relist(account);
	g_free(raw);
	return errnum;
}
