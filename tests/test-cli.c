/* The mail-sender command line (MS_CLI_PATH) against the real daemon on a private session bus
 * (tests/keyring-session.sh) and the real aiosmtpd test server: exit status, stdout and stderr
 * exactly as a user or a cron job sees them, and the bytes the server stored. */

#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "ms-test-bus.h"
#include "ms-test-server.h"

#define WAIT_MS 30000

/* sysexits.h, as sendmail's callers test for them */
#define EX_USAGE       64
#define EX_DATAERR     65
#define EX_UNAVAILABLE 69

typedef struct {
	gint status;
	gchar *out;
	gchar *err;
} CliResult;

static void
cli_result_free(CliResult *self)
{
	g_free(self->out);
	g_free(self->err);
	g_free(self);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CliResult, cli_result_free)

typedef struct {
	gboolean done;
	gchar *out;
	gchar *err;
	GError *error;
} CliCommunicate;

static void
cli_communicate_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	CliCommunicate *data = user_data;

	g_subprocess_communicate_utf8_finish(G_SUBPROCESS(source),
					     res,
					     &data->out,
					     &data->err,
					     &data->error);
	data->done = TRUE;
}

static gboolean
cli_communicate_done(gpointer user_data)
{
	CliCommunicate *data = user_data;
	return data->done;
}

/* runs the CLI (or program, e.g. a "sendmail" symlink to it) with args; stdin is input (a pipe),
 * or the file stdin_path, or /dev/null; env are extra "NAME=VALUE" strings */
static CliResult *
run_cli_full(const gchar *program,
	     const gchar *const *args,
	     const gchar *input,
	     const gchar *stdin_path,
	     const gchar *const *env)
{
	GSubprocessFlags flags = G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE;
	g_autoptr(GSubprocessLauncher) launcher = NULL;
	g_autoptr(GSubprocess) proc = NULL;
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	g_autoptr(GError) error = NULL;
	CliCommunicate data = {FALSE};
	CliResult *result = g_new0(CliResult, 1);

	if (input != NULL)
		flags |= G_SUBPROCESS_FLAGS_STDIN_PIPE;
	launcher = g_subprocess_launcher_new(flags);
	if (input == NULL)
		g_subprocess_launcher_set_stdin_file_path(launcher,
							  stdin_path != NULL ? stdin_path
									     : "/dev/null");
	for (guint i = 0; env != NULL && env[i] != NULL; i++) {
		g_auto(GStrv) kv = g_strsplit(env[i], "=", 2);
		g_subprocess_launcher_setenv(launcher, kv[0], kv[1], TRUE);
	}
	ms_test_launcher_die_with_parent(launcher);
	g_ptr_array_add(argv, (gpointer)(program != NULL ? program : g_getenv("MS_CLI_PATH")));
	g_assert_nonnull(g_ptr_array_index(argv, 0));
	for (guint i = 0; args != NULL && args[i] != NULL; i++)
		g_ptr_array_add(argv, (gpointer)args[i]);
	g_ptr_array_add(argv, NULL);
	proc = g_subprocess_launcher_spawnv(launcher, (const gchar *const *)argv->pdata, &error);
	g_assert_no_error(error);
	g_subprocess_communicate_utf8_async(proc, input, NULL, cli_communicate_cb, &data);
	if (!ms_test_wait_until(cli_communicate_done, &data, WAIT_MS)) {
		g_subprocess_force_exit(proc);
		g_assert_true(ms_test_wait_until(cli_communicate_done, &data, WAIT_MS));
		g_test_fail_printf("mail-sender did not finish within %u ms", WAIT_MS);
	}
	g_assert_no_error(data.error);
	g_assert_true(ms_test_subprocess_wait(proc, WAIT_MS));
	result->status = ms_test_subprocess_get_status(proc);
	result->out = data.out != NULL ? data.out : g_strdup("");
	result->err = data.err != NULL ? data.err : g_strdup("");
	g_test_message("exit %d", result->status);
	ms_test_message_lines("stdout: ", result->out);
	ms_test_message_lines("stderr: ", result->err);
	return result;
}

static CliResult *
run_cli(const gchar *const *args, const gchar *input)
{
	return run_cli_full(NULL, args, input, NULL, NULL);
}

/* ---- helpers around the daemon ---- */

static GVariant *
get_job_property(MsTestDaemon *daemon, const gchar *job, const gchar *name)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) ret = NULL;
	GVariant *value = NULL;

	ret = g_dbus_connection_call_sync(ms_test_daemon_get_bus(daemon),
					  "org.mail.Sender",
					  job,
					  "org.freedesktop.DBus.Properties",
					  "Get",
					  g_variant_new("(ss)", "org.mail.Sender.Job", name),
					  G_VARIANT_TYPE("(v)"),
					  G_DBUS_CALL_FLAGS_NONE,
					  WAIT_MS,
					  NULL,
					  &error);
	g_assert_no_error(error);
	g_variant_get(ret, "(v)", &value);
	return value;
}

static gchar *
get_job_string(MsTestDaemon *daemon, const gchar *job, const gchar *name)
{
	g_autoptr(GVariant) value = get_job_property(daemon, job, name);
	return g_variant_dup_string(value, NULL);
}

typedef struct {
	MsTestDaemon *daemon;
	const gchar *job;
	const gchar *state;
} JobStateWait;

static gboolean
job_state_is(gpointer user_data)
{
	JobStateWait *wait = user_data;
	g_autofree gchar *state = get_job_string(wait->daemon, wait->job, "State");
	return g_str_equal(state, wait->state);
}

/* the body of a stored message: everything after the first empty line */
static gchar *
mail_body(MsTestMail *mail)
{
	gsize len = 0;
	const gchar *data = g_bytes_get_data(mail->eml, &len);
	const gchar *sep = g_strstr_len(data, (gssize)len, "\r\n\r\n");

	g_assert_nonnull(sep);
	return g_strndup(sep + 4, len - (gsize)(sep + 4 - data));
}

/* the one message the server got */
static MsTestMail *
wait_one_mail(MsTestServer *server, GPtrArray **mails)
{
	*mails = ms_test_server_wait_for_messages(server, 1, WAIT_MS);
	g_assert_cmpuint((*mails)->len, ==, 1);
	return g_ptr_array_index(*mails, 0);
}

/* what `send --wait` prints for the stages the job went through, when stdout is not a
 * terminal: one line per stage, "sending" with the message size */
static gchar *
stage_lines(MsTestDaemon *daemon, MsTestSignals *signals, const gchar *job)
{
	g_autofree gchar *stages = ms_test_signals_get_stages(signals, job);
	g_auto(GStrv) names = g_strsplit(stages, " ", -1);
	g_autoptr(GVariant) total = get_job_property(daemon, job, "BytesTotal");
	g_autofree gchar *size =
	    g_format_size_full(g_variant_get_uint64(total), G_FORMAT_SIZE_IEC_UNITS);
	GString *str = g_string_new(NULL);

	for (guint i = 0; names[i] != NULL; i++) {
		if (g_str_equal(names[i], "sending"))
			g_string_append_printf(str, "sending %s\n", size);
		else
			g_string_append_printf(str, "%s\n", names[i]);
	}
	return g_string_free(str, FALSE);
}

/* the job path on the first line of stdout */
static gchar *
first_line(const gchar *text)
{
	const gchar *nl = strchr(text, '\n');
	g_assert_nonnull(nl);
	return g_strndup(text, nl - text);
}

/* ---- no daemon needed ---- */

