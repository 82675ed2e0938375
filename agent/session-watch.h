/* One logind session object, read and kept current: what session.c needs
 * to judge it. Signals are taken only from logind's unique name. */
#pragma once

#include <gio/gio.h>

#include "sg-logind.h"

G_BEGIN_DECLS

typedef enum
{
  SG_SESSION_WATCH_READING, /* the first read is on its way */
  SG_SESSION_WATCH_READ,    /* the properties are logind's latest */
  SG_SESSION_WATCH_GONE,    /* logind no longer knows the object */
  SG_SESSION_WATCH_FAILED,  /* logind did not answer: nothing is known */
} SgSessionWatchState;

typedef struct _SgSessionWatch SgSessionWatch;

/* Called after each read, and when a PropertiesChanged was applied. */
typedef void (*SgSessionWatchFunc) (SgSessionWatch *watch, gpointer user_data);

/* Follows @path of @owner (logind's unique name) until freed. */
SgSessionWatch *sg_session_watch_new (GDBusConnection *bus, const char *owner, const char *path,
                                      SgSessionWatchFunc changed, gpointer user_data);
void sg_session_watch_free (SgSessionWatch *watch);

/* Reads everything again (State changes without a signal). */
void sg_session_watch_refresh (SgSessionWatch *watch);

SgSessionWatchState sg_session_watch_get_state (const SgSessionWatch *watch);
const char *sg_session_watch_get_path (const SgSessionWatch *watch);
/* Valid in state READ. */
const SgLogindSession *sg_session_watch_get_props (const SgSessionWatch *watch);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SgSessionWatch, sg_session_watch_free)

G_END_DECLS
