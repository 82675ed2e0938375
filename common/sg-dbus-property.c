#include "sg-dbus-property.h"

#include "sg-error.h"

typedef struct
{
  char *property;
  GVariantType *type;
} PropertyRead;

static void
property_read_free (PropertyRead *read)
{
  g_free (read->property);
  g_variant_type_free (read->type);
  g_free (read);
}

static void
on_get (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  PropertyRead *read = g_task_get_task_data (task);
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply
      = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);
  g_autoptr (GVariant) value = NULL;

  if (reply == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  g_variant_get (reply, "(v)", &value);
  if (!g_variant_is_of_type (value, read->type))
    {
      g_autofree char *wanted = g_variant_type_dup_string (read->type);
      g_task_return_new_error (task, SG_ERROR, SG_ERROR_FAILED, "%s is of type %s, not %s",
                               read->property, g_variant_get_type_string (value), wanted);
      return;
    }
  g_task_return_pointer (task, g_steal_pointer (&value), (GDestroyNotify) g_variant_unref);
}

void
sg_dbus_property_read (GDBusConnection *bus, const char *name, const char *path,
                       const char *interface, const char *property, const GVariantType *type,
                       int timeout_ms, GCancellable *cancellable, GAsyncReadyCallback callback,
                       gpointer user_data)
{
  GTask *task = g_task_new (bus, cancellable, callback, user_data);
  PropertyRead *read = g_new0 (PropertyRead, 1);

  read->property = g_strdup (property);
  read->type = g_variant_type_copy (type);
  g_task_set_source_tag (task, sg_dbus_property_read);
  g_task_set_task_data (task, read, (GDestroyNotify) property_read_free);
  g_dbus_connection_call (bus, name, path, "org.freedesktop.DBus.Properties", "Get",
                          g_variant_new ("(ss)", interface, property), G_VARIANT_TYPE ("(v)"),
                          G_DBUS_CALL_FLAGS_NO_AUTO_START, timeout_ms, cancellable, on_get, task);
}

GVariant *
sg_dbus_property_read_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (G_IS_TASK (result), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == sg_dbus_property_read, NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

gboolean
sg_dbus_properties_changed_parse (GVariant *params, const char **interface, GVariant **changed,
                                  const char ***invalidated)
{
  if (params == NULL || !g_variant_is_of_type (params, G_VARIANT_TYPE ("(sa{sv}as)")))
    return FALSE;
  g_variant_get (params, "(&s@a{sv}^a&s)", interface, changed, invalidated);
  return TRUE;
}
