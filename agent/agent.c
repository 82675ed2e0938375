#include "agent.h"

#include <glib/gi18n-lib.h>

#include <unistd.h>

#include "clipboard.h"
#include "helper-proxy.h"
#include "menu.h"
#include "notify.h"
#include "session.h"
#include "sg-error.h"
#include "sg-names.h"
#include "status.h"
#include "tray.h"
#include "viewer.h"

typedef enum
{
  GRANT_NONE,    /* not asked since the last change */
  GRANT_PENDING, /* Grant () is on its way */
  GRANT_HELD,
  GRANT_REFUSED, /* refused or revoked: not asked again until something changes */
} GrantState;

struct _SgAgent
{
  GDBusConnection *system_bus;
  GDBusConnection *session_bus;
  SgAgentDoneFunc done;
  gpointer user_data;
  guint32 uid;
  GCancellable *cancellable;
  gulong system_closed_id;
  gulong session_closed_id;
  gboolean finished;

  SgSession *session;
  SgHelperProxy *helper;
  SgMenu *menu;
  SgTray *tray;
  SgNotify *notify;
  SgViewer *viewer;
  char **clipboard;

  GrantState grant;
  guint attempt;          /* tags Grant () calls: a stale answer is dropped */
  gboolean asking;        /* a Grant () is on its way */
  guint grant_generation; /* the helper owner the grant state is about */
  char *grant_session;    /* the logind session the grant state is about */
  char *refusal;
  guint16 port;
  guint stopping_generation; /* the helper owner that said it is stopping */

  SgStatus shown;     /* what the tray and the menu show */
  SgStatus announced; /* the last state the user was told of */
};

static void agent_update (SgAgent *agent);

/* Revocations matter only while a grant is asked for or held. Followed
 * otherwise, they would wake this agent for each grant change of whoever
 * holds its seat: the bus can filter them on the seat, not on the uid. */
static void
agent_follow_revocations (SgAgent *agent)
{
  gboolean wanted = agent->grant == GRANT_PENDING || agent->grant == GRANT_HELD;

  sg_helper_proxy_follow_revocations (agent->helper,
                                      wanted ? sg_session_get_seat (agent->session) : NULL);
}

static void
agent_finish (SgAgent *agent, int status)
{
  if (agent->finished)
    return;
  agent->finished = TRUE;
  g_cancellable_cancel (agent->cancellable);
  agent->done (status, agent->user_data);
}

/* Tells the user of a new state: through the tray if one shows us, else by a
 * notification. Only changes are told; while it is not known whether a tray
 * shows us, the telling waits. */
static void
agent_announce (SgAgent *agent)
{
  SgTrayVisibility visibility = agent->tray ? sg_tray_get_visibility (agent->tray) : SG_TRAY_HIDDEN;

  if (agent->shown.kind == SG_STATUS_STARTING || sg_status_equal (&agent->shown, &agent->announced))
    return;
  if (visibility == SG_TRAY_UNKNOWN)
    return;
  if (visibility == SG_TRAY_HIDDEN && agent->notify != NULL)
    sg_notify_status (agent->notify, &agent->shown);
  sg_status_copy (&agent->announced, &agent->shown);
}

/* @at_seat: a refusal the person at the seat must see (see tray.h). */
static void
agent_show (SgAgent *agent, SgStatusKind kind, guint16 port, const char *reason, gboolean at_seat)
{
  SgStatus status = { 0 };

  sg_status_set (&status, kind, port, reason);
  if (!sg_status_equal (&status, &agent->shown))
    {
      g_autofree char *headline = sg_status_headline (&status);
      g_message ("%s%s%s", headline, reason ? ": " : "", reason ? reason : "");
      sg_status_copy (&agent->shown, &status);
      if (agent->menu != NULL)
        sg_menu_set_status (agent->menu, &status);
    }
  if (agent->tray != NULL)
    sg_tray_set_status (agent->tray, &status, at_seat);
  sg_status_clear (&status);
  agent_announce (agent);
}

