#define G_LOG_DOMAIN "MsSpool"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "ms-error.h"
#include "ms-job.h"
#include "ms-spool.h"

#define MS_SPOOL_JOB_SUFFIX   ".mail"
#define MS_SPOOL_STATE_SUFFIX ".state"
/* the last line of a job file: "mail-sender-spool-1 <message length> <envelope length>\n",
 * the lengths in hex of fixed width, so that the footer has a fixed size */
#define MS_SPOOL_FOOTER_MAGIC "mail-sender-spool-1"
#define MS_SPOOL_FOOTER_SIZE  (sizeof(MS_SPOOL_FOOTER_MAGIC) - 1 + 1 + 16 + 1 + 8 + 1)
#define MS_SPOOL_ENVELOPE_MAX (16 * 1024 * 1024)
/* files of delivered jobs kept in tmp/ for new commits to overwrite, and how long an idle
 * spool keeps them */
#define MS_SPOOL_RECYCLE_MAX	      32
#define MS_SPOOL_RECYCLE_IDLE_SECONDS 10
/* messages up to this size are read into memory at once for delivery */
#define MS_SPOOL_READ_AT_ONCE_SIZE (64 * 1024)

struct _MsSpool {
	GObject parent_instance;
	gchar *dir;
	gchar *tmp_dir;
	gchar *failed_dir;
	GPtrArray *pending; /* MsSpoolCommit waiting for the next group commit */
	gboolean writing;   /* a group commit runs in a worker thread */
	/* Files of delivered jobs, moved to tmp/ (out of the queue) instead of deleted, for the
	 * next commits to overwrite. On ext4 a new file is the dearest part of a commit: finding a
	 * free inode skips the many freed a moment ago, and deleting frees (and with `discard`
	 * trims) its block. Overwriting a file that has the block already costs neither: it
	 * doubled the file system's jobs per second in a test of the commit pattern. Main thread
	 * only: commits take a file when they are queued. */
	GQueue recycled;
	guint recycle_idle_id;
	guint64 activity; /* commits and removals, to tell an idle spool */
	guint64 activity_at_check;
};

G_DEFINE_TYPE(MsSpool, ms_spool, G_TYPE_OBJECT)

/* names the recycled files of all spools of this process */
static gint ms_spool_recycle_serial = 0;

/* one job of a group commit */
typedef struct {
	GTask *task;
	gchar *id;
	GBytes *message;
	gchar *envelope;
	gboolean replace; /* a job already in the spool: a failure must not remove it */
	gchar *tmp_path;  /* where it is written: tmp/ID.mail, or a recycled file */
	gboolean recycled;
	GError *error;
} MsSpoolCommit;

static void
ms_spool_commit_free(MsSpoolCommit *commit)
{
	g_clear_object(&commit->task);
	g_free(commit->id);
	g_clear_pointer(&commit->message, g_bytes_unref);
	g_free(commit->envelope);
	g_free(commit->tmp_path);
	g_clear_error(&commit->error);
	g_free(commit);
}

static gchar *
ms_spool_path(const gchar *dir, const gchar *id, const gchar *suffix)
{
	g_autofree gchar *name = g_strconcat(id, suffix, NULL);
	return g_build_filename(dir, name, NULL);
}

static gboolean
ms_spool_set_errno_error(GError **error, int errsv, const gchar *what, const gchar *path)
{
	g_set_error(error,
		    G_FILE_ERROR,
		    g_file_error_from_errno(errsv),
		    "%s %s: %s",
		    what,
		    path,
		    g_strerror(errsv));
	return FALSE;
}

static void
ms_spool_format_footer(gchar footer[MS_SPOOL_FOOTER_SIZE + 1],
		       guint64 message_size,
		       gsize envelope_size)
{
	g_snprintf(footer,
		   MS_SPOOL_FOOTER_SIZE + 1,
		   "%s %016" G_GINT64_MODIFIER "x %08x\n",
		   MS_SPOOL_FOOTER_MAGIC,
		   message_size,
		   (guint)envelope_size);
}

