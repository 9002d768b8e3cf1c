#define G_LOG_DOMAIN "MsCli"

#include "config.h"

#include <errno.h>
#include <gio/gunixfdlist.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "ms-address.h"
#include "ms-cli.h"

/* how much of the header the CLI reads to see whether there is a From (-F only) */
#define MS_CLI_SENDMAIL_HEADER_MAX (1024 * 1024)
#define MS_CLI_SENDMAIL_CHUNK	   65536

typedef struct {
	gboolean extract;     /* -t */
	gboolean ignore_dots; /* -i, -oi */
	gboolean verbose;     /* -v */
	gchar *from;	      /* -f, -r */
	gchar *full_name;     /* -F */
	gchar *account;	      /* --account */
	MsCliBusOptions bus;
	GPtrArray *recipients;
} MsCliSendmailArgs;

static void
ms_cli_sendmail_args_free(MsCliSendmailArgs *self)
{
	g_free(self->from);
	g_free(self->full_name);
	g_free(self->account);
	g_ptr_array_unref(self->recipients);
	g_free(self);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MsCliSendmailArgs, ms_cli_sendmail_args_free)

static gint
ms_cli_sendmail_fail(gint exit_status, const gchar *format, ...) G_GNUC_PRINTF(2, 3);

/* "sendmail: <message>" on stderr, as the real one does */
static gint
ms_cli_sendmail_fail(gint exit_status, const gchar *format, ...)
{
	va_list args;
	g_autofree gchar *message = NULL;

	va_start(args, format);
	message = g_strdup_vprintf(format, args);
	va_end(args);
	g_printerr("sendmail: %s\n", message);
	return exit_status;
}

static void
ms_cli_sendmail_print_help(void)
{
	g_print(
	    "%s\n\n%s\n",
	    _("Usage:\n"
	      "  sendmail [-t] [-i] [-f FROM] [-F NAME] [--account NAME] [--system|--session] "
	      "[RECIPIENT…]\n"
	      "  mail-sender sendmail [the same]"),
	    _("Reads a message (headers, blank line, body) on standard input and queues it\n"
	      "with org.mail.Sender, like /usr/sbin/sendmail. It returns once the message is\n"
	      "safely queued; delivery happens in the background.\n"
	      "\n"
	      "  -t              Take the recipients from the To, Cc and Bcc headers (Bcc is\n"
	      "                  removed); cannot be combined with recipients as arguments\n"
	      "  -i, -oi         A line with a single “.” does not end the message\n"
	      "  -f FROM         Envelope sender (default: the account's from)\n"
	      "  -F NAME         Full name for a From header, added as “NAME <address>” when\n"
	      "                  the message has none (address: -f, else the account's from)\n"
	      "  --account NAME  Account to send with (default: “default”)\n"
	      "  --system        Use the system-wide service on the system bus\n"
	      "  --session       Use the user's service on the session bus (the default)\n"
	      "  -v              Print the queued job's object path\n"
	      "\n"
	      "Accepted and ignored for compatibility: -bm, -m, -n, -U, -G, -oX…, -OX=Y, -B X,\n"
	      "-N X, -R X, -V X, -X X, -L X, -h X, -C X, -A X, -e X.\n"
	      "\n"
	      "Exit status (sysexits.h): 0 queued, 64 usage error, 65 bad message, 66 no\n"
	      "input, 67 unknown account, 69 service unavailable, 70 internal error, 75\n"
	      "temporary failure (try again later), 77 not authorized."));
}

/* "a@x, b@y" as sendmail takes it, into single addresses */
static void
ms_cli_sendmail_add_recipients(MsCliSendmailArgs *self, const gchar *arg)
{
	g_auto(GStrv) parts = g_strsplit(arg, ",", -1);

	for (guint i = 0; parts[i] != NULL; i++) {
		g_strstrip(parts[i]);
		if (parts[i][0] != '\0')
			g_ptr_array_add(self->recipients, g_strdup(parts[i]));
	}
}

