/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "options.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

G_DEFINE_QUARK(imapfs-options-error-quark, options_error)

#define DEFAULT_TIMEOUT_S 30
#define DEFAULT_CONNECTIONS 3
#define DEFAULT_REFRESH_S 30
#define MAX_CONNECTIONS 16
#define MAX_TIMEOUT_S 86400

enum {
	KEY_HELP,
	KEY_VERSION,
	KEY_RO,
};

#define OPT(t, field) { t, offsetof(struct imapfs_options, field), 1 }
#define OPT_STR(name, field) { name "=%s", \
	offsetof(struct imapfs_options, field), 0 }
#define OPT_INT(name, field) { name "=%d", \
	offsetof(struct imapfs_options, field), 0 }

static const struct fuse_opt imapfs_opts[] = {
	OPT_STR("user", user),
	OPT_STR("passcmd", passcmd),
	OPT_STR("passfile", passfile),
	OPT_STR("auth", auth),
	OPT_STR("tokencmd", tokencmd),
	OPT_STR("cafile", cafile),
	OPT_STR("cert", cert),
	OPT_STR("key", key),
	OPT_STR("tunnel", tunnel),
	OPT_STR("cache_dir", cache_dir),
	OPT_STR("cache_max", cache_max),
	OPT_STR("idle", idle),
	OPT_STR("delete", delete_mode),
	OPT("tls_insecure", tls_insecure),
	OPT("plaintext", plaintext),
	OPT("noidle", noidle),
	OPT("seen", seen),
	OPT("trace", trace),
	OPT("verbose", verbose),
	OPT_INT("connections", connections),
	OPT_INT("refresh", refresh),
	OPT_INT("timeout", timeout),
	/* FUSE's own; noted, and passed on for the kernel to enforce. */
	FUSE_OPT_KEY("ro", KEY_RO),
	FUSE_OPT_KEY("-h", KEY_HELP),
	FUSE_OPT_KEY("--help", KEY_HELP),
	FUSE_OPT_KEY("-V", KEY_VERSION),
	FUSE_OPT_KEY("--version", KEY_VERSION),
	FUSE_OPT_END
};

static int opt_proc(void *data, const char *arg, int key,
		struct fuse_args *outargs)
{
	struct imapfs_options *opts = data;

	(void)outargs;
	switch (key) {
	case KEY_HELP:
		opts->show_help = 1;
		return 0;
	case KEY_VERSION:
		opts->show_version = 1;
		return 0;
	case KEY_RO:
		opts->read_only = 1;
		return 1;
	case FUSE_OPT_KEY_NONOPT:
		if (!opts->source) {
			opts->source = g_strdup(arg);
			return 0;
		}
		return 1;	/* the mount point, for fuse_parse_cmdline */
	default:
		return 1;
	}
}

bool options_parse_args(struct fuse_args *args, struct imapfs_options *opts,
		GError **error)
{
	memset(opts, 0, sizeof(*opts));
	opts->connections = -1;
	opts->refresh = -1;
	opts->timeout = -1;
	if (fuse_opt_parse(args, opts, imapfs_opts, opt_proc) == -1) {
		g_set_error(error, OPTIONS_ERROR, 0, "invalid options");
		return false;
	}
	return true;
}

/* --- config file ------------------------------------------------------------ */

static bool config_string(GKeyFile *kf, const char *group, const char *key,
		char **field)
{
	if (*field || !g_key_file_has_key(kf, group, key, NULL))
		return true;
	*field = g_key_file_get_string(kf, group, key, NULL);
	return *field != NULL;
}

static bool config_bool(GKeyFile *kf, const char *group, const char *key,
		int *field, GError **error)
{
	GError *local = NULL;
	gboolean value;

	if (*field || !g_key_file_has_key(kf, group, key, NULL))
		return true;
	value = g_key_file_get_boolean(kf, group, key, &local);
	if (local) {
		g_propagate_prefixed_error(error, local, "config: ");
		return false;
	}
	*field = value ? 1 : 0;
	return true;
}

static bool config_int(GKeyFile *kf, const char *group, const char *key,
		int *field, GError **error)
{
	GError *local = NULL;
	int value;

	if (*field != -1 || !g_key_file_has_key(kf, group, key, NULL))
		return true;
	value = g_key_file_get_integer(kf, group, key, &local);
	if (local) {
		g_propagate_prefixed_error(error, local, "config: ");
		return false;
	}
	*field = value;
	return true;
}

