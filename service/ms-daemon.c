#define G_LOG_DOMAIN "MsDaemon"

#include "config.h"

#include <gio/gunixfdlist.h>
#include <gio/gunixinputstream.h>
#include <glib/gi18n.h>
#include <string.h>

#include "ms-authority.h"
#include "ms-daemon.h"
#include "ms-error.h"
#include "ms-message.h"
#include "ms-notifier.h"
#include "ms-raw-body.h"
#include "ms-raw-message.h"
#include "ms-resources.h"
#include "ms-smtp-client.h"

#define MS_DBUS_PATH		"/org/mail/Sender"
#define MS_DBUS_INTERFACE	"org.mail.Sender"
#define MS_DBUS_JOB_INTERFACE	"org.mail.Sender.Job"
#define MS_DBUS_JOB_PATH_PREFIX "/org/mail/Sender/Job/"

#define MS_DAEMON_QUEUE_LENGTH_INTERVAL_USEC (G_USEC_PER_SEC / 10)

struct _MsDaemon {
	GObject parent_instance;
	MsConfig *config;
	MsQueue *queue;
	MsCredentials *credentials;
	MsAuthority *authority;
	MsNotifier *notifier;
	MsAccount *notify_account; /* during ms_notifier_notify(), for the reserve callback */
	gboolean system_bus;
	GDBusConnection *connection;
	GDBusNodeInfo *introspection;
	guint manager_id;
	guint jobs_id;			/* the subtree registration */
	GHashTable *job_notify_ids;	/* object path -> notify handler id */
	GHashTable *pending_properties; /* object path -> GPtrArray of changed D-Bus names */
	guint flush_id;
	guint queue_length_id;	 /* announces QueueLength */
	gint64 queue_length_at;	 /* monotonic time it was last looked at */
	guint queue_length_sent; /* the QueueLength last announced */
	GTimeZone *local_tz;	 /* for Date, see ms_daemon_now() */
	gint64 local_tz_at;	 /* monotonic time it was looked up */
};

G_DEFINE_TYPE(MsDaemon, ms_daemon, G_TYPE_OBJECT)

/* one method call in flight; owns the invocation until it is answered */
typedef struct _MsDaemonCall {
	MsDaemon *self;
	GDBusMethodInvocation *invocation;
	GVariant *parameters;
	MsAccount *account; /* the account the call is about, once known */
	MsCaller *caller;   /* once authorized */
	MsSmtpClient *client;
	GByteArray *raw;			  /* SendRawFd: what was read so far */
	gchar *job_path;			  /* a merged Notify: the digest's job */
	void (*next)(struct _MsDaemonCall *call); /* after authorization */
} MsDaemonCall;

static void
ms_daemon_call_free(MsDaemonCall *call)
{
	g_object_unref(call->self);
	g_clear_object(&call->account);
	g_clear_pointer(&call->caller, ms_caller_free);
	g_clear_object(&call->client);
	g_clear_pointer(&call->raw, g_byte_array_unref);
	g_free(call->job_path);
	g_clear_object(&call->invocation);
	g_variant_unref(call->parameters);
	g_free(call);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MsDaemonCall, ms_daemon_call_free)

/* the one place errors cross the bus */
static void
ms_daemon_return_error(MsDaemonCall *call, GError *error)
{
	ms_error_convert(&error);
	g_debug("%s failed: %s: %s",
		g_dbus_method_invocation_get_method_name(call->invocation),
		ms_error_to_dbus_name(error->code),
		error->message);
	g_dbus_method_invocation_return_gerror(g_steal_pointer(&call->invocation), error);
	g_error_free(error);
}

/* ---- argument parsing ---- */

typedef struct {
	const gchar *key;
	const gchar *type;
} MsDaemonKey;

/* every key of a dictionary argument must be known and of the right type */
static gboolean
ms_daemon_check_dict(GVariant *dict,
		     const gchar *what,
		     const MsDaemonKey *keys,
		     gsize n_keys,
		     GError **error)
{
	GVariantIter iter;
	const gchar *key;
	GVariant *value_raw;

	g_variant_iter_init(&iter, dict);
	while (g_variant_iter_next(&iter, "{&sv}", &key, &value_raw)) {
		g_autoptr(GVariant) value = value_raw;
		const MsDaemonKey *known = NULL;

		for (gsize i = 0; i < n_keys; i++) {
			if (g_str_equal(keys[i].key, key)) {
				known = &keys[i];
				break;
			}
		}
		if (known == NULL) {
			g_autoptr(GString) names = g_string_new(NULL);
			g_autofree gchar *key_safe = g_strescape(key, NULL);
			for (gsize i = 0; i < n_keys; i++)
				g_string_append_printf(names,
						       "%s%s",
						       i > 0 ? ", " : "",
						       keys[i].key);
			g_set_error(error,
				    MS_ERROR,
				    MS_ERROR_INVALID_ARGS,
				    _("Unknown key '%s' in %s (known keys: %s)"),
				    key_safe,
				    what,
				    names->str);
			return FALSE;
		}
		if (!g_variant_is_of_type(value, G_VARIANT_TYPE(known->type))) {
			g_set_error(error,
				    MS_ERROR,
				    MS_ERROR_INVALID_ARGS,
				    _("Key '%s' in %s must be of type %s, not %s"),
				    key,
				    what,
				    known->type,
				    g_variant_get_type_string(value));
			return FALSE;
		}
	}
	return TRUE;
}

static const MsDaemonKey ms_daemon_send_keys[] = {
    {"from", "s"},
    {"to", "as"},
    {"cc", "as"},
    {"bcc", "as"},
    {"reply-to", "s"},
    {"subject", "s"},
    {"body", "s"},
    {"html", "s"},
    {"headers", "a{ss}"},
    {"attachments", "aa{sv}"},
};

static const MsDaemonKey ms_daemon_send_option_keys[] = {
    {"account", "s"},
};

static MsAccount *
ms_daemon_lookup_account(MsDaemon *self, GVariant *options, GError **error)
{
	const gchar *name = "default";
	MsAccount *account;

	g_variant_lookup(options, "account", "&s", &name);
	if (name[0] == '\0')
		name = "default";
	account = ms_config_get_account(self->config, name);
	if (account == NULL) {
		g_autoptr(GPtrArray) names = ms_config_get_account_names(self->config);
		g_autofree gchar *name_safe = g_strescape(name, NULL);
		g_autofree gchar *known = NULL;

		g_ptr_array_add(names, NULL);
		known = g_strjoinv(", ", (gchar **)names->pdata);
		g_set_error(error,
			    MS_ERROR,
			    MS_ERROR_NO_SUCH_ACCOUNT,
			    _("No account '%s' is configured (accounts: %s)"),
			    name_safe,
			    known[0] != '\0' ? known : _("none"));
		return NULL;
	}
	return g_object_ref(account);
}

/* G_IO_ERROR_INVALID_ARGUMENT from the composer means the caller's message is at fault */
static gboolean
ms_daemon_message_error(gboolean ret, GError **error)
{
	if (!ret && error != NULL &&
	    g_error_matches(*error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT)) {
		(*error)->domain = MS_ERROR;
		(*error)->code = MS_ERROR_INVALID_MESSAGE;
	}
	return ret;
}

typedef gboolean (*MsMessageAddFunc)(MsMessage *message, const gchar *address, GError **error);

static gboolean
ms_daemon_add_addresses(MsMessage *message,
			GVariant *dict,
			const gchar *key,
			MsMessageAddFunc func,
			GError **error)
{
	g_autofree const gchar **addresses = NULL;

	if (!g_variant_lookup(dict, key, "^a&s", &addresses))
		return TRUE;
	for (guint i = 0; addresses[i] != NULL; i++) {
		if (!ms_daemon_message_error(func(message, addresses[i], error), error))
			return FALSE;
	}
	return TRUE;
}

static const MsDaemonKey ms_daemon_attachment_keys[] = {
    {"filename", "s"},
    {"content-type", "s"},
    {"data", "ay"},
    {"fd", "h"},
    {"path", "s"},
};

/* the content of one attachment: bytes in the call, a file descriptor passed with it, or (on
 * the session bus, where the daemon runs as the caller) a file name */
static GInputStream *
ms_daemon_attachment_stream(MsDaemon *self,
			    GVariant *attachment,
			    MsDaemonCall *call,
			    const gchar *filename,
			    GError **error)
{
	g_autoptr(GVariant) data = g_variant_lookup_value(attachment, "data", G_VARIANT_TYPE("ay"));
	const gchar *path = NULL;
	gint32 handle = -1;
	guint sources = 0;

	sources += data != NULL ? 1 : 0;
	sources += g_variant_lookup(attachment, "fd", "h", &handle) ? 1 : 0;
	sources += g_variant_lookup(attachment, "path", "&s", &path) ? 1 : 0;
	if (sources != 1) {
		g_set_error(error,
			    MS_ERROR,
			    MS_ERROR_INVALID_ARGS,
			    _("Attachment '%s' needs exactly one of 'data', 'fd' or 'path'"),
			    filename);
		return NULL;
	}
	if (data != NULL) {
		g_autoptr(GBytes) bytes = g_variant_get_data_as_bytes(data);
		return g_memory_input_stream_new_from_bytes(bytes);
	}
	if (handle >= 0) {
		GUnixFDList *fds = g_dbus_message_get_unix_fd_list(
		    g_dbus_method_invocation_get_message(call->invocation));
		gint fd;

		if (fds == NULL || handle >= g_unix_fd_list_get_length(fds)) {
			g_set_error(
			    error,
			    MS_ERROR,
			    MS_ERROR_INVALID_ARGS,
			    _("Attachment '%s': no file descriptor %d was passed with the call"),
			    filename,
			    handle);
			return NULL;
		}
		fd = g_unix_fd_list_get(fds, handle, error);
		if (fd < 0)
			return NULL;
		return g_unix_input_stream_new(fd, TRUE);
	}
	if (self->system_bus) {
		g_set_error(error,
			    MS_ERROR,
			    MS_ERROR_NOT_AUTHORIZED,
			    _("Attachment '%s': 'path' is refused on the system bus, where the "
			      "service could read files the caller cannot: pass the file as 'fd'"),
			    filename);
		return NULL;
	}
	{
		g_autoptr(GFile) file = g_file_new_for_path(path);
		g_autoptr(GError) error_local = NULL;
		/* opening is quick; the content is read asynchronously when the message is
		 * written to the spool, before Send returns */
		GFileInputStream *in = g_file_read(file, NULL, &error_local);

		if (in == NULL) {
			g_set_error(error,
				    MS_ERROR,
				    MS_ERROR_INVALID_ARGS,
				    _("Attachment '%s': %s"),
				    filename,
				    error_local->message);
			return NULL;
		}
		return G_INPUT_STREAM(in);
	}
}

