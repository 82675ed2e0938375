/* The sd_notify protocol, spoken directly (a datagram to $NOTIFY_SOCKET), so
 * the helper needs no libsystemd. Without $NOTIFY_SOCKET these do nothing. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Sends @state (e.g. "READY=1") to the service manager. */
gboolean sg_sd_notify (const char *state, GError **error);

G_END_DECLS
