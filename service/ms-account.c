#define G_LOG_DOMAIN "MsAccount"

#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "ms-account.h"
#include "ms-address.h"

struct _MsAccount {
	GObject parent_instance;
	gchar *name;
	gchar *host;
	guint16 port;	     /* resolved, never 0 once constructed */
	MsSecurity security; /* resolved, never MS_SECURITY_AUTO once constructed */
	MsAuthMethod auth;
	gchar *username;
	gchar *from;
	gchar *helo_name;
	gchar *ca_file;
	gchar *tls_fingerprint;
	gboolean tls_verify;
	gboolean allow_plaintext_auth;
	guint timeout;
	guint max_connections;
	guint rate_limit;
	guint max_attempts;
	guint64 max_age;
	guint retry_delay;
	GStrv notify_to;
	guint notify_coalesce;
	GStrv allowed_users;
	GStrv allowed_groups;
	gboolean allow_from_override;
	gchar *password_file;
};

G_DEFINE_TYPE(MsAccount, ms_account, G_TYPE_OBJECT)

/* the defaults of the DESIGN.md table */
#define MS_ACCOUNT_DEFAULT_HOST		   "localhost"
#define MS_ACCOUNT_DEFAULT_TIMEOUT	   30
#define MS_ACCOUNT_DEFAULT_MAX_CONNECTIONS 2
#define MS_ACCOUNT_DEFAULT_RATE_LIMIT	   0
#define MS_ACCOUNT_DEFAULT_MAX_ATTEMPTS	   10
#define MS_ACCOUNT_DEFAULT_MAX_AGE	   (3 * 24 * 3600)
#define MS_ACCOUNT_DEFAULT_RETRY_DELAY	   60
#define MS_ACCOUNT_DEFAULT_NOTIFY_COALESCE 300

/* longest max-age we accept: a job older than a year is not "being retried" any more */
#define MS_ACCOUNT_MAX_AGE_LIMIT (365 * 24 * 3600)

/* every key an [account NAME] group may hold; anything else is a typo we refuse */
static const gchar *const ms_account_keys[] = {
    "host",
    "port",
    "security",
    "auth",
    "username",
    "from",
    "helo-name",
    "ca-file",
    "tls-fingerprint",
    "tls-verify",
    "timeout",
    "max-connections",
    "rate-limit",
    "max-attempts",
    "max-age",
    "retry-delay",
    "notify-to",
    "notify-coalesce",
    "allowed-users",
    "allowed-groups",
    "allow-from-override",
    "password-file",
    "allow-plaintext-auth",
};

static const gchar *const ms_security_names[] = {
    "auto",
    "tls",
    "starttls",
    "starttls-opportunistic",
    "none",
};
G_STATIC_ASSERT(G_N_ELEMENTS(ms_security_names) == MS_SECURITY_NONE + 1);

static const gchar *const ms_auth_method_names[] = {
    "auto",
    "none",
    "plain",
    "login",
    "cram-md5",
    "scram-sha-256",
    "xoauth2",
};
G_STATIC_ASSERT(G_N_ELEMENTS(ms_auth_method_names) == MS_AUTH_XOAUTH2 + 1);

const gchar *
ms_security_to_string(MsSecurity security)
{
	g_return_val_if_fail(security <= MS_SECURITY_NONE, NULL);
	return ms_security_names[security];
}

const gchar *
ms_auth_method_to_string(MsAuthMethod auth)
{
	g_return_val_if_fail(auth <= MS_AUTH_XOAUTH2, NULL);
	return ms_auth_method_names[auth];
}

/* a value quoted in an error message or a log line: control characters could forge log lines
 * or terminal escapes, and a huge value would drown the message */
static gchar *
ms_account_quote(const gchar *value)
{
	GString *str = g_string_new(NULL);
	glong len = 0;

	for (const gchar *p = value; *p != '\0'; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);
		if (len++ >= 64) {
			g_string_append(str, "…");
			break;
		}
		if (g_unichar_iscntrl(c))
			g_string_append_c(str, '?');
		else
			g_string_append_unichar(str, c);
	}
	return g_string_free(str, FALSE);
}

/* every error about a value reads "account 'NAME': key 'KEY': what is wrong" */
static gboolean
ms_account_set_error(GError **error, const gchar *name, const gchar *key, const gchar *format, ...)
    G_GNUC_PRINTF(4, 5);

static gboolean
ms_account_set_error(GError **error, const gchar *name, const gchar *key, const gchar *format, ...)
{
	va_list args;
	g_autofree gchar *what = NULL;

	va_start(args, format);
	what = g_strdup_vprintf(format, args);
	va_end(args);
	g_set_error(error,
		    G_KEY_FILE_ERROR,
		    G_KEY_FILE_ERROR_INVALID_VALUE,
		    /* TRANSLATORS: the last part says what is wrong with the value */
		    _("account '%s': key '%s': %s"),
		    name,
		    key,
		    what);
	return FALSE;
}

static gboolean
ms_account_has_cntrl(const gchar *value)
{
	for (const gchar *p = value; *p != '\0'; p = g_utf8_next_char(p)) {
		if (g_unichar_iscntrl(g_utf8_get_char(p)))
			return TRUE;
	}
	return FALSE;
}

