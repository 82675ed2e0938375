#include "gate-service.h"

#include "authority.h"
#include "grant-registry.h"
#include "log.h"
#include "seat-monitor.h"
#include "sg-build-config.h"
#include "sg-error.h"
#include "sg-gate1-generated.h"
#include "sg-logind.h"
#include "sg-ports.h"
#include "sock-destroy.h"

struct _SgGateService
{
  GDBusConnection *bus;
  const SgConfig *config;
  SgNftGate *gate;
  SgGate1 *skeleton;
  SgSeatMonitor *monitor;
  SgGrantRegistry *registry;
  GPtrArray *requests;      /* GrantRequest* under way */
  GPtrArray *parked;        /* GrantRequest* waiting for logind's view to settle */
  GArray *cuts;             /* CutPair: connections that could not be destroyed,
                               rejected by the table until the uid is granted again */
  guint name_owner_subscription;
  SgGateReadyFunc ready;
  gpointer ready_data;
  GCancellable *cancellable;
  guint calls_in_flight;    /* logind reads and polkit checks on their way */
  GQueue calls_waiting;     /* WaitingCall*, in order */
};

/* One Grant() call on its way through logind and polkit. */
typedef struct
{
  SgGateService *service;
  GDBusMethodInvocation *invocation;
  char *sender;
  guint32 uid;
  GPtrArray *seats;         /* seat names whose active session is read */
  GPtrArray *sessions;      /* SgSessionInfo*, one per seat in seats */
  GPtrArray *owned;         /* the SgSessionInfo* that pass logind's checks */
  GPtrArray *allowed;       /* ... and polkit's, seat by seat */
  guint n_authorized;       /* how many of owned polkit has answered for */
  gboolean polkit_failed;   /* polkit could not be asked (not a "no") */
  GPtrArray *why_not;       /* char*: what each seat said, for the refusal */
  const char *gone;         /* why the request ended early: the caller left
                               the bus or released meanwhile; NULL if not */
} GrantRequest;

static void
grant_request_free (GrantRequest *req)
{
  g_ptr_array_remove (req->service->requests, req);
  g_object_unref (req->invocation);
  g_free (req->sender);
  g_ptr_array_unref (req->seats);
  g_ptr_array_unref (req->sessions);
  g_ptr_array_unref (req->owned);
  g_ptr_array_unref (req->allowed);
  g_ptr_array_unref (req->why_not);
  g_free (req);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GrantRequest, grant_request_free)

static const SgSeatConfig *
seat_config (SgGateService *service, const char *seat)
{
  const SgSeatConfig *config = sg_config_find_seat (service->config, seat);
  g_assert (config != NULL);
  return config;
}

typedef struct
{
  guint32 uid;
  const SgSeatConfig *seat;
} CutPair;

#define SEAT_PORTS(s) ((const guint16 *) (void *) (s)->ports->data), (s)->ports->len

static GVariant *
ports_variant (const SgSeatConfig *seat)
{
  return g_variant_new_fixed_array (G_VARIANT_TYPE_UINT16, seat->ports->data, seat->ports->len,
                                    sizeof (guint16));
}

static void
publish_grants (SgGateService *service)
{
  g_autoptr (GPtrArray) seats = sg_grant_registry_seats (service->registry);
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(suaq)"));
  for (guint i = 0; i < seats->len; i++)
    {
      SgGrant *grant = sg_grant_registry_lookup (service->registry, seats->pdata[i]);
      g_variant_builder_add (&builder, "(su@aq)", grant->seat, grant->uid,
                             ports_variant (seat_config (service, grant->seat)));
    }
  sg_gate1_set_grants (service->skeleton, g_variant_builder_end (&builder));
  /* Each change gets its own PropertiesChanged, not one coalesced later. */
  g_dbus_interface_skeleton_flush (G_DBUS_INTERFACE_SKELETON (service->skeleton));
}

typedef struct
{
  guint32 uid;
  const GArray *always;
} RevokedUid;

static gboolean
is_always_allowed (const GArray *always, guint32 uid)
{
  for (guint i = 0; i < always->len; i++)
    if (g_array_index (always, guint32, i) == uid)
      return TRUE;
  return FALSE;
}

/* The revoked uid's connections, unless it may always connect anyway. */
static gboolean
match_revoked_uid (guint32 uid, guint16 port, gpointer data)
{
  const RevokedUid *revoked = data;
  return uid == revoked->uid && !is_always_allowed (revoked->always, uid);
}

