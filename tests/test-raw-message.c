#include "config.h"

#include <gio/gio.h>
#include <string.h>

#include "ms-raw-message.h"

#define TEST_DEFAULT_FROM "Default Sender <default@example.org>"
/* the fields a message needs so that nothing is added */
#define TEST_FIELDS_LF                                                                             \
	"From: Ann <ann@example.org>\n"                                                            \
	"Date: Sun, 1 Feb 2026 10:00:00 +0100\n"                                                   \
	"Message-ID: <m1@example.org>\n"
#define TEST_FIELDS_CRLF                                                                           \
	"From: Ann <ann@example.org>\r\n"                                                          \
	"Date: Sun, 1 Feb 2026 10:00:00 +0100\r\n"                                                 \
	"Message-ID: <m1@example.org>\r\n"
/* what ms_raw_message_to_bytes() adds with test_spool()'s fixed values */
#define TEST_ADDED_DATE	 "Date: Mon, 5 Jan 2026 09:03:07 +0000\r\n"
#define TEST_ADDED_MSGID "Message-ID: <fixed@example.org>\r\n"

static MsRawMessage *
test_parse(const gchar *input, gssize len, MsRawMessageFlags flags, GError **error)
{
	g_autoptr(GBytes) bytes = g_bytes_new(input, len < 0 ? strlen(input) : (gsize)len);
	return ms_raw_message_parse(bytes, flags, error);
}

static gchar *
test_to_string(MsRawMessage *msg, const gchar *default_from)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) bytes = ms_raw_message_to_bytes(msg, default_from, &error);
	const gchar *data;
	gsize len = 0;

	g_assert_no_error(error);
	g_assert_nonnull(bytes);
	data = g_bytes_get_data(bytes, &len);
	g_assert_null(memchr(data, '\0', len));
	return g_strndup(data, len);
}

/* parses input (len -1: up to its NUL) and spools it with a fixed Date and Message-ID */
static gchar *
test_spool_len(const gchar *input, gssize len, MsRawMessageFlags flags)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsRawMessage) msg = test_parse(input, len, flags, &error);
	g_autoptr(GDateTime) date = g_date_time_new_utc(2026, 1, 5, 9, 3, 7);

	g_assert_no_error(error);
	g_assert_nonnull(msg);
	ms_raw_message_set_date(msg, date);
	ms_raw_message_set_message_id(msg, "fixed@example.org");
	return test_to_string(msg, TEST_DEFAULT_FROM);
}

static gchar *
test_spool(const gchar *input, MsRawMessageFlags flags)
{
	return test_spool_len(input, -1, flags);
}

static void
test_refused_len(const gchar *input, gssize len, MsRawMessageFlags flags, const gchar *message)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsRawMessage) msg = test_parse(input, len, flags, &error);

	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	g_assert_null(msg);
	g_assert_cmpstr(error->message, ==, message);
}

static void
test_refused(const gchar *input, MsRawMessageFlags flags, const gchar *message)
{
	test_refused_len(input, -1, flags, message);
}

/* the header recipients joined with spaces */
static gchar *
test_recipients(const gchar *input, MsRawMessageFlags flags)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsRawMessage) msg = test_parse(input, -1, flags, &error);
	g_autoptr(GPtrArray) recipients = NULL;

	g_assert_no_error(error);
	g_assert_nonnull(msg);
	recipients = ms_raw_message_get_header_recipients(msg);
	g_ptr_array_add(recipients, NULL);
	return g_strjoinv(" ", (gchar **)recipients->pdata);
}

static void
test_raw_message_lf(void)
{
	g_autofree gchar *text = test_spool(TEST_FIELDS_LF "To: bob@example.org\n"
							   "Subject: lf\n"
							   "\n"
							   "line 1\n"
							   "\n"
							   "line 3\n",
					    MS_RAW_MESSAGE_FLAG_NONE);

	g_assert_cmpstr(text,
			==,
			TEST_FIELDS_CRLF "To: bob@example.org\r\n"
					 "Subject: lf\r\n"
					 "\r\n"
					 "line 1\r\n"
					 "\r\n"
					 "line 3\r\n");
}

static void
test_raw_message_cr(void)
{
	g_autofree gchar *text = test_spool("From: ann@example.org\r"
					    "Date: Sun, 1 Feb 2026 10:00:00 +0100\r"
					    "Message-ID: <m1@example.org>\r"
					    "Subject: cr\r"
					    "\r"
					    "line 1\r"
					    "line 2\r",
					    MS_RAW_MESSAGE_FLAG_NONE);

	g_assert_cmpstr(text,
			==,
			"From: ann@example.org\r\n"
			"Date: Sun, 1 Feb 2026 10:00:00 +0100\r\n"
			"Message-ID: <m1@example.org>\r\n"
			"Subject: cr\r\n"
			"\r\n"
			"line 1\r\n"
			"line 2\r\n");
}

