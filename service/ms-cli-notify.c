#define G_LOG_DOMAIN "MsCli"

#include "config.h"

#include <gio/gunixinputstream.h>
#include <glib/gi18n.h>
#include <stdio.h>
#include <unistd.h>

#include "ms-cli-progress.h"
#include "ms-cli.h"

/* a notification is a short report: a runaway pipe must not become a huge mail; the
 * message of ms_cli_notify_read_stdin() names this size */
#define MS_CLI_NOTIFY_BODY_MAX (1024 * 1024)

/* the body piped in by cron, smartd and friends: bounded, and UTF-8 as the D-Bus string must be */
static gchar *
ms_cli_notify_read_stdin(GError **error)
{
	g_autoptr(GInputStream) in = g_unix_input_stream_new(STDIN_FILENO, FALSE);
	g_autofree gchar *data = g_malloc(MS_CLI_NOTIFY_BODY_MAX + 1);
	gsize len = 0;

	/* one byte more than allowed tells a body at the limit from one over it */
	if (!g_input_stream_read_all(in, data, MS_CLI_NOTIFY_BODY_MAX + 1, &len, NULL, error)) {
		g_prefix_error(error, "%s", _("reading standard input: "));
		return NULL;
	}
	if (len > MS_CLI_NOTIFY_BODY_MAX) {
		g_set_error_literal(
		    error,
		    G_IO_ERROR,
		    G_IO_ERROR_MESSAGE_TOO_LARGE,
		    _("the body on standard input is larger than 1 MiB: shorten it, or "
		      "send it as a file with “mail-sender send --attach”"));
		return NULL;
	}
	/* a NUL byte would cut the text short, so it is refused too */
	if (!g_utf8_validate_len(data, len, NULL)) {
		g_set_error_literal(error,
				    G_IO_ERROR,
				    G_IO_ERROR_INVALID_DATA,
				    _("the body on standard input is not UTF-8 text (convert it, "
				      "e.g. with iconv)"));
		return NULL;
	}
	/* len is at most MS_CLI_NOTIFY_BODY_MAX here, so the terminator fits */
	data[len] = '\0';
	return g_steal_pointer(&data);
}

static gboolean
ms_cli_notify_urgency_is_valid(const gchar *urgency)
{
	const gchar *valid[] = {"low", "normal", "critical", NULL};
	return g_strv_contains(valid, urgency);
}

