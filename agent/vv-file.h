/* The virt-viewer connection file (".vv") that hands one launch of the
 * viewer the VM console's address and ticket: %f in ViewerCommand. A file
 * rather than arguments because the ticket must not be on a command line,
 * which every local user can read in /proc. */
#pragma once

#include "console.h"

G_BEGIN_DECLS

/* Writes @console and @title to a new file with a random name in
 * @runtime_dir (the caller's $XDG_RUNTIME_DIR), mode 0600, and returns its
 * path. Refuses when @runtime_dir is NULL, not absolute, not a directory
 * of ours, or not mode 0700; when a value holds a control character; and
 * never replaces an existing file. */
char *sg_vv_file_write (const char *runtime_dir, const SgConsole *console, const char *title,
                        GError **error);

/* Removes @path if it is still there (the viewer removes it itself once
 * read, see vv-file.c): TRUE when it is gone. */
gboolean sg_vv_file_remove (const char *path, GError **error);

G_END_DECLS
