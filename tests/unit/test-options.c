/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Options: sizes, the command line, the config file, and what they resolve
 * to (URL forms, security, account name, cache directory, defaults and the
 * values that must be refused).  Runs with XDG directories of its own, so
 * the default config and cache locations are the test's.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "options.h"
#include "testutil.h"

/* Nothing given, as options_parse_args leaves it. */
static void opts_init(struct imapfs_options *o)
{
	memset(o, 0, sizeof(*o));
	o->connections = -1;
	o->refresh = -1;
	o->timeout = -1;
}

/* ---- sizes ---- */

static void test_parse_size(void)
{
	static const struct {
		const char *text;
		bool ok;
		uint64_t bytes;
	} cases[] = {
		{ "0", true, 0 },
		{ "512", true, 512 },
		{ "2K", true, 2048 },
		{ "2k", true, 2048 },
		{ "2KB", true, 2048 },
		{ "2KiB", true, 2048 },
		{ "1M", true, 1048576 },
		{ "1m", true, 1048576 },
		{ "2G", true, 2147483648ULL },
		{ "2g", true, 2147483648ULL },
		{ "2GB", true, 2147483648ULL },
		{ "2GiB", true, 2147483648ULL },
		{ "1T", true, 1099511627776ULL },
		{ "0G", true, 0 },
		{ "007", true, 7 },
		{ "18446744073709551615", true, 18446744073709551615ULL },
		{ "17179869183G", true, 17179869183ULL << 30 },
		{ "16777215T", true, 16777215ULL << 40 },
		{ "", false, 0 },
		{ "G", false, 0 },
		{ "K", false, 0 },
		{ "-1", false, 0 },
		{ "+1", false, 0 },
		{ " 1", false, 0 },
		{ "1 ", false, 0 },
		{ "1 G", false, 0 },
		{ "1X", false, 0 },
		{ "1B", false, 0 },
		{ "1.5G", false, 0 },
		{ "1,5G", false, 0 },
		{ "1e9", false, 0 },
		{ "0x10", false, 0 },
		{ "1GG", false, 0 },
		{ "1GBB", false, 0 },
		{ "1GiBx", false, 0 },
		{ "1Gi", false, 0 },
		{ "1Gx", false, 0 },
		{ "1P", false, 0 },
		{ "99999999999999999999", false, 0 },
		{ "18446744073709551616", false, 0 },
		{ "17179869184G", false, 0 },
		{ "16777216T", false, 0 },
		{ "18014398509481984K", false, 0 },
	};

	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		uint64_t bytes = 12345;
		bool ok = options_parse_size(cases[i].text, &bytes);

		if (ok != cases[i].ok)
			fail("#%zu \"%s\": %s", i, cases[i].text,
					ok ? "accepted" : "refused");
		else if (ok && bytes != cases[i].bytes)
			fail("#%zu \"%s\": %" G_GUINT64_FORMAT ", want %"
					G_GUINT64_FORMAT, i, cases[i].text,
					bytes, cases[i].bytes);
	}
	g_assert_false(options_parse_size(NULL, &(uint64_t){ 0 }));
}

/* ---- the command line ---- */

static void test_parse_args(void)
{
	char *argv[] = {
		(char *)"imapfs", (char *)"-o",
		(char *)"user=bob,connections=4,plaintext,cache_max=2G",
		(char *)"imaps://h", (char *)"-f", (char *)"/mnt",
		(char *)"-o", (char *)"ro,timeout=9,trace", NULL,
	};
	struct fuse_args args = FUSE_ARGS_INIT(8, argv);
	struct imapfs_options o;
	GError *error = NULL;
	bool mount_point = false, ro_kept = false;

	g_assert_true(options_parse_args(&args, &o, &error));
	g_assert_no_error(error);
	g_assert_cmpstr(o.source, ==, "imaps://h");
	g_assert_cmpstr(o.user, ==, "bob");
	g_assert_cmpstr(o.cache_max, ==, "2G");
	g_assert_cmpint(o.connections, ==, 4);
	g_assert_cmpint(o.plaintext, ==, 1);
	g_assert_cmpint(o.timeout, ==, 9);
	g_assert_cmpint(o.trace, ==, 1);
	g_assert_cmpint(o.refresh, ==, -1);
	g_assert_cmpint(o.tls_insecure, ==, 0);
	g_assert_cmpint(o.read_only, ==, 1);
	g_assert_null(o.label);
	g_assert_null(o.passcmd);
	/* FUSE's options (ro among them) and the mount point stay; ours are
	 * gone */
	for (int i = 0; i < args.argc; i++) {
		if (strstr(args.argv[i], "ro"))
			ro_kept = true;
		g_assert_null(strstr(args.argv[i], "user="));
		g_assert_null(strstr(args.argv[i], "imaps://"));
		g_assert_null(strstr(args.argv[i], "timeout"));
		if (strcmp(args.argv[i], "/mnt") == 0)
			mount_point = true;
	}
	g_assert_true(mount_point);
	g_assert_true(ro_kept);
	fuse_opt_free_args(&args);
	options_clear(&o);
	g_assert_null(o.source);
	g_assert_null(o.user);
	g_assert_null(o.cache_max);
}

static void test_parse_args_help(void)
{
	char *argv[] = { (char *)"imapfs", (char *)"--version",
		(char *)"-h", NULL };
	struct fuse_args args = FUSE_ARGS_INIT(3, argv);
	struct imapfs_options o;

	g_assert_true(options_parse_args(&args, &o, NULL));
	g_assert_cmpint(o.show_help, ==, 1);
	g_assert_cmpint(o.show_version, ==, 1);
	g_assert_null(o.source);
	fuse_opt_free_args(&args);
	options_clear(&o);
}

/* ---- resolving ---- */

struct resolve_case {
	const char *source;
	const char *label;
	const char *tunnel;
	const char *user;
	bool plaintext;
	/* expected */
	enum imap_security security;
	const char *host;
	uint16_t port;
	const char *login;	/* "$USER": g_get_user_name(); NULL: none */
	const char *name;
	const char *dir;	/* under the cache dir's imapfs/ */
};

