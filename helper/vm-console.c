/* A seat's VM told who may use its SPICE console, over its QMP socket
 * (vm-qmp.c) or through libvirt (vm-libvirt.c). What QEMU 7.2 does that
 * shapes the QMP side:
 * - It serves one QMP client per socket: a second connection waits unseen
 *   until the first closes. So there is one connection, kept for the VM's
 *   events, and operations queue for it.
 * - set_password with connected=keep leaves the new password expired when
 *   the old one had been expired (a lock expires it): the ticket needs
 *   expire_password time=never after it.
 * - A VM started with disable-ticketing=on refuses set_password ("Could not
 *   set password"); one started with password-secret= takes it.
 * - A stopped VM (SIGSTOP, a stuck main loop) accepts the connection into
 *   the socket's backlog and never answers: only a timeout tells.
 * Every operation has SG_VM_CONSOLE_TIMEOUT_MS from the moment it is asked,
 * time queued behind an earlier one and connecting included: a grant waits
 * one bound, not one per operation ahead of it. On a timeout of the running
 * operation the QMP connection is dropped, since the late reply of a stuck
 * command could not be told from the next one's; libvirt's worker thread
 * runs on, in order, and its late answer is ignored.
 *
 * When the VM goes away (EOF), a monitor on the socket's folder sees the
 * next QEMU create its socket and the console connects again by itself.
 * QEMU binds the socket (the file appears) a moment before it listens, so
 * a connection refused right after the file appeared is tried again a few
 * times, REFUSED_RETRY_MS apart.
 *
 * The ticket leaves this file only through new_ticket_finish: every copy
 * made here is wiped, and no message holds it. */
#include "vm-console.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "sg-build-config.h"
#include "sg-error.h"
#include "vm-qmp.h"
#if SG_HAVE_LIBVIRT
#include "vm-libvirt.h"
#endif

/* 24 random bytes: 192 bits, 32 base64url characters (SPICE tickets must
 * be shorter than 60 bytes). */
#define TICKET_BYTES 24

#define REFUSED_RETRIES 5
#define REFUSED_RETRY_MS 50

typedef enum
{
  OP_TICKET,
  OP_LOCK,
} OpKind;

typedef struct
{
  SgVmConsole *console;
  OpKind kind;
  guint64 serial;
  GTask *task;
  gboolean send_lock_keys;
  char *ticket; /* OP_TICKET: the ticket being set */
  guint step;
  guint timeout_id; /* from the moment it was asked */
} Op;

struct _SgVmConsole
{
  guint refs;
  gboolean freed;
  const SgSeatConfig *seat;
  const SgVmConsoleEvents *events;
  gpointer user_data;
  char *description;
  char *basename;
#if SG_HAVE_LIBVIRT
  SgVmLibvirt *libvirt; /* LibvirtDomain=: the backend instead of qmp */
#endif

  SgVmQmp *qmp;        /* NULL: no connection, none being made */
  gboolean connected;  /* qmp's handshake is done */
  guint64 generation;  /* of qmp: a callback of an older one is stale */
  guint64 next_serial; /* of ops */
  GQueue queue;        /* Op*: waiting, the first to run next */
  Op *current;
  GFileMonitor *monitor;
  guint refused_left; /* retries of a socket just created that refused */
  guint retry_id;
};

/* A callback's handle on the console: it keeps the struct alive and says
 * which connection or operation the callback was for. */
typedef struct
{
  SgVmConsole *console;
  guint64 which;
} Call;

static void run_step (SgVmConsole *console);
#if SG_HAVE_LIBVIRT
static void run_libvirt_step (SgVmConsole *console);
#endif
static void start_next (SgVmConsole *console);
static void console_connect (SgVmConsole *console);

static SgVmConsole *
console_ref (SgVmConsole *console)
{
  console->refs++;
  return console;
}

static void
console_unref (SgVmConsole *console)
{
  if (--console->refs > 0)
    return;
  g_free (console->description);
  g_free (console->basename);
  g_free (console);
}

static Call *
call_new (SgVmConsole *console, guint64 which)
{
  Call *call = g_new (Call, 1);
  call->console = console_ref (console);
  call->which = which;
  return call;
}

static void
call_free (Call *call)
{
  console_unref (call->console);
  g_free (call);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Call, call_free)

