/* How the agent finds its session, and why this way.
 *
 * Desktops start autostart apps outside the session: gnome-session runs each
 * in an app-gnome-*.scope under user@UID.service and drops XDG_SESSION_ID
 * from their environment (gnome-session gsm-util.c, variable_blacklist);
 * systemd-xdg-autostart-generator desktops (KDE Plasma's systemd startup,
 * ...) run them as user units, whose XDG_SESSION_ID, if any, comes from the
 * user manager's environment, shared by all of the user's sessions. For such
 * a process logind's GetSessionByPID answers NoSessionForPID (logind-core.c
 * manager_get_session_by_pidref counts session scopes and leaders only).
 *
 * So: first GetSessionByPID (our pid). When logind knows it, the process is
 * in that session's scope and the agent speaks for that session alone,
 * ending with it; XDG_SESSION_ID is only compared with it. Otherwise the
 * agent follows the uid: its sessions from ListSessions, kept current with
 * SessionNew/SessionRemoved (User.Sessions sends no PropertiesChanged:
 * logind-user-dbus.c user_vtable) and each one's PropertiesChanged, and
 * speaks for the local, class "user" session on a seat, the seat's active
 * one first. logind's own answer for that case, GetSession("auto")
 * (logind-dbus.c get_sender_session, consult_display), is the user's
 * Display, which user_elect_display (logind-user.c) picks by class and type
 * alone: an xrdp or ssh session may be it while the user sits at the seat.
 * The Display (it does send PropertiesChanged) only chooses which of the
 * sessions that cannot hold a port explains the tray state. Followed by
 * user, the agent outlives each session and waits for the next.
 *
 * Signals are taken from logind's unique name only, subscribed again for
 * each new owner (sg_logind_subscribe says why). */
#include "session.h"

#include <unistd.h>

#include "sg-dbus-property.h"
#include "sg-logind-files.h"
#include "sg-logind-uid.h"
#include "sg-logind.h"

#define LOGIN1_NAME SG_LOGIND_NAME
#define LOGIN1_PATH SG_LOGIND_PATH
#define LOGIN1_MANAGER SG_LOGIND_MANAGER
#define LOGIN1_SESSION SG_LOGIND_SESSION
#define LOGIN1_USER SG_LOGIND_USER
#define LOGIN1_ERROR SG_LOGIND_ERROR

struct _SgSession
{
  GDBusConnection *bus;
  guint32 uid;
  SgSessionChangedFunc changed;
  gpointer user_data;

  guint watch_id;
  SgLogindFiles *files; /* NULL without inotify */
  /* Everything below is about one owner of logind's name. */
  char *owner;
  GCancellable *cancellable;
  guint new_sub;
  guint removed_sub;
  gboolean resolved;   /* the pid lookup was answered: mode is set */
  gboolean listed;     /* by user: ListSessions was answered */
  GHashTable *watches; /* object path -> SgSessionWatch */
  char *user_path;     /* by user: our User object, once GetUser answered */
  guint user_sub;
  char *display_id;   /* by user: User.Display's id, or NULL */
  guint display_asks; /* by user: GetUser and Display reads not answered yet */
  char *env_mismatch; /* the XDG_SESSION_ID last said not to be ours */
  /* By pid: the session logind found for this process, kept across logind
   * restarts, after which logind must find it again. */
  char *pid_session;

  SgSessionMode mode;
  SgSessionState state;
  char *id;
  char *seat;
  char *why_not;
};

char *
sg_session_judge (const char *id, guint32 session_uid, guint32 our_uid, const char *seat,
                  gboolean remote, const char *klass, gboolean active)
{
  if (session_uid != our_uid)
    return g_strdup_printf ("session %s belongs to uid %u, not to uid %u", id, session_uid,
                            our_uid);
  /* The helper's own rule; the state is left out here because it changes
   * without a signal, and the helper checks it when asked. */
  return sg_logind_session_flaw (seat, NULL, remote, klass, active, NULL);
}

static gboolean
props_may_hold (const SgLogindSession *p)
{
  return p->seat != NULL && *p->seat != '\0' && !p->remote
         && g_strcmp0 (p->session_class, "user") == 0;
}

