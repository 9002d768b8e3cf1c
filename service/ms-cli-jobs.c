#define G_LOG_DOMAIN "MsCli"

#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "ms-cli.h"

/* one row of the table */
typedef struct {
	gchar *columns[5];
} MsCliJobRow;

static void
ms_cli_job_row_free(MsCliJobRow *row)
{
	for (guint i = 0; i < G_N_ELEMENTS(row->columns); i++)
		g_free(row->columns[i]);
	g_free(row);
}

static gint
ms_cli_job_row_cmp(gconstpointer a, gconstpointer b)
{
	const MsCliJobRow *row_a = *(const MsCliJobRow *const *)a;
	const MsCliJobRow *row_b = *(const MsCliJobRow *const *)b;

	/* ids start with the submission time, so this is oldest first */
	return g_strcmp0(row_a->columns[0], row_b->columns[0]);
}

/* the row of one job, or NULL if it went away since GetJobs */
static MsCliJobRow *
ms_cli_jobs_get_row(GDBusConnection *bus, const gchar *path)
{
	g_autoptr(GVariant) ret = NULL;
	g_autoptr(GVariant) props = NULL;
	g_autoptr(GVariant) recipients = NULL;
	const gchar *state = "";
	const gchar *error_name = "";
	const gchar *error_message = "";
	guint32 attempts = 0;
	MsCliJobRow *row;

	ret = g_dbus_connection_call_sync(bus,
					  MS_CLI_BUS_NAME,
					  path,
					  "org.freedesktop.DBus.Properties",
					  "GetAll",
					  g_variant_new("(s)", MS_CLI_JOB_IFACE),
					  G_VARIANT_TYPE("(a{sv})"),
					  G_DBUS_CALL_FLAGS_NONE,
					  -1,
					  NULL,
					  NULL);
	if (ret == NULL)
		return NULL;
	props = g_variant_get_child_value(ret, 0);
	g_variant_lookup(props, "State", "&s", &state);
	g_variant_lookup(props, "Attempts", "u", &attempts);
	g_variant_lookup(props, "Error", "&s", &error_name);
	g_variant_lookup(props, "ErrorMessage", "&s", &error_message);
	recipients = g_variant_lookup_value(props, "Recipients", G_VARIANT_TYPE_STRING_ARRAY);

	row = g_new0(MsCliJobRow, 1);
	row->columns[0] = g_strdup(ms_cli_job_path_get_id(path));
	row->columns[1] = g_strdup(state);
	row->columns[2] = g_strdup_printf("%u", attempts);
	row->columns[3] = recipients != NULL ? ms_cli_format_value(recipients) : g_strdup("");
	if (error_name[0] != '\0') {
		/* the last part of the name is enough in a table: "Temporary: 421 …" */
		const gchar *short_name = strrchr(error_name, '.');
		short_name = short_name != NULL ? short_name + 1 : error_name;
		row->columns[4] = error_message[0] != '\0'
				      ? g_strdup_printf("%s: %s", short_name, error_message)
				      : g_strdup(short_name);
	} else {
		row->columns[4] = g_strdup("");
	}
	return row;
}

