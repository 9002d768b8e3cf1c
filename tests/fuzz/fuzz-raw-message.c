/* libFuzzer target: ms_raw_message_parse() and ms_raw_message_to_bytes() on arbitrary input.
 *
 * The first byte picks the flags (bit 0 DOT_ENDS, bit 1 EXTRACT_RECIPIENTS) and whether a
 * default sender is given (bit 2 clear); the rest is the message. Every refused input must give
 * a one-line UTF-8 G_IO_ERROR_INVALID_ARGUMENT message. Every accepted one must give bytes in
 * which every line ends in CRLF, with no bare CR or LF, no NUL and no line over 998 octets; a
 * header block of valid fields (no Bcc among them, Date, Message-ID and From present) ended by
 * an empty line; and a body that is the input's own tail with CRLF line ends. The recipients
 * must be valid mailboxes without duplicates, and there must be one when they are extracted.
 *
 * Build and run from /work/main (the corpus is copied so the tree is not changed):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -I/work/main/service \
 *     -I/work/main/build-<you> $(pkg-config --cflags gio-2.0) tests/fuzz/fuzz-raw-message.c \
 *     service/ms-raw-message.c service/ms-raw-body.c service/ms-address.c \
 *     service/ms-message.c \
 *     $(pkg-config --libs gio-2.0) -o /tmp/fuzz-raw-message
 *   rm -rf /tmp/fuzz-raw-message-corpus && \
 *     cp -r tests/fuzz/corpus/raw-message /tmp/fuzz-raw-message-corpus
 *   /tmp/fuzz-raw-message -max_total_time=30 -max_len=8192 /tmp/fuzz-raw-message-corpus
 */

#include "config.h"

#include <gio/gio.h>
#include <stdint.h>
#include <string.h>

#include "ms-address.h"
#include "ms-raw-message.h"

#define FUZZ_DEFAULT_FROM "Fuzz Sender <fuzz@example.org>"

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

/* the input with every line end as CRLF and a CRLF after a last line without one */
static GByteArray *
fuzz_normalize(const guint8 *data, gsize len)
{
	GByteArray *out = g_byte_array_new();

	for (gsize i = 0; i < len; i++) {
		if (data[i] == '\r' || data[i] == '\n') {
			if (data[i] == '\r' && i + 1 < len && data[i + 1] == '\n')
				i++;
			g_byte_array_append(out, (const guint8 *)"\r\n", 2);
		} else {
			g_byte_array_append(out, data + i, 1);
		}
	}
	if (len > 0 && data[len - 1] != '\r' && data[len - 1] != '\n')
		g_byte_array_append(out, (const guint8 *)"\r\n", 2);
	return out;
}

/* where a normalized message ends for sendmail without -i: in front of the first "." line */
static guint
fuzz_dot_end(const GByteArray *text)
{
	if (text->len >= 3 && memcmp(text->data, ".\r\n", 3) == 0)
		return 0;
	for (guint i = 0; i + 5 <= text->len; i++) {
		if (memcmp(text->data + i, "\r\n.\r\n", 5) == 0)
			return i + 2;
	}
	return text->len;
}

