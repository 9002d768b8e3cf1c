#define G_LOG_DOMAIN "MsSmtp"

#include "config.h"

#include <glib/gi18n.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>

#include "ms-address.h"
#include "ms-dot-stuffer.h"
#include "ms-error.h"
#include "ms-mime-downgrade.h"
#include "ms-sasl.h"
#include "ms-smtp-client.h"
#include "ms-smtp-reply.h"
#include "ms-tls-policy.h"

/* how much of the message goes into one write; also the granularity of "progress" */
#define MS_SMTP_CLIENT_CHUNK_SIZE (64 * 1024)
/* the longest reply line read: RFC 5321 allows 512 bytes and real EHLO replies are longer,
 * but a hostile server sending one endless line must not make us buffer without bound */
#define MS_SMTP_CLIENT_LINE_MAX		8192
#define MS_SMTP_CLIENT_READ_BUFFER_SIZE (2 * MS_SMTP_CLIENT_LINE_MAX)
/* commands in one pipelined write: what the server takes in before we read its replies stays
 * small, so neither side can block on a full socket buffer (RFC 2920 §3.1) */
#define MS_SMTP_CLIENT_PIPELINE_MAX 100
/* the step before any command, as error messages name it */
#define MS_SMTP_CLIENT_STEP_GREETING "the greeting"

struct _MsSmtpClient {
	GObject parent_instance;
	MsAccount *account;
	MsTlsPolicy *policy;
	gchar *password; /* wiped with ms_sasl_secret_free() */
	gchar *last_reply;
	gchar *server; /* "host:port", for messages */
	gboolean busy; /* an operation runs: its GTask holds a reference */

	/* the session, from open to close */
	gboolean open;		       /* ready for transactions */
	GSocketClient *socket_client;  /* while connecting */
	GSocketConnection *connection; /* the TCP connection (a GTcpWrapperConnection for tls) */
	GTlsConnection *tls;	       /* set once a handshake has started */
	GIOStream *stream; /* what SMTP is spoken over: connection, or tls after STARTTLS */
	guint8 *rbuf;	   /* what was read: [rbuf_start, rbuf_end) is not parsed yet */
	gsize rbuf_start;
	gsize rbuf_end;
	MsSmtpReplyParser *parser;
	GHashTable *extensions; /* from EHLO; NULL after HELO */
	gchar *greeting;
	const gchar *auth_mech; /* "PLAIN" or "LOGIN" once AUTH started */
	gint64 started;		/* monotonic, when open started */
	guint transactions;	/* delivered on this session */
	GError *closed_error;	/* how the server ended the session while it was idle */
};

enum { SIGNAL_PROGRESS, SIGNAL_LAST };

static guint signals[SIGNAL_LAST] = {0};

G_DEFINE_TYPE(MsSmtpClient, ms_smtp_client, G_TYPE_OBJECT)

/* base64 of credentials, wiped when it goes out of scope */
typedef gchar MsSmtpClientSecret;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MsSmtpClientSecret, ms_sasl_secret_free)

/* An operation (open, transaction, close) is a chain of steps. The one reference of its GTask
 * travels along the chain: each step hands it to the next asynchronous call, and only the
 * functions that return the result drop it. The session itself lives in MsSmtpClient, so that
 * it outlives the operations. */
typedef void (*MsSmtpClientStepFunc)(GTask *task);

/* a command of a transaction the server refused; with pipelining, which refusal fails the
 * transaction is only known once all replies are in */
typedef struct {
	gchar *what; /* "RCPT TO:<addr>" */
	guint code;
	gchar *reply; /* ms_smtp_reply_to_string() */
} MsSmtpClientRefusal;

static void
ms_smtp_client_refusal_free(MsSmtpClientRefusal *refusal)
{
	g_free(refusal->what);
	g_free(refusal->reply);
	g_free(refusal);
}

/* the state of one operation, the task data of its GTask */
typedef struct {
	MsSmtpClient *self;
	MsSmtpReply *reply;	   /* the last complete reply */
	const gchar *step;	   /* the command whose reply is awaited, for error messages */
	MsSmtpClientStepFunc next; /* called with the reply of step */
	gchar *out;		   /* being written */
	gsize out_len;
	gboolean out_secret;	/* wipe out once written */
	gboolean quiet;		/* housekeeping (RSET, QUIT): its reply is not the last reply */
	gboolean uncancellable; /* the whole message is out: the outcome is the server's now */
	gboolean closing;	/* close: errors only end the session */

	/* a transaction; its commands are numbered: 0 MAIL, 1..n_recipients RCPT, then DATA */
	gchar *envelope_from;
	gchar **recipients;
	guint n_recipients;
	GInputStream *input;	 /* the message, read in chunks as it is sent */
	guint64 size;		 /* bytes of it to send, as announced with SIZE= */
	const gchar *size_param; /* of the SIZE extension, NULL if not offered */
	gchar *mail_params;	 /* after MAIL FROM:<…>: " BODY=8BITMIME SMTPUTF8" or "" */
	MsSaslScram *scram;	 /* AUTH SCRAM-SHA-256 in progress */
	GConverter *downgrade;	 /* 8bit parts to quoted-printable on the way, or NULL */
	GByteArray *downgraded;	 /* a chunk after the downgrade */
	gboolean all_or_nothing; /* send: one refused recipient fails it all */
	guint n_sent;		 /* commands written */
	guint n_replied;	 /* replies read */
	gboolean mail_ok;
	guint accepted;				  /* recipients */
	guint data_code;			  /* the reply to DATA, 0 before */
	MsSmtpClientRefusal *mail_refusal;	  /* MAIL FROM refused */
	MsSmtpClientRefusal *rcpt_first;	  /* the first refused recipient */
	MsSmtpClientRefusal *rcpt_first_rejected; /* the first one refused with 5xx */
	MsSmtpClientRefusal *rcpt_first_deferred; /* the first one refused with 4xx */
	GError *failure; /* the transaction failed: returned once RSET is done */
	MsDotStuffer stuffer;
	guint64 consumed; /* bytes of input read and dot-stuffed */
	GByteArray *chunk;
	MsSmtpResult *result;
} MsSmtpClientHelper;

static void
ms_smtp_client_helper_free_out(MsSmtpClientHelper *helper)
{
	if (helper->out_secret)
		ms_sasl_secret_wipe(helper->out);
	g_clear_pointer(&helper->out, g_free);
	helper->out_len = 0;
	helper->out_secret = FALSE;
}

void
ms_smtp_result_free(MsSmtpResult *self)
{
	if (self == NULL)
		return;
	g_free(self->reply);
	g_hash_table_unref(self->rejected);
	g_hash_table_unref(self->deferred);
	g_free(self);
}

static MsSmtpResult *
ms_smtp_result_new(void)
{
	MsSmtpResult *self = g_new0(MsSmtpResult, 1);

	self->rejected = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	self->deferred = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	return self;
}

static void
ms_smtp_client_helper_free(MsSmtpClientHelper *helper)
{
	ms_smtp_client_helper_free_out(helper);
	g_clear_pointer(&helper->reply, ms_smtp_reply_free);
	g_clear_pointer(&helper->mail_refusal, ms_smtp_client_refusal_free);
	g_clear_pointer(&helper->rcpt_first, ms_smtp_client_refusal_free);
	g_clear_pointer(&helper->rcpt_first_rejected, ms_smtp_client_refusal_free);
	g_clear_pointer(&helper->rcpt_first_deferred, ms_smtp_client_refusal_free);
	g_clear_error(&helper->failure);
	if (helper->chunk != NULL)
		g_byte_array_unref(helper->chunk);
	g_clear_pointer(&helper->result, ms_smtp_result_free);
	g_clear_object(&helper->input);
	g_clear_object(&helper->downgrade);
	g_clear_pointer(&helper->scram, ms_sasl_scram_free);
	if (helper->downgraded != NULL)
		g_byte_array_unref(helper->downgraded);
	g_free(helper->mail_params);
	g_strfreev(helper->recipients);
	g_free(helper->envelope_from);
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
ms_smtp_client_timeout(MsSmtpClient *self)
{
	return ms_account_get_timeout(self->account);
}

static void
ms_smtp_client_set_last_reply(MsSmtpClient *self, const gchar *text)
{
	g_free(self->last_reply);
	self->last_reply = g_strdup(text);
}

/* ends the session at once, without QUIT: after an error the connection is in an unknown
 * state and must never carry another transaction */
static void
ms_smtp_client_teardown(MsSmtpClient *self)
{
	/* drop the socket first, so that disposing a TLS connection cannot block the main loop
	 * trying to send close_notify */
	if (self->connection != NULL)
		g_socket_close(g_socket_connection_get_socket(self->connection), NULL);
	if (self->socket_client != NULL)
		g_signal_handlers_disconnect_by_data(self->socket_client, self);
	g_clear_object(&self->socket_client);
	g_clear_object(&self->stream);
	g_clear_object(&self->tls);
	g_clear_object(&self->connection);
	g_clear_pointer(&self->rbuf, g_free);
	self->rbuf_start = 0;
	self->rbuf_end = 0;
	g_clear_pointer(&self->parser, ms_smtp_reply_parser_free);
	self->open = FALSE;
}

/* the end of an operation: another one may start from its callback */
static void
ms_smtp_client_op_done(GTask *task)
{
	MsSmtpClientHelper *helper = g_task_get_task_data(task);

	helper->self->busy = FALSE;
}

/* NULL once the message is out (the outcome is the server's) and while closing (QUIT is
 * bounded by the timeout only) */
static GCancellable *
ms_smtp_client_cancellable(GTask *task)
{
	MsSmtpClientHelper *helper = g_task_get_task_data(task);

	return helper->uncancellable || helper->closing ? NULL : g_task_get_cancellable(task);
}

/* every I/O and protocol failure of an operation ends here: the session is closed */
static void
ms_smtp_client_return_error(GTask *task, GError *error)
{
	MsSmtpClientHelper *helper = g_task_get_task_data(task);
	g_autoptr(GError) error_local = error;

	ms_smtp_client_teardown(helper->self);
	if (helper->closing) {
		g_debug("ignoring an error while closing the session with %s: %s",
			helper->self->server,
			error_local->message);
		ms_smtp_client_op_done(task);
		g_task_return_boolean(task, TRUE);
		g_object_unref(task);
		return;
	}
	/* a connection lost during the RSET after a failed transaction: the failure counts */
	if (helper->failure != NULL) {
		g_debug("closing the session with %s after a failed transaction: %s",
			helper->self->server,
			error_local->message);
		g_clear_error(&error_local);
		error_local = g_steal_pointer(&helper->failure);
	}
	g_debug("session with %s failed: %s", helper->self->server, error_local->message);
	ms_smtp_client_op_done(task);
	g_task_return_error(task, g_steal_pointer(&error_local));
	g_object_unref(task);
}

/* an I/O error (or EOF, error == NULL) while writing step or waiting for its reply */
static GError *
ms_smtp_client_io_error(MsSmtpClientHelper *helper, const GError *error, gboolean writing)
{
	MsSmtpClient *self = helper->self;
	guint timeout = ms_smtp_client_timeout(self);

	if (error == NULL) {
		return g_error_new(MS_ERROR,
				   MS_ERROR_CONNECTION,
				   _("%s closed the connection during %s"),
				   self->server,
				   helper->step);
	}
	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		return g_error_copy(error);
	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT)) {
		if (g_strcmp0(helper->step, MS_SMTP_CLIENT_STEP_GREETING) == 0 &&
		    ms_account_get_security(self->account) != MS_SECURITY_TLS) {
			return g_error_new(MS_ERROR,
					   MS_ERROR_TIMEOUT,
					   _("no greeting from %s within %u s: the server may "
					     "expect TLS from the first byte: set security=tls"),
					   self->server,
					   timeout);
		}
		if (g_strcmp0(helper->step, MS_SMTP_CLIENT_STEP_GREETING) == 0) {
			return g_error_new(MS_ERROR,
					   MS_ERROR_TIMEOUT,
					   _("no greeting from %s within %u s"),
					   self->server,
					   timeout);
		}
		if (writing) {
			return g_error_new(MS_ERROR,
					   MS_ERROR_TIMEOUT,
					   _("timed out after %u s sending %s to %s"),
					   timeout,
					   helper->step,
					   self->server);
		}
		return g_error_new(MS_ERROR,
				   MS_ERROR_TIMEOUT,
				   _("timed out after %u s waiting for the reply to %s from %s"),
				   timeout,
				   helper->step,
				   self->server);
	}
	if (error->domain == G_TLS_ERROR && error->code != G_TLS_ERROR_EOF) {
		return g_error_new(MS_ERROR,
				   MS_ERROR_TLS,
				   _("TLS error with %s during %s: %s"),
				   self->server,
				   helper->step,
				   error->message);
	}
	return g_error_new(MS_ERROR,
			   MS_ERROR_CONNECTION,
			   _("connection to %s lost during %s: %s"),
			   self->server,
			   helper->step,
			   error->message);
}

