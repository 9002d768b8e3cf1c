#define G_LOG_DOMAIN "MsAuthority"

#include "config.h"

#include <errno.h>
#include <glib/gi18n.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include "ms-authority.h"
#include "ms-config.h"
#include "ms-error.h"

/* rate-limit counts messages over a sliding window of this length */
#define MS_AUTHORITY_RATE_WINDOW_USEC (60 * G_USEC_PER_SEC)

/* NSS entries of big groups can be long; getgrgid_r() says ERANGE and we grow up to this */
#define MS_AUTHORITY_NSS_BUFFER_MAX (1024 * 1024)

/* how long what the bus and the user database said about a caller is reused: asking both for
 * every message was a bus round trip and a worker thread per Send; a renamed user or a changed
 * group list shows after at most this */
#define MS_AUTHORITY_CACHE_USEC (60 * G_USEC_PER_SEC)

/* the bus's answer for one unique name: a peer's credentials are those of its socket and
 * never change, and unique names are never reused on a bus */
typedef struct {
	guint32 uid;
	GArray *gids;	/* guint32; NULL if the bus did not say */
	gint64 expires; /* monotonic */
} MsAuthorityPeer;

/* the user database's answer for one uid */
typedef struct {
	gchar *name; /* NULL if the uid has no name */
	gid_t primary;
	gint64 expires; /* monotonic */
} MsAuthorityUser;

struct _MsAuthority {
	GObject parent_instance;
	GDBusConnection *connection;
	gboolean system_bus;
	gchar *accounts_path;
	GHashTable *rate;  /* "uid:account" -> GArray of gint64, monotonic times of messages */
	GHashTable *peers; /* unique name -> MsAuthorityPeer; main thread only */
	GHashTable *users; /* uid -> MsAuthorityUser; filled by the worker, so under users_lock */
	GMutex users_lock;
};

G_DEFINE_TYPE(MsAuthority, ms_authority, G_TYPE_OBJECT)

static void
ms_authority_peer_free(MsAuthorityPeer *peer)
{
	if (peer->gids != NULL)
		g_array_unref(peer->gids);
	g_free(peer);
}

static void
ms_authority_user_free(MsAuthorityUser *user)
{
	g_free(user->name);
	g_free(user);
}

static gboolean
ms_authority_peer_expired_cb(gpointer key, gpointer value, gpointer user_data)
{
	MsAuthorityPeer *peer = value;
	return peer->expires <= *(gint64 *)user_data;
}

static gboolean
ms_authority_user_expired_cb(gpointer key, gpointer value, gpointer user_data)
{
	MsAuthorityUser *user = value;
	return user->expires <= *(gint64 *)user_data;
}

void
ms_caller_free(MsCaller *caller)
{
	if (caller == NULL)
		return;
	g_free(caller->user_name);
	g_free(caller);
}

/* what one check needs, copied so that the NSS lookups can run in a worker thread */
typedef struct {
	gchar *sender;
	gchar *account_name;
	gchar *accounts_path;
	GStrv allowed_users;
	GStrv allowed_groups;
	gboolean system_bus;
	guint32 uid;
	GArray *gids; /* guint32, as the bus reports them; NULL if it did not */
} MsAuthorityHelper;

static void
ms_authority_helper_free(MsAuthorityHelper *helper)
{
	g_free(helper->sender);
	g_free(helper->account_name);
	g_free(helper->accounts_path);
	g_strfreev(helper->allowed_users);
	g_strfreev(helper->allowed_groups);
	if (helper->gids != NULL)
		g_array_unref(helper->gids);
	g_free(helper);
}

/* ---- user and group names (NSS: may block, so only called in the worker thread) ---- */

static gchar *
ms_authority_user_name(guint32 uid, gid_t *gid)
{
	struct passwd pwd;
	struct passwd *result = NULL;
	g_autofree gchar *buf = NULL;

	for (gsize size = 4096; size <= MS_AUTHORITY_NSS_BUFFER_MAX; size *= 2) {
		gint rc;
		g_free(buf);
		buf = g_malloc(size);
		rc = getpwuid_r((uid_t)uid, &pwd, buf, size, &result);
		if (rc == ERANGE)
			continue;
		if (rc != 0 || result == NULL)
			return NULL;
		*gid = result->pw_gid;
		return g_strdup(result->pw_name);
	}
	return NULL;
}