static void
test_usage(void)
{
	const gchar *version[] = {"--version", NULL};
	const gchar *none[] = {NULL};
	const gchar *unknown[] = {"frobnicate", NULL};
	const gchar *no_rcpt[] = {"send", "--subject", "x", NULL};
	const gchar *both_bodies[] =
	    {"send", "--to", "a@example.test", "--body", "x", "--body-file", "/dev/null", NULL};
	const gchar *bad_header[] = {"send", "--to", "a@example.test", "--header", "NoColon", NULL};
	const gchar *both_buses[] = {"--system", "jobs", "--session", NULL};
	const gchar *cancel_bad[] = {"cancel", "not/a/job", NULL};
	const gchar *cancel_none[] = {"cancel", NULL};
	g_autoptr(CliResult) r = NULL;

	r = run_cli(version, NULL);
	g_assert_cmpint(r->status, ==, 0);
	g_assert_cmpstr(r->out, ==, "mail-sender " PACKAGE_VERSION "\n");
	g_assert_cmpstr(r->err, ==, "");
	g_clear_pointer(&r, cli_result_free);

	r = run_cli(none, NULL);
	g_assert_cmpint(r->status, ==, 2);
	g_assert_cmpstr(r->err,
			==,
			"mail-sender: no command given\n"
			"Try “mail-sender --help” for more information.\n");
	g_clear_pointer(&r, cli_result_free);

	r = run_cli(unknown, NULL);
	g_assert_cmpint(r->status, ==, 2);
	g_assert_true(g_str_has_prefix(r->err, "mail-sender: unknown command “frobnicate”\n"));
	g_clear_pointer(&r, cli_result_free);

	r = run_cli(no_rcpt, NULL);
	g_assert_cmpint(r->status, ==, 2);
	g_assert_cmpstr(r->out, ==, "");
	g_assert_cmpstr(r->err,
			==,
			"mail-sender send: no recipient: give at least one --to, --cc or --bcc\n"
			"Try “mail-sender send --help” for more information.\n");
	g_clear_pointer(&r, cli_result_free);

	r = run_cli(both_bodies, NULL);
	g_assert_cmpint(r->status, ==, 2);
	g_assert_true(
	    g_str_has_prefix(r->err,
			     "mail-sender send: --body and --body-file cannot be used together\n"));
	g_clear_pointer(&r, cli_result_free);

	r = run_cli(bad_header, NULL);
	g_assert_cmpint(r->status, ==, 2);
	g_assert_true(
	    g_str_has_prefix(r->err,
			     "mail-sender send: --header wants “Name: value”, not “NoColon”\n"));
	g_clear_pointer(&r, cli_result_free);

	r = run_cli(both_buses, NULL);
	g_assert_cmpint(r->status, ==, 2);
	g_assert_true(
	    g_str_has_prefix(r->err,
			     "mail-sender jobs: --system and --session cannot be used together\n"));
	g_clear_pointer(&r, cli_result_free);

	r = run_cli(cancel_bad, NULL);
	g_assert_cmpint(r->status, ==, 2);
	g_assert_true(g_str_has_prefix(
	    r->err,
	    "mail-sender cancel: “not/a/job” is not a job id or job object path\n"));
	g_clear_pointer(&r, cli_result_free);

	r = run_cli(cancel_none, NULL);
	g_assert_cmpint(r->status, ==, 2);
	g_assert_true(g_str_has_prefix(r->err, "mail-sender cancel: give exactly one job\n"));
}

static void
test_help(void)
{
	const gchar *commands[] = {"send", "notify", "jobs", "cancel", "accounts", "verify"};
	const gchar *main_help[] = {"--help", NULL};
	const gchar *sendmail_help[] = {"sendmail", "--help", NULL};
	g_autoptr(CliResult) r = NULL;

	r = run_cli(main_help, NULL);
	g_assert_cmpint(r->status, ==, 0);
	g_assert_true(g_str_has_prefix(r->out, "Usage:\n  mail-sender [OPTION…] COMMAND"));
	for (guint i = 0; i < G_N_ELEMENTS(commands); i++) {
		g_autofree gchar *line = g_strdup_printf("\n  %-10s ", commands[i]);
		g_assert_nonnull(strstr(r->out, line));
	}
	g_assert_nonnull(strstr(r->out, "\n  sendmail   "));
	g_clear_pointer(&r, cli_result_free);

	for (guint i = 0; i < G_N_ELEMENTS(commands); i++) {
		const gchar *args[] = {commands[i], "--help", NULL};
		g_autofree gchar *usage = g_strdup_printf("Usage:\n  mail-sender %s ", commands[i]);

		r = run_cli(args, NULL);
		g_assert_cmpint(r->status, ==, 0);
		g_assert_true(g_str_has_prefix(r->out, usage));
		g_assert_nonnull(strstr(r->out, "  --system "));
		g_assert_nonnull(strstr(r->out, "Exit status: "));
		g_clear_pointer(&r, cli_result_free);
	}
	r = run_cli(sendmail_help, NULL);
	g_assert_cmpint(r->status, ==, 0);
	g_assert_true(g_str_has_prefix(r->out, "Usage:\n  sendmail [-t] [-i] [-f FROM]"));
	g_assert_nonnull(strstr(r->out, "69 service unavailable"));
}

static void
test_sendmail_usage(void)
{
	struct {
		const gchar *args[5];
		const gchar *err;
	} cases[] = {
	    {{"sendmail", "-y", "a@example.test", NULL}, "sendmail: unknown option -y\n"},
	    {{"sendmail", "--frob", "a@example.test", NULL}, "sendmail: unknown option --frob\n"},
	    {{"sendmail", "-i", NULL},
	     "sendmail: no recipients: name them on the command line, or use -t to take them "
	     "from the headers\n"},
	    {{"sendmail", "-t", "a@example.test", NULL},
	     "sendmail: -t takes the recipients from the headers: put them all in To, Cc or Bcc "
	     "instead of on the command line\n"},
	    {{"sendmail", "a@example.test", "-f", NULL},
	     "sendmail: option -f requires an argument\n"},
	    {{"sendmail", "-bp", NULL},
	     "sendmail: mode -bp is not supported: only -bm (read a message on standard "
	     "input)\n"},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		/* stdin is /dev/null: the CLI stops before reading it, and a pipe it never
		 * read could fail the write */
		g_autoptr(CliResult) r = run_cli(cases[i].args, NULL);

		g_test_message("case %u", i);
		g_assert_cmpint(r->status, ==, EX_USAGE);
		g_assert_cmpstr(r->out, ==, "");
		g_assert_cmpstr(r->err, ==, cases[i].err);
	}
}

/* no daemon on the bus, and no bus at all: EX_UNAVAILABLE, so that cron retries or reports */
static void
test_sendmail_no_daemon(void)
{
	const gchar *args[] = {"sendmail", "-i", "a@example.test", NULL};
	const gchar *no_bus_env[] = {"DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent/bus", NULL};
	g_autoptr(CliResult) r = NULL;

	r = run_cli(args, NULL);
	g_assert_cmpint(r->status, ==, EX_UNAVAILABLE);
	g_assert_cmpstr(r->out, ==, "");
	g_assert_true(g_str_has_prefix(r->err,
				       "sendmail: cannot reach the mail service on the session "
				       "bus: "));
	g_assert_nonnull(strstr(r->err, "org.mail.Sender"));
	g_clear_pointer(&r, cli_result_free);

	r = run_cli_full(NULL, args, NULL, NULL, no_bus_env);
	g_assert_cmpint(r->status, ==, EX_UNAVAILABLE);
	g_assert_true(g_str_has_prefix(r->err,
				       "sendmail: cannot reach the mail service on the session "
				       "bus: "));
}

/* a symlink named sendmail is the sendmail command, options and all */
static void
test_sendmail_symlink(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *dir = g_dir_make_tmp("mail-sender-cli-XXXXXX", &error);
	g_autofree gchar *link = NULL;
	const gchar *bad_flag[] = {"-y", "a@example.test", NULL};
	const gchar *version[] = {"--version", NULL};
	g_autoptr(CliResult) r = NULL;

	g_assert_no_error(error);
	link = g_build_filename(dir, "sendmail", NULL);
	g_assert_cmpint(symlink(g_getenv("MS_CLI_PATH"), link), ==, 0);
	r = run_cli_full(link, bad_flag, NULL, NULL, NULL);
	g_assert_cmpint(r->status, ==, EX_USAGE);
	g_assert_cmpstr(r->err, ==, "sendmail: unknown option -y\n");
	g_clear_pointer(&r, cli_result_free);
	r = run_cli_full(link, version, NULL, NULL, NULL);
	g_assert_cmpint(r->status, ==, 0);
	g_assert_cmpstr(r->out, ==, "mail-sender " PACKAGE_VERSION "\n");
	g_assert_true(ms_test_rm_rf(dir, &error));
	g_assert_no_error(error);
}

/* ---- send ---- */

