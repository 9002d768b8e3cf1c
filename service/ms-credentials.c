#define G_LOG_DOMAIN "MsCredentials"

#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "ms-credentials.h"
#include "ms-error.h"

struct _MsCredentials {
	GObject parent_instance;
};

G_DEFINE_TYPE(MsCredentials, ms_credentials, G_TYPE_OBJECT)

void
ms_secret_free(MsSecret *secret)
{
	if (secret == NULL)
		return;
	explicit_bzero(secret, strlen(secret));
	g_free(secret);
}

/* DONT_MATCH_NAME: a password stored with a plain "secret-tool store account … host …
 * username …" (which sets no xdg:schema attribute) is found too */
const SecretSchema *
ms_credentials_get_schema(void)
{
	static const SecretSchema schema = {
	    "org.mail.Sender.Password",
	    SECRET_SCHEMA_DONT_MATCH_NAME,
	    {
		{"account", SECRET_SCHEMA_ATTRIBUTE_STRING},
		{"host", SECRET_SCHEMA_ATTRIBUTE_STRING},
		{"username", SECRET_SCHEMA_ATTRIBUTE_STRING},
		{NULL, 0},
	    },
	};
	return &schema;
}

static GError *
ms_credentials_missing_error(MsAccount *account, const gchar *why)
{
	return g_error_new(MS_ERROR,
			   MS_ERROR_CREDENTIALS,
			   /* TRANSLATORS: the last part is a shell command to run */
			   _("No password for account '%s' (user '%s' on %s): %s. Store one with: "
			     "secret-tool store --label='mail-sender %s' account %s host %s "
			     "username %s"),
			   ms_account_get_name(account),
			   ms_account_get_username(account),
			   ms_account_get_host(account),
			   why,
			   ms_account_get_name(account),
			   ms_account_get_name(account),
			   ms_account_get_host(account),
			   ms_account_get_username(account));
}

static void
ms_credentials_lookup_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = G_TASK(user_data);
	MsAccount *account = g_task_get_task_data(task);
	g_autoptr(GError) error_local = NULL;
	gchar *secret = secret_password_lookup_finish(res, &error_local);
	MsSecret *copy;

	if (error_local != NULL) {
		if (g_error_matches(error_local, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
			g_task_return_error(task, g_steal_pointer(&error_local));
			return;
		}
		g_task_return_error(task,
				    ms_credentials_missing_error(account, error_local->message));
		return;
	}
	/* NULL without an error means "not stored", but also "keyring locked" */
	if (secret == NULL || secret[0] == '\0') {
		secret_password_free(secret);
		g_task_return_error(
		    task,
		    ms_credentials_missing_error(account,
						 _("none is stored, or the keyring is locked")));
		return;
	}
	/* libsecret's string lives in its own secure pool; hand out one that ms_secret_free()
	 * can wipe and free whatever backend it came from */
	copy = g_strdup(secret);
	secret_password_free(secret);
	g_task_return_pointer(task, copy, (GDestroyNotify)ms_secret_free);
}

void
ms_credentials_lookup_async(MsCredentials *self,
			    MsAccount *account,
			    GCancellable *cancellable,
			    GAsyncReadyCallback callback,
			    gpointer user_data)
{
	g_autoptr(GTask) task = NULL;

	g_return_if_fail(MS_IS_CREDENTIALS(self));
	g_return_if_fail(MS_IS_ACCOUNT(account));
	g_return_if_fail(ms_account_get_username(account) != NULL);

	task = g_task_new(self, cancellable, callback, user_data);
	g_task_set_source_tag(task, ms_credentials_lookup_async);
	g_task_set_task_data(task, g_object_ref(account), g_object_unref);
	secret_password_lookup(ms_credentials_get_schema(),
			       cancellable,
			       ms_credentials_lookup_cb,
			       g_steal_pointer(&task),
			       "account",
			       ms_account_get_name(account),
			       "host",
			       ms_account_get_host(account),
			       "username",
			       ms_account_get_username(account),
			       NULL);
}

MsSecret *
ms_credentials_lookup_finish(MsCredentials *self, GAsyncResult *res, GError **error)
{
	g_return_val_if_fail(g_task_is_valid(res, self), NULL);
	return g_task_propagate_pointer(G_TASK(res), error);
}

MsCredentials *
ms_credentials_new(void)
{
	return g_object_new(MS_TYPE_CREDENTIALS, NULL);
}

static void
ms_credentials_init(MsCredentials *self)
{
}

static void
ms_credentials_class_init(MsCredentialsClass *klass)
{
}