static gboolean
ms_daemon_add_attachments(MsDaemon *self,
			  MsMessage *message,
			  GVariant *dict,
			  MsDaemonCall *call,
			  GError **error)
{
	g_autoptr(GVariant) attachments =
	    g_variant_lookup_value(dict, "attachments", G_VARIANT_TYPE("aa{sv}"));
	GVariantIter iter;
	GVariant *attachment_raw;

	if (attachments == NULL)
		return TRUE;
	g_variant_iter_init(&iter, attachments);
	while ((attachment_raw = g_variant_iter_next_value(&iter)) != NULL) {
		g_autoptr(GVariant) attachment = attachment_raw;
		g_autoptr(GInputStream) stream = NULL;
		const gchar *filename = NULL;
		const gchar *content_type = NULL;

		if (!ms_daemon_check_dict(attachment,
					  "an attachment",
					  ms_daemon_attachment_keys,
					  G_N_ELEMENTS(ms_daemon_attachment_keys),
					  error))
			return FALSE;
		if (!g_variant_lookup(attachment, "filename", "&s", &filename)) {
			g_set_error(error,
				    MS_ERROR,
				    MS_ERROR_INVALID_ARGS,
				    _("Every attachment needs a 'filename'"));
			return FALSE;
		}
		g_variant_lookup(attachment, "content-type", "&s", &content_type);
		stream = ms_daemon_attachment_stream(self, attachment, call, filename, error);
		if (stream == NULL)
			return FALSE;
		if (!ms_daemon_message_error(
			ms_message_add_attachment(message, filename, content_type, stream, error),
			error))
			return FALSE;
	}
	return TRUE;
}

/* now in the local time zone, for Date: GLib 2.74 reads /etc/localtime and the zone file
 * again for every g_date_time_new_now_local() when TZ is unset, so the zone is looked up
 * at most once a minute */
static GDateTime *
ms_daemon_now(MsDaemon *self)
{
	gint64 now = g_get_monotonic_time();

	if (self->local_tz == NULL || now - self->local_tz_at >= 60 * G_USEC_PER_SEC) {
		g_clear_pointer(&self->local_tz, g_time_zone_unref);
		self->local_tz = g_time_zone_new_local();
		self->local_tz_at = now;
	}
	return g_date_time_new_now(self->local_tz);
}

static MsMessage *
ms_daemon_compose(MsDaemon *self, GVariant *dict, MsDaemonCall *call, GError **error)
{
	g_autoptr(MsMessage) message = ms_message_new();
	g_autoptr(GDateTime) date = ms_daemon_now(self);
	const gchar *value = NULL;
	g_autoptr(GVariant) headers = NULL;

	ms_message_set_date(message, date);
	/* UTF-8 text as it is; the SMTP client downgrades it for a server without 8BITMIME */
	ms_message_set_8bit_allowed(message, TRUE);
	/* refused rather than ignored: a caller must not believe its HTML or files went out */
	if (g_variant_lookup(dict, "from", "&s", &value)) {
		/* on the system bus the account's From is the admin's, not the caller's to choose
		 */
		if (self->system_bus && call->caller->uid != 0 &&
		    !ms_account_get_allow_from_override(call->account)) {
			g_set_error(error,
				    MS_ERROR,
				    MS_ERROR_NOT_AUTHORIZED,
				    _("Account '%s' does not let callers set From "
				      "(allow-from-override=false)"),
				    ms_account_get_name(call->account));
			return NULL;
		}
	} else {
		value = ms_account_get_from(call->account);
	}
	if (!ms_daemon_message_error(ms_message_set_from(message, value, error), error))
		return NULL;
	if (!ms_daemon_add_addresses(message, dict, "to", ms_message_add_to, error) ||
	    !ms_daemon_add_addresses(message, dict, "cc", ms_message_add_cc, error) ||
	    !ms_daemon_add_addresses(message, dict, "bcc", ms_message_add_bcc, error))
		return NULL;
	if (g_variant_lookup(dict, "reply-to", "&s", &value) &&
	    !ms_daemon_message_error(ms_message_set_reply_to(message, value, error), error))
		return NULL;
	if (g_variant_lookup(dict, "subject", "&s", &value) &&
	    !ms_daemon_message_error(ms_message_set_subject(message, value, error), error))
		return NULL;
	if (g_variant_lookup(dict, "body", "&s", &value) &&
	    !ms_daemon_message_error(ms_message_set_body(message, value, error), error))
		return NULL;
	headers = g_variant_lookup_value(dict, "headers", G_VARIANT_TYPE("a{ss}"));
	if (headers != NULL) {
		GVariantIter iter;
		const gchar *name;
		g_variant_iter_init(&iter, headers);
		while (g_variant_iter_next(&iter, "{&s&s}", &name, &value)) {
			if (!ms_daemon_message_error(
				ms_message_add_header(message, name, value, error),
				error))
				return NULL;
		}
	}
	if (g_variant_lookup(dict, "html", "&s", &value) &&
	    !ms_daemon_message_error(ms_message_set_html(message, value, error), error))
		return NULL;
	if (!ms_daemon_add_attachments(self, message, dict, call, error))
		return NULL;
	return g_steal_pointer(&message);
}

/* ---- methods ---- */

static void
ms_daemon_submit_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(MsDaemonCall) call = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(MsJob) job = ms_queue_submit_finish(MS_QUEUE(source), res, &error);

	if (job == NULL) {
		ms_daemon_return_error(call, g_steal_pointer(&error));
		return;
	}
	g_dbus_method_invocation_return_value(g_steal_pointer(&call->invocation),
					      g_variant_new("(o)", ms_job_get_object_path(job)));
}

/* the gate every method that uses an account goes through: on the system bus it decides from
 * the caller's peer credentials; then func continues with call->caller set */
typedef void (*MsDaemonContinueFunc)(MsDaemonCall *call);

static void
ms_daemon_authorize_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(MsDaemonCall) call = user_data;
	MsDaemonContinueFunc next = call->next;
	GError *error = NULL;

	call->caller = ms_authority_check_finish(MS_AUTHORITY(source), res, &error);
	if (call->caller == NULL) {
		ms_daemon_return_error(call, error);
		return;
	}
	next(g_steal_pointer(&call));
}

static void
ms_daemon_authorize(MsDaemonCall *call, MsDaemonContinueFunc func)
{
	MsDaemon *self = call->self;

	call->next = func;
	/* a caller seen a moment ago that everybody would let in goes on at once */
	call->caller =
	    ms_authority_check_cached(self->authority,
				      g_dbus_method_invocation_get_sender(call->invocation),
				      call->account);
	if (call->caller != NULL) {
		func(call);
		return;
	}
	ms_authority_check_async(self->authority,
				 g_dbus_method_invocation_get_sender(call->invocation),
				 call->account,
				 NULL,
				 ms_daemon_authorize_cb,
				 call);
}

/* the account named by the "account" key of dict (default: "default"), then the gate */
static void
ms_daemon_authorize_account(MsDaemonCall *call_owned, GVariant *dict, MsDaemonContinueFunc func)
{
	g_autoptr(MsDaemonCall) call = call_owned;
	GError *error = NULL;

	call->account = ms_daemon_lookup_account(call->self, dict, &error);
	if (call->account == NULL) {
		ms_daemon_return_error(call, error);
		return;
	}
	ms_daemon_authorize(g_steal_pointer(&call), func);
}

/* a composed message on its way into the spool */
typedef struct {
	MsDaemonCall *call;
	MsMessage *message;
	GOutputStream *out;
	gchar *id;
	guint64 size;
} MsDaemonSpooling;

static void
ms_daemon_spooling_free(MsDaemonSpooling *spooling)
{
	if (spooling->call != NULL)
		ms_daemon_call_free(spooling->call);
	g_clear_object(&spooling->message);
	g_clear_object(&spooling->out);
	g_free(spooling->id);
	g_free(spooling);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MsDaemonSpooling, ms_daemon_spooling_free)

static void
ms_daemon_spooling_fail(MsDaemonSpooling *spooling, GError *error)
{
	ms_queue_discard_prepared(spooling->call->self->queue, spooling->id);
	ms_daemon_return_error(spooling->call, error);
}

static void
ms_daemon_spool_closed_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(MsDaemonSpooling) spooling = user_data;
	MsDaemon *self = spooling->call->self;
	MsAccount *account = spooling->call->account;
	g_autoptr(GPtrArray) recipients = NULL;
	g_autoptr(GError) error = NULL;
	guint32 owner;

	if (!g_output_stream_close_finish(G_OUTPUT_STREAM(source), res, &error)) {
		ms_daemon_spooling_fail(spooling,
					g_error_new(MS_ERROR,
						    MS_ERROR_STORAGE,
						    _("Cannot write the message to the spool: %s"),
						    error->message));
		return;
	}
	recipients = ms_message_get_recipients(spooling->message);
	g_ptr_array_add(recipients, NULL);
	/* not from spooling->call in the argument list: it is stolen there */
	owner = spooling->call->caller->uid;
	ms_queue_submit_prepared_async(
	    self->queue,
	    spooling->id,
	    owner,
	    account,
	    ms_address_get_addr_spec(ms_message_get_from(spooling->message)),
	    (const gchar *const *)recipients->pdata,
	    ms_message_get_mail_flags(spooling->message),
	    spooling->size,
	    NULL,
	    ms_daemon_submit_cb,
	    g_steal_pointer(&spooling->call));
}

static void
ms_daemon_spool_written_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(MsDaemonSpooling) spooling = user_data;
	g_autoptr(GError) error = NULL;
	GOutputStream *out = spooling->out;

	if (!ms_message_write_finish(MS_MESSAGE(source), res, &spooling->size, &error)) {
		/* the caller's attachment could not be read, or the spool could not be written */
		GError *error_dbus;

		if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT))
			error_dbus =
			    g_error_new(MS_ERROR, MS_ERROR_INVALID_MESSAGE, "%s", error->message);
		else if (g_str_has_prefix(error->message, "attachment"))
			error_dbus =
			    g_error_new(MS_ERROR, MS_ERROR_INVALID_ARGS, "%s", error->message);
		else
			error_dbus = g_error_new(MS_ERROR,
						 MS_ERROR_STORAGE,
						 _("Cannot write the message to the spool: %s"),
						 error->message);
		g_output_stream_close(out, NULL, NULL);
		ms_daemon_spooling_fail(spooling, error_dbus);
		return;
	}
	g_output_stream_close_async(out,
				    G_PRIORITY_DEFAULT,
				    NULL,
				    ms_daemon_spool_closed_cb,
				    g_steal_pointer(&spooling));
}

static void
ms_daemon_send_in_memory(MsDaemonCall *call_owned, MsMessage *message)
{
	g_autoptr(MsDaemonCall) call = call_owned;
	g_autoptr(GBytes) bytes = NULL;
	g_autoptr(GPtrArray) recipients = NULL;
	g_autoptr(GError) error = NULL;
	/* not from call in the argument list: g_steal_pointer(&call) may run first */
	MsQueue *queue = call->self->queue;
	MsAccount *account = call->account;
	guint32 owner = call->caller->uid;

	bytes = ms_message_to_bytes(message, &error);
	if (bytes == NULL) {
		ms_daemon_return_error(
		    call,
		    g_error_new(MS_ERROR, MS_ERROR_INVALID_MESSAGE, "%s", error->message));
		return;
	}
	recipients = ms_message_get_recipients(message);
	g_ptr_array_add(recipients, NULL);
	ms_queue_submit_async(queue,
			      owner,
			      account,
			      ms_address_get_addr_spec(ms_message_get_from(message)),
			      (const gchar *const *)recipients->pdata,
			      ms_message_get_mail_flags(message),
			      bytes,
			      NULL,
			      ms_daemon_submit_cb,
			      g_steal_pointer(&call));
}