static void
test_send_wait(void)
{
	const gchar *args[] = {"send",
			       "--to",
			       "to@example.test",
			       "--cc",
			       "cc@example.test",
			       "--bcc",
			       "hidden@example.test",
			       "--subject",
			       "Hello from the CLI",
			       "--body",
			       "first line\nsecond line\n",
			       "--header",
			       "X-Cli-Test:  yes ",
			       "--wait",
			       NULL};
	const gchar *rcpts_expected[] = {"to@example.test",
					 "cc@example.test",
					 "hidden@example.test",
					 NULL};
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = ms_test_server_start("plain", NULL, &error);
	g_autofree gchar *conf = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(MsTestSignals) signals = NULL;
	g_autoptr(CliResult) r = NULL;
	g_autoptr(GPtrArray) mails = NULL;
	g_autoptr(GVariant) total = NULL;
	g_autofree gchar *job = NULL;
	g_autofree gchar *reply = NULL;
	g_autofree gchar *size = NULL;
	g_autofree gchar *expected = NULL;
	g_autofree gchar *body = NULL;
	MsTestMail *mail;

	g_assert_no_error(error);
	conf = ms_test_server_make_conf(server, "security=none\n");
	daemon = ms_test_daemon_start(conf, &error);
	g_assert_no_error(error);
	signals = ms_test_signals_new(ms_test_daemon_get_bus(daemon));

	r = run_cli(args, NULL);
	g_assert_cmpint(r->status, ==, 0);
	g_assert_cmpstr(r->err, ==, "");
	job = first_line(r->out);
	g_assert_true(g_str_has_prefix(job, "/org/mail/Sender/Job/"));
	g_assert_true(ms_test_signals_wait_finished(signals, job, WAIT_MS));
	reply = get_job_string(daemon, job, "ServerReply");
	g_assert_true(g_str_has_prefix(reply, "250 "));
	total = get_job_property(daemon, job, "BytesTotal");
	size = g_format_size_full(g_variant_get_uint64(total), G_FORMAT_SIZE_IEC_UNITS);
	/* not a terminal: one line per stage, then the server's reply */
	expected =
	    g_strdup_printf("%s\nqueued\nconnecting\nsending %s\nsent: %s\n", job, size, reply);
	g_assert_cmpstr(r->out, ==, expected);

	mail = wait_one_mail(server, &mails);
	g_assert_cmpstrv(mail->rcpt_tos, rcpts_expected);
	g_assert_cmpstr(mail->mail_from, ==, "sender@example.test");
	g_assert_true(ms_test_bytes_contain(mail->eml, "\r\nSubject: Hello from the CLI\r\n"));
	g_assert_true(ms_test_bytes_contain(mail->eml, "\r\nTo: to@example.test\r\n"));
	g_assert_true(ms_test_bytes_contain(mail->eml, "\r\nCc: cc@example.test\r\n"));
	g_assert_true(ms_test_bytes_contain(mail->eml, "\r\nX-Cli-Test: yes\r\n"));
	g_assert_false(ms_test_bytes_contain(mail->eml, "hidden@example.test"));
	body = mail_body(mail);
	g_assert_cmpstr(body, ==, "first line\r\nsecond line\r\n");
}

/* without --wait: the job path, at once */
static void
test_send_no_wait(void)
{
	const gchar *args[] = {"send",
			       "--to",
			       "to@example.test",
			       "--subject",
			       "Grüße",
			       "--body-file",
			       "-",
			       "--from",
			       "Other Sender <other@example.test>",
			       NULL};
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = ms_test_server_start("plain", NULL, &error);
	g_autofree gchar *conf = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(MsTestSignals) signals = NULL;
	g_autoptr(CliResult) r = NULL;
	g_autoptr(GPtrArray) mails = NULL;
	g_autofree gchar *job = NULL;
	g_autofree gchar *body = NULL;
	MsTestMail *mail;

	g_assert_no_error(error);
	conf = ms_test_server_make_conf(server, "security=none\n");
	daemon = ms_test_daemon_start(conf, &error);
	g_assert_no_error(error);
	signals = ms_test_signals_new(ms_test_daemon_get_bus(daemon));

	r = run_cli(args, "body from stdin\n");
	g_assert_cmpint(r->status, ==, 0);
	g_assert_cmpstr(r->err, ==, "");
	job = first_line(r->out);
	g_assert_true(g_str_has_prefix(job, "/org/mail/Sender/Job/"));
	g_assert_cmpuint(strlen(r->out), ==, strlen(job) + 1);
	g_assert_true(ms_test_signals_wait_finished(signals, job, WAIT_MS));
	mail = wait_one_mail(server, &mails);
	g_assert_cmpstr(mail->mail_from, ==, "other@example.test");
	g_assert_true(
	    ms_test_bytes_contain(mail->eml, "From: Other Sender <other@example.test>\r\n"));
	g_assert_true(ms_test_bytes_contain(mail->eml, "Subject: =?UTF-8?"));
	body = mail_body(mail);
	g_assert_cmpstr(body, ==, "body from stdin\r\n");
}

/* a body file that is not UTF-8 is refused before anything is sent */
static void
test_send_body_not_utf8(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *path = NULL;
	g_autofree gchar *expected = NULL;
	g_autoptr(CliResult) r = NULL;
	gint fd = g_file_open_tmp("mail-sender-cli-XXXXXX.txt", &path, &error);
	const gchar *args[] = {"send", "--to", "a@example.test", "--body-file", NULL, NULL};

	g_assert_no_error(error);
	g_close(fd, NULL);
	g_assert_true(g_file_set_contents(path, "caf\xe9\n", -1, &error));
	g_assert_no_error(error);
	args[4] = path;
	r = run_cli(args, NULL);
	g_assert_cmpint(r->status, ==, 1);
	g_assert_cmpstr(r->out, ==, "");
	expected =
	    g_strdup_printf("error: %s is not UTF-8 text (convert it, or send it with --attach)\n",
			    path);
	g_assert_cmpstr(r->err, ==, expected);
	g_unlink(path);
}

static void
test_send_wait_rejected(void)
{
	const gchar *server_args[] = {"--reject-rcpt", "nobody@example.test", NULL};
	const gchar *args[] = {"send",
			       "--to",
			       "nobody@example.test",
			       "--subject",
			       "x",
			       "--body",
			       "y",
			       "--wait",
			       NULL};
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = ms_test_server_start("plain", server_args, &error);
	g_autofree gchar *conf = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(MsTestSignals) signals = NULL;
	g_autoptr(CliResult) r = NULL;
	g_autofree gchar *job = NULL;
	g_autofree gchar *message = NULL;
	g_autofree gchar *expected_err = NULL;
	g_autofree gchar *expected_out = NULL;
	g_autofree gchar *stages = NULL;

	g_assert_no_error(error);
	conf = ms_test_server_make_conf(server, "security=none\n");
	daemon = ms_test_daemon_start(conf, &error);
	g_assert_no_error(error);
	signals = ms_test_signals_new(ms_test_daemon_get_bus(daemon));

	r = run_cli(args, NULL);
	g_assert_cmpint(r->status, ==, 1);
	job = first_line(r->out);
	g_assert_true(ms_test_signals_wait_finished(signals, job, WAIT_MS));
	g_assert_true(g_str_has_prefix(ms_test_signals_get_result(signals, job),
				       "Failed org.mail.Sender.Error.Rejected "));
	message = get_job_string(daemon, job, "ErrorMessage");
	g_assert_nonnull(strstr(message, "550"));
	expected_err = g_strdup_printf("error: %s (org.mail.Sender.Error.Rejected)\n", message);
	g_assert_cmpstr(r->err, ==, expected_err);
	/* the stages it got through, and no "sent:" line */
	stages = stage_lines(daemon, signals, job);
	g_assert_true(g_str_has_prefix(stages, "queued\nconnecting\n"));
	expected_out = g_strdup_printf("%s\n%s", job, stages);
	g_assert_cmpstr(r->out, ==, expected_out);
	g_assert_cmpuint(ms_test_server_count_messages(server), ==, 0);
}

/* the daemon's own refusals come back as "error: <message> (<name>)", exit 1 */
static void
test_send_refused(void)
{
	const gchar *args[] = {"send", "--to", "a@example.test", "--account", "nope", NULL};
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = ms_test_server_start("plain", NULL, &error);
	g_autofree gchar *conf = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(CliResult) r = NULL;

	g_assert_no_error(error);
	conf = ms_test_server_make_conf(server, "security=none\n");
	daemon = ms_test_daemon_start(conf, &error);
	g_assert_no_error(error);
	r = run_cli(args, NULL);
	g_assert_cmpint(r->status, ==, 1);
	g_assert_cmpstr(r->out, ==, "");
	g_assert_cmpstr(r->err,
			==,
			"error: No account 'nope' is configured (accounts: default) "
			"(org.mail.Sender.Error.NoSuchAccount)\n");
}

/* --attach passes the file as an fd with its name and content type */
static void
test_send_attach(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = ms_test_server_start("plain", NULL, &error);
	g_autofree gchar *conf = NULL;
	g_autofree gchar *dir = g_dir_make_tmp("mail-sender-cli-XXXXXX", &error);
	g_autofree gchar *path = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(MsTestSignals) signals = NULL;
	g_autoptr(CliResult) r = NULL;
	g_autoptr(GPtrArray) mails = NULL;
	guint8 data[3000];
	const gchar *args[] = {"send",
			       "--to",
			       "a@example.test",
			       "--subject",
			       "report",
			       "--body",
			       "see attached",
			       "--attach",
			       NULL,
			       "--wait",
			       NULL};

	g_assert_no_error(error);
	for (guint i = 0; i < sizeof(data); i++)
		data[i] = (guint8)(i * 7 + 3);
	path = g_build_filename(dir, "data.pdf", NULL);
	g_assert_true(g_file_set_contents(path, (const gchar *)data, sizeof(data), &error));
	g_assert_no_error(error);
	args[8] = path;
	conf = ms_test_server_make_conf(server, "security=none\n");
	daemon = ms_test_daemon_start(conf, &error);
	g_assert_no_error(error);
	signals = ms_test_signals_new(ms_test_daemon_get_bus(daemon));

	r = run_cli(args, NULL);
	if (r->status == 1 && strstr(r->err, "not supported yet") != NULL) {
		/* today's daemon refuses attachments rather than dropping them; the CLI got as
		 * far as passing the fd (an unreadable file would have failed before the call).
		 * Once the daemon composes attachments, the branch below is what runs. */
		g_assert_cmpstr(r->out, ==, "");
		g_assert_cmpstr(r->err,
				==,
				"error: 'attachments' is not supported yet: send a text body only "
				"(org.mail.Sender.Error.InvalidArgs)\n");
		g_assert_cmpuint(ms_test_server_count_messages(server), ==, 0);
	} else {
		MsTestMail *mail;
		g_autofree gchar *b64 = g_base64_encode(data, 57);

		g_assert_cmpint(r->status, ==, 0);
		mail = wait_one_mail(server, &mails);
		g_assert_true(ms_test_bytes_contain(mail->eml, "application/pdf"));
		g_assert_true(ms_test_bytes_contain(mail->eml, "data.pdf"));
		/* the first base64 line of the file's bytes (57 bytes make 76 characters) */
		g_assert_true(ms_test_bytes_contain(mail->eml, b64));
	}
	g_assert_true(ms_test_rm_rf(dir, &error));
	g_assert_no_error(error);
}

