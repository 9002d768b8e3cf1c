#include "config.h"

#include <glib.h>
#include <string.h>

#include "ms-dot-stuffer.h"

/* runs data through a stuffer in chunks cut at the given offsets (ascending, may repeat to
 * give empty chunks) and returns everything it produced, finish() included */
static GByteArray *
ms_test_stuff_split(const gchar *data, gsize len, const gsize *cuts, guint n_cuts)
{
	MsDotStuffer stuffer;
	GByteArray *out = g_byte_array_new();
	gsize pos = 0;

	ms_dot_stuffer_init(&stuffer);
	for (guint i = 0; i < n_cuts; i++) {
		ms_dot_stuffer_feed(&stuffer, (const guint8 *)data + pos, cuts[i] - pos, out);
		pos = cuts[i];
	}
	ms_dot_stuffer_feed(&stuffer, (const guint8 *)data + pos, len - pos, out);
	ms_dot_stuffer_finish(&stuffer, out);
	return out;
}

/* a deliberately naive model of RFC 5321 §4.5.2 to check the streaming code against:
 * normalise all line ends to LF, then build each line with a leading dot doubled */
static GByteArray *
ms_test_stuff_reference(const gchar *data, gsize len)
{
	g_autoptr(GString) norm = g_string_new(NULL);
	g_auto(GStrv) lines = NULL;
	GByteArray *out = g_byte_array_new();
	guint n_lines;

	for (gsize i = 0; i < len; i++) {
		if (data[i] == '\r' && i + 1 < len && data[i + 1] == '\n')
			continue;
		g_string_append_c(norm, data[i] == '\r' ? '\n' : data[i]);
	}
	/* a message that does not end in a line end still gets one */
	if (norm->len > 0 && norm->str[norm->len - 1] != '\n')
		g_string_append_c(norm, '\n');
	lines = g_strsplit(norm->str, "\n", -1);
	n_lines = g_strv_length(lines);
	/* the split leaves an empty string after the final LF */
	for (guint i = 0; i + 1 < n_lines; i++) {
		if (lines[i][0] == '.')
			g_byte_array_append(out, (const guint8 *)".", 1);
		g_byte_array_append(out, (const guint8 *)lines[i], strlen(lines[i]));
		g_byte_array_append(out, (const guint8 *)"\r\n", 2);
	}
	g_byte_array_append(out, (const guint8 *)".\r\n", 3);
	return out;
}

static void
ms_dot_stuffer_exact_func(void)
{
	struct {
		const gchar *in;
		const gchar *out;
	} cases[] = {
	    {"", ".\r\n"},
	    {"a", "a\r\n.\r\n"},
	    {"a\r\n", "a\r\n.\r\n"},
	    {"a\n", "a\r\n.\r\n"},
	    {"a\r", "a\r\n.\r\n"},
	    {"\r\n", "\r\n.\r\n"},
	    {"\n\n", "\r\n\r\n.\r\n"},
	    {"\r\r", "\r\n\r\n.\r\n"},
	    {"\n\r", "\r\n\r\n.\r\n"},
	    {".", "..\r\n.\r\n"},
	    {".\r\n", "..\r\n.\r\n"},
	    {"..", "...\r\n.\r\n"},
	    {".a\n", "..a\r\n.\r\n"},
	    {"a.\n", "a.\r\n.\r\n"},
	    {"a\n.\nb", "a\r\n..\r\nb\r\n.\r\n"},
	    {"a\r\n.\r\n", "a\r\n..\r\n.\r\n"},
	    {"a\r.b", "a\r\n..b\r\n.\r\n"},
	    {"a\r\r\nb", "a\r\n\r\nb\r\n.\r\n"},
	    {"a \tb\n", "a \tb\r\n.\r\n"},
	    {"Subject: x\r\n\r\n.hidden\r\nend", "Subject: x\r\n\r\n..hidden\r\nend\r\n.\r\n"},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GBytes) in = g_bytes_new_static(cases[i].in, strlen(cases[i].in));
		g_autoptr(GBytes) out = ms_dot_stuff(in);
		gsize out_len = 0;
		const gchar *out_data = g_bytes_get_data(out, &out_len);

		g_test_message("case %u", i);
		g_assert_cmpmem(out_data, out_len, cases[i].out, strlen(cases[i].out));
	}
}

static void
ms_dot_stuffer_binary_func(void)
{
	const gchar in[] = "a\0b\n\0.\n.\0";
	const gchar expected[] = "a\0b\r\n\0.\r\n..\0\r\n.\r\n";
	g_autoptr(GBytes) bytes = g_bytes_new_static(in, sizeof(in) - 1);
	g_autoptr(GBytes) out = ms_dot_stuff(bytes);
	gsize out_len = 0;
	const gchar *out_data = g_bytes_get_data(out, &out_len);

	/* NULs and 8-bit data pass through untouched; only line ends and dots change */
	g_assert_cmpmem(out_data, out_len, expected, sizeof(expected) - 1);
}

static void
ms_dot_stuffer_chunk_cr_lf_func(void)
{
	const gchar *in = "a\r\nb\r\n";
	const gsize cuts[] = {2};
	g_autoptr(GByteArray) out = ms_test_stuff_split(in, strlen(in), cuts, G_N_ELEMENTS(cuts));

	/* "a\r" | "\nb\r\n": one CRLF, not two */
	g_assert_cmpmem(out->data, out->len, "a\r\nb\r\n.\r\n", 9);
}

