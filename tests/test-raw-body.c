#include "config.h"

#include <gio/gio.h>
#include <string.h>

#include "ms-raw-body.h"
#include "ms-raw-message.h"

/* a header block that needs nothing added, so that both ways give the same bytes */
#define TEST_HEAD                                                                                  \
	"From: Ann <ann@example.org>\n"                                                            \
	"To: bob@example.org\n"                                                                    \
	"Date: Sun, 1 Feb 2026 10:00:00 +0100\n"                                                   \
	"Message-ID: <m1@example.org>\n"                                                           \
	"\n"

/* the whole message through ms_raw_message_parse() and ms_raw_message_to_bytes(); NULL if it
 * is refused */
static GBytes *
test_whole(const guint8 *data, gsize len, MsRawMessageFlags flags)
{
	g_autoptr(GBytes) input = g_bytes_new(data, len);
	g_autoptr(GError) error = NULL;
	g_autoptr(MsRawMessage) raw = ms_raw_message_parse(input, flags, &error);

	if (raw == NULL) {
		g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
		return NULL;
	}
	return ms_raw_message_to_bytes(raw, NULL, NULL);
}

/* the same message the streaming way, as SendRawFd does it for a large one: the header block
 * parsed alone, the body fed to an MsRawBody in pieces of chunk octets; NULL if refused */
static GBytes *
test_streamed(const guint8 *data, gsize len, MsRawMessageFlags flags, gsize chunk)
{
	g_autoptr(GByteArray) out = g_byte_array_new();
	g_autoptr(GBytes) head = NULL;
	g_autoptr(GBytes) header_section = NULL;
	g_autoptr(MsRawMessage) raw = NULL;
	g_autoptr(GError) error = NULL;
	guint body_line = 0;
	gsize body_offset = ms_raw_message_find_body_start(data, len, &body_line);
	MsRawBody body;

	g_assert_cmpuint(body_offset, >, 0);
	head = g_bytes_new(data, body_offset);
	raw = ms_raw_message_parse(head, flags, &error);
	g_assert_no_error(error);
	header_section = ms_raw_message_to_bytes(raw, NULL, &error);
	g_assert_no_error(error);
	g_byte_array_append(out,
			    g_bytes_get_data(header_section, NULL),
			    (guint)g_bytes_get_size(header_section));
	ms_raw_body_init(&body, flags, body_line, body_offset);
	for (gsize pos = body_offset; pos < len && !ms_raw_body_has_ended(&body); pos += chunk) {
		if (!ms_raw_body_feed(&body, data + pos, MIN(chunk, len - pos), out, &error)) {
			g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
			return NULL;
		}
	}
	ms_raw_body_finish(&body, out);
	g_assert_cmpuint(ms_raw_body_get_written(&body),
			 ==,
			 out->len - g_bytes_get_size(header_section));
	return g_byte_array_free_to_bytes(g_steal_pointer(&out));
}

static void
test_assert_same(const guint8 *data, gsize len, MsRawMessageFlags flags)
{
	const gsize chunks[] = {1, 2, 3, 5, 64, 4096};
	g_autoptr(GBytes) whole = test_whole(data, len, flags);

	for (guint i = 0; i < G_N_ELEMENTS(chunks); i++) {
		g_autoptr(GBytes) streamed = test_streamed(data, len, flags, chunks[i]);

		if (whole == NULL) {
			g_assert_null(streamed);
			continue;
		}
		g_assert_nonnull(streamed);
		g_assert_cmpmem(g_bytes_get_data(streamed, NULL),
				g_bytes_get_size(streamed),
				g_bytes_get_data(whole, NULL),
				g_bytes_get_size(whole));
	}
}

static void
test_assert_body_same(const gchar *body, gssize len, MsRawMessageFlags flags)
{
	g_autoptr(GByteArray) message = g_byte_array_new();

	g_byte_array_append(message, (const guint8 *)TEST_HEAD, strlen(TEST_HEAD));
	g_byte_array_append(message, (const guint8 *)body, len < 0 ? strlen(body) : (guint)len);
	test_assert_same(message->data, message->len, flags);
}

