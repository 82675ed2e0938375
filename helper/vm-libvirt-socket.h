/* Which unix socket libvirt's client connects to for a URI, so the binding
 * can watch for a libvirt daemon that comes back (vm-libvirt.c). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* For @uri reached over a local unix socket as root: TRUE, the socket's
 * @folder and the @names (NULL-terminated) the socket may have there.
 * FALSE for a URI libvirt reaches otherwise (a server named, ssh, tls,
 * tcp, ext) or one that does not parse: nothing local to watch. */
gboolean sg_vm_libvirt_socket_files (const char *uri, char **folder, GStrv *names);

G_END_DECLS
