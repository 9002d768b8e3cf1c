/* Integration tests: the real mail-senderd on a private session bus with a real gnome-keyring
 * (tests/keyring-session.sh), delivering to the real aiosmtpd test server on 127.0.0.1 with
 * certificates generated at build time. Assertions are on what a user sees: the bytes the
 * server stored, the envelope, the D-Bus error names and the signals in order. */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gunixfdlist.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "ms-test-bus.h"
#include "ms-test-server.h"

#define WAIT_MS 30000

static GVariant *
call_sync(MsTestDaemon *daemon,
	  const gchar *object_path,
	  const gchar *interface_name,
	  const gchar *method,
	  GVariant *parameters,
	  GError **error)
{
	return g_dbus_connection_call_sync(ms_test_daemon_get_bus(daemon),
					   "org.mail.Sender",
					   object_path,
					   interface_name,
					   method,
					   parameters,
					   NULL,
					   G_DBUS_CALL_FLAGS_NONE,
					   WAIT_MS,
					   NULL,
					   error);
}

/* Send with message and options given as GVariant text, returns the job path */
static gchar *
send_text(MsTestDaemon *daemon, const gchar *message, const gchar *options, GError **error)
{
	g_autoptr(GError) error_parse = NULL;
	g_autoptr(GVariant) ret = NULL;
	/* g_variant_parse() gives a full reference, which g_variant_new() does not take over */
	g_autoptr(GVariant) msg =
	    g_variant_parse(G_VARIANT_TYPE_VARDICT, message, NULL, NULL, &error_parse);
	g_autoptr(GVariant) opts = NULL;
	gchar *path = NULL;

	g_assert_no_error(error_parse);
	opts = g_variant_parse(G_VARIANT_TYPE_VARDICT,
			       options != NULL ? options : "@a{sv} {}",
			       NULL,
			       NULL,
			       &error_parse);
	g_assert_no_error(error_parse);
	ret = call_sync(daemon,
			"/org/mail/Sender",
			"org.mail.Sender",
			"Send",
			g_variant_new("(@a{sv}@a{sv})", msg, opts),
			error);
	if (ret == NULL)
		return NULL;
	g_variant_get(ret, "(o)", &path);
	return path;
}

static GVariant *
get_property(MsTestDaemon *daemon,
	     const gchar *object_path,
	     const gchar *interface_name,
	     const gchar *name)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) ret = call_sync(daemon,
					    object_path,
					    "org.freedesktop.DBus.Properties",
					    "Get",
					    g_variant_new("(ss)", interface_name, name),
					    &error);
	GVariant *value = NULL;

	g_assert_no_error(error);
	g_variant_get(ret, "(v)", &value);
	return value;
}

static gchar *
get_job_string(MsTestDaemon *daemon, const gchar *job, const gchar *name)
{
	g_autoptr(GVariant) value = get_property(daemon, job, "org.mail.Sender.Job", name);
	return g_variant_dup_string(value, NULL);
}

static guint
get_job_uint(MsTestDaemon *daemon, const gchar *job, const gchar *name)
{
	g_autoptr(GVariant) value = get_property(daemon, job, "org.mail.Sender.Job", name);
	return g_variant_get_uint32(value);
}

/* "ca-file=<the test CA>\n" */
static gchar *
ca_line(void)
{
	g_autofree gchar *ca = ms_test_server_get_ca_file();
	g_assert_nonnull(ca);
	return g_strdup_printf("ca-file=%s\n", ca);
}

/* stores a password in the keyring exactly as the README tells users to */
static void
store_password(const gchar *account,
	       const gchar *host,
	       const gchar *username,
	       const gchar *password)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GSubprocess) proc = g_subprocess_new(G_SUBPROCESS_FLAGS_STDIN_PIPE,
						       &error,
						       "secret-tool",
						       "store",
						       "--label=mail-sender test",
						       "account",
						       account,
						       "host",
						       host,
						       "username",
						       username,
						       NULL);
	g_assert_no_error(error);
	g_subprocess_communicate_utf8(proc, password, NULL, NULL, NULL, &error);
	g_assert_no_error(error);
	g_assert_true(ms_test_subprocess_wait(proc, WAIT_MS));
	g_assert_cmpint(ms_test_subprocess_get_status(proc), ==, 0);
}

static void
clear_password(const gchar *account)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GSubprocess) proc = g_subprocess_new(G_SUBPROCESS_FLAGS_NONE,
						       &error,
						       "secret-tool",
						       "clear",
						       "account",
						       account,
						       NULL);
	g_assert_no_error(error);
	g_assert_true(ms_test_subprocess_wait(proc, WAIT_MS));
}

static guint
count_dir(const gchar *dir, gboolean recycled_too)
{
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	const gchar *name;
	guint n = 0;

	if (d == NULL)
		return 0;
	while ((name = g_dir_read_name(d)) != NULL) {
		/* queued jobs, and anything an unfinished commit left; not the files of delivered
		 * jobs that wait in tmp/ for new commits to overwrite them (recycled-N, see
		 * test_recycled_files_deleted) */
		if (!g_str_equal(name, "failed") && !g_str_equal(name, "tmp") &&
		    (recycled_too || !g_str_has_prefix(name, "recycled-")))
			n++;
	}
	return n;
}

/* every file in the spool and its tmp/, recycled ones too */
static guint
count_all_files(const gchar *spool)
{
	g_autofree gchar *tmp = g_build_filename(spool, "tmp", NULL);
	return count_dir(spool, TRUE) + count_dir(tmp, TRUE);
}

/* files in the spool and in its tmp/ */
static guint
count_files(const gchar *spool)
{
	g_autofree gchar *tmp = g_build_filename(spool, "tmp", NULL);
	return count_dir(spool, FALSE) + count_dir(tmp, FALSE);
}

/* the jobs queued in the spool: one ID.mail file each */
static guint
count_queued_jobs(const gchar *spool)
{
	g_autoptr(GDir) d = g_dir_open(spool, 0, NULL);
	const gchar *name;
	guint n = 0;

	while (d != NULL && (name = g_dir_read_name(d)) != NULL)
		n += g_str_has_suffix(name, ".mail") ? 1 : 0;
	return n;
}

/* sends a simple message and waits for its outcome */
static gchar *
send_and_wait(MsTestDaemon *daemon, MsTestSignals *signals, const gchar *message)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *job = send_text(daemon, message, NULL, &error);

	g_assert_no_error(error);
	g_assert_nonnull(job);
	g_assert_true(g_str_has_prefix(job, "/org/mail/Sender/Job/"));
	g_assert_true(ms_test_signals_wait_finished(signals, job, WAIT_MS));
	return g_steal_pointer(&job);
}

#define SIMPLE_MESSAGE "{'to': <['rcpt@example.test']>, 'subject': <'hi'>, 'body': <'hello'>}"

/* a failed job: its Failed signal names the error, and it stays failed */
static void
assert_failed(MsTestDaemon *daemon,
	      MsTestSignals *signals,
	      const gchar *job,
	      const gchar *error_name,
	      const gchar *message_part)
{
	const gchar *result = ms_test_signals_get_result(signals, job);
	g_autofree gchar *prefix = g_strdup_printf("Failed %s ", error_name);
	g_autofree gchar *state = get_job_string(daemon, job, "State");
	g_autofree gchar *error = get_job_string(daemon, job, "Error");

	g_assert_nonnull(result);
	if (!g_str_has_prefix(result, prefix))
		g_error("expected %s, got: %s", prefix, result);
	if (message_part != NULL && strstr(result, message_part) == NULL)
		g_error("expected '%s' in: %s", message_part, result);
	g_assert_cmpstr(state, ==, "failed");
	g_assert_cmpstr(error, ==, error_name);
}

/* ---- delivery in every security mode ---- */

/* a delivered job's file is overwritten by the next commit (here a shorter message after a
 * longer one: nothing of the first may show in the second), and once the daemon is idle no
 * delivered message stays on disk */
static void
test_recycled_files_deleted(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = ms_test_server_start("plain", NULL, &error);
	g_autofree gchar *conf = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(MsTestSignals) signals = NULL;
	g_autoptr(GPtrArray) mails = NULL;
	g_autofree gchar *long_body = g_strnfill(6000, 'x');
	g_autofree gchar *long_message = NULL;
	g_autofree gchar *first = NULL;
	g_autofree gchar *second = NULL;
	MsTestMail *mail;
	const gchar *data;
	gsize size = 0;
	guint left = 1;

	g_assert_no_error(error);
	conf = ms_test_server_make_conf(server, "security=none\n");
	daemon = ms_test_daemon_start(conf, &error);
	g_assert_no_error(error);
	signals = ms_test_signals_new(ms_test_daemon_get_bus(daemon));
	long_message = g_strdup_printf("{'to': <['to@example.test']>, 'subject': <'long'>,"
				       " 'body': <'%s'>}",
				       long_body);
	first = send_and_wait(daemon, signals, long_message);
	second = send_and_wait(daemon,
			       signals,
			       "{'to': <['to@example.test']>, 'subject': <'short'>,"
			       " 'body': <'short body\n'>}");
	g_assert_true(g_str_has_prefix(ms_test_signals_get_result(signals, second), "Sent 250"));
	mails = ms_test_server_wait_for_messages(server, 2, WAIT_MS);
	g_assert_cmpuint(mails->len, ==, 2);
	mail = g_ptr_array_index(mails, 1);
	g_assert_true(ms_test_bytes_contain(mail->eml, "Subject: short\r\n"));
	data = g_bytes_get_data(mail->eml, &size);
	g_assert_cmpuint(size, >, 16);
	g_assert_cmpmem(data + size - 16, 16, "\r\n\r\nshort body\r\n", 16);
	g_assert_false(ms_test_bytes_contain(mail->eml, "xxxx"));
	g_assert_false(ms_test_bytes_contain(mail->eml, "mail-sender-spool-"));
	g_assert_false(ms_test_bytes_contain(mail->eml, "[job]"));
	/* the daemon keeps delivered files for reuse only while it is busy (10 s idle) */
	for (guint i = 0; i < 300 && left > 0; i++) {
		g_usleep(100 * 1000);
		left = count_all_files(ms_test_daemon_get_spool_dir(daemon));
	}
	g_assert_cmpuint(left, ==, 0);
}

static void
test_send_plain(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = ms_test_server_start("plain", NULL, &error);
	g_autofree gchar *conf = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(MsTestSignals) signals = NULL;
	g_autoptr(GPtrArray) mails = NULL;
	g_autofree gchar *job = NULL;
	g_autofree gchar *stages = NULL;
	g_autofree gchar *reply = NULL;
	g_autofree gchar *expected_sent = NULL;
	MsTestMail *mail;
	const gchar *rcpts_expected[] = {"to@example.test",
					 "cc@example.test",
					 "hidden@example.test",
					 NULL};

	g_assert_no_error(error);
	conf = ms_test_server_make_conf(server, "security=none\n");
	daemon = ms_test_daemon_start(conf, &error);
	g_assert_no_error(error);
	signals = ms_test_signals_new(ms_test_daemon_get_bus(daemon));
	job = send_and_wait(daemon,
			    signals,
			    "{'to': <['Töni To <to@example.test>']>, 'cc': <['cc@example.test']>,"
			    " 'bcc': <['hidden@example.test']>, 'subject': <'Grüße'>,"
			    " 'body': <'hello\\n.dot line\\n'>,"
			    " 'headers': <{'X-Mailer-Test': 'yes'}>}");

	mails = ms_test_server_wait_for_messages(server, 1, WAIT_MS);
	g_assert_cmpuint(mails->len, ==, 1);
	mail = g_ptr_array_index(mails, 0);
	g_assert_cmpstr(mail->mail_from, ==, "sender@example.test");
	g_assert_cmpstrv(mail->rcpt_tos, rcpts_expected);
	g_assert_cmpstr(mail->helo, ==, "client.example.test");
	g_assert_cmpstr(mail->ehlo_or_helo, ==, "EHLO");
	g_assert_null(mail->auth_login); /* no username: never AUTH */
	g_assert_null(mail->tls_version);
	g_assert_true(
	    ms_test_bytes_contain(mail->eml, "From: Sender Test <sender@example.test>\r\n"));
	g_assert_true(ms_test_bytes_contain(mail->eml, "Cc: cc@example.test\r\n"));
	g_assert_true(ms_test_bytes_contain(mail->eml, "Subject: =?UTF-8?"));
	g_assert_true(ms_test_bytes_contain(mail->eml, "X-Mailer-Test: yes\r\n"));
	g_assert_true(ms_test_bytes_contain(mail->eml, "\r\n\r\nhello\r\n.dot line\r\n"));
	g_assert_true(ms_test_bytes_contain(mail->eml, "Message-ID: <"));
	g_assert_true(ms_test_bytes_contain(mail->eml, "Date: "));
	g_assert_false(ms_test_bytes_contain(mail->eml, "hidden@example.test"));
	g_assert_false(ms_test_bytes_contain(mail->eml, "Bcc"));

	stages = ms_test_signals_get_stages(signals, job);
	g_assert_cmpstr(stages, ==, "queued connecting sending");
	reply = get_job_string(daemon, job, "ServerReply");
	g_assert_true(g_str_has_prefix(reply, "250 "));
	expected_sent = g_strdup_printf("Sent %s", reply);
	g_assert_cmpstr(ms_test_signals_get_result(signals, job), ==, expected_sent);
	g_assert_cmpuint(get_job_uint(daemon, job, "Attempts"), ==, 1);
	/* delivered jobs leave the spool */
	g_assert_cmpuint(count_files(ms_test_daemon_get_spool_dir(daemon)), ==, 0);
}

static void
test_send_starttls_opportunistic(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = ms_test_server_start("starttls", NULL, &error);
	g_autofree gchar *ca = ca_line();
	g_autofree gchar *extra = NULL;
	g_autofree gchar *conf = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(MsTestSignals) signals = NULL;
	g_autoptr(GPtrArray) mails = NULL;
	g_autofree gchar *job = NULL;
	g_autofree gchar *stages = NULL;

	g_assert_no_error(error);
	extra = g_strdup_printf("security=starttls-opportunistic\n%s", ca);
	conf = ms_test_server_make_conf(server, extra);
	daemon = ms_test_daemon_start(conf, &error);
	g_assert_no_error(error);
	signals = ms_test_signals_new(ms_test_daemon_get_bus(daemon));
	job = send_and_wait(daemon, signals, SIMPLE_MESSAGE);
	g_assert_true(g_str_has_prefix(ms_test_signals_get_result(signals, job), "Sent 250"));
	mails = ms_test_server_wait_for_messages(server, 1, WAIT_MS);
	g_assert_cmpuint(mails->len, ==, 1);
	g_assert_cmpstr(((MsTestMail *)g_ptr_array_index(mails, 0))->tls_version, ==, "TLSv1.3");
	stages = ms_test_signals_get_stages(signals, job);
	g_assert_cmpstr(stages, ==, "queued connecting tls sending");
}

/* required STARTTLS, then AUTH with the password from the real keyring */
static void
test_send_starttls_auth_plain(void)
{
	const gchar *args[] = {"--auth", "alice:s3cret-starttls", NULL};
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = ms_test_server_start("require-starttls", args, &error);
	g_autofree gchar *ca = ca_line();
	g_autofree gchar *extra = NULL;
	g_autofree gchar *conf = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(MsTestSignals) signals = NULL;
	g_autoptr(GPtrArray) mails = NULL;
	g_autofree gchar *job = NULL;
	g_autofree gchar *stages = NULL;
	g_autofree gchar *log = NULL;
	MsTestMail *mail;

	g_assert_no_error(error);
	store_password("default", "127.0.0.1", "alice", "s3cret-starttls");
	extra = g_strdup_printf("security=starttls\nusername=alice\nauth=plain\n%s", ca);
	conf = ms_test_server_make_conf(server, extra);
	daemon = ms_test_daemon_start(conf, &error);
	g_assert_no_error(error);
	signals = ms_test_signals_new(ms_test_daemon_get_bus(daemon));
	job = send_and_wait(daemon, signals, SIMPLE_MESSAGE);
	g_assert_true(g_str_has_prefix(ms_test_signals_get_result(signals, job), "Sent 250"));
	mails = ms_test_server_wait_for_messages(server, 1, WAIT_MS);
	g_assert_cmpuint(mails->len, ==, 1);
	mail = g_ptr_array_index(mails, 0);
	g_assert_cmpstr(mail->auth_login, ==, "alice");
	g_assert_cmpstr(mail->auth_mechanism, ==, "PLAIN");
	g_assert_cmpstr(mail->tls_version, ==, "TLSv1.3");
	stages = ms_test_signals_get_stages(signals, job);
	g_assert_cmpstr(stages, ==, "queued connecting tls auth sending");
	/* the verbose log has the transcript, but never the password */
	log = ms_test_daemon_get_log(daemon);
	g_assert_nonnull(strstr(log, "EHLO client.example.test"));
	g_assert_null(strstr(log, "s3cret-starttls"));
	clear_password("default");
}

static void
test_send_implicit_tls_auth_login(void)
{
	const gchar *args[] = {"--auth", "bob:pa55-implicit", NULL};
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = ms_test_server_start("implicit-tls", args, &error);
	g_autofree gchar *ca = ca_line();
	g_autofree gchar *extra = NULL;
	g_autofree gchar *conf = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(MsTestSignals) signals = NULL;
	g_autoptr(GPtrArray) mails = NULL;
	g_autofree gchar *job = NULL;
	g_autofree gchar *stages = NULL;
	MsTestMail *mail;

	g_assert_no_error(error);
	store_password("default", "127.0.0.1", "bob", "pa55-implicit");
	extra = g_strdup_printf("security=tls\nusername=bob\nauth=login\n%s", ca);
	conf = ms_test_server_make_conf(server, extra);
	daemon = ms_test_daemon_start(conf, &error);
	g_assert_no_error(error);
	signals = ms_test_signals_new(ms_test_daemon_get_bus(daemon));
	job = send_and_wait(daemon, signals, SIMPLE_MESSAGE);
	g_assert_true(g_str_has_prefix(ms_test_signals_get_result(signals, job), "Sent 250"));
	mails = ms_test_server_wait_for_messages(server, 1, WAIT_MS);
	g_assert_cmpuint(mails->len, ==, 1);
	mail = g_ptr_array_index(mails, 0);
	g_assert_cmpstr(mail->auth_login, ==, "bob");
	g_assert_cmpstr(mail->auth_mechanism, ==, "LOGIN");
	g_assert_cmpstr(mail->tls_version, ==, "TLSv1.3");
	stages = ms_test_signals_get_stages(signals, job);
	g_assert_cmpstr(stages, ==, "queued connecting tls auth sending");
	clear_password("default");
}

/* ---- credentials ---- */

static void
test_no_password_in_keyring(void)
{
	const gchar *args[] = {"--auth", "carol:unused", NULL};
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = ms_test_server_start("implicit-tls", args, &error);
	g_autofree gchar *ca = ca_line();
	g_autofree gchar *extra = NULL;
	g_autofree gchar *conf = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(MsTestSignals) signals = NULL;
	g_autofree gchar *job = NULL;

	g_assert_no_error(error);
	extra = g_strdup_printf("security=tls\nusername=carol\n%s", ca);
	conf = ms_test_server_make_conf(server, extra);
	daemon = ms_test_daemon_start(conf, &error);
	g_assert_no_error(error);
	signals = ms_test_signals_new(ms_test_daemon_get_bus(daemon));
	job = send_and_wait(daemon, signals, SIMPLE_MESSAGE);
	assert_failed(daemon,
		      signals,
		      job,
		      "org.mail.Sender.Error.Credentials",
		      "secret-tool store --label='mail-sender default' account default host "
		      "127.0.0.1 username carol");
	g_assert_cmpuint(ms_test_server_count_messages(server), ==, 0);
}

