#define G_LOG_DOMAIN "MsQueue"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "ms-error.h"
#include "ms-queue.h"
#include "ms-smtp-client.h"
#include "ms-spool.h"

#define MS_QUEUE_RETENTION_SECONDS	600 /* finished jobs stay visible this long */
#define MS_QUEUE_MAX_RETRY_DELAY	3600
#define MS_QUEUE_PROGRESS_INTERVAL_USEC (G_USEC_PER_SEC / 10)
#define MS_QUEUE_STOP_GRACE_SECONDS	5

/* what the queue knows about a job beyond its exported state */
typedef struct {
	MsJob *job;
	GInputStream *message; /* the spool file, only while an attempt runs */
	guint64 message_size;
	guint retry_id;
	gint64 finished_at; /* monotonic, once final */
	gboolean active;
	gboolean held; /* reserved: on the bus, but its message is not written yet */
	/* a reserved job's message as it grows (a Notify digest), one commit at a time: the one
	 * being written, with its waiters, and the latest content for the next one */
	gboolean reserved_committing;
	GBytes *reserved_next;
	gboolean reserved_next_final;
	GPtrArray *reserved_next_waiters; /* of GTask */
	gboolean cancel_requested;
	gboolean files_gone; /* another process finished it and retired its files */
	gint lock_fd;	     /* the spool lock, while an attempt runs */
	gint64 last_progress;
	guint progress_id; /* the last byte count of sending, held back by the rate limit */
	guint64 progress_total;
} MsQueueEntry;

/* delivery state of one account: connections in use, recent starts for rate-limit, and a
 * pause after the server said it is overloaded */
typedef struct {
	guint active;
	GQueue starts;	     /* monotonic times of attempts in the last minute */
	gint64 paused_until; /* monotonic */
	GPtrArray *idle;     /* MsSmtpClient sessions that are open and waiting for work */
} MsQueueAccountState;

#define MS_QUEUE_IDLE_SECONDS 5 /* an idle session is closed after this */
#define MS_QUEUE_IDLE_ID      "ms-queue-idle-id"

static void
ms_queue_account_state_free(MsQueueAccountState *state)
{
	g_queue_clear_full(&state->starts, g_free);
	g_ptr_array_unref(state->idle);
	g_free(state);
}

struct _MsQueue {
	GObject parent_instance;
	MsConfig *config;
	MsCredentials *credentials;
	MsSpool *spool;
	GHashTable *entries;  /* id -> MsQueueEntry */
	GHashTable *accounts; /* name -> MsQueueAccountState */
	guint wake_id;	      /* kick when a rate limit or pause ends */
	GPtrArray *order;     /* MsJob, oldest first */
	guint kick_id;
	GQueue finished; /* MsQueueEntry of finished jobs, in finish order */
	guint retention_id;
	guint retention_seconds;
	guint stop_grace_id;
	guint counter;
	gboolean started;
	gboolean stopping;
	GTask *stop_task;
};

enum {
	SIGNAL_JOB_ADDED,
	SIGNAL_JOB_PROGRESS,
	SIGNAL_JOB_FINISHED,
	SIGNAL_JOB_REMOVED,
	SIGNAL_LENGTH_CHANGED,
	SIGNAL_LAST
};

static guint signals[SIGNAL_LAST] = {0};

G_DEFINE_TYPE(MsQueue, ms_queue, G_TYPE_OBJECT)

static void
ms_queue_reserved_return(GPtrArray *waiters, const GError *error);

static void
ms_queue_entry_free(MsQueueEntry *entry)
{
	g_clear_handle_id(&entry->retry_id, g_source_remove);
	g_clear_handle_id(&entry->progress_id, g_source_remove);
	ms_spool_unlock(entry->lock_fd);
	g_clear_object(&entry->message);
	g_clear_object(&entry->job);
	g_clear_pointer(&entry->reserved_next, g_bytes_unref);
	if (entry->reserved_next_waiters != NULL) {
		/* the job is gone: nothing is left to write for them */
		ms_queue_reserved_return(entry->reserved_next_waiters, NULL);
		g_ptr_array_unref(entry->reserved_next_waiters);
	}
	g_free(entry);
}

static gchar *
ms_queue_envelope_to_data(MsJob *job, const gchar *error_name, const gchar *error_message)
{
	g_autoptr(GKeyFile) kf = g_key_file_new();

	g_key_file_set_string(kf, "job", "account", ms_job_get_account(job));
	g_key_file_set_string(kf, "job", "sender", ms_job_get_sender(job));
	g_key_file_set_string_list(kf,
				   "job",
				   "recipients",
				   ms_job_get_recipients(job),
				   g_strv_length((gchar **)ms_job_get_recipients(job)));
	g_key_file_set_int64(kf, "job", "created", ms_job_get_created(job));
	g_key_file_set_uint64(kf, "job", "size", ms_job_get_bytes_total(job));
	g_key_file_set_uint64(kf, "job", "attempts", ms_job_get_attempts(job));
	g_key_file_set_uint64(kf, "job", "owner", ms_job_get_owner(job));
	if (ms_job_get_rejected_recipients(job) != NULL) {
		/* two lists in the same order: an address may hold any key file special */
		GVariant *rejected = ms_job_get_rejected_recipients(job);
		gsize n = g_variant_n_children(rejected);
		g_autofree const gchar **addresses = g_new0(const gchar *, n + 1);
		g_autofree const gchar **replies = g_new0(const gchar *, n + 1);

		for (gsize i = 0; i < n; i++)
			g_variant_get_child(rejected, i, "{&s&s}", &addresses[i], &replies[i]);
		g_key_file_set_string_list(kf, "job", "rejected-recipients", addresses, n);
		g_key_file_set_string_list(kf, "job", "rejected-replies", replies, n);
	}
	if ((ms_job_get_mail_flags(job) & MS_MAIL_FLAG_8BITMIME) != 0)
		g_key_file_set_boolean(kf, "job", "8bitmime", TRUE);
	if ((ms_job_get_mail_flags(job) & MS_MAIL_FLAG_SMTPUTF8) != 0)
		g_key_file_set_boolean(kf, "job", "smtputf8", TRUE);
	if (error_name != NULL) {
		g_key_file_set_string(kf, "failure", "error", error_name);
		g_key_file_set_string(kf, "failure", "message", error_message);
		g_key_file_set_int64(kf, "failure", "time", g_get_real_time() / G_USEC_PER_SEC);
	}
	return g_key_file_to_data(kf, NULL, NULL);
}

static gchar *
ms_queue_new_id(MsQueue *self)
{
	/* time first so that ids sort by age; the counter and random part keep ids unique
	 * within a microsecond and across restarts */
	return g_strdup_printf("%014" G_GINT64_MODIFIER "x%04x%04x",
			       g_get_real_time(),
			       self->counter++ & 0xffff,
			       g_random_int() & 0xffff);
}

static void
ms_queue_schedule_kick(MsQueue *self);
static void
ms_queue_job_added(MsQueue *self, MsJob *job);
static void
ms_queue_finish_job(MsQueue *self, MsQueueEntry *entry, MsJobState state, const GError *error);
static void
ms_queue_check_stopped(MsQueue *self);

static MsQueueEntry *
ms_queue_add_job(MsQueue *self, MsJob *job)
{
	MsQueueEntry *entry = g_new0(MsQueueEntry, 1);

	entry->lock_fd = -1;
	entry->job = g_object_ref(job);
	ms_queue_job_added(self, job);
	g_hash_table_insert(self->entries, g_strdup(ms_job_get_id(job)), entry);
	g_ptr_array_add(self->order, g_object_ref(job));
	g_signal_emit(self, signals[SIGNAL_JOB_ADDED], 0, job);
	g_signal_emit(self, signals[SIGNAL_LENGTH_CHANGED], 0);
	return entry;
}

