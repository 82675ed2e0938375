#include "grant-check.h"

#include "authority.h"
#include "log.h"
#include "sg-error.h"
#include "sg-logind.h"

/* Before the caller's uid is known, this many seats are cheap to ask about
 * all at once (one logind read and one polkit check each), which saves the
 * uid's round trip on an ordinary lab machine. With more seats, the check
 * waits for the uid and asks only about seats whose active session may be
 * the caller's. */
#define SPECULATIVE_SEATS 4

typedef enum
{
  ASK_NOT_YET,
  ASK_ON_ITS_WAY, /* waiting for a throttle slot, or sent */
  ASK_ANSWERED,
  ASK_SKIPPED,    /* not asked: the seat is someone else's, or the check was abandoned */
} AskState;

/* One seat with an active session, as this check sees it. */
typedef struct
{
  SgGrantCheck *check;
  char *seat;
  AskState logind;
  SgLogindSession *info; /* logind's answer; NULL when it had none */
  char *logind_why;      /* why the read gave nothing */
  AskState polkit;
  gboolean polkit_yes;
  gboolean polkit_failed; /* polkit could not be asked (not a "no") */
  char *polkit_why;
} SeatCheck;

struct _SgGrantCheck
{
  SgGrantCheckEnv env;
  char *sender;
  gboolean interactive;
  SgGrantCheckDone done;
  gpointer user_data;

  guint32 uid;
  gboolean uid_asking;
  GError *uid_error;
  gboolean seats_read;      /* sg_grant_check_read_seats () was called */
  GPtrArray *seats;         /* SeatCheck* */
  GPtrArray *why_not;       /* char*: why seats are out, in order */
  GPtrArray *allowed;       /* SgLogindSession* (borrowed from seats), after done */
  GError *refusal;
  const char *abandoned;
  gboolean advancing, advance_again, finished;
};

static void
seat_check_free (SeatCheck *sc)
{
  g_free (sc->seat);
  sg_logind_session_free (sc->info);
  g_free (sc->logind_why);
  g_free (sc->polkit_why);
  g_free (sc);
}

void
sg_grant_check_free (SgGrantCheck *check)
{
  if (check == NULL)
    return;
  g_free (check->sender);
  g_clear_error (&check->uid_error);
  g_ptr_array_unref (check->seats);
  g_ptr_array_unref (check->why_not);
  g_clear_pointer (&check->allowed, g_ptr_array_unref);
  g_clear_error (&check->refusal);
  g_free (check);
}

static gboolean
may_call (SgGrantCheck *check)
{
  return check->abandoned == NULL && check->uid_error == NULL;
}

/* Why @sc's seat is not the caller's, or NULL if it is: the session logind
 * named is of the caller's uid, local, active, of class user, on that seat. */
static char *
ownership_flaw (SgGrantCheck *check, SeatCheck *sc)
{
  SgLogindSession *info = sc->info;
  g_autofree char *flaw = NULL;

  if (info == NULL)
    return g_strdup (sc->logind_why);
  if (info->uid != check->uid)
    return g_strdup_printf ("the active session of %s is session %s of uid %u", sc->seat,
                            info->id, info->uid);
  flaw = sg_logind_session_flaw (info->seat, sc->seat, info->remote, info->session_class,
                                 info->active, info->state);
  if (flaw != NULL)
    return g_strdup_printf ("session %s of uid %u: %s (state '%s')", info->id, info->uid, flaw,
                            info->state);
  return NULL;
}

static void advance (SgGrantCheck *check);

/* ---- polkit, once per seat ---- */

static void
polkit_answered (GObject *source, GAsyncResult *result, gpointer data)
{
  SeatCheck *sc = data;
  SgGrantCheck *check = sc->check;
  g_autoptr (GError) error = NULL;

  sg_call_throttle_done (check->env.throttle);
  sc->polkit = ASK_ANSWERED;
  sc->polkit_yes = sg_authority_check_finish (result, &error);
  if (!sc->polkit_yes)
    {
      sc->polkit_failed = !g_error_matches (error, SG_ERROR, SG_ERROR_NOT_AUTHORIZED);
      sc->polkit_why = g_strdup_printf ("on %s: %s", sc->seat, error->message);
    }
  advance (check);
}

