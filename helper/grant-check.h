/* The checks behind one Grant() call: the caller's uid from the bus daemon,
 * the active session of each gated seat from logind, and polkit's answer for
 * each seat. They are asked at once where that is safe, and nothing is
 * decided until every answer is in. Committing the grant is the service's. */
#pragma once

#include <gio/gio.h>

#include "call-throttle.h"
#include "seat-monitor.h"
#include "sg-config.h"
#include "sg-names.h"

G_BEGIN_DECLS

typedef struct _SgGrantCheck SgGrantCheck;

/* What a check needs from the service; all of it outlives the check. */
typedef struct
{
  GDBusConnection *bus;
  const SgConfig *config;
  SgSeatMonitor *monitor;
  SgCallThrottle *throttle; /* logind reads and polkit checks go through it */
  GCancellable *cancellable;
} SgGrantCheckEnv;

/* Every answer is in (or the check was abandoned and the calls under way are
 * back). Called once; the callee frees the check. */
typedef void (*SgGrantCheckDone) (SgGrantCheck *check, gpointer user_data);

/* Starts a check for the caller @sender: asks the bus daemon for its uid at
 * once. With @interactive, polkit (which may then ask the caller to
 * authenticate) is only asked about seats the caller was found to own. */
SgGrantCheck *sg_grant_check_start (const SgGrantCheckEnv *env, const char *sender,
                                    gboolean interactive, SgGrantCheckDone done,
                                    gpointer user_data);

/* Reads the seats: call once logind's view of them has settled. */
void sg_grant_check_read_seats (SgGrantCheck *check);

/* The caller left or released: no more calls go out, and done comes once the
 * ones under way are back. @why (a static string) says what happened, for the
 * reply. After done, the check only records it (get_abandoned). */
void sg_grant_check_abandon (SgGrantCheck *check, const char *why);

const char *sg_grant_check_get_sender (SgGrantCheck *check);

/* SG_NO_UID until the bus daemon answered. */
guint32 sg_grant_check_get_uid (SgGrantCheck *check);

/* Why the check was abandoned, or NULL. */
const char *sg_grant_check_get_abandoned (SgGrantCheck *check);

/* After done, when not abandoned: the sessions (SgLogindSession*, owned by the
 * check) on seats the caller owns and polkit allowed, or NULL with @error:
 * SG_ERROR_NOT_SEAT_OWNER, SG_ERROR_NOT_AUTHORIZED, or SG_ERROR_FAILED when
 * the caller's uid could not be learnt (then get_uid is SG_NO_UID). */
GPtrArray *sg_grant_check_get_allowed (SgGrantCheck *check, GError **error);

void sg_grant_check_free (SgGrantCheck *check);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SgGrantCheck, sg_grant_check_free)

G_END_DECLS
