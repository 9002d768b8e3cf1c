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
	MsAddress *from;     /* nullable */
	MsAddress *reply_to; /* nullable */
	GPtrArray *to;	     /* of MsAddress */
	GPtrArray *cc;	     /* of MsAddress */
	GPtrArray *bcc;	     /* of MsAddress */
	gchar *subject;	     /* nullable, meaning empty */
	gchar *body;	     /* nullable, meaning empty */
	gchar *html;	     /* nullable: no text/html part */
	GPtrArray *attachments;	   /* of MsMessageAttachment */
	gchar *boundary_seed;	   /* nullable: random boundaries */
	guint boundary_counter;	   /* the last boundary made from boundary_seed */
	gchar *boundary_mixed;	   /* nullable until needed, then kept for every rendering */
	gchar *boundary_alternative; /* likewise */
	GPtrArray *headers;  /* of MsMessageHeader */
	GDateTime *date;     /* nullable until the first ms_message_to_bytes() */
	gchar *message_id;   /* nullable: "<id-left@from-domain>" when set for tests */
	gchar *id_left;	     /* random, made once so every rendering has the same Message-ID */
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

/* TRUE if value has to go out as encoded-words: anything but printable ASCII, space and tab;
 * for free text also a run that could not be folded, or something a reader would decode as an
 * encoded-word although the caller meant it literally */
static gboolean
ms_message_needs_encoding(const gchar *value, gboolean is_text)
{
	gsize word = 0;

	for (const gchar *p = value; *p != '\0'; p++) {
		guchar c = (guchar)*p;
		if (c >= 0x7f || (c < 0x20 && c != '\t'))
			return TRUE;
		word = c == ' ' ? 0 : word + 1;
		if (is_text && word > MS_MESSAGE_WORD_MAX)
			return TRUE;
	}
	return is_text && strstr(value, "=?") != NULL;
}

/* the longest run of value without a space */
static gsize
ms_message_longest_word(const gchar *value)
{
	gsize word = 0;
	gsize longest = 0;

	for (const gchar *p = value; *p != '\0'; p++) {
		word = *p == ' ' ? 0 : word + 1;
		longest = MAX(longest, word);
	}
	return longest;
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
	    ms_message_longest_word(value) > MS_MESSAGE_WORD_MAX) {
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

/* appends one word that may not be split; when space_before, the space in front of it becomes
 * a fold if the line would pass 78 columns. Folding only ever replaces a space that was there
 * with CRLF SP, so unfolding gives back exactly what was meant, and a fold is only made in
 * front of a non-empty word so no line is white space alone */
static void
ms_message_fold_word(GString *str, gsize *col, const gchar *word, gsize len, gboolean space_before)
{
	if (space_before) {
		if (len > 0 && *col > 1 && *col + 1 + len > MS_MESSAGE_LINE_SOFT_MAX) {
			g_string_append(str, "\r\n ");
			*col = 1;
		} else {
			g_string_append_c(str, ' ');
			*col += 1;
		}
	}
	g_string_append_len(str, word, len);
	*col += len;
}

/* appends text, folding at its spaces */
static void
ms_message_fold_text(GString *str, gsize *col, const gchar *text, gboolean space_before)
{
	const gchar *p = text;

	for (;;) {
		const gchar *space = strchr(p, ' ');
		gsize len = space != NULL ? (gsize)(space - p) : strlen(p);
		ms_message_fold_word(str, col, p, len, space_before);
		if (space == NULL)
			break;
		space_before = TRUE;
		p = space + 1;
	}
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
			g_autofree gchar *angle = g_strdup_printf("<%s>%s", spec, comma);
			/* to_header() gives "phrase <spec>" */
			g_autofree gchar *phrase =
			    g_strndup(header, strlen(header) - strlen(spec) - 3);
			ms_message_fold_text(str, &col, phrase, FALSE);
			ms_message_fold_word(str, &col, angle, strlen(angle), TRUE);
		} else {
			g_autofree gchar *word = g_strdup_printf("%s%s", spec, comma);
			ms_message_fold_word(str, &col, word, strlen(word), FALSE);
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
		ms_message_fold_text(str, &col, value, FALSE);
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

/* RFC 2045 §2.7: ASCII, no NUL, lines of at most 998 octets; body is already normalized */
static gboolean
ms_message_body_is_7bit(const gchar *body)
{
	gsize line = 0;

	for (const gchar *p = body; *p != '\0'; p++) {
		if ((guchar)*p >= 0x80)
			return FALSE;
		if (*p == '\r' && p[1] == '\n') {
			line = 0;
			p++;
			continue;
		}
		if (++line > MS_MESSAGE_LINE_HARD_MAX)
			return FALSE;
	}
	return TRUE;
}

static void
ms_message_qp_append_line(GString *str, const gchar *line, gsize len)
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
		ms_message_qp_append_line(str, p, len);
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

GBytes *
ms_message_to_bytes(MsMessage *self, GError **error)
{
	const gchar *from_spec;
	g_autofree gchar *date = NULL;
	g_autofree gchar *message_id = NULL;
	g_autofree gchar *body = NULL;
	gboolean body_7bit;
	GString *str;

	g_return_val_if_fail(MS_IS_MESSAGE(self), NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

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
	body = ms_message_normalize_body(self->body != NULL ? self->body : "");
	body_7bit = ms_message_body_is_7bit(body);

	str = g_string_sized_new(1024 + strlen(body));
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
	g_string_append(str, "Content-Type: text/plain; charset=utf-8\r\n");
	g_string_append_printf(str,
			       "Content-Transfer-Encoding: %s\r\n",
			       body_7bit ? "7bit" : "quoted-printable");
	g_string_append(str, "\r\n");
	if (body_7bit) {
		g_string_append(str, body);
	} else {
		g_autofree gchar *qp = ms_message_encode_quoted_printable(body);
		g_string_append(str, qp);
	}
	return g_string_free_to_bytes(str);
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
	/* 122 random bits from a version 4 UUID */
	self->id_left = g_uuid_string_random();
}

MsMessage *
ms_message_new(void)
{
	return g_object_new(MS_TYPE_MESSAGE, NULL);
}