/* a reply that is not the one the step wanted: 4xx is worth a retry, the rest is final */
static GError *
ms_smtp_client_refusal_error(MsSmtpClient *self, const gchar *what, guint code, const gchar *text)
{
	if (code >= 400 && code < 500) {
		return g_error_new(MS_ERROR,
				   MS_ERROR_TEMPORARY,
				   _("%s answered %s with: %s"),
				   self->server,
				   what,
				   text);
	}
	if (code >= 500) {
		return g_error_new(MS_ERROR,
				   MS_ERROR_REJECTED,
				   _("%s answered %s with: %s"),
				   self->server,
				   what,
				   text);
	}
	return g_error_new(MS_ERROR,
			   MS_ERROR_REJECTED,
			   _("%s sent an unexpected reply to %s: %s"),
			   self->server,
			   what,
			   text);
}

static GError *
ms_smtp_client_reply_error(MsSmtpClientHelper *helper, const gchar *what)
{
	g_autofree gchar *text = ms_smtp_reply_to_string(helper->reply);

	return ms_smtp_client_refusal_error(helper->self,
					    what,
					    ms_smtp_reply_get_code(helper->reply),
					    text);
}

static MsSmtpClientRefusal *
ms_smtp_client_refusal_new(MsSmtpClientHelper *helper, const gchar *what)
{
	MsSmtpClientRefusal *refusal = g_new0(MsSmtpClientRefusal, 1);

	refusal->what = g_strdup(what);
	refusal->code = ms_smtp_reply_get_code(helper->reply);
	refusal->reply = ms_smtp_reply_to_string(helper->reply);
	return refusal;
}

/* reading replies: a bounded line reader of our own (GDataInputStream would buffer an endless
 * line whole), feeding the reply parser */

/* the next complete line in the buffer, without its line end; FALSE if there is none */
static gboolean
ms_smtp_client_take_line(MsSmtpClient *self, const gchar **line, gsize *len)
{
	const guint8 *start = self->rbuf + self->rbuf_start;
	gsize avail = self->rbuf_end - self->rbuf_start;
	const guint8 *lf = memchr(start, '\n', MIN(avail, MS_SMTP_CLIENT_LINE_MAX + 2));

	if (lf == NULL)
		return FALSE;
	*line = (const gchar *)start;
	*len = lf - start;
	if (*len > 0 && start[*len - 1] == '\r')
		(*len)--;
	self->rbuf_start += lf - start + 1;
	return TRUE;
}

static void
ms_smtp_client_log_line(const gchar *line, gsize len)
{
	g_autofree gchar *printable = g_utf8_make_valid(line, len);

	/* AUTH challenges are nobody's business, even when they are harmless */
	g_debug("S: %s", g_str_has_prefix(printable, "334") ? "334 <redacted>" : printable);
}

static void
ms_smtp_client_read_more(GTask *task);

static void
ms_smtp_client_read_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	GTask *task = G_TASK(user_data);
	MsSmtpClientHelper *helper = g_task_get_task_data(task);
	g_autoptr(GError) error_local = NULL;
	gssize n = g_input_stream_read_finish(G_INPUT_STREAM(source), res, &error_local);

	if (n <= 0) {
		ms_smtp_client_return_error(task,
					    ms_smtp_client_io_error(helper, error_local, FALSE));
		return;
	}
	helper->self->rbuf_end += n;
	ms_smtp_client_read_more(task);
}

/* feeds buffered lines to the parser until a reply is complete, reading more as needed */
static void
ms_smtp_client_read_more(GTask *task)
{
	MsSmtpClientHelper *helper = g_task_get_task_data(task);
	MsSmtpClient *self = helper->self;
	const gchar *line = NULL;
	gsize len = 0;

	while (ms_smtp_client_take_line(self, &line, &len)) {
		MsSmtpReply *reply = NULL;
		g_autoptr(GError) error_local = NULL;

		ms_smtp_client_log_line(line, len);
		if (!ms_smtp_reply_parser_feed(self->parser, line, len, &reply, &error_local)) {
			ms_smtp_client_return_error(
			    task,
			    g_error_new(
				MS_ERROR,
				MS_ERROR_CONNECTION,
				_("%s sent an invalid reply to %s, is it an SMTP server? %s"),
				self->server,
				helper->step,
				error_local->message));
			return;
		}
		if (reply == NULL)
			continue;
		g_clear_pointer(&helper->reply, ms_smtp_reply_free);
		helper->reply = reply;
		if (ms_smtp_reply_get_code(reply) != 334 && !helper->quiet) {
			g_free(self->last_reply);
			self->last_reply = ms_smtp_reply_to_string(reply);
		}
		helper->next(task);
		return;
	}
	if (self->rbuf_end - self->rbuf_start >= MS_SMTP_CLIENT_LINE_MAX + 2) {
		ms_smtp_client_return_error(task,
					    g_error_new(MS_ERROR,
							MS_ERROR_CONNECTION,
							_("reply line too long from %s during %s: "
							  "more than %u bytes without a line end"),
							self->server,
							helper->step,
							(guint)MS_SMTP_CLIENT_LINE_MAX));
		return;
	}
	if (self->rbuf_start > 0) {
		memmove(self->rbuf,
			self->rbuf + self->rbuf_start,
			self->rbuf_end - self->rbuf_start);
		self->rbuf_end -= self->rbuf_start;
		self->rbuf_start = 0;
	}
	g_input_stream_read_async(g_io_stream_get_input_stream(self->stream),
				  self->rbuf + self->rbuf_end,
				  MS_SMTP_CLIENT_READ_BUFFER_SIZE - self->rbuf_end,
				  G_PRIORITY_DEFAULT,
				  ms_smtp_client_cancellable(task),
				  ms_smtp_client_read_cb,
				  task);
}

/* reads one complete reply to step into helper->reply, then calls next; with pipelining it
 * may already be in the buffer */
static void
ms_smtp_client_read_reply(GTask *task, const gchar *step, MsSmtpClientStepFunc next)
{
	MsSmtpClientHelper *helper = g_task_get_task_data(task);

	helper->step = step;
	helper->next = next;
	ms_smtp_client_read_more(task);
}

/* writing */

static void
ms_smtp_client_write_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	GTask *task = G_TASK(user_data);
	MsSmtpClientHelper *helper = g_task_get_task_data(task);
	g_autoptr(GError) error_local = NULL;

	ms_smtp_client_helper_free_out(helper);
	if (!g_output_stream_write_all_finish(G_OUTPUT_STREAM(source), res, NULL, &error_local)) {
		ms_smtp_client_return_error(task,
					    ms_smtp_client_io_error(helper, error_local, TRUE));
		return;
	}
	ms_smtp_client_read_reply(task, helper->step, helper->next);
}

/* writes helper->out (commands for step and what follows), then reads the reply to step */
static void
ms_smtp_client_write_out(GTask *task, const gchar *step, MsSmtpClientStepFunc next)
{
	MsSmtpClientHelper *helper = g_task_get_task_data(task);

	helper->step = step;
	helper->next = next;
	g_output_stream_write_all_async(g_io_stream_get_output_stream(helper->self->stream),
					helper->out,
					helper->out_len,
					G_PRIORITY_DEFAULT,
					ms_smtp_client_cancellable(task),
					ms_smtp_client_write_cb,
					task);
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
	ms_smtp_client_helper_free_out(helper);
	helper->out = g_strconcat(line, "\r\n", NULL);
	helper->out_len = strlen(helper->out);
	helper->out_secret = secret;
	ms_smtp_client_write_out(task, step, next);
}

/* SMTP is spoken over stream from now on, with an empty buffer: nothing read before (a
 * STARTTLS injection) can leak into what is read after */
static void
ms_smtp_client_set_stream(MsSmtpClient *self, GIOStream *stream)
{
	g_set_object(&self->stream, stream);
	self->rbuf_start = 0;
	self->rbuf_end = 0;
}

/* a server may end an idle session at any time (its idle timeout, a restart), with EOF or a
 * 421 nobody asked for: look, without blocking, before the session carries a message, so
 * that a closed one is reported as such instead of failing a transaction half-way */
