#define G_LOG_DOMAIN "MsRawMessage"

#include "config.h"

#include <string.h>

#include "ms-address.h"
#include "ms-message.h"
#include "ms-raw-body.h"
#include "ms-raw-message.h"

/* RFC 5322 §2.1.1, not counting the CRLF */
#define MS_RAW_MESSAGE_LINE_MAX 998
/* the output is built in a GByteArray, whose length is a guint */
#define MS_RAW_MESSAGE_SIZE_MAX ((gsize)G_MAXUINT / 2)

typedef struct {
	gsize start;	/* offset of the field name */
	gsize end;	/* offset just past the line end of the field's last line */
	gsize name_len; /* the name, without the ':' */
	guint line;	/* number of the field's first line, for error messages */
} MsRawMessageField;

struct _MsRawMessage {
	GBytes *input;
	const guint8 *data;
	gsize len;	       /* what is used of data: with DOT_ENDS, up to the '.' line */
	GArray *fields;	       /* MsRawMessageField, in the order of the input */
	gsize body_start;      /* len when there is no body */
	gsize extra;	       /* octets that turning every line end into CRLF adds */
	GPtrArray *recipients; /* addr-specs from To, Cc and Bcc */
	gchar *from;	       /* nullable: the addr-spec of the From field */
	GDateTime *date;       /* nullable: set for tests */
	gchar *message_id;     /* nullable: set for tests */
	gboolean replace_from; /* From and Sender fields are dropped, default_from is used */
};

static void
ms_raw_message_set_invalid(GError **error, const gchar *format, ...) G_GNUC_PRINTF(2, 3);

static void
ms_raw_message_set_invalid(GError **error, const gchar *format, ...)
{
	va_list args;

	va_start(args, format);
	g_propagate_error(
	    error,
	    g_error_new_valist(G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, format, args));
	va_end(args);
}

/* finds the end of the line that starts at pos: returns the offset of its line end (len at the
 * end of the input) and sets eol_len to 2 for CRLF, 1 for a bare CR or LF, 0 for none. One
 * plain loop for both characters, so the work is the length of the line even when bare CRs and
 * LFs alternate (two memchr() calls would each look far past a short line), and only the first
 * MS_RAW_MESSAGE_LINE_MAX + 2 octets are searched, as a longer line is refused anyway. When
 * there is no line end in that window, the returned length is over MS_RAW_MESSAGE_LINE_MAX,
 * which the caller must check before anything else */
static gsize
ms_raw_message_find_eol(const guint8 *data, gsize len, gsize pos, gsize *eol_len)
{
	gsize limit = pos + MIN(len - pos, MS_RAW_MESSAGE_LINE_MAX + 2);

	for (gsize i = pos; i < limit; i++) {
		if (data[i] == '\n') {
			*eol_len = 1;
			return i;
		}
		if (data[i] == '\r') {
			*eol_len = i + 1 < len && data[i + 1] == '\n' ? 2 : 1;
			return i;
		}
	}
	*eol_len = 0;
	return limit;
}

/* sendmail without -i: the message ends in front of the first line that is a single '.' */
static gsize
ms_raw_message_find_dot_end(const guint8 *data, gsize len)
{
	for (gsize pos = 0; pos < len;) {
		const guint8 *dot = memchr(data + pos, '.', len - pos);
		gsize at;

		if (dot == NULL)
			break;
		at = dot - data;
		if ((at == 0 || data[at - 1] == '\n' || data[at - 1] == '\r') &&
		    (at + 1 == len || data[at + 1] == '\n' || data[at + 1] == '\r'))
			return at;
		pos = at + 1;
	}
	return len;
}

/* RFC 5322 §3.6.8 ftext: printable US-ASCII except ':' */
static gboolean
ms_raw_message_is_ftext(guint8 c)
{
	return c >= 33 && c <= 126 && c != ':';
}

static gboolean
ms_raw_message_field_is(MsRawMessage *self, const MsRawMessageField *field, const gchar *name)
{
	return field->name_len == strlen(name) &&
	       g_ascii_strncasecmp((const gchar *)self->data + field->start,
				   name,
				   field->name_len) == 0;
}