static void
test_wrong_password(void)
{
	const gchar *args[] = {"--auth", "dave:right-password", NULL};
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = ms_test_server_start("implicit-tls", args, &error);
	g_autofree gchar *ca = ca_line();
	g_autofree gchar *extra = NULL;
	g_autofree gchar *conf = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(MsTestSignals) signals = NULL;
	g_autofree gchar *job = NULL;
	g_autofree gchar *all = NULL;
	g_autofree gchar *log = NULL;
	g_autofree gchar *message = NULL;

	g_assert_no_error(error);
	store_password("default", "127.0.0.1", "dave", "wr0ng-Pa55word");
	extra = g_strdup_printf("security=tls\nusername=dave\n%s", ca);
	conf = ms_test_server_make_conf(server, extra);
	daemon = ms_test_daemon_start(conf, &error);
	g_assert_no_error(error);
	signals = ms_test_signals_new(ms_test_daemon_get_bus(daemon));
	job = send_and_wait(daemon, signals, SIMPLE_MESSAGE);
	assert_failed(daemon, signals, job, "org.mail.Sender.Error.AuthFailed", "535");
	g_assert_cmpuint(ms_test_server_count_messages(server), ==, 0);
	/* the password is in no signal, property or log line, neither plain nor in base64 */
	all = ms_test_signals_to_string(signals, job);
	log = ms_test_daemon_get_log(daemon);
	message = get_job_string(daemon, job, "ErrorMessage");
	for (guint i = 0; i < 3; i++) {
		const gchar *text = i == 0 ? all : i == 1 ? log : message;
		g_assert_null(strstr(text, "wr0ng-Pa55word"));
		g_assert_null(strstr(text, "AGRhdmUAd3IwbmctUGE1NXdvcmQ")); /* PLAIN payload */
		g_assert_null(strstr(text, "d3IwbmctUGE1NXdvcmQ"));	    /* LOGIN payload */
	}
	clear_password("default");
}

/* ---- the classic failure modes ---- */

/* a single attempt per job: the error is final at once */
#define ONE_ATTEMPT "max-attempts=1\n"

/* failed/ keeps the job for people to read: the message alone in ID.msg, the envelope with the
 * reason in ID.job */
static void
assert_failed_record(MsTestDaemon *daemon, const gchar *job, const gchar *error_name)
{
	const gchar *id = strrchr(job, '/') + 1;
	g_autofree gchar *msg_name = g_strdup_printf("%s.msg", id);
	g_autofree gchar *job_name = g_strdup_printf("%s.job", id);
	g_autofree gchar *msg_path =
	    g_build_filename(ms_test_daemon_get_spool_dir(daemon), "failed", msg_name, NULL);
	g_autofree gchar *job_path =
	    g_build_filename(ms_test_daemon_get_spool_dir(daemon), "failed", job_name, NULL);
	g_autofree gchar *message = NULL;
	g_autofree gchar *error = NULL;
	g_autoptr(GKeyFile) envelope = g_key_file_new();
	gsize size = 0;

	g_assert_true(g_file_get_contents(msg_path, &message, &size, NULL));
	g_assert_true(g_str_has_suffix(message, "\r\n"));
	g_assert_null(strstr(message, "[job]"));
	g_assert_null(strstr(message, "mail-sender-spool-"));
	g_assert_true(g_key_file_load_from_file(envelope, job_path, G_KEY_FILE_NONE, NULL));
	g_assert_cmpuint(g_key_file_get_uint64(envelope, "job", "size", NULL), ==, size);
	error = g_key_file_get_string(envelope, "failure", "error", NULL);
	g_assert_cmpstr(error, ==, error_name);
}

static void
run_failing(const gchar *mode,
	    const gchar *certname,
	    const gchar *const *server_args,
	    const gchar *account_extra,
	    const gchar *error_name,
	    const gchar *message_part)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server =
	    certname != NULL ? ms_test_server_start_with_cert(mode, certname, server_args, &error)
			     : ms_test_server_start(mode, server_args, &error);
	g_autofree gchar *ca = ca_line();
	g_autofree gchar *extra = NULL;
	g_autofree gchar *conf = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(MsTestSignals) signals = NULL;
	g_autofree gchar *job = NULL;

	g_assert_no_error(error);
	extra = g_strdup_printf("%s%s%s", ONE_ATTEMPT, ca, account_extra);
	conf = ms_test_server_make_conf(server, extra);
	daemon = ms_test_daemon_start(conf, &error);
	g_assert_no_error(error);
	signals = ms_test_signals_new(ms_test_daemon_get_bus(daemon));
	job = send_and_wait(daemon, signals, SIMPLE_MESSAGE);
	assert_failed(daemon, signals, job, error_name, message_part);
	g_assert_cmpuint(ms_test_server_count_messages(server), ==, 0);
	/* a failed job is kept in failed/, not in the queue */
	g_assert_cmpuint(count_files(ms_test_daemon_get_spool_dir(daemon)), ==, 0);
	assert_failed_record(daemon, job, error_name);
}

static void
test_starttls_stall(void)
{
	run_failing("stall-starttls",
		    NULL,
		    NULL,
		    "security=starttls\n",
		    "org.mail.Sender.Error.Timeout",
		    "TLS handshake");
}

static void
test_plaintext_to_implicit_tls_port(void)
{
	run_failing("tls-only-silent",
		    NULL,
		    NULL,
		    "security=starttls\n",
		    "org.mail.Sender.Error.Timeout",
		    "security=tls");
}

static void
test_starttls_required_not_offered(void)
{
	run_failing("plain",
		    NULL,
		    NULL,
		    "security=starttls\n",
		    "org.mail.Sender.Error.TlsRequired",
		    "STARTTLS");
}

static void
test_starttls_injection(void)
{
	run_failing("starttls-inject",
		    NULL,
		    NULL,
		    "security=starttls\n",
		    "org.mail.Sender.Error.Tls",
		    NULL);
}

static void
test_wrong_host_certificate(void)
{
	run_failing("implicit-tls",
		    "wronghost",
		    NULL,
		    "security=tls\n",
		    "org.mail.Sender.Error.Tls",
		    "host");
}

static void
test_expired_certificate(void)
{
	run_failing("implicit-tls",
		    "expired",
		    NULL,
		    "security=tls\n",
		    "org.mail.Sender.Error.Tls",
		    "expired");
}

static void
test_unknown_ca_refused(void)
{
	/* without ca-file the system CAs do not know the test CA */
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = ms_test_server_start("implicit-tls", NULL, &error);
	g_autofree gchar *conf = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(MsTestSignals) signals = NULL;
	g_autofree gchar *job = NULL;

	g_assert_no_error(error);
	conf = ms_test_server_make_conf(server, "security=tls\n" ONE_ATTEMPT);
	daemon = ms_test_daemon_start(conf, &error);
	g_assert_no_error(error);
	signals = ms_test_signals_new(ms_test_daemon_get_bus(daemon));
	job = send_and_wait(daemon, signals, SIMPLE_MESSAGE);
	assert_failed(daemon, signals, job, "org.mail.Sender.Error.Tls", "ca-file");
	g_assert_cmpuint(ms_test_server_count_messages(server), ==, 0);
}

static gchar *
cert_sha256(const gchar *name)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *path = ms_test_get_cert_file(name);
	g_autoptr(GTlsCertificate) cert = g_tls_certificate_new_from_file(path, &error);
	g_autoptr(GByteArray) der = NULL;

	g_assert_no_error(error);
	g_object_get(cert, "certificate", &der, NULL);
	return g_compute_checksum_for_data(G_CHECKSUM_SHA256, der->data, der->len);
}

static void
test_pinned_fingerprint(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server =
	    ms_test_server_start_with_cert("implicit-tls", "selfsigned", NULL, &error);
	g_autofree gchar *pin = cert_sha256("selfsigned.pem");
	g_autofree gchar *extra = NULL;
	g_autofree gchar *conf = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(MsTestSignals) signals = NULL;
	g_autoptr(GPtrArray) mails = NULL;
	g_autofree gchar *job = NULL;

	g_assert_no_error(error);
	extra = g_strdup_printf("security=tls\ntls-fingerprint=%s\n" ONE_ATTEMPT, pin);
	conf = ms_test_server_make_conf(server, extra);
	daemon = ms_test_daemon_start(conf, &error);
	g_assert_no_error(error);
	signals = ms_test_signals_new(ms_test_daemon_get_bus(daemon));
	job = send_and_wait(daemon, signals, SIMPLE_MESSAGE);
	g_assert_true(g_str_has_prefix(ms_test_signals_get_result(signals, job), "Sent 250"));
	mails = ms_test_server_wait_for_messages(server, 1, WAIT_MS);
	g_assert_cmpuint(mails->len, ==, 1);
}

static void
test_pinned_fingerprint_mismatch(void)
{
	/* the CA is trusted, but the pin names another certificate: refused */
	g_autofree gchar *pin = cert_sha256("selfsigned.pem");
	g_autofree gchar *extra = g_strdup_printf("security=tls\ntls-fingerprint=%s\n", pin);

	run_failing("implicit-tls", NULL, NULL, extra, "org.mail.Sender.Error.Tls", NULL);
}

static void
test_rcpt_rejected(void)
{
	const gchar *args[] = {"--reject-rcpt", "rcpt@example.test", NULL};
	run_failing("plain",
		    NULL,
		    args,
		    "security=none\n",
		    "org.mail.Sender.Error.Rejected",
		    "550");
}

static void
test_nothing_listening(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GSocketListener) listener = g_socket_listener_new();
	g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
	g_autoptr(GSocketAddress) addr = g_inet_socket_address_new(loopback, 0);
	g_autoptr(GSocketAddress) bound = NULL;
	g_autofree gchar *conf = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(MsTestSignals) signals = NULL;
	g_autofree gchar *job = NULL;
	guint16 port;

	/* a port that was free a moment ago and has nothing listening now */
	g_socket_listener_add_address(listener,
				      addr,
				      G_SOCKET_TYPE_STREAM,
				      G_SOCKET_PROTOCOL_TCP,
				      NULL,
				      &bound,
				      &error);
	g_assert_no_error(error);
	port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
	g_socket_listener_close(listener);
	conf = g_strdup_printf("[account default]\nhost=127.0.0.1\nport=%u\nsecurity=none\n"
			       "from=sender@example.test\n" ONE_ATTEMPT,
			       port);
	daemon = ms_test_daemon_start(conf, &error);
	g_assert_no_error(error);
	signals = ms_test_signals_new(ms_test_daemon_get_bus(daemon));
	job = send_and_wait(daemon, signals, SIMPLE_MESSAGE);
	assert_failed(daemon, signals, job, "org.mail.Sender.Error.Connection", "connect");
}

/* 421 at the greeting is transient: deferred, then delivered on the retry */
static void
test_greeting_421_then_success(void)
{
	const gchar *args[] = {"--fail-first", "1", NULL};
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = ms_test_server_start("plain", args, &error);
	g_autofree gchar *conf = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(MsTestSignals) signals = NULL;
	g_autoptr(GPtrArray) mails = NULL;
	g_autofree gchar *job = NULL;
	g_autofree gchar *stages = NULL;

	g_assert_no_error(error);
	conf = ms_test_server_make_conf(server, "security=none\n");
	daemon = ms_test_daemon_start(conf, &error);
	g_assert_no_error(error);
	signals = ms_test_signals_new(ms_test_daemon_get_bus(daemon));
	job = send_and_wait(daemon, signals, SIMPLE_MESSAGE);
	g_assert_true(g_str_has_prefix(ms_test_signals_get_result(signals, job), "Sent 250"));
	stages = ms_test_signals_get_stages(signals, job);
	g_assert_cmpstr(stages, ==, "queued connecting deferred connecting sending");
	g_assert_cmpuint(get_job_uint(daemon, job, "Attempts"), ==, 2);
	mails = ms_test_server_wait_for_messages(server, 1, WAIT_MS);
	g_assert_cmpuint(mails->len, ==, 1);
}

/* the job ended with a Sent signal; if not, says what it got */
static void
assert_sent(MsTestSignals *signals, const gchar *job)
{
	const gchar *result = ms_test_signals_get_result(signals, job);

	if (!g_str_has_prefix(result, "Sent 250 ")) {
		g_autofree gchar *all = ms_test_signals_to_string(signals, job);
		g_error("expected Sent 250, got: %s\nall signals of the job:\n%s", result, all);
	}
}

typedef struct {
	MsTestDaemon *daemon;
	const gchar *job;
	gchar *state; /* the State seen last */
} JobStatePoll;

/* the job is deferred or finished; keeps the State it saw, as a deferred job goes on to its
 * next attempt by itself */
static gboolean
job_deferred_or_finished(gpointer user_data)
{
	JobStatePoll *job_poll = user_data;

	g_free(job_poll->state);
	job_poll->state = get_job_string(job_poll->daemon, job_poll->job, "State");
	return g_str_equal(job_poll->state, "deferred") || g_str_equal(job_poll->state, "sent") ||
	       g_str_equal(job_poll->state, "failed") || g_str_equal(job_poll->state, "cancelled");
}

/* after a job's Sent: waits a moment for more messages than expected to arrive, which would
 * be a second copy; the server stores a message before it answers 250, so the copies of the
 * attempts the job had are all there already, and this only catches a late extra delivery */
static gboolean
more_messages_than(gpointer user_data)
{
	gpointer *args = user_data;
	return ms_test_server_count_messages(args[0]) > GPOINTER_TO_UINT(args[1]);
}

static void
assert_no_more_messages(MsTestServer *server, guint n)
{
	gpointer args[2] = {server, GUINT_TO_POINTER(n)};

	g_assert_false(ms_test_wait_until(more_messages_than, args, 2000));
	g_assert_cmpuint(ms_test_server_count_messages(server), ==, n);
}

/* the connection is cut off mid-DATA (the server has read 64 KiB of a ~300 KiB message and
 * closes without a reply): nothing was accepted, so the job is deferred and the retry delivers
 * the whole message, once */
static void
test_drop_in_data_retried(void)
{
	const gchar *args[] = {"--drop-first", "1", NULL};
	const gchar *rcpts_expected[] = {"rcpt@example.test", NULL};
	const gchar *last_line = "the last line of the body, after 300 KiB\n";
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = ms_test_server_start("plain", args, &error);
	g_autofree gchar *conf = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(MsTestSignals) signals = NULL;
	g_autoptr(GPtrArray) mails = NULL;
	g_autoptr(GString) body = g_string_new(NULL);
	g_autoptr(GString) expected = g_string_new(NULL);
	g_autoptr(GVariantDict) msg = g_variant_dict_new(NULL);
	g_autoptr(GVariant) ret = NULL;
	g_autofree gchar *job = NULL;
	g_autofree gchar *stages = NULL;
	g_autofree gchar *state = NULL;
	g_autofree gchar *server_log = NULL;
	g_autofree gchar *all_signals = NULL;
	g_autofree gchar *job_error = NULL;
	const gchar *to[] = {"rcpt@example.test", NULL};
	const gchar *data;
	MsTestMail *mail;
	gsize size = 0;

	g_assert_no_error(error);
	/* ~300 KiB of lines that all differ (number, length, content), some with a leading dot
	 * (dot-stuffed on the wire), all 7bit and short, so the body goes out as it is with CRLF */
	for (guint i = 0; body->len < 300 * 1024; i++) {
		g_string_append_printf(body, "%sline %05u:", i % 97 == 0 ? "." : "", i);
		for (guint j = 0; j < i % 23; j++)
			g_string_append_c(body, (gchar)('a' + (i * 7 + j * 3) % 26));
		g_string_append_c(body, '\n');
	}
	g_string_append(body, last_line);
	for (const gchar *p = body->str; *p != '\0'; p++) {
		if (*p == '\n')
			g_string_append_c(expected, '\r');
		g_string_append_c(expected, *p);
	}

	conf = ms_test_server_make_conf(server, "security=none\nretry-delay=1\nmax-attempts=5\n");
	daemon = ms_test_daemon_start(conf, &error);
	g_assert_no_error(error);
	signals = ms_test_signals_new(ms_test_daemon_get_bus(daemon));
	g_variant_dict_insert_value(msg, "to", g_variant_new_strv(to, -1));
	g_variant_dict_insert(msg, "subject", "s", "cut off, then retried");
	g_variant_dict_insert(msg, "body", "s", body->str);
	ret = call_sync(daemon,
			"/org/mail/Sender",
			"org.mail.Sender",
			"Send",
			g_variant_new("(@a{sv}@a{sv})",
				      g_variant_dict_end(msg),
				      g_variant_new_array(G_VARIANT_TYPE("{sv}"), NULL, 0)),
			&error);
	g_assert_no_error(error);
	g_variant_get(ret, "(o)", &job);
	g_assert_true(ms_test_signals_wait_finished(signals, job, WAIT_MS));

	/* the first transfer was really cut off in the middle of the message */
	server_log = ms_test_server_get_log(server);
	g_assert_nonnull(
	    strstr(server_log, "--drop-first: DATA cut off after 65536 bytes of the message\n"));
	assert_sent(signals, job);
	stages = ms_test_signals_get_stages(signals, job);
	g_assert_cmpstr(stages, ==, "queued connecting sending deferred connecting sending");
	g_assert_cmpuint(get_job_uint(daemon, job, "Attempts"), ==, 2);
	state = get_job_string(daemon, job, "State");
	g_assert_cmpstr(state, ==, "sent");
	/* while deferred the job showed why; once sent, no error is left on it */
	all_signals = ms_test_signals_to_string(signals, job);
	g_assert_nonnull(
	    strstr(all_signals, "\nProperty Error org.mail.Sender.Error.Connection\n"));
	g_assert_nonnull(strstr(all_signals, " during DATA"));
	/* the 354 that invited the message is not why it failed */
	g_assert_null(strstr(all_signals, "\nProperty ServerReply 354"));
	job_error = get_job_string(daemon, job, "Error");
	g_assert_cmpstr(job_error, ==, "");

	mails = ms_test_server_wait_for_messages(server, 1, WAIT_MS);
	g_assert_cmpuint(mails->len, ==, 1);
	assert_no_more_messages(server, 1);
	mail = g_ptr_array_index(mails, 0);
	g_assert_cmpstr(mail->mail_from, ==, "sender@example.test");
	g_assert_cmpstrv(mail->rcpt_tos, rcpts_expected);
	g_assert_true(ms_test_bytes_contain(mail->eml, "Subject: cut off, then retried\r\n"));
	/* the whole body, byte for byte, at the end of the message after the blank line */
	data = g_bytes_get_data(mail->eml, &size);
	g_assert_cmpuint(size, >, expected->len + 4);
	g_assert_cmpmem(data + size - expected->len - 4, 4, "\r\n\r\n", 4);
	g_assert_cmpmem(data + size - expected->len, expected->len, expected->str, expected->len);
}

/* nothing listens on the account's port at first: the job is deferred, not failed, and once
 * a server listens there a retry delivers it, once */
