#include "config.h"

#include <gio/gio.h>
#include <string.h>

#include "ms-sasl.h"

static void
ms_sasl_plain_func(void)
{
	g_autoptr(MsSaslSecret) resp = ms_sasl_plain_response("tim", "tanstaaftanstaaf");
	g_autoptr(MsSaslSecret) resp_utf8 =
	    ms_sasl_plain_response("user@example.org", "p\303\244ss w\303\266rd:!");
	g_autofree guchar *decoded = NULL;
	gsize decoded_len = 0;

	g_assert_cmpstr(resp, ==, "AHRpbQB0YW5zdGFhZnRhbnN0YWFm");
	g_assert_cmpstr(resp_utf8, ==, "AHVzZXJAZXhhbXBsZS5vcmcAcMOkc3Mgd8O2cmQ6IQ==");

	/* empty authzid, then authcid and passwd, each after a NUL (RFC 4616 §2) */
	decoded = g_base64_decode(resp, &decoded_len);
	g_assert_cmpmem(decoded, decoded_len, "\0tim\0tanstaaftanstaaf", 21);
}

static void
ms_sasl_plain_empty_password_func(void)
{
	/* not ours to refuse: the server answers 535 and the user sees an auth failure */
	g_autoptr(MsSaslSecret) resp = ms_sasl_plain_response("u", "");
	g_assert_cmpstr(resp, ==, "AHUA");
}

static void
ms_sasl_plain_empty_username_func(void)
{
	g_autofree gchar *resp = NULL;

	g_test_expect_message("MsSasl", G_LOG_LEVEL_CRITICAL, "*assertion*username*failed*");
	resp = ms_sasl_plain_response("", "secret");
	g_test_assert_expected_messages();
	g_assert_null(resp);
}

static void
ms_sasl_login_func(void)
{
	g_autoptr(MsSaslSecret) user = ms_sasl_login_response("tim");
	g_autoptr(MsSaslSecret) pass = ms_sasl_login_response("p\303\244ssw\303\266rd");
	g_autoptr(MsSaslSecret) empty = ms_sasl_login_response("");

	g_assert_cmpstr(user, ==, "dGlt");
	g_assert_cmpstr(pass, ==, "cMOkc3N3w7ZyZA==");
	g_assert_cmpstr(empty, ==, "");
}

static void
ms_sasl_cram_md5_func(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsSaslSecret) resp = NULL;
	g_autofree guchar *decoded = NULL;
	gsize decoded_len = 0;

	/* the example of RFC 2195 §2 */
	resp = ms_sasl_cram_md5_response("tim",
					 "tanstaaftanstaaf",
					 "PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+",
					 &error);
	g_assert_no_error(error);
	g_assert_cmpstr(resp, ==, "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw");
	decoded = g_base64_decode(resp, &decoded_len);
	g_assert_cmpmem(decoded,
			decoded_len,
			"tim b913a602c7eda7a495b4e6e7334d3890",
			strlen("tim b913a602c7eda7a495b4e6e7334d3890"));
}

static void
ms_sasl_cram_md5_bad_challenge_func(void)
{
	const gchar *cases[] = {"", "abc", "ab=c", "a===", "ab c", "PDE4OTY*", "=abc"};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = NULL;
		g_autofree gchar *resp = NULL;

		g_test_message("'%s'", cases[i]);
		resp = ms_sasl_cram_md5_response("tim", "secret", cases[i], &error);
		g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
		g_assert_null(resp);
		g_assert_cmpstr(error->message, ==, "CRAM-MD5 challenge is not base64");
	}
}

static void
ms_sasl_xoauth2_func(void)
{
	/* the example of Google's XOAUTH2 documentation */
	g_autoptr(MsSaslSecret) resp =
	    ms_sasl_xoauth2_response("someuser@example.com",
				     "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg");

	g_assert_cmpstr(resp,
			==,
			"dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk"
			"52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ==");
}