static gboolean
ms_raw_message_has_field(MsRawMessage *self, const gchar *name)
{
	for (guint i = 0; i < self->fields->len; i++) {
		if (ms_raw_message_field_is(self,
					    &g_array_index(self->fields, MsRawMessageField, i),
					    name))
			return TRUE;
	}
	return FALSE;
}

static void
ms_raw_message_set_line_too_long(GError **error, guint line)
{
	ms_raw_message_set_invalid(error,
				   "line %u is longer than 998 octets: a raw message is sent as "
				   "it is, so long lines must be folded or encoded by the sender",
				   line);
}

/* a line in the header block that is not empty, not a continuation and not "name: value" */
static void
ms_raw_message_set_not_a_field(GError **error, const guint8 *text, gsize len, guint line)
{
	gboolean has_colon = memchr(text, ':', len) != NULL;

	if (line == 1) {
		ms_raw_message_set_invalid(error,
					   "line 1 is not a header field: %s",
					   has_colon
					       ? "the field name before ':' must be printable "
						 "ASCII without spaces"
					       : "a message starts with header fields such as "
						 "'Subject: …'");
		return;
	}
	if (has_colon) {
		ms_raw_message_set_invalid(error,
					   "line %u is not a valid header field: the field name "
					   "before ':' must be printable ASCII without spaces",
					   line);
		return;
	}
	ms_raw_message_set_invalid(error,
				   "line %u is neither a header field nor the empty line that "
				   "must separate the header fields from the body",
				   line);
}

/* reads the header block up to the empty line (or the end of the input right after a line
 * end); *line is left at the number of the first body line */
static gboolean
ms_raw_message_parse_headers(MsRawMessage *self, guint *line, GError **error)
{
	const guint8 *data = self->data;
	gsize pos = 0;

	for (;;) {
		gsize eol_len = 0;
		gsize end;
		gsize line_len;

		/* the input ended right after a field's line end: a message without a body */
		if (pos == self->len) {
			self->body_start = pos;
			return TRUE;
		}
		end = ms_raw_message_find_eol(data, self->len, pos, &eol_len);
		line_len = end - pos;
		if (line_len > MS_RAW_MESSAGE_LINE_MAX) {
			ms_raw_message_set_line_too_long(error, *line);
			return FALSE;
		}

		/* the separator */
		if (line_len == 0) {
			if (*line == 1) {
				ms_raw_message_set_invalid(
				    error,
				    "line 1 is not a header field: it is "
				    "empty, but a message starts with header "
				    "fields such as 'Subject: …'");
				return FALSE;
			}
			if (eol_len == 1)
				self->extra++;
			self->body_start = end + eol_len;
			(*line)++;
			return TRUE;
		}

		if (data[pos] == ' ' || data[pos] == '\t') {
			/* a continuation line belongs to the field before it */
			if (*line == 1) {
				ms_raw_message_set_invalid(
				    error,
				    "line 1 is not a header field: it starts "
				    "with white space");
				return FALSE;
			}
			g_array_index(self->fields, MsRawMessageField, self->fields->len - 1).end =
			    end + eol_len;
		} else {
			MsRawMessageField field = {.start = pos, .line = *line};

			while (field.name_len < line_len &&
			       ms_raw_message_is_ftext(data[pos + field.name_len]))
				field.name_len++;
			if (field.name_len == 0 || field.name_len == line_len ||
			    data[pos + field.name_len] != ':') {
				ms_raw_message_set_not_a_field(error, data + pos, line_len, *line);
				return FALSE;
			}
			field.end = end + eol_len;
			g_array_append_val(self->fields, field);
		}

		/* RFC 6532 allows UTF-8 in header fields, but nothing else that is not ASCII */
		if (!g_utf8_validate_len((const gchar *)data + pos, line_len, NULL)) {
			ms_raw_message_set_invalid(error,
						   "line %u: the header field is not valid UTF-8",
						   *line);
			return FALSE;
		}
		if (eol_len == 0) {
			ms_raw_message_set_invalid(error,
						   "the message ends inside the header field on "
						   "line %u: it may have been cut short",
						   *line);
			return FALSE;
		}
		if (eol_len == 1)
			self->extra++;
		pos = end + eol_len;
		(*line)++;
	}
}

