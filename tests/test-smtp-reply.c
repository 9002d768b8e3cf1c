#include "config.h"

#include <gio/gio.h>
#include <string.h>

#include "ms-smtp-reply.h"

/* parses a whole reply given as text, failing the test on error */
static MsSmtpReply *
ms_test_parse(const gchar *text)
{
	g_autoptr(GError) error = NULL;
	MsSmtpReply *reply = ms_smtp_reply_parse(text, strlen(text), &error);
	g_assert_no_error(error);
	g_assert_nonnull(reply);
	return reply;
}

/* feeds one line to a fresh parser and expects an invalid-data error */
static void
ms_test_feed_invalid(const gchar *line, gsize len)
{
	g_autoptr(MsSmtpReplyParser) parser = ms_smtp_reply_parser_new();
	g_autoptr(MsSmtpReply) reply = NULL;
	g_autoptr(GError) error = NULL;
	gboolean ret;

	ret = ms_smtp_reply_parser_feed(parser, line, len, &reply, &error);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
	g_assert_false(ret);
	g_assert_null(reply);
}

static void
ms_smtp_reply_single_line_func(void)
{
	g_autoptr(MsSmtpReply) reply = ms_test_parse("250 2.0.0 Ok: queued as 4Fx\r\n");
	g_autofree gchar *str = ms_smtp_reply_to_string(reply);
	const gchar *const *lines = ms_smtp_reply_get_lines(reply);

	g_assert_cmpuint(ms_smtp_reply_get_code(reply), ==, 250);
	g_assert_cmpstr(ms_smtp_reply_get_enhanced(reply), ==, "2.0.0");
	g_assert_cmpuint(g_strv_length((gchar **)lines), ==, 1);
	g_assert_cmpstr(lines[0], ==, "2.0.0 Ok: queued as 4Fx");
	g_assert_cmpstr(str, ==, "250 2.0.0 Ok: queued as 4Fx");
}

static void
ms_smtp_reply_multi_line_func(void)
{
	g_autoptr(MsSmtpReplyParser) parser = ms_smtp_reply_parser_new();
	g_autoptr(MsSmtpReply) reply = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *str = NULL;
	const gchar *const *lines = NULL;
	const gchar *input[] = {"250-smtp.example.org", "250-PIPELINING", "250 8BITMIME"};
	gboolean ret;

	for (guint i = 0; i < G_N_ELEMENTS(input); i++) {
		ret = ms_smtp_reply_parser_feed(parser, input[i], strlen(input[i]), &reply, &error);
		g_assert_no_error(error);
		g_assert_true(ret);
		/* nothing comes out before the last line */
		if (i + 1 < G_N_ELEMENTS(input))
			g_assert_null(reply);
	}
	g_assert_nonnull(reply);
	g_assert_cmpuint(ms_smtp_reply_get_code(reply), ==, 250);
	g_assert_null(ms_smtp_reply_get_enhanced(reply));
	lines = ms_smtp_reply_get_lines(reply);
	g_assert_cmpuint(g_strv_length((gchar **)lines), ==, 3);
	g_assert_cmpstr(lines[0], ==, "smtp.example.org");
	g_assert_cmpstr(lines[1], ==, "PIPELINING");
	g_assert_cmpstr(lines[2], ==, "8BITMIME");
	str = ms_smtp_reply_to_string(reply);
	g_assert_cmpstr(str, ==, "250 smtp.example.org PIPELINING 8BITMIME");
}

static void
ms_smtp_reply_bare_code_func(void)
{
	g_autoptr(MsSmtpReply) reply = ms_test_parse("354\r\n");
	g_autoptr(MsSmtpReply) reply2 = ms_test_parse("250-mx.example.net\r\n250-\r\n250\r\n");
	g_autofree gchar *str = ms_smtp_reply_to_string(reply);
	g_autofree gchar *str2 = ms_smtp_reply_to_string(reply2);
	const gchar *const *lines = ms_smtp_reply_get_lines(reply);
	const gchar *const *lines2 = ms_smtp_reply_get_lines(reply2);

	g_assert_cmpuint(ms_smtp_reply_get_code(reply), ==, 354);
	g_assert_cmpuint(g_strv_length((gchar **)lines), ==, 1);
	g_assert_cmpstr(lines[0], ==, "");
	g_assert_null(ms_smtp_reply_get_enhanced(reply));
	g_assert_cmpstr(str, ==, "354");

	/* empty lines are kept in the lines but do not add double spaces to the string */
	g_assert_cmpuint(g_strv_length((gchar **)lines2), ==, 3);
	g_assert_cmpstr(lines2[1], ==, "");
	g_assert_cmpstr(lines2[2], ==, "");
	g_assert_cmpstr(str2, ==, "250 mx.example.net");
}

