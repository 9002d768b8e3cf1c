#define G_LOG_DOMAIN "MsConfig"

#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "ms-config.h"

struct _MsConfig {
	GObject parent_instance;
	gchar *path;
	GPtrArray *accounts; /* of MsAccount, in file order */
};

G_DEFINE_TYPE(MsConfig, ms_config, G_TYPE_OBJECT)

#define MS_CONFIG_GROUP_PREFIX "account "

static gboolean
ms_config_account_name_is_valid(const gchar *name)
{
	if (name[0] == '\0')
		return FALSE;
	for (const gchar *p = name; *p != '\0'; p++) {
		if (!g_ascii_isalnum(*p) && *p != '_' && *p != '.' && *p != '-')
			return FALSE;
	}
	return TRUE;
}

static GPtrArray *
ms_config_accounts_builtin(void)
{
	GPtrArray *accounts = g_ptr_array_new_with_free_func(g_object_unref);
	g_ptr_array_add(accounts, ms_account_new_default("default"));
	return accounts;
}

/* a file with no [account default] group is valid: callers that name no account then get
 * NoSuchAccount, which says more than silently sending through localhost would; a file with no
 * group at all therefore means no account at all */
static GPtrArray *
ms_config_accounts_from_file(const gchar *path, GError **error)
{
	g_autoptr(GKeyFile) keyfile = g_key_file_new();
	g_autoptr(GPtrArray) accounts = g_ptr_array_new_with_free_func(g_object_unref);
	g_autofree gchar *abspath = g_canonicalize_filename(path, NULL);
	g_autofree gchar *base_dir = g_path_get_dirname(abspath);
	g_auto(GStrv) groups = NULL;

	/* without KEEP_TRANSLATIONS, "host[de]=…" would be dropped silently instead of being
	 * refused as the unknown key it is */
	if (!g_key_file_load_from_file(keyfile, path, G_KEY_FILE_KEEP_TRANSLATIONS, error))
		return NULL;

	/* check every group name first, so that a misspelt group is reported as such and not
	 * as a later account's problem */
	groups = g_key_file_get_groups(keyfile, NULL);
	for (guint i = 0; groups[i] != NULL; i++) {
		const gchar *group = groups[i];
		if (!g_str_has_prefix(group, MS_CONFIG_GROUP_PREFIX) ||
		    !ms_config_account_name_is_valid(group + strlen(MS_CONFIG_GROUP_PREFIX))) {
			g_set_error(error,
				    G_KEY_FILE_ERROR,
				    G_KEY_FILE_ERROR_INVALID_VALUE,
				    _("group [%s]: groups must be [account NAME], NAME made of "
				      "letters, digits, '_', '.' and '-'"),
				    group);
			return NULL;
		}
	}
	for (guint i = 0; groups[i] != NULL; i++) {
		const gchar *name = groups[i] + strlen(MS_CONFIG_GROUP_PREFIX);
		MsAccount *account =
		    ms_account_new_from_keyfile_full(keyfile, name, base_dir, error);
		if (account == NULL)
			return NULL;
		g_ptr_array_add(accounts, account);
	}
	return g_steal_pointer(&accounts);
}

MsConfig *
ms_config_new(void)
{
	return g_object_new(MS_TYPE_CONFIG, NULL);
}

gboolean
ms_config_load(MsConfig *self, const gchar *path, GError **error)
{
	g_autoptr(GPtrArray) accounts = NULL;
	g_autoptr(GError) error_local = NULL;

	g_return_val_if_fail(MS_IS_CONFIG(self), FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	if (path != NULL)
		accounts = ms_config_accounts_from_file(path, &error_local);
	if (accounts == NULL && error_local != NULL &&
	    !g_error_matches(error_local, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
		g_propagate_prefixed_error(error, g_steal_pointer(&error_local), "%s: ", path);
		return FALSE;
	}
	if (accounts == NULL) {
		g_debug("no accounts file %s, using the built-in default account",
			path != NULL ? path : "given");
		accounts = ms_config_accounts_builtin();
	}

	/* only now, so that a failed reload keeps the accounts we had */
	g_free(self->path);
	self->path = g_strdup(path);
	g_ptr_array_unref(self->accounts);
	self->accounts = g_steal_pointer(&accounts);
	g_debug("loaded %u accounts from %s",
		self->accounts->len,
		self->path != NULL ? self->path : "built-in defaults");
	return TRUE;
}

MsAccount *
ms_config_get_account(MsConfig *self, const gchar *name)
{
	g_return_val_if_fail(MS_IS_CONFIG(self), NULL);
	g_return_val_if_fail(name != NULL, NULL);

	for (guint i = 0; i < self->accounts->len; i++) {
		MsAccount *account = g_ptr_array_index(self->accounts, i);
		if (g_strcmp0(ms_account_get_name(account), name) == 0)
			return account;
	}
	return NULL;
}

/* transfer full: a reload must not leave the caller holding freed strings */
GPtrArray *
ms_config_get_account_names(MsConfig *self)
{
	GPtrArray *names = NULL;

	g_return_val_if_fail(MS_IS_CONFIG(self), NULL);

	names = g_ptr_array_new_with_free_func(g_free);
	for (guint i = 0; i < self->accounts->len; i++) {
		MsAccount *account = g_ptr_array_index(self->accounts, i);
		g_ptr_array_add(names, g_strdup(ms_account_get_name(account)));
	}
	return names;
}

const gchar *
ms_config_get_path(MsConfig *self)
{
	g_return_val_if_fail(MS_IS_CONFIG(self), NULL);
	return self->path;
}

gchar *
ms_config_default_path(gboolean system_bus)
{
	if (system_bus)
		return g_strdup("/etc/mail-sender/accounts.conf");
	return g_build_filename(g_get_user_config_dir(), "mail-sender", "accounts.conf", NULL);
}

static void
ms_config_finalize(GObject *object)
{
	MsConfig *self = MS_CONFIG(object);

	g_free(self->path);
	g_ptr_array_unref(self->accounts);

	G_OBJECT_CLASS(ms_config_parent_class)->finalize(object);
}

static void
ms_config_class_init(MsConfigClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);
	object_class->finalize = ms_config_finalize;
}

/* until ms_config_load() is called this is the configuration of a missing file */
static void
ms_config_init(MsConfig *self)
{
	self->accounts = ms_config_accounts_builtin();
}