/* the body is not parsed, only checked and measured for the output, by the same rules that
 * SendRawFd streams a large body with (MsRawBody; the '.' line was cut off already) */
static gboolean
ms_raw_message_parse_body(MsRawMessage *self, guint line, GError **error)
{
	MsRawBody body;

	ms_raw_body_init(&body, MS_RAW_MESSAGE_FLAG_NONE, line, self->body_start);
	if (!ms_raw_body_feed(&body,
			      self->data + self->body_start,
			      self->len - self->body_start,
			      NULL,
			      error))
		return FALSE;
	ms_raw_body_finish(&body, NULL);
	self->extra += ms_raw_body_get_written(&body) - (self->len - self->body_start);
	return TRUE;
}

/* the value of a field as one line: unfolded (RFC 5322 §3.2.2) by dropping the line ends, tabs
 * as spaces so that ms_address_parse() does not take them for control characters */
static gchar *
ms_raw_message_field_value(MsRawMessage *self, const MsRawMessageField *field)
{
	GString *str = g_string_sized_new(field->end - field->start);

	for (gsize i = field->start + field->name_len + 1; i < field->end; i++) {
		gchar c = (gchar)self->data[i];
		if (c == '\r' || c == '\n')
			continue;
		g_string_append_c(str, c == '\t' ? ' ' : c);
	}
	return g_string_free(str, FALSE);
}

static void
ms_raw_message_flush_address(GPtrArray *parts, GString *cur)
{
	g_autofree gchar *part = g_strstrip(g_strdup(cur->str));

	if (part[0] != '\0')
		g_ptr_array_add(parts, g_steal_pointer(&part));
	g_string_truncate(cur, 0);
}

/* splits an address-list (RFC 5322 §3.4) into the texts of its mailboxes: ',' and the ';' that
 * closes a group separate them, a group's display name and its ':' are dropped, comments become
 * a space; none of these count inside a quoted-string, and ',', ';' and ':' do not count inside
 * angle brackets either. The pieces are trimmed and empty ones left out, so
 * "undisclosed-recipients:;" gives none; ms_address_parse() checks them */
static GPtrArray *
ms_raw_message_split_addresses(const gchar *value)
{
	GPtrArray *parts = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GString) cur = g_string_new(NULL);
	gboolean in_quote = FALSE;
	gboolean in_angle = FALSE;
	guint comment = 0;

	for (const gchar *p = value; *p != '\0'; p++) {
		if (comment > 0) {
			if (*p == '\\' && p[1] != '\0')
				p++;
			else if (*p == '(')
				comment++;
			else if (*p == ')')
				comment--;
			continue;
		}
		if (in_quote) {
			if (*p == '\\' && p[1] != '\0') {
				g_string_append_c(cur, *p);
				p++;
			} else if (*p == '"') {
				in_quote = FALSE;
			}
			g_string_append_c(cur, *p);
			continue;
		}
		if (*p == '(') {
			comment = 1;
			g_string_append_c(cur, ' ');
			continue;
		}
		if (!in_angle && *p == ':') {
			/* a group: what came before is its display name */
			g_string_truncate(cur, 0);
			continue;
		}
		if (!in_angle && (*p == ',' || *p == ';')) {
			ms_raw_message_flush_address(parts, cur);
			continue;
		}
		if (*p == '"')
			in_quote = TRUE;
		else if (*p == '<')
			in_angle = TRUE;
		else if (*p == '>')
			in_angle = FALSE;
		g_string_append_c(cur, *p);
	}
	ms_raw_message_flush_address(parts, cur);
	return parts;
}

