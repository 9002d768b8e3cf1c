#define G_LOG_DOMAIN "MsSmtp"

#include "config.h"

#include <glib/gi18n.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>

#include "ms-dot-stuffer.h"
#include "ms-error.h"
#include "ms-sasl.h"
#include "ms-smtp-client.h"
#include "ms-smtp-reply.h"
#include "ms-tls-policy.h"

/* how much of the message goes into one write; also the granularity of "progress" */
#define MS_SMTP_CLIENT_CHUNK_SIZE (64 * 1024)
/* the step before any command, as error messages name it */
#define MS_SMTP_CLIENT_STEP_GREETING "the greeting"

struct _MsSmtpClient {
	GObject parent_instance;
	MsAccount *account;
	MsTlsPolicy *policy;
	gchar *password; /* wiped with ms_sasl_secret_free() */
	gchar *last_reply;
};

enum { SIGNAL_PROGRESS, SIGNAL_LAST };

static guint signals[SIGNAL_LAST] = {0};

G_DEFINE_TYPE(MsSmtpClient, ms_smtp_client, G_TYPE_OBJECT)

/* base64 of credentials, wiped when it goes out of scope */
typedef gchar MsSmtpClientSecret;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MsSmtpClientSecret, ms_sasl_secret_free)

/* The session is a chain of steps. The one reference of its GTask travels along the chain:
 * each step hands it to the next asynchronous call, and only ms_smtp_client_return_error()
 * and ms_smtp_client_close_cb() drop it, after returning the result. */
typedef void (*MsSmtpClientStepFunc)(GTask *task);

/* the state of one session, the task data of its GTask */
typedef struct {
	MsSmtpClient *self;
	gchar *server; /* "host:port", for messages */
	gchar *envelope_from;
	gchar **recipients;
	guint rcpt_idx;
	GBytes *message;
	GSocketClient *socket_client;
	GSocketConnection *connection; /* the TCP connection (a GTcpWrapperConnection for tls) */
	GTlsConnection *tls;	       /* set once a handshake has started */
	GIOStream *stream; /* what SMTP is spoken over: connection, or tls after STARTTLS */
	GDataInputStream *reader;
	MsSmtpReplyParser *parser;
	MsSmtpReply *reply;	   /* the last complete reply */
	GHashTable *extensions;	   /* from EHLO; NULL after HELO */
	const gchar *step;	   /* the command whose reply is awaited, for error messages */
	MsSmtpClientStepFunc next; /* called with the reply of step */
	gchar *command;		   /* being written, with CRLF */
	gboolean command_secret;   /* wipe command once written */
	const gchar *auth_mech;	   /* "PLAIN" or "LOGIN" once AUTH started */
	MsDotStuffer stuffer;
	gsize data_offset; /* bytes of message consumed */
	GByteArray *chunk;
	gchar *final_reply;
	gboolean quitting; /* the message is accepted: errors no longer matter */
	gboolean verify;   /* no transaction: QUIT after AUTH and return a report */
	gint64 started;	   /* monotonic */
	gchar *greeting;
	GVariant *report; /* of a verify, floating ref sunk */
} MsSmtpClientHelper;

static void
ms_smtp_client_helper_free(MsSmtpClientHelper *helper)
{
	/* on error paths nothing was closed: drop the socket at once, so that disposing a TLS
	 * connection cannot block the main loop trying to send close_notify */
	if (helper->connection != NULL)
		g_socket_close(g_socket_connection_get_socket(helper->connection), NULL);
	if (helper->socket_client != NULL)
		g_signal_handlers_disconnect_by_data(helper->socket_client, helper);
	g_clear_object(&helper->reader);
	g_clear_object(&helper->stream);
	g_clear_object(&helper->tls);
	g_clear_object(&helper->connection);
	g_clear_object(&helper->socket_client);
	g_clear_pointer(&helper->parser, ms_smtp_reply_parser_free);
	g_clear_pointer(&helper->reply, ms_smtp_reply_free);
	g_clear_pointer(&helper->extensions, g_hash_table_unref);
	if (helper->command_secret)
		g_clear_pointer(&helper->command, ms_sasl_secret_free);
	g_free(helper->command);
	if (helper->chunk != NULL)
		g_byte_array_unref(helper->chunk);
	g_bytes_unref(helper->message);
	g_strfreev(helper->recipients);
	g_free(helper->envelope_from);
	g_free(helper->final_reply);
	g_free(helper->greeting);
	if (helper->report != NULL)
		g_variant_unref(helper->report);
	g_free(helper->server);
	g_object_unref(helper->self);
	g_free(helper);
}

const gchar *
ms_smtp_stage_to_string(MsSmtpStage stage)
{
	switch (stage) {
	case MS_SMTP_STAGE_CONNECTING:
		return "connecting";
	case MS_SMTP_STAGE_TLS:
		return "tls";
	case MS_SMTP_STAGE_AUTH:
		return "auth";
	case MS_SMTP_STAGE_SENDING:
		return "sending";
	default:
		return NULL;
	}
}

static void
ms_smtp_client_emit_progress(MsSmtpClient *self, MsSmtpStage stage, guint64 done, guint64 total)
{
	g_signal_emit(self, signals[SIGNAL_PROGRESS], 0, (guint)stage, done, total);
}

static guint
ms_smtp_client_timeout(MsSmtpClientHelper *helper)
{
	return ms_account_get_timeout(helper->self->account);
}

/* once the server has accepted the message, cancelling must not turn that into a failure
 * (the job would be sent again): QUIT and close are bounded by the timeout only */
static GCancellable *
ms_smtp_client_cancellable(GTask *task)
{
	MsSmtpClientHelper *helper = g_task_get_task_data(task);

	return helper->quitting ? NULL : g_task_get_cancellable(task);
}

static void
ms_smtp_client_close(GTask *task);

/* every failure of the session ends here */
static void
ms_smtp_client_return_error(GTask *task, GError *error)
{
	MsSmtpClientHelper *helper = g_task_get_task_data(task);

	if (helper->quitting) {
		g_debug("ignoring an error after the message was accepted: %s", error->message);
		g_error_free(error);
		ms_smtp_client_close(task);
		return;
	}
	g_debug("session with %s failed: %s", helper->server, error->message);
	g_task_return_error(task, error);
	g_object_unref(task);
}