/* Rebuilds the table from the registry: the last resort when an element could
 * not be removed. */
static gboolean
rebuild_table (SgGateService *service, GError **error)
{
  g_autoptr (GArray) ports = sg_config_all_ports (service->config);
  g_autoptr (GPtrArray) seats = sg_grant_registry_seats (service->registry);
  GArray *always = service->config->always_allow;

  if (!sg_nft_gate_reset (service->gate, (const guint16 *) (void *) ports->data, ports->len,
                          (const guint32 *) (void *) always->data, always->len, error))
    return FALSE;
  for (guint i = 0; i < seats->len; i++)
    {
      SgGrant *grant = sg_grant_registry_lookup (service->registry, seats->pdata[i]);
      if (!sg_nft_gate_grant (service->gate, grant->uid, SEAT_PORTS (seat_config (service, grant->seat)),
                              error))
        return FALSE;
    }
  /* A fresh table has an empty cut set: without this, connections that
   * could not be destroyed would come back to life. */
  for (guint i = 0; i < service->cuts->len; i++)
    {
      CutPair *cut = &g_array_index (service->cuts, CutPair, i);
      if (!sg_nft_gate_cut (service->gate, cut->uid, SEAT_PORTS (cut->seat), error))
        return FALSE;
    }
  return TRUE;
}

static void
forget_cut (SgGateService *service, guint32 uid, const SgSeatConfig *seat)
{
  for (guint i = 0; i < service->cuts->len; i++)
    {
      CutPair *cut = &g_array_index (service->cuts, CutPair, i);
      if (cut->uid == uid && cut->seat == seat)
        {
          g_array_remove_index_fast (service->cuts, i);
          return;
        }
    }
}

/* Ends @seat's grant: the kernel element first (no new connection), then the
 * established connections, then the bus hears of it. */
static void
revoke_seat (SgGateService *service, const char *seat_name, const char *reason)
{
  g_autoptr (SgGrant) grant = sg_grant_registry_take (service->registry, seat_name);
  g_autoptr (GError) error = NULL;
  guint n_destroyed = 0;

  if (grant == NULL)
    return;
  const SgSeatConfig *seat = seat_config (service, grant->seat);

  gboolean removed = sg_nft_gate_revoke (service->gate, grant->uid, SEAT_PORTS (seat), &error);
  guint64 batch_ns = sg_nft_gate_last_batch_ns (service->gate);
  if (!removed)
    {
      g_autoptr (GError) rebuild_error = NULL;
      g_critical ("Could not remove uid %u's grant on %s from the kernel (%s); rebuilding the table",
                  grant->uid, grant->seat, error->message);
      if (!rebuild_table (service, &rebuild_error))
        {
          /* The element may still be there: leave, so the unit's stop action
           * resets the table and the restart starts deny-only. */
          g_critical ("Could not rebuild the table either (%s); exiting so the gate closes",
                      rebuild_error->message);
          exit (EXIT_FAILURE);
        }
      g_clear_error (&error);
    }

  RevokedUid revoked = { grant->uid, service->config->always_allow };
  if (!sg_sock_destroy_matching (SEAT_PORTS (seat), match_revoked_uid, &revoked, &n_destroyed,
                                 &error))
    {
      g_autoptr (GError) cut_error = NULL;
      g_warning ("Could not destroy uid %u's connections to %s's ports (%s); rejecting all their "
                 "packets to those ports instead",
                 grant->uid, grant->seat, error->message);
      if (!sg_nft_gate_cut (service->gate, grant->uid, SEAT_PORTS (seat), &cut_error))
        {
          /* Its connections may live on: leave, so the stop action resets. */
          g_critical ("Could not cut uid %u's connections either (%s); exiting so the gate "
                      "closes",
                      grant->uid, cut_error->message);
          exit (EXIT_FAILURE);
        }
      else
        {
          CutPair cut = { grant->uid, seat };
          forget_cut (service, grant->uid, seat);
          g_array_append_val (service->cuts, cut);
        }
    }

  g_autofree char *ports = sg_ports_to_string (SEAT_PORTS (seat));
  sg_log_event (G_LOG_LEVEL_MESSAGE, "revoke", grant->uid, grant->seat, grant->session_id, reason,
                "Revoked uid %u on %s (ports %s, session %s): %s; %u connection(s) closed",
                grant->uid, grant->seat, ports, grant->session_id, reason, n_destroyed);
  sg_gate1_emit_revoked (service->skeleton, grant->seat, grant->uid, reason);
  publish_grants (service);
  sg_log_batch_time ("revoke", grant->uid, grant->seat, 1, batch_ns);
}