static gboolean
ms_account_has_space_or_cntrl(const gchar *value)
{
	for (const gchar *p = value; *p != '\0'; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);
		if (g_unichar_iscntrl(c) || g_unichar_isspace(c))
			return TRUE;
	}
	return FALSE;
}

/* a domain as RFC 5321 wants it after EHLO: dot-separated labels of letters, digits and
 * hyphens, neither starting nor ending with a hyphen */
static gboolean
ms_account_is_valid_hostname(const gchar *value)
{
	gsize label_len = 0;
	gsize len = strlen(value);

	if (len == 0 || len > 253)
		return FALSE;
	for (gsize i = 0; i <= len; i++) {
		gchar c = value[i];
		if (c == '.' || c == '\0') {
			if (label_len == 0 || label_len > 63 || value[i - 1] == '-')
				return FALSE;
			label_len = 0;
			continue;
		}
		if (!g_ascii_isalnum(c) && c != '-')
			return FALSE;
		if (label_len == 0 && c == '-')
			return FALSE;
		label_len++;
	}
	return TRUE;
}

/* "[192.0.2.1]" or "[IPv6:2001:db8::1]" */
static gboolean
ms_account_is_valid_address_literal(const gchar *value)
{
	gsize len = strlen(value);
	g_autofree gchar *inner = NULL;
	g_autoptr(GInetAddress) addr = NULL;

	if (len < 3 || value[0] != '[' || value[len - 1] != ']')
		return FALSE;
	inner = g_strndup(value + 1, len - 2);
	if (g_ascii_strncasecmp(inner, "IPv6:", 5) == 0) {
		addr = g_inet_address_new_from_string(inner + 5);
		return addr != NULL && g_inet_address_get_family(addr) == G_SOCKET_FAMILY_IPV6;
	}
	addr = g_inet_address_new_from_string(inner);
	return addr != NULL && g_inet_address_get_family(addr) == G_SOCKET_FAMILY_IPV4;
}

/* the EHLO default: we do not ask the resolver for the canonical name, because this runs at
 * start-up and must not block on DNS; a hostname without a dot is used as it is */
static const gchar *
ms_account_default_fqdn(void)
{
	const gchar *hostname = g_get_host_name();
	if (!ms_account_is_valid_hostname(hostname))
		return "localhost";
	return hostname;
}

static gboolean
ms_account_host_is_loopback(const gchar *host)
{
	g_autofree gchar *lower = g_ascii_strdown(host, -1);
	g_autoptr(GInetAddress) addr = NULL;
	gsize len = strlen(lower);

	/* "localhost." is the same name, written fully qualified */
	if (len > 1 && lower[len - 1] == '.')
		lower[len - 1] = '\0';
	if (g_strcmp0(lower, "localhost") == 0 || g_strcmp0(lower, "localhost.localdomain") == 0)
		return TRUE;
	addr = g_inet_address_new_from_string(lower);
	return addr != NULL && g_inet_address_get_is_loopback(addr);
}

/* security=auto and the port default, decided once so that nobody else has to */
static void
ms_account_resolve(MsAccount *self)
{
	if (self->security == MS_SECURITY_AUTO) {
		if (self->port == 465)
			self->security = MS_SECURITY_TLS;
		else if (ms_account_host_is_loopback(self->host))
			self->security = MS_SECURITY_STARTTLS_OPPORTUNISTIC;
		else
			self->security = MS_SECURITY_STARTTLS;
	}
	if (self->port == 0) {
		if (self->security == MS_SECURITY_TLS)
			self->port = 465;
		else if (self->security == MS_SECURITY_STARTTLS)
			self->port = 587;
		else
			self->port = 25;
	}
}

/* classic Levenshtein distance; only used on key names, which are short */
static guint
ms_account_edit_distance(const gchar *a, const gchar *b)
{
	gsize len_a = strlen(a);
	gsize len_b = strlen(b);
	g_autofree guint *row = g_new(guint, len_b + 1);

	for (gsize j = 0; j <= len_b; j++)
		row[j] = j;
	for (gsize i = 1; i <= len_a; i++) {
		guint diag = row[0];
		row[0] = i;
		for (gsize j = 1; j <= len_b; j++) {
			guint up = row[j];
			guint cost = g_ascii_tolower(a[i - 1]) == g_ascii_tolower(b[j - 1]) ? 0 : 1;
			row[j] = MIN(MIN(row[j - 1] + 1, up + 1), diag + cost);
			diag = up;
		}
	}
	return row[len_b];
}

static const gchar *
ms_account_suggest_key(const gchar *key)
{
	const gchar *best = NULL;
	guint best_distance = 3;

	/* a long key cannot be within 2 edits of any of ours */
	if (strlen(key) > 64)
		return NULL;
	for (guint i = 0; i < G_N_ELEMENTS(ms_account_keys); i++) {
		guint distance = ms_account_edit_distance(key, ms_account_keys[i]);
		if (distance < best_distance) {
			best_distance = distance;
			best = ms_account_keys[i];
		}
	}
	return best;
}