/* an I/O error (or EOF, error == NULL) while writing step or waiting for its reply */
static GError *
ms_smtp_client_io_error(MsSmtpClientHelper *helper, const GError *error, gboolean writing)
{
	guint timeout = ms_smtp_client_timeout(helper);

	if (error == NULL) {
		return g_error_new(MS_ERROR,
				   MS_ERROR_CONNECTION,
				   _("%s closed the connection during %s"),
				   helper->server,
				   helper->step);
	}
	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		return g_error_copy(error);
	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT)) {
		if (g_strcmp0(helper->step, MS_SMTP_CLIENT_STEP_GREETING) == 0 &&
		    ms_account_get_security(helper->self->account) != MS_SECURITY_TLS) {
			return g_error_new(MS_ERROR,
					   MS_ERROR_TIMEOUT,
					   _("no greeting from %s within %u s: the server may "
					     "expect TLS from the first byte: set security=tls"),
					   helper->server,
					   timeout);
		}
		if (g_strcmp0(helper->step, MS_SMTP_CLIENT_STEP_GREETING) == 0) {
			return g_error_new(MS_ERROR,
					   MS_ERROR_TIMEOUT,
					   _("no greeting from %s within %u s"),
					   helper->server,
					   timeout);
		}
		if (writing) {
			return g_error_new(MS_ERROR,
					   MS_ERROR_TIMEOUT,
					   _("timed out after %u s sending %s to %s"),
					   timeout,
					   helper->step,
					   helper->server);
		}
		return g_error_new(MS_ERROR,
				   MS_ERROR_TIMEOUT,
				   _("timed out after %u s waiting for the reply to %s from %s"),
				   timeout,
				   helper->step,
				   helper->server);
	}
	if (error->domain == G_TLS_ERROR && error->code != G_TLS_ERROR_EOF) {
		return g_error_new(MS_ERROR,
				   MS_ERROR_TLS,
				   _("TLS error with %s during %s: %s"),
				   helper->server,
				   helper->step,
				   error->message);
	}
	return g_error_new(MS_ERROR,
			   MS_ERROR_CONNECTION,
			   _("connection to %s lost during %s: %s"),
			   helper->server,
			   helper->step,
			   error->message);
}

/* a reply that is not the one the step wanted: 4xx is worth a retry, the rest is final */
static GError *
ms_smtp_client_reply_error(MsSmtpClientHelper *helper, const gchar *what)
{
	g_autofree gchar *text = ms_smtp_reply_to_string(helper->reply);

	if (ms_smtp_reply_is_transient(helper->reply)) {
		return g_error_new(MS_ERROR,
				   MS_ERROR_TEMPORARY,
				   _("%s answered %s with: %s"),
				   helper->server,
				   what,
				   text);
	}
	if (ms_smtp_reply_is_permanent(helper->reply)) {
		return g_error_new(MS_ERROR,
				   MS_ERROR_REJECTED,
				   _("%s answered %s with: %s"),
				   helper->server,
				   what,
				   text);
	}
	return g_error_new(MS_ERROR,
			   MS_ERROR_REJECTED,
			   _("%s sent an unexpected reply to %s: %s"),
			   helper->server,
			   what,
			   text);
}

static void
ms_smtp_client_read_line_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	GTask *task = G_TASK(user_data);
	MsSmtpClientHelper *helper = g_task_get_task_data(task);
	MsSmtpClient *self = helper->self;
	gsize len = 0;
	MsSmtpReply *reply = NULL;
	g_autoptr(GError) error_local = NULL;
	g_autofree gchar *line = NULL;
	g_autofree gchar *printable = NULL;

	line = g_data_input_stream_read_line_finish(G_DATA_INPUT_STREAM(source),
						    res,
						    &len,
						    &error_local);
	if (line == NULL) {
		ms_smtp_client_return_error(task,
					    ms_smtp_client_io_error(helper, error_local, FALSE));
		return;
	}

	/* AUTH challenges are nobody's business, even when they are harmless */
	printable = g_utf8_make_valid(line, len);
	g_debug("S: %s", g_str_has_prefix(printable, "334") ? "334 <redacted>" : printable);

	if (!ms_smtp_reply_parser_feed(helper->parser, line, len, &reply, &error_local)) {
		ms_smtp_client_return_error(task,
					    g_error_new(MS_ERROR,
							MS_ERROR_CONNECTION,
							_("%s sent an invalid reply to %s, is it "
							  "an SMTP server? %s"),
							helper->server,
							helper->step,
							error_local->message));
		return;
	}
	if (reply == NULL) {
		g_data_input_stream_read_line_async(helper->reader,
						    G_PRIORITY_DEFAULT,
						    ms_smtp_client_cancellable(task),
						    ms_smtp_client_read_line_cb,
						    task);
		return;
	}
	g_clear_pointer(&helper->reply, ms_smtp_reply_free);
	helper->reply = reply;
	if (ms_smtp_reply_get_code(reply) != 334) {
		g_free(self->last_reply);
		self->last_reply = ms_smtp_reply_to_string(reply);
	}
	helper->next(task);
}

/* reads one complete reply to step into helper->reply, then calls next */
static void
ms_smtp_client_read_reply(GTask *task, const gchar *step, MsSmtpClientStepFunc next)
{
	MsSmtpClientHelper *helper = g_task_get_task_data(task);

	helper->step = step;
	helper->next = next;
	g_data_input_stream_read_line_async(helper->reader,
					    G_PRIORITY_DEFAULT,
					    ms_smtp_client_cancellable(task),
					    ms_smtp_client_read_line_cb,
					    task);
}

static void
ms_smtp_client_command_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	GTask *task = G_TASK(user_data);
	MsSmtpClientHelper *helper = g_task_get_task_data(task);
	g_autoptr(GError) error_local = NULL;
	gboolean ret;

	ret = g_output_stream_write_all_finish(G_OUTPUT_STREAM(source), res, NULL, &error_local);
	if (helper->command_secret)
		g_clear_pointer(&helper->command, ms_sasl_secret_free);
	else
		g_clear_pointer(&helper->command, g_free);
	helper->command_secret = FALSE;
	if (!ret) {
		ms_smtp_client_return_error(task,
					    ms_smtp_client_io_error(helper, error_local, TRUE));
		return;
	}
	ms_smtp_client_read_reply(task, helper->step, helper->next);
}

/* sends one command line (without CRLF), reads the full reply, then calls next; a secret
 * line (AUTH) is neither logged nor left in memory */
static void
ms_smtp_client_command(GTask *task,
		       const gchar *line,
		       gboolean secret,
		       const gchar *step,
		       MsSmtpClientStepFunc next)
{
	MsSmtpClientHelper *helper = g_task_get_task_data(task);

	g_debug("C: %s", secret ? "<redacted>" : line);
	helper->step = step;
	helper->next = next;
	helper->command = g_strconcat(line, "\r\n", NULL);
	helper->command_secret = secret;
	g_output_stream_write_all_async(g_io_stream_get_output_stream(helper->stream),
					helper->command,
					strlen(helper->command),
					G_PRIORITY_DEFAULT,
					ms_smtp_client_cancellable(task),
					ms_smtp_client_command_cb,
					task);
}

/* SMTP is spoken over stream from now on, with a fresh reader: nothing buffered before
 * (a STARTTLS injection) can leak into what is read after */
static void
ms_smtp_client_set_stream(MsSmtpClientHelper *helper, GIOStream *stream)
{
	g_set_object(&helper->stream, stream);
	g_clear_object(&helper->reader);
	helper->reader = g_data_input_stream_new(g_io_stream_get_input_stream(stream));
	g_data_input_stream_set_newline_type(helper->reader, G_DATA_STREAM_NEWLINE_TYPE_CR_LF);
	/* otherwise dropping the reader closes the socket's input stream under TLS */
	g_filter_input_stream_set_close_base_stream(G_FILTER_INPUT_STREAM(helper->reader), FALSE);
}

/* the end of the session */

static void
ms_smtp_client_close_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	GTask *task = G_TASK(user_data);
	MsSmtpClientHelper *helper = g_task_get_task_data(task);
	g_autoptr(GError) error_local = NULL;

	if (!g_io_stream_close_finish(G_IO_STREAM(source), res, &error_local))
		g_debug("closing the connection to %s: %s", helper->server, error_local->message);
	if (helper->verify)
		g_task_return_pointer(task,
				      g_steal_pointer(&helper->report),
				      (GDestroyNotify)g_variant_unref);
	else
		g_task_return_pointer(task, g_steal_pointer(&helper->final_reply), g_free);
	g_object_unref(task);
}