static const struct resolve_case resolve_cases[] = {
	{ "imaps://alice@mail.example.com", NULL, NULL, NULL, false,
		IMAP_SECURITY_TLS, "mail.example.com", 993, "alice",
		"alice@mail.example.com", "alice@mail.example.com" },
	{ "imap://bob@host:1143", NULL, NULL, NULL, false,
		IMAP_SECURITY_STARTTLS, "host", 1143, "bob",
		"bob@host:1143", "bob@host:1143" },
	{ "imap://bob@host", NULL, NULL, NULL, false,
		IMAP_SECURITY_STARTTLS, "host", 143, "bob",
		"bob@host", "bob@host" },
	{ "imap://bob@host", NULL, NULL, NULL, true,
		IMAP_SECURITY_NONE, "host", 143, "bob", "bob@host",
		"bob@host" },
	/* plaintext never weakens imaps */
	{ "imaps://bob@host", NULL, NULL, NULL, true,
		IMAP_SECURITY_TLS, "host", 993, "bob", "bob@host",
		"bob@host" },
	{ "imaps://bob@host:10993", NULL, NULL, NULL, false,
		IMAP_SECURITY_TLS, "host", 10993, "bob", "bob@host:10993",
		"bob@host:10993" },
	{ "imap://bob@host:1", NULL, NULL, NULL, false,
		IMAP_SECURITY_STARTTLS, "host", 1, "bob", "bob@host:1",
		"bob@host:1" },
	{ "imap://bob@host:65535", NULL, NULL, NULL, false,
		IMAP_SECURITY_STARTTLS, "host", 65535, "bob",
		"bob@host:65535", "bob@host:65535" },
	{ "imap://bob@host/", NULL, NULL, NULL, false,
		IMAP_SECURITY_STARTTLS, "host", 143, "bob", "bob@host",
		"bob@host" },
	{ "imaps://alice%40example.com@host", NULL, NULL, NULL, false,
		IMAP_SECURITY_TLS, "host", 993, "alice@example.com",
		"alice@example.com@host", "alice@example.com@host" },
	{ "imaps://a%2Fb%20c@host", NULL, NULL, NULL, false,
		IMAP_SECURITY_TLS, "host", 993, "a/b c", "a/b c@host",
		"a_b c@host" },
	{ "imaps://[::1]:993", NULL, NULL, "u", false,
		IMAP_SECURITY_TLS, "::1", 993, "u", NULL, NULL },
	{ "imaps://u@[2001:db8::1]", NULL, NULL, NULL, false,
		IMAP_SECURITY_TLS, "2001:db8::1", 993, "u", NULL, NULL },
	{ "imap://u@127.0.0.1:1143", NULL, NULL, NULL, false,
		IMAP_SECURITY_STARTTLS, "127.0.0.1", 1143, "u",
		"u@127.0.0.1:1143", "u@127.0.0.1:1143" },
	/* no user anywhere: the local login name */
	{ "imaps://host", NULL, NULL, NULL, false,
		IMAP_SECURITY_TLS, "host", 993, "$USER", NULL, NULL },
	{ "imaps://host", NULL, NULL, "carol", false,
		IMAP_SECURITY_TLS, "host", 993, "carol", "carol@host",
		"carol@host" },
	/* a config section names the account */
	{ "imaps://alice@host", "work", NULL, NULL, false,
		IMAP_SECURITY_TLS, "host", 993, "alice", "work", "work" },
	/* a tunnel: no TLS of our own, the label names the account */
	{ "work", NULL, "ssh mailhost /usr/lib/dovecot/imap", NULL, false,
		IMAP_SECURITY_NONE, "localhost", 0, NULL, "work", "work" },
	{ "work", NULL, "cmd", "bob", false,
		IMAP_SECURITY_NONE, "localhost", 0, "bob", "work", "work" },
	{ "a/b", NULL, "cmd", NULL, false,
		IMAP_SECURITY_NONE, "localhost", 0, NULL, "a/b", "a_b" },
	{ "..", NULL, "cmd", NULL, false,
		IMAP_SECURITY_NONE, "localhost", 0, NULL, "..", "_" },
	{ ".", NULL, "cmd", NULL, false,
		IMAP_SECURITY_NONE, "localhost", 0, NULL, ".", "_" },
	{ "imaps://alice@host", NULL, "cmd", NULL, false,
		IMAP_SECURITY_NONE, "host", 993, "alice", "alice@host",
		"alice@host" },
};