static gboolean
ms_raw_message_collect_recipients(MsRawMessage *self, gboolean strict, GError **error)
{
	const gchar *names[] = {"To", "Cc", "Bcc"};
	gboolean found_field = FALSE;
	g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

	for (guint n = 0; n < G_N_ELEMENTS(names); n++) {
		for (guint i = 0; i < self->fields->len; i++) {
			const MsRawMessageField *field =
			    &g_array_index(self->fields, MsRawMessageField, i);
			g_autofree gchar *value = NULL;
			g_autoptr(GPtrArray) parts = NULL;

			if (!ms_raw_message_field_is(self, field, names[n]))
				continue;
			found_field = TRUE;
			value = ms_raw_message_field_value(self, field);
			parts = ms_raw_message_split_addresses(value);
			for (guint j = 0; j < parts->len; j++) {
				g_autoptr(GError) error_local = NULL;
				g_autoptr(MsAddress) address =
				    ms_address_parse(g_ptr_array_index(parts, j), &error_local);
				const gchar *spec;

				if (address == NULL) {
					/* without -t the headers are only text */
					if (!strict)
						continue;
					ms_raw_message_set_invalid(error,
								   "line %u: the %s field: %s",
								   field->line,
								   names[n],
								   error_local->message);
					return FALSE;
				}
				spec = ms_address_get_addr_spec(address);
				if (!g_hash_table_add(seen, g_ascii_strdown(spec, -1)))
					continue;
				g_ptr_array_add(self->recipients, g_strdup(spec));
			}
		}
	}
	if (strict && self->recipients->len == 0) {
		ms_raw_message_set_invalid(error,
					   found_field ? "no recipient: the To, Cc and Bcc header "
							 "fields hold no address"
						       : "no recipient: the message has no To, Cc "
							 "or Bcc header");
		return FALSE;
	}
	return TRUE;
}

/* the first valid mailbox of the first From field */
static gchar *
ms_raw_message_find_from(MsRawMessage *self)
{
	for (guint i = 0; i < self->fields->len; i++) {
		const MsRawMessageField *field = &g_array_index(self->fields, MsRawMessageField, i);
		g_autofree gchar *value = NULL;
		g_autoptr(GPtrArray) parts = NULL;

		if (!ms_raw_message_field_is(self, field, "From"))
			continue;
		value = ms_raw_message_field_value(self, field);
		parts = ms_raw_message_split_addresses(value);
		for (guint j = 0; j < parts->len; j++) {
			g_autoptr(MsAddress) address =
			    ms_address_parse(g_ptr_array_index(parts, j), NULL);
			if (address != NULL)
				return g_strdup(ms_address_get_addr_spec(address));
		}
		return NULL;
	}
	return NULL;
}

