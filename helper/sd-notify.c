#include "sd-notify.h"

#include <gio/gio.h>
#include <systemd/sd-daemon.h>

gboolean
sg_sd_notify (const char *state, GError **error)
{
  int r = sd_notify (0, state);

  if (r < 0)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (-r), "sending %s to systemd: %s",
                   state, g_strerror (-r));
      return FALSE;
    }
  return TRUE;
}

static gboolean
watchdog_ping (gpointer data)
{
  g_autoptr (GError) error = NULL;

  if (!sg_sd_notify ("WATCHDOG=1", &error))
    g_warning ("Could not ping the watchdog: %s", error->message);
  return G_SOURCE_CONTINUE;
}

guint
sg_sd_watchdog_start (void)
{
  uint64_t usec = 0;

  if (sd_watchdog_enabled (0, &usec) <= 0 || usec == 0)
    return 0;
  watchdog_ping (NULL);
  return g_timeout_add (MAX (usec / 2000, 1), watchdog_ping, NULL);
}
