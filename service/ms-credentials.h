#pragma once

#include <gio/gio.h>
#include <libsecret/secret.h>

#include "ms-account.h"
#include "ms-config.h"

G_BEGIN_DECLS

/* a password in memory that must be wiped, never just freed */
typedef gchar MsSecret;
void
ms_secret_free(MsSecret *secret);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MsSecret, ms_secret_free)

/* Where the passwords of accounts live. Two backends behind one lookup:
 * - session (ms_credentials_new()): the user's keyring through libsecret, schema
 *   org.mail.Sender.Password with attributes account, host, username;
 * - system (ms_credentials_new_for_system()): the account's password-file, else
 *   $CREDENTIALS_DIRECTORY/<account name> (systemd LoadCredential=) when that variable was set
 *   when the object was made. The file holds the password; one trailing newline is dropped. */
#define MS_TYPE_CREDENTIALS (ms_credentials_get_type())
G_DECLARE_FINAL_TYPE(MsCredentials, ms_credentials, MS, CREDENTIALS, GObject)

MsCredentials *
ms_credentials_new(void);
MsCredentials *
ms_credentials_new_for_system(void);
const SecretSchema *
ms_credentials_get_schema(void);

/* system backend, at start-up (blocking, before the main loop runs): every account's
 * password-file must exist, be a regular file owned by the daemon's effective uid and not be
 * readable or writable by group or others; MS_ERROR_CREDENTIALS naming the file, the account
 * and the command that fixes it (chmod 600 / chown) otherwise. Files in $CREDENTIALS_DIRECTORY
 * are systemd's and are not checked. The session backend has no files: always TRUE. */
gboolean
ms_credentials_check_files(MsCredentials *self, MsConfig *config, GError **error);

/* the password for the account's username; MS_ERROR_CREDENTIALS (saying where to store one)
 * when there is none; only call it for accounts with a username. The system backend checks
 * the password-file's owner and mode again before reading it. */
void
ms_credentials_lookup_async(MsCredentials *self,
			    MsAccount *account,
			    GCancellable *cancellable,
			    GAsyncReadyCallback callback,
			    gpointer user_data);
MsSecret *
ms_credentials_lookup_finish(MsCredentials *self, GAsyncResult *res, GError **error);

G_END_DECLS