static void
ms_queue_commit_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = G_TASK(user_data);
	MsQueue *self = g_task_get_source_object(task);
	MsJob *job = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;

	if (!ms_spool_commit_finish(MS_SPOOL(source), res, &error)) {
		g_warning("%s", error->message);
		g_task_return_error(task, g_steal_pointer(&error));
		ms_queue_check_stopped(self);
		return;
	}
	g_info("job %s queued: %" G_GUINT64_FORMAT " bytes for %u recipient(s)",
	       ms_job_get_id(job),
	       ms_job_get_bytes_total(job),
	       g_strv_length((gchar **)ms_job_get_recipients(job)));
	ms_queue_add_job(self, job);
	ms_queue_schedule_kick(self);
	g_task_return_pointer(task, g_object_ref(job), g_object_unref);
	ms_queue_check_stopped(self);
}

/* message NULL: it was written with ms_queue_prepare() already */
static void
ms_queue_submit_common(MsQueue *self,
		       const gchar *id_prepared,
		       guint32 owner,
		       MsAccount *account,
		       const gchar *sender,
		       const gchar *const *recipients,
		       MsMailFlags mail_flags,
		       GBytes *message,
		       guint64 size,
		       GCancellable *cancellable,
		       GAsyncReadyCallback callback,
		       gpointer user_data)
{
	g_autoptr(GTask) task = NULL;
	g_autofree gchar *id = NULL;
	g_autofree gchar *envelope = NULL;
	MsJob *job;

	task = g_task_new(self, cancellable, callback, user_data);
	g_task_set_source_tag(task, ms_queue_submit_common);
	if (self->stopping) {
		if (id_prepared != NULL)
			ms_spool_discard(self->spool, id_prepared);
		g_task_return_new_error(
		    task,
		    MS_ERROR,
		    MS_ERROR_STORAGE,
		    _("The service is shutting down and takes no new messages"));
		return;
	}
	id = id_prepared != NULL ? g_strdup(id_prepared) : ms_queue_new_id(self);
	job = ms_job_new(id,
			 ms_account_get_name(account),
			 sender,
			 recipients,
			 size,
			 g_get_real_time() / G_USEC_PER_SEC);
	ms_job_set_owner(job, owner);
	ms_job_set_mail_flags(job, mail_flags);
	g_task_set_task_data(task, job, g_object_unref);
	envelope = ms_queue_envelope_to_data(job, NULL, NULL);
	/* once started, the commit finishes even if the caller goes away: the job is then
	 * delivered all the same, which is what a caller that already sent it expects */
	ms_spool_commit_async(self->spool,
			      id,
			      message,
			      envelope,
			      ms_queue_commit_cb,
			      g_steal_pointer(&task));
}

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
		      gpointer user_data)
{
	g_return_if_fail(MS_IS_QUEUE(self));
	g_return_if_fail(MS_IS_ACCOUNT(account));
	g_return_if_fail(sender != NULL);
	g_return_if_fail(recipients != NULL && recipients[0] != NULL);
	g_return_if_fail(message != NULL);

	ms_queue_submit_common(self,
			       NULL,
			       owner,
			       account,
			       sender,
			       recipients,
			       mail_flags,
			       message,
			       g_bytes_get_size(message),
			       cancellable,
			       callback,
			       user_data);
}

GOutputStream *
ms_queue_prepare(MsQueue *self, gchar **id, GError **error)
{
	g_autofree gchar *id_new = NULL;
	GOutputStream *out;

	g_return_val_if_fail(MS_IS_QUEUE(self), NULL);
	g_return_val_if_fail(id != NULL, NULL);

	if (self->stopping) {
		g_set_error(error,
			    MS_ERROR,
			    MS_ERROR_STORAGE,
			    _("The service is shutting down and takes no new messages"));
		return NULL;
	}
	id_new = ms_queue_new_id(self);
	out = ms_spool_create_message(self->spool, id_new, error);
	if (out == NULL)
		return NULL;
	*id = g_steal_pointer(&id_new);
	return out;
}

void
ms_queue_discard_prepared(MsQueue *self, const gchar *id)
{
	g_return_if_fail(MS_IS_QUEUE(self));
	ms_spool_discard(self->spool, id);
}

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
			       gpointer user_data)
{
	g_return_if_fail(MS_IS_QUEUE(self));
	g_return_if_fail(id != NULL);
	g_return_if_fail(MS_IS_ACCOUNT(account));
	g_return_if_fail(sender != NULL);
	g_return_if_fail(recipients != NULL && recipients[0] != NULL);

	ms_queue_submit_common(self,
			       id,
			       owner,
			       account,
			       sender,
			       recipients,
			       mail_flags,
			       NULL,
			       size,
			       cancellable,
			       callback,
			       user_data);
}

MsJob *
ms_queue_reserve(MsQueue *self,
		 MsAccount *account,
		 const gchar *sender,
		 const gchar *const *recipients)
{
	g_autofree gchar *id = NULL;
	g_autoptr(MsJob) job = NULL;
	MsQueueEntry *entry;

	g_return_val_if_fail(MS_IS_QUEUE(self), NULL);
	g_return_val_if_fail(MS_IS_ACCOUNT(account), NULL);

	id = ms_queue_new_id(self);
	job = ms_job_new(id,
			 ms_account_get_name(account),
			 sender,
			 recipients,
			 0,
			 g_get_real_time() / G_USEC_PER_SEC);
	entry = ms_queue_add_job(self, job);
	entry->held = TRUE;
	return job;
}

/* one commit of a reserved job's message: final when the job is then to be delivered */
typedef struct {
	MsQueue *self;
	MsJob *job;
	gboolean final;
	GPtrArray *waiters; /* of GTask */
} MsQueueReservedCommit;

static void
ms_queue_reserved_commit_free(MsQueueReservedCommit *commit)
{
	g_object_unref(commit->self);
	g_object_unref(commit->job);
	g_ptr_array_unref(commit->waiters);
	g_free(commit);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(MsQueueReservedCommit, ms_queue_reserved_commit_free)

static void
ms_queue_reserved_return(GPtrArray *waiters, const GError *error)
{
	for (guint i = 0; i < waiters->len; i++) {
		GTask *task = g_ptr_array_index(waiters, i);
		if (error != NULL)
			g_task_return_error(task, g_error_copy(error));
		else
			g_task_return_boolean(task, TRUE);
	}
}

static void
ms_queue_reserved_start(MsQueue *self, MsQueueEntry *entry);

static void
ms_queue_reserved_commit_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(MsQueueReservedCommit) commit = user_data;
	MsQueue *self = commit->self;
	MsJob *job = commit->job;
	MsQueueEntry *entry = g_hash_table_lookup(self->entries, ms_job_get_id(job));
	g_autoptr(GError) error = NULL;
	gboolean ok = ms_spool_commit_finish(MS_SPOOL(source), res, &error);

	if (entry == NULL || entry->job != job || ms_job_state_is_final(ms_job_get_state(job))) {
		/* cancelled while it was being written: nothing more is written for it, and
		 * whoever waits for a later commit is answered now */
		ms_spool_remove(self->spool, ms_job_get_id(job));
		ms_queue_reserved_return(commit->waiters, NULL);
		if (entry != NULL && entry->job == job) {
			entry->reserved_committing = FALSE;
			g_clear_pointer(&entry->reserved_next, g_bytes_unref);
			if (entry->reserved_next_waiters != NULL) {
				ms_queue_reserved_return(entry->reserved_next_waiters, NULL);
				g_ptr_array_set_size(entry->reserved_next_waiters, 0);
			}
		}
		return;
	}
	entry->reserved_committing = FALSE;
	if (!ok) {
		g_warning("cannot write job %s to the spool: %s",
			  ms_job_get_id(job),
			  error->message);
		ms_queue_reserved_return(commit->waiters, error);
		if (commit->final) {
			ms_queue_finish_job(self, entry, MS_JOB_STATE_FAILED, error);
			return;
		}
	} else {
		ms_queue_reserved_return(commit->waiters, NULL);
		if (commit->final) {
			entry->held = FALSE;
			ms_queue_schedule_kick(self);
			ms_queue_check_stopped(self);
			return;
		}
	}
	if (entry->reserved_next != NULL)
		ms_queue_reserved_start(self, entry);
}

