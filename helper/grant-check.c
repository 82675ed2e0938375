#include "grant-check.h"

#include "authority.h"
#include "log.h"
#include "sg-error.h"
#include "sg-logind.h"

/* A check's life, in the order a reader can follow it:
 *
 *   start: the bus daemon is asked for the caller's uid.
 *   read_seats: the seats with an active session are listed; each is asked
 *     about (logind's read of its active session and, without interaction,
 *     polkit's check) now if the uid is known or the seats are few (see
 *     SPECULATIVE_SEATS), else when the uid comes.
 *   the uid comes: seats not asked about yet are asked, less those the
 *     monitor already knows to be someone else's; with interaction, polkit
 *     is asked about each seat whose logind answer is in and is the caller's.
 *   a seat's logind answer comes: with interaction and the uid known, polkit
 *     is asked about it if it is the caller's.
 *   every answer is in: decide, then done, exactly once.
 *
 * Nothing is asked twice: the seats are asked about at read_seats when the
 * uid is known or the check speculates, else at the uid's answer, which then
 * comes after read_seats and without speculation; polkit (with interaction)
 * is asked at whichever comes second of the seat's logind answer and the
 * uid's.
 * One count says where the check is: `out`, the answers still out. It goes up
 * when a call is handed to the throttle (or the uid is asked), down when its
 * answer comes; every call handed to the throttle answers exactly once, also
 * one with nothing to send any more, and never from inside the asking, so
 * `out` cannot reach 0 while a step is still asking. The check is done when
 * `out` is 0 and nothing more can be asked: the seats were read, or the check
 * was abandoned, or the uid could not be learnt. `done` is cleared as it is
 * called.
 *
 * Abandoned (the caller left or released) or with no uid: nothing new is
 * asked; a call still waiting for a slot answers "not asked" when its slot
 * comes; the seats' answers that arrive are dropped; the throttle takes each
 * slot back as its answer comes; done runs when the last answer is in. */

/* Before the caller's uid is known, this many seats are cheap to ask about
 * all at once (one logind read and one polkit check each), which saves the
 * uid's round trip on an ordinary lab machine. With more seats, the check
 * waits for the uid and asks only about seats whose active session may be
 * the caller's. */
#define SPECULATIVE_SEATS 4

/* One seat with an active session, as this check sees it: the answers. */
typedef struct
{
  SgGrantCheck *check;
  char *seat;
  SgLogindSession *info; /* logind's answer; NULL when it had none */
  char *logind_why;      /* why the read gave nothing, or why it was not asked */
  gboolean polkit_yes;
  gboolean polkit_failed; /* polkit could not be asked (not a "no") */
  char *polkit_why;
} SeatCheck;

struct _SgGrantCheck
{
  SgGrantCheckEnv env;
  char *sender;
  gboolean interactive;
  SgGrantCheckDone done; /* NULL once called */
  gpointer user_data;

