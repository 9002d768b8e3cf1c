#include "config.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ms-error.h"
#include "ms-spool.h"

/* what the spool writes after the envelope: the magic, the message and envelope lengths */
#define MS_TEST_FOOTER_SIZE 46
/* messages up to this size are read into memory, larger ones streamed from the file */
#define MS_TEST_READ_AT_ONCE 65536

#define MS_TEST_ID_A "0006123456789a00010001"
#define MS_TEST_ID_B "0006123456789a00020002"
#define MS_TEST_ID_C "0006123456789a00030003"
#define MS_TEST_ID_D "0006123456789a00040004"

typedef struct {
	gchar *base; /* from g_dir_make_tmp(), removed at the end */
	gchar *dir;  /* the spool: base/spool */
	gchar *tmp_dir;
	gchar *failed_dir;
	MsSpool *spool;
} MsTestSpool;

typedef struct {
	gboolean done;
	gboolean ok;
	GError *error;
} MsTestCommit;

/* ---- helpers ---- */

static void
ms_test_rm_rf(const gchar *path)
{
	if (g_file_test(path, G_FILE_TEST_IS_DIR) && !g_file_test(path, G_FILE_TEST_IS_SYMLINK)) {
		g_autoptr(GDir) dir = NULL;
		const gchar *name;

		/* a test may have taken the write permission away */
		g_assert_no_errno(g_chmod(path, 0700));
		dir = g_dir_open(path, 0, NULL);
		g_assert_nonnull(dir);
		while ((name = g_dir_read_name(dir)) != NULL) {
			g_autofree gchar *child = g_build_filename(path, name, NULL);
			ms_test_rm_rf(child);
		}
		g_assert_no_errno(g_rmdir(path));
	} else {
		g_assert_no_errno(g_unlink(path));
	}
}

static gint
ms_test_compare_names(gconstpointer a, gconstpointer b)
{
	return g_strcmp0(*(const gchar *const *)a, *(const gchar *const *)b);
}

/* the names in a directory, sorted and joined with spaces: exact file sets compare as strings;
 * this process's recycled files, recycled-PID-N, are listed as "recycled" */
static gchar *
ms_test_list_dir(const gchar *path)
{
	g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	g_autofree gchar *own_recycled = g_strdup_printf("recycled-%d-", (gint)getpid());
	const gchar *name;

	g_assert_nonnull(dir);
	while ((name = g_dir_read_name(dir)) != NULL) {
		if (g_str_has_prefix(name, own_recycled))
			g_ptr_array_add(names, g_strdup("recycled"));
		else
			g_ptr_array_add(names, g_strdup(name));
	}
	g_ptr_array_sort(names, ms_test_compare_names);
	g_ptr_array_add(names, NULL);
	return g_strjoinv(" ", (gchar **)names->pdata);
}

static void
ms_test_assert_dir(const gchar *path, const gchar *expected)
{
	g_autofree gchar *names = ms_test_list_dir(path);
	g_assert_cmpstr(names, ==, expected);
}

static GBytes *
ms_test_read_file(const gchar *path)
{
	g_autoptr(GError) error = NULL;
	gchar *data = NULL;
	gsize len = 0;

	g_file_get_contents(path, &data, &len, &error);
	g_assert_no_error(error);
	return g_bytes_new_take(data, len);
}

static void
ms_test_write_file(const gchar *path, const void *data, gsize len)
{
	g_autoptr(GError) error = NULL;

	g_file_set_contents(path, data, (gssize)len, &error);
	g_assert_no_error(error);
}

static void
ms_test_assert_bytes(GBytes *got, const void *data, gsize len)
{
	g_assert_nonnull(got);
	g_assert_cmpmem(g_bytes_get_data(got, NULL), g_bytes_get_size(got), data, len);
}

static void
ms_test_assert_file(const gchar *path, const void *data, gsize len)
{
	g_autoptr(GBytes) got = ms_test_read_file(path);
	ms_test_assert_bytes(got, data, len);
}

/* a message of len bytes, every byte value included and no two runs alike: a mix-up of
 * offsets, a stale tail or a lost piece shows */
static GBytes *
ms_test_message(gsize len, guint seed)
{
	guint8 *data = g_malloc(MAX(len, 1));

	for (gsize i = 0; i < len; i++)
		data[i] = (guint8)((i * 31 + seed * 7 + i / 251) & 0xff);
	return g_bytes_new_take(data, len);
}

static gchar *
ms_test_envelope(const gchar *id, const gchar *account, guint attempts)
{
	return g_strdup_printf("[job]\n"
			       "id=%s\n"
			       "account=%s\n"
			       "sender=alice@example.org\n"
			       "recipients=bob@example.org;carol@example.org;\n"
			       "attempts=%u\n",
			       id,
			       account,
			       attempts);
}

/* the bytes of ID.mail for this message and envelope, built independently of the spool */
static GBytes *
ms_test_job_bytes(GBytes *message, const gchar *envelope)
{
	GByteArray *out = g_byte_array_new();
	g_autofree gchar *footer =
	    g_strdup_printf("mail-sender-spool-1 %016" G_GINT64_MODIFIER "x %08x\n",
			    (guint64)g_bytes_get_size(message),
			    (guint)strlen(envelope));

	g_assert_cmpuint(strlen(footer), ==, MS_TEST_FOOTER_SIZE);
	g_byte_array_append(out, g_bytes_get_data(message, NULL), g_bytes_get_size(message));
	g_byte_array_append(out, (const guint8 *)envelope, strlen(envelope));
	g_byte_array_append(out, (const guint8 *)footer, strlen(footer));
	return g_byte_array_free_to_bytes(out);
}

static gchar *
ms_test_path(MsTestSpool *t, const gchar *id, const gchar *suffix)
{
	g_autofree gchar *name = g_strconcat(id, suffix, NULL);
	return g_build_filename(t->dir, name, NULL);
}

static void
ms_test_setup(MsTestSpool *t, gconstpointer data)
{
	g_autoptr(GError) error = NULL;

	t->base = g_dir_make_tmp("ms-test-spool-XXXXXX", &error);
	g_assert_no_error(error);
	t->dir = g_build_filename(t->base, "spool", NULL);
	t->tmp_dir = g_build_filename(t->dir, "tmp", NULL);
	t->failed_dir = g_build_filename(t->dir, "failed", NULL);
	t->spool = NULL;
}

/* drops the spool and waits until it is finalized: the worker thread of the last group commit
 * may hold its task, and so the spool, a moment after the commit's callback ran */
static void
ms_test_close(MsTestSpool *t)
{
	GWeakRef ref;
	gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
	MsSpool *still;

	if (t->spool == NULL)
		return;
	g_weak_ref_init(&ref, t->spool);
	g_clear_object(&t->spool);
	while ((still = g_weak_ref_get(&ref)) != NULL) {
		g_object_unref(still);
		g_assert_cmpint(g_get_monotonic_time(), <, deadline);
		g_main_context_iteration(NULL, FALSE);
		g_usleep(1000);
	}
	g_weak_ref_clear(&ref);
}

static void
ms_test_teardown(MsTestSpool *t, gconstpointer data)
{
	ms_test_close(t);
	while (g_main_context_iteration(NULL, FALSE))
		;
	ms_test_rm_rf(t->base);
	g_free(t->base);
	g_free(t->dir);
	g_free(t->tmp_dir);
	g_free(t->failed_dir);
}

static void
ms_test_open(MsTestSpool *t)
{
	g_autoptr(GError) error = NULL;

	g_assert_null(t->spool);
	t->spool = ms_spool_new(t->dir);
	g_assert_true(ms_spool_open(t->spool, &error));
	g_assert_no_error(error);
	g_assert_cmpstr(ms_spool_get_dir(t->spool), ==, t->dir);
}

static void
ms_test_commit_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	MsTestCommit *c = user_data;

	g_assert_false(c->done);
	c->ok = ms_spool_commit_finish(MS_SPOOL(source), res, &c->error);
	c->done = TRUE;
}

static void
ms_test_wait(MsTestCommit *c)
{
	while (!c->done)
		g_main_context_iteration(NULL, TRUE);
}