static void
ms_queue_reserved_start(MsQueue *self, MsQueueEntry *entry)
{
	MsQueueReservedCommit *commit = g_new0(MsQueueReservedCommit, 1);
	g_autoptr(GBytes) message = g_steal_pointer(&entry->reserved_next);
	g_autofree gchar *envelope = NULL;

	commit->self = g_object_ref(self);
	commit->job = g_object_ref(entry->job);
	commit->final = entry->reserved_next_final;
	commit->waiters = entry->reserved_next_waiters;
	entry->reserved_next_waiters = g_ptr_array_new_with_free_func(g_object_unref);
	entry->reserved_next_final = FALSE;
	entry->reserved_committing = TRUE;
	ms_job_set_bytes_total(entry->job, g_bytes_get_size(message));
	envelope = ms_queue_envelope_to_data(entry->job, NULL, NULL);
	ms_spool_replace_async(self->spool,
			       ms_job_get_id(entry->job),
			       message,
			       envelope,
			       ms_queue_reserved_commit_cb,
			       commit);
}

/* makes message the reserved job's message, durably; final: then deliver it. Commits of one
 * job never overlap (the spool writes a job's files once per batch), so content that comes
 * while one is written waits for the next, and only the latest content is written */
static void
ms_queue_reserved_commit(MsQueue *self,
			 MsJob *job,
			 GBytes *message,
			 gboolean final,
			 GAsyncReadyCallback callback,
			 gpointer user_data)
{
	g_autoptr(GTask) task = NULL;
	MsQueueEntry *entry;

	g_return_if_fail(MS_IS_QUEUE(self));
	g_return_if_fail(MS_IS_JOB(job));
	g_return_if_fail(message != NULL);

	task = g_task_new(self, NULL, callback, user_data);
	g_task_set_source_tag(task, ms_queue_reserved_commit);
	entry = g_hash_table_lookup(self->entries, ms_job_get_id(job));
	if (entry == NULL || !entry->held || ms_job_state_is_final(ms_job_get_state(job))) {
		g_task_return_boolean(task, TRUE);
		return;
	}
	if (entry->reserved_next_waiters == NULL)
		entry->reserved_next_waiters = g_ptr_array_new_with_free_func(g_object_unref);
	g_clear_pointer(&entry->reserved_next, g_bytes_unref);
	entry->reserved_next = g_bytes_ref(message);
	entry->reserved_next_final |= final;
	g_ptr_array_add(entry->reserved_next_waiters, g_steal_pointer(&task));
	if (!entry->reserved_committing)
		ms_queue_reserved_start(self, entry);
}

void
ms_queue_update_reserved_async(MsQueue *self,
			       MsJob *job,
			       GBytes *message,
			       GAsyncReadyCallback callback,
			       gpointer user_data)
{
	ms_queue_reserved_commit(self, job, message, FALSE, callback, user_data);
}

void
ms_queue_submit_reserved_async(MsQueue *self,
			       MsJob *job,
			       GBytes *message,
			       GAsyncReadyCallback callback,
			       gpointer user_data)
{
	ms_queue_reserved_commit(self, job, message, TRUE, callback, user_data);
}

gboolean
ms_queue_submit_reserved_finish(MsQueue *self, GAsyncResult *res, GError **error)
{
	g_return_val_if_fail(g_task_is_valid(res, self), FALSE);
	return g_task_propagate_boolean(G_TASK(res), error);
}

MsJob *
ms_queue_submit_finish(MsQueue *self, GAsyncResult *res, GError **error)
{
	g_return_val_if_fail(g_task_is_valid(res, self), NULL);
	return g_task_propagate_pointer(G_TASK(res), error);
}

/* ---- finishing a job ---- */

/* finished jobs stay on the bus for MS_QUEUE_RETENTION_SECONDS; they are forgotten in finish
 * order by one timer, not one timer each: thousands of timers would make every main-loop turn
 * walk them all */
static void
ms_queue_schedule_retention(MsQueue *self);

static gboolean
ms_queue_retention_cb(gpointer user_data)
{
	MsQueue *self = MS_QUEUE(user_data);
	gint64 now = g_get_monotonic_time();

	self->retention_id = 0;
	while (!g_queue_is_empty(&self->finished)) {
		MsQueueEntry *entry = g_queue_peek_head(&self->finished);
		g_autoptr(MsJob) job = NULL;

		if (entry->finished_at + (gint64)self->retention_seconds * G_USEC_PER_SEC > now)
			break;
		g_queue_pop_head(&self->finished);
		job = g_object_ref(entry->job);
		g_hash_table_remove(self->entries, ms_job_get_id(job));
		g_signal_emit(self, signals[SIGNAL_JOB_REMOVED], 0, job);
	}
	ms_queue_schedule_retention(self);
	return G_SOURCE_REMOVE;
}

static void
ms_queue_schedule_retention(MsQueue *self)
{
	MsQueueEntry *oldest = g_queue_peek_head(&self->finished);
	gint64 due;

	if (oldest == NULL || self->retention_id != 0)
		return;
	due = oldest->finished_at + (gint64)self->retention_seconds * G_USEC_PER_SEC;
	self->retention_id = g_timeout_add_seconds(
	    (guint)MAX((due - g_get_monotonic_time()) / G_USEC_PER_SEC + 1, 1),
	    ms_queue_retention_cb,
	    self);
}

/* delivered and cancelled jobs leave the spool; failed ones move to failed/ with the reason */
static void
ms_queue_retire_files(MsQueue *self, MsJob *job)
{
	MsQueueEntry *entry = g_hash_table_lookup(self->entries, ms_job_get_id(job));

	if (entry != NULL && entry->files_gone)
		return;
	if (ms_job_get_state(job) == MS_JOB_STATE_FAILED) {
		g_autofree gchar *envelope =
		    ms_queue_envelope_to_data(job,
					      ms_job_get_error(job),
					      ms_job_get_error_message(job));
		ms_spool_move_to_failed(self->spool, ms_job_get_id(job), envelope);
		return;
	}
	ms_spool_remove(self->spool, ms_job_get_id(job));
}

static void
ms_queue_finish_job(MsQueue *self, MsQueueEntry *entry, MsJobState state, const GError *error)
{
	g_autoptr(MsJob) job = g_object_ref(entry->job);

	g_clear_handle_id(&entry->retry_id, g_source_remove);
	ms_job_set_next_attempt(job, 0);
	/* a job that went out in the end shows no error of an earlier attempt */
	ms_job_set_error(job, state == MS_JOB_STATE_SENT ? NULL : error);
	ms_job_set_state(job, state);
	ms_queue_retire_files(self, job);
	if (state == MS_JOB_STATE_SENT)
		g_info("job %s sent: %s", ms_job_get_id(job), ms_job_get_server_reply(job));
	else
		g_info("job %s %s: %s",
		       ms_job_get_id(job),
		       ms_job_state_to_string(state),
		       ms_job_get_error_message(job));
	/* the unfinished jobs are what the queue walks; finished ones wait to be forgotten */
	g_ptr_array_remove(self->order, job);
	entry->finished_at = g_get_monotonic_time();
	g_queue_push_tail(&self->finished, entry);
	ms_queue_schedule_retention(self);
	g_signal_emit(self, signals[SIGNAL_JOB_FINISHED], 0, job);
	g_signal_emit(self, signals[SIGNAL_LENGTH_CHANGED], 0);
}