const char *
sg_vm_client_event_to_string (SgVmClientEvent event)
{
  switch (event)
    {
    case SG_VM_CLIENT_CONNECTED:
      return "connected";
    case SG_VM_CLIENT_INITIALIZED:
      return "initialized";
    case SG_VM_CLIENT_DISCONNECTED:
      return "disconnected";
    default:
      return "unknown";
    }
}

void
sg_vm_console_ticket_free (char *ticket)
{
  if (ticket == NULL)
    return;
  explicit_bzero (ticket, strlen (ticket));
  g_free (ticket);
}

/* A new random password: getrandom(2), not GLib's PRNG, which is seeded
 * from the time when /dev/urandom fails and is predictable from its output. */
static char *
random_ticket (GError **error)
{
  guint8 bytes[TICKET_BYTES];
  gsize got = 0;

  while (got < sizeof bytes)
    {
      ssize_t n = getrandom (bytes + got, sizeof bytes - got, 0);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int saved = errno;
          explicit_bzero (bytes, sizeof bytes);
          g_set_error (error, SG_ERROR, SG_ERROR_FAILED,
                       "cannot draw random bytes for a SPICE ticket (getrandom: %s)",
                       g_strerror (saved));
          return NULL;
        }
      got += (gsize) n;
    }

  char *ticket = g_base64_encode (bytes, sizeof bytes);
  explicit_bzero (bytes, sizeof bytes);
  /* base64url (RFC 4648 §5); 24 bytes need no padding. */
  for (char *c = ticket; *c != '\0'; c++)
    if (*c == '+')
      *c = '-';
    else if (*c == '/')
      *c = '_';
  g_assert (strlen (ticket) == 32 && strchr (ticket, '=') == NULL);
  return ticket;
}

static void
op_free (Op *op)
{
  g_clear_handle_id (&op->timeout_id, g_source_remove);
  sg_vm_console_ticket_free (op->ticket);
  g_clear_object (&op->task);
  g_free (op);
}

/* Drops the connection, so the next operation starts on a fresh one. */
static void
drop_connection (SgVmConsole *console)
{
  if (console->qmp == NULL)
    return;
  console->generation++;
  console->connected = FALSE;
  g_clear_pointer (&console->qmp, sg_vm_qmp_free);
}

static gboolean
uses_libvirt (SgVmConsole *console)
{
#if SG_HAVE_LIBVIRT
  return console->libvirt != NULL;
#else
  return FALSE;
#endif
}

/* Ends @op, the current operation or one still queued, with @error (taken)
 * or success, and starts the next. */
static void
finish_op (SgVmConsole *console, Op *op, GError *error)
{
  if (op == console->current)
    console->current = NULL;
  else
    g_queue_remove (&console->queue, op);
  g_clear_handle_id (&op->timeout_id, g_source_remove);
  console_ref (console);
  if (error != NULL)
    g_task_return_error (op->task, error);
  else if (op->kind == OP_TICKET)
    g_task_return_pointer (op->task, g_steal_pointer (&op->ticket),
                           (GDestroyNotify) sg_vm_console_ticket_free);
  else
    g_task_return_boolean (op->task, TRUE);
  op_free (op);
  if (!console->freed)
    start_next (console);
  console_unref (console);
}

static void
finish_current (SgVmConsole *console, GError *error)
{
  finish_op (console, console->current, error);
}

static void G_GNUC_PRINTF (3, 4) fail_op (SgVmConsole *console, Op *op, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *what = g_strdup_vprintf (format, args);
  va_end (args);

  finish_op (console, op,
             g_error_new (SG_ERROR, SG_ERROR_FAILED, "seat %s's VM (%s): %s", console->seat->name,
                          console->description, what));
}

#define fail_current(console, ...) fail_op ((console), (console)->current, __VA_ARGS__)

static gboolean
on_timeout (gpointer user_data)
{
  Op *op = user_data;
  SgVmConsole *console = op->console;
  gboolean queued = op != console->current;
  const char *hint
      = uses_libvirt (console)
            ? "is libvirtd running and answering, and the domain running (virsh domstate)?"
            : "is the VM running and started as docs/vm-binding.md says (its own -qmp socket "
              "for seatgate, nothing else connected to it)?";

  op->timeout_id = 0;
  if (!queued && !uses_libvirt (console))
    drop_connection (console);
  fail_op (console, op, "no answer within %d ms%s: %s", SG_VM_CONSOLE_TIMEOUT_MS,
           queued ? " (it waited behind an earlier operation the VM did not answer)" : "", hint);
  return G_SOURCE_REMOVE;
}