static gboolean
ms_account_key_is_valid(const gchar *key)
{
	for (guint i = 0; i < G_N_ELEMENTS(ms_account_keys); i++) {
		if (g_strcmp0(key, ms_account_keys[i]) == 0)
			return TRUE;
	}
	return FALSE;
}

static gboolean
ms_account_check_keys(GKeyFile *keyfile, const gchar *group, const gchar *name, GError **error)
{
	g_auto(GStrv) keys = g_key_file_get_keys(keyfile, group, NULL, error);

	if (keys == NULL)
		return FALSE;
	for (guint i = 0; keys[i] != NULL; i++) {
		const gchar *suggestion = NULL;
		g_autofree gchar *quoted = NULL;

		if (ms_account_key_is_valid(keys[i]))
			continue;
		quoted = ms_account_quote(keys[i]);
		suggestion = ms_account_suggest_key(keys[i]);
		if (suggestion != NULL) {
			return ms_account_set_error(error,
						    name,
						    quoted,
						    _("unknown key, did you mean '%s'?"),
						    suggestion);
		}
		return ms_account_set_error(error, name, quoted, "%s", _("unknown key"));
	}
	return TRUE;
}

/* the value of KEY with surrounding whitespace removed, or NULL with no error if the key is not
 * there; escapes are decoded, so "\n" in the file is a real newline here and must be refused by
 * whoever does not want one */
static gchar *
ms_account_get_string(GKeyFile *keyfile,
		      const gchar *group,
		      const gchar *name,
		      const gchar *key,
		      GError **error)
{
	g_autoptr(GError) error_local = NULL;
	g_autofree gchar *value = NULL;

	if (!g_key_file_has_key(keyfile, group, key, NULL))
		return NULL;
	value = g_key_file_get_string(keyfile, group, key, &error_local);
	if (value == NULL) {
		/* keeps the code, G_KEY_FILE_ERROR_UNKNOWN_ENCODING for a value that is not UTF-8
		 */
		g_propagate_prefixed_error(error,
					   g_steal_pointer(&error_local),
					   _("account '%s': key '%s': "),
					   name,
					   key);
		return NULL;
	}
	return g_strdup(g_strstrip(value));
}

static gboolean
ms_account_parse_uint(GKeyFile *keyfile,
		      const gchar *group,
		      const gchar *name,
		      const gchar *key,
		      guint min,
		      guint max,
		      guint *out,
		      GError **error)
{
	g_autoptr(GError) error_local = NULL;
	g_autofree gchar *value = NULL;
	g_autofree gchar *quoted = NULL;
	guint64 tmp = 0;

	value = ms_account_get_string(keyfile, group, name, key, &error_local);
	if (value == NULL) {
		if (error_local != NULL) {
			g_propagate_error(error, g_steal_pointer(&error_local));
			return FALSE;
		}
		return TRUE;
	}
	if (g_ascii_string_to_unsigned(value, 10, min, max, &tmp, NULL)) {
		*out = (guint)tmp;
		return TRUE;
	}
	quoted = ms_account_quote(value);
	return ms_account_set_error(error,
				    name,
				    key,
				    _("'%s' is not a whole number from %u to %u"),
				    quoted,
				    min,
				    max);
}

static gboolean
ms_account_parse_bool(GKeyFile *keyfile,
		      const gchar *group,
		      const gchar *name,
		      const gchar *key,
		      gboolean *out,
		      GError **error)
{
	g_autoptr(GError) error_local = NULL;
	g_autofree gchar *value = NULL;
	g_autofree gchar *quoted = NULL;

	value = ms_account_get_string(keyfile, group, name, key, &error_local);
	if (value == NULL) {
		if (error_local != NULL) {
			g_propagate_error(error, g_steal_pointer(&error_local));
			return FALSE;
		}
		return TRUE;
	}
	/* the same spellings as g_key_file_get_boolean() */
	if (g_strcmp0(value, "true") == 0 || g_strcmp0(value, "1") == 0) {
		*out = TRUE;
		return TRUE;
	}
	if (g_strcmp0(value, "false") == 0 || g_strcmp0(value, "0") == 0) {
		*out = FALSE;
		return TRUE;
	}
	quoted = ms_account_quote(value);
	return ms_account_set_error(error,
				    name,
				    key,
				    _("'%s' is not a boolean (expected true or false)"),
				    quoted);
}

static gboolean
ms_account_parse_enum(GKeyFile *keyfile,
		      const gchar *group,
		      const gchar *name,
		      const gchar *key,
		      const gchar *const *names,
		      guint n_names,
		      guint *out,
		      GError **error)
{
	g_autoptr(GError) error_local = NULL;
	g_autofree gchar *value = NULL;
	g_autofree gchar *quoted = NULL;
	g_autoptr(GString) str = g_string_new(NULL);

	value = ms_account_get_string(keyfile, group, name, key, &error_local);
	if (value == NULL) {
		if (error_local != NULL) {
			g_propagate_error(error, g_steal_pointer(&error_local));
			return FALSE;
		}
		return TRUE;
	}
	for (guint i = 0; i < n_names; i++) {
		if (g_strcmp0(value, names[i]) == 0) {
			*out = i;
			return TRUE;
		}
		if (str->len > 0)
			g_string_append(str, ", ");
		g_string_append(str, names[i]);
	}
	quoted = ms_account_quote(value);
	return ms_account_set_error(error,
				    name,
				    key,
				    _("unknown value '%s' (expected one of %s)"),
				    quoted,
				    str->str);
}