static gboolean
ms_spool_pread_all(int fd, void *buf, gsize size, goffset offset)
{
	gsize done = 0;

	while (done < size) {
		ssize_t n = pread(fd, (guint8 *)buf + done, size - done, (off_t)(offset + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return FALSE;
		done += (gsize)n;
	}
	return TRUE;
}

static gboolean
ms_spool_parse_hex(const gchar *text, guint digits, guint64 *value)
{
	*value = 0;
	for (guint i = 0; i < digits; i++) {
		gint digit = g_ascii_xdigit_value(text[i]);
		if (digit < 0)
			return FALSE;
		*value = *value * 16 + (guint64)digit;
	}
	return TRUE;
}

/* the sizes of a job file's message and envelope, from its footer; an error if it is not a
 * whole job file */
static gboolean
ms_spool_read_footer(int fd,
		     const gchar *path,
		     guint64 *message_size,
		     gsize *envelope_size,
		     GError **error)
{
	const gsize magic_len = sizeof(MS_SPOOL_FOOTER_MAGIC) - 1;
	gchar footer[MS_SPOOL_FOOTER_SIZE];
	guint64 msg = 0;
	guint64 env = 0;
	struct stat st;

	if (fstat(fd, &st) != 0)
		return ms_spool_set_errno_error(error, errno, "reading", path);
	if ((guint64)st.st_size < MS_SPOOL_FOOTER_SIZE ||
	    !ms_spool_pread_all(fd, footer, sizeof(footer), st.st_size - MS_SPOOL_FOOTER_SIZE) ||
	    memcmp(footer, MS_SPOOL_FOOTER_MAGIC " ", magic_len + 1) != 0 ||
	    !ms_spool_parse_hex(footer + magic_len + 1, 16, &msg) ||
	    footer[magic_len + 17] != ' ' ||
	    !ms_spool_parse_hex(footer + magic_len + 18, 8, &env) ||
	    footer[MS_SPOOL_FOOTER_SIZE - 1] != '\n' || env > MS_SPOOL_ENVELOPE_MAX ||
	    msg > (guint64)st.st_size || msg + env + MS_SPOOL_FOOTER_SIZE != (guint64)st.st_size) {
		g_set_error(error,
			    G_IO_ERROR,
			    G_IO_ERROR_INVALID_DATA,
			    "%s is not a complete spool job (no valid footer)",
			    path);
		return FALSE;
	}
	*message_size = msg;
	*envelope_size = (gsize)env;
	return TRUE;
}

/* writes the pieces in order, as few system calls as the kernel allows */
static gboolean
ms_spool_writev_all(int fd, struct iovec *iov, guint n_iov)
{
	while (n_iov > 0) {
		ssize_t n = writev(fd, iov, (int)n_iov);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return FALSE;
		while (n_iov > 0 && (gsize)n >= iov->iov_len) {
			n -= (ssize_t)iov->iov_len;
			iov++;
			n_iov--;
		}
		if (n_iov > 0) {
			iov->iov_base = (guint8 *)iov->iov_base + n;
			iov->iov_len -= (gsize)n;
		}
	}
	return TRUE;
}

/* tmp/ID.mail: the message (written now, or streamed there before), the envelope and the
 * footer; no flush here, the group commit flushes once for all */
static gboolean
ms_spool_write_job_file(const gchar *path,
			GBytes *message,
			const gchar *envelope,
			gboolean overwrite,
			GError **error)
{
	int fd;
	gsize env_len = strlen(envelope);
	guint64 msg_len = 0;
	gchar footer[MS_SPOOL_FOOTER_SIZE + 1];
	struct iovec iov[3];
	guint n_iov = 0;

	if (env_len > MS_SPOOL_ENVELOPE_MAX) {
		g_set_error(error,
			    G_IO_ERROR,
			    G_IO_ERROR_INVALID_ARGUMENT,
			    "the envelope of %s is larger than %u MiB",
			    path,
			    (guint)(MS_SPOOL_ENVELOPE_MAX / (1024 * 1024)));
		return FALSE;
	}
	if (message != NULL) {
		/* a recycled file may have gone meanwhile (another daemon's start empties tmp/
		 * during --replace): then it is created again */
		fd = open(path,
			  overwrite ? O_WRONLY | O_CREAT | O_CLOEXEC
				    : O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
			  0600);
		if (fd < 0)
			return ms_spool_set_errno_error(error, errno, "creating", path);
		iov[n_iov].iov_base = (void *)g_bytes_get_data(message, NULL);
		iov[n_iov++].iov_len = g_bytes_get_size(message);
		msg_len = g_bytes_get_size(message);
	} else {
		struct stat st;
		fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
		if (fd < 0)
			return ms_spool_set_errno_error(error, errno, "opening", path);
		if (fstat(fd, &st) != 0) {
			int errsv = errno;
			close(fd);
			return ms_spool_set_errno_error(error, errsv, "reading", path);
		}
		msg_len = (guint64)st.st_size;
	}
	ms_spool_format_footer(footer, msg_len, env_len);
	iov[n_iov].iov_base = (void *)envelope;
	iov[n_iov++].iov_len = env_len;
	iov[n_iov].iov_base = footer;
	iov[n_iov++].iov_len = MS_SPOOL_FOOTER_SIZE;
	/* an overwritten file is cut to the new length: nothing of the job it held stays */
	if (!ms_spool_writev_all(fd, iov, n_iov) ||
	    (overwrite && ftruncate(fd, (off_t)(msg_len + env_len + MS_SPOOL_FOOTER_SIZE)) != 0)) {
		int errsv = errno;
		close(fd);
		g_unlink(path);
		return ms_spool_set_errno_error(error, errsv, "writing", path);
	}
	if (close(fd) != 0) {
		int errsv = errno;
		g_unlink(path);
		return ms_spool_set_errno_error(error, errsv, "writing", path);
	}
	return TRUE;
}

/* flush everything written to the file system the spool is on (syncfs: one flush for the
 * whole batch), or fsync the directory itself after renames */
static gboolean
ms_spool_sync_dir(const gchar *dir, gboolean whole_fs, GError **error)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return ms_spool_set_errno_error(error, errno, "opening", dir);
	rc = whole_fs ? syncfs(fd) : fsync(fd);
	if (rc != 0) {
		int errsv = errno;
		close(fd);
		return ms_spool_set_errno_error(error, errsv, "syncing", dir);
	}
	close(fd);
	return TRUE;
}

static void
ms_spool_unlink_commit(MsSpool *self, MsSpoolCommit *commit)
{
	g_unlink(commit->tmp_path);
	if (!commit->replace) {
		g_autofree gchar *job = ms_spool_path(self->dir, commit->id, MS_SPOOL_JOB_SUFFIX);
		g_unlink(job);
	}
}

/* the worker: write every job file of the batch to tmp/, flush once, rename them into place,
 * fsync the directory once; a failure of the shared steps fails the whole batch */
static void
ms_spool_group_commit_thread(GTask *task, gpointer source, gpointer task_data, GCancellable *c)
{
	MsSpool *self = MS_SPOOL(source);
	GPtrArray *batch = task_data;
	g_autoptr(GError) error_shared = NULL;
	guint written = 0;

	for (guint i = 0; i < batch->len; i++) {
		MsSpoolCommit *commit = g_ptr_array_index(batch, i);

		/* no message: it was streamed into tmp/ already (ms_spool_create_message) */
		if (!ms_spool_write_job_file(commit->tmp_path,
					     commit->message,
					     commit->envelope,
					     commit->recycled,
					     &commit->error)) {
			ms_spool_unlink_commit(self, commit);
			continue;
		}
		written++;
	}
	if (written > 0 && !ms_spool_sync_dir(self->tmp_dir, TRUE, &error_shared))
		written = 0;
	for (guint i = 0; i < batch->len && error_shared == NULL; i++) {
		MsSpoolCommit *commit = g_ptr_array_index(batch, i);
		g_autofree gchar *to = ms_spool_path(self->dir, commit->id, MS_SPOOL_JOB_SUFFIX);

		if (commit->error != NULL)
			continue;
		if (g_rename(commit->tmp_path, to) != 0) {
			ms_spool_set_errno_error(&commit->error,
						 errno,
						 "renaming",
						 commit->tmp_path);
			ms_spool_unlink_commit(self, commit);
		} else if (commit->replace) {
			/* the new envelope is in the new file: an older update must not win */
			g_autofree gchar *state =
			    ms_spool_path(self->dir, commit->id, MS_SPOOL_STATE_SUFFIX);
			g_unlink(state);
		}
	}
	if (error_shared == NULL && written > 0)
		ms_spool_sync_dir(self->dir, FALSE, &error_shared);
	for (guint i = 0; i < batch->len; i++) {
		MsSpoolCommit *commit = g_ptr_array_index(batch, i);
		if (error_shared != NULL && commit->error == NULL) {
			commit->error = g_error_copy(error_shared);
			ms_spool_unlink_commit(self, commit);
		}
	}
	g_debug("group commit of %u job(s)", batch->len);
	g_task_return_boolean(task, TRUE);
}

static void
ms_spool_start_group_commit(MsSpool *self);

static void
ms_spool_group_commit_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	MsSpool *self = MS_SPOOL(source);
	GPtrArray *batch = g_task_get_task_data(G_TASK(res));

	/* before the callbacks: they may ask ms_spool_is_busy() or commit again */
	self->writing = FALSE;
	for (guint i = 0; i < batch->len; i++) {
		MsSpoolCommit *commit = g_ptr_array_index(batch, i);
		if (commit->error != NULL) {
			g_task_return_new_error(commit->task,
						MS_ERROR,
						MS_ERROR_STORAGE,
						_("Cannot write the message to the spool: %s"),
						commit->error->message);
			continue;
		}
		g_task_return_boolean(commit->task, TRUE);
	}
	if (!self->writing && self->pending->len > 0)
		ms_spool_start_group_commit(self);
}

