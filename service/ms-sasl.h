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
/* wipe and free a string that held secret material */
void
ms_sasl_secret_free(gchar *secret);

G_END_DECLS
