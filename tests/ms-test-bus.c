#define G_LOG_DOMAIN "MsTestBus"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>

#include "ms-test-bus.h"
#include "ms-test-server.h"

/* how long the fixture waits for the daemon to start or stop before failing */
#define MS_TEST_DAEMON_TIMEOUT_MS 20000

#define MS_TEST_BUS_NAME      "org.mail.Sender"
#define MS_TEST_MANAGER_PATH  "/org/mail/Sender"
#define MS_TEST_MANAGER_IFACE "org.mail.Sender"

struct _MsTestDaemon {
	GSubprocess *subprocess;
	GDBusConnection *bus;
	gchar *tmpdir;
	gchar *config_path; /* NULL: no accounts file */
	gchar *config_home;
	gchar *state_home;
	gchar *spool_dir;
	gchar *log_path;
	GStrv extra_args;
	GStrv extra_env;
	GBusType bus_type; /* G_BUS_TYPE_SESSION or G_BUS_TYPE_SYSTEM */
	gint exit_status;
};

static void
ms_test_daemon_destroy(MsTestDaemon *self)
{
	g_clear_object(&self->subprocess);
	g_clear_object(&self->bus);
	g_free(self->tmpdir);
	g_free(self->config_path);
	g_free(self->config_home);
	g_free(self->state_home);
	g_free(self->spool_dir);
	g_free(self->log_path);
	g_strfreev(self->extra_args);
	g_strfreev(self->extra_env);
	g_free(self);
}

/* the directories and the accounts file; nothing is running yet */
static MsTestDaemon *
ms_test_daemon_new(GBusType bus_type,
		   const gchar *accounts_conf_text,
		   const gchar *const *extra_args,
		   const gchar *const *extra_env,
		   GError **error)
{
	MsTestDaemon *self = g_new0(MsTestDaemon, 1);
	g_autofree gchar *config_dir = NULL;

	self->bus_type = bus_type;
	self->extra_args = g_strdupv((gchar **)extra_args);
	self->extra_env = g_strdupv((gchar **)extra_env);
	self->tmpdir = g_dir_make_tmp("ms-test-daemon-XXXXXX", error);
	if (self->tmpdir == NULL) {
		ms_test_daemon_free(self);
		return NULL;
	}
	self->config_home = g_build_filename(self->tmpdir, "config", NULL);
	self->state_home = g_build_filename(self->tmpdir, "state", NULL);
	self->spool_dir = g_build_filename(self->tmpdir, "spool", NULL);
	self->log_path = g_build_filename(self->tmpdir, "daemon.log", NULL);
	config_dir = g_build_filename(self->config_home, "mail-sender", NULL);
	if (g_mkdir_with_parents(config_dir, 0700) != 0 ||
	    g_mkdir_with_parents(self->state_home, 0700) != 0) {
		gint errsv = errno;
		g_set_error(error,
			    G_IO_ERROR,
			    g_io_error_from_errno(errsv),
			    "cannot create directories in %s: %s",
			    self->tmpdir,
			    g_strerror(errsv));
		ms_test_daemon_free(self);
		return NULL;
	}
	/* the daemon's default session path, so a test may also start it without --config */
	if (accounts_conf_text != NULL) {
		self->config_path = g_build_filename(config_dir, "accounts.conf", NULL);
		if (!g_file_set_contents(self->config_path, accounts_conf_text, -1, error)) {
			ms_test_daemon_free(self);
			return NULL;
		}
	}
	return self;
}

