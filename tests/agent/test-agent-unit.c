/* The agent's pure parts: what a session's properties mean, the viewer
 * command's codes, the helper's Seats and OpenConsole answer, the viewer's
 * connection file, and the words the user reads. */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "console.h"
#include "helper-proxy.h"
#include "markup.h"
#include "menu.h"
#include "session.h"
#include "sg-error.h"
#include "status.h"
#include "viewer.h"
#include "vv-file.h"

static void
test_session_judge (void)
{
  struct
  {
    guint32 session_uid;
    const char *seat;
    gboolean remote;
    const char *klass;
    gboolean active;
    const char *why;
  } cases[] = {
    { 1000, "seat0", FALSE, "user", TRUE, NULL },
    { 1000, "seat0", FALSE, "user", FALSE, "not the active session on seat0" },
    { 1000, "seat1", FALSE, "user", FALSE, "not the active session on seat1" },
    { 1000, "", TRUE, "user", TRUE, "remote session" },
    /* remote wins over the seat: xrdp sessions may claim one */
    { 1000, "seat0", TRUE, "user", TRUE, "remote session" },
    /* xrdp on Debian 12: no seat, and Remote=false without PAM_RHOST */
    { 1000, "", FALSE, "user", TRUE, "no seat" },
    { 1000, "seat0", FALSE, "greeter", TRUE, "not a user session (class greeter)" },
    { 1000, "seat0", FALSE, "lock-screen", TRUE, "not a user session (class lock-screen)" },
    /* systemd >= 256: root at a console, and a homed user not yet unlocked */
    { 1000, "seat0", FALSE, "user-early", TRUE, "not a user session (class user-early)" },
    { 1000, "seat0", FALSE, "user-incomplete", TRUE,
      "a session still being set up (class user-incomplete; its home directory is not unlocked "
      "yet)" },
    { 1001, "seat0", FALSE, "user", TRUE, "session 2 belongs to uid 1001, not to uid 1000" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *why = sg_session_judge ("2", cases[i].session_uid, 1000, cases[i].seat,
                                               cases[i].remote, cases[i].klass, cases[i].active);
      g_assert_cmpstr (why, ==, cases[i].why);
    }
}

static SgLogindSession
props (const char *id, const char *seat, gboolean remote, const char *klass, gboolean active,
       const char *state)
{
  return (SgLogindSession){ .id = (char *) id,
                            .uid = 1000,
                            .seat = (char *) seat,
                            .remote = remote,
                            .session_class = (char *) klass,
                            .type = (char *) "x11",
                            .active = active,
                            .state = (char *) state };
}

static void
test_session_elect (void)
{
  SgLogindSession ssh = props ("1", "", TRUE, "user", TRUE, "active");
  SgLogindSession xrdp = props ("3", "", FALSE, "user", TRUE, "active");
  SgLogindSession console = props ("5", "seat0", FALSE, "user", TRUE, "active");
  SgLogindSession background = props ("4", "seat0", FALSE, "user", FALSE, "online");
  SgLogindSession closing = props ("6", "seat0", FALSE, "user", TRUE, "closing");
  SgLogindSession early = props ("7", "seat0", FALSE, "user-early", TRUE, "active");

  {
    /* The seat session wins over older remote ones and over the Display. */
    const SgLogindSession *s[] = { &ssh, &xrdp, &console };
    g_assert_cmpint (sg_session_elect (s, G_N_ELEMENTS (s), "3"), ==, 2);
  }
  {
    /* The seat's active one first, then the older. */
    const SgLogindSession *s[] = { &background, &console };
    g_assert_cmpint (sg_session_elect (s, G_N_ELEMENTS (s), NULL), ==, 1);
    SgLogindSession other = props ("10", "seat0", FALSE, "user", FALSE, "online");
    const SgLogindSession *t[] = { &other, &background };
    g_assert_cmpint (sg_session_elect (t, G_N_ELEMENTS (t), NULL), ==, 1);
  }
  {
    /* A closing session never counts, even when it is still active. */
    const SgLogindSession *s[] = { &closing, &background };
    g_assert_cmpint (sg_session_elect (s, G_N_ELEMENTS (s), NULL), ==, 1);
    const SgLogindSession *t[] = { &closing };
    g_assert_cmpint (sg_session_elect (t, G_N_ELEMENTS (t), NULL), ==, -1);
  }
  {
    /* None may hold a port: the Display explains, else a seat's, else the oldest. */
    const SgLogindSession *s[] = { &ssh, &xrdp };
    g_assert_cmpint (sg_session_elect (s, G_N_ELEMENTS (s), "3"), ==, 1);
    g_assert_cmpint (sg_session_elect (s, G_N_ELEMENTS (s), NULL), ==, 0);
    const SgLogindSession *t[] = { &ssh, &early };
    g_assert_cmpint (sg_session_elect (t, G_N_ELEMENTS (t), NULL), ==, 1);
    g_assert_cmpint (sg_session_elect (t, G_N_ELEMENTS (t), "1"), ==, 0);
  }
  {
    /* The user manager's own session and a cron job's are nobody's login. */
    SgLogindSession manager = props ("8", "", FALSE, "manager", TRUE, "active");
    SgLogindSession cron = props ("9", "", FALSE, "background", TRUE, "active");
    const SgLogindSession *s[] = { &manager, &cron };
    g_assert_cmpint (sg_session_elect (s, G_N_ELEMENTS (s), "8"), ==, -1);
    const SgLogindSession *t[] = { &manager, &cron, &xrdp };
    g_assert_cmpint (sg_session_elect (t, G_N_ELEMENTS (t), NULL), ==, 2);
  }
  g_assert_cmpint (sg_session_elect (NULL, 0, NULL), ==, -1);
}

static const SgViewerValues values_5931
    = { "127.0.0.1", 5931, "spice://127.0.0.1:5931", "/run/user/1000/x.vv" };

static void
test_viewer_expand (void)
{
  g_autoptr (GError) error = NULL;
  SgViewerValues values = values_5931;
  gboolean uses_file = FALSE;
  g_auto (GStrv) argv = sg_viewer_expand (SG_VIEWER_DEFAULT_COMMAND, &values, &uses_file, &error);

  g_assert_no_error (error);
  g_assert_true (uses_file);
  g_assert_cmpstrv (argv, ((const char *const[]){ "remote-viewer", "/run/user/1000/x.vv", NULL }));
  g_clear_pointer (&argv, g_strfreev);

  /* Without a file yet, %f says it is wanted and expands to nothing. */
  values.file = NULL;
  argv = sg_viewer_expand ("viewer --file=%f", &values, &uses_file, &error);
  g_assert_no_error (error);
  g_assert_true (uses_file);
  g_assert_cmpstrv (argv, ((const char *const[]){ "viewer", "--file=", NULL }));
  g_clear_pointer (&argv, g_strfreev);

  /* (the assertion macros take their arguments' text as a format) */
  static const char *const expected[]
      = { "viewer", "--port=5931", "--host", "127.0.0.1", "spice://127.0.0.1:5931",
          "100%",   "%f",          "a b",    NULL };
  argv = sg_viewer_expand ("viewer --port=%p --host %h '%u' 100%% %%f \"a b\"", &values_5931,
                           &uses_file, &error);
  g_assert_no_error (error);
  g_assert_false (uses_file);
  g_assert_cmpstrv (argv, expected);
  g_clear_pointer (&argv, g_strfreev);

  argv = sg_viewer_expand ("viewer %x", &values_5931, NULL, &error);
  g_assert_null (argv);
  g_assert_error (error, G_SHELL_ERROR, G_SHELL_ERROR_FAILED);
  /* the message names the bad code */
  g_assert_true (g_str_has_prefix (error->message, "'viewer %x': %x is not a code"));
  g_clear_error (&error);

  argv = sg_viewer_expand ("viewer %", &values_5931, NULL, &error);
  g_assert_null (argv);
  g_assert_error (error, G_SHELL_ERROR, G_SHELL_ERROR_FAILED);
  g_clear_error (&error);

  argv = sg_viewer_expand ("viewer 'unclosed", &values_5931, NULL, &error);
  g_assert_null (argv);
  g_assert_nonnull (error);
}

static GVariant *
console_answer (const char *host, GVariant *port, GVariant *password)
{
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "seat", g_variant_new_string ("seat0"));
  g_variant_builder_add (&b, "{sv}", "uri", g_variant_new_string ("spice://127.0.0.1:5930"));
  if (host != NULL)
    g_variant_builder_add (&b, "{sv}", "host", g_variant_new_string (host));
  if (port != NULL)
    g_variant_builder_add (&b, "{sv}", "port", port);
  if (password != NULL)
    g_variant_builder_add (&b, "{sv}", "password", password);
  /* a newer helper may say more */
  g_variant_builder_add (&b, "{sv}", "x-future", g_variant_new_uint32 (7));
  return g_variant_ref_sink (g_variant_builder_end (&b));
}

