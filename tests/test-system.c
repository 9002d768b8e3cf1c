/* System bus mode: the real mail-senderd --system on a private bus with the system bus's
 * default-deny policy plus the project's org.mail.Sender.conf (tests/system-bus-session.sh),
 * delivering to the real aiosmtpd test server. Callers are switched to the unprivileged user
 * nobody with setpriv and talk to the daemon with gdbus, exactly as a local user would; the
 * assertions are on what they see (gdbus's output) and on what reaches the server. Needs root
 * (setpriv); CI runs it as root. */

#include "config.h"

#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "ms-test-bus.h"
#include "ms-test-server.h"

#define WAIT_MS 30000

/* the unprivileged caller: nobody:nogroup on Debian */
#define NOBODY_UID "65534"
/* a group nobody is not in, given to it with setpriv --groups */
#define EXTRA_GROUP "mail"

#define SIMPLE_MESSAGE "{'to': <['rcpt@example.test']>, 'subject': <'hi'>, 'body': <'hello'>}"

#define NOT_AUTHORIZED "Error: GDBus.Error:org.mail.Sender.Error.NotAuthorized: "

/* TRUE if the test can run; otherwise it is skipped with the reason */
static gboolean
system_test_can_run(void)
{
	const gchar *address = g_getenv("DBUS_SYSTEM_BUS_ADDRESS");

	if (getuid() != 0) {
		g_test_skip("needs root to switch callers to other users with setpriv "
			    "(CI runs it as root)");
		return FALSE;
	}
	/* never the machine's real system bus */
	if (address == NULL || strstr(address, "/system-bus.") == NULL) {
		g_test_skip("needs the private bus of tests/system-bus-session.sh: run it through "
			    "meson test");
		return FALSE;
	}
	return TRUE;
}

/* runs command as uid (setpriv, with the gid of the same number; groups_arg e.g.
 * "--clear-groups"); returns its exit status with its stdout and stderr */
static gint
run_as_uid(const gchar *uid,
	   const gchar *groups_arg,
	   const gchar *const *command,
	   gchar **out,
	   gchar **err)
{
	g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GSubprocess) proc = NULL;
	g_autoptr(GError) error = NULL;

	g_ptr_array_add(argv, g_strdup("setpriv"));
	g_ptr_array_add(argv, g_strdup_printf("--reuid=%s", uid));
	g_ptr_array_add(argv, g_strdup_printf("--regid=%s", uid));
	g_ptr_array_add(argv, g_strdup(groups_arg));
	for (guint i = 0; command[i] != NULL; i++)
		g_ptr_array_add(argv, g_strdup(command[i]));
	g_ptr_array_add(argv, NULL);
	proc = g_subprocess_newv((const gchar *const *)argv->pdata,
				 G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE,
				 &error);
	g_assert_no_error(error);
	g_subprocess_communicate_utf8(proc, NULL, NULL, out, err, &error);
	g_assert_no_error(error);
	g_assert_true(g_subprocess_get_if_exited(proc));
	return g_subprocess_get_exit_status(proc);
}

static gint
run_as_nobody(const gchar *groups_arg, const gchar *const *command, gchar **out, gchar **err)
{
	return run_as_uid(NOBODY_UID, groups_arg, command, out, err);
}

/* `gdbus call --system` to the daemon's manager object as nobody */
static gint
call_as_nobody(const gchar *groups_arg,
	       const gchar *method,
	       const gchar *arg1,
	       const gchar *arg2,
	       gchar **out,
	       gchar **err)
{
	const gchar *command[] = {"gdbus",
				  "call",
				  "--system",
				  "--dest",
				  "org.mail.Sender",
				  "--object-path",
				  "/org/mail/Sender",
				  "--method",
				  method,
				  arg1,
				  arg2,
				  NULL};
	return run_as_nobody(groups_arg, command, out, err);
}

/* Send as nobody; the job path when it was accepted, else NULL with gdbus's stderr */
static gchar *
send_as_nobody(const gchar *groups_arg, const gchar *message, const gchar *options, gchar **err)
{
	g_autofree gchar *out = NULL;
	g_autofree gchar *err_local = NULL;
	g_autoptr(GVariant) ret = NULL;
	g_autoptr(GError) error = NULL;
	gchar *path = NULL;
	gint status = call_as_nobody(groups_arg,
				     "org.mail.Sender.Send",
				     message,
				     options != NULL ? options : "{}",
				     &out,
				     &err_local);

	if (status != 0) {
		g_assert_cmpstr(out, ==, "");
		*err = g_steal_pointer(&err_local);
		return NULL;
	}
	g_assert_cmpstr(err_local, ==, "");
	ret = g_variant_parse(G_VARIANT_TYPE("(o)"), out, NULL, NULL, &error);
	g_assert_no_error(error);
	g_variant_get(ret, "(o)", &path);
	*err = NULL;
	return path;
}

/* Send from this process, which is root */
static gchar *
send_as_root(MsTestDaemon *daemon, const gchar *message, const gchar *options, GError **error)
{
	g_autoptr(GError) error_parse = NULL;
	GVariant *msg = g_variant_parse(G_VARIANT_TYPE_VARDICT, message, NULL, NULL, &error_parse);
	GVariant *opts = NULL;
	g_autoptr(GVariant) ret = NULL;
	gchar *path = NULL;

	g_assert_no_error(error_parse);
	opts = g_variant_parse(G_VARIANT_TYPE_VARDICT,
			       options != NULL ? options : "@a{sv} {}",
			       NULL,
			       NULL,
			       &error_parse);
	g_assert_no_error(error_parse);
	ret = g_dbus_connection_call_sync(ms_test_daemon_get_bus(daemon),
					  "org.mail.Sender",
					  "/org/mail/Sender",
					  "org.mail.Sender",
					  "Send",
					  g_variant_new("(@a{sv}@a{sv})", msg, opts),
					  G_VARIANT_TYPE("(o)"),
					  G_DBUS_CALL_FLAGS_NONE,
					  WAIT_MS,
					  NULL,
					  error);
	if (ret == NULL)
		return NULL;
	g_variant_get(ret, "(o)", &path);
	return path;
}

