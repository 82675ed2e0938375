#include "sg-logind-uid.h"

#include "sg-dbus-property.h"
#include "sg-logind.h"

static void
on_user_read (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) user = sg_dbus_property_read_finish (result, &error);
  guint32 uid;

  if (user == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  g_variant_get (user, "(u&o)", &uid, NULL);
  g_task_return_int (task, (gssize) uid);
}

void
sg_logind_uid_read (GDBusConnection *bus, const char *name, const char *path, int timeout_ms,
                    GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (bus, cancellable, callback, user_data);

  g_task_set_source_tag (task, sg_logind_uid_read);
  g_task_set_task_data (task, g_strdup (path), g_free);
  sg_dbus_property_read (bus, name, path, SG_LOGIND_SESSION, "User", G_VARIANT_TYPE ("(uo)"),
                         timeout_ms, cancellable, on_user_read, task);
}

gboolean
sg_logind_uid_read_finish (GAsyncResult *result, const char **path, guint32 *uid, GError **error)
{
  g_return_val_if_fail (G_IS_TASK (result), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == sg_logind_uid_read, FALSE);
  g_autoptr (GError) local = NULL;
  /* The error tells, not the sign: where gssize has 32 bits, a large uid is
   * negative. */
  gssize value = g_task_propagate_int (G_TASK (result), &local);

  *path = g_task_get_task_data (G_TASK (result));
  if (local != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }
  *uid = (guint32) value;
  return TRUE;
}
