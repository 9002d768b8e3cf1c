#include "config.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ms-error.h"
#include "ms-mime-downgrade.h"
#include "ms-sasl.h"
#include "ms-smtp-client.h"
#include "ms-test-server.h"

#define MS_TEST_GUARD_SECONDS 30
#define MS_TEST_FROM	      "alice@example.test"
#define MS_TEST_PASSWORD      "s3cret-Pa55"

static const gchar ms_test_message[] = "From: Alice <alice@example.test>\r\n"
				       "To: Bob <bob@example.test>\r\n"
				       "Subject: hello\r\n"
				       "Message-ID: <1@example.test>\r\n"
				       "\r\n"
				       "Hello Bob,\r\n"
				       "this is a test.\r\n";

/* the MsSmtp log messages (the transcript) while non-NULL */
static GString *ms_test_transcript = NULL;

static GLogWriterOutput
ms_test_log_writer(GLogLevelFlags log_level,
		   const GLogField *fields,
		   gsize n_fields,
		   gpointer user_data)
{
	if (ms_test_transcript != NULL) {
		const gchar *domain = NULL;
		const gchar *message = NULL;

		for (gsize i = 0; i < n_fields; i++) {
			if (g_strcmp0(fields[i].key, "GLIB_DOMAIN") == 0)
				domain = fields[i].value;
			else if (g_strcmp0(fields[i].key, "MESSAGE") == 0)
				message = fields[i].value;
		}
		if (g_strcmp0(domain, "MsSmtp") == 0 && message != NULL)
			g_string_append_printf(ms_test_transcript, "%s\n", message);
	}
	return g_log_writer_default(log_level, fields, n_fields, user_data);
}

/* one send (or verify) driven to its end on the default main context */
typedef struct {
	GAsyncResult *res;
	gboolean timed_out;
	GString *stages;	       /* "connecting tls auth sending", repeats folded */
	guint64 last_done;	       /* of the last "sending" progress */
	guint64 last_total;	       /* of the last "sending" progress */
	GCancellable *cancel_at_stage; /* cancelled when stage cancel_stage starts */
	MsSmtpStage cancel_stage;
} MsTestSession;

static void
ms_test_session_clear(MsTestSession *session)
{
	g_clear_object(&session->res);
	if (session->stages != NULL)
		g_string_free(session->stages, TRUE);
	session->stages = NULL;
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(MsTestSession, ms_test_session_clear)

static void
ms_test_progress_cb(MsSmtpClient *client,
		    guint stage,
		    guint64 done,
		    guint64 total,
		    gpointer user_data)
{
	MsTestSession *session = user_data;
	const gchar *name = ms_smtp_stage_to_string(stage);

	if (!g_str_has_suffix(session->stages->str, name)) {
		if (session->stages->len > 0)
			g_string_append_c(session->stages, ' ');
		g_string_append(session->stages, name);
	}
	if (stage == MS_SMTP_STAGE_SENDING) {
		g_assert_cmpuint(done, <=, total);
		g_assert_cmpuint(done, >=, session->last_done);
		session->last_done = done;
		session->last_total = total;
	} else {
		g_assert_cmpuint(done, ==, 0);
		g_assert_cmpuint(total, ==, 0);
	}
	if (session->cancel_at_stage != NULL && stage == session->cancel_stage)
		g_cancellable_cancel(session->cancel_at_stage);
}

static void
ms_test_async_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	MsTestSession *session = user_data;
	session->res = g_object_ref(res);
}

static gboolean
ms_test_guard_cb(gpointer user_data)
{
	MsTestSession *session = user_data;
	session->timed_out = TRUE;
	return G_SOURCE_REMOVE;
}

/* runs the main loop until the async call of session has finished, at most 30 s */
static void
ms_test_session_wait(MsTestSession *session)
{
	guint guard_id = g_timeout_add_seconds(MS_TEST_GUARD_SECONDS, ms_test_guard_cb, session);

	while (session->res == NULL && !session->timed_out)
		g_main_context_iteration(NULL, TRUE);
	if (!session->timed_out)
		g_source_remove(guard_id);
	g_assert_false(session->timed_out);
}

/* sends message to recipients through client; returns the final reply or NULL with error */
static gchar *
ms_test_send_full(MsSmtpClient *client,
		  MsTestSession *session,
		  const gchar *const *recipients,
		  const gchar *message,
		  GCancellable *cancellable,
		  GError **error)
{
	g_autoptr(GBytes) bytes = g_bytes_new(message, strlen(message));
	gulong handler_id;
	gchar *reply;

	session->stages = g_string_new(NULL);
	handler_id = g_signal_connect(client, "progress", G_CALLBACK(ms_test_progress_cb), session);
	ms_smtp_client_send_async(client,
				  MS_TEST_FROM,
				  recipients,
				  bytes,
				  cancellable,
				  ms_test_async_cb,
				  session);
	ms_test_session_wait(session);
	g_signal_handler_disconnect(client, handler_id);
	reply = ms_smtp_client_send_finish(client, session->res, error);
	g_test_message("stages: %s", session->stages->str);
	return reply;
}

static gchar *
ms_test_send(MsSmtpClient *client, MsTestSession *session, GError **error)
{
	const gchar *recipients[] = {"bob@example.test", NULL};
	return ms_test_send_full(client, session, recipients, ms_test_message, NULL, error);
}

/* an account "test" for 127.0.0.1:port with the given key, value pairs */
static MsAccount *
ms_test_account_new(guint16 port, ...) G_GNUC_NULL_TERMINATED;

static MsAccount *
ms_test_account_new(guint16 port, ...)
{
	g_autoptr(GKeyFile) keyfile = g_key_file_new();
	g_autoptr(GError) error = NULL;
	MsAccount *account;
	const gchar *key;
	va_list args;

	g_key_file_set_string(keyfile, "account test", "host", "127.0.0.1");
	g_key_file_set_integer(keyfile, "account test", "port", port);
	g_key_file_set_string(keyfile, "account test", "timeout", "10");
	va_start(args, port);
	while ((key = va_arg(args, const gchar *)) != NULL) {
		const gchar *value = va_arg(args, const gchar *);
		g_key_file_set_string(keyfile, "account test", key, value);
	}
	va_end(args);
	account = ms_account_new_from_keyfile(keyfile, "test", &error);
	g_assert_no_error(error);
	g_assert_nonnull(account);
	return account;
}

static MsTestServer *
ms_test_start(const gchar *mode, const gchar *const *extra_args)
{
	g_autoptr(GError) error = NULL;
	MsTestServer *server = ms_test_server_start(mode, extra_args, &error);

	g_assert_no_error(error);
	g_assert_nonnull(server);
	return server;
}

static MsTestServer *
ms_test_start_with_cert(const gchar *mode, const gchar *certname)
{
	g_autoptr(GError) error = NULL;
	MsTestServer *server = ms_test_server_start_with_cert(mode, certname, NULL, &error);

	g_assert_no_error(error);
	g_assert_nonnull(server);
	return server;
}

/* the one message the server stored */
static MsTestMail *
ms_test_get_mail(MsTestServer *server)
{
	g_autoptr(GPtrArray) mails = ms_test_server_wait_for_messages(server, 1, 10000);

	g_assert_cmpuint(mails->len, ==, 1);
	return g_ptr_array_steal_index(mails, 0);
}

static void
ms_test_assert_mail(MsTestMail *mail, const gchar *message)
{
	gsize len = 0;
	const gchar *data = g_bytes_get_data(mail->eml, &len);

	g_assert_cmpmem(data, len, message, strlen(message));
	g_assert_cmpstr(mail->mail_from, ==, MS_TEST_FROM);
}

/* a server that sees the message must not be in the test output: no message is stored */
static void
ms_test_assert_nothing_stored(MsTestServer *server)
{
	g_assert_cmpuint(ms_test_server_count_messages(server), ==, 0);
}

static gchar *
ms_test_cert_sha256(const gchar *name)
{
	g_autofree gchar *path = ms_test_get_cert_file(name);
	g_autoptr(GTlsCertificate) cert = NULL;
	g_autoptr(GByteArray) der = NULL;
	g_autoptr(GError) error = NULL;

	g_assert_nonnull(path);
	cert = g_tls_certificate_new_from_file(path, &error);
	g_assert_no_error(error);
	g_object_get(cert, "certificate", &der, NULL);
	g_assert_nonnull(der);
	return g_compute_checksum_for_data(G_CHECKSUM_SHA256, der->data, der->len);
}

static void
ms_test_plain_func(void)
{
	g_autoptr(MsTestServer) server = ms_test_start("plain", NULL);
	g_autoptr(MsAccount) account =
	    ms_test_account_new(ms_test_server_get_port(server), "security", "none", NULL);
	g_autoptr(MsSmtpClient) client = ms_smtp_client_new(account);
	g_autoptr(MsTestMail) mail = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *reply = NULL;
	g_auto(MsTestSession) session = {0};
	const gchar *recipients[] = {"bob@example.test", "carol@example.org", NULL};

	g_assert_cmpstr(ms_smtp_client_get_last_reply(client), ==, "");
	reply = ms_test_send_full(client, &session, recipients, ms_test_message, NULL, &error);
	g_assert_no_error(error);
	g_assert_nonnull(reply);
	g_assert_true(g_str_has_prefix(reply, "250 2.0.0 OK queued as "));
	/* the 221 to QUIT is housekeeping: the last reply is the one to the message */
	g_assert_cmpstr(ms_smtp_client_get_last_reply(client), ==, reply);
	g_assert_cmpstr(session.stages->str, ==, "connecting sending");
	g_assert_cmpuint(session.last_done, ==, strlen(ms_test_message));
	g_assert_cmpuint(session.last_total, ==, strlen(ms_test_message));

	mail = ms_test_get_mail(server);
	ms_test_assert_mail(mail, ms_test_message);
	g_assert_cmpstrv(mail->rcpt_tos, recipients);
	g_assert_cmpstr(mail->ehlo_or_helo, ==, "EHLO");
	g_assert_null(mail->tls_version);
	/* no username: no AUTH, even with the default auth=auto */
	g_assert_null(mail->auth_login);
	g_assert_null(mail->auth_mechanism);
}

static void
ms_test_dot_stuffing_func(void)
{
	g_autoptr(MsTestServer) server = ms_test_start("plain", NULL);
	g_autoptr(MsAccount) account =
	    ms_test_account_new(ms_test_server_get_port(server), "security", "none", NULL);
	g_autoptr(MsSmtpClient) client = ms_smtp_client_new(account);
	g_autoptr(MsTestMail) mail = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *reply = NULL;
	g_auto(MsTestSession) session = {0};
	const gchar *recipients[] = {"bob@example.test", NULL};
	const gchar *message = "Subject: dots\r\n"
			       "\r\n"
			       ".\r\n"
			       ".foo\r\n"
			       "..bar\r\n"
			       "end.\r\n"
			       ".\r\n";

	reply = ms_test_send_full(client, &session, recipients, message, NULL, &error);
	g_assert_no_error(error);
	g_assert_nonnull(reply);
	mail = ms_test_get_mail(server);
	ms_test_assert_mail(mail, message);
}

static void
ms_test_large_func(void)
{
	g_autoptr(MsTestServer) server = ms_test_start("plain", NULL);
	g_autoptr(MsAccount) account =
	    ms_test_account_new(ms_test_server_get_port(server), "security", "none", NULL);
	g_autoptr(MsSmtpClient) client = ms_smtp_client_new(account);
	g_autoptr(MsTestMail) mail = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *reply = NULL;
	g_auto(MsTestSession) session = {0};
	g_autoptr(GString) message = g_string_new("Subject: large\r\n\r\n");
	const gchar *recipients[] = {"bob@example.test", NULL};

	/* several chunks of 64 KiB, with a dot line across a chunk boundary */
	while (message->len < 200 * 1024)
		g_string_append(message, "0123456789 abcdefghijklmnopqrstuvwxyz\r\n.dot\r\n");
	reply = ms_test_send_full(client, &session, recipients, message->str, NULL, &error);
	g_assert_no_error(error);
	g_assert_nonnull(reply);
	g_assert_cmpuint(session.last_done, ==, message->len);
	g_assert_cmpuint(session.last_total, ==, message->len);
	mail = ms_test_get_mail(server);
	ms_test_assert_mail(mail, message->str);
}

static void
ms_test_starttls_opportunistic_func(void)
{
	g_autoptr(MsTestServer) server = ms_test_start("starttls", NULL);
	g_autofree gchar *ca_file = ms_test_server_get_ca_file();
	g_autoptr(MsAccount) account = ms_test_account_new(ms_test_server_get_port(server),
							   "security",
							   "starttls-opportunistic",
							   "ca-file",
							   ca_file,
							   NULL);
	g_autoptr(MsSmtpClient) client = ms_smtp_client_new(account);
	g_autoptr(MsTestMail) mail = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *reply = NULL;
	g_auto(MsTestSession) session = {0};

	reply = ms_test_send(client, &session, &error);
	g_assert_no_error(error);
	g_assert_nonnull(reply);
	g_assert_cmpstr(session.stages->str, ==, "connecting tls sending");
	mail = ms_test_get_mail(server);
	ms_test_assert_mail(mail, ms_test_message);
	g_assert_cmpstr(mail->tls_version, ==, "TLSv1.3");
}

static void
ms_test_starttls_required_func(void)
{
	g_autoptr(MsTestServer) server = ms_test_start("require-starttls", NULL);
	g_autofree gchar *ca_file = ms_test_server_get_ca_file();
	g_autoptr(MsAccount) account = ms_test_account_new(ms_test_server_get_port(server),
							   "security",
							   "starttls",
							   "ca-file",
							   ca_file,
							   NULL);
	g_autoptr(MsSmtpClient) client = ms_smtp_client_new(account);
	g_autoptr(MsTestMail) mail = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *reply = NULL;
	g_auto(MsTestSession) session = {0};

	reply = ms_test_send(client, &session, &error);
	g_assert_no_error(error);
	g_assert_nonnull(reply);
	mail = ms_test_get_mail(server);
	ms_test_assert_mail(mail, ms_test_message);
	g_assert_cmpstr(mail->tls_version, ==, "TLSv1.3");
}