static void
ms_smtp_client_close(GTask *task)
{
	MsSmtpClientHelper *helper = g_task_get_task_data(task);

	g_io_stream_close_async(helper->stream,
				G_PRIORITY_DEFAULT,
				NULL,
				ms_smtp_client_close_cb,
				task);
}

static void
ms_smtp_client_quit_cb(GTask *task)
{
	ms_smtp_client_close(task);
}

static void
ms_smtp_client_quit(GTask *task)
{
	MsSmtpClientHelper *helper = g_task_get_task_data(task);

	helper->quitting = TRUE;
	ms_smtp_client_command(task, "QUIT", FALSE, "QUIT", ms_smtp_client_quit_cb);
}

/* DATA */

static void
ms_smtp_client_data_end_cb(GTask *task)
{
	MsSmtpClientHelper *helper = g_task_get_task_data(task);

	if (!ms_smtp_reply_is_positive(helper->reply)) {
		ms_smtp_client_return_error(
		    task,
		    ms_smtp_client_reply_error(helper, _("the end of the message")));
		return;
	}
	helper->final_reply = ms_smtp_reply_to_string(helper->reply);
	ms_smtp_client_quit(task);
}

static void
ms_smtp_client_write_chunk(GTask *task);

static void
ms_smtp_client_write_chunk_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	GTask *task = G_TASK(user_data);
	MsSmtpClientHelper *helper = g_task_get_task_data(task);
	gsize total = g_bytes_get_size(helper->message);
	g_autoptr(GError) error_local = NULL;

	if (!g_output_stream_write_all_finish(G_OUTPUT_STREAM(source), res, NULL, &error_local)) {
		ms_smtp_client_return_error(task,
					    ms_smtp_client_io_error(helper, error_local, TRUE));
		return;
	}
	ms_smtp_client_emit_progress(helper->self,
				     MS_SMTP_STAGE_SENDING,
				     helper->data_offset,
				     total);
	if (helper->data_offset < total) {
		ms_smtp_client_write_chunk(task);
		return;
	}
	g_debug("C: <message, %" G_GSIZE_FORMAT " bytes>", total);
	ms_smtp_client_read_reply(task, "DATA", ms_smtp_client_data_end_cb);
}

/* the message goes through the dot-stuffer in chunks, so a large one is never copied whole */
static void
ms_smtp_client_write_chunk(GTask *task)
{
	MsSmtpClientHelper *helper = g_task_get_task_data(task);
	gsize total = 0;
	const guint8 *data = g_bytes_get_data(helper->message, &total);
	gsize len = MIN(MS_SMTP_CLIENT_CHUNK_SIZE, total - helper->data_offset);

	g_byte_array_set_size(helper->chunk, 0);
	ms_dot_stuffer_feed(&helper->stuffer, data + helper->data_offset, len, helper->chunk);
	helper->data_offset += len;
	if (helper->data_offset == total)
		ms_dot_stuffer_finish(&helper->stuffer, helper->chunk);
	g_output_stream_write_all_async(g_io_stream_get_output_stream(helper->stream),
					helper->chunk->data,
					helper->chunk->len,
					G_PRIORITY_DEFAULT,
					ms_smtp_client_cancellable(task),
					ms_smtp_client_write_chunk_cb,
					task);
}

static void
ms_smtp_client_data_cb(GTask *task)
{
	MsSmtpClientHelper *helper = g_task_get_task_data(task);

	if (ms_smtp_reply_get_code(helper->reply) != 354) {
		ms_smtp_client_return_error(task, ms_smtp_client_reply_error(helper, "DATA"));
		return;
	}
	ms_dot_stuffer_init(&helper->stuffer);
	helper->data_offset = 0;
	helper->chunk = g_byte_array_sized_new(MS_SMTP_CLIENT_CHUNK_SIZE + 1024);
	ms_smtp_client_write_chunk(task);
}

/* MAIL FROM, RCPT TO */

static void
ms_smtp_client_rcpt(GTask *task);

static void
ms_smtp_client_rcpt_cb(GTask *task)
{
	MsSmtpClientHelper *helper = g_task_get_task_data(task);

	if (!ms_smtp_reply_is_positive(helper->reply)) {
		g_autofree gchar *what =
		    g_strdup_printf("RCPT TO:<%s>", helper->recipients[helper->rcpt_idx]);
		ms_smtp_client_return_error(task, ms_smtp_client_reply_error(helper, what));
		return;
	}
	helper->rcpt_idx++;
	if (helper->recipients[helper->rcpt_idx] != NULL) {
		ms_smtp_client_rcpt(task);
		return;
	}
	ms_smtp_client_command(task, "DATA", FALSE, "DATA", ms_smtp_client_data_cb);
}

static void
ms_smtp_client_rcpt(GTask *task)
{
	MsSmtpClientHelper *helper = g_task_get_task_data(task);
	g_autofree gchar *line =
	    g_strdup_printf("RCPT TO:<%s>", helper->recipients[helper->rcpt_idx]);

	ms_smtp_client_command(task, line, FALSE, "RCPT TO", ms_smtp_client_rcpt_cb);
}

static void
ms_smtp_client_mail_cb(GTask *task)
{
	MsSmtpClientHelper *helper = g_task_get_task_data(task);

	if (!ms_smtp_reply_is_positive(helper->reply)) {
		g_autofree gchar *what = g_strdup_printf("MAIL FROM:<%s>", helper->envelope_from);
		ms_smtp_client_return_error(task, ms_smtp_client_reply_error(helper, what));
		return;
	}
	helper->rcpt_idx = 0;
	ms_smtp_client_rcpt(task);
}

static void
ms_smtp_client_mail(GTask *task)
{
	MsSmtpClientHelper *helper = g_task_get_task_data(task);
	gsize size = g_bytes_get_size(helper->message);
	const gchar *size_param = NULL;
	g_autoptr(GString) line = g_string_new(NULL);

	if (helper->extensions != NULL)
		size_param = g_hash_table_lookup(helper->extensions, "SIZE");
	if (size_param != NULL) {
		guint64 limit = g_ascii_strtoull(size_param, NULL, 10);

		/* RFC 1870: 0 or no value means no fixed limit */
		if (limit > 0 && size > limit) {
			ms_smtp_client_return_error(
			    task,
			    g_error_new(MS_ERROR,
					MS_ERROR_REJECTED,
					_("the message (%" G_GSIZE_FORMAT " bytes) is larger than "
					  "the limit of %s (%" G_GUINT64_FORMAT " bytes)"),
					size,
					helper->server,
					limit));
			return;
		}
	}

	ms_smtp_client_emit_progress(helper->self, MS_SMTP_STAGE_SENDING, 0, size);
	g_string_append_printf(line, "MAIL FROM:<%s>", helper->envelope_from);
	if (size_param != NULL)
		g_string_append_printf(line, " SIZE=%" G_GSIZE_FORMAT, size);
	ms_smtp_client_command(task, line->str, FALSE, "MAIL FROM", ms_smtp_client_mail_cb);
}

/* verify: what a send would see, without the transaction */