/* Lower is older: logind numbers its sessions (greeter-made ones have a
 * prefix, such as "c1"), and the oldest is the steadiest choice. */
static int
id_compare (const char *a, const char *b)
{
  gsize la = strlen (a), lb = strlen (b);

  if (la != lb)
    return la < lb ? -1 : 1;
  return strcmp (a, b);
}

int
sg_session_elect (const SgLogindSession *const *sessions, guint n_sessions, const char *display_id)
{
  int best = -1, best_rank = -1;

  for (guint i = 0; i < n_sessions; i++)
    {
      const SgLogindSession *p = sessions[i];
      int rank;

      /* A user manager's own session (class manager, systemd >= 256) and a
       * cron job's (background) are nobody's login: not even an
       * explanation. */
      if (p->id == NULL || g_strcmp0 (p->state, "closing") == 0 || p->session_class == NULL
          || g_str_has_prefix (p->session_class, "manager")
          || g_str_has_prefix (p->session_class, "background"))
        continue;
      if (props_may_hold (p))
        rank = p->active ? 4 : 3;
      else if (display_id != NULL && g_str_equal (p->id, display_id))
        rank = 2;
      else if (p->seat != NULL && *p->seat != '\0')
        rank = 1;
      else
        rank = 0;
      if (rank > best_rank || (rank == best_rank && id_compare (p->id, sessions[best]->id) < 0))
        {
          best = (int) i;
          best_rank = rank;
        }
    }
  return best;
}

static void
session_set (SgSession *session, SgSessionState state, const char *id, const char *seat,
             const char *why_not)
{
  if (session->state == SG_SESSION_ENDED)
    return;
  session->state = state;
  /* @id and @seat may point into what is replaced. */
  char *new_id = g_strdup (id);
  g_free (session->id);
  session->id = new_id;
  char *new_seat = g_strdup (seat != NULL ? seat : "");
  g_free (session->seat);
  session->seat = new_seat;
  g_free (session->why_not);
  session->why_not = g_strdup (why_not);
  if (state == SG_SESSION_ENDED)
    {
      g_message ("Session %s ended", session->id ? session->id : "?");
      g_cancellable_cancel (session->cancellable);
    }
  session->changed (session, session->user_data);
}

static void
session_cross_check_env (SgSession *session, const char *id)
{
  const char *env = g_getenv ("XDG_SESSION_ID");

  if (env == NULL || *env == '\0' || g_strcmp0 (env, id) == 0
      || g_strcmp0 (env, session->env_mismatch) == 0)
    return;
  g_free (session->env_mismatch);
  session->env_mismatch = g_strdup (env);
  g_message ("XDG_SESSION_ID=%s is not the session this agent speaks for (%s): it comes from "
             "the environment, which the desktop may share between sessions, so it is ignored",
             env, id != NULL ? id : "none");
}