gboolean
ms_spool_is_busy(MsSpool *self)
{
	g_return_val_if_fail(MS_IS_SPOOL(self), FALSE);
	return self->writing || self->pending->len > 0;
}

static void
ms_spool_start_group_commit(MsSpool *self)
{
	g_autoptr(GTask) task = g_task_new(self, NULL, ms_spool_group_commit_cb, NULL);
	GPtrArray *batch = g_steal_pointer(&self->pending);

	self->pending = g_ptr_array_new_with_free_func((GDestroyNotify)ms_spool_commit_free);
	self->writing = TRUE;
	g_task_set_source_tag(task, ms_spool_start_group_commit);
	g_task_set_task_data(task, batch, (GDestroyNotify)g_ptr_array_unref);
	g_task_run_in_thread(task, ms_spool_group_commit_thread);
}

static void
ms_spool_commit_full(MsSpool *self,
		     const gchar *id,
		     GBytes *message,
		     const gchar *envelope,
		     gboolean replace,
		     GAsyncReadyCallback callback,
		     gpointer user_data)
{
	MsSpoolCommit *commit;

	commit = g_new0(MsSpoolCommit, 1);
	commit->task = g_task_new(self, NULL, callback, user_data);
	g_task_set_source_tag(commit->task, ms_spool_commit_async);
	commit->id = g_strdup(id);
	commit->message = message != NULL ? g_bytes_ref(message) : NULL;
	commit->envelope = g_strdup(envelope);
	commit->replace = replace;
	/* a streamed message is in tmp/ID.mail already */
	if (message != NULL && !g_queue_is_empty(&self->recycled)) {
		commit->tmp_path = g_queue_pop_head(&self->recycled);
		commit->recycled = TRUE;
	} else {
		commit->tmp_path = ms_spool_path(self->tmp_dir, id, MS_SPOOL_JOB_SUFFIX);
	}
	self->activity++;
	g_ptr_array_add(self->pending, commit);
	/* while a batch is being written the next one gathers; it starts when that one ends */
	if (!self->writing)
		ms_spool_start_group_commit(self);
}