/* an attachment that cannot be opened fails before any call */
static void
test_send_attach_missing(void)
{
	const gchar *args[] =
	    {"send", "--to", "a@example.test", "--attach", "/nonexistent/x.txt", NULL};
	g_autoptr(CliResult) r = run_cli(args, NULL);

	g_assert_cmpint(r->status, ==, 1);
	g_assert_cmpstr(r->err,
			==,
			"error: cannot open /nonexistent/x.txt: No such file or directory\n");
}

/* ---- jobs, cancel, accounts ---- */

static void
test_jobs_and_cancel(void)
{
	const gchar *send_args[] =
	    {"send", "--to", "a@example.test", "--cc", "b@example.test", "--body", "x", NULL};
	const gchar *jobs_args[] = {"jobs", NULL};
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = ms_test_server_start("greet-421", NULL, &error);
	g_autofree gchar *conf = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(MsTestSignals) signals = NULL;
	g_autoptr(CliResult) r = NULL;
	g_autofree gchar *job = NULL;
	g_autofree gchar *id = NULL;
	g_autofree gchar *error_message = NULL;
	g_autofree gchar *expected = NULL;
	g_autofree gchar *header = NULL;
	g_auto(GStrv) lines = NULL;
	JobStateWait wait = {NULL};

	g_assert_no_error(error);
	conf = ms_test_server_make_conf(server, "security=none\nretry-delay=3600\n");
	daemon = ms_test_daemon_start(conf, &error);
	g_assert_no_error(error);
	signals = ms_test_signals_new(ms_test_daemon_get_bus(daemon));

	r = run_cli(jobs_args, NULL);
	g_assert_cmpint(r->status, ==, 0);
	g_assert_cmpstr(r->out, ==, "No jobs.\n");
	g_clear_pointer(&r, cli_result_free);

	r = run_cli(send_args, NULL);
	g_assert_cmpint(r->status, ==, 0);
	job = first_line(r->out);
	id = g_strdup(job + strlen("/org/mail/Sender/Job/"));
	g_clear_pointer(&r, cli_result_free);
	wait.daemon = daemon;
	wait.job = job;
	wait.state = "deferred";
	g_assert_true(ms_test_wait_until(job_state_is, &wait, WAIT_MS));
	error_message = get_job_string(daemon, job, "ErrorMessage");

	r = run_cli(jobs_args, NULL);
	g_assert_cmpint(r->status, ==, 0);
	g_assert_cmpstr(r->err, ==, "");
	lines = g_strsplit(r->out, "\n", -1);
	g_assert_cmpuint(g_strv_length(lines), ==, 3);
	/* columns two blanks apart, each as wide as its widest cell */
	header = g_strdup_printf("%-*s  STATE     ATTEMPTS  %-*s  ERROR",
				 (gint)strlen(id),
				 "ID",
				 (gint)strlen("a@example.test, b@example.test"),
				 "RECIPIENTS");
	g_assert_cmpstr(lines[0], ==, header);
	expected = g_strdup_printf("%s  deferred  1         a@example.test, b@example.test  "
				   "Temporary: %s",
				   id,
				   error_message);
	g_assert_cmpstr(lines[1], ==, expected);
	g_assert_cmpstr(lines[2], ==, "");
	g_clear_pointer(&r, cli_result_free);

	/* by id */
	{
		const gchar *cancel_args[] = {"cancel", id, NULL};
		r = run_cli(cancel_args, NULL);
	}
	g_assert_cmpint(r->status, ==, 0);
	g_assert_cmpstr(r->out, ==, "");
	g_assert_cmpstr(r->err, ==, "");
	g_clear_pointer(&r, cli_result_free);
	g_assert_true(ms_test_signals_wait_finished(signals, job, WAIT_MS));
	g_assert_true(g_str_has_prefix(ms_test_signals_get_result(signals, job),
				       "Failed org.mail.Sender.Error.Cancelled "));

	r = run_cli(jobs_args, NULL);
	g_assert_cmpint(r->status, ==, 0);
	g_assert_nonnull(strstr(r->out, "  cancelled  "));
	g_assert_nonnull(strstr(r->out, "Cancelled: "));
	g_clear_pointer(&r, cli_result_free);

	/* by path, a second time: the job has finished, which is the daemon's InvalidArgs */
	{
		const gchar *cancel_args[] = {"cancel", job, NULL};
		r = run_cli(cancel_args, NULL);
	}
	g_assert_cmpint(r->status, ==, 1);
	g_assert_cmpstr(r->out, ==, "");
	g_assert_true(g_str_has_prefix(r->err, "error: "));
	g_assert_true(g_str_has_suffix(r->err, " (org.mail.Sender.Error.InvalidArgs)\n"));
}

static void
test_accounts(void)
{
	const gchar *args[] = {"accounts", NULL};
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = ms_test_server_start("plain", NULL, &error);
	g_autofree gchar *conf = NULL;
	g_autofree gchar *port_line = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(CliResult) r = NULL;

	g_assert_no_error(error);
	conf = ms_test_server_make_conf(
	    server,
	    "security=none\n\n[account work]\nhost=smtp.example.org\nusername=me\n");
	daemon = ms_test_daemon_start(conf, &error);
	g_assert_no_error(error);
	r = run_cli(args, NULL);
	g_assert_cmpint(r->status, ==, 0);
	g_assert_cmpstr(r->err, ==, "");
	/* sorted by name, settings sorted by key, a blank line between accounts */
	g_assert_true(g_str_has_prefix(r->out, "default\n  "));
	port_line = g_strdup_printf("\n  port: %u\n", ms_test_server_get_port(server));
	g_assert_nonnull(strstr(r->out, port_line));
	g_assert_nonnull(strstr(r->out, "\n  host: 127.0.0.1\n"));
	g_assert_nonnull(strstr(r->out, "\n  from: Sender Test <sender@example.test>\n"));
	g_assert_nonnull(strstr(r->out, "\n  security: none\n"));
	g_assert_nonnull(strstr(r->out, "\n  tls-verify: true\n"));
	g_assert_nonnull(strstr(r->out, "\n\nwork\n  "));
	g_assert_nonnull(strstr(r->out, "\n  host: smtp.example.org\n"));
	g_assert_nonnull(strstr(r->out, "\n  username: me\n"));
	g_assert_null(strstr(r->out, "password"));
}

/* ---- verify ---- */