/* polkit is asked once per seat, with the seat as a detail, so an admin's
 * rule can allow one seat and not another (action.lookup ("seat")). */
static void
ask_polkit (gpointer data)
{
  SeatCheck *sc = data;
  SgGrantCheck *check = sc->check;

  if (!may_call (check))
    {
      sg_call_throttle_done (check->env.throttle);
      sc->polkit = ASK_SKIPPED;
      advance (check);
      return;
    }
  sg_authority_check (check->env.bus, check->sender, SG_ACTION_GRANT, sc->seat,
                      check->interactive, check->env.cancellable, polkit_answered, sc);
}

/* ---- logind, the seat's active session ---- */

static void
session_read (GObject *source, GAsyncResult *result, gpointer data)
{
  SeatCheck *sc = data;
  SgGrantCheck *check = sc->check;
  g_autoptr (GError) error = NULL;

  sg_call_throttle_done (check->env.throttle);
  sc->logind = ASK_ANSWERED;
  sc->info = sg_seat_monitor_get_session_info_finish (check->env.monitor, result, &error);
  if (sc->info == NULL)
    sc->logind_why = g_strdup_printf ("the active session of %s could not be read: %s", sc->seat,
                                      error->message);
  advance (check);
}

/* The seat's active session is looked up when the read goes out, which may
 * be a while after the seats were read. */
static void
read_session (gpointer data)
{
  SeatCheck *sc = data;
  SgGrantCheck *check = sc->check;
  const char *path = sg_seat_monitor_get_active_session_path (check->env.monitor, sc->seat);

  if (path != NULL && may_call (check))
    {
      sg_seat_monitor_get_session_info (check->env.monitor, path, check->env.cancellable,
                                        session_read, sc);
      return;
    }
  sg_call_throttle_done (check->env.throttle);
  sc->logind = ASK_ANSWERED;
  /* The seat changed (or logind left) since the seats were read. */
  sc->logind_why = g_strdup_printf ("%s changed while seatgate was checking", sc->seat);
  advance (check);
}

/* ---- deciding what to ask next ---- */

static void
ask_logind_and_maybe_polkit (SgGrantCheck *check, SeatCheck *sc)
{
  /* Without interaction polkit's answer costs nothing if unused; with it,
   * polkit could ask someone to authenticate for a seat that is not theirs.
   * polkit first: its answer is the slowest to come. */
  if (!check->interactive)
    {
      sc->polkit = ASK_ON_ITS_WAY;
      sg_call_throttle_run (check->env.throttle, ask_polkit, sc);
    }
  sc->logind = ASK_ON_ITS_WAY;
  sg_call_throttle_run (check->env.throttle, read_session, sc);
}

/* The seat's active session, as last known, is someone else's: why, or
 * NULL. */
static char *
known_to_be_others (SgGrantCheck *check, SeatCheck *sc)
{
  SgSeatMonitor *monitor = check->env.monitor;
  const char *path = sg_seat_monitor_get_active_session_path (monitor, sc->seat);
  guint32 owner;

  if (path == NULL || !sg_seat_monitor_lookup_session_uid (monitor, path, &owner)
      || owner == check->uid)
    return NULL;
  return g_strdup_printf ("the active session of %s is session %s of uid %u", sc->seat,
                          sg_seat_monitor_get_active_session (monitor, sc->seat), owner);
}

static void
advance_once (SgGrantCheck *check)
{
  gboolean uid_known = check->uid != SG_NO_UID;

  if (!check->seats_read || !may_call (check))
    return;
  for (guint i = 0; i < check->seats->len; i++)
    {
      SeatCheck *sc = check->seats->pdata[i];

      if (sc->logind == ASK_NOT_YET)
        {
          if (uid_known && (sc->logind_why = known_to_be_others (check, sc)) != NULL)
            sc->logind = sc->polkit = ASK_SKIPPED;
          else if (uid_known || check->seats->len <= SPECULATIVE_SEATS)
            ask_logind_and_maybe_polkit (check, sc);
        }
      else if (sc->polkit == ASK_NOT_YET && sc->logind == ASK_ANSWERED && uid_known)
        {
          g_autofree char *flaw = ownership_flaw (check, sc);
          if (flaw != NULL)
            sc->polkit = ASK_SKIPPED;
          else
            {
              sc->polkit = ASK_ON_ITS_WAY;
              sg_call_throttle_run (check->env.throttle, ask_polkit, sc);
            }
        }
    }
}

