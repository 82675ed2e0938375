#include "seatgatectl.h"

#include <errno.h>
#include <pwd.h>
#include <stdlib.h>

#include "json.h"
#include "sg-error.h"
#include "sg-ports.h"

static const char exit_statuses[]
    = "Exit status: 0 done; 1 failed (or, for check-config and doctor, a problem found);\n"
      "2 usage error; 3 seatgate-helper is not on the system bus; 4 you do not own the\n"
      "active local session of a gated seat; 5 polkit does not allow it.";

GOptionContext *
sgctl_option_context (const char *command, const char *parameters, const char *summary,
                      const GOptionEntry *entries)
{
  g_autofree char *prgname = g_strdup_printf ("seatgatectl %s", command);
  GOptionContext *context = g_option_context_new (parameters);

  g_set_prgname (prgname);
  g_option_context_set_summary (context, summary);
  g_option_context_set_description (context, exit_statuses);
  if (entries != NULL)
    g_option_context_add_main_entries (context, entries, NULL);
  return context;
}

gboolean
sgctl_parse_options (GOptionContext *context, int *argc, char ***argv)
{
  g_autoptr (GError) error = NULL;

  if (!g_option_context_parse (context, argc, argv, &error))
    {
      g_printerr ("%s: %s (see --help)\n", g_get_prgname (), error->message);
      return FALSE;
    }
  return TRUE;
}

GDBusConnection *
sgctl_system_bus (GError **error)
{
  g_autoptr (GError) local_error = NULL;
  GDBusConnection *bus = g_bus_get_sync (G_BUS_TYPE_SYSTEM, NULL, &local_error);

  if (bus == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED, "cannot reach the system bus: %s",
                   local_error->message);
      return NULL;
    }
  return bus;
}

SgGate1 *
sgctl_gate_proxy (GDBusConnection *bus, gboolean autostart, GError **error)
{
  GDBusProxyFlags flags
      = autostart ? G_DBUS_PROXY_FLAGS_NONE : G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START;
  g_autoptr (SgGate1) proxy = NULL;
  g_autofree char *owner = NULL;

  /* Registers SG_ERROR's D-Bus names, so replies come back as SG_ERROR. */
  (void) sg_error_quark ();
  proxy = sg_gate1_proxy_new_sync (bus, flags, SGCTL_BUS_NAME, SGCTL_OBJECT_PATH, NULL, error);
  if (proxy == NULL)
    return NULL;
  owner = g_dbus_proxy_get_name_owner (G_DBUS_PROXY (proxy));
  if (owner == NULL && !autostart)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED,
                   "seatgate-helper is not on the system bus (no owner of %s): "
                   "is seatgate.service running? (systemctl status seatgate)",
                   SGCTL_BUS_NAME);
      return NULL;
    }
  return g_steal_pointer (&proxy);
}

GVariant *
sgctl_gate_get_property (GDBusConnection *bus, const char *name, GError **error)
{
  g_autoptr (GVariant) reply = NULL;
  GVariant *value = NULL;

  reply = g_dbus_connection_call_sync (
      bus, SGCTL_BUS_NAME, SGCTL_OBJECT_PATH, "org.freedesktop.DBus.Properties", "Get",
      g_variant_new ("(ss)", SGCTL_BUS_NAME, name), G_VARIANT_TYPE ("(v)"),
      G_DBUS_CALL_FLAGS_NO_AUTO_START, -1, NULL, error);
  if (reply == NULL)
    return NULL;
  g_variant_get (reply, "(v)", &value);
  return value;
}

int
sgctl_exit_for_error (const GError *error)
{
  if (error == NULL)
    return SGCTL_EXIT_OK;
  if (g_error_matches (error, SG_ERROR, SG_ERROR_NOT_SEAT_OWNER))
    return SGCTL_EXIT_NOT_SEAT_OWNER;
  if (g_error_matches (error, SG_ERROR, SG_ERROR_NOT_AUTHORIZED))
    return SGCTL_EXIT_NOT_AUTHORIZED;
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED)
      || g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN)
      || g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_NAME_HAS_NO_OWNER)
      || g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_NO_REPLY)
      || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CLOSED))
    return SGCTL_EXIT_NO_HELPER;
  return SGCTL_EXIT_FAILURE;
}

int
sgctl_fail (const char *what, GError *error)
{
  if (g_dbus_error_is_remote_error (error))
    g_dbus_error_strip_remote_error (error);
  if (what != NULL)
    g_printerr ("seatgatectl: %s: %s\n", what, error->message);
  else
    g_printerr ("seatgatectl: %s\n", error->message);
  return sgctl_exit_for_error (error);
}

char *
sgctl_error_dbus_name (const GError *error)
{
  char *name = g_dbus_error_get_remote_error (error);

  if (name == NULL && error->domain == SG_ERROR)
    name = g_strdup (sg_error_dbus_name ((SgError) error->code));
  return name;
}

void
sgctl_json_error (const GError *error)
{
  g_autoptr (SgctlJson) json = sgctl_json_new ();
  g_autofree char *name = sgctl_error_dbus_name (error);
  g_autofree char *message = g_strdup (error->message);

  if (g_dbus_error_is_remote_error (error))
    {
      g_autoptr (GError) copy = g_error_copy (error);
      g_dbus_error_strip_remote_error (copy);
      g_free (message);
      message = g_strdup (copy->message);
    }
  sgctl_json_begin_object (json);
  sgctl_json_member_bool (json, "ok", FALSE);
  sgctl_json_member_string (json, "error", name);
  sgctl_json_member_string (json, "message", message);
  sgctl_json_member_int (json, "exit_status", sgctl_exit_for_error (error));
  sgctl_json_end_object (json);
  sgctl_json_print (json);
}

char *
sgctl_user_name (guint32 uid)
{
  struct passwd *pw = getpwuid (uid);

  if (pw != NULL && pw->pw_name != NULL)
    return g_strdup (pw->pw_name);
  return g_strdup_printf ("%u", uid);
}

char *
sgctl_user_label (guint32 uid)
{
  struct passwd *pw = getpwuid (uid);

  if (pw != NULL && pw->pw_name != NULL)
    return g_strdup_printf ("%s (%u)", pw->pw_name, uid);
  return g_strdup_printf ("%u", uid);
}

gboolean
sgctl_parse_user (const char *text, guint32 *uid, GError **error)
{
  guint64 number = 0;
  struct passwd *pw;

  if (g_ascii_string_to_unsigned (text, 10, 0, G_MAXUINT32 - 1, &number, NULL))
    {
      *uid = (guint32) number;
      return TRUE;
    }
  pw = getpwnam (text);
  if (pw == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                   "no user named '%s' (give a user name or a numeric uid)", text);
      return FALSE;
    }
  *uid = pw->pw_uid;
  return TRUE;
}

char *
sgctl_ports_string (GVariant *ports)
{
  gsize n = 0;
  const guint16 *data = g_variant_get_fixed_array (ports, &n, sizeof (guint16));

  return sg_ports_to_string (data, n);
}

char *
sgctl_time_now (gboolean iso8601)
{
  g_autoptr (GDateTime) now = g_date_time_new_now_local ();

  if (iso8601)
    return g_date_time_format_iso8601 (now);
  return g_date_time_format (now, "%Y-%m-%d %H:%M:%S");
}