static void
revoke_seats (SgGateService *service, GPtrArray *seats, const char *reason)
{
  for (guint i = 0; i < seats->len; i++)
    revoke_seat (service, seats->pdata[i], reason);
}

static void
revoke_all (SgGateService *service, const char *reason)
{
  g_autoptr (GPtrArray) seats = sg_grant_registry_seats (service->registry);
  revoke_seats (service, seats, reason);
}

/* ---- logind's events ---- */

static void resume_parked (SgGateService *service);

static void
on_active_session_changed (const char *seat, const char *session_id, gpointer data)
{
  SgGateService *service = data;
  SgGrant *grant = sg_grant_registry_lookup (service->registry, seat);

  if (grant != NULL && g_strcmp0 (grant->session_id, session_id) != 0)
    revoke_seat (service, seat, "session-changed");
  resume_parked (service);
}

static void
on_session_deactivated (const char *session_path, gpointer data)
{
  SgGateService *service = data;
  g_autoptr (GPtrArray) seats = sg_grant_registry_seats_of_session (service->registry,
                                                                    session_path);
  revoke_seats (service, seats, "session-changed");
}

static void
on_session_removed (const char *session_path, gpointer data)
{
  SgGateService *service = data;
  g_autoptr (GPtrArray) seats = sg_grant_registry_seats_of_session (service->registry,
                                                                    session_path);
  revoke_seats (service, seats, "session-removed");
}

static void
on_logind_vanished (gpointer data)
{
  revoke_all (data, "session-changed");
  resume_parked (data);
}

static void
on_monitor_ready (gpointer data)
{
  SgGateService *service = data;
  SgGateReadyFunc ready = service->ready;

  service->ready = NULL;
  if (ready != NULL)
    ready (service->ready_data);
  resume_parked (service);
}

/* ---- callers leaving the bus ---- */

static void
on_name_owner_changed (GDBusConnection *bus, const char *sender, const char *path,
                       const char *iface, const char *signal, GVariant *params, gpointer data)
{
  SgGateService *service = data;
  const char *name, *old_owner, *new_owner;

  g_variant_get (params, "(&s&s&s)", &name, &old_owner, &new_owner);
  if (name[0] != ':' || *new_owner != '\0')
    return;
  for (guint i = 0; i < service->requests->len; i++)
    {
      GrantRequest *req = service->requests->pdata[i];
      if (g_str_equal (req->sender, name))
        req->gone = "the caller left the bus";
    }
  g_autoptr (GPtrArray) orphaned = sg_grant_registry_drop_holder (service->registry, name);
  revoke_seats (service, orphaned, "disconnected");
}

/* ---- calls made for callers ----
 *
 * Every logind read and polkit check made for a caller goes out through
 * here, at most CALLS_IN_FLIGHT at once; the others wait their turn, in
 * order. The system bus refuses a connection's calls beyond 128 pending
 * (max_replies_per_connection): without this, 200 callers who are not at the
 * console made the helper's own calls fail with LimitsExceeded, the console
 * user's Grant() among them. */
#define CALLS_IN_FLIGHT 32

typedef void (*CallStart) (gpointer data);

typedef struct
{
  CallStart start;
  gpointer data;
} WaitingCall;

static void
call_when_free (SgGateService *service, CallStart start, gpointer data)
{
  if (service->calls_in_flight < CALLS_IN_FLIGHT)
    {
      service->calls_in_flight++;
      start (data);
      return;
    }
  WaitingCall *call = g_new (WaitingCall, 1);
  call->start = start;
  call->data = data;
  g_queue_push_tail (&service->calls_waiting, call);
}

/* A call started by call_when_free() is over: its slot goes to the next. */
static void
call_done (SgGateService *service)
{
  g_autofree WaitingCall *next = g_queue_pop_head (&service->calls_waiting);

  if (next == NULL)
    {
      g_assert (service->calls_in_flight > 0);
      service->calls_in_flight--;
      return;
    }
  next->start (next->data);
}

/* ---- Grant() ---- */

static gboolean
invocation_allows_interaction (GDBusMethodInvocation *invocation)
{
  GDBusMessage *message = g_dbus_method_invocation_get_message (invocation);
  return (g_dbus_message_get_flags (message) & G_DBUS_MESSAGE_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION)
         != 0;
}

