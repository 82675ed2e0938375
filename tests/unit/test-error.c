#include <gio/gio.h>

#include "sg-error.h"

static void
test_codes_map_to_dbus_names (void)
{
  g_assert_cmpstr (sg_error_dbus_name (SG_ERROR_NOT_SEAT_OWNER), ==,
                   "io.github.seatgate.Error.NotSeatOwner");
  g_assert_cmpstr (sg_error_dbus_name (SG_ERROR_NOT_AUTHORIZED), ==,
                   "io.github.seatgate.Error.NotAuthorized");
  g_assert_cmpstr (sg_error_dbus_name (SG_ERROR_FAILED), ==, "io.github.seatgate.Error.Failed");
}

static void
test_error_crosses_the_bus_and_back (void)
{
  g_autoptr (GError) error = g_error_new_literal (SG_ERROR, SG_ERROR_NOT_SEAT_OWNER, "not yours");
  g_autofree char *name = g_dbus_error_encode_gerror (error);
  g_assert_cmpstr (name, ==, "io.github.seatgate.Error.NotSeatOwner");

  /* What a client sees when the helper returns it. */
  g_autoptr (GError) remote = g_dbus_error_new_for_dbus_error (name, "not yours");
  g_assert_error (remote, SG_ERROR, SG_ERROR_NOT_SEAT_OWNER);
  g_dbus_error_strip_remote_error (remote);
  g_assert_cmpstr (remote->message, ==, "not yours");
}

static void
test_every_code_has_a_distinct_name (void)
{
  g_autoptr (GHashTable) names = g_hash_table_new (g_str_hash, g_str_equal);
  for (int code = 0; code < SG_ERROR_N_CODES; code++)
    {
      const char *name = sg_error_dbus_name (code);
      g_assert_nonnull (name);
      g_assert_true (g_str_has_prefix (name, "io.github.seatgate.Error."));
      g_assert_true (g_hash_table_add (names, (gpointer) name));
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/error/codes-map-to-dbus-names", test_codes_map_to_dbus_names);
  g_test_add_func ("/error/crosses-the-bus-and-back", test_error_crosses_the_bus_and_back);
  g_test_add_func ("/error/every-code-has-a-distinct-name", test_every_code_has_a_distinct_name);
  return g_test_run ();
}
