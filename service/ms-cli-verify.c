#define G_LOG_DOMAIN "MsCli"

#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "ms-cli.h"

#define MS_CLI_VERIFY_SECONDS_PER_DAY 86400

/* the report keys of the contract, in the order a person reads them */
static const struct {
	const gchar *key;
	const gchar *label;
} ms_cli_verify_rows[] = {
    {"host", N_("Server")}, /* with the port: "host:port" */
    {"security", N_("Security")},
    {"greeting", N_("Greeting")},
    {"extensions", N_("Extensions")},
    {"auth-mechanisms", N_("Auth mechanisms")},
    {"auth", N_("Auth used")},
    {"tls-version", N_("TLS version")},
    {"tls-cipher", N_("TLS cipher")},
    {"certificate-subject", N_("Certificate subject")},
    {"certificate-issuer", N_("Certificate issuer")},
    {"certificate-not-after", N_("Certificate expires")},
    {"certificate-sha256", N_("Certificate SHA-256")},
    {"elapsed-ms", N_("Elapsed")},
};

/* "2026-11-24 16:00:00 UTC (in 364 days)" */
static gchar *
ms_cli_verify_format_expiry(gint64 not_after)
{
	g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc(not_after);
	g_autofree gchar *date = NULL;
	gint64 days;

	if (dt == NULL)
		return g_strdup_printf("%" G_GINT64_FORMAT, not_after);
	date = g_date_time_format(dt, "%Y-%m-%d %H:%M:%S UTC");
	days = (not_after - g_get_real_time() / G_USEC_PER_SEC) / MS_CLI_VERIFY_SECONDS_PER_DAY;
	if (not_after < g_get_real_time() / G_USEC_PER_SEC) {
		/* TRANSLATORS: the certificate expiry date, then how long ago */
		return g_strdup_printf(g_dngettext(GETTEXT_PACKAGE,
						   "%s (expired %d day ago)",
						   "%s (expired %d days ago)",
						   (gulong)-days),
				       date,
				       (gint)-days);
	}
	/* TRANSLATORS: the certificate expiry date, then how long until then */
	return g_strdup_printf(
	    g_dngettext(GETTEXT_PACKAGE, "%s (in %d day)", "%s (in %d days)", (gulong)days),
	    date,
	    (gint)days);
}

/* one report value as a person reads it; NULL to leave the row out */
static gchar *
ms_cli_verify_format(GVariant *report, const gchar *key, GVariant *value)
{
	if (g_str_equal(key, "host")) {
		const gchar *host = g_variant_is_of_type(value, G_VARIANT_TYPE_STRING)
					? g_variant_get_string(value, NULL)
					: "";
		guint16 port = 0;

		if (!g_variant_lookup(report, "port", "q", &port))
			return g_strdup(host);
		/* an IPv6 literal needs brackets before the port */
		if (strchr(host, ':') != NULL)
			return g_strdup_printf("[%s]:%u", host, port);
		return g_strdup_printf("%s:%u", host, port);
	}
	if (g_str_equal(key, "certificate-not-after") &&
	    g_variant_is_of_type(value, G_VARIANT_TYPE_INT64)) {
		gint64 not_after = g_variant_get_int64(value);
		if (not_after == 0)
			return g_strdup(_("none"));
		return ms_cli_verify_format_expiry(not_after);
	}
	if (g_str_equal(key, "elapsed-ms") && g_variant_is_of_type(value, G_VARIANT_TYPE_UINT32)) {
		/* TRANSLATORS: milliseconds */
		return g_strdup_printf(_("%u ms"), g_variant_get_uint32(value));
	}
	if ((g_variant_is_of_type(value, G_VARIANT_TYPE_STRING) &&
	     g_variant_get_string(value, NULL)[0] == '\0') ||
	    (g_variant_is_of_type(value, G_VARIANT_TYPE_STRING_ARRAY) &&
	     g_variant_n_children(value) == 0)) {
		/* no TLS, no certificate, no extensions */
		return g_strdup(_("none"));
	}
	return ms_cli_format_value(value);
}

static gboolean
ms_cli_verify_is_known_key(const gchar *key)
{
	if (g_str_equal(key, "port"))
		return TRUE;
	for (guint i = 0; i < G_N_ELEMENTS(ms_cli_verify_rows); i++) {
		if (g_str_equal(key, ms_cli_verify_rows[i].key))
			return TRUE;
	}
	return FALSE;
}