static void
ms_smtp_reply_enhanced_func(void)
{
	struct {
		const gchar *text;
		const gchar *enhanced;
	} cases[] = {
	    {"250 2.1.5 Ok", "2.1.5"},
	    {"550 5.7.1 Relaying denied", "5.7.1"},
	    {"452 4.3.1 Insufficient system storage", "4.3.1"},
	    {"250 2.100.999 three-digit parts", "2.100.999"},
	    {"250 2.0.0", "2.0.0"},		     /* nothing after the code */
	    {"550 2.0.0 wrong class", NULL},	     /* class does not match the reply */
	    {"250 5.0.0 wrong class", NULL},	     /* same, the other way round */
	    {"250 2.0.0Ok", NULL},		     /* no space after */
	    {"250 2.0 Ok", NULL},		     /* two parts only */
	    {"250 2..0 Ok", NULL},		     /* empty subject */
	    {"250 2.1000.0 Ok", NULL},		     /* four-digit subject */
	    {"250 2.0.1000 Ok", NULL},		     /* four-digit detail */
	    {"250 2.0.x Ok", NULL},		     /* not a digit */
	    {"250  2.0.0 Ok", NULL},		     /* not at the start of the text */
	    {"250 Ok 2.0.0", NULL},		     /* not at the start of the text */
	    {"354 3.0.0 go ahead", "3.0.0"},	     /* rare, but the class still agrees */
	    {"250 mail.example.org 2.0.0 hi", NULL}, /* a hostname first */
	    {"250 2.0.0.1 Ok", NULL},		     /* an extra part */
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(MsSmtpReply) reply = ms_test_parse(cases[i].text);
		g_test_message("%s", cases[i].text);
		g_assert_cmpstr(ms_smtp_reply_get_enhanced(reply), ==, cases[i].enhanced);
		/* the text is kept as the server sent it */
		g_assert_cmpstr(ms_smtp_reply_get_lines(reply)[0], ==, cases[i].text + 4);
	}
}

static void
ms_smtp_reply_enhanced_multi_line_func(void)
{
	g_autoptr(MsSmtpReply) reply =
	    ms_test_parse("550-5.1.1 The email account that you tried to reach does not exist.\r\n"
			  "550-5.1.1 Please try double-checking the recipient's address.\r\n"
			  "550 5.1.1 https://support.example.com/mail/?p=NoSuchUser x1\r\n");
	g_autofree gchar *str = ms_smtp_reply_to_string(reply);

	g_assert_cmpuint(ms_smtp_reply_get_code(reply), ==, 550);
	g_assert_cmpstr(ms_smtp_reply_get_enhanced(reply), ==, "5.1.1");
	g_assert_cmpstr(str,
			==,
			"550 5.1.1 The email account that you tried to reach does not exist. "
			"5.1.1 Please try double-checking the recipient's address. "
			"5.1.1 https://support.example.com/mail/?p=NoSuchUser x1");
}

static void
ms_smtp_reply_control_chars_func(void)
{
	/* tab, ESC (terminal escape), DEL, a C1 control and a byte that is not UTF-8 */
	const gchar text[] = "250 Ok\tqueued \033[31mred\177 \302\233x \377y caf\303\251\r\n";
	g_autoptr(GError) error = NULL;
	g_autoptr(MsSmtpReply) reply = ms_smtp_reply_parse(text, strlen(text), &error);
	g_autofree gchar *str = NULL;

	g_assert_no_error(error);
	g_assert_nonnull(reply);
	/* the raw text is kept for callers that need it */
	g_assert_cmpstr(ms_smtp_reply_get_lines(reply)[0],
			==,
			"Ok\tqueued \033[31mred\177 \302\233x \377y caf\303\251");
	str = ms_smtp_reply_to_string(reply);
	g_assert_cmpstr(str, ==, "250 Ok?queued ?[31mred? ?x ?y caf\303\251");
	g_assert_true(g_utf8_validate(str, -1, NULL));
}