/* "-f <a@x>" is as good as "-f a@x" */
static gchar *
ms_cli_sendmail_strip_angles(const gchar *value)
{
	g_autofree gchar *copy = g_strstrip(g_strdup(value));
	gsize len = strlen(copy);

	if (len >= 2 && copy[0] == '<' && copy[len - 1] == '>') {
		copy[len - 1] = '\0';
		return g_strstrip(g_strdup(copy + 1));
	}
	return g_steal_pointer(&copy);
}

/* long options, GNU style: --account NAME or --account=NAME; returns FALSE with the exit status
 * in *exit_status when the program should stop */
static gboolean
ms_cli_sendmail_parse_long(MsCliSendmailArgs *self,
			   gint argc,
			   gchar **argv,
			   gint *i,
			   gint *exit_status)
{
	const gchar *arg = argv[*i];

	if (g_str_equal(arg, "--system")) {
		self->bus.system = TRUE;
		return TRUE;
	}
	if (g_str_equal(arg, "--session")) {
		self->bus.session = TRUE;
		return TRUE;
	}
	if (g_str_equal(arg, "--help")) {
		ms_cli_sendmail_print_help();
		*exit_status = EX_OK;
		return FALSE;
	}
	if (g_str_equal(arg, "--version")) {
		g_print("mail-sender %s\n", PACKAGE_VERSION);
		*exit_status = EX_OK;
		return FALSE;
	}
	if (g_str_has_prefix(arg, "--account=")) {
		g_free(self->account);
		self->account = g_strdup(arg + strlen("--account="));
		return TRUE;
	}
	if (g_str_equal(arg, "--account")) {
		if (*i + 1 >= argc) {
			*exit_status = ms_cli_sendmail_fail(EX_USAGE,
							    _("option %s requires an argument"),
							    arg);
			return FALSE;
		}
		g_free(self->account);
		self->account = g_strdup(argv[++*i]);
		return TRUE;
	}
	*exit_status = ms_cli_sendmail_fail(EX_USAGE, _("unknown option %s"), arg);
	return FALSE;
}

/* one option taking a value ("-fFROM" or "-f FROM") */
static gboolean
ms_cli_sendmail_parse_value(MsCliSendmailArgs *self,
			    gchar opt,
			    const gchar *value,
			    gint *exit_status)
{
	switch (opt) {
	case 'f':
	case 'r':
		g_free(self->from);
		self->from = ms_cli_sendmail_strip_angles(value);
		return TRUE;
	case 'F':
		g_free(self->full_name);
		self->full_name = g_strdup(value);
		return TRUE;
	case 'o':
		/* -oi is -i; the other -oX settings (-oem, -odb, …) mean nothing here */
		if (g_str_equal(value, "i"))
			self->ignore_dots = TRUE;
		return TRUE;
	case 'b':
		if (g_str_equal(value, "m"))
			return TRUE;
		*exit_status = ms_cli_sendmail_fail(
		    EX_USAGE,
		    _("mode -b%s is not supported: only -bm (read a message on standard input)"),
		    value);
		return FALSE;
	default:
		/* -O, -B, -N, -R, -V, -X, -L, -h, -C, -A, -e: accepted for compatibility */
		return TRUE;
	}
}

