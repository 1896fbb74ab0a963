/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * imapfs: mount an IMAP account as a directory tree.
 *
 * The order matters: options, then the first connection and LIST (so that a
 * bad password or certificate fails here, with one line, before anything is
 * mounted), then the mount, then detaching, then the request loop.
 */
#include <errno.h>
#include <limits.h>
#include <fuse_lowlevel.h>
#include <malloc.h>
#include <glib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "credentials.h"
#include "fs/fs.h"
#include "fs/shutdown.h"
#include "log.h"
#include "options.h"
#include "store/account.h"

/* Where the password comes from, asked at most once per mount and kept
 * (only in memory) for the connections opened later. */
struct password_source {
	const struct imapfs_options *opts;
	const char *workdir;	/* where passcmd runs */
	GMutex lock;
	char *secret;
};

static const char *password_get(void *ctx, GError **error)
{
	struct password_source *src = ctx;
	const char *secret;

	g_mutex_lock(&src->lock);
	if (!src->secret) {
		if (src->opts->passfile)
			src->secret = credentials_read_passfile(
					src->opts->passfile, error);
		else if (src->opts->passcmd)
			src->secret = credentials_run_passcmd(
					src->opts->passcmd, src->workdir,
					CREDENTIALS_PASSCMD_TIMEOUT_MS, error);
		else
			src->secret = credentials_prompt("IMAP password: ",
					error);
	}
	secret = src->secret;
	g_mutex_unlock(&src->lock);
	return secret;
}

static void fail(const char *what, GError *error)
{
	g_autoptr(GString) line = g_string_new(NULL);
	g_autofree char *text = NULL;

	/* One line, saying what failed: that is the contract.  The message
	 * may quote the server (a BYE greeting, a login refusal), so it is
	 * escaped like everything logged: a server must not be able to
	 * drive the user's terminal. */
	if (error)
		text = g_strdup_printf("%s%s%s", what ? what : "",
				what ? ": " : "", error->message);
	else
		text = g_strdup(what);
	log_escape(line, text, strlen(text));
	fprintf(stderr, "imapfs: %s\n", line->str);
	g_clear_error(&error);
}

/* A mount point that cannot be one is better said before connecting. */
static bool check_mountpoint(const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0) {
		fprintf(stderr, "imapfs: mount point %s: %s\n", path,
				g_strerror(errno));
		return false;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "imapfs: mount point %s is not a directory\n",
				path);
		return false;
	}
	return true;
}

/* libfuse 3.12 and later fill in max_threads (10) when it is not given,
 * so whether the user chose it shows only in the arguments themselves. */
static bool max_threads_given(const struct fuse_args *args)
{
	for (int i = 1; i < args->argc; i++) {
		const char *arg = args->argv[i];
		g_auto(GStrv) parts = NULL;

		if (strcmp(arg, "-o") == 0 && i + 1 < args->argc)
			arg = args->argv[++i];
		else if (strncmp(arg, "-o", 2) == 0)
			arg += 2;
		else
			continue;
		parts = g_strsplit(arg, ",", -1);
		for (char **p = parts; *p; p++) {
			if (g_str_has_prefix(*p, "max_threads="))
				return true;
		}
	}
	return false;
}

