#include "proc-net.h"

#include <arpa/inet.h>
#include <gio/gio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TCP_LISTEN 0x0A

void
sgctl_listener_free (SgctlListener *listener)
{
  if (listener == NULL)
    return;
  g_free (listener->address);
  g_free (listener);
}

/* /proc/net/tcp* print each 32-bit word of the address as a host-order
 * integer in hex: reading it back into a host integer restores the bytes. */
static gboolean
parse_address (const char *hex, gboolean ipv6, guint8 *bytes)
{
  guint n_words = ipv6 ? 4 : 1;

  if (strlen (hex) != n_words * 8)
    return FALSE;
  for (guint i = 0; i < n_words; i++)
    {
      char word_hex[9];
      memcpy (word_hex, hex + i * 8, 8);
      word_hex[8] = '\0';
      guint32 word = (guint32) strtoul (word_hex, NULL, 16);
      memcpy (bytes + i * 4, &word, 4);
    }
  return TRUE;
}

static void
read_file (const char *path, gboolean ipv6, GPtrArray *out)
{
  g_autofree char *text = NULL;

  /* A kernel without IPv6 has no tcp6: no listeners there. */
  if (!g_file_get_contents (path, &text, NULL, NULL))
    return;
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  for (guint i = 1; lines[i] != NULL; i++)
    {
      char local[64], remote[64];
      unsigned int state, uid;
      unsigned long long inode;
      /* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
      if (sscanf (lines[i],
                  " %*u: %63[0-9A-Fa-f:] %63[0-9A-Fa-f:] %x %*x:%*x %*x:%*x %*x %u %*u %llu", local,
                  remote, &state, &uid, &inode)
          != 5)
        continue;
      if (state != TCP_LISTEN)
        continue;
      char *colon = strchr (local, ':');
      if (colon == NULL)
        continue;
      *colon = '\0';
      guint8 bytes[16] = { 0 };
      if (!parse_address (local, ipv6, bytes))
        continue;

      SgctlListener *l = g_new0 (SgctlListener, 1);
      char text_address[INET6_ADDRSTRLEN];
      l->port = (guint16) strtoul (colon + 1, NULL, 16);
      l->ipv6 = ipv6;
      l->inode = inode;
      l->uid = uid;
      inet_ntop (ipv6 ? AF_INET6 : AF_INET, bytes, text_address, sizeof text_address);
      l->address = g_strdup (text_address);
      if (!ipv6)
        {
          l->loopback = bytes[0] == 127;
          l->wildcard = memcmp (bytes, "\0\0\0\0", 4) == 0;
        }
      else
        {
          static const guint8 any[16] = { 0 };
          static const guint8 one[16] = { [15] = 1 };
          static const guint8 mapped[12] = { [10] = 0xff, [11] = 0xff };
          l->wildcard = memcmp (bytes, any, 16) == 0;
          l->loopback = memcmp (bytes, one, 16) == 0
                        || (memcmp (bytes, mapped, 12) == 0 && bytes[12] == 127);
        }
      g_ptr_array_add (out, l);
    }
}

GPtrArray *
sgctl_tcp_listeners (GError **error)
{
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) sgctl_listener_free);

  if (!g_file_test ("/proc/net/tcp", G_FILE_TEST_EXISTS))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                   "/proc/net/tcp is missing: is /proc mounted?");
      g_ptr_array_unref (out);
      return NULL;
    }
  read_file ("/proc/net/tcp", FALSE, out);
  read_file ("/proc/net/tcp6", TRUE, out);
  return out;
}

/* From a QEMU 7.2 QMP socket here (kernel 6.18), one line per socket
 * ("Num RefCount Protocol Flags Type St Inode Path"):
 *   listening:       ... 00010000 0001 01 306606 /run/vm/qmp.sock
 *   accepted client: ... 00000000 0001 03 306620 /run/vm/qmp.sock
 *   in the backlog:  ... 00000000 0001 02      0 /run/vm/qmp.sock
 * The server's end of a connection carries the listener's path (the
 * client's own end has none unless it bound one), state SS_CONNECTED (03)
 * once QEMU accepted it; a second client, which QEMU does not accept while
 * it serves the first, shows as an embryo in state SS_CONNECTING (02) with
 * inode 0, and turns into 03 with an inode when the first one closes. A
 * queued connection whose client gave up (closed) stays listed as 02 (its
 * RefCount drops from 3 to 2) until QEMU accepts it and reads EOF, so it
 * is counted as waiting until then. */
#define UNIX_ACCEPTCON 0x00010000 /* __SO_ACCEPTCON: listen() was called */
#define UNIX_STREAM 0x0001
#define UNIX_CONNECTING 0x02
#define UNIX_CONNECTED 0x03

gboolean
sgctl_unix_path_sockets (const char *const *paths, SgctlUnixPath *out, GError **error)
{
  g_autofree char *text = NULL;
  g_autoptr (GError) read_error = NULL;

  *out = (SgctlUnixPath){ 0 };
  if (!g_file_get_contents ("/proc/net/unix", &text, NULL, &read_error))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                   "/proc/net/unix could not be read (%s): is /proc mounted?", read_error->message);
      return FALSE;
    }
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  for (guint i = 1; lines[i] != NULL; i++)
    {
      unsigned int flags, type, state;
      int path_at = 0;
      /* Num: RefCount Protocol Flags Type St Inode Path; the path is the
       * rest of the line (it may hold spaces). */
      if (sscanf (lines[i], "%*[0-9a-fA-F]: %*x %*x %x %x %x %*u %n", &flags, &type, &state,
                  &path_at)
              != 3
          || path_at == 0 || type != UNIX_STREAM)
        continue;
      const char *path = lines[i] + path_at;
      if (!g_strv_contains (paths, path))
        continue;
      if (flags & UNIX_ACCEPTCON)
        out->listening++;
      else if (state == UNIX_CONNECTED)
        out->connected++;
      else if (state == UNIX_CONNECTING)
        out->waiting++;
    }
  return TRUE;
}