/* ---- delivery ---- */

static void
ms_queue_emit_progress(MsQueue *self, MsJob *job, const gchar *stage, guint64 done, guint64 total)
{
	g_signal_emit(self, signals[SIGNAL_JOB_PROGRESS], 0, job, stage, done, total);
}

static void
ms_queue_idle_close_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	ms_smtp_client_close_finish(MS_SMTP_CLIENT(source), res);
}

/* an idle session leaves the pool: stop its timer, say QUIT if it is still open */
static void
ms_queue_idle_client_free(gpointer data)
{
	MsSmtpClient *client = MS_SMTP_CLIENT(data);
	guint idle_id = GPOINTER_TO_UINT(g_object_get_data(G_OBJECT(client), MS_QUEUE_IDLE_ID));

	if (idle_id != 0)
		g_source_remove(idle_id);
	g_object_set_data(G_OBJECT(client), MS_QUEUE_IDLE_ID, NULL);
	if (ms_smtp_client_is_open(client))
		ms_smtp_client_close_async(client, ms_queue_idle_close_cb, NULL);
	g_object_unref(client);
}

typedef struct {
	GPtrArray *idle;
	MsSmtpClient *client;
} MsQueueIdle;

static gboolean
ms_queue_idle_timeout_cb(gpointer user_data)
{
	MsQueueIdle *idle = user_data;

	g_object_set_data(G_OBJECT(idle->client), MS_QUEUE_IDLE_ID, NULL);
	g_debug("closing an idle SMTP session");
	g_ptr_array_remove(idle->idle, idle->client);
	return G_SOURCE_REMOVE;
}

static MsQueueAccountState *
ms_queue_account_state(MsQueue *self, const gchar *account);

/* a session that finished a transaction and is still good waits for the next job a while */
static void
ms_queue_session_release(MsQueue *self, MsAccount *account, MsSmtpClient *client)
{
	MsQueueAccountState *state = ms_queue_account_state(self, ms_account_get_name(account));
	MsQueueIdle *idle;
	guint idle_id;

	if (self->stopping || !ms_smtp_client_is_open(client))
		return;
	idle = g_new0(MsQueueIdle, 1);
	idle->idle = state->idle;
	idle->client = client;
	idle_id = g_timeout_add_seconds_full(G_PRIORITY_DEFAULT,
					     MS_QUEUE_IDLE_SECONDS,
					     ms_queue_idle_timeout_cb,
					     idle,
					     g_free);
	g_object_set_data(G_OBJECT(client), MS_QUEUE_IDLE_ID, GUINT_TO_POINTER(idle_id));
	g_ptr_array_add(state->idle, g_object_ref(client));
}

/* an open idle session of the account, or NULL */
static MsSmtpClient *
ms_queue_session_take(MsQueue *self, MsAccount *account)
{
	MsQueueAccountState *state = ms_queue_account_state(self, ms_account_get_name(account));

	while (state->idle->len > 0) {
		/* stolen, not removed: removing says QUIT */
		g_autoptr(MsSmtpClient) client =
		    g_ptr_array_steal_index(state->idle, state->idle->len - 1);
		guint idle_id =
		    GPOINTER_TO_UINT(g_object_get_data(G_OBJECT(client), MS_QUEUE_IDLE_ID));

		if (idle_id != 0)
			g_source_remove(idle_id);
		g_object_set_data(G_OBJECT(client), MS_QUEUE_IDLE_ID, NULL);
		/* the server may have closed it while it waited */
		if (ms_smtp_client_is_open(client))
			return g_steal_pointer(&client);
	}
	return NULL;
}

static MsQueueAccountState *
ms_queue_account_state(MsQueue *self, const gchar *account)
{
	MsQueueAccountState *state = g_hash_table_lookup(self->accounts, account);

	if (state == NULL) {
		state = g_new0(MsQueueAccountState, 1);
		g_queue_init(&state->starts);
		state->idle = g_ptr_array_new_with_free_func(ms_queue_idle_client_free);
		g_hash_table_insert(self->accounts, g_strdup(account), state);
	}
	return state;
}

static gboolean
ms_queue_wake_cb(gpointer user_data)
{
	MsQueue *self = MS_QUEUE(user_data);

	self->wake_id = 0;
	ms_queue_schedule_kick(self);
	return G_SOURCE_REMOVE;
}

/* kick again at the monotonic time when, not later than a wake already set */
static void
ms_queue_wake_at(MsQueue *self, gint64 when)
{
	gint64 delay_ms = MAX((when - g_get_monotonic_time()) / 1000, 1) + 1;

	if (self->wake_id != 0)
		return;
	self->wake_id = g_timeout_add((guint)MIN(delay_ms, G_MAXUINT), ms_queue_wake_cb, self);
}

/* may another attempt start for the account now? (connections, rate-limit, pause) */
static gboolean
ms_queue_account_may_start(MsQueue *self, MsAccount *account)
{
	MsQueueAccountState *state = ms_queue_account_state(self, ms_account_get_name(account));
	gint64 now = g_get_monotonic_time();
	guint limit = ms_account_get_rate_limit(account);

	if (state->active >= ms_account_get_max_connections(account))
		return FALSE;
	if (state->paused_until > now) {
		ms_queue_wake_at(self, state->paused_until);
		return FALSE;
	}
	while (!g_queue_is_empty(&state->starts) &&
	       *(gint64 *)g_queue_peek_head(&state->starts) <= now - 60 * G_USEC_PER_SEC)
		g_free(g_queue_pop_head(&state->starts));
	if (limit > 0 && g_queue_get_length(&state->starts) >= limit) {
		ms_queue_wake_at(self,
				 *(gint64 *)g_queue_peek_head(&state->starts) +
				     60 * G_USEC_PER_SEC);
		return FALSE;
	}
	return TRUE;
}

static void
ms_queue_account_started(MsQueue *self, MsAccount *account)
{
	MsQueueAccountState *state = ms_queue_account_state(self, ms_account_get_name(account));
	gint64 *now = g_new(gint64, 1);

	*now = g_get_monotonic_time();
	state->active++;
	if (ms_account_get_rate_limit(account) > 0)
		g_queue_push_tail(&state->starts, now);
	else
		g_free(now);
}

typedef struct {
	MsQueue *self;
	MsQueueEntry *entry;
	MsAccount *account;
	MsSmtpClient *client;
	gulong progress_id;
} MsDelivery;

static void
ms_delivery_free(MsDelivery *delivery)
{
	if (delivery->progress_id != 0)
		g_signal_handler_disconnect(delivery->client, delivery->progress_id);
	g_clear_object(&delivery->client);
	g_clear_object(&delivery->account);
	g_object_unref(delivery->self);
	g_free(delivery);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MsDelivery, ms_delivery_free)

static gboolean
ms_queue_retry_cb(gpointer user_data)
{
	MsQueueEntry *entry = user_data;
	MsQueue *self = g_object_get_data(G_OBJECT(entry->job), "ms-queue");

	entry->retry_id = 0;
	ms_queue_schedule_kick(self);
	return G_SOURCE_REMOVE;
}

static void
ms_queue_check_stopped(MsQueue *self)
{
	GHashTableIter iter;
	gpointer value;

	if (self->stop_task == NULL)
		return;
	/* an accepted message, or a Notify digest flushed at shutdown, is still being written */
	if (ms_spool_is_busy(self->spool))
		return;
	g_hash_table_iter_init(&iter, self->entries);
	while (g_hash_table_iter_next(&iter, NULL, &value)) {
		MsQueueEntry *entry = value;
		if (entry->active)
			return;
	}
	g_clear_handle_id(&self->stop_grace_id, g_source_remove);
	g_task_return_boolean(self->stop_task, TRUE);
	g_clear_object(&self->stop_task);
}

