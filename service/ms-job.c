#define G_LOG_DOMAIN "MsJob"

#include "config.h"

#include <string.h>

#include "ms-error.h"
#include "ms-job.h"

struct _MsJob {
	GObject parent_instance;
	gchar *id;
	gchar *object_path;
	gchar *account;
	gchar *sender;
	GStrv recipients;
	gint64 created;
	guint32 owner; /* uid of the caller that submitted it, MS_JOB_OWNER_NONE if none */
	MsMailFlags mail_flags;
	MsJobState state;
	guint64 bytes_sent;
	guint64 bytes_total;
	guint attempts;
	gint64 next_attempt;
	gchar *error;
	gchar *error_message;
	gchar *server_reply;
	GVariant *rejected; /* a{ss}: recipient -> the server's refusal */
	GCancellable *cancellable;
};

enum {
	PROP_0,
	PROP_STATE,
	PROP_BYTES_SENT,
	PROP_BYTES_TOTAL,
	PROP_ATTEMPTS,
	PROP_NEXT_ATTEMPT,
	PROP_ERROR,
	PROP_ERROR_MESSAGE,
	PROP_SERVER_REPLY,
	PROP_RECIPIENTS,
	PROP_REJECTED_RECIPIENTS,
	PROP_LAST
};

static GParamSpec *pspecs[PROP_LAST] = {NULL};

G_DEFINE_TYPE(MsJob, ms_job, G_TYPE_OBJECT)

static const gchar *const state_names[] = {
    "queued",
    "connecting",
    "tls",
    "auth",
    "sending",
    "deferred",
    "sent",
    "failed",
    "cancelled",
};
G_STATIC_ASSERT(G_N_ELEMENTS(state_names) == MS_JOB_STATE_CANCELLED + 1);

const gchar *
ms_job_state_to_string(MsJobState state)
{
	g_return_val_if_fail(state <= MS_JOB_STATE_CANCELLED, NULL);
	return state_names[state];
}

gboolean
ms_job_state_is_final(MsJobState state)
{
	return state == MS_JOB_STATE_SENT || state == MS_JOB_STATE_FAILED ||
	       state == MS_JOB_STATE_CANCELLED;
}

/* the id is one element of an object path, and a file name in the spool */
gboolean
ms_job_id_is_valid(const gchar *id)
{
	if (id == NULL || id[0] == '\0' || strlen(id) > 64)
		return FALSE;
	for (const gchar *p = id; *p != '\0'; p++) {
		if (!g_ascii_isalnum(*p) && *p != '_')
			return FALSE;
	}
	return TRUE;
}

MsJob *
ms_job_new(const gchar *id,
	   const gchar *account,
	   const gchar *sender,
	   const gchar *const *recipients,
	   guint64 bytes_total,
	   gint64 created)
{
	MsJob *self;

	g_return_val_if_fail(ms_job_id_is_valid(id), NULL);
	g_return_val_if_fail(account != NULL, NULL);
	g_return_val_if_fail(sender != NULL, NULL);
	g_return_val_if_fail(recipients != NULL, NULL);

	self = g_object_new(MS_TYPE_JOB, NULL);
	self->id = g_strdup(id);
	self->object_path = g_strdup_printf("/org/mail/Sender/Job/%s", id);
	self->account = g_strdup(account);
	self->sender = g_strdup(sender);
	self->recipients = g_strdupv((gchar **)recipients);
	self->bytes_total = bytes_total;
	self->created = created;
	return self;
}

guint32
ms_job_get_owner(MsJob *self)
{
	g_return_val_if_fail(MS_IS_JOB(self), MS_JOB_OWNER_NONE);
	return self->owner;
}

void
ms_job_set_owner(MsJob *self, guint32 owner)
{
	g_return_if_fail(MS_IS_JOB(self));
	self->owner = owner;
}

MsMailFlags
ms_job_get_mail_flags(MsJob *self)
{
	g_return_val_if_fail(MS_IS_JOB(self), MS_MAIL_FLAG_NONE);
	return self->mail_flags;
}

