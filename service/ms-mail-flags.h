#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* What a message needs from the server beyond plain 7-bit SMTP, decided when it is spooled and
 * kept in its job record, since the server is only known when it is delivered */
typedef enum {
	MS_MAIL_FLAG_NONE = 0,
	/* 8-bit content (RFC 6152): sent with BODY=8BITMIME when the server offers it, else with
	 * every "Content-Transfer-Encoding: 8bit" part turned into quoted-printable on the way */
	MS_MAIL_FLAG_8BITMIME = 1 << 0,
	/* UTF-8 in an address (RFC 6531): sent with SMTPUTF8, or refused before anything is sent
	 * when the server does not offer it */
	MS_MAIL_FLAG_SMTPUTF8 = 1 << 1,
} MsMailFlags;

G_END_DECLS
