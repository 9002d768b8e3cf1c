#include "config.h"

#include <gio/gio.h>
#include <string.h>

#include "ms-error.h"
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
	/* the last reply of the session is the 221 to QUIT */
	g_assert_cmpstr(ms_smtp_client_get_last_reply(client), !=, "");
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

static void
ms_test_auth(const gchar *auth, const gchar *expected_mechanism)
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
	ms_test_auth("auto", "PLAIN");
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

static void
ms_test_auth_unsupported_func(void)
{
	g_autoptr(MsAccount) account =
	    ms_test_account_new(25, "username", "alice", "auth", "cram-md5", NULL);
	g_autoptr(MsSmtpClient) client = ms_smtp_client_new(account);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *reply = NULL;
	g_auto(MsTestSession) session = {0};

	ms_smtp_client_set_password(client, MS_TEST_PASSWORD);
	reply = ms_test_send(client, &session, &error);
	g_assert_error(error, MS_ERROR, MS_ERROR_AUTH_FAILED);
	g_assert_null(reply);
	g_assert_true(g_str_has_prefix(error->message, "auth=cram-md5 is not supported yet"));
	/* refused before connecting */
	g_assert_cmpstr(session.stages->str, ==, "");
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
	g_test_add_func("/mail-sender/smtp-client/auth-unsupported", ms_test_auth_unsupported_func);
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
	return g_test_run();
}