/* the refusal gdbus prints for nobody; the accounts file named is the default one, or the one
 * the daemon was started with when it tells the authority about it */
static void
assert_refused(MsTestDaemon *daemon, const gchar *err, const gchar *account)
{
	g_autofree gchar *etc = g_strdup_printf(
	    NOT_AUTHORIZED "User 'nobody' may not send through account '%s': add it to "
			   "allowed-users or allowed-groups in /etc/mail-sender/accounts.conf\n",
	    account);
	g_autofree gchar *own = g_strdup_printf(
	    NOT_AUTHORIZED "User 'nobody' may not send through account '%s': add it to "
			   "allowed-users or allowed-groups in %s\n",
	    account,
	    ms_test_daemon_get_config_path(daemon));

	g_assert_nonnull(err);
	if (g_strcmp0(err, own) != 0)
		g_assert_cmpstr(err, ==, etc);
}

/* files in the spool besides its tmp/ and failed/ directories, and in tmp/ */
static guint
count_spool_files(MsTestDaemon *daemon)
{
	const gchar *spool = ms_test_daemon_get_spool_dir(daemon);
	g_autofree gchar *tmp = g_build_filename(spool, "tmp", NULL);
	const gchar *dirs[] = {spool, tmp};
	guint n = 0;

	for (guint i = 0; i < G_N_ELEMENTS(dirs); i++) {
		g_autoptr(GDir) d = g_dir_open(dirs[i], 0, NULL);
		const gchar *name;
		if (d == NULL)
			continue;
		while ((name = g_dir_read_name(d)) != NULL) {
			/* not the files of delivered jobs kept in tmp/ to be overwritten */
			if (!g_str_equal(name, "failed") && !g_str_equal(name, "tmp") &&
			    !g_str_has_prefix(name, "recycled-"))
				n++;
		}
	}
	return n;
}

/* refused means: nothing queued, nothing in the spool, nothing delivered */
static void
assert_nothing_queued(MsTestDaemon *daemon, MsTestServer *server)
{
	g_autofree gchar *out = NULL;
	g_autofree gchar *err = NULL;

	/* asked as nobody: the policy lets everybody read properties */
	g_assert_cmpint(call_as_nobody("--clear-groups",
				       "org.freedesktop.DBus.Properties.Get",
				       "org.mail.Sender",
				       "QueueLength",
				       &out,
				       &err),
			==,
			0);
	g_assert_cmpstr(err, ==, "");
	g_assert_cmpstr(out, ==, "(<uint32 0>,)\n");
	g_assert_cmpuint(count_spool_files(daemon), ==, 0);
	g_usleep(500 * 1000);
	g_assert_cmpuint(ms_test_server_count_messages(server), ==, 0);
}

static gchar *
make_conf(MsTestServer *server, const gchar *extra)
{
	return g_strdup_printf("[account default]\n"
			       "host=127.0.0.1\n"
			       "port=%u\n"
			       "security=none\n"
			       "from=Alerts <alerts@example.test>\n"
			       "helo-name=client.example.test\n"
			       "timeout=5\n"
			       "%s",
			       ms_test_server_get_port(server),
			       extra != NULL ? extra : "");
}

static MsTestDaemon *
start_daemon(const gchar *conf, const gchar *const *extra_env)
{
	g_autoptr(GError) error = NULL;
	MsTestDaemon *daemon =
	    ms_test_daemon_start_on_bus(G_BUS_TYPE_SYSTEM, conf, NULL, extra_env, &error);
	g_assert_no_error(error);
	g_assert_nonnull(daemon);
	return daemon;
}

static MsTestMail *
wait_for_one_mail(MsTestServer *server)
{
	g_autoptr(GPtrArray) mails = ms_test_server_wait_for_messages(server, 1, WAIT_MS);
	g_assert_cmpuint(mails->len, ==, 1);
	g_ptr_array_set_free_func(mails, NULL);
	return g_ptr_array_index(mails, 0);
}

/* the bus itself: default-deny, and only root (or the daemon user) may own org.mail.Sender */
static void
test_policy(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GDBusConnection) bus = NULL;
	g_autoptr(GVariant) ret = NULL;
	g_autofree gchar *out = NULL;
	g_autofree gchar *err = NULL;
	const gchar *request_sender[] = {"gdbus",
					 "call",
					 "--system",
					 "--dest",
					 "org.freedesktop.DBus",
					 "--object-path",
					 "/org/freedesktop/DBus",
					 "--method",
					 "org.freedesktop.DBus.RequestName",
					 "org.mail.Sender",
					 "4",
					 NULL};

	if (!system_test_can_run())
		return;

	/* nobody may not pose as the service */
	g_assert_cmpint(run_as_nobody("--clear-groups", request_sender, &out, &err), ==, 1);
	g_assert_cmpstr(out, ==, "");
	g_assert_true(g_str_has_prefix(
	    err,
	    "Error: GDBus.Error:org.freedesktop.DBus.Error.AccessDenied: Connection \":1."));
	g_assert_true(g_str_has_suffix(err,
				       " is not allowed to own the service \"org.mail.Sender\" "
				       "due to security policies in the configuration file\n"));

	/* root may: 1 is DBUS_REQUEST_NAME_REPLY_PRIMARY_OWNER */
	bus = g_bus_get_sync(G_BUS_TYPE_SYSTEM, NULL, &error);
	g_assert_no_error(error);
	ret = g_dbus_connection_call_sync(bus,
					  "org.freedesktop.DBus",
					  "/org/freedesktop/DBus",
					  "org.freedesktop.DBus",
					  "RequestName",
					  g_variant_new("(su)", "org.mail.Sender", 4),
					  G_VARIANT_TYPE("(u)"),
					  G_DBUS_CALL_FLAGS_NONE,
					  WAIT_MS,
					  NULL,
					  &error);
	g_assert_no_error(error);
	g_assert_cmpuint(g_variant_get_uint32(g_variant_get_child_value(ret, 0)), ==, 1);
	g_clear_pointer(&ret, g_variant_unref);
	ret = g_dbus_connection_call_sync(bus,
					  "org.freedesktop.DBus",
					  "/org/freedesktop/DBus",
					  "org.freedesktop.DBus",
					  "ReleaseName",
					  g_variant_new("(s)", "org.mail.Sender"),
					  G_VARIANT_TYPE("(u)"),
					  G_DBUS_CALL_FLAGS_NONE,
					  WAIT_MS,
					  NULL,
					  &error);
	g_assert_no_error(error);
	g_clear_pointer(&ret, g_variant_unref);

	/* and the bus is really default-deny: even root may not own another name */
	ret = g_dbus_connection_call_sync(bus,
					  "org.freedesktop.DBus",
					  "/org/freedesktop/DBus",
					  "org.freedesktop.DBus",
					  "RequestName",
					  g_variant_new("(su)", "org.mail.Other", 4),
					  G_VARIANT_TYPE("(u)"),
					  G_DBUS_CALL_FLAGS_NONE,
					  WAIT_MS,
					  NULL,
					  &error);
	g_assert_error(error, G_DBUS_ERROR, G_DBUS_ERROR_ACCESS_DENIED);
	g_assert_null(ret);
}

