#include <gio/gio.h>

#include "sg-error.h"
#include "sg-ports.h"

static GArray *
parse_ok (const char *value)
{
  g_autoptr (GError) error = NULL;
  GArray *ports = g_array_new (FALSE, FALSE, sizeof (guint16));

  g_assert_true (sg_ports_parse (value, ports, &error));
  g_assert_no_error (error);
  return ports;
}

static void
assert_refused (const char *value, const char *expected_part)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GArray) ports = g_array_new (FALSE, FALSE, sizeof (guint16));

  g_assert_false (sg_ports_parse (value, ports, &error));
  g_assert_error (error, SG_ERROR, SG_ERROR_INVALID_CONFIG);
  if (strstr (error->message, expected_part) == NULL)
    g_error ("'%s': message '%s' lacks '%s'", value, error->message, expected_part);
}

static void
test_single_port (void)
{
  g_autoptr (GArray) ports = parse_ok ("5930");
  g_assert_cmpuint (ports->len, ==, 1);
  g_assert_cmpuint (g_array_index (ports, guint16, 0), ==, 5930);
}

static void
test_list_and_ranges_sorted (void)
{
  g_autoptr (GArray) ports = parse_ok (" 5935 ; 5930-5932,6000");
  const guint16 expected[] = { 5930, 5931, 5932, 5935, 6000 };

  g_assert_cmpuint (ports->len, ==, G_N_ELEMENTS (expected));
  for (guint i = 0; i < G_N_ELEMENTS (expected); i++)
    g_assert_cmpuint (g_array_index (ports, guint16, i), ==, expected[i]);
}

static void
test_limits (void)
{
  g_autoptr (GArray) low = parse_ok ("1");
  g_autoptr (GArray) high = parse_ok ("65535");
  g_assert_cmpuint (g_array_index (low, guint16, 0), ==, 1);
  g_assert_cmpuint (g_array_index (high, guint16, 0), ==, 65535);
}

static void
test_bad_items_refused (void)
{
  assert_refused ("0", "out of range");
  assert_refused ("65536", "out of range");
  assert_refused ("99999", "out of range");
  assert_refused ("abc", "is not a port");
  assert_refused ("59 30", "is not a port");
  assert_refused ("+5930", "is not a port");
  assert_refused ("0x1000", "is not a port");
  assert_refused ("-5", "is not a port");
  assert_refused ("5935-5930", "reversed");
  assert_refused ("5930-", "is not a port");
  assert_refused ("5930;5930", "listed twice");
  assert_refused ("5930-5935;5933", "listed twice");
  assert_refused ("5935;5930-5940", "listed twice");
  assert_refused ("7;3-7", "listed twice");
  assert_refused ("", "no ports");
  assert_refused (" ; ;", "no ports");
  assert_refused ("1-65535", "at most");
}

static void
test_to_string_compacts_ranges (void)
{
  const guint16 ports[] = { 22, 5930, 5931, 5932, 6000, 6002 };
  g_autofree char *text = sg_ports_to_string (ports, G_N_ELEMENTS (ports));
  g_assert_cmpstr (text, ==, "22, 5930-5932, 6000, 6002");
}

static void
test_contains (void)
{
  const guint16 ports[] = { 10, 20, 30 };
  g_assert_true (sg_ports_contains (ports, 3, 10));
  g_assert_true (sg_ports_contains (ports, 3, 30));
  g_assert_false (sg_ports_contains (ports, 3, 25));
  g_assert_false (sg_ports_contains (ports, 0, 10));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/ports/single", test_single_port);
  g_test_add_func ("/ports/list-and-ranges-sorted", test_list_and_ranges_sorted);
  g_test_add_func ("/ports/limits", test_limits);
  g_test_add_func ("/ports/bad-items-refused", test_bad_items_refused);
  g_test_add_func ("/ports/to-string-compacts-ranges", test_to_string_compacts_ranges);
  g_test_add_func ("/ports/contains", test_contains);
  return g_test_run ();
}