static void
test_console_from_variant (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) answer
      = console_answer ("127.0.0.1", g_variant_new_uint16 (5930), g_variant_new_string ("t1ck3t"));
  g_autoptr (SgConsole) console = sg_console_from_variant (answer, &error);

  g_assert_no_error (error);
  g_assert_cmpstr (console->seat, ==, "seat0");
  g_assert_cmpstr (console->uri, ==, "spice://127.0.0.1:5930");
  g_assert_cmpstr (console->host, ==, "127.0.0.1");
  g_assert_cmpuint (console->port, ==, 5930);
  g_assert_cmpstr (console->password, ==, "t1ck3t");
  g_clear_pointer (&console, sg_console_free);
  g_clear_pointer (&answer, g_variant_unref);

  /* No VM binding: no ticket. */
  answer = console_answer ("127.0.0.1", g_variant_new_uint16 (5930), NULL);
  console = sg_console_from_variant (answer, &error);
  g_assert_no_error (error);
  g_assert_null (console->password);
  g_clear_pointer (&console, sg_console_free);
  g_clear_pointer (&answer, g_variant_unref);

  struct
  {
    const char *host;
    GVariant *port;
    GVariant *password;
    const char *words;
  } bad[] = {
    { NULL, g_variant_new_uint16 (5930), NULL, "no \"host\"" },
    { "127.0.0.1", NULL, NULL, "no port" },
    { "127.0.0.1", g_variant_new_uint32 (5930), NULL, "no port" },
    { "127.0.0.1", g_variant_new_uint16 (0), NULL, "no port" },
    { "127.0.0.1\n[virt-viewer]", g_variant_new_uint16 (5930), NULL, "control character" },
    { "", g_variant_new_uint16 (5930), NULL, "is empty" },
    { "127.0.0.1", g_variant_new_uint16 (5930), g_variant_new_string ("a\tb"),
      "control character" },
    { "127.0.0.1", g_variant_new_uint16 (5930), g_variant_new_uint32 (1), "not s" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      answer = console_answer (bad[i].host, bad[i].port, bad[i].password);
      console = sg_console_from_variant (answer, &error);
      g_assert_null (console);
      g_assert_error (error, SG_ERROR, SG_ERROR_FAILED);
      g_assert_nonnull (strstr (error->message, bad[i].words));
      /* a ticket, even a broken one, stays out of the message */
      g_assert_null (strstr (error->message, "a\tb"));
      g_clear_error (&error);
      g_clear_pointer (&answer, g_variant_unref);
    }

  answer = g_variant_ref_sink (g_variant_new_string ("spice://127.0.0.1:5930"));
  g_assert_null (sg_console_from_variant (answer, &error));
  g_assert_error (error, SG_ERROR, SG_ERROR_FAILED);
}