static void
ms_queue_attempt_result(MsDelivery *delivery, MsSmtpResult *result, GError *error)
{
	MsQueue *self = delivery->self;
	MsQueueEntry *entry = delivery->entry;
	MsJob *job = entry->job;
	MsAccount *account = delivery->account;
	guint attempts = ms_job_get_attempts(job);
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	guint64 delay;

	entry->active = FALSE;
	/* the end of the attempt says more than a byte count held back */
	g_clear_handle_id(&entry->progress_id, g_source_remove);
	ms_queue_account_state(self, ms_account_get_name(account))->active--;
	g_clear_object(&entry->message);
	if (error != NULL && delivery->client != NULL) {
		const gchar *last = ms_smtp_client_get_last_reply(delivery->client);
		/* a refusal explains the failure; a positive reply before a dropped connection
		 * or a timeout (the 354 that invited the message) does not */
		ms_job_set_server_reply(job, last != NULL && last[0] >= '4' ? last : "");
	}

	if (error == NULL) {
		ms_job_set_server_reply(job, result->reply);
		ms_job_set_bytes_sent(job, ms_job_get_bytes_total(job));
		ms_job_add_rejected_recipients(job, result->rejected);
		if (g_hash_table_size(result->deferred) > 0) {
			/* the others have it: only the recipients the server put off get it later
			 */
			g_autofree const gchar **deferred =
			    (const gchar **)g_hash_table_get_keys_as_array(result->deferred, NULL);
			g_autofree gchar *envelope = NULL;
			GHashTableIter iter;
			gpointer value;

			ms_job_set_recipients(job, deferred);
			envelope = ms_queue_envelope_to_data(job, NULL, NULL);
			ms_spool_update_envelope(self->spool, ms_job_get_id(job), envelope);
			g_hash_table_iter_init(&iter, result->deferred);
			g_hash_table_iter_next(&iter, NULL, &value);
			error =
			    g_error_new(MS_ERROR,
					MS_ERROR_TEMPORARY,
					g_dngettext(GETTEXT_PACKAGE,
						    "%u recipient was put off by the server: %s",
						    "%u recipients were put off by the server: %s",
						    g_hash_table_size(result->deferred)),
					g_hash_table_size(result->deferred),
					(const gchar *)value);
		} else {
			ms_queue_finish_job(self, entry, MS_JOB_STATE_SENT, NULL);
			ms_queue_schedule_kick(self);
			return;
		}
	}

	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
		if (entry->cancel_requested) {
			g_autoptr(GError) cancelled =
			    g_error_new(MS_ERROR, MS_ERROR_CANCELLED, _("The job was cancelled"));
			ms_queue_finish_job(self, entry, MS_JOB_STATE_CANCELLED, cancelled);
		} else {
			/* stopping: the job stays in the spool for the next start */
			g_info("job %s interrupted by shutdown", ms_job_get_id(job));
			ms_job_set_state(job, MS_JOB_STATE_QUEUED);
		}
		return;
	}

	ms_error_convert(&error);
	g_info("job %s attempt %u failed: %s", ms_job_get_id(job), attempts, error->message);
	/* "421 too busy" or "452 too many": the server is overloaded, so the whole account waits
	 * a little instead of every queued job hammering it */
	if (g_error_matches(error, MS_ERROR, MS_ERROR_TEMPORARY) &&
	    (g_str_has_prefix(ms_job_get_server_reply(job), "421") ||
	     g_str_has_prefix(ms_job_get_server_reply(job), "452"))) {
		MsQueueAccountState *state =
		    ms_queue_account_state(self, ms_account_get_name(account));
		state->paused_until = g_get_monotonic_time() +
				      MIN(ms_account_get_retry_delay(account), 60) * G_USEC_PER_SEC;
	}
	if (!ms_error_is_transient(error)) {
		ms_queue_finish_job(self, entry, MS_JOB_STATE_FAILED, error);
		ms_queue_schedule_kick(self);
		return;
	}
	if (attempts >= ms_account_get_max_attempts(account) ||
	    (guint64)(now - ms_job_get_created(job)) >= ms_account_get_max_age(account)) {
		/* the last error's name stays: Temporary for 4xx, Connection or Timeout for
		 * network trouble, so the caller knows what to fix */
		g_autoptr(GError) final = g_error_new(MS_ERROR,
						      error->code,
						      g_dngettext(GETTEXT_PACKAGE,
								  "Gave up after %u attempt: %s",
								  "Gave up after %u attempts: %s",
								  attempts),
						      attempts,
						      error->message);
		ms_queue_finish_job(self, entry, MS_JOB_STATE_FAILED, final);
		ms_queue_schedule_kick(self);
		return;
	}

	/* retry-delay, doubling with every attempt, at most an hour */
	delay = ms_account_get_retry_delay(account);
	for (guint i = 1; i < attempts && delay < MS_QUEUE_MAX_RETRY_DELAY; i++)
		delay *= 2;
	delay = MIN(delay, MS_QUEUE_MAX_RETRY_DELAY);
	ms_job_set_error(job, error);
	ms_job_set_next_attempt(job, now + (gint64)delay);
	ms_job_set_state(job, MS_JOB_STATE_DEFERRED);
	{
		/* so that a restart does not hand the job a fresh retry budget */
		g_autofree gchar *envelope = ms_queue_envelope_to_data(job, NULL, NULL);
		ms_spool_update_envelope(self->spool, ms_job_get_id(job), envelope);
	}
	ms_queue_emit_progress(self, job, "deferred", 0, 0);
	g_info("job %s deferred for %" G_GUINT64_FORMAT " s", ms_job_get_id(job), delay);
	entry->retry_id = g_timeout_add_seconds((guint)delay, ms_queue_retry_cb, entry);
	ms_queue_schedule_kick(self);
}

/* every attempt ends here, whatever its outcome; a shutdown waits for the last one */
static void
ms_queue_attempt_done(MsDelivery *delivery, MsSmtpResult *result, GError *error)
{
	MsQueue *self = delivery->self;
	MsQueueEntry *entry = delivery->entry;

	ms_queue_attempt_result(delivery, result, error);
	/* after the files were retired or updated: only then may another process look */
	ms_spool_unlock(entry->lock_fd);
	entry->lock_fd = -1;
	ms_queue_check_stopped(self);
}

static gboolean
ms_queue_progress_due_cb(gpointer user_data)
{
	MsQueueEntry *entry = user_data;
	MsQueue *self = g_object_get_data(G_OBJECT(entry->job), "ms-queue");

	entry->progress_id = 0;
	entry->last_progress = g_get_monotonic_time();
	ms_job_set_bytes_sent(entry->job, entry->progress_total);
	ms_queue_emit_progress(self,
			       entry->job,
			       "sending",
			       entry->progress_total,
			       entry->progress_total);
	return G_SOURCE_REMOVE;
}