static GSubprocess *
ms_test_daemon_spawn(MsTestDaemon *self, gboolean expect_failure, GError **error)
{
	const gchar *daemon_path = g_getenv("MS_DAEMON_PATH");
	g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GSubprocessLauncher) launcher = NULL;
	GSubprocess *subprocess;

	if (daemon_path == NULL || daemon_path[0] == '\0') {
		g_set_error_literal(error,
				    G_IO_ERROR,
				    G_IO_ERROR_NOT_FOUND,
				    "MS_DAEMON_PATH is not set: run the test through meson");
		return NULL;
	}
	if (!g_file_test(daemon_path, G_FILE_TEST_IS_EXECUTABLE)) {
		g_set_error(error,
			    G_IO_ERROR,
			    G_IO_ERROR_NOT_FOUND,
			    "%s is missing or not executable: is the daemon built?",
			    daemon_path);
		return NULL;
	}

	g_ptr_array_add(argv, g_strdup(daemon_path));
	g_ptr_array_add(argv,
			g_strdup(self->bus_type == G_BUS_TYPE_SYSTEM ? "--system" : "--session"));
	if (self->config_path != NULL) {
		g_ptr_array_add(argv, g_strdup("--config"));
		g_ptr_array_add(argv, g_strdup(self->config_path));
	}
	g_ptr_array_add(argv, g_strdup("--spool-dir"));
	g_ptr_array_add(argv, g_strdup(self->spool_dir));
	if (!expect_failure)
		g_ptr_array_add(argv, g_strdup("--verbose"));
	for (guint i = 0; self->extra_args != NULL && self->extra_args[i] != NULL; i++)
		g_ptr_array_add(argv, g_strdup(self->extra_args[i]));
	g_ptr_array_add(argv, NULL);

	if (expect_failure) {
		g_autofree gchar *stdout_path = g_build_filename(self->tmpdir, "stdout.log", NULL);
		g_autofree gchar *stderr_path = g_build_filename(self->tmpdir, "stderr.log", NULL);
		launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_NONE);
		g_subprocess_launcher_set_stdout_file_path(launcher, stdout_path);
		g_subprocess_launcher_set_stderr_file_path(launcher, stderr_path);
		/* the one-line start-up error is what the test asserts: no debug noise */
		g_subprocess_launcher_unsetenv(launcher, "G_MESSAGES_DEBUG");
	} else {
		/* appended, so the log of a restarted daemon follows the first one's */
		gint fd = g_open(self->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (fd < 0) {
			gint errsv = errno;
			g_set_error(error,
				    G_IO_ERROR,
				    g_io_error_from_errno(errsv),
				    "cannot open %s: %s",
				    self->log_path,
				    g_strerror(errsv));
			return NULL;
		}
		launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDERR_MERGE);
		g_subprocess_launcher_take_stdout_fd(launcher, fd);
	}
	g_subprocess_launcher_setenv(launcher, "G_DEBUG", "fatal-criticals", TRUE);
	g_subprocess_launcher_setenv(launcher, "XDG_CONFIG_HOME", self->config_home, TRUE);
	g_subprocess_launcher_setenv(launcher, "XDG_STATE_HOME", self->state_home, TRUE);
	for (guint i = 0; self->extra_env != NULL && self->extra_env[i] != NULL; i++) {
		g_auto(GStrv) kv = g_strsplit(self->extra_env[i], "=", 2);
		if (kv[0] == NULL || kv[1] == NULL) {
			g_set_error(error,
				    G_IO_ERROR,
				    G_IO_ERROR_INVALID_ARGUMENT,
				    "extra environment '%s' is not NAME=VALUE",
				    self->extra_env[i]);
			return NULL;
		}
		g_subprocess_launcher_setenv(launcher, kv[0], kv[1], TRUE);
	}
	ms_test_launcher_die_with_parent(launcher);
	subprocess =
	    g_subprocess_launcher_spawnv(launcher, (const gchar *const *)argv->pdata, error);
	if (subprocess == NULL)
		g_prefix_error(error, "cannot run %s: ", daemon_path);
	return subprocess;
}

gchar *
ms_test_daemon_get_log(MsTestDaemon *self)
{
	gchar *text = NULL;

	g_return_val_if_fail(self != NULL, NULL);

	if (!g_file_get_contents(self->log_path, &text, NULL, NULL))
		return g_strdup("");
	return text;
}

/* the owner of org.mail.Sender as the name watcher last reported it */
typedef struct {
	gboolean known;
	gchar *owner;
} MsTestNameWatch;

static void
ms_test_name_watch_free(gpointer data)
{
	MsTestNameWatch *watch = data;
	g_free(watch->owner);
	g_free(watch);
}

static void
ms_test_name_appeared_cb(GDBusConnection *connection,
			 const gchar *name,
			 const gchar *name_owner,
			 gpointer user_data)
{
	MsTestNameWatch *watch = user_data;
	watch->known = TRUE;
	g_free(watch->owner);
	watch->owner = g_strdup(name_owner);
}

static void
ms_test_name_vanished_cb(GDBusConnection *connection, const gchar *name, gpointer user_data)
{
	MsTestNameWatch *watch = user_data;
	watch->known = TRUE;
	g_clear_pointer(&watch->owner, g_free);
}

