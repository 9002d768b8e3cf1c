#define G_LOG_DOMAIN "MsMimeDowngrade"

#include "config.h"

#include <string.h>

#include "ms-message.h"
#include "ms-mime-downgrade.h"

/* a line is looked at whole up to this length: longer ones cannot be boundary delimiters (a
 * boundary has at most 70 chars, RFC 2046 §5.1.1) and are passed on, or encoded, in pieces */
#define MS_MIME_DOWNGRADE_LINE_MAX 4096
/* a header block is collected whole to find its Content-* fields, up to this size; a longer
 * one is passed through unchanged and its part is left as it is */
#define MS_MIME_DOWNGRADE_HEADERS_MAX (64 * 1024)
/* no more input is taken while this much output waits for the caller */
#define MS_MIME_DOWNGRADE_PENDING_MAX (64 * 1024)

typedef enum {
	MS_MIME_DOWNGRADE_STATE_HEADERS,      /* collecting a header block */
	MS_MIME_DOWNGRADE_STATE_HEADERS_PASS, /* a header block over the cap, passed through */
	MS_MIME_DOWNGRADE_STATE_BODY,	      /* a body, preamble or epilogue, passed through */
	MS_MIME_DOWNGRADE_STATE_BODY_QP,      /* an 8bit body, re-encoded */
} MsMimeDowngradeState;

typedef struct {
	gchar *boundary;
	gboolean digest; /* multipart/digest: parts are message/rfc822 by default */
} MsMimeDowngradeMultipart;

struct _MsMimeDowngrade {
	GObject parent_instance;
	MsMimeDowngradeState state;
	GPtrArray *multiparts; /* of MsMimeDowngradeMultipart, the innermost last */
	gboolean headers_in_digest;
	GByteArray *headers;
	GByteArray *line;
	gboolean line_continued; /* part of the current line has been handled already */
	GString *pending;	 /* output not yet handed out */
	gsize pending_pos;
	gboolean input_done;
};

static void
ms_mime_downgrade_converter_iface_init(GConverterIface *iface);

G_DEFINE_TYPE_WITH_CODE(MsMimeDowngrade,
			ms_mime_downgrade,
			G_TYPE_OBJECT,
			G_IMPLEMENT_INTERFACE(G_TYPE_CONVERTER,
					      ms_mime_downgrade_converter_iface_init))

static void
ms_mime_downgrade_multipart_free(MsMimeDowngradeMultipart *multipart)
{
	g_free(multipart->boundary);
	g_free(multipart);
}

static gboolean
ms_mime_downgrade_is_wsp(gchar c)
{
	return c == ' ' || c == '\t';
}

static void
ms_mime_downgrade_emit(MsMimeDowngrade *self, const guint8 *data, gsize len)
{
	g_string_append_len(self->pending, (const gchar *)data, len);
}

/* the length of a line without its line end: LF, or CRLF */
static gsize
ms_mime_downgrade_content_len(const guint8 *line, gsize len, gboolean complete)
{
	if (!complete)
		return len;
	len--;
	if (len > 0 && line[len - 1] == '\r')
		len--;
	return len;
}

/* RFC 2046 §5.1.1: "--" boundary, "--" too for the close delimiter, then optional white space;
 * the innermost boundary is tried first; returns the index of the multipart, or -1 */
static gint
ms_mime_downgrade_find_delimiter(MsMimeDowngrade *self,
				 const guint8 *line,
				 gsize len,
				 gboolean *is_close)
{
	if (len < 2 || line[0] != '-' || line[1] != '-')
		return -1;
	for (guint i = self->multiparts->len; i > 0; i--) {
		MsMimeDowngradeMultipart *multipart = g_ptr_array_index(self->multiparts, i - 1);
		gsize blen = strlen(multipart->boundary);
		gsize pos = 2 + blen;
		gboolean close = FALSE;

		if (len < pos || memcmp(line + 2, multipart->boundary, blen) != 0)
			continue;
		if (pos + 2 <= len && line[pos] == '-' && line[pos + 1] == '-') {
			close = TRUE;
			pos += 2;
		}
		while (pos < len && ms_mime_downgrade_is_wsp((gchar)line[pos]))
			pos++;
		if (pos != len)
			continue;
		*is_close = close;
		return (gint)(i - 1);
	}
	return -1;
}

/* the value of a header field with its folding removed (RFC 5322 §2.2.3) and without the
 * white space around it */
