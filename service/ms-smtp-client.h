#pragma once

#include <gio/gio.h>

#include "ms-account.h"

G_BEGIN_DECLS

typedef enum {
	MS_SMTP_STAGE_CONNECTING,
	MS_SMTP_STAGE_TLS,
	MS_SMTP_STAGE_AUTH,
	MS_SMTP_STAGE_SENDING,
} MsSmtpStage;

const gchar *
ms_smtp_stage_to_string(MsSmtpStage stage); /* "connecting", "tls", "auth", "sending" */

/* One SMTP session with the server of an account: connect (implicit TLS or plain), greeting,
 * EHLO (HELO fallback), STARTTLS per the account's security, AUTH, one transaction, QUIT.
 * Asynchronous only; every network step is bounded by the account's timeout.
 *
 * Signals:
 *   "progress" (guint stage, guint64 done, guint64 total): emitted when a stage starts and,
 *   during MS_SMTP_STAGE_SENDING, after each chunk written (done/total are bytes of the
 *   message; 0 in the other stages). Not rate-limited: the caller does that.
 *
 * Errors are MS_ERROR codes whose messages say what to change and include the server's reply:
 *   MS_ERROR_CONNECTION   cannot connect / connection lost (transient)
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

/* message: the complete RFC 5322 message with CRLF line ends, not dot-stuffed */
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
 * auth-mechanisms as, auth s ("PLAIN", "LOGIN" or "none"), tls-version s ("TLSv1.3", "" without
 * TLS), tls-cipher s, certificate-subject s, certificate-issuer s, certificate-not-after x (unix
 * seconds, 0 without TLS), certificate-sha256 s, elapsed-ms u */
GVariant *
ms_smtp_client_verify_finish(MsSmtpClient *self, GAsyncResult *res, GError **error);

/* the server's last reply as text ("" before any), for ServerReply / ErrorMessage */
const gchar *
ms_smtp_client_get_last_reply(MsSmtpClient *self);

G_END_DECLS