static void test_resolve_table(void)
{
	for (size_t i = 0; i < G_N_ELEMENTS(resolve_cases); i++) {
		const struct resolve_case *c = &resolve_cases[i];
		struct imapfs_options o;
		struct store_account_config cfg;
		GError *error = NULL;
		const char *login = c->login && strcmp(c->login, "$USER") == 0 ?
			g_get_user_name() : c->login;
		char *dir;

		opts_init(&o);
		o.source = (char *)c->source;
		o.label = (char *)c->label;
		o.tunnel = (char *)c->tunnel;
		o.user = (char *)c->user;
		o.plaintext = c->plaintext;
		if (!options_resolve(&o, &cfg, &error)) {
			fail("#%zu %s: %s", i, c->source, error->message);
			g_clear_error(&error);
			continue;
		}
		g_assert_no_error(error);
		if (cfg.session.security != c->security)
			fail("#%zu %s: security %d, want %d", i, c->source,
					cfg.session.security, c->security);
		if (g_strcmp0(cfg.session.host, c->host) != 0)
			fail("#%zu %s: host %s, want %s", i, c->source,
					cfg.session.host, c->host);
		if (c->port && cfg.session.port != c->port)
			fail("#%zu %s: port %u, want %u", i, c->source,
					cfg.session.port, c->port);
		if (g_strcmp0(cfg.session.user, login) != 0)
			fail("#%zu %s: user %s, want %s", i, c->source,
					cfg.session.user, login);
		if (g_strcmp0(cfg.session.tunnel, c->tunnel) != 0)
			fail("#%zu %s: tunnel %s", i, c->source,
					cfg.session.tunnel);
		if (c->name && g_strcmp0(cfg.name, c->name) != 0)
			fail("#%zu %s: name %s, want %s", i, c->source,
					cfg.name, c->name);
		if (!cfg.name || !*cfg.name || strstr(cfg.name, "(null)"))
			fail("#%zu %s: name \"%s\"", i, c->source, cfg.name);
		dir = g_build_filename(g_get_user_cache_dir(), "imapfs",
				c->dir ? c->dir : cfg.name, NULL);
		if (g_strcmp0(cfg.cache_dir, dir) != 0)
			fail("#%zu %s: cache dir %s, want %s", i, c->source,
					cfg.cache_dir, dir);
		g_free(dir);
		/* defaults */
		g_assert_cmpuint(cfg.connections, ==, 3);
		g_assert_cmpint(cfg.refresh_s, ==, 30);
		g_assert_cmpint(cfg.session.timeout_ms, ==, 30000);
		g_assert_cmpuint(cfg.cache_max, ==, 0);
		g_assert_cmpint(cfg.session.mechanism, ==, IMAP_AUTH_AUTO);
		g_assert_null(cfg.session.tls.cafile);
		g_assert_false(cfg.session.tls.insecure);
		options_account_clear(&cfg);
		g_assert_null(cfg.name);
	}
}

/* The IPv6 forms: the host is the address without brackets. */
static void test_resolve_ipv6_name(void)
{
	struct imapfs_options o;
	struct store_account_config cfg;

	opts_init(&o);
	o.source = (char *)"imaps://u@[::1]:993";
	g_assert_true(options_resolve(&o, &cfg, NULL));
	g_assert_cmpstr(cfg.session.host, ==, "::1");
	g_assert_cmpuint(cfg.session.port, ==, 993);
	g_assert_nonnull(strstr(cfg.name, "::1"));
	g_assert_true(g_str_has_prefix(cfg.name, "u@"));
	options_account_clear(&cfg);
}

/* With a tunnel and a URL without a user there is no login name; the
 * account name must still be a name. */
static void test_resolve_tunnel_url_without_user(void)
{
	struct imapfs_options o;
	struct store_account_config cfg;

	opts_init(&o);
	o.source = (char *)"imaps://mail.example.com";
	o.tunnel = (char *)"cmd";
	g_assert_true(options_resolve(&o, &cfg, NULL));
	g_assert_cmpint(cfg.session.security, ==, IMAP_SECURITY_NONE);
	g_assert_null(cfg.session.user);
	g_assert_nonnull(cfg.name);
	if (strstr(cfg.name, "(null)") || strstr(cfg.cache_dir, "(null)"))
		fail("account name \"%s\", cache dir \"%s\"", cfg.name,
				cfg.cache_dir);
	options_account_clear(&cfg);
}

struct refuse_case {
	const char *source;
	const char *needle;	/* in the message, or NULL */
};

static const struct refuse_case refuse_cases[] = {
	{ "imap://", NULL },
	{ "imaps://", NULL },
	{ "imap:///", NULL },
	{ "imap://alice@", NULL },
	{ "imap://@host", NULL },
	{ "imaps://:993", NULL },
	{ "imap://alice@:143", NULL },
	{ "imap://host:0", NULL },
	{ "imap://host:65536", NULL },
	{ "imap://host:70000", NULL },
	{ "imap://host:abc", NULL },
	{ "imap://host:", NULL },
	{ "imap://host:143x", NULL },
	{ "imap://host:99999999999999999999", NULL },
	{ "imap://host:-1", NULL },
	{ "imap://host/INBOX", NULL },
	{ "imap://host/INBOX/", NULL },
	{ "imap://host//", NULL },
	{ "imaps://[::1", NULL },
	{ "imaps://[]:993", NULL },
	{ "imaps://[::1]x", NULL },
	{ "imaps://[::1]:0", NULL },
	{ "imaps://alice%00@host", NULL },
	/* not URLs, and no tunnel for a label */
	{ "http://host", "tunnel" },
	{ "pop3://alice@host", "tunnel" },
	{ "work", "tunnel" },
	{ "imap:/host", "tunnel" },
	/* signs and spaces are not port numbers */
	{ "imap://host:+143", NULL },
	{ "imap://host: 143", NULL },
	{ "imap://host:-18446744073709551615", NULL },
};

static void check_refused(struct imapfs_options *o, const char *what,
		const char *needle, const char *secret)
{
	struct store_account_config cfg;
	GError *error = NULL;

	memset(&cfg, 0x55, sizeof(cfg));
	if (options_resolve(o, &cfg, &error)) {
		fail("%s: accepted (host %s port %u name %s)", what,
				cfg.session.host, cfg.session.port, cfg.name);
		options_account_clear(&cfg);
		return;
	}
	if (!error) {
		fail("%s: refused without a message", what);
		return;
	}
	g_assert_true(error->domain == OPTIONS_ERROR);
	if (needle && !strstr(error->message, needle))
		fail("%s: \"%s\" does not mention %s", what, error->message,
				needle);
	if (secret && strstr(error->message, secret))
		fail("%s: \"%s\" shows the password", what, error->message);
	/* nothing is left to free */
	g_assert_null(cfg.name);
	g_assert_null(cfg.cache_dir);
	g_assert_null(cfg.session.host);
	g_assert_null(cfg.session.user);
	g_assert_null(cfg.session.workdir);
	g_error_free(error);
}

static void test_resolve_refused(void)
{
	struct imapfs_options o;

	for (size_t i = 0; i < G_N_ELEMENTS(refuse_cases); i++) {
		char *what = g_strdup_printf("#%zu %s", i,
				refuse_cases[i].source);

		opts_init(&o);
		o.source = (char *)refuse_cases[i].source;
		check_refused(&o, what, refuse_cases[i].needle, NULL);
		g_free(what);
	}
	opts_init(&o);
	check_refused(&o, "no source", NULL, NULL);
}

