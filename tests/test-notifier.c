#include "config.h"

#include <glib.h>

#include "ms-error.h"
#include "ms-notifier.h"

typedef struct {
	MsNotifier *notifier;
	GPtrArray *digests; /* of MsNotification, copies of what "digest-ready" carried */
	GPtrArray *ids;	    /* the reserved id that came with each digest */
	guint reserved;	    /* how often the notifier asked for an id */
} MsTestNotifier;

static gchar *
ms_test_reserve_id(gpointer user_data)
{
	MsTestNotifier *t = user_data;
	return g_strdup_printf("reserved%u", ++t->reserved);
}

static void
ms_test_digest_ready_cb(MsNotifier *notifier,
			MsNotification *n,
			const gchar *reserved_id,
			gpointer user_data)
{
	MsTestNotifier *t = user_data;
	MsNotification *copy = g_new0(MsNotification, 1);

	copy->account = g_strdup(n->account);
	copy->subject = g_strdup(n->subject);
	copy->body = g_strdup(n->body);
	copy->coalesce_key = g_strdup(n->coalesce_key);
	copy->count = n->count;
	copy->first = n->first;
	copy->last = n->last;
	g_ptr_array_add(t->digests, copy);
	g_ptr_array_add(t->ids, g_strdup(reserved_id));
}

static void
ms_test_setup(MsTestNotifier *t, gconstpointer data)
{
	t->notifier = ms_notifier_new(ms_test_reserve_id, t);
	t->digests = g_ptr_array_new_with_free_func((GDestroyNotify)ms_notification_free);
	t->ids = g_ptr_array_new_with_free_func(g_free);
	t->reserved = 0;
	g_signal_connect(t->notifier, "digest-ready", G_CALLBACK(ms_test_digest_ready_cb), t);
}

static void
ms_test_teardown(MsTestNotifier *t, gconstpointer data)
{
	g_clear_object(&t->notifier);
	g_ptr_array_unref(t->digests);
	g_ptr_array_unref(t->ids);
}

static MsNotifyAction
ms_test_notify(MsTestNotifier *t,
	       const gchar *account,
	       guint window,
	       const gchar *subject,
	       const gchar *body,
	       const gchar *urgency,
	       const gchar *coalesce_key,
	       gchar **reserved_id)
{
	MsNotifyAction action = MS_NOTIFY_MERGED;
	g_autoptr(GError) error = NULL;
	gboolean ret = ms_notifier_notify(t->notifier,
					  account,
					  window,
					  subject,
					  body,
					  urgency,
					  coalesce_key,
					  &action,
					  reserved_id,
					  &error);

	g_assert_no_error(error);
	g_assert_true(ret);
	return action;
}

/* the usual call of these tests: a SEND_NOW must come without an id, a MERGED with one */
static void
ms_test_expect(MsTestNotifier *t,
	       guint window,
	       const gchar *subject,
	       const gchar *body,
	       const gchar *urgency,
	       const gchar *coalesce_key,
	       const gchar *expected_id)
{
	g_autofree gchar *id = NULL;
	MsNotifyAction action =
	    ms_test_notify(t, "admin", window, subject, body, urgency, coalesce_key, &id);

	g_assert_cmpint(action, ==, expected_id == NULL ? MS_NOTIFY_SEND_NOW : MS_NOTIFY_MERGED);
	g_assert_cmpstr(id, ==, expected_id);
}

static gboolean
ms_test_expired_cb(gpointer user_data)
{
	gboolean *expired = user_data;
	*expired = TRUE;
	return G_SOURCE_REMOVE;
}

/* runs the main loop until n digests arrived or max_ms passed */
static void
ms_test_wait_digests(MsTestNotifier *t, guint n, guint max_ms)
{
	gboolean expired = FALSE;
	guint timeout_id = g_timeout_add(max_ms, ms_test_expired_cb, &expired);

	while (!expired && t->digests->len < n)
		g_main_context_iteration(NULL, TRUE);
	if (!expired)
		g_source_remove(timeout_id);
}

/* the digest prints times to the second; starting early in a second keeps a burst of calls
 * inside that second so the expected text is exact */
static void
ms_test_align_to_second(void)
{
	gint64 usec = g_get_real_time() % G_USEC_PER_SEC;

	if (usec > G_USEC_PER_SEC / 4)
		g_usleep(G_USEC_PER_SEC - usec + 10000);
}

static gchar *
ms_test_format_utc(gint64 real_time, const gchar *format)
{
	g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc(real_time / G_USEC_PER_SEC);
	return g_date_time_format(dt, format);
}

