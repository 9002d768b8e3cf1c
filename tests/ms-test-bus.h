#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* Fixtures for daemon integration tests. The test binary runs under tests/keyring-session.sh,
 * so the session bus is a private one with an unlocked gnome-keyring. The daemon is the
 * build-tree mail-senderd named by MS_DAEMON_PATH (set in meson's test_env). */
typedef struct _MsTestDaemon MsTestDaemon;

/* makes a temporary directory with config/, state/ and spool/; writes accounts_conf_text (NULL:
 * no accounts file at all) to config/mail-sender/accounts.conf; runs
 * `mail-senderd --session [--config FILE] --spool-dir DIR --verbose` with G_DEBUG=fatal-criticals,
 * XDG_CONFIG_HOME and XDG_STATE_HOME inside the temporary directory and its output in a log file;
 * waits (at most 20 s) until org.mail.Sender has an owner. On failure the error has the log. */
MsTestDaemon *
ms_test_daemon_start(const gchar *accounts_conf_text, GError **error);
/* same, with extra command line arguments and extra environment ("NAME=VALUE"), both
 * NULL-terminated and optional */
MsTestDaemon *
ms_test_daemon_start_full(const gchar *accounts_conf_text,
			  const gchar *const *extra_args,
			  const gchar *const *extra_env,
			  GError **error);
/* the same on the given bus: G_BUS_TYPE_SYSTEM runs `mail-senderd --system …` instead of
 * --session and talks to it on the system bus, which must be a private one
 * (DBUS_SYSTEM_BUS_ADDRESS set by tests/system-bus-session.sh); G_BUS_TYPE_SESSION is
 * ms_test_daemon_start_full() */
MsTestDaemon *
ms_test_daemon_start_on_bus(GBusType bus_type,
			    const gchar *accounts_conf_text,
			    const gchar *const *extra_args,
			    const gchar *const *extra_env,
			    GError **error);
/* the bus connection the test talks to the daemon on */
GDBusConnection *
ms_test_daemon_get_bus(MsTestDaemon *self);
const gchar *
ms_test_daemon_get_tmpdir(MsTestDaemon *self);
/* NULL when started without an accounts file */
const gchar *
ms_test_daemon_get_config_path(MsTestDaemon *self);
const gchar *
ms_test_daemon_get_spool_dir(MsTestDaemon *self);
/* everything the daemon printed so far, over all its runs */
gchar *
ms_test_daemon_get_log(MsTestDaemon *self);
/* SIGTERM, waits at most 20 s; returns the exit code, 128 + signal if a signal killed it, -1 if
 * it had to be killed after the timeout (the test is failed then). Safe to call twice. */
gint
ms_test_daemon_stop(MsTestDaemon *self);
/* SIGKILL, as a crash would; returns like ms_test_daemon_stop() */
gint
ms_test_daemon_kill(MsTestDaemon *self);
/* starts it again after stop/kill, with the same directories, arguments and environment */
gboolean
ms_test_daemon_restart(MsTestDaemon *self, GError **error);
/* stops it if still running (and fails the test if it did not exit 0: a crash during the test);
 * prints the daemon's log with g_test_message() if the test failed; removes the temporary dir */
void
ms_test_daemon_free(MsTestDaemon *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MsTestDaemon, ms_test_daemon_free)

/* for start-up validation: runs `mail-senderd --session [--config FILE] --spool-dir DIR` (no
 * --verbose, G_MESSAGES_DEBUG unset) and waits at most 20 s for it to exit. Returns TRUE with its
 * exit status (as above) and its stderr; FALSE with an error if it could not be run or did not exit
 * (then it is killed). */
gboolean
ms_test_daemon_start_expect_failure(const gchar *accounts_conf_text,
				    gint *exit_status,
				    gchar **stderr_text,
				    GError **error);
/* the same with --system or --session and extra arguments and environment, as
 * ms_test_daemon_start_on_bus() takes them */
gboolean
ms_test_daemon_start_expect_failure_full(GBusType bus_type,
					 const gchar *accounts_conf_text,
					 const gchar *const *extra_args,
					 const gchar *const *extra_env,
					 gint *exit_status,
					 gchar **stderr_text,
					 GError **error);

/* Records the daemon's signals in the order they arrive, per job object path, as strings:
 *   "Progress <stage> <done> <total>"   e.g. "Progress sending 123 456"
 *   "Sent <reply>"                      e.g. "Sent 250 2.0.0 OK queued as X"
 *   "Failed <error name> <message>"     e.g. "Failed org.mail.Sender.Error.Timeout ..."
 *   "Property <name> <value>"           one per property in a PropertiesChanged of the job's
 *                                       object, sorted by name; strings unquoted, other values
 *                                       in GVariant text form ("Property BytesSent 123"),
 *                                       "Property <name> invalidated" for invalidated ones
 * Progress/Sent/Failed are taken from org.mail.Sender on /org/mail/Sender and filed under their
 * job argument; PropertiesChanged from every object under /org/mail/Sender (the manager's own
 * go under "/org/mail/Sender"). Signals with an unexpected signature are filed under
 * "/org/mail/Sender" as "Unexpected <member> <type>". Create it before the call that starts a
 * job, so that nothing is missed. */
typedef struct _MsTestSignals MsTestSignals;

MsTestSignals *
ms_test_signals_new(GDBusConnection *bus);
void
ms_test_signals_free(MsTestSignals *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MsTestSignals, ms_test_signals_free)

/* every entry recorded for job_path, in order (an empty array if none); owned by self */
const GPtrArray *
ms_test_signals_for_job(MsTestSignals *self, const gchar *job_path);
/* iterates the thread-default main context until a Sent or Failed for job_path has arrived;
 * on timeout says so (with what was recorded) through g_test_message() and returns FALSE */
gboolean
ms_test_signals_wait_finished(MsTestSignals *self, const gchar *job_path, guint timeout_ms);
/* the Sent/Failed entry of job_path, e.g. "Sent 250 2.0.0 OK", or NULL; owned by self */
const gchar *
ms_test_signals_get_result(MsTestSignals *self, const gchar *job_path);
/* the Progress stages, consecutive repeats collapsed, e.g. "queued connecting tls auth sending" */
gchar *
ms_test_signals_get_stages(MsTestSignals *self, const gchar *job_path);
/* the values of the State property, consecutive repeats collapsed, e.g. "connecting tls sent" */
gchar *
ms_test_signals_get_states(MsTestSignals *self, const gchar *job_path);
/* all entries of job_path joined with "\n", for messages and whole-sequence assertions */
gchar *
ms_test_signals_to_string(MsTestSignals *self, const gchar *job_path);

G_END_DECLS