/* A password in the URL is refused, and the message does not repeat it,
 * whatever else is wrong with the URL. */
static void test_resolve_password_in_url(void)
{
	static const char *const urls[] = {
		"imap://a:secret@h",
		"imaps://a:secret@h:993",
		"imaps://a:secret@[::1]:993",
		"imap://a:secret@",
		"imap://:secret@h",
		"imap://a:secret@h:0",
		"imap://a:secret@h/INBOX",
		"imaps://a:secret@[::1",
	};

	for (size_t i = 0; i < G_N_ELEMENTS(urls); i++) {
		struct imapfs_options o;
		char *what = g_strdup_printf("#%zu %s", i, urls[i]);

		opts_init(&o);
		o.source = (char *)urls[i];
		check_refused(&o, what, NULL, "secret");
		g_free(what);
	}
}

static void test_resolve_password_message(void)
{
	struct imapfs_options o;

	opts_init(&o);
	o.source = (char *)"imap://a:secret@h";
	check_refused(&o, "password", "password", "secret");
}

static void test_resolve_numbers(void)
{
	static const struct {
		int connections, refresh, timeout;
		const char *refused;	/* word in the message, or NULL */
		unsigned want_connections;
		int want_refresh, want_timeout_ms;
	} cases[] = {
		{ -1, -1, -1, NULL, 3, 30, 30000 },
		{ 1, 0, 1, NULL, 1, 0, 1000 },
		{ 16, 120, 5, NULL, 16, 120, 5000 },
		{ 2, 86400, 86400, NULL, 2, 86400, 86400000 },
		{ 0, -1, -1, "connections", 0, 0, 0 },
		{ 17, -1, -1, "connections", 0, 0, 0 },
		{ 1000, -1, -1, "connections", 0, 0, 0 },
		{ INT_MAX, -1, -1, "connections", 0, 0, 0 },
		/* only -1 means "not given" */
		{ -5, -1, -1, "connections", 0, 0, 0 },
		{ INT_MIN, -1, -1, "connections", 0, 0, 0 },
		{ -1, -5, -1, "refresh", 0, 0, 0 },
		{ -1, INT_MIN, -1, "refresh", 0, 0, 0 },
		{ -1, -1, 0, "timeout", 0, 0, 0 },
		{ -1, -1, -5, "timeout", 0, 0, 0 },
		{ -1, -1, 86401, "timeout", 0, 0, 0 },
	};

	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		struct imapfs_options o;
		struct store_account_config cfg;
		GError *error = NULL;
		bool ok;

		opts_init(&o);
		o.source = (char *)"imaps://u@h";
		o.connections = cases[i].connections;
		o.refresh = cases[i].refresh;
		o.timeout = cases[i].timeout;
		ok = options_resolve(&o, &cfg, &error);
		if (ok != !cases[i].refused) {
			fail("#%zu connections=%d refresh=%d timeout=%d: %s",
					i, cases[i].connections,
					cases[i].refresh, cases[i].timeout,
					ok ? "accepted" : error->message);
		} else if (ok) {
			g_assert_cmpuint(cfg.connections, ==,
					cases[i].want_connections);
			g_assert_cmpint(cfg.refresh_s, ==,
					cases[i].want_refresh);
			g_assert_cmpint(cfg.session.timeout_ms, ==,
					cases[i].want_timeout_ms);
		} else {
			g_assert_nonnull(strstr(error->message,
						cases[i].refused));
			g_assert_null(cfg.name);
		}
		if (ok)
			options_account_clear(&cfg);
		g_clear_error(&error);
	}
}

/* A timeout too large for milliseconds in an int must not wrap around
 * into a negative or tiny wait. */
static void test_resolve_huge_timeout(void)
{
	static const int timeouts[] = { 2147484, 3000000, INT_MAX };

	for (size_t i = 0; i < G_N_ELEMENTS(timeouts); i++) {
		struct imapfs_options o;
		struct store_account_config cfg;
		GError *error = NULL;

		opts_init(&o);
		o.source = (char *)"imaps://u@h";
		o.timeout = timeouts[i];
		if (!options_resolve(&o, &cfg, &error)) {
			g_assert_nonnull(strstr(error->message, "timeout"));
			g_clear_error(&error);
			continue;
		}
		if (cfg.session.timeout_ms < 2147483000)
			fail("timeout=%d: timeout_ms %d", timeouts[i],
					cfg.session.timeout_ms);
		options_account_clear(&cfg);
	}
}

static void test_resolve_auth(void)
{
	static const struct {
		const char *auth;
		bool ok;
		enum imap_auth_mechanism mech;
	} cases[] = {
		{ NULL, true, IMAP_AUTH_AUTO },
		{ "auto", true, IMAP_AUTH_AUTO },
		{ "plain", true, IMAP_AUTH_PLAIN },
		{ "login", true, IMAP_AUTH_LOGIN },
		{ "xoauth2", false, 0 },
		{ "oauthbearer", false, 0 },
		{ "cram-md5", false, 0 },
		{ "", false, 0 },
		{ "plainx", false, 0 },
	};

	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		struct imapfs_options o;
		struct store_account_config cfg;
		GError *error = NULL;
		bool ok;

		opts_init(&o);
		o.source = (char *)"imaps://u@h";
		o.auth = (char *)cases[i].auth;
		ok = options_resolve(&o, &cfg, &error);
		if (ok != cases[i].ok) {
			fail("#%zu auth=%s: %s", i, cases[i].auth,
					ok ? "accepted" : error->message);
		} else if (ok) {
			g_assert_cmpint(cfg.session.mechanism, ==,
					cases[i].mech);
		} else {
			g_assert_nonnull(strstr(error->message, "auth="));
			g_assert_nonnull(strstr(error->message,
						cases[i].auth));
			g_assert_null(cfg.name);
		}
		if (ok)
			options_account_clear(&cfg);
		g_clear_error(&error);
	}
}

