#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Turns message bytes into the SMTP DATA payload (RFC 5321 §4.5.2), in chunks, so a large
 * message can be streamed: every line ending becomes CRLF (bare LF and bare CR too), a line
 * starting with '.' gets another '.', and finish() ends the last line if needed and appends
 * the ".\r\n" terminator. The caller checks line lengths before (ms-message). */
typedef struct {
	gboolean at_line_start;
	gboolean pending_cr;
} MsDotStuffer;

void
ms_dot_stuffer_init(MsDotStuffer *self);
void
ms_dot_stuffer_feed(MsDotStuffer *self, const guint8 *data, gsize len, GByteArray *out);
void
ms_dot_stuffer_finish(MsDotStuffer *self, GByteArray *out);
/* whole-buffer convenience: feed + finish */
GBytes *
ms_dot_stuff(GBytes *message);

G_END_DECLS
