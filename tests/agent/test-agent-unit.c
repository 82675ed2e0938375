/* The agent's pure parts: what a session's properties mean, the viewer
 * command's codes, the helper's Seats, and the words the user reads. */
#include <gio/gio.h>
#include <string.h>

#include "helper-proxy.h"
#include "menu.h"
#include "session.h"
#include "status.h"
#include "viewer.h"

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

static void
test_viewer_expand (void)
{
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) argv = sg_viewer_expand (SG_VIEWER_DEFAULT_COMMAND, 5930, &error);

  g_assert_no_error (error);
  g_assert_cmpstrv (argv,
                    ((const char *const[]){ "remote-viewer", "spice://127.0.0.1:5930", NULL }));
  g_clear_pointer (&argv, g_strfreev);

  /* (the assertion macros take their arguments' text as a format) */
  static const char *const expected[]
      = { "viewer", "--port=5931", "--host", "127.0.0.1", "spice://127.0.0.1:5931",
          "100%",   "a b",         NULL };
  argv = sg_viewer_expand ("viewer --port=%p --host %h '%u' 100%% \"a b\"", 5931, &error);
  g_assert_no_error (error);
  g_assert_cmpstrv (argv, expected);
  g_clear_pointer (&argv, g_strfreev);

  argv = sg_viewer_expand ("viewer %x", 5930, &error);
  g_assert_null (argv);
  g_assert_error (error, G_SHELL_ERROR, G_SHELL_ERROR_FAILED);
  /* the message names the bad code */
  g_assert_true (g_str_has_prefix (error->message, "'viewer %x': %x is not a code"));
  g_clear_error (&error);

  argv = sg_viewer_expand ("viewer %", 5930, &error);
  g_assert_null (argv);
  g_assert_error (error, G_SHELL_ERROR, G_SHELL_ERROR_FAILED);
  g_clear_error (&error);

  argv = sg_viewer_expand ("viewer 'unclosed", 5930, &error);
  g_assert_null (argv);
  g_assert_nonnull (error);
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
  g_test_add_func ("/agent/helper-proxy/seats-lookup", test_seats_lookup);
  g_test_add_func ("/agent/status/words", test_status_words);
  return g_test_run ();
}