/* no allowed-users/allowed-groups: only root may send */
static void
test_refused(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autofree gchar *conf = NULL;
	g_autofree gchar *err = NULL;
	g_autofree gchar *job = NULL;

	if (!system_test_can_run())
		return;
	server = ms_test_server_start("plain", NULL, &error);
	g_assert_no_error(error);
	conf = make_conf(server, NULL);
	daemon = start_daemon(conf, NULL);

	job = send_as_nobody("--clear-groups", SIMPLE_MESSAGE, NULL, &err);
	g_assert_null(job);
	assert_refused(daemon, err, "default");
	assert_nothing_queued(daemon, server);
}

/* allowed-users=nobody lets it use that account, and only that one */
static void
test_allowed_user(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(MsTestSignals) signals = NULL;
	g_autoptr(MsTestMail) mail = NULL;
	g_autofree gchar *conf = NULL;
	g_autofree gchar *extra = NULL;
	g_autofree gchar *err = NULL;
	g_autofree gchar *job = NULL;
	g_autofree gchar *refused = NULL;

	if (!system_test_can_run())
		return;
	server = ms_test_server_start("plain", NULL, &error);
	g_assert_no_error(error);
	extra = g_strdup_printf("allowed-users=root;nobody;\n"
				"[account other]\n"
				"host=127.0.0.1\n"
				"port=%u\n"
				"security=none\n"
				"allowed-users=daemon;\n",
				ms_test_server_get_port(server));
	conf = make_conf(server, extra);
	daemon = start_daemon(conf, NULL);
	signals = ms_test_signals_new(ms_test_daemon_get_bus(daemon));

	refused = send_as_nobody("--clear-groups", SIMPLE_MESSAGE, "{'account': <'other'>}", &err);
	g_assert_null(refused);
	assert_refused(daemon, err, "other");
	g_clear_pointer(&err, g_free);

	job = send_as_nobody("--clear-groups", SIMPLE_MESSAGE, NULL, &err);
	g_assert_null(err);
	g_assert_true(g_str_has_prefix(job, "/org/mail/Sender/Job/"));
	g_assert_true(ms_test_signals_wait_finished(signals, job, WAIT_MS));
	g_assert_true(g_str_has_prefix(ms_test_signals_get_result(signals, job), "Sent 250 "));
	mail = wait_for_one_mail(server);
	/* the account's From: the caller did not set one */
	g_assert_cmpstr(mail->mail_from, ==, "alerts@example.test");
	g_assert_cmpstr(mail->rcpt_tos[0], ==, "rcpt@example.test");
	g_assert_null(mail->rcpt_tos[1]);
	g_assert_cmpuint(ms_test_server_count_messages(server), ==, 1);
}

/* allowed-groups: the caller's supplementary groups as the bus sees them count */
static void
test_allowed_group(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(MsTestSignals) signals = NULL;
	g_autoptr(MsTestMail) mail = NULL;
	g_autofree gchar *conf = NULL;
	g_autofree gchar *err = NULL;
	g_autofree gchar *job = NULL;
	g_autofree gchar *refused = NULL;

	if (!system_test_can_run())
		return;
	server = ms_test_server_start("plain", NULL, &error);
	g_assert_no_error(error);
	conf = make_conf(server, "allowed-groups=adm;" EXTRA_GROUP ";\n");
	daemon = start_daemon(conf, NULL);
	signals = ms_test_signals_new(ms_test_daemon_get_bus(daemon));

	/* nogroup only */
	refused = send_as_nobody("--clear-groups", SIMPLE_MESSAGE, NULL, &err);
	g_assert_null(refused);
	assert_refused(daemon, err, "default");
	g_clear_pointer(&err, g_free);
	assert_nothing_queued(daemon, server);

	job = send_as_nobody("--groups=" EXTRA_GROUP, SIMPLE_MESSAGE, NULL, &err);
	g_assert_null(err);
	g_assert_true(ms_test_signals_wait_finished(signals, job, WAIT_MS));
	g_assert_true(g_str_has_prefix(ms_test_signals_get_result(signals, job), "Sent 250 "));
	mail = wait_for_one_mail(server);
	g_assert_cmpstr(mail->mail_from, ==, "alerts@example.test");
}