static gchar *
ms_mime_downgrade_unfold(const guint8 *value, gsize len)
{
	GString *str = g_string_sized_new(len);

	for (gsize i = 0; i < len; i++) {
		if (value[i] == '\r' || value[i] == '\n')
			continue;
		g_string_append_c(str, (gchar)value[i]);
	}
	return g_strstrip(g_string_free(str, FALSE));
}

/* the boundary parameter of a Content-Type value (RFC 2045 §5.1), a token or a quoted-string,
 * or NULL; the parameter name is case-insensitive */
static gchar *
ms_mime_downgrade_parse_boundary(const gchar *params)
{
	const gchar *p = params;

	while (*p != '\0') {
		g_autofree gchar *name = NULL;
		g_autoptr(GString) value = g_string_new(NULL);
		const gchar *start;

		/* to the next parameter, skipping quoted-strings on the way */
		while (*p != '\0' && *p != ';') {
			if (*p == '"') {
				p++;
				while (*p != '\0' && *p != '"') {
					if (*p == '\\' && p[1] != '\0')
						p++;
					p++;
				}
				if (*p == '\0')
					break;
			}
			p++;
		}
		if (*p == '\0')
			break;
		p++;
		while (ms_mime_downgrade_is_wsp(*p))
			p++;
		start = p;
		while (*p != '\0' && *p != '=' && *p != ';' && !ms_mime_downgrade_is_wsp(*p))
			p++;
		name = g_strndup(start, p - start);
		while (ms_mime_downgrade_is_wsp(*p))
			p++;
		if (*p != '=')
			continue;
		p++;
		while (ms_mime_downgrade_is_wsp(*p))
			p++;
		if (*p == '"') {
			p++;
			while (*p != '\0' && *p != '"') {
				if (*p == '\\' && p[1] != '\0')
					p++;
				g_string_append_c(value, *p);
				p++;
			}
		} else {
			while (*p != '\0' && *p != ';' && !ms_mime_downgrade_is_wsp(*p)) {
				g_string_append_c(value, *p);
				p++;
			}
		}
		if (g_ascii_strcasecmp(name, "boundary") == 0 && value->len > 0)
			return g_string_free(g_steal_pointer(&value), FALSE);
	}
	return NULL;
}

/* whether a Content-Type value starts with type "/" subtype, case-insensitively */
static gboolean
ms_mime_downgrade_type_is(const gchar *value, const gchar *type, const gchar *subtype)
{
	gsize tlen = strlen(type);
	const gchar *p;

	if (g_ascii_strncasecmp(value, type, tlen) != 0)
		return FALSE;
	p = value + tlen;
	while (ms_mime_downgrade_is_wsp(*p))
		p++;
	if (*p != '/')
		return FALSE;
	p++;
	while (ms_mime_downgrade_is_wsp(*p))
		p++;
	if (subtype == NULL)
		return TRUE;
	if (g_ascii_strncasecmp(p, subtype, strlen(subtype)) != 0)
		return FALSE;
	p += strlen(subtype);
	return *p == '\0' || *p == ';' || ms_mime_downgrade_is_wsp(*p) || *p == '(';
}

