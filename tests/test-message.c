#include "config.h"

#include <gio/gio.h>
#include <string.h>

#include "ms-message.h"
#include "ms-mime-downgrade.h"

/* an input stream over memory that gives at most max_read bytes per read, so that reads end
 * in the middle of base64 groups, and fails once fail_after bytes have been read (when not 0) */
#define TEST_TYPE_INPUT_STREAM (test_input_stream_get_type())
G_DECLARE_FINAL_TYPE(TestInputStream, test_input_stream, TEST, INPUT_STREAM, GMemoryInputStream)

struct _TestInputStream {
	GMemoryInputStream parent_instance;
	gsize max_read;
	gsize fail_after;
	gsize done;
	gsize largest_request;
};

G_DEFINE_TYPE(TestInputStream, test_input_stream, G_TYPE_MEMORY_INPUT_STREAM)

static gssize
test_input_stream_read(GInputStream *stream,
		       void *buffer,
		       gsize count,
		       GCancellable *cancellable,
		       GError **error)
{
	TestInputStream *self = TEST_INPUT_STREAM(stream);
	gssize n;

	self->largest_request = MAX(self->largest_request, count);
	if (self->fail_after > 0 && self->done >= self->fail_after) {
		g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_FAILED, "disk on fire");
		return -1;
	}
	if (self->max_read > 0)
		count = MIN(count, self->max_read);
	n = G_INPUT_STREAM_CLASS(test_input_stream_parent_class)
		->read_fn(stream, buffer, count, cancellable, error);
	if (n > 0)
		self->done += n;
	return n;
}

static void
test_input_stream_class_init(TestInputStreamClass *klass)
{
	G_INPUT_STREAM_CLASS(klass)->read_fn = test_input_stream_read;
}

static void
test_input_stream_init(TestInputStream *self)
{
}

static GInputStream *
test_input_stream_new(GBytes *data, gsize max_read, gsize fail_after)
{
	TestInputStream *self = g_object_new(TEST_TYPE_INPUT_STREAM, NULL);

	g_memory_input_stream_add_bytes(G_MEMORY_INPUT_STREAM(self), data);
	self->max_read = max_read;
	self->fail_after = fail_after;
	return G_INPUT_STREAM(self);
}

/* a growing memory output stream that remembers its largest single write */
#define TEST_TYPE_OUTPUT_STREAM (test_output_stream_get_type())
G_DECLARE_FINAL_TYPE(TestOutputStream, test_output_stream, TEST, OUTPUT_STREAM, GMemoryOutputStream)

struct _TestOutputStream {
	GMemoryOutputStream parent_instance;
	gsize largest_write;
	guint writes;
};

G_DEFINE_TYPE(TestOutputStream, test_output_stream, G_TYPE_MEMORY_OUTPUT_STREAM)

static gssize
test_output_stream_write(GOutputStream *stream,
			 const void *buffer,
			 gsize count,
			 GCancellable *cancellable,
			 GError **error)
{
	TestOutputStream *self = TEST_OUTPUT_STREAM(stream);

	self->largest_write = MAX(self->largest_write, count);
	self->writes++;
	return G_OUTPUT_STREAM_CLASS(test_output_stream_parent_class)
	    ->write_fn(stream, buffer, count, cancellable, error);
}

static void
test_output_stream_class_init(TestOutputStreamClass *klass)
{
	G_OUTPUT_STREAM_CLASS(klass)->write_fn = test_output_stream_write;
}

static void
test_output_stream_init(TestOutputStream *self)
{
}

static TestOutputStream *
test_output_stream_new(void)
{
	return g_object_new(TEST_TYPE_OUTPUT_STREAM,
			    "realloc-function",
			    g_realloc,
			    "destroy-function",
			    g_free,
			    NULL);
}

/* decodes RFC 2047 encoded-words (UTF-8) separated by folding white space, checking that each
 * word is at most 75 chars and decodes to whole UTF-8 characters on its own; NULL if the value
 * holds anything else */
static gchar *
test_decode_encoded_words(const gchar *value)
{
	g_autoptr(GString) out = g_string_new(NULL);
	g_autoptr(GString) unfolded = g_string_new(value);
	g_auto(GStrv) words = NULL;

	g_string_replace(unfolded, "\r\n", "", 0);
	words = g_strsplit(unfolded->str, " ", -1);
	for (guint i = 0; words[i] != NULL; i++) {
		const gchar *word = words[i];
		gsize len = strlen(word);
		g_autofree gchar *text = NULL;
		g_autoptr(GString) piece = g_string_new(NULL);

		if (len < 12 || len > 75)
			return NULL;
		if (!g_str_has_prefix(word, "=?UTF-8?") || !g_str_has_suffix(word, "?="))
			return NULL;
		if (word[9] != '?')
			return NULL;
		text = g_strndup(word + 10, len - 12);
		if (word[8] == 'B') {
			gsize raw_len = 0;
			g_autofree guchar *raw = g_base64_decode(text, &raw_len);
			g_string_append_len(piece, (const gchar *)raw, raw_len);
		} else if (word[8] == 'Q') {
			for (const gchar *p = text; *p != '\0'; p++) {
				if (*p == '_') {
					g_string_append_c(piece, ' ');
				} else if (*p == '=' && g_ascii_isxdigit(p[1]) &&
					   g_ascii_isxdigit(p[2])) {
					g_string_append_c(piece,
							  (gchar)(g_ascii_xdigit_value(p[1]) * 16 +
								  g_ascii_xdigit_value(p[2])));
					p += 2;
				} else if (g_ascii_isalnum(*p) || strchr("!*+-/", *p) != NULL) {
					g_string_append_c(piece, *p);
				} else {
					return NULL;
				}
			}
		} else {
			return NULL;
		}
		if (!g_utf8_validate_len(piece->str, piece->len, NULL))
			return NULL;
		g_string_append_len(out, piece->str, piece->len);
	}
	return g_string_free(g_steal_pointer(&out), FALSE);
}

/* a small quoted-printable decoder: soft breaks vanish, =XX becomes the byte, hard line ends
 * stay CRLF; NULL on anything RFC 2045 does not allow */
static gchar *
test_decode_qp(const gchar *text)
{
	g_autoptr(GString) out = g_string_new(NULL);

	for (const gchar *p = text; *p != '\0'; p++) {
		if (*p == '=' && p[1] == '\r' && p[2] == '\n') {
			p += 2;
		} else if (*p == '=') {
			if (!g_ascii_isxdigit(p[1]) || !g_ascii_isxdigit(p[2]))
				return NULL;
			if (g_ascii_islower(p[1]) || g_ascii_islower(p[2]))
				return NULL;
			g_string_append_c(
			    out,
			    (gchar)(g_ascii_xdigit_value(p[1]) * 16 + g_ascii_xdigit_value(p[2])));
			p += 2;
		} else {
			g_string_append_c(out, *p);
		}
	}
	return g_string_free(g_steal_pointer(&out), FALSE);
}

/* a message with fixed Date and Message-ID so its bytes can be compared */
static MsMessage *
test_message_new(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GDateTime) date = g_date_time_new_utc(2026, 11, 24, 15, 42, 0);
	g_autoptr(MsMessage) message = ms_message_new();
	gboolean ret;

	ms_message_set_date(message, date);
	ms_message_set_message_id(message, "test-1@example.org");
	ret = ms_message_set_from(message, "Alice Example <alice@example.org>", &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	ret = ms_message_add_to(message, "bob@example.net", &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	return g_steal_pointer(&message);
}

static gchar *
test_message_to_string(MsMessage *message)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) bytes = ms_message_to_bytes(message, &error);
	gsize len = 0;
	const gchar *data;

	g_assert_no_error(error);
	g_assert_nonnull(bytes);
	data = g_bytes_get_data(bytes, &len);
	g_assert_null(memchr(data, '\0', len));
	return g_strndup(data, len);
}

/* every line ends in CRLF, there is no bare CR or LF and no line is over max octets */
static void
test_assert_lines(const gchar *text, gsize max)
{
	gsize line = 0;

	for (const gchar *p = text; *p != '\0'; p++) {
		if (*p == '\r') {
			g_assert_cmpint(p[1], ==, '\n');
			p++;
			line = 0;
			continue;
		}
		g_assert_cmpint(*p, !=, '\n');
		line++;
		g_assert_cmpuint(line, <=, max);
	}
	g_assert_cmpuint(line, ==, 0);
}

/* the header block, up to and including the CRLF of its last line */
static gchar *
test_message_headers(const gchar *text)
{
	const gchar *end = strstr(text, "\r\n\r\n");
	g_assert_nonnull(end);
	return g_strndup(text, end - text + 2);
}

/* the folded value of the first header called name, without "Name: " and the last CRLF */
static gchar *
test_message_header_value(const gchar *text, const gchar *name)
{
	g_autofree gchar *headers = test_message_headers(text);
	g_autofree gchar *prefix = g_strdup_printf("%s: ", name);
	const gchar *start = NULL;
	const gchar *end;

	if (g_str_has_prefix(headers, prefix)) {
		start = headers;
	} else {
		g_autofree gchar *needle = g_strdup_printf("\r\n%s", prefix);
		start = strstr(headers, needle);
		if (start == NULL)
			return NULL;
		start += 2;
	}
	start += strlen(prefix);
	end = start;
	for (;;) {
		end = strstr(end, "\r\n");
		g_assert_nonnull(end);
		if (end[2] != ' ' && end[2] != '\t')
			break;
		end += 2;
	}
	return g_strndup(start, end - start);
}

static const gchar *
test_message_body(const gchar *text)
{
	const gchar *end = strstr(text, "\r\n\r\n");
	g_assert_nonnull(end);
	return end + 4;
}

