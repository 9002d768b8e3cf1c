#include "config.h"

#include <gio/gio.h>
#include <string.h>

#include "ms-message.h"
#include "ms-mime-downgrade.h"

/* the 200-octet line of the single-part case: the "é" lands where it needs a soft break before
 * it, as an "=XX" is never split */
static void
ms_test_append_long_line(GString *in, GString *expected)
{
	gsize start = in->len;

	for (guint i = 0; i < 74; i++)
		g_string_append_c(in, 'a');
	g_string_append(in, "é");
	for (guint i = 0; i < 124; i++)
		g_string_append_c(in, 'b');
	g_assert_cmpuint(in->len - start, ==, 200);
	g_string_append(in, "\r\n");

	for (guint i = 0; i < 74; i++)
		g_string_append_c(expected, 'a');
	g_string_append(expected, "=\r\n=C3=A9");
	for (guint i = 0; i < 69; i++)
		g_string_append_c(expected, 'b');
	g_string_append(expected, "=\r\n");
	for (guint i = 0; i < 55; i++)
		g_string_append_c(expected, 'b');
	g_string_append(expected, "\r\n");
}

/* reads the message through a GConverterInputStream, read_size bytes at a time */
static GBytes *
ms_test_downgrade_input_stream(GBytes *in, gsize read_size)
{
	g_autoptr(MsMimeDowngrade) downgrade = ms_mime_downgrade_new();
	g_autoptr(GInputStream) base = g_memory_input_stream_new_from_bytes(in);
	g_autoptr(GInputStream) stream = g_converter_input_stream_new(base, G_CONVERTER(downgrade));
	g_autoptr(GByteArray) out = g_byte_array_new();
	g_autofree guint8 *buf = g_malloc(read_size);

	while (TRUE) {
		g_autoptr(GError) error = NULL;
		gssize n = g_input_stream_read(stream, buf, read_size, NULL, &error);

		g_assert_no_error(error);
		g_assert_cmpint(n, >=, 0);
		if (n == 0)
			break;
		g_byte_array_append(out, buf, (guint)n);
	}
	return g_byte_array_free_to_bytes(g_steal_pointer(&out));
}

/* writes the message through a GConverterOutputStream in chunks, flushing after each one,
 * which drives the converter with G_CONVERTER_FLUSH and, on close, INPUT_AT_END */
static GBytes *
ms_test_downgrade_output_stream(GBytes *in, gsize write_size)
{
	g_autoptr(MsMimeDowngrade) downgrade = ms_mime_downgrade_new();
	g_autoptr(GOutputStream) base = g_memory_output_stream_new_resizable();
	g_autoptr(GOutputStream) stream =
	    g_converter_output_stream_new(base, G_CONVERTER(downgrade));
	g_autoptr(GError) error = NULL;
	const guint8 *data = g_bytes_get_data(in, NULL);
	gsize len = g_bytes_get_size(in);
	gboolean ret;

	for (gsize pos = 0; pos < len; pos += write_size) {
		gsize n = MIN(write_size, len - pos);

		ret = g_output_stream_write_all(stream, data + pos, n, NULL, NULL, &error);
		g_assert_no_error(error);
		g_assert_true(ret);
		ret = g_output_stream_flush(stream, NULL, &error);
		g_assert_no_error(error);
		g_assert_true(ret);
	}
	ret = g_output_stream_close(stream, NULL, &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	return g_memory_output_stream_steal_as_bytes(G_MEMORY_OUTPUT_STREAM(base));
}

/* calls g_converter_convert() directly: input is offered in_step bytes more each time the
 * converter asks for more (G_IO_ERROR_PARTIAL_INPUT), output space is out_size bytes */
static GBytes *
ms_test_downgrade_direct(GConverter *converter, GBytes *in, gsize in_step, gsize out_size)
{
	g_autoptr(GByteArray) out = g_byte_array_new();
	g_autofree guint8 *buf = g_malloc(out_size);
	const guint8 *data = g_bytes_get_data(in, NULL);
	gsize len = g_bytes_get_size(in);
	gsize pos = 0;
	gsize avail = MIN(in_step, len);

	while (TRUE) {
		g_autoptr(GError) error = NULL;
		gsize bytes_read = 0;
		gsize bytes_written = 0;
		GConverterResult res;

		res = g_converter_convert(converter,
					  data + pos,
					  avail - pos,
					  buf,
					  out_size,
					  avail == len ? G_CONVERTER_INPUT_AT_END
						       : G_CONVERTER_NO_FLAGS,
					  &bytes_read,
					  &bytes_written,
					  &error);
		if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_PARTIAL_INPUT)) {
			/* it only asks once everything offered was taken */
			g_assert_cmpuint(pos, ==, avail);
			g_assert_cmpuint(avail, <, len);
			avail = MIN(avail + in_step, len);
			continue;
		}
		g_assert_no_error(error);
		g_assert_cmpuint(bytes_read, <=, avail - pos);
		g_assert_cmpuint(bytes_written, <=, out_size);
		g_byte_array_append(out, buf, (guint)bytes_written);
		pos += bytes_read;
		if (res == G_CONVERTER_FINISHED) {
			g_assert_cmpuint(pos, ==, len);
			break;
		}
		g_assert_cmpint(res, ==, G_CONVERTER_CONVERTED);
		g_assert_true(bytes_read > 0 || bytes_written > 0);
	}
	return g_byte_array_free_to_bytes(g_steal_pointer(&out));
}