static gboolean
ms_smtp_client_check_idle(MsSmtpClient *self)
{
	GInputStream *input = NULL;
	g_autoptr(GError) error_local = NULL;
	g_autofree gchar *text = NULL;
	gssize n = 0;

	if (!self->open)
		return FALSE;
	if (self->busy)
		return TRUE;
	input = g_io_stream_get_input_stream(self->stream);
	if (self->rbuf_end == self->rbuf_start) {
		if (!G_IS_POLLABLE_INPUT_STREAM(input) ||
		    !g_pollable_input_stream_can_poll(G_POLLABLE_INPUT_STREAM(input)))
			return TRUE;
		self->rbuf_start = 0;
		self->rbuf_end = 0;
		n = g_pollable_input_stream_read_nonblocking(G_POLLABLE_INPUT_STREAM(input),
							     self->rbuf,
							     MS_SMTP_CLIENT_READ_BUFFER_SIZE,
							     NULL,
							     &error_local);
		if (n < 0 && g_error_matches(error_local, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
			return TRUE;
		if (n > 0)
			self->rbuf_end = n;
	}
	if (self->rbuf_end > self->rbuf_start) {
		const gchar *line = NULL;
		gsize len = 0;

		while (text == NULL && ms_smtp_client_take_line(self, &line, &len)) {
			MsSmtpReply *reply = NULL;

			ms_smtp_client_log_line(line, len);
			if (!ms_smtp_reply_parser_feed(self->parser, line, len, &reply, NULL))
				break;
			if (reply != NULL) {
				text = ms_smtp_reply_to_string(reply);
				ms_smtp_reply_free(reply);
			}
		}
	}
	g_clear_error(&self->closed_error);
	if (text != NULL) {
		ms_smtp_client_set_last_reply(self, text);
		self->closed_error =
		    g_error_new(MS_ERROR,
				MS_ERROR_CONNECTION,
				_("%s closed the connection while it was idle: %s"),
				self->server,
				text);
	} else if (n > 0) {
		self->closed_error =
		    g_error_new(MS_ERROR,
				MS_ERROR_CONNECTION,
				_("%s sent data nobody asked for while the session "
				  "was idle"),
				self->server);
	} else if (n < 0) {
		self->closed_error = g_error_new(MS_ERROR,
						 MS_ERROR_CONNECTION,
						 _("connection to %s lost while it was idle: %s"),
						 self->server,
						 error_local->message);
	} else {
		self->closed_error = g_error_new(MS_ERROR,
						 MS_ERROR_CONNECTION,
						 _("%s closed the connection while it was idle"),
						 self->server);
	}
	g_debug("%s", self->closed_error->message);
	ms_smtp_client_teardown(self);
	return FALSE;
}

/* close: QUIT */

static void
ms_smtp_client_close_stream_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	GTask *task = G_TASK(user_data);
	MsSmtpClientHelper *helper = g_task_get_task_data(task);
	g_autoptr(GError) error_local = NULL;

	if (!g_io_stream_close_finish(G_IO_STREAM(source), res, &error_local)) {
		g_debug("closing the connection to %s: %s",
			helper->self->server,
			error_local->message);
	}
	ms_smtp_client_teardown(helper->self);
	ms_smtp_client_op_done(task);
	g_task_return_boolean(task, TRUE);
	g_object_unref(task);
}

static void
ms_smtp_client_quit_cb(GTask *task)
{
	MsSmtpClientHelper *helper = g_task_get_task_data(task);

	helper->self->open = FALSE;
	g_io_stream_close_async(helper->self->stream,
				G_PRIORITY_DEFAULT,
				NULL,
				ms_smtp_client_close_stream_cb,
				task);
}

/* a transaction */

/* the text of command i, without CRLF */
static gchar *
ms_smtp_client_transaction_line(MsSmtpClientHelper *helper, guint i)
{
	/* SIZE= is the spooled size; a message re-encoded on the way (8BITMIME downgrade) grows
	 * by an amount known only once it is sent, so it declares none rather than too little
	 * (RFC 1870 lets a client leave it out; the server's limit was checked against the
	 * spooled size, which the re-encoding only makes larger) */
	if (i == 0 && helper->size_param != NULL && helper->downgrade == NULL) {
		return g_strdup_printf("MAIL FROM:<%s> SIZE=%" G_GUINT64_FORMAT "%s",
				       helper->envelope_from,
				       helper->size,
				       helper->mail_params);
	}
	if (i == 0)
		return g_strdup_printf("MAIL FROM:<%s>%s",
				       helper->envelope_from,
				       helper->mail_params);
	if (i <= helper->n_recipients)
		return g_strdup_printf("RCPT TO:<%s>", helper->recipients[i - 1]);
	return g_strdup("DATA");
}

/* command i as error messages name what was refused */
static gchar *
ms_smtp_client_transaction_what(MsSmtpClientHelper *helper, guint i)
{
	if (i == 0)
		return g_strdup_printf("MAIL FROM:<%s>", helper->envelope_from);
	if (i <= helper->n_recipients)
		return g_strdup_printf("RCPT TO:<%s>", helper->recipients[i - 1]);
	return g_strdup("DATA");
}

/* command i as a step of error messages about the connection */
static const gchar *
ms_smtp_client_transaction_step(MsSmtpClientHelper *helper, guint i)
{
	if (i == 0)
		return "MAIL FROM";
	if (i <= helper->n_recipients)
		return "RCPT TO";
	return "DATA";
}

static void
ms_smtp_client_transaction_return_failure(GTask *task)
{
	MsSmtpClientHelper *helper = g_task_get_task_data(task);
	GError *error = g_steal_pointer(&helper->failure);

	g_debug("transaction with %s failed: %s", helper->self->server, error->message);
	ms_smtp_client_op_done(task);
	g_task_return_error(task, error);
	g_object_unref(task);
}

static void
ms_smtp_client_transaction_rset_cb(GTask *task)
{
	MsSmtpClientHelper *helper = g_task_get_task_data(task);

	/* a session in an unknown state never carries another message */
	if (!ms_smtp_reply_is_positive(helper->reply))
		ms_smtp_client_teardown(helper->self);
	ms_smtp_client_transaction_return_failure(task);
}

static void
ms_smtp_client_transaction_rset(GTask *task)
{
	MsSmtpClientHelper *helper = g_task_get_task_data(task);

	/* send() drops the connection after a failure anyway */
	if (helper->all_or_nothing) {
		ms_smtp_client_transaction_return_failure(task);
		return;
	}
	ms_smtp_client_command(task, "RSET", FALSE, "RSET", ms_smtp_client_transaction_rset_cb);
}

static void
ms_smtp_client_transaction_dot_cb(GTask *task)
{
	MsSmtpClientHelper *helper = g_task_get_task_data(task);

	if (ms_smtp_reply_get_code(helper->reply) == 421) {
		ms_smtp_client_teardown(helper->self);
		ms_smtp_client_transaction_return_failure(task);
		return;
	}
	ms_smtp_client_transaction_rset(task);
}

/* the transaction failed with a reply (not with the connection): end it so that the session
 * can carry the next one */
static void
ms_smtp_client_transaction_fail(GTask *task, GError *error)
{
	MsSmtpClientHelper *helper = g_task_get_task_data(task);

	helper->failure = error;
	helper->quiet = TRUE;
	/* RFC 2920 §3.1: a DATA accepted although the transaction failed gets a lone dot,
	 * never the message */
	if (helper->data_code == 354) {
		helper->data_code = 0;
		g_debug("C: .");
		ms_smtp_client_helper_free_out(helper);
		helper->out = g_strdup(".\r\n");
		helper->out_len = strlen(helper->out);
		ms_smtp_client_write_out(task, "DATA", ms_smtp_client_transaction_dot_cb);
		return;
	}
	ms_smtp_client_transaction_rset(task);
}

/* the transaction failed because of refusal: its reply is the one to show (with pipelining
 * other replies came after it) */
static void
ms_smtp_client_transaction_refused(GTask *task, MsSmtpClientRefusal *refusal)
{
	MsSmtpClientHelper *helper = g_task_get_task_data(task);

	ms_smtp_client_set_last_reply(helper->self, refusal->reply);
	ms_smtp_client_transaction_fail(task,
					ms_smtp_client_refusal_error(helper->self,
								     refusal->what,
								     refusal->code,
								     refusal->reply));
}

static void
ms_smtp_client_data_end_cb(GTask *task)
{
	MsSmtpClientHelper *helper = g_task_get_task_data(task);
	MsSmtpClient *self = helper->self;

	if (ms_smtp_reply_is_positive(helper->reply)) {
		helper->result->reply = ms_smtp_reply_to_string(helper->reply);
		self->transactions++;
		ms_smtp_client_op_done(task);
		g_task_return_pointer(task,
				      g_steal_pointer(&helper->result),
				      (GDestroyNotify)ms_smtp_result_free);
		g_object_unref(task);
		return;
	}
	/* 421: the server closes the connection, whatever the command */
	if (ms_smtp_reply_get_code(helper->reply) == 421) {
		ms_smtp_client_return_error(
		    task,
		    ms_smtp_client_reply_error(helper, _("the end of the message")));
		return;
	}
	ms_smtp_client_transaction_fail(
	    task,
	    ms_smtp_client_reply_error(helper, _("the end of the message")));
}

static void
ms_smtp_client_read_chunk(GTask *task);

static void
ms_smtp_client_write_chunk_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	GTask *task = G_TASK(user_data);
	MsSmtpClientHelper *helper = g_task_get_task_data(task);
	g_autoptr(GError) error_local = NULL;

	if (!g_output_stream_write_all_finish(G_OUTPUT_STREAM(source), res, NULL, &error_local)) {
		ms_smtp_client_return_error(task,
					    ms_smtp_client_io_error(helper, error_local, TRUE));
		return;
	}
	ms_smtp_client_emit_progress(helper->self,
				     MS_SMTP_STAGE_SENDING,
				     helper->consumed,
				     helper->size);
	if (helper->consumed < helper->size) {
		ms_smtp_client_read_chunk(task);
		return;
	}
	g_debug("C: <message, %" G_GUINT64_FORMAT " bytes>", helper->size);
	/* the whole message is out: whether it is accepted is up to the server now, and only
	 * its reply tells; cancelling would turn a delivered message into a failed one */
	helper->uncancellable = TRUE;
	ms_smtp_client_read_reply(task, "DATA", ms_smtp_client_data_end_cb);
}

/* runs a chunk of the message through the 8BITMIME downgrade into out; at_end flushes what
 * the converter still holds. The converter keeps partial lines itself, so it takes all input */
