#include "notify.h"

#include <glib/gi18n-lib.h>

#include "markup.h"

#define NOTIFY_NAME "org.freedesktop.Notifications"
#define NOTIFY_PATH "/org/freedesktop/Notifications"
#define NOTIFY_IFACE "org.freedesktop.Notifications"

struct _SgNotify
{
  GDBusConnection *bus;
  SgNotifyOpenFunc open;
  gpointer user_data;
  GCancellable *cancellable;
  guint action_sub;
  guint32 status_id; /* the status notification shown last, to replace it */
  gboolean can_open; /* it offers "Open VM console" */
  /* The last status, when it found no server: sent when one takes the
   * name. (GNOME Shell owns it only once its UI is up; gnome-session may
   * start the agent well before: 55 s before, in a guest under TCG.) */
  struct NotifyCall *waiting;
  guint name_watch;
  char *server;       /* the name's owner, as last heard */
  guint server_names; /* NameOwnerChanged: the owner takes another name */
  gboolean settling;  /* waiting: the owner had no object yet */
};

/* One notification on its way: first the server's capabilities, then the
 * Notify itself. Asked each time rather than remembered: another server
 * may have taken the name since, and notifications are rare. */
typedef struct NotifyCall
{
  SgNotify *notify;
  gboolean is_status;
  char *icon;
  char *summary;
  char *body;
  gboolean with_open;
} NotifyCall;

static void
notify_call_free (NotifyCall *call)
{
  g_free (call->icon);
  g_free (call->summary);
  g_free (call->body);
  g_free (call);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NotifyCall, notify_call_free)

static void
on_action_invoked (GDBusConnection *bus, const char *sender, const char *path, const char *iface,
                   const char *signal, GVariant *params, gpointer user_data)
{
  SgNotify *notify = user_data;
  guint32 id;
  const char *action;

  if (!g_variant_is_of_type (params, G_VARIANT_TYPE ("(us)")))
    return;
  g_variant_get (params, "(u&s)", &id, &action);
  if (id == 0 || id != notify->status_id || !notify->can_open)
    return;
  if (g_str_equal (action, "default"))
    notify->open (notify->user_data);
}

/* Nobody owns the name, and nothing would start an owner. */
static gboolean
no_server (const GError *error)
{
  return g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN)
         || g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_NAME_HAS_NO_OWNER);
}

/* The name's owner has no server object yet. GNOME Shell's notification
 * service takes org.freedesktop.Notifications first and exports its object
 * only when it has its own name's bus (js/dbusServices/dbusService.js,
 * DBusService.run: register() before own_name's bus-acquired export), then
 * takes org.gnome.Shell.Notifications: that name change is the sign. */
static gboolean
server_not_ready (const GError *error)
{
  return g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_OBJECT)
         || g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD);
}

static void ask_capabilities (NotifyCall *call);
static void stop_following_names (SgNotify *notify);

static void
wait_for_server (SgNotify *notify, NotifyCall *call, gboolean settling)
{
  /* An owner came while the call was on its way: no appearance to wait for. */
  if (!settling && notify->server != NULL)
    {
      ask_capabilities (call);
      return;
    }
  g_clear_pointer (&notify->waiting, notify_call_free);
  notify->waiting = call;
  notify->settling = settling;
}

/* A status that found no server, or one not ready, waits for it (and
 * TRUE: the call is taken). */
static gboolean
defer_status (NotifyCall *call, const GError *error)
{
  gboolean settling = server_not_ready (error);

  if (!call->is_status || !(settling || no_server (error)))
    return FALSE;
  g_message (settling
                 ? "The notification server is not ready yet: the state is shown when it is"
                 : "No notification server is running yet: the state is shown when one starts");
  wait_for_server (call->notify, call, settling);
  return TRUE;
}

static void
on_notify_reply (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (NotifyCall) call = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply
      = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);
  if (reply == NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (reply == NULL && defer_status (call, error))
    {
      g_steal_pointer (&call);
      return;
    }
  if (reply == NULL)
    {
      g_dbus_error_strip_remote_error (error);
      g_message ("No desktop notification could be shown: %s", error->message);
      return;
    }
  /* The server answers: no need to see the names it takes. */
  stop_following_names (call->notify);
  if (call->is_status)
    g_variant_get (reply, "(u)", &call->notify->status_id);
}

