#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* Follows one job's Progress/Sent/Failed signals for `mail-sender send --wait`. Create it before
 * the call that starts the job: signals that arrive before the job path is known are kept and
 * replayed once ms_cli_progress_set_job() names the job. */
typedef struct _MsCliProgress MsCliProgress;

/* interactive: redraw one status line (a terminal); otherwise print one line per stage */
MsCliProgress *
ms_cli_progress_new(GDBusConnection *bus, gboolean interactive);
void
ms_cli_progress_set_job(MsCliProgress *self, const gchar *job_path);
/* stops ms_cli_progress_run() with exit_status, e.g. when the call failed */
void
ms_cli_progress_finish(MsCliProgress *self, gint exit_status);
/* the GAsyncReadyCallback of a g_dbus_connection_call_with_unix_fd_list() that returns the new
 * job's path "(o)", with the MsCliProgress as user_data: prints the path and follows the job,
 * or prints the error and finishes with MS_CLI_EXIT_FAILED */
void
ms_cli_progress_job_reply_cb(GObject *source, GAsyncResult *res, gpointer user_data);
/* runs the main loop until the job's Sent (returns 0) or Failed (1), or _finish() */
gint
ms_cli_progress_run(MsCliProgress *self);
void
ms_cli_progress_free(MsCliProgress *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MsCliProgress, ms_cli_progress_free)

/* the status line for a Progress signal, e.g. "sending 45% (12.3 KiB of 27.1 KiB)"; with
 * interactive FALSE the sending line has only the size: "sending 27.1 KiB" */
gchar *
ms_cli_progress_format(const gchar *stage, guint64 done, guint64 total, gboolean interactive);

G_END_DECLS
