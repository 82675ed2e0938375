/* A seat's VM, told who may use its SPICE console: a fresh ticket (SPICE
 * password) for each grant, a lock on every revoke (a new password nobody is
 * told, the VM's own SPICE clients dropped, optionally a key combination
 * sent to the guest). Reached through the QEMU QMP socket of the seat's
 * QMPSocket= (vm-qmp.h) or through libvirt for LibvirtDomain= (vm-libvirt.h,
 * in a build with libvirt); a seat without a VM binding has no SgVmConsole.
 *
 * Operations run one after another in the order they were asked for (on one
 * QMP connection kept open for the VM's events, or on libvirt's worker
 * thread): a lock asked after a ticket always lands after it. Each
 * operation fails when the VM has not answered SG_VM_CONSOLE_TIMEOUT_MS
 * after it was asked, time spent queued behind earlier ones included. */
#pragma once

#include <gio/gio.h>

#include "sg-config.h"

G_BEGIN_DECLS

typedef struct _SgVmConsole SgVmConsole;

/* How long one operation may take, from its ask, before it fails. */
#define SG_VM_CONSOLE_TIMEOUT_MS 3000

typedef enum
{
  SG_VM_CLIENT_CONNECTED,    /* QMP SPICE_CONNECTED, libvirt graphics CONNECT */
  SG_VM_CLIENT_INITIALIZED,  /* SPICE_INITIALIZED, INITIALIZE: the client passed the ticket */
  SG_VM_CLIENT_DISCONNECTED, /* SPICE_DISCONNECTED, DISCONNECT */
} SgVmClientEvent;

/* "connected", "initialized", "disconnected": the ConsoleClient signal's words. */
const char *sg_vm_client_event_to_string (SgVmClientEvent event);

typedef struct
{
  /* The VM reported a SPICE client; @address is "HOST:PORT" as the VM saw it. */
  void (*client) (SgVmConsole *console, SgVmClientEvent event, const char *address,
                  gpointer user_data);
  /* The VM was reached while no operation was waiting for it (at start, or
   * after the VM's socket came back, or libvirt said the domain started:
   * the VM may have restarted and holds the password it started with). */
  void (*reachable) (SgVmConsole *console, gpointer user_data);
} SgVmConsoleEvents;

/* @seat's VM, or NULL without an error when @seat has no VM binding. Starts
 * connecting in the background; @events may be NULL. @seat and @events must
 * outlive the console. */
SgVmConsole *sg_vm_console_new (const SgSeatConfig *seat, const SgVmConsoleEvents *events,
                                gpointer user_data, GError **error);

/* Sets a new random ticket valid until the next lock (set_password with
 * connected=keep, expire_password never). */
void sg_vm_console_new_ticket_async (SgVmConsole *console, GCancellable *cancellable,
                                     GAsyncReadyCallback callback, gpointer user_data);
/* The ticket (a new string: wipe it with sg_vm_console_ticket_free), or NULL
 * with an SG_ERROR_FAILED that names the VM binding and what to do. */
char *sg_vm_console_new_ticket_finish (SgVmConsole *console, GAsyncResult *result, GError **error);

/* Overwrites and frees a ticket. */
void sg_vm_console_ticket_free (char *ticket);

/* Locks the console: a new random password nobody is told, SPICE clients
 * disconnected, the password expired now; then, with @send_lock_keys and a
 * LockKeys= set, the key combination sent to the guest. */
void sg_vm_console_lock_async (SgVmConsole *console, gboolean send_lock_keys,
                               GCancellable *cancellable, GAsyncReadyCallback callback,
                               gpointer user_data);
gboolean sg_vm_console_lock_finish (SgVmConsole *console, GAsyncResult *result, GError **error);

/* The seat this console serves. */
const char *sg_vm_console_get_seat (SgVmConsole *console);

/* The binding in words, for messages: "QMP socket /run/vm/seat0.qmp",
 * "libvirt domain win11 at qemu:///system". */
const char *sg_vm_console_describe (SgVmConsole *console);

/* Operations still waiting finish with G_IO_ERROR_CANCELLED, possibly
 * before this returns. */
void sg_vm_console_free (SgVmConsole *console);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SgVmConsole, sg_vm_console_free)

G_END_DECLS
