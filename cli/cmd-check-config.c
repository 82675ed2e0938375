/* seatgatectl check-config [FILE]: the helper's own parser, drop-ins in
 * FILE.d/ merged the same way, nothing else touched, so "valid" here means
 * the helper will start with it. Each setting says which file and line it
 * came from: with a fleet tool writing drop-ins, "why is this port gated"
 * is the question. */
#include <stdio.h>

#include "json.h"
#include "seatgatectl.h"
#include "sg-arrays.h"
#include "sg-build-config.h"
#include "sg-config.h"
#include "sg-error.h"
#include "sg-ports.h"

/* {"file": F, "line": N}, or null for the built-in default. */
static void
member_origin (SgctlJson *json, const char *key, const SgConfigOrigin *origin)
{
  sgctl_json_key (json, key);
  if (origin->file == NULL)
    {
      sgctl_json_null (json);
      return;
    }
  sgctl_json_begin_object (json);
  sgctl_json_member_string (json, "file", origin->file);
  sgctl_json_member_int (json, "line", origin->line);
  sgctl_json_end_object (json);
}

static void
print_json (const char *path, const SgConfig *config, const GError *error)
{
  g_autoptr (SgctlJson) json = sgctl_json_new ();

  sgctl_json_begin_object (json);
  sgctl_json_member_string (json, "file", path);
  sgctl_json_member_bool (json, "valid", config != NULL);
  if (config != NULL)
    {
      sgctl_json_member_bool (json, "main_file_missing", config->main_missing);
      sgctl_json_key (json, "files");
      sgctl_json_begin_array (json);
      for (guint i = 0; i < config->files->len; i++)
        sgctl_json_string (json, g_ptr_array_index (config->files, i));
      sgctl_json_end_array (json);
    }
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
      sgctl_json_port_array (json, seat->ports);
      member_origin (json, "ports_from", &seat->ports_origin);
      sgctl_json_member_string (json, "qmp_socket", seat->qmp_socket);
      member_origin (json, "qmp_socket_from", &seat->qmp_socket_origin);
      /* Only for a libvirt binding: a seat without one reads as before. */
      if (seat->libvirt_domain != NULL)
        {
          sgctl_json_member_string (json, "libvirt_domain", seat->libvirt_domain);
          member_origin (json, "libvirt_domain_from", &seat->libvirt_domain_origin);
          sgctl_json_member_string (json, "libvirt_uri", sg_seat_config_libvirt_uri (seat));
          member_origin (json, "libvirt_uri_from", &seat->libvirt_uri_origin);
        }
      sgctl_json_key (json, "lock_keys");
      if (seat->lock_keys == NULL)
        sgctl_json_null (json);
      else
        {
          sgctl_json_begin_array (json);
          for (guint j = 0; seat->lock_keys[j] != NULL; j++)
            sgctl_json_string (json, seat->lock_keys[j]);
          sgctl_json_end_array (json);
        }
      member_origin (json, "lock_keys_from", &seat->lock_keys_origin);
      sgctl_json_end_object (json);
    }
  sgctl_json_end_array (json);
  sgctl_json_key (json, "always_allow");
  sgctl_json_uid_array (json, config->always_allow);
  member_origin (json, "always_allow_from", &config->always_allow_origin);
  sgctl_json_member_string (json, "table_mode", sg_table_mode_to_string (config->table_mode));
  member_origin (json, "table_mode_from", &config->table_mode_origin);
  sgctl_json_member_string (json, "viewer_command", config->viewer_command);
  member_origin (json, "viewer_command_from", &config->viewer_command_origin);
  sgctl_json_end_object (json);
  sgctl_json_print (json);
}

/* "  (FILE:LINE)" or "  (built-in default)" after a setting. */
static char *
from (const SgConfigOrigin *origin)
{
  g_autofree char *where = sg_config_origin_to_string (origin);
  return g_strdup_printf ("  (%s)", where);
}