static void
ms_daemon_send_authorized(MsDaemonCall *call_owned)
{
	g_autoptr(MsDaemonCall) call = call_owned;
	MsDaemon *self = call->self;
	g_autoptr(GVariant) dict = NULL;
	g_autoptr(MsMessage) message = NULL;
	g_autoptr(MsDaemonSpooling) spooling = NULL;
	g_autoptr(GVariant) attachments = NULL;
	GError *error = NULL;

	g_variant_get(call->parameters, "(@a{sv}@a{sv})", &dict, NULL);
	message = ms_daemon_compose(self, dict, call, &error);
	if (message == NULL) {
		ms_daemon_return_error(call, error);
		return;
	}
	/* counted last, so that refused input does not use up the caller's allowance */
	if (!ms_authority_take_rate_token(self->authority, call->caller, call->account, &error)) {
		ms_daemon_return_error(call, error);
		return;
	}
	/* without attachments a message is small: composed in memory and written by the group
	 * commit together with its envelope, not streamed into a file of its own through a
	 * worker thread per write */
	attachments = g_variant_lookup_value(dict, "attachments", NULL);
	if (attachments == NULL || g_variant_n_children(attachments) == 0) {
		ms_daemon_send_in_memory(g_steal_pointer(&call), message);
		return;
	}
	/* written straight into the spool: attachments stream from the caller's files, so the
	 * daemon never holds a whole message, and the caller may change its files once Send
	 * has returned */
	spooling = g_new0(MsDaemonSpooling, 1);
	spooling->out = ms_queue_prepare(self->queue, &spooling->id, &error);
	if (spooling->out == NULL) {
		ms_daemon_return_error(call, error);
		return;
	}
	spooling->message = g_steal_pointer(&message);
	spooling->call = g_steal_pointer(&call);
	ms_message_write_async(spooling->message,
			       spooling->out,
			       NULL,
			       ms_daemon_spool_written_cb,
			       spooling);
	spooling = NULL;
}

static void
ms_daemon_method_send(MsDaemonCall *call_owned)
{
	g_autoptr(MsDaemonCall) call = call_owned;
	g_autoptr(GVariant) dict = NULL;
	g_autoptr(GVariant) options = NULL;
	GError *error = NULL;

	g_variant_get(call->parameters, "(@a{sv}@a{sv})", &dict, &options);
	if (!ms_daemon_check_dict(options,
				  "the options",
				  ms_daemon_send_option_keys,
				  G_N_ELEMENTS(ms_daemon_send_option_keys),
				  &error) ||
	    !ms_daemon_check_dict(dict,
				  "the message",
				  ms_daemon_send_keys,
				  G_N_ELEMENTS(ms_daemon_send_keys),
				  &error)) {
		ms_daemon_return_error(call, error);
		return;
	}
	ms_daemon_authorize_account(g_steal_pointer(&call), options, ms_daemon_send_authorized);
}

/* Verify: the account's connection exactly as a send makes it, then QUIT */
static void
ms_daemon_verify_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(MsDaemonCall) call = user_data;
	GError *error = NULL;
	GVariant *report = ms_smtp_client_verify_finish(MS_SMTP_CLIENT(source), res, &error);

	if (report == NULL) {
		ms_daemon_return_error(call, error);
		return;
	}
	g_dbus_method_invocation_return_value(g_steal_pointer(&call->invocation),
					      g_variant_new("(@a{sv})", report));
}

static void
ms_daemon_verify_start(MsDaemonCall *call_owned, const gchar *password)
{
	MsDaemonCall *call = call_owned;

	call->client = ms_smtp_client_new(call->account);
	ms_smtp_client_set_password(call->client, password);
	ms_smtp_client_verify_async(call->client, NULL, ms_daemon_verify_cb, call);
}

static void
ms_daemon_verify_credentials_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(MsDaemonCall) call = user_data;
	GError *error = NULL;
	g_autoptr(MsSecret) password =
	    ms_credentials_lookup_finish(MS_CREDENTIALS(source), res, &error);

	if (password == NULL) {
		ms_daemon_return_error(call, error);
		return;
	}
	ms_daemon_verify_start(g_steal_pointer(&call), password);
}

static void
ms_daemon_verify_authorized(MsDaemonCall *call_owned)
{
	g_autoptr(MsDaemonCall) call = call_owned;
	MsDaemon *self = call->self;

	MsAccount *account = call->account;

	if (ms_account_get_username(account) != NULL) {
		ms_credentials_lookup_async(self->credentials,
					    account,
					    NULL,
					    ms_daemon_verify_credentials_cb,
					    g_steal_pointer(&call));
		return;
	}
	ms_daemon_verify_start(g_steal_pointer(&call), NULL);
}

static void
ms_daemon_method_verify(MsDaemonCall *call_owned)
{
	g_autoptr(MsDaemonCall) call = call_owned;
	const gchar *name = NULL;
	g_autoptr(GVariant) options = NULL;

	g_variant_get(call->parameters, "(&s)", &name);
	options = g_variant_ref_sink(g_variant_new_parsed("{'account': <%s>}", name));
	ms_daemon_authorize_account(g_steal_pointer(&call), options, ms_daemon_verify_authorized);
}

/* what a complete message (SendRaw, Notify) needs from the server: 8BITMIME for any byte beyond
 * ASCII, SMTPUTF8 for a UTF-8 envelope address. A raw message with UTF-8 in a header but ASCII
 * addresses is not held back for SMTPUTF8: such mail is common from scripts and servers take
 * it; recipients is NULL-terminated */
static MsMailFlags
ms_daemon_mail_flags(const gchar *sender, const gchar *const *recipients, gboolean has_8bit)
{
	MsMailFlags flags = has_8bit ? MS_MAIL_FLAG_8BITMIME : MS_MAIL_FLAG_NONE;

	if (ms_address_mailbox_needs_smtputf8(sender))
		flags |= MS_MAIL_FLAG_SMTPUTF8 | MS_MAIL_FLAG_8BITMIME;
	for (guint i = 0; recipients[i] != NULL; i++) {
		if (ms_address_mailbox_needs_smtputf8(recipients[i]))
			flags |= MS_MAIL_FLAG_SMTPUTF8 | MS_MAIL_FLAG_8BITMIME;
	}
	return flags;
}

static gboolean
ms_daemon_bytes_have_8bit(GBytes *bytes)
{
	gsize len = 0;
	const guchar *data = g_bytes_get_data(bytes, &len);

	for (gsize i = 0; i < len; i++) {
		if (data[i] >= 0x80)
			return TRUE;
	}
	return FALSE;
}

/* a complete message from SendRaw, SendRawFd or Notify: counted against the caller's rate
 * limit, then queued; recipients is NULL-terminated */
static void
ms_daemon_submit_bytes(MsDaemonCall *call_owned,
		       const gchar *sender,
		       GPtrArray *recipients,
		       GBytes *bytes)
{
	g_autoptr(MsDaemonCall) call = call_owned;
	MsDaemon *self = call->self;
	MsAccount *account = call->account;
	GError *error = NULL;
	guint32 owner;

	if (!ms_authority_take_rate_token(self->authority, call->caller, account, &error)) {
		ms_daemon_return_error(call, error);
		return;
	}
	/* not call->caller in the argument list: g_steal_pointer(&call) may run first */
	owner = call->caller->uid;
	ms_queue_submit_async(self->queue,
			      owner,
			      account,
			      sender,
			      (const gchar *const *)recipients->pdata,
			      ms_daemon_mail_flags(sender,
						   (const gchar *const *)recipients->pdata,
						   ms_daemon_bytes_have_8bit(bytes)),
			      bytes,
			      NULL,
			      ms_daemon_submit_cb,
			      g_steal_pointer(&call));
}

/* ---- SendRaw, SendRawFd ---- */

/* SendRawFd: a message up to this size is read into memory and handled like SendRaw's; a
 * larger one streams into the spool once its header block is read */
#define MS_DAEMON_RAW_MEMORY_SIZE (1024 * 1024)
/* the largest raw message, as spooled */
#define MS_DAEMON_RAW_MAX_SIZE ((guint64)1024 * 1024 * 1024)

static const MsDaemonKey ms_daemon_raw_option_keys[] = {
    {"account", "s"},
    {"to", "as"},
    {"from", "s"},
    {"sendmail-dot", "b"}, /* extension: a line with a single '.' ends the message */
};

static MsRawMessageFlags
ms_daemon_raw_flags(MsDaemonCall *call)
{
	g_autoptr(GVariant) options = g_variant_get_child_value(call->parameters, 1);
	MsRawMessageFlags flags = MS_RAW_MESSAGE_FLAG_NONE;
	gboolean dot_ends = FALSE;

	g_variant_lookup(options, "sendmail-dot", "b", &dot_ends);
	if (dot_ends)
		flags |= MS_RAW_MESSAGE_FLAG_DOT_ENDS;
	if (!g_variant_lookup(options, "to", "^as", NULL))
		flags |= MS_RAW_MESSAGE_FLAG_EXTRACT_RECIPIENTS;
	return flags;
}

/* a raw message (or, streamed, its header block) checked, its envelope worked out and its
 * header section as it is spooled; FALSE with the call answered when it is refused */
static gboolean
ms_daemon_raw_prepare(MsDaemonCall *call,
		      GBytes *input,
		      gchar **sender_out,
		      GPtrArray **recipients_out,
		      GBytes **bytes_out)
{
	MsDaemon *self = call->self;
	g_autoptr(GVariant) options = g_variant_get_child_value(call->parameters, 1);
	g_autoptr(MsRawMessage) raw = NULL;
	g_autoptr(MsAddress) account_from = NULL;
	g_autoptr(GBytes) bytes = NULL;
	g_autoptr(GPtrArray) recipients = NULL;
	g_autofree const gchar **to = NULL;
	const gchar *from = NULL;
	g_autofree gchar *from_normalized = NULL;
	MsAccount *account = call->account;
	GError *error = NULL;

	g_variant_lookup(options, "to", "^a&s", &to);
	raw = ms_raw_message_parse(input, ms_daemon_raw_flags(call), &error);
	if (raw == NULL) {
		ms_daemon_message_error(FALSE, &error);
		ms_daemon_return_error(call, error);
		return FALSE;
	}

	/* the envelope sender */
	account_from = ms_address_parse(ms_account_get_from(account), &error);
	if (account_from == NULL) {
		ms_daemon_message_error(FALSE, &error);
		ms_daemon_return_error(call, error);
		return FALSE;
	}
	if (g_variant_lookup(options, "from", "&s", &from)) {
		if (self->system_bus && call->caller->uid != 0 &&
		    !ms_account_get_allow_from_override(account)) {
			ms_daemon_return_error(
			    call,
			    g_error_new(MS_ERROR,
					MS_ERROR_NOT_AUTHORIZED,
					_("Account '%s' does not let callers set From "
					  "(allow-from-override=false)"),
					ms_account_get_name(account)));
			return FALSE;
		}
		from_normalized = ms_address_normalize_mailbox(from);
		if (from_normalized == NULL) {
			g_autofree gchar *from_safe = g_strescape(from, NULL);
			ms_daemon_return_error(call,
					       g_error_new(MS_ERROR,
							   MS_ERROR_INVALID_MESSAGE,
							   _("'%s' is not a valid envelope sender"),
							   from_safe));
			return FALSE;
		}
		from = from_normalized;
	} else {
		from = ms_address_get_addr_spec(account_from);
	}

	/* the envelope recipients: given, or from the headers like sendmail -t */
	if (to != NULL) {
		recipients = g_ptr_array_new_with_free_func(g_free);
		for (guint i = 0; to[i] != NULL; i++) {
			g_autoptr(MsAddress) address = ms_address_parse(to[i], &error);
			if (address == NULL) {
				ms_daemon_message_error(FALSE, &error);
				ms_daemon_return_error(call, error);
				return FALSE;
			}
			g_ptr_array_add(recipients, g_strdup(ms_address_get_addr_spec(address)));
		}
	} else {
		recipients = ms_raw_message_get_header_recipients(raw);
	}
	if (recipients->len == 0) {
		ms_daemon_return_error(call,
				       g_error_new(MS_ERROR,
						   MS_ERROR_INVALID_MESSAGE,
						   _("No recipient: give 'to' or put To, Cc or Bcc "
						     "headers in the message")));
		return FALSE;
	}
	g_ptr_array_add(recipients, NULL);

	/* the header too: on the system bus the account's From is the admin's, so a message
	 * that claims another sender goes out under the account's From instead */
	if (self->system_bus && call->caller->uid != 0 &&
	    !ms_account_get_allow_from_override(account))
		ms_raw_message_replace_from(raw);
	bytes = ms_raw_message_to_bytes(raw, ms_account_get_from(account), &error);
	if (bytes == NULL) {
		ms_daemon_message_error(FALSE, &error);
		ms_daemon_return_error(call, error);
		return FALSE;
	}
	*sender_out = g_strdup(from);
	*recipients_out = g_steal_pointer(&recipients);
	*bytes_out = g_steal_pointer(&bytes);
	return TRUE;
}

