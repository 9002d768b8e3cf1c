#include "config.h"

#include <gio/gio.h>
#include <string.h>

#include "ms-message.h"

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
	g_test_add_func("/mail-sender/message/subject-unfoldable", test_message_subject_unfoldable);
	g_test_add_func("/mail-sender/message/empty-subject", test_message_empty_subject);
	g_test_add_func("/mail-sender/message/long-line", test_message_long_line);
	g_test_add_func("/mail-sender/message/utf8-body", test_message_utf8_body);
	g_test_add_func("/mail-sender/message/quoted-printable", test_message_quoted_printable);
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
	return g_test_run();
}
