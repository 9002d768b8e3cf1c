#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* Storm protection for Notify, independent of D-Bus and of the queue.
 *
 * Repeats of the same (account, subject, coalesce-key) inside the account's notify-coalesce
 * window are merged: the first call opens a window and is sent at once, the repeats are folded
 * into one digest that is handed out when the window closes. Critical calls are never merged,
 * never counted and never open a window; a window of 0 seconds never merges.
 *
 * How every merged caller gets a real job path at once: when the first repeat arrives, the
 * notifier asks the reserve function (given to ms_notifier_new(), in practice the queue) for a
 * job id and keeps it for the digest. That repeat and every later one of the window get this
 * same id back, and the daemon answers them with the job path made from it. When the window
 * closes, "digest-ready" carries the digest and the reserved id, and the handler submits the
 * digest under exactly that id, so the one job ends in the one Sent or Failed signal all merged
 * callers wait for. A window without repeats reserves nothing and sends no digest.
 *
 * Memory is bounded: a digest keeps at most MS_NOTIFIER_MAX_ENTRIES excerpts (time and the
 * first lines of each body) and only counts the rest, and at most MS_NOTIFIER_MAX_WINDOWS
 * windows are open at once; a call that would open one more is sent at once without a window.
 *
 * Signals:
 *   "digest-ready" (MsNotification *digest, gchar *reserved_id): a window with repeats closed;
 *       the digest belongs to the notifier and is freed after the emission. Emitted from the
 *       window's timeout, from ms_notifier_flush(), or from ms_notifier_notify() itself when a
 *       late timeout has not yet closed an expired window of the same key */
#define MS_TYPE_NOTIFIER (ms_notifier_get_type())
G_DECLARE_FINAL_TYPE(MsNotifier, ms_notifier, MS, NOTIFIER, GObject)

#define MS_NOTIFIER_MAX_ENTRIES 50
#define MS_NOTIFIER_MAX_WINDOWS 1000

/* a digest: what to send, composed by the daemon to the account's notify-to; count is the
 * number of merged calls, first and last are their wall-clock times in µs since the epoch */
typedef struct {
	gchar *account;
	gchar *subject;
	gchar *body;
	gchar *coalesce_key;
	guint count;
	gint64 first;
	gint64 last;
} MsNotification;

void
ms_notification_free(MsNotification *n);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MsNotification, ms_notification_free)

typedef enum {
	MS_NOTIFY_SEND_NOW, /* send this subject and body now, as a job of its own */
	MS_NOTIFY_MERGED,   /* folded into the digest; answer with the reserved id */
} MsNotifyAction;

/* returns a new job id, unique and D-Bus path-safe, that a later submission will use */
typedef gchar *(*MsNotifierReserveIdFunc)(gpointer user_data);

MsNotifier *
ms_notifier_new(MsNotifierReserveIdFunc reserve_id, gpointer user_data);

/* window_secs: the account's notify-coalesce in seconds; urgency: "low", "normal" or "critical",
 * anything else is MS_ERROR_INVALID_ARGS; coalesce_key: "" if none. On MS_NOTIFY_MERGED,
 * reserved_id is set to the digest's job id, otherwise to NULL */
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
		   GError **error);

/* the digest of the open window whose digest job is reserved_id, as it would be sent if the
 * window closed now (so it can be kept durably while the window is open); NULL if there is no
 * such window */
MsNotification *
ms_notifier_peek_digest(MsNotifier *self, const gchar *reserved_id);

/* closes every open window now, emitting the pending digests: call it on shutdown so that no
 * reserved id is left without its job */
void
ms_notifier_flush(MsNotifier *self);

G_END_DECLS
