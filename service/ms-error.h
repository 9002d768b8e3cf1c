#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define MS_ERROR (ms_error_quark())

/* every code has a D-Bus name org.mail.Sender.Error.<Code>, see ms-error.c */
typedef enum {
	MS_ERROR_FAILED,
	MS_ERROR_INVALID_MESSAGE,
	MS_ERROR_INVALID_ARGS,
	MS_ERROR_NO_SUCH_ACCOUNT,
	MS_ERROR_NO_SUCH_JOB,
	MS_ERROR_NOT_AUTHORIZED,
	MS_ERROR_CREDENTIALS,
	MS_ERROR_CONNECTION,
	MS_ERROR_TIMEOUT,
	MS_ERROR_TLS,
	MS_ERROR_TLS_REQUIRED,
	MS_ERROR_AUTH_FAILED,
	MS_ERROR_REJECTED,
	MS_ERROR_TEMPORARY,
	MS_ERROR_RATE_LIMITED,
	MS_ERROR_CANCELLED,
	MS_ERROR_STORAGE,
	MS_ERROR_LAST
} MsError;

GQuark
ms_error_quark(void);
const gchar *
ms_error_to_dbus_name(MsError code);
gboolean
ms_error_is_transient(const GError *error);
void
ms_error_convert(GError **error);

G_END_DECLS
