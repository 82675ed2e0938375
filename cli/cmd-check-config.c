/* seatgatectl check-config [FILE]: the helper's own parser, nothing else
 * touched, so "valid" here means the helper will start with it. */
#include <stdio.h>

#include "json.h"
#include "seatgatectl.h"
#include "sg-build-config.h"
#include "sg-config.h"
#include "sg-error.h"
#include "sg-ports.h"

static void
print_json (const char *path, const SgConfig *config, const GError *error)
{
  g_autoptr (SgctlJson) json = sgctl_json_new ();

  sgctl_json_begin_object (json);
  sgctl_json_member_string (json, "file", path);
  sgctl_json_member_bool (json, "valid", config != NULL);
  if (config == NULL)
    {
      sgctl_json_member_string (json, "error", error->message);
      sgctl_json_end_object (json);
      sgctl_json_print (json);
      return;
    }
  sgctl_json_key (json, "seats");
  sgctl_json_begin_array (json);
  for (guint i = 0; i < config->seats->len; i++)
    {
      const SgSeatConfig *seat = g_ptr_array_index (config->seats, i);
      sgctl_json_begin_object (json);
      sgctl_json_member_string (json, "seat", seat->name);
      sgctl_json_key (json, "ports");
      sgctl_json_begin_array (json);
      for (guint j = 0; j < seat->ports->len; j++)
        sgctl_json_int (json, g_array_index (seat->ports, guint16, j));
      sgctl_json_end_array (json);
      sgctl_json_end_object (json);
    }
  sgctl_json_end_array (json);
  sgctl_json_key (json, "always_allow");
  sgctl_json_begin_array (json);
  for (guint i = 0; i < config->always_allow->len; i++)
    sgctl_json_int (json, g_array_index (config->always_allow, guint32, i));
  sgctl_json_end_array (json);
  sgctl_json_member_string (json, "table_mode", sg_table_mode_to_string (config->table_mode));
  sgctl_json_member_string (json, "viewer_command", config->viewer_command);
  sgctl_json_end_object (json);
  sgctl_json_print (json);
}

static void
print_human (const char *path, const SgConfig *config)
{
  printf ("%s is valid.\n", path);
  for (guint i = 0; i < config->seats->len; i++)
    {
      const SgSeatConfig *seat = g_ptr_array_index (config->seats, i);
      g_autofree char *ports
          = sg_ports_to_string ((const guint16 *)(void *)seat->ports->data, seat->ports->len);
      printf ("  %s gates port%s %s\n", seat->name, seat->ports->len == 1 ? "" : "s", ports);
    }
  if (config->always_allow->len == 0)
    printf ("  always allowed: nobody\n");
  else
    {
      printf ("  always allowed:");
      for (guint i = 0; i < config->always_allow->len; i++)
        {
          g_autofree char *label
              = sgctl_user_label (g_array_index (config->always_allow, guint32, i));
          printf ("%s %s", i > 0 ? "," : "", label);
        }
      printf ("\n");
    }
  printf ("  table mode: %s\n", sg_table_mode_to_string (config->table_mode));
  if (config->viewer_command != NULL)
    printf ("  viewer command: %s\n", config->viewer_command);
}

int
sgctl_cmd_check_config (int argc, char **argv)
{
  gboolean json = FALSE;
  const GOptionEntry entries[]
      = { { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print the result as JSON", NULL }, { NULL } };
  g_autoptr (GOptionContext) context = sgctl_option_context (
      "check-config", "[FILE]",
      "Checks FILE (default " SG_CONFIG_FILE ") the way seatgate-helper reads it, and\n"
      "prints what it gates, or the file, line and key of the first problem. Nothing\n"
      "is changed: restart seatgate to apply a file.",
      entries);
  g_autoptr (GError) error = NULL;
  g_autoptr (SgConfig) config = NULL;

  if (!sgctl_parse_options (context, &argc, &argv))
    return SGCTL_EXIT_USAGE;
  if (argc > 2)
    {
      g_printerr ("seatgatectl check-config: one FILE at most (see --help)\n");
      return SGCTL_EXIT_USAGE;
    }
  const char *path = argc == 2 ? argv[1] : SG_CONFIG_FILE;

  config = sg_config_load_file (path, &error);
  if (config == NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
    {
      g_clear_error (&error);
      if (argc == 2)
        g_set_error (&error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "%s: no such file", path);
      else
        g_set_error (&error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                     "%s: no such file (seatgate-helper then gates seat0's port 5930)", path);
    }
  else if (config == NULL && !g_error_matches (error, SG_ERROR, SG_ERROR_INVALID_CONFIG))
    {
      /* A read error: say which file, as the parser's messages do. */
      g_prefix_error (&error, "%s: ", path);
    }

  if (json)
    print_json (path, config, error);
  else if (config != NULL)
    print_human (path, config);
  else
    g_printerr ("%s\n", error->message);
  return config != NULL ? SGCTL_EXIT_OK : SGCTL_EXIT_FAILURE;
}
