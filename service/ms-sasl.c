#define G_LOG_DOMAIN "MsSasl"

#include "config.h"

#include <gio/gio.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
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

/* free a GString that held secret material; it may contain NULs (PLAIN), so it is wiped by
 * its allocated length, not up to the first NUL */
static void
ms_sasl_string_free_wiped(GString *plain)
{
	explicit_bzero(plain->str, plain->allocated_len);
	g_string_free(plain, TRUE);
}

/* base64 of a buffer holding secret material; the buffer is wiped and freed */
static gchar *
ms_sasl_encode_and_wipe(GString *plain)
{
	gchar *encoded = g_base64_encode((const guchar *)plain->str, plain->len);

	ms_sasl_string_free_wiped(plain);
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

/* RFC 5802 SCRAM-SHA-256 */

#define MS_SASL_SCRAM_HASH_LEN	     32 /* SHA-256 */
#define MS_SASL_SCRAM_NONCE_LEN	     24 /* random bytes, before base64 */
#define MS_SASL_SCRAM_ITERATIONS_MIN 4096
#define MS_SASL_SCRAM_ITERATIONS_MAX 10000000
/* no channel binding, no authzid: the gs2 header, and its base64 for the c= of client-final */
#define MS_SASL_SCRAM_GS2_HEADER	"n,,"
#define MS_SASL_SCRAM_GS2_HEADER_BASE64 "biws"

struct _MsSaslScram {
	gchar *saslname;	  /* the username, with ',' and '=' escaped */
	gchar *password;	  /* after SASLprep; wiped as soon as the proof is computed */
	gchar *client_nonce;	  /* printable ASCII without ',' */
	gchar *client_first_bare; /* "n=…,r=…": the start of the AuthMessage */
	guint8 server_signature[MS_SASL_SCRAM_HASH_LEN]; /* what the server must send as v= */
	gboolean has_server_signature;
};

/* the intermediate keys of RFC 5802 §3, on the stack and wiped when they go out of scope */
typedef struct {
	guint8 salted_password[MS_SASL_SCRAM_HASH_LEN];
	guint8 client_key[MS_SASL_SCRAM_HASH_LEN];
	guint8 stored_key[MS_SASL_SCRAM_HASH_LEN];
	guint8 client_signature[MS_SASL_SCRAM_HASH_LEN];
	guint8 client_proof[MS_SASL_SCRAM_HASH_LEN];
	guint8 server_key[MS_SASL_SCRAM_HASH_LEN];
} MsSaslScramKeys;

static void
ms_sasl_scram_keys_clear(MsSaslScramKeys *keys)
{
	explicit_bzero(keys, sizeof(*keys));
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(MsSaslScramKeys, ms_sasl_scram_keys_clear)

/* RFC 3454 table B.1, "commonly mapped to nothing" */
static gboolean
ms_sasl_is_mapped_to_nothing(gunichar c)
{
	return c == 0x00AD || c == 0x034F || c == 0x1806 || (c >= 0x180B && c <= 0x180D) ||
	       (c >= 0x200B && c <= 0x200D) || c == 0x2060 || (c >= 0xFE00 && c <= 0xFE0F) ||
	       c == 0xFEFF;
}

/* RFC 4013 SASLprep as far as GLib goes: B.1 characters are dropped, other spaces become
 * U+0020, then NFKC; the prohibited-output and bidi checks are left out, since a password that
 * fails them is refused by the server anyway. GLib's normalizer keeps internal copies we
 * cannot wipe; every copy we own is wiped. */
static gchar *
ms_sasl_saslprep(const gchar *password)
{
	GString *mapped = NULL;
	gchar *prepared = NULL;

	/* not UTF-8 (a legacy 8-bit password): the bytes as they are are all we can send */
	if (!g_utf8_validate(password, -1, NULL))
		return g_strdup(password);

	/* mapping never makes the text longer, so the GString never reallocates */
	mapped = g_string_sized_new(strlen(password));
	for (const gchar *p = password; *p != '\0'; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);

		if (ms_sasl_is_mapped_to_nothing(c))
			continue;
		if (c != ' ' && g_unichar_type(c) == G_UNICODE_SPACE_SEPARATOR)
			c = ' ';
		g_string_append_unichar(mapped, c);
	}
	prepared = g_utf8_normalize(mapped->str, mapped->len, G_NORMALIZE_NFKC);
	ms_sasl_string_free_wiped(mapped);
	return prepared;
}

/* RFC 5802 §5.1: a saslname carries ',' as "=2C" and '=' as "=3D" */
static gchar *
ms_sasl_scram_escape_username(const gchar *username)
{
	GString *str = g_string_sized_new(strlen(username));

	for (const gchar *p = username; *p != '\0'; p++) {
		if (*p == ',')
			g_string_append(str, "=2C");
		else if (*p == '=')
			g_string_append(str, "=3D");
		else
			g_string_append_c(str, *p);
	}
	return g_string_free(str, FALSE);
}

/* RFC 5802 §7: a nonce is printable ASCII except ',' */
static gboolean
ms_sasl_scram_is_printable(const gchar *text)
{
	if (text[0] == '\0')
		return FALSE;
	for (const gchar *p = text; *p != '\0'; p++) {
		guchar c = (guchar)*p;

		if (c < 0x21 || c > 0x7e || c == ',')
			return FALSE;
	}
	return TRUE;
}

/* the text of a base64 SCRAM message; SCRAM messages are text, so a NUL is refused too */
static gchar *
ms_sasl_scram_decode(const gchar *base64, const gchar *what, GError **error)
{
	g_autofree guchar *decoded = NULL;
	gsize decoded_len = 0;

	if (!ms_sasl_is_base64(base64)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s is not base64", what);
		return NULL;
	}
	decoded = g_base64_decode(base64, &decoded_len);
	if (memchr(decoded, '\0', decoded_len) != NULL) {
		g_set_error(error,
			    G_IO_ERROR,
			    G_IO_ERROR_INVALID_DATA,
			    "%s contains a NUL byte",
			    what);
		return NULL;
	}
	return g_strndup((const gchar *)decoded, decoded_len);
}

/* the value of the attribute at index idx if it is "name=…", else NULL: RFC 5802 fixes the
 * order of the attributes, so a lookup by name would accept messages the RFC does not */
static const gchar *
ms_sasl_scram_attribute(gchar **attrs, guint idx, gchar name)
{
	for (guint i = 0; i <= idx; i++) {
		if (attrs[i] == NULL)
			return NULL;
	}
	if (attrs[idx][0] != name || attrs[idx][1] != '=')
		return NULL;
	return attrs[idx] + 2;
}

MsSaslScram *
ms_sasl_scram_new(const gchar *username, const gchar *password, const gchar *client_nonce)
{
	g_autoptr(MsSaslScram) self = NULL;

	g_return_val_if_fail(username != NULL, NULL);
	g_return_val_if_fail(username[0] != '\0', NULL);
	g_return_val_if_fail(password != NULL, NULL);
	g_return_val_if_fail(client_nonce == NULL || ms_sasl_scram_is_printable(client_nonce),
			     NULL);

	self = g_new0(MsSaslScram, 1);
	self->saslname = ms_sasl_scram_escape_username(username);
	self->password = ms_sasl_saslprep(password);
	if (client_nonce != NULL) {
		self->client_nonce = g_strdup(client_nonce);
	} else {
		guint8 nonce[MS_SASL_SCRAM_NONCE_LEN] = {0};
		gint rc = gnutls_rnd(GNUTLS_RND_NONCE, nonce, sizeof(nonce));

		/* only when the system has no randomness at all: nothing the caller can fix */
		if (rc < 0) {
			g_critical("no random bytes for the SCRAM nonce: %s", gnutls_strerror(rc));
			return NULL;
		}
		self->client_nonce = g_base64_encode(nonce, sizeof(nonce));
	}
	self->client_first_bare = g_strdup_printf("n=%s,r=%s", self->saslname, self->client_nonce);
	return g_steal_pointer(&self);
}

gchar *
ms_sasl_scram_client_first(MsSaslScram *self)
{
	g_autofree gchar *message = NULL;

	g_return_val_if_fail(self != NULL, NULL);

	message = g_strdup_printf(MS_SASL_SCRAM_GS2_HEADER "%s", self->client_first_bare);
	return g_base64_encode((const guchar *)message, strlen(message));
}

/* RFC 5802 §3: every key from the password, and the proof for this AuthMessage */
static gboolean
ms_sasl_scram_derive(MsSaslScram *self,
		     const guchar *salt,
		     gsize salt_len,
		     guint iterations,
		     const gchar *auth_message,
		     MsSaslScramKeys *keys,
		     GError **error)
{
	const gnutls_datum_t password = {(guchar *)self->password, strlen(self->password)};
	const gnutls_datum_t salt_datum = {(guchar *)salt, salt_len};
	gsize auth_message_len = strlen(auth_message);
	gint rc;

	rc = gnutls_pbkdf2(GNUTLS_MAC_SHA256,
			   &password,
			   &salt_datum,
			   iterations,
			   keys->salted_password,
			   sizeof(keys->salted_password));
	if (rc >= 0)
		rc = gnutls_hmac_fast(GNUTLS_MAC_SHA256,
				      keys->salted_password,
				      sizeof(keys->salted_password),
				      "Client Key",
				      strlen("Client Key"),
				      keys->client_key);
	if (rc >= 0)
		rc = gnutls_hash_fast(GNUTLS_DIG_SHA256,
				      keys->client_key,
				      sizeof(keys->client_key),
				      keys->stored_key);
	if (rc >= 0)
		rc = gnutls_hmac_fast(GNUTLS_MAC_SHA256,
				      keys->stored_key,
				      sizeof(keys->stored_key),
				      auth_message,
				      auth_message_len,
				      keys->client_signature);
	if (rc >= 0)
		rc = gnutls_hmac_fast(GNUTLS_MAC_SHA256,
				      keys->salted_password,
				      sizeof(keys->salted_password),
				      "Server Key",
				      strlen("Server Key"),
				      keys->server_key);
	if (rc >= 0)
		rc = gnutls_hmac_fast(GNUTLS_MAC_SHA256,
				      keys->server_key,
				      sizeof(keys->server_key),
				      auth_message,
				      auth_message_len,
				      self->server_signature);
	if (rc < 0) {
		g_set_error(error,
			    G_IO_ERROR,
			    G_IO_ERROR_FAILED,
			    "SCRAM key derivation failed: %s",
			    gnutls_strerror(rc));
		return FALSE;
	}
	for (gsize i = 0; i < sizeof(keys->client_proof); i++)
		keys->client_proof[i] = keys->client_key[i] ^ keys->client_signature[i];
	self->has_server_signature = TRUE;
	return TRUE;
}

gchar *
ms_sasl_scram_client_final(MsSaslScram *self, const gchar *server_first, GError **error)
{
	g_auto(MsSaslScramKeys) keys = {0};
	g_autofree gchar *decoded = NULL;
	g_auto(GStrv) attrs = NULL;
	g_autofree guchar *salt = NULL;
	g_autofree gchar *without_proof = NULL;
	g_autofree gchar *auth_message = NULL;
	g_autoptr(MsSaslSecret) proof = NULL;
	g_autoptr(MsSaslSecret) final = NULL;
	g_autoptr(GError) error_local = NULL;
	const gchar *nonce = NULL;
	const gchar *salt_base64 = NULL;
	const gchar *iterations_text = NULL;
	gsize salt_len = 0;
	guint64 iterations = 0;

	g_return_val_if_fail(self != NULL, NULL);
	g_return_val_if_fail(server_first != NULL, NULL);
	g_return_val_if_fail(!self->has_server_signature, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	decoded = ms_sasl_scram_decode(server_first, "SCRAM server-first message", error);
	if (decoded == NULL)
		return NULL;
	attrs = g_strsplit(decoded, ",", -1);

	/* RFC 5802 §5.1: "m=" announces an extension the client must understand; we know none */
	if (ms_sasl_scram_attribute(attrs, 0, 'm') != NULL) {
		g_set_error_literal(error,
				    G_IO_ERROR,
				    G_IO_ERROR_INVALID_DATA,
				    "SCRAM server requires an unsupported extension (m=)");
		return NULL;
	}
	nonce = ms_sasl_scram_attribute(attrs, 0, 'r');
	if (nonce == NULL) {
		g_set_error_literal(error,
				    G_IO_ERROR,
				    G_IO_ERROR_INVALID_DATA,
				    "SCRAM server-first message has no nonce (r=)");
		return NULL;
	}
	/* the server appends its own part: the same nonce back would make a replay possible */
	if (!g_str_has_prefix(nonce, self->client_nonce) ||
	    strlen(nonce) == strlen(self->client_nonce)) {
		g_set_error_literal(error,
				    G_IO_ERROR,
				    G_IO_ERROR_INVALID_DATA,
				    "SCRAM server nonce does not extend the client nonce");
		return NULL;
	}
	if (!ms_sasl_scram_is_printable(nonce)) {
		g_set_error_literal(error,
				    G_IO_ERROR,
				    G_IO_ERROR_INVALID_DATA,
				    "SCRAM server nonce is not printable ASCII");
		return NULL;
	}
	salt_base64 = ms_sasl_scram_attribute(attrs, 1, 's');
	if (salt_base64 == NULL) {
		g_set_error_literal(error,
				    G_IO_ERROR,
				    G_IO_ERROR_INVALID_DATA,
				    "SCRAM server-first message has no salt (s=)");
		return NULL;
	}
	if (!ms_sasl_is_base64(salt_base64)) {
		g_set_error_literal(error,
				    G_IO_ERROR,
				    G_IO_ERROR_INVALID_DATA,
				    "SCRAM salt is not base64");
		return NULL;
	}
	iterations_text = ms_sasl_scram_attribute(attrs, 2, 'i');
	if (iterations_text == NULL) {
		g_set_error_literal(error,
				    G_IO_ERROR,
				    G_IO_ERROR_INVALID_DATA,
				    "SCRAM server-first message has no iteration count (i=)");
		return NULL;
	}
	/* bounded: PBKDF2 runs on the main loop, and a hostile server must not make us spin */
	if (!g_ascii_string_to_unsigned(iterations_text,
					10,
					MS_SASL_SCRAM_ITERATIONS_MIN,
					MS_SASL_SCRAM_ITERATIONS_MAX,
					&iterations,
					&error_local)) {
		if (g_error_matches(error_local,
				    G_NUMBER_PARSER_ERROR,
				    G_NUMBER_PARSER_ERROR_OUT_OF_BOUNDS)) {
			g_set_error(error,
				    G_IO_ERROR,
				    G_IO_ERROR_INVALID_DATA,
				    "SCRAM iteration count %s is out of range (%u to %u)",
				    iterations_text,
				    (guint)MS_SASL_SCRAM_ITERATIONS_MIN,
				    (guint)MS_SASL_SCRAM_ITERATIONS_MAX);
			return NULL;
		}
		g_set_error_literal(error,
				    G_IO_ERROR,
				    G_IO_ERROR_INVALID_DATA,
				    "SCRAM iteration count is not a number");
		return NULL;
	}
	salt = g_base64_decode(salt_base64, &salt_len);

	/* RFC 5802 §3: AuthMessage = client-first-bare "," server-first "," client-final
	 * without its proof */
	without_proof = g_strdup_printf("c=" MS_SASL_SCRAM_GS2_HEADER_BASE64 ",r=%s", nonce);
	auth_message = g_strdup_printf("%s,%s,%s", self->client_first_bare, decoded, without_proof);
	if (!ms_sasl_scram_derive(self,
				  salt,
				  salt_len,
				  (guint)iterations,
				  auth_message,
				  &keys,
				  error))
		return NULL;

	/* the password is not needed any more: one object per exchange */
	ms_sasl_secret_free(g_steal_pointer(&self->password));

	proof = g_base64_encode(keys.client_proof, sizeof(keys.client_proof));
	final = g_strdup_printf("%s,p=%s", without_proof, proof);
	return g_base64_encode((const guchar *) final, strlen(final));
}

gboolean
ms_sasl_scram_verify_server_final(MsSaslScram *self, const gchar *server_final, GError **error)
{
	g_autofree gchar *decoded = NULL;
	g_auto(GStrv) attrs = NULL;
	g_autofree guchar *signature = NULL;
	const gchar *value = NULL;
	gsize signature_len = 0;
	guint8 diff = 0;

	g_return_val_if_fail(self != NULL, FALSE);
	g_return_val_if_fail(server_final != NULL, FALSE);
	g_return_val_if_fail(self->has_server_signature, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	decoded = ms_sasl_scram_decode(server_final, "SCRAM server-final message", error);
	if (decoded == NULL)
		return FALSE;
	attrs = g_strsplit(decoded, ",", -1);

	/* RFC 5802 §7: server-error = "e=" value, e.g. "invalid-proof" */
	value = ms_sasl_scram_attribute(attrs, 0, 'e');
	if (value != NULL) {
		g_autofree gchar *escaped = g_strescape(value, NULL);

		g_set_error(error,
			    G_IO_ERROR,
			    G_IO_ERROR_INVALID_DATA,
			    "SCRAM server refused the authentication: %s",
			    escaped);
		return FALSE;
	}
	value = ms_sasl_scram_attribute(attrs, 0, 'v');
	if (value == NULL) {
		g_set_error_literal(error,
				    G_IO_ERROR,
				    G_IO_ERROR_INVALID_DATA,
				    "SCRAM server-final message has no server signature (v=)");
		return FALSE;
	}
	if (!ms_sasl_is_base64(value)) {
		g_set_error_literal(error,
				    G_IO_ERROR,
				    G_IO_ERROR_INVALID_DATA,
				    "SCRAM server signature is not base64");
		return FALSE;
	}
	signature = g_base64_decode(value, &signature_len);

	/* constant time, so the timing tells nothing about the expected signature */
	if (signature_len == sizeof(self->server_signature)) {
		for (gsize i = 0; i < signature_len; i++)
			diff |= signature[i] ^ self->server_signature[i];
	}
	if (signature_len != sizeof(self->server_signature) || diff != 0) {
		g_set_error_literal(
		    error,
		    G_IO_ERROR,
		    G_IO_ERROR_INVALID_DATA,
		    "SCRAM server signature does not match: the server did not prove "
		    "it knows the password");
		return FALSE;
	}
	return TRUE;
}

void
ms_sasl_scram_free(MsSaslScram *self)
{
	if (self == NULL)
		return;
	ms_sasl_secret_free(self->password);
	g_free(self->saslname);
	g_free(self->client_nonce);
	g_free(self->client_first_bare);
	/* the server signature is derived from the salted password */
	explicit_bzero(self, sizeof(*self));
	g_free(self);
}
