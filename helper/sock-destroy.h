/* Ending established TCP connections to gated ports: a sock_diag dump of the
 * IPv4 and IPv6 sockets, then SOCK_DESTROY for the chosen ones (what `ss -K`
 * does, in-process). Only the client end of a local connection is destroyed
 * (a socket whose destination port is gated and whose peer socket is in the
 * same dump); the destroyed socket's RST ends the server's end too. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Decides for one client socket owned by @uid connected to gated @port. */
typedef gboolean (*SgSockMatchFunc) (guint32 uid, guint16 port, gpointer user_data);

/* Destroys every local client socket whose destination port is in @ports
 * (ascending) and for which @match returns TRUE. @n_destroyed receives how
 * many were destroyed. When the kernel refuses SOCK_DESTROY (no
 * CONFIG_INET_DIAG_DESTROY, or no CAP_NET_ADMIN) fails with
 * G_IO_ERROR_NOT_SUPPORTED or G_IO_ERROR_PERMISSION_DENIED, after trying them
 * all. */
gboolean sg_sock_destroy_matching (const guint16 *ports, gsize n_ports, SgSockMatchFunc match,
                                   gpointer user_data, guint *n_destroyed, GError **error);

G_END_DECLS
