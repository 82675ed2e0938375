#include "tray.h"

#include <glib/gi18n-lib.h>
#include <string.h>
#include <unistd.h>

#include "markup.h"
#include "sg-build-config.h"

#define SNI_IFACE "org.kde.StatusNotifierItem"
#define WATCHER_NAME "org.kde.StatusNotifierWatcher"
#define WATCHER_PATH "/StatusNotifierWatcher"
#define WATCHER_IFACE "org.kde.StatusNotifierWatcher"

/* How many times one watcher may drop the item before it stays dropped. */
#define REREGISTER_MAX 3

/* clang-format off */
static const char item_xml[] =
  "<node>"
  " <interface name='org.kde.StatusNotifierItem'>"
  "  <property name='Category' type='s' access='read'/>"
  "  <property name='Id' type='s' access='read'/>"
  "  <property name='Title' type='s' access='read'/>"
  "  <property name='Status' type='s' access='read'/>"
  "  <property name='WindowId' type='i' access='read'/>"
  "  <property name='IconThemePath' type='s' access='read'/>"
  "  <property name='Menu' type='o' access='read'/>"
  "  <property name='ItemIsMenu' type='b' access='read'/>"
  "  <property name='IconName' type='s' access='read'/>"
  "  <property name='IconPixmap' type='a(iiay)' access='read'/>"
  "  <property name='OverlayIconName' type='s' access='read'/>"
  "  <property name='OverlayIconPixmap' type='a(iiay)' access='read'/>"
  "  <property name='AttentionIconName' type='s' access='read'/>"
  "  <property name='AttentionIconPixmap' type='a(iiay)' access='read'/>"
  "  <property name='AttentionMovieName' type='s' access='read'/>"
  "  <property name='ToolTip' type='(sa(iiay)ss)' access='read'/>"
  "  <property name='IconAccessibleDesc' type='s' access='read'/>"
  "  <property name='AttentionAccessibleDesc' type='s' access='read'/>"
  "  <method name='ContextMenu'>"
  "   <arg name='x' type='i' direction='in'/><arg name='y' type='i' direction='in'/>"
  "  </method>"
  "  <method name='Activate'>"
  "   <arg name='x' type='i' direction='in'/><arg name='y' type='i' direction='in'/>"
  "  </method>"
  "  <method name='SecondaryActivate'>"
  "   <arg name='x' type='i' direction='in'/><arg name='y' type='i' direction='in'/>"
  "  </method>"
  "  <method name='Scroll'>"
  "   <arg name='delta' type='i' direction='in'/>"
  "   <arg name='orientation' type='s' direction='in'/>"
  "  </method>"
  "  <signal name='NewTitle'/>"
  "  <signal name='NewIcon'/>"
  "  <signal name='NewAttentionIcon'/>"
  "  <signal name='NewOverlayIcon'/>"
  "  <signal name='NewToolTip'/>"
  "  <signal name='NewStatus'><arg name='status' type='s'/></signal>"
  " </interface>"
  "</node>";
/* clang-format on */

struct _SgTray
{
  GDBusConnection *bus;
  SgTrayCallbacks callbacks;
  gpointer user_data;
  char *menu_path;
  char *bus_name;
  char *icon_theme_path;

  guint registration;
  guint own_id;
  guint watch_id;
  guint host_sub[2];
  guint dropped_sub;
  guint reregistered; /* by the current watcher's drops */
  gboolean name_owned;
  char *watcher;             /* the watcher's unique name, while there is one */
  GCancellable *cancellable; /* calls to the current watcher */
  SgTrayVisibility visibility;

  SgStatus status;
  gboolean at_seat;
};

/* Passive lets a host hide the item (xfce4-panel and waybar do): right
 * only where nobody at the seat is looking at this session (in the
 * background, remote, on no seat). A refusal of the person at the seat
 * asks for attention, so that the reason is seen. */
static const char *
status_word (const SgStatus *status, gboolean at_seat)
{
  switch (status->kind)
    {
    case SG_STATUS_GRANTED:
    case SG_STATUS_UNAVAILABLE:
      return "Active";
    case SG_STATUS_NOT_GRANTED:
      return at_seat ? "NeedsAttention" : "Passive";
    case SG_STATUS_STARTING:
    default:
      return "Passive";
    }
}

static GVariant *
tooltip_variant (const SgStatus *status)
{
  g_autofree char *headline = sg_status_headline (status);
  g_autofree char *detail = sg_status_detail (status);
  g_autofree char *escaped = sg_markup_escape (detail);

  /* Hosts render the description as markup. */
  return g_variant_new ("(s@a(iiay)ss)", sg_status_icon_name (status),
                        g_variant_new ("a(iiay)", NULL), headline, escaped);
}

