/* libvirt's client (src/remote/remote_driver.c doRemoteOpen, and
 * remote_sockets.c) picks the socket so: the URI's `socket=` parameter
 * when given; else, for the unix transport (a scheme without "+transport",
 * or "+unix", and no server), remoteGetUNIXSocket chooses between the
 * modular daemon's socket "virt<driver>d-sock" and libvirtd's
 * "libvirt-sock", both in LOCALSTATEDIR/run/libvirt for root
 * (remoteGetUNIXSocketHelper; /session is a per-user socket only for
 * callers other than root, remoteGetURIDaemonInfo). Debian's LOCALSTATEDIR
 * is /var, its /var/run a link to /run. */
#include "vm-libvirt-socket.h"

#include <string.h>

#define LIBVIRT_RUN_FOLDER "/var/run/libvirt"

gboolean
sg_vm_libvirt_socket_files (const char *uri, char **folder, GStrv *names)
{
  g_autoptr (GUri) parsed = g_uri_parse (uri, G_URI_FLAGS_ENCODED_QUERY, NULL);

  *folder = NULL;
  *names = NULL;
  if (parsed == NULL)
    return FALSE;
  const char *scheme = g_uri_get_scheme (parsed);
  const char *plus = strchr (scheme, '+');
  const char *host = g_uri_get_host (parsed);
  if ((plus != NULL && g_ascii_strcasecmp (plus + 1, "unix") != 0)
      || (host != NULL && *host != '\0'))
    return FALSE;

  const char *query = g_uri_get_query (parsed);
  g_autoptr (GHashTable) params
      = query != NULL ? g_uri_parse_params (query, -1, "&", G_URI_PARAMS_NONE, NULL) : NULL;
  const char *socket = params != NULL ? g_hash_table_lookup (params, "socket") : NULL;
  if (socket != NULL)
    {
      if (!g_path_is_absolute (socket))
        return FALSE;
      g_autofree char *base = g_path_get_basename (socket);
      const char *one[] = { base, NULL };
      *folder = g_path_get_dirname (socket);
      *names = g_strdupv ((char **) one);
      return TRUE;
    }

  g_autofree char *driver
      = g_strndup (scheme, plus != NULL ? (gsize) (plus - scheme) : strlen (scheme));
  g_autofree char *modular = g_strdup_printf ("virt%sd-sock", driver);
  const char *two[] = { modular, "libvirt-sock", NULL };
  *folder = g_strdup (LIBVIRT_RUN_FOLDER);
  *names = g_strdupv ((char **) two);
  return TRUE;
}