/* "3600", "90s", "30m", "12h" or "3d" */
static gboolean
ms_account_parse_duration(GKeyFile *keyfile,
			  const gchar *group,
			  const gchar *name,
			  const gchar *key,
			  guint64 *out,
			  GError **error)
{
	g_autoptr(GError) error_local = NULL;
	g_autofree gchar *value = NULL;
	g_autofree gchar *number = NULL;
	g_autofree gchar *quoted = NULL;
	guint64 multiplier = 1;
	guint64 tmp = 0;
	gsize len;

	value = ms_account_get_string(keyfile, group, name, key, &error_local);
	if (value == NULL) {
		if (error_local != NULL) {
			g_propagate_error(error, g_steal_pointer(&error_local));
			return FALSE;
		}
		return TRUE;
	}
	len = strlen(value);
	number = g_strdup(value);
	if (len > 0) {
		switch (value[len - 1]) {
		case 's':
			multiplier = 1;
			number[len - 1] = '\0';
			break;
		case 'm':
			multiplier = 60;
			number[len - 1] = '\0';
			break;
		case 'h':
			multiplier = 3600;
			number[len - 1] = '\0';
			break;
		case 'd':
			multiplier = 24 * 3600;
			number[len - 1] = '\0';
			break;
		default:
			break;
		}
	}
	if (!g_ascii_string_to_unsigned(number,
					10,
					1,
					MS_ACCOUNT_MAX_AGE_LIMIT / multiplier,
					&tmp,
					NULL)) {
		quoted = ms_account_quote(value);
		return ms_account_set_error(
		    error,
		    name,
		    key,
		    _("'%s' is not a duration from 1 second to 365 days (seconds, or a number "
		      "followed by s, m, h or d, such as 3d)"),
		    quoted);
	}
	*out = tmp * multiplier;
	return TRUE;
}

/* addresses and names are separated by ',' or ';', except inside a quoted display name or an
 * angle-bracketed address, so that "\"Last, First\" <a@example.org>" stays one element */
static GStrv
ms_account_split_list(const gchar *value)
{
	g_autoptr(GPtrArray) items = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GString) item = g_string_new(NULL);
	gboolean in_quotes = FALSE;
	gboolean in_angle = FALSE;

	for (const gchar *p = value;; p++) {
		if (*p == '\0' || (!in_quotes && !in_angle && (*p == ',' || *p == ';'))) {
			g_autofree gchar *tmp = g_strstrip(g_strdup(item->str));
			if (tmp[0] != '\0')
				g_ptr_array_add(items, g_steal_pointer(&tmp));
			g_string_truncate(item, 0);
			if (*p == '\0')
				break;
			continue;
		}
		if (in_quotes && *p == '\\' && p[1] != '\0') {
			g_string_append_c(item, *p++);
		} else if (*p == '"') {
			in_quotes = !in_quotes;
		} else if (!in_quotes && *p == '<') {
			in_angle = TRUE;
		} else if (!in_quotes && *p == '>') {
			in_angle = FALSE;
		}
		g_string_append_c(item, *p);
	}
	g_ptr_array_add(items, NULL);
	return (GStrv)g_ptr_array_free(g_steal_pointer(&items), FALSE);
}

/* checks one element of a list key; the error names the account and the key */
typedef gboolean (*MsAccountItemCheckFunc)(const gchar *name,
					   const gchar *key,
					   const gchar *item,
					   GError **error);

static gboolean
ms_account_check_address(const gchar *name, const gchar *key, const gchar *item, GError **error)
{
	g_autoptr(GError) error_local = NULL;
	g_autoptr(MsAddress) address = ms_address_parse(item, &error_local);

	if (address == NULL)
		return ms_account_set_error(error, name, key, "%s", error_local->message);
	return TRUE;
}

/* user and group names, or numeric ids */
static gboolean
ms_account_check_user_name(const gchar *name, const gchar *key, const gchar *item, GError **error)
{
	g_autofree gchar *quoted = NULL;

	if (!ms_account_has_space_or_cntrl(item) && strchr(item, '"') == NULL)
		return TRUE;
	quoted = ms_account_quote(item);
	return ms_account_set_error(error,
				    name,
				    key,
				    _("'%s' is not a user or group name (separate names with ';')"),
				    quoted);
}