static void
ms_queue_client_progress_cb(MsSmtpClient *client,
			    guint stage,
			    guint64 done,
			    guint64 total,
			    MsDelivery *delivery)
{
	MsQueueEntry *entry = delivery->entry;
	MsJob *job = entry->job;
	static const MsJobState states[] = {
	    [MS_SMTP_STAGE_CONNECTING] = MS_JOB_STATE_CONNECTING,
	    [MS_SMTP_STAGE_TLS] = MS_JOB_STATE_TLS,
	    [MS_SMTP_STAGE_AUTH] = MS_JOB_STATE_AUTH,
	    [MS_SMTP_STAGE_SENDING] = MS_JOB_STATE_SENDING,
	};
	gint64 now = g_get_monotonic_time();

	g_return_if_fail(stage < G_N_ELEMENTS(states));
	if (stage == MS_SMTP_STAGE_SENDING && ms_job_get_state(job) == MS_JOB_STATE_SENDING &&
	    now - entry->last_progress < MS_QUEUE_PROGRESS_INTERVAL_USEC) {
		/* byte progress: at most about 10 signals a second; the last one follows when
		 * the interval is over, unless the server's answer ends the attempt first, as it
		 * does at once for a small message */
		if (done == total && entry->progress_id == 0) {
			gint64 wait = entry->last_progress + MS_QUEUE_PROGRESS_INTERVAL_USEC - now;
			entry->progress_total = total;
			entry->progress_id = g_timeout_add((guint)(wait / 1000) + 1,
							   ms_queue_progress_due_cb,
							   entry);
		}
		return;
	}
	entry->last_progress = now;
	ms_job_set_state(job, states[stage]);
	if (stage == MS_SMTP_STAGE_SENDING) {
		ms_job_set_bytes_sent(job, done);
		ms_queue_emit_progress(delivery->self, job, "sending", done, total);
	} else {
		ms_queue_emit_progress(delivery->self, job, ms_smtp_stage_to_string(stage), 0, 0);
	}
}

static void
ms_queue_transaction_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(MsDelivery) delivery = user_data;
	MsSmtpClient *client = MS_SMTP_CLIENT(source);
	g_autoptr(GError) error = NULL;
	g_autoptr(MsSmtpResult) result = ms_smtp_client_transaction_finish(client, res, &error);

	/* a session that is still good serves the next job of the account */
	ms_queue_session_release(delivery->self, delivery->account, client);
	ms_queue_attempt_done(delivery, result, g_steal_pointer(&error));
}

static void
ms_queue_start_transaction(MsDelivery *delivery)
{
	MsJob *job = delivery->entry->job;

	ms_smtp_client_transaction_stream_async(delivery->client,
						ms_job_get_sender(job),
						ms_job_get_recipients(job),
						ms_job_get_mail_flags(job),
						delivery->entry->message,
						delivery->entry->message_size,
						ms_job_get_cancellable(job),
						ms_queue_transaction_cb,
						delivery);
}

static void
ms_queue_open_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	MsDelivery *delivery = user_data;
	g_autoptr(GError) error = NULL;

	if (!ms_smtp_client_open_finish(MS_SMTP_CLIENT(source), res, &error)) {
		g_autoptr(MsDelivery) owned = delivery;
		ms_queue_attempt_done(owned, NULL, g_steal_pointer(&error));
		return;
	}
	ms_queue_start_transaction(delivery);
}

static void
ms_queue_use_client(MsDelivery *delivery, MsSmtpClient *client)
{
	delivery->client = client;
	delivery->progress_id = g_signal_connect(delivery->client,
						 "progress",
						 G_CALLBACK(ms_queue_client_progress_cb),
						 delivery);
}

static void
ms_queue_open_session(MsDelivery *delivery, const gchar *password)
{
	MsSmtpClient *client = ms_smtp_client_new(delivery->account);

	ms_smtp_client_set_password(client, password);
	ms_queue_use_client(delivery, client);
	ms_smtp_client_open_async(delivery->client,
				  ms_job_get_cancellable(delivery->entry->job),
				  ms_queue_open_cb,
				  delivery);
}

static void
ms_queue_credentials_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	MsDelivery *delivery = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(MsSecret) password =
	    ms_credentials_lookup_finish(MS_CREDENTIALS(source), res, &error);

	if (password == NULL) {
		g_autoptr(MsDelivery) owned = delivery;
		ms_queue_attempt_done(owned, NULL, g_steal_pointer(&error));
		return;
	}
	ms_queue_open_session(delivery, password);
}

static void
ms_queue_start_attempt(MsQueue *self, MsQueueEntry *entry, MsAccount *account)
{
	MsJob *job = entry->job;
	MsDelivery *delivery = g_new0(MsDelivery, 1);
	g_autoptr(GError) error = NULL;
	MsSmtpClient *client;

	delivery->self = g_object_ref(self);
	delivery->entry = entry;
	delivery->account = g_object_ref(account);
	entry->active = TRUE;
	entry->last_progress = 0;
	ms_job_reset_cancellable(job);
	ms_job_set_next_attempt(job, 0);
	ms_job_set_bytes_sent(job, 0);
	ms_job_set_attempts(job, ms_job_get_attempts(job) + 1);
	g_debug("job %s: attempt %u via account '%s'",
		ms_job_get_id(job),
		ms_job_get_attempts(job),
		ms_account_get_name(account));

	entry->message = ms_spool_read_message(self->spool,
					       ms_job_get_id(job),
					       entry->lock_fd,
					       &entry->message_size,
					       &error);
	if (entry->message == NULL) {
		g_autoptr(MsDelivery) owned = delivery;
		ms_queue_attempt_done(owned,
				      NULL,
				      g_error_new(MS_ERROR,
						  MS_ERROR_STORAGE,
						  _("Cannot read the message from the spool: %s"),
						  error->message));
		return;
	}

	client = ms_queue_session_take(self, account);
	if (client != NULL) {
		g_debug("job %s: reusing an open session", ms_job_get_id(job));
		ms_queue_use_client(delivery, client);
		ms_queue_start_transaction(delivery);
		return;
	}
	if (ms_account_get_username(account) != NULL) {
		ms_credentials_lookup_async(self->credentials,
					    account,
					    ms_job_get_cancellable(job),
					    ms_queue_credentials_cb,
					    delivery);
		return;
	}
	ms_queue_open_session(delivery, NULL);
}

/* FALSE when the job must not start now: another process delivers it (tried again in a
 * second), or it already finished there */
static gboolean
ms_queue_lock_job(MsQueue *self, MsQueueEntry *entry)
{
	g_autoptr(GError) error = NULL;
	MsJob *job = entry->job;

	entry->lock_fd = ms_spool_lock(self->spool, ms_job_get_id(job), &error);
	if (entry->lock_fd >= 0)
		return TRUE;
	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_BUSY)) {
		g_debug("job %s: %s", ms_job_get_id(job), error->message);
		ms_queue_wake_at(self, g_get_monotonic_time() + G_USEC_PER_SEC);
		return FALSE;
	}
	/* gone from the spool: the instance this one replaced finished it */
	entry->files_gone = TRUE;
	if (ms_spool_has_failed(self->spool, ms_job_get_id(job))) {
		g_autoptr(GError) failed =
		    g_error_new(MS_ERROR,
				MS_ERROR_FAILED,
				_("The job failed in another instance of the service; see its "
				  "record in the spool's failed/ directory"));
		ms_queue_finish_job(self, entry, MS_JOB_STATE_FAILED, failed);
	} else {
		ms_job_set_server_reply(job, _("delivered by another instance of the service"));
		ms_queue_finish_job(self, entry, MS_JOB_STATE_SENT, NULL);
	}
	return FALSE;
}