static char *
join_reasons (GPtrArray *reasons)
{
  g_autoptr (GString) out = g_string_new (NULL);

  for (guint i = 0; i < reasons->len; i++)
    g_string_append_printf (out, "%s%s", i > 0 ? "; " : "", (const char *) reasons->pdata[i]);
  return g_string_free (g_steal_pointer (&out), FALSE);
}

/* The invocation must be answered even when nobody listens: an unanswered
 * one is never freed. */
static gboolean
answered_gone (GrantRequest *req)
{
  if (req->gone == NULL)
    return FALSE;
  g_dbus_method_invocation_return_error (req->invocation, SG_ERROR, SG_ERROR_FAILED,
                                         "not granted: %s while seatgate was checking", req->gone);
  return TRUE;
}

static void
refuse_grant (GrantRequest *req, SgError code, const char *event, const char *message)
{
  sg_log_refusal (event, req->uid, NULL, NULL, NULL, "Refused Grant() from uid %u (%s): %s",
                  req->uid, req->sender, message);
  g_dbus_method_invocation_return_error_literal (req->invocation, SG_ERROR, code, message);
}

static void
commit_grant (GrantRequest *req)
{
  SgGateService *service = req->service;
  g_autoptr (GError) error = NULL;
  guint n_granted = 0;
  guint64 batch_ns = 0;
  const char *granted_seat = NULL;
  gboolean kernel_failed = FALSE;

  if (answered_gone (req))
    return;
  for (guint i = 0; i < req->allowed->len; i++)
    {
      SgSessionInfo *info = req->allowed->pdata[i];
      const SgSeatConfig *seat = seat_config (service, info->seat);
      SgGrant *current = sg_grant_registry_lookup (service->registry, seat->name);

      /* logind may have switched the seat while polkit was asked: the
       * monitor has seen every signal up to now. */
      if (g_strcmp0 (sg_seat_monitor_get_active_session (service->monitor, seat->name), info->id)
          != 0)
        {
          g_ptr_array_add (req->why_not, g_strdup_printf ("%s switched to another session while "
                                                          "seatgate was checking", seat->name));
          continue;
        }
      if (current != NULL && (current->uid != req->uid || !g_str_equal (current->session_id, info->id)))
        revoke_seat (service, seat->name, "session-changed");

      if (!sg_nft_gate_grant (service->gate, req->uid, SEAT_PORTS (seat), &error))
        {
          /* The batch is atomic: nothing of it is in the kernel. Other seats
           * may still be granted. */
          sg_log_event (G_LOG_LEVEL_WARNING, "grant-failed", req->uid, seat->name, info->id, NULL,
                        "Could not grant uid %u on %s: %s", req->uid, seat->name, error->message);
          g_ptr_array_add (req->why_not, g_strdup_printf ("the kernel refused the grant on %s: %s",
                                                          seat->name, error->message));
          g_clear_error (&error);
          kernel_failed = TRUE;
          continue;
        }
      n_granted++;
      forget_cut (service, req->uid, seat); /* the grant emptied those pairs in the kernel */
      batch_ns += sg_nft_gate_last_batch_ns (service->gate);
      granted_seat = seat->name;
      if (sg_grant_registry_hold (service->registry, seat->name, req->uid, info->id,
                                  info->object_path, req->sender))
        {
          g_autofree char *ports = sg_ports_to_string (SEAT_PORTS (seat));
          sg_log_event (G_LOG_LEVEL_MESSAGE, "grant", req->uid, seat->name, info->id, NULL,
                        "Granted uid %u on %s (ports %s, session %s, held by %s)", req->uid,
                        seat->name, ports, info->id, req->sender);
          sg_gate1_emit_granted (service->skeleton, seat->name, req->uid);
        }
    }

  if (n_granted == 0)
    {
      g_autofree char *why = join_reasons (req->why_not);
      g_autofree char *message = g_strdup_printf ("uid %u was not granted: %s", req->uid, why);
      if (kernel_failed)
        refuse_grant (req, SG_ERROR_FAILED, "grant-failed", message);
      else
        refuse_grant (req, SG_ERROR_NOT_SEAT_OWNER, "refuse-not-owner", message);
      return;
    }
  publish_grants (service);
  sg_gate1_complete_grant (service->skeleton, req->invocation);
  sg_log_batch_time ("grant", req->uid, n_granted == 1 ? granted_seat : NULL, n_granted,
                     batch_ns);
}

static void authorize_next_seat (GrantRequest *req);
static void seat_authorized (GObject *source, GAsyncResult *result, gpointer data);