bool options_apply_config(struct imapfs_options *opts,
		const char *config_path, GError **error)
{
	g_autofree char *default_path = NULL;
	g_autoptr(GKeyFile) kf = g_key_file_new();
	const char *group = opts->source;
	char *url = NULL;
	GError *local = NULL;
	bool ok;

	if (!group || g_str_has_prefix(group, "imap://") ||
			g_str_has_prefix(group, "imaps://"))
		return true;
	if (!config_path) {
		default_path = g_build_filename(g_get_user_config_dir(),
				"imapfs", "config", NULL);
		config_path = default_path;
	}
	if (!g_key_file_load_from_file(kf, config_path, G_KEY_FILE_NONE,
				&local)) {
		if (g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
			g_error_free(local);
			return true;	/* a label for a tunnel, perhaps */
		}
		g_propagate_prefixed_error(error, local, "%s: ", config_path);
		return false;
	}
	if (!g_key_file_has_group(kf, group))
		return true;
	config_string(kf, group, "url", &url);
	ok = config_string(kf, group, "user", &opts->user) &&
		config_string(kf, group, "passcmd", &opts->passcmd) &&
		config_string(kf, group, "passfile", &opts->passfile) &&
		config_string(kf, group, "auth", &opts->auth) &&
		config_string(kf, group, "tokencmd", &opts->tokencmd) &&
		config_string(kf, group, "cafile", &opts->cafile) &&
		config_string(kf, group, "cert", &opts->cert) &&
		config_string(kf, group, "key", &opts->key) &&
		config_string(kf, group, "tunnel", &opts->tunnel) &&
		config_string(kf, group, "cache_dir", &opts->cache_dir) &&
		config_string(kf, group, "cache_max", &opts->cache_max) &&
		config_string(kf, group, "idle", &opts->idle) &&
		config_string(kf, group, "delete", &opts->delete_mode) &&
		config_bool(kf, group, "tls_insecure", &opts->tls_insecure,
				error) &&
		config_bool(kf, group, "plaintext", &opts->plaintext, error) &&
		config_bool(kf, group, "noidle", &opts->noidle, error) &&
		config_bool(kf, group, "seen", &opts->seen, error) &&
		config_bool(kf, group, "trace", &opts->trace, error) &&
		config_int(kf, group, "connections", &opts->connections,
				error) &&
		config_int(kf, group, "refresh", &opts->refresh, error) &&
		config_int(kf, group, "timeout", &opts->timeout, error);
	if (!ok) {
		if (error && !*error)
			g_set_error(error, OPTIONS_ERROR, 0,
					"%s: bad value in [%s]", config_path,
					group);
		g_free(url);
		return false;
	}
	/* The section names the account; its url says where it lives. */
	opts->label = g_strdup(group);
	if (url) {
		g_free(opts->source);
		opts->source = url;
	}
	return true;
}

/* --- resolving ------------------------------------------------------------ */

bool options_parse_size(const char *text, uint64_t *bytes_r)
{
	char *end;
	guint64 value, mult = 1;

	if (!text || !g_ascii_isdigit(*text))
		return false;
	errno = 0;
	value = g_ascii_strtoull(text, &end, 10);
	if (errno)
		return false;
	switch (g_ascii_toupper(*end)) {
	case '\0':
		break;
	case 'K':
		mult = 1ULL << 10;
		break;
	case 'M':
		mult = 1ULL << 20;
		break;
	case 'G':
		mult = 1ULL << 30;
		break;
	case 'T':
		mult = 1ULL << 40;
		break;
	default:
		return false;
	}
	if (*end && end[1] && !(g_ascii_toupper(end[1]) == 'B' && !end[2]) &&
			!(end[1] == 'i' && g_ascii_toupper(end[2]) == 'B' &&
			  !end[3]))
		return false;
	if (value > G_MAXUINT64 / mult)
		return false;
	*bytes_r = value * mult;
	return true;
}

struct parsed_url {
	bool tls;
	char *user;
	char *host;
	uint16_t port;
	bool explicit_port;
};