static void
start_next (SgVmConsole *console)
{
  while (console->current == NULL && !g_queue_is_empty (&console->queue))
    {
      Op *op = g_queue_pop_head (&console->queue);
      GCancellable *cancellable = g_task_get_cancellable (op->task);

      if (g_cancellable_is_cancelled (cancellable))
        {
          g_task_return_new_error (op->task, G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                   "the operation was cancelled before it started");
          op_free (op);
          continue;
        }
      console->current = op;
#if SG_HAVE_LIBVIRT
      if (console->libvirt != NULL)
        {
          run_libvirt_step (console);
          continue;
        }
#endif
      if (console->connected)
        run_step (console);
      else
        console_connect (console);
    }
}

/* What QEMU said, for a message: its desc and class, never our arguments. */
static void
on_step_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (Call) call = user_data;
  SgVmConsole *console = call->console;
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) reply = sg_vm_qmp_execute_finish (result, &error);
  Op *op = console->current;

  if (console->freed || op == NULL || op->serial != call->which)
    return;
  if (reply == NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return; /* the connection was dropped: whoever dropped it ends the op */
  if (reply == NULL && op->step == 0 && g_error_matches (error, SG_VM_QMP_ERROR, 0))
    {
      fail_current (console,
                    "QEMU refused a new SPICE password (%s): a VM started with "
                    "disable-ticketing=on takes none; start it with "
                    "-spice ...,password-secret=ID as docs/vm-binding.md says",
                    error->message);
      return;
    }
  if (reply == NULL && g_error_matches (error, SG_VM_QMP_ERROR, 0))
    {
      const char *what = op->kind == OP_LOCK && op->step == 2 ? "send-key" : "expire_password";
      fail_current (console,
                    "QEMU refused %s (%s): check that it is QEMU 7.2 or newer with SPICE "
                    "(docs/vm-binding.md)",
                    what, error->message);
      return;
    }
  if (reply == NULL)
    {
      /* The connection ended under the command: the closed callback has
       * dropped it or will; this op ends here. */
      drop_connection (console);
      fail_current (console, "%s: is the VM running and started as docs/vm-binding.md says?",
                    error->message);
      return;
    }
  op->step++;
  run_step (console);
}

static JsonObject *
spice_arguments (void)
{
  JsonObject *args = json_object_new ();
  json_object_set_string_member (args, "protocol", "spice");
  return args;
}

static void
run_step (SgVmConsole *console)
{
  Op *op = console->current;
  g_autoptr (GError) error = NULL;
  JsonObject *args = NULL;
  const char *command = NULL;
  gboolean secret = FALSE;

  switch (op->step)
    {
    case 0:
      args = spice_arguments ();
      command = "set_password";
      secret = TRUE;
      if (op->kind == OP_TICKET)
        {
          json_object_set_string_member (args, "password", op->ticket);
          json_object_set_string_member (args, "connected", "keep");
        }
      else
        {
          /* A password nobody is told: the VM is locked until the next
           * ticket, even for a client that knew the last one. */
          g_autofree char *nobody = random_ticket (&error);
          if (nobody == NULL)
            {
              json_object_unref (args);
              fail_current (console, "%s", error->message);
              return;
            }
          json_object_set_string_member (args, "password", nobody);
          explicit_bzero (nobody, strlen (nobody));
          json_object_set_string_member (args, "connected", "disconnect");
        }
      break;
    case 1:
      args = spice_arguments ();
      command = "expire_password";
      json_object_set_string_member (args, "time", op->kind == OP_TICKET ? "never" : "now");
      break;
    case 2:
      if (op->kind == OP_LOCK && op->send_lock_keys && console->seat->lock_keys != NULL)
        {
          JsonArray *keys = json_array_new ();
          for (char **k = console->seat->lock_keys; *k != NULL; k++)
            {
              JsonObject *key = json_object_new ();
              json_object_set_string_member (key, "type", "qcode");
              json_object_set_string_member (key, "data", *k);
              json_array_add_object_element (keys, key);
            }
          args = json_object_new ();
          json_object_set_array_member (args, "keys", keys);
          command = "send-key";
        }
      break;
    default:
      break;
    }

  if (command == NULL)
    {
      finish_current (console, NULL);
      return;
    }
  sg_vm_qmp_execute_async (console->qmp, command, args, secret ? "password" : NULL, on_step_done,
                           call_new (console, op->serial));
}

