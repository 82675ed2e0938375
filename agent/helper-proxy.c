#include "helper-proxy.h"

#include "sg-dbus-property.h"
#include "sg-error.h"
#include "sg-names.h"
#include "sg-wire-signals.h"

/* What the agent follows of the helper, and no more: with hundreds of agents
 * on a machine, every signal an agent subscribes to wakes all of them. So
 * this is no GDBusProxy (one would match every signal of the object and
 * PropertiesChanged, which the helper emits for Grants on every grant
 * change): only the name's owner, one read of Seats per owner, and Revoked
 * for our own seat, filtered by the bus. */
struct _SgHelperProxy
{
  GDBusConnection *bus;
  guint32 uid;
  SgHelperProxyCallbacks callbacks;
  gpointer user_data;

  guint watch_id;
  char *bus_owner;    /* the name's owner as the watcher last said, or NULL */
  guint bus_serial;   /* bumped each time the watcher speaks: tags the Seats read */
  GCancellable *read; /* the Seats read for bus_owner, if one is on its way */

  /* What the agent is told: set together, once the owner's Seats is read
   * (or could not be). */
  gboolean ready;
  char *owner;
  guint generation;
  GVariant *seats; /* NULL: not known */

  char *seat;        /* whose revocations the agent wants; "" for none */
  guint revoked_sub; /* Revoked from revoked_owner about revoked_seat */
  char *revoked_owner;
  char *revoked_seat;
};

SgHelperSeat
sg_helper_proxy_seats_lookup (GVariant *seats, const char *seat, guint16 *first_port)
{
  GVariantIter iter;
  const char *name;
  GVariant *ports;

  if (seats == NULL || !g_variant_is_of_type (seats, G_VARIANT_TYPE ("a(saq)")))
    return SG_HELPER_SEAT_UNKNOWN;
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
        return SG_HELPER_SEAT_GATED;
    }
  return SG_HELPER_SEAT_NOT_GATED;
}

static void
on_revoked (GDBusConnection *bus, const char *sender, const char *path, const char *iface,
            const char *signal, GVariant *params, gpointer user_data)
{
  SgHelperProxy *proxy = user_data;
  const char *seat, *reason;
  guint32 uid;

  if (!sg_wire_revoked_parse (params, &seat, &uid, &reason))
    {
      g_warning ("Ignoring a Revoked signal of type %s from the helper, not (sus)",
                 g_variant_get_type_string (params));
      return;
    }
  /* The bus filters on the seat only: match rules cannot match a uint. */
  if (uid != proxy->uid)
    return;
  g_message ("The helper ended our grant on %s: %s", seat, reason);
  proxy->callbacks.revoked (proxy, seat, reason, proxy->user_data);
}

/* Follows Revoked from the current owner about the wanted seat alone. The
 * match names the owner's unique name, so that a new owner gets a rule of
 * its own and the bus never routes a signal of another connection to us. */
static void
proxy_follow_revoked (SgHelperProxy *proxy)
{
  const char *owner = proxy->bus_owner;
  const char *seat = proxy->seat != NULL && *proxy->seat != '\0' ? proxy->seat : NULL;

  if (g_strcmp0 (owner, proxy->revoked_owner) == 0 && g_strcmp0 (seat, proxy->revoked_seat) == 0)
    return;
  if (proxy->revoked_sub != 0)
    g_dbus_connection_signal_unsubscribe (proxy->bus, proxy->revoked_sub);
  proxy->revoked_sub = 0;
  g_free (proxy->revoked_owner);
  proxy->revoked_owner = g_strdup (owner);
  g_free (proxy->revoked_seat);
  proxy->revoked_seat = g_strdup (seat);
  /* Without an owner nothing can be revoked; without a seat there is no
   * grant to lose. */
  if (owner == NULL || seat == NULL)
    return;
  g_debug ("Following Revoked on %s from %s", seat, owner);
  proxy->revoked_sub = g_dbus_connection_signal_subscribe (
      proxy->bus, owner, SG_INTERFACE, "Revoked", SG_OBJECT_PATH, seat, G_DBUS_SIGNAL_FLAGS_NONE,
      on_revoked, proxy, NULL);
}

/* Tells the agent what the watcher and the read found: a new generation. */
static void
proxy_publish (SgHelperProxy *proxy, const char *owner, GVariant *seats)
{
  g_free (proxy->owner);
  proxy->owner = g_strdup (owner);
  g_clear_pointer (&proxy->seats, g_variant_unref);
  proxy->seats = seats != NULL ? g_variant_ref (seats) : NULL;
  proxy->ready = TRUE;
  proxy->generation++;
  proxy->callbacks.changed (proxy, proxy->user_data);
}

