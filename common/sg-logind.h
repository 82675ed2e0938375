/* The one rule, shared by helper and agent, for whether a logind session
 * makes its owner the console user of a seat. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Why a session with these logind properties is not the active, local,
 * class "user" session of @wanted_seat (NULL: of whatever seat it is on), as
 * a short phrase for a person ("remote session", "not the active session on
 * seat0"); NULL when it is. @state may be NULL when unknown; otherwise it
 * must be "active". */
char *sg_logind_session_flaw (const char *seat,
                              const char *wanted_seat,
                              gboolean remote,
                              const char *session_class,
                              gboolean active,
                              const char *state);

G_END_DECLS