static gchar *
ms_test_call_body(guint i)
{
	return g_strdup_printf("call %u\nsecond line\nthird line\nfourth line\n", i);
}

/* the digest of calls 1..count made with ms_test_call_body(), listing the first `listed` */
static gchar *
ms_test_expected_body(const MsNotification *n, guint listed)
{
	GString *str = g_string_new(NULL);
	g_autofree gchar *first = ms_test_format_utc(n->first, "%Y-%m-%d %H:%M:%S");
	g_autofree gchar *last = ms_test_format_utc(n->last, "%Y-%m-%d %H:%M:%S");
	g_autofree gchar *hms = ms_test_format_utc(n->first, "%H:%M:%S");

	/* the test runs with TZ=UTC, so local time has the offset +0000 */
	g_string_append_printf(str,
			       "This notification was repeated %u times between %s +0000 and %s "
			       "+0000.\n",
			       n->count,
			       first,
			       last);
	for (guint i = 1; i <= listed; i++) {
		g_string_append_printf(str,
				       "\n%s\n  call %u\n  second line\n  third line\n  …\n",
				       hms,
				       i);
	}
	if (n->count > listed)
		g_string_append_printf(str, "\n… and %u more\n", n->count - listed);
	return g_string_free(str, FALSE);
}

static void
ms_test_notifier_storm(MsTestNotifier *t, gconstpointer data)
{
	MsNotification *n;
	g_autofree gchar *expected = NULL;

	ms_test_align_to_second();
	for (guint i = 0; i < 50; i++) {
		g_autofree gchar *body = ms_test_call_body(i);
		ms_test_expect(t,
			       1,
			       "disk failing",
			       body,
			       "normal",
			       "sda",
			       i == 0 ? NULL : "reserved1");
	}
	g_assert_cmpuint(t->reserved, ==, 1);
	g_assert_cmpuint(t->digests->len, ==, 0);

	/* the end of the window gives the one digest: 2 mails in all */
	ms_test_wait_digests(t, 1, 5000);
	g_assert_cmpuint(t->digests->len, ==, 1);
	n = g_ptr_array_index(t->digests, 0);
	g_assert_cmpstr(g_ptr_array_index(t->ids, 0), ==, "reserved1");
	g_assert_cmpstr(n->account, ==, "admin");
	g_assert_cmpstr(n->subject, ==, "disk failing (repeated 49 times)");
	g_assert_cmpstr(n->coalesce_key, ==, "sda");
	g_assert_cmpuint(n->count, ==, 49);
	g_assert_cmpint(n->first, <=, n->last);
	g_assert_cmpint(n->first / G_USEC_PER_SEC, ==, n->last / G_USEC_PER_SEC);
	expected = ms_test_expected_body(n, 49);
	g_assert_cmpstr(n->body, ==, expected);

	/* the window is over: the next one goes out at once and opens a new window */
	ms_test_expect(t, 1, "disk failing", "again", "normal", "sda", NULL);
	ms_test_expect(t, 1, "disk failing", "again", "normal", "sda", "reserved2");
	ms_test_wait_digests(t, 2, 5000);
	g_assert_cmpuint(t->digests->len, ==, 2);
	n = g_ptr_array_index(t->digests, 1);
	g_assert_cmpstr(g_ptr_array_index(t->ids, 1), ==, "reserved2");
	g_assert_cmpstr(n->subject, ==, "disk failing (repeated 1 time)");
	g_assert_cmpuint(n->count, ==, 1);
}

static void
ms_test_notifier_entries_cap(MsTestNotifier *t, gconstpointer data)
{
	MsNotification *n;
	g_autofree gchar *expected = NULL;

	ms_test_align_to_second();
	for (guint i = 0; i <= MS_NOTIFIER_MAX_ENTRIES + 10; i++) {
		g_autofree gchar *body = ms_test_call_body(i);
		ms_test_expect(t, 60, "disk failing", body, "low", "", i == 0 ? NULL : "reserved1");
	}
	ms_notifier_flush(t->notifier);
	g_assert_cmpuint(t->digests->len, ==, 1);
	n = g_ptr_array_index(t->digests, 0);
	g_assert_cmpuint(n->count, ==, 60);
	g_assert_cmpstr(n->subject, ==, "disk failing (repeated 60 times)");
	g_assert_cmpint(n->first / G_USEC_PER_SEC, ==, n->last / G_USEC_PER_SEC);
	expected = ms_test_expected_body(n, MS_NOTIFIER_MAX_ENTRIES);
	g_assert_cmpstr(n->body, ==, expected);
	g_assert_true(g_str_has_suffix(n->body,
				       "  call 50\n  second line\n  third line\n  …\n"
				       "\n… and 10 more\n"));
}

