#include "log.h"

#include <stdio.h>
#include <unistd.h>

static gboolean log_verbose;
static gboolean log_stderr_is_journal;

static const char *
log_domain (const GLogField *fields, gsize n_fields)
{
  for (gsize i = 0; i < n_fields; i++)
    if (g_str_equal (fields[i].key, "GLIB_DOMAIN"))
      return fields[i].value;
  return NULL;
}

static GLogWriterOutput
log_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
  if ((level & (G_LOG_LEVEL_DEBUG | G_LOG_LEVEL_INFO)) != 0)
    {
      const char *domain = log_domain (fields, n_fields);
      /* --verbose shows ours; G_MESSAGES_DEBUG still shows GLib's. */
      gboolean ours = log_verbose && g_strcmp0 (domain, G_LOG_DOMAIN) == 0;
      if (!ours && g_log_writer_default_would_drop (level, domain))
        return G_LOG_WRITER_HANDLED;
    }

  /* A desktop that starts us with stderr on the journal gets each message
   * once; elsewhere both, and the journal's absence is no error. */
  if (log_stderr_is_journal)
    return g_log_writer_journald (level, fields, n_fields, user_data);
  g_log_writer_journald (level, fields, n_fields, user_data);
  return g_log_writer_standard_streams (level, fields, n_fields, user_data);
}

void
sg_agent_log_init (gboolean verbose)
{
  log_verbose = verbose;
  log_stderr_is_journal = g_log_writer_is_journald (fileno (stderr));
  g_log_set_writer_func (log_writer, NULL, NULL);
}
