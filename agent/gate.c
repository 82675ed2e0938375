#include "gate.h"

#include "sg-error.h"
#include "sg-gate1-generated.h"
#include "sg-names.h"

struct _SgGate
{
  GDBusConnection *bus;
  guint32 uid;
  SgGateCallbacks callbacks;
  gpointer user_data;

  GCancellable *cancellable;
  SgGate1 *proxy; /* NULL until made; it follows the name's owner itself */
  char *owner;
  guint generation;
  GVariant *seats; /* the Seats last seen, to tell a real change */
};

SgGateSeat
sg_gate_seats_lookup (GVariant *seats, const char *seat, guint16 *first_port)
{
  GVariantIter iter;
  const char *name;
  GVariant *ports;

  if (seats == NULL || !g_variant_is_of_type (seats, G_VARIANT_TYPE ("a(saq)")))
    return SG_GATE_SEAT_UNKNOWN;
  g_variant_iter_init (&iter, seats);
  while (g_variant_iter_next (&iter, "(&s@aq)", &name, &ports))
    {
      gsize n = 0;
      const guint16 *list = g_variant_get_fixed_array (ports, &n, sizeof (guint16));
      gboolean found = g_str_equal (name, seat) && n > 0;

      if (found && first_port != NULL)
        *first_port = list[0];
      g_variant_unref (ports);
      if (found)
        return SG_GATE_SEAT_GATED;
    }
  return SG_GATE_SEAT_NOT_GATED;
}

static void
on_owner_changed (GObject *object, GParamSpec *pspec, gpointer user_data)
{
  SgGate *gate = user_data;
  g_autofree char *owner = g_dbus_proxy_get_name_owner (G_DBUS_PROXY (gate->proxy));

  if (g_strcmp0 (owner, gate->owner) == 0)
    return;
  g_message ("The seatgate helper %s%s", owner ? "is " : "left the bus", owner ? owner : "");
  g_free (gate->owner);
  gate->owner = g_steal_pointer (&owner);
  g_clear_pointer (&gate->seats, g_variant_unref);
  if (sg_gate1_get_seats (gate->proxy) != NULL)
    gate->seats = g_variant_ref (sg_gate1_get_seats (gate->proxy));
  gate->generation++;
  gate->callbacks.changed (gate, gate->user_data);
}

static void
on_seats_changed (GObject *object, GParamSpec *pspec, gpointer user_data)
{
  SgGate *gate = user_data;
  GVariant *seats = sg_gate1_get_seats (gate->proxy);

  if (seats == gate->seats
      || (seats != NULL && gate->seats != NULL && g_variant_equal (seats, gate->seats)))
    return;
  g_clear_pointer (&gate->seats, g_variant_unref);
  gate->seats = seats ? g_variant_ref (seats) : NULL;
  if (seats == NULL)
    return; /* invalidated with the old owner; the owner change says so */
  g_debug ("The helper's seats changed");
  gate->callbacks.changed (gate, gate->user_data);
}

static void
on_revoked (SgGate1 *proxy, const char *seat, guint32 uid, const char *reason, gpointer user_data)
{
  SgGate *gate = user_data;

  if (uid != gate->uid)
    return;
  g_message ("The helper ended our grant on %s: %s", seat, reason);
  gate->callbacks.revoked (gate, seat, reason, gate->user_data);
}

static void
on_proxy_ready (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GError) error = NULL;
  SgGate1 *proxy = sg_gate1_proxy_new_finish (result, &error);

  if (proxy == NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;

  SgGate *gate = user_data;
  if (proxy == NULL)
    {
      /* Only a broken connection gets here: a missing helper is a proxy
       * without an owner. */
      g_warning ("Could not follow the seatgate helper: %s", error->message);
      return;
    }
  gate->proxy = proxy;
  g_signal_connect (proxy, "notify::g-name-owner", G_CALLBACK (on_owner_changed), gate);
  g_signal_connect (proxy, "notify::seats", G_CALLBACK (on_seats_changed), gate);
  g_signal_connect (proxy, "revoked", G_CALLBACK (on_revoked), gate);
  gate->owner = g_dbus_proxy_get_name_owner (G_DBUS_PROXY (proxy));
  if (sg_gate1_get_seats (proxy) != NULL)
    gate->seats = g_variant_ref (sg_gate1_get_seats (proxy));
  if (gate->owner == NULL)
    g_message ("The seatgate helper is not on the system bus");
  else
    g_debug ("The seatgate helper is %s", gate->owner);
  gate->generation++;
  gate->callbacks.changed (gate, gate->user_data);
}

SgGate *
sg_gate_new (GDBusConnection *system_bus, guint32 uid, const SgGateCallbacks *callbacks,
             gpointer user_data)
{
  SgGate *gate = g_new0 (SgGate, 1);

  /* Registers the error domain, so refusals arrive as SG_ERROR. */
  (void)SG_ERROR;
  gate->bus = g_object_ref (system_bus);
  gate->uid = uid;
  gate->callbacks = *callbacks;
  gate->user_data = user_data;
  gate->cancellable = g_cancellable_new ();
  /* The proxy watches the name: on a new owner it reloads the properties
   * before it says so. The helper is started at boot; agents do not start
   * it by bus activation. */
  sg_gate1_proxy_new (system_bus,
                      G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START
                          | G_DBUS_PROXY_FLAGS_GET_INVALIDATED_PROPERTIES,
                      SG_BUS_NAME, SG_OBJECT_PATH, gate->cancellable, on_proxy_ready, gate);
  return gate;
}

void
sg_gate_free (SgGate *gate)
{
  if (gate == NULL)
    return;
  g_cancellable_cancel (gate->cancellable);
  g_clear_object (&gate->cancellable);
  if (gate->proxy != NULL)
    {
      g_signal_handlers_disconnect_by_data (gate->proxy, gate);
      g_clear_object (&gate->proxy);
    }
  g_clear_object (&gate->bus);
  g_clear_pointer (&gate->seats, g_variant_unref);
  g_free (gate->owner);
  g_free (gate);
}

gboolean
sg_gate_is_ready (const SgGate *gate)
{
  return gate->proxy != NULL;
}

gboolean
sg_gate_is_present (const SgGate *gate)
{
  return gate->owner != NULL;
}

guint
sg_gate_get_generation (const SgGate *gate)
{
  return gate->generation;
}

SgGateSeat
sg_gate_lookup_seat (const SgGate *gate, const char *seat, guint16 *first_port)
{
  if (gate->proxy == NULL || gate->owner == NULL)
    return SG_GATE_SEAT_UNKNOWN;
  return sg_gate_seats_lookup (sg_gate1_get_seats (gate->proxy), seat, first_port);
}

void
sg_gate_grant (SgGate *gate, GCancellable *cancellable, GAsyncReadyCallback callback,
               gpointer user_data)
{
  g_return_if_fail (gate->proxy != NULL);
  g_debug ("Asking the helper for a grant");
  sg_gate1_call_grant (gate->proxy, cancellable, callback, user_data);
}

gboolean
sg_gate_grant_finish (SgGate *gate, GAsyncResult *result, GError **error)
{
  return sg_gate1_call_grant_finish (gate->proxy, result, error);
}
