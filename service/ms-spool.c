#define G_LOG_DOMAIN "MsSpool"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "ms-error.h"
#include "ms-job.h"
#include "ms-spool.h"

struct _MsSpool {
	GObject parent_instance;
	gchar *dir;
	gchar *tmp_dir;
	gchar *failed_dir;
	GPtrArray *pending; /* MsSpoolCommit waiting for the next group commit */
	gboolean writing;   /* a group commit runs in a worker thread */
};

G_DEFINE_TYPE(MsSpool, ms_spool, G_TYPE_OBJECT)

/* one job of a group commit */
typedef struct {
	GTask *task;
	gchar *id;
	GBytes *message;
	gchar *envelope;
	gboolean replace; /* a job already in the spool: a failure must not remove it */
	GError *error;
} MsSpoolCommit;

static void
ms_spool_commit_free(MsSpoolCommit *commit)
{
	g_clear_object(&commit->task);
	g_free(commit->id);
	g_clear_pointer(&commit->message, g_bytes_unref);
	g_free(commit->envelope);
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

/* write_all to a new file; no flush here, the group commit flushes once for all */
static gboolean
ms_spool_write_new_file(const gchar *path, const guint8 *data, gsize size, GError **error)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	gsize done = 0;

	if (fd < 0)
		return ms_spool_set_errno_error(error, errno, "creating", path);
	while (done < size) {
		ssize_t n = write(fd, data + done, size - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int errsv = errno;
			close(fd);
			g_unlink(path);
			return ms_spool_set_errno_error(error, errsv, "writing", path);
		}
		done += (gsize)n;
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
	const gchar *dirs[] = {self->tmp_dir, self->dir};

	for (guint i = 0; i < (commit->replace ? 1 : G_N_ELEMENTS(dirs)); i++) {
		g_autofree gchar *job = ms_spool_path(dirs[i], commit->id, ".job");
		g_autofree gchar *msg = ms_spool_path(dirs[i], commit->id, ".msg");
		g_unlink(job);
		g_unlink(msg);
	}
}

/* the worker: write every file of the batch to tmp/, flush once, rename into place, fsync the
 * directory once; a failure of the shared steps fails the whole batch */
static void
ms_spool_group_commit_thread(GTask *task, gpointer source, gpointer task_data, GCancellable *c)
{
	MsSpool *self = MS_SPOOL(source);
	GPtrArray *batch = task_data;
	g_autoptr(GError) error_shared = NULL;
	guint written = 0;

	for (guint i = 0; i < batch->len; i++) {
		MsSpoolCommit *commit = g_ptr_array_index(batch, i);
		g_autofree gchar *msg = ms_spool_path(self->tmp_dir, commit->id, ".msg");
		g_autofree gchar *job = ms_spool_path(self->tmp_dir, commit->id, ".job");
		gsize size = 0;
		const guint8 *data =
		    commit->message != NULL ? g_bytes_get_data(commit->message, &size) : NULL;

		/* no message: it was streamed into tmp/ already (ms_spool_create_message) */
		if ((commit->message != NULL &&
		     !ms_spool_write_new_file(msg, data, size, &commit->error)) ||
		    !ms_spool_write_new_file(job,
					     (const guint8 *)commit->envelope,
					     strlen(commit->envelope),
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
		const gchar *suffixes[] = {".msg", ".job"}; /* the marker last */

		if (commit->error != NULL)
			continue;
		for (guint j = 0; j < G_N_ELEMENTS(suffixes); j++) {
			g_autofree gchar *from =
			    ms_spool_path(self->tmp_dir, commit->id, suffixes[j]);
			g_autofree gchar *to = ms_spool_path(self->dir, commit->id, suffixes[j]);
			if (g_rename(from, to) != 0) {
				ms_spool_set_errno_error(&commit->error, errno, "renaming", from);
				ms_spool_unlink_commit(self, commit);
				break;
			}
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

	path = ms_spool_path(self->tmp_dir, id, ".msg");
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
	path = ms_spool_path(self->tmp_dir, id, ".msg");
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

gboolean
ms_spool_open(MsSpool *self, GError **error)
{
	g_autoptr(GDir) dir = NULL;
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
	while ((name = g_dir_read_name(dir)) != NULL) {
		g_autofree gchar *path = g_build_filename(self->dir, name, NULL);
		g_autofree gchar *id = NULL;
		g_autofree gchar *job = NULL;

		if (!g_str_has_suffix(name, ".msg"))
			continue;
		id = g_strndup(name, strlen(name) - 4);
		job = ms_spool_path(self->dir, id, ".job");
		if (!g_file_test(job, G_FILE_TEST_EXISTS)) {
			g_debug("removing %s: its commit never finished", path);
			g_unlink(path);
		}
	}
	return TRUE;
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
		if (!g_str_has_suffix(name, ".job"))
			continue;
		id = g_strndup(name, strlen(name) - 4);
		if (ms_job_id_is_valid(id))
			g_ptr_array_add(ids, g_steal_pointer(&id));
	}
	/* ids start with the submission time in hex, so this is oldest first */
	g_ptr_array_sort(ids, (GCompareFunc)g_strcmp0);
	return ids;
}

GKeyFile *
ms_spool_load_envelope(MsSpool *self, const gchar *id, GError **error)
{
	g_autofree gchar *path = ms_spool_path(self->dir, id, ".job");
	g_autoptr(GKeyFile) kf = g_key_file_new();

	g_return_val_if_fail(MS_IS_SPOOL(self), NULL);
	if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, error))
		return NULL;
	return g_steal_pointer(&kf);
}

gchar *
ms_spool_get_message_path(MsSpool *self, const gchar *id)
{
	g_return_val_if_fail(MS_IS_SPOOL(self), NULL);
	return ms_spool_path(self->dir, id, ".msg");
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
	path = ms_spool_path(self->dir, id, ".job");
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
	path = ms_spool_path(self->dir, id, ".job");
	if (!g_file_set_contents_full(path,
				      envelope,
				      -1,
				      G_FILE_SET_CONTENTS_CONSISTENT,
				      0600,
				      &error))
		g_warning("cannot update %s: %s", path, error->message);
}

void
ms_spool_remove(MsSpool *self, const gchar *id)
{
	g_autofree gchar *msg = NULL;
	g_autofree gchar *job = NULL;

	g_return_if_fail(MS_IS_SPOOL(self));
	msg = ms_spool_path(self->dir, id, ".msg");
	job = ms_spool_path(self->dir, id, ".job");
	g_unlink(msg);
	/* the marker last: until it is gone a crash means "deliver again", never "lost" */
	g_unlink(job);
}

void
ms_spool_move_to_failed(MsSpool *self, const gchar *id, const gchar *envelope)
{
	g_autofree gchar *msg = NULL;
	g_autofree gchar *job = NULL;
	g_autofree gchar *failed_msg = NULL;
	g_autofree gchar *failed_job = NULL;
	g_autoptr(GError) error = NULL;

	g_return_if_fail(MS_IS_SPOOL(self));
	msg = ms_spool_path(self->dir, id, ".msg");
	job = ms_spool_path(self->dir, id, ".job");
	failed_msg = ms_spool_path(self->failed_dir, id, ".msg");
	failed_job = ms_spool_path(self->failed_dir, id, ".job");
	if (g_rename(msg, failed_msg) != 0 ||
	    !g_file_set_contents(failed_job, envelope, -1, &error)) {
		g_warning("cannot keep failed job %s in %s: %s",
			  id,
			  self->failed_dir,
			  error != NULL ? error->message : g_strerror(errno));
	}
	g_unlink(job);
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
