/* seatgatectl release: the calling user gives up the VM console. */
#include <stdio.h>
#include <unistd.h>

#include <glib/gi18n-lib.h>

#include "json.h"
#include "seatgatectl.h"

/* Seats granted to @uid in the helper's Grants, as "seat0, seat1". */
static char *
seats_of (GDBusConnection *bus, guint32 uid, guint *n, GError **error)
{
  g_autoptr (GVariant) grants = sgctl_gate_get_property (bus, "Grants", error);
  g_autoptr (GString) out = g_string_new (NULL);
  GVariantIter iter;
  const char *seat;
  guint32 granted;

  *n = 0;
  if (grants == NULL)
    return NULL;
  g_variant_iter_init (&iter, grants);
  while (g_variant_iter_next (&iter, "(&su@aq)", &seat, &granted, NULL))
    if (granted == uid)
      {
        g_string_append_printf (out, "%s%s", out->len > 0 ? ", " : "", seat);
        (*n)++;
      }
  return g_string_free (g_steal_pointer (&out), FALSE);
}

int
sgctl_cmd_release (int argc, char **argv)
{
  gboolean json = FALSE;
  const GOptionEntry entries[]
      = { { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print the result as JSON", NULL }, { NULL } };
  g_autoptr (GOptionContext) context = sgctl_option_context (
      "release", NULL,
      "Gives up your VM console grant: the gated ports close to you and your open\n"
      "connections to them end. Your agent asks again at your next login.",
      entries);
  g_autoptr (GError) error = NULL;
  g_autoptr (GDBusConnection) bus = NULL;
  g_autoptr (SgGate1) proxy = NULL;
  g_autofree char *before = NULL, *after = NULL;
  g_autofree char *label = sgctl_user_label (getuid ());
  guint n_before = 0, n_after = 0;

  if (!sgctl_parse_options (context, &argc, &argv))
    return SGCTL_EXIT_USAGE;
  if (argc > 1)
    {
      g_printerr (_ ("seatgatectl release: no arguments expected (see --help)\n"));
      return SGCTL_EXIT_USAGE;
    }

  bus = sgctl_system_bus (&error);
  if (bus != NULL)
    proxy = sgctl_gate_proxy (bus, FALSE, &error);
  if (proxy != NULL)
    before = seats_of (bus, getuid (), &n_before, &error);
  if (before != NULL && !sg_gate1_call_release_sync (proxy, NULL, &error))
    g_clear_pointer (&before, g_free);
  if (before != NULL)
    after = seats_of (bus, getuid (), &n_after, &error);
  if (after == NULL)
    {
      if (json)
        sgctl_json_error (error);
      return sgctl_fail ("could not release", error);
    }

  if (json)
    {
      g_autoptr (SgctlJson) out = sgctl_json_new ();
      sgctl_json_begin_object (out);
      sgctl_json_member_bool (out, "ok", n_after == 0);
      sgctl_json_member_int (out, "uid", getuid ());
      sgctl_json_member_int (out, "released", n_before - n_after);
      sgctl_json_member_int (out, "still_held", n_after);
      sgctl_json_end_object (out);
      sgctl_json_print (out);
    }
  else if (n_after > 0)
    g_printerr (_ ("seatgatectl: %s still holds the grant on %s: another program of yours holds it "
                   "(your seatgate-agent, or a running \"seatgatectl grant\"); quit it, or use its "
                   "Release\n"),
                label, after);
  else if (n_before == 0)
    printf (_ ("%s held no grant.\n"), label);
  else
    printf (_ ("Released %s's grant on %s.\n"), label, before);
  return n_after == 0 ? SGCTL_EXIT_OK : SGCTL_EXIT_FAILURE;
}
