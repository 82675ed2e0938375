#include "gate-reset.h"

#include <stdarg.h>
#include <stdlib.h>

#include "sg-arrays.h"
#include "sock-destroy.h"

gboolean
sg_gate_reset (SgNftGate *gate, const SgConfig *config, GError **error)
{
  g_autoptr (GArray) ports = sg_config_all_ports (config);
  g_autoptr (GError) cut_error = NULL;
  guint n_destroyed = 0;

  if (!sg_nft_gate_reset (gate, sg_array_ports (ports), ports->len,
                          sg_array_uids (config->always_allow), config->always_allow->len, error))
    return FALSE;
  g_message ("Table inet seatgate is deny-only (%s%s)",
             sg_nft_gate_is_owned (gate) ? "owned by the helper" : "plain table",
             sg_nft_gate_is_persistent (gate) ? ", persistent" : "");
  if (!sg_gate_cut_all_connections (config, &n_destroyed, &cut_error))
    g_warning ("Could not close connections left from before: %s", cut_error->message);
  else if (n_destroyed > 0)
    g_message ("Closed %u connection(s) left from before", n_destroyed);
  return TRUE;
}

void
sg_gate_close_without_config (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (SgNftGate) gate = sg_nft_gate_new (SG_TABLE_MODE_AUTO, &error);
  g_autoptr (SgConfig) fallback = sg_config_new_default ();

  if (gate != NULL && sg_nft_gate_flush_grants (gate, &error))
    {
      g_printerr ("seatgate-helper: emptied the grants of the existing table inet seatgate; "
                  "its deny stays\n");
      return;
    }
  g_printerr ("seatgate-helper: no table to keep (%s); installing a deny-only table for "
              "the built-in port 5930\n",
              error ? error->message : "no netlink socket");
  g_clear_error (&error);
  if (gate == NULL || !sg_gate_reset (gate, fallback, &error))
    g_printerr ("seatgate-helper: could not install it either: %s\n",
                error ? error->message : "no netlink socket");
}

gboolean
sg_gate_always_allowed (const GArray *always, guint32 uid)
{
  const guint32 *uids = sg_array_uids (always);

  for (guint i = 0; i < always->len; i++)
    if (uids[i] == uid)
      return TRUE;
  return FALSE;
}

static gboolean
match_not_always (guint32 uid, guint16 port, gpointer data)
{
  return !sg_gate_always_allowed (data, uid);
}

gboolean
sg_gate_cut_all_connections (const SgConfig *config, guint *n_destroyed, GError **error)
{
  g_autoptr (GArray) ports = sg_config_all_ports (config);

  return sg_sock_destroy_matching (sg_array_ports (ports), ports->len, match_not_always,
                                   config->always_allow, n_destroyed, error);
}

void
sg_helper_fail_closed (const char *format, ...)
{
  va_list args;

  va_start (args, format);
  g_autofree char *why = g_strdup_vprintf (format, args);
  va_end (args);
  g_critical ("%s; exiting so the gate closes", why);
  exit (EXIT_FAILURE);
}
