/* "Copy address" without a toolkit: hands the text to wl-copy, xclip or
 * xsel, whichever fits the display, found once at start. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* The command that copies stdin to the clipboard here, or NULL. */
char **sg_clipboard_find_command (void);

/* Runs @command with @text on its standard input. */
gboolean sg_clipboard_copy (const char *const *command, const char *text, GError **error);

G_END_DECLS