static gboolean
ms_smtp_client_downgrade_chunk(GConverter *converter,
			       const guint8 *data,
			       gsize len,
			       gboolean at_end,
			       GByteArray *out,
			       GError **error)
{
	g_byte_array_set_size(out, 0);
	for (;;) {
		g_autoptr(GError) error_local = NULL;
		GConverterResult result;
		gsize bytes_read = 0;
		gsize bytes_written = 0;
		guint old_len = out->len;

		g_byte_array_set_size(out, old_len + MS_SMTP_CLIENT_CHUNK_SIZE);
		result =
		    g_converter_convert(converter,
					data,
					len,
					out->data + old_len,
					MS_SMTP_CLIENT_CHUNK_SIZE,
					at_end ? G_CONVERTER_INPUT_AT_END : G_CONVERTER_NO_FLAGS,
					&bytes_read,
					&bytes_written,
					&error_local);
		g_byte_array_set_size(out, old_len + (guint)bytes_written);
		if (result == G_CONVERTER_ERROR) {
			/* it holds a partial line and waits for the next chunk */
			if (!at_end && len == 0 &&
			    g_error_matches(error_local, G_IO_ERROR, G_IO_ERROR_PARTIAL_INPUT))
				return TRUE;
			g_propagate_error(error, g_steal_pointer(&error_local));
			return FALSE;
		}
		if (result == G_CONVERTER_FINISHED)
			return TRUE;
		data += bytes_read;
		len -= bytes_read;
		/* what it still holds comes out with the next chunk */
		if (len == 0 && !at_end)
			return TRUE;
		if (bytes_read == 0 && bytes_written == 0) {
			g_set_error_literal(error,
					    G_IO_ERROR,
					    G_IO_ERROR_FAILED,
					    "the converter makes no progress");
			return FALSE;
		}
	}
}

/* dot-stuffs data (the last of the message once consumed reaches size) and writes it; the
 * next chunk is read only once this one is written, so at most one chunk is in memory */
static void
ms_smtp_client_write_chunk(GTask *task, const guint8 *data, gsize len)
{
	MsSmtpClientHelper *helper = g_task_get_task_data(task);

	g_byte_array_set_size(helper->chunk, 0);
	helper->consumed += len;
	if (helper->downgrade != NULL) {
		g_autoptr(GError) error = NULL;

		if (!ms_smtp_client_downgrade_chunk(helper->downgrade,
						    data,
						    len,
						    helper->consumed == helper->size,
						    helper->downgraded,
						    &error)) {
			ms_smtp_client_return_error(
			    task,
			    g_error_new(MS_ERROR,
					MS_ERROR_STORAGE,
					_("cannot convert the message for a server without "
					  "8BITMIME: %s"),
					error->message));
			return;
		}
		data = helper->downgraded->data;
		len = helper->downgraded->len;
	}
	ms_dot_stuffer_feed(&helper->stuffer, data, len, helper->chunk);
	if (helper->consumed == helper->size)
		ms_dot_stuffer_finish(&helper->stuffer, helper->chunk);
	g_output_stream_write_all_async(g_io_stream_get_output_stream(helper->self->stream),
					helper->chunk->data,
					helper->chunk->len,
					G_PRIORITY_DEFAULT,
					ms_smtp_client_cancellable(task),
					ms_smtp_client_write_chunk_cb,
					task);
}

/* the message cannot be read: the server has part of it, and must never get the final dot
 * that would make a truncated message a delivered one, so the connection is dropped */
static void
ms_smtp_client_read_chunk_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	GTask *task = G_TASK(user_data);
	MsSmtpClientHelper *helper = g_task_get_task_data(task);
	g_autoptr(GError) error_local = NULL;
	g_autoptr(GBytes) bytes = NULL;
	const guint8 *data = NULL;
	gsize len = 0;

	bytes = g_input_stream_read_bytes_finish(G_INPUT_STREAM(source), res, &error_local);
	if (bytes == NULL && g_error_matches(error_local, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
		ms_smtp_client_return_error(task, g_steal_pointer(&error_local));
		return;
	}
	if (bytes == NULL) {
		ms_smtp_client_return_error(
		    task,
		    g_error_new(MS_ERROR,
				MS_ERROR_STORAGE,
				_("cannot read the message from the spool: %s"),
				error_local->message));
		return;
	}
	data = g_bytes_get_data(bytes, &len);
	if (len == 0) {
		ms_smtp_client_return_error(
		    task,
		    g_error_new(MS_ERROR,
				MS_ERROR_STORAGE,
				/* PRIu64, not GLib's format macros: xgettext understands only it */
				_("cannot read the message from the spool: it ends after %" PRIu64
				  " of %" PRIu64 " bytes"),
				(guint64)helper->consumed,
				(guint64)helper->size));
		return;
	}
	ms_smtp_client_write_chunk(task, data, len);
}

/* reads the next chunk of the message; a read may return less than asked (a pipe), which is
 * fine, only the end of the input before size bytes is not */
static void
ms_smtp_client_read_chunk(GTask *task)
{
	MsSmtpClientHelper *helper = g_task_get_task_data(task);
	guint64 remaining = helper->size - helper->consumed;

	g_input_stream_read_bytes_async(helper->input,
					(gsize)MIN(remaining, MS_SMTP_CLIENT_CHUNK_SIZE),
					G_PRIORITY_DEFAULT,
					ms_smtp_client_cancellable(task),
					ms_smtp_client_read_chunk_cb,
					task);
}

static void
ms_smtp_client_transaction_data(GTask *task)
{
	MsSmtpClientHelper *helper = g_task_get_task_data(task);

	ms_dot_stuffer_init(&helper->stuffer);
	helper->consumed = 0;
	/* room for a chunk and some dot-stuffing; it grows if a chunk needs more */
	helper->chunk =
	    g_byte_array_sized_new((guint)MIN(helper->size, MS_SMTP_CLIENT_CHUNK_SIZE) + 1024);
	if (helper->downgrade != NULL) {
		g_converter_reset(helper->downgrade);
		helper->downgraded = g_byte_array_new();
	}
	helper->step = "DATA";
	/* an empty message is just the terminator */
	if (helper->size == 0) {
		ms_smtp_client_write_chunk(task, NULL, 0);
		return;
	}
	ms_smtp_client_read_chunk(task);
}

static void
ms_smtp_client_transaction_send(GTask *task);

/* the reply to command n_replied of the transaction */
static void
ms_smtp_client_transaction_reply_cb(GTask *task)
{
	MsSmtpClientHelper *helper = g_task_get_task_data(task);
	guint i = helper->n_replied++;
	g_autofree gchar *what = ms_smtp_client_transaction_what(helper, i);

	/* 421: the server closes the connection, whatever the command */
	if (ms_smtp_reply_get_code(helper->reply) == 421) {
		ms_smtp_client_return_error(task, ms_smtp_client_reply_error(helper, what));
		return;
	}
	if (i == 0) {
		helper->mail_ok = ms_smtp_reply_is_positive(helper->reply);
		if (!helper->mail_ok)
			helper->mail_refusal = ms_smtp_client_refusal_new(helper, what);
	} else if (i <= helper->n_recipients && ms_smtp_reply_is_positive(helper->reply)) {
		helper->accepted++;
	} else if (i <= helper->n_recipients) {
		gboolean transient = ms_smtp_reply_is_transient(helper->reply);

		g_hash_table_replace(transient ? helper->result->deferred
					       : helper->result->rejected,
				     g_strdup(helper->recipients[i - 1]),
				     ms_smtp_reply_to_string(helper->reply));
		if (transient && helper->rcpt_first_deferred == NULL)
			helper->rcpt_first_deferred = ms_smtp_client_refusal_new(helper, what);
		if (!transient && helper->rcpt_first_rejected == NULL)
			helper->rcpt_first_rejected = ms_smtp_client_refusal_new(helper, what);
		if (helper->rcpt_first == NULL)
			helper->rcpt_first = ms_smtp_client_refusal_new(helper, what);
	} else {
		helper->data_code = ms_smtp_reply_get_code(helper->reply);
	}

	/* the replies to the rest of this write */
	if (helper->n_replied < helper->n_sent) {
		ms_smtp_client_read_reply(
		    task,
		    ms_smtp_client_transaction_step(helper, helper->n_replied),
		    ms_smtp_client_transaction_reply_cb);
		return;
	}
	if (!helper->mail_ok) {
		ms_smtp_client_transaction_refused(task, helper->mail_refusal);
		return;
	}
	if (helper->all_or_nothing && helper->rcpt_first != NULL) {
		ms_smtp_client_transaction_refused(task, helper->rcpt_first);
		return;
	}
	/* every recipient refused: a 4xx among them makes it worth a retry */
	if (helper->n_replied > helper->n_recipients && helper->accepted == 0) {
		ms_smtp_client_transaction_refused(task,
						   helper->rcpt_first_deferred != NULL
						       ? helper->rcpt_first_deferred
						       : helper->rcpt_first_rejected);
		return;
	}
	if (helper->n_sent < helper->n_recipients + 2) {
		ms_smtp_client_transaction_send(task);
		return;
	}
	/* DATA was the last command */
	if (helper->data_code != 354) {
		ms_smtp_client_transaction_fail(task, ms_smtp_client_reply_error(helper, "DATA"));
		return;
	}
	ms_smtp_client_transaction_data(task);
}

/* writes the next commands: with PIPELINING (RFC 2920) MAIL FROM, every RCPT TO and DATA in
 * one write, whose replies are then read in order; without, one command at a time */