static void
ms_smtp_reply_nul_func(void)
{
	const gchar line[] = "250 Ok\0 hidden";
	const gchar text[] = "250-first\r\n250 Ok\0 hidden\r\n";
	g_autoptr(GError) error = NULL;
	g_autoptr(MsSmtpReply) reply = NULL;

	ms_test_feed_invalid(line, sizeof(line) - 1);
	reply = ms_smtp_reply_parse(text, sizeof(text) - 1, &error);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
	g_assert_null(reply);
	g_assert_cmpstr(error->message, ==, "invalid SMTP reply: line contains a NUL byte");
}

static void
ms_smtp_reply_code_change_func(void)
{
	g_autoptr(MsSmtpReplyParser) parser = ms_smtp_reply_parser_new();
	g_autoptr(MsSmtpReply) reply = NULL;
	g_autoptr(GError) error = NULL;
	gboolean ret;

	ret = ms_smtp_reply_parser_feed(parser, "250-one", 7, &reply, &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	g_assert_null(reply);
	ret = ms_smtp_reply_parser_feed(parser, "251 two", 7, &reply, &error);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
	g_assert_false(ret);
	g_assert_null(reply);
	g_assert_cmpstr(error->message,
			==,
			"invalid SMTP reply: code changed from 250 to 251 within one reply");
	g_clear_error(&error);

	/* the half reply was dropped: the next line starts a new reply of its own */
	ret = ms_smtp_reply_parser_feed(parser, "421 bye", 7, &reply, &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	g_assert_nonnull(reply);
	g_assert_cmpuint(ms_smtp_reply_get_code(reply), ==, 421);
	g_assert_cmpuint(g_strv_length((gchar **)ms_smtp_reply_get_lines(reply)), ==, 1);
}

static void
ms_smtp_reply_line_too_long_func(void)
{
	g_autoptr(GString) line = g_string_new("250 ");
	g_autoptr(MsSmtpReplyParser) parser = ms_smtp_reply_parser_new();
	g_autoptr(MsSmtpReply) reply = NULL;
	g_autoptr(GError) error = NULL;
	gboolean ret;

	/* exactly 4096 bytes is still accepted */
	while (line->len < 4096)
		g_string_append_c(line, 'x');
	ret = ms_smtp_reply_parser_feed(parser, line->str, line->len, &reply, &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	g_assert_nonnull(reply);
	g_assert_cmpuint(strlen(ms_smtp_reply_get_lines(reply)[0]), ==, 4092);

	g_string_append_c(line, 'x');
	ms_test_feed_invalid(line->str, line->len);
}

static void
ms_smtp_reply_too_many_lines_func(void)
{
	g_autoptr(MsSmtpReplyParser) parser = ms_smtp_reply_parser_new();
	g_autoptr(MsSmtpReply) reply = NULL;
	g_autoptr(GError) error = NULL;
	gboolean ret;

	/* 100 lines make a reply */
	for (guint i = 0; i < 99; i++) {
		ret = ms_smtp_reply_parser_feed(parser, "250-x", 5, &reply, &error);
		g_assert_no_error(error);
		g_assert_true(ret);
		g_assert_null(reply);
	}
	ret = ms_smtp_reply_parser_feed(parser, "250 x", 5, &reply, &error);
	g_assert_no_error(error);
	g_assert_true(ret);
	g_assert_nonnull(reply);
	g_assert_cmpuint(g_strv_length((gchar **)ms_smtp_reply_get_lines(reply)), ==, 100);
	g_clear_pointer(&reply, ms_smtp_reply_free);

	/* the 101st is one too many, whatever it says */
	for (guint i = 0; i < 100; i++) {
		ret = ms_smtp_reply_parser_feed(parser, "250-x", 5, &reply, &error);
		g_assert_no_error(error);
		g_assert_true(ret);
	}
	ret = ms_smtp_reply_parser_feed(parser, "250 x", 5, &reply, &error);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
	g_assert_false(ret);
	g_assert_null(reply);
	g_assert_cmpstr(error->message, ==, "invalid SMTP reply: more than 100 lines");
}

static void
ms_smtp_reply_bad_code_func(void)
{
	const gchar *cases[] = {
	    "199 too low",
	    "600 too high",
	    "099 way too low",
	    "000",
	    "999 nope",
	    "ab0 letters",
	    "25 short",
	    "25",
	    "",
	    " 250 leading space",
	    "2 50 split",
	    "+50 sign",
	    "2500 four digits",
	    "250_bad separator",
	    "250\tbad separator",
	    "250=x",
	    "HTTP/1.1 400 Bad Request",
	    "-ERR this is POP3",
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_test_message("'%s'", cases[i]);
		ms_test_feed_invalid(cases[i], strlen(cases[i]));
	}
}

static void
ms_smtp_reply_error_messages_func(void)
{
	g_autoptr(MsSmtpReplyParser) parser = ms_smtp_reply_parser_new();
	g_autoptr(MsSmtpReply) reply = NULL;
	g_autoptr(GError) error = NULL;
	const gchar *http = "HTTP/1.1 400 Bad Request\033 with a very long tail after it";
	gboolean ret;

	/* the offending line is quoted, sanitised and shortened, so an admin sees what the
	 * other end is */
	ret = ms_smtp_reply_parser_feed(parser, http, strlen(http), &reply, &error);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
	g_assert_false(ret);
	g_assert_cmpstr(
	    error->message,
	    ==,
	    "invalid SMTP reply: no 3-digit code in 'HTTP/1.1 400 Bad Request? with a...'");
	g_clear_error(&error);

	ret = ms_smtp_reply_parser_feed(parser, "601 x", 5, &reply, &error);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
	g_assert_false(ret);
	g_assert_cmpstr(error->message, ==, "invalid SMTP reply: code 601 is out of range");
	g_clear_error(&error);

	ret = ms_smtp_reply_parser_feed(parser, "250:x", 5, &reply, &error);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
	g_assert_false(ret);
	g_assert_cmpstr(error->message,
			==,
			"invalid SMTP reply: expected ' ' or '-' after the code in '250:x'");
}

static void
ms_smtp_reply_parser_sequence_func(void)
{
	g_autoptr(MsSmtpReplyParser) parser = ms_smtp_reply_parser_new();
	g_autoptr(GError) error = NULL;
	const gchar *input[] = {"220 mx.example.org ESMTP",
				"250-mx.example.org",
				"250 SIZE 1000",
				"250 2.1.0 Ok"};
	const gchar *expected[] = {"220 mx.example.org ESMTP",
				   NULL,
				   "250 mx.example.org SIZE 1000",
				   "250 2.1.0 Ok"};

	/* pipelined replies come one after the other through the same parser */
	for (guint i = 0; i < G_N_ELEMENTS(input); i++) {
		g_autoptr(MsSmtpReply) reply = NULL;
		g_autofree gchar *str = NULL;
		gboolean ret =
		    ms_smtp_reply_parser_feed(parser, input[i], strlen(input[i]), &reply, &error);
		g_assert_no_error(error);
		g_assert_true(ret);
		if (reply != NULL)
			str = ms_smtp_reply_to_string(reply);
		g_assert_cmpstr(str, ==, expected[i]);
	}
}

static void
ms_smtp_reply_parse_buffer_func(void)
{
	struct {
		const gchar *text;
		gboolean ok;
		const gchar *str;
	} cases[] = {
	    {"250 Ok\r\n", TRUE, "250 Ok"},
	    {"250 Ok\n", TRUE, "250 Ok"},
	    {"250 Ok", TRUE, "250 Ok"}, /* the last line end may be missing */
	    {"250-a\n250 b\r\n", TRUE, "250 a b"},
	    {"250 Ok\r", TRUE, "250 Ok"},
	    {"", FALSE, NULL},
	    {"\r\n", FALSE, NULL},
	    {"250-a\r\n", FALSE, NULL},		     /* incomplete */
	    {"250 a\r\n250 b\r\n", FALSE, NULL},     /* two replies */
	    {"250 a\r\n\r\n", FALSE, NULL},	     /* an empty line after it */
	    {"250-a\r\n\r\n250 b\r\n", FALSE, NULL}, /* an empty line inside */
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(MsSmtpReply) reply = NULL;

		g_test_message("case %u", i);
		reply = ms_smtp_reply_parse(cases[i].text, strlen(cases[i].text), &error);
		if (cases[i].ok) {
			g_autofree gchar *str = NULL;
			g_assert_no_error(error);
			g_assert_nonnull(reply);
			str = ms_smtp_reply_to_string(reply);
			g_assert_cmpstr(str, ==, cases[i].str);
		} else {
			g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
			g_assert_null(reply);
		}
	}
}

static void
ms_smtp_reply_classify_func(void)
{
	struct {
		const gchar *text;
		gboolean positive;
		gboolean intermediate;
		gboolean transient;
		gboolean permanent;
	} cases[] = {
	    {"200 x", TRUE, FALSE, FALSE, FALSE},
	    {"299 x", TRUE, FALSE, FALSE, FALSE},
	    {"334 VXNlcm5hbWU6", FALSE, TRUE, FALSE, FALSE},
	    {"354 go", FALSE, TRUE, FALSE, FALSE},
	    {"421 4.7.0 closing", FALSE, FALSE, TRUE, FALSE},
	    {"450 x", FALSE, FALSE, TRUE, FALSE},
	    {"535 5.7.8 bad credentials", FALSE, FALSE, FALSE, TRUE},
	    {"599 x", FALSE, FALSE, FALSE, TRUE},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(MsSmtpReply) reply = ms_test_parse(cases[i].text);
		g_test_message("%s", cases[i].text);
		g_assert_cmpint(ms_smtp_reply_is_positive(reply), ==, cases[i].positive);
		g_assert_cmpint(ms_smtp_reply_is_intermediate(reply), ==, cases[i].intermediate);
		g_assert_cmpint(ms_smtp_reply_is_transient(reply), ==, cases[i].transient);
		g_assert_cmpint(ms_smtp_reply_is_permanent(reply), ==, cases[i].permanent);
	}
}

static void
ms_smtp_reply_extensions_func(void)
{
	g_autoptr(MsSmtpReply) reply = ms_test_parse("250-smtp.example.org Hello [192.0.2.1]\r\n"
						     "250-SIZE 52428800\r\n"
						     "250-8bitmime\r\n"
						     "250-Pipelining\r\n"
						     "250-ENHANCEDSTATUSCODES\r\n"
						     "250-AUTH PLAIN LOGIN\r\n"
						     "250-X-CUSTOM  a  b  \r\n"
						     "250-STARTTLS\r\n"
						     "250-SIZE 1\r\n"
						     "250-\r\n"
						     "250- LEADING\r\n"
						     "250-BAD_KEYWORD x\r\n"
						     "250 SMTPUTF8\r\n");
	g_autoptr(GHashTable) ext = ms_smtp_reply_get_extensions(reply);
	g_autofree gchar *str = ms_smtp_reply_to_string(reply);

	g_assert_cmpuint(g_hash_table_size(ext), ==, 8);
	g_assert_cmpstr(g_hash_table_lookup(ext, "SIZE"), ==, "52428800");
	g_assert_cmpstr(g_hash_table_lookup(ext, "8BITMIME"), ==, "");
	g_assert_cmpstr(g_hash_table_lookup(ext, "PIPELINING"), ==, "");
	g_assert_cmpstr(g_hash_table_lookup(ext, "ENHANCEDSTATUSCODES"), ==, "");
	g_assert_cmpstr(g_hash_table_lookup(ext, "AUTH"), ==, "PLAIN LOGIN");
	g_assert_cmpstr(g_hash_table_lookup(ext, "X-CUSTOM"), ==, "a  b");
	g_assert_cmpstr(g_hash_table_lookup(ext, "STARTTLS"), ==, "");
	g_assert_cmpstr(g_hash_table_lookup(ext, "SMTPUTF8"), ==, "");
	/* the greeting line is not an extension */
	g_assert_false(g_hash_table_contains(ext, "SMTP.EXAMPLE.ORG"));
	g_assert_cmpstr(str,
			==,
			"250 smtp.example.org Hello [192.0.2.1] SIZE 52428800 8bitmime Pipelining "
			"ENHANCEDSTATUSCODES AUTH PLAIN LOGIN X-CUSTOM  a  b   STARTTLS SIZE 1 "
			" LEADING BAD_KEYWORD x SMTPUTF8");
}

static void
ms_smtp_reply_extensions_old_auth_func(void)
{
	g_autoptr(MsSmtpReply) old_only = ms_test_parse("250-mx\r\n250 AUTH=LOGIN PLAIN\r\n");
	g_autoptr(MsSmtpReply) both = ms_test_parse("250-mx\r\n"
						    "250-AUTH=LOGIN\r\n"
						    "250-auth plain login CRAM-MD5\r\n"
						    "250 AUTH=XOAUTH2 plain\r\n");
	g_autoptr(GHashTable) ext_old = ms_smtp_reply_get_extensions(old_only);
	g_autoptr(GHashTable) ext_both = ms_smtp_reply_get_extensions(both);

	g_assert_cmpuint(g_hash_table_size(ext_old), ==, 1);
	g_assert_cmpstr(g_hash_table_lookup(ext_old, "AUTH"), ==, "LOGIN PLAIN");
	g_assert_false(g_hash_table_contains(ext_old, "AUTH=LOGIN"));

	/* one merged list, in order of appearance, without duplicates */
	g_assert_cmpuint(g_hash_table_size(ext_both), ==, 1);
	g_assert_cmpstr(g_hash_table_lookup(ext_both, "AUTH"), ==, "LOGIN PLAIN CRAM-MD5 XOAUTH2");
}

static void
ms_smtp_reply_extensions_single_line_func(void)
{
	g_autoptr(MsSmtpReply) reply = ms_test_parse("250 mx.example.org\r\n");
	g_autoptr(GHashTable) ext = ms_smtp_reply_get_extensions(reply);

	g_assert_nonnull(ext);
	g_assert_cmpuint(g_hash_table_size(ext), ==, 0);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/mail-sender/smtp-reply/single-line", ms_smtp_reply_single_line_func);
	g_test_add_func("/mail-sender/smtp-reply/multi-line", ms_smtp_reply_multi_line_func);
	g_test_add_func("/mail-sender/smtp-reply/bare-code", ms_smtp_reply_bare_code_func);
	g_test_add_func("/mail-sender/smtp-reply/enhanced", ms_smtp_reply_enhanced_func);
	g_test_add_func("/mail-sender/smtp-reply/enhanced-multi-line",
			ms_smtp_reply_enhanced_multi_line_func);
	g_test_add_func("/mail-sender/smtp-reply/control-chars", ms_smtp_reply_control_chars_func);
	g_test_add_func("/mail-sender/smtp-reply/nul", ms_smtp_reply_nul_func);
	g_test_add_func("/mail-sender/smtp-reply/code-change", ms_smtp_reply_code_change_func);
	g_test_add_func("/mail-sender/smtp-reply/line-too-long", ms_smtp_reply_line_too_long_func);
	g_test_add_func("/mail-sender/smtp-reply/too-many-lines",
			ms_smtp_reply_too_many_lines_func);
	g_test_add_func("/mail-sender/smtp-reply/bad-code", ms_smtp_reply_bad_code_func);
	g_test_add_func("/mail-sender/smtp-reply/error-messages",
			ms_smtp_reply_error_messages_func);
	g_test_add_func("/mail-sender/smtp-reply/parser-sequence",
			ms_smtp_reply_parser_sequence_func);
	g_test_add_func("/mail-sender/smtp-reply/parse-buffer", ms_smtp_reply_parse_buffer_func);
	g_test_add_func("/mail-sender/smtp-reply/classify", ms_smtp_reply_classify_func);
	g_test_add_func("/mail-sender/smtp-reply/extensions", ms_smtp_reply_extensions_func);
	g_test_add_func("/mail-sender/smtp-reply/extensions-old-auth",
			ms_smtp_reply_extensions_old_auth_func);
	g_test_add_func("/mail-sender/smtp-reply/extensions-single-line",
			ms_smtp_reply_extensions_single_line_func);
	return g_test_run();
}
