#pragma once

#include <gio/gio.h>

#include "ms-mail-flags.h"

G_BEGIN_DECLS

typedef enum {
	MS_JOB_STATE_QUEUED,
	MS_JOB_STATE_CONNECTING,
	MS_JOB_STATE_TLS,
	MS_JOB_STATE_AUTH,
	MS_JOB_STATE_SENDING,
	MS_JOB_STATE_DEFERRED,
	MS_JOB_STATE_SENT,
	MS_JOB_STATE_FAILED,
	MS_JOB_STATE_CANCELLED,
} MsJobState;

const gchar *
ms_job_state_to_string(MsJobState state);
gboolean
ms_job_state_is_final(MsJobState state);

/* One accepted message: its envelope, where it is in the spool, and how its delivery goes.
 * Every exported property is a GObject property, so the daemon can mirror "notify" as
 * org.freedesktop.DBus.Properties.PropertiesChanged. */
gboolean
ms_job_id_is_valid(const gchar *id);

#define MS_TYPE_JOB (ms_job_get_type())
G_DECLARE_FINAL_TYPE(MsJob, ms_job, MS, JOB, GObject)

MsJob *
ms_job_new(const gchar *id,
	   const gchar *account,
	   const gchar *sender,
	   const gchar *const *recipients,
	   guint64 bytes_total,
	   gint64 created);

/* who may cancel it besides root: the uid that submitted it */
#define MS_JOB_OWNER_NONE G_MAXUINT32
guint32
ms_job_get_owner(MsJob *self);
void
ms_job_set_owner(MsJob *self, guint32 owner);
/* what the message needs from the server (8BITMIME, SMTPUTF8), kept in the job record */
MsMailFlags
ms_job_get_mail_flags(MsJob *self);
void
ms_job_set_mail_flags(MsJob *self, MsMailFlags mail_flags);

const gchar *
ms_job_get_id(MsJob *self);
const gchar *
ms_job_get_object_path(MsJob *self);
const gchar *
ms_job_get_account(MsJob *self);
const gchar *
ms_job_get_sender(MsJob *self);
const gchar *const *
ms_job_get_recipients(MsJob *self);
gint64
ms_job_get_created(MsJob *self);
MsJobState
ms_job_get_state(MsJob *self);
guint64
ms_job_get_bytes_sent(MsJob *self);
guint64
ms_job_get_bytes_total(MsJob *self);
guint
ms_job_get_attempts(MsJob *self);
gint64
ms_job_get_next_attempt(MsJob *self);
const gchar *
ms_job_get_error(MsJob *self);
const gchar *
ms_job_get_error_message(MsJob *self);
const gchar *
ms_job_get_server_reply(MsJob *self);
GCancellable *
ms_job_get_cancellable(MsJob *self);
/* a{ss} recipient -> refusal, NULL if none */
GVariant *
ms_job_get_rejected_recipients(MsJob *self);
void
ms_job_add_rejected_recipients(MsJob *self, GHashTable *rejected);
void
ms_job_set_recipients(MsJob *self, const gchar *const *recipients);

void
ms_job_set_state(MsJob *self, MsJobState state);
void
ms_job_set_bytes_sent(MsJob *self, guint64 bytes_sent);
void
ms_job_set_bytes_total(MsJob *self, guint64 bytes_total);
void
ms_job_set_attempts(MsJob *self, guint attempts);
void
ms_job_set_next_attempt(MsJob *self, gint64 next_attempt);
/* error: the D-Bus error name and its message, or NULL to clear */
void
ms_job_set_error(MsJob *self, const GError *error);
void
ms_job_set_server_reply(MsJob *self, const gchar *server_reply);
/* a fresh cancellable for the next attempt (the old one may have been used) */
void
ms_job_reset_cancellable(MsJob *self);

G_END_DECLS
