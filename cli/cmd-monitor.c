/* seatgatectl monitor: one line per Granted/Revoked, per SPICE client the
 * seat's VM reported (ConsoleClient), and per helper coming or going, until
 * Ctrl-C. */
#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "seatgatectl.h"

typedef struct
{
  GMainLoop *loop;
  gboolean json;
} Monitor;

static void
emit (Monitor *m, const char *event, const char *seat, gint64 uid, const char *reason,
      const char *bus_name)
{
  g_autofree char *when = sgctl_time_now (m->json);

  if (m->json)
    {
      g_autoptr (SgctlJson) json = sgctl_json_new ();
      sgctl_json_begin_object (json);
      sgctl_json_member_string (json, "time", when);
      sgctl_json_member_string (json, "event", event);
      if (seat != NULL)
        sgctl_json_member_string (json, "seat", seat);
      if (uid >= 0)
        {
          g_autofree char *user = sgctl_user_name ((guint32) uid);
          sgctl_json_member_int (json, "uid", uid);
          sgctl_json_member_string (json, "user", user);
        }
      if (reason != NULL)
        sgctl_json_member_string (json, "reason", reason);
      if (bus_name != NULL)
        sgctl_json_member_string (json, "bus_name", bus_name);
      sgctl_json_end_object (json);
      sgctl_json_print (json);
      return;
    }

  if (uid >= 0)
    {
      g_autofree char *label = sgctl_user_label ((guint32) uid);
      if (reason != NULL)
        printf ("%s %s %s %s: %s\n", when, seat, event, label, reason);
      else
        printf ("%s %s %s %s\n", when, seat, event, label);
    }
  else
    {
      /* "helper-started" -> "seatgate-helper started" */
      g_autofree char *what = g_strdelimit (g_strdup (event + strlen ("helper-")), "-", ' ');
      if (bus_name != NULL)
        printf ("%s seatgate-helper %s (%s)\n", when, what, bus_name);
      else
        printf ("%s seatgate-helper %s\n", when, what);
    }
  fflush (stdout);
}

/* A VM's client event: "seat0 vm-client connected 127.0.0.1:40312 while
 * alice (1000) held the seat". The uid is whoever held the grant when the
 * VM spoke, not a claim about who the client is. */
static void
emit_vm_client (Monitor *m, const char *seat, guint32 uid, const char *event, const char *address)
{
  g_autofree char *when = sgctl_time_now (m->json);

  if (m->json)
    {
      g_autoptr (SgctlJson) json = sgctl_json_new ();
      sgctl_json_begin_object (json);
      sgctl_json_member_string (json, "time", when);
      sgctl_json_member_string (json, "event", "vm-client");
      sgctl_json_member_string (json, "seat", seat);
      sgctl_json_member_string (json, "client_event", event);
      sgctl_json_member_string (json, "address", address);
      if (uid != SG_NO_UID)
        {
          g_autofree char *user = sgctl_user_name (uid);
          sgctl_json_member_int (json, "uid", uid);
          sgctl_json_member_string (json, "user", user);
        }
      sgctl_json_end_object (json);
      sgctl_json_print (json);
      return;
    }

  if (uid != SG_NO_UID)
    {
      g_autofree char *label = sgctl_user_label (uid);
      printf ("%s %s vm-client %s %s while %s held the seat\n", when, seat, event, address, label);
    }
  else
    printf ("%s %s vm-client %s %s while nobody held the seat\n", when, seat, event, address);
  fflush (stdout);
}

static void
on_gate_signal (GDBusConnection *bus, const char *sender, const char *path, const char *iface,
                const char *signal, GVariant *params, gpointer data)
{
  Monitor *m = data;
  const char *seat, *reason = NULL;
  guint32 uid;

  if (g_str_equal (signal, "Granted") && g_variant_is_of_type (params, G_VARIANT_TYPE ("(su)")))
    {
      g_variant_get (params, "(&su)", &seat, &uid);
      emit (m, "granted", seat, uid, NULL, NULL);
    }
  else if (g_str_equal (signal, "Revoked")
           && g_variant_is_of_type (params, G_VARIANT_TYPE ("(sus)")))
    {
      g_variant_get (params, "(&su&s)", &seat, &uid, &reason);
      emit (m, "revoked", seat, uid, reason, NULL);
    }
  else if (g_str_equal (signal, "ConsoleClient")
           && g_variant_is_of_type (params, G_VARIANT_TYPE ("(suss)")))
    {
      const char *event, *address;
      g_variant_get (params, "(&su&s&s)", &seat, &uid, &event, &address);
      emit_vm_client (m, seat, uid, event, address);
    }
}

