/* The VM binding through libvirt (vm-libvirt.h). What shapes this file:
 *
 * - libvirt's API blocks, and a daemon that is stopped never answers: every
 *   call runs on this binding's single worker thread (a GThreadPool of one,
 *   so calls keep their order); the caller's bounded wait is vm-console's.
 *   Keepalive (virConnectSetKeepAlive) ends a connection to a daemon that
 *   stopped answering, which unblocks the worker; the close callback marks
 *   the connection dead so the next call opens a new one.
 * - A daemon that is gone (stopped, restarting without socket activation,
 *   not yet started at boot) refuses connections: a monitor on the folder
 *   of the socket libvirt's client uses (vm-libvirt-socket.c) sees the next
 *   daemon create it, and the binding connects again by itself, so events
 *   and the lock of a first connection do not wait for the next grant. The
 *   daemon binds its socket (the file appears) a moment before it listens:
 *   a failed try after the file appeared is repeated a few times,
 *   RETRY_MS apart.
 * - Keepalive and events need libvirt's event loop: the default impl,
 *   registered once per process before the first virConnectOpen, run by a
 *   thread of its own. Events go to the main context with
 *   g_main_context_invoke.
 * - What virDomainUpdateDeviceFlags takes for graphics: libvirt's
 *   qemuDomainChangeGraphics (src/qemu/qemu_hotplug.c) refuses any change
 *   of port, autoport, tlsPort, listen addresses or keymap ("cannot change
 *   port settings on spice graphics"), and when passwd, passwdValidTo or
 *   connected differ, or connected is 'disconnect', it calls
 *   qemuDomainChangeGraphicsPasswords: QMP set_password with `connected`,
 *   then expire_password "now" for a passwdValidTo in the past, "never"
 *   without one. So the element sent is the live one, unchanged but for
 *   those three attributes, <listen> children included: an element with
 *   only the listen= attribute made libvirt 9.0 drop the live <listen>.
 * - The live XML is read without VIR_DOMAIN_XML_SECURE: the current
 *   password never enters this process. libxml2 builds the element with a
 *   placeholder; the ticket is put in only in our own buffer, wiped after
 *   the call. */
#include "vm-libvirt.h"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <string.h>

#include "sg-error.h"
#include "vm-libvirt-keys.h"
#include "vm-libvirt-socket.h"

/* libvirt's keepalive: a probe each second, the connection closed after 2
 * unanswered ones; within SG_VM_CONSOLE_TIMEOUT_MS. */
#define KEEPALIVE_INTERVAL_S 1
#define KEEPALIVE_COUNT 2

#define RETRIES 5
#define RETRY_MS 50

/* Stands in for the password in the XML libxml2 builds. */
#define PLACEHOLDER "@SEATGATE-PASSWORD@"

typedef struct
{
  char *uri;
  char *domain;
  GMainContext *context;
  /* Main context only: */
  SgVmLibvirt *owner; /* NULL once freed */
  /* Worker thread only: */
  virConnectPtr conn;
  int graphics_id;
  int lifecycle_id;
  gboolean ever_connected;
  /* Set by the close callback (event thread), read by the worker. */
  gint dead;
} Shared;

struct _SgVmLibvirt
{
  Shared *shared;
  const SgVmLibvirtEvents *events;
  gpointer user_data;
  GThreadPool *worker;
  /* NULL for a URI without a local socket, or its folder missing. */
  GFileMonitor *socket_watch;
  GStrv socket_names;
  guint retries_left;
  guint retry_id;
};

typedef enum
{
  JOB_CONNECT,
  JOB_RECONNECT,
  JOB_PASSWORD,
  JOB_KEYS,
  JOB_CLOSE,
} JobKind;

typedef struct
{
  JobKind kind;
  GTask *task; /* NULL for JOB_CONNECT, JOB_RECONNECT and JOB_CLOSE */
  char *password;
  gboolean lock;
  GArray *keys; /* guint: linux keycodes */
} Job;

