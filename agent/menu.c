#include "menu.h"

#include <glib/gi18n-lib.h>

#include <string.h>

#define DBUSMENU_IFACE "com.canonical.dbusmenu"

/* clang-format off */
static const char menu_xml[] =
  "<node>"
  " <interface name='com.canonical.dbusmenu'>"
  "  <property name='Version' type='u' access='read'/>"
  "  <property name='TextDirection' type='s' access='read'/>"
  "  <property name='Status' type='s' access='read'/>"
  "  <property name='IconThemePath' type='as' access='read'/>"
  "  <method name='GetLayout'>"
  "   <arg type='i' name='parentId' direction='in'/>"
  "   <arg type='i' name='recursionDepth' direction='in'/>"
  "   <arg type='as' name='propertyNames' direction='in'/>"
  "   <arg type='u' name='revision' direction='out'/>"
  "   <arg type='(ia{sv}av)' name='layout' direction='out'/>"
  "  </method>"
  "  <method name='GetGroupProperties'>"
  "   <arg type='ai' name='ids' direction='in'/>"
  "   <arg type='as' name='propertyNames' direction='in'/>"
  "   <arg type='a(ia{sv})' name='properties' direction='out'/>"
  "  </method>"
  "  <method name='GetProperty'>"
  "   <arg type='i' name='id' direction='in'/>"
  "   <arg type='s' name='name' direction='in'/>"
  "   <arg type='v' name='value' direction='out'/>"
  "  </method>"
  "  <method name='Event'>"
  "   <arg type='i' name='id' direction='in'/>"
  "   <arg type='s' name='eventId' direction='in'/>"
  "   <arg type='v' name='data' direction='in'/>"
  "   <arg type='u' name='timestamp' direction='in'/>"
  "  </method>"
  "  <method name='EventGroup'>"
  "   <arg type='a(isvu)' name='events' direction='in'/>"
  "   <arg type='ai' name='idErrors' direction='out'/>"
  "  </method>"
  "  <method name='AboutToShow'>"
  "   <arg type='i' name='id' direction='in'/>"
  "   <arg type='b' name='needUpdate' direction='out'/>"
  "  </method>"
  "  <method name='AboutToShowGroup'>"
  "   <arg type='ai' name='ids' direction='in'/>"
  "   <arg type='ai' name='updatesNeeded' direction='out'/>"
  "   <arg type='ai' name='idErrors' direction='out'/>"
  "  </method>"
  "  <signal name='ItemsPropertiesUpdated'>"
  "   <arg type='a(ia{sv})' name='updatedProps'/>"
  "   <arg type='a(ias)' name='removedProps'/>"
  "  </signal>"
  "  <signal name='LayoutUpdated'>"
  "   <arg type='u' name='revision'/>"
  "   <arg type='i' name='parent'/>"
  "  </signal>"
  "  <signal name='ItemActivationRequested'>"
  "   <arg type='i' name='id'/>"
  "   <arg type='u' name='timestamp'/>"
  "  </signal>"
  " </interface>"
  "</node>";
/* clang-format on */

struct _SgMenu
{
  GDBusConnection *bus;
  guint registration;
  gboolean can_copy;
  SgMenuActivateFunc activate;
  gpointer user_data;
  guint32 revision;
  GVariant *props[SG_MENU_N_ITEMS]; /* a{sv} of each item, floating refs sunk */
};

/* dbusmenu labels take '_' as the mnemonic mark. */
static char *
escape_label (const char *text)
{
  GString *out = g_string_new (NULL);

  for (const char *c = text; *c; c++)
    {
      if (*c == '_')
        g_string_append_c (out, '_');
      g_string_append_c (out, *c);
    }
  return g_string_free (out, FALSE);
}