static char *
process_comm (int pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/comm", pid);
  char *comm = NULL;

  if (!g_file_get_contents (path, &comm, NULL, NULL))
    return NULL;
  g_strchomp (comm);
  return comm;
}

static gboolean
is_pid (const char *name)
{
  if (*name == '\0')
    return FALSE;
  for (const char *c = name; *c != '\0'; c++)
    if (!g_ascii_isdigit (*c))
      return FALSE;
  return TRUE;
}

gboolean
sgctl_socket_process (guint64 inode, int *pid, char **comm)
{
  g_autoptr (GDir) proc = g_dir_open ("/proc", 0, NULL);
  g_autofree char *wanted = g_strdup_printf ("socket:[%" G_GUINT64_FORMAT "]", inode);
  const char *name;

  if (proc == NULL)
    return FALSE;
  while ((name = g_dir_read_name (proc)) != NULL)
    {
      if (!is_pid (name))
        continue;
      g_autofree char *fd_path = g_strdup_printf ("/proc/%s/fd", name);
      g_autoptr (GDir) fds = g_dir_open (fd_path, 0, NULL);
      const char *fd;
      if (fds == NULL)
        continue;
      while ((fd = g_dir_read_name (fds)) != NULL)
        {
          g_autofree char *link_path = g_build_filename (fd_path, fd, NULL);
          g_autofree char *target = g_file_read_link (link_path, NULL);
          if (target != NULL && g_str_equal (target, wanted))
            {
              *pid = atoi (name);
              *comm = process_comm (*pid);
              return *comm != NULL;
            }
        }
    }
  return FALSE;
}

static int
compare_int (gconstpointer a, gconstpointer b)
{
  return *(const int *) a - *(const int *) b;
}

/* FALSE only when @pid is known to live in another network namespace. */
static gboolean
in_our_netns (int pid, const char *own_netns)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/ns/net", pid);
  g_autofree char *netns = g_file_read_link (path, NULL);

  return own_netns == NULL || netns == NULL || g_str_equal (netns, own_netns);
}

GArray *
sgctl_processes_named (const char *comm)
{
  GArray *pids = g_array_new (FALSE, FALSE, sizeof (int));
  g_autoptr (GDir) proc = g_dir_open ("/proc", 0, NULL);
  g_autofree char *own_netns = g_file_read_link ("/proc/self/ns/net", NULL);
  const char *name;

  if (proc == NULL)
    return pids;
  while ((name = g_dir_read_name (proc)) != NULL)
    {
      if (!is_pid (name))
        continue;
      int pid = atoi (name);
      g_autofree char *this_comm = process_comm (pid);
      if (this_comm != NULL && g_str_equal (this_comm, comm) && in_our_netns (pid, own_netns))
        g_array_append_val (pids, pid);
    }
  g_array_sort (pids, compare_int);
  return pids;
}
