#include <glib.h>

#include <string.h>

#include "sg-error.h"
#include "sg-logind.h"

typedef struct
{
  const char *seat, *wanted, *klass, *state;
  gboolean remote, active;
  const char *flaw; /* NULL: may hold the port */
} Case;

static const Case cases[] = {
  { "seat0", "seat0", "user", "active", FALSE, TRUE, NULL },
  { "seat0", NULL, "user", NULL, FALSE, TRUE, NULL },
  { "seat0", "seat0", "user", "active", TRUE, TRUE, "remote session" },
  { "", "seat0", "user", "active", FALSE, TRUE, "no seat" },
  { "seat1", "seat0", "user", "active", FALSE, TRUE, "on seat1, not on seat0" },
  { "seat0", "seat0", "greeter", "active", FALSE, TRUE, "not a user session (class greeter)" },
  { "seat0", "seat0", NULL, "active", FALSE, TRUE, "not a user session (class unknown)" },
  { "seat0", "seat0", "user", "online", FALSE, FALSE, "not the active session on seat0" },
  { "seat0", "seat0", "user", "closing", FALSE, TRUE,
    "logged out (processes of the session are still running)" },
  { "seat0", "seat0", "user", "closing", FALSE, FALSE, "not the active session on seat0" },
  { "seat0", "seat0", "user-early", "active", FALSE, TRUE,
    "not a user session (class user-early)" },
  { "seat0", "seat0", "user-incomplete", "active", FALSE, TRUE,
    "a session still being set up (class user-incomplete; its home directory is not unlocked "
    "yet)" },
  { "", "seat0", "user", "active", FALSE, TRUE, "no seat" },
  { "seat0", NULL, "user", NULL, FALSE, FALSE, "not the active session on seat0" },
};

static void
test_session_flaws (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      const Case *c = &cases[i];
      g_autofree char *flaw
          = sg_logind_session_flaw (c->seat, c->wanted, c->remote, c->klass, c->active, c->state);
      if (g_strcmp0 (flaw, c->flaw) != 0)
        g_error ("case %u: got '%s', want '%s'", i, flaw, c->flaw);
    }
}

static void
test_session_apply (void)
{
  SgLogindSession p = { 0 };
  g_autoptr (GVariant) dict = g_variant_ref_sink (g_variant_new_parsed (
      "{'Id': <'2'>, 'User': <(@u 1000, @o '/org/freedesktop/login1/user/_1000')>, "
      "'Seat': <('seat0', @o '/org/freedesktop/login1/seat/seat0')>, 'Remote': <false>, "
      "'Class': <'user'>, 'Type': <'wayland'>, 'Active': <true>, 'State': <'active'>, "
      "'IdleHint': <false>}"));
  /* A value of the wrong type is ignored, not taken for another. */
  g_autoptr (GVariant) wrong = g_variant_ref_sink (
      g_variant_new_parsed ("{'Active': <'no'>, 'Seat': <'seat1'>, 'State': <'closing'>}"));

  sg_logind_session_apply (&p, dict);
  g_assert_cmpstr (p.id, ==, "2");
  g_assert_cmpuint (p.uid, ==, 1000);
  g_assert_cmpstr (p.seat, ==, "seat0");
  g_assert_cmpstr (p.session_class, ==, "user");
  g_assert_cmpstr (p.type, ==, "wayland");
  g_assert_true (p.active && !p.remote);
  sg_logind_session_apply (&p, wrong);
  g_assert_true (p.active);
  g_assert_cmpstr (p.seat, ==, "seat0");
  g_assert_cmpstr (p.state, ==, "closing");
  sg_logind_session_clear (&p);
}

/* The helper's reading: a session that lacks what the rule reads is an
 * error that names it, never a default. */
static void
test_session_from_props (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) full = g_variant_ref_sink (g_variant_new_parsed (
      "{'Id': <'2'>, 'User': <(@u 1000, @o '/org/freedesktop/login1/user/_1000')>, "
      "'Seat': <('seat0', @o '/org/freedesktop/login1/seat/seat0')>, 'Remote': <false>, "
      "'Class': <'user'>, 'Type': <'x11'>, 'Active': <true>, 'State': <'active'>}"));
  g_autoptr (GVariant) no_active = g_variant_ref_sink (g_variant_new_parsed (
      "{'Id': <'2'>, 'User': <(@u 1000, @o '/org/freedesktop/login1/user/_1000')>, "
      "'Seat': <('seat0', @o '/org/freedesktop/login1/seat/seat0')>, 'Remote': <false>, "
      "'Class': <'user'>, 'Type': <'x11'>, 'Active': <'yes'>, 'State': <'active'>}"));

  g_autoptr (SgLogindSession) s
      = sg_logind_session_from_props ("/org/freedesktop/login1/session/_32", full, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (s->object_path, ==, "/org/freedesktop/login1/session/_32");
  g_assert_cmpstr (s->id, ==, "2");
  g_assert_cmpuint (s->uid, ==, 1000);
  g_assert_cmpstr (s->seat, ==, "seat0");
  g_assert_true (s->active && !s->remote);

  g_autoptr (SgLogindSession) t
      = sg_logind_session_from_props ("/org/freedesktop/login1/session/_32", no_active, &error);
  g_assert_null (t);
  g_assert_error (error, SG_ERROR, SG_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "Active"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/logind/session-flaws", test_session_flaws);
  g_test_add_func ("/logind/session-apply", test_session_apply);
  g_test_add_func ("/logind/session-from-props", test_session_from_props);
  return g_test_run ();
}