char *
sg_menu_status_label (const SgStatus *status)
{
  switch (status->kind)
    {
    case SG_STATUS_GRANTED:
      return g_strdup_printf (_ ("Yours: spice://%s:%u"), SG_VIEWER_HOST, status->port);
    case SG_STATUS_NOT_GRANTED:
      return g_strdup_printf (_ ("Not yours: %s"),
                              status->reason ? status->reason : _ ("unknown reason"));
    case SG_STATUS_UNAVAILABLE:
      return g_strdup_printf (_ ("Unavailable: %s"),
                              status->reason ? status->reason : _ ("unknown reason"));
    case SG_STATUS_STARTING:
    default:
      return g_strdup (_ ("Checking…"));
    }
}

static GVariant *
item_props (SgMenu *menu, SgMenuItem item, const SgStatus *status)
{
  GVariantBuilder b;
  gboolean granted = status->kind == SG_STATUS_GRANTED;

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  switch (item)
    {
    case SG_MENU_ITEM_ROOT:
      g_variant_builder_add (&b, "{sv}", "children-display", g_variant_new_string ("submenu"));
      break;
    case SG_MENU_ITEM_OPEN:
      g_variant_builder_add (&b, "{sv}", "label", g_variant_new_string (_ ("_Open VM console")));
      g_variant_builder_add (&b, "{sv}", "enabled", g_variant_new_boolean (granted));
      break;
    case SG_MENU_ITEM_STATUS:
      {
        g_autofree char *text = sg_menu_status_label (status);
        g_autofree char *label = escape_label (text);
        g_variant_builder_add (&b, "{sv}", "label", g_variant_new_string (label));
        g_variant_builder_add (&b, "{sv}", "enabled", g_variant_new_boolean (FALSE));
        break;
      }
    case SG_MENU_ITEM_COPY:
      g_variant_builder_add (&b, "{sv}", "label", g_variant_new_string (_ ("_Copy address")));
      g_variant_builder_add (&b, "{sv}", "enabled", g_variant_new_boolean (granted));
      break;
    case SG_MENU_N_ITEMS:
    default:
      g_assert_not_reached ();
    }
  return g_variant_ref_sink (g_variant_builder_end (&b));
}

static gboolean
item_exists (SgMenu *menu, gint32 id)
{
  if (id < 0 || id >= SG_MENU_N_ITEMS)
    return FALSE;
  return id != SG_MENU_ITEM_COPY || menu->can_copy;
}

/* @props filtered to @names; every property when @names is empty. */
static GVariant *
filter_props (GVariant *props, const char *const *names)
{
  GVariantBuilder b;
  GVariantIter iter;
  const char *key;
  GVariant *value;

  if (names == NULL || names[0] == NULL)
    return props;
  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_iter_init (&iter, props);
  while (g_variant_iter_next (&iter, "{&sv}", &key, &value))
    {
      if (g_strv_contains (names, key))
        g_variant_builder_add (&b, "{sv}", key, value);
      g_variant_unref (value);
    }
  return g_variant_builder_end (&b);
}

static GVariant *
build_layout (SgMenu *menu, gint32 id, gint32 depth, const char *const *names)
{
  GVariantBuilder children;

  g_variant_builder_init (&children, G_VARIANT_TYPE ("av"));
  if (id == SG_MENU_ITEM_ROOT && depth != 0)
    for (gint32 child = 1; child < SG_MENU_N_ITEMS; child++)
      if (item_exists (menu, child))
        g_variant_builder_add (&children, "v", build_layout (menu, child, depth - 1, names));
  return g_variant_new ("(i@a{sv}av)", id, filter_props (menu->props[id], names), &children);
}

static void
handle_event (SgMenu *menu, gint32 id, const char *event)
{
  g_debug ("Menu item %d: %s", id, event);
  if (g_str_equal (event, "clicked") && (id == SG_MENU_ITEM_OPEN || id == SG_MENU_ITEM_COPY))
    menu->activate ((SgMenuItem) id, menu->user_data);
}

