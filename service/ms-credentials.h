#pragma once

#include <gio/gio.h>
#include <libsecret/secret.h>

#include "ms-account.h"

G_BEGIN_DECLS

/* a password in memory that must be wiped, never just freed */
typedef gchar MsSecret;
void
ms_secret_free(MsSecret *secret);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MsSecret, ms_secret_free)

/* Where the passwords of accounts live: the user's keyring through libsecret (session bus;
 * schema org.mail.Sender.Password with attributes account, host, username). */
#define MS_TYPE_CREDENTIALS (ms_credentials_get_type())
G_DECLARE_FINAL_TYPE(MsCredentials, ms_credentials, MS, CREDENTIALS, GObject)

MsCredentials *
ms_credentials_new(void);
const SecretSchema *
ms_credentials_get_schema(void);

/* the password for the account's username; MS_ERROR_CREDENTIALS (with the secret-tool
 * command that stores one) when there is none; only call it for accounts with a username */
void
ms_credentials_lookup_async(MsCredentials *self,
			    MsAccount *account,
			    GCancellable *cancellable,
			    GAsyncReadyCallback callback,
			    gpointer user_data);
MsSecret *
ms_credentials_lookup_finish(MsCredentials *self, GAsyncResult *res, GError **error);

G_END_DECLS
