#define G_LOG_DOMAIN "MsTestServer"

#include "config.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "ms-test-server.h"

/* how long the fixture waits for the server to start or stop before failing the test */
#define MS_TEST_SERVER_TIMEOUT_MS 20000

struct _MsTestServer {
	GSubprocess *subprocess;
	gchar *tmpdir;
	gchar *maildir;
	gchar *log_path;
	guint16 port;
};

void
ms_test_mail_free(MsTestMail *mail)
{
	g_free(mail->id);
	g_clear_pointer(&mail->eml, g_bytes_unref);
	g_free(mail->mail_from);
	g_strfreev(mail->rcpt_tos);
	g_strfreev(mail->mail_options);
	g_free(mail->helo);
	g_free(mail->ehlo_or_helo);
	g_free(mail->auth_login);
	g_free(mail->auth_mechanism);
	g_free(mail->tls_version);
	g_free(mail);
}

static gboolean
ms_test_tick_cb(gpointer user_data)
{
	/* only here to wake up g_main_context_iteration() now and then */
	return G_SOURCE_CONTINUE;
}

gboolean
ms_test_wait_until(MsTestPollFunc func, gpointer user_data, guint timeout_ms)
{
	g_autoptr(GMainContext) context = g_main_context_ref_thread_default();
	g_autoptr(GSource) tick = g_timeout_source_new(10);
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
	gboolean ret = FALSE;

	g_source_set_callback(tick, ms_test_tick_cb, NULL, NULL);
	g_source_attach(tick, context);
	while (TRUE) {
		if (func(user_data)) {
			ret = TRUE;
			break;
		}
		if (g_get_monotonic_time() >= deadline)
			break;
		g_main_context_iteration(context, TRUE);
	}
	g_source_destroy(tick);
	return ret;
}

static gboolean
ms_test_subprocess_exited_cb(gpointer user_data)
{
	/* the identifier goes away once GLib's child watch has reaped the process */
	return g_subprocess_get_identifier(G_SUBPROCESS(user_data)) == NULL;
}

gboolean
ms_test_subprocess_wait(GSubprocess *subprocess, guint timeout_ms)
{
	return ms_test_wait_until(ms_test_subprocess_exited_cb, subprocess, timeout_ms);
}

gint
ms_test_subprocess_get_status(GSubprocess *subprocess)
{
	if (g_subprocess_get_identifier(subprocess) != NULL)
		return -1;
	/* returns at once for a reaped process; the status getters need it to have run */
	if (!g_subprocess_wait(subprocess, NULL, NULL))
		return -1;
	if (g_subprocess_get_if_exited(subprocess))
		return g_subprocess_get_exit_status(subprocess);
	if (g_subprocess_get_if_signaled(subprocess))
		return 128 + g_subprocess_get_term_sig(subprocess);
	return -1;
}

static void
ms_test_child_setup_cb(gpointer user_data)
{
	/* a failed g_assert() aborts the test without running any cleanup, so make the kernel
	 * send SIGTERM to the child when the test process dies */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != (pid_t)GPOINTER_TO_INT(user_data))
		_exit(1);
}

void
ms_test_launcher_die_with_parent(GSubprocessLauncher *launcher)
{
	g_subprocess_launcher_set_child_setup(launcher,
					      ms_test_child_setup_cb,
					      GINT_TO_POINTER((gint)getpid()),
					      NULL);
}

gboolean
ms_test_rm_rf(const gchar *path, GError **error)
{
	if (g_file_test(path, G_FILE_TEST_IS_DIR) && !g_file_test(path, G_FILE_TEST_IS_SYMLINK)) {
		g_autoptr(GDir) dir = g_dir_open(path, 0, error);
		const gchar *name;
		if (dir == NULL)
			return FALSE;
		while ((name = g_dir_read_name(dir)) != NULL) {
			g_autofree gchar *child = g_build_filename(path, name, NULL);
			if (!ms_test_rm_rf(child, error))
				return FALSE;
		}
	}
	if (g_remove(path) != 0 && errno != ENOENT) {
		gint errsv = errno;
		g_set_error(error,
			    G_IO_ERROR,
			    g_io_error_from_errno(errsv),
			    "cannot remove %s: %s",
			    path,
			    g_strerror(errsv));
		return FALSE;
	}
	return TRUE;
}