static void
ms_cli_verify_add_row(GPtrArray *labels, GPtrArray *values, const gchar *label, gchar *value)
{
	g_ptr_array_add(labels, g_strdup(label));
	g_ptr_array_add(values, value);
}

static void
ms_cli_verify_print(GVariant *report)
{
	g_autoptr(GPtrArray) labels = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) values = g_ptr_array_new_with_free_func(g_free);
	GVariantIter iter;
	const gchar *key;
	GVariant *value_iter;
	glong width = 0;

	for (guint i = 0; i < G_N_ELEMENTS(ms_cli_verify_rows); i++) {
		g_autoptr(GVariant) value =
		    g_variant_lookup_value(report, ms_cli_verify_rows[i].key, NULL);
		if (value == NULL)
			continue;
		ms_cli_verify_add_row(
		    labels,
		    values,
		    _(ms_cli_verify_rows[i].label),
		    ms_cli_verify_format(report, ms_cli_verify_rows[i].key, value));
	}
	/* keys a newer daemon adds are shown too, under their own names */
	g_variant_iter_init(&iter, report);
	while (g_variant_iter_next(&iter, "{&sv}", &key, &value_iter)) {
		g_autoptr(GVariant) value = value_iter;
		if (!ms_cli_verify_is_known_key(key))
			ms_cli_verify_add_row(labels,
					      values,
					      key,
					      ms_cli_verify_format(report, key, value));
	}

	for (guint i = 0; i < labels->len; i++)
		width = MAX(width, g_utf8_strlen(g_ptr_array_index(labels, i), -1));
	for (guint i = 0; i < labels->len; i++) {
		const gchar *label = g_ptr_array_index(labels, i);
		g_autoptr(GString) line = g_string_new(label);

		g_string_append_c(line, ':');
		for (glong pad = g_utf8_strlen(label, -1); pad <= width; pad++)
			g_string_append_c(line, ' ');
		g_string_append(line, g_ptr_array_index(values, i));
		g_print("%s\n", line->str);
	}
}

gint
ms_cli_verify(gint argc, gchar **argv)
{
	MsCliBusOptions bus_opts = {FALSE};
	g_autoptr(GOptionContext) context = ms_cli_option_context_new(
	    N_("[ACCOUNT]"),
	    N_("Check an account: connect, EHLO, TLS and AUTH as a send would, then QUIT."),
	    N_("Nothing is sent. Prints what the server showed: its greeting, extensions and\n"
	       "AUTH mechanisms, the TLS version and cipher, and the certificate's subject,\n"
	       "issuer, expiry and SHA-256 fingerprint (the value tls-fingerprint= takes).\n"
	       "ACCOUNT defaults to “default”.\n"
	       "\n"
	       "Exit status: 0 the account works, 1 it does not (the error says what to change),\n"
	       "2 usage error."),
	    &bus_opts);
	g_autoptr(GDBusConnection) bus = NULL;
	g_autoptr(GVariant) ret = NULL;
	g_autoptr(GVariant) report = NULL;
	g_autoptr(GError) error = NULL;
	const gchar *account = "";
	gint exit_status = MS_CLI_EXIT_OK;

	if (!ms_cli_option_context_parse(context, &argc, &argv))
		return MS_CLI_EXIT_USAGE;
	if (argc > 2)
		return ms_cli_usage_error(_("unexpected argument “%s”"), argv[2]);
	if (argc == 2)
		account = argv[1];
	if (!g_utf8_validate(account, -1, NULL))
		return ms_cli_usage_error("%s", _("the account name is not UTF-8 text"));
	bus = ms_cli_bus_connect(&bus_opts, &exit_status);
	if (bus == NULL)
		return exit_status;
	/* the account's own timeouts bound every network step */
	ret = g_dbus_connection_call_sync(bus,
					  MS_CLI_BUS_NAME,
					  MS_CLI_MANAGER_PATH,
					  MS_CLI_MANAGER_IFACE,
					  "Verify",
					  g_variant_new("(s)", account),
					  G_VARIANT_TYPE("(a{sv})"),
					  G_DBUS_CALL_FLAGS_NONE,
					  G_MAXINT,
					  NULL,
					  &error);
	if (ret == NULL) {
		ms_cli_print_error(error);
		return MS_CLI_EXIT_FAILED;
	}
	report = g_variant_get_child_value(ret, 0);
	ms_cli_verify_print(report);
	return MS_CLI_EXIT_OK;
}
