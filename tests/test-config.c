#define G_LOG_DOMAIN "MsTestConfig"

#include "config.h"

#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "ms-config.h"

#define MS_TEST_FINGERPRINT "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* warnings of the MsAccount domain, which the tests check instead of letting them abort */
static GString *ms_test_warnings = NULL;

static GLogWriterOutput
ms_test_log_writer(GLogLevelFlags log_level,
		   const GLogField *fields,
		   gsize n_fields,
		   gpointer user_data)
{
	const gchar *domain = NULL;
	const gchar *message = NULL;

	for (gsize i = 0; i < n_fields; i++) {
		if (g_strcmp0(fields[i].key, "GLIB_DOMAIN") == 0)
			domain = fields[i].value;
		else if (g_strcmp0(fields[i].key, "MESSAGE") == 0)
			message = fields[i].value;
	}
	if ((log_level & G_LOG_LEVEL_WARNING) != 0 && g_strcmp0(domain, "MsAccount") == 0 &&
	    message != NULL) {
		g_string_append_printf(ms_test_warnings, "%s\n", message);
		return G_LOG_WRITER_HANDLED;
	}
	return g_log_writer_default(log_level, fields, n_fields, user_data);
}

/* the directory all tests write under, removed when they are done */
static gchar *ms_test_root = NULL;

static void
ms_test_rm_rf(const gchar *path)
{
	g_autoptr(GDir) dir = NULL;
	const gchar *name;

	if (!g_file_test(path, G_FILE_TEST_IS_DIR) || g_file_test(path, G_FILE_TEST_IS_SYMLINK)) {
		g_assert_cmpint(g_unlink(path), ==, 0);
		return;
	}
	dir = g_dir_open(path, 0, NULL);
	g_assert_nonnull(dir);
	while ((name = g_dir_read_name(dir)) != NULL) {
		g_autofree gchar *child = g_build_filename(path, name, NULL);
		ms_test_rm_rf(child);
	}
	g_assert_cmpint(g_rmdir(path), ==, 0);
}

/* a fresh directory for each test, where its accounts file lives */
static gchar *
ms_test_config_dir(void)
{
	g_autofree gchar *dir =
	    g_build_filename(ms_test_root, g_test_get_path(), "mail-sender", NULL);
	g_assert_cmpint(g_mkdir_with_parents(dir, 0700), ==, 0);
	return g_steal_pointer(&dir);
}

static gchar *
ms_test_write_config(const gchar *basename, const gchar *contents)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *dir = ms_test_config_dir();
	g_autofree gchar *path = g_build_filename(dir, basename, NULL);
	gboolean ret;

	ret = g_file_set_contents(path, contents, -1, &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	return g_steal_pointer(&path);
}

static MsAccount *
ms_test_account_from_data(const gchar *data, const gchar *name, GError **error)
{
	g_autoptr(GKeyFile) keyfile = g_key_file_new();
	g_autoptr(GError) error_local = NULL;
	gboolean ret;

	ret = g_key_file_load_from_data(keyfile, data, -1, G_KEY_FILE_NONE, &error_local);
	g_assert_no_error(error_local);
	g_assert_true(ret);
	return ms_account_new_from_keyfile(keyfile, name, error);
}

/* loads contents as a file and returns the error, which must be there */
static GError *
ms_test_load_error(const gchar *contents, gchar **path_out)
{
	g_autoptr(MsConfig) config = ms_config_new();
	g_autofree gchar *path = ms_test_write_config("accounts.conf", contents);
	GError *error = NULL;
	gboolean ret;

	ret = ms_config_load(config, path, &error);
	g_assert_false(ret);
	g_assert_nonnull(error);
	/* nothing of the bad file got in */
	g_assert_null(ms_config_get_path(config));
	g_assert_nonnull(ms_config_get_account(config, "default"));
	if (path_out != NULL)
		*path_out = g_steal_pointer(&path);
	return error;
}

static void
ms_test_assert_strv(const gchar *const *strv, const gchar *const *expected)
{
	g_assert_nonnull(strv);
	for (guint i = 0; expected[i] != NULL; i++) {
		g_assert_nonnull(strv[i]);
		g_assert_cmpstr(strv[i], ==, expected[i]);
	}
	g_assert_cmpuint(g_strv_length((gchar **)strv), ==, g_strv_length((gchar **)expected));
}

static void
ms_test_assert_defaults(MsAccount *account)
{
	g_autofree gchar *from = g_strdup_printf("%s@%s", g_get_user_name(), g_get_host_name());

	g_assert_cmpstr(ms_account_get_name(account), ==, "default");
	g_assert_cmpstr(ms_account_get_host(account), ==, "localhost");
	g_assert_cmpuint(ms_account_get_port(account), ==, 25);
	g_assert_cmpint(ms_account_get_security(account), ==, MS_SECURITY_STARTTLS_OPPORTUNISTIC);
	g_assert_cmpint(ms_account_get_auth(account), ==, MS_AUTH_AUTO);
	g_assert_null(ms_account_get_username(account));
	g_assert_cmpstr(ms_account_get_from(account), ==, from);
	g_assert_cmpstr(ms_account_get_helo_name(account), ==, g_get_host_name());
	g_assert_null(ms_account_get_ca_file(account));
	g_assert_null(ms_account_get_tls_fingerprint(account));
	g_assert_true(ms_account_get_tls_verify(account));
	g_assert_false(ms_account_get_allow_plaintext_auth(account));
	g_assert_cmpuint(ms_account_get_timeout(account), ==, 30);
	g_assert_cmpuint(ms_account_get_max_connections(account), ==, 2);
	g_assert_cmpuint(ms_account_get_rate_limit(account), ==, 0);
	g_assert_cmpuint(ms_account_get_max_attempts(account), ==, 10);
	g_assert_cmpuint(ms_account_get_max_age(account), ==, 3 * 24 * 3600);
	g_assert_cmpuint(ms_account_get_retry_delay(account), ==, 60);
	g_assert_nonnull(ms_account_get_notify_to(account));
	g_assert_null(ms_account_get_notify_to(account)[0]);
	g_assert_cmpuint(ms_account_get_notify_coalesce(account), ==, 300);
	g_assert_nonnull(ms_account_get_allowed_users(account));
	g_assert_null(ms_account_get_allowed_users(account)[0]);
	g_assert_nonnull(ms_account_get_allowed_groups(account));
	g_assert_null(ms_account_get_allowed_groups(account)[0]);
	g_assert_false(ms_account_get_allow_from_override(account));
	g_assert_null(ms_account_get_password_file(account));
}