void
ms_job_set_mail_flags(MsJob *self, MsMailFlags mail_flags)
{
	g_return_if_fail(MS_IS_JOB(self));
	self->mail_flags = mail_flags;
}

const gchar *
ms_job_get_id(MsJob *self)
{
	g_return_val_if_fail(MS_IS_JOB(self), NULL);
	return self->id;
}

const gchar *
ms_job_get_object_path(MsJob *self)
{
	g_return_val_if_fail(MS_IS_JOB(self), NULL);
	return self->object_path;
}

const gchar *
ms_job_get_account(MsJob *self)
{
	g_return_val_if_fail(MS_IS_JOB(self), NULL);
	return self->account;
}

const gchar *
ms_job_get_sender(MsJob *self)
{
	g_return_val_if_fail(MS_IS_JOB(self), NULL);
	return self->sender;
}

const gchar *const *
ms_job_get_recipients(MsJob *self)
{
	g_return_val_if_fail(MS_IS_JOB(self), NULL);
	return (const gchar *const *)self->recipients;
}

gint64
ms_job_get_created(MsJob *self)
{
	g_return_val_if_fail(MS_IS_JOB(self), 0);
	return self->created;
}

MsJobState
ms_job_get_state(MsJob *self)
{
	g_return_val_if_fail(MS_IS_JOB(self), MS_JOB_STATE_FAILED);
	return self->state;
}

guint64
ms_job_get_bytes_sent(MsJob *self)
{
	g_return_val_if_fail(MS_IS_JOB(self), 0);
	return self->bytes_sent;
}

guint64
ms_job_get_bytes_total(MsJob *self)
{
	g_return_val_if_fail(MS_IS_JOB(self), 0);
	return self->bytes_total;
}

guint
ms_job_get_attempts(MsJob *self)
{
	g_return_val_if_fail(MS_IS_JOB(self), 0);
	return self->attempts;
}

gint64
ms_job_get_next_attempt(MsJob *self)
{
	g_return_val_if_fail(MS_IS_JOB(self), 0);
	return self->next_attempt;
}

const gchar *
ms_job_get_error(MsJob *self)
{
	g_return_val_if_fail(MS_IS_JOB(self), NULL);
	return self->error != NULL ? self->error : "";
}

const gchar *
ms_job_get_error_message(MsJob *self)
{
	g_return_val_if_fail(MS_IS_JOB(self), NULL);
	return self->error_message != NULL ? self->error_message : "";
}

const gchar *
ms_job_get_server_reply(MsJob *self)
{
	g_return_val_if_fail(MS_IS_JOB(self), NULL);
	return self->server_reply != NULL ? self->server_reply : "";
}

GVariant *
ms_job_get_rejected_recipients(MsJob *self)
{
	g_return_val_if_fail(MS_IS_JOB(self), NULL);
	return self->rejected;
}

/* recipients refused for good (5xx) while others got the message; adds to what is there */
void
ms_job_add_rejected_recipients(MsJob *self, GHashTable *rejected)
{
	GVariantBuilder builder;
	GHashTableIter iter;
	gpointer key;
	gpointer value;

	g_return_if_fail(MS_IS_JOB(self));
	if (rejected == NULL || g_hash_table_size(rejected) == 0)
		return;
	g_variant_builder_init(&builder, G_VARIANT_TYPE("a{ss}"));
	if (self->rejected != NULL) {
		GVariantIter old;
		const gchar *k;
		const gchar *v;
		g_variant_iter_init(&old, self->rejected);
		while (g_variant_iter_next(&old, "{&s&s}", &k, &v))
			g_variant_builder_add(&builder, "{ss}", k, v);
	}
	g_hash_table_iter_init(&iter, rejected);
	while (g_hash_table_iter_next(&iter, &key, &value))
		g_variant_builder_add(&builder, "{ss}", (const gchar *)key, (const gchar *)value);
	g_clear_pointer(&self->rejected, g_variant_unref);
	self->rejected = g_variant_ref_sink(g_variant_builder_end(&builder));
	g_object_notify_by_pspec(G_OBJECT(self), pspecs[PROP_REJECTED_RECIPIENTS]);
}