static void
test_raw_message_mixed(void)
{
	/* "\r\r\n" is a bare CR and then a CRLF, so an empty line; "\n\r" likewise */
	g_autofree gchar *text = test_spool("From: ann@example.org\r\n"
					    "Date: Sun, 1 Feb 2026 10:00:00 +0100\n"
					    "Message-ID: <m1@example.org>\r"
					    "Subject: mixed\r\n"
					    "\n"
					    "a\r\n"
					    "b\n"
					    "c\r"
					    "d\r\r\n"
					    "e\n\r"
					    "f",
					    MS_RAW_MESSAGE_FLAG_NONE);

	g_assert_cmpstr(text,
			==,
			"From: ann@example.org\r\n"
			"Date: Sun, 1 Feb 2026 10:00:00 +0100\r\n"
			"Message-ID: <m1@example.org>\r\n"
			"Subject: mixed\r\n"
			"\r\n"
			"a\r\n"
			"b\r\n"
			"c\r\n"
			"d\r\n"
			"\r\n"
			"e\r\n"
			"\r\n"
			"f\r\n");
}

static void
test_raw_message_crlf_unchanged(void)
{
	const gchar *input = TEST_FIELDS_CRLF "To: \"Bob B.\" <bob@example.org>\r\n"
					      "Subject: a folded\r\n"
					      "\tsubject\r\n"
					      "\r\n"
					      "body\r\n";
	g_autofree gchar *text = test_spool(input, MS_RAW_MESSAGE_FLAG_NONE);

	g_assert_cmpstr(text, ==, input);
}

static void
test_raw_message_last_line(void)
{
	g_autofree gchar *text =
	    test_spool(TEST_FIELDS_LF "\nfirst\nlast without line end", MS_RAW_MESSAGE_FLAG_NONE);
	g_autofree gchar *empty_body = test_spool(TEST_FIELDS_LF "\n", MS_RAW_MESSAGE_FLAG_NONE);

	g_assert_cmpstr(text, ==, TEST_FIELDS_CRLF "\r\nfirst\r\nlast without line end\r\n");
	g_assert_cmpstr(empty_body, ==, TEST_FIELDS_CRLF "\r\n");
}

static void
test_raw_message_headers_only(void)
{
	/* the end of the input right after a line end ends the header block */
	g_autofree gchar *text = test_spool("Subject: no body\nTo: bob@example.org\n",
					    MS_RAW_MESSAGE_FLAG_EXTRACT_RECIPIENTS);

	g_assert_cmpstr(
	    text,
	    ==,
	    "Subject: no body\r\n"
	    "To: bob@example.org\r\n"
	    "From: Default Sender <default@example.org>\r\n" TEST_ADDED_DATE TEST_ADDED_MSGID
	    "\r\n");
}

static void
test_raw_message_bcc(void)
{
	g_autofree gchar *text = test_spool(TEST_FIELDS_LF "To: bob@example.org\n"
							   "Bcc: hidden@example.org\n"
							   "Subject: bcc\n"
							   "\n"
							   "Bcc: in the body stays\n",
					    MS_RAW_MESSAGE_FLAG_EXTRACT_RECIPIENTS);

	g_assert_cmpstr(text,
			==,
			TEST_FIELDS_CRLF "To: bob@example.org\r\n"
					 "Subject: bcc\r\n"
					 "\r\n"
					 "Bcc: in the body stays\r\n");
}

static void
test_raw_message_bcc_folded(void)
{
	g_autofree gchar *text = test_spool(TEST_FIELDS_LF "BCC: one@example.org,\n"
							   "\ttwo@example.org,\n"
							   "  three@example.org\n"
							   "To: bob@example.org\n"
							   "bcc:four@example.org\n"
							   "Subject: still here\n"
							   " folded\n"
							   "bCc:\n"
							   "\n"
							   "body\n",
					    MS_RAW_MESSAGE_FLAG_EXTRACT_RECIPIENTS);
	g_autofree gchar *recipients = test_recipients(TEST_FIELDS_LF "BCC: one@example.org,\n"
								      "\ttwo@example.org,\n"
								      "  three@example.org\n"
								      "To: bob@example.org\n"
								      "bcc:four@example.org\n"
								      "\n",
						       MS_RAW_MESSAGE_FLAG_EXTRACT_RECIPIENTS);

	g_assert_cmpstr(text,
			==,
			TEST_FIELDS_CRLF "To: bob@example.org\r\n"
					 "Subject: still here\r\n"
					 " folded\r\n"
					 "\r\n"
					 "body\r\n");
	g_assert_cmpstr(recipients,
			==,
			"bob@example.org one@example.org two@example.org three@example.org "
			"four@example.org");
}