static bool parse_url(const char *url, struct parsed_url *out, GError **error)
{
	const char *rest, *at, *host_end, *p;
	g_autofree char *hostport = NULL;

	memset(out, 0, sizeof(*out));
	if (g_str_has_prefix(url, "imaps://")) {
		out->tls = true;
		rest = url + 8;
	} else if (g_str_has_prefix(url, "imap://")) {
		rest = url + 7;
	} else {
		goto bad;
	}
	/* Everything up to the first '/' is the authority. */
	p = strchr(rest, '/');
	hostport = p ? g_strndup(rest, (gsize)(p - rest)) : g_strdup(rest);
	at = strrchr(hostport, '@');
	if (at && memchr(hostport, ':', (size_t)(at - hostport))) {
		/* Said before anything else, and without echoing the URL. */
		g_set_error(error, OPTIONS_ERROR, 0,
				"do not put the password in the URL (others "
				"can read the command line); use -o passfile "
				"or -o passcmd");
		return false;
	}
	if (p && p[1] != '\0')
		goto bad;
	if (at) {
		g_autofree char *userinfo = g_strndup(hostport,
				(gsize)(at - hostport));

		out->user = g_uri_unescape_string(userinfo, NULL);
		if (!out->user || !*out->user)
			goto bad;
		rest = at + 1;
	} else {
		rest = hostport;
	}
	if (*rest == '[') {
		host_end = strchr(rest, ']');
		if (!host_end)
			goto bad;
		out->host = g_strndup(rest + 1, (gsize)(host_end - rest - 1));
		p = host_end + 1;
	} else {
		host_end = strchr(rest, ':');
		if (!host_end)
			host_end = rest + strlen(rest);
		out->host = g_strndup(rest, (gsize)(host_end - rest));
		p = host_end;
	}
	if (!*out->host)
		goto bad;
	out->port = out->tls ? 993 : 143;
	if (*p == ':') {
		char *end;
		guint64 port;

		/* strtoull would take a sign or blanks. */
		if (!g_ascii_isdigit(p[1]))
			goto bad;
		port = g_ascii_strtoull(p + 1, &end, 10);
		if (*end || port == 0 || port > 65535)
			goto bad;
		out->port = (uint16_t)port;
		out->explicit_port = true;
	} else if (*p) {
		goto bad;
	}
	return true;
bad:
	g_free(out->user);
	g_free(out->host);
	memset(out, 0, sizeof(*out));
	g_set_error(error, OPTIONS_ERROR, 0,
			"%s is not imap://[USER@]HOST[:PORT] or "
			"imaps://[USER@]HOST[:PORT]", url);
	return false;
}

/* A file name from an account name. */
static char *account_dir_name(const char *name)
{
	char *s = g_strdup(name);

	for (char *p = s; *p; p++) {
		if (*p == '/')
			*p = '_';
	}
	if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0) {
		g_free(s);
		s = g_strdup("_");
	}
	return s;
}

static bool check_unsupported(const struct imapfs_options *opts,
		GError **error)
{
	const char *what = NULL;

	if (opts->tokencmd)
		what = "tokencmd";
	if (what) {
		g_set_error(error, OPTIONS_ERROR, 0,
				"option %s is not supported by this version "
				"yet", what);
		return false;
	}
	if (opts->delete_mode && strcmp(opts->delete_mode, "expunge") != 0 &&
			strcmp(opts->delete_mode, "trash") != 0) {
		g_set_error(error, OPTIONS_ERROR, 0,
				"delete=%s: use delete=expunge or delete=trash",
				opts->delete_mode);
		return false;
	}
	return true;
}

/*
 * A relative path made absolute against workdir, the directory imapfs was
 * started in: the daemon changes to / when it detaches (fuse_daemonize()),
 * and reconnections read the CA file, the cache is written and the
 * password file may be read long after.
 */
static bool make_absolute(const char *workdir, int cwd_errno,
		const char *key, char **path, GError **error)
{
	char *absolute;

	if (!*path || !**path || g_path_is_absolute(*path))
		return true;
	if (!workdir) {
		g_set_error(error, OPTIONS_ERROR, 0,
				"%s=%s is relative, but the current directory "
				"is unknown: %s", key, *path,
				g_strerror(cwd_errno));
		return false;
	}
	absolute = g_build_filename(workdir, *path, NULL);
	g_free(*path);
	*path = absolute;
	return true;
}

