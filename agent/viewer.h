/* Starting the VM viewer the user configured, or remote-viewer. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* %p is the port, %h the host, %u the spice:// URI, %% a '%'. */
#define SG_VIEWER_DEFAULT_COMMAND "remote-viewer spice://%h:%p"

/* The viewer command: the user's $XDG_CONFIG_HOME/seatgate/agent.conf, else
 * the system config's [Agent] ViewerCommand, else the default. A broken file
 * is reported in @problem (for a notification) and skipped. */
char *sg_viewer_get_command (char **problem);

/* @command split into words, each with its %-codes replaced. */
char **sg_viewer_expand (const char *command, guint16 port, GError **error);

/* Reports a viewer that could not start or that failed. */
typedef void (*SgViewerFailedFunc) (const char *summary, const char *body, gpointer user_data);

/* Starts the viewer on @port; @failed may be called now or when it exits. */
void sg_viewer_launch (guint16 port, GCancellable *cancellable, SgViewerFailedFunc failed,
                       gpointer user_data);

G_END_DECLS
