#include "config.h"

#include <errno.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ms-test-bus.h"
#include "ms-test-server.h"

/* Tests of the integration-test fixtures themselves: the SMTP test server is driven by a tiny
 * synchronous SMTP client written here, and the daemon fixture runs this very binary as a fake
 * mail-senderd (see ms_test_fake_daemon()), since the real daemon is tested elsewhere. */

#define MS_TEST_WAIT_MS 20000

/* a minimal synchronous SMTP client: 10 s socket timeout, also bounding the TLS handshake */
typedef struct {
	GSocketClient *client;
	GSocketConnection *conn;
	GTlsConnection *tls; /* NULL until TLS */
	GDataInputStream *in;
	GOutputStream *out; /* borrowed from the current stream */
} MsTestSmtp;

static void
ms_test_smtp_free(MsTestSmtp *smtp)
{
	g_clear_object(&smtp->in);
	g_clear_object(&smtp->tls);
	g_clear_object(&smtp->conn);
	g_clear_object(&smtp->client);
	g_free(smtp);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(MsTestSmtp, ms_test_smtp_free)

static void
ms_test_smtp_set_stream(MsTestSmtp *smtp, GIOStream *stream)
{
	g_clear_object(&smtp->in);
	smtp->in = g_data_input_stream_new(g_io_stream_get_input_stream(stream));
	g_data_input_stream_set_newline_type(smtp->in, G_DATA_STREAM_NEWLINE_TYPE_CR_LF);
	/* disposing the reader must not close the socket under a later TLS layer */
	g_filter_input_stream_set_close_base_stream(G_FILTER_INPUT_STREAM(smtp->in), FALSE);
	smtp->out = g_io_stream_get_output_stream(stream);
}

static MsTestSmtp *
ms_test_smtp_connect(guint16 port)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestSmtp) smtp = g_new0(MsTestSmtp, 1);

	smtp->client = g_socket_client_new();
	g_socket_client_set_timeout(smtp->client, 10);
	g_socket_client_set_enable_proxy(smtp->client, FALSE);
	smtp->conn = g_socket_client_connect_to_host(smtp->client, "127.0.0.1", port, NULL, &error);
	g_assert_no_error(error);
	g_assert_nonnull(smtp->conn);
	ms_test_smtp_set_stream(smtp, G_IO_STREAM(smtp->conn));
	return g_steal_pointer(&smtp);
}

/* one whole reply, lines without CRLF joined with "\n"; NULL at end of stream */
static gchar *
ms_test_smtp_read_reply(MsTestSmtp *smtp)
{
	g_autoptr(GString) reply = g_string_new(NULL);

	while (TRUE) {
		g_autoptr(GError) error = NULL;
		g_autofree gchar *line =
		    g_data_input_stream_read_line(smtp->in, NULL, NULL, &error);
		g_assert_no_error(error);
		if (line == NULL)
			return reply->len > 0 ? g_string_free(g_steal_pointer(&reply), FALSE)
					      : NULL;
		if (reply->len > 0)
			g_string_append_c(reply, '\n');
		g_string_append(reply, line);
		/* "250-" continues, "250 " or a bare "250" ends the reply */
		if (strlen(line) < 4 || line[3] != '-')
			break;
	}
	return g_string_free(g_steal_pointer(&reply), FALSE);
}

static void
ms_test_smtp_write(MsTestSmtp *smtp, const gchar *data)
{
	g_autoptr(GError) error = NULL;
	gboolean ret = g_output_stream_write_all(smtp->out, data, strlen(data), NULL, NULL, &error);
	g_assert_no_error(error);
	g_assert_true(ret);
}

/* sends one command line and returns the reply */
static gchar *
ms_test_smtp_cmd(MsTestSmtp *smtp, const gchar *line)
{
	g_autofree gchar *data = g_strdup_printf("%s\r\n", line);
	ms_test_smtp_write(smtp, data);
	return ms_test_smtp_read_reply(smtp);
}

/* asserts that line gets exactly the reply expected */
static void
ms_test_smtp_expect(MsTestSmtp *smtp, const gchar *line, const gchar *expected)
{
	g_autofree gchar *reply = ms_test_smtp_cmd(smtp, line);
	g_assert_cmpstr(reply, ==, expected);
}

static GTlsDatabase *
ms_test_ca_database(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *ca = ms_test_server_get_ca_file();
	GTlsDatabase *db;

	g_assert_nonnull(ca);
	g_assert_true(g_path_is_absolute(ca));
	db = g_tls_file_database_new(ca, &error);
	g_assert_no_error(error);
	g_assert_nonnull(db);
	return db;
}

/* TLS handshake on the TCP connection, trusting only the test CA; the reader is rebuilt on top
 * of the TLS stream. Fails with the handshake's error. */
static gboolean
ms_test_smtp_start_tls(MsTestSmtp *smtp, guint16 port, GError **error)
{
	g_autoptr(GSocketConnectable) identity = g_network_address_new("localhost", port);
	g_autoptr(GTlsDatabase) db = ms_test_ca_database();
	GIOStream *tls;

	tls = g_tls_client_connection_new(G_IO_STREAM(smtp->conn), identity, error);
	if (tls == NULL)
		return FALSE;
	smtp->tls = G_TLS_CONNECTION(tls);
	g_tls_connection_set_database(smtp->tls, db);
	if (!g_tls_connection_handshake(smtp->tls, NULL, error))
		return FALSE;
	ms_test_smtp_set_stream(smtp, tls);
	return TRUE;
}