static void
ms_test_config_defaults(void)
{
	g_autoptr(MsConfig) config = ms_config_new();
	g_autoptr(GPtrArray) names = NULL;
	g_autoptr(GError) error = NULL;
	MsAccount *account;
	gboolean ret;

	g_string_truncate(ms_test_warnings, 0);
	ret = ms_config_load(config, NULL, &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	g_assert_null(ms_config_get_path(config));

	names = ms_config_get_account_names(config);
	g_assert_cmpuint(names->len, ==, 1);
	g_assert_cmpstr(g_ptr_array_index(names, 0), ==, "default");
	account = ms_config_get_account(config, "default");
	g_assert_nonnull(account);
	ms_test_assert_defaults(account);
	g_assert_null(ms_config_get_account(config, "work"));
	g_assert_cmpstr(ms_test_warnings->str, ==, "");
}

static void
ms_test_config_missing_file(void)
{
	g_autoptr(MsConfig) config = ms_config_new();
	g_autoptr(GPtrArray) names = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *dir = ms_test_config_dir();
	g_autofree gchar *path = g_build_filename(dir, "nonexistent", "accounts.conf", NULL);
	gboolean ret;

	ret = ms_config_load(config, path, &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	/* kept, so that a reload finds the file once it is written */
	g_assert_cmpstr(ms_config_get_path(config), ==, path);
	names = ms_config_get_account_names(config);
	g_assert_cmpuint(names->len, ==, 1);
	ms_test_assert_defaults(ms_config_get_account(config, "default"));
}

static void
ms_test_config_empty_file(void)
{
	g_autoptr(MsConfig) config = ms_config_new();
	g_autoptr(GPtrArray) names = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *path = ms_test_write_config("accounts.conf", "# nothing yet\n");
	gboolean ret;

	ret = ms_config_load(config, path, &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	names = ms_config_get_account_names(config);
	g_assert_cmpuint(names->len, ==, 0);
	g_assert_null(ms_config_get_account(config, "default"));
}

static void
ms_test_config_default_path(void)
{
	g_autofree gchar *system_path = ms_config_default_path(TRUE);
	g_autofree gchar *session_path = ms_config_default_path(FALSE);
	g_autofree gchar *expected = NULL;

	g_assert_cmpstr(system_path, ==, "/etc/mail-sender/accounts.conf");
	/* g_get_user_config_dir() is $XDG_CONFIG_HOME, or ~/.config without it */
	expected = g_strdup_printf("%s/mail-sender/accounts.conf", g_get_user_config_dir());
	g_assert_cmpstr(session_path, ==, expected);
}

static void
ms_test_config_all_keys(void)
{
	g_autoptr(MsConfig) config = ms_config_new();
	g_autoptr(GPtrArray) names = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *ca_file =
	    g_test_build_filename(G_TEST_DIST, "files", "config", "ca.pem", NULL);
	g_autofree gchar *ca_canonical = g_canonicalize_filename(ca_file, NULL);
	g_autofree gchar *contents = NULL;
	g_autofree gchar *path = NULL;
	const gchar *notify_to[] = {"admin@example.org", "\"Ops, Team\" <ops@example.org>", NULL};
	const gchar *users[] = {"root", "alice", NULL};
	const gchar *groups[] = {"adm", "wheel", NULL};
	MsAccount *account;
	gboolean ret;

	contents = g_strdup_printf("# every key\n"
				   "[account work]\n"
				   "host=smtp.example.org\n"
				   "port=2525\n"
				   "security=starttls\n"
				   "auth=plain\n"
				   "username=alice@example.org\n"
				   "from=Alice Example <alice@example.org>\n"
				   "helo-name=client.example.org\n"
				   "ca-file=%s\n"
				   "tls-fingerprint=%s\n"
				   "tls-verify=false\n"
				   "allow-plaintext-auth=true\n"
				   "timeout=45\n"
				   "max-connections=5\n"
				   "rate-limit=120\n"
				   "max-attempts=3\n"
				   "max-age=2h\n"
				   "retry-delay=30\n"
				   "notify-to=admin@example.org;\"Ops, Team\" <ops@example.org>\n"
				   "notify-coalesce=600\n"
				   "allowed-users=root;alice\n"
				   "allowed-groups=adm,wheel\n"
				   "allow-from-override=true\n"
				   "password-file=/etc/mail-sender/work.password\n"
				   "\n"
				   "[account default]\n"
				   "host=relay.example.org\n",
				   ca_file,
				   MS_TEST_FINGERPRINT);
	path = ms_test_write_config("accounts.conf", contents);

	g_string_truncate(ms_test_warnings, 0);
	ret = ms_config_load(config, path, &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	g_assert_cmpstr(ms_config_get_path(config), ==, path);
	/* a pin still authenticates the server, so no warning */
	g_assert_cmpstr(ms_test_warnings->str, ==, "");

	names = ms_config_get_account_names(config);
	g_assert_cmpuint(names->len, ==, 2);
	g_assert_cmpstr(g_ptr_array_index(names, 0), ==, "work");
	g_assert_cmpstr(g_ptr_array_index(names, 1), ==, "default");

	account = ms_config_get_account(config, "work");
	g_assert_nonnull(account);
	g_assert_cmpstr(ms_account_get_name(account), ==, "work");
	g_assert_cmpstr(ms_account_get_host(account), ==, "smtp.example.org");
	g_assert_cmpuint(ms_account_get_port(account), ==, 2525);
	g_assert_cmpint(ms_account_get_security(account), ==, MS_SECURITY_STARTTLS);
	g_assert_cmpint(ms_account_get_auth(account), ==, MS_AUTH_PLAIN);
	g_assert_cmpstr(ms_account_get_username(account), ==, "alice@example.org");
	g_assert_cmpstr(ms_account_get_from(account), ==, "Alice Example <alice@example.org>");
	g_assert_cmpstr(ms_account_get_helo_name(account), ==, "client.example.org");
	g_assert_cmpstr(ms_account_get_ca_file(account), ==, ca_canonical);
	g_assert_cmpstr(ms_account_get_tls_fingerprint(account), ==, MS_TEST_FINGERPRINT);
	g_assert_false(ms_account_get_tls_verify(account));
	g_assert_true(ms_account_get_allow_plaintext_auth(account));
	g_assert_cmpuint(ms_account_get_timeout(account), ==, 45);
	g_assert_cmpuint(ms_account_get_max_connections(account), ==, 5);
	g_assert_cmpuint(ms_account_get_rate_limit(account), ==, 120);
	g_assert_cmpuint(ms_account_get_max_attempts(account), ==, 3);
	g_assert_cmpuint(ms_account_get_max_age(account), ==, 7200);
	g_assert_cmpuint(ms_account_get_retry_delay(account), ==, 30);
	ms_test_assert_strv(ms_account_get_notify_to(account), notify_to);
	g_assert_cmpuint(ms_account_get_notify_coalesce(account), ==, 600);
	ms_test_assert_strv(ms_account_get_allowed_users(account), users);
	ms_test_assert_strv(ms_account_get_allowed_groups(account), groups);
	g_assert_true(ms_account_get_allow_from_override(account));
	g_assert_cmpstr(ms_account_get_password_file(account),
			==,
			"/etc/mail-sender/work.password");

	/* a group with only a host gets every other default */
	account = ms_config_get_account(config, "default");
	g_assert_nonnull(account);
	g_assert_cmpstr(ms_account_get_host(account), ==, "relay.example.org");
	g_assert_cmpint(ms_account_get_security(account), ==, MS_SECURITY_STARTTLS);
	g_assert_cmpuint(ms_account_get_port(account), ==, 587);
	g_assert_cmpint(ms_account_get_auth(account), ==, MS_AUTH_AUTO);
	g_assert_true(ms_account_get_tls_verify(account));
	g_assert_cmpuint(ms_account_get_timeout(account), ==, 30);
	g_assert_cmpuint(ms_account_get_notify_coalesce(account), ==, 300);
}

typedef struct {
	const gchar *host;
	const gchar *security; /* NULL: key absent, which is auto */
	guint port;	       /* 0: key absent */
	MsSecurity expected_security;
	guint expected_port;
} MsTestResolveRow;

static void
ms_test_config_security_resolution(void)
{
	const MsTestResolveRow rows[] = {
	    {"smtp.example.org", NULL, 465, MS_SECURITY_TLS, 465},
	    {"smtp.example.org", "auto", 465, MS_SECURITY_TLS, 465},
	    {"localhost", NULL, 465, MS_SECURITY_TLS, 465},
	    {"smtp.example.org", NULL, 0, MS_SECURITY_STARTTLS, 587},
	    {"smtp.example.org", NULL, 25, MS_SECURITY_STARTTLS, 25},
	    {"smtp.example.org", NULL, 587, MS_SECURITY_STARTTLS, 587},
	    {"localhost", NULL, 0, MS_SECURITY_STARTTLS_OPPORTUNISTIC, 25},
	    {"LocalHost.", NULL, 0, MS_SECURITY_STARTTLS_OPPORTUNISTIC, 25},
	    {"localhost.localdomain", NULL, 0, MS_SECURITY_STARTTLS_OPPORTUNISTIC, 25},
	    {"127.0.0.1", NULL, 0, MS_SECURITY_STARTTLS_OPPORTUNISTIC, 25},
	    {"127.1.2.3", NULL, 0, MS_SECURITY_STARTTLS_OPPORTUNISTIC, 25},
	    {"::1", NULL, 0, MS_SECURITY_STARTTLS_OPPORTUNISTIC, 25},
	    {"localhost", NULL, 587, MS_SECURITY_STARTTLS_OPPORTUNISTIC, 587},
	    {"128.0.0.1", NULL, 0, MS_SECURITY_STARTTLS, 587},
	    {"localhost.example.org", NULL, 0, MS_SECURITY_STARTTLS, 587},
	    {"192.0.2.1", NULL, 0, MS_SECURITY_STARTTLS, 587},
	    /* explicit modes only pick the port */
	    {"smtp.example.org", "tls", 0, MS_SECURITY_TLS, 465},
	    {"smtp.example.org", "starttls", 0, MS_SECURITY_STARTTLS, 587},
	    {"smtp.example.org",
	     "starttls-opportunistic",
	     0,
	     MS_SECURITY_STARTTLS_OPPORTUNISTIC,
	     25},
	    {"smtp.example.org", "none", 0, MS_SECURITY_NONE, 25},
	    {"localhost", "starttls", 0, MS_SECURITY_STARTTLS, 587},
	    /* allowed, if odd */
	    {"smtp.example.org", "tls", 25, MS_SECURITY_TLS, 25},
	    {"smtp.example.org", "none", 465, MS_SECURITY_NONE, 465},
	};

	for (guint i = 0; i < G_N_ELEMENTS(rows); i++) {
		g_autoptr(GString) data = g_string_new("[account r]\n");
		g_autoptr(MsAccount) account = NULL;
		g_autoptr(GError) error = NULL;

		g_string_append_printf(data, "host=%s\n", rows[i].host);
		if (rows[i].security != NULL)
			g_string_append_printf(data, "security=%s\n", rows[i].security);
		if (rows[i].port != 0)
			g_string_append_printf(data, "port=%u\n", rows[i].port);
		account = ms_test_account_from_data(data->str, "r", &error);
		g_assert_no_error(error);
		g_assert_nonnull(account);
		g_assert_cmpstr(ms_security_to_string(ms_account_get_security(account)),
				==,
				ms_security_to_string(rows[i].expected_security));
		g_assert_cmpuint(ms_account_get_port(account), ==, rows[i].expected_port);
		g_assert_cmpstr(ms_account_get_host(account), ==, rows[i].host);
	}
}

static void
ms_test_config_enum_strings(void)
{
	g_assert_cmpstr(ms_security_to_string(MS_SECURITY_AUTO), ==, "auto");
	g_assert_cmpstr(ms_security_to_string(MS_SECURITY_TLS), ==, "tls");
	g_assert_cmpstr(ms_security_to_string(MS_SECURITY_STARTTLS), ==, "starttls");
	g_assert_cmpstr(ms_security_to_string(MS_SECURITY_STARTTLS_OPPORTUNISTIC),
			==,
			"starttls-opportunistic");
	g_assert_cmpstr(ms_security_to_string(MS_SECURITY_NONE), ==, "none");
	g_assert_cmpstr(ms_auth_method_to_string(MS_AUTH_AUTO), ==, "auto");
	g_assert_cmpstr(ms_auth_method_to_string(MS_AUTH_NONE), ==, "none");
	g_assert_cmpstr(ms_auth_method_to_string(MS_AUTH_PLAIN), ==, "plain");
	g_assert_cmpstr(ms_auth_method_to_string(MS_AUTH_LOGIN), ==, "login");
	g_assert_cmpstr(ms_auth_method_to_string(MS_AUTH_CRAM_MD5), ==, "cram-md5");
	g_assert_cmpstr(ms_auth_method_to_string(MS_AUTH_SCRAM_SHA_256), ==, "scram-sha-256");
	g_assert_cmpstr(ms_auth_method_to_string(MS_AUTH_XOAUTH2), ==, "xoauth2");
}

static void
ms_test_config_auth_values(void)
{
	const gchar *values[] =
	    {"auto", "none", "plain", "login", "cram-md5", "scram-sha-256", "xoauth2"};

	/* the ones not implemented yet are accepted in the file all the same */
	for (guint i = 0; i < G_N_ELEMENTS(values); i++) {
		g_autofree gchar *data =
		    g_strdup_printf("[account a]\nusername=alice\nauth=%s\n", values[i]);
		g_autoptr(MsAccount) account = NULL;
		g_autoptr(GError) error = NULL;

		account = ms_test_account_from_data(data, "a", &error);
		g_assert_no_error(error);
		g_assert_nonnull(account);
		g_assert_cmpint(ms_account_get_auth(account), ==, (gint)i);
		g_assert_cmpstr(ms_auth_method_to_string(ms_account_get_auth(account)),
				==,
				values[i]);
	}
}

static void
ms_test_config_max_age(void)
{
	const struct {
		const gchar *value;
		guint64 seconds;
	} rows[] = {
	    {"3600", 3600},
	    {"90s", 90},
	    {"30m", 1800},
	    {"12h", 43200},
	    {"3d", 259200},
	    {"365d", 365 * 86400},
	};

	for (guint i = 0; i < G_N_ELEMENTS(rows); i++) {
		g_autofree gchar *data =
		    g_strdup_printf("[account a]\nmax-age=%s\n", rows[i].value);
		g_autoptr(MsAccount) account = NULL;
		g_autoptr(GError) error = NULL;

		account = ms_test_account_from_data(data, "a", &error);
		g_assert_no_error(error);
		g_assert_nonnull(account);
		g_assert_cmpuint(ms_account_get_max_age(account), ==, rows[i].seconds);
	}
}

static void
ms_test_config_lists(void)
{
	g_autoptr(MsAccount) account = NULL;
	g_autoptr(GError) error = NULL;
	const gchar *notify_to[] = {"a@example.org",
				    "B <b@example.org>",
				    "\"Last; First\" <c@example.org>",
				    "d@example.org",
				    NULL};
	const gchar *users[] = {"root", "1000", "alice", NULL};
	const gchar *empty[] = {NULL};

	account = ms_test_account_from_data(
	    "[account a]\n"
	    "notify-to = a@example.org , B <b@example.org>;\"Last; First\" <c@example.org>; "
	    "d@example.org;\n"
	    "allowed-users=root;1000, alice\n"
	    "allowed-groups=\n",
	    "a",
	    &error);
	g_assert_no_error(error);
	g_assert_nonnull(account);
	ms_test_assert_strv(ms_account_get_notify_to(account), notify_to);
	ms_test_assert_strv(ms_account_get_allowed_users(account), users);
	ms_test_assert_strv(ms_account_get_allowed_groups(account), empty);
}

static void
ms_test_config_fingerprint(void)
{
	const gchar *inputs[] = {
	    MS_TEST_FINGERPRINT,
	    "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF",
	    "01:23:45:67:89:AB:CD:EF:01:23:45:67:89:ab:cd:ef:"
	    "01:23:45:67:89:AB:CD:EF:01:23:45:67:89:ab:cd:ef",
	};

	for (guint i = 0; i < G_N_ELEMENTS(inputs); i++) {
		g_autofree gchar *data =
		    g_strdup_printf("[account pin]\ntls-fingerprint=%s\n", inputs[i]);
		g_autoptr(MsAccount) account = NULL;
		g_autoptr(GError) error = NULL;

		account = ms_test_account_from_data(data, "pin", &error);
		g_assert_no_error(error);
		g_assert_nonnull(account);
		g_assert_cmpstr(ms_account_get_tls_fingerprint(account), ==, MS_TEST_FINGERPRINT);
	}
}

static void
ms_test_config_username(void)
{
	g_autoptr(MsAccount) account = NULL;
	g_autoptr(MsAccount) account2 = NULL;
	g_autoptr(GError) error = NULL;

	/* empty means none, and then auth=auto means no AUTH */
	account = ms_test_account_from_data("[account a]\nusername=\n", "a", &error);
	g_assert_no_error(error);
	g_assert_nonnull(account);
	g_assert_null(ms_account_get_username(account));

	account2 = ms_test_account_from_data("[account b]\nusername=bob smith\n", "b", &error);
	g_assert_no_error(error);
	g_assert_nonnull(account2);
	g_assert_cmpstr(ms_account_get_username(account2), ==, "bob smith");
}

static void
ms_test_config_auth_needs_username(void)
{
	g_autoptr(MsAccount) account = NULL;
	g_autoptr(MsAccount) account2 = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *path = NULL;

	error = ms_test_load_error("[account mail]\nhost=smtp.example.org\nauth=plain\n", &path);
	g_assert_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE);
	g_assert_nonnull(strstr(error->message, path));
	g_assert_nonnull(strstr(error->message, "account 'mail'"));
	g_assert_nonnull(strstr(error->message, "key 'auth'"));
	g_assert_nonnull(strstr(error->message, "auth=plain needs a username"));
	g_clear_error(&error);

	/* an empty username is no username */
	account = ms_test_account_from_data("[account m]\nauth=login\nusername=\n", "m", &error);
	g_assert_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE);
	g_assert_cmpstr(error->message, ==, "account 'm': key 'auth': auth=login needs a username");
	g_assert_null(account);
	g_clear_error(&error);

	account2 = ms_test_account_from_data("[account m]\nauth=none\n", "m", &error);
	g_assert_no_error(error);
	g_assert_nonnull(account2);
	g_assert_cmpint(ms_account_get_auth(account2), ==, MS_AUTH_NONE);
}

typedef struct {
	const gchar *key;
	const gchar *value;
	const gchar *why; /* must appear after "account 'bad': key 'KEY': " */
} MsTestInvalidRow;

static const MsTestInvalidRow ms_test_invalid_rows[] = {
    {"host", "", "empty host name"},
    {"host", "smtp example.org", "'smtp example.org' is not a host name"},
    {"port", "0", "'0' is not a whole number from 1 to 65535"},
    {"port", "65536", "'65536' is not a whole number from 1 to 65535"},
    {"port", "25x", "'25x' is not a whole number from 1 to 65535"},
    {"security",
     "ssl",
     "unknown value 'ssl' (expected one of auto, tls, starttls, starttls-opportunistic, none)"},
    {"auth",
     "gssapi",
     "unknown value 'gssapi' (expected one of auto, none, plain, login, cram-md5, "
     "scram-sha-256, xoauth2)"},
    {"username", "al\\tice", "control characters are not allowed"},
    {"from", "", "empty address: remove the key to use the default"},
    {"from", "alice", "'alice' is not a valid mail address"},
    {"from", "Alice <alice@example.org", "is not a valid mail address"},
    {"helo-name", "bad name", "'bad name' is neither a host name nor an address literal"},
    {"helo-name", "-x.example.org", "'-x.example.org' is neither a host name nor an address"},
    {"helo-name", "x..example.org", "'x..example.org' is neither a host name nor an address"},
    {"helo-name", "[300.1.1.1]", "'[300.1.1.1]' is neither a host name nor an address literal"},
    {"helo-name", "192.0.2.1", "'192.0.2.1' is an IP address: write it as an address literal"},
    {"tls-fingerprint", "abcd", "a SHA-256 fingerprint has 64 hex digits, this one has 4"},
    {"tls-fingerprint",
     "zz23456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
     "is not a SHA-256 fingerprint: only hex digits and ':' are allowed"},
    {"tls-verify", "yes", "'yes' is not a boolean (expected true or false)"},
    {"allow-plaintext-auth", "2", "'2' is not a boolean (expected true or false)"},
    {"allow-from-override", "maybe", "'maybe' is not a boolean (expected true or false)"},
    {"timeout", "0", "'0' is not a whole number from 1 to 3600"},
    {"timeout", "3601", "'3601' is not a whole number from 1 to 3600"},
    {"max-connections", "0", "'0' is not a whole number from 1 to 100"},
    {"max-connections", "101", "'101' is not a whole number from 1 to 100"},
    {"rate-limit", "-1", "'-1' is not a whole number from 0 to 100000"},
    {"rate-limit", "100001", "'100001' is not a whole number from 0 to 100000"},
    {"max-attempts", "0", "'0' is not a whole number from 1 to 1000"},
    {"max-attempts", "1001", "'1001' is not a whole number from 1 to 1000"},
    {"max-age", "0", "'0' is not a duration from 1 second to 365 days"},
    {"max-age", "3w", "'3w' is not a duration from 1 second to 365 days"},
    {"max-age", "366d", "'366d' is not a duration from 1 second to 365 days"},
    {"max-age", "d", "'d' is not a duration from 1 second to 365 days"},
    {"retry-delay", "0", "'0' is not a whole number from 1 to 86400"},
    {"retry-delay", "86401", "'86401' is not a whole number from 1 to 86400"},
    {"notify-to", "admin@example.org, bogus", "'bogus' is not a valid mail address"},
    {"notify-coalesce", "86401", "'86401' is not a whole number from 0 to 86400"},
    {"allowed-users", "root alice", "'root alice' is not a user or group name"},
    {"allowed-groups", "\"wheel\"", "'\"wheel\"' is not a user or group name"},
    {"password-file", "secrets/work", "'secrets/work' is not an absolute path"},
};

static void
ms_test_config_invalid(gconstpointer user_data)
{
	const MsTestInvalidRow *row = user_data;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *path = NULL;
	g_autofree gchar *contents = NULL;
	g_autofree gchar *prefix = NULL;
	g_autofree gchar *key = g_strdup_printf("key '%s'", row->key);

	/* a good account first, so the error must name the bad one */
	contents = g_strdup_printf("[account good]\nhost=smtp.example.org\n\n"
				   "[account bad]\nretry-delay=10\n%s=%s\n",
				   row->key,
				   row->value);
	error = ms_test_load_error(contents, &path);
	g_assert_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE);
	g_assert_nonnull(strstr(error->message, path));
	g_assert_nonnull(strstr(error->message, "account 'bad'"));
	g_assert_nonnull(strstr(error->message, key));
	prefix = g_strdup_printf("%s: account 'bad': key '%s': ", path, row->key);
	g_assert_true(g_str_has_prefix(error->message, prefix));
	g_assert_nonnull(strstr(error->message + strlen(prefix), row->why));
}

static void
ms_test_config_unknown_key(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *path = NULL;
	g_autofree gchar *expected = NULL;

	error = ms_test_load_error("[account work]\nhelo_name=client.example.org\n", &path);
	g_assert_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE);
	expected = g_strdup_printf(
	    "%s: account 'work': key 'helo_name': unknown key, did you mean 'helo-name'?",
	    path);
	g_assert_cmpstr(error->message, ==, expected);
	g_clear_error(&error);
	g_clear_pointer(&expected, g_free);
	g_clear_pointer(&path, g_free);

	error = ms_test_load_error("[account work]\ntls-fingerprnt=ab\n", &path);
	expected =
	    g_strdup_printf("%s: account 'work': key 'tls-fingerprnt': unknown key, did you mean "
			    "'tls-fingerprint'?",
			    path);
	g_assert_cmpstr(error->message, ==, expected);
	g_clear_error(&error);
	g_clear_pointer(&expected, g_free);
	g_clear_pointer(&path, g_free);

	/* too far from every key for a guess */
	error = ms_test_load_error("[account work]\npassword=hunter2\n", &path);
	g_assert_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE);
	expected = g_strdup_printf("%s: account 'work': key 'password': unknown key", path);
	g_assert_cmpstr(error->message, ==, expected);
	/* the value of an unknown key is never repeated: it may be a secret */
	g_assert_null(strstr(error->message, "hunter2"));
	g_clear_error(&error);
	g_clear_pointer(&expected, g_free);
	g_clear_pointer(&path, g_free);

	/* translations are not a thing in this file */
	error = ms_test_load_error("[account work]\nhost[de]=smtp.example.org\n", &path);
	expected = g_strdup_printf("%s: account 'work': key 'host[de]': unknown key", path);
	g_assert_cmpstr(error->message, ==, expected);
}