static void
ms_daemon_raw_submit(MsDaemonCall *call_owned, GBytes *input)
{
	g_autoptr(MsDaemonCall) call = call_owned;
	g_autofree gchar *sender = NULL;
	g_autoptr(GPtrArray) recipients = NULL;
	g_autoptr(GBytes) bytes = NULL;

	if (!ms_daemon_raw_prepare(call, input, &sender, &recipients, &bytes))
		return;
	ms_daemon_submit_bytes(g_steal_pointer(&call), sender, recipients, bytes);
}

static void
ms_daemon_send_raw_authorized(MsDaemonCall *call_owned)
{
	g_autoptr(MsDaemonCall) call = call_owned;
	g_autoptr(GVariant) data = g_variant_get_child_value(call->parameters, 0);
	g_autoptr(GBytes) input = g_variant_get_data_as_bytes(data);

	ms_daemon_raw_submit(g_steal_pointer(&call), input);
}

/* a SendRawFd message on its way into the spool */
typedef struct {
	MsDaemonCall *call;
	gchar *id;
	gchar *sender;
	GPtrArray *recipients; /* NULL-terminated */
	gboolean header_8bit;
} MsDaemonRawStream;

static void
ms_daemon_raw_stream_free(MsDaemonRawStream *stream)
{
	if (stream->call != NULL)
		ms_daemon_call_free(stream->call);
	g_free(stream->id);
	g_free(stream->sender);
	g_clear_pointer(&stream->recipients, g_ptr_array_unref);
	g_free(stream);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MsDaemonRawStream, ms_daemon_raw_stream_free)

static void
ms_daemon_raw_stream_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(MsDaemonRawStream) stream = user_data;
	MsDaemonCall *call = stream->call;
	MsDaemon *self = call->self;
	g_autoptr(GError) error = NULL;
	GError *error_dbus = NULL;
	guint64 size = 0;
	gboolean has_8bit = FALSE;
	guint32 owner;

	if (!ms_raw_body_copy_finish(res, &size, &has_8bit, &error)) {
		ms_queue_discard_prepared(self->queue, stream->id);
		if (g_error_matches(error, MS_RAW_BODY_ERROR, MS_RAW_BODY_ERROR_READ))
			error_dbus = g_error_new(MS_ERROR,
						 MS_ERROR_INVALID_ARGS,
						 _("Cannot read the message from the file "
						   "descriptor: %s"),
						 error->message);
		else if (g_error_matches(error, MS_RAW_BODY_ERROR, MS_RAW_BODY_ERROR_WRITE))
			error_dbus = g_error_new(MS_ERROR,
						 MS_ERROR_STORAGE,
						 _("Cannot write the message to the spool: %s"),
						 error->message);
		else
			error_dbus =
			    g_error_new(MS_ERROR, MS_ERROR_INVALID_MESSAGE, "%s", error->message);
		ms_daemon_return_error(call, error_dbus);
		return;
	}
	/* counted last, so that refused input does not use up the caller's allowance */
	if (!ms_authority_take_rate_token(self->authority,
					  call->caller,
					  call->account,
					  &error_dbus)) {
		ms_queue_discard_prepared(self->queue, stream->id);
		ms_daemon_return_error(call, error_dbus);
		return;
	}
	owner = call->caller->uid;
	ms_queue_submit_prepared_async(
	    self->queue,
	    stream->id,
	    owner,
	    call->account,
	    stream->sender,
	    (const gchar *const *)stream->recipients->pdata,
	    ms_daemon_mail_flags(stream->sender,
				 (const gchar *const *)stream->recipients->pdata,
				 stream->header_8bit || has_8bit),
	    size,
	    NULL,
	    ms_daemon_submit_cb,
	    g_steal_pointer(&stream->call));
}

/* more than MS_DAEMON_RAW_MEMORY_SIZE arrived: the header block is in call->raw; it is checked
 * like a whole SendRaw message, then it and the body stream into the spool */
static void
ms_daemon_raw_fd_stream(MsDaemonCall *call_owned, GInputStream *in)
{
	g_autoptr(MsDaemonCall) call = call_owned;
	g_autoptr(MsDaemonRawStream) stream = NULL;
	g_autoptr(GBytes) head = NULL;
	g_autoptr(GBytes) body_start = NULL;
	g_autoptr(GBytes) header_section = NULL;
	g_autoptr(GOutputStream) out = NULL;
	MsRawMessageFlags flags = ms_daemon_raw_flags(call);
	const guint8 *data = call->raw->data;
	gsize len = call->raw->len;
	gsize body_offset;
	gsize dot_line = len;
	guint body_line = 1;
	GError *error = NULL;

	/* sendmail's '.' line in what was read: the message ends there, and it is small */
	if ((flags & MS_RAW_MESSAGE_FLAG_DOT_ENDS) != 0)
		dot_line = ms_raw_message_find_dot_line(data, len);
	if (dot_line < len) {
		g_autoptr(GBytes) input = NULL;
		g_byte_array_set_size(call->raw, (guint)dot_line);
		input = g_byte_array_free_to_bytes(g_steal_pointer(&call->raw));
		ms_daemon_raw_submit(g_steal_pointer(&call), input);
		return;
	}
	body_offset = ms_raw_message_find_body_start(data, len, &body_line);
	if (body_offset == 0) {
		g_autoptr(GBytes) input = g_byte_array_free_to_bytes(g_steal_pointer(&call->raw));
		g_autoptr(MsRawMessage) raw = ms_raw_message_parse(input, flags, &error);
		/* the parser says what is wrong with the header block, if it can */
		if (raw == NULL) {
			ms_daemon_message_error(FALSE, &error);
			ms_daemon_return_error(call, error);
			return;
		}
		ms_daemon_return_error(
		    call,
		    g_error_new(MS_ERROR,
				MS_ERROR_INVALID_MESSAGE,
				_("The header block of the message does not end "
				  "within its first %u MiB"),
				(guint)(MS_DAEMON_RAW_MEMORY_SIZE / (1024 * 1024))));
		return;
	}
	head = g_bytes_new(data, body_offset);
	body_start = g_bytes_new(data + body_offset, len - body_offset);
	stream = g_new0(MsDaemonRawStream, 1);
	if (!ms_daemon_raw_prepare(call,
				   head,
				   &stream->sender,
				   &stream->recipients,
				   &header_section))
		return;
	g_ptr_array_add(stream->recipients, NULL);
	stream->header_8bit = ms_daemon_bytes_have_8bit(header_section);
	out = ms_queue_prepare(call->self->queue, &stream->id, &error);
	if (out == NULL) {
		ms_daemon_return_error(call, error);
		return;
	}
	g_clear_pointer(&call->raw, g_byte_array_unref);
	stream->call = g_steal_pointer(&call);
	ms_raw_body_copy_async(in,
			       header_section,
			       body_start,
			       out,
			       flags,
			       body_line,
			       body_offset,
			       MS_DAEMON_RAW_MAX_SIZE,
			       NULL,
			       ms_daemon_raw_stream_cb,
			       g_steal_pointer(&stream));
}

static void
ms_daemon_raw_fd_read_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(MsDaemonCall) call = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) chunk =
	    g_input_stream_read_bytes_finish(G_INPUT_STREAM(source), res, &error);
	GInputStream *in = G_INPUT_STREAM(source);

	if (chunk == NULL) {
		ms_daemon_return_error(call,
				       g_error_new(MS_ERROR,
						   MS_ERROR_INVALID_ARGS,
						   _("Cannot read the message from the file "
						     "descriptor: %s"),
						   error->message));
		return;
	}
	if (g_bytes_get_size(chunk) == 0) {
		g_autoptr(GBytes) input = g_byte_array_free_to_bytes(g_steal_pointer(&call->raw));
		ms_daemon_raw_submit(g_steal_pointer(&call), input);
		return;
	}
	g_byte_array_append(call->raw,
			    g_bytes_get_data(chunk, NULL),
			    (guint)g_bytes_get_size(chunk));
	/* never more than this in memory: a larger message streams into the spool */
	if (call->raw->len > MS_DAEMON_RAW_MEMORY_SIZE) {
		ms_daemon_raw_fd_stream(g_steal_pointer(&call), in);
		return;
	}
	g_input_stream_read_bytes_async(in,
					64 * 1024,
					G_PRIORITY_DEFAULT,
					NULL,
					ms_daemon_raw_fd_read_cb,
					g_steal_pointer(&call));
}

static void
ms_daemon_send_raw_fd_authorized(MsDaemonCall *call_owned)
{
	g_autoptr(MsDaemonCall) call = call_owned;
	GDBusMessage *dbus_message = g_dbus_method_invocation_get_message(call->invocation);
	GUnixFDList *fds = g_dbus_message_get_unix_fd_list(dbus_message);
	g_autoptr(GInputStream) in = NULL;
	GError *error = NULL;
	gint32 handle = -1;
	gint fd;

	g_variant_get_child(call->parameters, 0, "h", &handle);
	if (fds == NULL || handle < 0 || handle >= g_unix_fd_list_get_length(fds)) {
		ms_daemon_return_error(
		    call,
		    g_error_new(MS_ERROR,
				MS_ERROR_INVALID_ARGS,
				_("No file descriptor was passed with the call")));
		return;
	}
	fd = g_unix_fd_list_get(fds, handle, &error);
	if (fd < 0) {
		ms_daemon_return_error(call, error);
		return;
	}
	in = g_unix_input_stream_new(fd, TRUE);
	call->raw = g_byte_array_new();
	g_input_stream_read_bytes_async(in,
					64 * 1024,
					G_PRIORITY_DEFAULT,
					NULL,
					ms_daemon_raw_fd_read_cb,
					g_steal_pointer(&call));
}