static void
test_raw_message_bcc_without_extract(void)
{
	/* the Bcc field never goes out, whoever chose the envelope */
	g_autofree gchar *text =
	    test_spool(TEST_FIELDS_LF "Bcc: hidden@example.org\nTo: bob@example.org\n\nbody\n",
		       MS_RAW_MESSAGE_FLAG_NONE);

	g_assert_cmpstr(text, ==, TEST_FIELDS_CRLF "To: bob@example.org\r\n\r\nbody\r\n");
}

static void
test_raw_message_recipients(void)
{
	/* To, then Cc, then Bcc, duplicates dropped whatever their case */
	g_autofree gchar *order = test_recipients("Bcc: b1@example.org\n"
						  "Cc: c1@example.org, T1@Example.org\n"
						  "to: t1@example.org, t2@example.org\n"
						  "To: T2@EXAMPLE.ORG, t3@example.org\n"
						  "cc: c2@example.org\n"
						  "\n",
						  MS_RAW_MESSAGE_FLAG_EXTRACT_RECIPIENTS);

	g_assert_cmpstr(order,
			==,
			"t1@example.org t2@example.org t3@example.org c1@example.org "
			"c2@example.org b1@example.org");
}

static void
test_raw_message_recipients_syntax(void)
{
	g_autofree gchar *groups =
	    test_recipients("To: undisclosed-recipients:;\n"
			    "Cc: Team: a@example.org, \"B, b\" <b@example.org>;, c@example.org\n"
			    "Bcc: Empty Group:;, \"Quoted: colon\" <d@example.org>\n"
			    "\n",
			    MS_RAW_MESSAGE_FLAG_EXTRACT_RECIPIENTS);
	g_autofree gchar *quoted = test_recipients(
	    "To: \"Doe, John\" <john@example.org>, \"Roe; Jane\" <jane@example.org>,\n"
	    "\t\"Lee (Max)\" <max@example.org>\n"
	    "\n",
	    MS_RAW_MESSAGE_FLAG_EXTRACT_RECIPIENTS);
	g_autofree gchar *comments = test_recipients(
	    "To: ann@example.org (Ann, at work), (first) Bob <bob@example.org>\n"
	    "  (nested (comment, with) commas), carl@example.org (C\\) paren)\n"
	    "Cc: =?UTF-8?Q?J=C3=BCrgen?= <juergen@example.org>, Zoë <zoe@example.org>\n"
	    "\n",
	    MS_RAW_MESSAGE_FLAG_EXTRACT_RECIPIENTS);

	g_assert_cmpstr(groups, ==, "a@example.org b@example.org c@example.org d@example.org");
	g_assert_cmpstr(quoted, ==, "john@example.org jane@example.org max@example.org");
	g_assert_cmpstr(comments,
			==,
			"ann@example.org bob@example.org carl@example.org juergen@example.org "
			"zoe@example.org");
}

static void
test_raw_message_recipients_invalid(void)
{
	const gchar *input = "Subject: x\n"
			     "To: ok@example.org, nobody\n"
			     "\n";
	g_autofree gchar *lenient = test_recipients(input, MS_RAW_MESSAGE_FLAG_NONE);

	/* with explicit recipients the headers are only text */
	g_assert_cmpstr(lenient, ==, "ok@example.org");
	/* from them, every address must be valid */
	test_refused(input,
		     MS_RAW_MESSAGE_FLAG_EXTRACT_RECIPIENTS,
		     "line 2: the To field: 'nobody' is not a valid mail address: it has no '@'");
}

static void
test_raw_message_no_recipient(void)
{
	g_autofree gchar *none =
	    test_recipients("Subject: x\n\nTo: body@example.org\n", MS_RAW_MESSAGE_FLAG_NONE);

	g_assert_cmpstr(none, ==, "");
	test_refused("Subject: x\n\nTo: body@example.org\n",
		     MS_RAW_MESSAGE_FLAG_EXTRACT_RECIPIENTS,
		     "no recipient: the message has no To, Cc or Bcc header");
	test_refused("Subject: x\nTo: undisclosed-recipients:;\nCc:\n\nbody\n",
		     MS_RAW_MESSAGE_FLAG_EXTRACT_RECIPIENTS,
		     "no recipient: the To, Cc and Bcc header fields hold no address");
}

