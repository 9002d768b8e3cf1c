/* libFuzzer target: an MsMessage built from fuzz data.
 *
 * The input is split at NUL bytes into subject, body, from display name, extra header value and
 * extra header name. Whatever the setters accept, ms_message_to_bytes() must give lines that all
 * end in CRLF, no bare CR or LF, no NUL, no line over 998 octets, an all-ASCII header block made
 * only of the headers the composer writes (and the one extra header), no Bcc header and no Bcc
 * address in the headers, and a body that decodes back to the input with CRLF line ends.
 *
 * Build and run from /work/main (the corpus is copied so the tree is not changed):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -I/work/main/service \
 *     -I/work/main/build-<you> $(pkg-config --cflags gio-2.0) tests/fuzz/fuzz-message.c \
 *     service/ms-address.c service/ms-message.c $(pkg-config --libs gio-2.0) \
 *     -o /tmp/fuzz-message
 *   rm -rf /tmp/fuzz-message-corpus && cp -r tests/fuzz/corpus/message /tmp/fuzz-message-corpus
 *   /tmp/fuzz-message -max_total_time=30 -max_len=4096 /tmp/fuzz-message-corpus
 */

#include "config.h"

#include <gio/gio.h>
#include <stdint.h>
#include <string.h>

#include "ms-message.h"

#define FUZZ_BCC "bcc-hidden@example.net"

int
LLVMFuzzerInitialize(int *argc, char ***argv);
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_check_error(const GError *error)
{
	g_assert_true(g_error_matches(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT));
	g_assert_null(strpbrk(error->message, "\r\n"));
	g_assert_true(g_utf8_validate(error->message, -1, NULL));
}

/* the body as the composer must have normalized it: CRLF line ends and a final CRLF */
static gchar *
fuzz_normalize(const gchar *body)
{
	g_autoptr(GString) str = g_string_new(NULL);

	for (const gchar *p = body; *p != '\0'; p++) {
		if (*p == '\r') {
			if (p[1] == '\n')
				p++;
			g_string_append(str, "\r\n");
		} else if (*p == '\n') {
			g_string_append(str, "\r\n");
		} else {
			g_string_append_c(str, *p);
		}
	}
	if (str->len > 0 && !g_str_has_suffix(str->str, "\r\n"))
		g_string_append(str, "\r\n");
	return g_string_free(g_steal_pointer(&str), FALSE);
}