/* root is always allowed, may set From, and is not rate-limited */
static void
test_root(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(MsTestSignals) signals = NULL;
	g_autoptr(GPtrArray) mails = NULL;
	g_autofree gchar *conf = NULL;
	g_autoptr(GPtrArray) jobs = g_ptr_array_new_with_free_func(g_free);

	if (!system_test_can_run())
		return;
	server = ms_test_server_start("plain", NULL, &error);
	g_assert_no_error(error);
	conf = make_conf(server, "rate-limit=1\n");
	daemon = start_daemon(conf, NULL);
	signals = ms_test_signals_new(ms_test_daemon_get_bus(daemon));

	for (guint i = 0; i < 2; i++) {
		gchar *job = send_as_root(daemon,
					  "{'from': <'Root <root@example.test>'>, "
					  "'to': <['rcpt@example.test']>, 'body': <'hello'>}",
					  NULL,
					  &error);
		g_assert_no_error(error);
		g_assert_true(g_str_has_prefix(job, "/org/mail/Sender/Job/"));
		g_ptr_array_add(jobs, job);
	}
	/* both accepted; the queue still paces delivery to one a minute */
	g_assert_true(ms_test_signals_wait_finished(signals, g_ptr_array_index(jobs, 0), WAIT_MS));
	mails = ms_test_server_wait_for_messages(server, 1, WAIT_MS);
	g_assert_cmpuint(mails->len, ==, 1);
	g_assert_cmpstr(((MsTestMail *)g_ptr_array_index(mails, 0))->mail_from,
			==,
			"root@example.test");
}

/* line is one whole header line of the message (or its first) */
static gboolean
has_header_line(const gchar *eml, const gchar *line)
{
	g_autofree gchar *inner = g_strdup_printf("\r\n%s\r\n", line);
	g_autofree gchar *first = g_strdup_printf("%s\r\n", line);
	const gchar *end = strstr(eml, "\r\n\r\n");
	const gchar *found = strstr(eml, inner);

	if (g_str_has_prefix(eml, first))
		return TRUE;
	return found != NULL && (end == NULL || found <= end);
}

/* From is the account's unless allow-from-override=true */
static void
test_from_override(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(MsTestSignals) signals = NULL;
	g_autoptr(MsTestMail) mail = NULL;
	g_autofree gchar *conf = NULL;
	g_autofree gchar *conf_override = NULL;
	g_autofree gchar *err = NULL;
	g_autofree gchar *job = NULL;
	g_autofree gchar *refused = NULL;
	g_autofree gchar *eml = NULL;
	const gchar *message = "{'from': <'Bob <bob@example.test>'>, "
			       "'to': <['rcpt@example.test']>, 'body': <'hello'>}";

	if (!system_test_can_run())
		return;
	server = ms_test_server_start("plain", NULL, &error);
	g_assert_no_error(error);
	conf = make_conf(server, "allowed-users=nobody;\n");
	daemon = start_daemon(conf, NULL);

	refused = send_as_nobody("--clear-groups", message, NULL, &err);
	g_assert_null(refused);
	g_assert_cmpstr(err,
			==,
			NOT_AUTHORIZED "Account 'default' does not let callers set From "
				       "(allow-from-override=false)\n");
	assert_nothing_queued(daemon, server);
	g_assert_cmpint(ms_test_daemon_stop(daemon), ==, 0);
	g_clear_pointer(&daemon, ms_test_daemon_free);
	g_clear_pointer(&err, g_free);

	conf_override = make_conf(server, "allowed-users=nobody;\nallow-from-override=true\n");
	daemon = start_daemon(conf_override, NULL);
	signals = ms_test_signals_new(ms_test_daemon_get_bus(daemon));
	job = send_as_nobody("--clear-groups", message, NULL, &err);
	g_assert_null(err);
	g_assert_true(ms_test_signals_wait_finished(signals, job, WAIT_MS));
	mail = wait_for_one_mail(server);
	g_assert_cmpstr(mail->mail_from, ==, "bob@example.test");
	eml = g_strndup(g_bytes_get_data(mail->eml, NULL), g_bytes_get_size(mail->eml));
	g_assert_true(has_header_line(eml, "From: Bob <bob@example.test>"));
}

/* SendRaw as nobody: a message that claims another sender goes out under the account's From
 * (its From and Sender fields dropped) unless allow-from-override=true */
static void
test_raw_from_replaced(void)
{
	const gchar *message = "From: Boss <ceo@example.test>\nSender: ceo@example.test\n"
			       "To: rcpt@example.test\nSubject: urgent\n\nwire the money\n";
	g_autoptr(GVariant) bytes = g_variant_ref_sink(
	    g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, message, strlen(message), 1));
	/* as an array, not b'…': gdbus gives a bytestring literal its trailing NUL */
	g_autofree gchar *raw = g_variant_print(bytes, TRUE);

	if (!system_test_can_run())
		return;
	for (guint i = 0; i < 2; i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(MsTestServer) server = ms_test_server_start("plain", NULL, &error);
		g_autoptr(MsTestDaemon) daemon = NULL;
		g_autoptr(MsTestSignals) signals = NULL;
		g_autoptr(MsTestMail) mail = NULL;
		g_autofree gchar *conf = NULL;
		g_autofree gchar *out = NULL;
		g_autofree gchar *err = NULL;
		g_autofree gchar *eml = NULL;
		g_autoptr(GVariant) ret = NULL;
		const gchar *job = NULL;
		gint status;

		g_assert_no_error(error);
		conf = make_conf(server,
				 i == 0 ? "allowed-users=nobody;\n"
					: "allowed-users=nobody;\nallow-from-override=true\n");
		daemon = start_daemon(conf, NULL);
		signals = ms_test_signals_new(ms_test_daemon_get_bus(daemon));
		status = call_as_nobody("--clear-groups",
					"org.mail.Sender.SendRaw",
					raw,
					"{}",
					&out,
					&err);
		g_assert_cmpstr(err, ==, "");
		g_assert_cmpint(status, ==, 0);
		ret = g_variant_parse(G_VARIANT_TYPE("(o)"), out, NULL, NULL, &error);
		g_assert_no_error(error);
		g_variant_get(ret, "(&o)", &job);
		g_assert_true(ms_test_signals_wait_finished(signals, job, WAIT_MS));
		mail = wait_for_one_mail(server);
		eml = g_strndup(g_bytes_get_data(mail->eml, NULL), g_bytes_get_size(mail->eml));
		g_assert_cmpstr(mail->mail_from, ==, "alerts@example.test");
		g_assert_true(has_header_line(eml, "Subject: urgent"));
		if (i == 0) {
			g_assert_true(has_header_line(eml, "From: Alerts <alerts@example.test>"));
			g_assert_null(strstr(eml, "ceo@example.test"));
			g_assert_null(strstr(eml, "\r\nSender:"));
		} else {
			g_assert_true(has_header_line(eml, "From: Boss <ceo@example.test>"));
			g_assert_true(has_header_line(eml, "Sender: ceo@example.test"));
		}
	}
}