static int run_loop(struct fuse_session *se, struct fuse_cmdline_opts *fopts,
		bool max_threads_chosen, unsigned connections)
{
	unsigned threads = connections * 2 + 4;

	struct fuse_loop_config *loop;
	int rc;

	if (fopts->singlethread)
		return fuse_session_loop(se);
	loop = fuse_loop_cfg_create();
	fuse_loop_cfg_set_clone_fd(loop, (unsigned)fopts->clone_fd);
	/* libfuse's "not given" is UINT_MAX, which it then complains of. */
	if (fopts->max_idle_threads != UINT_MAX)
		fuse_loop_cfg_set_idle_threads(loop, fopts->max_idle_threads);
	/* Opens waiting for a body hold no thread, but lookups and listings
	 * waiting for the server do: a few more threads than connections
	 * keep cached reads going meanwhile. */
	if (max_threads_chosen && fopts->max_threads > 0 &&
			fopts->max_threads <= 1000)
		threads = fopts->max_threads;
	log_debug(LOG_AREA_FUSE, "up to %u request threads", threads);
	fuse_loop_cfg_set_max_threads(loop, threads);
	rc = fuse_session_loop_mt(se, loop);
	fuse_loop_cfg_destroy(loop);
	return rc;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct imapfs_options opts;
	struct store_account_config cfg = { 0 };
	struct password_source password = { 0 };
	struct fuse_cmdline_opts fopts = { 0 };
	struct store_account *account = NULL;
	struct imapfs_fs *fs = NULL;
	bool max_threads_chosen = false;
	struct fuse_session *se = NULL;
	struct fs_shutdown *shutdown = NULL;
	g_autofree char *fsname = NULL;
	GError *error = NULL;
	const struct rlimit no_core = { 0, 0 };
	int rc = 1;

	/* Dozens of threads (requests, fetches, the notifier) each
	 * allocate a little: with an arena per thread, glibc keeps memory
	 * freed in one from serving another, which cost 2.6 MB of the peak
	 * at 100,000 messages (docs/PERFORMANCE.md). */
	mallopt(M_ARENA_MAX, 2);

	/* The password stays in this process's memory for the life of the
	 * mount (every new connection logs in with it), so the process must
	 * never be dumped: no core file, and no ptrace attach or
	 * /proc/PID/mem for other processes of the same user.  First thing,
	 * before anything can ask for a password. */
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	(void)setrlimit(RLIMIT_CORE, &no_core);
	signal(SIGPIPE, SIG_IGN);
	if (!options_parse_args(&args, &opts, &error)) {
		fail(NULL, error);
		goto out;
	}
	if (opts.show_help) {
		options_print_usage(argv[0]);
		fuse_cmdline_help();
		fuse_lowlevel_help();
		rc = 0;
		goto out;
	}
	if (opts.show_version) {
		printf("imapfs %s\nFUSE library %s\n", IMAPFS_VERSION,
				fuse_pkgversion());
		rc = 0;
		goto out;
	}
	if (!options_apply_config(&opts, NULL, &error) ||
			!options_resolve(&opts, &cfg, &error)) {
		fail(NULL, error);
		goto out;
	}
	max_threads_chosen = max_threads_given(&args);
	if (fuse_parse_cmdline(&args, &fopts) != 0)
		goto out;
	if (!fopts.mountpoint) {
		fail("no mount point given; see imapfs --help", NULL);
		goto out;
	}
	log_set_verbosity(opts.verbose || fopts.debug ? LOG_LEVEL_DEBUG :
			LOG_LEVEL_WARNING, LOG_AREA_ALL);
	log_set_trace(opts.trace);
	if (cfg.session.tls.insecure)
		fprintf(stderr, "imapfs: WARNING: tls_insecure: the server's "
				"certificate is NOT verified; anyone on the "
				"path can read your mail and password\n");

	g_mutex_init(&password.lock);
	password.opts = &opts;
	password.workdir = cfg.session.workdir;
	cfg.session.password = password_get;
	cfg.session.password_ctx = &password;

	if (!check_mountpoint(fopts.mountpoint))
		goto out;
	account = store_account_new(&cfg, &error);
	if (!account) {
		fail("cache", error);
		goto out;
	}

	/* A comma in the account name would end the option early. */
	fsname = g_strdup_printf("-ofsname=imapfs#%s", cfg.name);
	g_strdelimit(fsname + strlen("-ofsname="), ",", '_');
	fuse_opt_add_arg(&args, "-osubtype=imapfs,default_permissions");
	fuse_opt_add_arg(&args, fsname);

	/* The session is created (and its options checked) before the
	 * server is asked anything, so that a typo fails at once. */
	fs = imapfs_fs_new(account, opts.read_only);
	se = fuse_session_new(&args, &imapfs_fs_ops, sizeof(imapfs_fs_ops),
			fs);
	if (!se)
		goto out;
	if (!store_account_connect(account, &error)) {
		fail(NULL, error);
		goto out_session;
	}
	if (fuse_set_signal_handlers(se) != 0)
		goto out_session;
	if (fuse_session_mount(se, fopts.mountpoint) != 0)
		goto out_signals;
	/* fuse_daemonize() forks and the process that opened our
	 * connections exits: a tunnel it started would be nobody's child
	 * of ours, neither reaped nor safely signalled.  The daemon opens
	 * its own when it needs them. */
	if (!fopts.foreground)
		store_account_disconnect(account);
	fuse_daemonize(fopts.foreground);
	if (!fopts.foreground)
		log_use_syslog();
	fs->notifier = fs_notifier_start(se);
	fs->pusher = fs_pusher_start(se, fs->inodes, fs->without_open);
	/* Over libfuse's handlers, which stay for the time before. */
	shutdown = fs_shutdown_start(se, imapfs_fs_halt_writers, fs);

	rc = run_loop(se, &fopts, max_threads_chosen, cfg.connections) ?
		1 : 0;
	/* Ended by a signal: 1, as libfuse's handlers made it. */
	if (fs_shutdown_finish(&shutdown))
		rc = 1;

	/* Fetches still running answer requests: before the session goes. */
	imapfs_fs_quiesce(fs);
	fs_pusher_stop(&fs->pusher);
	fs_notifier_stop(&fs->notifier);
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_session:
	fuse_session_destroy(se);
out:
	imapfs_fs_free(&fs);
	store_account_free(&account);
	if (password.secret)
		credentials_secret_free(password.secret);
	if (password.opts)
		g_mutex_clear(&password.lock);
	options_account_clear(&cfg);
	options_clear(&opts);
	free(fopts.mountpoint);
	fuse_opt_free_args(&args);
	return rc;
}
