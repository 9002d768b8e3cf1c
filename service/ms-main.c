#define G_LOG_DOMAIN "MsMain"

#include "config.h"

#include <glib-unix.h>
#include <glib/gi18n.h>
#include <locale.h>
#include <stdio.h>

#include "ms-config.h"
#include "ms-credentials.h"
#include "ms-daemon.h"
#include "ms-queue.h"

typedef struct {
	GMainLoop *loop;
	MsConfig *config;
	MsQueue *queue;
	MsDaemon *daemon;
	GBusType bus_type;
	gchar *config_path;
	guint owner_id;
	gboolean name_acquired;
	gboolean stopping;
	gint exit_status;
} MsMain;

static void
ms_main_free(MsMain *self)
{
	if (self->owner_id != 0)
		g_bus_unown_name(self->owner_id);
	g_clear_object(&self->daemon);
	g_clear_object(&self->queue);
	g_clear_object(&self->config);
	g_clear_pointer(&self->loop, g_main_loop_unref);
	g_free(self->config_path);
	g_free(self);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MsMain, ms_main_free)

static void
ms_main_stopped_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	MsMain *self = user_data;
	g_autoptr(GError) error = NULL;

	if (!ms_queue_stop_finish(MS_QUEUE(source), res, &error))
		g_warning("stopping the queue: %s", error->message);
	g_main_loop_quit(self->loop);
}

/* stop taking work, let in-flight attempts unwind (they stay in the spool), then quit */
static void
ms_main_stop(MsMain *self)
{
	if (self->stopping)
		return;
	self->stopping = TRUE;
	g_info("stopping");
	ms_daemon_flush_notifications(self->daemon);
	ms_queue_stop_async(self->queue, ms_main_stopped_cb, self);
}

static gboolean
ms_main_sigterm_cb(gpointer user_data)
{
	ms_main_stop(user_data);
	return G_SOURCE_CONTINUE;
}

/* SIGHUP: re-read the accounts file; a broken file keeps the old configuration */
static gboolean
ms_main_sighup_cb(gpointer user_data)
{
	MsMain *self = user_data;
	g_autoptr(MsConfig) config = ms_config_new();
	g_autoptr(GError) error = NULL;

	if (!ms_config_load(config, self->config_path, &error)) {
		g_warning("not reloading the configuration: %s", error->message);
		return G_SOURCE_CONTINUE;
	}
	g_info("configuration reloaded from %s", self->config_path);
	g_set_object(&self->config, config);
	ms_queue_set_config(self->queue, config);
	ms_daemon_set_config(self->daemon, config);
	return G_SOURCE_CONTINUE;
}

static void
ms_main_bus_acquired_cb(GDBusConnection *connection, const gchar *name, gpointer user_data)
{
	MsMain *self = user_data;
	g_autoptr(GError) error = NULL;

	if (!ms_daemon_register(self->daemon, connection, &error)) {
		g_printerr("mail-senderd: %s\n", error->message);
		self->exit_status = 1;
		g_main_loop_quit(self->loop);
	}
}

static void
ms_main_name_acquired_cb(GDBusConnection *connection, const gchar *name, gpointer user_data)
{
	MsMain *self = user_data;

	self->name_acquired = TRUE;
	g_info("owning %s", name);
	ms_queue_start(self->queue);
}

static void
ms_main_name_lost_cb(GDBusConnection *connection, const gchar *name, gpointer user_data)
{
	MsMain *self = user_data;

	if (!self->name_acquired) {
		/* TRANSLATORS: %s is a D-Bus name */
		g_printerr(_("mail-senderd: cannot own %s on the bus (is another instance running? "
			     "use --replace)\n"),
			   name);
		self->exit_status = 1;
		g_main_loop_quit(self->loop);
		return;
	}
	g_info("lost %s, stopping", name);
	ms_daemon_unregister(self->daemon);
	ms_main_stop(self);
}