void
ms_spool_replace_async(MsSpool *self,
		       const gchar *id,
		       GBytes *message,
		       const gchar *envelope,
		       GAsyncReadyCallback callback,
		       gpointer user_data)
{
	g_return_if_fail(MS_IS_SPOOL(self));
	g_return_if_fail(ms_job_id_is_valid(id));
	g_return_if_fail(message != NULL);
	g_return_if_fail(envelope != NULL);

	ms_spool_commit_full(self, id, message, envelope, TRUE, callback, user_data);
}

void
ms_spool_commit_async(MsSpool *self,
		      const gchar *id,
		      GBytes *message,
		      const gchar *envelope,
		      GAsyncReadyCallback callback,
		      gpointer user_data)
{
	g_return_if_fail(MS_IS_SPOOL(self));
	g_return_if_fail(ms_job_id_is_valid(id));
	g_return_if_fail(envelope != NULL);

	ms_spool_commit_full(self, id, message, envelope, FALSE, callback, user_data);
}

gboolean
ms_spool_commit_finish(MsSpool *self, GAsyncResult *res, GError **error)
{
	g_return_val_if_fail(g_task_is_valid(res, self), FALSE);
	return g_task_propagate_boolean(G_TASK(res), error);
}

GOutputStream *
ms_spool_create_message(MsSpool *self, const gchar *id, GError **error)
{
	g_autofree gchar *path = NULL;
	g_autoptr(GFile) file = NULL;
	g_autoptr(GError) error_local = NULL;
	GFileOutputStream *out;

	g_return_val_if_fail(MS_IS_SPOOL(self), NULL);
	g_return_val_if_fail(ms_job_id_is_valid(id), NULL);

	path = ms_spool_path(self->tmp_dir, id, MS_SPOOL_JOB_SUFFIX);
	file = g_file_new_for_path(path);
	/* opening a new file is quick; the writing that follows is asynchronous */
	out = g_file_create(file, G_FILE_CREATE_PRIVATE, NULL, &error_local);
	if (out == NULL) {
		g_set_error(error,
			    MS_ERROR,
			    MS_ERROR_STORAGE,
			    _("Cannot write the message to the spool: %s"),
			    error_local->message);
		return NULL;
	}
	/* the composer writes many small pieces: each unbuffered write would be a trip to a
	 * worker thread */
	{
		GOutputStream *buffered =
		    g_buffered_output_stream_new_sized(G_OUTPUT_STREAM(out), 64 * 1024);
		g_object_unref(out);
		return buffered;
	}
}