static gboolean
address_part_is_sane (const char *text, const char *allowed)
{
  return text != NULL && *text != '\0' && strlen (text) <= 64
         && strspn (text, allowed) == strlen (text);
}

/* A client event of the VM, QMP's or libvirt's: the VM is not trusted with
 * our log lines, so an address that is not plainly one is dropped. */
static void
report_client (SgVmConsole *console, SgVmClientEvent event, const char *host, const char *port)
{
  if (!address_part_is_sane (host, "0123456789abcdefABCDEF.:%")
      || !address_part_is_sane (port, "0123456789"))
    {
      g_debug ("%s: a client %s without a usable address: ignored", console->description,
               sg_vm_client_event_to_string (event));
      return;
    }
  g_autofree char *address = strchr (host, ':') != NULL ? g_strdup_printf ("[%s]:%s", host, port)
                                                        : g_strdup_printf ("%s:%s", host, port);
  if (console->events != NULL && console->events->client != NULL)
    console->events->client (console, event, address, console->user_data);
}

static void
on_qmp_event (SgVmQmp *qmp, const char *name, JsonObject *data, gpointer user_data)
{
  SgVmConsole *console = user_data;
  SgVmClientEvent event;

  if (g_str_equal (name, "SPICE_CONNECTED"))
    event = SG_VM_CLIENT_CONNECTED;
  else if (g_str_equal (name, "SPICE_INITIALIZED"))
    event = SG_VM_CLIENT_INITIALIZED;
  else if (g_str_equal (name, "SPICE_DISCONNECTED"))
    event = SG_VM_CLIENT_DISCONNECTED;
  else
    return;

  /* data.client is SpiceBasicInfo (SPICE_INITIALIZED: SpiceChannel):
   * host and port as strings. */
  JsonObject *client = data != NULL && json_object_has_member (data, "client")
                               && JSON_NODE_HOLDS_OBJECT (json_object_get_member (data, "client"))
                           ? json_object_get_object_member (data, "client")
                           : NULL;
  const char *host
      = client != NULL ? json_object_get_string_member_with_default (client, "host", NULL) : NULL;
  const char *port
      = client != NULL ? json_object_get_string_member_with_default (client, "port", NULL) : NULL;
  report_client (console, event, host, port);
}

static void
on_qmp_closed (SgVmQmp *qmp, const GError *error, gpointer user_data)
{
  SgVmConsole *console = user_data;

  if (qmp != console->qmp)
    return;
  drop_connection (console);
  /* A command in flight has already failed with @error (on_step_done). */
  g_debug ("%s: %s", console->description, error->message);
}

static const SgVmQmpEvents qmp_events = {
  .event = on_qmp_event,
  .closed = on_qmp_closed,
};

static gboolean
retry_connect (gpointer user_data)
{
  SgVmConsole *console = user_data;

  console->retry_id = 0;
  console_connect (console);
  return G_SOURCE_REMOVE;
}

static void
on_connected (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (Call) call = user_data;
  SgVmConsole *console = call->console;
  g_autoptr (GError) error = NULL;
  gboolean ok = sg_vm_qmp_connect_finish (result, &error);

  if (console->freed || call->which != console->generation)
    return;
  if (!ok)
    {
      drop_connection (console);
      if (console->current != NULL)
        fail_current (console,
                      "cannot connect (%s): is the VM running and started as docs/vm-binding.md "
                      "says, with -qmp unix:%s,server=on,wait=off?",
                      error->message, console->seat->qmp_socket);
      else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED)
               && console->refused_left > 0 && console->retry_id == 0)
        {
          console->refused_left--;
          console->retry_id = g_timeout_add (REFUSED_RETRY_MS, retry_connect, console);
        }
      else
        g_debug ("%s: %s; waiting for the VM to create its socket", console->description,
                 error->message);
      return;
    }
  console->connected = TRUE;
  if (console->current != NULL)
    run_step (console);
  else if (console->events != NULL && console->events->reachable != NULL)
    console->events->reachable (console, console->user_data);
}

static void
console_connect (SgVmConsole *console)
{
  if (console->qmp != NULL)
    return;
  console->generation++;
  console->qmp = sg_vm_qmp_new (console->seat->qmp_socket, &qmp_events, console);
  sg_vm_qmp_connect_async (console->qmp, on_connected, call_new (console, console->generation));
}

