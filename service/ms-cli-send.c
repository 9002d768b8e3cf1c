#define G_LOG_DOMAIN "MsCli"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gunixfdlist.h>
#include <gio/gunixinputstream.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ms-cli-progress.h"
#include "ms-cli.h"

/* enough for GIO to recognise a file by its first bytes */
#define MS_CLI_SEND_SNIFF_SIZE 4096

/* the whole of stdin, for --body-file - */
static GBytes *
ms_cli_send_read_stdin(GError **error)
{
	g_autoptr(GInputStream) in = g_unix_input_stream_new(STDIN_FILENO, FALSE);
	g_autoptr(GOutputStream) out = g_memory_output_stream_new_resizable();

	if (g_output_stream_splice(out, in, G_OUTPUT_STREAM_SPLICE_CLOSE_TARGET, NULL, error) < 0) {
		g_prefix_error(error, "%s", _("reading standard input: "));
		return NULL;
	}
	return g_memory_output_stream_steal_as_bytes(G_MEMORY_OUTPUT_STREAM(out));
}

/* a text file ("-" for stdin) as a UTF-8 string */
static gchar *
ms_cli_send_read_text(const gchar *filename, GError **error)
{
	g_autofree gchar *data = NULL;
	g_autofree gchar *display = NULL;
	gsize len = 0;

	if (g_str_equal(filename, "-")) {
		g_autoptr(GBytes) bytes = ms_cli_send_read_stdin(error);
		if (bytes == NULL)
			return NULL;
		data = g_strndup(g_bytes_get_data(bytes, &len), g_bytes_get_size(bytes));
		display = g_strdup(_("standard input"));
	} else {
		if (!g_file_get_contents(filename, &data, &len, error))
			return NULL;
		display = g_filename_display_name(filename);
	}
	/* the D-Bus string must be UTF-8; a NUL byte would cut the text short */
	if (!g_utf8_validate_len(data, len, NULL)) {
		g_set_error(error,
			    G_IO_ERROR,
			    G_IO_ERROR_INVALID_DATA,
			    _("%s is not UTF-8 text (convert it, or send it with --attach)"),
			    display);
		return NULL;
	}
	return g_steal_pointer(&data);
}

/* "Name: value" into the headers dictionary */
static gboolean
ms_cli_send_add_header(GVariantBuilder *builder, const gchar *arg, GError **error)
{
	const gchar *colon = strchr(arg, ':');
	g_autofree gchar *name = NULL;
	g_autofree gchar *value = NULL;

	if (colon == NULL || colon == arg) {
		g_set_error(error,
			    G_IO_ERROR,
			    G_IO_ERROR_INVALID_ARGUMENT,
			    _("--header wants “Name: value”, not “%s”"),
			    arg);
		return FALSE;
	}
	name = g_strstrip(g_strndup(arg, colon - arg));
	value = g_strstrip(g_strdup(colon + 1));
	if (name[0] == '\0') {
		g_set_error(error,
			    G_IO_ERROR,
			    G_IO_ERROR_INVALID_ARGUMENT,
			    _("--header wants “Name: value”, not “%s”"),
			    arg);
		return FALSE;
	}
	g_variant_builder_add(builder, "{ss}", name, value);
	return TRUE;
}

/* the content type a mail client would give the file: from its name and first bytes */
static gchar *
ms_cli_send_guess_content_type(const gchar *path, gint fd)
{
	guchar buf[MS_CLI_SEND_SNIFF_SIZE];
	g_autofree gchar *content_type = NULL;
	gssize n;

	/* pread leaves the offset at 0 for the daemon */
	n = pread(fd, buf, sizeof(buf), 0);
	content_type = g_content_type_guess(path, n > 0 ? buf : NULL, n > 0 ? (gsize)n : 0, NULL);
	if (content_type != NULL) {
		gchar *mime_type = g_content_type_get_mime_type(content_type);
		if (mime_type != NULL)
			return mime_type;
	}
	return g_strdup("application/octet-stream");
}