static void
test_verify_implicit_tls(void)
{
	const gchar *args[] = {"verify", NULL};
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = ms_test_server_start("implicit-tls", NULL, &error);
	g_autofree gchar *ca = ms_test_server_get_ca_file();
	g_autofree gchar *cert_path = ms_test_get_cert_file("server.pem");
	g_autoptr(GTlsCertificate) cert = NULL;
	g_autoptr(GByteArray) der = NULL;
	g_autoptr(GDateTime) not_after = NULL;
	g_autofree gchar *pin = NULL;
	g_autofree gchar *expiry = NULL;
	g_autofree gchar *extra = NULL;
	g_autofree gchar *conf = NULL;
	g_autofree gchar *line = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(CliResult) r = NULL;
	g_auto(GStrv) lines = NULL;
	const gchar *labels[] = {"Server:              ",
				 "Security:            ",
				 "Greeting:            ",
				 "Extensions:          ",
				 "Auth mechanisms:     ",
				 "Auth used:           ",
				 "TLS version:         ",
				 "TLS cipher:          ",
				 "Certificate subject: ",
				 "Certificate issuer:  ",
				 "Certificate expires: ",
				 "Certificate SHA-256: ",
				 "Elapsed:             "};

	g_assert_no_error(error);
	cert = g_tls_certificate_new_from_file(cert_path, &error);
	g_assert_no_error(error);
	g_object_get(cert, "certificate", &der, NULL);
	pin = g_compute_checksum_for_data(G_CHECKSUM_SHA256, der->data, der->len);
	not_after = g_tls_certificate_get_not_valid_after(cert);
	expiry = g_date_time_format(not_after, "%Y-%m-%d %H:%M:%S UTC (in ");

	extra = g_strdup_printf("security=tls\nca-file=%s\n", ca);
	conf = ms_test_server_make_conf(server, extra);
	daemon = ms_test_daemon_start(conf, &error);
	g_assert_no_error(error);
	r = run_cli(args, NULL);
	g_assert_cmpint(r->status, ==, 0);
	g_assert_cmpstr(r->err, ==, "");
	lines = g_strsplit(r->out, "\n", -1);
	/* every key of the contract's report, in a fixed order, aligned */
	g_assert_cmpuint(g_strv_length(lines), ==, G_N_ELEMENTS(labels) + 1);
	for (guint i = 0; i < G_N_ELEMENTS(labels); i++) {
		g_test_message("line %u: %s", i, lines[i]);
		g_assert_true(g_str_has_prefix(lines[i], labels[i]));
	}
	line =
	    g_strdup_printf("Server:              127.0.0.1:%u", ms_test_server_get_port(server));
	g_assert_cmpstr(lines[0], ==, line);
	g_assert_cmpstr(lines[1], ==, "Security:            tls");
	g_assert_true(g_str_has_prefix(lines[2], "Greeting:            220 "));
	g_assert_cmpstr(lines[5], ==, "Auth used:           none");
	g_assert_cmpstr(lines[6], ==, "TLS version:         TLSv1.3");
	g_assert_true(g_str_has_prefix(lines[7], "TLS cipher:          TLS_"));
	g_assert_nonnull(strstr(lines[8], "CN="));
	g_assert_true(g_str_has_prefix(lines[10] + strlen(labels[10]), expiry));
	g_assert_true(g_str_has_suffix(lines[10], " days)"));
	g_clear_pointer(&line, g_free);
	line = g_strdup_printf("Certificate SHA-256: %s", pin);
	g_assert_cmpstr(lines[11], ==, line);
	g_assert_true(g_str_has_suffix(lines[12], " ms"));
	g_assert_cmpuint(ms_test_server_count_messages(server), ==, 0);
}

static void
test_verify_failure(void)
{
	const gchar *args[] = {"verify", "default", NULL};
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = ms_test_server_start("tls-only-silent", NULL, &error);
	g_autofree gchar *conf = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(CliResult) r = NULL;

	g_assert_no_error(error);
	conf = ms_test_server_make_conf(server, "security=starttls\n");
	daemon = ms_test_daemon_start(conf, &error);
	g_assert_no_error(error);
	r = run_cli(args, NULL);
	g_assert_cmpint(r->status, ==, 1);
	g_assert_cmpstr(r->out, ==, "");
	g_assert_true(g_str_has_prefix(r->err, "error: "));
	g_assert_nonnull(strstr(r->err, "security=tls"));
	g_assert_true(g_str_has_suffix(r->err, " (org.mail.Sender.Error.Timeout)\n"));
}

/* ---- sendmail ---- */

/* a daemon for the plain test server and the server */
typedef struct {
	MsTestServer *server;
	MsTestDaemon *daemon;
} Fixture;

static gboolean
queue_is_empty(gpointer user_data)
{
	MsTestDaemon *daemon = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) ret = NULL;
	g_autoptr(GVariant) value = NULL;

	ret = g_dbus_connection_call_sync(ms_test_daemon_get_bus(daemon),
					  "org.mail.Sender",
					  "/org/mail/Sender",
					  "org.freedesktop.DBus.Properties",
					  "Get",
					  g_variant_new("(ss)", "org.mail.Sender", "QueueLength"),
					  G_VARIANT_TYPE("(v)"),
					  G_DBUS_CALL_FLAGS_NONE,
					  WAIT_MS,
					  NULL,
					  &error);
	g_assert_no_error(error);
	g_variant_get(ret, "(v)", &value);
	return g_variant_get_uint32(value) == 0;
}

static void
fixture_free(Fixture *self)
{
	/* the server has the message before the daemon has its 221 to QUIT: let the jobs
	 * finish, so that the daemon is stopped idle */
	if (self->daemon != NULL)
		g_assert_true(ms_test_wait_until(queue_is_empty, self->daemon, WAIT_MS));
	g_clear_pointer(&self->daemon, ms_test_daemon_free);
	g_clear_pointer(&self->server, ms_test_server_free);
	g_free(self);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Fixture, fixture_free)

static Fixture *
fixture_new(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *conf = NULL;
	Fixture *self = g_new0(Fixture, 1);

	self->server = ms_test_server_start("plain", NULL, &error);
	g_assert_no_error(error);
	conf = ms_test_server_make_conf(self->server, "security=none\n");
	self->daemon = ms_test_daemon_start(conf, &error);
	g_assert_no_error(error);
	return self;
}

#define SENDMAIL_HEADERS                                                                           \
	"From: Cron Daemon <cron@example.test>\n"                                                  \
	"To: header-to@example.test\n"                                                             \
	"Cc: header-cc@example.test\n"                                                             \
	"Subject: cron output\n"

/* recipients on the command line are the envelope; the headers stay as they are */
static void
test_sendmail_recipients(void)
{
	const gchar *args[] = {"sendmail",
			       "-i",
			       "rcpt1@example.test,rcpt2@example.test",
			       "rcpt3@example.test",
			       NULL};
	const gchar *rcpts_expected[] = {"rcpt1@example.test",
					 "rcpt2@example.test",
					 "rcpt3@example.test",
					 NULL};
	g_autoptr(Fixture) fx = fixture_new();
	g_autoptr(CliResult) r = NULL;
	g_autoptr(GPtrArray) mails = NULL;
	g_autofree gchar *body = NULL;
	MsTestMail *mail;

	r = run_cli(args, SENDMAIL_HEADERS "\nline 1\n.\nline 3\n");
	g_assert_cmpint(r->status, ==, 0);
	g_assert_cmpstr(r->out, ==, "");
	g_assert_cmpstr(r->err, ==, "");
	mail = wait_one_mail(fx->server, &mails);
	g_assert_cmpstrv(mail->rcpt_tos, rcpts_expected);
	g_assert_true(ms_test_bytes_contain(mail->eml, "To: header-to@example.test\r\n"));
	g_assert_true(ms_test_bytes_contain(mail->eml, "Cc: header-cc@example.test\r\n"));
	g_assert_true(ms_test_bytes_contain(mail->eml, "Subject: cron output\r\n"));
	/* with -i the "." line is text like any other */
	body = mail_body(mail);
	g_assert_cmpstr(body, ==, "line 1\r\n.\r\nline 3\r\n");
}

/* -t: recipients from To/Cc/Bcc, Bcc gone from what is sent; stdin a regular file */
static void
test_sendmail_extract_bcc(void)
{
	const gchar *args[] = {"sendmail", "-t", "-oi", NULL};
	const gchar *rcpts_expected[] = {"header-to@example.test",
					 "header-cc@example.test",
					 "hidden@example.test",
					 NULL};
	g_autoptr(Fixture) fx = fixture_new();
	g_autoptr(CliResult) r = NULL;
	g_autoptr(GPtrArray) mails = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *path = NULL;
	g_autofree gchar *body = NULL;
	g_auto(GStrv) rcpts = NULL;
	MsTestMail *mail;
	gint fd = g_file_open_tmp("mail-sender-cli-XXXXXX.eml", &path, &error);

	g_assert_no_error(error);
	g_close(fd, NULL);
	g_assert_true(g_file_set_contents(path,
					  SENDMAIL_HEADERS "Bcc: hidden@example.test\n\nbody\n",
					  -1,
					  &error));
	g_assert_no_error(error);
	r = run_cli_full(NULL, args, NULL, path, NULL);
	g_unlink(path);
	g_assert_cmpint(r->status, ==, 0);
	g_assert_cmpstr(r->err, ==, "");
	mail = wait_one_mail(fx->server, &mails);
	/* the envelope order is the daemon's; compare as sets */
	rcpts = g_strdupv(mail->rcpt_tos);
	g_assert_cmpuint(g_strv_length(rcpts), ==, 3);
	for (guint i = 0; rcpts_expected[i] != NULL; i++)
		g_assert_true(g_strv_contains((const gchar *const *)rcpts, rcpts_expected[i]));
	g_assert_false(ms_test_bytes_contain(mail->eml, "Bcc"));
	g_assert_false(ms_test_bytes_contain(mail->eml, "hidden@example.test"));
	g_assert_true(ms_test_bytes_contain(mail->eml, "To: header-to@example.test\r\n"));
	body = mail_body(mail);
	g_assert_cmpstr(body, ==, "body\r\n");
}