static void
ms_daemon_method_send_raw_common(MsDaemonCall *call_owned, MsDaemonContinueFunc next)
{
	g_autoptr(MsDaemonCall) call = call_owned;
	g_autoptr(GVariant) options = g_variant_get_child_value(call->parameters, 1);
	GError *error = NULL;

	if (!ms_daemon_check_dict(options,
				  "the options",
				  ms_daemon_raw_option_keys,
				  G_N_ELEMENTS(ms_daemon_raw_option_keys),
				  &error)) {
		ms_daemon_return_error(call, error);
		return;
	}
	ms_daemon_authorize_account(g_steal_pointer(&call), options, next);
}

static void
ms_daemon_method_send_raw(MsDaemonCall *call)
{
	ms_daemon_method_send_raw_common(call, ms_daemon_send_raw_authorized);
}

static void
ms_daemon_method_send_raw_fd(MsDaemonCall *call)
{
	ms_daemon_method_send_raw_common(call, ms_daemon_send_raw_fd_authorized);
}

/* ---- Notify ---- */

static const MsDaemonKey ms_daemon_notify_hint_keys[] = {
    {"account", "s"},
    {"urgency", "s"},
    {"coalesce-key", "s"},
};

/* a notification mail: the account's From to its notify-to */
static GBytes *
ms_daemon_compose_notification(MsAccount *account,
			       const gchar *subject,
			       const gchar *body,
			       gboolean critical,
			       GPtrArray **recipients,
			       gchar **sender,
			       GError **error)
{
	g_autoptr(MsMessage) message = ms_message_new();
	const gchar *const *notify_to = ms_account_get_notify_to(account);
	GBytes *bytes;

	if (!ms_daemon_message_error(
		ms_message_set_from(message, ms_account_get_from(account), error),
		error))
		return NULL;
	for (guint i = 0; notify_to[i] != NULL; i++) {
		if (!ms_daemon_message_error(ms_message_add_to(message, notify_to[i], error),
					     error))
			return NULL;
	}
	if (!ms_daemon_message_error(ms_message_set_subject(message, subject, error), error) ||
	    !ms_daemon_message_error(ms_message_set_body(message, body, error), error))
		return NULL;
	if (critical &&
	    !ms_daemon_message_error(ms_message_add_header(message, "Importance", "high", error),
				     error))
		return NULL;
	bytes = ms_message_to_bytes(message, error);
	if (bytes == NULL) {
		ms_daemon_message_error(FALSE, error);
		return NULL;
	}
	if (recipients != NULL) {
		*recipients = ms_message_get_recipients(message);
		g_ptr_array_add(*recipients, NULL);
	}
	if (sender != NULL)
		*sender = g_strdup(ms_address_get_addr_spec(ms_message_get_from(message)));
	return bytes;
}

/* the notifier wants a job path for a digest that is written when its window ends */
static gchar *
ms_daemon_reserve_digest_cb(gpointer user_data)
{
	MsDaemon *self = MS_DAEMON(user_data);
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) recipients = NULL;
	g_autofree gchar *sender = NULL;
	g_autoptr(GBytes) probe = ms_daemon_compose_notification(self->notify_account,
								 "digest",
								 "",
								 FALSE,
								 &recipients,
								 &sender,
								 &error);
	MsJob *job;

	/* the account's settings were checked by the caller's own notification already */
	g_return_val_if_fail(probe != NULL, NULL);
	job = ms_queue_reserve(self->queue,
			       self->notify_account,
			       sender,
			       (const gchar *const *)recipients->pdata);
	return g_strdup(ms_job_get_id(job));
}

static void
ms_daemon_digest_submitted_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GError) error = NULL;

	if (!ms_queue_submit_reserved_finish(MS_QUEUE(source), res, &error))
		g_warning("cannot queue a notification digest: %s", error->message);
}

static void
ms_daemon_digest_ready_cb(MsNotifier *notifier,
			  MsNotification *digest,
			  const gchar *reserved_id,
			  MsDaemon *self)
{
	MsJob *job = ms_queue_get_job(self->queue, reserved_id);
	MsAccount *account = ms_config_get_account(self->config, digest->account);
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) bytes = NULL;

	if (job == NULL)
		return;
	if (account == NULL) {
		g_warning("notification digest for account '%s', which is gone", digest->account);
		return;
	}
	bytes = ms_daemon_compose_notification(account,
					       digest->subject,
					       digest->body,
					       FALSE,
					       NULL,
					       NULL,
					       &error);
	if (bytes == NULL) {
		g_warning("cannot compose a notification digest: %s", error->message);
		return;
	}
	ms_job_set_mail_flags(job,
			      ms_daemon_mail_flags(ms_job_get_sender(job),
						   ms_job_get_recipients(job),
						   ms_daemon_bytes_have_8bit(bytes)));
	ms_queue_submit_reserved_async(self->queue,
				       job,
				       bytes,
				       ms_daemon_digest_submitted_cb,
				       NULL);
}

static void
ms_daemon_merged_kept_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(MsDaemonCall) call = user_data;
	g_autoptr(GError) error = NULL;

	if (!ms_queue_submit_reserved_finish(MS_QUEUE(source), res, &error)) {
		ms_daemon_return_error(call,
				       g_error_new(MS_ERROR,
						   MS_ERROR_STORAGE,
						   _("Cannot write the message to the spool: %s"),
						   error->message));
		return;
	}
	g_dbus_method_invocation_return_value(g_steal_pointer(&call->invocation),
					      g_variant_new("(o)", call->job_path));
}

/* a merged Notify is accepted like any other message: once it is on disk, as part of the
 * digest as it is now, which the spool keeps under the digest's job until the window closes,
 * so a crash in the window delivers what was merged so far */
static void
ms_daemon_merged_keep(MsDaemonCall *call_owned, const gchar *reserved_id)
{
	g_autoptr(MsDaemonCall) call = call_owned;
	MsDaemon *self = call->self;
	MsJob *job = ms_queue_get_job(self->queue, reserved_id);
	g_autoptr(MsNotification) digest = ms_notifier_peek_digest(self->notifier, reserved_id);
	g_autoptr(GBytes) bytes = NULL;
	g_autoptr(GError) error = NULL;

	call->job_path = g_strdup_printf("/org/mail/Sender/Job/%s", reserved_id);
	if (job == NULL || digest == NULL) {
		g_dbus_method_invocation_return_value(g_steal_pointer(&call->invocation),
						      g_variant_new("(o)", call->job_path));
		return;
	}
	bytes = ms_daemon_compose_notification(call->account,
					       digest->subject,
					       digest->body,
					       FALSE,
					       NULL,
					       NULL,
					       &error);
	if (bytes == NULL) {
		ms_daemon_return_error(call, g_steal_pointer(&error));
		return;
	}
	ms_job_set_mail_flags(job,
			      ms_daemon_mail_flags(ms_job_get_sender(job),
						   ms_job_get_recipients(job),
						   ms_daemon_bytes_have_8bit(bytes)));
	ms_queue_update_reserved_async(self->queue,
				       job,
				       bytes,
				       ms_daemon_merged_kept_cb,
				       g_steal_pointer(&call));
}

static void
ms_daemon_notify_authorized(MsDaemonCall *call_owned)
{
	g_autoptr(MsDaemonCall) call = call_owned;
	MsDaemon *self = call->self;
	const gchar *subject = NULL;
	const gchar *body = NULL;
	const gchar *urgency = "normal";
	const gchar *key = "";
	g_autoptr(GVariant) hints = NULL;
	g_autoptr(GBytes) bytes = NULL;
	g_autoptr(GPtrArray) recipients = NULL;
	g_autofree gchar *sender = NULL;
	g_autofree gchar *reserved_id = NULL;
	MsNotifyAction action = MS_NOTIFY_SEND_NOW;
	MsAccount *account = call->account;
	GError *error = NULL;
	gboolean ok;

	g_variant_get(call->parameters, "(&s&s@a{sv})", &subject, &body, &hints);
	g_variant_lookup(hints, "urgency", "&s", &urgency);
	g_variant_lookup(hints, "coalesce-key", "&s", &key);
	if (ms_account_get_notify_to(account)[0] == NULL) {
		ms_daemon_return_error(
		    call,
		    g_error_new(MS_ERROR,
				MS_ERROR_INVALID_ARGS,
				_("Account '%s' has no notify-to: set notify-to=admin@example.org "
				  "in its [account %s] group of %s"),
				ms_account_get_name(account),
				ms_account_get_name(account),
				ms_config_get_path(self->config)));
		return;
	}
	/* composed first, so that bad input is refused before it could be merged */
	bytes = ms_daemon_compose_notification(account,
					       subject,
					       body,
					       g_strcmp0(urgency, "critical") == 0,
					       &recipients,
					       &sender,
					       &error);
	if (bytes == NULL) {
		ms_daemon_return_error(call, error);
		return;
	}
	self->notify_account = account;
	ok = ms_notifier_notify(self->notifier,
				ms_account_get_name(account),
				ms_account_get_notify_coalesce(account),
				subject,
				body,
				urgency,
				key,
				&action,
				&reserved_id,
				&error);
	self->notify_account = NULL;
	if (!ok) {
		ms_daemon_return_error(call, error);
		return;
	}
	if (action == MS_NOTIFY_MERGED) {
		ms_daemon_merged_keep(g_steal_pointer(&call), reserved_id);
		return;
	}
	ms_daemon_submit_bytes(g_steal_pointer(&call), sender, recipients, bytes);
}

static void
ms_daemon_method_notify(MsDaemonCall *call_owned)
{
	g_autoptr(MsDaemonCall) call = call_owned;
	g_autoptr(GVariant) hints = NULL;
	GError *error = NULL;

	g_variant_get(call->parameters, "(&s&s@a{sv})", NULL, NULL, &hints);
	if (!ms_daemon_check_dict(hints,
				  "the hints",
				  ms_daemon_notify_hint_keys,
				  G_N_ELEMENTS(ms_daemon_notify_hint_keys),
				  &error)) {
		ms_daemon_return_error(call, error);
		return;
	}
	ms_daemon_authorize_account(g_steal_pointer(&call), hints, ms_daemon_notify_authorized);
}

void
ms_daemon_flush_notifications(MsDaemon *self)
{
	g_return_if_fail(MS_IS_DAEMON(self));
	ms_notifier_flush(self->notifier);
}

