#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* The spool directory: one committed job is one file, ID.mail: the message exactly as it will
 * be sent, then its envelope (a key file), then a one-line footer with the two lengths. A
 * commit writes it to tmp/, makes it durable, renames it into the spool and fsyncs the
 * directory. One file per job, not a message and an envelope beside it: a job costs one file
 * to create, rename and delete, which is about half of what a submission costs the file system.
 * Commits that arrive while another is being written are batched into one group commit, so
 * that many concurrent submissions share one flush instead of paying one each. An envelope
 * that changes after the commit (attempts, recipients already served) is kept beside the job
 * as ID.state. Permanently failed jobs move to failed/ as ID.msg and ID.job, for people to
 * read. */
#define MS_TYPE_SPOOL (ms_spool_get_type())
G_DECLARE_FINAL_TYPE(MsSpool, ms_spool, MS, SPOOL, GObject)

MsSpool *
ms_spool_new(const gchar *dir);
/* creates the directories, removes what an interrupted commit left behind (everything in tmp/:
 * nobody was ever told those were queued) and turns jobs of the 0.1 layout (ID.msg and ID.job)
 * into ID.mail */
gboolean
ms_spool_open(MsSpool *self, GError **error);
const gchar *
ms_spool_get_dir(MsSpool *self);
/* the ids of the committed jobs, oldest first */
GPtrArray *
ms_spool_list(MsSpool *self);
/* the job's newest envelope, and the size of its message */
GKeyFile *
ms_spool_load_envelope(MsSpool *self, const gchar *id, guint64 *message_size, GError **error);
/* the message of a job locked with ms_spool_lock(), from its start; read exactly message_size
 * bytes of it (the envelope follows). A small one is read into memory at once: it was written
 * a moment ago and is in the page cache, and streaming it would take a worker thread per
 * read. */
GInputStream *
ms_spool_read_message(MsSpool *self,
		      const gchar *id,
		      gint lock_fd,
		      guint64 *message_size,
		      GError **error);

/* a stream into tmp/ID.mail, for a message that is written piece by piece (attachments read
 * from the caller's files); commit it with ms_spool_commit_async(message = NULL), or drop it
 * with ms_spool_discard() */
GOutputStream *
ms_spool_create_message(MsSpool *self, const gchar *id, GError **error);
void
ms_spool_discard(MsSpool *self, const gchar *id);

/* MS_ERROR_STORAGE when it cannot be made durable; nothing is left behind then. message NULL:
 * the message is in tmp/ID.mail already (ms_spool_create_message) */
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

/* an attempt holds the job's lock (flock on ID.mail), so that two daemons on one spool (the
 * moments of `--replace`) never deliver the same job at once: G_IO_ERROR_BUSY while another
 * process holds it, G_IO_ERROR_NOT_FOUND once the job has left the spool */
gint
ms_spool_lock(MsSpool *self, const gchar *id, GError **error);
void
ms_spool_unlock(gint fd);
/* the job ended in failed/ (finished by another process) */
gboolean
ms_spool_has_failed(MsSpool *self, const gchar *id);

/* keeps a newer envelope of a committed job (attempt counts, recipients already served) in
 * ID.state: not flushed, a crash may lose the update but never the job */
void
ms_spool_update_envelope(MsSpool *self, const gchar *id, const gchar *envelope);
/* a delivered or cancelled job leaves the spool */
void
ms_spool_remove(MsSpool *self, const gchar *id);
/* a permanently failed job: kept in failed/ as ID.msg and ID.job (its final envelope) */
void
ms_spool_move_to_failed(MsSpool *self, const gchar *id, const gchar *envelope);

G_END_DECLS
