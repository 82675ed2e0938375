#include "gate-service.h"

#include "authority.h"
#include "call-throttle.h"
#include "gate-reset.h"
#include "grant-check.h"
#include "grant-registry.h"
#include "log.h"
#include "seat-monitor.h"
#include "sg-arrays.h"
#include "sg-build-config.h"
#include "sg-error.h"
#include "sg-gate1-generated.h"
#include "sg-logind-files.h"
#include "sg-logind.h"
#include "sg-ports.h"
#include "sg-wire.h"
#include "sock-destroy.h"

struct _SgGateService
{
  GDBusConnection *bus;
  const SgConfig *config;
  SgNftGate *gate;
  SgGate1 *skeleton;
  SgSeatMonitor *monitor;
  SgGrantRegistry *registry;
  GPtrArray *grant_calls; /* GrantCall* under way */
  GPtrArray *parked;      /* GrantCall* waiting for logind's view to settle */
  GArray *cuts;           /* CutPair: connections that could not be destroyed,
                             rejected by the table until the uid is granted again */
  guint name_owner_subscription;
  SgGateReadyFunc ready;
  gpointer ready_data;
  GCancellable *cancellable;
  SgCallThrottle *throttle; /* logind reads and polkit checks made for callers */
  SgLogindFiles *files;     /* logind's session files: logouts that send no signal */
  GError *files_error;      /* why they are not watched: then nothing is granted */
};

/* logind reads and polkit checks made for callers on their way at once (see
 * call-throttle.h); well under the bus's 128 pending replies. */
#define CALLS_IN_FLIGHT 32

/* One Grant() call: its checks, then the commit. */
typedef struct
{
  SgGateService *service;
  GDBusMethodInvocation *invocation;
  SgGrantCheck *check;
} GrantCall;

static void
grant_call_free (GrantCall *call)
{
  g_ptr_array_remove (call->service->grant_calls, call);
  g_ptr_array_remove (call->service->parked, call);
  g_object_unref (call->invocation);
  sg_grant_check_free (call->check);
  g_free (call);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GrantCall, grant_call_free)

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

#define SEAT_PORTS(s) sg_array_ports ((s)->ports), (s)->ports->len

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
                             sg_wire_ports (seat_config (service, grant->seat)->ports));
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

/* The revoked uid's connections, unless it may always connect anyway. */
static gboolean
match_revoked_uid (guint32 uid, guint16 port, gpointer data)
{
  const RevokedUid *revoked = data;
  return uid == revoked->uid && !sg_gate_always_allowed (revoked->always, uid);
}

/* Rebuilds the table from the registry: the last resort when an element could
 * not be removed. */
