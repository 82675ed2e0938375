#include "clipboard.h"

#include <string.h>

char **
sg_clipboard_find_command (void)
{
  static const struct
  {
    const char *display_var;
    const char *argv[4];
  } tools[] = {
    { "WAYLAND_DISPLAY", { "wl-copy", NULL } },
    { "DISPLAY", { "xclip", "-selection", "clipboard", NULL } },
    { "DISPLAY", { "xsel", "--clipboard", "--input", NULL } },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (tools); i++)
    {
      g_autofree char *path = NULL;

      if (g_getenv (tools[i].display_var) == NULL)
        continue;
      path = g_find_program_in_path (tools[i].argv[0]);
      if (path != NULL)
        {
          char **argv = g_strdupv ((char **) tools[i].argv);
          g_free (argv[0]);
          argv[0] = g_steal_pointer (&path);
          return argv;
        }
    }
  return NULL;
}

static void
on_copied (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GSubprocess) child = G_SUBPROCESS (source);
  g_autoptr (GError) error = NULL;

  if (!g_subprocess_communicate_finish (child, result, NULL, NULL, &error))
    g_warning ("Could not copy the address: %s", error->message);
}

gboolean
sg_clipboard_copy (const char *const *command, const char *text, GError **error)
{
  g_autoptr (GBytes) input = g_bytes_new (text, strlen (text));
  /* The tools keep serving the selection from a child of their own, which
   * keeps the pipe open: stdout and stderr go to ours, not to a pipe. */
  GSubprocess *child = g_subprocess_newv (command, G_SUBPROCESS_FLAGS_STDIN_PIPE, error);

  if (child == NULL)
    return FALSE;
  g_subprocess_communicate_async (child, input, NULL, on_copied, NULL);
  return TRUE;
}
