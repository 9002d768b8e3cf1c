/*
 * bench-daemon: submits messages to org.mail.Sender on the session bus and waits until every
 * job has ended in Sent (or Failed), then prints one "RESULT key=value ..." line.
 *
 * Throughput: --messages N spread over --clients C bus connections, each keeping --window W
 * Send calls outstanding (W=1: the next Send goes out when the previous one returned, as a
 * program calling Send in a loop does). The clock runs from the first Send to the last Sent.
 * Latency (--sequential): one client sends a message, waits for its Sent signal, then sends
 * the next; the median of Send call → Sent signal is printed.
 * --pid PID reads the daemon's peak resident set (VmHWM) from /proc/PID/status at the end.
 *
 * Built by tests/bench/run.sh with cc and pkg-config (gio-2.0), not by meson.
 */

#define G_LOG_DOMAIN "MsBench"

#include "config.h"

#include <gio/gio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MS_BENCH_NAME	   "org.mail.Sender"
#define MS_BENCH_PATH	   "/org/mail/Sender"
#define MS_BENCH_INTERFACE "org.mail.Sender"

typedef struct {
	gint64 t_call;	 /* monotonic µs when Send was called, 0 until its reply is in */
	gint64 t_signal; /* when Sent or Failed arrived, 0 until then */
} BenchJob;

typedef struct _Bench Bench;

typedef struct {
	Bench *bench;
	GDBusConnection *connection;
	guint quota;
	guint issued;
	guint in_flight;
} BenchClient;

typedef struct {
	BenchClient *client;
	gint64 t_call;
} BenchCall;

struct _Bench {
	GMainLoop *loop;
	GDBusConnection *listener;
	GPtrArray *clients;
	GHashTable *jobs;  /* object path → BenchJob */
	GArray *latencies; /* gdouble, ms, Send call → Sent signal */
	gchar *body;
	const gchar *to;
	guint messages;
	guint window;
	gboolean sequential;
	guint replies;
	guint send_errors;
	guint sent;
	guint failed;
	gint64 t_start;
	gint64 t_accepted;
	gint64 t_end;
	gboolean timed_out;
};

static void
bench_client_free(BenchClient *client)
{
	g_clear_object(&client->connection);
	g_free(client);
}

static void
bench_issue(BenchClient *client);

static gboolean
bench_done(Bench *self)
{
	return self->replies + self->send_errors == self->messages &&
	       self->sent + self->failed == self->replies;
}

static void
bench_check_done(Bench *self)
{
	if (!bench_done(self))
		return;
	self->t_end = g_get_monotonic_time();
	g_main_loop_quit(self->loop);
}

/* both the Send reply and the signal are in: the job's latency is known */
static void
bench_job_complete(Bench *self, BenchJob *job)
{
	gdouble ms = (gdouble)(job->t_signal - job->t_call) / 1000.0;
	g_array_append_val(self->latencies, ms);
	if (self->sequential)
		bench_issue(g_ptr_array_index(self->clients, 0));
}

static void
bench_send_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autofree BenchCall *call = user_data;
	BenchClient *client = call->client;
	Bench *self = client->bench;
	const gchar *path = NULL;
	BenchJob *job;
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = NULL;

	client->in_flight--;
	reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, &error);
	if (reply == NULL) {
		if (self->send_errors++ < 5)
			g_printerr("bench-daemon: Send failed: %s\n", error->message);
		bench_issue(client);
		bench_check_done(self);
		return;
	}
	self->replies++;
	if (self->replies + self->send_errors == self->messages)
		self->t_accepted = g_get_monotonic_time();
	g_variant_get(reply, "(&o)", &path);

	/* the signal may have come in on the listener's connection before this reply */
	job = g_hash_table_lookup(self->jobs, path);
	if (job == NULL) {
		job = g_new0(BenchJob, 1);
		g_hash_table_insert(self->jobs, g_strdup(path), job);
	}
	job->t_call = call->t_call;
	if (job->t_signal != 0)
		bench_job_complete(self, job);
	if (!self->sequential)
		bench_issue(client);
	bench_check_done(self);
}

