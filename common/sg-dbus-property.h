/* Reading one D-Bus property: org.freedesktop.DBus.Properties.Get, the
 * variant unwrapped and its type checked, for the helper and the agent
 * alike (logind's seats and sessions, the helper's Seats). */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* Reads @interface's @property of @path from @name. Pass a unique name
 * where answers must come from the owner whose signals are followed. Never
 * starts @name by bus activation. */
void sg_dbus_property_read (GDBusConnection *bus, const char *name, const char *path,
                            const char *interface, const char *property, const GVariantType *type,
                            int timeout_ms, GCancellable *cancellable, GAsyncReadyCallback callback,
                            gpointer user_data);

/* The property's value, of the type asked for. NULL with @error when the
 * call failed (G_IO_ERROR_CANCELLED once the cancellable is cancelled:
 * the caller's data may be gone) or the value has another type
 * (SG_ERROR_FAILED, naming both). */
GVariant *sg_dbus_property_read_finish (GAsyncResult *result, GError **error);

/* PropertiesChanged (s interface, a{sv} changed, as invalidated) as a
 * signal handler gets it: TRUE with the parts asked for set (@interface
 * pointing into @params, @changed a new reference, @invalidated an array to
 * g_free of strings in @params); FALSE, with nothing set, for parameters of
 * another type. Any part may be NULL. */
gboolean sg_dbus_properties_changed_parse (GVariant *params, const char **interface,
                                           GVariant **changed, const char ***invalidated);

G_END_DECLS
