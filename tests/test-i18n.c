/* Translations as a user sees them: the real mail-senderd from the build tree, run with
 * LANGUAGE=zh_CN or de and the catalogs meson compiled from po/ (MS_TEST_LOCALEDIR, handed to the
 * daemon as MS_LOCALEDIR), answers on a private session bus (tests/keyring-session.sh) with
 * translated D-Bus error messages under unchanged error names, and prints translated start-up
 * errors. The expected strings are the msgstr of po/zh_CN.po and po/de.po, byte for byte. */

#include "config.h"

#include <string.h>

#include "ms-test-bus.h"

#define WAIT_MS 30000

/* two accounts, so the message lists more than one name */
#define TEST_CONF                                                                                  \
	"[account default]\nhost=smtp.example.org\nsecurity=none\n\n"                              \
	"[account work]\nhost=smtp.example.org\nsecurity=none\n"

typedef struct {
	const gchar *language;
	const gchar *expected;
} I18nCase;

/* the catalogs meson builds in <builddir>/po/<lang>/LC_MESSAGES: that directory is a locale
 * directory as bindtextdomain() wants it; NULL (and the test skipped) if a catalog is missing */
static const gchar *
i18n_locale_dir(void)
{
	const gchar *dir = g_getenv("MS_TEST_LOCALEDIR");
	const gchar *languages[] = {"de", "zh_CN"};

	/* set by tests/meson.build: without it the harness is broken, which must not pass */
	g_assert_nonnull(dir);
	for (guint i = 0; i < G_N_ELEMENTS(languages); i++) {
		g_autofree gchar *mo =
		    g_build_filename(dir, languages[i], "LC_MESSAGES", GETTEXT_PACKAGE ".mo", NULL);

		if (!g_file_test(mo, G_FILE_TEST_IS_REGULAR)) {
			g_autofree gchar *msg = g_strdup_printf(
			    "%s is missing: build the catalogs first (ninja -C BUILDDIR)",
			    mo);
			g_test_skip(msg);
			return NULL;
		}
	}
	return dir;
}

/* gettext ignores LANGUAGE in the "C" locale but not in C.UTF-8, which glibc has built in: the
 * tests need no generated locales */
static GStrv
i18n_env(const gchar *language, const gchar *locale_dir)
{
	g_autofree gchar *language_var = g_strdup_printf("LANGUAGE=%s", language);
	g_autofree gchar *localedir_var = g_strdup_printf("MS_LOCALEDIR=%s", locale_dir);
	const gchar *env[] = {"LC_ALL=C.UTF-8", language_var, localedir_var, NULL};

	return g_strdupv((gchar **)env);
}

/* Send to an account that does not exist; returns the error */
static GError *
i18n_send_to_unknown_account(MsTestDaemon *daemon)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) ret = NULL;
	GVariant *message = NULL;
	GVariant *options = NULL;

	message = g_variant_parse(G_VARIANT_TYPE_VARDICT,
				  "{'to': <['a@example.test']>, 'subject': <'disk full'>, "
				  "'body': <'/var is at 100%'>}",
				  NULL,
				  NULL,
				  &error);
	g_assert_no_error(error);
	options =
	    g_variant_parse(G_VARIANT_TYPE_VARDICT, "{'account': <'nope'>}", NULL, NULL, &error);
	g_assert_no_error(error);
	ret = g_dbus_connection_call_sync(ms_test_daemon_get_bus(daemon),
					  "org.mail.Sender",
					  "/org/mail/Sender",
					  "org.mail.Sender",
					  "Send",
					  g_variant_new("(@a{sv}@a{sv})", message, options),
					  G_VARIANT_TYPE("(o)"),
					  G_DBUS_CALL_FLAGS_NONE,
					  WAIT_MS,
					  NULL,
					  &error);
	g_assert_null(ret);
	g_assert_nonnull(error);
	return g_steal_pointer(&error);
}

static void
test_dbus_error(gconstpointer user_data)
{
	const I18nCase *tc = user_data;
	const gchar *locale_dir = i18n_locale_dir();
	g_autoptr(GError) error = NULL;
	g_autoptr(GError) error_send = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autofree gchar *remote = NULL;
	g_auto(GStrv) env = NULL;

	if (locale_dir == NULL)
		return;
	env = i18n_env(tc->language, locale_dir);
	daemon = ms_test_daemon_start_full(TEST_CONF, NULL, (const gchar *const *)env, &error);
	g_assert_no_error(error);
	g_assert_nonnull(daemon);

	error_send = i18n_send_to_unknown_account(daemon);
	/* the name is the contract and never translated; the message is for the person */
	remote = g_dbus_error_get_remote_error(error_send);
	g_assert_cmpstr(remote, ==, "org.mail.Sender.Error.NoSuchAccount");
	g_assert_true(g_dbus_error_strip_remote_error(error_send));
	g_assert_cmpstr(error_send->message, ==, tc->expected);
}

