#define G_LOG_DOMAIN "MsCli"

#include "config.h"

#include <glib/gi18n.h>
#include <stdio.h>
#include <string.h>

#include "ms-cli.h"

void
ms_cli_bus_options_add(GOptionContext *context, MsCliBusOptions *opts)
{
	/* g_option_context_add_main_entries() copies the entries, so a local array will do */
	const GOptionEntry entries[] = {
	    {"system",
	     '\0',
	     G_OPTION_FLAG_NONE,
	     G_OPTION_ARG_NONE,
	     &opts->system,
	     N_("Talk to the system-wide service on the system bus"),
	     NULL},
	    {"session",
	     '\0',
	     G_OPTION_FLAG_NONE,
	     G_OPTION_ARG_NONE,
	     &opts->session,
	     N_("Talk to the user's service on the session bus (the default)"),
	     NULL},
	    {NULL},
	};
	g_option_context_add_main_entries(context, entries, GETTEXT_PACKAGE);
}

/* a session bus is there when its address is in the environment or its socket is where
 * systemd puts it */
static gboolean
ms_cli_session_bus_available(void)
{
	g_autofree gchar *socket_path = NULL;

	if (g_getenv("DBUS_SESSION_BUS_ADDRESS") != NULL)
		return TRUE;
	if (g_getenv("XDG_RUNTIME_DIR") == NULL)
		return FALSE;
	socket_path = g_build_filename(g_getenv("XDG_RUNTIME_DIR"), "bus", NULL);
	return g_file_test(socket_path, G_FILE_TEST_EXISTS);
}

GDBusConnection *
ms_cli_bus_get(const MsCliBusOptions *opts, GError **error)
{
	if (opts->system && opts->session) {
		g_set_error_literal(error,
				    G_IO_ERROR,
				    G_IO_ERROR_INVALID_ARGUMENT,
				    _("--system and --session cannot be used together"));
		return NULL;
	}
	if (opts->system)
		return g_bus_get_sync(G_BUS_TYPE_SYSTEM, NULL, error);
	/* cron jobs, smartd and other system daemons have no session bus: without a choice they
	 * get the system-wide service, which is what a sendmail drop-in must do for them */
	if (!opts->session && !ms_cli_session_bus_available())
		return g_bus_get_sync(G_BUS_TYPE_SYSTEM, NULL, error);
	return g_bus_get_sync(G_BUS_TYPE_SESSION, NULL, error);
}

GDBusConnection *
ms_cli_bus_connect(const MsCliBusOptions *opts, gint *exit_status)
{
	g_autoptr(GError) error = NULL;
	GDBusConnection *bus = ms_cli_bus_get(opts, &error);

	if (bus != NULL)
		return bus;
	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT)) {
		*exit_status = ms_cli_usage_error("%s", error->message);
		return NULL;
	}
	ms_cli_print_error(error);
	*exit_status = MS_CLI_EXIT_FAILED;
	return NULL;
}

const gchar *
ms_cli_bus_describe(const MsCliBusOptions *opts)
{
	return opts->system ? _("the system bus") : _("the session bus");
}

GOptionContext *
ms_cli_option_context_new(const gchar *parameter_string,
			  const gchar *summary,
			  const gchar *description,
			  MsCliBusOptions *opts)
{
	GOptionContext *context = g_option_context_new(parameter_string);

	/* GOption translates the parameter string, summary, description and entries itself */
	g_option_context_set_translation_domain(context, GETTEXT_PACKAGE);
	if (summary != NULL)
		g_option_context_set_summary(context, summary);
	if (description != NULL)
		g_option_context_set_description(context, description);
	if (opts != NULL)
		ms_cli_bus_options_add(context, opts);
	return context;
}

static void
ms_cli_print_help_hint(void)
{
	/* TRANSLATORS: %s is the command, e.g. "mail-sender send" */
	g_printerr(_("Try “%s --help” for more information.\n"), g_get_prgname());
}

gboolean
ms_cli_option_context_parse(GOptionContext *context, gint *argc, gchar ***argv)
{
	g_autoptr(GError) error = NULL;

	if (!g_option_context_parse(context, argc, argv, &error)) {
		g_printerr("%s: %s\n", g_get_prgname(), error->message);
		ms_cli_print_help_hint();
		return FALSE;
	}
	return TRUE;
}