/* without -i a line with a single "." ends the message, as in sendmail */
static void
test_sendmail_dot_ends(void)
{
	const gchar *args[] = {"sendmail", "rcpt@example.test", NULL};
	g_autoptr(Fixture) fx = fixture_new();
	g_autoptr(CliResult) r = NULL;
	g_autoptr(GPtrArray) mails = NULL;
	g_autofree gchar *body = NULL;
	MsTestMail *mail;

	r = run_cli(args, SENDMAIL_HEADERS "\nline 1\n..two dots stay\n.\nnot part of it\n");
	g_assert_cmpint(r->status, ==, 0);
	g_assert_cmpstr(r->err, ==, "");
	mail = wait_one_mail(fx->server, &mails);
	body = mail_body(mail);
	g_assert_cmpstr(body, ==, "line 1\r\n..two dots stay\r\n");
}

/* the same when the CLI copies the message itself (-F), CRLF input, dots inside lines */
static void
test_sendmail_dot_ends_copied(void)
{
	const gchar *args[] =
	    {"sendmail", "-F", "Copier", "-f", "copier@example.test", "rcpt@example.test", NULL};
	g_autoptr(Fixture) fx = fixture_new();
	g_autoptr(CliResult) r = NULL;
	g_autoptr(GPtrArray) mails = NULL;
	g_autofree gchar *body = NULL;
	MsTestMail *mail;

	r = run_cli(args, "Subject: copied\r\n\r\nline\r\n.keep\r\n.\r\nafter\r\n");
	g_assert_cmpint(r->status, ==, 0);
	g_assert_cmpstr(r->err, ==, "");
	mail = wait_one_mail(fx->server, &mails);
	g_assert_true(ms_test_bytes_contain(mail->eml, "From: Copier <copier@example.test>\r\n"));
	body = mail_body(mail);
	g_assert_cmpstr(body, ==, "line\r\n.keep\r\n");
}

/* -F adds "From: NAME <-f address>" to a message without From; a From of its own wins */
static void
test_sendmail_full_name(void)
{
	const gchar *args[] = {"sendmail",
			       "-i",
			       "-F",
			       "Backup \"Job\"",
			       "-fbackup@example.test",
			       "rcpt@example.test",
			       NULL};
	const gchar *args_account[] =
	    {"sendmail", "-oi", "-F", "Smart Daemon", "rcpt@example.test", NULL};
	g_autoptr(Fixture) fx = fixture_new();
	g_autoptr(CliResult) r = NULL;
	g_autoptr(GPtrArray) mails = NULL;
	MsTestMail *mail;

	r = run_cli(args, "Subject: backup\n\ndone\n");
	g_assert_cmpint(r->status, ==, 0);
	g_assert_cmpstr(r->err, ==, "");
	g_clear_pointer(&r, cli_result_free);
	/* the account's from gives the address when there is no -f; an existing From stays */
	r = run_cli(args_account, "Subject: smart\r\n\r\nok\r\n");
	g_assert_cmpint(r->status, ==, 0);
	g_clear_pointer(&r, cli_result_free);
	r = run_cli(args, "From: Own <own@example.test>\nSubject: own\n\nx\n");
	g_assert_cmpint(r->status, ==, 0);

	mails = ms_test_server_wait_for_messages(fx->server, 3, WAIT_MS);
	g_assert_cmpuint(mails->len, ==, 3);
	for (guint i = 0; i < mails->len; i++) {
		mail = g_ptr_array_index(mails, i);
		if (ms_test_bytes_contain(mail->eml, "Subject: backup\r\n")) {
			g_assert_cmpstr(mail->mail_from, ==, "backup@example.test");
			g_assert_true(ms_test_bytes_contain(mail->eml,
							    "From: \"Backup \\\"Job\\\"\" "
							    "<backup@example.test>\r\n"));
		} else if (ms_test_bytes_contain(mail->eml, "Subject: smart\r\n")) {
			g_assert_true(
			    ms_test_bytes_contain(mail->eml,
						  "From: Smart Daemon <sender@example.test>\r\n"));
		} else {
			g_assert_true(
			    ms_test_bytes_contain(mail->eml, "From: Own <own@example.test>\r\n"));
			g_assert_false(ms_test_bytes_contain(mail->eml, "Backup"));
		}
	}
}

/* a message the daemon cannot take is EX_DATAERR, with nothing queued */
static void
test_sendmail_bad_message(void)
{
	const gchar *args[] = {"sendmail", "-i", "rcpt@example.test", NULL};
	g_autoptr(Fixture) fx = fixture_new();
	g_autoptr(GPtrArray) mails = NULL;
	g_autoptr(CliResult) r = NULL;
	g_autofree gchar *path = NULL;
	g_autoptr(GError) error = NULL;
	gint fd = g_file_open_tmp("mail-sender-cli-XXXXXX.eml", &path, &error);

	/* a NUL byte in the body; a file, since the pipe helper takes C strings */
	g_assert_no_error(error);
	g_close(fd, NULL);
	g_assert_true(g_file_set_contents(path, "Subject: x\n\nnul \0 here\n", 23, &error));
	g_assert_no_error(error);
	r = run_cli_full(NULL, args, NULL, path, NULL);
	g_unlink(path);
	g_assert_cmpint(r->status, ==, EX_DATAERR);
	g_assert_cmpstr(r->out, ==, "");
	g_assert_true(g_str_has_prefix(r->err, "sendmail: "));
	g_assert_null(strstr(r->err, "org.mail.Sender.Error"));
	g_assert_cmpuint(ms_test_server_count_messages(fx->server), ==, 0);
}

/* the /usr/sbin/sendmail symlink delivers too */
static void
test_sendmail_symlink_delivers(void)
{
	const gchar *args[] = {"-oi", "rcpt@example.test", NULL};
	g_autoptr(Fixture) fx = fixture_new();
	g_autoptr(GError) error = NULL;
	g_autofree gchar *dir = g_dir_make_tmp("mail-sender-cli-XXXXXX", &error);
	g_autofree gchar *link = NULL;
	g_autoptr(CliResult) r = NULL;
	g_autoptr(GPtrArray) mails = NULL;
	MsTestMail *mail;

	g_assert_no_error(error);
	link = g_build_filename(dir, "sendmail", NULL);
	g_assert_cmpint(symlink(g_getenv("MS_CLI_PATH"), link), ==, 0);
	r = run_cli_full(link, args, "Subject: via symlink\n\nhi\n", NULL, NULL);
	g_assert_cmpint(r->status, ==, 0);
	g_assert_cmpstr(r->err, ==, "");
	mail = wait_one_mail(fx->server, &mails);
	g_assert_true(ms_test_bytes_contain(mail->eml, "Subject: via symlink\r\n"));
	g_assert_true(ms_test_rm_rf(dir, &error));
	g_assert_no_error(error);
}

/* ---- notify ---- */

/* a daemon whose default account mails its notifications to admin@example.test */
static MsTestDaemon *
start_notify_daemon(MsTestServer *server, const gchar *extra)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *more = g_strdup_printf("security=none\n"
						 "notify-to=admin@example.test\n"
						 "%s",
						 extra != NULL ? extra : "");
	g_autofree gchar *conf = ms_test_server_make_conf(server, more);
	MsTestDaemon *daemon = ms_test_daemon_start(conf, &error);

	g_assert_no_error(error);
	return daemon;
}

/* --wait: the job path, the stages, the server's reply; the mail goes to notify-to */
static void
test_notify_wait(void)
{
	const gchar *args[] = {"notify",
			       "--wait",
			       "Disk failing",
			       "sda reports reallocated sectors\nsecond line\n",
			       NULL};
	const gchar *rcpts_expected[] = {"admin@example.test", NULL};
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = ms_test_server_start("plain", NULL, &error);
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(MsTestSignals) signals = NULL;
	g_autoptr(CliResult) r = NULL;
	g_autoptr(GPtrArray) mails = NULL;
	g_autofree gchar *job = NULL;
	g_autofree gchar *reply = NULL;
	g_autofree gchar *stages = NULL;
	g_autofree gchar *expected = NULL;
	g_autofree gchar *body = NULL;
	MsTestMail *mail;

	g_assert_no_error(error);
	daemon = start_notify_daemon(server, NULL);
	signals = ms_test_signals_new(ms_test_daemon_get_bus(daemon));

	r = run_cli(args, NULL);
	g_assert_cmpint(r->status, ==, 0);
	g_assert_cmpstr(r->err, ==, "");
	job = first_line(r->out);
	g_assert_true(g_str_has_prefix(job, "/org/mail/Sender/Job/"));
	g_assert_true(ms_test_signals_wait_finished(signals, job, WAIT_MS));
	reply = get_job_string(daemon, job, "ServerReply");
	g_assert_true(g_str_has_prefix(reply, "250 "));
	stages = stage_lines(daemon, signals, job);
	expected = g_strdup_printf("%s\n%ssent: %s\n", job, stages, reply);
	g_assert_cmpstr(r->out, ==, expected);

	mail = wait_one_mail(server, &mails);
	g_assert_cmpstrv(mail->rcpt_tos, rcpts_expected);
	g_assert_cmpstr(mail->mail_from, ==, "sender@example.test");
	g_assert_true(ms_test_bytes_contain(mail->eml, "\r\nTo: admin@example.test\r\n"));
	g_assert_true(ms_test_bytes_contain(mail->eml, "\r\nSubject: Disk failing\r\n"));
	g_assert_true(
	    ms_test_bytes_contain(mail->eml, "From: Sender Test <sender@example.test>\r\n"));
	/* only critical notifications are marked important */
	g_assert_false(ms_test_bytes_contain(mail->eml, "Importance:"));
	body = mail_body(mail);
	g_assert_cmpstr(body, ==, "sda reports reallocated sectors\r\nsecond line\r\n");
}