/* the message every transaction test sends, as sent (dot-stuffed) and as stored */
#define MS_TEST_MESSAGE_HEADERS                                                                    \
	"From: Alice <alice@example.test>\r\n"                                                     \
	"To: bob@example.test\r\n"                                                                 \
	"Subject: harness\r\n"                                                                     \
	"\r\n"                                                                                     \
	"first line\r\n"
#define MS_TEST_MESSAGE_SENT   MS_TEST_MESSAGE_HEADERS "..leading dot\r\n.\r\n"
#define MS_TEST_MESSAGE_STORED MS_TEST_MESSAGE_HEADERS ".leading dot\r\n"

/* DATA with the test message; returns the queue id from the "250 2.0.0 OK queued as" reply */
static gchar *
ms_test_smtp_send_data(MsTestSmtp *smtp)
{
	g_autofree gchar *reply = NULL;

	ms_test_smtp_expect(smtp, "DATA", "354 End data with <CR><LF>.<CR><LF>");
	ms_test_smtp_write(smtp, MS_TEST_MESSAGE_SENT);
	reply = ms_test_smtp_read_reply(smtp);
	g_assert_nonnull(reply);
	g_assert_true(g_str_has_prefix(reply, "250 2.0.0 OK queued as "));
	return g_strdup(reply + strlen("250 2.0.0 OK queued as "));
}

static void
ms_test_assert_eml(MsTestMail *mail)
{
	gsize len = 0;
	const gchar *data = g_bytes_get_data(mail->eml, &len);
	g_assert_cmpmem(data, len, MS_TEST_MESSAGE_STORED, strlen(MS_TEST_MESSAGE_STORED));
}

static void
ms_test_harness_plain_func(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = NULL;
	g_autoptr(MsTestSmtp) smtp = NULL;
	g_autoptr(GPtrArray) mails = NULL;
	g_autofree gchar *greeting = NULL;
	g_autofree gchar *qid = NULL;
	MsTestMail *mail;
	const gchar *rcpts[] = {"bob@example.test", "carol@example.test", NULL};

	server = ms_test_server_start("plain", NULL, &error);
	g_assert_no_error(error);
	g_assert_nonnull(server);
	g_assert_cmpuint(ms_test_server_get_port(server), >, 0);
	g_assert_cmpuint(ms_test_server_count_messages(server), ==, 0);

	smtp = ms_test_smtp_connect(ms_test_server_get_port(server));
	greeting = ms_test_smtp_read_reply(smtp);
	g_assert_cmpstr(greeting, ==, "220 smtp.test.localhost mail-sender test SMTP");
	ms_test_smtp_expect(smtp,
			    "EHLO client.test",
			    "250-smtp.test.localhost\n"
			    "250-SIZE 10485760\n"
			    "250-8BITMIME\n"
			    "250 HELP");
	ms_test_smtp_expect(smtp, "MAIL FROM:<alice@example.test>", "250 OK");
	ms_test_smtp_expect(smtp, "RCPT TO:<bob@example.test>", "250 2.1.5 OK");
	ms_test_smtp_expect(smtp, "RCPT TO:<carol@example.test>", "250 2.1.5 OK");
	qid = ms_test_smtp_send_data(smtp);
	ms_test_smtp_expect(smtp, "QUIT", "221 Bye");

	mails = ms_test_server_wait_for_messages(server, 1, MS_TEST_WAIT_MS);
	g_assert_cmpuint(mails->len, ==, 1);
	mail = g_ptr_array_index(mails, 0);
	g_assert_cmpstr(mail->id, ==, qid);
	ms_test_assert_eml(mail);
	g_assert_cmpstr(mail->mail_from, ==, "alice@example.test");
	g_assert_true(g_strv_equal((const gchar *const *)mail->rcpt_tos, rcpts));
	g_assert_cmpstr(mail->helo, ==, "client.test");
	g_assert_cmpstr(mail->ehlo_or_helo, ==, "EHLO");
	g_assert_null(mail->auth_login);
	g_assert_null(mail->auth_mechanism);
	g_assert_null(mail->tls_version);
	g_assert_cmpuint(ms_test_server_count_messages(server), ==, 1);
}

static void
ms_test_harness_fail_first_func(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = NULL;
	g_autoptr(MsTestSmtp) smtp3 = NULL;
	g_autofree gchar *greeting3 = NULL;
	const gchar *args[] = {"--fail-first", "2", NULL};

	server = ms_test_server_start("plain", args, &error);
	g_assert_no_error(error);
	g_assert_nonnull(server);

	/* the first two connections are refused, each with a 421 and then end of stream */
	for (guint i = 0; i < 2; i++) {
		g_autoptr(MsTestSmtp) smtp = ms_test_smtp_connect(ms_test_server_get_port(server));
		g_autofree gchar *greeting = ms_test_smtp_read_reply(smtp);
		g_autofree gchar *eof = NULL;
		g_assert_cmpstr(greeting,
				==,
				"421 4.3.2 smtp.test.localhost Service not available, closing "
				"channel");
		eof = ms_test_smtp_read_reply(smtp);
		g_assert_null(eof);
	}
	smtp3 = ms_test_smtp_connect(ms_test_server_get_port(server));
	greeting3 = ms_test_smtp_read_reply(smtp3);
	g_assert_cmpstr(greeting3, ==, "220 smtp.test.localhost mail-sender test SMTP");
	ms_test_smtp_expect(smtp3, "QUIT", "221 Bye");
}