static void
test_raw_message_added_fields(void)
{
	g_autofree gchar *text =
	    test_spool("To: bob@example.org\nSubject: add\n\nbody\n", MS_RAW_MESSAGE_FLAG_NONE);
	g_autofree gchar *only_date =
	    test_spool("From: ann@example.org\nmessage-id: <own@example.org>\n\nbody\n",
		       MS_RAW_MESSAGE_FLAG_NONE);
	g_autofree gchar *only_from =
	    test_spool("DATE: Sun, 1 Feb 2026 10:00:00 +0100\nMessage-Id: <own@example.org>\n\n",
		       MS_RAW_MESSAGE_FLAG_NONE);

	g_assert_cmpstr(
	    text,
	    ==,
	    "To: bob@example.org\r\n"
	    "Subject: add\r\n"
	    "From: Default Sender <default@example.org>\r\n" TEST_ADDED_DATE TEST_ADDED_MSGID "\r\n"
	    "body\r\n");
	g_assert_cmpstr(only_date,
			==,
			"From: ann@example.org\r\n"
			"message-id: <own@example.org>\r\n" TEST_ADDED_DATE "\r\n"
			"body\r\n");
	g_assert_cmpstr(only_from,
			==,
			"DATE: Sun, 1 Feb 2026 10:00:00 +0100\r\n"
			"Message-Id: <own@example.org>\r\n"
			"From: Default Sender <default@example.org>\r\n"
			"\r\n");
}

static void
test_raw_message_added_from_encoded(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsRawMessage) msg = test_parse(TEST_FIELDS_LF "\n", -1, 0, &error);
	g_autoptr(MsRawMessage) no_from =
	    test_parse("Date: Sun, 1 Feb 2026 10:00:00 +0100\nMessage-ID: <m@x.org>\n\n",
		       -1,
		       0,
		       &error);
	g_autofree gchar *text = NULL;

	g_assert_no_error(error);
	/* the default is written as a header should be, whatever the account file says */
	text = test_to_string(no_from, "Jürgen Müller <jm@example.org>");
	g_assert_cmpstr(text,
			==,
			"Date: Sun, 1 Feb 2026 10:00:00 +0100\r\n"
			"Message-ID: <m@x.org>\r\n"
			"From: =?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <jm@example.org>\r\n"
			"\r\n");
	g_clear_pointer(&text, g_free);
	/* a message with a From needs no default sender */
	text = test_to_string(msg, NULL);
	g_assert_cmpstr(text, ==, TEST_FIELDS_CRLF "\r\n");
}

static void
test_raw_message_no_from(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsRawMessage) msg = test_parse("To: bob@example.org\n\nbody\n", -1, 0, &error);
	g_autoptr(GBytes) bytes = NULL;

	g_assert_no_error(error);
	bytes = ms_raw_message_to_bytes(msg, NULL, &error);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	g_assert_null(bytes);
	g_assert_cmpstr(error->message,
			==,
			"the message has no From header field and no default sender was given");
	g_clear_error(&error);
	bytes = ms_raw_message_to_bytes(msg, "Broken <nobody>", &error);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	g_assert_null(bytes);
	g_assert_cmpstr(error->message,
			==,
			"the message has no From header field and the default sender is not "
			"valid: 'Broken <nobody>' is not a valid mail address: it has no '@'");
}

static void
test_raw_message_generated(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsRawMessage) msg =
	    test_parse("From: \"Ann\" <ann@mail.example.com>\n\nbody\n", -1, 0, &error);
	g_autoptr(MsRawMessage) bad_from = test_parse("From: nobody\n\nbody\n", -1, 0, &error);
	g_autoptr(MsRawMessage) broken = test_parse("From: nobody\n\nbody\n", -1, 0, &error);
	g_autoptr(GRegex) regex = NULL;
	g_autoptr(GMatchInfo) match = NULL;
	g_autofree gchar *text = NULL;
	g_autofree gchar *uuid = NULL;
	g_autofree gchar *text_bad = NULL;
	g_autofree gchar *text_broken = NULL;

	g_assert_no_error(error);
	text = test_to_string(msg, TEST_DEFAULT_FROM);
	regex = g_regex_new("^From: \"Ann\" <ann@mail\\.example\\.com>\r\n"
			    "Date: (Mon|Tue|Wed|Thu|Fri|Sat|Sun), [1-9][0-9]? "
			    "(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) 2[0-9]{3} "
			    "[0-2][0-9]:[0-5][0-9]:[0-6][0-9] [+-][0-9]{4}\r\n"
			    "Message-ID: <([^@]+)@mail\\.example\\.com>\r\n"
			    "\r\n"
			    "body\r\n$",
			    G_REGEX_DEFAULT,
			    G_REGEX_MATCH_DEFAULT,
			    &error);
	g_assert_no_error(error);
	g_assert_true(g_regex_match(regex, text, 0, &match));
	uuid = g_match_info_fetch(match, 3);
	g_assert_true(g_uuid_string_is_valid(uuid));

	/* without a usable From, the Message-ID takes the default sender's domain */
	text_bad = test_to_string(bad_from, "x@default.example.net");
	g_assert_nonnull(strstr(text_bad, "@default.example.net>\r\n"));
	g_assert_null(strstr(text_bad, "From: x@"));
	text_broken = test_to_string(broken, NULL);
	g_assert_nonnull(strstr(text_broken, "@localhost>\r\n"));
	g_assert_null(ms_raw_message_get_from(broken));
}

