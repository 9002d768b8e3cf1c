#define G_LOG_DOMAIN "MsCli"

#include "config.h"

#include <glib/gi18n.h>
#include <stdio.h>

#include "ms-cli-progress.h"
#include "ms-cli.h"

struct _MsCliProgress {
	GDBusConnection *bus;
	GMainLoop *loop;
	guint subscription_id;
	gboolean interactive;
	gchar *job_path;     /* NULL until the call that made the job answered */
	GPtrArray *early;    /* GVariant (s@*): member and parameters, before job_path is known */
	gchar *last_stage;   /* non-interactive: only a new stage gets a line */
	gboolean line_drawn; /* interactive: the status line is on screen, without newline */
	gboolean finished;
	gint exit_status;
};

gchar *
ms_cli_progress_format(const gchar *stage, guint64 done, guint64 total, gboolean interactive)
{
	if (g_str_equal(stage, "sending")) {
		g_autofree gchar *total_str = g_format_size_full(total, G_FORMAT_SIZE_IEC_UNITS);
		g_autofree gchar *done_str = NULL;
		guint percent;

		if (!interactive || total == 0) {
			/* TRANSLATORS: %s is a size, e.g. "27.1 KiB" */
			return g_strdup_printf(_("sending %s"), total_str);
		}
		done_str = g_format_size_full(MIN(done, total), G_FORMAT_SIZE_IEC_UNITS);
		percent = (guint)(MIN(done, total) * 100 / total);
		/* TRANSLATORS: e.g. "sending 45% (12.3 KiB of 27.1 KiB)" */
		return g_strdup_printf(_("sending %u%% (%s of %s)"), percent, done_str, total_str);
	}
	if (g_str_equal(stage, "queued"))
		return g_strdup(_("queued"));
	if (g_str_equal(stage, "connecting"))
		return g_strdup(_("connecting"));
	if (g_str_equal(stage, "tls"))
		return g_strdup(_("starting TLS"));
	if (g_str_equal(stage, "auth"))
		return g_strdup(_("authenticating"));
	if (g_str_equal(stage, "deferred"))
		return g_strdup(_("deferred"));
	/* a stage from a newer daemon */
	return g_strdup(stage);
}

/* ends the status line so that the next output starts on a line of its own */
static void
ms_cli_progress_end_line(MsCliProgress *self)
{
	if (!self->line_drawn)
		return;
	g_print("\n");
	self->line_drawn = FALSE;
}

static void
ms_cli_progress_print_line(MsCliProgress *self, const gchar *line)
{
	ms_cli_progress_end_line(self);
	g_print("%s\n", line);
	fflush(stdout);
}

/* why the attempt failed and when the next one is, read from the job object */
static gchar *
ms_cli_progress_deferred_line(MsCliProgress *self)
{
	g_autoptr(GVariant) ret = NULL;
	g_autoptr(GVariant) props = NULL;
	const gchar *message = NULL;
	gint64 next = 0;

	ret = g_dbus_connection_call_sync(self->bus,
					  MS_CLI_BUS_NAME,
					  self->job_path,
					  "org.freedesktop.DBus.Properties",
					  "GetAll",
					  g_variant_new("(s)", MS_CLI_JOB_IFACE),
					  G_VARIANT_TYPE("(a{sv})"),
					  G_DBUS_CALL_FLAGS_NO_AUTO_START,
					  5000,
					  NULL,
					  NULL);
	if (ret == NULL)
		return g_strdup(_("deferred"));
	props = g_variant_get_child_value(ret, 0);
	g_variant_lookup(props, "ErrorMessage", "&s", &message);
	g_variant_lookup(props, "NextAttempt", "x", &next);
	if (next > 0) {
		g_autoptr(GDateTime) dt = g_date_time_new_from_unix_local(next);
		g_autofree gchar *when = g_date_time_format(dt, "%H:%M:%S");

		if (message != NULL && message[0] != '\0') {
			/* TRANSLATORS: the first %s is why, the second a time of day */
			return g_strdup_printf(_("deferred: %s; next attempt at %s"),
					       message,
					       when);
		}
		/* TRANSLATORS: %s is a time of day */
		return g_strdup_printf(_("deferred; next attempt at %s"), when);
	}
	if (message != NULL && message[0] != '\0')
		return g_strdup_printf(_("deferred: %s"), message);
	return g_strdup(_("deferred"));
}

static void
ms_cli_progress_on_progress(MsCliProgress *self, const gchar *stage, guint64 done, guint64 total)
{
	g_autofree gchar *line = NULL;

	/* a deferral says why and when, on a line of its own that stays */
	if (g_str_equal(stage, "deferred")) {
		line = ms_cli_progress_deferred_line(self);
		ms_cli_progress_print_line(self, line);
		g_free(self->last_stage);
		self->last_stage = g_strdup(stage);
		return;
	}
	if (self->interactive) {
		line = ms_cli_progress_format(stage, done, total, TRUE);
		/* back to the start of the line and clear it */
		g_print("\r\033[K%s", line);
		fflush(stdout);
		self->line_drawn = TRUE;
		return;
	}
	if (g_strcmp0(self->last_stage, stage) == 0)
		return;
	g_free(self->last_stage);
	self->last_stage = g_strdup(stage);
	line = ms_cli_progress_format(stage, done, total, FALSE);
	ms_cli_progress_print_line(self, line);
}

