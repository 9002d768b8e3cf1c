#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* A GConverter for the way to a server that does not offer 8BITMIME (RFC 6152 §3): it passes a
 * MIME message through unchanged except that every body part, or the whole body of a message
 * that is not multipart, whose header block says "Content-Transfer-Encoding: 8bit" is
 * re-encoded as quoted-printable (RFC 2045 §6.7) and its header says so. Multipart boundaries
 * are taken from the Content-Type headers, nested to any depth. Input and output have CRLF line
 * ends and are not dot-stuffed. Memory stays bounded whatever the message size.
 *
 * Each 8bit body line is encoded with ms_message_append_quoted_printable_line(), so the
 * composer's 8bit output becomes exactly its quoted-printable output; a bare LF also ends a
 * line there and becomes CRLF. Lines over 4 KiB (never the composer's, which has at most 998
 * octets) are encoded in pieces with a soft break between them, and are never taken for a
 * boundary delimiter. Only the value "8bit" (any case, white space around it) is re-encoded;
 * a multipart's own header is left as it is. The parts of a message/rfc822 entity (and of a
 * multipart/digest, whose parts are that by default) are looked into. A header block over
 * 64 KiB is passed through with its body. Anything else, odd input included, passes through
 * byte for byte: the converter never fails. Output that does not fit the caller's buffer
 * waits inside (so never G_IO_ERROR_NO_SPACE), and G_CONVERTER_FLUSH holds back a line that
 * is not complete yet, as what it becomes depends on what follows. */
#define MS_TYPE_MIME_DOWNGRADE (ms_mime_downgrade_get_type())
G_DECLARE_FINAL_TYPE(MsMimeDowngrade, ms_mime_downgrade, MS, MIME_DOWNGRADE, GObject)

MsMimeDowngrade *
ms_mime_downgrade_new(void);

G_END_DECLS
