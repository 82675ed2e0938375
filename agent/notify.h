/* Desktop notifications (org.freedesktop.Notifications): the state where no
 * tray shows it, and failures the user should hear of. */
#pragma once

#include <gio/gio.h>

#include "status.h"

G_BEGIN_DECLS

typedef struct _SgNotify SgNotify;

/* The user chose "Open VM console" on a notification. */
typedef void (*SgNotifyOpenFunc) (gpointer user_data);

SgNotify *sg_notify_new (GDBusConnection *session_bus, SgNotifyOpenFunc open, gpointer user_data);
void sg_notify_free (SgNotify *notify);

/* Shows @status, replacing the previous status notification. */
void sg_notify_status (SgNotify *notify, const SgStatus *status);
/* A separate notification about something that went wrong. */
void sg_notify_problem (SgNotify *notify, const char *summary, const char *body);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SgNotify, sg_notify_free)

G_END_DECLS
