#include "seat-vms.h"

#include "sg-error.h"

typedef struct
{
  SgSeatVms *vms;
  const char *seat; /* the config's name */
  SgVmConsole *console;
  guint64 issued; /* serial of the last password operation asked */
} SeatVm;

struct _SgSeatVms
{
  GHashTable *by_seat; /* seat name -> SeatVm* */
  const SgSeatVmsEvents *events;
  gpointer user_data;
  guint locks_out; /* locks asked by sg_seat_vms_lock_all_and_wait still out */
};

static void
seat_vm_free (SeatVm *vm)
{
  g_clear_pointer (&vm->console, sg_vm_console_free);
  g_free (vm);
}

static SeatVm *
seat_vm (SgSeatVms *vms, const char *seat)
{
  SeatVm *vm = g_hash_table_lookup (vms->by_seat, seat);
  g_assert (vm != NULL);
  return vm;
}

static void
on_client (SgVmConsole *console, SgVmClientEvent event, const char *address, gpointer data)
{
  SeatVm *vm = data;
  if (vm->vms->events->client != NULL)
    vm->vms->events->client (vm->seat, event, address, vm->vms->user_data);
}

static void
on_reachable (SgVmConsole *console, gpointer data)
{
  SeatVm *vm = data;
  if (vm->vms->events->reachable != NULL)
    vm->vms->events->reachable (vm->seat, vm->vms->user_data);
}

static const SgVmConsoleEvents console_events = {
  .client = on_client,
  .reachable = on_reachable,
};

SgSeatVms *
sg_seat_vms_new (const SgConfig *config, const SgSeatVmsEvents *events, gpointer user_data,
                 GError **error)
{
  g_autoptr (SgSeatVms) vms = g_new0 (SgSeatVms, 1);

  vms->by_seat
      = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) seat_vm_free);
  vms->events = events;
  vms->user_data = user_data;
  for (guint i = 0; i < config->seats->len; i++)
    {
      const SgSeatConfig *seat = g_ptr_array_index (config->seats, i);
      SeatVm *vm = g_new0 (SeatVm, 1);

      vm->vms = vms;
      vm->seat = seat->name;
      vm->console = sg_vm_console_new (seat, &console_events, vm, error);
      if (vm->console == NULL)
        {
          g_free (vm);
          if (error != NULL && *error != NULL)
            return NULL;
          continue;
        }
      g_hash_table_insert (vms->by_seat, (gpointer) vm->seat, vm);
    }
  return g_steal_pointer (&vms);
}

gboolean
sg_seat_vms_is_bound (SgSeatVms *vms, const char *seat)
{
  return g_hash_table_contains (vms->by_seat, seat);
}

const char *
sg_seat_vms_describe (SgSeatVms *vms, const char *seat)
{
  SeatVm *vm = g_hash_table_lookup (vms->by_seat, seat);
  return vm != NULL ? sg_vm_console_describe (vm->console) : NULL;
}

typedef struct
{
  guint64 serial;
  char *ticket;
} TicketResult;

static void
ticket_result_free (TicketResult *result)
{
  sg_vm_console_ticket_free (result->ticket);
  g_free (result);
}

typedef struct
{
  SgVmConsole *console;
  guint64 serial;
} TicketAsk;

/* The console is a plain struct, not a GObject: results carry no source. */
static void
ticket_set (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (GTask) task = data;
  TicketAsk *ask = g_task_get_task_data (task);
  GError *error = NULL;
  char *ticket = sg_vm_console_new_ticket_finish (ask->console, result, &error);

  if (ticket == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  TicketResult *answer = g_new0 (TicketResult, 1);
  answer->serial = ask->serial;
  answer->ticket = ticket;
  g_task_return_pointer (task, answer, (GDestroyNotify) ticket_result_free);
}

void
sg_seat_vms_new_ticket_async (SgSeatVms *vms, const char *seat, GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer user_data)
{
  SeatVm *vm = seat_vm (vms, seat);
  GTask *task = g_task_new (NULL, cancellable, callback, user_data);
  TicketAsk *ask = g_new0 (TicketAsk, 1);

  g_task_set_source_tag (task, sg_seat_vms_new_ticket_async);
  ask->console = vm->console;
  ask->serial = ++vm->issued;
  g_task_set_task_data (task, ask, g_free);
  sg_vm_console_new_ticket_async (vm->console, cancellable, ticket_set, task);
}

char *
sg_seat_vms_new_ticket_finish (SgSeatVms *vms, GAsyncResult *result, guint64 *serial,
                               GError **error)
{
  TicketResult *answer = g_task_propagate_pointer (G_TASK (result), error);
  char *ticket;

  if (answer == NULL)
    return NULL;
  *serial = answer->serial;
  ticket = g_steal_pointer (&answer->ticket);
  ticket_result_free (answer);
  return ticket;
}

gboolean
sg_seat_vms_is_latest (SgSeatVms *vms, const char *seat, guint64 serial)
{
  SeatVm *vm = g_hash_table_lookup (vms->by_seat, seat);
  return vm != NULL && vm->issued == serial;
}

typedef struct
{
  SgSeatVms *vms; /* set while sg_seat_vms_lock_all_and_wait waits for it */
  SgVmConsole *console;
  char *seat;
  char *binding;
} LockCall;

static void
locked (GObject *source, GAsyncResult *result, gpointer data)
{
  LockCall *call = data;
  g_autoptr (GError) error = NULL;

  if (!sg_vm_console_lock_finish (call->console, result, &error)
      && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    g_warning ("Could not lock %s's VM (%s): %s. The firewall still keeps its port closed to "
               "everyone without a grant, but the VM may accept the last ticket it was given "
               "until it is locked: check the VM (docs/vm-binding.md)",
               call->seat, call->binding, error->message);
  if (call->vms != NULL)
    call->vms->locks_out--;
  g_free (call->seat);
  g_free (call->binding);
  g_free (call);
}

static void
lock_vm (SeatVm *vm, gboolean send_lock_keys, gboolean wait)
{
  LockCall *call = g_new0 (LockCall, 1);

  call->console = vm->console;
  call->seat = g_strdup (vm->seat);
  call->binding = g_strdup (sg_vm_console_describe (vm->console));
  if (wait)
    {
      call->vms = vm->vms;
      vm->vms->locks_out++;
    }
  vm->issued++;
  sg_vm_console_lock_async (vm->console, send_lock_keys, NULL, locked, call);
}

void
sg_seat_vms_lock (SgSeatVms *vms, const char *seat, gboolean send_lock_keys)
{
  SeatVm *vm = g_hash_table_lookup (vms->by_seat, seat);
  if (vm != NULL)
    lock_vm (vm, send_lock_keys, FALSE);
}

void
sg_seat_vms_lock_all_and_wait (SgSeatVms *vms)
{
  GHashTableIter iter;
  SeatVm *vm;

  g_hash_table_iter_init (&iter, vms->by_seat);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &vm))
    lock_vm (vm, FALSE, TRUE);
  /* Each lock ends within the console's timeout; the loop sleeps until then. */
  while (vms->locks_out > 0)
    g_main_context_iteration (NULL, TRUE);
}

void
sg_seat_vms_free (SgSeatVms *vms)
{
  if (vms == NULL)
    return;
  g_hash_table_unref (vms->by_seat);
  g_free (vms);
}