static gboolean
ms_test_name_is_free_cb(gpointer user_data)
{
	MsTestNameWatch *watch = user_data;
	return watch->known && watch->owner == NULL;
}

typedef struct {
	MsTestNameWatch *watch;
	GSubprocess *subprocess;
} MsTestDaemonLaunchHelper;

static gboolean
ms_test_name_owned_or_exited_cb(gpointer user_data)
{
	MsTestDaemonLaunchHelper *helper = user_data;
	return helper->watch->owner != NULL ||
	       g_subprocess_get_identifier(helper->subprocess) == NULL;
}

static gint
ms_test_daemon_terminate(MsTestDaemon *self, gint signum)
{
	gint status;

	if (self->subprocess == NULL)
		return self->exit_status;
	g_subprocess_send_signal(self->subprocess, signum);
	if (ms_test_subprocess_wait(self->subprocess, MS_TEST_DAEMON_TIMEOUT_MS)) {
		status = ms_test_subprocess_get_status(self->subprocess);
	} else {
		g_test_fail_printf("mail-senderd did not exit within %u s of signal %d; killed",
				   MS_TEST_DAEMON_TIMEOUT_MS / 1000,
				   signum);
		g_subprocess_force_exit(self->subprocess);
		ms_test_subprocess_wait(self->subprocess, MS_TEST_DAEMON_TIMEOUT_MS);
		status = -1;
	}
	g_clear_object(&self->subprocess);
	self->exit_status = status;
	return status;
}

/* spawns the daemon and waits until it owns the name */
static gboolean
ms_test_daemon_launch(MsTestDaemon *self, GError **error)
{
	MsTestNameWatch *watch = g_new0(MsTestNameWatch, 1);
	MsTestDaemonLaunchHelper helper = {.watch = watch};
	g_autofree gchar *log = NULL;
	gboolean owned;
	guint watch_id;

	watch_id = g_bus_watch_name_on_connection(self->bus,
						  MS_TEST_BUS_NAME,
						  G_BUS_NAME_WATCHER_FLAGS_NONE,
						  ms_test_name_appeared_cb,
						  ms_test_name_vanished_cb,
						  watch,
						  ms_test_name_watch_free);

	/* a daemon killed just before may still be listed for a moment; a leaked one would
	 * make us talk to the wrong process */
	if (!ms_test_wait_until(ms_test_name_is_free_cb, watch, MS_TEST_DAEMON_TIMEOUT_MS)) {
		g_set_error(error,
			    G_IO_ERROR,
			    G_IO_ERROR_EXISTS,
			    "%s is still owned by %s: a daemon of an earlier test is still running",
			    MS_TEST_BUS_NAME,
			    watch->owner != NULL ? watch->owner : "(unknown)");
		g_bus_unwatch_name(watch_id);
		return FALSE;
	}

	self->subprocess = ms_test_daemon_spawn(self, FALSE, error);
	if (self->subprocess == NULL) {
		g_bus_unwatch_name(watch_id);
		return FALSE;
	}
	helper.subprocess = self->subprocess;
	ms_test_wait_until(ms_test_name_owned_or_exited_cb, &helper, MS_TEST_DAEMON_TIMEOUT_MS);
	owned = watch->owner != NULL;
	g_bus_unwatch_name(watch_id);
	if (owned)
		return TRUE;

	if (g_subprocess_get_identifier(self->subprocess) == NULL) {
		gint status = ms_test_daemon_terminate(self, SIGTERM);
		log = ms_test_daemon_get_log(self);
		g_set_error(error,
			    G_IO_ERROR,
			    G_IO_ERROR_FAILED,
			    "mail-senderd exited with status %d before owning %s; its log:\n%s",
			    status,
			    MS_TEST_BUS_NAME,
			    log);
		return FALSE;
	}
	ms_test_daemon_terminate(self, SIGTERM);
	log = ms_test_daemon_get_log(self);
	g_set_error(error,
		    G_IO_ERROR,
		    G_IO_ERROR_TIMED_OUT,
		    "mail-senderd did not own %s within %u s; its log:\n%s",
		    MS_TEST_BUS_NAME,
		    MS_TEST_DAEMON_TIMEOUT_MS / 1000,
		    log);
	return FALSE;
}

