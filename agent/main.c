/* seatgate-agent: gives the VM console to the user at the seat. Only the
 * wiring is here; the work is in agent.c and the files it names. */
#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <gio/gio.h>
#include <locale.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <glib/gi18n-lib.h>

#include "agent.h"
#include "log.h"
#include "sg-build-config.h"

typedef struct
{
  GMainLoop *loop;
  int status;
} Run;

static void
on_done (int status, gpointer user_data)
{
  Run *run = user_data;

  run->status = status;
  g_main_loop_quit (run->loop);
}

static gboolean
on_signal (gpointer user_data)
{
  Run *run = user_data;

  g_message ("Stopping on a signal");
  g_main_loop_quit (run->loop);
  return G_SOURCE_CONTINUE;
}

/* Started with stdin, stdout or stderr closed (a session manager may do
 * it), the first sockets opened would take those numbers, and a log line
 * would go down the system bus connection. /dev/null takes them first, as
 * daemons do (systemd's make_null_stdio does the same for its children). */
static void
open_missing_stdio (void)
{
  for (int fd = 0; fd <= 2; fd++)
    if (fcntl (fd, F_GETFD) < 0 && errno == EBADF)
      {
        int null = open ("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
        /* open () takes the lowest free number: this one. Should it fail,
         * nothing better can be done than to go on without a log. */
        if (null >= 0 && null != fd)
          close (null);
      }
}

int
main (int argc, char **argv)
{
  gboolean no_tray = FALSE, verbose = FALSE, version = FALSE;
  const GOptionEntry entries[] = {
    { "no-tray", 0, 0, G_OPTION_ARG_NONE, &no_tray,
      "Show no tray icon; tell state changes by desktop notifications", NULL },
    { "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "Log what happens, step by step", NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the version and exit", NULL },
    { NULL, 0, 0, 0, NULL, NULL, NULL },
  };
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GDBusConnection) system_bus = NULL;
  g_autoptr (GDBusConnection) session_bus = NULL;
  g_autoptr (GMainLoop) loop = NULL;
  g_autoptr (SgAgent) agent = NULL;
  Run run = { NULL, 0 };

  open_missing_stdio ();
  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, SG_LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  g_set_prgname ("seatgate-agent");
  context = g_option_context_new (NULL);
  g_option_context_set_summary (
      context, "Asks the seatgate helper for the VM console port while this login session is the\n"
               "active local session of its seat, and shows the state in the tray.");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("seatgate-agent: %s\nTry seatgate-agent --help.\n", error->message);
      return 2;
    }
  if (version)
    {
      g_print ("seatgate-agent %s\n", SG_VERSION);
      return 0;
    }
  if (argc > 1)
    {
      g_printerr ("seatgate-agent: unexpected argument '%s'\nTry seatgate-agent --help.\n",
                  argv[1]);
      return 2;
    }

  sg_agent_log_init (verbose);
  system_bus = g_bus_get_sync (G_BUS_TYPE_SYSTEM, NULL, &error);
  if (system_bus == NULL)
    {
      g_critical ("Cannot reach the system bus: %s", error->message);
      return 1;
    }
  /* A closed bus is handled by the agent, not by a SIGTERM from GDBus. */
  g_dbus_connection_set_exit_on_close (system_bus, FALSE);
  session_bus = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, &error);
  if (session_bus == NULL)
    {
      g_warning ("No session bus, so no tray icon and no notifications: %s", error->message);
      g_clear_error (&error);
    }
  else
    g_dbus_connection_set_exit_on_close (session_bus, FALSE);

  loop = g_main_loop_new (NULL, FALSE);
  run.loop = loop;
  g_unix_signal_add (SIGTERM, on_signal, &run);
  g_unix_signal_add (SIGINT, on_signal, &run);
  g_unix_signal_add (SIGHUP, on_signal, &run);
  agent = sg_agent_new (system_bus, session_bus, !no_tray, on_done, &run);
  g_debug ("seatgate-agent %s started", SG_VERSION);
  g_main_loop_run (loop);
  return run.status;
}