static Shared *
shared_ref (Shared *shared)
{
  return g_atomic_rc_box_acquire (shared);
}

static void
shared_clear (Shared *shared)
{
  g_free (shared->uri);
  g_free (shared->domain);
  g_main_context_unref (shared->context);
}

static void
shared_unref (gpointer shared)
{
  g_atomic_rc_box_release_full (shared, (GDestroyNotify) shared_clear);
}

static void
wipe_free (char *text)
{
  if (text == NULL)
    return;
  explicit_bzero (text, strlen (text));
  g_free (text);
}

static void
job_free (Job *job)
{
  wipe_free (job->password);
  g_clear_object (&job->task);
  if (job->keys != NULL)
    g_array_unref (job->keys);
  g_free (job);
}

/* --- the event loop ---------------------------------------------------- */

static gpointer
run_event_loop (gpointer data)
{
  for (;;)
    if (virEventRunDefaultImpl () < 0)
      g_warning ("libvirt's event loop: %s", virGetLastErrorMessage ());
  return NULL;
}

static void
ignore_error (void *data, virErrorPtr error)
{
}

static gpointer
start_event_loop (gpointer data)
{
  /* libvirt prints every failed call's error to stderr unless a handler is
   * set (virSetErrorFunc (NULL, NULL) restores that printing): the messages
   * reach the log through our errors instead. */
  virSetErrorFunc (NULL, ignore_error);
  if (virInitialize () < 0 || virEventRegisterDefaultImpl () < 0)
    return GINT_TO_POINTER (FALSE);
  g_thread_unref (g_thread_new ("sg-libvirt-events", run_event_loop, NULL));
  return GINT_TO_POINTER (TRUE);
}

static gboolean
ensure_event_loop (GError **error)
{
  static GOnce once = G_ONCE_INIT;

  if (GPOINTER_TO_INT (g_once (&once, start_event_loop, NULL)))
    return TRUE;
  g_set_error (error, SG_ERROR, SG_ERROR_FAILED, "cannot start libvirt's event loop");
  return FALSE;
}

/* --- events, from the event thread to the main context ----------------- */

typedef enum
{
  DELIVER_CLIENT,
  DELIVER_REACHABLE,
  DELIVER_CLOSED,      /* the connection ended under us */
  DELIVER_UNREACHABLE, /* a connection asked by nobody failed */
} DeliveryKind;

typedef struct
{
  Shared *shared;
  DeliveryKind kind;
  SgVmClientEvent event;
  char *host;
  char *port;
} Delivery;

static void
delivery_free (gpointer data)
{
  Delivery *d = data;
  shared_unref (d->shared);
  g_free (d->host);
  g_free (d->port);
  g_free (d);
}

static void
push (SgVmLibvirt *vm, Job *job)
{
  g_thread_pool_push (vm->worker, job, NULL);
}

static void
push_reconnect (SgVmLibvirt *vm)
{
  Job *job = g_new0 (Job, 1);
  job->kind = JOB_RECONNECT;
  push (vm, job);
}

static gboolean
on_retry (gpointer data)
{
  SgVmLibvirt *vm = data;

  vm->retry_id = 0;
  push_reconnect (vm);
  return G_SOURCE_REMOVE;
}

static gboolean
deliver (gpointer data)
{
  Delivery *d = data;
  SgVmLibvirt *vm = d->shared->owner;

  if (vm == NULL)
    return G_SOURCE_REMOVE;
  if (d->kind == DELIVER_UNREACHABLE)
    {
      if (vm->retries_left > 0 && vm->retry_id == 0)
        {
          vm->retries_left--;
          vm->retry_id = g_timeout_add (RETRY_MS, on_retry, vm);
        }
    }
  else if (d->kind == DELIVER_CLOSED)
    {
      /* Without a connection no graphics events arrive: open the next one
       * now rather than at the next grant. It waits for a daemon that is
       * stopped, and fails at once for one that is gone (then the next
       * operation tries again). */
      g_debug ("libvirt %s: the connection ended; connecting again", d->shared->uri);
      push_reconnect (vm);
    }
  else if (vm->events == NULL)
    ;
  else if (d->kind == DELIVER_REACHABLE && vm->events->reachable != NULL)
    vm->events->reachable (vm, vm->user_data);
  else if (d->kind == DELIVER_CLIENT && vm->events->client != NULL)
    vm->events->client (vm, d->event, d->host, d->port, vm->user_data);
  return G_SOURCE_REMOVE;
}