static void
ms_sasl_secret_wipe_func(void)
{
	gchar *secret = g_strdup("hunter2");
	g_autoptr(MsSaslSecret) resp = ms_sasl_plain_response("tim", "hunter2");

	ms_sasl_secret_wipe(secret);
	g_assert_cmpmem(secret, 8, "\0\0\0\0\0\0\0\0", 8);
	g_free(secret);

	/* the response itself is secret too (base64 is not encryption) */
	ms_sasl_secret_wipe(resp);
	g_assert_cmpint(resp[0], ==, '\0');
	g_assert_cmpint(resp[strlen("AHRpbQBodW50ZXIy") - 1], ==, '\0');

	/* NULL is accepted, like g_free() */
	ms_sasl_secret_wipe(NULL);
	ms_sasl_secret_free(NULL);
}

/* RFC 7677 §3 */
#define MS_TEST_SCRAM_NONCE	   "rOprNGfwEbeRWgbNEkqO"
#define MS_TEST_SCRAM_SERVER_NONCE MS_TEST_SCRAM_NONCE "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define MS_TEST_SCRAM_SERVER_FIRST                                                                 \
	"r=" MS_TEST_SCRAM_SERVER_NONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
#define MS_TEST_SCRAM_CLIENT_FINAL                                                                 \
	"c=biws,r=" MS_TEST_SCRAM_SERVER_NONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
#define MS_TEST_SCRAM_SERVER_FINAL "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

static gchar *
ms_test_base64(const gchar *text)
{
	return g_base64_encode((const guchar *)text, strlen(text));
}

static gchar *
ms_test_unbase64(const gchar *text)
{
	gsize len = 0;
	g_autofree guchar *decoded = g_base64_decode(text, &len);

	return g_strndup((const gchar *)decoded, len);
}

/* the client-final (decoded) for the RFC 7677 server-first with this password */
static gchar *
ms_test_scram_client_final(const gchar *password)
{
	g_autoptr(MsSaslScram) scram = ms_sasl_scram_new("user", password, MS_TEST_SCRAM_NONCE);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *server_first = ms_test_base64(MS_TEST_SCRAM_SERVER_FIRST);
	g_autoptr(MsSaslSecret) client_final = NULL;

	client_final = ms_sasl_scram_client_final(scram, server_first, &error);
	g_assert_no_error(error);
	g_assert_nonnull(client_final);
	return ms_test_unbase64(client_final);
}

