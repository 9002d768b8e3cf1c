#pragma once

#include <gio/gio.h>

#include "ms-config.h"
#include "ms-credentials.h"
#include "ms-job.h"

G_BEGIN_DECLS

/* The spool and the delivery of what is in it.
 *
 * A job is committed atomically before it is handed out: the message is written to ID.msg,
 * fsync'd and renamed into place, then the envelope to ID.job the same way, then the directory
 * is fsync'd; ID.job is the commit marker. Delivered jobs are removed; permanently failed ones
 * move to failed/ with the reason added to their .job file. On load, committed jobs are picked
 * up again and leftovers of an interrupted commit are removed.
 *
 * Signals:
 *   "job-added" (MsJob): a new or recovered job, before anybody learns its path
 *   "job-progress" (MsJob, gchar *stage, guint64 done, guint64 total): queued, connecting, tls,
 *       auth, sending (rate-limited to about 10 per second), deferred
 *   "job-finished" (MsJob): the job reached sent, failed or cancelled
 *   "job-removed" (MsJob): a finished job is forgotten, 10 minutes after it finished
 *   "length-changed" (): the number of unfinished jobs changed */
#define MS_TYPE_QUEUE (ms_queue_get_type())
G_DECLARE_FINAL_TYPE(MsQueue, ms_queue, MS, QUEUE, GObject)

MsQueue *
ms_queue_new(MsConfig *config, MsCredentials *credentials, const gchar *spool_dir);
/* creates the spool, cleans up after a crash and recovers unfinished jobs */
gboolean
ms_queue_load(MsQueue *self, GError **error);
/* starts delivering: only once the jobs' objects are on the bus, so that no signal of a
 * recovered job is lost */
void
ms_queue_start(MsQueue *self);
void
ms_queue_set_config(MsQueue *self, MsConfig *config);

/* owner: the uid of the caller, who may cancel the job (MS_JOB_OWNER_NONE: root only);
 * mail_flags: what the message needs from the server (ms_message_get_mail_flags()) */
void
ms_queue_submit_async(MsQueue *self,
		      guint32 owner,
		      MsAccount *account,
		      const gchar *sender,
		      const gchar *const *recipients,
		      MsMailFlags mail_flags,
		      GBytes *message,
		      GCancellable *cancellable,
		      GAsyncReadyCallback callback,
		      gpointer user_data);
/* a message written piece by piece (attachments streamed from the caller's files): write it
 * to the returned stream, close it, then ms_queue_submit_prepared_async() with the id, or
 * ms_queue_discard_prepared() */
GOutputStream *
ms_queue_prepare(MsQueue *self, gchar **id, GError **error);
void
ms_queue_discard_prepared(MsQueue *self, const gchar *id);
void
ms_queue_submit_prepared_async(MsQueue *self,
			       const gchar *id,
			       guint32 owner,
			       MsAccount *account,
			       const gchar *sender,
			       const gchar *const *recipients,
			       MsMailFlags mail_flags,
			       guint64 size,
			       GCancellable *cancellable,
			       GAsyncReadyCallback callback,
			       gpointer user_data);
/* either submit; MS_ERROR_STORAGE when the message could not be made durable; nothing is
 * left behind then */
MsJob *
ms_queue_submit_finish(MsQueue *self, GAsyncResult *res, GError **error);

/* a job that exists (on the bus, with its path) before its message does: Notify digests, whose
 * callers need the path at once while the digest is written at the end of the window. In the
 * spool from the first ms_queue_update_reserved_async() on */
MsJob *
ms_queue_reserve(MsQueue *self,
		 MsAccount *account,
		 const gchar *sender,
		 const gchar *const *recipients);
/* writes a reserved job's message as it is so far (a digest that grows with every merged
 * Notify) durably, without delivering it: after a crash the job is delivered with this content
 * under its path; finish with ms_queue_submit_reserved_finish() */
void
ms_queue_update_reserved_async(MsQueue *self,
			       MsJob *job,
			       GBytes *message,
			       GAsyncReadyCallback callback,
			       gpointer user_data);
/* the final message of a reserved job, which is then delivered */
void
ms_queue_submit_reserved_async(MsQueue *self,
			       MsJob *job,
			       GBytes *message,
			       GAsyncReadyCallback callback,
			       gpointer user_data);
gboolean
ms_queue_submit_reserved_finish(MsQueue *self, GAsyncResult *res, GError **error);

MsJob *
ms_queue_get_job(MsQueue *self, const gchar *id);
/* every known job, oldest first */
GPtrArray *
ms_queue_get_jobs(MsQueue *self);
guint
ms_queue_get_length(MsQueue *self);
/* MS_ERROR_INVALID_ARGS when the job has already finished */
gboolean
ms_queue_cancel(MsQueue *self, MsJob *job, GError **error);

/* stop taking work: submissions fail, in-flight attempts are aborted and stay in the spool for
 * the next start; completes when nothing runs any more */
void
ms_queue_stop_async(MsQueue *self, GAsyncReadyCallback callback, gpointer user_data);
gboolean
ms_queue_stop_finish(MsQueue *self, GAsyncResult *res, GError **error);

G_END_DECLS
