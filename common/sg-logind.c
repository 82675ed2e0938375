#include "sg-logind.h"

char *
sg_logind_session_flaw (const char *seat, const char *wanted_seat, gboolean remote,
                        const char *session_class, gboolean active, const char *state)
{
  if (remote)
    return g_strdup ("remote session");
  if (seat == NULL || *seat == '\0')
    return g_strdup ("no seat");
  if (wanted_seat != NULL && g_strcmp0 (seat, wanted_seat) != 0)
    return g_strdup_printf ("on %s, not on %s", seat, wanted_seat);
  if (g_strcmp0 (session_class, "user") != 0)
    return g_strdup_printf ("not a user session (class %s)",
                            session_class != NULL ? session_class : "unknown");
  /* State changes without a signal; "closing" with Active still true is a
   * logged-out session whose processes linger. */
  if (!active || (state != NULL && g_strcmp0 (state, "active") != 0))
    return g_strdup_printf ("not the active session on %s", seat);
  return NULL;
}