static void
test_raw_message_from(void)
{
	struct {
		const gchar *input;
		const gchar *from;
	} cases[] = {
	    {"From: \"Ann, A.\" <Ann@Example.org> (work)\n\n", "Ann@Example.org"},
	    {"fROM: ann@example.org, bob@example.org\n\n", "ann@example.org"},
	    {"From: Folded\n <folded@example.org>\n\n", "folded@example.org"},
	    {"From: not valid, bob@example.org\n\n", "bob@example.org"},
	    {"From: nobody\nFrom: second@example.org\n\n", NULL},
	    {"Subject: no from\n\n", NULL},
	    {"Sender: sender@example.org\n\n", NULL},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(MsRawMessage) msg = test_parse(cases[i].input, -1, 0, &error);

		g_assert_no_error(error);
		g_assert_nonnull(msg);
		g_assert_cmpstr(ms_raw_message_get_from(msg), ==, cases[i].from);
	}
}

static void
test_raw_message_refuse_empty(void)
{
	test_refused("", MS_RAW_MESSAGE_FLAG_NONE, "the message is empty");
	test_refused(".\nSubject: x\n\n", MS_RAW_MESSAGE_FLAG_DOT_ENDS, "the message is empty");
}

static void
test_raw_message_refuse_nul(void)
{
	test_refused_len("Subject: x\n\nbody\0more\n",
			 22,
			 MS_RAW_MESSAGE_FLAG_NONE,
			 "the message contains NUL bytes at offset 16");
	test_refused_len("\0",
			 1,
			 MS_RAW_MESSAGE_FLAG_NONE,
			 "the message contains NUL bytes at offset 0");
	test_refused_len("Subj\0ect: x\n\n",
			 13,
			 MS_RAW_MESSAGE_FLAG_NONE,
			 "the message contains NUL bytes at offset 4");
}

static void
test_raw_message_refuse_separator(void)
{
	test_refused("just some text without headers\n",
		     MS_RAW_MESSAGE_FLAG_NONE,
		     "line 1 is not a header field: a message starts with header fields such "
		     "as 'Subject: …'");
	test_refused("Subject: x\nTo: bob@example.org\nhello, no empty line before me\n",
		     MS_RAW_MESSAGE_FLAG_NONE,
		     "line 3 is neither a header field nor the empty line that must separate "
		     "the header fields from the body");
	test_refused("Subject: cut sh",
		     MS_RAW_MESSAGE_FLAG_NONE,
		     "the message ends inside the header field on line 1: it may have been cut "
		     "short");
	test_refused("Subject: x\n folded and cut",
		     MS_RAW_MESSAGE_FLAG_NONE,
		     "the message ends inside the header field on line 2: it may have been cut "
		     "short");
	test_refused("\nbody\n",
		     MS_RAW_MESSAGE_FLAG_NONE,
		     "line 1 is not a header field: it is empty, but a message starts with header "
		     "fields such as 'Subject: …'");
	test_refused(" Subject: x\n\n",
		     MS_RAW_MESSAGE_FLAG_NONE,
		     "line 1 is not a header field: it starts with white space");
}

