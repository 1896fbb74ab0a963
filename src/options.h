/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The command line, the config file, and what they mean together: one
 * account's settings.  The command line wins over the config file.
 */
#ifndef IMAPFS_OPTIONS_H
#define IMAPFS_OPTIONS_H

#include <fuse_lowlevel.h>
#include <glib.h>
#include <stdbool.h>

#include "store/account.h"

#define OPTIONS_ERROR (options_error_quark())
GQuark options_error_quark(void);

/* As given; NULL strings and -1 numbers mean "not given". */
struct imapfs_options {
	char *source;
	char *label;		/* the config section, when one was used */
	char *user;
	char *passcmd;
	char *passfile;
	char *auth;
	char *tokencmd;
	char *cafile;
	char *cert;
	char *key;
	char *tunnel;
	char *cache_dir;
	char *cache_max;
	char *idle;
	char *delete_mode;
	int tls_insecure;
	int plaintext;
	int noidle;
	int seen;
	int trace;
	int verbose;
	int connections;
	int refresh;
	int timeout;
	int read_only;		/* -o ro (FUSE's, passed on) */
	int show_help;
	int show_version;
};

/* Take our options out of args, leaving FUSE's (and the mount point). */
bool options_parse_args(struct fuse_args *args, struct imapfs_options *opts,
		GError **error);

/* Fill what the command line left open from the account's section of the
 * config file (config_path NULL: $XDG_CONFIG_HOME/imapfs/config). */
bool options_apply_config(struct imapfs_options *opts,
		const char *config_path, GError **error);

/*
 * Turn the options into an account configuration (URL parsed, defaults
 * applied, values checked).  Strings in *cfg are newly allocated; free them
 * with options_account_clear().
 *
 * Relative paths (cache_dir, cafile, cert, key, passfile; from the command
 * line or the config file) are made absolute against the current
 * directory, in *opts as well, and that directory becomes the one the
 * tunnel and the password command run in (cfg->session.workdir): the
 * daemon changes to / when it detaches.
 */
bool options_resolve(struct imapfs_options *opts,
		struct store_account_config *cfg, GError **error);
void options_account_clear(struct store_account_config *cfg);
void options_clear(struct imapfs_options *opts);

/* "2G" -> 2147483648; false on garbage. */
bool options_parse_size(const char *text, uint64_t *bytes_r);

void options_print_usage(const char *progname);

#endif