static void test_resolve_unsupported(void)
{
	struct imapfs_options o;

	opts_init(&o);
	o.source = (char *)"imaps://u@h";
	o.tokencmd = (char *)"oauth-token";
	check_refused(&o, "tokencmd", "tokencmd", NULL);

	opts_init(&o);
	o.source = (char *)"imaps://u@h";
	o.delete_mode = (char *)"bogus";
	check_refused(&o, "delete=bogus", "bogus", NULL);

	opts_init(&o);
	o.source = (char *)"imaps://u@h";
	o.delete_mode = (char *)"";
	check_refused(&o, "delete=", "delete", NULL);

	opts_init(&o);
	o.source = (char *)"imaps://u@h";
	o.cache_max = (char *)"lots";
	check_refused(&o, "cache_max=lots", "lots", NULL);
}

static void test_resolve_other_values(void)
{
	static const char *const deletes[] = { "expunge", "trash" };
	struct imapfs_options o;
	struct store_account_config cfg;

	for (size_t i = 0; i < G_N_ELEMENTS(deletes); i++) {
		opts_init(&o);
		o.source = (char *)"imaps://u@h";
		o.delete_mode = (char *)deletes[i];
		g_assert_true(options_resolve(&o, &cfg, NULL));
		g_assert_true(cfg.delete_to_trash == (i == 1));
		g_assert_false(cfg.mark_seen);
		options_account_clear(&cfg);
	}

	opts_init(&o);
	o.source = (char *)"imaps://u@h";
	o.seen = 1;
	g_assert_true(options_resolve(&o, &cfg, NULL));
	g_assert_true(cfg.mark_seen);
	g_assert_false(cfg.delete_to_trash);
	options_account_clear(&cfg);

	/* Under -o ro, reading does not set \Seen either. */
	opts_init(&o);
	o.source = (char *)"imaps://u@h";
	o.seen = 1;
	o.read_only = 1;
	g_assert_true(options_resolve(&o, &cfg, NULL));
	g_assert_false(cfg.mark_seen);
	options_account_clear(&cfg);


	opts_init(&o);
	o.source = (char *)"imaps://u@h";
	o.cache_max = (char *)"2G";
	o.cache_dir = (char *)"/somewhere/else";
	o.cafile = (char *)"/ca.pem";
	o.cert = (char *)"/c.pem";
	o.key = (char *)"/k.pem";
	o.tls_insecure = 1;
	g_assert_true(options_resolve(&o, &cfg, NULL));
	g_assert_cmpuint(cfg.cache_max, ==, 2147483648ULL);
	g_assert_cmpstr(cfg.cache_dir, ==, "/somewhere/else");
	g_assert_cmpstr(cfg.session.tls.cafile, ==, "/ca.pem");
	g_assert_cmpstr(cfg.session.tls.certfile, ==, "/c.pem");
	g_assert_cmpstr(cfg.session.tls.keyfile, ==, "/k.pem");
	g_assert_true(cfg.session.tls.insecure);
	/* the strings are copies */
	g_assert_true(cfg.cache_dir != o.cache_dir);
	g_assert_true(cfg.session.tls.cafile != o.cafile);
	options_account_clear(&cfg);
}

/* ---- the config file ---- */

static const char config_text[] =
	"# accounts\n"
	"[work]\n"
	"url=imaps://mail.example.com\n"
	"user=alice2\n"
	"passcmd=pass show work\n"
	"cache_max=1G\n"
	"connections=5\n"
	"refresh=60\n"
	"timeout=10\n"
	"trace=true\n"
	"tls_insecure=false\n"
	"noidle=1\n"
	"idle=Lists\n"
	"delete=trash\n"
	"cafile=/etc/ca.pem\n"
	"\n"
	"[nourl]\n"
	"user=x\n"
	"\n"
	"[tunneled]\n"
	"tunnel=ssh mailhost /usr/lib/dovecot/imap\n"
	"\n"
	"[badint]\n"
	"url=imap://h\n"
	"connections=many\n"
	"\n"
	"[badbool]\n"
	"url=imap://h\n"
	"trace=maybe\n"
	"\n"
	"[zero]\n"
	"url=imaps://u@h\n"
	"connections=0\n"
	"\n"
	"[leaky]\n"
	"url=imap://u:hunter2@h\n"
	"\n"
	"[imaps://u@h]\n"
	"user=fromconfig\n"
	"\n"
	"[badutf8]\n"
	"url=imap://h\n"
	"user=\xff\xfe\n";

static char *write_config(const char *text)
{
	GError *error = NULL;
	char *dir = g_dir_make_tmp("test-options-XXXXXX", &error);
	char *path;

	g_assert_no_error(error);
	path = g_build_filename(dir, "config", NULL);
	g_assert_true(g_file_set_contents(path, text, -1, &error));
	g_assert_no_error(error);
	g_free(dir);
	return path;
}

static void remove_config(char *path)
{
	char *dir = g_path_get_dirname(path);

	g_assert_cmpint(g_unlink(path), ==, 0);
	g_assert_cmpint(g_rmdir(dir), ==, 0);
	g_free(dir);
	g_free(path);
}

/*
 * Relative paths mean what they meant where imapfs was started, from the
 * command line as from the config file (the daemon changes to / when it
 * detaches); that directory is also where commands run.
 */
