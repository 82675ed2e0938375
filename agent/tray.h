/* The tray icon: an org.kde.StatusNotifierItem on the session bus,
 * registered with whichever StatusNotifierWatcher is there. */
#pragma once

#include <gio/gio.h>

#include "status.h"

G_BEGIN_DECLS

#define SG_TRAY_PATH "/StatusNotifierItem"

typedef enum
{
  SG_TRAY_UNKNOWN, /* not yet known whether a tray shows us */
  SG_TRAY_SHOWN,   /* registered with a watcher that has a host */
  SG_TRAY_HIDDEN,  /* no watcher, no host, or registration refused */
} SgTrayVisibility;

typedef struct _SgTray SgTray;

typedef struct
{
  /* Activate (a left click). */
  void (*activate) (SgTray *tray, gpointer user_data);
  /* sg_tray_get_visibility () changed. */
  void (*visibility_changed) (SgTray *tray, gpointer user_data);
} SgTrayCallbacks;

SgTray *sg_tray_new (GDBusConnection *session_bus, const char *menu_path,
                     const SgTrayCallbacks *callbacks, gpointer user_data, GError **error);
void sg_tray_free (SgTray *tray);

/* @at_seat: the refusal in @status is of the person at the seat (polkit,
 * no port, a revocation), who must see it; FALSE for a session nobody at
 * the seat looks at (background, remote). */
void sg_tray_set_status (SgTray *tray, const SgStatus *status, gboolean at_seat);
SgTrayVisibility sg_tray_get_visibility (const SgTray *tray);
/* The bus name we own, org.kde.StatusNotifierItem-PID-1. */
const char *sg_tray_get_bus_name (const SgTray *tray);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SgTray, sg_tray_free)

G_END_DECLS
