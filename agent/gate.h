/* The helper, io.github.seatgate.Gate1, as the agent sees it: whether it is
 * on the bus, which seats it gates, the revocations of our grant, and the
 * Grant call. Nothing else of the helper reaches the agent, so other users'
 * grant changes do not wake it. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct _SgGate SgGate;

typedef struct
{
  /* The helper appeared (once its Seats is read, or could not be),
   * vanished or was replaced; sg_gate_get_generation () tells which owner
   * this is. */
  void (*changed) (SgGate *gate, gpointer user_data);
  /* The helper ended our uid's grant on @seat, the one given to
   * sg_gate_follow_revocations (); @reason is the signal's. */
  void (*revoked) (SgGate *gate, const char *seat, const char *reason, gpointer user_data);
} SgGateCallbacks;

typedef enum
{
  SG_GATE_SEAT_UNKNOWN,   /* the helper's Seats is not known */
  SG_GATE_SEAT_NOT_GATED, /* the helper gates no port on that seat */
  SG_GATE_SEAT_GATED,
} SgGateSeat;

SgGate *sg_gate_new (GDBusConnection *system_bus, guint32 uid, const SgGateCallbacks *callbacks,
                     gpointer user_data);
void sg_gate_free (SgGate *gate);

/* Follows Revoked for our uid on @seat, our session's; NULL or "" stops
 * following. Meant for while a grant is asked for or held: the bus filters
 * on the seat alone, so following it otherwise would wake us for every grant
 * change of that seat's user. */
void sg_gate_follow_revocations (SgGate *gate, const char *seat);

/* FALSE until the first look at the bus is done. */
gboolean sg_gate_is_ready (const SgGate *gate);
/* The helper owns its bus name. */
gboolean sg_gate_is_present (const SgGate *gate);
/* Bumped each time the helper's owner changes; a grant asked of an earlier
 * owner is void. */
guint sg_gate_get_generation (const SgGate *gate);

/* Whether the helper gates a port on @seat, and its first one. UNKNOWN
 * while the helper is absent, or when its Seats could not be read. */
SgGateSeat sg_gate_lookup_seat (const SgGate *gate, const char *seat, guint16 *first_port);

/* Calls Grant (). The helper takes our uid from the bus. */
void sg_gate_grant (SgGate *gate, GCancellable *cancellable, GAsyncReadyCallback callback,
                    gpointer user_data);
gboolean sg_gate_grant_finish (SgGate *gate, GAsyncResult *result, GError **error);

/* Calls Release (): gives up a grant we no longer speak for. Nothing is
 * waited for; the helper's answer is only logged. */
void sg_gate_release (SgGate *gate);

/* "(seat, [ports])" pairs, for the unit tests: finds @seat's first port. */
SgGateSeat sg_gate_seats_lookup (GVariant *seats, const char *seat, guint16 *first_port);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SgGate, sg_gate_free)

G_END_DECLS