static void
ms_test_implicit_tls_func(void)
{
	g_autoptr(MsTestServer) server = ms_test_start("implicit-tls", NULL);
	g_autofree gchar *ca_file = ms_test_server_get_ca_file();
	g_autoptr(MsAccount) account = ms_test_account_new(ms_test_server_get_port(server),
							   "security",
							   "tls",
							   "ca-file",
							   ca_file,
							   NULL);
	g_autoptr(MsSmtpClient) client = ms_smtp_client_new(account);
	g_autoptr(MsTestMail) mail = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *reply = NULL;
	g_auto(MsTestSession) session = {0};

	reply = ms_test_send(client, &session, &error);
	g_assert_no_error(error);
	g_assert_nonnull(reply);
	g_assert_cmpstr(session.stages->str, ==, "connecting tls sending");
	mail = ms_test_get_mail(server);
	ms_test_assert_mail(mail, ms_test_message);
	g_assert_cmpstr(mail->tls_version, ==, "TLSv1.3");
}

/* a login with auth= against a server offering mechanisms ("SCRAM-SHA-256,PLAIN"; NULL: its
 * default), which must see expected_mechanism */
static void
ms_test_auth_offered(const gchar *auth, const gchar *mechanisms, const gchar *expected_mechanism)
{
	const gchar *args[] = {"--auth",
			       "alice:" MS_TEST_PASSWORD,
			       mechanisms != NULL ? "--auth-mechanisms" : NULL,
			       mechanisms,
			       NULL};
	g_autoptr(MsTestServer) server = ms_test_start("starttls", args);
	g_autofree gchar *ca_file = ms_test_server_get_ca_file();
	g_autoptr(MsAccount) account = ms_test_account_new(ms_test_server_get_port(server),
							   "security",
							   "starttls",
							   "ca-file",
							   ca_file,
							   "auth",
							   auth,
							   "username",
							   "alice",
							   NULL);
	g_autoptr(MsSmtpClient) client = ms_smtp_client_new(account);
	g_autoptr(MsTestMail) mail = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *reply = NULL;
	g_auto(MsTestSession) session = {0};

	ms_smtp_client_set_password(client, MS_TEST_PASSWORD);
	reply = ms_test_send(client, &session, &error);
	g_assert_no_error(error);
	g_assert_nonnull(reply);
	g_assert_cmpstr(session.stages->str, ==, "connecting tls auth sending");
	mail = ms_test_get_mail(server);
	ms_test_assert_mail(mail, ms_test_message);
	g_assert_cmpstr(mail->auth_login, ==, "alice");
	g_assert_cmpstr(mail->auth_mechanism, ==, expected_mechanism);
	g_assert_cmpstr(mail->tls_version, ==, "TLSv1.3");
}

static void
ms_test_auth(const gchar *auth, const gchar *expected_mechanism)
{
	ms_test_auth_offered(auth, NULL, expected_mechanism);
}

/* the password, its base64 forms and the message body never reach the log */
static void
ms_test_transcript_redacted(const gchar *auth, const gchar *expected_auth_line)
{
	const gchar *args[] = {"--auth", "alice:" MS_TEST_PASSWORD, NULL};
	g_autoptr(MsTestServer) server = ms_test_start("starttls", args);
	g_autofree gchar *ca_file = ms_test_server_get_ca_file();
	g_autoptr(MsAccount) account = ms_test_account_new(ms_test_server_get_port(server),
							   "security",
							   "starttls",
							   "ca-file",
							   ca_file,
							   "auth",
							   auth,
							   "username",
							   "alice",
							   NULL);
	g_autoptr(MsSmtpClient) client = ms_smtp_client_new(account);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *reply = NULL;
	g_autofree gchar *plain = ms_sasl_plain_response("alice", MS_TEST_PASSWORD);
	g_autofree gchar *login_user = ms_sasl_login_response("alice");
	g_autofree gchar *login_password = ms_sasl_login_response(MS_TEST_PASSWORD);
	g_autoptr(GString) transcript = g_string_new(NULL);
	g_auto(MsTestSession) session = {0};

	ms_smtp_client_set_password(client, MS_TEST_PASSWORD);
	ms_test_transcript = transcript;
	reply = ms_test_send(client, &session, &error);
	ms_test_transcript = NULL;
	g_assert_no_error(error);
	g_assert_nonnull(reply);
	ms_test_message_lines("transcript: ", transcript->str);

	g_assert_nonnull(strstr(transcript->str, "C: STARTTLS\n"));
	g_assert_nonnull(strstr(transcript->str, expected_auth_line));
	g_assert_nonnull(strstr(transcript->str, "C: MAIL FROM:<" MS_TEST_FROM ">"));
	g_assert_nonnull(strstr(transcript->str, "\nS: 235 "));
	g_assert_null(strstr(transcript->str, MS_TEST_PASSWORD));
	g_assert_null(strstr(transcript->str, plain));
	g_assert_null(strstr(transcript->str, login_user));
	g_assert_null(strstr(transcript->str, login_password));
	g_assert_null(strstr(transcript->str, "this is a test"));
}

static void
ms_test_transcript_plain_func(void)
{
	ms_test_transcript_redacted("plain", "C: <redacted>\nS: 235 ");
}

static void
ms_test_transcript_login_func(void)
{
	ms_test_transcript_redacted("login",
				    "C: <redacted>\nS: 334 <redacted>\nC: <redacted>\n"
				    "S: 334 <redacted>\nC: <redacted>\nS: 235 ");
}

static void
ms_test_auth_plain_func(void)
{
	ms_test_auth("plain", "PLAIN");
}

static void
ms_test_auth_login_func(void)
{
	ms_test_auth("login", "LOGIN");
}

static void
ms_test_auth_auto_func(void)
{
	/* the server offers "AUTH LOGIN PLAIN": PLAIN is preferred */
	ms_test_auth_offered("auto", "LOGIN,PLAIN", "PLAIN");
	/* the strongest of all */
	ms_test_auth_offered("auto", "LOGIN,PLAIN,CRAM-MD5,SCRAM-SHA-256", "SCRAM-SHA-256");
	ms_test_auth_offered("auto", "LOGIN,PLAIN,CRAM-MD5", "CRAM-MD5");
	/* XOAUTH2 wants a token, never a password: only on request */
	ms_test_auth_offered("auto", "XOAUTH2,LOGIN", "LOGIN");
}

static void
ms_test_auth_cram_md5_func(void)
{
	ms_test_auth_offered("cram-md5", "PLAIN,CRAM-MD5", "CRAM-MD5");
}

static void
ms_test_auth_scram_sha_256_func(void)
{
	ms_test_auth_offered("scram-sha-256", "PLAIN,SCRAM-SHA-256", "SCRAM-SHA-256");
}

static void
ms_test_auth_xoauth2_func(void)
{
	/* the test server takes the password as the access token */
	ms_test_auth_offered("xoauth2", "PLAIN,XOAUTH2", "XOAUTH2");
}

/* a wrong password or token with every mechanism: AuthFailed naming the user and the
 * mechanism, the server's reply, no secret in the message, nothing sent */
static void
ms_test_auth_wrong_secret_func(void)
{
	const gchar *mechanisms[] = {"CRAM-MD5", "SCRAM-SHA-256", "XOAUTH2"};

	for (guint i = 0; i < G_N_ELEMENTS(mechanisms); i++) {
		const gchar *args[] = {"--auth",
				       "alice:" MS_TEST_PASSWORD,
				       "--auth-mechanisms",
				       mechanisms[i],
				       NULL};
		g_autoptr(MsTestServer) server = ms_test_start("implicit-tls", args);
		g_autofree gchar *ca_file = ms_test_server_get_ca_file();
		g_autofree gchar *auth = g_ascii_strdown(mechanisms[i], -1);
		g_autoptr(MsAccount) account = ms_test_account_new(ms_test_server_get_port(server),
								   "security",
								   "tls",
								   "ca-file",
								   ca_file,
								   "auth",
								   auth,
								   "username",
								   "alice",
								   NULL);
		g_autoptr(MsSmtpClient) client = ms_smtp_client_new(account);
		g_autoptr(GError) error = NULL;
		g_autofree gchar *reply = NULL;
		g_auto(MsTestSession) session = {0};

		ms_smtp_client_set_password(client, "wrong-Pa55");
		reply = ms_test_send(client, &session, &error);
		g_test_message("%s: %s", mechanisms[i], error != NULL ? error->message : "(none)");
		g_assert_error(error, MS_ERROR, MS_ERROR_AUTH_FAILED);
		g_assert_null(reply);
		g_assert_nonnull(strstr(error->message, mechanisms[i]));
		g_assert_null(strstr(error->message, "wrong-Pa55"));
		g_assert_cmpstr(session.stages->str, ==, "connecting tls auth");
		ms_test_assert_nothing_stored(server);
	}
}

static void
ms_test_auth_wrong_password_func(void)
{
	const gchar *args[] = {"--auth", "alice:" MS_TEST_PASSWORD, NULL};
	g_autoptr(MsTestServer) server = ms_test_start("implicit-tls", args);
	g_autofree gchar *ca_file = ms_test_server_get_ca_file();
	g_autoptr(MsAccount) account = ms_test_account_new(ms_test_server_get_port(server),
							   "security",
							   "tls",
							   "ca-file",
							   ca_file,
							   "username",
							   "alice",
							   NULL);
	g_autoptr(MsSmtpClient) client = ms_smtp_client_new(account);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *reply = NULL;
	g_autofree gchar *plain = ms_sasl_plain_response("alice", "wrong-Pa55");
	g_auto(MsTestSession) session = {0};

	ms_smtp_client_set_password(client, "wrong-Pa55");
	reply = ms_test_send(client, &session, &error);
	g_assert_error(error, MS_ERROR, MS_ERROR_AUTH_FAILED);
	g_assert_null(reply);
	g_test_message("error: %s", error->message);
	g_assert_nonnull(strstr(error->message, "535"));
	g_assert_nonnull(strstr(error->message, "alice"));
	g_assert_null(strstr(error->message, "wrong-Pa55"));
	g_assert_null(strstr(error->message, plain));
	g_assert_null(strstr(ms_smtp_client_get_last_reply(client), "wrong-Pa55"));
	g_assert_cmpstr(session.stages->str, ==, "connecting tls auth");
	ms_test_assert_nothing_stored(server);
}

static void
ms_test_auth_no_password_func(void)
{
	g_autoptr(MsTestServer) server = ms_test_start("implicit-tls", NULL);
	g_autofree gchar *ca_file = ms_test_server_get_ca_file();
	g_autoptr(MsAccount) account = ms_test_account_new(ms_test_server_get_port(server),
							   "security",
							   "tls",
							   "ca-file",
							   ca_file,
							   "username",
							   "alice",
							   NULL);
	g_autoptr(MsSmtpClient) client = ms_smtp_client_new(account);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *reply = NULL;
	g_auto(MsTestSession) session = {0};

	reply = ms_test_send(client, &session, &error);
	g_assert_error(error, MS_ERROR, MS_ERROR_CREDENTIALS);
	g_assert_null(reply);
	ms_test_assert_nothing_stored(server);
}

static void
ms_test_auth_not_offered_func(void)
{
	/* without --auth the server offers no AUTH, even after TLS */
	g_autoptr(MsTestServer) server = ms_test_start("starttls", NULL);
	g_autofree gchar *ca_file = ms_test_server_get_ca_file();
	g_autoptr(MsAccount) account = ms_test_account_new(ms_test_server_get_port(server),
							   "security",
							   "starttls",
							   "ca-file",
							   ca_file,
							   "username",
							   "alice",
							   NULL);
	g_autoptr(MsSmtpClient) client = ms_smtp_client_new(account);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *reply = NULL;
	g_auto(MsTestSession) session = {0};

	ms_smtp_client_set_password(client, MS_TEST_PASSWORD);
	reply = ms_test_send(client, &session, &error);
	g_assert_error(error, MS_ERROR, MS_ERROR_AUTH_FAILED);
	g_assert_null(reply);
	g_assert_cmpstr(error->message,
			==,
			"127.0.0.1 does not offer AUTH (after TLS): remove username= to send "
			"without authentication");
	ms_test_assert_nothing_stored(server);
}

static void
ms_test_auth_plaintext_refused_func(void)
{
	const gchar *args[] = {"--auth", "alice:" MS_TEST_PASSWORD, "--auth-plaintext", NULL};
	g_autoptr(MsTestServer) server = ms_test_start("plain", args);
	g_autoptr(MsAccount) account = ms_test_account_new(ms_test_server_get_port(server),
							   "security",
							   "none",
							   "username",
							   "alice",
							   NULL);
	g_autoptr(MsSmtpClient) client = ms_smtp_client_new(account);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *reply = NULL;
	g_auto(MsTestSession) session = {0};

	ms_smtp_client_set_password(client, MS_TEST_PASSWORD);
	reply = ms_test_send(client, &session, &error);
	g_assert_error(error, MS_ERROR, MS_ERROR_TLS_REQUIRED);
	g_assert_null(reply);
	g_assert_true(
	    g_str_has_prefix(error->message, "refusing to send the password without TLS"));
	g_assert_cmpstr(session.stages->str, ==, "connecting");
	ms_test_assert_nothing_stored(server);
}

static void
ms_test_auth_plaintext_allowed_func(void)
{
	const gchar *args[] = {"--auth", "alice:" MS_TEST_PASSWORD, "--auth-plaintext", NULL};
	g_autoptr(MsTestServer) server = ms_test_start("plain", args);
	g_autoptr(MsAccount) account = ms_test_account_new(ms_test_server_get_port(server),
							   "security",
							   "none",
							   "username",
							   "alice",
							   "allow-plaintext-auth",
							   "true",
							   NULL);
	g_autoptr(MsSmtpClient) client = ms_smtp_client_new(account);
	g_autoptr(MsTestMail) mail = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *reply = NULL;
	g_auto(MsTestSession) session = {0};

	ms_smtp_client_set_password(client, MS_TEST_PASSWORD);
	reply = ms_test_send(client, &session, &error);
	g_assert_no_error(error);
	g_assert_nonnull(reply);
	mail = ms_test_get_mail(server);
	g_assert_cmpstr(mail->auth_login, ==, "alice");
	g_assert_null(mail->tls_version);
}

