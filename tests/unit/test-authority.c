#include <gio/gio.h>

#include "authority.h"
#include "sg-gate1-generated.h"

/* The polkit action each method needs, as the interface XML and the policy
 * file (polkit/io.github.seatgate.policy.in) promise it. */
static const struct
{
  const char *method;
  const char *action;
} expected[] = {
  { "Grant", "io.github.seatgate.grant" },
  { "Revoke", "io.github.seatgate.manage" },
  { "Release", NULL },
  { "OpenConsole", NULL },
};

static void
test_each_method_needs_its_action (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (expected); i++)
    g_assert_cmpstr (sg_authority_action_for_method (expected[i].method), ==, expected[i].action);
}

/* A method added to the interface XML must get its action decided in
 * authority.c (and here): until then it fails this test. */
static void
test_every_method_of_the_interface_is_decided (void)
{
  GDBusInterfaceInfo *info = sg_gate1_interface_info ();

  for (guint m = 0; info->methods[m] != NULL; m++)
    {
      gboolean listed = FALSE;
      for (gsize i = 0; i < G_N_ELEMENTS (expected); i++)
        listed |= g_str_equal (info->methods[m]->name, expected[i].method);
      if (!listed)
        g_test_fail_printf ("Gate1 method %s has no polkit action decided in authority.c",
                            info->methods[m]->name);
    }
}

/* Deny by default: a method nobody listed is the administrator's. */
static void
test_an_unknown_method_needs_the_administrators_action (void)
{
  g_assert_cmpstr (sg_authority_action_for_method ("Frobnicate"), ==, "io.github.seatgate.manage");
  g_assert_cmpstr (sg_authority_action_for_method ("grant"), ==, "io.github.seatgate.manage");
  g_assert_cmpstr (sg_authority_action_for_method (""), ==, "io.github.seatgate.manage");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/authority/method-actions", test_each_method_needs_its_action);
  g_test_add_func ("/authority/every-method-decided",
                   test_every_method_of_the_interface_is_decided);
  g_test_add_func ("/authority/unknown-method",
                   test_an_unknown_method_needs_the_administrators_action);
  return g_test_run ();
}