/* a whole header block, its empty line included: decides how its body goes out */
static void
ms_mime_downgrade_end_headers(MsMimeDowngrade *self)
{
	const guint8 *data = self->headers->data;
	gsize len = self->headers->len;
	gsize cte_start = 0;
	gsize cte_end = 0;
	g_autofree gchar *content_type = NULL;
	g_autofree gchar *cte = NULL;
	gsize pos = 0;

	/* split into fields: a field goes on over the lines that start with white space */
	while (pos < len) {
		gsize start = pos;
		gsize colon = 0;
		gsize value_start;

		do {
			const guint8 *lf = memchr(data + pos, '\n', len - pos);
			pos = lf != NULL ? (gsize)(lf - data) + 1 : len;
		} while (pos < len && ms_mime_downgrade_is_wsp((gchar)data[pos]));

		while (start + colon < pos && data[start + colon] != ':')
			colon++;
		if (start + colon == pos)
			continue;
		value_start = start + colon + 1;
		/* RFC 5322 §4.5: obsolete syntax allows white space before the colon */
		while (colon > 0 && ms_mime_downgrade_is_wsp((gchar)data[start + colon - 1]))
			colon--;
		if (content_type == NULL && colon == strlen("Content-Type") &&
		    g_ascii_strncasecmp((const gchar *)data + start, "Content-Type", colon) == 0) {
			content_type =
			    ms_mime_downgrade_unfold(data + value_start, pos - value_start);
		} else if (cte == NULL && colon == strlen("Content-Transfer-Encoding") &&
			   g_ascii_strncasecmp((const gchar *)data + start,
					       "Content-Transfer-Encoding",
					       colon) == 0) {
			cte = ms_mime_downgrade_unfold(data + value_start, pos - value_start);
			cte_start = start;
			cte_end = pos;
		}
	}

	/* no Content-Type is text/plain, except in a digest (RFC 2046 §5.1.5) */
	if (content_type == NULL && self->headers_in_digest)
		content_type = g_strdup("message/rfc822");
	self->headers_in_digest = FALSE;

	if (content_type != NULL && ms_mime_downgrade_type_is(content_type, "multipart", NULL)) {
		g_autofree gchar *boundary = ms_mime_downgrade_parse_boundary(content_type);

		/* without a boundary its parts cannot be found: it all goes through as it is */
		if (boundary != NULL) {
			MsMimeDowngradeMultipart *multipart = g_new0(MsMimeDowngradeMultipart, 1);
			multipart->boundary = g_steal_pointer(&boundary);
			multipart->digest =
			    ms_mime_downgrade_type_is(content_type, "multipart", "digest");
			g_ptr_array_add(self->multiparts, multipart);
		}
		ms_mime_downgrade_emit(self, data, len);
		self->state = MS_MIME_DOWNGRADE_STATE_BODY;
	} else if (content_type != NULL &&
		   ms_mime_downgrade_type_is(content_type, "message", "rfc822") &&
		   (cte == NULL || g_ascii_strcasecmp(cte, "7bit") == 0 ||
		    g_ascii_strcasecmp(cte, "8bit") == 0 ||
		    g_ascii_strcasecmp(cte, "binary") == 0)) {
		/* RFC 2046 §5.2.1: an attached message may not be encoded as a whole, but the
		 * parts of the message in it can be; it ends where the enclosing part ends */
		ms_mime_downgrade_emit(self, data, len);
		self->state = MS_MIME_DOWNGRADE_STATE_HEADERS;
	} else if (cte != NULL && g_ascii_strcasecmp(cte, "8bit") == 0) {
		ms_mime_downgrade_emit(self, data, cte_start);
		g_string_append(self->pending, "Content-Transfer-Encoding: quoted-printable\r\n");
		ms_mime_downgrade_emit(self, data + cte_end, len - cte_end);
		self->state = MS_MIME_DOWNGRADE_STATE_BODY_QP;
	} else {
		ms_mime_downgrade_emit(self, data, len);
		self->state = MS_MIME_DOWNGRADE_STATE_BODY;
	}
	g_byte_array_set_size(self->headers, 0);
}

/* a header block too large to collect, or cut short: it goes out as it is */
static void
ms_mime_downgrade_flush_headers(MsMimeDowngrade *self)
{
	ms_mime_downgrade_emit(self, self->headers->data, self->headers->len);
	g_byte_array_set_size(self->headers, 0);
	self->headers_in_digest = FALSE;
}

static void
ms_mime_downgrade_delimiter(MsMimeDowngrade *self, guint index, gboolean is_close)
{
	MsMimeDowngradeMultipart *multipart = g_ptr_array_index(self->multiparts, index);

	if (self->state == MS_MIME_DOWNGRADE_STATE_HEADERS)
		ms_mime_downgrade_flush_headers(self);

	/* a delimiter of an outer multipart ends the inner ones too */
	if (is_close) {
		g_ptr_array_set_size(self->multiparts, index);
		self->state = MS_MIME_DOWNGRADE_STATE_BODY;
	} else {
		self->headers_in_digest = multipart->digest;
		g_ptr_array_set_size(self->multiparts, index + 1);
		self->state = MS_MIME_DOWNGRADE_STATE_HEADERS;
	}
}

