#include "viewer.h"

#include "sg-build-config.h"
#include "sg-config.h"
#include "vv-file.h"

struct _SgViewer
{
  GPtrArray *launches; /* Launch: viewers running */
};

typedef struct
{
  SgViewer *viewer; /* NULL once the viewer (the agent) is freed */
  SgViewerReportFunc report;
  gpointer user_data;
  char *program;
  char *file; /* the connection file, or NULL */
} Launch;

static void
launch_free (Launch *launch)
{
  g_free (launch->program);
  g_free (launch->file);
  g_free (launch);
}

/* Removes the launch's connection file if the viewer left it there (it
 * did not read it, or was told to keep it). */
static void
launch_remove_file (Launch *launch)
{
  g_autoptr (GError) error = NULL;

  if (launch->file == NULL)
    return;
  if (!sg_vv_file_remove (launch->file, &error))
    g_warning ("%s", error->message);
  g_clear_pointer (&launch->file, g_free);
}

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
sg_viewer_expand (const char *command, const SgViewerValues *values, gboolean *uses_file,
                  GError **error)
{
  g_auto (GStrv) argv = NULL;

  if (uses_file != NULL)
    *uses_file = FALSE;
  if (!g_shell_parse_argv (command, NULL, &argv, error))
    return NULL;
  for (gsize i = 0; argv[i] != NULL; i++)
    {
      g_autoptr (GString) word = g_string_new (NULL);

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
              g_string_append_printf (word, "%u", values->port);
              break;
            case 'h':
              g_string_append (word, values->host);
              break;
            case 'u':
              g_string_append (word, values->uri);
              break;
            case 'f':
              if (uses_file != NULL)
                *uses_file = TRUE;
              if (values->file != NULL)
                g_string_append (word, values->file);
              break;
            case '%':
              g_string_append_c (word, '%');
              break;
            default:
              g_set_error (error, G_SHELL_ERROR, G_SHELL_ERROR_FAILED,
                           "'%s': %%%c is not a code; use %%f (connection file), %%p (port), %%h "
                           "(host), %%u (URI) or %%%%",
                           command, c[1] ? c[1] : ' ');
              return NULL;
            }
          c++;
        }
      g_free (argv[i]);
      argv[i] = g_string_free (g_steal_pointer (&word), FALSE);
    }
  return g_steal_pointer (&argv);
}

static void
on_viewer_exited (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GSubprocess *child = G_SUBPROCESS (source);
  Launch *launch = user_data;
  g_autoptr (GError) error = NULL;

  /* Whatever the end, the ticket's file goes with the viewer. */
  launch_remove_file (launch);
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
      if (launch->viewer != NULL)
        launch->report ("The VM viewer failed", body, launch->user_data);
    }
  else
    g_debug ("The viewer exited");
  if (launch->viewer != NULL)
    g_ptr_array_remove_fast (launch->viewer->launches, launch);
  g_object_unref (child);
  launch_free (launch);
}

SgViewer *
sg_viewer_new (void)
{
  SgViewer *viewer = g_new0 (SgViewer, 1);

  viewer->launches = g_ptr_array_new ();
  return viewer;
}

void
sg_viewer_free (SgViewer *viewer)
{
  if (viewer == NULL)
    return;
  /* The viewers may outlive the agent; their tickets' files do not. The
   * launches themselves are freed when their wait ends. */
  for (guint i = 0; i < viewer->launches->len; i++)
    {
      Launch *launch = viewer->launches->pdata[i];
      launch_remove_file (launch);
      launch->viewer = NULL;
    }
  g_ptr_array_unref (viewer->launches);
  g_free (viewer);
}

static void
report_not_started (const char *body, SgViewerReportFunc report, gpointer user_data)
{
  g_warning ("%s", body);
  report ("The VM viewer could not start", body, user_data);
}

void
sg_viewer_launch (SgViewer *viewer, const SgConsole *console, GCancellable *cancellable,
                  SgViewerReportFunc report, gpointer user_data)
{
  g_autofree char *problem = NULL;
  g_autofree char *command = sg_viewer_get_command (&problem);
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) argv = NULL;
  g_autofree char *file = NULL;
  g_autofree char *title = NULL;
  SgViewerValues values = { console->host, console->port, console->uri, NULL };
  gboolean uses_file = FALSE;
  GSubprocess *child;

  if (problem != NULL)
    report ("Your seatgate agent.conf is not used", problem, user_data);
  argv = sg_viewer_expand (command, &values, &uses_file, &error);
  if (argv == NULL || argv[0] == NULL)
    {
      g_autofree char *body = g_strdup_printf ("The viewer command “%s” cannot be run: %s", command,
                                               error ? error->message : "it is empty");
      report_not_started (body, report, user_data);
      return;
    }
  if (uses_file)
    {
      /* The title names the seat, so a person with two seats' consoles
       * open can tell them apart. */
      title = g_strdup_printf ("VM console of %s", console->seat ? console->seat : "this seat");
      file = sg_vv_file_write (g_getenv ("XDG_RUNTIME_DIR"), console, title, &error);
      if (file == NULL)
        {
          g_autofree char *body
              = g_strdup_printf ("The viewer was not started: %s.", error->message);
          report_not_started (body, report, user_data);
          return;
        }
      values.file = file;
      g_strfreev (argv);
      argv = sg_viewer_expand (command, &values, NULL, &error);
      g_assert (argv != NULL); /* the same command expanded a moment ago */
    }
  else if (console->password != NULL)
    {
      /* Started all the same: the person may know another way in, and a
       * viewer that asks for a password says plainly what is missing. */
      const char *body = "This seat's VM needs a ticket, which the viewer can only be given in a "
                         "connection file, and the viewer command has no %f: the viewer will ask "
                         "for a password you were not told. Ask your administrator to put %f in "
                         "ViewerCommand (see seatgate.conf(5)).";
      g_warning ("The viewer command “%s” has no %%f, so the viewer is not given the VM's ticket; "
                 "use %%f in ViewerCommand",
                 command);
      report ("The VM viewer was not given the VM's ticket", body, user_data);
    }

  /* The command as configured, not as expanded: it names no secret. */
  g_message ("Starting the viewer: %s%s%s", command, file ? " with " : "", file ? file : "");
  child = g_subprocess_newv ((const char *const *) argv, G_SUBPROCESS_FLAGS_NONE, &error);
  if (child == NULL)
    {
      g_autofree char *body = g_strdup_printf ("“%s” did not start: %s", argv[0], error->message);
      if (file != NULL)
        {
          g_autoptr (GError) remove_error = NULL;
          if (!sg_vv_file_remove (file, &remove_error))
            g_warning ("%s", remove_error->message);
        }
      report_not_started (body, report, user_data);
      return;
    }
  Launch *launch = g_new0 (Launch, 1);
  launch->viewer = viewer;
  launch->report = report;
  launch->user_data = user_data;
  launch->program = g_strdup (argv[0]);
  launch->file = g_steal_pointer (&file);
  g_ptr_array_add (viewer->launches, launch);
  g_subprocess_wait_async (child, cancellable, on_viewer_exited, launch);
}