static char *
join_reasons (GPtrArray *reasons)
{
  g_autoptr (GString) out = g_string_new (NULL);

  for (guint i = 0; i < reasons->len; i++)
    g_string_append_printf (out, "%s%s", i > 0 ? "; " : "", (const char *) reasons->pdata[i]);
  return g_string_free (g_steal_pointer (&out), FALSE);
}

/* Every answer is in: which seats pass both logind's and polkit's checks. */
static void
decide (SgGrantCheck *check)
{
  /* Runs once: the seats' reasons join those found when they were read. */
  GPtrArray *logind_why = check->why_not;
  g_autoptr (GPtrArray) polkit_why = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) allowed = g_ptr_array_new ();
  guint n_owned = 0;
  gboolean polkit_failed = FALSE;

  for (guint i = 0; i < check->seats->len; i++)
    {
      SeatCheck *sc = check->seats->pdata[i];
      char *flaw = ownership_flaw (check, sc);

      if (flaw != NULL)
        {
          g_ptr_array_add (logind_why, flaw);
          continue;
        }
      n_owned++;
      if (sc->polkit_yes)
        g_ptr_array_add (allowed, sc->info);
      else
        {
          polkit_failed |= sc->polkit_failed;
          g_ptr_array_add (polkit_why, g_strdup (sc->polkit_why));
        }
    }

  if (n_owned == 0)
    {
      g_autofree char *why = join_reasons (logind_why);
      check->refusal = g_error_new (SG_ERROR, SG_ERROR_NOT_SEAT_OWNER,
                                    "uid %u does not own the active local session of any seat "
                                    "seatgate gates: %s",
                                    check->uid, why);
    }
  else if (allowed->len == 0)
    {
      g_autofree char *why = join_reasons (polkit_why);
      /* Said in full, because polkit's "no" to the person who owns the seat
       * is most often not a rule at all: polkitd judges a caller by the login
       * session its process runs in and, outside one, by its user's display
       * session (polkitbackendsessionmonitor-systemd.c
       * get_session_for_subject), which may be another session of the user's
       * where allow_active does not apply. */
      if (polkit_failed)
        check->refusal = g_error_new (SG_ERROR, SG_ERROR_NOT_AUTHORIZED,
                                      "uid %u was not granted: %s", check->uid, why);
      else
        check->refusal = g_error_new (
            SG_ERROR, SG_ERROR_NOT_AUTHORIZED,
            "uid %u owns the active local session of the seat, but polkit does not allow "
            "io.github.seatgate.grant for this caller (%s). polkit judges a caller by the login "
            "session its process runs in, or, outside one (a user service, as GNOME starts "
            "autostart programs, or a cron job), by the user's display session, which can be "
            "another session of the user's, such as an xrdp one, where the default policy does "
            "not allow it. Start the request from inside the desktop session, or ask the lab's "
            "administrator for a polkit rule (seatgate-helper(8), POLKIT)",
            check->uid, why);
    }
  else
    check->allowed = g_steal_pointer (&allowed);
}

static gboolean
everything_back (SgGrantCheck *check)
{
  if (check->uid_asking)
    return FALSE;
  for (guint i = 0; i < check->seats->len; i++)
    {
      SeatCheck *sc = check->seats->pdata[i];
      if (sc->logind == ASK_ON_ITS_WAY || sc->polkit == ASK_ON_ITS_WAY)
        return FALSE;
    }
  if (!may_call (check))
    return TRUE;
  if (!check->seats_read)
    return FALSE;
  /* advance_once () asked all it could: what is still not asked waits for
   * nothing more. */
  for (guint i = 0; i < check->seats->len; i++)
    {
      SeatCheck *sc = check->seats->pdata[i];
      if (sc->logind == ASK_NOT_YET || (sc->polkit == ASK_NOT_YET && !check->interactive))
        return FALSE;
    }
  return TRUE;
}