/* a ',' or ';' separated list key; *out is left alone when the key is absent */
static gboolean
ms_account_parse_list(GKeyFile *keyfile,
		      const gchar *group,
		      const gchar *name,
		      const gchar *key,
		      MsAccountItemCheckFunc check,
		      GStrv *out,
		      GError **error)
{
	g_autoptr(GError) error_local = NULL;
	g_autofree gchar *value = NULL;
	g_auto(GStrv) items = NULL;

	value = ms_account_get_string(keyfile, group, name, key, &error_local);
	if (value == NULL) {
		if (error_local != NULL) {
			g_propagate_error(error, g_steal_pointer(&error_local));
			return FALSE;
		}
		return TRUE;
	}
	items = ms_account_split_list(value);
	for (guint i = 0; items[i] != NULL; i++) {
		if (!check(name, key, items[i], error))
			return FALSE;
	}
	g_strfreev(*out);
	*out = g_steal_pointer(&items);
	return TRUE;
}

static gboolean
ms_account_parse_fingerprint(const gchar *name, const gchar *value, gchar **out, GError **error)
{
	g_autoptr(GString) hex = g_string_new(NULL);
	g_autofree gchar *quoted = NULL;

	for (const gchar *p = value; *p != '\0'; p++) {
		if (*p == ':')
			continue;
		if (!g_ascii_isxdigit(*p)) {
			quoted = ms_account_quote(value);
			return ms_account_set_error(
			    error,
			    name,
			    "tls-fingerprint",
			    _("'%s' is not a SHA-256 fingerprint: only hex digits and ':' are "
			      "allowed"),
			    quoted);
		}
		g_string_append_c(hex, g_ascii_tolower(*p));
	}
	if (hex->len != 64) {
		return ms_account_set_error(
		    error,
		    name,
		    "tls-fingerprint",
		    _("a SHA-256 fingerprint has 64 hex digits, this one has %u"),
		    (guint)hex->len);
	}
	*out = g_string_free(g_steal_pointer(&hex), FALSE);
	return TRUE;
}

/* checked now rather than at the first send, so that a typo stops the daemon at start-up
 * instead of failing every TLS handshake later */
static gboolean
ms_account_check_ca_file(const gchar *name, const gchar *path, GError **error)
{
	g_autoptr(GError) error_local = NULL;
	g_autoptr(GTlsDatabase) database = NULL;
	g_autofree gchar *contents = NULL;

	if (!g_file_get_contents(path, &contents, NULL, &error_local))
		return ms_account_set_error(error, name, "ca-file", "%s", error_local->message);
	if (strstr(contents, "-----BEGIN CERTIFICATE-----") == NULL) {
		return ms_account_set_error(error,
					    name,
					    "ca-file",
					    _("'%s' holds no PEM certificate"),
					    path);
	}

	/* without a TLS backend nothing can use the file anyway, and the TLS code says so */
	if (!g_tls_backend_supports_tls(g_tls_backend_get_default()))
		return TRUE;
	database = g_tls_file_database_new(path, &error_local);
	if (database == NULL) {
		return ms_account_set_error(error,
					    name,
					    "ca-file",
					    _("cannot load certificates from '%s': %s"),
					    path,
					    error_local->message);
	}
	return TRUE;
}