  guint out;   /* answers still out */
  guint32 uid; /* SG_NO_UID until the bus daemon answered */
  GError *uid_error;
  gboolean seats_read; /* sg_grant_check_read_seats () was called */
  GPtrArray *seats;    /* SeatCheck* */
  GPtrArray *why_not;  /* char*: why seats are out, in order */
  GPtrArray *allowed;  /* SgLogindSession* (borrowed from seats), after done */
  GError *refusal;
  const char *abandoned;
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

static gboolean
uid_known (SgGrantCheck *check)
{
  return check->uid != SG_NO_UID;
}

static gboolean
logind_answered (SeatCheck *sc)
{
  return sc->info != NULL || sc->logind_why != NULL;
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
    return g_strdup_printf ("the active session of %s is session %s of uid %u", sc->seat, info->id,
                            info->uid);
  flaw = sg_logind_session_flaw (info->seat, sc->seat, info->remote, info->session_class,
                                 info->active, info->state);
  if (flaw != NULL)
    return g_strdup_printf ("session %s of uid %u: %s (state '%s')", info->id, info->uid, flaw,
                            info->state);
  return NULL;
}

static void maybe_done (SgGrantCheck *check);

/* A call whose slot came when there was nothing to send any more: it still
 * answers, from the main loop, tagged with its start. */
static void
answer_unasked (GAsyncReadyCallback callback, gpointer callback_data, gpointer start,
                const char *why)
{
  g_task_report_new_error (NULL, callback, callback_data, start, SG_ERROR, SG_ERROR_FAILED, "%s",
                           why);
}

static void
ask (SeatCheck *sc, SgCallStart start, GAsyncReadyCallback answered)
{
  sc->check->out++;
  sg_call_throttle_run (sc->check->env.throttle, start, answered, sc);
}

/* ---- polkit, once per seat ---- */

static void
polkit_answered (GObject *source, GAsyncResult *result, gpointer data)
{
  SeatCheck *sc = data;
  SgGrantCheck *check = sc->check;
  g_autoptr (GError) error = NULL;
  gboolean yes = sg_authority_check_finish (result, &error);

  check->out--;
  if (may_call (check))
    {
      sc->polkit_yes = yes;
      if (!yes)
        {
          sc->polkit_failed = !g_error_matches (error, SG_ERROR, SG_ERROR_NOT_AUTHORIZED);
          sc->polkit_why = g_strdup_printf ("on %s: %s", sc->seat, error->message);
        }
    }
  maybe_done (check);
}

/* polkit is asked once per seat, with the seat as a detail, so an admin's
 * rule can allow one seat and not another (action.lookup ("seat")). */
static void
send_polkit_check (gpointer data, GAsyncReadyCallback callback, gpointer callback_data)
{
  SeatCheck *sc = data;
  SgGrantCheck *check = sc->check;

  if (!may_call (check))
    {
      answer_unasked (callback, callback_data, send_polkit_check, "the check was given up");
      return;
    }
  sg_authority_check (check->env.bus, check->sender, sg_authority_action_for_method ("Grant"),
                      sc->seat, check->interactive, check->env.cancellable, callback,
                      callback_data);
}

/* With interaction, polkit could ask someone to authenticate for a seat that
 * is not theirs: it is asked only once the seat is known to be the caller's,
 * which takes both the seat's logind answer and the uid. */
static void
ask_polkit_if_owned (SgGrantCheck *check, SeatCheck *sc)
{
  g_autofree char *flaw = ownership_flaw (check, sc);

  if (flaw == NULL)
    ask (sc, send_polkit_check, polkit_answered);
}

/* ---- logind, the seat's active session ---- */

/* The seat's active session is looked up when the read goes out, which may
 * be a while after the seats were read. */
static void
send_session_read (gpointer data, GAsyncReadyCallback callback, gpointer callback_data)
{
  SeatCheck *sc = data;
  SgGrantCheck *check = sc->check;
  const char *path = sg_seat_monitor_get_active_session_path (check->env.monitor, sc->seat);
  g_autofree char *why = NULL;

  if (!may_call (check))
    why = g_strdup ("the check was given up");
  else if (path == NULL)
    /* The seat changed (or logind left) since the seats were read. */
    why = g_strdup_printf ("%s changed while seatgate was checking", sc->seat);
  if (why != NULL)
    {
      answer_unasked (callback, callback_data, send_session_read, why);
      return;
    }
  sg_seat_monitor_get_session_info (check->env.monitor, path, check->env.cancellable, callback,
                                    callback_data);
}

static void
session_read (GObject *source, GAsyncResult *result, gpointer data)
{
  SeatCheck *sc = data;
  SgGrantCheck *check = sc->check;
  g_autoptr (GError) error = NULL;
  SgLogindSession *info
      = sg_seat_monitor_get_session_info_finish (check->env.monitor, result, &error);

  check->out--;
  if (!may_call (check))
    {
      sg_logind_session_free (info);
      maybe_done (check);
      return;
    }
  sc->info = info;
  if (info == NULL && g_async_result_is_tagged (result, send_session_read))
    sc->logind_why = g_strdup (error->message);
  else if (info == NULL)
    sc->logind_why = g_strdup_printf ("the active session of %s could not be read: %s", sc->seat,
                                      error->message);
  if (check->interactive && uid_known (check))
    ask_polkit_if_owned (check, sc);
  maybe_done (check);
}

/* ---- asking about the seats ---- */

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

static gboolean
speculative (SgGrantCheck *check)
{
  return check->seats->len <= SPECULATIVE_SEATS;
}

/* Once per check: at read_seats if the uid is known or the check is
 * speculative, else when the uid comes. */
static void
ask_about_seats (SgGrantCheck *check)
{
  for (guint i = 0; i < check->seats->len; i++)
    {
      SeatCheck *sc = check->seats->pdata[i];

      if (uid_known (check) && (sc->logind_why = known_to_be_others (check, sc)) != NULL)
        continue;
      /* Without interaction polkit's answer costs nothing if unused. polkit
       * first: its answer is the slowest to come. */
      if (!check->interactive)
        ask (sc, send_polkit_check, polkit_answered);
      ask (sc, send_session_read, session_read);
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

/* The end of every step: done once every answer is in and nothing more can
 * be asked. */
static void
maybe_done (SgGrantCheck *check)
{
  SgGrantCheckDone done;

  if (check->out > 0 || (!check->seats_read && may_call (check)))
    return;
  done = g_steal_pointer (&check->done);
  g_assert (done != NULL);
  if (may_call (check))
    decide (check);
  done (check, check->user_data); /* frees the check */
}

/* ---- the caller's uid ---- */

static void
caller_uid_read (GObject *source, GAsyncResult *result, gpointer data)
{
  SgGrantCheck *check = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply
      = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);

  check->out--;
  if (reply == NULL)
    check->uid_error = g_error_new (SG_ERROR, SG_ERROR_FAILED, "could not tell who is calling: %s",
                                    error->message);
  else
    g_variant_get (reply, "(u)", &check->uid);

  if (check->seats_read && may_call (check))
    {
      if (!speculative (check))
        ask_about_seats (check);
      else if (check->interactive)
        for (guint i = 0; i < check->seats->len; i++)
          {
            SeatCheck *sc = check->seats->pdata[i];
            if (logind_answered (sc))
              ask_polkit_if_owned (check, sc);
          }
    }
  maybe_done (check);
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

  /* The uid comes from the bus daemon, which got it from the kernel. Not
   * through the throttle: one per Grant(), and the check's first answer. */
  check->out++;
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
  if (may_call (check) && (uid_known (check) || speculative (check)))
    ask_about_seats (check);
  maybe_done (check);
}

void
sg_grant_check_abandon (SgGrantCheck *check, const char *why)
{
  if (check->abandoned != NULL)
    return;
  check->abandoned = why;
  /* After done the check only remembers it, for the step that follows (the
   * VMs' tickets). */
  if (check->done != NULL)
    maybe_done (check);
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
  g_return_val_if_fail (check->done == NULL && check->abandoned == NULL, NULL);
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