static void
ms_test_notifier_excerpt(MsTestNotifier *t, gconstpointer data)
{
	MsNotification *n;
	g_autoptr(GString) long_line = g_string_new(NULL);
	g_autoptr(GString) expected = g_string_new(NULL);
	g_autofree gchar *stamp = NULL;
	g_autofree gchar *hms = NULL;

	/* 250 two-byte characters: the excerpt keeps 200 bytes, never half a character */
	for (guint i = 0; i < 250; i++)
		g_string_append(long_line, "é");
	g_string_append(long_line, "\nnext");

	ms_test_align_to_second();
	ms_test_expect(t, 60, "raid degraded", "first", "normal", "md0", NULL);
	ms_test_expect(t, 60, "raid degraded", "", "normal", "md0", "reserved1");
	ms_test_expect(t, 60, "raid degraded", "one\r\ntwo\r\n", "normal", "md0", "reserved1");
	ms_test_expect(t, 60, "raid degraded", "a\n\nb\nc", "normal", "md0", "reserved1");
	ms_test_expect(t, 60, "raid degraded", long_line->str, "normal", "md0", "reserved1");
	ms_notifier_flush(t->notifier);

	g_assert_cmpuint(t->digests->len, ==, 1);
	n = g_ptr_array_index(t->digests, 0);
	g_assert_cmpint(n->first / G_USEC_PER_SEC, ==, n->last / G_USEC_PER_SEC);
	stamp = ms_test_format_utc(n->first, "%Y-%m-%d %H:%M:%S +0000");
	hms = ms_test_format_utc(n->first, "%H:%M:%S");
	g_string_append_printf(expected,
			       "This notification was repeated 4 times between %s and %s.\n"
			       "\n%s\n"
			       "\n%s\n  one\n  two\n"
			       "\n%s\n  a\n\n  b\n  …\n"
			       "\n%s\n  ",
			       stamp,
			       stamp,
			       hms,
			       hms,
			       hms,
			       hms);
	for (guint i = 0; i < 100; i++)
		g_string_append(expected, "é");
	g_string_append(expected, "…\n  next\n");
	g_assert_cmpstr(n->body, ==, expected->str);
	g_assert_cmpstr(n->subject, ==, "raid degraded (repeated 4 times)");
	g_assert_cmpstr(n->coalesce_key, ==, "md0");
}

static void
ms_test_notifier_critical(MsTestNotifier *t, gconstpointer data)
{
	MsNotification *n;

	/* critical opens no window: the normal call after it is the first */
	ms_test_expect(t, 60, "disk failing", "x", "critical", "", NULL);
	ms_test_expect(t, 60, "disk failing", "x", "normal", "", NULL);
	/* inside the window critical is neither delayed nor counted */
	for (guint i = 0; i < 5; i++)
		ms_test_expect(t, 60, "disk failing", "x", "critical", "", NULL);
	ms_test_expect(t, 60, "disk failing", "x", "normal", "", "reserved1");
	ms_test_expect(t, 60, "disk failing", "x", "critical", "", NULL);
	ms_notifier_flush(t->notifier);

	g_assert_cmpuint(t->reserved, ==, 1);
	g_assert_cmpuint(t->digests->len, ==, 1);
	n = g_ptr_array_index(t->digests, 0);
	g_assert_cmpuint(n->count, ==, 1);
	g_assert_cmpstr(n->subject, ==, "disk failing (repeated 1 time)");
	g_assert_true(g_str_has_prefix(n->body, "This notification was repeated 1 time between "));
}

static void
ms_test_notifier_distinct(MsTestNotifier *t, gconstpointer data)
{
	g_autofree gchar *id = NULL;
	MsNotification *n;

	ms_test_expect(t, 60, "disk failing", "x", "normal", "sda", NULL);
	g_assert_cmpint(ms_test_notify(t, "other", 60, "disk failing", "x", "normal", "sda", &id),
			==,
			MS_NOTIFY_SEND_NOW);
	g_assert_null(id);
	ms_test_expect(t, 60, "disk failed", "x", "normal", "sda", NULL);
	ms_test_expect(t, 60, "disk failing", "x", "normal", "sdb", NULL);
	ms_test_expect(t, 60, "disk failing", "x", "normal", "", NULL);
	/* the parts of the key cannot run into each other */
	ms_test_expect(t, 60, "disk failings", "x", "normal", "da", NULL);
	ms_test_expect(t, 60, "disk failing", "sda", "normal", "", "reserved1");
	g_assert_cmpuint(t->reserved, ==, 1);

	/* only the window that had a repeat gives a digest */
	ms_notifier_flush(t->notifier);
	g_assert_cmpuint(t->digests->len, ==, 1);
	n = g_ptr_array_index(t->digests, 0);
	g_assert_cmpstr(n->account, ==, "admin");
	g_assert_cmpstr(n->subject, ==, "disk failing (repeated 1 time)");
	g_assert_cmpstr(n->coalesce_key, ==, "");
}

