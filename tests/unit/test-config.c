#include <gio/gio.h>
#include <glib/gstdio.h>
#include <unistd.h>

#include "sg-build-config.h"
#include "sg-config.h"
#include "sg-error.h"
#include "sg-qkeycode.h"

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
  g_autofree char *path
      = g_test_build_filename (G_TEST_DIST, "..", "..", "data", "seatgate.conf", NULL);
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
  g_autoptr (SgConfig) config
      = load_ok ("# lab 3\n"
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
  g_assert_cmpstr (config->viewer_command, ==, "remote-viewer --full-screen spice://127.0.0.1:%p");
  g_assert_null (sg_config_find_seat (config, "seat9"));
}

static void
test_crlf_and_comments (void)
{
  g_autoptr (SgConfig) config
      = load_ok ("\xef\xbb\xbf#x\r\n[Seat seat0]\r\n  # c\r\nPorts=5930\r\n");
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
  { "[Seat seat0]\nPorts=5930\n[Seat seat1]\nPorts=5929-5931\n",
    "test.conf:4:", "[Seat seat1] Ports: port 5930 is gated by [Seat seat0] (line 2) too" },
  { "[Seat seat0]\nPorts=5930\nPort=5931\n", "test.conf:3:", "has no key 'Port'" },
  { "[Seat seat0]\nPorts=5930\nPorts=5931\n", "test.conf:3:", "Ports is set twice" },
  { "[Seat seat0]\nPorts=5930\n[Seat seat0]\nPorts=5931\n",
    "test.conf:3:", "group [Seat seat0] appears again (first at line 1)" },
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
  { "[Seat seat0]\nPorts=5930\nQMPSocket=run/vm.qmp\n",
    "test.conf:3:", "[Seat seat0] QMPSocket: 'run/vm.qmp' is not an absolute path" },
  { "[Seat seat0]\nPorts=5930\nQMPSocket=/run/vm\x01.qmp\n",
    "test.conf:3:", "[Seat seat0] QMPSocket: the path holds a control character" },
  { "[Seat seat0]\nPorts=5930\nQMPSocket=/run/"
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    "aaaaaaaaa.qmp\n",
    "test.conf:3:", "QMPSocket: the path is 108 bytes; a unix socket path is at most 107" },
  { "[Seat seat0]\nPorts=5930\nQMPSocket=/run/a.qmp\n[Seat seat1]\nPorts=5931\n"
    "QMPSocket=/run/a.qmp\n",
    "test.conf:6:", "[Seat seat1] QMPSocket: /run/a.qmp is [Seat seat0]'s VM socket too" },
  { "[Seat seat0]\nPorts=5930\nQMPSocket=/run/a\nQMPSocket=/run/b\n",
    "test.conf:4:", "QMPSocket is set twice" },
  { "[Seat seat0]\nPorts=5930\nLockKeys=meta_l+l\n", "test.conf:3:",
    "[Seat seat0] LockKeys: the keys go to the seat's VM, and the seat has no VM binding: set "
    "QMPSocket=" },
  { "[Seat seat0]\nPorts=5930\nQMPSocket=/run/a.qmp\nLockKeys=super+l\n",
    "test.conf:4:", "[Seat seat0] LockKeys: 'super' is not a QEMU key name" },
  { "[Seat seat0]\nPorts=5930\nQMPSocket=/run/a.qmp\nLockKeys=L\n",
    "test.conf:4:", "'L' is not a QEMU key name" },
  { "[Seat seat0]\nPorts=5930\nQMPSocket=/run/a.qmp\nLockKeys=ctrl++l\n",
    "test.conf:4:", "'ctrl++l' has an empty key name" },
  { "[Seat seat0]\nPorts=5930\nQMPSocket=/run/a.qmp\nLockKeys=ctrl+alt+ctrl\n",
    "test.conf:4:", "'ctrl' is named twice" },
  { "[Seat seat0]\nPorts=5930\nQMPSocket=/run/a.qmp\nLockKeys=a+b+c+d+e+f+g+h+i\n",
    "test.conf:4:", "9 keys; a combination is at most 8" },
#if SG_HAVE_LIBVIRT
  { "[Seat seat0]\nPorts=5930\nLibvirtDomain=win11\nQMPSocket=/run/a.qmp\n", "test.conf:3:",
    "[Seat seat0] LibvirtDomain: the seat's VM is bound by QMPSocket= too (test.conf:4): a seat "
    "has "
    "one VM binding" },
  { "[Seat seat0]\nPorts=5930\nLibvirtURI=qemu:///system\n", "test.conf:3:",
    "[Seat seat0] LibvirtURI: it says where the seat's libvirt domain is, and the seat has no "
    "LibvirtDomain=" },
  { "[Seat seat0]\nPorts=5930\nLibvirtDomain=win\x01\n",
    "test.conf:3:", "[Seat seat0] LibvirtDomain: the value holds a control character" },
  { "[Seat seat0]\nPorts=5930\nLibvirtDomain=w\nLibvirtURI=system\n", "test.conf:4:",
    "[Seat seat0] LibvirtURI: 'system' is not a libvirt URI: write e.g. "
    "LibvirtURI=qemu:///system" },
  { "[Seat seat0]\nPorts=5930\nLibvirtDomain=w\nLibvirtDomain=v\n",
    "test.conf:4:", "LibvirtDomain is set twice" },
  { "[Seat seat0]\nPorts=5930\nLibvirtDomain=win11\n[Seat seat1]\nPorts=5931\n"
    "LibvirtDomain=win11\n",
    "test.conf:6:",
    "[Seat seat1] LibvirtDomain: win11 at qemu:///system is [Seat seat0]'s VM too (test.conf:3)" },
#else
  { "[Seat seat0]\nPorts=5930\nLibvirtDomain=win11\n", "test.conf:3:",
    "[Seat seat0] LibvirtDomain: this seatgate build has no libvirt support (it was built "
    "without libvirt-dev)" },
  { "[Seat seat0]\nPorts=5930\nLibvirtURI=qemu:///system\n",
    "test.conf:3:", "[Seat seat0] LibvirtURI: this seatgate build has no libvirt support" },
#endif
  { "[Seat seat0]\nPorts=5930\n\xff\xfe\n", "test.conf:3:", "not UTF-8" },
};