static void
method_call (GDBusConnection *bus, const char *sender, const char *path, const char *iface,
             const char *method, GVariant *params, GDBusMethodInvocation *invocation,
             gpointer user_data)
{
  SgMenu *menu = user_data;

  if (g_str_equal (method, "GetLayout"))
    {
      gint32 parent, depth;
      g_autofree const char **names = NULL;

      g_variant_get (params, "(ii^a&s)", &parent, &depth, &names);
      if (!item_exists (menu, parent))
        {
          g_dbus_method_invocation_return_error (
              invocation, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS, "No menu item %d", parent);
          return;
        }
      g_dbus_method_invocation_return_value (
          invocation, g_variant_new ("(u@(ia{sv}av))", menu->revision,
                                     build_layout (menu, parent, depth, names)));
    }
  else if (g_str_equal (method, "GetGroupProperties"))
    {
      g_autoptr (GVariant) ids = NULL;
      g_autofree const char **names = NULL;
      GVariantBuilder b;
      gsize n = 0;

      g_variant_get (params, "(@ai^a&s)", &ids, &names);
      const gint32 *list = g_variant_get_fixed_array (ids, &n, sizeof (gint32));
      g_variant_builder_init (&b, G_VARIANT_TYPE ("a(ia{sv})"));
      for (gsize i = 0; i < n; i++)
        if (item_exists (menu, list[i]))
          g_variant_builder_add (&b, "(i@a{sv})", list[i],
                                 filter_props (menu->props[list[i]], names));
      g_dbus_method_invocation_return_value (invocation, g_variant_new ("(a(ia{sv}))", &b));
    }
  else if (g_str_equal (method, "GetProperty"))
    {
      gint32 id;
      const char *name;
      g_autoptr (GVariant) value = NULL;

      g_variant_get (params, "(i&s)", &id, &name);
      if (item_exists (menu, id))
        value = g_variant_lookup_value (menu->props[id], name, NULL);
      if (value == NULL)
        g_dbus_method_invocation_return_error (invocation, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
                                               "Menu item %d has no property %s", id, name);
      else
        g_dbus_method_invocation_return_value (invocation, g_variant_new ("(v)", value));
    }
  else if (g_str_equal (method, "Event"))
    {
      gint32 id;
      const char *event;

      g_variant_get (params, "(i&svu)", &id, &event, NULL, NULL);
      if (!item_exists (menu, id))
        {
          g_dbus_method_invocation_return_error (invocation, G_DBUS_ERROR,
                                                 G_DBUS_ERROR_INVALID_ARGS, "No menu item %d", id);
          return;
        }
      /* Answer first: the action may take a while to start. */
      g_dbus_method_invocation_return_value (invocation, NULL);
      handle_event (menu, id, event);
    }
  else if (g_str_equal (method, "EventGroup"))
    {
      GVariantIter *iter;
      gint32 id;
      const char *event;
      GVariantBuilder errors;
      g_autoptr (GPtrArray) events = g_ptr_array_new_with_free_func (g_free);
      g_autoptr (GArray) ids = g_array_new (FALSE, FALSE, sizeof (gint32));

      g_variant_builder_init (&errors, G_VARIANT_TYPE ("ai"));
      g_variant_get (params, "(a(isvu))", &iter);
      while (g_variant_iter_next (iter, "(i&svu)", &id, &event, NULL, NULL))
        {
          if (!item_exists (menu, id))
            {
              g_variant_builder_add (&errors, "i", id);
              continue;
            }
          g_array_append_val (ids, id);
          g_ptr_array_add (events, g_strdup (event));
        }
      g_variant_iter_free (iter);
      g_dbus_method_invocation_return_value (invocation, g_variant_new ("(ai)", &errors));
      for (guint i = 0; i < ids->len; i++)
        handle_event (menu, g_array_index (ids, gint32, i), g_ptr_array_index (events, i));
    }
  else if (g_str_equal (method, "AboutToShow"))
    {
      /* The menu is kept up to date as the state changes. */
      g_dbus_method_invocation_return_value (invocation, g_variant_new ("(b)", FALSE));
    }
  else if (g_str_equal (method, "AboutToShowGroup"))
    {
      g_dbus_method_invocation_return_value (
          invocation,
          g_variant_new ("(@ai@ai)", g_variant_new ("ai", NULL), g_variant_new ("ai", NULL)));
    }
  else
    {
      g_dbus_method_invocation_return_error (invocation, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD,
                                             "No method %s", method);
    }
}

