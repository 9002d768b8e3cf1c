/*
 * memory-client: one Send to org.mail.Sender on the session bus, with an optional attachment
 * passed as a file descriptor (the way `mail-sender send --attach` passes it), then waits for
 * the job's Sent or Failed signal.
 *
 *   memory-client --to ADDR --subject S --body TEXT [--attach FILE] [--timeout SECONDS]
 *   memory-client --raw FILE [--timeout SECONDS]   (SendRawFd, recipients from the headers)
 *
 * Prints "SENT <job> <reply>" and exits 0, or "FAILED <job> <error>: <message>" and exits 1;
 * exits 2 if the call fails or nothing arrives within the timeout.
 *
 * Built by tests/bench/memory.sh with cc and pkg-config (gio-2.0 gio-unix-2.0), not by meson.
 */

#define G_LOG_DOMAIN "MsBenchMemory"

#include <fcntl.h>
#include <gio/gio.h>
#include <gio/gunixfdlist.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define MS_MEMORY_NAME	    "org.mail.Sender"
#define MS_MEMORY_PATH	    "/org/mail/Sender"
#define MS_MEMORY_INTERFACE "org.mail.Sender"

typedef struct {
	GMainLoop *loop;
	gchar *job;	      /* the path Send returned, NULL until its reply is in */
	GHashTable *finished; /* job path -> "SENT ..." / "FAILED ...": signals may come first */
	gint status;
} MsMemory;

static void
ms_memory_check(MsMemory *self)
{
	const gchar *line = NULL;

	if (self->job == NULL)
		return;
	line = g_hash_table_lookup(self->finished, self->job);
	if (line == NULL)
		return;
	g_print("%s\n", line);
	self->status = g_str_has_prefix(line, "SENT ") ? 0 : 1;
	g_main_loop_quit(self->loop);
}

static void
ms_memory_signal_cb(GDBusConnection *connection,
		    const gchar *sender_name,
		    const gchar *object_path,
		    const gchar *interface_name,
		    const gchar *signal_name,
		    GVariant *parameters,
		    gpointer user_data)
{
	MsMemory *self = user_data;
	const gchar *job = NULL;
	const gchar *text = NULL;
	const gchar *message = NULL;
	gchar *line = NULL;

	if (g_strcmp0(signal_name, "Sent") == 0 &&
	    g_variant_is_of_type(parameters, G_VARIANT_TYPE("(os)"))) {
		g_variant_get(parameters, "(&o&s)", &job, &text);
		line = g_strdup_printf("SENT %s %s", job, text);
	} else if (g_strcmp0(signal_name, "Failed") == 0 &&
		   g_variant_is_of_type(parameters, G_VARIANT_TYPE("(oss)"))) {
		g_variant_get(parameters, "(&o&s&s)", &job, &text, &message);
		line = g_strdup_printf("FAILED %s %s: %s", job, text, message);
	} else {
		return;
	}
	g_hash_table_replace(self->finished, g_strdup(job), line);
	ms_memory_check(self);
}

static void
ms_memory_send_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	MsMemory *self = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = NULL;

	reply = g_dbus_connection_call_with_unix_fd_list_finish(G_DBUS_CONNECTION(source),
								NULL,
								res,
								&error);
	if (reply == NULL) {
		g_printerr("memory-client: Send failed: %s\n", error->message);
		self->status = 2;
		g_main_loop_quit(self->loop);
		return;
	}
	g_variant_get(reply, "(o)", &self->job);
	ms_memory_check(self);
}

static gboolean
ms_memory_timeout_cb(gpointer user_data)
{
	MsMemory *self = user_data;

	g_printerr("memory-client: no Sent or Failed for %s in time\n",
		   self->job != NULL ? self->job : "the job (Send has not returned)");
	self->status = 2;
	g_main_loop_quit(self->loop);
	return G_SOURCE_REMOVE;
}

