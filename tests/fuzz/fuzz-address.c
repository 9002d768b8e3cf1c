/* libFuzzer target: ms_address_parse() and ms_address_to_header() on arbitrary input.
 *
 * Every accepted input must give a header without CR, LF or NUL (and all ASCII but a UTF-8
 * local part, as non-ASCII display names are encoded and domains kept as A-labels), an
 * addr-spec that ms_address_is_valid_mailbox() accepts and that needs SMTPUTF8 exactly when it
 * is not ASCII, and a header that parses back to the same address; every refused input must give a
 * one-line UTF-8 G_IO_ERROR_INVALID_ARGUMENT message.
 *
 * Build and run from /work/main (the corpus is copied so the tree is not changed):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -I/work/main/service \
 *     -I/work/main/build-<you> $(pkg-config --cflags gio-2.0) tests/fuzz/fuzz-address.c \
 *     service/ms-address.c service/ms-message.c $(pkg-config --libs gio-2.0) \
 *     -o /tmp/fuzz-address
 *   rm -rf /tmp/fuzz-address-corpus && cp -r tests/fuzz/corpus/address /tmp/fuzz-address-corpus
 *   /tmp/fuzz-address -max_total_time=30 -max_len=1024 /tmp/fuzz-address-corpus
 */

#include "config.h"

#include <gio/gio.h>
#include <stdint.h>
#include <string.h>

#include "ms-address.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv);
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* decodes encoded-words separated by spaces, NULL if anything else is there or a word is too
 * long or does not decode to whole UTF-8 characters */
static gchar *
fuzz_decode_words(const gchar *value)
{
	g_autoptr(GString) out = g_string_new(NULL);
	g_auto(GStrv) words = g_strsplit(value, " ", -1);

	for (guint i = 0; words[i] != NULL; i++) {
		const gchar *word = words[i];
		gsize len = strlen(word);
		g_autofree gchar *text = NULL;
		g_autoptr(GString) piece = g_string_new(NULL);

		if (len < 12 || len > 75 || !g_str_has_prefix(word, "=?UTF-8?") ||
		    !g_str_has_suffix(word, "?=") || word[9] != '?')
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
	g_autofree gchar *text = NULL;
	g_autofree gchar *header = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(MsAddress) address = NULL;
	g_autoptr(MsAddress) again = NULL;
	g_autoptr(MsAddress) copy = NULL;
	const gchar *spec;
	const gchar *name;

	/* callers pass C strings (D-Bus strings cannot hold NUL either), so stop at the first */
	text = g_strndup((const gchar *)data, size);
	address = ms_address_parse(text, &error);
	if (address == NULL) {
		g_assert_true(g_error_matches(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT));
		g_assert_null(strpbrk(error->message, "\r\n"));
		g_assert_true(g_utf8_validate(error->message, -1, NULL));
		return 0;
	}
	g_assert_no_error(error);

	spec = ms_address_get_addr_spec(address);
	name = ms_address_get_display_name(address);
	g_assert_true(ms_address_is_valid_mailbox(spec));
	g_assert_cmpuint(strlen(spec), <=, 254);
	if (name != NULL) {
		g_assert_cmpstr(name, !=, "");
		g_assert_true(g_utf8_validate(name, -1, NULL));
		for (const gchar *p = name; *p != '\0'; p = g_utf8_next_char(p)) {
			gunichar ch = g_utf8_get_char(p);
			g_assert_false(ch < 0x20 || (ch >= 0x7f && ch < 0xa0));
		}
	}

	/* only a local part may be UTF-8, and then it needs SMTPUTF8 */
	g_assert_true(g_utf8_validate(spec, -1, NULL));
	g_assert_true(g_str_is_ascii(strrchr(spec, '@')));
	g_assert_cmpint(ms_address_needs_smtputf8(address), ==, !g_str_is_ascii(spec));
	{
		g_autofree gchar *normalized = ms_address_normalize_mailbox(spec);
		g_assert_cmpstr(normalized, ==, spec);
	}

	header = ms_address_to_header(address);
	g_assert_nonnull(header);
	{
		/* "spec" or "name <spec>": all but the spec is printable ASCII */
		gsize close = g_str_has_suffix(header, ">") ? 1 : 0;
		gsize prefix_len = strlen(header) - strlen(spec) - close;

		g_assert_cmpuint(strlen(header), >=, strlen(spec) + close);
		g_assert_true(strncmp(header + prefix_len, spec, strlen(spec)) == 0);
		for (gsize i = 0; i < prefix_len; i++)
			g_assert_true(header[i] >= 0x20 && header[i] <= 0x7e);
	}

	/* the header form means the same address */
	again = ms_address_parse(header, &error);
	g_assert_no_error(error);
	g_assert_nonnull(again);
	g_assert_cmpstr(ms_address_get_addr_spec(again), ==, spec);
	if (name == NULL) {
		g_assert_cmpstr(header, ==, spec);
	} else if (g_str_has_prefix(header, "=?")) {
		g_autofree gchar *words =
		    g_strndup(header, strlen(header) - strlen(spec) - strlen(" <>"));
		g_autofree gchar *decoded = fuzz_decode_words(words);
		g_assert_cmpstr(decoded, ==, name);
	} else {
		g_assert_cmpstr(ms_address_get_display_name(again), ==, name);
	}

	copy = ms_address_copy(address);
	g_assert_cmpstr(ms_address_get_addr_spec(copy), ==, spec);
	g_assert_cmpstr(ms_address_get_display_name(copy), ==, name);
	return 0;
}
