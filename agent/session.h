/* Which logind session the agent speaks for, kept current through logind's
 * signals: the session this process runs in when logind knows it, else the
 * uid's own session on a seat (see agent/README.md, "How the agent finds
 * its session"). */
#pragma once

#include <gio/gio.h>

#include "session-watch.h"

G_BEGIN_DECLS

typedef enum
{
  SG_SESSION_RESOLVING, /* asking logind which session we are in */
  SG_SESSION_KNOWN,     /* judged from logind's latest: see sg_session_why_not () */
  SG_SESSION_UNKNOWN,   /* no logind, or it did not answer */
  SG_SESSION_ENDED,     /* our own session was removed or is closing: the work is done */
} SgSessionState;

typedef enum
{
  SG_SESSION_BY_PID,  /* logind's GetSessionByPID knows this process: that session */
  SG_SESSION_BY_USER, /* we run outside any session (a user unit): the uid's sessions */
} SgSessionMode;

typedef struct _SgSession SgSession;

/* Called after every change of state or of a property that was read. */
typedef void (*SgSessionChangedFunc) (SgSession *session, gpointer user_data);

/* @uid is whose agent we are. */
SgSession *sg_session_new (GDBusConnection *system_bus, guint32 uid, SgSessionChangedFunc changed,
                           gpointer user_data);
void sg_session_free (SgSession *session);

SgSessionState sg_session_get_state (const SgSession *session);
/* Meaningful once the state is KNOWN. By user, the session may change, and
 * the agent outlives each: the state never becomes ENDED. */
SgSessionMode sg_session_get_mode (const SgSession *session);
/* The session judged, or NULL when there is none. */
const char *sg_session_get_id (const SgSession *session);
/* Its seat id, or "" without a seat. */
const char *sg_session_get_seat (const SgSession *session);

/* NULL when the session may hold the seat's port (known, on a seat, local,
 * class "user", ours, active); else why not, for a person. */
const char *sg_session_why_not (const SgSession *session);

/* Reads the followed sessions again: State changes without a signal, and a
 * revocation may be logind's closing of one. */
void sg_session_refresh (SgSession *session);

/* Why a session with these properties may not hold a port, or NULL.
 * Exposed for the unit tests. */
char *sg_session_judge (const char *id, guint32 session_uid, guint32 our_uid, const char *seat,
                        gboolean remote, const char *klass, gboolean active);

/* Of one uid's sessions, the one the agent speaks for (by user): a local
 * class "user" session on a seat, the seat's active one first; failing
 * that, the one to explain the state by: @display_id (logind's User.Display)
 * first. Closing sessions never count. The index, or -1 when none is left.
 * Exposed for the unit tests. */
int sg_session_elect (const SgLogindSession *const *sessions, guint n_sessions,
                      const char *display_id);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SgSession, sg_session_free)

G_END_DECLS