static void
ms_test_config_bad_group(void)
{
	const gchar *groups[] = {
	    "general",
	    "account",
	    "account ",
	    "account foo bar",
	    "account föö",
	    "Account work",
	    "accounts work",
	    "account work/1",
	};

	for (guint i = 0; i < G_N_ELEMENTS(groups); i++) {
		g_autoptr(GError) error = NULL;
		g_autofree gchar *path = NULL;
		g_autofree gchar *contents = NULL;
		g_autofree gchar *expected = NULL;

		contents = g_strdup_printf("[account ok]\nhost=localhost\n[%s]\nhost=localhost\n",
					   groups[i]);
		error = ms_test_load_error(contents, &path);
		g_assert_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE);
		expected = g_strdup_printf("%s: group [%s]: groups must be [account NAME], NAME "
					   "made of letters, digits, '_', '.' and '-'",
					   path,
					   groups[i]);
		g_assert_cmpstr(error->message, ==, expected);
	}
}

static void
ms_test_config_good_names(void)
{
	g_autoptr(MsConfig) config = ms_config_new();
	g_autoptr(GPtrArray) names = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *path = NULL;
	gboolean ret;

	path = ms_test_write_config("accounts.conf",
				    "[account Work.example-1_b]\n"
				    "[account alerts]\n"
				    "host=127.0.0.1\n");
	ret = ms_config_load(config, path, &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	names = ms_config_get_account_names(config);
	g_assert_cmpuint(names->len, ==, 2);
	g_assert_cmpstr(g_ptr_array_index(names, 0), ==, "Work.example-1_b");
	g_assert_cmpstr(g_ptr_array_index(names, 1), ==, "alerts");
	/* no [account default]: fine, callers naming no account get NoSuchAccount later */
	g_assert_null(ms_config_get_account(config, "default"));
	g_assert_cmpuint(ms_account_get_port(ms_config_get_account(config, "alerts")), ==, 25);
}

static void
ms_test_config_ca_file_relative(void)
{
	g_autoptr(MsConfig) config = ms_config_new();
	g_autoptr(GError) error = NULL;
	g_autofree gchar *src =
	    g_test_build_filename(G_TEST_DIST, "files", "config", "ca.pem", NULL);
	g_autofree gchar *contents = NULL;
	g_autofree gchar *dir = ms_test_config_dir();
	g_autofree gchar *ca_dir = NULL;
	g_autofree gchar *ca_path = NULL;
	g_autofree gchar *path = NULL;
	gboolean ret;

	ret = g_file_get_contents(src, &contents, NULL, &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	ca_dir = g_build_filename(dir, "certs", NULL);
	g_assert_cmpint(g_mkdir_with_parents(ca_dir, 0700), ==, 0);
	ca_path = g_build_filename(ca_dir, "relay.pem", NULL);
	ret = g_file_set_contents(ca_path, contents, -1, &error);
	g_assert_no_error(error);
	g_assert_true(ret);

	/* relative to the file, not to the current directory */
	path = ms_test_write_config("accounts.conf",
				    "[account relay]\nca-file=./certs/../certs/relay.pem\n");
	ret = ms_config_load(config, path, &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	g_assert_cmpstr(ms_account_get_ca_file(ms_config_get_account(config, "relay")),
			==,
			ca_path);
}

static void
ms_test_config_ca_file_invalid(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *path = NULL;
	g_autofree gchar *missing = NULL;
	g_autofree gchar *dir = ms_test_config_dir();
	g_autofree gchar *junk = g_build_filename(dir, "junk.pem", NULL);
	gboolean ret;

	/* missing: relative, so the message shows where it was looked for */
	error = ms_test_load_error("[account relay]\nca-file=missing.pem\n", &path);
	g_assert_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE);
	missing = g_build_filename(dir, "missing.pem", NULL);
	g_assert_true(g_str_has_prefix(error->message, path));
	g_assert_nonnull(strstr(error->message, "account 'relay': key 'ca-file': "));
	g_assert_nonnull(strstr(error->message, missing));
	g_assert_nonnull(strstr(error->message, "No such file or directory"));
	g_clear_error(&error);
	g_clear_pointer(&path, g_free);

	/* a directory */
	error = ms_test_load_error("[account relay]\nca-file=/\n", &path);
	g_assert_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE);
	g_assert_nonnull(strstr(error->message, path));
	g_assert_nonnull(strstr(error->message, "account 'relay': key 'ca-file': "));
	g_clear_error(&error);
	g_clear_pointer(&path, g_free);

	/* not a certificate: a key, say */
	ret = g_file_set_contents(junk, "-----BEGIN PRIVATE KEY-----\n", -1, &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	error = ms_test_load_error("[account relay]\nca-file=junk.pem\n", &path);
	g_assert_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE);
	g_assert_nonnull(strstr(error->message, path));
	g_assert_nonnull(strstr(error->message, "account 'relay': key 'ca-file': "));
	g_assert_nonnull(strstr(error->message, "holds no PEM certificate"));
	g_clear_error(&error);
	g_clear_pointer(&path, g_free);

	/* looks like one, but is not */
	ret = g_file_set_contents(junk,
				  "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
				  -1,
				  &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	error = ms_test_load_error("[account relay]\nca-file=junk.pem\n", &path);
	g_assert_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE);
	g_assert_nonnull(strstr(error->message, "account 'relay': key 'ca-file': "));
	g_assert_nonnull(strstr(error->message, "cannot load certificates from"));
	g_assert_nonnull(strstr(error->message, junk));
	g_clear_error(&error);
	g_clear_pointer(&path, g_free);

	/* unreadable; root reads everything, so this part only means something for others */
	if (getuid() != 0) {
		g_autofree gchar *src =
		    g_test_build_filename(G_TEST_DIST, "files", "config", "ca.pem", NULL);
		g_autofree gchar *contents = NULL;
		g_autofree gchar *secret = g_build_filename(dir, "secret.pem", NULL);

		ret = g_file_get_contents(src, &contents, NULL, &error);
		g_assert_no_error(error);
		g_assert_true(ret);
		ret = g_file_set_contents(secret, contents, -1, &error);
		g_assert_no_error(error);
		g_assert_true(ret);
		g_assert_cmpint(g_chmod(secret, 0), ==, 0);
		error = ms_test_load_error("[account relay]\nca-file=secret.pem\n", &path);
		g_assert_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE);
		g_assert_nonnull(strstr(error->message, "account 'relay': key 'ca-file': "));
		g_assert_nonnull(strstr(error->message, "Permission denied"));
	}
}