void
ms_spool_discard(MsSpool *self, const gchar *id)
{
	g_autofree gchar *path = NULL;

	g_return_if_fail(MS_IS_SPOOL(self));
	path = ms_spool_path(self->tmp_dir, id, MS_SPOOL_JOB_SUFFIX);
	g_unlink(path);
}

static gboolean
ms_spool_mkdir(const gchar *dir, GError **error)
{
	if (g_mkdir_with_parents(dir, 0700) != 0) {
		g_set_error(error,
			    MS_ERROR,
			    MS_ERROR_STORAGE,
			    _("Cannot create the spool directory %s: %s"),
			    dir,
			    g_strerror(errno));
		return FALSE;
	}
	return TRUE;
}

/* a job of the 0.1 layout, ID.msg and ID.job, becomes ID.mail by the same protocol as a commit:
 * written to tmp/, flushed, renamed into the spool, the directory flushed; only then do the old
 * files go. A crash in between leaves both, and the next start finishes the move. */
static gboolean
ms_spool_migrate_job(MsSpool *self, const gchar *id, GError **error)
{
	g_autofree gchar *old_job = ms_spool_path(self->dir, id, ".job");
	g_autofree gchar *old_msg = ms_spool_path(self->dir, id, ".msg");
	g_autofree gchar *tmp = ms_spool_path(self->tmp_dir, id, MS_SPOOL_JOB_SUFFIX);
	g_autofree gchar *done = ms_spool_path(self->dir, id, MS_SPOOL_JOB_SUFFIX);
	g_autofree gchar *envelope = NULL;
	g_autoptr(GFile) from = g_file_new_for_path(old_msg);
	g_autoptr(GFile) to = g_file_new_for_path(tmp);
	gboolean complete = FALSE;
	int fd;

	/* an ID.mail is there already if a crash came after its rename; it is whole then, but
	 * the old files are the proof: build it again unless it reads as a complete job */
	fd = open(done, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		guint64 message_size = 0;
		gsize envelope_size = 0;
		complete = ms_spool_read_footer(fd, done, &message_size, &envelope_size, NULL);
		close(fd);
	}
	if (!complete) {
		if (!g_file_get_contents(old_job, &envelope, NULL, error) ||
		    !g_file_copy(from, to, G_FILE_COPY_OVERWRITE, NULL, NULL, NULL, error) ||
		    !ms_spool_write_job_file(tmp, NULL, envelope, FALSE, error))
			return FALSE;
		fd = open(tmp, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || fsync(fd) != 0) {
			int errsv = errno;
			if (fd >= 0)
				close(fd);
			return ms_spool_set_errno_error(error, errsv, "syncing", tmp);
		}
		close(fd);
		if (g_rename(tmp, done) != 0)
			return ms_spool_set_errno_error(error, errno, "renaming", tmp);
		if (!ms_spool_sync_dir(self->dir, FALSE, error))
			return FALSE;
	}
	g_unlink(old_msg);
	g_unlink(old_job);
	g_info("moved job %s to the spool layout of one file per job", id);
	return TRUE;
}

gboolean
ms_spool_open(MsSpool *self, GError **error)
{
	g_autoptr(GDir) dir = NULL;
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	const gchar *name;

	g_return_val_if_fail(MS_IS_SPOOL(self), FALSE);

	if (!ms_spool_mkdir(self->dir, error) || !ms_spool_mkdir(self->tmp_dir, error) ||
	    !ms_spool_mkdir(self->failed_dir, error))
		return FALSE;
	dir = g_dir_open(self->tmp_dir, 0, error);
	if (dir == NULL)
		return FALSE;
	while ((name = g_dir_read_name(dir)) != NULL) {
		g_autofree gchar *path = g_build_filename(self->tmp_dir, name, NULL);
		g_debug("removing %s left by an interrupted commit", path);
		g_unlink(path);
	}
	g_clear_pointer(&dir, g_dir_close);
	dir = g_dir_open(self->dir, 0, error);
	if (dir == NULL)
		return FALSE;
	while ((name = g_dir_read_name(dir)) != NULL)
		g_ptr_array_add(names, g_strdup(name));
	for (guint i = 0; i < names->len; i++) {
		const gchar *file = g_ptr_array_index(names, i);
		g_autofree gchar *path = g_build_filename(self->dir, file, NULL);
		g_autofree gchar *id = NULL;
		g_autofree gchar *job = NULL;
		g_autoptr(GError) error_local = NULL;

		if (g_str_has_suffix(file, ".job")) {
			/* the 0.1 layout: ID.job marked a committed ID.msg */
			id = g_strndup(file, strlen(file) - 4);
			if (ms_job_id_is_valid(id) && !ms_spool_migrate_job(self, id, &error_local))
				g_warning("cannot move job %s to the new spool layout; its files "
					  "stay as they are and the next start tries again: %s",
					  id,
					  error_local->message);
			continue;
		}
		if (g_str_has_suffix(file, ".msg")) {
			/* 0.1: a message without its ID.job, a commit that never finished */
			id = g_strndup(file, strlen(file) - 4);
			job = ms_spool_path(self->dir, id, ".job");
		} else if (g_str_has_suffix(file, MS_SPOOL_STATE_SUFFIX)) {
			/* the newer envelope of a job that was removed before it */
			id = g_strndup(file, strlen(file) - strlen(MS_SPOOL_STATE_SUFFIX));
			job = ms_spool_path(self->dir, id, MS_SPOOL_JOB_SUFFIX);
		} else {
			continue;
		}
		if (!g_file_test(job, G_FILE_TEST_EXISTS)) {
			g_debug("removing %s: its job is not in the spool", path);
			g_unlink(path);
		}
	}
	return TRUE;
}