static void
test_server_down_then_up(void)
{
	const gchar *rcpts_expected[] = {"rcpt@example.test", NULL};
	g_autoptr(GError) error = NULL;
	g_autoptr(GSocket) socket = NULL;
	g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
	g_autoptr(GSocketAddress) addr = g_inet_socket_address_new(loopback, 0);
	g_autoptr(GSocketAddress) bound = NULL;
	g_autoptr(MsTestServer) server = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(MsTestSignals) signals = NULL;
	g_autoptr(GPtrArray) mails = NULL;
	g_autofree gchar *conf = NULL;
	g_autofree gchar *port_text = NULL;
	g_autofree gchar *job = NULL;
	g_autofree gchar *state = NULL;
	g_autofree gchar *job_error = NULL;
	g_autofree gchar *stages = NULL;
	const gchar *server_args[] = {"--port", NULL, NULL};
	JobStatePoll job_poll = {NULL};
	MsTestMail *mail;
	guint16 port;

	/* a port that was free a moment ago and has nothing listening now */
	socket =
	    g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
	g_assert_no_error(error);
	g_socket_bind(socket, addr, FALSE, &error);
	g_assert_no_error(error);
	bound = g_socket_get_local_address(socket, &error);
	g_assert_no_error(error);
	port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
	g_socket_close(socket, &error);
	g_assert_no_error(error);

	conf = g_strdup_printf("[account default]\nhost=127.0.0.1\nport=%u\nsecurity=none\n"
			       "from=sender@example.test\ntimeout=3\nretry-delay=1\n"
			       "max-attempts=20\n",
			       port);
	daemon = ms_test_daemon_start(conf, &error);
	g_assert_no_error(error);
	signals = ms_test_signals_new(ms_test_daemon_get_bus(daemon));
	job = send_text(daemon, SIMPLE_MESSAGE, NULL, &error);
	g_assert_no_error(error);
	job_poll.daemon = daemon;
	job_poll.job = job;
	g_assert_true(ms_test_wait_until(job_deferred_or_finished, &job_poll, WAIT_MS));
	g_assert_cmpstr(job_poll.state, ==, "deferred");
	g_clear_pointer(&job_poll.state, g_free);
	g_assert_cmpuint(get_job_uint(daemon, job, "Attempts"), >=, 1);
	job_error = get_job_string(daemon, job, "Error");
	g_assert_cmpstr(job_error, ==, "org.mail.Sender.Error.Connection");
	/* not finished, and nothing was sent anywhere */
	g_assert_null(ms_test_signals_get_result(signals, job));

	port_text = g_strdup_printf("%u", port);
	server_args[1] = port_text;
	server = ms_test_server_start("plain", server_args, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(ms_test_server_get_port(server), ==, port);
	g_assert_cmpuint(ms_test_server_count_messages(server), ==, 0);

	g_assert_true(ms_test_signals_wait_finished(signals, job, WAIT_MS));
	assert_sent(signals, job);
	g_assert_cmpuint(get_job_uint(daemon, job, "Attempts"), >=, 2);
	state = get_job_string(daemon, job, "State");
	g_assert_cmpstr(state, ==, "sent");
	g_free(job_error);
	job_error = get_job_string(daemon, job, "Error");
	g_assert_cmpstr(job_error, ==, "");
	/* one or more refused connections, each deferred, then the one that worked */
	stages = ms_test_signals_get_stages(signals, job);
	g_assert_true(g_str_has_prefix(stages, "queued connecting deferred connecting"));
	g_assert_true(g_str_has_suffix(stages, " deferred connecting sending"));

	mails = ms_test_server_wait_for_messages(server, 1, WAIT_MS);
	g_assert_cmpuint(mails->len, ==, 1);
	assert_no_more_messages(server, 1);
	mail = g_ptr_array_index(mails, 0);
	g_assert_cmpstr(mail->mail_from, ==, "sender@example.test");
	g_assert_cmpstrv(mail->rcpt_tos, rcpts_expected);
	g_assert_true(ms_test_bytes_contain(mail->eml, "Subject: hi\r\n"));
	g_assert_true(ms_test_bytes_contain(mail->eml, "\r\n\r\nhello\r\n"));
}

/* 4xx until the retry budget is spent: Failed with Temporary and the server's text */
static void
test_temporary_until_budget_spent(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = ms_test_server_start("greet-421", NULL, &error);
	g_autofree gchar *conf = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(MsTestSignals) signals = NULL;
	g_autofree gchar *job = NULL;
	g_autofree gchar *stages = NULL;

	g_assert_no_error(error);
	conf = ms_test_server_make_conf(server, "security=none\nmax-attempts=2\n");
	daemon = ms_test_daemon_start(conf, &error);
	g_assert_no_error(error);
	signals = ms_test_signals_new(ms_test_daemon_get_bus(daemon));
	job = send_and_wait(daemon, signals, SIMPLE_MESSAGE);
	assert_failed(daemon, signals, job, "org.mail.Sender.Error.Temporary", "421");
	stages = ms_test_signals_get_stages(signals, job);
	g_assert_cmpstr(stages, ==, "queued connecting deferred connecting");
	g_assert_cmpuint(get_job_uint(daemon, job, "Attempts"), ==, 2);
}

static void
test_cancel_deferred(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = ms_test_server_start("greet-421", NULL, &error);
	g_autofree gchar *conf = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(MsTestSignals) signals = NULL;
	g_autoptr(GVariant) ret = NULL;
	g_autofree gchar *job = NULL;
	g_autofree gchar *state = NULL;
	g_autofree gchar *remote = NULL;

	g_assert_no_error(error);
	conf = ms_test_server_make_conf(server, "security=none\nretry-delay=3600\n");
	daemon = ms_test_daemon_start(conf, &error);
	g_assert_no_error(error);
	signals = ms_test_signals_new(ms_test_daemon_get_bus(daemon));
	job = send_text(daemon, SIMPLE_MESSAGE, NULL, &error);
	g_assert_no_error(error);
	/* wait for the deferral */
	for (guint i = 0; i < 300; i++) {
		g_free(state);
		state = get_job_string(daemon, job, "State");
		if (g_str_equal(state, "deferred"))
			break;
		g_usleep(50 * 1000);
		while (g_main_context_iteration(NULL, FALSE))
			;
	}
	g_assert_cmpstr(state, ==, "deferred");
	ret = call_sync(daemon, job, "org.mail.Sender.Job", "Cancel", NULL, &error);
	g_assert_no_error(error);
	g_assert_true(ms_test_signals_wait_finished(signals, job, WAIT_MS));
	g_free(state);
	state = get_job_string(daemon, job, "State");
	g_assert_cmpstr(state, ==, "cancelled");
	g_assert_true(g_str_has_prefix(ms_test_signals_get_result(signals, job),
				       "Failed org.mail.Sender.Error.Cancelled "));
	g_assert_cmpuint(count_files(ms_test_daemon_get_spool_dir(daemon)), ==, 0);
	/* a second Cancel is an error, not a second Failed */
	g_clear_pointer(&ret, g_variant_unref);
	ret = call_sync(daemon, job, "org.mail.Sender.Job", "Cancel", NULL, &error);
	g_assert_null(ret);
	g_assert_nonnull(error);
	remote = g_dbus_error_get_remote_error(error);
	g_assert_cmpstr(remote, ==, "org.mail.Sender.Error.InvalidArgs");
}

/* ---- bad input: a clear error and nothing queued ---- */

static void
test_bad_input(void)
{
	struct {
		const gchar *message;
		const gchar *options;
		const gchar *error_name;
	} cases[] = {
	    {"{'to': <['a@example.test']>, 'subject': <'hi\\r\\nBcc: victim@example.test'>}",
	     NULL,
	     "org.mail.Sender.Error.InvalidMessage"},
	    {"{'to': <['a@example.test\\r\\nRCPT TO:<x@y>']>}",
	     NULL,
	     "org.mail.Sender.Error.InvalidMessage"},
	    {"{'to': <['a@example.test']>, 'from': <'Evil\\nBcc: x@y <e@example.test>'>}",
	     NULL,
	     "org.mail.Sender.Error.InvalidMessage"},
	    {"{'to': <['a@example.test']>, 'headers': <{'X-A': 'b\\r\\nBcc: x@y'}>}",
	     NULL,
	     "org.mail.Sender.Error.InvalidMessage"},
	    {"{'to': <['a@example.test']>, 'headers': <{'X-A\\nB': 'c'}>}",
	     NULL,
	     "org.mail.Sender.Error.InvalidMessage"},
	    {"{'to': <['a@example.test']>, 'reply-to': <'r@example.test\\r\\nX: y'>}",
	     NULL,
	     "org.mail.Sender.Error.InvalidMessage"},
	    {"{'to': <['not an address']>}", NULL, "org.mail.Sender.Error.InvalidMessage"},
	    {"{'to': <['a@@example.test']>}", NULL, "org.mail.Sender.Error.InvalidMessage"},
	    {"{'subject': <'no recipient'>}", NULL, "org.mail.Sender.Error.InvalidMessage"},
	    {"{'to': <'a@example.test'>}", NULL, "org.mail.Sender.Error.InvalidArgs"},
	    {"{'to': <['a@example.test']>, 'colour': <'red'>}",
	     NULL,
	     "org.mail.Sender.Error.InvalidArgs"},
	    {"{'to': <['a@example.test']>, 'attachments': <[{'data': <b'x'>}]>}",
	     NULL,
	     "org.mail.Sender.Error.InvalidArgs"},
	    {"{'to': <['a@example.test']>, 'attachments': <[{'filename': <'a.txt'>, 'data': "
	     "<b'x'>, "
	     "'path': <'/etc/hostname'>}]>}",
	     NULL,
	     "org.mail.Sender.Error.InvalidArgs"},
	    {"{'to': <['a@example.test']>, 'attachments': <[{'filename': <'a.txt'>, 'path': "
	     "<'/nonexistent/file'>}]>}",
	     NULL,
	     "org.mail.Sender.Error.InvalidArgs"},
	    {"{'to': <['a@example.test']>, 'attachments': <[{'filename': <'../etc/passwd'>, "
	     "'data': "
	     "<b'x'>}]>}",
	     NULL,
	     "org.mail.Sender.Error.InvalidMessage"},
	    {"{'to': <['a@example.test']>, 'attachments': <[{'filename': <'a.txt'>, "
	     "'content-type': "
	     "<'text/plain\\r\\nBcc: x@y'>, 'data': <b'x'>}]>}",
	     NULL,
	     "org.mail.Sender.Error.InvalidMessage"},
	    {"{'to': <['a@example.test']>}",
	     "{'priority': <1>}",
	     "org.mail.Sender.Error.InvalidArgs"},
	    {"{'to': <['a@example.test']>}",
	     "{'account': <'nope'>}",
	     "org.mail.Sender.Error.NoSuchAccount"},
	};
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = ms_test_server_start("plain", NULL, &error);
	g_autofree gchar *conf = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(GVariant) jobs = NULL;
	g_autoptr(GVariant) job_list = NULL;
	g_autoptr(GVariant) length = NULL;

	g_assert_no_error(error);
	conf = ms_test_server_make_conf(server, "security=none\n");
	daemon = ms_test_daemon_start(conf, &error);
	g_assert_no_error(error);
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error_local = NULL;
		g_autofree gchar *job =
		    send_text(daemon, cases[i].message, cases[i].options, &error_local);
		g_autofree gchar *remote = NULL;

		g_test_message("case %u: %s", i, cases[i].message);
		g_assert_null(job);
		g_assert_nonnull(error_local);
		remote = g_dbus_error_get_remote_error(error_local);
		g_assert_cmpstr(remote, ==, cases[i].error_name);
		/* the message says what is wrong, and never carries a raw line break */
		g_assert_null(strchr(error_local->message, '\r'));
		g_assert_null(strchr(error_local->message, '\n'));
	}
	jobs = call_sync(daemon, "/org/mail/Sender", "org.mail.Sender", "GetJobs", NULL, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(g_variant_get_type_string(jobs), ==, "(ao)");
	job_list = g_variant_get_child_value(jobs, 0);
	g_assert_cmpuint(g_variant_n_children(job_list), ==, 0);
	length = get_property(daemon, "/org/mail/Sender", "org.mail.Sender", "QueueLength");
	g_assert_cmpuint(g_variant_get_uint32(length), ==, 0);
	g_assert_cmpuint(count_files(ms_test_daemon_get_spool_dir(daemon)), ==, 0);
	g_assert_cmpuint(ms_test_server_count_messages(server), ==, 0);
}

/* ---- start-up validation ---- */

static void
test_invalid_config_refused(void)
{
	struct {
		const gchar *conf;
		const gchar *parts[3];
	} cases[] = {
	    {"[account work]\nhost=smtp.example.org\nsecurity=ssl\n", {"work", "security", "ssl"}},
	    {"[account work]\nhost=smtp.example.org\nhelo_name=x\n", {"work", "helo_name", NULL}},
	    {"[account work]\nport=99999\n", {"work", "port", NULL}},
	    {"[account work]\nauth=kerberos\n", {"work", "auth", NULL}},
	    {"[account work]\nca-file=/nonexistent/ca.pem\n", {"work", "ca-file", NULL}},
	    {"[work]\nhost=x\n", {"work", NULL, NULL}},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = NULL;
		g_autofree gchar *err = NULL;
		g_auto(GStrv) lines = NULL;
		gint status = 0;

		g_test_message("case %u: %s", i, cases[i].conf);
		g_assert_true(
		    ms_test_daemon_start_expect_failure(cases[i].conf, &status, &err, &error));
		g_assert_no_error(error);
		g_assert_cmpint(status, !=, 0);
		g_assert_cmpint(status, <, 128); /* an exit, not a crash */
		lines = g_strsplit(g_strstrip(err), "\n", -1);
		g_assert_cmpuint(g_strv_length(lines), ==, 1);
		g_assert_nonnull(strstr(lines[0], "accounts.conf"));
		for (guint j = 0; j < G_N_ELEMENTS(cases[i].parts) && cases[i].parts[j] != NULL;
		     j++)
			g_assert_nonnull(strstr(lines[0], cases[i].parts[j]));
	}
}

static void
test_properties_and_accounts(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = ms_test_server_start("plain", NULL, &error);
	g_autofree gchar *conf = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(MsTestSignals) signals = NULL;
	g_autoptr(GVariant) accounts = NULL;
	g_autoptr(GVariant) account_dict = NULL;
	g_autoptr(GVariant) account = NULL;
	g_autoptr(GVariant) password = NULL;
	g_autoptr(GVariant) version = NULL;
	g_autoptr(GVariant) recipients = NULL;
	g_autofree gchar *job = NULL;
	g_autofree gchar *sender = NULL;
	const gchar *security = NULL;
	const gchar *expected_rcpts[] = {"a@example.test", "b@example.test", NULL};
	g_autofree const gchar **rcpts = NULL;

	g_assert_no_error(error);
	conf = ms_test_server_make_conf(
	    server,
	    "security=none\n\n[account other]\nhost=smtp.example.org\nusername=me\n");
	daemon = ms_test_daemon_start(conf, &error);
	g_assert_no_error(error);
	version = get_property(daemon, "/org/mail/Sender", "org.mail.Sender", "Version");
	g_assert_cmpstr(g_variant_get_string(version, NULL), ==, PACKAGE_VERSION);

	accounts =
	    call_sync(daemon, "/org/mail/Sender", "org.mail.Sender", "GetAccounts", NULL, &error);
	g_assert_no_error(error);
	account_dict = g_variant_get_child_value(accounts, 0);
	account = g_variant_lookup_value(account_dict, "other", G_VARIANT_TYPE_VARDICT);
	g_assert_nonnull(account);
	g_assert_true(g_variant_lookup(account, "security", "&s", &security));
	g_assert_cmpstr(security, ==, "starttls");
	password = g_variant_lookup_value(account, "password", NULL);
	g_assert_null(password);

	signals = ms_test_signals_new(ms_test_daemon_get_bus(daemon));
	job = send_and_wait(
	    daemon,
	    signals,
	    "{'to': <['a@example.test']>, 'bcc': <['b@example.test']>, 'body': <'x'>}");
	sender = get_job_string(daemon, job, "Sender");
	g_assert_cmpstr(sender, ==, "sender@example.test");
	recipients = get_property(daemon, job, "org.mail.Sender.Job", "Recipients");
	rcpts = g_variant_get_strv(recipients, NULL);
	g_assert_cmpstrv(rcpts, expected_rcpts);
}

/* ---- Verify ---- */

static void
test_verify_implicit_tls(void)
{
	const gchar *args[] = {"--auth", "erin:verify-pass", NULL};
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = ms_test_server_start("implicit-tls", args, &error);
	g_autofree gchar *ca = ca_line();
	g_autofree gchar *extra = NULL;
	g_autofree gchar *conf = NULL;
	g_autofree gchar *pin = cert_sha256("server.pem");
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(GVariant) ret = NULL;
	g_autoptr(GVariant) report = NULL;
	const gchar *value = NULL;
	guint16 port = 0;

	g_assert_no_error(error);
	store_password("default", "127.0.0.1", "erin", "verify-pass");
	extra = g_strdup_printf("security=tls\nusername=erin\n%s", ca);
	conf = ms_test_server_make_conf(server, extra);
	daemon = ms_test_daemon_start(conf, &error);
	g_assert_no_error(error);
	ret = call_sync(daemon,
			"/org/mail/Sender",
			"org.mail.Sender",
			"Verify",
			g_variant_new("(s)", ""),
			&error);
	g_assert_no_error(error);
	report = g_variant_get_child_value(ret, 0);
	g_assert_true(g_variant_lookup(report, "host", "&s", &value));
	g_assert_cmpstr(value, ==, "127.0.0.1");
	g_assert_true(g_variant_lookup(report, "port", "q", &port));
	g_assert_cmpuint(port, ==, ms_test_server_get_port(server));
	g_assert_true(g_variant_lookup(report, "security", "&s", &value));
	g_assert_cmpstr(value, ==, "tls");
	g_assert_true(g_variant_lookup(report, "tls-version", "&s", &value));
	g_assert_cmpstr(value, ==, "TLSv1.3");
	g_assert_true(g_variant_lookup(report, "auth", "&s", &value));
	g_assert_cmpstr(value, ==, "PLAIN");
	g_assert_true(g_variant_lookup(report, "certificate-sha256", "&s", &value));
	g_assert_cmpstr(value, ==, pin);
	g_assert_true(g_variant_lookup(report, "greeting", "&s", &value));
	g_assert_true(g_str_has_prefix(value, "220 "));
	/* Verify sends nothing */
	g_assert_cmpuint(ms_test_server_count_messages(server), ==, 0);
	clear_password("default");
}

static void
test_verify_plaintext_to_tls_port(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = ms_test_server_start("tls-only-silent", NULL, &error);
	g_autofree gchar *conf = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(GVariant) ret = NULL;
	g_autofree gchar *remote = NULL;

	g_assert_no_error(error);
	conf = ms_test_server_make_conf(server, "security=starttls\n");
	daemon = ms_test_daemon_start(conf, &error);
	g_assert_no_error(error);
	ret = call_sync(daemon,
			"/org/mail/Sender",
			"org.mail.Sender",
			"Verify",
			g_variant_new("(s)", "default"),
			&error);
	g_assert_null(ret);
	remote = g_dbus_error_get_remote_error(error);
	g_assert_cmpstr(remote, ==, "org.mail.Sender.Error.Timeout");
	g_assert_nonnull(strstr(error->message, "security=tls"));
}

/* without glib-networking every handshake would fail later: refuse to start instead */
static void
test_no_tls_backend(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new(
	    G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
	g_autoptr(GSubprocess) proc = NULL;
	g_autofree gchar *err = NULL;

	g_subprocess_launcher_setenv(launcher, "GIO_MODULE_DIR", "/nonexistent", TRUE);
	g_subprocess_launcher_setenv(launcher, "GIO_USE_TLS", "", TRUE);
	proc = g_subprocess_launcher_spawn(launcher,
					   &error,
					   g_getenv("MS_DAEMON_PATH"),
					   "--session",
					   "--config",
					   "/nonexistent/accounts.conf",
					   NULL);
	g_assert_no_error(error);
	g_subprocess_communicate_utf8(proc, NULL, NULL, NULL, &err, &error);
	g_assert_no_error(error);
	g_assert_true(ms_test_subprocess_wait(proc, WAIT_MS));
	g_assert_cmpint(ms_test_subprocess_get_status(proc), ==, 1);
	g_assert_nonnull(strstr(err, "glib-networking"));
}

/* ---- durability ---- */

static void
write_conf(MsTestDaemon *daemon, const gchar *conf)
{
	g_autoptr(GError) error = NULL;
	g_file_set_contents(ms_test_daemon_get_config_path(daemon), conf, -1, &error);
	g_assert_no_error(error);
}

/* SIGTERM with queued jobs: exit 0; after the restart the same job paths are delivered */
static void
test_restart_keeps_jobs(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) down = ms_test_server_start("greet-421", NULL, &error);
	g_autoptr(MsTestServer) up = NULL;
	g_autofree gchar *conf = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(MsTestSignals) signals = NULL;
	g_autoptr(GPtrArray) jobs = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) mails = NULL;
	g_autoptr(GVariant) listed = NULL;
	g_autoptr(GVariant) listed_paths = NULL;

	g_assert_no_error(error);
	conf = ms_test_server_make_conf(down, "security=none\nretry-delay=3600\n");
	daemon = ms_test_daemon_start(conf, &error);
	g_assert_no_error(error);
	signals = ms_test_signals_new(ms_test_daemon_get_bus(daemon));
	for (guint i = 0; i < 3; i++) {
		g_autofree gchar *message =
		    g_strdup_printf("{'to': <['rcpt@example.test']>, 'subject': <'restart %u'>}",
				    i);
		gchar *job = send_text(daemon, message, NULL, &error);
		g_assert_no_error(error);
		g_ptr_array_add(jobs, job);
	}
	/* the first is deferred (the server only says 421); the 421 pauses the account, so the
	 * others wait in the queue */
	for (guint j = 0; j < 200; j++) {
		g_autofree gchar *state =
		    get_job_string(daemon, g_ptr_array_index(jobs, 0), "State");
		if (g_str_equal(state, "deferred"))
			break;
		g_usleep(50 * 1000);
	}
	g_assert_cmpuint(get_job_uint(daemon, g_ptr_array_index(jobs, 0), "Attempts"), ==, 1);
	g_assert_cmpint(ms_test_daemon_stop(daemon), ==, 0);
	g_assert_cmpuint(count_queued_jobs(ms_test_daemon_get_spool_dir(daemon)), ==, 3);

	up = ms_test_server_start("plain", NULL, &error);
	g_assert_no_error(error);
	g_free(conf);
	conf = ms_test_server_make_conf(up, "security=none\n");
	write_conf(daemon, conf);
	g_assert_true(ms_test_daemon_restart(daemon, &error));
	g_assert_no_error(error);
	/* the restarted daemon knows the jobs under the same paths, and delivers each once */
	listed = call_sync(daemon, "/org/mail/Sender", "org.mail.Sender", "GetJobs", NULL, &error);
	g_assert_no_error(error);
	listed_paths = g_variant_get_child_value(listed, 0);
	for (guint i = 0; i < jobs->len; i++) {
		const gchar *job = g_ptr_array_index(jobs, i);
		gboolean found = FALSE;
		for (gsize j = 0; j < g_variant_n_children(listed_paths); j++) {
			g_autoptr(GVariant) path = g_variant_get_child_value(listed_paths, j);
			if (g_str_equal(g_variant_get_string(path, NULL), job))
				found = TRUE;
		}
		g_assert_true(found);
		g_assert_true(ms_test_signals_wait_finished(signals, job, WAIT_MS));
		g_assert_true(
		    g_str_has_prefix(ms_test_signals_get_result(signals, job), "Sent 250"));
	}
	mails = ms_test_server_wait_for_messages(up, 3, WAIT_MS);
	g_assert_cmpuint(mails->len, ==, 3);
	g_usleep(300 * 1000);
	g_assert_cmpuint(ms_test_server_count_messages(up), ==, 3);
	g_assert_cmpuint(count_files(ms_test_daemon_get_spool_dir(daemon)), ==, 0);
}