static void
ms_dot_stuffer_chunk_dot_func(void)
{
	const gchar *in = "a\r\n.b\r\n..\n.";
	const gsize cuts[] = {3, 7, 10};
	g_autoptr(GByteArray) out = ms_test_stuff_split(in, strlen(in), cuts, G_N_ELEMENTS(cuts));
	const gchar *expected = "a\r\n..b\r\n...\r\n..\r\n.\r\n";

	/* each chunk after the first starts with a dot at the start of a line */
	g_assert_cmpmem(out->data, out->len, expected, strlen(expected));
}

static void
ms_dot_stuffer_chunk_dot_after_cr_func(void)
{
	const gchar *in = "a\r.\n";
	const gsize cuts[] = {2, 2, 3};
	g_autoptr(GByteArray) out = ms_test_stuff_split(in, strlen(in), cuts, G_N_ELEMENTS(cuts));

	/* "a\r" | "" | "." | "\n": the bare CR ends the line, so the dot is stuffed, and the
	 * LF after the dot is a line end of its own */
	g_assert_cmpmem(out->data, out->len, "a\r\n..\r\n.\r\n", 10);
}

static void
ms_dot_stuffer_reuse_func(void)
{
	MsDotStuffer stuffer;
	g_autoptr(GByteArray) out = g_byte_array_new();

	/* finish() leaves the stuffer ready for the next message */
	ms_dot_stuffer_init(&stuffer);
	ms_dot_stuffer_feed(&stuffer, (const guint8 *)"x\r", 2, out);
	ms_dot_stuffer_finish(&stuffer, out);
	ms_dot_stuffer_feed(&stuffer, (const guint8 *)"\n.y", 3, out);
	ms_dot_stuffer_finish(&stuffer, out);
	g_assert_cmpmem(out->data, out->len, "x\r\n.\r\n\r\n..y\r\n.\r\n", 16);
}

static void
ms_dot_stuffer_check_input(const gchar *in, gsize len)
{
	g_autoptr(GByteArray) whole = ms_test_stuff_split(in, len, NULL, 0);
	g_autoptr(GByteArray) reference = ms_test_stuff_reference(in, len);
	g_autoptr(GByteArray) bytewise = NULL;
	g_autofree gsize *every = g_new(gsize, len + 1);

	g_assert_cmpmem(whole->data, whole->len, reference->data, reference->len);

	/* one cut at every position, then two cuts at every pair of positions */
	for (gsize i = 0; i <= len; i++) {
		g_autoptr(GByteArray) out = ms_test_stuff_split(in, len, &i, 1);
		g_assert_cmpmem(out->data, out->len, whole->data, whole->len);
		for (gsize j = i; j <= len; j++) {
			const gsize cuts[] = {i, j};
			g_autoptr(GByteArray) out2 =
			    ms_test_stuff_split(in, len, cuts, G_N_ELEMENTS(cuts));
			g_assert_cmpmem(out2->data, out2->len, whole->data, whole->len);
		}
	}

	/* and one byte at a time */
	for (gsize i = 0; i < len; i++)
		every[i] = i + 1;
	bytewise = ms_test_stuff_split(in, len, every, len);
	g_assert_cmpmem(bytewise->data, bytewise->len, whole->data, whole->len);
}

static void
ms_dot_stuffer_split_invariance_func(void)
{
	const gchar *samples[] = {
	    "",
	    "Subject: hi\r\n\r\nline one\n.line two\r.\r\n..\r\r\n\n\rend",
	    "\r\n.\r\n",
	    ".\r\r..\n\n...",
	    "From: a@example.org\nTo: b@example.org\n\n.\n",
	};
	const gchar alphabet[] = {'a', '.', '\r', '\n'};

	for (guint i = 0; i < G_N_ELEMENTS(samples); i++)
		ms_dot_stuffer_check_input(samples[i], strlen(samples[i]));

	/* every string of up to 6 characters over the bytes that matter */
	for (guint len = 1; len <= 6; len++) {
		guint total = 1;
		for (guint i = 0; i < len; i++)
			total *= G_N_ELEMENTS(alphabet);
		for (guint n = 0; n < total; n++) {
			gchar buf[6];
			guint v = n;
			for (guint i = 0; i < len; i++) {
				buf[i] = alphabet[v % G_N_ELEMENTS(alphabet)];
				v /= G_N_ELEMENTS(alphabet);
			}
			ms_dot_stuffer_check_input(buf, len);
		}
	}
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/mail-sender/dot-stuffer/exact", ms_dot_stuffer_exact_func);
	g_test_add_func("/mail-sender/dot-stuffer/binary", ms_dot_stuffer_binary_func);
	g_test_add_func("/mail-sender/dot-stuffer/chunk-cr-lf", ms_dot_stuffer_chunk_cr_lf_func);
	g_test_add_func("/mail-sender/dot-stuffer/chunk-dot", ms_dot_stuffer_chunk_dot_func);
	g_test_add_func("/mail-sender/dot-stuffer/chunk-dot-after-cr",
			ms_dot_stuffer_chunk_dot_after_cr_func);
	g_test_add_func("/mail-sender/dot-stuffer/reuse", ms_dot_stuffer_reuse_func);
	g_test_add_func("/mail-sender/dot-stuffer/split-invariance",
			ms_dot_stuffer_split_invariance_func);
	return g_test_run();
}