/* g_ptr_array_sort() passes pointers to the elements */
static gint
ms_spool_compare_ids(gconstpointer a, gconstpointer b)
{
	return g_strcmp0(*(const gchar *const *)a, *(const gchar *const *)b);
}

GPtrArray *
ms_spool_list(MsSpool *self)
{
	g_autoptr(GDir) dir = NULL;
	GPtrArray *ids = g_ptr_array_new_with_free_func(g_free);
	const gchar *name;

	g_return_val_if_fail(MS_IS_SPOOL(self), ids);
	dir = g_dir_open(self->dir, 0, NULL);
	if (dir == NULL)
		return ids;
	while ((name = g_dir_read_name(dir)) != NULL) {
		g_autofree gchar *id = NULL;
		if (!g_str_has_suffix(name, MS_SPOOL_JOB_SUFFIX))
			continue;
		id = g_strndup(name, strlen(name) - strlen(MS_SPOOL_JOB_SUFFIX));
		if (ms_job_id_is_valid(id))
			g_ptr_array_add(ids, g_steal_pointer(&id));
	}
	/* ids start with the submission time in hex, so this is oldest first */
	g_ptr_array_sort(ids, ms_spool_compare_ids);
	return ids;
}

GKeyFile *
ms_spool_load_envelope(MsSpool *self, const gchar *id, guint64 *message_size, GError **error)
{
	g_autofree gchar *path = NULL;
	g_autofree gchar *state = NULL;
	g_autofree gchar *envelope = NULL;
	g_autoptr(GKeyFile) kf = g_key_file_new();
	gsize envelope_size = 0;
	gboolean ok;
	int fd;

	g_return_val_if_fail(MS_IS_SPOOL(self), NULL);
	path = ms_spool_path(self->dir, id, MS_SPOOL_JOB_SUFFIX);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ms_spool_set_errno_error(error, errno, "opening", path);
		return NULL;
	}
	ok = ms_spool_read_footer(fd, path, message_size, &envelope_size, error);
	if (ok) {
		envelope = g_malloc(envelope_size + 1);
		envelope[envelope_size] = '\0';
		ok = ms_spool_pread_all(fd, envelope, envelope_size, (goffset)*message_size);
		if (!ok)
			ms_spool_set_errno_error(error, errno != 0 ? errno : EIO, "reading", path);
	}
	close(fd);
	if (!ok)
		return NULL;
	/* the envelope as it was updated after the commit, if it was */
	state = ms_spool_path(self->dir, id, MS_SPOOL_STATE_SUFFIX);
	if (g_key_file_load_from_file(kf, state, G_KEY_FILE_NONE, NULL))
		return g_steal_pointer(&kf);
	if (!g_key_file_load_from_data(kf, envelope, envelope_size, G_KEY_FILE_NONE, error))
		return NULL;
	return g_steal_pointer(&kf);
}

GInputStream *
ms_spool_read_message(MsSpool *self,
		      const gchar *id,
		      gint lock_fd,
		      guint64 *message_size,
		      GError **error)
{
	g_autofree gchar *path = NULL;
	g_autoptr(GFile) file = NULL;
	gsize envelope_size = 0;

	g_return_val_if_fail(MS_IS_SPOOL(self), NULL);
	g_return_val_if_fail(lock_fd >= 0, NULL);

	path = ms_spool_path(self->dir, id, MS_SPOOL_JOB_SUFFIX);
	if (!ms_spool_read_footer(lock_fd, path, message_size, &envelope_size, error))
		return NULL;
	if (*message_size <= MS_SPOOL_READ_AT_ONCE_SIZE) {
		g_autofree guint8 *data = g_malloc(MAX(*message_size, 1));
		g_autoptr(GBytes) bytes = NULL;

		if (!ms_spool_pread_all(lock_fd, data, *message_size, 0)) {
			ms_spool_set_errno_error(error, errno != 0 ? errno : EIO, "reading", path);
			return NULL;
		}
		bytes = g_bytes_new_take(g_steal_pointer(&data), *message_size);
		return g_memory_input_stream_new_from_bytes(bytes);
	}
	/* read in 64 KiB chunks as it is sent, in GIO's worker threads, not mapped: mapped pages
	 * once read stay in the daemon's RSS, so a 50 MiB message would grow it by 50 MiB */
	file = g_file_new_for_path(path);
	return G_INPUT_STREAM(g_file_read(file, NULL, error));
}