static gboolean
ms_queue_kick_cb(gpointer user_data)
{
	MsQueue *self = MS_QUEUE(user_data);

	g_autoptr(GPtrArray) pending = NULL;

	self->kick_id = 0;
	if (!self->started || self->stopping)
		return G_SOURCE_REMOVE;
	/* a copy: jobs that finish on the way leave self->order */
	pending = g_ptr_array_new_with_free_func(g_object_unref);
	for (guint i = 0; i < self->order->len; i++)
		g_ptr_array_add(pending, g_object_ref(g_ptr_array_index(self->order, i)));
	for (guint i = 0; i < pending->len; i++) {
		MsJob *job = g_ptr_array_index(pending, i);
		MsQueueEntry *entry = g_hash_table_lookup(self->entries, ms_job_get_id(job));
		MsAccount *account;

		if (entry == NULL || entry->active || entry->held || entry->retry_id != 0 ||
		    ms_job_state_is_final(ms_job_get_state(job)))
			continue;
		account = ms_config_get_account(self->config, ms_job_get_account(job));
		if (account == NULL) {
			g_autoptr(GError) error =
			    g_error_new(MS_ERROR,
					MS_ERROR_NO_SUCH_ACCOUNT,
					_("Account '%s' is no longer configured"),
					ms_job_get_account(job));
			ms_queue_finish_job(self, entry, MS_JOB_STATE_FAILED, error);
			continue;
		}
		if (!ms_queue_account_may_start(self, account))
			continue;
		if (!ms_queue_lock_job(self, entry))
			continue;
		ms_queue_account_started(self, account);
		ms_queue_start_attempt(self, entry, account);
	}
	return G_SOURCE_REMOVE;
}

/* from an idle, so that a caller's method reply goes out before the job's first signal */
static void
ms_queue_schedule_kick(MsQueue *self)
{
	if (self->kick_id == 0)
		self->kick_id = g_idle_add(ms_queue_kick_cb, self);
}

static gboolean
ms_queue_announce_cb(gpointer user_data)
{
	g_autoptr(MsJob) job = MS_JOB(user_data);
	MsQueue *self = g_object_get_data(G_OBJECT(job), "ms-queue");

	if (ms_job_get_state(job) == MS_JOB_STATE_QUEUED && ms_job_get_attempts(job) == 0)
		ms_queue_emit_progress(self, job, "queued", 0, 0);
	return G_SOURCE_REMOVE;
}

static void
ms_queue_job_added(MsQueue *self, MsJob *job)
{
	/* the queue outlives its jobs' callbacks, so a plain pointer is enough */
	g_object_set_data(G_OBJECT(job), "ms-queue", self);
	g_idle_add_full(G_PRIORITY_HIGH_IDLE, ms_queue_announce_cb, g_object_ref(job), NULL);
}

gboolean
ms_queue_cancel(MsQueue *self, MsJob *job, GError **error)
{
	MsQueueEntry *entry;

	g_return_val_if_fail(MS_IS_QUEUE(self), FALSE);
	g_return_val_if_fail(MS_IS_JOB(job), FALSE);

	entry = g_hash_table_lookup(self->entries, ms_job_get_id(job));
	if (entry == NULL || ms_job_state_is_final(ms_job_get_state(job))) {
		g_set_error(error,
			    MS_ERROR,
			    MS_ERROR_INVALID_ARGS,
			    _("Job %s has already finished (%s)"),
			    ms_job_get_id(job),
			    ms_job_state_to_string(ms_job_get_state(job)));
		return FALSE;
	}
	if (entry->active) {
		/* the attempt unwinds with G_IO_ERROR_CANCELLED and finishes the job */
		entry->cancel_requested = TRUE;
		g_cancellable_cancel(ms_job_get_cancellable(job));
	} else {
		g_autoptr(GError) cancelled =
		    g_error_new(MS_ERROR, MS_ERROR_CANCELLED, _("The job was cancelled"));
		ms_queue_finish_job(self, entry, MS_JOB_STATE_CANCELLED, cancelled);
	}
	return TRUE;
}

/* ---- loading the spool ---- */

static gboolean
ms_queue_recover_job(MsQueue *self, const gchar *id, GError **error)
{
	guint64 message_size = 0;
	g_autoptr(GKeyFile) kf = ms_spool_load_envelope(self->spool, id, &message_size, error);
	g_autofree gchar *account = NULL;
	g_autofree gchar *sender = NULL;
	g_auto(GStrv) recipients = NULL;
	g_autoptr(MsJob) job = NULL;
	MsMailFlags mail_flags = MS_MAIL_FLAG_NONE;
	g_auto(GStrv) rejected_addresses = NULL;
	g_auto(GStrv) rejected_replies = NULL;
	gsize n_rejected = 0;

	if (kf == NULL)
		return FALSE;
	account = g_key_file_get_string(kf, "job", "account", error);
	if (account == NULL)
		return FALSE;
	sender = g_key_file_get_string(kf, "job", "sender", error);
	if (sender == NULL)
		return FALSE;
	recipients = g_key_file_get_string_list(kf, "job", "recipients", NULL, error);
	if (recipients == NULL)
		return FALSE;
	job = ms_job_new(id,
			 account,
			 sender,
			 (const gchar *const *)recipients,
			 message_size,
			 g_key_file_get_int64(kf, "job", "created", NULL));
	ms_job_set_attempts(job, (guint)g_key_file_get_uint64(kf, "job", "attempts", NULL));
	ms_job_set_owner(job,
			 g_key_file_has_key(kf, "job", "owner", NULL)
			     ? (guint32)g_key_file_get_uint64(kf, "job", "owner", NULL)
			     : MS_JOB_OWNER_NONE);
	if (g_key_file_get_boolean(kf, "job", "8bitmime", NULL))
		mail_flags |= MS_MAIL_FLAG_8BITMIME;
	if (g_key_file_get_boolean(kf, "job", "smtputf8", NULL))
		mail_flags |= MS_MAIL_FLAG_SMTPUTF8;
	ms_job_set_mail_flags(job, mail_flags);
	rejected_addresses =
	    g_key_file_get_string_list(kf, "job", "rejected-recipients", &n_rejected, NULL);
	rejected_replies = g_key_file_get_string_list(kf, "job", "rejected-replies", NULL, NULL);
	if (rejected_addresses != NULL && rejected_replies != NULL &&
	    g_strv_length(rejected_replies) == n_rejected) {
		g_autoptr(GHashTable) rejected = g_hash_table_new(g_str_hash, g_str_equal);
		for (gsize i = 0; i < n_rejected; i++)
			g_hash_table_insert(rejected, rejected_addresses[i], rejected_replies[i]);
		ms_job_add_rejected_recipients(job, rejected);
	}
	g_info("recovered job %s from the spool", id);
	ms_queue_add_job(self, job);
	return TRUE;
}

gboolean
ms_queue_load(MsQueue *self, GError **error)
{
	g_autoptr(GPtrArray) ids = NULL;

	g_return_val_if_fail(MS_IS_QUEUE(self), FALSE);

	if (!ms_spool_open(self->spool, error))
		return FALSE;
	ids = ms_spool_list(self->spool);
	for (guint i = 0; i < ids->len; i++) {
		const gchar *id = g_ptr_array_index(ids, i);
		g_autoptr(GError) error_local = NULL;
		if (!ms_queue_recover_job(self, id, &error_local))
			g_warning("cannot recover spooled job %s: %s", id, error_local->message);
	}
	return TRUE;
}

void
ms_queue_start(MsQueue *self)
{
	g_return_if_fail(MS_IS_QUEUE(self));
	self->started = TRUE;
	ms_queue_schedule_kick(self);
}

void
ms_queue_set_config(MsQueue *self, MsConfig *config)
{
	g_return_if_fail(MS_IS_QUEUE(self));
	g_return_if_fail(MS_IS_CONFIG(config));
	g_set_object(&self->config, config);
	ms_queue_schedule_kick(self);
}

MsJob *
ms_queue_get_job(MsQueue *self, const gchar *id)
{
	MsQueueEntry *entry;

	g_return_val_if_fail(MS_IS_QUEUE(self), NULL);
	entry = g_hash_table_lookup(self->entries, id);
	return entry != NULL ? entry->job : NULL;
}