static void
ms_test_harness_rcpt_refusals_func(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = NULL;
	g_autoptr(MsTestSmtp) smtp = NULL;
	g_autoptr(GPtrArray) mails = NULL;
	g_autofree gchar *greeting = NULL;
	g_autofree gchar *qid = NULL;
	MsTestMail *mail;
	const gchar *args[] = {"--reject-rcpt",
			       "nobody@example.test",
			       "--temp-fail-rcpt",
			       "later@example.test",
			       NULL};
	const gchar *rcpts[] = {"bob@example.test", NULL};

	server = ms_test_server_start("plain", args, &error);
	g_assert_no_error(error);
	g_assert_nonnull(server);
	smtp = ms_test_smtp_connect(ms_test_server_get_port(server));
	greeting = ms_test_smtp_read_reply(smtp);
	g_assert_nonnull(greeting);
	ms_test_smtp_expect(smtp, "HELO client.test", "250 smtp.test.localhost");
	ms_test_smtp_expect(smtp, "MAIL FROM:<alice@example.test>", "250 OK");
	ms_test_smtp_expect(smtp,
			    "RCPT TO:<nobody@example.test>",
			    "550 5.1.1 <nobody@example.test>: Recipient address rejected (test)");
	ms_test_smtp_expect(smtp,
			    "RCPT TO:<LATER@example.test>",
			    "451 4.3.0 Temporary failure (test)");
	ms_test_smtp_expect(smtp, "RCPT TO:<bob@example.test>", "250 2.1.5 OK");
	qid = ms_test_smtp_send_data(smtp);
	ms_test_smtp_expect(smtp, "QUIT", "221 Bye");

	mails = ms_test_server_wait_for_messages(server, 1, MS_TEST_WAIT_MS);
	g_assert_cmpuint(mails->len, ==, 1);
	mail = g_ptr_array_index(mails, 0);
	g_assert_true(g_strv_equal((const gchar *const *)mail->rcpt_tos, rcpts));
	/* HELO through aiosmtpd is recorded as such too */
	g_assert_cmpstr(mail->helo, ==, "client.test");
	g_assert_cmpstr(mail->ehlo_or_helo, ==, "HELO");
}