MsRawMessage *
ms_raw_message_parse(GBytes *input, MsRawMessageFlags flags, GError **error)
{
	g_autoptr(MsRawMessage) self = NULL;
	const guint8 *nul;
	guint line = 1;

	g_return_val_if_fail(input != NULL, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	self = g_new0(MsRawMessage, 1);
	self->input = g_bytes_ref(input);
	self->data = g_bytes_get_data(input, &self->len);
	self->fields = g_array_new(FALSE, FALSE, sizeof(MsRawMessageField));
	self->recipients = g_ptr_array_new_with_free_func(g_free);

	if ((flags & MS_RAW_MESSAGE_FLAG_DOT_ENDS) != 0 && self->len > 0)
		self->len = ms_raw_message_find_dot_end(self->data, self->len);
	if (self->len == 0) {
		ms_raw_message_set_invalid(error, "the message is empty");
		return NULL;
	}
	if (self->len > MS_RAW_MESSAGE_SIZE_MAX) {
		ms_raw_message_set_invalid(error, "the message is larger than 2 GiB");
		return NULL;
	}
	nul = memchr(self->data, '\0', self->len);
	if (nul != NULL) {
		ms_raw_message_set_invalid(
		    error,
		    "the message contains NUL bytes at offset %" G_GSIZE_FORMAT,
		    (gsize)(nul - self->data));
		return NULL;
	}
	if (!ms_raw_message_parse_headers(self, &line, error))
		return NULL;
	if (!ms_raw_message_parse_body(self, line, error))
		return NULL;
	if (!ms_raw_message_collect_recipients(self,
					       (flags & MS_RAW_MESSAGE_FLAG_EXTRACT_RECIPIENTS) !=
						   0,
					       error))
		return NULL;
	self->from = ms_raw_message_find_from(self);
	return g_steal_pointer(&self);
}

gsize
ms_raw_message_find_body_start(const guint8 *data, gsize len, guint *body_line)
{
	guint line = 1;

	g_return_val_if_fail(data != NULL || len == 0, 0);

	for (gsize pos = 0; pos < len; line++) {
		gsize eol_len = 0;
		gsize end = ms_raw_message_find_eol(data, len, pos, &eol_len);

		if (eol_len == 0 || end - pos > MS_RAW_MESSAGE_LINE_MAX)
			return 0;
		if (data[end] == '\r' && eol_len == 1 && end + 1 == len)
			return 0;
		if (end == pos) {
			if (body_line != NULL)
				*body_line = line + 1;
			return end + eol_len;
		}
		pos = end + eol_len;
	}
	return 0;
}

gsize
ms_raw_message_find_dot_line(const guint8 *data, gsize len)
{
	gsize at;

	g_return_val_if_fail(data != NULL || len == 0, len);
	at = ms_raw_message_find_dot_end(data, len);
	/* a '.' as the last octet may be the start of a longer line */
	return at + 1 < len ? at : len;
}

GPtrArray *
ms_raw_message_get_header_recipients(MsRawMessage *self)
{
	GPtrArray *recipients;

	g_return_val_if_fail(self != NULL, NULL);

	recipients = g_ptr_array_new_full(self->recipients->len, g_free);
	for (guint i = 0; i < self->recipients->len; i++)
		g_ptr_array_add(recipients, g_strdup(g_ptr_array_index(self->recipients, i)));
	return recipients;
}

const gchar *
ms_raw_message_get_from(MsRawMessage *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return self->from;
}

void
ms_raw_message_set_date(MsRawMessage *self, GDateTime *date)
{
	g_return_if_fail(self != NULL);

	g_clear_pointer(&self->date, g_date_time_unref);
	if (date != NULL)
		self->date = g_date_time_ref(date);
}

void
ms_raw_message_set_message_id(MsRawMessage *self, const gchar *message_id)
{
	g_return_if_fail(self != NULL);
	g_return_if_fail(message_id == NULL || strpbrk(message_id, "\r\n") == NULL);

	g_clear_pointer(&self->message_id, g_free);
	if (message_id == NULL)
		return;
	if (message_id[0] == '<')
		self->message_id = g_strdup(message_id);
	else
		self->message_id = g_strdup_printf("<%s>", message_id);
}

/* copies len octets into out at *n; out was sized from the parser's count, so it only grows if
 * that count were wrong, and a miscount can never write past its end */
static void
ms_raw_message_write(GByteArray *out, gsize *n, const guint8 *data, gsize len)
{
	if (*n + len > out->len)
		g_byte_array_set_size(out, (guint)(*n + len));
	memcpy(out->data + *n, data, len);
	*n += len;
}

/* copies [start, end) into out at *n with every line end as CRLF, and a CRLF after a last line
 * without one; the parser checked the lines, so each search ends at a line end. Writing into
 * the preallocated array instead of appending keeps 50 MiB of short lines fast */
static void
ms_raw_message_write_normalized(GByteArray *out,
				gsize *n,
				const guint8 *data,
				gsize start,
				gsize end)
{
	for (gsize pos = start; pos < end;) {
		gsize eol_len = 0;
		gsize eol = ms_raw_message_find_eol(data, end, pos, &eol_len);

		ms_raw_message_write(out, n, data + pos, eol - pos);
		ms_raw_message_write(out, n, (const guint8 *)"\r\n", 2);
		pos = eol + eol_len;
	}
}

/* the fields the message lacks, each with its CRLF */
static gboolean
ms_raw_message_missing_fields(MsRawMessage *self,
			      const gchar *default_from,
			      GString *str,
			      GError **error)
{
	gboolean has_from = !self->replace_from && ms_raw_message_has_field(self, "From");
	const gchar *from = self->replace_from ? NULL : self->from;
	g_autoptr(MsAddress) sender = NULL;
	const gchar *domain = "localhost";

	/* the default sender is only needed for a missing From or a Message-ID's domain */
	if (default_from != NULL && (!has_from || from == NULL)) {
		g_autoptr(GError) error_local = NULL;
		sender = ms_address_parse(default_from, &error_local);
		if (sender == NULL && !has_from) {
			ms_raw_message_set_invalid(error,
						   "the message has no From header field and the "
						   "default sender is not valid: %s",
						   error_local->message);
			return FALSE;
		}
	}

	if (!has_from) {
		g_autofree gchar *header = NULL;
		if (sender == NULL) {
			ms_raw_message_set_invalid(error,
						   "the message has no From header field and no "
						   "default sender was given");
			return FALSE;
		}
		header = ms_address_to_header(sender);
		if (strlen("From: ") + strlen(header) > MS_RAW_MESSAGE_LINE_MAX) {
			ms_raw_message_set_invalid(error,
						   "the message has no From header field and the "
						   "default sender is too long for one");
			return FALSE;
		}
		g_string_append_printf(str, "From: %s\r\n", header);
	}

	if (!ms_raw_message_has_field(self, "Date")) {
		g_autoptr(GDateTime) now = NULL;
		g_autofree gchar *date = NULL;
		if (self->date == NULL)
			now = g_date_time_new_now_local();
		date = ms_message_format_date(self->date != NULL ? self->date : now);
		g_string_append_printf(str, "Date: %s\r\n", date);
	}

	if (!ms_raw_message_has_field(self, "Message-ID")) {
		if (self->message_id != NULL) {
			g_string_append_printf(str, "Message-ID: %s\r\n", self->message_id);
		} else {
			g_autofree gchar *uuid = g_uuid_string_random();
			if (from != NULL)
				domain = strrchr(from, '@') + 1;
			else if (sender != NULL)
				domain = strrchr(ms_address_get_addr_spec(sender), '@') + 1;
			g_string_append_printf(str, "Message-ID: <%s@%s>\r\n", uuid, domain);
		}
	}
	return TRUE;
}

GBytes *
ms_raw_message_to_bytes(MsRawMessage *self, const gchar *default_from, GError **error)
{
	g_autoptr(GString) missing = g_string_new(NULL);
	g_autoptr(GByteArray) out = NULL;
	MsRawBody body;
	guint size;
	gsize n = 0;

	g_return_val_if_fail(self != NULL, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	if (!ms_raw_message_missing_fields(self, default_from, missing, error))
		return NULL;

	/* allocated once: Bcc fields only make it smaller, the separator may be added; the parser
	 * refused inputs over MS_RAW_MESSAGE_SIZE_MAX, so this fits in a guint */
	size = (guint)(self->len + self->extra + missing->len + 2);
	out = g_byte_array_sized_new(size);
	g_byte_array_set_size(out, size);
	for (guint i = 0; i < self->fields->len; i++) {
		const MsRawMessageField *field = &g_array_index(self->fields, MsRawMessageField, i);

		/* with its continuation lines */
		if (ms_raw_message_field_is(self, field, "Bcc"))
			continue;
		if (self->replace_from && (ms_raw_message_field_is(self, field, "From") ||
					   ms_raw_message_field_is(self, field, "Sender")))
			continue;
		ms_raw_message_write_normalized(out, &n, self->data, field->start, field->end);
	}
	ms_raw_message_write(out, &n, (const guint8 *)missing->str, missing->len);
	ms_raw_message_write(out, &n, (const guint8 *)"\r\n", 2);
	/* the body appended into the room left for it; the parser checked it already */
	g_byte_array_set_size(out, n);
	ms_raw_body_init(&body, MS_RAW_MESSAGE_FLAG_NONE, 1, self->body_start);
	ms_raw_body_feed(&body,
			 self->data + self->body_start,
			 self->len - self->body_start,
			 out,
			 NULL);
	ms_raw_body_finish(&body, out);
	return g_byte_array_free_to_bytes(g_steal_pointer(&out));
}

void
ms_raw_message_replace_from(MsRawMessage *self)
{
	g_return_if_fail(self != NULL);
	self->replace_from = TRUE;
}

void
ms_raw_message_free(MsRawMessage *self)
{
	if (self == NULL)
		return;
	g_bytes_unref(self->input);
	g_array_unref(self->fields);
	g_ptr_array_unref(self->recipients);
	g_free(self->from);
	g_clear_pointer(&self->date, g_date_time_unref);
	g_free(self->message_id);
	g_free(self);
}
