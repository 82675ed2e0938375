#include "logind-info.h"

#define LOGIND_NAME SG_LOGIND_NAME
#define LOGIND_PATH SG_LOGIND_PATH
#define LOGIND_MANAGER SG_LOGIND_MANAGER
#define LOGIND_SEAT SG_LOGIND_SEAT
#define LOGIND_SESSION SG_LOGIND_SESSION
#define CALL_TIMEOUT_MS 5000

static GVariant *
get_all (GDBusConnection *bus, const char *path, const char *iface, GError **error)
{
  g_autoptr (GVariant) reply = g_dbus_connection_call_sync (
      bus, LOGIND_NAME, path, "org.freedesktop.DBus.Properties", "GetAll",
      g_variant_new ("(s)", iface), G_VARIANT_TYPE ("(a{sv})"), G_DBUS_CALL_FLAGS_NO_AUTO_START,
      CALL_TIMEOUT_MS, NULL, error);

  if (reply == NULL)
    return NULL;
  return g_variant_get_child_value (reply, 0);
}

gboolean
sgctl_logind_active_session (GDBusConnection *bus, const char *seat, SgLogindSession **session,
                             GError **error)
{
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariant) seat_props = NULL;
  g_autoptr (GVariant) session_props = NULL;
  const char *seat_path = NULL, *session_id = NULL, *session_path = NULL;

  *session = NULL;
  reply = g_dbus_connection_call_sync (
      bus, LOGIND_NAME, LOGIND_PATH, LOGIND_MANAGER, "GetSeat", g_variant_new ("(s)", seat),
      G_VARIANT_TYPE ("(o)"), G_DBUS_CALL_FLAGS_NO_AUTO_START, CALL_TIMEOUT_MS, NULL, &local_error);
  if (reply == NULL)
    {
      g_autofree char *remote = g_dbus_error_get_remote_error (local_error);
      if (g_strcmp0 (remote, SG_LOGIND_ERROR "NoSuchSeat") == 0)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "logind knows no seat '%s'", seat);
          return FALSE;
        }
      g_dbus_error_strip_remote_error (local_error);
      g_set_error (error, local_error->domain, local_error->code, "cannot ask logind: %s",
                   local_error->message);
      return FALSE;
    }
  g_variant_get (reply, "(&o)", &seat_path);

  seat_props = get_all (bus, seat_path, LOGIND_SEAT, error);
  if (seat_props == NULL)
    return FALSE;
  g_auto (GVariantDict) seat_dict;
  g_variant_dict_init (&seat_dict, seat_props);
  if (!g_variant_dict_lookup (&seat_dict, "ActiveSession", "(&s&o)", &session_id, &session_path)
      || *session_id == '\0')
    return TRUE;

  session_props = get_all (bus, session_path, LOGIND_SESSION, error);
  if (session_props == NULL)
    return FALSE;
  g_autoptr (SgLogindSession) s = sg_logind_session_new (session_path);
  s->id = g_strdup (session_id);
  sg_logind_session_apply (s, session_props);
  *session = g_steal_pointer (&s);
  return TRUE;
}