static void
ms_test_harness_implicit_tls_func(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = NULL;
	g_autoptr(MsTestSmtp) smtp = NULL;
	g_autoptr(GPtrArray) mails = NULL;
	g_autofree gchar *greeting = NULL;
	g_autofree gchar *qid = NULL;
	g_autofree gchar *plain_ok = NULL;
	g_autofree gchar *plain_bad = NULL;
	g_autofree gchar *cmd_ok = NULL;
	g_autofree gchar *cmd_bad = NULL;
	MsTestMail *mail;
	gboolean ret;
	const gchar *args[] = {"--auth", "alice:s3cret", NULL};

	server = ms_test_server_start("implicit-tls", args, &error);
	g_assert_no_error(error);
	g_assert_nonnull(server);

	/* the server presents a certificate of the test CA, valid for localhost */
	smtp = ms_test_smtp_connect(ms_test_server_get_port(server));
	ret = ms_test_smtp_start_tls(smtp, ms_test_server_get_port(server), &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	g_assert_cmpint(g_tls_connection_get_peer_certificate_errors(smtp->tls), ==, 0);
	g_assert_cmpint(g_tls_connection_get_protocol_version(smtp->tls),
			==,
			G_TLS_PROTOCOL_VERSION_TLS_1_3);

	greeting = ms_test_smtp_read_reply(smtp);
	g_assert_cmpstr(greeting, ==, "220 smtp.test.localhost mail-sender test SMTP");
	ms_test_smtp_expect(smtp,
			    "EHLO client.test",
			    "250-smtp.test.localhost\n"
			    "250-SIZE 10485760\n"
			    "250-8BITMIME\n"
			    "250-AUTH LOGIN PLAIN\n"
			    "250 HELP");
	ms_test_smtp_expect(smtp,
			    "MAIL FROM:<alice@example.test>",
			    "530 5.7.0 Authentication required");

	/* a wrong password gets 535 from aiosmtpd: no --reject-auth needed */
	plain_bad = g_base64_encode((const guchar *)"\0alice\0wrong", 12);
	cmd_bad = g_strdup_printf("AUTH PLAIN %s", plain_bad);
	ms_test_smtp_expect(smtp, cmd_bad, "535 5.7.8 Authentication credentials invalid");
	plain_ok = g_base64_encode((const guchar *)"\0alice\0s3cret", 13);
	cmd_ok = g_strdup_printf("AUTH PLAIN %s", plain_ok);
	ms_test_smtp_expect(smtp, cmd_ok, "235 2.7.0 Authentication successful");

	ms_test_smtp_expect(smtp, "MAIL FROM:<alice@example.test>", "250 OK");
	ms_test_smtp_expect(smtp, "RCPT TO:<bob@example.test>", "250 2.1.5 OK");
	qid = ms_test_smtp_send_data(smtp);
	ms_test_smtp_expect(smtp, "QUIT", "221 Bye");

	mails = ms_test_server_wait_for_messages(server, 1, MS_TEST_WAIT_MS);
	g_assert_cmpuint(mails->len, ==, 1);
	mail = g_ptr_array_index(mails, 0);
	ms_test_assert_eml(mail);
	g_assert_cmpstr(mail->auth_login, ==, "alice");
	g_assert_cmpstr(mail->auth_mechanism, ==, "PLAIN");
	g_assert_cmpstr(mail->tls_version, ==, "TLSv1.3");
	g_assert_cmpstr(mail->ehlo_or_helo, ==, "EHLO");
}

static void
ms_test_harness_wrong_cert_func(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = NULL;
	g_autoptr(MsTestSmtp) smtp = NULL;
	gboolean ret;

	server = ms_test_server_start_with_cert("implicit-tls", "wronghost", NULL, &error);
	g_assert_no_error(error);
	g_assert_nonnull(server);

	smtp = ms_test_smtp_connect(ms_test_server_get_port(server));
	ret = ms_test_smtp_start_tls(smtp, ms_test_server_get_port(server), &error);
	g_assert_error(error, G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE);
	g_assert_false(ret);
	g_assert_cmpint(g_tls_connection_get_peer_certificate_errors(smtp->tls),
			==,
			G_TLS_CERTIFICATE_BAD_IDENTITY);
}

static void
ms_test_harness_starttls_func(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = NULL;
	g_autoptr(MsTestSmtp) smtp = NULL;
	g_autoptr(GPtrArray) mails = NULL;
	g_autofree gchar *greeting = NULL;
	g_autofree gchar *qid = NULL;
	MsTestMail *mail;
	gboolean ret;

	server = ms_test_server_start("starttls", NULL, &error);
	g_assert_no_error(error);
	g_assert_nonnull(server);
	smtp = ms_test_smtp_connect(ms_test_server_get_port(server));
	greeting = ms_test_smtp_read_reply(smtp);
	g_assert_cmpstr(greeting, ==, "220 smtp.test.localhost mail-sender test SMTP");
	ms_test_smtp_expect(smtp,
			    "EHLO client.test",
			    "250-smtp.test.localhost\n"
			    "250-SIZE 10485760\n"
			    "250-8BITMIME\n"
			    "250-STARTTLS\n"
			    "250 HELP");
	ms_test_smtp_expect(smtp, "STARTTLS", "220 Ready to start TLS");
	g_assert_cmpuint(g_buffered_input_stream_get_available(G_BUFFERED_INPUT_STREAM(smtp->in)),
			 ==,
			 0);
	ret = ms_test_smtp_start_tls(smtp, ms_test_server_get_port(server), &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	ms_test_smtp_expect(smtp,
			    "EHLO client.test",
			    "250-smtp.test.localhost\n"
			    "250-SIZE 10485760\n"
			    "250-8BITMIME\n"
			    "250 HELP");
	ms_test_smtp_expect(smtp, "MAIL FROM:<alice@example.test>", "250 OK");
	ms_test_smtp_expect(smtp, "RCPT TO:<bob@example.test>", "250 2.1.5 OK");
	qid = ms_test_smtp_send_data(smtp);
	ms_test_smtp_expect(smtp, "QUIT", "221 Bye");

	mails = ms_test_server_wait_for_messages(server, 1, MS_TEST_WAIT_MS);
	g_assert_cmpuint(mails->len, ==, 1);
	mail = g_ptr_array_index(mails, 0);
	ms_test_assert_eml(mail);
	g_assert_cmpstr(mail->tls_version, ==, "TLSv1.3");
	g_assert_null(mail->auth_login);
}

static void
ms_test_harness_starttls_inject_func(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = NULL;
	g_autoptr(MsTestSmtp) smtp = NULL;
	g_autofree gchar *greeting = NULL;
	const gchar *injected = "250 injected\r\n";
	const void *buffered;
	gsize available = 0;
	gboolean ret;

	server = ms_test_server_start("starttls-inject", NULL, &error);
	g_assert_no_error(error);
	g_assert_nonnull(server);
	smtp = ms_test_smtp_connect(ms_test_server_get_port(server));
	greeting = ms_test_smtp_read_reply(smtp);
	g_assert_cmpstr(greeting,
			==,
			"220 smtp.test.localhost ESMTP test server (starttls-inject)");
	ms_test_smtp_expect(smtp,
			    "EHLO client.test",
			    "250-smtp.test.localhost\n"
			    "250-8BITMIME\n"
			    "250-STARTTLS\n"
			    "250 HELP");
	ms_test_smtp_expect(smtp, "STARTTLS", "220 2.0.0 Ready to start TLS");

	/* the injected reply came in the same segment, so it sits in the reader's buffer: this is
	 * what a client has to detect and refuse */
	buffered =
	    g_buffered_input_stream_peek_buffer(G_BUFFERED_INPUT_STREAM(smtp->in), &available);
	g_assert_cmpmem(buffered, available, injected, strlen(injected));

	/* the server still does the handshake behind it */
	ret = ms_test_smtp_start_tls(smtp, ms_test_server_get_port(server), &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	ms_test_smtp_expect(smtp,
			    "EHLO client.test",
			    "250-smtp.test.localhost\n"
			    "250-8BITMIME\n"
			    "250 HELP");
	ms_test_smtp_expect(smtp, "QUIT", "221 2.0.0 Bye");
}

static void
ms_test_harness_no_ehlo_func(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = NULL;
	g_autoptr(MsTestSmtp) smtp = NULL;
	g_autoptr(GPtrArray) mails = NULL;
	g_autofree gchar *greeting = NULL;
	g_autofree gchar *qid = NULL;
	MsTestMail *mail;
	const gchar *rcpts[] = {"bob@example.test", "carol@example.test", NULL};

	server = ms_test_server_start("no-ehlo", NULL, &error);
	g_assert_no_error(error);
	g_assert_nonnull(server);
	smtp = ms_test_smtp_connect(ms_test_server_get_port(server));
	greeting = ms_test_smtp_read_reply(smtp);
	g_assert_cmpstr(greeting, ==, "220 smtp.test.localhost ESMTP test server (no-ehlo)");
	ms_test_smtp_expect(smtp, "EHLO client.test", "502 5.5.2 Command not implemented");
	ms_test_smtp_expect(smtp,
			    "MAIL FROM:<alice@example.test>",
			    "503 5.5.1 Error: send HELO first");
	ms_test_smtp_expect(smtp, "HELO client.test", "250 smtp.test.localhost");
	ms_test_smtp_expect(smtp, "MAIL FROM:<alice@example.test>", "250 2.1.0 OK");
	ms_test_smtp_expect(smtp, "RCPT TO:<bob@example.test>", "250 2.1.5 OK");
	ms_test_smtp_expect(smtp, "RCPT TO:<carol@example.test>", "250 2.1.5 OK");
	qid = ms_test_smtp_send_data(smtp);
	ms_test_smtp_expect(smtp, "QUIT", "221 2.0.0 Bye");

	mails = ms_test_server_wait_for_messages(server, 1, MS_TEST_WAIT_MS);
	g_assert_cmpuint(mails->len, ==, 1);
	mail = g_ptr_array_index(mails, 0);
	g_assert_cmpstr(mail->id, ==, qid);
	ms_test_assert_eml(mail);
	g_assert_cmpstr(mail->mail_from, ==, "alice@example.test");
	g_assert_true(g_strv_equal((const gchar *const *)mail->rcpt_tos, rcpts));
	g_assert_cmpstr(mail->helo, ==, "client.test");
	g_assert_cmpstr(mail->ehlo_or_helo, ==, "HELO");
	g_assert_null(mail->tls_version);
	g_assert_null(mail->auth_login);
}

static void
ms_test_harness_stop_func(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = NULL;
	g_autoptr(GSocketClient) client = g_socket_client_new();
	g_autoptr(GSocketConnection) conn = NULL;
	g_autofree gchar *maildir = NULL;
	guint16 port;
	GPid pid;

	server = ms_test_server_start("plain", NULL, &error);
	g_assert_no_error(error);
	g_assert_nonnull(server);
	pid = ms_test_server_get_pid(server);
	port = ms_test_server_get_port(server);
	maildir = g_strdup(ms_test_server_get_maildir(server));
	g_assert_cmpint(pid, >, 0);
	g_assert_cmpint(kill(pid, 0), ==, 0);
	g_assert_true(g_file_test(maildir, G_FILE_TEST_IS_DIR));

	ms_test_server_stop(server);
	g_assert_cmpint(ms_test_server_get_pid(server), ==, 0);
	/* reaped, not a zombie: the pid is gone */
	g_assert_cmpint(kill(pid, 0), ==, -1);
	g_assert_cmpint(errno, ==, ESRCH);
	g_assert_false(g_file_test(maildir, G_FILE_TEST_EXISTS));

	g_socket_client_set_timeout(client, 10);
	g_socket_client_set_enable_proxy(client, FALSE);
	conn = g_socket_client_connect_to_host(client, "127.0.0.1", port, NULL, &error);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
	g_assert_null(conn);

	/* a second stop (and the free) must be harmless */
	ms_test_server_stop(server);
}

static void
ms_test_harness_start_error_func(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = NULL;
	const gchar *args[] = {"--no-such-option", NULL};

	/* the error carries the server's own complaint */
	server = ms_test_server_start("plain", args, &error);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_FAILED);
	g_assert_null(server);
	g_assert_nonnull(
	    strstr(error->message, "smtp-test-server.py exited with status 2 before listening"));
	g_assert_nonnull(strstr(error->message, "unrecognized arguments: --no-such-option"));
}

static void
ms_test_harness_cert_files_func(void)
{
	g_autofree gchar *ca = ms_test_server_get_ca_file();
	g_autofree gchar *wronghost = ms_test_get_cert_file("wronghost-key.pem");
	g_autofree gchar *basename = NULL;

	g_assert_nonnull(ca);
	g_assert_true(g_path_is_absolute(ca));
	basename = g_path_get_basename(ca);
	g_assert_cmpstr(basename, ==, "ca.pem");
	g_assert_true(g_file_test(ca, G_FILE_TEST_IS_REGULAR));
	g_assert_nonnull(wronghost);
	g_assert_true(g_file_test(wronghost, G_FILE_TEST_IS_REGULAR));
}

/* the fake daemon prints these; see ms_test_fake_daemon() */
#define MS_TEST_FAKE_INVALID "mail-senderd: invalid configuration\n"

static gboolean
ms_test_name_has_owner(GDBusConnection *bus, const gchar *name)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) ret = NULL;
	gboolean owned = FALSE;

	ret = g_dbus_connection_call_sync(bus,
					  "org.freedesktop.DBus",
					  "/org/freedesktop/DBus",
					  "org.freedesktop.DBus",
					  "NameHasOwner",
					  g_variant_new("(s)", name),
					  G_VARIANT_TYPE("(b)"),
					  G_DBUS_CALL_FLAGS_NONE,
					  10000,
					  NULL,
					  &error);
	g_assert_no_error(error);
	g_variant_get(ret, "(b)", &owned);
	return owned;
}

