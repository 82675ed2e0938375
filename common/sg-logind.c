#include "sg-logind.h"

#include <glib/gi18n-lib.h>

#include "sg-error.h"

SgLogindSession *
sg_logind_session_new (const char *object_path)
{
  SgLogindSession *session = g_new0 (SgLogindSession, 1);

  session->object_path = g_strdup (object_path);
  session->seat = g_strdup ("");
  return session;
}

void
sg_logind_session_clear (SgLogindSession *session)
{
  g_clear_pointer (&session->id, g_free);
  g_clear_pointer (&session->object_path, g_free);
  g_clear_pointer (&session->name, g_free);
  g_clear_pointer (&session->seat, g_free);
  g_clear_pointer (&session->remote_host, g_free);
  g_clear_pointer (&session->session_class, g_free);
  g_clear_pointer (&session->type, g_free);
  g_clear_pointer (&session->state, g_free);
}

void
sg_logind_session_free (SgLogindSession *session)
{
  if (session == NULL)
    return;
  sg_logind_session_clear (session);
  g_free (session);
}

static void
replace_string (char **field, GVariant *value)
{
  g_free (*field);
  *field = g_variant_dup_string (value, NULL);
}

void
sg_logind_session_apply (SgLogindSession *session, GVariant *props)
{
  GVariantIter iter;
  const char *key;
  GVariant *value;

  g_variant_iter_init (&iter, props);
  while (g_variant_iter_next (&iter, "{&sv}", &key, &value))
    {
      if (g_variant_is_of_type (value, G_VARIANT_TYPE_STRING))
        {
          if (g_str_equal (key, "Id"))
            replace_string (&session->id, value);
          else if (g_str_equal (key, "Name"))
            replace_string (&session->name, value);
          else if (g_str_equal (key, "RemoteHost"))
            replace_string (&session->remote_host, value);
          else if (g_str_equal (key, "Class"))
            replace_string (&session->session_class, value);
          else if (g_str_equal (key, "Type"))
            replace_string (&session->type, value);
          else if (g_str_equal (key, "State"))
            replace_string (&session->state, value);
        }
      else if (g_variant_is_of_type (value, G_VARIANT_TYPE_BOOLEAN))
        {
          if (g_str_equal (key, "Remote"))
            session->remote = g_variant_get_boolean (value);
          else if (g_str_equal (key, "Active"))
            session->active = g_variant_get_boolean (value);
        }
      else if (g_str_equal (key, "User") && g_variant_is_of_type (value, G_VARIANT_TYPE ("(uo)")))
        g_variant_get (value, "(u&o)", &session->uid, NULL);
      else if (g_str_equal (key, "Seat") && g_variant_is_of_type (value, G_VARIANT_TYPE ("(so)")))
        {
          g_free (session->seat);
          g_variant_get (value, "(s&o)", &session->seat, NULL);
        }
      g_variant_unref (value);
    }
}

SgLogindSession *
sg_logind_session_from_props (const char *object_path, GVariant *props, GError **error)
{
  static const struct
  {
    const char *key, *type;
  } required[] = {
    { "Id", "s" },    { "User", "(uo)" }, { "Seat", "(so)" }, { "Remote", "b" },
    { "Class", "s" }, { "Type", "s" },    { "Active", "b" },  { "State", "s" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (required); i++)
    {
      g_autoptr (GVariant) value
          = g_variant_lookup_value (props, required[i].key, G_VARIANT_TYPE (required[i].type));
      if (value == NULL)
        {
          g_set_error (error, SG_ERROR, SG_ERROR_FAILED,
                       "logind's answer for session %s lacks its %s (of type %s)", object_path,
                       required[i].key, required[i].type);
          return NULL;
        }
    }
  SgLogindSession *session = sg_logind_session_new (object_path);
  sg_logind_session_apply (session, props);
  return session;
}

guint
sg_logind_subscribe (GDBusConnection *bus, const char *owner, const char *interface,
                     const char *member, const char *path, const char *arg0,
                     GDBusSignalCallback callback, gpointer user_data)
{
  /* A unique name starts with ':'; the well-known one would believe anyone. */
  g_return_val_if_fail (owner != NULL && owner[0] == ':', 0);
  return g_dbus_connection_signal_subscribe (bus, owner, interface, member, path, arg0,
                                             G_DBUS_SIGNAL_FLAGS_NONE, callback, user_data, NULL);
}

void
sg_logind_unsubscribe (GDBusConnection *bus, guint *id)
{
  if (*id != 0)
    g_dbus_connection_signal_unsubscribe (bus, *id);
  *id = 0;
}

char *
sg_logind_session_flaw (const char *seat, const char *wanted_seat, gboolean remote,
                        const char *session_class, gboolean active, const char *state)
{
  if (remote)
    return g_strdup (_ ("remote session"));
  if (seat == NULL || *seat == '\0')
    return g_strdup (_ ("no seat"));
  if (wanted_seat != NULL && g_strcmp0 (seat, wanted_seat) != 0)
    /* TRANSLATORS: seat ids, e.g. "on seat1, not on seat0" */
    return g_strdup_printf (_ ("on %s, not on %s"), seat, wanted_seat);
  /* systemd >= 256 has two more classes that are almost "user": a homed
   * user's session before the home is unlocked (user-incomplete, upgraded to
   * user later), and root's console session before its service manager runs
   * (user-early). Neither is granted: the first has no person logged in yet,
   * the second is root, who needs no gate (AlwaysAllow=0 if root must). */
  if (g_strcmp0 (session_class, "user-incomplete") == 0)
    return g_strdup (_ ("a session still being set up (class user-incomplete; its home directory "
                        "is not unlocked yet)"));
  if (g_strcmp0 (session_class, "user") != 0)
    return g_strdup_printf (_ ("not a user session (class %s)"),
                            session_class != NULL ? session_class : "unknown");
  /* State changes without a signal; "closing" with Active still true is a
   * logged-out session whose processes linger. */
  if (active && g_strcmp0 (state, "closing") == 0)
    return g_strdup (_ ("logged out (processes of the session are still running)"));
  if (!active || (state != NULL && g_strcmp0 (state, "active") != 0))
    return g_strdup_printf (_ ("not the active session on %s"), seat);
  return NULL;
}
