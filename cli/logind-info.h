/* What logind says about a seat's active session, for status and doctor. */
#pragma once

#include <gio/gio.h>

#include "sg-logind.h"

G_BEGIN_DECLS

/* @seat's active session in *@session, NULL when the seat shows none (a
 * greeter, nobody logged in). Fails with G_IO_ERROR_NOT_FOUND when logind
 * has no such seat, and with the bus's error when logind cannot be asked. */
gboolean sgctl_logind_active_session (GDBusConnection *bus, const char *seat,
                                      SgLogindSession **session, GError **error);

G_END_DECLS
