/* seatgatectl revoke UID|USER: polkit's io.github.seatgate.manage decides.
 * From a terminal, pkttyagent is started for this process (as systemctl
 * does), so polkit can ask for the administrator's password right there. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include <glib/gi18n-lib.h>

#include "json.h"
#include "seatgatectl.h"

#define REVOKE_TIMEOUT_MS (5 * 60 * 1000)
#define AGENT_READY_TIMEOUT_MS 5000

/* pkttyagent registered for this process, or NULL if there is none to start
 * (no terminal, not installed, or it failed: then polkit simply cannot ask). */
static GSubprocess *
start_tty_agent (void)
{
  g_autofree char *agent_path = g_find_program_in_path ("pkttyagent");
  g_autofree char *pid = g_strdup_printf ("%d", (int) getpid ());
  g_autoptr (GSubprocessLauncher) launcher = NULL;
  g_autoptr (GSubprocess) agent = NULL;
  g_autoptr (GError) error = NULL;
  int notify[2];

  if (agent_path == NULL || !isatty (STDIN_FILENO))
    return NULL;
  if (pipe2 (notify, O_CLOEXEC) < 0)
    return NULL;
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDIN_INHERIT);
  g_subprocess_launcher_take_fd (launcher, notify[1], 3);
  /* Not --fallback (as systemctl uses): polkitd consults a fallback agent
   * only for a subject with a login session, and the terminal that ran the
   * command is where its user looks for the prompt. */
  agent = g_subprocess_launcher_spawn (launcher, &error, agent_path, "--notify-fd", "3",
                                       "--process", pid, NULL);
  /* Drops our copy of the write end: EOF then means the agent is ready. */
  g_clear_object (&launcher);
  if (agent == NULL)
    {
      close (notify[0]);
      g_printerr (_ ("seatgatectl: could not start pkttyagent: %s\n"), error->message);
      return NULL;
    }
  struct pollfd pfd = { .fd = notify[0], .events = POLLIN };
  char c;
  while (poll (&pfd, 1, AGENT_READY_TIMEOUT_MS) > 0 && read (notify[0], &c, 1) > 0)
    ;
  close (notify[0]);
  return g_steal_pointer (&agent);
}

static void
stop_tty_agent (GSubprocess *agent)
{
  if (agent == NULL)
    return;
  g_subprocess_send_signal (agent, SIGTERM);
  g_subprocess_wait (agent, NULL, NULL);
}

int
sgctl_cmd_revoke (int argc, char **argv)
{
  gboolean json = FALSE, no_ask = FALSE;
  const GOptionEntry entries[]
      = { { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print the result as JSON", NULL },
          { "no-ask-password", 0, 0, G_OPTION_ARG_NONE, &no_ask,
            "Do not let polkit ask for a password", NULL },
          { NULL } };
  g_autoptr (GOptionContext) context = sgctl_option_context (
      "revoke", "UID|USER",
      "Ends USER's grant on every seat and closes their connections to the gated\n"
      "ports. Needs polkit's io.github.seatgate.manage (an administrator's password\n"
      "by default: from a terminal, pkttyagent asks for it). The user's agent may ask\n"
      "again while they still sit at the console.",
      entries);
  g_autoptr (GError) error = NULL;
  g_autoptr (GDBusConnection) bus = NULL;
  g_autoptr (SgGate1) proxy = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GSubprocess) agent = NULL;
  guint32 uid = 0;

  if (!sgctl_parse_options (context, &argc, &argv))
    return SGCTL_EXIT_USAGE;
  if (argc != 2)
    {
      g_printerr (_ ("seatgatectl revoke: give one UID or USER (see --help)\n"));
      return SGCTL_EXIT_USAGE;
    }
  if (!sgctl_parse_user (argv[1], &uid, &error))
    {
      g_printerr ("seatgatectl revoke: %s\n", error->message);
      return SGCTL_EXIT_USAGE;
    }
  g_autofree char *label = sgctl_user_label (uid);
  g_autofree char *user = sgctl_user_name (uid);

  bus = sgctl_system_bus (&error);
  if (bus != NULL)
    proxy = sgctl_gate_proxy (bus, FALSE, &error);
  if (proxy != NULL)
    {
      if (!no_ask)
        agent = start_tty_agent ();
      reply = g_dbus_proxy_call_sync (G_DBUS_PROXY (proxy), "Revoke", g_variant_new ("(u)", uid),
                                      no_ask ? G_DBUS_CALL_FLAGS_NONE
                                             : G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION,
                                      REVOKE_TIMEOUT_MS, NULL, &error);
      stop_tty_agent (agent);
    }
  if (reply == NULL)
    {
      if (json)
        sgctl_json_error (error);
      return sgctl_fail ("could not revoke", error);
    }

  if (json)
    {
      g_autoptr (SgctlJson) out = sgctl_json_new ();
      sgctl_json_begin_object (out);
      sgctl_json_member_bool (out, "ok", TRUE);
      sgctl_json_member_int (out, "uid", uid);
      sgctl_json_member_string (out, "user", user);
      sgctl_json_end_object (out);
      sgctl_json_print (out);
    }
  else
    printf (_ ("Revoked %s's grant.\n"), label);
  return SGCTL_EXIT_OK;
}
