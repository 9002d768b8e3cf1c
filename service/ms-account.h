#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef enum {
	MS_SECURITY_AUTO, /* only as read from the file; ms_account_get_security() resolves it */
	MS_SECURITY_TLS,
	MS_SECURITY_STARTTLS,
	MS_SECURITY_STARTTLS_OPPORTUNISTIC,
	MS_SECURITY_NONE,
} MsSecurity;

typedef enum {
	MS_AUTH_AUTO,
	MS_AUTH_NONE,
	MS_AUTH_PLAIN,
	MS_AUTH_LOGIN,
	MS_AUTH_CRAM_MD5,
	MS_AUTH_SCRAM_SHA_256,
	MS_AUTH_XOAUTH2,
} MsAuthMethod;

const gchar *
ms_security_to_string(MsSecurity security);
const gchar *
ms_auth_method_to_string(MsAuthMethod auth);

/* One [account NAME] group of the accounts file (DESIGN.md), defaults applied and every value
 * validated. Never holds a secret. Immutable once loaded. */
#define MS_TYPE_ACCOUNT (ms_account_get_type())
G_DECLARE_FINAL_TYPE(MsAccount, ms_account, MS, ACCOUNT, GObject)

/* the built-in account used when there is no file: localhost:25, opportunistic STARTTLS */
MsAccount *
ms_account_new_default(const gchar *name);
/* reads and validates group "account NAME"; errors are G_KEY_FILE_ERROR_INVALID_VALUE (or
 * _KEY_NOT_FOUND) whose message names the account and the key, for example
 * "account 'work': key 'security': unknown value 'ssl' (expected tls, starttls, ...)" */
MsAccount *
ms_account_new_from_keyfile(GKeyFile *keyfile, const gchar *name, GError **error);
/* the same, with a relative ca-file taken relative to base_dir (the directory of the accounts
 * file) instead of the current directory */
MsAccount *
ms_account_new_from_keyfile_full(GKeyFile *keyfile,
				 const gchar *name,
				 const gchar *base_dir,
				 GError **error);

const gchar *
ms_account_get_name(MsAccount *self);
const gchar *
ms_account_get_host(MsAccount *self);
guint16
ms_account_get_port(MsAccount *self); /* resolved: explicit, else from security */
MsSecurity
ms_account_get_security(MsAccount *self); /* resolved: never MS_SECURITY_AUTO */
MsAuthMethod
ms_account_get_auth(MsAccount *self); /* as configured, may be MS_AUTH_AUTO */
const gchar *
ms_account_get_username(MsAccount *self); /* NULL if none (empty counts as none) */
const gchar *
ms_account_get_from(MsAccount *self); /* "Name <addr>" or "addr"; default user@hostname */
const gchar *
ms_account_get_helo_name(MsAccount *self); /* default: this host's FQDN */
const gchar *
ms_account_get_ca_file(MsAccount *self); /* absolute path or NULL */
const gchar *
ms_account_get_tls_fingerprint(MsAccount *self); /* 64 lower-case hex digits or NULL */
gboolean
ms_account_get_tls_verify(MsAccount *self);
gboolean
ms_account_get_allow_plaintext_auth(MsAccount *self);
guint
ms_account_get_timeout(MsAccount *self); /* seconds, > 0 */
guint
ms_account_get_max_connections(MsAccount *self);
guint
ms_account_get_rate_limit(MsAccount *self); /* messages per minute, 0 = unlimited */
guint
ms_account_get_max_attempts(MsAccount *self);
guint64
ms_account_get_max_age(MsAccount *self); /* seconds */
guint
ms_account_get_retry_delay(MsAccount *self); /* seconds */
const gchar *const *
ms_account_get_notify_to(MsAccount *self); /* NULL-terminated, may be empty */
guint
ms_account_get_notify_coalesce(MsAccount *self);
const gchar *const *
ms_account_get_allowed_users(MsAccount *self);
const gchar *const *
ms_account_get_allowed_groups(MsAccount *self);
gboolean
ms_account_get_allow_from_override(MsAccount *self);
const gchar *
ms_account_get_password_file(MsAccount *self); /* NULL if none */

G_END_DECLS