gint
ms_cli_notify(gint argc, gchar **argv)
{
	MsCliBusOptions bus_opts = {FALSE};
	g_autofree gchar *account = NULL;
	g_autofree gchar *urgency = NULL;
	g_autofree gchar *key = NULL;
	gboolean wait = FALSE;
	const GOptionEntry entries[] = {
	    {"account",
	     '\0',
	     G_OPTION_FLAG_NONE,
	     G_OPTION_ARG_STRING,
	     &account,
	     N_("Account whose notify-to recipients get the mail (default: “default”)"),
	     N_("NAME")},
	    {"urgency",
	     '\0',
	     G_OPTION_FLAG_NONE,
	     G_OPTION_ARG_STRING,
	     &urgency,
	     N_("low, normal (the default) or critical; critical is never merged or delayed"),
	     N_("LEVEL")},
	    {"key",
	     '\0',
	     G_OPTION_FLAG_NONE,
	     G_OPTION_ARG_STRING,
	     &key,
	     N_("Coalesce key: repeats with the same subject and key are merged into a digest"),
	     N_("COALESCE-KEY")},
	    {"wait",
	     '\0',
	     G_OPTION_FLAG_NONE,
	     G_OPTION_ARG_NONE,
	     &wait,
	     N_("Follow the job until it is sent or has failed"),
	     NULL},
	    {NULL},
	};
	g_autoptr(GOptionContext) context = ms_cli_option_context_new(
	    N_("SUBJECT [BODY]"),
	    N_("Alert the account's admins: mail SUBJECT and BODY to its notify-to recipients."),
	    N_("BODY is read from standard input when it is “-”, or when it is left out and\n"
	       "standard input is not a terminal (at most 1 MiB of UTF-8 text). Repeats of\n"
	       "the same subject and --key within the account's notify-coalesce window are\n"
	       "merged into one digest mail; every repeat gets the digest's job path.\n"
	       "\n"
	       "Prints the job's object path. With --wait it then follows the job, printing\n"
	       "each stage and finally the server's reply (for a merged repeat: the digest's,\n"
	       "once the window has closed).\n"
	       "\n"
	       "Exit status: 0 queued (or, with --wait, sent), 1 failed, 2 usage error."),
	    &bus_opts);
	g_autoptr(GError) error = NULL;
	g_autoptr(GDBusConnection) bus = NULL;
	g_autoptr(GVariant) ret = NULL;
	g_autofree gchar *body_stdin = NULL;
	const gchar *subject = NULL;
	const gchar *body = "";
	const gchar *job_path = NULL;
	gint exit_status = MS_CLI_EXIT_OK;
	GVariantBuilder hints;

	g_option_context_add_main_entries(context, entries, GETTEXT_PACKAGE);
	if (!ms_cli_option_context_parse(context, &argc, &argv))
		return MS_CLI_EXIT_USAGE;
	if (argc < 2)
		return ms_cli_usage_error("%s", _("no subject given"));
	if (argc > 3)
		return ms_cli_usage_error(_("unexpected argument “%s”"), argv[3]);
	subject = argv[1];
	if (!g_utf8_validate(subject, -1, NULL))
		return ms_cli_usage_error("%s", _("the subject is not UTF-8 text"));
	/* checked here so that a typo never reaches the daemon, whatever it would make of it */
	if (urgency != NULL && !ms_cli_notify_urgency_is_valid(urgency))
		return ms_cli_usage_error(_("--urgency wants low, normal or critical, not “%s”"),
					  urgency);
	if (account != NULL && !g_utf8_validate(account, -1, NULL))
		return ms_cli_usage_error("%s", _("the account name is not UTF-8 text"));
	if (key != NULL && !g_utf8_validate(key, -1, NULL))
		return ms_cli_usage_error("%s", _("the coalesce key is not UTF-8 text"));

	/* a "-" asks for standard input even on a terminal; with no BODY at all, only a pipe or
	 * file is read, so that an interactive alert does not wait for an end of file */
	if ((argc == 3 && g_str_equal(argv[2], "-")) || (argc == 2 && !isatty(STDIN_FILENO))) {
		body_stdin = ms_cli_notify_read_stdin(&error);
		if (body_stdin == NULL) {
			ms_cli_print_error(error);
			return MS_CLI_EXIT_FAILED;
		}
		body = body_stdin;
	} else if (argc == 3) {
		body = argv[2];
		if (!g_utf8_validate(body, -1, NULL))
			return ms_cli_usage_error("%s", _("the body is not UTF-8 text"));
	}

	bus = ms_cli_bus_connect(&bus_opts, &exit_status);
	if (bus == NULL)
		return exit_status;

	g_variant_builder_init(&hints, G_VARIANT_TYPE_VARDICT);
	if (account != NULL)
		g_variant_builder_add(&hints, "{sv}", "account", g_variant_new_string(account));
	if (urgency != NULL)
		g_variant_builder_add(&hints, "{sv}", "urgency", g_variant_new_string(urgency));
	if (key != NULL)
		g_variant_builder_add(&hints, "{sv}", "coalesce-key", g_variant_new_string(key));

	if (wait) {
		/* subscribed before the call, so that no signal of the new job is missed */
		g_autoptr(MsCliProgress) progress = ms_cli_progress_new(bus, isatty(STDOUT_FILENO));

		g_dbus_connection_call_with_unix_fd_list(
		    bus,
		    MS_CLI_BUS_NAME,
		    MS_CLI_MANAGER_PATH,
		    MS_CLI_MANAGER_IFACE,
		    "Notify",
		    g_variant_new("(ssa{sv})", subject, body, &hints),
		    G_VARIANT_TYPE("(o)"),
		    G_DBUS_CALL_FLAGS_NONE,
		    -1,
		    NULL,
		    NULL,
		    ms_cli_progress_job_reply_cb,
		    progress);
		return ms_cli_progress_run(progress);
	}

	ret = g_dbus_connection_call_sync(bus,
					  MS_CLI_BUS_NAME,
					  MS_CLI_MANAGER_PATH,
					  MS_CLI_MANAGER_IFACE,
					  "Notify",
					  g_variant_new("(ssa{sv})", subject, body, &hints),
					  G_VARIANT_TYPE("(o)"),
					  G_DBUS_CALL_FLAGS_NONE,
					  -1,
					  NULL,
					  &error);
	if (ret == NULL) {
		ms_cli_print_error(error);
		return MS_CLI_EXIT_FAILED;
	}
	g_variant_get(ret, "(&o)", &job_path);
	g_print("%s\n", job_path);
	return MS_CLI_EXIT_OK;
}