void
ms_test_message_lines(const gchar *prefix, const gchar *text)
{
	g_auto(GStrv) lines = NULL;

	if (text == NULL)
		return;
	lines = g_strsplit(text, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		/* a trailing newline gives an empty last element: skip it */
		if (lines[i + 1] == NULL && lines[i][0] == '\0')
			break;
		g_test_message("%s%s", prefix, lines[i]);
	}
}

gchar *
ms_test_get_cert_file(const gchar *name)
{
	const gchar *dir = g_getenv("MS_TEST_CERTS_DIR");
	if (dir == NULL || dir[0] == '\0')
		return NULL;
	/* g_tls_file_database_new() silently trusts nothing when given a relative path */
	return g_canonicalize_filename(name, dir);
}

gchar *
ms_test_server_get_ca_file(void)
{
	gchar *path = ms_test_get_cert_file("ca.pem");
	if (path == NULL)
		g_test_message("MS_TEST_CERTS_DIR is not set: run the test through meson");
	return path;
}

static gboolean
ms_test_server_mode_needs_cert(const gchar *mode)
{
	const gchar *modes[] = {"starttls",
				"require-starttls",
				"implicit-tls",
				"tls-only-silent",
				"starttls-inject",
				NULL};
	return g_strv_contains(modes, mode);
}

gchar *
ms_test_server_get_log(MsTestServer *self)
{
	gchar *text = NULL;

	g_return_val_if_fail(self != NULL, NULL);

	if (self->log_path == NULL || !g_file_get_contents(self->log_path, &text, NULL, NULL))
		return g_strdup("");
	return text;
}

/* SIGTERM and a bounded wait; returns the exit status, -1 if it had to be killed */
static gint
ms_test_server_terminate(MsTestServer *self)
{
	gint status = -1;

	g_subprocess_send_signal(self->subprocess, SIGTERM);
	if (ms_test_subprocess_wait(self->subprocess, MS_TEST_SERVER_TIMEOUT_MS)) {
		status = ms_test_subprocess_get_status(self->subprocess);
	} else {
		g_test_fail_printf("smtp-test-server.py did not exit within %u s of SIGTERM",
				   MS_TEST_SERVER_TIMEOUT_MS / 1000);
		g_subprocess_force_exit(self->subprocess);
		ms_test_subprocess_wait(self->subprocess, MS_TEST_SERVER_TIMEOUT_MS);
	}
	g_clear_object(&self->subprocess);
	return status;
}

typedef struct {
	MsTestServer *self;
	const gchar *ready_file;
	gboolean ready;
} MsTestServerStartHelper;

static gboolean
ms_test_server_ready_cb(gpointer user_data)
{
	MsTestServerStartHelper *helper = user_data;

	/* the script writes the ready file atomically once it listens */
	if (g_file_test(helper->ready_file, G_FILE_TEST_EXISTS)) {
		helper->ready = TRUE;
		return TRUE;
	}
	return g_subprocess_get_identifier(helper->self->subprocess) == NULL;
}

