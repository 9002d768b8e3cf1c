/*
 * libFuzzer target for the SMTP reply parser (ms-smtp-reply.c).
 *
 * Build and run from the top of the source tree (BUILDDIR holds config.h); the corpus is
 * copied first so that libFuzzer does not add its findings to the source tree:
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iservice -I$BUILDDIR \
 *     $(pkg-config --cflags gio-2.0) tests/fuzz/fuzz-smtp-reply.c service/ms-smtp-reply.c \
 *     $(pkg-config --libs gio-2.0) -o /tmp/fuzz-smtp-reply
 *   cp -r tests/fuzz/corpus/smtp-reply /tmp/corpus-smtp-reply
 *   /tmp/fuzz-smtp-reply -max_total_time=30 /tmp/corpus-smtp-reply
 *
 * The input is split at LF (a trailing CR is dropped, as the client does) and fed line by
 * line; every reply that comes out goes through to_string() and get_extensions(). The whole
 * input is also given to ms_smtp_reply_parse().
 */

#include "config.h"

#include <gio/gio.h>
#include <stdint.h>
#include <string.h>

#include "ms-smtp-reply.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
ms_fuzz_check_reply(const MsSmtpReply *reply)
{
	g_autofree gchar *str = ms_smtp_reply_to_string(reply);
	g_autoptr(GHashTable) extensions = ms_smtp_reply_get_extensions(reply);
	const gchar *const *lines = ms_smtp_reply_get_lines(reply);
	const gchar *enhanced = ms_smtp_reply_get_enhanced(reply);
	guint code = ms_smtp_reply_get_code(reply);
	guint kinds = 0;

	/* invariants a caller relies on: a crash here is a finding like any other */
	if (code < 200 || code > 599)
		__builtin_trap();
	if (lines == NULL || lines[0] == NULL)
		__builtin_trap();
	if (!g_utf8_validate(str, -1, NULL))
		__builtin_trap();
	for (const gchar *p = str; *p != '\0'; p++) {
		if ((guchar)*p < 0x20 || *p == 0x7f)
			__builtin_trap();
	}
	if (enhanced != NULL && !g_str_has_prefix(lines[0], enhanced))
		__builtin_trap();
	kinds += ms_smtp_reply_is_positive(reply) ? 1 : 0;
	kinds += ms_smtp_reply_is_intermediate(reply) ? 1 : 0;
	kinds += ms_smtp_reply_is_transient(reply) ? 1 : 0;
	kinds += ms_smtp_reply_is_permanent(reply) ? 1 : 0;
	if (kinds != 1)
		__builtin_trap();
	if (extensions == NULL)
		__builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autoptr(MsSmtpReplyParser) parser = ms_smtp_reply_parser_new();
	g_autoptr(MsSmtpReply) whole = NULL;
	g_autoptr(GError) error_whole = NULL;
	const gchar *text = (const gchar *)data;
	gsize pos = 0;

	while (pos < size) {
		const gchar *line = text + pos;
		const gchar *lf = memchr(line, '\n', size - pos);
		gsize len = lf != NULL ? (gsize)(lf - line) : size - pos;
		g_autoptr(MsSmtpReply) reply = NULL;
		g_autoptr(GError) error = NULL;

		pos += len + (lf != NULL ? 1 : 0);
		if (len > 0 && line[len - 1] == '\r')
			len--;
		/* the parser resets after an error, so carry on with the next line */
		if (!ms_smtp_reply_parser_feed(parser, line, len, &reply, &error)) {
			if (error == NULL || reply != NULL)
				__builtin_trap();
			continue;
		}
		if (reply != NULL)
			ms_fuzz_check_reply(reply);
	}

	whole = ms_smtp_reply_parse(text, size, &error_whole);
	if (whole != NULL)
		ms_fuzz_check_reply(whole);
	else if (error_whole == NULL)
		__builtin_trap();
	return 0;
}
