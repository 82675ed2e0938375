/* A seat's VM binding (QMPSocket=) as the file system and /proc/net/unix
 * show it, for doctor and status. Never connects: QEMU serves one QMP
 * client at a time, so a connect would wait in the backlog behind the
 * helper's connection, or take the VM from the helper if it is not there. */
#pragma once

#include <glib.h>

#include "proc-net.h"

G_BEGIN_DECLS

typedef enum
{
  SGCTL_QMP_FILE_SOCKET,
  SGCTL_QMP_FILE_MISSING,    /* no such file, or a folder on the way is missing */
  SGCTL_QMP_FILE_NOT_SOCKET, /* something else is there */
  SGCTL_QMP_FILE_UNREADABLE, /* stat() failed otherwise, e.g. EACCES when not root */
} SgctlQmpFile;

typedef struct
{
  char *path; /* QMPSocket= */
  SgctlQmpFile file;
  char *file_error; /* MISSING, UNREADABLE: stat()'s error; NOT_SOCKET: what it is */
  guint32 owner;    /* the socket file's owner (SOCKET) */
  guint mode;       /* its permission bits (SOCKET) */

  gboolean sockets_read; /* /proc/net/unix could be read: sockets is true */
  char *sockets_error;
  SgctlUnixPath sockets; /* bound to path (or where it resolves to) */

  /* Who besides root and the socket's owner can connect to it: NULL for
   * nobody, "every local user", or "bob (1001), carol (1002)". */
  char *reachable_by;
  /* Who besides them can put a socket of their own in its place (write to
   * a folder on the way, or own one), in the same form, and the first such
   * folder: the helper would then talk to their program, not the VM. */
  char *replaceable_by;
  char *replaceable_in;
  /* Why that could not be told (an ACL, a folder that cannot be read), or
   * NULL. */
  char *reach_unknown;
} SgctlQmpProbe;

void sgctl_qmp_probe_free (SgctlQmpProbe *probe);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SgctlQmpProbe, sgctl_qmp_probe_free)

/* Looks at @path: the file and the sockets bound to it; with @who_can, also
 * who can reach or replace it (reads every user and their groups, so only
 * doctor asks). */
SgctlQmpProbe *sgctl_qmp_probe (const char *path, gboolean who_can);

/* QEMU listens on the socket. */
gboolean sgctl_qmp_probe_listening (const SgctlQmpProbe *probe);

/* One word for status: "listening", "missing", "not-a-socket",
 * "not-listening" (a socket file nobody serves), "unknown" (not readable). */
const char *sgctl_qmp_probe_state (const SgctlQmpProbe *probe);

G_END_DECLS