static bool make_paths_absolute(struct imapfs_options *opts,
		const char *workdir, int cwd_errno, GError **error)
{
	return make_absolute(workdir, cwd_errno, "cache_dir", &opts->cache_dir,
			error) &&
		make_absolute(workdir, cwd_errno, "cafile", &opts->cafile,
				error) &&
		make_absolute(workdir, cwd_errno, "cert", &opts->cert,
				error) &&
		make_absolute(workdir, cwd_errno, "key", &opts->key, error) &&
		make_absolute(workdir, cwd_errno, "passfile", &opts->passfile,
				error);
}

bool options_resolve(struct imapfs_options *opts,
		struct store_account_config *cfg, GError **error)
{
	struct imap_session_config *s = &cfg->session;
	g_autofree char *url = NULL;
	const char *label = NULL;
	struct parsed_url parsed = { 0 };
	g_autofree char *dir_name = NULL;
	char *workdir;

	memset(cfg, 0, sizeof(*cfg));
	if (!opts->source) {
		g_set_error(error, OPTIONS_ERROR, 0,
				"no source given; see imapfs --help");
		return false;
	}
	if (!check_unsupported(opts, error))
		return false;
	if (opts->refresh < -1 || opts->timeout == 0 || opts->timeout < -1 ||
			opts->timeout > MAX_TIMEOUT_S) {
		g_set_error(error, OPTIONS_ERROR, 0,
				"refresh must be 0 or more seconds, timeout 1 "
				"to %d", MAX_TIMEOUT_S);
		return false;
	}
	url = g_strdup(opts->source);
	label = opts->label;
	if (g_str_has_prefix(url, "imap://") ||
			g_str_has_prefix(url, "imaps://")) {
		if (!parse_url(url, &parsed, error))
			return false;
	} else if (opts->tunnel) {
		label = url;
	} else {
		g_set_error(error, OPTIONS_ERROR, 0,
				"%s is neither an imap:// or imaps:// URL nor "
				"an account of the config file (and no "
				"-o tunnel was given)", url);
		return false;
	}

	/* The physical path, as the kernel resolves from here; NULL when
	 * unknown (deleted, or unreadable above), which only matters for a
	 * relative path. */
	workdir = getcwd(NULL, 0);
	if (!make_paths_absolute(opts, workdir, workdir ? 0 : errno, error)) {
		free(workdir);
		g_free(parsed.user);
		g_free(parsed.host);
		return false;
	}
	/* The tunnel and the password command run here too. */
	s->workdir = g_strdup(workdir);
	free(workdir);
	s->tunnel = g_strdup(opts->tunnel);
	s->host = parsed.host ? parsed.host : g_strdup("localhost");
	s->port = parsed.port;
	if (opts->tunnel)
		s->security = IMAP_SECURITY_NONE;
	else if (parsed.tls)
		s->security = IMAP_SECURITY_TLS;
	else if (opts->plaintext)
		s->security = IMAP_SECURITY_NONE;
	else
		s->security = IMAP_SECURITY_STARTTLS;
	s->tls.cafile = g_strdup(opts->cafile);
	s->tls.certfile = g_strdup(opts->cert);
	s->tls.keyfile = g_strdup(opts->key);
	s->tls.insecure = opts->tls_insecure;
	s->timeout_ms = (opts->timeout > 0 ? opts->timeout :
			DEFAULT_TIMEOUT_S) * 1000;
	if (opts->user && parsed.user && strcmp(opts->user, parsed.user)) {
		g_set_error(error, OPTIONS_ERROR, 0,
				"user=%s differs from the user in the URL (%s)",
				opts->user, parsed.user);
		g_free(parsed.user);
		goto fail;
	}
	s->user = g_strdup(opts->user ? opts->user : parsed.user);
	if (!s->user && !opts->tunnel)
		s->user = g_strdup(g_get_user_name());
	g_free(parsed.user);

	if (!opts->auth || strcmp(opts->auth, "auto") == 0) {
		s->mechanism = IMAP_AUTH_AUTO;
	} else if (strcmp(opts->auth, "plain") == 0) {
		s->mechanism = IMAP_AUTH_PLAIN;
	} else if (strcmp(opts->auth, "login") == 0) {
		s->mechanism = IMAP_AUTH_LOGIN;
	} else {
		g_set_error(error, OPTIONS_ERROR, 0,
				"auth=%s is not supported by this version "
				"(plain, login)", opts->auth);
		goto fail;
	}