typedef struct
{
  SgHelperProxy *proxy;
  guint serial;
} SeatsRead;

static void
on_seats_read (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autofree SeatsRead *read = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) seats = sg_dbus_property_read_finish (result, &error);

  /* Cancelled: the proxy may be freed already. */
  if (seats == NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;

  SgHelperProxy *proxy = read->proxy;
  /* An answer about an owner that has gone since is dropped: the watcher's
   * later word is already being acted on. */
  if (read->serial != proxy->bus_serial)
    {
      g_debug ("Dropping the Seats of an earlier owner of the helper's name");
      return;
    }
  g_clear_object (&proxy->read);

  /* (The remote error's name stays in the message: the log is for an
   * administrator.) */
  if (seats == NULL)
    g_warning ("Could not read the seatgate helper's Seats from %s, so which seats it gates "
               "is not known: %s",
               proxy->bus_owner, error->message);
  g_message ("The seatgate helper is %s", proxy->bus_owner);
  proxy_publish (proxy, proxy->bus_owner, seats);
}

static void
proxy_cancel_read (SgHelperProxy *proxy)
{
  if (proxy->read == NULL)
    return;
  g_cancellable_cancel (proxy->read);
  g_clear_object (&proxy->read);
}

static void
on_name_appeared (GDBusConnection *bus, const char *name, const char *owner, gpointer user_data)
{
  SgHelperProxy *proxy = user_data;

  if (g_strcmp0 (owner, proxy->bus_owner) == 0)
    return;
  proxy->bus_serial++;
  proxy_cancel_read (proxy);
  /* The watcher says "vanished" before a new owner; should it not, the old
   * owner's grant is void all the same. */
  if (proxy->owner != NULL)
    proxy_publish (proxy, NULL, NULL);
  g_free (proxy->bus_owner);
  proxy->bus_owner = g_strdup (owner);
  /* Subscribed before the read: a grant can only be asked after it, so no
   * revocation of it can come before the rule is in place. */
  proxy_follow_revoked (proxy);

  /* The helper sets Seats once, from its config, before it takes its name,
   * and never changes it while it runs (sg_gate_service_new): one read
   * per owner is all there is to it, and no PropertiesChanged is followed.
   * The read goes to the unique name, so it cannot be answered by a later
   * owner. */
  g_debug ("Reading the seatgate helper's Seats from %s", owner);
  SeatsRead *read = g_new0 (SeatsRead, 1);
  read->proxy = proxy;
  read->serial = proxy->bus_serial;
  proxy->read = g_cancellable_new ();
  sg_dbus_property_read (proxy->bus, owner, SG_OBJECT_PATH, SG_INTERFACE, "Seats",
                         G_VARIANT_TYPE ("a(saq)"), -1, proxy->read, on_seats_read, read);
}

static void
on_name_vanished (GDBusConnection *bus, const char *name, gpointer user_data)
{
  SgHelperProxy *proxy = user_data;
  gboolean was_ready = proxy->ready;

  proxy->bus_serial++;
  proxy_cancel_read (proxy);
  g_clear_pointer (&proxy->bus_owner, g_free);
  proxy_follow_revoked (proxy);
  if (was_ready && proxy->owner == NULL)
    return;
  if (proxy->owner != NULL)
    g_message ("The seatgate helper left the bus");
  else
    g_message ("The seatgate helper is not on the system bus");
  proxy_publish (proxy, NULL, NULL);
}

SgHelperProxy *
sg_helper_proxy_new (GDBusConnection *system_bus, guint32 uid,
                     const SgHelperProxyCallbacks *callbacks, gpointer user_data)
{
  SgHelperProxy *proxy = g_new0 (SgHelperProxy, 1);

  /* Registers the error domain, so refusals arrive as SG_ERROR. */
  (void) SG_ERROR;
  proxy->bus = g_object_ref (system_bus);
  proxy->uid = uid;
  proxy->callbacks = *callbacks;
  proxy->user_data = user_data;
  proxy->seat = g_strdup ("");
  /* The helper is started at boot; agents do not start it by bus
   * activation (no AUTO_START flag). */
  proxy->watch_id
      = g_bus_watch_name_on_connection (system_bus, SG_BUS_NAME, G_BUS_NAME_WATCHER_FLAGS_NONE,
                                        on_name_appeared, on_name_vanished, proxy, NULL);
  return proxy;
}