static gchar *
ms_authority_group_name(guint32 gid)
{
	struct group grp;
	struct group *result = NULL;
	g_autofree gchar *buf = NULL;

	for (gsize size = 4096; size <= MS_AUTHORITY_NSS_BUFFER_MAX; size *= 2) {
		gint rc;
		g_free(buf);
		buf = g_malloc(size);
		rc = getgrgid_r((gid_t)gid, &grp, buf, size, &result);
		if (rc == ERANGE)
			continue;
		if (rc != 0 || result == NULL)
			return NULL;
		return g_strdup(result->gr_name);
	}
	return NULL;
}

/* without UnixGroupIDs from the bus: the groups the user database gives the user */
static GArray *
ms_authority_user_groups(const gchar *user_name, gid_t primary)
{
	GArray *gids = g_array_new(FALSE, FALSE, sizeof(guint32));
	gint n = 64;
	g_autofree gid_t *list = NULL;

	for (guint tries = 0; tries < 8; tries++) {
		gint n_got = n;
		g_free(list);
		list = g_new(gid_t, n);
		if (getgrouplist(user_name, primary, list, &n_got) >= 0) {
			for (gint i = 0; i < n_got; i++) {
				guint32 gid = list[i];
				g_array_append_val(gids, gid);
			}
			return gids;
		}
		n = MAX(n_got, n * 2);
	}
	return gids;
}

static gboolean
ms_authority_in_allowed_group(MsAuthorityHelper *helper, const gchar *user_name, gid_t primary)
{
	g_autoptr(GArray) gids = NULL;

	if (helper->allowed_groups == NULL || helper->allowed_groups[0] == NULL)
		return FALSE;
	if (helper->gids != NULL)
		gids = g_array_ref(helper->gids);
	else if (user_name != NULL)
		gids = ms_authority_user_groups(user_name, primary);
	else
		return FALSE;
	for (guint i = 0; i < gids->len; i++) {
		g_autofree gchar *name = ms_authority_group_name(g_array_index(gids, guint32, i));
		if (name != NULL &&
		    g_strv_contains((const gchar *const *)helper->allowed_groups, name))
			return TRUE;
	}
	return FALSE;
}

static MsCaller *
ms_authority_caller_new(guint32 uid, const gchar *name)
{
	MsCaller *caller = g_new0(MsCaller, 1);

	caller->uid = uid;
	caller->user_name = name != NULL ? g_strdup(name) : g_strdup_printf("uid %u", uid);
	return caller;
}

/* the user database's answer for uid while it is fresh; FALSE if it has to be asked */
static gboolean
ms_authority_cached_user(MsAuthority *self, guint32 uid, gchar **name, gid_t *primary)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&self->users_lock);
	MsAuthorityUser *user = g_hash_table_lookup(self->users, GUINT_TO_POINTER(uid));

	if (user == NULL || user->expires <= g_get_monotonic_time())
		return FALSE;
	*name = g_strdup(user->name);
	*primary = user->primary;
	return TRUE;
}

static void
ms_authority_cache_user(MsAuthority *self, guint32 uid, const gchar *name, gid_t primary)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&self->users_lock);
	MsAuthorityUser *user = g_new0(MsAuthorityUser, 1);
	gint64 now = g_get_monotonic_time();

	g_hash_table_foreach_remove(self->users, ms_authority_user_expired_cb, &now);
	user->name = g_strdup(name);
	user->primary = primary;
	user->expires = now + MS_AUTHORITY_CACHE_USEC;
	g_hash_table_replace(self->users, GUINT_TO_POINTER(uid), user);
}