void
ms_cli_progress_finish(MsCliProgress *self, gint exit_status)
{
	if (self->finished)
		return;
	self->finished = TRUE;
	self->exit_status = exit_status;
	ms_cli_progress_end_line(self);
	fflush(stdout);
	g_main_loop_quit(self->loop);
}

static void
ms_cli_progress_handle(MsCliProgress *self, const gchar *member, GVariant *parameters)
{
	const gchar *job = NULL;

	if (self->finished)
		return;
	if (g_str_equal(member, "Progress") &&
	    g_variant_is_of_type(parameters, G_VARIANT_TYPE("(ostt)"))) {
		const gchar *stage = NULL;
		guint64 done = 0;
		guint64 total = 0;

		g_variant_get(parameters, "(&o&stt)", &job, &stage, &done, &total);
		if (g_str_equal(job, self->job_path))
			ms_cli_progress_on_progress(self, stage, done, total);
		return;
	}
	if (g_str_equal(member, "Sent") &&
	    g_variant_is_of_type(parameters, G_VARIANT_TYPE("(os)"))) {
		const gchar *reply = NULL;
		g_autofree gchar *line = NULL;

		g_variant_get(parameters, "(&o&s)", &job, &reply);
		if (!g_str_equal(job, self->job_path))
			return;
		/* TRANSLATORS: %s is the server's reply, e.g. "250 2.0.0 Ok: queued as 4Fx" */
		line = g_strdup_printf(_("sent: %s"), reply);
		ms_cli_progress_print_line(self, line);
		ms_cli_progress_finish(self, MS_CLI_EXIT_OK);
		return;
	}
	if (g_str_equal(member, "Failed") &&
	    g_variant_is_of_type(parameters, G_VARIANT_TYPE("(oss)"))) {
		const gchar *name = NULL;
		const gchar *message = NULL;

		g_variant_get(parameters, "(&o&s&s)", &job, &name, &message);
		if (!g_str_equal(job, self->job_path))
			return;
		ms_cli_progress_end_line(self);
		fflush(stdout);
		g_printerr(_("error: %s (%s)\n"), message, name);
		ms_cli_progress_finish(self, MS_CLI_EXIT_FAILED);
		return;
	}
}

static void
ms_cli_progress_signal_cb(GDBusConnection *connection,
			  const gchar *sender_name,
			  const gchar *object_path,
			  const gchar *interface_name,
			  const gchar *signal_name,
			  GVariant *parameters,
			  gpointer user_data)
{
	MsCliProgress *self = user_data;

	if (self->job_path == NULL) {
		g_ptr_array_add(
		    self->early,
		    g_variant_ref_sink(g_variant_new("(s@*)", signal_name, parameters)));
		return;
	}
	ms_cli_progress_handle(self, signal_name, parameters);
}

MsCliProgress *
ms_cli_progress_new(GDBusConnection *bus, gboolean interactive)
{
	MsCliProgress *self = g_new0(MsCliProgress, 1);

	self->bus = g_object_ref(bus);
	self->loop = g_main_loop_new(NULL, FALSE);
	self->interactive = interactive;
	self->early = g_ptr_array_new_with_free_func((GDestroyNotify)g_variant_unref);
	self->subscription_id = g_dbus_connection_signal_subscribe(bus,
								   MS_CLI_BUS_NAME,
								   MS_CLI_MANAGER_IFACE,
								   NULL,
								   MS_CLI_MANAGER_PATH,
								   NULL,
								   G_DBUS_SIGNAL_FLAGS_NONE,
								   ms_cli_progress_signal_cb,
								   self,
								   NULL);
	return self;
}

void
ms_cli_progress_set_job(MsCliProgress *self, const gchar *job_path)
{
	g_return_if_fail(self->job_path == NULL);

	self->job_path = g_strdup(job_path);
	for (guint i = 0; i < self->early->len; i++) {
		GVariant *entry = g_ptr_array_index(self->early, i);
		const gchar *member = NULL;
		g_autoptr(GVariant) parameters = NULL;

		g_variant_get(entry, "(&s@*)", &member, &parameters);
		ms_cli_progress_handle(self, member, parameters);
	}
	g_ptr_array_set_size(self->early, 0);
}

gint
ms_cli_progress_run(MsCliProgress *self)
{
	if (!self->finished)
		g_main_loop_run(self->loop);
	return self->exit_status;
}

void
ms_cli_progress_free(MsCliProgress *self)
{
	if (self->subscription_id != 0)
		g_dbus_connection_signal_unsubscribe(self->bus, self->subscription_id);
	g_clear_object(&self->bus);
	g_clear_pointer(&self->loop, g_main_loop_unref);
	g_clear_pointer(&self->early, g_ptr_array_unref);
	g_free(self->job_path);
	g_free(self->last_stage);
	g_free(self);
}

void
ms_cli_progress_job_reply_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	MsCliProgress *self = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) ret = NULL;
	const gchar *path = NULL;

	ret = g_dbus_connection_call_with_unix_fd_list_finish(G_DBUS_CONNECTION(source),
							      NULL,
							      res,
							      &error);
	if (ret == NULL) {
		ms_cli_print_error(error);
		ms_cli_progress_finish(self, MS_CLI_EXIT_FAILED);
		return;
	}
	g_variant_get(ret, "(&o)", &path);
	g_print("%s\n", path);
	fflush(stdout);
	ms_cli_progress_set_job(self, path);
}
