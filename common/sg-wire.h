/* The helper's D-Bus properties as values (Gate1.xml), built in one place
 * for the helper, which publishes them, and seatgatectl, which shows the
 * config's when the helper is not running. */
#pragma once

#include <glib.h>

#include "sg-config.h"

G_BEGIN_DECLS

/* aq: @ports (a GArray of guint16), as Seats and Grants carry them. Floating. */
GVariant *sg_wire_ports (const GArray *ports);

/* a(saq): each configured seat and the ports it gates, in the config's
 * order: the Seats property. Floating. */
GVariant *sg_wire_seats (const SgConfig *config);

G_END_DECLS