static void test_resolve_relative_paths(void)
{
	char *start = g_get_current_dir();
	char *dir = g_dir_make_tmp("test-options-cwd-XXXXXX", NULL);
	char *here, *config, *path;
	struct imapfs_options o;
	struct store_account_config cfg;
	GError *error = NULL;

	g_assert_nonnull(dir);
	g_assert_cmpint(g_chdir(dir), ==, 0);
	here = realpath(".", NULL);
	g_assert_nonnull(here);

	opts_init(&o);
	o.source = g_strdup("imaps://u@h");
	o.cache_dir = g_strdup("cache");
	o.cafile = g_strdup("./ca.pem");
	o.cert = g_strdup("../certs/c.pem");
	o.key = g_strdup("/abs/k.pem");
	o.passfile = g_strdup("sub/pass");
	g_assert_true(options_resolve(&o, &cfg, &error));
	g_assert_no_error(error);
	path = g_build_filename(here, "cache", NULL);
	g_assert_cmpstr(cfg.cache_dir, ==, path);
	g_free(path);
	path = g_build_filename(here, ".", "ca.pem", NULL);
	g_assert_cmpstr(cfg.session.tls.cafile, ==, path);
	g_free(path);
	path = g_build_filename(here, "..", "certs", "c.pem", NULL);
	g_assert_cmpstr(cfg.session.tls.certfile, ==, path);
	g_free(path);
	g_assert_cmpstr(cfg.session.tls.keyfile, ==, "/abs/k.pem");
	/* The password file is read from opts, later. */
	path = g_build_filename(here, "sub", "pass", NULL);
	g_assert_cmpstr(o.passfile, ==, path);
	g_free(path);
	g_assert_cmpstr(cfg.session.workdir, ==, here);
	options_account_clear(&cfg);
	options_clear(&o);

	/* The same from the config file. */
	config = write_config("[rel]\n"
			      "url=imaps://u@h\n"
			      "cache_dir=c2\n"
			      "cafile=ca2.pem\n"
			      "passfile=p2\n");
	opts_init(&o);
	o.source = g_strdup("rel");
	g_assert_true(options_apply_config(&o, config, &error));
	g_assert_true(options_resolve(&o, &cfg, &error));
	g_assert_no_error(error);
	path = g_build_filename(here, "c2", NULL);
	g_assert_cmpstr(cfg.cache_dir, ==, path);
	g_free(path);
	path = g_build_filename(here, "ca2.pem", NULL);
	g_assert_cmpstr(cfg.session.tls.cafile, ==, path);
	g_free(path);
	path = g_build_filename(here, "p2", NULL);
	g_assert_cmpstr(o.passfile, ==, path);
	g_free(path);
	options_account_clear(&cfg);
	options_clear(&o);
	remove_config(config);

	g_assert_cmpint(g_chdir(start), ==, 0);
	g_assert_cmpint(g_rmdir(dir), ==, 0);
	free(here);
	g_free(dir);
	g_free(start);
}

static void test_config_fills(void)
{
	char *path = write_config(config_text);
	struct imapfs_options o;
	struct store_account_config cfg;
	GError *error = NULL;
	char *dir;

	opts_init(&o);
	o.source = g_strdup("work");
	g_assert_true(options_apply_config(&o, path, &error));
	g_assert_no_error(error);
	g_assert_cmpstr(o.source, ==, "imaps://mail.example.com");
	g_assert_cmpstr(o.label, ==, "work");
	g_assert_cmpstr(o.user, ==, "alice2");
	g_assert_cmpstr(o.passcmd, ==, "pass show work");
	g_assert_cmpstr(o.cache_max, ==, "1G");
	g_assert_cmpstr(o.idle, ==, "Lists");
	g_assert_cmpstr(o.delete_mode, ==, "trash");
	g_assert_cmpstr(o.cafile, ==, "/etc/ca.pem");
	g_assert_cmpint(o.connections, ==, 5);
	g_assert_cmpint(o.refresh, ==, 60);
	g_assert_cmpint(o.timeout, ==, 10);
	g_assert_cmpint(o.trace, ==, 1);
	g_assert_cmpint(o.noidle, ==, 1);
	g_assert_cmpint(o.tls_insecure, ==, 0);
	g_assert_cmpint(o.plaintext, ==, 0);
	g_assert_null(o.passfile);
	g_assert_null(o.tunnel);

	g_assert_true(options_resolve(&o, &cfg, &error));
	g_assert_no_error(error);
	g_assert_cmpstr(cfg.name, ==, "work");
	g_assert_cmpint(cfg.session.security, ==, IMAP_SECURITY_TLS);
	g_assert_cmpstr(cfg.session.host, ==, "mail.example.com");
	g_assert_cmpuint(cfg.session.port, ==, 993);
	g_assert_cmpstr(cfg.session.user, ==, "alice2");
	g_assert_cmpuint(cfg.connections, ==, 5);
	g_assert_cmpint(cfg.refresh_s, ==, 60);
	g_assert_cmpint(cfg.session.timeout_ms, ==, 10000);
	g_assert_cmpuint(cfg.cache_max, ==, 1073741824ULL);
	dir = g_build_filename(g_get_user_cache_dir(), "imapfs", "work", NULL);
	g_assert_cmpstr(cfg.cache_dir, ==, dir);
	g_free(dir);
	options_account_clear(&cfg);
	options_clear(&o);
	g_assert_null(o.label);
	remove_config(path);
}

/* What the command line gave stays, even 0 for a number. */
static void test_config_command_line_wins(void)
{
	char *path = write_config(config_text);
	struct imapfs_options o;

	opts_init(&o);
	o.source = g_strdup("work");
	o.user = g_strdup("cli");
	o.cache_max = g_strdup("5M");
	o.connections = 2;
	o.refresh = 0;
	o.tls_insecure = 1;
	g_assert_true(options_apply_config(&o, path, NULL));
	g_assert_cmpstr(o.source, ==, "imaps://mail.example.com");
	g_assert_cmpstr(o.user, ==, "cli");
	g_assert_cmpstr(o.cache_max, ==, "5M");
	g_assert_cmpint(o.connections, ==, 2);
	g_assert_cmpint(o.refresh, ==, 0);
	g_assert_cmpint(o.tls_insecure, ==, 1);
	/* and the rest comes from the file */
	g_assert_cmpint(o.timeout, ==, 10);
	g_assert_cmpstr(o.passcmd, ==, "pass show work");
	options_clear(&o);
	remove_config(path);
}