static void
ms_sasl_scram_rfc7677_func(void)
{
	g_autoptr(MsSaslScram) scram = ms_sasl_scram_new("user", "pencil", MS_TEST_SCRAM_NONCE);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *client_first = ms_sasl_scram_client_first(scram);
	g_autofree gchar *server_first = ms_test_base64(MS_TEST_SCRAM_SERVER_FIRST);
	g_autofree gchar *server_final = ms_test_base64(MS_TEST_SCRAM_SERVER_FINAL);
	g_autoptr(MsSaslSecret) client_final = NULL;
	g_autofree gchar *client_final_text = NULL;
	gboolean ret;

	/* base64("n,,n=user,r=rOprNGfwEbeRWgbNEkqO") */
	g_assert_cmpstr(client_first, ==, "biwsbj11c2VyLHI9ck9wck5HZndFYmVSV2diTkVrcU8=");

	client_final = ms_sasl_scram_client_final(scram, server_first, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(client_final,
			==,
			"Yz1iaXdzLHI9ck9wck5HZndFYmVSV2diTkVrcU8laHZZRHBXVWEyUmFUQ0FmdXhGSWxqKW"
			"hObEYkazAscD1kSHpiWmFwV0lrNGpVaE4rVXRlOXl0YWc5empmTUhnc3FtbWl6N0FuZFZR"
			"PQ==");
	client_final_text = ms_test_unbase64(client_final);
	g_assert_cmpstr(client_final_text, ==, MS_TEST_SCRAM_CLIENT_FINAL);

	ret = ms_sasl_scram_verify_server_final(scram, server_final, &error);
	g_assert_no_error(error);
	g_assert_true(ret);
}

static void
ms_sasl_scram_random_nonce_func(void)
{
	g_autoptr(MsSaslScram) scram1 = ms_sasl_scram_new("user", "pencil", NULL);
	g_autoptr(MsSaslScram) scram2 = ms_sasl_scram_new("user", "pencil", NULL);
	g_autofree gchar *first1 = ms_sasl_scram_client_first(scram1);
	g_autofree gchar *first2 = ms_sasl_scram_client_first(scram2);
	g_autofree gchar *text1 = ms_test_unbase64(first1);
	g_autofree gchar *text2 = ms_test_unbase64(first2);
	gsize len = 0;
	g_autofree guchar *nonce = NULL;

	/* 24 random bytes are 32 base64 characters */
	g_assert_true(g_str_has_prefix(text1, "n,,n=user,r="));
	g_assert_cmpuint(strlen(text1), ==, strlen("n,,n=user,r=") + 32);
	nonce = g_base64_decode(text1 + strlen("n,,n=user,r="), &len);
	g_assert_cmpuint(len, ==, 24);
	g_assert_cmpstr(text1, !=, text2);
}

static void
ms_sasl_scram_username_escape_func(void)
{
	g_autoptr(MsSaslScram) scram = ms_sasl_scram_new("a,b=c,=", "pencil", "nonce");
	g_autoptr(MsSaslScram) scram_plain = ms_sasl_scram_new("user@example.org", "x", "nonce");
	g_autofree gchar *first = ms_sasl_scram_client_first(scram);
	g_autofree gchar *first_plain = ms_sasl_scram_client_first(scram_plain);
	g_autofree gchar *text = ms_test_unbase64(first);
	g_autofree gchar *text_plain = ms_test_unbase64(first_plain);

	g_assert_cmpstr(text, ==, "n,,n=a=2Cb=3Dc=2C=3D,r=nonce");
	g_assert_cmpstr(text_plain, ==, "n,,n=user@example.org,r=nonce");
}

static void
ms_sasl_scram_saslprep_func(void)
{
	g_autofree gchar *rfc = ms_test_scram_client_final("pencil");
	/* U+00AD SOFT HYPHEN is mapped to nothing (RFC 3454 B.1) */
	g_autofree gchar *soft_hyphen = ms_test_scram_client_final("pen\302\255cil");
	/* U+FF50 FULLWIDTH LATIN SMALL LETTER P: NFKC makes it 'p' */
	g_autofree gchar *fullwidth = ms_test_scram_client_final("\357\275\220encil");
	/* U+00A0 NO-BREAK SPACE is mapped to SPACE, U+2168 ROMAN NUMERAL NINE to "IX" */
	g_autofree gchar *nbsp = ms_test_scram_client_final("a\302\240\342\205\250");
	g_autofree gchar *ascii = ms_test_scram_client_final("a IX");
	g_autofree gchar *other = ms_test_scram_client_final("pencil ");

	g_assert_cmpstr(rfc, ==, MS_TEST_SCRAM_CLIENT_FINAL);
	g_assert_cmpstr(soft_hyphen, ==, MS_TEST_SCRAM_CLIENT_FINAL);
	g_assert_cmpstr(fullwidth, ==, MS_TEST_SCRAM_CLIENT_FINAL);
	g_assert_cmpstr(nbsp, ==, ascii);
	g_assert_cmpstr(other, !=, MS_TEST_SCRAM_CLIENT_FINAL);
}

static void
ms_sasl_scram_bad_server_first_func(void)
{
	struct {
		const gchar *server_first; /* NULL: not base64 */
		const gchar *message;
	} cases[] = {
	    {"r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
	     "SCRAM server nonce does not extend the client nonce"},
	    {"r=xOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
	     "SCRAM server nonce does not extend the client nonce"},
	    {"r=rOprNGfwEbeRWgbNEkq,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
	     "SCRAM server nonce does not extend the client nonce"},
	    {"r=rOprNGfwEbeRWgbNEkqO\177x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
	     "SCRAM server nonce is not printable ASCII"},
	    {"s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "SCRAM server-first message has no nonce (r=)"},
	    {"", "SCRAM server-first message is not base64"},
	    {"m=ext,r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
	     "SCRAM server requires an unsupported extension (m=)"},
	    {"r=rOprNGfwEbeRWgbNEkqOabc,i=4096", "SCRAM server-first message has no salt (s=)"},
	    {"r=rOprNGfwEbeRWgbNEkqOabc", "SCRAM server-first message has no salt (s=)"},
	    {"r=rOprNGfwEbeRWgbNEkqOabc,s=,i=4096", "SCRAM salt is not base64"},
	    {"r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0S*Y7soEsUEjb6gQ==,i=4096",
	     "SCRAM salt is not base64"},
	    {"r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==",
	     "SCRAM server-first message has no iteration count (i=)"},
	    {"r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,x=1,i=4096",
	     "SCRAM server-first message has no iteration count (i=)"},
	    {"r=rOprNGfwEbeRWgbNEkqOabc,i=4096,s=W22ZaJ0SNY7soEsUEjb6gQ==",
	     "SCRAM server-first message has no salt (s=)"},
	    {"r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0",
	     "SCRAM iteration count 0 is out of range (4096 to 10000000)"},
	    {"r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4095",
	     "SCRAM iteration count 4095 is out of range (4096 to 10000000)"},
	    {"r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=10000001",
	     "SCRAM iteration count 10000001 is out of range (4096 to 10000000)"},
	    {"r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=99999999999999999999999",
	     "SCRAM iteration count 99999999999999999999999 is out of range (4096 to 10000000)"},
	    {"r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=-4096",
	     "SCRAM iteration count is not a number"},
	    {"r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096x",
	     "SCRAM iteration count is not a number"},
	    {"r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=",
	     "SCRAM iteration count is not a number"},
	    {NULL, "SCRAM server-first message is not base64"},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(MsSaslScram) scram =
		    ms_sasl_scram_new("user", "pencil", MS_TEST_SCRAM_NONCE);
		g_autoptr(GError) error = NULL;
		g_autoptr(MsSaslSecret) client_final = NULL;
		g_autofree gchar *server_first = NULL;

		g_test_message("'%s'",
			       cases[i].server_first != NULL ? cases[i].server_first
							     : "<not base64>");
		server_first = cases[i].server_first != NULL ? ms_test_base64(cases[i].server_first)
							     : g_strdup("cj1yT3By*k5HZndF");
		client_final = ms_sasl_scram_client_final(scram, server_first, &error);
		g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
		g_assert_cmpstr(error->message, ==, cases[i].message);
		g_assert_null(client_final);
	}
}

static void
ms_sasl_scram_nul_server_first_func(void)
{
	g_autoptr(MsSaslScram) scram = ms_sasl_scram_new("user", "pencil", MS_TEST_SCRAM_NONCE);
	g_autoptr(GError) error = NULL;
	g_autoptr(MsSaslSecret) client_final = NULL;
	const gchar text[] = "r=rOprNGfwEbeRWgbNEkqOabc\0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
	g_autofree gchar *server_first = g_base64_encode((const guchar *)text, sizeof(text) - 1);

	client_final = ms_sasl_scram_client_final(scram, server_first, &error);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
	g_assert_cmpstr(error->message, ==, "SCRAM server-first message contains a NUL byte");
	g_assert_null(client_final);
}

/* the RFC 7677 exchange up to the server-final, which is then checked */
static gboolean
ms_test_scram_verify(const gchar *server_final_text, GError **error)
{
	g_autoptr(MsSaslScram) scram = ms_sasl_scram_new("user", "pencil", MS_TEST_SCRAM_NONCE);
	g_autofree gchar *server_first = ms_test_base64(MS_TEST_SCRAM_SERVER_FIRST);
	g_autofree gchar *server_final = ms_test_base64(server_final_text);
	g_autoptr(MsSaslSecret) client_final = NULL;
	g_autoptr(GError) error_local = NULL;

	client_final = ms_sasl_scram_client_final(scram, server_first, &error_local);
	g_assert_no_error(error_local);
	g_assert_nonnull(client_final);
	return ms_sasl_scram_verify_server_final(scram, server_final, error);
}

static void
ms_sasl_scram_bad_server_final_func(void)
{
	struct {
		const gchar *server_final;
		const gchar *message;
	} cases[] = {
	    /* the RFC's signature with its first byte changed */
	    {"v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
	     "SCRAM server signature does not match: the server did not prove it knows the "
	     "password"},
	    /* the RFC's signature, one byte short */
	    {"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95A==",
	     "SCRAM server signature does not match: the server did not prove it knows the "
	     "password"},
	    {"v=", "SCRAM server signature is not base64"},
	    {"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4",
	     "SCRAM server signature is not base64"},
	    {"e=invalid-proof", "SCRAM server refused the authentication: invalid-proof"},
	    {"e=other-error,v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
	     "SCRAM server refused the authentication: other-error"},
	    {"e=\n\033[1m", "SCRAM server refused the authentication: \\n\\033[1m"},
	    {"x=1,v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
	     "SCRAM server-final message has no server signature (v=)"},
	    {"6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
	     "SCRAM server-final message has no server signature (v=)"},
	    {"", "SCRAM server-final message is not base64"},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = NULL;
		g_autofree gchar *escaped = g_strescape(cases[i].server_final, NULL);
		gboolean ret;

		g_test_message("'%s'", escaped);
		ret = ms_test_scram_verify(cases[i].server_final, &error);
		g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
		g_assert_cmpstr(error->message, ==, cases[i].message);
		g_assert_false(ret);
	}
}

static void
ms_sasl_scram_server_final_extensions_func(void)
{
	g_autoptr(GError) error = NULL;
	gboolean ret;

	/* RFC 5802 §7: extensions may follow the verifier */
	ret = ms_test_scram_verify(MS_TEST_SCRAM_SERVER_FINAL ",x=future", &error);
	g_assert_no_error(error);
	g_assert_true(ret);
}

static void
ms_sasl_scram_wrong_password_func(void)
{
	g_autofree gchar *client_final = ms_test_scram_client_final("pencil2");
	g_autoptr(MsSaslScram) scram = ms_sasl_scram_new("user", "pencil2", MS_TEST_SCRAM_NONCE);
	g_autofree gchar *server_first = ms_test_base64(MS_TEST_SCRAM_SERVER_FIRST);
	g_autofree gchar *server_final = ms_test_base64(MS_TEST_SCRAM_SERVER_FINAL);
	g_autoptr(MsSaslSecret) final = NULL;
	g_autoptr(GError) error = NULL;
	gboolean ret;

	/* another password: another proof, and the real server's signature no longer matches */
	g_assert_cmpstr(client_final, !=, MS_TEST_SCRAM_CLIENT_FINAL);
	g_assert_true(g_str_has_prefix(client_final, "c=biws,r=" MS_TEST_SCRAM_SERVER_NONCE ",p="));
	final = ms_sasl_scram_client_final(scram, server_first, &error);
	g_assert_no_error(error);
	g_assert_nonnull(final);
	ret = ms_sasl_scram_verify_server_final(scram, server_final, &error);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
	g_assert_false(ret);
}

static void
ms_sasl_scram_empty_password_func(void)
{
	/* not ours to refuse, as with PLAIN: the server answers 535 */
	g_autofree gchar *client_final = ms_test_scram_client_final("");

	g_assert_true(g_str_has_prefix(client_final, "c=biws,r=" MS_TEST_SCRAM_SERVER_NONCE ",p="));
	g_assert_cmpstr(client_final, !=, MS_TEST_SCRAM_CLIENT_FINAL);
}

static void
ms_sasl_scram_bad_use_func(void)
{
	g_autoptr(MsSaslScram) scram = ms_sasl_scram_new("user", "pencil", MS_TEST_SCRAM_NONCE);
	g_autoptr(MsSaslScram) bad_nonce = NULL;
	g_autoptr(MsSaslScram) empty_user = NULL;
	g_autofree gchar *server_final = ms_test_base64(MS_TEST_SCRAM_SERVER_FINAL);
	gboolean ret;

	/* a nonce with ',' would break the message apart */
	g_test_expect_message("MsSasl", G_LOG_LEVEL_CRITICAL, "*assertion*client_nonce*failed*");
	bad_nonce = ms_sasl_scram_new("user", "pencil", "a,b");
	g_test_assert_expected_messages();
	g_assert_null(bad_nonce);

	g_test_expect_message("MsSasl", G_LOG_LEVEL_CRITICAL, "*assertion*username*failed*");
	empty_user = ms_sasl_scram_new("", "pencil", NULL);
	g_test_assert_expected_messages();
	g_assert_null(empty_user);

	/* the server-final means nothing before the client-final */
	g_test_expect_message("MsSasl", G_LOG_LEVEL_CRITICAL, "*assertion*failed*");
	ret = ms_sasl_scram_verify_server_final(scram, server_final, NULL);
	g_test_assert_expected_messages();
	g_assert_false(ret);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/mail-sender/sasl/plain", ms_sasl_plain_func);
	g_test_add_func("/mail-sender/sasl/plain-empty-password",
			ms_sasl_plain_empty_password_func);
	g_test_add_func("/mail-sender/sasl/plain-empty-username",
			ms_sasl_plain_empty_username_func);
	g_test_add_func("/mail-sender/sasl/login", ms_sasl_login_func);
	g_test_add_func("/mail-sender/sasl/cram-md5", ms_sasl_cram_md5_func);
	g_test_add_func("/mail-sender/sasl/cram-md5-bad-challenge",
			ms_sasl_cram_md5_bad_challenge_func);
	g_test_add_func("/mail-sender/sasl/xoauth2", ms_sasl_xoauth2_func);
	g_test_add_func("/mail-sender/sasl/secret-wipe", ms_sasl_secret_wipe_func);
	g_test_add_func("/mail-sender/sasl/scram-rfc7677", ms_sasl_scram_rfc7677_func);
	g_test_add_func("/mail-sender/sasl/scram-random-nonce", ms_sasl_scram_random_nonce_func);
	g_test_add_func("/mail-sender/sasl/scram-username-escape",
			ms_sasl_scram_username_escape_func);
	g_test_add_func("/mail-sender/sasl/scram-saslprep", ms_sasl_scram_saslprep_func);
	g_test_add_func("/mail-sender/sasl/scram-bad-server-first",
			ms_sasl_scram_bad_server_first_func);
	g_test_add_func("/mail-sender/sasl/scram-nul-server-first",
			ms_sasl_scram_nul_server_first_func);
	g_test_add_func("/mail-sender/sasl/scram-bad-server-final",
			ms_sasl_scram_bad_server_final_func);
	g_test_add_func("/mail-sender/sasl/scram-server-final-extensions",
			ms_sasl_scram_server_final_extensions_func);
	g_test_add_func("/mail-sender/sasl/scram-wrong-password",
			ms_sasl_scram_wrong_password_func);
	g_test_add_func("/mail-sender/sasl/scram-empty-password",
			ms_sasl_scram_empty_password_func);
	g_test_add_func("/mail-sender/sasl/scram-bad-use", ms_sasl_scram_bad_use_func);
	return g_test_run();
}
