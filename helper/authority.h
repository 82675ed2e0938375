/* Asks polkit whether a caller may do something. The subject is always the
 * caller's unique bus name (a "system-bus-name" subject), never a pid, which
 * can be reused. Deny by default: any error is a "no". */
#pragma once

#include <gio/gio.h>

#include "sg-names.h"

G_BEGIN_DECLS

/* The polkit action the Gate1 method @method needs: "Grant" the grant
 * action, "Revoke" the manage action; NULL for a method polkit is not asked
 * about ("Release", "OpenConsole": they touch only what the caller's own
 * connection holds). A method not in the table is the administrator's
 * (the manage action): deny by default. */
const char *sg_authority_action_for_method (const char *method);

/* Checks @action_id for the bus name @sender, with @seat (when not NULL) as
 * the detail "seat" for rules to read. With @allow_interaction polkit
 * may ask the caller's authentication agent (for admins at a terminal). The
 * result is TRUE only if polkit said "authorized"; "not authorized" is
 * SG_ERROR_NOT_AUTHORIZED, trouble reaching polkit SG_ERROR_FAILED. */
void sg_authority_check (GDBusConnection *bus, const char *sender, const char *action_id,
                         const char *seat, gboolean allow_interaction, GCancellable *cancellable,
                         GAsyncReadyCallback callback, gpointer user_data);
gboolean sg_authority_check_finish (GAsyncResult *result, GError **error);

G_END_DECLS