static const gchar *
ms_smtp_client_tls_version_to_string(GTlsProtocolVersion version)
{
	switch (version) {
	case G_TLS_PROTOCOL_VERSION_SSL_3_0:
		return "SSLv3";
	case G_TLS_PROTOCOL_VERSION_TLS_1_0:
		return "TLSv1.0";
	case G_TLS_PROTOCOL_VERSION_TLS_1_1:
		return "TLSv1.1";
	case G_TLS_PROTOCOL_VERSION_TLS_1_2:
		return "TLSv1.2";
	case G_TLS_PROTOCOL_VERSION_TLS_1_3:
		return "TLSv1.3";
	case G_TLS_PROTOCOL_VERSION_DTLS_1_0:
		return "DTLSv1.0";
	case G_TLS_PROTOCOL_VERSION_DTLS_1_2:
		return "DTLSv1.2";
	case G_TLS_PROTOCOL_VERSION_UNKNOWN:
	default:
		return "unknown";
	}
}

static GPtrArray *
ms_smtp_client_get_auth_mechanisms(MsSmtpClientHelper *helper);

static void
ms_smtp_client_log_tls(MsSmtpClientHelper *helper)
{
	g_autofree gchar *cipher = g_tls_connection_get_ciphersuite_name(helper->tls);
	GTlsProtocolVersion version = g_tls_connection_get_protocol_version(helper->tls);

	g_debug("TLS with %s: %s, %s",
		helper->server,
		ms_smtp_client_tls_version_to_string(version),
		cipher != NULL ? cipher : "unknown cipher");
}

/* text from the peer goes into GVariants, which must be valid UTF-8 */
static GVariant *
ms_smtp_client_variant_new_string(const gchar *text)
{
	return g_variant_new_take_string(g_utf8_make_valid(text != NULL ? text : "", -1));
}

static gint
ms_smtp_client_strptr_cmp(gconstpointer a, gconstpointer b)
{
	return g_strcmp0(*(const gchar *const *)a, *(const gchar *const *)b);
}

/* DESIGN.md's Verify report; TLS keys are "" (and 0) without TLS */
static GVariant *
ms_smtp_client_build_report(MsSmtpClientHelper *helper)
{
	MsAccount *account = helper->self->account;
	GVariantBuilder builder;
	g_autoptr(GPtrArray) extensions = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) mechs = ms_smtp_client_get_auth_mechanisms(helper);
	GTlsCertificate *cert = NULL;
	g_autofree gchar *subject = NULL;
	g_autofree gchar *issuer = NULL;
	g_autofree gchar *sha256 = NULL;
	g_autoptr(GDateTime) not_after = NULL;
	g_autofree gchar *cipher = NULL;

	if (helper->extensions != NULL) {
		GHashTableIter iter;
		gpointer key = NULL;
		gpointer value = NULL;

		g_hash_table_iter_init(&iter, helper->extensions);
		while (g_hash_table_iter_next(&iter, &key, &value)) {
			const gchar *params = value;
			g_autofree gchar *ext =
			    params != NULL && params[0] != '\0'
				? g_strdup_printf("%s %s", (const gchar *)key, params)
				: g_strdup(key);
			g_ptr_array_add(extensions, g_utf8_make_valid(ext, -1));
		}
		g_ptr_array_sort(extensions, ms_smtp_client_strptr_cmp);
	}
	for (guint i = 0; i < mechs->len; i++) {
		gchar *mech = g_ptr_array_index(mechs, i);
		g_ptr_array_index(mechs, i) = g_utf8_make_valid(mech, -1);
		g_free(mech);
	}
	g_ptr_array_add(extensions, NULL);
	g_ptr_array_add(mechs, NULL);

	if (helper->tls != NULL) {
		cert = g_tls_connection_get_peer_certificate(helper->tls);
		cipher = g_tls_connection_get_ciphersuite_name(helper->tls);
	}
	if (cert != NULL) {
		subject = g_tls_certificate_get_subject_name(cert);
		issuer = g_tls_certificate_get_issuer_name(cert);
		not_after = g_tls_certificate_get_not_valid_after(cert);
		sha256 = ms_tls_policy_certificate_sha256(cert);
	}

	g_variant_builder_init(&builder, G_VARIANT_TYPE_VARDICT);
	g_variant_builder_add(&builder,
			      "{sv}",
			      "host",
			      g_variant_new_string(ms_account_get_host(account)));
	g_variant_builder_add(&builder,
			      "{sv}",
			      "port",
			      g_variant_new_uint16(ms_account_get_port(account)));
	g_variant_builder_add(
	    &builder,
	    "{sv}",
	    "security",
	    g_variant_new_string(ms_security_to_string(ms_account_get_security(account))));
	g_variant_builder_add(&builder,
			      "{sv}",
			      "greeting",
			      ms_smtp_client_variant_new_string(helper->greeting));
	g_variant_builder_add(&builder,
			      "{sv}",
			      "extensions",
			      g_variant_new_strv((const gchar *const *)extensions->pdata, -1));
	g_variant_builder_add(&builder,
			      "{sv}",
			      "auth-mechanisms",
			      g_variant_new_strv((const gchar *const *)mechs->pdata, -1));
	g_variant_builder_add(
	    &builder,
	    "{sv}",
	    "auth",
	    g_variant_new_string(helper->auth_mech != NULL ? helper->auth_mech : "none"));
	g_variant_builder_add(
	    &builder,
	    "{sv}",
	    "tls-version",
	    g_variant_new_string(helper->tls != NULL
				     ? ms_smtp_client_tls_version_to_string(
					   g_tls_connection_get_protocol_version(helper->tls))
				     : ""));
	g_variant_builder_add(&builder,
			      "{sv}",
			      "tls-cipher",
			      ms_smtp_client_variant_new_string(cipher));
	g_variant_builder_add(&builder,
			      "{sv}",
			      "certificate-subject",
			      ms_smtp_client_variant_new_string(subject));
	g_variant_builder_add(&builder,
			      "{sv}",
			      "certificate-issuer",
			      ms_smtp_client_variant_new_string(issuer));
	g_variant_builder_add(
	    &builder,
	    "{sv}",
	    "certificate-not-after",
	    g_variant_new_int64(not_after != NULL ? g_date_time_to_unix(not_after) : 0));
	g_variant_builder_add(&builder,
			      "{sv}",
			      "certificate-sha256",
			      ms_smtp_client_variant_new_string(sha256));
	g_variant_builder_add(
	    &builder,
	    "{sv}",
	    "elapsed-ms",
	    g_variant_new_uint32((guint32)((g_get_monotonic_time() - helper->started) / 1000)));
	return g_variant_ref_sink(g_variant_builder_end(&builder));
}

/* after EHLO, TLS and AUTH: the transaction, or for a verify the report */
static void
ms_smtp_client_transaction(GTask *task)
{
	MsSmtpClientHelper *helper = g_task_get_task_data(task);

	if (helper->verify) {
		helper->report = ms_smtp_client_build_report(helper);
		ms_smtp_client_quit(task);
		return;
	}
	ms_smtp_client_mail(task);
}

/* AUTH */