static void
test_raw_message_refuse_field_name(void)
{
	test_refused("From nobody Mon Jan  5 09:03:07 2026\nSubject: x\n\n",
		     MS_RAW_MESSAGE_FLAG_NONE,
		     "line 1 is not a header field: the field name before ':' must be printable "
		     "ASCII without spaces");
	test_refused("Subject: x\nX Bad: y\n\n",
		     MS_RAW_MESSAGE_FLAG_NONE,
		     "line 2 is not a valid header field: the field name before ':' must be "
		     "printable ASCII without spaces");
	test_refused("Subject: x\n: empty name\n\n",
		     MS_RAW_MESSAGE_FLAG_NONE,
		     "line 2 is not a valid header field: the field name before ':' must be "
		     "printable ASCII without spaces");
	test_refused("Subject: x\nSubject : obsolete space\n\n",
		     MS_RAW_MESSAGE_FLAG_NONE,
		     "line 2 is not a valid header field: the field name before ':' must be "
		     "printable ASCII without spaces");
	test_refused("Subject: x\nX-\x01: control\n\n",
		     MS_RAW_MESSAGE_FLAG_NONE,
		     "line 2 is not a valid header field: the field name before ':' must be "
		     "printable ASCII without spaces");
	test_refused("Subject: x\nX-Gr\xc3\xbc\xc3\x9f: utf-8 name\n\n",
		     MS_RAW_MESSAGE_FLAG_NONE,
		     "line 2 is not a valid header field: the field name before ':' must be "
		     "printable ASCII without spaces");
}

static void
test_raw_message_line_length(void)
{
	g_autofree gchar *line998 = g_strnfill(998, 'a');
	g_autofree gchar *line999 = g_strnfill(999, 'a');
	g_autofree gchar *header998 = g_strnfill(998 - strlen("X-Long: "), 'h');
	g_autofree gchar *ok =
	    g_strdup_printf(TEST_FIELDS_LF "X-Long: %s\n\n%s\n%s", header998, line998, line998);
	g_autofree gchar *ok_cr = g_strdup_printf(TEST_FIELDS_LF "\n%s\r%s\r\n", line998, line998);
	g_autofree gchar *expected =
	    g_strdup_printf(TEST_FIELDS_CRLF "X-Long: %s\r\n\r\n%s\r\n%s\r\n",
			    header998,
			    line998,
			    line998);
	g_autofree gchar *expected_cr =
	    g_strdup_printf(TEST_FIELDS_CRLF "\r\n%s\r\n%s\r\n", line998, line998);
	g_autofree gchar *text = test_spool(ok, MS_RAW_MESSAGE_FLAG_NONE);
	g_autofree gchar *text_cr = test_spool(ok_cr, MS_RAW_MESSAGE_FLAG_NONE);
	g_autofree gchar *long_body = g_strdup_printf("Subject: x\n\nshort\n%s\n", line999);
	g_autofree gchar *long_last = g_strdup_printf("Subject: x\r\n\r\n%s", line999);
	g_autofree gchar *long_header = g_strdup_printf("Subject: x\nX-Long: %sh\n\n", header998);
	g_autofree gchar *huge =
	    g_strdup_printf("Subject: x\n\n%s%s%s\n", line999, line999, line999);

	g_assert_cmpstr(text, ==, expected);
	g_assert_cmpstr(text_cr, ==, expected_cr);
	test_refused(long_body,
		     MS_RAW_MESSAGE_FLAG_NONE,
		     "line 4 is longer than 998 octets: a raw message is sent as it is, so long "
		     "lines must be folded or encoded by the sender");
	test_refused(long_last,
		     MS_RAW_MESSAGE_FLAG_NONE,
		     "line 3 is longer than 998 octets: a raw message is sent as it is, so long "
		     "lines must be folded or encoded by the sender");
	test_refused(long_header,
		     MS_RAW_MESSAGE_FLAG_NONE,
		     "line 2 is longer than 998 octets: a raw message is sent as it is, so long "
		     "lines must be folded or encoded by the sender");
	test_refused(huge,
		     MS_RAW_MESSAGE_FLAG_NONE,
		     "line 3 is longer than 998 octets: a raw message is sent as it is, so long "
		     "lines must be folded or encoded by the sender");
}

