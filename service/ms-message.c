#define G_LOG_DOMAIN "MsMessage"

#include "config.h"

#include <gio/gio.h>
#include <string.h>

#include "ms-message.h"

/* RFC 5322 §2.1.1: lines SHOULD stay within 78 characters and MUST stay within 998 */
#define MS_MESSAGE_LINE_SOFT_MAX 78
#define MS_MESSAGE_LINE_HARD_MAX 998
/* a header name cannot be folded, so it has to leave room for the value on the first line */
#define MS_MESSAGE_HEADER_NAME_MAX 76
/* the longest run without a space an ASCII value may have: a longer one could not be folded
 * under MS_MESSAGE_LINE_HARD_MAX once the header name is in front of it */
#define MS_MESSAGE_WORD_MAX 900
/* RFC 2045 §6.7 (5) */
#define MS_MESSAGE_QP_LINE_MAX 76
/* RFC 2047 §2 */
#define MS_MESSAGE_ENCODED_WORD_MAX 75
/* RFC 2045 §6.8 */
#define MS_MESSAGE_BASE64_LINE_MAX 76
/* what one read of an attachment asks for: a multiple of 3, so a chunk is whole base64 groups
 * and (with reads that return all of it) nothing is carried over to the next one */
#define MS_MESSAGE_CHUNK_SIZE (48 * 1024)
/* NAME_MAX on Linux; a longer name could not be saved by the recipient anyway */
#define MS_MESSAGE_FILENAME_MAX 255
/* RFC 6838 §4.2 */
#define MS_MESSAGE_CONTENT_TYPE_NAME_MAX 127
#define MS_MESSAGE_BOUNDARY_PREFIX	 "=_ms_"

typedef struct {
	gchar *name;
	gchar *value;
} MsMessageHeader;

typedef struct {
	gchar *filename;
	gchar *content_type;  /* "type/subtype", lower case */
	GBytes *data;	      /* nullable: the data is in memory */
	GInputStream *stream; /* nullable: read when the message is written */
	gboolean stream_used; /* a stream can only be read once */
} MsMessageAttachment;

/* a rendered message is literal text with attachments in between, which are encoded as they
 * are written; exactly one of the two members is set */
typedef struct {
	GBytes *text;
	MsMessageAttachment *attachment; /* borrowed from the message */
} MsMessageSegment;

struct _MsMessage {
	GObject parent_instance;
	MsAddress *from;	     /* nullable */
	MsAddress *reply_to;	     /* nullable */
	GPtrArray *to;		     /* of MsAddress */
	GPtrArray *cc;		     /* of MsAddress */
	GPtrArray *bcc;		     /* of MsAddress */
	gchar *subject;		     /* nullable, meaning empty */
	gchar *body;		     /* nullable, meaning empty */
	gchar *html;		     /* nullable: no text/html part */
	GPtrArray *attachments;	     /* of MsMessageAttachment */
	gchar *boundary_seed;	     /* nullable: random boundaries */
	guint boundary_counter;	     /* the last boundary made from boundary_seed */
	gchar *boundary_mixed;	     /* nullable until needed, then kept for every rendering */
	gchar *boundary_alternative; /* likewise */
	GPtrArray *headers;	     /* of MsMessageHeader */
	GDateTime *date;	     /* nullable until the first ms_message_to_bytes() */
	gchar *message_id;	     /* nullable: "<id-left@from-domain>" when set for tests */
	gchar *id_left; /* random, made once so every rendering has the same Message-ID */
	gboolean allow_8bit;
};

G_DEFINE_TYPE(MsMessage, ms_message, G_TYPE_OBJECT)

/* headers the composer writes itself; the key says what the caller should use instead */
static const struct {
	const gchar *name;
	const gchar *key;
} ms_message_owned_headers[] = {
    {"From", "from"},
    {"To", "to"},
    {"Cc", "cc"},
    {"Reply-To", "reply-to"},
    {"Subject", "subject"},
    {"Date", NULL},
    {"Message-ID", NULL},
    {"MIME-Version", NULL},
};

static void
ms_message_header_free(MsMessageHeader *header)
{
	g_free(header->name);
	g_free(header->value);
	g_free(header);
}

static void
ms_message_attachment_free(MsMessageAttachment *attachment)
{
	g_free(attachment->filename);
	g_free(attachment->content_type);
	g_clear_pointer(&attachment->data, g_bytes_unref);
	g_clear_object(&attachment->stream);
	g_free(attachment);
}

static void
ms_message_segment_free(MsMessageSegment *segment)
{
	g_clear_pointer(&segment->text, g_bytes_unref);
	g_free(segment);
}

gboolean
ms_message_header_value_is_safe(const gchar *value)
{
	if (value == NULL)
		return FALSE;
	if (strpbrk(value, "\r\n") != NULL)
		return FALSE;
	return g_utf8_validate(value, -1, NULL);
}

/* the checks every header value gets before anything else looks at it; field is what the
 * caller calls it ("subject", "to", "value of header 'X-Foo'") */
static gboolean
ms_message_check_value(const gchar *field, const gchar *value, GError **error)
{
	if (strpbrk(value, "\r\n") != NULL) {
		g_set_error(error,
			    G_IO_ERROR,
			    G_IO_ERROR_INVALID_ARGUMENT,
			    "%s contains a line break; header values must be a single line",
			    field);
		return FALSE;
	}
	if (!g_utf8_validate(value, -1, NULL)) {
		g_set_error(error,
			    G_IO_ERROR,
			    G_IO_ERROR_INVALID_ARGUMENT,
			    "%s is not valid UTF-8",
			    field);
		return FALSE;
	}
	return TRUE;
}

static MsAddress *
ms_message_parse_address(const gchar *field, const gchar *text, GError **error)
{
	g_autoptr(GError) error_local = NULL;
	MsAddress *address;

	if (!ms_message_check_value(field, text, error))
		return NULL;
	address = ms_address_parse(text, &error_local);
	if (address == NULL) {
		g_propagate_prefixed_error(error, g_steal_pointer(&error_local), "%s: ", field);
		return NULL;
	}
	return address;
}