static void
ms_test_config_syntax_error(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *path = NULL;
	g_autofree gchar *prefix = NULL;

	error = ms_test_load_error("[account work]\nthis is not a key\n", &path);
	g_assert_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_PARSE);
	prefix = g_strdup_printf("%s: ", path);
	g_assert_true(g_str_has_prefix(error->message, prefix));
	g_clear_error(&error);
	g_clear_pointer(&path, g_free);
	g_clear_pointer(&prefix, g_free);

	error = ms_test_load_error("host=smtp.example.org\n", &path);
	g_assert_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_GROUP_NOT_FOUND);
	prefix = g_strdup_printf("%s: ", path);
	g_assert_true(g_str_has_prefix(error->message, prefix));
}

static void
ms_test_config_encoding(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *path = NULL;
	g_autofree gchar *prefix = NULL;

	error = ms_test_load_error("[account work]\nusername=caf\xe9\n", &path);
	g_assert_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_UNKNOWN_ENCODING);
	prefix = g_strdup_printf("%s: account 'work': key 'username': ", path);
	g_assert_true(g_str_has_prefix(error->message, prefix));
}

static void
ms_test_config_tls_verify_warning(void)
{
	g_autoptr(MsAccount) account = NULL;
	g_autoptr(GError) error = NULL;

	g_string_truncate(ms_test_warnings, 0);
	account = ms_test_account_from_data("[account lab]\nhost=mail.lab.example\n"
					    "tls-verify=false\n",
					    "lab",
					    &error);
	g_assert_no_error(error);
	g_assert_nonnull(account);
	g_assert_false(ms_account_get_tls_verify(account));
	g_assert_cmpstr(ms_test_warnings->str,
			==,
			"certificate verification is OFF for account 'lab' (tls-verify=false): "
			"anyone on the path can read the password and the mail\n");
}

