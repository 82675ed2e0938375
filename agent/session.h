/* The agent's own logind session: found once, then followed through
 * logind's signals until it ends. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef enum
{
  SG_SESSION_RESOLVING, /* asking logind which session we are in */
  SG_SESSION_KNOWN,     /* the properties are logind's latest */
  SG_SESSION_UNKNOWN,   /* no logind or no session: see sg_session_why_not () */
  SG_SESSION_ENDED,     /* removed or closing: the agent's work is done */
} SgSessionState;

typedef struct _SgSession SgSession;

/* Called after every change of state or of a property that was read. */
typedef void (*SgSessionChangedFunc) (SgSession *session, gpointer user_data);

/* Follows the session named by $XDG_SESSION_ID, else the one logind's
 * GetSessionByPID gives for this process. @uid is whose agent we are. */
SgSession *sg_session_new (GDBusConnection *system_bus, guint32 uid, SgSessionChangedFunc changed,
                           gpointer user_data);
void sg_session_free (SgSession *session);

SgSessionState sg_session_get_state (const SgSession *session);
const char *sg_session_get_id (const SgSession *session);
/* The seat id, or "" for a session without a seat. */
const char *sg_session_get_seat (const SgSession *session);

/* NULL when the session may hold the seat's port (known, on a seat, local,
 * class "user", ours, active); else why not, for a person. */
const char *sg_session_why_not (const SgSession *session);

/* Why a session with these properties may not hold a port, or NULL.
 * Exposed for the unit tests. */
char *sg_session_judge (const char *id, guint32 session_uid, guint32 our_uid, const char *seat,
                        gboolean remote, const char *klass, gboolean active);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SgSession, sg_session_free)

G_END_DECLS