static gboolean
ms_test_name_is_free_cb(gpointer user_data)
{
	return !ms_test_name_has_owner(G_DBUS_CONNECTION(user_data), "org.mail.Sender");
}

static void
ms_test_harness_daemon_func(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autofree gchar *log = NULL;
	g_autofree gchar *argv_line = NULL;
	g_autofree gchar *log2 = NULL;
	g_autofree gchar *spool_parent = NULL;
	const gchar *conf = "[account default]\nhost=127.0.0.1\n";
	const gchar *env[] = {"MS_TEST_EXTRA=yes", NULL};
	gboolean ret;
	gint status;

	daemon = ms_test_daemon_start_full(conf, NULL, env, &error);
	g_assert_no_error(error);
	g_assert_nonnull(daemon);
	g_assert_true(ms_test_name_has_owner(ms_test_daemon_get_bus(daemon), "org.mail.Sender"));

	/* the daemon got the documented command line, config file and environment */
	spool_parent = g_path_get_dirname(ms_test_daemon_get_spool_dir(daemon));
	g_assert_cmpstr(spool_parent, ==, ms_test_daemon_get_tmpdir(daemon));
	argv_line = g_strdup_printf("fake-daemon: argv --session --config %s --spool-dir %s "
				    "--verbose\n",
				    ms_test_daemon_get_config_path(daemon),
				    ms_test_daemon_get_spool_dir(daemon));
	log = ms_test_daemon_get_log(daemon);
	g_assert_nonnull(strstr(log, argv_line));
	g_assert_nonnull(strstr(log, "fake-daemon: config [account default]\nhost=127.0.0.1\n"));
	g_assert_nonnull(strstr(log, "fake-daemon: G_DEBUG=fatal-criticals MS_TEST_EXTRA=yes\n"));

	status = ms_test_daemon_stop(daemon);
	g_assert_cmpint(status, ==, 0);
	/* the bus notices the closed connection a little after the process is gone */
	ret = ms_test_wait_until(ms_test_name_is_free_cb,
				 ms_test_daemon_get_bus(daemon),
				 MS_TEST_WAIT_MS);
	g_assert_true(ret);

	/* a restart reuses the directories and appends to the log */
	ret = ms_test_daemon_restart(daemon, &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	status = ms_test_daemon_kill(daemon);
	g_assert_cmpint(status, ==, 128 + SIGKILL);
	ret = ms_test_daemon_restart(daemon, &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	log2 = ms_test_daemon_get_log(daemon);
	g_assert_true(g_str_has_prefix(log2, log));
	g_assert_nonnull(strstr(log2 + strlen(log), argv_line));

	ret = ms_test_daemon_restart(daemon, &error);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_BUSY);
	g_assert_false(ret);
	/* the free stops it and expects exit status 0 */
}

static void
ms_test_harness_daemon_no_config_func(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autofree gchar *log = NULL;
	g_autofree gchar *argv_line = NULL;

	daemon = ms_test_daemon_start(NULL, &error);
	g_assert_no_error(error);
	g_assert_nonnull(daemon);
	g_assert_null(ms_test_daemon_get_config_path(daemon));
	argv_line = g_strdup_printf("fake-daemon: argv --session --spool-dir %s --verbose\n",
				    ms_test_daemon_get_spool_dir(daemon));
	log = ms_test_daemon_get_log(daemon);
	g_assert_nonnull(strstr(log, argv_line));
	g_assert_nonnull(strstr(log, "fake-daemon: no config\n"));
	g_assert_cmpint(ms_test_daemon_stop(daemon), ==, 0);
}

static void
ms_test_harness_daemon_start_error_func(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;

	daemon = ms_test_daemon_start("invalid\n", &error);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_FAILED);
	g_assert_null(daemon);
	g_assert_nonnull(strstr(error->message,
				"mail-senderd exited with status 1 before owning org.mail.Sender; "
				"its log:\n"));
	g_assert_nonnull(strstr(error->message, MS_TEST_FAKE_INVALID));
}