/* `gdbus call --system` of a job's Properties.Get of property as uid; Properties.GetAll when
 * property is NULL */
static gint
get_job_property_as(const gchar *uid,
		    const gchar *job,
		    const gchar *property,
		    gchar **out,
		    gchar **err)
{
	const gchar *command[] = {"gdbus",
				  "call",
				  "--system",
				  "--dest",
				  "org.mail.Sender",
				  "--object-path",
				  job,
				  "--method",
				  property != NULL ? "org.freedesktop.DBus.Properties.Get"
						   : "org.freedesktop.DBus.Properties.GetAll",
				  "org.mail.Sender.Job",
				  property,
				  NULL};
	return run_as_uid(uid, "--clear-groups", command, out, err);
}

/* PropertiesChanged of jobs: counts those with values and those that only name properties */
typedef struct {
	guint with_values;
	guint names_only;
} PropertiesChangedCount;

static void
properties_changed_cb(GDBusConnection *connection,
		      const gchar *sender_name,
		      const gchar *object_path,
		      const gchar *interface_name,
		      const gchar *signal_name,
		      GVariant *parameters,
		      gpointer user_data)
{
	PropertiesChangedCount *count = user_data;
	g_autoptr(GVariant) changed = g_variant_get_child_value(parameters, 1);
	g_autoptr(GVariant) invalidated = g_variant_get_child_value(parameters, 2);

	if (g_variant_n_children(changed) > 0)
		count->with_values++;
	else if (g_variant_n_children(invalidated) > 0)
		count->names_only++;
}

/* a job's sender, recipients and replies are for the user who sent it and root: another user
 * gets NotAuthorized, and PropertiesChanged only names what changed */
static void
test_job_properties_private(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(MsTestSignals) signals = NULL;
	g_autofree gchar *conf = NULL;
	g_autofree gchar *err = NULL;
	g_autofree gchar *job = NULL;
	g_autofree gchar *refused = NULL;
	g_autoptr(GVariant) sender = NULL;
	g_autoptr(GVariant) ret = NULL;
	PropertiesChangedCount count = {0};
	guint subscription;

	if (!system_test_can_run())
		return;
	server = ms_test_server_start("plain", NULL, &error);
	g_assert_no_error(error);
	conf = make_conf(server, "allowed-users=nobody;daemon;\n");
	daemon = start_daemon(conf, NULL);
	signals = ms_test_signals_new(ms_test_daemon_get_bus(daemon));
	subscription = g_dbus_connection_signal_subscribe(ms_test_daemon_get_bus(daemon),
							  "org.mail.Sender",
							  "org.freedesktop.DBus.Properties",
							  "PropertiesChanged",
							  NULL,
							  "org.mail.Sender.Job",
							  G_DBUS_SIGNAL_FLAGS_NONE,
							  properties_changed_cb,
							  &count,
							  NULL);
	job = send_as_nobody("--clear-groups", SIMPLE_MESSAGE, NULL, &err);
	g_assert_null(err);
	g_assert_true(ms_test_signals_wait_finished(signals, job, WAIT_MS));
	g_dbus_connection_signal_unsubscribe(ms_test_daemon_get_bus(daemon), subscription);
	/* everybody receives it, so it carries no values */
	g_assert_cmpuint(count.names_only, >, 0);
	g_assert_cmpuint(count.with_values, ==, 0);
	refused = g_strdup_printf(NOT_AUTHORIZED "Only the user who sent job %s, or root, may "
						 "read it\n",
				  job + strlen("/org/mail/Sender/Job/"));

	/* the owner and root */
	for (guint i = 0; i < 2; i++) {
		g_autofree gchar *out = NULL;
		g_autofree gchar *err_get = NULL;
		gint status = get_job_property_as(i == 0 ? NOBODY_UID : "0",
						  job,
						  "Recipients",
						  &out,
						  &err_get);
		g_assert_cmpstr(err_get, ==, "");
		g_assert_cmpint(status, ==, 0);
		g_assert_cmpstr(out, ==, "(<['rcpt@example.test']>,)\n");
	}
	/* the owner reads them all */
	{
		g_autofree gchar *out = NULL;
		g_autofree gchar *err_get = NULL;
		gint status = get_job_property_as(NOBODY_UID, job, NULL, &out, &err_get);

		g_assert_cmpstr(err_get, ==, "");
		g_assert_cmpint(status, ==, 0);
		g_assert_nonnull(strstr(out, "'Sender': <'alerts@example.test'>"));
		g_assert_nonnull(strstr(out, "'State': <'sent'>"));
	}
	/* another user, allowed to send but not to read somebody else's job: Get, then GetAll */
	for (guint i = 0; i < 2; i++) {
		g_autofree gchar *out = NULL;
		g_autofree gchar *err_get = NULL;
		gint status =
		    get_job_property_as("1", job, i == 0 ? "Sender" : NULL, &out, &err_get);

		g_assert_cmpint(status, !=, 0);
		g_assert_cmpstr(err_get, ==, refused);
	}
	/* root in this process, through GDBus */
	ret = g_dbus_connection_call_sync(ms_test_daemon_get_bus(daemon),
					  "org.mail.Sender",
					  job,
					  "org.freedesktop.DBus.Properties",
					  "Get",
					  g_variant_new("(ss)", "org.mail.Sender.Job", "Sender"),
					  G_VARIANT_TYPE("(v)"),
					  G_DBUS_CALL_FLAGS_NONE,
					  WAIT_MS,
					  NULL,
					  &error);
	g_assert_no_error(error);
	g_variant_get(ret, "(v)", &sender);
	g_assert_cmpstr(g_variant_get_string(sender, NULL), ==, "alerts@example.test");
}