/* opens the file and describes it as an attachment whose bytes the daemon reads from the fd */
static GVariant *
ms_cli_send_attachment(const gchar *path, GUnixFDList *fd_list, GError **error)
{
	GVariantBuilder builder;
	g_autofree gchar *display = g_filename_display_name(path);
	g_autofree gchar *filename = g_filename_display_basename(path);
	g_autofree gchar *content_type = NULL;
	struct stat st;
	gint fd;
	gint idx;

	fd = g_open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY, 0);
	if (fd < 0) {
		gint errsv = errno;
		g_set_error(error,
			    G_IO_ERROR,
			    g_io_error_from_errno(errsv),
			    _("cannot open %s: %s"),
			    display,
			    g_strerror(errsv));
		return NULL;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		g_close(fd, NULL);
		g_set_error(error,
			    G_IO_ERROR,
			    G_IO_ERROR_INVALID_ARGUMENT,
			    _("cannot attach %s: not a regular file"),
			    display);
		return NULL;
	}
	content_type = ms_cli_send_guess_content_type(path, fd);
	/* the list keeps its own duplicate */
	idx = g_unix_fd_list_append(fd_list, fd, error);
	g_close(fd, NULL);
	if (idx < 0)
		return NULL;

	g_variant_builder_init(&builder, G_VARIANT_TYPE_VARDICT);
	g_variant_builder_add(&builder, "{sv}", "filename", g_variant_new_string(filename));
	g_variant_builder_add(&builder, "{sv}", "content-type", g_variant_new_string(content_type));
	g_variant_builder_add(&builder, "{sv}", "fd", g_variant_new_handle(idx));
	return g_variant_builder_end(&builder);
}

static void
ms_cli_send_add_strv(GVariantBuilder *builder, const gchar *key, gchar **strv)
{
	if (strv == NULL || strv[0] == NULL)
		return;
	g_variant_builder_add(builder,
			      "{sv}",
			      key,
			      g_variant_new_strv((const gchar *const *)strv, -1));
}