static void
start_seat_authorization (gpointer data)
{
  GrantRequest *req = data;

  if (req->gone != NULL)
    {
      call_done (req->service);
      authorize_next_seat (req);
      return;
    }
  SgSessionInfo *info = req->owned->pdata[req->n_authorized];
  sg_authority_check (req->service->bus, req->sender, SG_ACTION_GRANT, info->seat,
                      invocation_allows_interaction (req->invocation), req->service->cancellable,
                      seat_authorized, req);
}

/* polkit is asked once per seat, with the seat as a detail, so an admin's
 * rule can allow one seat and not another (action.lookup ("seat")). */
static void
seat_authorized (GObject *source, GAsyncResult *result, gpointer data)
{
  GrantRequest *req = data;
  g_autoptr (GError) error = NULL;
  SgSessionInfo *info = req->owned->pdata[req->n_authorized];

  call_done (req->service);
  if (sg_authority_check_finish (result, &error))
    g_ptr_array_add (req->allowed, info);
  else
    {
      req->polkit_failed |= !g_error_matches (error, SG_ERROR, SG_ERROR_NOT_AUTHORIZED);
      g_ptr_array_add (req->why_not, g_strdup_printf ("on %s: %s", info->seat, error->message));
    }
  req->n_authorized++;
  authorize_next_seat (req);
}

static void
authorize_next_seat (GrantRequest *req)
{
  g_autoptr (GrantRequest) done = NULL;

  if (req->n_authorized < req->owned->len && req->gone == NULL)
    {
      call_when_free (req->service, start_seat_authorization, req);
      return;
    }

  done = req;
  if (answered_gone (req))
    return;
  if (req->allowed->len == 0)
    {
      g_autofree char *why = join_reasons (req->why_not);
      g_autofree char *message
          = g_strdup_printf (req->polkit_failed
                                 ? "uid %u was not granted: %s"
                                 : "uid %u may not use the VM console here: %s (ask the lab's "
                                   "administrator about the polkit rules)",
                             req->uid, why);
      refuse_grant (req, SG_ERROR_NOT_AUTHORIZED, "refuse-polkit", message);
      return;
    }
  g_ptr_array_set_size (req->why_not, 0);
  commit_grant (req);
}

static void read_next_session (GrantRequest *req);

static void
session_read (GObject *source, GAsyncResult *result, gpointer data)
{
  GrantRequest *req = data;
  g_autoptr (GError) error = NULL;
  SgSessionInfo *info = sg_seat_monitor_get_session_info_finish (req->service->monitor, result,
                                                                 &error);
  const char *seat = req->seats->pdata[req->sessions->len];

  call_done (req->service);
  if (info == NULL)
    {
      g_ptr_array_add (req->why_not,
                       g_strdup_printf ("the active session of %s could not be read: %s", seat,
                                        error->message));
      g_ptr_array_add (req->sessions, NULL);
    }
  else
    g_ptr_array_add (req->sessions, info);
  read_next_session (req);
}

/* The seat's active session is looked up when the read goes out, which may
 * be a while after the request began. */
static void
start_session_read (gpointer data)
{
  GrantRequest *req = data;
  SgGateService *service = req->service;
  const char *seat = req->seats->pdata[req->sessions->len];
  const char *path = sg_seat_monitor_get_active_session_path (service->monitor, seat);

  if (path != NULL && req->gone == NULL)
    {
      sg_seat_monitor_get_session_info (service->monitor, path, service->cancellable,
                                        session_read, req);
      return;
    }
  call_done (service);
  /* The seat changed (or logind left) since the request began. */
  if (path == NULL)
    g_ptr_array_add (req->why_not,
                     g_strdup_printf ("%s changed while seatgate was checking", seat));
  g_ptr_array_add (req->sessions, NULL);
  read_next_session (req);
}

static void
read_next_session (GrantRequest *req)
{
  g_autoptr (GrantRequest) done = NULL;

  if (req->sessions->len < req->seats->len && req->gone == NULL)
    {
      call_when_free (req->service, start_session_read, req);
      return;
    }

  done = req;
  if (answered_gone (req))
    return;
  for (guint i = 0; i < req->sessions->len; i++)
    {
      SgSessionInfo *info = req->sessions->pdata[i];
      const char *seat = req->seats->pdata[i];
      g_autofree char *flaw = NULL;

      if (info == NULL)
        continue;
      if (info->uid != req->uid)
        g_ptr_array_add (req->why_not,
                         g_strdup_printf ("the active session of %s is session %s of uid %u", seat,
                                          info->id, info->uid));
      else if ((flaw = sg_logind_session_flaw (info->seat, seat, info->remote, info->session_class,
                                               info->active, info->state))
               != NULL)
        g_ptr_array_add (req->why_not, g_strdup_printf ("session %s of uid %u: %s (state '%s')",
                                                        info->id, info->uid, flaw, info->state));
      else
        g_ptr_array_add (req->owned, info);
    }
  if (req->owned->len == 0)
    {
      g_autofree char *why = join_reasons (req->why_not);
      g_autofree char *message
          = g_strdup_printf ("uid %u does not own the active local session of any seat "
                             "seatgate gates: %s",
                             req->uid, why);
      refuse_grant (req, SG_ERROR_NOT_SEAT_OWNER, "refuse-not-owner", message);
      return;
    }
  authorize_next_seat (g_steal_pointer (&done));
}