/* the body from a pipe, as cron and smartd give it: with "-" and with no BODY at all */
static void
test_notify_stdin(void)
{
	const gchar *args_dash[] = {"notify", "--account", "default", "cron: backup", "-", NULL};
	const gchar *args_none[] = {"notify", "smartd: sda", NULL};
	const gchar *args_empty[] = {"notify", "empty body", NULL};
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = ms_test_server_start("plain", NULL, &error);
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(MsTestSignals) signals = NULL;
	g_autoptr(CliResult) r = NULL;
	g_autoptr(GPtrArray) mails = NULL;
	g_autofree gchar *job_dash = NULL;
	g_autofree gchar *job_none = NULL;
	g_autofree gchar *job_empty = NULL;
	guint seen = 0;

	g_assert_no_error(error);
	daemon = start_notify_daemon(server, NULL);
	signals = ms_test_signals_new(ms_test_daemon_get_bus(daemon));

	/* without --wait: the job path and nothing else */
	r = run_cli(args_dash, "backup done\n3 files copied\n");
	g_assert_cmpint(r->status, ==, 0);
	g_assert_cmpstr(r->err, ==, "");
	job_dash = first_line(r->out);
	g_assert_cmpuint(strlen(r->out), ==, strlen(job_dash) + 1);
	g_clear_pointer(&r, cli_result_free);

	r = run_cli(args_none, "Device: /dev/sda, 8 Currently unreadable sectors\n");
	g_assert_cmpint(r->status, ==, 0);
	g_assert_cmpstr(r->err, ==, "");
	job_none = first_line(r->out);
	g_clear_pointer(&r, cli_result_free);

	/* stdin is /dev/null: not a terminal, so read, and empty */
	r = run_cli(args_empty, NULL);
	g_assert_cmpint(r->status, ==, 0);
	g_assert_cmpstr(r->err, ==, "");
	job_empty = first_line(r->out);

	g_assert_true(ms_test_signals_wait_finished(signals, job_dash, WAIT_MS));
	g_assert_true(ms_test_signals_wait_finished(signals, job_none, WAIT_MS));
	g_assert_true(ms_test_signals_wait_finished(signals, job_empty, WAIT_MS));
	g_assert_cmpstr(ms_test_signals_get_result(signals, job_dash), !=, NULL);
	g_assert_true(g_str_has_prefix(ms_test_signals_get_result(signals, job_dash), "Sent "));
	g_assert_true(g_str_has_prefix(ms_test_signals_get_result(signals, job_none), "Sent "));
	g_assert_true(g_str_has_prefix(ms_test_signals_get_result(signals, job_empty), "Sent "));

	mails = ms_test_server_wait_for_messages(server, 3, WAIT_MS);
	g_assert_cmpuint(mails->len, ==, 3);
	for (guint i = 0; i < mails->len; i++) {
		MsTestMail *mail = g_ptr_array_index(mails, i);
		g_autofree gchar *body = mail_body(mail);

		g_assert_true(ms_test_bytes_contain(mail->eml, "\r\nTo: admin@example.test\r\n"));
		if (ms_test_bytes_contain(mail->eml, "\r\nSubject: cron: backup\r\n")) {
			g_assert_cmpstr(body, ==, "backup done\r\n3 files copied\r\n");
			seen |= 1;
		} else if (ms_test_bytes_contain(mail->eml, "\r\nSubject: smartd: sda\r\n")) {
			g_assert_cmpstr(body,
					==,
					"Device: /dev/sda, 8 Currently unreadable sectors\r\n");
			seen |= 2;
		} else {
			g_assert_true(
			    ms_test_bytes_contain(mail->eml, "\r\nSubject: empty body\r\n"));
			g_assert_cmpstr(body, ==, "");
			seen |= 4;
		}
	}
	g_assert_cmpuint(seen, ==, 7);
}

/* a body over 1 MiB or not UTF-8 is refused before anything is sent */
static void
test_notify_stdin_refused(void)
{
	const gchar *args[] = {"notify", "too much", "-", NULL};
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = ms_test_server_start("plain", NULL, &error);
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(CliResult) r = NULL;
	g_autofree gchar *big = NULL;
	g_autofree gchar *path = NULL;
	gint fd;

	g_assert_no_error(error);
	daemon = start_notify_daemon(server, NULL);

	/* one byte over the limit */
	big = g_strnfill(1024 * 1024 + 1, 'a');
	r = run_cli(args, big);
	g_assert_cmpint(r->status, ==, 1);
	g_assert_cmpstr(r->out, ==, "");
	g_assert_cmpstr(r->err,
			==,
			"error: the body on standard input is larger than 1 MiB: shorten it, or "
			"send it as a file with “mail-sender send --attach”\n");
	g_clear_pointer(&r, cli_result_free);

	fd = g_file_open_tmp("mail-sender-cli-XXXXXX.txt", &path, &error);
	g_assert_no_error(error);
	g_close(fd, NULL);
	g_assert_true(g_file_set_contents(path, "caf\xe9\n", -1, &error));
	g_assert_no_error(error);
	r = run_cli_full(NULL, args, NULL, path, NULL);
	g_unlink(path);
	g_assert_cmpint(r->status, ==, 1);
	g_assert_cmpstr(r->out, ==, "");
	g_assert_cmpstr(
	    r->err,
	    ==,
	    "error: the body on standard input is not UTF-8 text (convert it, e.g. with iconv)\n");

	g_assert_true(queue_is_empty(daemon));
	g_assert_cmpuint(ms_test_server_count_messages(server), ==, 0);
}

/* --urgency critical: the daemon marks the mail Importance: high */
static void
test_notify_critical(void)
{
	const gchar *args[] =
	    {"notify", "--urgency", "critical", "--wait", "RAID degraded", "md0: sdb failed", NULL};
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = ms_test_server_start("plain", NULL, &error);
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(CliResult) r = NULL;
	g_autoptr(GPtrArray) mails = NULL;
	g_autofree gchar *body = NULL;
	MsTestMail *mail;

	g_assert_no_error(error);
	daemon = start_notify_daemon(server, NULL);
	r = run_cli(args, NULL);
	g_assert_cmpint(r->status, ==, 0);
	g_assert_cmpstr(r->err, ==, "");
	g_assert_true(g_str_has_prefix(r->out, "/org/mail/Sender/Job/"));
	g_assert_true(g_str_has_suffix(r->out, "\n"));
	g_assert_nonnull(strstr(r->out, "\nsent: 250 "));

	mail = wait_one_mail(server, &mails);
	g_assert_true(ms_test_bytes_contain(mail->eml, "\r\nImportance: high\r\n"));
	g_assert_true(ms_test_bytes_contain(mail->eml, "\r\nSubject: RAID degraded\r\n"));
	g_assert_true(ms_test_bytes_contain(mail->eml, "\r\nTo: admin@example.test\r\n"));
	body = mail_body(mail);
	g_assert_cmpstr(body, ==, "md0: sdb failed\r\n");
}

/* --key: the first notification goes out at once; repeats of the same subject and key inside
 * the window all get the one digest job's path, and --wait on a repeat follows the digest */
