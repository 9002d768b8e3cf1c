#pragma once

#include <glib-object.h>

#include "ms-address.h"

G_BEGIN_DECLS

/* Composes an RFC 5322 / MIME message from validated parts. Pure: no I/O, no D-Bus.
 * Every setter validates and fails with G_IO_ERROR_INVALID_ARGUMENT (the daemon maps it to
 * InvalidMessage); nothing is changed on failure. */
#define MS_TYPE_MESSAGE (ms_message_get_type())
G_DECLARE_FINAL_TYPE(MsMessage, ms_message, MS, MESSAGE, GObject)

MsMessage *
ms_message_new(void);
gboolean
ms_message_set_from(MsMessage *self, const gchar *from, GError **error);
gboolean
ms_message_add_to(MsMessage *self, const gchar *address, GError **error);
gboolean
ms_message_add_cc(MsMessage *self, const gchar *address, GError **error);
gboolean
ms_message_add_bcc(MsMessage *self, const gchar *address, GError **error);
gboolean
ms_message_set_reply_to(MsMessage *self, const gchar *address, GError **error);
gboolean
ms_message_set_subject(MsMessage *self, const gchar *subject, GError **error);
/* text/plain body; must be valid UTF-8, no NUL; any line ending style */
gboolean
ms_message_set_body(MsMessage *self, const gchar *body, GError **error);
/* extra header: name is printable ASCII without ':', at most 76 chars, and not one the composer
 * owns (From, To, Cc, Bcc, Reply-To, Subject, Date, Message-ID, MIME-Version, Content-*);
 * the value must not contain CR or LF; non-ASCII values (and control characters) are RFC 2047
 * encoded; a printable ASCII value is kept as it is, folded at its spaces, so it may not have
 * more than 900 chars without a space */
gboolean
ms_message_add_header(MsMessage *self, const gchar *name, const gchar *value, GError **error);
/* for tests: fixed Date and Message-ID instead of now and a random one */
void
ms_message_set_date(MsMessage *self, GDateTime *date);
void
ms_message_set_message_id(MsMessage *self, const gchar *message_id);

const MsAddress *
ms_message_get_from(MsMessage *self); /* NULL until set */
/* every To, Cc and Bcc addr-spec, in that order, without duplicates */
GPtrArray *
ms_message_get_recipients(MsMessage *self);

/* the message as sent: CRLF line ends, headers folded to 78 columns where possible and never
 * over 998 octets, Date, Message-ID (@ the From domain) and MIME-Version added, no Bcc header,
 * body as 7bit when it is ASCII with short lines, else quoted-printable (UTF-8);
 * fails if no From or no recipient */
GBytes *
ms_message_to_bytes(MsMessage *self, GError **error);

/* helpers shared with the raw-message path, exposed for tests and fuzzing */
/* TRUE if value has no CR, LF or NUL and is valid UTF-8 */
gboolean
ms_message_header_value_is_safe(const gchar *value);
/* RFC 2047 encoded-words (UTF-8, B or Q) for a non-ASCII value, each at most 75 chars, joined
 * with CRLF SP folding, the first short enough to follow "Name: " in 78 columns; printable ASCII
 * values (space and tab included) are returned as they are */
gchar *
ms_message_encode_header_value(const gchar *value, gsize name_len);
/* quoted-printable (RFC 2045 §6.7) with CRLF line ends and lines of at most 76 chars */
gchar *
ms_message_encode_quoted_printable(const gchar *text);

G_END_DECLS
