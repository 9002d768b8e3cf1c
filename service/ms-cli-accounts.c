#define G_LOG_DOMAIN "MsCli"

#include "config.h"

#include <glib/gi18n.h>

#include "ms-cli.h"

static gint
ms_cli_accounts_strcmp(gconstpointer a, gconstpointer b)
{
	return g_strcmp0(*(const gchar *const *)a, *(const gchar *const *)b);
}

/* "  key: value" for every setting, sorted by key */
static void
ms_cli_accounts_print_settings(GVariant *settings)
{
	g_autoptr(GPtrArray) keys = g_ptr_array_new();
	GVariantIter iter;
	const gchar *key;

	g_variant_iter_init(&iter, settings);
	while (g_variant_iter_next(&iter, "{&sv}", &key, NULL))
		g_ptr_array_add(keys, (gpointer)key);
	g_ptr_array_sort(keys, ms_cli_accounts_strcmp);
	for (guint i = 0; i < keys->len; i++) {
		const gchar *name = g_ptr_array_index(keys, i);
		g_autoptr(GVariant) value = g_variant_lookup_value(settings, name, NULL);
		g_autofree gchar *text = ms_cli_format_value(value);

		/* no trailing blank after an empty value */
		if (text[0] == '\0')
			g_print("  %s:\n", name);
		else
			g_print("  %s: %s\n", name, text);
	}
}

gint
ms_cli_accounts(gint argc, gchar **argv)
{
	MsCliBusOptions bus_opts = {FALSE};
	g_autoptr(GOptionContext) context =
	    ms_cli_option_context_new(NULL,
				      N_("List the configured accounts and their settings."),
				      N_("Passwords are never shown: they are not in the accounts "
					 "file, and the service\n"
					 "does not hand them out.\n"
					 "\n"
					 "Exit status: 0 success, 1 failure, 2 usage error."),
				      &bus_opts);
	g_autoptr(GDBusConnection) bus = NULL;
	g_autoptr(GVariant) ret = NULL;
	g_autoptr(GVariant) accounts = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) names = g_ptr_array_new();
	GVariantIter iter;
	const gchar *name;
	gint exit_status = MS_CLI_EXIT_OK;

	if (!ms_cli_option_context_parse(context, &argc, &argv))
		return MS_CLI_EXIT_USAGE;
	if (argc > 1)
		return ms_cli_usage_error(_("unexpected argument “%s”"), argv[1]);
	bus = ms_cli_bus_connect(&bus_opts, &exit_status);
	if (bus == NULL)
		return exit_status;
	ret = g_dbus_connection_call_sync(bus,
					  MS_CLI_BUS_NAME,
					  MS_CLI_MANAGER_PATH,
					  MS_CLI_MANAGER_IFACE,
					  "GetAccounts",
					  NULL,
					  G_VARIANT_TYPE("(a{sa{sv}})"),
					  G_DBUS_CALL_FLAGS_NONE,
					  -1,
					  NULL,
					  &error);
	if (ret == NULL) {
		ms_cli_print_error(error);
		return MS_CLI_EXIT_FAILED;
	}
	accounts = g_variant_get_child_value(ret, 0);
	g_variant_iter_init(&iter, accounts);
	while (g_variant_iter_next(&iter, "{&s@a{sv}}", &name, NULL))
		g_ptr_array_add(names, (gpointer)name);
	g_ptr_array_sort(names, ms_cli_accounts_strcmp);
	for (guint i = 0; i < names->len; i++) {
		g_autoptr(GVariant) settings =
		    g_variant_lookup_value(accounts, g_ptr_array_index(names, i), NULL);

		if (i > 0)
			g_print("\n");
		g_print("%s\n", (const gchar *)g_ptr_array_index(names, i));
		ms_cli_accounts_print_settings(settings);
	}
	return MS_CLI_EXIT_OK;
}