static void
ms_authority_decide_thread(GTask *task,
			   gpointer source_object,
			   gpointer task_data,
			   GCancellable *cancellable)
{
	MsAuthority *self = MS_AUTHORITY(source_object);
	MsAuthorityHelper *helper = task_data;
	g_autoptr(MsCaller) caller = NULL;
	g_autofree gchar *name = NULL;
	gid_t primary = (gid_t)-1;

	if (!ms_authority_cached_user(self, helper->uid, &name, &primary)) {
		name = ms_authority_user_name(helper->uid, &primary);
		ms_authority_cache_user(self, helper->uid, name, primary);
	}
	caller = ms_authority_caller_new(helper->uid, name);

	/* the session bus is the user's own; root owns the machine anyway */
	if (!helper->system_bus || helper->uid == 0) {
		g_task_return_pointer(task,
				      g_steal_pointer(&caller),
				      (GDestroyNotify)ms_caller_free);
		return;
	}
	if ((name != NULL && helper->allowed_users != NULL &&
	     g_strv_contains((const gchar *const *)helper->allowed_users, name)) ||
	    ms_authority_in_allowed_group(helper, name, primary)) {
		g_debug("%s (%s) may use account '%s'",
			helper->sender,
			caller->user_name,
			helper->account_name);
		g_task_return_pointer(task,
				      g_steal_pointer(&caller),
				      (GDestroyNotify)ms_caller_free);
		return;
	}

	g_info("refused %s (%s, uid %u): not allowed to use account '%s'",
	       helper->sender,
	       caller->user_name,
	       helper->uid,
	       helper->account_name);
	if (name == NULL) {
		g_task_return_new_error(
		    task,
		    MS_ERROR,
		    MS_ERROR_NOT_AUTHORIZED,
		    _("The caller's uid %u has no user name, and none of its groups may send "
		      "through account '%s': add one to allowed-groups in %s"),
		    helper->uid,
		    helper->account_name,
		    helper->accounts_path);
		return;
	}
	g_task_return_new_error(task,
				MS_ERROR,
				MS_ERROR_NOT_AUTHORIZED,
				_("User '%s' may not send through account '%s': add it to "
				  "allowed-users or allowed-groups in %s"),
				name,
				helper->account_name,
				helper->accounts_path);
}

/* ---- asking the bus who called ---- */

static void
ms_authority_decide(GTask *task_owned)
{
	g_autoptr(GTask) task = task_owned;
	MsAuthority *self = g_task_get_source_object(task);
	MsAuthorityHelper *helper = g_task_get_task_data(task);
	g_autofree gchar *name = NULL;
	gid_t primary = (gid_t)-1;

	/* everybody may and the name is known: no trip to the worker */
	if ((!helper->system_bus || helper->uid == 0) &&
	    ms_authority_cached_user(self, helper->uid, &name, &primary)) {
		g_task_return_pointer(task,
				      ms_authority_caller_new(helper->uid, name),
				      (GDestroyNotify)ms_caller_free);
		return;
	}
	g_task_run_in_thread(task, ms_authority_decide_thread);
}

/* what the bus said about helper->sender, for the next calls on the same connection */
static void
ms_authority_remember_peer(GTask *task)
{
	MsAuthority *self = g_task_get_source_object(task);
	MsAuthorityHelper *helper = g_task_get_task_data(task);
	MsAuthorityPeer *peer = g_new0(MsAuthorityPeer, 1);
	gint64 now = g_get_monotonic_time();

	/* peers that left, or have not been asked about for a while, go */
	g_hash_table_foreach_remove(self->peers, ms_authority_peer_expired_cb, &now);
	peer->uid = helper->uid;
	peer->gids = helper->gids != NULL ? g_array_ref(helper->gids) : NULL;
	peer->expires = now + MS_AUTHORITY_CACHE_USEC;
	g_hash_table_replace(self->peers, g_strdup(helper->sender), peer);
}

static void
ms_authority_return_unknown_caller(GTask *task_owned, GError *error_local)
{
	g_autoptr(GTask) task = task_owned;
	g_autoptr(GError) error = error_local;

	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	g_dbus_error_strip_remote_error(error);
	g_task_return_new_error(task,
				MS_ERROR,
				MS_ERROR_NOT_AUTHORIZED,
				_("Cannot identify the caller: %s"),
				error->message);
}

static void
ms_authority_unix_user_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = G_TASK(user_data);
	MsAuthorityHelper *helper = g_task_get_task_data(task);
	GError *error = NULL;
	g_autoptr(GVariant) ret =
	    g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, &error);

	if (ret == NULL) {
		ms_authority_return_unknown_caller(g_steal_pointer(&task), error);
		return;
	}
	g_variant_get(ret, "(u)", &helper->uid);
	ms_authority_remember_peer(task);
	ms_authority_decide(g_steal_pointer(&task));
}