static void
post (Shared *shared, Delivery *d)
{
  d->shared = shared_ref (shared);
  g_main_context_invoke_full (shared->context, G_PRIORITY_DEFAULT, deliver, d, delivery_free);
}

static gboolean
is_our_domain (Shared *shared, virDomainPtr dom)
{
  const char *name = virDomainGetName (dom);
  return name != NULL && g_str_equal (name, shared->domain);
}

static void
on_graphics (virConnectPtr conn, virDomainPtr dom, int phase,
             const virDomainEventGraphicsAddress *local,
             const virDomainEventGraphicsAddress *remote, const char *auth_scheme,
             const virDomainEventGraphicsSubject *subject, void *opaque)
{
  Shared *shared = opaque;
  SgVmClientEvent event;

  if (!is_our_domain (shared, dom) || remote == NULL)
    return;
  switch (phase)
    {
    case VIR_DOMAIN_EVENT_GRAPHICS_CONNECT:
      event = SG_VM_CLIENT_CONNECTED;
      break;
    case VIR_DOMAIN_EVENT_GRAPHICS_INITIALIZE:
      event = SG_VM_CLIENT_INITIALIZED;
      break;
    case VIR_DOMAIN_EVENT_GRAPHICS_DISCONNECT:
      event = SG_VM_CLIENT_DISCONNECTED;
      break;
    default:
      return;
    }
  Delivery *d = g_new0 (Delivery, 1);
  d->kind = DELIVER_CLIENT;
  d->event = event;
  d->host = g_strdup (remote->node);
  d->port = g_strdup (remote->service);
  post (shared, d);
}

static int
on_lifecycle (virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
  Shared *shared = opaque;

  /* A domain that (re)started holds the password of its XML: lock it. */
  if (event == VIR_DOMAIN_EVENT_STARTED && is_our_domain (shared, dom))
    {
      Delivery *d = g_new0 (Delivery, 1);
      d->kind = DELIVER_REACHABLE;
      post (shared, d);
    }
  return 0;
}

static void
on_close (virConnectPtr conn, int reason, void *opaque)
{
  Shared *shared = opaque;
  Delivery *d = g_new0 (Delivery, 1);

  g_atomic_int_set (&shared->dead, TRUE);
  d->kind = DELIVER_CLOSED;
  post (shared, d);
}

/* --- the worker thread ----------------------------------------------- */

static void
drop_connection (Shared *shared)
{
  if (shared->conn == NULL)
    return;
  if (shared->graphics_id >= 0)
    virConnectDomainEventDeregisterAny (shared->conn, shared->graphics_id);
  if (shared->lifecycle_id >= 0)
    virConnectDomainEventDeregisterAny (shared->conn, shared->lifecycle_id);
  virConnectUnregisterCloseCallback (shared->conn, on_close);
  virConnectClose (shared->conn);
  shared->conn = NULL;
  shared->graphics_id = shared->lifecycle_id = -1;
}

static void G_GNUC_PRINTF (3, 4) fail (Shared *shared, GError **error, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *what = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, SG_ERROR, SG_ERROR_FAILED, "%s", what);
}

/* The connection, opened if there is none (or it died): @opened says a new
 * one was made. */