/* the current line, ended by LF when complete, or the last line of the input when not */
static void
ms_mime_downgrade_handle_line(MsMimeDowngrade *self, gboolean complete)
{
	const guint8 *data = self->line->data;
	gsize len = self->line->len;
	gsize content_len = ms_mime_downgrade_content_len(data, len, complete);

	if (!self->line_continued && self->multiparts->len > 0) {
		gboolean is_close = FALSE;
		gint index = ms_mime_downgrade_find_delimiter(self, data, content_len, &is_close);

		if (index >= 0) {
			ms_mime_downgrade_delimiter(self, (guint)index, is_close);
			ms_mime_downgrade_emit(self, data, len);
			g_byte_array_set_size(self->line, 0);
			return;
		}
	}

	switch (self->state) {
	case MS_MIME_DOWNGRADE_STATE_HEADERS:
		g_byte_array_append(self->headers, data, len);
		if (!complete) {
			ms_mime_downgrade_flush_headers(self);
		} else if (!self->line_continued && content_len == 0) {
			ms_mime_downgrade_end_headers(self);
		} else if (self->headers->len > MS_MIME_DOWNGRADE_HEADERS_MAX) {
			/* the rest of the block and its body go through as they are */
			ms_mime_downgrade_flush_headers(self);
			self->state = MS_MIME_DOWNGRADE_STATE_HEADERS_PASS;
		}
		break;
	case MS_MIME_DOWNGRADE_STATE_HEADERS_PASS:
		ms_mime_downgrade_emit(self, data, len);
		if (complete && !self->line_continued && content_len == 0)
			self->state = MS_MIME_DOWNGRADE_STATE_BODY;
		break;
	case MS_MIME_DOWNGRADE_STATE_BODY:
		ms_mime_downgrade_emit(self, data, len);
		break;
	case MS_MIME_DOWNGRADE_STATE_BODY_QP:
		ms_message_append_quoted_printable_line(self->pending,
							(const gchar *)data,
							content_len);
		/* a bare LF is a line end too; quoted-printable lines end in CRLF */
		if (complete)
			g_string_append(self->pending, "\r\n");
		break;
	default:
		g_assert_not_reached();
	}
	g_byte_array_set_size(self->line, 0);
	self->line_continued = FALSE;
}

/* the line buffer is full and has no line end: the line is too long to be a delimiter */
static void
ms_mime_downgrade_handle_piece(MsMimeDowngrade *self)
{
	const guint8 *data = self->line->data;
	gsize len = self->line->len;

	switch (self->state) {
	case MS_MIME_DOWNGRADE_STATE_HEADERS:
		g_byte_array_append(self->headers, data, len);
		if (self->headers->len > MS_MIME_DOWNGRADE_HEADERS_MAX) {
			ms_mime_downgrade_flush_headers(self);
			self->state = MS_MIME_DOWNGRADE_STATE_HEADERS_PASS;
		}
		g_byte_array_set_size(self->line, 0);
		break;
	case MS_MIME_DOWNGRADE_STATE_HEADERS_PASS:
	case MS_MIME_DOWNGRADE_STATE_BODY:
		ms_mime_downgrade_emit(self, data, len);
		g_byte_array_set_size(self->line, 0);
		break;
	case MS_MIME_DOWNGRADE_STATE_BODY_QP:
		/* the last byte stays: white space is encoded differently at the end of a line,
		 * and a CR may be the start of the line end; a soft break lets the next piece
		 * start in column 0 */
		ms_message_append_quoted_printable_line(self->pending,
							(const gchar *)data,
							len - 1);
		g_string_append(self->pending, "=\r\n");
		g_byte_array_remove_range(self->line, 0, len - 1);
		break;
	default:
		g_assert_not_reached();
	}
	self->line_continued = TRUE;
}

/* takes input until it is used up or enough output waits; returns the bytes taken */
static gsize
ms_mime_downgrade_feed(MsMimeDowngrade *self, const guint8 *data, gsize len)
{
	gsize pos = 0;

	while (pos < len &&
	       self->pending->len - self->pending_pos < MS_MIME_DOWNGRADE_PENDING_MAX) {
		const guint8 *lf = memchr(data + pos, '\n', len - pos);
		gsize take = lf != NULL ? (gsize)(lf - (data + pos)) + 1 : len - pos;
		gsize space = MS_MIME_DOWNGRADE_LINE_MAX - self->line->len;

		if (take > space)
			take = space;
		g_byte_array_append(self->line, data + pos, take);
		pos += take;
		if (self->line->data[self->line->len - 1] == '\n')
			ms_mime_downgrade_handle_line(self, TRUE);
		else if (self->line->len == MS_MIME_DOWNGRADE_LINE_MAX)
			ms_mime_downgrade_handle_piece(self);
	}
	return pos;
}

static void
ms_mime_downgrade_finish_input(MsMimeDowngrade *self)
{
	if (self->line->len > 0)
		ms_mime_downgrade_handle_line(self, FALSE);
	/* a header block without its empty line has no body to re-encode */
	if (self->headers->len > 0)
		ms_mime_downgrade_flush_headers(self);
	self->input_done = TRUE;
}