static void
test_raw_message_dot_ends(void)
{
	/* what follows the '.' line is not even checked */
	static const gchar input[] = TEST_FIELDS_LF "\n"
						    "..stuffed stays\n"
						    ". not alone\n"
						    ".\n"
						    "ignored\n"
						    "\0 ignored too\n";
	g_autofree gchar *ended =
	    test_spool_len(input, sizeof(input) - 1, MS_RAW_MESSAGE_FLAG_DOT_ENDS);
	g_autofree gchar *crlf = test_spool(TEST_FIELDS_CRLF "\r\nbody\r\n.\r\nignored\r\n",
					    MS_RAW_MESSAGE_FLAG_DOT_ENDS);
	g_autofree gchar *at_end =
	    test_spool(TEST_FIELDS_LF "\nbody\n.", MS_RAW_MESSAGE_FLAG_DOT_ENDS);
	g_autofree gchar *in_headers = test_spool(TEST_FIELDS_LF ".\nSubject: ignored\n\nignored\n",
						  MS_RAW_MESSAGE_FLAG_DOT_ENDS);
	g_autofree gchar *kept =
	    test_spool(TEST_FIELDS_LF "\nbody\n.\nmore\n", MS_RAW_MESSAGE_FLAG_NONE);

	g_assert_cmpstr(ended, ==, TEST_FIELDS_CRLF "\r\n..stuffed stays\r\n. not alone\r\n");
	g_assert_cmpstr(crlf, ==, TEST_FIELDS_CRLF "\r\nbody\r\n");
	g_assert_cmpstr(at_end, ==, TEST_FIELDS_CRLF "\r\nbody\r\n");
	g_assert_cmpstr(in_headers, ==, TEST_FIELDS_CRLF "\r\n");
	/* sendmail -i: a '.' line is only text */
	g_assert_cmpstr(kept, ==, TEST_FIELDS_CRLF "\r\nbody\r\n.\r\nmore\r\n");
}

static void
test_raw_message_body_dots(void)
{
	g_autofree gchar *text =
	    test_spool(TEST_FIELDS_LF "\n.leading dot\n..two\n.\n", MS_RAW_MESSAGE_FLAG_NONE);

	/* dot-stuffing is done when the message goes out over SMTP, not in the spool */
	g_assert_cmpstr(text, ==, TEST_FIELDS_CRLF "\r\n.leading dot\r\n..two\r\n.\r\n");
}

static void
test_raw_message_utf8_header(void)
{
	g_autofree gchar *text = test_spool(
	    TEST_FIELDS_LF "Subject: Grüße aus Köln, 你好\nTo: Zoë <zoe@example.org>\n\nbody\n",
	    MS_RAW_MESSAGE_FLAG_EXTRACT_RECIPIENTS);

	g_assert_cmpstr(text,
			==,
			TEST_FIELDS_CRLF "Subject: Grüße aus Köln, 你好\r\n"
					 "To: Zoë <zoe@example.org>\r\n"
					 "\r\n"
					 "body\r\n");
	test_refused("Subject: ok\nX-Latin1: caf\xe9\n\n",
		     MS_RAW_MESSAGE_FLAG_NONE,
		     "line 2: the header field is not valid UTF-8");
	test_refused("Subject: ok\n folded caf\xe9\n\n",
		     MS_RAW_MESSAGE_FLAG_NONE,
		     "line 2: the header field is not valid UTF-8");
}

static void
test_raw_message_8bit_body(void)
{
	/* Latin-1, not UTF-8: the body is the sender's business and is kept byte for byte */
	g_autofree gchar *text =
	    test_spool(TEST_FIELDS_LF "Content-Type: text/plain; charset=latin1\n"
				      "Content-Transfer-Encoding: 8bit\n"
				      "\n"
				      "caf\xe9 \xff\xfe\x80\n",
		       MS_RAW_MESSAGE_FLAG_NONE);

	g_assert_cmpstr(text,
			==,
			TEST_FIELDS_CRLF "Content-Type: text/plain; charset=latin1\r\n"
					 "Content-Transfer-Encoding: 8bit\r\n"
					 "\r\n"
					 "caf\xe9 \xff\xfe\x80\r\n");
}

/* replace_from: every From and Sender field (folded ones whole) gives way to the default
 * sender, written where a missing From would be, and the Message-ID takes its domain */
static void
test_raw_message_replace_from(void)
{
	g_autoptr(GError) error = NULL;
	const gchar *input = "From: Boss\n <ceo@evil.example>\n"
			     "To: rcpt@example.org\n"
			     "Sender: ceo@evil.example\n"
			     "Subject: urgent\n"
			     "\n"
			     "body\n";
	g_autoptr(MsRawMessage) msg = test_parse(input, -1, MS_RAW_MESSAGE_FLAG_NONE, &error);
	g_autoptr(GDateTime) date = g_date_time_new_utc(2026, 1, 5, 9, 3, 7);
	g_autofree gchar *text = NULL;

	g_assert_no_error(error);
	g_assert_nonnull(msg);
	ms_raw_message_set_date(msg, date);
	ms_raw_message_replace_from(msg);
	text = test_to_string(msg, "Alerts <alerts@example.net>");
	g_assert_true(g_str_has_prefix(text,
				       "To: rcpt@example.org\r\n"
				       "Subject: urgent\r\n"
				       "From: Alerts <alerts@example.net>\r\n"
				       "Date: Mon, 5 Jan 2026 09:03:07 +0000\r\n"
				       "Message-ID: <"));
	g_assert_true(g_str_has_suffix(text, "@example.net>\r\n\r\nbody\r\n"));
	g_assert_null(strstr(text, "evil"));
}

