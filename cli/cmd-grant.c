/* seatgatectl grant [-- COMMAND…]: a grant is held by the caller's bus
 * connection and ends when it leaves the bus, so seatgatectl stays: until
 * COMMAND exits (a viewer launcher), or until Ctrl-C. */
#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include <glib/gi18n-lib.h>

#include "json.h"
#include "seatgatectl.h"
#include "sg-wire-signals.h"

/* Long enough for a person to answer a polkit agent's prompt. */
#define GRANT_TIMEOUT_MS (5 * 60 * 1000)

typedef struct
{
  GMainLoop *loop;
  GDBusConnection *bus;
  guint32 uid;
  GHashTable *held;   /* seat names we hold */
  GDBusProxy *helper; /* whose unique name a Revoked must come from */
  GSubprocess *child;
  int exit_status;
  gboolean quiet;
} Grant;

static void
on_revoked (GDBusConnection *bus, const char *sender, const char *path, const char *iface,
            const char *signal, GVariant *params, gpointer data)
{
  Grant *g = data;
  const char *seat, *reason;
  guint32 uid;

  /* The helper's unique name only: a signal sent to us by anyone else
   * (unicast, or on a GLib without the CVE-2024-34397 fix, which believed a
   * subscription to the well-known name) ends nothing. */
  g_autofree char *owner = g_dbus_proxy_get_name_owner (g->helper);
  if (owner == NULL || g_strcmp0 (sender, owner) != 0)
    return;
  if (!sg_wire_revoked_parse (params, &seat, &uid, &reason) || uid != g->uid
      || !g_hash_table_remove (g->held, seat))
    return;
  g_printerr (_ ("seatgatectl: your grant on %s ended (%s)\n"), seat, reason);
  if (g_hash_table_size (g->held) == 0 && g->child == NULL)
    {
      g->exit_status = SGCTL_EXIT_FAILURE;
      g_main_loop_quit (g->loop);
    }
}

static void
on_helper_owner (GDBusConnection *bus, const char *sender, const char *path, const char *iface,
                 const char *signal, GVariant *params, gpointer data)
{
  Grant *g = data;
  const char *new_owner;

  g_variant_get (params, "(&s&s&s)", NULL, NULL, &new_owner);
  if (*new_owner != '\0' || g_hash_table_size (g->held) == 0)
    return;
  g_printerr (_ ("seatgatectl: seatgate-helper left the bus: every grant has ended\n"));
  g_hash_table_remove_all (g->held);
  if (g->child == NULL)
    {
      g->exit_status = SGCTL_EXIT_NO_HELPER;
      g_main_loop_quit (g->loop);
    }
}

static gboolean
on_signal (gpointer data)
{
  Grant *g = data;

  /* The command decides when it is done; Ctrl-C reached it already if it
   * shares our terminal, a kill of seatgatectl alone is passed on. */
  if (g->child != NULL)
    g_subprocess_send_signal (g->child, SIGTERM);
  else
    {
      g->exit_status = SGCTL_EXIT_OK;
      g_main_loop_quit (g->loop);
    }
  return G_SOURCE_CONTINUE;
}

static void
on_child_done (GObject *source, GAsyncResult *result, gpointer data)
{
  Grant *g = data;
  GSubprocess *child = G_SUBPROCESS (source);

  g_subprocess_wait_finish (child, result, NULL);
  if (g_subprocess_get_if_exited (child))
    g->exit_status = g_subprocess_get_exit_status (child);
  else if (g_subprocess_get_if_signaled (child))
    g->exit_status = 128 + g_subprocess_get_term_sig (child);
  else
    g->exit_status = SGCTL_EXIT_FAILURE;
  g_clear_object (&g->child);
  g_main_loop_quit (g->loop);
}

/* Collects the seats our uid holds, and prints them. */
static void
report_grant (Grant *g, gboolean json)
{
  g_autoptr (GVariant) grants = sgctl_gate_get_property (g->bus, "Grants", NULL);
  g_autoptr (SgctlJson) out = sgctl_json_new ();
  g_autofree char *user = sgctl_user_name (g->uid);
  g_autofree char *label = sgctl_user_label (g->uid);
  GVariantIter iter;
  const char *seat;
  guint32 uid;
  GVariant *ports;

  sgctl_json_begin_object (out);
  sgctl_json_member_bool (out, "ok", TRUE);
  sgctl_json_member_int (out, "uid", g->uid);
  sgctl_json_member_string (out, "user", user);
  sgctl_json_key (out, "seats");
  sgctl_json_begin_array (out);
  if (grants != NULL)
    {
      g_variant_iter_init (&iter, grants);
      while (g_variant_iter_next (&iter, "(&su@aq)", &seat, &uid, &ports))
        {
          if (uid == g->uid)
            {
              g_autofree char *ports_text = sgctl_ports_string (ports);
              g_hash_table_add (g->held, g_strdup (seat));
              sgctl_json_begin_object (out);
              sgctl_json_member_string (out, "seat", seat);
              sgctl_json_key (out, "ports");
              sgctl_json_ports (out, ports);
              sgctl_json_end_object (out);
              if (!json && !g->quiet)
                /* TRANSLATORS: seat, port list, user, e.g. "Granted seat0's VM
                 * console (port 5930) to alice." */
                printf (g_dngettext (GETTEXT_PACKAGE, "Granted %s's VM console (port %s) to %s.\n",
                                     "Granted %s's VM console (ports %s) to %s.\n",
                                     g_variant_n_children (ports)),
                        seat, ports_text, label);
            }
          g_variant_unref (ports);
        }
    }
  sgctl_json_end_array (out);
  sgctl_json_end_object (out);
  if (json)
    sgctl_json_print (out);
  fflush (stdout);
}