/* What a screen reader says for the icon: GNOME's AppIndicator extension
 * names the icon from IconAccessibleDesc (appIndicator.js accessibleName),
 * else from the Title, which has no reason. */
static char *
accessible_text (const SgStatus *status)
{
  g_autofree char *headline = sg_status_headline (status);
  g_autofree char *detail = status->kind == SG_STATUS_GRANTED ? NULL : sg_status_detail (status);

  if (detail == NULL || *detail == '\0')
    return g_steal_pointer (&headline);
  /* TRANSLATORS: the icon's name for a screen reader: the state, then why */
  return g_strdup_printf (_ ("%s: %s"), headline, detail);
}

static GVariant *
get_property (GDBusConnection *bus, const char *sender, const char *path, const char *iface,
              const char *name, GError **error, gpointer user_data)
{
  SgTray *tray = user_data;

  if (g_str_equal (name, "Category"))
    return g_variant_new_string ("SystemServices");
  if (g_str_equal (name, "Id"))
    return g_variant_new_string ("seatgate-agent");
  if (g_str_equal (name, "Title"))
    return g_variant_new_take_string (sg_status_headline (&tray->status));
  if (g_str_equal (name, "Status"))
    return g_variant_new_string (status_word (&tray->status, tray->at_seat));
  if (g_str_equal (name, "WindowId"))
    return g_variant_new_int32 (0);
  if (g_str_equal (name, "IconThemePath"))
    return g_variant_new_string (tray->icon_theme_path);
  if (g_str_equal (name, "Menu"))
    return g_variant_new_object_path (tray->menu_path);
  if (g_str_equal (name, "ItemIsMenu"))
    return g_variant_new_boolean (FALSE);
  if (g_str_equal (name, "IconName"))
    return g_variant_new_string (sg_status_icon_name (&tray->status));
  /* Hosts that swap in the attention icon show the same one: the state is
   * in the icon's shape and the tooltip, not in blinking. */
  if (g_str_equal (name, "AttentionIconName"))
    return g_variant_new_string (sg_status_icon_name (&tray->status));
  if (g_str_equal (name, "OverlayIconName") || g_str_equal (name, "AttentionMovieName"))
    return g_variant_new_string ("");
  if (g_str_equal (name, "IconPixmap") || g_str_equal (name, "OverlayIconPixmap")
      || g_str_equal (name, "AttentionIconPixmap"))
    return g_variant_new ("a(iiay)", NULL);
  if (g_str_equal (name, "ToolTip"))
    return tooltip_variant (&tray->status);
  if (g_str_equal (name, "IconAccessibleDesc") || g_str_equal (name, "AttentionAccessibleDesc"))
    return g_variant_new_take_string (accessible_text (&tray->status));
  g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_PROPERTY, "No property %s", name);
  return NULL;
}

static void
method_call (GDBusConnection *bus, const char *sender, const char *path, const char *iface,
             const char *method, GVariant *params, GDBusMethodInvocation *invocation,
             gpointer user_data)
{
  SgTray *tray = user_data;

  g_debug ("Tray: %s from %s", method, sender);
  /* ContextMenu, SecondaryActivate and Scroll have nothing to do: the host
   * shows the Menu itself. */
  g_dbus_method_invocation_return_value (invocation, NULL);
  if (g_str_equal (method, "Activate"))
    tray->callbacks.activate (tray, tray->user_data);
}

static const GDBusInterfaceVTable item_vtable = { method_call, get_property, NULL, { 0 } };

static void
tray_set_visibility (SgTray *tray, SgTrayVisibility visibility)
{
  if (tray->visibility == visibility)
    return;
  g_debug ("Tray: %s", visibility == SG_TRAY_SHOWN    ? "shown"
                       : visibility == SG_TRAY_HIDDEN ? "hidden"
                                                      : "unknown");
  tray->visibility = visibility;
  tray->callbacks.visibility_changed (tray, tray->user_data);
}