/* SCRAM: a server that cannot prove it knows the password is refused, although it said yes,
 * and gets no message */
static void
ms_test_auth_scram_bad_server_signature_func(void)
{
	const gchar *args[] = {"--auth",
			       "alice:" MS_TEST_PASSWORD,
			       "--auth-mechanisms",
			       "SCRAM-SHA-256",
			       "--scram-bad-signature",
			       NULL};
	g_autoptr(MsTestServer) server = ms_test_start("implicit-tls", args);
	g_autofree gchar *ca_file = ms_test_server_get_ca_file();
	g_autoptr(MsAccount) account = ms_test_account_new(ms_test_server_get_port(server),
							   "security",
							   "tls",
							   "ca-file",
							   ca_file,
							   "username",
							   "alice",
							   NULL);
	g_autoptr(MsSmtpClient) client = ms_smtp_client_new(account);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *reply = NULL;
	g_auto(MsTestSession) session = {0};

	ms_smtp_client_set_password(client, MS_TEST_PASSWORD);
	reply = ms_test_send(client, &session, &error);
	g_assert_error(error, MS_ERROR, MS_ERROR_AUTH_FAILED);
	g_assert_null(reply);
	g_test_message("error: %s", error->message);
	g_assert_true(
	    g_str_has_suffix(error->message,
			     ": AUTH SCRAM-SHA-256 failed: SCRAM server signature does not "
			     "match: the server did not prove it knows the password"));
	g_assert_cmpstr(session.stages->str, ==, "connecting tls auth");
	ms_test_assert_nothing_stored(server);
}

/* a mechanism the server does not offer: refused after EHLO, naming what it offers */
static void
ms_test_auth_not_offered_mechanism_func(void)
{
	const gchar *args[] = {"--auth",
			       "alice:" MS_TEST_PASSWORD,
			       "--auth-mechanisms",
			       "PLAIN,LOGIN",
			       NULL};
	g_autoptr(MsTestServer) server = ms_test_start("implicit-tls", args);
	g_autofree gchar *ca_file = ms_test_server_get_ca_file();
	g_autoptr(MsAccount) account = ms_test_account_new(ms_test_server_get_port(server),
							   "security",
							   "tls",
							   "ca-file",
							   ca_file,
							   "auth",
							   "cram-md5",
							   "username",
							   "alice",
							   NULL);
	g_autoptr(MsSmtpClient) client = ms_smtp_client_new(account);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *reply = NULL;
	g_auto(MsTestSession) session = {0};

	ms_smtp_client_set_password(client, MS_TEST_PASSWORD);
	reply = ms_test_send(client, &session, &error);
	g_assert_error(error, MS_ERROR, MS_ERROR_AUTH_FAILED);
	g_assert_null(reply);
	g_assert_cmpstr(error->message,
			==,
			"127.0.0.1 offers AUTH PLAIN LOGIN but not auth=cram-md5: set auth= to "
			"one it offers, or auth=auto");
	ms_test_assert_nothing_stored(server);
}

static void
ms_test_helo_name_func(void)
{
	g_autoptr(MsTestServer) server = ms_test_start("plain", NULL);
	g_autoptr(MsAccount) account = ms_test_account_new(ms_test_server_get_port(server),
							   "security",
							   "none",
							   "helo-name",
							   "client.example.test",
							   NULL);
	g_autoptr(MsSmtpClient) client = ms_smtp_client_new(account);
	g_autoptr(MsTestMail) mail = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *reply = NULL;
	g_auto(MsTestSession) session = {0};

	reply = ms_test_send(client, &session, &error);
	g_assert_no_error(error);
	g_assert_nonnull(reply);
	mail = ms_test_get_mail(server);
	g_assert_cmpstr(mail->helo, ==, "client.example.test");
	g_assert_cmpstr(mail->ehlo_or_helo, ==, "EHLO");
}

static void
ms_test_helo_fallback_func(void)
{
	g_autoptr(MsTestServer) server = ms_test_start("no-ehlo", NULL);
	g_autoptr(MsAccount) account = ms_test_account_new(ms_test_server_get_port(server),
							   "security",
							   "starttls-opportunistic",
							   "helo-name",
							   "old.example.test",
							   NULL);
	g_autoptr(MsSmtpClient) client = ms_smtp_client_new(account);
	g_autoptr(MsTestMail) mail = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *reply = NULL;
	g_auto(MsTestSession) session = {0};

	reply = ms_test_send(client, &session, &error);
	g_assert_no_error(error);
	g_assert_nonnull(reply);
	mail = ms_test_get_mail(server);
	ms_test_assert_mail(mail, ms_test_message);
	g_assert_cmpstr(mail->ehlo_or_helo, ==, "HELO");
	g_assert_cmpstr(mail->helo, ==, "old.example.test");
}

static void
ms_test_helo_fallback_starttls_required_func(void)
{
	g_autoptr(MsTestServer) server = ms_test_start("no-ehlo", NULL);
	g_autoptr(MsAccount) account =
	    ms_test_account_new(ms_test_server_get_port(server), "security", "starttls", NULL);
	g_autoptr(MsSmtpClient) client = ms_smtp_client_new(account);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *reply = NULL;
	g_auto(MsTestSession) session = {0};

	reply = ms_test_send(client, &session, &error);
	g_assert_error(error, MS_ERROR, MS_ERROR_TLS_REQUIRED);
	g_assert_null(reply);
	ms_test_assert_nothing_stored(server);
}

static void
ms_test_stall_starttls_func(void)
{
	g_autoptr(MsTestServer) server = ms_test_start("stall-starttls", NULL);
	g_autofree gchar *ca_file = ms_test_server_get_ca_file();
	g_autoptr(MsAccount) account = ms_test_account_new(ms_test_server_get_port(server),
							   "security",
							   "starttls",
							   "ca-file",
							   ca_file,
							   "timeout",
							   "2",
							   NULL);
	g_autoptr(MsSmtpClient) client = ms_smtp_client_new(account);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *reply = NULL;
	g_autofree gchar *expected = NULL;
	g_auto(MsTestSession) session = {0};
	gint64 start = g_get_monotonic_time();
	gint64 elapsed;

	reply = ms_test_send(client, &session, &error);
	elapsed = g_get_monotonic_time() - start;
	g_assert_error(error, MS_ERROR, MS_ERROR_TIMEOUT);
	g_assert_null(reply);
	expected = g_strdup_printf("TLS handshake with 127.0.0.1:%u timed out after 2 s",
				   ms_test_server_get_port(server));
	g_assert_cmpstr(error->message, ==, expected);
	g_assert_cmpint(elapsed, >=, 1 * G_USEC_PER_SEC);
	g_assert_cmpint(elapsed, <, 8 * G_USEC_PER_SEC);
	g_assert_cmpstr(session.stages->str, ==, "connecting tls");
}

static void
ms_test_tls_only_silent(const gchar *security)
{
	g_autoptr(MsTestServer) server = ms_test_start("tls-only-silent", NULL);
	g_autoptr(MsAccount) account = ms_test_account_new(ms_test_server_get_port(server),
							   "security",
							   security,
							   "timeout",
							   "2",
							   NULL);
	g_autoptr(MsSmtpClient) client = ms_smtp_client_new(account);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *reply = NULL;
	g_autofree gchar *expected = NULL;
	g_auto(MsTestSession) session = {0};
	gint64 start = g_get_monotonic_time();
	gint64 elapsed;

	reply = ms_test_send(client, &session, &error);
	elapsed = g_get_monotonic_time() - start;
	g_assert_error(error, MS_ERROR, MS_ERROR_TIMEOUT);
	g_assert_null(reply);
	expected = g_strdup_printf("no greeting from 127.0.0.1:%u within 2 s: the server may "
				   "expect TLS from the first byte: set security=tls",
				   ms_test_server_get_port(server));
	g_assert_cmpstr(error->message, ==, expected);
	g_assert_cmpint(elapsed, <, 8 * G_USEC_PER_SEC);
}

static void
ms_test_tls_only_silent_starttls_func(void)
{
	ms_test_tls_only_silent("starttls");
}

static void
ms_test_tls_only_silent_none_func(void)
{
	ms_test_tls_only_silent("none");
}

static void
ms_test_implicit_tls_to_plain_func(void)
{
	g_autoptr(MsTestServer) server = ms_test_start("plain", NULL);
	g_autoptr(MsAccount) account =
	    ms_test_account_new(ms_test_server_get_port(server), "security", "tls", NULL);
	g_autoptr(MsSmtpClient) client = ms_smtp_client_new(account);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *reply = NULL;
	g_auto(MsTestSession) session = {0};

	reply = ms_test_send(client, &session, &error);
	g_assert_error(error, MS_ERROR, MS_ERROR_TLS);
	g_assert_null(reply);
	g_test_message("error: %s", error->message);
	g_assert_true(g_str_has_suffix(error->message,
				       "the server may not speak TLS on connect: try "
				       "security=starttls"));
	ms_test_assert_nothing_stored(server);
}

static void
ms_test_starttls_not_offered_func(void)
{
	g_autoptr(MsTestServer) server = ms_test_start("plain", NULL);
	g_autoptr(MsAccount) account =
	    ms_test_account_new(ms_test_server_get_port(server), "security", "starttls", NULL);
	g_autoptr(MsSmtpClient) client = ms_smtp_client_new(account);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *reply = NULL;
	g_autofree gchar *expected = NULL;
	g_auto(MsTestSession) session = {0};

	reply = ms_test_send(client, &session, &error);
	g_assert_error(error, MS_ERROR, MS_ERROR_TLS_REQUIRED);
	g_assert_null(reply);
	expected = g_strdup_printf("the server 127.0.0.1:%u does not offer STARTTLS; set "
				   "security=tls if it expects TLS on connect, or security=none "
				   "to send in clear",
				   ms_test_server_get_port(server));
	g_assert_cmpstr(error->message, ==, expected);
	g_assert_cmpstr(session.stages->str, ==, "connecting");
	ms_test_assert_nothing_stored(server);
}

static void
ms_test_security_none_ignores_starttls_func(void)
{
	g_autoptr(MsTestServer) server = ms_test_start("starttls", NULL);
	g_autoptr(MsAccount) account =
	    ms_test_account_new(ms_test_server_get_port(server), "security", "none", NULL);
	g_autoptr(MsSmtpClient) client = ms_smtp_client_new(account);
	g_autoptr(MsTestMail) mail = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *reply = NULL;
	g_auto(MsTestSession) session = {0};

	reply = ms_test_send(client, &session, &error);
	g_assert_no_error(error);
	g_assert_nonnull(reply);
	g_assert_cmpstr(session.stages->str, ==, "connecting sending");
	mail = ms_test_get_mail(server);
	g_assert_null(mail->tls_version);
}

static void
ms_test_starttls_inject_func(void)
{
	g_autoptr(MsTestServer) server = ms_test_start("starttls-inject", NULL);
	g_autofree gchar *ca_file = ms_test_server_get_ca_file();
	g_autoptr(MsAccount) account = ms_test_account_new(ms_test_server_get_port(server),
							   "security",
							   "starttls",
							   "ca-file",
							   ca_file,
							   NULL);
	g_autoptr(MsSmtpClient) client = ms_smtp_client_new(account);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *reply = NULL;
	g_autofree gchar *expected = NULL;
	g_auto(MsTestSession) session = {0};

	reply = ms_test_send(client, &session, &error);
	g_assert_error(error, MS_ERROR, MS_ERROR_TLS);
	g_assert_null(reply);
	expected = g_strdup_printf("the server 127.0.0.1:%u sent data after its STARTTLS reply; "
				   "possible man-in-the-middle, aborting",
				   ms_test_server_get_port(server));
	g_assert_cmpstr(error->message, ==, expected);
	ms_test_assert_nothing_stored(server);
}

static void
ms_test_wrong_host_func(void)
{
	g_autoptr(MsTestServer) server = ms_test_start_with_cert("starttls", "wronghost");
	g_autofree gchar *ca_file = ms_test_server_get_ca_file();
	g_autoptr(MsAccount) account = ms_test_account_new(ms_test_server_get_port(server),
							   "security",
							   "starttls",
							   "ca-file",
							   ca_file,
							   NULL);
	g_autoptr(MsSmtpClient) client = ms_smtp_client_new(account);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *reply = NULL;
	g_autofree gchar *expected = NULL;
	g_auto(MsTestSession) session = {0};

	reply = ms_test_send(client, &session, &error);
	g_assert_error(error, MS_ERROR, MS_ERROR_TLS);
	g_assert_null(reply);
	expected = g_strdup_printf("TLS handshake with 127.0.0.1:%u failed: the certificate of "
				   "127.0.0.1 is for another host name (wrong.example.invalid): "
				   "check host=",
				   ms_test_server_get_port(server));
	g_assert_cmpstr(error->message, ==, expected);
	ms_test_assert_nothing_stored(server);
}

static void
ms_test_expired_func(void)
{
	g_autoptr(MsTestServer) server = ms_test_start_with_cert("implicit-tls", "expired");
	g_autofree gchar *ca_file = ms_test_server_get_ca_file();
	g_autoptr(MsAccount) account = ms_test_account_new(ms_test_server_get_port(server),
							   "security",
							   "tls",
							   "ca-file",
							   ca_file,
							   NULL);
	g_autoptr(MsSmtpClient) client = ms_smtp_client_new(account);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *reply = NULL;
	g_autofree gchar *expected = NULL;
	g_auto(MsTestSession) session = {0};

	reply = ms_test_send(client, &session, &error);
	g_assert_error(error, MS_ERROR, MS_ERROR_TLS);
	g_assert_null(reply);
	expected = g_strdup_printf("TLS handshake with 127.0.0.1:%u failed: the certificate of "
				   "127.0.0.1 expired on 2020-12-31: the server's administrator "
				   "must renew it",
				   ms_test_server_get_port(server));
	g_assert_cmpstr(error->message, ==, expected);
	ms_test_assert_nothing_stored(server);
}

