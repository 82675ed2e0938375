/* The seats' VMs (vm-console.h), by seat name, and which password operation
 * each VM heard last. A VM holds whatever password it was told last, so a
 * ticket is worth handing out only while no later ticket or lock was asked
 * of that VM: each operation gets a serial, and sg_seat_vms_is_latest says
 * whether one is still the VM's last word. */
#pragma once

#include <gio/gio.h>

#include "sg-config.h"
#include "vm-console.h"

G_BEGIN_DECLS

typedef struct _SgSeatVms SgSeatVms;

typedef struct
{
  /* @seat's VM reported a SPICE client (vm-console.h's client event). */
  void (*client) (const char *seat, SgVmClientEvent event, const char *address, gpointer user_data);
  /* @seat's VM can be reached again and holds a password of its own choosing
   * (vm-console.h's reachable event): the caller sets what it should hold. */
  void (*reachable) (const char *seat, gpointer user_data);
} SgSeatVmsEvents;

/* A console for every seat of @config with a VM binding. @config and
 * @events must outlive it. */
SgSeatVms *sg_seat_vms_new (const SgConfig *config, const SgSeatVmsEvents *events,
                            gpointer user_data, GError **error);

gboolean sg_seat_vms_is_bound (SgSeatVms *vms, const char *seat);

/* The binding of @seat in words, or NULL when it has none. */
const char *sg_seat_vms_describe (SgSeatVms *vms, const char *seat);

/* A new ticket on @seat's VM (which must be bound). */
void sg_seat_vms_new_ticket_async (SgSeatVms *vms, const char *seat, GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data);
/* The ticket (wipe it with sg_vm_console_ticket_free) and, in @serial, the
 * operation's serial; NULL with an error that says what to do. */
char *sg_seat_vms_new_ticket_finish (SgSeatVms *vms, GAsyncResult *result, guint64 *serial,
                                     GError **error);

/* Whether @serial is the last password operation asked of @seat's VM. */
gboolean sg_seat_vms_is_latest (SgSeatVms *vms, const char *seat, guint64 serial);

/* Locks @seat's VM, if it is bound (vm-console.h's lock). A failure is
 * logged with what to do: the firewall, not the VM, is the gate. */
void sg_seat_vms_lock (SgSeatVms *vms, const char *seat, gboolean send_lock_keys);

/* Locks every bound VM and returns when each has answered or timed out
 * (SG_VM_CONSOLE_TIMEOUT_MS): the helper's last act before it exits. */
void sg_seat_vms_lock_all_and_wait (SgSeatVms *vms);

/* Operations under way finish with G_IO_ERROR_CANCELLED, possibly before
 * this returns. */
void sg_seat_vms_free (SgSeatVms *vms);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SgSeatVms, sg_seat_vms_free)

G_END_DECLS
