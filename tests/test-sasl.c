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
	return g_test_run();
}
