#define G_LOG_DOMAIN "MsSmtpReply"

#include "config.h"

#include <gio/gio.h>
#include <string.h>

#include "ms-smtp-reply.h"

/* RFC 5321 §4.5.3.1.5 allows 512 octets per reply line; real servers exceed that with long
 * EHLO parameters, so be lenient but still bounded */
#define MS_SMTP_REPLY_LINE_MAX	4096
#define MS_SMTP_REPLY_LINES_MAX 100
/* how much of an offending line is quoted in an error message */
#define MS_SMTP_REPLY_QUOTE_MAX 32

struct _MsSmtpReply {
	guint code;
	gchar *enhanced; /* nullable */
	gchar **lines;	 /* never NULL, at least one element */
};

struct _MsSmtpReplyParser {
	guint code;	  /* 0 while no reply is in progress */
	GPtrArray *lines; /* of gchar*, without the "NNN-" prefix */
};

/* replaces every control character and every byte that is not part of valid UTF-8 with '?',
 * so the result is safe for a log line and for a D-Bus string */
static void
ms_smtp_reply_append_sanitized(GString *str, const gchar *text, gsize len)
{
	const gchar *p = text;
	const gchar *end = text + len;

	while (p < end) {
		gunichar ch = g_utf8_get_char_validated(p, end - p);
		if (ch == (gunichar)-1 || ch == (gunichar)-2) {
			g_string_append_c(str, '?');
			p++;
			continue;
		}
		if (g_unichar_iscntrl(ch))
			g_string_append_c(str, '?');
		else
			g_string_append_len(str, p, g_utf8_skip[*(const guchar *)p]);
		p = g_utf8_next_char(p);
	}
}

static gchar *
ms_smtp_reply_quote(const gchar *line, gsize len)
{
	GString *str = g_string_new(NULL);
	ms_smtp_reply_append_sanitized(str, line, MIN(len, MS_SMTP_REPLY_QUOTE_MAX));
	if (len > MS_SMTP_REPLY_QUOTE_MAX)
		g_string_append(str, "...");
	return g_string_free(str, FALSE);
}

guint
ms_smtp_reply_get_code(const MsSmtpReply *self)
{
	g_return_val_if_fail(self != NULL, 0);
	return self->code;
}

const gchar *
ms_smtp_reply_get_enhanced(const MsSmtpReply *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return self->enhanced;
}

const gchar *const *
ms_smtp_reply_get_lines(const MsSmtpReply *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return (const gchar *const *)self->lines;
}

gchar *
ms_smtp_reply_to_string(const MsSmtpReply *self)
{
	GString *str = NULL;

	g_return_val_if_fail(self != NULL, NULL);

	str = g_string_new(NULL);
	g_string_append_printf(str, "%u", self->code);
	for (guint i = 0; self->lines[i] != NULL; i++) {
		/* an empty continuation line would only add a double space */
		if (self->lines[i][0] == '\0')
			continue;
		g_string_append_c(str, ' ');
		ms_smtp_reply_append_sanitized(str, self->lines[i], strlen(self->lines[i]));
	}
	return g_string_free(str, FALSE);
}

gboolean
ms_smtp_reply_is_positive(const MsSmtpReply *self)
{
	g_return_val_if_fail(self != NULL, FALSE);
	return self->code / 100 == 2;
}

gboolean
ms_smtp_reply_is_intermediate(const MsSmtpReply *self)
{
	g_return_val_if_fail(self != NULL, FALSE);
	return self->code / 100 == 3;
}

gboolean
ms_smtp_reply_is_transient(const MsSmtpReply *self)
{
	g_return_val_if_fail(self != NULL, FALSE);
	return self->code / 100 == 4;
}

gboolean
ms_smtp_reply_is_permanent(const MsSmtpReply *self)
{
	g_return_val_if_fail(self != NULL, FALSE);
	return self->code / 100 == 5;
}

void
ms_smtp_reply_free(MsSmtpReply *self)
{
	if (self == NULL)
		return;
	g_free(self->enhanced);
	g_strfreev(self->lines);
	g_free(self);
}

/* returns the length of a run of 1 to 3 ASCII digits at text, 0 if there is none or it is
 * longer */
static gsize
ms_smtp_reply_count_digits(const gchar *text)
{
	gsize n = 0;
	while (n < 4 && g_ascii_isdigit(text[n]))
		n++;
	return n <= 3 ? n : 0;
}

/* RFC 3463: class "." subject "." detail, followed by a space (or the end of the text: a
 * bare "250 2.0.0" is still a status code); the class must agree with the reply code, so a
 * text such as "1.2.3 is my version" in a 250 reply is not mistaken for one */