static gboolean
ms_test_server_wait_ready(MsTestServer *self, const gchar *ready_file, GError **error)
{
	MsTestServerStartHelper helper = {.self = self, .ready_file = ready_file};
	g_autofree gchar *contents = NULL;
	g_autofree gchar *log = NULL;
	guint64 port = 0;

	if (!ms_test_wait_until(ms_test_server_ready_cb, &helper, MS_TEST_SERVER_TIMEOUT_MS)) {
		log = ms_test_server_get_log(self);
		g_set_error(error,
			    G_IO_ERROR,
			    G_IO_ERROR_TIMED_OUT,
			    "smtp-test-server.py was not listening after %u s; its output:\n%s",
			    MS_TEST_SERVER_TIMEOUT_MS / 1000,
			    log);
		return FALSE;
	}
	if (!helper.ready) {
		log = ms_test_server_get_log(self);
		g_set_error(error,
			    G_IO_ERROR,
			    G_IO_ERROR_FAILED,
			    "smtp-test-server.py exited with status %d before listening; its "
			    "output:\n%s",
			    ms_test_subprocess_get_status(self->subprocess),
			    log);
		return FALSE;
	}
	if (!g_file_get_contents(ready_file, &contents, NULL, error))
		return FALSE;
	g_strchomp(contents);
	if (!g_ascii_string_to_unsigned(contents, 10, 1, G_MAXUINT16, &port, error)) {
		g_prefix_error(error, "smtp-test-server.py ready file: ");
		return FALSE;
	}
	self->port = (guint16)port;
	return TRUE;
}

static MsTestServer *
ms_test_server_start_internal(const gchar *mode,
			      const gchar *cert,
			      const gchar *key,
			      const gchar *const *extra_args,
			      GError **error)
{
	g_autoptr(MsTestServer) self = g_new0(MsTestServer, 1);
	g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GSubprocessLauncher) launcher = NULL;
	g_autofree gchar *script = g_test_build_filename(G_TEST_DIST, "smtp-test-server.py", NULL);
	g_autofree gchar *ready_file = NULL;

	/* run it directly, not through python3 on PATH: the shebang picks the Python that has
	 * Debian's aiosmtpd */
	if (!g_file_test(script, G_FILE_TEST_IS_EXECUTABLE)) {
		g_set_error(error,
			    G_IO_ERROR,
			    G_IO_ERROR_NOT_FOUND,
			    "%s is missing or not executable (is G_TEST_SRCDIR the tests/ source "
			    "dir?)",
			    script);
		return NULL;
	}
	self->tmpdir = g_dir_make_tmp("ms-test-server-XXXXXX", error);
	if (self->tmpdir == NULL)
		return NULL;
	self->maildir = g_build_filename(self->tmpdir, "mail", NULL);
	self->log_path = g_build_filename(self->tmpdir, "server.log", NULL);
	ready_file = g_build_filename(self->tmpdir, "ready", NULL);

	g_ptr_array_add(argv, g_strdup(script));
	g_ptr_array_add(argv, g_strdup("--mode"));
	g_ptr_array_add(argv, g_strdup(mode));
	g_ptr_array_add(argv, g_strdup("--host"));
	g_ptr_array_add(argv, g_strdup("127.0.0.1"));
	g_ptr_array_add(argv, g_strdup("--port"));
	g_ptr_array_add(argv, g_strdup("0"));
	g_ptr_array_add(argv, g_strdup("--maildir"));
	g_ptr_array_add(argv, g_strdup(self->maildir));
	g_ptr_array_add(argv, g_strdup("--ready-file"));
	g_ptr_array_add(argv, g_strdup(ready_file));
	if (cert != NULL) {
		g_ptr_array_add(argv, g_strdup("--cert"));
		g_ptr_array_add(argv, g_strdup(cert));
		g_ptr_array_add(argv, g_strdup("--key"));
		g_ptr_array_add(argv, g_strdup(key));
	}
	for (guint i = 0; extra_args != NULL && extra_args[i] != NULL; i++)
		g_ptr_array_add(argv, g_strdup(extra_args[i]));
	g_ptr_array_add(argv, NULL);

	/* output goes to a file: a pipe nobody reads would block a chatty server */
	launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDERR_MERGE);
	g_subprocess_launcher_set_stdout_file_path(launcher, self->log_path);
	g_subprocess_launcher_setenv(launcher, "PYTHONUNBUFFERED", "1", TRUE);
	g_subprocess_launcher_setenv(launcher, "PYTHONDONTWRITEBYTECODE", "1", TRUE);
	ms_test_launcher_die_with_parent(launcher);
	self->subprocess =
	    g_subprocess_launcher_spawnv(launcher, (const gchar *const *)argv->pdata, error);
	if (self->subprocess == NULL) {
		g_prefix_error(error, "cannot run %s: ", script);
		return NULL;
	}
	if (!ms_test_server_wait_ready(self, ready_file, error)) {
		/* the error has the details: no second complaint from the cleanup */
		ms_test_server_terminate(self);
		return NULL;
	}
	g_debug("smtp-test-server.py --mode %s listening on 127.0.0.1:%u", mode, self->port);
	return g_steal_pointer(&self);
}