static GVariant *
ms_daemon_account_to_variant(MsAccount *account)
{
	GVariantBuilder builder;
	const gchar *const *notify_to = ms_account_get_notify_to(account);

	g_variant_builder_init(&builder, G_VARIANT_TYPE_VARDICT);
	g_variant_builder_add(&builder,
			      "{sv}",
			      "host",
			      g_variant_new_string(ms_account_get_host(account)));
	g_variant_builder_add(&builder,
			      "{sv}",
			      "port",
			      g_variant_new_uint16(ms_account_get_port(account)));
	g_variant_builder_add(
	    &builder,
	    "{sv}",
	    "security",
	    g_variant_new_string(ms_security_to_string(ms_account_get_security(account))));
	g_variant_builder_add(
	    &builder,
	    "{sv}",
	    "auth",
	    g_variant_new_string(ms_auth_method_to_string(ms_account_get_auth(account))));
	if (ms_account_get_username(account) != NULL)
		g_variant_builder_add(&builder,
				      "{sv}",
				      "username",
				      g_variant_new_string(ms_account_get_username(account)));
	g_variant_builder_add(&builder,
			      "{sv}",
			      "from",
			      g_variant_new_string(ms_account_get_from(account)));
	g_variant_builder_add(&builder,
			      "{sv}",
			      "helo-name",
			      g_variant_new_string(ms_account_get_helo_name(account)));
	if (ms_account_get_ca_file(account) != NULL)
		g_variant_builder_add(&builder,
				      "{sv}",
				      "ca-file",
				      g_variant_new_string(ms_account_get_ca_file(account)));
	if (ms_account_get_tls_fingerprint(account) != NULL)
		g_variant_builder_add(
		    &builder,
		    "{sv}",
		    "tls-fingerprint",
		    g_variant_new_string(ms_account_get_tls_fingerprint(account)));
	g_variant_builder_add(&builder,
			      "{sv}",
			      "tls-verify",
			      g_variant_new_boolean(ms_account_get_tls_verify(account)));
	g_variant_builder_add(&builder,
			      "{sv}",
			      "timeout",
			      g_variant_new_uint32(ms_account_get_timeout(account)));
	g_variant_builder_add(&builder,
			      "{sv}",
			      "max-attempts",
			      g_variant_new_uint32(ms_account_get_max_attempts(account)));
	g_variant_builder_add(&builder,
			      "{sv}",
			      "retry-delay",
			      g_variant_new_uint32(ms_account_get_retry_delay(account)));
	g_variant_builder_add(&builder, "{sv}", "notify-to", g_variant_new_strv(notify_to, -1));
	return g_variant_builder_end(&builder);
}

static void
ms_daemon_method_get_accounts(MsDaemonCall *call_owned)
{
	g_autoptr(MsDaemonCall) call = call_owned;
	MsDaemon *self = call->self;
	g_autoptr(GPtrArray) names = ms_config_get_account_names(self->config);
	GVariantBuilder builder;

	g_variant_builder_init(&builder, G_VARIANT_TYPE("a{sa{sv}}"));
	for (guint i = 0; i < names->len; i++) {
		const gchar *name = g_ptr_array_index(names, i);
		MsAccount *account = ms_config_get_account(self->config, name);
		g_variant_builder_add(&builder,
				      "{s@a{sv}}",
				      name,
				      ms_daemon_account_to_variant(account));
	}
	g_dbus_method_invocation_return_value(g_steal_pointer(&call->invocation),
					      g_variant_new("(a{sa{sv}})", &builder));
}

static void
ms_daemon_get_jobs_uid_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(MsDaemonCall) call = user_data;
	g_autoptr(GPtrArray) jobs = ms_queue_get_jobs(call->self->queue);
	GVariantBuilder builder;
	GError *error = NULL;
	guint32 uid = 0;

	if (!ms_authority_get_uid_finish(MS_AUTHORITY(source), res, &uid, &error)) {
		ms_daemon_return_error(call, error);
		return;
	}
	/* on the system bus a caller sees its own jobs; root sees all */
	g_variant_builder_init(&builder, G_VARIANT_TYPE("ao"));
	for (guint i = 0; i < jobs->len; i++) {
		MsJob *job = g_ptr_array_index(jobs, i);
		if (ms_authority_may_manage_job(call->self->authority, uid, ms_job_get_owner(job)))
			g_variant_builder_add(&builder, "o", ms_job_get_object_path(job));
	}
	g_dbus_method_invocation_return_value(g_steal_pointer(&call->invocation),
					      g_variant_new("(ao)", &builder));
}

static void
ms_daemon_method_get_jobs(MsDaemonCall *call_owned)
{
	g_autoptr(MsDaemonCall) call = call_owned;
	MsDaemon *self = call->self;
	const gchar *sender = g_dbus_method_invocation_get_sender(call->invocation);

	ms_authority_get_uid_async(self->authority,
				   sender,
				   ms_daemon_get_jobs_uid_cb,
				   g_steal_pointer(&call));
}

/* a handler owns the call: it answers the invocation and frees the call, now or later */
typedef void (*MsDaemonMethodFunc)(MsDaemonCall *call);

static const struct {
	const gchar *name;
	MsDaemonMethodFunc func;
} ms_daemon_methods[] = {
    {"Send", ms_daemon_method_send},
    {"SendRaw", ms_daemon_method_send_raw},
    {"SendRawFd", ms_daemon_method_send_raw_fd},
    {"Notify", ms_daemon_method_notify},
    {"Verify", ms_daemon_method_verify},
    {"GetAccounts", ms_daemon_method_get_accounts},
    {"GetJobs", ms_daemon_method_get_jobs},
};

static void
ms_daemon_manager_method_call(GDBusConnection *connection,
			      const gchar *sender,
			      const gchar *object_path,
			      const gchar *interface_name,
			      const gchar *method_name,
			      GVariant *parameters,
			      GDBusMethodInvocation *invocation,
			      gpointer user_data)
{
	MsDaemon *self = MS_DAEMON(user_data);
	MsDaemonCall *call = g_new0(MsDaemonCall, 1);

	call->self = g_object_ref(self);
	/* the handler owns the invocation (transfer full): returning it gives that reference
	 * away, so another one would keep every call and its message alive */
	call->invocation = invocation;
	call->parameters = g_variant_ref(parameters);
	g_debug("%s from %s", method_name, sender);
	for (guint i = 0; i < G_N_ELEMENTS(ms_daemon_methods); i++) {
		if (g_str_equal(ms_daemon_methods[i].name, method_name)) {
			ms_daemon_methods[i].func(call);
			return;
		}
	}
	g_dbus_method_invocation_return_error(g_steal_pointer(&call->invocation),
					      G_DBUS_ERROR,
					      G_DBUS_ERROR_UNKNOWN_METHOD,
					      "no method %s",
					      method_name);
	ms_daemon_call_free(call);
}

static GVariant *
ms_daemon_manager_get_property(GDBusConnection *connection,
			       const gchar *sender,
			       const gchar *object_path,
			       const gchar *interface_name,
			       const gchar *property_name,
			       GError **error,
			       gpointer user_data)
{
	MsDaemon *self = MS_DAEMON(user_data);

	if (g_str_equal(property_name, "Version"))
		return g_variant_new_string(PACKAGE_VERSION);
	if (g_str_equal(property_name, "QueueLength"))
		return g_variant_new_uint32(ms_queue_get_length(self->queue));
	g_set_error(error,
		    G_DBUS_ERROR,
		    G_DBUS_ERROR_UNKNOWN_PROPERTY,
		    "no property %s",
		    property_name);
	return NULL;
}

/* ---- job objects ---- */

static MsJob *
ms_daemon_job_for_path(MsDaemon *self, const gchar *object_path)
{
	if (!g_str_has_prefix(object_path, MS_DBUS_JOB_PATH_PREFIX))
		return NULL;
	return ms_queue_get_job(self->queue, object_path + strlen(MS_DBUS_JOB_PATH_PREFIX));
}

/* after ms_authority_get_uid_async() for a call on a job's object: the job when the caller
 * may act on it (its owner or root); otherwise the call is answered (the uid is unknown, the
 * job is gone, or somebody else's job: NotAuthorized saying the caller may not read or cancel
 * it) and NULL is returned */
static MsJob *
ms_daemon_owned_job_finish(MsDaemonCall *call, GAsyncResult *res, gboolean to_read)
{
	MsDaemon *self = call->self;
	const gchar *path = g_dbus_method_invocation_get_object_path(call->invocation);
	MsJob *job = ms_daemon_job_for_path(self, path);
	GError *error = NULL;
	guint32 uid = 0;

	if (!ms_authority_get_uid_finish(self->authority, res, &uid, &error)) {
		ms_daemon_return_error(call, error);
		return NULL;
	}
	if (job == NULL) {
		ms_daemon_return_error(
		    call,
		    g_error_new(MS_ERROR, MS_ERROR_NO_SUCH_JOB, _("No such job: %s"), path));
		return NULL;
	}
	if (!ms_authority_may_manage_job(self->authority, uid, ms_job_get_owner(job))) {
		ms_daemon_return_error(
		    call,
		    to_read
			? g_error_new(MS_ERROR,
				      MS_ERROR_NOT_AUTHORIZED,
				      _("Only the user who sent job %s, or root, may read it"),
				      ms_job_get_id(job))
			: g_error_new(MS_ERROR,
				      MS_ERROR_NOT_AUTHORIZED,
				      _("Only the user who sent job %s, or root, may cancel it"),
				      ms_job_get_id(job)));
		return NULL;
	}
	return job;
}

static void
ms_daemon_cancel_uid_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(MsDaemonCall) call = user_data;
	MsJob *job = ms_daemon_owned_job_finish(call, res, FALSE);
	GError *error = NULL;

	if (job == NULL)
		return;
	if (!ms_queue_cancel(call->self->queue, job, &error)) {
		ms_daemon_return_error(call, error);
		return;
	}
	g_dbus_method_invocation_return_value(g_steal_pointer(&call->invocation), NULL);
}

static GVariant *
ms_daemon_job_property_value(MsJob *job, const gchar *name);

/* org.freedesktop.DBus.Properties of a job on the system bus, where its sender, recipients
 * and the server's replies are for the user who sent it (and root) only: GDBus hands these
 * calls to the method handler when the vtable has no get_property, so the caller's uid can be
 * asked of the bus without blocking */
static void
ms_daemon_job_properties_uid_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(MsDaemonCall) call = user_data;
	MsDaemon *self = call->self;
	const gchar *method = g_dbus_method_invocation_get_method_name(call->invocation);
	MsJob *job = ms_daemon_owned_job_finish(call, res, TRUE);
	GDBusInterfaceInfo *info =
	    g_dbus_node_info_lookup_interface(self->introspection, MS_DBUS_JOB_INTERFACE);
	const gchar *interface_name = NULL;

	if (job == NULL)
		return;
	g_variant_get_child(call->parameters, 0, "&s", &interface_name);
	if (g_strcmp0(interface_name, MS_DBUS_JOB_INTERFACE) != 0) {
		g_dbus_method_invocation_return_error(g_steal_pointer(&call->invocation),
						      G_DBUS_ERROR,
						      G_DBUS_ERROR_UNKNOWN_INTERFACE,
						      "no interface %s",
						      interface_name);
		return;
	}
	if (g_str_equal(method, "Get")) {
		const gchar *name = NULL;
		GVariant *value;

		g_variant_get_child(call->parameters, 1, "&s", &name);
		value = ms_daemon_job_property_value(job, name);
		if (value == NULL) {
			g_dbus_method_invocation_return_error(g_steal_pointer(&call->invocation),
							      G_DBUS_ERROR,
							      G_DBUS_ERROR_UNKNOWN_PROPERTY,
							      "no property %s",
							      name);
			return;
		}
		g_dbus_method_invocation_return_value(g_steal_pointer(&call->invocation),
						      g_variant_new("(v)", value));
		return;
	}
	if (g_str_equal(method, "GetAll")) {
		GVariantBuilder all;

		g_variant_builder_init(&all, G_VARIANT_TYPE_VARDICT);
		for (guint i = 0; info->properties[i] != NULL; i++) {
			const gchar *name = info->properties[i]->name;
			g_variant_builder_add(&all,
					      "{sv}",
					      name,
					      ms_daemon_job_property_value(job, name));
		}
		g_dbus_method_invocation_return_value(g_steal_pointer(&call->invocation),
						      g_variant_new("(a{sv})", &all));
		return;
	}
	g_dbus_method_invocation_return_error(g_steal_pointer(&call->invocation),
					      G_DBUS_ERROR,
					      G_DBUS_ERROR_PROPERTY_READ_ONLY,
					      "the properties of a job are read-only");
}

