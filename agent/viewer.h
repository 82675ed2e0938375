/* Starting the VM viewer the user configured, or remote-viewer, with what
 * the helper's OpenConsole () answered. */
#pragma once

#include <gio/gio.h>

#include "console.h"

G_BEGIN_DECLS

/* %f is a virt-viewer connection file written for this launch (host, port
 * and the VM's ticket; see vv-file.h), %p the port, %h the host, %u the
 * spice:// URI, %% a '%'. Only %f can hand the viewer the ticket. */
#define SG_VIEWER_DEFAULT_COMMAND "remote-viewer %f"

/* What the %-codes stand for in one launch. */
typedef struct
{
  const char *host;
  guint16 port;
  const char *uri;
  const char *file; /* %f; NULL: not written (yet) */
} SgViewerValues;

/* The viewer command: the user's $XDG_CONFIG_HOME/seatgate/agent.conf, else
 * the system config's [Agent] ViewerCommand, else the default. A broken file
 * is reported in @problem (for a notification) and skipped. */
char *sg_viewer_get_command (char **problem);

/* @command split into words, each with its %-codes replaced by @values.
 * @uses_file (may be NULL) tells whether %f occurs; with @values->file NULL
 * it expands to nothing, so a first call can tell whether a file is
 * needed. */
char **sg_viewer_expand (const char *command, const SgViewerValues *values, gboolean *uses_file,
                         GError **error);

/* Reports a viewer that could not start, that failed, or that was started
 * without the VM's ticket. */
typedef void (*SgViewerReportFunc) (const char *summary, const char *body, gpointer user_data);

/* The viewers started, and the connection files still to remove. */
typedef struct _SgViewer SgViewer;

SgViewer *sg_viewer_new (void);
/* Removes the connection files of viewers still running. */
void sg_viewer_free (SgViewer *viewer);

/* Starts the viewer on @console; @report may be called now or when it
 * exits. */
void sg_viewer_launch (SgViewer *viewer, const SgConsole *console, GCancellable *cancellable,
                       SgViewerReportFunc report, gpointer user_data);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SgViewer, sg_viewer_free)

G_END_DECLS
