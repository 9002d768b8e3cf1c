#pragma once

#include <gio/gio.h>

#include "ms-account.h"

G_BEGIN_DECLS

/* The TLS side of an account (DESIGN.md): its resolved security mode, the trust anchors
 * (system CAs, or ca-file), the tls-fingerprint pin, tls-verify=false, and the rule that no
 * password goes out before TLS. Applied to every GTlsClientConnection of a session, implicit
 * TLS and STARTTLS alike. */
#define MS_TYPE_TLS_POLICY (ms_tls_policy_get_type())
G_DECLARE_FINAL_TYPE(MsTlsPolicy, ms_tls_policy, MS, TLS_POLICY, GObject)

MsTlsPolicy *
ms_tls_policy_new(MsAccount *account);
/* loads ca-file into a GTlsDatabase; MS_ERROR_TLS naming the file when it cannot be read.
 * Idempotent: later calls do nothing once it succeeded. */
gboolean
ms_tls_policy_load(MsTlsPolicy *self, GError **error);

MsAccount *
ms_tls_policy_get_account(MsTlsPolicy *self);
MsSecurity
ms_tls_policy_get_security(MsTlsPolicy *self); /* resolved: never MS_SECURITY_AUTO */
/* the ca-file database, NULL when the system CAs are used */
GTlsDatabase *
ms_tls_policy_get_database(MsTlsPolicy *self);

/* decides whether to send STARTTLS after EHLO: *use_starttls is set when the server offers it
 * and the mode wants it; MS_ERROR_TLS_REQUIRED when security=starttls and it is not offered */
gboolean
ms_tls_policy_check_starttls(MsTlsPolicy *self,
			     gboolean offered,
			     gboolean *use_starttls,
			     GError **error);
/* MS_ERROR_TLS_REQUIRED unless the connection is encrypted or the account allows plaintext
 * AUTH (allow-plaintext-auth=true) */
gboolean
ms_tls_policy_check_auth(MsTlsPolicy *self, gboolean is_tls, GError **error);

/* before the handshake: database, server identity, close_notify, and the accept-certificate
 * handler for tls-fingerprint and tls-verify=false */
void
ms_tls_policy_apply(MsTlsPolicy *self, GTlsClientConnection *conn);
/* a TLS client connection over base, set up by ms_tls_policy_apply() */
GIOStream *
ms_tls_policy_new_connection(MsTlsPolicy *self, GIOStream *base, GError **error);
/* after a successful handshake: MS_ERROR_TLS if a pinned fingerprint does not match */
gboolean
ms_tls_policy_check_peer(MsTlsPolicy *self, GTlsConnection *conn, GError **error);
/* turns the G_TLS_ERROR of a failed handshake into MS_ERROR_TLS with advice (which key to
 * set, the certificate's fingerprint to pin); other domains are returned unchanged (a copy) */
GError *
ms_tls_policy_convert_error(MsTlsPolicy *self, GTlsConnection *conn, const GError *error);

/* SHA-256 of the DER certificate, 64 lower-case hex digits (the form of tls-fingerprint) */
gchar *
ms_tls_policy_certificate_sha256(GTlsCertificate *cert);

G_END_DECLS
