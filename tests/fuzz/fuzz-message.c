/* libFuzzer target: an MsMessage built from fuzz data.
 *
 * The input is split at NUL bytes into subject, body, from display name, extra header value,
 * extra header name, html, attachment filename, attachment content type ("" to guess it) and
 * attachment data; the last four only when the input has that many fields. Whatever the setters
 * accept, ms_message_to_bytes() must give lines that all end in CRLF, no bare CR or LF, no NUL,
 * no line over 998 octets, an all-ASCII header block made only of the headers the composer
 * writes (and the one extra header), the same bytes as the message without its Bcc, and a MIME
 * structure (walked here with a parser of its own) whose text and html parts decode back to the
 * input with CRLF line ends, whose attachment decodes to the data with its filename coming back
 * from both RFC 2231 and RFC 2047, with no boundary inside what it encloses; and
 * ms_message_write_async() must write the same bytes. Boundaries come from a fixed seed so that
 * the fuzzer can put the next candidates into the text.
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

typedef struct {
	gchar *content_type; /* as in the header, without parameters */
	GBytes *content;     /* decoded */
	gchar *filename;     /* nullable: not an attachment */
} FuzzLeaf;

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

static void
fuzz_leaf_free(FuzzLeaf *leaf)
{
	g_free(leaf->content_type);
	g_bytes_unref(leaf->content);
	g_free(leaf->filename);
	g_free(leaf);
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

/* the unfolded value of header name in a header block, NULL if absent */
static gchar *
fuzz_header_value(const gchar *headers, const gchar *name)
{
	g_autofree gchar *prefix = g_strdup_printf("%s: ", name);
	g_autoptr(GString) value = NULL;
	const gchar *p = headers;

	while (*p != '\0' && !g_str_has_prefix(p, prefix)) {
		p = strstr(p, "\r\n");
		g_assert_nonnull(p);
		p += 2;
	}
	if (*p == '\0')
		return NULL;
	p += strlen(prefix);
	value = g_string_new(NULL);
	for (;;) {
		const gchar *end = strstr(p, "\r\n");
		g_assert_nonnull(end);
		g_string_append_len(value, p, end - p);
		if (end[2] != ' ' && end[2] != '\t')
			break;
		p = end + 2;
	}
	return g_string_free(g_steal_pointer(&value), FALSE);
}

/* the parameters of an unfolded header value, quoted-strings unquoted; the value in front of
 * the first ';' is under "" */
static GHashTable *
fuzz_params(const gchar *value)
{
	GHashTable *params = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	const gchar *p = strchr(value, ';');

	g_hash_table_insert(params,
			    g_strdup(""),
			    g_strndup(value, p != NULL ? (gsize)(p - value) : strlen(value)));
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

/* RFC 2231 percent-decoding of one section, which must hold whole UTF-8 characters */
static void
fuzz_percent_decode(GString *out, const gchar *text)
{
	gsize start = out->len;

	for (const gchar *p = text; *p != '\0'; p++) {
		if (*p == '%') {
			g_assert_true(g_ascii_isxdigit(p[1]) && g_ascii_isxdigit(p[2]));
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

static gchar *
fuzz_filename(GHashTable *params)
{
	const gchar *value = g_hash_table_lookup(params, "filename*");
	g_autoptr(GString) out = g_string_new(NULL);

	if (value == NULL && !g_hash_table_contains(params, "filename*0*")) {
		g_assert_nonnull(g_hash_table_lookup(params, "filename"));
		return g_strdup(g_hash_table_lookup(params, "filename"));
	}
	if (value != NULL) {
		g_assert_true(g_str_has_prefix(value, "UTF-8''"));
		fuzz_percent_decode(out, value + 7);
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
		fuzz_percent_decode(out, value);
	}
	return g_string_free(g_steal_pointer(&out), FALSE);
}

/* encoded-words separated by single spaces, each at most 75 chars and whole characters */
static gchar *
fuzz_decode_words(const gchar *value)
{
	g_autoptr(GString) out = g_string_new(NULL);
	g_auto(GStrv) words = g_strsplit(value, " ", -1);

	for (guint i = 0; words[i] != NULL; i++) {
		const gchar *word = words[i];
		gsize len = strlen(word);
		g_autofree gchar *text = NULL;
		gsize start = out->len;

		g_assert_cmpuint(len, >=, 12);
		g_assert_cmpuint(len, <=, 75);
		g_assert_true(g_str_has_prefix(word, "=?UTF-8?") && g_str_has_suffix(word, "?="));
		g_assert_cmpint(word[9], ==, '?');
		text = g_strndup(word + 10, len - 12);
		if (word[8] == 'B') {
			gsize raw_len = 0;
			g_autofree guchar *raw = g_base64_decode(text, &raw_len);
			g_string_append_len(out, (const gchar *)raw, raw_len);
		} else {
			g_assert_cmpint(word[8], ==, 'Q');
			for (const gchar *p = text; *p != '\0'; p++) {
				if (*p == '_') {
					g_string_append_c(out, ' ');
				} else if (*p == '=') {
					g_assert_true(g_ascii_isxdigit(p[1]) &&
						      g_ascii_isxdigit(p[2]));
					g_string_append_c(out,
							  (gchar)(g_ascii_xdigit_value(p[1]) * 16 +
								  g_ascii_xdigit_value(p[2])));
					p += 2;
				} else {
					g_assert_true(g_ascii_isalnum(*p) ||
						      strchr("!*+-/", *p) != NULL);
					g_string_append_c(out, *p);
				}
			}
		}
		g_assert_true(g_utf8_validate_len(out->str + start, out->len - start, NULL));
	}
	return g_string_free(g_steal_pointer(&out), FALSE);
}

/* base64 in lines of 76 but the last, each ending in CRLF */
static GBytes *
fuzz_decode_base64(const gchar *body)
{
	g_autoptr(GString) joined = g_string_new(NULL);
	gsize len = 0;
	guchar *data;

	for (const gchar *p = body; *p != '\0';) {
		const gchar *end = strstr(p, "\r\n");
		g_assert_nonnull(end);
		g_assert_cmpuint(end - p, >, 0);
		if (end[2] != '\0')
			g_assert_cmpuint(end - p, ==, 76);
		else
			g_assert_cmpuint(end - p, <=, 76);
		for (const gchar *q = p; q < end; q++)
			g_assert_true(g_ascii_isalnum(*q) || *q == '+' || *q == '/' || *q == '=');
		g_string_append_len(joined, p, end - p);
		p = end + 2;
	}
	g_assert_cmpuint(joined->len % 4, ==, 0);
	if (joined->len == 0)
		return g_bytes_new(NULL, 0);
	data = g_base64_decode(joined->str, &len);
	return g_bytes_new_take(data, len);
}

/* the header block of a body part: only the three Content- headers, ASCII, parameter lines of
 * at most 78 columns */
static void
fuzz_check_part_headers(const gchar *headers)
{
	for (const gchar *p = headers; *p != '\0';) {
		const gchar *end = strstr(p, "\r\n");
		g_assert_nonnull(end);
		for (const gchar *q = p; q < end; q++)
			g_assert_true(*q >= 0x20 && *q <= 0x7e);
		if (*p == ' ') {
			g_assert_true(strspn(p, " ") < (gsize)(end - p));
			g_assert_cmpuint(end - p, <=, 78);
		} else {
			g_assert_true(g_str_has_prefix(p, "Content-Type: ") ||
				      g_str_has_prefix(p, "Content-Transfer-Encoding: ") ||
				      g_str_has_prefix(p, "Content-Disposition: "));
		}
		p = end + 2;
	}
}

/* walks an entity (headers ending in CRLF, then its body), appending its leaves */
static void
fuzz_walk(GPtrArray *leaves, GPtrArray *boundaries, const gchar *headers, const gchar *body)
{
	g_autofree gchar *content_type = fuzz_header_value(headers, "Content-Type");
	g_autofree gchar *cte = fuzz_header_value(headers, "Content-Transfer-Encoding");
	g_autofree gchar *disposition = fuzz_header_value(headers, "Content-Disposition");
	g_autoptr(GHashTable) params = NULL;
	FuzzLeaf *leaf;

	g_assert_nonnull(content_type);
	params = fuzz_params(content_type);
	if (g_str_has_prefix(content_type, "multipart/")) {
		const gchar *boundary = g_hash_table_lookup(params, "boundary");
		g_autofree gchar *first = NULL;
		g_autofree gchar *delimiter = NULL;
		const gchar *p;

		g_assert_true(
		    g_str_equal(g_hash_table_lookup(params, ""), "multipart/mixed") ||
		    g_str_equal(g_hash_table_lookup(params, ""), "multipart/alternative"));
		g_assert_null(cte);
		g_assert_null(disposition);
		g_assert_nonnull(boundary);
		g_assert_cmpuint(strlen(boundary), <=, 70);
		for (guint i = 0; i < boundaries->len; i++) {
			const gchar *other = g_ptr_array_index(boundaries, i);
			g_assert_false(g_str_has_prefix(other, boundary));
			g_assert_false(g_str_has_prefix(boundary, other));
		}
		g_ptr_array_add(boundaries, g_strdup(boundary));
		first = g_strdup_printf("--%s\r\n", boundary);
		delimiter = g_strdup_printf("\r\n--%s", boundary);
		g_assert_true(g_str_has_prefix(body, first));
		p = body + strlen(first);
		for (;;) {
			const gchar *end = strstr(p, delimiter);
			const gchar *sep;
			g_autofree gchar *part = NULL;
			g_autofree gchar *part_headers = NULL;

			g_assert_nonnull(end);
			part = g_strndup(p, end - p);
			sep = strstr(part, "\r\n\r\n");
			g_assert_nonnull(sep);
			part_headers = g_strndup(part, sep - part + 2);
			fuzz_check_part_headers(part_headers);
			fuzz_walk(leaves, boundaries, part_headers, sep + 4);
			p = end + strlen(delimiter);
			if (g_str_has_prefix(p, "--\r\n")) {
				/* no epilogue */
				g_assert_cmpstr(p, ==, "--\r\n");
				break;
			}
			g_assert_true(g_str_has_prefix(p, "\r\n"));
			p += 2;
		}
		return;
	}

	leaf = g_new0(FuzzLeaf, 1);
	leaf->content_type = g_strdup(g_hash_table_lookup(params, ""));
	g_ptr_array_add(leaves, leaf);
	g_assert_nonnull(cte);
	if (disposition != NULL) {
		g_autoptr(GHashTable) disposition_params = fuzz_params(disposition);
		g_autofree gchar *name = NULL;
		const gchar *name_param = g_hash_table_lookup(params, "name");

		g_assert_cmpstr(cte, ==, "base64");
		g_assert_cmpstr(g_hash_table_lookup(disposition_params, ""), ==, "attachment");
		leaf->filename = fuzz_filename(disposition_params);
		g_assert_nonnull(name_param);
		if (g_str_has_prefix(name_param, "=?"))
			name = fuzz_decode_words(name_param);
		else
			name = g_strdup(name_param);
		g_assert_cmpstr(name, ==, leaf->filename);
		leaf->content = fuzz_decode_base64(body);
		return;
	}
	g_assert_true(g_str_equal(content_type, "text/plain; charset=utf-8") ||
		      g_str_equal(content_type, "text/html; charset=utf-8"));
	if (g_str_equal(cte, "7bit")) {
		for (const gchar *p = body; *p != '\0'; p++)
			g_assert_cmpint(*p, >, 0);
		leaf->content = g_bytes_new(body, strlen(body));
	} else {
		g_autofree gchar *decoded = NULL;
		g_assert_cmpstr(cte, ==, "quoted-printable");
		for (const gchar *p = body; *p != '\0';) {
			const gchar *end = strstr(p, "\r\n");
			g_assert_nonnull(end);
			g_assert_cmpuint(end - p, <=, 76);
			p = end + 2;
		}
		decoded = fuzz_decode_qp(body);
		leaf->content = g_bytes_new(decoded, strlen(decoded));
	}
}

static void
fuzz_leaf_assert(FuzzLeaf *leaf, const gchar *content_type, const gchar *content, gsize len)
{
	g_assert_cmpstr(leaf->content_type, ==, content_type);
	g_assert_cmpmem(g_bytes_get_data(leaf->content, NULL),
			g_bytes_get_size(leaf->content),
			content,
			len);
}

static void
fuzz_async_result_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	GAsyncResult **result = user_data;
	*result = g_object_ref(res);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* a critical from a g_return_if_fail() is a bug the fuzzer should report */
	g_log_set_always_fatal(G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
	return 0;
}

/* what the setters accepted, so what the message must show */
typedef struct {
	gchar *body;		      /* normalized, "" when refused */
	gchar *html;		      /* normalized, NULL when refused or empty */
	const gchar *extra_name;      /* nullable */
	const gchar *attachment_name; /* nullable */
	gchar *attachment_type;	      /* nullable: guessed */
	GBytes *attachment_data;
} FuzzExpect;

static void
fuzz_expect_clear(FuzzExpect *expect)
{
	g_free(expect->body);
	g_free(expect->html);
	g_free(expect->attachment_type);
	g_clear_pointer(&expect->attachment_data, g_bytes_unref);
}

static MsMessage *
fuzz_message_new(const gchar **fields, guint n_fields, gboolean with_bcc, FuzzExpect *expect)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GDateTime) date = g_date_time_new_utc(2026, 11, 24, 15, 42, 0);
	g_autoptr(MsMessage) message = ms_message_new();
	g_autofree gchar *from = NULL;

	ms_message_set_date(message, date);
	ms_message_set_message_id(message, "fuzz@example.org");
	ms_message_set_boundary_seed(message, "fuzz");
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
	if (with_bcc)
		g_assert_true(ms_message_add_bcc(message, FUZZ_BCC, &error));
	if (!ms_message_set_subject(message, fields[0], &error)) {
		fuzz_check_error(error);
		g_clear_error(&error);
	}
	if (!ms_message_set_body(message, fields[1], &error)) {
		fuzz_check_error(error);
		g_clear_error(&error);
		expect->body = g_strdup("");
	} else {
		expect->body = fuzz_normalize(fields[1]);
	}
	if (!ms_message_add_header(message, fields[4], fields[3], &error)) {
		fuzz_check_error(error);
		g_clear_error(&error);
	} else {
		expect->extra_name = fields[4];
	}
	if (n_fields > 5) {
		if (!ms_message_set_html(message, fields[5], &error)) {
			fuzz_check_error(error);
			g_clear_error(&error);
		} else if (fields[5][0] != '\0') {
			expect->html = fuzz_normalize(fields[5]);
		}
	}
	if (n_fields > 6) {
		expect->attachment_data = g_bytes_new(fields[8], strlen(fields[8]));
		if (!ms_message_add_attachment_bytes(message,
						     fields[6],
						     fields[7][0] != '\0' ? fields[7] : NULL,
						     expect->attachment_data,
						     &error)) {
			fuzz_check_error(error);
			g_clear_error(&error);
		} else {
			expect->attachment_name = fields[6];
			if (fields[7][0] != '\0')
				expect->attachment_type = g_ascii_strdown(fields[7], -1);
		}
	}
	return g_steal_pointer(&message);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const gchar *fields[9] = {"", "", "", "", "X-Fuzz", "", "", "", ""};
	guint n_fields = 0;
	g_autofree gchar *input = g_malloc(size + 1);
	g_autofree gchar *headers = NULL;
	g_autofree gchar *text = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(MsMessage) message = NULL;
	g_autoptr(MsMessage) message_no_bcc = NULL;
	g_autoptr(GBytes) bytes = NULL;
	g_autoptr(GBytes) bytes_no_bcc = NULL;
	g_autoptr(GPtrArray) recipients = NULL;
	g_autoptr(GPtrArray) leaves =
	    g_ptr_array_new_with_free_func((GDestroyNotify)fuzz_leaf_free);
	g_autoptr(GPtrArray) boundaries = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GOutputStream) out = g_memory_output_stream_new_resizable();
	g_autoptr(GAsyncResult) res = NULL;
	FuzzExpect expect = {0};
	FuzzExpect expect_no_bcc = {0};
	const gchar *body_out;
	gsize text_len = 0;
	gsize line = 0;
	guint64 written = 0;
	guint leaf = 0;
	gboolean found_bcc = FALSE;
	gboolean has_text;
	gboolean smtputf8;

	/* split at NUL bytes */
	memcpy(input, data, size);
	input[size] = '\0';
	for (gsize i = 0, start = 0; i <= size && n_fields < G_N_ELEMENTS(fields); i++) {
		if (i == size || input[i] == '\0') {
			fields[n_fields++] = input + start;
			start = i + 1;
		}
	}

	message = fuzz_message_new(fields, n_fields, TRUE, &expect);
	smtputf8 = (ms_message_get_mail_flags(message) & MS_MAIL_FLAG_SMTPUTF8) != 0;
	bytes = ms_message_to_bytes(message, &error);
	g_assert_no_error(error);
	g_assert_nonnull(bytes);
	text = g_strndup(g_bytes_get_data(bytes, &text_len), text_len);

	/* Bcc leaves no trace in the message: the same one without it has the same bytes */
	message_no_bcc = fuzz_message_new(fields, n_fields, FALSE, &expect_no_bcc);
	bytes_no_bcc = ms_message_to_bytes(message_no_bcc, &error);
	g_assert_no_error(error);
	g_assert_true(g_bytes_equal(bytes, bytes_no_bcc));
	fuzz_expect_clear(&expect_no_bcc);

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
	for (const gchar *p = headers; *p != '\0';) {
		const gchar *end = strstr(p, "\r\n");
		g_assert_nonnull(end);
		/* UTF-8 only from an address with a UTF-8 local part (RFC 6532), which the
		 * message then says it needs SMTPUTF8 for */
		g_assert_true(g_utf8_validate(p, end - p, NULL));
		for (const gchar *q = p; q < end; q++)
			g_assert_true((*q >= 0x20 && *q <= 0x7e) || *q == '\t' ||
				      ((guchar)*q >= 0x80 && smtputf8));
		if (*p == ' ' || *p == '\t') {
			/* a continuation line is never white space alone */
			g_assert_true(strspn(p, " \t") < (gsize)(end - p));
		} else {
			g_assert_true(fuzz_header_allowed(p, end - p, expect.extra_name));
			g_assert_false(g_ascii_strncasecmp(p, "Bcc:", 4) == 0);
		}
		p = end + 2;
	}
	/* the composer's Content- headers come last, after the extra one */
	g_assert_true(
	    g_str_has_suffix(headers, "\r\nContent-Transfer-Encoding: 7bit\r\n") ||
	    g_str_has_suffix(headers, "\r\nContent-Transfer-Encoding: quoted-printable\r\n") ||
	    strstr(headers, "\r\nContent-Type: multipart/") != NULL);

	/* the MIME structure: the text (left out when empty and something else is there), the
	 * html, the attachment, in that order and decoding to what was given */
	fuzz_walk(leaves, boundaries, headers, body_out);
	has_text =
	    expect.body[0] != '\0' || (expect.html == NULL && expect.attachment_name == NULL);
	g_assert_cmpuint(leaves->len,
			 ==,
			 (has_text ? 1 : 0) + (expect.html != NULL ? 1 : 0) +
			     (expect.attachment_name != NULL ? 1 : 0));
	g_assert_cmpuint(boundaries->len,
			 ==,
			 (expect.attachment_name != NULL ? 1 : 0) +
			     (has_text && expect.html != NULL ? 1 : 0));
	if (has_text) {
		fuzz_leaf_assert(g_ptr_array_index(leaves, leaf++),
				 "text/plain",
				 expect.body,
				 strlen(expect.body));
	}
	if (expect.html != NULL) {
		fuzz_leaf_assert(g_ptr_array_index(leaves, leaf++),
				 "text/html",
				 expect.html,
				 strlen(expect.html));
	}
	if (expect.attachment_name != NULL) {
		FuzzLeaf *attachment = g_ptr_array_index(leaves, leaf++);
		g_assert_cmpstr(attachment->filename, ==, expect.attachment_name);
		g_assert_true(g_bytes_equal(attachment->content, expect.attachment_data));
		if (expect.attachment_type != NULL)
			g_assert_cmpstr(attachment->content_type, ==, expect.attachment_type);
	}

	/* the streaming writer writes the same bytes */
	ms_message_write_async(message, out, NULL, fuzz_async_result_cb, &res);
	while (res == NULL)
		g_main_context_iteration(NULL, TRUE);
	g_assert_true(ms_message_write_finish(message, res, &written, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(written, ==, text_len);
	g_assert_cmpmem(g_memory_output_stream_get_data(G_MEMORY_OUTPUT_STREAM(out)),
			g_memory_output_stream_get_data_size(G_MEMORY_OUTPUT_STREAM(out)),
			text,
			text_len);

	recipients = ms_message_get_recipients(message);
	for (guint i = 0; i < recipients->len; i++) {
		if (g_ascii_strcasecmp(g_ptr_array_index(recipients, i), FUZZ_BCC) == 0)
			found_bcc = TRUE;
	}
	g_assert_true(found_bcc);
	fuzz_expect_clear(&expect);
	return 0;
}
