/* TCP listeners from /proc/net/tcp and /proc/net/tcp6, the unix sockets
 * bound to a path from /proc/net/unix (both of this network namespace), and
 * which process holds a socket, for doctor and status. */
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

/* What /proc/net/unix shows for the stream sockets bound to one path. */
typedef struct
{
  guint listening; /* listening sockets: someone serves the path */
  guint connected; /* accepted connections: a client is being served */
  guint waiting;   /* connections in a listener's backlog, not accepted (yet) */
} SgctlUnixPath;

/* Counts the stream sockets whose bound path is one of @paths (e.g. a path
 * as written and as resolved). Reads only: nothing connects. */
gboolean sgctl_unix_path_sockets (const char *const *paths, SgctlUnixPath *out, GError **error);

/* The process that holds socket @inode: its pid and command name (comm).
 * Reading other users' /proc/PID/fd needs root: FALSE when not found. */
gboolean sgctl_socket_process (guint64 inode, int *pid, char **comm);

/* Processes whose command name is @comm, in this network namespace where
 * that can be told (pids, ascending). A helper in another namespace gates
 * another network stack. */
GArray *sgctl_processes_named (const char *comm);

G_END_DECLS