MsTestDaemon *
ms_test_daemon_start_on_bus(GBusType bus_type,
			    const gchar *accounts_conf_text,
			    const gchar *const *extra_args,
			    const gchar *const *extra_env,
			    GError **error)
{
	g_autoptr(MsTestDaemon) self = NULL;

	g_return_val_if_fail(bus_type == G_BUS_TYPE_SESSION || bus_type == G_BUS_TYPE_SYSTEM, NULL);

	self = ms_test_daemon_new(bus_type, accounts_conf_text, extra_args, extra_env, error);
	if (self == NULL)
		return NULL;
	self->bus = g_bus_get_sync(bus_type, NULL, error);
	if (self->bus == NULL) {
		g_prefix_error(error,
			       bus_type == G_BUS_TYPE_SYSTEM
				   ? "no private system bus (run the test through "
				     "tests/system-bus-session.sh): "
				   : "no session bus (run the test through "
				     "tests/keyring-session.sh): ");
		return NULL;
	}
	if (!ms_test_daemon_launch(self, error))
		return NULL;
	return g_steal_pointer(&self);
}

MsTestDaemon *
ms_test_daemon_start_full(const gchar *accounts_conf_text,
			  const gchar *const *extra_args,
			  const gchar *const *extra_env,
			  GError **error)
{
	return ms_test_daemon_start_on_bus(G_BUS_TYPE_SESSION,
					   accounts_conf_text,
					   extra_args,
					   extra_env,
					   error);
}

MsTestDaemon *
ms_test_daemon_start(const gchar *accounts_conf_text, GError **error)
{
	return ms_test_daemon_start_full(accounts_conf_text, NULL, NULL, error);
}

gboolean
ms_test_daemon_restart(MsTestDaemon *self, GError **error)
{
	g_return_val_if_fail(self != NULL, FALSE);

	if (self->subprocess != NULL) {
		g_set_error_literal(error,
				    G_IO_ERROR,
				    G_IO_ERROR_BUSY,
				    "mail-senderd is still running: stop or kill it first");
		return FALSE;
	}
	return ms_test_daemon_launch(self, error);
}

GDBusConnection *
ms_test_daemon_get_bus(MsTestDaemon *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return self->bus;
}

const gchar *
ms_test_daemon_get_tmpdir(MsTestDaemon *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return self->tmpdir;
}

const gchar *
ms_test_daemon_get_config_path(MsTestDaemon *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return self->config_path;
}

const gchar *
ms_test_daemon_get_spool_dir(MsTestDaemon *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return self->spool_dir;
}

gint
ms_test_daemon_stop(MsTestDaemon *self)
{
	g_return_val_if_fail(self != NULL, -1);
	return ms_test_daemon_terminate(self, SIGTERM);
}

gint
ms_test_daemon_kill(MsTestDaemon *self)
{
	g_return_val_if_fail(self != NULL, -1);
	return ms_test_daemon_terminate(self, SIGKILL);
}

void
ms_test_daemon_free(MsTestDaemon *self)
{
	g_autoptr(GError) error = NULL;

	if (self == NULL)
		return;
	if (self->subprocess != NULL) {
		/* it must still be running and exit cleanly: anything else is a crash */
		gboolean was_running = g_subprocess_get_identifier(self->subprocess) != NULL;
		gint status = ms_test_daemon_stop(self);
		if (!was_running)
			g_test_fail_printf("mail-senderd died during the test, status %d", status);
		else if (status != 0)
			g_test_fail_printf("mail-senderd exited with status %d on SIGTERM", status);
	}
	if (g_test_failed() && self->log_path != NULL) {
		g_autofree gchar *log = ms_test_daemon_get_log(self);
		ms_test_message_lines("mail-senderd: ", log);
	}
	if (self->tmpdir != NULL && !ms_test_rm_rf(self->tmpdir, &error))
		g_test_message("%s", error->message);
	ms_test_daemon_destroy(self);
}