static void
on_host_registered_reply (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply
      = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);
  if (reply == NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;

  SgTray *tray = user_data;
  gboolean host = TRUE;
  if (reply != NULL)
    {
      g_autoptr (GVariant) value = NULL;
      g_variant_get (reply, "(v)", &value);
      if (g_variant_is_of_type (value, G_VARIANT_TYPE_BOOLEAN))
        host = g_variant_get_boolean (value);
    }
  else
    {
      /* A watcher without the property: trust that it has a host. */
      g_debug ("Tray: the watcher does not say whether a host is there: %s", error->message);
    }
  if (!host)
    g_message ("Tray: a StatusNotifierWatcher runs but no tray shows items");
  tray_set_visibility (tray, host ? SG_TRAY_SHOWN : SG_TRAY_HIDDEN);
}

static void
tray_check_host (SgTray *tray)
{
  g_dbus_connection_call (tray->bus, tray->watcher, WATCHER_PATH, "org.freedesktop.DBus.Properties",
                          "Get",
                          g_variant_new ("(ss)", WATCHER_IFACE, "IsStatusNotifierHostRegistered"),
                          G_VARIANT_TYPE ("(v)"), G_DBUS_CALL_FLAGS_NO_AUTO_START, -1,
                          tray->cancellable, on_host_registered_reply, tray);
}

static void
on_register_reply (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply
      = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);
  if (reply == NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;

  SgTray *tray = user_data;
  if (reply == NULL)
    {
      g_dbus_error_strip_remote_error (error);
      g_warning ("Tray: the StatusNotifierWatcher refused the item: %s", error->message);
      tray_set_visibility (tray, SG_TRAY_HIDDEN);
      return;
    }
  g_message ("Tray: registered %s with the StatusNotifierWatcher", tray->bus_name);
  tray_check_host (tray);
}

/* By object path, as Ayatana's items do (every watcher takes it: the item
 * is the caller's connection and that path), not by the well-known name:
 * GNOME's AppIndicator extension 46 watches a well-known name
 * (appIndicator.js AppIndicator's constructor: a NameWatcher when the id
 * is the service), and that watch's first "changed" resets the proxy's Id
 * and Menu (_nameOwnerChanged, _resetNeededProperties) while the proxy
 * reads them: the indicator is then dropped, or stays without a menu and
 * never shows (in 58 desktop tests by name, one stuck, several dropped). */
static void
tray_register (SgTray *tray)
{
  if (!tray->name_owned || tray->watcher == NULL)
    return;
  g_dbus_connection_call (tray->bus, tray->watcher, WATCHER_PATH, WATCHER_IFACE,
                          "RegisterStatusNotifierItem", g_variant_new ("(s)", SG_TRAY_PATH), NULL,
                          G_DBUS_CALL_FLAGS_NO_AUTO_START, -1, tray->cancellable, on_register_reply,
                          tray);
}

static void
on_host_signal (GDBusConnection *bus, const char *sender, const char *path, const char *iface,
                const char *signal, GVariant *params, gpointer user_data)
{
  SgTray *tray = user_data;

  /* Only once registered: before that, the registration reply decides. */
  if (tray->watcher == NULL || tray->visibility == SG_TRAY_UNKNOWN)
    return;
  g_debug ("Tray: %s", signal);
  tray_check_host (tray);
}

/* GNOME's AppIndicator extension 46 drops an item whose proxy came up
 * without Id or Menu (util.js queueProxyPropertyUpdate throws, and
 * appIndicator.js _setupProxy destroys the indicator): its watcher then
 * sends StatusNotifierItemUnregistered with the item's id while the item is
 * still on the bus (statusNotifierWatcher.js _onIndicatorDestroyed; the id
 * is util.js indicatorId's "UNIQUE@PATH" for an item registered by path;
 * KDE's, Xfce's and waybar's watchers name one "UNIQUE/PATH"). The icon is
 * gone for the session unless the item registers again. Other watchers
 * send it only when the item's connection left the bus. */
static gboolean
names_our_item (SgTray *tray, const char *item)
{
  const char *unique = g_dbus_connection_get_unique_name (tray->bus);
  gsize n = unique != NULL ? strlen (unique) : 0;

  if (g_str_equal (item, tray->bus_name)
      || (g_str_has_prefix (item, tray->bus_name) && item[strlen (tray->bus_name)] == '/'))
    return TRUE;
  if (n == 0 || strncmp (item, unique, n) != 0)
    return FALSE;
  return g_str_equal (item + n, SG_TRAY_PATH)
         || (item[n] == '@' && g_str_equal (item + n + 1, SG_TRAY_PATH));
}

