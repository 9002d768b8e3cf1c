#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* A fixture around tests/smtp-test-server.py, a real SMTP server (aiosmtpd) bound to 127.0.0.1
 * on a free port, storing each accepted message in a fresh temporary maildir.
 *
 * Needs G_TEST_SRCDIR (the tests/ source dir, for the script) and, for the TLS modes,
 * MS_TEST_CERTS_DIR (absolute path of the certificates generated at build time); meson's
 * test_env sets both. Every wait is bounded; the server is stopped (SIGTERM) on free, so use
 * g_autoptr(MsTestServer) and it goes away also when an assertion fails. */
typedef struct _MsTestServer MsTestServer;

/* one message the server accepted: the .eml bytes and the envelope from the .json */
typedef struct {
	gchar *id;
	GBytes *eml; /* the bytes after DATA, dot-unstuffed, CRLF line ends */
	gchar *mail_from;
	GStrv rcpt_tos;
	GStrv mail_options; /* MAIL FROM parameters: "SIZE=123", "BODY=8BITMIME", "SMTPUTF8" */
	gchar *helo;
	gchar *ehlo_or_helo;   /* "EHLO" or "HELO" */
	gchar *auth_login;     /* NULL without AUTH */
	gchar *auth_mechanism; /* "PLAIN", "LOGIN", NULL without AUTH */
	gchar *tls_version;    /* "TLSv1.3", NULL without TLS */
} MsTestMail;

void
ms_test_mail_free(MsTestMail *mail);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MsTestMail, ms_test_mail_free)

/* mode is one of the script's --mode values (plain, starttls, require-starttls, implicit-tls,
 * stall-starttls, greet-421, drop-in-data, tls-only-silent, silent, starttls-inject, no-ehlo);
 * extra_args (NULL-terminated, may be NULL) are passed on, e.g. {"--auth", "alice:s3cret", NULL};
 * they come after the fixture's own arguments, so {"--port", "N", NULL} listens on port N instead
 * of a free one.
 * TLS modes get the test CA's server certificate unless extra_args has --cert. */
MsTestServer *
ms_test_server_start(const gchar *mode, const gchar *const *extra_args, GError **error);
/* same, with $MS_TEST_CERTS_DIR/<certname>.pem and <certname>-key.pem, e.g. "wronghost",
 * "expired" or "selfsigned" */
MsTestServer *
ms_test_server_start_with_cert(const gchar *mode,
			       const gchar *certname,
			       const gchar *const *extra_args,
			       GError **error);
guint16
ms_test_server_get_port(MsTestServer *self);
const gchar *
ms_test_server_get_maildir(MsTestServer *self);
/* the server process while it runs, 0 after ms_test_server_stop() */
GPid
ms_test_server_get_pid(MsTestServer *self);
/* the server's stdout and stderr so far (-v is not on by default) */
gchar *
ms_test_server_get_log(MsTestServer *self);
/* number of .eml files in the maildir now */
guint
ms_test_server_count_messages(MsTestServer *self);
/* waits, iterating the thread-default main context so async code of the test keeps running,
 * until at least n messages are there; returns all of them (MsTestMail, sorted by arrival).
 * On timeout it says so with g_test_message() and returns what is there: assert the length. */
GPtrArray *
ms_test_server_wait_for_messages(MsTestServer *self, guint n, guint timeout_ms);
/* SIGTERM, bounded wait, removes the maildir; safe to call twice */
void
ms_test_server_stop(MsTestServer *self);
/* stops the server if needed; prints its log with g_test_message() if the test failed */
void
ms_test_server_free(MsTestServer *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MsTestServer, ms_test_server_free)

/* $MS_TEST_CERTS_DIR/ca.pem as an absolute path (g_tls_file_database_new() needs one),
 * or NULL (with a g_test_message) if MS_TEST_CERTS_DIR is not set */
gchar *
ms_test_server_get_ca_file(void);
/* $MS_TEST_CERTS_DIR/<name> as an absolute path, or NULL if MS_TEST_CERTS_DIR is not set */
gchar *
ms_test_get_cert_file(const gchar *name);

/* helpers shared by the fixtures, usable by tests too */

typedef gboolean (*MsTestPollFunc)(gpointer user_data);
/* iterates the thread-default main context (so async code and D-Bus signal handlers run) until
 * func returns TRUE (then TRUE) or timeout_ms passed (then FALSE) */
gboolean
ms_test_wait_until(MsTestPollFunc func, gpointer user_data, guint timeout_ms);
/* makes processes spawned by launcher get SIGTERM when the test process dies, also when a
 * failed assertion aborts it before any cleanup runs */
void
ms_test_launcher_die_with_parent(GSubprocessLauncher *launcher);

/* iterates the thread-default main context until the process has exited or timeout_ms passed;
 * returns FALSE on timeout (the process is left running) */
gboolean
ms_test_subprocess_wait(GSubprocess *subprocess, guint timeout_ms);
/* exit code if the process exited, 128 + signal if it was killed by one, -1 if still running */
gint
ms_test_subprocess_get_status(GSubprocess *subprocess);
/* an accounts file with one [account default] for this server (127.0.0.1, its port, a From,
 * helo-name client.example.test, timeout=3, retry-delay=1), plus extra lines */
gchar *
ms_test_server_make_conf(MsTestServer *self, const gchar *extra);
/* whether bytes (a delivered message, say) contain needle */
gboolean
ms_test_bytes_contain(GBytes *bytes, const gchar *needle);
/* removes a directory tree made by a test; never follows symlinks */
gboolean
ms_test_rm_rf(const gchar *path, GError **error);
/* g_test_message() for every line of text, so that multi-line logs stay valid TAP */
void
ms_test_message_lines(const gchar *prefix, const gchar *text);

G_END_DECLS