/* rate-limit=2: nobody's third message within the minute is refused, root's is not */
static void
test_rate_limit(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(MsTestSignals) signals = NULL;
	g_autoptr(GPtrArray) mails = NULL;
	g_autofree gchar *conf = NULL;
	g_autofree gchar *job1 = NULL;
	g_autofree gchar *job2 = NULL;
	g_autofree gchar *job3 = NULL;
	g_autofree gchar *job_root = NULL;
	g_autofree gchar *err = NULL;
	g_autofree gchar *number = NULL;
	const gchar *prefix = "Error: GDBus.Error:org.mail.Sender.Error.RateLimited: Account "
			      "'default' takes at most 2 messages per minute from user 'nobody' "
			      "(rate-limit): try again in ";
	guint64 wait_s = 0;
	gboolean ret;

	if (!system_test_can_run())
		return;
	server = ms_test_server_start("plain", NULL, &error);
	g_assert_no_error(error);
	conf = make_conf(server, "allowed-users=nobody;\nrate-limit=2\n");
	daemon = start_daemon(conf, NULL);
	signals = ms_test_signals_new(ms_test_daemon_get_bus(daemon));

	job1 = send_as_nobody("--clear-groups", SIMPLE_MESSAGE, NULL, &err);
	g_assert_null(err);
	job2 = send_as_nobody("--clear-groups", SIMPLE_MESSAGE, NULL, &err);
	g_assert_null(err);
	job3 = send_as_nobody("--clear-groups", SIMPLE_MESSAGE, NULL, &err);
	g_assert_null(job3);
	g_assert_true(g_str_has_prefix(err, prefix));
	g_assert_true(g_str_has_suffix(err, " s\n"));
	/* the window is a minute from the first message, a few seconds ago */
	number = g_strndup(err + strlen(prefix), strlen(err) - strlen(prefix) - strlen(" s\n"));
	ret = g_ascii_string_to_unsigned(number, 10, 50, 60, &wait_s, &error);
	g_assert_no_error(error);
	g_assert_true(ret);

	/* the two accepted ones go out, the refused one never */
	g_assert_true(ms_test_signals_wait_finished(signals, job1, WAIT_MS));
	g_assert_true(ms_test_signals_wait_finished(signals, job2, WAIT_MS));
	mails = ms_test_server_wait_for_messages(server, 2, WAIT_MS);
	g_assert_cmpuint(mails->len, ==, 2);

	/* root is not limited (its message waits in the queue for the minute to pass) */
	job_root = send_as_root(daemon, SIMPLE_MESSAGE, NULL, &error);
	g_assert_no_error(error);
	g_assert_true(g_str_has_prefix(job_root, "/org/mail/Sender/Job/"));
	g_usleep(500 * 1000);
	g_assert_cmpuint(ms_test_server_count_messages(server), ==, 2);
}

/* a temporary directory holding one file with the given contents and mode */
static gchar *
make_secret_file(gchar **dir_out, const gchar *name, const gchar *contents, gint mode)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *dir = g_dir_make_tmp("ms-test-system-XXXXXX", &error);
	gchar *path = NULL;

	g_assert_no_error(error);
	path = g_build_filename(dir, name, NULL);
	if (contents != NULL) {
		gboolean ret = g_file_set_contents(path, contents, -1, &error);
		g_assert_no_error(error);
		g_assert_true(ret);
		g_assert_no_errno(g_chmod(path, mode));
	}
	*dir_out = g_steal_pointer(&dir);
	return path;
}

static void
remove_tree(const gchar *dir)
{
	g_autoptr(GError) error = NULL;
	if (dir != NULL && !ms_test_rm_rf(dir, &error))
		g_test_message("%s", error->message);
}

static void
assert_startup_refused(const gchar *password_file, const gchar *expected_stderr)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *conf = NULL;
	g_autofree gchar *err = NULL;
	gint status = -1;
	gboolean ret;

	conf = g_strdup_printf("[account default]\n"
			       "host=127.0.0.1\n"
			       "port=2525\n"
			       "security=none\n"
			       "allow-plaintext-auth=true\n"
			       "username=user\n"
			       "password-file=%s\n",
			       password_file);
	ret = ms_test_daemon_start_expect_failure_full(G_BUS_TYPE_SYSTEM,
						       conf,
						       NULL,
						       NULL,
						       &status,
						       &err,
						       &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	g_assert_cmpstr(err, ==, expected_stderr);
	g_assert_cmpint(status, ==, 1);
}

/* a password file others can read (or that is not the daemon's) stops the daemon at start-up */
static void
test_password_file_refused(void)
{
	g_autofree gchar *dir = NULL;
	g_autofree gchar *path = NULL;
	g_autofree gchar *expected = NULL;

	if (!system_test_can_run())
		return;
	path = make_secret_file(&dir, "default.password", "s3cret\n", 0644);

	expected = g_strdup_printf("mail-senderd: Password file %s of account 'default' is open "
				   "to other users (mode 0644): run chmod 600 %s\n",
				   path,
				   path);
	assert_startup_refused(path, expected);
	g_clear_pointer(&expected, g_free);

	/* group-readable is refused too */
	g_assert_no_errno(g_chmod(path, 0640));
	expected = g_strdup_printf("mail-senderd: Password file %s of account 'default' is open "
				   "to other users (mode 0640): run chmod 600 %s\n",
				   path,
				   path);
	assert_startup_refused(path, expected);
	g_clear_pointer(&expected, g_free);

	/* 0600, but somebody else's */
	g_assert_no_errno(g_chmod(path, 0600));
	g_assert_no_errno(chown(path, 65534, 65534));
	expected = g_strdup_printf("mail-senderd: Password file %s of account 'default' belongs "
				   "to nobody, but it must belong to root (that mail-senderd runs "
				   "as): run chown root %s\n",
				   path,
				   path);
	assert_startup_refused(path, expected);
	g_clear_pointer(&expected, g_free);
	g_assert_no_errno(g_unlink(path));

	expected = g_strdup_printf("mail-senderd: Password file %s of account 'default' cannot "
				   "be used: No such file or directory\n",
				   path);
	assert_startup_refused(path, expected);
	remove_tree(dir);
}

