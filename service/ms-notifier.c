#define G_LOG_DOMAIN "MsNotifier"

#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "ms-error.h"
#include "ms-notifier.h"

/* how much of each merged body a digest shows */
#define MS_NOTIFIER_EXCERPT_LINES    3
#define MS_NOTIFIER_EXCERPT_LINE_MAX 200 /* bytes */

typedef struct {
	MsNotifier *notifier; /* unowned, outlives its windows */
	gchar *map_key;
	gchar *account;
	gchar *subject;
	gchar *coalesce_key;
	gchar *reserved_id; /* NULL until the first repeat */
	GPtrArray *entries; /* of gchar *, one excerpt per merged call, at most MAX_ENTRIES */
	guint count;
	gint64 first; /* wall-clock µs of the first and last merged call, for the text */
	gint64 last;
	gint64 deadline; /* monotonic µs: a clock change does not stretch the window */
	guint timeout_id;
} MsNotifierWindow;

struct _MsNotifier {
	GObject parent_instance;
	MsNotifierReserveIdFunc reserve_id;
	gpointer reserve_id_data;
	GHashTable *windows; /* map key -> MsNotifierWindow */
};

G_DEFINE_TYPE(MsNotifier, ms_notifier, G_TYPE_OBJECT)

enum { SIGNAL_DIGEST_READY, SIGNAL_LAST };
static guint signals[SIGNAL_LAST] = {0};

void
ms_notification_free(MsNotification *n)
{
	if (n == NULL)
		return;
	g_free(n->account);
	g_free(n->subject);
	g_free(n->body);
	g_free(n->coalesce_key);
	g_free(n);
}

static void
ms_notifier_window_free(MsNotifierWindow *window)
{
	g_clear_handle_id(&window->timeout_id, g_source_remove);
	g_free(window->map_key);
	g_free(window->account);
	g_free(window->subject);
	g_free(window->coalesce_key);
	g_free(window->reserved_id);
	g_ptr_array_unref(window->entries);
	g_free(window);
}

/* the parts are length-prefixed so that no subject can make two different triples collide */
static gchar *
ms_notifier_map_key(const gchar *account, const gchar *subject, const gchar *coalesce_key)
{
	return g_strdup_printf("%zu:%s%zu:%s%s",
			       strlen(account),
			       account,
			       strlen(subject),
			       subject,
			       coalesce_key);
}

static gchar *
ms_notifier_format_time(gint64 real_time, const gchar *format)
{
	g_autoptr(GDateTime) dt = g_date_time_new_from_unix_local(real_time / G_USEC_PER_SEC);
	return g_date_time_format(dt, format);
}

/* the time of the call and the first lines of its body; the body itself is not kept */
static gchar *
ms_notifier_excerpt(gint64 real_time, const gchar *body)
{
	GString *str = g_string_new(NULL);
	g_autofree gchar *hms = ms_notifier_format_time(real_time, "%H:%M:%S");
	const gchar *p = body;

	g_string_append_printf(str, "%s\n", hms);
	for (guint i = 0; i < MS_NOTIFIER_EXCERPT_LINES && *p != '\0'; i++) {
		const gchar *eol = strchr(p, '\n');
		gsize len = eol != NULL ? (gsize)(eol - p) : strlen(p);
		gsize shown = len;
		gboolean cut;

		if (shown > 0 && p[shown - 1] == '\r')
			shown--;
		/* cut at a character boundary: D-Bus strings are valid UTF-8 */
		cut = shown > MS_NOTIFIER_EXCERPT_LINE_MAX;
		if (cut)
			shown = g_utf8_find_prev_char(p, p + MS_NOTIFIER_EXCERPT_LINE_MAX + 1) - p;
		if (shown > 0) {
			g_string_append(str, "  ");
			g_string_append_len(str, p, shown);
			if (cut)
				g_string_append(str, "…");
		}
		g_string_append_c(str, '\n');
		p = eol != NULL ? eol + 1 : p + len;
	}
	if (*p != '\0')
		g_string_append(str, "  …\n");
	return g_string_free(str, FALSE);
}