/* Judges what is known now and tells the agent. */
static void
session_update (SgSession *session)
{
  GHashTableIter iter;
  SgSessionWatch *watch;
  g_autoptr (GPtrArray) known = g_ptr_array_new ();

  /* Followed by user, the Display picks the explanation: judged without it,
   * the tray would show a passing one (an ssh session's) first. */
  if (session->state == SG_SESSION_ENDED || !session->resolved
      || (session->mode == SG_SESSION_BY_USER && (!session->listed || session->display_asks > 0)))
    return;

  g_hash_table_iter_init (&iter, session->watches);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &watch))
    {
      switch (sg_session_watch_get_state (watch))
        {
        case SG_SESSION_WATCH_READING:
          /* Judged once every session is read: a half-read set would show
           * a passing state (a remote session's "no") for nothing. */
          return;
        case SG_SESSION_WATCH_FAILED:
          session_set (session, SG_SESSION_UNKNOWN, NULL, NULL,
                       "the login manager does not answer");
          return;
        case SG_SESSION_WATCH_READ:
          g_ptr_array_add (known, (gpointer) sg_session_watch_get_props (watch));
          break;
        case SG_SESSION_WATCH_GONE:
        default:
          break;
        }
    }

  int chosen = 0;
  if (session->mode == SG_SESSION_BY_PID)
    {
      const SgLogindSession *p = known->len == 1 ? known->pdata[0] : NULL;
      /* A closing session has been logged out of; logind only keeps it while
       * processes (such as this one) linger in it. */
      if (p == NULL || g_strcmp0 (p->state, "closing") == 0)
        {
          session_set (session, SG_SESSION_ENDED, p ? p->id : session->id, NULL,
                       p ? "session closing" : "session gone");
          return;
        }
      session_cross_check_env (session, p->id);
    }
  else
    {
      chosen = sg_session_elect ((const SgLogindSession *const *) known->pdata, known->len,
                                 session->display_id);
      session_cross_check_env (session,
                               chosen >= 0 ? ((SgLogindSession *) known->pdata[chosen])->id : NULL);
      if (chosen < 0)
        {
          g_debug ("uid %u has no open login session", session->uid);
          session_set (session, SG_SESSION_KNOWN, NULL, NULL, "no login session");
          return;
        }
    }

  const SgLogindSession *p = known->pdata[chosen];
  g_autofree char *why = sg_session_judge (p->id, p->uid, session->uid, p->seat, p->remote,
                                           p->session_class, p->active);
  g_debug ("Session %s: seat '%s' remote %d class %s active %d state %s: %s", p->id, p->seat,
           p->remote, p->session_class, p->active, p->state, why ? why : "may hold the port");
  session_set (session, SG_SESSION_KNOWN, p->id, p->seat, why);
}

static void
session_drop_watch (SgSession *session, const char *path)
{
  SgSessionWatch *watch = g_hash_table_lookup (session->watches, path);

  if (watch == NULL)
    return;
  sg_logind_files_unwatch (session->files, sg_session_watch_get_props (watch)->id);
  g_hash_table_remove (session->watches, path);
}

static void
on_watch_changed (SgSessionWatch *watch, gpointer user_data)
{
  SgSession *session = user_data;
  SgSessionWatchState state = sg_session_watch_get_state (watch);
  const SgLogindSession *props = sg_session_watch_get_props (watch);

  /* Followed by user, a session that is gone, or not ours after all (an id
   * reused between lookups), is dropped. */
  if (session->mode == SG_SESSION_BY_USER
      && (state == SG_SESSION_WATCH_GONE
          || (state == SG_SESSION_WATCH_READ && props->uid != session->uid)))
    session_drop_watch (session, sg_session_watch_get_path (watch));
  else if (state == SG_SESSION_WATCH_READ && session->files != NULL)
    {
      g_autoptr (GError) error = NULL;
      /* Without the file, its signals alone must do. */
      if (!sg_logind_files_watch (session->files, props->id, &error))
        g_debug ("Not watching session %s's file: %s", props->id, error->message);
    }
  session_update (session);
}

static void
on_session_file (const char *id, gpointer user_data)
{
  SgSession *session = user_data;
  GHashTableIter iter;
  SgSessionWatch *watch;

  g_hash_table_iter_init (&iter, session->watches);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &watch))
    if (g_strcmp0 (sg_session_watch_get_props (watch)->id, id) == 0)
      {
        g_debug ("logind rewrote session %s's file: reading it again", id);
        sg_session_watch_refresh (watch);
        return;
      }
}

static void
session_add_watch (SgSession *session, const char *path)
{
  if (g_hash_table_contains (session->watches, path))
    return;
  g_debug ("Following session object %s", path);
  g_hash_table_insert (
      session->watches, g_strdup (path),
      sg_session_watch_new (session->bus, session->owner, path, on_watch_changed, session));
}

/* --- the user's Display ------------------------------------------------- */

static void
session_apply_display (SgSession *session, GVariant *display)
{
  const char *id;

  if (!g_variant_is_of_type (display, G_VARIANT_TYPE ("(so)")))
    return;
  g_variant_get (display, "(&s&o)", &id, NULL);
  g_free (session->display_id);
  session->display_id = *id != '\0' ? g_strdup (id) : NULL;
}

