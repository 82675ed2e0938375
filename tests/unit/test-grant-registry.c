#include <glib.h>

#include "grant-registry.h"

static void
assert_seats (GPtrArray *seats, const char *expected)
{
  g_autoptr (GString) got = g_string_new (NULL);
  for (guint i = 0; i < seats->len; i++)
    g_string_append_printf (got, "%s%s", i ? "," : "", (char *) seats->pdata[i]);
  g_assert_cmpstr (got->str, ==, expected);
}

static void
test_first_hold_creates_grant (void)
{
  g_autoptr (SgGrantRegistry) registry = sg_grant_registry_new ();

  g_assert_true (sg_grant_registry_hold (registry, "seat0", 1000, "2", "/s/2", ":1.5"));
  g_assert_false (sg_grant_registry_hold (registry, "seat0", 1000, "2", "/s/2", ":1.5"));
  g_assert_false (sg_grant_registry_hold (registry, "seat0", 1000, "2", "/s/2", ":1.6"));
  SgGrant *grant = sg_grant_registry_lookup (registry, "seat0");
  g_assert_nonnull (grant);
  g_assert_cmpuint (grant->uid, ==, 1000);
  g_assert_cmpuint (grant->holders->len, ==, 2);
  g_assert_null (sg_grant_registry_lookup (registry, "seat1"));
}

static void
test_grant_lives_until_last_holder_leaves (void)
{
  g_autoptr (SgGrantRegistry) registry = sg_grant_registry_new ();

  sg_grant_registry_hold (registry, "seat0", 1000, "2", "/s/2", ":1.5");
  sg_grant_registry_hold (registry, "seat0", 1000, "2", "/s/2", ":1.6");
  g_autoptr (GPtrArray) first = sg_grant_registry_drop_holder (registry, ":1.5");
  assert_seats (first, "");
  g_autoptr (GPtrArray) again = sg_grant_registry_drop_holder (registry, ":1.5");
  assert_seats (again, "");
  g_autoptr (GPtrArray) last = sg_grant_registry_drop_holder (registry, ":1.6");
  assert_seats (last, "seat0");
  /* Still there: the caller revokes it. */
  g_autoptr (SgGrant) grant = sg_grant_registry_take (registry, "seat0");
  g_assert_nonnull (grant);
  g_assert_null (sg_grant_registry_take (registry, "seat0"));
}

static void
test_lookups_by_session_and_uid (void)
{
  g_autoptr (SgGrantRegistry) registry = sg_grant_registry_new ();

  sg_grant_registry_hold (registry, "seat1", 1000, "7", "/s/7", ":1.5");
  sg_grant_registry_hold (registry, "seat0", 1000, "2", "/s/2", ":1.5");
  sg_grant_registry_hold (registry, "seat2", 1001, "9", "/s/9", ":1.8");

  g_autoptr (GPtrArray) by_uid = sg_grant_registry_seats_of_uid (registry, 1000);
  assert_seats (by_uid, "seat0,seat1");
  g_autoptr (GPtrArray) by_session = sg_grant_registry_seats_of_session (registry, "/s/9");
  assert_seats (by_session, "seat2");
  g_autoptr (GPtrArray) none = sg_grant_registry_seats_of_uid (registry, 0);
  assert_seats (none, "");
  g_autoptr (GPtrArray) all = sg_grant_registry_seats (registry);
  assert_seats (all, "seat0,seat1,seat2");
  g_autoptr (GPtrArray) orphaned = sg_grant_registry_drop_holder (registry, ":1.5");
  assert_seats (orphaned, "seat0,seat1");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/grant-registry/first-hold-creates-grant", test_first_hold_creates_grant);
  g_test_add_func ("/grant-registry/grant-lives-until-last-holder-leaves",
                   test_grant_lives_until_last_holder_leaves);
  g_test_add_func ("/grant-registry/lookups-by-session-and-uid", test_lookups_by_session_and_uid);
  return g_test_run ();
}