gboolean
ms_message_set_from(MsMessage *self, const gchar *from, GError **error)
{
	MsAddress *address;

	g_return_val_if_fail(MS_IS_MESSAGE(self), FALSE);
	g_return_val_if_fail(from != NULL, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	address = ms_message_parse_address("from", from, error);
	if (address == NULL)
		return FALSE;
	g_clear_pointer(&self->from, ms_address_free);
	self->from = address;
	return TRUE;
}

static gboolean
ms_message_add_address(GPtrArray *list, const gchar *field, const gchar *text, GError **error)
{
	MsAddress *address = ms_message_parse_address(field, text, error);
	if (address == NULL)
		return FALSE;
	g_ptr_array_add(list, address);
	return TRUE;
}

gboolean
ms_message_add_to(MsMessage *self, const gchar *address, GError **error)
{
	g_return_val_if_fail(MS_IS_MESSAGE(self), FALSE);
	g_return_val_if_fail(address != NULL, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
	return ms_message_add_address(self->to, "to", address, error);
}

gboolean
ms_message_add_cc(MsMessage *self, const gchar *address, GError **error)
{
	g_return_val_if_fail(MS_IS_MESSAGE(self), FALSE);
	g_return_val_if_fail(address != NULL, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
	return ms_message_add_address(self->cc, "cc", address, error);
}

gboolean
ms_message_add_bcc(MsMessage *self, const gchar *address, GError **error)
{
	g_return_val_if_fail(MS_IS_MESSAGE(self), FALSE);
	g_return_val_if_fail(address != NULL, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
	return ms_message_add_address(self->bcc, "bcc", address, error);
}

gboolean
ms_message_set_reply_to(MsMessage *self, const gchar *address, GError **error)
{
	MsAddress *parsed;

	g_return_val_if_fail(MS_IS_MESSAGE(self), FALSE);
	g_return_val_if_fail(address != NULL, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	parsed = ms_message_parse_address("reply-to", address, error);
	if (parsed == NULL)
		return FALSE;
	g_clear_pointer(&self->reply_to, ms_address_free);
	self->reply_to = parsed;
	return TRUE;
}

gboolean
ms_message_set_subject(MsMessage *self, const gchar *subject, GError **error)
{
	g_return_val_if_fail(MS_IS_MESSAGE(self), FALSE);
	g_return_val_if_fail(subject != NULL, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	if (!ms_message_check_value("subject", subject, error))
		return FALSE;
	g_free(self->subject);
	self->subject = g_strdup(subject);
	return TRUE;
}

gboolean
ms_message_set_body(MsMessage *self, const gchar *body, GError **error)
{
	g_return_val_if_fail(MS_IS_MESSAGE(self), FALSE);
	g_return_val_if_fail(body != NULL, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	if (!g_utf8_validate(body, -1, NULL)) {
		g_set_error_literal(error,
				    G_IO_ERROR,
				    G_IO_ERROR_INVALID_ARGUMENT,
				    "body is not valid UTF-8");
		return FALSE;
	}
	g_free(self->body);
	self->body = g_strdup(body);
	return TRUE;
}

gboolean
ms_message_set_html(MsMessage *self, const gchar *html, GError **error)
{
	g_return_val_if_fail(MS_IS_MESSAGE(self), FALSE);
	g_return_val_if_fail(html != NULL, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	if (!g_utf8_validate(html, -1, NULL)) {
		g_set_error_literal(error,
				    G_IO_ERROR,
				    G_IO_ERROR_INVALID_ARGUMENT,
				    "html is not valid UTF-8");
		return FALSE;
	}
	g_clear_pointer(&self->html, g_free);
	if (html[0] != '\0')
		self->html = g_strdup(html);
	return TRUE;
}

/* text fit to be quoted in an error message: valid UTF-8 on one line, at most 64 characters */
static gchar *
ms_message_sanitize(const gchar *text)
{
	g_autofree gchar *valid = g_utf8_make_valid(text, -1);
	GString *str = g_string_new(NULL);
	guint n = 0;

	for (const gchar *p = valid; *p != '\0'; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);
		if (n++ == 64) {
			g_string_append(str, "…");
			break;
		}
		if (g_unichar_iscntrl(c) || g_unichar_type(c) == G_UNICODE_LINE_SEPARATOR ||
		    g_unichar_type(c) == G_UNICODE_PARAGRAPH_SEPARATOR)
			g_string_append_c(str, '?');
		else
			g_string_append_unichar(str, c);
	}
	return g_string_free(str, FALSE);
}

/* the bidirectional embeddings, overrides and isolates: with them "report\u202Efdp.exe"
 * shows as "reportexe.pdf" */
static gboolean
ms_message_is_bidi_control(gunichar c)
{
	return (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
}

static gboolean
ms_message_check_filename(const gchar *filename, GError **error)
{
	gsize len = strlen(filename);
	g_autofree gchar *quoted = NULL;

	if (len == 0) {
		g_set_error_literal(error,
				    G_IO_ERROR,
				    G_IO_ERROR_INVALID_ARGUMENT,
				    "attachment filename is empty");
		return FALSE;
	}
	if (!g_utf8_validate(filename, len, NULL)) {
		g_set_error_literal(error,
				    G_IO_ERROR,
				    G_IO_ERROR_INVALID_ARGUMENT,
				    "attachment filename is not valid UTF-8");
		return FALSE;
	}
	quoted = ms_message_sanitize(filename);
	for (const gchar *p = filename; *p != '\0'; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);
		const gchar *what = NULL;

		if (g_unichar_iscntrl(c) || g_unichar_type(c) == G_UNICODE_LINE_SEPARATOR ||
		    g_unichar_type(c) == G_UNICODE_PARAGRAPH_SEPARATOR)
			what = "a control character";
		else if (ms_message_is_bidi_control(c))
			what = "a bidirectional control character";
		if (what != NULL) {
			g_set_error(error,
				    G_IO_ERROR,
				    G_IO_ERROR_INVALID_ARGUMENT,
				    "attachment filename '%s' contains %s",
				    quoted,
				    what);
			return FALSE;
		}
	}
	if (len > MS_MESSAGE_FILENAME_MAX) {
		g_set_error(error,
			    G_IO_ERROR,
			    G_IO_ERROR_INVALID_ARGUMENT,
			    "attachment filename '%s' is longer than %u bytes",
			    quoted,
			    (guint)MS_MESSAGE_FILENAME_MAX);
		return FALSE;
	}
	/* a directory part would tell the recipient about the sender's files, and a client that
	 * saves under the name as given might write outside its download folder */
	if (strpbrk(filename, "/\\") != NULL) {
		g_set_error(error,
			    G_IO_ERROR,
			    G_IO_ERROR_INVALID_ARGUMENT,
			    "attachment filename '%s' contains '%c': give the file's name "
			    "without its directory",
			    quoted,
			    *strpbrk(filename, "/\\"));
		return FALSE;
	}
	if (g_strcmp0(filename, ".") == 0 || g_strcmp0(filename, "..") == 0) {
		g_set_error(error,
			    G_IO_ERROR,
			    G_IO_ERROR_INVALID_ARGUMENT,
			    "attachment filename '%s' is not a file name",
			    quoted);
		return FALSE;
	}
	return TRUE;
}

/* RFC 2045 §5.1 token */
static gboolean
ms_message_is_token_char(gchar c)
{
	return c > 32 && c < 127 && strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

static gboolean
ms_message_is_token(const gchar *text, gsize len)
{
	if (len == 0 || len > MS_MESSAGE_CONTENT_TYPE_NAME_MAX)
		return FALSE;
	for (gsize i = 0; i < len; i++) {
		if (!ms_message_is_token_char(text[i]))
			return FALSE;
	}
	return TRUE;
}

/* type "/" subtype, without parameters */
static gboolean
ms_message_content_type_is_valid(const gchar *content_type)
{
	const gchar *slash = strchr(content_type, '/');

	if (slash == NULL)
		return FALSE;
	return ms_message_is_token(content_type, slash - content_type) &&
	       ms_message_is_token(slash + 1, strlen(slash + 1));
}

/* RFC 2046 §5.1.1 and §5.2.1: no encoding but 7bit, 8bit or binary for these, and they are
 * structure a parser would look into */
static gboolean
ms_message_content_type_is_composite(const gchar *content_type)
{
	return g_ascii_strncasecmp(content_type, "multipart/", 10) == 0 ||
	       g_ascii_strncasecmp(content_type, "message/", 8) == 0;
}

static gchar *
ms_message_check_content_type(const gchar *content_type, GError **error)
{
	g_autofree gchar *quoted = ms_message_sanitize(content_type);

	if (strpbrk(content_type, "\r\n") != NULL) {
		g_set_error(error,
			    G_IO_ERROR,
			    G_IO_ERROR_INVALID_ARGUMENT,
			    "attachment content type '%s' contains a line break",
			    quoted);
		return NULL;
	}
	if (strchr(content_type, ';') != NULL) {
		g_set_error(error,
			    G_IO_ERROR,
			    G_IO_ERROR_INVALID_ARGUMENT,
			    "attachment content type '%s' has parameters; give only "
			    "'type/subtype'",
			    quoted);
		return NULL;
	}
	if (!ms_message_content_type_is_valid(content_type)) {
		g_set_error(error,
			    G_IO_ERROR,
			    G_IO_ERROR_INVALID_ARGUMENT,
			    "attachment content type '%s' is not of the form 'type/subtype'",
			    quoted);
		return NULL;
	}
	if (ms_message_content_type_is_composite(content_type)) {
		g_set_error(error,
			    G_IO_ERROR,
			    G_IO_ERROR_INVALID_ARGUMENT,
			    "attachment content type '%s' cannot be base64-encoded; use "
			    "application/octet-stream",
			    quoted);
		return NULL;
	}
	return g_ascii_strdown(content_type, -1);
}

/* from the filename alone: the data may be a pipe that cannot be read twice */
static gchar *
ms_message_guess_content_type(const gchar *filename)
{
	g_autofree gchar *guessed = g_content_type_guess(filename, NULL, 0, NULL);
	g_autofree gchar *mime_type = NULL;

	if (guessed != NULL)
		mime_type = g_content_type_get_mime_type(guessed);
	if (mime_type == NULL || !ms_message_content_type_is_valid(mime_type) ||
	    ms_message_content_type_is_composite(mime_type))
		return g_strdup("application/octet-stream");
	return g_ascii_strdown(mime_type, -1);
}

static gboolean
ms_message_add_attachment_internal(MsMessage *self,
				   const gchar *filename,
				   const gchar *content_type,
				   GBytes *data,
				   GInputStream *stream,
				   GError **error)
{
	g_autofree gchar *type = NULL;
	MsMessageAttachment *attachment;

	if (!ms_message_check_filename(filename, error))
		return FALSE;
	if (content_type != NULL) {
		type = ms_message_check_content_type(content_type, error);
		if (type == NULL)
			return FALSE;
	} else {
		type = ms_message_guess_content_type(filename);
	}
	attachment = g_new0(MsMessageAttachment, 1);
	attachment->filename = g_strdup(filename);
	attachment->content_type = g_steal_pointer(&type);
	if (data != NULL)
		attachment->data = g_bytes_ref(data);
	if (stream != NULL)
		attachment->stream = g_object_ref(stream);
	g_ptr_array_add(self->attachments, attachment);
	return TRUE;
}

gboolean
ms_message_add_attachment(MsMessage *self,
			  const gchar *filename,
			  const gchar *content_type,
			  GInputStream *stream,
			  GError **error)
{
	g_return_val_if_fail(MS_IS_MESSAGE(self), FALSE);
	g_return_val_if_fail(filename != NULL, FALSE);
	g_return_val_if_fail(G_IS_INPUT_STREAM(stream), FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
	return ms_message_add_attachment_internal(self,
						  filename,
						  content_type,
						  NULL,
						  stream,
						  error);
}

gboolean
ms_message_add_attachment_bytes(MsMessage *self,
				const gchar *filename,
				const gchar *content_type,
				GBytes *data,
				GError **error)
{
	g_return_val_if_fail(MS_IS_MESSAGE(self), FALSE);
	g_return_val_if_fail(filename != NULL, FALSE);
	g_return_val_if_fail(data != NULL, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
	return ms_message_add_attachment_internal(self, filename, content_type, data, NULL, error);
}

/* RFC 5322 §3.6.8 ftext, and not a header the composer writes */
static gboolean
ms_message_check_header_name(const gchar *name, GError **error)
{
	gsize len = strlen(name);

	if (len == 0) {
		g_set_error_literal(error,
				    G_IO_ERROR,
				    G_IO_ERROR_INVALID_ARGUMENT,
				    "header name is empty");
		return FALSE;
	}
	for (const gchar *p = name; *p != '\0'; p++) {
		const gchar *what = NULL;
		if (*p == '\r' || *p == '\n')
			what = "a line break";
		else if (*p == ':')
			what = "':'";
		else if (*p == ' ' || *p == '\t')
			what = "white space";
		else if ((guchar)*p < 33 || (guchar)*p > 126)
			what = "a character that is not printable ASCII";
		if (what != NULL) {
			g_set_error(
			    error,
			    G_IO_ERROR,
			    G_IO_ERROR_INVALID_ARGUMENT,
			    "header name contains %s; names are printable ASCII without ':'",
			    what);
			return FALSE;
		}
	}
	if (len > MS_MESSAGE_HEADER_NAME_MAX) {
		g_set_error(error,
			    G_IO_ERROR,
			    G_IO_ERROR_INVALID_ARGUMENT,
			    "header name '%.32s…' is longer than %u characters",
			    name,
			    (guint)MS_MESSAGE_HEADER_NAME_MAX);
		return FALSE;
	}
	if (g_ascii_strcasecmp(name, "Bcc") == 0) {
		g_set_error_literal(
		    error,
		    G_IO_ERROR,
		    G_IO_ERROR_INVALID_ARGUMENT,
		    "header 'Bcc' cannot be added: Bcc recipients never appear in the "
		    "message; use the 'bcc' key");
		return FALSE;
	}
	if (g_ascii_strncasecmp(name, "Content-", 8) == 0) {
		g_set_error(error,
			    G_IO_ERROR,
			    G_IO_ERROR_INVALID_ARGUMENT,
			    "header '%s' cannot be added: the composer sets the Content- headers",
			    name);
		return FALSE;
	}
	for (guint i = 0; i < G_N_ELEMENTS(ms_message_owned_headers); i++) {
		if (g_ascii_strcasecmp(name, ms_message_owned_headers[i].name) != 0)
			continue;
		if (ms_message_owned_headers[i].key != NULL) {
			g_set_error(error,
				    G_IO_ERROR,
				    G_IO_ERROR_INVALID_ARGUMENT,
				    "header '%s' cannot be added: the composer sets it; use the "
				    "'%s' key",
				    name,
				    ms_message_owned_headers[i].key);
		} else {
			g_set_error(error,
				    G_IO_ERROR,
				    G_IO_ERROR_INVALID_ARGUMENT,
				    "header '%s' cannot be added: the composer sets it",
				    name);
		}
		return FALSE;
	}
	return TRUE;
}

static gboolean
ms_message_is_wsp(gchar c)
{
	return c == ' ' || c == '\t';
}

/* RFC 5322 §3.2.2: a fold is CRLF put in front of white space. We fold only in front of a
 * white-space character that is followed by something else, and never at the very start, so
 * no line is white space alone (the obsolete syntax of §4.2 that readers may reject) */
static gboolean
ms_message_is_fold_point(const gchar *value, const gchar *p)
{
	return p > value && ms_message_is_wsp(p[0]) && p[1] != '\0' && !ms_message_is_wsp(p[1]);
}

/* the longest stretch of value between two places where it may be folded */
static gsize
ms_message_longest_unfoldable(const gchar *value)
{
	gsize run = 0;
	gsize longest = 0;

	for (const gchar *p = value; *p != '\0'; p++) {
		run = ms_message_is_fold_point(value, p) ? 1 : run + 1;
		longest = MAX(longest, run);
	}
	return longest;
}

/* TRUE if value has to go out as encoded-words: anything but printable ASCII, space and tab;
 * for free text also a stretch that could not be folded, or something a reader would decode
 * as an encoded-word although the caller meant it literally */
static gboolean
ms_message_needs_encoding(const gchar *value, gboolean is_text)
{
	for (const gchar *p = value; *p != '\0'; p++) {
		guchar c = (guchar)*p;
		if (c >= 0x7f || (c < 0x20 && c != '\t'))
			return TRUE;
	}
	if (!is_text)
		return FALSE;
	return ms_message_longest_unfoldable(value) > MS_MESSAGE_WORD_MAX ||
	       strstr(value, "=?") != NULL;
}

gboolean
ms_message_add_header(MsMessage *self, const gchar *name, const gchar *value, GError **error)
{
	MsMessageHeader *header;
	g_autofree gchar *field = NULL;

	g_return_val_if_fail(MS_IS_MESSAGE(self), FALSE);
	g_return_val_if_fail(name != NULL, FALSE);
	g_return_val_if_fail(value != NULL, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	if (!ms_message_check_header_name(name, error))
		return FALSE;
	field = g_strdup_printf("value of header '%s'", name);
	if (!ms_message_check_value(field, value, error))
		return FALSE;
	/* a structured value cannot be turned into encoded-words behind the caller's back */
	if (!ms_message_needs_encoding(value, FALSE) &&
	    ms_message_longest_unfoldable(value) > MS_MESSAGE_WORD_MAX) {
		g_set_error(error,
			    G_IO_ERROR,
			    G_IO_ERROR_INVALID_ARGUMENT,
			    "%s has more than %u characters without a space, so it cannot be "
			    "folded into lines of at most %u",
			    field,
			    (guint)MS_MESSAGE_WORD_MAX,
			    (guint)MS_MESSAGE_LINE_HARD_MAX);
		return FALSE;
	}

	header = g_new0(MsMessageHeader, 1);
	header->name = g_strdup(name);
	header->value = g_strdup(value);
	g_ptr_array_add(self->headers, header);
	return TRUE;
}

void
ms_message_set_date(MsMessage *self, GDateTime *date)
{
	g_return_if_fail(MS_IS_MESSAGE(self));

	g_clear_pointer(&self->date, g_date_time_unref);
	if (date != NULL)
		self->date = g_date_time_ref(date);
}

void
ms_message_set_message_id(MsMessage *self, const gchar *message_id)
{
	g_return_if_fail(MS_IS_MESSAGE(self));
	g_return_if_fail(message_id == NULL || ms_message_header_value_is_safe(message_id));

	g_clear_pointer(&self->message_id, g_free);
	if (message_id == NULL)
		return;
	if (message_id[0] == '<')
		self->message_id = g_strdup(message_id);
	else
		self->message_id = g_strdup_printf("<%s>", message_id);
}

void
ms_message_set_boundary_seed(MsMessage *self, const gchar *seed)
{
	g_return_if_fail(MS_IS_MESSAGE(self));
	/* bchars without the ones that would need the boundary parameter quoted, and short enough
	 * for RFC 2046's 70 */
	g_return_if_fail(seed == NULL || (seed[0] != '\0' && strlen(seed) <= 50));
	for (const gchar *p = seed; p != NULL && *p != '\0'; p++)
		g_return_if_fail(g_ascii_isalnum(*p));

	g_clear_pointer(&self->boundary_seed, g_free);
	g_clear_pointer(&self->boundary_mixed, g_free);
	g_clear_pointer(&self->boundary_alternative, g_free);
	self->boundary_seed = g_strdup(seed);
	self->boundary_counter = 0;
}

const MsAddress *
ms_message_get_from(MsMessage *self)
{
	g_return_val_if_fail(MS_IS_MESSAGE(self), NULL);
	return self->from;
}

GPtrArray *
ms_message_get_recipients(MsMessage *self)
{
	GPtrArray *lists[3];
	g_autoptr(GHashTable) seen = NULL;
	GPtrArray *recipients;

	g_return_val_if_fail(MS_IS_MESSAGE(self), NULL);

	lists[0] = self->to;
	lists[1] = self->cc;
	lists[2] = self->bcc;
	seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	recipients = g_ptr_array_new_with_free_func(g_free);
	for (guint i = 0; i < G_N_ELEMENTS(lists); i++) {
		for (guint j = 0; j < lists[i]->len; j++) {
			const gchar *spec =
			    ms_address_get_addr_spec(g_ptr_array_index(lists[i], j));
			gchar *key = g_ascii_strdown(spec, -1);
			if (!g_hash_table_add(seen, key))
				continue;
			g_ptr_array_add(recipients, g_strdup(spec));
		}
	}
	return recipients;
}

/* RFC 5322 §3.3 with English names whatever the locale, which strftime() would not give */
gchar *
ms_message_format_date(GDateTime *date)
{
	static const gchar *days[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
	static const gchar *months[] =
	    {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	gint64 offset = g_date_time_get_utc_offset(date) / G_TIME_SPAN_MINUTE;
	gchar sign = offset < 0 ? '-' : '+';

	offset = ABS(offset);
	return g_strdup_printf("%s, %d %s %04d %02d:%02d:%02d %c%02d%02d",
			       days[g_date_time_get_day_of_week(date) - 1],
			       g_date_time_get_day_of_month(date),
			       months[g_date_time_get_month(date) - 1],
			       g_date_time_get_year(date),
			       g_date_time_get_hour(date),
			       g_date_time_get_minute(date),
			       g_date_time_get_second(date),
			       sign,
			       (gint)(offset / 60),
			       (gint)(offset % 60));
}

/* appends a stretch that may not be split; when it starts at a fold point (white space
 * followed by a word), CRLF goes in front of it if the line would pass 78 columns. Folding
 * only ever inserts CRLF before white space that was there, so unfolding gives back exactly
 * what was meant */
static void
ms_message_fold_stretch(GString *str,
			gsize *col,
			const gchar *stretch,
			gsize len,
			gboolean foldable)
{
	if (foldable && *col > 1 && *col + len > MS_MESSAGE_LINE_SOFT_MAX) {
		g_string_append(str, "\r\n");
		*col = 0;
	}
	g_string_append_len(str, stretch, len);
	*col += len;
}

/* appends text, folding it at its fold points */
static void
ms_message_fold_text(GString *str, gsize *col, const gchar *text)
{
	const gchar *start = text;

	for (const gchar *p = text; *p != '\0'; p++) {
		if (!ms_message_is_fold_point(text, p))
			continue;
		ms_message_fold_stretch(str, col, start, p - start, start != text);
		start = p;
	}
	ms_message_fold_stretch(str, col, start, strlen(start), start != text);
}

/* an address list, one address per line after the first (RFC 5322 §3.4); a display name is
 * folded at its spaces but the angle-addr never is */
static void
ms_message_append_addresses(GString *str, const gchar *name, GPtrArray *addresses)
{
	gsize col = strlen(name) + 2;

	g_string_append_printf(str, "%s: ", name);
	for (guint i = 0; i < addresses->len; i++) {
		const MsAddress *address = g_ptr_array_index(addresses, i);
		const gchar *spec = ms_address_get_addr_spec(address);
		const gchar *comma = i + 1 < addresses->len ? "," : "";

		if (i > 0) {
			g_string_append(str, "\r\n ");
			col = 1;
		}
		if (ms_address_get_display_name(address) != NULL) {
			g_autofree gchar *header = ms_address_to_header(address);
			g_autofree gchar *angle = g_strdup_printf(" <%s>%s", spec, comma);
			/* to_header() gives "phrase <spec>" */
			g_autofree gchar *phrase =
			    g_strndup(header, strlen(header) - strlen(spec) - 3);
			ms_message_fold_text(str, &col, phrase);
			ms_message_fold_stretch(str, &col, angle, strlen(angle), TRUE);
		} else {
			g_autofree gchar *word = g_strdup_printf("%s%s", spec, comma);
			ms_message_fold_stretch(str, &col, word, strlen(word), FALSE);
		}
	}
	g_string_append(str, "\r\n");
}

static void
ms_message_append_address(GString *str, const gchar *name, MsAddress *address)
{
	g_autoptr(GPtrArray) addresses = g_ptr_array_new();

	g_ptr_array_add(addresses, address);
	ms_message_append_addresses(str, name, addresses);
}

/* encoded-words for value, one per line, the first one short enough to share its line with
 * "Name: " */
static gchar *
ms_message_encode_words_folded(const gchar *value, gsize name_len)
{
	gsize first_max = 0;
	g_autofree gchar *words = NULL;
	g_auto(GStrv) split = NULL;

	if (name_len + 2 < MS_MESSAGE_LINE_SOFT_MAX)
		first_max = MS_MESSAGE_LINE_SOFT_MAX - name_len - 2;
	words = ms_address_encode_words(value, first_max, MS_MESSAGE_ENCODED_WORD_MAX);
	split = g_strsplit(words, " ", -1);
	return g_strjoinv("\r\n ", split);
}

gchar *
ms_message_encode_header_value(const gchar *value, gsize name_len)
{
	g_return_val_if_fail(value != NULL, NULL);

	if (!ms_message_needs_encoding(value, FALSE))
		return g_strdup(value);
	return ms_message_encode_words_folded(value, name_len);
}

/* "Name: value" for unstructured or extra headers; is_text for free text such as the subject,
 * which may be encoded whenever that is needed to make it safe */
static void
ms_message_append_header(GString *str, const gchar *name, const gchar *value, gboolean is_text)
{
	gsize col = strlen(name) + 2;

	if (value[0] == '\0') {
		g_string_append_printf(str, "%s:\r\n", name);
		return;
	}
	g_string_append_printf(str, "%s: ", name);
	if (ms_message_needs_encoding(value, is_text)) {
		g_autofree gchar *words = ms_message_encode_words_folded(value, strlen(name));
		g_string_append(str, words);
	} else {
		ms_message_fold_text(str, &col, value);
	}
	g_string_append(str, "\r\n");
}

/* CRLF for every CRLF, lone CR and lone LF, and a final CRLF unless the body is empty */
static gchar *
ms_message_normalize_body(const gchar *body)
{
	GString *str = g_string_sized_new(strlen(body) + 2);

	for (const gchar *p = body; *p != '\0'; p++) {
		if (*p == '\r') {
			if (p[1] == '\n')
				p++;
			g_string_append(str, "\r\n");
		} else if (*p == '\n') {
			g_string_append(str, "\r\n");
		} else {
			g_string_append_c(str, *p);
		}
	}
	if (str->len > 0 && !g_str_has_suffix(str->str, "\r\n"))
		g_string_append(str, "\r\n");
	return g_string_free(str, FALSE);
}

typedef enum {
	MS_MESSAGE_CTE_7BIT,
	MS_MESSAGE_CTE_8BIT,
	MS_MESSAGE_CTE_QUOTED_PRINTABLE,
} MsMessageCte;

/* RFC 2045 §2.7 and §2.8: 7bit is ASCII, 8bit may have any octet but NUL, and both have lines
 * of at most 998 octets; anything else needs quoted-printable. body is valid UTF-8 without NUL,
 * with any line ends: the answer is the same before and after normalizing them */
static MsMessageCte
ms_message_classify_text(const gchar *body)
{
	gsize line = 0;
	gboolean ascii = TRUE;

	for (const gchar *p = body; *p != '\0'; p++) {
		if ((guchar)*p >= 0x80)
			ascii = FALSE;
		/* any line end, as ms_message_normalize_body() makes each one CRLF */
		if (*p == '\r' || *p == '\n') {
			line = 0;
			if (*p == '\r' && p[1] == '\n')
				p++;
			continue;
		}
		if (++line > MS_MESSAGE_LINE_HARD_MAX)
			return MS_MESSAGE_CTE_QUOTED_PRINTABLE;
	}
	return ascii ? MS_MESSAGE_CTE_7BIT : MS_MESSAGE_CTE_8BIT;
}

static const gchar *
ms_message_cte_to_string(MsMessageCte cte)
{
	if (cte == MS_MESSAGE_CTE_7BIT)
		return "7bit";
	if (cte == MS_MESSAGE_CTE_8BIT)
		return "8bit";
	return "quoted-printable";
}

void
ms_message_append_quoted_printable_line(GString *str, const gchar *line, gsize len)
{
	gsize col = 0;

	for (gsize i = 0; i < len; i++) {
		guchar c = (guchar)line[i];
		gchar enc[4];
		gsize enc_len;

		/* rule (3): white space at the end of a line would be lost in transport */
		if ((c == ' ' || c == '\t') && i + 1 < len) {
			enc[0] = (gchar)c;
			enc_len = 1;
		} else if (c >= 33 && c <= 126 && c != '=') {
			enc[0] = (gchar)c;
			enc_len = 1;
		} else {
			g_snprintf(enc, sizeof(enc), "=%02X", c);
			enc_len = 3;
		}
		/* a soft break leaves room for its '=' and never splits an "=XX" */
		if (col + enc_len > MS_MESSAGE_QP_LINE_MAX - 1) {
			g_string_append(str, "=\r\n");
			col = 0;
		}
		g_string_append_len(str, enc, enc_len);
		col += enc_len;
	}
}

gchar *
ms_message_encode_quoted_printable(const gchar *text)
{
	GString *str;
	const gchar *p;

	g_return_val_if_fail(text != NULL, NULL);

	str = g_string_sized_new(strlen(text) * 3 / 2 + 16);
	p = text;
	while (*p != '\0') {
		gsize len = strcspn(p, "\r\n");
		ms_message_append_quoted_printable_line(str, p, len);
		p += len;
		if (*p == '\0')
			break;
		/* any line end style becomes a hard CRLF */
		if (p[0] == '\r' && p[1] == '\n')
			p += 2;
		else
			p += 1;
		g_string_append(str, "\r\n");
	}
	return g_string_free(str, FALSE);
}

/* the body or the html as it goes into its part: CRLF line ends, as it is when that is 7bit
 * (or 8bit, when allowed), else quoted-printable */
static gchar *
ms_message_encode_text(MsMessage *self, const gchar *text, MsMessageCte *cte)
{
	g_autofree gchar *normalized = ms_message_normalize_body(text);

	*cte = ms_message_classify_text(normalized);
	if (*cte == MS_MESSAGE_CTE_8BIT && !self->allow_8bit)
		*cte = MS_MESSAGE_CTE_QUOTED_PRINTABLE;
	if (*cte != MS_MESSAGE_CTE_QUOTED_PRINTABLE)
		return g_steal_pointer(&normalized);
	return ms_message_encode_quoted_printable(normalized);
}

void
ms_message_set_8bit_allowed(MsMessage *self, gboolean allowed)
{
	g_return_if_fail(MS_IS_MESSAGE(self));
	self->allow_8bit = allowed;
}

static gboolean
ms_message_text_is_8bit(MsMessage *self, const gchar *text)
{
	if (!self->allow_8bit || text == NULL)
		return FALSE;
	return ms_message_classify_text(text) == MS_MESSAGE_CTE_8BIT;
}

static gboolean
ms_message_addresses_need_smtputf8(GPtrArray *addresses)
{
	for (guint i = 0; i < addresses->len; i++) {
		if (ms_address_needs_smtputf8(g_ptr_array_index(addresses, i)))
			return TRUE;
	}
	return FALSE;
}

MsMailFlags
ms_message_get_mail_flags(MsMessage *self)
{
	MsMailFlags flags = MS_MAIL_FLAG_NONE;
	gboolean has_text;

	g_return_val_if_fail(MS_IS_MESSAGE(self), MS_MAIL_FLAG_NONE);

	/* the same choice of parts as ms_message_render() */
	has_text = (self->body != NULL && self->body[0] != '\0') ||
		   (self->html == NULL && self->attachments->len == 0);
	if ((has_text && ms_message_text_is_8bit(self, self->body)) ||
	    ms_message_text_is_8bit(self, self->html))
		flags |= MS_MAIL_FLAG_8BITMIME;
	if ((self->from != NULL && ms_address_needs_smtputf8(self->from)) ||
	    (self->reply_to != NULL && ms_address_needs_smtputf8(self->reply_to)) ||
	    ms_message_addresses_need_smtputf8(self->to) ||
	    ms_message_addresses_need_smtputf8(self->cc) ||
	    ms_message_addresses_need_smtputf8(self->bcc)) {
		/* UTF-8 in the header is 8-bit content too (RFC 6532 §3.5) */
		flags |= MS_MAIL_FLAG_SMTPUTF8 | MS_MAIL_FLAG_8BITMIME;
	}
	return flags;
}

static gchar *
ms_message_boundary_new(MsMessage *self)
{
	if (self->boundary_seed != NULL) {
		return g_strdup_printf(MS_MESSAGE_BOUNDARY_PREFIX "%s_%u",
				       self->boundary_seed,
				       ++self->boundary_counter);
	}
	return g_strdup_printf(MS_MESSAGE_BOUNDARY_PREFIX "%08x%08x%08x%08x",
			       g_random_int(),
			       g_random_int(),
			       g_random_int(),
			       g_random_int());
}

/* RFC 2046 §5.1.1: a boundary must not occur in what it encloses, and as a reader takes any
 * line that starts with "--" and a boundary for that boundary, neither of two nested ones may
 * be a prefix of the other. Base64 and quoted-printable (which writes '=' as "=3D") never hold
 * "=_", so only a 7bit text can contain a boundary, but all text is checked */
static gboolean
ms_message_boundary_is_usable(const gchar *boundary,
			      const gchar *other,
			      const gchar *text,
			      const gchar *html)
{
	if (other != NULL &&
	    (g_str_has_prefix(other, boundary) || g_str_has_prefix(boundary, other)))
		return FALSE;
	if (text != NULL && strstr(text, boundary) != NULL)
		return FALSE;
	if (html != NULL && strstr(html, boundary) != NULL)
		return FALSE;
	return TRUE;
}

/* a boundary is made once and kept, like the Message-ID, so that rendering the same message
 * twice gives the same bytes; it is only replaced when the content now holds it */
static void
ms_message_ensure_boundary(MsMessage *self,
			   gchar **boundary,
			   const gchar *other,
			   const gchar *text,
			   const gchar *html)
{
	while (*boundary == NULL || !ms_message_boundary_is_usable(*boundary, other, text, html)) {
		g_free(*boundary);
		*boundary = ms_message_boundary_new(self);
	}
}

static void
ms_message_append_multipart_header(GString *str, const gchar *subtype, const gchar *boundary)
{
	g_string_append_printf(str,
			       "Content-Type: multipart/%s;\r\n boundary=\"%s\"\r\n",
			       subtype,
			       boundary);
}

/* the CRLF in front of a delimiter belongs to it (RFC 2046 §5.1.1), so a part that ends in a
 * line end is followed by an empty line */
static void
ms_message_append_delimiter(GString *str, const gchar *boundary, gboolean first)
{
	g_string_append_printf(str, "%s--%s\r\n", first ? "" : "\r\n", boundary);
}

static void
ms_message_append_close_delimiter(GString *str, const gchar *boundary)
{
	g_string_append_printf(str, "\r\n--%s--\r\n", boundary);
}

static void
ms_message_append_text_part(GString *str,
			    const gchar *subtype,
			    const gchar *encoded,
			    MsMessageCte cte)
{
	g_string_append_printf(str, "Content-Type: text/%s; charset=utf-8\r\n", subtype);
	g_string_append_printf(str,
			       "Content-Transfer-Encoding: %s\r\n\r\n",
			       ms_message_cte_to_string(cte));
	g_string_append(str, encoded);
}

/* a quoted-string for a printable ASCII value, NULL for anything else, and for a value that
 * readers would decode as an encoded-word although it was meant literally */
static gchar *
ms_message_quote_ascii(const gchar *value)
{
	g_autoptr(GString) str = g_string_new("\"");

	if (strstr(value, "=?") != NULL)
		return NULL;
	for (const gchar *p = value; *p != '\0'; p++) {
		if ((guchar)*p < 0x20 || (guchar)*p > 0x7e)
			return NULL;
		if (*p == '"' || *p == '\\')
			g_string_append_c(str, '\\');
		g_string_append_c(str, *p);
	}
	g_string_append_c(str, '"');
	return g_string_free(g_steal_pointer(&str), FALSE);
}

/* Content-Type's name parameter, for clients that do not read RFC 2231: a quoted-string when
 * the name is printable ASCII and fits on its line, else RFC 2047 encoded-words inside the
 * quoted-string, one per line; RFC 2047 §5 does not allow them there, but that is how mail
 * clients write and read non-ASCII names in this parameter */
static void
ms_message_append_name_param(GString *str, const gchar *filename)
{
	g_autofree gchar *quoted = ms_message_quote_ascii(filename);
	g_autofree gchar *words = NULL;
	g_autofree gchar *joined = NULL;
	g_auto(GStrv) split = NULL;

	if (quoted != NULL && strlen(" name=") + strlen(quoted) <= MS_MESSAGE_LINE_SOFT_MAX) {
		g_string_append_printf(str, " name=%s", quoted);
		return;
	}
	/* the first word follows ' name="' and may be followed by the closing quote; the others
	 * have one space in front and at most the quote after them: 1 + 75 + 1 columns */
	words = ms_address_encode_words(filename,
					MS_MESSAGE_LINE_SOFT_MAX - strlen(" name=\"\""),
					MS_MESSAGE_ENCODED_WORD_MAX);
	split = g_strsplit(words, " ", -1);
	joined = g_strjoinv("\r\n ", split);
	g_string_append_printf(str, " name=\"%s\"", joined);
}

/* RFC 2231 §7 attribute-char: what may stay as it is in an extended parameter value */
static gboolean
ms_message_is_attribute_char(gchar c)
{
	return c != '\0' && (g_ascii_isalnum(c) || strchr("!#$&+-.^_`{|}~", c) != NULL);
}

/* Content-Disposition's filename parameter: a quoted-string when the name is printable ASCII
 * and fits on its line, else RFC 2231 UTF-8 percent-encoding, split into numbered
 * continuations of at most 78 columns when it does not fit on one; a character is never split
 * between two continuations, so even a reader that decodes them one by one gets whole ones */
static void
ms_message_append_filename_param(GString *str, const gchar *filename)
{
	g_autofree gchar *quoted = ms_message_quote_ascii(filename);
	g_autoptr(GPtrArray) chars = NULL;
	const gchar *single = " filename*=UTF-8''";
	gsize total = 0;
	guint section = 0;

	if (quoted != NULL && strlen(" filename=") + strlen(quoted) <= MS_MESSAGE_LINE_SOFT_MAX) {
		g_string_append_printf(str, " filename=%s", quoted);
		return;
	}

	/* each character percent-encoded on its own */
	chars = g_ptr_array_new_with_free_func(g_free);
	for (const gchar *p = filename; *p != '\0'; p = g_utf8_next_char(p)) {
		GString *encoded = g_string_new(NULL);
		for (const gchar *q = p; q < g_utf8_next_char(p); q++) {
			if (ms_message_is_attribute_char(*q))
				g_string_append_c(encoded, *q);
			else
				g_string_append_printf(encoded, "%%%02X", (guchar)*q);
		}
		total += encoded->len;
		g_ptr_array_add(chars, g_string_free(encoded, FALSE));
	}
	if (strlen(single) + total <= MS_MESSAGE_LINE_SOFT_MAX) {
		g_string_append(str, single);
		for (guint i = 0; i < chars->len; i++)
			g_string_append(str, g_ptr_array_index(chars, i));
		return;
	}
	for (guint i = 0; i < chars->len; section++) {
		gsize col;

		if (section > 0)
			g_string_append(str, ";\r\n");
		col = str->len;
		g_string_append_printf(str,
				       " filename*%u*=%s",
				       section,
				       section == 0 ? "UTF-8''" : "");
		/* at least one character, and room for the ';' after the last */
		do {
			g_string_append(str, g_ptr_array_index(chars, i));
			i++;
		} while (i < chars->len &&
			 str->len - col + strlen(g_ptr_array_index(chars, i)) + 1 <=
			     MS_MESSAGE_LINE_SOFT_MAX);
	}
}

static void
ms_message_append_attachment_headers(GString *str, const MsMessageAttachment *attachment)
{
	g_string_append_printf(str, "Content-Type: %s;\r\n", attachment->content_type);
	ms_message_append_name_param(str, attachment->filename);
	g_string_append(str, "\r\nContent-Disposition: attachment;\r\n");
	ms_message_append_filename_param(str, attachment->filename);
	g_string_append(str, "\r\nContent-Transfer-Encoding: base64\r\n\r\n");
}

/* the text or html part on its own, or both as multipart/alternative */
static void
ms_message_append_main_part(MsMessage *self,
			    GString *str,
			    const gchar *text,
			    MsMessageCte text_cte,
			    const gchar *html,
			    MsMessageCte html_cte)
{
	if (text != NULL && html != NULL) {
		ms_message_append_multipart_header(str, "alternative", self->boundary_alternative);
		g_string_append(str, "\r\n");
		/* the simplest first: RFC 2046 §5.1.4 */
		ms_message_append_delimiter(str, self->boundary_alternative, TRUE);
		ms_message_append_text_part(str, "plain", text, text_cte);
		ms_message_append_delimiter(str, self->boundary_alternative, FALSE);
		ms_message_append_text_part(str, "html", html, html_cte);
		ms_message_append_close_delimiter(str, self->boundary_alternative);
	} else if (html != NULL) {
		ms_message_append_text_part(str, "html", html, html_cte);
	} else {
		ms_message_append_text_part(str, "plain", text, text_cte);
	}
}

/* ends the literal text collected so far as one segment */
static void
ms_message_flush_segment(GPtrArray *segments, GString *str)
{
	MsMessageSegment *segment;

	if (str->len == 0)
		return;
	segment = g_new0(MsMessageSegment, 1);
	segment->text = g_bytes_new(str->str, str->len);
	g_string_truncate(str, 0);
	g_ptr_array_add(segments, segment);
}

/* the message as literal text with the attachments, still to be encoded, in between */
static GPtrArray *
ms_message_render(MsMessage *self, GError **error)
{
	const gchar *from_spec;
	g_autofree gchar *date = NULL;
	g_autofree gchar *message_id = NULL;
	g_autofree gchar *text = NULL;
	g_autofree gchar *html = NULL;
	MsMessageCte text_cte = MS_MESSAGE_CTE_7BIT;
	MsMessageCte html_cte = MS_MESSAGE_CTE_7BIT;
	gboolean mixed = self->attachments->len > 0;
	g_autoptr(GPtrArray) segments = NULL;
	g_autoptr(GString) str = NULL;

	if (self->from == NULL) {
		g_set_error_literal(error,
				    G_IO_ERROR,
				    G_IO_ERROR_INVALID_ARGUMENT,
				    "a sender (from) is required");
		return NULL;
	}
	if (self->to->len + self->cc->len + self->bcc->len == 0) {
		g_set_error_literal(error,
				    G_IO_ERROR,
				    G_IO_ERROR_INVALID_ARGUMENT,
				    "at least one recipient (to, cc or bcc) is required");
		return NULL;
	}

	/* fixed on the first rendering so that a message rendered twice is the same message */
	if (self->date == NULL)
		self->date = g_date_time_new_now_local();
	date = ms_message_format_date(self->date);
	from_spec = ms_address_get_addr_spec(self->from);
	if (self->message_id != NULL)
		message_id = g_strdup(self->message_id);
	else
		message_id = g_strdup_printf("<%s@%s>", self->id_left, strrchr(from_spec, '@') + 1);

	/* an empty body is left out when the html or an attachment carries the message */
	if ((self->body != NULL && self->body[0] != '\0') || (self->html == NULL && !mixed))
		text =
		    ms_message_encode_text(self, self->body != NULL ? self->body : "", &text_cte);
	if (self->html != NULL)
		html = ms_message_encode_text(self, self->html, &html_cte);
	if (mixed) {
		ms_message_ensure_boundary(self,
					   &self->boundary_mixed,
					   self->boundary_alternative,
					   text,
					   html);
	}
	if (text != NULL && html != NULL) {
		ms_message_ensure_boundary(self,
					   &self->boundary_alternative,
					   mixed ? self->boundary_mixed : NULL,
					   text,
					   html);
	}

	str = g_string_sized_new(1024 + (text != NULL ? strlen(text) : 0) +
				 (html != NULL ? strlen(html) : 0));
	g_string_append_printf(str, "Date: %s\r\n", date);
	ms_message_append_address(str, "From", self->from);
	if (self->reply_to != NULL)
		ms_message_append_address(str, "Reply-To", self->reply_to);
	if (self->to->len > 0)
		ms_message_append_addresses(str, "To", self->to);
	if (self->cc->len > 0)
		ms_message_append_addresses(str, "Cc", self->cc);
	ms_message_append_header(str, "Subject", self->subject != NULL ? self->subject : "", TRUE);
	g_string_append_printf(str, "Message-ID: %s\r\n", message_id);
	g_string_append(str, "MIME-Version: 1.0\r\n");
	for (guint i = 0; i < self->headers->len; i++) {
		MsMessageHeader *header = g_ptr_array_index(self->headers, i);
		ms_message_append_header(str, header->name, header->value, FALSE);
	}

	segments = g_ptr_array_new_with_free_func((GDestroyNotify)ms_message_segment_free);
	if (!mixed) {
		ms_message_append_main_part(self, str, text, text_cte, html, html_cte);
		ms_message_flush_segment(segments, str);
		return g_steal_pointer(&segments);
	}

	ms_message_append_multipart_header(str, "mixed", self->boundary_mixed);
	g_string_append(str, "\r\n");
	if (text != NULL || html != NULL) {
		ms_message_append_delimiter(str, self->boundary_mixed, TRUE);
		ms_message_append_main_part(self, str, text, text_cte, html, html_cte);
	}
	for (guint i = 0; i < self->attachments->len; i++) {
		MsMessageAttachment *attachment = g_ptr_array_index(self->attachments, i);
		MsMessageSegment *segment = g_new0(MsMessageSegment, 1);

		ms_message_append_delimiter(str,
					    self->boundary_mixed,
					    i == 0 && text == NULL && html == NULL);
		ms_message_append_attachment_headers(str, attachment);
		ms_message_flush_segment(segments, str);
		segment->attachment = attachment;
		g_ptr_array_add(segments, segment);
	}
	ms_message_append_close_delimiter(str, self->boundary_mixed);
	ms_message_flush_segment(segments, str);
	return g_steal_pointer(&segments);
}

/* base64 (RFC 2045 §6.8) in lines of 76 characters with CRLF, fed in chunks of any size: the
 * output does not depend on how the input was cut */
typedef struct {
	guint8 rest[3]; /* the bytes of a group not complete yet */
	gsize rest_len;
	gsize col;
} MsMessageBase64;

static void
ms_message_base64_group(MsMessageBase64 *b64, GString *out, const guint8 *in, gsize len)
{
	static const gchar alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	guint32 v = (guint32)in[0] << 16 | (len > 1 ? (guint32)in[1] << 8 : 0) |
		    (len > 2 ? (guint32)in[2] : 0);
	gchar quad[4];

	quad[0] = alphabet[(v >> 18) & 0x3f];
	quad[1] = alphabet[(v >> 12) & 0x3f];
	quad[2] = len > 1 ? alphabet[(v >> 6) & 0x3f] : '=';
	quad[3] = len > 2 ? alphabet[v & 0x3f] : '=';
	g_string_append_len(out, quad, sizeof(quad));
	b64->col += sizeof(quad);
	if (b64->col == MS_MESSAGE_BASE64_LINE_MAX) {
		g_string_append(out, "\r\n");
		b64->col = 0;
	}
}

static void
ms_message_base64_feed(MsMessageBase64 *b64, GString *out, const guint8 *data, gsize len)
{
	while (b64->rest_len > 0 && len > 0) {
		b64->rest[b64->rest_len++] = *data++;
		len--;
		if (b64->rest_len == 3) {
			ms_message_base64_group(b64, out, b64->rest, 3);
			b64->rest_len = 0;
		}
	}
	for (; len >= 3; data += 3, len -= 3)
		ms_message_base64_group(b64, out, data, 3);
	/* an empty attachment comes with data == NULL, which memcpy() must never see */
	if (len > 0)
		memcpy(b64->rest + b64->rest_len, data, len);
	b64->rest_len += len;
}

static void
ms_message_base64_finish(MsMessageBase64 *b64, GString *out)
{
	if (b64->rest_len > 0)
		ms_message_base64_group(b64, out, b64->rest, b64->rest_len);
	if (b64->col > 0)
		g_string_append(out, "\r\n");
	b64->rest_len = 0;
	b64->col = 0;
}

/* the base64 size for len bytes, line ends included */
static gsize
ms_message_base64_size(gsize len)
{
	gsize chars = (len + 2) / 3 * 4;
	return chars + (chars + MS_MESSAGE_BASE64_LINE_MAX - 1) / MS_MESSAGE_BASE64_LINE_MAX * 2;
}

GBytes *
ms_message_to_bytes(MsMessage *self, GError **error)
{
	g_autoptr(GPtrArray) segments = NULL;
	GString *str;
	gsize size = 0;

	g_return_val_if_fail(MS_IS_MESSAGE(self), NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	segments = ms_message_render(self, error);
	if (segments == NULL)
		return NULL;
	for (guint i = 0; i < segments->len; i++) {
		MsMessageSegment *segment = g_ptr_array_index(segments, i);
		if (segment->text != NULL) {
			size += g_bytes_get_size(segment->text);
			continue;
		}
		if (segment->attachment->stream != NULL) {
			g_set_error(error,
				    G_IO_ERROR,
				    G_IO_ERROR_NOT_SUPPORTED,
				    "attachment '%s' is read from a stream: write the message with "
				    "ms_message_write_async()",
				    segment->attachment->filename);
			return NULL;
		}
		size += ms_message_base64_size(g_bytes_get_size(segment->attachment->data));
	}

	str = g_string_sized_new(size + 1);
	for (guint i = 0; i < segments->len; i++) {
		MsMessageSegment *segment = g_ptr_array_index(segments, i);
		gsize len = 0;
		const guint8 *data;
		MsMessageBase64 b64 = {0};

		if (segment->text != NULL) {
			data = g_bytes_get_data(segment->text, &len);
			g_string_append_len(str, (const gchar *)data, len);
			continue;
		}
		data = g_bytes_get_data(segment->attachment->data, &len);
		ms_message_base64_feed(&b64, str, data, len);
		ms_message_base64_finish(&b64, str);
	}
	return g_string_free_to_bytes(str);
}

/* ---- streaming writer ---- */

typedef struct {
	GOutputStream *out;
	GPtrArray *segments; /* of MsMessageSegment */
	guint index;	     /* the segment being written */
	GInputStream *input; /* nullable: the attachment being read */
	gboolean input_done;
	MsMessageBase64 b64;
	GBytes *buffer; /* nullable: what is being written, kept until the write is done */
	guint64 written;
} MsMessageWriteHelper;

static void
ms_message_write_helper_free(MsMessageWriteHelper *helper)
{
	g_object_unref(helper->out);
	g_ptr_array_unref(helper->segments);
	g_clear_object(&helper->input);
	g_clear_pointer(&helper->buffer, g_bytes_unref);
	g_free(helper);
}

static void
ms_message_write_next(GTask *task);
static void
ms_message_write_read(GTask *task);

static void
ms_message_write_buffer_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = G_TASK(user_data);
	MsMessageWriteHelper *helper = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	gsize written = 0;

	if (!g_output_stream_write_all_finish(G_OUTPUT_STREAM(source), res, &written, &error)) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	helper->written += written;
	g_clear_pointer(&helper->buffer, g_bytes_unref);
	if (helper->input != NULL && !helper->input_done) {
		ms_message_write_read(g_steal_pointer(&task));
		return;
	}
	g_clear_object(&helper->input);
	helper->index++;
	ms_message_write_next(g_steal_pointer(&task));
}

static void
ms_message_write_buffer(GTask *task, GBytes *buffer)
{
	MsMessageWriteHelper *helper = g_task_get_task_data(task);
	gsize len = 0;
	const guint8 *data = g_bytes_get_data(buffer, &len);

	helper->buffer = buffer;
	g_output_stream_write_all_async(helper->out,
					data,
					len,
					G_PRIORITY_DEFAULT,
					g_task_get_cancellable(task),
					ms_message_write_buffer_cb,
					task);
}

static void
ms_message_write_read_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = G_TASK(user_data);
	MsMessageWriteHelper *helper = g_task_get_task_data(task);
	MsMessageSegment *segment = g_ptr_array_index(helper->segments, helper->index);
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) chunk = NULL;
	GString *encoded;
	gsize len = 0;
	const guint8 *data;

	chunk = g_input_stream_read_bytes_finish(G_INPUT_STREAM(source), res, &error);
	if (chunk == NULL) {
		g_prefix_error(&error, "attachment '%s': ", segment->attachment->filename);
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	data = g_bytes_get_data(chunk, &len);
	encoded = g_string_sized_new(ms_message_base64_size(len + 3));
	if (len == 0) {
		helper->input_done = TRUE;
		ms_message_base64_finish(&helper->b64, encoded);
	} else {
		ms_message_base64_feed(&helper->b64, encoded, data, len);
	}
	/* a short read may leave nothing but a partial group */
	if (encoded->len == 0) {
		g_string_free(encoded, TRUE);
		if (helper->input_done) {
			g_clear_object(&helper->input);
			helper->index++;
			ms_message_write_next(g_steal_pointer(&task));
		} else {
			ms_message_write_read(g_steal_pointer(&task));
		}
		return;
	}
	ms_message_write_buffer(g_steal_pointer(&task), g_string_free_to_bytes(encoded));
}

static void
ms_message_write_read(GTask *task)
{
	MsMessageWriteHelper *helper = g_task_get_task_data(task);

	g_input_stream_read_bytes_async(helper->input,
					MS_MESSAGE_CHUNK_SIZE,
					G_PRIORITY_DEFAULT,
					g_task_get_cancellable(task),
					ms_message_write_read_cb,
					task);
}

/* takes the reference to task */
static void
ms_message_write_next(GTask *task)
{
	MsMessageWriteHelper *helper = g_task_get_task_data(task);
	MsMessageSegment *segment;

	if (helper->index == helper->segments->len) {
		g_task_return_boolean(task, TRUE);
		g_object_unref(task);
		return;
	}
	segment = g_ptr_array_index(helper->segments, helper->index);
	if (segment->text != NULL) {
		ms_message_write_buffer(task, g_bytes_ref(segment->text));
		return;
	}
	if (segment->attachment->data != NULL)
		helper->input = g_memory_input_stream_new_from_bytes(segment->attachment->data);
	else
		helper->input = g_object_ref(segment->attachment->stream);
	helper->input_done = FALSE;
	memset(&helper->b64, 0, sizeof(helper->b64));
	ms_message_write_read(task);
}

void
ms_message_write_async(MsMessage *self,
		       GOutputStream *out,
		       GCancellable *cancellable,
		       GAsyncReadyCallback callback,
		       gpointer user_data)
{
	g_autoptr(GTask) task = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) segments = NULL;
	MsMessageWriteHelper *helper;

	g_return_if_fail(MS_IS_MESSAGE(self));
	g_return_if_fail(G_IS_OUTPUT_STREAM(out));
	g_return_if_fail(cancellable == NULL || G_IS_CANCELLABLE(cancellable));

	task = g_task_new(self, cancellable, callback, user_data);
	g_task_set_source_tag(task, ms_message_write_async);

	segments = ms_message_render(self, &error);
	if (segments == NULL) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	/* a stream cannot be read again, so a second write would silently lose the attachment;
	 * refused before anything is written */
	for (guint i = 0; i < self->attachments->len; i++) {
		MsMessageAttachment *attachment = g_ptr_array_index(self->attachments, i);
		if (attachment->stream != NULL && attachment->stream_used) {
			g_task_return_new_error(
			    task,
			    G_IO_ERROR,
			    G_IO_ERROR_NOT_SUPPORTED,
			    "attachment '%s': its stream was read by an earlier "
			    "write; a message with stream attachments can be "
			    "written once",
			    attachment->filename);
			return;
		}
	}
	for (guint i = 0; i < self->attachments->len; i++) {
		MsMessageAttachment *attachment = g_ptr_array_index(self->attachments, i);
		if (attachment->stream != NULL)
			attachment->stream_used = TRUE;
	}

	helper = g_new0(MsMessageWriteHelper, 1);
	helper->out = g_object_ref(out);
	helper->segments = g_steal_pointer(&segments);
	g_task_set_task_data(task, helper, (GDestroyNotify)ms_message_write_helper_free);
	ms_message_write_next(g_steal_pointer(&task));
}

gboolean
ms_message_write_finish(MsMessage *self, GAsyncResult *res, guint64 *bytes_written, GError **error)
{
	MsMessageWriteHelper *helper;

	g_return_val_if_fail(MS_IS_MESSAGE(self), FALSE);
	g_return_val_if_fail(g_task_is_valid(res, self), FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	if (!g_task_propagate_boolean(G_TASK(res), error))
		return FALSE;
	helper = g_task_get_task_data(G_TASK(res));
	if (bytes_written != NULL)
		*bytes_written = helper->written;
	return TRUE;
}

static void
ms_message_finalize(GObject *object)
{
	MsMessage *self = MS_MESSAGE(object);

	g_clear_pointer(&self->from, ms_address_free);
	g_clear_pointer(&self->reply_to, ms_address_free);
	g_ptr_array_unref(self->to);
	g_ptr_array_unref(self->cc);
	g_ptr_array_unref(self->bcc);
	g_ptr_array_unref(self->headers);
	g_free(self->subject);
	g_free(self->body);
	g_free(self->html);
	g_ptr_array_unref(self->attachments);
	g_free(self->boundary_seed);
	g_free(self->boundary_mixed);
	g_free(self->boundary_alternative);
	g_clear_pointer(&self->date, g_date_time_unref);
	g_free(self->message_id);
	g_free(self->id_left);

	G_OBJECT_CLASS(ms_message_parent_class)->finalize(object);
}

static void
ms_message_class_init(MsMessageClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);
	object_class->finalize = ms_message_finalize;
}

static void
ms_message_init(MsMessage *self)
{
	self->to = g_ptr_array_new_with_free_func((GDestroyNotify)ms_address_free);
	self->cc = g_ptr_array_new_with_free_func((GDestroyNotify)ms_address_free);
	self->bcc = g_ptr_array_new_with_free_func((GDestroyNotify)ms_address_free);
	self->headers = g_ptr_array_new_with_free_func((GDestroyNotify)ms_message_header_free);
	self->attachments =
	    g_ptr_array_new_with_free_func((GDestroyNotify)ms_message_attachment_free);
	/* 122 random bits from a version 4 UUID */
	self->id_left = g_uuid_string_random();
}

MsMessage *
ms_message_new(void)
{
	return g_object_new(MS_TYPE_MESSAGE, NULL);
}