static GVariant *
bench_build_message(Bench *self, guint n)
{
	GVariantBuilder message;
	const gchar *to[] = {self->to, NULL};
	g_autofree gchar *subject = g_strdup_printf("benchmark message %u", n);

	g_variant_builder_init(&message, G_VARIANT_TYPE_VARDICT);
	g_variant_builder_add(&message, "{sv}", "to", g_variant_new_strv(to, -1));
	g_variant_builder_add(&message, "{sv}", "subject", g_variant_new_string(subject));
	g_variant_builder_add(&message, "{sv}", "body", g_variant_new_string(self->body));
	return g_variant_new("(a{sv}@a{sv})",
			     &message,
			     g_variant_new_array(G_VARIANT_TYPE("{sv}"), NULL, 0));
}

/* keeps the client's window full while its quota lasts */
static void
bench_issue(BenchClient *client)
{
	Bench *self = client->bench;

	while (client->issued < client->quota && client->in_flight < self->window) {
		BenchCall *call = g_new0(BenchCall, 1);
		call->client = client;
		call->t_call = g_get_monotonic_time();
		client->issued++;
		client->in_flight++;
		g_dbus_connection_call(client->connection,
				       MS_BENCH_NAME,
				       MS_BENCH_PATH,
				       MS_BENCH_INTERFACE,
				       "Send",
				       bench_build_message(self, client->issued),
				       G_VARIANT_TYPE("(o)"),
				       G_DBUS_CALL_FLAGS_NO_AUTO_START,
				       120000,
				       NULL,
				       bench_send_cb,
				       call);
	}
}

static void
bench_signal_cb(GDBusConnection *connection,
		const gchar *sender_name,
		const gchar *object_path,
		const gchar *interface_name,
		const gchar *signal_name,
		GVariant *parameters,
		gpointer user_data)
{
	Bench *self = user_data;
	const gchar *path = NULL;
	BenchJob *job;
	gboolean failed = g_str_equal(signal_name, "Failed");

	if (failed) {
		const gchar *name = NULL;
		const gchar *message = NULL;
		g_variant_get(parameters, "(&o&s&s)", &path, &name, &message);
		if (self->failed < 5)
			g_printerr("bench-daemon: job %s failed: %s: %s\n", path, name, message);
		self->failed++;
	} else {
		g_variant_get(parameters, "(&o&s)", &path, NULL);
		self->sent++;
	}
	job = g_hash_table_lookup(self->jobs, path);
	if (job == NULL) {
		job = g_new0(BenchJob, 1);
		g_hash_table_insert(self->jobs, g_strdup(path), job);
	}
	job->t_signal = g_get_monotonic_time();
	if (job->t_call != 0)
		bench_job_complete(self, job);
	bench_check_done(self);
}

static gboolean
bench_timeout_cb(gpointer user_data)
{
	Bench *self = user_data;
	self->timed_out = TRUE;
	g_main_loop_quit(self->loop);
	return G_SOURCE_REMOVE;
}

/* waits up to 10 s for the daemon to own its name; returns its unique name */
static gchar *
bench_wait_for_owner(GDBusConnection *connection, GError **error)
{
	for (guint i = 0;; i++) {
		g_autoptr(GError) error_local = NULL;
		g_autoptr(GVariant) reply =
		    g_dbus_connection_call_sync(connection,
						"org.freedesktop.DBus",
						"/org/freedesktop/DBus",
						"org.freedesktop.DBus",
						"GetNameOwner",
						g_variant_new("(s)", MS_BENCH_NAME),
						G_VARIANT_TYPE("(s)"),
						G_DBUS_CALL_FLAGS_NONE,
						5000,
						NULL,
						&error_local);
		if (reply != NULL) {
			gchar *owner = NULL;
			g_variant_get(reply, "(s)", &owner);
			return owner;
		}
		if (i >= 500) {
			g_propagate_error(error, g_steal_pointer(&error_local));
			return NULL;
		}
		g_usleep(20000);
	}
}

/* peak resident set size of a process in KiB, -1 if unknown */
static gint64
bench_vmhwm(guint pid)
{
	g_autofree gchar *fn = g_strdup_printf("/proc/%u/status", pid);
	g_autofree gchar *contents = NULL;
	g_auto(GStrv) lines = NULL;

	if (!g_file_get_contents(fn, &contents, NULL, NULL))
		return -1;
	lines = g_strsplit(contents, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		if (g_str_has_prefix(lines[i], "VmHWM:"))
			return g_ascii_strtoll(lines[i] + strlen("VmHWM:"), NULL, 10);
	}
	return -1;
}