/* sendmail's option syntax is not GOption's (-oi, -fFROM, -F NAME), so it is parsed here */
static MsCliSendmailArgs *
ms_cli_sendmail_parse(gint argc, gchar **argv, gint *exit_status)
{
	g_autoptr(MsCliSendmailArgs) self = g_new0(MsCliSendmailArgs, 1);
	gboolean options_done = FALSE;

	self->recipients = g_ptr_array_new_with_free_func(g_free);
	for (gint i = 1; i < argc; i++) {
		const gchar *arg = argv[i];

		if (options_done || arg[0] != '-' || arg[1] == '\0') {
			ms_cli_sendmail_add_recipients(self, arg);
			continue;
		}
		if (g_str_equal(arg, "--")) {
			options_done = TRUE;
			continue;
		}
		if (arg[1] == '-') {
			if (!ms_cli_sendmail_parse_long(self, argc, argv, &i, exit_status))
				return NULL;
			continue;
		}
		/* a cluster of flags ("-ti"), possibly ending in an option with its value */
		for (gsize j = 1; arg[j] != '\0'; j++) {
			gchar opt = arg[j];
			const gchar *value;

			if (opt == 't') {
				self->extract = TRUE;
				continue;
			}
			if (opt == 'i') {
				self->ignore_dots = TRUE;
				continue;
			}
			if (opt == 'v') {
				self->verbose = TRUE;
				continue;
			}
			if (strchr("mnUG", opt) != NULL)
				continue;
			if (strchr("frFobOBNRVXLhCAe", opt) == NULL) {
				*exit_status =
				    ms_cli_sendmail_fail(EX_USAGE, _("unknown option -%c"), opt);
				return NULL;
			}
			if (arg[j + 1] != '\0') {
				value = arg + j + 1;
			} else if (i + 1 < argc) {
				value = argv[++i];
			} else {
				*exit_status =
				    ms_cli_sendmail_fail(EX_USAGE,
							 _("option -%c requires an argument"),
							 opt);
				return NULL;
			}
			if (!ms_cli_sendmail_parse_value(self, opt, value, exit_status))
				return NULL;
			break;
		}
	}
	if (self->bus.system && self->bus.session) {
		*exit_status =
		    ms_cli_sendmail_fail(EX_USAGE,
					 "%s",
					 _("--system and --session cannot be used together"));
		return NULL;
	}
	if (self->extract && self->recipients->len > 0) {
		*exit_status = ms_cli_sendmail_fail(
		    EX_USAGE,
		    "%s",
		    _("-t takes the recipients from the headers: put them all in To, Cc or Bcc "
		      "instead of on the command line"));
		return NULL;
	}
	if (!self->extract && self->recipients->len == 0) {
		*exit_status = ms_cli_sendmail_fail(
		    EX_USAGE,
		    "%s",
		    _("no recipients: name them on the command line, or use -t to take them "
		      "from the headers"));
		return NULL;
	}
	return g_steal_pointer(&self);
}

/* the message as sendmail reads it: without -i, input ends at a line that is a single '.' */
typedef struct {
	gint fd;
	gboolean dot_ends;
	gboolean line_start; /* the next byte starts a line */
	guint dot_len;	     /* a "." or ".\r" held back at the start of a line */
	gboolean ended;
	guint8 buf[MS_CLI_SENDMAIL_CHUNK];
	gsize pos;
	gsize len;
} MsCliSendmailInput;

static gboolean
ms_cli_sendmail_input_fill(MsCliSendmailInput *self, GError **error)
{
	gssize n;

	do {
		n = read(self->fd, self->buf, sizeof(self->buf));
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		gint errsv = errno;
		g_set_error(error,
			    G_IO_ERROR,
			    g_io_error_from_errno(errsv),
			    _("cannot read the message on standard input: %s"),
			    g_strerror(errsv));
		return FALSE;
	}
	self->pos = 0;
	self->len = (gsize)n;
	return TRUE;
}

/* reads up to max bytes of the message into out; 0 at its end */
static gssize
ms_cli_sendmail_input_read(MsCliSendmailInput *self, guint8 *out, gsize max, GError **error)
{
	gsize n = 0;

	/* room for a held-back ".\r" and the byte after it */
	g_return_val_if_fail(max >= 3, -1);
	while (n + 3 <= max && !self->ended) {
		guint8 c;

		if (self->pos == self->len) {
			if (n > 0)
				break;
			if (!ms_cli_sendmail_input_fill(self, error))
				return -1;
			if (self->len == 0) {
				/* a "." as the very last line, without newline, ends it too */
				self->ended = TRUE;
				break;
			}
		}
		c = self->buf[self->pos++];
		if (self->dot_ends) {
			if (self->dot_len == 0 && self->line_start && c == '.') {
				self->dot_len = 1;
				self->line_start = FALSE;
				continue;
			}
			if (self->dot_len == 1 && c == '\r') {
				self->dot_len = 2;
				continue;
			}
			if (self->dot_len > 0 && c == '\n') {
				self->ended = TRUE;
				break;
			}
			if (self->dot_len > 0) {
				out[n++] = '.';
				if (self->dot_len == 2)
					out[n++] = '\r';
				self->dot_len = 0;
			}
		}
		out[n++] = c;
		self->line_start = c == '\n';
	}
	return (gssize)n;
}

