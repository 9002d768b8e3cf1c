/* libFuzzer target: a raw message streamed the SendRawFd way (the header block parsed alone,
 * the body through an MsRawBody in pieces) must give exactly the bytes of the whole-message way
 * (ms_raw_message_parse() and ms_raw_message_to_bytes()), or both must refuse it.
 *
 * The first byte picks the flags (bit 0 DOT_ENDS) and the piece size (the other bits, plus
 * one); the rest is the message. Inputs whose header block does not end, or that hold a '.'
 * line within it, take the whole-message way in the daemon and are only run through that.
 *
 * Build and run: tests/fuzz/run-fuzzers.sh (see README "Testing").
 */

#include "config.h"

#include <gio/gio.h>
#include <stdint.h>
#include <string.h>

#include "ms-raw-body.h"
#include "ms-raw-message.h"

#define FUZZ_DEFAULT_FROM "Fuzz Sender <fuzz@example.org>"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static GBytes *
fuzz_whole(const guint8 *data, gsize len, MsRawMessageFlags flags, GDateTime *date)
{
	g_autoptr(GBytes) input = g_bytes_new(data, len);
	g_autoptr(MsRawMessage) raw = ms_raw_message_parse(input, flags, NULL);

	if (raw == NULL)
		return NULL;
	ms_raw_message_set_date(raw, date);
	ms_raw_message_set_message_id(raw, "fixed@example.org");
	return ms_raw_message_to_bytes(raw, FUZZ_DEFAULT_FROM, NULL);
}

static GBytes *
fuzz_streamed(const guint8 *data,
	      gsize len,
	      gsize body_offset,
	      guint body_line,
	      MsRawMessageFlags flags,
	      gsize piece,
	      GDateTime *date)
{
	g_autoptr(GBytes) head = g_bytes_new(data, body_offset);
	g_autoptr(MsRawMessage) raw = ms_raw_message_parse(head, flags, NULL);
	g_autoptr(GBytes) header_section = NULL;
	g_autoptr(GByteArray) out = g_byte_array_new();
	MsRawBody body;

	if (raw == NULL)
		return NULL;
	ms_raw_message_set_date(raw, date);
	ms_raw_message_set_message_id(raw, "fixed@example.org");
	header_section = ms_raw_message_to_bytes(raw, FUZZ_DEFAULT_FROM, NULL);
	if (header_section == NULL)
		return NULL;
	g_byte_array_append(out,
			    g_bytes_get_data(header_section, NULL),
			    (guint)g_bytes_get_size(header_section));
	ms_raw_body_init(&body, flags, body_line, body_offset);
	for (gsize pos = body_offset; pos < len && !ms_raw_body_has_ended(&body); pos += piece) {
		if (!ms_raw_body_feed(&body, data + pos, MIN(piece, len - pos), out, NULL))
			return NULL;
	}
	ms_raw_body_finish(&body, out);
	return g_byte_array_free_to_bytes(g_steal_pointer(&out));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autoptr(GDateTime) date = NULL;
	g_autoptr(GBytes) whole = NULL;
	g_autoptr(GBytes) streamed = NULL;
	MsRawMessageFlags flags;
	gsize piece;
	gsize body_offset;
	guint body_line = 0;

	if (size < 1 || size > 65536)
		return 0;
	flags = (data[0] & 1) != 0 ? MS_RAW_MESSAGE_FLAG_DOT_ENDS : MS_RAW_MESSAGE_FLAG_NONE;
	piece = (gsize)(data[0] >> 1) + 1;
	data++;
	size--;
	date = g_date_time_new_utc(2026, 1, 5, 9, 3, 7);
	whole = fuzz_whole(data, size, flags, date);
	body_offset = ms_raw_message_find_body_start(data, size, &body_line);
	/* the daemon reads such a message whole */
	if (body_offset == 0 || ((flags & MS_RAW_MESSAGE_FLAG_DOT_ENDS) != 0 &&
				 ms_raw_message_find_dot_line(data, size) < body_offset))
		return 0;
	streamed = fuzz_streamed(data, size, body_offset, body_line, flags, piece, date);
	if (whole == NULL || streamed == NULL) {
		/* refused one way: refused the other (the header block is parsed the same, the
		 * body by the same rules) */
		g_assert_true(whole == NULL && streamed == NULL);
		return 0;
	}
	g_assert_true(g_bytes_equal(whole, streamed));
	return 0;
}