static void test_config_booleans(void)
{
	static const struct {
		const char *value;
		bool ok;
		int want;
	} cases[] = {
		{ "true", true, 1 },
		{ "1", true, 1 },
		{ "false", true, 0 },
		{ "0", true, 0 },
		{ "maybe", false, 0 },
		{ "yes", false, 0 },
		{ "", false, 0 },
	};

	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		char *text = g_strdup_printf("[a]\nurl=imaps://u@h\n"
				"plaintext=%s\n", cases[i].value);
		char *path = write_config(text);
		struct imapfs_options o;
		GError *error = NULL;
		bool ok;

		opts_init(&o);
		o.source = g_strdup("a");
		ok = options_apply_config(&o, path, &error);
		if (ok != cases[i].ok) {
			fail("#%zu plaintext=%s: %s", i, cases[i].value,
					ok ? "accepted" : error->message);
		} else if (ok) {
			g_assert_cmpint(o.plaintext, ==, cases[i].want);
			g_assert_no_error(error);
		} else {
			g_assert_nonnull(error);
		}
		g_clear_error(&error);
		options_clear(&o);
		remove_config(path);
		g_free(text);
	}
}

static void test_config_ints(void)
{
	static const struct {
		const char *value;
		bool ok;
		int want;
	} cases[] = {
		{ "0", true, 0 },
		{ "7", true, 7 },
		{ "120", true, 120 },
		{ "many", false, 0 },
		{ "7s", false, 0 },
		{ "", false, 0 },
		{ "99999999999", false, 0 },
	};

	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		char *text = g_strdup_printf("[a]\nurl=imaps://u@h\n"
				"refresh=%s\n", cases[i].value);
		char *path = write_config(text);
		struct imapfs_options o;
		GError *error = NULL;
		bool ok;

		opts_init(&o);
		o.source = g_strdup("a");
		ok = options_apply_config(&o, path, &error);
		if (ok != cases[i].ok) {
			fail("#%zu refresh=%s: %s", i, cases[i].value,
					ok ? "accepted" : error->message);
		} else if (ok) {
			g_assert_cmpint(o.refresh, ==, cases[i].want);
		} else {
			g_assert_nonnull(error);
		}
		g_clear_error(&error);
		options_clear(&o);
		remove_config(path);
		g_free(text);
	}
}

static void test_config_bad_values(void)
{
	static const char *const sections[] = { "badint", "badbool",
		"badutf8" };
	char *path = write_config(config_text);

	for (size_t i = 0; i < G_N_ELEMENTS(sections); i++) {
		struct imapfs_options o;
		GError *error = NULL;

		opts_init(&o);
		o.source = g_strdup(sections[i]);
		g_assert_false(options_apply_config(&o, path, &error));
		g_assert_nonnull(error);
		g_assert_nonnull(strstr(error->message, "config"));
		g_assert_null(o.label);
		g_error_free(error);
		options_clear(&o);
	}
	remove_config(path);
}

static void test_config_other_sections(void)
{
	char *path = write_config(config_text);
	struct imapfs_options o;
	struct store_account_config cfg;
	GError *error = NULL;

	/* no url: the label stays the source, and without a tunnel that is
	 * not enough */
	opts_init(&o);
	o.source = g_strdup("nourl");
	g_assert_true(options_apply_config(&o, path, NULL));
	g_assert_cmpstr(o.source, ==, "nourl");
	g_assert_cmpstr(o.label, ==, "nourl");
	g_assert_cmpstr(o.user, ==, "x");
	g_assert_false(options_resolve(&o, &cfg, NULL));
	options_clear(&o);

	/* a tunnel from the file */
	opts_init(&o);
	o.source = g_strdup("tunneled");
	g_assert_true(options_apply_config(&o, path, NULL));
	g_assert_true(options_resolve(&o, &cfg, &error));
	g_assert_no_error(error);
	g_assert_cmpstr(cfg.name, ==, "tunneled");
	g_assert_cmpstr(cfg.session.tunnel, ==,
			"ssh mailhost /usr/lib/dovecot/imap");
	g_assert_cmpint(cfg.session.security, ==, IMAP_SECURITY_NONE);
	options_account_clear(&cfg);
	options_clear(&o);

	/* values from the file are checked like the command line's */
	opts_init(&o);
	o.source = g_strdup("zero");
	g_assert_true(options_apply_config(&o, path, NULL));
	check_refused(&o, "connections=0 in the file", "connections", NULL);
	options_clear(&o);

	opts_init(&o);
	o.source = g_strdup("leaky");
	g_assert_true(options_apply_config(&o, path, NULL));
	check_refused(&o, "password in the file's url", "password",
			"hunter2");
	options_clear(&o);

	/* a section that is not there: nothing changes */
	opts_init(&o);
	o.source = g_strdup("nosuch");
	g_assert_true(options_apply_config(&o, path, NULL));
	g_assert_cmpstr(o.source, ==, "nosuch");
	g_assert_null(o.label);
	g_assert_null(o.user);
	g_assert_cmpint(o.connections, ==, -1);
	check_refused(&o, "nosuch", "tunnel", NULL);
	options_clear(&o);

	/* a URL on the command line does not look into the file */
	opts_init(&o);
	o.source = g_strdup("imaps://u@h");
	g_assert_true(options_apply_config(&o, path, NULL));
	g_assert_null(o.user);
	g_assert_null(o.label);
	options_clear(&o);

	/* no source: nothing to do */
	opts_init(&o);
	g_assert_true(options_apply_config(&o, path, NULL));
	g_assert_null(o.source);
	remove_config(path);
}

