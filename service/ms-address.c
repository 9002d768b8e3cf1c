#define G_LOG_DOMAIN "MsAddress"

#include "config.h"

#include <arpa/inet.h>
#include <gio/gio.h>
#include <string.h>

#include "ms-address.h"

/* RFC 5321 §4.5.3.1.1 and the errata for the whole path */
#define MS_ADDRESS_LOCAL_MAX	 64
#define MS_ADDRESS_ADDR_SPEC_MAX 254
#define MS_ADDRESS_DOMAIN_MAX	 253
#define MS_ADDRESS_LABEL_MAX	 63
/* RFC 2047 §2 */
#define MS_ADDRESS_ENCODED_WORD_MAX 75
/* encoded-words of a display name stay this short so that "Reply-To: " and the first word fit
 * in 78 columns */
#define MS_ADDRESS_PHRASE_WORD_MAX 66
/* how much of the input an error message quotes */
#define MS_ADDRESS_QUOTE_MAX 300

struct _MsAddress {
	gchar *display_name; /* nullable, UTF-8, no control characters */
	gchar *addr_spec;    /* a valid RFC 5321 Mailbox, the domain in ASCII (A-labels); the
			      * local part is UTF-8 and then needs SMTPUTF8 */
};

/* RFC 5322 §3.2.3 atext, and any byte of a UTF-8 character beyond ASCII (RFC 6531 §3.3
 * UTF8-non-ascii; the whole input was checked to be valid UTF-8) */
