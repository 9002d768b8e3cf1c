#pragma once

#include <gio/gio.h>

#include "ms-account.h"
#include "ms-mail-flags.h"

G_BEGIN_DECLS

typedef enum {
	MS_SMTP_STAGE_CONNECTING,
	MS_SMTP_STAGE_TLS,
	MS_SMTP_STAGE_AUTH,
	MS_SMTP_STAGE_SENDING,
} MsSmtpStage;

const gchar *
ms_smtp_stage_to_string(MsSmtpStage stage); /* "connecting", "tls", "auth", "sending" */

/* What one transaction achieved: the message went to every recipient except those listed in
 * rejected and deferred (both never NULL, often empty; keys are the addr-specs as given). */
typedef struct {
	gchar *reply;	      /* the reply to the end of DATA, "250 2.0.0 Ok: queued as 4Fx" */
	GHashTable *rejected; /* addr-spec -> reply text ("550 5.1.1 ..."): refused for good */
	GHashTable *deferred; /* addr-spec -> reply text ("451 4.3.0 ..."): retry them later */
} MsSmtpResult;

void
ms_smtp_result_free(MsSmtpResult *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MsSmtpResult, ms_smtp_result_free)

/* A client for the server of one account, holding at most one SMTP session: connect (implicit
 * TLS or plain), greeting, EHLO (HELO fallback), STARTTLS per the account's security and AUTH
 * (open), then any number of transactions over that connection, then QUIT (close). With
 * PIPELINING (RFC 2920) offered, MAIL FROM, every RCPT TO and DATA go out in one write.
 * Asynchronous only; one operation at a time (another one fails with G_IO_ERROR_PENDING);
 * every network step is bounded by the account's timeout.
 *
 * Signals:
 *   "progress" (guint stage, guint64 done, guint64 total): emitted when a stage starts and,
 *   during MS_SMTP_STAGE_SENDING, after each chunk written (done/total are bytes of the
 *   message; 0 in the other stages). connecting, tls and auth come from open, sending from
 *   each transaction. Not rate-limited: the caller does that.
 *
 * Errors are MS_ERROR codes whose messages say what to change and include the server's reply:
 *   MS_ERROR_CONNECTION   cannot connect / connection lost / garbage or an endless reply line
 *                         from the server (transient)
 *   MS_ERROR_TIMEOUT      a step timed out; names the step (transient)
 *   MS_ERROR_TLS          handshake or certificate failure, STARTTLS injection
 *   MS_ERROR_TLS_REQUIRED TLS required but not offered; AUTH refused without TLS
 *   MS_ERROR_AUTH_FAILED  5xx to AUTH, or no usable mechanism
 *   MS_ERROR_TEMPORARY    a 4xx reply (transient)
 *   MS_ERROR_REJECTED     a 5xx reply
 *   G_IO_ERROR_CANCELLED  cancelled */
#define MS_TYPE_SMTP_CLIENT (ms_smtp_client_get_type())
G_DECLARE_FINAL_TYPE(MsSmtpClient, ms_smtp_client, MS, SMTP_CLIENT, GObject)

MsSmtpClient *
ms_smtp_client_new(MsAccount *account);
/* the password for the account's username, NULL if none; copied, wiped when freed */
void
ms_smtp_client_set_password(MsSmtpClient *self, const gchar *password);

/* the session API, for connection reuse */

/* connect, greeting, EHLO, TLS and AUTH: the session is then ready for transactions; fails
 * with G_IO_ERROR_EXISTS if one is open already. On error nothing stays open. */
void
ms_smtp_client_open_async(MsSmtpClient *self,
			  GCancellable *cancellable,
			  GAsyncReadyCallback callback,
			  gpointer user_data);
gboolean
ms_smtp_client_open_finish(MsSmtpClient *self, GAsyncResult *res, GError **error);

