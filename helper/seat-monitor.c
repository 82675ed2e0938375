#include "seat-monitor.h"

#include "sg-dbus-property.h"
#include "sg-error.h"
#include "sg-logind-uid.h"
#include "sg-logind.h"

#define LOGIND_NAME SG_LOGIND_NAME
#define LOGIND_PATH SG_LOGIND_PATH
#define LOGIND_MANAGER SG_LOGIND_MANAGER
#define LOGIND_SEAT SG_LOGIND_SEAT
#define LOGIND_SESSION SG_LOGIND_SESSION
#define CALL_TIMEOUT_MS 10000

typedef struct
{
  char *name;
  char *path;   /* logind's object for the seat, NULL until known */
  char *active; /* active session id, "" for none, NULL when unknown */
  char *active_path;
  gboolean reading;    /* a read of ActiveSession is on its way */
  gboolean read_again; /* asked for again meanwhile: read once more after it */
} SeatState;

struct _SgSeatMonitor
{
  GDBusConnection *bus;
  SgSeatMonitorEvents events;
  gpointer user_data;
  GPtrArray *seats; /* SeatState* */
  guint watch_id;
  guint subscriptions[4];
  char *owner;      /* logind's unique name, NULL while it is not on the bus:
                       signals are taken from it alone */
  guint pending;    /* seat reads under way */
  guint generation; /* bumped when logind goes: late replies are dropped */
  GCancellable *cancellable;
  /* session object path -> uid, for sessions that were a seat's active one:
   * a session's user never changes, so one answer from logind holds for the
   * session's life. Only a hint for choosing which seats to read. */
  GHashTable *session_uids;
};

typedef struct
{
  SgSeatMonitor *monitor;
  SeatState *seat;
  guint generation;
} SeatRead;

static void
seat_state_free (SeatState *seat)
{
  g_free (seat->name);
  g_free (seat->path);
  g_free (seat->active);
  g_free (seat->active_path);
  g_free (seat);
}

static gboolean
is_active_somewhere (SgSeatMonitor *monitor, const char *session_path)
{
  for (guint i = 0; i < monitor->seats->len; i++)
    {
      SeatState *seat = g_ptr_array_index (monitor->seats, i);
      if (g_strcmp0 (seat->active_path, session_path) == 0)
        return TRUE;
    }
  return FALSE;
}

/* Kept only for sessions active on a seat when the answer came, so the table
 * stays as small as the sessions that ever held a seat and still exist. */
static void
remember_session_uid (SgSeatMonitor *monitor, const char *session_path, guint32 uid)
{
  if (is_active_somewhere (monitor, session_path))
    g_hash_table_insert (monitor->session_uids, g_strdup (session_path), GUINT_TO_POINTER (uid));
}

typedef struct
{
  SgSeatMonitor *monitor;
  guint generation;
} UidRead;