static void
ms_smtp_client_auth_done_cb(GTask *task)
{
	MsSmtpClientHelper *helper = g_task_get_task_data(task);
	MsAccount *account = helper->self->account;
	g_autofree gchar *text = ms_smtp_reply_to_string(helper->reply);

	if (ms_smtp_reply_is_positive(helper->reply)) {
		g_debug("logged in to %s as '%s' with AUTH %s",
			helper->server,
			ms_account_get_username(account),
			helper->auth_mech);
		ms_smtp_client_transaction(task);
		return;
	}
	if (ms_smtp_reply_is_transient(helper->reply)) {
		ms_smtp_client_return_error(task,
					    g_error_new(MS_ERROR,
							MS_ERROR_TEMPORARY,
							_("%s cannot log in user '%s' right now "
							  "(AUTH %s): %s"),
							helper->server,
							ms_account_get_username(account),
							helper->auth_mech,
							text));
		return;
	}
	ms_smtp_client_return_error(task,
				    g_error_new(MS_ERROR,
						MS_ERROR_AUTH_FAILED,
						_("%s rejected the login of user '%s' (AUTH %s): "
						  "%s"),
						helper->server,
						ms_account_get_username(account),
						helper->auth_mech,
						text));
}

static void
ms_smtp_client_auth_login_password_cb(GTask *task)
{
	MsSmtpClientHelper *helper = g_task_get_task_data(task);
	g_autoptr(MsSmtpClientSecret) response = NULL;

	if (ms_smtp_reply_get_code(helper->reply) != 334) {
		ms_smtp_client_auth_done_cb(task);
		return;
	}
	response = ms_sasl_login_response(helper->self->password);
	ms_smtp_client_command(task, response, TRUE, "AUTH", ms_smtp_client_auth_done_cb);
}

static void
ms_smtp_client_auth_login_cb(GTask *task)
{
	MsSmtpClientHelper *helper = g_task_get_task_data(task);
	g_autoptr(MsSmtpClientSecret) response = NULL;

	if (ms_smtp_reply_get_code(helper->reply) != 334) {
		ms_smtp_client_auth_done_cb(task);
		return;
	}
	response = ms_sasl_login_response(ms_account_get_username(helper->self->account));
	ms_smtp_client_command(task, response, TRUE, "AUTH", ms_smtp_client_auth_login_password_cb);
}

/* the mechanisms of "250-AUTH PLAIN LOGIN", upper case; the reply parser already merged the
 * old "250-AUTH=LOGIN" form into "AUTH" */
static GPtrArray *
ms_smtp_client_get_auth_mechanisms(MsSmtpClientHelper *helper)
{
	const gchar *params = NULL;
	g_auto(GStrv) split = NULL;
	g_autoptr(GPtrArray) mechs = g_ptr_array_new_with_free_func(g_free);

	if (helper->extensions != NULL)
		params = g_hash_table_lookup(helper->extensions, "AUTH");
	if (params == NULL)
		return g_steal_pointer(&mechs);
	split = g_strsplit(params, " ", -1);
	for (guint i = 0; split[i] != NULL; i++) {
		g_autofree gchar *mech = g_ascii_strup(split[i], -1);

		if (mech[0] == '\0' ||
		    g_ptr_array_find_with_equal_func(mechs, mech, g_str_equal, NULL))
			continue;
		g_ptr_array_add(mechs, g_steal_pointer(&mech));
	}
	return g_steal_pointer(&mechs);
}

static gboolean
ms_smtp_client_has_mech(GPtrArray *mechs, const gchar *mech)
{
	return g_ptr_array_find_with_equal_func(mechs, mech, g_str_equal, NULL);
}

/* sets *mech to the mechanism to use, NULL when no AUTH is needed; an error when AUTH is
 * needed but impossible */
static gboolean
ms_smtp_client_choose_auth(MsSmtpClientHelper *helper, const gchar **mech, GError **error)
{
	MsSmtpClient *self = helper->self;
	MsAuthMethod auth = ms_account_get_auth(self->account);
	const gchar *username = ms_account_get_username(self->account);
	const gchar *host = ms_account_get_host(self->account);
	g_autoptr(GPtrArray) mechs = NULL;
	g_autofree gchar *offered = NULL;

	*mech = NULL;
	if (auth == MS_AUTH_NONE)
		return TRUE;
	/* a relay without authentication must work: never AUTH with empty credentials */
	if (auth == MS_AUTH_AUTO && username == NULL)
		return TRUE;
	if (username == NULL) {
		g_set_error(error,
			    MS_ERROR,
			    MS_ERROR_CREDENTIALS,
			    _("auth=%s needs a username=: set one, or auth=none"),
			    ms_auth_method_to_string(auth));
		return FALSE;
	}
	if (self->password == NULL) {
		g_set_error(error,
			    MS_ERROR,
			    MS_ERROR_CREDENTIALS,
			    _("no password for user '%s' on %s"),
			    username,
			    helper->server);
		return FALSE;
	}
	if (!ms_tls_policy_check_auth(self->policy, helper->tls != NULL, error))
		return FALSE;

	mechs = ms_smtp_client_get_auth_mechanisms(helper);
	if (mechs->len == 0) {
		g_set_error(error,
			    MS_ERROR,
			    MS_ERROR_AUTH_FAILED,
			    helper->tls != NULL
				? _("%s does not offer AUTH (after TLS): remove username= to send "
				    "without authentication")
				: _("%s does not offer AUTH: remove username= to send without "
				    "authentication"),
			    host);
		return FALSE;
	}
	if (auth == MS_AUTH_AUTO) {
		/* the strongest of what we implement; PLAIN and LOGIN are equal on the wire,
		 * PLAIN needs one round trip less */
		if (ms_smtp_client_has_mech(mechs, "PLAIN")) {
			*mech = "PLAIN";
			return TRUE;
		}
		if (ms_smtp_client_has_mech(mechs, "LOGIN")) {
			*mech = "LOGIN";
			return TRUE;
		}
	} else {
		const gchar *wanted = auth == MS_AUTH_PLAIN ? "PLAIN" : "LOGIN";

		if (ms_smtp_client_has_mech(mechs, wanted)) {
			*mech = wanted;
			return TRUE;
		}
	}
	g_ptr_array_add(mechs, NULL);
	offered = g_strjoinv(" ", (gchar **)mechs->pdata);
	if (auth == MS_AUTH_AUTO) {
		g_set_error(error,
			    MS_ERROR,
			    MS_ERROR_AUTH_FAILED,
			    _("%s offers only AUTH %s, and none of these is supported yet (PLAIN, "
			      "LOGIN)"),
			    host,
			    offered);
		return FALSE;
	}
	g_set_error(error,
		    MS_ERROR,
		    MS_ERROR_AUTH_FAILED,
		    _("%s offers AUTH %s but not auth=%s: set auth= to one it offers, or "
		      "auth=auto"),
		    host,
		    offered,
		    ms_auth_method_to_string(auth));
	return FALSE;
}

static void
ms_smtp_client_auth(GTask *task)
{
	MsSmtpClientHelper *helper = g_task_get_task_data(task);
	MsSmtpClient *self = helper->self;
	const gchar *mech = NULL;
	GError *error = NULL;

	if (!ms_smtp_client_choose_auth(helper, &mech, &error)) {
		ms_smtp_client_return_error(task, error);
		return;
	}
	if (mech == NULL) {
		ms_smtp_client_transaction(task);
		return;
	}
	helper->auth_mech = mech;
	ms_smtp_client_emit_progress(self, MS_SMTP_STAGE_AUTH, 0, 0);
	if (g_strcmp0(mech, "PLAIN") == 0) {
		g_autoptr(MsSmtpClientSecret) response =
		    ms_sasl_plain_response(ms_account_get_username(self->account), self->password);
		g_autoptr(MsSmtpClientSecret) line = g_strconcat("AUTH PLAIN ", response, NULL);

		ms_smtp_client_command(task, line, TRUE, "AUTH", ms_smtp_client_auth_done_cb);
		return;
	}
	ms_smtp_client_command(task, "AUTH LOGIN", TRUE, "AUTH", ms_smtp_client_auth_login_cb);
}

