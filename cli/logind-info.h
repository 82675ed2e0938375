/* What logind says about a seat's active session, for status and doctor. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct
{
  char *id;
  guint32 uid;
  char *name; /* logind's user name of the session */
  gboolean remote;
  char *remote_host;
  char *session_class;
  char *type;
  char *state;
  gboolean active;
} SgctlSession;

void sgctl_session_free (SgctlSession *session);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SgctlSession, sgctl_session_free)

/* @seat's active session in *@session, NULL when the seat shows none (a
 * greeter, nobody logged in). Fails with G_IO_ERROR_NOT_FOUND when logind
 * has no such seat, and with the bus's error when logind cannot be asked. */
gboolean sgctl_logind_active_session (GDBusConnection *bus, const char *seat,
                                      SgctlSession **session, GError **error);

G_END_DECLS