MsTestServer *
ms_test_server_start(const gchar *mode, const gchar *const *extra_args, GError **error)
{
	g_return_val_if_fail(mode != NULL, NULL);

	if (ms_test_server_mode_needs_cert(mode) &&
	    (extra_args == NULL || !g_strv_contains(extra_args, "--cert"))) {
		return ms_test_server_start_with_cert(mode, "server-chain", extra_args, error);
	}
	return ms_test_server_start_internal(mode, NULL, NULL, extra_args, error);
}

MsTestServer *
ms_test_server_start_with_cert(const gchar *mode,
			       const gchar *certname,
			       const gchar *const *extra_args,
			       GError **error)
{
	g_autofree gchar *cert_name = NULL;
	g_autofree gchar *key_name = NULL;
	g_autofree gchar *cert = NULL;
	g_autofree gchar *key = NULL;

	g_return_val_if_fail(mode != NULL, NULL);
	g_return_val_if_fail(certname != NULL, NULL);

	/* server-chain.pem goes with server-key.pem, <name>.pem with <name>-key.pem */
	cert_name = g_strdup_printf("%s.pem", certname);
	key_name = g_strdup_printf("%s-key.pem",
				   g_strcmp0(certname, "server-chain") == 0 ? "server" : certname);
	cert = ms_test_get_cert_file(cert_name);
	key = ms_test_get_cert_file(key_name);
	if (cert == NULL || key == NULL) {
		g_set_error_literal(error,
				    G_IO_ERROR,
				    G_IO_ERROR_NOT_FOUND,
				    "MS_TEST_CERTS_DIR is not set: run the test through meson");
		return NULL;
	}
	if (!g_file_test(cert, G_FILE_TEST_EXISTS) || !g_file_test(key, G_FILE_TEST_EXISTS)) {
		g_set_error(error,
			    G_IO_ERROR,
			    G_IO_ERROR_NOT_FOUND,
			    "%s or %s does not exist: are the test certificates built?",
			    cert,
			    key);
		return NULL;
	}
	return ms_test_server_start_internal(mode, cert, key, extra_args, error);
}

guint16
ms_test_server_get_port(MsTestServer *self)
{
	g_return_val_if_fail(self != NULL, 0);
	return self->port;
}

const gchar *
ms_test_server_get_maildir(MsTestServer *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return self->maildir;
}

GPid
ms_test_server_get_pid(MsTestServer *self)
{
	const gchar *id;

	g_return_val_if_fail(self != NULL, 0);

	if (self->subprocess == NULL)
		return 0;
	id = g_subprocess_get_identifier(self->subprocess);
	if (id == NULL)
		return 0;
	return (GPid)g_ascii_strtoll(id, NULL, 10);
}

static gint
ms_test_server_name_cmp(gconstpointer a, gconstpointer b)
{
	return g_strcmp0(*(const gchar *const *)a, *(const gchar *const *)b);
}

