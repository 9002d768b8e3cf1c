/*
 * libFuzzer target for the 8BITMIME downgrade (ms-mime-downgrade.c), which every message to a
 * server without 8BITMIME goes through, raw messages from callers included.
 *
 * Build and run from the top of the source tree (BUILDDIR holds config.h); the corpus is
 * copied first so that libFuzzer does not add its findings to the source tree:
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iservice -I$BUILDDIR \
 *     $(pkg-config --cflags gio-2.0) tests/fuzz/fuzz-mime-downgrade.c \
 *     service/ms-mime-downgrade.c service/ms-message.c service/ms-address.c \
 *     $(pkg-config --libs gio-2.0) -o /tmp/fuzz-mime-downgrade
 *   cp -r tests/fuzz/corpus/mime-downgrade /tmp/corpus-mime-downgrade
 *   /tmp/fuzz-mime-downgrade -max_total_time=30 /tmp/corpus-mime-downgrade
 *
 * The first byte picks how the input is cut and how much output room each call gets; the rest
 * is the message. Whatever the cuts, the output must be the same as in one call; a message
 * without "8bit" anywhere (even across line breaks and spaces) must come out unchanged; no
 * call may stall.
 */

#include "config.h"

#include <gio/gio.h>
#include <stdint.h>
#include <string.h>

#include "ms-mime-downgrade.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* the whole input through a fresh converter, in_step bytes of input and out_size bytes of
 * room per call */
static GByteArray *
fuzz_convert(const guint8 *data, gsize size, gsize in_step, gsize out_size)
{
	g_autoptr(GConverter) converter = G_CONVERTER(ms_mime_downgrade_new());
	GByteArray *out = g_byte_array_new();
	g_autofree guint8 *buf = g_malloc(out_size);
	gsize pos = 0;
	guint stalls = 0;

	for (;;) {
		g_autoptr(GError) error = NULL;
		gsize avail = MIN(in_step, size - pos);
		gboolean at_end = pos + avail == size;
		gsize bytes_read = 0;
		gsize bytes_written = 0;
		GConverterResult result;

		result =
		    g_converter_convert(converter,
					data + pos,
					avail,
					buf,
					out_size,
					at_end ? G_CONVERTER_INPUT_AT_END : G_CONVERTER_NO_FLAGS,
					&bytes_read,
					&bytes_written,
					&error);
		if (result == G_CONVERTER_ERROR) {
			/* only "give me more", and only while there is more */
			g_assert_true(g_error_matches(error, G_IO_ERROR, G_IO_ERROR_PARTIAL_INPUT));
			g_assert_false(at_end);
			g_assert_cmpuint(bytes_read, ==, 0);
			in_step *= 2;
			continue;
		}
		g_assert_cmpuint(bytes_read, <=, avail);
		g_assert_cmpuint(bytes_written, <=, out_size);
		g_byte_array_append(out, buf, (guint)bytes_written);
		pos += bytes_read;
		if (result == G_CONVERTER_FINISHED) {
			g_assert_cmpuint(pos, ==, size);
			break;
		}
		stalls = bytes_read == 0 && bytes_written == 0 ? stalls + 1 : 0;
		g_assert_cmpuint(stalls, <, 3);
	}
	return out;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autoptr(GByteArray) whole = NULL;
	g_autoptr(GByteArray) cut = NULL;
	gsize in_step;
	gsize out_size;
	g_autofree gchar *lower = NULL;

	if (size < 1)
		return 0;
	in_step = 1 + (data[0] & 0x0f) * 7;
	out_size = 1 + (data[0] >> 4) * 5;
	data++;
	size--;

	whole = fuzz_convert(data, size, MAX(size, 1), 256 * 1024);
	cut = fuzz_convert(data, size, in_step, out_size);
	g_assert_cmpmem(whole->data, whole->len, cut->data, cut->len);

	/* line breaks out, as unfolding a header takes them out */
	lower = g_ascii_strdown((const gchar *)data, (gssize)size);
	g_strdelimit(lower, "\r\n", ' ');
	{
		g_autoptr(GString) squeezed = g_string_new(lower);
		g_string_replace(squeezed, " ", "", 0);
		if (memchr(data, '\0', size) == NULL && strstr(squeezed->str, "8bit") == NULL)
			g_assert_cmpmem(whole->data, whole->len, data, size);
	}
	return 0;
}