static void
ms_test_assert_bytes(GBytes *got, const gchar *expected, gsize expected_len)
{
	gsize len = 0;
	const guint8 *data = g_bytes_get_data(got, &len);

	g_assert_cmpmem(data, len, expected, expected_len);
}

/* every way of driving the converter must give exactly the expected bytes */
static void
ms_test_downgrade_check(const gchar *in, gsize in_len, const gchar *expected, gsize expected_len)
{
	g_autoptr(GBytes) in_bytes = g_bytes_new(in, in_len);
	const gsize read_sizes[] = {1, 7, 64 * 1024};
	const gsize direct[][2] = {{1, 5}, {3, 1}, {G_MAXSIZE, 5}, {G_MAXSIZE, 64 * 1024}};

	for (guint i = 0; i < G_N_ELEMENTS(read_sizes); i++) {
		g_autoptr(GBytes) got = ms_test_downgrade_input_stream(in_bytes, read_sizes[i]);
		ms_test_assert_bytes(got, expected, expected_len);
	}
	for (guint i = 0; i < G_N_ELEMENTS(direct); i++) {
		g_autoptr(MsMimeDowngrade) downgrade = ms_mime_downgrade_new();
		g_autoptr(GBytes) got = ms_test_downgrade_direct(G_CONVERTER(downgrade),
								 in_bytes,
								 direct[i][0],
								 direct[i][1]);
		ms_test_assert_bytes(got, expected, expected_len);
	}
	for (guint i = 0; i < G_N_ELEMENTS(read_sizes); i++) {
		g_autoptr(GBytes) got = ms_test_downgrade_output_stream(in_bytes, read_sizes[i]);
		ms_test_assert_bytes(got, expected, expected_len);
	}
}

static void
ms_test_downgrade_check_str(const gchar *in, const gchar *expected)
{
	ms_test_downgrade_check(in, strlen(in), expected, strlen(expected));
}

static void
ms_mime_downgrade_single_part_func(void)
{
	g_autoptr(GString) in = g_string_new(NULL);
	g_autoptr(GString) expected = g_string_new(NULL);
	const gchar *headers_before = "From: Anna <anna@example.org>\r\n"
				      "To: bob@example.org\r\n"
				      "Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\r\n"
				      "MIME-Version: 1.0\r\n"
				      "Content-Type: text/plain; charset=UTF-8\r\n";
	const gchar *headers_after = "X-After: kept\r\n"
				     "\r\n";

	g_string_append(in, headers_before);
	g_string_append(in, "Content-Transfer-Encoding: 8bit\r\n");
	g_string_append(in, headers_after);
	g_string_append(expected, headers_before);
	g_string_append(expected, "Content-Transfer-Encoding: quoted-printable\r\n");
	g_string_append(expected, headers_after);

	g_string_append(in,
			"Grüße, 你好\r\n"
			"trailing space \r\n"
			"tab at end\t\r\n"
			"inner  spaces\tstay\r\n"
			"a=b\r\n"
			".starts with a dot\r\n"
			".\r\n");
	g_string_append(expected,
			"Gr=C3=BC=C3=9Fe, =E4=BD=A0=E5=A5=BD\r\n"
			"trailing space=20\r\n"
			"tab at end=09\r\n"
			"inner  spaces\tstay\r\n"
			"a=3Db\r\n"
			".starts with a dot\r\n"
			".\r\n");
	ms_test_append_long_line(in, expected);
	g_string_append(in, "\r\nEnde ö");
	g_string_append(expected, "\r\nEnde =C3=B6");

	ms_test_downgrade_check(in->str, in->len, expected->str, expected->len);
}

static void
ms_mime_downgrade_unchanged_func(void)
{
	const gchar *messages[] = {
	    /* 7bit, with things that would change if it were encoded */
	    "From: a@example.org\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=us-ascii\r\n"
	    "Content-Transfer-Encoding: 7bit\r\n"
	    "\r\n"
	    "Hello = world \r\n"
	    "--not a boundary\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n"
	    ".\r\n",
	    /* base64 */
	    "From: a@example.org\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: application/octet-stream\r\n"
	    "Content-Transfer-Encoding: base64\r\n"
	    "\r\n"
	    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4\r\n"
	    "OTo7PD0+P0BBQkNERUZH\r\n",
	    /* already quoted-printable */
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n"
	    "\r\n"
	    "Gr=C3=BC=C3=9Fe=20\r\n",
	    /* values that are not exactly 8bit */
	    "Content-Transfer-Encoding: 8bits\r\n\r\nü\r\n",
	    "Content-Transfer-Encoding: binary\r\n\r\nü\r\n",
	    "Content-Transfer-Encoding: \"8bit\"\r\n\r\nü\r\n",
	    "X-Content-Transfer-Encoding: 8bit\r\n\r\nü\r\n",
	    "Content-Transfer-Encoding-X: 8bit\r\n\r\nü\r\n",
	    /* a multipart is never re-encoded itself, and without a boundary its parts are
	     * not found */
	    "Content-Type: multipart/mixed\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n"
	    "\r\n"
	    "--x\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n"
	    "\r\n"
	    "ü\r\n"
	    "--x--\r\n",
	    /* only headers, no empty line, no body */
	    "Subject: x\r\n"
	    "Content-Transfer-Encoding: 8bit",
	    "Content-Transfer-Encoding: 8bit\r\n",
	    /* nothing at all */
	    "",
	    /* not a header block at all */
	    "\r\n\r\nü\r\n",
	};

	for (guint i = 0; i < G_N_ELEMENTS(messages); i++)
		ms_test_downgrade_check_str(messages[i], messages[i]);
}

