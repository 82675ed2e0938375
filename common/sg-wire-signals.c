#include "sg-wire-signals.h"

gboolean
sg_wire_revoked_parse (GVariant *params, const char **seat, guint32 *uid, const char **reason)
{
  if (params == NULL || !g_variant_is_of_type (params, G_VARIANT_TYPE ("(sus)")))
    return FALSE;
  g_variant_get (params, "(&su&s)", seat, uid, reason);
  return TRUE;
}