/* buses older than D-Bus 1.7 have no GetConnectionCredentials */
static void
ms_authority_ask_unix_user(GTask *task_owned)
{
	g_autoptr(GTask) task = task_owned;
	MsAuthority *self = g_task_get_source_object(task);
	MsAuthorityHelper *helper = g_task_get_task_data(task);
	GCancellable *cancellable = g_task_get_cancellable(task);

	g_dbus_connection_call(self->connection,
			       "org.freedesktop.DBus",
			       "/org/freedesktop/DBus",
			       "org.freedesktop.DBus",
			       "GetConnectionUnixUser",
			       g_variant_new("(s)", helper->sender),
			       G_VARIANT_TYPE("(u)"),
			       G_DBUS_CALL_FLAGS_NONE,
			       -1,
			       cancellable,
			       ms_authority_unix_user_cb,
			       g_steal_pointer(&task));
}

static void
ms_authority_credentials_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = G_TASK(user_data);
	MsAuthorityHelper *helper = g_task_get_task_data(task);
	GError *error = NULL;
	g_autoptr(GVariant) ret =
	    g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, &error);
	g_autoptr(GVariant) dict = NULL;
	g_autoptr(GVariant) gids = NULL;

	if (ret == NULL) {
		if (g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD)) {
			g_error_free(error);
			ms_authority_ask_unix_user(g_steal_pointer(&task));
			return;
		}
		ms_authority_return_unknown_caller(g_steal_pointer(&task), error);
		return;
	}
	dict = g_variant_get_child_value(ret, 0);
	if (!g_variant_lookup(dict, "UnixUserID", "u", &helper->uid)) {
		ms_authority_ask_unix_user(g_steal_pointer(&task));
		return;
	}
	/* the process's real groups, supplementary ones included (SO_PEERGROUPS); without them
	 * the worker asks the user database */
	gids = g_variant_lookup_value(dict, "UnixGroupIDs", G_VARIANT_TYPE("au"));
	if (gids != NULL) {
		gsize n = 0;
		const guint32 *values = g_variant_get_fixed_array(gids, &n, sizeof(guint32));
		helper->gids = g_array_sized_new(FALSE, FALSE, sizeof(guint32), n);
		g_array_append_vals(helper->gids, values, n);
	}
	ms_authority_remember_peer(task);
	ms_authority_decide(g_steal_pointer(&task));
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
	MsAuthorityHelper *helper;
	MsAuthorityPeer *peer;

	g_return_if_fail(MS_IS_AUTHORITY(self));
	g_return_if_fail(sender != NULL);
	g_return_if_fail(MS_IS_ACCOUNT(account));

	task = g_task_new(self, cancellable, callback, user_data);
	g_task_set_source_tag(task, ms_authority_check_async);
	helper = g_new0(MsAuthorityHelper, 1);
	helper->sender = g_strdup(sender);
	helper->account_name = g_strdup(ms_account_get_name(account));
	helper->accounts_path = g_strdup(self->accounts_path);
	helper->allowed_users = g_strdupv((gchar **)ms_account_get_allowed_users(account));
	helper->allowed_groups = g_strdupv((gchar **)ms_account_get_allowed_groups(account));
	helper->system_bus = self->system_bus;
	g_task_set_task_data(task, helper, (GDestroyNotify)ms_authority_helper_free);

	peer = g_hash_table_lookup(self->peers, sender);
	if (peer != NULL && peer->expires > g_get_monotonic_time()) {
		helper->uid = peer->uid;
		helper->gids = peer->gids != NULL ? g_array_ref(peer->gids) : NULL;
		ms_authority_decide(g_steal_pointer(&task));
		return;
	}
	/* the bus knows the peer from the socket (SO_PEERCRED); nothing in the message counts */
	g_dbus_connection_call(self->connection,
			       "org.freedesktop.DBus",
			       "/org/freedesktop/DBus",
			       "org.freedesktop.DBus",
			       "GetConnectionCredentials",
			       g_variant_new("(s)", sender),
			       G_VARIANT_TYPE("(a{sv})"),
			       G_DBUS_CALL_FLAGS_NONE,
			       -1,
			       cancellable,
			       ms_authority_credentials_cb,
			       g_steal_pointer(&task));
}

