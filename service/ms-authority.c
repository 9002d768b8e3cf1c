#define G_LOG_DOMAIN "MsAuthority"

#include "config.h"

#include <glib/gi18n.h>

#include "ms-authority.h"
#include "ms-error.h"

struct _MsAuthority {
	GObject parent_instance;
	GDBusConnection *connection;
	gboolean system_bus;
};

G_DEFINE_TYPE(MsAuthority, ms_authority, G_TYPE_OBJECT)

void
ms_caller_free(MsCaller *caller)
{
	if (caller == NULL)
		return;
	g_free(caller->user_name);
	g_free(caller);
}

static void
ms_authority_uid_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = G_TASK(user_data);
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) ret =
	    g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, &error);
	g_autoptr(MsCaller) caller = g_new0(MsCaller, 1);

	if (ret == NULL) {
		g_task_return_new_error(task,
					MS_ERROR,
					MS_ERROR_NOT_AUTHORIZED,
					_("Cannot identify the caller: %s"),
					error->message);
		return;
	}
	g_variant_get(ret, "(u)", &caller->uid);
	caller->user_name = g_strdup_printf("uid %u", caller->uid);
	g_task_return_pointer(task, g_steal_pointer(&caller), (GDestroyNotify)ms_caller_free);
}

void
ms_authority_check_async(MsAuthority *self,
			 const gchar *sender,
			 MsAccount *account,
			 GCancellable *cancellable,
			 GAsyncReadyCallback callback,
			 gpointer user_data)
{
	g_autoptr(GTask) task = NULL;

	g_return_if_fail(MS_IS_AUTHORITY(self));
	g_return_if_fail(MS_IS_ACCOUNT(account));

	task = g_task_new(self, cancellable, callback, user_data);
	g_task_set_source_tag(task, ms_authority_check_async);
	g_dbus_connection_call(self->connection,
			       "org.freedesktop.DBus",
			       "/org/freedesktop/DBus",
			       "org.freedesktop.DBus",
			       "GetConnectionUnixUser",
			       g_variant_new("(s)", sender),
			       G_VARIANT_TYPE("(u)"),
			       G_DBUS_CALL_FLAGS_NONE,
			       -1,
			       cancellable,
			       ms_authority_uid_cb,
			       g_steal_pointer(&task));
}

MsCaller *
ms_authority_check_finish(MsAuthority *self, GAsyncResult *res, GError **error)
{
	g_return_val_if_fail(g_task_is_valid(res, self), NULL);
	return g_task_propagate_pointer(G_TASK(res), error);
}

gboolean
ms_authority_take_rate_token(MsAuthority *self,
			     MsCaller *caller,
			     MsAccount *account,
			     GError **error)
{
	g_return_val_if_fail(MS_IS_AUTHORITY(self), FALSE);
	return TRUE;
}

MsAuthority *
ms_authority_new(GDBusConnection *connection, gboolean system_bus)
{
	MsAuthority *self;

	g_return_val_if_fail(G_IS_DBUS_CONNECTION(connection), NULL);
	self = g_object_new(MS_TYPE_AUTHORITY, NULL);
	self->connection = g_object_ref(connection);
	self->system_bus = system_bus;
	return self;
}

static void
ms_authority_init(MsAuthority *self)
{
}

static void
ms_authority_dispose(GObject *object)
{
	MsAuthority *self = MS_AUTHORITY(object);

	g_clear_object(&self->connection);
	G_OBJECT_CLASS(ms_authority_parent_class)->dispose(object);
}

static void
ms_authority_class_init(MsAuthorityClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);

	object_class->dispose = ms_authority_dispose;
}