static void
test_raw_message_large(void)
{
	/* 8 MiB of LF lines: every line end grows by one octet, nothing else changes */
	const gsize lines = 128 * 1024;
	const gchar *line = "0123456789012345678901234567890123456789012345678901234567890123\n";
	g_autoptr(GString) input = g_string_new(TEST_FIELDS_LF "\n");
	g_autoptr(GError) error = NULL;
	g_autoptr(MsRawMessage) msg = NULL;
	g_autoptr(GBytes) bytes = NULL;
	const gchar *data;
	gsize len = 0;
	gsize header_len = strlen(TEST_FIELDS_CRLF "\r\n");

	for (gsize i = 0; i < lines; i++)
		g_string_append(input, line);
	msg = test_parse(input->str, input->len, 0, &error);
	g_assert_no_error(error);
	bytes = ms_raw_message_to_bytes(msg, NULL, &error);
	g_assert_no_error(error);
	data = g_bytes_get_data(bytes, &len);
	g_assert_cmpuint(len, ==, header_len + lines * 66);
	g_assert_cmpmem(data, header_len, TEST_FIELDS_CRLF "\r\n", header_len);
	g_assert_cmpmem(data + header_len,
			66,
			"0123456789012345678901234567890123456789012345678901234567890123\r\n",
			66);
	g_assert_cmpmem(data + len - 66,
			66,
			"0123456789012345678901234567890123456789012345678901234567890123\r\n",
			66);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/mail-sender/raw-message/lf", test_raw_message_lf);
	g_test_add_func("/mail-sender/raw-message/cr", test_raw_message_cr);
	g_test_add_func("/mail-sender/raw-message/mixed", test_raw_message_mixed);
	g_test_add_func("/mail-sender/raw-message/crlf-unchanged", test_raw_message_crlf_unchanged);
	g_test_add_func("/mail-sender/raw-message/last-line", test_raw_message_last_line);
	g_test_add_func("/mail-sender/raw-message/headers-only", test_raw_message_headers_only);
	g_test_add_func("/mail-sender/raw-message/bcc", test_raw_message_bcc);
	g_test_add_func("/mail-sender/raw-message/bcc-folded", test_raw_message_bcc_folded);
	g_test_add_func("/mail-sender/raw-message/bcc-without-extract",
			test_raw_message_bcc_without_extract);
	g_test_add_func("/mail-sender/raw-message/recipients", test_raw_message_recipients);
	g_test_add_func("/mail-sender/raw-message/recipients-syntax",
			test_raw_message_recipients_syntax);
	g_test_add_func("/mail-sender/raw-message/recipients-invalid",
			test_raw_message_recipients_invalid);
	g_test_add_func("/mail-sender/raw-message/no-recipient", test_raw_message_no_recipient);
	g_test_add_func("/mail-sender/raw-message/added-fields", test_raw_message_added_fields);
	g_test_add_func("/mail-sender/raw-message/added-from-encoded",
			test_raw_message_added_from_encoded);
	g_test_add_func("/mail-sender/raw-message/no-from", test_raw_message_no_from);
	g_test_add_func("/mail-sender/raw-message/generated", test_raw_message_generated);
	g_test_add_func("/mail-sender/raw-message/from", test_raw_message_from);
	g_test_add_func("/mail-sender/raw-message/refuse-empty", test_raw_message_refuse_empty);
	g_test_add_func("/mail-sender/raw-message/refuse-nul", test_raw_message_refuse_nul);
	g_test_add_func("/mail-sender/raw-message/refuse-separator",
			test_raw_message_refuse_separator);
	g_test_add_func("/mail-sender/raw-message/refuse-field-name",
			test_raw_message_refuse_field_name);
	g_test_add_func("/mail-sender/raw-message/line-length", test_raw_message_line_length);
	g_test_add_func("/mail-sender/raw-message/dot-ends", test_raw_message_dot_ends);
	g_test_add_func("/mail-sender/raw-message/body-dots", test_raw_message_body_dots);
	g_test_add_func("/mail-sender/raw-message/utf8-header", test_raw_message_utf8_header);
	g_test_add_func("/mail-sender/raw-message/8bit-body", test_raw_message_8bit_body);
	g_test_add_func("/mail-sender/raw-message/replace-from", test_raw_message_replace_from);
	g_test_add_func("/mail-sender/raw-message/large", test_raw_message_large);
	return g_test_run();
}