static void
on_display_read (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) display = sg_dbus_property_read_finish (result, &error);
  if (display == NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;

  SgSession *session = user_data;
  session->display_asks--;
  if (display != NULL)
    session_apply_display (session, display);
  else
    /* It only chooses which explanation is shown. */
    g_debug ("Could not read uid %u's Display: %s", session->uid, error->message);
  session_update (session);
}

static void
session_read_display (SgSession *session)
{
  if (session->user_path == NULL)
    return;
  session->display_asks++;
  sg_dbus_property_read (session->bus, session->owner, session->user_path, LOGIN1_USER, "Display",
                         G_VARIANT_TYPE ("(so)"), -1, session->cancellable, on_display_read,
                         session);
}

static void
on_user_properties_changed (GDBusConnection *bus, const char *sender, const char *path,
                            const char *iface, const char *signal, GVariant *params,
                            gpointer user_data)
{
  SgSession *session = user_data;
  g_autoptr (GVariant) changed = NULL;
  g_autoptr (GVariant) display = NULL;

  if (!sg_dbus_properties_changed_parse (params, NULL, &changed, NULL))
    return;
  display = g_variant_lookup_value (changed, "Display", NULL);
  if (display == NULL)
    return;
  session_apply_display (session, display);
  session_update (session);
}

static void
on_get_user (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply
      = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);
  if (reply == NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;

  SgSession *session = user_data;
  session->display_asks--;
  if (reply == NULL)
    {
      /* NoSuchUser: no session and no lingering; asked again with the
       * uid's next session. */
      g_debug ("logind has no User object for uid %u: %s", session->uid, error->message);
      session_update (session);
      return;
    }
  if (session->user_path != NULL)
    {
      session_update (session);
      return;
    }
  g_variant_get (reply, "(o)", &session->user_path);
  /* Subscribed before the read, so that no change falls between. */
  session->user_sub = sg_logind_subscribe (
      session->bus, session->owner, "org.freedesktop.DBus.Properties", "PropertiesChanged",
      session->user_path, LOGIN1_USER, on_user_properties_changed, session);
  session_read_display (session);
}

static void
session_find_user (SgSession *session)
{
  if (session->user_path != NULL)
    return;
  session->display_asks++;
  g_dbus_connection_call (session->bus, session->owner, LOGIN1_PATH, LOGIN1_MANAGER, "GetUser",
                          g_variant_new ("(u)", session->uid), G_VARIANT_TYPE ("(o)"),
                          G_DBUS_CALL_FLAGS_NO_AUTO_START, -1, session->cancellable, on_get_user,
                          session);
}

/* --- sessions coming and going ------------------------------------------ */

static void
on_new_session_uid (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GError) error = NULL;
  const char *path;
  guint32 uid;

  if (!sg_logind_uid_read_finish (result, &path, &uid, &error))
    {
      /* Cancelled (the session may be freed), or gone already: logind's
       * SessionRemoved follows. */
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_debug ("Could not read the user of %s: %s", path, error->message);
      return;
    }
  SgSession *session = user_data;
  if (uid != session->uid)
    return;
  g_message ("uid %u has a new login session (%s)", uid, path);
  session_add_watch (session, path);
  session_find_user (session);
  session_read_display (session);
}

static void
on_session_new (GDBusConnection *bus, const char *sender, const char *path, const char *iface,
                const char *signal, GVariant *params, gpointer user_data)
{
  SgSession *session = user_data;
  const char *object;

  if (!g_variant_is_of_type (params, G_VARIANT_TYPE ("(so)")) || session->mode != SG_SESSION_BY_USER
      || !session->listed)
    return;
  g_variant_get (params, "(&s&o)", NULL, &object);
  if (g_hash_table_contains (session->watches, object))
    return;
  /* Whose it is, before following it: most sessions on a busy machine are
   * other people's. */
  sg_logind_uid_read (session->bus, session->owner, object, -1, session->cancellable,
                      on_new_session_uid, session);
}