static void test_config_files(void)
{
	struct imapfs_options o;
	GError *error = NULL;
	char *path, *missing, *dir;

	/* a missing file is no error (the default path included: the
	 * test's config directory is empty) */
	path = write_config("[a]\nuser=u\n");
	dir = g_path_get_dirname(path);
	missing = g_build_filename(dir, "nothing-here", NULL);
	opts_init(&o);
	o.source = g_strdup("a");
	g_assert_true(options_apply_config(&o, missing, &error));
	g_assert_no_error(error);
	g_assert_null(o.user);
	g_assert_null(o.label);
	g_assert_true(options_apply_config(&o, NULL, &error));
	g_assert_no_error(error);
	g_assert_null(o.user);
	options_clear(&o);

	/* the default path is $XDG_CONFIG_HOME/imapfs/config */
	{
		char *cdir = g_build_filename(g_get_user_config_dir(),
				"imapfs", NULL);
		char *cpath = g_build_filename(cdir, "config", NULL);

		g_assert_cmpint(g_mkdir_with_parents(cdir, 0700), ==, 0);
		g_assert_true(g_file_set_contents(cpath,
					"[home]\nurl=imaps://h\nuser=me\n", -1,
					NULL));
		opts_init(&o);
		o.source = g_strdup("home");
		g_assert_true(options_apply_config(&o, NULL, &error));
		g_assert_no_error(error);
		g_assert_cmpstr(o.user, ==, "me");
		g_assert_cmpstr(o.source, ==, "imaps://h");
		g_assert_cmpstr(o.label, ==, "home");
		options_clear(&o);
		g_unlink(cpath);
		g_free(cpath);
		g_free(cdir);
	}

	/* a file that is not a key file is an error */
	g_assert_true(g_file_set_contents(missing,
				"this is not\x01 a key file\n[\n", -1, NULL));
	opts_init(&o);
	o.source = g_strdup("a");
	g_assert_false(options_apply_config(&o, missing, &error));
	g_assert_nonnull(error);
	g_assert_nonnull(strstr(error->message, missing));
	g_clear_error(&error);
	options_clear(&o);
	g_unlink(missing);

	/* so is a directory where the file should be */
	g_assert_cmpint(g_mkdir(missing, 0700), ==, 0);
	opts_init(&o);
	o.source = g_strdup("a");
	g_assert_false(options_apply_config(&o, missing, &error));
	g_assert_nonnull(error);
	g_clear_error(&error);
	options_clear(&o);
	g_rmdir(missing);

	g_free(missing);
	g_free(dir);
	remove_config(path);
}

static void remove_tree(const char *path)
{
	GDir *dir = g_dir_open(path, 0, NULL);
	const char *name;

	if (!dir) {
		g_unlink(path);
		return;
	}
	while ((name = g_dir_read_name(dir)) != NULL) {
		char *sub = g_build_filename(path, name, NULL);

		remove_tree(sub);
		g_free(sub);
	}
	g_dir_close(dir);
	g_rmdir(path);
}

/* -o user names the login when the URL does not; two different names are
 * a mistake worth stopping for, not a guess. */
static void test_resolve_user_conflict(void)
{
	struct imapfs_options o;
	struct store_account_config cfg;
	GError *error = NULL;

	opts_init(&o);
	o.source = g_strdup("imaps://alice@mail.example.com");
	o.user = g_strdup("bob");
	g_assert_false(options_resolve(&o, &cfg, &error));
	g_assert_nonnull(error);
	g_assert_nonnull(strstr(error->message, "bob"));
	g_clear_error(&error);
	g_free(o.user);
	o.user = g_strdup("alice");
	g_assert_true(options_resolve(&o, &cfg, &error));
	g_assert_no_error(error);
	g_assert_cmpstr(cfg.session.user, ==, "alice");
	options_account_clear(&cfg);
	options_clear(&o);
}

int main(int argc, char **argv)
{
	/* Our own XDG directories, set before GLib first reads them
	 * (G_TEST_OPTION_ISOLATE_DIRS would do, but leaks by design, which
	 * LeakSanitizer reports). */
	char *xdg = g_dir_make_tmp("test-options-xdg-XXXXXX", NULL);
	char *cache = g_build_filename(xdg, "cache", NULL);
	char *config = g_build_filename(xdg, "config", NULL);
	int rc;

	g_assert_nonnull(xdg);
	g_setenv("XDG_CACHE_HOME", cache, TRUE);
	g_setenv("XDG_CONFIG_HOME", config, TRUE);
	g_test_init(&argc, &argv, NULL);
	g_assert_cmpstr(g_get_user_cache_dir(), ==, cache);
	g_assert_cmpstr(g_get_user_config_dir(), ==, config);
	g_test_add_func("/options/parse-size", test_parse_size);
	g_test_add_func("/options/args/parse", test_parse_args);
	g_test_add_func("/options/args/help", test_parse_args_help);
	g_test_add_func("/options/resolve/table", test_resolve_table);
	g_test_add_func("/options/resolve/ipv6-name", test_resolve_ipv6_name);
	g_test_add_func("/options/resolve/tunnel-url-without-user",
			test_resolve_tunnel_url_without_user);
	g_test_add_func("/options/resolve/refused", test_resolve_refused);
	g_test_add_func("/options/resolve/password-in-url",
			test_resolve_password_in_url);
	g_test_add_func("/options/resolve/password-message",
			test_resolve_password_message);
	g_test_add_func("/options/resolve/numbers", test_resolve_numbers);
	g_test_add_func("/options/resolve/huge-timeout",
			test_resolve_huge_timeout);
	g_test_add_func("/options/resolve/auth", test_resolve_auth);
	g_test_add_func("/options/resolve/unsupported",
			test_resolve_unsupported);
	g_test_add_func("/options/resolve/relative-paths",
			test_resolve_relative_paths);
	g_test_add_func("/options/resolve/other-values",
			test_resolve_other_values);
	g_test_add_func("/options/config/fills", test_config_fills);
	g_test_add_func("/options/config/command-line-wins",
			test_config_command_line_wins);
	g_test_add_func("/options/resolve/user-conflict",
			test_resolve_user_conflict);
	g_test_add_func("/options/config/booleans", test_config_booleans);
	g_test_add_func("/options/config/ints", test_config_ints);
	g_test_add_func("/options/config/bad-values", test_config_bad_values);
	g_test_add_func("/options/config/other-sections",
			test_config_other_sections);
	g_test_add_func("/options/config/files", test_config_files);
	rc = g_test_run();
	remove_tree(xdg);
	g_free(config);
	g_free(cache);
	g_free(xdg);
	return rc;
}