gboolean
ms_test_daemon_start_expect_failure_full(GBusType bus_type,
					 const gchar *accounts_conf_text,
					 const gchar *const *extra_args,
					 const gchar *const *extra_env,
					 gint *exit_status,
					 gchar **stderr_text,
					 GError **error)
{
	g_autoptr(MsTestDaemon) self = NULL;
	g_autofree gchar *stderr_path = NULL;
	g_autofree gchar *text = NULL;
	gint status;

	g_return_val_if_fail(bus_type == G_BUS_TYPE_SESSION || bus_type == G_BUS_TYPE_SYSTEM,
			     FALSE);

	self = ms_test_daemon_new(bus_type, accounts_conf_text, extra_args, extra_env, error);
	if (self == NULL)
		return FALSE;
	stderr_path = g_build_filename(self->tmpdir, "stderr.log", NULL);
	self->subprocess = ms_test_daemon_spawn(self, TRUE, error);
	if (self->subprocess == NULL)
		return FALSE;
	if (!ms_test_subprocess_wait(self->subprocess, MS_TEST_DAEMON_TIMEOUT_MS)) {
		g_autofree gchar *out = NULL;
		ms_test_daemon_terminate(self, SIGTERM);
		if (!g_file_get_contents(stderr_path, &out, NULL, NULL))
			out = g_strdup("");
		g_set_error(error,
			    G_IO_ERROR,
			    G_IO_ERROR_TIMED_OUT,
			    "mail-senderd was expected to fail, but it still ran after %u s; its "
			    "stderr:\n%s",
			    MS_TEST_DAEMON_TIMEOUT_MS / 1000,
			    out);
		return FALSE;
	}
	status = ms_test_daemon_terminate(self, SIGTERM);
	if (!g_file_get_contents(stderr_path, &text, NULL, error))
		return FALSE;
	if (exit_status != NULL)
		*exit_status = status;
	if (stderr_text != NULL)
		*stderr_text = g_steal_pointer(&text);
	return TRUE;
}

gboolean
ms_test_daemon_start_expect_failure(const gchar *accounts_conf_text,
				    gint *exit_status,
				    gchar **stderr_text,
				    GError **error)
{
	return ms_test_daemon_start_expect_failure_full(G_BUS_TYPE_SESSION,
							accounts_conf_text,
							NULL,
							NULL,
							exit_status,
							stderr_text,
							error);
}

/* signal recorder */

struct _MsTestSignals {
	GDBusConnection *bus;
	guint manager_id;
	guint properties_id;
	GHashTable *jobs; /* object path → GPtrArray of gchar * */
};

static GPtrArray *
ms_test_signals_get_array(MsTestSignals *self, const gchar *path)
{
	GPtrArray *entries = g_hash_table_lookup(self->jobs, path);
	if (entries == NULL) {
		entries = g_ptr_array_new_with_free_func(g_free);
		g_hash_table_insert(self->jobs, g_strdup(path), entries);
	}
	return entries;
}

static void
ms_test_signals_add(MsTestSignals *self, const gchar *path, gchar *entry)
{
	g_debug("%s: %s", path, entry);
	g_ptr_array_add(ms_test_signals_get_array(self, path), entry);
}

static void
ms_test_signals_manager_cb(GDBusConnection *connection,
			   const gchar *sender_name,
			   const gchar *object_path,
			   const gchar *interface_name,
			   const gchar *signal_name,
			   GVariant *parameters,
			   gpointer user_data)
{
	MsTestSignals *self = user_data;
	const gchar *job = NULL;
	const gchar *text1 = NULL;
	const gchar *text2 = NULL;
	guint64 done = 0;
	guint64 total = 0;

	if (g_strcmp0(signal_name, "Progress") == 0 &&
	    g_variant_is_of_type(parameters, G_VARIANT_TYPE("(ostt)"))) {
		g_variant_get(parameters, "(&o&stt)", &job, &text1, &done, &total);
		ms_test_signals_add(self,
				    job,
				    g_strdup_printf("Progress %s %" G_GUINT64_FORMAT
						    " %" G_GUINT64_FORMAT,
						    text1,
						    done,
						    total));
		return;
	}
	if (g_strcmp0(signal_name, "Sent") == 0 &&
	    g_variant_is_of_type(parameters, G_VARIANT_TYPE("(os)"))) {
		g_variant_get(parameters, "(&o&s)", &job, &text1);
		ms_test_signals_add(self, job, g_strdup_printf("Sent %s", text1));
		return;
	}
	if (g_strcmp0(signal_name, "Failed") == 0 &&
	    g_variant_is_of_type(parameters, G_VARIANT_TYPE("(oss)"))) {
		g_variant_get(parameters, "(&o&s&s)", &job, &text1, &text2);
		ms_test_signals_add(self, job, g_strdup_printf("Failed %s %s", text1, text2));
		return;
	}
	ms_test_signals_add(self,
			    MS_TEST_MANAGER_PATH,
			    g_strdup_printf("Unexpected %s %s",
					    signal_name,
					    g_variant_get_type_string(parameters)));
}