/* EHLO, STARTTLS */

static void
ms_smtp_client_ehlo(GTask *task);

static void
ms_smtp_client_handshake_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	GTask *task = G_TASK(user_data);
	MsSmtpClientHelper *helper = g_task_get_task_data(task);
	g_autoptr(GError) error_local = NULL;

	if (!g_tls_connection_handshake_finish(G_TLS_CONNECTION(source), res, &error_local)) {
		if (g_error_matches(error_local, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
			ms_smtp_client_return_error(task, g_steal_pointer(&error_local));
			return;
		}
		if (g_error_matches(error_local, G_IO_ERROR, G_IO_ERROR_TIMED_OUT)) {
			ms_smtp_client_return_error(
			    task,
			    g_error_new(MS_ERROR,
					MS_ERROR_TIMEOUT,
					_("TLS handshake with %s timed out after %u s"),
					helper->server,
					ms_smtp_client_timeout(helper)));
			return;
		}
		if (error_local->domain != G_TLS_ERROR) {
			ms_smtp_client_return_error(
			    task,
			    g_error_new(MS_ERROR,
					MS_ERROR_CONNECTION,
					_("connection to %s lost during the TLS handshake: %s"),
					helper->server,
					error_local->message));
			return;
		}
		ms_smtp_client_return_error(
		    task,
		    ms_tls_policy_convert_error(helper->self->policy, helper->tls, error_local));
		return;
	}
	if (!ms_tls_policy_check_peer(helper->self->policy, helper->tls, &error_local)) {
		ms_smtp_client_return_error(task, g_steal_pointer(&error_local));
		return;
	}
	ms_smtp_client_log_tls(helper);

	/* RFC 3207 §4.2: forget everything learnt before TLS */
	ms_smtp_client_set_stream(helper, G_IO_STREAM(helper->tls));
	g_clear_pointer(&helper->extensions, g_hash_table_unref);
	ms_smtp_client_ehlo(task);
}

static void
ms_smtp_client_starttls_cb(GTask *task)
{
	MsSmtpClientHelper *helper = g_task_get_task_data(task);
	MsSmtpClient *self = helper->self;
	g_autoptr(GIOStream) tls = NULL;
	g_autoptr(GSocketConnectable) identity = NULL;
	g_autoptr(GError) error_local = NULL;

	if (ms_smtp_reply_get_code(helper->reply) != 220) {
		if (ms_account_get_security(self->account) == MS_SECURITY_STARTTLS_OPPORTUNISTIC &&
		    ms_smtp_reply_get_code(helper->reply) >= 400) {
			g_autofree gchar *text = ms_smtp_reply_to_string(helper->reply);
			g_debug("%s refused STARTTLS (%s): continuing without TLS",
				helper->server,
				text);
			ms_smtp_client_auth(task);
			return;
		}
		if (ms_smtp_reply_is_permanent(helper->reply)) {
			g_autofree gchar *text = ms_smtp_reply_to_string(helper->reply);
			ms_smtp_client_return_error(task,
						    g_error_new(MS_ERROR,
								MS_ERROR_TLS_REQUIRED,
								_("%s refused STARTTLS: %s"),
								helper->server,
								text));
			return;
		}
		ms_smtp_client_return_error(task, ms_smtp_client_reply_error(helper, "STARTTLS"));
		return;
	}

	/* RFC 3207 §6: whatever follows the 220 in clear was not sent by the server after TLS;
	 * reading it would let a man in the middle inject commands' replies */
	if (g_buffered_input_stream_get_available(G_BUFFERED_INPUT_STREAM(helper->reader)) > 0) {
		ms_smtp_client_return_error(task,
					    g_error_new(MS_ERROR,
							MS_ERROR_TLS,
							_("the server %s sent data after its "
							  "STARTTLS reply; possible "
							  "man-in-the-middle, aborting"),
							helper->server));
		return;
	}

	identity = g_network_address_new(ms_account_get_host(self->account),
					 ms_account_get_port(self->account));
	tls = g_tls_client_connection_new(G_IO_STREAM(helper->connection), identity, &error_local);
	if (tls == NULL) {
		ms_smtp_client_return_error(
		    task,
		    ms_tls_policy_convert_error(self->policy, NULL, error_local));
		return;
	}
	ms_tls_policy_apply(self->policy, G_TLS_CLIENT_CONNECTION(tls));
	helper->tls = G_TLS_CONNECTION(g_steal_pointer(&tls));
	ms_smtp_client_emit_progress(self, MS_SMTP_STAGE_TLS, 0, 0);
	g_tls_connection_handshake_async(helper->tls,
					 G_PRIORITY_DEFAULT,
					 ms_smtp_client_cancellable(task),
					 ms_smtp_client_handshake_cb,
					 task);
}

static void
ms_smtp_client_after_ehlo(GTask *task)
{
	MsSmtpClientHelper *helper = g_task_get_task_data(task);
	gboolean offered = FALSE;
	gboolean use_starttls = FALSE;
	GError *error = NULL;

	if (helper->tls != NULL) {
		ms_smtp_client_auth(task);
		return;
	}
	if (helper->extensions != NULL)
		offered = g_hash_table_contains(helper->extensions, "STARTTLS");
	if (!ms_tls_policy_check_starttls(helper->self->policy, offered, &use_starttls, &error)) {
		ms_smtp_client_return_error(task, error);
		return;
	}
	if (!use_starttls) {
		ms_smtp_client_auth(task);
		return;
	}
	ms_smtp_client_command(task, "STARTTLS", FALSE, "STARTTLS", ms_smtp_client_starttls_cb);
}

static void
ms_smtp_client_helo_cb(GTask *task)
{
	MsSmtpClientHelper *helper = g_task_get_task_data(task);

	if (!ms_smtp_reply_is_positive(helper->reply)) {
		ms_smtp_client_return_error(task, ms_smtp_client_reply_error(helper, "HELO"));
		return;
	}
	g_clear_pointer(&helper->extensions, g_hash_table_unref);
	ms_smtp_client_after_ehlo(task);
}

static void
ms_smtp_client_ehlo_cb(GTask *task)
{
	MsSmtpClientHelper *helper = g_task_get_task_data(task);

	/* an old server that does not know EHLO: HELO, without any extension */
	if (ms_smtp_reply_is_permanent(helper->reply)) {
		g_autofree gchar *line =
		    g_strdup_printf("HELO %s", ms_account_get_helo_name(helper->self->account));
		ms_smtp_client_command(task, line, FALSE, "HELO", ms_smtp_client_helo_cb);
		return;
	}
	if (!ms_smtp_reply_is_positive(helper->reply)) {
		ms_smtp_client_return_error(task, ms_smtp_client_reply_error(helper, "EHLO"));
		return;
	}
	g_clear_pointer(&helper->extensions, g_hash_table_unref);
	helper->extensions = ms_smtp_reply_get_extensions(helper->reply);
	ms_smtp_client_after_ehlo(task);
}