static void
on_item_unregistered (GDBusConnection *bus, const char *sender, const char *path, const char *iface,
                      const char *signal, GVariant *params, gpointer user_data)
{
  SgTray *tray = user_data;
  const char *item = NULL;

  if (!g_variant_is_of_type (params, G_VARIANT_TYPE ("(s)")))
    return;
  g_variant_get (params, "(&s)", &item);
  /* From the current watcher only, about our name while we still own it. */
  if (tray->watcher == NULL || g_strcmp0 (sender, tray->watcher) != 0 || !tray->name_owned
      || !names_our_item (tray, item))
    return;
  if (tray->reregistered >= REREGISTER_MAX)
    {
      g_warning ("Tray: the StatusNotifierWatcher dropped the item again (%u times): it stays "
                 "dropped",
                 tray->reregistered + 1);
      tray_set_visibility (tray, SG_TRAY_HIDDEN);
      return;
    }
  tray->reregistered++;
  g_message ("Tray: the StatusNotifierWatcher dropped the item; registering it again (%u of %d)",
             tray->reregistered, REREGISTER_MAX);
  tray_register (tray);
}

static void
on_watcher_appeared (GDBusConnection *bus, const char *name, const char *owner, gpointer user_data)
{
  SgTray *tray = user_data;

  g_cancellable_cancel (tray->cancellable);
  g_object_unref (tray->cancellable);
  tray->cancellable = g_cancellable_new ();
  g_free (tray->watcher);
  tray->watcher = g_strdup (owner);
  tray->reregistered = 0;
  g_debug ("Tray: StatusNotifierWatcher is %s", owner);
  tray_set_visibility (tray, SG_TRAY_UNKNOWN);
  tray_register (tray);
}

static void
on_watcher_vanished (GDBusConnection *bus, const char *name, gpointer user_data)
{
  SgTray *tray = user_data;

  g_cancellable_cancel (tray->cancellable);
  if (tray->watcher != NULL)
    g_message ("Tray: the StatusNotifierWatcher left");
  g_clear_pointer (&tray->watcher, g_free);
  tray_set_visibility (tray, SG_TRAY_HIDDEN);
}

static void
on_name_acquired (GDBusConnection *bus, const char *name, gpointer user_data)
{
  SgTray *tray = user_data;

  tray->name_owned = TRUE;
  if (tray->watch_id == 0)
    tray->watch_id
        = g_bus_watch_name_on_connection (tray->bus, WATCHER_NAME, G_BUS_NAME_WATCHER_FLAGS_NONE,
                                          on_watcher_appeared, on_watcher_vanished, tray, NULL);
  else
    tray_register (tray);
}

static void
on_name_lost (GDBusConnection *bus, const char *name, gpointer user_data)
{
  SgTray *tray = user_data;

  g_warning ("Tray: could not own %s on the session bus", name);
  tray->name_owned = FALSE;
  tray_set_visibility (tray, SG_TRAY_HIDDEN);
}

/* The item names its icons; a host finds them in the icon theme, or, where
 * we are installed outside the theme's search path, in IconThemePath. */
static char *
find_icon_theme_path (void)
{
  const char *const *dirs = g_get_system_data_dirs ();
  g_autofree char *ours = g_canonicalize_filename (SG_DATADIR, "/");
  for (gsize i = 0; dirs[i] != NULL; i++)
    {
      g_autofree char *dir = g_canonicalize_filename (dirs[i], "/");
      if (g_str_equal (dir, ours))
        return g_strdup ("");
    }
  return g_build_filename (SG_DATADIR, "icons", NULL);
}