static void
ms_mime_downgrade_no_mime_func(void)
{
	/* no MIME headers: 8-bit bytes, a NUL, bare LF and CR, no final line end */
	const gchar message[] = "From: a@example.org\r\n"
				"Subject: Gr\xfc\xdf\x65\r\n"
				"\r\n"
				"Gr\xfc\xdf\x65 \r\n"
				"bare\nlf and\rcr\r\n"
				"nul \0 byte\r\n"
				"--\r\n"
				"\x80\xff end \xfe";

	ms_test_downgrade_check(message, sizeof(message) - 1, message, sizeof(message) - 1);
}

static void
ms_mime_downgrade_multipart_func(void)
{
	const gchar *in = "MIME-Version: 1.0\r\n"
			  "Content-Type: multipart/mixed;\r\n"
			  " boundary=\"outer=_(b d)\"\r\n"
			  "Subject: multipart\r\n"
			  "\r\n"
			  "This is a MIME message: préambule = ok \r\n"
			  "--outer=_(b d)\r\n"
			  "Content-Type: multipart/alternative; charset=x;\r\n"
			  "\tBOUNDARY=inner_1\r\n"
			  "\r\n"
			  "inner preamble ü\r\n"
			  "--inner_1\r\n"
			  "Content-Type: text/plain; charset=utf-8\r\n"
			  "Content-Transfer-Encoding: 8bit\r\n"
			  "\r\n"
			  "Grüße\r\n"
			  "--inner_1x\r\n"
			  "-- \r\n"
			  "--inner_1 x\r\n"
			  "--outer=_(b d)x ü\r\n"
			  "\r\n"
			  "--inner_1\r\n"
			  "Content-Type: text/html; charset=utf-8\r\n"
			  "Content-Transfer-Encoding: 8bit\r\n"
			  "\r\n"
			  "<p>Grüße</p>\r\n"
			  "--inner_1--\r\n"
			  "inner epilogue é\r\n"
			  "--inner_1\r\n"
			  "Content-Transfer-Encoding: 8bit\r\n"
			  "\r\n"
			  "still the epilogue ü\r\n"
			  "--outer=_(b d)\r\n"
			  "Content-Type: application/octet-stream; name=\"a.bin\"\r\n"
			  "Content-Transfer-Encoding: base64\r\n"
			  "\r\n"
			  "AAECAw==\r\n"
			  "--outer=_(b d)\t\r\n"
			  "Content-Type: text/plain; charset=\"utf-8\"\r\n"
			  "Content-Transfer-Encoding: 8BIT\r\n"
			  "\r\n"
			  "Tschüß \r\n"
			  "--outer=_(b d)--  \r\n"
			  "epilogue é\r\n"
			  "--outer=_(b d)\r\n"
			  "Content-Transfer-Encoding: 8bit\r\n"
			  "\r\n"
			  "ü\r\n";
	const gchar *expected = "MIME-Version: 1.0\r\n"
				"Content-Type: multipart/mixed;\r\n"
				" boundary=\"outer=_(b d)\"\r\n"
				"Subject: multipart\r\n"
				"\r\n"
				"This is a MIME message: préambule = ok \r\n"
				"--outer=_(b d)\r\n"
				"Content-Type: multipart/alternative; charset=x;\r\n"
				"\tBOUNDARY=inner_1\r\n"
				"\r\n"
				"inner preamble ü\r\n"
				"--inner_1\r\n"
				"Content-Type: text/plain; charset=utf-8\r\n"
				"Content-Transfer-Encoding: quoted-printable\r\n"
				"\r\n"
				"Gr=C3=BC=C3=9Fe\r\n"
				"--inner_1x\r\n"
				"--=20\r\n"
				"--inner_1 x\r\n"
				"--outer=3D_(b d)x =C3=BC\r\n"
				"\r\n"
				"--inner_1\r\n"
				"Content-Type: text/html; charset=utf-8\r\n"
				"Content-Transfer-Encoding: quoted-printable\r\n"
				"\r\n"
				"<p>Gr=C3=BC=C3=9Fe</p>\r\n"
				"--inner_1--\r\n"
				"inner epilogue é\r\n"
				"--inner_1\r\n"
				"Content-Transfer-Encoding: 8bit\r\n"
				"\r\n"
				"still the epilogue ü\r\n"
				"--outer=_(b d)\r\n"
				"Content-Type: application/octet-stream; name=\"a.bin\"\r\n"
				"Content-Transfer-Encoding: base64\r\n"
				"\r\n"
				"AAECAw==\r\n"
				"--outer=_(b d)\t\r\n"
				"Content-Type: text/plain; charset=\"utf-8\"\r\n"
				"Content-Transfer-Encoding: quoted-printable\r\n"
				"\r\n"
				"Tsch=C3=BC=C3=9F=20\r\n"
				"--outer=_(b d)--  \r\n"
				"epilogue é\r\n"
				"--outer=_(b d)\r\n"
				"Content-Transfer-Encoding: 8bit\r\n"
				"\r\n"
				"ü\r\n";

	ms_test_downgrade_check_str(in, expected);
}

