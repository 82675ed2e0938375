/* At most a fixed number of the helper's own calls for callers (logind reads,
 * polkit checks) on their way at once; the others wait their turn, in order.
 * The system bus refuses a connection's calls beyond 128 pending
 * (max_replies_per_connection): without this, 200 callers who are not at the
 * console made the helper's own calls fail with LimitsExceeded, the console
 * user's Grant() among them.
 *
 * The throttle owns each call's slot. It hands the call its own completion
 * callback, which gives the slot back and then runs the caller's: no caller
 * gives a slot back by hand, so none can forget one or give one back twice,
 * and a call whose caller has lost interest (a Grant() abandoned) still
 * gives its slot back exactly once, when its answer comes. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct _SgCallThrottle SgCallThrottle;

/* Makes the one asynchronous call for @data, with @callback and
 * @callback_data as its GAsyncReadyCallback and user data. A call that has
 * nothing to send any more still answers through them (e.g. with
 * g_task_report_new_error ()): every start answers exactly once, from the
 * main loop, never from inside the start. */
typedef void (*SgCallStart) (gpointer data, GAsyncReadyCallback callback, gpointer callback_data);

SgCallThrottle *sg_call_throttle_new (guint max_in_flight);

/* Calls still waiting are dropped (they never start, their @done never
 * runs). Calls on their way still run their @done when they answer; the
 * throttle itself goes when the last of them is back. */
void sg_call_throttle_free (SgCallThrottle *throttle);

/* Runs @start (@data, …) now if a slot is free, else when one is, in the
 * order asked. When the call answers, its slot goes to the next waiting
 * call, then @done (source, result, @data) runs. */
void sg_call_throttle_run (SgCallThrottle *throttle, SgCallStart start, GAsyncReadyCallback done,
                           gpointer data);

/* Calls started and not yet answered. */
guint sg_call_throttle_get_in_flight (SgCallThrottle *throttle);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SgCallThrottle, sg_call_throttle_free)

G_END_DECLS