/* The one action, "default": a server that draws buttons draws one, one
 * that draws none invokes it on a click on the notification (the
 * specification's "default" key). Sent only to a server that lists
 * "actions" among its capabilities: the others would show nothing for it,
 * or the key as a label. (xfce4-notifyd 0.7 drew a button for each of
 * "default" and "open", both labelled the same.) */
static void
notify_send (NotifyCall *call, gboolean server_has_actions)
{
  SgNotify *notify = call->notify;
  GVariantBuilder actions, hints;
  g_autofree char *escaped = sg_markup_escape (call->body);

  g_variant_builder_init (&actions, G_VARIANT_TYPE_STRING_ARRAY);
  if (call->with_open && server_has_actions)
    {
      g_variant_builder_add (&actions, "s", "default");
      g_variant_builder_add (&actions, "s", _ ("Open VM console"));
    }
  g_variant_builder_init (&hints, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&hints, "{sv}", "urgency", g_variant_new_byte (1));
  /* No "desktop-entry": GNOME Shell 48 then files the notification under
   * that app and draws the app's icon (Icon=seatgate-granted) in place of
   * app_icon (ui/notificationDaemon.js, _notifyForSource: app_icon only
   * "when the source doesn't have a valid app"), so a refusal would carry
   * the granted tick. */
  g_debug ("Notification: %s: %s", call->summary, call->body ? call->body : "");
  g_dbus_connection_call (notify->bus, NOTIFY_NAME, NOTIFY_PATH, NOTIFY_IFACE, "Notify",
                          g_variant_new ("(susss@as@a{sv}i)", "VM console",
                                         call->is_status ? notify->status_id : 0, call->icon,
                                         call->summary, escaped, g_variant_builder_end (&actions),
                                         g_variant_builder_end (&hints), -1),
                          G_VARIANT_TYPE ("(u)"), G_DBUS_CALL_FLAGS_NONE, -1, notify->cancellable,
                          on_notify_reply, call);
}

static void
on_capabilities_reply (GObject *source, GAsyncResult *result, gpointer user_data)
{
  NotifyCall *call = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply
      = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);
  g_autofree const char **caps = NULL;

  if (reply == NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      notify_call_free (call);
      return;
    }
  /* Not sent without the server's capabilities: they decide its actions. */
  if (reply == NULL && defer_status (call, error))
    return;
  if (reply == NULL)
    {
      /* Notify itself will say what is wrong with the server, if anything. */
      g_dbus_error_strip_remote_error (error);
      g_debug ("The notification server's capabilities could not be read: %s", error->message);
    }
  else
    g_variant_get (reply, "(^a&s)", &caps);
  notify_send (call, caps != NULL && g_strv_contains (caps, "actions"));
}

/* Asked for every notification, with actions or not, so that they reach
 * the server in the order they were made. */
static void
ask_capabilities (NotifyCall *call)
{
  g_dbus_connection_call (call->notify->bus, NOTIFY_NAME, NOTIFY_PATH, NOTIFY_IFACE,
                          "GetCapabilities", NULL, G_VARIANT_TYPE ("(as)"), G_DBUS_CALL_FLAGS_NONE,
                          -1, call->notify->cancellable, on_capabilities_reply, call);
}

static void
send_notification (SgNotify *notify, gboolean is_status, const char *icon, const char *summary,
                   const char *body, gboolean with_open)
{
  NotifyCall *call = g_new0 (NotifyCall, 1);

  call->notify = notify;
  call->is_status = is_status;
  call->icon = g_strdup (icon);
  call->summary = g_strdup (summary);
  call->body = g_strdup (body);
  call->with_open = with_open;
  ask_capabilities (call);
}

static void
send_waiting (SgNotify *notify)
{
  NotifyCall *call = g_steal_pointer (&notify->waiting);

  notify->settling = FALSE;
  if (call != NULL)
    ask_capabilities (call);
}