gint
ms_cli_send(gint argc, gchar **argv)
{
	MsCliBusOptions bus_opts = {FALSE};
	g_auto(GStrv) to = NULL;
	g_auto(GStrv) cc = NULL;
	g_auto(GStrv) bcc = NULL;
	g_auto(GStrv) attach = NULL;
	g_auto(GStrv) headers = NULL;
	g_autofree gchar *from = NULL;
	g_autofree gchar *reply_to = NULL;
	g_autofree gchar *subject = NULL;
	g_autofree gchar *body = NULL;
	g_autofree gchar *body_file = NULL;
	g_autofree gchar *html_file = NULL;
	g_autofree gchar *account = NULL;
	gboolean wait = FALSE;
	const GOptionEntry entries[] = {
	    {"to",
	     '\0',
	     G_OPTION_FLAG_NONE,
	     G_OPTION_ARG_STRING_ARRAY,
	     &to,
	     N_("Recipient (repeat for more)"),
	     N_("ADDRESS")},
	    {"cc",
	     '\0',
	     G_OPTION_FLAG_NONE,
	     G_OPTION_ARG_STRING_ARRAY,
	     &cc,
	     N_("Copy recipient (repeat for more)"),
	     N_("ADDRESS")},
	    {"bcc",
	     '\0',
	     G_OPTION_FLAG_NONE,
	     G_OPTION_ARG_STRING_ARRAY,
	     &bcc,
	     N_("Blind copy recipient, never shown in the headers (repeat for more)"),
	     N_("ADDRESS")},
	    {"from",
	     '\0',
	     G_OPTION_FLAG_NONE,
	     G_OPTION_ARG_STRING,
	     &from,
	     N_("Sender (default: the account's from)"),
	     N_("ADDRESS")},
	    {"reply-to",
	     '\0',
	     G_OPTION_FLAG_NONE,
	     G_OPTION_ARG_STRING,
	     &reply_to,
	     N_("Address for replies"),
	     N_("ADDRESS")},
	    {"subject",
	     '\0',
	     G_OPTION_FLAG_NONE,
	     G_OPTION_ARG_STRING,
	     &subject,
	     N_("Subject"),
	     N_("TEXT")},
	    {"body",
	     '\0',
	     G_OPTION_FLAG_NONE,
	     G_OPTION_ARG_STRING,
	     &body,
	     N_("Plain text body"),
	     N_("TEXT")},
	    {"body-file",
	     '\0',
	     G_OPTION_FLAG_NONE,
	     G_OPTION_ARG_FILENAME,
	     &body_file,
	     N_("Read the plain text body (UTF-8) from FILE, “-” for standard input"),
	     N_("FILE")},
	    {"html-file",
	     '\0',
	     G_OPTION_FLAG_NONE,
	     G_OPTION_ARG_FILENAME,
	     &html_file,
	     N_("Add an HTML alternative read from FILE (UTF-8)"),
	     N_("FILE")},
	    {"attach",
	     '\0',
	     G_OPTION_FLAG_NONE,
	     G_OPTION_ARG_FILENAME_ARRAY,
	     &attach,
	     N_("Attach FILE (repeat for more)"),
	     N_("FILE")},
	    {"header",
	     '\0',
	     G_OPTION_FLAG_NONE,
	     G_OPTION_ARG_STRING_ARRAY,
	     &headers,
	     N_("Extra header, as “Name: value” (repeat for more)"),
	     N_("HEADER")},
	    {"account",
	     '\0',
	     G_OPTION_FLAG_NONE,
	     G_OPTION_ARG_STRING,
	     &account,
	     N_("Account to send with (default: “default”)"),
	     N_("NAME")},
	    {"wait",
	     '\0',
	     G_OPTION_FLAG_NONE,
	     G_OPTION_ARG_NONE,
	     &wait,
	     N_("Follow the job until it is sent or has failed"),
	     NULL},
	    {NULL},
	};
	g_autoptr(GOptionContext) context = ms_cli_option_context_new(
	    NULL,
	    N_("Compose a message and queue it for delivery."),
	    N_("Prints the job's object path. With --wait it then follows "
	       "the job, printing\n"
	       "each stage (on a terminal, one updating progress line) and "
	       "finally the\n"
	       "server's reply.\n"
	       "\n"
	       "Exit status: 0 queued (or, with --wait, sent), 1 failed, "
	       "2 usage error."),
	    &bus_opts);
	g_autoptr(GError) error = NULL;
	g_autoptr(GDBusConnection) bus = NULL;
	g_autoptr(GUnixFDList) fd_list = g_unix_fd_list_new();
	g_autoptr(GVariant) ret = NULL;
	const gchar *job_path = NULL;
	gint exit_status = MS_CLI_EXIT_OK;
	GVariantBuilder message;
	GVariantBuilder options;

	g_option_context_add_main_entries(context, entries, GETTEXT_PACKAGE);
	if (!ms_cli_option_context_parse(context, &argc, &argv))
		return MS_CLI_EXIT_USAGE;
	if (argc > 1)
		return ms_cli_usage_error(_("unexpected argument “%s”"), argv[1]);
	if (body != NULL && body_file != NULL)
		return ms_cli_usage_error(_("--body and --body-file cannot be used together"));
	if ((to == NULL || to[0] == NULL) && (cc == NULL || cc[0] == NULL) &&
	    (bcc == NULL || bcc[0] == NULL))
		return ms_cli_usage_error(_("no recipient: give at least one --to, --cc or --bcc"));

	g_variant_builder_init(&message, G_VARIANT_TYPE_VARDICT);
	ms_cli_send_add_strv(&message, "to", to);
	ms_cli_send_add_strv(&message, "cc", cc);
	ms_cli_send_add_strv(&message, "bcc", bcc);
	if (from != NULL)
		g_variant_builder_add(&message, "{sv}", "from", g_variant_new_string(from));
	if (reply_to != NULL)
		g_variant_builder_add(&message, "{sv}", "reply-to", g_variant_new_string(reply_to));
	if (subject != NULL)
		g_variant_builder_add(&message, "{sv}", "subject", g_variant_new_string(subject));
	if (headers != NULL && headers[0] != NULL) {
		GVariantBuilder dict;

		g_variant_builder_init(&dict, G_VARIANT_TYPE("a{ss}"));
		for (guint i = 0; headers[i] != NULL; i++) {
			if (!ms_cli_send_add_header(&dict, headers[i], &error)) {
				g_variant_builder_clear(&dict);
				g_variant_builder_clear(&message);
				return ms_cli_usage_error("%s", error->message);
			}
		}
		g_variant_builder_add(&message, "{sv}", "headers", g_variant_builder_end(&dict));
	}
	if (body_file != NULL) {
		body = ms_cli_send_read_text(body_file, &error);
		if (body == NULL) {
			g_variant_builder_clear(&message);
			ms_cli_print_error(error);
			return MS_CLI_EXIT_FAILED;
		}
	}
	if (body != NULL)
		g_variant_builder_add(&message, "{sv}", "body", g_variant_new_string(body));
	if (html_file != NULL) {
		g_autofree gchar *html = ms_cli_send_read_text(html_file, &error);
		if (html == NULL) {
			g_variant_builder_clear(&message);
			ms_cli_print_error(error);
			return MS_CLI_EXIT_FAILED;
		}
		g_variant_builder_add(&message, "{sv}", "html", g_variant_new_string(html));
	}
	if (attach != NULL && attach[0] != NULL) {
		GVariantBuilder list;

		g_variant_builder_init(&list, G_VARIANT_TYPE("aa{sv}"));
		for (guint i = 0; attach[i] != NULL; i++) {
			GVariant *attachment = ms_cli_send_attachment(attach[i], fd_list, &error);
			if (attachment == NULL) {
				g_variant_builder_clear(&list);
				g_variant_builder_clear(&message);
				ms_cli_print_error(error);
				return MS_CLI_EXIT_FAILED;
			}
			g_variant_builder_add_value(&list, attachment);
		}
		g_variant_builder_add(&message,
				      "{sv}",
				      "attachments",
				      g_variant_builder_end(&list));
	}
	g_variant_builder_init(&options, G_VARIANT_TYPE_VARDICT);
	if (account != NULL)
		g_variant_builder_add(&options, "{sv}", "account", g_variant_new_string(account));

	bus = ms_cli_bus_connect(&bus_opts, &exit_status);
	if (bus == NULL) {
		g_variant_builder_clear(&message);
		g_variant_builder_clear(&options);
		return exit_status;
	}

	if (wait) {
		/* subscribed before the call, so that no signal of the new job is missed */
		g_autoptr(MsCliProgress) progress = ms_cli_progress_new(bus, isatty(STDOUT_FILENO));

		g_dbus_connection_call_with_unix_fd_list(
		    bus,
		    MS_CLI_BUS_NAME,
		    MS_CLI_MANAGER_PATH,
		    MS_CLI_MANAGER_IFACE,
		    "Send",
		    g_variant_new("(a{sv}a{sv})", &message, &options),
		    G_VARIANT_TYPE("(o)"),
		    G_DBUS_CALL_FLAGS_NONE,
		    G_MAXINT,
		    fd_list,
		    NULL,
		    ms_cli_progress_job_reply_cb,
		    progress);
		return ms_cli_progress_run(progress);
	}

	/* the daemon copies the attachments into its spool before it answers, however long */
	ret = g_dbus_connection_call_with_unix_fd_list_sync(
	    bus,
	    MS_CLI_BUS_NAME,
	    MS_CLI_MANAGER_PATH,
	    MS_CLI_MANAGER_IFACE,
	    "Send",
	    g_variant_new("(a{sv}a{sv})", &message, &options),
	    G_VARIANT_TYPE("(o)"),
	    G_DBUS_CALL_FLAGS_NONE,
	    G_MAXINT,
	    fd_list,
	    NULL,
	    NULL,
	    &error);
	if (ret == NULL) {
		ms_cli_print_error(error);
		return MS_CLI_EXIT_FAILED;
	}
	g_variant_get(ret, "(&o)", &job_path);
	g_print("%s\n", job_path);
	return MS_CLI_EXIT_OK;
}