static void
on_session_removed (GDBusConnection *bus, const char *sender, const char *path, const char *iface,
                    const char *signal, GVariant *params, gpointer user_data)
{
  SgSession *session = user_data;
  const char *id, *object;

  if (!g_variant_is_of_type (params, G_VARIANT_TYPE ("(so)")))
    return;
  g_variant_get (params, "(&s&o)", &id, &object);
  if (!g_hash_table_contains (session->watches, object))
    return;
  if (session->mode == SG_SESSION_BY_PID)
    {
      session_set (session, SG_SESSION_ENDED, id, NULL, "session removed");
      return;
    }
  g_message ("uid %u's login session %s ended", session->uid, id);
  session_drop_watch (session, object);
  /* logind elects another Display when its session goes. */
  session_read_display (session);
  session_update (session);
}

/* --- finding the session --------------------------------------------------- */

static void
on_list_sessions (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply
      = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);
  if (reply == NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;

  SgSession *session = user_data;
  if (reply == NULL)
    {
      g_dbus_error_strip_remote_error (error);
      g_warning ("Could not list the login sessions: %s", error->message);
      session_set (session, SG_SESSION_UNKNOWN, NULL, NULL, "the login manager does not answer");
      return;
    }

  GVariantIter *iter;
  const char *object;
  guint32 uid;
  g_variant_get (reply, "(a(susso))", &iter);
  while (g_variant_iter_next (iter, "(&su&s&s&o)", NULL, &uid, NULL, NULL, &object))
    if (uid == session->uid)
      session_add_watch (session, object);
  g_variant_iter_free (iter);
  session->listed = TRUE;
  session_find_user (session);
  session_update (session);
}

static void
on_get_session_by_pid (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply
      = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);
  if (reply == NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;

  SgSession *session = user_data;
  if (reply != NULL)
    {
      const char *path;

      g_variant_get (reply, "(&o)", &path);
      if (session->pid_session == NULL)
        g_message ("This process runs in login session %s: following it", path);
      session->mode = SG_SESSION_BY_PID;
      session->resolved = TRUE;
      g_free (session->pid_session);
      session->pid_session = g_strdup (path);
      session_add_watch (session, path);
      return;
    }

  g_autofree char *remote = g_dbus_error_get_remote_error (error);
  g_dbus_error_strip_remote_error (error);
  if (g_strcmp0 (remote, LOGIN1_ERROR "NoSessionForPID") != 0)
    {
      g_warning ("Could not ask logind for this process's login session: %s", error->message);
      session_set (session, SG_SESSION_UNKNOWN, NULL, NULL, "the login manager does not answer");
      return;
    }
  if (session->pid_session != NULL)
    {
      /* logind came back without our session: it ended meanwhile. */
      session_set (session, SG_SESSION_ENDED, session->id, NULL, "session gone");
      return;
    }
  g_message ("This process runs outside any login session (%s), as desktops start autostart "
             "apps: following uid %u's sessions",
             error->message, session->uid);
  session->mode = SG_SESSION_BY_USER;
  session->resolved = TRUE;
  g_dbus_connection_call (session->bus, session->owner, LOGIN1_PATH, LOGIN1_MANAGER, "ListSessions",
                          NULL, G_VARIANT_TYPE ("(a(susso))"), G_DBUS_CALL_FLAGS_NO_AUTO_START, -1,
                          session->cancellable, on_list_sessions, session);
}

/* Forgets everything learnt from logind's previous owner. */
static void
session_reset (SgSession *session)
{
  g_cancellable_cancel (session->cancellable);
  g_object_unref (session->cancellable);
  session->cancellable = g_cancellable_new ();
  sg_logind_files_unwatch_all (session->files);
  g_hash_table_remove_all (session->watches);
  sg_logind_unsubscribe (session->bus, &session->new_sub);
  sg_logind_unsubscribe (session->bus, &session->removed_sub);
  sg_logind_unsubscribe (session->bus, &session->user_sub);
  g_clear_pointer (&session->owner, g_free);
  g_clear_pointer (&session->user_path, g_free);
  g_clear_pointer (&session->display_id, g_free);
  session->resolved = session->listed = FALSE;
  session->display_asks = 0;
}