static gint
ms_test_signals_strcmp(gconstpointer a, gconstpointer b)
{
	return g_strcmp0(*(const gchar *const *)a, *(const gchar *const *)b);
}

static void
ms_test_signals_properties_cb(GDBusConnection *connection,
			      const gchar *sender_name,
			      const gchar *object_path,
			      const gchar *interface_name,
			      const gchar *signal_name,
			      GVariant *parameters,
			      gpointer user_data)
{
	MsTestSignals *self = user_data;
	g_autoptr(GVariant) changed = NULL;
	g_autoptr(GPtrArray) names = g_ptr_array_new();
	g_autofree const gchar **invalidated = NULL;

	/* match rules cannot say "this path or below", so filter here */
	if (g_strcmp0(object_path, MS_TEST_MANAGER_PATH) != 0 &&
	    !g_str_has_prefix(object_path, MS_TEST_MANAGER_PATH "/"))
		return;
	if (!g_variant_is_of_type(parameters, G_VARIANT_TYPE("(sa{sv}as)"))) {
		ms_test_signals_add(self,
				    MS_TEST_MANAGER_PATH,
				    g_strdup_printf("Unexpected %s %s",
						    signal_name,
						    g_variant_get_type_string(parameters)));
		return;
	}
	g_variant_get(parameters, "(&s@a{sv}^a&s)", NULL, &changed, &invalidated);

	/* the order inside one signal is the daemon's business: sort it */
	for (gsize i = 0; i < g_variant_n_children(changed); i++) {
		const gchar *name = NULL;
		g_variant_get_child(changed, i, "{&sv}", &name, NULL);
		g_ptr_array_add(names, (gpointer)name);
	}
	g_ptr_array_sort(names, ms_test_signals_strcmp);
	for (guint i = 0; i < names->len; i++) {
		const gchar *name = g_ptr_array_index(names, i);
		g_autoptr(GVariant) value = g_variant_lookup_value(changed, name, NULL);
		g_autofree gchar *text = NULL;
		if (g_variant_is_of_type(value, G_VARIANT_TYPE_STRING) ||
		    g_variant_is_of_type(value, G_VARIANT_TYPE_OBJECT_PATH))
			text = g_variant_dup_string(value, NULL);
		else
			text = g_variant_print(value, FALSE);
		ms_test_signals_add(self,
				    object_path,
				    g_strdup_printf("Property %s %s", name, text));
	}
	for (guint i = 0; invalidated[i] != NULL; i++) {
		ms_test_signals_add(self,
				    object_path,
				    g_strdup_printf("Property %s invalidated", invalidated[i]));
	}
}

MsTestSignals *
ms_test_signals_new(GDBusConnection *bus)
{
	MsTestSignals *self = g_new0(MsTestSignals, 1);

	g_return_val_if_fail(G_IS_DBUS_CONNECTION(bus), NULL);

	self->bus = g_object_ref(bus);
	self->jobs = g_hash_table_new_full(g_str_hash,
					   g_str_equal,
					   g_free,
					   (GDestroyNotify)g_ptr_array_unref);
	/* no sender filter: on the private test bus only the daemon sends these, and matching on
	 * a well-known name would miss signals of a restarted daemon */
	self->manager_id = g_dbus_connection_signal_subscribe(bus,
							      NULL,
							      MS_TEST_MANAGER_IFACE,
							      NULL,
							      MS_TEST_MANAGER_PATH,
							      NULL,
							      G_DBUS_SIGNAL_FLAGS_NONE,
							      ms_test_signals_manager_cb,
							      self,
							      NULL);
	self->properties_id = g_dbus_connection_signal_subscribe(bus,
								 NULL,
								 "org.freedesktop.DBus.Properties",
								 "PropertiesChanged",
								 NULL,
								 NULL,
								 G_DBUS_SIGNAL_FLAGS_NONE,
								 ms_test_signals_properties_cb,
								 self,
								 NULL);
	return self;
}

