#include "console.h"

#include <string.h>

#include "sg-error.h"

gboolean
sg_console_check_text (const char *what, const char *value, GError **error)
{
  if (value == NULL || *value == '\0')
    {
      g_set_error (error, SG_ERROR, SG_ERROR_FAILED, "%s is empty", what);
      return FALSE;
    }
  if (!g_utf8_validate (value, -1, NULL))
    {
      g_set_error (error, SG_ERROR, SG_ERROR_FAILED, "%s is not valid UTF-8", what);
      return FALSE;
    }
  for (const char *c = value; *c != '\0'; c = g_utf8_next_char (c))
    if (g_unichar_iscntrl (g_utf8_get_char (c)))
      {
        /* The value itself stays out of the message: it may be the ticket. */
        g_set_error (error, SG_ERROR, SG_ERROR_FAILED,
                     "%s holds a control character (U+%04X) at byte %d", what, g_utf8_get_char (c),
                     (int) (c - value));
        return FALSE;
      }
  return TRUE;
}

/* @key's string, checked; NULL with @error set when it is missing (and
 * @required), of another type, or not text. */
static gboolean
lookup_text (GVariant *console, const char *key, gboolean required, char **out, GError **error)
{
  g_autoptr (GVariant) value = g_variant_lookup_value (console, key, NULL);
  g_autofree char *what = g_strdup_printf ("The helper's \"%s\"", key);

  *out = NULL;
  if (value == NULL)
    {
      if (!required)
        return TRUE;
      g_set_error (error, SG_ERROR, SG_ERROR_FAILED,
                   "The helper's answer to OpenConsole has no \"%s\"; is the helper older than "
                   "this agent?",
                   key);
      return FALSE;
    }
  if (!g_variant_is_of_type (value, G_VARIANT_TYPE_STRING))
    {
      g_set_error (error, SG_ERROR, SG_ERROR_FAILED, "The helper's \"%s\" is of type %s, not s",
                   key, g_variant_get_type_string (value));
      return FALSE;
    }
  if (!sg_console_check_text (what, g_variant_get_string (value, NULL), error))
    return FALSE;
  *out = g_variant_dup_string (value, NULL);
  return TRUE;
}

SgConsole *
sg_console_from_variant (GVariant *console, GError **error)
{
  g_autoptr (SgConsole) out = g_new0 (SgConsole, 1);
  g_autoptr (GVariant) port = NULL;

  if (console == NULL || !g_variant_is_of_type (console, G_VARIANT_TYPE_VARDICT))
    {
      g_set_error (error, SG_ERROR, SG_ERROR_FAILED,
                   "The helper's answer to OpenConsole is of type %s, not a{sv}",
                   console ? g_variant_get_type_string (console) : "(none)");
      return NULL;
    }
  if (!lookup_text (console, "uri", TRUE, &out->uri, error)
      || !lookup_text (console, "host", TRUE, &out->host, error)
      || !lookup_text (console, "seat", FALSE, &out->seat, error)
      || !lookup_text (console, "password", FALSE, &out->password, error))
    return NULL;
  port = g_variant_lookup_value (console, "port", NULL);
  if (port == NULL || !g_variant_is_of_type (port, G_VARIANT_TYPE_UINT16)
      || g_variant_get_uint16 (port) == 0)
    {
      g_set_error (error, SG_ERROR, SG_ERROR_FAILED,
                   "The helper's answer to OpenConsole has no port (\"port\", a non-zero q)");
      return NULL;
    }
  out->port = g_variant_get_uint16 (port);
  return g_steal_pointer (&out);
}

void
sg_console_free (SgConsole *console)
{
  if (console == NULL)
    return;
  /* The ticket opens the VM to whoever holds it until the next grant: it
   * does not linger in freed memory. */
  if (console->password != NULL)
    explicit_bzero (console->password, strlen (console->password));
  g_free (console->password);
  g_free (console->seat);
  g_free (console->uri);
  g_free (console->host);
  g_free (console);
}
