#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* The spool directory: one committed job is ID.msg (the message) plus ID.job (its envelope, a
 * key file). A commit writes both to tmp/, makes them durable, renames ID.msg then ID.job into
 * the spool and fsyncs the directory: ID.job is the commit marker. Commits that arrive while
 * another is being written are batched into one group commit, so that many concurrent
 * submissions share one flush instead of paying one each. Permanently failed jobs move to
 * failed/. */
#define MS_TYPE_SPOOL (ms_spool_get_type())
G_DECLARE_FINAL_TYPE(MsSpool, ms_spool, MS, SPOOL, GObject)

MsSpool *
ms_spool_new(const gchar *dir);
/* creates the directories and removes what an interrupted commit left behind: everything in
 * tmp/ and every ID.msg without its ID.job (nobody was ever told those were queued) */
gboolean
ms_spool_open(MsSpool *self, GError **error);
const gchar *
ms_spool_get_dir(MsSpool *self);
/* the ids of the committed jobs, oldest first */
GPtrArray *
ms_spool_list(MsSpool *self);
GKeyFile *
ms_spool_load_envelope(MsSpool *self, const gchar *id, GError **error);
gchar *
ms_spool_get_message_path(MsSpool *self, const gchar *id);

/* a stream into tmp/ID.msg, for a message that is written piece by piece (attachments read
 * from the caller's files); commit it with ms_spool_commit_async(message = NULL), or drop it
 * with ms_spool_discard() */
GOutputStream *
ms_spool_create_message(MsSpool *self, const gchar *id, GError **error);
void
ms_spool_discard(MsSpool *self, const gchar *id);

/* MS_ERROR_STORAGE when it cannot be made durable; nothing is left behind then. message NULL:
 * the message is in tmp/ID.msg already (ms_spool_create_message) */
void
ms_spool_commit_async(MsSpool *self,
		      const gchar *id,
		      GBytes *message,
		      const gchar *envelope,
		      GAsyncReadyCallback callback,
		      gpointer user_data);
/* the same for a job that may be in the spool already (a Notify digest as it grows): its files
 * are replaced in one commit, and a failure leaves the ones there as they were; finish with
 * ms_spool_commit_finish() */
void
ms_spool_replace_async(MsSpool *self,
		       const gchar *id,
		       GBytes *message,
		       const gchar *envelope,
		       GAsyncReadyCallback callback,
		       gpointer user_data);
gboolean
ms_spool_commit_finish(MsSpool *self, GAsyncResult *res, GError **error);
/* a commit is being written or waits to be: a shutdown waits for it */
gboolean
ms_spool_is_busy(MsSpool *self);

/* an attempt holds the job's lock (flock on ID.job), so that two daemons on one spool (the
 * moments of `--replace`) never deliver the same job at once: G_IO_ERROR_BUSY while another
 * process holds it, G_IO_ERROR_NOT_FOUND once the job has left the spool */
gint
ms_spool_lock(MsSpool *self, const gchar *id, GError **error);
void
ms_spool_unlock(gint fd);
/* the job ended in failed/ (finished by another process) */
gboolean
ms_spool_has_failed(MsSpool *self, const gchar *id);

/* rewrites the envelope of a committed job (attempt counts): not flushed, a crash may lose the
 * update but never the job */
void
ms_spool_update_envelope(MsSpool *self, const gchar *id, const gchar *envelope);
/* a delivered or cancelled job: the message goes, then the commit marker */
void
ms_spool_remove(MsSpool *self, const gchar *id);
/* a permanently failed job: kept in failed/ with its final envelope */
void
ms_spool_move_to_failed(MsSpool *self, const gchar *id, const gchar *envelope);

G_END_DECLS