typedef struct {
	GDBusConnection *bus;
	guint outstanding;
	guint replied;
	guint next_seq;
	gboolean killed;
	GPtrArray *accepted; /* "seq path" */
} StormState;

typedef struct {
	StormState *state;
	guint seq;
} StormCall;

static void
storm_send(StormState *state);

static void
storm_send_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	StormCall *call = user_data;
	StormState *state = call->state;
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) ret =
	    g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, &error);

	state->outstanding--;
	if (ret != NULL) {
		const gchar *path = NULL;
		g_variant_get(ret, "(&o)", &path);
		g_ptr_array_add(state->accepted, g_strdup_printf("%u %s", call->seq, path));
		state->replied++;
	}
	g_free(call);
	if (!state->killed && state->next_seq < 100)
		storm_send(state);
}

/* one submission, a unique X-Seq header to recognise it by */
static void
storm_send(StormState *state)
{
	g_autoptr(GError) error = NULL;
	StormCall *call = g_new0(StormCall, 1);
	g_autofree gchar *text = g_strdup_printf(
	    "{'to': <['rcpt@example.test']>, 'subject': <'storm'>, 'headers': <{'X-Seq': '%u'}>}",
	    state->next_seq);
	GVariant *msg = g_variant_parse(G_VARIANT_TYPE_VARDICT, text, NULL, NULL, &error);

	g_assert_no_error(error);
	call->state = state;
	call->seq = state->next_seq++;
	state->outstanding++;
	g_dbus_connection_call(state->bus,
			       "org.mail.Sender",
			       "/org/mail/Sender",
			       "org.mail.Sender",
			       "Send",
			       g_variant_new("(@a{sv}a{sv})", msg, NULL),
			       G_VARIANT_TYPE("(o)"),
			       G_DBUS_CALL_FLAGS_NONE,
			       WAIT_MS,
			       NULL,
			       storm_send_cb,
			       call);
}

static gboolean
storm_all_done(gpointer user_data)
{
	StormState *state = user_data;
	return state->outstanding == 0;
}

static gboolean
storm_half_replied(gpointer user_data)
{
	StormState *state = user_data;
	return state->replied >= 40 || state->outstanding == 0;
}

/* kill -9 in the middle of a stream of submissions: every message whose Send returned a job is
 * delivered after the restart (possibly twice, never zero times) */
static void
test_kill_during_submissions(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = ms_test_server_start("plain", NULL, &error);
	g_autofree gchar *conf = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(GPtrArray) mails = NULL;
	g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	StormState state = {0};
	guint delivered_accepted = 0;

	g_assert_no_error(error);
	conf = ms_test_server_make_conf(server, "security=none\n");
	daemon = ms_test_daemon_start(conf, &error);
	g_assert_no_error(error);
	state.accepted = g_ptr_array_new_with_free_func(g_free);
	state.bus = ms_test_daemon_get_bus(daemon);
	/* a stream: at most 8 submissions in flight, as busy callers would have */
	for (guint i = 0; i < 8; i++)
		storm_send(&state);
	g_assert_true(ms_test_wait_until(storm_half_replied, &state, WAIT_MS));
	state.killed = TRUE;
	ms_test_daemon_kill(daemon);
	g_assert_true(ms_test_wait_until(storm_all_done, &state, WAIT_MS));
	g_test_message("%u of %u submissions were accepted before the kill",
		       state.accepted->len,
		       state.next_seq);
	g_assert_cmpuint(state.accepted->len, >=, 40);
	g_assert_cmpuint(state.accepted->len, <, 100);

	g_assert_true(ms_test_daemon_restart(daemon, &error));
	g_assert_no_error(error);
	/* committed jobs whose reply the kill swallowed are delivered too, so wait for the
	 * accepted ones by name rather than for a count */
	for (guint round = 0; round < 60; round++) {
		g_clear_pointer(&mails, g_ptr_array_unref);
		g_hash_table_remove_all(seen);
		mails = ms_test_server_wait_for_messages(server, state.accepted->len, 500);
		for (guint i = 0; i < mails->len; i++) {
			MsTestMail *mail = g_ptr_array_index(mails, i);
			gsize len = 0;
			const gchar *data = g_bytes_get_data(mail->eml, &len);
			const gchar *hdr = g_strstr_len(data, (gssize)len, "X-Seq: ");
			g_assert_nonnull(hdr);
			g_hash_table_add(seen, g_strndup(hdr + 7, strcspn(hdr + 7, "\r")));
		}
		delivered_accepted = 0;
		for (guint i = 0; i < state.accepted->len; i++) {
			g_auto(GStrv) parts =
			    g_strsplit(g_ptr_array_index(state.accepted, i), " ", 2);
			if (g_hash_table_contains(seen, parts[0]))
				delivered_accepted++;
		}
		if (delivered_accepted == state.accepted->len)
			break;
	}
	delivered_accepted = 0;
	for (guint i = 0; i < state.accepted->len; i++) {
		g_auto(GStrv) parts = g_strsplit(g_ptr_array_index(state.accepted, i), " ", 2);
		if (!g_hash_table_contains(seen, parts[0]))
			g_error("accepted message %s (%s) was never delivered", parts[0], parts[1]);
		delivered_accepted++;
	}
	g_test_message("%u messages delivered for %u accepted (duplicates: %u)",
		       mails->len,
		       delivered_accepted,
		       mails->len - g_hash_table_size(seen));
	/* a duplicate is only possible for a message whose 250 arrived just before the kill */
	g_assert_cmpuint(mails->len - g_hash_table_size(seen), <=, 2);
	g_ptr_array_unref(state.accepted);
}

/* a spool that cannot be written: Storage error, nothing queued, nothing sent */
static void
test_unwritable_spool(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = ms_test_server_start("plain", NULL, &error);
	g_autofree gchar *conf = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autofree gchar *tmp = NULL;
	g_autofree gchar *job = NULL;
	g_autofree gchar *remote = NULL;

	g_assert_no_error(error);
	conf = ms_test_server_make_conf(server, "security=none\n");
	daemon = ms_test_daemon_start(conf, &error);
	g_assert_no_error(error);
	/* tests run as root, which ignores permissions: a file where tmp/ should be makes every
	 * write fail the way a full or read-only disk does */
	tmp = g_build_filename(ms_test_daemon_get_spool_dir(daemon), "tmp", NULL);
	g_assert_no_errno(g_rmdir(tmp));
	g_file_set_contents(tmp, "", 0, &error);
	g_assert_no_error(error);
	job = send_text(daemon, SIMPLE_MESSAGE, NULL, &error);
	g_assert_null(job);
	remote = g_dbus_error_get_remote_error(error);
	g_assert_cmpstr(remote, ==, "org.mail.Sender.Error.Storage");
	g_assert_nonnull(strstr(error->message, "spool"));
	g_assert_cmpuint(count_dir(ms_test_daemon_get_spool_dir(daemon), FALSE), ==, 0);
	g_usleep(300 * 1000);
	g_assert_cmpuint(ms_test_server_count_messages(server), ==, 0);
	g_assert_no_errno(g_unlink(tmp));
	g_assert_no_errno(g_mkdir(tmp, 0700));
}

/* rate-limit=2: the third message of the minute waits in the queue */
static void
test_account_rate_limit(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = ms_test_server_start("plain", NULL, &error);
	g_autofree gchar *conf = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(MsTestSignals) signals = NULL;
	g_autoptr(GPtrArray) mails = NULL;
	g_autofree gchar *job1 = NULL;
	g_autofree gchar *job2 = NULL;
	g_autofree gchar *job3 = NULL;
	g_autofree gchar *state = NULL;

	g_assert_no_error(error);
	conf = ms_test_server_make_conf(server, "security=none\nrate-limit=2\n");
	daemon = ms_test_daemon_start(conf, &error);
	g_assert_no_error(error);
	signals = ms_test_signals_new(ms_test_daemon_get_bus(daemon));
	job1 = send_and_wait(daemon, signals, SIMPLE_MESSAGE);
	job2 = send_and_wait(daemon, signals, SIMPLE_MESSAGE);
	job3 = send_text(daemon, SIMPLE_MESSAGE, NULL, &error);
	g_assert_no_error(error);
	/* not finished within two seconds: it waits for the minute to pass */
	g_assert_false(ms_test_signals_wait_finished(signals, job3, 2000));
	state = get_job_string(daemon, job3, "State");
	g_assert_cmpstr(state, ==, "queued");
	mails = ms_test_server_wait_for_messages(server, 2, WAIT_MS);
	g_assert_cmpuint(mails->len, ==, 2);
	g_assert_cmpuint(ms_test_server_count_messages(server), ==, 2);
}

/* ---- Notify ---- */

static gchar *
notify_sync(MsTestDaemon *daemon, const gchar *subject, const gchar *hints, GError **error)
{
	g_autoptr(GError) error_parse = NULL;
	GVariant *h = g_variant_parse(G_VARIANT_TYPE_VARDICT, hints, NULL, NULL, &error_parse);
	g_autoptr(GVariant) ret = NULL;
	gchar *path = NULL;

	g_assert_no_error(error_parse);
	ret = call_sync(
	    daemon,
	    "/org/mail/Sender",
	    "org.mail.Sender",
	    "Notify",
	    g_variant_new("(ss@a{sv})", subject, "sda reports pending sectors\nline 2", h),
	    error);
	if (ret == NULL)
		return NULL;
	g_variant_get(ret, "(o)", &path);
	return path;
}

/* 50 notifications in one window: the first at once, the other 49 in one digest */
static void
test_notify_storm(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = ms_test_server_start("plain", NULL, &error);
	g_autofree gchar *conf = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(MsTestSignals) signals = NULL;
	g_autoptr(GPtrArray) mails = NULL;
	g_autofree gchar *first = NULL;
	g_autofree gchar *digest = NULL;
	const gchar *rcpts[] = {"admin@example.test", "oncall@example.test", NULL};

	g_assert_no_error(error);
	conf = ms_test_server_make_conf(
	    server,
	    "security=none\nnotify-to=admin@example.test, On Call <oncall@example.test>\n"
	    "notify-coalesce=2\n");
	daemon = ms_test_daemon_start(conf, &error);
	g_assert_no_error(error);
	signals = ms_test_signals_new(ms_test_daemon_get_bus(daemon));
	first = notify_sync(daemon, "disk failing", "{}", &error);
	g_assert_no_error(error);
	for (guint i = 1; i < 50; i++) {
		g_autofree gchar *job = notify_sync(daemon, "disk failing", "{}", &error);
		g_assert_no_error(error);
		g_assert_cmpstr(job, !=, first);
		if (digest == NULL)
			digest = g_strdup(job);
		/* every merged caller gets the digest's path */
		g_assert_cmpstr(job, ==, digest);
	}
	g_assert_true(ms_test_signals_wait_finished(signals, first, WAIT_MS));
	g_assert_true(ms_test_signals_wait_finished(signals, digest, WAIT_MS));
	g_assert_true(g_str_has_prefix(ms_test_signals_get_result(signals, digest), "Sent 250"));
	mails = ms_test_server_wait_for_messages(server, 2, WAIT_MS);
	g_assert_cmpuint(mails->len, ==, 2);
	g_usleep(500 * 1000);
	g_assert_cmpuint(ms_test_server_count_messages(server), ==, 2);
	g_assert_cmpstrv(((MsTestMail *)g_ptr_array_index(mails, 0))->rcpt_tos, rcpts);
	g_assert_true(ms_test_bytes_contain(((MsTestMail *)g_ptr_array_index(mails, 0))->eml,
					    "Subject: disk failing\r\n"));
	g_assert_true(ms_test_bytes_contain(((MsTestMail *)g_ptr_array_index(mails, 1))->eml,
					    "Subject: disk failing (repeated 49 times)"));
	g_assert_true(ms_test_bytes_contain(((MsTestMail *)g_ptr_array_index(mails, 1))->eml,
					    "sda reports pending sectors"));
}

static void
test_notify_critical_never_merged(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = ms_test_server_start("plain", NULL, &error);
	g_autofree gchar *conf = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(MsTestSignals) signals = NULL;
	g_autoptr(GPtrArray) mails = NULL;
	g_autoptr(GHashTable) paths = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

	g_assert_no_error(error);
	conf = ms_test_server_make_conf(
	    server,
	    "security=none\nnotify-to=admin@example.test\nnotify-coalesce=60\n");
	daemon = ms_test_daemon_start(conf, &error);
	g_assert_no_error(error);
	signals = ms_test_signals_new(ms_test_daemon_get_bus(daemon));
	for (guint i = 0; i < 3; i++) {
		gchar *job =
		    notify_sync(daemon, "raid degraded", "{'urgency': <'critical'>}", &error);
		g_assert_no_error(error);
		g_assert_true(ms_test_signals_wait_finished(signals, job, WAIT_MS));
		g_hash_table_add(paths, job);
	}
	g_assert_cmpuint(g_hash_table_size(paths), ==, 3);
	mails = ms_test_server_wait_for_messages(server, 3, WAIT_MS);
	g_assert_cmpuint(mails->len, ==, 3);
	g_assert_true(ms_test_bytes_contain(((MsTestMail *)g_ptr_array_index(mails, 2))->eml,
					    "Importance: high\r\n"));
}

static void
test_notify_without_notify_to(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = ms_test_server_start("plain", NULL, &error);
	g_autofree gchar *conf = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autofree gchar *job = NULL;
	g_autofree gchar *remote = NULL;

	g_assert_no_error(error);
	conf = ms_test_server_make_conf(
	    server,
	    "security=none\n\n[account ops]\nhost=127.0.0.1\nnotify-to=ops@example.test\n");
	daemon = ms_test_daemon_start(conf, &error);
	g_assert_no_error(error);
	job = notify_sync(daemon, "x", "{}", &error);
	g_assert_null(job);
	remote = g_dbus_error_get_remote_error(error);
	g_assert_cmpstr(remote, ==, "org.mail.Sender.Error.InvalidArgs");
	g_assert_nonnull(strstr(error->message, "notify-to"));
	g_clear_error(&error);
	g_free(job);
	job = notify_sync(daemon, "x", "{'account': <'ops'>, 'urgency': <'panic'>}", &error);
	g_assert_null(job);
	g_free(remote);
	remote = g_dbus_error_get_remote_error(error);
	g_assert_cmpstr(remote, ==, "org.mail.Sender.Error.InvalidArgs");
	g_assert_nonnull(strstr(error->message, "panic"));
}

/* ---- SendRaw, SendRawFd ---- */

static gchar *
send_raw(MsTestDaemon *daemon, const gchar *raw, gsize len, const gchar *options, GError **error)
{
	g_autoptr(GError) error_parse = NULL;
	GVariant *opts = g_variant_parse(G_VARIANT_TYPE_VARDICT, options, NULL, NULL, &error_parse);
	g_autoptr(GVariant) ret = NULL;
	gchar *path = NULL;

	g_assert_no_error(error_parse);
	ret = call_sync(daemon,
			"/org/mail/Sender",
			"org.mail.Sender",
			"SendRaw",
			g_variant_new("(@ay@a{sv})",
				      g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, raw, len, 1),
				      opts),
			error);
	if (ret == NULL)
		return NULL;
	g_variant_get(ret, "(o)", &path);
	return path;
}

#define RAW_MESSAGE                                                                                \
	"From: Raw Sender <raw@example.test>\n"                                                    \
	"To: to@example.test\n"                                                                    \
	"Cc: \"Doe, Jane\" <cc@example.test>\n"                                                    \
	"Bcc: secret@example.test,\n"                                                              \
	" other-secret@example.test\n"                                                             \
	"Subject: raw\n"                                                                           \
	"\n"                                                                                       \
	"line one\n"                                                                               \
	".leading dot\n"                                                                           \
	"last line without newline"

static void
test_send_raw_recipients_from_headers(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = ms_test_server_start("plain", NULL, &error);
	g_autofree gchar *conf = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(MsTestSignals) signals = NULL;
	g_autoptr(GPtrArray) mails = NULL;
	g_autofree gchar *job = NULL;
	MsTestMail *mail;
	const gchar *rcpts[] = {"to@example.test",
				"cc@example.test",
				"secret@example.test",
				"other-secret@example.test",
				NULL};

	g_assert_no_error(error);
	conf = ms_test_server_make_conf(server, "security=none\n");
	daemon = ms_test_daemon_start(conf, &error);
	g_assert_no_error(error);
	signals = ms_test_signals_new(ms_test_daemon_get_bus(daemon));
	job = send_raw(daemon, RAW_MESSAGE, strlen(RAW_MESSAGE), "{}", &error);
	g_assert_no_error(error);
	g_assert_true(ms_test_signals_wait_finished(signals, job, WAIT_MS));
	mails = ms_test_server_wait_for_messages(server, 1, WAIT_MS);
	g_assert_cmpuint(mails->len, ==, 1);
	mail = g_ptr_array_index(mails, 0);
	g_assert_cmpstrv(mail->rcpt_tos, rcpts);
	g_assert_cmpstr(mail->mail_from, ==, "sender@example.test");
	g_assert_false(ms_test_bytes_contain(mail->eml, "secret"));
	g_assert_false(ms_test_bytes_contain(mail->eml, "Bcc"));
	g_assert_true(ms_test_bytes_contain(mail->eml, "From: Raw Sender <raw@example.test>\r\n"));
	g_assert_true(ms_test_bytes_contain(mail->eml, "\r\nDate: "));
	g_assert_true(ms_test_bytes_contain(mail->eml, "\r\nMessage-ID: <"));
	g_assert_true(
	    ms_test_bytes_contain(mail->eml,
				  "\r\n\r\nline one\r\n.leading dot\r\nlast line without newline"));
}

static void
test_send_raw_fd_explicit_recipients(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = ms_test_server_start("plain", NULL, &error);
	g_autofree gchar *conf = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(MsTestSignals) signals = NULL;
	g_autoptr(GPtrArray) mails = NULL;
	g_autoptr(GUnixFDList) fds = g_unix_fd_list_new();
	g_autoptr(GVariant) ret = NULL;
	g_autofree gchar *path = NULL;
	g_autofree gchar *tmpname = NULL;
	MsTestMail *mail;
	const gchar *rcpts[] = {"only@example.test", NULL};
	gint fd;

	g_assert_no_error(error);
	conf = ms_test_server_make_conf(server, "security=none\n");
	daemon = ms_test_daemon_start(conf, &error);
	g_assert_no_error(error);
	signals = ms_test_signals_new(ms_test_daemon_get_bus(daemon));
	fd = g_file_open_tmp("ms-raw-XXXXXX", &tmpname, &error);
	g_assert_no_error(error);
	g_assert_cmpint(write(fd, RAW_MESSAGE, strlen(RAW_MESSAGE)),
			==,
			(gssize)strlen(RAW_MESSAGE));
	g_assert_cmpint(lseek(fd, 0, SEEK_SET), ==, 0);
	g_unix_fd_list_append(fds, fd, &error);
	g_assert_no_error(error);
	close(fd);
	g_unlink(tmpname);
	ret = g_dbus_connection_call_with_unix_fd_list_sync(
	    ms_test_daemon_get_bus(daemon),
	    "org.mail.Sender",
	    "/org/mail/Sender",
	    "org.mail.Sender",
	    "SendRawFd",
	    g_variant_new_parsed(
		"(@h 0, {'to': <['only@example.test']>, 'from': <'env@example.test'>})"),
	    G_VARIANT_TYPE("(o)"),
	    G_DBUS_CALL_FLAGS_NONE,
	    WAIT_MS,
	    fds,
	    NULL,
	    NULL,
	    &error);
	g_assert_no_error(error);
	g_variant_get(ret, "(o)", &path);
	g_assert_true(ms_test_signals_wait_finished(signals, path, WAIT_MS));
	mails = ms_test_server_wait_for_messages(server, 1, WAIT_MS);
	g_assert_cmpuint(mails->len, ==, 1);
	mail = g_ptr_array_index(mails, 0);
	/* explicit recipients: the headers do not add any */
	g_assert_cmpstrv(mail->rcpt_tos, rcpts);
	g_assert_cmpstr(mail->mail_from, ==, "env@example.test");
	g_assert_false(ms_test_bytes_contain(mail->eml, "Bcc"));
}

