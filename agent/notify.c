#include "notify.h"

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
};

typedef struct
{
  SgNotify *notify;
  gboolean is_status;
} NotifyCall;

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
  if (g_str_equal (action, "open") || g_str_equal (action, "default"))
    notify->open (notify->user_data);
}

static void
on_notify_reply (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autofree NotifyCall *call = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply
      = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);
  if (reply == NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (reply == NULL)
    {
      g_dbus_error_strip_remote_error (error);
      g_message ("No desktop notification could be shown: %s", error->message);
      return;
    }
  if (call->is_status)
    g_variant_get (reply, "(u)", &call->notify->status_id);
}

static void
send_notification (SgNotify *notify, gboolean is_status, const char *icon, const char *summary,
                   const char *body, gboolean with_open)
{
  GVariantBuilder actions, hints;
  g_autofree char *escaped = g_markup_escape_text (body ? body : "", -1);
  NotifyCall *call = g_new0 (NotifyCall, 1);

  g_variant_builder_init (&actions, G_VARIANT_TYPE_STRING_ARRAY);
  if (with_open)
    {
      g_variant_builder_add (&actions, "s", "default");
      g_variant_builder_add (&actions, "s", "Open VM console");
      g_variant_builder_add (&actions, "s", "open");
      g_variant_builder_add (&actions, "s", "Open VM console");
    }
  g_variant_builder_init (&hints, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&hints, "{sv}", "urgency", g_variant_new_byte (1));
  g_variant_builder_add (&hints, "{sv}", "desktop-entry", g_variant_new_string ("seatgate-agent"));
  call->notify = notify;
  call->is_status = is_status;
  g_debug ("Notification: %s: %s", summary, body ? body : "");
  g_dbus_connection_call (notify->bus, NOTIFY_NAME, NOTIFY_PATH, NOTIFY_IFACE, "Notify",
                          g_variant_new ("(susss@as@a{sv}i)", "VM console",
                                         is_status ? notify->status_id : 0, icon, summary, escaped,
                                         g_variant_builder_end (&actions),
                                         g_variant_builder_end (&hints), -1),
                          G_VARIANT_TYPE ("(u)"), G_DBUS_CALL_FLAGS_NONE, -1, notify->cancellable,
                          on_notify_reply, call);
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
  return notify;
}

void
sg_notify_free (SgNotify *notify)
{
  if (notify == NULL)
    return;
  g_cancellable_cancel (notify->cancellable);
  g_object_unref (notify->cancellable);
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
  send_notification (notify, TRUE, sg_status_icon_name (status), headline, detail,
                     notify->can_open);
}

void
sg_notify_problem (SgNotify *notify, const char *summary, const char *body)
{
  send_notification (notify, FALSE, "seatgate-unavailable", summary, body, FALSE);
}
