/* The helper's answer to OpenConsole (): how this grant's holder reaches its
 * seat's VM console, and the VM's SPICE ticket when the seat is bound to a
 * VM. Checked once here, so nothing the viewer is given can carry a newline
 * or a control character into a command line or a connection file. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct
{
  char *seat; /* the seat the grant is on; NULL when the helper did not say */
  char *uri;  /* spice://HOST:PORT */
  char *host;
  guint16 port;
  char *password; /* the SPICE ticket, or NULL (no VM binding); wiped when freed */
} SgConsole;

/* @console: the a{sv} OpenConsole () answered. "uri" (s), "host" (s) and
 * "port" (q, not 0) must be there; "seat" (s) and "password" (s) may be.
 * Anything else is ignored, so that a newer helper may say more. */
SgConsole *sg_console_from_variant (GVariant *console, GError **error);
void sg_console_free (SgConsole *console);

/* Fails unless @value is non-empty UTF-8 without control characters
 * (U+0000-U+001F, U+007F-U+009F): @what names it in the message. */
gboolean sg_console_check_text (const char *what, const char *value, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SgConsole, sg_console_free)

G_END_DECLS
