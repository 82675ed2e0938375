/* Follows systemd-logind for the configured seats: which session is active on
 * each, which sessions go away, and whether logind is on the bus at all. All
 * of it from logind's signals (PropertiesChanged, SessionNew, SessionRemoved)
 * and the bus's NameOwnerChanged; nothing is polled. */
#pragma once

#include <gio/gio.h>

#include "sg-config.h"
#include "sg-logind.h"

G_BEGIN_DECLS

typedef struct _SgSeatMonitor SgSeatMonitor;

typedef struct
{
  /* The active session of @seat is now @session_id ("" for none, NULL when
   * logind did not say which: treat as changed). */
  void (*active_session_changed) (const char *seat, const char *session_id, gpointer user_data);
  /* The session at @session_path: its Active property turned false. */
  void (*session_deactivated) (const char *session_path, gpointer user_data);
  void (*session_removed) (const char *session_path, gpointer user_data);
  /* logind left the bus: nothing it said before holds any more. */
  void (*logind_vanished) (gpointer user_data);
  /* The monitor knows each seat's active session (after start, or after
   * logind came back). */
  void (*ready) (gpointer user_data);
} SgSeatMonitorEvents;

SgSeatMonitor *sg_seat_monitor_new (GDBusConnection *bus, const SgConfig *config,
                                    const SgSeatMonitorEvents *events, gpointer user_data);

/* Whether logind is on the bus: then a seat whose active session is unknown
 * is being read and will be known shortly. */
gboolean sg_seat_monitor_is_present (SgSeatMonitor *monitor);

/* The active session id of @seat as last announced by logind: "" for none,
 * NULL when unknown (logind absent, or not yet read). */
const char *sg_seat_monitor_get_active_session (SgSeatMonitor *monitor, const char *seat);

/* The object path of that session, or NULL. */
const char *sg_seat_monitor_get_active_session_path (SgSeatMonitor *monitor, const char *seat);

/* The uid of the session at @session_path, if logind told it while the
 * session was a seat's active one. A hint for which seats to read: the
 * session's own properties are still read before anything is granted. */
gboolean sg_seat_monitor_lookup_session_uid (SgSeatMonitor *monitor, const char *session_path,
                                             guint32 *uid);

/* Reads the properties of the session at @session_path from logind, now.
 * Cancel @cancellable before freeing the monitor if a read is on its way. */
void sg_seat_monitor_get_session_info (SgSeatMonitor *monitor, const char *session_path,
                                       GCancellable *cancellable, GAsyncReadyCallback callback,
                                       gpointer user_data);
SgLogindSession *sg_seat_monitor_get_session_info_finish (SgSeatMonitor *monitor,
                                                          GAsyncResult *result, GError **error);

void sg_seat_monitor_free (SgSeatMonitor *monitor);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SgSeatMonitor, sg_seat_monitor_free)

G_END_DECLS