static void
test_send_raw_refused(void)
{
	struct {
		const gchar *raw;
		gsize len;
		const gchar *options;
	} cases[] = {
	    {"just some text without headers\n", 31, "{}"},
	    {"Subject: no separator and no body", 33, "{}"},
	    {"To: a@example.test\n\nnul\0byte", 28, "{}"},
	    {"Subject: no recipient\n\nbody\n", 28, "{}"},
	    {"To: a@example.test\n\nbody\n", 25, "{'to': <['bad address']>}"},
	    {"", 0, "{}"},
	};
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = ms_test_server_start("plain", NULL, &error);
	g_autofree gchar *conf = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;

	g_assert_no_error(error);
	conf = ms_test_server_make_conf(server, "security=none\n");
	daemon = ms_test_daemon_start(conf, &error);
	g_assert_no_error(error);
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error_local = NULL;
		g_autofree gchar *job =
		    send_raw(daemon, cases[i].raw, cases[i].len, cases[i].options, &error_local);
		g_autofree gchar *remote = NULL;

		g_test_message("case %u", i);
		g_assert_null(job);
		remote = g_dbus_error_get_remote_error(error_local);
		g_assert_cmpstr(remote, ==, "org.mail.Sender.Error.InvalidMessage");
	}
	g_assert_cmpuint(count_files(ms_test_daemon_get_spool_dir(daemon)), ==, 0);
	g_assert_cmpuint(ms_test_server_count_messages(server), ==, 0);
}

/* ---- SendRawFd of messages over 1 MiB: streamed into the spool ---- */

/* the daemon reads a message in pieces of this size; the inputs below put edge cases (a CRLF
 * split in two, a '.' as the last octet) at its multiples, where pieces of a file meet */
#define RAW_FD_CHUNK (64 * 1024)

static void
write_all_or_die(gint fd, const guint8 *data, gsize len)
{
	while (len > 0) {
		gssize n = write(fd, data, MIN(len, (gsize)1024 * 1024));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			g_error("write: %s", g_strerror(errno));
		data += n;
		len -= (gsize)n;
	}
}

/* an unlinked temporary file holding data, read from its start */
static gint
raw_fd_from_file(const GByteArray *data)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *name = NULL;
	gint fd = g_file_open_tmp("ms-raw-stream-XXXXXX", &name, &error);

	g_assert_no_error(error);
	g_assert_cmpint(g_unlink(name), ==, 0);
	write_all_or_die(fd, data->data, data->len);
	g_assert_cmpint(lseek(fd, 0, SEEK_SET), ==, 0);
	return fd;
}

/* the write end of a pipe, fed by a thread while the daemon reads the other end */
typedef struct {
	gint fd;
	const guint8 *data;
	gsize len;
	gsize written;
	gint errsv;
} PipeFeed;

static gpointer
pipe_feed_thread(gpointer user_data)
{
	PipeFeed *feed = user_data;
	struct timespec no_wait = {0, 0};
	sigset_t pipe_signal;

	/* a reader that stops early gives EPIPE here rather than killing the test */
	sigemptyset(&pipe_signal);
	sigaddset(&pipe_signal, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_signal, NULL);
	while (feed->written < feed->len) {
		struct pollfd pfd = {feed->fd, POLLOUT, 0};
		gssize n;

		/* bounded: a daemon that stops reading must not hang the test */
		if (poll(&pfd, 1, WAIT_MS) <= 0) {
			feed->errsv = ETIMEDOUT;
			break;
		}
		n = write(feed->fd,
			  feed->data + feed->written,
			  MIN(feed->len - feed->written, (gsize)RAW_FD_CHUNK));
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0) {
			feed->errsv = errno;
			break;
		}
		feed->written += (gsize)n;
	}
	close(feed->fd);
	sigtimedwait(&pipe_signal, NULL, &no_wait);
	return NULL;
}

/* SendRawFd with fd (which stays the caller's to close) and options as GVariant text */
static gchar *
send_raw_fd(MsTestDaemon *daemon, gint fd, const gchar *options, GError **error)
{
	g_autoptr(GError) error_local = NULL;
	g_autoptr(GUnixFDList) fds = g_unix_fd_list_new();
	g_autoptr(GVariant) opts =
	    g_variant_parse(G_VARIANT_TYPE_VARDICT, options, NULL, NULL, &error_local);
	g_autoptr(GVariant) ret = NULL;
	gchar *path = NULL;

	g_assert_no_error(error_local);
	g_assert_cmpint(g_unix_fd_list_append(fds, fd, &error_local), ==, 0);
	g_assert_no_error(error_local);
	ret = g_dbus_connection_call_with_unix_fd_list_sync(ms_test_daemon_get_bus(daemon),
							    "org.mail.Sender",
							    "/org/mail/Sender",
							    "org.mail.Sender",
							    "SendRawFd",
							    g_variant_new("(h@a{sv})", 0, opts),
							    G_VARIANT_TYPE("(o)"),
							    G_DBUS_CALL_FLAGS_NONE,
							    WAIT_MS,
							    fds,
							    NULL,
							    NULL,
							    error);
	if (ret == NULL)
		return NULL;
	g_variant_get(ret, "(o)", &path);
	return path;
}

/* what a body should become, worked out independently of the daemon: every line end (CRLF,
 * bare LF, bare CR) a CRLF, a last line without one given it; with dot_ends everything from a
 * line that is a single '.' on dropped */
static GByteArray *
normalize_body(const guint8 *data, gsize len, gboolean dot_ends)
{
	GByteArray *out = g_byte_array_sized_new((guint)(len + len / 8));
	gsize pos = 0;

	while (pos < len) {
		gsize end = pos;

		while (end < len && data[end] != '\r' && data[end] != '\n')
			end++;
		if (dot_ends && end - pos == 1 && data[pos] == '.')
			break;
		g_byte_array_append(out, data + pos, (guint)(end - pos));
		g_byte_array_append(out, (const guint8 *)"\r\n", 2);
		if (end == len)
			break;
		pos = end + (data[end] == '\r' && end + 1 < len && data[end + 1] == '\n' ? 2 : 1);
	}
	return out;
}

static guint
count_jobs(MsTestDaemon *daemon)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) ret =
	    call_sync(daemon, "/org/mail/Sender", "org.mail.Sender", "GetJobs", NULL, &error);
	g_autoptr(GVariant) list = NULL;

	g_assert_no_error(error);
	list = g_variant_get_child_value(ret, 0);
	return (guint)g_variant_n_children(list);
}

/* the header section of a delivered message (up to and including the CRLF of its last field),
 * and where its body starts */
static gchar *
eml_split(GBytes *eml, const guint8 **body, gsize *body_len)
{
	gsize len = 0;
	const gchar *data = g_bytes_get_data(eml, &len);
	const gchar *sep = g_strstr_len(data, (gssize)len, "\r\n\r\n");

	g_assert_nonnull(sep);
	*body = (const guint8 *)sep + 4;
	*body_len = len - (gsize)(sep + 4 - data);
	return g_strndup(data, (gsize)(sep + 2 - data));
}

/* the body delivered is expected, octet for octet; says where it is not */
static void
assert_body_equal(const guint8 *body, gsize body_len, const GByteArray *expected)
{
	gsize i = 0;
	gsize from;
	g_autofree gchar *got = NULL;
	g_autofree gchar *want = NULL;
	g_autofree gchar *got_text = NULL;
	g_autofree gchar *want_text = NULL;

	while (i < body_len && i < expected->len && body[i] == expected->data[i])
		i++;
	if (i == body_len && i == expected->len)
		return;
	from = i > 40 ? i - 40 : 0;
	got_text = g_strndup((const gchar *)body + from, MIN(body_len - from, 80));
	want_text = g_strndup((const gchar *)expected->data + from, MIN(expected->len - from, 80));
	got = g_strescape(got_text, "\xc2\xb5");
	want = g_strescape(want_text, "\xc2\xb5");
	g_error("the delivered body (%" G_GSIZE_FORMAT " octets) differs from the expected one "
		"(%u octets) at octet %" G_GSIZE_FORMAT ":\n  got      '%s'\n  expected '%s'",
		body_len,
		expected->len,
		i,
		got,
		want);
}

static void
assert_ends_with(const guint8 *data, gsize len, const gchar *suffix)
{
	gsize n = strlen(suffix);

	g_assert_cmpuint(len, >=, n);
	g_assert_cmpmem(data + len - n, n, suffix, n);
}

/* MAIL FROM's SIZE is the size of the spooled message: it is the size of what was delivered,
 * so the spool holds the normalized message (the SMTP client would make the line ends CRLF on
 * the wire anyway, so the delivered bytes alone do not show it) */
static void
assert_spooled_as_delivered(MsTestMail *mail)
{
	g_autofree gchar *size =
	    g_strdup_printf("SIZE=%" G_GSIZE_FORMAT, g_bytes_get_size(mail->eml));

	if (!g_strv_contains((const gchar *const *)mail->mail_options, size)) {
		g_autofree gchar *options = g_strjoinv(" ", mail->mail_options);
		g_error("expected %s in the MAIL FROM parameters: %s", size, options);
	}
}

/* a line of n octets of c and line end eol */
static void
append_line(GByteArray *msg, guint8 c, gsize n, const gchar *eol)
{
	gsize at = msg->len;

	g_byte_array_set_size(msg, (guint)(at + n));
	memset(msg->data + at, c, n);
	g_byte_array_append(msg, (const guint8 *)eol, (guint)strlen(eol));
}

static void
append_text(GByteArray *msg, const gchar *text)
{
	g_byte_array_append(msg, (const guint8 *)text, (guint)strlen(text));
}

/* a ~3 MiB message: every kind of line end, lines with leading dots (a lone '.' too: without
 * sendmail-dot it is text), empty lines, a line of exactly 998 octets, UTF-8 only far beyond
 * the first MiB (so that only the streaming part can see it), at every 64 KiB boundary a
 * CRLF split in two, a bare CR or a leading '.' cut off from the rest of its line, and no line
 * end after the last line */
static GByteArray *
make_streamed_message(const gchar *token, gsize *body_start)
{
	GByteArray *msg = g_byte_array_new();
	g_autofree gchar *headers = g_strdup_printf("From: Stream Sender <stream@example.test>\n"
						    "To: Big Rcpt <big@example.test>,\r\n"
						    " second@example.test\r\n"
						    "Subject: streamed %s\n"
						    "Bcc: hidden-%s@example.test\n"
						    "MIME-Version: 1.0\r\n"
						    "Content-Type: text/plain; charset=utf-8\n"
						    "Content-Transfer-Encoding: 8bit\n"
						    "\n",
						    token,
						    token);
	const gchar *eols[] = {"\n", "\r\n", "\r"};
	gboolean long_line_done = FALSE;

	append_text(msg, headers);
	*body_start = msg->len;
	for (guint i = 0; msg->len < 3 * 1024 * 1024; i++) {
		gsize boundary = (msg->len / RAW_FD_CHUNK + 1) * RAW_FD_CHUNK;
		g_autofree gchar *line = NULL;

		if (boundary - msg->len <= 900) {
			guint kind = (guint)(boundary / RAW_FD_CHUNK) % 4;

			if (kind >= 2 && boundary - msg->len >= 2) {
				/* a '.' that starts a line as the last octet of a piece, the rest
				 * of its line (or just its line end: a lone '.') in the next one */
				append_line(msg, 'b', boundary - msg->len - 2, "\n");
				append_text(msg,
					    kind == 2 ? ".dot split from its line\n" : ".\r\n");
			} else {
				/* a CR as the last octet of a piece, its LF (or the next line) in
				 * the next one */
				append_line(msg,
					    'a' + (guint8)(i % 26),
					    boundary - msg->len - 1,
					    "\r");
				append_text(msg, kind == 0 ? "\n" : ".after a bare CR\n");
			}
			continue;
		}
		if (!long_line_done && msg->len > 2 * 1024 * 1024 + 200 * 1024) {
			append_line(msg, 'L', 998, "\r\n");
			long_line_done = TRUE;
			continue;
		}
		switch (i % 9) {
		case 0:
			line = g_strdup_printf(".leading dot, line %u", i);
			break;
		case 1:
			line = g_strdup_printf("..two dots, line %u", i);
			break;
		case 2:
			line = g_strdup(".");
			break;
		case 3:
			line = g_strdup("");
			break;
		case 4:
			line = msg->len > 1536 * 1024
				   ? g_strdup_printf("Grüße aus Köln, 你好, ☃ line %u", i)
				   : g_strdup_printf("plain ascii %u", i);
			break;
		case 5:
			line = g_strdup_printf("trailing blanks \t line %u  ", i);
			break;
		default:
			line =
			    g_strdup_printf("line %u: The quick brown fox jumps over the lazy dog",
					    i);
			break;
		}
		append_text(msg, line);
		append_text(msg, eols[i % G_N_ELEMENTS(eols)]);
	}
	g_assert_true(long_line_done);
	append_text(msg, "the last line, without a line end: Tschüß");
	return msg;
}

static void
test_send_raw_fd_streamed(void)
{
	/* through an unlinked file, whose pieces meet at 64 KiB boundaries, and through a pipe
	 * written by a thread, which gives what it has */
	for (guint use_pipe = 0; use_pipe < 2; use_pipe++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(MsTestServer) server = ms_test_server_start("plain", NULL, &error);
		g_autofree gchar *conf = NULL;
		g_autoptr(MsTestDaemon) daemon = NULL;
		g_autoptr(MsTestSignals) signals = NULL;
		g_autoptr(GPtrArray) mails = NULL;
		g_autofree gchar *token = g_strdup_printf("tok%08x", g_random_int());
		g_autofree gchar *hidden = g_strdup_printf("hidden-%s@example.test", token);
		g_autofree gchar *subject = g_strdup_printf("\r\nSubject: streamed %s\r\n", token);
		g_autofree gchar *job = NULL;
		g_autofree gchar *headers = NULL;
		g_autoptr(GByteArray) msg = NULL;
		g_autoptr(GByteArray) expected = NULL;
		GThread *feeder = NULL;
		PipeFeed feed = {-1, NULL, 0, 0, 0};
		const gchar *rcpts[] = {"big@example.test", "second@example.test", hidden, NULL};
		const gchar *result;
		const guint8 *body;
		gsize body_len = 0;
		gsize body_start = 0;
		MsTestMail *mail;
		gint fd;

		g_test_message("through a %s", use_pipe ? "pipe" : "file");
		g_assert_no_error(error);
		conf = ms_test_server_make_conf(server, "security=none\n" ONE_ATTEMPT);
		daemon = ms_test_daemon_start(conf, &error);
		g_assert_no_error(error);
		signals = ms_test_signals_new(ms_test_daemon_get_bus(daemon));
		msg = make_streamed_message(token, &body_start);
		expected = normalize_body(msg->data + body_start, msg->len - body_start, FALSE);
		/* the input is not normalized already: a daemon that copied the body as it is
		 * would fail below */
		g_assert_cmpuint(expected->len, >, msg->len - body_start);
		g_assert_cmpuint(msg->len, >, 2 * 1024 * 1024);

		if (use_pipe) {
			gint ends[2];
			g_assert_true(g_unix_open_pipe(ends, FD_CLOEXEC, &error));
			g_assert_no_error(error);
			g_assert_true(g_unix_set_fd_nonblocking(ends[1], TRUE, &error));
			g_assert_no_error(error);
			feed.fd = ends[1];
			feed.data = msg->data;
			feed.len = msg->len;
			feeder = g_thread_new("pipe-feed", pipe_feed_thread, &feed);
			fd = ends[0];
		} else {
			fd = raw_fd_from_file(msg);
		}
		job = send_raw_fd(daemon, fd, "{}", &error);
		close(fd);
		if (feeder != NULL) {
			g_thread_join(feeder);
			g_assert_cmpint(feed.errsv, ==, 0);
			g_assert_cmpuint(feed.written, ==, msg->len);
		}
		g_assert_no_error(error);
		g_assert_nonnull(job);
		g_assert_true(ms_test_signals_wait_finished(signals, job, WAIT_MS));
		result = ms_test_signals_get_result(signals, job);
		if (!g_str_has_prefix(result, "Sent "))
			g_error("expected Sent, got: %s", result);
		mails = ms_test_server_wait_for_messages(server, 1, WAIT_MS);
		g_assert_cmpuint(mails->len, ==, 1);
		g_assert_cmpuint(ms_test_server_count_messages(server), ==, 1);
		mail = g_ptr_array_index(mails, 0);

		/* the envelope: To, then Bcc, from the headers */
		g_assert_cmpstrv(mail->rcpt_tos, rcpts);
		g_assert_cmpstr(mail->mail_from, ==, "sender@example.test");
		/* the 8-bit octets are only in the streamed part of the body */
		g_assert_true(
		    g_strv_contains((const gchar *const *)mail->mail_options, "BODY=8BITMIME"));

		headers = eml_split(mail->eml, &body, &body_len);
		g_test_message("delivered %" G_GSIZE_FORMAT " octets of body", body_len);
		g_assert_nonnull(strstr(headers, subject));
		g_assert_true(g_str_has_prefix(headers,
					       "From: Stream Sender <stream@example.test>\r\n"
					       "To: Big Rcpt <big@example.test>,\r\n"
					       " second@example.test\r\n"));
		g_assert_null(strstr(headers, "Bcc"));
		g_assert_null(strstr(headers, "bcc"));
		g_assert_false(ms_test_bytes_contain(mail->eml, hidden));
		g_assert_nonnull(strstr(headers, "\r\nDate: "));
		g_assert_nonnull(strstr(headers, "\r\nMessage-ID: <"));
		g_assert_nonnull(strstr(headers, "\r\nContent-Transfer-Encoding: 8bit\r\n"));
		assert_body_equal(body, body_len, expected);
		assert_spooled_as_delivered(mail);
		/* the last line got its line end */
		assert_ends_with(body,
				 body_len,
				 "\r\nthe last line, without a line end: Tschüß\r\n");
	}
}

/* a header block and ~3 MiB of lines with LF; at offset at, bad (of bad_len octets) in place
 * of what would be there; returns the number of the line bad is on */
static GByteArray *
make_refused_message(gsize at, const gchar *bad, gsize bad_len, guint *bad_line)
{
	GByteArray *msg = g_byte_array_new();
	guint line = 5; /* the body's first */

	append_text(msg,
		    "From: refused@example.test\n"
		    "To: rcpt@example.test\n"
		    "Subject: refused\n"
		    "\n");
	while (msg->len < 3 * 1024 * 1024) {
		g_autofree gchar *text = NULL;

		if (msg->len <= at && msg->len + 100 > at) {
			/* the line up to at, then bad on the same line */
			append_line(msg, 'p', at - msg->len, "");
			g_byte_array_append(msg, (const guint8 *)bad, (guint)bad_len);
			append_text(msg, " and more of the line\n");
			*bad_line = line++;
			continue;
		}
		text = g_strdup_printf("line %u of a large message that is refused\n", line);
		append_text(msg, text);
		line++;
	}
	return msg;
}