static void
ms_mime_downgrade_boundary_func(void)
{
	/* a delimiter of the outer multipart ends an inner one that was never closed; a part
	 * may have no headers; the close delimiter may end the input without a CRLF */
	const gchar *in = "Content-Type: multipart/mixed; boundary=a; x=\"boundary=no\"\r\n"
			  "\r\n"
			  "--a\r\n"
			  "Content-Type: Multipart/Related;boundary = \"b;c\"\r\n"
			  "\r\n"
			  "--b;c\r\n"
			  "Content-Transfer-Encoding: 8bit\r\n"
			  "\r\n"
			  "ü\r\n"
			  "--a\r\n"
			  "\r\n"
			  "no headers ü\r\n"
			  "--a\r\n"
			  "Content-Transfer-Encoding: 8bit\r\n"
			  "\r\n"
			  "--b;c\r\n"
			  "ä\r\n"
			  "--a--";
	const gchar *expected = "Content-Type: multipart/mixed; boundary=a; x=\"boundary=no\"\r\n"
				"\r\n"
				"--a\r\n"
				"Content-Type: Multipart/Related;boundary = \"b;c\"\r\n"
				"\r\n"
				"--b;c\r\n"
				"Content-Transfer-Encoding: quoted-printable\r\n"
				"\r\n"
				"=C3=BC\r\n"
				"--a\r\n"
				"\r\n"
				"no headers ü\r\n"
				"--a\r\n"
				"Content-Transfer-Encoding: quoted-printable\r\n"
				"\r\n"
				"--b;c\r\n"
				"=C3=A4\r\n"
				"--a--";

	ms_test_downgrade_check_str(in, expected);
}

static void
ms_mime_downgrade_digest_func(void)
{
	/* the parts of a digest and an attached message have headers of their own */
	const gchar *in = "Content-Type: multipart/digest; boundary=d\r\n"
			  "\r\n"
			  "--d\r\n"
			  "\r\n"
			  "Subject: one\r\n"
			  "Content-Transfer-Encoding: 8bit\r\n"
			  "\r\n"
			  "ü\r\n"
			  "--d\r\n"
			  "Content-Type: message/rfc822\r\n"
			  "Content-Transfer-Encoding: 8bit\r\n"
			  "\r\n"
			  "Subject: two\r\n"
			  "Content-Type: text/plain; charset=utf-8\r\n"
			  "Content-Transfer-Encoding: 8bit\r\n"
			  "\r\n"
			  "ö\r\n"
			  "--d\r\n"
			  "Content-Type: text/plain\r\n"
			  "\r\n"
			  "Content-Transfer-Encoding: 8bit\r\n"
			  "\r\n"
			  "ä\r\n"
			  "--d--\r\n";
	const gchar *expected = "Content-Type: multipart/digest; boundary=d\r\n"
				"\r\n"
				"--d\r\n"
				"\r\n"
				"Subject: one\r\n"
				"Content-Transfer-Encoding: quoted-printable\r\n"
				"\r\n"
				"=C3=BC\r\n"
				"--d\r\n"
				"Content-Type: message/rfc822\r\n"
				"Content-Transfer-Encoding: 8bit\r\n"
				"\r\n"
				"Subject: two\r\n"
				"Content-Type: text/plain; charset=utf-8\r\n"
				"Content-Transfer-Encoding: quoted-printable\r\n"
				"\r\n"
				"=C3=B6\r\n"
				"--d\r\n"
				"Content-Type: text/plain\r\n"
				"\r\n"
				"Content-Transfer-Encoding: 8bit\r\n"
				"\r\n"
				"ä\r\n"
				"--d--\r\n";

	ms_test_downgrade_check_str(in, expected);
}

static void
ms_mime_downgrade_cte_variants_func(void)
{
	const gchar *headers[] = {
	    "Content-Transfer-Encoding:  8BIT \r\n",
	    "content-transfer-encoding:\t8Bit\r\n",
	    "CONTENT-TRANSFER-ENCODING:8bit\r\n",
	    "Content-Transfer-Encoding:\r\n 8bit\r\n",
	    "Content-Transfer-Encoding: \r\n\t8bit \r\n \r\n",
	    "Content-Transfer-Encoding : 8bit\r\n",
	};

	for (guint i = 0; i < G_N_ELEMENTS(headers); i++) {
		g_autofree gchar *in = g_strdup_printf("Subject: x\r\n"
						       "%s"
						       "X-After: y\r\n"
						       "\r\n"
						       "ü \r\n",
						       headers[i]);
		const gchar *expected = "Subject: x\r\n"
					"Content-Transfer-Encoding: quoted-printable\r\n"
					"X-After: y\r\n"
					"\r\n"
					"=C3=BC=20\r\n";

		ms_test_downgrade_check_str(in, expected);
	}
}

