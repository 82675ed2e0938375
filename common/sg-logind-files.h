/* logind's session files (/run/systemd/sessions/ID), watched for what
 * logind says on no bus, for helper and agent alike. A logout that leaves
 * processes running (KillUserProcesses=no, the default) turns the session
 * "closing" while it stays Active and its seat's ActiveSession, and logind
 * sends no D-Bus signal for it: logind-session.c session_stop () only
 * rewrites the session's file (session_save). The state is read from the
 * file through sd-login (sd_session_get_state). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _SgLogindFiles SgLogindFiles;

/* Session @id's file was rewritten or removed: its state is worth reading. */
typedef void (*SgLogindFileFunc) (const char *id, gpointer user_data);

/* Fails (saying why) when inotify cannot be had. */
SgLogindFiles *sg_logind_files_new (SgLogindFileFunc changed, gpointer user_data, GError **error);
void sg_logind_files_free (SgLogindFiles *files);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SgLogindFiles, sg_logind_files_free)

/* Watches @id's file, and again after each change (logind replaces the file
 * by a rename, and a watch goes with the old one). Read the state after
 * this: a change before it is then seen by the read, one after it by the
 * watch. Fails when the file is not there (no such session) or the kernel
 * refuses the watch. Watching a watched id again does nothing. */
gboolean sg_logind_files_watch (SgLogindFiles *files, const char *id, GError **error);
void sg_logind_files_unwatch (SgLogindFiles *files, const char *id);
void sg_logind_files_unwatch_all (SgLogindFiles *files);

/* The session's State as logind last saved it ("opening", "online",
 * "active", "closing"), or NULL with @error when logind has no file for it
 * (the session has ended) or it cannot be read. */
char *sg_logind_files_get_state (const char *session_id, GError **error);

G_END_DECLS