static void
test_send_raw_fd_streamed_refused(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = ms_test_server_start("plain", NULL, &error);
	g_autofree gchar *conf = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autofree gchar *long_line = g_strnfill(1500, 'y');
	const gsize nul_at = 2 * 1024 * 1024 + 12345;
	const gsize long_at = 2 * 1024 * 1024 - 700; /* across a 64 KiB boundary */

	g_assert_no_error(error);
	conf = ms_test_server_make_conf(server, "security=none\n" ONE_ATTEMPT);
	daemon = ms_test_daemon_start(conf, &error);
	g_assert_no_error(error);
	for (guint i = 0; i < 2; i++) {
		g_autoptr(GError) error_local = NULL;
		g_autoptr(GByteArray) msg = NULL;
		g_autofree gchar *job = NULL;
		g_autofree gchar *remote = NULL;
		g_autofree gchar *where = NULL;
		guint bad_line = 0;
		gint fd;

		if (i == 0) {
			msg = make_refused_message(nul_at, "\0", 1, &bad_line);
			g_assert_cmpint(msg->data[nul_at], ==, 0);
			where = g_strdup_printf("NUL bytes at offset %" G_GSIZE_FORMAT, nul_at);
		} else {
			msg = make_refused_message(long_at, long_line, 1500, &bad_line);
			where = g_strdup_printf("line %u is longer than 998 octets", bad_line);
		}
		g_test_message("case %u: %s", i, where);
		g_assert_cmpuint(msg->len, >=, 3 * 1024 * 1024);
		fd = raw_fd_from_file(msg);
		job = send_raw_fd(daemon, fd, "{}", &error_local);
		close(fd);
		g_assert_null(job);
		g_assert_nonnull(error_local);
		remote = g_dbus_error_get_remote_error(error_local);
		g_assert_cmpstr(remote, ==, "org.mail.Sender.Error.InvalidMessage");
		g_test_message("error: %s", error_local->message);
		g_assert_nonnull(strstr(error_local->message, i == 0 ? "NUL" : "998"));
		/* and it says where */
		if (strstr(error_local->message, where) == NULL)
			g_error("expected '%s' in: %s", where, error_local->message);
		/* nothing queued, nothing half-written left behind */
		g_assert_cmpuint(count_files(ms_test_daemon_get_spool_dir(daemon)), ==, 0);
		g_assert_cmpuint(count_all_files(ms_test_daemon_get_spool_dir(daemon)), ==, 0);
		g_assert_cmpuint(count_jobs(daemon), ==, 0);
	}
	g_assert_cmpuint(ms_test_server_count_messages(server), ==, 0);
}

/* sendmail's '.' line far into a streamed message ends it: what came before is delivered, the
 * '.' line and the rest (a NUL and an overlong line among it, which would be refused) are not */
static void
test_send_raw_fd_streamed_dot(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = ms_test_server_start("plain", NULL, &error);
	g_autofree gchar *conf = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(MsTestSignals) signals = NULL;
	g_autoptr(GPtrArray) mails = NULL;
	g_autoptr(GByteArray) msg = g_byte_array_new();
	g_autoptr(GByteArray) expected = NULL;
	g_autofree gchar *job = NULL;
	g_autofree gchar *headers = NULL;
	/* the '.' as the last octet of a 64 KiB piece, its line end in the next */
	const gsize dot_at = 40 * RAW_FD_CHUNK - 1;
	const gchar *last = "the last line before the dot\n";
	const gchar *rcpts[] = {"dot@example.test", NULL};
	const gchar *result;
	const guint8 *body;
	gsize body_len = 0;
	gsize body_start;
	MsTestMail *mail;
	gint fd;

	append_text(msg,
		    "From: dot@example.test\n"
		    "To: dot@example.test\n"
		    "Subject: sendmail dot\n"
		    "\n");
	body_start = msg->len;
	for (guint i = 0; msg->len + 900 < dot_at - strlen(last); i++) {
		g_autofree gchar *line = NULL;

		/* lines that start with '.' but are not a lone '.', which must not end it */
		switch (i % 4) {
		case 0:
			line = g_strdup_printf(".%u not alone\n", i);
			break;
		case 1:
			line = g_strdup_printf("..\r\n");
			break;
		case 2:
			line = g_strdup_printf(". \r");
			break;
		default:
			line = g_strdup_printf("line %u before the dot\n", i);
			break;
		}
		append_text(msg, line);
	}
	append_line(msg, 'f', dot_at - strlen(last) - msg->len - 1, "\n");
	append_text(msg, last);
	g_assert_cmpuint(msg->len, ==, dot_at);
	append_text(msg, ".\r\nafter the dot\n");
	g_byte_array_append(msg, (const guint8 *)"nul\0here\n", 9);
	append_line(msg, 'z', 1500, "\n");
	while (msg->len < 3 * 1024 * 1024)
		append_text(msg, "after the dot, never delivered\n");
	expected = normalize_body(msg->data + body_start, msg->len - body_start, TRUE);
	/* the test's own expectation stops at the dot */
	g_assert_cmpuint(expected->len, <, dot_at - body_start + (dot_at - body_start) / 2);

	g_assert_no_error(error);
	conf = ms_test_server_make_conf(server, "security=none\n" ONE_ATTEMPT);
	daemon = ms_test_daemon_start(conf, &error);
	g_assert_no_error(error);
	signals = ms_test_signals_new(ms_test_daemon_get_bus(daemon));
	fd = raw_fd_from_file(msg);
	job = send_raw_fd(daemon, fd, "{'sendmail-dot': <true>}", &error);
	close(fd);
	g_assert_no_error(error);
	g_assert_true(ms_test_signals_wait_finished(signals, job, WAIT_MS));
	result = ms_test_signals_get_result(signals, job);
	if (!g_str_has_prefix(result, "Sent "))
		g_error("expected Sent, got: %s", result);
	mails = ms_test_server_wait_for_messages(server, 1, WAIT_MS);
	g_assert_cmpuint(mails->len, ==, 1);
	mail = g_ptr_array_index(mails, 0);
	g_assert_cmpstrv(mail->rcpt_tos, rcpts);
	/* all of it ASCII */
	g_assert_false(g_strv_contains((const gchar *const *)mail->mail_options, "BODY=8BITMIME"));
	headers = eml_split(mail->eml, &body, &body_len);
	g_assert_nonnull(strstr(headers, "\r\nSubject: sendmail dot\r\n"));
	g_assert_false(ms_test_bytes_contain(mail->eml, "after the dot"));
	g_assert_false(ms_test_bytes_contain(mail->eml, "zzzz"));
	assert_body_equal(body, body_len, expected);
	assert_spooled_as_delivered(mail);
	g_assert_cmpuint(body_len, >, 2 * 1024 * 1024);
	assert_ends_with(body, body_len, "\r\nthe last line before the dot\r\n");
}

/* a session accepted through one account's pin must not let another account, which does not
 * trust that certificate, resume it without a check */
static void
test_no_tls_resumption_across_accounts(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server =
	    ms_test_server_start_with_cert("implicit-tls", "selfsigned", NULL, &error);
	g_autofree gchar *pin = cert_sha256("selfsigned.pem");
	g_autofree gchar *conf = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(MsTestSignals) signals = NULL;
	const gchar *order[] = {"strict", "pinned", "strict"};
	const gchar *expected[] = {"Failed org.mail.Sender.Error.Tls ",
				   "Sent 250",
				   "Failed org.mail.Sender.Error.Tls "};

	g_assert_no_error(error);
	conf = g_strdup_printf("[account strict]\nhost=127.0.0.1\nport=%u\nsecurity=tls\n"
			       "from=s@example.test\nmax-attempts=1\n\n"
			       "[account pinned]\nhost=127.0.0.1\nport=%u\nsecurity=tls\n"
			       "from=p@example.test\nmax-attempts=1\ntls-fingerprint=%s\n",
			       ms_test_server_get_port(server),
			       ms_test_server_get_port(server),
			       pin);
	daemon = ms_test_daemon_start(conf, &error);
	g_assert_no_error(error);
	signals = ms_test_signals_new(ms_test_daemon_get_bus(daemon));
	for (guint i = 0; i < G_N_ELEMENTS(order); i++) {
		g_autofree gchar *options = g_strdup_printf("{'account': <'%s'>}", order[i]);
		g_autofree gchar *job = send_text(daemon, SIMPLE_MESSAGE, options, &error);
		g_assert_no_error(error);
		g_assert_true(ms_test_signals_wait_finished(signals, job, WAIT_MS));
		g_test_message("%s: %s", order[i], ms_test_signals_get_result(signals, job));
		g_assert_true(
		    g_str_has_prefix(ms_test_signals_get_result(signals, job), expected[i]));
	}
	g_assert_cmpuint(ms_test_server_count_messages(server), ==, 1);
}

/* ---- HTML and attachments ---- */

/* what Python's email package sees in a delivered message: one line per part */
static gchar *
describe_mime(GBytes *eml)
{
	const gchar *script =
	    "import email, email.policy, hashlib, sys\n"
	    "m = email.message_from_bytes(sys.stdin.buffer.read(), policy=email.policy.default)\n"
	    "for p in m.walk():\n"
	    "    if p.is_multipart():\n"
	    "        print(p.get_content_type())\n"
	    "    elif p.get_filename():\n"
	    "        d = p.get_payload(decode=True)\n"
	    "        print(p.get_content_type(), p.get_filename(), hashlib.sha256(d).hexdigest())\n"
	    "    else:\n"
	    "        print(p.get_content_type(), p.get_content().strip())\n"
	    "print('defects', sum(len(p.defects) for p in m.walk()))\n";
	g_autoptr(GError) error = NULL;
	g_autoptr(GSubprocess) proc =
	    g_subprocess_new(G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE,
			     &error,
			     "/usr/bin/python3",
			     "-c",
			     script,
			     NULL);
	g_autoptr(GBytes) out = NULL;

	g_assert_no_error(error);
	g_subprocess_communicate(proc, eml, NULL, &out, NULL, &error);
	g_assert_no_error(error);
	g_assert_true(ms_test_subprocess_wait(proc, WAIT_MS));
	return g_strndup(g_bytes_get_data(out, NULL), g_bytes_get_size(out));
}

static void
test_send_html_and_attachments(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = ms_test_server_start("plain", NULL, &error);
	g_autofree gchar *conf = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(MsTestSignals) signals = NULL;
	g_autoptr(GPtrArray) mails = NULL;
	g_autoptr(GUnixFDList) fds = g_unix_fd_list_new();
	g_autoptr(GVariant) ret = NULL;
	g_autofree gchar *job = NULL;
	g_autofree gchar *path_name = NULL;
	g_autofree gchar *fd_name = NULL;
	g_autofree gchar *described = NULL;
	g_autofree gchar *expected = NULL;
	g_autofree gchar *sha_data = NULL;
	g_autofree gchar *sha_fd = NULL;
	g_autofree gchar *sha_path = NULL;
	g_autofree gchar *text = NULL;
	g_autoptr(GByteArray) big = g_byte_array_new();
	const guint8 data[] = {0, 1, 2, 255, 254, '\r', '\n', '.', '\n'};
	gint fd;

	g_assert_no_error(error);
	conf = ms_test_server_make_conf(server, "security=none\n");
	daemon = ms_test_daemon_start(conf, &error);
	g_assert_no_error(error);
	signals = ms_test_signals_new(ms_test_daemon_get_bus(daemon));

	/* 300 KiB of varied bytes through an fd, a small file by path, raw bytes in the call */
	for (guint i = 0; i < 300 * 1024; i++) {
		guint8 b = (guint8)((i * 7919u) >> 3);
		g_byte_array_append(big, &b, 1);
	}
	fd = g_file_open_tmp("ms-attach-XXXXXX", &fd_name, &error);
	g_assert_no_error(error);
	g_assert_cmpint(write(fd, big->data, big->len), ==, (gssize)big->len);
	g_assert_cmpint(lseek(fd, 0, SEEK_SET), ==, 0);
	g_unix_fd_list_append(fds, fd, &error);
	g_assert_no_error(error);
	close(fd);
	fd = g_file_open_tmp("ms-attach-XXXXXX.txt", &path_name, &error);
	g_assert_no_error(error);
	g_assert_cmpint(write(fd, "by path\n", 8), ==, 8);
	close(fd);
	sha_data = g_compute_checksum_for_data(G_CHECKSUM_SHA256, data, sizeof(data));
	sha_fd = g_compute_checksum_for_data(G_CHECKSUM_SHA256, big->data, big->len);
	sha_path = g_compute_checksum_for_string(G_CHECKSUM_SHA256, "by path\n", 8);

	text = g_strdup_printf(
	    "({'to': <['rcpt@example.test']>, 'subject': <'files'>, 'body': <'plain body'>,"
	    " 'html': <'<p>html body</p>'>, 'attachments': <[{'filename': <'bytes.bin'>,"
	    " 'data': <@ay [0, 1, 2, 255, 254, 13, 10, 46, 10]>},"
	    " {'filename': <'Größe 报告.dat'>, 'content-type': <'application/octet-stream'>,"
	    " 'fd': <@h 0>}, {'filename': <'by-path.txt'>, 'path': <'%s'>}]>}, @a{sv} {})",
	    path_name);
	ret = g_dbus_connection_call_with_unix_fd_list_sync(ms_test_daemon_get_bus(daemon),
							    "org.mail.Sender",
							    "/org/mail/Sender",
							    "org.mail.Sender",
							    "Send",
							    g_variant_new_parsed(text),
							    G_VARIANT_TYPE("(o)"),
							    G_DBUS_CALL_FLAGS_NONE,
							    WAIT_MS,
							    fds,
							    NULL,
							    NULL,
							    &error);
	g_assert_no_error(error);
	/* the spool has its copy: the caller may change its file now */
	g_unlink(path_name);
	g_variant_get(ret, "(o)", &job);
	g_assert_true(ms_test_signals_wait_finished(signals, job, WAIT_MS));
	g_assert_true(g_str_has_prefix(ms_test_signals_get_result(signals, job), "Sent 250"));
	mails = ms_test_server_wait_for_messages(server, 1, WAIT_MS);
	g_assert_cmpuint(mails->len, ==, 1);
	described = describe_mime(((MsTestMail *)g_ptr_array_index(mails, 0))->eml);
	expected = g_strdup_printf("multipart/mixed\n"
				   "multipart/alternative\n"
				   "text/plain plain body\n"
				   "text/html <p>html body</p>\n"
				   "application/octet-stream bytes.bin %s\n"
				   "application/octet-stream Größe 报告.dat %s\n"
				   "text/plain by-path.txt %s\n"
				   "defects 0\n",
				   sha_data,
				   sha_fd,
				   sha_path);
	g_assert_cmpstr(described, ==, expected);
	g_unlink(fd_name);
}

/* ---- connection reuse and per-recipient results ---- */

/* the "connection" numbers the test server wrote for the stored messages */
static GHashTable *
server_connections(MsTestServer *server)
{
	g_autoptr(GDir) dir = g_dir_open(ms_test_server_get_maildir(server), 0, NULL);
	GHashTable *connections = g_hash_table_new(g_direct_hash, g_direct_equal);
	const gchar *name;

	g_assert_nonnull(dir);
	while ((name = g_dir_read_name(dir)) != NULL) {
		g_autofree gchar *path = NULL;
		g_autoptr(JsonParser) parser = json_parser_new();
		g_autoptr(GError) error = NULL;
		JsonObject *object;

		if (!g_str_has_suffix(name, ".json"))
			continue;
		path = g_build_filename(ms_test_server_get_maildir(server), name, NULL);
		json_parser_load_from_file(parser, path, &error);
		g_assert_no_error(error);
		object = json_node_get_object(json_parser_get_root(parser));
		g_hash_table_add(connections,
				 GINT_TO_POINTER(json_object_get_int_member(object, "connection")));
	}
	return connections;
}

static void
test_connection_reuse(void)
{
	const gchar *args[] = {"--pipelining", NULL};
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = ms_test_server_start("plain", args, &error);
	g_autofree gchar *conf = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(MsTestSignals) signals = NULL;
	g_autoptr(GPtrArray) jobs = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) mails = NULL;
	g_autoptr(GHashTable) connections = NULL;

	g_assert_no_error(error);
	conf = ms_test_server_make_conf(server, "security=none\nmax-connections=2\n");
	daemon = ms_test_daemon_start(conf, &error);
	g_assert_no_error(error);
	signals = ms_test_signals_new(ms_test_daemon_get_bus(daemon));
	for (guint i = 0; i < 40; i++) {
		gchar *job = send_text(daemon, SIMPLE_MESSAGE, NULL, &error);
		g_assert_no_error(error);
		g_ptr_array_add(jobs, job);
	}
	for (guint i = 0; i < jobs->len; i++) {
		const gchar *job = g_ptr_array_index(jobs, i);
		g_assert_true(ms_test_signals_wait_finished(signals, job, WAIT_MS));
		g_assert_true(
		    g_str_has_prefix(ms_test_signals_get_result(signals, job), "Sent 250"));
	}
	mails = ms_test_server_wait_for_messages(server, 40, WAIT_MS);
	g_assert_cmpuint(mails->len, ==, 40);
	connections = server_connections(server);
	g_test_message("40 messages over %u connection(s)", g_hash_table_size(connections));
	/* at most max-connections at a time; an idle one may time out and be opened again */
	g_assert_cmpuint(g_hash_table_size(connections), <=, 4);
}

static void
test_some_recipients_rejected(void)
{
	const gchar *args[] = {"--reject-rcpt", "gone@example.test", "--pipelining", NULL};
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = ms_test_server_start("plain", args, &error);
	g_autofree gchar *conf = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(MsTestSignals) signals = NULL;
	g_autoptr(GPtrArray) mails = NULL;
	g_autoptr(GVariant) rejected = NULL;
	g_autofree gchar *job = NULL;
	const gchar *reply = NULL;
	const gchar *rcpts[] = {"here@example.test", "also@example.test", NULL};

	g_assert_no_error(error);
	conf = ms_test_server_make_conf(server, "security=none\n");
	daemon = ms_test_daemon_start(conf, &error);
	g_assert_no_error(error);
	signals = ms_test_signals_new(ms_test_daemon_get_bus(daemon));
	job = send_and_wait(
	    daemon,
	    signals,
	    "{'to': <['here@example.test', 'gone@example.test', 'also@example.test']>,"
	    " 'body': <'x'>}");
	g_assert_true(g_str_has_prefix(ms_test_signals_get_result(signals, job), "Sent 250"));
	mails = ms_test_server_wait_for_messages(server, 1, WAIT_MS);
	g_assert_cmpuint(mails->len, ==, 1);
	g_assert_cmpstrv(((MsTestMail *)g_ptr_array_index(mails, 0))->rcpt_tos, rcpts);
	rejected = get_property(daemon, job, "org.mail.Sender.Job", "RejectedRecipients");
	g_assert_cmpuint(g_variant_n_children(rejected), ==, 1);
	g_assert_true(g_variant_lookup(rejected, "gone@example.test", "&s", &reply));
	g_assert_true(g_str_has_prefix(reply, "550"));
}

/* a 4xx for one recipient: the others get the message now, only that one is retried */
static void
test_some_recipients_deferred(void)
{
	const gchar *args[] = {"--temp-fail-rcpt", "later@example.test", NULL};
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = ms_test_server_start("plain", args, &error);
	g_autofree gchar *conf = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(MsTestSignals) signals = NULL;
	g_autoptr(GPtrArray) mails = NULL;
	g_autoptr(GVariant) recipients = NULL;
	g_autofree gchar *job = NULL;
	g_autofree gchar *stages = NULL;
	g_autofree const gchar **left = NULL;
	const gchar *delivered[] = {"now@example.test", NULL};
	const gchar *expected_left[] = {"later@example.test", NULL};

	g_assert_no_error(error);
	conf = ms_test_server_make_conf(server, "security=none\nmax-attempts=2\n");
	daemon = ms_test_daemon_start(conf, &error);
	g_assert_no_error(error);
	signals = ms_test_signals_new(ms_test_daemon_get_bus(daemon));
	job = send_and_wait(daemon,
			    signals,
			    "{'to': <['now@example.test', 'later@example.test']>, 'body': <'x'>}");
	/* the server keeps putting it off: given up after the budget, with its reply */
	assert_failed(daemon, signals, job, "org.mail.Sender.Error.Temporary", "451");
	stages = ms_test_signals_get_stages(signals, job);
	g_assert_cmpstr(stages, ==, "queued connecting sending deferred sending");
	recipients = get_property(daemon, job, "org.mail.Sender.Job", "Recipients");
	left = g_variant_get_strv(recipients, NULL);
	g_assert_cmpstrv(left, expected_left);
	/* delivered once, to the one recipient that was accepted */
	mails = ms_test_server_wait_for_messages(server, 1, WAIT_MS);
	g_assert_cmpuint(mails->len, ==, 1);
	g_assert_cmpstrv(((MsTestMail *)g_ptr_array_index(mails, 0))->rcpt_tos, delivered);
	g_assert_cmpuint(ms_test_server_count_messages(server), ==, 1);
}

static gboolean
job_is_deferred(gpointer user_data)
{
	gpointer *args = user_data;
	g_autofree gchar *state = get_job_string(args[0], args[1], "State");
	return g_str_equal(state, "deferred");
}