static void
ms_test_notifier_no_repeats(MsTestNotifier *t, gconstpointer data)
{
	ms_test_expect(t, 1, "disk failing", "x", "normal", "", NULL);
	ms_test_expect(t, 1, "disk failed", "x", "normal", "", NULL);
	ms_test_wait_digests(t, 1, 2500);
	g_assert_cmpuint(t->digests->len, ==, 0);
	g_assert_cmpuint(t->reserved, ==, 0);
	ms_test_expect(t, 1, "disk failing", "x", "normal", "", NULL);
}

static void
ms_test_notifier_window_zero(MsTestNotifier *t, gconstpointer data)
{
	for (guint i = 0; i < 10; i++)
		ms_test_expect(t, 0, "disk failing", "x", "normal", "", NULL);
	ms_notifier_flush(t->notifier);
	g_assert_cmpuint(t->digests->len, ==, 0);
	g_assert_cmpuint(t->reserved, ==, 0);
}

static void
ms_test_notifier_late_timeout(MsTestNotifier *t, gconstpointer data)
{
	MsNotification *n;

	ms_test_expect(t, 1, "disk failing", "x", "normal", "", NULL);
	ms_test_expect(t, 1, "disk failing", "y", "normal", "", "reserved1");
	/* the main loop does not run, so the timeout cannot: the next call closes the window */
	g_usleep(1200 * 1000);
	ms_test_expect(t, 1, "disk failing", "z", "normal", "", NULL);
	g_assert_cmpuint(t->digests->len, ==, 1);
	n = g_ptr_array_index(t->digests, 0);
	g_assert_cmpuint(n->count, ==, 1);
	g_assert_cmpstr(g_ptr_array_index(t->ids, 0), ==, "reserved1");
	ms_test_expect(t, 1, "disk failing", "z", "normal", "", "reserved2");
}

static void
ms_test_notifier_invalid_urgency(MsTestNotifier *t, gconstpointer data)
{
	const gchar *bad[] = {"urgent", "", "CRITICAL", "Normal"};

	ms_test_expect(t, 60, "disk failing", "x", "low", "", NULL);
	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(GError) error = NULL;
		g_autofree gchar *id = NULL;
		g_autofree gchar *msg =
		    g_strdup_printf("Unknown urgency '%s': use low, normal or critical", bad[i]);
		MsNotifyAction action = MS_NOTIFY_MERGED;
		gboolean ret = ms_notifier_notify(t->notifier,
						  "admin",
						  60,
						  "disk failing",
						  "x",
						  bad[i],
						  "",
						  &action,
						  &id,
						  &error);

		g_assert_error(error, MS_ERROR, MS_ERROR_INVALID_ARGS);
		g_assert_cmpstr(error->message, ==, msg);
		g_assert_false(ret);
		g_assert_null(id);
	}
	/* refused calls were not merged; low and normal of the same key are */
	g_assert_cmpuint(t->reserved, ==, 0);
	ms_test_expect(t, 60, "disk failing", "x", "normal", "", "reserved1");
	ms_notifier_flush(t->notifier);
	g_assert_cmpuint(t->digests->len, ==, 1);
	g_assert_cmpuint(((MsNotification *)g_ptr_array_index(t->digests, 0))->count, ==, 1);
}