/* one transaction on the open session. message: the complete RFC 5322 message with CRLF line
 * ends, not dot-stuffed, of exactly size bytes (announced with SIZE= when the server offers
 * it), e.g. a GFileInputStream of the spool file. It is read from the current position in
 * chunks of at most 64 KiB, each dot-stuffed and written before the next is read, so memory
 * stays bounded whatever the size; "progress" counts the bytes read. The stream is read
 * asynchronously (GIO runs a file stream's reads in a worker thread) and not closed.
 *
 * Returns a result when the server accepted the message for at least one recipient: those
 * refused with 5xx are in result->rejected, those refused with 4xx in result->deferred.
 * Errors:
 *   MS_ERROR_REJECTED / MS_ERROR_TEMPORARY  a 5xx / 4xx to MAIL FROM, DATA or the end of the
 *     message, or every recipient refused (TEMPORARY if any of them got a 4xx; the message
 *     names the first such recipient, as "... answered RCPT TO:<addr> with: 451 ...");
 *     the client has sent RSET itself and the session stays usable, unless the reply was 421
 *     (the server closes: the session is closed too)
 *   MS_ERROR_CONNECTION / MS_ERROR_TIMEOUT / MS_ERROR_TLS / G_IO_ERROR_CANCELLED  the session
 *     is closed (ms_smtp_client_is_open() is FALSE); a server that closed an idle session is
 *     reported as MS_ERROR_CONNECTION before anything is sent
 *   MS_ERROR_INVALID_ARGS  a bad envelope; nothing was sent, the session stays usable
 *   MS_ERROR_STORAGE  the message could not be read (a read error, or the stream ended before
 *     size bytes): "cannot read the message from the spool: ..."; the session is closed
 *     without the final dot, so the server never takes a truncated message
 * mail_flags (and any envelope address beyond ASCII, which implies SMTPUTF8) choose the MAIL
 * FROM parameters: SMTPUTF8 when needed, and refused before anything is sent with
 * MS_ERROR_REJECTED ("… does not offer SMTPUTF8, which the address '…' needs …") when the
 * server lacks it; BODY=8BITMIME for 8-bit content when the server offers 8BITMIME, else the
 * message goes through MsMimeDowngrade (8bit parts become quoted-printable; SIZE= still
 * announces the spooled size, which RFC 1870 allows as an estimate).
 * Once the whole message is written, the reply to it is awaited even if cancellable fires:
 * the outcome is then the server's, and reporting it is the only truthful answer. */
void
ms_smtp_client_transaction_stream_async(MsSmtpClient *self,
					const gchar *envelope_from,
					const gchar *const *recipients,
					MsMailFlags mail_flags,
					GInputStream *message,
					guint64 size,
					GCancellable *cancellable,
					GAsyncReadyCallback callback,
					gpointer user_data);
/* the same with the message in memory (read through a GMemoryInputStream), no mail_flags */
void
ms_smtp_client_transaction_async(MsSmtpClient *self,
				 const gchar *envelope_from,
				 const gchar *const *recipients,
				 GBytes *message,
				 GCancellable *cancellable,
				 GAsyncReadyCallback callback,
				 gpointer user_data);
/* for both */
MsSmtpResult *
ms_smtp_client_transaction_finish(MsSmtpClient *self, GAsyncResult *res, GError **error);

/* QUIT and close the connection, bounded by the timeout; errors are ignored (only logged).
 * Does nothing if no session is open. */
void
ms_smtp_client_close_async(MsSmtpClient *self, GAsyncReadyCallback callback, gpointer user_data);
void
ms_smtp_client_close_finish(MsSmtpClient *self, GAsyncResult *res);

/* whether a session is open and usable: FALSE before open, after close, after an I/O error,
 * and once the server has closed an idle session (checked without blocking) */
gboolean
ms_smtp_client_is_open(MsSmtpClient *self);
/* transactions that delivered a message on the current session (0 after open) */
guint
ms_smtp_client_get_transactions(MsSmtpClient *self);

/* one-shot: open, one transaction, QUIT. All or nothing: any refused recipient fails the
 * send (with the error of the first refused one) and nothing is delivered.
 * message: as for ms_smtp_client_transaction_async(); fails with G_IO_ERROR_EXISTS if a
 * session is open. */
void
ms_smtp_client_send_async(MsSmtpClient *self,
			  const gchar *envelope_from,
			  const gchar *const *recipients,
			  GBytes *message,
			  GCancellable *cancellable,
			  GAsyncReadyCallback callback,
			  gpointer user_data);
/* returns the server's reply to the end of DATA, e.g. "250 2.0.0 Ok: queued as 4Fx" */
gchar *
ms_smtp_client_send_finish(MsSmtpClient *self, GAsyncResult *res, GError **error);

/* connect, greeting, EHLO, TLS and AUTH exactly as a send would, then QUIT, no transaction */
void
ms_smtp_client_verify_async(MsSmtpClient *self,
			    GCancellable *cancellable,
			    GAsyncReadyCallback callback,
			    gpointer user_data);
/* DESIGN.md's Verify report, a{sv}: host s, port q, security s, greeting s, extensions as,
 * auth-mechanisms as, auth s (the SASL mechanism used, "SCRAM-SHA-256", "PLAIN" …, or "none"),
 * tls-version s ("TLSv1.3", "" without TLS), tls-cipher s, certificate-subject s,
 * certificate-issuer s, certificate-not-after x (unix seconds, 0 without TLS), certificate-sha256
 * s, elapsed-ms u */
GVariant *
ms_smtp_client_verify_finish(MsSmtpClient *self, GAsyncResult *res, GError **error);

/* the server's last reply as text ("" before any), for ServerReply / ErrorMessage. Replies to
 * housekeeping do not count (RSET, the lone dot after a refused pipelined transaction, QUIT),
 * so it is the reply to the end of DATA after a success and the refusing reply after a
 * failure, even when pipelined replies came after it. */
const gchar *
ms_smtp_client_get_last_reply(MsSmtpClient *self);

G_END_DECLS