static void
ms_mime_downgrade_large_headers_func(void)
{
	g_autoptr(GString) in = g_string_new("Content-Transfer-Encoding: 8bit\r\n");

	/* over the cap the block is not looked at: it and its body go through unchanged */
	while (in->len < 80 * 1024)
		g_string_append(
		    in,
		    "X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
	g_string_append(in, "\r\nü \r\n");
	ms_test_downgrade_check(in->str, in->len, in->str, in->len);
}

/* a plain decoder to check the encoding of long lines, which is not exactly the one of
 * ms_message_append_quoted_printable_line(): also checks the RFC 2045 §6.7 line rules */
static GString *
ms_test_qp_decode(const gchar *data, gsize len)
{
	GString *str = g_string_new(NULL);
	gsize line_start = 0;

	for (gsize i = 0; i < len; i++) {
		if (data[i] == '\r') {
			g_assert_cmpuint(i + 1, <, len);
			g_assert_cmpint(data[i + 1], ==, '\n');
			g_assert_cmpuint(i - line_start, <=, 76);
			g_assert_true(i == line_start ||
				      (data[i - 1] != ' ' && data[i - 1] != '\t'));
			g_string_append(str, "\r\n");
			i++;
			line_start = i + 1;
		} else if (data[i] == '=') {
			gchar hex[3] = {0};

			g_assert_cmpuint(i + 2, <, len);
			if (data[i + 1] == '\r' && data[i + 2] == '\n') {
				g_assert_cmpuint(i + 1 - line_start, <=, 76);
				i += 2;
				line_start = i + 1;
				continue;
			}
			hex[0] = data[i + 1];
			hex[1] = data[i + 2];
			g_assert_true(g_ascii_isxdigit(hex[0]) && g_ascii_isxdigit(hex[1]));
			g_string_append_c(str, (gchar)g_ascii_strtoull(hex, NULL, 16));
			i += 2;
		} else {
			g_assert_true(data[i] == ' ' || data[i] == '\t' ||
				      (data[i] >= 33 && data[i] <= 126));
			g_string_append_c(str, data[i]);
		}
	}
	g_assert_cmpuint(len - line_start, <=, 76);
	return str;
}

static void
ms_mime_downgrade_long_lines_func(void)
{
	const gchar *headers = "Content-Transfer-Encoding: 8bit\r\n\r\n";
	const gchar *expected_headers = "Content-Transfer-Encoding: quoted-printable\r\n\r\n";
	g_autoptr(GString) body = g_string_new(NULL);
	g_autoptr(GString) in = g_string_new(headers);
	g_autoptr(GBytes) in_bytes = NULL;
	const gsize lengths[] = {4095, 4096, 4097, 8191, 8192, 20000};
	const gsize read_sizes[] = {1, 7, 64 * 1024};
	g_autoptr(GString) last = g_string_new(NULL);

	/* over-long lines of all kinds; the white space at their end must be encoded, that in
	 * the middle may be, and a CR may fall at the end of a piece */
	for (guint i = 0; i < G_N_ELEMENTS(lengths); i++) {
		for (gsize j = 0; j < lengths[i] - 1; j++)
			g_string_append(body, j % 7 == 3 ? " " : (j % 5 == 1 ? "\xc3" : "x"));
		g_string_append(body, i % 2 == 0 ? " \r\n" : "\t\r\n");
		for (gsize j = 0; j < lengths[i]; j++)
			g_string_append_c(body, ' ');
		g_string_append(body, "\r\n");
	}
	/* a short line after them still goes out as the composer writes it */
	g_string_append(body, "Grüße \r\n");
	g_string_append(in, body->str);
	/* and the last line may be long and without a line end */
	for (gsize j = 0; j < 9000; j++)
		g_string_append_c(last, j % 3 == 0 ? '=' : 'y');
	g_string_append(in, last->str);
	g_string_append(body, last->str);
	in_bytes = g_bytes_new(in->str, in->len);

	for (guint i = 0; i < G_N_ELEMENTS(read_sizes) + 1; i++) {
		g_autoptr(MsMimeDowngrade) downgrade = ms_mime_downgrade_new();
		g_autoptr(GBytes) got = NULL;
		g_autoptr(GString) decoded = NULL;
		const gchar *data;
		gsize len = 0;
		gsize hlen = strlen(expected_headers);

		if (i < G_N_ELEMENTS(read_sizes))
			got = ms_test_downgrade_input_stream(in_bytes, read_sizes[i]);
		else
			got = ms_test_downgrade_direct(G_CONVERTER(downgrade), in_bytes, 1, 5);
		data = g_bytes_get_data(got, &len);
		g_assert_cmpuint(len, >, hlen);
		g_assert_cmpmem(data, hlen, expected_headers, hlen);
		g_assert_true(strstr(data + hlen, "\r\nGr=C3=BC=C3=9Fe=20\r\n") != NULL);
		decoded = ms_test_qp_decode(data + hlen, len - hlen);
		g_assert_cmpmem(decoded->str, decoded->len, body->str, body->len);
	}
}

static void
ms_mime_downgrade_small_output_func(void)
{
	g_autoptr(MsMimeDowngrade) downgrade = ms_mime_downgrade_new();
	g_autoptr(GString) out = g_string_new(NULL);
	const gchar *in = "Content-Transfer-Encoding: 8bit\r\n\r\nü\r\n";
	const gchar *expected = "Content-Transfer-Encoding: quoted-printable\r\n\r\n=C3=BC\r\n";
	gsize in_len = strlen(in);
	gsize pos = 0;

	/* output larger than the buffer is handed out over later calls, one byte at a time here,
	 * rather than failing with G_IO_ERROR_NO_SPACE; the input is all taken at once */
	while (TRUE) {
		g_autoptr(GError) error = NULL;
		gsize bytes_read = 0;
		gsize bytes_written = 0;
		gchar c = '\0';
		GConverterResult res;

		res = g_converter_convert(G_CONVERTER(downgrade),
					  in + pos,
					  in_len - pos,
					  &c,
					  1,
					  G_CONVERTER_INPUT_AT_END,
					  &bytes_read,
					  &bytes_written,
					  &error);
		g_assert_no_error(error);
		g_assert_cmpuint(bytes_read, ==, pos == 0 ? in_len : 0);
		pos += bytes_read;
		g_string_append_len(out, &c, (gssize)bytes_written);
		if (res == G_CONVERTER_FINISHED) {
			g_assert_cmpuint(bytes_written, ==, 1);
			break;
		}
		g_assert_cmpint(res, ==, G_CONVERTER_CONVERTED);
		g_assert_cmpuint(bytes_written, ==, 1);
	}
	g_assert_cmpstr(out->str, ==, expected);
}

static void
ms_mime_downgrade_partial_input_func(void)
{
	g_autoptr(MsMimeDowngrade) downgrade = ms_mime_downgrade_new();
	g_autoptr(GError) error = NULL;
	gsize bytes_read = 0;
	gsize bytes_written = 0;
	guint8 out[64] = {0};
	const gchar *expected = "Content-Transfer-Encoding: quoted-printable\r\n\r\n=C3=BC";
	GConverterResult res;

	/* an incomplete header line is taken but cannot be decided on yet */
	res = g_converter_convert(G_CONVERTER(downgrade),
				  "Content-Transfer-Encoding: 8bit",
				  31,
				  out,
				  sizeof(out),
				  G_CONVERTER_NO_FLAGS,
				  &bytes_read,
				  &bytes_written,
				  &error);
	g_assert_no_error(error);
	g_assert_cmpint(res, ==, G_CONVERTER_CONVERTED);
	g_assert_cmpuint(bytes_read, ==, 31);
	g_assert_cmpuint(bytes_written, ==, 0);

	res = g_converter_convert(G_CONVERTER(downgrade),
				  NULL,
				  0,
				  out,
				  sizeof(out),
				  G_CONVERTER_NO_FLAGS,
				  &bytes_read,
				  &bytes_written,
				  &error);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_PARTIAL_INPUT);
	g_assert_cmpint(res, ==, G_CONVERTER_ERROR);
	g_clear_error(&error);

	/* flushing cannot decide on it either, but is not an error */
	res = g_converter_convert(G_CONVERTER(downgrade),
				  NULL,
				  0,
				  out,
				  sizeof(out),
				  G_CONVERTER_FLUSH,
				  &bytes_read,
				  &bytes_written,
				  &error);
	g_assert_no_error(error);
	g_assert_cmpint(res, ==, G_CONVERTER_FLUSHED);
	g_assert_cmpuint(bytes_written, ==, 0);

	res = g_converter_convert(G_CONVERTER(downgrade),
				  "\r\n\r\nü",
				  6,
				  out,
				  sizeof(out),
				  G_CONVERTER_INPUT_AT_END,
				  &bytes_read,
				  &bytes_written,
				  &error);
	g_assert_no_error(error);
	g_assert_cmpint(res, ==, G_CONVERTER_FINISHED);
	g_assert_cmpuint(bytes_read, ==, 6);
	g_assert_cmpmem(out, bytes_written, expected, strlen(expected));
}