MsCaller *
ms_authority_check_cached(MsAuthority *self, const gchar *sender, MsAccount *account)
{
	MsAuthorityPeer *peer;
	g_autofree gchar *name = NULL;
	gid_t primary = (gid_t)-1;

	g_return_val_if_fail(MS_IS_AUTHORITY(self), NULL);
	g_return_val_if_fail(sender != NULL, NULL);
	g_return_val_if_fail(MS_IS_ACCOUNT(account), NULL);

	peer = g_hash_table_lookup(self->peers, sender);
	if (peer == NULL || peer->expires <= g_get_monotonic_time())
		return NULL;
	/* only where the answer is yes whatever the account says */
	if (self->system_bus && peer->uid != 0)
		return NULL;
	if (!ms_authority_cached_user(self, peer->uid, &name, &primary))
		return NULL;
	return ms_authority_caller_new(peer->uid, name);
}

MsCaller *
ms_authority_check_finish(MsAuthority *self, GAsyncResult *res, GError **error)
{
	g_return_val_if_fail(g_task_is_valid(res, self), NULL);
	return g_task_propagate_pointer(G_TASK(res), error);
}

/* ---- rate limit ---- */

/* drops the times that left the window; TRUE if none is left */
static gboolean
ms_authority_rate_prune(GArray *times, gint64 now)
{
	guint expired = 0;

	while (expired < times->len &&
	       g_array_index(times, gint64, expired) <= now - MS_AUTHORITY_RATE_WINDOW_USEC)
		expired++;
	if (expired > 0)
		g_array_remove_range(times, 0, expired);
	return times->len == 0;
}

static gboolean
ms_authority_rate_prune_cb(gpointer key, gpointer value, gpointer user_data)
{
	return ms_authority_rate_prune(value, *(gint64 *)user_data);
}

gboolean
ms_authority_take_rate_token(MsAuthority *self,
			     MsCaller *caller,
			     MsAccount *account,
			     GError **error)
{
	guint limit;
	gint64 now;
	g_autofree gchar *key = NULL;
	GArray *times;

	g_return_val_if_fail(MS_IS_AUTHORITY(self), FALSE);
	g_return_val_if_fail(caller != NULL, FALSE);
	g_return_val_if_fail(MS_IS_ACCOUNT(account), FALSE);

	limit = ms_account_get_rate_limit(account);
	if (!self->system_bus || limit == 0 || caller->uid == 0)
		return TRUE;

	/* forget callers that have been quiet for a minute, so the table stays small */
	now = g_get_monotonic_time();
	g_hash_table_foreach_remove(self->rate, ms_authority_rate_prune_cb, &now);

	key = g_strdup_printf("%u:%s", caller->uid, ms_account_get_name(account));
	times = g_hash_table_lookup(self->rate, key);
	if (times == NULL) {
		times = g_array_new(FALSE, FALSE, sizeof(gint64));
		g_hash_table_insert(self->rate, g_strdup(key), times);
	}
	if (times->len >= limit) {
		gint64 oldest = g_array_index(times, gint64, 0);
		gint64 wait = oldest + MS_AUTHORITY_RATE_WINDOW_USEC - now;
		guint wait_s = (guint)((wait + G_USEC_PER_SEC - 1) / G_USEC_PER_SEC);

		g_info("rate limit: %s (uid %u) for account '%s'",
		       caller->user_name,
		       caller->uid,
		       ms_account_get_name(account));
		g_set_error(error,
			    MS_ERROR,
			    MS_ERROR_RATE_LIMITED,
			    g_dngettext(GETTEXT_PACKAGE,
					"Account '%s' takes at most %u message per minute from "
					"user '%s' (rate-limit): try again in %u s",
					"Account '%s' takes at most %u messages per minute from "
					"user '%s' (rate-limit): try again in %u s",
					limit),
			    ms_account_get_name(account),
			    limit,
			    caller->user_name,
			    MAX(wait_s, 1));
		return FALSE;
	}
	g_array_append_val(times, now);
	return TRUE;
}