static gchar *
fuzz_decode_qp(const gchar *text)
{
	g_autoptr(GString) out = g_string_new(NULL);

	for (const gchar *p = text; *p != '\0'; p++) {
		if (*p == '=' && p[1] == '\r' && p[2] == '\n') {
			p += 2;
		} else if (*p == '=') {
			g_assert_true(g_ascii_isxdigit(p[1]) && g_ascii_isxdigit(p[2]));
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

static gboolean
fuzz_header_allowed(const gchar *line, gsize len, const gchar *extra_name)
{
	const gchar *names[] = {"Date",
				"From",
				"Reply-To",
				"To",
				"Cc",
				"Subject",
				"Message-ID",
				"MIME-Version",
				"Content-Type",
				"Content-Transfer-Encoding",
				extra_name};
	const gchar *colon = memchr(line, ':', len);

	if (colon == NULL)
		return FALSE;
	for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
		if (names[i] != NULL && strlen(names[i]) == (gsize)(colon - line) &&
		    strncmp(names[i], line, colon - line) == 0)
			return TRUE;
	}
	return FALSE;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* a critical from a g_return_if_fail() is a bug the fuzzer should report */
	g_log_set_always_fatal(G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const gchar *fields[5] = {"", "", "", "", "X-Fuzz"};
	g_autofree gchar *input = g_malloc(size + 1);
	g_autofree gchar *from = NULL;
	g_autofree gchar *headers = NULL;
	g_autofree gchar *body_expected = NULL;
	g_autofree gchar *text = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GDateTime) date = g_date_time_new_utc(2026, 11, 24, 15, 42, 0);
	g_autoptr(MsMessage) message = ms_message_new();
	g_autoptr(GBytes) bytes = NULL;
	g_autoptr(GPtrArray) recipients = NULL;
	const gchar *extra_name = NULL;
	const gchar *body_out;
	const gchar *cte;
	gsize text_len = 0;
	gsize line = 0;
	gboolean found_bcc = FALSE;
	gboolean bcc_in_input = FALSE;

	/* split at NUL bytes */
	memcpy(input, data, size);
	input[size] = '\0';
	for (gsize i = 0, start = 0, n = 0; i <= size && n < G_N_ELEMENTS(fields); i++) {
		if (i == size || input[i] == '\0') {
			fields[n++] = input + start;
			start = i + 1;
		}
	}

	ms_message_set_date(message, date);
	ms_message_set_message_id(message, "fuzz@example.org");
	from = g_strdup_printf("%s <from@example.org>", fields[2]);
	if (!ms_message_set_from(message, from, &error)) {
		fuzz_check_error(error);
		g_clear_error(&error);
		g_assert_true(ms_message_set_from(message, "from@example.org", &error));
	}
	/* the display name alone as an address, too */
	if (!ms_message_add_cc(message, fields[2], &error)) {
		fuzz_check_error(error);
		g_clear_error(&error);
	}
	g_assert_true(ms_message_add_to(message, "To Person <to@example.org>", &error));
	g_assert_true(ms_message_add_bcc(message, FUZZ_BCC, &error));
	if (!ms_message_set_subject(message, fields[0], &error)) {
		fuzz_check_error(error);
		g_clear_error(&error);
	}
	if (!ms_message_set_body(message, fields[1], &error)) {
		fuzz_check_error(error);
		g_clear_error(&error);
	} else {
		body_expected = fuzz_normalize(fields[1]);
	}
	if (!ms_message_add_header(message, fields[4], fields[3], &error)) {
		fuzz_check_error(error);
		g_clear_error(&error);
	} else {
		extra_name = fields[4];
	}

	bytes = ms_message_to_bytes(message, &error);
	g_assert_no_error(error);
	g_assert_nonnull(bytes);
	text = g_strndup(g_bytes_get_data(bytes, &text_len), text_len);

	/* CRLF everywhere, no bare CR or LF, no NUL, no line over 998 */
	g_assert_cmpuint(strlen(text), ==, text_len);
	for (const gchar *p = text; *p != '\0'; p++) {
		if (*p == '\r') {
			g_assert_cmpint(p[1], ==, '\n');
			p++;
			line = 0;
			continue;
		}
		g_assert_cmpint(*p, !=, '\n');
		g_assert_cmpuint(++line, <=, 998);
	}
	g_assert_cmpuint(line, ==, 0);

	/* the header block ends right after the composer's last header, so nothing was injected
	 * into it and nothing ended it early */
	body_out = strstr(text, "\r\n\r\n");
	g_assert_nonnull(body_out);
	headers = g_strndup(text, body_out - text + 2);
	body_out += 4;
	cte = g_strrstr(headers, "\r\nContent-Transfer-Encoding: ");
	g_assert_nonnull(cte);
	g_assert_true(
	    g_str_has_suffix(headers, "\r\nContent-Transfer-Encoding: 7bit\r\n") ||
	    g_str_has_suffix(headers, "\r\nContent-Transfer-Encoding: quoted-printable\r\n"));
	for (const gchar *p = headers; *p != '\0';) {
		const gchar *end = strstr(p, "\r\n");
		g_assert_nonnull(end);
		for (const gchar *q = p; q < end; q++)
			g_assert_true((*q >= 0x20 && *q <= 0x7e) || *q == '\t');
		if (*p == ' ' || *p == '\t') {
			/* a continuation line is never white space alone */
			g_assert_true(strspn(p, " \t") < (gsize)(end - p));
		} else {
			g_assert_true(fuzz_header_allowed(p, end - p, extra_name));
			g_assert_false(g_ascii_strncasecmp(p, "Bcc:", 4) == 0);
		}
		p = end + 2;
	}
	/* the Bcc address may only be in the headers if the input put it into another field */
	for (guint i = 0; i < G_N_ELEMENTS(fields); i++) {
		if (strstr(fields[i], FUZZ_BCC) != NULL)
			bcc_in_input = TRUE;
	}
	if (!bcc_in_input)
		g_assert_null(strstr(headers, FUZZ_BCC));

	/* the body decodes to what was given */
	if (body_expected != NULL) {
		if (g_str_has_suffix(headers, "7bit\r\n")) {
			g_assert_cmpstr(body_out, ==, body_expected);
		} else {
			g_autofree gchar *decoded = fuzz_decode_qp(body_out);
			g_assert_cmpstr(decoded, ==, body_expected);
			for (const gchar *p = body_out; *p != '\0';) {
				const gchar *end = strstr(p, "\r\n");
				g_assert_nonnull(end);
				g_assert_cmpuint(end - p, <=, 76);
				p = end + 2;
			}
		}
	}

	recipients = ms_message_get_recipients(message);
	for (guint i = 0; i < recipients->len; i++) {
		if (g_ascii_strcasecmp(g_ptr_array_index(recipients, i), FUZZ_BCC) == 0)
			found_bcc = TRUE;
	}
	g_assert_true(found_bcc);
	return 0;
}
