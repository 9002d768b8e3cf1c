#define G_LOG_DOMAIN "MsSasl"

#include "config.h"

#include <gio/gio.h>
#include <string.h>

#include "ms-sasl.h"

void
ms_sasl_secret_wipe(gchar *secret)
{
	volatile gchar *p = secret;

	if (secret == NULL)
		return;
	/* explicit_bzero is not in every libc; a volatile store cannot be optimised away either */
	while (*p != '\0')
		*p++ = '\0';
}

void
ms_sasl_secret_free(gchar *secret)
{
	ms_sasl_secret_wipe(secret);
	g_free(secret);
}

/* base64 of a buffer holding secret material; the buffer is wiped and freed */
static gchar *
ms_sasl_encode_and_wipe(GString *plain)
{
	gchar *encoded = g_base64_encode((const guchar *)plain->str, plain->len);
	volatile gchar *p = plain->str;

	/* the buffer may contain NULs (PLAIN), so wipe by length, not up to the first NUL */
	for (gsize i = 0; i < plain->allocated_len; i++)
		p[i] = '\0';
	g_string_free(plain, TRUE);
	return encoded;
}

gchar *
ms_sasl_plain_response(const gchar *username, const gchar *password)
{
	GString *plain = NULL;

	g_return_val_if_fail(username != NULL, NULL);
	g_return_val_if_fail(username[0] != '\0', NULL);
	g_return_val_if_fail(password != NULL, NULL);

	/* authzid (empty: act as the authenticated user) NUL authcid NUL passwd; sized up
	 * front so GString never reallocates and leaves an unwiped copy behind */
	plain = g_string_sized_new(strlen(username) + strlen(password) + 3);
	g_string_append_c(plain, '\0');
	g_string_append(plain, username);
	g_string_append_c(plain, '\0');
	g_string_append(plain, password);
	return ms_sasl_encode_and_wipe(plain);
}

gchar *
ms_sasl_login_response(const gchar *value)
{
	g_return_val_if_fail(value != NULL, NULL);
	return g_base64_encode((const guchar *)value, strlen(value));
}

/* strict RFC 4648 check: g_base64_decode() silently skips anything outside the alphabet */
static gboolean
ms_sasl_is_base64(const gchar *text)
{
	gsize len = strlen(text);
	gsize padding = 0;

	if (len == 0 || len % 4 != 0)
		return FALSE;
	for (gsize i = 0; i < len; i++) {
		if (text[i] == '=' && i >= len - 2) {
			padding++;
			continue;
		}
		if (padding > 0)
			return FALSE;
		if (!g_ascii_isalnum(text[i]) && text[i] != '+' && text[i] != '/')
			return FALSE;
	}
	return TRUE;
}

gchar *
ms_sasl_cram_md5_response(const gchar *username,
			  const gchar *password,
			  const gchar *challenge,
			  GError **error)
{
	g_autoptr(GHmac) hmac = NULL;
	g_autofree guchar *decoded = NULL;
	gsize decoded_len = 0;
	GString *plain = NULL;

	g_return_val_if_fail(username != NULL, NULL);
	g_return_val_if_fail(username[0] != '\0', NULL);
	g_return_val_if_fail(password != NULL, NULL);
	g_return_val_if_fail(challenge != NULL, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	if (!ms_sasl_is_base64(challenge)) {
		g_set_error_literal(error,
				    G_IO_ERROR,
				    G_IO_ERROR_INVALID_DATA,
				    "CRAM-MD5 challenge is not base64");
		return NULL;
	}
	decoded = g_base64_decode(challenge, &decoded_len);

	/* RFC 2195: username SP lowercase-hex(HMAC-MD5(password, challenge)) */
	hmac = g_hmac_new(G_CHECKSUM_MD5, (const guchar *)password, strlen(password));
	g_hmac_update(hmac, decoded, decoded_len);
	plain = g_string_sized_new(strlen(username) + 1 + 32 + 1);
	g_string_append(plain, username);
	g_string_append_c(plain, ' ');
	g_string_append(plain, g_hmac_get_string(hmac));
	return ms_sasl_encode_and_wipe(plain);
}

gchar *
ms_sasl_xoauth2_response(const gchar *username, const gchar *access_token)
{
	GString *plain = NULL;

	g_return_val_if_fail(username != NULL, NULL);
	g_return_val_if_fail(username[0] != '\0', NULL);
	g_return_val_if_fail(access_token != NULL, NULL);
	g_return_val_if_fail(access_token[0] != '\0', NULL);

	/* "user=" user ^A "auth=Bearer " token ^A ^A, as Google and Microsoft document it */
	plain = g_string_sized_new(strlen(username) + strlen(access_token) + 24);
	g_string_append_printf(plain, "user=%s\001auth=Bearer %s\001\001", username, access_token);
	return ms_sasl_encode_and_wipe(plain);
}
