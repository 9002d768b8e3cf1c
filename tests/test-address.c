#include "config.h"

#include <gio/gio.h>
#include <string.h>

#include "ms-address.h"

/* decodes a value made of RFC 2047 encoded-words (UTF-8) separated by spaces, checking that
 * every word is at most max chars and decodes to whole UTF-8 characters on its own; NULL if
 * the value holds anything else */
static gchar *
test_decode_encoded_words(const gchar *value, gsize max)
{
	g_autoptr(GString) out = g_string_new(NULL);
	g_auto(GStrv) words = g_strsplit(value, " ", -1);

	for (guint i = 0; words[i] != NULL; i++) {
		const gchar *word = words[i];
		gsize len = strlen(word);
		g_autofree gchar *text = NULL;
		g_autoptr(GString) piece = g_string_new(NULL);

		if (len < 12 || len > max)
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

static void
test_address_forms(void)
{
	struct {
		const gchar *input;
		const gchar *display_name;
		const gchar *addr_spec;
		const gchar *header;
	} cases[] = {
	    {"bob@example.org", NULL, "bob@example.org", "bob@example.org"},
	    {"<bob@example.org>", NULL, "bob@example.org", "bob@example.org"},
	    {"  < bob@example.org >  ", NULL, "bob@example.org", "bob@example.org"},
	    {"Bob <bob@example.org>", "Bob", "bob@example.org", "Bob <bob@example.org>"},
	    {"  Bob   Smith   <bob@example.org>",
	     "Bob Smith",
	     "bob@example.org",
	     "Bob Smith <bob@example.org>"},
	    {"\"Smith, Bob\" <bob@example.org>",
	     "Smith, Bob",
	     "bob@example.org",
	     "\"Smith, Bob\" <bob@example.org>"},
	    {"Bob Q. Smith <bob@example.org>",
	     "Bob Q. Smith",
	     "bob@example.org",
	     "\"Bob Q. Smith\" <bob@example.org>"},
	    {"\"Bob \\\"The Builder\\\" Smith\" <bob@example.org>",
	     "Bob \"The Builder\" Smith",
	     "bob@example.org",
	     "\"Bob \\\"The Builder\\\" Smith\" <bob@example.org>"},
	    {"\"back\\\\slash\" <bob@example.org>",
	     "back\\slash",
	     "bob@example.org",
	     "\"back\\\\slash\" <bob@example.org>"},
	    {"\"\" <bob@example.org>", NULL, "bob@example.org", "bob@example.org"},
	    {"bob@example.org <bob@example.org>",
	     "bob@example.org",
	     "bob@example.org",
	     "\"bob@example.org\" <bob@example.org>"},
	    /* would be decoded by readers if it went out as an atom */
	    {"=?utf-8?q?evil?= <bob@example.org>",
	     "=?utf-8?q?evil?=",
	     "bob@example.org",
	     "\"=?utf-8?q?evil?=\" <bob@example.org>"},
	    {"Jörg Müller <jm@example.org>",
	     "Jörg Müller",
	     "jm@example.org",
	     "=?UTF-8?Q?J=C3=B6rg_M=C3=BCller?= <jm@example.org>"},
	    {"张伟 <zw@example.org>",
	     "张伟",
	     "zw@example.org",
	     "=?UTF-8?B?5byg5Lyf?= <zw@example.org>"},
	    {"<\"a>b\"@example.org>", NULL, "\"a>b\"@example.org", "\"a>b\"@example.org"},
	    {"\"Support <24/7>\" <help@[192.0.2.1]>",
	     "Support <24/7>",
	     "help@[192.0.2.1]",
	     "\"Support <24/7>\" <help@[192.0.2.1]>"},
	    /* an internationalized domain is kept as its A-labels, so it needs no SMTPUTF8 */
	    {"Jörg <bob@exämple.org>",
	     "Jörg",
	     "bob@xn--exmple-cua.org",
	     "=?UTF-8?Q?J=C3=B6rg?= <bob@xn--exmple-cua.org>"},
	    {"bücher@bücher.example",
	     NULL,
	     "bücher@xn--bcher-kva.example",
	     "bücher@xn--bcher-kva.example"},
	    /* RFC 6531: UTF-8 local parts, dot-atom or quoted */
	    {"jörg@example.org", NULL, "jörg@example.org", "jörg@example.org"},
	    {"张伟 <张伟@例子.中国>",
	     "张伟",
	     "张伟@xn--fsqu00a.xn--fiqs8s",
	     "=?UTF-8?B?5byg5Lyf?= <张伟@xn--fsqu00a.xn--fiqs8s>"},
	    {"\"jörg müller\"@example.org",
	     NULL,
	     "\"jörg müller\"@example.org",
	     "\"jörg müller\"@example.org"},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(MsAddress) address = ms_address_parse(cases[i].input, &error);
		g_autofree gchar *header = NULL;
		g_autofree gchar *normalized = NULL;

		{
			/* escaped: TAP output must stay valid UTF-8 without control characters */
			g_autofree gchar *shown = g_strescape(cases[i].input, NULL);
			g_test_message("parsing %s", shown);
		}
		g_assert_no_error(error);
		g_assert_nonnull(address);
		g_assert_cmpstr(ms_address_get_display_name(address), ==, cases[i].display_name);
		g_assert_cmpstr(ms_address_get_addr_spec(address), ==, cases[i].addr_spec);
		header = ms_address_to_header(address);
		g_assert_cmpstr(header, ==, cases[i].header);
		/* only a local part beyond ASCII needs SMTPUTF8 */
		g_assert_cmpint(ms_address_needs_smtputf8(address),
				==,
				strchr(cases[i].addr_spec, '@') != NULL &&
				    !g_str_is_ascii(cases[i].addr_spec));
		normalized = ms_address_normalize_mailbox(cases[i].addr_spec);
		g_assert_cmpstr(normalized, ==, cases[i].addr_spec);
	}
}

static void
test_address_valid(void)
{
	g_autofree gchar *local64 = g_strnfill(64, 'a');
	g_autofree gchar *label63 = g_strnfill(63, 'b');
	g_autofree gchar *max_local = g_strdup_printf("%s@example.org", local64);
	g_autofree gchar *max_label = g_strdup_printf("bob@%s.example.org", label63);
	/* 64 + 1 + 63 + 1 + 63 + 1 + 61 = 254 */
	g_autofree gchar *label61 = g_strnfill(61, 'c');
	g_autofree gchar *max_total =
	    g_strdup_printf("%s@%s.%s.%s", local64, label63, label63, label61);
	const gchar *good[] = {
	    "bob@example.org",
	    "Bob.Smith+tag@mail.example.co.uk",
	    "!#$%&'*+-/=?^_`{|}~@example.org",
	    "\"john doe\"@example.org",
	    "\"a\\\"b\"@example.org",
	    "\"a@b,c;d<e>\"@example.org",
	    "\"\\\\\"@example.org",
	    "user@[192.0.2.1]",
	    "user@[0.0.0.0]",
	    "user@[255.255.255.255]",
	    "user@[IPv6:2001:db8::1]",
	    "user@[ipv6:::1]",
	    "user@[IPv6:::ffff:192.0.2.1]",
	    "root@localhost",
	    "x@a-b.c0",
	    "x@123.example",
	    max_local,
	    max_label,
	    max_total,
	};

	g_assert_cmpuint(strlen(max_total), ==, 254);
	for (guint i = 0; i < G_N_ELEMENTS(good); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(MsAddress) address = ms_address_parse(good[i], &error);

		{
			/* escaped: TAP output must stay valid UTF-8 without control characters */
			g_autofree gchar *shown = g_strescape(good[i], NULL);
			g_test_message("parsing %s", shown);
		}
		g_assert_no_error(error);
		g_assert_nonnull(address);
		g_assert_cmpstr(ms_address_get_addr_spec(address), ==, good[i]);
		g_assert_null(ms_address_get_display_name(address));
		g_assert_true(ms_address_is_valid_mailbox(good[i]));
	}
}

static void
test_address_invalid(void)
{
	g_autofree gchar *local65 = g_strnfill(65, 'a');
	g_autofree gchar *label64 = g_strnfill(64, 'b');
	g_autofree gchar *label63 = g_strnfill(63, 'b');
	g_autofree gchar *label62 = g_strnfill(62, 'c');
	g_autofree gchar *long_local = g_strdup_printf("%s@example.org", local65);
	g_autofree gchar *long_label = g_strdup_printf("bob@%s.org", label64);
	g_autofree gchar *long_total =
	    g_strdup_printf("%s@%s.%s.%s", local65 + 1, label63, label63, label62);
	g_autofree gchar *msg_long_local = g_strdup_printf(
	    "'%s' is not a valid mail address: the part before '@' is longer than 64 octets",
	    long_local);
	g_autofree gchar *msg_long_label =
	    g_strdup_printf("'%s' is not a valid mail address: the domain label '%s' is longer "
			    "than 63 octets",
			    long_label,
			    label64);
	g_autofree gchar *msg_long_total =
	    g_strdup_printf("'%s' is not a valid mail address: it is longer than 254 octets",
			    long_total);
	struct {
		const gchar *input;
		const gchar *message;
		gboolean mailbox_only; /* not an addr-spec at all, skip is_valid_mailbox */
	} cases[] = {
	    {"", "the mail address is empty", TRUE},
	    {"   ", "the mail address is empty", TRUE},
	    {"bob", "'bob' is not a valid mail address: it has no '@'"},
	    {"bob@@example.org",
	     "'bob@@example.org' is not a valid mail address: it has more than one '@'"},
	    {"a@b@example.org",
	     "'a@b@example.org' is not a valid mail address: it has more than one '@'"},
	    {"@example.org",
	     "'@example.org' is not a valid mail address: there is nothing before '@'"},
	    {"bob@", "'bob@' is not a valid mail address: there is nothing after '@'"},
	    {".bob@example.org",
	     "'.bob@example.org' is not a valid mail address: the part before '@' starts with '.' "
	     "or has '..'"},
	    {"bo..b@example.org",
	     "'bo..b@example.org' is not a valid mail address: the part before '@' starts with '.' "
	     "or has '..'"},
	    {"bob.@example.org",
	     "'bob.@example.org' is not a valid mail address: the part before '@' ends with '.'"},
	    {"bob smith@example.org",
	     "'bob smith@example.org' is not a valid mail address: the part before '@' contains a "
	     "space, which is only allowed inside quotes"},
	    {"bob(x)@example.org",
	     "'bob(x)@example.org' is not a valid mail address: the part before '@' contains '(', "
	     "which is only allowed inside quotes"},
	    {"a@example.org, b@example.org",
	     "'a@example.org, b@example.org' is not a valid mail address: ',' is only allowed "
	     "inside "
	     "quotes; give one address per entry"},
	    {"a,b@example.org",
	     "'a,b@example.org' is not a valid mail address: ',' is only allowed inside quotes; "
	     "give one address per entry"},
	    {"a@example.org;b@example.org",
	     "'a@example.org;b@example.org' is not a valid mail address: ';' is only allowed "
	     "inside "
	     "quotes; give one address per entry"},
	    {"bob>@example.org",
	     "'bob>@example.org' is not a valid mail address: the part before '@' contains '>', "
	     "which is only allowed inside quotes"},
	    {"Smith, Bob <bob@example.org>",
	     "'Smith, Bob <bob@example.org>' is not a valid mail address: ',' is only allowed "
	     "inside quotes; give one address per entry",
	     TRUE},
	    {"Bob > x <bob@example.org>",
	     "'Bob > x <bob@example.org>' is not a valid mail address: '>' is only allowed inside "
	     "quotes",
	     TRUE},
	    {"Bob <bob@example.org",
	     "'Bob <bob@example.org' is not a valid mail address: '<' is not closed by '>'",
	     TRUE},
	    {"Bob <bob@example.org> x",
	     "'Bob <bob@example.org> x' is not a valid mail address: there is text after '>'",
	     TRUE},
	    {"Bob <>",
	     "'Bob <>' is not a valid mail address: there is no address between '<' and '>'",
	     TRUE},
	    {"<<bob@example.org>>",
	     "'<<bob@example.org>>' is not a valid mail address: there is text after '>'",
	     TRUE},
	    {"bob@exa mple.org",
	     "'bob@exa mple.org' is not a valid mail address: the domain contains a space"},
	    {"bob@exam_ple.org",
	     "'bob@exam_ple.org' is not a valid mail address: the domain contains '_'"},
	    {"bob@-example.org",
	     "'bob@-example.org' is not a valid mail address: the domain label '-example' starts "
	     "or ends with '-'"},
	    {"bob@example-.org",
	     "'bob@example-.org' is not a valid mail address: the domain label 'example-' starts "
	     "or ends with '-'"},
	    {"bob@example..org",
	     "'bob@example..org' is not a valid mail address: the domain has an empty label ('..' "
	     "or a '.' at the start or end)"},
	    {"bob@example.org.",
	     "'bob@example.org.' is not a valid mail address: the domain has an empty label ('..' "
	     "or a '.' at the start or end)"},
	    {"bob@[300.1.1.1]",
	     "'bob@[300.1.1.1]' is not a valid mail address: the address literal '[300.1.1.1]' is "
	     "not an IPv4 or [IPv6:…] address"},
	    {"bob@[1.2.3]",
	     "'bob@[1.2.3]' is not a valid mail address: the address literal '[1.2.3]' is not an "
	     "IPv4 or [IPv6:…] address"},
	    {"bob@[01.2.3.4]",
	     "'bob@[01.2.3.4]' is not a valid mail address: the address literal '[01.2.3.4]' is "
	     "not "
	     "an IPv4 or [IPv6:…] address"},
	    {"bob@[2001:db8::1]",
	     "'bob@[2001:db8::1]' is not a valid mail address: the address literal '[2001:db8::1]' "
	     "is not an IPv4 or [IPv6:…] address"},
	    {"bob@[IPv6:1::2::3]",
	     "'bob@[IPv6:1::2::3]' is not a valid mail address: the address literal "
	     "'[IPv6:1::2::3]' is not an IPv4 or [IPv6:…] address"},
	    {"bob@[IPv6:fe80::1%eth0]",
	     "'bob@[IPv6:fe80::1%eth0]' is not a valid mail address: the address literal "
	     "'[IPv6:fe80::1%eth0]' is not an IPv4 or [IPv6:…] address"},
	    {"bob@[IPv6:1.2.3.4]",
	     "'bob@[IPv6:1.2.3.4]' is not a valid mail address: the address literal "
	     "'[IPv6:1.2.3.4]' is not an IPv4 or [IPv6:…] address"},
	    {"bob@[1.2.3.4",
	     "'bob@[1.2.3.4' is not a valid mail address: the address literal after '@' is not "
	     "closed by ']'"},
	    {"\"bob@example.org",
	     "'\"bob@example.org' is not a valid mail address: the quoted part before '@' is not "
	     "closed"},
	    {"\"a\"b@example.org",
	     "'\"a\"b@example.org' is not a valid mail address: there is text between the closing "
	     "'\"' and '@'"},
	    {"\"\"@example.org",
	     "'\"\"@example.org' is not a valid mail address: the quoted part before '@' is empty"},
	    {"jörg\xc2\x85@example.org",
	     "'jörg\\xC2\\x85@example.org' is not a valid mail address: it contains a control "
	     "character"},
	    {"bob@ex\xc3"
	     "ample.org",
	     "'bob@ex\\xC3ample.org' is not a valid mail address: it is not valid UTF-8"},
	    {"bob@äääääääääääääääääääääääääääääääääääääääääääääääääääääääääääääääääääää.de",
	     "'bob@äääääääääääääääääääääääääääääääääääääääääääääääääääääääääääääääääääää.de' is "
	     "not a valid mail address: the domain is not a valid internationalized domain name"},
	    {"bob@example.org\r\nBcc: eve@evil.example",
	     "'bob@example.org\\r\\nBcc: eve@evil.example' is not a valid mail address: it "
	     "contains a line break"},
	    {"Bob\n <bob@example.org>",
	     "'Bob\\n <bob@example.org>' is not a valid mail address: it contains a line break",
	     TRUE},
	    {"bob\x01@example.org",
	     "'bob\\x01@example.org' is not a valid mail address: it contains a control character"},
	    {"bob@example.org\tx",
	     "'bob@example.org\\tx' is not a valid mail address: it contains a control character"},
	    {"Bob\x7f <bob@example.org>",
	     "'Bob\\x7F <bob@example.org>' is not a valid mail address: it contains a control "
	     "character",
	     TRUE},
	    {"Bob\xc2\x85 <bob@example.org>",
	     "'Bob\\xC2\\x85 <bob@example.org>' is not a valid mail address: it contains a control "
	     "character",
	     TRUE},
	    {"Bob \xff <bob@example.org>",
	     "'Bob \\xFF <bob@example.org>' is not a valid mail address: it is not valid UTF-8",
	     TRUE},
	    {long_local, msg_long_local},
	    {long_label, msg_long_label},
	    {long_total, msg_long_total},
	};

	g_assert_cmpuint(strlen(long_total), ==, 255);
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(MsAddress) address = ms_address_parse(cases[i].input, &error);

		{
			/* escaped: TAP output must stay valid UTF-8 without control characters */
			g_autofree gchar *shown = g_strescape(cases[i].input, NULL);
			g_test_message("parsing %s", shown);
		}
		g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
		g_assert_null(address);
		g_assert_cmpstr(error->message, ==, cases[i].message);
		g_assert_null(strpbrk(error->message, "\r\n"));
		g_assert_true(g_utf8_validate(error->message, -1, NULL));
		if (!cases[i].mailbox_only)
			g_assert_false(ms_address_is_valid_mailbox(cases[i].input));
	}
	g_assert_false(ms_address_is_valid_mailbox(NULL));
	g_assert_false(ms_address_is_valid_mailbox(""));
	g_assert_false(ms_address_is_valid_mailbox("Bob <bob@example.org>"));
}

static void
test_address_error_quote_limit(void)
{
	g_autofree gchar *name = g_strnfill(1000, 'x');
	g_autofree gchar *input = g_strdup_printf("%s\r <bob@example.org>", name);
	g_autoptr(GError) error = NULL;
	g_autoptr(MsAddress) address = ms_address_parse(input, &error);

	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	g_assert_null(address);
	/* the quote is cut, so a huge input cannot make a huge log line */
	g_assert_cmpuint(strlen(error->message), <, 400);
	g_assert_true(g_str_has_suffix(error->message,
				       "…' is not a valid mail address: it contains "
				       "a line break"));
}

static void
test_address_encode_words(void)
{
	const gchar *texts[] = {
	    "Grüße aus Köln, Grüße aus Köln, Grüße aus Köln, Grüße aus Köln, Grüße aus Köln",
	    "你好，世界。你好，世界。你好，世界。你好，世界。你好，世界。你好，世界。",
	    "emoji 😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀 end",
	    "ASCII with _under_score and =equals= and ?question? marks",
	};
	g_autofree gchar *single = ms_address_encode_words("é", 75, 75);
	g_autofree gchar *empty = ms_address_encode_words("", 75, 75);
	g_autofree gchar *tiny = ms_address_encode_words("éé", 5, 5);

	g_assert_cmpstr(single, ==, "=?UTF-8?B?w6k=?=");
	g_assert_cmpstr(empty, ==, "");
	/* a word always holds one whole character, even when the limit is too small for it */
	g_assert_cmpstr(tiny, ==, "=?UTF-8?B?w6k=?= =?UTF-8?B?w6k=?=");

	for (guint i = 0; i < G_N_ELEMENTS(texts); i++) {
		g_autofree gchar *words = ms_address_encode_words(texts[i], 40, 75);
		g_autofree gchar *decoded = test_decode_encoded_words(words, 75);
		g_auto(GStrv) split = g_strsplit(words, " ", -1);

		g_test_message("encoded %s as %s", texts[i], words);
		g_assert_cmpstr(decoded, ==, texts[i]);
		g_assert_cmpuint(strlen(split[0]), <=, 40);
		g_assert_cmpuint(g_strv_length(split), >, 1);
	}
}

static void
test_address_round_trip(void)
{
	const gchar *inputs[] = {
	    "Bob <bob@example.org>",
	    "\"Smith, Bob\" <bob@example.org>",
	    "\"a  b\" <bob@example.org>",
	    "\"Bob \\\"B\\\" (work) [x]\" <\"a b\"@[IPv6:::1]>",
	    "\"a\\\\\" <bob@example.org>",
	    "<\"a\\\\\\\"\"@example.org>",
	};

	for (guint i = 0; i < G_N_ELEMENTS(inputs); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(MsAddress) address = ms_address_parse(inputs[i], &error);
		g_autoptr(MsAddress) again = NULL;
		g_autoptr(MsAddress) copy = NULL;
		g_autofree gchar *header = NULL;

		g_assert_no_error(error);
		g_assert_nonnull(address);
		header = ms_address_to_header(address);
		again = ms_address_parse(header, &error);
		g_assert_no_error(error);
		g_assert_nonnull(again);
		g_assert_cmpstr(ms_address_get_display_name(again),
				==,
				ms_address_get_display_name(address));
		g_assert_cmpstr(ms_address_get_addr_spec(again),
				==,
				ms_address_get_addr_spec(address));

		copy = ms_address_copy(address);
		g_assert_cmpstr(ms_address_get_display_name(copy),
				==,
				ms_address_get_display_name(address));
		g_assert_cmpstr(ms_address_get_addr_spec(copy),
				==,
				ms_address_get_addr_spec(address));
	}
}

static void
test_address_long_display_name(void)
{
	g_autofree gchar *word = g_strnfill(200, 'x');
	g_autofree gchar *input = g_strdup_printf("%s <bob@example.org>", word);
	g_autoptr(GError) error = NULL;
	g_autoptr(MsAddress) address = ms_address_parse(input, &error);
	g_autofree gchar *header = NULL;
	g_autofree gchar *phrase = NULL;
	g_autofree gchar *decoded = NULL;

	g_assert_no_error(error);
	g_assert_nonnull(address);
	/* a word that could not be folded goes out as encoded-words, which can */
	header = ms_address_to_header(address);
	g_assert_true(g_str_has_suffix(header, " <bob@example.org>"));
	phrase = g_strndup(header, strlen(header) - strlen(" <bob@example.org>"));
	decoded = test_decode_encoded_words(phrase, 66);
	g_assert_cmpstr(decoded, ==, word);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/mail-sender/address/forms", test_address_forms);
	g_test_add_func("/mail-sender/address/valid", test_address_valid);
	g_test_add_func("/mail-sender/address/invalid", test_address_invalid);
	g_test_add_func("/mail-sender/address/error-quote-limit", test_address_error_quote_limit);
	g_test_add_func("/mail-sender/address/encode-words", test_address_encode_words);
	g_test_add_func("/mail-sender/address/round-trip", test_address_round_trip);
	g_test_add_func("/mail-sender/address/long-display-name", test_address_long_display_name);
	return g_test_run();
}