static gboolean
ensure_connection (Shared *shared, gboolean *opened, GError **error)
{
  *opened = FALSE;
  if (shared->conn != NULL && g_atomic_int_get (&shared->dead))
    drop_connection (shared);
  if (shared->conn != NULL)
    return TRUE;
  if (!ensure_event_loop (error))
    return FALSE;

  g_atomic_int_set (&shared->dead, FALSE);
  virConnectPtr conn = virConnectOpen (shared->uri);
  if (conn == NULL)
    {
      fail (shared, error,
            "cannot connect to libvirt (%s): is libvirtd (or virtqemud) running, and is "
            "LibvirtURI= right?",
            virGetLastErrorMessage ());
      return FALSE;
    }
  shared->conn = conn;
  if (virConnectSetKeepAlive (conn, KEEPALIVE_INTERVAL_S, KEEPALIVE_COUNT) < 0)
    g_debug ("libvirt %s: no keepalive (%s)", shared->uri, virGetLastErrorMessage ());
  virConnectRegisterCloseCallback (conn, on_close, shared_ref (shared), shared_unref);
  shared->graphics_id = virConnectDomainEventRegisterAny (conn, NULL, VIR_DOMAIN_EVENT_ID_GRAPHICS,
                                                          VIR_DOMAIN_EVENT_CALLBACK (on_graphics),
                                                          shared_ref (shared), shared_unref);
  if (shared->graphics_id < 0)
    {
      shared_unref (shared);
      g_warning ("libvirt %s: no graphics events, so no ConsoleClient signals (%s)", shared->uri,
                 virGetLastErrorMessage ());
    }
  shared->lifecycle_id = virConnectDomainEventRegisterAny (
      conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE, VIR_DOMAIN_EVENT_CALLBACK (on_lifecycle),
      shared_ref (shared), shared_unref);
  if (shared->lifecycle_id < 0)
    {
      shared_unref (shared);
      g_warning ("libvirt %s: no lifecycle events: a restarted domain is locked at the next "
                 "grant or revoke only (%s)",
                 shared->uri, virGetLastErrorMessage ());
    }
  *opened = TRUE;
  shared->ever_connected = TRUE;
  return TRUE;
}

/* The running domain, or NULL with an error that says what to do. */
static virDomainPtr
running_domain (Shared *shared, GError **error)
{
  gboolean opened;

  if (!ensure_connection (shared, &opened, error))
    return NULL;
  virDomainPtr dom = virDomainLookupByName (shared->conn, shared->domain);
  if (dom == NULL)
    {
      virErrorPtr err = virGetLastError ();
      gboolean missing = err != NULL && err->code == VIR_ERR_NO_DOMAIN;
      if (!missing)
        drop_connection (shared);
      fail (shared, error, "%s%s",
            missing ? "libvirt has no such domain: is LibvirtDomain= the name `virsh list "
                      "--all` shows? "
                    : "",
            virGetLastErrorMessage ());
      return NULL;
    }
  int active = virDomainIsActive (dom);
  if (active != 1)
    {
      fail (shared, error, "%s",
            active == 0 ? "the domain is not running: start it (virsh start)"
                        : virGetLastErrorMessage ());
      virDomainFree (dom);
      return NULL;
    }
  return dom;
}

/* The live domain's <graphics type='spice'> with the password attributes
 * set for @lock, serialised with PLACEHOLDER as the password. */