static void scan_seats (GrantRequest *req);

static void
caller_uid_read (GObject *source, GAsyncResult *result, gpointer data)
{
  GrantRequest *req = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result,
                                                              &error);

  if (reply == NULL)
    {
      g_autoptr (GrantRequest) done = req;
      if (!answered_gone (req))
        g_dbus_method_invocation_return_error (req->invocation, SG_ERROR, SG_ERROR_FAILED,
                                               "could not tell who is calling: %s", error->message);
      return;
    }
  g_variant_get (reply, "(u)", &req->uid);
  scan_seats (req);
}

/* logind is on the bus but a seat's active session is not known yet: it is
 * being read (logind just came back, or a session just went inactive) and
 * will be known shortly. */
static gboolean
seats_settling (SgGateService *service)
{
  if (!sg_seat_monitor_is_present (service->monitor))
    return FALSE;
  for (guint i = 0; i < service->config->seats->len; i++)
    {
      const SgSeatConfig *seat = g_ptr_array_index (service->config->seats, i);
      if (sg_seat_monitor_get_active_session (service->monitor, seat->name) == NULL)
        return TRUE;
    }
  return FALSE;
}

/* Requests that came while the seats' view settled go on once it has. */
static void
resume_parked (SgGateService *service)
{
  if (service->parked->len == 0 || seats_settling (service))
    return;
  g_autoptr (GPtrArray) parked = g_steal_pointer (&service->parked);
  service->parked = g_ptr_array_new ();
  for (guint i = 0; i < parked->len; i++)
    scan_seats (parked->pdata[i]);
}

static void
scan_seats (GrantRequest *req)
{
  SgGateService *service = req->service;

  /* Waiting, not refusing: the console user's agent asks as soon as logind
   * is back or its session is active, often before the helper has read the
   * seat, and a refused agent does not ask again until something changes. */
  if (req->gone == NULL && seats_settling (service))
    {
      g_ptr_array_add (service->parked, req);
      return;
    }
  for (guint i = 0; i < service->config->seats->len; i++)
    {
      const SgSeatConfig *seat = g_ptr_array_index (service->config->seats, i);
      const char *active = sg_seat_monitor_get_active_session (service->monitor, seat->name);

      if (active == NULL)
        g_ptr_array_add (req->why_not,
                         g_strdup_printf ("logind's view of %s is not known (is systemd-logind "
                                          "running?)",
                                          seat->name));
      else if (*active == '\0')
        g_ptr_array_add (req->why_not, g_strdup_printf ("%s has no active session", seat->name));
      else
        g_ptr_array_add (req->seats, g_strdup (seat->name));
    }
  read_next_session (req);
}