static gboolean
ms_account_load(MsAccount *self,
		GKeyFile *keyfile,
		const gchar *group,
		const gchar *base_dir,
		GError **error)
{
	const gchar *name = self->name;
	g_autoptr(GError) error_local = NULL;
	g_autofree gchar *value = NULL;
	guint tmp = 0;

	if (!ms_account_check_keys(keyfile, group, name, error))
		return FALSE;

	/* host */
	value = ms_account_get_string(keyfile, group, name, "host", &error_local);
	if (error_local != NULL) {
		g_propagate_error(error, g_steal_pointer(&error_local));
		return FALSE;
	}
	if (value != NULL) {
		if (value[0] == '\0')
			return ms_account_set_error(error,
						    name,
						    "host",
						    "%s",
						    _("empty host name"));
		if (ms_account_has_space_or_cntrl(value)) {
			g_autofree gchar *quoted = ms_account_quote(value);
			return ms_account_set_error(error,
						    name,
						    "host",
						    _("'%s' is not a host name"),
						    quoted);
		}
		g_free(self->host);
		self->host = g_steal_pointer(&value);
	}

	/* port: 0 until resolved, so that the security default can see it was not given */
	if (!ms_account_parse_uint(keyfile, group, name, "port", 1, G_MAXUINT16, &tmp, error))
		return FALSE;
	self->port = (guint16)tmp;

	tmp = self->security;
	if (!ms_account_parse_enum(keyfile,
				   group,
				   name,
				   "security",
				   ms_security_names,
				   G_N_ELEMENTS(ms_security_names),
				   &tmp,
				   error))
		return FALSE;
	self->security = tmp;

	tmp = self->auth;
	if (!ms_account_parse_enum(keyfile,
				   group,
				   name,
				   "auth",
				   ms_auth_method_names,
				   G_N_ELEMENTS(ms_auth_method_names),
				   &tmp,
				   error))
		return FALSE;
	self->auth = tmp;

	/* username: empty means none */
	value = ms_account_get_string(keyfile, group, name, "username", &error_local);
	if (error_local != NULL) {
		g_propagate_error(error, g_steal_pointer(&error_local));
		return FALSE;
	}
	if (value != NULL && ms_account_has_cntrl(value)) {
		return ms_account_set_error(error,
					    name,
					    "username",
					    "%s",
					    _("control characters are not allowed"));
	}
	if (value != NULL && value[0] != '\0')
		self->username = g_steal_pointer(&value);
	g_clear_pointer(&value, g_free);

	/* helo-name, before from, whose default does not depend on it */
	value = ms_account_get_string(keyfile, group, name, "helo-name", &error_local);
	if (error_local != NULL) {
		g_propagate_error(error, g_steal_pointer(&error_local));
		return FALSE;
	}
	if (value != NULL) {
		g_autofree gchar *quoted = ms_account_quote(value);
		if (g_hostname_is_ip_address(value)) {
			return ms_account_set_error(
			    error,
			    name,
			    "helo-name",
			    _("'%s' is an IP address: write it as an address literal, such as "
			      "[192.0.2.1] or [IPv6:2001:db8::1]"),
			    quoted);
		}
		if (!ms_account_is_valid_hostname(value) &&
		    !ms_account_is_valid_address_literal(value)) {
			return ms_account_set_error(
			    error,
			    name,
			    "helo-name",
			    _("'%s' is neither a host name nor an address literal"),
			    quoted);
		}
		g_free(self->helo_name);
		self->helo_name = g_steal_pointer(&value);
	}

	/* from */
	value = ms_account_get_string(keyfile, group, name, "from", &error_local);
	if (error_local != NULL) {
		g_propagate_error(error, g_steal_pointer(&error_local));
		return FALSE;
	}
	if (value != NULL) {
		g_autoptr(MsAddress) address = NULL;
		if (value[0] == '\0') {
			return ms_account_set_error(
			    error,
			    name,
			    "from",
			    "%s",
			    _("empty address: remove the key to use the default"));
		}
		address = ms_address_parse(value, &error_local);
		if (address == NULL)
			return ms_account_set_error(error,
						    name,
						    "from",
						    "%s",
						    error_local->message);
		g_free(self->from);
		self->from = g_steal_pointer(&value);
	}

	/* ca-file: relative to the directory of the accounts file */
	value = ms_account_get_string(keyfile, group, name, "ca-file", &error_local);
	if (error_local != NULL) {
		g_propagate_error(error, g_steal_pointer(&error_local));
		return FALSE;
	}
	if (value != NULL && value[0] != '\0') {
		g_autofree gchar *path = NULL;
		if (ms_account_has_cntrl(value)) {
			return ms_account_set_error(error,
						    name,
						    "ca-file",
						    "%s",
						    _("control characters are not allowed"));
		}
		path = g_canonicalize_filename(value, base_dir);
		if (!ms_account_check_ca_file(name, path, error))
			return FALSE;
		self->ca_file = g_steal_pointer(&path);
	}
	g_clear_pointer(&value, g_free);

	/* tls-fingerprint: stored as 64 lower-case hex digits */
	value = ms_account_get_string(keyfile, group, name, "tls-fingerprint", &error_local);
	if (error_local != NULL) {
		g_propagate_error(error, g_steal_pointer(&error_local));
		return FALSE;
	}
	if (value != NULL && value[0] != '\0') {
		if (!ms_account_parse_fingerprint(name, value, &self->tls_fingerprint, error))
			return FALSE;
	}
	g_clear_pointer(&value, g_free);

	if (!ms_account_parse_bool(keyfile, group, name, "tls-verify", &self->tls_verify, error))
		return FALSE;
	if (!ms_account_parse_bool(keyfile,
				   group,
				   name,
				   "allow-plaintext-auth",
				   &self->allow_plaintext_auth,
				   error))
		return FALSE;
	if (!ms_account_parse_uint(keyfile, group, name, "timeout", 1, 3600, &self->timeout, error))
		return FALSE;
	if (!ms_account_parse_uint(keyfile,
				   group,
				   name,
				   "max-connections",
				   1,
				   100,
				   &self->max_connections,
				   error))
		return FALSE;
	if (!ms_account_parse_uint(keyfile,
				   group,
				   name,
				   "rate-limit",
				   0,
				   100000,
				   &self->rate_limit,
				   error))
		return FALSE;
	if (!ms_account_parse_uint(keyfile,
				   group,
				   name,
				   "max-attempts",
				   1,
				   1000,
				   &self->max_attempts,
				   error))
		return FALSE;
	if (!ms_account_parse_duration(keyfile, group, name, "max-age", &self->max_age, error))
		return FALSE;
	if (!ms_account_parse_uint(keyfile,
				   group,
				   name,
				   "retry-delay",
				   1,
				   86400,
				   &self->retry_delay,
				   error))
		return FALSE;
	if (!ms_account_parse_list(keyfile,
				   group,
				   name,
				   "notify-to",
				   ms_account_check_address,
				   &self->notify_to,
				   error))
		return FALSE;
	if (!ms_account_parse_uint(keyfile,
				   group,
				   name,
				   "notify-coalesce",
				   0,
				   86400,
				   &self->notify_coalesce,
				   error))
		return FALSE;
	if (!ms_account_parse_list(keyfile,
				   group,
				   name,
				   "allowed-users",
				   ms_account_check_user_name,
				   &self->allowed_users,
				   error))
		return FALSE;
	if (!ms_account_parse_list(keyfile,
				   group,
				   name,
				   "allowed-groups",
				   ms_account_check_user_name,
				   &self->allowed_groups,
				   error))
		return FALSE;
	if (!ms_account_parse_bool(keyfile,
				   group,
				   name,
				   "allow-from-override",
				   &self->allow_from_override,
				   error))
		return FALSE;

	/* password-file: whether it exists and is root-only is checked when it is read, because
	 * systemd credentials may only appear once the service runs */
	value = ms_account_get_string(keyfile, group, name, "password-file", &error_local);
	if (error_local != NULL) {
		g_propagate_error(error, g_steal_pointer(&error_local));
		return FALSE;
	}
	if (value != NULL && value[0] != '\0') {
		g_autofree gchar *quoted = ms_account_quote(value);
		if (ms_account_has_cntrl(value) || !g_path_is_absolute(value)) {
			return ms_account_set_error(error,
						    name,
						    "password-file",
						    _("'%s' is not an absolute path"),
						    quoted);
		}
		self->password_file = g_canonicalize_filename(value, NULL);
	}
	g_clear_pointer(&value, g_free);

	/* cross-checks */
	if (self->auth != MS_AUTH_AUTO && self->auth != MS_AUTH_NONE && self->username == NULL) {
		return ms_account_set_error(error,
					    name,
					    "auth",
					    _("auth=%s needs a username"),
					    ms_auth_method_to_string(self->auth));
	}

	ms_account_resolve(self);

	/* with a pin the server is still authenticated, so only warn when nothing is checked */
	if (!self->tls_verify && self->tls_fingerprint == NULL) {
		g_warning("certificate verification is OFF for account '%s' (tls-verify=false): "
			  "anyone on the path can read the password and the mail",
			  name);
	}
	return TRUE;
}

