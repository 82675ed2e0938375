#include "session-watch.h"

#include "sg-dbus-property.h"

#define LOGIN1_SESSION SG_LOGIND_SESSION

struct _SgSessionWatch
{
  GDBusConnection *bus;
  char *owner;
  char *path;
  SgSessionWatchFunc changed;
  gpointer user_data;

  GCancellable *cancellable;
  guint props_sub;
  gboolean reading;    /* a GetAll is on its way */
  gboolean read_again; /* the session changed meanwhile: its answer may be stale */

  SgSessionWatchState state;
  SgLogindSession props;
};

static void watch_read (SgSessionWatch *watch);

static void
on_get_all (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply
      = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);
  if (reply == NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;

  SgSessionWatch *watch = user_data;
  watch->reading = FALSE;
  if (watch->read_again)
    {
      watch->read_again = FALSE;
      watch_read (watch);
      return;
    }
  if (reply == NULL)
    {
      g_autofree char *remote = g_dbus_error_get_remote_error (error);
      /* logind answers for a removed session's object with UnknownObject. */
      if (g_strcmp0 (remote, "org.freedesktop.DBus.Error.UnknownObject") == 0
          || g_strcmp0 (remote, "org.freedesktop.DBus.Error.UnknownMethod") == 0
          || g_strcmp0 (remote, "org.freedesktop.login1.NoSuchSession") == 0)
        watch->state = SG_SESSION_WATCH_GONE;
      else
        {
          g_warning ("Could not read the login session %s from logind: %s", watch->path,
                     error->message);
          watch->state = SG_SESSION_WATCH_FAILED;
        }
      watch->changed (watch, watch->user_data);
      return;
    }

  g_autoptr (GVariant) dict = g_variant_get_child_value (reply, 0);
  sg_logind_session_apply (&watch->props, dict);
  watch->state = SG_SESSION_WATCH_READ;
  watch->changed (watch, watch->user_data);
}

/* One read at a time, and one more after the last change: a burst of
 * PropertiesChanged (a flapping seat) must not pile up reads until the bus
 * refuses them (LimitsExceeded) and the session looks unreadable. */
static void
watch_read (SgSessionWatch *watch)
{
  if (watch->reading)
    {
      watch->read_again = TRUE;
      return;
    }
  watch->reading = TRUE;
  g_dbus_connection_call (watch->bus, watch->owner, watch->path, "org.freedesktop.DBus.Properties",
                          "GetAll", g_variant_new ("(s)", LOGIN1_SESSION),
                          G_VARIANT_TYPE ("(a{sv})"), G_DBUS_CALL_FLAGS_NO_AUTO_START, -1,
                          watch->cancellable, on_get_all, watch);
}

static void
on_properties_changed (GDBusConnection *bus, const char *sender, const char *path,
                       const char *iface, const char *signal, GVariant *params, gpointer user_data)
{
  SgSessionWatch *watch = user_data;
  const char *changed_iface;
  g_autoptr (GVariant) changed = NULL;

  if (watch->state == SG_SESSION_WATCH_GONE
      || !sg_dbus_properties_changed_parse (params, &changed_iface, &changed, NULL)
      || !g_str_equal (changed_iface, LOGIN1_SESSION))
    return;

  /* Use what the signal carries at once, then read everything again: State
   * changes without a signal, and a closing session shows up only there. */
  watch_read (watch);
  /* Last: the callback may free the watch. */
  if (watch->state == SG_SESSION_WATCH_READ)
    {
      sg_logind_session_apply (&watch->props, changed);
      watch->changed (watch, watch->user_data);
    }
}

SgSessionWatch *
sg_session_watch_new (GDBusConnection *bus, const char *owner, const char *path,
                      SgSessionWatchFunc changed, gpointer user_data)
{
  SgSessionWatch *watch = g_new0 (SgSessionWatch, 1);

  watch->bus = g_object_ref (bus);
  watch->owner = g_strdup (owner);
  watch->path = g_strdup (path);
  watch->changed = changed;
  watch->user_data = user_data;
  watch->cancellable = g_cancellable_new ();
  watch->state = SG_SESSION_WATCH_READING;
  watch->props.seat = g_strdup ("");
  watch->props.object_path = g_strdup (path);
  /* Subscribed before reading, so that no change falls between. */
  watch->props_sub
      = sg_logind_subscribe (bus, owner, "org.freedesktop.DBus.Properties", "PropertiesChanged",
                             path, LOGIN1_SESSION, on_properties_changed, watch);
  watch_read (watch);
  return watch;
}

void
sg_session_watch_free (SgSessionWatch *watch)
{
  if (watch == NULL)
    return;
  g_cancellable_cancel (watch->cancellable);
  sg_logind_unsubscribe (watch->bus, &watch->props_sub);
  g_object_unref (watch->cancellable);
  g_object_unref (watch->bus);
  g_free (watch->owner);
  g_free (watch->path);
  sg_logind_session_clear (&watch->props);
  g_free (watch);
}

void
sg_session_watch_refresh (SgSessionWatch *watch)
{
  if (watch->state != SG_SESSION_WATCH_GONE)
    watch_read (watch);
}

SgSessionWatchState
sg_session_watch_get_state (const SgSessionWatch *watch)
{
  return watch->state;
}

const char *
sg_session_watch_get_path (const SgSessionWatch *watch)
{
  return watch->path;
}

const SgLogindSession *
sg_session_watch_get_props (const SgSessionWatch *watch)
{
  return &watch->props;
}