static void
ms_smtp_client_transaction_send(GTask *task)
{
	MsSmtpClientHelper *helper = g_task_get_task_data(task);
	MsSmtpClient *self = helper->self;
	guint n_commands = helper->n_recipients + 2;
	guint first = helper->n_sent;
	guint end = first + 1;
	g_autoptr(GString) out = g_string_new(NULL);

	if (self->extensions != NULL && g_hash_table_contains(self->extensions, "PIPELINING"))
		end = MIN(first + MS_SMTP_CLIENT_PIPELINE_MAX, n_commands);
	/* all or nothing: DATA only once every recipient is known to be accepted */
	if (helper->all_or_nothing && first < n_commands - 1 && end > n_commands - 1)
		end = n_commands - 1;
	for (guint i = first; i < end; i++) {
		g_autofree gchar *line = ms_smtp_client_transaction_line(helper, i);

		g_debug("C: %s", line);
		g_string_append(out, line);
		g_string_append(out, "\r\n");
	}
	helper->n_sent = end;
	ms_smtp_client_helper_free_out(helper);
	helper->out_len = out->len;
	helper->out = g_string_free(g_steal_pointer(&out), FALSE);
	ms_smtp_client_write_out(task,
				 ms_smtp_client_transaction_step(helper, first),
				 ms_smtp_client_transaction_reply_cb);
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
ms_smtp_client_get_auth_mechanisms(MsSmtpClient *self);

static void
ms_smtp_client_log_tls(MsSmtpClient *self)
{
	g_autofree gchar *cipher = g_tls_connection_get_ciphersuite_name(self->tls);
	GTlsProtocolVersion version = g_tls_connection_get_protocol_version(self->tls);

	g_debug("TLS with %s: %s, %s",
		self->server,
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
ms_smtp_client_build_report(MsSmtpClient *self)
{
	MsAccount *account = self->account;
	GVariantBuilder builder;
	g_autoptr(GPtrArray) extensions = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) mechs = ms_smtp_client_get_auth_mechanisms(self);
	GTlsCertificate *cert = NULL;
	g_autofree gchar *subject = NULL;
	g_autofree gchar *issuer = NULL;
	g_autofree gchar *sha256 = NULL;
	g_autoptr(GDateTime) not_after = NULL;
	g_autofree gchar *cipher = NULL;

	if (self->extensions != NULL) {
		GHashTableIter iter;
		gpointer key = NULL;
		gpointer value = NULL;

		g_hash_table_iter_init(&iter, self->extensions);
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

	if (self->tls != NULL) {
		cert = g_tls_connection_get_peer_certificate(self->tls);
		cipher = g_tls_connection_get_ciphersuite_name(self->tls);
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
			      ms_smtp_client_variant_new_string(self->greeting));
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
	    g_variant_new_string(self->auth_mech != NULL ? self->auth_mech : "none"));
	g_variant_builder_add(
	    &builder,
	    "{sv}",
	    "tls-version",
	    g_variant_new_string(self->tls != NULL
				     ? ms_smtp_client_tls_version_to_string(
					   g_tls_connection_get_protocol_version(self->tls))
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
	    g_variant_new_uint32((guint32)((g_get_monotonic_time() - self->started) / 1000)));
	return g_variant_ref_sink(g_variant_builder_end(&builder));
}

/* after EHLO, TLS and AUTH: the session is ready for transactions */
static void
ms_smtp_client_open_done(GTask *task)
{
	MsSmtpClientHelper *helper = g_task_get_task_data(task);

	helper->self->open = TRUE;
	ms_smtp_client_op_done(task);
	g_task_return_boolean(task, TRUE);
	g_object_unref(task);
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
			helper->self->server,
			ms_account_get_username(account),
			helper->self->auth_mech);
		ms_smtp_client_open_done(task);
		return;
	}
	if (ms_smtp_reply_is_transient(helper->reply)) {
		ms_smtp_client_return_error(task,
					    g_error_new(MS_ERROR,
							MS_ERROR_TEMPORARY,
							_("%s cannot log in user '%s' right now "
							  "(AUTH %s): %s"),
							helper->self->server,
							ms_account_get_username(account),
							helper->self->auth_mech,
							text));
		return;
	}
	ms_smtp_client_return_error(task,
				    g_error_new(MS_ERROR,
						MS_ERROR_AUTH_FAILED,
						_("%s rejected the login of user '%s' (AUTH %s): "
						  "%s"),
						helper->self->server,
						ms_account_get_username(account),
						helper->self->auth_mech,
						text));
}

/* the base64 text of a 334 challenge */
static const gchar *
ms_smtp_client_challenge(MsSmtpClientHelper *helper)
{
	const gchar *const *lines = ms_smtp_reply_get_lines(helper->reply);
	return lines[0] != NULL ? lines[0] : "";
}

static void
ms_smtp_client_auth_failed(GTask *task, const gchar *what)
{
	MsSmtpClientHelper *helper = g_task_get_task_data(task);

	ms_smtp_client_return_error(task,
				    g_error_new(MS_ERROR,
						MS_ERROR_AUTH_FAILED,
						_("%s: AUTH %s failed: %s"),
						helper->self->server,
						helper->self->auth_mech,
						what));
}

/* TRUE when the reply is a 334 challenge to answer; else the exchange is over and its
 * outcome has been handled */
static gboolean
ms_smtp_client_auth_challenged(GTask *task)
{
	MsSmtpClientHelper *helper = g_task_get_task_data(task);

	if (ms_smtp_reply_get_code(helper->reply) == 334)
		return TRUE;
	ms_smtp_client_auth_done_cb(task);
	return FALSE;
}

/* answers a challenge with response, which is secret; NULL: error says why the challenge
 * cannot be answered, and the login fails */
static void
ms_smtp_client_auth_respond(GTask *task,
			    const gchar *response,
			    const GError *error,
			    MsSmtpClientStepFunc next)
{
	if (response == NULL) {
		ms_smtp_client_auth_failed(task,
					   error != NULL ? error->message
							 : _("cannot answer the challenge"));
		return;
	}
	ms_smtp_client_command(task, response, TRUE, "AUTH", next);
}

/* RFC 4954 §4: after the last challenge, the client's empty line gets the final reply */
static void
ms_smtp_client_auth_scram_final_cb(GTask *task)
{
	MsSmtpClientHelper *helper = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;

	if (ms_smtp_reply_get_code(helper->reply) != 334) {
		/* a success without the server's proof is not one: it did not show that it
		 * knows the password, so it may not be the server it claims to be */
		if (ms_smtp_reply_is_positive(helper->reply)) {
			ms_smtp_client_auth_failed(task,
						   _("the server did not prove that it knows the "
						     "password (no server signature)"));
			return;
		}
		ms_smtp_client_auth_done_cb(task);
		return;
	}
	if (!ms_sasl_scram_verify_server_final(helper->scram,
					       ms_smtp_client_challenge(helper),
					       &error)) {
		ms_smtp_client_auth_failed(task, error->message);
		return;
	}
	ms_smtp_client_command(task, "", FALSE, "AUTH", ms_smtp_client_auth_done_cb);
}

static void
ms_smtp_client_auth_scram_cb(GTask *task)
{
	MsSmtpClientHelper *helper = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(MsSmtpClientSecret) response = NULL;

	if (!ms_smtp_client_auth_challenged(task))
		return;
	response =
	    ms_sasl_scram_client_final(helper->scram, ms_smtp_client_challenge(helper), &error);
	ms_smtp_client_auth_respond(task, response, error, ms_smtp_client_auth_scram_final_cb);
}

static void
ms_smtp_client_auth_cram_md5_cb(GTask *task)
{
	MsSmtpClientHelper *helper = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(MsSmtpClientSecret) response = NULL;

	if (!ms_smtp_client_auth_challenged(task))
		return;
	response = ms_sasl_cram_md5_response(ms_account_get_username(helper->self->account),
					     helper->self->password,
					     ms_smtp_client_challenge(helper),
					     &error);
	ms_smtp_client_auth_respond(task, response, error, ms_smtp_client_auth_done_cb);
}

/* XOAUTH2 refused: the server explains in a 334 challenge (base64 JSON) and wants an empty
 * line before its final 535 */
static void
ms_smtp_client_auth_xoauth2_cb(GTask *task)
{
	if (!ms_smtp_client_auth_challenged(task))
		return;
	ms_smtp_client_command(task, "", FALSE, "AUTH", ms_smtp_client_auth_done_cb);
}

static void
ms_smtp_client_auth_login_password_cb(GTask *task)
{
	MsSmtpClientHelper *helper = g_task_get_task_data(task);
	g_autoptr(MsSmtpClientSecret) response = NULL;

	if (!ms_smtp_client_auth_challenged(task))
		return;
	response = ms_sasl_login_response(helper->self->password);
	ms_smtp_client_auth_respond(task, response, NULL, ms_smtp_client_auth_done_cb);
}

static void
ms_smtp_client_auth_login_cb(GTask *task)
{
	MsSmtpClientHelper *helper = g_task_get_task_data(task);
	g_autoptr(MsSmtpClientSecret) response = NULL;

	if (!ms_smtp_client_auth_challenged(task))
		return;
	response = ms_sasl_login_response(ms_account_get_username(helper->self->account));
	ms_smtp_client_auth_respond(task, response, NULL, ms_smtp_client_auth_login_password_cb);
}

/* the mechanisms of "250-AUTH PLAIN LOGIN", upper case; the reply parser already merged the
 * old "250-AUTH=LOGIN" form into "AUTH" */
static GPtrArray *
ms_smtp_client_get_auth_mechanisms(MsSmtpClient *self)
{
	const gchar *params = NULL;
	g_auto(GStrv) split = NULL;
	g_autoptr(GPtrArray) mechs = g_ptr_array_new_with_free_func(g_free);

	if (self->extensions != NULL)
		params = g_hash_table_lookup(self->extensions, "AUTH");
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

/* the SASL name of an auth= value other than auto and none */
static const gchar *
ms_smtp_client_auth_mech_name(MsAuthMethod auth)
{
	switch (auth) {
	case MS_AUTH_PLAIN:
		return "PLAIN";
	case MS_AUTH_LOGIN:
		return "LOGIN";
	case MS_AUTH_CRAM_MD5:
		return "CRAM-MD5";
	case MS_AUTH_SCRAM_SHA_256:
		return "SCRAM-SHA-256";
	case MS_AUTH_XOAUTH2:
		return "XOAUTH2";
	default:
		g_assert_not_reached();
	}
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
			    self->server);
		return FALSE;
	}
	if (!ms_tls_policy_check_auth(self->policy, self->tls != NULL, error))
		return FALSE;

	mechs = ms_smtp_client_get_auth_mechanisms(helper->self);
	if (mechs->len == 0) {
		g_set_error(error,
			    MS_ERROR,
			    MS_ERROR_AUTH_FAILED,
			    self->tls != NULL
				? _("%s does not offer AUTH (after TLS): remove username= to send "
				    "without authentication")
				: _("%s does not offer AUTH: remove username= to send without "
				    "authentication"),
			    host);
		return FALSE;
	}
	if (auth == MS_AUTH_AUTO) {
		/* the strongest offered: SCRAM proves both sides and never shows the password,
		 * CRAM-MD5 at least does not show it; PLAIN and LOGIN are equal on the wire,
		 * PLAIN needs one round trip less. XOAUTH2 needs a token, so only on request */
		const gchar *strongest_first[] = {"SCRAM-SHA-256", "CRAM-MD5", "PLAIN", "LOGIN"};

		for (guint i = 0; i < G_N_ELEMENTS(strongest_first); i++) {
			if (ms_smtp_client_has_mech(mechs, strongest_first[i])) {
				*mech = strongest_first[i];
				return TRUE;
			}
		}
	} else {
		const gchar *wanted = ms_smtp_client_auth_mech_name(auth);

		if (ms_smtp_client_has_mech(mechs, wanted)) {
			*mech = wanted;
			return TRUE;
		}
	}
	g_ptr_array_add(mechs, NULL);
	offered = g_strjoinv(" ", (gchar **)mechs->pdata);
	if (auth == MS_AUTH_AUTO) {
		g_set_error(
		    error,
		    MS_ERROR,
		    MS_ERROR_AUTH_FAILED,
		    _("%s offers only AUTH %s, and none of these is supported (SCRAM-SHA-256, "
		      "CRAM-MD5, PLAIN, LOGIN; XOAUTH2 with auth=xoauth2)"),
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
		ms_smtp_client_open_done(task);
		return;
	}
	self->auth_mech = mech;
	ms_smtp_client_emit_progress(self, MS_SMTP_STAGE_AUTH, 0, 0);
	if (g_strcmp0(mech, "PLAIN") == 0) {
		g_autoptr(MsSmtpClientSecret) response =
		    ms_sasl_plain_response(ms_account_get_username(self->account), self->password);
		g_autoptr(MsSmtpClientSecret) line = g_strconcat("AUTH PLAIN ", response, NULL);

		ms_smtp_client_command(task, line, TRUE, "AUTH", ms_smtp_client_auth_done_cb);
		return;
	}
	if (g_strcmp0(mech, "XOAUTH2") == 0) {
		/* the password is the OAuth 2.0 access token */
		g_autoptr(MsSmtpClientSecret) response =
		    ms_sasl_xoauth2_response(ms_account_get_username(self->account),
					     self->password);
		g_autoptr(MsSmtpClientSecret) line = g_strconcat("AUTH XOAUTH2 ", response, NULL);

		ms_smtp_client_command(task, line, TRUE, "AUTH", ms_smtp_client_auth_xoauth2_cb);
		return;
	}
	if (g_strcmp0(mech, "SCRAM-SHA-256") == 0) {
		g_autofree gchar *first = NULL;
		g_autofree gchar *line = NULL;

		g_clear_pointer(&helper->scram, ms_sasl_scram_free);
		helper->scram =
		    ms_sasl_scram_new(ms_account_get_username(self->account), self->password, NULL);
		first = ms_sasl_scram_client_first(helper->scram);
		/* the first message holds the user name and a nonce, nothing secret */
		line = g_strconcat("AUTH SCRAM-SHA-256 ", first, NULL);
		ms_smtp_client_command(task, line, FALSE, "AUTH", ms_smtp_client_auth_scram_cb);
		return;
	}
	if (g_strcmp0(mech, "CRAM-MD5") == 0) {
		ms_smtp_client_command(task,
				       "AUTH CRAM-MD5",
				       FALSE,
				       "AUTH",
				       ms_smtp_client_auth_cram_md5_cb);
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
					helper->self->server,
					ms_smtp_client_timeout(helper->self)));
			return;
		}
		if (error_local->domain != G_TLS_ERROR) {
			ms_smtp_client_return_error(
			    task,
			    g_error_new(MS_ERROR,
					MS_ERROR_CONNECTION,
					_("connection to %s lost during the TLS handshake: %s"),
					helper->self->server,
					error_local->message));
			return;
		}
		ms_smtp_client_return_error(task,
					    ms_tls_policy_convert_error(helper->self->policy,
									helper->self->tls,
									error_local));
		return;
	}
	if (!ms_tls_policy_check_peer(helper->self->policy, helper->self->tls, &error_local)) {
		ms_smtp_client_return_error(task, g_steal_pointer(&error_local));
		return;
	}
	ms_smtp_client_log_tls(helper->self);

	/* RFC 3207 §4.2: forget everything learnt before TLS */
	ms_smtp_client_set_stream(helper->self, G_IO_STREAM(helper->self->tls));
	g_clear_pointer(&helper->self->extensions, g_hash_table_unref);
	ms_smtp_client_ehlo(task);
}