static gboolean
ms_address_is_atext(gchar c)
{
	return g_ascii_isalnum(c) || (guchar)c >= 0x80 ||
	       (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* RFC 5321 §4.1.2 qtextSMTP: printable ASCII and space, without '"' and '\', and UTF-8 beyond
 * ASCII (RFC 6531 §3.3) */
static gboolean
ms_address_is_qtext(gchar c)
{
	return (c >= 32 && c <= 126 && c != '"' && c != '\\') || (guchar)c >= 0x80;
}

/* C0 controls, DEL and the C1 controls U+0080..U+009F */
static gboolean
ms_address_unichar_is_control(gunichar ch)
{
	return ch < 0x20 || (ch >= 0x7f && ch < 0xa0);
}

/* the input as an error message may show it: valid UTF-8, control characters as \r, \n, \t
 * or \xNN, bytes that are not UTF-8 as \xNN, and cut after MS_ADDRESS_QUOTE_MAX bytes; a raw
 * line break must never reach a log line or a D-Bus reply */
static gchar *
ms_address_sanitize(const gchar *text)
{
	GString *str = g_string_new(NULL);
	const gchar *p = text;

	while (*p != '\0') {
		gunichar ch;
		if (str->len >= MS_ADDRESS_QUOTE_MAX) {
			g_string_append(str, "…");
			break;
		}
		ch = g_utf8_get_char_validated(p, -1);
		if (ch == (gunichar)-1 || ch == (gunichar)-2) {
			g_string_append_printf(str, "\\x%02X", (guchar)*p);
			p++;
			continue;
		}
		if (ch == '\r') {
			g_string_append(str, "\\r");
		} else if (ch == '\n') {
			g_string_append(str, "\\n");
		} else if (ch == '\t') {
			g_string_append(str, "\\t");
		} else if (ms_address_unichar_is_control(ch)) {
			for (const gchar *q = p; q < g_utf8_next_char(p); q++)
				g_string_append_printf(str, "\\x%02X", (guchar)*q);
		} else {
			g_string_append_len(str, p, g_utf8_next_char(p) - p);
		}
		p = g_utf8_next_char(p);
	}
	return g_string_free(str, FALSE);
}

static void
ms_address_set_error(GError **error, const gchar *text, const gchar *reason)
{
	g_autofree gchar *quoted = ms_address_sanitize(text);
	g_set_error(error,
		    G_IO_ERROR,
		    G_IO_ERROR_INVALID_ARGUMENT,
		    "'%s' is not a valid mail address: %s",
		    quoted,
		    reason);
}

/* what to call a character in an error message; c is printable ASCII */
static gchar *
ms_address_describe_char(gchar c)
{
	if (c == ' ')
		return g_strdup("a space");
	return g_strdup_printf("'%c'", c);
}

/* checks the characters of the whole input: no line breaks, no control characters, valid
 * UTF-8; returns the reason or NULL */
static const gchar *
ms_address_check_chars(const gchar *text)
{
	if (strpbrk(text, "\r\n") != NULL)
		return "it contains a line break";
	if (!g_utf8_validate(text, -1, NULL))
		return "it is not valid UTF-8";
	for (const gchar *p = text; *p != '\0'; p = g_utf8_next_char(p)) {
		if (ms_address_unichar_is_control(g_utf8_get_char(p)))
			return "it contains a control character";
	}
	return NULL;
}

/* IPv4-address-literal: four decimal numbers 0..255, without leading zeros so nobody can read
 * them as octal */
static gboolean
ms_address_is_ipv4(const gchar *text)
{
	g_auto(GStrv) parts = g_strsplit(text, ".", -1);

	if (g_strv_length(parts) != 4)
		return FALSE;
	for (guint i = 0; parts[i] != NULL; i++) {
		gsize len = strlen(parts[i]);
		if (len == 0 || len > 3)
			return FALSE;
		for (gsize j = 0; j < len; j++) {
			if (!g_ascii_isdigit(parts[i][j]))
				return FALSE;
		}
		if (len > 1 && parts[i][0] == '0')
			return FALSE;
		if (g_ascii_strtoull(parts[i], NULL, 10) > 255)
			return FALSE;
	}
	return TRUE;
}

/* IPv6-address-literal without the "IPv6:" tag; the character check keeps scope ids and the
 * like away from inet_pton() */
static gboolean
ms_address_is_ipv6(const gchar *text)
{
	guint8 buf[16];

	if (*text == '\0')
		return FALSE;
	for (const gchar *p = text; *p != '\0'; p++) {
		if (!g_ascii_isxdigit(*p) && *p != ':' && *p != '.')
			return FALSE;
	}
	return inet_pton(AF_INET6, text, buf) == 1;
}

/* RFC 5321 Domain or address-literal; returns the reason it is not valid, or NULL */
static gchar *
ms_address_check_domain(const gchar *domain)
{
	gsize len = strlen(domain);
	g_auto(GStrv) labels = NULL;

	if (len == 0)
		return g_strdup("there is nothing after '@'");
	if (domain[0] == '[') {
		g_autofree gchar *inner = NULL;
		gboolean ok;
		if (len < 2 || domain[len - 1] != ']')
			return g_strdup("the address literal after '@' is not closed by ']'");
		inner = g_strndup(domain + 1, len - 2);
		if (g_ascii_strncasecmp(inner, "IPv6:", 5) == 0)
			ok = ms_address_is_ipv6(inner + 5);
		else
			ok = ms_address_is_ipv4(inner);
		if (!ok) {
			return g_strdup_printf(
			    "the address literal '%s' is not an IPv4 or [IPv6:…] address",
			    domain);
		}
		return NULL;
	}
	if (!g_str_is_ascii(domain)) {
		/* an internationalized domain name is checked (and sent) as its A-labels */
		g_autofree gchar *ascii = g_hostname_to_ascii(domain);
		if (ascii == NULL || !g_str_is_ascii(ascii)) {
			return g_strdup("the domain is not a valid internationalized domain "
					"name");
		}
		return ms_address_check_domain(ascii);
	}
	if (len > MS_ADDRESS_DOMAIN_MAX)
		return g_strdup("the domain is longer than 253 octets");
	for (const gchar *p = domain; *p != '\0'; p++) {
		if (*p == '@')
			return g_strdup("it has more than one '@'");
		if (!g_ascii_isalnum(*p) && *p != '-' && *p != '.') {
			g_autofree gchar *what = ms_address_describe_char(*p);
			if (*p == ',' || *p == ';') {
				return g_strdup_printf("%s is only allowed inside quotes; give one "
						       "address per entry",
						       what);
			}
			return g_strdup_printf("the domain contains %s", what);
		}
	}
	labels = g_strsplit(domain, ".", -1);
	for (guint i = 0; labels[i] != NULL; i++) {
		gsize label_len = strlen(labels[i]);
		if (label_len == 0)
			return g_strdup("the domain has an empty label ('..' or a '.' at "
					"the start or end)");
		if (label_len > MS_ADDRESS_LABEL_MAX) {
			return g_strdup_printf("the domain label '%s' is longer than 63 octets",
					       labels[i]);
		}
		if (labels[i][0] == '-' || labels[i][label_len - 1] == '-') {
			return g_strdup_printf("the domain label '%s' starts or ends with '-'",
					       labels[i]);
		}
	}
	return NULL;
}

/* returns the reason addr_spec is not a valid RFC 5321 Mailbox, or NULL */
/* addr_spec with its domain as A-labels; the domain (after the last '@', which a domain
 * cannot hold) has been checked */
static gchar *
ms_address_normalize_valid(const gchar *addr_spec)
{
	const gchar *at = strrchr(addr_spec, '@');
	g_autofree gchar *local = g_strndup(addr_spec, at - addr_spec);
	g_autofree gchar *domain = NULL;

	if (g_str_is_ascii(at + 1) || at[1] == '[')
		return g_strdup(addr_spec);
	domain = g_hostname_to_ascii(at + 1);
	return g_strdup_printf("%s@%s", local, domain);
}

static gchar *
ms_address_check_mailbox(const gchar *addr_spec)
{
	gsize local_len = 0;
	gchar *domain_reason;
	g_autofree gchar *normalized = NULL;

	/* the character classes first, so the messages below can quote parts */
	for (const guchar *p = (const guchar *)addr_spec; *p != '\0'; p++) {
		if (*p == '\r' || *p == '\n')
			return g_strdup("it contains a line break");
		if (*p < 0x20 || *p == 0x7f)
			return g_strdup("it contains a control character");
	}
	if (!g_utf8_validate(addr_spec, -1, NULL))
		return g_strdup("it is not valid UTF-8");
	for (const gchar *p = addr_spec; *p != '\0'; p = g_utf8_next_char(p)) {
		if (ms_address_unichar_is_control(g_utf8_get_char(p)))
			return g_strdup("it contains a control character");
	}
	if (addr_spec[0] == '\0')
		return g_strdup("it is empty");

	if (addr_spec[0] == '"') {
		/* quoted-string local part */
		gsize i = 1;
		for (;;) {
			gchar c = addr_spec[i];
			if (c == '\0')
				return g_strdup("the quoted part before '@' is not closed");
			if (c == '"')
				break;
			if (c == '\\') {
				if (addr_spec[i + 1] == '\0')
					return g_strdup("the quoted part before '@' is not "
							"closed");
				i += 2;
				continue;
			}
			if (!ms_address_is_qtext(c)) {
				return g_strdup("the quoted part before '@' contains a character "
						"that is not allowed");
			}
			i++;
		}
		if (i == 1)
			return g_strdup("the quoted part before '@' is empty");
		local_len = i + 1;
		if (addr_spec[local_len] == '\0')
			return g_strdup("it has no '@'");
		if (addr_spec[local_len] != '@')
			return g_strdup("there is text between the closing '\"' and '@'");
	} else {
		/* dot-atom local part */
		gboolean dot_ok = FALSE;
		for (local_len = 0; addr_spec[local_len] != '@'; local_len++) {
			gchar c = addr_spec[local_len];
			if (c == '\0')
				return g_strdup("it has no '@'");
			if (c == '.') {
				if (!dot_ok)
					return g_strdup("the part before '@' starts with '.' or "
							"has '..'");
				dot_ok = FALSE;
				continue;
			}
			if (!ms_address_is_atext(c)) {
				g_autofree gchar *what = ms_address_describe_char(c);
				if (c == ',' || c == ';') {
					return g_strdup_printf("%s is only allowed inside quotes; "
							       "give one address per entry",
							       what);
				}
				return g_strdup_printf("the part before '@' contains %s, which is "
						       "only allowed inside quotes",
						       what);
			}
			dot_ok = TRUE;
		}
		if (local_len == 0)
			return g_strdup("there is nothing before '@'");
		if (!dot_ok)
			return g_strdup("the part before '@' ends with '.'");
	}
	if (local_len > MS_ADDRESS_LOCAL_MAX)
		return g_strdup("the part before '@' is longer than 64 octets");
	domain_reason = ms_address_check_domain(addr_spec + local_len + 1);
	if (domain_reason != NULL)
		return domain_reason;
	normalized = ms_address_normalize_valid(addr_spec);
	if (strlen(normalized) > MS_ADDRESS_ADDR_SPEC_MAX)
		return g_strdup("it is longer than 254 octets");
	return NULL;
}

gchar *
ms_address_normalize_mailbox(const gchar *addr_spec)
{
	g_autofree gchar *reason = NULL;

	g_return_val_if_fail(addr_spec != NULL, NULL);

	reason = ms_address_check_mailbox(addr_spec);
	if (reason != NULL)
		return NULL;
	return ms_address_normalize_valid(addr_spec);
}

gboolean
ms_address_mailbox_needs_smtputf8(const gchar *addr_spec)
{
	g_return_val_if_fail(addr_spec != NULL, FALSE);
	return !g_str_is_ascii(addr_spec);
}

gboolean
ms_address_is_valid_mailbox(const gchar *addr_spec)
{
	g_autofree gchar *reason = NULL;

	if (addr_spec == NULL)
		return FALSE;
	reason = ms_address_check_mailbox(addr_spec);
	return reason == NULL;
}

/* the display-name part before '<': quoted-strings lose their quotes and escapes, unquoted
 * runs of spaces become one space; returns NULL and sets reason when it cannot be one */
static gchar *
ms_address_parse_phrase(const gchar *phrase, const gchar **reason)
{
	g_autoptr(GString) str = g_string_new(NULL);
	gboolean in_quote = FALSE;

	for (const gchar *p = phrase; *p != '\0'; p++) {
		if (in_quote) {
			if (*p == '"') {
				in_quote = FALSE;
				continue;
			}
			if (*p == '\\' && p[1] != '\0')
				p++;
			g_string_append_c(str, *p);
			continue;
		}
		if (*p == '"') {
			in_quote = TRUE;
			continue;
		}
		if (*p == '>') {
			*reason = "'>' is only allowed inside quotes";
			return NULL;
		}
		if (*p == ',' || *p == ';') {
			*reason =
			    *p == ','
				? "',' is only allowed inside quotes; give one address per entry"
				: "';' is only allowed inside quotes; give one address per entry";
			return NULL;
		}
		if (*p == ' ' && str->len > 0 && str->str[str->len - 1] == ' ')
			continue;
		g_string_append_c(str, *p);
	}
	g_strstrip(str->str);
	return g_strdup(str->str);
}

/* finds the first '<' (or '>' when looking for the end) that is not inside a quoted-string */
static const gchar *
ms_address_find_unquoted(const gchar *text, gchar c)
{
	gboolean in_quote = FALSE;

	for (const gchar *p = text; *p != '\0'; p++) {
		if (in_quote) {
			if (*p == '\\' && p[1] != '\0')
				p++;
			else if (*p == '"')
				in_quote = FALSE;
			continue;
		}
		if (*p == '"')
			in_quote = TRUE;
		else if (*p == c)
			return p;
	}
	return NULL;
}

MsAddress *
ms_address_parse(const gchar *text, GError **error)
{
	const gchar *reason;
	const gchar *angle;
	g_autofree gchar *trimmed = NULL;
	g_autofree gchar *display_name = NULL;
	g_autofree gchar *addr_spec = NULL;
	g_autofree gchar *mailbox_reason = NULL;
	MsAddress *self;

	g_return_val_if_fail(text != NULL, NULL);

	reason = ms_address_check_chars(text);
	if (reason != NULL) {
		ms_address_set_error(error, text, reason);
		return NULL;
	}
	trimmed = g_strstrip(g_strdup(text));
	if (trimmed[0] == '\0') {
		g_set_error_literal(error,
				    G_IO_ERROR,
				    G_IO_ERROR_INVALID_ARGUMENT,
				    "the mail address is empty");
		return NULL;
	}

	angle = ms_address_find_unquoted(trimmed, '<');
	if (angle == NULL) {
		/* a bare addr-spec */
		addr_spec = g_strdup(trimmed);
	} else {
		const gchar *end = ms_address_find_unquoted(angle + 1, '>');
		g_autofree gchar *phrase = g_strndup(trimmed, angle - trimmed);

		if (end == NULL) {
			ms_address_set_error(error, text, "'<' is not closed by '>'");
			return NULL;
		}
		if (end[1] != '\0') {
			ms_address_set_error(error, text, "there is text after '>'");
			return NULL;
		}
		display_name = ms_address_parse_phrase(phrase, &reason);
		if (display_name == NULL) {
			ms_address_set_error(error, text, reason);
			return NULL;
		}
		if (display_name[0] == '\0')
			g_clear_pointer(&display_name, g_free);
		addr_spec = g_strndup(angle + 1, end - angle - 1);
		g_strstrip(addr_spec);
		if (addr_spec[0] == '\0') {
			ms_address_set_error(error,
					     text,
					     "there is no address between '<' and '>'");
			return NULL;
		}
	}

	mailbox_reason = ms_address_check_mailbox(addr_spec);
	if (mailbox_reason != NULL) {
		ms_address_set_error(error, text, mailbox_reason);
		return NULL;
	}

	self = g_new0(MsAddress, 1);
	self->display_name = g_steal_pointer(&display_name);
	self->addr_spec = ms_address_normalize_valid(addr_spec);
	return self;
}

const gchar *
ms_address_get_display_name(const MsAddress *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return self->display_name;
}

const gchar *
ms_address_get_addr_spec(const MsAddress *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return self->addr_spec;
}

gboolean
ms_address_needs_smtputf8(const MsAddress *self)
{
	g_return_val_if_fail(self != NULL, FALSE);
	return !g_str_is_ascii(self->addr_spec);
}

/* RFC 2047 §5 (3): the only characters a Q encoded-word in a phrase may carry as they are;
 * using the strictest rule everywhere makes the words safe in any header */
static gboolean
ms_address_q_is_literal(guchar c)
{
	return g_ascii_isalnum(c) || c == '!' || c == '*' || c == '+' || c == '-' || c == '/';
}

static gsize
ms_address_q_cost(guchar c)
{
	return ms_address_q_is_literal(c) || c == ' ' ? 1 : 3;
}

/* the length of the UTF-8 character at p; a byte that does not start one counts alone so
 * that nothing loops forever on bad input */
static gsize
ms_address_utf8_char_len(const gchar *p)
{
	gunichar ch = g_utf8_get_char_validated(p, -1);
	if (ch == (gunichar)-1 || ch == (gunichar)-2)
		return 1;
	return g_utf8_next_char(p) - p;
}

static void
ms_address_append_encoded_word(GString *out, const GString *chunk, gboolean use_q)
{
	if (out->len > 0)
		g_string_append_c(out, ' ');
	if (use_q) {
		g_string_append(out, "=?UTF-8?Q?");
		for (gsize i = 0; i < chunk->len; i++) {
			guchar c = (guchar)chunk->str[i];
			if (c == ' ')
				g_string_append_c(out, '_');
			else if (ms_address_q_is_literal(c))
				g_string_append_c(out, (gchar)c);
			else
				g_string_append_printf(out, "=%02X", c);
		}
	} else {
		g_autofree gchar *b64 = g_base64_encode((const guchar *)chunk->str, chunk->len);
		g_string_append(out, "=?UTF-8?B?");
		g_string_append(out, b64);
	}
	g_string_append(out, "?=");
}

gchar *
ms_address_encode_words(const gchar *text, gsize first_max, gsize max)
{
	/* "=?UTF-8?Q?" and "?=" */
	const gsize overhead = 12;
	gsize q_total = 0;
	gsize b_total;
	gsize len;
	gsize budget;
	gsize chunk_q = 0;
	gboolean use_q;
	g_autoptr(GString) out = g_string_new(NULL);
	g_autoptr(GString) chunk = g_string_new(NULL);

	g_return_val_if_fail(text != NULL, NULL);

	/* Q keeps mostly-Latin text readable in the raw message, so it wins unless it is more than
	 * a quarter longer than B, which it is for scripts where every byte needs escaping */
	len = strlen(text);
	for (gsize i = 0; i < len; i++)
		q_total += ms_address_q_cost((guchar)text[i]);
	b_total = (len + 2) / 3 * 4;
	use_q = q_total * 4 <= b_total * 5;

	budget = MIN(first_max, MS_ADDRESS_ENCODED_WORD_MAX);
	for (const gchar *p = text; *p != '\0';) {
		gsize clen = ms_address_utf8_char_len(p);
		gsize cost = 0;
		gsize word_len;

		for (gsize i = 0; i < clen; i++)
			cost += ms_address_q_cost((guchar)p[i]);
		word_len = use_q ? chunk_q + cost : (chunk->len + clen + 2) / 3 * 4;

		/* a word always holds at least one whole character, even when the budget is too
		 * small for it, so a multi-byte character is never split */
		if (chunk->len > 0 && overhead + word_len > budget) {
			ms_address_append_encoded_word(out, chunk, use_q);
			g_string_truncate(chunk, 0);
			chunk_q = 0;
			budget = MIN(max, MS_ADDRESS_ENCODED_WORD_MAX);
		}
		g_string_append_len(chunk, p, clen);
		chunk_q += cost;
		p += clen;
	}
	if (chunk->len > 0)
		ms_address_append_encoded_word(out, chunk, use_q);
	return g_string_free(g_steal_pointer(&out), FALSE);
}

/* whether the display name can go out as plain atoms: atext words separated by single spaces,
 * and nothing that a reader would take for an encoded-word */
static gboolean
ms_address_phrase_is_plain(const gchar *name)
{
	gsize len = strlen(name);

	if (len == 0 || name[0] == ' ' || name[len - 1] == ' ')
		return FALSE;
	if (strstr(name, "  ") != NULL || strstr(name, "=?") != NULL)
		return FALSE;
	for (const gchar *p = name; *p != '\0'; p++) {
		if (*p != ' ' && !ms_address_is_atext(*p))
			return FALSE;
	}
	return TRUE;
}

/* a header can only be folded at spaces, so a display name with a word that could not fit on
 * a line is sent as encoded-words, which can be split anywhere */
static gboolean
ms_address_phrase_needs_encoding(const gchar *name)
{
	gsize word = 0;

	for (const gchar *p = name; *p != '\0'; p++) {
		if ((guchar)*p >= 0x80)
			return TRUE;
		word = *p == ' ' ? 0 : word + 1;
		if (word > MS_ADDRESS_PHRASE_WORD_MAX)
			return TRUE;
	}
	return FALSE;
}

gchar *
ms_address_to_header(const MsAddress *self)
{
	g_autoptr(GString) str = g_string_new(NULL);

	g_return_val_if_fail(self != NULL, NULL);

	if (self->display_name == NULL)
		return g_strdup(self->addr_spec);
	if (ms_address_phrase_needs_encoding(self->display_name)) {
		g_autofree gchar *words = ms_address_encode_words(self->display_name,
								  MS_ADDRESS_PHRASE_WORD_MAX,
								  MS_ADDRESS_PHRASE_WORD_MAX);
		g_string_append(str, words);
	} else if (ms_address_phrase_is_plain(self->display_name)) {
		g_string_append(str, self->display_name);
	} else {
		g_string_append_c(str, '"');
		for (const gchar *p = self->display_name; *p != '\0'; p++) {
			if (*p == '"' || *p == '\\')
				g_string_append_c(str, '\\');
			g_string_append_c(str, *p);
		}
		g_string_append_c(str, '"');
	}
	g_string_append_printf(str, " <%s>", self->addr_spec);
	return g_string_free(g_steal_pointer(&str), FALSE);
}

MsAddress *
ms_address_copy(const MsAddress *self)
{
	MsAddress *copy;

	g_return_val_if_fail(self != NULL, NULL);

	copy = g_new0(MsAddress, 1);
	copy->display_name = g_strdup(self->display_name);
	copy->addr_spec = g_strdup(self->addr_spec);
	return copy;
}

void
ms_address_free(MsAddress *self)
{
	if (self == NULL)
		return;
	g_free(self->display_name);
	g_free(self->addr_spec);
	g_free(self);
}
