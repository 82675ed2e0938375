/* common/sg-dbus-property, sg-logind-uid and sg-wire-signals against a real
 * dbus-daemon (GTestDBus): a property of the type asked for, one of
 * another type, a cancelled read, a session's uid, and signal parameters
 * of the right and a wrong type. */
#include <gio/gio.h>

#include "sg-dbus-property.h"
#include "sg-error.h"
#include "sg-logind-uid.h"
#include "sg-logind.h"
#include "sg-wire-signals.h"

#define TEST_PATH "/org/freedesktop/login1/session/_2"
#define TEST_IFACE "io.github.seatgate.Test"
#define BIG_UID 4294967294u

static const char introspection[] = "<node>"
                                    " <interface name='" TEST_IFACE "'>"
                                    "  <property name='Seats' type='a(saq)' access='read'/>"
                                    "  <property name='Name' type='s' access='read'/>"
                                    " </interface>"
                                    " <interface name='" SG_LOGIND_SESSION "'>"
                                    "  <property name='User' type='(uo)' access='read'/>"
                                    " </interface>"
                                    "</node>";

static GVariant *
get_property (GDBusConnection *bus, const char *sender, const char *path, const char *iface,
              const char *property, GError **error, gpointer user_data)
{
  if (g_str_equal (property, "Seats"))
    return g_variant_new_parsed ("[('seat0', [@q 5930])]");
  if (g_str_equal (property, "Name"))
    return g_variant_new_string ("seat0");
  return g_variant_new ("(uo)", BIG_UID, "/org/freedesktop/login1/user/_4294967294");
}

static const GDBusInterfaceVTable vtable = { NULL, get_property, NULL, { 0 } };

typedef struct
{
  GTestDBus *dbus;
  GDBusConnection *bus;
  GDBusNodeInfo *node;
  guint ids[2];
  GAsyncResult *result;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  f->dbus = g_test_dbus_new (G_TEST_DBUS_NONE);
  g_test_dbus_up (f->dbus);
  f->bus = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, &error);
  g_assert_no_error (error);
  f->node = g_dbus_node_info_new_for_xml (introspection, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < G_N_ELEMENTS (f->ids); i++)
    {
      f->ids[i] = g_dbus_connection_register_object (f->bus, TEST_PATH, f->node->interfaces[i],
                                                     &vtable, NULL, NULL, &error);
      g_assert_no_error (error);
    }
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  g_clear_object (&f->result);
  for (guint i = 0; i < G_N_ELEMENTS (f->ids); i++)
    g_dbus_connection_unregister_object (f->bus, f->ids[i]);
  g_dbus_node_info_unref (f->node);
  g_object_unref (f->bus);
  g_test_dbus_down (f->dbus);
  g_object_unref (f->dbus);
}

static void
on_result (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Fixture *f = user_data;

  f->result = g_object_ref (result);
}

static void
wait_result (Fixture *f)
{
  while (f->result == NULL)
    g_main_context_iteration (NULL, TRUE);
}

static void
read_property (Fixture *f, const char *property, const char *type, GCancellable *cancellable)
{
  sg_dbus_property_read (f->bus, g_dbus_connection_get_unique_name (f->bus), TEST_PATH, TEST_IFACE,
                         property, G_VARIANT_TYPE (type), -1, cancellable, on_result, f);
  wait_result (f);
}

static void
test_property_of_the_type_asked_for (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  read_property (f, "Seats", "a(saq)", NULL);
  g_autoptr (GVariant) seats = sg_dbus_property_read_finish (f->result, &error);
  g_assert_no_error (error);
  g_autofree char *text = g_variant_print (seats, FALSE);
  g_assert_cmpstr (text, ==, "[('seat0', [5930])]");
}

static void
test_property_of_another_type_is_an_error_naming_both (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  read_property (f, "Name", "a(saq)", NULL);
  g_autoptr (GVariant) value = sg_dbus_property_read_finish (f->result, &error);
  g_assert_null (value);
  g_assert_error (error, SG_ERROR, SG_ERROR_FAILED);
  g_assert_cmpstr (error->message, ==, "Name is of type s, not a(saq)");
}

