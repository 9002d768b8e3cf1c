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

/* RFC 5802/7677 SCRAM-SHA-256 without channel binding ("n,,"): one object per AUTH exchange.
 * Every text in and out is the base64 of the SCRAM message, as on the wire. The password is
 * prepared with SASLprep as far as GLib can (NFKC, g_utf8_normalize); errors are
 * G_IO_ERROR_INVALID_DATA with a message saying what the server sent wrong. */
typedef struct _MsSaslScram MsSaslScram;
MsSaslScram *
ms_sasl_scram_new(const gchar *username,
		  const gchar *password,
		  const gchar *client_nonce /* NULL: 24 random bytes, base64 */);
gchar *
ms_sasl_scram_client_first(MsSaslScram *self);
/* server_first: base64 of "r=…,s=…,i=…"; checks the nonce starts with ours, the salt is base64,
 * 4096 <= i <= 10,000,000 (bounded: a hostile server must not make us spin); returns the
 * client-final (with the proof); the result holds no password but is still wiped by the caller */
gchar *
ms_sasl_scram_client_final(MsSaslScram *self, const gchar *server_first, GError **error);
/* server_final: base64 of "v=…" (or "e=…", an error from the server: return FALSE with that text);
 * TRUE only when the server signature matches — the server proved it knows the password */
gboolean
ms_sasl_scram_verify_server_final(MsSaslScram *self, const gchar *server_final, GError **error);
void
ms_sasl_scram_free(MsSaslScram *self); /* wipes every secret it held */
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MsSaslScram, ms_sasl_scram_free)

G_END_DECLS
