/* seatgate-helper: wires the config, the nftables gate and the D-Bus service
 * together, in the order that keeps the gate closed at every step (closing
 * it is gate-reset.c's). */
#include <gio/gio.h>
#include <glib-unix.h>
#include <locale.h>
#include <stdlib.h>

#include "gate-reset.h"
#include "gate-service.h"
#include "nft-gate.h"
#include "sd-notify.h"
#include "sg-build-config.h"
#include "sg-config.h"
#include "table-watch.h"

typedef struct
{
  GMainLoop *loop;
  GDBusConnection *bus;
  const SgConfig *config;
  SgNftGate *gate;
  SgGateService *service; /* NULL until the bus is up */
  guint owner_id;
  int exit_status;
} Helper;

static void
on_name_acquired (GDBusConnection *bus, const char *name, gpointer data)
{
  g_autoptr (GError) error = NULL;

  g_message ("Ready: %s is on the bus", name);
  if (!sg_sd_notify ("READY=1", &error))
    g_warning ("Could not tell systemd we are ready: %s", error->message);
  if (sg_sd_watchdog_start () != 0)
    g_debug ("Pinging the service manager's watchdog");
}

static void
on_name_lost (GDBusConnection *bus, const char *name, gpointer data)
{
  Helper *helper = data;

  if (bus == NULL)
    g_critical ("Lost the connection to the system bus");
  else
    g_critical ("Could not own %s on the system bus: is another seatgate-helper running, "
                "and does the bus policy (io.github.seatgate.Gate1.conf) let root own it?",
                name);
  helper->exit_status = EXIT_FAILURE;
  g_main_loop_quit (helper->loop);
}

/* The bus name is taken only once the table is in place and logind's state
 * is known, so a caller that finds the name finds a working gate. */
static void
on_service_ready (gpointer data)
{
  Helper *helper = data;

  helper->owner_id
      = g_bus_own_name_on_connection (helper->bus, SG_BUS_NAME, G_BUS_NAME_OWNER_FLAGS_DO_NOT_QUEUE,
                                      on_name_acquired, on_name_lost, helper, NULL);
}

static gboolean
on_stop_signal (gpointer data)
{
  Helper *helper = data;

  g_message ("Stopping: every grant ends, the deny stays");
  g_main_loop_quit (helper->loop);
  return G_SOURCE_REMOVE;
}

static void
on_table_tampered (const char *what, gpointer data)
{
  Helper *helper = data;
  g_autoptr (GError) error = NULL;

  if (helper->service != NULL)
    {
      sg_gate_service_restore_table (helper->service, what);
      return;
    }
  /* Before the service exists there are no grants: a plain reset restores. */
  g_warning ("Table inet seatgate was changed from outside (%s); resetting it",
             what != NULL ? what : "notifications were lost");
  if (!sg_gate_reset (helper->gate, helper->config, &error))
    sg_helper_fail_closed ("Could not reset the table: %s", error->message);
}

static void
on_bus_closed (GDBusConnection *bus, gboolean remote_peer_vanished, GError *error, gpointer data)
{
  Helper *helper = data;

  /* Every holder is unreachable now: end all grants and exit, so the
   * restart begins deny-only. */
  g_critical ("Lost the connection to the system bus%s%s", error ? ": " : "",
              error ? error->message : "");
  helper->exit_status = EXIT_FAILURE;
  g_main_loop_quit (helper->loop);
}