/* the ids (file names without .eml) of the stored messages, oldest first */
static GPtrArray *
ms_test_server_list_ids(MsTestServer *self)
{
	g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GDir) dir = g_dir_open(self->maildir, 0, NULL);
	const gchar *name;

	/* the script creates the maildir at start-up; a missing one just means no mail */
	if (dir == NULL)
		return g_steal_pointer(&ids);
	while ((name = g_dir_read_name(dir)) != NULL) {
		/* ".<name>.tmp" files are being written */
		if (name[0] == '.' || !g_str_has_suffix(name, ".eml"))
			continue;
		g_ptr_array_add(ids, g_strndup(name, strlen(name) - strlen(".eml")));
	}
	/* ids start with a nanosecond timestamp of the same width, so names sort by arrival */
	g_ptr_array_sort(ids, ms_test_server_name_cmp);
	return g_steal_pointer(&ids);
}

guint
ms_test_server_count_messages(MsTestServer *self)
{
	g_autoptr(GPtrArray) ids = NULL;

	g_return_val_if_fail(self != NULL, 0);

	ids = ms_test_server_list_ids(self);
	return ids->len;
}

static gchar *
ms_test_json_dup_string(JsonObject *obj, const gchar *member)
{
	JsonNode *node = json_object_get_member(obj, member);
	if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) ||
	    json_node_get_value_type(node) != G_TYPE_STRING)
		return NULL;
	return json_node_dup_string(node);
}

/* a JSON array of strings as a GStrv, empty when missing */
static GStrv
ms_test_json_dup_strv(JsonObject *obj, const gchar *member)
{
	g_autoptr(GStrvBuilder) builder = g_strv_builder_new();
	JsonNode *node = json_object_get_member(obj, member);

	if (node != NULL && JSON_NODE_HOLDS_ARRAY(node)) {
		JsonArray *array = json_node_get_array(node);
		for (guint i = 0; i < json_array_get_length(array); i++)
			g_strv_builder_add(builder, json_array_get_string_element(array, i));
	}
	return g_strv_builder_end(builder);
}

static MsTestMail *
ms_test_mail_load(const gchar *maildir, const gchar *id, GError **error)
{
	g_autoptr(MsTestMail) mail = g_new0(MsTestMail, 1);
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GStrvBuilder) rcpts = g_strv_builder_new();
	g_autofree gchar *eml_name = g_strdup_printf("%s.eml", id);
	g_autofree gchar *json_name = g_strdup_printf("%s.json", id);
	g_autofree gchar *eml_path = g_build_filename(maildir, eml_name, NULL);
	g_autofree gchar *json_path = g_build_filename(maildir, json_name, NULL);
	gchar *data = NULL;
	gsize len = 0;
	JsonNode *root;
	JsonNode *rcpt_node;
	JsonObject *obj;

	if (!g_file_get_contents(eml_path, &data, &len, error))
		return NULL;
	mail->eml = g_bytes_new_take(data, len);
	mail->id = g_strdup(id);

	/* the script writes the .json before the .eml, so it is complete here */
	if (!json_parser_load_from_file(parser, json_path, error)) {
		g_prefix_error(error, "%s: ", json_path);
		return NULL;
	}
	root = json_parser_get_root(parser);
	if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root)) {
		g_set_error(error,
			    G_IO_ERROR,
			    G_IO_ERROR_INVALID_DATA,
			    "%s: not a JSON object",
			    json_path);
		return NULL;
	}
	obj = json_node_get_object(root);
	mail->mail_from = ms_test_json_dup_string(obj, "mail_from");
	mail->helo = ms_test_json_dup_string(obj, "helo");
	mail->ehlo_or_helo = ms_test_json_dup_string(obj, "ehlo_or_helo");
	mail->auth_login = ms_test_json_dup_string(obj, "auth_login");
	mail->auth_mechanism = ms_test_json_dup_string(obj, "auth_mechanism");
	mail->tls_version = ms_test_json_dup_string(obj, "tls_version");
	rcpt_node = json_object_get_member(obj, "rcpt_tos");
	if (rcpt_node != NULL && JSON_NODE_HOLDS_ARRAY(rcpt_node)) {
		JsonArray *array = json_node_get_array(rcpt_node);
		for (guint i = 0; i < json_array_get_length(array); i++)
			g_strv_builder_add(rcpts, json_array_get_string_element(array, i));
	}
	mail->rcpt_tos = g_strv_builder_end(rcpts);
	mail->mail_options = ms_test_json_dup_strv(obj, "mail_options");
	return g_steal_pointer(&mail);
}

