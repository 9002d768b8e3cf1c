#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* SASL client encoders for SMTP AUTH (RFC 4954). Pure, no I/O: the results are base64 text
 * ready to put on the wire. The caller wipes them (they contain the password). */

/* RFC 4616 PLAIN: base64("" NUL username NUL password) */
gchar *
ms_sasl_plain_response(const gchar *username, const gchar *password);
/* LOGIN: base64 of one value (the username, then the password) */
gchar *
ms_sasl_login_response(const gchar *value);
/* RFC 2195 CRAM-MD5: challenge is the base64 text of the server's 334 reply; returns
 * base64(username SP hex(HMAC-MD5(password, challenge))), or NULL with a
 * G_IO_ERROR_INVALID_DATA error if the challenge is not base64 */
gchar *
ms_sasl_cram_md5_response(const gchar *username,
			  const gchar *password,
			  const gchar *challenge,
			  GError **error);
/* XOAUTH2 (Google, Microsoft): base64("user=" username ^A "auth=Bearer " token ^A ^A) */
gchar *
ms_sasl_xoauth2_response(const gchar *username, const gchar *access_token);
/* overwrite a string that holds secret material with NULs, in place (NULL is ignored) */
void
ms_sasl_secret_wipe(gchar *secret);
/* wipe and free a string that held secret material */
void
ms_sasl_secret_free(gchar *secret);

/* g_autoptr(MsSaslSecret) response = ms_sasl_plain_response(...) wipes it on scope exit */
typedef gchar MsSaslSecret;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MsSaslSecret, ms_sasl_secret_free)

G_END_DECLS
