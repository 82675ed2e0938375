#include "session.h"

#include <string.h>
#include <unistd.h>

#include "sg-logind.h"

#define LOGIN1_NAME "org.freedesktop.login1"
#define LOGIN1_PATH "/org/freedesktop/login1"
#define LOGIN1_MANAGER LOGIN1_NAME ".Manager"
#define LOGIN1_SESSION LOGIN1_NAME ".Session"
#define LOGIN1_NO_SUCH_SESSION LOGIN1_NAME ".NoSuchSession"

struct _SgSession
{
  GDBusConnection *bus;
  guint32 uid;
  SgSessionChangedFunc changed;
  gpointer user_data;

  GCancellable *cancellable; /* the calls for the current logind owner */
  guint watch_id;
  guint removed_sub;
  guint props_sub;
  gboolean had_session; /* a session was found once: losing it means it ended */
  gboolean reading;      /* a GetAll is on its way */
  gboolean read_again;   /* the session changed meanwhile: its answer may be stale */

  SgSessionState state;
  char *path;
  char *id;
  guint32 session_uid;
  char *seat;
  gboolean remote;
  char *klass;
  gboolean active;
  char *lstate; /* logind's State: online, active, closing */
  char *why_not;
};

static void session_refresh (SgSession *session);

char *
sg_session_judge (const char *id, guint32 session_uid, guint32 our_uid, const char *seat,
                  gboolean remote, const char *klass, gboolean active)
{
  if (session_uid != our_uid)
    return g_strdup_printf ("session %s belongs to uid %u, not to uid %u", id, session_uid,
                            our_uid);
  /* The helper's own rule; the state is left out here because it changes
   * without a signal, and the helper checks it when asked. */
  return sg_logind_session_flaw (seat, NULL, remote, klass, active, NULL);
}

static void
session_set_state (SgSession *session, SgSessionState state, const char *why_not)
{
  if (session->state == SG_SESSION_ENDED)
    return;
  session->state = state;
  g_free (session->why_not);
  session->why_not = g_strdup (why_not);
  if (state == SG_SESSION_ENDED)
    {
      g_message ("Session %s ended", session->id ? session->id : "?");
      g_cancellable_cancel (session->cancellable);
    }
  session->changed (session, session->user_data);
}

static void
session_judge (SgSession *session)
{
  /* A closing session has been logged out of; logind only keeps it while
   * processes (such as this one) linger in it. */
  if (g_strcmp0 (session->lstate, "closing") == 0)
    {
      session_set_state (session, SG_SESSION_ENDED, "session closing");
      return;
    }
  g_autofree char *why
      = sg_session_judge (session->id, session->session_uid, session->uid, session->seat,
                          session->remote, session->klass, session->active);
  g_debug ("Session %s: seat '%s' remote %d class %s active %d state %s: %s", session->id,
           session->seat, session->remote, session->klass, session->active, session->lstate,
           why ? why : "may hold the port");
  session_set_state (session, SG_SESSION_KNOWN, why);
}

static void
replace_string (char **field, GVariant *value)
{
  g_free (*field);
  *field = g_variant_dup_string (value, NULL);
}

/* Applies what logind said, from GetAll or PropertiesChanged. */
static void
session_apply (SgSession *session, GVariant *dict)
{
  GVariantIter iter;
  const char *key;
  GVariant *value;

  g_variant_iter_init (&iter, dict);
  while (g_variant_iter_next (&iter, "{&sv}", &key, &value))
    {
      if (g_str_equal (key, "Id") && g_variant_is_of_type (value, G_VARIANT_TYPE_STRING))
        replace_string (&session->id, value);
      else if (g_str_equal (key, "User") && g_variant_is_of_type (value, G_VARIANT_TYPE ("(uo)")))
        g_variant_get (value, "(u&o)", &session->session_uid, NULL);
      else if (g_str_equal (key, "Seat") && g_variant_is_of_type (value, G_VARIANT_TYPE ("(so)")))
        {
          g_free (session->seat);
          g_variant_get (value, "(s&o)", &session->seat, NULL);
        }
      else if (g_str_equal (key, "Remote") && g_variant_is_of_type (value, G_VARIANT_TYPE_BOOLEAN))
        session->remote = g_variant_get_boolean (value);
      else if (g_str_equal (key, "Class") && g_variant_is_of_type (value, G_VARIANT_TYPE_STRING))
        replace_string (&session->klass, value);
      else if (g_str_equal (key, "Active") && g_variant_is_of_type (value, G_VARIANT_TYPE_BOOLEAN))
        session->active = g_variant_get_boolean (value);
      else if (g_str_equal (key, "State") && g_variant_is_of_type (value, G_VARIANT_TYPE_STRING))
        replace_string (&session->lstate, value);
      g_variant_unref (value);
    }
}