static gint
bench_cmp_double(gconstpointer a, gconstpointer b)
{
	gdouble x = *(const gdouble *)a;
	gdouble y = *(const gdouble *)b;
	return (x > y) - (x < y);
}

/* the value at fraction q of the sorted array (nearest rank), 0 when empty */
static gdouble
bench_quantile(GArray *sorted, gdouble q)
{
	guint idx;

	if (sorted->len == 0)
		return 0;
	idx = (guint)(q * (sorted->len - 1) + 0.5);
	return g_array_index(sorted, gdouble, idx);
}

/* about size bytes of plain ASCII text in lines of 64 octets */
static gchar *
bench_make_body(guint size)
{
	GString *body = g_string_new(NULL);

	for (guint i = 0; body->len < size; i++) {
		g_autofree gchar *line =
		    g_strdup_printf("line %03u: the quick brown fox jumps over the lazy dog", i);
		g_string_append_printf(body, "%-63.63s\n", line);
	}
	return g_string_free(body, FALSE);
}

int
main(int argc, char **argv)
{
	gint clients = 1;
	gint messages = 1000;
	gint window = 1;
	gint size = 2048;
	gint pid = 0;
	gint timeout = 240;
	gboolean sequential = FALSE;
	g_autofree gchar *to = NULL;
	g_autofree gchar *address = NULL;
	g_autofree gchar *owner = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GOptionContext) context = NULL;
	g_autoptr(GVariant) id = NULL;
	gdouble seconds;
	gdouble accept_seconds;
	Bench bench = {0};
	const GOptionEntry entries[] = {
	    {"messages", 'n', 0, G_OPTION_ARG_INT, &messages, "messages to send", "N"},
	    {"clients", 'c', 0, G_OPTION_ARG_INT, &clients, "bus connections", "C"},
	    {"window", 'w', 0, G_OPTION_ARG_INT, &window, "Send calls in flight per client", "W"},
	    {"sequential",
	     's',
	     0,
	     G_OPTION_ARG_NONE,
	     &sequential,
	     "one client, wait for each Sent before the next Send",
	     NULL},
	    {"size", 0, 0, G_OPTION_ARG_INT, &size, "body size in bytes", "BYTES"},
	    {"to", 0, 0, G_OPTION_ARG_STRING, &to, "recipient", "ADDR"},
	    {"pid", 'p', 0, G_OPTION_ARG_INT, &pid, "daemon PID, for its VmHWM", "PID"},
	    {"timeout", 't', 0, G_OPTION_ARG_INT, &timeout, "give up after SECONDS", "SECONDS"},
	    {NULL}};

	context = g_option_context_new("- submit messages to org.mail.Sender and time them");
	g_option_context_add_main_entries(context, entries, NULL);
	if (!g_option_context_parse(context, &argc, &argv, &error)) {
		g_printerr("bench-daemon: %s\n", error->message);
		return 2;
	}
	if (messages < 1 || clients < 1 || window < 1 || size < 1 || timeout < 1) {
		g_printerr("bench-daemon: --messages, --clients, --window, --size and --timeout "
			   "must be positive\n");
		return 2;
	}
	if (sequential) {
		clients = 1;
		window = 1;
	}

	bench.loop = g_main_loop_new(NULL, FALSE);
	bench.messages = (guint)messages;
	bench.window = (guint)window;
	bench.sequential = sequential;
	bench.to = to != NULL ? to : "bench@example.test";
	bench.body = bench_make_body((guint)size);
	bench.jobs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	bench.latencies = g_array_new(FALSE, FALSE, sizeof(gdouble));
	bench.clients = g_ptr_array_new_with_free_func((GDestroyNotify)bench_client_free);

	/* separate connections, as separate programs would have; the listener only gets the
	 * signals so that every client does not receive every job's signals */
	address = g_dbus_address_get_for_bus_sync(G_BUS_TYPE_SESSION, NULL, &error);
	if (address == NULL) {
		g_printerr("bench-daemon: no session bus: %s\n", error->message);
		return 1;
	}
	for (gint i = 0; i <= clients; i++) {
		GDBusConnection *connection = g_dbus_connection_new_for_address_sync(
		    address,
		    G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
			G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
		    NULL,
		    NULL,
		    &error);
		if (connection == NULL) {
			g_printerr("bench-daemon: cannot connect to the bus: %s\n", error->message);
			return 1;
		}
		if (i == 0) {
			bench.listener = connection;
		} else {
			BenchClient *client = g_new0(BenchClient, 1);
			client->bench = &bench;
			client->connection = connection;
			client->quota =
			    (guint)(messages / clients + (i - 1 < messages % clients ? 1 : 0));
			g_ptr_array_add(bench.clients, client);
		}
	}
	owner = bench_wait_for_owner(bench.listener, &error);
	if (owner == NULL) {
		g_printerr("bench-daemon: nobody owns %s: %s\n", MS_BENCH_NAME, error->message);
		return 1;
	}
	g_dbus_connection_signal_subscribe(bench.listener,
					   owner,
					   MS_BENCH_INTERFACE,
					   "Sent",
					   MS_BENCH_PATH,
					   NULL,
					   G_DBUS_SIGNAL_FLAGS_NONE,
					   bench_signal_cb,
					   &bench,
					   NULL);
	g_dbus_connection_signal_subscribe(bench.listener,
					   owner,
					   MS_BENCH_INTERFACE,
					   "Failed",
					   MS_BENCH_PATH,
					   NULL,
					   G_DBUS_SIGNAL_FLAGS_NONE,
					   bench_signal_cb,
					   &bench,
					   NULL);
	/* the bus handles a connection's messages in order: once this returns, the match
	 * rules above are in place and no signal can be missed */
	id = g_dbus_connection_call_sync(bench.listener,
					 "org.freedesktop.DBus",
					 "/org/freedesktop/DBus",
					 "org.freedesktop.DBus",
					 "GetId",
					 NULL,
					 G_VARIANT_TYPE("(s)"),
					 G_DBUS_CALL_FLAGS_NONE,
					 5000,
					 NULL,
					 &error);
	if (id == NULL) {
		g_printerr("bench-daemon: bus round trip failed: %s\n", error->message);
		return 1;
	}

	g_timeout_add_seconds((guint)timeout, bench_timeout_cb, &bench);
	bench.t_start = g_get_monotonic_time();
	for (guint i = 0; i < bench.clients->len; i++)
		bench_issue(g_ptr_array_index(bench.clients, i));
	g_main_loop_run(bench.loop);

	if (bench.timed_out) {
		g_printerr("bench-daemon: timed out after %d s: %u of %u Send calls returned, "
			   "%u Sent, %u Failed\n",
			   timeout,
			   bench.replies,
			   bench.messages,
			   bench.sent,
			   bench.failed);
		bench.t_end = g_get_monotonic_time();
	}
	if (bench.t_accepted == 0)
		bench.t_accepted = bench.t_end;
	seconds = (gdouble)(bench.t_end - bench.t_start) / G_USEC_PER_SEC;
	accept_seconds = (gdouble)(bench.t_accepted - bench.t_start) / G_USEC_PER_SEC;
	g_array_sort(bench.latencies, bench_cmp_double);
	g_print("RESULT messages=%u clients=%u window=%u sequential=%d seconds=%.3f rate=%.1f "
		"accept_rate=%.1f sent=%u failed=%u send_errors=%u latency_median_ms=%.3f "
		"latency_p90_ms=%.3f latency_max_ms=%.3f vmhwm_kib=%" G_GINT64_FORMAT "\n",
		bench.messages,
		bench.clients->len,
		bench.window,
		bench.sequential,
		seconds,
		seconds > 0 ? bench.sent / seconds : 0,
		accept_seconds > 0 ? bench.replies / accept_seconds : 0,
		bench.sent,
		bench.failed,
		bench.send_errors,
		bench_quantile(bench.latencies, 0.5),
		bench_quantile(bench.latencies, 0.9),
		bench_quantile(bench.latencies, 1.0),
		pid > 0 ? bench_vmhwm((guint)pid) : -1);

	g_ptr_array_unref(bench.clients);
	g_clear_object(&bench.listener);
	g_hash_table_unref(bench.jobs);
	g_array_unref(bench.latencies);
	g_main_loop_unref(bench.loop);
	g_free(bench.body);
	return bench.sent == bench.messages && !bench.timed_out ? 0 : 1;
}