static MsNotification *
ms_notifier_window_to_digest(MsNotifierWindow *window)
{
	MsNotification *n = g_new0(MsNotification, 1);
	GString *body = g_string_new(NULL);
	g_autofree gchar *first = ms_notifier_format_time(window->first, "%Y-%m-%d %H:%M:%S %z");
	g_autofree gchar *last = ms_notifier_format_time(window->last, "%Y-%m-%d %H:%M:%S %z");

	g_string_append_printf(
	    body,
	    g_dngettext(GETTEXT_PACKAGE,
			"This notification was repeated %u time between %s and %s.\n",
			"This notification was repeated %u times between %s and %s.\n",
			window->count),
	    window->count,
	    first,
	    last);
	for (guint i = 0; i < window->entries->len; i++) {
		g_string_append_c(body, '\n');
		g_string_append(body, g_ptr_array_index(window->entries, i));
	}
	if (window->count > window->entries->len) {
		g_string_append_c(body, '\n');
		g_string_append_printf(body,
				       _("… and %u more\n"),
				       window->count - window->entries->len);
	}

	n->account = g_strdup(window->account);
	n->subject = g_strdup_printf(g_dngettext(GETTEXT_PACKAGE,
						 "%s (repeated %u time)",
						 "%s (repeated %u times)",
						 window->count),
				     window->subject,
				     window->count);
	n->body = g_string_free(body, FALSE);
	n->coalesce_key = g_strdup(window->coalesce_key);
	n->count = window->count;
	n->first = window->first;
	n->last = window->last;
	return n;
}

/* forgets the window first, so that a handler of the signal may notify again */
static void
ms_notifier_window_close(MsNotifier *self, MsNotifierWindow *window)
{
	g_autoptr(MsNotification) digest = NULL;
	g_autofree gchar *reserved_id = g_steal_pointer(&window->reserved_id);

	if (window->count > 0)
		digest = ms_notifier_window_to_digest(window);
	g_hash_table_remove(self->windows, window->map_key);
	if (digest == NULL)
		return;
	g_info("digest of %u repeats of '%s' for account '%s' as job %s",
	       digest->count,
	       digest->subject,
	       digest->account,
	       reserved_id);
	g_signal_emit(self, signals[SIGNAL_DIGEST_READY], 0, digest, reserved_id);
}

static gboolean
ms_notifier_window_timeout_cb(gpointer user_data)
{
	MsNotifierWindow *window = user_data;

	window->timeout_id = 0;
	ms_notifier_window_close(window->notifier, window);
	return G_SOURCE_REMOVE;
}

static void
ms_notifier_open_window(MsNotifier *self,
			gchar *map_key,
			const gchar *account,
			guint window_secs,
			const gchar *subject,
			const gchar *coalesce_key)
{
	MsNotifierWindow *window = g_new0(MsNotifierWindow, 1);

	window->notifier = self;
	window->map_key = map_key;
	window->account = g_strdup(account);
	window->subject = g_strdup(subject);
	window->coalesce_key = g_strdup(coalesce_key);
	window->entries = g_ptr_array_new_with_free_func(g_free);
	window->deadline = g_get_monotonic_time() + (gint64)window_secs * G_USEC_PER_SEC;
	window->timeout_id =
	    g_timeout_add_seconds(window_secs, ms_notifier_window_timeout_cb, window);
	g_hash_table_insert(self->windows, window->map_key, window);
}