static void
ms_smtp_client_starttls_cb(GTask *task)
{
	MsSmtpClientHelper *helper = g_task_get_task_data(task);
	MsSmtpClient *self = helper->self;
	g_autoptr(GIOStream) tls = NULL;
	g_autoptr(GError) error_local = NULL;

	if (ms_smtp_reply_get_code(helper->reply) != 220) {
		if (ms_account_get_security(self->account) == MS_SECURITY_STARTTLS_OPPORTUNISTIC &&
		    ms_smtp_reply_get_code(helper->reply) >= 400) {
			g_autofree gchar *text = ms_smtp_reply_to_string(helper->reply);
			g_debug("%s refused STARTTLS (%s): continuing without TLS",
				self->server,
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
								self->server,
								text));
			return;
		}
		ms_smtp_client_return_error(task, ms_smtp_client_reply_error(helper, "STARTTLS"));
		return;
	}

	/* RFC 3207 §6: whatever follows the 220 in clear was not sent by the server after TLS;
	 * reading it would let a man in the middle inject commands' replies */
	if (self->rbuf_end > self->rbuf_start) {
		ms_smtp_client_return_error(task,
					    g_error_new(MS_ERROR,
							MS_ERROR_TLS,
							_("the server %s sent data after its "
							  "STARTTLS reply; possible "
							  "man-in-the-middle, aborting"),
							self->server));
		return;
	}

	tls =
	    ms_tls_policy_new_connection(self->policy, G_IO_STREAM(self->connection), &error_local);
	if (tls == NULL) {
		ms_smtp_client_return_error(
		    task,
		    ms_tls_policy_convert_error(self->policy, NULL, error_local));
		return;
	}
	self->tls = G_TLS_CONNECTION(g_steal_pointer(&tls));
	ms_smtp_client_emit_progress(self, MS_SMTP_STAGE_TLS, 0, 0);
	g_tls_connection_handshake_async(self->tls,
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

	if (helper->self->tls != NULL) {
		ms_smtp_client_auth(task);
		return;
	}
	if (helper->self->extensions != NULL)
		offered = g_hash_table_contains(helper->self->extensions, "STARTTLS");
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
	g_clear_pointer(&helper->self->extensions, g_hash_table_unref);
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
	g_clear_pointer(&helper->self->extensions, g_hash_table_unref);
	helper->self->extensions = ms_smtp_reply_get_extensions(helper->reply);
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
		helper->self->greeting = g_steal_pointer(&text);
		ms_smtp_client_ehlo(task);
		return;
	}
	if (ms_smtp_reply_is_transient(helper->reply)) {
		ms_smtp_client_return_error(task,
					    g_error_new(MS_ERROR,
							MS_ERROR_TEMPORARY,
							_("%s is not accepting mail right now: %s"),
							helper->self->server,
							text));
		return;
	}
	ms_smtp_client_return_error(task,
				    g_error_new(MS_ERROR,
						MS_ERROR_REJECTED,
						_("%s refused the connection: %s"),
						helper->self->server,
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
	if (event == G_SOCKET_CLIENT_CONNECTED && G_IS_SOCKET_CONNECTION(connection)) {
		g_autoptr(GError) error_local = NULL;
		GSocket *socket = g_socket_connection_get_socket(G_SOCKET_CONNECTION(connection));

		/* commands are small and strictly request/response: do not let Nagle delay them */
		if (!g_socket_set_option(socket, IPPROTO_TCP, TCP_NODELAY, 1, &error_local))
			g_debug("cannot set TCP_NODELAY: %s", error_local->message);
	}
}

static GError *
ms_smtp_client_connect_error(MsSmtpClientHelper *helper, const GError *error)
{
	guint timeout = ms_smtp_client_timeout(helper->self);

	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		return g_error_copy(error);

	/* the TCP connection is up and the implicit TLS handshake failed */
	if (helper->self->tls != NULL) {
		if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT)) {
			return g_error_new(MS_ERROR,
					   MS_ERROR_TIMEOUT,
					   _("TLS handshake with %s timed out after %u s"),
					   helper->self->server,
					   timeout);
		}
		if (error->domain == G_TLS_ERROR)
			return ms_tls_policy_convert_error(helper->self->policy,
							   helper->self->tls,
							   error);
		return g_error_new(MS_ERROR,
				   MS_ERROR_CONNECTION,
				   _("connection to %s lost during the TLS handshake: %s"),
				   helper->self->server,
				   error->message);
	}
	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT)) {
		return g_error_new(MS_ERROR,
				   MS_ERROR_TIMEOUT,
				   _("cannot connect to %s: no answer within %u s"),
				   helper->self->server,
				   timeout);
	}
	return g_error_new(MS_ERROR,
			   MS_ERROR_CONNECTION,
			   _("cannot connect to %s: %s"),
			   helper->self->server,
			   error->message);
}

static void
ms_smtp_client_implicit_handshake_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	GTask *task = G_TASK(user_data);
	MsSmtpClientHelper *helper = g_task_get_task_data(task);
	g_autoptr(GError) error_local = NULL;

	if (!g_tls_connection_handshake_finish(G_TLS_CONNECTION(source), res, &error_local)) {
		ms_smtp_client_return_error(task,
					    ms_smtp_client_connect_error(helper, error_local));
		return;
	}
	if (!ms_tls_policy_check_peer(helper->self->policy, helper->self->tls, &error_local)) {
		ms_smtp_client_return_error(task, g_steal_pointer(&error_local));
		return;
	}
	ms_smtp_client_log_tls(helper->self);
	ms_smtp_client_set_stream(helper->self, G_IO_STREAM(helper->self->tls));
	ms_smtp_client_read_reply(task, MS_SMTP_CLIENT_STEP_GREETING, ms_smtp_client_greeting_cb);
}

/* implicit TLS: the TLS connection is made here rather than by GSocketClient, so that the
 * policy's database is in place when it is created (see ms_tls_policy_new_connection()) */
static void
ms_smtp_client_implicit_tls(GTask *task)
{
	MsSmtpClientHelper *helper = g_task_get_task_data(task);
	MsSmtpClient *self = helper->self;
	g_autoptr(GError) error_local = NULL;
	GIOStream *tls;

	tls =
	    ms_tls_policy_new_connection(self->policy, G_IO_STREAM(self->connection), &error_local);
	if (tls == NULL) {
		ms_smtp_client_return_error(
		    task,
		    ms_tls_policy_convert_error(self->policy, NULL, error_local));
		return;
	}
	self->tls = G_TLS_CONNECTION(tls);
	ms_smtp_client_emit_progress(self, MS_SMTP_STAGE_TLS, 0, 0);
	g_tls_connection_handshake_async(self->tls,
					 G_PRIORITY_DEFAULT,
					 ms_smtp_client_cancellable(task),
					 ms_smtp_client_implicit_handshake_cb,
					 task);
}

