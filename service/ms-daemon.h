#pragma once

#include <gio/gio.h>

#include "ms-config.h"
#include "ms-queue.h"

G_BEGIN_DECLS

/* The D-Bus front end: the org.mail.Sender manager object, one org.mail.Sender.Job object per
 * job, argument validation and the single conversion of errors into D-Bus error names. */
#define MS_TYPE_DAEMON (ms_daemon_get_type())
G_DECLARE_FINAL_TYPE(MsDaemon, ms_daemon, MS, DAEMON, GObject)

MsDaemon *
ms_daemon_new(MsConfig *config, MsQueue *queue, MsCredentials *credentials, gboolean system_bus);
/* exports the manager and the jobs already queued on the connection */
gboolean
ms_daemon_register(MsDaemon *self, GDBusConnection *connection, GError **error);
void
ms_daemon_set_config(MsDaemon *self, MsConfig *config);
/* sends the digests of notification windows still open (at shutdown) */
void
ms_daemon_flush_notifications(MsDaemon *self);
/* unexports everything */
void
ms_daemon_unregister(MsDaemon *self);

G_END_DECLS