static SgConfig *
load_config (const char *path, gboolean explicit_path, GError **error)
{
  g_autoptr (GError) local_error = NULL;
  SgConfig *config = sg_config_load_file (path, &local_error);

  if (config != NULL)
    {
      /* Said, so that an admin who deleted the main file by mistake learns
       * that seat0's port 5930 is gated by the built-in default. */
      if (config->main_missing)
        {
          g_autofree char *dropins = sg_config_dropin_dir (path);
          g_message ("%s does not exist; the built-in default (seat0, port 5930) stands in for "
                     "it, with the drop-ins in %s applied",
                     path, dropins);
        }
      return config;
    }
  /* Only the default path may be missing: a named file must exist. */
  if (!explicit_path && g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
    {
      g_message ("%s does not exist; gating seat0's port 5930", path);
      return sg_config_new_default ();
    }
  g_propagate_error (error, g_steal_pointer (&local_error));
  return NULL;
}

int
main (int argc, char **argv)
{
  g_autofree char *config_path = NULL;
  gboolean reset = FALSE, verbose = FALSE, version = FALSE;
  g_autoptr (GError) error = NULL;
  g_autoptr (GOptionContext) context = NULL;
  const GOptionEntry entries[]
      = { { "config", 'c', 0, G_OPTION_ARG_FILENAME, &config_path,
            "Read FILE instead of " SG_CONFIG_FILE, "FILE" },
          { "reset", 0, 0, G_OPTION_ARG_NONE, &reset,
            "Reset the table to deny-only, close gated connections, and exit", NULL },
          { "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "Log debug messages", NULL },
          { "version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the version and exit", NULL },
          { NULL } };

  setlocale (LC_ALL, "");
  context = g_option_context_new ("- seatgate's privileged helper");
  g_option_context_set_summary (context,
                                "Keeps the nftables table that lets only the console user of a "
                                "seat reach its VM console ports.");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("seatgate-helper: %s (see --help)\n", error->message);
      return 2;
    }
  if (version)
    {
      g_print ("seatgate-helper %s\n", SG_VERSION);
      return EXIT_SUCCESS;
    }
  if (verbose)
    g_setenv ("G_MESSAGES_DEBUG", "all", TRUE);

  g_autoptr (SgConfig) config
      = load_config (config_path ? config_path : SG_CONFIG_FILE, config_path != NULL, &error);
  if (config == NULL)
    {
      g_printerr ("seatgate-helper: %s\n", error->message);
      sg_gate_close_without_config ();
      g_printerr ("seatgate-helper: the gate stays closed; fix the file and start the helper "
                  "again.\n");
      return EXIT_FAILURE;
    }

  Helper helper = { .config = config, .exit_status = EXIT_SUCCESS };
  g_autoptr (SgNftGate) gate = sg_nft_gate_new (config->table_mode, &error);
  g_autoptr (SgTableWatch) watch = NULL;
  helper.gate = gate;
  /* Watch before the reset, so a firewall reload right after it (e.g.
   * nftables.service at boot) cannot go unnoticed. Even an owned table is
   * watched: where the kernel cannot protect it, this restores it. */
  if (gate != NULL && !reset)
    watch = sg_table_watch_new (sg_nft_gate_get_portid (gate), on_table_tampered, &helper, &error);
  if (gate == NULL || (!reset && watch == NULL) || !sg_gate_reset (gate, config, &error))
    {
      g_printerr ("seatgate-helper: could not set up the nftables table: %s\n", error->message);
      return EXIT_FAILURE;
    }
  if (reset)
    return EXIT_SUCCESS;

  helper.loop = g_main_loop_new (NULL, FALSE);
  helper.bus = g_bus_get_sync (G_BUS_TYPE_SYSTEM, NULL, &error);
  if (helper.bus == NULL)
    {
      g_printerr ("seatgate-helper: could not connect to the system bus: %s\n", error->message);
      return EXIT_FAILURE;
    }
  g_dbus_connection_set_exit_on_close (helper.bus, FALSE);
  g_signal_connect (helper.bus, "closed", G_CALLBACK (on_bus_closed), &helper);

  g_autoptr (SgGateService) service
      = sg_gate_service_new (helper.bus, config, gate, on_service_ready, &helper, &error);
  if (service == NULL)
    {
      g_printerr ("seatgate-helper: %s\n", error->message);
      return EXIT_FAILURE;
    }
  helper.service = service;

  g_unix_signal_add (SIGTERM, on_stop_signal, &helper);
  g_unix_signal_add (SIGINT, on_stop_signal, &helper);
  g_main_loop_run (helper.loop);

  sg_sd_notify ("STOPPING=1", NULL);
  sg_gate_service_shutdown (service);
  if (helper.owner_id != 0)
    g_bus_unown_name (helper.owner_id);
  g_dbus_connection_flush_sync (helper.bus, NULL, NULL);
  g_clear_pointer (&watch, sg_table_watch_free);
  helper.service = NULL;
  g_clear_pointer (&service, sg_gate_service_free);
  g_object_unref (helper.bus);
  g_main_loop_unref (helper.loop);
  return helper.exit_status;
}