static void
ms_test_commit_clear(MsTestCommit *c)
{
	g_clear_error(&c->error);
	c->done = FALSE;
	c->ok = FALSE;
}

/* commits and waits; message NULL: streamed with ms_spool_create_message() before */
static void
ms_test_commit(MsTestSpool *t, const gchar *id, GBytes *message, const gchar *envelope)
{
	MsTestCommit c = {0};

	ms_spool_commit_async(t->spool, id, message, envelope, ms_test_commit_cb, &c);
	g_assert_true(ms_spool_is_busy(t->spool));
	ms_test_wait(&c);
	g_assert_no_error(c.error);
	g_assert_true(c.ok);
	g_assert_false(ms_spool_is_busy(t->spool));
}

static void
ms_test_replace(MsTestSpool *t, const gchar *id, GBytes *message, const gchar *envelope)
{
	MsTestCommit c = {0};

	ms_spool_replace_async(t->spool, id, message, envelope, ms_test_commit_cb, &c);
	ms_test_wait(&c);
	g_assert_no_error(c.error);
	g_assert_true(c.ok);
}

/* the job's message through ms_spool_lock() and ms_spool_read_message(), exactly as delivery
 * reads it: message_size bytes from the stream */
static GBytes *
ms_test_read_message(MsTestSpool *t, const gchar *id, gboolean *streamed)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GInputStream) in = NULL;
	guint64 size = G_MAXUINT64;
	gsize got = 0;
	guint8 *data;
	gint fd;

	fd = ms_spool_lock(t->spool, id, &error);
	g_assert_no_error(error);
	g_assert_cmpint(fd, >=, 0);
	in = ms_spool_read_message(t->spool, id, fd, &size, &error);
	g_assert_no_error(error);
	g_assert_nonnull(in);
	g_assert_cmpuint(size, <, G_MAXUINT64);
	*streamed = !G_IS_MEMORY_INPUT_STREAM(in);
	data = g_malloc(MAX(size, 1));
	g_input_stream_read_all(in, data, (gsize)size, &got, NULL, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(got, ==, size);
	if (!*streamed) {
		/* in memory: the message and nothing else */
		guint8 more;
		g_assert_cmpint(g_input_stream_read(in, &more, 1, NULL, &error), ==, 0);
		g_assert_no_error(error);
	}
	g_input_stream_close(in, NULL, &error);
	g_assert_no_error(error);
	ms_spool_unlock(fd);
	return g_bytes_new_take(data, (gsize)size);
}

/* everything about a committed job: its file byte for byte (with the envelope committed), the
 * envelope it has now (ID.state, if there is one), the message */
static void
ms_test_assert_job_full(MsTestSpool *t,
			const gchar *id,
			GBytes *message,
			const gchar *committed,
			const gchar *envelope)
{
	g_autofree gchar *path = ms_test_path(t, id, ".mail");
	g_autoptr(GBytes) expected = ms_test_job_bytes(message, committed);
	g_autoptr(GBytes) got = NULL;
	g_autoptr(GKeyFile) kf = NULL;
	g_autoptr(GKeyFile) kf_expected = g_key_file_new();
	g_autoptr(GError) error = NULL;
	g_autofree gchar *data = NULL;
	g_autofree gchar *data_expected = NULL;
	guint64 size = G_MAXUINT64;
	gboolean streamed = FALSE;

	ms_test_assert_file(path, g_bytes_get_data(expected, NULL), g_bytes_get_size(expected));

	kf = ms_spool_load_envelope(t->spool, id, &size, &error);
	g_assert_no_error(error);
	g_assert_nonnull(kf);
	g_assert_cmpuint(size, ==, g_bytes_get_size(message));
	g_key_file_load_from_data(kf_expected, envelope, -1, G_KEY_FILE_NONE, &error);
	g_assert_no_error(error);
	data = g_key_file_to_data(kf, NULL, NULL);
	data_expected = g_key_file_to_data(kf_expected, NULL, NULL);
	g_assert_cmpstr(data, ==, data_expected);

	got = ms_test_read_message(t, id, &streamed);
	ms_test_assert_bytes(got, g_bytes_get_data(message, NULL), g_bytes_get_size(message));
	g_assert_cmpint(streamed, ==, g_bytes_get_size(message) > MS_TEST_READ_AT_ONCE);
}

static void
ms_test_assert_job(MsTestSpool *t, const gchar *id, GBytes *message, const gchar *envelope)
{
	ms_test_assert_job_full(t, id, message, envelope, envelope);
}

/* the ids in the spool, as a set (the order has a test of its own) */
static void
ms_test_assert_ids(MsTestSpool *t, const gchar *const *expected)
{
	g_autoptr(GPtrArray) ids = ms_spool_list(t->spool);

	g_ptr_array_sort(ids, ms_test_compare_names);
	g_ptr_array_add(ids, NULL);
	g_assert_cmpstrv((const gchar *const *)ids->pdata, expected);
}

/* ---- tests ---- */

static void
ms_test_spool_commit_memory(MsTestSpool *t, gconstpointer data)
{
	/* empty, small, the largest read at once, the smallest streamed, a large one */
	const gsize sizes[] = {0, 23, MS_TEST_READ_AT_ONCE, MS_TEST_READ_AT_ONCE + 1, 300001};

	ms_test_open(t);
	ms_test_assert_dir(t->dir, "failed tmp");
	ms_test_assert_dir(t->tmp_dir, "");
	ms_test_assert_dir(t->failed_dir, "");
	ms_test_assert_ids(t, (const gchar *const[]){NULL});

	for (guint i = 0; i < G_N_ELEMENTS(sizes); i++) {
		g_autoptr(GBytes) message = ms_test_message(sizes[i], i);
		g_autofree gchar *envelope = ms_test_envelope(MS_TEST_ID_A, "work", i);
		g_autofree gchar *path = ms_test_path(t, MS_TEST_ID_A, ".mail");
		g_autoptr(GKeyFile) kf = NULL;
		g_autoptr(GError) error = NULL;
		g_auto(GStrv) recipients = NULL;
		g_autofree gchar *account = NULL;
		guint64 size = 0;
		struct stat st;

		g_test_message("message of %" G_GSIZE_FORMAT " bytes", sizes[i]);
		ms_test_commit(t, MS_TEST_ID_A, message, envelope);
		ms_test_assert_dir(t->dir, MS_TEST_ID_A ".mail failed tmp");
		ms_test_assert_dir(t->tmp_dir, "");
		ms_test_assert_dir(t->failed_dir, "");
		ms_test_assert_ids(t, (const gchar *const[]){MS_TEST_ID_A, NULL});
		g_assert_no_errno(g_stat(path, &st));
		g_assert_cmpint(st.st_mode & 0777, ==, 0600);

		kf = ms_spool_load_envelope(t->spool, MS_TEST_ID_A, &size, &error);
		g_assert_no_error(error);
		g_assert_cmpuint(size, ==, sizes[i]);
		account = g_key_file_get_string(kf, "job", "account", &error);
		g_assert_no_error(error);
		g_assert_cmpstr(account, ==, "work");
		recipients = g_key_file_get_string_list(kf, "job", "recipients", NULL, &error);
		g_assert_no_error(error);
		g_assert_cmpstrv(
		    recipients,
		    ((const gchar *const[]){"bob@example.org", "carol@example.org", NULL}));
		g_assert_cmpuint(g_key_file_get_uint64(kf, "job", "attempts", NULL), ==, i);

		ms_test_assert_job(t, MS_TEST_ID_A, message, envelope);
		/* delete, so that the next one is a new file, not a recycled one */
		g_assert_no_errno(g_unlink(path));
	}
}

