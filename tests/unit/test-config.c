#include <gio/gio.h>
#include <glib/gstdio.h>

#include "sg-config.h"
#include "sg-error.h"

static SgConfig *
load_ok (const char *text)
{
  g_autoptr (GError) error = NULL;
  SgConfig *config = sg_config_load_data (text, strlen (text), "test.conf", FALSE, &error);

  g_assert_no_error (error);
  g_assert_nonnull (config);
  return config;
}

static guint16
port_at (const SgSeatConfig *seat, guint i)
{
  return g_array_index (seat->ports, guint16, i);
}

static void
test_example_file_parses (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = g_test_build_filename (G_TEST_DIST, "..", "..", "data", "seatgate.conf",
                                                 NULL);
  g_autoptr (SgConfig) config = sg_config_load_file (path, &error);

  g_assert_no_error (error);
  g_assert_cmpstr (config->path, ==, path);
  g_assert_cmpuint (config->seats->len, ==, 1);
  const SgSeatConfig *seat = sg_config_find_seat (config, "seat0");
  g_assert_nonnull (seat);
  g_assert_cmpuint (seat->ports->len, ==, 1);
  g_assert_cmpuint (port_at (seat, 0), ==, 5930);
  g_assert_cmpuint (config->always_allow->len, ==, 0);
  g_assert_cmpint (config->table_mode, ==, SG_TABLE_MODE_AUTO);
}

static void
test_default_gates_seat0_5930 (void)
{
  g_autoptr (SgConfig) config = sg_config_new_default ();
  const SgSeatConfig *seat = sg_config_find_seat (config, "seat0");

  g_assert_nonnull (seat);
  g_assert_cmpuint (port_at (seat, 0), ==, 5930);
  g_assert_null (config->path);
}

static void
test_multiseat (void)
{
  g_autoptr (SgConfig) config = load_ok ("# lab 3\n"
                                         "[Gate]\n"
                                         "AlwaysAllow=64055; 0;64055\n"
                                         "TableMode=plain\n"
                                         "\n"
                                         "[Seat seat0]\n"
                                         "Ports=5930\n"
                                         "[Seat seat-b_2]\n"
                                         "  Ports = 5931-5933 ;6000  \n"
                                         "[Agent]\n"
                                         "ViewerCommand=remote-viewer --full-screen spice://127.0.0.1:%p\n");
  g_autoptr (GArray) all = sg_config_all_ports (config);

  g_assert_cmpuint (config->seats->len, ==, 2);
  const SgSeatConfig *b = sg_config_find_seat (config, "seat-b_2");
  g_assert_nonnull (b);
  g_assert_cmpuint (b->ports->len, ==, 4);
  g_assert_cmpuint (port_at (b, 3), ==, 6000);
  g_assert_cmpuint (b->line, ==, 8);
  g_assert_true (sg_config_seat_for_port (config, 5932) == b);
  g_assert_cmpstr (sg_config_seat_for_port (config, 5930)->name, ==, "seat0");
  g_assert_null (sg_config_seat_for_port (config, 22));
  g_assert_cmpuint (all->len, ==, 5);
  g_assert_cmpuint (g_array_index (all, guint16, 0), ==, 5930);
  g_assert_cmpuint (g_array_index (all, guint16, 4), ==, 6000);
  g_assert_cmpuint (config->always_allow->len, ==, 2);
  g_assert_cmpint (config->table_mode, ==, SG_TABLE_MODE_PLAIN);
  g_assert_cmpstr (config->viewer_command, ==,
                   "remote-viewer --full-screen spice://127.0.0.1:%p");
  g_assert_null (sg_config_find_seat (config, "seat9"));
}

static void
test_crlf_and_comments (void)
{
  g_autoptr (SgConfig) config = load_ok ("\xef\xbb\xbf#x\r\n[Seat seat0]\r\n  # c\r\nPorts=5930\r\n");
  g_assert_cmpuint (port_at (g_ptr_array_index (config->seats, 0), 0), ==, 5930);
}

typedef struct
{
  const char *text;
  const char *expected; /* "test.conf:LINE: ..." prefix and a key part */
  const char *part;
} BadCase;

