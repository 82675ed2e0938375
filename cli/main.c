/* seatgatectl: see, check and steer seatgate. Only dispatches; each
 * subcommand is its own file. */
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib/gi18n-lib.h>

#include "seatgatectl.h"
#include "sg-build-config.h"

typedef struct
{
  const char *name;
  SgctlCommandFunc func;
  const char *summary;
} Command;

static const Command commands[] = {
  { "status", sgctl_cmd_status, N_ ("Seats, their sessions, grants, the table and the helper") },
  { "grant", sgctl_cmd_grant, N_ ("Get your seat's VM console (held while seatgatectl runs)") },
  { "release", sgctl_cmd_release, N_ ("Give up your grant") },
  { "revoke", sgctl_cmd_revoke, N_ ("End a user's grant (administrators)") },
  { "monitor", sgctl_cmd_monitor, N_ ("Print grants and revokes as they happen") },
  { "check-config", sgctl_cmd_check_config,
    N_ ("Check a seatgate.conf without changing anything") },
  { "doctor", sgctl_cmd_doctor, N_ ("Find what is wrong, and say how to fix it") },
};

static void
usage (FILE *out)
{
  fputs (_ ("Usage: seatgatectl [--help] [--version] COMMAND [OPTION…]\n\n"
            "Shows and steers seatgate, which gives a VM's console port to the person at\n"
            "the computer's console only.\n\nCommands:\n"),
         out);
  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    fprintf (out, "  %-14s%s\n", commands[i].name, _ (commands[i].summary));
  fputs (_ ("\n\"seatgatectl COMMAND --help\" tells more; man seatgatectl tells all.\n"
            "Exit status: 0 done; 1 failed or a problem found; 2 usage error;\n"
            "3 seatgate-helper is not on the system bus; 4 not the console user of a\n"
            "gated seat; 5 polkit does not allow it.\n"),
         out);
}

static const Command *
find_command (const char *name)
{
  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    if (g_str_equal (commands[i].name, name))
      return &commands[i];
  return NULL;
}

int
main (int argc, char **argv)
{
  const Command *command;

  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, SG_LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  if (argc < 2)
    {
      usage (stderr);
      return SGCTL_EXIT_USAGE;
    }
  if (g_str_equal (argv[1], "--help") || g_str_equal (argv[1], "-h"))
    {
      usage (stdout);
      return SGCTL_EXIT_OK;
    }
  if (g_str_equal (argv[1], "--version"))
    {
      printf ("seatgatectl %s\n", SG_VERSION);
      return SGCTL_EXIT_OK;
    }
  if (g_str_equal (argv[1], "help"))
    {
      if (argc < 3)
        {
          usage (stdout);
          return SGCTL_EXIT_OK;
        }
      command = find_command (argv[2]);
      if (command == NULL)
        {
          fprintf (stderr, "seatgatectl: no command '%s' (see seatgatectl --help)\n", argv[2]);
          return SGCTL_EXIT_USAGE;
        }
      char *help_argv[] = { (char *) command->name, (char *) "--help", NULL };
      return command->func (2, help_argv);
    }

  command = find_command (argv[1]);
  if (command == NULL)
    {
      fprintf (stderr, "seatgatectl: no command '%s' (see seatgatectl --help)\n", argv[1]);
      return SGCTL_EXIT_USAGE;
    }
  return command->func (argc - 1, argv + 1);
}