static void
ms_test_config_failed_load_keeps_config(void)
{
	g_autoptr(MsConfig) config = ms_config_new();
	g_autoptr(GPtrArray) names = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *good = NULL;
	g_autofree gchar *bad = NULL;
	MsAccount *account;
	gboolean ret;

	good = ms_test_write_config("good.conf",
				    "[account default]\nhost=relay.example.org\nport=2525\n"
				    "[account alerts]\nhost=localhost\n");
	ret = ms_config_load(config, good, &error);
	g_assert_no_error(error);
	g_assert_true(ret);

	bad = ms_test_write_config("bad.conf",
				   "[account default]\nhost=other.example.org\n"
				   "[account broken]\nport=99999\n");
	ret = ms_config_load(config, bad, &error);
	g_assert_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE);
	g_assert_false(ret);
	g_assert_true(g_str_has_prefix(error->message, bad));

	g_assert_cmpstr(ms_config_get_path(config), ==, good);
	names = ms_config_get_account_names(config);
	g_assert_cmpuint(names->len, ==, 2);
	g_assert_cmpstr(g_ptr_array_index(names, 0), ==, "default");
	g_assert_cmpstr(g_ptr_array_index(names, 1), ==, "alerts");
	account = ms_config_get_account(config, "default");
	g_assert_nonnull(account);
	g_assert_cmpstr(ms_account_get_host(account), ==, "relay.example.org");
	g_assert_cmpuint(ms_account_get_port(account), ==, 2525);
	g_assert_null(ms_config_get_account(config, "broken"));
}

