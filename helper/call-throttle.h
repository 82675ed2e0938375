/* At most a fixed number of the helper's own calls for callers (logind reads,
 * polkit checks) on their way at once; the others wait their turn, in order.
 * The system bus refuses a connection's calls beyond 128 pending
 * (max_replies_per_connection): without this, 200 callers who are not at the
 * console made the helper's own calls fail with LimitsExceeded, the console
 * user's Grant() among them. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _SgCallThrottle SgCallThrottle;

typedef void (*SgCallStart) (gpointer data);

SgCallThrottle *sg_call_throttle_new (guint max_in_flight);
void sg_call_throttle_free (SgCallThrottle *throttle);

/* Runs @start (@data) now if a slot is free, else when one is. @start makes
 * one call, whose end must be told with sg_call_throttle_done (). */
void sg_call_throttle_run (SgCallThrottle *throttle, SgCallStart start, gpointer data);

/* A call started through the throttle is over: its slot goes to the next. */
void sg_call_throttle_done (SgCallThrottle *throttle);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SgCallThrottle, sg_call_throttle_free)

G_END_DECLS
