/* TCP listeners from /proc/net/tcp and /proc/net/tcp6 (this network
 * namespace), and which process holds a socket, for doctor. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct
{
  char *address; /* "127.0.0.1", "::", … */
  guint16 port;
  gboolean ipv6;
  gboolean loopback; /* 127.0.0.0/8, ::1, ::ffff:127.0.0.0/104 */
  gboolean wildcard; /* 0.0.0.0 or :: — every address, the outside included */
  guint64 inode;
  guint32 uid;
} SgctlListener;

void sgctl_listener_free (SgctlListener *listener);

/* Every listening TCP socket, IPv4 then IPv6 (a GPtrArray of SgctlListener). */
GPtrArray *sgctl_tcp_listeners (GError **error);

/* The process that holds socket @inode: its pid and command name (comm).
 * Reading other users' /proc/PID/fd needs root: FALSE when not found. */
gboolean sgctl_socket_process (guint64 inode, int *pid, char **comm);

/* Processes whose command name is @comm, in this network namespace where
 * that can be told (pids, ascending). A helper in another namespace gates
 * another network stack. */
GArray *sgctl_processes_named (const char *comm);

G_END_DECLS