static void
on_get_all (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply
      = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);
  if (reply == NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;

  SgSession *session = user_data;
  session->reading = FALSE;
  if (session->read_again)
    {
      session->read_again = FALSE;
      session_refresh (session);
      return;
    }
  if (reply == NULL)
    {
      g_autofree char *remote = g_dbus_error_get_remote_error (error);
      /* logind answers for a removed session's object with UnknownObject. */
      if (g_strcmp0 (remote, "org.freedesktop.DBus.Error.UnknownObject") == 0
          || g_strcmp0 (remote, "org.freedesktop.DBus.Error.UnknownMethod") == 0
          || g_strcmp0 (remote, LOGIN1_NO_SUCH_SESSION) == 0)
        {
          session_set_state (session, SG_SESSION_ENDED, "session gone");
          return;
        }
      g_warning ("Could not read session %s from logind: %s", session->id, error->message);
      session_set_state (session, SG_SESSION_UNKNOWN, "the login manager does not answer");
      return;
    }

  g_autoptr (GVariant) dict = g_variant_get_child_value (reply, 0);
  session_apply (session, dict);
  session_judge (session);
}

/* One read at a time, and one more after the last change: a burst of
 * PropertiesChanged (a flapping seat) must not pile up reads until the bus
 * refuses them (LimitsExceeded) and the session looks unreadable. */
static void
session_refresh (SgSession *session)
{
  if (session->reading)
    {
      session->read_again = TRUE;
      return;
    }
  session->reading = TRUE;
  g_dbus_connection_call (
      session->bus, LOGIN1_NAME, session->path, "org.freedesktop.DBus.Properties", "GetAll",
      g_variant_new ("(s)", LOGIN1_SESSION), G_VARIANT_TYPE ("(a{sv})"),
      G_DBUS_CALL_FLAGS_NO_AUTO_START, -1, session->cancellable, on_get_all, session);
}

static void
on_properties_changed (GDBusConnection *bus, const char *sender, const char *path,
                       const char *iface, const char *signal, GVariant *params, gpointer user_data)
{
  SgSession *session = user_data;
  const char *changed_iface;
  g_autoptr (GVariant) changed = NULL;

  if (!g_variant_is_of_type (params, G_VARIANT_TYPE ("(sa{sv}as)"))
      || session->state == SG_SESSION_ENDED)
    return;
  g_variant_get (params, "(&s@a{sv}@as)", &changed_iface, &changed, NULL);
  if (!g_str_equal (changed_iface, LOGIN1_SESSION))
    return;

  /* Use what the signal carries at once, then read everything again: State
   * changes without a signal, and a closing session shows up only there. */
  session_apply (session, changed);
  if (session->state == SG_SESSION_KNOWN)
    session_judge (session);
  session_refresh (session);
}

static void
on_session_removed (GDBusConnection *bus, const char *sender, const char *path, const char *iface,
                    const char *signal, GVariant *params, gpointer user_data)
{
  SgSession *session = user_data;
  const char *id, *object;

  if (!g_variant_is_of_type (params, G_VARIANT_TYPE ("(so)")))
    return;
  g_variant_get (params, "(&s&o)", &id, &object);
  if (session->path != NULL && g_str_equal (object, session->path))
    session_set_state (session, SG_SESSION_ENDED, "session removed");
}

static void
session_follow (SgSession *session, const char *path)
{
  if (g_strcmp0 (session->path, path) != 0)
    {
      if (session->props_sub != 0)
        g_dbus_connection_signal_unsubscribe (session->bus, session->props_sub);
      g_free (session->path);
      session->path = g_strdup (path);
      /* Subscribed before reading, so that no change falls between. */
      session->props_sub = g_dbus_connection_signal_subscribe (
          session->bus, LOGIN1_NAME, "org.freedesktop.DBus.Properties", "PropertiesChanged",
          session->path, LOGIN1_SESSION, G_DBUS_SIGNAL_FLAGS_NONE, on_properties_changed, session,
          NULL);
    }
  session->had_session = TRUE;
  session_refresh (session);
}

static void
on_get_session (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply
      = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);
  if (reply == NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;

  SgSession *session = user_data;
  if (reply == NULL)
    {
      g_autofree char *remote = g_dbus_error_get_remote_error (error);
      g_dbus_error_strip_remote_error (error);
      if (session->had_session && g_strcmp0 (remote, LOGIN1_NO_SUCH_SESSION) == 0)
        {
          session_set_state (session, SG_SESSION_ENDED, "session gone");
          return;
        }
      g_warning ("Could not find this process's login session: %s", error->message);
      session_set_state (session, SG_SESSION_UNKNOWN, "not in a login session");
      return;
    }

  const char *path;
  g_variant_get (reply, "(&o)", &path);
  g_debug ("Following session object %s", path);
  session_follow (session, path);
}

