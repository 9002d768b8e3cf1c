#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* one complete (possibly multi-line) SMTP reply, RFC 5321 §4.2 with RFC 3463 enhanced codes */
typedef struct _MsSmtpReply MsSmtpReply;

/* code: 200..599; lines: the text of each line without "NNN-"/"NNN " (never NULL, may be
 * empty strings); enhanced: "2.0.0"-style code taken from the first line when the server
 * uses enhanced status codes, else NULL */
guint
ms_smtp_reply_get_code(const MsSmtpReply *self);
const gchar *
ms_smtp_reply_get_enhanced(const MsSmtpReply *self);
/* NULL-terminated, owned by the reply */
const gchar *const *
ms_smtp_reply_get_lines(const MsSmtpReply *self);
/* "250 2.0.0 Ok: queued as X": the code followed by all lines joined with a space,
 * sanitised (no control characters), for logs, Sent signals and error messages */
gchar *
ms_smtp_reply_to_string(const MsSmtpReply *self);
gboolean
ms_smtp_reply_is_positive(const MsSmtpReply *self); /* 2xx */
gboolean
ms_smtp_reply_is_intermediate(const MsSmtpReply *self); /* 3xx */
gboolean
ms_smtp_reply_is_transient(const MsSmtpReply *self); /* 4xx */
gboolean
ms_smtp_reply_is_permanent(const MsSmtpReply *self); /* 5xx */
void
ms_smtp_reply_free(MsSmtpReply *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MsSmtpReply, ms_smtp_reply_free)

/* incremental parser: feed it one line at a time (without the CRLF) as read off the wire */
typedef struct _MsSmtpReplyParser MsSmtpReplyParser;

MsSmtpReplyParser *
ms_smtp_reply_parser_new(void);
/* returns FALSE with a G_IO_ERROR_INVALID_DATA error on garbage (no 3-digit code, code out of
 * range, code changing between lines of one reply, separator not ' '/'-', more than 100 lines,
 * a line over 4096 bytes, NUL bytes); on success *reply is NULL while more lines are needed and
 * the finished reply (transfer full) once the last line arrived; the parser then resets
 * (after an error too: the half-read reply is dropped and the next line starts a new one) */
gboolean
ms_smtp_reply_parser_feed(MsSmtpReplyParser *self,
			  const gchar *line,
			  gsize len,
			  MsSmtpReply **reply,
			  GError **error);
void
ms_smtp_reply_parser_free(MsSmtpReplyParser *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MsSmtpReplyParser, ms_smtp_reply_parser_free)

/* convenience for tests and fuzzers: parse a whole buffer of CRLF (or LF) terminated lines
 * holding exactly one reply */
MsSmtpReply *
ms_smtp_reply_parse(const gchar *text, gsize len, GError **error);

/* EHLO extensions (RFC 5321 §4.1.1.1): keyword (upper-cased) -> parameters (the rest of the
 * line, may be ""); the first line (the server's name) is skipped */
GHashTable *
ms_smtp_reply_get_extensions(const MsSmtpReply *self);

G_END_DECLS