static void
ms_smtp_client_connect_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	GTask *task = G_TASK(user_data);
	MsSmtpClientHelper *helper = g_task_get_task_data(task);
	g_autoptr(GError) error_local = NULL;

	helper->self->connection =
	    g_socket_client_connect_finish(G_SOCKET_CLIENT(source), res, &error_local);
	g_signal_handlers_disconnect_by_data(helper->self->socket_client, helper->self);
	g_clear_object(&helper->self->socket_client);
	if (helper->self->connection == NULL) {
		ms_smtp_client_return_error(task,
					    ms_smtp_client_connect_error(helper, error_local));
		return;
	}
	g_debug("connected to %s", helper->self->server);
	if (ms_account_get_security(helper->self->account) == MS_SECURITY_TLS) {
		ms_smtp_client_implicit_tls(task);
		return;
	}
	ms_smtp_client_set_stream(helper->self, G_IO_STREAM(helper->self->connection));
	ms_smtp_client_read_reply(task, MS_SMTP_CLIENT_STEP_GREETING, ms_smtp_client_greeting_cb);
}

static void
ms_smtp_client_connect(GTask *task)
{
	MsSmtpClientHelper *helper = g_task_get_task_data(task);
	MsSmtpClient *self = helper->self;
	g_autoptr(GSocketConnectable) address = NULL;

	self->socket_client = g_socket_client_new();
	/* bounds every step: connect, each read and write, and the TLS handshake */
	g_socket_client_set_timeout(self->socket_client, ms_account_get_timeout(self->account));
	/* SMTP never goes through an HTTP proxy, and the proxy resolvers talk to the session
	 * bus */
	g_socket_client_set_enable_proxy(self->socket_client, FALSE);
	g_signal_connect(self->socket_client,
			 "event",
			 G_CALLBACK(ms_smtp_client_socket_event_cb),
			 self);

	ms_smtp_client_emit_progress(self, MS_SMTP_STAGE_CONNECTING, 0, 0);
	g_debug("connecting to %s (security=%s)",
		self->server,
		ms_security_to_string(ms_account_get_security(self->account)));
	address = g_network_address_new(ms_account_get_host(self->account),
					ms_account_get_port(self->account));
	g_socket_client_connect_async(self->socket_client,
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
	return ms_tls_policy_load(self->policy, error);
}

static MsSmtpClientHelper *
ms_smtp_client_helper_new(MsSmtpClient *self)
{
	MsSmtpClientHelper *helper = g_new0(MsSmtpClientHelper, 1);

	helper->self = g_object_ref(self);
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

	/* a message the server accepted stays sent, even if cancelled meanwhile */
	g_task_set_check_cancellable(task, FALSE);
	g_task_set_task_data(task, helper, (GDestroyNotify)ms_smtp_client_helper_free);
	return task;
}

/* the session */

void
ms_smtp_client_open_async(MsSmtpClient *self,
			  GCancellable *cancellable,
			  GAsyncReadyCallback callback,
			  gpointer user_data)
{
	g_autoptr(GTask) task = NULL;
	GError *error = NULL;

	g_return_if_fail(MS_IS_SMTP_CLIENT(self));
	g_return_if_fail(cancellable == NULL || G_IS_CANCELLABLE(cancellable));

	task = ms_smtp_client_task_new(self,
				       ms_smtp_client_helper_new(self),
				       cancellable,
				       callback,
				       user_data);
	g_task_set_source_tag(task, ms_smtp_client_open_async);
	if (self->busy) {
		g_task_return_new_error(task,
					G_IO_ERROR,
					G_IO_ERROR_PENDING,
					"another operation is running on the session with %s",
					self->server);
		return;
	}
	if (self->open) {
		g_task_return_new_error(task,
					G_IO_ERROR,
					G_IO_ERROR_EXISTS,
					"a session with %s is open already",
					self->server);
		return;
	}
	ms_smtp_client_set_last_reply(self, "");
	if (!ms_smtp_client_check_account(self, &error)) {
		g_task_return_error(task, error);
		return;
	}

	/* a fresh session; what the last one learnt is forgotten */
	ms_smtp_client_teardown(self);
	g_clear_error(&self->closed_error);
	g_clear_pointer(&self->extensions, g_hash_table_unref);
	g_clear_pointer(&self->greeting, g_free);
	self->auth_mech = NULL;
	self->transactions = 0;
	self->started = g_get_monotonic_time();
	self->rbuf = g_malloc(MS_SMTP_CLIENT_READ_BUFFER_SIZE);
	self->parser = ms_smtp_reply_parser_new();
	self->busy = TRUE;
	ms_smtp_client_connect(g_steal_pointer(&task));
}

gboolean
ms_smtp_client_open_finish(MsSmtpClient *self, GAsyncResult *res, GError **error)
{
	g_return_val_if_fail(MS_IS_SMTP_CLIENT(self), FALSE);
	g_return_val_if_fail(g_task_is_valid(res, self), FALSE);
	return g_task_propagate_boolean(G_TASK(res), error);
}

/* the first address of the envelope that is not ASCII, NULL if none */
static const gchar *
ms_smtp_client_envelope_utf8_address(MsSmtpClientHelper *helper)
{
	if (ms_address_mailbox_needs_smtputf8(helper->envelope_from))
		return helper->envelope_from;
	for (guint i = 0; i < helper->n_recipients; i++) {
		if (ms_address_mailbox_needs_smtputf8(helper->recipients[i]))
			return helper->recipients[i];
	}
	return NULL;
}

static gboolean
ms_smtp_client_has_extension(MsSmtpClient *self, const gchar *keyword)
{
	return self->extensions != NULL && g_hash_table_contains(self->extensions, keyword);
}

/* what the message needs (RFC 6531 SMTPUTF8, RFC 6152 8BITMIME) against what the server
 * offers: the MAIL FROM parameters, or the downgrade of 8bit parts on the way; refused before
 * anything is sent when UTF-8 addresses meet a server without SMTPUTF8, since no downgrade of
 * an address exists that would still reach the same mailbox */
static gboolean
ms_smtp_client_prepare_body(MsSmtpClient *self,
			    MsSmtpClientHelper *helper,
			    MsMailFlags mail_flags,
			    GError **error)
{
	const gchar *utf8_address = ms_smtp_client_envelope_utf8_address(helper);
	g_autoptr(GString) params = g_string_new(NULL);

	if (utf8_address != NULL)
		mail_flags |= MS_MAIL_FLAG_SMTPUTF8 | MS_MAIL_FLAG_8BITMIME;
	if ((mail_flags & MS_MAIL_FLAG_SMTPUTF8) != 0 &&
	    !ms_smtp_client_has_extension(self, "SMTPUTF8")) {
		if (utf8_address != NULL) {
			g_set_error(error,
				    MS_ERROR,
				    MS_ERROR_REJECTED,
				    _("%s does not offer SMTPUTF8, which the address '%s' needs; "
				      "nothing was sent: use an ASCII address for it or a server "
				      "that offers SMTPUTF8"),
				    self->server,
				    utf8_address);
		} else {
			g_set_error(error,
				    MS_ERROR,
				    MS_ERROR_REJECTED,
				    _("%s does not offer SMTPUTF8, which the UTF-8 addresses in "
				      "the message's header need; nothing was sent: use ASCII "
				      "addresses or a server that offers SMTPUTF8"),
				    self->server);
		}
		return FALSE;
	}
	if ((mail_flags & MS_MAIL_FLAG_8BITMIME) != 0) {
		if (ms_smtp_client_has_extension(self, "8BITMIME"))
			g_string_append(params, " BODY=8BITMIME");
		else
			helper->downgrade = G_CONVERTER(ms_mime_downgrade_new());
	}
	if ((mail_flags & MS_MAIL_FLAG_SMTPUTF8) != 0)
		g_string_append(params, " SMTPUTF8");
	g_free(helper->mail_params);
	helper->mail_params = g_string_free(g_steal_pointer(&params), FALSE);
	return TRUE;
}

static void
ms_smtp_client_transaction_start(MsSmtpClient *self,
				 const gchar *envelope_from,
				 const gchar *const *recipients,
				 MsMailFlags mail_flags,
				 GInputStream *message,
				 guint64 size,
				 gboolean all_or_nothing,
				 GCancellable *cancellable,
				 GAsyncReadyCallback callback,
				 gpointer user_data)
{
	g_autoptr(GTask) task = NULL;
	MsSmtpClientHelper *helper = ms_smtp_client_helper_new(self);
	GError *error = NULL;

	helper->envelope_from = g_strdup(envelope_from != NULL ? envelope_from : "");
	helper->mail_params = g_strdup("");
	helper->recipients = g_strdupv((gchar **)recipients);
	helper->n_recipients = recipients != NULL ? g_strv_length((gchar **)recipients) : 0;
	helper->input = g_object_ref(message);
	helper->size = size;
	helper->all_or_nothing = all_or_nothing;
	helper->result = ms_smtp_result_new();
	task = ms_smtp_client_task_new(self, helper, cancellable, callback, user_data);
	g_task_set_source_tag(task, ms_smtp_client_transaction_stream_async);

	if (self->busy) {
		g_task_return_new_error(task,
					G_IO_ERROR,
					G_IO_ERROR_PENDING,
					"another operation is running on the session with %s",
					self->server);
		return;
	}
	if (!ms_smtp_client_check_envelope(helper->envelope_from, recipients, &error)) {
		g_task_return_error(task, error);
		return;
	}
	ms_smtp_client_set_last_reply(self, "");
	if (!ms_smtp_client_check_idle(self)) {
		if (self->closed_error != NULL) {
			g_task_return_error(task, g_error_copy(self->closed_error));
			return;
		}
		g_task_return_new_error(task,
					MS_ERROR,
					MS_ERROR_CONNECTION,
					_("no open session with %s"),
					self->server);
		return;
	}

	if (self->extensions != NULL)
		helper->size_param = g_hash_table_lookup(self->extensions, "SIZE");
	if (helper->size_param != NULL) {
		guint64 limit = g_ascii_strtoull(helper->size_param, NULL, 10);

		/* RFC 1870: 0 or no value means no fixed limit */
		if (limit > 0 && size > limit) {
			g_task_return_new_error(
			    task,
			    MS_ERROR,
			    MS_ERROR_REJECTED,
			    /* PRIu64, not GLib's format macros: xgettext understands only it */
			    _("the message (%" PRIu64
			      " bytes) is larger than the limit of %s (%" PRIu64 " bytes)"),
			    size,
			    self->server,
			    limit);
			return;
		}
	}

	if (!ms_smtp_client_prepare_body(self, helper, mail_flags, &error)) {
		g_task_return_error(task, error);
		return;
	}

	self->busy = TRUE;
	ms_smtp_client_emit_progress(self, MS_SMTP_STAGE_SENDING, 0, size);
	ms_smtp_client_transaction_send(g_steal_pointer(&task));
}

void
ms_smtp_client_transaction_stream_async(MsSmtpClient *self,
					const gchar *envelope_from,
					const gchar *const *recipients,
					MsMailFlags mail_flags,
					GInputStream *message,
					guint64 size,
					GCancellable *cancellable,
					GAsyncReadyCallback callback,
					gpointer user_data)
{
	g_return_if_fail(MS_IS_SMTP_CLIENT(self));
	g_return_if_fail(G_IS_INPUT_STREAM(message));
	g_return_if_fail(cancellable == NULL || G_IS_CANCELLABLE(cancellable));
	ms_smtp_client_transaction_start(self,
					 envelope_from,
					 recipients,
					 mail_flags,
					 message,
					 size,
					 FALSE,
					 cancellable,
					 callback,
					 user_data);
}

void
ms_smtp_client_transaction_async(MsSmtpClient *self,
				 const gchar *envelope_from,
				 const gchar *const *recipients,
				 GBytes *message,
				 GCancellable *cancellable,
				 GAsyncReadyCallback callback,
				 gpointer user_data)
{
	g_autoptr(GInputStream) input = NULL;

	g_return_if_fail(MS_IS_SMTP_CLIENT(self));
	g_return_if_fail(message != NULL);
	g_return_if_fail(cancellable == NULL || G_IS_CANCELLABLE(cancellable));

	/* one code path: the bytes are read in chunks like a spool file */
	input = g_memory_input_stream_new_from_bytes(message);
	ms_smtp_client_transaction_stream_async(self,
						envelope_from,
						recipients,
						MS_MAIL_FLAG_NONE,
						input,
						g_bytes_get_size(message),
						cancellable,
						callback,
						user_data);
}

MsSmtpResult *
ms_smtp_client_transaction_finish(MsSmtpClient *self, GAsyncResult *res, GError **error)
{
	g_return_val_if_fail(MS_IS_SMTP_CLIENT(self), NULL);
	g_return_val_if_fail(g_task_is_valid(res, self), NULL);
	return g_task_propagate_pointer(G_TASK(res), error);
}

void
ms_smtp_client_close_async(MsSmtpClient *self, GAsyncReadyCallback callback, gpointer user_data)
{
	g_autoptr(GTask) task = NULL;
	MsSmtpClientHelper *helper = NULL;

	g_return_if_fail(MS_IS_SMTP_CLIENT(self));

	helper = ms_smtp_client_helper_new(self);
	helper->closing = TRUE;
	helper->quiet = TRUE;
	task = ms_smtp_client_task_new(self, helper, NULL, callback, user_data);
	g_task_set_source_tag(task, ms_smtp_client_close_async);
	if (self->busy) {
		g_critical("closing the session with %s while another operation runs: cancel it "
			   "first",
			   self->server);
		g_task_return_boolean(task, TRUE);
		return;
	}
	if (!ms_smtp_client_check_idle(self)) {
		g_task_return_boolean(task, TRUE);
		return;
	}
	self->busy = TRUE;
	ms_smtp_client_command(g_steal_pointer(&task),
			       "QUIT",
			       FALSE,
			       "QUIT",
			       ms_smtp_client_quit_cb);
}

void
ms_smtp_client_close_finish(MsSmtpClient *self, GAsyncResult *res)
{
	g_return_if_fail(MS_IS_SMTP_CLIENT(self));
	g_return_if_fail(g_task_is_valid(res, self));
	g_task_propagate_boolean(G_TASK(res), NULL);
}

gboolean
ms_smtp_client_is_open(MsSmtpClient *self)
{
	g_return_val_if_fail(MS_IS_SMTP_CLIENT(self), FALSE);
	return ms_smtp_client_check_idle(self);
}

guint
ms_smtp_client_get_transactions(MsSmtpClient *self)
{
	g_return_val_if_fail(MS_IS_SMTP_CLIENT(self), 0);
	return self->transactions;
}

/* send: open, one transaction, close */

typedef struct {
	gchar *envelope_from;
	gchar **recipients;
	GBytes *message;
	gchar *reply;
} MsSmtpClientSend;

static void
ms_smtp_client_send_free(MsSmtpClientSend *send)
{
	g_free(send->envelope_from);
	g_strfreev(send->recipients);
	g_bytes_unref(send->message);
	g_free(send->reply);
	g_free(send);
}

static void
ms_smtp_client_send_close_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = G_TASK(user_data);
	MsSmtpClientSend *send = g_task_get_task_data(task);

	ms_smtp_client_close_finish(MS_SMTP_CLIENT(source), res);
	g_task_return_pointer(task, g_steal_pointer(&send->reply), g_free);
}