/* the recipients still to deliver to, after some got the message */
void
ms_job_set_recipients(MsJob *self, const gchar *const *recipients)
{
	g_return_if_fail(MS_IS_JOB(self));
	g_return_if_fail(recipients != NULL);
	g_strfreev(self->recipients);
	self->recipients = g_strdupv((gchar **)recipients);
	g_object_notify_by_pspec(G_OBJECT(self), pspecs[PROP_RECIPIENTS]);
}

GCancellable *
ms_job_get_cancellable(MsJob *self)
{
	g_return_val_if_fail(MS_IS_JOB(self), NULL);
	return self->cancellable;
}

void
ms_job_set_state(MsJob *self, MsJobState state)
{
	g_return_if_fail(MS_IS_JOB(self));
	if (self->state == state)
		return;
	self->state = state;
	g_object_notify_by_pspec(G_OBJECT(self), pspecs[PROP_STATE]);
}

void
ms_job_set_bytes_sent(MsJob *self, guint64 bytes_sent)
{
	g_return_if_fail(MS_IS_JOB(self));
	if (self->bytes_sent == bytes_sent)
		return;
	self->bytes_sent = bytes_sent;
	g_object_notify_by_pspec(G_OBJECT(self), pspecs[PROP_BYTES_SENT]);
}

void
ms_job_set_bytes_total(MsJob *self, guint64 bytes_total)
{
	g_return_if_fail(MS_IS_JOB(self));
	if (self->bytes_total == bytes_total)
		return;
	self->bytes_total = bytes_total;
	g_object_notify_by_pspec(G_OBJECT(self), pspecs[PROP_BYTES_TOTAL]);
}

void
ms_job_set_attempts(MsJob *self, guint attempts)
{
	g_return_if_fail(MS_IS_JOB(self));
	if (self->attempts == attempts)
		return;
	self->attempts = attempts;
	g_object_notify_by_pspec(G_OBJECT(self), pspecs[PROP_ATTEMPTS]);
}

void
ms_job_set_next_attempt(MsJob *self, gint64 next_attempt)
{
	g_return_if_fail(MS_IS_JOB(self));
	if (self->next_attempt == next_attempt)
		return;
	self->next_attempt = next_attempt;
	g_object_notify_by_pspec(G_OBJECT(self), pspecs[PROP_NEXT_ATTEMPT]);
}

static void
ms_job_set_string(MsJob *self, gchar **field, const gchar *value, guint prop)
{
	if (g_strcmp0(*field, value) == 0)
		return;
	g_free(*field);
	*field = g_strdup(value);
	g_object_notify_by_pspec(G_OBJECT(self), pspecs[prop]);
}

void
ms_job_set_error(MsJob *self, const GError *error)
{
	g_return_if_fail(MS_IS_JOB(self));
	if (error == NULL) {
		ms_job_set_string(self, &self->error, NULL, PROP_ERROR);
		ms_job_set_string(self, &self->error_message, NULL, PROP_ERROR_MESSAGE);
		return;
	}
	g_return_if_fail(error->domain == MS_ERROR);
	ms_job_set_string(self, &self->error, ms_error_to_dbus_name(error->code), PROP_ERROR);
	ms_job_set_string(self, &self->error_message, error->message, PROP_ERROR_MESSAGE);
}

void
ms_job_set_server_reply(MsJob *self, const gchar *server_reply)
{
	g_return_if_fail(MS_IS_JOB(self));
	ms_job_set_string(self, &self->server_reply, server_reply, PROP_SERVER_REPLY);
}

void
ms_job_reset_cancellable(MsJob *self)
{
	g_return_if_fail(MS_IS_JOB(self));
	g_clear_object(&self->cancellable);
	self->cancellable = g_cancellable_new();
}

