#pragma once

#include "ms-account.h"

G_BEGIN_DECLS

/* The accounts file: every [account NAME] group, validated at load time */
#define MS_TYPE_CONFIG (ms_config_get_type())
G_DECLARE_FINAL_TYPE(MsConfig, ms_config, MS, CONFIG, GObject)

MsConfig *
ms_config_new(void);
/* path NULL or missing file: just the built-in "default" account. Validates every group and
 * key; on error the message starts with the file name, then the account and the key, and the
 * config is left unchanged. Groups that are not "account NAME" are refused too. */
gboolean
ms_config_load(MsConfig *self, const gchar *path, GError **error);
/* NULL if no such account */
MsAccount *
ms_config_get_account(MsConfig *self, const gchar *name);
/* names in file order */
GPtrArray *
ms_config_get_account_names(MsConfig *self);
const gchar *
ms_config_get_path(MsConfig *self);

/* the default file: $XDG_CONFIG_HOME/mail-sender/accounts.conf or /etc/mail-sender/... */
gchar *
ms_config_default_path(gboolean system_bus);

G_END_DECLS