gint
ms_cli_jobs(gint argc, gchar **argv)
{
	MsCliBusOptions bus_opts = {FALSE};
	g_autoptr(GOptionContext) context = ms_cli_option_context_new(
	    NULL,
	    N_("List the jobs: unfinished ones, and those finished in the "
	       "last 10 minutes."),
	    N_("Columns: the job's id (its object path is "
	       "/org/mail/Sender/Job/ID), state,\n"
	       "delivery attempts, recipients, and the last error.\n"
	       "\n"
	       "Exit status: 0 success, 1 failure, 2 usage error."),
	    &bus_opts);
	g_autoptr(GDBusConnection) bus = NULL;
	g_autoptr(GVariant) ret = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) rows =
	    g_ptr_array_new_with_free_func((GDestroyNotify)ms_cli_job_row_free);
	g_autofree const gchar **paths = NULL;
	const gchar *headers[] = {
	    /* TRANSLATORS: table column headers of `mail-sender jobs` */
	    N_("ID"),
	    N_("STATE"),
	    N_("ATTEMPTS"),
	    N_("RECIPIENTS"),
	    N_("ERROR"),
	};
	glong widths[G_N_ELEMENTS(headers)] = {0};
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
					  "GetJobs",
					  NULL,
					  G_VARIANT_TYPE("(ao)"),
					  G_DBUS_CALL_FLAGS_NONE,
					  -1,
					  NULL,
					  &error);
	if (ret == NULL) {
		ms_cli_print_error(error);
		return MS_CLI_EXIT_FAILED;
	}
	g_variant_get(ret, "(^a&o)", &paths);
	for (guint i = 0; paths[i] != NULL; i++) {
		MsCliJobRow *row = ms_cli_jobs_get_row(bus, paths[i]);
		if (row != NULL)
			g_ptr_array_add(rows, row);
	}
	if (rows->len == 0) {
		g_print("%s\n", _("No jobs."));
		return MS_CLI_EXIT_OK;
	}
	g_ptr_array_sort(rows, ms_cli_job_row_cmp);

	for (guint c = 0; c < G_N_ELEMENTS(headers); c++)
		widths[c] = g_utf8_strlen(_(headers[c]), -1);
	for (guint i = 0; i < rows->len; i++) {
		MsCliJobRow *row = g_ptr_array_index(rows, i);
		for (guint c = 0; c < G_N_ELEMENTS(headers); c++)
			widths[c] = MAX(widths[c], g_utf8_strlen(row->columns[c], -1));
	}
	for (guint i = 0; i <= rows->len; i++) {
		g_autoptr(GString) line = g_string_new(NULL);

		for (guint c = 0; c < G_N_ELEMENTS(headers); c++) {
			const gchar *text =
			    i == 0 ? _(headers[c])
				   : ((MsCliJobRow *)g_ptr_array_index(rows, i - 1))->columns[c];
			g_string_append(line, text);
			/* the last column is not padded: it may be long */
			if (c + 1 < G_N_ELEMENTS(headers)) {
				for (glong pad = g_utf8_strlen(text, -1); pad < widths[c] + 2;
				     pad++)
					g_string_append_c(line, ' ');
			}
		}
		/* no trailing blanks when the error column is empty */
		while (line->len > 0 && line->str[line->len - 1] == ' ')
			g_string_truncate(line, line->len - 1);
		g_print("%s\n", line->str);
	}
	return MS_CLI_EXIT_OK;
}

gint
ms_cli_cancel(gint argc, gchar **argv)
{
	MsCliBusOptions bus_opts = {FALSE};
	g_autoptr(GOptionContext) context = ms_cli_option_context_new(
	    N_("JOB"),
	    N_("Cancel a job that has not finished."),
	    N_("JOB is the id `mail-sender jobs` shows, or the job's object "
	       "path as `send` prints it.\n"
	       "The job then fails with org.mail.Sender.Error.Cancelled; a "
	       "transaction in flight\n"
	       "is aborted, never completed.\n"
	       "\n"
	       "Exit status: 0 cancelled, 1 failure (for example, the job had "
	       "already finished),\n"
	       "2 usage error."),
	    &bus_opts);
	g_autoptr(GDBusConnection) bus = NULL;
	g_autoptr(GVariant) ret = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *path = NULL;
	gint exit_status = MS_CLI_EXIT_OK;

	if (!ms_cli_option_context_parse(context, &argc, &argv))
		return MS_CLI_EXIT_USAGE;
	if (argc != 2)
		return ms_cli_usage_error("%s", _("give exactly one job"));
	path = ms_cli_job_path_from_arg(argv[1]);
	if (path == NULL)
		return ms_cli_usage_error(_("“%s” is not a job id or job object path"), argv[1]);
	bus = ms_cli_bus_connect(&bus_opts, &exit_status);
	if (bus == NULL)
		return exit_status;
	ret = g_dbus_connection_call_sync(bus,
					  MS_CLI_BUS_NAME,
					  path,
					  MS_CLI_JOB_IFACE,
					  "Cancel",
					  NULL,
					  G_VARIANT_TYPE_UNIT,
					  G_DBUS_CALL_FLAGS_NONE,
					  -1,
					  NULL,
					  &error);
	if (ret == NULL) {
		ms_cli_print_error(error);
		return MS_CLI_EXIT_FAILED;
	}
	return MS_CLI_EXIT_OK;
}