/* one recipient refused, one put off: after a restart the job still shows the refused one */
static void
test_rejected_recipients_survive_restart(void)
{
	const gchar *args[] = {"--reject-rcpt",
			       "gone@example.test",
			       "--temp-fail-rcpt",
			       "later@example.test",
			       NULL};
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = ms_test_server_start("plain", args, &error);
	g_autofree gchar *conf = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autofree gchar *job = NULL;
	gpointer poll_args[2];

	g_assert_no_error(error);
	conf = ms_test_server_make_conf(server, "security=none\nretry-delay=3600\n");
	daemon = ms_test_daemon_start(conf, &error);
	g_assert_no_error(error);
	job = send_text(daemon,
			"{'to': <['now@example.test', 'gone@example.test', "
			"'later@example.test']>, 'body': <'x'>}",
			NULL,
			&error);
	g_assert_no_error(error);
	poll_args[0] = daemon;
	poll_args[1] = job;
	g_assert_true(ms_test_wait_until(job_is_deferred, poll_args, WAIT_MS));

	for (guint i = 0; i < 2; i++) {
		g_autoptr(GVariant) rejected =
		    get_property(daemon, job, "org.mail.Sender.Job", "RejectedRecipients");
		const gchar *reply = NULL;

		g_assert_cmpuint(g_variant_n_children(rejected), ==, 1);
		g_assert_true(g_variant_lookup(rejected, "gone@example.test", "&s", &reply));
		g_assert_true(g_str_has_prefix(reply, "550 5.1.1"));
		if (i == 0) {
			g_assert_cmpint(ms_test_daemon_stop(daemon), ==, 0);
			g_assert_true(ms_test_daemon_restart(daemon, &error));
			g_assert_no_error(error);
		}
	}
}

/* ---- spool layouts ---- */

/* spool/IDSUFFIX with the given text, as a file the daemon finds at start-up */
static void
write_spool_file(MsTestDaemon *daemon, const gchar *id, const gchar *suffix, const gchar *text)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *name = g_strconcat(id, suffix, NULL);
	g_autofree gchar *path = g_build_filename(ms_test_daemon_get_spool_dir(daemon), name, NULL);

	g_file_set_contents(path, text, -1, &error);
	g_assert_no_error(error);
}

/* a job the 0.1 daemon left, ID.msg (the message) and ID.job (its envelope), is moved to the
 * one-file layout at start-up and delivered once under its id with the message as it was and
 * the envelope it had; a 0.1 ID.msg without its ID.job (a commit that never finished) goes */
static void
test_spool_legacy_layout_delivered(void)
{
	/* ids as ms_queue_new_id() makes them: 14 hex digits of time, counter, random */
	const gchar *id = "0005f0a1b2c3d40001a2b3";
	const gchar *stray_id = "0005f0a1b2c3d50002c4d5";
	const gchar *rcpts_expected[] = {"legacy@example.test", NULL};
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = ms_test_server_start("plain", NULL, &error);
	g_autofree gchar *conf = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(MsTestSignals) signals = NULL;
	g_autoptr(GPtrArray) mails = NULL;
	g_autoptr(GBytes) expected = NULL;
	g_autofree gchar *subject = NULL;
	g_autofree gchar *message = NULL;
	g_autofree gchar *envelope = NULL;
	g_autofree gchar *job = g_strdup_printf("/org/mail/Sender/Job/%s", id);
	MsTestMail *mail;

	g_assert_no_error(error);
	conf = ms_test_server_make_conf(server, "security=none\n");
	daemon = ms_test_daemon_start(conf, &error);
	g_assert_no_error(error);
	g_assert_cmpint(ms_test_daemon_stop(daemon), ==, 0);
	g_assert_cmpuint(count_files(ms_test_daemon_get_spool_dir(daemon)), ==, 0);

	/* the spool as 0.1 left it: a committed job, and the message of an unfinished commit */
	subject = g_strdup_printf("spool 0.1 layout %08x", g_random_int());
	message = g_strdup_printf("From: Legacy <sender@example.test>\r\n"
				  "To: legacy@example.test\r\n"
				  "Subject: %s\r\n"
				  "Message-ID: <%s@example.test>\r\n"
				  "Date: Mon, 01 Jan 2024 12:00:00 +0000\r\n"
				  "\r\n"
				  "queued by mail-sender 0.1\r\n"
				  ".a line with a leading dot\r\n",
				  subject,
				  id);
	envelope = g_strdup_printf("[job]\n"
				   "account=default\n"
				   "sender=sender@example.test\n"
				   "recipients=legacy@example.test;\n"
				   "created=%" G_GINT64_FORMAT "\n"
				   "size=%" G_GSIZE_FORMAT "\n"
				   "attempts=2\n"
				   "owner=%u\n",
				   g_get_real_time() / G_USEC_PER_SEC,
				   strlen(message),
				   (guint)getuid());
	write_spool_file(daemon, id, ".msg", message);
	write_spool_file(daemon, id, ".job", envelope);
	write_spool_file(daemon, stray_id, ".msg", "Subject: never committed\r\n\r\nx\r\n");
	g_assert_cmpuint(count_files(ms_test_daemon_get_spool_dir(daemon)), ==, 3);

	signals = ms_test_signals_new(ms_test_daemon_get_bus(daemon));
	g_assert_true(ms_test_daemon_restart(daemon, &error));
	g_assert_no_error(error);
	g_assert_true(ms_test_signals_wait_finished(signals, job, WAIT_MS));
	g_assert_true(g_str_has_prefix(ms_test_signals_get_result(signals, job), "Sent 250"));
	/* the envelope came along: two attempts by 0.1, this one the third */
	g_assert_cmpuint(get_job_uint(daemon, job, "Attempts"), ==, 3);

	mails = ms_test_server_wait_for_messages(server, 1, WAIT_MS);
	g_assert_cmpuint(mails->len, ==, 1);
	mail = g_ptr_array_index(mails, 0);
	g_assert_cmpstr(mail->mail_from, ==, "sender@example.test");
	g_assert_cmpstrv(mail->rcpt_tos, rcpts_expected);
	g_assert_true(ms_test_bytes_contain(mail->eml, subject));
	/* the message byte for byte: nothing of the envelope or the footer went with it */
	expected = g_bytes_new_static(message, strlen(message));
	g_assert_true(g_bytes_equal(mail->eml, expected));
	/* the stray message was never a job: nothing delivers it */
	g_usleep(300 * 1000);
	g_assert_cmpuint(ms_test_server_count_messages(server), ==, 1);
	/* no ID.msg, ID.job, ID.mail or stray ID.msg left, nothing in tmp/ */
	g_assert_cmpuint(count_files(ms_test_daemon_get_spool_dir(daemon)), ==, 0);
}

/* a job file that is not one (no valid footer) does not stop the daemon or the other jobs, and
 * it is never deleted: it may be all that is left of someone's message */
static void
test_spool_bad_job_file_kept(void)
{
	/* sorts before every id made now: it is loaded first, before the good job */
	const gchar *bad_id = "0000000000000100000001";
	const gchar *bad_job = "/org/mail/Sender/Job/0000000000000100000001";
	const gchar *garbage = "this is not a spool job\r\nno footer at all, just text that is\r\n"
			       "longer than a footer would be, so the size check is not all\r\n";
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) down = ms_test_server_start("greet-421", NULL, &error);
	g_autoptr(MsTestServer) up = NULL;
	g_autofree gchar *conf = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(MsTestSignals) signals = NULL;
	g_autoptr(GPtrArray) mails = NULL;
	g_autoptr(GVariant) listed = NULL;
	g_autoptr(GVariant) listed_paths = NULL;
	g_autofree gchar *job = NULL;
	g_autofree gchar *bad_path = NULL;
	g_autofree gchar *contents = NULL;
	gsize len = 0;
	gboolean found_good = FALSE;
	gpointer poll_args[2];

	g_assert_no_error(error);
	conf = ms_test_server_make_conf(down, "security=none\nretry-delay=3600\n");
	daemon = ms_test_daemon_start(conf, &error);
	g_assert_no_error(error);
	signals = ms_test_signals_new(ms_test_daemon_get_bus(daemon));
	job = send_text(daemon,
			"{'to': <['rcpt@example.test']>, 'subject': <'good job'>}",
			NULL,
			&error);
	g_assert_no_error(error);
	poll_args[0] = daemon;
	poll_args[1] = job;
	g_assert_true(ms_test_wait_until(job_is_deferred, poll_args, WAIT_MS));
	g_assert_cmpint(ms_test_daemon_stop(daemon), ==, 0);
	g_assert_cmpuint(count_queued_jobs(ms_test_daemon_get_spool_dir(daemon)), ==, 1);

	write_spool_file(daemon, bad_id, ".mail", garbage);
	up = ms_test_server_start("plain", NULL, &error);
	g_assert_no_error(error);
	g_free(conf);
	conf = ms_test_server_make_conf(up, "security=none\n");
	write_conf(daemon, conf);
	g_assert_true(ms_test_daemon_restart(daemon, &error));
	g_assert_no_error(error);

	g_assert_true(ms_test_signals_wait_finished(signals, job, WAIT_MS));
	g_assert_true(g_str_has_prefix(ms_test_signals_get_result(signals, job), "Sent 250"));
	mails = ms_test_server_wait_for_messages(up, 1, WAIT_MS);
	g_assert_cmpuint(mails->len, ==, 1);
	g_assert_true(ms_test_bytes_contain(((MsTestMail *)g_ptr_array_index(mails, 0))->eml,
					    "Subject: good job\r\n"));

	/* still answering; it knows the good job and makes no job of the bad file */
	listed = call_sync(daemon, "/org/mail/Sender", "org.mail.Sender", "GetJobs", NULL, &error);
	g_assert_no_error(error);
	listed_paths = g_variant_get_child_value(listed, 0);
	for (gsize i = 0; i < g_variant_n_children(listed_paths); i++) {
		g_autoptr(GVariant) path = g_variant_get_child_value(listed_paths, i);
		g_assert_cmpstr(g_variant_get_string(path, NULL), !=, bad_job);
		found_good = found_good || g_str_equal(g_variant_get_string(path, NULL), job);
	}
	g_assert_true(found_good);
	g_assert_cmpint(ms_test_daemon_stop(daemon), ==, 0);

	/* the bad file is where it was, as it was; it is the only file left */
	bad_path = g_strdup_printf("%s/%s.mail", ms_test_daemon_get_spool_dir(daemon), bad_id);
	g_file_get_contents(bad_path, &contents, &len, &error);
	g_assert_no_error(error);
	g_assert_cmpmem(contents, len, garbage, strlen(garbage));
	g_assert_cmpuint(count_files(ms_test_daemon_get_spool_dir(daemon)), ==, 1);
}

static void
test_verify_starttls_and_wrong_host(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) good = ms_test_server_start("require-starttls", NULL, &error);
	g_autoptr(MsTestServer) wrong = NULL;
	g_autofree gchar *ca = ca_line();
	g_autofree gchar *conf = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(GVariant) ret = NULL;
	g_autoptr(GVariant) report = NULL;
	g_autoptr(GVariant) extensions = NULL;
	g_autofree gchar *remote = NULL;
	const gchar *value = NULL;

	g_assert_no_error(error);
	wrong = ms_test_server_start_with_cert("implicit-tls", "wronghost", NULL, &error);
	g_assert_no_error(error);
	conf = g_strdup_printf("[account good]\nhost=127.0.0.1\nport=%u\nsecurity=starttls\n%s\n"
			       "[account wrong]\nhost=127.0.0.1\nport=%u\nsecurity=tls\n%s",
			       ms_test_server_get_port(good),
			       ca,
			       ms_test_server_get_port(wrong),
			       ca);
	daemon = ms_test_daemon_start(conf, &error);
	g_assert_no_error(error);
	ret = call_sync(daemon,
			"/org/mail/Sender",
			"org.mail.Sender",
			"Verify",
			g_variant_new("(s)", "good"),
			&error);
	g_assert_no_error(error);
	report = g_variant_get_child_value(ret, 0);
	g_assert_true(g_variant_lookup(report, "security", "&s", &value));
	g_assert_cmpstr(value, ==, "starttls");
	g_assert_true(g_variant_lookup(report, "tls-version", "&s", &value));
	g_assert_cmpstr(value, ==, "TLSv1.3");
	g_assert_true(g_variant_lookup(report, "auth", "&s", &value));
	g_assert_cmpstr(value, ==, "none");
	/* the extensions are those offered after STARTTLS: STARTTLS itself is gone */
	extensions = g_variant_lookup_value(report, "extensions", G_VARIANT_TYPE_STRING_ARRAY);
	g_assert_nonnull(extensions);
	for (gsize i = 0; i < g_variant_n_children(extensions); i++) {
		g_autoptr(GVariant) ext = g_variant_get_child_value(extensions, i);
		g_assert_false(g_str_has_prefix(g_variant_get_string(ext, NULL), "STARTTLS"));
	}
	g_clear_pointer(&ret, g_variant_unref);
	ret = call_sync(daemon,
			"/org/mail/Sender",
			"org.mail.Sender",
			"Verify",
			g_variant_new("(s)", "wrong"),
			&error);
	g_assert_null(ret);
	remote = g_dbus_error_get_remote_error(error);
	g_assert_cmpstr(remote, ==, "org.mail.Sender.Error.Tls");
	g_assert_nonnull(strstr(error->message, "check host="));
}

/* SIGTERM while a digest window is open: the digest is written before the daemon exits and
 * goes out after the restart, under the path its callers were given */
static void
test_notify_digest_survives_sigterm(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = ms_test_server_start("plain", NULL, &error);
	g_autofree gchar *conf = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(MsTestSignals) signals = NULL;
	g_autoptr(GPtrArray) mails = NULL;
	g_autofree gchar *first = NULL;
	g_autofree gchar *digest = NULL;

	g_assert_no_error(error);
	conf = ms_test_server_make_conf(
	    server,
	    "security=none\nnotify-to=admin@example.test\nnotify-coalesce=600\n");
	daemon = ms_test_daemon_start(conf, &error);
	g_assert_no_error(error);
	signals = ms_test_signals_new(ms_test_daemon_get_bus(daemon));
	first = notify_sync(daemon, "backup failed", "{}", &error);
	g_assert_no_error(error);
	digest = notify_sync(daemon, "backup failed", "{}", &error);
	g_assert_no_error(error);
	g_assert_cmpstr(digest, !=, first);
	g_assert_true(ms_test_signals_wait_finished(signals, first, WAIT_MS));
	g_assert_cmpint(ms_test_daemon_stop(daemon), ==, 0);
	g_assert_true(ms_test_daemon_restart(daemon, &error));
	g_assert_no_error(error);
	g_assert_true(ms_test_signals_wait_finished(signals, digest, WAIT_MS));
	g_assert_true(g_str_has_prefix(ms_test_signals_get_result(signals, digest), "Sent 250"));
	mails = ms_test_server_wait_for_messages(server, 2, WAIT_MS);
	g_assert_cmpuint(mails->len, ==, 2);
	g_assert_true(ms_test_bytes_contain(((MsTestMail *)g_ptr_array_index(mails, 1))->eml,
					    "Subject: backup failed (repeated 1 time)"));
}

/* a merged Notify is on disk before its caller hears back: killed while the window is open,
 * the daemon delivers the digest as it was after its restart, under the path the callers got */
static void
test_notify_digest_survives_kill(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = ms_test_server_start("plain", NULL, &error);
	g_autofree gchar *conf = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(MsTestSignals) signals = NULL;
	g_autoptr(GPtrArray) mails = NULL;
	g_autofree gchar *first = NULL;
	g_autofree gchar *digest = NULL;
	g_autofree gchar *digest_again = NULL;
	MsTestMail *mail;

	g_assert_no_error(error);
	conf = ms_test_server_make_conf(
	    server,
	    "security=none\nnotify-to=admin@example.test\nnotify-coalesce=600\n");
	daemon = ms_test_daemon_start(conf, &error);
	g_assert_no_error(error);
	signals = ms_test_signals_new(ms_test_daemon_get_bus(daemon));
	first = notify_sync(daemon, "disk failing", "{}", &error);
	g_assert_no_error(error);
	g_assert_true(ms_test_signals_wait_finished(signals, first, WAIT_MS));
	digest = notify_sync(daemon, "disk failing", "{}", &error);
	g_assert_no_error(error);
	digest_again = notify_sync(daemon, "disk failing", "{}", &error);
	g_assert_no_error(error);
	g_assert_cmpstr(digest, !=, first);
	g_assert_cmpstr(digest_again, ==, digest);
	ms_test_daemon_kill(daemon);
	g_assert_cmpuint(ms_test_server_count_messages(server), ==, 1);

	g_assert_true(ms_test_daemon_restart(daemon, &error));
	g_assert_no_error(error);
	g_assert_true(ms_test_signals_wait_finished(signals, digest, WAIT_MS));
	g_assert_true(g_str_has_prefix(ms_test_signals_get_result(signals, digest), "Sent 250"));
	mails = ms_test_server_wait_for_messages(server, 2, WAIT_MS);
	g_assert_cmpuint(mails->len, ==, 2);
	mail = g_ptr_array_index(mails, 1);
	g_assert_true(ms_test_bytes_contain(mail->eml, "Subject: disk failing (repeated 2 times)"));
	g_assert_true(
	    ms_test_bytes_contain(mail->eml, "This notification was repeated 2 times between"));
}

/* a digest job cancelled while its window is open: its spool files go, and neither the window's
 * end nor a restart sends it */
static void
test_notify_digest_cancelled(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = ms_test_server_start("plain", NULL, &error);
	g_autofree gchar *conf = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(MsTestSignals) signals = NULL;
	g_autoptr(GVariant) ret = NULL;
	g_autofree gchar *first = NULL;
	g_autofree gchar *digest = NULL;
	g_autofree gchar *state = NULL;
	g_autoptr(GVariant) jobs = NULL;
	g_autoptr(GVariant) list = NULL;

	g_assert_no_error(error);
	conf = ms_test_server_make_conf(
	    server,
	    "security=none\nnotify-to=admin@example.test\nnotify-coalesce=600\n");
	daemon = ms_test_daemon_start(conf, &error);
	g_assert_no_error(error);
	signals = ms_test_signals_new(ms_test_daemon_get_bus(daemon));
	first = notify_sync(daemon, "fan failed", "{}", &error);
	g_assert_no_error(error);
	g_assert_true(ms_test_signals_wait_finished(signals, first, WAIT_MS));
	digest = notify_sync(daemon, "fan failed", "{}", &error);
	g_assert_no_error(error);
	/* the digest so far is in the spool */
	g_assert_cmpuint(count_queued_jobs(ms_test_daemon_get_spool_dir(daemon)), ==, 1);
	ret = call_sync(daemon, digest, "org.mail.Sender.Job", "Cancel", NULL, &error);
	g_assert_no_error(error);
	g_assert_true(ms_test_signals_wait_finished(signals, digest, WAIT_MS));
	g_assert_true(g_str_has_prefix(ms_test_signals_get_result(signals, digest),
				       "Failed org.mail.Sender.Error.Cancelled "));
	g_clear_pointer(&state, g_free);
	state = get_job_string(daemon, digest, "State");
	g_assert_cmpstr(state, ==, "cancelled");
	g_assert_cmpuint(count_files(ms_test_daemon_get_spool_dir(daemon)), ==, 0);
	g_clear_pointer(&state, g_free);

	/* stopping closes the window: the cancelled digest stays unsent, then and after a restart
	 */
	g_assert_cmpint(ms_test_daemon_stop(daemon), ==, 0);
	g_assert_true(ms_test_daemon_restart(daemon, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(count_files(ms_test_daemon_get_spool_dir(daemon)), ==, 0);
	/* the restarted daemon found nothing to deliver */
	jobs = call_sync(daemon, "/org/mail/Sender", "org.mail.Sender", "GetJobs", NULL, &error);
	g_assert_no_error(error);
	list = g_variant_get_child_value(jobs, 0);
	g_assert_cmpuint(g_variant_n_children(list), ==, 0);
	g_assert_cmpuint(ms_test_server_count_messages(server), ==, 1);
}

/* two daemons on one spool (the moments of --replace) never deliver a job at once: while
 * another process holds a job's lock it waits, then delivers it */
static void
test_spool_lock_respected(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) down = ms_test_server_start("greet-421", NULL, &error);
	g_autoptr(MsTestServer) up = NULL;
	g_autofree gchar *conf = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(MsTestSignals) signals = NULL;
	g_autoptr(GPtrArray) mails = NULL;
	g_autofree gchar *job = NULL;
	g_autofree gchar *job_file = NULL;
	g_autofree gchar *name = NULL;
	int fd;

	g_assert_no_error(error);
	conf = ms_test_server_make_conf(down, "security=none\nretry-delay=3600\n");
	daemon = ms_test_daemon_start(conf, &error);
	g_assert_no_error(error);
	signals = ms_test_signals_new(ms_test_daemon_get_bus(daemon));
	job = send_text(daemon, SIMPLE_MESSAGE, NULL, &error);
	g_assert_no_error(error);
	for (guint i = 0; i < 200; i++) {
		g_autofree gchar *state = get_job_string(daemon, job, "State");
		if (g_str_equal(state, "deferred"))
			break;
		g_usleep(50 * 1000);
	}
	g_assert_cmpint(ms_test_daemon_stop(daemon), ==, 0);

	/* this process plays the other daemon, delivering the job right now */
	name = g_strdup_printf("%s.mail", strrchr(job, '/') + 1);
	job_file = g_build_filename(ms_test_daemon_get_spool_dir(daemon), name, NULL);
	fd = open(job_file, O_RDONLY | O_CLOEXEC);
	g_assert_cmpint(fd, >=, 0);
	g_assert_no_errno(flock(fd, LOCK_EX | LOCK_NB));

	up = ms_test_server_start("plain", NULL, &error);
	g_assert_no_error(error);
	g_free(conf);
	conf = ms_test_server_make_conf(up, "security=none\n");
	write_conf(daemon, conf);
	g_assert_true(ms_test_daemon_restart(daemon, &error));
	g_assert_no_error(error);
	g_assert_false(ms_test_signals_wait_finished(signals, job, 2500));
	g_assert_cmpuint(ms_test_server_count_messages(up), ==, 0);

	close(fd);
	g_assert_true(ms_test_signals_wait_finished(signals, job, WAIT_MS));
	g_assert_true(g_str_has_prefix(ms_test_signals_get_result(signals, job), "Sent 250"));
	mails = ms_test_server_wait_for_messages(up, 1, WAIT_MS);
	g_assert_cmpuint(mails->len, ==, 1);
}

/* finished jobs leave the bus after the retention time (shortened here from 10 minutes) */
/* ---- 8BITMIME and SMTPUTF8 ---- */

/* a server of mode with extra_args, the daemon for it, one Send of message, and the one message
 * the server took */
static MsTestMail *
send_one(const gchar *const *server_args, const gchar *message)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = ms_test_server_start("plain", server_args, &error);
	g_autofree gchar *conf = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(MsTestSignals) signals = NULL;
	g_autoptr(GPtrArray) mails = NULL;
	g_autofree gchar *job = NULL;
	const gchar *result;

	g_assert_no_error(error);
	conf = ms_test_server_make_conf(server, "security=none\n" ONE_ATTEMPT);
	daemon = ms_test_daemon_start(conf, &error);
	g_assert_no_error(error);
	signals = ms_test_signals_new(ms_test_daemon_get_bus(daemon));
	job = send_and_wait(daemon, signals, message);
	result = ms_test_signals_get_result(signals, job);
	if (!g_str_has_prefix(result, "Sent "))
		g_error("expected Sent, got: %s", result);
	mails = ms_test_server_wait_for_messages(server, 1, WAIT_MS);
	g_assert_cmpuint(mails->len, ==, 1);
	return g_ptr_array_steal_index(mails, 0);
}