/* Asks what can be asked now, and ends the check when all is back. Calls that
 * end at once (a throttle slot freed, nothing to send) come back in here:
 * they only mark that another pass is needed. */
static void
advance (SgGrantCheck *check)
{
  if (check->advancing)
    {
      check->advance_again = TRUE;
      return;
    }
  check->advancing = TRUE;
  do
    {
      check->advance_again = FALSE;
      advance_once (check);
    }
  while (check->advance_again);
  check->advancing = FALSE;

  if (check->finished || !everything_back (check))
    return;
  check->finished = TRUE;
  if (may_call (check))
    decide (check);
  check->done (check, check->user_data); /* frees the check */
}

/* ---- the caller's uid ---- */

static void
caller_uid_read (GObject *source, GAsyncResult *result, gpointer data)
{
  SgGrantCheck *check = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result,
                                                              &error);

  check->uid_asking = FALSE;
  if (reply == NULL)
    check->uid_error = g_error_new (SG_ERROR, SG_ERROR_FAILED, "could not tell who is calling: %s",
                                    error->message);
  else
    g_variant_get (reply, "(u)", &check->uid);
  advance (check);
}

SgGrantCheck *
sg_grant_check_start (const SgGrantCheckEnv *env, const char *sender, gboolean interactive,
                      SgGrantCheckDone done, gpointer user_data)
{
  SgGrantCheck *check = g_new0 (SgGrantCheck, 1);

  check->env = *env;
  check->sender = g_strdup (sender);
  check->interactive = interactive;
  check->done = done;
  check->user_data = user_data;
  check->uid = SG_NO_UID;
  check->seats = g_ptr_array_new_with_free_func ((GDestroyNotify) seat_check_free);
  check->why_not = g_ptr_array_new_with_free_func (g_free);

  /* The uid comes from the bus daemon, which got it from the kernel. */
  check->uid_asking = TRUE;
  g_dbus_connection_call (env->bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                          "org.freedesktop.DBus", "GetConnectionUnixUser",
                          g_variant_new ("(s)", sender), G_VARIANT_TYPE ("(u)"),
                          G_DBUS_CALL_FLAGS_NONE, -1, env->cancellable, caller_uid_read, check);
  return check;
}

void
sg_grant_check_read_seats (SgGrantCheck *check)
{
  g_return_if_fail (!check->seats_read);
  check->seats_read = TRUE;
  for (guint i = 0; i < check->env.config->seats->len; i++)
    {
      const SgSeatConfig *seat = g_ptr_array_index (check->env.config->seats, i);
      const char *active = sg_seat_monitor_get_active_session (check->env.monitor, seat->name);

      if (active == NULL)
        g_ptr_array_add (check->why_not,
                         g_strdup_printf ("logind's view of %s is not known (is systemd-logind "
                                          "running?)",
                                          seat->name));
      else if (*active == '\0')
        g_ptr_array_add (check->why_not, g_strdup_printf ("%s has no active session", seat->name));
      else
        {
          SeatCheck *sc = g_new0 (SeatCheck, 1);
          sc->check = check;
          sc->seat = g_strdup (seat->name);
          g_ptr_array_add (check->seats, sc);
        }
    }
  advance (check);
}

void
sg_grant_check_abandon (SgGrantCheck *check, const char *why)
{
  if (check->abandoned != NULL)
    return;
  check->abandoned = why;
  advance (check);
}

const char *
sg_grant_check_get_sender (SgGrantCheck *check)
{
  return check->sender;
}

guint32
sg_grant_check_get_uid (SgGrantCheck *check)
{
  return check->uid;
}

const char *
sg_grant_check_get_abandoned (SgGrantCheck *check)
{
  return check->abandoned;
}

GPtrArray *
sg_grant_check_get_allowed (SgGrantCheck *check, GError **error)
{
  g_return_val_if_fail (check->finished && check->abandoned == NULL, NULL);
  if (check->uid_error != NULL)
    {
      g_propagate_error (error, g_error_copy (check->uid_error));
      return NULL;
    }
  if (check->refusal != NULL)
    {
      g_propagate_error (error, g_error_copy (check->refusal));
      return NULL;
    }
  return check->allowed;
}