/* line ends, '.' lines and a last line without a line end, cut at every possible place */
static void
test_raw_body_same_as_whole(void)
{
	const gchar *bodies[] = {
	    "",
	    "a",
	    "a\n",
	    "a\r",
	    "a\r\n",
	    "\r\n\r\n",
	    "\n\n\r\r",
	    ".\n",
	    ".",
	    ".x\n",
	    "..\n",
	    "a\n.\nb\n",
	    "a\n.",
	    "a\r.\r\nb",
	    "x\r\r\n\n",
	    "\n.\r\nrest",
	    "caf\xc3\xa9\n",
	    ".\r",
	    "a\r\n.\rb",
	    " .\n",
	    ".\n.\n",
	    "end\r\n.",
	    "\r",
	    "\n",
	};
	const MsRawMessageFlags flags[] = {MS_RAW_MESSAGE_FLAG_NONE, MS_RAW_MESSAGE_FLAG_DOT_ENDS};

	/* a NUL after a '.' line: refused, unless that line ends the message */
	static const gchar with_nul[] = "a\n.\n\0after";

	for (guint f = 0; f < G_N_ELEMENTS(flags); f++) {
		for (guint i = 0; i < G_N_ELEMENTS(bodies); i++)
			test_assert_body_same(bodies[i], -1, flags[f]);
		test_assert_body_same(with_nul, sizeof(with_nul) - 1, flags[f]);
	}
}

/* random bodies of the octets that matter, with both flags */
static void
test_raw_body_random(void)
{
	const guint8 alphabet[] = {'a', '.', '\r', '\n', 0xc3, ' ', '.', '\n'};
	g_autoptr(GRand) rand = g_rand_new_with_seed(20261124);

	for (guint round = 0; round < 2000; round++) {
		gsize len = (gsize)g_rand_int_range(rand, 0, 300);
		g_autoptr(GByteArray) body = g_byte_array_sized_new((guint)len);
		MsRawMessageFlags flags =
		    g_rand_boolean(rand) ? MS_RAW_MESSAGE_FLAG_DOT_ENDS : MS_RAW_MESSAGE_FLAG_NONE;

		for (gsize i = 0; i < len; i++)
			g_byte_array_append(
			    body,
			    &alphabet[g_rand_int_range(rand, 0, G_N_ELEMENTS(alphabet))],
			    1);
		/* now and then one the rules refuse */
		if (len > 0 && round % 50 == 0)
			body->data[len / 2] = '\0';
		test_assert_body_same((const gchar *)body->data, (gssize)body->len, flags);
	}
}