void
ms_authority_set_accounts_path(MsAuthority *self, const gchar *path)
{
	g_return_if_fail(MS_IS_AUTHORITY(self));
	g_return_if_fail(path != NULL);
	g_free(self->accounts_path);
	self->accounts_path = g_strdup(path);
}

MsAuthority *
ms_authority_new(GDBusConnection *connection, gboolean system_bus)
{
	MsAuthority *self;

	g_return_val_if_fail(G_IS_DBUS_CONNECTION(connection), NULL);
	self = g_object_new(MS_TYPE_AUTHORITY, NULL);
	self->connection = g_object_ref(connection);
	self->system_bus = system_bus;
	self->accounts_path = ms_config_default_path(system_bus);
	return self;
}

static void
ms_authority_init(MsAuthority *self)
{
	self->rate =
	    g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_array_unref);
	self->peers = g_hash_table_new_full(g_str_hash,
					    g_str_equal,
					    g_free,
					    (GDestroyNotify)ms_authority_peer_free);
	self->users = g_hash_table_new_full(g_direct_hash,
					    g_direct_equal,
					    NULL,
					    (GDestroyNotify)ms_authority_user_free);
	g_mutex_init(&self->users_lock);
}

static void
ms_authority_dispose(GObject *object)
{
	MsAuthority *self = MS_AUTHORITY(object);

	g_clear_object(&self->connection);
	G_OBJECT_CLASS(ms_authority_parent_class)->dispose(object);
}

static void
ms_authority_finalize(GObject *object)
{
	MsAuthority *self = MS_AUTHORITY(object);

	g_free(self->accounts_path);
	g_hash_table_unref(self->rate);
	g_hash_table_unref(self->peers);
	g_hash_table_unref(self->users);
	g_mutex_clear(&self->users_lock);
	G_OBJECT_CLASS(ms_authority_parent_class)->finalize(object);
}

static void
ms_authority_class_init(MsAuthorityClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);

	object_class->dispose = ms_authority_dispose;
	object_class->finalize = ms_authority_finalize;
}

static void
ms_authority_uid_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = G_TASK(user_data);
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) ret =
	    g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, &error);
	guint32 uid = 0;

	if (ret == NULL) {
		g_task_return_new_error(task,
					MS_ERROR,
					MS_ERROR_NOT_AUTHORIZED,
					_("Cannot identify the caller: %s"),
					error->message);
		return;
	}
	g_variant_get(ret, "(u)", &uid);
	g_task_return_int(task, uid);
}

void
ms_authority_get_uid_async(MsAuthority *self,
			   const gchar *sender,
			   GAsyncReadyCallback callback,
			   gpointer user_data)
{
	g_autoptr(GTask) task = NULL;

	g_return_if_fail(MS_IS_AUTHORITY(self));
	g_return_if_fail(sender != NULL);

	task = g_task_new(self, NULL, callback, user_data);
	g_task_set_source_tag(task, ms_authority_get_uid_async);
	g_dbus_connection_call(self->connection,
			       "org.freedesktop.DBus",
			       "/org/freedesktop/DBus",
			       "org.freedesktop.DBus",
			       "GetConnectionUnixUser",
			       g_variant_new("(s)", sender),
			       G_VARIANT_TYPE("(u)"),
			       G_DBUS_CALL_FLAGS_NONE,
			       -1,
			       NULL,
			       ms_authority_uid_cb,
			       g_steal_pointer(&task));
}

gboolean
ms_authority_get_uid_finish(MsAuthority *self, GAsyncResult *res, guint32 *uid, GError **error)
{
	gssize value;

	g_return_val_if_fail(g_task_is_valid(res, self), FALSE);
	value = g_task_propagate_int(G_TASK(res), error);
	if (value < 0)
		return FALSE;
	*uid = (guint32)value;
	return TRUE;
}

/* on the system bus a job is its submitter's and root's; on the session bus everybody on the
 * bus is the same user */
gboolean
ms_authority_may_manage_job(MsAuthority *self, guint32 caller_uid, guint32 owner_uid)
{
	g_return_val_if_fail(MS_IS_AUTHORITY(self), FALSE);
	return !self->system_bus || caller_uid == 0 || caller_uid == owner_uid;
}