MsAccount *
ms_account_new_default(const gchar *name)
{
	MsAccount *self;

	g_return_val_if_fail(name != NULL, NULL);

	self = g_object_new(MS_TYPE_ACCOUNT, NULL);
	self->name = g_strdup(name);
	ms_account_resolve(self);
	return self;
}

/* base_dir is where a relative ca-file is looked up: the directory of the accounts file;
 * NULL means the current directory */
MsAccount *
ms_account_new_from_keyfile_full(GKeyFile *keyfile,
				 const gchar *name,
				 const gchar *base_dir,
				 GError **error)
{
	g_autoptr(MsAccount) self = NULL;
	g_autofree gchar *group = NULL;

	g_return_val_if_fail(keyfile != NULL, NULL);
	g_return_val_if_fail(name != NULL, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	group = g_strdup_printf("account %s", name);
	if (!g_key_file_has_group(keyfile, group)) {
		g_set_error(error,
			    G_KEY_FILE_ERROR,
			    G_KEY_FILE_ERROR_GROUP_NOT_FOUND,
			    _("account '%s': no group [%s]"),
			    name,
			    group);
		return NULL;
	}
	self = g_object_new(MS_TYPE_ACCOUNT, NULL);
	self->name = g_strdup(name);
	if (!ms_account_load(self, keyfile, group, base_dir, error))
		return NULL;
	return g_steal_pointer(&self);
}

MsAccount *
ms_account_new_from_keyfile(GKeyFile *keyfile, const gchar *name, GError **error)
{
	return ms_account_new_from_keyfile_full(keyfile, name, NULL, error);
}

const gchar *
ms_account_get_name(MsAccount *self)
{
	g_return_val_if_fail(MS_IS_ACCOUNT(self), NULL);
	return self->name;
}

const gchar *
ms_account_get_host(MsAccount *self)
{
	g_return_val_if_fail(MS_IS_ACCOUNT(self), NULL);
	return self->host;
}

guint16
ms_account_get_port(MsAccount *self)
{
	g_return_val_if_fail(MS_IS_ACCOUNT(self), 0);
	return self->port;
}

MsSecurity
ms_account_get_security(MsAccount *self)
{
	g_return_val_if_fail(MS_IS_ACCOUNT(self), MS_SECURITY_STARTTLS);
	return self->security;
}

MsAuthMethod
ms_account_get_auth(MsAccount *self)
{
	g_return_val_if_fail(MS_IS_ACCOUNT(self), MS_AUTH_AUTO);
	return self->auth;
}

const gchar *
ms_account_get_username(MsAccount *self)
{
	g_return_val_if_fail(MS_IS_ACCOUNT(self), NULL);
	return self->username;
}

const gchar *
ms_account_get_from(MsAccount *self)
{
	g_return_val_if_fail(MS_IS_ACCOUNT(self), NULL);
	return self->from;
}

const gchar *
ms_account_get_helo_name(MsAccount *self)
{
	g_return_val_if_fail(MS_IS_ACCOUNT(self), NULL);
	return self->helo_name;
}

const gchar *
ms_account_get_ca_file(MsAccount *self)
{
	g_return_val_if_fail(MS_IS_ACCOUNT(self), NULL);
	return self->ca_file;
}

const gchar *
ms_account_get_tls_fingerprint(MsAccount *self)
{
	g_return_val_if_fail(MS_IS_ACCOUNT(self), NULL);
	return self->tls_fingerprint;
}

gboolean
ms_account_get_tls_verify(MsAccount *self)
{
	g_return_val_if_fail(MS_IS_ACCOUNT(self), TRUE);
	return self->tls_verify;
}

gboolean
ms_account_get_allow_plaintext_auth(MsAccount *self)
{
	g_return_val_if_fail(MS_IS_ACCOUNT(self), FALSE);
	return self->allow_plaintext_auth;
}

guint
ms_account_get_timeout(MsAccount *self)
{
	g_return_val_if_fail(MS_IS_ACCOUNT(self), MS_ACCOUNT_DEFAULT_TIMEOUT);
	return self->timeout;
}

guint
ms_account_get_max_connections(MsAccount *self)
{
	g_return_val_if_fail(MS_IS_ACCOUNT(self), 1);
	return self->max_connections;
}

guint
ms_account_get_rate_limit(MsAccount *self)
{
	g_return_val_if_fail(MS_IS_ACCOUNT(self), 0);
	return self->rate_limit;
}

guint
ms_account_get_max_attempts(MsAccount *self)
{
	g_return_val_if_fail(MS_IS_ACCOUNT(self), 1);
	return self->max_attempts;
}

guint64
ms_account_get_max_age(MsAccount *self)
{
	g_return_val_if_fail(MS_IS_ACCOUNT(self), 0);
	return self->max_age;
}

guint
ms_account_get_retry_delay(MsAccount *self)
{
	g_return_val_if_fail(MS_IS_ACCOUNT(self), MS_ACCOUNT_DEFAULT_RETRY_DELAY);
	return self->retry_delay;
}

const gchar *const *
ms_account_get_notify_to(MsAccount *self)
{
	g_return_val_if_fail(MS_IS_ACCOUNT(self), NULL);
	return (const gchar *const *)self->notify_to;
}

guint
ms_account_get_notify_coalesce(MsAccount *self)
{
	g_return_val_if_fail(MS_IS_ACCOUNT(self), 0);
	return self->notify_coalesce;
}

const gchar *const *
ms_account_get_allowed_users(MsAccount *self)
{
	g_return_val_if_fail(MS_IS_ACCOUNT(self), NULL);
	return (const gchar *const *)self->allowed_users;
}

const gchar *const *
ms_account_get_allowed_groups(MsAccount *self)
{
	g_return_val_if_fail(MS_IS_ACCOUNT(self), NULL);
	return (const gchar *const *)self->allowed_groups;
}

gboolean
ms_account_get_allow_from_override(MsAccount *self)
{
	g_return_val_if_fail(MS_IS_ACCOUNT(self), FALSE);
	return self->allow_from_override;
}

const gchar *
ms_account_get_password_file(MsAccount *self)
{
	g_return_val_if_fail(MS_IS_ACCOUNT(self), NULL);
	return self->password_file;
}

static void
ms_account_finalize(GObject *object)
{
	MsAccount *self = MS_ACCOUNT(object);

	g_free(self->name);
	g_free(self->host);
	g_free(self->username);
	g_free(self->from);
	g_free(self->helo_name);
	g_free(self->ca_file);
	g_free(self->tls_fingerprint);
	g_strfreev(self->notify_to);
	g_strfreev(self->allowed_users);
	g_strfreev(self->allowed_groups);
	g_free(self->password_file);

	G_OBJECT_CLASS(ms_account_parent_class)->finalize(object);
}

static void
ms_account_class_init(MsAccountClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);
	object_class->finalize = ms_account_finalize;
}