static void
ms_test_harness_daemon_expect_failure_func(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *stderr_text = NULL;
	gint status = -1;
	gboolean ret;

	ret = ms_test_daemon_start_expect_failure("invalid\n", &status, &stderr_text, &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	g_assert_cmpint(status, ==, 1);
	g_assert_cmpstr(stderr_text, ==, MS_TEST_FAKE_INVALID);
}

static void
ms_test_emit(GDBusConnection *bus,
	     const gchar *path,
	     const gchar *iface,
	     const gchar *member,
	     GVariant *params)
{
	g_autoptr(GError) error = NULL;
	gboolean ret =
	    g_dbus_connection_emit_signal(bus, NULL, path, iface, member, params, &error);
	g_assert_no_error(error);
	g_assert_true(ret);
}

static void
ms_test_emit_progress(GDBusConnection *bus,
		      const gchar *job,
		      const gchar *stage,
		      guint64 done,
		      guint64 total)
{
	ms_test_emit(bus,
		     "/org/mail/Sender",
		     "org.mail.Sender",
		     "Progress",
		     g_variant_new("(ostt)", job, stage, done, total));
}

static void
ms_test_emit_state(GDBusConnection *bus, const gchar *job, const gchar *state, guint64 bytes_sent)
{
	GVariantBuilder changed;

	/* BytesSent first, to check that the recorder sorts by name */
	g_variant_builder_init(&changed, G_VARIANT_TYPE("a{sv}"));
	g_variant_builder_add(&changed, "{sv}", "State", g_variant_new_string(state));
	g_variant_builder_add(&changed, "{sv}", "BytesSent", g_variant_new_uint64(bytes_sent));
	ms_test_emit(bus,
		     job,
		     "org.freedesktop.DBus.Properties",
		     "PropertiesChanged",
		     g_variant_new("(sa{sv}@as)",
				   "org.mail.Sender.Job",
				   &changed,
				   g_variant_new_strv(NULL, 0)));
}

static void
ms_test_harness_signals_func(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GDBusConnection) bus = NULL;
	g_autoptr(MsTestSignals) signals = NULL;
	g_autofree gchar *all = NULL;
	g_autofree gchar *stages = NULL;
	g_autofree gchar *states = NULL;
	g_autofree gchar *manager = NULL;
	g_autofree gchar *stages2 = NULL;
	const gchar *job1 = "/org/mail/Sender/Job/1";
	const gchar *job2 = "/org/mail/Sender/Job/2";
	const gchar *invalidated[] = {"NextAttempt", NULL};

	bus = g_bus_get_sync(G_BUS_TYPE_SESSION, NULL, &error);
	g_assert_no_error(error);
	g_assert_nonnull(bus);
	signals = ms_test_signals_new(bus);

	/* the bus sends our own broadcasts back to us, as it would the daemon's */
	ms_test_emit_progress(bus, job1, "queued", 0, 0);
	ms_test_emit_state(bus, job1, "connecting", 0);
	ms_test_emit_progress(bus, job1, "connecting", 0, 0);
	ms_test_emit_progress(bus, job1, "tls", 0, 0);
	ms_test_emit_progress(bus, job1, "auth", 0, 0);
	ms_test_emit_state(bus, job1, "sending", 0);
	ms_test_emit_progress(bus, job1, "sending", 0, 456);
	ms_test_emit_progress(bus, job1, "sending", 123, 456);
	ms_test_emit_progress(bus, job1, "sending", 456, 456);
	ms_test_emit_state(bus, job1, "sent", 456);
	ms_test_emit(bus,
		     job1,
		     "org.freedesktop.DBus.Properties",
		     "PropertiesChanged",
		     g_variant_new("(s@a{sv}^as)",
				   "org.mail.Sender.Job",
				   g_variant_new_array(G_VARIANT_TYPE("{sv}"), NULL, 0),
				   invalidated));
	/* not ours: ignored */
	ms_test_emit_state(bus, "/org/other/Job/1", "sent", 1);
	/* a wrong signature is recorded, not dropped */
	ms_test_emit(bus, "/org/mail/Sender", "org.mail.Sender", "Sent", g_variant_new("(s)", "x"));
	ms_test_emit(bus,
		     "/org/mail/Sender",
		     "org.mail.Sender",
		     "Sent",
		     g_variant_new("(os)", job1, "250 2.0.0 OK queued as X"));
	ms_test_emit_progress(bus, job2, "queued", 0, 0);
	ms_test_emit_progress(bus, job2, "connecting", 0, 0);
	ms_test_emit_progress(bus, job2, "deferred", 0, 0);
	ms_test_emit_progress(bus, job2, "connecting", 0, 0);
	ms_test_emit(bus,
		     "/org/mail/Sender",
		     "org.mail.Sender",
		     "Failed",
		     g_variant_new("(oss)",
				   job2,
				   "org.mail.Sender.Error.Timeout",
				   "no reply from 127.0.0.1 within 30 s"));

	g_assert_true(ms_test_signals_wait_finished(signals, job1, MS_TEST_WAIT_MS));
	all = ms_test_signals_to_string(signals, job1);
	g_assert_cmpstr(all,
			==,
			"Progress queued 0 0\n"
			"Property BytesSent 0\n"
			"Property State connecting\n"
			"Progress connecting 0 0\n"
			"Progress tls 0 0\n"
			"Progress auth 0 0\n"
			"Property BytesSent 0\n"
			"Property State sending\n"
			"Progress sending 0 456\n"
			"Progress sending 123 456\n"
			"Progress sending 456 456\n"
			"Property BytesSent 456\n"
			"Property State sent\n"
			"Property NextAttempt invalidated\n"
			"Sent 250 2.0.0 OK queued as X");
	g_assert_cmpuint(ms_test_signals_for_job(signals, job1)->len, ==, 15);
	stages = ms_test_signals_get_stages(signals, job1);
	g_assert_cmpstr(stages, ==, "queued connecting tls auth sending");
	states = ms_test_signals_get_states(signals, job1);
	g_assert_cmpstr(states, ==, "connecting sending sent");
	g_assert_cmpstr(ms_test_signals_get_result(signals, job1),
			==,
			"Sent 250 2.0.0 OK queued as X");
	manager = ms_test_signals_to_string(signals, "/org/mail/Sender");
	g_assert_cmpstr(manager, ==, "Unexpected Sent (s)");
	g_assert_cmpuint(ms_test_signals_for_job(signals, "/org/other/Job/1")->len, ==, 0);

	g_assert_true(ms_test_signals_wait_finished(signals, job2, MS_TEST_WAIT_MS));
	/* a stage that comes back after another one is not collapsed */
	stages2 = ms_test_signals_get_stages(signals, job2);
	g_assert_cmpstr(stages2, ==, "queued connecting deferred connecting");
	g_assert_cmpstr(ms_test_signals_get_result(signals, job2),
			==,
			"Failed org.mail.Sender.Error.Timeout no reply from 127.0.0.1 within 30 s");

	/* nothing for an unknown job: a bounded wait that says so */
	g_assert_false(ms_test_signals_wait_finished(signals, "/org/mail/Sender/Job/3", 200));
	g_assert_null(ms_test_signals_get_result(signals, "/org/mail/Sender/Job/3"));
}