/* refused the same way, and the error says where */
static void
test_raw_body_refused(void)
{
	g_autofree gchar *long_line = g_strnfill(999, 'x');
	g_autofree gchar *longest = g_strnfill(998, 'x');
	g_autofree gchar *body = g_strdup_printf("ok\n%s\n", long_line);
	g_autofree gchar *fits = g_strdup_printf("ok\n%s\n", longest);
	g_autoptr(GByteArray) out = g_byte_array_new();
	g_autoptr(GError) error = NULL;
	MsRawBody raw_body;

	test_assert_body_same(body, -1, MS_RAW_MESSAGE_FLAG_NONE);
	test_assert_body_same(fits, -1, MS_RAW_MESSAGE_FLAG_NONE);

	ms_raw_body_init(&raw_body, MS_RAW_MESSAGE_FLAG_NONE, 7, 100);
	g_assert_false(
	    ms_raw_body_feed(&raw_body, (const guint8 *)body, strlen(body), out, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	g_assert_nonnull(strstr(error->message, "line 8 is longer than 998 octets"));
	g_clear_error(&error);

	ms_raw_body_init(&raw_body, MS_RAW_MESSAGE_FLAG_NONE, 1, 100);
	g_assert_false(ms_raw_body_feed(&raw_body, (const guint8 *)"ab\0", 3, out, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	g_assert_nonnull(strstr(error->message, "NUL bytes at offset 102"));
}

static void
test_raw_body_8bit(void)
{
	g_autoptr(GByteArray) out = g_byte_array_new();
	MsRawBody body;

	ms_raw_body_init(&body, MS_RAW_MESSAGE_FLAG_NONE, 1, 0);
	g_assert_true(ms_raw_body_feed(&body, (const guint8 *)"plain\n", 6, out, NULL));
	g_assert_false(ms_raw_body_has_8bit(&body));
	g_assert_true(ms_raw_body_feed(&body, (const guint8 *)"caf\xc3\xa9\n", 6, out, NULL));
	g_assert_true(ms_raw_body_has_8bit(&body));
}

static void
test_raw_body_find_body_start(void)
{
	const gchar *head = "A: 1\r\nB: 2\n C\n\nbody";
	guint line = 0;

	g_assert_cmpuint(ms_raw_message_find_body_start((const guint8 *)head, strlen(head), &line),
			 ==,
			 strlen(head) - 4);
	g_assert_cmpuint(line, ==, 5);
	/* no empty line yet */
	g_assert_cmpuint(ms_raw_message_find_body_start((const guint8 *)"A: 1\nB: 2\n", 10, NULL),
			 ==,
			 0);
	/* a CR at the end may be the start of a CRLF */
	g_assert_cmpuint(ms_raw_message_find_body_start((const guint8 *)"A: 1\r\n\r", 7, NULL),
			 ==,
			 0);
	g_assert_cmpuint(ms_raw_message_find_body_start((const guint8 *)"A: 1\r\n\r\n", 8, NULL),
			 ==,
			 8);
	g_assert_cmpuint(ms_raw_message_find_body_start((const guint8 *)"A: 1\r\rx", 8, NULL),
			 ==,
			 6);
}

static void
test_raw_body_find_dot_line(void)
{
	g_assert_cmpuint(ms_raw_message_find_dot_line((const guint8 *)"a\n.\nb", 5), ==, 2);
	g_assert_cmpuint(ms_raw_message_find_dot_line((const guint8 *)"a\n.b\n", 5), ==, 5);
	/* a '.' at the end may start a longer line */
	g_assert_cmpuint(ms_raw_message_find_dot_line((const guint8 *)"a\n.", 3), ==, 3);
	g_assert_cmpuint(ms_raw_message_find_dot_line((const guint8 *)".\r", 2), ==, 0);
}

typedef struct {
	GBytes *written;
	guint64 size;
	gboolean has_8bit;
	GError *error;
	gboolean done;
} TestCopy;

static void
test_copy_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	TestCopy *copy = user_data;

	ms_raw_body_copy_finish(res, &copy->size, &copy->has_8bit, &copy->error);
	copy->done = TRUE;
}

static void
test_copy(const gchar *prefix,
	  const gchar *body_start,
	  GBytes *rest,
	  guint64 max_size,
	  MsRawMessageFlags flags,
	  TestCopy *copy)
{
	g_autoptr(GInputStream) in = g_memory_input_stream_new_from_bytes(rest);
	g_autoptr(GOutputStream) out = g_memory_output_stream_new_resizable();
	g_autoptr(GBytes) prefix_bytes = g_bytes_new_static(prefix, strlen(prefix));
	g_autoptr(GBytes) start_bytes = g_bytes_new_static(body_start, strlen(body_start));

	ms_raw_body_copy_async(in,
			       prefix_bytes,
			       start_bytes,
			       out,
			       flags,
			       1,
			       0,
			       max_size,
			       NULL,
			       test_copy_cb,
			       copy);
	while (!copy->done)
		g_main_context_iteration(NULL, TRUE);
	g_assert_true(g_output_stream_is_closed(out));
	copy->written = g_memory_output_stream_steal_as_bytes(G_MEMORY_OUTPUT_STREAM(out));
}

/* the async copy: prefix, the body read already, then the stream, in 64 KiB pieces */
static void
test_raw_body_copy(void)
{
	g_autoptr(GByteArray) rest = g_byte_array_new();
	g_autoptr(GByteArray) expected = g_byte_array_new();
	g_autoptr(GBytes) rest_bytes = NULL;
	TestCopy copy = {0};

	/* "second" has no line end: it runs on into the stream's first line */
	g_byte_array_append(expected,
			    (const guint8 *)"Head: x\r\n\r\nfirst\r\nsecond",
			    strlen("Head: x\r\n\r\nfirst\r\nsecond"));
	for (guint i = 0; i < 20000; i++) {
		g_autofree gchar *line = g_strdup_printf("line %u caf\xc3\xa9\n", i);
		g_autofree gchar *crlf = g_strdup_printf("line %u caf\xc3\xa9\r\n", i);
		g_byte_array_append(rest, (const guint8 *)line, (guint)strlen(line));
		g_byte_array_append(expected, (const guint8 *)crlf, (guint)strlen(crlf));
	}
	rest_bytes = g_byte_array_free_to_bytes(g_steal_pointer(&rest));
	test_copy("Head: x\r\n\r\n", "first\nsecond", rest_bytes, G_MAXUINT64, 0, &copy);
	g_assert_no_error(copy.error);
	g_assert_true(copy.has_8bit);
	g_assert_cmpmem(g_bytes_get_data(copy.written, NULL),
			g_bytes_get_size(copy.written),
			expected->data,
			expected->len);
	g_assert_cmpuint(copy.size, ==, expected->len);
	g_bytes_unref(copy.written);
}

static void
test_raw_body_copy_errors(void)
{
	g_autoptr(GBytes) rest = g_bytes_new_static("abc\n\0def\n", 9);
	g_autoptr(GBytes) plain = g_bytes_new_static("abcdefgh\n", 9);
	TestCopy copy = {0};

	test_copy("H: x\r\n\r\n", "", rest, G_MAXUINT64, 0, &copy);
	g_assert_error(copy.error, MS_RAW_BODY_ERROR, MS_RAW_BODY_ERROR_INVALID);
	g_clear_error(&copy.error);
	g_clear_pointer(&copy.written, g_bytes_unref);

	copy = (TestCopy){0};
	test_copy("H: x\r\n\r\n", "", plain, 12, 0, &copy);
	g_assert_error(copy.error, MS_RAW_BODY_ERROR, MS_RAW_BODY_ERROR_TOO_LARGE);
	g_clear_error(&copy.error);
	g_clear_pointer(&copy.written, g_bytes_unref);

	/* a '.' line ends it: the rest of the stream is not read */
	copy = (TestCopy){0};
	test_copy("H: x\r\n\r\n", "a\n", rest, G_MAXUINT64, MS_RAW_MESSAGE_FLAG_DOT_ENDS, &copy);
	g_assert_error(copy.error, MS_RAW_BODY_ERROR, MS_RAW_BODY_ERROR_INVALID);
	g_clear_error(&copy.error);
	g_clear_pointer(&copy.written, g_bytes_unref);

	copy = (TestCopy){0};
	test_copy("H: x\r\n\r\n", "a\n.\n", rest, G_MAXUINT64, MS_RAW_MESSAGE_FLAG_DOT_ENDS, &copy);
	g_assert_no_error(copy.error);
	g_assert_cmpmem(g_bytes_get_data(copy.written, NULL),
			g_bytes_get_size(copy.written),
			"H: x\r\n\r\na\r\n",
			strlen("H: x\r\n\r\na\r\n"));
	g_clear_pointer(&copy.written, g_bytes_unref);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/mail-sender/raw-body/same-as-whole", test_raw_body_same_as_whole);
	g_test_add_func("/mail-sender/raw-body/random", test_raw_body_random);
	g_test_add_func("/mail-sender/raw-body/refused", test_raw_body_refused);
	g_test_add_func("/mail-sender/raw-body/8bit", test_raw_body_8bit);
	g_test_add_func("/mail-sender/raw-body/find-body-start", test_raw_body_find_body_start);
	g_test_add_func("/mail-sender/raw-body/find-dot-line", test_raw_body_find_dot_line);
	g_test_add_func("/mail-sender/raw-body/copy", test_raw_body_copy);
	g_test_add_func("/mail-sender/raw-body/copy-errors", test_raw_body_copy_errors);
	return g_test_run();
}