gint
ms_cli_usage_error(const gchar *format, ...)
{
	va_list args;
	g_autofree gchar *message = NULL;

	va_start(args, format);
	message = g_strdup_vprintf(format, args);
	va_end(args);
	g_printerr("%s: %s\n", g_get_prgname(), message);
	ms_cli_print_help_hint();
	return MS_CLI_EXIT_USAGE;
}

gchar *
ms_cli_error_get_name(const GError *error)
{
	return g_dbus_error_get_remote_error(error);
}

gchar *
ms_cli_error_get_message(const GError *error)
{
	g_autoptr(GError) copy = g_error_copy(error);

	g_dbus_error_strip_remote_error(copy);
	return g_strdup(copy->message);
}

gboolean
ms_cli_error_is_unreachable(const GError *error)
{
	const gint codes[] = {
	    G_DBUS_ERROR_SERVICE_UNKNOWN,
	    G_DBUS_ERROR_NAME_HAS_NO_OWNER,
	    G_DBUS_ERROR_NO_SERVER,
	    G_DBUS_ERROR_DISCONNECTED,
	    G_DBUS_ERROR_SPAWN_EXEC_FAILED,
	    G_DBUS_ERROR_SPAWN_FORK_FAILED,
	    G_DBUS_ERROR_SPAWN_CHILD_EXITED,
	    G_DBUS_ERROR_SPAWN_CHILD_SIGNALED,
	    G_DBUS_ERROR_SPAWN_FAILED,
	    G_DBUS_ERROR_SPAWN_SETUP_FAILED,
	    G_DBUS_ERROR_SPAWN_CONFIG_INVALID,
	    G_DBUS_ERROR_SPAWN_SERVICE_INVALID,
	    G_DBUS_ERROR_SPAWN_SERVICE_NOT_FOUND,
	    G_DBUS_ERROR_SPAWN_PERMISSIONS_INVALID,
	    G_DBUS_ERROR_SPAWN_FILE_INVALID,
	    G_DBUS_ERROR_SPAWN_NO_MEMORY,
	};

	for (guint i = 0; i < G_N_ELEMENTS(codes); i++) {
		if (g_error_matches(error, G_DBUS_ERROR, codes[i]))
			return TRUE;
	}
	/* the connection went away under us */
	return g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CLOSED);
}

void
ms_cli_print_error(const GError *error)
{
	g_autofree gchar *name = ms_cli_error_get_name(error);
	g_autofree gchar *message = ms_cli_error_get_message(error);

	if (name != NULL) {
		/* TRANSLATORS: the first %s is a message, the second a D-Bus error name */
		g_printerr(_("error: %s (%s)\n"), message, name);
	} else {
		g_printerr(_("error: %s\n"), message);
	}
}

gchar *
ms_cli_format_value(GVariant *value)
{
	if (g_variant_is_of_type(value, G_VARIANT_TYPE_STRING) ||
	    g_variant_is_of_type(value, G_VARIANT_TYPE_OBJECT_PATH))
		return g_variant_dup_string(value, NULL);
	if (g_variant_is_of_type(value, G_VARIANT_TYPE_STRING_ARRAY)) {
		g_autofree const gchar **strv = g_variant_get_strv(value, NULL);
		return g_strjoinv(", ", (gchar **)strv);
	}
	if (g_variant_is_of_type(value, G_VARIANT_TYPE_BOOLEAN))
		return g_strdup(g_variant_get_boolean(value) ? "true" : "false");
	if (g_variant_is_of_type(value, G_VARIANT_TYPE_VARIANT)) {
		g_autoptr(GVariant) inner = g_variant_get_variant(value);
		return ms_cli_format_value(inner);
	}
	return g_variant_print(value, FALSE);
}

gchar *
ms_cli_job_path_from_arg(const gchar *arg)
{
	g_autofree gchar *path = NULL;

	if (arg[0] == '/')
		path = g_strdup(arg);
	else
		path = g_strconcat(MS_CLI_JOB_PATH_PREFIX, arg, NULL);
	if (!g_variant_is_object_path(path) || !g_str_has_prefix(path, MS_CLI_JOB_PATH_PREFIX) ||
	    strchr(path + strlen(MS_CLI_JOB_PATH_PREFIX), '/') != NULL ||
	    path[strlen(MS_CLI_JOB_PATH_PREFIX)] == '\0')
		return NULL;
	return g_steal_pointer(&path);
}

const gchar *
ms_cli_job_path_get_id(const gchar *path)
{
	if (g_str_has_prefix(path, MS_CLI_JOB_PATH_PREFIX))
		return path + strlen(MS_CLI_JOB_PATH_PREFIX);
	return path;
}
