#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* the command-line client: a D-Bus client of org.mail.Sender and nothing more */

#define MS_CLI_BUS_NAME	       "org.mail.Sender"
#define MS_CLI_MANAGER_PATH    "/org/mail/Sender"
#define MS_CLI_MANAGER_IFACE   "org.mail.Sender"
#define MS_CLI_JOB_IFACE       "org.mail.Sender.Job"
#define MS_CLI_JOB_PATH_PREFIX "/org/mail/Sender/Job/"

/* exit codes of every command except sendmail, which follows sysexits.h */
#define MS_CLI_EXIT_OK	   0
#define MS_CLI_EXIT_FAILED 1
#define MS_CLI_EXIT_USAGE  2

/* --system / --session, shared by every command */
typedef struct {
	gboolean system;
	gboolean session;
} MsCliBusOptions;

/* adds --system and --session to the main group of context, writing into opts */
void
ms_cli_bus_options_add(GOptionContext *context, MsCliBusOptions *opts);
/* the bus the options select (session unless --system, or the system bus when there is no
 * session bus), or NULL with G_IO_ERROR_INVALID_ARGUMENT
 * when both were given */
GDBusConnection *
ms_cli_bus_get(const MsCliBusOptions *opts, GError **error);
/* ms_cli_bus_get() for the commands other than sendmail: on failure prints the error and sets
 * exit_status (usage error for --system with --session, else failure) */
GDBusConnection *
ms_cli_bus_connect(const MsCliBusOptions *opts, gint *exit_status);
/* "system bus" or "session bus", translated */
const gchar *
ms_cli_bus_describe(const MsCliBusOptions *opts);

/* a GOptionContext with the translation domain, the bus options, and summary/description */
GOptionContext *
ms_cli_option_context_new(const gchar *parameter_string,
			  const gchar *summary,
			  const gchar *description,
			  MsCliBusOptions *opts);
/* parses argv of a command (argv[0] is the command name); on failure prints
 * "<prgname>: <message>" and a pointer to --help to stderr and returns FALSE */
gboolean
ms_cli_option_context_parse(GOptionContext *context, gint *argc, gchar ***argv);
/* prints "<prgname>: <message>" and the --help hint to stderr; returns MS_CLI_EXIT_USAGE */
gint
ms_cli_usage_error(const gchar *format, ...) G_GNUC_PRINTF(1, 2);

/* the D-Bus error name of error ("org.mail.Sender.Error.Rejected"), or NULL for a local error */
gchar *
ms_cli_error_get_name(const GError *error);
/* the human part of error's message, without GDBus's "GDBus.Error:<name>: " prefix */
gchar *
ms_cli_error_get_message(const GError *error);
/* TRUE if error says that nobody answers for org.mail.Sender on the bus (or no bus at all) */
gboolean
ms_cli_error_is_unreachable(const GError *error);
/* prints "error: <message> (<name>)", or "error: <message>" for a local error, to stderr */
void
ms_cli_print_error(const GError *error);

/* a setting or report value as a person reads it: strings as they are, lists joined with
 * ", ", booleans as true/false, anything else in GVariant text form */
gchar *
ms_cli_format_value(GVariant *value);

/* a job given as an id or a full object path, as a path; NULL if it is neither */
gchar *
ms_cli_job_path_from_arg(const gchar *arg);
/* the id part of a job path (the path itself if it is not a job path) */
const gchar *
ms_cli_job_path_get_id(const gchar *path);

/* the commands; argv[0] is the command name; each returns the process exit code */
gint
ms_cli_send(gint argc, gchar **argv);
gint
ms_cli_notify(gint argc, gchar **argv);
gint
ms_cli_sendmail(gint argc, gchar **argv);
gint
ms_cli_jobs(gint argc, gchar **argv);
gint
ms_cli_cancel(gint argc, gchar **argv);
gint
ms_cli_accounts(gint argc, gchar **argv);
gint
ms_cli_verify(gint argc, gchar **argv);

G_END_DECLS