static void
session_uid_read (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autofree UidRead *read = data;
  g_autoptr (GError) error = NULL;
  const char *session_path;
  guint32 uid;
  gboolean known = sg_logind_uid_read_finish (result, &session_path, &uid, &error);

  if (!known && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (read->generation != read->monitor->generation)
    return;
  if (!known)
    /* Harmless: Grant() then reads the seat's session itself. */
    g_debug ("Could not read the user of %s: %s", session_path, error->message);
  else
    remember_session_uid (read->monitor, session_path, uid);
}

/* Learns the user of a seat's new active session ahead of any Grant(): a
 * caller's uid then tells which seats are worth reading for it. */
static void
read_session_uid (SgSeatMonitor *monitor, const char *session_path)
{
  /* logind names no session as ("", "/"). */
  if (session_path == NULL || g_str_equal (session_path, "/")
      || g_hash_table_contains (monitor->session_uids, session_path))
    return;
  UidRead *read = g_new0 (UidRead, 1);
  read->monitor = monitor;
  read->generation = monitor->generation;
  sg_logind_uid_read (monitor->bus, LOGIND_NAME, session_path, CALL_TIMEOUT_MS,
                      monitor->cancellable, session_uid_read, read);
}

static void
seat_set_active (SeatState *seat, const char *id, const char *path)
{
  g_free (seat->active);
  g_free (seat->active_path);
  seat->active = g_strdup (id);
  seat->active_path = g_strdup (path);
}

static SeatState *
find_seat_by_path (SgSeatMonitor *monitor, const char *path)
{
  for (guint i = 0; i < monitor->seats->len; i++)
    {
      SeatState *seat = g_ptr_array_index (monitor->seats, i);
      if (seat->path != NULL && g_str_equal (seat->path, path))
        return seat;
    }
  return NULL;
}

static void
read_done (SgSeatMonitor *monitor)
{
  g_assert (monitor->pending > 0);
  if (--monitor->pending == 0 && monitor->events.ready != NULL)
    monitor->events.ready (monitor->user_data);
}

static void read_active_session (SgSeatMonitor *monitor, SeatState *seat);

static void
active_session_read (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autofree SeatRead *read = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) active = sg_dbus_property_read_finish (result, &error);
  if (active == NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  SgSeatMonitor *monitor = read->monitor;
  if (read->generation != monitor->generation)
    return;

  read->seat->reading = FALSE;
  if (active == NULL)
    {
      /* Unknown means nobody may be granted there. */
      g_warning ("Could not read the active session of %s from logind: %s", read->seat->name,
                 error->message);
      seat_set_active (read->seat, "", NULL);
    }
  else
    {
      const char *id, *path;
      g_variant_get (active, "(&s&o)", &id, &path);
      seat_set_active (read->seat, id, path);
      read_session_uid (monitor, path);
    }
  g_debug ("%s: active session '%s'", read->seat->name, read->seat->active);
  if (read->seat->read_again)
    {
      read->seat->read_again = FALSE;
      read_active_session (monitor, read->seat);
      return;
    }
  read_done (monitor);
}

static void
read_active_session (SgSeatMonitor *monitor, SeatState *seat)
{
  SeatRead *read = g_new0 (SeatRead, 1);

  read->monitor = monitor;
  read->seat = seat;
  read->generation = monitor->generation;
  seat->reading = TRUE;
  sg_dbus_property_read (monitor->bus, LOGIND_NAME, seat->path, LOGIND_SEAT, "ActiveSession",
                         G_VARIANT_TYPE ("(so)"), CALL_TIMEOUT_MS, monitor->cancellable,
                         active_session_read, read);
}

/* One read of a seat's ActiveSession at a time, and one more after the last
 * ask: on a flapping seat the reads must not pile up until the bus refuses
 * them (LimitsExceeded), which would leave the seat's owner unknown. */
static void
reread_active_session (SgSeatMonitor *monitor, SeatState *seat)
{
  if (seat->reading)
    {
      seat->read_again = TRUE;
      return;
    }
  monitor->pending++;
  read_active_session (monitor, seat);
}

static void
seat_path_read (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autofree SeatRead *read = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply
      = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);
  if (reply == NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  SgSeatMonitor *monitor = read->monitor;
  if (read->generation != monitor->generation)
    return;

  if (reply == NULL)
    {
      /* A seat that does not exist (yet) has no active session; SessionNew
       * makes us look again. */
      g_debug ("logind does not know %s: %s", read->seat->name, error->message);
      seat_set_active (read->seat, "", NULL);
      read_done (monitor);
      return;
    }
  g_free (read->seat->path);
  g_variant_get (reply, "(o)", &read->seat->path);
  read_active_session (monitor, read->seat);
}

static void
read_seat (SgSeatMonitor *monitor, SeatState *seat)
{
  SeatRead *read = g_new0 (SeatRead, 1);

  read->monitor = monitor;
  read->seat = seat;
  read->generation = monitor->generation;
  monitor->pending++;
  g_dbus_connection_call (monitor->bus, LOGIND_NAME, LOGIND_PATH, LOGIND_MANAGER, "GetSeat",
                          g_variant_new ("(s)", seat->name), G_VARIANT_TYPE ("(o)"),
                          G_DBUS_CALL_FLAGS_NO_AUTO_START, CALL_TIMEOUT_MS, monitor->cancellable,
                          seat_path_read, read);
}

static void
on_seat_properties_changed (GDBusConnection *bus, const char *sender, const char *path,
                            const char *iface, const char *signal, GVariant *params, gpointer data)
{
  SgSeatMonitor *monitor = data;
  SeatState *seat = find_seat_by_path (monitor, path);
  g_autoptr (GVariant) changed = NULL;
  g_autofree const char **invalidated = NULL;
  const char *id, *session_path;

  if (seat == NULL || !sg_dbus_properties_changed_parse (params, NULL, &changed, &invalidated))
    return;
  if (g_variant_lookup (changed, "ActiveSession", "(&s&o)", &id, &session_path))
    {
      seat_set_active (seat, id, session_path);
      monitor->events.active_session_changed (seat->name, id, monitor->user_data);
      /* After the revoke the change may bring. */
      read_session_uid (monitor, session_path);
    }
  else if (g_strv_contains (invalidated, "ActiveSession"))
    {
      /* logind did not say who: unknown until read again, and nobody keeps a
       * grant meanwhile. */
      seat_set_active (seat, NULL, NULL);
      monitor->events.active_session_changed (seat->name, NULL, monitor->user_data);
      reread_active_session (monitor, seat);
    }
}

static void
on_session_properties_changed (GDBusConnection *bus, const char *sender, const char *path,
                               const char *iface, const char *signal, GVariant *params,
                               gpointer data)
{
  SgSeatMonitor *monitor = data;
  g_autoptr (GVariant) changed = NULL;
  g_autofree const char **invalidated = NULL;
  gboolean active = TRUE;

  if (!sg_dbus_properties_changed_parse (params, NULL, &changed, &invalidated))
    return;
  if (!(g_variant_lookup (changed, "Active", "b", &active)
            ? !active
            : g_strv_contains (invalidated, "Active")))
    return;

  /* logind says Active=false before it names the seat's next session (and
   * holds that back until the session has started): the seat's owner is
   * unknown from now until it does, so no grant can be committed meanwhile. */
  for (guint i = 0; i < monitor->seats->len; i++)
    {
      SeatState *seat = g_ptr_array_index (monitor->seats, i);
      if (seat->active_path != NULL && g_str_equal (seat->active_path, path))
        {
          seat_set_active (seat, NULL, NULL);
          monitor->events.active_session_changed (seat->name, NULL, monitor->user_data);
          reread_active_session (monitor, seat);
        }
    }
  monitor->events.session_deactivated (path, monitor->user_data);
}

static void
on_session_removed (GDBusConnection *bus, const char *sender, const char *path, const char *iface,
                    const char *signal, GVariant *params, gpointer data)
{
  SgSeatMonitor *monitor = data;
  const char *session_path;

  if (!g_variant_is_of_type (params, G_VARIANT_TYPE ("(so)")))
    return;
  g_variant_get (params, "(&s&o)", NULL, &session_path);
  g_hash_table_remove (monitor->session_uids, session_path);
  monitor->events.session_removed (session_path, monitor->user_data);
}

static void
on_session_new (GDBusConnection *bus, const char *sender, const char *path, const char *iface,
                const char *signal, GVariant *params, gpointer data)
{
  SgSeatMonitor *monitor = data;

  /* A seat logind did not know at start may exist now. */
  for (guint i = 0; i < monitor->seats->len; i++)
    {
      SeatState *seat = g_ptr_array_index (monitor->seats, i);
      if (monitor->owner != NULL && seat->path == NULL)
        read_seat (monitor, seat);
    }
}

static void
unsubscribe (SgSeatMonitor *monitor)
{
  for (guint i = 0; i < G_N_ELEMENTS (monitor->subscriptions); i++)
    sg_logind_unsubscribe (monitor->bus, &monitor->subscriptions[i]);
}

static void
on_logind_appeared (GDBusConnection *bus, const char *name, const char *owner, gpointer data)
{
  SgSeatMonitor *monitor = data;

  g_message ("logind is on the bus (%s); reading the seats", owner);
  g_free (monitor->owner);
  monitor->owner = g_strdup (owner);
  /* Subscribed before anything is read, so that no change falls between. */
  unsubscribe (monitor);
  monitor->subscriptions[0]
      = sg_logind_subscribe (bus, owner, "org.freedesktop.DBus.Properties", "PropertiesChanged",
                             NULL, LOGIND_SEAT, on_seat_properties_changed, monitor);
  monitor->subscriptions[1]
      = sg_logind_subscribe (bus, owner, "org.freedesktop.DBus.Properties", "PropertiesChanged",
                             NULL, LOGIND_SESSION, on_session_properties_changed, monitor);
  monitor->subscriptions[2] = sg_logind_subscribe (bus, owner, LOGIND_MANAGER, "SessionRemoved",
                                                   LOGIND_PATH, NULL, on_session_removed, monitor);
  monitor->subscriptions[3] = sg_logind_subscribe (bus, owner, LOGIND_MANAGER, "SessionNew",
                                                   LOGIND_PATH, NULL, on_session_new, monitor);
  for (guint i = 0; i < monitor->seats->len; i++)
    read_seat (monitor, g_ptr_array_index (monitor->seats, i));
}

static void
on_logind_vanished (GDBusConnection *bus, const char *name, gpointer data)
{
  SgSeatMonitor *monitor = data;
  gboolean was_present = monitor->owner != NULL;

  g_clear_pointer (&monitor->owner, g_free);
  unsubscribe (monitor);
  monitor->generation++;
  monitor->pending = 0;
  g_hash_table_remove_all (monitor->session_uids);
  for (guint i = 0; i < monitor->seats->len; i++)
    {
      SeatState *seat = g_ptr_array_index (monitor->seats, i);
      g_clear_pointer (&seat->path, g_free);
      seat_set_active (seat, NULL, NULL);
      seat->reading = seat->read_again = FALSE;
    }
  if (was_present)
    g_warning ("logind left the bus: every grant ends until it is back");
  monitor->events.logind_vanished (monitor->user_data);
  /* Nothing to wait for: readiness means "the state is known", and the
   * state is known to be "nobody". */
  if (!was_present && monitor->events.ready != NULL)
    monitor->events.ready (monitor->user_data);
}

SgSeatMonitor *
sg_seat_monitor_new (GDBusConnection *bus, const SgConfig *config,
                     const SgSeatMonitorEvents *events, gpointer user_data)
{
  SgSeatMonitor *monitor = g_new0 (SgSeatMonitor, 1);

  monitor->bus = g_object_ref (bus);
  monitor->events = *events;
  monitor->user_data = user_data;
  monitor->cancellable = g_cancellable_new ();
  monitor->seats = g_ptr_array_new_with_free_func ((GDestroyNotify) seat_state_free);
  monitor->session_uids = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (guint i = 0; i < config->seats->len; i++)
    {
      const SgSeatConfig *seat_config = g_ptr_array_index (config->seats, i);
      SeatState *seat = g_new0 (SeatState, 1);
      seat->name = g_strdup (seat_config->name);
      g_ptr_array_add (monitor->seats, seat);
    }

  monitor->watch_id
      = g_bus_watch_name_on_connection (bus, LOGIND_NAME, G_BUS_NAME_WATCHER_FLAGS_NONE,
                                        on_logind_appeared, on_logind_vanished, monitor, NULL);
  return monitor;
}

static SeatState *
find_seat (SgSeatMonitor *monitor, const char *name)
{
  for (guint i = 0; i < monitor->seats->len; i++)
    {
      SeatState *seat = g_ptr_array_index (monitor->seats, i);
      if (g_str_equal (seat->name, name))
        return seat;
    }
  return NULL;
}

gboolean
sg_seat_monitor_is_present (SgSeatMonitor *monitor)
{
  return monitor->owner != NULL;
}

const char *
sg_seat_monitor_get_active_session (SgSeatMonitor *monitor, const char *seat_name)
{
  SeatState *seat = find_seat (monitor, seat_name);
  return seat != NULL && monitor->owner != NULL ? seat->active : NULL;
}

const char *
sg_seat_monitor_get_active_session_path (SgSeatMonitor *monitor, const char *seat_name)
{
  SeatState *seat = find_seat (monitor, seat_name);
  return seat != NULL && monitor->owner != NULL ? seat->active_path : NULL;
}

gboolean
sg_seat_monitor_lookup_session_uid (SgSeatMonitor *monitor, const char *session_path, guint32 *uid)
{
  gpointer value;

  if (!g_hash_table_lookup_extended (monitor->session_uids, session_path, NULL, &value))
    return FALSE;
  *uid = GPOINTER_TO_UINT (value);
  return TRUE;
}

typedef struct
{
  SgSeatMonitor *monitor;
  char *session_path;
} InfoRead;

static void
info_read_free (InfoRead *read)
{
  g_free (read->session_path);
  g_free (read);
}

static void
session_info_read (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (GTask) task = data;
  InfoRead *read = g_task_get_task_data (task);
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply
      = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);
  g_autoptr (GVariant) props = NULL;

  if (reply == NULL)
    {
      g_task_return_new_error (task, SG_ERROR, SG_ERROR_FAILED,
                               "could not read the session from logind: %s", error->message);
      return;
    }
  props = g_variant_get_child_value (reply, 0);
  SgLogindSession *info = sg_logind_session_from_props (read->session_path, props, &error);
  if (info == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  /* Not cancelled: the monitor is still there. */
  remember_session_uid (read->monitor, info->object_path, info->uid);
  g_task_return_pointer (task, info, (GDestroyNotify) sg_logind_session_free);
}

void
sg_seat_monitor_get_session_info (SgSeatMonitor *monitor, const char *session_path,
                                  GCancellable *cancellable, GAsyncReadyCallback callback,
                                  gpointer user_data)
{
  GTask *task = g_task_new (NULL, cancellable, callback, user_data);
  InfoRead *read = g_new0 (InfoRead, 1);

  read->monitor = monitor;
  read->session_path = g_strdup (session_path);
  g_task_set_task_data (task, read, (GDestroyNotify) info_read_free);
  g_dbus_connection_call (
      monitor->bus, LOGIND_NAME, session_path, "org.freedesktop.DBus.Properties", "GetAll",
      g_variant_new ("(s)", LOGIND_SESSION), G_VARIANT_TYPE ("(a{sv})"),
      G_DBUS_CALL_FLAGS_NO_AUTO_START, CALL_TIMEOUT_MS, cancellable, session_info_read, task);
}

SgLogindSession *
sg_seat_monitor_get_session_info_finish (SgSeatMonitor *monitor, GAsyncResult *result,
                                         GError **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

void
sg_seat_monitor_free (SgSeatMonitor *monitor)
{
  if (monitor == NULL)
    return;
  g_cancellable_cancel (monitor->cancellable);
  g_clear_object (&monitor->cancellable);
  unsubscribe (monitor);
  if (monitor->watch_id != 0)
    g_bus_unwatch_name (monitor->watch_id);
  g_ptr_array_unref (monitor->seats);
  g_hash_table_unref (monitor->session_uids);
  g_object_unref (monitor->bus);
  g_free (monitor->owner);
  g_free (monitor);
}
