/* A seat's VM reached through libvirt's C API (LibvirtDomain=, LibvirtURI=):
 * the SPICE password of the domain's live <graphics type='spice'> set with
 * virDomainUpdateDeviceFlags, and its graphics events. vm-console.c drives
 * it behind the contract of vm-console.h.
 *
 * libvirt's calls block: each runs on one worker thread of this binding's
 * own, one after another in the order asked, so a lock asked after a ticket
 * lands after it in libvirt too, even when the caller stopped waiting for
 * the ticket. Results and events come back in the main context the binding
 * was made in. */
#pragma once

#include <gio/gio.h>

#include "vm-console.h"

G_BEGIN_DECLS

typedef struct _SgVmLibvirt SgVmLibvirt;

typedef struct
{
  /* libvirt reported a SPICE client of the domain (a graphics event):
   * @host and @port as libvirt gave them, unchecked. */
  void (*client) (SgVmLibvirt *vm, SgVmClientEvent event, const char *host, const char *port,
                  gpointer user_data);
  /* The domain is reachable and nobody asked: the first connection, or the
   * domain (re)started and holds the password it started with. */
  void (*reachable) (SgVmLibvirt *vm, gpointer user_data);
} SgVmLibvirtEvents;

/* The domain @domain at @uri, not yet connected: sg_vm_libvirt_start
 * connects. @events (may be NULL) must outlive the binding. */
SgVmLibvirt *sg_vm_libvirt_new (const char *uri, const char *domain,
                                const SgVmLibvirtEvents *events, gpointer user_data);

/* Connects in the background; "reachable" follows when it worked. */
void sg_vm_libvirt_start (SgVmLibvirt *vm);

/* Sets the SPICE password @password (copied, and the copy wiped). @lock:
 * expired at once (passwdValidTo in the past) and the connected clients
 * dropped (connected='disconnect'); otherwise valid without end, clients
 * kept (connected='keep'). */
void sg_vm_libvirt_set_password_async (SgVmLibvirt *vm, const char *password, gboolean lock,
                                       GAsyncReadyCallback callback, gpointer user_data);
gboolean sg_vm_libvirt_set_password_finish (SgVmLibvirt *vm, GAsyncResult *result, GError **error);

/* Presses @keys (QEMU qcode names, as LockKeys= holds them) together. */
void sg_vm_libvirt_send_keys_async (SgVmLibvirt *vm, const char *const *keys,
                                    GAsyncReadyCallback callback, gpointer user_data);
gboolean sg_vm_libvirt_send_keys_finish (SgVmLibvirt *vm, GAsyncResult *result, GError **error);

/* Calls still queued run to their end on the worker thread (their results
 * are still delivered), then the connection closes. */
void sg_vm_libvirt_free (SgVmLibvirt *vm);

G_END_DECLS
