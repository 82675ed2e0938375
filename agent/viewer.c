#include "viewer.h"

#include "sg-build-config.h"
#include "sg-config.h"
#include "status.h"

typedef struct
{
  SgViewerFailedFunc failed;
  gpointer user_data;
  char *program;
} Launch;

static char *
load_user_command (char **problem)
{
  g_autofree char *path
      = g_build_filename (g_get_user_config_dir (), "seatgate", "agent.conf", NULL);
  g_autofree char *data = NULL;
  gsize len = 0;
  g_autoptr (GError) error = NULL;
  g_autoptr (SgConfig) config = NULL;

  if (!g_file_get_contents (path, &data, &len, &error))
    {
      if (!g_error_matches (error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        {
          g_warning ("%s", error->message);
          *problem = g_strdup (error->message);
        }
      return NULL;
    }
  config = sg_config_load_data (data, len, path, TRUE, &error);
  if (config == NULL)
    {
      g_warning ("%s", error->message);
      *problem = g_strdup (error->message);
      return NULL;
    }
  return g_strdup (config->viewer_command);
}

static char *
load_system_command (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (SgConfig) config = sg_config_load_file (SG_CONFIG_FILE, &error);

  if (config == NULL)
    {
      /* The helper reports a broken system config; here it only costs the
       * admin's viewer choice. */
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
        g_message ("Not using %s for the viewer command: %s", SG_CONFIG_FILE, error->message);
      return NULL;
    }
  return g_strdup (config->viewer_command);
}

char *
sg_viewer_get_command (char **problem)
{
  char *command;

  *problem = NULL;
  /* Read at each launch, so an edit takes effect without a restart. */
  command = load_user_command (problem);
  if (command == NULL)
    command = load_system_command ();
  if (command == NULL)
    command = g_strdup (SG_VIEWER_DEFAULT_COMMAND);
  return command;
}

char **
sg_viewer_expand (const char *command, guint16 port, GError **error)
{
  g_auto (GStrv) argv = NULL;

  if (!g_shell_parse_argv (command, NULL, &argv, error))
    return NULL;
  for (gsize i = 0; argv[i] != NULL; i++)
    {
      GString *word = g_string_new (NULL);

      for (const char *c = argv[i]; *c; c++)
        {
          if (*c != '%')
            {
              g_string_append_c (word, *c);
              continue;
            }
          switch (c[1])
            {
            case 'p':
              g_string_append_printf (word, "%u", port);
              break;
            case 'h':
              g_string_append (word, SG_VIEWER_HOST);
              break;
            case 'u':
              g_string_append_printf (word, "spice://%s:%u", SG_VIEWER_HOST, port);
              break;
            case '%':
              g_string_append_c (word, '%');
              break;
            default:
              g_set_error (
                  error, G_SHELL_ERROR, G_SHELL_ERROR_FAILED,
                  "'%s': %%%c is not a code; use %%p (port), %%h (host), %%u (URI) or %%%%",
                  command, c[1] ? c[1] : ' ');
              g_string_free (word, TRUE);
              return NULL;
            }
          c++;
        }
      g_free (argv[i]);
      argv[i] = g_string_free (word, FALSE);
    }
  return g_steal_pointer (&argv);
}

static void
on_viewer_exited (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GSubprocess *child = G_SUBPROCESS (source);
  Launch *launch = user_data;
  g_autoptr (GError) error = NULL;

  if (!g_subprocess_wait_finish (child, result, &error))
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_warning ("Lost track of the viewer: %s", error->message);
    }
  /* A viewer killed by a signal was closed on purpose (logout); one that
   * exits with a status failed by itself. */
  else if (g_subprocess_get_if_exited (child) && g_subprocess_get_exit_status (child) != 0)
    {
      g_autofree char *body = g_strdup_printf ("%s exited with status %d.", launch->program,
                                               g_subprocess_get_exit_status (child));
      g_message ("%s", body);
      launch->failed ("The VM viewer failed", body, launch->user_data);
    }
  else
    g_debug ("The viewer exited");
  g_object_unref (child);
  g_free (launch->program);
  g_free (launch);
}

void
sg_viewer_launch (guint16 port, GCancellable *cancellable, SgViewerFailedFunc failed,
                  gpointer user_data)
{
  g_autofree char *problem = NULL;
  g_autofree char *command = sg_viewer_get_command (&problem);
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) argv = NULL;
  GSubprocess *child;

  if (problem != NULL)
    failed ("Your seatgate agent.conf is not used", problem, user_data);
  argv = sg_viewer_expand (command, port, &error);
  if (argv == NULL || argv[0] == NULL)
    {
      g_autofree char *body = g_strdup_printf ("The viewer command “%s” cannot be run: %s", command,
                                               error ? error->message : "it is empty");
      g_warning ("%s", body);
      failed ("The VM viewer could not start", body, user_data);
      return;
    }

  g_message ("Starting the viewer: %s", command);
  child = g_subprocess_newv ((const char *const *) argv, G_SUBPROCESS_FLAGS_NONE, &error);
  if (child == NULL)
    {
      g_autofree char *body = g_strdup_printf ("“%s” did not start: %s", argv[0], error->message);
      g_warning ("%s", body);
      failed ("The VM viewer could not start", body, user_data);
      return;
    }
  Launch *launch = g_new0 (Launch, 1);
  launch->failed = failed;
  launch->user_data = user_data;
  launch->program = g_strdup (argv[0]);
  g_subprocess_wait_async (child, cancellable, on_viewer_exited, launch);
}