static void
ms_mime_downgrade_reset_func(void)
{
	g_autoptr(MsMimeDowngrade) downgrade = ms_mime_downgrade_new();
	g_autoptr(GBytes) in = NULL;
	g_autoptr(GBytes) got = NULL;
	g_autoptr(GError) error = NULL;
	const gchar *msg = "Content-Type: text/plain\r\n"
			   "Content-Transfer-Encoding: 8bit\r\n"
			   "\r\n"
			   "ü\r\n";
	gsize bytes_read = 0;
	gsize bytes_written = 0;
	guint8 out[8] = {0};
	GConverterResult res;

	/* left half-way in an 8bit part, with a boundary pushed and output waiting */
	res = g_converter_convert(G_CONVERTER(downgrade),
				  "Content-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\n"
				  "Content-Transfer-Encoding: 8bit\r\n\r\nä",
				  83,
				  out,
				  sizeof(out),
				  G_CONVERTER_NO_FLAGS,
				  &bytes_read,
				  &bytes_written,
				  &error);
	g_assert_no_error(error);
	g_assert_cmpint(res, ==, G_CONVERTER_CONVERTED);
	g_assert_cmpuint(bytes_read, ==, 83);

	g_converter_reset(G_CONVERTER(downgrade));
	in = g_bytes_new_static(msg, strlen(msg));
	got = ms_test_downgrade_direct(G_CONVERTER(downgrade), in, G_MAXSIZE, 64);
	ms_test_assert_bytes(got,
			     "Content-Type: text/plain\r\n"
			     "Content-Transfer-Encoding: quoted-printable\r\n"
			     "\r\n"
			     "=C3=BC\r\n",
			     strlen("Content-Type: text/plain\r\n"
				    "Content-Transfer-Encoding: quoted-printable\r\n"
				    "\r\n"
				    "=C3=BC\r\n"));
}