int
sgctl_cmd_grant (int argc, char **argv)
{
  gboolean json = FALSE, quiet = FALSE;
  const GOptionEntry entries[]
      = { { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print the grant (or the refusal) as JSON",
            NULL },
          { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "Print only errors", NULL },
          { NULL } };
  g_autoptr (GOptionContext) context = sgctl_option_context (
      "grant", "[-- COMMAND [ARG…]]",
      "Asks seatgate-helper for the VM console of the seat whose active local session\n"
      "you own. The grant lasts while seatgatectl runs: with COMMAND, until COMMAND\n"
      "exits (seatgatectl then exits with its status), else until Ctrl-C. It also ends\n"
      "when you leave the console (another session becomes active, you log out).\n"
      "Example: seatgatectl grant -- remote-viewer spice://127.0.0.1:5930",
      entries);
  g_autoptr (GError) error = NULL;
  g_autoptr (GDBusConnection) bus = NULL;
  g_autoptr (SgGate1) proxy = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GHashTable) held = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  Grant g = { .loop = loop, .uid = getuid (), .held = held, .quiet = quiet };
  char **command = NULL;

  g_option_context_set_strict_posix (context, TRUE);
  if (!sgctl_parse_options (context, &argc, &argv))
    return SGCTL_EXIT_USAGE;
  g.quiet = quiet;
  command = argv + 1;
  if (command[0] != NULL && g_str_equal (command[0], "--"))
    command++;
  if (command[0] == NULL)
    command = NULL;

  bus = sgctl_system_bus (&error);
  if (bus != NULL)
    proxy = sgctl_gate_proxy (bus, TRUE, &error);
  if (proxy == NULL)
    {
      if (json)
        sgctl_json_error (error);
      return sgctl_fail (NULL, error);
    }
  g.bus = bus;
  g.helper = G_DBUS_PROXY (proxy);

  /* From here on a signal waits for the main loop (and the command) instead
   * of killing seatgatectl with the grant held. */
  guint sigint = g_unix_signal_add (SIGINT, on_signal, &g);
  guint sigterm = g_unix_signal_add (SIGTERM, on_signal, &g);
  guint sighup = g_unix_signal_add (SIGHUP, on_signal, &g);

  /* Listen before asking, so no Revoked is missed. */
  guint revoked_id = g_dbus_connection_signal_subscribe (
      bus, SGCTL_BUS_NAME, SGCTL_BUS_NAME, "Revoked", SGCTL_OBJECT_PATH, NULL,
      G_DBUS_SIGNAL_FLAGS_NONE, on_revoked, &g, NULL);
  guint owner_id = g_dbus_connection_signal_subscribe (
      bus, "org.freedesktop.DBus", "org.freedesktop.DBus", "NameOwnerChanged",
      "/org/freedesktop/DBus", SGCTL_BUS_NAME, G_DBUS_SIGNAL_FLAGS_MATCH_ARG0_NAMESPACE,
      on_helper_owner, &g, NULL);

  reply = g_dbus_proxy_call_sync (G_DBUS_PROXY (proxy), "Grant", NULL,
                                  G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION,
                                  GRANT_TIMEOUT_MS, NULL, &error);
  if (reply == NULL)
    {
      g_dbus_connection_signal_unsubscribe (bus, revoked_id);
      g_dbus_connection_signal_unsubscribe (bus, owner_id);
      g_source_remove (sigint);
      g_source_remove (sigterm);
      g_source_remove (sighup);
      if (json)
        sgctl_json_error (error);
      return sgctl_fail ("not granted", error);
    }
  report_grant (&g, json);

  if (command != NULL)
    {
      g.child = g_subprocess_newv ((const char *const *) command, G_SUBPROCESS_FLAGS_STDIN_INHERIT,
                                   &error);
      if (g.child == NULL)
        {
          g_printerr (_ ("seatgatectl: cannot run %s: %s\n"), command[0], error->message);
          g.exit_status = g_error_matches (error, G_SPAWN_ERROR, G_SPAWN_ERROR_NOENT) ? 127 : 126;
        }
      else
        g_subprocess_wait_async (g.child, NULL, on_child_done, &g);
    }
  else if (!json && !quiet)
    {
      printf (_ ("Holding the grant until Ctrl-C.\n"));
      fflush (stdout);
    }

  if (command == NULL || g.child != NULL)
    g_main_loop_run (loop);
  g_source_remove (sigint);
  g_source_remove (sigterm);
  g_source_remove (sighup);

  g_dbus_connection_signal_unsubscribe (bus, revoked_id);
  g_dbus_connection_signal_unsubscribe (bus, owner_id);
  if (g_hash_table_size (held) > 0)
    {
      g_autoptr (GVariant) released = g_dbus_proxy_call_sync (
          G_DBUS_PROXY (proxy), "Release", NULL, G_DBUS_CALL_FLAGS_NO_AUTO_START, -1, NULL, NULL);
      if (released != NULL && !json && !quiet)
        printf (_ ("Released the grant.\n"));
    }
  return g.exit_status;
}
