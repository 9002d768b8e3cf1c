#define G_LOG_DOMAIN "MsError"

#include "config.h"

#include "ms-error.h"

static const GDBusErrorEntry ms_error_entries[] = {
    {MS_ERROR_FAILED, "org.mail.Sender.Error.Failed"},
    {MS_ERROR_INVALID_MESSAGE, "org.mail.Sender.Error.InvalidMessage"},
    {MS_ERROR_INVALID_ARGS, "org.mail.Sender.Error.InvalidArgs"},
    {MS_ERROR_NO_SUCH_ACCOUNT, "org.mail.Sender.Error.NoSuchAccount"},
    {MS_ERROR_NO_SUCH_JOB, "org.mail.Sender.Error.NoSuchJob"},
    {MS_ERROR_NOT_AUTHORIZED, "org.mail.Sender.Error.NotAuthorized"},
    {MS_ERROR_CREDENTIALS, "org.mail.Sender.Error.Credentials"},
    {MS_ERROR_CONNECTION, "org.mail.Sender.Error.Connection"},
    {MS_ERROR_TIMEOUT, "org.mail.Sender.Error.Timeout"},
    {MS_ERROR_TLS, "org.mail.Sender.Error.Tls"},
    {MS_ERROR_TLS_REQUIRED, "org.mail.Sender.Error.TlsRequired"},
    {MS_ERROR_AUTH_FAILED, "org.mail.Sender.Error.AuthFailed"},
    {MS_ERROR_REJECTED, "org.mail.Sender.Error.Rejected"},   /* 5xx, final */
    {MS_ERROR_TEMPORARY, "org.mail.Sender.Error.Temporary"}, /* 4xx, retried */
    {MS_ERROR_RATE_LIMITED, "org.mail.Sender.Error.RateLimited"},
    {MS_ERROR_CANCELLED, "org.mail.Sender.Error.Cancelled"},
    {MS_ERROR_STORAGE, "org.mail.Sender.Error.Storage"},
};
G_STATIC_ASSERT(G_N_ELEMENTS(ms_error_entries) == MS_ERROR_LAST);

GQuark
ms_error_quark(void)
{
	static gsize quark = 0;
	g_dbus_error_register_error_domain("ms-error-quark",
					   &quark,
					   ms_error_entries,
					   G_N_ELEMENTS(ms_error_entries));
	return (GQuark)quark;
}

const gchar *
ms_error_to_dbus_name(MsError code)
{
	g_return_val_if_fail(code < MS_ERROR_LAST, NULL);
	return ms_error_entries[code].dbus_error_name;
}

/* network trouble and 4xx replies are worth another attempt; everything else is final */
gboolean
ms_error_is_transient(const GError *error)
{
	g_return_val_if_fail(error != NULL, FALSE);
	if (error->domain != MS_ERROR)
		return FALSE;
	return error->code == MS_ERROR_CONNECTION || error->code == MS_ERROR_TIMEOUT ||
	       error->code == MS_ERROR_TEMPORARY;
}

/* the single point where foreign domains become ours, so that no caller ever sees an
 * org.gtk.GDBus.UnmappedGError name */
void
ms_error_convert(GError **error)
{
	GError *e;

	if (error == NULL || *error == NULL)
		return;
	e = *error;
	if (e->domain == MS_ERROR)
		return;
	if (g_error_matches(e, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
		e->code = MS_ERROR_CANCELLED;
	} else if (g_error_matches(e, G_IO_ERROR, G_IO_ERROR_TIMED_OUT)) {
		e->code = MS_ERROR_TIMEOUT;
	} else if (g_error_matches(e, G_IO_ERROR, G_IO_ERROR_NO_SPACE) ||
		   g_error_matches(e, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED) ||
		   g_error_matches(e, G_IO_ERROR, G_IO_ERROR_READ_ONLY) ||
		   e->domain == G_FILE_ERROR) {
		e->code = MS_ERROR_STORAGE;
	} else if (e->domain == G_IO_ERROR) {
		e->code = MS_ERROR_CONNECTION;
	} else if (e->domain == G_RESOLVER_ERROR) {
		e->code = MS_ERROR_CONNECTION;
	} else if (e->domain == G_TLS_ERROR) {
		e->code = MS_ERROR_TLS;
	} else if (e->domain == G_KEY_FILE_ERROR) {
		e->code = MS_ERROR_INVALID_ARGS;
	} else {
		e->code = MS_ERROR_FAILED;
	}
	e->domain = MS_ERROR;
}