/* What the person at the seat is told. polkit's refusal gets a sentence of
 * our own: the helper's message is written for administrators (which
 * session polkit judged, which rule to write), long enough that panels cut
 * it off (Plasma shows 8 lines), and English only; the log keeps it whole. */
static char *
refusal_text (const GError *error)
{
  g_autoptr (GError) copy = g_error_copy (error);

  g_dbus_error_strip_remote_error (copy);
  if (g_error_matches (copy, G_DBUS_ERROR, G_DBUS_ERROR_NO_REPLY)
      || g_error_matches (copy, G_DBUS_ERROR, G_DBUS_ERROR_TIMED_OUT))
    return g_strdup (_ ("the helper did not answer"));
  if (g_error_matches (copy, SG_ERROR, SG_ERROR_NOT_AUTHORIZED))
    return g_strdup (
        _ ("polkit does not allow you the VM console here: ask the lab's administrator"));
  return g_strdup (copy->message);
}

typedef struct
{
  SgAgent *agent;
  guint attempt;
} GrantCall;

static void agent_send_grant (SgAgent *agent);

static void
on_grant_reply (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autofree GrantCall *call = user_data;
  g_autoptr (GError) error = NULL;
  gboolean ok = sg_helper_proxy_grant_finish (call->agent->helper, result, &error);

  if (!ok && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;

  SgAgent *agent = call->agent;
  agent->asking = FALSE;
  if (call->attempt != agent->attempt || agent->grant != GRANT_PENDING)
    {
      g_debug ("Dropping the answer to an earlier Grant ()");
      if (agent->grant == GRANT_PENDING)
        agent_send_grant (agent);
      /* Granted for what we no longer speak for: given back, so that no
       * grant outlives our reason for it. */
      else if (ok && agent->grant != GRANT_HELD)
        sg_helper_proxy_release (agent->helper);
      return;
    }
  if (ok)
    {
      g_message ("Granted");
      agent->grant = GRANT_HELD;
    }
  else
    {
      g_free (agent->refusal);
      agent->refusal = refusal_text (error);
      g_message ("The helper refused the grant: %s", error->message);
      agent->grant = GRANT_REFUSED;
    }
  agent_update (agent);
}

static void
agent_send_grant (SgAgent *agent)
{
  GrantCall *call = g_new0 (GrantCall, 1);

  agent->asking = TRUE;
  call->agent = agent;
  call->attempt = agent->attempt;
  /* Before the call: the bus takes the match rule first, so no revocation
   * of the grant can slip past. */
  agent_follow_revocations (agent);
  sg_helper_proxy_grant (agent->helper, agent->cancellable, on_grant_reply, call);
}

/* One Grant () at a time: on a flapping seat, asks made while one is on its
 * way wait for its answer and are then made once, so the calls cannot pile
 * up until the bus refuses them (LimitsExceeded). */
static void
agent_ask (SgAgent *agent)
{
  agent->grant = GRANT_PENDING;
  agent->attempt++;
  if (!agent->asking)
    agent_send_grant (agent);
}

/* The one place that decides: from what the session and the helper say now,
 * what to show, and whether to ask. */
static void
agent_decide (SgAgent *agent)
{
  SgSessionState state = sg_session_get_state (agent->session);
  const char *seat = sg_session_get_seat (agent->session);
  const char *why_not = sg_session_why_not (agent->session);
  guint16 port = 0;
  g_autofree char *reason = NULL;

  if (agent->finished)
    return;
  if (state == SG_SESSION_ENDED)
    {
      agent_finish (agent, 0);
      return;
    }
  if (!sg_helper_proxy_is_ready (agent->helper) || state == SG_SESSION_RESOLVING)
    return;

  /* A grant is about one helper: a new one knows nothing of it. */
  if (agent->grant_generation != sg_helper_proxy_get_generation (agent->helper))
    {
      agent->grant_generation = sg_helper_proxy_get_generation (agent->helper);
      agent->grant = GRANT_NONE;
    }

  /* And about one session. Following the user, ours may end or close while
   * another goes on: the grant is given up at once rather than left to the
   * helper, which sees no signal for a closing session. */
  const char *id = sg_session_get_id (agent->session);
  if (g_strcmp0 (id, agent->grant_session) != 0)
    {
      /* (Not when logind is gone: the helper then ends every grant itself.) */
      if (sg_session_get_mode (agent->session) == SG_SESSION_BY_USER && state == SG_SESSION_KNOWN
          && (agent->grant == GRANT_HELD || agent->grant == GRANT_PENDING))
        {
          g_message ("Giving the grant up: session %s is no longer ours to speak for",
                     agent->grant_session);
          sg_helper_proxy_release (agent->helper);
        }
      agent->grant = GRANT_NONE;
      g_free (agent->grant_session);
      agent->grant_session = g_strdup (id);
    }

  /* A helper that said it is stopping is as good as gone: showing "not
   * yours" in between would be one more change for nothing. */
  if (!sg_helper_proxy_is_present (agent->helper)
      || agent->stopping_generation == sg_helper_proxy_get_generation (agent->helper))
    {
      agent_show (agent, SG_STATUS_UNAVAILABLE, 0, _ ("the seatgate helper is not running"), TRUE);
      return;
    }
  if (why_not != NULL)
    {
      /* The helper ends a grant when the session stops qualifying; when it
       * qualifies again, it is asked again. */
      agent->grant = GRANT_NONE;
      /* A session logind judged (in the background, remote, on no seat)
       * is one nobody at the seat looks at; logind not answering is a
       * failure the person at the seat must see. */
      agent_show (agent, SG_STATUS_NOT_GRANTED, 0, why_not, state != SG_SESSION_KNOWN);
      return;
    }
  switch (sg_helper_proxy_lookup_seat (agent->helper, seat, &port))
    {
    case SG_HELPER_SEAT_NOT_GATED:
      agent->grant = GRANT_NONE;
      reason = g_strdup_printf (_ ("no VM port is gated on %s"), seat);
      agent_show (agent, SG_STATUS_NOT_GRANTED, 0, reason, TRUE);
      return;
    case SG_HELPER_SEAT_GATED:
      agent->port = port;
      break;
    case SG_HELPER_SEAT_UNKNOWN:
    default:
      /* The helper is there but its Seats could not be read (its log
       * says why): without knowing our port, "yours" cannot be shown, so
       * nothing is asked until its next owner. */
      agent->grant = GRANT_NONE;
      agent_show (agent, SG_STATUS_UNAVAILABLE, 0,
                  _ ("the seatgate helper did not say which seats it gates"), TRUE);
      return;
    }

  switch (agent->grant)
    {
    case GRANT_NONE:
      agent_ask (agent);
      break;
    case GRANT_PENDING:
      break;
    case GRANT_HELD:
      agent_show (agent, SG_STATUS_GRANTED, agent->port, NULL, TRUE);
      break;
    case GRANT_REFUSED:
    default:
      agent_show (agent, SG_STATUS_NOT_GRANTED, 0, agent->refusal, TRUE);
      break;
    }
}

static void
agent_update (SgAgent *agent)
{
  agent_decide (agent);
  if (!agent->finished)
    agent_follow_revocations (agent);
}

static void
on_session_changed (SgSession *session, gpointer user_data)
{
  agent_update (user_data);
}

static void
on_helper_changed (SgHelperProxy *helper, gpointer user_data)
{
  /* Always a new owner (the helper's Seats never changes while it runs):
   * agent_update forgets what the one before granted or refused. */
  agent_update (user_data);
}

static const char *
revoke_reason_text (const char *reason)
{
  if (g_str_equal (reason, SG_REVOKE_ADMIN))
    return _ ("an administrator ended the grant");
  if (g_str_equal (reason, SG_REVOKE_RELEASED))
    return _ ("the grant was given up");
  if (g_str_equal (reason, SG_REVOKE_SESSION_CHANGED))
    return _ ("the seat's active session changed");
  if (g_str_equal (reason, SG_REVOKE_SESSION_REMOVED))
    return _ ("the session ended");
  if (g_str_equal (reason, SG_REVOKE_DISCONNECTED))
    return _ ("the program that held the grant left the system bus");
  return _ ("the helper ended the grant");
}

static void
on_helper_revoked (SgHelperProxy *helper, const char *seat, const char *reason, gpointer user_data)
{
  SgAgent *agent = user_data;

  if (g_str_equal (reason, SG_REVOKE_SHUTDOWN))
    {
      agent->stopping_generation = sg_helper_proxy_get_generation (helper);
      agent->grant = GRANT_NONE;
      agent_update (agent);
      return;
    }
  /* A revocation crossing a Grant () on its way is about the grant before. */
  if (agent->grant != GRANT_HELD || g_strcmp0 (seat, sg_session_get_seat (agent->session)) != 0)
    return;
  /* The helper may have seen our session close (logind sends no signal
   * for that): read it again. */
  sg_session_refresh (agent->session);
  agent->grant = GRANT_REFUSED;
  g_free (agent->refusal);
  agent->refusal = g_strdup (revoke_reason_text (reason));
  agent_update (agent);
}

static void
on_viewer_failed (const char *summary, const char *body, gpointer user_data)
{
  SgAgent *agent = user_data;

  if (agent->notify != NULL)
    sg_notify_problem (agent->notify, summary, body);
}

typedef struct
{
  SgAgent *agent;
  guint attempt; /* the grant it was asked under */
} ConsoleCall;

static void
on_open_console_reply (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autofree ConsoleCall *call = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (SgConsole) console
      = sg_helper_proxy_open_console_finish (call->agent->helper, result, &error);

  if (console == NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;

  SgAgent *agent = call->agent;
  if (console == NULL)
    {
      g_autofree char *why = refusal_text (error);

      g_message ("The helper did not open the VM console: %s", error->message);
      if (agent->notify != NULL)
        sg_notify_problem (agent->notify, _ ("The VM console could not be opened"), why);
      /* The helper knows best whether we hold the grant: when it says we
       * do not (a revocation we missed), "yours" is not shown any longer. */
      if (g_error_matches (error, SG_ERROR, SG_ERROR_NOT_SEAT_OWNER)
          && call->attempt == agent->attempt && agent->grant == GRANT_HELD)
        {
          agent->grant = GRANT_REFUSED;
          g_free (agent->refusal);
          agent->refusal = g_steal_pointer (&why);
          agent_update (agent);
        }
      return;
    }
  sg_viewer_launch (agent->viewer, console, agent->cancellable, on_viewer_failed, agent);
}

/* The viewer is given what the helper answers, not what the agent would
 * guess: the helper knows the seat's port and holds the VM's ticket. */
static void
agent_open_console (SgAgent *agent)
{
  ConsoleCall *call;

  if (agent->shown.kind != SG_STATUS_GRANTED)
    {
      g_message ("Not opening the VM console: %s",
                 agent->shown.reason ? agent->shown.reason : "it is not yours");
      return;
    }
  call = g_new0 (ConsoleCall, 1);
  call->agent = agent;
  call->attempt = agent->attempt;
  sg_helper_proxy_open_console (agent->helper, agent->cancellable, on_open_console_reply, call);
}

static void
agent_copy_address (SgAgent *agent)
{
  g_autofree char *uri = sg_status_uri (&agent->shown);
  g_autoptr (GError) error = NULL;

  if (uri == NULL || agent->clipboard == NULL)
    return;
  if (!sg_clipboard_copy ((const char *const *) agent->clipboard, uri, &error))
    {
      g_warning ("Could not copy the address: %s", error->message);
      if (agent->notify != NULL)
        sg_notify_problem (agent->notify, _ ("The address could not be copied"), error->message);
    }
}

static void
on_menu_activate (SgMenuItem item, gpointer user_data)
{
  SgAgent *agent = user_data;

  if (item == SG_MENU_ITEM_OPEN)
    agent_open_console (agent);
  else if (item == SG_MENU_ITEM_COPY)
    agent_copy_address (agent);
}

static void
on_tray_activate (SgTray *tray, gpointer user_data)
{
  agent_open_console (user_data);
}

static void
on_tray_visibility (SgTray *tray, gpointer user_data)
{
  agent_announce (user_data);
}

static void
on_notification_open (gpointer user_data)
{
  agent_open_console (user_data);
}

static void
on_bus_closed (GDBusConnection *bus, gboolean remote_peer_vanished, GError *error,
               gpointer user_data)
{
  SgAgent *agent = user_data;
  gboolean system = bus == agent->system_bus;

  /* The session bus goes when the desktop session does. */
  g_message ("The %s bus connection closed%s%s", system ? "system" : "session", error ? ": " : "",
             error ? error->message : "");
  agent_finish (agent, system ? 1 : 0);
}

static const SgHelperProxyCallbacks helper_callbacks = { on_helper_changed, on_helper_revoked };
static const SgTrayCallbacks tray_callbacks = { on_tray_activate, on_tray_visibility };

SgAgent *
sg_agent_new (GDBusConnection *system_bus, GDBusConnection *session_bus, gboolean use_tray,
              SgAgentDoneFunc done, gpointer user_data)
{
  SgAgent *agent = g_new0 (SgAgent, 1);

  agent->system_bus = g_object_ref (system_bus);
  agent->session_bus = session_bus ? g_object_ref (session_bus) : NULL;
  agent->done = done;
  agent->user_data = user_data;
  agent->uid = (guint32) getuid ();
  agent->cancellable = g_cancellable_new ();
  agent->viewer = sg_viewer_new ();
  agent->system_closed_id
      = g_signal_connect (system_bus, "closed", G_CALLBACK (on_bus_closed), agent);

  if (session_bus != NULL)
    {
      g_autoptr (GError) error = NULL;

      agent->session_closed_id
          = g_signal_connect (session_bus, "closed", G_CALLBACK (on_bus_closed), agent);
      agent->notify = sg_notify_new (session_bus, on_notification_open, agent);
      if (use_tray)
        {
          agent->clipboard = sg_clipboard_find_command ();
          agent->menu = sg_menu_new (session_bus, agent->clipboard != NULL, on_menu_activate, agent,
                                     &error);
          if (agent->menu != NULL)
            agent->tray = sg_tray_new (session_bus, SG_MENU_PATH, &tray_callbacks, agent, &error);
          if (agent->tray == NULL)
            {
              g_warning ("No tray icon: %s", error->message);
              g_clear_pointer (&agent->menu, sg_menu_free);
            }
        }
    }

  agent->helper = sg_helper_proxy_new (system_bus, agent->uid, &helper_callbacks, agent);
  agent->session = sg_session_new (system_bus, agent->uid, on_session_changed, agent);
  return agent;
}

void
sg_agent_free (SgAgent *agent)
{
  if (agent == NULL)
    return;
  g_cancellable_cancel (agent->cancellable);
  g_clear_pointer (&agent->session, sg_session_free);
  g_clear_pointer (&agent->helper, sg_helper_proxy_free);
  g_clear_pointer (&agent->tray, sg_tray_free);
  g_clear_pointer (&agent->menu, sg_menu_free);
  g_clear_pointer (&agent->notify, sg_notify_free);
  g_clear_pointer (&agent->viewer, sg_viewer_free);
  g_clear_pointer (&agent->clipboard, g_strfreev);
  g_clear_signal_handler (&agent->system_closed_id, agent->system_bus);
  if (agent->session_bus != NULL)
    g_clear_signal_handler (&agent->session_closed_id, agent->session_bus);
  g_clear_object (&agent->system_bus);
  g_clear_object (&agent->session_bus);
  g_clear_object (&agent->cancellable);
  g_free (agent->refusal);
  g_free (agent->grant_session);
  sg_status_clear (&agent->shown);
  sg_status_clear (&agent->announced);
  g_free (agent);
}