static void
test_cancelled_read_says_cancelled (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();

  g_cancellable_cancel (cancellable);
  read_property (f, "Seats", "a(saq)", cancellable);
  g_autoptr (GVariant) value = sg_dbus_property_read_finish (f->result, &error);
  g_assert_null (value);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

static void
test_session_uid_is_read_whole (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  const char *path = NULL;
  guint32 uid = 0;

  sg_logind_uid_read (f->bus, g_dbus_connection_get_unique_name (f->bus), TEST_PATH, -1, NULL,
                      on_result, f);
  wait_result (f);
  g_assert_true (sg_logind_uid_read_finish (f->result, &path, &uid, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (path, ==, TEST_PATH);
  g_assert_cmpuint (uid, ==, BIG_UID);
}

static void
test_session_uid_of_no_session_is_an_error_with_its_path (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  const char *path = NULL;
  guint32 uid = 7;

  sg_logind_uid_read (f->bus, g_dbus_connection_get_unique_name (f->bus),
                      "/org/freedesktop/login1/session/_9", -1, NULL, on_result, f);
  wait_result (f);
  g_assert_false (sg_logind_uid_read_finish (f->result, &path, &uid, &error));
  g_assert_nonnull (error);
  g_assert_cmpstr (path, ==, "/org/freedesktop/login1/session/_9");
  g_assert_cmpuint (uid, ==, 7);
}

static void
test_revoked_of_another_type_sets_nothing (void)
{
  g_autoptr (GVariant) good
      = g_variant_ref_sink (g_variant_new ("(sus)", "seat0", 1000, "session-changed"));
  g_autoptr (GVariant) forged = g_variant_ref_sink (g_variant_new ("(ss)", "seat0", "admin"));
  const char *seat = NULL, *reason = NULL;
  guint32 uid = 0;

  g_assert_true (sg_wire_revoked_parse (good, &seat, &uid, &reason));
  g_assert_cmpstr (seat, ==, "seat0");
  g_assert_cmpuint (uid, ==, 1000);
  g_assert_cmpstr (reason, ==, "session-changed");

  seat = reason = NULL;
  uid = 0;
  g_assert_false (sg_wire_revoked_parse (forged, &seat, &uid, &reason));
  g_assert_null (seat);
  g_assert_null (reason);
  g_assert_cmpuint (uid, ==, 0);
}

static void
test_properties_changed_parts (void)
{
  g_autoptr (GVariant) good = g_variant_ref_sink (g_variant_new_parsed (
      "('org.freedesktop.login1.Seat', {'ActiveSession': <('3', @o '/s/_3')>}, ['Sessions'])"));
  g_autoptr (GVariant) forged = g_variant_ref_sink (g_variant_new_parsed ("('x', 'y')"));
  const char *iface = NULL;
  g_autoptr (GVariant) changed = NULL;
  g_autofree const char **invalidated = NULL;

  g_assert_true (sg_dbus_properties_changed_parse (good, &iface, &changed, &invalidated));
  g_assert_cmpstr (iface, ==, "org.freedesktop.login1.Seat");
  g_assert_true (g_variant_lookup (changed, "ActiveSession", "(&s&o)", NULL, NULL));
  g_assert_cmpstrv (invalidated, ((const char *[]){ "Sessions", NULL }));
  /* Parts not asked for are not set. */
  g_assert_true (sg_dbus_properties_changed_parse (good, NULL, NULL, NULL));

  const char *untouched = "untouched";
  iface = untouched;
  g_assert_false (sg_dbus_properties_changed_parse (forged, &iface, NULL, NULL));
  g_assert_true (iface == untouched);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/dbus-property/of-the-type-asked-for", Fixture, NULL, fixture_set_up,
              test_property_of_the_type_asked_for, fixture_tear_down);
  g_test_add ("/dbus-property/of-another-type-is-an-error-naming-both", Fixture, NULL,
              fixture_set_up, test_property_of_another_type_is_an_error_naming_both,
              fixture_tear_down);
  g_test_add ("/dbus-property/cancelled-read-says-cancelled", Fixture, NULL, fixture_set_up,
              test_cancelled_read_says_cancelled, fixture_tear_down);
  g_test_add ("/logind-uid/read-whole", Fixture, NULL, fixture_set_up,
              test_session_uid_is_read_whole, fixture_tear_down);
  g_test_add ("/logind-uid/no-session-is-an-error-with-its-path", Fixture, NULL, fixture_set_up,
              test_session_uid_of_no_session_is_an_error_with_its_path, fixture_tear_down);
  g_test_add_func ("/wire-signals/revoked-of-another-type-sets-nothing",
                   test_revoked_of_another_type_sets_nothing);
  g_test_add_func ("/dbus-property/properties-changed-parts", test_properties_changed_parts);
  return g_test_run ();
}