static void
ms_test_spool_batch(MsTestSpool *t, gconstpointer data)
{
	enum { N = 9 };
	MsTestCommit c[N] = {0};
	GBytes *messages[N];
	gchar *envelopes[N];
	gchar *ids[N + 1];
	g_autoptr(GString) expected = g_string_new(NULL);

	ms_test_open(t);
	/* issued back to back: the first starts a group commit, the rest gather for the next */
	for (guint i = 0; i < N; i++) {
		ids[i] = g_strdup_printf("0006123456789a%04x%04x", i, 0xbeef);
		messages[i] = ms_test_message(i % 3 == 2 ? 70000 + i : 100 * i + 1, i);
		envelopes[i] = ms_test_envelope(ids[i], i % 2 ? "work" : "home", i);
		ms_spool_commit_async(t->spool,
				      ids[i],
				      messages[i],
				      envelopes[i],
				      ms_test_commit_cb,
				      &c[i]);
		g_string_append_printf(expected, "%s.mail ", ids[i]);
	}
	ids[N] = NULL;
	g_string_append(expected, "failed tmp");
	g_assert_true(ms_spool_is_busy(t->spool));
	for (guint i = 0; i < N; i++) {
		ms_test_wait(&c[i]);
		g_assert_no_error(c[i].error);
		g_assert_true(c[i].ok);
	}
	g_assert_false(ms_spool_is_busy(t->spool));
	ms_test_assert_dir(t->dir, expected->str);
	ms_test_assert_dir(t->tmp_dir, "");
	ms_test_assert_ids(t, (const gchar *const *)ids);
	for (guint i = 0; i < N; i++) {
		ms_test_assert_job(t, ids[i], messages[i], envelopes[i]);
		g_bytes_unref(messages[i]);
		g_free(envelopes[i]);
		g_free(ids[i]);
	}
}

/* writes message to a stream from ms_spool_create_message() in pieces of the given size */
static void
ms_test_stream_message(MsTestSpool *t, const gchar *id, GBytes *message, gsize piece)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GOutputStream) out = ms_spool_create_message(t->spool, id, &error);
	const guint8 *data = g_bytes_get_data(message, NULL);
	gsize len = g_bytes_get_size(message);

	g_assert_no_error(error);
	g_assert_nonnull(out);
	for (gsize pos = 0; pos < len; pos += piece) {
		gsize n = MIN(piece, len - pos);
		g_output_stream_write_all(out, data + pos, n, NULL, NULL, &error);
		g_assert_no_error(error);
	}
	g_output_stream_close(out, NULL, &error);
	g_assert_no_error(error);
}

static void
ms_test_spool_streamed(MsTestSpool *t, gconstpointer data)
{
	const gsize sizes[] = {0, 1, 5000, 200003};
	const gsize pieces[] = {1, 7, 1000, 65537};

	ms_test_open(t);
	for (guint i = 0; i < G_N_ELEMENTS(sizes); i++) {
		g_autoptr(GBytes) message = ms_test_message(sizes[i], 40 + i);
		g_autofree gchar *envelope = ms_test_envelope(MS_TEST_ID_B, "work", 0);
		g_autofree gchar *tmp_path = NULL;
		g_autofree gchar *path = ms_test_path(t, MS_TEST_ID_B, ".mail");

		g_test_message("streamed message of %" G_GSIZE_FORMAT " bytes", sizes[i]);
		ms_test_stream_message(t, MS_TEST_ID_B, message, pieces[i]);
		/* the message alone waits in tmp/ until the commit */
		tmp_path = g_build_filename(t->tmp_dir, MS_TEST_ID_B ".mail", NULL);
		ms_test_assert_file(tmp_path,
				    g_bytes_get_data(message, NULL),
				    g_bytes_get_size(message));
		ms_test_assert_dir(t->dir, "failed tmp");
		ms_test_assert_ids(t, (const gchar *const[]){NULL});

		ms_test_commit(t, MS_TEST_ID_B, NULL, envelope);
		ms_test_assert_dir(t->dir, MS_TEST_ID_B ".mail failed tmp");
		ms_test_assert_dir(t->tmp_dir, "");
		ms_test_assert_job(t, MS_TEST_ID_B, message, envelope);
		g_assert_no_errno(g_unlink(path));
	}
}

static void
ms_test_spool_discard(MsTestSpool *t, gconstpointer data)
{
	g_autoptr(GBytes) message = ms_test_message(1000, 3);
	g_autoptr(GError) error = NULL;
	g_autoptr(GOutputStream) out = NULL;

	ms_test_open(t);
	ms_test_stream_message(t, MS_TEST_ID_A, message, 100);
	ms_test_assert_dir(t->tmp_dir, MS_TEST_ID_A ".mail");
	/* a second stream for the same id is refused, as a storage error */
	out = ms_spool_create_message(t->spool, MS_TEST_ID_A, &error);
	g_assert_error(error, MS_ERROR, MS_ERROR_STORAGE);
	g_assert_null(out);
	ms_spool_discard(t->spool, MS_TEST_ID_A);
	ms_test_assert_dir(t->tmp_dir, "");
	ms_test_assert_dir(t->dir, "failed tmp");
	ms_test_assert_ids(t, (const gchar *const[]){NULL});
}

