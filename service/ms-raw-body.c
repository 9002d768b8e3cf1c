#define G_LOG_DOMAIN "MsRawBody"

#include "config.h"

#include <gio/gio.h>

#include "ms-raw-body.h"

#define MS_RAW_BODY_LINE_MAX 998

void
ms_raw_body_init(MsRawBody *self, MsRawMessageFlags flags, guint first_line, guint64 offset)
{
	g_return_if_fail(self != NULL);

	*self = (MsRawBody){0};
	self->dot_ends = (flags & MS_RAW_MESSAGE_FLAG_DOT_ENDS) != 0;
	self->line = first_line;
	self->offset = offset;
}

/* out NULL: only counted, for a body that is checked before it is written */
static void
ms_raw_body_emit(MsRawBody *self, GByteArray *out, const guint8 *data, gsize len)
{
	if (out != NULL)
		g_byte_array_append(out, data, (guint)len);
	self->written += len;
}

/* the end of a line: CRLF out, unless it is the '.' line that ends the message */
static void
ms_raw_body_end_line(MsRawBody *self, GByteArray *out)
{
	if (self->held_dot && self->dot_ends) {
		self->ended = TRUE;
		return;
	}
	if (self->held_dot)
		ms_raw_body_emit(self, out, (const guint8 *)".", 1);
	ms_raw_body_emit(self, out, (const guint8 *)"\r\n", 2);
	self->held_dot = FALSE;
	self->line_len = 0;
	self->line++;
}

gboolean
ms_raw_body_feed(MsRawBody *self, const guint8 *data, gsize len, GByteArray *out, GError **error)
{
	gsize run = 0; /* ordinary octets in data[i - run, i), copied out in one go */
	gsize i;

	g_return_val_if_fail(self != NULL, FALSE);

	for (i = 0; i < len && !self->ended; i++, self->offset++) {
		guint8 c = data[i];

		if (self->pending_cr) {
			self->pending_cr = FALSE;
			if (c == '\n')
				continue;
		}
		if (c == '\r' || c == '\n') {
			ms_raw_body_emit(self, out, data + i - run, run);
			run = 0;
			ms_raw_body_end_line(self, out);
			self->pending_cr = c == '\r';
			continue;
		}
		if (c == '\0') {
			g_set_error(error,
				    G_IO_ERROR,
				    G_IO_ERROR_INVALID_ARGUMENT,
				    "the message contains NUL bytes at offset %" G_GUINT64_FORMAT,
				    self->offset);
			return FALSE;
		}
		if (++self->line_len > MS_RAW_BODY_LINE_MAX) {
			g_set_error(error,
				    G_IO_ERROR,
				    G_IO_ERROR_INVALID_ARGUMENT,
				    "line %u is longer than 998 octets: a raw message is sent as "
				    "it is, so long lines must be folded or encoded by the sender",
				    self->line);
			return FALSE;
		}
		if (c >= 0x80)
			self->has_8bit = TRUE;
		/* a '.' that starts a line waits: it may be the whole line */
		if (self->line_len == 1 && c == '.') {
			self->held_dot = TRUE;
			continue;
		}
		if (self->held_dot) {
			ms_raw_body_emit(self, out, (const guint8 *)".", 1);
			self->held_dot = FALSE;
		}
		run++;
	}
	ms_raw_body_emit(self, out, data + i - run, run);
	return TRUE;
}

void
ms_raw_body_finish(MsRawBody *self, GByteArray *out)
{
	g_return_if_fail(self != NULL);

	if (self->ended || self->pending_cr)
		return;
	if (self->line_len > 0)
		ms_raw_body_end_line(self, out);
}

gboolean
ms_raw_body_has_ended(const MsRawBody *self)
{
	return self->ended;
}

gboolean
ms_raw_body_has_8bit(const MsRawBody *self)
{
	return self->has_8bit;
}

guint64
ms_raw_body_get_written(const MsRawBody *self)
{
	return self->written;
}

/* ---- copying a body from a stream into the spool ---- */

G_DEFINE_QUARK(ms - raw - body - error - quark, ms_raw_body_error)

#define MS_RAW_BODY_CHUNK_SIZE (64 * 1024)

typedef struct {
	GInputStream *in;
	GOutputStream *out;
	MsRawBody body;
	GByteArray *pending; /* normalized octets being written */
	guint64 max_size;
	guint64 size;
	gboolean finished; /* the input ended: close after this write */
} MsRawBodyCopy;

static void
ms_raw_body_copy_free(MsRawBodyCopy *copy)
{
	g_clear_object(&copy->in);
	g_clear_object(&copy->out);
	g_byte_array_unref(copy->pending);
	g_free(copy);
}

static void
ms_raw_body_copy_fail(GTask *task_owned, gint code, const GError *error)
{
	g_autoptr(GTask) task = task_owned;
	MsRawBodyCopy *copy = g_task_get_task_data(task);

	/* a partial file is the caller's to discard; the stream is closed here */
	g_output_stream_close(copy->out, NULL, NULL);
	g_task_return_new_error(task, MS_RAW_BODY_ERROR, code, "%s", error->message);
}

static void
ms_raw_body_copy_read(GTask *task);

static void
ms_raw_body_copy_closed_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	g_autoptr(GError) error = NULL;

	if (!g_output_stream_close_finish(G_OUTPUT_STREAM(source), res, &error)) {
		g_task_return_new_error(task,
					MS_RAW_BODY_ERROR,
					MS_RAW_BODY_ERROR_WRITE,
					"%s",
					error->message);
		return;
	}
	g_task_return_boolean(task, TRUE);
}