/* the fake mail-senderd: prints what it got on stdout, fails on a config containing "invalid",
 * otherwise owns org.mail.Sender until SIGTERM */
static gboolean
ms_test_fake_daemon_quit_cb(gpointer user_data)
{
	g_main_loop_quit(user_data);
	return G_SOURCE_REMOVE;
}

static void
ms_test_fake_daemon_lost_cb(GDBusConnection *connection, const gchar *name, gpointer user_data)
{
	g_printerr("fake-daemon: lost %s\n", name);
	exit(1);
}

static int
ms_test_fake_daemon(int argc, char **argv)
{
	g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
	g_autoptr(GString) line = g_string_new("fake-daemon: argv");
	const gchar *config = NULL;
	guint owner_id;

	for (gint i = 1; i < argc; i++) {
		g_string_append_printf(line, " %s", argv[i]);
		if (g_strcmp0(argv[i], "--config") == 0 && i + 1 < argc)
			config = argv[i + 1];
	}
	/* the fixture merges stdout into its log; stderr alone is what expect_failure returns */
	setvbuf(stdout, NULL, _IOLBF, 0);
	g_print("%s\n", line->str);
	if (config != NULL) {
		g_autofree gchar *text = NULL;
		if (!g_file_get_contents(config, &text, NULL, NULL) ||
		    strstr(text, "invalid") != NULL) {
			g_printerr(MS_TEST_FAKE_INVALID);
			return 1;
		}
		g_print("fake-daemon: config %s", text);
	} else {
		g_print("fake-daemon: no config\n");
	}
	g_print("fake-daemon: G_DEBUG=%s MS_TEST_EXTRA=%s\n",
		g_getenv("G_DEBUG"),
		g_getenv("MS_TEST_EXTRA"));
	g_unix_signal_add(SIGTERM, ms_test_fake_daemon_quit_cb, loop);
	owner_id = g_bus_own_name(G_BUS_TYPE_SESSION,
				  "org.mail.Sender",
				  G_BUS_NAME_OWNER_FLAGS_NONE,
				  NULL,
				  NULL,
				  ms_test_fake_daemon_lost_cb,
				  NULL,
				  NULL);
	g_main_loop_run(loop);
	g_bus_unown_name(owner_id);
	return 0;
}

