/* One inotify watch per followed session's file, not one on the folder:
 * sd_login_monitor_new ("session") (libsystemd sd-login.c) watches the
 * whole folder, which would wake every agent on the machine, and the
 * helper, for each session change of anyone (the agent's test
 * test_other_sessions_file_changes_do_not_wake_the_agent holds it to
 * that). A watch on a file follows its inode, and logind writes a new file
 * and renames it over the old one (session_save: fopen_temporary_label,
 * then rename), so the old inode loses its last link (IN_ATTRIB, then
 * IN_DELETE_SELF): then the watch is put on the new file, and the caller
 * reads the state again. A change between the two is caught by that read;
 * one after it by the new watch. */
#include "sg-logind-files.h"

#include <errno.h>
#include <glib-unix.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <systemd/sd-login.h>
#include <unistd.h>

#include "sg-error.h"

/* logind-session.c session_save () */
#define SESSIONS_DIR "/run/systemd/sessions"
#define WATCH_MASK (IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF)

struct _SgLogindFiles
{
  int fd;
  guint source;
  SgLogindFileFunc changed;
  gpointer user_data;
  GHashTable *by_id; /* id -> wd */
  GHashTable *by_wd; /* wd -> id (owned by by_id) */
};

static gboolean
files_add (SgLogindFiles *files, const char *id, GError **error)
{
  g_autofree char *path = g_build_filename (SESSIONS_DIR, id, NULL);
  int wd = inotify_add_watch (files->fd, path, WATCH_MASK);

  if (wd < 0)
    {
      int saved = errno;
      if (saved == ENOENT)
        g_set_error (error, SG_ERROR, SG_ERROR_FAILED,
                     "logind keeps no file for session %s: it has ended", id);
      else
        g_set_error (error, SG_ERROR, SG_ERROR_FAILED,
                     "cannot watch %s, so a logout of session %s would go unseen: %s%s", path, id,
                     g_strerror (saved),
                     saved == ENOSPC ? " (raise fs.inotify.max_user_watches)" : "");
      return FALSE;
    }
  char *key = g_strdup (id);
  g_hash_table_insert (files->by_id, key, GINT_TO_POINTER (wd));
  /* Two ids never share a wd: the kernel gives one per inode, and each
   * session has a file of its own. */
  g_hash_table_insert (files->by_wd, GINT_TO_POINTER (wd), key);
  return TRUE;
}

static void
files_drop (SgLogindFiles *files, const char *id, gboolean remove_watch)
{
  gpointer wd;

  if (!g_hash_table_lookup_extended (files->by_id, id, NULL, &wd))
    return;
  if (remove_watch)
    inotify_rm_watch (files->fd, GPOINTER_TO_INT (wd));
  g_hash_table_remove (files->by_wd, wd);
  g_hash_table_remove (files->by_id, id);
}

static gboolean
on_inotify (int fd, GIOCondition condition, gpointer user_data)
{
  SgLogindFiles *files = user_data;
  char buffer[4096] __attribute__ ((aligned (__alignof__(struct inotify_event))));
  g_autoptr (GPtrArray) changed = g_ptr_array_new_with_free_func (g_free);
  ssize_t n = read (fd, buffer, sizeof buffer);

  if (n < 0)
    {
      if (errno == EAGAIN || errno == EINTR)
        return G_SOURCE_CONTINUE;
      g_warning ("Could not read logind's session file events, so a logout that leaves "
                 "processes running is seen only when logind next signals: %s",
                 g_strerror (errno));
      files->source = 0;
      return G_SOURCE_REMOVE;
    }
  for (char *p = buffer; p < buffer + n;)
    {
      const struct inotify_event *event = (const struct inotify_event *) p;
      const char *id = g_hash_table_lookup (files->by_wd, GINT_TO_POINTER (event->wd));

      p += sizeof (struct inotify_event) + event->len;
      if (id == NULL)
        continue;
      if (!g_ptr_array_find_with_equal_func (changed, id, g_str_equal, NULL))
        g_ptr_array_add (changed, g_strdup (id));
      /* The kernel drops a watch whose inode is gone (IN_IGNORED follows). */
      files_drop (files, id, (event->mask & (IN_IGNORED | IN_DELETE_SELF)) == 0);
    }
  /* Watched again before the caller reads: see the top of this file. */
  for (guint i = 0; i < changed->len; i++)
    {
      g_autoptr (GError) error = NULL;
      if (!files_add (files, changed->pdata[i], &error))
        g_debug ("%s", error->message);
    }
  for (guint i = 0; i < changed->len; i++)
    files->changed (changed->pdata[i], files->user_data);
  return G_SOURCE_CONTINUE;
}

SgLogindFiles *
sg_logind_files_new (SgLogindFileFunc changed, gpointer user_data, GError **error)
{
  int fd = inotify_init1 (IN_NONBLOCK | IN_CLOEXEC);

  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, SG_ERROR, SG_ERROR_FAILED,
                   "no inotify (%s), so a logout that leaves processes running is seen only "
                   "when logind next signals",
                   g_strerror (saved));
      return NULL;
    }
  SgLogindFiles *files = g_new0 (SgLogindFiles, 1);
  files->fd = fd;
  files->changed = changed;
  files->user_data = user_data;
  files->by_id = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  files->by_wd = g_hash_table_new (g_direct_hash, g_direct_equal);
  files->source = g_unix_fd_add (fd, G_IO_IN, on_inotify, files);
  return files;
}

void
sg_logind_files_free (SgLogindFiles *files)
{
  if (files == NULL)
    return;
  if (files->source != 0)
    g_source_remove (files->source);
  close (files->fd);
  g_hash_table_unref (files->by_wd);
  g_hash_table_unref (files->by_id);
  g_free (files);
}

gboolean
sg_logind_files_watch (SgLogindFiles *files, const char *id, GError **error)
{
  /* An id with a slash would name another file: logind's never have one. */
  if (id == NULL || *id == '\0' || strchr (id, '/') != NULL)
    {
      g_set_error (error, SG_ERROR, SG_ERROR_FAILED, "'%s' is not a logind session id",
                   id != NULL ? id : "");
      return FALSE;
    }
  if (g_hash_table_contains (files->by_id, id))
    return TRUE;
  return files_add (files, id, error);
}

void
sg_logind_files_unwatch (SgLogindFiles *files, const char *id)
{
  if (files != NULL && id != NULL)
    files_drop (files, id, TRUE);
}

void
sg_logind_files_unwatch_all (SgLogindFiles *files)
{
  GHashTableIter iter;
  gpointer wd;

  if (files == NULL)
    return;
  g_hash_table_iter_init (&iter, files->by_wd);
  while (g_hash_table_iter_next (&iter, &wd, NULL))
    inotify_rm_watch (files->fd, GPOINTER_TO_INT (wd));
  g_hash_table_remove_all (files->by_wd);
  g_hash_table_remove_all (files->by_id);
}

char *
sg_logind_files_get_state (const char *session_id, GError **error)
{
  char *state = NULL;
  int r = sd_session_get_state (session_id, &state);

  if (r == -ENXIO || r == -ENOENT)
    {
      g_set_error (error, SG_ERROR, SG_ERROR_FAILED,
                   "logind keeps no file for session %s: it has ended", session_id);
      return NULL;
    }
  if (r < 0)
    {
      g_set_error (error, SG_ERROR, SG_ERROR_FAILED, "cannot read logind's file for session %s: %s",
                   session_id, g_strerror (-r));
      return NULL;
    }
  /* sd-login's strings come from malloc (). */
  char *copy = g_strdup (state);
  free (state);
  return copy;
}