static char *
graphics_element (const char *domain_xml, gboolean lock, GError **error)
{
  xmlDocPtr doc = xmlReadMemory (domain_xml, (int) strlen (domain_xml), "domain.xml", NULL,
                                 XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  char *out = NULL;

  if (doc == NULL)
    {
      g_set_error (error, SG_ERROR, SG_ERROR_FAILED, "libvirt's domain XML does not parse");
      return NULL;
    }
  xmlXPathContextPtr xpath = xmlXPathNewContext (doc);
  xmlXPathObjectPtr found
      = xmlXPathEvalExpression ((const xmlChar *) "/domain/devices/graphics[@type='spice']", xpath);
  int n = found != NULL && found->nodesetval != NULL ? found->nodesetval->nodeNr : 0;

  if (n != 1)
    g_set_error (error, SG_ERROR, SG_ERROR_FAILED,
                 n == 0 ? "the domain has no <graphics type='spice'>: give it one as "
                          "docs/vm-binding.md says"
                        : "the domain has %d <graphics type='spice'>: seatgate guards one",
                 n);
  else
    {
      xmlNodePtr node = found->nodesetval->nodeTab[0];
      xmlUnsetProp (node, (const xmlChar *) "passwdValidTo");
      xmlSetProp (node, (const xmlChar *) "passwd", (const xmlChar *) PLACEHOLDER);
      if (lock)
        xmlSetProp (node, (const xmlChar *) "passwdValidTo",
                    (const xmlChar *) "1970-01-01T00:00:00");
      xmlSetProp (node, (const xmlChar *) "connected",
                  (const xmlChar *) (lock ? "disconnect" : "keep"));
      xmlBufferPtr buffer = xmlBufferCreate ();
      if (xmlNodeDump (buffer, doc, node, 0, 0) > 0)
        out = g_strdup ((const char *) xmlBufferContent (buffer));
      xmlBufferFree (buffer);
      if (out == NULL)
        g_set_error (error, SG_ERROR, SG_ERROR_FAILED, "cannot write the graphics element");
    }
  xmlXPathFreeObject (found);
  xmlXPathFreeContext (xpath);
  xmlFreeDoc (doc);
  return out;
}

static gboolean
set_password (Shared *shared, const char *password, gboolean lock, GError **error)
{
  g_autoptr (GError) local_error = NULL;
  virDomainPtr dom = running_domain (shared, error);

  if (dom == NULL)
    return FALSE;
  /* Not VIR_DOMAIN_XML_SECURE: the element comes back without passwd. */
  char *xml = virDomainGetXMLDesc (dom, 0);
  if (xml == NULL)
    {
      fail (shared, error, "cannot read the domain's XML (%s)", virGetLastErrorMessage ());
      virDomainFree (dom);
      return FALSE;
    }
  g_autofree char *element = graphics_element (xml, lock, &local_error);
  free (xml);
  if (element == NULL)
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      virDomainFree (dom);
      return FALSE;
    }

  /* The password goes in here, in a buffer of ours, wiped below. base64url
   * and the placeholder need no XML escaping. */
  g_assert (strspn (password, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
            == strlen (password));
  char *at = strstr (element, PLACEHOLDER);
  g_assert (at != NULL);
  GString *secret = g_string_sized_new (strlen (element) + strlen (password));
  g_string_append_len (secret, element, at - element);
  g_string_append (secret, password);
  g_string_append (secret, at + strlen (PLACEHOLDER));

  int rc = virDomainUpdateDeviceFlags (dom, secret->str, VIR_DOMAIN_AFFECT_LIVE);
  explicit_bzero (secret->str, secret->allocated_len);
  g_string_free (secret, TRUE);
  /* libvirt starts QEMU with disable-ticketing=on when the domain's
   * <graphics> has no passwd, and QEMU then refuses every password. */
  if (rc < 0 && strstr (virGetLastErrorMessage (), "Could not set password") != NULL)
    fail (shared, error,
          "libvirt could not set a SPICE password (%s): a domain started without passwd= in "
          "its <graphics type='spice'> takes none; give it a random passwd= and a "
          "passwdValidTo= in the past as docs/vm-binding.md says, and start it again",
          virGetLastErrorMessage ());
  else if (rc < 0)
    fail (shared, error, "libvirt refused the new SPICE password (%s)", virGetLastErrorMessage ());
  virDomainFree (dom);
  return rc == 0;
}

static gboolean
send_keys (Shared *shared, GArray *keys, GError **error)
{
  virDomainPtr dom = running_domain (shared, error);

  if (dom == NULL)
    return FALSE;
  int rc = virDomainSendKey (dom, VIR_KEYCODE_SET_LINUX, 0, (unsigned int *) keys->data,
                             (int) keys->len, 0);
  if (rc < 0)
    fail (shared, error, "libvirt refused to send the lock keys (%s)", virGetLastErrorMessage ());
  virDomainFree (dom);
  return rc == 0;
}

static void
post_unreachable (Shared *shared)
{
  Delivery *d = g_new0 (Delivery, 1);
  d->kind = DELIVER_UNREACHABLE;
  post (shared, d);
}

static void
run_job (gpointer data, gpointer user_data)
{
  Job *job = data;
  Shared *shared = user_data;
  g_autoptr (GError) error = NULL;
  gboolean opened = FALSE;
  gboolean ok = FALSE;

  /* Until a first connection, any connection is the first. */
  if (job->kind == JOB_RECONNECT && !shared->ever_connected)
    job->kind = JOB_CONNECT;
  switch (job->kind)
    {
    case JOB_CONNECT:
      /* The first connection: "reachable" once the domain runs. */
      if (!ensure_connection (shared, &opened, &error))
        post_unreachable (shared);
      else
        {
          virDomainPtr dom = running_domain (shared, &error);
          if (dom != NULL)
            {
              virDomainFree (dom);
              Delivery *d = g_new0 (Delivery, 1);
              d->kind = DELIVER_REACHABLE;
              post (shared, d);
            }
        }
      if (error != NULL)
        g_debug ("libvirt %s, domain %s: %s", shared->uri, shared->domain, error->message);
      break;
    case JOB_RECONNECT:
      /* Not "reachable": the domain ran on without libvirtd, holding the
       * password it last had. */
      if (!ensure_connection (shared, &opened, &error))
        {
          g_debug ("libvirt %s: reconnecting: %s", shared->uri, error->message);
          post_unreachable (shared);
        }
      break;
    case JOB_PASSWORD:
      ok = set_password (shared, job->password, job->lock, &error);
      break;
    case JOB_KEYS:
      ok = send_keys (shared, job->keys, &error);
      break;
    case JOB_CLOSE:
      drop_connection (shared);
      /* The last job: the pool's reference (sg_vm_libvirt_new) ends. */
      shared_unref (shared);
      break;
    }
  if (job->task != NULL && ok)
    g_task_return_boolean (job->task, TRUE);
  else if (job->task != NULL)
    g_task_return_error (job->task, g_steal_pointer (&error));
  job_free (job);
}

/* --- the main-context side ------------------------------------------- */

static void
on_socket_folder_changed (GFileMonitor *monitor, GFile *file, GFile *other, GFileMonitorEvent event,
                          gpointer user_data)
{
  SgVmLibvirt *vm = user_data;
  /* Not ATTRIBUTE_CHANGED: inotify sends it for the unlink of the old
   * daemon's socket too, and connecting to a daemon that is leaving only
   * queues calls that fail. */
  GFile *changed = event == G_FILE_MONITOR_EVENT_RENAMED ? other
                   : event == G_FILE_MONITOR_EVENT_CREATED || event == G_FILE_MONITOR_EVENT_MOVED_IN
                       ? file
                       : NULL;

  if (changed == NULL)
    return;
  g_autofree char *name = g_file_get_basename (changed);
  if (!g_strv_contains ((const char *const *) vm->socket_names, name))
    return;
  /* A connection that is alive makes the job a no-op. */
  vm->retries_left = RETRIES;
  push_reconnect (vm);
}

static void
watch_socket_folder (SgVmLibvirt *vm, const char *uri)
{
  g_autofree char *folder = NULL;
  g_autoptr (GError) error = NULL;

  if (!sg_vm_libvirt_socket_files (uri, &folder, &vm->socket_names))
    {
      g_debug ("libvirt %s: not a local socket; after a lost connection the next grant or "
               "revoke connects again",
               uri);
      return;
    }
  /* Not a folder that is missing: GLib would look for it on a timer. */
  if (!g_file_test (folder, G_FILE_TEST_IS_DIR))
    {
      g_warning ("libvirt %s: %s does not exist, so a libvirt daemon started later is reached "
                 "only at the next grant or revoke: start seatgate after libvirtd (or its "
                 "socket)",
                 uri, folder);
      return;
    }
  g_autoptr (GFile) dir = g_file_new_for_path (folder);
  vm->socket_watch = g_file_monitor_directory (dir, G_FILE_MONITOR_WATCH_MOVES, NULL, &error);
  if (vm->socket_watch == NULL)
    {
      g_warning ("libvirt %s: cannot watch %s (%s): a libvirt daemon that comes back is reached "
                 "only at the next grant or revoke",
                 uri, folder, error->message);
      return;
    }
  g_signal_connect (vm->socket_watch, "changed", G_CALLBACK (on_socket_folder_changed), vm);
}

SgVmLibvirt *
sg_vm_libvirt_new (const char *uri, const char *domain, const SgVmLibvirtEvents *events,
                   gpointer user_data)
{
  SgVmLibvirt *vm = g_new0 (SgVmLibvirt, 1);
  Shared *shared = g_atomic_rc_box_new0 (Shared);

  shared->uri = g_strdup (uri);
  shared->domain = g_strdup (domain);
  shared->context = g_main_context_ref_thread_default ();
  shared->owner = vm;
  shared->graphics_id = shared->lifecycle_id = -1;
  vm->shared = shared;
  vm->events = events;
  vm->user_data = user_data;
  /* One exclusive thread: the calls run in order. It holds its own
   * reference on shared until the pool is gone. */
  vm->worker = g_thread_pool_new (run_job, shared_ref (shared), 1, TRUE, NULL);
  watch_socket_folder (vm, uri);
  return vm;
}

void
sg_vm_libvirt_start (SgVmLibvirt *vm)
{
  Job *job = g_new0 (Job, 1);
  job->kind = JOB_CONNECT;
  push (vm, job);
}

void
sg_vm_libvirt_set_password_async (SgVmLibvirt *vm, const char *password, gboolean lock,
                                  GAsyncReadyCallback callback, gpointer user_data)
{
  Job *job = g_new0 (Job, 1);

  job->kind = JOB_PASSWORD;
  job->task = g_task_new (NULL, NULL, callback, user_data);
  g_task_set_source_tag (job->task, sg_vm_libvirt_set_password_async);
  job->password = g_strdup (password);
  job->lock = lock;
  push (vm, job);
}

gboolean
sg_vm_libvirt_set_password_finish (SgVmLibvirt *vm, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

void
sg_vm_libvirt_send_keys_async (SgVmLibvirt *vm, const char *const *keys,
                               GAsyncReadyCallback callback, gpointer user_data)
{
  Job *job = g_new0 (Job, 1);

  job->kind = JOB_KEYS;
  job->task = g_task_new (NULL, NULL, callback, user_data);
  g_task_set_source_tag (job->task, sg_vm_libvirt_send_keys_async);
  job->keys = g_array_new (FALSE, FALSE, sizeof (guint));
  for (const char *const *k = keys; *k != NULL; k++)
    {
      int code = sg_vm_libvirt_linux_keycode (*k);
      if (code < 0)
        {
          g_task_return_new_error (job->task, SG_ERROR, SG_ERROR_FAILED,
                                   "LockKeys: '%s' has no Linux key code for libvirt", *k);
          job_free (job);
          return;
        }
      guint value = (guint) code;
      g_array_append_val (job->keys, value);
    }
  push (vm, job);
}

gboolean
sg_vm_libvirt_send_keys_finish (SgVmLibvirt *vm, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

void
sg_vm_libvirt_free (SgVmLibvirt *vm)
{
  if (vm == NULL)
    return;
  vm->shared->owner = NULL;
  if (vm->socket_watch != NULL)
    g_signal_handlers_disconnect_by_data (vm->socket_watch, vm);
  g_clear_object (&vm->socket_watch);
  g_strfreev (vm->socket_names);
  g_clear_handle_id (&vm->retry_id, g_source_remove);
  Job *job = g_new0 (Job, 1);
  job->kind = JOB_CLOSE;
  push (vm, job);
  /* Not immediate, no wait: the queued calls and the close run, then the
   * thread ends and drops its reference on shared. */
  g_thread_pool_free (vm->worker, FALSE, FALSE);
  shared_unref (vm->shared);
  g_free (vm);
}