static gint
ms_queue_job_cmp(gconstpointer a, gconstpointer b)
{
	/* ids start with the submission time: oldest first */
	return g_strcmp0(ms_job_get_id(*(MsJob **)a), ms_job_get_id(*(MsJob **)b));
}

GPtrArray *
ms_queue_get_jobs(MsQueue *self)
{
	GPtrArray *jobs;

	g_return_val_if_fail(MS_IS_QUEUE(self), NULL);
	jobs = g_ptr_array_new_with_free_func(g_object_unref);
	for (GList *l = self->finished.head; l != NULL; l = l->next)
		g_ptr_array_add(jobs, g_object_ref(((MsQueueEntry *)l->data)->job));
	for (guint i = 0; i < self->order->len; i++)
		g_ptr_array_add(jobs, g_object_ref(g_ptr_array_index(self->order, i)));
	g_ptr_array_sort(jobs, ms_queue_job_cmp);
	return jobs;
}

guint
ms_queue_get_length(MsQueue *self)
{
	g_return_val_if_fail(MS_IS_QUEUE(self), 0);
	return self->order->len;
}

static gboolean
ms_queue_stop_grace_cb(gpointer user_data)
{
	MsQueue *self = MS_QUEUE(user_data);
	GHashTableIter iter;
	gpointer value;

	self->stop_grace_id = 0;
	g_hash_table_iter_init(&iter, self->entries);
	while (g_hash_table_iter_next(&iter, NULL, &value)) {
		MsQueueEntry *entry = value;
		if (entry->active) {
			g_info("aborting the delivery of job %s for shutdown",
			       ms_job_get_id(entry->job));
			g_cancellable_cancel(ms_job_get_cancellable(entry->job));
		}
	}
	return G_SOURCE_REMOVE;
}

void
ms_queue_stop_async(MsQueue *self, GAsyncReadyCallback callback, gpointer user_data)
{
	GHashTableIter iter;
	gpointer value;

	g_return_if_fail(MS_IS_QUEUE(self));
	g_return_if_fail(self->stop_task == NULL);

	self->stopping = TRUE;
	self->stop_task = g_task_new(self, NULL, callback, user_data);
	g_task_set_source_tag(self->stop_task, ms_queue_stop_async);
	g_hash_table_iter_init(&iter, self->entries);
	while (g_hash_table_iter_next(&iter, NULL, &value)) {
		MsQueueEntry *entry = value;
		g_clear_handle_id(&entry->retry_id, g_source_remove);
	}
	/* idle sessions say QUIT now */
	g_hash_table_iter_init(&iter, self->accounts);
	while (g_hash_table_iter_next(&iter, NULL, &value)) {
		MsQueueAccountState *state = value;
		g_ptr_array_set_size(state->idle, 0);
	}
	/* transactions under way get a few seconds to finish, then they are aborted and stay in
	 * the spool for the next start */
	self->stop_grace_id =
	    g_timeout_add_seconds(MS_QUEUE_STOP_GRACE_SECONDS, ms_queue_stop_grace_cb, self);
	ms_queue_check_stopped(self);
}

gboolean
ms_queue_stop_finish(MsQueue *self, GAsyncResult *res, GError **error)
{
	g_return_val_if_fail(g_task_is_valid(res, self), FALSE);
	return g_task_propagate_boolean(G_TASK(res), error);
}

MsQueue *
ms_queue_new(MsConfig *config, MsCredentials *credentials, const gchar *spool_dir)
{
	MsQueue *self;

	g_return_val_if_fail(MS_IS_CONFIG(config), NULL);
	g_return_val_if_fail(MS_IS_CREDENTIALS(credentials), NULL);
	g_return_val_if_fail(spool_dir != NULL, NULL);

	self = g_object_new(MS_TYPE_QUEUE, NULL);
	self->config = g_object_ref(config);
	self->credentials = g_object_ref(credentials);
	self->spool = ms_spool_new(spool_dir);
	/* for the tests only: the contract keeps finished jobs for at least 10 minutes */
	self->retention_seconds = MS_QUEUE_RETENTION_SECONDS;
	if (g_getenv("MS_TEST_JOB_RETENTION_SECONDS") != NULL)
		self->retention_seconds =
		    (guint)g_ascii_strtoull(g_getenv("MS_TEST_JOB_RETENTION_SECONDS"), NULL, 10);
	return self;
}

static void
ms_queue_init(MsQueue *self)
{
	self->entries = g_hash_table_new_full(g_str_hash,
					      g_str_equal,
					      g_free,
					      (GDestroyNotify)ms_queue_entry_free);
	self->order = g_ptr_array_new_with_free_func(g_object_unref);
	self->accounts = g_hash_table_new_full(g_str_hash,
					       g_str_equal,
					       g_free,
					       (GDestroyNotify)ms_queue_account_state_free);
}

static void
ms_queue_dispose(GObject *object)
{
	MsQueue *self = MS_QUEUE(object);

	g_clear_handle_id(&self->kick_id, g_source_remove);
	g_clear_handle_id(&self->stop_grace_id, g_source_remove);
	g_clear_handle_id(&self->wake_id, g_source_remove);
	g_clear_handle_id(&self->retention_id, g_source_remove);
	g_queue_clear(&self->finished);
	g_hash_table_remove_all(self->entries);
	g_ptr_array_set_size(self->order, 0);
	g_clear_object(&self->config);
	g_clear_object(&self->credentials);
	g_clear_object(&self->spool);
	g_clear_object(&self->stop_task);
	G_OBJECT_CLASS(ms_queue_parent_class)->dispose(object);
}

static void
ms_queue_finalize(GObject *object)
{
	MsQueue *self = MS_QUEUE(object);

	g_hash_table_unref(self->entries);
	g_hash_table_unref(self->accounts);
	g_ptr_array_unref(self->order);
	G_OBJECT_CLASS(ms_queue_parent_class)->finalize(object);
}

static void
ms_queue_class_init(MsQueueClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);

	object_class->dispose = ms_queue_dispose;
	object_class->finalize = ms_queue_finalize;

	signals[SIGNAL_JOB_ADDED] = g_signal_new("job-added",
						 G_TYPE_FROM_CLASS(klass),
						 G_SIGNAL_RUN_LAST,
						 0,
						 NULL,
						 NULL,
						 NULL,
						 G_TYPE_NONE,
						 1,
						 MS_TYPE_JOB);
	signals[SIGNAL_JOB_PROGRESS] = g_signal_new("job-progress",
						    G_TYPE_FROM_CLASS(klass),
						    G_SIGNAL_RUN_LAST,
						    0,
						    NULL,
						    NULL,
						    NULL,
						    G_TYPE_NONE,
						    4,
						    MS_TYPE_JOB,
						    G_TYPE_STRING,
						    G_TYPE_UINT64,
						    G_TYPE_UINT64);
	signals[SIGNAL_JOB_FINISHED] = g_signal_new("job-finished",
						    G_TYPE_FROM_CLASS(klass),
						    G_SIGNAL_RUN_LAST,
						    0,
						    NULL,
						    NULL,
						    NULL,
						    G_TYPE_NONE,
						    1,
						    MS_TYPE_JOB);
	signals[SIGNAL_JOB_REMOVED] = g_signal_new("job-removed",
						   G_TYPE_FROM_CLASS(klass),
						   G_SIGNAL_RUN_LAST,
						   0,
						   NULL,
						   NULL,
						   NULL,
						   G_TYPE_NONE,
						   1,
						   MS_TYPE_JOB);
	signals[SIGNAL_LENGTH_CHANGED] = g_signal_new("length-changed",
						      G_TYPE_FROM_CLASS(klass),
						      G_SIGNAL_RUN_LAST,
						      0,
						      NULL,
						      NULL,
						      NULL,
						      G_TYPE_NONE,
						      0);
}
