#define G_LOG_USE_STRUCTURED 1
#include "log.h"

#include <stdarg.h>

#define REFUSALS_PER_SECOND 10

static void
log_fields (GLogLevelFlags level, const char *event, guint32 uid, const char *seat,
            const char *session, const char *reason, const char *message)
{
  g_autofree char *uid_text = uid == SG_NO_UID ? NULL : g_strdup_printf ("%u", uid);
  GLogField fields[8];
  gsize n = 0;

  fields[n++] = (GLogField){ "GLIB_DOMAIN", G_LOG_DOMAIN, -1 };
  fields[n++] = (GLogField){ "MESSAGE", message, -1 };
  fields[n++] = (GLogField){ "SEATGATE_EVENT", event, -1 };
  if (uid_text != NULL)
    fields[n++] = (GLogField){ "SEATGATE_UID", uid_text, -1 };
  if (seat != NULL)
    fields[n++] = (GLogField){ "SEATGATE_SEAT", seat, -1 };
  if (session != NULL)
    fields[n++] = (GLogField){ "SEATGATE_SESSION", session, -1 };
  if (reason != NULL)
    fields[n++] = (GLogField){ "SEATGATE_REASON", reason, -1 };
  g_log_structured_array (level, fields, n);
}

void
sg_log_event (GLogLevelFlags level, const char *event, guint32 uid, const char *seat,
              const char *session, const char *reason, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *message = g_strdup_vprintf (format, args);
  va_end (args);

  log_fields (level, event, uid, seat, session, reason, message);
}

typedef struct
{
  gint64 window_start;
  guint in_window;
  guint dropped;
} RateLimit;

void
sg_log_refusal (const char *event, guint32 uid, const char *seat, const char *session,
                const char *reason, const char *format, ...)
{
  static GHashTable *limits = NULL;
  gint64 now = g_get_monotonic_time ();

  if (limits == NULL)
    limits = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  RateLimit *limit = g_hash_table_lookup (limits, event);
  if (limit == NULL)
    {
      limit = g_new0 (RateLimit, 1);
      g_hash_table_insert (limits, g_strdup (event), limit);
    }
  if (now - limit->window_start >= G_USEC_PER_SEC)
    {
      limit->window_start = now;
      limit->in_window = 0;
    }
  if (limit->in_window >= REFUSALS_PER_SECOND)
    {
      limit->dropped++;
      return;
    }
  limit->in_window++;

  va_list args;
  va_start (args, format);
  g_autofree char *message = g_strdup_vprintf (format, args);
  va_end (args);
  if (limit->dropped > 0)
    {
      g_autofree char *with_count
          = g_strdup_printf ("%s (%u similar refusals not logged)", message, limit->dropped);
      limit->dropped = 0;
      log_fields (G_LOG_LEVEL_MESSAGE, event, uid, seat, session, reason, with_count);
    }
  else
    log_fields (G_LOG_LEVEL_MESSAGE, event, uid, seat, session, reason, message);
}

void
sg_log_batch_time (const char *op, guint32 uid, const char *seat, guint n_batches, guint64 batch_ns)
{
  if (g_log_writer_default_would_drop (G_LOG_LEVEL_DEBUG, G_LOG_DOMAIN))
    return;

  char ns_text[24], uid_text[16];
  g_autofree char *message = g_strdup_printf (
      "nftables batch for %s of uid %u%s%s: %" G_GUINT64_FORMAT " ns (%u batch%s)", op, uid,
      seat != NULL ? " on " : "", seat != NULL ? seat : "", batch_ns, n_batches,
      n_batches == 1 ? "" : "es");
  GLogField fields[] = {
    { "GLIB_DOMAIN", G_LOG_DOMAIN, -1 },   { "MESSAGE", message, -1 },
    { "SEATGATE_EVENT", "nft-batch", -1 }, { "SEATGATE_OP", op, -1 },
    { "SEATGATE_UID", uid_text, -1 },      { "SEATGATE_NFT_BATCH_NS", ns_text, -1 },
  };

  g_snprintf (ns_text, sizeof ns_text, "%" G_GUINT64_FORMAT, batch_ns);
  g_snprintf (uid_text, sizeof uid_text, "%u", uid);
  g_log_structured_array (G_LOG_LEVEL_DEBUG, fields, G_N_ELEMENTS (fields));
}
