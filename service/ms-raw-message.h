#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* A complete RFC 5322 message as a caller handed it over (SendRaw's ay, the file behind
 * SendRawFd, sendmail's stdin), checked and turned into what goes into the spool. Pure: no I/O,
 * no D-Bus. Only the header block is parsed; the body is kept byte for byte except that every
 * line end becomes CRLF, so 8-bit bodies pass through and nothing is ever re-encoded.
 *
 * Refused with G_IO_ERROR_INVALID_ARGUMENT (the daemon maps it to InvalidMessage), the message
 * saying what is wrong and on which line, never quoting the message text:
 * - empty input, or input that is empty up to a DOT_ENDS '.' line;
 * - a NUL byte anywhere (up to a DOT_ENDS '.' line);
 * - any line over 998 octets, not counting its line end (RFC 5322 §2.1.1);
 * - a first line that is not a header field ("Name: value"; an empty line or one starting with
 *   white space does not count), an invalid field name (printable ASCII without ':' before the
 *   first ':'), a header line that is not valid UTF-8 (RFC 6532 allows UTF-8, nothing else);
 * - a line in the header block that is neither a header field, nor a continuation line, nor the
 *   empty line that ends the header block (a missing header/body separator);
 * - a header field that ends at the end of the input without a line end (a cut message).
 * Input that ends right after the line end of a header field is accepted as a message without
 * a body: "Subject: x\n" spools as "Subject: x\r\n…\r\n\r\n".
 *
 * Line ends: CRLF, bare LF and bare CR each end a line and each become CRLF; a last body line
 * without a line end gets one. */
typedef struct _MsRawMessage MsRawMessage;

typedef enum {
	MS_RAW_MESSAGE_FLAG_NONE = 0,
	/* sendmail without -i: a line holding a single '.' ends the message and everything from
	 * it on is ignored; other lines starting with '.' are kept as they are (dot-stuffing is
	 * the SMTP client's job) */
	MS_RAW_MESSAGE_FLAG_DOT_ENDS = 1 << 0,
	/* sendmail -t, or SendRaw without a 'to' option: the envelope recipients come from To, Cc
	 * and Bcc, so every address in them must parse and there must be at least one */
	MS_RAW_MESSAGE_FLAG_EXTRACT_RECIPIENTS = 1 << 1,
} MsRawMessageFlags;

MsRawMessage *
ms_raw_message_parse(GBytes *input, MsRawMessageFlags flags, GError **error);

/* For a message read in pieces (SendRawFd): where its body starts in the first len octets,
 * just after the empty line that ends the header block, and the number of the body's first
 * line; 0 when the header block does not end in them (a line over 998 octets ends the search:
 * ms_raw_message_parse() refuses it). A CR as the last octet is not taken for a line end, as
 * its LF may follow. */
gsize
ms_raw_message_find_body_start(const guint8 *data, gsize len, guint *body_line);
/* the offset of the first line that is a single '.' and whose line end is in the first len
 * octets (MS_RAW_MESSAGE_FLAG_DOT_ENDS), or len if there is none */
gsize
ms_raw_message_find_dot_line(const guint8 *data, gsize len);

/* (transfer full) the addr-specs of all To fields, then all Cc, then all Bcc, each list in
 * order, without duplicates (compared case-insensitively, the first spelling wins); comments
 * are dropped, groups ("Team: a@x, b@y;", "undisclosed-recipients:;") give their members.
 * Without MS_RAW_MESSAGE_FLAG_EXTRACT_RECIPIENTS, entries that are not valid addresses are
 * skipped (the headers are not used for the envelope then); with it they were refused by
 * ms_raw_message_parse(). Resent-* fields are not looked at. */
GPtrArray *
ms_raw_message_get_header_recipients(MsRawMessage *self);
/* the addr-spec of the first mailbox of the first From field, NULL if there is no From field
 * or it holds no valid address */
const gchar *
ms_raw_message_get_from(MsRawMessage *self);

/* the message to spool: the header fields as they were (byte for byte, folding kept) without
 * any Bcc field, then the fields that were missing, in this order: From (from default_from,
 * "Name <addr>" or "addr", written as ms_address_to_header() does), Date (now, RFC 5322),
 * Message-ID ("<uuid@domain>", the domain of the From field's address, else of default_from,
 * else "localhost"); then the empty line and the body, all with CRLF line ends. Fails when the
 * message has no From field and default_from is NULL or not a valid address. */
GBytes *
ms_raw_message_to_bytes(MsRawMessage *self, const gchar *default_from, GError **error);

/* for a caller who may not choose the sender (the system bus without allow-from-override):
 * ms_raw_message_to_bytes() then drops every From and Sender field of the message and writes
 * the From of default_from instead, as if the message had none */
void
ms_raw_message_replace_from(MsRawMessage *self);

/* for tests and fuzzing: a fixed Date and Message-ID ("left@right", with or without the angle
 * brackets) for the fields ms_raw_message_to_bytes() adds */
void
ms_raw_message_set_date(MsRawMessage *self, GDateTime *date);
void
ms_raw_message_set_message_id(MsRawMessage *self, const gchar *message_id);

void
ms_raw_message_free(MsRawMessage *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MsRawMessage, ms_raw_message_free)

G_END_DECLS