static void
ms_smtp_client_ehlo(GTask *task)
{
	MsSmtpClientHelper *helper = g_task_get_task_data(task);
	g_autofree gchar *line =
	    g_strdup_printf("EHLO %s", ms_account_get_helo_name(helper->self->account));

	ms_smtp_client_command(task, line, FALSE, "EHLO", ms_smtp_client_ehlo_cb);
}

/* greeting */

static void
ms_smtp_client_greeting_cb(GTask *task)
{
	MsSmtpClientHelper *helper = g_task_get_task_data(task);
	g_autofree gchar *text = ms_smtp_reply_to_string(helper->reply);

	if (ms_smtp_reply_get_code(helper->reply) == 220) {
		helper->greeting = g_steal_pointer(&text);
		ms_smtp_client_ehlo(task);
		return;
	}
	if (ms_smtp_reply_is_transient(helper->reply)) {
		ms_smtp_client_return_error(task,
					    g_error_new(MS_ERROR,
							MS_ERROR_TEMPORARY,
							_("%s is not accepting mail right now: %s"),
							helper->server,
							text));
		return;
	}
	ms_smtp_client_return_error(task,
				    g_error_new(MS_ERROR,
						MS_ERROR_REJECTED,
						_("%s refused the connection: %s"),
						helper->server,
						text));
}

/* connect */

static void
ms_smtp_client_socket_event_cb(GSocketClient *socket_client,
			       GSocketClientEvent event,
			       GSocketConnectable *connectable,
			       GIOStream *connection,
			       gpointer user_data)
{
	MsSmtpClientHelper *helper = user_data;
	MsSmtpClient *self = helper->self;

	if (event == G_SOCKET_CLIENT_CONNECTED && G_IS_SOCKET_CONNECTION(connection)) {
		g_autoptr(GError) error_local = NULL;
		GSocket *socket = g_socket_connection_get_socket(G_SOCKET_CONNECTION(connection));

		/* commands are small and strictly request/response: do not let Nagle delay them */
		if (!g_socket_set_option(socket, IPPROTO_TCP, TCP_NODELAY, 1, &error_local))
			g_debug("cannot set TCP_NODELAY: %s", error_local->message);
		return;
	}
	/* implicit TLS: the only moment the connection can be set up before its handshake */
	if (event == G_SOCKET_CLIENT_TLS_HANDSHAKING && G_IS_TLS_CLIENT_CONNECTION(connection)) {
		ms_tls_policy_apply(self->policy, G_TLS_CLIENT_CONNECTION(connection));
		g_set_object(&helper->tls, G_TLS_CONNECTION(connection));
		ms_smtp_client_emit_progress(self, MS_SMTP_STAGE_TLS, 0, 0);
	}
}

static GError *
ms_smtp_client_connect_error(MsSmtpClientHelper *helper, const GError *error)
{
	guint timeout = ms_smtp_client_timeout(helper);

	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		return g_error_copy(error);

	/* the TCP connection is up and the implicit TLS handshake failed */
	if (helper->tls != NULL) {
		if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT)) {
			return g_error_new(MS_ERROR,
					   MS_ERROR_TIMEOUT,
					   _("TLS handshake with %s timed out after %u s"),
					   helper->server,
					   timeout);
		}
		if (error->domain == G_TLS_ERROR)
			return ms_tls_policy_convert_error(helper->self->policy,
							   helper->tls,
							   error);
		return g_error_new(MS_ERROR,
				   MS_ERROR_CONNECTION,
				   _("connection to %s lost during the TLS handshake: %s"),
				   helper->server,
				   error->message);
	}
	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT)) {
		return g_error_new(MS_ERROR,
				   MS_ERROR_TIMEOUT,
				   _("cannot connect to %s: no answer within %u s"),
				   helper->server,
				   timeout);
	}
	return g_error_new(MS_ERROR,
			   MS_ERROR_CONNECTION,
			   _("cannot connect to %s: %s"),
			   helper->server,
			   error->message);
}

static void
ms_smtp_client_connect_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	GTask *task = G_TASK(user_data);
	MsSmtpClientHelper *helper = g_task_get_task_data(task);
	g_autoptr(GError) error_local = NULL;

	helper->connection =
	    g_socket_client_connect_finish(G_SOCKET_CLIENT(source), res, &error_local);
	if (helper->connection == NULL) {
		ms_smtp_client_return_error(task,
					    ms_smtp_client_connect_error(helper, error_local));
		return;
	}
	if (helper->tls != NULL) {
		if (!ms_tls_policy_check_peer(helper->self->policy, helper->tls, &error_local)) {
			ms_smtp_client_return_error(task, g_steal_pointer(&error_local));
			return;
		}
		ms_smtp_client_log_tls(helper);
	}
	g_debug("connected to %s", helper->server);
	ms_smtp_client_set_stream(helper, G_IO_STREAM(helper->connection));
	ms_smtp_client_read_reply(task, MS_SMTP_CLIENT_STEP_GREETING, ms_smtp_client_greeting_cb);
}

static void
ms_smtp_client_connect(GTask *task)
{
	MsSmtpClientHelper *helper = g_task_get_task_data(task);
	MsSmtpClient *self = helper->self;
	g_autoptr(GSocketConnectable) address = NULL;

	helper->socket_client = g_socket_client_new();
	/* bounds every step: connect, each read and write, and the TLS handshake */
	g_socket_client_set_timeout(helper->socket_client, ms_account_get_timeout(self->account));
	/* SMTP never goes through an HTTP proxy, and the proxy resolvers talk to the session
	 * bus */
	g_socket_client_set_enable_proxy(helper->socket_client, FALSE);
	if (ms_account_get_security(self->account) == MS_SECURITY_TLS)
		g_socket_client_set_tls(helper->socket_client, TRUE);
	g_signal_connect(helper->socket_client,
			 "event",
			 G_CALLBACK(ms_smtp_client_socket_event_cb),
			 helper);

	ms_smtp_client_emit_progress(self, MS_SMTP_STAGE_CONNECTING, 0, 0);
	g_debug("connecting to %s (security=%s)",
		helper->server,
		ms_security_to_string(ms_account_get_security(self->account)));
	address = g_network_address_new(ms_account_get_host(self->account),
					ms_account_get_port(self->account));
	g_socket_client_connect_async(helper->socket_client,
				      address,
				      ms_smtp_client_cancellable(task),
				      ms_smtp_client_connect_cb,
				      task);
}

static gboolean
ms_smtp_client_address_is_valid(const gchar *address)
{
	/* the envelope goes verbatim into command lines: no line breaks, no brackets */
	return address != NULL && strpbrk(address, "\r\n<>") == NULL && strlen(address) <= 254;
}

static gboolean
ms_smtp_client_check_envelope(const gchar *envelope_from,
			      const gchar *const *recipients,
			      GError **error)
{
	if (!ms_smtp_client_address_is_valid(envelope_from)) {
		g_set_error(error,
			    MS_ERROR,
			    MS_ERROR_INVALID_ARGS,
			    _("invalid envelope sender address"));
		return FALSE;
	}
	if (recipients == NULL || recipients[0] == NULL) {
		g_set_error(error, MS_ERROR, MS_ERROR_INVALID_ARGS, _("no recipient"));
		return FALSE;
	}
	for (guint i = 0; recipients[i] != NULL; i++) {
		if (!ms_smtp_client_address_is_valid(recipients[i]) || recipients[i][0] == '\0') {
			g_set_error(error,
				    MS_ERROR,
				    MS_ERROR_INVALID_ARGS,
				    _("invalid recipient address"));
			return FALSE;
		}
	}
	return TRUE;
}