static gboolean
ms_cli_sendmail_write_all(gint fd, const guint8 *data, gsize len, GError **error)
{
	while (len > 0) {
		gssize n = write(fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			gint errsv = errno;
			g_set_error(error,
				    G_IO_ERROR,
				    g_io_error_from_errno(errsv),
				    _("cannot keep a copy of the message: %s"),
				    g_strerror(errsv));
			return FALSE;
		}
		data += n;
		len -= (gsize)n;
	}
	return TRUE;
}

/* an anonymous file for the copy of the message: memory-backed, else in the temp dir */
static gint
ms_cli_sendmail_open_copy(GError **error)
{
	g_autofree gchar *name = NULL;
	gint fd = memfd_create("mail-sender-message", MFD_CLOEXEC);

	if (fd >= 0)
		return fd;
	fd = g_file_open_tmp("mail-sender-XXXXXX", &name, error);
	if (fd < 0)
		return -1;
	g_unlink(name);
	return fd;
}

/* the header lines seen so far: whether one is From, and where the header ends */
typedef struct {
	gsize scanned; /* bytes of whole lines looked at */
	gboolean has_from;
	gboolean done;
	gboolean crlf; /* the first line ends in CRLF */
} MsCliSendmailHeaderScan;

static void
ms_cli_sendmail_scan_header(MsCliSendmailHeaderScan *scan, GByteArray *head, gboolean at_end)
{
	while (!scan->done && scan->scanned < head->len) {
		const gchar *line = (const gchar *)head->data + scan->scanned;
		gsize avail = head->len - scan->scanned;
		const gchar *nl = memchr(line, '\n', avail);
		gsize line_len;

		if (nl == NULL && !at_end)
			return;
		line_len = nl != NULL ? (gsize)(nl - line) : avail;
		if (scan->scanned == 0)
			scan->crlf = line_len > 0 && line[line_len - 1] == '\r';
		/* the empty line between header and body */
		if (line_len == 0 || (line_len == 1 && line[0] == '\r')) {
			scan->done = TRUE;
			return;
		}
		if (line_len >= 5 && g_ascii_strncasecmp(line, "From:", 5) == 0)
			scan->has_from = TRUE;
		scan->scanned += nl != NULL ? line_len + 1 : line_len;
	}
	if (at_end)
		scan->done = TRUE;
}

/* the address part of the account's from, for -F without -f */
static gchar *
ms_cli_sendmail_account_address(GDBusConnection *bus, const gchar *account, GError **error)
{
	g_autoptr(GVariant) ret = NULL;
	g_autoptr(GVariant) accounts = NULL;
	g_autoptr(GVariant) settings = NULL;
	g_autoptr(MsAddress) address = NULL;
	const gchar *from = NULL;
	const gchar *name = account != NULL && account[0] != '\0' ? account : "default";

	ret = g_dbus_connection_call_sync(bus,
					  MS_CLI_BUS_NAME,
					  MS_CLI_MANAGER_PATH,
					  MS_CLI_MANAGER_IFACE,
					  "GetAccounts",
					  NULL,
					  G_VARIANT_TYPE("(a{sa{sv}})"),
					  G_DBUS_CALL_FLAGS_NONE,
					  -1,
					  NULL,
					  error);
	if (ret == NULL)
		return NULL;
	accounts = g_variant_get_child_value(ret, 0);
	settings = g_variant_lookup_value(accounts, name, G_VARIANT_TYPE_VARDICT);
	if (settings == NULL || !g_variant_lookup(settings, "from", "&s", &from)) {
		g_set_error(error,
			    G_IO_ERROR,
			    G_IO_ERROR_NOT_FOUND,
			    _("-F needs a sender address and account '%s' has none: give -f"),
			    name);
		return NULL;
	}
	address = ms_address_parse(from, error);
	if (address == NULL)
		return NULL;
	return g_strdup(ms_address_get_addr_spec(address));
}