static gchar *
ms_smtp_reply_parse_enhanced(guint code, const gchar *text)
{
	gsize n;
	gsize pos = 0;

	if (text[0] != '0' + (gchar)(code / 100) || text[1] != '.')
		return NULL;
	pos = 2;
	n = ms_smtp_reply_count_digits(text + pos);
	if (n == 0 || text[pos + n] != '.')
		return NULL;
	pos += n + 1;
	n = ms_smtp_reply_count_digits(text + pos);
	if (n == 0)
		return NULL;
	pos += n;
	if (text[pos] != ' ' && text[pos] != '\0')
		return NULL;
	return g_strndup(text, pos);
}

static void
ms_smtp_reply_parser_reset(MsSmtpReplyParser *self)
{
	self->code = 0;
	g_ptr_array_set_size(self->lines, 0);
}

MsSmtpReplyParser *
ms_smtp_reply_parser_new(void)
{
	MsSmtpReplyParser *self = g_new0(MsSmtpReplyParser, 1);
	self->lines = g_ptr_array_new_with_free_func(g_free);
	return self;
}

/* checks one line and splits it into code, separator and text, without touching the parser */
static gboolean
ms_smtp_reply_parser_check_line(const gchar *line,
				gsize len,
				guint *code,
				gboolean *last,
				GError **error)
{
	if (len > MS_SMTP_REPLY_LINE_MAX) {
		g_set_error(error,
			    G_IO_ERROR,
			    G_IO_ERROR_INVALID_DATA,
			    "invalid SMTP reply: line of %" G_GSIZE_FORMAT
			    " bytes is longer than %u bytes",
			    len,
			    (guint)MS_SMTP_REPLY_LINE_MAX);
		return FALSE;
	}
	if (memchr(line, '\0', len) != NULL) {
		g_set_error_literal(error,
				    G_IO_ERROR,
				    G_IO_ERROR_INVALID_DATA,
				    "invalid SMTP reply: line contains a NUL byte");
		return FALSE;
	}
	if (len < 3 || !g_ascii_isdigit(line[0]) || !g_ascii_isdigit(line[1]) ||
	    !g_ascii_isdigit(line[2])) {
		g_autofree gchar *quoted = ms_smtp_reply_quote(line, len);
		g_set_error(error,
			    G_IO_ERROR,
			    G_IO_ERROR_INVALID_DATA,
			    "invalid SMTP reply: no 3-digit code in '%s'",
			    quoted);
		return FALSE;
	}
	*code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	if (*code < 200 || *code > 599) {
		g_set_error(error,
			    G_IO_ERROR,
			    G_IO_ERROR_INVALID_DATA,
			    "invalid SMTP reply: code %03u is out of range",
			    *code);
		return FALSE;
	}
	/* a last line may be just the code, without the space */
	if (len > 3 && line[3] != ' ' && line[3] != '-') {
		g_autofree gchar *quoted = ms_smtp_reply_quote(line, len);
		g_set_error(error,
			    G_IO_ERROR,
			    G_IO_ERROR_INVALID_DATA,
			    "invalid SMTP reply: expected ' ' or '-' after the code in '%s'",
			    quoted);
		return FALSE;
	}
	*last = len == 3 || line[3] == ' ';
	return TRUE;
}

static gboolean
ms_smtp_reply_parser_feed_internal(MsSmtpReplyParser *self,
				   const gchar *line,
				   gsize len,
				   MsSmtpReply **reply,
				   GError **error)
{
	guint code = 0;
	gboolean last = FALSE;
	MsSmtpReply *result = NULL;

	if (!ms_smtp_reply_parser_check_line(line, len, &code, &last, error))
		return FALSE;
	if (self->code != 0 && code != self->code) {
		g_set_error(error,
			    G_IO_ERROR,
			    G_IO_ERROR_INVALID_DATA,
			    "invalid SMTP reply: code changed from %u to %u within one reply",
			    self->code,
			    code);
		return FALSE;
	}
	if (self->lines->len >= MS_SMTP_REPLY_LINES_MAX) {
		g_set_error(error,
			    G_IO_ERROR,
			    G_IO_ERROR_INVALID_DATA,
			    "invalid SMTP reply: more than %u lines",
			    (guint)MS_SMTP_REPLY_LINES_MAX);
		return FALSE;
	}
	self->code = code;
	g_ptr_array_add(self->lines, len > 4 ? g_strndup(line + 4, len - 4) : g_strdup(""));
	if (!last)
		return TRUE;

	/* hand the lines over and start afresh */
	result = g_new0(MsSmtpReply, 1);
	result->code = self->code;
	g_ptr_array_add(self->lines, NULL);
	result->lines = (gchar **)g_ptr_array_steal(self->lines, NULL);
	result->enhanced = ms_smtp_reply_parse_enhanced(result->code, result->lines[0]);
	ms_smtp_reply_parser_reset(self);
	*reply = result;
	return TRUE;
}