static void
ms_test_unknown_ca_func(void)
{
	/* no ca-file: the system CAs do not know the test CA */
	g_autoptr(MsTestServer) server = ms_test_start("implicit-tls", NULL);
	g_autoptr(MsAccount) account =
	    ms_test_account_new(ms_test_server_get_port(server), "security", "tls", NULL);
	g_autoptr(MsSmtpClient) client = ms_smtp_client_new(account);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *reply = NULL;
	g_autofree gchar *sha256 = ms_test_cert_sha256("server.pem");
	g_autofree gchar *expected = NULL;
	g_auto(MsTestSession) session = {0};

	reply = ms_test_send(client, &session, &error);
	g_assert_error(error, MS_ERROR, MS_ERROR_TLS);
	g_assert_null(reply);
	expected = g_strdup_printf("TLS handshake with 127.0.0.1:%u failed: the certificate of "
				   "127.0.0.1 is not signed by a trusted CA: set ca-file= to the "
				   "CA that signed it, or pin this certificate with "
				   "tls-fingerprint=%s",
				   ms_test_server_get_port(server),
				   sha256);
	g_assert_cmpstr(error->message, ==, expected);
	ms_test_assert_nothing_stored(server);
}

static void
ms_test_pinned_func(void)
{
	g_autoptr(MsTestServer) server = ms_test_start_with_cert("starttls", "selfsigned");
	g_autofree gchar *sha256 = ms_test_cert_sha256("selfsigned.pem");
	g_autoptr(MsAccount) account = ms_test_account_new(ms_test_server_get_port(server),
							   "security",
							   "starttls",
							   "tls-fingerprint",
							   sha256,
							   NULL);
	g_autoptr(MsSmtpClient) client = ms_smtp_client_new(account);
	g_autoptr(MsTestMail) mail = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *reply = NULL;
	g_auto(MsTestSession) session = {0};

	reply = ms_test_send(client, &session, &error);
	g_assert_no_error(error);
	g_assert_nonnull(reply);
	mail = ms_test_get_mail(server);
	ms_test_assert_mail(mail, ms_test_message);
	g_assert_cmpstr(mail->tls_version, ==, "TLSv1.3");
}

static void
ms_test_pin_mismatch_func(void)
{
	/* the CA is trusted, the certificate valid: the pin still decides */
	g_autoptr(MsTestServer) server = ms_test_start("implicit-tls", NULL);
	g_autofree gchar *ca_file = ms_test_server_get_ca_file();
	g_autofree gchar *sha256 = ms_test_cert_sha256("server.pem");
	g_autofree gchar *pin = ms_test_cert_sha256("selfsigned.pem");
	g_autoptr(MsAccount) account = ms_test_account_new(ms_test_server_get_port(server),
							   "security",
							   "tls",
							   "ca-file",
							   ca_file,
							   "tls-fingerprint",
							   pin,
							   NULL);
	g_autoptr(MsSmtpClient) client = ms_smtp_client_new(account);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *reply = NULL;
	g_autofree gchar *expected = NULL;
	g_auto(MsTestSession) session = {0};

	reply = ms_test_send(client, &session, &error);
	g_assert_error(error, MS_ERROR, MS_ERROR_TLS);
	g_assert_null(reply);
	expected = g_strdup_printf("the certificate of 127.0.0.1:%u has the SHA-256 fingerprint "
				   "%s, which does not match tls-fingerprint=%s: if the server's "
				   "certificate was renewed, check the new one and update "
				   "tls-fingerprint",
				   ms_test_server_get_port(server),
				   sha256,
				   pin);
	g_assert_cmpstr(error->message, ==, expected);
	ms_test_assert_nothing_stored(server);
}

static void
ms_test_greet_421_func(void)
{
	g_autoptr(MsTestServer) server = ms_test_start("greet-421", NULL);
	g_autoptr(MsAccount) account = ms_test_account_new(ms_test_server_get_port(server), NULL);
	g_autoptr(MsSmtpClient) client = ms_smtp_client_new(account);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *reply = NULL;
	g_autofree gchar *expected = NULL;
	g_auto(MsTestSession) session = {0};

	reply = ms_test_send(client, &session, &error);
	g_assert_error(error, MS_ERROR, MS_ERROR_TEMPORARY);
	g_assert_null(reply);
	expected = g_strdup_printf("127.0.0.1:%u is not accepting mail right now: 421 4.3.2 "
				   "smtp.test.localhost Service not available, closing channel",
				   ms_test_server_get_port(server));
	g_assert_cmpstr(error->message, ==, expected);
	g_assert_cmpstr(ms_smtp_client_get_last_reply(client),
			==,
			"421 4.3.2 smtp.test.localhost Service not available, closing channel");
}

static void
ms_test_reject_rcpt_func(void)
{
	const gchar *args[] = {"--reject-rcpt", "nobody@example.test", NULL};
	g_autoptr(MsTestServer) server = ms_test_start("plain", args);
	g_autoptr(MsAccount) account =
	    ms_test_account_new(ms_test_server_get_port(server), "security", "none", NULL);
	g_autoptr(MsSmtpClient) client = ms_smtp_client_new(account);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *reply = NULL;
	g_autofree gchar *expected = NULL;
	g_auto(MsTestSession) session = {0};
	const gchar *recipients[] = {"bob@example.test", "nobody@example.test", NULL};

	reply = ms_test_send_full(client, &session, recipients, ms_test_message, NULL, &error);
	g_assert_error(error, MS_ERROR, MS_ERROR_REJECTED);
	g_assert_null(reply);
	expected = g_strdup_printf("127.0.0.1:%u answered RCPT TO:<nobody@example.test> with: "
				   "550 5.1.1 <nobody@example.test>: Recipient address rejected "
				   "(test)",
				   ms_test_server_get_port(server));
	g_assert_cmpstr(error->message, ==, expected);
	ms_test_assert_nothing_stored(server);
}

static void
ms_test_temp_fail_rcpt_func(void)
{
	const gchar *args[] = {"--temp-fail-rcpt", "later@example.test", NULL};
	g_autoptr(MsTestServer) server = ms_test_start("plain", args);
	g_autoptr(MsAccount) account =
	    ms_test_account_new(ms_test_server_get_port(server), "security", "none", NULL);
	g_autoptr(MsSmtpClient) client = ms_smtp_client_new(account);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *reply = NULL;
	g_auto(MsTestSession) session = {0};
	const gchar *recipients[] = {"later@example.test", NULL};

	reply = ms_test_send_full(client, &session, recipients, ms_test_message, NULL, &error);
	g_assert_error(error, MS_ERROR, MS_ERROR_TEMPORARY);
	g_assert_null(reply);
	g_assert_nonnull(strstr(error->message, "451 4.3.0 Temporary failure (test)"));
	ms_test_assert_nothing_stored(server);
}

static void
ms_test_drop_in_data_func(void)
{
	g_autoptr(MsTestServer) server = ms_test_start("drop-in-data", NULL);
	g_autoptr(MsAccount) account =
	    ms_test_account_new(ms_test_server_get_port(server), "security", "none", NULL);
	g_autoptr(MsSmtpClient) client = ms_smtp_client_new(account);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *reply = NULL;
	g_autofree gchar *prefix = NULL;
	g_auto(MsTestSession) session = {0};

	reply = ms_test_send(client, &session, &error);
	g_assert_error(error, MS_ERROR, MS_ERROR_CONNECTION);
	g_assert_null(reply);
	g_test_message("error: %s", error->message);
	/* an EOF or a reset, depending on timing; both name the step */
	prefix = g_strdup_printf("127.0.0.1:%u", ms_test_server_get_port(server));
	g_assert_nonnull(strstr(error->message, prefix));
	g_assert_nonnull(strstr(error->message, "during DATA"));
}