static void
ms_account_init(MsAccount *self)
{
	const gchar *fqdn = ms_account_default_fqdn();

	self->host = g_strdup(MS_ACCOUNT_DEFAULT_HOST);
	self->security = MS_SECURITY_AUTO;
	self->auth = MS_AUTH_AUTO;
	self->helo_name = g_strdup(fqdn);
	self->from = g_strdup_printf("%s@%s", g_get_user_name(), fqdn);
	self->tls_verify = TRUE;
	self->timeout = MS_ACCOUNT_DEFAULT_TIMEOUT;
	self->max_connections = MS_ACCOUNT_DEFAULT_MAX_CONNECTIONS;
	self->rate_limit = MS_ACCOUNT_DEFAULT_RATE_LIMIT;
	self->max_attempts = MS_ACCOUNT_DEFAULT_MAX_ATTEMPTS;
	self->max_age = MS_ACCOUNT_DEFAULT_MAX_AGE;
	self->retry_delay = MS_ACCOUNT_DEFAULT_RETRY_DELAY;
	self->notify_to = g_new0(gchar *, 1);
	self->notify_coalesce = MS_ACCOUNT_DEFAULT_NOTIFY_COALESCE;
	self->allowed_users = g_new0(gchar *, 1);
	self->allowed_groups = g_new0(gchar *, 1);
}
