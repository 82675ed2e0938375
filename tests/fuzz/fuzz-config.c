/* libFuzzer target for the config parser: whatever the bytes, it either
 * returns a config that keeps every promise below or an error naming the
 * file and line, and never crashes or leaks. */
#include <glib.h>
#include <stdint.h>
#include <string.h>

#include "sg-config.h"
#include "sg-error.h"
#include "sg-ports.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
check_config (const SgConfig *config, gboolean agent_only)
{
  g_autoptr (GHashTable) owner = g_hash_table_new (NULL, NULL);

  if (!agent_only && config->seats->len == 0)
    g_error ("a config without seats was accepted");
  for (guint i = 0; i < config->seats->len; i++)
    {
      const SgSeatConfig *seat = g_ptr_array_index (config->seats, i);
      if (seat->ports->len == 0 || seat->ports->len > SG_PORTS_MAX_PER_SEAT)
        g_error ("seat %s has %u ports", seat->name, seat->ports->len);
      if (!g_str_has_prefix (seat->name, "seat"))
        g_error ("seat name %s accepted", seat->name);
      for (guint k = 0; k < seat->ports->len; k++)
        {
          guint16 port = g_array_index (seat->ports, guint16, k);
          if (port == 0)
            g_error ("port 0 accepted");
          if (k > 0 && g_array_index (seat->ports, guint16, k - 1) >= port)
            g_error ("ports not sorted and unique");
          if (!g_hash_table_add (owner, GUINT_TO_POINTER (port)))
            g_error ("port %u belongs to two seats", port);
        }
    }
  for (guint i = 0; i < config->always_allow->len; i++)
    if (g_array_index (config->always_allow, guint32, i) == G_MAXUINT32)
      g_error ("uid -1 accepted");
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  for (int agent_only = 0; agent_only <= 1; agent_only++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (SgConfig) config
          = sg_config_load_data ((const char *) data, size, "fuzz.conf", agent_only, &error);
      if (config != NULL)
        check_config (config, agent_only);
      else if (error == NULL || error->domain != SG_ERROR
               || !g_str_has_prefix (error->message, "fuzz.conf:"))
        g_error ("a refusal without a located message: %s", error ? error->message : "(none)");
    }
  return 0;
}
