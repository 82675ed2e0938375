#include <glib.h>

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
  { "seat0", "seat0", "user", "closing", FALSE, TRUE, "not the active session on seat0" },
  { "seat0", NULL, "user", NULL, FALSE, FALSE, "not the active session on seat0" },
};

static void
test_session_flaws (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      const Case *c = &cases[i];
      g_autofree char *flaw = sg_logind_session_flaw (c->seat, c->wanted, c->remote, c->klass,
                                                      c->active, c->state);
      if (g_strcmp0 (flaw, c->flaw) != 0)
        g_error ("case %u: got '%s', want '%s'", i, flaw, c->flaw);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/logind/session-flaws", test_session_flaws);
  return g_test_run ();
}
