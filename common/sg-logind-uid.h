/* Which uid a logind session belongs to (Session.User), for the helper,
 * which learns a seat's new owner ahead of any Grant(), and the agent,
 * which asks whose a new session is before it follows it. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* Reads the User of logind's session object @path from @name (logind's
 * unique name where answers must come from the owner whose signals are
 * followed). A session's user never changes: one answer holds for its
 * life. */
void sg_logind_uid_read (GDBusConnection *bus, const char *name, const char *path, int timeout_ms,
                         GCancellable *cancellable, GAsyncReadyCallback callback,
                         gpointer user_data);

/* TRUE with *@uid set; FALSE with @error (G_IO_ERROR_CANCELLED once the
 * cancellable is cancelled: the caller's data may be gone). *@path is the
 * session's object path either way, valid while @result is. */
gboolean sg_logind_uid_read_finish (GAsyncResult *result, const char **path, guint32 *uid,
                                    GError **error);

G_END_DECLS
