/* Telling systemd how the helper is doing, through libsystemd's sd_notify.
 * Without $NOTIFY_SOCKET (not started by systemd) these do nothing. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Sends @state (e.g. "READY=1") to the service manager. */
gboolean sg_sd_notify (const char *state, GError **error);

/* When the service manager asks for watchdog pings (sd_watchdog_enabled:
 * WATCHDOG_USEC, and WATCHDOG_PID naming this process or unset), sends
 * WATCHDOG=1 from the main loop at half that interval, so a hung loop stops
 * the pings and gets the helper killed. Returns the source id, or 0 when no
 * watchdog is wanted. */
guint sg_sd_watchdog_start (void);

G_END_DECLS
