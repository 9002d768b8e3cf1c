#define G_LOG_DOMAIN "MsCli"

#include "config.h"

#include <glib/gi18n.h>
#include <locale.h>

#include "ms-cli.h"

typedef gint (*MsCliCommandFunc)(gint argc, gchar **argv);

static const struct {
	const gchar *name;
	MsCliCommandFunc func;
	const gchar *summary;
} ms_cli_commands[] = {
    {"send", ms_cli_send, N_("Compose a message and queue it")},
    {"notify", ms_cli_notify, N_("Alert the account's admins (notify-to)")},
    {"sendmail", ms_cli_sendmail, N_("Queue a message read on standard input, like sendmail")},
    {"jobs", ms_cli_jobs, N_("List the jobs")},
    {"cancel", ms_cli_cancel, N_("Cancel a job")},
    {"accounts", ms_cli_accounts, N_("List the configured accounts")},
    {"verify", ms_cli_verify, N_("Check an account's server, TLS and login")},
};

static gchar *
ms_cli_main_summary(void)
{
	g_autoptr(GString) str = g_string_new(_("Commands:"));

	for (guint i = 0; i < G_N_ELEMENTS(ms_cli_commands); i++)
		g_string_append_printf(str,
				       "\n  %-10s %s",
				       ms_cli_commands[i].name,
				       _(ms_cli_commands[i].summary));
	g_string_append(str, "\n\n");
	g_string_append(str, _("Run “mail-sender COMMAND --help” for the options of a command."));
	return g_string_free(g_steal_pointer(&str), FALSE);
}

int
main(int argc, char **argv)
{
	MsCliBusOptions bus_opts = {FALSE};
	gboolean version = FALSE;
	const GOptionEntry entries[] = {
	    {"version",
	     '\0',
	     G_OPTION_FLAG_NONE,
	     G_OPTION_ARG_NONE,
	     &version,
	     N_("Show the version and exit"),
	     NULL},
	    {NULL},
	};
	g_autofree gchar *basename = NULL;
	g_autofree gchar *summary = NULL;
	g_autofree gchar *prgname = NULL;
	g_autoptr(GOptionContext) context = NULL;
	g_autoptr(GPtrArray) command_argv = NULL;
	g_autoptr(GError) error = NULL;

	setlocale(LC_ALL, "");
	/* MS_LOCALEDIR: the catalogs of a build tree, for the tests */
	bindtextdomain(GETTEXT_PACKAGE,
		       g_getenv("MS_LOCALEDIR") != NULL ? g_getenv("MS_LOCALEDIR") : LOCALEDIR);
	bind_textdomain_codeset(GETTEXT_PACKAGE, "UTF-8");
	textdomain(GETTEXT_PACKAGE);

	/* a /usr/sbin/sendmail symlink to this program is the sendmail command */
	basename = g_path_get_basename(argv[0]);
	if (g_str_equal(basename, "sendmail")) {
		g_set_prgname("sendmail");
		return ms_cli_sendmail(argc, argv);
	}

	/* named once, before parsing, so that a command's --help and errors say
	 * "mail-sender send"; the global options take no values, so the first argument that is
	 * not an option is the command */
	for (gint i = 1; i < argc; i++) {
		if (argv[i][0] == '-')
			continue;
		for (guint j = 0; j < G_N_ELEMENTS(ms_cli_commands); j++) {
			if (g_str_equal(argv[i], ms_cli_commands[j].name))
				prgname = g_strdup_printf("mail-sender %s", argv[i]);
		}
		break;
	}
	g_set_prgname(prgname != NULL ? prgname : "mail-sender");
	summary = ms_cli_main_summary();
	context = ms_cli_option_context_new(
	    N_("COMMAND [OPTION…]"),
	    NULL,
	    N_("The command-line client of org.mail.Sender. Every command, sendmail\n"
	       "included, talks to the user's service on the session bus unless\n"
	       "--system is given."),
	    &bus_opts);
	g_option_context_set_summary(context, summary);
	g_option_context_add_main_entries(context, entries, GETTEXT_PACKAGE);
	/* the options after the command are the command's */
	g_option_context_set_strict_posix(context, TRUE);
	if (!g_option_context_parse(context, &argc, &argv, &error)) {
		g_printerr("mail-sender: %s\n", error->message);
		g_printerr(_("Try “%s --help” for more information.\n"), "mail-sender");
		return MS_CLI_EXIT_USAGE;
	}
	if (version) {
		g_print("mail-sender %s\n", PACKAGE_VERSION);
		return MS_CLI_EXIT_OK;
	}
	if (argc < 2)
		return ms_cli_usage_error("%s", _("no command given"));

	for (guint i = 0; i < G_N_ELEMENTS(ms_cli_commands); i++) {
		if (!g_str_equal(argv[1], ms_cli_commands[i].name))
			continue;
		/* the command parses --system/--session itself, wherever they were given */
		command_argv = g_ptr_array_new();
		g_ptr_array_add(command_argv, argv[1]);
		if (bus_opts.system)
			g_ptr_array_add(command_argv, (gpointer) "--system");
		if (bus_opts.session)
			g_ptr_array_add(command_argv, (gpointer) "--session");
		for (gint j = 2; j < argc; j++)
			g_ptr_array_add(command_argv, argv[j]);
		g_ptr_array_add(command_argv, NULL);
		return ms_cli_commands[i].func((gint)command_argv->len - 1,
					       (gchar **)command_argv->pdata);
	}
	return ms_cli_usage_error(_("unknown command “%s”"), argv[1]);
}