/* implicit TLS with AUTH against the server: the password comes from the file */
static void
assert_auth_delivery(const gchar *extra_conf,
		     const gchar *const *extra_env,
		     const gchar *const *secrets_not_logged)
{
	g_autoptr(GError) error = NULL;
	const gchar *auth[] = {"--auth", "user:s3cret", NULL};
	g_autoptr(MsTestServer) server = ms_test_server_start("implicit-tls", auth, &error);
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(MsTestSignals) signals = NULL;
	g_autoptr(MsTestMail) mail = NULL;
	g_autofree gchar *ca = ms_test_server_get_ca_file();
	g_autofree gchar *conf = NULL;
	g_autofree gchar *job = NULL;
	g_autofree gchar *log = NULL;

	g_assert_no_error(error);
	g_assert_nonnull(ca);
	conf = g_strdup_printf("[account default]\n"
			       "host=localhost\n"
			       "port=%u\n"
			       "security=tls\n"
			       "ca-file=%s\n"
			       "username=user\n"
			       "from=Alerts <alerts@example.test>\n"
			       "timeout=5\n"
			       "%s",
			       ms_test_server_get_port(server),
			       ca,
			       extra_conf);
	daemon = start_daemon(conf, extra_env);
	signals = ms_test_signals_new(ms_test_daemon_get_bus(daemon));
	job = send_as_root(daemon, SIMPLE_MESSAGE, NULL, &error);
	g_assert_no_error(error);
	g_assert_true(ms_test_signals_wait_finished(signals, job, WAIT_MS));
	g_assert_true(g_str_has_prefix(ms_test_signals_get_result(signals, job), "Sent 250 "));
	mail = wait_for_one_mail(server);
	g_assert_cmpstr(mail->auth_login, ==, "user");
	g_assert_nonnull(mail->tls_version);
	log = ms_test_daemon_get_log(daemon);
	for (guint i = 0; secrets_not_logged[i] != NULL; i++)
		g_assert_null(strstr(log, secrets_not_logged[i]));
}

static void
test_password_file(void)
{
	g_autofree gchar *dir = NULL;
	g_autofree gchar *path = NULL;
	g_autofree gchar *extra = NULL;
	const gchar *secrets[] = {"s3cret", "czNjcmV0", NULL}; /* and its base64 */

	if (!system_test_can_run())
		return;
	/* written as "echo s3cret > file" does: the newline is not part of the password */
	path = make_secret_file(&dir, "default.password", "s3cret\n", 0600);
	extra = g_strdup_printf("password-file=%s\n", path);
	assert_auth_delivery(extra, NULL, secrets);
	remove_tree(dir);
}

/* systemd's LoadCredential=: $CREDENTIALS_DIRECTORY/<account>, without a password-file */
static void
test_credentials_directory(void)
{
	g_autofree gchar *dir = NULL;
	g_autofree gchar *path = NULL;
	g_autofree gchar *env_dir = NULL;
	const gchar *secrets[] = {"s3cret", "czNjcmV0", NULL};

	if (!system_test_can_run())
		return;
	/* systemd makes them 0400 (or 0440 with an ACL): never refused for their mode */
	path = make_secret_file(&dir, "default", "s3cret", 0440);
	env_dir = g_strdup_printf("CREDENTIALS_DIRECTORY=%s", dir);
	{
		const gchar *env[] = {env_dir, NULL};
		assert_auth_delivery("", env, secrets);
	}
	remove_tree(dir);
}

/* no password anywhere: the job fails with Credentials, saying where to put one */
static void
test_no_password(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(MsTestSignals) signals = NULL;
	g_autofree gchar *conf = NULL;
	g_autofree gchar *dir = NULL;
	g_autofree gchar *env_dir = NULL;
	g_autofree gchar *job = NULL;
	g_autofree gchar *expected = NULL;

	if (!system_test_can_run())
		return;
	server = ms_test_server_start("plain", NULL, &error);
	g_assert_no_error(error);
	dir = g_dir_make_tmp("ms-test-system-XXXXXX", &error);
	g_assert_no_error(error);
	env_dir = g_strdup_printf("CREDENTIALS_DIRECTORY=%s", dir);
	conf = make_conf(server, "allow-plaintext-auth=true\nusername=user\n");
	{
		const gchar *env[] = {env_dir, NULL};
		daemon = start_daemon(conf, env);
	}
	signals = ms_test_signals_new(ms_test_daemon_get_bus(daemon));
	job = send_as_root(daemon, SIMPLE_MESSAGE, NULL, &error);
	g_assert_no_error(error);
	g_assert_true(ms_test_signals_wait_finished(signals, job, WAIT_MS));
	expected = g_strdup_printf(
	    "Failed org.mail.Sender.Error.Credentials No password for account 'default' (user "
	    "'user' on 127.0.0.1): there is no password-file and no %s/default. Set password-file "
	    "in the accounts file to a file owned by root with mode 0600, or pass it as the "
	    "systemd credential 'default' (LoadCredential=default:FILE in mail-sender.service)",
	    dir);
	g_assert_cmpstr(ms_test_signals_get_result(signals, job), ==, expected);
	g_assert_cmpuint(ms_test_server_count_messages(server), ==, 0);
	remove_tree(dir);
}

