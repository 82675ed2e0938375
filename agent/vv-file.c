#include "vv-file.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <inttypes.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sg-error.h"

/* How remote-viewer reads the file (virt-viewer 11.0, src/remote-viewer.c
 * remote_viewer_start and src/virt-viewer-file.c): an argument naming an
 * existing file is read by virt_viewer_file_new (), which parses it with
 * g_key_file_load_from_data () and refuses it without a [virt-viewer] group
 * holding "type"; "host", "password", "title" are read with
 * g_key_file_get_string (), "port" and "delete-this-file" with
 * g_key_file_get_integer (). With delete-this-file=1 it unlinks the file
 * right after reading it, unless VIRT_VIEWER_KEEP_FILE is set in its
 * environment, so the agent removes what is left when the viewer exits.
 * The file is written with GKeyFile too, so its escaping is the one the
 * reader undoes; control characters are refused before that, so no value
 * can start a line of its own. */
#define VV_GROUP "virt-viewer"

static gboolean
open_runtime_dir (const char *runtime_dir, int *dir_fd, GError **error)
{
  struct stat st;
  int fd;

  if (runtime_dir == NULL || *runtime_dir == '\0')
    {
      g_set_error (error, SG_ERROR, SG_ERROR_FAILED,
                   "XDG_RUNTIME_DIR is not set, so there is no private folder for the VM "
                   "console's connection file (%%f): log in through a session that sets it "
                   "(pam_systemd does), or ask your administrator for a ViewerCommand without %%f");
      return FALSE;
    }
  if (!g_path_is_absolute (runtime_dir))
    {
      g_set_error (error, SG_ERROR, SG_ERROR_FAILED,
                   "XDG_RUNTIME_DIR (%s) is not an absolute path, so it is not used for the VM "
                   "console's connection file (%%f)",
                   runtime_dir);
      return FALSE;
    }
  /* Opened once and checked through the descriptor, so the folder checked
   * is the folder written to, even if the path is renamed meanwhile. */
  fd = open (runtime_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, SG_ERROR, SG_ERROR_FAILED,
                   "XDG_RUNTIME_DIR %s cannot be used for the VM console's connection file: %s",
                   runtime_dir, g_strerror (saved));
      return FALSE;
    }
  if (fstat (fd, &st) < 0 || st.st_uid != geteuid () || (st.st_mode & 07777) != 0700)
    {
      /* The XDG Base Directory specification asks for exactly this; any
       * other folder may let someone else read the ticket. */
      g_set_error (error, SG_ERROR, SG_ERROR_FAILED,
                   "XDG_RUNTIME_DIR %s is not private (owner uid %u, mode %04o; it must be "
                   "yours, uid %u, with mode 0700), so the VM console's ticket is not written "
                   "there",
                   runtime_dir, (guint) st.st_uid, (guint) (st.st_mode & 07777),
                   (guint) geteuid ());
      close (fd);
      return FALSE;
    }
  *dir_fd = fd;
  return TRUE;
}

static char *
vv_file_data (const SgConsole *console, const char *title, gsize *len, GError **error)
{
  g_autoptr (GKeyFile) file = g_key_file_new ();

  if (!sg_console_check_text ("The console's host", console->host, error)
      || !sg_console_check_text ("The window title", title, error)
      || (console->password != NULL
          && !sg_console_check_text ("The VM's ticket", console->password, error)))
    return NULL;
  if (console->port == 0)
    {
      g_set_error_literal (error, SG_ERROR, SG_ERROR_FAILED, "The console's port is 0");
      return NULL;
    }
  g_key_file_set_string (file, VV_GROUP, "type", "spice");
  g_key_file_set_string (file, VV_GROUP, "host", console->host);
  g_key_file_set_integer (file, VV_GROUP, "port", console->port);
  if (console->password != NULL)
    g_key_file_set_string (file, VV_GROUP, "password", console->password);
  g_key_file_set_string (file, VV_GROUP, "title", title);
  g_key_file_set_integer (file, VV_GROUP, "delete-this-file", 1);
  return g_key_file_to_data (file, len, error);
}

static gboolean
write_all (int fd, const char *data, gsize len)
{
  while (len > 0)
    {
      ssize_t n = write (fd, data, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      data += n;
      len -= (gsize) n;
    }
  return TRUE;
}

char *
sg_vv_file_write (const char *runtime_dir, const SgConsole *console, const char *title,
                  GError **error)
{
  g_autofree char *data = NULL;
  g_autofree char *name = NULL;
  gsize len = 0;
  int dir_fd = -1, fd = -1;
  gboolean ok;
  int saved;

  data = vv_file_data (console, title, &len, error);
  if (data == NULL || !open_runtime_dir (runtime_dir, &dir_fd, error))
    goto wipe;

  for (int tries = 0; fd < 0 && tries < 16; tries++)
    {
      guint64 random_part;

      if (getrandom (&random_part, sizeof random_part, 0) != sizeof random_part)
        {
          saved = errno;
          g_set_error (error, SG_ERROR, SG_ERROR_FAILED,
                       "No random name for the VM console's connection file: %s",
                       g_strerror (saved));
          goto out;
        }
      g_free (name);
      name = g_strdup_printf ("seatgate-console-%016" PRIx64 ".vv", random_part);
      /* O_EXCL: a name that exists, file or link, is never written through. */
      fd = openat (dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
      if (fd < 0 && errno != EEXIST)
        break;
    }
  if (fd < 0)
    {
      saved = errno;
      g_set_error (error, SG_ERROR, SG_ERROR_FAILED,
                   "The VM console's connection file could not be created in %s: %s", runtime_dir,
                   g_strerror (saved));
      goto out;
    }
  /* 0600 whatever the umask took away: the viewer, as us, must read it. */
  ok = fchmod (fd, 0600) == 0 && write_all (fd, data, len);
  saved = errno;
  if (close (fd) != 0 && ok)
    {
      ok = FALSE;
      saved = errno;
    }
  if (!ok)
    {
      unlinkat (dir_fd, name, 0);
      g_set_error (error, SG_ERROR, SG_ERROR_FAILED,
                   "The VM console's connection file %s/%s could not be written: %s", runtime_dir,
                   name, g_strerror (saved));
      goto out;
    }
  close (dir_fd);
  explicit_bzero (data, len);
  return g_build_filename (runtime_dir, name, NULL);

out:
  close (dir_fd);
wipe:
  if (data != NULL)
    explicit_bzero (data, len);
  return NULL;
}

gboolean
sg_vv_file_remove (const char *path, GError **error)
{
  if (g_unlink (path) == 0 || errno == ENOENT)
    return TRUE;
  int saved = errno;
  g_set_error (error, SG_ERROR, SG_ERROR_FAILED, "Could not remove %s: %s", path,
               g_strerror (saved));
  return FALSE;
}