/* "From: NAME <address>" with the name quoted or encoded as a header needs it */
static gchar *
ms_cli_sendmail_from_header(const gchar *full_name, const gchar *addr_spec, GError **error)
{
	g_autoptr(GString) text = g_string_new("\"");
	g_autoptr(MsAddress) address = NULL;
	g_autofree gchar *header = NULL;

	if (!g_utf8_validate(full_name, -1, NULL)) {
		g_set_error_literal(error,
				    G_IO_ERROR,
				    G_IO_ERROR_INVALID_ARGUMENT,
				    _("the -F name is not UTF-8 text"));
		return NULL;
	}
	for (const gchar *p = full_name; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			g_string_append_c(text, '\\');
		g_string_append_c(text, *p);
	}
	g_string_append_printf(text, "\" <%s>", addr_spec);
	address = ms_address_parse(text->str, error);
	if (address == NULL)
		return NULL;
	header = ms_address_to_header(address);
	return g_strdup_printf("From: %s", header);
}

/* copies the message from stdin into an anonymous file (for a terminal, which the daemon must
 * not read from, and for -F, which may add a From line at the top); returns the file, at 0 */
static gint
ms_cli_sendmail_copy_stdin(MsCliSendmailArgs *args,
			   GDBusConnection *bus,
			   gint *exit_status,
			   GError **error)
{
	g_autofree MsCliSendmailInput *input = g_new0(MsCliSendmailInput, 1);
	g_autofree guint8 *chunk = g_malloc(MS_CLI_SENDMAIL_CHUNK);
	g_autoptr(GByteArray) head = g_byte_array_new();
	MsCliSendmailHeaderScan scan = {0};
	gint fd;

	input->fd = STDIN_FILENO;
	input->dot_ends = !args->ignore_dots;
	input->line_start = TRUE;
	*exit_status = EX_IOERR;
	fd = ms_cli_sendmail_open_copy(error);
	if (fd < 0) {
		*exit_status = EX_CANTCREAT;
		return -1;
	}

	/* -F: read enough to know whether the message has a From of its own */
	if (args->full_name != NULL) {
		while (!scan.done && head->len < MS_CLI_SENDMAIL_HEADER_MAX) {
			gssize n =
			    ms_cli_sendmail_input_read(input, chunk, MS_CLI_SENDMAIL_CHUNK, error);
			if (n < 0) {
				*exit_status = EX_NOINPUT;
				g_close(fd, NULL);
				return -1;
			}
			g_byte_array_append(head, chunk, (guint)n);
			ms_cli_sendmail_scan_header(&scan, head, n == 0);
		}
		if (scan.done && !scan.has_from) {
			g_autofree gchar *addr = NULL;
			g_autofree gchar *line = NULL;

			if (args->from != NULL && args->from[0] != '\0') {
				addr = g_strdup(args->from);
			} else {
				addr = ms_cli_sendmail_account_address(bus, args->account, error);
				if (addr == NULL) {
					*exit_status = ms_cli_error_is_unreachable(*error)
							   ? EX_UNAVAILABLE
							   : EX_USAGE;
					g_close(fd, NULL);
					return -1;
				}
			}
			line = ms_cli_sendmail_from_header(args->full_name, addr, error);
			if (line == NULL) {
				*exit_status = EX_USAGE;
				g_close(fd, NULL);
				return -1;
			}
			if (!ms_cli_sendmail_write_all(fd,
						       (const guint8 *)line,
						       strlen(line),
						       error) ||
			    !ms_cli_sendmail_write_all(fd,
						       (const guint8 *)(scan.crlf ? "\r\n" : "\n"),
						       scan.crlf ? 2 : 1,
						       error)) {
				g_close(fd, NULL);
				return -1;
			}
		}
		if (!ms_cli_sendmail_write_all(fd, head->data, head->len, error)) {
			g_close(fd, NULL);
			return -1;
		}
	}

	for (;;) {
		gssize n = ms_cli_sendmail_input_read(input, chunk, MS_CLI_SENDMAIL_CHUNK, error);
		if (n < 0) {
			*exit_status = EX_NOINPUT;
			g_close(fd, NULL);
			return -1;
		}
		if (n == 0)
			break;
		if (!ms_cli_sendmail_write_all(fd, chunk, (gsize)n, error)) {
			g_close(fd, NULL);
			return -1;
		}
	}
	if (lseek(fd, 0, SEEK_SET) != 0) {
		gint errsv = errno;
		g_set_error(error,
			    G_IO_ERROR,
			    g_io_error_from_errno(errsv),
			    _("cannot keep a copy of the message: %s"),
			    g_strerror(errsv));
		g_close(fd, NULL);
		return -1;
	}
	*exit_status = EX_OK;
	return fd;
}