static void
on_owner_changed (GDBusConnection *bus, const char *sender, const char *path, const char *iface,
                  const char *signal, GVariant *params, gpointer data)
{
  Monitor *m = data;
  const char *name, *old_owner, *new_owner;

  g_variant_get (params, "(&s&s&s)", &name, &old_owner, &new_owner);
  if (!g_str_equal (name, SGCTL_BUS_NAME))
    return;
  if (*old_owner != '\0')
    emit (m, "helper-stopped", NULL, -1, NULL, old_owner);
  if (*new_owner != '\0')
    emit (m, "helper-started", NULL, -1, NULL, new_owner);
}

static gboolean
on_stop (gpointer data)
{
  Monitor *m = data;

  g_main_loop_quit (m->loop);
  return G_SOURCE_REMOVE;
}

int
sgctl_cmd_monitor (int argc, char **argv)
{
  gboolean json = FALSE;
  const GOptionEntry entries[]
      = { { "json", 0, 0, G_OPTION_ARG_NONE, &json, "One JSON object per line", NULL }, { NULL } };
  g_autoptr (GOptionContext) context = sgctl_option_context (
      "monitor", NULL,
      "Prints a line for every grant and revoke (time, seat, user, reason), for\n"
      "every SPICE client a seat's VM reports (with QMPSocket=: connected,\n"
      "initialized, disconnected, the client's address and who held the seat)\n"
      "and for seatgate-helper starting and stopping, until Ctrl-C. The first\n"
      "line says whether the helper is running.",
      entries);
  g_autoptr (GError) error = NULL;
  g_autoptr (GDBusConnection) bus = NULL;
  g_autoptr (GVariant) owner = NULL;
  g_autoptr (GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  Monitor m = { .loop = loop };

  if (!sgctl_parse_options (context, &argc, &argv))
    return SGCTL_EXIT_USAGE;
  if (argc > 1)
    {
      g_printerr ("seatgatectl monitor: no arguments expected (see --help)\n");
      return SGCTL_EXIT_USAGE;
    }
  m.json = json;

  bus = sgctl_system_bus (&error);
  if (bus == NULL)
    return sgctl_fail (NULL, error);

  guint gate_id = g_dbus_connection_signal_subscribe (
      bus, SGCTL_BUS_NAME, SGCTL_BUS_NAME, NULL, SGCTL_OBJECT_PATH, NULL, G_DBUS_SIGNAL_FLAGS_NONE,
      on_gate_signal, &m, NULL);
  guint owner_id = g_dbus_connection_signal_subscribe (
      bus, "org.freedesktop.DBus", "org.freedesktop.DBus", "NameOwnerChanged",
      "/org/freedesktop/DBus", SGCTL_BUS_NAME, G_DBUS_SIGNAL_FLAGS_NONE, on_owner_changed, &m,
      NULL);

  /* A round trip after the subscriptions: once it returns, the bus has
   * our match rules, so the first line is not followed by a gap. */
  owner = g_dbus_connection_call_sync (
      bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "GetNameOwner",
      g_variant_new ("(s)", SGCTL_BUS_NAME), G_VARIANT_TYPE ("(s)"), G_DBUS_CALL_FLAGS_NONE, -1,
      NULL, NULL);
  if (owner != NULL)
    {
      const char *name;
      g_variant_get (owner, "(&s)", &name);
      emit (&m, "helper-is-running", NULL, -1, NULL, name);
    }
  else
    emit (&m, "helper-is-not-running", NULL, -1, NULL, NULL);

  g_unix_signal_add (SIGINT, on_stop, &m);
  g_unix_signal_add (SIGTERM, on_stop, &m);
  g_main_loop_run (loop);

  g_dbus_connection_signal_unsubscribe (bus, gate_id);
  g_dbus_connection_signal_unsubscribe (bus, owner_id);
  return SGCTL_EXIT_OK;
}