	if (label) {
		cfg->name = g_strdup(label);
	} else {
		GString *name = g_string_new(NULL);
		bool ipv6 = strchr(s->host, ':') != NULL;

		if (s->user)
			g_string_append_printf(name, "%s@", s->user);
		g_string_append_printf(name, ipv6 ? "[%s]" : "%s", s->host);
		if (parsed.explicit_port)
			g_string_append_printf(name, ":%u", s->port);
		cfg->name = g_string_free(name, FALSE);
	}
	dir_name = account_dir_name(cfg->name);
	cfg->cache_dir = opts->cache_dir ? g_strdup(opts->cache_dir) :
		g_build_filename(g_get_user_cache_dir(), "imapfs", dir_name,
				NULL);
	if (opts->cache_max &&
			!options_parse_size(opts->cache_max, &cfg->cache_max)) {
		g_set_error(error, OPTIONS_ERROR, 0,
				"cache_max=%s is not a size like 2G",
				opts->cache_max);
		goto fail;
	}
	if (opts->connections == 0 || opts->connections < -1 ||
			opts->connections > MAX_CONNECTIONS) {
		g_set_error(error, OPTIONS_ERROR, 0,
				"connections must be 1 to %d",
				MAX_CONNECTIONS);
		goto fail;
	}
	cfg->connections = opts->connections > 0 ?
		(unsigned)opts->connections : DEFAULT_CONNECTIONS;
	cfg->refresh_s = opts->refresh >= 0 ? opts->refresh :
		DEFAULT_REFRESH_S;
	cfg->delete_to_trash = opts->delete_mode &&
		strcmp(opts->delete_mode, "trash") == 0;
	/* -o ro changes nothing on the server, reading included. */
	cfg->mark_seen = opts->seen > 0 && !opts->read_only;
	return true;
fail:
	options_account_clear(cfg);
	return false;
}

void options_account_clear(struct store_account_config *cfg)
{
	struct imap_session_config *s = &cfg->session;

	g_free(cfg->name);
	g_free(cfg->cache_dir);
	g_free(s->host);
	g_free(s->tunnel);
	g_free(s->workdir);
	g_free((char *)s->tls.cafile);
	g_free((char *)s->tls.certfile);
	g_free((char *)s->tls.keyfile);
	g_free(s->user);
	memset(cfg, 0, sizeof(*cfg));
}

void options_clear(struct imapfs_options *opts)
{
	char **strings[] = {
		&opts->source, &opts->user, &opts->passcmd, &opts->passfile,
		&opts->auth, &opts->tokencmd, &opts->cafile, &opts->cert,
		&opts->key, &opts->tunnel, &opts->cache_dir,
		&opts->cache_max, &opts->idle, &opts->delete_mode,
		&opts->label,
	};

	for (size_t i = 0; i < G_N_ELEMENTS(strings); i++)
		g_clear_pointer(strings[i], g_free);
}

void options_print_usage(const char *progname)
{
	printf("usage: %s [options] SOURCE MOUNTPOINT\n"
"\n"
"SOURCE: imaps://[USER@]HOST[:PORT], imap://[USER@]HOST[:PORT] (STARTTLS),\n"
"        an account of $XDG_CONFIG_HOME/imapfs/config, or any label with\n"
"        -o tunnel=CMD\n"
"\n"
"imapfs options:\n"
"    -o user=NAME           login name, when not in the URL\n"
"    -o passfile=FILE       read the password from FILE (mode 0600)\n"
"    -o passcmd=CMD         take the password from CMD's first line\n"
"    -o auth=MECH           plain or login (default: best offered)\n"
"    -o cafile=FILE         trust these CA certificates\n"
"    -o cert=FILE,key=FILE  client certificate\n"
"    -o tls_insecure        do not verify the server certificate\n"
"    -o plaintext           allow imap:// without TLS\n"
"    -o tunnel=CMD          speak IMAP over CMD's stdin and stdout\n"
"    -o cache_dir=DIR       where bodies are cached\n"
"    -o cache_max=SIZE      bound on cached bodies (e.g. 2G)\n"
"    -o connections=N       IMAP connections at most (default %d)\n"
"    -o refresh=SECONDS     how stale a listing may get (default %d)\n"
"    -o timeout=SECONDS     bound on any wait for the server "
"(default %d)\n"
"    -o trace               log the IMAP dialogue (no secrets)\n"
"    -o verbose             log more\n"
"\n", progname, DEFAULT_CONNECTIONS, DEFAULT_REFRESH_S,
		DEFAULT_TIMEOUT_S);
}