static void
test_message_ascii(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GDateTime) date = g_date_time_new_utc(2026, 11, 24, 15, 42, 0);
	g_autoptr(MsMessage) message = ms_message_new();
	g_autofree gchar *text = NULL;
	g_autofree gchar *again = NULL;
	gboolean ret;

	ms_message_set_date(message, date);
	ms_message_set_message_id(message, "<test-1@example.org>");
	ret = ms_message_set_from(message, "Alice Example <alice@example.org>", &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	ret = ms_message_add_to(message, "bob@example.net", &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	ret = ms_message_add_to(message, "Carol <carol@example.com>", &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	ret = ms_message_add_cc(message, "\"Dave, the admin\" <dave@example.net>", &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	ret = ms_message_add_bcc(message, "eve@example.net", &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	ret = ms_message_set_reply_to(message, "help@example.org", &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	ret = ms_message_set_subject(message, "Quarterly report", &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	ret = ms_message_set_body(message,
				  "Hello Bob,\n\nthe report is attached.\n-- \nAlice",
				  &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	ret = ms_message_add_header(message, "X-Mailer", "mail-sender test", &error);
	g_assert_no_error(error);
	g_assert_true(ret);

	text = test_message_to_string(message);
	g_assert_cmpstr(text,
			==,
			"Date: Tue, 24 Nov 2026 15:42:00 +0000\r\n"
			"From: Alice Example <alice@example.org>\r\n"
			"Reply-To: help@example.org\r\n"
			"To: bob@example.net,\r\n"
			" Carol <carol@example.com>\r\n"
			"Cc: \"Dave, the admin\" <dave@example.net>\r\n"
			"Subject: Quarterly report\r\n"
			"Message-ID: <test-1@example.org>\r\n"
			"MIME-Version: 1.0\r\n"
			"X-Mailer: mail-sender test\r\n"
			"Content-Type: text/plain; charset=utf-8\r\n"
			"Content-Transfer-Encoding: 7bit\r\n"
			"\r\n"
			"Hello Bob,\r\n"
			"\r\n"
			"the report is attached.\r\n"
			"-- \r\n"
			"Alice\r\n");
	g_assert_cmpstr(ms_address_get_addr_spec(ms_message_get_from(message)),
			==,
			"alice@example.org");

	/* rendering is repeatable */
	again = test_message_to_string(message);
	g_assert_cmpstr(again, ==, text);
}

static void
test_message_subject_roundtrip(const gchar *subject, const gchar *expected_header)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsMessage) message = test_message_new();
	g_autofree gchar *text = NULL;
	g_autofree gchar *value = NULL;
	g_autofree gchar *decoded = NULL;
	gboolean ret;

	ret = ms_message_set_subject(message, subject, &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	text = test_message_to_string(message);
	test_assert_lines(text, 78);
	value = test_message_header_value(text, "Subject");
	if (expected_header != NULL)
		g_assert_cmpstr(value, ==, expected_header);
	decoded = test_decode_encoded_words(value);
	g_assert_cmpstr(decoded, ==, subject);
}

static void
test_message_subject_german(void)
{
	test_message_subject_roundtrip("Grüße aus Köln",
				       "=?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=");
}

static void
test_message_subject_chinese(void)
{
	test_message_subject_roundtrip("你好，世界", "=?UTF-8?B?5L2g5aW977yM5LiW55WM?=");
}

static void
test_message_subject_long_utf8(void)
{
	g_autoptr(GString) german = g_string_new(NULL);
	g_autoptr(GString) chinese = g_string_new(NULL);
	g_autoptr(GString) emoji = g_string_new(NULL);

	for (guint i = 0; i < 12; i++) {
		g_string_append(german, "Grüße aus Köln! ");
		g_string_append(chinese, "你好，世界。");
		g_string_append(emoji, "😀x");
	}
	test_message_subject_roundtrip(german->str, NULL);
	test_message_subject_roundtrip(chinese->str, NULL);
	test_message_subject_roundtrip(emoji->str, NULL);
}

static void
test_message_subject_ascii_folding(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsMessage) message = test_message_new();
	g_autoptr(GString) subject = g_string_new(NULL);
	g_autoptr(GString) unfolded = NULL;
	g_autofree gchar *text = NULL;
	g_autofree gchar *value = NULL;
	gboolean ret;

	for (guint i = 0; i < 40; i++)
		g_string_append_printf(subject, "word%u ", i);
	g_string_append(subject, "end");
	ret = ms_message_set_subject(message, subject->str, &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	text = test_message_to_string(message);
	test_assert_lines(text, 78);
	value = test_message_header_value(text, "Subject");
	g_assert_nonnull(strstr(value, "\r\n "));
	unfolded = g_string_new(value);
	g_string_replace(unfolded, "\r\n", "", 0);
	g_assert_cmpstr(unfolded->str, ==, subject->str);
}

/* a subject with tabs and runs of white space (found by the fuzzer: a tab-only word was once
 * folded onto a line of its own): folded at white space, never onto a line that is white
 * space alone, and unfolding gives back every space and tab */
static void
test_message_subject_white_space_runs(void)
{
	g_autofree gchar *long_word = g_strnfill(75, 'w');
	const gchar *pieces[] = {"\t\t\t",
				 "  \t ",
				 "word",
				 " \t",
				 " \t\tx",
				 "  ",
				 long_word,
				 " \t\t\t ",
				 long_word,
				 " "};

	/* every start column, so that some fold falls on each kind of run */
	for (guint shift = 0; shift < 20; shift++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(MsMessage) message = test_message_new();
		g_autoptr(GString) subject = g_string_new(NULL);
		g_autoptr(GString) unfolded = NULL;
		g_autofree gchar *text = NULL;
		g_autofree gchar *value = NULL;
		g_auto(GStrv) lines = NULL;
		gboolean ret;

		for (guint i = 0; i < shift; i++)
			g_string_append_c(subject, 's');
		for (guint i = 0; i < 60; i++)
			g_string_append(subject, pieces[i % G_N_ELEMENTS(pieces)]);
		ret = ms_message_set_subject(message, subject->str, &error);
		g_assert_no_error(error);
		g_assert_true(ret);
		text = test_message_to_string(message);
		value = test_message_header_value(text, "Subject");
		lines = g_strsplit(value, "\r\n", -1);
		g_assert_cmpuint(g_strv_length(lines), >, 2);
		for (guint i = 1; lines[i] != NULL; i++) {
			g_assert_true(lines[i][0] == ' ' || lines[i][0] == '\t');
			g_assert_cmpuint(strspn(lines[i], " \t"), <, strlen(lines[i]));
			/* over 78 columns only when the line could not have been folded */
			if (strlen(lines[i]) > 78) {
				for (const gchar *p = lines[i] + 1; p[1] != '\0'; p++)
					g_assert_false((*p == ' ' || *p == '\t') && p[1] != ' ' &&
						       p[1] != '\t');
			}
		}
		unfolded = g_string_new(value);
		g_string_replace(unfolded, "\r\n", "", 0);
		g_assert_cmpstr(unfolded->str, ==, subject->str);
	}
}

static void
test_message_subject_special_ascii(void)
{
	struct {
		const gchar *subject;
		const gchar *header;
	} cases[] = {
	    /* would be decoded by a reader, so it is encoded to stay literal */
	    {"=?UTF-8?Q?x?=", "=?UTF-8?Q?=3D=3FUTF-8=3FQ=3Fx=3F=3D?="},
	    /* a control character is not allowed raw in a header */
	    {"bell\x07", "=?UTF-8?Q?bell=07?="},
	    {"  two  spaces  ", "  two  spaces  "},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(MsMessage) message = test_message_new();
		g_autofree gchar *text = NULL;
		g_autofree gchar *value = NULL;
		gboolean ret = ms_message_set_subject(message, cases[i].subject, &error);

		g_assert_no_error(error);
		g_assert_true(ret);
		text = test_message_to_string(message);
		value = test_message_header_value(text, "Subject");
		g_assert_cmpstr(value, ==, cases[i].header);
	}
}

static void
test_message_subject_unfoldable(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsMessage) message = test_message_new();
	g_autofree gchar *url = g_strnfill(1200, 'u');
	g_autofree gchar *text = NULL;
	g_autofree gchar *value = NULL;
	g_autofree gchar *decoded = NULL;
	gboolean ret;

	/* a 1200 character word cannot be folded at spaces, so it is encoded and split */
	ret = ms_message_set_subject(message, url, &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	text = test_message_to_string(message);
	test_assert_lines(text, 78);
	value = test_message_header_value(text, "Subject");
	decoded = test_decode_encoded_words(value);
	g_assert_cmpstr(decoded, ==, url);
}

static void
test_message_empty_subject(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsMessage) message = test_message_new();
	g_autofree gchar *text = NULL;
	g_autofree gchar *set = NULL;
	gboolean ret;

	/* never set */
	text = test_message_to_string(message);
	g_assert_nonnull(strstr(text, "\r\nSubject:\r\nMessage-ID: "));

	ret = ms_message_set_subject(message, "", &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	set = test_message_to_string(message);
	g_assert_cmpstr(set, ==, text);
}

static void
test_message_long_line(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsMessage) message = test_message_new();
	g_autofree gchar *line = g_strnfill(1200, 'a');
	g_autofree gchar *body = g_strdup_printf("short\n%s\nafter", line);
	g_autofree gchar *expected = g_strdup_printf("short\r\n%s\r\nafter\r\n", line);
	g_autofree gchar *text = NULL;
	g_autofree gchar *decoded = NULL;
	gboolean ret;

	ret = ms_message_set_body(message, body, &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	text = test_message_to_string(message);
	g_assert_nonnull(strstr(text, "\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"));
	/* soft breaks keep every line within 76 */
	test_assert_lines(text, 78);
	test_assert_lines(test_message_body(text), 76);
	g_assert_true(
	    g_str_has_prefix(test_message_body(text),
			     "short\r\n"
			     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
			     "aaaaaaaa=\r\n"));
	decoded = test_decode_qp(test_message_body(text));
	g_assert_cmpstr(decoded, ==, expected);
}

static void
test_message_utf8_body(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsMessage) message = test_message_new();
	const gchar *body = "Grüße aus Köln\n\nx = 1 \ntab\t\n你好\n";
	g_autofree gchar *text = NULL;
	g_autofree gchar *decoded = NULL;
	gboolean ret;

	ret = ms_message_set_body(message, body, &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	text = test_message_to_string(message);
	g_assert_nonnull(strstr(text, "\r\nContent-Type: text/plain; charset=utf-8\r\n"));
	g_assert_nonnull(strstr(text, "\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"));
	g_assert_cmpstr(test_message_body(text),
			==,
			"Gr=C3=BC=C3=9Fe aus K=C3=B6ln\r\n"
			"\r\n"
			"x =3D 1=20\r\n"
			"tab=09\r\n"
			"=E4=BD=A0=E5=A5=BD\r\n");
	decoded = test_decode_qp(test_message_body(text));
	g_assert_cmpstr(decoded, ==, "Grüße aus Köln\r\n\r\nx = 1 \r\ntab\t\r\n你好\r\n");
}

/* with 8bit allowed (as the daemon composes): UTF-8 text goes out as it is, marked 8bit, and
 * the message says it needs 8BITMIME; ASCII stays 7bit; a line over 998 octets still needs
 * quoted-printable */
static void
test_message_8bit_body(void)
{
	struct {
		const gchar *body;
		const gchar *cte;
		const gchar *sent;
		MsMailFlags flags;
	} cases[] = {
	    {"Grüße aus Köln\n\nx = 1 \n你好\n",
	     "8bit",
	     "Grüße aus Köln\r\n\r\nx = 1 \r\n你好\r\n",
	     MS_MAIL_FLAG_8BITMIME},
	    {"plain ASCII\n", "7bit", "plain ASCII\r\n", MS_MAIL_FLAG_NONE},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(MsMessage) message = test_message_new();
		g_autofree gchar *text = NULL;
		g_autofree gchar *cte =
		    g_strdup_printf("\r\nContent-Transfer-Encoding: %s\r\n\r\n", cases[i].cte);
		gboolean ret;

		ms_message_set_8bit_allowed(message, TRUE);
		ret = ms_message_set_body(message, cases[i].body, &error);
		g_assert_no_error(error);
		g_assert_true(ret);
		g_assert_cmpint(ms_message_get_mail_flags(message), ==, cases[i].flags);
		text = test_message_to_string(message);
		g_assert_nonnull(strstr(text, cte));
		g_assert_cmpstr(test_message_body(text), ==, cases[i].sent);
	}

	/* 8bit lines are limited to 998 octets too (RFC 2045 §2.8) */
	{
		g_autoptr(GError) error = NULL;
		g_autoptr(MsMessage) message = test_message_new();
		g_autoptr(GString) body = g_string_new("ü");
		g_autofree gchar *text = NULL;
		gboolean ret;

		for (guint i = 0; i < 1000; i++)
			g_string_append_c(body, 'x');
		ms_message_set_8bit_allowed(message, TRUE);
		ret = ms_message_set_body(message, body->str, &error);
		g_assert_no_error(error);
		g_assert_true(ret);
		g_assert_cmpint(ms_message_get_mail_flags(message), ==, MS_MAIL_FLAG_NONE);
		text = test_message_to_string(message);
		g_assert_nonnull(
		    strstr(text, "\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"));
		test_assert_lines(text, 78);
	}
}

/* html and text each get their own encoding; only an 8bit part sets the flag */
static void
test_message_8bit_alternative(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsMessage) message = test_message_new();
	g_autofree gchar *text = NULL;
	gboolean ret;

	ms_message_set_8bit_allowed(message, TRUE);
	ms_message_set_boundary_seed(message, "t");
	ret = ms_message_set_body(message, "ASCII only\n", &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	ret = ms_message_set_html(message, "<p>Grüße</p>\n", &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	g_assert_cmpint(ms_message_get_mail_flags(message), ==, MS_MAIL_FLAG_8BITMIME);
	text = test_message_to_string(message);
	g_assert_nonnull(strstr(text,
				"Content-Type: text/plain; charset=utf-8\r\n"
				"Content-Transfer-Encoding: 7bit\r\n\r\n"
				"ASCII only\r\n"));
	g_assert_nonnull(strstr(text,
				"Content-Type: text/html; charset=utf-8\r\n"
				"Content-Transfer-Encoding: 8bit\r\n\r\n"
				"<p>Grüße</p>\r\n"));
}

/* a UTF-8 local part goes into the header as it is (RFC 6532) and asks for SMTPUTF8; an
 * internationalized domain goes out as A-labels and asks for nothing */
static void
test_message_utf8_addresses(void)
{
	struct {
		const gchar *to;
		const gchar *header;
		MsMailFlags flags;
	} cases[] = {
	    {"Jörg <jörg@example.org>",
	     "To: =?UTF-8?Q?J=C3=B6rg?= <jörg@example.org>\r\n",
	     MS_MAIL_FLAG_SMTPUTF8 | MS_MAIL_FLAG_8BITMIME},
	    {"bob@bücher.example", "To: bob@xn--bcher-kva.example\r\n", MS_MAIL_FLAG_NONE},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(GDateTime) date = g_date_time_new_utc(2026, 11, 24, 15, 42, 0);
		g_autoptr(MsMessage) message = ms_message_new();
		g_autofree gchar *text = NULL;
		gboolean ret;

		ms_message_set_date(message, date);
		ms_message_set_message_id(message, "test-1@example.org");
		ret = ms_message_set_from(message, "alice@example.org", &error);
		g_assert_no_error(error);
		g_assert_true(ret);
		ret = ms_message_add_to(message, cases[i].to, &error);
		g_assert_no_error(error);
		g_assert_true(ret);
		g_assert_cmpint(ms_message_get_mail_flags(message), ==, cases[i].flags);
		text = test_message_to_string(message);
		g_assert_nonnull(strstr(text, cases[i].header));
	}
}

/* the daemon spools 8bit parts and downgrades them for a server without 8BITMIME: that must
 * give exactly the message the composer writes when 8bit is not allowed */
static gchar *
test_message_downgrade(const gchar *text)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GConverter) converter = G_CONVERTER(ms_mime_downgrade_new());
	g_autoptr(GInputStream) base = g_memory_input_stream_new_from_data(text, -1, NULL);
	g_autoptr(GInputStream) input = g_converter_input_stream_new(base, converter);
	g_autoptr(GOutputStream) output = g_memory_output_stream_new_resizable();
	gssize n;

	n = g_output_stream_splice(output,
				   input,
				   G_OUTPUT_STREAM_SPLICE_CLOSE_SOURCE |
				       G_OUTPUT_STREAM_SPLICE_CLOSE_TARGET,
				   NULL,
				   &error);
	g_assert_no_error(error);
	g_assert_cmpint(n, >=, 0);
	return g_strndup(g_memory_output_stream_get_data(G_MEMORY_OUTPUT_STREAM(output)),
			 g_memory_output_stream_get_data_size(G_MEMORY_OUTPUT_STREAM(output)));
}

static MsMessage *
test_message_new_rich(guint variant, gboolean allow_8bit)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsMessage) message = test_message_new();
	g_autoptr(GString) long_line = g_string_new("lang: ");
	gboolean ret;

	for (guint i = 0; i < 120; i++)
		g_string_append(long_line, "äöü ");
	ms_message_set_8bit_allowed(message, allow_8bit);
	ms_message_set_boundary_seed(message, "d");
	ret = ms_message_set_body(message,
				  variant == 2 ? long_line->str
					       : "Grüße aus Köln, 你好 \n\n.dot\n= sign\t\nend",
				  &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	if (variant >= 1) {
		/* a line that is a boundary only in the 8bit form, which then takes the next */
		ret = ms_message_set_html(message, "<p>Grüße</p>\n--=_ms_d_1\n", &error);
		g_assert_no_error(error);
		g_assert_true(ret);
	}
	if (variant >= 2) {
		g_autoptr(GBytes) data = g_bytes_new_static("\xff\x00 binary", 9);
		ret = ms_message_add_attachment_bytes(message, "Bericht.pdf", NULL, data, &error);
		g_assert_no_error(error);
		g_assert_true(ret);
	}
	return g_steal_pointer(&message);
}

static void
test_message_8bit_downgrade(void)
{
	for (guint variant = 0; variant < 3; variant++) {
		g_autoptr(MsMessage) message_8bit = test_message_new_rich(variant, TRUE);
		g_autoptr(MsMessage) message_7bit = test_message_new_rich(variant, FALSE);
		g_autofree gchar *text_8bit = test_message_to_string(message_8bit);
		g_autofree gchar *text_7bit = test_message_to_string(message_7bit);
		g_autofree gchar *downgraded_text = test_message_downgrade(text_8bit);
		g_autoptr(GString) downgraded = g_string_new(downgraded_text);

		g_test_message("variant %u", variant);
		g_assert_nonnull(strstr(text_8bit, "Content-Transfer-Encoding: 8bit\r\n"));
		/* the html holds "--=_ms_d_1" as a line, which quoted-printable hides ("=3D") and
		 * 8bit does not, so the 8bit form took the next boundary; the downgrade keeps it */
		if (variant >= 1) {
			g_assert_nonnull(strstr(text_8bit, "\r\n--=_ms_d_1\r\n"));
			g_assert_null(strstr(text_8bit, "boundary=\"=_ms_d_1\""));
			g_string_replace(downgraded, "=_ms_d_2", "=_ms_d_1", 0);
			g_string_replace(downgraded, "=_ms_d_3", "=_ms_d_2", 0);
		}
		g_assert_cmpstr(downgraded->str, ==, text_7bit);
	}
}

static void
test_message_quoted_printable(void)
{
	struct {
		const gchar *input;
		const gchar *output;
	} cases[] = {
	    {"", ""},
	    {"plain", "plain"},
	    {"a=b", "a=3Db"},
	    {"trailing \r\nspace\t", "trailing=20\r\nspace=09"},
	    {"lf\nonly\rcr\r\n", "lf\r\nonly\r\ncr\r\n"},
	    {"\x01\x7f", "=01=7F"},
	    {"ü", "=C3=BC"},
	    /* 74 chars and an escape: the escape moves to the next line whole */
	    {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=",
	     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=\r\n=3D"},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree gchar *qp = ms_message_encode_quoted_printable(cases[i].input);
		g_assert_cmpstr(qp, ==, cases[i].output);
	}
}

static void
test_message_dots(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsMessage) message = test_message_new();
	g_autofree gchar *text = NULL;
	gboolean ret;

	/* the message is kept as written; dot-stuffing belongs to the SMTP DATA phase */
	ret = ms_message_set_body(message, ".\n..two\n.leading\nmiddle.\n.", &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	text = test_message_to_string(message);
	g_assert_nonnull(strstr(text, "\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"));
	g_assert_cmpstr(test_message_body(text), ==, ".\r\n..two\r\n.leading\r\nmiddle.\r\n.\r\n");
}

static void
test_message_line_endings(void)
{
	struct {
		const gchar *input;
		const gchar *output;
	} cases[] = {
	    {"", ""},
	    {"a", "a\r\n"},
	    {"a\n", "a\r\n"},
	    {"a\r\n", "a\r\n"},
	    {"a\rb\nc\r\nd", "a\r\nb\r\nc\r\nd\r\n"},
	    {"\n\n", "\r\n\r\n"},
	    {"a\n\r", "a\r\n\r\n"},
	    {"a\r\r\n", "a\r\n\r\n"},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(MsMessage) message = test_message_new();
		g_autofree gchar *text = NULL;
		gboolean ret = ms_message_set_body(message, cases[i].input, &error);

		g_assert_no_error(error);
		g_assert_true(ret);
		text = test_message_to_string(message);
		test_assert_lines(text, 998);
		g_assert_cmpstr(test_message_body(text), ==, cases[i].output);
	}
}

static void
test_message_invalid_body(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsMessage) message = test_message_new();
	g_autofree gchar *before = test_message_to_string(message);
	g_autofree gchar *after = NULL;
	gboolean ret;

	ret = ms_message_set_body(message, "bad \xc3\x28 utf-8", &error);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	g_assert_false(ret);
	g_assert_cmpstr(error->message, ==, "body is not valid UTF-8");
	after = test_message_to_string(message);
	g_assert_cmpstr(after, ==, before);
}

typedef gboolean (*TestSetter)(MsMessage *self, const gchar *value, GError **error);

static gboolean
test_add_header_value(MsMessage *self, const gchar *value, GError **error)
{
	return ms_message_add_header(self, "X-Foo", value, error);
}

static gboolean
test_add_header_name(MsMessage *self, const gchar *value, GError **error)
{
	return ms_message_add_header(self, value, "x", error);
}

static void
test_message_injection(void)
{
	const gchar *line_break = "contains a line break; header values must be a single line";
	struct {
		const gchar *field;
		TestSetter setter;
		const gchar *value;
		const gchar *message;
	} cases[] = {
	    {"subject", ms_message_set_subject, "Hi\r\nBcc: eve@evil.example", NULL},
	    {"subject", ms_message_set_subject, "Hi\nBcc: eve@evil.example", NULL},
	    {"subject", ms_message_set_subject, "Hi\rBcc: eve@evil.example", NULL},
	    {"subject", ms_message_set_subject, "Hi\r\n\r\nfake body", NULL},
	    {"from", ms_message_set_from, "Mallory\r\nBcc: eve@evil.example <m@example.org>", NULL},
	    {"from", ms_message_set_from, "m@example.org\nBcc: eve@evil.example", NULL},
	    {"to", ms_message_add_to, "bob@example.net\r\nBcc: eve@evil.example", NULL},
	    {"to", ms_message_add_to, "Bob\n <bob@example.net>", NULL},
	    {"cc", ms_message_add_cc, "bob@example.net\r\nBcc: eve@evil.example", NULL},
	    {"bcc", ms_message_add_bcc, "eve@evil.example\r\nX-Injected: yes", NULL},
	    {"reply-to", ms_message_set_reply_to, "r@example.org\rBcc: eve@evil.example", NULL},
	    {"value of header 'X-Foo'", test_add_header_value, "x\r\nBcc: eve@evil.example", NULL},
	    {"value of header 'X-Foo'", test_add_header_value, "x\n", NULL},
	    {NULL,
	     test_add_header_name,
	     "X-Foo\r\nBcc",
	     "header name contains a line break; names are printable ASCII without ':'"},
	    {NULL,
	     test_add_header_name,
	     "Bcc: eve@evil.example\r\nX-Foo",
	     "header name contains ':'; names are printable ASCII without ':'"},
	    /* other kinds of bad input, still nothing may change */
	    {NULL,
	     ms_message_set_from,
	     "Mallory, Eve <m@example.org>",
	     "from: 'Mallory, Eve <m@example.org>' is not a valid mail address: ',' is only "
	     "allowed inside quotes; give one address per entry"},
	    {NULL,
	     ms_message_add_bcc,
	     "eve@evil.example, bob@example.net",
	     "bcc: 'eve@evil.example, bob@example.net' is not a valid mail address: ',' is only "
	     "allowed inside quotes; give one address per entry"},
	    {NULL,
	     ms_message_add_to,
	     "bob\x01@example.net",
	     "to: 'bob\\x01@example.net' is not a valid mail address: it contains a control "
	     "character"},
	    {NULL, ms_message_set_subject, "bad \xff utf-8", "subject is not valid UTF-8"},
	};
	g_autoptr(GError) error = NULL;
	g_autoptr(MsMessage) message = test_message_new();
	g_autoptr(GPtrArray) recipients_before = NULL;
	g_autofree gchar *before = NULL;
	gboolean ret;

	ret = ms_message_set_subject(message, "Original", &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	ret = ms_message_add_bcc(message, "hidden@example.net", &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	before = test_message_to_string(message);
	recipients_before = ms_message_get_recipients(message);

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error_local = NULL;
		g_autoptr(GPtrArray) recipients = NULL;
		g_autofree gchar *expected = NULL;
		g_autofree gchar *after = NULL;

		ret = cases[i].setter(message, cases[i].value, &error_local);
		g_assert_error(error_local, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
		g_assert_false(ret);
		if (cases[i].message != NULL)
			expected = g_strdup(cases[i].message);
		else
			expected = g_strdup_printf("%s %s", cases[i].field, line_break);
		g_assert_cmpstr(error_local->message, ==, expected);
		g_assert_null(strpbrk(error_local->message, "\r\n"));

		after = test_message_to_string(message);
		g_assert_cmpstr(after, ==, before);
		recipients = ms_message_get_recipients(message);
		g_assert_cmpuint(recipients->len, ==, recipients_before->len);
		for (guint j = 0; j < recipients->len; j++) {
			g_assert_cmpstr(g_ptr_array_index(recipients, j),
					==,
					g_ptr_array_index(recipients_before, j));
		}
	}
	g_assert_null(strstr(before, "evil"));
	g_assert_null(strstr(before, "hidden"));
}

static void
test_message_header_names(void)
{
	g_autofree gchar *long_name = g_strnfill(77, 'X');
	struct {
		const gchar *name;
		const gchar *message;
	} cases[] = {
	    {"", "header name is empty"},
	    {"X Foo", "header name contains white space; names are printable ASCII without ':'"},
	    {"X\tFoo", "header name contains white space; names are printable ASCII without ':'"},
	    {"X-Föo",
	     "header name contains a character that is not printable ASCII; names are printable "
	     "ASCII without ':'"},
	    {"X-\x7f",
	     "header name contains a character that is not printable ASCII; names are printable "
	     "ASCII without ':'"},
	    {"X-Foo:", "header name contains ':'; names are printable ASCII without ':'"},
	    {"Bcc",
	     "header 'Bcc' cannot be added: Bcc recipients never appear in the message; use the "
	     "'bcc' key"},
	    {"bCC",
	     "header 'Bcc' cannot be added: Bcc recipients never appear in the message; use the "
	     "'bcc' key"},
	    {"from", "header 'from' cannot be added: the composer sets it; use the 'from' key"},
	    {"TO", "header 'TO' cannot be added: the composer sets it; use the 'to' key"},
	    {"Cc", "header 'Cc' cannot be added: the composer sets it; use the 'cc' key"},
	    {"reply-to",
	     "header 'reply-to' cannot be added: the composer sets it; use the 'reply-to' key"},
	    {"Subject",
	     "header 'Subject' cannot be added: the composer sets it; use the 'subject' key"},
	    {"date", "header 'date' cannot be added: the composer sets it"},
	    {"Message-Id", "header 'Message-Id' cannot be added: the composer sets it"},
	    {"mime-version", "header 'mime-version' cannot be added: the composer sets it"},
	    {"Content-Type",
	     "header 'Content-Type' cannot be added: the composer sets the Content- "
	     "headers"},
	    {"content-transfer-encoding",
	     "header 'content-transfer-encoding' cannot be added: the composer sets the Content- "
	     "headers"},
	    {long_name,
	     "header name 'XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX…' is longer than 76 characters"},
	};
	g_autoptr(MsMessage) message = test_message_new();
	g_autofree gchar *before = test_message_to_string(message);

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = NULL;
		g_autofree gchar *after = NULL;
		gboolean ret = ms_message_add_header(message, cases[i].name, "value", &error);

		g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
		g_assert_false(ret);
		g_assert_cmpstr(error->message, ==, cases[i].message);
		after = test_message_to_string(message);
		g_assert_cmpstr(after, ==, before);
	}
}

static void
test_message_extra_headers(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsMessage) message = test_message_new();
	g_autofree gchar *name76 = g_strnfill(76, 'Y');
	g_autofree gchar *long_word = g_strnfill(901, 'w');
	g_autofree gchar *text = NULL;
	g_autofree gchar *value = NULL;
	g_autofree gchar *decoded = NULL;
	gboolean ret;

	ret = ms_message_add_header(message, "X-Priority", "1", &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	ret = ms_message_add_header(message, "X-Note", "Ünïcödé välüé", &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	ret = ms_message_add_header(message, "X-Empty", "", &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	ret = ms_message_add_header(message, "X-Priority", "2", &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	ret = ms_message_add_header(message, name76, "ok", &error);
	g_assert_no_error(error);
	g_assert_true(ret);

	/* a structured value is not rewritten, so an unfoldable one is refused */
	ret = ms_message_add_header(message, "X-Long", long_word, &error);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	g_assert_false(ret);
	g_assert_cmpstr(error->message,
			==,
			"value of header 'X-Long' has more than 900 characters without a space, so "
			"it cannot be folded into lines of at most 998");
	g_clear_error(&error);

	text = test_message_to_string(message);
	test_assert_lines(text, 998);
	g_assert_nonnull(strstr(text,
				"\r\nMIME-Version: 1.0\r\n"
				"X-Priority: 1\r\n"
				"X-Note: =?UTF-8?B?w5xuw69jw7Zkw6kgdsOkbMO8w6k=?=\r\n"
				"X-Empty:\r\n"
				"X-Priority: 2\r\n"));
	g_assert_nonnull(strstr(text, "\r\nYYYY"));
	g_assert_nonnull(strstr(text, "YYYY: ok\r\nContent-Type: text/plain; charset=utf-8\r\n"));
	value = test_message_header_value(text, "X-Note");
	decoded = test_decode_encoded_words(value);
	g_assert_cmpstr(decoded, ==, "Ünïcödé välüé");
}

static void
test_message_encode_header_value(void)
{
	g_autofree gchar *ascii = ms_message_encode_header_value("plain =?x?= text", 7);
	g_autofree gchar *german = ms_message_encode_header_value("Grüße aus Köln", 7);
	g_autoptr(GString) long_value = g_string_new(NULL);
	g_autofree gchar *folded = NULL;
	g_autofree gchar *decoded = NULL;
	g_auto(GStrv) lines = NULL;

	g_assert_cmpstr(ascii, ==, "plain =?x?= text");
	g_assert_cmpstr(german, ==, "=?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=");

	for (guint i = 0; i < 20; i++)
		g_string_append(long_value, "Grüße aus Köln ");
	folded = ms_message_encode_header_value(long_value->str, 20);
	lines = g_strsplit(folded, "\r\n", -1);
	g_assert_cmpuint(g_strv_length(lines), >, 3);
	/* the first line shares its 78 columns with "Name: " */
	g_assert_cmpuint(strlen(lines[0]), <=, 78 - 22);
	for (guint i = 1; lines[i] != NULL; i++) {
		g_assert_true(g_str_has_prefix(lines[i], " =?UTF-8?"));
		g_assert_cmpuint(strlen(lines[i]), <=, 76);
	}
	decoded = test_decode_encoded_words(folded);
	g_assert_cmpstr(decoded, ==, long_value->str);

	g_assert_true(ms_message_header_value_is_safe("Grüße"));
	g_assert_true(ms_message_header_value_is_safe(""));
	g_assert_false(ms_message_header_value_is_safe(NULL));
	g_assert_false(ms_message_header_value_is_safe("a\rb"));
	g_assert_false(ms_message_header_value_is_safe("a\nb"));
	g_assert_false(ms_message_header_value_is_safe("\xff"));
}

static void
test_message_bcc(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GDateTime) date = g_date_time_new_utc(2026, 11, 24, 15, 42, 0);
	g_autoptr(MsMessage) message = ms_message_new();
	g_autoptr(GPtrArray) recipients = NULL;
	g_autofree gchar *text = NULL;
	gboolean ret;

	ms_message_set_date(message, date);
	ms_message_set_message_id(message, "id@example.org");
	ret = ms_message_set_from(message, "alice@example.org", &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	ret = ms_message_add_bcc(message, "Secret Sam <sam@example.net>", &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	ret = ms_message_set_subject(message, "only bcc", &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	ret = ms_message_set_body(message, "hi", &error);
	g_assert_no_error(error);
	g_assert_true(ret);

	text = test_message_to_string(message);
	/* no To and no Cc header when there are none, and never a Bcc one */
	g_assert_cmpstr(text,
			==,
			"Date: Tue, 24 Nov 2026 15:42:00 +0000\r\n"
			"From: alice@example.org\r\n"
			"Subject: only bcc\r\n"
			"Message-ID: <id@example.org>\r\n"
			"MIME-Version: 1.0\r\n"
			"Content-Type: text/plain; charset=utf-8\r\n"
			"Content-Transfer-Encoding: 7bit\r\n"
			"\r\n"
			"hi\r\n");
	recipients = ms_message_get_recipients(message);
	g_assert_cmpuint(recipients->len, ==, 1);
	g_assert_cmpstr(g_ptr_array_index(recipients, 0), ==, "sam@example.net");
}

static void
test_message_recipients(void)
{
	const gchar *to[] = {"Bob <Bob@Example.net>", "carol@example.com", "bob@example.net"};
	const gchar *cc[] = {"BOB@EXAMPLE.NET", "dave@example.net"};
	const gchar *bcc[] = {"Carol@example.com", "eve@example.net", "\"x y\"@example.net"};
	g_autoptr(MsMessage) message = test_message_new();
	g_autoptr(GPtrArray) recipients = NULL;
	/* "Bob@Example.net" and the others differ from earlier ones only in case */
	const gchar *expected[] = {
	    "bob@example.net",
	    "carol@example.com",
	    "dave@example.net",
	    "eve@example.net",
	    "\"x y\"@example.net",
	};

	/* test_message_new() already added bob@example.net as To */
	for (guint i = 0; i < G_N_ELEMENTS(to); i++) {
		g_autoptr(GError) error = NULL;
		gboolean ret = ms_message_add_to(message, to[i], &error);
		g_assert_no_error(error);
		g_assert_true(ret);
	}
	for (guint i = 0; i < G_N_ELEMENTS(cc); i++) {
		g_autoptr(GError) error = NULL;
		gboolean ret = ms_message_add_cc(message, cc[i], &error);
		g_assert_no_error(error);
		g_assert_true(ret);
	}
	for (guint i = 0; i < G_N_ELEMENTS(bcc); i++) {
		g_autoptr(GError) error = NULL;
		gboolean ret = ms_message_add_bcc(message, bcc[i], &error);
		g_assert_no_error(error);
		g_assert_true(ret);
	}
	recipients = ms_message_get_recipients(message);
	g_assert_cmpuint(recipients->len, ==, G_N_ELEMENTS(expected));
	for (guint i = 0; i < recipients->len; i++)
		g_assert_cmpstr(g_ptr_array_index(recipients, i), ==, expected[i]);
}

static void
test_message_required(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsMessage) message = ms_message_new();
	g_autoptr(GBytes) bytes = NULL;
	g_autoptr(GPtrArray) recipients = NULL;
	gboolean ret;

	g_assert_null(ms_message_get_from(message));
	ret = ms_message_add_to(message, "bob@example.net", &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	bytes = ms_message_to_bytes(message, &error);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	g_assert_null(bytes);
	g_assert_cmpstr(error->message, ==, "a sender (from) is required");
	g_clear_error(&error);

	g_clear_object(&message);
	message = ms_message_new();
	ret = ms_message_set_from(message, "alice@example.org", &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	bytes = ms_message_to_bytes(message, &error);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	g_assert_null(bytes);
	g_assert_cmpstr(error->message, ==, "at least one recipient (to, cc or bcc) is required");
	recipients = ms_message_get_recipients(message);
	g_assert_cmpuint(recipients->len, ==, 0);
}

static void
test_message_date(void)
{
	struct {
		gint year, month, day, hour, minute;
		gdouble seconds;
		gint32 offset;
		const gchar *header;
	} cases[] = {
	    {2026,
	     1,
	     5,
	     9,
	     3,
	     7,
	     -(5 * 3600 + 30 * 60),
	     "Date: Mon, 5 Jan 2026 09:03:07 -0530\r\n"},
	    {2024, 2, 29, 23, 59, 59.9, 3600, "Date: Thu, 29 Feb 2024 23:59:59 +0100\r\n"},
	    {1999, 12, 31, 0, 0, 0, 14 * 3600, "Date: Fri, 31 Dec 1999 00:00:00 +1400\r\n"},
	    {2026, 5, 17, 12, 0, 0, 0, "Date: Sun, 17 May 2026 12:00:00 +0000\r\n"},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GTimeZone) tz = g_time_zone_new_offset(cases[i].offset);
		g_autoptr(GDateTime) date = g_date_time_new(tz,
							    cases[i].year,
							    cases[i].month,
							    cases[i].day,
							    cases[i].hour,
							    cases[i].minute,
							    cases[i].seconds);
		g_autoptr(MsMessage) message = test_message_new();
		g_autofree gchar *text = NULL;

		ms_message_set_date(message, date);
		text = test_message_to_string(message);
		g_assert_true(g_str_has_prefix(text, cases[i].header));
	}
}

static void
test_message_generated(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsMessage) message = ms_message_new();
	g_autoptr(MsMessage) other = ms_message_new();
	g_autoptr(GRegex) date_re = NULL;
	g_autoptr(GRegex) id_re = NULL;
	g_autofree gchar *text = NULL;
	g_autofree gchar *again = NULL;
	g_autofree gchar *other_text = NULL;
	g_autofree gchar *date = NULL;
	g_autofree gchar *id = NULL;
	g_autofree gchar *other_id = NULL;
	gboolean ret;

	ret = ms_message_set_from(message, "Alice <alice@Mail.Example.org>", &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	ret = ms_message_add_cc(message, "bob@example.net", &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	ret = ms_message_set_from(other, "alice@[192.0.2.1]", &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	ret = ms_message_add_to(other, "bob@example.net", &error);
	g_assert_no_error(error);
	g_assert_true(ret);

	text = test_message_to_string(message);
	again = test_message_to_string(message);
	other_text = test_message_to_string(other);
	g_assert_cmpstr(again, ==, text);

	date = test_message_header_value(text, "Date");
	date_re = g_regex_new("^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [1-3]?[0-9] "
			      "(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} "
			      "[0-2][0-9]:[0-5][0-9]:[0-6][0-9] [+-][0-9]{4}$",
			      0,
			      0,
			      &error);
	g_assert_no_error(error);
	g_assert_true(g_regex_match(date_re, date, 0, NULL));

	id = test_message_header_value(text, "Message-ID");
	other_id = test_message_header_value(other_text, "Message-ID");
	id_re =
	    g_regex_new("^<[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}@",
			0,
			0,
			&error);
	g_assert_no_error(error);
	g_assert_true(g_regex_match(id_re, id, 0, NULL));
	g_assert_true(g_regex_match(id_re, other_id, 0, NULL));
	g_assert_true(g_str_has_suffix(id, "@Mail.Example.org>"));
	g_assert_true(g_str_has_suffix(other_id, "@[192.0.2.1]>"));
	g_assert_cmpint(strncmp(id, other_id, 37), !=, 0);
	g_assert_nonnull(strstr(text, "\r\nCc: bob@example.net\r\nSubject:\r\n"));
	g_assert_null(strstr(text, "\r\nTo:"));
}

static void
test_message_address_folding(void)
{
	g_autoptr(MsMessage) message = test_message_new();
	g_autofree gchar *text = NULL;
	g_autofree gchar *value = NULL;
	const gchar *to[] = {
	    "Jörg Müller-Lüdenscheidt aus Köln am Rhein <joerg@example.de>",
	    "\"A very long display name, which has to be folded somewhere in the middle\" "
	    "<long@example.com>",
	    "张伟 <zw@example.cn>",
	    "\"Bob, who has a really really long quoted display name which must be folded "
	    "somewhere\" <bob2@example.net>",
	};

	for (guint i = 0; i < G_N_ELEMENTS(to); i++) {
		g_autoptr(GError) error = NULL;
		gboolean ret = ms_message_add_to(message, to[i], &error);
		g_assert_no_error(error);
		g_assert_true(ret);
	}
	text = test_message_to_string(message);
	test_assert_lines(text, 78);
	value = test_message_header_value(text, "To");
	g_assert_cmpstr(
	    value,
	    ==,
	    "bob@example.net,\r\n"
	    " =?UTF-8?Q?J=C3=B6rg_M=C3=BCller-L=C3=BCdenscheidt_aus_K=C3=B6ln_?=\r\n"
	    " =?UTF-8?Q?am_Rhein?= <joerg@example.de>,\r\n"
	    " \"A very long display name, which has to be folded somewhere in the middle\"\r\n"
	    " <long@example.com>,\r\n"
	    " =?UTF-8?B?5byg5Lyf?= <zw@example.cn>,\r\n"
	    " \"Bob, who has a really really long quoted display name which must be folded\r\n"
	    " somewhere\" <bob2@example.net>");
}

static void
test_async_result_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	GAsyncResult **result = user_data;
	*result = g_object_ref(res);
}

/* ms_message_write_async() run to completion */
static gboolean
test_message_write(MsMessage *message,
		   GOutputStream *out,
		   GCancellable *cancellable,
		   guint64 *written,
		   GError **error)
{
	g_autoptr(GAsyncResult) res = NULL;

	ms_message_write_async(message, out, cancellable, test_async_result_cb, &res);
	while (res == NULL)
		g_main_context_iteration(NULL, TRUE);
	return ms_message_write_finish(message, res, written, error);
}

static gchar *
test_memory_output_to_string(GMemoryOutputStream *out)
{
	gsize len = g_memory_output_stream_get_data_size(out);
	const gchar *data = g_memory_output_stream_get_data(out);

	g_assert_null(memchr(data, '\0', len));
	return g_strndup(data, len);
}

/* part n (from 0) of a multipart body delimited by boundary, headers included, without the
 * CRLF that belongs to the delimiter after it */
static gchar *
test_message_part(const gchar *text, const gchar *boundary, guint n)
{
	g_autofree gchar *delimiter = g_strdup_printf("\r\n--%s", boundary);
	const gchar *p = strstr(text, delimiter);
	const gchar *end;

	for (guint i = 0; i < n && p != NULL; i++)
		p = strstr(p + strlen(delimiter), delimiter);
	g_assert_nonnull(p);
	p += strlen(delimiter);
	g_assert_true(g_str_has_prefix(p, "\r\n"));
	p += 2;
	end = strstr(p, delimiter);
	g_assert_nonnull(end);
	return g_strndup(p, end - p);
}

/* the parameters of a folded header value such as "attachment;\r\n filename=\"x\"", unfolded,
 * quoted-strings unquoted; the value in front of the first ';' is under "" */
static GHashTable *
test_message_params(const gchar *value)
{
	g_autoptr(GString) unfolded = g_string_new(value);
	GHashTable *params = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	const gchar *p;

	g_string_replace(unfolded, "\r\n", "", 0);
	p = strchr(unfolded->str, ';');
	g_hash_table_insert(
	    params,
	    g_strdup(""),
	    g_strndup(unfolded->str, p != NULL ? (gsize)(p - unfolded->str) : unfolded->len));
	while (p != NULL && *p == ';') {
		const gchar *eq;
		g_autofree gchar *name = NULL;
		g_autoptr(GString) val = g_string_new(NULL);

		for (p++; *p == ' '; p++)
			;
		eq = strchr(p, '=');
		g_assert_nonnull(eq);
		name = g_strndup(p, eq - p);
		p = eq + 1;
		if (*p == '"') {
			for (p++; *p != '"'; p++) {
				g_assert_cmpint(*p, !=, '\0');
				if (*p == '\\')
					p++;
				g_string_append_c(val, *p);
			}
			p++;
		} else {
			gsize len = strcspn(p, ";");
			g_string_append_len(val, p, len);
			p += len;
		}
		g_assert_true(*p == ';' || *p == '\0');
		g_assert_false(g_hash_table_contains(params, name));
		g_hash_table_insert(params,
				    g_steal_pointer(&name),
				    g_string_free(g_steal_pointer(&val), FALSE));
	}
	return params;
}

/* RFC 2231 percent-decoding of one value (or continuation), which must decode to whole UTF-8
 * characters on its own */
static void
test_percent_decode(GString *out, const gchar *text)
{
	gsize start = out->len;

	for (const gchar *p = text; *p != '\0'; p++) {
		if (*p == '%') {
			g_assert_true(g_ascii_isxdigit(p[1]) && !g_ascii_islower(p[1]));
			g_assert_true(g_ascii_isxdigit(p[2]) && !g_ascii_islower(p[2]));
			g_string_append_c(
			    out,
			    (gchar)(g_ascii_xdigit_value(p[1]) * 16 + g_ascii_xdigit_value(p[2])));
			p += 2;
		} else {
			g_assert_true(g_ascii_isalnum(*p) || strchr("!#$&+-.^_`{|}~", *p) != NULL);
			g_string_append_c(out, *p);
		}
	}
	g_assert_true(g_utf8_validate_len(out->str + start, out->len - start, NULL));
}

/* the filename as a reader gets it from Content-Disposition: RFC 2231 filename*, or
 * filename*0*, filename*1*, … joined, else the plain filename */
static gchar *
test_message_filename(GHashTable *params)
{
	const gchar *value = g_hash_table_lookup(params, "filename*");
	g_autoptr(GString) out = g_string_new(NULL);

	if (value == NULL && !g_hash_table_contains(params, "filename*0*"))
		return g_strdup(g_hash_table_lookup(params, "filename"));
	g_assert_false(g_hash_table_contains(params, "filename"));
	if (value != NULL) {
		g_assert_true(g_str_has_prefix(value, "UTF-8''"));
		test_percent_decode(out, value + 7);
		return g_string_free(g_steal_pointer(&out), FALSE);
	}
	for (guint i = 0;; i++) {
		g_autofree gchar *key = g_strdup_printf("filename*%u*", i);
		value = g_hash_table_lookup(params, key);
		if (value == NULL)
			break;
		if (i == 0) {
			g_assert_true(g_str_has_prefix(value, "UTF-8''"));
			value += 7;
		}
		test_percent_decode(out, value);
	}
	return g_string_free(g_steal_pointer(&out), FALSE);
}

/* the name parameter of Content-Type, encoded-words decoded */
static gchar *
test_message_name(GHashTable *params)
{
	const gchar *value = g_hash_table_lookup(params, "name");

	g_assert_nonnull(value);
	if (g_str_has_prefix(value, "=?"))
		return test_decode_encoded_words(value);
	return g_strdup(value);
}

/* the decoded payload of a base64 part, checking its lines: 76 characters but the last, all
 * ending in CRLF */
static GBytes *
test_message_decode_base64(const gchar *part)
{
	const gchar *body = test_message_body(part);
	g_autoptr(GString) joined = g_string_new(NULL);
	gsize len = 0;
	guchar *data;

	for (const gchar *p = body; *p != '\0';) {
		const gchar *end = strstr(p, "\r\n");
		g_assert_nonnull(end);
		if (end[2] != '\0')
			g_assert_cmpuint(end - p, ==, 76);
		else
			g_assert_cmpuint(end - p, <=, 76);
		g_assert_cmpuint(end - p, >, 0);
		g_string_append_len(joined, p, end - p);
		p = end + 2;
	}
	if (joined->len == 0)
		return g_bytes_new(NULL, 0);
	data = g_base64_decode(joined->str, &len);
	return g_bytes_new_take(data, len);
}

static gchar *
test_sha256(GBytes *bytes)
{
	return g_compute_checksum_for_bytes(G_CHECKSUM_SHA256, bytes);
}

/* count bytes of a fixed pseudo-random sequence */
static GBytes *
test_random_bytes(gsize count)
{
	g_autoptr(GRand) rand = g_rand_new_with_seed(42);
	guint8 *data = g_malloc(count);

	for (gsize i = 0; i < count; i++)
		data[i] = (guint8)g_rand_int_range(rand, 0, 256);
	return g_bytes_new_take(data, count);
}

static void
test_message_html_alternative(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsMessage) message = test_message_new();
	g_autofree gchar *text = NULL;
	g_autofree gchar *again = NULL;
	gboolean ret;

	ms_message_set_boundary_seed(message, "test");
	ret = ms_message_set_subject(message, "Newsletter", &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	ret = ms_message_set_body(message, "Hello Bob,\nplain text here.\n", &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	ret = ms_message_set_html(message, "<p>Hello <b>Bob</b> – grüß dich</p>\n", &error);
	g_assert_no_error(error);
	g_assert_true(ret);

	text = test_message_to_string(message);
	g_assert_cmpstr(text,
			==,
			"Date: Tue, 24 Nov 2026 15:42:00 +0000\r\n"
			"From: Alice Example <alice@example.org>\r\n"
			"To: bob@example.net\r\n"
			"Subject: Newsletter\r\n"
			"Message-ID: <test-1@example.org>\r\n"
			"MIME-Version: 1.0\r\n"
			"Content-Type: multipart/alternative;\r\n"
			" boundary=\"=_ms_test_1\"\r\n"
			"\r\n"
			"--=_ms_test_1\r\n"
			"Content-Type: text/plain; charset=utf-8\r\n"
			"Content-Transfer-Encoding: 7bit\r\n"
			"\r\n"
			"Hello Bob,\r\n"
			"plain text here.\r\n"
			"\r\n"
			"--=_ms_test_1\r\n"
			"Content-Type: text/html; charset=utf-8\r\n"
			"Content-Transfer-Encoding: quoted-printable\r\n"
			"\r\n"
			"<p>Hello <b>Bob</b> =E2=80=93 gr=C3=BC=C3=9F dich</p>\r\n"
			"\r\n"
			"--=_ms_test_1--\r\n");

	/* the same boundary on every rendering */
	again = test_message_to_string(message);
	g_assert_cmpstr(again, ==, text);
}

static void
test_message_html_only(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsMessage) message = test_message_new();
	g_autofree gchar *text = NULL;
	g_autofree gchar *plain = NULL;
	gboolean ret;

	/* an empty body does not make an empty alternative */
	ret = ms_message_set_body(message, "", &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	ret = ms_message_set_html(message, "<p>only html</p>", &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	text = test_message_to_string(message);
	g_assert_true(g_str_has_suffix(text,
				       "MIME-Version: 1.0\r\n"
				       "Content-Type: text/html; charset=utf-8\r\n"
				       "Content-Transfer-Encoding: 7bit\r\n"
				       "\r\n"
				       "<p>only html</p>\r\n"));

	/* "" takes the html out again */
	ret = ms_message_set_html(message, "", &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	plain = test_message_to_string(message);
	g_assert_true(g_str_has_suffix(plain,
				       "MIME-Version: 1.0\r\n"
				       "Content-Type: text/plain; charset=utf-8\r\n"
				       "Content-Transfer-Encoding: 7bit\r\n"
				       "\r\n"));
}

static void
test_message_html_invalid(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsMessage) message = test_message_new();
	g_autofree gchar *before = NULL;
	g_autofree gchar *after = NULL;
	gboolean ret;

	ret = ms_message_set_html(message, "<p>ok</p>", &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	before = test_message_to_string(message);
	ret = ms_message_set_html(message, "<p>caf\xe9</p>", &error);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	g_assert_cmpstr(error->message, ==, "html is not valid UTF-8");
	g_assert_false(ret);
	/* nothing changed */
	after = test_message_to_string(message);
	g_assert_cmpstr(after, ==, before);
}

static void
test_message_html_long_lines(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsMessage) message = test_message_new();
	g_autoptr(GString) html = g_string_new("<p>");
	g_autofree gchar *text = NULL;
	g_autofree gchar *part = NULL;
	g_autofree gchar *decoded = NULL;
	gboolean ret;

	ms_message_set_boundary_seed(message, "test");
	for (guint i = 0; i < 300; i++)
		g_string_append(html, "word ");
	g_string_append(html, "</p>");
	ret = ms_message_set_body(message, "short", &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	ret = ms_message_set_html(message, html->str, &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	text = test_message_to_string(message);
	test_assert_lines(text, 78);
	part = test_message_part(text, "=_ms_test_1", 1);
	g_assert_true(g_str_has_prefix(part,
				       "Content-Type: text/html; charset=utf-8\r\n"
				       "Content-Transfer-Encoding: quoted-printable\r\n\r\n"));
	g_string_append(html, "\r\n");
	decoded = test_decode_qp(test_message_body(part));
	g_assert_cmpstr(decoded, ==, html->str);
}

static void
test_message_attachment_bytes(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsMessage) message = test_message_new();
	g_autoptr(GByteArray) array = g_byte_array_new();
	g_autoptr(GBytes) data = NULL;
	g_autofree gchar *text = NULL;
	gboolean ret;

	for (guint i = 0; i < 100; i++)
		g_byte_array_append(array, (const guint8 *)&i, 1);
	data = g_byte_array_free_to_bytes(g_steal_pointer(&array));
	ms_message_set_boundary_seed(message, "test");
	ret = ms_message_set_subject(message, "Report", &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	ret = ms_message_set_body(message, "See the attachment.\n", &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	ret = ms_message_add_attachment_bytes(message, "report.pdf", NULL, data, &error);
	g_assert_no_error(error);
	g_assert_true(ret);

	text = test_message_to_string(message);
	g_assert_cmpstr(
	    text,
	    ==,
	    "Date: Tue, 24 Nov 2026 15:42:00 +0000\r\n"
	    "From: Alice Example <alice@example.org>\r\n"
	    "To: bob@example.net\r\n"
	    "Subject: Report\r\n"
	    "Message-ID: <test-1@example.org>\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed;\r\n"
	    " boundary=\"=_ms_test_1\"\r\n"
	    "\r\n"
	    "--=_ms_test_1\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: 7bit\r\n"
	    "\r\n"
	    "See the attachment.\r\n"
	    "\r\n"
	    "--=_ms_test_1\r\n"
	    "Content-Type: application/pdf;\r\n"
	    " name=\"report.pdf\"\r\n"
	    "Content-Disposition: attachment;\r\n"
	    " filename=\"report.pdf\"\r\n"
	    "Content-Transfer-Encoding: base64\r\n"
	    "\r\n"
	    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4\r\n"
	    "OTo7PD0+P0BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5fYGFiYw==\r\n"
	    "\r\n"
	    "--=_ms_test_1--\r\n");
}

static void
test_message_attachment_only(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsMessage) message = test_message_new();
	g_autoptr(GBytes) data = g_bytes_new_static("abc", 3);
	/* no data pointer at all, as an empty D-Bus "ay" gives */
	g_autoptr(GBytes) empty = g_bytes_new(NULL, 0);
	g_autofree gchar *text = NULL;
	gboolean ret;

	ms_message_set_boundary_seed(message, "test");
	ret = ms_message_add_attachment_bytes(message,
					      "a.bin",
					      "application/octet-stream",
					      data,
					      &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	ret = ms_message_add_attachment_bytes(message, "empty.txt", "Text/Plain", empty, &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	text = test_message_to_string(message);
	g_assert_true(g_str_has_suffix(text,
				       "MIME-Version: 1.0\r\n"
				       "Content-Type: multipart/mixed;\r\n"
				       " boundary=\"=_ms_test_1\"\r\n"
				       "\r\n"
				       "--=_ms_test_1\r\n"
				       "Content-Type: application/octet-stream;\r\n"
				       " name=\"a.bin\"\r\n"
				       "Content-Disposition: attachment;\r\n"
				       " filename=\"a.bin\"\r\n"
				       "Content-Transfer-Encoding: base64\r\n"
				       "\r\n"
				       "YWJj\r\n"
				       "\r\n"
				       "--=_ms_test_1\r\n"
				       "Content-Type: text/plain;\r\n"
				       " name=\"empty.txt\"\r\n"
				       "Content-Disposition: attachment;\r\n"
				       " filename=\"empty.txt\"\r\n"
				       "Content-Transfer-Encoding: base64\r\n"
				       "\r\n"
				       "\r\n"
				       "--=_ms_test_1--\r\n"));
}

/* every length around the line and group edges gives the same base64 as GLib's, in lines of
 * 76, whether rendered in memory or written through a stream that returns short reads */
static void
test_message_base64_lines(void)
{
	g_autoptr(GBytes) all = test_random_bytes(400);

	for (gsize len = 0; len <= 400; len++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(MsMessage) message = test_message_new();
		g_autoptr(MsMessage) streamed = test_message_new();
		g_autoptr(GBytes) data = g_bytes_new_from_bytes(all, 0, len);
		g_autoptr(GInputStream) stream = test_input_stream_new(data, 1 + len % 7, 0);
		g_autoptr(TestOutputStream) out = test_output_stream_new();
		g_autofree gchar *text = NULL;
		g_autofree gchar *written = NULL;
		g_autofree gchar *part = NULL;
		g_autofree gchar *expected = NULL;
		g_autoptr(GString) lines = g_string_new(NULL);
		guint64 size = 0;
		gboolean ret;

		expected = g_base64_encode(g_bytes_get_data(data, NULL), len);
		for (gsize i = 0; i < strlen(expected); i += 76) {
			g_string_append_len(lines, expected + i, MIN(76, strlen(expected) - i));
			g_string_append(lines, "\r\n");
		}
		ms_message_set_boundary_seed(message, "test");
		ms_message_set_boundary_seed(streamed, "test");
		ret = ms_message_add_attachment_bytes(message, "x.bin", NULL, data, &error);
		g_assert_no_error(error);
		g_assert_true(ret);
		ret = ms_message_add_attachment(streamed, "x.bin", NULL, stream, &error);
		g_assert_no_error(error);
		g_assert_true(ret);

		text = test_message_to_string(message);
		part = test_message_part(text, "=_ms_test_1", 0);
		g_assert_cmpstr(test_message_body(part), ==, lines->str);

		ret = test_message_write(streamed, G_OUTPUT_STREAM(out), NULL, &size, &error);
		g_assert_no_error(error);
		g_assert_true(ret);
		written = test_memory_output_to_string(G_MEMORY_OUTPUT_STREAM(out));
		g_assert_cmpstr(written, ==, text);
		g_assert_cmpuint(size, ==, strlen(text));
	}
}

/* write_async gives exactly the bytes of to_bytes */
static void
test_message_write_same_bytes(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsMessage) message = test_message_new();
	g_autoptr(GBytes) data = test_random_bytes(200 * 1024);
	g_autoptr(GBytes) small = g_bytes_new_static("hello", 5);
	g_autoptr(GOutputStream) out = g_memory_output_stream_new_resizable();
	g_autoptr(GOutputStream) out2 = g_memory_output_stream_new_resizable();
	g_autofree gchar *text = NULL;
	g_autofree gchar *written = NULL;
	g_autofree gchar *written2 = NULL;
	guint64 size = 0;
	gboolean ret;

	ret = ms_message_set_body(message, "Grüße\n", &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	ret = ms_message_set_html(message, "<p>Grüße</p>", &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	ret = ms_message_add_attachment_bytes(message, "data.bin", NULL, data, &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	ret = ms_message_add_attachment_bytes(message, "hello.txt", NULL, small, &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	text = test_message_to_string(message);
	test_assert_lines(text, 78);

	ret = test_message_write(message, out, NULL, &size, &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	written = test_memory_output_to_string(G_MEMORY_OUTPUT_STREAM(out));
	g_assert_cmpstr(written, ==, text);
	g_assert_cmpuint(size, ==, strlen(text));

	/* attachments in memory can be written again */
	ret = test_message_write(message, out2, NULL, NULL, &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	written2 = test_memory_output_to_string(G_MEMORY_OUTPUT_STREAM(out2));
	g_assert_cmpstr(written2, ==, text);
}

static void
test_message_attachment_stream(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsMessage) message = test_message_new();
	g_autoptr(GBytes) data = test_random_bytes(1024 * 1024);
	g_autoptr(GInputStream) stream = test_input_stream_new(data, 0, 0);
	g_autoptr(TestOutputStream) out = test_output_stream_new();
	g_autoptr(GOutputStream) again = g_memory_output_stream_new_resizable();
	g_autoptr(GBytes) bytes = NULL;
	g_autoptr(GBytes) decoded = NULL;
	g_autofree gchar *text = NULL;
	g_autofree gchar *part = NULL;
	g_autofree gchar *sha_in = NULL;
	g_autofree gchar *sha_out = NULL;
	guint64 size = 0;
	gboolean ret;

	ms_message_set_boundary_seed(message, "test");
	ret = ms_message_set_body(message, "the file\n", &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	ret = ms_message_add_attachment(message, "big.bin", NULL, stream, &error);
	g_assert_no_error(error);
	g_assert_true(ret);

	/* a stream cannot go into a GBytes */
	bytes = ms_message_to_bytes(message, &error);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED);
	g_assert_cmpstr(error->message,
			==,
			"attachment 'big.bin' is read from a stream: write the message with "
			"ms_message_write_async()");
	g_assert_null(bytes);
	g_clear_error(&error);

	ret = test_message_write(message, G_OUTPUT_STREAM(out), NULL, &size, &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	text = test_memory_output_to_string(G_MEMORY_OUTPUT_STREAM(out));
	g_assert_cmpuint(size, ==, strlen(text));
	test_assert_lines(text, 78);
	part = test_message_part(text, "=_ms_test_1", 1);
	g_assert_true(g_str_has_prefix(part,
				       "Content-Type: application/octet-stream;\r\n"
				       " name=\"big.bin\"\r\n"
				       "Content-Disposition: attachment;\r\n"
				       " filename=\"big.bin\"\r\n"
				       "Content-Transfer-Encoding: base64\r\n"
				       "\r\n"));
	decoded = test_message_decode_base64(part);
	sha_in = test_sha256(data);
	sha_out = test_sha256(decoded);
	g_assert_cmpstr(sha_out, ==, sha_in);
	g_assert_true(g_str_has_suffix(text, "\r\n--=_ms_test_1--\r\n"));

	/* bounded: reads of 48 KiB, and no write bigger than their base64 */
	g_assert_cmpuint(TEST_INPUT_STREAM(stream)->largest_request, ==, 48 * 1024);
	g_assert_cmpuint(out->largest_write, <=, 65536 + 863 * 2);
	g_assert_cmpuint(out->writes, >=, 1024 / 48);

	/* the stream is used up: a second write is refused before anything is written */
	ret = test_message_write(message, again, NULL, NULL, &error);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED);
	g_assert_cmpstr(error->message,
			==,
			"attachment 'big.bin': its stream was read by an earlier write; a message "
			"with stream attachments can be written once");
	g_assert_false(ret);
	g_assert_cmpuint(g_memory_output_stream_get_data_size(G_MEMORY_OUTPUT_STREAM(again)),
			 ==,
			 0);
}

static void
test_message_attachment_read_error(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsMessage) message = test_message_new();
	g_autoptr(GBytes) data = test_random_bytes(200 * 1024);
	g_autoptr(GInputStream) stream = test_input_stream_new(data, 0, 100 * 1024);
	g_autoptr(GOutputStream) out = g_memory_output_stream_new_resizable();
	gboolean ret;

	ret = ms_message_add_attachment(message, "Prüfbericht.pdf", NULL, stream, &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	ret = test_message_write(message, out, NULL, NULL, &error);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_FAILED);
	g_assert_cmpstr(error->message, ==, "attachment 'Prüfbericht.pdf': disk on fire");
	g_assert_false(ret);
}

static void
test_message_write_invalid(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsMessage) message = ms_message_new();
	g_autoptr(GBytes) data = g_bytes_new_static("abc", 3);
	g_autoptr(GInputStream) stream = g_memory_input_stream_new_from_bytes(data);
	g_autoptr(GOutputStream) out = g_memory_output_stream_new_resizable();
	g_autoptr(GOutputStream) out2 = g_memory_output_stream_new_resizable();
	gboolean ret;

	/* no From: refused, nothing written, and the stream is not used up */
	ret = ms_message_add_to(message, "bob@example.net", &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	ret = ms_message_add_attachment(message, "a.txt", NULL, stream, &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	ret = test_message_write(message, out, NULL, NULL, &error);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	g_assert_cmpstr(error->message, ==, "a sender (from) is required");
	g_assert_false(ret);
	g_assert_cmpuint(g_memory_output_stream_get_data_size(G_MEMORY_OUTPUT_STREAM(out)), ==, 0);
	g_clear_error(&error);

	ret = ms_message_set_from(message, "alice@example.org", &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	ret = test_message_write(message, out2, NULL, NULL, &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	g_assert_cmpuint(g_memory_output_stream_get_data_size(G_MEMORY_OUTPUT_STREAM(out2)), >, 0);
}

static void
test_message_write_cancelled(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsMessage) message = test_message_new();
	g_autoptr(GBytes) data = test_random_bytes(1024 * 1024);
	g_autoptr(GInputStream) stream = test_input_stream_new(data, 0, 0);
	g_autoptr(GOutputStream) out = g_memory_output_stream_new_resizable();
	g_autoptr(GCancellable) cancellable = g_cancellable_new();
	g_autoptr(GAsyncResult) res = NULL;
	gboolean ret;

	ret = ms_message_add_attachment(message, "big.bin", NULL, stream, &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	ms_message_write_async(message, out, cancellable, test_async_result_cb, &res);
	/* let some chunks through, then cancel in the middle */
	while (res == NULL &&
	       g_memory_output_stream_get_data_size(G_MEMORY_OUTPUT_STREAM(out)) < 200 * 1024)
		g_main_context_iteration(NULL, TRUE);
	g_assert_null(res);
	g_cancellable_cancel(cancellable);
	while (res == NULL)
		g_main_context_iteration(NULL, TRUE);
	ret = ms_message_write_finish(message, res, NULL, &error);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
	g_assert_false(ret);
	g_assert_cmpuint(g_memory_output_stream_get_data_size(G_MEMORY_OUTPUT_STREAM(out)),
			 <,
			 1024 * 1024);
}

/* filename through Content-Disposition (RFC 2231) and the name parameter (RFC 2047) and back;
 * expected_disposition is the exact folded value when not NULL */
static void
test_message_filename_roundtrip(const gchar *filename, const gchar *expected_disposition)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsMessage) message = test_message_new();
	g_autoptr(GBytes) data = g_bytes_new_static("x", 1);
	g_autoptr(GHashTable) type_params = NULL;
	g_autoptr(GHashTable) disposition_params = NULL;
	g_autofree gchar *text = NULL;
	g_autofree gchar *part = NULL;
	g_autofree gchar *headers = NULL;
	g_autofree gchar *content_type = NULL;
	g_autofree gchar *disposition = NULL;
	g_autofree gchar *name = NULL;
	g_autofree gchar *decoded = NULL;
	gboolean ret;

	ms_message_set_boundary_seed(message, "test");
	ret = ms_message_add_attachment_bytes(message, filename, "application/pdf", data, &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	text = test_message_to_string(message);
	test_assert_lines(text, 78);
	part = test_message_part(text, "=_ms_test_1", 0);
	headers = test_message_headers(part);
	/* all ASCII */
	for (const gchar *p = headers; *p != '\0'; p++)
		g_assert_cmpint(*p, >, 0);
	content_type = test_message_header_value(part, "Content-Type");
	disposition = test_message_header_value(part, "Content-Disposition");
	if (expected_disposition != NULL)
		g_assert_cmpstr(disposition, ==, expected_disposition);
	disposition_params = test_message_params(disposition);
	g_assert_cmpstr(g_hash_table_lookup(disposition_params, ""), ==, "attachment");
	decoded = test_message_filename(disposition_params);
	g_assert_cmpstr(decoded, ==, filename);
	type_params = test_message_params(content_type);
	g_assert_cmpstr(g_hash_table_lookup(type_params, ""), ==, "application/pdf");
	name = test_message_name(type_params);
	g_assert_cmpstr(name, ==, filename);
}

static void
test_message_filename_ascii(void)
{
	test_message_filename_roundtrip("report.pdf", "attachment;\r\n filename=\"report.pdf\"");
	test_message_filename_roundtrip("my \"best\" report; v2=(final).pdf",
					"attachment;\r\n"
					" filename=\"my \\\"best\\\" report; v2=(final).pdf\"");
	/* meant literally, so not left where a reader would decode it as an encoded-word */
	test_message_filename_roundtrip(
	    "=?utf-8?q?evil?=.pdf",
	    "attachment;\r\n filename*=UTF-8''%3D%3Futf-8%3Fq%3Fevil%3F%3D.pdf");
	/* too long for one line: RFC 2231 continuations, which need no quoting */
	test_message_filename_roundtrip(
	    "a rather long file name that will not fit on one header line at all.pdf",
	    "attachment;\r\n"
	    " filename*0*=UTF-8''a%20rather%20long%20file%20name%20that%20will%20not%20fit;\r\n"
	    " filename*1*=%20on%20one%20header%20line%20at%20all.pdf");
}

static void
test_message_filename_german(void)
{
	test_message_filename_roundtrip("Prüfbericht März.pdf",
					"attachment;\r\n"
					" filename*=UTF-8''Pr%C3%BCfbericht%20M%C3%A4rz.pdf");
	test_message_filename_roundtrip(
	    "Prüfbericht für Jürgen Müller – Übersicht 2026 (endgültige Fassung).pdf",
	    "attachment;\r\n"
	    " filename*0*=UTF-8''Pr%C3%BCfbericht%20f%C3%BCr%20J%C3%BCrgen%20M%C3%BCller;\r\n"
	    " filename*1*=%20%E2%80%93%20%C3%9Cbersicht%202026%20%28endg%C3%BCltige%20Fass;\r\n"
	    " filename*2*=ung%29.pdf");
}

static void
test_message_filename_chinese(void)
{
	test_message_filename_roundtrip(
	    "季度报告.pdf",
	    "attachment;\r\n filename*=UTF-8''%E5%AD%A3%E5%BA%A6%E6%8A%A5%E5%91%8A.pdf");
	/* continuations never split a character */
	test_message_filename_roundtrip("二〇二六年第三季度财务报告与审计意见书最终版本附件一.pdf",
					NULL);
	test_message_filename_roundtrip("emoji 😀 and 中文 mixed.png", NULL);
}

static void
test_message_filename_max(void)
{
	g_autoptr(GString) name = g_string_new(NULL);

	/* 255 bytes of 3-byte characters: the longest name gives the most continuations */
	while (name->len + 3 <= 255)
		g_string_append(name, "文");
	test_message_filename_roundtrip(name->str, NULL);
	g_string_truncate(name, 0);
	while (name->len < 255)
		g_string_append_c(name, 'x');
	test_message_filename_roundtrip(name->str, NULL);
}

static const gchar *
test_message_guessed_type(const gchar *filename)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsMessage) message = test_message_new();
	g_autoptr(GBytes) data = g_bytes_new_static("x", 1);
	g_autoptr(GHashTable) params = NULL;
	g_autofree gchar *text = NULL;
	g_autofree gchar *part = NULL;
	g_autofree gchar *content_type = NULL;
	static gchar result[256];
	gboolean ret;

	ms_message_set_boundary_seed(message, "test");
	ret = ms_message_add_attachment_bytes(message, filename, NULL, data, &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	text = test_message_to_string(message);
	part = test_message_part(text, "=_ms_test_1", 0);
	content_type = test_message_header_value(part, "Content-Type");
	params = test_message_params(content_type);
	g_strlcpy(result, g_hash_table_lookup(params, ""), sizeof(result));
	return result;
}

static void
test_message_content_type_guess(void)
{
	g_assert_cmpstr(test_message_guessed_type("report.pdf"), ==, "application/pdf");
	g_assert_cmpstr(test_message_guessed_type("REPORT.PDF"), ==, "application/pdf");
	g_assert_cmpstr(test_message_guessed_type("photo.png"), ==, "image/png");
	g_assert_cmpstr(test_message_guessed_type("notes.txt"), ==, "text/plain");
	g_assert_cmpstr(test_message_guessed_type("data.zq7x"), ==, "application/octet-stream");
	/* message/ and multipart/ cannot be base64 */
	g_assert_cmpstr(test_message_guessed_type("forwarded.eml"), ==, "application/octet-stream");
}

static void
test_message_attachment_refused(void)
{
	struct {
		const gchar *filename;
		const gchar *content_type;
		const gchar *message;
	} cases[] = {
	    {"", NULL, "attachment filename is empty"},
	    {"caf\xe9.pdf", NULL, "attachment filename is not valid UTF-8"},
	    {"a\r\nContent-Type: text/html.pdf",
	     NULL,
	     "attachment filename 'a??Content-Type: text/html.pdf' contains a control character"},
	    {"tab\there", NULL, "attachment filename 'tab?here' contains a control character"},
	    {"nul\x7f", NULL, "attachment filename 'nul?' contains a control character"},
	    {"c1\xc2\x85", NULL, "attachment filename 'c1?' contains a control character"},
	    {"report\xe2\x80\xae"
	     "fdp.exe",
	     NULL,
	     "attachment filename 'report\xe2\x80\xae"
	     "fdp.exe' contains a bidirectional control character"},
	    {"/etc/passwd",
	     NULL,
	     "attachment filename '/etc/passwd' contains '/': give the file's name without its "
	     "directory"},
	    {"docs/report.pdf",
	     NULL,
	     "attachment filename 'docs/report.pdf' contains '/': give the file's name without "
	     "its directory"},
	    {"..\\..\\boot.ini",
	     NULL,
	     "attachment filename '..\\..\\boot.ini' contains '\\': give the file's name without "
	     "its directory"},
	    {"..", NULL, "attachment filename '..' is not a file name"},
	    {".", NULL, "attachment filename '.' is not a file name"},
	    {"ok.pdf",
	     "text/plain\r\nX-Injected: yes",
	     "attachment content type 'text/plain??X-Injected: yes' contains a line break"},
	    {"ok.pdf",
	     "text/plain\n",
	     "attachment content type 'text/plain?' contains a line break"},
	    {"ok.pdf",
	     "text/plain; charset=utf-8",
	     "attachment content type 'text/plain; charset=utf-8' has parameters; give only "
	     "'type/subtype'"},
	    {"ok.pdf",
	     "text/plain;name=\"x\"",
	     "attachment content type 'text/plain;name=\"x\"' has parameters; give only "
	     "'type/subtype'"},
	    {"ok.pdf", "text", "attachment content type 'text' is not of the form 'type/subtype'"},
	    {"ok.pdf", "", "attachment content type '' is not of the form 'type/subtype'"},
	    {"ok.pdf",
	     "/plain",
	     "attachment content type '/plain' is not of the form 'type/subtype'"},
	    {"ok.pdf",
	     "text/",
	     "attachment content type 'text/' is not of the form 'type/subtype'"},
	    {"ok.pdf",
	     "text/plain/x",
	     "attachment content type 'text/plain/x' is not of the form 'type/subtype'"},
	    {"ok.pdf",
	     "text/pl ain",
	     "attachment content type 'text/pl ain' is not of the form 'type/subtype'"},
	    {"ok.pdf",
	     "text/plä",
	     "attachment content type 'text/plä' is not of the form 'type/subtype'"},
	    {"ok.pdf",
	     "multipart/mixed",
	     "attachment content type 'multipart/mixed' cannot be base64-encoded; use "
	     "application/octet-stream"},
	    {"ok.eml",
	     "Message/RFC822",
	     "attachment content type 'Message/RFC822' cannot be base64-encoded; use "
	     "application/octet-stream"},
	};
	g_autoptr(MsMessage) message = test_message_new();
	g_autoptr(GBytes) data = g_bytes_new_static("x", 1);
	g_autoptr(GString) long_name = g_string_new(NULL);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *before = test_message_to_string(message);
	g_autofree gchar *after = NULL;
	gboolean ret;

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GInputStream) stream = g_memory_input_stream_new_from_bytes(data);

		ret = ms_message_add_attachment_bytes(message,
						      cases[i].filename,
						      cases[i].content_type,
						      data,
						      &error);
		g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
		g_assert_cmpstr(error->message, ==, cases[i].message);
		g_assert_false(ret);
		g_clear_error(&error);
		ret = ms_message_add_attachment(message,
						cases[i].filename,
						cases[i].content_type,
						stream,
						&error);
		g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
		g_assert_cmpstr(error->message, ==, cases[i].message);
		g_assert_false(ret);
		g_clear_error(&error);
	}
	while (long_name->len < 256)
		g_string_append_c(long_name, 'a');
	ret = ms_message_add_attachment_bytes(message, long_name->str, NULL, data, &error);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	g_assert_true(g_str_has_suffix(error->message, "…' is longer than 255 bytes"));
	g_assert_false(ret);
	g_clear_error(&error);

	/* nothing was added */
	after = test_message_to_string(message);
	g_assert_cmpstr(after, ==, before);
}

static void
test_message_boundary(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsMessage) message = test_message_new();
	g_autoptr(MsMessage) random = test_message_new();
	g_autoptr(GBytes) data = g_bytes_new_static("x", 1);
	g_autoptr(GHashTable) params = NULL;
	g_autofree gchar *text = NULL;
	g_autofree gchar *again = NULL;
	g_autofree gchar *changed = NULL;
	g_autofree gchar *content_type = NULL;
	const gchar *boundary;
	gboolean ret;

	/* a 7bit body that holds the first two candidates, the second on a line of its own */
	ms_message_set_boundary_seed(message, "test");
	ret = ms_message_set_body(message, "quoting =_ms_test_1 here\n--=_ms_test_2\n", &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	ret = ms_message_set_html(message, "<p>hi</p>", &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	ret = ms_message_add_attachment_bytes(message, "x.bin", NULL, data, &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	text = test_message_to_string(message);
	content_type = test_message_header_value(text, "Content-Type");
	g_assert_cmpstr(content_type, ==, "multipart/mixed;\r\n boundary=\"=_ms_test_3\"");
	g_assert_nonnull(strstr(text,
				"--=_ms_test_3\r\n"
				"Content-Type: multipart/alternative;\r\n"
				" boundary=\"=_ms_test_4\"\r\n"));
	/* the body is in the message untouched, and no candidate it holds is a delimiter */
	g_assert_nonnull(strstr(text, "\r\nquoting =_ms_test_1 here\r\n--=_ms_test_2\r\n\r\n"));
	g_assert_null(strstr(text, "boundary=\"=_ms_test_1\""));
	g_assert_null(strstr(text, "boundary=\"=_ms_test_2\""));

	/* rendering again keeps the boundaries */
	again = test_message_to_string(message);
	g_assert_cmpstr(again, ==, text);

	/* ... until the content holds one */
	ret = ms_message_set_body(message, "now --=_ms_test_3 is taken\n", &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	changed = test_message_to_string(message);
	g_free(content_type);
	content_type = test_message_header_value(changed, "Content-Type");
	g_assert_cmpstr(content_type, ==, "multipart/mixed;\r\n boundary=\"=_ms_test_5\"");

	/* random ones: "=_ms_" and 32 hex digits, the same on every rendering */
	ret = ms_message_add_attachment_bytes(random, "x.bin", NULL, data, &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	g_free(text);
	text = test_message_to_string(random);
	g_free(content_type);
	content_type = test_message_header_value(text, "Content-Type");
	params = test_message_params(content_type);
	boundary = g_hash_table_lookup(params, "boundary");
	g_assert_nonnull(boundary);
	g_assert_cmpuint(strlen(boundary), ==, 5 + 32);
	g_assert_true(g_str_has_prefix(boundary, "=_ms_"));
	for (const gchar *p = boundary + 5; *p != '\0'; p++)
		g_assert_true(g_ascii_isxdigit(*p) && !g_ascii_isupper(*p));
	g_free(again);
	again = test_message_to_string(random);
	g_assert_cmpstr(again, ==, text);
}

/* Python's email package as an independent reader of a composed message */
static void
test_message_python(void)
{
	const gchar *script =
	    "import sys, email, hashlib\n"
	    "from email import policy\n"
	    "msg = email.message_from_binary_file(sys.stdin.buffer, policy=policy.default)\n"
	    "out = []\n"
	    "for part in msg.walk():\n"
	    "    line = [part.get_content_type(), 'defects=%d' % len(part.defects)]\n"
	    "    if part.is_multipart():\n"
	    "        line.append('parts=%d' % len(part.get_payload()))\n"
	    "    elif part.get_content_maintype() == 'text' and not part.get_filename():\n"
	    "        line += [part.get_content_charset(), ascii(part.get_content())]\n"
	    "    else:\n"
	    "        payload = part.get_payload(decode=True)\n"
	    "        line += [part.get_content_disposition(), part.get_filename(),\n"
	    "                 part.get_param('name'), hashlib.sha256(payload).hexdigest()]\n"
	    "    out.append(' '.join(line))\n"
	    "sys.stdout.buffer.write(('\\n'.join(out) + '\\n').encode('utf-8'))\n";
	g_autoptr(GError) error = NULL;
	g_autoptr(MsMessage) message = test_message_new();
	g_autoptr(GBytes) pdf = test_random_bytes(100 * 1024 + 1);
	g_autoptr(GBytes) png = test_random_bytes(57);
	g_autoptr(GBytes) bytes = NULL;
	g_autoptr(GBytes) stdout_buf = NULL;
	g_autoptr(GSubprocess) subprocess = NULL;
	g_autofree gchar *python = NULL;
	g_autofree gchar *sha_pdf = test_sha256(pdf);
	g_autofree gchar *sha_png = test_sha256(png);
	g_autofree gchar *expected = NULL;
	g_autofree gchar *output = NULL;
	gboolean ret;

	python = g_find_program_in_path("python3");
	if (g_file_test("/usr/bin/python3", G_FILE_TEST_IS_EXECUTABLE)) {
		g_free(python);
		python = g_strdup("/usr/bin/python3");
	}
	if (python == NULL) {
		g_test_skip("python3 not found");
		return;
	}

	ret = ms_message_set_subject(message, "Bericht für Zoë", &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	ret = ms_message_set_body(message, "Grüße aus Köln\n.\nZeile 3", &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	ret = ms_message_set_html(message, "<p>Grüße aus <b>Köln</b></p>", &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	ret = ms_message_add_attachment_bytes(
	    message,
	    "Prüfbericht für Jürgen Müller – Übersicht 2026 (endgültige Fassung).pdf",
	    NULL,
	    pdf,
	    &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	ret = ms_message_add_attachment_bytes(message, "季度报告.png", NULL, png, &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	bytes = ms_message_to_bytes(message, &error);
	g_assert_no_error(error);
	g_assert_nonnull(bytes);

	subprocess =
	    g_subprocess_new(G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE,
			     &error,
			     python,
			     "-c",
			     script,
			     NULL);
	g_assert_no_error(error);
	g_assert_nonnull(subprocess);
	ret = g_subprocess_communicate(subprocess, bytes, NULL, &stdout_buf, NULL, &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	g_assert_true(g_subprocess_get_if_exited(subprocess));
	g_assert_cmpint(g_subprocess_get_exit_status(subprocess), ==, 0);
	output = g_strndup(g_bytes_get_data(stdout_buf, NULL), g_bytes_get_size(stdout_buf));
	expected = g_strdup_printf(
	    "multipart/mixed defects=0 parts=3\n"
	    "multipart/alternative defects=0 parts=2\n"
	    "text/plain defects=0 utf-8 'Gr\\xfc\\xdfe aus K\\xf6ln\\n.\\nZeile 3\\n'\n"
	    "text/html defects=0 utf-8 '<p>Gr\\xfc\\xdfe aus <b>K\\xf6ln</b></p>\\n'\n"
	    "application/pdf defects=0 attachment "
	    "Prüfbericht für Jürgen Müller – Übersicht 2026 (endgültige Fassung).pdf "
	    "Prüfbericht für Jürgen Müller – Übersicht 2026 (endgültige Fassung).pdf %s\n"
	    "image/png defects=0 attachment 季度报告.png 季度报告.png %s\n",
	    sha_pdf,
	    sha_png);
	g_assert_cmpstr(output, ==, expected);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/mail-sender/message/ascii", test_message_ascii);
	g_test_add_func("/mail-sender/message/subject-german", test_message_subject_german);
	g_test_add_func("/mail-sender/message/subject-chinese", test_message_subject_chinese);
	g_test_add_func("/mail-sender/message/subject-long-utf8", test_message_subject_long_utf8);
	g_test_add_func("/mail-sender/message/subject-ascii-folding",
			test_message_subject_ascii_folding);
	g_test_add_func("/mail-sender/message/subject-special-ascii",
			test_message_subject_special_ascii);
	g_test_add_func("/mail-sender/message/subject-white-space-runs",
			test_message_subject_white_space_runs);
	g_test_add_func("/mail-sender/message/subject-unfoldable", test_message_subject_unfoldable);
	g_test_add_func("/mail-sender/message/empty-subject", test_message_empty_subject);
	g_test_add_func("/mail-sender/message/long-line", test_message_long_line);
	g_test_add_func("/mail-sender/message/utf8-body", test_message_utf8_body);
	g_test_add_func("/mail-sender/message/quoted-printable", test_message_quoted_printable);
	g_test_add_func("/mail-sender/message/8bit-body", test_message_8bit_body);
	g_test_add_func("/mail-sender/message/8bit-alternative", test_message_8bit_alternative);
	g_test_add_func("/mail-sender/message/8bit-downgrade", test_message_8bit_downgrade);
	g_test_add_func("/mail-sender/message/utf8-addresses", test_message_utf8_addresses);
	g_test_add_func("/mail-sender/message/dots", test_message_dots);
	g_test_add_func("/mail-sender/message/line-endings", test_message_line_endings);
	g_test_add_func("/mail-sender/message/invalid-body", test_message_invalid_body);
	g_test_add_func("/mail-sender/message/injection", test_message_injection);
	g_test_add_func("/mail-sender/message/header-names", test_message_header_names);
	g_test_add_func("/mail-sender/message/extra-headers", test_message_extra_headers);
	g_test_add_func("/mail-sender/message/encode-header-value",
			test_message_encode_header_value);
	g_test_add_func("/mail-sender/message/bcc", test_message_bcc);
	g_test_add_func("/mail-sender/message/recipients", test_message_recipients);
	g_test_add_func("/mail-sender/message/required", test_message_required);
	g_test_add_func("/mail-sender/message/date", test_message_date);
	g_test_add_func("/mail-sender/message/generated", test_message_generated);
	g_test_add_func("/mail-sender/message/address-folding", test_message_address_folding);
	g_test_add_func("/mail-sender/message/html-alternative", test_message_html_alternative);
	g_test_add_func("/mail-sender/message/html-only", test_message_html_only);
	g_test_add_func("/mail-sender/message/html-invalid", test_message_html_invalid);
	g_test_add_func("/mail-sender/message/html-long-lines", test_message_html_long_lines);
	g_test_add_func("/mail-sender/message/attachment-bytes", test_message_attachment_bytes);
	g_test_add_func("/mail-sender/message/attachment-only", test_message_attachment_only);
	g_test_add_func("/mail-sender/message/base64-lines", test_message_base64_lines);
	g_test_add_func("/mail-sender/message/write-same-bytes", test_message_write_same_bytes);
	g_test_add_func("/mail-sender/message/attachment-stream", test_message_attachment_stream);
	g_test_add_func("/mail-sender/message/attachment-read-error",
			test_message_attachment_read_error);
	g_test_add_func("/mail-sender/message/write-invalid", test_message_write_invalid);
	g_test_add_func("/mail-sender/message/write-cancelled", test_message_write_cancelled);
	g_test_add_func("/mail-sender/message/filename-ascii", test_message_filename_ascii);
	g_test_add_func("/mail-sender/message/filename-german", test_message_filename_german);
	g_test_add_func("/mail-sender/message/filename-chinese", test_message_filename_chinese);
	g_test_add_func("/mail-sender/message/filename-max", test_message_filename_max);
	g_test_add_func("/mail-sender/message/content-type-guess", test_message_content_type_guess);
	g_test_add_func("/mail-sender/message/attachment-refused", test_message_attachment_refused);
	g_test_add_func("/mail-sender/message/boundary", test_message_boundary);
	g_test_add_func("/mail-sender/message/python", test_message_python);
	return g_test_run();
}