static void
ms_smtp_client_send_transaction_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	MsSmtpClient *self = MS_SMTP_CLIENT(source);
	g_autoptr(GTask) task = G_TASK(user_data);
	MsSmtpClientSend *send = g_task_get_task_data(task);
	g_autoptr(GError) error_local = NULL;
	g_autoptr(MsSmtpResult) result = ms_smtp_client_transaction_finish(self, res, &error_local);

	if (result == NULL) {
		/* no QUIT: the failing reply stays the last one */
		ms_smtp_client_teardown(self);
		g_task_return_error(task, g_steal_pointer(&error_local));
		return;
	}
	send->reply = g_steal_pointer(&result->reply);
	ms_smtp_client_close_async(self, ms_smtp_client_send_close_cb, g_steal_pointer(&task));
}

static void
ms_smtp_client_send_open_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	MsSmtpClient *self = MS_SMTP_CLIENT(source);
	g_autoptr(GTask) task = G_TASK(user_data);
	MsSmtpClientSend *send = g_task_get_task_data(task);
	GCancellable *cancellable = g_task_get_cancellable(task);
	g_autoptr(GInputStream) input = NULL;
	g_autoptr(GError) error_local = NULL;

	if (!ms_smtp_client_open_finish(self, res, &error_local)) {
		g_task_return_error(task, g_steal_pointer(&error_local));
		return;
	}
	input = g_memory_input_stream_new_from_bytes(send->message);
	ms_smtp_client_transaction_start(self,
					 send->envelope_from,
					 (const gchar *const *)send->recipients,
					 MS_MAIL_FLAG_NONE,
					 input,
					 g_bytes_get_size(send->message),
					 TRUE,
					 cancellable,
					 ms_smtp_client_send_transaction_cb,
					 g_steal_pointer(&task));
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
	MsSmtpClientSend *send = NULL;
	GError *error = NULL;

	g_return_if_fail(MS_IS_SMTP_CLIENT(self));
	g_return_if_fail(message != NULL);
	g_return_if_fail(cancellable == NULL || G_IS_CANCELLABLE(cancellable));

	send = g_new0(MsSmtpClientSend, 1);
	send->envelope_from = g_strdup(envelope_from != NULL ? envelope_from : "");
	send->recipients = g_strdupv((gchar **)recipients);
	send->message = g_bytes_ref(message);
	task = g_task_new(self, cancellable, callback, user_data);
	g_task_set_source_tag(task, ms_smtp_client_send_async);
	/* a message the server accepted stays sent, even if cancelled during QUIT */
	g_task_set_check_cancellable(task, FALSE);
	g_task_set_task_data(task, send, (GDestroyNotify)ms_smtp_client_send_free);

	if (!ms_smtp_client_check_envelope(send->envelope_from, recipients, &error)) {
		g_task_return_error(task, error);
		return;
	}
	ms_smtp_client_open_async(self,
				  cancellable,
				  ms_smtp_client_send_open_cb,
				  g_steal_pointer(&task));
}

gchar *
ms_smtp_client_send_finish(MsSmtpClient *self, GAsyncResult *res, GError **error)
{
	g_return_val_if_fail(MS_IS_SMTP_CLIENT(self), NULL);
	g_return_val_if_fail(g_task_is_valid(res, self), NULL);
	return g_task_propagate_pointer(G_TASK(res), error);
}

/* verify: open, report, close */

static void
ms_smtp_client_verify_close_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = G_TASK(user_data);
	GVariant *report = g_task_get_task_data(task);

	ms_smtp_client_close_finish(MS_SMTP_CLIENT(source), res);
	g_task_return_pointer(task, g_variant_ref(report), (GDestroyNotify)g_variant_unref);
}

static void
ms_smtp_client_verify_open_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	MsSmtpClient *self = MS_SMTP_CLIENT(source);
	g_autoptr(GTask) task = G_TASK(user_data);
	g_autoptr(GError) error_local = NULL;

	if (!ms_smtp_client_open_finish(self, res, &error_local)) {
		g_task_return_error(task, g_steal_pointer(&error_local));
		return;
	}
	g_task_set_task_data(task,
			     ms_smtp_client_build_report(self),
			     (GDestroyNotify)g_variant_unref);
	ms_smtp_client_close_async(self, ms_smtp_client_verify_close_cb, g_steal_pointer(&task));
}

void
ms_smtp_client_verify_async(MsSmtpClient *self,
			    GCancellable *cancellable,
			    GAsyncReadyCallback callback,
			    gpointer user_data)
{
	g_autoptr(GTask) task = NULL;

	g_return_if_fail(MS_IS_SMTP_CLIENT(self));
	g_return_if_fail(cancellable == NULL || G_IS_CANCELLABLE(cancellable));

	task = g_task_new(self, cancellable, callback, user_data);
	g_task_set_source_tag(task, ms_smtp_client_verify_async);
	g_task_set_check_cancellable(task, FALSE);
	ms_smtp_client_open_async(self,
				  cancellable,
				  ms_smtp_client_verify_open_cb,
				  g_steal_pointer(&task));
}

GVariant *
ms_smtp_client_verify_finish(MsSmtpClient *self, GAsyncResult *res, GError **error)
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

	/* no operation runs (each holds a reference): just drop the connection */
	ms_smtp_client_teardown(self);
	g_clear_pointer(&self->extensions, g_hash_table_unref);
	g_clear_object(&self->policy);
	g_clear_object(&self->account);
	G_OBJECT_CLASS(ms_smtp_client_parent_class)->dispose(object);
}

static void
ms_smtp_client_finalize(GObject *object)
{
	MsSmtpClient *self = MS_SMTP_CLIENT(object);

	g_clear_pointer(&self->password, ms_sasl_secret_free);
	g_clear_error(&self->closed_error);
	g_free(self->greeting);
	g_free(self->server);
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
	self->server =
	    g_strdup_printf("%s:%u", ms_account_get_host(account), ms_account_get_port(account));
	return self;
}