/* the daemon's answer in sendmail's terms */
static gint
ms_cli_sendmail_exit_status(const GError *error)
{
	const struct {
		const gchar *name;
		gint status;
	} map[] = {
	    {"org.mail.Sender.Error.InvalidMessage", EX_DATAERR},
	    {"org.mail.Sender.Error.InvalidArgs", EX_USAGE},
	    {"org.mail.Sender.Error.NoSuchAccount", EX_NOUSER},
	    {"org.mail.Sender.Error.NotAuthorized", EX_NOPERM},
	    {"org.mail.Sender.Error.Storage", EX_TEMPFAIL},
	    {"org.mail.Sender.Error.RateLimited", EX_TEMPFAIL},
	    {"org.mail.Sender.Error.Temporary", EX_TEMPFAIL},
	    {"org.mail.Sender.Error.Timeout", EX_TEMPFAIL},
	    {"org.mail.Sender.Error.Connection", EX_TEMPFAIL},
	    {"org.mail.Sender.Error.Credentials", EX_CONFIG},
	    {"org.mail.Sender.Error.Rejected", EX_UNAVAILABLE},
	    /* a daemon too old to know the method */
	    {"org.freedesktop.DBus.Error.UnknownMethod", EX_UNAVAILABLE},
	    {"org.freedesktop.DBus.Error.NoReply", EX_TEMPFAIL},
	    {"org.freedesktop.DBus.Error.Timeout", EX_TEMPFAIL},
	    {"org.freedesktop.DBus.Error.AccessDenied", EX_NOPERM},
	};
	g_autofree gchar *name = NULL;

	if (ms_cli_error_is_unreachable(error))
		return EX_UNAVAILABLE;
	name = ms_cli_error_get_name(error);
	for (guint i = 0; name != NULL && i < G_N_ELEMENTS(map); i++) {
		if (g_str_equal(name, map[i].name))
			return map[i].status;
	}
	return EX_SOFTWARE;
}

static GVariant *
ms_cli_sendmail_options(MsCliSendmailArgs *args)
{
	GVariantBuilder builder;

	g_variant_builder_init(&builder, G_VARIANT_TYPE_VARDICT);
	if (!args->extract) {
		g_ptr_array_add(args->recipients, NULL);
		g_variant_builder_add(
		    &builder,
		    "{sv}",
		    "to",
		    g_variant_new_strv((const gchar *const *)args->recipients->pdata, -1));
		g_ptr_array_remove_index(args->recipients, args->recipients->len - 1);
	}
	/* "-f <>" (the null sender) is not for submission: the account's from is used then */
	if (args->from != NULL && args->from[0] != '\0')
		g_variant_builder_add(&builder, "{sv}", "from", g_variant_new_string(args->from));
	if (args->account != NULL)
		g_variant_builder_add(&builder,
				      "{sv}",
				      "account",
				      g_variant_new_string(args->account));
	if (!args->ignore_dots)
		g_variant_builder_add(&builder,
				      "{sv}",
				      "sendmail-dot",
				      g_variant_new_boolean(TRUE));
	return g_variant_builder_end(&builder);
}