static void
session_resolve (SgSession *session)
{
  const char *id = session->id ? session->id : g_getenv ("XDG_SESSION_ID");

  session->state = SG_SESSION_RESOLVING;
  if (id != NULL && *id != '\0')
    {
      if (session->id == NULL)
        session->id = g_strdup (id);
      g_dbus_connection_call (session->bus, LOGIN1_NAME, LOGIN1_PATH, LOGIN1_MANAGER, "GetSession",
                              g_variant_new ("(s)", id), G_VARIANT_TYPE ("(o)"),
                              G_DBUS_CALL_FLAGS_NO_AUTO_START, -1, session->cancellable,
                              on_get_session, session);
    }
  else
    {
      g_dbus_connection_call (session->bus, LOGIN1_NAME, LOGIN1_PATH, LOGIN1_MANAGER,
                              "GetSessionByPID", g_variant_new ("(u)", (guint32)getpid ()),
                              G_VARIANT_TYPE ("(o)"), G_DBUS_CALL_FLAGS_NO_AUTO_START, -1,
                              session->cancellable, on_get_session, session);
    }
}

static void
on_logind_appeared (GDBusConnection *bus, const char *name, const char *owner, gpointer user_data)
{
  SgSession *session = user_data;

  if (session->state == SG_SESSION_ENDED)
    return;
  g_debug ("logind is %s", owner);
  g_cancellable_cancel (session->cancellable);
  g_object_unref (session->cancellable);
  session->cancellable = g_cancellable_new ();
  session->reading = session->read_again = FALSE;
  /* Asked again after a logind restart too: the session may be gone. */
  session_resolve (session);
}

static void
on_logind_vanished (GDBusConnection *bus, const char *name, gpointer user_data)
{
  SgSession *session = user_data;

  if (session->state == SG_SESSION_ENDED)
    return;
  g_cancellable_cancel (session->cancellable);
  session->reading = session->read_again = FALSE;
  g_message ("logind is not on the system bus");
  session_set_state (session, SG_SESSION_UNKNOWN, "the login manager (logind) is not running");
}

SgSession *
sg_session_new (GDBusConnection *system_bus, guint32 uid, SgSessionChangedFunc changed,
                gpointer user_data)
{
  SgSession *session = g_new0 (SgSession, 1);

  session->bus = g_object_ref (system_bus);
  session->uid = uid;
  session->changed = changed;
  session->user_data = user_data;
  session->cancellable = g_cancellable_new ();
  session->state = SG_SESSION_RESOLVING;
  session->seat = g_strdup ("");
  session->removed_sub = g_dbus_connection_signal_subscribe (
      system_bus, LOGIN1_NAME, LOGIN1_MANAGER, "SessionRemoved", LOGIN1_PATH, NULL,
      G_DBUS_SIGNAL_FLAGS_NONE, on_session_removed, session, NULL);
  session->watch_id
      = g_bus_watch_name_on_connection (system_bus, LOGIN1_NAME, G_BUS_NAME_WATCHER_FLAGS_NONE,
                                        on_logind_appeared, on_logind_vanished, session, NULL);
  return session;
}

void
sg_session_free (SgSession *session)
{
  if (session == NULL)
    return;
  g_cancellable_cancel (session->cancellable);
  g_bus_unwatch_name (session->watch_id);
  g_dbus_connection_signal_unsubscribe (session->bus, session->removed_sub);
  if (session->props_sub != 0)
    g_dbus_connection_signal_unsubscribe (session->bus, session->props_sub);
  g_object_unref (session->cancellable);
  g_object_unref (session->bus);
  g_free (session->path);
  g_free (session->id);
  g_free (session->seat);
  g_free (session->klass);
  g_free (session->lstate);
  g_free (session->why_not);
  g_free (session);
}

SgSessionState
sg_session_get_state (const SgSession *session)
{
  return session->state;
}

const char *
sg_session_get_id (const SgSession *session)
{
  return session->id;
}

const char *
sg_session_get_seat (const SgSession *session)
{
  return session->seat;
}

const char *
sg_session_why_not (const SgSession *session)
{
  switch (session->state)
    {
    case SG_SESSION_KNOWN:
    case SG_SESSION_UNKNOWN:
    case SG_SESSION_ENDED:
      return session->why_not;
    case SG_SESSION_RESOLVING:
    default:
      return "looking for the login session";
    }
}