/* A private runtime dir, as logind makes it: ours, mode 0700. */
static char *
make_runtime_dir (void)
{
  g_autoptr (GError) error = NULL;
  char *dir = g_dir_make_tmp ("sg-vv-XXXXXX", &error);

  g_assert_no_error (error);
  g_assert_cmpint (g_chmod (dir, 0700), ==, 0);
  return dir;
}

static guint
count_entries (const char *dir)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  guint n = 0;

  g_assert_nonnull (d);
  while (g_dir_read_name (d) != NULL)
    n++;
  return n;
}

static void
test_vv_file_write (void)
{
  g_autofree char *dir = make_runtime_dir ();
  g_autoptr (GError) error = NULL;
  SgConsole console = { "seat0", "spice://127.0.0.1:5930", "127.0.0.1", 5930, "s3cr\\et =x" };
  g_autofree char *path = sg_vv_file_write (dir, &console, "VM console of seat0", &error);
  g_autofree char *other = NULL;
  g_autoptr (GKeyFile) file = g_key_file_new ();
  struct stat st;

  g_assert_no_error (error);
  g_assert_true (g_str_has_prefix (path, dir));
  g_assert_true (g_str_has_suffix (path, ".vv"));
  g_assert_cmpint (lstat (path, &st), ==, 0);
  g_assert_true (S_ISREG (st.st_mode));
  g_assert_cmpuint (st.st_mode & 07777, ==, 0600);
  g_assert_cmpuint (st.st_uid, ==, geteuid ());

  /* Read back as remote-viewer reads it (virt_viewer_file_new_from_buffer). */
  g_assert_true (g_key_file_load_from_file (
      file, path, G_KEY_FILE_KEEP_COMMENTS | G_KEY_FILE_KEEP_TRANSLATIONS, &error));
  g_assert_no_error (error);
  g_autofree char *type = g_key_file_get_string (file, "virt-viewer", "type", NULL);
  g_autofree char *host = g_key_file_get_string (file, "virt-viewer", "host", NULL);
  g_autofree char *password = g_key_file_get_string (file, "virt-viewer", "password", NULL);
  g_autofree char *title = g_key_file_get_string (file, "virt-viewer", "title", NULL);
  g_assert_cmpstr (type, ==, "spice");
  g_assert_cmpstr (host, ==, "127.0.0.1");
  g_assert_cmpint (g_key_file_get_integer (file, "virt-viewer", "port", NULL), ==, 5930);
  g_assert_cmpstr (password, ==, "s3cr\\et =x");
  g_assert_cmpstr (title, ==, "VM console of seat0");
  g_assert_cmpint (g_key_file_get_integer (file, "virt-viewer", "delete-this-file", NULL), ==, 1);

  /* Each launch gets a file of its own. */
  other = sg_vv_file_write (dir, &console, "VM console of seat0", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (other, !=, path);
  g_assert_cmpuint (count_entries (dir), ==, 2);

  /* Removed; removing what is gone already is no failure. */
  g_assert_true (sg_vv_file_remove (path, &error));
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
  g_assert_true (sg_vv_file_remove (path, &error));
  g_assert_no_error (error);
  g_assert_true (sg_vv_file_remove (other, &error));
  g_assert_cmpuint (count_entries (dir), ==, 0);

  /* Without a VM binding there is no ticket, and no password key. */
  console.password = NULL;
  g_clear_pointer (&path, g_free);
  path = sg_vv_file_write (dir, &console, "VM console of seat0", &error);
  g_assert_no_error (error);
  g_key_file_free (g_steal_pointer (&file));
  file = g_key_file_new ();
  g_assert_true (g_key_file_load_from_file (file, path, G_KEY_FILE_NONE, &error));
  g_assert_false (g_key_file_has_key (file, "virt-viewer", "password", NULL));
  g_assert_true (sg_vv_file_remove (path, &error));
  g_assert_cmpint (g_rmdir (dir), ==, 0);
}

static void
test_vv_file_refuses_bad_values (void)
{
  g_autofree char *dir = make_runtime_dir ();
  struct
  {
    const char *host;
    const char *password;
    const char *title;
  } bad[] = {
    { "127.0.0.1\nport=1", NULL, "t" }, { "", NULL, "t" },
    { "127.0.0.1", "ab\ncd", "t" },     { "127.0.0.1", "ab\x01", "t" },
    { "127.0.0.1", "ab\x7f", "t" },     { "127.0.0.1", "ab\xc2\x85", "t" }, /* U+0085 */
    { "127.0.0.1", "ab\xff", "t" },     { "127.0.0.1", NULL, "seat0\r" },
    { "127.0.0.1", NULL, "" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      SgConsole console = { "seat0", "spice://127.0.0.1:5930", (char *) bad[i].host, 5930,
                            (char *) bad[i].password };
      g_autofree char *path = sg_vv_file_write (dir, &console, bad[i].title, &error);

      g_assert_null (path);
      g_assert_error (error, SG_ERROR, SG_ERROR_FAILED);
      if (bad[i].password != NULL)
        g_assert_null (strstr (error->message, bad[i].password));
      g_assert_cmpuint (count_entries (dir), ==, 0);
    }
  g_assert_cmpint (g_rmdir (dir), ==, 0);
}

static void
assert_dir_refused (const char *dir, const char *words)
{
  g_autoptr (GError) error = NULL;
  SgConsole console = { "seat0", "spice://127.0.0.1:5930", "127.0.0.1", 5930, "t1ck3t" };
  g_autofree char *path = sg_vv_file_write (dir, &console, "VM console of seat0", &error);

  g_assert_null (path);
  g_assert_error (error, SG_ERROR, SG_ERROR_FAILED);
  if (strstr (error->message, words) == NULL)
    g_error ("'%s' does not say '%s'", error->message, words);
}

static void
test_vv_file_refuses_a_runtime_dir_not_private (void)
{
  g_autofree char *dir = make_runtime_dir ();
  g_autofree char *link = g_strconcat (dir, ".link", NULL);

  assert_dir_refused (NULL, "XDG_RUNTIME_DIR is not set");
  assert_dir_refused ("", "XDG_RUNTIME_DIR is not set");
  assert_dir_refused ("run/user/1000", "not an absolute path");
  assert_dir_refused ("/nonexistent/run", "cannot be used");

  g_assert_cmpint (g_chmod (dir, 0755), ==, 0);
  assert_dir_refused (dir, "mode 0755");
  g_assert_cmpint (g_chmod (dir, 0710), ==, 0);
  assert_dir_refused (dir, "mode 0710");
  g_assert_cmpint (g_chmod (dir, 0700), ==, 0);

  /* A link is not followed, even to a private folder. */
  g_assert_cmpint (symlink (dir, link), ==, 0);
  assert_dir_refused (link, "cannot be used");
  g_assert_cmpint (g_unlink (link), ==, 0);

  /* Someone else's folder, however private: only root can make one. */
  if (geteuid () == 0)
    {
      g_assert_cmpint (chown (dir, 65534, 65534), ==, 0);
      assert_dir_refused (dir, "owner uid 65534");
      g_assert_cmpint (chown (dir, 0, 0), ==, 0);
    }
  g_assert_cmpuint (count_entries (dir), ==, 0);
  g_assert_cmpint (g_rmdir (dir), ==, 0);
}

static void
test_seats_lookup (void)
{
  g_autoptr (GVariant) seats = g_variant_ref_sink (
      g_variant_new_parsed ("[('seat0', [@q 5930, 5931]), ('seat1', @aq [])]"));
  guint16 port = 0;

  g_assert_cmpint (sg_helper_proxy_seats_lookup (seats, "seat0", &port), ==, SG_HELPER_SEAT_GATED);
  g_assert_cmpuint (port, ==, 5930);
  /* a seat without ports gates nothing */
  g_assert_cmpint (sg_helper_proxy_seats_lookup (seats, "seat1", &port), ==,
                   SG_HELPER_SEAT_NOT_GATED);
  g_assert_cmpint (sg_helper_proxy_seats_lookup (seats, "seat2", &port), ==,
                   SG_HELPER_SEAT_NOT_GATED);
  g_assert_cmpint (sg_helper_proxy_seats_lookup (NULL, "seat0", &port), ==, SG_HELPER_SEAT_UNKNOWN);
  g_autoptr (GVariant) wrong = g_variant_ref_sink (g_variant_new_string ("seat0"));
  g_assert_cmpint (sg_helper_proxy_seats_lookup (wrong, "seat0", &port), ==,
                   SG_HELPER_SEAT_UNKNOWN);
}

/* Only what markup needs: a host that sees no tag shows entities as they are. */
static void
test_markup_escape (void)
{
  g_autofree char *plain = sg_markup_escape ("the user's \"display\" session");
  g_autofree char *tags = sg_markup_escape ("a <b> & c > d");
  g_autofree char *none = sg_markup_escape (NULL);

  g_assert_cmpstr (plain, ==, "the user's \"display\" session");
  g_assert_cmpstr (tags, ==, "a &lt;b&gt; &amp; c &gt; d");
  g_assert_cmpstr (none, ==, "");
}

static void
test_status_words (void)
{
  SgStatus status = { 0 };
  SgStatus other = { 0 };
  g_autofree char *granted_uri = NULL;
  g_autofree char *label = NULL;
  g_autofree char *headline = NULL;

  sg_status_set (&status, SG_STATUS_GRANTED, 5930, NULL);
  g_assert_cmpstr (sg_status_icon_name (&status), ==, "seatgate-granted");
  granted_uri = sg_status_uri (&status);
  g_assert_cmpstr (granted_uri, ==, "spice://127.0.0.1:5930");
  headline = sg_status_headline (&status);
  g_assert_cmpstr (headline, ==, "VM console: yours (port 5930)");

  sg_status_set (&other, SG_STATUS_NOT_GRANTED, 5930, "remote session");
  g_assert_false (sg_status_equal (&status, &other));
  g_assert_cmpuint (other.port, ==, 0);
  g_assert_null (sg_status_uri (&other));
  g_assert_cmpstr (sg_status_icon_name (&other), ==, "seatgate-denied");
  label = sg_menu_status_label (&other);
  g_assert_cmpstr (label, ==, "Not yours: remote session");

  sg_status_copy (&status, &other);
  g_assert_true (sg_status_equal (&status, &other));
  sg_status_set (&other, SG_STATUS_UNAVAILABLE, 0, "remote session");
  g_assert_false (sg_status_equal (&status, &other));
  g_assert_cmpstr (sg_status_icon_name (&other), ==, "seatgate-unavailable");

  sg_status_clear (&status);
  sg_status_clear (&other);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/agent/session/judge", test_session_judge);
  g_test_add_func ("/agent/session/elect", test_session_elect);
  g_test_add_func ("/agent/viewer/expand", test_viewer_expand);
  g_test_add_func ("/agent/console/from-variant", test_console_from_variant);
  g_test_add_func ("/agent/vv-file/write", test_vv_file_write);
  g_test_add_func ("/agent/vv-file/refuses-bad-values", test_vv_file_refuses_bad_values);
  g_test_add_func ("/agent/vv-file/refuses-a-runtime-dir-not-private",
                   test_vv_file_refuses_a_runtime_dir_not_private);
  g_test_add_func ("/agent/helper-proxy/seats-lookup", test_seats_lookup);
  g_test_add_func ("/agent/status/words", test_status_words);
  g_test_add_func ("/agent/markup/escape", test_markup_escape);
  return g_test_run ();
}