gboolean
ms_notifier_notify(MsNotifier *self,
		   const gchar *account,
		   guint window_secs,
		   const gchar *subject,
		   const gchar *body,
		   const gchar *urgency,
		   const gchar *coalesce_key,
		   MsNotifyAction *action,
		   gchar **reserved_id,
		   GError **error)
{
	MsNotifierWindow *window;
	g_autofree gchar *map_key = NULL;
	gint64 now = g_get_real_time();

	g_return_val_if_fail(MS_IS_NOTIFIER(self), FALSE);
	g_return_val_if_fail(account != NULL, FALSE);
	g_return_val_if_fail(subject != NULL, FALSE);
	g_return_val_if_fail(body != NULL, FALSE);
	g_return_val_if_fail(urgency != NULL, FALSE);
	g_return_val_if_fail(coalesce_key != NULL, FALSE);
	g_return_val_if_fail(action != NULL, FALSE);
	g_return_val_if_fail(reserved_id != NULL, FALSE);

	*action = MS_NOTIFY_SEND_NOW;
	*reserved_id = NULL;
	if (g_strcmp0(urgency, "low") != 0 && g_strcmp0(urgency, "normal") != 0 &&
	    g_strcmp0(urgency, "critical") != 0) {
		g_set_error(error,
			    MS_ERROR,
			    MS_ERROR_INVALID_ARGS,
			    _("Unknown urgency '%s': use low, normal or critical"),
			    urgency);
		return FALSE;
	}
	if (g_strcmp0(urgency, "critical") == 0 || window_secs == 0)
		return TRUE;

	map_key = ms_notifier_map_key(account, subject, coalesce_key);
	window = g_hash_table_lookup(self->windows, map_key);

	/* a busy main loop may run the timeout late; the window is over all the same */
	if (window != NULL && g_get_monotonic_time() >= window->deadline) {
		ms_notifier_window_close(self, window);
		window = NULL;
	}
	if (window == NULL) {
		if (g_hash_table_size(self->windows) >= MS_NOTIFIER_MAX_WINDOWS) {
			g_debug("%u notification windows open, not merging '%s'",
				MS_NOTIFIER_MAX_WINDOWS,
				subject);
			return TRUE;
		}
		ms_notifier_open_window(self,
					g_steal_pointer(&map_key),
					account,
					window_secs,
					subject,
					coalesce_key);
		return TRUE;
	}

	if (window->reserved_id == NULL)
		window->reserved_id = self->reserve_id(self->reserve_id_data);
	if (window->count == 0)
		window->first = now;
	window->last = now;
	window->count++;
	if (window->entries->len < MS_NOTIFIER_MAX_ENTRIES)
		g_ptr_array_add(window->entries, ms_notifier_excerpt(now, body));
	*action = MS_NOTIFY_MERGED;
	*reserved_id = g_strdup(window->reserved_id);
	return TRUE;
}

MsNotification *
ms_notifier_peek_digest(MsNotifier *self, const gchar *reserved_id)
{
	GHashTableIter iter;
	gpointer value = NULL;

	g_return_val_if_fail(MS_IS_NOTIFIER(self), NULL);
	g_return_val_if_fail(reserved_id != NULL, NULL);

	g_hash_table_iter_init(&iter, self->windows);
	while (g_hash_table_iter_next(&iter, NULL, &value)) {
		MsNotifierWindow *window = value;
		if (g_strcmp0(window->reserved_id, reserved_id) == 0 && window->count > 0)
			return ms_notifier_window_to_digest(window);
	}
	return NULL;
}

void
ms_notifier_flush(MsNotifier *self)
{
	g_return_if_fail(MS_IS_NOTIFIER(self));

	/* one at a time: a signal handler may change the table */
	while (g_hash_table_size(self->windows) > 0) {
		GHashTableIter iter;
		gpointer value = NULL;

		g_hash_table_iter_init(&iter, self->windows);
		g_hash_table_iter_next(&iter, NULL, &value);
		ms_notifier_window_close(self, value);
	}
}

static void
ms_notifier_dispose(GObject *object)
{
	MsNotifier *self = MS_NOTIFIER(object);

	/* removes the timeouts; pending digests are dropped, ms_notifier_flush() sends them */
	g_hash_table_remove_all(self->windows);
	G_OBJECT_CLASS(ms_notifier_parent_class)->dispose(object);
}

static void
ms_notifier_finalize(GObject *object)
{
	MsNotifier *self = MS_NOTIFIER(object);

	g_hash_table_unref(self->windows);
	G_OBJECT_CLASS(ms_notifier_parent_class)->finalize(object);
}

static void
ms_notifier_class_init(MsNotifierClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);

	object_class->dispose = ms_notifier_dispose;
	object_class->finalize = ms_notifier_finalize;
	signals[SIGNAL_DIGEST_READY] = g_signal_new("digest-ready",
						    G_TYPE_FROM_CLASS(klass),
						    G_SIGNAL_RUN_LAST,
						    0,
						    NULL,
						    NULL,
						    NULL,
						    G_TYPE_NONE,
						    2,
						    G_TYPE_POINTER,
						    G_TYPE_STRING);
}

static void
ms_notifier_init(MsNotifier *self)
{
	/* the window owns its map key */
	self->windows = g_hash_table_new_full(g_str_hash,
					      g_str_equal,
					      NULL,
					      (GDestroyNotify)ms_notifier_window_free);
}

MsNotifier *
ms_notifier_new(MsNotifierReserveIdFunc reserve_id, gpointer user_data)
{
	MsNotifier *self;

	g_return_val_if_fail(reserve_id != NULL, NULL);

	self = g_object_new(MS_TYPE_NOTIFIER, NULL);
	self->reserve_id = reserve_id;
	self->reserve_id_data = user_data;
	return self;
}