typedef struct {
	MsTestServer *self;
	guint n;
} MsTestServerWaitHelper;

static gboolean
ms_test_server_have_messages_cb(gpointer user_data)
{
	MsTestServerWaitHelper *helper = user_data;
	return ms_test_server_count_messages(helper->self) >= helper->n;
}

GPtrArray *
ms_test_server_wait_for_messages(MsTestServer *self, guint n, guint timeout_ms)
{
	MsTestServerWaitHelper helper = {.self = self, .n = n};
	g_autoptr(GPtrArray) mails =
	    g_ptr_array_new_with_free_func((GDestroyNotify)ms_test_mail_free);
	g_autoptr(GPtrArray) ids = NULL;

	g_return_val_if_fail(self != NULL, NULL);

	if (!ms_test_wait_until(ms_test_server_have_messages_cb, &helper, timeout_ms)) {
		g_test_message(
		    "smtp-test-server on port %u: %u message(s) after %u ms, expected %u",
		    self->port,
		    ms_test_server_count_messages(self),
		    timeout_ms,
		    n);
	}
	ids = ms_test_server_list_ids(self);
	for (guint i = 0; i < ids->len; i++) {
		g_autoptr(GError) error = NULL;
		MsTestMail *mail =
		    ms_test_mail_load(self->maildir, g_ptr_array_index(ids, i), &error);
		if (mail == NULL) {
			g_test_fail_printf("cannot read a stored message: %s", error->message);
			continue;
		}
		g_ptr_array_add(mails, mail);
	}
	return g_steal_pointer(&mails);
}

void
ms_test_server_stop(MsTestServer *self)
{
	g_autoptr(GError) error = NULL;

	g_return_if_fail(self != NULL);

	if (self->subprocess != NULL) {
		/* it exits 0 on SIGTERM; anything else means it crashed during the test */
		gint status = ms_test_server_terminate(self);
		if (status != 0)
			g_test_fail_printf("smtp-test-server.py exited with status %d", status);
	}
	if (self->maildir != NULL && !ms_test_rm_rf(self->maildir, &error))
		g_test_message("%s", error->message);
}

void
ms_test_server_free(MsTestServer *self)
{
	g_autoptr(GError) error = NULL;

	if (self == NULL)
		return;
	ms_test_server_stop(self);
	if (g_test_failed()) {
		g_autofree gchar *log = ms_test_server_get_log(self);
		ms_test_message_lines("smtp-test-server: ", log);
	}
	if (self->tmpdir != NULL && !ms_test_rm_rf(self->tmpdir, &error))
		g_test_message("%s", error->message);
	g_free(self->tmpdir);
	g_free(self->maildir);
	g_free(self->log_path);
	g_free(self);
}

gchar *
ms_test_server_make_conf(MsTestServer *self, const gchar *extra)
{
	return g_strdup_printf("[account default]\n"
			       "host=127.0.0.1\n"
			       "port=%u\n"
			       "from=Sender Test <sender@example.test>\n"
			       "helo-name=client.example.test\n"
			       "timeout=3\n"
			       "retry-delay=1\n"
			       "%s",
			       ms_test_server_get_port(self),
			       extra != NULL ? extra : "");
}

gboolean
ms_test_bytes_contain(GBytes *bytes, const gchar *needle)
{
	gsize len = 0;
	const gchar *data = g_bytes_get_data(bytes, &len);
	return g_strstr_len(data, (gssize)len, needle) != NULL;
}
