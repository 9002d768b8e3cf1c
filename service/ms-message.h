#pragma once

#include <gio/gio.h>

#include "ms-address.h"
#include "ms-mail-flags.h"

G_BEGIN_DECLS

/* Composes an RFC 5322 / MIME message from validated parts. No D-Bus, and no I/O except in
 * ms_message_write_async(), which streams attachments from their GInputStream.
 * Every setter validates and fails with G_IO_ERROR_INVALID_ARGUMENT (the daemon maps it to
 * InvalidMessage); nothing is changed on failure.
 *
 * The MIME structure follows from what was set:
 *   body only (or nothing)      text/plain
 *   html only                   text/html (no plain-text version is made up from the HTML)
 *   body and html               multipart/alternative: text/plain, then text/html
 *   attachments                 multipart/mixed: the above (left out when there is neither body
 *                               nor html), then one base64 part per attachment, in order
 * An empty body counts as no body when there is html or an attachment. */
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
/* text/html alternative: valid UTF-8, no NUL, same transfer encoding rules as the body (7bit
 * when ASCII with lines of at most 998 octets, else quoted-printable); "" removes it */
gboolean
ms_message_set_html(MsMessage *self, const gchar *html, GError **error);
/* an attachment read from stream when the message is written (ms_message_write_async(), once
 * only: a second write fails with G_IO_ERROR_NOT_SUPPORTED). filename: non-empty, at most 255
 * bytes, valid UTF-8, no control characters, no '/' or '\\' (give the name without its
 * directory), not "." or "..". content_type: "type/subtype" (RFC 2045 tokens, no parameters, not
 * multipart/ or message/, which cannot be base64), stored in lower case; NULL guesses it from
 * the filename (GIO's content type guess), application/octet-stream when nothing fits.
 * Sent as Content-Type with name= (RFC 2047 encoded-words when not ASCII), Content-Disposition:
 * attachment with filename= (RFC 2231 UTF-8 percent-encoding, in continuations when long, when
 * not ASCII or too long for one line) and base64 in lines of 76 characters */
gboolean
ms_message_add_attachment(MsMessage *self,
			  const gchar *filename,
			  const gchar *content_type,
			  GInputStream *stream,
			  GError **error);
/* the same with the data in memory; such a message can also be rendered by
 * ms_message_to_bytes() and written any number of times */
gboolean
ms_message_add_attachment_bytes(MsMessage *self,
				const gchar *filename,
				const gchar *content_type,
				GBytes *data,
				GError **error);
/* extra header: name is printable ASCII without ':', at most 76 chars, and not one the composer
 * owns (From, To, Cc, Bcc, Reply-To, Subject, Date, Message-ID, MIME-Version, Content-*);
 * the value must not contain CR or LF; non-ASCII values (and control characters) are RFC 2047
 * encoded; a printable ASCII value is kept as it is, folded at its spaces, so it may not have
 * more than 900 chars without a space */
gboolean
ms_message_add_header(MsMessage *self, const gchar *name, const gchar *value, GError **error);
/* whether a text part that is UTF-8 beyond ASCII with lines of at most 998 octets goes out as
 * "Content-Transfer-Encoding: 8bit" (RFC 6152) rather than quoted-printable; FALSE by default.
 * The daemon allows it and downgrades on the way to a server without 8BITMIME */
void
ms_message_set_8bit_allowed(MsMessage *self, gboolean allowed);
/* what the message as set so far needs from the server: MS_MAIL_FLAG_8BITMIME when a part is
 * 8bit, MS_MAIL_FLAG_SMTPUTF8 (and 8BITMIME) when an address has a UTF-8 local part, which then
 * goes into the header as UTF-8 (RFC 6532) */
MsMailFlags
ms_message_get_mail_flags(MsMessage *self);
/* for tests: fixed Date and Message-ID instead of now and a random one */
void
ms_message_set_date(MsMessage *self, GDateTime *date);
void
ms_message_set_message_id(MsMessage *self, const gchar *message_id);
/* for tests: MIME boundaries "=_ms_<seed>_1", "=_ms_<seed>_2", … (seed: ASCII letters and
 * digits; a candidate that occurs in a text part or clashes with the other boundary is skipped)
 * instead of "=_ms_" and 32 random hex digits; NULL goes back to random ones */
void
ms_message_set_boundary_seed(MsMessage *self, const gchar *seed);

const MsAddress *
ms_message_get_from(MsMessage *self); /* NULL until set */
/* every To, Cc and Bcc addr-spec, in that order, without duplicates */
GPtrArray *
ms_message_get_recipients(MsMessage *self);

/* the message as sent: CRLF line ends, headers folded to 78 columns where possible and never
 * over 998 octets, Date, Message-ID (@ the From domain) and MIME-Version added, no Bcc header,
 * body as 7bit when it is ASCII with short lines, else quoted-printable (UTF-8);
 * fails if no From or no recipient (G_IO_ERROR_INVALID_ARGUMENT), and with
 * G_IO_ERROR_NOT_SUPPORTED if an attachment was given as a stream */
GBytes *
ms_message_to_bytes(MsMessage *self, GError **error);
/* writes the message to out: the same bytes as ms_message_to_bytes(), but attachments are read
 * in chunks of 48 KiB and written as they are encoded, so memory does not grow with their size.
 * Async only (no threads), cancellable. Errors: those of ms_message_to_bytes() before anything
 * is written; an attachment that cannot be read gives its stream's error prefixed with
 * "attachment 'NAME': "; errors of out as they are. Does not close out. */
void
ms_message_write_async(MsMessage *self,
		       GOutputStream *out,
		       GCancellable *cancellable,
		       GAsyncReadyCallback callback,
		       gpointer user_data);
/* bytes_written (nullable): the size of the message, set on success */
gboolean
ms_message_write_finish(MsMessage *self, GAsyncResult *res, guint64 *bytes_written, GError **error);

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
/* one line of text (len bytes, without its line end) as quoted-printable, appended to str with
 * soft breaks ("=" CRLF) so no encoded line passes 76 chars; the caller appends the hard CRLF.
 * ms_message_encode_quoted_printable() is this for each line of text */
void
ms_message_append_quoted_printable_line(GString *str, const gchar *line, gsize len);
/* an RFC 5322 §3.3 date-time ("Mon, 5 Jan 2026 09:03:07 -0530"), English names whatever the
 * locale; the value of the Date header, shared with the raw-message path */
gchar *
ms_message_format_date(GDateTime *date);

G_END_DECLS