gboolean
ms_smtp_reply_parser_feed(MsSmtpReplyParser *self,
			  const gchar *line,
			  gsize len,
			  MsSmtpReply **reply,
			  GError **error)
{
	g_return_val_if_fail(self != NULL, FALSE);
	g_return_val_if_fail(line != NULL || len == 0, FALSE);
	g_return_val_if_fail(reply != NULL, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	*reply = NULL;
	if (line == NULL)
		line = "";
	if (!ms_smtp_reply_parser_feed_internal(self, line, len, reply, error)) {
		/* a half-read reply is useless after garbage; do not let it leak into the next */
		ms_smtp_reply_parser_reset(self);
		return FALSE;
	}
	return TRUE;
}

void
ms_smtp_reply_parser_free(MsSmtpReplyParser *self)
{
	if (self == NULL)
		return;
	g_ptr_array_unref(self->lines);
	g_free(self);
}

MsSmtpReply *
ms_smtp_reply_parse(const gchar *text, gsize len, GError **error)
{
	g_autoptr(MsSmtpReplyParser) parser = ms_smtp_reply_parser_new();
	g_autoptr(MsSmtpReply) reply = NULL;
	gsize pos = 0;

	g_return_val_if_fail(text != NULL || len == 0, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	while (pos < len) {
		const gchar *line = text + pos;
		const gchar *lf = memchr(line, '\n', len - pos);
		gsize line_len = lf != NULL ? (gsize)(lf - line) : len - pos;

		pos += line_len + (lf != NULL ? 1 : 0);
		if (line_len > 0 && line[line_len - 1] == '\r')
			line_len--;
		if (reply != NULL) {
			g_set_error_literal(error,
					    G_IO_ERROR,
					    G_IO_ERROR_INVALID_DATA,
					    "invalid SMTP reply: data after the last line");
			return NULL;
		}
		if (!ms_smtp_reply_parser_feed(parser, line, line_len, &reply, error))
			return NULL;
	}
	if (reply == NULL) {
		g_set_error_literal(error,
				    G_IO_ERROR,
				    G_IO_ERROR_INVALID_DATA,
				    "invalid SMTP reply: incomplete, the last line is missing");
		return NULL;
	}
	return g_steal_pointer(&reply);
}

/* RFC 5321 §4.1.1.1: ehlo-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") */
static gboolean
ms_smtp_reply_is_ehlo_keyword(const gchar *keyword)
{
	if (!g_ascii_isalnum(keyword[0]))
		return FALSE;
	for (gsize i = 1; keyword[i] != '\0'; i++) {
		if (!g_ascii_isalnum(keyword[i]) && keyword[i] != '-')
			return FALSE;
	}
	return TRUE;
}

/* appends the space-separated mechanisms of params to the list, skipping duplicates */
static void
ms_smtp_reply_merge_mechanisms(GPtrArray *mechs, const gchar *params)
{
	g_auto(GStrv) split = g_strsplit_set(params, " \t", -1);

	for (guint i = 0; split[i] != NULL; i++) {
		gboolean found = FALSE;
		if (split[i][0] == '\0')
			continue;
		for (guint j = 0; j < mechs->len; j++) {
			if (g_ascii_strcasecmp(g_ptr_array_index(mechs, j), split[i]) == 0) {
				found = TRUE;
				break;
			}
		}
		if (!found)
			g_ptr_array_add(mechs, g_ascii_strup(split[i], -1));
	}
}

GHashTable *
ms_smtp_reply_get_extensions(const MsSmtpReply *self)
{
	g_autoptr(GHashTable) extensions = NULL;
	g_autoptr(GPtrArray) mechs = g_ptr_array_new_with_free_func(g_free);
	gboolean has_auth = FALSE;

	g_return_val_if_fail(self != NULL, NULL);

	extensions = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	for (guint i = 1; self->lines[i] != NULL; i++) {
		const gchar *line = self->lines[i];
		const gchar *params = NULL;
		gsize keyword_len = strcspn(line, " \t");
		g_autofree gchar *keyword = g_ascii_strup(line, keyword_len);

		params = line + keyword_len;
		params += strspn(params, " \t");

		/* pre-RFC 4954 servers (old Outlook, some appliances) announce "AUTH=LOGIN PLAIN"
		 */
		if (g_str_has_prefix(keyword, "AUTH=")) {
			ms_smtp_reply_merge_mechanisms(mechs, keyword + 5);
			ms_smtp_reply_merge_mechanisms(mechs, params);
			has_auth = TRUE;
			continue;
		}
		if (g_strcmp0(keyword, "AUTH") == 0) {
			ms_smtp_reply_merge_mechanisms(mechs, params);
			has_auth = TRUE;
			continue;
		}
		if (!ms_smtp_reply_is_ehlo_keyword(keyword))
			continue;
		/* the first announcement wins, as it would for a client scanning the lines */
		if (g_hash_table_contains(extensions, keyword))
			continue;
		g_hash_table_insert(extensions,
				    g_steal_pointer(&keyword),
				    g_strchomp(g_strdup(params)));
	}
	if (has_auth) {
		g_ptr_array_add(mechs, NULL);
		g_hash_table_insert(extensions,
				    g_strdup("AUTH"),
				    g_strjoinv(" ", (gchar **)mechs->pdata));
	}
	return g_steal_pointer(&extensions);
}