static void
ms_test_spool_state(MsTestSpool *t, gconstpointer data)
{
	g_autoptr(GBytes) message = ms_test_message(4321, 5);
	g_autofree gchar *envelope = ms_test_envelope(MS_TEST_ID_A, "work", 0);
	g_autofree gchar *newer = ms_test_envelope(MS_TEST_ID_A, "work", 3);
	g_autofree gchar *newest = ms_test_envelope(MS_TEST_ID_A, "work", 4);
	g_autofree gchar *state = ms_test_path(t, MS_TEST_ID_A, ".state");
	g_autoptr(GKeyFile) kf = NULL;
	g_autoptr(GError) error = NULL;
	guint64 size = 0;

	ms_test_open(t);
	ms_test_commit(t, MS_TEST_ID_A, message, envelope);
	ms_spool_update_envelope(t->spool, MS_TEST_ID_A, newer);
	ms_test_assert_file(state, newer, strlen(newer));
	ms_spool_update_envelope(t->spool, MS_TEST_ID_A, newest);
	ms_test_assert_file(state, newest, strlen(newest));
	ms_test_assert_dir(t->dir, MS_TEST_ID_A ".mail " MS_TEST_ID_A ".state failed tmp");
	ms_test_assert_ids(t, (const gchar *const[]){MS_TEST_ID_A, NULL});

	/* the envelope comes from ID.state; the job file is as committed */
	kf = ms_spool_load_envelope(t->spool, MS_TEST_ID_A, &size, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(size, ==, 4321);
	g_assert_cmpuint(g_key_file_get_uint64(kf, "job", "attempts", NULL), ==, 4);
	ms_test_assert_job_full(t, MS_TEST_ID_A, message, envelope, newest);

	ms_spool_remove(t->spool, MS_TEST_ID_A);
	ms_test_assert_dir(t->dir, "failed tmp");
	ms_test_assert_ids(t, (const gchar *const[]){NULL});
	g_clear_pointer(&kf, g_key_file_unref);
	kf = ms_spool_load_envelope(t->spool, MS_TEST_ID_A, &size, &error);
	g_assert_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
	g_assert_null(kf);
	g_assert_false(ms_spool_has_failed(t->spool, MS_TEST_ID_A));
}

static void
ms_test_spool_recycle(MsTestSpool *t, gconstpointer data)
{
	g_autoptr(GBytes) long_message = ms_test_message(100000, 7);
	g_autoptr(GBytes) short_message = ms_test_message(321, 8);
	g_autoptr(GBytes) streamed = ms_test_message(2000, 9);
	g_autofree gchar *envelope_a = ms_test_envelope(MS_TEST_ID_A, "a-much-longer-account", 9);
	g_autofree gchar *envelope_b = ms_test_envelope(MS_TEST_ID_B, "b", 0);
	g_autofree gchar *envelope_c = ms_test_envelope(MS_TEST_ID_C, "c", 0);
	g_autofree gchar *path_a = ms_test_path(t, MS_TEST_ID_A, ".mail");
	g_autofree gchar *path_b = ms_test_path(t, MS_TEST_ID_B, ".mail");
	struct stat st_a;
	struct stat st_b;

	ms_test_open(t);
	ms_test_commit(t, MS_TEST_ID_A, long_message, envelope_a);
	ms_spool_update_envelope(t->spool, MS_TEST_ID_A, envelope_a);
	g_assert_no_errno(g_stat(path_a, &st_a));
	ms_spool_remove(t->spool, MS_TEST_ID_A);
	/* the delivered job's file waits in tmp/ for the next commit */
	ms_test_assert_dir(t->dir, "failed tmp");
	ms_test_assert_dir(t->tmp_dir, "recycled");
	ms_test_assert_ids(t, (const gchar *const[]){NULL});

	/* a streamed commit has its own file: the recycled one stays */
	ms_test_stream_message(t, MS_TEST_ID_C, streamed, 500);
	ms_test_commit(t, MS_TEST_ID_C, NULL, envelope_c);
	ms_test_assert_dir(t->tmp_dir, "recycled");
	ms_test_assert_job(t, MS_TEST_ID_C, streamed, envelope_c);

	/* a commit from memory overwrites it, and nothing of A is left after B's footer */
	ms_test_commit(t, MS_TEST_ID_B, short_message, envelope_b);
	ms_test_assert_dir(t->tmp_dir, "");
	ms_test_assert_dir(t->dir, MS_TEST_ID_B ".mail " MS_TEST_ID_C ".mail failed tmp");
	g_assert_no_errno(g_stat(path_b, &st_b));
	g_assert_cmpuint(st_b.st_ino, ==, st_a.st_ino);
	g_assert_cmpint(st_b.st_size, ==, 321 + strlen(envelope_b) + MS_TEST_FOOTER_SIZE);
	ms_test_assert_job(t, MS_TEST_ID_B, short_message, envelope_b);
	ms_test_assert_ids(t, (const gchar *const[]){MS_TEST_ID_B, MS_TEST_ID_C, NULL});

	/* a longer message in a recycled file grows it */
	ms_spool_remove(t->spool, MS_TEST_ID_B);
	ms_test_assert_dir(t->tmp_dir, "recycled");
	ms_test_commit(t, MS_TEST_ID_A, long_message, envelope_a);
	ms_test_assert_dir(t->tmp_dir, "");
	ms_test_assert_job(t, MS_TEST_ID_A, long_message, envelope_a);

	/* with no commit after the removal the file stays in tmp/ until the spool goes */
	ms_spool_remove(t->spool, MS_TEST_ID_A);
	ms_spool_remove(t->spool, MS_TEST_ID_C);
	ms_test_assert_dir(t->tmp_dir, "recycled recycled");
	ms_test_assert_dir(t->dir, "failed tmp");
	ms_test_close(t);
	ms_test_assert_dir(t->tmp_dir, "");
	ms_test_assert_dir(t->dir, "failed tmp");
}

static void
ms_test_spool_failed(MsTestSpool *t, gconstpointer data)
{
	const gsize sizes[] = {0, 999, 100000};

	ms_test_open(t);
	for (guint i = 0; i < G_N_ELEMENTS(sizes); i++) {
		g_autofree gchar *id = g_strdup_printf("0006123456789a0000%04x", i);
		g_autoptr(GBytes) message = ms_test_message(sizes[i], 20 + i);
		g_autofree gchar *envelope = ms_test_envelope(id, "work", 0);
		g_autofree gchar *final = NULL;
		g_autofree gchar *failed_msg = NULL;
		g_autofree gchar *failed_job = NULL;
		g_autofree gchar *expected = NULL;
		g_autoptr(GError) error = NULL;
		gint fd;

		final = g_strdup_printf("%s[failure]\nerror=org.mail.Sender.Error.Rejected\n"
					"message=550 no such user\n",
					envelope);
		failed_msg = g_strdup_printf("%s/%s.msg", t->failed_dir, id);
		failed_job = g_strdup_printf("%s/%s.job", t->failed_dir, id);
		expected = g_strdup_printf("%s.job %s.msg", id, id);

		ms_test_commit(t, id, message, envelope);
		ms_spool_update_envelope(t->spool, id, envelope);
		g_assert_false(ms_spool_has_failed(t->spool, id));
		/* as delivery does it: the lock is held until the files are retired */
		fd = ms_spool_lock(t->spool, id, &error);
		g_assert_no_error(error);
		ms_spool_move_to_failed(t->spool, id, final);
		ms_spool_unlock(fd);

		ms_test_assert_dir(t->dir, "failed tmp");
		ms_test_assert_dir(t->tmp_dir, "");
		ms_test_assert_dir(t->failed_dir, expected);
		ms_test_assert_file(failed_msg,
				    g_bytes_get_data(message, NULL),
				    g_bytes_get_size(message));
		ms_test_assert_file(failed_job, final, strlen(final));
		g_assert_true(ms_spool_has_failed(t->spool, id));
		g_assert_false(ms_spool_has_failed(t->spool, MS_TEST_ID_A));
		ms_test_assert_ids(t, (const gchar *const[]){NULL});
		fd = ms_spool_lock(t->spool, id, &error);
		g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
		g_assert_cmpint(fd, ==, -1);
		g_assert_no_errno(g_unlink(failed_msg));
		g_assert_no_errno(g_unlink(failed_job));
	}
}

/* a job file that is not whole still goes to failed/, as it is */
static void
ms_test_spool_failed_corrupt(MsTestSpool *t, gconstpointer data)
{
	static const gchar garbage[] = "no footer here\n";
	g_autofree gchar *path = ms_test_path(t, MS_TEST_ID_A, ".mail");
	g_autofree gchar *failed_msg = g_build_filename(t->failed_dir, MS_TEST_ID_A ".msg", NULL);

	ms_test_open(t);
	ms_test_write_file(path, garbage, strlen(garbage));
	ms_spool_move_to_failed(t->spool, MS_TEST_ID_A, "[job]\n");
	ms_test_assert_dir(t->dir, "failed tmp");
	ms_test_assert_dir(t->failed_dir, MS_TEST_ID_A ".job " MS_TEST_ID_A ".msg");
	ms_test_assert_file(failed_msg, garbage, strlen(garbage));
	g_assert_true(ms_spool_has_failed(t->spool, MS_TEST_ID_A));
}

static void
ms_test_spool_open_cleanup(MsTestSpool *t, gconstpointer data)
{
	/* id 1: a committed job with its state; 2: a state whose job is gone; 3: a 0.1 message
	 * whose commit never finished; 4: a committed 0.1 job */
	const gchar *id1 = "0006000000000100000001";
	const gchar *id2 = "0006000000000200000002";
	const gchar *id3 = "0006000000000300000003";
	const gchar *id4 = "0006000000000400000004";
	g_autoptr(GBytes) message1 = ms_test_message(600, 1);
	g_autoptr(GBytes) message4 = ms_test_message(70001, 4);
	g_autofree gchar *envelope1 = ms_test_envelope(id1, "one", 0);
	g_autofree gchar *state1 = ms_test_envelope(id1, "one", 2);
	g_autofree gchar *envelope4 = ms_test_envelope(id4, "four", 1);
	g_autoptr(GBytes) job1 = ms_test_job_bytes(message1, envelope1);
	g_autofree gchar *expected = NULL;

	g_assert_no_errno(g_mkdir_with_parents(t->tmp_dir, 0700));
	{
		g_autofree gchar *junk = g_build_filename(t->tmp_dir, "junk", NULL);
		g_autofree gchar *recycled = g_build_filename(t->tmp_dir, "recycled-7", NULL);
		g_autofree gchar *half = g_build_filename(t->tmp_dir, MS_TEST_ID_A ".mail", NULL);
		g_autofree gchar *p1 = ms_test_path(t, id1, ".mail");
		g_autofree gchar *p1s = ms_test_path(t, id1, ".state");
		g_autofree gchar *p2 = ms_test_path(t, id2, ".state");
		g_autofree gchar *p3 = ms_test_path(t, id3, ".msg");
		g_autofree gchar *p4m = ms_test_path(t, id4, ".msg");
		g_autofree gchar *p4j = ms_test_path(t, id4, ".job");

		ms_test_write_file(junk, "junk", 4);
		ms_test_write_file(recycled, "old", 3);
		ms_test_write_file(half, "half a message", 14);
		ms_test_write_file(p1, g_bytes_get_data(job1, NULL), g_bytes_get_size(job1));
		ms_test_write_file(p1s, state1, strlen(state1));
		ms_test_write_file(p2, "[job]\nattempts=1\n", 17);
		ms_test_write_file(p3, "From: x\r\n\r\nlost\r\n", 17);
		ms_test_write_file(p4m,
				   g_bytes_get_data(message4, NULL),
				   g_bytes_get_size(message4));
		ms_test_write_file(p4j, envelope4, strlen(envelope4));
	}

	ms_test_open(t);
	ms_test_assert_dir(t->tmp_dir, "");
	ms_test_assert_dir(t->failed_dir, "");
	expected = g_strdup_printf("%s.mail %s.state %s.mail failed tmp", id1, id1, id4);
	ms_test_assert_dir(t->dir, expected);
	ms_test_assert_ids(t, (const gchar *const[]){id1, id4, NULL});
	ms_test_assert_job_full(t, id1, message1, envelope1, state1);
	ms_test_assert_job(t, id4, message4, envelope4);

	/* a second open finds nothing more to do */
	ms_test_close(t);
	ms_test_open(t);
	ms_test_assert_dir(t->dir, expected);
	ms_test_assert_job(t, id4, message4, envelope4);
}

/* a 0.1 pair beside an ID.mail: a crash came after the rename, before the old files went */
static void
ms_test_spool_open_migrate_again(MsTestSpool *t, gconstpointer data)
{
	/* 5: ID.mail is whole and stays as it is; 6: ID.mail is cut short and is built again */
	const gchar *id5 = "0006000000000500000005";
	const gchar *id6 = "0006000000000600000006";
	g_autoptr(GBytes) message5 = ms_test_message(800, 5);
	g_autoptr(GBytes) old5 = ms_test_message(900, 55);
	g_autoptr(GBytes) message6 = ms_test_message(1200, 6);
	g_autofree gchar *envelope5 = ms_test_envelope(id5, "five", 0);
	g_autofree gchar *old_envelope5 = ms_test_envelope(id5, "old-five", 0);
	g_autofree gchar *envelope6 = ms_test_envelope(id6, "six", 0);
	g_autoptr(GBytes) job5 = ms_test_job_bytes(message5, envelope5);
	g_autoptr(GBytes) job6 = ms_test_job_bytes(message6, envelope6);
	g_autofree gchar *p5 = ms_test_path(t, id5, ".mail");
	g_autofree gchar *p6 = ms_test_path(t, id6, ".mail");
	g_autofree gchar *expected = NULL;

	g_assert_no_errno(g_mkdir_with_parents(t->dir, 0700));
	{
		g_autofree gchar *p5m = ms_test_path(t, id5, ".msg");
		g_autofree gchar *p5j = ms_test_path(t, id5, ".job");
		g_autofree gchar *p6m = ms_test_path(t, id6, ".msg");
		g_autofree gchar *p6j = ms_test_path(t, id6, ".job");

		ms_test_write_file(p5, g_bytes_get_data(job5, NULL), g_bytes_get_size(job5));
		ms_test_write_file(p5m, g_bytes_get_data(old5, NULL), g_bytes_get_size(old5));
		ms_test_write_file(p5j, old_envelope5, strlen(old_envelope5));
		ms_test_write_file(p6, g_bytes_get_data(job6, NULL), g_bytes_get_size(job6) - 1);
		ms_test_write_file(p6m,
				   g_bytes_get_data(message6, NULL),
				   g_bytes_get_size(message6));
		ms_test_write_file(p6j, envelope6, strlen(envelope6));
	}

	ms_test_open(t);
	expected = g_strdup_printf("%s.mail %s.mail failed tmp", id5, id6);
	ms_test_assert_dir(t->dir, expected);
	ms_test_assert_dir(t->tmp_dir, "");
	ms_test_assert_file(p5, g_bytes_get_data(job5, NULL), g_bytes_get_size(job5));
	ms_test_assert_job(t, id5, message5, envelope5);
	ms_test_assert_job(t, id6, message6, envelope6);
}

static void
ms_test_spool_open_fails(MsTestSpool *t, gconstpointer data)
{
	g_autofree gchar *file = g_build_filename(t->base, "file", NULL);
	g_autofree gchar *under = g_build_filename(file, "spool", NULL);
	g_autoptr(MsSpool) spool = ms_spool_new(under);
	g_autoptr(GError) error = NULL;

	ms_test_write_file(file, "x", 1);
	g_assert_false(ms_spool_open(spool, &error));
	g_assert_error(error, MS_ERROR, MS_ERROR_STORAGE);
	ms_test_assert_file(file, "x", 1);
}

/* a job file, whole or damaged */
static void
ms_test_assert_corrupt(MsTestSpool *t,
		       const gchar *what,
		       const void *data,
		       gsize len,
		       GQuark domain,
		       gint code)
{
	g_autofree gchar *path = ms_test_path(t, MS_TEST_ID_A, ".mail");
	g_autoptr(GKeyFile) kf = NULL;
	g_autoptr(GInputStream) in = NULL;
	g_autoptr(GError) error = NULL;
	guint64 size = 0;
	g_autofree gchar *printable = g_strescape(what, NULL);
	gint fd;

	g_test_message("corrupt job file: %s", printable);
	ms_test_write_file(path, data, len);
	kf = ms_spool_load_envelope(t->spool, MS_TEST_ID_A, &size, &error);
	g_assert_error(error, domain, code);
	g_assert_null(kf);
	g_clear_error(&error);
	/* delivery finds out as well: it can lock the job, but not read it */
	if (domain == G_IO_ERROR) {
		fd = ms_spool_lock(t->spool, MS_TEST_ID_A, &error);
		g_assert_no_error(error);
		in = ms_spool_read_message(t->spool, MS_TEST_ID_A, fd, &size, &error);
		g_assert_error(error, domain, code);
		g_assert_null(in);
		ms_spool_unlock(fd);
	}
	/* the file is left as it was, for people to look at */
	ms_test_assert_file(path, data, len);
	ms_test_assert_ids(t, (const gchar *const[]){MS_TEST_ID_A, NULL});
}

static void
ms_test_spool_corrupt(MsTestSpool *t, gconstpointer data)
{
	g_autoptr(GBytes) message = ms_test_message(150, 1);
	g_autofree gchar *envelope = ms_test_envelope(MS_TEST_ID_A, "work", 0);
	g_autoptr(GBytes) job = ms_test_job_bytes(message, envelope);
	const gchar *whole = g_bytes_get_data(job, NULL);
	gsize len = g_bytes_get_size(job);
	const gsize footer_at = len - MS_TEST_FOOTER_SIZE;
	g_autofree gchar *buf = g_malloc(len + 64);

	const guint64 m = g_bytes_get_size(message);
	const guint e = (guint)strlen(envelope);
	g_autofree gchar *path = ms_test_path(t, MS_TEST_ID_A, ".mail");
	g_autoptr(GPtrArray) footers = g_ptr_array_new_with_free_func(g_free);

#define MS_TEST_FOOTER(prefix, middle, suffix, msg, env)                                           \
	g_ptr_array_add(footers,                                                                   \
			g_strdup_printf(prefix "%016" G_GINT64_MODIFIER "x" middle "%08x" suffix,  \
					(guint64)(msg),                                            \
					(guint)(env)))
	/* the lengths do not add up: the message longer or shorter, the envelope off */
	MS_TEST_FOOTER("mail-sender-spool-1 ", " ", "\n", m + 1, e);
	MS_TEST_FOOTER("mail-sender-spool-1 ", " ", "\n", m - 1, e);
	MS_TEST_FOOTER("mail-sender-spool-1 ", " ", "\n", m, e + 1);
	MS_TEST_FOOTER("mail-sender-spool-1 ", " ", "\n", m, e - 1);
	MS_TEST_FOOTER("mail-sender-spool-1 ", " ", "\n", 0, 0);
	MS_TEST_FOOTER("mail-sender-spool-1 ", " ", "\n", G_MAXUINT64, e);
	MS_TEST_FOOTER("mail-sender-spool-1 ", " ", "\n", G_MAXUINT64 - e - 45, e);
	MS_TEST_FOOTER("mail-sender-spool-1 ", " ", "\n", m, G_MAXUINT32);
	/* the wrong magic, version, separators */
	MS_TEST_FOOTER("mail-sender-spool-2 ", " ", "\n", m, e);
	MS_TEST_FOOTER("MAIL-SENDER-SPOOL-1 ", " ", "\n", m, e);
	MS_TEST_FOOTER("mail-sender-spool-1_", " ", "\n", m, e);
	MS_TEST_FOOTER("mail-sender-spool-1 ", "_", "\n", m, e);
	MS_TEST_FOOTER("mail-sender-spool-1 ", " ", " ", m, e);
	MS_TEST_FOOTER("mail-sender-spool-1 ", " ", "\r", m, e);
#undef MS_TEST_FOOTER
	/* digits that are not hex, or a sign */
	{
		g_autofree gchar *good = g_strdup_printf("%016" G_GINT64_MODIFIER "x %08x", m, e);
		g_autofree gchar *bad = g_strdup(good);
		bad[15] = 'g';
		g_ptr_array_add(footers, g_strdup_printf("mail-sender-spool-1 %s\n", bad));
		g_free(bad);
		bad = g_strdup(good);
		bad[0] = '-';
		g_ptr_array_add(footers, g_strdup_printf("mail-sender-spool-1 %s\n", bad));
		g_free(bad);
		bad = g_strdup(good);
		bad[17] = ' ';
		g_ptr_array_add(footers, g_strdup_printf("mail-sender-spool-1 %s\n", bad));
	}

	ms_test_open(t);

	/* the whole file reads, so that what follows fails for the reason given */
	ms_test_write_file(path, whole, len);
	ms_test_assert_job(t, MS_TEST_ID_A, message, envelope);

	ms_test_assert_corrupt(t, "empty", "", 0, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
	ms_test_assert_corrupt(t,
			       "garbage",
			       "Subject: hello\r\n\r\nno spool file\r\n",
			       33,
			       G_IO_ERROR,
			       G_IO_ERROR_INVALID_DATA);
	/* every shorter length: a commit cut off anywhere */
	for (gsize cut = 0; cut < len; cut++) {
		g_autofree gchar *what = g_strdup_printf("cut to %" G_GSIZE_FORMAT " bytes", cut);
		ms_test_assert_corrupt(t, what, whole, cut, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
	}
	/* trailing bytes after the footer */
	memcpy(buf, whole, len);
	buf[len] = '\n';
	ms_test_assert_corrupt(t, "a byte more", buf, len + 1, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
	/* any one byte of the footer changed */
	for (gsize i = footer_at; i < len; i++) {
		memcpy(buf, whole, len);
		buf[i] = whole[i] == '0' ? '1' : (whole[i] == '\n' ? ' ' : '0');
		ms_test_assert_corrupt(t,
				       "a footer byte changed",
				       buf,
				       len,
				       G_IO_ERROR,
				       G_IO_ERROR_INVALID_DATA);
	}
	for (guint i = 0; i < footers->len; i++) {
		const gchar *footer = g_ptr_array_index(footers, i);
		g_assert_cmpuint(strlen(footer), ==, MS_TEST_FOOTER_SIZE);
		memcpy(buf, whole, footer_at);
		memcpy(buf + footer_at, footer, MS_TEST_FOOTER_SIZE);
		ms_test_assert_corrupt(t, footer, buf, len, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
	}
	/* a footer alone that claims an envelope over the limit (16 MiB) */
	{
		const gchar *big = "mail-sender-spool-1 0000000000000000 01000001\n";
		ms_test_assert_corrupt(t,
				       "envelope over the limit",
				       big,
				       MS_TEST_FOOTER_SIZE,
				       G_IO_ERROR,
				       G_IO_ERROR_INVALID_DATA);
	}
	/* a whole file whose envelope is not a key file */
	{
		g_autoptr(GBytes) bad = ms_test_job_bytes(message, "this is not [a key file\n");
		ms_test_assert_corrupt(t,
				       "envelope not a key file",
				       g_bytes_get_data(bad, NULL),
				       g_bytes_get_size(bad),
				       G_KEY_FILE_ERROR,
				       G_KEY_FILE_ERROR_PARSE);
	}
	/* the smallest whole file: no message, an empty envelope */
	{
		g_autoptr(GBytes) empty = g_bytes_new_static("", 0);
		g_autoptr(GBytes) bad = ms_test_job_bytes(empty, "");
		g_autoptr(GKeyFile) kf = NULL;
		g_autoptr(GError) error = NULL;
		guint64 size = 1;

		ms_test_write_file(path, g_bytes_get_data(bad, NULL), g_bytes_get_size(bad));
		kf = ms_spool_load_envelope(t->spool, MS_TEST_ID_A, &size, &error);
		g_assert_no_error(error);
		g_assert_nonnull(kf);
		g_assert_cmpuint(size, ==, 0);
	}
}

static void
ms_test_spool_lock(MsTestSpool *t, gconstpointer data)
{
	g_autoptr(GBytes) message = ms_test_message(100, 1);
	g_autofree gchar *envelope = ms_test_envelope(MS_TEST_ID_A, "work", 0);
	g_autoptr(GError) error = NULL;
	gint fd;
	gint fd2;

	ms_test_open(t);
	fd = ms_spool_lock(t->spool, MS_TEST_ID_A, &error);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
	g_assert_cmpint(fd, ==, -1);
	g_clear_error(&error);

	ms_test_commit(t, MS_TEST_ID_A, message, envelope);
	fd = ms_spool_lock(t->spool, MS_TEST_ID_A, &error);
	g_assert_no_error(error);
	g_assert_cmpint(fd, >=, 0);
	/* a second open file description does not get it while the first holds it */
	fd2 = ms_spool_lock(t->spool, MS_TEST_ID_A, &error);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_BUSY);
	g_assert_cmpint(fd2, ==, -1);
	g_clear_error(&error);
	ms_spool_unlock(fd);

	fd = ms_spool_lock(t->spool, MS_TEST_ID_A, &error);
	g_assert_no_error(error);
	g_assert_cmpint(fd, >=, 0);
	/* delivered while locked, as delivery retires the files before it unlocks */
	ms_spool_remove(t->spool, MS_TEST_ID_A);
	ms_spool_unlock(fd);
	fd = ms_spool_lock(t->spool, MS_TEST_ID_A, &error);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
	g_assert_cmpint(fd, ==, -1);
	g_assert_false(ms_spool_has_failed(t->spool, MS_TEST_ID_A));
	ms_spool_unlock(-1);
}

static void
ms_test_spool_replace(MsTestSpool *t, gconstpointer data)
{
	g_autoptr(GBytes) first = ms_test_message(5000, 1);
	g_autoptr(GBytes) second = ms_test_message(70000, 2);
	g_autoptr(GBytes) third = ms_test_message(10, 3);
	g_autofree gchar *envelope1 = ms_test_envelope(MS_TEST_ID_A, "first", 0);
	g_autofree gchar *envelope2 = ms_test_envelope(MS_TEST_ID_A, "second-account", 0);
	g_autofree gchar *envelope3 = ms_test_envelope(MS_TEST_ID_A, "3", 0);
	g_autofree gchar *envelope_b = ms_test_envelope(MS_TEST_ID_B, "b", 0);

	ms_test_open(t);
	/* a job not in the spool yet is created */
	ms_test_replace(t, MS_TEST_ID_A, first, envelope1);
	ms_test_assert_dir(t->dir, MS_TEST_ID_A ".mail failed tmp");
	ms_test_assert_job(t, MS_TEST_ID_A, first, envelope1);

	ms_test_replace(t, MS_TEST_ID_A, second, envelope2);
	ms_test_assert_dir(t->dir, MS_TEST_ID_A ".mail failed tmp");
	ms_test_assert_dir(t->tmp_dir, "");
	ms_test_assert_job(t, MS_TEST_ID_A, second, envelope2);

	/* shorter again, in a recycled file */
	ms_test_commit(t, MS_TEST_ID_B, first, envelope_b);
	ms_spool_remove(t->spool, MS_TEST_ID_B);
	ms_test_assert_dir(t->tmp_dir, "recycled");
	ms_test_replace(t, MS_TEST_ID_A, third, envelope3);
	ms_test_assert_dir(t->tmp_dir, "");
	ms_test_assert_dir(t->dir, MS_TEST_ID_A ".mail failed tmp");
	ms_test_assert_job(t, MS_TEST_ID_A, third, envelope3);
	ms_test_assert_ids(t, (const gchar *const[]){MS_TEST_ID_A, NULL});
}

/* tmp/ is a file: no commit can be written, whoever runs the test (root included) */
static void
ms_test_spool_unwritable_tmp(MsTestSpool *t, gconstpointer data)
{
	g_autoptr(GBytes) message = ms_test_message(500, 1);
	g_autoptr(GBytes) other = ms_test_message(600, 2);
	g_autofree gchar *envelope = ms_test_envelope(MS_TEST_ID_A, "work", 0);
	g_autofree gchar *other_envelope = ms_test_envelope(MS_TEST_ID_A, "other", 0);
	g_autoptr(GError) error = NULL;
	g_autoptr(GOutputStream) out = NULL;
	MsTestCommit c = {0};

	ms_test_open(t);
	ms_test_commit(t, MS_TEST_ID_A, message, envelope);
	g_assert_no_errno(g_rmdir(t->tmp_dir));
	ms_test_write_file(t->tmp_dir, "", 0);

	ms_spool_commit_async(t->spool, MS_TEST_ID_B, message, envelope, ms_test_commit_cb, &c);
	ms_test_wait(&c);
	g_assert_error(c.error, MS_ERROR, MS_ERROR_STORAGE);
	g_assert_false(c.ok);
	g_assert_false(ms_spool_is_busy(t->spool));
	ms_test_commit_clear(&c);

	/* a replacement that fails leaves the job as it was */
	ms_spool_replace_async(t->spool,
			       MS_TEST_ID_A,
			       other,
			       other_envelope,
			       ms_test_commit_cb,
			       &c);
	ms_test_wait(&c);
	g_assert_error(c.error, MS_ERROR, MS_ERROR_STORAGE);
	ms_test_commit_clear(&c);

	out = ms_spool_create_message(t->spool, MS_TEST_ID_C, &error);
	g_assert_error(error, MS_ERROR, MS_ERROR_STORAGE);
	g_assert_null(out);

	ms_test_assert_dir(t->dir, MS_TEST_ID_A ".mail failed tmp");
	ms_test_assert_file(t->tmp_dir, "", 0);
	ms_test_assert_ids(t, (const gchar *const[]){MS_TEST_ID_A, NULL});
	ms_test_assert_job(t, MS_TEST_ID_A, message, envelope);
}

/* the spool directory read-only: the file cannot be created in tmp/ nor renamed into place */
static void
ms_test_spool_unwritable_dir(MsTestSpool *t, gconstpointer data)
{
	g_autoptr(GBytes) message = ms_test_message(500, 1);
	g_autofree gchar *envelope = ms_test_envelope(MS_TEST_ID_A, "work", 0);
	MsTestCommit c = {0};

	if (geteuid() == 0) {
		g_test_skip("permissions are not enforced for root");
		return;
	}
	ms_test_open(t);
	g_assert_no_errno(g_chmod(t->tmp_dir, 0500));
	g_assert_no_errno(g_chmod(t->dir, 0500));
	ms_spool_commit_async(t->spool, MS_TEST_ID_A, message, envelope, ms_test_commit_cb, &c);
	ms_test_wait(&c);
	g_assert_error(c.error, MS_ERROR, MS_ERROR_STORAGE);
	ms_test_commit_clear(&c);
	ms_test_assert_dir(t->dir, "failed tmp");
	ms_test_assert_dir(t->tmp_dir, "");

	/* tmp/ writable, the spool not: the rename fails, and the file in tmp/ goes */
	g_assert_no_errno(g_chmod(t->tmp_dir, 0700));
	ms_spool_commit_async(t->spool, MS_TEST_ID_A, message, envelope, ms_test_commit_cb, &c);
	ms_test_wait(&c);
	g_assert_error(c.error, MS_ERROR, MS_ERROR_STORAGE);
	ms_test_commit_clear(&c);
	ms_test_assert_dir(t->dir, "failed tmp");
	ms_test_assert_dir(t->tmp_dir, "");
	g_assert_no_errno(g_chmod(t->dir, 0700));
	ms_test_assert_ids(t, (const gchar *const[]){NULL});
}

/* jobs of a group commit fail on their own (one's name is taken by a directory, one was to be
 * streamed but has no file in tmp/): the others of the batch are committed, and the failed ones
 * leave nothing */
static void
ms_test_spool_batch_partial(MsTestSpool *t, gconstpointer data)
{
	static const gchar *const ids[] = {MS_TEST_ID_A,
					   MS_TEST_ID_B,
					   MS_TEST_ID_C,
					   "0006123456789a00040004"};
	const gboolean ok[] = {TRUE, FALSE, TRUE, FALSE};
	g_autoptr(GBytes) message = ms_test_message(3000, 1);
	g_autofree gchar *blocker = ms_test_path(t, MS_TEST_ID_B, ".mail");
	g_autofree gchar *inside = g_build_filename(blocker, "keep", NULL);
	gchar *envelopes[G_N_ELEMENTS(ids)];
	MsTestCommit c[G_N_ELEMENTS(ids)] = {0};

	ms_test_open(t);
	g_assert_no_errno(g_mkdir(blocker, 0700));
	ms_test_write_file(inside, "keep", 4);
	/* the first is written alone, the others gather into one batch meanwhile */
	for (guint i = 0; i < G_N_ELEMENTS(ids); i++) {
		envelopes[i] = ms_test_envelope(ids[i], "work", i);
		ms_spool_commit_async(t->spool,
				      ids[i],
				      i == 3 ? NULL : message,
				      envelopes[i],
				      ms_test_commit_cb,
				      &c[i]);
	}
	for (guint i = 0; i < G_N_ELEMENTS(ids); i++) {
		ms_test_wait(&c[i]);
		if (ok[i]) {
			g_assert_no_error(c[i].error);
			g_assert_true(c[i].ok);
		} else {
			g_assert_error(c[i].error, MS_ERROR, MS_ERROR_STORAGE);
			g_assert_false(c[i].ok);
		}
	}
	g_assert_false(ms_spool_is_busy(t->spool));
	ms_test_assert_dir(t->dir,
			   MS_TEST_ID_A ".mail " MS_TEST_ID_B ".mail " MS_TEST_ID_C
					".mail failed tmp");
	ms_test_assert_dir(blocker, "keep");
	ms_test_assert_dir(t->tmp_dir, "");
	ms_test_assert_job(t, MS_TEST_ID_A, message, envelopes[0]);
	ms_test_assert_job(t, MS_TEST_ID_C, message, envelopes[2]);
	for (guint i = 0; i < G_N_ELEMENTS(ids); i++) {
		g_clear_error(&c[i].error);
		g_free(envelopes[i]);
	}
}

/* ms_spool_list() gives the ids oldest first, that is sorted: ids start with the submission
 * time */
static void
ms_test_spool_list_order(MsTestSpool *t, gconstpointer data)
{
	enum { N = 24 };
	g_autoptr(GBytes) message = ms_test_message(10, 1);
	g_autoptr(GPtrArray) expected = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) ids = NULL;

	ms_test_open(t);
	/* committed in an order unlike the ids' */
	for (guint i = 0; i < N; i++) {
		guint k = (i * 7 + 3) % N;
		g_autofree gchar *id =
		    g_strdup_printf("%014x%04x%04x", 0x6100000 + k * 0x1111, k, N - k);
		g_autofree gchar *envelope = ms_test_envelope(id, "work", 0);
		ms_test_commit(t, id, message, envelope);
	}
	for (guint k = 0; k < N; k++)
		g_ptr_array_add(expected,
				g_strdup_printf("%014x%04x%04x", 0x6100000 + k * 0x1111, k, N - k));
	g_ptr_array_add(expected, NULL);
	ids = ms_spool_list(t->spool);
	g_assert_cmpuint(ids->len, ==, N);
	g_ptr_array_add(ids, NULL);
	g_assert_cmpstrv((const gchar *const *)ids->pdata, (const gchar *const *)expected->pdata);
}

/* commits on any spool and waits; FALSE with error when the commit failed */
static gboolean
ms_test_commit_on(MsSpool *spool,
		  const gchar *id,
		  GBytes *message,
		  const gchar *envelope,
		  GError **error)
{
	MsTestCommit c = {0};

	ms_spool_commit_async(spool, id, message, envelope, ms_test_commit_cb, &c);
	ms_test_wait(&c);
	if (c.error != NULL)
		g_propagate_error(error, g_steal_pointer(&c.error));
	return c.ok;
}

/* a replaced job's new envelope wins over an update of the old one (ID.state goes) */
static void
ms_test_spool_replace_drops_state(MsTestSpool *t, gconstpointer data)
{
	g_autoptr(GBytes) first = ms_test_message(500, 1);
	g_autoptr(GBytes) second = ms_test_message(700, 2);
	g_autofree gchar *envelope1 = ms_test_envelope(MS_TEST_ID_A, "one", 0);
	g_autofree gchar *updated = ms_test_envelope(MS_TEST_ID_A, "one", 3);
	g_autofree gchar *envelope2 = ms_test_envelope(MS_TEST_ID_A, "two", 0);

	ms_test_open(t);
	ms_test_commit(t, MS_TEST_ID_A, first, envelope1);
	ms_spool_update_envelope(t->spool, MS_TEST_ID_A, updated);
	ms_test_assert_dir(t->dir, MS_TEST_ID_A ".mail " MS_TEST_ID_A ".state failed tmp");
	ms_test_replace(t, MS_TEST_ID_A, second, envelope2);
	ms_test_assert_dir(t->dir, MS_TEST_ID_A ".mail failed tmp");
	ms_test_assert_job(t, MS_TEST_ID_A, second, envelope2);
}

/* a recycled file that is gone when a commit wants it (another daemon's start emptied tmp/
 * during --replace) is created again: the commit does not fail */
static void
ms_test_spool_recycled_file_gone(MsTestSpool *t, gconstpointer data)
{
	g_autoptr(GBytes) message_a = ms_test_message(900, 3);
	g_autoptr(GBytes) message_b = ms_test_message(400, 4);
	g_autofree gchar *envelope_a = ms_test_envelope(MS_TEST_ID_A, "a", 0);
	g_autofree gchar *envelope_b = ms_test_envelope(MS_TEST_ID_B, "b", 0);

	ms_test_open(t);
	ms_test_commit(t, MS_TEST_ID_A, message_a, envelope_a);
	ms_spool_remove(t->spool, MS_TEST_ID_A);
	ms_test_assert_dir(t->tmp_dir, "recycled");
	ms_test_rm_rf(t->tmp_dir);
	g_assert_no_errno(g_mkdir(t->tmp_dir, 0700));
	ms_test_commit(t, MS_TEST_ID_B, message_b, envelope_b);
	ms_test_assert_dir(t->tmp_dir, "");
	ms_test_assert_dir(t->dir, MS_TEST_ID_B ".mail failed tmp");
	ms_test_assert_job(t, MS_TEST_ID_B, message_b, envelope_b);
}

/* two spools on one directory (the old and the new daemon during --replace) keep their
 * recycled files apart: each commit gets its own bytes */
static void
ms_test_spool_two_spools(MsTestSpool *t, gconstpointer data)
{
	g_autoptr(MsSpool) other = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) message_a = ms_test_message(1000, 5);
	g_autoptr(GBytes) message_b = ms_test_message(1100, 6);
	g_autoptr(GBytes) message_c = ms_test_message(300, 7);
	g_autoptr(GBytes) message_d = ms_test_message(350, 8);
	g_autofree gchar *envelope_a = ms_test_envelope(MS_TEST_ID_A, "a", 0);
	g_autofree gchar *envelope_b = ms_test_envelope(MS_TEST_ID_B, "b", 0);
	g_autofree gchar *envelope_c = ms_test_envelope(MS_TEST_ID_C, "c", 0);
	g_autofree gchar *envelope_d = ms_test_envelope(MS_TEST_ID_D, "d", 0);

	ms_test_open(t);
	other = ms_spool_new(t->dir);
	g_assert_true(ms_spool_open(other, &error));
	g_assert_no_error(error);
	ms_test_commit(t, MS_TEST_ID_A, message_a, envelope_a);
	g_assert_true(ms_test_commit_on(other, MS_TEST_ID_B, message_b, envelope_b, &error));
	g_assert_no_error(error);
	ms_spool_remove(t->spool, MS_TEST_ID_A);
	ms_spool_remove(other, MS_TEST_ID_B);
	ms_test_assert_dir(t->tmp_dir, "recycled recycled");
	ms_test_commit(t, MS_TEST_ID_C, message_c, envelope_c);
	g_assert_true(ms_test_commit_on(other, MS_TEST_ID_D, message_d, envelope_d, &error));
	g_assert_no_error(error);
	ms_test_assert_dir(t->tmp_dir, "");
	ms_test_assert_job(t, MS_TEST_ID_C, message_c, envelope_c);
	ms_test_assert_job(t, MS_TEST_ID_D, message_d, envelope_d);
}

/* an envelope the reader would refuse (over 16 MiB) is refused when it is written, and
 * nothing is left */
static void
ms_test_spool_envelope_too_large(MsTestSpool *t, gconstpointer data)
{
	g_autoptr(GBytes) message = ms_test_message(100, 9);
	g_autofree gchar *filler = g_strnfill(16 * 1024 * 1024 + 1, 'a');
	g_autofree gchar *envelope = g_strdup_printf("[job]\nfiller=%s\n", filler);
	g_autoptr(GError) error = NULL;

	ms_test_open(t);
	g_assert_false(ms_test_commit_on(t->spool, MS_TEST_ID_A, message, envelope, &error));
	g_assert_error(error, MS_ERROR, MS_ERROR_STORAGE);
	ms_test_assert_dir(t->dir, "failed tmp");
	ms_test_assert_dir(t->tmp_dir, "");
}

static void
ms_test_add(const gchar *name, void (*func)(MsTestSpool *, gconstpointer))
{
	g_autofree gchar *path = g_strdup_printf("/mail-sender/spool/%s", name);
	g_test_add(path, MsTestSpool, NULL, ms_test_setup, func, ms_test_teardown);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	ms_test_add("commit-memory", ms_test_spool_commit_memory);
	ms_test_add("batch", ms_test_spool_batch);
	ms_test_add("batch-partial", ms_test_spool_batch_partial);
	ms_test_add("streamed", ms_test_spool_streamed);
	ms_test_add("discard", ms_test_spool_discard);
	ms_test_add("state", ms_test_spool_state);
	ms_test_add("recycle", ms_test_spool_recycle);
	ms_test_add("failed", ms_test_spool_failed);
	ms_test_add("failed-corrupt", ms_test_spool_failed_corrupt);
	ms_test_add("open-cleanup", ms_test_spool_open_cleanup);
	ms_test_add("open-migrate-again", ms_test_spool_open_migrate_again);
	ms_test_add("open-fails", ms_test_spool_open_fails);
	ms_test_add("corrupt", ms_test_spool_corrupt);
	ms_test_add("list-order", ms_test_spool_list_order);
	ms_test_add("lock", ms_test_spool_lock);
	ms_test_add("replace", ms_test_spool_replace);
	ms_test_add("replace-drops-state", ms_test_spool_replace_drops_state);
	ms_test_add("recycled-file-gone", ms_test_spool_recycled_file_gone);
	ms_test_add("two-spools", ms_test_spool_two_spools);
	ms_test_add("envelope-too-large", ms_test_spool_envelope_too_large);
	ms_test_add("unwritable-tmp", ms_test_spool_unwritable_tmp);
	ms_test_add("unwritable-dir", ms_test_spool_unwritable_dir);
	return g_test_run();
}