const gchar *
ms_spool_get_dir(MsSpool *self)
{
	g_return_val_if_fail(MS_IS_SPOOL(self), NULL);
	return self->dir;
}

gint
ms_spool_lock(MsSpool *self, const gchar *id, GError **error)
{
	g_autofree gchar *path = NULL;
	int fd;

	g_return_val_if_fail(MS_IS_SPOOL(self), -1);
	path = ms_spool_path(self->dir, id, MS_SPOOL_JOB_SUFFIX);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int errsv = errno;
		g_set_error(error,
			    G_IO_ERROR,
			    g_io_error_from_errno(errsv),
			    "%s: %s",
			    path,
			    g_strerror(errsv));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int errsv = errno;
		close(fd);
		g_set_error(error,
			    G_IO_ERROR,
			    errsv == EWOULDBLOCK ? G_IO_ERROR_BUSY : g_io_error_from_errno(errsv),
			    "%s is being delivered by another process",
			    path);
		return -1;
	}
	/* the lock is the job's only while its file is still the job: another process that
	 * held it may have finished the job and moved the file away meanwhile */
	{
		GStatBuf now;
		struct stat locked;
		if (fstat(fd, &locked) != 0 || g_stat(path, &now) != 0 ||
		    now.st_ino != locked.st_ino || now.st_dev != locked.st_dev) {
			close(fd);
			g_set_error(error,
				    G_IO_ERROR,
				    G_IO_ERROR_NOT_FOUND,
				    "%s left the spool",
				    path);
			return -1;
		}
	}
	return fd;
}

void
ms_spool_unlock(gint fd)
{
	if (fd >= 0)
		close(fd);
}

gboolean
ms_spool_has_failed(MsSpool *self, const gchar *id)
{
	g_autofree gchar *path = NULL;

	g_return_val_if_fail(MS_IS_SPOOL(self), FALSE);
	path = ms_spool_path(self->failed_dir, id, ".job");
	return g_file_test(path, G_FILE_TEST_EXISTS);
}

void
ms_spool_update_envelope(MsSpool *self, const gchar *id, const gchar *envelope)
{
	g_autofree gchar *path = NULL;
	g_autoptr(GError) error = NULL;

	g_return_if_fail(MS_IS_SPOOL(self));
	path = ms_spool_path(self->dir, id, MS_SPOOL_STATE_SUFFIX);
	if (!g_file_set_contents_full(path,
				      envelope,
				      -1,
				      G_FILE_SET_CONTENTS_CONSISTENT,
				      0600,
				      &error))
		g_warning("cannot update %s: %s", path, error->message);
}

static void
ms_spool_delete_files_thread(GTask *task, gpointer source, gpointer task_data, GCancellable *c)
{
	GPtrArray *paths = task_data;

	for (guint i = 0; i < paths->len; i++)
		g_unlink(g_ptr_array_index(paths, i));
	g_task_return_boolean(task, TRUE);
}

/* the recycled files go once the spool has been idle for a while: a delivered message does
 * not stay on disk for long, and the deleting happens in a worker thread */
static gboolean
ms_spool_recycle_idle_cb(gpointer user_data)
{
	MsSpool *self = MS_SPOOL(user_data);
	g_autoptr(GTask) task = NULL;
	GPtrArray *paths;

	if (self->activity != self->activity_at_check) {
		self->activity_at_check = self->activity;
		return G_SOURCE_CONTINUE;
	}
	self->recycle_idle_id = 0;
	paths = g_ptr_array_new_with_free_func(g_free);
	while (!g_queue_is_empty(&self->recycled))
		g_ptr_array_add(paths, g_queue_pop_head(&self->recycled));
	task = g_task_new(self, NULL, NULL, NULL);
	g_task_set_source_tag(task, ms_spool_recycle_idle_cb);
	g_task_set_task_data(task, paths, (GDestroyNotify)g_ptr_array_unref);
	g_task_run_in_thread(task, ms_spool_delete_files_thread);
	return G_SOURCE_REMOVE;
}

