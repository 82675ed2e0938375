/* The agent: follows its session and the helper, asks for the grant when
 * the session may hold the port, and shows the outcome. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct _SgAgent SgAgent;

/* The session ended (or a bus went away): @status is the exit status. */
typedef void (*SgAgentDoneFunc) (int status, gpointer user_data);

/* @session_bus may be NULL: then there is no tray and no notification.
 * With @use_tray FALSE, state changes go to notifications only. */
SgAgent *sg_agent_new (GDBusConnection *system_bus, GDBusConnection *session_bus, gboolean use_tray,
                       SgAgentDoneFunc done, gpointer user_data);
void sg_agent_free (SgAgent *agent);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SgAgent, sg_agent_free)

G_END_DECLS
