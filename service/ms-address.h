#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Mail addresses as callers give them ("addr@example.org", "Name <addr@example.org>",
 * "\"Last, First\" <addr@example.org>"), validated so that the addr-spec is a valid RFC 5321
 * Mailbox (Local-part "@" Domain, dot-atom or quoted-string local part, domain as dotted labels
 * or an address literal, at most 64 octets local part and 254 octets in all) and nothing in
 * either part can inject a header or an SMTP command. UTF-8 is allowed in the display name and
 * in the addr-spec (RFC 6531/6532): an internationalized domain is kept as its A-labels
 * ("bob@xn--bcher-kva.example"), so only a non-ASCII local part needs a server with SMTPUTF8. */
typedef struct _MsAddress MsAddress;

/* errors: G_IO_ERROR_INVALID_ARGUMENT with a message saying what is wrong and quoting the
 * (sanitised) input */
MsAddress *
ms_address_parse(const gchar *text, GError **error);
const gchar *
ms_address_get_display_name(const MsAddress *self); /* NULL if none */
const gchar *
ms_address_get_addr_spec(const MsAddress *self);
/* whether the addr-spec has a non-ASCII local part, so needs SMTPUTF8 (RFC 6531) */
gboolean
ms_address_needs_smtputf8(const MsAddress *self);
/* the header form: "addr@x", or "Name <addr@x>", with the display name quoted when it has
 * specials or encoded as an RFC 2047 encoded-word when it is not ASCII */
gchar *
ms_address_to_header(const MsAddress *self);
MsAddress *
ms_address_copy(const MsAddress *self);
void
ms_address_free(MsAddress *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MsAddress, ms_address_free)

/* TRUE if the addr-spec alone is a valid RFC 5321 Mailbox */
gboolean
ms_address_is_valid_mailbox(const gchar *addr_spec);
/* the addr-spec with an internationalized domain as A-labels, as ms_address_parse() keeps it;
 * NULL if it is not a valid Mailbox */
gchar *
ms_address_normalize_mailbox(const gchar *addr_spec);
/* whether a (normalized) addr-spec needs SMTPUTF8: it is not ASCII */
gboolean
ms_address_mailbox_needs_smtputf8(const gchar *addr_spec);

/* RFC 2047 encoded-words (UTF-8; Q unless it is over a quarter longer than B) for text,
 * separated by single spaces; the first word is at most first_max chars, the others at most max
 * (both capped at 75; a word always holds at least one character), and a UTF-8 character is
 * never split between words; shared with ms-message */
gchar *
ms_address_encode_words(const gchar *text, gsize first_max, gsize max);

G_END_DECLS