static gboolean
ms_cli_sendmail_strings_are_utf8(MsCliSendmailArgs *args)
{
	if (args->from != NULL && !g_utf8_validate(args->from, -1, NULL))
		return FALSE;
	if (args->account != NULL && !g_utf8_validate(args->account, -1, NULL))
		return FALSE;
	for (guint i = 0; i < args->recipients->len; i++) {
		if (!g_utf8_validate(g_ptr_array_index(args->recipients, i), -1, NULL))
			return FALSE;
	}
	return TRUE;
}

gint
ms_cli_sendmail(gint argc, gchar **argv)
{
	g_autoptr(MsCliSendmailArgs) args = NULL;
	g_autoptr(GDBusConnection) bus = NULL;
	g_autoptr(GUnixFDList) fd_list = g_unix_fd_list_new();
	g_autoptr(GVariant) ret = NULL;
	g_autoptr(GError) error = NULL;
	struct stat st;
	gint exit_status = EX_OK;
	gint fd = STDIN_FILENO;
	gint idx;

	args = ms_cli_sendmail_parse(argc, argv, &exit_status);
	if (args == NULL)
		return exit_status;
	/* D-Bus strings must be UTF-8; addresses are ASCII anyway */
	if (!ms_cli_sendmail_strings_are_utf8(args))
		return ms_cli_sendmail_fail(EX_USAGE, "%s", _("an address is not UTF-8 text"));
	if (fstat(STDIN_FILENO, &st) != 0) {
		return ms_cli_sendmail_fail(EX_NOINPUT,
					    _("cannot read the message on standard input: %s"),
					    g_strerror(errno));
	}

	bus = ms_cli_bus_get(&args->bus, &error);
	if (bus == NULL) {
		/* TRANSLATORS: the first %s is "the session bus" or "the system bus" */
		return ms_cli_sendmail_fail(EX_UNAVAILABLE,
					    _("cannot reach the mail service on %s: %s"),
					    ms_cli_bus_describe(&args->bus),
					    error->message);
	}

	/* a file or pipe goes to the daemon as it is; anything else (a terminal) is copied, and
	 * so is the message when -F may have to add a From line */
	if (args->full_name != NULL ||
	    !(S_ISREG(st.st_mode) || S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))) {
		fd = ms_cli_sendmail_copy_stdin(args, bus, &exit_status, &error);
		if (fd < 0)
			return ms_cli_sendmail_fail(exit_status, "%s", error->message);
	}
	idx = g_unix_fd_list_append(fd_list, fd, &error);
	if (fd != STDIN_FILENO)
		g_close(fd, NULL);
	if (idx < 0)
		return ms_cli_sendmail_fail(EX_OSERR, "%s", error->message);

	/* no timeout: the daemon reads the message to its end, which a slow writer decides */
	ret = g_dbus_connection_call_with_unix_fd_list_sync(
	    bus,
	    MS_CLI_BUS_NAME,
	    MS_CLI_MANAGER_PATH,
	    MS_CLI_MANAGER_IFACE,
	    "SendRawFd",
	    g_variant_new("(h@a{sv})", idx, ms_cli_sendmail_options(args)),
	    G_VARIANT_TYPE("(o)"),
	    G_DBUS_CALL_FLAGS_NONE,
	    G_MAXINT,
	    fd_list,
	    NULL,
	    NULL,
	    &error);
	if (ret == NULL) {
		g_autofree gchar *message = ms_cli_error_get_message(error);

		if (ms_cli_error_is_unreachable(error)) {
			return ms_cli_sendmail_fail(EX_UNAVAILABLE,
						    _("cannot reach the mail service on %s: %s"),
						    ms_cli_bus_describe(&args->bus),
						    message);
		}
		return ms_cli_sendmail_fail(ms_cli_sendmail_exit_status(error), "%s", message);
	}
	if (args->verbose) {
		const gchar *path = NULL;
		g_variant_get(ret, "(&o)", &path);
		g_print("%s\n", path);
	}
	return EX_OK;
}