static void
ms_daemon_job_method_call(GDBusConnection *connection,
			  const gchar *sender,
			  const gchar *object_path,
			  const gchar *interface_name,
			  const gchar *method_name,
			  GVariant *parameters,
			  GDBusMethodInvocation *invocation,
			  gpointer user_data)
{
	MsDaemon *self = MS_DAEMON(user_data);
	g_autoptr(MsDaemonCall) call = g_new0(MsDaemonCall, 1);
	MsJob *job;

	call->self = g_object_ref(self);
	call->invocation = invocation; /* owned, as in ms_daemon_manager_method_call() */
	call->parameters = g_variant_ref(parameters);
	job = ms_daemon_job_for_path(self, object_path);
	if (job == NULL) {
		ms_daemon_return_error(
		    call,
		    g_error_new(MS_ERROR, MS_ERROR_NO_SUCH_JOB, _("No such job: %s"), object_path));
		return;
	}
	if (g_str_equal(interface_name, "org.freedesktop.DBus.Properties")) {
		ms_authority_get_uid_async(self->authority,
					   sender,
					   ms_daemon_job_properties_uid_cb,
					   g_steal_pointer(&call));
		return;
	}
	if (g_str_equal(method_name, "Cancel")) {
		ms_authority_get_uid_async(self->authority,
					   sender,
					   ms_daemon_cancel_uid_cb,
					   g_steal_pointer(&call));
		return;
	}
	g_dbus_method_invocation_return_error(g_steal_pointer(&call->invocation),
					      G_DBUS_ERROR,
					      G_DBUS_ERROR_UNKNOWN_METHOD,
					      "no method %s",
					      method_name);
}

/* GObject property of MsJob -> D-Bus property of org.mail.Sender.Job */
static const struct {
	const gchar *gobject;
	const gchar *dbus;
} ms_daemon_job_properties[] = {
    {"state", "State"},
    {"bytes-sent", "BytesSent"},
    {"bytes-total", "BytesTotal"},
    {"attempts", "Attempts"},
    {"next-attempt", "NextAttempt"},
    {"error", "Error"},
    {"error-message", "ErrorMessage"},
    {"server-reply", "ServerReply"},
    {"recipients", "Recipients"},
    {"rejected-recipients", "RejectedRecipients"},
};

static GVariant *
ms_daemon_job_property_value(MsJob *job, const gchar *name)
{
	if (g_str_equal(name, "State"))
		return g_variant_new_string(ms_job_state_to_string(ms_job_get_state(job)));
	if (g_str_equal(name, "Account"))
		return g_variant_new_string(ms_job_get_account(job));
	if (g_str_equal(name, "Sender"))
		return g_variant_new_string(ms_job_get_sender(job));
	if (g_str_equal(name, "Recipients"))
		return g_variant_new_strv(ms_job_get_recipients(job), -1);
	if (g_str_equal(name, "BytesSent"))
		return g_variant_new_uint64(ms_job_get_bytes_sent(job));
	if (g_str_equal(name, "BytesTotal"))
		return g_variant_new_uint64(ms_job_get_bytes_total(job));
	if (g_str_equal(name, "Attempts"))
		return g_variant_new_uint32(ms_job_get_attempts(job));
	if (g_str_equal(name, "NextAttempt"))
		return g_variant_new_int64(ms_job_get_next_attempt(job));
	if (g_str_equal(name, "Error"))
		return g_variant_new_string(ms_job_get_error(job));
	if (g_str_equal(name, "ErrorMessage"))
		return g_variant_new_string(ms_job_get_error_message(job));
	if (g_str_equal(name, "ServerReply"))
		return g_variant_new_string(ms_job_get_server_reply(job));
	if (g_str_equal(name, "RejectedRecipients")) {
		GVariant *rejected = ms_job_get_rejected_recipients(job);
		return rejected != NULL ? g_variant_ref(rejected)
					: g_variant_new_array(G_VARIANT_TYPE("{ss}"), NULL, 0);
	}
	return NULL;
}

static GVariant *
ms_daemon_job_get_property(GDBusConnection *connection,
			   const gchar *sender,
			   const gchar *object_path,
			   const gchar *interface_name,
			   const gchar *property_name,
			   GError **error,
			   gpointer user_data)
{
	MsDaemon *self = MS_DAEMON(user_data);
	MsJob *job = ms_daemon_job_for_path(self, object_path);
	GVariant *value;

	if (job == NULL) {
		g_set_error(error,
			    MS_ERROR,
			    MS_ERROR_NO_SUCH_JOB,
			    _("No such job: %s"),
			    object_path);
		return NULL;
	}
	value = ms_daemon_job_property_value(job, property_name);
	if (value == NULL)
		g_set_error(error,
			    G_DBUS_ERROR,
			    G_DBUS_ERROR_UNKNOWN_PROPERTY,
			    "no property %s",
			    property_name);
	return value;
}

static void
ms_daemon_emit_properties_changed(MsDaemon *self,
				  const gchar *object_path,
				  const gchar *interface_name,
				  const gchar *property_name,
				  GVariant *value)
{
	GVariantBuilder changed;
	g_autoptr(GError) error = NULL;

	if (self->connection == NULL) {
		g_variant_unref(g_variant_ref_sink(value));
		return;
	}
	g_variant_builder_init(&changed, G_VARIANT_TYPE_VARDICT);
	g_variant_builder_add(&changed, "{sv}", property_name, value);
	if (!g_dbus_connection_emit_signal(
		self->connection,
		NULL,
		object_path,
		"org.freedesktop.DBus.Properties",
		"PropertiesChanged",
		g_variant_new("(sa{sv}as)", interface_name, &changed, NULL),
		&error))
		g_debug("cannot emit PropertiesChanged: %s", error->message);
}

/* one PropertiesChanged for everything that changed on a job since the last one: a delivery
 * changes several properties at a time, and each signal is a trip through the bus */
static void
ms_daemon_flush_job_properties(MsDaemon *self, MsJob *job)
{
	const gchar *path = ms_job_get_object_path(job);
	GPtrArray *names = g_hash_table_lookup(self->pending_properties, path);
	GVariantBuilder changed;
	GVariantBuilder invalidated;
	g_autoptr(GError) error = NULL;

	if (names == NULL)
		return;
	g_variant_builder_init(&changed, G_VARIANT_TYPE_VARDICT);
	g_variant_builder_init(&invalidated, G_VARIANT_TYPE_STRING_ARRAY);
	for (guint i = 0; i < names->len; i++) {
		const gchar *name = g_ptr_array_index(names, i);

		/* on the system bus every local user receives the signal: it only names what
		 * changed, and the owner asks for the values */
		if (self->system_bus) {
			g_variant_builder_add(&invalidated, "s", name);
			continue;
		}
		g_variant_builder_add(&changed,
				      "{sv}",
				      name,
				      ms_daemon_job_property_value(job, name));
	}
	g_hash_table_remove(self->pending_properties, path);
	if (self->connection == NULL) {
		g_variant_builder_clear(&changed);
		g_variant_builder_clear(&invalidated);
		return;
	}
	if (!g_dbus_connection_emit_signal(
		self->connection,
		NULL,
		path,
		"org.freedesktop.DBus.Properties",
		"PropertiesChanged",
		g_variant_new("(sa{sv}as)", MS_DBUS_JOB_INTERFACE, &changed, &invalidated),
		&error))
		g_debug("cannot emit PropertiesChanged: %s", error->message);
}

static gboolean
ms_daemon_flush_properties_cb(gpointer user_data)
{
	MsDaemon *self = MS_DAEMON(user_data);
	g_autoptr(GList) paths = g_hash_table_get_keys(self->pending_properties);

	self->flush_id = 0;
	for (GList *l = paths; l != NULL; l = l->next) {
		MsJob *job = ms_daemon_job_for_path(self, l->data);
		if (job != NULL)
			ms_daemon_flush_job_properties(self, job);
		else
			g_hash_table_remove(self->pending_properties, l->data);
	}
	return G_SOURCE_REMOVE;
}

static void
ms_daemon_job_notify_cb(MsJob *job, GParamSpec *pspec, MsDaemon *self)
{
	for (guint i = 0; i < G_N_ELEMENTS(ms_daemon_job_properties); i++) {
		if (g_str_equal(ms_daemon_job_properties[i].gobject, pspec->name)) {
			const gchar *path = ms_job_get_object_path(job);
			const gchar *name = ms_daemon_job_properties[i].dbus;
			GPtrArray *names = g_hash_table_lookup(self->pending_properties, path);

			if (names == NULL) {
				names = g_ptr_array_new();
				g_hash_table_insert(self->pending_properties,
						    g_strdup(path),
						    names);
			}
			/* the names are static strings: compare the pointers */
			if (!g_ptr_array_find(names, name, NULL))
				g_ptr_array_add(names, (gpointer)name);
			if (self->flush_id == 0)
				self->flush_id = g_idle_add(ms_daemon_flush_properties_cb, self);
			return;
		}
	}
}

static const GDBusInterfaceVTable ms_daemon_manager_vtable = {
    ms_daemon_manager_method_call,
    ms_daemon_manager_get_property,
    NULL,
    {NULL},
};

static const GDBusInterfaceVTable ms_daemon_job_vtable = {
    ms_daemon_job_method_call,
    ms_daemon_job_get_property,
    NULL,
    {NULL},
};

/* the system bus: properties only for the job's owner and root, see
 * ms_daemon_job_properties_uid_cb() */
static const GDBusInterfaceVTable ms_daemon_job_vtable_guarded = {
    ms_daemon_job_method_call,
    NULL,
    NULL,
    {NULL},
};

/* The jobs are one subtree, /org/mail/Sender/Job, answered from the queue's table: no object
 * registration per job, so thousands of recent jobs cost the bus connection nothing */
static gchar **
ms_daemon_jobs_enumerate(GDBusConnection *connection,
			 const gchar *sender,
			 const gchar *object_path,
			 gpointer user_data)
{
	MsDaemon *self = MS_DAEMON(user_data);
	g_autoptr(GPtrArray) jobs = ms_queue_get_jobs(self->queue);
	GPtrArray *names = g_ptr_array_new();

	for (guint i = 0; i < jobs->len; i++)
		g_ptr_array_add(names, g_strdup(ms_job_get_id(g_ptr_array_index(jobs, i))));
	g_ptr_array_add(names, NULL);
	return (gchar **)g_ptr_array_free(names, FALSE);
}

static GDBusInterfaceInfo **
ms_daemon_jobs_introspect(GDBusConnection *connection,
			  const gchar *sender,
			  const gchar *object_path,
			  const gchar *node,
			  gpointer user_data)
{
	MsDaemon *self = MS_DAEMON(user_data);
	GDBusInterfaceInfo **infos;

	if (node == NULL || ms_queue_get_job(self->queue, node) == NULL)
		return NULL;
	infos = g_new0(GDBusInterfaceInfo *, 2);
	infos[0] = g_dbus_interface_info_ref(
	    g_dbus_node_info_lookup_interface(self->introspection, MS_DBUS_JOB_INTERFACE));
	return infos;
}