static const BadCase bad_cases[] = {
  { "", "test.conf:1:", "no seat is configured" },
  { "# nothing\n", "test.conf:1:", "no seat is configured" },
  { "[Gate]\nAlwaysAllow=\n", "test.conf:1:", "no seat is configured" },
  { "[Seat seat0]\n", "test.conf:1:", "has no Ports" },
  { "[Seat seat0]\nPorts=0\n", "test.conf:2:", "[Seat seat0] Ports: port 0 is out of range" },
  { "[Seat seat0]\nPorts=65536\n", "test.conf:2:", "out of range" },
  { "[Seat seat0]\nPorts=abc\n", "test.conf:2:", "'abc' is not a port" },
  { "[Seat seat0]\nPorts=5935-5930\n", "test.conf:2:", "reversed" },
  { "[Seat seat0]\nPorts=\n", "test.conf:2:", "no ports given" },
  { "[Seat seat0]\nPorts=5930\n[Seat seat1]\nPorts=5929-5931\n", "test.conf:3:",
    "port 5930 is gated by [Seat seat0] (line 1) too" },
  { "[Seat seat0]\nPorts=5930\nPort=5931\n", "test.conf:3:", "has no key 'Port'" },
  { "[Seat seat0]\nPorts=5930\nPorts=5931\n", "test.conf:3:", "Ports is set twice" },
  { "[Seat seat0]\nPorts=5930\n[Seat seat0]\nPorts=5931\n", "test.conf:3:",
    "group [Seat seat0] appears again (first at line 1)" },
  { "[Gate]\n[Gate]\n[Seat seat0]\nPorts=1\n", "test.conf:2:", "appears again" },
  { "[Seats seat0]\nPorts=5930\n", "test.conf:1:", "unknown group [Seats seat0]" },
  { "[Seat console]\nPorts=5930\n", "test.conf:1:", "not a logind seat name" },
  { "[Seat seat 0]\nPorts=5930\n", "test.conf:1:", "not a logind seat name" },
  { "Ports=5930\n", "test.conf:1:", "stands before any group" },
  { "[Seat seat0\nPorts=5930\n", "test.conf:1:", "not a group header" },
  { "[Seat seat0]\nPorts 5930\n", "test.conf:2:", "neither a [Group] nor a Key=value" },
  { "[Seat seat0]\n=5930\n", "test.conf:2:", "starts with '='" },
  { "[Gate]\nAlwaysAllow=alice\n[Seat seat0]\nPorts=1\n", "test.conf:2:", "'alice' is not a uid" },
  { "[Gate]\nAlwaysAllow=-1\n", "test.conf:2:", "is not a uid" },
  { "[Gate]\nAlwaysAllow=4294967295\n", "test.conf:2:", "is not a uid" },
  { "[Gate]\nAlwaysAllow=99999999999\n", "test.conf:2:", "is not a uid" },
  { "[Gate]\nTableMode=owned\n", "test.conf:2:", "'owned' is not a mode" },
  { "[Gate]\nColour=red\n", "test.conf:2:", "[Gate] has no key 'Colour'" },
  { "[Agent]\nViewerCommand=remote-viewer 'spice\n", "test.conf:2:", "is not a command line" },
  { "[Agent]\nViewer=x\n", "test.conf:2:", "[Agent] has no key 'Viewer'" },
  { "[Seat seat0]\nPorts=5930\n\xff\xfe\n", "test.conf:3:", "not UTF-8" },
};

static void
test_bad_configs_name_line_and_key (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (bad_cases); i++)
    {
      const BadCase *c = &bad_cases[i];
      g_autoptr (GError) error = NULL;
      g_autoptr (SgConfig) config = sg_config_load_data (c->text, strlen (c->text), "test.conf",
                                                         FALSE, &error);
      g_assert_null (config);
      g_assert_error (error, SG_ERROR, SG_ERROR_INVALID_CONFIG);
      if (!g_str_has_prefix (error->message, c->expected) || strstr (error->message, c->part) == NULL)
        g_error ("case %u: got '%s', want '%s' … '%s'", i, error->message, c->expected, c->part);
    }
}

static void
test_binary_refused (void)
{
  const char data[] = { '[', 'S', 0, 1, 2, '\n' };
  g_autoptr (GError) error = NULL;
  g_autoptr (SgConfig) config = sg_config_load_data (data, sizeof data, "bin.conf", FALSE, &error);

  g_assert_null (config);
  g_assert_error (error, SG_ERROR, SG_ERROR_INVALID_CONFIG);
  g_assert_nonnull (strstr (error->message, "NUL byte"));
}

static void
test_agent_only_file (void)
{
  g_autoptr (GError) error = NULL;
  const char *good = "[Agent]\nViewerCommand=spicy -h 127.0.0.1 -p %p\n";
  const char *bad = "[Agent]\n[Seat seat0]\nPorts=1\n";
  g_autoptr (SgConfig) config = sg_config_load_data (good, strlen (good), "agent.conf", TRUE,
                                                     &error);
  g_assert_no_error (error);
  g_assert_cmpuint (config->seats->len, ==, 0);
  g_assert_cmpstr (config->viewer_command, ==, "spicy -h 127.0.0.1 -p %p");

  g_autoptr (SgConfig) refused = sg_config_load_data (bad, strlen (bad), "agent.conf", TRUE,
                                                      &error);
  g_assert_null (refused);
  g_assert_error (error, SG_ERROR, SG_ERROR_INVALID_CONFIG);
  g_assert_nonnull (strstr (error->message, "agent.conf:2:"));
  g_assert_nonnull (strstr (error->message, "this file holds only [Agent]"));
}

static void
test_files (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("sg-config-XXXXXX", &error);
  g_autofree char *missing = g_build_filename (dir, "missing.conf", NULL);
  g_autofree char *huge = g_build_filename (dir, "huge.conf", NULL);
  g_autofree char *big_text = g_strnfill (SG_CONFIG_MAX_SIZE + 1, '#');

  g_assert_null (sg_config_load_file (missing, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_clear_error (&error);

  g_assert_null (sg_config_load_file (dir, &error));
  g_assert_error (error, SG_ERROR, SG_ERROR_INVALID_CONFIG);
  g_clear_error (&error);

  g_assert_true (g_file_set_contents (huge, big_text, -1, NULL));
  g_assert_null (sg_config_load_file (huge, &error));
  g_assert_error (error, SG_ERROR, SG_ERROR_INVALID_CONFIG);
  g_assert_true (g_str_has_prefix (error->message, huge));
  g_assert_nonnull (strstr (error->message, "at most"));

  g_unlink (huge);
  g_rmdir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/config/example-file-parses", test_example_file_parses);
  g_test_add_func ("/config/default-gates-seat0-5930", test_default_gates_seat0_5930);
  g_test_add_func ("/config/multiseat", test_multiseat);
  g_test_add_func ("/config/crlf-and-comments", test_crlf_and_comments);
  g_test_add_func ("/config/bad-configs-name-line-and-key", test_bad_configs_name_line_and_key);
  g_test_add_func ("/config/binary-refused", test_binary_refused);
  g_test_add_func ("/config/agent-only-file", test_agent_only_file);
  g_test_add_func ("/config/files", test_files);
  return g_test_run ();
}
