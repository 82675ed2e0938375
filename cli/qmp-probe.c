#include "qmp-probe.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "seatgatectl.h"

/* A file on the way to the socket, as permission checks see it. */
typedef struct
{
  char *path;
  guint32 uid;
  guint32 gid;
  guint mode;
} Node;

static void
node_clear (Node *node)
{
  g_free (node->path);
}

void
sgctl_qmp_probe_free (SgctlQmpProbe *probe)
{
  if (probe == NULL)
    return;
  g_free (probe->path);
  g_free (probe->file_error);
  g_free (probe->sockets_error);
  g_free (probe->reachable_by);
  g_free (probe->replaceable_by);
  g_free (probe->replaceable_in);
  g_free (probe->reach_unknown);
  g_free (probe);
}

static const char *
file_kind (mode_t mode)
{
  if (S_ISREG (mode))
    return "a regular file";
  if (S_ISDIR (mode))
    return "a folder";
  if (S_ISFIFO (mode))
    return "a named pipe";
  if (S_ISCHR (mode) || S_ISBLK (mode))
    return "a device";
  return "not a socket";
}

/* The kernel's own order: the owner's bits if the uid owns it, else the
 * group's if one of the groups is its group, else the others'. @what is
 * 1 (search) or 2 (write). */
static gboolean
permits (const Node *node, guint32 uid, const gid_t *groups, int n_groups, guint what)
{
  if (node->uid == uid)
    return ((node->mode >> 6) & what) != 0;
  for (int i = 0; i < n_groups; i++)
    if (node->gid == groups[i])
      return ((node->mode >> 3) & what) != 0;
  return (node->mode & what) != 0;
}

/* What a uid may do with the socket, or with the entry below folder @at. */
typedef gboolean (*Ability) (GArray *nodes, guint at, guint32 uid, const gid_t *groups,
                             int n_groups);

/* connect() needs search on every folder on the way and write on the
 * socket (the last node). */
static gboolean
can_connect (GArray *nodes, guint at, guint32 uid, const gid_t *groups, int n_groups)
{
  for (guint i = 0; i < nodes->len; i++)
    if (!permits (&g_array_index (nodes, Node, i), uid, groups, n_groups,
                  i + 1 == nodes->len ? 2 : 1))
      return FALSE;
  return TRUE;
}

/* rename() or unlink() of the entry below folder @at, which lets a socket
 * of one's own take the VM's place, needs search down to it and write and
 * search on it; in a sticky folder also owning the entry. The folder's
 * owner can give itself all that with chmod. */
static gboolean
can_replace (GArray *nodes, guint at, guint32 uid, const gid_t *groups, int n_groups)
{
  const Node *folder = &g_array_index (nodes, Node, at);
  const Node *entry = &g_array_index (nodes, Node, at + 1);

  for (guint i = 0; i < at; i++)
    if (!permits (&g_array_index (nodes, Node, i), uid, groups, n_groups, 1))
      return FALSE;
  if (folder->uid == uid)
    return TRUE;
  if (!permits (folder, uid, groups, n_groups, 2) || !permits (folder, uid, groups, n_groups, 1))
    return FALSE;
  return (folder->mode & S_ISVTX) == 0 || entry->uid == uid;
}

/* A named user as permission checks see it. */
typedef struct
{
  char *name;
  guint32 uid;
  gid_t *groups;
  int n_groups;
} User;

static void
user_clear (User *user)
{
  g_free (user->name);
  g_free (user->groups);
}

/* Every named user but root and @owner, with their groups, read once:
 * each group lookup can go through NSS modules (nss-systemd probes its
 * userdb folders), so they are not repeated per check. */
static GArray *
local_users (guint32 owner)
{
  GArray *users = g_array_new (FALSE, TRUE, sizeof (User));
  struct passwd *pw;

  g_array_set_clear_func (users, (GDestroyNotify) user_clear);
  setpwent ();
  while ((pw = getpwent ()) != NULL)
    {
      if (pw->pw_uid == 0 || pw->pw_uid == owner)
        continue;
      int n_groups = 64;
      gid_t *groups = g_new (gid_t, n_groups);
      if (getgrouplist (pw->pw_name, pw->pw_gid, groups, &n_groups) < 0)
        {
          groups = g_renew (gid_t, groups, n_groups);
          if (getgrouplist (pw->pw_name, pw->pw_gid, groups, &n_groups) < 0)
            n_groups = 0;
        }
      if (n_groups == 0)
        groups[n_groups++] = pw->pw_gid;
      User user = { g_strdup (pw->pw_name), pw->pw_uid, groups, n_groups };
      g_array_append_val (users, user);
    }
  endpwent ();
  return users;
}

/* Every one of @users who is @able. A uid with no passwd entry gets the
 * others' bits, checked first. */