static gboolean
fuzz_name_is(const gchar *line, gsize name_len, const gchar *name)
{
	return name_len == strlen(name) && g_ascii_strncasecmp(line, name, name_len) == 0;
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
	g_autoptr(GBytes) input = NULL;
	g_autoptr(MsRawMessage) msg = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) bytes = NULL;
	g_autoptr(GPtrArray) recipients = NULL;
	g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	g_autoptr(GByteArray) normalized = NULL;
	g_autoptr(GDateTime) date = g_date_time_new_utc(2026, 11, 24, 15, 42, 0);
	MsRawMessageFlags flags;
	const gchar *default_from;
	const gchar *out;
	const gchar *body;
	gsize out_len = 0;
	gsize body_len;
	gsize line = 0;
	gboolean has_date = FALSE;
	gboolean has_message_id = FALSE;
	gboolean has_from = FALSE;

	if (size == 0)
		return 0;
	flags = data[0] & (MS_RAW_MESSAGE_FLAG_DOT_ENDS | MS_RAW_MESSAGE_FLAG_EXTRACT_RECIPIENTS);
	default_from = (data[0] & 4) == 0 ? FUZZ_DEFAULT_FROM : NULL;
	input = g_bytes_new(data + 1, size - 1);

	msg = ms_raw_message_parse(input, flags, &error);
	if (msg == NULL) {
		fuzz_check_error(error);
		return 0;
	}
	g_assert_no_error(error);

	recipients = ms_raw_message_get_header_recipients(msg);
	for (guint i = 0; i < recipients->len; i++) {
		const gchar *spec = g_ptr_array_index(recipients, i);
		g_assert_true(ms_address_is_valid_mailbox(spec));
		g_assert_true(g_hash_table_add(seen, g_ascii_strdown(spec, -1)));
	}
	if ((flags & MS_RAW_MESSAGE_FLAG_EXTRACT_RECIPIENTS) != 0)
		g_assert_cmpuint(recipients->len, >, 0);
	if (ms_raw_message_get_from(msg) != NULL)
		g_assert_true(ms_address_is_valid_mailbox(ms_raw_message_get_from(msg)));

	ms_raw_message_set_date(msg, date);
	bytes = ms_raw_message_to_bytes(msg, default_from, &error);
	if (bytes == NULL) {
		/* only a message without From and no default sender can fail here */
		fuzz_check_error(error);
		g_assert_null(default_from);
		return 0;
	}
	g_assert_no_error(error);
	out = g_bytes_get_data(bytes, &out_len);

	/* CRLF everywhere, no bare CR or LF, no NUL, no line over 998 */
	g_assert_cmpuint(out_len, >, 0);
	g_assert_null(memchr(out, '\0', out_len));
	for (gsize i = 0; i < out_len; i++) {
		if (out[i] == '\r') {
			g_assert_true(i + 1 < out_len && out[i + 1] == '\n');
			i++;
			line = 0;
			continue;
		}
		g_assert_cmpint(out[i], !=, '\n');
		g_assert_cmpuint(++line, <=, 998);
	}
	g_assert_cmpuint(line, ==, 0);

	/* a header block of fields up to the first empty line, which must be there */
	body = NULL;
	for (gsize pos = 0; pos < out_len;) {
		const gchar *eol = g_strstr_len(out + pos, out_len - pos, "\r\n");
		gsize len = eol - (out + pos);
		gsize name_len = 0;

		g_assert_nonnull(eol);
		if (len == 0) {
			body = eol + 2;
			break;
		}
		g_assert_true(g_utf8_validate_len(out + pos, len, NULL));
		if (out[pos] == ' ' || out[pos] == '\t') {
			g_assert_cmpuint(pos, >, 0);
		} else {
			while (name_len < len && out[pos + name_len] >= 33 &&
			       out[pos + name_len] <= 126 && out[pos + name_len] != ':')
				name_len++;
			g_assert_cmpuint(name_len, >, 0);
			g_assert_cmpuint(name_len, <, len);
			g_assert_cmpint(out[pos + name_len], ==, ':');
			g_assert_false(fuzz_name_is(out + pos, name_len, "Bcc"));
			if (fuzz_name_is(out + pos, name_len, "Date"))
				has_date = TRUE;
			if (fuzz_name_is(out + pos, name_len, "Message-ID"))
				has_message_id = TRUE;
			if (fuzz_name_is(out + pos, name_len, "From"))
				has_from = TRUE;
		}
		pos += len + 2;
	}
	g_assert_nonnull(body);
	g_assert_true(has_date);
	g_assert_true(has_message_id);
	g_assert_true(has_from);

	/* the body is the input's tail with CRLF line ends; with DOT_ENDS, the tail of what comes
	 * before the first "." line */
	body_len = out_len - (body - out);
	normalized = fuzz_normalize(data + 1, size - 1);
	if ((flags & MS_RAW_MESSAGE_FLAG_DOT_ENDS) != 0)
		g_byte_array_set_size(normalized, fuzz_dot_end(normalized));
	g_assert_cmpuint(body_len, <=, normalized->len);
	g_assert_cmpmem(body, body_len, normalized->data + normalized->len - body_len, body_len);
	return 0;
}
