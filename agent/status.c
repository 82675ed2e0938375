#include "status.h"

#include <glib/gi18n-lib.h>

void
sg_status_set (SgStatus *status, SgStatusKind kind, guint16 port, const char *reason)
{
  char *old = status->reason;

  status->kind = kind;
  status->port = kind == SG_STATUS_GRANTED ? port : 0;
  status->reason = g_strdup (reason);
  g_free (old);
}

void
sg_status_copy (SgStatus *dest, const SgStatus *src)
{
  sg_status_set (dest, src->kind, src->port, src->reason);
}

void
sg_status_clear (SgStatus *status)
{
  g_clear_pointer (&status->reason, g_free);
  status->kind = SG_STATUS_STARTING;
  status->port = 0;
}

gboolean
sg_status_equal (const SgStatus *a, const SgStatus *b)
{
  return a->kind == b->kind && a->port == b->port && g_strcmp0 (a->reason, b->reason) == 0;
}

const char *
sg_status_icon_name (const SgStatus *status)
{
  switch (status->kind)
    {
    case SG_STATUS_GRANTED:
      return "seatgate-granted";
    case SG_STATUS_NOT_GRANTED:
      return "seatgate-denied";
    case SG_STATUS_STARTING:
    case SG_STATUS_UNAVAILABLE:
    default:
      return "seatgate-unavailable";
    }
}

char *
sg_status_headline (const SgStatus *status)
{
  switch (status->kind)
    {
    case SG_STATUS_GRANTED:
      return g_strdup_printf (_ ("VM console: yours (port %u)"), status->port);
    case SG_STATUS_NOT_GRANTED:
      return g_strdup (_ ("VM console: not yours"));
    case SG_STATUS_UNAVAILABLE:
      return g_strdup (_ ("VM console: gate unavailable"));
    case SG_STATUS_STARTING:
    default:
      return g_strdup (_ ("VM console: checking…"));
    }
}

char *
sg_status_detail (const SgStatus *status)
{
  switch (status->kind)
    {
    case SG_STATUS_GRANTED:
      /* TRANSLATORS: %s:%u is the address, e.g. 127.0.0.1:5930 */
      return g_strdup_printf (_ ("spice://%s:%u is open to you while this session is active"),
                              SG_VIEWER_HOST, status->port);
    case SG_STATUS_NOT_GRANTED:
    case SG_STATUS_UNAVAILABLE:
      return g_strdup (status->reason);
    case SG_STATUS_STARTING:
    default:
      return NULL;
    }
}

char *
sg_status_uri (const SgStatus *status)
{
  if (status->kind != SG_STATUS_GRANTED)
    return NULL;
  return g_strdup_printf ("spice://%s:%u", SG_VIEWER_HOST, status->port);
}
