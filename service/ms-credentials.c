#define G_LOG_DOMAIN "MsCredentials"

#include "config.h"

#include <errno.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ms-credentials.h"
#include "ms-error.h"

struct _MsCredentials {
	GObject parent_instance;
	gboolean system;	/* password files instead of the keyring */
	gchar *credentials_dir; /* $CREDENTIALS_DIRECTORY when made, or NULL */
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

/* ---- session backend: libsecret ---- */

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

static void
ms_credentials_lookup_secret(MsCredentials *self, GTask *task_owned, MsAccount *account)
{
	g_autoptr(GTask) task = task_owned;
	/* read before the task is handed over: arguments are evaluated in no fixed order */
	GCancellable *cancellable = g_task_get_cancellable(task);

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

/* ---- system backend: password-file or $CREDENTIALS_DIRECTORY ---- */

/* the user name of uid, or NULL if it has none */
static gchar *
ms_credentials_user_name(uid_t uid)
{
	struct passwd pwd;
	struct passwd *result = NULL;
	gchar buf[16384];

	if (getpwuid_r(uid, &pwd, buf, sizeof(buf), &result) != 0 || result == NULL)
		return NULL;
	return g_strdup(result->pw_name);
}

/* "name" for messages, "uid N" when the uid has no name */
static gchar *
ms_credentials_user_describe(uid_t uid)
{
	gchar *name = ms_credentials_user_name(uid);
	if (name != NULL)
		return name;
	return g_strdup_printf("uid %u", (guint)uid);
}

/* the argument for chown: the name, or the number when there is none */
static gchar *
ms_credentials_user_arg(uid_t uid)
{
	gchar *name = ms_credentials_user_name(uid);
	if (name != NULL)
		return name;
	return g_strdup_printf("%u", (guint)uid);
}

/* a path as it can be pasted into a shell command: unquoted when that is safe */
static gchar *
ms_credentials_shell_path(const gchar *path)
{
	for (const gchar *p = path; *p != '\0'; p++) {
		if (!g_ascii_isalnum(*p) && strchr("/._-+@:,", *p) == NULL)
			return g_shell_quote(path);
	}
	return g_strdup(path);
}

/* a password file must be the daemon's alone: owned by its euid, nothing for group or others */
static gboolean
ms_credentials_check_owner_mode(const gchar *path,
				const gchar *account_name,
				guint32 uid,
				guint32 mode,
				GError **error)
{
	uid_t euid = geteuid();
	gboolean open_to_others = (mode & 077) != 0;
	g_autofree gchar *path_arg = ms_credentials_shell_path(path);

	if (uid != euid) {
		g_autofree gchar *owner = ms_credentials_user_describe(uid);
		g_autofree gchar *daemon_user = ms_credentials_user_describe(euid);
		g_autofree gchar *daemon_arg = ms_credentials_user_arg(euid);
		if (open_to_others) {
			g_set_error(
			    error,
			    MS_ERROR,
			    MS_ERROR_CREDENTIALS,
			    /* TRANSLATORS: the end is a shell command to run */
			    _("Password file %s of account '%s' belongs to %s and is open to "
			      "other users (mode %04o), but it must be readable by %s (that "
			      "mail-senderd runs as) only: run chown %s %s && chmod 600 %s"),
			    path,
			    account_name,
			    owner,
			    mode & 07777,
			    daemon_user,
			    daemon_arg,
			    path_arg,
			    path_arg);
			return FALSE;
		}
		g_set_error(
		    error,
		    MS_ERROR,
		    MS_ERROR_CREDENTIALS,
		    /* TRANSLATORS: the end is a shell command to run */
		    _("Password file %s of account '%s' belongs to %s, but it must belong to "
		      "%s (that mail-senderd runs as): run chown %s %s"),
		    path,
		    account_name,
		    owner,
		    daemon_user,
		    daemon_arg,
		    path_arg);
		return FALSE;
	}
	if (open_to_others) {
		g_set_error(
		    error,
		    MS_ERROR,
		    MS_ERROR_CREDENTIALS,
		    /* TRANSLATORS: the end is a shell command to run */
		    _("Password file %s of account '%s' is open to other users (mode %04o): "
		      "run chmod 600 %s"),
		    path,
		    account_name,
		    mode & 07777,
		    path_arg);
		return FALSE;
	}
	return TRUE;
}

static GError *
ms_credentials_not_regular_error(const gchar *path, const gchar *account_name)
{
	return g_error_new(MS_ERROR,
			   MS_ERROR_CREDENTIALS,
			   _("Password file %s of account '%s' is not a regular file"),
			   path,
			   account_name);
}

gboolean
ms_credentials_check_files(MsCredentials *self, MsConfig *config, GError **error)
{
	g_autoptr(GPtrArray) names = NULL;

	g_return_val_if_fail(MS_IS_CREDENTIALS(self), FALSE);
	g_return_val_if_fail(MS_IS_CONFIG(config), FALSE);

	if (!self->system)
		return TRUE;
	names = ms_config_get_account_names(config);
	for (guint i = 0; i < names->len; i++) {
		const gchar *name = g_ptr_array_index(names, i);
		MsAccount *account = ms_config_get_account(config, name);
		const gchar *path = ms_account_get_password_file(account);
		GStatBuf st;

		if (path == NULL)
			continue;
		if (g_stat(path, &st) != 0) {
			gint errsv = errno;
			g_set_error(error,
				    MS_ERROR,
				    MS_ERROR_CREDENTIALS,
				    _("Password file %s of account '%s' cannot be used: %s"),
				    path,
				    name,
				    g_strerror(errsv));
			return FALSE;
		}
		if (!S_ISREG(st.st_mode)) {
			g_propagate_error(error, ms_credentials_not_regular_error(path, name));
			return FALSE;
		}
		if (!ms_credentials_check_owner_mode(path, name, st.st_uid, st.st_mode, error))
			return FALSE;
	}
	return TRUE;
}

typedef struct {
	MsAccount *account;
	GFile *file;
	gboolean from_credentials_dir; /* systemd's: owner and mode are not ours to check */
} MsCredentialsHelper;

static void
ms_credentials_helper_free(MsCredentialsHelper *helper)
{
	g_object_unref(helper->account);
	g_object_unref(helper->file);
	g_free(helper);
}

/* where to put the password, for the system backend's errors */
static GError *
ms_credentials_system_missing_error(MsAccount *account, const gchar *why)
{
	g_autofree gchar *daemon_user = ms_credentials_user_describe(geteuid());

	return g_error_new(
	    MS_ERROR,
	    MS_ERROR_CREDENTIALS,
	    _("No password for account '%s' (user '%s' on %s): %s. Set password-file "
	      "in the accounts file to a file owned by %s with mode 0600, or pass it "
	      "as the systemd credential '%s' (LoadCredential=%s:FILE in "
	      "mail-sender.service)"),
	    ms_account_get_name(account),
	    ms_account_get_username(account),
	    ms_account_get_host(account),
	    why,
	    daemon_user,
	    ms_account_get_name(account),
	    ms_account_get_name(account));
}

static void
ms_credentials_load_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = G_TASK(user_data);
	MsCredentialsHelper *helper = g_task_get_task_data(task);
	const gchar *account_name = ms_account_get_name(helper->account);
	g_autofree gchar *path = g_file_get_path(helper->file);
	g_autoptr(GError) error_local = NULL;
	g_autoptr(MsSecret) contents = NULL;
	gsize length = 0;

	if (!g_file_load_contents_finish(G_FILE(source),
					 res,
					 (gchar **)&contents,
					 &length,
					 NULL,
					 &error_local)) {
		if (g_error_matches(error_local, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
			g_task_return_error(task, g_steal_pointer(&error_local));
			return;
		}
		if (helper->from_credentials_dir &&
		    g_error_matches(error_local, G_IO_ERROR, G_IO_ERROR_NOT_FOUND)) {
			g_autofree gchar *why =
			    g_strdup_printf(_("there is no password-file and no %s"), path);
			g_task_return_error(
			    task,
			    ms_credentials_system_missing_error(helper->account, why));
			return;
		}
		g_task_return_new_error(task,
					MS_ERROR,
					MS_ERROR_CREDENTIALS,
					_("Cannot read the password of account '%s' from %s: %s"),
					account_name,
					path,
					error_local->message);
		return;
	}
	/* ms_secret_free() wipes up to the first NUL: wipe all of it here */
	if (memchr(contents, '\0', length) != NULL) {
		explicit_bzero(contents, length);
		g_task_return_new_error(task,
					MS_ERROR,
					MS_ERROR_CREDENTIALS,
					_("Password file %s of account '%s' contains a NUL byte"),
					path,
					account_name);
		return;
	}
	/* "echo secret > file" adds a newline that is not part of the password */
	if (length > 0 && contents[length - 1] == '\n')
		contents[--length] = '\0';
	if (length == 0) {
		g_task_return_new_error(task,
					MS_ERROR,
					MS_ERROR_CREDENTIALS,
					_("Password file %s of account '%s' is empty"),
					path,
					account_name);
		return;
	}
	g_task_return_pointer(task, g_steal_pointer(&contents), (GDestroyNotify)ms_secret_free);
}

static void
ms_credentials_load(GTask *task_owned)
{
	g_autoptr(GTask) task = task_owned;
	MsCredentialsHelper *helper = g_task_get_task_data(task);
	GFile *file = helper->file;
	GCancellable *cancellable = g_task_get_cancellable(task);

	g_file_load_contents_async(file,
				   cancellable,
				   ms_credentials_load_cb,
				   g_steal_pointer(&task));
}

/* checked again at every read: the file may have changed since start-up (or a SIGHUP) */
static void
ms_credentials_query_info_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = G_TASK(user_data);
	MsCredentialsHelper *helper = g_task_get_task_data(task);
	const gchar *account_name = ms_account_get_name(helper->account);
	g_autofree gchar *path = g_file_get_path(helper->file);
	g_autoptr(GError) error_local = NULL;
	g_autoptr(GFileInfo) info = g_file_query_info_finish(G_FILE(source), res, &error_local);
	GError *error = NULL;

	if (info == NULL) {
		if (g_error_matches(error_local, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
			g_task_return_error(task, g_steal_pointer(&error_local));
			return;
		}
		g_task_return_new_error(task,
					MS_ERROR,
					MS_ERROR_CREDENTIALS,
					_("Password file %s of account '%s' cannot be used: %s"),
					path,
					account_name,
					error_local->message);
		return;
	}
	if (g_file_info_get_file_type(info) != G_FILE_TYPE_REGULAR) {
		g_task_return_error(task, ms_credentials_not_regular_error(path, account_name));
		return;
	}
	if (!ms_credentials_check_owner_mode(
		path,
		account_name,
		g_file_info_get_attribute_uint32(info, G_FILE_ATTRIBUTE_UNIX_UID),
		g_file_info_get_attribute_uint32(info, G_FILE_ATTRIBUTE_UNIX_MODE),
		&error)) {
		g_task_return_error(task, error);
		return;
	}
	ms_credentials_load(g_steal_pointer(&task));
}

static void
ms_credentials_lookup_file(MsCredentials *self, GTask *task_owned, MsAccount *account)
{
	g_autoptr(GTask) task = task_owned;
	const gchar *password_file = ms_account_get_password_file(account);
	const gchar *name = ms_account_get_name(account);
	GCancellable *cancellable = g_task_get_cancellable(task);
	MsCredentialsHelper *helper;
	GFile *file;

	if (password_file == NULL && self->credentials_dir == NULL) {
		g_task_return_error(
		    task,
		    ms_credentials_system_missing_error(
			account,
			_("there is no password-file and CREDENTIALS_DIRECTORY is not set")));
		return;
	}
	/* a credential name is a file name in a directory we did not choose */
	if (password_file == NULL &&
	    (strchr(name, '/') != NULL || g_str_equal(name, ".") || g_str_equal(name, ".."))) {
		g_task_return_error(task,
				    ms_credentials_system_missing_error(
					account,
					_("the account name cannot be a credential name")));
		return;
	}

	helper = g_new0(MsCredentialsHelper, 1);
	helper->account = g_object_ref(account);
	if (password_file != NULL) {
		helper->file = g_file_new_for_path(password_file);
	} else {
		g_autofree gchar *path = g_build_filename(self->credentials_dir, name, NULL);
		helper->file = g_file_new_for_path(path);
		helper->from_credentials_dir = TRUE;
	}
	g_task_set_task_data(task, helper, (GDestroyNotify)ms_credentials_helper_free);
	if (helper->from_credentials_dir) {
		ms_credentials_load(g_steal_pointer(&task));
		return;
	}
	file = helper->file;
	g_file_query_info_async(file,
				G_FILE_ATTRIBUTE_STANDARD_TYPE "," G_FILE_ATTRIBUTE_UNIX_UID
							       "," G_FILE_ATTRIBUTE_UNIX_MODE,
				G_FILE_QUERY_INFO_NONE,
				G_PRIORITY_DEFAULT,
				cancellable,
				ms_credentials_query_info_cb,
				g_steal_pointer(&task));
}

/* ---- the one entry point ---- */

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
	if (self->system) {
		ms_credentials_lookup_file(self, g_steal_pointer(&task), account);
		return;
	}
	ms_credentials_lookup_secret(self, g_steal_pointer(&task), account);
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

MsCredentials *
ms_credentials_new_for_system(void)
{
	MsCredentials *self = g_object_new(MS_TYPE_CREDENTIALS, NULL);
	const gchar *dir = g_getenv("CREDENTIALS_DIRECTORY");

	self->system = TRUE;
	if (dir != NULL && dir[0] != '\0')
		self->credentials_dir = g_strdup(dir);
	return self;
}

static void
ms_credentials_init(MsCredentials *self)
{
}

static void
ms_credentials_finalize(GObject *object)
{
	MsCredentials *self = MS_CREDENTIALS(object);

	g_free(self->credentials_dir);
	G_OBJECT_CLASS(ms_credentials_parent_class)->finalize(object);
}

static void
ms_credentials_class_init(MsCredentialsClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);

	object_class->finalize = ms_credentials_finalize;
}
