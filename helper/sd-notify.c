#include "sd-notify.h"

#include <errno.h>
#include <gio/gio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

gboolean
sg_sd_notify (const char *state, GError **error)
{
  const char *path = g_getenv ("NOTIFY_SOCKET");
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  socklen_t addr_len;

  if (path == NULL || *path == '\0')
    return TRUE;
  gsize path_len = strlen (path);
  if ((path[0] != '/' && path[0] != '@') || path_len >= sizeof (addr.sun_path))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "NOTIFY_SOCKET=%s is not a socket path", path);
      return FALSE;
    }
  memcpy (addr.sun_path, path, path_len);
  if (path[0] == '@')
    addr.sun_path[0] = '\0'; /* abstract namespace */
  addr_len = (socklen_t) (offsetof (struct sockaddr_un, sun_path) + path_len);

  int fd = socket (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "socket: %s",
                   g_strerror (saved));
      return FALSE;
    }
  ssize_t sent = sendto (fd, state, strlen (state), MSG_NOSIGNAL, (struct sockaddr *) &addr,
                         addr_len);
  int saved = errno;
  close (fd);
  if (sent < 0)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   "sending %s to %s: %s", state, path, g_strerror (saved));
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
  const char *usec_text = g_getenv ("WATCHDOG_USEC");
  const char *pid_text = g_getenv ("WATCHDOG_PID");
  guint64 usec;

  if (usec_text == NULL || !g_ascii_string_to_unsigned (usec_text, 10, 1, G_MAXUINT64, &usec, NULL))
    return 0;
  if (pid_text != NULL && g_ascii_strtoull (pid_text, NULL, 10) != (guint64) getpid ())
    return 0;
  watchdog_ping (NULL);
  return g_timeout_add (MAX (usec / 2000, 1), watchdog_ping, NULL);
}