static void
on_logind_appeared (GDBusConnection *bus, const char *name, const char *owner, gpointer user_data)
{
  SgSession *session = user_data;

  if (session->state == SG_SESSION_ENDED || g_strcmp0 (owner, session->owner) == 0)
    return;
  g_debug ("logind is %s", owner);
  session_reset (session);
  session->owner = g_strdup (owner);
  session->new_sub = sg_logind_subscribe (bus, owner, LOGIN1_MANAGER, "SessionNew", LOGIN1_PATH,
                                          NULL, on_session_new, session);
  session->removed_sub = sg_logind_subscribe (bus, owner, LOGIN1_MANAGER, "SessionRemoved",
                                              LOGIN1_PATH, NULL, on_session_removed, session);
  /* Asked again after a logind restart too: the session may be gone. */
  session->state = SG_SESSION_RESOLVING;
  g_dbus_connection_call (bus, owner, LOGIN1_PATH, LOGIN1_MANAGER, "GetSessionByPID",
                          g_variant_new ("(u)", (guint32) getpid ()), G_VARIANT_TYPE ("(o)"),
                          G_DBUS_CALL_FLAGS_NO_AUTO_START, -1, session->cancellable,
                          on_get_session_by_pid, session);
}

static void
on_logind_vanished (GDBusConnection *bus, const char *name, gpointer user_data)
{
  SgSession *session = user_data;

  if (session->state == SG_SESSION_ENDED)
    return;
  session_reset (session);
  g_message ("logind is not on the system bus");
  session_set (session, SG_SESSION_UNKNOWN, NULL, NULL,
               "the login manager (logind) is not running");
}

SgSession *
sg_session_new (GDBusConnection *system_bus, guint32 uid, SgSessionChangedFunc changed,
                gpointer user_data)
{
  SgSession *session = g_new0 (SgSession, 1);

  session->bus = g_object_ref (system_bus);
  session->uid = uid;
  session->changed = changed;
  session->user_data = user_data;
  session->cancellable = g_cancellable_new ();
  session->watches = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                            (GDestroyNotify) sg_session_watch_free);
  session->state = SG_SESSION_RESOLVING;
  session->seat = g_strdup ("");
  g_autoptr (GError) error = NULL;
  session->files = sg_logind_files_new (on_session_file, session, &error);
  if (session->files == NULL)
    g_warning ("%s", error->message);
  session->watch_id
      = g_bus_watch_name_on_connection (system_bus, LOGIN1_NAME, G_BUS_NAME_WATCHER_FLAGS_NONE,
                                        on_logind_appeared, on_logind_vanished, session, NULL);
  return session;
}

void
sg_session_free (SgSession *session)
{
  if (session == NULL)
    return;
  g_bus_unwatch_name (session->watch_id);
  session_reset (session);
  g_cancellable_cancel (session->cancellable);
  g_object_unref (session->cancellable);
  g_hash_table_unref (session->watches);
  sg_logind_files_free (session->files);
  g_object_unref (session->bus);
  g_free (session->id);
  g_free (session->seat);
  g_free (session->why_not);
  g_free (session->env_mismatch);
  g_free (session->pid_session);
  g_free (session);
}

SgSessionState
sg_session_get_state (const SgSession *session)
{
  return session->state;
}

SgSessionMode
sg_session_get_mode (const SgSession *session)
{
  return session->mode;
}

const char *
sg_session_get_id (const SgSession *session)
{
  return session->id;
}

const char *
sg_session_get_seat (const SgSession *session)
{
  return session->seat;
}

const char *
sg_session_why_not (const SgSession *session)
{
  switch (session->state)
    {
    case SG_SESSION_KNOWN:
    case SG_SESSION_UNKNOWN:
    case SG_SESSION_ENDED:
      return session->why_not;
    case SG_SESSION_RESOLVING:
    default:
      return "looking for the login session";
    }
}

void
sg_session_refresh (SgSession *session)
{
  GHashTableIter iter;
  SgSessionWatch *watch;

  g_hash_table_iter_init (&iter, session->watches);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &watch))
    sg_session_watch_refresh (watch);
}