static void
test_notify_coalesce(void)
{
	const gchar *args_first[] = {"notify", "--key", "sda", "Disk failing", "first", NULL};
	const gchar *args_second[] = {"notify", "--key", "sda", "Disk failing", "second", NULL};
	const gchar *args_third[] =
	    {"notify", "--key", "sda", "--wait", "Disk failing", "third", NULL};
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = ms_test_server_start("plain", NULL, &error);
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(MsTestSignals) signals = NULL;
	g_autoptr(CliResult) r = NULL;
	g_autoptr(GPtrArray) mails = NULL;
	g_autofree gchar *job_first = NULL;
	g_autofree gchar *job_second = NULL;
	g_autofree gchar *job_third = NULL;
	g_autofree gchar *reply = NULL;
	g_autofree gchar *sent_line = NULL;
	g_autofree gchar *body_first = NULL;
	g_autofree gchar *body_digest = NULL;
	MsTestMail *first = NULL;
	MsTestMail *digest = NULL;

	g_assert_no_error(error);
	/* long enough for three quick calls on a busy machine (ASan), short enough for --wait on
	 * the digest */
	daemon = start_notify_daemon(server, "notify-coalesce=8\n");
	signals = ms_test_signals_new(ms_test_daemon_get_bus(daemon));

	r = run_cli(args_first, NULL);
	g_assert_cmpint(r->status, ==, 0);
	g_assert_cmpstr(r->err, ==, "");
	job_first = first_line(r->out);
	g_clear_pointer(&r, cli_result_free);

	r = run_cli(args_second, NULL);
	g_assert_cmpint(r->status, ==, 0);
	g_assert_cmpstr(r->err, ==, "");
	job_second = first_line(r->out);
	g_assert_cmpstr(job_second, !=, job_first);
	g_clear_pointer(&r, cli_result_free);

	r = run_cli(args_third, NULL);
	g_assert_cmpint(r->status, ==, 0);
	g_assert_cmpstr(r->err, ==, "");
	job_third = first_line(r->out);
	g_assert_cmpstr(job_third, ==, job_second);
	g_assert_true(ms_test_signals_wait_finished(signals, job_first, WAIT_MS));
	g_assert_true(ms_test_signals_wait_finished(signals, job_second, WAIT_MS));
	reply = get_job_string(daemon, job_second, "ServerReply");
	sent_line = g_strdup_printf("\nsent: %s\n", reply);
	g_assert_true(g_str_has_suffix(r->out, sent_line));

	/* two mails, not three: the first as it was, then one digest of the repeats */
	mails = ms_test_server_wait_for_messages(server, 2, WAIT_MS);
	g_assert_cmpuint(mails->len, ==, 2);
	for (guint i = 0; i < mails->len; i++) {
		MsTestMail *mail = g_ptr_array_index(mails, i);
		if (ms_test_bytes_contain(mail->eml, "\r\nSubject: Disk failing\r\n"))
			first = mail;
		else if (ms_test_bytes_contain(mail->eml,
					       "\r\nSubject: Disk failing (repeated 2 times)\r\n"))
			digest = mail;
	}
	g_assert_nonnull(first);
	g_assert_nonnull(digest);
	body_first = mail_body(first);
	g_assert_cmpstr(body_first, ==, "first\r\n");
	g_assert_true(ms_test_bytes_contain(digest->eml, "\r\nTo: admin@example.test\r\n"));
	body_digest = mail_body(digest);
	g_assert_true(
	    g_str_has_prefix(body_digest, "This notification was repeated 2 times between "));
	g_assert_nonnull(strstr(body_digest, "\r\n  second\r\n"));
	g_assert_nonnull(strstr(body_digest, "\r\n  third"));
	g_assert_null(strstr(body_digest, "first"));
}

/* an account without notify-to: the daemon's InvalidArgs, as send prints errors, exit 1 */
static void
test_notify_no_notify_to(void)
{
	const gchar *args[] = {"notify", "--wait", "Disk failing", "sda", NULL};
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = ms_test_server_start("plain", NULL, &error);
	g_autofree gchar *conf = NULL;
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(CliResult) r = NULL;
	g_autofree gchar *expected = NULL;

	g_assert_no_error(error);
	conf = ms_test_server_make_conf(server, "security=none\n");
	daemon = ms_test_daemon_start(conf, &error);
	g_assert_no_error(error);
	r = run_cli(args, NULL);
	g_assert_cmpint(r->status, ==, 1);
	g_assert_cmpstr(r->out, ==, "");
	expected = g_strdup_printf("error: Account 'default' has no notify-to: set "
				   "notify-to=admin@example.org in its [account default] group of "
				   "%s (org.mail.Sender.Error.InvalidArgs)\n",
				   ms_test_daemon_get_config_path(daemon));
	g_assert_cmpstr(r->err, ==, expected);
	g_assert_true(queue_is_empty(daemon));
	g_assert_cmpuint(ms_test_server_count_messages(server), ==, 0);
}

/* bad command lines are usage errors (2), refused before the daemon is asked anything */
static void
test_notify_usage(void)
{
	const gchar *bogus[] = {"notify", "--urgency", "bogus", "Disk failing", "sda", NULL};
	const gchar *no_subject[] = {"notify", "--urgency", "low", NULL};
	const gchar *too_many[] = {"notify", "subject", "body", "extra", NULL};
	g_autoptr(GError) error = NULL;
	g_autoptr(MsTestServer) server = ms_test_server_start("plain", NULL, &error);
	g_autoptr(MsTestDaemon) daemon = NULL;
	g_autoptr(CliResult) r = NULL;
	g_autoptr(GVariant) ret = NULL;
	g_autoptr(GVariant) jobs = NULL;

	g_assert_no_error(error);
	daemon = start_notify_daemon(server, NULL);

	r = run_cli(bogus, NULL);
	g_assert_cmpint(r->status, ==, 2);
	g_assert_cmpstr(r->out, ==, "");
	g_assert_cmpstr(r->err,
			==,
			"mail-sender notify: --urgency wants low, normal or critical, not “bogus”\n"
			"Try “mail-sender notify --help” for more information.\n");
	g_clear_pointer(&r, cli_result_free);

	r = run_cli(no_subject, NULL);
	g_assert_cmpint(r->status, ==, 2);
	g_assert_cmpstr(r->err,
			==,
			"mail-sender notify: no subject given\n"
			"Try “mail-sender notify --help” for more information.\n");
	g_clear_pointer(&r, cli_result_free);

	r = run_cli(too_many, NULL);
	g_assert_cmpint(r->status, ==, 2);
	g_assert_true(
	    g_str_has_prefix(r->err, "mail-sender notify: unexpected argument “extra”\n"));

	/* no job was ever made */
	ret = g_dbus_connection_call_sync(ms_test_daemon_get_bus(daemon),
					  "org.mail.Sender",
					  "/org/mail/Sender",
					  "org.mail.Sender",
					  "GetJobs",
					  NULL,
					  G_VARIANT_TYPE("(ao)"),
					  G_DBUS_CALL_FLAGS_NONE,
					  WAIT_MS,
					  NULL,
					  &error);
	g_assert_no_error(error);
	jobs = g_variant_get_child_value(ret, 0);
	g_assert_cmpuint(g_variant_n_children(jobs), ==, 0);
	g_assert_cmpuint(ms_test_server_count_messages(server), ==, 0);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/mail-sender/cli/usage", test_usage);
	g_test_add_func("/mail-sender/cli/help", test_help);
	g_test_add_func("/mail-sender/cli/send-wait", test_send_wait);
	g_test_add_func("/mail-sender/cli/send-no-wait", test_send_no_wait);
	g_test_add_func("/mail-sender/cli/send-body-not-utf8", test_send_body_not_utf8);
	g_test_add_func("/mail-sender/cli/send-wait-rejected", test_send_wait_rejected);
	g_test_add_func("/mail-sender/cli/send-refused", test_send_refused);
	g_test_add_func("/mail-sender/cli/send-attach", test_send_attach);
	g_test_add_func("/mail-sender/cli/send-attach-missing", test_send_attach_missing);
	g_test_add_func("/mail-sender/cli/jobs-and-cancel", test_jobs_and_cancel);
	g_test_add_func("/mail-sender/cli/accounts", test_accounts);
	g_test_add_func("/mail-sender/cli/verify-implicit-tls", test_verify_implicit_tls);
	g_test_add_func("/mail-sender/cli/verify-failure", test_verify_failure);
	g_test_add_func("/mail-sender/cli/sendmail-usage", test_sendmail_usage);
	g_test_add_func("/mail-sender/cli/sendmail-no-daemon", test_sendmail_no_daemon);
	g_test_add_func("/mail-sender/cli/sendmail-symlink", test_sendmail_symlink);
	g_test_add_func("/mail-sender/cli/sendmail-recipients", test_sendmail_recipients);
	g_test_add_func("/mail-sender/cli/sendmail-extract-bcc", test_sendmail_extract_bcc);
	g_test_add_func("/mail-sender/cli/sendmail-dot-ends", test_sendmail_dot_ends);
	g_test_add_func("/mail-sender/cli/sendmail-dot-ends-copied", test_sendmail_dot_ends_copied);
	g_test_add_func("/mail-sender/cli/sendmail-full-name", test_sendmail_full_name);
	g_test_add_func("/mail-sender/cli/sendmail-bad-message", test_sendmail_bad_message);
	g_test_add_func("/mail-sender/cli/sendmail-symlink-delivers",
			test_sendmail_symlink_delivers);
	g_test_add_func("/mail-sender/cli/notify-wait", test_notify_wait);
	g_test_add_func("/mail-sender/cli/notify-stdin", test_notify_stdin);
	g_test_add_func("/mail-sender/cli/notify-stdin-refused", test_notify_stdin_refused);
	g_test_add_func("/mail-sender/cli/notify-critical", test_notify_critical);
	g_test_add_func("/mail-sender/cli/notify-coalesce", test_notify_coalesce);
	g_test_add_func("/mail-sender/cli/notify-no-notify-to", test_notify_no_notify_to);
	g_test_add_func("/mail-sender/cli/notify-usage", test_notify_usage);
	return g_test_run();
}