/* The seat's VM binding (docs/vm-binding.md), under its ports line. */
static void
print_vm_binding (const SgSeatConfig *seat)
{
  if (seat->qmp_socket == NULL && seat->libvirt_domain == NULL)
    {
      printf ("    VM binding: none: the firewall alone guards its port%s\n",
              seat->ports->len == 1 ? "" : "s");
      return;
    }
  if (seat->qmp_socket != NULL)
    {
      g_autofree char *socket_from = from (&seat->qmp_socket_origin);
      printf ("    VM binding: QMP socket %s%s\n", seat->qmp_socket, socket_from);
    }
  else
    {
      g_autofree char *domain_from = from (&seat->libvirt_domain_origin);
      g_autofree char *uri_from = from (&seat->libvirt_uri_origin);
      printf ("    VM binding: libvirt domain %s%s\n", seat->libvirt_domain, domain_from);
      printf ("    libvirt URI: %s%s\n", sg_seat_config_libvirt_uri (seat), uri_from);
    }
  if (seat->lock_keys == NULL)
    {
      g_autofree char *keys_from = from (&seat->lock_keys_origin);
      printf ("    lock keys: none, the guest is not asked to lock%s\n", keys_from);
      return;
    }
  g_autofree char *keys = g_strjoinv ("+", seat->lock_keys);
  g_autofree char *keys_from = from (&seat->lock_keys_origin);
  printf ("    lock keys: %s, pressed after every revoke%s\n", keys, keys_from);
}

static void
print_human (const char *path, const SgConfig *config)
{
  guint n_dropins = config->files->len - (config->main_missing ? 0 : 1);

  if (n_dropins == 0)
    printf ("%s is valid.\n", path);
  else
    printf ("%s is valid, with %u drop-in%s.\n", path, n_dropins, n_dropins == 1 ? "" : "s");
  if (config->main_missing)
    printf ("  %s does not exist: the built-in default (seat0 gates port 5930) stands in for it\n",
            path);
  for (guint i = 0; i < config->files->len; i++)
    printf ("  read %s\n", (const char *) g_ptr_array_index (config->files, i));
  for (guint i = 0; i < config->seats->len; i++)
    {
      const SgSeatConfig *seat = g_ptr_array_index (config->seats, i);
      g_autofree char *ports = sg_ports_to_string (sg_array_ports (seat->ports), seat->ports->len);
      g_autofree char *where = from (&seat->ports_origin);
      printf ("  %s gates port%s %s%s\n", seat->name, seat->ports->len == 1 ? "" : "s", ports,
              where);
      print_vm_binding (seat);
    }
  g_autofree char *allow_from = from (&config->always_allow_origin);
  if (config->always_allow->len == 0)
    printf ("  always allowed: nobody%s\n", allow_from);
  else
    {
      printf ("  always allowed:");
      for (guint i = 0; i < config->always_allow->len; i++)
        {
          g_autofree char *label
              = sgctl_user_label (g_array_index (config->always_allow, guint32, i));
          printf ("%s %s", i > 0 ? "," : "", label);
        }
      printf ("%s\n", allow_from);
    }
  g_autofree char *mode_from = from (&config->table_mode_origin);
  printf ("  table mode: %s%s\n", sg_table_mode_to_string (config->table_mode), mode_from);
  if (config->viewer_command != NULL)
    {
      g_autofree char *viewer_from = from (&config->viewer_command_origin);
      printf ("  viewer command: %s%s\n", config->viewer_command, viewer_from);
    }
}

int
sgctl_cmd_check_config (int argc, char **argv)
{
  gboolean json = FALSE;
  const GOptionEntry entries[]
      = { { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print the result as JSON", NULL }, { NULL } };
  g_autoptr (GOptionContext) context = sgctl_option_context (
      "check-config", "[FILE]",
      "Checks FILE (default " SG_CONFIG_FILE ") and its drop-ins (FILE.d/*.conf)\n"
      "the way seatgate-helper reads them, and prints what they gate and which file\n"
      "and line each setting came from (each seat's VM binding too: its QMP socket,\n"
      "or its libvirt domain and URI, and its lock keys; or none), or the file, line\n"
      "and key of the first problem. Nothing is changed and libvirt is not asked:\n"
      "restart seatgate to apply a change, \"seatgatectl doctor\" checks the VM.",
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