/* moves a delivered job's file to tmp/ for a new commit to overwrite; FALSE when the pool is
 * full or the move fails (delete it then) */
static gboolean
ms_spool_recycle(MsSpool *self, const gchar *path)
{
	gchar *spare;

	if (g_queue_get_length(&self->recycled) >= MS_SPOOL_RECYCLE_MAX)
		return FALSE;
	/* the pid and a counter of the process: during --replace two daemons share tmp/ */
	spare = g_strdup_printf("%s/recycled-%d-%u",
				self->tmp_dir,
				(gint)getpid(),
				(guint)g_atomic_int_add(&ms_spool_recycle_serial, 1));
	if (g_rename(path, spare) != 0) {
		g_free(spare);
		return FALSE;
	}
	g_queue_push_tail(&self->recycled, spare);
	self->activity++;
	if (self->recycle_idle_id == 0) {
		self->activity_at_check = self->activity;
		self->recycle_idle_id = g_timeout_add_seconds(MS_SPOOL_RECYCLE_IDLE_SECONDS,
							      ms_spool_recycle_idle_cb,
							      self);
	}
	return TRUE;
}

void
ms_spool_remove(MsSpool *self, const gchar *id)
{
	g_autofree gchar *job = NULL;
	g_autofree gchar *state = NULL;

	g_return_if_fail(MS_IS_SPOOL(self));
	job = ms_spool_path(self->dir, id, MS_SPOOL_JOB_SUFFIX);
	state = ms_spool_path(self->dir, id, MS_SPOOL_STATE_SUFFIX);
	/* the job first: a state file left alone by a crash is removed at the next start */
	if (!ms_spool_recycle(self, job))
		g_unlink(job);
	g_unlink(state);
}

void
ms_spool_move_to_failed(MsSpool *self, const gchar *id, const gchar *envelope)
{
	g_autofree gchar *job = NULL;
	g_autofree gchar *state = NULL;
	g_autofree gchar *failed_msg = NULL;
	g_autofree gchar *failed_job = NULL;
	g_autoptr(GError) error = NULL;
	guint64 message_size = 0;
	gsize envelope_size = 0;
	gboolean has_footer = FALSE;
	int fd;

	g_return_if_fail(MS_IS_SPOOL(self));
	job = ms_spool_path(self->dir, id, MS_SPOOL_JOB_SUFFIX);
	state = ms_spool_path(self->dir, id, MS_SPOOL_STATE_SUFFIX);
	failed_msg = ms_spool_path(self->failed_dir, id, ".msg");
	failed_job = ms_spool_path(self->failed_dir, id, ".job");
	fd = open(job, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		has_footer = ms_spool_read_footer(fd, job, &message_size, &envelope_size, NULL);
		close(fd);
	}
	/* people read failed/: the message alone in ID.msg, the envelope and the reason in
	 * ID.job */
	if (!g_file_set_contents(failed_job, envelope, -1, &error) ||
	    g_rename(job, failed_msg) != 0 ||
	    (has_footer && truncate(failed_msg, (off_t)message_size) != 0)) {
		g_warning("cannot keep failed job %s in %s: %s",
			  id,
			  self->failed_dir,
			  error != NULL ? error->message : g_strerror(errno));
	}
	g_unlink(job);
	g_unlink(state);
}

MsSpool *
ms_spool_new(const gchar *dir)
{
	MsSpool *self;

	g_return_val_if_fail(dir != NULL, NULL);
	self = g_object_new(MS_TYPE_SPOOL, NULL);
	self->dir = g_canonicalize_filename(dir, NULL);
	self->tmp_dir = g_build_filename(self->dir, "tmp", NULL);
	self->failed_dir = g_build_filename(self->dir, "failed", NULL);
	return self;
}

static void
ms_spool_init(MsSpool *self)
{
	self->pending = g_ptr_array_new_with_free_func((GDestroyNotify)ms_spool_commit_free);
}

static void
ms_spool_finalize(GObject *object)
{
	MsSpool *self = MS_SPOOL(object);
	gchar *spare;

	g_clear_handle_id(&self->recycle_idle_id, g_source_remove);
	while ((spare = g_queue_pop_head(&self->recycled)) != NULL) {
		g_unlink(spare);
		g_free(spare);
	}
	g_ptr_array_unref(self->pending);
	g_free(self->dir);
	g_free(self->tmp_dir);
	g_free(self->failed_dir);
	G_OBJECT_CLASS(ms_spool_parent_class)->finalize(object);
}

static void
ms_spool_class_init(MsSpoolClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);

	object_class->finalize = ms_spool_finalize;
}