int
main(int argc, char **argv)
{
	g_autofree gchar *self_path = NULL;

	if (argc > 1 && g_strcmp0(argv[1], "--session") == 0)
		return ms_test_fake_daemon(argc, argv);

	/* this binary is the daemon the daemon fixture runs; set before any thread exists */
	self_path = g_file_read_link("/proc/self/exe", NULL);
	g_assert_nonnull(self_path);
	g_setenv("MS_DAEMON_PATH", self_path, TRUE);

	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/mail-sender/harness/plain", ms_test_harness_plain_func);
	g_test_add_func("/mail-sender/harness/fail-first", ms_test_harness_fail_first_func);
	g_test_add_func("/mail-sender/harness/rcpt-refusals", ms_test_harness_rcpt_refusals_func);
	g_test_add_func("/mail-sender/harness/implicit-tls", ms_test_harness_implicit_tls_func);
	g_test_add_func("/mail-sender/harness/wrong-cert", ms_test_harness_wrong_cert_func);
	g_test_add_func("/mail-sender/harness/starttls", ms_test_harness_starttls_func);
	g_test_add_func("/mail-sender/harness/starttls-inject",
			ms_test_harness_starttls_inject_func);
	g_test_add_func("/mail-sender/harness/no-ehlo", ms_test_harness_no_ehlo_func);
	g_test_add_func("/mail-sender/harness/stop", ms_test_harness_stop_func);
	g_test_add_func("/mail-sender/harness/start-error", ms_test_harness_start_error_func);
	g_test_add_func("/mail-sender/harness/cert-files", ms_test_harness_cert_files_func);
	g_test_add_func("/mail-sender/harness/daemon", ms_test_harness_daemon_func);
	g_test_add_func("/mail-sender/harness/daemon-no-config",
			ms_test_harness_daemon_no_config_func);
	g_test_add_func("/mail-sender/harness/daemon-start-error",
			ms_test_harness_daemon_start_error_func);
	g_test_add_func("/mail-sender/harness/daemon-expect-failure",
			ms_test_harness_daemon_expect_failure_func);
	g_test_add_func("/mail-sender/harness/signals", ms_test_harness_signals_func);
	return g_test_run();
}