static GConverterResult
ms_mime_downgrade_convert(GConverter *converter,
			  const void *inbuf,
			  gsize inbuf_size,
			  void *outbuf,
			  gsize outbuf_size,
			  GConverterFlags flags,
			  gsize *bytes_read,
			  gsize *bytes_written,
			  GError **error)
{
	MsMimeDowngrade *self = MS_MIME_DOWNGRADE(converter);
	gboolean at_end = (flags & G_CONVERTER_INPUT_AT_END) != 0;
	gsize nread = 0;
	gsize nwritten = 0;

	/* output that does not fit waits in self->pending, so there is never G_IO_ERROR_NO_SPACE:
	 * g_converter_convert() already makes sure outbuf has room for one byte */
	while (TRUE) {
		gsize waiting = self->pending->len - self->pending_pos;

		if (waiting > 0) {
			gsize n = MIN(waiting, outbuf_size - nwritten);
			memcpy((guint8 *)outbuf + nwritten,
			       self->pending->str + self->pending_pos,
			       n);
			nwritten += n;
			self->pending_pos += n;
			if (self->pending_pos < self->pending->len)
				break;
		}
		/* all handed out: start the buffer again rather than let it grow */
		g_string_truncate(self->pending, 0);
		self->pending_pos = 0;

		if (nread < inbuf_size) {
			nread += ms_mime_downgrade_feed(self,
							(const guint8 *)inbuf + nread,
							inbuf_size - nread);
			continue;
		}
		if (at_end && !self->input_done) {
			ms_mime_downgrade_finish_input(self);
			continue;
		}
		break;
	}

	*bytes_read = nread;
	*bytes_written = nwritten;
	if (self->input_done && self->pending->len == self->pending_pos)
		return G_CONVERTER_FINISHED;
	/* a partial line stays back even on flush: what it is depends on what follows */
	if ((flags & G_CONVERTER_FLUSH) != 0 && nread == inbuf_size &&
	    self->pending->len == self->pending_pos)
		return G_CONVERTER_FLUSHED;
	if (nread == 0 && nwritten == 0) {
		g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_PARTIAL_INPUT, "need more input");
		return G_CONVERTER_ERROR;
	}
	return G_CONVERTER_CONVERTED;
}

static void
ms_mime_downgrade_reset(GConverter *converter)
{
	MsMimeDowngrade *self = MS_MIME_DOWNGRADE(converter);

	self->state = MS_MIME_DOWNGRADE_STATE_HEADERS;
	g_ptr_array_set_size(self->multiparts, 0);
	self->headers_in_digest = FALSE;
	g_byte_array_set_size(self->headers, 0);
	g_byte_array_set_size(self->line, 0);
	self->line_continued = FALSE;
	g_string_truncate(self->pending, 0);
	self->pending_pos = 0;
	self->input_done = FALSE;
}

static void
ms_mime_downgrade_converter_iface_init(GConverterIface *iface)
{
	iface->convert = ms_mime_downgrade_convert;
	iface->reset = ms_mime_downgrade_reset;
}

static void
ms_mime_downgrade_finalize(GObject *object)
{
	MsMimeDowngrade *self = MS_MIME_DOWNGRADE(object);

	g_ptr_array_unref(self->multiparts);
	g_byte_array_unref(self->headers);
	g_byte_array_unref(self->line);
	g_string_free(self->pending, TRUE);

	G_OBJECT_CLASS(ms_mime_downgrade_parent_class)->finalize(object);
}

static void
ms_mime_downgrade_class_init(MsMimeDowngradeClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);

	object_class->finalize = ms_mime_downgrade_finalize;
}

static void
ms_mime_downgrade_init(MsMimeDowngrade *self)
{
	self->state = MS_MIME_DOWNGRADE_STATE_HEADERS;
	self->multiparts =
	    g_ptr_array_new_with_free_func((GDestroyNotify)ms_mime_downgrade_multipart_free);
	self->headers = g_byte_array_new();
	self->line = g_byte_array_sized_new(MS_MIME_DOWNGRADE_LINE_MAX);
	self->pending = g_string_sized_new(MS_MIME_DOWNGRADE_PENDING_MAX);
}

MsMimeDowngrade *
ms_mime_downgrade_new(void)
{
	return g_object_new(MS_TYPE_MIME_DOWNGRADE, NULL);
}