static gboolean
bytes_are_ascii(GBytes *bytes)
{
	gsize len = 0;
	const guint8 *data = g_bytes_get_data(bytes, &len);

	for (gsize i = 0; i < len; i++) {
		if (data[i] >= 0x80)
			return FALSE;
	}
	return TRUE;
}

/* a server with 8BITMIME gets UTF-8 text as it is, announced with BODY=8BITMIME */
static void
test_send_8bitmime(void)
{
	g_autoptr(MsTestMail) mail = send_one(NULL,
					      "{'to': <['rcpt@example.test']>, 'subject': <'hi'>,"
					      " 'body': <'Grüße aus Köln\\n你好\\n'>}");

	g_assert_true(g_strv_contains((const gchar *const *)mail->mail_options, "BODY=8BITMIME"));
	g_assert_false(g_strv_contains((const gchar *const *)mail->mail_options, "SMTPUTF8"));
	g_assert_true(ms_test_bytes_contain(mail->eml,
					    "Content-Transfer-Encoding: 8bit\r\n\r\n"
					    "Grüße aus Köln\r\n你好\r\n"));
}

/* a server without 8BITMIME gets the same message with its 8bit parts as quoted-printable,
 * nothing beyond ASCII, and no BODY= parameter (RFC 6152 §3) */
static void
test_send_8bit_downgraded(void)
{
	const gchar *args[] = {"--no-8bitmime", NULL};
	g_autofree gchar *description = NULL;
	g_autoptr(MsTestMail) mail =
	    send_one(args,
		     "{'to': <['rcpt@example.test']>, 'subject': <'hi'>,"
		     " 'body': <'Grüße aus Köln \\n.Punkt\\n'>, 'html': <'<p>Grüße</p>\\n'>}");

	/* no BODY=, and no SIZE=: the spooled size is not what the re-encoding sends */
	for (guint i = 0; mail->mail_options[i] != NULL; i++) {
		g_assert_false(g_str_has_prefix(mail->mail_options[i], "BODY="));
		g_assert_false(g_str_has_prefix(mail->mail_options[i], "SIZE="));
	}
	g_assert_true(bytes_are_ascii(mail->eml));
	g_assert_false(ms_test_bytes_contain(mail->eml, "8bit"));
	g_assert_true(
	    ms_test_bytes_contain(mail->eml,
				  "Content-Type: text/plain; charset=utf-8\r\n"
				  "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
				  "Gr=C3=BC=C3=9Fe aus K=C3=B6ln=20\r\n.Punkt\r\n\r\n--"));
	g_assert_true(ms_test_bytes_contain(mail->eml,
					    "Content-Type: text/html; charset=utf-8\r\n"
					    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
					    "<p>Gr=C3=BC=C3=9Fe</p>\r\n\r\n--"));
	/* and a mail reader gets back the text that was sent */
	description = describe_mime(mail->eml);
	g_assert_cmpstr(description,
			==,
			"multipart/alternative\n"
			"text/plain Grüße aus Köln \r\n.Punkt\n"
			"text/html <p>Grüße</p>\n"
			"defects 0\n");
}

/* a raw message with an 8bit part: BODY=8BITMIME where offered, else that part downgraded and
 * the rest as it was */
static void
test_send_raw_8bit(void)
{
	const gchar *raw = "From: raw@example.test\n"
			   "To: rcpt@example.test\n"
			   "Subject: raw\n"
			   "MIME-Version: 1.0\n"
			   "Content-Type: text/plain; charset=utf-8\n"
			   "Content-Transfer-Encoding: 8bit\n"
			   "\n"
			   "Grüße\n";
	const gchar *no_8bitmime[] = {"--no-8bitmime", NULL};

	for (guint i = 0; i < 2; i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(MsTestServer) server =
		    ms_test_server_start("plain", i == 0 ? NULL : no_8bitmime, &error);
		g_autofree gchar *conf = NULL;
		g_autoptr(MsTestDaemon) daemon = NULL;
		g_autoptr(MsTestSignals) signals = NULL;
		g_autoptr(GPtrArray) mails = NULL;
		g_autofree gchar *job = NULL;
		MsTestMail *mail;

		g_assert_no_error(error);
		conf = ms_test_server_make_conf(server, "security=none\n" ONE_ATTEMPT);
		daemon = ms_test_daemon_start(conf, &error);
		g_assert_no_error(error);
		signals = ms_test_signals_new(ms_test_daemon_get_bus(daemon));
		job = send_raw(daemon, raw, strlen(raw), "{}", &error);
		g_assert_no_error(error);
		g_assert_true(ms_test_signals_wait_finished(signals, job, WAIT_MS));
		mails = ms_test_server_wait_for_messages(server, 1, WAIT_MS);
		g_assert_cmpuint(mails->len, ==, 1);
		mail = g_ptr_array_index(mails, 0);
		if (i == 0) {
			g_assert_true(g_strv_contains((const gchar *const *)mail->mail_options,
						      "BODY=8BITMIME"));
			g_assert_true(ms_test_bytes_contain(mail->eml,
							    "Content-Transfer-Encoding: 8bit\r\n"));
			g_assert_true(ms_test_bytes_contain(mail->eml, "\r\n\r\nGrüße\r\n"));
		} else {
			g_assert_false(g_strv_contains((const gchar *const *)mail->mail_options,
						       "BODY=8BITMIME"));
			g_assert_true(bytes_are_ascii(mail->eml));
			g_assert_true(ms_test_bytes_contain(
			    mail->eml,
			    "Subject: raw\r\n"
			    "MIME-Version: 1.0\r\n"
			    "Content-Type: text/plain; charset=utf-8\r\n"
			    "Content-Transfer-Encoding: quoted-printable\r\n"));
			g_assert_true(
			    ms_test_bytes_contain(mail->eml, "\r\n\r\nGr=C3=BC=C3=9Fe\r\n"));
		}
	}
}

/* a UTF-8 local part goes out with SMTPUTF8 to a server that offers it, in the envelope and
 * in the header; an internationalized domain as A-labels */
static void
test_send_smtputf8(void)
{
	const gchar *args[] = {"--smtputf8", NULL};
	const gchar *rcpts_expected[] = {"jörg@example.test", "bob@xn--bcher-kva.example", NULL};
	g_autoptr(MsTestMail) mail = send_one(args,
					      "{'to': <['Jörg <jörg@example.test>',"
					      " 'bob@bücher.example']>, 'subject': <'hi'>,"
					      " 'body': <'hello\\n'>}");

	g_assert_true(g_strv_contains((const gchar *const *)mail->mail_options, "SMTPUTF8"));
	g_assert_true(g_strv_contains((const gchar *const *)mail->mail_options, "BODY=8BITMIME"));
	g_assert_cmpstrv(mail->rcpt_tos, rcpts_expected);
	g_assert_true(ms_test_bytes_contain(mail->eml,
					    "To: =?UTF-8?Q?J=C3=B6rg?= <jörg@example.test>,\r\n"
					    " bob@xn--bcher-kva.example\r\n"));
}

/* an internationalized domain alone needs nothing from the server */
static void
test_send_idn_domain(void)
{
	const gchar *rcpts_expected[] = {"bob@xn--bcher-kva.example", NULL};
	g_autoptr(MsTestMail) mail =
	    send_one(NULL,
		     "{'to': <['bob@bücher.example']>, 'subject': <'hi'>, 'body': <'hello\\n'>}");

	g_assert_false(g_strv_contains((const gchar *const *)mail->mail_options, "SMTPUTF8"));
	g_assert_false(g_strv_contains((const gchar *const *)mail->mail_options, "BODY=8BITMIME"));
	g_assert_cmpstrv(mail->rcpt_tos, rcpts_expected);
	g_assert_true(bytes_are_ascii(mail->eml));
}

/* a UTF-8 address and a server without SMTPUTF8: Rejected, saying why, before anything is sent */
static void
test_smtputf8_not_offered(void)
{
	g_autoptr(GError) error = NULL;
	const gchar *args[] = {"-v", NULL};
	g_autoptr(MsTestServer) server = ms_test_server_start("plain", args, &error);
	g_autofree gchar *conf = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(MsTestSignals) signals = NULL;
	g_autofree gchar *job = NULL;
	g_autofree gchar *log = NULL;

	g_assert_no_error(error);
	conf = ms_test_server_make_conf(server, "security=none\n" ONE_ATTEMPT);
	daemon = ms_test_daemon_start(conf, &error);
	g_assert_no_error(error);
	signals = ms_test_signals_new(ms_test_daemon_get_bus(daemon));
	job = send_and_wait(daemon,
			    signals,
			    "{'to': <['jörg@example.test']>, 'subject': <'hi'>, 'body': <'x'>}");
	assert_failed(daemon,
		      signals,
		      job,
		      "org.mail.Sender.Error.Rejected",
		      "does not offer SMTPUTF8, which the address 'jörg@example.test' needs");
	g_assert_cmpuint(ms_test_server_count_messages(server), ==, 0);
	/* the session got as far as EHLO, but not even MAIL FROM went out */
	log = ms_test_server_get_log(server);
	g_test_message("server log: %s", log);
	g_assert_nonnull(strstr(log, "EHLO"));
	g_assert_null(strstr(log, "MAIL FROM"));
}

static gboolean
no_jobs_left(gpointer user_data)
{
	MsTestDaemon *daemon = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) jobs =
	    call_sync(daemon, "/org/mail/Sender", "org.mail.Sender", "GetJobs", NULL, &error);
	g_autoptr(GVariant) list = NULL;

	g_assert_no_error(error);
	list = g_variant_get_child_value(jobs, 0);
	return g_variant_n_children(list) == 0;
}

static void
test_finished_jobs_forgotten(void)
{
	const gchar *env[] = {"MS_TEST_JOB_RETENTION_SECONDS=1", NULL};
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = ms_test_server_start("plain", NULL, &error);
	g_autofree gchar *conf = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(MsTestSignals) signals = NULL;
	g_autoptr(GVariant) jobs = NULL;
	g_autoptr(GVariant) list = NULL;
	g_autoptr(GVariant) ret = NULL;
	g_autofree gchar *job = NULL;
	g_assert_no_error(error);
	conf = ms_test_server_make_conf(server, "security=none\n");
	daemon = ms_test_daemon_start_full(conf, NULL, env, &error);
	g_assert_no_error(error);
	signals = ms_test_signals_new(ms_test_daemon_get_bus(daemon));
	job = send_and_wait(daemon, signals, SIMPLE_MESSAGE);
	/* still there right after it finished */
	g_assert_cmpuint(get_job_uint(daemon, job, "Attempts"), ==, 1);
	/* then gone, some time after the retention (a timer with seconds granularity, on a
	 * machine that may be busy): polled, the wait only bounds a hang */
	g_assert_true(ms_test_wait_until(no_jobs_left, daemon, WAIT_MS));
	jobs = call_sync(daemon, "/org/mail/Sender", "org.mail.Sender", "GetJobs", NULL, &error);
	g_assert_no_error(error);
	list = g_variant_get_child_value(jobs, 0);
	g_assert_cmpuint(g_variant_n_children(list), ==, 0);
	ret = call_sync(daemon,
			job,
			"org.freedesktop.DBus.Properties",
			"Get",
			g_variant_new("(ss)", "org.mail.Sender.Job", "State"),
			&error);
	g_assert_null(ret);
	g_assert_nonnull(error);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/mail-sender/daemon/send-plain", test_send_plain);
	g_test_add_func("/mail-sender/daemon/recycled-files-deleted", test_recycled_files_deleted);
	g_test_add_func("/mail-sender/daemon/send-starttls-opportunistic",
			test_send_starttls_opportunistic);
	g_test_add_func("/mail-sender/daemon/send-starttls-auth-plain",
			test_send_starttls_auth_plain);
	g_test_add_func("/mail-sender/daemon/send-implicit-tls-auth-login",
			test_send_implicit_tls_auth_login);
	g_test_add_func("/mail-sender/daemon/no-password-in-keyring", test_no_password_in_keyring);
	g_test_add_func("/mail-sender/daemon/wrong-password", test_wrong_password);
	g_test_add_func("/mail-sender/daemon/starttls-stall", test_starttls_stall);
	g_test_add_func("/mail-sender/daemon/plaintext-to-implicit-tls-port",
			test_plaintext_to_implicit_tls_port);
	g_test_add_func("/mail-sender/daemon/starttls-required-not-offered",
			test_starttls_required_not_offered);
	g_test_add_func("/mail-sender/daemon/starttls-injection", test_starttls_injection);
	g_test_add_func("/mail-sender/daemon/wrong-host-certificate", test_wrong_host_certificate);
	g_test_add_func("/mail-sender/daemon/expired-certificate", test_expired_certificate);
	g_test_add_func("/mail-sender/daemon/unknown-ca-refused", test_unknown_ca_refused);
	g_test_add_func("/mail-sender/daemon/pinned-fingerprint", test_pinned_fingerprint);
	g_test_add_func("/mail-sender/daemon/pinned-fingerprint-mismatch",
			test_pinned_fingerprint_mismatch);
	g_test_add_func("/mail-sender/daemon/rcpt-rejected", test_rcpt_rejected);
	g_test_add_func("/mail-sender/daemon/nothing-listening", test_nothing_listening);
	g_test_add_func("/mail-sender/daemon/greeting-421-then-success",
			test_greeting_421_then_success);
	g_test_add_func("/mail-sender/daemon/drop-in-data-retried", test_drop_in_data_retried);
	g_test_add_func("/mail-sender/daemon/server-down-then-up", test_server_down_then_up);
	g_test_add_func("/mail-sender/daemon/temporary-until-budget-spent",
			test_temporary_until_budget_spent);
	g_test_add_func("/mail-sender/daemon/cancel-deferred", test_cancel_deferred);
	g_test_add_func("/mail-sender/daemon/bad-input", test_bad_input);
	g_test_add_func("/mail-sender/daemon/invalid-config-refused", test_invalid_config_refused);
	g_test_add_func("/mail-sender/daemon/properties-and-accounts",
			test_properties_and_accounts);
	g_test_add_func("/mail-sender/daemon/verify-implicit-tls", test_verify_implicit_tls);
	g_test_add_func("/mail-sender/daemon/verify-plaintext-to-tls-port",
			test_verify_plaintext_to_tls_port);
	g_test_add_func("/mail-sender/daemon/no-tls-backend", test_no_tls_backend);
	g_test_add_func("/mail-sender/daemon/restart-keeps-jobs", test_restart_keeps_jobs);
	g_test_add_func("/mail-sender/daemon/kill-during-submissions",
			test_kill_during_submissions);
	g_test_add_func("/mail-sender/daemon/unwritable-spool", test_unwritable_spool);
	g_test_add_func("/mail-sender/daemon/account-rate-limit", test_account_rate_limit);
	g_test_add_func("/mail-sender/daemon/notify-storm", test_notify_storm);
	g_test_add_func("/mail-sender/daemon/notify-critical-never-merged",
			test_notify_critical_never_merged);
	g_test_add_func("/mail-sender/daemon/notify-without-notify-to",
			test_notify_without_notify_to);
	g_test_add_func("/mail-sender/daemon/send-raw-recipients-from-headers",
			test_send_raw_recipients_from_headers);
	g_test_add_func("/mail-sender/daemon/send-raw-fd-explicit-recipients",
			test_send_raw_fd_explicit_recipients);
	g_test_add_func("/mail-sender/daemon/send-raw-fd-streamed", test_send_raw_fd_streamed);
	g_test_add_func("/mail-sender/daemon/send-raw-fd-streamed-refused",
			test_send_raw_fd_streamed_refused);
	g_test_add_func("/mail-sender/daemon/send-raw-fd-streamed-dot",
			test_send_raw_fd_streamed_dot);
	g_test_add_func("/mail-sender/daemon/send-raw-refused", test_send_raw_refused);
	g_test_add_func("/mail-sender/daemon/no-tls-resumption-across-accounts",
			test_no_tls_resumption_across_accounts);
	g_test_add_func("/mail-sender/daemon/send-html-and-attachments",
			test_send_html_and_attachments);
	g_test_add_func("/mail-sender/daemon/connection-reuse", test_connection_reuse);
	g_test_add_func("/mail-sender/daemon/some-recipients-rejected",
			test_some_recipients_rejected);
	g_test_add_func("/mail-sender/daemon/some-recipients-deferred",
			test_some_recipients_deferred);
	g_test_add_func("/mail-sender/daemon/rejected-recipients-survive-restart",
			test_rejected_recipients_survive_restart);
	g_test_add_func("/mail-sender/daemon/spool-0.1-layout-delivered",
			test_spool_legacy_layout_delivered);
	g_test_add_func("/mail-sender/daemon/spool-bad-job-file-kept",
			test_spool_bad_job_file_kept);
	g_test_add_func("/mail-sender/daemon/verify-starttls-and-wrong-host",
			test_verify_starttls_and_wrong_host);
	g_test_add_func("/mail-sender/daemon/notify-digest-survives-sigterm",
			test_notify_digest_survives_sigterm);
	g_test_add_func("/mail-sender/daemon/notify-digest-survives-kill",
			test_notify_digest_survives_kill);
	g_test_add_func("/mail-sender/daemon/notify-digest-cancelled",
			test_notify_digest_cancelled);
	g_test_add_func("/mail-sender/daemon/spool-lock-respected", test_spool_lock_respected);
	g_test_add_func("/mail-sender/daemon/send-8bitmime", test_send_8bitmime);
	g_test_add_func("/mail-sender/daemon/send-8bit-downgraded", test_send_8bit_downgraded);
	g_test_add_func("/mail-sender/daemon/send-raw-8bit", test_send_raw_8bit);
	g_test_add_func("/mail-sender/daemon/send-smtputf8", test_send_smtputf8);
	g_test_add_func("/mail-sender/daemon/send-idn-domain", test_send_idn_domain);
	g_test_add_func("/mail-sender/daemon/smtputf8-not-offered", test_smtputf8_not_offered);
	g_test_add_func("/mail-sender/daemon/finished-jobs-forgotten",
			test_finished_jobs_forgotten);
	return g_test_run();
}