static const GDBusInterfaceVTable *
ms_daemon_jobs_dispatch(GDBusConnection *connection,
			const gchar *sender,
			const gchar *object_path,
			const gchar *interface_name,
			const gchar *node,
			gpointer *out_user_data,
			gpointer user_data)
{
	MsDaemon *self = MS_DAEMON(user_data);

	if (node == NULL || ms_queue_get_job(self->queue, node) == NULL ||
	    g_strcmp0(interface_name, MS_DBUS_JOB_INTERFACE) != 0)
		return NULL;
	*out_user_data = self;
	return self->system_bus ? &ms_daemon_job_vtable_guarded : &ms_daemon_job_vtable;
}

static const GDBusSubtreeVTable ms_daemon_jobs_vtable = {
    ms_daemon_jobs_enumerate,
    ms_daemon_jobs_introspect,
    ms_daemon_jobs_dispatch,
    {NULL},
};

static void
ms_daemon_export_job(MsDaemon *self, MsJob *job)
{
	const gchar *path = ms_job_get_object_path(job);

	if (g_hash_table_contains(self->job_notify_ids, path))
		return;
	g_hash_table_insert(
	    self->job_notify_ids,
	    g_strdup(path),
	    GSIZE_TO_POINTER(
		g_signal_connect(job, "notify", G_CALLBACK(ms_daemon_job_notify_cb), self)));
}

static void
ms_daemon_unexport_job(MsDaemon *self, MsJob *job)
{
	const gchar *path = ms_job_get_object_path(job);
	gpointer handler = NULL;

	ms_daemon_flush_job_properties(self, job);
	if (g_hash_table_lookup_extended(self->job_notify_ids, path, NULL, &handler)) {
		g_signal_handler_disconnect(job, GPOINTER_TO_SIZE(handler));
		g_hash_table_remove(self->job_notify_ids, path);
	}
}

/* ---- queue events -> bus signals ---- */

static void
ms_daemon_emit(MsDaemon *self, const gchar *signal_name, GVariant *parameters)
{
	g_autoptr(GError) error = NULL;

	if (self->connection == NULL) {
		g_variant_unref(g_variant_ref_sink(parameters));
		return;
	}
	if (!g_dbus_connection_emit_signal(self->connection,
					   NULL,
					   MS_DBUS_PATH,
					   MS_DBUS_INTERFACE,
					   signal_name,
					   parameters,
					   &error))
		g_debug("cannot emit %s: %s", signal_name, error->message);
}

static void
ms_daemon_job_added_cb(MsQueue *queue, MsJob *job, MsDaemon *self)
{
	ms_daemon_export_job(self, job);
}

static void
ms_daemon_job_removed_cb(MsQueue *queue, MsJob *job, MsDaemon *self)
{
	ms_daemon_unexport_job(self, job);
}

static void
ms_daemon_job_progress_cb(MsQueue *queue,
			  MsJob *job,
			  const gchar *stage,
			  guint64 done,
			  guint64 total,
			  MsDaemon *self)
{
	/* the job's properties first, so that a client reacting to the signal reads them new */
	ms_daemon_flush_job_properties(self, job);
	ms_daemon_emit(self,
		       "Progress",
		       g_variant_new("(ostt)", ms_job_get_object_path(job), stage, done, total));
}

static void
ms_daemon_job_finished_cb(MsQueue *queue, MsJob *job, MsDaemon *self)
{
	ms_daemon_flush_job_properties(self, job);
	if (ms_job_get_state(job) == MS_JOB_STATE_SENT) {
		ms_daemon_emit(self,
			       "Sent",
			       g_variant_new("(os)",
					     ms_job_get_object_path(job),
					     ms_job_get_server_reply(job)));
		return;
	}
	ms_daemon_emit(self,
		       "Failed",
		       g_variant_new("(oss)",
				     ms_job_get_object_path(job),
				     ms_job_get_error(job),
				     ms_job_get_error_message(job)));
}

static gboolean
ms_daemon_flush_queue_length_cb(gpointer user_data)
{
	MsDaemon *self = MS_DAEMON(user_data);
	guint length = ms_queue_get_length(self->queue);

	self->queue_length_id = 0;
	self->queue_length_at = g_get_monotonic_time();
	if (length != self->queue_length_sent) {
		self->queue_length_sent = length;
		ms_daemon_emit_properties_changed(self,
						  MS_DBUS_PATH,
						  MS_DBUS_INTERFACE,
						  "QueueLength",
						  g_variant_new_uint32(length));
	}
	return G_SOURCE_REMOVE;
}

static void
ms_daemon_length_changed_cb(MsQueue *queue, MsDaemon *self)
{
	gint64 wait;

	if (self->queue_length_id != 0)
		return;
	/* only if it really changed, and at most about 10 times a second like Progress during
	 * sending: under load it changes twice per message, and each signal is a trip through
	 * the bus for every listener */
	wait =
	    self->queue_length_at + MS_DAEMON_QUEUE_LENGTH_INTERVAL_USEC - g_get_monotonic_time();
	if (wait <= 0)
		self->queue_length_id = g_idle_add(ms_daemon_flush_queue_length_cb, self);
	else
		self->queue_length_id =
		    g_timeout_add((guint)(wait / 1000) + 1, ms_daemon_flush_queue_length_cb, self);
}

gboolean
ms_daemon_register(MsDaemon *self, GDBusConnection *connection, GError **error)
{
	g_autoptr(GPtrArray) jobs = NULL;

	g_return_val_if_fail(MS_IS_DAEMON(self), FALSE);
	g_return_val_if_fail(G_IS_DBUS_CONNECTION(connection), FALSE);
	g_return_val_if_fail(self->connection == NULL, FALSE);

	self->connection = g_object_ref(connection);
	self->authority = ms_authority_new(connection, self->system_bus);
	if (ms_config_get_path(self->config) != NULL)
		ms_authority_set_accounts_path(self->authority, ms_config_get_path(self->config));
	self->manager_id = g_dbus_connection_register_object(
	    connection,
	    MS_DBUS_PATH,
	    g_dbus_node_info_lookup_interface(self->introspection, MS_DBUS_INTERFACE),
	    &ms_daemon_manager_vtable,
	    self,
	    NULL,
	    error);
	if (self->manager_id == 0)
		return FALSE;
	self->jobs_id = g_dbus_connection_register_subtree(connection,
							   "/org/mail/Sender/Job",
							   &ms_daemon_jobs_vtable,
							   G_DBUS_SUBTREE_FLAGS_NONE,
							   self,
							   NULL,
							   error);
	if (self->jobs_id == 0)
		return FALSE;
	jobs = ms_queue_get_jobs(self->queue);
	for (guint i = 0; i < jobs->len; i++)
		ms_daemon_export_job(self, g_ptr_array_index(jobs, i));
	return TRUE;
}

void
ms_daemon_unregister(MsDaemon *self)
{
	g_autoptr(GPtrArray) jobs = NULL;

	g_return_if_fail(MS_IS_DAEMON(self));
	if (self->connection == NULL)
		return;
	jobs = ms_queue_get_jobs(self->queue);
	for (guint i = 0; i < jobs->len; i++)
		ms_daemon_unexport_job(self, g_ptr_array_index(jobs, i));
	if (self->manager_id != 0)
		g_dbus_connection_unregister_object(self->connection, self->manager_id);
	self->manager_id = 0;
	if (self->jobs_id != 0)
		g_dbus_connection_unregister_subtree(self->connection, self->jobs_id);
	self->jobs_id = 0;
	g_clear_object(&self->authority);
	g_clear_object(&self->connection);
}

void
ms_daemon_set_config(MsDaemon *self, MsConfig *config)
{
	g_return_if_fail(MS_IS_DAEMON(self));
	g_return_if_fail(MS_IS_CONFIG(config));
	g_set_object(&self->config, config);
}

MsDaemon *
ms_daemon_new(MsConfig *config, MsQueue *queue, MsCredentials *credentials, gboolean system_bus)
{
	MsDaemon *self;
	g_autoptr(GBytes) xml = NULL;
	g_autoptr(GError) error = NULL;

	g_return_val_if_fail(MS_IS_CONFIG(config), NULL);
	g_return_val_if_fail(MS_IS_QUEUE(queue), NULL);

	self = g_object_new(MS_TYPE_DAEMON, NULL);
	self->config = g_object_ref(config);
	self->queue = g_object_ref(queue);
	self->credentials = g_object_ref(credentials);
	self->notifier = ms_notifier_new(ms_daemon_reserve_digest_cb, self);
	g_signal_connect_object(self->notifier,
				"digest-ready",
				G_CALLBACK(ms_daemon_digest_ready_cb),
				self,
				0);
	self->system_bus = system_bus;
	/* the introspection XML is compiled in: a missing or broken copy is a build bug */
	xml = g_resource_lookup_data(ms_get_resource(),
				     "/org/mail/Sender/org.mail.Sender.xml",
				     G_RESOURCE_LOOKUP_FLAGS_NONE,
				     &error);
	g_assert_no_error(error);
	self->introspection = g_dbus_node_info_new_for_xml(g_bytes_get_data(xml, NULL), &error);
	g_assert_no_error(error);
	g_signal_connect_object(queue, "job-added", G_CALLBACK(ms_daemon_job_added_cb), self, 0);
	g_signal_connect_object(queue,
				"job-removed",
				G_CALLBACK(ms_daemon_job_removed_cb),
				self,
				0);
	g_signal_connect_object(queue,
				"job-progress",
				G_CALLBACK(ms_daemon_job_progress_cb),
				self,
				0);
	g_signal_connect_object(queue,
				"job-finished",
				G_CALLBACK(ms_daemon_job_finished_cb),
				self,
				0);
	g_signal_connect_object(queue,
				"length-changed",
				G_CALLBACK(ms_daemon_length_changed_cb),
				self,
				0);
	return self;
}

static void
ms_daemon_init(MsDaemon *self)
{
	self->job_notify_ids = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	self->pending_properties = g_hash_table_new_full(g_str_hash,
							 g_str_equal,
							 g_free,
							 (GDestroyNotify)g_ptr_array_unref);
}

static void
ms_daemon_dispose(GObject *object)
{
	MsDaemon *self = MS_DAEMON(object);

	g_clear_handle_id(&self->flush_id, g_source_remove);
	g_clear_handle_id(&self->queue_length_id, g_source_remove);
	if (self->queue != NULL)
		ms_daemon_unregister(self);
	g_clear_object(&self->config);
	g_clear_object(&self->queue);
	g_clear_object(&self->credentials);
	g_clear_object(&self->authority);
	g_clear_object(&self->notifier);
	g_clear_object(&self->connection);
	G_OBJECT_CLASS(ms_daemon_parent_class)->dispose(object);
}

static void
ms_daemon_finalize(GObject *object)
{
	MsDaemon *self = MS_DAEMON(object);

	g_hash_table_unref(self->job_notify_ids);
	g_hash_table_unref(self->pending_properties);
	g_clear_pointer(&self->introspection, g_dbus_node_info_unref);
	g_clear_pointer(&self->local_tz, g_time_zone_unref);
	G_OBJECT_CLASS(ms_daemon_parent_class)->finalize(object);
}

static void
ms_daemon_class_init(MsDaemonClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);

	object_class->dispose = ms_daemon_dispose;
	object_class->finalize = ms_daemon_finalize;
}
