#define G_LOG_DOMAIN "MsDotStuffer"

#include "config.h"

#include "ms-dot-stuffer.h"

static const guint8 ms_dot_stuffer_crlf[] = {'\r', '\n'};

void
ms_dot_stuffer_init(MsDotStuffer *self)
{
	g_return_if_fail(self != NULL);
	self->at_line_start = TRUE;
	self->pending_cr = FALSE;
}

void
ms_dot_stuffer_feed(MsDotStuffer *self, const guint8 *data, gsize len, GByteArray *out)
{
	gsize i = 0;

	g_return_if_fail(self != NULL);
	g_return_if_fail(data != NULL || len == 0);
	g_return_if_fail(out != NULL);

	while (i < len) {
		gsize end = i;

		/* a CR has already been written as CRLF; its LF may arrive in this chunk */
		if (self->pending_cr) {
			self->pending_cr = FALSE;
			if (data[i] == '\n') {
				i++;
				continue;
			}
		}
		if (data[i] == '\r' || data[i] == '\n') {
			g_byte_array_append(out, ms_dot_stuffer_crlf, sizeof(ms_dot_stuffer_crlf));
			self->at_line_start = TRUE;
			self->pending_cr = data[i] == '\r';
			i++;
			continue;
		}
		if (self->at_line_start && data[i] == '.')
			g_byte_array_append(out, (const guint8 *)".", 1);
		self->at_line_start = FALSE;

		/* copy the rest of the line in one go rather than byte by byte */
		while (end < len && data[end] != '\r' && data[end] != '\n')
			end++;
		g_byte_array_append(out, data + i, end - i);
		i = end;
	}
}

void
ms_dot_stuffer_finish(MsDotStuffer *self, GByteArray *out)
{
	static const guint8 terminator[] = {'.', '\r', '\n'};

	g_return_if_fail(self != NULL);
	g_return_if_fail(out != NULL);

	/* the terminator must start a line of its own */
	if (!self->at_line_start)
		g_byte_array_append(out, ms_dot_stuffer_crlf, sizeof(ms_dot_stuffer_crlf));
	g_byte_array_append(out, terminator, sizeof(terminator));
	ms_dot_stuffer_init(self);
}

GBytes *
ms_dot_stuff(GBytes *message)
{
	MsDotStuffer stuffer;
	GByteArray *out = NULL;
	gsize len = 0;
	const guint8 *data = NULL;

	g_return_val_if_fail(message != NULL, NULL);

	data = g_bytes_get_data(message, &len);
	/* room for the terminator and a few stuffed dots or CRs, to avoid most reallocations */
	out = g_byte_array_sized_new(len <= G_MAXUINT / 2 ? len + len / 64 + 8 : G_MAXUINT / 2);
	ms_dot_stuffer_init(&stuffer);
	ms_dot_stuffer_feed(&stuffer, data, len, out);
	ms_dot_stuffer_finish(&stuffer, out);
	return g_byte_array_free_to_bytes(out);
}
