#pragma once

#include <gio/gio.h>

#include "ms-account.h"

G_BEGIN_DECLS

/* who called, as the bus says (never as the message says) */
typedef struct {
	guint32 uid;
	gchar *user_name; /* from the uid; "uid N" if it has no name */
} MsCaller;

void
ms_caller_free(MsCaller *caller);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MsCaller, ms_caller_free)

/* Decides from the caller's peer credentials (uid and groups, asked of the bus asynchronously)
 * whether it may use an account, like Postfix's authorized_submit_users. On the session bus
 * everybody who can reach the bus may; on the system bus root always may, others only when
 * listed in the account's allowed-users or in one of its allowed-groups. Shaped as an async
 * check so that a polkit backend can be added later. */
#define MS_TYPE_AUTHORITY (ms_authority_get_type())
G_DECLARE_FINAL_TYPE(MsAuthority, ms_authority, MS, AUTHORITY, GObject)

MsAuthority *
ms_authority_new(GDBusConnection *connection, gboolean system_bus);
/* the accounts file that refusals tell the admin to edit; default: the bus's default path
 * (ms_config_default_path()) */
void
ms_authority_set_accounts_path(MsAuthority *self, const gchar *path);
/* MS_ERROR_NOT_AUTHORIZED when the caller may not use the account */
void
ms_authority_check_async(MsAuthority *self,
			 const gchar *sender,
			 MsAccount *account,
			 GCancellable *cancellable,
			 GAsyncReadyCallback callback,
			 gpointer user_data);
MsCaller *
ms_authority_check_finish(MsAuthority *self, GAsyncResult *res, GError **error);
/* the same decision without waiting, when what the bus and the user database said about
 * sender a moment ago settles it (the session bus, or root); NULL when
 * ms_authority_check_async() has to ask */
MsCaller *
ms_authority_check_cached(MsAuthority *self, const gchar *sender, MsAccount *account);

/* counts one message of caller for the account's rate-limit (messages per minute, per uid,
 * over a sliding 60 s window); MS_ERROR_RATE_LIMITED when over it, and nothing is counted
 * then. Only on the system bus, and root is not limited: on the session bus every caller is
 * the same user, and the queue already paces delivery to rate-limit for everyone. */
gboolean
ms_authority_take_rate_token(MsAuthority *self,
			     MsCaller *caller,
			     MsAccount *account,
			     GError **error);

/* the caller's uid, asked of the bus */
void
ms_authority_get_uid_async(MsAuthority *self,
			   const gchar *sender,
			   GAsyncReadyCallback callback,
			   gpointer user_data);
gboolean
ms_authority_get_uid_finish(MsAuthority *self, GAsyncResult *res, guint32 *uid, GError **error);
/* may the caller see and cancel a job submitted by owner_uid? */
gboolean
ms_authority_may_manage_job(MsAuthority *self, guint32 caller_uid, guint32 owner_uid);

G_END_DECLS