static void
ms_raw_body_copy_written_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	GTask *task = user_data;
	MsRawBodyCopy *copy = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;

	if (!g_output_stream_write_all_finish(G_OUTPUT_STREAM(source), res, NULL, &error)) {
		ms_raw_body_copy_fail(task, MS_RAW_BODY_ERROR_WRITE, error);
		return;
	}
	g_byte_array_set_size(copy->pending, 0);
	if (copy->finished || ms_raw_body_has_ended(&copy->body)) {
		g_output_stream_close_async(copy->out,
					    G_PRIORITY_DEFAULT,
					    g_task_get_cancellable(task),
					    ms_raw_body_copy_closed_cb,
					    task);
		return;
	}
	ms_raw_body_copy_read(task);
}

/* writes what is pending, then reads on (or closes) */
static void
ms_raw_body_copy_write(GTask *task)
{
	MsRawBodyCopy *copy = g_task_get_task_data(task);

	copy->size += copy->pending->len;
	if (copy->size > copy->max_size) {
		g_autoptr(GError) error =
		    g_error_new(MS_RAW_BODY_ERROR,
				MS_RAW_BODY_ERROR_TOO_LARGE,
				"the message is larger than %" G_GUINT64_FORMAT " MiB",
				copy->max_size / (1024 * 1024));
		ms_raw_body_copy_fail(task, MS_RAW_BODY_ERROR_TOO_LARGE, error);
		return;
	}
	g_output_stream_write_all_async(copy->out,
					copy->pending->data,
					copy->pending->len,
					G_PRIORITY_DEFAULT,
					g_task_get_cancellable(task),
					ms_raw_body_copy_written_cb,
					task);
}

/* feeds octets of the body: FALSE when the body was refused (the task is done then) */
static gboolean
ms_raw_body_copy_feed(GTask *task, const guint8 *data, gsize len)
{
	MsRawBodyCopy *copy = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;

	if (!ms_raw_body_feed(&copy->body, data, len, copy->pending, &error)) {
		ms_raw_body_copy_fail(task, MS_RAW_BODY_ERROR_INVALID, error);
		return FALSE;
	}
	return TRUE;
}

static void
ms_raw_body_copy_read_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	GTask *task = user_data;
	MsRawBodyCopy *copy = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) chunk =
	    g_input_stream_read_bytes_finish(G_INPUT_STREAM(source), res, &error);
	gsize len = 0;
	const guint8 *data;

	if (chunk == NULL) {
		ms_raw_body_copy_fail(task, MS_RAW_BODY_ERROR_READ, error);
		return;
	}
	data = g_bytes_get_data(chunk, &len);
	if (len == 0) {
		ms_raw_body_finish(&copy->body, copy->pending);
		copy->finished = TRUE;
	} else if (!ms_raw_body_copy_feed(task, data, len)) {
		return;
	}
	ms_raw_body_copy_write(task);
}

static void
ms_raw_body_copy_read(GTask *task)
{
	MsRawBodyCopy *copy = g_task_get_task_data(task);

	g_input_stream_read_bytes_async(copy->in,
					MS_RAW_BODY_CHUNK_SIZE,
					G_PRIORITY_DEFAULT,
					g_task_get_cancellable(task),
					ms_raw_body_copy_read_cb,
					task);
}

void
ms_raw_body_copy_async(GInputStream *in,
		       GBytes *prefix,
		       GBytes *body_start,
		       GOutputStream *out,
		       MsRawMessageFlags flags,
		       guint first_line,
		       guint64 offset,
		       guint64 max_size,
		       GCancellable *cancellable,
		       GAsyncReadyCallback callback,
		       gpointer user_data)
{
	GTask *task;
	MsRawBodyCopy *copy;
	g_return_if_fail(G_IS_INPUT_STREAM(in));
	g_return_if_fail(prefix != NULL);
	g_return_if_fail(G_IS_OUTPUT_STREAM(out));

	task = g_task_new(NULL, cancellable, callback, user_data);
	g_task_set_source_tag(task, ms_raw_body_copy_async);
	copy = g_new0(MsRawBodyCopy, 1);
	copy->in = g_object_ref(in);
	copy->out = g_object_ref(out);
	copy->max_size = max_size;
	copy->pending = g_byte_array_sized_new(MS_RAW_BODY_CHUNK_SIZE + 1024);
	ms_raw_body_init(&copy->body, flags, first_line, offset);
	g_task_set_task_data(task, copy, (GDestroyNotify)ms_raw_body_copy_free);

	g_byte_array_append(copy->pending,
			    g_bytes_get_data(prefix, NULL),
			    (guint)g_bytes_get_size(prefix));
	if (body_start != NULL && !ms_raw_body_copy_feed(task,
							 g_bytes_get_data(body_start, NULL),
							 g_bytes_get_size(body_start)))
		return;
	ms_raw_body_copy_write(task);
}

gboolean
ms_raw_body_copy_finish(GAsyncResult *res, guint64 *size, gboolean *has_8bit, GError **error)
{
	GTask *task = G_TASK(res);
	MsRawBodyCopy *copy;

	g_return_val_if_fail(g_task_is_valid(res, NULL), FALSE);
	if (!g_task_propagate_boolean(task, error))
		return FALSE;
	copy = g_task_get_task_data(task);
	if (size != NULL)
		*size = copy->size;
	if (has_8bit != NULL)
		*has_8bit = ms_raw_body_has_8bit(&copy->body);
	return TRUE;
}