static gboolean
rebuild_table (SgGateService *service, GError **error)
{
  g_autoptr (GArray) ports = sg_config_all_ports (service->config);
  g_autoptr (GPtrArray) seats = sg_grant_registry_seats (service->registry);
  GArray *always = service->config->always_allow;

  if (!sg_nft_gate_reset (service->gate, sg_array_ports (ports), ports->len, sg_array_uids (always),
                          always->len, error))
    return FALSE;
  for (guint i = 0; i < seats->len; i++)
    {
      SgGrant *grant = sg_grant_registry_lookup (service->registry, seats->pdata[i]);
      if (!sg_nft_gate_grant (service->gate, grant->uid,
                              SEAT_PORTS (seat_config (service, grant->seat)), error))
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
      g_critical (
          "Could not remove uid %u's grant on %s from the kernel (%s); rebuilding the table",
          grant->uid, grant->seat, error->message);
      /* The element may still be there. */
      if (!rebuild_table (service, &rebuild_error))
        sg_helper_fail_closed ("Could not rebuild the table either (%s)", rebuild_error->message);
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
      /* Its connections may live on. */
      if (!sg_nft_gate_cut (service->gate, grant->uid, SEAT_PORTS (seat), &cut_error))
        sg_helper_fail_closed ("Could not cut uid %u's connections either (%s)", grant->uid,
                               cut_error->message);
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
static void abandon_grant_calls (SgGateService *service, const char *sender, const char *why);

static void
on_active_session_changed (const char *seat, const char *session_id, gpointer data)
{
  SgGateService *service = data;
  SgGrant *grant = sg_grant_registry_lookup (service->registry, seat);

  if (grant != NULL && g_strcmp0 (grant->session_id, session_id) != 0)
    revoke_seat (service, seat, SG_REVOKE_SESSION_CHANGED);
  resume_parked (service);
}

static void
on_session_deactivated (const char *session_path, gpointer data)
{
  SgGateService *service = data;
  g_autoptr (GPtrArray) seats
      = sg_grant_registry_seats_of_session (service->registry, session_path);
  revoke_seats (service, seats, SG_REVOKE_SESSION_CHANGED);
}

static void
on_session_removed (const char *session_path, gpointer data)
{
  SgGateService *service = data;
  g_autoptr (GPtrArray) seats
      = sg_grant_registry_seats_of_session (service->registry, session_path);
  revoke_seats (service, seats, SG_REVOKE_SESSION_REMOVED);
}

/* Why a granted session may no longer hold its seat, by its file; NULL while
 * it is still active. @reason gets the revoke reason. From the first check
 * on, the file is watched, so that its changes revoke; the watch stays
 * until the file goes (a session granted once is likely granted again). */
static char *
session_file_flaw (SgGateService *service, const char *session_id, const char **reason)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *state = NULL;

  *reason = SG_REVOKE_SESSION_REMOVED;
  if (service->files == NULL)
    return g_strdup_printf ("seatgate cannot see logouts (%s)", service->files_error->message);
  /* Watched before it is read: see sg-logind-files.h. */
  if (!sg_logind_files_watch (service->files, session_id, &error))
    return g_strdup (error->message);
  state = sg_logind_files_get_state (session_id, &error);
  if (state == NULL)
    return g_strdup (error->message);
  if (g_str_equal (state, "active"))
    return NULL;
  if (g_str_equal (state, "closing"))
    return g_strdup_printf ("session %s is logged out (logind: closing), though processes of it "
                            "are still running",
                            session_id);
  *reason = SG_REVOKE_SESSION_CHANGED;
  return g_strdup_printf ("session %s is %s, not active", session_id, state);
}

/* A watched session's file changed: a granted session that logind now saves
 * as anything but active loses its grant, a logout with processes left
 * behind included. */
static void
on_session_file_changed (const char *id, gpointer data)
{
  SgGateService *service = data;
  g_autoptr (GPtrArray) seats = sg_grant_registry_seats (service->registry);

  for (guint i = 0; i < seats->len; i++)
    {
      SgGrant *grant = sg_grant_registry_lookup (service->registry, seats->pdata[i]);
      const char *reason;
      if (grant == NULL || !g_str_equal (grant->session_id, id))
        continue;
      g_autofree char *flaw = session_file_flaw (service, grant->session_id, &reason);
      if (flaw == NULL)
        continue;
      g_message ("%s: %s", grant->seat, flaw);
      revoke_seat (service, seats->pdata[i], reason);
    }
}

/* Tried again when logind is read: inotify may have been short at start. */
static void
watch_session_files (SgGateService *service)
{
  if (service->files != NULL)
    return;
  g_clear_error (&service->files_error);
  service->files = sg_logind_files_new (on_session_file_changed, service, &service->files_error);
  if (service->files == NULL)
    g_warning ("%s: nothing is granted until it can be watched", service->files_error->message);
}

static void
on_logind_vanished (gpointer data)
{
  revoke_all (data, SG_REVOKE_SESSION_CHANGED);
  resume_parked (data);
}

static void
on_monitor_ready (gpointer data)
{
  SgGateService *service = data;
  SgGateReadyFunc ready = service->ready;

  watch_session_files (service);
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
  abandon_grant_calls (service, name, "the caller left the bus");
  g_autoptr (GPtrArray) orphaned = sg_grant_registry_drop_holder (service->registry, name);
  revoke_seats (service, orphaned, SG_REVOKE_DISCONNECTED);
}

/* ---- Grant() ---- */

static gboolean
invocation_allows_interaction (GDBusMethodInvocation *invocation)
{
  GDBusMessage *message = g_dbus_method_invocation_get_message (invocation);
  return (g_dbus_message_get_flags (message) & G_DBUS_MESSAGE_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION)
         != 0;
}

static void
refuse_grant (GrantCall *call, guint32 uid, SgError code, const char *event, const char *message)
{
  sg_log_refusal (event, uid, NULL, NULL, NULL, "Refused Grant() from uid %u (%s): %s", uid,
                  sg_grant_check_get_sender (call->check), message);
  g_dbus_method_invocation_return_error_literal (call->invocation, SG_ERROR, code, message);
}

/* @allowed: the SgLogindSession* of the seats logind and polkit let the caller
 * have, as they were when asked. */
static void
commit_grant (GrantCall *call, guint32 uid, GPtrArray *allowed)
{
  SgGateService *service = call->service;
  const char *sender = sg_grant_check_get_sender (call->check);
  g_autoptr (GString) why_not = g_string_new (NULL); /* "; "-separated */
  g_autoptr (GError) error = NULL;
  guint n_granted = 0;
  guint64 batch_ns = 0;
  const char *granted_seat = NULL;
  gboolean kernel_failed = FALSE;

  for (guint i = 0; i < allowed->len; i++)
    {
      SgLogindSession *info = allowed->pdata[i];
      const SgSeatConfig *seat = seat_config (service, info->seat);
      SgGrant *current = sg_grant_registry_lookup (service->registry, seat->name);

      /* logind may have switched the seat while polkit was asked: the
       * monitor has seen every signal up to now. */
      if (g_strcmp0 (sg_seat_monitor_get_active_session (service->monitor, seat->name), info->id)
          != 0)
        {
          g_string_append_printf (why_not,
                                  "%s%s switched to another session while seatgate was "
                                  "checking",
                                  why_not->len > 0 ? "; " : "", seat->name);
          continue;
        }
      /* A logout that leaves processes running shows only in the session's
       * file; from here on, its changes revoke. */
      const char *file_reason;
      g_autofree char *file_flaw = session_file_flaw (service, info->id, &file_reason);
      if (file_flaw != NULL)
        {
          g_string_append_printf (why_not, "%s%s", why_not->len > 0 ? "; " : "", file_flaw);
          continue;
        }
      if (current != NULL && (current->uid != uid || !g_str_equal (current->session_id, info->id)))
        revoke_seat (service, seat->name, SG_REVOKE_SESSION_CHANGED);

      if (!sg_nft_gate_grant (service->gate, uid, SEAT_PORTS (seat), &error))
        {
          /* The batch is atomic: nothing of it is in the kernel. Other seats
           * may still be granted. */
          sg_log_event (G_LOG_LEVEL_WARNING, "grant-failed", uid, seat->name, info->id, NULL,
                        "Could not grant uid %u on %s: %s", uid, seat->name, error->message);
          g_string_append_printf (why_not, "%sthe kernel refused the grant on %s: %s",
                                  why_not->len > 0 ? "; " : "", seat->name, error->message);
          g_clear_error (&error);
          kernel_failed = TRUE;
          continue;
        }
      n_granted++;
      forget_cut (service, uid, seat); /* the grant emptied those pairs in the kernel */
      batch_ns += sg_nft_gate_last_batch_ns (service->gate);
      granted_seat = seat->name;
      if (sg_grant_registry_hold (service->registry, seat->name, uid, info->id, info->object_path,
                                  sender))
        {
          g_autofree char *ports = sg_ports_to_string (SEAT_PORTS (seat));
          sg_log_event (G_LOG_LEVEL_MESSAGE, "grant", uid, seat->name, info->id, NULL,
                        "Granted uid %u on %s (ports %s, session %s, held by %s)", uid, seat->name,
                        ports, info->id, sender);
          sg_gate1_emit_granted (service->skeleton, seat->name, uid);
        }
    }

  if (n_granted == 0)
    {
      g_autofree char *message = g_strdup_printf ("uid %u was not granted: %s", uid, why_not->str);
      if (kernel_failed)
        refuse_grant (call, uid, SG_ERROR_FAILED, "grant-failed", message);
      else
        refuse_grant (call, uid, SG_ERROR_NOT_SEAT_OWNER, "refuse-not-owner", message);
      return;
    }
  publish_grants (service);
  sg_gate1_complete_grant (service->skeleton, call->invocation);
  sg_log_batch_time ("grant", uid, n_granted == 1 ? granted_seat : NULL, n_granted, batch_ns);
}

/* Every answer of logind, polkit and the bus daemon is in. The invocation is
 * answered on every path: an unanswered one is never freed. */
static void
grant_checked (SgGrantCheck *check, gpointer data)
{
  g_autoptr (GrantCall) call = data;
  g_autoptr (GError) error = NULL;
  const char *abandoned = sg_grant_check_get_abandoned (check);
  guint32 uid = sg_grant_check_get_uid (check);
  GPtrArray *allowed;

  if (abandoned != NULL)
    {
      g_dbus_method_invocation_return_error (call->invocation, SG_ERROR, SG_ERROR_FAILED,
                                             "not granted: %s while seatgate was checking",
                                             abandoned);
      return;
    }
  allowed = sg_grant_check_get_allowed (check, &error);
  if (allowed == NULL && uid == SG_NO_UID)
    g_dbus_method_invocation_return_gerror (call->invocation, error);
  else if (allowed == NULL)
    refuse_grant (call, uid, error->code,
                  error->code == SG_ERROR_NOT_SEAT_OWNER ? "refuse-not-owner" : "refuse-polkit",
                  error->message);
  else
    commit_grant (call, uid, allowed);
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

/* Waiting, not refusing: the console user's agent asks as soon as logind is
 * back or its session is active, often before the helper has read the seat,
 * and a refused agent does not ask again until something changes. */
static void
read_seats_when_settled (GrantCall *call)
{
  if (sg_grant_check_get_abandoned (call->check) == NULL && seats_settling (call->service))
    g_ptr_array_add (call->service->parked, call);
  else
    sg_grant_check_read_seats (call->check); /* may end the call */
}

/* Calls that came while the seats' view settled go on once it has. */
static void
resume_parked (SgGateService *service)
{
  if (service->parked->len == 0 || seats_settling (service))
    return;
  g_autoptr (GPtrArray) parked = g_steal_pointer (&service->parked);
  service->parked = g_ptr_array_new ();
  for (guint i = 0; i < parked->len; i++)
    read_seats_when_settled (parked->pdata[i]);
}

/* The caller left the bus or released: its Grant() calls still on their way
 * must not commit. */
static void
abandon_grant_calls (SgGateService *service, const char *sender, const char *why)
{
  g_autoptr (GPtrArray) checks = g_ptr_array_new ();

  /* Collected first: abandoning may end a call, which leaves the list. */
  for (guint i = 0; i < service->grant_calls->len; i++)
    {
      GrantCall *call = service->grant_calls->pdata[i];
      if (g_str_equal (sg_grant_check_get_sender (call->check), sender))
        g_ptr_array_add (checks, call->check);
    }
  for (guint i = 0; i < checks->len; i++)
    sg_grant_check_abandon (checks->pdata[i], why);
}

static gboolean
handle_grant (SgGate1 *skeleton, GDBusMethodInvocation *invocation, gpointer data)
{
  SgGateService *service = data;
  GrantCall *call = g_new0 (GrantCall, 1);
  const SgGrantCheckEnv env = {
    .bus = service->bus,
    .config = service->config,
    .monitor = service->monitor,
    .throttle = service->throttle,
    .cancellable = service->cancellable,
  };

  call->service = service;
  call->invocation = g_object_ref (invocation);
  g_ptr_array_add (service->grant_calls, call);
  call->check
      = sg_grant_check_start (&env, g_dbus_method_invocation_get_sender (invocation),
                              invocation_allows_interaction (invocation), grant_checked, call);
  read_seats_when_settled (call);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- OpenConsole() ---- */

/* Only a connection that holds a live grant learns how to reach the console,
 * and the ticket: another connection of the same uid must Grant() first,
 * which checks logind and polkit again. */
static gboolean
handle_open_console (SgGate1 *skeleton, GDBusMethodInvocation *invocation, gpointer data)
{
  SgGateService *service = data;
  const char *sender = g_dbus_method_invocation_get_sender (invocation);
  g_autoptr (GPtrArray) held = sg_grant_registry_seats_of_holder (service->registry, sender);
  GVariantBuilder console;

  if (held->len == 0)
    {
      g_dbus_method_invocation_return_error_literal (
          invocation, SG_ERROR, SG_ERROR_NOT_SEAT_OWNER,
          "This connection holds no grant, so it may not open a VM console: ask for the grant "
          "first (Grant(), or seatgatectl grant), as the owner of a seat's active local session");
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
  /* A uid at two seats at once holds both; the first by name answers. */
  SgGrant *grant = sg_grant_registry_lookup (service->registry, held->pdata[0]);
  guint16 port = sg_array_ports (seat_config (service, grant->seat)->ports)[0];
  g_autofree char *uri = g_strdup_printf ("spice://%s:%u", SG_CONSOLE_HOST, port);

  g_variant_builder_init (&console, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&console, "{sv}", "seat", g_variant_new_string (grant->seat));
  g_variant_builder_add (&console, "{sv}", "uri", g_variant_new_string (uri));
  g_variant_builder_add (&console, "{sv}", "host", g_variant_new_string (SG_CONSOLE_HOST));
  g_variant_builder_add (&console, "{sv}", "port", g_variant_new_uint16 (port));
  if (grant->ticket != NULL)
    g_variant_builder_add (&console, "{sv}", "password", g_variant_new_string (grant->ticket));
  sg_log_event (G_LOG_LEVEL_INFO, "open-console", grant->uid, grant->seat, grant->session_id, NULL,
                "Told %s (uid %u) how to reach %s's console%s", sender, grant->uid, grant->seat,
                grant->ticket != NULL ? ", with its ticket" : "");
  sg_gate1_complete_open_console (skeleton, invocation, g_variant_builder_end (&console));
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
  abandon_grant_calls (service, sender, "the caller released");

  revoke_seats (service, orphaned, SG_REVOKE_RELEASED);
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

  if (!sg_authority_check_finish (result, &error))
    {
      sg_log_refusal ("refuse-revoke", req->uid, NULL, NULL, "admin",
                      "Refused Revoke(%u) from %s: %s", req->uid, sender, error->message);
      g_dbus_method_invocation_return_error (
          invocation, SG_ERROR, SG_ERROR_NOT_AUTHORIZED,
          "revoking uid %u's grant needs administrator rights (polkit action %s): %s", req->uid,
          sg_authority_action_for_method ("Revoke"), error->message);
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
  revoke_seats (req->service, seats, SG_REVOKE_ADMIN);
  sg_gate1_complete_revoke (req->service->skeleton, invocation);
}

static void
start_revoke_authorization (gpointer data, GAsyncReadyCallback callback, gpointer callback_data)
{
  RevokeRequest *req = data;

  sg_authority_check (req->service->bus, g_dbus_method_invocation_get_sender (req->invocation),
                      sg_authority_action_for_method ("Revoke"), NULL,
                      invocation_allows_interaction (req->invocation), req->service->cancellable,
                      callback, callback_data);
}

static gboolean
handle_revoke (SgGate1 *skeleton, GDBusMethodInvocation *invocation, guint32 uid, gpointer data)
{
  SgGateService *service = data;
  RevokeRequest *req = g_new0 (RevokeRequest, 1);

  req->service = service;
  req->invocation = g_object_ref (invocation);
  req->uid = uid;
  sg_call_throttle_run (service->throttle, start_revoke_authorization, revoke_authorized, req);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- someone else's firewall change ---- */

static gboolean
match_not_granted (guint32 uid, guint16 port, gpointer data)
{
  SgGateService *service = data;
  const SgSeatConfig *seat = sg_config_seat_for_port (service->config, port);
  SgGrant *grant = seat != NULL ? sg_grant_registry_lookup (service->registry, seat->name) : NULL;

  if (sg_gate_always_allowed (service->config->always_allow, uid))
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
    sg_helper_fail_closed ("Could not restore the table (%s)", error->message);
  /* While the table was gone anyone could connect: end what slipped in. */
  if (!sg_sock_destroy_matching (sg_array_ports (ports), ports->len, match_not_granted, service,
                                 &n_destroyed, &error))
    g_warning ("Could not close the connections made while the table was gone: %s", error->message);
  else if (n_destroyed > 0)
    sg_log_event (G_LOG_LEVEL_WARNING, "table-restored", SG_NO_UID, NULL, NULL, NULL,
                  "Closed %u connection(s) made while the table was gone", n_destroyed);
}

/* ---- life ---- */

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
  service->grant_calls = g_ptr_array_new ();
  service->throttle = sg_call_throttle_new (CALLS_IN_FLIGHT);
  service->parked = g_ptr_array_new ();
  service->cuts = g_array_new (FALSE, FALSE, sizeof (CutPair));
  service->skeleton = sg_gate1_skeleton_new ();
  sg_gate1_set_version (service->skeleton, SG_VERSION);
  sg_gate1_set_seats (service->skeleton, sg_wire_seats (config));
  publish_grants (service);
  g_signal_connect (service->skeleton, "handle-grant", G_CALLBACK (handle_grant), service);
  g_signal_connect (service->skeleton, "handle-release", G_CALLBACK (handle_release), service);
  g_signal_connect (service->skeleton, "handle-revoke", G_CALLBACK (handle_revoke), service);
  g_signal_connect (service->skeleton, "handle-open-console", G_CALLBACK (handle_open_console),
                    service);

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
  watch_session_files (service);
  return g_steal_pointer (&service);
}

void
sg_gate_service_shutdown (SgGateService *service)
{
  revoke_all (service, SG_REVOKE_SHUTDOWN);
}

void
sg_gate_service_free (SgGateService *service)
{
  if (service == NULL)
    return;
  g_cancellable_cancel (service->cancellable);
  g_clear_pointer (&service->monitor, sg_seat_monitor_free);
  g_clear_pointer (&service->files, sg_logind_files_free);
  g_clear_error (&service->files_error);
  if (service->name_owner_subscription != 0)
    g_dbus_connection_signal_unsubscribe (service->bus, service->name_owner_subscription);
  if (service->skeleton != NULL)
    {
      g_dbus_interface_skeleton_unexport (G_DBUS_INTERFACE_SKELETON (service->skeleton));
      g_object_unref (service->skeleton);
    }
  g_clear_pointer (&service->registry, sg_grant_registry_free);
  g_clear_pointer (&service->throttle, sg_call_throttle_free);
  g_ptr_array_unref (service->grant_calls);
  g_ptr_array_unref (service->parked);
  g_array_unref (service->cuts);
  g_clear_object (&service->cancellable);
  g_object_unref (service->bus);
  g_free (service);
}