static void
on_server_took_name (GDBusConnection *bus, const char *sender, const char *path, const char *iface,
                     const char *signal, GVariant *params, gpointer user_data)
{
  SgNotify *notify = user_data;
  const char *name, *old_owner, *new_owner;

  g_variant_get (params, "(&s&s&s)", &name, &old_owner, &new_owner);
  if (notify->settling && g_strcmp0 (new_owner, notify->server) == 0)
    {
      g_debug ("The notification server took another name: showing the state");
      send_waiting (notify);
    }
}

static void
stop_following_names (SgNotify *notify)
{
  if (notify->server_names != 0)
    g_dbus_connection_signal_unsubscribe (notify->bus, notify->server_names);
  notify->server_names = 0;
}

static void
forget_server (SgNotify *notify)
{
  g_clear_pointer (&notify->server, g_free);
  stop_following_names (notify);
}

static void
on_server_appeared (GDBusConnection *bus, const char *name, const char *owner, gpointer user_data)
{
  SgNotify *notify = user_data;

  forget_server (notify);
  notify->server = g_strdup (owner);
  /* Subscribed before anything is sent to it, so no name it takes after
   * an answer is missed; until it has answered a Notify. (GDBus filters
   * on arg0 only: the owner is compared in the handler.) */
  notify->server_names = g_dbus_connection_signal_subscribe (
      bus, "org.freedesktop.DBus", "org.freedesktop.DBus", "NameOwnerChanged",
      "/org/freedesktop/DBus", NULL, G_DBUS_SIGNAL_FLAGS_NONE, on_server_took_name, notify, NULL);
  if (notify->waiting != NULL)
    g_debug ("%s is %s now: showing the state", name, owner);
  send_waiting (notify);
}

static void
on_server_vanished (GDBusConnection *bus, const char *name, gpointer user_data)
{
  forget_server (user_data);
}

SgNotify *
sg_notify_new (GDBusConnection *session_bus, SgNotifyOpenFunc open, gpointer user_data)
{
  SgNotify *notify = g_new0 (SgNotify, 1);

  notify->bus = g_object_ref (session_bus);
  notify->open = open;
  notify->user_data = user_data;
  notify->cancellable = g_cancellable_new ();
  notify->action_sub = g_dbus_connection_signal_subscribe (
      session_bus, NOTIFY_NAME, NOTIFY_IFACE, "ActionInvoked", NOTIFY_PATH, NULL,
      G_DBUS_SIGNAL_FLAGS_NONE, on_action_invoked, notify, NULL);
  notify->name_watch
      = g_bus_watch_name_on_connection (session_bus, NOTIFY_NAME, G_BUS_NAME_WATCHER_FLAGS_NONE,
                                        on_server_appeared, on_server_vanished, notify, NULL);
  return notify;
}

void
sg_notify_free (SgNotify *notify)
{
  if (notify == NULL)
    return;
  g_cancellable_cancel (notify->cancellable);
  g_object_unref (notify->cancellable);
  g_bus_unwatch_name (notify->name_watch);
  forget_server (notify);
  g_clear_pointer (&notify->waiting, notify_call_free);
  g_dbus_connection_signal_unsubscribe (notify->bus, notify->action_sub);
  g_object_unref (notify->bus);
  g_free (notify);
}

void
sg_notify_status (SgNotify *notify, const SgStatus *status)
{
  g_autofree char *headline = sg_status_headline (status);
  g_autofree char *detail = sg_status_detail (status);

  notify->can_open = status->kind == SG_STATUS_GRANTED;
  /* Superseded: this one waits instead, if it finds no server either. */
  g_clear_pointer (&notify->waiting, notify_call_free);
  send_notification (notify, TRUE, sg_status_icon_name (status), headline, detail,
                     notify->can_open);
}

void
sg_notify_problem (SgNotify *notify, const char *summary, const char *body)
{
  send_notification (notify, FALSE, "seatgate-unavailable", summary, body, FALSE);
}