static void
ms_job_get_property(GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
	MsJob *self = MS_JOB(object);

	switch (prop_id) {
	case PROP_STATE:
		g_value_set_uint(value, self->state);
		break;
	case PROP_BYTES_SENT:
		g_value_set_uint64(value, self->bytes_sent);
		break;
	case PROP_BYTES_TOTAL:
		g_value_set_uint64(value, self->bytes_total);
		break;
	case PROP_ATTEMPTS:
		g_value_set_uint(value, self->attempts);
		break;
	case PROP_NEXT_ATTEMPT:
		g_value_set_int64(value, self->next_attempt);
		break;
	case PROP_ERROR:
		g_value_set_string(value, ms_job_get_error(self));
		break;
	case PROP_ERROR_MESSAGE:
		g_value_set_string(value, ms_job_get_error_message(self));
		break;
	case PROP_SERVER_REPLY:
		g_value_set_string(value, ms_job_get_server_reply(self));
		break;
	case PROP_RECIPIENTS:
		g_value_set_boxed(value, self->recipients);
		break;
	case PROP_REJECTED_RECIPIENTS:
		g_value_set_variant(value, self->rejected);
		break;
	default:
		G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
		break;
	}
}

static void
ms_job_init(MsJob *self)
{
	self->owner = MS_JOB_OWNER_NONE;
	self->cancellable = g_cancellable_new();
}

static void
ms_job_dispose(GObject *object)
{
	MsJob *self = MS_JOB(object);

	g_clear_object(&self->cancellable);
	G_OBJECT_CLASS(ms_job_parent_class)->dispose(object);
}

static void
ms_job_finalize(GObject *object)
{
	MsJob *self = MS_JOB(object);

	g_free(self->id);
	g_free(self->object_path);
	g_free(self->account);
	g_free(self->sender);
	g_strfreev(self->recipients);
	g_clear_pointer(&self->rejected, g_variant_unref);
	g_free(self->error);
	g_free(self->error_message);
	g_free(self->server_reply);
	G_OBJECT_CLASS(ms_job_parent_class)->finalize(object);
}

static void
ms_job_class_init(MsJobClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);
	const GParamFlags flags =
	    G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;

	object_class->get_property = ms_job_get_property;
	object_class->dispose = ms_job_dispose;
	object_class->finalize = ms_job_finalize;

	pspecs[PROP_STATE] = g_param_spec_uint("state", NULL, NULL, 0, G_MAXUINT, 0, flags);
	pspecs[PROP_BYTES_SENT] =
	    g_param_spec_uint64("bytes-sent", NULL, NULL, 0, G_MAXUINT64, 0, flags);
	pspecs[PROP_BYTES_TOTAL] =
	    g_param_spec_uint64("bytes-total", NULL, NULL, 0, G_MAXUINT64, 0, flags);
	pspecs[PROP_ATTEMPTS] = g_param_spec_uint("attempts", NULL, NULL, 0, G_MAXUINT, 0, flags);
	pspecs[PROP_NEXT_ATTEMPT] =
	    g_param_spec_int64("next-attempt", NULL, NULL, 0, G_MAXINT64, 0, flags);
	pspecs[PROP_ERROR] = g_param_spec_string("error", NULL, NULL, "", flags);
	pspecs[PROP_ERROR_MESSAGE] = g_param_spec_string("error-message", NULL, NULL, "", flags);
	pspecs[PROP_SERVER_REPLY] = g_param_spec_string("server-reply", NULL, NULL, "", flags);
	pspecs[PROP_RECIPIENTS] = g_param_spec_boxed("recipients", NULL, NULL, G_TYPE_STRV, flags);
	pspecs[PROP_REJECTED_RECIPIENTS] = g_param_spec_variant("rejected-recipients",
								NULL,
								NULL,
								G_VARIANT_TYPE("a{ss}"),
								NULL,
								flags);
	g_object_class_install_properties(object_class, PROP_LAST, pspecs);
}