/* what can be refused before connecting at all */
static gboolean
ms_smtp_client_check_account(MsSmtpClient *self, GError **error)
{
	MsAuthMethod auth = ms_account_get_auth(self->account);

	if (auth == MS_AUTH_CRAM_MD5 || auth == MS_AUTH_SCRAM_SHA_256 || auth == MS_AUTH_XOAUTH2) {
		g_set_error(error,
			    MS_ERROR,
			    MS_ERROR_AUTH_FAILED,
			    _("auth=%s is not supported yet: use auth=auto, plain or login"),
			    ms_auth_method_to_string(auth));
		return FALSE;
	}
	return ms_tls_policy_load(self->policy, error);
}

static MsSmtpClientHelper *
ms_smtp_client_helper_new(MsSmtpClient *self)
{
	MsSmtpClientHelper *helper = g_new0(MsSmtpClientHelper, 1);

	helper->self = g_object_ref(self);
	helper->started = g_get_monotonic_time();
	helper->server = g_strdup_printf("%s:%u",
					 ms_account_get_host(self->account),
					 ms_account_get_port(self->account));
	helper->parser = ms_smtp_reply_parser_new();
	return helper;
}

static GTask *
ms_smtp_client_task_new(MsSmtpClient *self,
			MsSmtpClientHelper *helper,
			GCancellable *cancellable,
			GAsyncReadyCallback callback,
			gpointer user_data)
{
	GTask *task = g_task_new(self, cancellable, callback, user_data);

	/* a message the server accepted stays sent, even if cancelled during QUIT */
	g_task_set_check_cancellable(task, FALSE);
	g_task_set_task_data(task, helper, (GDestroyNotify)ms_smtp_client_helper_free);
	g_clear_pointer(&self->last_reply, g_free);
	self->last_reply = g_strdup("");
	return task;
}

void
ms_smtp_client_send_async(MsSmtpClient *self,
			  const gchar *envelope_from,
			  const gchar *const *recipients,
			  GBytes *message,
			  GCancellable *cancellable,
			  GAsyncReadyCallback callback,
			  gpointer user_data)
{
	g_autoptr(GTask) task = NULL;
	MsSmtpClientHelper *helper;
	GError *error = NULL;

	g_return_if_fail(MS_IS_SMTP_CLIENT(self));
	g_return_if_fail(message != NULL);
	g_return_if_fail(cancellable == NULL || G_IS_CANCELLABLE(cancellable));

	helper = ms_smtp_client_helper_new(self);
	helper->envelope_from = g_strdup(envelope_from != NULL ? envelope_from : "");
	helper->recipients = g_strdupv((gchar **)recipients);
	helper->message = g_bytes_ref(message);
	task = ms_smtp_client_task_new(self, helper, cancellable, callback, user_data);
	g_task_set_source_tag(task, ms_smtp_client_send_async);

	if (!ms_smtp_client_check_envelope(helper->envelope_from, recipients, &error) ||
	    !ms_smtp_client_check_account(self, &error)) {
		g_task_return_error(task, error);
		return;
	}
	ms_smtp_client_connect(g_steal_pointer(&task));
}

void
ms_smtp_client_verify_async(MsSmtpClient *self,
			    GCancellable *cancellable,
			    GAsyncReadyCallback callback,
			    gpointer user_data)
{
	g_autoptr(GTask) task = NULL;
	MsSmtpClientHelper *helper;
	GError *error = NULL;

	g_return_if_fail(MS_IS_SMTP_CLIENT(self));
	g_return_if_fail(cancellable == NULL || G_IS_CANCELLABLE(cancellable));

	helper = ms_smtp_client_helper_new(self);
	helper->verify = TRUE;
	task = ms_smtp_client_task_new(self, helper, cancellable, callback, user_data);
	g_task_set_source_tag(task, ms_smtp_client_verify_async);

	if (!ms_smtp_client_check_account(self, &error)) {
		g_task_return_error(task, error);
		return;
	}
	ms_smtp_client_connect(g_steal_pointer(&task));
}

GVariant *
ms_smtp_client_verify_finish(MsSmtpClient *self, GAsyncResult *res, GError **error)
{
	g_return_val_if_fail(MS_IS_SMTP_CLIENT(self), NULL);
	g_return_val_if_fail(g_task_is_valid(res, self), NULL);
	return g_task_propagate_pointer(G_TASK(res), error);
}

gchar *
ms_smtp_client_send_finish(MsSmtpClient *self, GAsyncResult *res, GError **error)
{
	g_return_val_if_fail(MS_IS_SMTP_CLIENT(self), NULL);
	g_return_val_if_fail(g_task_is_valid(res, self), NULL);
	return g_task_propagate_pointer(G_TASK(res), error);
}

const gchar *
ms_smtp_client_get_last_reply(MsSmtpClient *self)
{
	g_return_val_if_fail(MS_IS_SMTP_CLIENT(self), NULL);
	return self->last_reply != NULL ? self->last_reply : "";
}

void
ms_smtp_client_set_password(MsSmtpClient *self, const gchar *password)
{
	g_return_if_fail(MS_IS_SMTP_CLIENT(self));
	g_clear_pointer(&self->password, ms_sasl_secret_free);
	self->password = g_strdup(password);
}

static void
ms_smtp_client_dispose(GObject *object)
{
	MsSmtpClient *self = MS_SMTP_CLIENT(object);

	g_clear_object(&self->policy);
	g_clear_object(&self->account);
	G_OBJECT_CLASS(ms_smtp_client_parent_class)->dispose(object);
}

static void
ms_smtp_client_finalize(GObject *object)
{
	MsSmtpClient *self = MS_SMTP_CLIENT(object);

	g_clear_pointer(&self->password, ms_sasl_secret_free);
	g_free(self->last_reply);
	G_OBJECT_CLASS(ms_smtp_client_parent_class)->finalize(object);
}

static void
ms_smtp_client_class_init(MsSmtpClientClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);

	object_class->dispose = ms_smtp_client_dispose;
	object_class->finalize = ms_smtp_client_finalize;

	signals[SIGNAL_PROGRESS] = g_signal_new("progress",
						G_TYPE_FROM_CLASS(object_class),
						G_SIGNAL_RUN_LAST,
						0,
						NULL,
						NULL,
						NULL,
						G_TYPE_NONE,
						3,
						G_TYPE_UINT,
						G_TYPE_UINT64,
						G_TYPE_UINT64);
}

static void
ms_smtp_client_init(MsSmtpClient *self)
{
}

MsSmtpClient *
ms_smtp_client_new(MsAccount *account)
{
	MsSmtpClient *self;

	g_return_val_if_fail(MS_IS_ACCOUNT(account), NULL);

	self = g_object_new(MS_TYPE_SMTP_CLIENT, NULL);
	self->account = g_object_ref(account);
	self->policy = ms_tls_policy_new(account);
	return self;
}