#if SG_HAVE_LIBVIRT
/* sg_vm_libvirt_set_password_finish and _send_keys_finish are the same. */
static void
on_libvirt_step_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (Call) call = user_data;
  SgVmConsole *console = call->console;
  g_autoptr (GError) error = NULL;
  gboolean ok = g_task_propagate_boolean (G_TASK (result), &error);
  Op *op = console->current;

  /* A late answer (the op timed out, or the console is gone): libvirt's
   * worker ran it in order, and a later operation has been asked since. */
  if (console->freed || op == NULL || op->serial != call->which)
    return;
  if (!ok)
    {
      fail_current (console, "%s", error->message);
      return;
    }
  op->step++;
  run_libvirt_step (console);
}

static void
run_libvirt_step (SgVmConsole *console)
{
  Op *op = console->current;
  g_autoptr (GError) error = NULL;

  switch (op->step)
    {
    case 0:
      if (op->kind == OP_TICKET)
        sg_vm_libvirt_set_password_async (console->libvirt, op->ticket, FALSE, on_libvirt_step_done,
                                          call_new (console, op->serial));
      else
        {
          /* As for QMP: a password nobody is told, expired, clients dropped. */
          char *nobody = random_ticket (&error);
          if (nobody == NULL)
            {
              fail_current (console, "%s", error->message);
              return;
            }
          sg_vm_libvirt_set_password_async (console->libvirt, nobody, TRUE, on_libvirt_step_done,
                                            call_new (console, op->serial));
          sg_vm_console_ticket_free (nobody);
        }
      return;
    case 1:
      if (op->kind == OP_LOCK && op->send_lock_keys && console->seat->lock_keys != NULL)
        {
          sg_vm_libvirt_send_keys_async (console->libvirt,
                                         (const char *const *) console->seat->lock_keys,
                                         on_libvirt_step_done, call_new (console, op->serial));
          return;
        }
      break;
    default:
      break;
    }
  finish_current (console, NULL);
}

static void
on_libvirt_client (SgVmLibvirt *vm, SgVmClientEvent event, const char *host, const char *port,
                   gpointer user_data)
{
  report_client (user_data, event, host, port);
}

static void
on_libvirt_reachable (SgVmLibvirt *vm, gpointer user_data)
{
  SgVmConsole *console = user_data;

  if (console->events != NULL && console->events->reachable != NULL)
    console->events->reachable (console, console->user_data);
}

static const SgVmLibvirtEvents libvirt_events = {
  .client = on_libvirt_client,
  .reachable = on_libvirt_reachable,
};

static SgVmConsole *console_alloc (const SgSeatConfig *seat, const SgVmConsoleEvents *events,
                                   gpointer user_data);

static SgVmConsole *
libvirt_console_new (const SgSeatConfig *seat, const SgVmConsoleEvents *events, gpointer user_data)
{
  SgVmConsole *console = console_alloc (seat, events, user_data);
  const char *uri = sg_seat_config_libvirt_uri (seat);

  console->description = g_strdup_printf ("libvirt domain %s at %s", seat->libvirt_domain, uri);
  console->libvirt = sg_vm_libvirt_new (uri, seat->libvirt_domain, &libvirt_events, console);
  sg_vm_libvirt_start (console->libvirt);
  return console;
}
#endif

static SgVmConsole *
console_alloc (const SgSeatConfig *seat, const SgVmConsoleEvents *events, gpointer user_data)
{
  SgVmConsole *console = g_new0 (SgVmConsole, 1);

  console->refs = 1;
  console->seat = seat;
  console->events = events;
  console->user_data = user_data;
  console->next_serial = 1;
  g_queue_init (&console->queue);
  return console;
}

static void
on_folder_changed (GFileMonitor *monitor, GFile *file, GFile *other, GFileMonitorEvent event,
                   gpointer user_data)
{
  SgVmConsole *console = user_data;
  GFile *created = event == G_FILE_MONITOR_EVENT_CREATED || event == G_FILE_MONITOR_EVENT_MOVED_IN
                       ? file
                   : event == G_FILE_MONITOR_EVENT_RENAMED ? other
                                                           : NULL;

  if (created == NULL || console->qmp != NULL)
    return;
  g_autofree char *name = g_file_get_basename (created);
  if (g_strcmp0 (name, console->basename) == 0)
    {
      console->refused_left = REFUSED_RETRIES;
      console_connect (console);
    }
}