int
main(int argc, char **argv)
{
	g_autofree gchar *to = NULL;
	g_autofree gchar *subject = NULL;
	g_autofree gchar *body = NULL;
	g_autofree gchar *attach = NULL;
	g_autofree gchar *raw = NULL;
	gint timeout = 60;
	const GOptionEntry entries[] = {
	    {"to", 0, 0, G_OPTION_ARG_STRING, &to, "recipient", "ADDR"},
	    {"subject", 0, 0, G_OPTION_ARG_STRING, &subject, "subject", "TEXT"},
	    {"body", 0, 0, G_OPTION_ARG_STRING, &body, "text body", "TEXT"},
	    {"attach", 0, 0, G_OPTION_ARG_FILENAME, &attach, "attach FILE as big.bin", "FILE"},
	    {"raw",
	     0,
	     0,
	     G_OPTION_ARG_FILENAME,
	     &raw,
	     "SendRawFd of the complete message in FILE instead of Send",
	     "FILE"},
	    {"timeout", 0, 0, G_OPTION_ARG_INT, &timeout, "seconds to wait (60)", "SECONDS"},
	    {NULL},
	};
	g_autoptr(GOptionContext) context = g_option_context_new("- send one message");
	g_autoptr(GError) error = NULL;
	g_autoptr(GDBusConnection) connection = NULL;
	g_autoptr(GUnixFDList) fds = g_unix_fd_list_new();
	g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
	g_autoptr(GHashTable) finished =
	    g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	GVariantBuilder message;
	GVariantBuilder options;
	MsMemory self = {loop, NULL, finished, 2};
	const gchar *to_list[] = {NULL, NULL};

	g_option_context_add_main_entries(context, entries, NULL);
	if (!g_option_context_parse(context, &argc, &argv, &error)) {
		g_printerr("memory-client: %s\n", error->message);
		return 2;
	}
	if (raw == NULL && (to == NULL || subject == NULL || body == NULL)) {
		g_printerr("memory-client: --raw FILE, or --to, --subject and --body are needed\n");
		return 2;
	}
	connection = g_bus_get_sync(G_BUS_TYPE_SESSION, NULL, &error);
	if (connection == NULL) {
		g_printerr("memory-client: no session bus: %s\n", error->message);
		return 2;
	}

	/* before Send: the job may end before its reply is handled here */
	g_dbus_connection_signal_subscribe(connection,
					   MS_MEMORY_NAME,
					   MS_MEMORY_INTERFACE,
					   NULL,
					   MS_MEMORY_PATH,
					   NULL,
					   G_DBUS_SIGNAL_FLAGS_NONE,
					   ms_memory_signal_cb,
					   &self,
					   NULL);

	if (raw != NULL) {
		/* the recipients come from the message's headers, as with sendmail -t */
		gint fd = open(raw, O_RDONLY | O_CLOEXEC);
		gint handle;

		if (fd < 0) {
			g_printerr("memory-client: cannot open %s\n", raw);
			return 2;
		}
		handle = g_unix_fd_list_append(fds, fd, &error);
		close(fd);
		if (handle < 0) {
			g_printerr("memory-client: %s\n", error->message);
			return 2;
		}
		g_dbus_connection_call_with_unix_fd_list(
		    connection,
		    MS_MEMORY_NAME,
		    MS_MEMORY_PATH,
		    MS_MEMORY_INTERFACE,
		    "SendRawFd",
		    g_variant_new("(h@a{sv})",
				  handle,
				  g_variant_new_array(G_VARIANT_TYPE("{sv}"), NULL, 0)),
		    G_VARIANT_TYPE("(o)"),
		    G_DBUS_CALL_FLAGS_NO_AUTO_START,
		    timeout * 1000,
		    fds,
		    NULL,
		    ms_memory_send_cb,
		    &self);
		g_timeout_add_seconds(timeout, ms_memory_timeout_cb, &self);
		g_main_loop_run(loop);
		g_free(self.job);
		return self.status;
	}

	to_list[0] = to;
	g_variant_builder_init(&message, G_VARIANT_TYPE_VARDICT);
	g_variant_builder_add(&message, "{sv}", "to", g_variant_new_strv(to_list, -1));
	g_variant_builder_add(&message, "{sv}", "subject", g_variant_new_string(subject));
	g_variant_builder_add(&message, "{sv}", "body", g_variant_new_string(body));
	if (attach != NULL) {
		GVariantBuilder attachments;
		GVariantBuilder attachment;
		gint fd = open(attach, O_RDONLY | O_CLOEXEC);
		gint handle;

		if (fd < 0) {
			g_printerr("memory-client: cannot open %s\n", attach);
			return 2;
		}
		handle = g_unix_fd_list_append(fds, fd, &error);
		close(fd);
		if (handle < 0) {
			g_printerr("memory-client: %s\n", error->message);
			return 2;
		}
		g_variant_builder_init(&attachment, G_VARIANT_TYPE_VARDICT);
		g_variant_builder_add(&attachment,
				      "{sv}",
				      "filename",
				      g_variant_new_string("big.bin"));
		g_variant_builder_add(&attachment, "{sv}", "fd", g_variant_new_handle(handle));
		g_variant_builder_init(&attachments, G_VARIANT_TYPE("aa{sv}"));
		g_variant_builder_add_value(&attachments, g_variant_builder_end(&attachment));
		g_variant_builder_add(&message,
				      "{sv}",
				      "attachments",
				      g_variant_builder_end(&attachments));
	}
	g_variant_builder_init(&options, G_VARIANT_TYPE_VARDICT);

	g_dbus_connection_call_with_unix_fd_list(connection,
						 MS_MEMORY_NAME,
						 MS_MEMORY_PATH,
						 MS_MEMORY_INTERFACE,
						 "Send",
						 g_variant_new("(a{sv}a{sv})", &message, &options),
						 G_VARIANT_TYPE("(o)"),
						 G_DBUS_CALL_FLAGS_NO_AUTO_START,
						 timeout * 1000,
						 fds,
						 NULL,
						 ms_memory_send_cb,
						 &self);
	g_timeout_add_seconds(timeout, ms_memory_timeout_cb, &self);
	g_main_loop_run(loop);
	g_free(self.job);
	return self.status;
}