void
ms_test_signals_free(MsTestSignals *self)
{
	if (self == NULL)
		return;
	/* GDBus does not call a handler any more once it is unsubscribed */
	g_dbus_connection_signal_unsubscribe(self->bus, self->manager_id);
	g_dbus_connection_signal_unsubscribe(self->bus, self->properties_id);
	g_hash_table_unref(self->jobs);
	g_object_unref(self->bus);
	g_free(self);
}

const GPtrArray *
ms_test_signals_for_job(MsTestSignals *self, const gchar *job_path)
{
	g_return_val_if_fail(self != NULL, NULL);
	g_return_val_if_fail(job_path != NULL, NULL);
	return ms_test_signals_get_array(self, job_path);
}

const gchar *
ms_test_signals_get_result(MsTestSignals *self, const gchar *job_path)
{
	const GPtrArray *entries = ms_test_signals_for_job(self, job_path);

	for (guint i = entries->len; i > 0; i--) {
		const gchar *entry = g_ptr_array_index(entries, i - 1);
		if (g_str_has_prefix(entry, "Sent ") || g_str_has_prefix(entry, "Failed "))
			return entry;
	}
	return NULL;
}

typedef struct {
	MsTestSignals *self;
	const gchar *job_path;
} MsTestSignalsWaitHelper;

static gboolean
ms_test_signals_finished_cb(gpointer user_data)
{
	MsTestSignalsWaitHelper *helper = user_data;
	return ms_test_signals_get_result(helper->self, helper->job_path) != NULL;
}

gchar *
ms_test_signals_to_string(MsTestSignals *self, const gchar *job_path)
{
	const GPtrArray *entries = ms_test_signals_for_job(self, job_path);
	g_autoptr(GString) str = g_string_new(NULL);

	for (guint i = 0; i < entries->len; i++) {
		if (i > 0)
			g_string_append_c(str, '\n');
		g_string_append(str, g_ptr_array_index(entries, i));
	}
	return g_string_free(g_steal_pointer(&str), FALSE);
}

gboolean
ms_test_signals_wait_finished(MsTestSignals *self, const gchar *job_path, guint timeout_ms)
{
	MsTestSignalsWaitHelper helper = {.self = self, .job_path = job_path};
	g_autofree gchar *recorded = NULL;

	g_return_val_if_fail(self != NULL, FALSE);
	g_return_val_if_fail(job_path != NULL, FALSE);

	if (ms_test_wait_until(ms_test_signals_finished_cb, &helper, timeout_ms))
		return TRUE;
	recorded = ms_test_signals_to_string(self, job_path);
	g_test_message("no Sent or Failed signal for %s within %u ms; recorded so far:",
		       job_path,
		       timeout_ms);
	ms_test_message_lines("  ", recorded);
	return FALSE;
}

/* the second word of every entry starting with prefix, consecutive repeats collapsed */
static gchar *
ms_test_signals_collect(MsTestSignals *self, const gchar *job_path, const gchar *prefix)
{
	const GPtrArray *entries = ms_test_signals_for_job(self, job_path);
	g_autoptr(GString) str = g_string_new(NULL);
	g_autofree gchar *last = NULL;

	for (guint i = 0; i < entries->len; i++) {
		const gchar *entry = g_ptr_array_index(entries, i);
		const gchar *word;
		gsize len;
		if (!g_str_has_prefix(entry, prefix))
			continue;
		word = entry + strlen(prefix);
		len = strcspn(word, " ");
		if (last != NULL && strlen(last) == len && strncmp(last, word, len) == 0)
			continue;
		g_free(last);
		last = g_strndup(word, len);
		if (str->len > 0)
			g_string_append_c(str, ' ');
		g_string_append(str, last);
	}
	return g_string_free(g_steal_pointer(&str), FALSE);
}

gchar *
ms_test_signals_get_stages(MsTestSignals *self, const gchar *job_path)
{
	g_return_val_if_fail(self != NULL, NULL);
	return ms_test_signals_collect(self, job_path, "Progress ");
}

gchar *
ms_test_signals_get_states(MsTestSignals *self, const gchar *job_path)
{
	g_return_val_if_fail(self != NULL, NULL);
	return ms_test_signals_collect(self, job_path, "Property State ");
}