static char *
users_who (Ability able, GArray *nodes, guint at, GArray *users)
{
  g_autoptr (GString) names = g_string_new (NULL);

  if (able (nodes, at, G_MAXUINT32 - 1, NULL, 0))
    return g_strdup ("every local user");
  for (guint i = 0; i < users->len; i++)
    {
      const User *user = &g_array_index (users, User, i);
      if (able (nodes, at, user->uid, user->groups, user->n_groups))
        g_string_append_printf (names, "%s%s (%u)", names->len > 0 ? ", " : "", user->name,
                                user->uid);
    }
  return names->len > 0 ? g_string_free (g_steal_pointer (&names), FALSE) : NULL;
}

static gboolean
has_acl (const char *path)
{
  return getxattr (path, "system.posix_acl_access", NULL, 0) > 0;
}

/* The folders from / down to the socket's, then the socket. */
static void
check_reach (SgctlQmpProbe *probe, const char *resolved, const struct stat *socket_st)
{
  g_autoptr (GArray) nodes = g_array_new (FALSE, TRUE, sizeof (Node));
  g_auto (GStrv) parts = g_strsplit (resolved, "/", -1);
  g_autoptr (GString) at = g_string_new ("/");

  g_array_set_clear_func (nodes, (GDestroyNotify) node_clear);
  for (guint i = 0; parts[i] != NULL; i++)
    {
      struct stat st;
      gboolean last = parts[i + 1] == NULL;
      if (i > 0 && *parts[i] == '\0')
        continue;
      if (i > 0)
        {
          if (at->len > 1)
            g_string_append_c (at, '/');
          g_string_append (at, parts[i]);
        }
      if (last)
        st = *socket_st;
      else if (stat (at->str, &st) != 0)
        {
          probe->reach_unknown = g_strdup_printf ("%s: %s", at->str, g_strerror (errno));
          return;
        }
      if (has_acl (at->str) && probe->reach_unknown == NULL)
        probe->reach_unknown = g_strdup_printf (
            "%s has an ACL (getfacl %s shows it), and seatgatectl reads only the mode bits",
            at->str, at->str);
      Node node = { g_strdup (at->str), st.st_uid, st.st_gid, st.st_mode & 07777 };
      g_array_append_val (nodes, node);
    }
  g_autoptr (GArray) users = local_users (probe->owner);
  probe->reachable_by = users_who (can_connect, nodes, 0, users);
  for (guint folder = 0; folder + 1 < nodes->len && probe->replaceable_by == NULL; folder++)
    {
      probe->replaceable_by = users_who (can_replace, nodes, folder, users);
      if (probe->replaceable_by != NULL)
        probe->replaceable_in = g_strdup (g_array_index (nodes, Node, folder).path);
    }
}

SgctlQmpProbe *
sgctl_qmp_probe (const char *path, gboolean who_can)
{
  g_autoptr (SgctlQmpProbe) probe = g_new0 (SgctlQmpProbe, 1);
  g_autofree char *resolved = realpath (path, NULL);
  g_autoptr (GError) error = NULL;
  struct stat st;

  probe->path = g_strdup (path);
  if (stat (path, &st) != 0)
    {
      int saved = errno;
      probe->file = saved == ENOENT || saved == ENOTDIR ? SGCTL_QMP_FILE_MISSING
                                                        : SGCTL_QMP_FILE_UNREADABLE;
      probe->file_error = g_strdup (g_strerror (saved));
    }
  else if (!S_ISSOCK (st.st_mode))
    {
      probe->file = SGCTL_QMP_FILE_NOT_SOCKET;
      probe->file_error = g_strdup (file_kind (st.st_mode));
    }
  else
    {
      probe->file = SGCTL_QMP_FILE_SOCKET;
      probe->owner = st.st_uid;
      probe->mode = st.st_mode & 07777;
    }

  /* QEMU binds the path it was given: match it as written and as resolved
   * (through symbolic links). */
  const char *paths[] = { path, resolved, NULL };
  probe->sockets_read = sgctl_unix_path_sockets (paths, &probe->sockets, &error);
  if (!probe->sockets_read)
    probe->sockets_error = g_strdup (error->message);

  if (who_can && probe->file == SGCTL_QMP_FILE_SOCKET)
    check_reach (probe, resolved != NULL ? resolved : path, &st);
  return g_steal_pointer (&probe);
}

gboolean
sgctl_qmp_probe_listening (const SgctlQmpProbe *probe)
{
  return probe->file == SGCTL_QMP_FILE_SOCKET && probe->sockets_read
         && probe->sockets.listening > 0;
}

const char *
sgctl_qmp_probe_state (const SgctlQmpProbe *probe)
{
  switch (probe->file)
    {
    case SGCTL_QMP_FILE_MISSING:
      return "missing";
    case SGCTL_QMP_FILE_NOT_SOCKET:
      return "not-a-socket";
    case SGCTL_QMP_FILE_UNREADABLE:
      return "unknown";
    case SGCTL_QMP_FILE_SOCKET:
    default:
      break;
    }
  if (!probe->sockets_read)
    return "unknown";
  return probe->sockets.listening > 0 ? "listening" : "not-listening";
}