static GVariant *
get_property (GDBusConnection *bus, const char *sender, const char *path, const char *iface,
              const char *name, GError **error, gpointer user_data)
{
  if (g_str_equal (name, "Version"))
    return g_variant_new_uint32 (3);
  if (g_str_equal (name, "TextDirection"))
    return g_variant_new_string ("ltr");
  if (g_str_equal (name, "Status"))
    return g_variant_new_string ("normal");
  if (g_str_equal (name, "IconThemePath"))
    return g_variant_new_strv (NULL, 0);
  g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_PROPERTY, "No property %s", name);
  return NULL;
}

static const GDBusInterfaceVTable menu_vtable = { method_call, get_property, NULL, { 0 } };

SgMenu *
sg_menu_new (GDBusConnection *session_bus, gboolean can_copy, SgMenuActivateFunc activate,
             gpointer user_data, GError **error)
{
  g_autoptr (GDBusNodeInfo) info = g_dbus_node_info_new_for_xml (menu_xml, error);
  SgMenu *menu;
  SgStatus starting = { SG_STATUS_STARTING, 0, NULL };

  if (info == NULL)
    return NULL;
  menu = g_new0 (SgMenu, 1);
  menu->bus = g_object_ref (session_bus);
  menu->can_copy = can_copy;
  menu->activate = activate;
  menu->user_data = user_data;
  menu->revision = 1;
  for (int i = 0; i < SG_MENU_N_ITEMS; i++)
    menu->props[i] = item_props (menu, (SgMenuItem) i, &starting);
  menu->registration = g_dbus_connection_register_object (
      session_bus, SG_MENU_PATH, info->interfaces[0], &menu_vtable, menu, NULL, error);
  if (menu->registration == 0)
    {
      sg_menu_free (menu);
      return NULL;
    }
  return menu;
}

void
sg_menu_free (SgMenu *menu)
{
  if (menu == NULL)
    return;
  if (menu->registration != 0)
    g_dbus_connection_unregister_object (menu->bus, menu->registration);
  for (int i = 0; i < SG_MENU_N_ITEMS; i++)
    g_clear_pointer (&menu->props[i], g_variant_unref);
  g_object_unref (menu->bus);
  g_free (menu);
}

void
sg_menu_set_status (SgMenu *menu, const SgStatus *status)
{
  GVariantBuilder updated;
  gboolean changed = FALSE;

  g_variant_builder_init (&updated, G_VARIANT_TYPE ("a(ia{sv})"));
  for (int i = 0; i < SG_MENU_N_ITEMS; i++)
    {
      g_autoptr (GVariant) props = item_props (menu, (SgMenuItem) i, status);

      if (g_variant_equal (props, menu->props[i]))
        continue;
      g_variant_unref (menu->props[i]);
      menu->props[i] = g_steal_pointer (&props);
      if (item_exists (menu, i))
        {
          g_variant_builder_add (&updated, "(i@a{sv})", i, menu->props[i]);
          changed = TRUE;
        }
    }
  if (!changed)
    {
      g_variant_builder_clear (&updated);
      return;
    }
  menu->revision++;
  /* Hosts built on libdbusmenu follow ItemsPropertiesUpdated; simpler ones
   * only reload on LayoutUpdated. Both are sent. */
  g_dbus_connection_emit_signal (
      menu->bus, NULL, SG_MENU_PATH, DBUSMENU_IFACE, "ItemsPropertiesUpdated",
      g_variant_new ("(a(ia{sv})@a(ias))", &updated, g_variant_new ("a(ias)", NULL)), NULL);
  g_dbus_connection_emit_signal (menu->bus, NULL, SG_MENU_PATH, DBUSMENU_IFACE, "LayoutUpdated",
                                 g_variant_new ("(ui)", menu->revision, 0), NULL);
}