static void
test_startup_error(gconstpointer user_data)
{
	const I18nCase *tc = user_data;
	const gchar *locale_dir = i18n_locale_dir();
	g_autoptr(GError) error = NULL;
	g_autofree gchar *err = NULL;
	g_auto(GStrv) env = NULL;
	const gchar *tail = NULL;
	gint status = 0;

	if (locale_dir == NULL)
		return;
	env = i18n_env(tc->language, locale_dir);
	g_assert_true(ms_test_daemon_start_expect_failure_full(
	    G_BUS_TYPE_SESSION,
	    "[account work]\nhost=smtp.example.org\nport=99999\n",
	    NULL,
	    (const gchar *const *)env,
	    &status,
	    &err,
	    &error));
	g_assert_no_error(error);
	g_assert_cmpint(status, ==, 1);

	/* "mail-senderd: <tmpdir>/config/mail-sender/accounts.conf: <translated reason>\n" */
	g_assert_true(g_str_has_prefix(err, "mail-senderd: /"));
	tail = strstr(err, "/config/mail-sender/accounts.conf: ");
	g_assert_nonnull(tail);
	g_assert_cmpstr(tail + strlen("/config/mail-sender/accounts.conf: "), ==, tc->expected);
}

/* an option error, printed by mail-senderd itself before it reads any file */
static void
test_option_error(gconstpointer user_data)
{
	const I18nCase *tc = user_data;
	const gchar *locale_dir = i18n_locale_dir();
	const gchar *args[] = {"--system", NULL};
	g_autoptr(GError) error = NULL;
	g_autofree gchar *err = NULL;
	g_auto(GStrv) env = NULL;
	gint status = 0;

	if (locale_dir == NULL)
		return;
	env = i18n_env(tc->language, locale_dir);
	/* the fixture passes --session: with --system on top the two exclude each other */
	g_assert_true(ms_test_daemon_start_expect_failure_full(G_BUS_TYPE_SESSION,
							       TEST_CONF,
							       args,
							       (const gchar *const *)env,
							       &status,
							       &err,
							       &error));
	g_assert_no_error(error);
	g_assert_cmpint(status, ==, 2);
	g_assert_cmpstr(err, ==, tc->expected);
}

int
main(int argc, char **argv)
{
	static const I18nCase dbus_cases[] = {
	    {"zh_CN", "未配置账户“nope”（现有账户：default, work）"},
	    {"de", "Kein Konto 'nope' ist eingerichtet (Konten: default, work)"},
	    /* no catalog for it: the English original, not some other language */
	    {"fr", "No account 'nope' is configured (accounts: default, work)"},
	};
	static const I18nCase startup_cases[] = {
	    {"zh_CN", "账户“work”：键“port”：“99999”不是 1 到 65535 之间的整数\n"},
	    {"de",
	     "Konto 'work': Schlüssel 'port': '99999' ist keine ganze Zahl von 1 bis 65535\n"},
	};
	static const I18nCase option_cases[] = {
	    {"zh_CN", "mail-senderd：--session 和 --system 互相排斥\n"},
	    {"de", "mail-senderd: --session und --system schließen einander aus\n"},
	};

	g_test_init(&argc, &argv, NULL);
	for (guint i = 0; i < G_N_ELEMENTS(dbus_cases); i++) {
		g_autofree gchar *path =
		    g_strdup_printf("/mail-sender/i18n/dbus-error/%s", dbus_cases[i].language);
		g_test_add_data_func(path, &dbus_cases[i], test_dbus_error);
	}
	for (guint i = 0; i < G_N_ELEMENTS(startup_cases); i++) {
		g_autofree gchar *path = g_strdup_printf("/mail-sender/i18n/startup-error/%s",
							 startup_cases[i].language);
		g_test_add_data_func(path, &startup_cases[i], test_startup_error);
	}
	for (guint i = 0; i < G_N_ELEMENTS(option_cases); i++) {
		g_autofree gchar *path =
		    g_strdup_printf("/mail-sender/i18n/option-error/%s", option_cases[i].language);
		g_test_add_data_func(path, &option_cases[i], test_option_error);
	}
	return g_test_run();
}