static void
ms_test_config_missing_group(void)
{
	g_autoptr(MsAccount) account = NULL;
	g_autoptr(GError) error = NULL;

	account = ms_test_account_from_data("[account work]\nhost=localhost\n", "home", &error);
	g_assert_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_GROUP_NOT_FOUND);
	g_assert_cmpstr(error->message, ==, "account 'home': no group [account home]");
	g_assert_null(account);
}

int
main(int argc, char **argv)
{
	g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GError) error = NULL;
	int rc;

	/* before anything can log */
	ms_test_warnings = g_string_new(NULL);
	g_log_set_writer_func(ms_test_log_writer, NULL, NULL);
	g_test_init(&argc, &argv, NULL);
	ms_test_root = g_dir_make_tmp("ms-test-config-XXXXXX", &error);
	g_assert_no_error(error);
	g_assert_nonnull(ms_test_root);

	g_test_add_func("/mail-sender/config/defaults", ms_test_config_defaults);
	g_test_add_func("/mail-sender/config/missing-file", ms_test_config_missing_file);
	g_test_add_func("/mail-sender/config/empty-file", ms_test_config_empty_file);
	g_test_add_func("/mail-sender/config/default-path", ms_test_config_default_path);
	g_test_add_func("/mail-sender/config/all-keys", ms_test_config_all_keys);
	g_test_add_func("/mail-sender/config/security-resolution",
			ms_test_config_security_resolution);
	g_test_add_func("/mail-sender/config/enum-strings", ms_test_config_enum_strings);
	g_test_add_func("/mail-sender/config/auth-values", ms_test_config_auth_values);
	g_test_add_func("/mail-sender/config/max-age", ms_test_config_max_age);
	g_test_add_func("/mail-sender/config/lists", ms_test_config_lists);
	g_test_add_func("/mail-sender/config/fingerprint", ms_test_config_fingerprint);
	g_test_add_func("/mail-sender/config/username", ms_test_config_username);
	g_test_add_func("/mail-sender/config/auth-needs-username",
			ms_test_config_auth_needs_username);
	for (guint i = 0; i < G_N_ELEMENTS(ms_test_invalid_rows); i++) {
		gchar *path = g_strdup_printf("/mail-sender/config/invalid/%s/%u",
					      ms_test_invalid_rows[i].key,
					      i);
		g_test_add_data_func(path, &ms_test_invalid_rows[i], ms_test_config_invalid);
		g_ptr_array_add(paths, path);
	}
	g_test_add_func("/mail-sender/config/unknown-key", ms_test_config_unknown_key);
	g_test_add_func("/mail-sender/config/bad-group", ms_test_config_bad_group);
	g_test_add_func("/mail-sender/config/good-names", ms_test_config_good_names);
	g_test_add_func("/mail-sender/config/ca-file-relative", ms_test_config_ca_file_relative);
	g_test_add_func("/mail-sender/config/ca-file-invalid", ms_test_config_ca_file_invalid);
	g_test_add_func("/mail-sender/config/syntax-error", ms_test_config_syntax_error);
	g_test_add_func("/mail-sender/config/encoding", ms_test_config_encoding);
	g_test_add_func("/mail-sender/config/tls-verify-warning",
			ms_test_config_tls_verify_warning);
	g_test_add_func("/mail-sender/config/failed-load-keeps-config",
			ms_test_config_failed_load_keeps_config);
	g_test_add_func("/mail-sender/config/missing-group", ms_test_config_missing_group);
	rc = g_test_run();
	ms_test_rm_rf(ms_test_root);
	g_free(ms_test_root);
	g_string_free(ms_test_warnings, TRUE);
	return rc;
}