/* cron, smartd and mdadm run `sendmail` with no session bus: it reaches the system service */
static void
test_sendmail_without_session_bus(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(GSubprocessLauncher) launcher = NULL;
	g_autoptr(GSubprocess) proc = NULL;
	g_autofree gchar *conf = NULL;
	g_autofree gchar *out = NULL;
	g_autofree gchar *err = NULL;
	g_autoptr(MsTestMail) mail = NULL;
	const gchar *rcpts[] = {"root@example.test", NULL};

	if (!system_test_can_run())
		return;
	server = ms_test_server_start("plain", NULL, &error);
	g_assert_no_error(error);
	conf = make_conf(server, NULL);
	daemon = start_daemon(conf, NULL);
	launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDIN_PIPE |
					     G_SUBPROCESS_FLAGS_STDOUT_PIPE |
					     G_SUBPROCESS_FLAGS_STDERR_PIPE);
	g_subprocess_launcher_unsetenv(launcher, "DBUS_SESSION_BUS_ADDRESS");
	g_subprocess_launcher_unsetenv(launcher, "XDG_RUNTIME_DIR");
	proc = g_subprocess_launcher_spawn(launcher,
					   &error,
					   g_getenv("MS_CLI_PATH"),
					   "sendmail",
					   "-i",
					   "root@example.test",
					   NULL);
	g_assert_no_error(error);
	g_subprocess_communicate_utf8(proc,
				      "Subject: SMART error on /dev/sda\n\nsda is failing\n",
				      NULL,
				      &out,
				      &err,
				      &error);
	g_assert_no_error(error);
	g_assert_true(ms_test_subprocess_wait(proc, 20000));
	g_assert_cmpstr(err, ==, "");
	g_assert_cmpint(ms_test_subprocess_get_status(proc), ==, 0);
	mail = wait_for_one_mail(server);
	g_assert_cmpstrv(mail->rcpt_tos, rcpts);
}

/* the daemon may read files the caller cannot: attachments come as fds on the system bus */
static void
test_attachment_path_refused(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autofree gchar *conf = NULL;
	g_autofree gchar *job = NULL;
	g_autofree gchar *remote = NULL;

	if (!system_test_can_run())
		return;
	server = ms_test_server_start("plain", NULL, &error);
	g_assert_no_error(error);
	conf = make_conf(server, NULL);
	daemon = start_daemon(conf, NULL);
	job = send_as_root(daemon,
			   "{'to': <['root@example.test']>, 'attachments': <[{'filename': "
			   "<'shadow'>, 'path': <'/etc/shadow'>}]>}",
			   NULL,
			   &error);
	g_assert_null(job);
	remote = g_dbus_error_get_remote_error(error);
	g_assert_cmpstr(remote, ==, "org.mail.Sender.Error.NotAuthorized");
	g_assert_cmpuint(ms_test_server_count_messages(server), ==, 0);
}

/* a job is its sender's: another user can neither list nor cancel it; root can */
static void
test_jobs_belong_to_their_sender(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(GVariant) ret = NULL;
	g_autofree gchar *conf = NULL;
	g_autofree gchar *job = NULL;
	g_autofree gchar *out = NULL;
	g_autofree gchar *err = NULL;
	g_autofree gchar *jobs_out = NULL;
	g_autofree gchar *jobs_err = NULL;
	gint status;

	if (!system_test_can_run())
		return;
	/* the server only says 421: the job waits, deferred, long enough to be looked at */
	server = ms_test_server_start("greet-421", NULL, &error);
	g_assert_no_error(error);
	conf = make_conf(server, "retry-delay=3600\nallowed-users=nobody\n");
	daemon = start_daemon(conf, NULL);
	job = send_as_root(daemon, "{'to': <['root@example.test']>}", NULL, &error);
	g_assert_no_error(error);

	/* nobody does not see it */
	{
		const gchar *command[] = {"gdbus",
					  "call",
					  "--system",
					  "--dest",
					  "org.mail.Sender",
					  "--object-path",
					  "/org/mail/Sender",
					  "--method",
					  "org.mail.Sender.GetJobs",
					  NULL};
		status = run_as_nobody("--clear-groups", command, &jobs_out, &jobs_err);
		g_assert_cmpint(status, ==, 0);
		g_assert_null(strstr(jobs_out, job));
	}
	/* nor may it cancel it */
	{
		const gchar *command[] = {"gdbus",
					  "call",
					  "--system",
					  "--dest",
					  "org.mail.Sender",
					  "--object-path",
					  job,
					  "--method",
					  "org.mail.Sender.Job.Cancel",
					  NULL};
		status = run_as_nobody("--clear-groups", command, &out, &err);
		g_assert_cmpint(status, !=, 0);
		g_assert_nonnull(strstr(err, "org.mail.Sender.Error.NotAuthorized"));
	}
	/* root may */
	ret = g_dbus_connection_call_sync(ms_test_daemon_get_bus(daemon),
					  "org.mail.Sender",
					  job,
					  "org.mail.Sender.Job",
					  "Cancel",
					  NULL,
					  NULL,
					  G_DBUS_CALL_FLAGS_NONE,
					  WAIT_MS,
					  NULL,
					  &error);
	g_assert_no_error(error);
	g_assert_cmpuint(ms_test_server_count_messages(server), ==, 0);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/mail-sender/system/policy", test_policy);
	g_test_add_func("/mail-sender/system/refused", test_refused);
	g_test_add_func("/mail-sender/system/allowed-user", test_allowed_user);
	g_test_add_func("/mail-sender/system/allowed-group", test_allowed_group);
	g_test_add_func("/mail-sender/system/root", test_root);
	g_test_add_func("/mail-sender/system/from-override", test_from_override);
	g_test_add_func("/mail-sender/system/raw-from-replaced", test_raw_from_replaced);
	g_test_add_func("/mail-sender/system/job-properties-private", test_job_properties_private);
	g_test_add_func("/mail-sender/system/rate-limit", test_rate_limit);
	g_test_add_func("/mail-sender/system/password-file-refused", test_password_file_refused);
	g_test_add_func("/mail-sender/system/password-file", test_password_file);
	g_test_add_func("/mail-sender/system/credentials-directory", test_credentials_directory);
	g_test_add_func("/mail-sender/system/no-password", test_no_password);
	g_test_add_func("/mail-sender/system/attachment-path-refused",
			test_attachment_path_refused);
	g_test_add_func("/mail-sender/system/jobs-belong-to-their-sender",
			test_jobs_belong_to_their_sender);
	g_test_add_func("/mail-sender/system/sendmail-without-session-bus",
			test_sendmail_without_session_bus);
	return g_test_run();
}