static void
ms_test_connection_refused_func(void)
{
	g_autoptr(GSocket) socket = NULL;
	g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
	g_autoptr(GSocketAddress) address = g_inet_socket_address_new(loopback, 0);
	g_autoptr(GSocketAddress) bound = NULL;
	g_autoptr(MsAccount) account = NULL;
	g_autoptr(MsSmtpClient) client = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *reply = NULL;
	g_autofree gchar *prefix = NULL;
	g_auto(MsTestSession) session = {0};
	guint16 port;
	gboolean ret;

	/* a port that was free a moment ago and has nothing listening now */
	socket =
	    g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
	g_assert_no_error(error);
	ret = g_socket_bind(socket, address, FALSE, &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	bound = g_socket_get_local_address(socket, &error);
	g_assert_no_error(error);
	port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
	ret = g_socket_close(socket, &error);
	g_assert_no_error(error);
	g_assert_true(ret);

	account = ms_test_account_new(port, NULL);
	client = ms_smtp_client_new(account);
	reply = ms_test_send(client, &session, &error);
	g_assert_error(error, MS_ERROR, MS_ERROR_CONNECTION);
	g_assert_null(reply);
	prefix = g_strdup_printf("cannot connect to 127.0.0.1:%u: ", port);
	g_assert_true(g_str_has_prefix(error->message, prefix));
	g_assert_cmpstr(session.stages->str, ==, "connecting");
}

static void
ms_test_cancel_func(void)
{
	g_autoptr(MsTestServer) server = ms_test_start("starttls", NULL);
	g_autofree gchar *ca_file = ms_test_server_get_ca_file();
	g_autoptr(MsAccount) account = ms_test_account_new(ms_test_server_get_port(server),
							   "security",
							   "starttls",
							   "ca-file",
							   ca_file,
							   NULL);
	g_autoptr(MsSmtpClient) client = ms_smtp_client_new(account);
	g_autoptr(GCancellable) cancellable = g_cancellable_new();
	g_autoptr(GError) error = NULL;
	g_autofree gchar *reply = NULL;
	g_auto(MsTestSession) session = {0};
	const gchar *recipients[] = {"bob@example.test", NULL};

	/* cancelled right before MAIL FROM, after TLS */
	session.cancel_at_stage = cancellable;
	session.cancel_stage = MS_SMTP_STAGE_SENDING;
	reply =
	    ms_test_send_full(client, &session, recipients, ms_test_message, cancellable, &error);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
	g_assert_null(reply);
	g_assert_cmpstr(session.stages->str, ==, "connecting tls sending");
	ms_test_assert_nothing_stored(server);
}

static void
ms_test_cancel_silent_func(void)
{
	g_autoptr(MsTestServer) server = ms_test_start("silent", NULL);
	g_autoptr(MsAccount) account = ms_test_account_new(ms_test_server_get_port(server), NULL);
	g_autoptr(MsSmtpClient) client = ms_smtp_client_new(account);
	g_autoptr(GCancellable) cancellable = g_cancellable_new();
	g_autoptr(GError) error = NULL;
	g_autofree gchar *reply = NULL;
	g_auto(MsTestSession) session = {0};
	const gchar *recipients[] = {"bob@example.test", NULL};

	/* waiting for a greeting that never comes (timeout 10 s) */
	g_timeout_add_once(300, (GSourceOnceFunc)g_cancellable_cancel, cancellable);
	reply =
	    ms_test_send_full(client, &session, recipients, ms_test_message, cancellable, &error);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
	g_assert_null(reply);
	g_assert_true(g_cancellable_is_cancelled(cancellable));
}

static GVariant *
ms_test_verify(MsSmtpClient *client, MsTestSession *session, GError **error)
{
	gulong handler_id;
	GVariant *report;

	session->stages = g_string_new(NULL);
	handler_id = g_signal_connect(client, "progress", G_CALLBACK(ms_test_progress_cb), session);
	ms_smtp_client_verify_async(client, NULL, ms_test_async_cb, session);
	ms_test_session_wait(session);
	g_signal_handler_disconnect(client, handler_id);
	report = ms_smtp_client_verify_finish(client, session->res, error);
	g_test_message("stages: %s", session->stages->str);
	return report;
}

static void
ms_test_verify_tls_auth_func(void)
{
	const gchar *args[] = {"--auth", "alice:" MS_TEST_PASSWORD, NULL};
	g_autoptr(MsTestServer) server = ms_test_start("implicit-tls", args);
	g_autofree gchar *ca_file = ms_test_server_get_ca_file();
	g_autoptr(MsAccount) account = ms_test_account_new(ms_test_server_get_port(server),
							   "security",
							   "tls",
							   "ca-file",
							   ca_file,
							   "username",
							   "alice",
							   NULL);
	g_autoptr(MsSmtpClient) client = ms_smtp_client_new(account);
	g_autoptr(GVariant) report = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *sha256 = ms_test_cert_sha256("server.pem");
	g_autofree gchar *text = NULL;
	g_autofree const gchar **extensions = NULL;
	g_autofree const gchar **mechs = NULL;
	const gchar *str = NULL;
	const gchar *expected_mechs[] = {"LOGIN", "PLAIN", NULL};
	const gchar *expected_extensions[] = {"8BITMIME",
					      "AUTH LOGIN PLAIN",
					      "HELP",
					      "SIZE 10485760",
					      NULL};
	guint16 port = 0;
	gint64 not_after = 0;
	guint32 elapsed = G_MAXUINT32;
	g_auto(MsTestSession) session = {0};

	ms_smtp_client_set_password(client, MS_TEST_PASSWORD);
	report = ms_test_verify(client, &session, &error);
	g_assert_no_error(error);
	g_assert_nonnull(report);
	text = g_variant_print(report, TRUE);
	g_test_message("report: %s", text);
	g_assert_cmpstr(session.stages->str, ==, "connecting tls auth");

	g_assert_true(g_variant_lookup(report, "host", "&s", &str));
	g_assert_cmpstr(str, ==, "127.0.0.1");
	g_assert_true(g_variant_lookup(report, "port", "q", &port));
	g_assert_cmpuint(port, ==, ms_test_server_get_port(server));
	g_assert_true(g_variant_lookup(report, "security", "&s", &str));
	g_assert_cmpstr(str, ==, "tls");
	g_assert_true(g_variant_lookup(report, "greeting", "&s", &str));
	g_assert_cmpstr(str, ==, "220 smtp.test.localhost mail-sender test SMTP");
	g_assert_true(g_variant_lookup(report, "extensions", "^a&s", &extensions));
	g_assert_cmpstrv(extensions, expected_extensions);
	g_assert_true(g_variant_lookup(report, "auth-mechanisms", "^a&s", &mechs));
	g_assert_cmpstrv(mechs, expected_mechs);
	g_assert_true(g_variant_lookup(report, "auth", "&s", &str));
	g_assert_cmpstr(str, ==, "PLAIN");
	g_assert_true(g_variant_lookup(report, "tls-version", "&s", &str));
	g_assert_cmpstr(str, ==, "TLSv1.3");
	g_assert_true(g_variant_lookup(report, "tls-cipher", "&s", &str));
	g_assert_cmpstr(str, ==, "TLS_AES_256_GCM_SHA384");
	g_assert_true(g_variant_lookup(report, "certificate-subject", "&s", &str));
	g_assert_cmpstr(str, ==, "O=mail-sender tests,CN=localhost");
	g_assert_true(g_variant_lookup(report, "certificate-issuer", "&s", &str));
	g_assert_cmpstr(str, ==, "O=mail-sender tests,CN=Mail Sender Test CA");
	g_assert_true(g_variant_lookup(report, "certificate-not-after", "x", &not_after));
	g_assert_cmpint(not_after, >, g_get_real_time() / G_USEC_PER_SEC);
	g_assert_true(g_variant_lookup(report, "certificate-sha256", "&s", &str));
	g_assert_cmpstr(str, ==, sha256);
	g_assert_true(g_variant_lookup(report, "elapsed-ms", "u", &elapsed));
	g_assert_cmpuint(elapsed, <, 30000);
	g_assert_cmpuint(g_variant_n_children(report), ==, 14);
	ms_test_assert_nothing_stored(server);
}

static void
ms_test_verify_plain_func(void)
{
	g_autoptr(MsTestServer) server = ms_test_start("plain", NULL);
	g_autoptr(MsAccount) account =
	    ms_test_account_new(ms_test_server_get_port(server), "security", "none", NULL);
	g_autoptr(MsSmtpClient) client = ms_smtp_client_new(account);
	g_autoptr(GVariant) report = NULL;
	g_autoptr(GError) error = NULL;
	const gchar *str = NULL;
	gint64 not_after = -1;
	g_auto(MsTestSession) session = {0};

	report = ms_test_verify(client, &session, &error);
	g_assert_no_error(error);
	g_assert_nonnull(report);
	g_assert_cmpstr(session.stages->str, ==, "connecting");
	g_assert_true(g_variant_lookup(report, "auth", "&s", &str));
	g_assert_cmpstr(str, ==, "none");
	g_assert_true(g_variant_lookup(report, "tls-version", "&s", &str));
	g_assert_cmpstr(str, ==, "");
	g_assert_true(g_variant_lookup(report, "certificate-sha256", "&s", &str));
	g_assert_cmpstr(str, ==, "");
	g_assert_true(g_variant_lookup(report, "certificate-not-after", "x", &not_after));
	g_assert_cmpint(not_after, ==, 0);
}

static void
ms_test_verify_wrong_password_func(void)
{
	const gchar *args[] = {"--auth", "alice:" MS_TEST_PASSWORD, NULL};
	g_autoptr(MsTestServer) server = ms_test_start("implicit-tls", args);
	g_autofree gchar *ca_file = ms_test_server_get_ca_file();
	g_autoptr(MsAccount) account = ms_test_account_new(ms_test_server_get_port(server),
							   "security",
							   "tls",
							   "ca-file",
							   ca_file,
							   "username",
							   "alice",
							   "auth",
							   "login",
							   NULL);
	g_autoptr(MsSmtpClient) client = ms_smtp_client_new(account);
	g_autoptr(GVariant) report = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *expected = NULL;
	g_auto(MsTestSession) session = {0};

	ms_smtp_client_set_password(client, "wrong-Pa55");
	report = ms_test_verify(client, &session, &error);
	g_assert_error(error, MS_ERROR, MS_ERROR_AUTH_FAILED);
	g_assert_null(report);
	expected = g_strdup_printf("127.0.0.1:%u rejected the login of user 'alice' (AUTH "
				   "LOGIN): 535 5.7.8 Authentication credentials invalid",
				   ms_test_server_get_port(server));
	g_assert_cmpstr(error->message, ==, expected);
}

/* the session API: many transactions over one connection */

static gboolean
ms_test_open(MsSmtpClient *client, MsTestSession *session, GError **error)
{
	gulong handler_id;
	gboolean ret;

	if (session->stages == NULL)
		session->stages = g_string_new(NULL);
	handler_id = g_signal_connect(client, "progress", G_CALLBACK(ms_test_progress_cb), session);
	ms_smtp_client_open_async(client, NULL, ms_test_async_cb, session);
	ms_test_session_wait(session);
	g_signal_handler_disconnect(client, handler_id);
	ret = ms_smtp_client_open_finish(client, session->res, error);
	g_clear_object(&session->res);
	return ret;
}

static MsSmtpResult *
ms_test_transaction_full(MsSmtpClient *client,
			 MsTestSession *session,
			 const gchar *const *recipients,
			 const gchar *message,
			 gsize len,
			 GCancellable *cancellable,
			 GError **error)
{
	g_autoptr(GBytes) bytes = g_bytes_new(message, len);
	gulong handler_id;
	MsSmtpResult *result;

	if (session->stages == NULL)
		session->stages = g_string_new(NULL);
	session->last_done = 0;
	session->last_total = 0;
	handler_id = g_signal_connect(client, "progress", G_CALLBACK(ms_test_progress_cb), session);
	ms_smtp_client_transaction_async(client,
					 MS_TEST_FROM,
					 recipients,
					 bytes,
					 cancellable,
					 ms_test_async_cb,
					 session);
	ms_test_session_wait(session);
	g_signal_handler_disconnect(client, handler_id);
	result = ms_smtp_client_transaction_finish(client, session->res, error);
	g_clear_object(&session->res);
	return result;
}

static MsSmtpResult *
ms_test_transaction(MsSmtpClient *client,
		    MsTestSession *session,
		    const gchar *const *recipients,
		    GError **error)
{
	return ms_test_transaction_full(client,
					session,
					recipients,
					ms_test_message,
					strlen(ms_test_message),
					NULL,
					error);
}

static void
ms_test_close(MsSmtpClient *client, MsTestSession *session)
{
	ms_smtp_client_close_async(client, ms_test_async_cb, session);
	ms_test_session_wait(session);
	ms_smtp_client_close_finish(client, session->res);
	g_clear_object(&session->res);
}

/* what the server's .json says beyond MsTestMail */
typedef struct {
	gint64 connection; /* numbered from 1 by the server */
	gboolean pipelined;
	gint64 rsets; /* RSET commands on that connection before this message */
} MsTestMailMeta;

static void
ms_test_get_meta(MsTestServer *server, MsTestMail *mail, MsTestMailMeta *meta)
{
	g_autofree gchar *name = g_strdup_printf("%s.json", mail->id);
	g_autofree gchar *path = g_build_filename(ms_test_server_get_maildir(server), name, NULL);
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) error = NULL;
	JsonObject *obj;
	gboolean ret;

	ret = json_parser_load_from_file(parser, path, &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	obj = json_node_get_object(json_parser_get_root(parser));
	meta->connection = json_object_get_int_member(obj, "connection");
	meta->pipelined = json_object_get_boolean_member(obj, "pipelined");
	meta->rsets = json_object_get_int_member(obj, "rsets");
}

/* message number i of a stream: different sizes and contents, some spanning several chunks,
 * with dot lines to stuff */
static GString *
ms_test_numbered_message(guint i)
{
	GString *message = g_string_new(NULL);

	g_string_append_printf(message,
			       "From: Alice <alice@example.test>\r\n"
			       "To: Bob <bob@example.test>\r\n"
			       "Subject: message %u\r\n"
			       "Message-ID: <%u@example.test>\r\n"
			       "\r\n"
			       "Hello Bob, this is message %u.\r\n"
			       ".a dot line\r\n",
			       i,
			       i,
			       i);
	if (i % 10 == 7) {
		while (message->len < 150 * 1024)
			g_string_append(message, "0123456789 abcdefghijklmnopqrstuvwxyz\r\n.\r\n");
	}
	g_string_append(message, "Bye.\r\n");
	return message;
}

static void
ms_test_session_reuse_func(void)
{
	const gchar *args[] = {"--pipelining", NULL};
	g_autoptr(MsTestServer) server = ms_test_start("plain", args);
	g_autoptr(MsAccount) account =
	    ms_test_account_new(ms_test_server_get_port(server), "security", "none", NULL);
	g_autoptr(MsSmtpClient) client = ms_smtp_client_new(account);
	g_autoptr(GPtrArray) mails = NULL;
	g_autoptr(GError) error = NULL;
	g_auto(MsTestSession) session = {0};
	const gchar *recipients[] = {"bob@example.test", "carol@example.org", NULL};
	const guint n = 40;
	gboolean ret;

	g_assert_false(ms_smtp_client_is_open(client));
	ret = ms_test_open(client, &session, &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	g_assert_true(ms_smtp_client_is_open(client));
	g_assert_cmpuint(ms_smtp_client_get_transactions(client), ==, 0);
	for (guint i = 0; i < n; i++) {
		g_autoptr(GString) message = ms_test_numbered_message(i);
		g_autoptr(MsSmtpResult) result = NULL;

		result = ms_test_transaction_full(client,
						  &session,
						  recipients,
						  message->str,
						  message->len,
						  NULL,
						  &error);
		g_assert_no_error(error);
		g_assert_nonnull(result);
		g_assert_true(g_str_has_prefix(result->reply, "250 2.0.0 OK queued as "));
		g_assert_cmpuint(g_hash_table_size(result->rejected), ==, 0);
		g_assert_cmpuint(g_hash_table_size(result->deferred), ==, 0);
		g_assert_cmpstr(ms_smtp_client_get_last_reply(client), ==, result->reply);
		g_assert_cmpuint(session.last_done, ==, message->len);
		g_assert_cmpuint(session.last_total, ==, message->len);
		g_assert_cmpuint(ms_smtp_client_get_transactions(client), ==, i + 1);
		g_assert_true(ms_smtp_client_is_open(client));
	}
	g_assert_cmpstr(session.stages->str, ==, "connecting sending");
	ms_test_close(client, &session);
	g_assert_false(ms_smtp_client_is_open(client));

	mails = ms_test_server_wait_for_messages(server, n, 10000);
	g_assert_cmpuint(mails->len, ==, n);
	for (guint i = 0; i < n; i++) {
		MsTestMail *mail = g_ptr_array_index(mails, i);
		g_autoptr(GString) message = ms_test_numbered_message(i);
		MsTestMailMeta meta = {0};

		ms_test_assert_mail(mail, message->str);
		g_assert_cmpstrv(mail->rcpt_tos, recipients);
		ms_test_get_meta(server, mail, &meta);
		/* one connection for all of them, and the commands went out pipelined */
		g_assert_cmpint(meta.connection, ==, 1);
		g_assert_true(meta.pipelined);
		g_assert_cmpint(meta.rsets, ==, 0);
	}
}

static void
ms_test_session_no_pipelining_func(void)
{
	g_autoptr(MsTestServer) server = ms_test_start("plain", NULL);
	g_autoptr(MsAccount) account =
	    ms_test_account_new(ms_test_server_get_port(server), "security", "none", NULL);
	g_autoptr(MsSmtpClient) client = ms_smtp_client_new(account);
	g_autoptr(GPtrArray) mails = NULL;
	g_autoptr(GError) error = NULL;
	g_auto(MsTestSession) session = {0};
	const gchar *recipients[] = {"bob@example.test", "carol@example.org", NULL};
	gboolean ret;

	ret = ms_test_open(client, &session, &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	for (guint i = 0; i < 3; i++) {
		g_autoptr(MsSmtpResult) result =
		    ms_test_transaction(client, &session, recipients, &error);
		g_assert_no_error(error);
		g_assert_nonnull(result);
	}
	ms_test_close(client, &session);

	/* PIPELINING not offered: one command at a time */
	mails = ms_test_server_wait_for_messages(server, 3, 10000);
	g_assert_cmpuint(mails->len, ==, 3);
	for (guint i = 0; i < mails->len; i++) {
		MsTestMail *mail = g_ptr_array_index(mails, i);
		MsTestMailMeta meta = {0};

		ms_test_assert_mail(mail, ms_test_message);
		g_assert_cmpstrv(mail->rcpt_tos, recipients);
		ms_test_get_meta(server, mail, &meta);
		g_assert_cmpint(meta.connection, ==, 1);
		g_assert_false(meta.pipelined);
	}
}

static void
ms_test_session_tls(const gchar *mode, const gchar *security)
{
	const gchar *args[] = {"--pipelining", "--auth", "alice:" MS_TEST_PASSWORD, NULL};
	g_autoptr(MsTestServer) server = ms_test_start(mode, args);
	g_autofree gchar *ca_file = ms_test_server_get_ca_file();
	g_autoptr(MsAccount) account = ms_test_account_new(ms_test_server_get_port(server),
							   "security",
							   security,
							   "ca-file",
							   ca_file,
							   "username",
							   "alice",
							   NULL);
	g_autoptr(MsSmtpClient) client = ms_smtp_client_new(account);
	g_autoptr(GPtrArray) mails = NULL;
	g_autoptr(GError) error = NULL;
	g_auto(MsTestSession) session = {0};
	const gchar *recipients[] = {"bob@example.test", NULL};
	const guint n = 8;
	gboolean ret;

	ms_smtp_client_set_password(client, MS_TEST_PASSWORD);
	ret = ms_test_open(client, &session, &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	g_assert_cmpstr(session.stages->str, ==, "connecting tls auth");
	for (guint i = 0; i < n; i++) {
		g_autoptr(GString) message = ms_test_numbered_message(i);
		g_autoptr(MsSmtpResult) result = NULL;

		/* looking for a closed connection must not mistake TLS records (session
		 * tickets) for the server talking */
		g_assert_true(ms_smtp_client_is_open(client));
		result = ms_test_transaction_full(client,
						  &session,
						  recipients,
						  message->str,
						  message->len,
						  NULL,
						  &error);
		g_assert_no_error(error);
		g_assert_nonnull(result);
	}
	g_assert_cmpuint(ms_smtp_client_get_transactions(client), ==, n);
	ms_test_close(client, &session);
	g_assert_false(ms_smtp_client_is_open(client));

	mails = ms_test_server_wait_for_messages(server, n, 10000);
	g_assert_cmpuint(mails->len, ==, n);
	for (guint i = 0; i < n; i++) {
		MsTestMail *mail = g_ptr_array_index(mails, i);
		g_autoptr(GString) message = ms_test_numbered_message(i);
		MsTestMailMeta meta = {0};

		ms_test_assert_mail(mail, message->str);
		g_assert_cmpstr(mail->tls_version, ==, "TLSv1.3");
		g_assert_cmpstr(mail->auth_login, ==, "alice");
		ms_test_get_meta(server, mail, &meta);
		g_assert_cmpint(meta.connection, ==, 1);
		g_assert_true(meta.pipelined);
	}
}

static void
ms_test_session_starttls_func(void)
{
	ms_test_session_tls("starttls", "starttls");
}

static void
ms_test_session_implicit_tls_func(void)
{
	ms_test_session_tls("implicit-tls", "tls");
}

static void
ms_test_session_many_recipients_func(void)
{
	const gchar *args[] = {"--pipelining", NULL};
	g_autoptr(MsTestServer) server = ms_test_start("plain", args);
	g_autoptr(MsAccount) account =
	    ms_test_account_new(ms_test_server_get_port(server), "security", "none", NULL);
	g_autoptr(MsSmtpClient) client = ms_smtp_client_new(account);
	g_autoptr(MsSmtpResult) result = NULL;
	g_autoptr(MsTestMail) mail = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GStrvBuilder) builder = g_strv_builder_new();
	g_auto(GStrv) recipients = NULL;
	g_auto(MsTestSession) session = {0};
	gboolean ret;

	/* more than fit into one pipelined write */
	for (guint i = 0; i < 250; i++) {
		g_autofree gchar *rcpt = g_strdup_printf("rcpt%03u@example.test", i);
		g_strv_builder_add(builder, rcpt);
	}
	recipients = g_strv_builder_end(builder);
	ret = ms_test_open(client, &session, &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	result = ms_test_transaction(client, &session, (const gchar *const *)recipients, &error);
	g_assert_no_error(error);
	g_assert_nonnull(result);
	ms_test_close(client, &session);
	mail = ms_test_get_mail(server);
	ms_test_assert_mail(mail, ms_test_message);
	g_assert_cmpstrv(mail->rcpt_tos, recipients);
}

static void
ms_test_session_mixed_rcpts_func(void)
{
	const gchar *args[] = {"--pipelining", "--reject-rcpt", "nobody@example.test", NULL};
	g_autoptr(MsTestServer) server = ms_test_start("plain", args);
	g_autoptr(MsAccount) account =
	    ms_test_account_new(ms_test_server_get_port(server), "security", "none", NULL);
	g_autoptr(MsSmtpClient) client = ms_smtp_client_new(account);
	g_autoptr(MsSmtpResult) result = NULL;
	g_autoptr(MsTestMail) mail = NULL;
	g_autoptr(GError) error = NULL;
	g_auto(MsTestSession) session = {0};
	const gchar *recipients[] = {"bob@example.test",
				     "nobody@example.test",
				     "carol@example.org",
				     NULL};
	const gchar *delivered[] = {"bob@example.test", "carol@example.org", NULL};
	gboolean ret;

	ret = ms_test_open(client, &session, &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	result = ms_test_transaction(client, &session, recipients, &error);
	g_assert_no_error(error);
	g_assert_nonnull(result);
	g_assert_true(g_str_has_prefix(result->reply, "250 2.0.0 OK queued as "));
	g_assert_cmpuint(g_hash_table_size(result->rejected), ==, 1);
	g_assert_cmpstr(g_hash_table_lookup(result->rejected, "nobody@example.test"),
			==,
			"550 5.1.1 <nobody@example.test>: Recipient address rejected (test)");
	g_assert_cmpuint(g_hash_table_size(result->deferred), ==, 0);
	g_assert_cmpuint(ms_smtp_client_get_transactions(client), ==, 1);
	g_assert_true(ms_smtp_client_is_open(client));
	ms_test_close(client, &session);

	mail = ms_test_get_mail(server);
	ms_test_assert_mail(mail, ms_test_message);
	g_assert_cmpstrv(mail->rcpt_tos, delivered);
}

static void
ms_test_session_temp_fail_some_func(void)
{
	const gchar *args[] = {"--pipelining", "--temp-fail-rcpt", "later@example.test", NULL};
	g_autoptr(MsTestServer) server = ms_test_start("plain", args);
	g_autoptr(MsAccount) account =
	    ms_test_account_new(ms_test_server_get_port(server), "security", "none", NULL);
	g_autoptr(MsSmtpClient) client = ms_smtp_client_new(account);
	g_autoptr(MsSmtpResult) result = NULL;
	g_autoptr(MsTestMail) mail = NULL;
	g_autoptr(GError) error = NULL;
	g_auto(MsTestSession) session = {0};
	const gchar *recipients[] = {"later@example.test", "bob@example.test", NULL};
	const gchar *delivered[] = {"bob@example.test", NULL};
	gboolean ret;

	ret = ms_test_open(client, &session, &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	result = ms_test_transaction(client, &session, recipients, &error);
	g_assert_no_error(error);
	g_assert_nonnull(result);
	g_assert_cmpuint(g_hash_table_size(result->deferred), ==, 1);
	g_assert_cmpstr(g_hash_table_lookup(result->deferred, "later@example.test"),
			==,
			"451 4.3.0 Temporary failure (test)");
	g_assert_cmpuint(g_hash_table_size(result->rejected), ==, 0);
	ms_test_close(client, &session);

	mail = ms_test_get_mail(server);
	ms_test_assert_mail(mail, ms_test_message);
	g_assert_cmpstrv(mail->rcpt_tos, delivered);
}

static void
ms_test_session_all_refused_func(void)
{
	const gchar *args[] = {"--pipelining",
			       "--reject-rcpt",
			       "nobody@example.test",
			       "--reject-rcpt",
			       "ghost@example.test",
			       "--temp-fail-rcpt",
			       "later@example.test",
			       NULL};
	g_autoptr(MsTestServer) server = ms_test_start("plain", args);
	g_autoptr(MsAccount) account =
	    ms_test_account_new(ms_test_server_get_port(server), "security", "none", NULL);
	g_autoptr(MsSmtpClient) client = ms_smtp_client_new(account);
	g_autoptr(MsSmtpResult) result = NULL;
	g_autoptr(MsTestMail) mail = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *expected = NULL;
	g_auto(MsTestSession) session = {0};
	const gchar *rejected[] = {"nobody@example.test", "ghost@example.test", NULL};
	const gchar *refused[] = {"nobody@example.test", "later@example.test", NULL};
	const gchar *good[] = {"bob@example.test", NULL};
	MsTestMailMeta meta = {0};
	gboolean ret;

	ret = ms_test_open(client, &session, &error);
	g_assert_no_error(error);
	g_assert_true(ret);

	/* every recipient refused for good */
	result = ms_test_transaction(client, &session, rejected, &error);
	g_assert_error(error, MS_ERROR, MS_ERROR_REJECTED);
	g_assert_null(result);
	expected = g_strdup_printf("127.0.0.1:%u answered RCPT TO:<nobody@example.test> with: "
				   "550 5.1.1 <nobody@example.test>: Recipient address rejected "
				   "(test)",
				   ms_test_server_get_port(server));
	g_assert_cmpstr(error->message, ==, expected);
	/* the refusal, not the 503 to the pipelined DATA nor the 250 to RSET */
	g_assert_cmpstr(ms_smtp_client_get_last_reply(client),
			==,
			"550 5.1.1 <nobody@example.test>: Recipient address rejected (test)");
	g_assert_true(ms_smtp_client_is_open(client));
	g_clear_error(&error);
	g_clear_pointer(&expected, g_free);

	/* refused, one of them for now: worth a retry */
	result = ms_test_transaction(client, &session, refused, &error);
	g_assert_error(error, MS_ERROR, MS_ERROR_TEMPORARY);
	g_assert_null(result);
	expected = g_strdup_printf("127.0.0.1:%u answered RCPT TO:<later@example.test> with: "
				   "451 4.3.0 Temporary failure (test)",
				   ms_test_server_get_port(server));
	g_assert_cmpstr(error->message, ==, expected);
	g_assert_true(ms_smtp_client_is_open(client));
	g_assert_cmpuint(ms_smtp_client_get_transactions(client), ==, 0);
	g_clear_error(&error);

	/* the session still carries the next message */
	result = ms_test_transaction(client, &session, good, &error);
	g_assert_no_error(error);
	g_assert_nonnull(result);
	g_assert_cmpuint(ms_smtp_client_get_transactions(client), ==, 1);
	ms_test_close(client, &session);

	mail = ms_test_get_mail(server);
	ms_test_assert_mail(mail, ms_test_message);
	g_assert_cmpstrv(mail->rcpt_tos, good);
	ms_test_get_meta(server, mail, &meta);
	g_assert_cmpint(meta.connection, ==, 1);
	/* the client reset each failed transaction itself */
	g_assert_cmpint(meta.rsets, ==, 2);
}

/* send() stays all or nothing, with pipelining too */
static void
ms_test_send_pipelined_reject_func(void)
{
	const gchar *args[] = {"--pipelining", "--reject-rcpt", "nobody@example.test", NULL};
	g_autoptr(MsTestServer) server = ms_test_start("plain", args);
	g_autoptr(MsAccount) account =
	    ms_test_account_new(ms_test_server_get_port(server), "security", "none", NULL);
	g_autoptr(MsSmtpClient) client = ms_smtp_client_new(account);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *reply = NULL;
	g_autofree gchar *expected = NULL;
	g_auto(MsTestSession) session = {0};
	const gchar *recipients[] = {"bob@example.test", "nobody@example.test", NULL};

	reply = ms_test_send_full(client, &session, recipients, ms_test_message, NULL, &error);
	g_assert_error(error, MS_ERROR, MS_ERROR_REJECTED);
	g_assert_null(reply);
	expected = g_strdup_printf("127.0.0.1:%u answered RCPT TO:<nobody@example.test> with: "
				   "550 5.1.1 <nobody@example.test>: Recipient address rejected "
				   "(test)",
				   ms_test_server_get_port(server));
	g_assert_cmpstr(error->message, ==, expected);
	g_assert_cmpstr(ms_smtp_client_get_last_reply(client),
			==,
			"550 5.1.1 <nobody@example.test>: Recipient address rejected (test)");
	g_assert_false(ms_smtp_client_is_open(client));
	ms_test_assert_nothing_stored(server);
}

static void
ms_test_session_idle_closed_func(void)
{
	const gchar *args[] = {"--pipelining", "--timeout", "1", NULL};
	g_autoptr(MsTestServer) server = ms_test_start("plain", args);
	g_autoptr(MsAccount) account =
	    ms_test_account_new(ms_test_server_get_port(server), "security", "none", NULL);
	g_autoptr(MsSmtpClient) client = ms_smtp_client_new(account);
	g_autoptr(MsSmtpResult) result = NULL;
	g_autoptr(GPtrArray) mails = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *expected = NULL;
	g_auto(MsTestSession) session = {0};
	const gchar *recipients[] = {"bob@example.test", NULL};
	gboolean ret;

	ret = ms_test_open(client, &session, &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	result = ms_test_transaction(client, &session, recipients, &error);
	g_assert_no_error(error);
	g_assert_nonnull(result);
	g_clear_pointer(&result, ms_smtp_result_free);

	/* the server drops the connection after 1 s without a command */
	g_usleep(2 * G_USEC_PER_SEC);
	result = ms_test_transaction(client, &session, recipients, &error);
	g_assert_error(error, MS_ERROR, MS_ERROR_CONNECTION);
	g_assert_null(result);
	expected = g_strdup_printf("127.0.0.1:%u closed the connection while it was idle",
				   ms_test_server_get_port(server));
	g_assert_cmpstr(error->message, ==, expected);
	g_assert_false(ms_smtp_client_is_open(client));
	g_clear_error(&error);

	/* the same answer until the session is opened again */
	result = ms_test_transaction(client, &session, recipients, &error);
	g_assert_error(error, MS_ERROR, MS_ERROR_CONNECTION);
	g_assert_cmpstr(error->message, ==, expected);
	g_clear_error(&error);
	ret = ms_test_open(client, &session, &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	result = ms_test_transaction(client, &session, recipients, &error);
	g_assert_no_error(error);
	g_assert_nonnull(result);
	g_assert_cmpuint(ms_smtp_client_get_transactions(client), ==, 1);
	ms_test_close(client, &session);

	mails = ms_test_server_wait_for_messages(server, 2, 10000);
	g_assert_cmpuint(mails->len, ==, 2);
	for (guint i = 0; i < mails->len; i++) {
		MsTestMailMeta meta = {0};

		ms_test_get_meta(server, g_ptr_array_index(mails, i), &meta);
		g_assert_cmpint(meta.connection, ==, i + 1);
	}
}

static void
ms_test_session_cancel_func(void)
{
	const gchar *args[] = {"--pipelining", NULL};
	g_autoptr(MsTestServer) server = ms_test_start("plain", args);
	g_autoptr(MsAccount) account =
	    ms_test_account_new(ms_test_server_get_port(server), "security", "none", NULL);
	g_autoptr(MsSmtpClient) client = ms_smtp_client_new(account);
	g_autoptr(GCancellable) cancellable = g_cancellable_new();
	g_autoptr(MsSmtpResult) result = NULL;
	g_autoptr(GError) error = NULL;
	g_auto(MsTestSession) session = {0};
	const gchar *recipients[] = {"bob@example.test", NULL};
	gboolean ret;

	ret = ms_test_open(client, &session, &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	/* cancelled right before MAIL FROM: the session cannot be trusted any more */
	session.cancel_at_stage = cancellable;
	session.cancel_stage = MS_SMTP_STAGE_SENDING;
	result = ms_test_transaction_full(client,
					  &session,
					  recipients,
					  ms_test_message,
					  strlen(ms_test_message),
					  cancellable,
					  &error);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
	g_assert_null(result);
	g_assert_false(ms_smtp_client_is_open(client));
	ms_test_assert_nothing_stored(server);
}

static void
ms_test_session_errors_func(void)
{
	const gchar *args[] = {"--pipelining", NULL};
	g_autoptr(MsTestServer) server = ms_test_start("plain", args);
	g_autoptr(MsAccount) account =
	    ms_test_account_new(ms_test_server_get_port(server), "security", "none", NULL);
	g_autoptr(MsSmtpClient) client = ms_smtp_client_new(account);
	g_autoptr(MsSmtpResult) result = NULL;
	g_autoptr(MsSmtpResult) result2 = NULL;
	g_autoptr(GBytes) bytes = g_bytes_new_static(ms_test_message, strlen(ms_test_message));
	g_autoptr(GError) error = NULL;
	g_autofree gchar *expected = NULL;
	g_auto(MsTestSession) session = {0};
	g_auto(MsTestSession) session2 = {0};
	const gchar *recipients[] = {"bob@example.test", NULL};
	const gchar *bad[] = {"bob@example.test>\r\nRCPT TO:<eve@example.test", NULL};
	gboolean ret;

	/* no session yet */
	result = ms_test_transaction(client, &session, recipients, &error);
	g_assert_error(error, MS_ERROR, MS_ERROR_CONNECTION);
	g_assert_null(result);
	expected =
	    g_strdup_printf("no open session with 127.0.0.1:%u", ms_test_server_get_port(server));
	g_assert_cmpstr(error->message, ==, expected);
	g_clear_error(&error);

	ret = ms_test_open(client, &session, &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	ret = ms_test_open(client, &session, &error);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_EXISTS);
	g_assert_false(ret);
	g_clear_error(&error);

	/* an envelope that would inject a command is refused before anything is sent */
	result = ms_test_transaction(client, &session, bad, &error);
	g_assert_error(error, MS_ERROR, MS_ERROR_INVALID_ARGS);
	g_assert_null(result);
	g_assert_true(ms_smtp_client_is_open(client));
	g_clear_error(&error);

	/* one operation at a time */
	ms_smtp_client_transaction_async(client,
					 MS_TEST_FROM,
					 recipients,
					 bytes,
					 NULL,
					 ms_test_async_cb,
					 &session);
	ms_smtp_client_transaction_async(client,
					 MS_TEST_FROM,
					 recipients,
					 bytes,
					 NULL,
					 ms_test_async_cb,
					 &session2);
	ms_test_session_wait(&session2);
	result2 = ms_smtp_client_transaction_finish(client, session2.res, &error);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_PENDING);
	g_assert_null(result2);
	g_clear_error(&error);
	ms_test_session_wait(&session);
	result = ms_smtp_client_transaction_finish(client, session.res, &error);
	g_clear_object(&session.res);
	g_assert_no_error(error);
	g_assert_nonnull(result);

	ms_test_close(client, &session);
	g_assert_false(ms_smtp_client_is_open(client));
	/* closing a closed session does nothing */
	ms_test_close(client, &session);
	g_assert_cmpuint(ms_test_server_count_messages(server), ==, 1);
}

/* the peak resident set size of this process in KiB */
static guint64
ms_test_get_vm_hwm(void)
{
	g_autofree gchar *status = NULL;
	g_autoptr(GError) error = NULL;
	const gchar *line;
	gboolean ret;

	ret = g_file_get_contents("/proc/self/status", &status, NULL, &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	line = strstr(status, "\nVmHWM:");
	g_assert_nonnull(line);
	return g_ascii_strtoull(line + strlen("\nVmHWM:"), NULL, 10);
}

static void
ms_test_long_line_func(void)
{
	g_autoptr(MsTestServer) server = ms_test_start("long-line", NULL);
	g_autoptr(MsAccount) account =
	    ms_test_account_new(ms_test_server_get_port(server), "security", "none", NULL);
	g_autoptr(MsSmtpClient) client = ms_smtp_client_new(account);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *expected = NULL;
	g_auto(MsTestSession) session = {0};
	FILE *clear_refs = NULL;
	guint64 hwm_before;
	gint64 start;
	gint64 elapsed;
	gboolean ret;

	/* restart the peak RSS count here (Linux: 5 > clear_refs), so earlier tests do not hide
	 * what this one uses */
	clear_refs = fopen("/proc/self/clear_refs", "w");
	if (clear_refs != NULL) {
		fputs("5", clear_refs);
		fclose(clear_refs);
	}
	hwm_before = ms_test_get_vm_hwm();
	start = g_get_monotonic_time();
	ret = ms_test_open(client, &session, &error);
	elapsed = g_get_monotonic_time() - start;
	g_assert_error(error, MS_ERROR, MS_ERROR_CONNECTION);
	g_assert_false(ret);
	expected = g_strdup_printf("reply line too long from 127.0.0.1:%u during the greeting: "
				   "more than 8192 bytes without a line end",
				   ms_test_server_get_port(server));
	g_assert_cmpstr(error->message, ==, expected);
	g_assert_false(ms_smtp_client_is_open(client));
	/* at once, not after reading the whole 64 MiB or waiting for the timeout */
	g_assert_cmpint(elapsed, <, 2 * G_USEC_PER_SEC);
	g_test_message("peak RSS before %" G_GUINT64_FORMAT " KiB, after %" G_GUINT64_FORMAT " KiB",
		       hwm_before,
		       ms_test_get_vm_hwm());
	g_assert_cmpuint(ms_test_get_vm_hwm(), <, hwm_before + 4096);
}

/* the streaming transaction: the message read from a GInputStream of known size */

/* a stream that serves data, then fails like a disk would: EIO after the data */
#define MS_TEST_TYPE_FAILING_STREAM (ms_test_failing_stream_get_type())
G_DECLARE_FINAL_TYPE(MsTestFailingStream,
		     ms_test_failing_stream,
		     MS_TEST,
		     FAILING_STREAM,
		     GInputStream)

struct _MsTestFailingStream {
	GInputStream parent_instance;
	GBytes *data;
	gsize offset;
};

G_DEFINE_TYPE(MsTestFailingStream, ms_test_failing_stream, G_TYPE_INPUT_STREAM)

static gssize
ms_test_failing_stream_read(GInputStream *stream,
			    void *buffer,
			    gsize count,
			    GCancellable *cancellable,
			    GError **error)
{
	MsTestFailingStream *self = MS_TEST_FAILING_STREAM(stream);
	gsize len = 0;
	const guint8 *data = g_bytes_get_data(self->data, &len);
	gsize n = MIN(count, len - self->offset);

	if (n == 0) {
		g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_FAILED, "Input/output error");
		return -1;
	}
	memcpy(buffer, data + self->offset, n);
	self->offset += n;
	return n;
}

static void
ms_test_failing_stream_finalize(GObject *object)
{
	MsTestFailingStream *self = MS_TEST_FAILING_STREAM(object);

	g_bytes_unref(self->data);
	G_OBJECT_CLASS(ms_test_failing_stream_parent_class)->finalize(object);
}

static void
ms_test_failing_stream_class_init(MsTestFailingStreamClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);
	GInputStreamClass *stream_class = G_INPUT_STREAM_CLASS(klass);

	object_class->finalize = ms_test_failing_stream_finalize;
	stream_class->read_fn = ms_test_failing_stream_read;
}

static void
ms_test_failing_stream_init(MsTestFailingStream *self)
{
}

static GInputStream *
ms_test_failing_stream_new(const gchar *data, gsize len)
{
	MsTestFailingStream *self = g_object_new(MS_TEST_TYPE_FAILING_STREAM, NULL);

	self->data = g_bytes_new(data, len);
	return G_INPUT_STREAM(self);
}

static MsSmtpResult *
ms_test_transaction_stream_flags(MsSmtpClient *client,
				 MsTestSession *session,
				 const gchar *const *recipients,
				 MsMailFlags mail_flags,
				 GInputStream *input,
				 guint64 size,
				 GError **error);

static MsSmtpResult *
ms_test_transaction_stream(MsSmtpClient *client,
			   MsTestSession *session,
			   const gchar *const *recipients,
			   GInputStream *input,
			   guint64 size,
			   GError **error)
{
	return ms_test_transaction_stream_flags(client,
						session,
						recipients,
						MS_MAIL_FLAG_NONE,
						input,
						size,
						error);
}

static MsSmtpResult *
ms_test_transaction_stream_flags(MsSmtpClient *client,
				 MsTestSession *session,
				 const gchar *const *recipients,
				 MsMailFlags mail_flags,
				 GInputStream *input,
				 guint64 size,
				 GError **error)
{
	gulong handler_id;
	MsSmtpResult *result;

	if (session->stages == NULL)
		session->stages = g_string_new(NULL);
	session->last_done = 0;
	session->last_total = 0;
	handler_id = g_signal_connect(client, "progress", G_CALLBACK(ms_test_progress_cb), session);
	ms_smtp_client_transaction_stream_async(client,
						MS_TEST_FROM,
						recipients,
						mail_flags,
						input,
						size,
						NULL,
						ms_test_async_cb,
						session);
	ms_test_session_wait(session);
	g_signal_handler_disconnect(client, handler_id);
	result = ms_smtp_client_transaction_finish(client, session->res, error);
	g_clear_object(&session->res);
	return result;
}

/* the whole of text through the 8BITMIME downgrade at once */
static GBytes *
ms_test_downgrade_whole(GBytes *text)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GConverter) converter = G_CONVERTER(ms_mime_downgrade_new());
	g_autoptr(GInputStream) base = g_memory_input_stream_new_from_bytes(text);
	g_autoptr(GInputStream) input = g_converter_input_stream_new(base, converter);
	g_autoptr(GOutputStream) output = g_memory_output_stream_new_resizable();
	gssize n = g_output_stream_splice(output,
					  input,
					  G_OUTPUT_STREAM_SPLICE_CLOSE_TARGET,
					  NULL,
					  &error);

	g_assert_no_error(error);
	g_assert_cmpint(n, >=, 0);
	return g_memory_output_stream_steal_as_bytes(G_MEMORY_OUTPUT_STREAM(output));
}

/* an 8bit message of several 64 KiB chunks: as it is, with BODY=8BITMIME, to a server that
 * offers 8BITMIME; else converted chunk by chunk on the way, giving the same bytes as
 * converting it whole, and no BODY= */
static void
ms_test_stream_8bit_func(void)
{
	const gchar *no_8bitmime[] = {"--no-8bitmime", NULL};
	const gchar *recipients[] = {"bob@example.test", NULL};
	g_autoptr(GString) message = g_string_new("From: " MS_TEST_FROM "\r\n"
						  "To: bob@example.test\r\n"
						  "Subject: big\r\n"
						  "MIME-Version: 1.0\r\n"
						  "Content-Type: text/plain; charset=utf-8\r\n"
						  "Content-Transfer-Encoding: 8bit\r\n"
						  "\r\n");
	g_autoptr(GBytes) original = NULL;
	g_autoptr(GBytes) downgraded = NULL;

	for (guint i = 0; i < 6000; i++) {
		g_string_append_printf(message,
				       "%sZeile %u: Grüße aus Köln, 你好 = ende \r\n",
				       i % 7 == 0 ? "." : "",
				       i);
	}
	original = g_bytes_new(message->str, message->len);
	downgraded = ms_test_downgrade_whole(original);
	g_assert_cmpuint(g_bytes_get_size(original), >, 4 * 64 * 1024);

	for (guint i = 0; i < 2; i++) {
		g_autoptr(MsTestServer) server =
		    ms_test_start("plain", i == 0 ? NULL : no_8bitmime);
		g_autoptr(MsAccount) account =
		    ms_test_account_new(ms_test_server_get_port(server), "security", "none", NULL);
		g_autoptr(MsSmtpClient) client = ms_smtp_client_new(account);
		g_autoptr(GInputStream) input = g_memory_input_stream_new_from_bytes(original);
		g_autoptr(MsSmtpResult) result = NULL;
		g_autoptr(MsTestMail) mail = NULL;
		g_autoptr(GError) error = NULL;
		g_auto(MsTestSession) session = {0};
		GBytes *expected = i == 0 ? original : downgraded;
		gboolean ret;

		ret = ms_test_open(client, &session, &error);
		g_assert_no_error(error);
		g_assert_true(ret);
		result = ms_test_transaction_stream_flags(client,
							  &session,
							  recipients,
							  MS_MAIL_FLAG_8BITMIME,
							  input,
							  g_bytes_get_size(original),
							  &error);
		g_assert_no_error(error);
		g_assert_nonnull(result);
		mail = ms_test_get_mail(server);
		g_assert_cmpmem(g_bytes_get_data(mail->eml, NULL),
				g_bytes_get_size(mail->eml),
				g_bytes_get_data(expected, NULL),
				g_bytes_get_size(expected));
		g_assert_cmpint(
		    g_strv_contains((const gchar *const *)mail->mail_options, "BODY=8BITMIME"),
		    ==,
		    i == 0);
		ms_test_close(client, &session);
	}
	/* the downgrade did something */
	g_assert_false(g_bytes_equal(original, downgraded));
	g_assert_null(
	    memchr(g_bytes_get_data(downgraded, NULL), 0xc3, g_bytes_get_size(downgraded)));
}

/* appends CRLF-terminated filler lines so that the last CRLF ends exactly at offset: the next
 * byte appended starts a line there */
static void
ms_test_fill_to(GString *message, gsize offset)
{
	guint n = 0;

	g_assert_cmpuint(offset, >=, message->len + 2);
	while (message->len < offset) {
		gsize left = offset - message->len;
		gsize line = left <= 80 ? left : (left - 80 >= 2 ? 80 : 70);

		for (gsize i = 0; i < line - 2; i++)
			g_string_append_c(message, 'a' + (n + i) % 26);
		g_string_append(message, "\r\n");
		n++;
	}
	g_assert_cmpuint(message->len, ==, offset);
}

/* the mail_options of the MAIL FROM that brought mail, space-separated */
static gchar *
ms_test_get_mail_options(MsTestServer *server, MsTestMail *mail)
{
	g_autofree gchar *name = g_strdup_printf("%s.json", mail->id);
	g_autofree gchar *path = g_build_filename(ms_test_server_get_maildir(server), name, NULL);
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) error = NULL;
	g_autoptr(GString) options = g_string_new(NULL);
	JsonArray *array;
	gboolean ret;

	ret = json_parser_load_from_file(parser, path, &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	array = json_object_get_array_member(json_node_get_object(json_parser_get_root(parser)),
					     "mail_options");
	for (guint i = 0; i < json_array_get_length(array); i++) {
		if (options->len > 0)
			g_string_append_c(options, ' ');
		g_string_append(options, json_array_get_string_element(array, i));
	}
	return g_string_free(g_steal_pointer(&options), FALSE);
}

static void
ms_test_stream_file_func(void)
{
	g_autoptr(MsTestServer) server = ms_test_start("plain", NULL);
	g_autoptr(MsAccount) account =
	    ms_test_account_new(ms_test_server_get_port(server), "security", "none", NULL);
	g_autoptr(MsSmtpClient) client = ms_smtp_client_new(account);
	g_autoptr(MsSmtpResult) result = NULL;
	g_autoptr(MsTestMail) mail = NULL;
	g_autoptr(GString) message = g_string_new("From: Alice <alice@example.test>\r\n"
						  "Subject: five MiB from a file\r\n"
						  "\r\n");
	g_autoptr(GFile) file = NULL;
	g_autoptr(GFileInputStream) input = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *path = NULL;
	g_autofree gchar *options = NULL;
	g_auto(MsTestSession) session = {0};
	const gchar *recipients[] = {"bob@example.test", NULL};
	const gsize chunk = 64 * 1024;
	const gsize size = 5 * 1024 * 1024;
	gsize len = 0;
	const gchar *data = NULL;
	gint fd;
	gboolean ret;

	/* dot lines where the client's 64 KiB reads split the file: the dot as the last byte of
	 * a chunk, as the first byte of the next, and one byte after a chunk boundary that
	 * falls between the CR and the LF before it */
	ms_test_fill_to(message, chunk - 1);
	g_string_append(message, ".last byte of the first chunk\r\n");
	ms_test_fill_to(message, 2 * chunk);
	g_string_append(message, ".first byte of the third chunk\r\n");
	ms_test_fill_to(message, 3 * chunk + 1);
	g_string_append(message, "..after CR | LF across a boundary\r\n");
	ms_test_fill_to(message, size - 3);
	g_string_append(message, ".\r\n");
	g_assert_cmpuint(message->len, ==, size);
	g_assert_cmpint(message->str[chunk - 1], ==, '.');
	g_assert_cmpint(message->str[2 * chunk], ==, '.');
	g_assert_cmpint(message->str[3 * chunk - 1], ==, '\r');
	g_assert_cmpint(message->str[3 * chunk], ==, '\n');
	g_assert_cmpint(message->str[3 * chunk + 1], ==, '.');

	fd = g_file_open_tmp("ms-test-stream-XXXXXX.eml", &path, &error);
	g_assert_no_error(error);
	g_assert_cmpint(fd, >=, 0);
	close(fd);
	ret = g_file_set_contents(path, message->str, message->len, &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	file = g_file_new_for_path(path);
	input = g_file_read(file, NULL, &error);
	g_assert_no_error(error);
	g_assert_nonnull(input);

	ret = ms_test_open(client, &session, &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	result = ms_test_transaction_stream(client,
					    &session,
					    recipients,
					    G_INPUT_STREAM(input),
					    size,
					    &error);
	g_unlink(path);
	g_assert_no_error(error);
	g_assert_nonnull(result);
	g_assert_true(g_str_has_prefix(result->reply, "250 2.0.0 OK queued as "));
	g_assert_cmpuint(session.last_done, ==, size);
	g_assert_cmpuint(session.last_total, ==, size);
	g_assert_true(ms_smtp_client_is_open(client));
	ms_test_close(client, &session);

	mail = ms_test_get_mail(server);
	data = g_bytes_get_data(mail->eml, &len);
	g_assert_cmpmem(data, len, message->str, message->len);
	options = ms_test_get_mail_options(server, mail);
	g_assert_cmpstr(options, ==, "SIZE=5242880");
}

/* the stream ends before the announced size, or fails: the server must not store a truncated
 * message, so the connection is dropped instead of sending the final dot */
static void
ms_test_stream_broken(GInputStream *input, guint64 size, const gchar *expected)
{
	g_autoptr(MsTestServer) server = ms_test_start("plain", NULL);
	g_autoptr(MsAccount) account =
	    ms_test_account_new(ms_test_server_get_port(server), "security", "none", NULL);
	g_autoptr(MsSmtpClient) client = ms_smtp_client_new(account);
	g_autoptr(MsSmtpResult) result = NULL;
	g_autoptr(GPtrArray) mails = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *reply = NULL;
	g_auto(MsTestSession) session = {0};
	g_auto(MsTestSession) session2 = {0};
	const gchar *recipients[] = {"bob@example.test", NULL};
	gboolean ret;

	ret = ms_test_open(client, &session, &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	result = ms_test_transaction_stream(client, &session, recipients, input, size, &error);
	g_assert_error(error, MS_ERROR, MS_ERROR_STORAGE);
	g_assert_null(result);
	g_assert_cmpstr(error->message, ==, expected);
	g_assert_false(ms_smtp_client_is_open(client));
	/* what could be read went out before the failure */
	g_assert_cmpuint(session.last_done, ==, 100 * 1024);
	g_assert_cmpuint(session.last_total, ==, size);
	g_clear_error(&error);

	/* the next message arrives, and it is the only one */
	reply = ms_test_send(client, &session2, &error);
	g_assert_no_error(error);
	g_assert_nonnull(reply);
	mails = ms_test_server_wait_for_messages(server, 2, 1000);
	g_assert_cmpuint(mails->len, ==, 1);
	ms_test_assert_mail(g_ptr_array_index(mails, 0), ms_test_message);
}

/* 100 KiB of dot-free lines: two reads, then the stream ends or fails */
static GString *
ms_test_stream_broken_message(void)
{
	GString *message = g_string_new("Subject: truncated\r\n\r\n");

	ms_test_fill_to(message, 100 * 1024);
	return message;
}

static void
ms_test_stream_short_func(void)
{
	g_autoptr(GString) message = ms_test_stream_broken_message();
	g_autoptr(GBytes) bytes = g_bytes_new(message->str, message->len);
	g_autoptr(GInputStream) input = g_memory_input_stream_new_from_bytes(bytes);

	ms_test_stream_broken(input,
			      200 * 1024,
			      "cannot read the message from the spool: it ends after 102400 of "
			      "204800 bytes");
}

static void
ms_test_stream_read_error_func(void)
{
	g_autoptr(GString) message = ms_test_stream_broken_message();
	g_autoptr(GInputStream) input = ms_test_failing_stream_new(message->str, message->len);

	ms_test_stream_broken(input,
			      200 * 1024,
			      "cannot read the message from the spool: Input/output error");
}

int
main(int argc, char **argv)
{
	/* before anything logs: the writer can only be set once */
	g_log_set_writer_func(ms_test_log_writer, NULL, NULL);
	g_test_init(&argc, &argv, NULL);

	g_test_add_func("/mail-sender/smtp-client/plain", ms_test_plain_func);
	g_test_add_func("/mail-sender/smtp-client/dot-stuffing", ms_test_dot_stuffing_func);
	g_test_add_func("/mail-sender/smtp-client/large", ms_test_large_func);
	g_test_add_func("/mail-sender/smtp-client/starttls-opportunistic",
			ms_test_starttls_opportunistic_func);
	g_test_add_func("/mail-sender/smtp-client/starttls-required",
			ms_test_starttls_required_func);
	g_test_add_func("/mail-sender/smtp-client/implicit-tls", ms_test_implicit_tls_func);
	g_test_add_func("/mail-sender/smtp-client/security-none-ignores-starttls",
			ms_test_security_none_ignores_starttls_func);
	g_test_add_func("/mail-sender/smtp-client/auth-plain", ms_test_auth_plain_func);
	g_test_add_func("/mail-sender/smtp-client/auth-login", ms_test_auth_login_func);
	g_test_add_func("/mail-sender/smtp-client/auth-auto", ms_test_auth_auto_func);
	g_test_add_func("/mail-sender/smtp-client/transcript-plain", ms_test_transcript_plain_func);
	g_test_add_func("/mail-sender/smtp-client/transcript-login", ms_test_transcript_login_func);
	g_test_add_func("/mail-sender/smtp-client/auth-wrong-password",
			ms_test_auth_wrong_password_func);
	g_test_add_func("/mail-sender/smtp-client/auth-no-password", ms_test_auth_no_password_func);
	g_test_add_func("/mail-sender/smtp-client/auth-not-offered", ms_test_auth_not_offered_func);
	g_test_add_func("/mail-sender/smtp-client/auth-plaintext-refused",
			ms_test_auth_plaintext_refused_func);
	g_test_add_func("/mail-sender/smtp-client/auth-plaintext-allowed",
			ms_test_auth_plaintext_allowed_func);
	g_test_add_func("/mail-sender/smtp-client/auth-not-offered-mechanism",
			ms_test_auth_not_offered_mechanism_func);
	g_test_add_func("/mail-sender/smtp-client/auth-cram-md5", ms_test_auth_cram_md5_func);
	g_test_add_func("/mail-sender/smtp-client/auth-scram-sha-256",
			ms_test_auth_scram_sha_256_func);
	g_test_add_func("/mail-sender/smtp-client/auth-xoauth2", ms_test_auth_xoauth2_func);
	g_test_add_func("/mail-sender/smtp-client/auth-scram-bad-server-signature",
			ms_test_auth_scram_bad_server_signature_func);
	g_test_add_func("/mail-sender/smtp-client/auth-wrong-secret",
			ms_test_auth_wrong_secret_func);
	g_test_add_func("/mail-sender/smtp-client/helo-name", ms_test_helo_name_func);
	g_test_add_func("/mail-sender/smtp-client/helo-fallback", ms_test_helo_fallback_func);
	g_test_add_func("/mail-sender/smtp-client/helo-fallback-starttls-required",
			ms_test_helo_fallback_starttls_required_func);
	g_test_add_func("/mail-sender/smtp-client/stall-starttls", ms_test_stall_starttls_func);
	g_test_add_func("/mail-sender/smtp-client/tls-only-silent-starttls",
			ms_test_tls_only_silent_starttls_func);
	g_test_add_func("/mail-sender/smtp-client/tls-only-silent-none",
			ms_test_tls_only_silent_none_func);
	g_test_add_func("/mail-sender/smtp-client/implicit-tls-to-plain",
			ms_test_implicit_tls_to_plain_func);
	g_test_add_func("/mail-sender/smtp-client/starttls-not-offered",
			ms_test_starttls_not_offered_func);
	g_test_add_func("/mail-sender/smtp-client/starttls-inject", ms_test_starttls_inject_func);
	g_test_add_func("/mail-sender/smtp-client/wrong-host", ms_test_wrong_host_func);
	g_test_add_func("/mail-sender/smtp-client/expired", ms_test_expired_func);
	g_test_add_func("/mail-sender/smtp-client/unknown-ca", ms_test_unknown_ca_func);
	g_test_add_func("/mail-sender/smtp-client/pinned", ms_test_pinned_func);
	g_test_add_func("/mail-sender/smtp-client/pin-mismatch", ms_test_pin_mismatch_func);
	g_test_add_func("/mail-sender/smtp-client/greet-421", ms_test_greet_421_func);
	g_test_add_func("/mail-sender/smtp-client/reject-rcpt", ms_test_reject_rcpt_func);
	g_test_add_func("/mail-sender/smtp-client/temp-fail-rcpt", ms_test_temp_fail_rcpt_func);
	g_test_add_func("/mail-sender/smtp-client/drop-in-data", ms_test_drop_in_data_func);
	g_test_add_func("/mail-sender/smtp-client/connection-refused",
			ms_test_connection_refused_func);
	g_test_add_func("/mail-sender/smtp-client/cancel", ms_test_cancel_func);
	g_test_add_func("/mail-sender/smtp-client/cancel-silent", ms_test_cancel_silent_func);
	g_test_add_func("/mail-sender/smtp-client/verify-tls-auth", ms_test_verify_tls_auth_func);
	g_test_add_func("/mail-sender/smtp-client/verify-plain", ms_test_verify_plain_func);
	g_test_add_func("/mail-sender/smtp-client/verify-wrong-password",
			ms_test_verify_wrong_password_func);
	g_test_add_func("/mail-sender/smtp-client/session-reuse", ms_test_session_reuse_func);
	g_test_add_func("/mail-sender/smtp-client/session-no-pipelining",
			ms_test_session_no_pipelining_func);
	g_test_add_func("/mail-sender/smtp-client/session-starttls", ms_test_session_starttls_func);
	g_test_add_func("/mail-sender/smtp-client/session-implicit-tls",
			ms_test_session_implicit_tls_func);
	g_test_add_func("/mail-sender/smtp-client/session-many-recipients",
			ms_test_session_many_recipients_func);
	g_test_add_func("/mail-sender/smtp-client/session-mixed-rcpts",
			ms_test_session_mixed_rcpts_func);
	g_test_add_func("/mail-sender/smtp-client/session-temp-fail-some",
			ms_test_session_temp_fail_some_func);
	g_test_add_func("/mail-sender/smtp-client/session-all-refused",
			ms_test_session_all_refused_func);
	g_test_add_func("/mail-sender/smtp-client/send-pipelined-reject",
			ms_test_send_pipelined_reject_func);
	g_test_add_func("/mail-sender/smtp-client/session-idle-closed",
			ms_test_session_idle_closed_func);
	g_test_add_func("/mail-sender/smtp-client/session-cancel", ms_test_session_cancel_func);
	g_test_add_func("/mail-sender/smtp-client/session-errors", ms_test_session_errors_func);
	g_test_add_func("/mail-sender/smtp-client/long-line", ms_test_long_line_func);
	g_test_add_func("/mail-sender/smtp-client/stream-file", ms_test_stream_file_func);
	g_test_add_func("/mail-sender/smtp-client/stream-short", ms_test_stream_short_func);
	g_test_add_func("/mail-sender/smtp-client/stream-8bit", ms_test_stream_8bit_func);
	g_test_add_func("/mail-sender/smtp-client/stream-read-error",
			ms_test_stream_read_error_func);
	return g_test_run();
}