static gboolean
handle_grant (SgGate1 *skeleton, GDBusMethodInvocation *invocation, gpointer data)
{
  SgGateService *service = data;
  GrantRequest *req = g_new0 (GrantRequest, 1);

  req->service = service;
  req->invocation = g_object_ref (invocation);
  req->sender = g_strdup (g_dbus_method_invocation_get_sender (invocation));
  req->uid = SG_NO_UID;
  req->seats = g_ptr_array_new_with_free_func (g_free);
  req->sessions = g_ptr_array_new_with_free_func ((GDestroyNotify) sg_session_info_free);
  req->owned = g_ptr_array_new ();
  req->allowed = g_ptr_array_new ();
  req->why_not = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (service->requests, req);

  /* The uid comes from the bus daemon, which got it from the kernel. */
  g_dbus_connection_call (service->bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                          "org.freedesktop.DBus", "GetConnectionUnixUser",
                          g_variant_new ("(s)", req->sender), G_VARIANT_TYPE ("(u)"),
                          G_DBUS_CALL_FLAGS_NONE, -1, service->cancellable, caller_uid_read, req);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- Release() and Revoke() ---- */

static gboolean
handle_release (SgGate1 *skeleton, GDBusMethodInvocation *invocation, gpointer data)
{
  SgGateService *service = data;
  const char *sender = g_dbus_method_invocation_get_sender (invocation);
  g_autoptr (GPtrArray) orphaned = sg_grant_registry_drop_holder (service->registry, sender);

  /* A Grant() still on its way must not commit after the Release(). */
  for (guint i = 0; i < service->requests->len; i++)
    {
      GrantRequest *req = service->requests->pdata[i];
      if (g_str_equal (req->sender, sender))
        req->gone = "the caller released";
    }

  revoke_seats (service, orphaned, "released");
  sg_gate1_complete_release (skeleton, invocation);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

typedef struct
{
  SgGateService *service;
  GDBusMethodInvocation *invocation;
  guint32 uid;
} RevokeRequest;

static void
revoke_authorized (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autofree RevokeRequest *req = data;
  g_autoptr (GDBusMethodInvocation) invocation = req->invocation;
  g_autoptr (GError) error = NULL;
  const char *sender = g_dbus_method_invocation_get_sender (invocation);

  call_done (req->service);
  if (!sg_authority_check_finish (result, &error))
    {
      sg_log_refusal ("refuse-revoke", req->uid, NULL, NULL, "admin",
                      "Refused Revoke(%u) from %s: %s", req->uid, sender, error->message);
      g_dbus_method_invocation_return_error (
          invocation, SG_ERROR, SG_ERROR_NOT_AUTHORIZED,
          "revoking uid %u's grant needs administrator rights (polkit action %s): %s", req->uid,
          SG_ACTION_MANAGE, error->message);
      return;
    }

  g_autoptr (GPtrArray) seats = sg_grant_registry_seats_of_uid (req->service->registry, req->uid);
  if (seats->len == 0)
    {
      g_dbus_method_invocation_return_error (invocation, SG_ERROR, SG_ERROR_FAILED,
                                             "uid %u holds no grant: nothing to revoke", req->uid);
      return;
    }
  sg_log_event (G_LOG_LEVEL_MESSAGE, "admin-revoke", req->uid, NULL, NULL, "admin",
                "%s asked to revoke uid %u", sender, req->uid);
  revoke_seats (req->service, seats, "admin");
  sg_gate1_complete_revoke (req->service->skeleton, invocation);
}

static void
start_revoke_authorization (gpointer data)
{
  RevokeRequest *req = data;

  sg_authority_check (req->service->bus, g_dbus_method_invocation_get_sender (req->invocation),
                      SG_ACTION_MANAGE, NULL, invocation_allows_interaction (req->invocation),
                      req->service->cancellable, revoke_authorized, req);
}

static gboolean
handle_revoke (SgGate1 *skeleton, GDBusMethodInvocation *invocation, guint32 uid, gpointer data)
{
  SgGateService *service = data;
  RevokeRequest *req = g_new0 (RevokeRequest, 1);

  req->service = service;
  req->invocation = g_object_ref (invocation);
  req->uid = uid;
  call_when_free (service, start_revoke_authorization, req);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- someone else's firewall change ---- */

static gboolean
match_not_granted (guint32 uid, guint16 port, gpointer data)
{
  SgGateService *service = data;
  const SgSeatConfig *seat = sg_config_seat_for_port (service->config, port);
  SgGrant *grant = seat != NULL ? sg_grant_registry_lookup (service->registry, seat->name) : NULL;

  if (is_always_allowed (service->config->always_allow, uid))
    return FALSE;
  return grant == NULL || grant->uid != uid;
}

void
sg_gate_service_restore_table (SgGateService *service, const char *what)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GArray) ports = sg_config_all_ports (service->config);
  guint n_destroyed = 0;

  sg_log_event (G_LOG_LEVEL_WARNING, "table-tampered", SG_NO_UID, NULL, NULL, NULL,
                "Table inet seatgate was changed from outside (%s); restoring it with the "
                "current grants",
                what != NULL ? what : "notifications were lost");
  if (!rebuild_table (service, &error))
    {
      g_critical ("Could not restore the table (%s); exiting so the gate closes", error->message);
      exit (EXIT_FAILURE);
    }
  /* While the table was gone anyone could connect: end what slipped in. */
  if (!sg_sock_destroy_matching ((const guint16 *) (void *) ports->data, ports->len,
                                 match_not_granted, service, &n_destroyed, &error))
    g_warning ("Could not close the connections made while the table was gone: %s",
               error->message);
  else if (n_destroyed > 0)
    sg_log_event (G_LOG_LEVEL_WARNING, "table-restored", SG_NO_UID, NULL, NULL, NULL,
                  "Closed %u connection(s) made while the table was gone", n_destroyed);
}

/* ---- life ---- */

static GVariant *
seats_variant (const SgConfig *config)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(saq)"));
  for (guint i = 0; i < config->seats->len; i++)
    {
      const SgSeatConfig *seat = g_ptr_array_index (config->seats, i);
      g_variant_builder_add (&builder, "(s@aq)", seat->name, ports_variant (seat));
    }
  return g_variant_builder_end (&builder);
}