void
sg_helper_proxy_free (SgHelperProxy *proxy)
{
  if (proxy == NULL)
    return;
  g_bus_unwatch_name (proxy->watch_id);
  proxy_cancel_read (proxy);
  if (proxy->revoked_sub != 0)
    g_dbus_connection_signal_unsubscribe (proxy->bus, proxy->revoked_sub);
  g_clear_object (&proxy->bus);
  g_clear_pointer (&proxy->seats, g_variant_unref);
  g_free (proxy->bus_owner);
  g_free (proxy->owner);
  g_free (proxy->seat);
  g_free (proxy->revoked_owner);
  g_free (proxy->revoked_seat);
  g_free (proxy);
}

void
sg_helper_proxy_follow_revocations (SgHelperProxy *proxy, const char *seat)
{
  if (seat == NULL)
    seat = "";
  if (g_str_equal (seat, proxy->seat))
    return;
  g_free (proxy->seat);
  proxy->seat = g_strdup (seat);
  proxy_follow_revoked (proxy);
}

gboolean
sg_helper_proxy_is_ready (const SgHelperProxy *proxy)
{
  return proxy->ready;
}

gboolean
sg_helper_proxy_is_present (const SgHelperProxy *proxy)
{
  return proxy->owner != NULL;
}

guint
sg_helper_proxy_get_generation (const SgHelperProxy *proxy)
{
  return proxy->generation;
}

SgHelperSeat
sg_helper_proxy_lookup_seat (const SgHelperProxy *proxy, const char *seat, guint16 *first_port)
{
  if (proxy->owner == NULL)
    return SG_HELPER_SEAT_UNKNOWN;
  return sg_helper_proxy_seats_lookup (proxy->seats, seat, first_port);
}

void
sg_helper_proxy_grant (SgHelperProxy *proxy, GCancellable *cancellable,
                       GAsyncReadyCallback callback, gpointer user_data)
{
  g_debug ("Asking the helper for a grant");
  /* To the owner whose Seats we read: a grant asked of it is void with a
   * later owner anyway. Without one, the bus answers that no one owns the
   * name, which the caller reports like any refusal. */
  g_dbus_connection_call (proxy->bus, proxy->owner != NULL ? proxy->owner : SG_BUS_NAME,
                          SG_OBJECT_PATH, SG_INTERFACE, "Grant", NULL, G_VARIANT_TYPE_UNIT,
                          G_DBUS_CALL_FLAGS_NO_AUTO_START, -1, cancellable, callback, user_data);
}

gboolean
sg_helper_proxy_grant_finish (SgHelperProxy *proxy, GAsyncResult *result, GError **error)
{
  g_autoptr (GVariant) reply = g_dbus_connection_call_finish (proxy->bus, result, error);

  return reply != NULL;
}

void
sg_helper_proxy_open_console (SgHelperProxy *proxy, GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer user_data)
{
  g_debug ("Asking the helper how to reach the VM console");
  /* To the owner that granted, as Grant (): a later owner holds no grant
   * of ours and would refuse anyway. */
  g_dbus_connection_call (proxy->bus, proxy->owner != NULL ? proxy->owner : SG_BUS_NAME,
                          SG_OBJECT_PATH, SG_INTERFACE, "OpenConsole", NULL,
                          G_VARIANT_TYPE ("(a{sv})"), G_DBUS_CALL_FLAGS_NO_AUTO_START, -1,
                          cancellable, callback, user_data);
}

SgConsole *
sg_helper_proxy_open_console_finish (SgHelperProxy *proxy, GAsyncResult *result, GError **error)
{
  g_autoptr (GVariant) reply = g_dbus_connection_call_finish (proxy->bus, result, error);
  g_autoptr (GVariant) console = NULL;

  if (reply == NULL)
    return NULL;
  g_variant_get (reply, "(@a{sv})", &console);
  return sg_console_from_variant (console, error);
}

static void
on_release_reply (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply
      = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);

  /* A helper that revoked the grant first says we hold none: the same end. */
  if (reply == NULL && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    g_debug ("Release (): %s", error->message);
}

void
sg_helper_proxy_release (SgHelperProxy *proxy)
{
  /* Without an owner there is no grant to give up. */
  if (proxy->owner == NULL)
    return;
  g_debug ("Giving the grant up");
  g_dbus_connection_call (proxy->bus, proxy->owner, SG_OBJECT_PATH, SG_INTERFACE, "Release", NULL,
                          G_VARIANT_TYPE_UNIT, G_DBUS_CALL_FLAGS_NO_AUTO_START, -1, NULL,
                          on_release_reply, NULL);
}