static void
test_bad_configs_name_line_and_key (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (bad_cases); i++)
    {
      const BadCase *c = &bad_cases[i];
      g_autoptr (GError) error = NULL;
      g_autoptr (SgConfig) config
          = sg_config_load_data (c->text, strlen (c->text), "test.conf", FALSE, &error);
      g_assert_null (config);
      g_assert_error (error, SG_ERROR, SG_ERROR_INVALID_CONFIG);
      if (!g_str_has_prefix (error->message, c->expected)
          || strstr (error->message, c->part) == NULL)
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
  g_autoptr (SgConfig) config
      = sg_config_load_data (good, strlen (good), "agent.conf", TRUE, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (config->seats->len, ==, 0);
  g_assert_cmpstr (config->viewer_command, ==, "spicy -h 127.0.0.1 -p %p");

  g_autoptr (SgConfig) refused
      = sg_config_load_data (bad, strlen (bad), "agent.conf", TRUE, &error);
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

/* A folder of config files for one test, removed with it. */
typedef struct
{
  char *dir;
  char *main;
  char *dropins;
} Tree;

static Tree *
tree_new (const char *main_text)
{
  Tree *t = g_new0 (Tree, 1);
  g_autoptr (GError) error = NULL;

  t->dir = g_dir_make_tmp ("sg-dropins-XXXXXX", &error);
  g_assert_no_error (error);
  t->main = g_build_filename (t->dir, "seatgate.conf", NULL);
  t->dropins = sg_config_dropin_dir (t->main);
  g_autofree char *want = g_strconcat (t->main, ".d", NULL);
  g_assert_cmpstr (t->dropins, ==, want);
  if (main_text != NULL)
    g_assert_true (g_file_set_contents (t->main, main_text, -1, NULL));
  return t;
}

/* Writes @text to @name in the drop-in folder; returns its path. */
static char *
tree_dropin (Tree *t, const char *name, const char *text)
{
  char *path = g_build_filename (t->dropins, name, NULL);

  g_assert_cmpint (g_mkdir_with_parents (t->dropins, 0755), ==, 0);
  g_assert_true (g_file_set_contents (path, text, -1, NULL));
  return path;
}

static void
tree_free (Tree *t)
{
  g_autofree char *command = g_strdup_printf ("rm -rf '%s'", t->dir);
  g_assert_true (g_spawn_command_line_sync (command, NULL, NULL, NULL, NULL));
  g_free (t->dir);
  g_free (t->main);
  g_free (t->dropins);
  g_free (t);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Tree, tree_free)

static char *
origin (const SgConfigOrigin *o)
{
  return sg_config_origin_to_string (o);
}

static SgConfig *
load_tree_ok (Tree *t)
{
  g_autoptr (GError) error = NULL;
  SgConfig *config = sg_config_load_file (t->main, &error);

  g_assert_no_error (error);
  g_assert_nonnull (config);
  return config;
}

static void
test_dropins_apply_in_byte_order_and_say_where_from (void)
{
  g_autoptr (Tree) t = tree_new ("[Gate]\nAlwaysAllow=1\n\n[Seat seat0]\nPorts=5930\n");
  g_autofree char *first = tree_dropin (t, "05-first.conf", "[Gate]\nAlwaysAllow=7\n");
  g_autofree char *later = tree_dropin (t, "10-lab.conf",
                                        "# fleet-managed\n[Gate]\nAlwaysAllow=64055;64056\n"
                                        "TableMode=plain\n");
  g_autofree char *seat1 = tree_dropin (t, "20-seat1.conf", "[Seat seat1]\nPorts=5931-5932\n");
  /* Upper case sorts before lower case in byte order. */
  g_autofree char *upper = tree_dropin (t, "Z-viewer.conf", "[Agent]\nViewerCommand=spicy\n");
  g_autofree char *lower
      = tree_dropin (t, "a-viewer.conf", "[Agent]\nViewerCommand=remote-viewer\n");
  g_autofree char *empty = tree_dropin (t, "30-empty.conf", "");
  /* Not drop-ins: each would fail the load if it were read. */
  g_autofree char *hidden = tree_dropin (t, ".50-edit.conf", "broken\n");
  g_autofree char *old = tree_dropin (t, "10-lab.conf.dpkg-old", "broken\n");
  g_autofree char *readme = tree_dropin (t, "README", "broken\n");
  g_autoptr (SgConfig) config = load_tree_ok (t);

  g_assert_cmpstr (config->path, ==, t->main);
  g_assert_false (config->main_missing);
  g_assert_cmpuint (config->files->len, ==, 7);
  g_assert_cmpstr (g_ptr_array_index (config->files, 0), ==, t->main);
  g_assert_cmpstr (g_ptr_array_index (config->files, 1), ==, first);
  g_assert_cmpstr (g_ptr_array_index (config->files, 2), ==, later);
  g_assert_cmpstr (g_ptr_array_index (config->files, 3), ==, seat1);
  g_assert_cmpstr (g_ptr_array_index (config->files, 4), ==, empty);
  g_assert_cmpstr (g_ptr_array_index (config->files, 5), ==, upper);
  g_assert_cmpstr (g_ptr_array_index (config->files, 6), ==, lower);
  g_assert_cmpstr (config->viewer_command, ==, "remote-viewer");

  g_assert_cmpuint (config->always_allow->len, ==, 2);
  g_assert_cmpuint (g_array_index (config->always_allow, guint32, 0), ==, 64055);
  g_assert_cmpuint (g_array_index (config->always_allow, guint32, 1), ==, 64056);
  g_autofree char *allow_from = origin (&config->always_allow_origin);
  g_autofree char *want_allow_from = g_strdup_printf ("%s:3", later);
  g_assert_cmpstr (allow_from, ==, want_allow_from);
  g_assert_cmpint (config->table_mode, ==, SG_TABLE_MODE_PLAIN);
  g_assert_cmpuint (config->table_mode_origin.line, ==, 4);

  g_assert_cmpuint (config->seats->len, ==, 2);
  const SgSeatConfig *s0 = sg_config_find_seat (config, "seat0");
  const SgSeatConfig *s1 = sg_config_find_seat (config, "seat1");
  g_assert_cmpstr (s0->ports_origin.file, ==, t->main);
  g_assert_cmpuint (s0->ports_origin.line, ==, 5);
  g_assert_cmpstr (s1->origin.file, ==, seat1);
  g_assert_cmpuint (s1->ports->len, ==, 2);
  g_assert_cmpuint (port_at (s1, 1), ==, 5932);
}

static void
test_vm_binding (void)
{
  g_autoptr (SgConfig) config = load_ok ("[Seat seat0]\n"
                                         "Ports=5930\n"
                                         "QMPSocket=/run/seatgate-vm/seat0.qmp\n"
                                         "LockKeys= meta_l + l \n"
                                         "[Seat seat1]\n"
                                         "Ports=5931\n"
                                         "QMPSocket=/run/seatgate-vm/seat1.qmp\n"
                                         "LockKeys=ctrl+alt+delete+shift+shift_r+alt_r+ctrl_r+"
                                         "kp_0\n"
                                         "[Seat seat2]\n"
                                         "Ports=5932\n"
                                         "QMPSocket=/run/seatgate-vm/seat2.qmp\n"
                                         "LockKeys=\n"
                                         "[Seat seat3]\n"
                                         "Ports=5933\n");
  const SgSeatConfig *s0 = sg_config_find_seat (config, "seat0");
  const SgSeatConfig *s1 = sg_config_find_seat (config, "seat1");
  const SgSeatConfig *s2 = sg_config_find_seat (config, "seat2");
  const SgSeatConfig *s3 = sg_config_find_seat (config, "seat3");

  g_assert_cmpstr (s0->qmp_socket, ==, "/run/seatgate-vm/seat0.qmp");
  g_assert_cmpuint (s0->qmp_socket_origin.line, ==, 3);
  g_assert_cmpuint (g_strv_length (s0->lock_keys), ==, 2);
  g_assert_cmpstr (s0->lock_keys[0], ==, "meta_l");
  g_assert_cmpstr (s0->lock_keys[1], ==, "l");
  g_assert_cmpuint (s0->lock_keys_origin.line, ==, 4);
  g_assert_cmpuint (g_strv_length (s1->lock_keys), ==, 8);
  g_assert_cmpstr (s1->lock_keys[7], ==, "kp_0");
  g_assert_nonnull (s2->qmp_socket);
  g_assert_null (s2->lock_keys);
  g_assert_cmpuint (s2->lock_keys_origin.line, ==, 12);
  g_assert_null (s3->qmp_socket);
  g_assert_null (s3->lock_keys);
  g_assert_cmpuint (s3->qmp_socket_origin.line, ==, 0);
}

#if SG_HAVE_LIBVIRT
static void
test_libvirt_binding (void)
{
  g_autoptr (SgConfig) config = load_ok ("[Seat seat0]\n"
                                         "Ports=5930\n"
                                         "LibvirtDomain=win11 seat0\n"
                                         "LockKeys=meta_l+l\n"
                                         "[Seat seat1]\n"
                                         "Ports=5931\n"
                                         "LibvirtDomain=win11 seat0\n"
                                         "LibvirtURI=qemu+unix:///system?socket=/run/x/sock\n"
                                         "[Seat seat2]\n"
                                         "Ports=5932\n"
                                         "LibvirtDomain=\n");
  const SgSeatConfig *s0 = sg_config_find_seat (config, "seat0");
  const SgSeatConfig *s1 = sg_config_find_seat (config, "seat1");
  const SgSeatConfig *s2 = sg_config_find_seat (config, "seat2");

  g_assert_cmpstr (s0->libvirt_domain, ==, "win11 seat0");
  g_assert_cmpuint (s0->libvirt_domain_origin.line, ==, 3);
  g_assert_null (s0->libvirt_uri);
  g_assert_cmpstr (sg_seat_config_libvirt_uri (s0), ==, "qemu:///system");
  g_assert_null (s0->qmp_socket);
  g_assert_cmpuint (g_strv_length (s0->lock_keys), ==, 2);
  /* The same name at another libvirt is another VM. */
  g_assert_cmpstr (sg_seat_config_libvirt_uri (s1), ==, "qemu+unix:///system?socket=/run/x/sock");
  g_assert_cmpuint (s1->libvirt_uri_origin.line, ==, 8);
  g_assert_null (s2->libvirt_domain);
  g_assert_cmpuint (s2->libvirt_domain_origin.line, ==, 11);
}
#endif

static void
test_qkeycodes_are_qemu_7_2s (void)
{
  g_assert_cmpuint (sg_qkeycode_count (), ==, 150);
  g_assert_true (sg_qkeycode_is_valid ("meta_l"));
  g_assert_true (sg_qkeycode_is_valid ("lang2"));
  g_assert_true (sg_qkeycode_is_valid ("katakanahiragana"));
  /* 8.0's additions and look-alikes are not 7.2's names. */
  g_assert_false (sg_qkeycode_is_valid ("f13"));
  g_assert_false (sg_qkeycode_is_valid ("super_l"));
  g_assert_false (sg_qkeycode_is_valid ("META_L"));
  g_assert_false (sg_qkeycode_is_valid (""));
}

static void
test_dropin_replaces_the_vm_binding (void)
{
  g_autoptr (Tree) t = tree_new ("[Seat seat0]\nPorts=5930\nQMPSocket=/run/old.qmp\n"
                                 "LockKeys=meta_l+l\n[Seat seat1]\nPorts=5931\n"
                                 "QMPSocket=/run/seat1.qmp\n");
  g_autofree char *vm = tree_dropin (t, "10-vm.conf", "[Seat seat0]\nQMPSocket=/run/new.qmp\n");
  g_autofree char *off = tree_dropin (t, "20-off.conf", "[Seat seat1]\nQMPSocket=\n");
  g_autoptr (SgConfig) config = load_tree_ok (t);
  const SgSeatConfig *s0 = sg_config_find_seat (config, "seat0");
  const SgSeatConfig *s1 = sg_config_find_seat (config, "seat1");

  g_assert_cmpstr (s0->qmp_socket, ==, "/run/new.qmp");
  g_assert_cmpstr (s0->qmp_socket_origin.file, ==, vm);
  g_assert_cmpuint (s0->qmp_socket_origin.line, ==, 2);
  /* A key the drop-in does not set stays as the main file says. */
  g_assert_cmpstr (s0->lock_keys[0], ==, "meta_l");
  g_assert_cmpstr (s0->lock_keys_origin.file, ==, t->main);
  g_assert_null (s1->qmp_socket);
  g_assert_cmpstr (s1->qmp_socket_origin.file, ==, off);
}

static void
test_dropin_unbinding_a_seat_with_lock_keys_fails (void)
{
  g_autoptr (Tree) t = tree_new ("[Seat seat0]\nPorts=5930\nQMPSocket=/run/a.qmp\n"
                                 "LockKeys=meta_l+l\n");
  g_autofree char *off = tree_dropin (t, "20-off.conf", "[Seat seat0]\nQMPSocket=\n");
  g_autoptr (GError) error = NULL;
  g_autoptr (SgConfig) config = sg_config_load_file (t->main, &error);
  g_autofree char *want = g_strdup_printf ("%s:4: [Seat seat0] LockKeys:", t->main);

  g_assert_null (config);
  g_assert_error (error, SG_ERROR, SG_ERROR_INVALID_CONFIG);
  g_assert_true (g_str_has_prefix (error->message, want));
  g_assert_nonnull (strstr (error->message, "set QMPSocket="));
}

static void
test_dropin_viewer_last_name_wins (void)
{
  g_autoptr (Tree) t = tree_new ("[Seat seat0]\nPorts=5930\n[Agent]\nViewerCommand=main\n");
  g_autofree char *upper = tree_dropin (t, "Z.conf", "[Agent]\nViewerCommand=upper\n");
  g_autofree char *lower = tree_dropin (t, "a.conf", "[Agent]\nViewerCommand=lower\n");
  g_autoptr (SgConfig) config = load_tree_ok (t);

  g_assert_cmpstr (config->viewer_command, ==, "lower");
  g_assert_cmpstr (config->viewer_command_origin.file, ==, lower);
}

static void
test_dropin_may_move_a_port_between_seats (void)
{
  /* Only the merged result must give each port one seat. */
  g_autoptr (Tree) t = tree_new ("[Seat seat0]\nPorts=5930\n[Seat seat1]\nPorts=5931\n");
  g_autofree char *swap
      = tree_dropin (t, "50-swap.conf", "[Seat seat1]\nPorts=5930\n[Seat seat0]\nPorts=5931\n");
  g_autoptr (SgConfig) config = load_tree_ok (t);

  g_assert_cmpstr (sg_config_seat_for_port (config, 5930)->name, ==, "seat1");
  g_assert_cmpstr (sg_config_seat_for_port (config, 5931)->name, ==, "seat0");
  g_assert_cmpuint (sg_config_find_seat (config, "seat1")->ports_origin.line, ==, 2);
  /* Seats stay in the order they first appeared. */
  g_assert_cmpstr (((SgSeatConfig *) g_ptr_array_index (config->seats, 0))->name, ==, "seat0");
}

typedef struct
{
  const char *dropin; /* the drop-in's text, as 50-x.conf */
  guint line;         /* the line the message must name in it, 0: in the main file */
  const char *part;
} BadDropin;

static const BadDropin bad_dropins[] = {
  { "[Seat seat0]\nPorts=0\n", 2, "[Seat seat0] Ports: port 0 is out of range" },
  { "[Gate]\nAlwaysAllow=alice\n", 2, "'alice' is not a uid" },
  { "[Gate]\nTableMode=owned\n", 2, "'owned' is not a mode" },
  { "[Seats seat1]\n", 1, "unknown group [Seats seat1]" },
  { "Ports=5931\n", 1, "stands before any group" },
  { "[Seat seat1]\nPorts=5931\n[Seat seat1]\nPorts=5932\n", 3, "appears again" },
  { "[Seat seat0]\nPorts=5931\nPorts=5932\n", 3, "Ports is set twice" },
  { "[Seat seat1]\n", 1, "[Seat seat1] has no Ports" },
  { "[Seat seat0]\nPorts=\n", 2, "no ports given" },
  { "\xff\n", 1, "not UTF-8" },
  /* A port the main file's seat0 has: the message names both places. */
  { "# seat 1\n[Seat seat1]\nPorts=5929-5931\n", 3,
    "[Seat seat1] Ports: port 5930 is gated by [Seat seat0] (MAIN:2) too" },
};

static void
test_broken_dropin_fails_the_load_naming_file_line_and_key (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (bad_dropins); i++)
    {
      const BadDropin *c = &bad_dropins[i];
      g_autoptr (Tree) t = tree_new ("[Seat seat0]\nPorts=5930\n");
      g_autofree char *good = tree_dropin (t, "10-good.conf", "[Gate]\nAlwaysAllow=64055\n");
      g_autofree char *bad = tree_dropin (t, "50-x.conf", c->dropin);
      g_autoptr (GError) error = NULL;
      g_autoptr (SgConfig) config = sg_config_load_file (t->main, &error);
      g_autofree char *prefix = g_strdup_printf ("%s:%u: ", bad, c->line);
      g_autoptr (GString) part = g_string_new (c->part);

      g_string_replace (part, "MAIN", t->main, 0);
      g_assert_null (config);
      g_assert_error (error, SG_ERROR, SG_ERROR_INVALID_CONFIG);
      if (!g_str_has_prefix (error->message, prefix) || strstr (error->message, part->str) == NULL)
        g_error ("case %u: got '%s', want '%s' … '%s'", i, error->message, prefix, part->str);
    }
}

static void
test_main_missing_dropins_apply_over_the_built_in_default (void)
{
  g_autoptr (Tree) t = tree_new (NULL);
  g_autoptr (GError) error = NULL;

  g_assert_null (sg_config_load_file (t->main, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_clear_error (&error);

  /* An empty folder is no drop-in: still "not found". */
  g_assert_cmpint (g_mkdir (t->dropins, 0755), ==, 0);
  g_assert_null (sg_config_load_file (t->main, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_clear_error (&error);

  g_autofree char *seat1 = tree_dropin (t, "20-seat1.conf", "[Seat seat1]\nPorts=5931\n");
  g_autoptr (SgConfig) config = load_tree_ok (t);
  g_assert_true (config->main_missing);
  g_assert_cmpuint (config->seats->len, ==, 2);
  const SgSeatConfig *s0 = sg_config_find_seat (config, "seat0");
  g_assert_cmpuint (port_at (s0, 0), ==, 5930);
  g_autofree char *s0_from = origin (&s0->ports_origin);
  g_assert_cmpstr (s0_from, ==, "built-in default");
  g_assert_cmpuint (config->files->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (config->files, 0), ==, seat1);
}

static void
test_dropin_folder_trouble_fails_closed (void)
{
  g_autoptr (GError) error = NULL;

  {
    /* A file where the folder should be. */
    g_autoptr (Tree) t = tree_new ("[Seat seat0]\nPorts=5930\n");
    g_assert_true (g_file_set_contents (t->dropins, "[Seat seat0]\n", -1, NULL));
    g_assert_null (sg_config_load_file (t->main, &error));
    g_assert_error (error, SG_ERROR, SG_ERROR_INVALID_CONFIG);
    g_assert_true (g_str_has_prefix (error->message, t->dropins));
    g_assert_nonnull (strstr (error->message, "not a folder"));
    g_clear_error (&error);
  }
  {
    /* A folder named like a drop-in. */
    g_autoptr (Tree) t = tree_new ("[Seat seat0]\nPorts=5930\n");
    g_autofree char *sub = g_build_filename (t->dropins, "50-dir.conf", NULL);
    g_assert_cmpint (g_mkdir_with_parents (sub, 0755), ==, 0);
    g_assert_null (sg_config_load_file (t->main, &error));
    g_assert_error (error, SG_ERROR, SG_ERROR_INVALID_CONFIG);
    g_assert_true (g_str_has_prefix (error->message, sub));
    g_assert_nonnull (strstr (error->message, "not a regular file"));
    g_clear_error (&error);
  }
  {
    /* A dangling symlink: a drop-in that is meant to be there and is not. */
    g_autoptr (Tree) t = tree_new ("[Seat seat0]\nPorts=5930\n");
    g_autofree char *link = g_build_filename (t->dropins, "50-gone.conf", NULL);
    g_assert_cmpint (g_mkdir_with_parents (t->dropins, 0755), ==, 0);
    g_assert_cmpint (symlink ("/nonexistent/seatgate.conf", link), ==, 0);
    g_assert_null (sg_config_load_file (t->main, &error));
    /* Not G_IO_ERROR_NOT_FOUND, which the helper takes for "no config". */
    g_assert_error (error, SG_ERROR, SG_ERROR_INVALID_CONFIG);
    g_assert_true (g_str_has_prefix (error->message, link));
    g_test_message ("dangling link: %s", error->message);
    g_clear_error (&error);
  }
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
  g_test_add_func ("/config/dropins/apply-in-byte-order-and-say-where-from",
                   test_dropins_apply_in_byte_order_and_say_where_from);
  g_test_add_func ("/config/vm-binding", test_vm_binding);
#if SG_HAVE_LIBVIRT
  g_test_add_func ("/config/libvirt-binding", test_libvirt_binding);
#endif
  g_test_add_func ("/config/qkeycodes-are-qemu-7-2s", test_qkeycodes_are_qemu_7_2s);
  g_test_add_func ("/config/dropins/replace-the-vm-binding", test_dropin_replaces_the_vm_binding);
  g_test_add_func ("/config/dropins/unbinding-a-seat-with-lock-keys-fails",
                   test_dropin_unbinding_a_seat_with_lock_keys_fails);
  g_test_add_func ("/config/dropins/viewer-last-name-wins", test_dropin_viewer_last_name_wins);
  g_test_add_func ("/config/dropins/may-move-a-port-between-seats",
                   test_dropin_may_move_a_port_between_seats);
  g_test_add_func ("/config/dropins/broken-dropin-fails-the-load-naming-file-line-and-key",
                   test_broken_dropin_fails_the_load_naming_file_line_and_key);
  g_test_add_func ("/config/dropins/main-missing-dropins-apply-over-the-built-in-default",
                   test_main_missing_dropins_apply_over_the_built_in_default);
  g_test_add_func ("/config/dropins/folder-trouble-fails-closed",
                   test_dropin_folder_trouble_fails_closed);
  return g_test_run ();
}