int
main(int argc, char *argv[])
{
	gboolean opt_session = FALSE;
	gboolean opt_system = FALSE;
	gboolean opt_replace = FALSE;
	gboolean opt_verbose = FALSE;
	gboolean opt_version = FALSE;
	g_autofree gchar *opt_config = NULL;
	g_autofree gchar *opt_spool_dir = NULL;
	g_autoptr(GOptionContext) context = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(MsMain) self = g_new0(MsMain, 1);
	g_autoptr(MsCredentials) credentials = NULL;
	g_autofree gchar *spool_dir = NULL;
	const GOptionEntry options[] = {
	    {"session",
	     0,
	     0,
	     G_OPTION_ARG_NONE,
	     &opt_session,
	     N_("Use the session bus (default)"),
	     NULL},
	    {"system", 0, 0, G_OPTION_ARG_NONE, &opt_system, N_("Use the system bus"), NULL},
	    {"config",
	     0,
	     0,
	     G_OPTION_ARG_FILENAME,
	     &opt_config,
	     N_("Accounts file to use"),
	     N_("FILE")},
	    {"spool-dir",
	     0,
	     0,
	     G_OPTION_ARG_FILENAME,
	     &opt_spool_dir,
	     N_("Spool directory to use"),
	     N_("DIR")},
	    {"replace",
	     'r',
	     0,
	     G_OPTION_ARG_NONE,
	     &opt_replace,
	     N_("Replace a running instance"),
	     NULL},
	    {"verbose", 'v', 0, G_OPTION_ARG_NONE, &opt_verbose, N_("Show debug messages"), NULL},
	    {"version", 0, 0, G_OPTION_ARG_NONE, &opt_version, N_("Show the version"), NULL},
	    {NULL},
	};

	setlocale(LC_ALL, "");
	/* MS_LOCALEDIR: the catalogs of a build tree, for the tests */
	bindtextdomain(GETTEXT_PACKAGE,
		       g_getenv("MS_LOCALEDIR") != NULL ? g_getenv("MS_LOCALEDIR") : LOCALEDIR);
	bind_textdomain_codeset(GETTEXT_PACKAGE, "UTF-8");
	textdomain(GETTEXT_PACKAGE);

	context = g_option_context_new(NULL);
	g_option_context_set_summary(context, _("Mail submission service for org.mail.Sender"));
	g_option_context_add_main_entries(context, options, GETTEXT_PACKAGE);
	if (!g_option_context_parse(context, &argc, &argv, &error)) {
		g_printerr("mail-senderd: %s\n", error->message);
		return 2;
	}
	if (opt_version) {
		g_print("mail-senderd %s\n", PACKAGE_VERSION);
		return 0;
	}
	if (opt_session && opt_system) {
		g_printerr(_("mail-senderd: --session and --system exclude each other\n"));
		return 2;
	}
	if (opt_verbose)
		g_setenv("G_MESSAGES_DEBUG", "all", TRUE);
	self->bus_type = opt_system ? G_BUS_TYPE_SYSTEM : G_BUS_TYPE_SESSION;

	/* without glib-networking every TLS handshake would fail later, job after job */
	if (!g_tls_backend_supports_tls(g_tls_backend_get_default())) {
		g_printerr(_("mail-senderd: no TLS support in GIO: install glib-networking\n"));
		return 1;
	}

	/* every account is validated before the name is owned */
	self->config_path = opt_config != NULL
				? g_canonicalize_filename(opt_config, NULL)
				: ms_config_default_path(self->bus_type == G_BUS_TYPE_SYSTEM);
	self->config = ms_config_new();
	if (!ms_config_load(self->config, self->config_path, &error)) {
		g_printerr("mail-senderd: %s\n", error->message);
		return 1;
	}

	if (opt_spool_dir != NULL)
		spool_dir = g_canonicalize_filename(opt_spool_dir, NULL);
	else if (self->bus_type == G_BUS_TYPE_SYSTEM)
		spool_dir = g_strdup("/var/spool/mail-sender");
	else
		spool_dir = g_build_filename(g_get_user_state_dir(), "mail-sender", "spool", NULL);
	if (self->bus_type == G_BUS_TYPE_SYSTEM)
		credentials = ms_credentials_new_for_system();
	else
		credentials = ms_credentials_new();
	/* a password file that others can read is refused before the name is owned */
	if (!ms_credentials_check_files(credentials, self->config, &error)) {
		g_printerr("mail-senderd: %s\n", error->message);
		return 1;
	}
	self->queue = ms_queue_new(self->config, credentials, spool_dir);
	if (!ms_queue_load(self->queue, &error)) {
		g_printerr("mail-senderd: %s: %s\n", spool_dir, error->message);
		return 1;
	}
	self->daemon = ms_daemon_new(self->config,
				     self->queue,
				     credentials,
				     self->bus_type == G_BUS_TYPE_SYSTEM);

	self->loop = g_main_loop_new(NULL, FALSE);
	g_unix_signal_add(SIGTERM, ms_main_sigterm_cb, self);
	g_unix_signal_add(SIGINT, ms_main_sigterm_cb, self);
	g_unix_signal_add(SIGHUP, ms_main_sighup_cb, self);
	self->owner_id = g_bus_own_name(self->bus_type,
					"org.mail.Sender",
					G_BUS_NAME_OWNER_FLAGS_ALLOW_REPLACEMENT |
					    (opt_replace ? G_BUS_NAME_OWNER_FLAGS_REPLACE : 0),
					ms_main_bus_acquired_cb,
					ms_main_name_acquired_cb,
					ms_main_name_lost_cb,
					self,
					NULL);
	g_main_loop_run(self->loop);
	return self->exit_status;
}