SgTray *
sg_tray_new (GDBusConnection *session_bus, const char *menu_path, const SgTrayCallbacks *callbacks,
             gpointer user_data, GError **error)
{
  g_autoptr (GDBusNodeInfo) info = g_dbus_node_info_new_for_xml (item_xml, error);
  SgTray *tray;

  if (info == NULL)
    return NULL;
  tray = g_new0 (SgTray, 1);
  tray->bus = g_object_ref (session_bus);
  tray->callbacks = *callbacks;
  tray->user_data = user_data;
  tray->menu_path = g_strdup (menu_path);
  tray->bus_name = g_strdup_printf ("org.kde.StatusNotifierItem-%d-1", (int) getpid ());
  tray->icon_theme_path = find_icon_theme_path ();
  tray->cancellable = g_cancellable_new ();
  tray->visibility = SG_TRAY_UNKNOWN;
  tray->registration = g_dbus_connection_register_object (
      session_bus, SG_TRAY_PATH, info->interfaces[0], &item_vtable, tray, NULL, error);
  if (tray->registration == 0)
    {
      sg_tray_free (tray);
      return NULL;
    }
  /* The host signals, and the watcher's drop of an item (each app's). */
  tray->host_sub[0] = g_dbus_connection_signal_subscribe (
      session_bus, WATCHER_NAME, WATCHER_IFACE, "StatusNotifierHostRegistered", WATCHER_PATH, NULL,
      G_DBUS_SIGNAL_FLAGS_NONE, on_host_signal, tray, NULL);
  tray->host_sub[1] = g_dbus_connection_signal_subscribe (
      session_bus, WATCHER_NAME, WATCHER_IFACE, "StatusNotifierHostUnregistered", WATCHER_PATH,
      NULL, G_DBUS_SIGNAL_FLAGS_NONE, on_host_signal, tray, NULL);
  tray->dropped_sub = g_dbus_connection_signal_subscribe (
      session_bus, WATCHER_NAME, WATCHER_IFACE, "StatusNotifierItemUnregistered", WATCHER_PATH,
      NULL, G_DBUS_SIGNAL_FLAGS_NONE, on_item_unregistered, tray, NULL);
  tray->own_id = g_bus_own_name_on_connection (session_bus, tray->bus_name,
                                               G_BUS_NAME_OWNER_FLAGS_DO_NOT_QUEUE,
                                               on_name_acquired, on_name_lost, tray, NULL);
  return tray;
}

void
sg_tray_free (SgTray *tray)
{
  if (tray == NULL)
    return;
  g_cancellable_cancel (tray->cancellable);
  g_clear_object (&tray->cancellable);
  if (tray->watch_id != 0)
    g_bus_unwatch_name (tray->watch_id);
  if (tray->own_id != 0)
    g_bus_unown_name (tray->own_id);
  for (gsize i = 0; i < G_N_ELEMENTS (tray->host_sub); i++)
    if (tray->host_sub[i] != 0)
      g_dbus_connection_signal_unsubscribe (tray->bus, tray->host_sub[i]);
  if (tray->dropped_sub != 0)
    g_dbus_connection_signal_unsubscribe (tray->bus, tray->dropped_sub);
  if (tray->registration != 0)
    g_dbus_connection_unregister_object (tray->bus, tray->registration);
  sg_status_clear (&tray->status);
  g_object_unref (tray->bus);
  g_free (tray->watcher);
  g_free (tray->menu_path);
  g_free (tray->bus_name);
  g_free (tray->icon_theme_path);
  g_free (tray);
}

static void
emit (SgTray *tray, const char *signal, GVariant *params)
{
  g_dbus_connection_emit_signal (tray->bus, NULL, SG_TRAY_PATH, SNI_IFACE, signal, params, NULL);
}

void
sg_tray_set_status (SgTray *tray, const SgStatus *status, gboolean at_seat)
{
  SgStatus old = { 0 };
  const char *old_word = status_word (&tray->status, tray->at_seat);
  const char *new_word = status_word (status, at_seat);

  tray->at_seat = at_seat;
  if (sg_status_equal (&tray->status, status))
    {
      if (!g_str_equal (old_word, new_word))
        emit (tray, "NewStatus", g_variant_new ("(s)", new_word));
      return;
    }
  sg_status_copy (&old, &tray->status);
  sg_status_copy (&tray->status, status);

  if (!g_str_equal (old_word, new_word))
    emit (tray, "NewStatus", g_variant_new ("(s)", new_word));
  /* The AppIndicator extension reads the accessible texts again on these. */
  g_autofree char *old_accessible = accessible_text (&old);
  g_autofree char *new_accessible = accessible_text (status);
  if (!g_str_equal (sg_status_icon_name (&old), sg_status_icon_name (status))
      || !g_str_equal (old_accessible, new_accessible))
    {
      emit (tray, "NewIcon", NULL);
      emit (tray, "NewAttentionIcon", NULL);
    }
  g_autofree char *old_title = sg_status_headline (&old);
  g_autofree char *new_title = sg_status_headline (status);
  if (!g_str_equal (old_title, new_title))
    emit (tray, "NewTitle", NULL);
  g_autoptr (GVariant) old_tip = g_variant_ref_sink (tooltip_variant (&old));
  g_autoptr (GVariant) new_tip = g_variant_ref_sink (tooltip_variant (status));
  if (!g_variant_equal (old_tip, new_tip))
    emit (tray, "NewToolTip", NULL);
  sg_status_clear (&old);
}

SgTrayVisibility
sg_tray_get_visibility (const SgTray *tray)
{
  return tray->visibility;
}

const char *
sg_tray_get_bus_name (const SgTray *tray)
{
  return tray->bus_name;
}