static void
ms_test_notifier_windows_cap(MsTestNotifier *t, gconstpointer data)
{
	MsNotification *n;

	for (guint i = 0; i < MS_NOTIFIER_MAX_WINDOWS; i++) {
		g_autofree gchar *subject = g_strdup_printf("s%u", i);
		ms_test_expect(t, 60, subject, "x", "normal", "", NULL);
	}
	/* no room for one more window: sent at once, every time */
	ms_test_expect(t, 60, "overflow", "x", "normal", "", NULL);
	ms_test_expect(t, 60, "overflow", "x", "normal", "", NULL);
	/* the open windows still merge */
	ms_test_expect(t, 60, "s0", "x", "normal", "", "reserved1");
	ms_test_expect(t, 60, "s999", "x", "normal", "", "reserved2");
	ms_notifier_flush(t->notifier);
	g_assert_cmpuint(t->digests->len, ==, 2);

	/* closed windows make room again */
	ms_test_expect(t, 60, "overflow", "x", "normal", "", NULL);
	ms_test_expect(t, 60, "overflow", "x", "normal", "", "reserved3");
	ms_notifier_flush(t->notifier);
	g_assert_cmpuint(t->digests->len, ==, 3);
	n = g_ptr_array_index(t->digests, 2);
	g_assert_cmpstr(n->subject, ==, "overflow (repeated 1 time)");
}

static void
ms_test_notifier_dispose(MsTestNotifier *t, gconstpointer data)
{
	ms_test_expect(t, 1, "disk failing", "x", "normal", "", NULL);
	ms_test_expect(t, 1, "disk failing", "x", "normal", "", "reserved1");
	g_object_add_weak_pointer(G_OBJECT(t->notifier), (gpointer *)&t->notifier);
	g_object_unref(t->notifier);
	g_assert_null(t->notifier);

	/* the window's timeout went with the notifier */
	ms_test_wait_digests(t, 1, 2500);
	g_assert_cmpuint(t->digests->len, ==, 0);
}

/* the digest of an open window, as it would go out now; nothing for a window without repeats
 * or an id that is no window's; peeking changes nothing */
static void
ms_test_notifier_peek(MsTestNotifier *t, gconstpointer data)
{
	g_autofree gchar *id = NULL;
	g_autoptr(MsNotification) none = NULL;
	g_autoptr(MsNotification) one = NULL;
	g_autoptr(MsNotification) two = NULL;

	g_assert_cmpint(ms_test_notify(t, "admin", 60, "raid", "degraded", "normal", "", &id),
			==,
			MS_NOTIFY_SEND_NOW);
	g_assert_null(ms_notifier_peek_digest(t->notifier, "reserved1"));
	g_assert_cmpint(ms_test_notify(t, "admin", 60, "raid", "still degraded", "normal", "", &id),
			==,
			MS_NOTIFY_MERGED);
	g_assert_cmpstr(id, ==, "reserved1");
	one = ms_notifier_peek_digest(t->notifier, id);
	g_assert_nonnull(one);
	g_assert_cmpuint(one->count, ==, 1);
	g_assert_cmpstr(one->subject, ==, "raid (repeated 1 time)");
	g_assert_true(g_str_has_suffix(one->body, " still degraded\n"));
	g_clear_pointer(&id, g_free);
	ms_test_notify(t, "admin", 60, "raid", "worse", "normal", "", &id);
	two = ms_notifier_peek_digest(t->notifier, id);
	g_assert_cmpuint(two->count, ==, 2);
	g_assert_cmpstr(two->subject, ==, "raid (repeated 2 times)");
	none = ms_notifier_peek_digest(t->notifier, "reserved9");
	g_assert_null(none);
	g_assert_cmpuint(t->digests->len, ==, 0);
}

static void
ms_test_add(const gchar *name, void (*func)(MsTestNotifier *, gconstpointer))
{
	g_autofree gchar *path = g_strdup_printf("/mail-sender/notifier/%s", name);
	g_test_add(path, MsTestNotifier, NULL, ms_test_setup, func, ms_test_teardown);
}

int
main(int argc, char **argv)
{
	/* the digest prints local time; pin it so that the expected text is exact */
	g_setenv("TZ", "UTC", TRUE);
	g_test_init(&argc, &argv, NULL);
	ms_test_add("storm", ms_test_notifier_storm);
	ms_test_add("entries-cap", ms_test_notifier_entries_cap);
	ms_test_add("excerpt", ms_test_notifier_excerpt);
	ms_test_add("critical", ms_test_notifier_critical);
	ms_test_add("distinct", ms_test_notifier_distinct);
	ms_test_add("no-repeats", ms_test_notifier_no_repeats);
	ms_test_add("window-zero", ms_test_notifier_window_zero);
	ms_test_add("late-timeout", ms_test_notifier_late_timeout);
	ms_test_add("invalid-urgency", ms_test_notifier_invalid_urgency);
	ms_test_add("windows-cap", ms_test_notifier_windows_cap);
	ms_test_add("dispose", ms_test_notifier_dispose);
	ms_test_add("peek", ms_test_notifier_peek);
	return g_test_run();
}
