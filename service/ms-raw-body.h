#pragma once

#include <gio/gio.h>

#include "ms-raw-message.h"

G_BEGIN_DECLS

/* The body of a raw message (SendRawFd) checked and normalized in chunks, as it is read, so a
 * large message goes to the spool without being held in memory. The same rules as
 * ms_raw_message_parse() and ms_raw_message_to_bytes() apply to the body, and for any split of
 * the input the output is the same bytes as theirs:
 * - every line end (CRLF, bare LF, bare CR) becomes CRLF, and a last line without one gets it;
 * - a NUL byte, or a line over 998 octets (without its line end), is refused with
 *   G_IO_ERROR_INVALID_ARGUMENT, saying where;
 * - with MS_RAW_MESSAGE_FLAG_DOT_ENDS a line that is a single '.' ends the message: it and
 *   everything after it are dropped (ms_raw_body_has_ended() tells the reader to stop).
 * Hand-written because it is the streaming twin of ms-raw-message's body rules, which no
 * library implements. */
typedef struct {
	gboolean dot_ends;
	gboolean ended;
	gboolean pending_cr; /* the last byte was a CR: a LF right after it belongs to it */
	gboolean held_dot;   /* a line started with '.', held back until it is not a lone '.' */
	gboolean has_8bit;
	gsize line_len;
	guint line;	/* the number of the current line in the whole message */
	guint64 offset; /* of the next input byte in the whole message */
	guint64 written;
} MsRawBody;

/* first_line and offset: where the body starts in the whole message, for error messages */
void
ms_raw_body_init(MsRawBody *self, MsRawMessageFlags flags, guint first_line, guint64 offset);
/* appends the normalized bytes of data to out (NULL: only counts them); FALSE with error when
 * the body is refused */
gboolean
ms_raw_body_feed(MsRawBody *self, const guint8 *data, gsize len, GByteArray *out, GError **error);
/* the end of the input: ends a last line without a line end (out NULL: only counted) */
void
ms_raw_body_finish(MsRawBody *self, GByteArray *out);
/* a '.' line ended the message (MS_RAW_MESSAGE_FLAG_DOT_ENDS): the rest of the input is
 * ignored */
gboolean
ms_raw_body_has_ended(const MsRawBody *self);
/* an octet over 127 went by: the message needs 8BITMIME */
gboolean
ms_raw_body_has_8bit(const MsRawBody *self);
/* the normalized bytes so far */
guint64
ms_raw_body_get_written(const MsRawBody *self);

/* what went wrong in ms_raw_body_copy_async() */
#define MS_RAW_BODY_ERROR (ms_raw_body_error_quark())
GQuark
ms_raw_body_error_quark(void);
typedef enum {
	MS_RAW_BODY_ERROR_READ,	     /* the input could not be read */
	MS_RAW_BODY_ERROR_WRITE,     /* the output could not be written */
	MS_RAW_BODY_ERROR_INVALID,   /* the body breaks a rule above */
	MS_RAW_BODY_ERROR_TOO_LARGE, /* over max_size */
} MsRawBodyError;

/* Writes prefix (the message's header section, as ms_raw_message_to_bytes() makes it for the
 * header block alone), then the body: the body octets read already (body_start), then the rest
 * of in, checked and normalized by an MsRawBody, and closes out. 64 KiB at a time, every read
 * and write asynchronous. first_line and offset: where the body starts in the caller's input.
 * More than max_size octets written is MS_RAW_BODY_ERROR_TOO_LARGE. */
void
ms_raw_body_copy_async(GInputStream *in,
		       GBytes *prefix,
		       GBytes *body_start,
		       GOutputStream *out,
		       MsRawMessageFlags flags,
		       guint first_line,
		       guint64 offset,
		       guint64 max_size,
		       GCancellable *cancellable,
		       GAsyncReadyCallback callback,
		       gpointer user_data);
/* size: the octets written (prefix and body); has_8bit: an octet over 127 in the body */
gboolean
ms_raw_body_copy_finish(GAsyncResult *res, guint64 *size, gboolean *has_8bit, GError **error);

G_END_DECLS