SgGateService *
sg_gate_service_new (GDBusConnection *bus, const SgConfig *config, SgNftGate *gate,
                     SgGateReadyFunc ready, gpointer ready_data, GError **error)
{
  g_autoptr (SgGateService) service = g_new0 (SgGateService, 1);
  static const SgSeatMonitorEvents events = {
    .active_session_changed = on_active_session_changed,
    .session_deactivated = on_session_deactivated,
    .session_removed = on_session_removed,
    .logind_vanished = on_logind_vanished,
    .ready = on_monitor_ready,
  };

  service->bus = g_object_ref (bus);
  service->config = config;
  service->gate = gate;
  service->ready = ready;
  service->ready_data = ready_data;
  service->cancellable = g_cancellable_new ();
  service->registry = sg_grant_registry_new ();
  service->requests = g_ptr_array_new ();
  service->parked = g_ptr_array_new ();
  service->cuts = g_array_new (FALSE, FALSE, sizeof (CutPair));
  service->skeleton = sg_gate1_skeleton_new ();
  sg_gate1_set_version (service->skeleton, SG_VERSION);
  sg_gate1_set_seats (service->skeleton, seats_variant (config));
  publish_grants (service);
  g_signal_connect (service->skeleton, "handle-grant", G_CALLBACK (handle_grant), service);
  g_signal_connect (service->skeleton, "handle-release", G_CALLBACK (handle_release), service);
  g_signal_connect (service->skeleton, "handle-revoke", G_CALLBACK (handle_revoke), service);

  /* Before anything can be granted: a holder's disconnect must never be
   * missed. */
  service->name_owner_subscription = g_dbus_connection_signal_subscribe (
      bus, "org.freedesktop.DBus", "org.freedesktop.DBus", "NameOwnerChanged",
      "/org/freedesktop/DBus", NULL, G_DBUS_SIGNAL_FLAGS_NONE, on_name_owner_changed, service,
      NULL);
  if (!g_dbus_interface_skeleton_export (G_DBUS_INTERFACE_SKELETON (service->skeleton), bus,
                                         SG_OBJECT_PATH, error))
    return NULL;
  service->monitor = sg_seat_monitor_new (bus, config, &events, service);
  return g_steal_pointer (&service);
}

void
sg_gate_service_shutdown (SgGateService *service)
{
  revoke_all (service, "shutdown");
}

void
sg_gate_service_free (SgGateService *service)
{
  if (service == NULL)
    return;
  g_cancellable_cancel (service->cancellable);
  g_clear_pointer (&service->monitor, sg_seat_monitor_free);
  if (service->name_owner_subscription != 0)
    g_dbus_connection_signal_unsubscribe (service->bus, service->name_owner_subscription);
  if (service->skeleton != NULL)
    {
      g_dbus_interface_skeleton_unexport (G_DBUS_INTERFACE_SKELETON (service->skeleton));
      g_object_unref (service->skeleton);
    }
  g_clear_pointer (&service->registry, sg_grant_registry_free);
  g_queue_clear_full (&service->calls_waiting, g_free);
  g_ptr_array_unref (service->requests);
  g_ptr_array_unref (service->parked);
  g_array_unref (service->cuts);
  g_clear_object (&service->cancellable);
  g_object_unref (service->bus);
  g_free (service);
}

static gboolean
match_not_always (guint32 uid, guint16 port, gpointer data)
{
  return !is_always_allowed (data, uid);
}

gboolean
sg_gate_cut_all_connections (const SgConfig *config, guint *n_destroyed, GError **error)
{
  g_autoptr (GArray) ports = sg_config_all_ports (config);

  return sg_sock_destroy_matching ((const guint16 *) (void *) ports->data, ports->len,
                                   match_not_always, config->always_allow, n_destroyed, error);
}