SgVmConsole *
sg_vm_console_new (const SgSeatConfig *seat, const SgVmConsoleEvents *events, gpointer user_data,
                   GError **error)
{
  g_autoptr (GError) local_error = NULL;

#if SG_HAVE_LIBVIRT
  if (seat->libvirt_domain != NULL)
    return libvirt_console_new (seat, events, user_data);
#endif
  if (seat->qmp_socket == NULL)
    return NULL;

  g_autoptr (GFile) socket_file = g_file_new_for_path (seat->qmp_socket);
  g_autoptr (GFile) folder = g_file_get_parent (socket_file);
  g_autoptr (GFileMonitor) monitor
      = g_file_monitor_directory (folder, G_FILE_MONITOR_WATCH_MOVES, NULL, &local_error);
  if (monitor == NULL)
    {
      g_set_error (error, SG_ERROR, SG_ERROR_FAILED,
                   "seat %s's VM (QMP socket %s): cannot watch its folder for the VM's socket "
                   "(%s): create the folder (docs/vm-binding.md)",
                   seat->name, seat->qmp_socket, local_error->message);
      return NULL;
    }

  SgVmConsole *console = console_alloc (seat, events, user_data);
  console->description = g_strdup_printf ("QMP socket %s", seat->qmp_socket);
  console->basename = g_file_get_basename (socket_file);
  console->monitor = g_steal_pointer (&monitor);
  g_signal_connect (console->monitor, "changed", G_CALLBACK (on_folder_changed), console);
  console_connect (console);
  return console;
}

static void
enqueue (SgVmConsole *console, Op *op)
{
  if (console->freed)
    {
      /* Asked from a callback that sg_vm_console_free is running. */
      g_task_return_new_error (op->task, G_IO_ERROR, G_IO_ERROR_CANCELLED,
                               "seat %s's VM console is closing", console->seat->name);
      op_free (op);
      return;
    }
  op->console = console;
  op->serial = console->next_serial++;
  op->timeout_id = g_timeout_add (SG_VM_CONSOLE_TIMEOUT_MS, on_timeout, op);
  g_queue_push_tail (&console->queue, op);
  start_next (console);
}

void
sg_vm_console_new_ticket_async (SgVmConsole *console, GCancellable *cancellable,
                                GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (GError) error = NULL;
  Op *op = g_new0 (Op, 1);

  op->kind = OP_TICKET;
  op->task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (op->task, sg_vm_console_new_ticket_async);
  op->ticket = random_ticket (&error);
  if (op->ticket == NULL)
    {
      g_task_return_error (op->task, g_steal_pointer (&error));
      op_free (op);
      return;
    }
  enqueue (console, op);
}

char *
sg_vm_console_new_ticket_finish (SgVmConsole *console, GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

void
sg_vm_console_lock_async (SgVmConsole *console, gboolean send_lock_keys, GCancellable *cancellable,
                          GAsyncReadyCallback callback, gpointer user_data)
{
  Op *op = g_new0 (Op, 1);

  op->kind = OP_LOCK;
  op->send_lock_keys = send_lock_keys;
  op->task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (op->task, sg_vm_console_lock_async);
  enqueue (console, op);
}

gboolean
sg_vm_console_lock_finish (SgVmConsole *console, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

const char *
sg_vm_console_get_seat (SgVmConsole *console)
{
  return console->seat->name;
}

const char *
sg_vm_console_describe (SgVmConsole *console)
{
  return console->description;
}

void
sg_vm_console_free (SgVmConsole *console)
{
  if (console == NULL)
    return;
  console->freed = TRUE;
  if (console->monitor != NULL)
    g_signal_handlers_disconnect_by_data (console->monitor, console);
  g_clear_object (&console->monitor);
  g_clear_handle_id (&console->retry_id, g_source_remove);
  drop_connection (console);
#if SG_HAVE_LIBVIRT
  g_clear_pointer (&console->libvirt, sg_vm_libvirt_free);
#endif

  Op *current = g_steal_pointer (&console->current);
  if (current != NULL)
    g_queue_push_head (&console->queue, current);
  Op *op;
  while ((op = g_queue_pop_head (&console->queue)) != NULL)
    {
      g_clear_handle_id (&op->timeout_id, g_source_remove);
      g_task_return_new_error (op->task, G_IO_ERROR, G_IO_ERROR_CANCELLED,
                               "seat %s's VM console was closed", console->seat->name);
      op_free (op);
    }
  console_unref (console);
}