static MsMessage *
ms_test_message_new(gboolean allow_8bit)
{
	g_autoptr(MsMessage) message = ms_message_new();
	g_autoptr(GDateTime) date = g_date_time_new_utc(2026, 1, 5, 9, 3, 7);
	g_autoptr(GBytes) attachment = g_bytes_new_static("\x00\x01\x02\xff", 4);
	g_autoptr(GError) error = NULL;
	g_autoptr(GString) body = g_string_new("Grüße aus Köln, 你好!\n"
					       "trailing space \n"
					       "a = b\n"
					       ".dot\n"
					       "-- \n"
					       "sig\n");
	gboolean ret;

	/* the longest line an 8bit part may have */
	for (guint i = 0; i < 998 / 2; i++)
		g_string_append(body, "ü");
	g_string_append(body, "\nend");

	ms_message_set_8bit_allowed(message, allow_8bit);
	ms_message_set_date(message, date);
	ms_message_set_message_id(message, "<1@example.org>");
	ms_message_set_boundary_seed(message, "test");
	ret = ms_message_set_from(message, "anna@example.org", &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	ret = ms_message_add_to(message, "bob@example.org", &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	ret = ms_message_set_subject(message, "Grüße", &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	ret = ms_message_set_body(message, body->str, &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	ret = ms_message_set_html(message, "<p>Grüße \t</p>\n<p>= ok</p>\n", &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	ret = ms_message_add_attachment_bytes(message,
					      "data.bin",
					      "application/octet-stream",
					      attachment,
					      &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	return g_steal_pointer(&message);
}

static void
ms_mime_downgrade_composer_func(void)
{
	g_autoptr(MsMessage) message_8bit = ms_test_message_new(TRUE);
	g_autoptr(MsMessage) message_qp = ms_test_message_new(FALSE);
	g_autoptr(GBytes) bytes_8bit = NULL;
	g_autoptr(GBytes) bytes_qp = NULL;
	g_autoptr(GError) error = NULL;
	const gchar *qp;
	gsize qp_len = 0;

	/* downgrading what the composer writes for an 8BITMIME server gives what it writes for
	 * the others */
	bytes_8bit = ms_message_to_bytes(message_8bit, &error);
	g_assert_no_error(error);
	g_assert_nonnull(bytes_8bit);
	bytes_qp = ms_message_to_bytes(message_qp, &error);
	g_assert_no_error(error);
	g_assert_nonnull(bytes_qp);
	g_assert_false(g_bytes_equal(bytes_8bit, bytes_qp));
	g_assert_nonnull(g_strstr_len(g_bytes_get_data(bytes_8bit, NULL),
				      (gssize)g_bytes_get_size(bytes_8bit),
				      "\r\nContent-Transfer-Encoding: 8bit\r\n"));
	qp = g_bytes_get_data(bytes_qp, &qp_len);
	ms_test_downgrade_check(g_bytes_get_data(bytes_8bit, NULL),
				g_bytes_get_size(bytes_8bit),
				qp,
				qp_len);
}

/* the large case: line i of the input and of the expected output */
static void
ms_test_large_line(GString *str, guint i)
{
	g_string_truncate(str, 0);
	g_string_append_printf(str, "%u: Grüße aus Köln = schön, 你好", i);
	if (i % 3 == 0)
		g_string_append_c(str, ' ');
	if (i % 1000 == 7) {
		while (str->len < 998)
			g_string_append_c(str, i % 2 == 0 ? 'x' : '=');
	}
}

typedef struct {
	GString *expected; /* expected output not compared yet */
	GString *line;
	guint next_line;
	guint n_lines;
	gboolean trailer_done;
	gsize total;
} MsTestLargeCheck;

static void
ms_test_large_check(MsTestLargeCheck *check, const guint8 *data, gsize len)
{
	while (check->expected->len < len) {
		if (check->next_line < check->n_lines) {
			ms_test_large_line(check->line, check->next_line++);
			ms_message_append_quoted_printable_line(check->expected,
								check->line->str,
								check->line->len);
			g_string_append(check->expected, "\r\n");
		} else if (!check->trailer_done) {
			g_string_append(check->expected, "--large--\r\n");
			check->trailer_done = TRUE;
		} else {
			break;
		}
	}
	g_assert_cmpuint(len, <=, check->expected->len);
	g_assert_cmpmem(data, len, check->expected->str, len);
	g_string_erase(check->expected, 0, len);
	check->total += len;
}

static void
ms_mime_downgrade_large_func(void)
{
	const gchar *headers = "Content-Type: multipart/mixed; boundary=large\r\n"
			       "\r\n"
			       "--large\r\n"
			       "Content-Type: text/plain; charset=utf-8\r\n"
			       "Content-Transfer-Encoding: 8bit\r\n"
			       "\r\n";
	const gchar *expected_headers = "Content-Type: multipart/mixed; boundary=large\r\n"
					"\r\n"
					"--large\r\n"
					"Content-Type: text/plain; charset=utf-8\r\n"
					"Content-Transfer-Encoding: quoted-printable\r\n"
					"\r\n";
	g_autoptr(GString) in = g_string_new(headers);
	g_autoptr(GString) line = g_string_new(NULL);
	g_autoptr(GBytes) in_bytes = NULL;
	g_autoptr(GInputStream) base = NULL;
	g_autoptr(GInputStream) stream = NULL;
	g_autoptr(MsMimeDowngrade) downgrade = ms_mime_downgrade_new();
	g_autoptr(MsMimeDowngrade) downgrade_direct = ms_mime_downgrade_new();
	g_autofree guint8 *buf = g_malloc(64 * 1024);
	g_autoptr(GString) expected = g_string_new(expected_headers);
	g_autoptr(GString) check_line = g_string_new(NULL);
	MsTestLargeCheck check = {expected, check_line, 0, 0, FALSE, 0};
	const guint8 *data;
	gsize total_stream;
	gsize in_len;
	gsize pos = 0;

	/* 20 MiB of 8bit text; the expected output is made line by line as it is compared */
	while (in->len < 20 * 1024 * 1024) {
		ms_test_large_line(line, check.n_lines++);
		g_string_append_len(in, line->str, line->len);
		g_string_append(in, "\r\n");
	}
	g_string_append(in, "--large--\r\n");
	in_len = in->len;
	in_bytes = g_bytes_new_take(g_string_free(g_steal_pointer(&in), FALSE), in_len);
	data = g_bytes_get_data(in_bytes, NULL);

	/* through a stream, as the daemon reads the spool file */
	base = g_memory_input_stream_new_from_bytes(in_bytes);
	stream = g_converter_input_stream_new(base, G_CONVERTER(downgrade));
	while (TRUE) {
		g_autoptr(GError) error = NULL;
		gssize n = g_input_stream_read(stream, buf, 64 * 1024, NULL, &error);

		g_assert_no_error(error);
		g_assert_cmpint(n, >=, 0);
		if (n == 0)
			break;
		ms_test_large_check(&check, buf, (gsize)n);
	}
	g_assert_cmpuint(check.next_line, ==, check.n_lines);
	g_assert_true(check.trailer_done);
	g_assert_cmpuint(check.expected->len, ==, 0);
	g_assert_cmpuint(check.total, >, in_len);
	total_stream = check.total;

	/* all 20 MiB offered at once: the converter takes them a little at a time, so what
	 * waits inside stays small */
	g_string_assign(check.expected, expected_headers);
	check.next_line = 0;
	check.trailer_done = FALSE;
	check.total = 0;
	while (TRUE) {
		g_autoptr(GError) error = NULL;
		gsize bytes_read = 0;
		gsize bytes_written = 0;
		GConverterResult res;

		res = g_converter_convert(G_CONVERTER(downgrade_direct),
					  data + pos,
					  in_len - pos,
					  buf,
					  64 * 1024,
					  G_CONVERTER_INPUT_AT_END,
					  &bytes_read,
					  &bytes_written,
					  &error);
		g_assert_no_error(error);
		g_assert_cmpuint(bytes_read, <=, 256 * 1024);
		ms_test_large_check(&check, buf, bytes_written);
		pos += bytes_read;
		if (res == G_CONVERTER_FINISHED)
			break;
		g_assert_cmpint(res, ==, G_CONVERTER_CONVERTED);
	}
	g_assert_cmpuint(pos, ==, in_len);
	g_assert_cmpuint(check.expected->len, ==, 0);
	g_assert_cmpuint(check.total, ==, total_stream);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/mail-sender/mime-downgrade/single-part",
			ms_mime_downgrade_single_part_func);
	g_test_add_func("/mail-sender/mime-downgrade/unchanged", ms_mime_downgrade_unchanged_func);
	g_test_add_func("/mail-sender/mime-downgrade/no-mime", ms_mime_downgrade_no_mime_func);
	g_test_add_func("/mail-sender/mime-downgrade/multipart", ms_mime_downgrade_multipart_func);
	g_test_add_func("/mail-sender/mime-downgrade/boundary", ms_mime_downgrade_boundary_func);
	g_test_add_func("/mail-sender/mime-downgrade/digest", ms_mime_downgrade_digest_func);
	g_test_add_func("/mail-sender/mime-downgrade/cte-variants",
			ms_mime_downgrade_cte_variants_func);
	g_test_add_func("/mail-sender/mime-downgrade/large-headers",
			ms_mime_downgrade_large_headers_func);
	g_test_add_func("/mail-sender/mime-downgrade/long-lines",
			ms_mime_downgrade_long_lines_func);
	g_test_add_func("/mail-sender/mime-downgrade/small-output",
			ms_mime_downgrade_small_output_func);
	g_test_add_func("/mail-sender/mime-downgrade/partial-input",
			ms_mime_downgrade_partial_input_func);
	g_test_add_func("/mail-sender/mime-downgrade/reset", ms_mime_downgrade_reset_func);
	g_test_add_func("/mail-sender/mime-downgrade/composer", ms_mime_downgrade_composer_func);
	g_test_add_func("/mail-sender/mime-downgrade/large", ms_mime_downgrade_large_func);
	return g_test_run();
}
